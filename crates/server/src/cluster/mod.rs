//! Redis Cluster in one process: every node is a full lockstep server (its own `State`,
//! keyspace, lock and port), and the nodes of a process share one truth about the
//! cluster's configuration through a `Bus` instead of gossiping it. What clients see —
//! CLUSTER replies, `-MOVED`, `-CROSSSLOT`, INFO — is what a real Redis 7.0 cluster
//! answers.
//!
//! - `topology`: node identity, the configuration a node sees (Redis's `clusterState`).
//! - `slots`: the slot table and how `redis-cli --cluster create` splits it.
//! - `keys`: the per-slot key index the modification hook keeps.
//! - `migration`: the slots a node migrates or imports (its own, never shared).
//! - `redirect`: which node serves a command (Redis's `getNodeByQuery`).
//! - `embedded`: starting and stopping a whole cluster (`Cluster`, `EmbeddedCluster`).
//! - `faults`: the faults injected into a cluster and its failure detector;
//!   `wire_faults`: the `LOCKSTEP.FAULT` command that injects them from a client.
//!
//! Nothing here runs unless a server was started as a cluster node: standalone servers
//! have no `ClusterState` and no key index, and pay one `is_some` per keyed command.
//!
//! The bus holds what gossip converges to, at once: slot owners, nodes, epochs. What
//! Redis never gossips stays with each node: the slots it migrates or imports
//! (`migration`), the slots it gave up with DELSLOTS/FLUSHSLOTS (the others keep it as
//! their owner), the nodes it forgot (a node leaves the bus when all others forgot it).
//! CLUSTER MEET joins the buses of two clusters of this process; CLUSTER RESET moves a
//! node to a bus of its own, leaving its old entry behind as real nodes keep one.
//! Changes that gossip would spread over a second or two are seen by every node before
//! its next command, so a converged real cluster and this one answer alike, not the
//! moments in between.

pub mod embedded;
pub mod faults;
pub mod keys;
pub mod migration;
pub mod redirect;
pub mod slots;
pub mod topology;
pub mod wire_faults;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

pub use embedded::{
    Cluster, ClusterConfig, ClusterStartError, EmbeddedCluster, FaultError, NodeAddr,
};
pub use faults::Faults;
pub use keys::SlotKeys;
pub use migration::OpenSlots;
pub use redirect::Redirect;
pub use topology::{Health, Node, NodeId, Role, Topology};

use crate::keyspace::Millis;

/// The configuration the nodes of one process share: the truth that gossip would carry
/// between real nodes. A change bumps `version`; each node picks the new configuration
/// up before its next command (`ClusterState::view`), so a node's view may lag by at most
/// the command it is running.
///
/// When CLUSTER MEET joins two clusters of the process, one bus takes the other's nodes
/// in and the other points at it (`moved_to`): its nodes follow on their next command.
#[derive(Debug)]
pub struct Bus {
    version: AtomicU64,
    topology: Mutex<Arc<Topology>>,
    /// The bus this one was joined into, if it was.
    moved_to: Mutex<Option<Arc<Bus>>>,
    /// When the cluster formed (ms since the epoch): the links' `create-time` and the
    /// start of the message counters.
    pub formed_at: Millis,
}

impl Bus {
    pub fn new(topology: Topology, formed_at: Millis) -> Bus {
        Bus {
            version: AtomicU64::new(1),
            topology: Mutex::new(Arc::new(topology)),
            moved_to: Mutex::new(None),
            formed_at,
        }
    }

    /// The current configuration and its version.
    pub fn snapshot(&self) -> (u64, Arc<Topology>) {
        let topology = self.topology.lock();
        (self.version.load(Ordering::Acquire), topology.clone())
    }

    /// Changes the configuration; every node sees the change before its next command.
    /// A bus that was joined into another passes the change on.
    pub fn update<R>(&self, change: impl FnOnce(&mut Topology) -> R) -> R {
        let mut topology = self.topology.lock();
        let next = self.moved_to.lock().clone();
        if let Some(next) = next {
            drop(topology);
            return next.update(change);
        }
        let result = change(Arc::make_mut(&mut topology));
        self.version.fetch_add(1, Ordering::Release);
        result
    }

    /// The bus this one ends in after every join.
    pub fn current(self: &Arc<Bus>) -> Arc<Bus> {
        let mut bus = self.clone();
        loop {
            let next = bus.moved_to.lock().clone();
            match next {
                Some(next) => bus = next,
                None => return bus,
            }
        }
    }

