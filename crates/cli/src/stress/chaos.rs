//! Faults injected while the workloads run, and the acknowledged-writes check.
//!
//! Wire faults use only what any Redis server answers, so they work on the embedded
//! cluster and on real servers alike: CLIENT KILL of the workload's own connections
//! (named `lockstep-stress`; nobody else's), CLIENT PAUSE WRITE, live slot migration
//! (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE, as `redis-cli --cluster
//! reshard` does) and CLUSTER FAILOVER on a replica.
//!
//! Node faults need the embedded cluster's fault API (a process cannot be stopped from a
//! client): a primary stopped as a killed process stops (its replica takes over after the
//! node timeout) and restarted later (it rejoins as a replica), and a primary paused, by
//! turns longer than the node timeout (its replica takes over while it is silent) and
//! shorter (it answers again itself). Each is reported as a `NodeEvent`: when, which node
//! and slots, how long until a write to the shard succeeded again, and how long until
//! the workload's own clients (the shared client, the pools) were served there again.
//!
//! Acknowledged writes: each writer RPUSHes its own sequence numbers to lists of its own.
//! Afterwards every list is read back: a number acknowledged but absent is lost, a number
//! present twice is duplicated, a number whose RPUSH failed as certainly not run but is
//! present is a phantom. Any of the three fails the run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockstep::{cmd, Client, Cmd, Frame};
use serde_json::{json, Value};

use super::target::{slot_of, Kind, Node, Shared, Target, CLIENT_NAME, EMBEDDED_NODE_TIMEOUT};

