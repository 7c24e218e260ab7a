//! The typed API for hashes, lists, sets and sorted sets, against a real redis-server, in
//! RESP2 and RESP3 (whose reply shapes differ: maps, sets, doubles, score pairs).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use common::{config, RedisServer};
use lockstep::prelude::*;
use lockstep::Protocol;

/// A client per protocol on a fresh database.
async fn clients(redis: &RedisServer) -> Vec<(Protocol, Client)> {
    let mut out = Vec::new();
    for p in [Protocol::Resp2, Protocol::Resp3] {
        let c = Client::new(config(redis.addr()).protocol(p).build());
        c.flushdb().await.unwrap();
        out.push((p, c));
    }
    out
}

/// Follows a SCAN-family cursor from 0 until the server answers 0, collecting every page
/// (a SCAN may return an element twice; the collection decides what that counts as).
async fn scan_all<C, P, F>(mut page_at: F) -> C
where
    C: Default + Extend<P::Item>,
    P: IntoIterator,
    F: AsyncFnMut(u64) -> Result<(u64, P), lockstep::Error>,
{
    let mut seen = C::default();
    let mut cursor = 0;
    loop {
        let (next, page) = page_at(cursor).await.unwrap();
        seen.extend(page);
        if next == 0 {
            return seen;
        }
        cursor = next;
    }
}

