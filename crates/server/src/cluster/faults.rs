//! Fault injection and failure detection for the nodes of one process.
//!
//! Faults (from `Cluster` / `EmbeddedCluster`, and over the wire with `LOCKSTEP.FAULT`
//! when the cluster runs with fault injection, `wire_faults`):
//!
//! - `stop_node(i)`: the node stops as a killed process would: its port refuses, its
//!   connections are reset, its replicas' links go down. Its data is kept as a snapshot.
//! - `restart_node(i)`: the node listens again on its port with the same id and its data;
//!   if a replica took its slots meanwhile it rejoins as that replica's replica and resyncs,
//!   as a returning Redis primary does.
//! - `pause_node(i, duration)`: the node accepts and reads but answers nothing until the
//!   pause ends (its connections stay open), as a process stopped with SIGSTOP.
//! - `add_latency(i, delay, duration)`: for `duration`, every reply of the node is written
//!   `delay` after it was computed. The connection task sleeps before its write, not the
//!   node: the lock is free meanwhile, so the node's other clients and the other nodes
//!   are not slowed beyond their own late replies (a pipeline's replies come late once,
//!   together). The failure detector does not see it: the node still answers.
//! - `partition(i, duration)` / `heal(i)`: the node is cut off from the other nodes, not
//!   from its clients (see below); the partition heals by itself after `duration`.
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
//!
//! A partitioned node is silent to the others, so they fail it as a stopped node and
//! promote its replica. Its replication links go down both ways (its primary drops its
//! feed, its replicas lose theirs, and no link is made again while the partition lasts).
//! After the node timeout the node finds itself in a minority, as a real primary that
//! hears from no majority does: it answers `-CLUSTERDOWN The cluster is down` to keyed
//! commands and `cluster_state:fail` to CLUSTER INFO, and from then on keeps the view it
//! had, with every other node `fail?` (a minority cannot gather the reports that make a
//! node `fail`), so a promotion behind its back is not seen from it. When it heals it
//! takes the shared view again, the detector clears it and, if its slots were taken,
//! makes it a replica of their new owner, which resyncs it (the path `restart_node` takes):
//! the writes it acknowledged while cut off are lost, as they are in Redis.
//!
//! Where the one-view model differs from real Redis: the nodes share one configuration
//! (`Bus`), so during the node timeout, before it is in a minority, the isolated node
//! still sees what the others change (a real one would not hear of it), and a CLUSTER
//! command that changes the configuration on the isolated node (SETSLOT, ADDSLOTS, ...)
//! changes it for everyone at once. The isolated node's frozen view lists the others as
//! `fail?` with their links `connected` and itself as it was, as a real node whose peers
//! stopped answering lists them (`tests/cluster_faults.rs` compares it with redis-server
//! nodes stopped by SIGSTOP), but its ping-sent column stays 0 where Redis shows when it
//! last pinged, and a real partition that drops packets may show links `disconnected`.
//! Replicas of other shards stay as they were in that view (a real node would not see
//! them promoted either). The majority's side behaves as Redis's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::topology::{Health, NodeId, Role, Topology};
use super::Bus;
use crate::keyspace::Millis;
use crate::state::unix_millis;

/// The faults injected into a cluster, shared with its failure detector and its nodes.
#[derive(Debug, Default)]
pub struct Faults {
    /// Nodes stopped (not listening).
    pub(crate) stopped: Mutex<Vec<NodeId>>,
    /// Nodes paused, and until when.
    pub(crate) paused: Mutex<HashMap<NodeId, Instant>>,
    /// Nodes cut off from the others.
    partitions: Mutex<HashMap<NodeId, Partition>>,
    /// Every fault injected: when (ms since the epoch) and what.
    log: Mutex<Vec<(Millis, String)>>,
}

/// A node cut off from the others.
#[derive(Debug)]
struct Partition {
    since: Instant,
    /// When it heals by itself.
    until: Instant,
    /// The view the node keeps once it found itself in a minority.
    view: Option<Arc<Topology>>,
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

    /// Whether the other nodes hear from node `id`.
    fn answers(&self, id: &NodeId, now: Instant) -> bool {
        if self.stopped.lock().contains(id) || self.partitions.lock().contains_key(id) {
            return false;
        }
        self.paused.lock().get(id).is_none_or(|&until| until <= now)
    }

    /// Cuts node `id` off from the others until `until` (a partition of a node already
    /// cut off is extended or shortened, its minority kept).
    pub(crate) fn partition(&self, id: NodeId, until: Instant) {
        let mut partitions = self.partitions.lock();
        let p = partitions.entry(id).or_insert(Partition {
            since: Instant::now(),
            until,
            view: None,
        });
        p.until = until;
    }

    /// Ends node `id`'s partition; false if it had none.
    pub(crate) fn heal(&self, id: &NodeId) -> bool {
        self.partitions.lock().remove(id).is_some()
    }

    /// When node `id`'s partition ends, if it is cut off.
    pub(crate) fn partitioned_until(&self, id: &NodeId) -> Option<Instant> {
        self.partitions.lock().get(id).map(|p| p.until)
    }

    /// Whether node `id` is cut off from the others.
    pub fn is_partitioned(&self, id: &NodeId) -> bool {
        self.partitions.lock().contains_key(id)
    }

    /// The view of a node cut off from the others once it is in a minority.
    pub(crate) fn minority_view(&self, id: &NodeId) -> Option<Arc<Topology>> {
        self.partitions.lock().get(id)?.view.clone()
    }

