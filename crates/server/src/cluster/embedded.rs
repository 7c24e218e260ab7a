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

use std::time::{Duration, Instant};

use super::faults::Faults;
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
    /// Replicas of each primary (their ports follow the primaries').
    pub replicas: usize,
    /// `cluster-node-timeout`: how long a node may stay silent before it is failed.
    pub node_timeout: std::time::Duration,
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
            replicas: 0,
            node_timeout: std::time::Duration::from_millis(15000),
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
                nodes: self.primaries * (1 + self.replicas),
            })?
        };
        let mut settings = self.settings.clone();
        // What CONFIG GET answers; the server's mode itself comes from its cluster state.
        settings.kept.insert("cluster-enabled", "yes".into());
        settings.kept.insert(
            "cluster-node-timeout",
            self.node_timeout.as_millis().to_string(),
        );
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
    /// By node; `None` while a node is stopped.
    servers: Vec<Option<Server>>,
    /// Each node's settings, its port fixed once bound (for a restart).
    configs: Vec<ServerConfig>,
    nodes: Vec<NodeAddr>,
    bus: Arc<Bus>,
    faults: Arc<Faults>,
    /// The data of stopped nodes, as RDB.
    snapshots: Vec<Option<Vec<u8>>>,
    detector: tokio::task::JoinHandle<()>,
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
        let total = config.primaries * (1 + config.replicas);
        let mut bound = Vec::with_capacity(total);
        for i in 0..total {
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
        let (primaries, replicas) = addrs.split_at(config.primaries);
        let topology = Topology::with_replicas(primaries, replicas, now);
        let nodes: Vec<NodeAddr> = topology
            .nodes
            .iter()
            .map(|n| NodeAddr {
                id: n.id,
                addr: n.addr(),
            })
            .collect();
        let bus = Arc::new(Bus::new(topology, now));
        let mut configs = Vec::with_capacity(total);
        let servers = bound
            .into_iter()
            .zip(&nodes)
            .map(|((mut node, listeners), me)| {
                let bus = if joined {
                    bus.clone()
                } else {
                    Arc::new(Bus::new(Topology::alone(me.id, me.addr, now), now))
                };
                let state = ClusterState::new(me.id, bus);
                node.port = me.addr.port();
                configs.push(node.clone());
                Some(start_node(node, listeners, state))
            })
            .collect();
        let faults = Arc::new(Faults::default());
        let detector = tokio::spawn(super::faults::detect(
            bus.clone(),
            faults.clone(),
            config.node_timeout,
        ));
        Ok(Cluster {
            servers,
            snapshots: vec![None; configs.len()],
            configs,
            nodes,
            bus,
            faults,
            detector,
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
        for server in self.servers.iter().flatten() {
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
        for server in self.servers.iter().flatten() {
            server.stopped().await;
        }
    }

    /// Senders that stop the whole cluster when `true` is sent (for signal handlers).
    pub fn shutdown_handles(&self) -> Vec<watch::Sender<bool>> {
        self.servers
            .iter()
            .flatten()
            .map(|s| s.shutdown_handle())
            .collect()
    }

    /// Stops every node and waits for their tasks to end.
    pub async fn stop(mut self) {
        self.stop_all().await;
    }

    async fn stop_all(&mut self) {
        self.detector.abort();
        for handle in self.shutdown_handles() {
            let _ = handle.send(true);
        }
        for (server, node) in self.servers.iter_mut().zip(&self.nodes) {
            if let Some(server) = server.take() {
                crate::replication::unregister(&node.id);
                server.stop().await;
            }
        }
    }

    /// The faults injected so far.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    fn server(&self, i: usize) -> Result<&Server, FaultError> {
        match self.servers.get(i) {
            None => Err(FaultError::NoSuchNode(i)),
            Some(None) => Err(FaultError::Stopped(i)),
            Some(Some(s)) => Ok(s),
        }
    }

    /// Stops node `i` as a killed process stops: its port refuses, its connections are
    /// reset. Its data is kept for `restart_node`.
    pub async fn stop_node(&mut self, i: usize) -> Result<(), FaultError> {
        self.server(i)?;
        let Some(server) = self.servers[i].take() else {
            return Err(FaultError::Stopped(i));
        };
        let id = self.nodes[i].id;
        self.faults.stopped.lock().push(id);
        crate::replication::unregister(&id);
        {
            let state = server.shared().lock().await;
            let mut rdb = Vec::new();
            if crate::rdb::file::write_rdb(&state, unix_millis(), &mut rdb).is_ok() {
                self.snapshots[i] = Some(rdb);
            }
        }
        server.stop().await;
        self.faults
            .record(format!("stop node {i} ({})", self.nodes[i].addr));
        Ok(())
    }

    /// Starts node `i` again on its port, with its id and the data it had; a node whose
    /// slots a replica took rejoins as that replica's replica (and resyncs).
    pub async fn restart_node(&mut self, i: usize) -> Result<(), FaultError> {
        match self.servers.get(i) {
            None => return Err(FaultError::NoSuchNode(i)),
            Some(Some(_)) => return Err(FaultError::Running(i)),
            Some(None) => {}
        }
        let config = self.configs[i].clone();
        let listeners = bind_all(&config).map_err(FaultError::Bind)?;
        let id = self.nodes[i].id;
        let state = ClusterState::new(id, self.bus.current());
        let server = start_node(config, listeners, state);
        if let Some(rdb) = self.snapshots[i].take() {
            let mut state = server.shared().lock().await;
            let now = unix_millis();
            if crate::rdb::file::load(&mut state, &rdb, now).is_ok() {
                super::reindex(&mut state);
            }
        }
        self.servers[i] = Some(server);
        self.faults.stopped.lock().retain(|n| *n != id);
        self.faults
            .record(format!("restart node {i} ({})", self.nodes[i].addr));
        Ok(())
    }

    /// Node `i` accepts and reads but answers nothing for `duration` (its connections stay
    /// open); failure detection sees it silent.
    pub async fn pause_node(&self, i: usize, duration: Duration) -> Result<(), FaultError> {
        let server = self.server(i)?;
        let until = Instant::now() + duration;
        server.shared().lock().await.pause = Some(crate::state::ClientPause {
            until,
            writes_only: false,
        });
        self.faults.paused.lock().insert(self.nodes[i].id, until);
        self.faults.record(format!(
            "pause node {i} ({}) for {} ms",
            self.nodes[i].addr,
            duration.as_millis()
        ));
        Ok(())
    }

    /// Closes every client connection of node `i`; how many there were.
    pub async fn drop_connections(&self, i: usize) -> Result<usize, FaultError> {
        let server = self.server(i)?;
        let mut state = server.shared().lock().await;
        let mut n = 0;
        for entry in state.clients.values_mut() {
            entry.killed = true;
            entry.wake.notify_one();
            n += 1;
        }
        drop(state);
        self.faults.record(format!(
            "drop {n} connections of node {i} ({})",
            self.nodes[i].addr
        ));
        Ok(n)
    }

    /// CLUSTER FAILOVER [FORCE|TAKEOVER] on replica `i`, as a client would send it.
    pub async fn failover(&self, i: usize, mode: &str) -> Result<(), FaultError> {
        let server = self.server(i)?;
        let mut argv: Vec<&[u8]> = vec![b"CLUSTER", b"FAILOVER"];
        if !mode.is_empty() {
            argv.push(mode.as_bytes());
        }
        let reply = run_command(server, &argv).await;
        self.faults.record(format!(
            "failover {mode} on node {i} ({})",
            self.nodes[i].addr
        ));
        if reply.starts_with(b"-") {
            return Err(FaultError::Refused(
                String::from_utf8_lossy(&reply).trim().to_string(),
            ));
        }
        Ok(())
    }

    /// Moves slots `first..=last` (which node `from` serves) and their keys to node `to`,
    /// as `redis-cli --cluster reshard` does: SETSLOT IMPORTING/MIGRATING, MIGRATE of every
    /// key, SETSLOT NODE on both.
    pub async fn migrate_slots(
        &self,
        from: usize,
        to: usize,
        first: u16,
        last: u16,
    ) -> Result<(), FaultError> {
        let source = self.server(from)?;
        let target = self.server(to)?;
        let (from_id, to_id) = (self.nodes[from].id, self.nodes[to].id);
        let to_addr = self.nodes[to].addr;
        for slot in first..=last {
            let slot_s = slot.to_string();
            let s = slot_s.as_bytes();
            for (server, argv) in [
                (
                    target,
                    vec![
                        b"CLUSTER".as_slice(),
                        b"SETSLOT",
                        s,
                        b"IMPORTING",
                        from_id.as_bytes(),
                    ],
                ),
                (
                    source,
                    vec![
                        b"CLUSTER".as_slice(),
                        b"SETSLOT",
                        s,
                        b"MIGRATING",
                        to_id.as_bytes(),
                    ],
                ),
            ] {
                let reply = run_command(server, &argv).await;
                if reply.starts_with(b"-") {
                    return Err(FaultError::Refused(String::from_utf8_lossy(&reply).into()));
                }
            }
            loop {
                let keys: Vec<Vec<u8>> = {
                    let state = source.shared().lock().await;
                    state
                        .mods
                        .slot_keys
                        .as_ref()
                        .map(|k| k.keys(slot).take(100).map(|k| k.to_vec()).collect())
                        .unwrap_or_default()
                };
                if keys.is_empty() {
                    break;
                }
                let host = to_addr.ip().to_string();
                let port = to_addr.port().to_string();
                let mut argv: Vec<&[u8]> = vec![
                    b"MIGRATE",
                    host.as_bytes(),
                    port.as_bytes(),
                    b"",
                    b"0",
                    b"5000",
                    b"KEYS",
                ];
                argv.extend(keys.iter().map(|k| k.as_slice()));
                let reply = run_command(source, &argv).await;
                if reply.starts_with(b"-") {
                    return Err(FaultError::Refused(String::from_utf8_lossy(&reply).into()));
                }
            }
            for server in [target, source] {
                let argv = vec![
                    b"CLUSTER".as_slice(),
                    b"SETSLOT",
                    s,
                    b"NODE",
                    to_id.as_bytes(),
                ];
                run_command(server, &argv).await;
            }
        }
        self.faults.record(format!(
            "migrate slots {first}-{last} from node {from} to node {to}"
        ));
        Ok(())
    }
}

/// Runs one command on a node as a local client would; the RESP2 reply.
async fn run_command(server: &Server, argv: &[&[u8]]) -> Vec<u8> {
    // MIGRATE waits on another node of this process: off the runtime's threads.
    let shared = server.shared().clone();
    let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    tokio::task::spawn_blocking(move || {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        let mut state = shared.state.lock();
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut client = crate::state::Client::new(u64::MAX - 1, local, local, true);
        let mut out = crate::reply::Reply::new(crate::reply::Protocol::Resp2);
        crate::dispatch::process_command(&mut state, &mut client, &mut out, &argv);
        out.buf.to_vec()
    })
    .await
    .unwrap_or_default()
}

/// Serves a node and starts its replication task.
fn start_node(
    config: ServerConfig,
    listeners: Vec<tokio::net::TcpListener>,
    state: ClusterState,
) -> Server {
    let id = state.myself;
    let server = Server::serve(config, listeners, Some(state));
    crate::replication::start(server.shared(), id, server.shutdown_handle().subscribe());
    server
}

/// Why a fault could not be injected.
#[derive(Debug)]
pub enum FaultError {
    NoSuchNode(usize),
    /// The node is stopped.
    Stopped(usize),
    /// The node runs (restart of a running node).
    Running(usize),
    Bind(StartError),
    /// The node refused the command.
    Refused(String),
}

impl std::fmt::Display for FaultError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultError::NoSuchNode(i) => write!(f, "no node {i}"),
            FaultError::Stopped(i) => write!(f, "node {i} is stopped"),
            FaultError::Running(i) => write!(f, "node {i} is running"),
            FaultError::Bind(e) => e.fmt(f),
            FaultError::Refused(e) => write!(f, "refused: {e}"),
        }
    }
}

