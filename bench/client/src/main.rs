//! One measurement: N tasks doing SET then GET over ONE connection of one client, against
//! a redis-server that is already running. Prints one line of `key=value` pairs that
//! `scripts/bench-client` collects; run that script rather than this binary by hand.
//!
//! ```text
//! lockstep-client-bench --client ours|redis-rs|fred --tasks 50 [--seconds 2] [--warmup 0.5]
//!                       [--url redis://127.0.0.1:28100] [--threads 1] [--value-size 32]
//!                       [--pipeline 100]
//! ```
//!
//! CPU per op is the whole process's user+system time (getrusage) over the measured window
//! divided by the operations completed in it: it includes the runtime, the driver tasks and
//! the syscalls, which is what a user pays.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Ours,
    RedisRs,
    Fred,
}

struct Args {
    client: Which,
    tasks: usize,
    seconds: f64,
    warmup: f64,
    url: String,
    threads: usize,
    value_size: usize,
    /// Commands per call, as pipelines of SET/GET pairs; 0: one SET then one GET.
    pipeline: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        client: Which::Ours,
        tasks: 1,
        seconds: 2.0,
        warmup: 0.5,
        url: "redis://127.0.0.1:6379".into(),
        threads: 1,
        value_size: 32,
        pipeline: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--client" => {
                a.client = match val()?.as_str() {
                    "ours" | "lockstep" => Which::Ours,
                    "redis-rs" | "redis" => Which::RedisRs,
                    "fred" => Which::Fred,
                    other => return Err(format!("unknown client {other:?}")),
                }
            }
            "--tasks" => a.tasks = val()?.parse().map_err(|e| format!("--tasks: {e}"))?,
            "--seconds" => a.seconds = val()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--warmup" => a.warmup = val()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--url" => a.url = val()?,
            "--threads" => a.threads = val()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--pipeline" => a.pipeline = val()?.parse().map_err(|e| format!("--pipeline: {e}"))?,
            "--value-size" => {
                a.value_size = val()?.parse().map_err(|e| format!("--value-size: {e}"))?
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.tasks == 0 {
        return Err("--tasks must be at least 1".into());
    }
    Ok(a)
}

/// User + system CPU time of the whole process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

/// One client's SET+GET pair on `key`; all three implement it over one connection.
#[derive(Clone)]
enum Conn {
    Ours(lockstep::Client),
    RedisRs(redis::aio::MultiplexedConnection),
    Fred(fred::clients::Client),
}

impl Conn {
    async fn open(which: Which, url: &str) -> Result<Conn, BoxErr> {
        Ok(match which {
            Which::Ours => {
                let c = lockstep::Client::new(lockstep::Config::from_url(url)?);
                c.connect().await?;
                Conn::Ours(c)
            }
            Which::RedisRs => {
                let c = redis::Client::open(url)?;
                Conn::RedisRs(c.get_multiplexed_async_connection().await?)
            }
            Which::Fred => {
                use fred::prelude::*;
                let c = Builder::from_config(Config::from_url(url)?).build()?;
                c.init().await?;
                Conn::Fred(c)
            }
        })
    }

