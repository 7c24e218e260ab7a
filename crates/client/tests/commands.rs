//! Typed commands, generic cmd(), FromReply errors, pipelines and transactions.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{config, connected, our_server, RedisServer};
use lockstep::{cmd, Client, Commands, Error, SetCondition};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_and_keys_on_lockstep_server() {
    let server = our_server(0).await;
    let c = Client::new(config(server.addr()).build());
    c.set("a", "1").await.unwrap();
    assert_eq!(c.get::<String>("a").await.unwrap(), "1");
    assert_eq!(c.get::<i64>("a").await.unwrap(), 1);
    assert_eq!(c.get::<Option<String>>("missing").await.unwrap(), None);
    assert_eq!(c.del("a").await.unwrap(), 1);
    let e = c.get::<i64>("missing").await.unwrap_err();
    assert!(matches!(e, Error::Type(_)), "{e}");
    assert_eq!(e.to_string(), "reply type mismatch: expected i64, got nil");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_api_on_redis_server() {
    let redis = RedisServer::start();
    let c = Client::new(config(redis.addr()).build());
    c.flushdb().await.unwrap();
    assert!(c.set_if("n", 1, SetCondition::IfAbsent).await.unwrap());
    assert!(!c.set_if("n", 2, SetCondition::IfAbsent).await.unwrap());
    assert_eq!(c.incr("n").await.unwrap(), 2);
    assert_eq!(c.incr_by("n", 10).await.unwrap(), 12);
    assert_eq!(c.decr_by("n", 2).await.unwrap(), 10);
    assert_eq!(c.incr_by_float("f", 1.5).await.unwrap(), 1.5);
    assert_eq!(c.append("s", "ab").await.unwrap(), 2);
    assert_eq!(c.strlen("s").await.unwrap(), 2);
    c.mset(&[("m1", "x"), ("m2", "y")]).await.unwrap();
    let v: Vec<Option<String>> = c.mget(["m1", "m2", "m3"]).await.unwrap();
    assert_eq!(v, vec![Some("x".into()), Some("y".into()), None]);
    assert_eq!(c.exists(["m1", "m2", "m3"]).await.unwrap(), 2);
    c.set_ex("t", "v", Duration::from_secs(100)).await.unwrap();
    let ttl = c.ttl("t").await.unwrap().unwrap();
    assert!(ttl > Duration::from_secs(90));
    assert!(c.persist("t").await.unwrap());
    assert_eq!(c.ttl("t").await.unwrap(), None);
    assert_eq!(c.key_type("t").await.unwrap(), "string");
    c.rename("t", "t2").await.unwrap();
    let mut keys: Vec<String> = c.keys("m*").await.unwrap();
    keys.sort();
    assert_eq!(keys, ["m1", "m2"]);
    let (_cursor, _batch) = c.scan(0, Some("*"), Some(100)).await.unwrap();
    assert_eq!(c.get_del::<String>("t2").await.unwrap(), "v");

    // Generic commands and RESP3 map replies.
    let _: i64 = c
        .query(cmd("HSET").arg("h").arg("f1").arg(1).arg("f2").arg(2))
        .await
        .unwrap();
    let h: HashMap<String, i64> = c.query(cmd("HGETALL").arg("h")).await.unwrap();
    assert_eq!(h["f2"], 2);
    // Server errors keep their code.
    let e = c.incr("h").await.unwrap_err();
    assert_eq!(e.server_error().unwrap().code, "WRONGTYPE", "{e}");

    // Pipelines and transactions.
    let (a, b): (String, i64) = c
        .pipeline()
        .cmd(cmd("SET").arg("p").arg(5))
        .cmd(cmd("INCR").arg("p"))
        .query()
        .await
        .unwrap();
    assert_eq!((a.as_str(), b), ("OK", 6));
    let (x, y): (i64, i64) = c
        .pipeline()
        .cmd(cmd("INCR").arg("p"))
        .cmd(cmd("INCR").arg("p"))
        .atomic()
        .query()
        .await
        .unwrap();
    assert_eq!((x, y), (7, 8));
    let m = c.metrics();
    assert!(m.writes > 0 && m.replies >= m.commands - 1, "{m:?}");
}

/// Many tasks on one connection: every reply goes to its own command, and writes coalesce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_pipelining_matches_replies_in_order() {
    let server = our_server(0).await;
    let c = connected(server.addr()).await;
    let mut tasks = Vec::new();
    for t in 0..200 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let k = format!("ap:{t}");
                c.set(&k, i).await.unwrap();
                assert_eq!(c.get::<i64>(&k).await.unwrap(), i);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let m = c.metrics();
    assert_eq!(m.replies, m.commands);
    assert!(
        m.writes < m.commands,
        "commands coalesce into fewer writes: {m:?}"
    );
    assert_eq!(m.sockets_opened, 1);
    server.stop().await;
}

/// Callers woken by one read send their next commands together: with 100 tasks in
/// lock-step, a write carries many commands, not one (one send syscall per command is most
/// of a client's CPU cost per command on loopback).
async fn woken_callers_share_writes(min_per_write: f64) {
    let redis = RedisServer::start();
    let c = connected(redis.addr()).await;
    let tasks: Vec<_> = (0..100)
        .map(|t| {
            let c = c.clone();
            tokio::spawn(async move {
                for i in 0..20 {
                    c.set(format!("co:{t}"), i).await.unwrap();
                    assert_eq!(c.get::<i64>(format!("co:{t}")).await.unwrap(), i);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let m = c.metrics();
    let per_write = m.commands as f64 / m.writes as f64;
    assert!(
        per_write >= min_per_write,
        "{per_write:.1} commands per write, expected at least {min_per_write}: {m:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn woken_callers_share_writes_current_thread() {
    woken_callers_share_writes(20.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woken_callers_share_writes_multi_thread() {
    woken_callers_share_writes(10.0).await;
}
