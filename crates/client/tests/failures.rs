//! Connection failures with commands in flight: the server killed mid-pipeline and
//! restarted, CLIENT KILL, a half-open socket, a command timeout. Every pending command
//! completes with a reply or a clear error; read-only ones are retried; the client is Ready
//! again without user action.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{bounded, config, connected, our_server, Mode, Proxy, RedisServer};
use lockstep::{cmd, Client, Commands, Error, Sent, State};

enum Target {
    Ours(Option<lockstep_server::Server>, u16),
    Redis(RedisServer),
}

impl Target {
    async fn start_ours() -> Target {
        let s = our_server(0).await;
        let port = s.addr().port();
        Target::Ours(Some(s), port)
    }
    fn addr(&self) -> SocketAddr {
        match self {
            Target::Ours(_, p) => SocketAddr::from(([127, 0, 0, 1], *p)),
            Target::Redis(r) => r.addr(),
        }
    }
    async fn kill(&mut self) {
        match self {
            Target::Ours(s, _) => {
                if let Some(s) = s.take() {
                    s.stop().await;
                }
            }
            Target::Redis(r) => r.kill(),
        }
    }
    async fn restart(&mut self) {
        match self {
            Target::Ours(s, p) => *s = Some(our_server(*p).await),
            Target::Redis(r) => r.restart(),
        }
    }
}

/// Waits (at most 10 s) for the client to be Ready again by itself.
async fn ready_again(client: &Client) {
    bounded(
        10,
        "Ready again",
        client.wait_for(State::Ready, Duration::from_secs(10)),
    )
    .await
    .unwrap();
}

async fn killed_mid_pipeline(mut target: Target) {
    let client = connected(target.addr()).await;
    client.set("stable", "v").await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..40 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut get_errors = Vec::new();
            let mut set_errors = Vec::new();
            let mut ok = 0;
            for i in 0..150 {
                if (t + i) % 2 == 0 {
                    match c.send(&cmd("GET").arg("stable")).await {
                        Ok(_) => ok += 1,
                        Err(e) => get_errors.push(e),
                    }
                } else {
                    match c.set(format!("k{t}"), i).await {
                        Ok(()) => ok += 1,
                        Err(e) => set_errors.push(e),
                    }
                }
            }
            (ok, get_errors, set_errors)
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    target.kill().await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    target.restart().await;

    let mut ok = 0;
    let mut may_have_run = 0;
    for t in tasks {
        let (n, gets, sets) = bounded(30, "commands across a server restart", t)
            .await
            .unwrap();
        ok += n;
        assert!(
            gets.is_empty(),
            "read-only commands must be retried, got: {}",
            gets[0]
        );
        for e in sets {
            match e {
                Error::ConnectionLost {
                    sent: Sent::MayHaveRun,
                    ..
                } => may_have_run += 1,
                e => panic!("a write may only fail saying it may have run; got: {e}"),
            }
        }
    }
    assert_eq!(ok + may_have_run, 40 * 150);
    let m = client.metrics();
    assert!(m.connections_lost >= 1, "{m:?}");
    ready_again(&client).await;
    client.set("after", 1).await.unwrap();
    let v: i64 = client.get("after").await.unwrap();
    assert_eq!(v, 1);
    eprintln!("ok={ok} may_have_run={may_have_run} metrics={m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_pipeline_and_restarted_lockstep_server() {
    killed_mid_pipeline(Target::start_ours().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_pipeline_and_restarted_redis_server() {
    killed_mid_pipeline(Target::Redis(RedisServer::start())).await;
}

/// CLIENT KILL: a blocked write fails saying it may have run; the GET queued behind it is
/// retried on the new connection; the client reconnects by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_kill_redis_server() {
    let redis = RedisServer::start();
    let client = Client::new(config(redis.addr()).build());
    let admin = Client::new(config(redis.addr()).build());
    client.set("k", "v").await.unwrap();
    let id: i64 = client.query(cmd("CLIENT").arg("ID")).await.unwrap();

    let c = client.clone();
    let blpop = tokio::spawn(async move {
        c.send(
            &cmd("BLPOP")
                .arg("empty-list")
                .arg(5)
                .timeout(Some(Duration::from_secs(10))),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c = client.clone();
    let get = tokio::spawn(async move { c.get::<String>("k").await });
    tokio::time::sleep(Duration::from_millis(50)).await;

    let killed: i64 = admin
        .query(cmd("CLIENT").arg("KILL").arg("ID").arg(id))
        .await
        .unwrap();
    assert_eq!(killed, 1);

    let r = bounded(10, "BLPOP", blpop).await.unwrap();
    match r {
        Err(Error::ConnectionLost {
            sent: Sent::MayHaveRun,
            ..
        }) => {}
        other => panic!("BLPOP must fail saying it may have run, got {other:?}"),
    }
    assert_eq!(bounded(10, "GET", get).await.unwrap().unwrap(), "v");
    client
        .wait_for(State::Ready, Duration::from_secs(5))
        .await
        .unwrap();
    let new_id: i64 = client.query(cmd("CLIENT").arg("ID")).await.unwrap();
    assert_ne!(new_id, id);
    assert!(client.metrics().retried >= 1);
}

/// The connection dropped by the server side (through a proxy, against our server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_closed_by_server_side_lockstep_server() {
    let server = our_server(0).await;
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), server.addr()).await;
    let client = Client::new(config(proxy.addr).build());
    client.set("k", "v").await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move { c.get::<String>("k").await }));
    }
    proxy.kill_all();
    for t in tasks {
        assert_eq!(bounded(10, "GET", t).await.unwrap().unwrap(), "v");
    }
    client
        .wait_for(State::Ready, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(proxy.accepts() >= 1);
    server.stop().await;
}

