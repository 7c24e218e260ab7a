//! Starting and stopping a whole cluster of primaries in this process: `Cluster` inside a
//! tokio runtime, `EmbeddedCluster` on a thread of its own (for tests and tools that are
//! not async). Every node is a full server on its own port, with its own state and lock,
//! so nodes run on several cores; they share the configuration through one `Bus`.
//!
//! Every node binds before any serves, so the configuration names real ports from the
//! first command on, and a bind failure leaves nothing running.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::watch;

use super::slots::MAX_PRIMARIES;
use super::topology::{NodeId, Topology};
use super::{Bus, ClusterState};
use crate::config::{Config, ServerConfig};
use crate::server::{bind_all, Server, StartError};
use crate::state::unix_millis;

/// How to start a cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// How many primaries (1 to `slots::MAX_PRIMARIES`).
    pub primaries: usize,
    /// The first node's port; the others take the ports after it. 0 picks a free port
    /// for each node.
    pub port: u16,
    /// Addresses every node listens on; empty means 127.0.0.1 and ::1, as for a server.
    pub bind: Vec<IpAddr>,
    pub requirepass: Option<String>,
    /// The settings every node starts with.
    pub settings: Config,
}

impl ClusterConfig {
    /// `primaries` primaries on free loopback ports.
    pub fn ephemeral(primaries: usize) -> ClusterConfig {
        ClusterConfig {
            primaries,
            port: 0,
            bind: Vec::new(),
            requirepass: None,
            settings: Config::default(),
        }
    }

    /// The server settings of node `i`.
    fn node(&self, i: usize) -> Result<ServerConfig, ClusterStartError> {
        let port = if self.port == 0 {
            0
        } else {
            u16::try_from(usize::from(self.port) + i).map_err(|_| ClusterStartError::Ports {
                first: self.port,
                nodes: self.primaries,
            })?
        };
        let mut settings = self.settings.clone();
        // What CONFIG GET answers; the server's mode itself comes from its cluster state.
        settings.kept.insert("cluster-enabled", "yes".into());
        Ok(ServerConfig {
            bind: self.bind.clone(),
            port,
            requirepass: self.requirepass.clone(),
            announce: false,
            settings,
        })
    }
}

/// Why a cluster could not start.
#[derive(Debug)]
pub enum ClusterStartError {
    /// Not a number of primaries a cluster can have.
    Primaries { requested: usize },
    /// The consecutive ports run past 65535.
    Ports { first: u16, nodes: usize },
    /// A node could not listen.
    Bind(StartError),
    /// The runtime or thread of an `EmbeddedCluster` could not start.
    Runtime(std::io::Error),
}

impl std::fmt::Display for ClusterStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterStartError::Primaries { requested } => write!(
                f,
                "a cluster needs 1 to {MAX_PRIMARIES} primaries, not {requested}"
            ),
            ClusterStartError::Ports { first, nodes } => write!(
                f,
                "{nodes} nodes on consecutive ports from {first} run past port 65535"
            ),
            ClusterStartError::Bind(e) => e.fmt(f),
            ClusterStartError::Runtime(e) => write!(f, "cannot start the cluster's runtime: {e}"),
        }
    }
}

impl std::error::Error for ClusterStartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterStartError::Bind(e) => Some(e),
            ClusterStartError::Runtime(e) => Some(e),
            _ => None,
        }
    }
}

/// A node of a running cluster, as clients find it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeAddr {
    pub id: NodeId,
    /// The address the cluster announces (CLUSTER NODES, MOVED).
    pub addr: SocketAddr,
}

/// A running cluster inside a tokio runtime.
pub struct Cluster {
    servers: Vec<Server>,
    nodes: Vec<NodeAddr>,
    bus: Arc<Bus>,
}

impl Cluster {
    /// Binds every node, then starts them all as one cluster of primaries with the slots
    /// split as `redis-cli --cluster create` splits them.
    pub async fn start(config: ClusterConfig) -> Result<Cluster, ClusterStartError> {
        Cluster::start_as(config, true).await
    }

    /// Binds and starts the nodes each on its own, as redis-server nodes started with
    /// `cluster-enabled yes` and no configuration: every node knows only itself, serves no
    /// slot and has config epoch 0, ready for CLUSTER ADDSLOTS / MEET or `redis-cli
    /// --cluster create`.
    pub async fn start_alone(config: ClusterConfig) -> Result<Cluster, ClusterStartError> {
        Cluster::start_as(config, false).await
    }

