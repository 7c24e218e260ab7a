//! Seed 004: a small pool under many concurrent tasks (pool of 5 with 100 tasks, pool of 2
//! with 200), with the pool's per-state counts and go-redis-style stats.
//!
//! ```text
//! cargo run -p lockstep --example pool_contention -- --iterations 100
//! cargo run -p lockstep --example pool_contention -- --url redis://127.0.0.1:6379
//! ```
//! Without `--url` it starts a lockstep server of its own. Pool timeouts are counted and
//! reported (a tiny pool is expected to produce them with `--pool-timeout-ms` small); any
//! other failure, or any invalid state transition, exits non-zero.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use lockstep::{Commands, Config, ConnState, Error, Pool, PoolOptions};

mod common;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    url: common::UrlArg,
    /// Operations per task.
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    #[arg(long, default_value_t = 1000)]
    pool_timeout_ms: u64,
}

async fn scenario(
    config: &Config,
    size: usize,
    tasks: usize,
    ops: usize,
    pool_timeout: Duration,
) -> usize {
    println!("\npool of {size}, {tasks} concurrent tasks × {ops} SET/GET");
    let pool = Pool::new(
        config.clone(),
        PoolOptions {
            size,
            pool_timeout,
            ..PoolOptions::default()
        },
    );
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let (mut ok, mut pool_timeouts, mut failed, mut latency) =
                    (0usize, 0usize, 0usize, Duration::ZERO);
                for i in 0..ops {
                    let op = Instant::now();
                    let r = async {
                        let c = pool.get().await?;
                        c.set(format!("pool_contention:{t}"), i).await?;
                        let v: usize = c.get(format!("pool_contention:{t}")).await?;
                        if v != i {
                            return Err(Error::Protocol(format!("read {v}, wrote {i}")));
                        }
                        Ok(())
                    }
                    .await;
                    match r {
                        Ok(()) => {
                            ok += 1;
                            latency += op.elapsed();
                        }
                        Err(Error::PoolTimeout { .. }) => pool_timeouts += 1,
                        Err(e) => {
                            failed += 1;
                            eprintln!("task {t}: {e}");
                        }
                    }
                }
                (ok, pool_timeouts, failed, latency)
            })
        })
        .collect();
    let (mut ok, mut pool_timeouts, mut failed, mut latency) = (0, 0, 0, Duration::ZERO);
    for h in handles {
        match h.await {
            Ok((o, t, f, l)) => {
                ok += o;
                pool_timeouts += t;
                failed += f;
                latency += l;
            }
            Err(e) => {
                failed += 1;
                eprintln!("task panicked: {e}");
            }
        }
    }
    let took = started.elapsed();
    let total = tasks * ops;
    let s = pool.stats();
    println!(
        "  completed in {took:.2?}: {:.0} ops/s",
        total as f64 / took.as_secs_f64()
    );
    println!("  total operations: {total}");
    println!("  successful:       {ok}");
    println!("  failed:           {failed}");
    println!(
        "  pool timeouts:    {pool_timeouts} (pool counted {})",
        s.timeouts
    );
    if ok > 0 {
        println!("  avg latency:      {:.2?}", latency / ok as u32);
    }
    println!(
        "  pool stats: hits {} misses {} waits {} wait {:.2?} stale {} total {} idle {}",
        s.hits, s.misses, s.waits, s.wait_duration, s.stale, s.total, s.idle
    );
    println!(
        "  per state: created {} initializing {} idle {} in_use {} unusable {} closed {}; invalid transitions {}",
        s.in_state(ConnState::Created),
        s.in_state(ConnState::Initializing),
        s.in_state(ConnState::Idle),
        s.in_state(ConnState::InUse),
        s.in_state(ConnState::Unusable),
        s.in_state(ConnState::Closed),
        s.state_violations
    );
    let mut errors = failed + s.state_violations as usize;
    if s.timeouts as usize != pool_timeouts
        || s.total > size as u64
        || s.in_state(ConnState::InUse) != 0
    {
        eprintln!("  error: pool accounting is inconsistent");
        errors += 1;
    }
    errors
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let target = common::Target::from_arg(args.url);
    println!("pool_contention against {}", target.url);
    let timeout = Duration::from_millis(args.pool_timeout_ms);
    let mut errors = scenario(&target.config, 5, 100, args.iterations, timeout).await;
    errors += scenario(&target.config, 2, 200, args.iterations, timeout).await;
    println!("\n{errors} errors");
    common::exit_code(errors)
}
