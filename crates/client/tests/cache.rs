//! Client-side caching against a real redis-server (7.0 tracks keys for RESP3 clients) and
//! against lockstep's own server: reads are served locally until the server says their
//! keys changed, and never stale once that word has arrived; every new connection starts
//! empty.

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::{bounded, config, our_server, RedisServer};
use lockstep::{cmd, CacheOptions, Client, Commands};

fn cached(addr: SocketAddr, opts: CacheOptions) -> Client {
    Client::new(config(addr).client_cache(opts).build())
}

fn hits(c: &Client) -> (u64, u64) {
    let s = c.metrics().cache.expect("caching is on");
    (s.hits, s.misses)
}

/// Reads are cached; another client's write is seen by the next read once its
/// invalidation arrived — which a round trip on the reader's own connection proves: the
/// server wrote the invalidation before that round trip's reply.
async fn never_stale_after_the_invalidation(addr: SocketAddr) {
    let reader = cached(addr, CacheOptions::default());
    let writer = Client::new(config(addr).build());
    writer.set("k", 0).await.unwrap();
    assert_eq!(reader.get::<i64>("k").await.unwrap(), 0);
    assert_eq!(reader.get::<i64>("k").await.unwrap(), 0);
    assert_eq!(hits(&reader), (1, 1));
    for i in 1..=300 {
        writer.set("k", i).await.unwrap();
        let _: String = reader.query(cmd("PING")).await.unwrap();
        assert_eq!(
            reader.get::<i64>("k").await.unwrap(),
            i,
            "stale after write {i}"
        );
        // Unchanged since: served locally.
        assert_eq!(reader.get::<i64>("k").await.unwrap(), i);
    }
    let stats = reader.metrics().cache.unwrap();
    assert_eq!((stats.hits, stats.misses), (301, 301), "{stats:?}");
    assert!(stats.invalidations >= 300, "{stats:?}");
    assert!(stats.hit_rate() > 0.49 && stats.hit_rate() < 0.51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_server_invalidations_keep_the_cache_true() {
    let redis = RedisServer::start();
    never_stale_after_the_invalidation(redis.addr()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_invalidations_keep_the_cache_true() {
    let server = our_server(0).await;
    never_stale_after_the_invalidation(server.addr()).await;
    server.stop().await;
}

/// Commands that read several keys, and hashes: an invalidation of any key they read
/// drops them; what reads other keys stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_drops_exactly_the_reads_of_its_key() {
    let redis = RedisServer::start();
    let reader = cached(redis.addr(), CacheOptions::default());
    let writer = Client::new(config(redis.addr()).build());
    writer.set("a", "1").await.unwrap();
    writer.set("b", "2").await.unwrap();
    let _: i64 = writer
        .query(cmd("HSET").arg("h").arg("f").arg("x"))
        .await
        .unwrap();
    let mget = || reader.query::<Vec<String>>(cmd("MGET").arg("a").arg("b"));
    let hget = || reader.query::<String>(cmd("HGET").arg("h").arg("f"));
    assert_eq!(mget().await.unwrap(), ["1", "2"]);
    assert_eq!(hget().await.unwrap(), "x");
    assert_eq!(mget().await.unwrap(), ["1", "2"]);
    assert_eq!(hget().await.unwrap(), "x");
    assert_eq!(hits(&reader), (2, 2));
    writer.set("b", "3").await.unwrap();
    let _: String = reader.query(cmd("PING")).await.unwrap();
    assert_eq!(mget().await.unwrap(), ["1", "3"]);
    assert_eq!(hget().await.unwrap(), "x");
    assert_eq!(hits(&reader), (3, 3));
    // TTL is not cached: it changes without a write.
    let _: i64 = reader.query(cmd("TTL").arg("a")).await.unwrap();
    let _: i64 = reader.query(cmd("TTL").arg("a")).await.unwrap();
    assert_eq!(hits(&reader), (3, 3));
}

/// A reconnect empties the cache: what changed while the connection was down (here the
/// whole dataset, gone with the server's restart) is never served from before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_empties_the_cache() {
    let mut redis = RedisServer::start();
    let reader = cached(redis.addr(), CacheOptions::default());
    reader.set("k", "before").await.unwrap();
    assert_eq!(reader.get::<String>("k").await.unwrap(), "before");
    assert_eq!(reader.get::<String>("k").await.unwrap(), "before");
    assert_eq!(hits(&reader), (1, 1));
    let epoch = reader.snapshot().epoch;
    redis.restart();
    bounded(
        10,
        "reconnect",
        reader
            .watch()
            .wait_for(|s| s.epoch > epoch && s.state == lockstep::State::Ready),
    )
    .await
    .unwrap();
    // The restarted server has no "k": the cached "before" must not come back.
    assert_eq!(reader.get::<Option<String>>("k").await.unwrap(), None);
    let stats = reader.metrics().cache.unwrap();
    assert!(stats.flushes >= 2, "{stats:?}");
    // And tracking is on again for the new connection.
    let writer = Client::new(config(redis.addr()).build());
    assert_eq!(reader.get::<Option<String>>("k").await.unwrap(), None);
    writer.set("k", "after").await.unwrap();
    let _: String = reader.query(cmd("PING")).await.unwrap();
    assert_eq!(reader.get::<String>("k").await.unwrap(), "after");
}

/// BCAST: only keys under the prefixes are cached, and the server tells of every change
/// under them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bcast_caches_only_keys_under_its_prefixes() {
    let redis = RedisServer::start();
    let opts = CacheOptions {
        bcast_prefixes: Some(vec![Bytes::from_static(b"user:")]),
        ..CacheOptions::default()
    };
    let reader = cached(redis.addr(), opts);
    let writer = Client::new(config(redis.addr()).build());
    writer.set("user:1", "ann").await.unwrap();
    writer.set("other", "x").await.unwrap();
    for _ in 0..2 {
        assert_eq!(reader.get::<String>("user:1").await.unwrap(), "ann");
        assert_eq!(reader.get::<String>("other").await.unwrap(), "x");
    }
    assert_eq!(hits(&reader), (1, 1), "only user:1 is cacheable");
    writer.set("user:1", "bob").await.unwrap();
    let _: String = reader.query(cmd("PING")).await.unwrap();
    assert_eq!(reader.get::<String>("user:1").await.unwrap(), "bob");
}

/// The cache holds at most `max_entries` replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_bounded() {
    let redis = RedisServer::start();
    let opts = CacheOptions {
        max_entries: 10,
        ..CacheOptions::default()
    };
    let reader = cached(redis.addr(), opts);
    for i in 0..100 {
        let _: Option<String> = reader.get(format!("key{i}")).await.unwrap();
    }
    assert_eq!(reader.metrics().cache.unwrap().entries, 10);
}

/// Over RESP2 there are no invalidations on the connection: nothing is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp2_caches_nothing() {
    let redis = RedisServer::start();
    let reader = Client::new(
        config(redis.addr())
            .protocol(lockstep::Protocol::Resp2)
            .client_cache(CacheOptions::default())
            .build(),
    );
    reader.set("k", "v").await.unwrap();
    for _ in 0..3 {
        assert_eq!(reader.get::<String>("k").await.unwrap(), "v");
    }
    assert_eq!(hits(&reader), (0, 3));
}