    async fn start_as(config: ClusterConfig, joined: bool) -> Result<Cluster, ClusterStartError> {
        if config.primaries == 0 || config.primaries > MAX_PRIMARIES {
            return Err(ClusterStartError::Primaries {
                requested: config.primaries,
            });
        }
        let mut bound = Vec::with_capacity(config.primaries);
        for i in 0..config.primaries {
            let node = config.node(i)?;
            let listeners = bind_all(&node).map_err(ClusterStartError::Bind)?;
            bound.push((node, listeners));
        }
        let addrs: Vec<SocketAddr> = bound
            .iter()
            .map(|(node, listeners)| {
                listeners
                    .first()
                    .and_then(|l| l.local_addr().ok())
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], node.port)))
            })
            .collect();
        let now = unix_millis();
        let topology = Topology::primaries(&addrs, now);
        let nodes: Vec<NodeAddr> = topology
            .nodes
            .iter()
            .map(|n| NodeAddr {
                id: n.id,
                addr: n.addr(),
            })
            .collect();
        let bus = Arc::new(Bus::new(topology, now));
        let servers = bound
            .into_iter()
            .zip(&nodes)
            .map(|((node, listeners), me)| {
                let bus = if joined {
                    bus.clone()
                } else {
                    Arc::new(Bus::new(Topology::alone(me.id, me.addr, now), now))
                };
                let state = ClusterState::new(me.id, bus);
                Server::serve(node, listeners, Some(state))
            })
            .collect();
        Ok(Cluster {
            servers,
            nodes,
            bus,
        })
    }

    /// The nodes, in the order they were started (the first holds slot 0).
    pub fn nodes(&self) -> &[NodeAddr] {
        &self.nodes
    }

    /// Every node's announced address, in order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }

    /// The configuration the nodes share.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// Whether every node answers `cluster_state:ok` (CLUSTER INFO), as each node's own
    /// view says.
    pub async fn is_ok(&self) -> bool {
        for server in &self.servers {
            let mut state = server.shared().lock().await;
            let ok = state
                .cluster
                .as_deref_mut()
                .is_some_and(|c| c.view_and_me().2);
            if !ok {
                return false;
            }
        }
        true
    }

    /// Waits until every node has stopped (SHUTDOWN on each, or `stop`).
    pub async fn stopped(&self) {
        for server in &self.servers {
            server.stopped().await;
        }
    }

    /// Senders that stop the whole cluster when `true` is sent (for signal handlers).
    pub fn shutdown_handles(&self) -> Vec<watch::Sender<bool>> {
        self.servers.iter().map(|s| s.shutdown_handle()).collect()
    }

    /// Stops every node and waits for their tasks to end.
    pub async fn stop(self) {
        for handle in self.shutdown_handles() {
            let _ = handle.send(true);
        }
        for server in self.servers {
            server.stop().await;
        }
    }
}

/// A cluster on its own thread and runtime, for tests and tools that are not async.
/// Dropping it stops the cluster.
pub struct EmbeddedCluster {
    nodes: Vec<NodeAddr>,
    bus: Arc<Bus>,
    shutdown: Vec<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedCluster {
    /// Starts the cluster and returns once `cluster_state:ok` holds on every node.
    pub fn start(config: ClusterConfig) -> Result<EmbeddedCluster, ClusterStartError> {
        EmbeddedCluster::start_as(config, true)
    }

    /// Starts nodes that each know only themselves (`Cluster::start_alone`), and
    /// returns once they listen.
    pub fn start_alone(config: ClusterConfig) -> Result<EmbeddedCluster, ClusterStartError> {
        EmbeddedCluster::start_as(config, false)
    }

    fn start_as(config: ClusterConfig, joined: bool) -> Result<EmbeddedCluster, ClusterStartError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, config.primaries.max(2));
        let thread = std::thread::Builder::new()
            .name("lockstep-cluster".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(ClusterStartError::Runtime(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Cluster::start_as(config, joined).await {
                        Ok(cluster) => {
                            while joined && !cluster.is_ok().await {
                                tokio::task::yield_now().await;
                            }
                            let _ = tx.send(Ok((
                                cluster.nodes().to_vec(),
                                cluster.bus().clone(),
                                cluster.shutdown_handles(),
                            )));
                            cluster.stopped().await;
                            cluster.stop().await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(ClusterStartError::Runtime)?;
        let (nodes, bus, shutdown) = rx.recv().map_err(|_| {
            ClusterStartError::Runtime(std::io::Error::other(
                "cluster thread ended before it started",
            ))
        })??;
        Ok(EmbeddedCluster {
            nodes,
            bus,
            shutdown,
            thread: Some(thread),
        })
    }

    /// The nodes, in the order they were started (the first holds slot 0).
    pub fn nodes(&self) -> &[NodeAddr] {
        &self.nodes
    }

    /// Every node's announced address, in order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }

    /// The configuration the nodes share.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// Stops every node and waits for the thread.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        for handle in &self.shutdown {
            let _ = handle.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EmbeddedCluster {
    fn drop(&mut self) {
        self.stop_inner();
    }
}
