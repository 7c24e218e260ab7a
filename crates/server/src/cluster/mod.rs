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
