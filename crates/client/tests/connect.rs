//! Single-flight connect (seed 002), disconnect/connect loops (seed 000), commands that wait
//! for a connection, the (epoch, state) watch.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{bounded, config, connected, our_server, Proxy, RedisServer};
use lockstep::{cmd, Client, Commands, Error, State};

async fn thousand_concurrent_connects(target: std::net::SocketAddr) {
    bounded(30, "1000 connects", async {
        let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), target).await;
        let client = Client::new(config(proxy.addr).build());
        let barrier = Arc::new(tokio::sync::Barrier::new(1000));
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let (c, b) = (client.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                b.wait().await;
                c.connect().await
            }));
        }
        let mut errors = Vec::new();
        for t in tasks {
            if let Err(e) = t.await.unwrap() {
                errors.push(e.to_string());
            }
        }
        assert!(
            errors.is_empty(),
            "{} connect() calls failed, first: {:?}",
            errors.len(),
            errors.first()
        );
        assert_eq!(client.state(), State::Ready);
        let pong: String = client.ping().await.unwrap();
        assert_eq!(pong, "PONG");
        assert_eq!(
            proxy.accepts(),
            1,
            "exactly one TCP connection must reach the server"
        );
        let m = client.metrics();
        assert_eq!(m.connect_attempts, 1);
        assert_eq!(m.sockets_opened, 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_connects_share_one_attempt_lockstep_server() {
    let server = our_server(0).await;
    thousand_concurrent_connects(server.addr()).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_connects_share_one_attempt_redis_server() {
    let redis = RedisServer::start();
    thousand_concurrent_connects(redis.addr()).await;
}

/// Seed 000: connect → command → disconnect → connect at once, many times. No error, never
/// two sockets.
async fn reconnect_cycles(target: std::net::SocketAddr, iterations: usize) {
    bounded(60, "reconnect cycles", async {
        let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), target).await;
        let client = Client::new(config(proxy.addr).build());
        let mut errors = 0;
        let mut first_error = None;
        for i in 0..iterations {
            let r: Result<(), Error> = async {
                client.connect().await?;
                client.set("k", i).await?;
                client.disconnect().await;
                client.connect().await?;
                Ok(())
            }
            .await;
            if let Err(e) = r {
                errors += 1;
                first_error.get_or_insert(e.to_string());
            }
            assert!(client.metrics().sockets_open <= 1);
        }
        let v: i64 = client.get("k").await.unwrap();
        assert_eq!(v as usize, iterations - 1);
        assert_eq!(errors, 0, "first error: {first_error:?}");
        let m = client.metrics();
        assert_eq!(m.sockets_open_max, 1, "the client never held two sockets");
        assert_eq!(
            proxy.max_live(),
            1,
            "the server never saw two live connections from us"
        );
        // The first connect, then one per disconnect (the loop's leading connect() finds Ready).
        assert_eq!(proxy.accepts(), iterations + 1);
        client.disconnect().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_reconnect_cycles_lockstep_server() {
    let server = our_server(0).await;
    reconnect_cycles(server.addr(), 10_000).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_reconnect_cycles_redis_server() {
    let redis = RedisServer::start();
    reconnect_cycles(redis.addr(), 10_000).await;
}

/// Several tasks racing disconnect() and connect() against each other while others send
/// commands: connect() never fails with anything but "a later disconnect() won", commands
/// fail only with Closed (not sent) while disconnected, and there is never a second socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_connect_disconnect_and_commands() {
    let server = our_server(0).await;
    let client = Client::new(config(server.addr()).build());
    let mut tasks = Vec::new();
    for t in 0..4 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut unexpected = Vec::new();
            for i in 0..300 {
                if (i + t) % 2 == 0 {
                    c.disconnect().await;
                } else if let Err(e) = c.connect().await {
                    if !matches!(e, Error::Closed { .. }) {
                        unexpected.push(e.to_string());
                    }
                }
            }
            unexpected
        }));
    }
    for _ in 0..4 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut unexpected = Vec::new();
            for i in 0..300 {
                match c.set("key", i).await {
                    Ok(()) => {}
                    Err(Error::Closed { .. }) => {}
                    Err(e) => unexpected.push(e.to_string()),
                }
            }
            unexpected
        }));
    }
    for t in tasks {
        let unexpected = bounded(30, "racing tasks", t).await.unwrap();
        assert!(unexpected.is_empty(), "unexpected errors: {unexpected:?}");
    }
    assert!(client.metrics().sockets_open_max <= 1);
    client.connect().await.unwrap();
    assert_eq!(client.ping().await.unwrap(), "PONG");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_issued_before_connect_wait_for_it() {
    let server = our_server(0).await;
    let client = Client::new(config(server.addr()).build());
    assert_eq!(client.state(), State::Created);
    // No connect(): the first commands start the attempt and wait for it.
    let mut tasks = Vec::new();
    for i in 0..100 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move { c.set(format!("k{i}"), i).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(client.metrics().connect_attempts, 1);
    let v: i64 = client.get("k42").await.unwrap();
    assert_eq!(v, 42);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reports_every_transition_with_growing_epochs() {
    let server = our_server(0).await;
    let client = Client::new(config(server.addr()).build());
    let mut rx = client.watch();
    let seen = Arc::new(std::sync::Mutex::new(vec![rx.borrow().clone()]));
    let s2 = seen.clone();
    let watcher = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let snap = rx.borrow_and_update().clone();
            s2.lock().unwrap().push(snap.clone());
            if snap.state == State::Closed {
                break;
            }
        }
    });
    client.connect().await.unwrap();
    client.connect().await.unwrap(); // idempotent: no transition
    tokio::time::sleep(Duration::from_millis(20)).await;
    client.disconnect().await;
    client.disconnect().await; // idempotent
    bounded(5, "watcher", watcher).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let epochs: Vec<u64> = seen.iter().map(|s| s.epoch).collect();
    assert!(
        epochs.windows(2).all(|w| w[0] < w[1]),
        "epochs must grow: {seen:?}"
    );
    assert_eq!(seen.first().unwrap().state, State::Created);
    assert!(seen.iter().any(|s| s.state == State::Ready), "{seen:?}");
    // A snapshot carries what the connection was when it was taken: Ready always comes
    // with its protocol and address and no error.
    for s in seen.iter().filter(|s| s.state == State::Ready) {
        assert!(s.protocol.is_some() && s.peer.is_some(), "{s:?}");
        assert!(s.last_error.is_none(), "{s:?}");
    }
    assert!(seen.first().unwrap().protocol.is_none());
    assert_eq!(seen.last().unwrap().state, State::Closed);
    let snap = client.snapshot();
    assert_eq!(snap.state, State::Closed);
    // A command after disconnect() fails fast and says it was not sent.
    let err = client.send(&cmd("GET").arg("x")).await.unwrap_err();
    assert!(err.not_sent(), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_within_deadline_and_reports() {
    let server = our_server(0).await;
    let client = connected(server.addr()).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move { c.set(format!("s{i}"), i).await }));
    }
    tokio::task::yield_now().await;
    let started = std::time::Instant::now();
    let report = client.shutdown(Duration::from_millis(500)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let mut ok = 0;
    let mut closed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(Error::Closed { .. }) => closed += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok + closed, 200);
    assert_eq!(
        report.dropped_in_flight + report.dropped_unsent,
        0,
        "{report:?}"
    );
    assert_eq!(client.state(), State::Closed);
    assert!(client.connect().await.is_err(), "shutdown is final");
    server.stop().await;
}
