//! Seed 000: connect → command → disconnect → connect at once, in a loop.
//!
//! ```text
//! cargo run -p lockstep --example reconnect_loop -- --iterations 10000
//! cargo run -p lockstep --example reconnect_loop -- --url redis://127.0.0.1:6379
//! ```
//! Without `--url` it starts a lockstep server of its own. Exits non-zero on any error.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use lockstep::{Client, Commands, Error};

mod common;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    url: common::UrlArg,
    #[arg(long, default_value_t = 1000)]
    iterations: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let target = common::Target::from_arg(args.url);
    let url = &target.url;
    let client = Client::new(target.config.clone());
    println!(
        "reconnect_loop: {} iterations of connect → SET/GET → disconnect → connect against {url}",
        args.iterations
    );

    let started = Instant::now();
    let mut errors = 0usize;
    for i in 0..args.iterations {
        let r: Result<(), Error> = async {
            client.connect().await?;
            client.set("reconnect_loop", i).await?;
            let v: usize = client.get("reconnect_loop").await?;
            if v != i {
                return Err(Error::Protocol(format!("read {v}, wrote {i}")));
            }
            client.disconnect().await;
            client.connect().await
        }
        .await;
        if let Err(e) = r {
            errors += 1;
            if errors <= 10 {
                eprintln!("iteration {i}: {e}");
            }
        }
    }
    client.disconnect().await;
    let m = client.metrics();
    println!(
        "done in {:.2?}: {} iterations, {errors} errors, {} sockets opened, at most {} open at once, {} stale events dropped",
        started.elapsed(),
        args.iterations,
        m.sockets_opened,
        m.sockets_open_max,
        m.stale_events,
    );
    if m.sockets_open_max > 1 {
        eprintln!("error: more than one socket was open at once");
        errors += 1;
    }
    common::exit_code(errors)
}
