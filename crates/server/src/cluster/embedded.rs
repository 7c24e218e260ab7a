//! Starting and stopping a whole cluster of primaries in this process: `Cluster` inside a
//! tokio runtime, `EmbeddedCluster` on a thread of its own (for tests and tools that are
//! not async). Every node is a full server on its own port, with its own state and lock,
//! so nodes run on several cores; they share the configuration through one `Bus`.
//!
//! Faults (`faults`) are carried out by the cluster's controller task, which owns the
//! running nodes: the Rust methods and, with fault injection on, the `LOCKSTEP.FAULT`
//! requests the nodes send it (`wire_faults`) go through it one at a time.
//!
//! Every node binds before any serves, so the configuration names real ports from the
//! first command on, and a bind failure leaves nothing running.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use std::time::{Duration, Instant};

use super::faults::Faults;
use super::slots::MAX_PRIMARIES;
use super::topology::{NodeId, Topology};
use super::wire_faults::{Answer, Answered, Fault, FaultControl, Request};
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
    /// Whether clients may inject faults with `LOCKSTEP.FAULT` (`lockstep cluster
    /// --fault-injection`); refused when off.
    pub fault_injection: bool,
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
            fault_injection: false,
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
        node_files(&mut settings, i);
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

/// Gives node `i` files of its own: nodes that shared `dbfilename` or `appenddirname` would
/// load one another's data (every key, whatever its slot) and overwrite one another's
/// saves. Unless set, the directory is the temporary one and the names are unique to this
/// process and cluster, so that a cluster never starts from a file another left behind (the
/// working directory's `dump.rdb`, say); names that were set get the node's index.
fn node_files(settings: &mut Config, i: usize) {
    static CLUSTERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if !settings.kept.contains_key("dir") {
        let dir = std::env::temp_dir();
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        settings
            .kept
            .insert("dir", dir.to_string_lossy().into_owned());
    }
    let unique = || {
        // One number per node; names only need to differ.
        let n = CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("lockstep-cluster-{}-{n}", std::process::id())
    };
    let dbfilename = match settings.kept.get("dbfilename") {
        Some(name) => match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}-{i}.{ext}"),
            None => format!("{name}-{i}"),
        },
        None => format!("{}.rdb", unique()),
    };
    settings.kept.insert("dbfilename", dbfilename);
    let appenddir = match settings.kept.get("appenddirname") {
        Some(name) => format!("{name}-{i}"),
        None => format!("{}-appendonlydir", unique()),
    };
    settings.kept.insert("appenddirname", appenddir);
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
///
/// Its nodes are owned by a controller (`Control`): the methods here and the
/// `LOCKSTEP.FAULT` requests the nodes send over a channel (fault injection on) are
/// carried out by it, one at a time, never by a node under its own lock.
pub struct Cluster {
    control: Arc<Control>,
    detector: tokio::task::JoinHandle<()>,
    /// The task that carries out what `LOCKSTEP.FAULT` asks for.
    controller: tokio::task::JoinHandle<()>,
}

/// The nodes as faults change them.
struct Running {
    /// By node; `None` while a node is stopped.
    servers: Vec<Option<Server>>,
    /// Each node's settings, its port fixed once bound (for a restart).
    configs: Vec<ServerConfig>,
    /// The data of stopped nodes, as RDB.
    snapshots: Vec<Option<Vec<u8>>>,
}

impl Running {
    fn server(&self, i: usize) -> Result<&Server, FaultError> {
        match self.servers.get(i) {
            None => Err(FaultError::NoSuchNode(i)),
            Some(None) => Err(FaultError::Stopped(i)),
            Some(Some(s)) => Ok(s),
        }
    }
}

