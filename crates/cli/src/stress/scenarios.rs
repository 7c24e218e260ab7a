//! The workloads of seed 004 (basic, advanced, detect) and chaos. Each scenario runs its
//! tasks until its deadline, records every operation in the scenario's `Recorder`, checks
//! what it can check on the way (values read back, counters, single-flight connects,
//! leaked sockets) and returns what the report needs besides the recorder.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockstep::{cmd, Frame, PoolStats};
use tokio::sync::Barrier;

use super::chaos::{self, AckReport, Fault, NodeEvent, Via, Writers};
use super::detect::{WatchCounts, Watchers};
use super::record::Recorder;
use super::target::{slot_of, Shared, Target};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Basic,
    Advanced,
    Detect,
    Chaos,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    ConcurrentSets,
    SmallPool,
    Sustained,
    ReadWriteMix,
    ExtremeContention,
    RapidCycles,
    Pipelines,
    ConcurrentPipelines,
    ThunderingHerd,
    Bursty,
    ClientChurn,
    Contention,
    Chaos(Fault),
}

impl Scenario {
    pub fn of(mode: Mode) -> Vec<Scenario> {
        use Scenario::*;
        match mode {
            Mode::Basic => vec![ConcurrentSets, SmallPool, Sustained, ReadWriteMix],
            Mode::Advanced => vec![
                ExtremeContention,
                RapidCycles,
                Pipelines,
                ConcurrentPipelines,
            ],
            Mode::Detect => vec![ThunderingHerd, Bursty, ClientChurn, Contention],
            Mode::Chaos => vec![
                Chaos(Fault::Kill),
                Chaos(Fault::Pause),
                Chaos(Fault::Migrate),
                Chaos(Fault::Failover),
                Chaos(Fault::Stop),
                Chaos(Fault::NodePause),
            ],
            Mode::All => [Mode::Basic, Mode::Advanced, Mode::Detect, Mode::Chaos]
                .into_iter()
                .flat_map(Scenario::of)
                .collect(),
        }
    }

    pub fn name(self) -> String {
        use Scenario::*;
        match self {
            ConcurrentSets => "concurrent-sets".into(),
            SmallPool => "small-pool".into(),
            Sustained => "sustained-load".into(),
            ReadWriteMix => "read-write-mix".into(),
            ExtremeContention => "extreme-contention".into(),
            RapidCycles => "rapid-cycles".into(),
            Pipelines => "pipelines".into(),
            ConcurrentPipelines => "concurrent-pipelines".into(),
            ThunderingHerd => "thundering-herd".into(),
            Bursty => "bursty-traffic".into(),
            ClientChurn => "client-churn".into(),
            Contention => "contention".into(),
            Chaos(f) => format!("chaos-{}", f.name().replace(' ', "-")),
        }
    }

