//! Faults injected from outside while the workloads run, and the acknowledged-writes
//! check.
//!
//! Faults use only what any Redis server answers, so they work on the embedded cluster
//! and on real servers alike: CLIENT KILL of the workload's own connections (named
//! `lockstep-stress`; nobody else's), CLIENT PAUSE WRITE, live slot migration
//! (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE, as `redis-cli --cluster
//! reshard` does) and CLUSTER FAILOVER on a replica. Node stop/restart needs the embedded
//! cluster to expose it, which it does not yet.
//!
//! Acknowledged writes: each writer RPUSHes its own sequence numbers to lists of its own.
//! Afterwards every list is read back: a number acknowledged but absent is lost, a number
//! present twice is duplicated, a number whose RPUSH failed as certainly not run but is
//! present is a phantom. Any of the three fails the run.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockstep::{cmd, Client, Cmd};

use super::target::{slot_of, Kind, Node, Shared, Target, CLIENT_NAME};

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
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "connection kills",
            Fault::Pause => "write pauses",
            Fault::Migrate => "slot migrations",
            Fault::Failover => "failovers",
        }
    }

    /// Why this fault cannot be injected into `nodes`, if it cannot.
    pub fn unavailable(self, kind: Kind, nodes: &[Node]) -> Option<String> {
        let primaries = nodes.iter().filter(|n| n.primary).count();
        match self {
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
pub async fn inject(
    fault: Fault,
    target: &Target,
    run: &str,
    writers: usize,
    stop: Arc<AtomicBool>,
    faults: Arc<Mutex<BTreeMap<String, u64>>>,
) {
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
    admin_send(&s, setslot("MIGRATING", &dst.id)).await?;
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
            slots: vec![(0, 16383)],
        };
        let nodes = vec![primary];
        assert!(Fault::Kill.unavailable(Kind::Standalone, &nodes).is_none());
        assert!(Fault::Migrate
            .unavailable(Kind::Standalone, &nodes)
            .is_some());
        assert!(Fault::Migrate.unavailable(Kind::Cluster, &nodes).is_some());
        assert!(Fault::Failover.unavailable(Kind::Cluster, &nodes).is_some());
    }
}
