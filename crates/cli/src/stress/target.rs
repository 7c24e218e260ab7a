//! What the workloads run against: an embedded lockstep cluster started here, or the
//! servers named by `--addrs` (standalone or cluster, told apart by INFO's
//! `cluster_enabled`). It hands out the clients the scenarios use: one shared client
//! (`Client` or `ClusterClient`), pools of dedicated connections per primary with keys
//! that primary serves, and admin connections for fault injection.
//!
//! Every connection the workloads open is named `lockstep-stress` (CLIENT SETNAME), so
//! that chaos kills only those, never another user's connections on a real server.

use std::time::Duration;

use lockstep::{cmd, Client, ClusterClient, Cmd, Config, Error, Frame, Pool, PoolOptions, Slot};
use lockstep_server::{Cluster, ClusterConfig};

/// The name of every workload connection (admin connections have none).
pub const CLIENT_NAME: &str = "lockstep-stress";

/// How long a workload command may wait for its reply.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

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
}

pub struct Target {
    pub kind: Kind,
    /// Addresses to start from (`host:port`).
    pub seeds: Vec<String>,
    /// What the report says this was.
    pub description: String,
    embedded: Option<Cluster>,
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
            seeds,
            embedded: Some(cluster),
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
        if self.kind == Kind::Standalone {
            return Ok(vec![Node {
                addr: self.seeds[0].clone(),
                id: String::new(),
                primary: true,
                slots: vec![(0, 16383)],
            }]);
        }
        let mut last = String::new();
        for seed in &self.seeds {
            let admin = self.admin(seed)?;
            let r = admin.query::<String>(cmd("CLUSTER").arg("NODES")).await;
            admin.shutdown(Duration::from_millis(100)).await;
            match r {
                Ok(text) => return Ok(parse_cluster_nodes(&text, seed)),
                Err(e) => last = format!("{seed}: {e}"),
            }
        }
        Err(format!("CLUSTER NODES failed everywhere: {last}"))
    }

    /// Pools of `size` connections to each primary, each with keys that primary serves.
    pub async fn pools(&self, size: usize, timeout: Duration) -> Result<PoolSet, String> {
        let nodes = self.nodes().await?;
        let mut pools = Vec::new();
        for node in nodes.iter().filter(|n| n.primary && !n.slots.is_empty()) {
            let keys = keys_served_by(node, 64);
            let opts = PoolOptions {
                size: size.max(1),
                pool_timeout: timeout,
                ..PoolOptions::default()
            };
            pools.push((Pool::new(self.config(&node.addr), opts), keys));
        }
        if pools.is_empty() {
            return Err("no primary serves any slot".into());
        }
        Ok(PoolSet { pools })
    }

    pub async fn stop(self) {
        if let Some(cluster) = self.embedded {
            cluster.stop().await;
        }
    }
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
        out.push(Node {
            addr,
            id: f[0].to_string(),
            primary: flags.contains(&"master"),
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

/// A pool per primary, each with keys its primary serves.
pub struct PoolSet {
    pools: Vec<(Pool, Vec<String>)>,
}

impl PoolSet {
    /// The pool and keys for task `i` (tasks spread over the primaries).
    pub fn pick(&self, i: usize) -> (&Pool, &[String]) {
        let (p, k) = &self.pools[i % self.pools.len()];
        (p, k)
    }

    pub fn stats(&self) -> lockstep::PoolStats {
        let mut sum = lockstep::PoolStats::default();
        for (p, _) in &self.pools {
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
        for (p, _) in &self.pools {
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
