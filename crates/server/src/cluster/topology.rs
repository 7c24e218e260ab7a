//! The cluster's configuration as one node sees it: the nodes (identity, address, role,
//! config epoch), the slot table and the current epoch. Redis calls this a node's
//! `clusterState`; every CLUSTER reply and every redirect is computed from one.
//!
//! Pure data: no I/O and no locks (`Bus` shares it between the nodes of a process).

use std::net::{IpAddr, SocketAddr};

use super::slots::{split, SlotTable};
use crate::keyspace::Millis;

/// A node's 40-character hex name (Redis's `CLUSTER_NAMELEN`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; NodeId::LEN]);

impl NodeId {
    pub const LEN: usize = 40;

    /// A fresh random id, as Redis draws one for a new node.
    pub fn random() -> NodeId {
        use rand::Rng;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut rng = rand::thread_rng();
        let mut id = [0u8; NodeId::LEN];
        for b in &mut id {
            *b = HEX[rng.gen_range(0..16)];
        }
        NodeId(id)
    }

    /// An id given as text: exactly 40 lower-case hex digits (what Redis's
    /// `verifyClusterNodeId` accepts, in the case it writes them).
    pub fn parse(text: &[u8]) -> Option<NodeId> {
        let id: [u8; NodeId::LEN] = text.try_into().ok()?;
        id.iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            .then_some(NodeId(id))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a node is to the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    /// Replicates the primary with this id.
    Replica {
        of: NodeId,
    },
}

/// Whether the node answers, as failure detection sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Online,
    /// Some node suspects it (`fail?`).
    PossiblyFailed,
    /// The cluster agreed it failed (`fail`).
    Failed,
}

/// One node of the cluster.
#[derive(Clone, Debug)]
pub struct Node {
    pub id: NodeId,
    /// Where clients reach it (what MOVED and CLUSTER SLOTS name).
    pub ip: IpAddr,
    pub port: u16,
    /// The cluster bus port CLUSTER NODES prints after `@` (the client port + 10000, as
    /// Redis defaults it; 0 when that does not fit). Nothing listens there: the nodes of
    /// one process share their configuration through `Bus` instead of gossip.
    pub bus_port: u16,
    pub role: Role,
    pub config_epoch: u64,
    pub health: Health,
    /// When the others first linked to it (CLUSTER LINKS `create-time`), ms since the epoch.
    pub linked_at: Millis,
    /// The nodes that ran CLUSTER FORGET on it: it is gone from their views, and from the
    /// configuration once every other node has forgotten it.
    pub forgotten_by: Vec<NodeId>,
}

impl Node {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    pub fn is_primary(&self) -> bool {
        self.role == Role::Primary
    }
}

/// The cluster's configuration: nodes, slot owners, current epoch.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    /// In the order the cluster was made (the order CLUSTER NODES lists them).
    pub nodes: Vec<Node>,
    pub slots: SlotTable,
    /// The highest config epoch any node has seen (`cluster_current_epoch`).
    pub current_epoch: u64,
}

/// The bus port Redis uses by default for a client port.
pub fn default_bus_port(port: u16) -> u16 {
    port.checked_add(10000).unwrap_or(0)
}

impl Topology {
    /// Primaries at `addrs`, in order, with fresh ids, the slots split as `redis-cli
    /// --cluster create` splits them, and config epochs 1..=N as it hands them out (the
    /// current epoch is then N).
    pub fn primaries(addrs: &[SocketAddr], now: Millis) -> Topology {
        let mut topology = Topology::default();
        for (i, addr) in addrs.iter().enumerate() {
            topology.nodes.push(Node {
                id: NodeId::random(),
                ip: announced_ip(addr.ip()),
                port: addr.port(),
                bus_port: default_bus_port(addr.port()),
                role: Role::Primary,
                config_epoch: i as u64 + 1,
                health: Health::Online,
                linked_at: now,
                forgotten_by: Vec::new(),
            });
        }
        for (i, (first, last)) in split(addrs.len()).into_iter().enumerate() {
            topology.slots.assign(first, last, Some(i));
        }
        topology.current_epoch = addrs.len() as u64;
        topology
    }

