//! lockstep: a Redis client whose connection lifecycle is one explicit state machine.
//!
//! * One actor task per connection owns the socket and one state enum
//!   (`Created → Resolving → Connecting → Handshaking → Ready ⇄ Reconnecting → Closed`);
//!   each transition bumps an epoch, observable with [`Client::watch`].
//! * `connect()` is single-flight and idempotent; `disconnect()` is idempotent and returns
//!   once the socket is closed; commands issued while connecting wait for it.
//! * Happy eyeballs (RFC 8305) where an address counts as good only after the handshake.
//! * Auto-pipelining: commands from many tasks share writes; replies match in order.
//! * A lost connection never drops a command silently: read-only commands are re-sent after
//!   the reconnect, the others fail saying whether they may have run.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lockstep::Error> {
//! use lockstep::{cmd, Client, Commands};
//! let client = Client::open("redis://127.0.0.1:6379").await?;
//! client.set("k", 1).await?;
//! let v: i64 = client.query(cmd("INCR").arg("k")).await?;
//! assert_eq!(v, 2);
//! # Ok(()) }
//! ```

mod cache;
mod client;
pub mod cluster;
pub mod cmd;
pub mod commands;
pub mod config;
pub mod connection;
pub mod error;
pub mod metrics;
mod pipeline;
pub mod pool;
pub mod pubsub;
pub mod reply;
mod spec;
pub mod subscriber;
pub mod transaction;

pub use cache::CacheOptions;
pub use client::Client;
pub use cluster::{
    ClusterClient, ClusterMetrics, ClusterOptions, ClusterPipeline, ClusterSubscriber, ReadFrom,
    RouterState,
};
pub use cmd::{cmd, Cmd, ToArg};
pub use commands::{
    Commands, HashCommands, ListCommands, ListEnd, Script, ScriptingCommands, SetCommands,
    SetCondition, SortedSetCommands, ZAddOptions, ZCompare,
};
pub use config::{Addr, Config, ConfigBuilder, Protocol, RetryPolicy, TlsOptions};
pub use connection::resolver::{Resolver, StaticResolver, SystemResolver};
pub use connection::{Meta, ShutdownReport, Slot, Snapshot, State};
pub use error::{
    AddrFailure, Cause, ClosedBy, ConnectError, Error, Phase, Sent, ServerError, TypeError,
};
pub use lockstep_resp::Frame;
pub use metrics::{CacheStats, MetricsSnapshot};
pub use pipeline::Pipeline;
pub use pool::{ConnState, Connection, Pool, PoolOptions, PoolStats, PooledConn};
pub use pubsub::{Message, Subscription};
pub use reply::FromReply;
pub use subscriber::Subscriber;
pub use transaction::Transaction;

/// Everything a typical user needs in scope: the client, the pool, and every command trait.
pub mod prelude {
    pub use crate::commands::{
        Commands, HashCommands, ListCommands, ListEnd, Script, ScriptingCommands, SetCommands,
        SetCondition, SortedSetCommands, ZAddOptions, ZCompare,
    };
    pub use crate::{cmd, Client, Config, Error, FromReply, Pool, PoolOptions};
}
