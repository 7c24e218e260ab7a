//! lockstep's Redis-compatible server as a library.
//!
//! Start one on a free port, talk to it over TCP, stop it:
//!
//! ```no_run
//! # async fn demo() -> Result<(), lockstep_server::StartError> {
//! let server = lockstep_server::Server::start(lockstep_server::ServerConfig::ephemeral()).await?;
//! println!("listening on {}", server.addr());
//! server.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! Outside async code, `EmbeddedServer` runs one on its own thread. `Cluster` and
//! `EmbeddedCluster` do the same for a Redis Cluster of several nodes in this process
//! (`cluster`).

pub mod acl;
pub mod alloc;
pub mod aof;
pub mod args;
pub mod blocking;
pub mod busy;
pub mod client_eviction;
pub mod cluster;
pub mod command;
pub mod commands;
pub mod config;
mod conn;
pub mod diagnostics;
pub mod dispatch;
pub mod errors;
pub mod evict;
pub mod keyspace;
pub mod multi;
pub mod propagate;
pub mod pubsub;
pub mod rdb;
pub mod replication;
pub mod replication_wire;
pub mod reply;
pub mod scripting;
mod server;
mod shared;
pub mod state;
pub mod tracking;
pub mod types;
pub mod util;

pub use cluster::{Cluster, ClusterConfig, EmbeddedCluster};
pub use config::ServerConfig;
pub use server::{EmbeddedServer, Server, StartError};
