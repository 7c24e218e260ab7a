//! Redis Cluster in one process: every node is a full lockstep server (its own `State`,
//! keyspace, lock and port), and the nodes of a process share one truth about the
//! cluster's configuration through a `Bus` instead of gossiping it. What clients see —
//! CLUSTER replies, `-MOVED`, `-CROSSSLOT`, INFO — is what a real Redis 7.0 cluster
//! answers.
//!
//! - `topology`: node identity, the configuration a node sees (Redis's `clusterState`).
//! - `slots`: the slot table and how `redis-cli --cluster create` splits it.
//! - `keys`: the per-slot key index the modification hook keeps.
//! - `redirect`: which node serves a command (Redis's `getNodeByQuery`).
//! - `embedded`: starting and stopping a whole cluster (`Cluster`, `EmbeddedCluster`).
//!
//! Nothing here runs unless a server was started as a cluster node: standalone servers
//! have no `ClusterState` and no key index, and pay one `is_some` per keyed command.

pub mod embedded;
pub mod keys;
pub mod redirect;
pub mod slots;
pub mod topology;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub use embedded::{Cluster, ClusterConfig, ClusterStartError, EmbeddedCluster, NodeAddr};
pub use keys::SlotKeys;
pub use redirect::Redirect;
pub use topology::{Health, Node, NodeId, Role, Topology};

use crate::keyspace::Millis;

/// The configuration the nodes of one process share: the truth that gossip would carry
/// between real nodes. A change bumps `version`; each node picks the new configuration
/// up before its next command (`ClusterState::view`), so a node's view may lag by at most
/// the command it is running.
#[derive(Debug)]
pub struct Bus {
    version: AtomicU64,
    topology: Mutex<Arc<Topology>>,
    /// When the cluster formed (ms since the epoch): the links' `create-time` and the
    /// start of the message counters.
    pub formed_at: Millis,
}

impl Bus {
    pub fn new(topology: Topology, formed_at: Millis) -> Bus {
        Bus {
            version: AtomicU64::new(1),
            topology: Mutex::new(Arc::new(topology)),
            formed_at,
        }
    }

    /// The current configuration and its version.
    pub fn snapshot(&self) -> (u64, Arc<Topology>) {
        let topology = self.topology.lock();
        (self.version.load(Ordering::Acquire), topology.clone())
    }

    /// Changes the configuration; every node sees the change before its next command.
    pub fn update(&self, change: impl FnOnce(&mut Topology)) {
        let mut topology = self.topology.lock();
        change(Arc::make_mut(&mut topology));
        self.version.fetch_add(1, Ordering::Release);
    }

    #[inline]
    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

/// One node's cluster state, held in its `State` (`State::cluster`): who it is, the bus
/// it shares, and the configuration as it last saw it.
#[derive(Debug)]
pub struct ClusterState {
    pub myself: NodeId,
    bus: Arc<Bus>,
    view: Arc<Topology>,
    seen: u64,
    /// `myself`'s index in `view.nodes`.
    me: usize,
    /// Whether `view` is a working cluster (`Topology::is_ok`), computed once per change:
    /// every keyed command reads it.
    ok: bool,
}

impl ClusterState {
    pub fn new(myself: NodeId, bus: Arc<Bus>) -> ClusterState {
        let (seen, view) = bus.snapshot();
        let me = view.index_of(&myself).unwrap_or(usize::MAX);
        let ok = view.is_ok();
        ClusterState {
            myself,
            bus,
            view,
            seen,
            me,
            ok,
        }
    }

    /// The configuration, refreshed from the bus when it changed.
    #[inline]
    pub fn view(&mut self) -> &Topology {
        if self.bus.version() != self.seen {
            self.refresh();
        }
        &self.view
    }

    #[cold]
    fn refresh(&mut self) {
        let (seen, view) = self.bus.snapshot();
        self.me = view.index_of(&self.myself).unwrap_or(usize::MAX);
        self.ok = view.is_ok();
        self.view = view;
        self.seen = seen;
    }

    /// `view()`, with this node's index in its node list and whether the cluster is ok
    /// (`cluster_state:ok`).
    #[inline]
    pub fn view_and_me(&mut self) -> (&Topology, usize, bool) {
        if self.bus.version() != self.seen {
            self.refresh();
        }
        (&self.view, self.me, self.ok)
    }

