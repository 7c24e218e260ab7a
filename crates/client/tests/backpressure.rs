//! The shared connection's queue is bounded (`Config::max_pending`): a server that stops
//! answering holds callers back instead of letting queued commands grow without bound.

mod common;

use std::time::Duration;

use common::{bounded, config, Mode, Proxy, RedisServer};
use lockstep::{Client, Commands, Error};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_holds_callers_at_max_pending_and_every_caller_finishes() {
    let redis = RedisServer::start();
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), redis.addr()).await;
    let c = Client::new(
        config(proxy.addr)
            .max_pending(10)
            .command_timeout(Some(Duration::from_millis(800)))
            .build(),
    );
    c.connect().await.unwrap();
    proxy.set_mode(Mode::Blackhole);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { c.set(format!("k{i}"), i).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let m = c.metrics();
    assert_eq!(m.pending, 10, "{m:?}");
    assert_eq!(m.commands, 10, "only 10 reached the connection: {m:?}");
    assert_eq!(m.queue_full_waits, 40, "{m:?}");
    let mut held_back = 0;
    for t in tasks {
        match bounded(10, "a held-back caller", t).await.unwrap() {
            Ok(()) => panic!("nothing can succeed through a silent server"),
            Err(Error::Timeout { .. } | Error::ConnectionLost { .. }) => {}
            // Never handed to the connection: it did not run, and says so.
            Err(e @ Error::Backpressure { .. }) => {
                assert!(e.not_sent(), "{e}");
                held_back += 1;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    // The 40 that found the queue full waited their whole timeout for room (the 10 in
    // flight held it until their own timeout recycled the connection).
    assert!(held_back > 0, "the held-back callers fail as Backpressure");
    proxy.set_mode(Mode::Forward);
    bounded(10, "recovery", async {
        while c.set("after", 1).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        c.metrics().pending <= 1,
        "room was given back: {:?}",
        c.metrics()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_longer_than_max_pending_still_goes_alone() {
    let redis = RedisServer::start();
    let c = Client::new(config(redis.addr()).max_pending(4).build());
    let mut p = c.pipeline();
    for i in 0..20 {
        p.cmd(lockstep::cmd("SET").arg(format!("p{i}")).arg(i));
    }
    let replies: Vec<String> = bounded(5, "pipeline", p.query()).await.unwrap();
    assert_eq!(replies.len(), 20);
    assert_eq!(c.get::<i64>("p19").await.unwrap(), 19);
}