    /// Partitioned nodes that have been silent for `timeout` and have no minority view
    /// yet get one, made from `topology`: the node as it was, every other node `fail?`.
    /// Whether any did.
    fn find_minorities(&self, topology: &Topology, timeout: Duration, now: Instant) -> bool {
        let mut changed = false;
        for (id, p) in self.partitions.lock().iter_mut() {
            if p.view.is_some() || now.duration_since(p.since) < timeout {
                continue;
            }
            let mut view = topology.clone();
            for node in &mut view.nodes {
                node.health = if node.id == *id {
                    Health::Online
                } else if node.health == Health::Failed {
                    Health::Failed
                } else {
                    Health::PossiblyFailed
                };
            }
            p.view = Some(Arc::new(view));
            tracing::info!(node = %id, "partitioned node in a minority");
            changed = true;
        }
        changed
    }
}

/// Nodes whose replies are held back (`add_latency`), by their server's address in
/// memory: the connection tasks look here before each write, without the node's lock.
static DELAYS: Mutex<Vec<(usize, Duration, Instant)>> = Mutex::new(Vec::new());
/// How many entries `DELAYS` has: the connections of a server without latency (all of
/// them, unless faults are injected) read this and nothing else.
static DELAYED: AtomicUsize = AtomicUsize::new(0);

/// Holds the replies of the server whose shared part is at `server` back by `delay`
/// until `until` (replacing what it had).
pub(crate) fn set_delay(server: usize, delay: Duration, until: Instant) {
    let mut delays = DELAYS.lock();
    delays.retain(|(s, _, _)| *s != server);
    if !delay.is_zero() && until > Instant::now() {
        delays.push((server, delay, until));
    }
    DELAYED.store(delays.len(), Ordering::Release);
}

/// How long a connection of `server` holds the replies it is about to write.
#[inline]
pub(crate) fn reply_delay(server: &crate::shared::Shared) -> Option<Duration> {
    if DELAYED.load(Ordering::Acquire) == 0 {
        return None;
    }
    let key = server as *const crate::shared::Shared as usize;
    let now = Instant::now();
    let mut delays = DELAYS.lock();
    delays.retain(|&(_, _, until)| until > now);
    DELAYED.store(delays.len(), Ordering::Release);
    delays
        .iter()
        .find(|(s, _, _)| *s == key)
        .map(|&(_, delay, until)| delay.min(until - now))
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
        if faults.find_minorities(&topology, node_timeout, now) {
            // The isolated node picks its view up before its next command.
            bus.update(|_| ());
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn three() -> Topology {
        let addrs: Vec<SocketAddr> = (0..3)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 7000 + i)))
            .collect();
        Topology::primaries(&addrs, 0)
    }

    #[test]
    fn a_partitioned_node_is_silent_and_in_a_minority_after_the_timeout() {
        let faults = Faults::default();
        let mut topology = three();
        let (cut, other) = (topology.nodes[1].id, topology.nodes[2].id);
        // The others have already flagged it; it sees itself as it was.
        topology.nodes[1].health = Health::PossiblyFailed;
        let now = Instant::now();
        faults.partition(cut, now + Duration::from_secs(60));
        assert!(!faults.answers(&cut, now));
        assert!(faults.answers(&other, now));
        let timeout = Duration::from_millis(500);
        assert!(!faults.find_minorities(&topology, timeout, now));
        assert!(faults.minority_view(&cut).is_none());
        let later = now + timeout + Duration::from_millis(1);
        assert!(faults.find_minorities(&topology, timeout, later));
        let view = faults.minority_view(&cut).expect("a minority view");
        let health: Vec<Health> = view.nodes.iter().map(|n| n.health).collect();
        assert_eq!(
            health,
            [
                Health::PossiblyFailed,
                Health::Online,
                Health::PossiblyFailed
            ]
        );
        // Once is enough; a heal gives the shared view back.
        assert!(!faults.find_minorities(&topology, timeout, later));
        assert!(faults.heal(&cut));
        assert!(!faults.heal(&cut));
        assert!(faults.minority_view(&cut).is_none());
        assert!(faults.answers(&cut, later));
    }

    #[test]
    fn a_delay_holds_only_its_server_and_only_until_it_ends() {
        let (tx, _rx) = tokio::sync::watch::channel(false);
        let slow = crate::shared::Shared::new(crate::state::State::new(Default::default(), tx));
        let (tx, _rx) = tokio::sync::watch::channel(false);
        let other = crate::shared::Shared::new(crate::state::State::new(Default::default(), tx));
        let key = &slow as *const crate::shared::Shared as usize;
        set_delay(
            key,
            Duration::from_millis(40),
            Instant::now() + Duration::from_secs(2),
        );
        let held = reply_delay(&slow).expect("held");
        assert!(held <= Duration::from_millis(40) && held > Duration::from_millis(30));
        assert_eq!(reply_delay(&other), None);
        // Close to its end, a reply is held only until then.
        set_delay(
            key,
            Duration::from_secs(5),
            Instant::now() + Duration::from_millis(50),
        );
        assert!(reply_delay(&slow).expect("held") <= Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(reply_delay(&slow), None);
        set_delay(
            key,
            Duration::from_millis(40),
            Instant::now() + Duration::from_secs(2),
        );
        set_delay(key, Duration::ZERO, Instant::now());
        assert_eq!(reply_delay(&slow), None);
    }
}