    /// One pipeline of `n` commands (SET and GET alternating on `key`), sent as one call;
    /// answers the operations done.
    async fn pipeline(&mut self, key: &str, value: &[u8], n: usize) -> Result<usize, BoxErr> {
        let gets = n / 2;
        let got: Vec<Option<Vec<u8>>> = match self {
            Conn::Ours(c) => {
                let mut p = c.pipeline();
                for _ in 0..gets {
                    p.cmd(lockstep::cmd("SET").arg(key).arg(value));
                    p.cmd(lockstep::cmd("GET").arg(key));
                }
                let replies: Vec<lockstep::Frame> = p.query().await?;
                replies
                    .into_iter()
                    .skip(1)
                    .step_by(2)
                    .map(|f| f.as_bytes().map(<[u8]>::to_vec))
                    .collect()
            }
            Conn::RedisRs(c) => {
                let mut p = redis::pipe();
                for _ in 0..gets {
                    p.cmd("SET").arg(key).arg(value).ignore();
                    p.cmd("GET").arg(key);
                }
                p.query_async(c).await?
            }
            Conn::Fred(c) => {
                use fred::prelude::*;
                let p = c.pipeline();
                for _ in 0..gets {
                    p.set::<(), _, _>(key, value, None, None, false).await?;
                    p.get::<(), _>(key).await?;
                }
                let all: Vec<fred::types::Value> = p.all().await?;
                all.into_iter()
                    .skip(1)
                    .step_by(2)
                    .map(|v| v.as_bytes().map(<[u8]>::to_vec))
                    .collect()
            }
        };
        if got.len() != gets
            || got
                .iter()
                .any(|v| v.as_ref().map(Vec::len) != Some(value.len()))
        {
            return Err(format!("pipeline on {key}: unexpected replies").into());
        }
        Ok(gets * 2)
    }

    async fn set_get(&mut self, key: &str, value: &[u8]) -> Result<usize, BoxErr> {
        let got: Option<Vec<u8>> = match self {
            Conn::Ours(c) => {
                use lockstep::Commands;
                c.set(key, value).await?;
                c.get(key).await?
            }
            Conn::RedisRs(c) => {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .query_async::<()>(c)
                    .await?;
                redis::cmd("GET").arg(key).query_async(c).await?
            }
            Conn::Fred(c) => {
                use fred::prelude::*;
                c.set::<(), _, _>(key, value, None, None, false).await?;
                c.get(key).await?
            }
        };
        match got {
            Some(v) if v.len() == value.len() => Ok(2),
            other => {
                Err(format!("GET {key}: expected {} bytes, got {other:?}", value.len()).into())
            }
        }
    }
}

async fn run(a: Args) -> Result<(), BoxErr> {
    let conn = Conn::open(a.client, &a.url).await?;
    let ops = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let value = vec![b'v'; a.value_size];
    let mut handles = Vec::with_capacity(a.tasks);
    for t in 0..a.tasks {
        let (mut conn, ops, stop, value) = (conn.clone(), ops.clone(), stop.clone(), value.clone());
        let pipeline = a.pipeline;
        handles.push(tokio::spawn(async move {
            let key = format!("bench:{t}");
            while !stop.load(Ordering::Relaxed) {
                let n = if pipeline > 0 {
                    conn.pipeline(&key, &value, pipeline).await?
                } else {
                    conn.set_get(&key, &value).await?
                };
                ops.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok::<_, BoxErr>(())
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    let (ops0, cpu0, t0) = (ops.load(Ordering::Relaxed), cpu_time(), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(a.seconds)).await;
    let (ops1, cpu1, t1) = (ops.load(Ordering::Relaxed), cpu_time(), Instant::now());
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await??;
    }
    if let Conn::Ours(c) = &conn {
        let m = c.metrics();
        eprintln!(
            "ours: {} commands in {} writes ({:.1} per write)",
            m.commands,
            m.writes,
            m.commands as f64 / m.writes.max(1) as f64
        );
    }
    let n = ops1 - ops0;
    let secs = (t1 - t0).as_secs_f64();
    let cpu = (cpu1 - cpu0).as_secs_f64();
    let name = match a.client {
        Which::Ours => "ours",
        Which::RedisRs => "redis-rs",
        Which::Fred => "fred",
    };
    println!(
        "client={name} tasks={} ops={n} secs={secs:.3} ops_per_s={:.0} cpu_us_per_op={:.3} cpu_util={:.2}",
        a.tasks,
        n as f64 / secs,
        cpu * 1e6 / n.max(1) as f64,
        cpu / secs,
    );
    Ok(())
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lockstep-client-bench: {e}");
            std::process::exit(2);
        }
    };
    let mut rt = if a.threads == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(a.threads);
        b
    };
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lockstep-client-bench: runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(a)) {
        eprintln!("lockstep-client-bench: {e}");
        std::process::exit(1);
    }
}