impl std::error::Error for FaultError {}

/// A cluster on its own thread and runtime, for tests and tools that are not async (its
/// methods must not be called from inside a tokio runtime). Dropping it stops the cluster.
pub struct EmbeddedCluster {
    nodes: Vec<NodeAddr>,
    bus: Arc<Bus>,
    runtime: tokio::runtime::Handle,
    cluster: Arc<tokio::sync::Mutex<Cluster>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Started = (
    Vec<NodeAddr>,
    Arc<Bus>,
    tokio::runtime::Handle,
    Arc<tokio::sync::Mutex<Cluster>>,
);

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
        let (tx, rx) = std::sync::mpsc::channel::<Result<Started, ClusterStartError>>();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, (config.primaries * (1 + config.replicas)).max(2));
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
                let handle = runtime.handle().clone();
                runtime.block_on(async move {
                    match Cluster::start_as(config, joined).await {
                        Ok(cluster) => {
                            while joined && !cluster.is_ok().await {
                                tokio::task::yield_now().await;
                            }
                            let nodes = cluster.nodes().to_vec();
                            let bus = cluster.bus().clone();
                            let cluster = Arc::new(tokio::sync::Mutex::new(cluster));
                            let _ = tx.send(Ok((nodes, bus, handle, cluster.clone())));
                            let _ = stop_rx.await;
                            cluster.lock().await.stop_all().await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(ClusterStartError::Runtime)?;
        let (nodes, bus, runtime, cluster) = rx.recv().map_err(|_| {
            ClusterStartError::Runtime(std::io::Error::other(
                "cluster thread ended before it started",
            ))
        })??;
        Ok(EmbeddedCluster {
            nodes,
            bus,
            runtime,
            cluster,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The nodes, in the order they were started (the first holds slot 0; replicas follow
    /// the primaries).
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

    /// The faults injected so far, with their times.
    pub fn fault_log(&self) -> Vec<(crate::keyspace::Millis, String)> {
        self.runtime
            .block_on(async { self.cluster.lock().await.faults().log() })
    }

    /// `Cluster::stop_node`.
    pub fn stop_node(&self, i: usize) -> Result<(), FaultError> {
        self.runtime
            .block_on(async { self.cluster.lock().await.stop_node(i).await })
    }

    /// `Cluster::restart_node`.
    pub fn restart_node(&self, i: usize) -> Result<(), FaultError> {
        self.runtime
            .block_on(async { self.cluster.lock().await.restart_node(i).await })
    }

    /// `Cluster::pause_node`.
    pub fn pause_node(&self, i: usize, duration: Duration) -> Result<(), FaultError> {
        self.runtime
            .block_on(async { self.cluster.lock().await.pause_node(i, duration).await })
    }

    /// `Cluster::drop_connections`.
    pub fn drop_connections(&self, i: usize) -> Result<usize, FaultError> {
        self.runtime
            .block_on(async { self.cluster.lock().await.drop_connections(i).await })
    }

    /// `Cluster::failover`.
    pub fn failover(&self, i: usize, mode: &str) -> Result<(), FaultError> {
        self.runtime
            .block_on(async { self.cluster.lock().await.failover(i, mode).await })
    }

    /// `Cluster::migrate_slots`.
    pub fn migrate_slots(
        &self,
        from: usize,
        to: usize,
        first: u16,
        last: u16,
    ) -> Result<(), FaultError> {
        self.runtime.block_on(async {
            self.cluster
                .lock()
                .await
                .migrate_slots(from, to, first, last)
                .await
        })
    }

    /// Stops every node and waits for the thread.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
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