    /// `primaries` as `Topology::primaries` makes them, then the replicas at `replicas`, as
    /// `redis-cli --cluster create --cluster-replicas R` pairs nodes of one host: replica
    /// `k` of the list replicates primary `(k + 1) % N`, and every node has a config epoch
    /// of its position (1..=N+R·N; the current epoch is the greatest).
    pub fn with_replicas(
        primaries: &[SocketAddr],
        replicas: &[SocketAddr],
        now: Millis,
    ) -> Topology {
        let mut topology = Topology::primaries(primaries, now);
        let n = primaries.len().max(1);
        for (k, addr) in replicas.iter().enumerate() {
            let of = topology.nodes[(k + 1) % n].id;
            let epoch = (n + k) as u64 + 1;
            topology.nodes.push(Node {
                id: NodeId::random(),
                ip: announced_ip(addr.ip()),
                port: addr.port(),
                bus_port: default_bus_port(addr.port()),
                role: Role::Replica { of },
                config_epoch: epoch,
                health: Health::Online,
                linked_at: now,
                forgotten_by: Vec::new(),
            });
            topology.current_epoch = epoch;
        }
        topology
    }

    /// Makes replica `i` the primary of its shard (a failover): it takes its primary's slots
    /// with a new config epoch, the other replicas of the shard follow it, and the old
    /// primary is left a primary without slots (it becomes a replica of the new one when
    /// it answers again, `demote`). Returns the old primary's id.
    pub fn promote(&mut self, i: usize) -> Option<NodeId> {
        let Role::Replica { of } = self.nodes.get(i)?.role else {
            return None;
        };
        let old = self.index_of(&of)?;
        for run in self.slots.runs().collect::<Vec<_>>() {
            if run.owner == Some(old) {
                self.slots.assign(run.first, run.last, Some(i));
            }
        }
        self.current_epoch += 1;
        let new_id = self.nodes[i].id;
        self.nodes[i].role = Role::Primary;
        self.nodes[i].config_epoch = self.current_epoch;
        for node in &mut self.nodes {
            if node.role == (Role::Replica { of }) {
                node.role = Role::Replica { of: new_id };
            }
        }
        Some(of)
    }

    /// Makes node `i` a replica of `of` (a returning old primary, CLUSTER REPLICATE).
    pub fn demote(&mut self, i: usize, of: NodeId) {
        if let Some(node) = self.nodes.get_mut(i) {
            node.role = Role::Replica { of };
            node.health = Health::Online;
        }
    }

    /// A node that knows no other and serves no slot, with config epoch 0: what a
    /// redis-server started with `cluster-enabled yes` and no configuration is.
    pub fn alone(id: NodeId, addr: SocketAddr, now: Millis) -> Topology {
        let mut topology = Topology::default();
        topology.nodes.push(Node {
            id,
            ip: announced_ip(addr.ip()),
            port: addr.port(),
            bus_port: default_bus_port(addr.port()),
            role: Role::Primary,
            config_epoch: 0,
            health: Health::Online,
            linked_at: now,
            forgotten_by: Vec::new(),
        });
        topology
    }

