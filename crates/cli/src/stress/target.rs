//! What the workloads run against: an embedded lockstep cluster started here, or the
//! servers named by `--addrs` (standalone or cluster, told apart by INFO's
//! `cluster_enabled`). It hands out the clients the scenarios use: one shared client
//! (`Client` or `ClusterClient`), pools of dedicated connections routed by hash slot
//! (`PoolSet`), admin connections, and the embedded cluster's own fault API for chaos.
//!
//! Every connection the workloads open is named `lockstep-stress` (CLIENT SETNAME), so
//! that chaos kills only those, never another user's connections on a real server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use lockstep::{cmd, Client, ClusterClient, Cmd, Config, Error, Frame, Pool, PoolOptions, Slot};
use lockstep_server::{Cluster, ClusterConfig};

/// The name of every workload connection (admin connections have none).
pub const CLIENT_NAME: &str = "lockstep-stress";

/// How long a workload command may wait for its reply.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded cluster's `cluster-node-timeout`. Failure detection there watches the
/// fault API, not heartbeats, so load cannot fail a node by mistake; a short timeout
/// makes a stopped primary's replica take over within about a second (timeout, one
/// detector tick, Redis's 500 ms election delay capped at the timeout) instead of the
/// 15 s default, so a chaos slice sees the whole failover.
pub const EMBEDDED_NODE_TIMEOUT: Duration = Duration::from_millis(500);

/// How long an admin query (CLUSTER NODES, ROLE) may take: a paused node must not hold
/// the fault injector or a pool's map refresh for a whole command timeout.
const ADMIN_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Standalone,
    Cluster,
}

/// One node as CLUSTER NODES describes it (or the standalone server).
#[derive(Clone, Debug)]
pub struct Node {
    pub addr: String,
    pub id: String,
    pub primary: bool,
    /// The id of the primary it replicates (replicas only).
    pub replica_of: Option<String>,
    /// Slot ranges it serves (inclusive); empty for a replica, everything for standalone.
    pub slots: Vec<(u16, u16)>,
}

impl Node {
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }

    pub fn host_port(&self) -> (String, u16) {
        split_addr(&self.addr).unwrap_or_else(|_| (self.addr.clone(), 0))
    }

    /// Its slot ranges as CLUSTER NODES writes them (`0-5460 16000`).
    pub fn slot_text(&self) -> String {
        let ranges: Vec<String> = self
            .slots
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        ranges.join(" ")
    }
}

pub struct Target {
    pub kind: Kind,
    /// Addresses to start from (`host:port`).
    pub seeds: Vec<String>,
    /// What the report says this was.
    pub description: String,
    /// The embedded cluster (its fault API needs `&mut` to stop and restart a node).
    embedded: Option<tokio::sync::Mutex<Cluster>>,
    /// The embedded cluster's nodes' addresses, by node index.
    embedded_addrs: Vec<String>,
    /// The seed that last answered CLUSTER NODES.
    answered: AtomicUsize,
}

/// `host:port`, `[v6]:port` or `v6:port`.
pub fn split_addr(addr: &str) -> Result<(String, u16), String> {
    let addr = addr.trim();
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("'{addr}' is not HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{addr}': '{port}' is not a port number"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("'{addr}' has no host"));
    }
    Ok((host.to_string(), port))
}

fn config_for(addr: &str, name: Option<&str>) -> Result<Config, String> {
    let (host, port) = split_addr(addr)?;
    let mut b = Config::builder()
        .host(host, port)
        .command_timeout(Some(COMMAND_TIMEOUT))
        .connect_timeout(Duration::from_secs(2));
    if let Some(name) = name {
        b = b.client_name(name);
    }
    Ok(b.build())
}