// ---- hashes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_fields_set_read_and_count() {
    let redis = RedisServer::start();
    for (p, c) in clients(&redis).await {
        assert!(c.hset("h", "a", 1).await.unwrap(), "{p:?}");
        assert!(!c.hset("h", "a", 2).await.unwrap(), "{p:?}: not new");
        assert_eq!(
            c.hset_multiple("h", &[("b", "x"), ("c", "y")])
                .await
                .unwrap(),
            2
        );
        assert!(!c.hset_nx("h", "b", "z").await.unwrap());
        assert_eq!(c.hget::<i64>("h", "a").await.unwrap(), 2);
        assert_eq!(c.hget::<Option<String>>("h", "nope").await.unwrap(), None);
        let v: Vec<Option<String>> = c.hmget("h", ["b", "nope", "c"]).await.unwrap();
        assert_eq!(v, [Some("x".into()), None, Some("y".into())]);
        assert_eq!(c.hlen("h").await.unwrap(), 3);
        assert!(c.hexists("h", "c").await.unwrap());
        assert_eq!(c.hstrlen("h", "b").await.unwrap(), 1);
        let mut keys: Vec<String> = c.hkeys("h").await.unwrap();
        keys.sort();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(c.hvals::<Vec<String>>("h").await.unwrap().len(), 3);
        assert_eq!(c.hdel("h", ["a", "nope"]).await.unwrap(), 1);
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hgetall_is_a_map_in_both_protocols_and_empty_for_a_missing_key() {
    let redis = RedisServer::start();
    for (p, c) in clients(&redis).await {
        c.hset_multiple("h", &[("f1", "1"), ("f2", "2")])
            .await
            .unwrap();
        let m: HashMap<String, i64> = c.hgetall("h").await.unwrap();
        assert_eq!(
            m,
            HashMap::from([("f1".into(), 1), ("f2".into(), 2)]),
            "{p:?}"
        );
        let b: BTreeMap<String, String> = c.hgetall("h").await.unwrap();
        assert_eq!(b.len(), 2);
        let empty: HashMap<String, String> = c.hgetall("missing").await.unwrap();
        assert!(empty.is_empty());
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_increments_return_the_new_value() {
    let redis = RedisServer::start();
    for (_, c) in clients(&redis).await {
        assert_eq!(c.hincr_by("h", "n", 5).await.unwrap(), 5);
        assert_eq!(c.hincr_by("h", "n", -7).await.unwrap(), -2);
        assert_eq!(c.hincr_by_float("h", "f", 0.5).await.unwrap(), 0.5);
        assert_eq!(c.hincr_by_float("h", "f", 1.25).await.unwrap(), 1.75);
        let e = c.hincr_by("h", "f", 1).await.unwrap_err();
        assert_eq!(e.server_error().unwrap().code, "ERR", "{e}");
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hscan_visits_every_field_once() {
    let redis = RedisServer::start();
    for (p, c) in clients(&redis).await {
        let pairs: Vec<(String, i64)> = (0..300).map(|i| (format!("f{i}"), i)).collect();
        c.hset_multiple("h", &pairs).await.unwrap();
        let seen: HashMap<String, i64> =
            scan_all(|cursor| c.hscan::<HashMap<String, i64>>("h", cursor, Some("f*"), Some(50)))
                .await;
        assert_eq!(seen.len(), 300, "{p:?}");
        assert_eq!(seen["f299"], 299);
        let some: Vec<String> = c.hrandfield("h", 5).await.unwrap();
        assert_eq!(some.len(), 5);
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_command_on_a_string_is_wrongtype() {
    let redis = RedisServer::start();
    for (_, c) in clients(&redis).await {
        c.set("s", "v").await.unwrap();
        let e = c.hget::<Option<String>>("s", "f").await.unwrap_err();
        assert_eq!(e.server_error().unwrap().code, "WRONGTYPE", "{e}");
        c.flushdb().await.unwrap();
    }
}

// ---- lists

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pushes_and_pops_at_both_ends() {
    let redis = RedisServer::start();
    for (p, c) in clients(&redis).await {
        assert_eq!(c.rpush("l", ["b", "c"]).await.unwrap(), 2);
        assert_eq!(c.lpush("l", "a").await.unwrap(), 3);
        assert_eq!(c.rpushx("missing", "x").await.unwrap(), 0);
        assert_eq!(c.lpushx("l", "z").await.unwrap(), 4);
        assert_eq!(
            c.lpop::<Option<String>>("l").await.unwrap().as_deref(),
            Some("z")
        );
        assert_eq!(c.rpop::<String>("l").await.unwrap(), "c");
        let two: Vec<String> = c.lpop_count("l", 5).await.unwrap();
        assert_eq!(two, ["a", "b"], "{p:?}");
        assert_eq!(c.lpop::<Option<String>>("l").await.unwrap(), None);
        let none: Option<Vec<String>> = c.rpop_count("l", 2).await.unwrap();
        assert_eq!(none, None, "{p:?}: a missing list pops nil");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_ranges_indexes_and_edits() {
    let redis = RedisServer::start();
    for (_, c) in clients(&redis).await {
        c.rpush("l", ["a", "b", "c", "b", "d"]).await.unwrap();
        assert_eq!(c.llen("l").await.unwrap(), 5);
        assert_eq!(
            c.lrange::<Vec<String>>("l", 1, -2).await.unwrap(),
            ["b", "c", "b"]
        );
        assert_eq!(
            c.lindex::<Option<String>>("l", -1)
                .await
                .unwrap()
                .as_deref(),
            Some("d")
        );
        assert_eq!(c.lindex::<Option<String>>("l", 99).await.unwrap(), None);
        c.lset("l", 0, "A").await.unwrap();
        assert_eq!(c.linsert("l", true, "c", "C0").await.unwrap(), 6);
        assert_eq!(c.linsert("l", false, "nope", "x").await.unwrap(), -1);
        assert_eq!(c.lpos("l", "b").await.unwrap(), Some(1));
        assert_eq!(c.lpos("l", "nope").await.unwrap(), None);
        assert_eq!(c.lrem("l", 0, "b").await.unwrap(), 2);
        c.ltrim("l", 0, 1).await.unwrap();
        assert_eq!(
            c.lrange::<Vec<String>>("l", 0, -1).await.unwrap(),
            ["A", "C0"]
        );
        let e = c.lset("l", 10, "x").await.unwrap_err();
        assert_eq!(e.to_string(), "ERR index out of range");
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lmove_moves_between_ends() {
    let redis = RedisServer::start();
    for (_, c) in clients(&redis).await {
        c.rpush("src", ["1", "2", "3"]).await.unwrap();
        let v: String = c
            .lmove("src", "dst", ListEnd::Right, ListEnd::Left)
            .await
            .unwrap();
        assert_eq!(v, "3");
        let v: Option<String> = c
            .lmove("empty", "dst", ListEnd::Left, ListEnd::Left)
            .await
            .unwrap();
        assert_eq!(v, None);
        assert_eq!(c.lrange::<Vec<String>>("dst", 0, -1).await.unwrap(), ["3"]);
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_pops_on_a_pooled_connection_wait_then_time_out_or_get_the_push() {
    let redis = RedisServer::start();
    let pool = Pool::new(config(redis.addr()).build(), PoolOptions::default());
    let c = pool.get().await.unwrap();
    let started = std::time::Instant::now();
    let none: Option<(String, String)> = c.blpop("q", Duration::from_millis(100)).await.unwrap();
    assert_eq!(none, None);
    assert!(started.elapsed() >= Duration::from_millis(90));
    // A push from another connection wakes the blocked pop.
    let pusher = Client::new(config(redis.addr()).build());
    let push = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        pusher.rpush("q", "job").await.unwrap();
    });
    let got: Option<(String, String)> = c.brpop(["other", "q"], Duration::ZERO).await.unwrap();
    assert_eq!(got, Some(("q".into(), "job".into())));
    push.await.unwrap();
    c.rpush("q", "j2").await.unwrap();
    let moved: Option<String> = c
        .blmove(
            "q",
            "done",
            ListEnd::Left,
            ListEnd::Right,
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(moved.as_deref(), Some("j2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_longer_than_the_command_timeout_is_not_a_timeout() {
    let redis = RedisServer::start();
    let cfg = config(redis.addr())
        .command_timeout(Some(Duration::from_millis(250)))
        .build();
    let pool = Pool::new(cfg, PoolOptions::default());
    let c = pool.get().await.unwrap();
    let none: Option<(String, String)> = c.blpop("q", Duration::from_millis(500)).await.unwrap();
    assert_eq!(none, None);
    assert_eq!(
        c.ping().await.unwrap(),
        "PONG",
        "the connection is still good"
    );
}

// ---- sets

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_members_add_remove_and_test() {
    let redis = RedisServer::start();
    for (p, c) in clients(&redis).await {
        assert_eq!(c.sadd("s", ["a", "b", "c", "a"]).await.unwrap(), 3);
        assert_eq!(c.srem("s", ["c", "nope"]).await.unwrap(), 1);
        let m: HashSet<String> = c.smembers("s").await.unwrap();
        assert_eq!(m, HashSet::from(["a".into(), "b".into()]), "{p:?}");
        let v: Vec<String> = c.smembers("s").await.unwrap();
        assert_eq!(v.len(), 2, "{p:?}: a RESP3 set converts to a Vec too");
        assert!(c.sismember("s", "a").await.unwrap());
        assert!(!c.sismember("s", "z").await.unwrap());
        assert_eq!(c.smismember("s", ["z", "b"]).await.unwrap(), [false, true]);
        assert_eq!(c.scard("s").await.unwrap(), 2);
        assert!(c.smove("s", "t", "a").await.unwrap());
        assert!(!c.smove("s", "t", "a").await.unwrap());
        let popped: Option<String> = c.spop("t").await.unwrap();
        assert_eq!(popped.as_deref(), Some("a"));
        assert_eq!(c.spop::<Option<String>>("t").await.unwrap(), None);
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_algebra_and_stores() {
    let redis = RedisServer::start();
    for (_, c) in clients(&redis).await {
        c.sadd("x", ["1", "2", "3"]).await.unwrap();
        c.sadd("y", ["2", "3", "4"]).await.unwrap();
        let i: HashSet<i64> = c.sinter(["x", "y"]).await.unwrap();
        assert_eq!(i, HashSet::from([2, 3]));
        let u: HashSet<i64> = c.sunion(["x", "y"]).await.unwrap();
        assert_eq!(u.len(), 4);
        let d: HashSet<i64> = c.sdiff(["x", "y"]).await.unwrap();
        assert_eq!(d, HashSet::from([1]));
        assert_eq!(c.sinterstore("i", ["x", "y"]).await.unwrap(), 2);
        assert_eq!(c.sunionstore("u", ["x", "y"]).await.unwrap(), 4);
        assert_eq!(c.sdiffstore("d", ["y", "x"]).await.unwrap(), 1);
        assert_eq!(c.sintercard(["x", "y"], None).await.unwrap(), 2);
        assert_eq!(c.sintercard(["x", "y"], Some(1)).await.unwrap(), 1);
        let r: Vec<String> = c.srandmember("x", -5).await.unwrap();
        assert_eq!(r.len(), 5, "negative counts repeat");
        let two: HashSet<String> = c.spop_count("x", 2).await.unwrap();
        assert_eq!(two.len(), 2);
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sscan_visits_every_member() {
    let redis = RedisServer::start();
    for (_, c) in clients(&redis).await {
        let members: Vec<String> = (0..500).map(|i| format!("m{i}")).collect();
        c.sadd("s", &members).await.unwrap();
        let seen: HashSet<String> =
            scan_all(|cursor| c.sscan::<Vec<String>>("s", cursor, None, Some(100))).await;
        assert_eq!(seen.len(), 500);
        c.flushdb().await.unwrap();
    }
}

// ---- sorted sets

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorted_set_scores_and_ranks() {
    let redis = RedisServer::start();
    for (p, c) in clients(&redis).await {
        assert_eq!(
            c.zadd("z", &[("a", 1.0), ("b", 2.5), ("c", 3.0)])
                .await
                .unwrap(),
            3
        );
        assert_eq!(c.zscore("z", "b").await.unwrap(), Some(2.5), "{p:?}");
        assert_eq!(c.zscore("z", "nope").await.unwrap(), None);
        assert_eq!(
            c.zmscore("z", ["a", "nope"]).await.unwrap(),
            [Some(1.0), None]
        );
        assert_eq!(c.zincr_by("z", "a", 10.0).await.unwrap(), 11.0);
        assert_eq!(c.zcard("z").await.unwrap(), 3);
        assert_eq!(c.zrank("z", "a").await.unwrap(), Some(2));
        assert_eq!(c.zrevrank("z", "a").await.unwrap(), Some(0));
        assert_eq!(c.zrank("z", "nope").await.unwrap(), None);
        assert_eq!(c.zcount("z", "(2.5", "+inf").await.unwrap(), 2);
        assert_eq!(c.zrem("z", ["b", "nope"]).await.unwrap(), 1);
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zrange_with_scores_is_member_score_pairs_in_both_protocols() {
    let redis = RedisServer::start();
    for (p, c) in clients(&redis).await {
        c.zadd("z", &[("a", 1.0), ("b", 2.0), ("c", f64::INFINITY)])
            .await
            .unwrap();
        let all: Vec<String> = c.zrange("z", 0, -1).await.unwrap();
        assert_eq!(all, ["a", "b", "c"]);
        let rev: Vec<String> = c.zrevrange("z", 0, 0).await.unwrap();
        assert_eq!(rev, ["c"]);
        let scored: Vec<(String, f64)> = c.zrange_with_scores("z", 0, -1).await.unwrap();
        assert_eq!(
            scored,
            [
                ("a".into(), 1.0),
                ("b".into(), 2.0),
                ("c".into(), f64::INFINITY)
            ],
            "{p:?}"
        );
        let by_score: Vec<String> = c
            .zrange_by_score("z", "(1", "+inf", Some((0, 1)))
            .await
            .unwrap();
        assert_eq!(by_score, ["b"]);
        let by_score: Vec<(String, f64)> =
            c.zrange_by_score_with_scores("z", "-inf", 2).await.unwrap();
        assert_eq!(by_score, [("a".into(), 1.0), ("b".into(), 2.0)], "{p:?}");
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zadd_options_follow_nx_xx_gt_and_ch() {
    let redis = RedisServer::start();
    for (_, c) in clients(&redis).await {
        c.zadd("z", &[("a", 5.0)]).await.unwrap();
        let nx = ZAddOptions {
            condition: SetCondition::IfAbsent,
            ..ZAddOptions::default()
        };
        assert_eq!(
            c.zadd_with("z", &[("a", 1.0), ("b", 1.0)], nx)
                .await
                .unwrap(),
            1
        );
        assert_eq!(c.zscore("z", "a").await.unwrap(), Some(5.0), "NX leaves a");
        let gt_ch = ZAddOptions {
            compare: Some(ZCompare::GreaterThan),
            changed: true,
            ..ZAddOptions::default()
        };
        let n = c
            .zadd_with("z", &[("a", 4.0), ("b", 9.0)], gt_ch)
            .await
            .unwrap();
        assert_eq!(n, 1, "only b grew");
        let xx = ZAddOptions {
            condition: SetCondition::IfPresent,
            ..ZAddOptions::default()
        };
        assert_eq!(c.zadd_with("z", &[("new", 1.0)], xx).await.unwrap(), 0);
        assert_eq!(c.zcard("z").await.unwrap(), 2);
        let both = ZAddOptions {
            condition: SetCondition::IfAbsent,
            compare: Some(ZCompare::LessThan),
            changed: false,
        };
        let e = c.zadd_with("z", &[("a", 1.0)], both).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "ERR GT, LT, and/or NX options at the same time are not compatible"
        );
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zpop_and_range_removals() {
    let redis = RedisServer::start();
    for (p, c) in clients(&redis).await {
        let members: Vec<(String, f64)> = (0..10).map(|i| (format!("m{i}"), i as f64)).collect();
        c.zadd("z", &members).await.unwrap();
        let low: Vec<(String, f64)> = c.zpop_min("z", 1).await.unwrap();
        assert_eq!(low, [("m0".into(), 0.0)], "{p:?}");
        let high: Vec<(String, f64)> = c.zpop_max("z", 2).await.unwrap();
        assert_eq!(high, [("m9".into(), 9.0), ("m8".into(), 8.0)], "{p:?}");
        assert_eq!(c.zrem_range_by_rank("z", 0, 1).await.unwrap(), 2);
        assert_eq!(c.zrem_range_by_score("z", 3, "(5").await.unwrap(), 2);
        assert_eq!(
            c.zrange::<Vec<String>>("z", 0, -1).await.unwrap(),
            ["m5", "m6", "m7"]
        );
        let none: Vec<(String, f64)> = c.zpop_min("missing", 3).await.unwrap();
        assert!(none.is_empty());
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zunionstore_and_zinterstore_sum_scores() {
    let redis = RedisServer::start();
    for (_, c) in clients(&redis).await {
        c.zadd("x", &[("a", 1.0), ("b", 2.0)]).await.unwrap();
        c.zadd("y", &[("b", 10.0), ("c", 3.0)]).await.unwrap();
        assert_eq!(c.zunionstore("u", ["x", "y"]).await.unwrap(), 3);
        assert_eq!(c.zinterstore("i", ["x", "y"]).await.unwrap(), 1);
        assert_eq!(c.zscore("i", "b").await.unwrap(), Some(12.0));
        c.flushdb().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zscan_returns_member_score_pairs() {
    let redis = RedisServer::start();
    for (p, c) in clients(&redis).await {
        let members: Vec<(String, f64)> = (0..200)
            .map(|i| (format!("m{i}"), i as f64 / 2.0))
            .collect();
        c.zadd("z", &members).await.unwrap();
        let seen: HashMap<String, f64> =
            scan_all(|cursor| c.zscan::<String>("z", cursor, None, Some(50))).await;
        assert_eq!(seen.len(), 200, "{p:?}");
        assert_eq!(seen["m199"], 99.5);
        c.flushdb().await.unwrap();
    }
}