    /// This node as the configuration describes it.
    pub fn me(&mut self) -> Option<Node> {
        let me = self.me;
        self.view().nodes.get(me).cloned()
    }

    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// The bus links this node holds, as CLUSTER LINKS lists them: one to and one from
    /// every other node that has not failed.
    pub fn links(&self) -> usize {
        let peers = self
            .view
            .nodes
            .iter()
            .filter(|n| n.id != self.myself && n.health != Health::Failed)
            .count();
        2 * peers
    }
}

/// Makes the server whose state this is a cluster node: its view of the cluster, and the
/// per-slot key index (of the keys database 0 already holds, then kept by the hook).
pub fn install(state: &mut crate::state::State, cluster: ClusterState) {
    let mut index = SlotKeys::default();
    if let Some(db) = state.dbs.first() {
        for entry in db.dict().iter() {
            index.add(&entry.key);
        }
    }
    state.mods.slot_keys = Some(Box::new(index));
    state.cluster = Some(Box::new(cluster));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::process_command;
    use crate::reply::{Protocol, Reply};
    use crate::state::{Client, State};
    use rand::{Rng, SeedableRng};

    /// A single-node cluster's state (every slot is served here), with a local client.
    fn node() -> (State, Client) {
        let (tx, _rx) = tokio::sync::watch::channel(false);
        let mut state = State::new(Default::default(), tx);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 7000));
        let topology = Topology::primaries(&[addr], 0);
        let myself = topology.nodes[0].id;
        let bus = Arc::new(Bus::new(topology, 0));
        install(&mut state, ClusterState::new(myself, bus));
        (state, Client::for_tests(1))
    }

    fn run(state: &mut State, client: &mut Client, args: &[&str]) -> String {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let mut out = Reply::new(Protocol::Resp2);
        process_command(state, client, &mut out, &argv);
        String::from_utf8_lossy(&out.buf).into_owned()
    }

    /// The index holds exactly the keys database 0 holds, each under its slot.
    fn assert_index_matches(state: &State) {
        let index = state.mods.slot_keys.as_deref().expect("an index");
        let db = &state.dbs[0];
        assert_eq!(index.len(), db.len());
        for entry in db.dict().iter() {
            let slot = slots::key_slot(&entry.key);
            assert!(
                index.keys(slot).any(|k| k == entry.key.as_slice()),
                "{:?} missing from slot {slot}",
                String::from_utf8_lossy(&entry.key)
            );
        }
    }

    #[test]
    fn the_slot_index_follows_every_kind_of_write() {
        let (mut state, mut client) = node();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
        let keys = ["{t}a", "{t}b", "{t}c", "{u}d", "e", "f"];
        for step in 0..3000 {
            let k = keys[rng.gen_range(0..keys.len())];
            let j = keys[rng.gen_range(0..keys.len())];
            let n = rng.gen_range(0..4).to_string();
            let command: Vec<&str> = match rng.gen_range(0..24) {
                0 => vec!["SET", k, &n],
                1 => vec!["DEL", k],
                2 => vec!["PEXPIRE", k, "1"],
                3 => vec!["LPUSH", k, &n],
                4 => vec!["LPOP", k],
                5 => vec!["SADD", k, &n],
                6 => vec!["SREM", k, &n],
                7 => vec!["HSET", k, &n, "v"],
                8 => vec!["HDEL", k, &n],
                9 => vec!["ZADD", k, "1", &n],
                10 => vec!["ZREM", k, &n],
                11 => vec!["RENAME", k, j],
                12 => vec!["INCR", k],
                13 => vec!["APPEND", k, "x"],
                14 => vec!["GETDEL", k],
                15 => vec!["LMOVE", k, j, "LEFT", "RIGHT"],
                16 => vec!["SMOVE", k, j, &n],
                17 => vec!["SINTERSTORE", j, k],
                18 => vec!["COPY", k, j, "REPLACE"],
                19 => vec!["SETRANGE", k, "0", ""],
                20 => vec!["LTRIM", k, "1", "0"],
                21 => vec!["GET", k],
                22 => vec!["BITOP", "OR", j, k],
                _ if step % 500 == 0 => vec!["FLUSHALL"],
                _ => vec!["EXPIRE", k, "100"],
            };
            run(&mut state, &mut client, &command);
            if step % 100 == 0 {
                // Let the keys with a 1 ms TTL go, lazily or by the active cycle.
                std::thread::sleep(std::time::Duration::from_millis(2));
                let now = crate::state::unix_millis();
                let deadline = std::time::Instant::now() + std::time::Duration::from_millis(5);
                state.db(0, now).active_expire(deadline);
            }
            assert_index_matches(&state);
        }
    }

    #[test]
    fn a_node_installed_over_existing_keys_indexes_them() {
        let (tx, _rx) = tokio::sync::watch::channel(false);
        let mut state = State::new(Default::default(), tx);
        let mut client = Client::for_tests(1);
        run(&mut state, &mut client, &["MSET", "a", "1", "b", "2"]);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 7000));
        let topology = Topology::primaries(&[addr], 0);
        let myself = topology.nodes[0].id;
        install(
            &mut state,
            ClusterState::new(myself, Arc::new(Bus::new(topology, 0))),
        );
        assert_index_matches(&state);
        assert_eq!(
            run(
                &mut state,
                &mut client,
                &["CLUSTER", "COUNTKEYSINSLOT", "15495"]
            ),
            ":1\r\n"
        );
    }

    #[test]
    fn a_node_sees_a_change_of_the_bus_before_its_next_command() {
        let (mut state, mut client) = node();
        assert_eq!(run(&mut state, &mut client, &["GET", "a"]), "$-1\r\n");
        let bus = state.cluster.as_ref().expect("a node").bus().clone();
        bus.update(|t| t.slots.assign(15495, 15495, None));
        assert_eq!(
            run(&mut state, &mut client, &["GET", "a"]),
            "-CLUSTERDOWN Hash slot not served\r\n"
        );
        assert!(run(&mut state, &mut client, &["CLUSTER", "INFO"]).contains("cluster_state:fail"));
        // Keyless commands are served whatever the cluster's state.
        assert_eq!(run(&mut state, &mut client, &["PING"]), "+PONG\r\n");
    }
}