    pub fn mode(self) -> &'static str {
        use Scenario::*;
        match self {
            ConcurrentSets | SmallPool | Sustained | ReadWriteMix => "basic",
            ExtremeContention | RapidCycles | Pipelines | ConcurrentPipelines => "advanced",
            ThunderingHerd | Bursty | ClientChurn | Contention => "detect",
            Chaos(_) => "chaos",
        }
    }

    pub fn about(self) -> &'static str {
        use Scenario::*;
        match self {
            ConcurrentSets => "50 tasks SET on the shared client",
            SmallPool => "100 tasks on a pool of 5 connections per primary",
            Sustained => "20 tasks on a pool of 10 per primary, the whole slice",
            ReadWriteMix => "30 tasks, 70% GET / 30% SET on the shared client",
            ExtremeContention => "200 tasks on a pool of 2 connections per primary",
            RapidCycles => "50 clients each: disconnect, connect, SET, GET (the seed 000 race)",
            Pipelines => "10 tasks send pipelines of 100 SETs with 1 ms pauses",
            ConcurrentPipelines => {
                "50 tasks send pipelines of SET/GET pairs at once, GET must see its SET"
            }
            ThunderingHerd => {
                "300 tasks released at once on a cold client and a cold pool: one connect each"
            }
            Bursty => "200 tasks, then 5, in 100 ms phases",
            ClientChurn => {
                "20 tasks each create a client, SET, GET, shut it down; no socket left open"
            }
            Contention => {
                "100 tasks INCR 5 hot keys over the shared client and a pool of 4; sums must match"
            }
            Chaos(Fault::Kill) => {
                "writers, readers and a pool while workload connections are killed"
            }
            Chaos(Fault::Pause) => "writers, readers and a pool while primaries pause writes",
            Chaos(Fault::Migrate) => {
                "writers, readers and a pool while slots move between primaries"
            }
            Chaos(Fault::Failover) => "writers, readers and a pool while replicas take over",
            Chaos(Fault::Stop) => {
                "writers, readers and a pool while a primary is stopped (its replica takes over) and restarted"
            }
            Chaos(Fault::NodePause) => {
                "writers, readers and a pool while a primary answers nothing, past the node timeout (its replica takes over) or within it"
            }
        }
    }

    /// The shortest slice this scenario runs, whatever `--duration` gives it: a node fault
    /// needs the node timeout, the takeover and the restart to fit in.
    pub fn min_slice(self) -> Duration {
        match self {
            Scenario::Chaos(Fault::Stop) => Duration::from_millis(2500),
            Scenario::Chaos(Fault::NodePause) => Duration::from_millis(3000),
            _ => Duration::from_millis(200),
        }
    }

    /// What one recorded operation is.
    pub fn unit(self) -> &'static str {
        match self {
            Scenario::Pipelines | Scenario::ConcurrentPipelines => "pipeline",
            _ => "command",
        }
    }
}

/// What a scenario hands the report besides its recorder.
#[derive(Default)]
pub struct Extra {
    pub tasks: usize,
    pub pool: Option<PoolStats>,
    pub watch: Option<WatchCounts>,
    pub ack: Option<AckReport>,
    pub faults: BTreeMap<String, u64>,
    /// What each node fault did, with its times.
    pub events: Vec<NodeEvent>,
    /// Checks that failed (besides operation errors).
    pub violations: Vec<String>,
    /// Facts worth reading (connects per cold client, ...).
    pub notes: Vec<String>,
    /// Why the scenario did not run, if it did not.
    pub skipped: Option<String>,
}

pub struct Ctx<'a> {
    pub target: &'a Target,
    pub rec: Arc<Recorder>,
    pub until: Instant,
    /// Distinguishes this run's keys from earlier runs' on a server that kept them.
    pub run: String,
}

/// Runs `n` tasks of `f` and waits for them; a task that panicked is a failure.
async fn tasks<F, Fut>(rec: &Recorder, n: usize, f: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    for h in handles {
        if let Err(e) = h.await {
            rec.check_failed(format!("a workload task ended abnormally: {e}"));
        }
    }
}

/// A small xorshift: the workloads need spread, not quality.
struct Rng(u64);

