//! Seed 000 against a cluster: connect → SET/GET → disconnect → connect at once, in a loop
//! (the loop in which ioredis fails on every iteration against a real Redis Cluster).
//!
//! ```text
//! cargo run -p lockstep --example cluster_reconnect_loop -- --iterations 10000
//! cargo run -p lockstep --example cluster_reconnect_loop -- --urls redis://127.0.0.1:7000,redis://127.0.0.1:7001
//! ```
//! Without `--urls` it starts a lockstep cluster of three primaries of its own. Exits
//! non-zero on any error.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use lockstep::{ClusterClient, Commands, Error};

#[derive(Parser)]
struct Args {
    /// Nodes of a running cluster, comma-separated.
    #[arg(long, value_delimiter = ',')]
    urls: Vec<String>,
    #[arg(long, default_value_t = 1000)]
    iterations: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let (urls, embedded) = if args.urls.is_empty() {
        let cluster =
            match lockstep_server::Cluster::start(lockstep_server::ClusterConfig::ephemeral(3))
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("cluster_reconnect_loop: could not start a cluster: {e}");
                    return ExitCode::FAILURE;
                }
            };
        let urls = cluster
            .addrs()
            .iter()
            .map(|a| format!("redis://{a}"))
            .collect();
        (urls, Some(cluster))
    } else {
        (args.urls.clone(), None)
    };
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let client = match ClusterClient::from_urls(&refs) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cluster_reconnect_loop: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "cluster_reconnect_loop: {} iterations of connect → SET/GET → disconnect → connect against {}",
        args.iterations,
        urls.join(",")
    );
    let started = Instant::now();
    let mut errors = 0usize;
    for i in 0..args.iterations {
        let key = format!("cluster_reconnect_loop:{}", i % 100);
        let r: Result<(), Error> = async {
            client.connect().await?;
            client.set(&key, i).await?;
            let v: usize = client.get(&key).await?;
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
    println!(
        "done in {:.2?}: {} iterations, {errors} errors, {:?}",
        started.elapsed(),
        args.iterations,
        client.metrics()
    );
    if let Some(cluster) = embedded {
        cluster.stop().await;
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