impl Target {
    /// Starts `primaries` lockstep primaries with a replica each in this process on free
    /// ports and waits for `cluster_state:ok` (replicas let chaos run failovers).
    pub async fn embedded(primaries: usize) -> Result<Target, String> {
        let config = ClusterConfig {
            replicas: 1,
            node_timeout: EMBEDDED_NODE_TIMEOUT,
            ..ClusterConfig::ephemeral(primaries)
        };
        let cluster = Cluster::start(config)
            .await
            .map_err(|e| format!("cannot start the embedded cluster: {e}"))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !cluster.is_ok().await {
            if tokio::time::Instant::now() > deadline {
                return Err("the embedded cluster did not reach cluster_state:ok".into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let seeds: Vec<String> = cluster.addrs().iter().map(|a| a.to_string()).collect();
        Ok(Target {
            kind: Kind::Cluster,
            description: format!(
                "embedded lockstep cluster, {primaries} primaries and {primaries} replicas at {}",
                seeds.join(" ")
            ),
            embedded_addrs: seeds.clone(),
            seeds,
            embedded: Some(tokio::sync::Mutex::new(cluster)),
            answered: AtomicUsize::new(0),
        })
    }

    /// The servers at `addrs`: a cluster when the first that answers says
    /// `cluster_enabled:1`.
    pub async fn external(addrs: &[String]) -> Result<Target, String> {
        if addrs.is_empty() {
            return Err("--addrs names no address".into());
        }
        let mut last = String::new();
        for addr in addrs {
            let admin = Client::new(config_for(addr, None)?);
            let info = admin.query::<String>(cmd("INFO").arg("cluster")).await;
            admin.shutdown(Duration::from_millis(100)).await;
            match info {
                Ok(info) => {
                    let cluster = info.lines().any(|l| l.trim() == "cluster_enabled:1");
                    let kind = if cluster {
                        Kind::Cluster
                    } else {
                        Kind::Standalone
                    };
                    return Ok(Target {
                        kind,
                        description: format!(
                            "{} at {}",
                            if cluster {
                                "cluster"
                            } else {
                                "standalone server"
                            },
                            addrs.join(" ")
                        ),
                        seeds: if cluster {
                            addrs.to_vec()
                        } else {
                            vec![addr.clone()]
                        },
                        embedded: None,
                        embedded_addrs: Vec::new(),
                        answered: AtomicUsize::new(0),
                    });
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(format!("no server answered INFO: {last}"))
    }

    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The embedded cluster, for faults a client cannot inject (stop, restart, pause).
    pub fn cluster(&self) -> Option<&tokio::sync::Mutex<Cluster>> {
        self.embedded.as_ref()
    }

    /// The embedded cluster's index of the node at `addr`.
    pub fn node_index(&self, addr: &str) -> Option<usize> {
        self.embedded_addrs.iter().position(|a| a == addr)
    }

    /// The configuration of a workload connection to `addr`.
    pub fn config(&self, addr: &str) -> Config {
        config_for(addr, Some(CLIENT_NAME)).unwrap_or_default()
    }

    /// A new shared client (nothing connects until its first command).
    pub fn shared(&self) -> Shared {
        match self.kind {
            Kind::Standalone => Shared::Single(Client::new(self.config(&self.seeds[0]))),
            Kind::Cluster => {
                let seeds: Vec<lockstep::Addr> =
                    self.seeds.iter().map(|s| self.config(s).addr).collect();
                Shared::Cluster(ClusterClient::new(&seeds, self.config(&self.seeds[0])))
            }
        }
    }

    /// An admin connection (unnamed: chaos never kills it).
    pub fn admin(&self, addr: &str) -> Result<Client, String> {
        Ok(Client::new(config_for(addr, None)?))
    }

    /// The nodes as the cluster describes them now (the one server, standalone).
    pub async fn nodes(&self) -> Result<Vec<Node>, String> {
        fetch_nodes(self.kind, &self.seeds, &self.answered).await
    }

    /// Pools of `size` connections per node, routed by hash slot, with key groups that
    /// spread tasks over the primaries.
    pub async fn pools(&self, size: usize, timeout: Duration) -> Result<PoolSet, String> {
        let nodes = self.nodes().await?;
        let groups: Vec<Vec<String>> = nodes
            .iter()
            .filter(|n| n.primary && !n.slots.is_empty())
            .map(|n| keys_served_by(n, 64))
            .collect();
        if groups.is_empty() {
            return Err("no primary serves any slot".into());
        }
        let opts = PoolOptions {
            size: size.max(1),
            pool_timeout: timeout,
            ..PoolOptions::default()
        };
        Ok(PoolSet {
            kind: self.kind,
            seeds: self.seeds.clone(),
            opts,
            routes: RwLock::new(Routes::of(&nodes)),
            pools: Mutex::new(HashMap::new()),
            groups,
            refreshing: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            moved: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            answered: AtomicUsize::new(self.answered.load(Ordering::Relaxed)),
        })
    }

    pub async fn stop(self) {
        if let Some(cluster) = self.embedded {
            cluster.into_inner().stop().await;
        }
    }
}

/// The nodes as the first of `seeds` that answers CLUSTER NODES describes them (the one
/// server, standalone). Seeds are tried from `from` on, which is left at the one that
/// answered: a stopped or paused node costs one failed try, not one per call.
async fn fetch_nodes(
    kind: Kind,
    seeds: &[String],
    from: &AtomicUsize,
) -> Result<Vec<Node>, String> {
    if kind == Kind::Standalone {
        return Ok(vec![Node {
            addr: seeds.first().cloned().unwrap_or_default(),
            id: String::new(),
            primary: true,
            replica_of: None,
            slots: vec![(0, 16383)],
        }]);
    }
    let mut last = String::new();
    let first = from.load(Ordering::Relaxed);
    for k in 0..seeds.len() {
        let i = (first + k) % seeds.len();
        let seed = &seeds[i];
        let admin = Client::new(config_for(seed, None)?);
        let r = admin
            .query::<String>(cmd("CLUSTER").arg("NODES").timeout(Some(ADMIN_TIMEOUT)))
            .await;
        admin.shutdown(Duration::from_millis(100)).await;
        match r {
            Ok(text) => {
                from.store(i, Ordering::Relaxed);
                return Ok(parse_cluster_nodes(&text, seed));
            }
            Err(e) => last = format!("{seed}: {e}"),
        }
    }
    Err(format!("CLUSTER NODES failed everywhere: {last}"))
}

/// Reads CLUSTER NODES: `id addr@cport[,hostname] flags master ping pong epoch link slots...`.
/// Nodes flagged `fail` or `noaddr` are left out. An address of `:port` (a node that does
/// not know its own IP) takes the host of `seed`.
pub fn parse_cluster_nodes(text: &str, seed: &str) -> Vec<Node> {
    let seed_host = split_addr(seed).map(|(h, _)| h).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let flags: Vec<&str> = f[2].split(',').collect();
        if flags
            .iter()
            .any(|&x| x == "fail" || x == "noaddr" || x == "handshake")
        {
            continue;
        }
        let addr = f[1].split('@').next().unwrap_or_default();
        let addr = match addr.strip_prefix(':') {
            Some(port) => format!("{seed_host}:{port}"),
            None => addr.to_string(),
        };
        let mut slots = Vec::new();
        for s in &f[8..] {
            if s.starts_with('[') {
                continue;
            }
            let range = match s.split_once('-') {
                Some((a, b)) => a.parse().ok().zip(b.parse().ok()),
                None => s.parse().ok().map(|a| (a, a)),
            };
            if let Some(r) = range {
                slots.push(r);
            }
        }
        let primary = flags.contains(&"master");
        out.push(Node {
            addr,
            id: f[0].to_string(),
            primary,
            replica_of: (!primary && f[3] != "-").then(|| f[3].to_string()),
            slots,
        });
    }
    out
}

/// The hash slot of `key`.
pub fn slot_of(key: &str) -> Option<u16> {
    match cmd("GET").arg(key).meta().slot {
        Some(Slot::One(s)) => Some(s),
        _ => None,
    }
}

/// `n` keys (`stress:pool:<i>`) whose slots `node` serves.
fn keys_served_by(node: &Node, n: usize) -> Vec<String> {
    let mut keys = Vec::with_capacity(n);
    for i in 0..1_000_000u32 {
        let k = format!("stress:pool:{i}");
        if slot_of(&k).is_some_and(|s| node.serves(s)) {
            keys.push(k);
            if keys.len() == n {
                break;
            }
        }
    }
    keys
}

/// The client the scenarios share: every task uses clones of one.
#[derive(Clone)]
pub enum Shared {
    Single(Client),
    Cluster(ClusterClient),
}

impl Shared {
    pub async fn send(&self, c: &Cmd) -> Result<Frame, Error> {
        match self {
            Shared::Single(x) => x.send(c).await,
            Shared::Cluster(x) => x.send(c).await,
        }
    }

    pub async fn query<T: lockstep::FromReply>(&self, c: Cmd) -> Result<T, Error> {
        T::from_reply(self.send(&c).await?)
    }

    /// Commands written together; their replies in order (error replies as frames).
    pub async fn pipeline(&self, cmds: Vec<Cmd>) -> Result<Vec<Frame>, Error> {
        match self {
            Shared::Single(x) => {
                let mut p = x.pipeline();
                for c in cmds {
                    p.cmd(c);
                }
                p.query().await
            }
            Shared::Cluster(x) => {
                let mut p = x.pipeline();
                for c in cmds {
                    p.cmd(c);
                }
                p.query().await
            }
        }
    }

    pub async fn connect(&self) -> Result<(), Error> {
        match self {
            Shared::Single(x) => x.connect().await,
            Shared::Cluster(x) => x.connect().await,
        }
    }

    pub async fn disconnect(&self) {
        match self {
            Shared::Single(x) => x.disconnect().await,
            Shared::Cluster(x) => x.disconnect().await,
        }
    }

    /// Ends the client (a cluster client's connections close when its last clone goes).
    pub async fn close(self) {
        match self {
            Shared::Single(x) => {
                x.shutdown(Duration::from_millis(200)).await;
            }
            Shared::Cluster(x) => x.disconnect().await,
        }
    }

    /// The standalone client, whose state can be watched (a cluster client's node
    /// connections are counted process-wide instead, see `detect`).
    pub fn single(&self) -> Option<&Client> {
        match self {
            Shared::Single(x) => Some(x),
            Shared::Cluster(_) => None,
        }
    }
}

/// The slot map a `PoolSet` routes by: each slot's primary, as CLUSTER NODES named it
/// and MOVED replies corrected it since.
struct Routes {
    nodes: Vec<String>,
    /// By slot: an index into `nodes`, or `UNSERVED`.
    owner: Vec<u16>,
}

const UNSERVED: u16 = u16::MAX;

impl Routes {
    fn of(nodes: &[Node]) -> Routes {
        let mut r = Routes {
            nodes: Vec::new(),
            owner: vec![UNSERVED; 16384],
        };
        for n in nodes.iter().filter(|n| n.primary) {
            for &(a, b) in &n.slots {
                let i = r.index(&n.addr);
                for slot in a..=b.min(16383) {
                    r.owner[usize::from(slot)] = i;
                }
            }
        }
        r
    }

    fn index(&mut self, addr: &str) -> u16 {
        match self.nodes.iter().position(|n| n == addr) {
            Some(i) => i as u16,
            None => {
                self.nodes.push(addr.to_string());
                (self.nodes.len() - 1) as u16
            }
        }
    }

    fn owner(&self, slot: u16) -> Option<&str> {
        let i = *self.owner.get(usize::from(slot))?;
        self.nodes.get(usize::from(i)).map(String::as_str)
    }
}

/// Pools of dedicated connections over a cluster (or the one server), routed by hash slot
/// as a cluster client routes: a pool per node, made when a slot first leads there.
/// `-MOVED` moves the slot in the map and the command follows at once (`-ASK` sends
/// ASKING and the command to the importing node once); an unreachable node,
/// `-CLUSTERDOWN`, `-TRYAGAIN` or `-READONLY` (a primary that a failover demoted) fetch
/// the map again (one fetch at a time, at most every 50 ms) and retry the command if it
/// certainly did not run or may run twice, until the command timeout. A pool workload so
/// follows a failover as soon as the cluster names the new primary, and a slot move at
/// its first MOVED. (Pools fixed to the primaries of the start answered MOVED or
/// connection refused for the rest of a scenario after a failover or a stop.)
///
/// Stress routes here because the lockstep client has no pool that does: `Pool` is a
/// standalone pool and `ClusterClient` multiplexes one connection per node.
pub struct PoolSet {
    kind: Kind,
    seeds: Vec<String>,
    opts: PoolOptions,
    routes: RwLock<Routes>,
    pools: Mutex<HashMap<String, Pool>>,
    /// Keys grouped by the primary that served them at the start: tasks spread over them.
    groups: Vec<Vec<String>>,
    /// Held while the map is fetched; when the last fetch ended.
    refreshing: tokio::sync::Mutex<Option<Instant>>,
    /// Grows by one with every fetched map.
    generation: AtomicU64,
    moved: AtomicU64,
    refreshes: AtomicU64,
    /// The seed that last answered CLUSTER NODES.
    answered: AtomicUsize,
}

/// Pause before a command is retried on a fresh map.
const RETRY_PAUSE: Duration = Duration::from_millis(20);
/// No two map fetches closer than this.
const MIN_REFRESH: Duration = Duration::from_millis(50);
/// Redirections followed for one command.
const MAX_REDIRECTS: usize = 5;

fn server_error(bytes: &[u8]) -> Error {
    let text = String::from_utf8_lossy(bytes);
    let (code, message) = text.split_once(' ').unwrap_or((&text, ""));
    Error::Server(lockstep::ServerError {
        code: code.to_string(),
        message: message.to_string(),
    })
}

impl PoolSet {
    /// The keys for task `i` (tasks spread over the primaries of the start).
    pub fn keys(&self, i: usize) -> &[String] {
        &self.groups[i % self.groups.len()]
    }

    fn pool(&self, addr: &str) -> Result<Pool, Error> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pools.get(addr) {
            return Ok(p.clone());
        }
        let config = config_for(addr, Some(CLIENT_NAME)).map_err(Error::Config)?;
        let pool = Pool::new(config, self.opts.clone());
        pools.insert(addr.to_string(), pool.clone());
        Ok(pool)
    }

    /// Sends `c` on a pooled connection of the node serving its slot (keyless commands:
    /// slot 0's node), following redirections and failovers.
    pub async fn send(&self, c: &Cmd) -> Result<Frame, Error> {
        let meta = c.meta();
        let slot = match meta.slot {
            Some(Slot::One(s)) => s,
            _ => 0,
        };
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let mut redirects = 0;
        let mut ask: Option<String> = None;
        loop {
            let seen = self.generation.load(Ordering::Acquire);
            let node = match ask.take() {
                Some(to) => Some((to, true)),
                None => {
                    let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
                    routes.owner(slot).map(|n| (n.to_string(), false))
                }
            };
            let result = match node {
                Some((node, false)) => match self.pool(&node) {
                    Ok(pool) => pool.send(c).await,
                    Err(e) => return Err(e),
                },
                Some((node, true)) => self.send_asking(&node, c).await,
                None => Err(server_error(b"CLUSTERDOWN Hash slot not served")),
            };
            let e = match result {
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            let retry = match &e {
                Error::Server(se) if se.code == "MOVED" || se.code == "ASK" => {
                    let to = se.message.split_whitespace().nth(1).map(str::to_string);
                    match to {
                        Some(to) if redirects < MAX_REDIRECTS => {
                            redirects += 1;
                            if se.code == "MOVED" {
                                self.moved.fetch_add(1, Ordering::Relaxed);
                                let mut routes =
                                    self.routes.write().unwrap_or_else(|p| p.into_inner());
                                let i = routes.index(&to);
                                routes.owner[usize::from(slot)] = i;
                            } else {
                                ask = Some(to);
                            }
                            continue;
                        }
                        _ => false,
                    }
                }
                Error::Server(se) => {
                    matches!(se.code.as_str(), "TRYAGAIN" | "CLUSTERDOWN" | "READONLY")
                }
                e if e.is_connection_error() => {
                    e.not_sent() || matches!(e, Error::Connect(_)) || meta.resend_safe
                }
                _ => false,
            };
            if !retry || Instant::now() + RETRY_PAUSE >= deadline {
                return Err(e);
            }
            tokio::time::sleep(RETRY_PAUSE).await;
            self.refresh(seen).await;
        }
    }

    /// ASKING and `c` in one write to `node`; the reply to `c`.
    async fn send_asking(&self, node: &str, c: &Cmd) -> Result<Frame, Error> {
        let conn = self.pool(node)?.get().await?;
        let mut replies = conn.send_all(&[cmd("ASKING"), c.clone()]).await?;
        match replies.pop() {
            Some(Frame::Error(e)) => Err(server_error(&e)),
            Some(reply) if replies.len() == 1 => Ok(reply),
            _ => Err(Error::Protocol("ASKING: not two replies".into())),
        }
    }

    /// Fetches the map again, unless one was fetched since generation `seen`.
    async fn refresh(&self, seen: u64) {
        let mut last = self.refreshing.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return;
        }
        if let Some(t) = *last {
            tokio::time::sleep(MIN_REFRESH.saturating_sub(t.elapsed())).await;
        }
        let mut from = self.seeds.clone();
        {
            let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
            from.extend(
                routes
                    .nodes
                    .iter()
                    .filter(|n| !self.seeds.contains(n))
                    .cloned(),
            );
        }
        match fetch_nodes(self.kind, &from, &self.answered).await {
            Ok(nodes) => {
                *self.routes.write().unwrap_or_else(|p| p.into_inner()) = Routes::of(&nodes)
            }
            Err(e) => tracing::debug!(error = %e, "pool map refresh failed"),
        }
        *last = Some(Instant::now());
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// MOVED replies followed and maps fetched again.
    pub fn routing(&self) -> (u64, u64) {
        (
            self.moved.load(Ordering::Relaxed),
            self.refreshes.load(Ordering::Relaxed),
        )
    }

    fn each_pool(&self) -> Vec<Pool> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.values().cloned().collect()
    }

    pub fn stats(&self) -> lockstep::PoolStats {
        let mut sum = lockstep::PoolStats::default();
        for p in self.each_pool() {
            let s = p.stats();
            sum.hits += s.hits;
            sum.misses += s.misses;
            sum.timeouts += s.timeouts;
            sum.waits += s.waits;
            sum.wait_duration += s.wait_duration;
            sum.stale += s.stale;
            sum.total += s.total;
            sum.idle += s.idle;
            for (a, b) in sum.per_state.iter_mut().zip(s.per_state) {
                *a += b;
            }
            sum.state_violations += s.state_violations;
        }
        sum
    }

    pub fn close(&self) {
        for p in self.each_pool() {
            p.close_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_lines_give_primaries_replicas_and_slot_ranges() {
        let text = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-b2]
b2 127.0.0.1:7001@17001,host master - 0 0 2 connected 5461-10922 16000
c3 :7002@17002 slave a1 0 0 1 connected
d4 127.0.0.1:7003@17003 master,fail - 0 0 3 disconnected 10923-16383
";
        let nodes = parse_cluster_nodes(text, "10.0.0.1:7000");
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].slots, vec![(0, 5460)]);
        assert!(nodes[0].primary);
        assert_eq!(nodes[1].addr, "127.0.0.1:7001");
        assert_eq!(nodes[1].slots, vec![(5461, 10922), (16000, 16000)]);
        assert_eq!(nodes[2].addr, "10.0.0.1:7002");
        assert!(!nodes[2].primary);
        assert_eq!(nodes[2].replica_of.as_deref(), Some("a1"));
        assert_eq!(nodes[0].replica_of, None);
        assert_eq!(nodes[1].slot_text(), "5461-10922 16000");
    }

    #[test]
    fn the_pool_map_names_each_slot_primary_and_leaves_failed_ones_unserved() {
        let text = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001 master,fail - 0 0 2 connected 5461-16383
c3 127.0.0.1:7002@17002 slave a1 0 0 1 connected
";
        let routes = Routes::of(&parse_cluster_nodes(text, "127.0.0.1:7000"));
        assert_eq!(routes.owner(0), Some("127.0.0.1:7000"));
        assert_eq!(routes.owner(5460), Some("127.0.0.1:7000"));
        assert_eq!(routes.owner(5461), None);
        assert_eq!(routes.owner(16383), None);
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(
            split_addr("127.0.0.1:6379").ok(),
            Some(("127.0.0.1".into(), 6379))
        );
        assert_eq!(split_addr("[::1]:7000").ok(), Some(("::1".into(), 7000)));
        assert!(split_addr("localhost").is_err());
        assert!(split_addr(":7000").is_err());
        assert!(split_addr("h:99999").is_err());
    }

    #[test]
    fn pool_keys_hash_to_the_node_slots() {
        let node = Node {
            addr: "x:1".into(),
            id: "a".into(),
            primary: true,
            replica_of: None,
            slots: vec![(100, 200)],
        };
        let keys = keys_served_by(&node, 5);
        assert_eq!(keys.len(), 5);
        for k in keys {
            let s = slot_of(&k).unwrap_or(0);
            assert!((100..=200).contains(&s), "{k} -> {s}");
        }
    }
}