    #[inline]
    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

/// The buses of this process by the client address of each node on them, so that
/// CLUSTER MEET finds a lockstep node by its address. Weak: a stopped cluster's bus goes.
static REGISTRY: Mutex<Vec<(SocketAddr, Weak<Bus>)>> = Mutex::new(Vec::new());

/// Joins are one at a time, so that two buses are never locked in opposite orders.
static JOINS: Mutex<()> = Mutex::new(());

/// Records that the node at `addr` is on `bus` (replacing what was known of `addr`).
fn register(addr: SocketAddr, bus: &Arc<Bus>) {
    let mut registry = REGISTRY.lock();
    registry.retain(|(a, b)| *a != addr && b.strong_count() > 0);
    registry.push((addr, Arc::downgrade(bus)));
}

/// The bus of the lockstep node of this process at `addr`, if there is one.
fn bus_at(addr: SocketAddr) -> Option<Arc<Bus>> {
    let weak = REGISTRY
        .lock()
        .iter()
        .find(|(a, _)| *a == addr)
        .map(|(_, b)| b.clone())?;
    let bus = weak.upgrade()?.current();
    let (_, topology) = bus.snapshot();
    topology
        .nodes
        .iter()
        .any(|n| n.addr() == addr)
        .then_some(bus)
}

/// One node's cluster state, held in its `State` (`State::cluster`): who it is, the bus
/// it shares, the configuration as it last saw it, and the slots it has open.
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
    /// The slots this node migrates or imports.
    pub open: OpenSlots,
    /// Slots this node gave up with DELSLOTS or FLUSHSLOTS while the others still see it
    /// as their owner (a node does not gossip the slots it stops serving): unassigned in
    /// this node's view only, until another node claims them or this one takes them back.
    dropped: std::collections::BTreeSet<u16>,
    /// This node's replication (`crate::replication`).
    pub repl: crate::replication::Replication,
    /// The faults injected into the node's cluster (a partition changes what the node
    /// sees), when it was started as part of one.
    pub(crate) faults: Option<Arc<Faults>>,
    /// Where `LOCKSTEP.FAULT` sends what it asks for, when the cluster was started with
    /// fault injection on.
    pub(crate) fault_control: Option<wire_faults::FaultControl>,
}

impl ClusterState {
    pub fn new(myself: NodeId, bus: Arc<Bus>) -> ClusterState {
        let (seen, view) = bus.snapshot();
        if let Some(node) = view.node(&myself) {
            register(node.addr(), &bus);
        }
        let mut state = ClusterState {
            myself,
            bus,
            view,
            seen,
            me: usize::MAX,
            ok: false,
            open: OpenSlots::default(),
            dropped: Default::default(),
            repl: Default::default(),
            faults: None,
            fault_control: None,
        };
        state.refresh();
        state
    }

    /// The configuration, refreshed from the bus when it changed.
    #[inline]
    pub fn view(&mut self) -> &Topology {
        if self.bus.version() != self.seen {
            self.refresh();
        }
        &self.view
    }

    /// Links the node to its cluster's faults (and to the controller `LOCKSTEP.FAULT`
    /// talks to, with fault injection on).
    pub(crate) fn with_faults(
        mut self,
        faults: Arc<Faults>,
        control: Option<wire_faults::FaultControl>,
    ) -> ClusterState {
        self.faults = Some(faults);
        self.fault_control = control;
        self.seen = 0;
        self
    }

    /// Whether this node and node `other` cannot hear each other (either is cut off by a
    /// partition): no replication link is made between them.
    pub fn cut_off_from(&self, other: &NodeId) -> bool {
        self.faults
            .as_ref()
            .is_some_and(|f| f.is_partitioned(&self.myself) || f.is_partitioned(other))
    }

    #[cold]
    fn refresh(&mut self) {
        self.bus = self.bus.current();
        let (seen, shared) = self.bus.snapshot();
        // Cut off and in a minority: the node keeps the view it had, and is down.
        let minority = self
            .faults
            .as_ref()
            .and_then(|f| f.minority_view(&self.myself));
        if let Some(view) = minority {
            self.me = view.index_of(&self.myself).unwrap_or(usize::MAX);
            self.ok = false;
            self.view = view;
            self.seen = seen;
            return;
        }
        if shared.index_of(&self.myself).is_none() {
            // Every other node forgot this one: it is left alone, as it would be once
            // nobody answers it.
            if let Some(me) = self.view.node(&self.myself).cloned() {
                self.go_alone(me, self.view.current_epoch);
                return self.refresh();
            }
        }
        let view = if shared.forgot_any(&self.myself) || !self.dropped.is_empty() {
            let mut view = shared.seen_by(&self.myself);
            let me = view.index_of(&self.myself);
            // A dropped slot somebody else claimed is known to be theirs.
            self.dropped
                .retain(|&slot| me.is_some() && view.slots.owner(slot) == me);
            for &slot in &self.dropped {
                view.slots.assign(slot, slot, None);
            }
            Arc::new(view)
        } else {
            shared
        };
        self.me = view.index_of(&self.myself).unwrap_or(usize::MAX);
        self.ok = view.is_ok();
        if !self.open.is_empty() {
            self.open.retain_known(&view);
        }
        self.view = view;
        self.seen = seen;
    }

    /// Unassigns `slot` in this node's view only (DELSLOTS, FLUSHSLOTS of its own slots).
    pub fn drop_slot(&mut self, slot: u16) {
        self.dropped.insert(slot);
        self.seen = 0;
    }

    /// Takes back a slot this node dropped (ADDSLOTS, SETSLOT NODE).
    pub fn undrop_slot(&mut self, slot: u16) {
        if self.dropped.remove(&slot) {
            self.seen = 0;
        }
    }

