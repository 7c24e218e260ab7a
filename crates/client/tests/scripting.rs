//! Scripts: EVALSHA first, EVAL when the server answers NOSCRIPT; against redis-server.

mod common;

use common::{config, RedisServer};
use lockstep::prelude::*;

/// How many times the server ran `command` (INFO commandstats).
async fn calls(c: &Client, command: &str) -> u64 {
    let info: String = c.query(cmd("INFO").arg("commandstats")).await.unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_unknown_to_the_server_runs_by_source_then_by_sha() {
    let redis = RedisServer::start();
    let c = Client::new(config(redis.addr()).build());
    c.script_flush().await.unwrap();
    let script = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    assert_eq!(c.run_script::<i64>(&script, "n", 5).await.unwrap(), 5);
    assert_eq!(
        calls(&c, "eval").await,
        1,
        "NOSCRIPT made it fall back to EVAL"
    );
    assert_eq!(c.script_exists(script.sha1()).await.unwrap(), [true]);
    assert_eq!(c.run_script::<i64>(&script, "n", 2).await.unwrap(), 7);
    assert_eq!(calls(&c, "eval").await, 1, "cached now: no second EVAL");
    assert_eq!(calls(&c, "evalsha").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_script_cache_is_refilled_on_the_next_run() {
    let redis = RedisServer::start();
    let c = Client::new(config(redis.addr()).build());
    let script = Script::new("return #KEYS + #ARGV");
    assert_eq!(c.script_load(&script).await.unwrap(), script.sha1());
    c.script_flush().await.unwrap();
    let n: i64 = c
        .run_script(&script, ["a", "b"], ["x", "y", "z"])
        .await
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(c.script_exists([script.sha1()]).await.unwrap(), [true]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_args_reach_the_script_apart() {
    let redis = RedisServer::start();
    let c = Client::new(config(redis.addr()).build());
    let script = Script::new("return {KEYS[1], KEYS[2], ARGV[1]}");
    let v: Vec<String> = c.run_script(&script, ["k1", "k2"], "a1").await.unwrap();
    assert_eq!(v, ["k1", "k2", "a1"]);
    let none: Vec<String> = c
        .run_script(&Script::new("return KEYS"), &[] as &[&str], &[] as &[&str])
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_error_is_a_server_error_and_not_retried_by_source() {
    let redis = RedisServer::start();
    let c = Client::new(config(redis.addr()).build());
    let script = Script::new("return redis.call('INCR', KEYS[1])");
    c.set("s", "not a number").await.unwrap();
    let e = c
        .run_script::<i64>(&script, "s", &[] as &[&str])
        .await
        .unwrap_err();
    let se = e.server_error().expect("a server error");
    assert_eq!(se.code, "ERR", "{e}");
    assert!(se.message.contains("not an integer"), "{e}");
    assert_eq!(calls(&c, "eval").await, 1, "only the NOSCRIPT fallback");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_runs_source_text() {
    let redis = RedisServer::start();
    let c = Client::new(config(redis.addr()).build());
    let v: String = c.eval("return ARGV[1] .. KEYS[1]", "k", "v").await.unwrap();
    assert_eq!(v, "vk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_run_on_a_pooled_connection_too() {
    let redis = RedisServer::start();
    let pool = Pool::new(config(redis.addr()).build(), PoolOptions::default());
    let c = pool.get().await.unwrap();
    let script = Script::new("return 'pooled'");
    let v: String = c
        .run_script(&script, &[] as &[&str], &[] as &[&str])
        .await
        .unwrap();
    assert_eq!(v, "pooled");
}
