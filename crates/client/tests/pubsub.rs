//! Pub/sub on the shared RESP3 connection survives a server restart.

mod common;

use common::{bounded, config, publish_until_received, RedisServer};
use lockstep::{cmd, Client, Commands, State};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_restored_after_a_restart() {
    let mut redis = RedisServer::start();
    let client = Client::new(config(redis.addr()).build());
    let publisher = Client::new(config(redis.addr()).build());
    let mut sub = client.subscribe(&["news"]).await.unwrap();
    let mut psub = client.psubscribe(&["sport.*"]).await.unwrap();
    // Ordinary commands keep working on the same connection.
    client.set("k", 1).await.unwrap();
    assert_eq!(client.get::<i64>("k").await.unwrap(), 1);
    publish_until_received(&publisher, &mut sub, "news", "before").await;
    publish_until_received(&publisher, &mut psub, "sport.ski", "before").await;

    let epoch = client.snapshot().epoch;
    redis.restart();
    let mut rx = client.watch();
    bounded(
        10,
        "reconnect",
        rx.wait_for(|s| s.epoch > epoch && s.state == State::Ready),
    )
    .await
    .unwrap();
    publish_until_received(&publisher, &mut sub, "news", "after").await;
    publish_until_received(&publisher, &mut psub, "sport.ski", "after").await;
    // Replies still match their commands after the resubscription.
    client.set("k", 2).await.unwrap();
    assert_eq!(client.get::<i64>("k").await.unwrap(), 2);
    let n: Vec<lockstep::Frame> = publisher
        .query(cmd("PUBSUB").arg("CHANNELS"))
        .await
        .unwrap();
    assert_eq!(n.len(), 1);
}
