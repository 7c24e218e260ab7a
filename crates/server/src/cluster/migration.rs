//! The slots a node is moving: those it migrates to another node and those it imports
//! from one (CLUSTER SETSLOT MIGRATING / IMPORTING), Redis's `migrating_slots_to` and
//! `importing_slots_from`. They belong to one node alone: Redis never gossips them, so
//! they live in the node's `ClusterState`, not in the configuration the bus shares.
//!
//! Pure data: which node a slot goes to or comes from, by id (a forgotten node's entries
//! are dropped when the node's view changes, as `clusterDelNode` drops them).

use std::collections::BTreeMap;

use super::topology::{NodeId, Topology};

/// The open slots of one node.
#[derive(Clone, Debug, Default)]
pub struct OpenSlots {
    migrating: BTreeMap<u16, NodeId>,
    importing: BTreeMap<u16, NodeId>,
}

impl OpenSlots {
    /// Whether no slot is open: the common case, checked first on every keyed command.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.migrating.is_empty() && self.importing.is_empty()
    }

    /// The node `slot` is being migrated to.
    #[inline]
    pub fn migrating(&self, slot: u16) -> Option<NodeId> {
        self.migrating.get(&slot).copied()
    }

    /// The node `slot` is being imported from.
    #[inline]
    pub fn importing(&self, slot: u16) -> Option<NodeId> {
        self.importing.get(&slot).copied()
    }

    pub fn set_migrating(&mut self, slot: u16, to: Option<NodeId>) {
        match to {
            Some(id) => self.migrating.insert(slot, id),
            None => self.migrating.remove(&slot),
        };
    }

    pub fn set_importing(&mut self, slot: u16, from: Option<NodeId>) {
        match from {
            Some(id) => self.importing.insert(slot, id),
            None => self.importing.remove(&slot),
        };
    }

    /// Closes every slot (CLUSTER RESET's `clusterCloseAllSlots`).
    pub fn clear(&mut self) {
        self.migrating.clear();
        self.importing.clear();
    }

    /// Drops the entries naming nodes `topology` no longer has.
    pub fn retain_known(&mut self, topology: &Topology) {
        self.migrating
            .retain(|_, id| topology.index_of(id).is_some());
        self.importing
            .retain(|_, id| topology.index_of(id).is_some());
    }

    /// The markers CLUSTER NODES appends to this node's own line, in slot order:
    /// ` [slot->-id]` for a slot migrating (which wins when a slot is both) and
    /// ` [slot-<-id]` for one importing.
    pub fn markers(&self, out: &mut String) {
        use std::fmt::Write as _;
        let slots: std::collections::BTreeSet<u16> = self
            .migrating
            .keys()
            .chain(self.importing.keys())
            .copied()
            .collect();
        for slot in slots {
            if let Some(to) = self.migrating(slot) {
                let _ = write!(out, " [{slot}->-{to}]");
            } else if let Some(from) = self.importing(slot) {
                let _ = write!(out, " [{slot}-<-{from}]");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_in_slot_order_and_migrating_wins() {
        let a = NodeId::random();
        let b = NodeId::random();
        let mut open = OpenSlots::default();
        assert!(open.is_empty());
        open.set_importing(7, Some(b));
        open.set_migrating(3, Some(a));
        open.set_importing(3, Some(b));
        let mut text = String::new();
        open.markers(&mut text);
        assert_eq!(text, format!(" [3->-{a}] [7-<-{b}]"));
        open.set_migrating(3, None);
        let mut text = String::new();
        open.markers(&mut text);
        assert_eq!(text, format!(" [3-<-{b}] [7-<-{b}]"));
    }

    #[test]
    fn entries_naming_unknown_nodes_are_dropped() {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 7000));
        let topology = Topology::primaries(&[addr], 0);
        let mut open = OpenSlots::default();
        open.set_migrating(1, Some(topology.nodes[0].id));
        open.set_importing(2, Some(NodeId::random()));
        open.retain_known(&topology);
        assert_eq!(open.migrating(1), Some(topology.nodes[0].id));
        assert_eq!(open.importing(2), None);
    }
}