impl Rng {
    fn new(seed: usize) -> Rng {
        Rng((seed as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn before(until: Instant) -> bool {
    Instant::now() < until
}

pub async fn run(s: Scenario, ctx: &Ctx<'_>) -> Result<Extra, String> {
    use Scenario::*;
    match s {
        ConcurrentSets => shared_load(ctx, 50, 0).await,
        ReadWriteMix => shared_load(ctx, 30, 70).await,
        SmallPool => pool_load(ctx, 100, 5).await,
        Sustained => pool_load(ctx, 20, 10).await,
        ExtremeContention => pool_load(ctx, 200, 2).await,
        RapidCycles => rapid_cycles(ctx).await,
        Pipelines => pipelines(ctx, 10, 100, Duration::from_millis(1)).await,
        ConcurrentPipelines => pipelines(ctx, 50, 20, Duration::ZERO).await,
        ThunderingHerd => thundering_herd(ctx).await,
        Bursty => bursty(ctx).await,
        ClientChurn => client_churn(ctx).await,
        Contention => contention(ctx).await,
        Chaos(fault) => chaos_run(ctx, fault).await,
    }
}

/// `n` tasks on one shared client; `read_pct` percent GETs, the rest SETs.
async fn shared_load(ctx: &Ctx<'_>, n: usize, read_pct: usize) -> Result<Extra, String> {
    let shared = ctx.target.shared();
    shared.connect().await.map_err(|e| e.to_string())?;
    let (rec, until) = (ctx.rec.clone(), ctx.until);
    tasks(&ctx.rec, n, |i| {
        let (shared, rec) = (shared.clone(), rec.clone());
        async move {
            let mut rng = Rng::new(i);
            while before(until) {
                let key = format!("stress:mix:{}", rng.below(1000));
                let c = if rng.below(100) < read_pct {
                    cmd("GET").arg(key)
                } else {
                    cmd("SET").arg(key).arg(format!("v{i}"))
                };
                let t = Instant::now();
                let r = shared.send(&c).await;
                rec.record(t, &r);
            }
        }
    })
    .await;
    shared.close().await;
    Ok(Extra {
        tasks: n,
        ..Extra::default()
    })
}

/// `n` tasks on pools of `size` connections per primary, half GET half SET.
async fn pool_load(ctx: &Ctx<'_>, n: usize, size: usize) -> Result<Extra, String> {
    let pools = Arc::new(ctx.target.pools(size, Duration::from_secs(4)).await?);
    let (rec, until) = (ctx.rec.clone(), ctx.until);
    tasks(&ctx.rec, n, |i| {
        let (pools, rec) = (pools.clone(), rec.clone());
        async move {
            let mut rng = Rng::new(i);
            while before(until) {
                let keys = pools.keys(i);
                let key = keys[rng.below(keys.len())].as_str();
                let c = if rng.below(2) == 0 {
                    cmd("GET").arg(key)
                } else {
                    cmd("SET").arg(key).arg(i)
                };
                let t = Instant::now();
                let r = pools.send(&c).await;
                rec.record(t, &r);
            }
        }
    })
    .await;
    let stats = pools.stats();
    pools.close();
    Ok(Extra {
        tasks: n,
        pool: Some(stats),
        ..Extra::default()
    })
}

/// Seed 000: each task owns a client and cycles disconnect → connect → SET → GET. Any
/// error (an "aborted" connect, a command refused after connect) is a failure; a GET that
/// does not see its SET is one too.
async fn rapid_cycles(ctx: &Ctx<'_>) -> Result<Extra, String> {
    let n = 50;
    let watchers = Arc::new(Watchers::default());
    let clients: Vec<Shared> = (0..n).map(|_| ctx.target.shared()).collect();
    for c in &clients {
        if let Some(single) = c.single() {
            watchers.watch(single);
        }
    }
    let (rec, until, run) = (ctx.rec.clone(), ctx.until, ctx.run.clone());
    tasks(&ctx.rec, n, |i| {
        let (client, rec, run) = (clients[i].clone(), rec.clone(), run.clone());
        async move {
            let key = format!("stress:cycle:{{{run}}}:{i}");
            let mut round = 0u64;
            while before(until) {
                round += 1;
                client.disconnect().await;
                let t = Instant::now();
                if let Err(e) = client.connect().await {
                    rec.error(&e);
                    continue;
                }
                let r = client.send(&cmd("SET").arg(key.as_str()).arg(round)).await;
                if rec.record(t, &r) != super::record::Outcome::Ok {
                    continue;
                }
                let t = Instant::now();
                match client.send(&cmd("GET").arg(key.as_str())).await {
                    Ok(Frame::Bulk(b)) if b == round.to_string().as_bytes() => rec.ok_after(t),
                    Ok(other) => rec.check_failed(format!(
                        "GET after SET on a fresh connection answered {other:?}"
                    )),
                    Err(e) => {
                        rec.error(&e);
                    }
                }
            }
        }
    })
    .await;
    for c in clients {
        c.close().await;
    }
    Ok(Extra {
        tasks: n,
        watch: watchers.finish().await,
        ..Extra::default()
    })
}

/// Tasks sending pipelines: SET k v, GET k pairs (`len` commands), each GET must answer
/// the value its pair just set.
async fn pipelines(ctx: &Ctx<'_>, n: usize, len: usize, pause: Duration) -> Result<Extra, String> {
    let shared = ctx.target.shared();
    shared.connect().await.map_err(|e| e.to_string())?;
    let (rec, until) = (ctx.rec.clone(), ctx.until);
    tasks(&ctx.rec, n, |i| {
        let (shared, rec) = (shared.clone(), rec.clone());
        async move {
            let mut rng = Rng::new(i);
            let mut round = 0u64;
            while before(until) {
                round += 1;
                let mut cmds = Vec::with_capacity(len);
                let mut expect = Vec::with_capacity(len / 2);
                for j in 0..len / 2 {
                    let key = format!("stress:pipe:{i}:{}", rng.below(50));
                    let value = format!("{i}-{round}-{j}");
                    cmds.push(cmd("SET").arg(key.as_str()).arg(value.as_str()));
                    cmds.push(cmd("GET").arg(key.as_str()));
                    expect.push(value);
                }
                let t = Instant::now();
                match shared.pipeline(cmds).await {
                    Ok(replies) => {
                        let wrong = replies
                            .chunks(2)
                            .zip(&expect)
                            .filter(|(pair, v)| {
                                !matches!(pair, [Frame::Simple(ok), Frame::Bulk(got)]
                                    if &ok[..] == b"OK" && got == v.as_bytes())
                            })
                            .count();
                        if wrong == 0 && replies.len() == len / 2 * 2 {
                            rec.ok_after(t);
                        } else {
                            rec.check_failed(format!(
                                "pipeline replies out of order or wrong ({wrong} of {} pairs)",
                                expect.len()
                            ));
                        }
                    }
                    Err(e) => {
                        rec.error(&e);
                    }
                }
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
        }
    })
    .await;
    shared.close().await;
    Ok(Extra {
        tasks: n,
        ..Extra::default()
    })
}

/// Rounds of: a cold shared client and a cold pool, 300 tasks released by one barrier,
/// one command each. A standalone client must connect once per round (single flight,
/// seed 002).
async fn thundering_herd(ctx: &Ctx<'_>) -> Result<Extra, String> {
    let n = 300;
    let mut extra = Extra {
        tasks: n,
        ..Extra::default()
    };
    let mut rounds = 0u64;
    let mut pool_stats = PoolStats::default();
    let mut connects = 0u64;
    while before(ctx.until) {
        rounds += 1;
        let shared = ctx.target.shared();
        let pools = Arc::new(ctx.target.pools(10, Duration::from_secs(4)).await?);
        let barrier = Arc::new(Barrier::new(n));
        let rec = ctx.rec.clone();
        tasks(&ctx.rec, n, |i| {
            let (shared, pools, barrier, rec) =
                (shared.clone(), pools.clone(), barrier.clone(), rec.clone());
            async move {
                barrier.wait().await;
                let t = Instant::now();
                let r = if i % 2 == 0 {
                    shared
                        .send(&cmd("SET").arg(format!("stress:herd:{i}")).arg(i))
                        .await
                } else {
                    let keys = pools.keys(i);
                    pools
                        .send(&cmd("GET").arg(keys[i % keys.len()].as_str()))
                        .await
                };
                rec.record(t, &r);
            }
        })
        .await;
        if let Some(c) = shared.single() {
            let m = c.metrics();
            connects += m.connects;
            if m.connect_attempts > 1 {
                extra.violations.push(format!(
                    "round {rounds}: {} connection attempts for one cold client (single flight broken)",
                    m.connect_attempts
                ));
            }
        }
        let s = pools.stats();
        pool_stats.hits += s.hits;
        pool_stats.misses += s.misses;
        pool_stats.waits += s.waits;
        pool_stats.timeouts += s.timeouts;
        pool_stats.wait_duration += s.wait_duration;
        pool_stats.stale += s.stale;
        pool_stats.state_violations += s.state_violations;
        pool_stats.total = pool_stats.total.max(s.total);
        pools.close();
        shared.close().await;
    }
    extra.pool = Some(pool_stats);
    extra.notes.push(format!("{rounds} herds"));
    if ctx.target.kind == super::target::Kind::Standalone {
        extra
            .notes
            .push(format!("{connects} connects for {rounds} cold clients"));
    }
    Ok(extra)
}

/// 200 tasks; in even 100 ms phases all run, in odd ones only 5.
async fn bursty(ctx: &Ctx<'_>) -> Result<Extra, String> {
    let n = 200;
    let shared = ctx.target.shared();
    let pools = Arc::new(ctx.target.pools(10, Duration::from_secs(4)).await?);
    let start = Instant::now();
    let phase = Duration::from_millis(100);
    let (rec, until) = (ctx.rec.clone(), ctx.until);
    tasks(&ctx.rec, n, |i| {
        let (shared, pools, rec) = (shared.clone(), pools.clone(), rec.clone());
        async move {
            let mut rng = Rng::new(i);
            while before(until) {
                let k = start.elapsed().as_millis() / phase.as_millis();
                if k % 2 == 1 && i >= 5 {
                    let next = start + phase * (k as u32 + 1);
                    tokio::time::sleep_until(next.min(until).into()).await;
                    continue;
                }
                let t = Instant::now();
                let r = if i % 2 == 0 {
                    shared
                        .send(
                            &cmd("SET")
                                .arg(format!("stress:burst:{}", rng.below(500)))
                                .arg(i),
                        )
                        .await
                } else {
                    let keys = pools.keys(i);
                    pools
                        .send(&cmd("GET").arg(keys[rng.below(keys.len())].as_str()))
                        .await
                };
                rec.record(t, &r);
            }
        }
    })
    .await;
    let stats = pools.stats();
    pools.close();
    shared.close().await;
    Ok(Extra {
        tasks: n,
        pool: Some(stats),
        ..Extra::default()
    })
}

/// Clients created and shut down in a loop: every one must work at once, and a
/// standalone one must leave no socket open.
async fn client_churn(ctx: &Ctx<'_>) -> Result<Extra, String> {
    let n = 20;
    let watchers = Arc::new(Watchers::default());
    let leaks = Arc::new(AtomicU64::new(0));
    let clients = Arc::new(AtomicU64::new(0));
    let target = ctx.target;
    let (rec, until) = (ctx.rec.clone(), ctx.until);
    // Clients are built here (a Target is not 'static), handed to tasks over a channel.
    let (tx, rx) = tokio::sync::mpsc::channel::<(usize, Shared)>(n);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let producer = async {
        let mut i = 0usize;
        while before(until) {
            let c = target.shared();
            if let Some(single) = c.single() {
                watchers.watch(single);
            }
            if tx.send((i, c)).await.is_err() {
                break;
            }
            i += 1;
        }
        drop(tx);
    };
    let consumers = tasks(&ctx.rec, n, |_| {
        let (rx, rec, leaks, clients) = (rx.clone(), rec.clone(), leaks.clone(), clients.clone());
        async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some((i, client)) = next else { break };
                clients.fetch_add(1, Ordering::Relaxed);
                let key = format!("stress:churn:{}", i % 100);
                let t = Instant::now();
                let r = client.send(&cmd("SET").arg(key.as_str()).arg(i)).await;
                if rec.record(t, &r) == super::record::Outcome::Ok {
                    let t = Instant::now();
                    let r = client.send(&cmd("GET").arg(key.as_str())).await;
                    rec.record(t, &r);
                }
                let single = client.single().cloned();
                client.close().await;
                if let Some(c) = single {
                    if c.metrics().sockets_open != 0 {
                        leaks.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    tokio::join!(producer, consumers);
    let mut extra = Extra {
        tasks: n,
        watch: watchers.finish().await,
        ..Extra::default()
    };
    let leaked = leaks.load(Ordering::Relaxed);
    if leaked > 0 {
        extra.violations.push(format!(
            "{leaked} clients left a socket open after shutdown"
        ));
    }
    extra.notes.push(format!(
        "{} clients created and shut down",
        clients.load(Ordering::Relaxed)
    ));
    Ok(extra)
}

/// 100 tasks INCR 5 hot keys, half over the shared client, half over a pool of 4; every
/// key must end equal to the increments acknowledged on it.
async fn contention(ctx: &Ctx<'_>) -> Result<Extra, String> {
    let n = 100;
    let hot = 5;
    let keys: Vec<String> = (0..hot)
        .map(|k| format!("stress:hot:{{{}}}:{k}", ctx.run))
        .collect();
    let shared = ctx.target.shared();
    for k in &keys {
        shared
            .send(&cmd("DEL").arg(k.as_str()))
            .await
            .map_err(|e| format!("DEL {k}: {e}"))?;
    }
    // The hot keys share a hash tag, so one primary serves them: one pool of 4.
    let pools = Arc::new(ctx.target.pools(4, Duration::from_secs(4)).await?);
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..hot).map(|_| AtomicU64::new(0)).collect());
    let uncertain = Arc::new(AtomicU64::new(0));
    let (rec, until) = (ctx.rec.clone(), ctx.until);
    let keys = Arc::new(keys);
    tasks(&ctx.rec, n, |i| {
        let (shared, pools, rec, acked, keys, uncertain) = (
            shared.clone(),
            pools.clone(),
            rec.clone(),
            acked.clone(),
            keys.clone(),
            uncertain.clone(),
        );
        async move {
            let mut rng = Rng::new(i);
            while before(until) {
                let k = rng.below(keys.len());
                let c = cmd("INCR").arg(keys[k].as_str());
                let t = Instant::now();
                let r = if i % 2 == 0 {
                    shared.send(&c).await
                } else {
                    pools.send(&c).await
                };
                match &r {
                    Ok(Frame::Integer(_)) => {
                        acked[k].fetch_add(1, Ordering::Relaxed);
                        rec.ok_after(t);
                    }
                    Ok(other) => rec.check_failed(format!("INCR answered {other:?}")),
                    Err(e) => {
                        if !e.not_sent() {
                            uncertain.fetch_add(1, Ordering::Relaxed);
                        }
                        rec.error(e);
                    }
                }
            }
        }
    })
    .await;
    let mut extra = Extra {
        tasks: n,
        pool: Some(pools.stats()),
        ..Extra::default()
    };
    let uncertain = uncertain.load(Ordering::Relaxed);
    for (k, key) in keys.iter().enumerate() {
        let want = acked[k].load(Ordering::Relaxed);
        match shared
            .query::<Option<u64>>(cmd("GET").arg(key.as_str()))
            .await
        {
            Ok(got) => {
                let got = got.unwrap_or(0);
                // Increments that may have run make the value larger, never smaller.
                if got < want || got > want + uncertain {
                    extra.violations.push(format!(
                        "{key}: {want} increments acknowledged, value {got}"
                    ));
                }
            }
            Err(e) => extra
                .violations
                .push(format!("{key}: read back failed: {e}")),
        }
        let _ = shared.send(&cmd("DEL").arg(key.as_str())).await;
    }
    extra.notes.push(format!(
        "{} increments acknowledged",
        acked.iter().map(|a| a.load(Ordering::Relaxed)).sum::<u64>()
    ));
    pools.close();
    shared.close().await;
    Ok(extra)
}

/// Writers (acknowledged-writes check), readers and a pool workload while `fault` is
/// injected.
async fn chaos_run(ctx: &Ctx<'_>, fault: Fault) -> Result<Extra, String> {
    let nodes = ctx.target.nodes().await?;
    if let Some(why) = fault.unavailable(ctx.target.kind, &nodes, ctx.target.is_embedded()) {
        return Ok(Extra {
            skipped: Some(why),
            ..Extra::default()
        });
    }
    let n_writers = 16;
    let n_readers = 8;
    let n_pool = 8;
    let shared = ctx.target.shared();
    shared.connect().await.map_err(|e| e.to_string())?;
    let pools = Arc::new(ctx.target.pools(4, Duration::from_secs(4)).await?);
    let writers = Arc::new(Writers::new(ctx.run.clone(), n_writers));
    let stop = Arc::new(AtomicBool::new(false));
    let faults = Arc::new(Mutex::new(BTreeMap::new()));
    let events = Arc::new(Mutex::new(Vec::new()));
    let injector = chaos::inject(
        fault,
        ctx.target,
        &ctx.run,
        n_writers,
        stop.clone(),
        ctx.until,
        faults.clone(),
        events.clone(),
    );
    // Node faults are measured from the clients' side too: every success, when and on
    // which slot (each task keeps its own list, handed over at its end).
    let track = fault.on_nodes();
    let done: Arc<Mutex<Vec<(Instant, u16, Via)>>> = Arc::new(Mutex::new(Vec::new()));
    let (rec, until, run) = (ctx.rec.clone(), ctx.until, ctx.run.clone());
    let load = async {
        tasks(&ctx.rec, n_writers + n_readers + n_pool, |i| {
            let (shared, pools, writers, rec, done, run) = (
                shared.clone(),
                pools.clone(),
                writers.clone(),
                rec.clone(),
                done.clone(),
                run.clone(),
            );
            async move {
                let mut rng = Rng::new(i);
                let mut mine = Vec::new();
                let writer_slot = slot_of(&chaos::ack_key(&run, i, 0)).unwrap_or(0);
                while before(until) {
                    let t = Instant::now();
                    let (slot, via, outcome) = if i < n_writers {
                        let r = writers.write(&shared, i).await;
                        (writer_slot, Via::Shared, rec.record(t, &r))
                    } else if i < n_writers + n_readers {
                        let key = format!("stress:mix:{}", rng.below(1000));
                        let slot = if track { slot_of(&key).unwrap_or(0) } else { 0 };
                        let r = shared.send(&cmd("GET").arg(key)).await;
                        (slot, Via::Shared, rec.record(t, &r))
                    } else {
                        let keys = pools.keys(i);
                        let key = keys[rng.below(keys.len())].as_str();
                        let slot = if track { slot_of(key).unwrap_or(0) } else { 0 };
                        let r = pools.send(&cmd("GET").arg(key)).await;
                        (slot, Via::Pool, rec.record(t, &r))
                    };
                    if track && outcome == super::record::Outcome::Ok {
                        mine.push((Instant::now(), slot, via));
                    }
                }
                done.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
            }
        })
        .await;
        stop.store(true, Ordering::Relaxed);
    };
    tokio::join!(load, injector);
    let stats = pools.stats();
    let (moved, refreshes) = pools.routing();
    pools.close();
    // Read back through a client that saw none of the faults.
    let reader = ctx.target.shared();
    let ack = chaos::check(&writers, &reader).await;
    reader.close().await;
    shared.close().await;
    let faults = faults.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut events = std::mem::take(&mut *events.lock().unwrap_or_else(|p| p.into_inner()));
    {
        let done = done.lock().unwrap_or_else(|p| p.into_inner());
        for ev in &mut events {
            (ev.shared_after, ev.pool_after) = ev.clients_served(&done);
        }
    }
    let mut extra = Extra {
        tasks: n_writers + n_readers + n_pool,
        pool: Some(stats),
        ack: Some(ack),
        faults,
        ..Extra::default()
    };
    for ev in &events {
        if let Some(e) = &ev.error {
            extra
                .violations
                .push(format!("{} {}: {e}", ev.fault, ev.node));
        }
    }
    extra.events = events;
    if moved + refreshes > 0 {
        extra.notes.push(format!(
            "pools followed {moved} MOVED replies and fetched the slot map {refreshes} times"
        ));
    }
    let injected: u64 = extra
        .faults
        .iter()
        .filter(|(k, _)| k.as_str() != "injections that failed")
        .map(|(_, v)| v)
        .sum();
    if injected == 0 {
        extra
            .violations
            .push(format!("no {} could be injected", fault.name()));
    }
    Ok(extra)
}
