//! Fault injection and failure detection for the nodes of one process.
//!
//! Faults (from `Cluster` / `EmbeddedCluster`, and `lockstep cluster --fault-injection`):
//!
//! - `stop_node(i)`: the node stops as a killed process would: its port refuses, its
//!   connections are reset, its replicas' links go down. Its data is kept as a snapshot.
//! - `restart_node(i)`: the node listens again on its port with the same id and its data;
//!   if a replica took its slots meanwhile it rejoins as that replica's replica and resyncs,
//!   as a returning Redis primary does.
//! - `pause_node(i, duration)`: the node accepts and reads but answers nothing until the
//!   pause ends (its connections stay open), as a process stopped with SIGSTOP.
//! - `drop_connections(i)`: every client connection of the node is closed (CLIENT KILL of
//!   all).
//! - `failover(i)`: CLUSTER FAILOVER on replica `i`; `migrate_slots(from, to, range)` moves
//!   a slot range with its keys, as `redis-cli --cluster reshard` does.
//!
//! Every fault is logged with a timestamp (`Faults::log`).
//!
//! Failure detection (`detect`), as Redis Cluster's with `cluster-node-timeout`: a node
//! that has not answered for the timeout is flagged `fail?` (PFAIL) and, one detector tick
//! later (the failure reports of the majority arrive at once here), `fail`. A failed primary
//! that serves slots is replaced by its replica with the greatest offset after Redis's fixed
//! election delay (500 ms, without the random part and capped at the timeout), with a new
//! config epoch. A node that answers again is cleared; an old primary whose slots were taken
//! becomes a replica of the node that took them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::topology::{Health, NodeId, Role};
use super::Bus;
use crate::keyspace::Millis;
use crate::state::unix_millis;

/// The faults injected into a cluster, shared with its failure detector.
#[derive(Debug, Default)]
pub struct Faults {
    /// Nodes stopped (not listening).
    pub(crate) stopped: Mutex<Vec<NodeId>>,
    /// Nodes paused, and until when.
    pub(crate) paused: Mutex<HashMap<NodeId, Instant>>,
    /// Every fault injected: when (ms since the epoch) and what.
    log: Mutex<Vec<(Millis, String)>>,
}

impl Faults {
    pub fn record(&self, what: String) {
        tracing::info!(fault = %what, "fault injected");
        self.log.lock().push((unix_millis(), what));
    }

    /// Every fault injected so far, oldest first.
    pub fn log(&self) -> Vec<(Millis, String)> {
        self.log.lock().clone()
    }

    fn answers(&self, id: &NodeId, now: Instant) -> bool {
        if self.stopped.lock().contains(id) {
            return false;
        }
        self.paused.lock().get(id).is_none_or(|&until| until <= now)
    }
}

/// Redis's fixed part of a replica's election delay.
const ELECTION_DELAY: Duration = Duration::from_millis(500);

/// The failure detector of a cluster: runs until the task is aborted.
pub(crate) async fn detect(bus: Arc<Bus>, faults: Arc<Faults>, node_timeout: Duration) {
    let tick = (node_timeout / 10).clamp(Duration::from_millis(5), Duration::from_millis(100));
    let mut silent_since: HashMap<NodeId, Instant> = HashMap::new();
    let mut failed_at: HashMap<NodeId, Instant> = HashMap::new();
    // Old primaries whose slots a replica took, and who took them.
    let mut taken_by: HashMap<NodeId, NodeId> = HashMap::new();
    loop {
        tokio::time::sleep(tick).await;
        let now = Instant::now();
        let bus = bus.current();
        let (_, topology) = bus.snapshot();
        let mut changed = false;
        for node in &topology.nodes {
            let id = node.id;
            if faults.answers(&id, now) {
                silent_since.remove(&id);
                failed_at.remove(&id);
                if node.health != Health::Online || taken_by.contains_key(&id) {
                    let new_primary = taken_by.remove(&id);
                    bus.update(|t| {
                        if let Some(i) = t.index_of(&id) {
                            t.nodes[i].health = Health::Online;
                            if let Some(of) = new_primary {
                                // Still without slots: it follows the node that took them.
                                if t.slots.count_of(i) == 0 && t.nodes[i].is_primary() {
                                    t.demote(i, of);
                                }
                            }
                        }
                    });
                    changed = true;
                }
                continue;
            }
            let since = *silent_since.entry(id).or_insert(now);
            if now.duration_since(since) < node_timeout {
                continue;
            }
            match node.health {
                Health::Online => {
                    bus.update(|t| {
                        if let Some(i) = t.index_of(&id) {
                            t.nodes[i].health = Health::PossiblyFailed;
                        }
                    });
                    changed = true;
                }
                Health::PossiblyFailed => {
                    bus.update(|t| {
                        if let Some(i) = t.index_of(&id) {
                            t.nodes[i].health = Health::Failed;
                        }
                    });
                    failed_at.insert(id, now);
                    changed = true;
                }
                Health::Failed => {
                    let at = *failed_at.entry(id).or_insert(now);
                    let delay = ELECTION_DELAY.min(node_timeout);
                    if node.role != Role::Primary || now.duration_since(at) < delay {
                        continue;
                    }
                    // The replica that answers, with the greatest offset.
                    let candidate = topology
                        .replicas_of(&id)
                        .filter(|r| faults.answers(&r.id, now))
                        .max_by_key(|r| crate::replication::offset_of(&r.id))
                        .map(|r| r.id);
                    let Some(candidate) = candidate else { continue };
                    let serves = topology
                        .index_of(&id)
                        .is_some_and(|i| topology.slots.count_of(i) > 0);
                    if !serves {
                        continue;
                    }
                    bus.update(|t| {
                        if let Some(i) = t.index_of(&candidate) {
                            t.promote(i);
                        }
                    });
                    taken_by.insert(id, candidate);
                    tracing::info!(failed = %id, promoted = %candidate, "failover");
                    changed = true;
                }
            }
        }
        if changed {
            crate::replication::kick_all();
        }
    }
}