    /// The greatest config epoch of any node, or the current epoch if greater (Redis's
    /// `clusterGetMaxEpoch`).
    pub fn max_epoch(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch)
    }

    /// Redis's `clusterBumpConfigEpochWithoutConsensus` for node `i`: a new epoch, the
    /// greatest, unless it already holds the greatest. `Ok(new)` or `Err(kept)`.
    pub fn bump_epoch(&mut self, i: usize) -> Result<u64, u64> {
        let max = self.max_epoch();
        let current = self.current_epoch;
        let Some(node) = self.nodes.get_mut(i) else {
            return Err(0);
        };
        if node.config_epoch == 0 || node.config_epoch != max {
            node.config_epoch = current + 1;
            self.current_epoch = current + 1;
            Ok(current + 1)
        } else {
            Err(node.config_epoch)
        }
    }

    /// Removes node `i`: its slots become unassigned, replicas of it keep pointing at an
    /// id nobody has (as Redis's `clusterDelNode` leaves them), later indexes shift down.
    pub fn remove_node(&mut self, i: usize) {
        if i >= self.nodes.len() {
            return;
        }
        let mut slots = SlotTable::default();
        for run in self.slots.runs() {
            let owner = match run.owner {
                Some(o) if o == i => None,
                Some(o) if o > i => Some(o - 1),
                other => other,
            };
            slots.assign(run.first, run.last, owner);
        }
        self.slots = slots;
        self.nodes.remove(i);
    }

    /// The configuration as node `me` sees it: without the nodes it forgot.
    pub fn seen_by(&self, me: &NodeId) -> Topology {
        let mut view = self.clone();
        while let Some(i) = view.nodes.iter().position(|n| n.forgotten_by.contains(me)) {
            view.remove_node(i);
        }
        view
    }

    /// Whether node `me` forgot any node (and so needs `seen_by`).
    pub fn forgot_any(&self, me: &NodeId) -> bool {
        self.nodes.iter().any(|n| n.forgotten_by.contains(me))
    }

    /// Takes in the nodes and slots of another configuration, as gossip does after a
    /// CLUSTER MEET joins two clusters: every node of both is known to all, a slot goes
    /// to the claimant with the greater config epoch, the current epoch is the greater,
    /// and then primaries that share a config epoch are given new ones (Redis's
    /// `clusterHandleConfigEpochCollision`: the node with the smaller id moves).
    pub fn join(&mut self, other: &Topology) {
        let mut index = Vec::with_capacity(other.nodes.len());
        for node in &other.nodes {
            match self.index_of(&node.id) {
                Some(i) => {
                    self.nodes[i] = node.clone();
                    index.push(i);
                }
                None => {
                    self.nodes.push(node.clone());
                    index.push(self.nodes.len() - 1);
                }
            }
        }
        for run in other.slots.runs() {
            let Some(theirs) = run.owner.and_then(|o| index.get(o).copied()) else {
                continue;
            };
            let epoch = self.nodes[theirs].config_epoch;
            for slot in run.first..=run.last {
                let take = match self.slots.owner(slot) {
                    None => true,
                    Some(ours) => ours != theirs && self.nodes[ours].config_epoch < epoch,
                };
                if take {
                    self.slots.assign(slot, slot, Some(theirs));
                }
            }
        }
        self.current_epoch = self.current_epoch.max(other.current_epoch);
        self.resolve_epoch_collisions();
    }

    /// Gives primaries that share a config epoch distinct ones, the smaller id moving to
    /// a new current epoch each time, as the collision handling of gossip ends up.
    pub fn resolve_epoch_collisions(&mut self) {
        loop {
            let mut clash: Option<usize> = None;
            for (i, a) in self.nodes.iter().enumerate() {
                if !a.is_primary() {
                    continue;
                }
                let collides = self
                    .nodes
                    .iter()
                    .any(|b| b.is_primary() && b.id > a.id && b.config_epoch == a.config_epoch);
                if collides && clash.is_none_or(|c| self.nodes[c].id > a.id) {
                    clash = Some(i);
                }
            }
            let Some(i) = clash else { return };
            self.current_epoch += 1;
            self.nodes[i].config_epoch = self.current_epoch;
        }
    }

    /// The index of the node with id `id`.
    pub fn index_of(&self, id: &NodeId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == *id)
    }

    /// The node with id `id`.
    pub fn node(&self, id: &NodeId) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == *id)
    }

    /// The node that owns `slot`.
    pub fn owner(&self, slot: u16) -> Option<&Node> {
        self.slots.owner(slot).and_then(|i| self.nodes.get(i))
    }

    /// The replicas of the primary with id `id`, in node order.
    pub fn replicas_of<'a>(&'a self, id: &'a NodeId) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes
            .iter()
            .filter(move |n| n.role == Role::Replica { of: *id })
    }

    /// The shard's config epoch of a node: its own for a primary, its primary's for a
    /// replica (Redis's `nodeEpoch`).
    pub fn epoch_of(&self, node: &Node) -> u64 {
        match node.role {
            Role::Primary => node.config_epoch,
            Role::Replica { of } => self.node(&of).map_or(node.config_epoch, |p| p.config_epoch),
        }
    }

    /// Primaries that own at least one slot (`cluster_size`).
    pub fn size(&self) -> usize {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_primary() && self.slots.count_of(i) > 0)
            .count()
    }

    /// Slots whose owner is in `health` (`cluster_slots_pfail`, `cluster_slots_fail`).
    pub fn slots_with_owner(&self, health: Health) -> usize {
        self.slots
            .runs()
            .filter(|r| {
                r.owner
                    .and_then(|o| self.nodes.get(o))
                    .is_some_and(|n| n.health == health)
            })
            .map(|r| usize::from(r.last - r.first) + 1)
            .sum()
    }

    /// Redis's `clusterUpdateState` with `cluster-require-full-coverage yes`: the cluster
    /// is ok when every slot has an owner that has not failed.
    pub fn is_ok(&self) -> bool {
        self.slots.runs().all(|r| {
            r.owner
                .and_then(|o| self.nodes.get(o))
                .is_some_and(|n| n.health != Health::Failed)
        })
    }
}

