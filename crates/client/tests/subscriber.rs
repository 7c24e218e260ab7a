//! Pub/sub on a dedicated connection (RESP2 here: a subscribed RESP2 connection can carry
//! nothing else), restored after the server restarts.

mod common;

use std::time::Duration;

use common::{bounded, config, publish_until_received, RedisServer};
use lockstep::{cmd, Client, Protocol, Subscriber};

fn resp2(redis: &RedisServer) -> lockstep::Config {
    config(redis.addr()).protocol(Protocol::Resp2).build()
}

async fn numsub(c: &Client, channel: &str) -> i64 {
    let (_, n): (String, i64) = c
        .query(cmd("PUBSUB").arg("NUMSUB").arg(channel))
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_returns_once_the_server_confirmed_it() {
    let redis = RedisServer::start();
    let sub = Subscriber::connect(resp2(&redis)).await.unwrap();
    let admin = Client::new(config(redis.addr()).build());
    sub.subscribe(&["a", "b"]).await.unwrap();
    assert_eq!(numsub(&admin, "a").await, 1);
    assert_eq!(numsub(&admin, "b").await, 1);
    sub.unsubscribe(&["a"]).await.unwrap();
    assert_eq!(numsub(&admin, "a").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resp2_subscriber_gets_channel_and_pattern_messages() {
    let redis = RedisServer::start();
    let mut sub = Subscriber::connect(resp2(&redis)).await.unwrap();
    let publisher = Client::new(config(redis.addr()).build());
    sub.subscribe(&["news"]).await.unwrap();
    sub.psubscribe(&["sport.*"]).await.unwrap();
    let n: i64 = publisher
        .query(cmd("PUBLISH").arg("news").arg("hello"))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let m = bounded(5, "message", sub.next()).await.unwrap();
    assert_eq!(
        (&m.channel[..], &m.payload[..], m.pattern),
        (&b"news"[..], &b"hello"[..], None)
    );
    let _: i64 = publisher
        .query(cmd("PUBLISH").arg("sport.ski").arg("gold"))
        .await
        .unwrap();
    let m = bounded(5, "pmessage", sub.next()).await.unwrap();
    assert_eq!(m.pattern.as_deref(), Some(&b"sport.*"[..]));
    assert_eq!(&m.channel[..], b"sport.ski");
    assert_eq!(&m.payload[..], b"gold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_restored_after_a_server_restart() {
    let mut redis = RedisServer::start();
    let mut sub = Subscriber::connect(resp2(&redis)).await.unwrap();
    let publisher = Client::new(config(redis.addr()).build());
    sub.subscribe(&["news"]).await.unwrap();
    sub.psubscribe(&["sport.*"]).await.unwrap();
    publish_until_received(&publisher, &mut sub, "news", "before").await;
    redis.restart();
    publish_until_received(&publisher, &mut sub, "news", "after").await;
    publish_until_received(&publisher, &mut sub, "sport.ski", "after").await;
    assert!(sub.reconnects() >= 1);
    // Changes after the reconnect are confirmed as before.
    sub.unsubscribe(&["news"]).await.unwrap();
    assert_eq!(numsub(&publisher, "news").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_issued_while_the_server_is_down_completes_after_it_returns() {
    let mut redis = RedisServer::start();
    let sub = Subscriber::connect(resp2(&redis)).await.unwrap();
    redis.kill();
    let sub = std::sync::Arc::new(sub);
    let s2 = sub.clone();
    let pending = tokio::spawn(async move { s2.subscribe(&["late"]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let port = redis.port;
    redis = RedisServer::start_on(port);
    bounded(10, "subscribe across a restart", pending)
        .await
        .unwrap()
        .unwrap();
    let admin = Client::new(config(redis.addr()).build());
    assert_eq!(numsub(&admin, "late").await, 1);
}

/// A subscriber is a connection like any other: its reconnect goes through the same state
/// machine, so `watch()` shows it leave Ready and come back with a later epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_s_reconnect_shows_in_watch() {
    let mut redis = RedisServer::start();
    let mut sub = Subscriber::connect(resp2(&redis)).await.unwrap();
    let publisher = Client::new(config(redis.addr()).build());
    sub.subscribe(&["news"]).await.unwrap();
    let mut watch = sub.watch();
    let before = watch.borrow_and_update().clone();
    assert_eq!(before.state, lockstep::State::Ready);
    redis.restart();
    // The restart may be over before the watch is read: the epoch tells that Ready was
    // left (one transition at least) and entered again (one more).
    let back = bounded(
        10,
        "Ready again at a later epoch",
        watch.wait_for(|s| s.state == lockstep::State::Ready && s.epoch > before.epoch),
    )
    .await
    .map(|s| s.clone())
    .unwrap();
    assert!(back.epoch >= before.epoch + 2, "{before:?} -> {back:?}");
    publish_until_received(&publisher, &mut sub, "news", "after").await;
    assert_eq!(sub.reconnects(), 1);
}