/// What carries faults out: the running nodes and everything a fault needs.
struct Control {
    nodes: Arc<[NodeAddr]>,
    bus: Arc<Bus>,
    faults: Arc<Faults>,
    running: tokio::sync::Mutex<Running>,
    /// Each running node's shutdown sender, readable without `running` (signal handlers).
    handles: parking_lot::Mutex<Vec<Option<watch::Sender<bool>>>>,
    /// The controller's own channel: the nodes' `LOCKSTEP.FAULT` requests, and the end of
    /// a partition.
    requests: mpsc::UnboundedSender<Request>,
    fault_injection: bool,
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
        let nodes: Arc<[NodeAddr]> = topology
            .nodes
            .iter()
            .map(|n| NodeAddr {
                id: n.id,
                addr: n.addr(),
            })
            .collect();
        let bus = Arc::new(Bus::new(topology, now));
        let faults = Arc::new(Faults::default());
        let (requests, inbox) = mpsc::unbounded_channel();
        let wire = FaultControl {
            nodes: nodes.clone(),
            requests: requests.clone(),
        };
        let mut configs = Vec::with_capacity(total);
        let servers: Vec<Option<Server>> = bound
            .into_iter()
            .zip(nodes.iter())
            .map(|((mut node, listeners), me)| {
                let bus = if joined {
                    bus.clone()
                } else {
                    Arc::new(Bus::new(Topology::alone(me.id, me.addr, now), now))
                };
                let state = ClusterState::new(me.id, bus)
                    .with_faults(faults.clone(), config.fault_injection.then(|| wire.clone()));
                node.port = me.addr.port();
                configs.push(node.clone());
                Some(start_node(node, listeners, state))
            })
            .collect();
        let handles = servers
            .iter()
            .map(|s| s.as_ref().map(|s| s.shutdown_handle()))
            .collect();
        let detector = tokio::spawn(super::faults::detect(
            bus.clone(),
            faults.clone(),
            config.node_timeout,
        ));
        let control = Arc::new(Control {
            nodes,
            bus,
            faults,
            running: tokio::sync::Mutex::new(Running {
                snapshots: vec![None; configs.len()],
                servers,
                configs,
            }),
            handles: parking_lot::Mutex::new(handles),
            requests,
            fault_injection: config.fault_injection,
        });
        let controller = tokio::spawn(control_loop(control.clone(), inbox));
        Ok(Cluster {
            control,
            detector,
            controller,
        })
    }

    /// The nodes, in the order they were started (the first holds slot 0).
    pub fn nodes(&self) -> &[NodeAddr] {
        &self.control.nodes
    }

    /// Every node's announced address, in order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.control.nodes.iter().map(|n| n.addr).collect()
    }

    /// The configuration the nodes share.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.control.bus
    }

    /// Whether every running node answers `cluster_state:ok` (CLUSTER INFO), as each
    /// node's own view says.
    pub async fn is_ok(&self) -> bool {
        let running = self.control.running.lock().await;
        for server in running.servers.iter().flatten() {
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

    /// Waits until every running node has stopped (SHUTDOWN on each, or `stop`). Nodes a
    /// fault stopped do not count; while a fault has stopped them all, a restart may come.
    pub async fn stopped(&self) {
        loop {
            let waits: Vec<watch::Receiver<bool>> = self
                .control
                .handles
                .lock()
                .iter()
                .flatten()
                .map(|h| h.subscribe())
                .collect();
            if waits.is_empty() && !self.control.faults.stopped.lock().is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            for mut rx in waits {
                let _ = rx.wait_for(|stop| *stop).await;
            }
            // A node restarted meanwhile has a new sender.
            if self
                .control
                .handles
                .lock()
                .iter()
                .flatten()
                .all(|h| *h.borrow())
            {
                return;
            }
        }
    }

    /// Senders that stop the running nodes when `true` is sent (for signal handlers).
    pub fn shutdown_handles(&self) -> Vec<watch::Sender<bool>> {
        self.control
            .handles
            .lock()
            .iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// Stops every node and waits for their tasks to end.
    pub async fn stop(mut self) {
        self.stop_all().await;
    }

    async fn stop_all(&mut self) {
        self.detector.abort();
        self.controller.abort();
        for handle in self.shutdown_handles() {
            let _ = handle.send(true);
        }
        let mut running = self.control.running.lock().await;
        for (server, node) in running.servers.iter_mut().zip(self.control.nodes.iter()) {
            if let Some(server) = server.take() {
                crate::replication::unregister(&node.id);
                super::faults::set_delay(server_key(&server), Duration::ZERO, Instant::now());
                server.stop().await;
            }
        }
        self.control
            .handles
            .lock()
            .iter_mut()
            .for_each(|h| *h = None);
    }

    /// The faults injected so far.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.control.faults
    }

    /// Whether the cluster was started with fault injection on (`LOCKSTEP.FAULT`).
    pub fn fault_injection(&self) -> bool {
        self.control.fault_injection
    }

    /// Stops node `i` as a killed process stops: its port refuses, its connections are
    /// reset. Its data is kept for `restart_node`.
    pub async fn stop_node(&mut self, i: usize) -> Result<(), FaultError> {
        self.control.stop_node(i).await
    }

    /// Starts node `i` again on its port, with its id and the data it had; a node whose
    /// slots a replica took rejoins as that replica's replica (and resyncs).
    pub async fn restart_node(&mut self, i: usize) -> Result<(), FaultError> {
        self.control.restart_node(i).await
    }

    /// Node `i` accepts and reads but answers nothing for `duration` (its connections stay
    /// open); failure detection sees it silent.
    pub async fn pause_node(&self, i: usize, duration: Duration) -> Result<(), FaultError> {
        self.control.pause_node(i, duration).await
    }

    /// For `duration`, node `i` writes every reply `delay` after it computed it, without
    /// holding its lock meanwhile (its other clients and the other nodes are not slowed
    /// beyond their own late replies).
    pub async fn add_latency(
        &self,
        i: usize,
        delay: Duration,
        duration: Duration,
    ) -> Result<(), FaultError> {
        self.control.add_latency(i, delay, duration).await
    }

    /// Cuts node `i` off from the other nodes (not from its clients) for `duration`:
    /// the others fail it after the node timeout and promote its replica, its replication
    /// links go down, and it finds itself in a minority (`-CLUSTERDOWN`). See `faults`.
    pub async fn partition(&self, i: usize, duration: Duration) -> Result<(), FaultError> {
        self.control.partition(i, duration).await
    }

    /// Ends node `i`'s partition: it rejoins, as a replica of the node that took its
    /// slots if one did.
    pub async fn heal(&self, i: usize) -> Result<(), FaultError> {
        self.control.heal(i).await
    }

    /// Closes every client connection of node `i`; how many there were.
    pub async fn drop_connections(&self, i: usize) -> Result<usize, FaultError> {
        self.control.drop_connections(i).await
    }

    /// CLUSTER FAILOVER [FORCE|TAKEOVER] on replica `i`, as a client would send it.
    pub async fn failover(&self, i: usize, mode: &str) -> Result<(), FaultError> {
        self.control.failover(i, mode).await
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
        self.control.migrate_slots(from, to, first, last).await
    }
}

/// The key of a server in the latency table: where its shared part lives.
fn server_key(server: &Server) -> usize {
    Arc::as_ptr(server.shared()) as usize
}

/// The controller: carries out the nodes' requests one at a time, in order, and answers
/// the client that asked once the fault is in place.
async fn control_loop(control: Arc<Control>, mut inbox: mpsc::UnboundedReceiver<Request>) {
    while let Some(Request { fault, answer }) = inbox.recv().await {
        if let Answer::AfterClose { node, client } = answer {
            control.wait_closed(node, client).await;
        }
        let result = control.execute(fault).await;
        if let Err(e) = &result {
            tracing::info!(error = %e, "fault not injected");
        }
        if let Answer::Client { node, client } = answer {
            control.answer(node, client, result).await;
        }
    }
}

impl Control {
    async fn execute(&self, fault: Fault) -> Result<Answered, FaultError> {
        match fault {
            Fault::Stop(i) => self.stop_node(i).await.map(|()| Answered::Ok),
            Fault::Restart(i) => self.restart_node(i).await.map(|()| Answered::Ok),
            Fault::Pause(i, d) => self.pause_node(i, d).await.map(|()| Answered::Ok),
            Fault::Latency(i, delay, d) => {
                self.add_latency(i, delay, d).await.map(|()| Answered::Ok)
            }
            Fault::Partition(i, d) => self.partition(i, d).await.map(|()| Answered::Ok),
            Fault::Heal(i) => self.heal(i).await.map(|()| Answered::Ok),
            Fault::PartitionOver(i, until) => {
                let id = self.nodes[i].id;
                if self.faults.partitioned_until(&id) == Some(until) {
                    self.heal(i).await?;
                }
                Ok(Answered::Ok)
            }
            Fault::Drop(i) => self
                .drop_connections(i)
                .await
                .map(|n| Answered::Int(n as i64)),
            Fault::Failover(i, mode) => self.failover(i, &mode).await.map(|()| Answered::Ok),
            Fault::Migrate {
                from,
                to,
                first,
                last,
            } => self
                .migrate_slots(from, to, first, last)
                .await
                .map(|()| Answered::Ok),
        }
    }

    /// Answers client `client` of node `node`, parked by `LOCKSTEP.FAULT`.
    async fn answer(&self, node: NodeId, client: u64, result: Result<Answered, FaultError>) {
        let Some(i) = self.nodes.iter().position(|n| n.id == node) else {
            return;
        };
        let running = self.running.lock().await;
        let Ok(server) = running.server(i) else {
            return;
        };
        let mut state = server.shared().lock().await;
        crate::dispatch::unblock(&mut state, client, |out| match result {
            Ok(Answered::Ok) => out.simple("OK"),
            Ok(Answered::Int(n)) => out.int(n),
            Err(FaultError::Refused(e)) => out.error(e.trim_start_matches('-')),
            Err(e) => out.error(&format!("ERR {e}")),
        });
    }

    /// Waits (a second at most) until client `client` of node `node` has gone: it was
    /// told its fault is injected, and the fault ends its connection.
    async fn wait_closed(&self, node: NodeId, client: u64) {
        let Some(i) = self.nodes.iter().position(|n| n.id == node) else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            let gone = {
                let running = self.running.lock().await;
                match running.server(i) {
                    Ok(server) => !server.shared().lock().await.clients.contains_key(&client),
                    Err(_) => true,
                }
            };
            if gone {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn stop_node(&self, i: usize) -> Result<(), FaultError> {
        let mut running = self.running.lock().await;
        running.server(i)?;
        let Some(server) = running.servers[i].take() else {
            return Err(FaultError::Stopped(i));
        };
        if let Some(h) = self.handles.lock().get_mut(i) {
            *h = None;
        }
        let id = self.nodes[i].id;
        self.faults.stopped.lock().push(id);
        crate::replication::unregister(&id);
        {
            let state = server.shared().lock().await;
            let mut rdb = Vec::new();
            if crate::rdb::file::write_rdb(&state, unix_millis(), &mut rdb).is_ok() {
                running.snapshots[i] = Some(rdb);
            }
        }
        super::faults::set_delay(server_key(&server), Duration::ZERO, Instant::now());
        server.stop().await;
        self.faults
            .record(format!("stop node {i} ({})", self.nodes[i].addr));
        Ok(())
    }

    async fn restart_node(&self, i: usize) -> Result<(), FaultError> {
        let mut running = self.running.lock().await;
        match running.servers.get(i) {
            None => return Err(FaultError::NoSuchNode(i)),
            Some(Some(_)) => return Err(FaultError::Running(i)),
            Some(None) => {}
        }
        let config = running.configs[i].clone();
        let listeners = bind_all(&config).map_err(FaultError::Bind)?;
        let id = self.nodes[i].id;
        let wire = self.fault_injection.then(|| FaultControl {
            nodes: self.nodes.clone(),
            requests: self.requests.clone(),
        });
        let state =
            ClusterState::new(id, self.bus.current()).with_faults(self.faults.clone(), wire);
        let server = start_node(config, listeners, state);
        if let Some(rdb) = running.snapshots[i].take() {
            let mut state = server.shared().lock().await;
            let now = unix_millis();
            if crate::rdb::file::load(&mut state, &rdb, now).is_ok() {
                super::reindex(&mut state);
            }
        }
        if let Some(h) = self.handles.lock().get_mut(i) {
            *h = Some(server.shutdown_handle());
        }
        running.servers[i] = Some(server);
        self.faults.stopped.lock().retain(|n| *n != id);
        self.faults
            .record(format!("restart node {i} ({})", self.nodes[i].addr));
        Ok(())
    }

    async fn pause_node(&self, i: usize, duration: Duration) -> Result<(), FaultError> {
        let running = self.running.lock().await;
        let server = running.server(i)?;
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

    async fn add_latency(
        &self,
        i: usize,
        delay: Duration,
        duration: Duration,
    ) -> Result<(), FaultError> {
        let running = self.running.lock().await;
        let server = running.server(i)?;
        super::faults::set_delay(server_key(server), delay, Instant::now() + duration);
        self.faults.record(format!(
            "latency {} ms on node {i} ({}) for {} ms",
            delay.as_millis(),
            self.nodes[i].addr,
            duration.as_millis()
        ));
        Ok(())
    }

    async fn partition(&self, i: usize, duration: Duration) -> Result<(), FaultError> {
        let running = self.running.lock().await;
        running.server(i)?;
        let id = self.nodes[i].id;
        let until = Instant::now() + duration;
        self.faults.partition(id, until);
        // Its replication links go down both ways: its own feeds close, and so does its
        // primary's feed to it.
        for (j, server) in running.servers.iter().enumerate() {
            let Some(server) = server else { continue };
            let cut_all = self.nodes[j].id == id;
            let mut state = server.shared().lock().await;
            crate::replication::cut_feeds(&mut state, |replica| cut_all || *replica == id);
        }
        drop(running);
        self.bus.current().update(|_| ());
        crate::replication::kick_all();
        self.faults.record(format!(
            "partition node {i} ({}) for {} ms",
            self.nodes[i].addr,
            duration.as_millis()
        ));
        let requests = self.requests.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            let _ = requests.send(Request {
                fault: Fault::PartitionOver(i, until),
                answer: Answer::Nobody,
            });
        });
        Ok(())
    }

    async fn heal(&self, i: usize) -> Result<(), FaultError> {
        let Some(node) = self.nodes.get(i) else {
            return Err(FaultError::NoSuchNode(i));
        };
        if !self.faults.heal(&node.id) {
            return Err(FaultError::NotPartitioned(i));
        }
        // The node takes the shared view again; the detector clears it.
        self.bus.current().update(|_| ());
        crate::replication::kick_all();
        self.faults.record(format!("heal node {i} ({})", node.addr));
        Ok(())
    }

    async fn drop_connections(&self, i: usize) -> Result<usize, FaultError> {
        let running = self.running.lock().await;
        let server = running.server(i)?;
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

    async fn failover(&self, i: usize, mode: &str) -> Result<(), FaultError> {
        let running = self.running.lock().await;
        let server = running.server(i)?;
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

    async fn migrate_slots(
        &self,
        from: usize,
        to: usize,
        first: u16,
        last: u16,
    ) -> Result<(), FaultError> {
        let running = self.running.lock().await;
        let source = running.server(from)?;
        let target = running.server(to)?;
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
    /// The node is not cut off (heal of a node without a partition).
    NotPartitioned(usize),
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
            FaultError::NotPartitioned(i) => write!(f, "node {i} is not partitioned"),
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

    /// `Cluster::add_latency`.
    pub fn add_latency(
        &self,
        i: usize,
        delay: Duration,
        duration: Duration,
    ) -> Result<(), FaultError> {
        self.runtime.block_on(async {
            self.cluster
                .lock()
                .await
                .add_latency(i, delay, duration)
                .await
        })
    }

    /// `Cluster::partition`.
    pub fn partition(&self, i: usize, duration: Duration) -> Result<(), FaultError> {
        self.runtime
            .block_on(async { self.cluster.lock().await.partition(i, duration).await })
    }

    /// `Cluster::heal`.
    pub fn heal(&self, i: usize) -> Result<(), FaultError> {
        self.runtime
            .block_on(async { self.cluster.lock().await.heal(i).await })
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