/// Numbers per list: lists stay short, so a migration moves many small keys.
const CHUNK: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// CLIENT KILL of the workload's connections, one node at a time.
    Kill,
    /// CLIENT PAUSE ... WRITE on every primary.
    Pause,
    /// Slots holding the writers' lists moved between primaries.
    Migrate,
    /// CLUSTER FAILOVER on a replica.
    Failover,
    /// A primary stopped (its replica takes over), then restarted (it rejoins as a replica).
    Stop,
    /// A primary that answers nothing for a while, by turns longer and shorter than the
    /// node timeout.
    NodePause,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "connection kills",
            Fault::Pause => "write pauses",
            Fault::Migrate => "slot migrations",
            Fault::Failover => "failovers",
            Fault::Stop => "node stops",
            Fault::NodePause => "node pauses",
        }
    }

    /// Faults that need the embedded cluster's fault API.
    pub fn on_nodes(self) -> bool {
        matches!(self, Fault::Stop | Fault::NodePause)
    }

    /// Why this fault cannot be injected into `nodes`, if it cannot (`embedded`: the
    /// target is the embedded cluster, whose nodes can be stopped and paused).
    pub fn unavailable(self, kind: Kind, nodes: &[Node], embedded: bool) -> Option<String> {
        let primaries = nodes.iter().filter(|n| n.primary).count();
        match self {
            Fault::Stop | Fault::NodePause if !embedded => Some(format!(
                "{} need the embedded cluster's fault API: a client cannot stop or freeze a \
                 node from outside (with --addrs, kill or SIGSTOP a primary yourself while \
                 chaos runs; the acknowledged-writes check holds through it)",
                self.name()
            )),
            Fault::Stop | Fault::NodePause if !nodes.iter().any(|n| n.replica_of.is_some()) => {
                Some(format!("{} need replicas to take over", self.name()))
            }
            Fault::Migrate if kind != Kind::Cluster || primaries < 2 => {
                Some("slot migration needs a cluster of two primaries or more".into())
            }
            Fault::Failover if !nodes.iter().any(|n| !n.primary) => Some(
                "failover needs replicas (the embedded cluster has none yet; run against a \
                 cluster with replicas with --addrs)"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// The key of writer `w`'s list for number `n`: the writer's lists share one slot.
pub fn ack_key(run: &str, w: usize, n: u64) -> String {
    format!("stress:ack:{{{run}-w{w}}}:{}", n / CHUNK)
}

/// What one writer knows about its writes.
#[derive(Default)]
pub struct Ledger {
    /// Acknowledged (RPUSH answered with a length).
    pub acked: Vec<u64>,
    /// Failed in a way that says it may have run.
    pub uncertain: HashSet<u64>,
    /// Failed before being sent.
    pub not_run: HashSet<u64>,
    /// The next number.
    pub next: u64,
}

/// The writers of one chaos scenario.
pub struct Writers {
    pub run: String,
    pub ledgers: Vec<Mutex<Ledger>>,
}

impl Writers {
    pub fn new(run: String, n: usize) -> Writers {
        Writers {
            run,
            ledgers: (0..n).map(|_| Mutex::new(Ledger::default())).collect(),
        }
    }

    /// Writes writer `w`'s next number; returns the result for the recorder.
    pub async fn write(&self, shared: &Shared, w: usize) -> Result<(), lockstep::Error> {
        let n = {
            let mut l = self.ledgers[w].lock().unwrap_or_else(|p| p.into_inner());
            l.next += 1;
            l.next - 1
        };
        let r = shared
            .send(&cmd("RPUSH").arg(ack_key(&self.run, w, n)).arg(n))
            .await;
        let mut l = self.ledgers[w].lock().unwrap_or_else(|p| p.into_inner());
        match &r {
            Ok(lockstep::Frame::Integer(_)) => l.acked.push(n),
            Ok(other) => {
                // An answer that is not a length: certainly not an acknowledgement.
                l.uncertain.insert(n);
                return Err(lockstep::Error::Protocol(format!(
                    "RPUSH answered {other:?}"
                )));
            }
            Err(e) if e.not_sent() => {
                l.not_run.insert(n);
            }
            Err(_) => {
                l.uncertain.insert(n);
            }
        }
        r.map(|_| ())
    }
}

/// The outcome of the acknowledged-writes check.
#[derive(Clone, Debug, Default)]
pub struct AckReport {
    pub acknowledged: u64,
    pub uncertain: u64,
    pub not_run: u64,
    /// Uncertain writes found applied.
    pub uncertain_applied: u64,
    pub lost: Vec<String>,
    pub duplicated: Vec<String>,
    pub phantom: Vec<String>,
    /// Lists that could not be read back.
    pub unreadable: Vec<String>,
}

/// Reads every writer's lists back (retrying each for a few seconds while the cluster
/// settles) and compares them with the ledgers.
pub async fn check(writers: &Writers, reader: &Shared) -> AckReport {
    let mut report = AckReport::default();
    for (w, ledger) in writers.ledgers.iter().enumerate() {
        let (acked, uncertain, not_run, next) = {
            let l = ledger.lock().unwrap_or_else(|p| p.into_inner());
            (
                l.acked.clone(),
                l.uncertain.clone(),
                l.not_run.clone(),
                l.next,
            )
        };
        report.acknowledged += acked.len() as u64;
        report.uncertain += uncertain.len() as u64;
        report.not_run += not_run.len() as u64;
        let mut seen: HashMap<u64, u32> = HashMap::new();
        for chunk in 0..next.div_ceil(CHUNK) {
            let key = ack_key(&writers.run, w, chunk * CHUNK);
            match read_list(reader, &key).await {
                Ok(items) => {
                    for item in items {
                        match item.parse::<u64>() {
                            Ok(n) => *seen.entry(n).or_insert(0) += 1,
                            Err(_) => report.phantom.push(format!("{key}: '{item}'")),
                        }
                    }
                }
                Err(e) => report.unreadable.push(format!("{key}: {e}")),
            }
            // Cleaning up after ourselves (best effort: the check is done for this key).
            let _ = reader.send(&cmd("DEL").arg(key.as_str())).await;
        }
        for n in &acked {
            if !seen.contains_key(n) {
                report.lost.push(format!(
                    "writer {w} #{n} ({})",
                    ack_key(&writers.run, w, *n)
                ));
            }
        }
        let mut dup: Vec<_> = seen.iter().filter(|(_, &c)| c > 1).collect();
        dup.sort();
        for (n, c) in dup {
            report.duplicated.push(format!("writer {w} #{n} x{c}"));
        }
        for n in seen.keys() {
            if not_run.contains(n) {
                report
                    .phantom
                    .push(format!("writer {w} #{n} (reported not run)"));
            } else if uncertain.contains(n) {
                report.uncertain_applied += 1;
            } else if *n >= next {
                report
                    .phantom
                    .push(format!("writer {w} #{n} (never written)"));
            }
        }
    }
    report
}

async fn read_list(reader: &Shared, key: &str) -> Result<Vec<String>, lockstep::Error> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = reader.send(&cmd("LRANGE").arg(key).arg(0).arg(-1)).await;
        match r.and_then(lockstep::FromReply::from_reply) {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, key, "read-back retried");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs `fault` until `stop` is set, counting what it did in `faults`. A migration or
/// failover in progress is finished before it returns, so the cluster is whole again.
#[allow(clippy::too_many_arguments)]
pub async fn inject(
    fault: Fault,
    target: &Target,
    run: &str,
    writers: usize,
    stop: Arc<AtomicBool>,
    until: Instant,
    faults: Arc<Mutex<BTreeMap<String, u64>>>,
    events: Arc<Mutex<Vec<NodeEvent>>>,
) {
    let started = Instant::now();
    if fault.on_nodes() {
        // Let the workload run first, so that it sees the node go.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let count = |what: &str, n: u64| {
        *faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(what.to_string())
            .or_insert(0) += n;
    };
    let errors = AtomicU64::new(0);
    let mut round: usize = 0;
    while !stop.load(Ordering::Relaxed) {
        // A node fault runs to its end (restart, failover): started only when the load
        // will still run to see it through.
        if fault.on_nodes() && Instant::now() + node_round_span(fault, round) > until {
            break;
        }
        let nodes = match target.nodes().await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "fault injector: no node list");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let r = match fault {
            Fault::Kill => {
                let primaries: Vec<&Node> = nodes.iter().filter(|n| n.primary).collect();
                let node = primaries[round % primaries.len().max(1)];
                let killed = kill_workload_connections(target, &node.addr).await;
                killed.map(|n| count("connections killed", n))
            }
            Fault::Pause => {
                for node in nodes.iter().filter(|n| n.primary) {
                    if let Ok(admin) = target.admin(&node.addr) {
                        let r = admin
                            .send(&cmd("CLIENT").arg("PAUSE").arg(150).arg("WRITE"))
                            .await;
                        admin.shutdown(Duration::from_millis(50)).await;
                        if r.is_ok() {
                            count("write pauses of 150 ms", 1);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
                Ok(())
            }
            Fault::Migrate => {
                let w = round % writers.max(1);
                let key = ack_key(run, w, 0);
                match slot_of(&key) {
                    Some(slot) => migrate_slot(target, &nodes, slot).await.map(|keys| {
                        count("slots migrated", 1);
                        count("keys moved by MIGRATE", keys);
                    }),
                    None => Err(format!("no slot for {key}")),
                }
            }
            Fault::Failover => failover(target, &nodes, round).await.map(|_| {
                count("failovers", 1);
            }),
            Fault::Stop | Fault::NodePause => {
                let r = if fault == Fault::Stop {
                    stop_and_restart(target, &nodes, round, started).await
                } else {
                    pause_node(target, &nodes, round, started).await
                };
                r.map(|ev| {
                    count(
                        if fault == Fault::Stop {
                            "primaries stopped and restarted"
                        } else if ev.promoted.is_some() {
                            "primaries paused past the node timeout"
                        } else {
                            "primaries paused within the node timeout"
                        },
                        1,
                    );
                    if ev.promoted.is_some() {
                        count("replicas promoted", 1);
                    }
                    events.lock().unwrap_or_else(|p| p.into_inner()).push(ev);
                })
            }
        };
        if let Err(e) = r {
            errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(fault = fault.name(), error = %e, "fault injection failed");
            count("injections that failed", 1);
        }
        round += 1;
        let pause = match fault {
            Fault::Kill => 100,
            Fault::Pause => 200,
            Fault::Migrate => 50,
            Fault::Failover => 1000,
            Fault::Stop | Fault::NodePause => 200,
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// CLIENT KILL ID of every connection named `lockstep-stress` on `addr`.
async fn kill_workload_connections(target: &Target, addr: &str) -> Result<u64, String> {
    let admin = target.admin(addr)?;
    let list = admin
        .query::<String>(cmd("CLIENT").arg("LIST"))
        .await
        .map_err(|e| e.to_string())?;
    let mut killed = 0;
    for line in list.lines() {
        let mut id = None;
        let mut name = "";
        for field in line.split_whitespace() {
            if let Some(v) = field.strip_prefix("id=") {
                id = v.parse::<u64>().ok();
            } else if let Some(v) = field.strip_prefix("name=") {
                name = v;
            }
        }
        if let (Some(id), CLIENT_NAME) = (id, name) {
            if admin
                .send(&cmd("CLIENT").arg("KILL").arg("ID").arg(id))
                .await
                .is_ok()
            {
                killed += 1;
            }
        }
    }
    admin.shutdown(Duration::from_millis(50)).await;
    Ok(killed)
}

async fn admin_send(admin: &Client, c: Cmd) -> Result<lockstep::Frame, String> {
    admin.send(&c).await.map_err(|e| e.to_string())
}

/// Moves `slot` from its primary to the next primary, keys and all, as `redis-cli
/// --cluster reshard` does. Returns how many keys moved.
async fn migrate_slot(target: &Target, nodes: &[Node], slot: u16) -> Result<u64, String> {
    let primaries: Vec<&Node> = nodes.iter().filter(|n| n.primary).collect();
    let Some(i) = primaries.iter().position(|n| n.serves(slot)) else {
        return Err(format!("no primary serves slot {slot}"));
    };
    let src = primaries[i];
    let dst = primaries[(i + 1) % primaries.len()];
    let (dst_host, dst_port) = dst.host_port();
    let s = target.admin(&src.addr)?;
    let d = target.admin(&dst.addr)?;
    let setslot = |how: &str, id: &str| {
        cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg(how)
            .arg(id.to_string())
    };
    admin_send(&d, setslot("IMPORTING", &src.id)).await?;
    if let Err(e) = admin_send(&s, setslot("MIGRATING", &dst.id)).await {
        // The source is gone (a node killed under chaos): the destination must not stay
        // importing a slot nobody migrates.
        let _ = admin_send(&d, cmd("CLUSTER").arg("SETSLOT").arg(slot).arg("STABLE")).await;
        return Err(e);
    }
    let mut moved = 0u64;
    let mut result = Ok(());
    loop {
        let keys: Vec<String> = match s
            .query(cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(100))
            .await
        {
            Ok(k) => k,
            Err(e) => {
                result = Err(e.to_string());
                break;
            }
        };
        if keys.is_empty() {
            break;
        }
        let mut m = cmd("MIGRATE")
            .arg(dst_host.as_str())
            .arg(dst_port)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS");
        for k in &keys {
            m.add_arg(k.as_str());
        }
        if let Err(e) = admin_send(&s, m).await {
            result = Err(e);
            break;
        }
        moved += keys.len() as u64;
    }
    // Whatever happened, the slot ends up owned by one node: the destination when every
    // key moved, the source otherwise (its keys are still there).
    let owner = if result.is_ok() { &dst.id } else { &src.id };
    let _ = admin_send(&d, setslot("NODE", owner)).await;
    let _ = admin_send(&s, setslot("NODE", owner)).await;
    for other in primaries
        .iter()
        .filter(|n| n.id != src.id && n.id != dst.id)
    {
        if let Ok(o) = target.admin(&other.addr) {
            let _ = admin_send(&o, setslot("NODE", owner)).await;
            o.shutdown(Duration::from_millis(50)).await;
        }
    }
    s.shutdown(Duration::from_millis(50)).await;
    d.shutdown(Duration::from_millis(50)).await;
    result.map(|_| moved)
}

/// CLUSTER FAILOVER on one replica, then waits (up to 5 s) for it to report itself master.
async fn failover(target: &Target, nodes: &[Node], round: usize) -> Result<(), String> {
    let replicas: Vec<&Node> = nodes.iter().filter(|n| !n.primary).collect();
    if replicas.is_empty() {
        return Err("no replica".into());
    }
    let r = replicas[round % replicas.len()];
    let admin = target.admin(&r.addr)?;
    admin_send(&admin, cmd("CLUSTER").arg("FAILOVER")).await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut promoted = false;
    while Instant::now() < deadline {
        if let Ok(lockstep::Frame::Array(role)) = admin.send(&cmd("ROLE")).await {
            if matches!(role.first(), Some(lockstep::Frame::Bulk(b)) if &b[..] == b"master") {
                promoted = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    admin.shutdown(Duration::from_millis(50)).await;
    if promoted {
        Ok(())
    } else {
        Err(format!("{} was not promoted within 5 s", r.addr))
    }
}

/// Which workload client an operation went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Shared,
    Pool,
}

/// What one node fault did, with its times.
#[derive(Clone, Debug, Default)]
pub struct NodeEvent {
    /// `stop` or `pause`.
    pub fault: &'static str,
    pub node: String,
    /// The node's slots when it was hit, as CLUSTER NODES writes them.
    pub slots: String,
    /// When it was hit, from the scenario's start.
    pub at: Duration,
    /// How long it was paused (pauses).
    pub paused: Option<Duration>,
    /// The replica that took its slots, if one did.
    pub promoted: Option<String>,
    /// From the fault until a write to the shard succeeded again (a probe from outside
    /// the workload, on a fresh connection to the node CLUSTER NODES names).
    pub served_after: Option<Duration>,
    /// From the fault until the workload's first success on the shard through the shared
    /// client, and through the pools.
    pub shared_after: Option<Duration>,
    pub pool_after: Option<Duration>,
    /// From the fault until the node was restarted (stops) and from then until it was a
    /// replica with its link up (stops, and pauses that cost it its slots).
    pub restarted_after: Option<Duration>,
    pub rejoined_after: Option<Duration>,
    /// What went wrong on the way (the shard never served again, say).
    pub error: Option<String>,
    /// The moment the fault took effect, and the node's slot ranges.
    when: Option<Instant>,
    ranges: Vec<(u16, u16)>,
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.3}s", d.as_secs_f64()))
}

impl NodeEvent {
    fn new(fault: &'static str, node: &Node, started: Instant) -> NodeEvent {
        NodeEvent {
            fault,
            node: node.addr.clone(),
            slots: node.slot_text(),
            at: started.elapsed(),
            ranges: node.slots.clone(),
            ..NodeEvent::default()
        }
    }

    fn covers(&self, slot: u16) -> bool {
        self.ranges.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }

    /// When each kind of client was served on the shard again, from the operations the
    /// workload completed (`(when, slot, via)`): the end of the longest wait between
    /// successes on the shard after the fault. (Not simply the first success after it:
    /// replies already on their way when a node is paused arrive after the pause began.)
    pub fn clients_served(
        &self,
        done: &[(Instant, u16, Via)],
    ) -> (Option<Duration>, Option<Duration>) {
        let Some(when) = self.when else {
            return (None, None);
        };
        let served = |via: Via| {
            let mut times: Vec<Instant> = done
                .iter()
                .filter(|(t, slot, v)| *v == via && *t > when && self.covers(*slot))
                .map(|(t, _, _)| *t)
                .collect();
            times.sort();
            let mut prev = when;
            let mut longest: Option<(Duration, Instant)> = None;
            for t in times {
                let gap = t.duration_since(prev);
                if longest.is_none_or(|(g, _)| gap > g) {
                    longest = Some((gap, t));
                }
                prev = t;
            }
            longest.map(|(_, t)| t.duration_since(when))
        };
        (served(Via::Shared), served(Via::Pool))
    }

    /// One line for the report.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} {} (slots {}) at {:.3}s",
            self.fault,
            self.node,
            self.slots,
            self.at.as_secs_f64()
        );
        if let Some(p) = self.paused {
            s += &format!(" for {} ms", p.as_millis());
        }
        s += &format!(
            ": writes served again after {}{}; workload served after {} (shared client), {} (pools)",
            secs(self.served_after),
            self.promoted
                .as_ref()
                .map_or_else(String::new, |p| format!(" by promoted replica {p}")),
            secs(self.shared_after),
            secs(self.pool_after),
        );
        if self.restarted_after.is_some() {
            s += &format!("; restarted after {}", secs(self.restarted_after));
        }
        if self.rejoined_after.is_some() {
            s += &format!(
                "; a replica again (link up) {} later",
                secs(self.rejoined_after)
            );
        }
        if let Some(e) = &self.error {
            s += &format!("; ERROR: {e}");
        }
        s
    }

    pub fn json(&self) -> Value {
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        json!({
            "fault": self.fault,
            "node": self.node,
            "slots": self.slots,
            "at_ms": self.at.as_secs_f64() * 1000.0,
            "paused_ms": ms(self.paused),
            "promoted": self.promoted,
            "served_after_ms": ms(self.served_after),
            "shared_client_served_after_ms": ms(self.shared_after),
            "pool_served_after_ms": ms(self.pool_after),
            "restarted_after_ms": ms(self.restarted_after),
            "rejoined_after_ms": ms(self.rejoined_after),
            "error": self.error,
        })
    }
}

/// How long a node fault's round may take, so that the injector starts it only when the
/// load will run that long.
fn node_round_span(fault: Fault, round: usize) -> Duration {
    match fault {
        Fault::NodePause if round % 2 == 1 => EMBEDDED_NODE_TIMEOUT,
        _ => EMBEDDED_NODE_TIMEOUT * 4,
    }
}

/// A key that hashes into `node`'s first slot range (the probe of its shard).
fn probe_key(node: &Node) -> Option<String> {
    (0..1_000_000u32)
        .map(|i| format!("stress:probe:{i}"))
        .find(|k| slot_of(k).is_some_and(|s| node.serves(s)))
}

/// The primaries that have a replica to take over, the `round`-th of them.
fn victim(nodes: &[Node], round: usize) -> Result<&Node, String> {
    let with_replica: Vec<&Node> = nodes
        .iter()
        .filter(|n| {
            n.primary
                && !n.slots.is_empty()
                && nodes.iter().any(|r| r.replica_of.as_deref() == Some(&n.id))
        })
        .collect();
    if with_replica.is_empty() {
        return Err("no primary with a replica".into());
    }
    Ok(with_replica[round % with_replica.len()])
}

const ADMIN_QUERY: Duration = Duration::from_millis(500);

/// Waits until a write of `key` succeeds on the node CLUSTER NODES names for its slot
/// (not `not`); that node's address.
async fn wait_served(
    target: &Target,
    key: &str,
    not: Option<&str>,
    deadline: Instant,
) -> Result<String, String> {
    let slot = slot_of(key).ok_or("probe key without a slot")?;
    let mut last = String::from("no node named");
    while Instant::now() < deadline {
        if let Ok(nodes) = target.nodes().await {
            let owner = nodes.iter().find(|n| n.primary && n.serves(slot));
            match owner {
                Some(o) if Some(o.addr.as_str()) != not => {
                    let admin = target.admin(&o.addr)?;
                    let r = admin
                        .send(&cmd("SET").arg(key).arg(1).timeout(Some(ADMIN_QUERY)))
                        .await;
                    admin.shutdown(Duration::from_millis(50)).await;
                    match r {
                        Ok(_) => return Ok(o.addr.clone()),
                        Err(e) => last = format!("{}: {e}", o.addr),
                    }
                }
                Some(o) => last = format!("{} still named", o.addr),
                None => last = format!("no primary serves slot {slot}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(format!(
        "slot {slot} not served again within the wait ({last})"
    ))
}

/// Waits until the node at `addr` is a replica whose link to its primary is up.
async fn wait_replica(target: &Target, addr: &str, deadline: Instant) -> Result<(), String> {
    let admin = target.admin(addr)?;
    let mut last = String::new();
    while Instant::now() < deadline {
        match admin.send(&cmd("ROLE").timeout(Some(ADMIN_QUERY))).await {
            Ok(Frame::Array(role)) => {
                let word = |i: usize| match role.get(i) {
                    Some(Frame::Bulk(b)) => String::from_utf8_lossy(b).into_owned(),
                    _ => String::new(),
                };
                if word(0) == "slave" && word(3) == "connected" {
                    admin.shutdown(Duration::from_millis(50)).await;
                    return Ok(());
                }
                last = format!("ROLE {} {}", word(0), word(3));
            }
            Ok(other) => last = format!("ROLE answered {other:?}"),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    admin.shutdown(Duration::from_millis(50)).await;
    Err(format!("{addr} not a connected replica in time ({last})"))
}

/// Removes the probe key (best effort) from the node that served it.
async fn del_probe(target: &Target, owner: &str, probe: &str) {
    if let Ok(admin) = target.admin(owner) {
        let _ = admin
            .send(&cmd("DEL").arg(probe).timeout(Some(ADMIN_QUERY)))
            .await;
        admin.shutdown(Duration::from_millis(50)).await;
    }
}

/// Stops a primary as a killed process stops, waits for its replica to serve its slots,
/// lets the shard run without it a little, restarts it and waits for it to be a replica.
/// The node is restarted whatever happened, so the cluster is whole again afterwards.
async fn stop_and_restart(
    target: &Target,
    nodes: &[Node],
    round: usize,
    started: Instant,
) -> Result<NodeEvent, String> {
    let cluster = target.cluster().ok_or("no embedded cluster")?;
    let node = victim(nodes, round)?;
    let i = target
        .node_index(&node.addr)
        .ok_or_else(|| format!("{} is not a node of the embedded cluster", node.addr))?;
    let probe = probe_key(node).ok_or("no probe key")?;
    let mut ev = NodeEvent::new("stop", node, started);
    cluster
        .lock()
        .await
        .stop_node(i)
        .await
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    ev.when = Some(t0);
    let wait = Duration::from_secs(10);
    match wait_served(target, &probe, Some(&node.addr), t0 + wait).await {
        Ok(owner) => {
            ev.served_after = Some(t0.elapsed());
            ev.promoted = Some(owner);
        }
        Err(e) => ev.error = Some(e),
    }
    // The shard runs on its new primary for a while before the old one comes back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restart = cluster.lock().await.restart_node(i).await;
    let t1 = Instant::now();
    ev.restarted_after = Some(t1 - t0);
    match restart {
        Ok(()) => match wait_replica(target, &node.addr, t1 + wait).await {
            Ok(()) => ev.rejoined_after = Some(t1.elapsed()),
            Err(e) => ev.error = Some(e),
        },
        Err(e) => ev.error = Some(format!("restart: {e}")),
    }
    if let Some(owner) = &ev.promoted {
        del_probe(target, owner, &probe).await;
    }
    Ok(ev)
}

/// Pauses a primary (it accepts and reads but answers nothing): on even rounds for three
/// node timeouts (its replica takes over while it is silent, and it rejoins as a replica
/// once it answers), on odd rounds for half a node timeout (nothing fails over; its
/// clients wait). Returns once the shard serves writes and the paused node is back.
async fn pause_node(
    target: &Target,
    nodes: &[Node],
    round: usize,
    started: Instant,
) -> Result<NodeEvent, String> {
    let cluster = target.cluster().ok_or("no embedded cluster")?;
    let node = victim(nodes, round / 2)?;
    let i = target
        .node_index(&node.addr)
        .ok_or_else(|| format!("{} is not a node of the embedded cluster", node.addr))?;
    let probe = probe_key(node).ok_or("no probe key")?;
    let long = round.is_multiple_of(2);
    let length = if long {
        EMBEDDED_NODE_TIMEOUT * 3
    } else {
        EMBEDDED_NODE_TIMEOUT / 2
    };
    let mut ev = NodeEvent::new("pause", node, started);
    ev.paused = Some(length);
    cluster
        .lock()
        .await
        .pause_node(i, length)
        .await
        .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    ev.when = Some(t0);
    let wait = Duration::from_secs(10);
    match wait_served(target, &probe, None, t0 + wait).await {
        Ok(owner) => {
            ev.served_after = Some(t0.elapsed());
            if owner != node.addr {
                ev.promoted = Some(owner);
            }
        }
        Err(e) => ev.error = Some(e),
    }
    tokio::time::sleep_until((t0 + length).into()).await;
    if ev.promoted.is_some() {
        let t1 = Instant::now();
        match wait_replica(target, &node.addr, t1 + wait).await {
            Ok(()) => ev.rejoined_after = Some(t1.elapsed()),
            Err(e) => ev.error = Some(e),
        }
    }
    del_probe(target, ev.promoted.as_deref().unwrap_or(&node.addr), &probe).await;
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_lists_share_one_slot_and_writers_differ() {
        let a = slot_of(&ack_key("r1", 3, 0));
        assert_eq!(a, slot_of(&ack_key("r1", 3, 5 * CHUNK + 7)));
        assert_ne!(ack_key("r1", 3, 0), ack_key("r1", 3, CHUNK));
        assert_ne!(ack_key("r1", 3, 0), ack_key("r1", 4, 0));
    }

    #[test]
    fn faults_that_need_a_cluster_or_replicas_say_so() {
        let primary = Node {
            addr: "h:1".into(),
            id: "a".into(),
            primary: true,
            replica_of: None,
            slots: vec![(0, 16383)],
        };
        let nodes = vec![primary];
        assert!(Fault::Kill
            .unavailable(Kind::Standalone, &nodes, false)
            .is_none());
        assert!(Fault::Migrate
            .unavailable(Kind::Standalone, &nodes, false)
            .is_some());
        assert!(Fault::Migrate
            .unavailable(Kind::Cluster, &nodes, false)
            .is_some());
        assert!(Fault::Failover
            .unavailable(Kind::Cluster, &nodes, false)
            .is_some());
        assert!(Fault::Stop
            .unavailable(Kind::Cluster, &nodes, true)
            .is_some());
    }

    #[test]
    fn node_faults_need_the_embedded_cluster_and_a_replica() {
        let nodes = vec![
            Node {
                addr: "h:1".into(),
                id: "a".into(),
                primary: true,
                replica_of: None,
                slots: vec![(0, 16383)],
            },
            Node {
                addr: "h:2".into(),
                id: "b".into(),
                primary: false,
                replica_of: Some("a".into()),
                slots: Vec::new(),
            },
        ];
        for f in [Fault::Stop, Fault::NodePause] {
            assert!(f.unavailable(Kind::Cluster, &nodes, true).is_none());
            let why = f
                .unavailable(Kind::Cluster, &nodes, false)
                .unwrap_or_default();
            assert!(why.contains("embedded"), "{why}");
        }
    }

    #[test]
    fn clients_are_served_again_at_the_end_of_the_longest_wait_on_the_shard() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let ev = NodeEvent {
            when: Some(ms(100)),
            ranges: vec![(0, 99)],
            ..NodeEvent::default()
        };
        // Before the fault, on another shard, replies in flight at the fault, then the
        // outage, then service again.
        let done = vec![
            (ms(90), 5, Via::Shared),
            (ms(400), 500, Via::Shared),
            (ms(101), 9, Via::Shared),
            (ms(700), 50, Via::Pool),
            (ms(600), 7, Via::Shared),
            (ms(602), 7, Via::Shared),
            (ms(900), 8, Via::Pool),
        ];
        let (shared, pool) = ev.clients_served(&done);
        assert_eq!(shared, Some(Duration::from_millis(500)));
        assert_eq!(pool, Some(Duration::from_millis(600)));
    }
}
