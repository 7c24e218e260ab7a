//! WATCH / MULTI / EXEC on pooled connections, against redis-server.

mod common;

use std::time::Duration;

use common::{bounded, pool, RedisServer};
use lockstep::prelude::*;
use lockstep::Frame;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_returns_every_reply_when_no_watched_key_changed() {
    let redis = RedisServer::start();
    let (_pool, c) = watching_k(&redis).await;
    let r: Option<(i64, String)> = c
        .multi()
        .cmd(cmd("INCR").arg("k"))
        .cmd(cmd("GET").arg("k"))
        .exec()
        .await
        .unwrap();
    assert_eq!(r, Some((2, "2".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_is_none_and_runs_nothing_when_a_watched_key_changed() {
    let redis = RedisServer::start();
    let (p, c) = watching_k(&redis).await;
    p.get().await.unwrap().set("k", 100).await.unwrap();
    let r: Option<(i64,)> = c.multi().cmd(cmd("INCR").arg("k")).exec().await.unwrap();
    assert_eq!(r, None);
    assert_eq!(c.get::<i64>("k").await.unwrap(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_refused_at_queueing_aborts_with_its_own_error() {
    let redis = RedisServer::start();
    let p = pool(redis.addr(), 1);
    let c = p.get().await.unwrap();
    let e = c
        .multi()
        .cmd(cmd("SET").arg("a").arg(1))
        .cmd(cmd("NOSUCHCOMMAND"))
        .exec::<Vec<Frame>>()
        .await
        .unwrap_err();
    let se = e.server_error().expect("server error");
    assert_eq!(se.code, "ERR", "{e}");
    assert!(
        se.message.starts_with("unknown command 'NOSUCHCOMMAND'"),
        "{e}"
    );
    assert_eq!(
        c.get::<Option<i64>>("a").await.unwrap(),
        None,
        "nothing ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_error_is_one_element_and_the_rest_still_runs() {
    let redis = RedisServer::start();
    let p = pool(redis.addr(), 1);
    let c = p.get().await.unwrap();
    c.set("s", "text").await.unwrap();
    let r: Option<(Result<i64, lockstep::Error>, ())> = c
        .multi()
        .cmd(cmd("INCR").arg("s"))
        .cmd(cmd("SET").arg("b").arg(2))
        .exec()
        .await
        .unwrap();
    let (incr, ()) = r.unwrap();
    let e = incr.unwrap_err();
    assert_eq!(e.to_string(), "ERR value is not an integer or out of range");
    assert_eq!(c.get::<i64>("b").await.unwrap(), 2);
}

/// Concurrent read-modify-write through `Pool::transaction`: no increment is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_transactions_retry_until_each_one_wins() {
    let redis = RedisServer::start();
    let p = pool(redis.addr(), 8);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    let r = p
                        // An async closure, no box: and the whole stays Send (spawned).
                        .transaction("counter", 1000, async |c| {
                            let n = c.get::<Option<i64>>("counter").await?.unwrap_or(0);
                            // Give the others a chance to change it in between.
                            tokio::task::yield_now().await;
                            let set: Option<((),)> = c
                                .multi()
                                .cmd(cmd("SET").arg("counter").arg(n + 1))
                                .exec()
                                .await?;
                            Ok(set.map(|_| n + 1))
                        })
                        .await
                        .unwrap();
                    assert!(r.is_some(), "1000 attempts all lost");
                }
            })
        })
        .collect();
    for t in tasks {
        bounded(30, "transactions", t).await.unwrap();
    }
    let c = p.get().await.unwrap();
    assert_eq!(c.get::<i64>("counter").await.unwrap(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_body_error_unwatches_and_is_returned() {
    let redis = RedisServer::start();
    let p = pool(redis.addr(), 1);
    let r: Result<Option<()>, _> = p
        .transaction("k", 3, async |c| {
            c.query_wrongtype().await?;
            Ok(Some(()))
        })
        .await;
    assert_eq!(r.unwrap_err().server_error().unwrap().code, "WRONGTYPE");
    // The connection went back clean, so it is reused rather than replaced.
    let _ = p.get().await.unwrap();
    assert_eq!(p.stats().stale, 0, "{:?}", p.stats());
}

/// A connection handed back with state the next user must not inherit is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_returned_with_an_open_watch_or_a_select_is_not_reused() {
    let redis = RedisServer::start();
    let p = pool(redis.addr(), 1);
    let c = p.get().await.unwrap();
    let first = id(&c).await;
    drop(c);
    let c = p.get().await.unwrap();
    assert_eq!(id(&c).await, first, "a clean connection is reused");
    c.watch("k").await.unwrap();
    drop(c);
    let c = p.get().await.unwrap();
    let second = id(&c).await;
    assert_ne!(second, first, "an open WATCH is not handed on");
    c.send(&cmd("SELECT").arg(1)).await.unwrap();
    drop(c);
    let c = p.get().await.unwrap();
    assert_ne!(
        id(&c).await,
        second,
        "a SELECTed connection is not handed on"
    );
    c.watch("k").await.unwrap();
    c.unwatch().await.unwrap();
    let third = id(&c).await;
    drop(c);
    let c = p.get().await.unwrap();
    assert_eq!(id(&c).await, third, "UNWATCH made it clean again");
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(p.stats().state_violations, 0);
}

/// A connection from a pool of two that has set `k` to 1 and WATCHes it.
async fn watching_k(redis: &RedisServer) -> (lockstep::Pool, lockstep::PooledConn) {
    let p = pool(redis.addr(), 2);
    let c = p.get().await.unwrap();
    c.set("k", 1).await.unwrap();
    c.watch("k").await.unwrap();
    (p, c)
}

async fn id(c: &lockstep::PooledConn) -> i64 {
    i64::from_reply(c.send(&cmd("CLIENT").arg("ID")).await.unwrap()).unwrap()
}

trait WrongType {
    async fn query_wrongtype(&self) -> Result<(), lockstep::Error>;
}

impl WrongType for lockstep::PooledConn {
    async fn query_wrongtype(&self) -> Result<(), lockstep::Error> {
        self.set("k", "v").await?;
        self.lpush("k", "x").await.map(|_| ())
    }
}
