//! Seed 002: many tasks call `connect()` at the same moment; they must share one attempt.
//!
//! ```text
//! cargo run -p lockstep --example concurrent_connect -- --iterations 20 --tasks 1000
//! cargo run -p lockstep --example concurrent_connect -- --url redis://127.0.0.1:6379
//! ```
//! Without `--url` it starts a lockstep server of its own. Each iteration uses a fresh
//! client. Exits non-zero on any error, or if an iteration opened more than one socket.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use lockstep::{Client, Commands};

mod common;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    url: common::UrlArg,
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Concurrent connect() calls per iteration.
    #[arg(long, default_value_t = 1000)]
    tasks: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let target = common::Target::from_arg(args.url);
    let url = &target.url;
    println!(
        "concurrent_connect: {} iterations of {} concurrent connect() calls against {url}",
        args.iterations, args.tasks
    );
    let started = Instant::now();
    let mut errors = 0usize;
    for i in 0..args.iterations {
        let client = Client::new(target.config.clone());
        let barrier = Arc::new(tokio::sync::Barrier::new(args.tasks));
        let handles: Vec<_> = (0..args.tasks)
            .map(|_| {
                let (c, b) = (client.clone(), barrier.clone());
                tokio::spawn(async move {
                    b.wait().await;
                    c.connect().await
                })
            })
            .collect();
        for h in handles {
            match h.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    errors += 1;
                    if errors <= 10 {
                        eprintln!("iteration {i}: connect failed: {e}");
                    }
                }
                Err(e) => {
                    errors += 1;
                    eprintln!("iteration {i}: task panicked: {e}");
                }
            }
        }
        if let Err(e) = client.ping().await {
            errors += 1;
            eprintln!("iteration {i}: PING failed: {e}");
        }
        let m = client.metrics();
        if m.connect_attempts != 1 || m.sockets_opened != 1 {
            errors += 1;
            eprintln!(
                "iteration {i}: {} attempts and {} sockets for one client (want 1 and 1)",
                m.connect_attempts, m.sockets_opened
            );
        }
        client.shutdown(std::time::Duration::from_secs(1)).await;
    }
    println!(
        "done in {:.2?}: {} iterations × {} connect() calls, {errors} errors",
        started.elapsed(),
        args.iterations,
        args.tasks
    );
    common::exit_code(errors)
}