/// Half-open: the proxy stops forwarding but keeps the socket. The command times out (no
/// hang), the silent connection is recycled, and once the path works again the client is
/// Ready by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_socket_detected_by_timeout() {
    let server = our_server(0).await;
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), server.addr()).await;
    let client = Client::new(
        config(proxy.addr)
            .command_timeout(Some(Duration::from_millis(300)))
            .connect_timeout(Duration::from_millis(300))
            .build(),
    );
    client.set("k", "v").await.unwrap();
    let epoch_before = client.snapshot().epoch;
    proxy.set_mode(Mode::Blackhole);

    let started = std::time::Instant::now();
    let err = bounded(5, "GET on a silent server", client.get::<String>("k"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.to_string().contains("may or may not have run"), "{err}");

    // The silent connection is given up on.
    let mut rx = client.watch();
    bounded(
        5,
        "leave Ready",
        rx.wait_for(|s| s.state != State::Ready && s.epoch > epoch_before),
    )
    .await
    .unwrap();
    assert!(client.metrics().timeouts >= 1);

    proxy.set_mode(Mode::Forward);
    ready_again(&client).await;
    let v: String = client.get("k").await.unwrap();
    assert_eq!(v, "v");
    server.stop().await;
}

/// A command that times out does not shift replies: every later reply is its own command's
/// (its late reply is discarded in its place, or the connection is recycled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_does_not_desynchronise_replies_redis_server() {
    let redis = RedisServer::start();
    let client = connected(redis.addr()).await;
    let slow = cmd("DEBUG")
        .arg("SLEEP")
        .arg("0.3")
        .timeout(Some(Duration::from_millis(100)));
    let c = client.clone();
    let slow_task = tokio::spawn(async move { c.send(&slow).await });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("d{i}");
            match c.set(&key, i).await {
                Ok(()) => {}
                Err(Error::ConnectionLost { .. }) => return,
                Err(e) => panic!("{e}"),
            }
            let v: i64 = c.get(&key).await.unwrap();
            assert_eq!(v, i, "reply for another command");
        }));
    }
    let err = slow_task.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    for t in tasks {
        bounded(10, "commands after a timeout", t).await.unwrap();
    }
    for i in 0..20 {
        client.set("after", i).await.unwrap();
        assert_eq!(client.get::<i64>("after").await.unwrap(), i);
    }
    let m = client.metrics();
    assert!(m.late_replies + m.timeouts >= 1, "{m:?}");
}

/// With retry_writes, writes are re-sent too (at-least-once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_writes_resends_writes() {
    let server = our_server(0).await;
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), server.addr()).await;
    let client = Client::new(config(proxy.addr).retry_writes(true).build());
    client.connect().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move { c.set(format!("w{i}"), i).await }));
    }
    proxy.kill_all();
    for t in tasks {
        bounded(10, "SET", t).await.unwrap().unwrap();
    }
    server.stop().await;
}