    /// Moves this node to a bus of its own where it knows no other node (its entry
    /// stays in the old configuration, as the others keep a node that was reset).
    fn go_alone(&mut self, mut me: Node, current_epoch: u64) {
        me.forgotten_by.clear();
        let addr = me.addr();
        let mut topology = Topology {
            nodes: vec![me],
            ..Topology::default()
        };
        topology.current_epoch = current_epoch;
        self.bus = Arc::new(Bus::new(topology, crate::state::unix_millis()));
        register(addr, &self.bus);
        self.seen = 0;
    }

    /// CLUSTER RESET: closes every slot, forgets every other node and serves no slot;
    /// a hard reset also takes a new id and sets the epochs to 0.
    pub fn reset(&mut self, hard: bool) {
        self.view();
        self.open.clear();
        self.dropped.clear();
        let Some(mut me) = self.view.node(&self.myself).cloned() else {
            return;
        };
        me.role = Role::Primary;
        let mut current_epoch = self.view.current_epoch;
        if hard {
            me.id = NodeId::random();
            me.config_epoch = 0;
            current_epoch = 0;
            self.myself = me.id;
        }
        self.go_alone(me, current_epoch);
        self.refresh();
    }

    /// CLUSTER MEET with a node of this process at `addr`: the two clusters become one
    /// (nothing happens for an address no lockstep node of this process has, as a real
    /// node's handshake with nobody times out).
    pub fn meet(&mut self, addr: SocketAddr) {
        let _one_at_a_time = JOINS.lock();
        let ours = self.bus.current();
        let Some(theirs) = bus_at(addr) else { return };
        if Arc::ptr_eq(&ours, &theirs) {
            // A node this one forgot comes back: the handshake makes it known again.
            let myself = self.myself;
            ours.update(|t| {
                for node in t.nodes.iter_mut().filter(|n| n.addr() == addr) {
                    node.forgotten_by.retain(|id| *id != myself);
                }
            });
            return;
        }
        // Their bus stays locked until it points at ours, so no change to it is lost.
        let their_topology = theirs.topology.lock();
        ours.update(|t| t.join(&their_topology));
        *theirs.moved_to.lock() = Some(ours.clone());
        theirs.version.fetch_add(1, Ordering::Release);
        drop(their_topology);
        self.refresh();
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

    /// `view_and_me`, with the slots this node has open.
    #[inline]
    pub fn view_and_open(&mut self) -> (&Topology, usize, bool, &OpenSlots) {
        if self.bus.version() != self.seen {
            self.refresh();
        }
        (&self.view, self.me, self.ok, &self.open)
    }

    /// The configuration as a shared handle (for handlers that change the node while
    /// they read it) and this node's index in it.
    pub fn shared_view(&mut self) -> (Arc<Topology>, usize) {
        self.view();
        (self.view.clone(), self.me)
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

/// Rebuilds the per-slot key index from database 0 (after a replica loaded its primary's
/// snapshot).
pub fn reindex(state: &mut crate::state::State) {
    let mut index = SlotKeys::default();
    if let Some(db) = state.dbs.first() {
        for entry in db.dict().iter() {
            index.add(entry.key);
        }
    }
    if state.mods.slot_keys.is_some() {
        state.mods.slot_keys = Some(Box::new(index));
    }
}

/// Makes the server whose state this is a cluster node: its view of the cluster, and the
/// per-slot key index (of the keys database 0 already holds, then kept by the hook).
pub fn install(state: &mut crate::state::State, cluster: ClusterState) {
    let mut index = SlotKeys::default();
    if let Some(db) = state.dbs.first() {
        for entry in db.dict().iter() {
            index.add(entry.key);
        }
    }
    state.mods.slot_keys = Some(Box::new(index));
    state.cluster = Some(Box::new(cluster));
}

/// A node that learns `slot` has another owner deletes its keys there and closes its
/// MIGRATING mark (Redis's `delKeysInSlot` when `clusterUpdateSlotsConfigWith` takes a slot
/// from it): without it, keys a migration left behind would stay on a node that no longer
/// serves them. Each deletion is a `del` event and reaches WATCH and tracking.
pub fn forget_lost_slot(state: &mut crate::state::State, slot: u16) {
    let Some(cluster) = state.cluster.as_deref_mut() else {
        return;
    };
    let (topology, me) = cluster.shared_view();
    if topology.slots.owner(slot) == Some(me) {
        return;
    }
    cluster.open.set_migrating(slot, None);
    let keys: Vec<Vec<u8>> = state
        .mods
        .slot_keys
        .as_ref()
        .map(|index| index.keys(slot).map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    if keys.is_empty() {
        return;
    }
    let now = crate::state::unix_millis();
    let mut db = state.db(0, now);
    for key in &keys {
        if db.remove(key).is_some() {
            db.notify(crate::config::notify::GENERIC, "del", key);
        }
    }
    crate::evict::finish(state);
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
            let slot = slots::key_slot(entry.key);
            assert!(
                index.keys(slot).any(|k| k == entry.key),
                "{:?} missing from slot {slot}",
                String::from_utf8_lossy(entry.key)
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