/// The address a node announces for a listening address: a wildcard is announced as the
/// loopback address of its family (what clients on this host reach).
fn announced_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(ports: &[u16]) -> Vec<SocketAddr> {
        ports
            .iter()
            .map(|&p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect()
    }

    #[test]
    fn node_ids_are_forty_lower_case_hex_digits_and_differ() {
        let a = NodeId::random();
        let b = NodeId::random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 40);
        assert_eq!(NodeId::parse(a.as_bytes()), Some(a));
        assert_eq!(NodeId::parse(b"abc"), None);
        assert_eq!(NodeId::parse(&[b'A'; 40]), None);
    }

    #[test]
    fn primaries_get_redis_clis_split_and_epochs_one_to_n() {
        let t = Topology::primaries(&addrs(&[7000, 7001, 7002]), 0);
        assert_eq!(t.nodes.len(), 3);
        assert_eq!(t.slots.ranges_of(1), vec![(5461, 10922)]);
        assert_eq!(t.owner(0).map(|n| n.port), Some(7000));
        assert_eq!(t.owner(16383).map(|n| n.port), Some(7002));
        assert_eq!(
            t.nodes.iter().map(|n| n.config_epoch).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(t.current_epoch, 3);
        assert_eq!(t.size(), 3);
        assert!(t.is_ok());
        assert_eq!(t.nodes[0].bus_port, 17000);
    }

    #[test]
    fn a_slot_without_owner_or_with_a_failed_owner_puts_the_cluster_down() {
        let mut t = Topology::primaries(&addrs(&[7000, 7001, 7002]), 0);
        t.slots.assign(5, 5, None);
        assert!(!t.is_ok());
        let mut t = Topology::primaries(&addrs(&[7000, 7001, 7002]), 0);
        t.nodes[2].health = Health::Failed;
        assert!(!t.is_ok());
        assert_eq!(t.slots_with_owner(Health::Failed), 5461);
    }

    #[test]
    fn removing_a_node_unassigns_its_slots_and_shifts_later_owners() {
        let mut t = Topology::primaries(&addrs(&[7000, 7001, 7002]), 0);
        t.remove_node(1);
        assert_eq!(t.nodes.len(), 2);
        assert_eq!(t.slots.owner(6000), None);
        assert_eq!(t.owner(16383).map(|n| n.port), Some(7002));
        assert_eq!(t.owner(0).map(|n| n.port), Some(7000));
    }

    #[test]
    fn a_node_sees_the_configuration_without_the_nodes_it_forgot() {
        let mut t = Topology::primaries(&addrs(&[7000, 7001, 7002]), 0);
        let me = t.nodes[0].id;
        assert!(!t.forgot_any(&me));
        t.nodes[2].forgotten_by.push(me);
        assert!(t.forgot_any(&me));
        let seen = t.seen_by(&me);
        assert_eq!(seen.nodes.len(), 2);
        assert_eq!(seen.slots.owner(16383), None);
        assert_eq!(t.seen_by(&t.nodes[1].id).nodes.len(), 3);
    }

    #[test]
    fn joining_lone_nodes_takes_their_slots_and_gives_clashing_epochs_new_ones() {
        let a = Topology::alone(NodeId::random(), addrs(&[7000])[0], 0);
        let mut b = Topology::alone(NodeId::random(), addrs(&[7001])[0], 0);
        b.slots.assign(0, 99, Some(0));
        let mut joined = a.clone();
        joined.join(&b);
        assert_eq!(joined.nodes.len(), 2);
        assert_eq!(joined.owner(50).map(|n| n.port), Some(7001));
        // Both had epoch 0: the smaller id moved to a new one.
        let epochs: Vec<u64> = joined.nodes.iter().map(|n| n.config_epoch).collect();
        assert_ne!(epochs[0], epochs[1]);
        assert_eq!(joined.current_epoch, 1);
        let smaller = joined
            .nodes
            .iter()
            .min_by_key(|n| n.id)
            .map(|n| n.config_epoch);
        assert_eq!(smaller, Some(1));
        // A slot claimed by both goes to the greater config epoch.
        let mut c = Topology::alone(NodeId::random(), addrs(&[7002])[0], 0);
        c.nodes[0].config_epoch = 9;
        c.current_epoch = 9;
        c.slots.assign(10, 10, Some(0));
        joined.join(&c);
        assert_eq!(joined.owner(10).map(|n| n.port), Some(7002));
        assert_eq!(joined.owner(11).map(|n| n.port), Some(7001));
        assert_eq!(joined.current_epoch, 9);
    }

    #[test]
    fn bumping_an_epoch_without_consensus_needs_a_node_without_the_greatest() {
        let mut t = Topology::primaries(&addrs(&[7000, 7001, 7002]), 0);
        assert_eq!(t.bump_epoch(2), Err(3));
        assert_eq!(t.bump_epoch(0), Ok(4));
        assert_eq!(t.current_epoch, 4);
        assert_eq!(t.bump_epoch(0), Err(4));
    }

    #[test]
    fn a_wildcard_address_is_announced_as_loopback() {
        let t = Topology::primaries(&[SocketAddr::from(([0, 0, 0, 0], 7000))], 0);
        assert_eq!(t.nodes[0].ip.to_string(), "127.0.0.1");
        assert_eq!(default_bus_port(60000), 0);
    }
}
