//! Seed 004: pool of 5 with 100 concurrent tasks, pool of 2 with 200; pool timeouts counted;
//! no state violation; WATCH/MULTI/EXEC and blocking commands on dedicated connections.

mod common;

use std::time::Duration;

use common::{bounded, config, our_server, RedisServer};
use lockstep::{cmd, Commands, ConnState, Error, Frame, Pool, PoolOptions, PooledConn};

async fn contention(
    addr: std::net::SocketAddr,
    size: usize,
    tasks: usize,
    ops: usize,
    pool_timeout: Duration,
) {
    let pool = Pool::new(
        config(addr).build(),
        PoolOptions {
            size,
            pool_timeout,
            ..PoolOptions::default()
        },
    );
    let mut handles = Vec::new();
    for t in 0..tasks {
        let p = pool.clone();
        handles.push(tokio::spawn(async move {
            let (mut ok, mut pool_timeouts) = (0usize, 0usize);
            for i in 0..ops {
                let r = async {
                    let c = p.get().await?;
                    c.set(format!("t{t}"), i).await?;
                    let v: usize = c.get(format!("t{t}")).await?;
                    assert_eq!(v, i);
                    Ok::<_, Error>(())
                }
                .await;
                match r {
                    Ok(()) => ok += 1,
                    Err(Error::PoolTimeout { .. }) => pool_timeouts += 1,
                    Err(e) => panic!("operation failed: {e}"),
                }
            }
            (ok, pool_timeouts)
        }));
    }
    let (mut ok, mut timeouts) = (0, 0);
    for h in handles {
        let (o, t) = bounded(60, "pool tasks", h).await.unwrap();
        ok += o;
        timeouts += t;
    }
    let s = pool.stats();
    eprintln!("pool {size}/{tasks}: ok={ok} pool_timeouts={timeouts} stats={s:?}");
    assert_eq!(ok + timeouts, tasks * ops);
    assert_eq!(
        s.timeouts as usize, timeouts,
        "every pool timeout is counted"
    );
    assert_eq!(s.state_violations, 0);
    assert!(s.total <= size as u64, "{s:?}");
    assert_eq!(s.in_state(ConnState::InUse), 0);
    assert_eq!(s.in_state(ConnState::Initializing), 0);
    assert_eq!(s.idle, s.total);
    assert_eq!(s.hits + s.misses, (tasks * ops - timeouts) as u64);
    assert!(s.waits > 0, "contention must make tasks wait: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_of_5_with_100_tasks_lockstep_server() {
    let server = our_server(0).await;
    contention(server.addr(), 5, 100, 20, Duration::from_secs(5)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_of_2_with_200_tasks_and_short_timeout_lockstep_server() {
    let server = our_server(0).await;
    contention(server.addr(), 2, 200, 10, Duration::from_millis(2)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_scenarios_redis_server() {
    let redis = RedisServer::start();
    contention(redis.addr(), 5, 100, 20, Duration::from_secs(5)).await;
    contention(redis.addr(), 2, 200, 10, Duration::from_millis(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_connections_are_replaced_and_min_idle_kept() {
    let redis = RedisServer::start();
    let pool = Pool::new(
        config(redis.addr()).build(),
        PoolOptions {
            size: 3,
            min_idle: 2,
            maintenance_interval: Duration::from_millis(20),
            health_check_after: Duration::ZERO,
            ..PoolOptions::default()
        },
    );
    bounded(5, "min_idle", async {
        while pool.stats().idle < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Kill every connection from the server side: idle ones fail their health check.
    let admin = lockstep::Client::new(config(redis.addr()).build());
    let _: i64 = admin
        .query(
            cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("normal")
                .arg("SKIPME")
                .arg("yes"),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c = pool.get().await.unwrap();
    assert_eq!(c.ping().await.unwrap(), "PONG");
    drop(c);
    let s = pool.stats();
    assert!(s.stale >= 1, "{s:?}");
    assert_eq!(s.state_violations, 0);
}

/// MULTI, INCRBY balance 5, EXEC in one write; the replies of all three.
async fn add_five_in_a_transaction(c: &PooledConn) -> Vec<Frame> {
    c.send_all(&[
        cmd("MULTI"),
        cmd("INCRBY").arg("balance").arg(5),
        cmd("EXEC"),
    ])
    .await
    .unwrap()
}

/// WATCH + MULTI/EXEC on a dedicated connection; EXEC returns nil when the key changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_multi_exec_on_a_pooled_connection() {
    let redis = RedisServer::start();
    let pool = common::pool(redis.addr(), 2);
    let c = pool.get().await.unwrap();
    c.set("balance", 10).await.unwrap();
    c.send(&cmd("WATCH").arg("balance")).await.unwrap();
    // Another connection changes the key: the transaction must abort.
    pool.get().await.unwrap().set("balance", 99).await.unwrap();
    let replies = add_five_in_a_transaction(&c).await;
    assert_eq!(replies.last(), Some(&Frame::Null), "{replies:?}");
    // Without interference it commits.
    c.send(&cmd("WATCH").arg("balance")).await.unwrap();
    let replies = add_five_in_a_transaction(&c).await;
    assert_eq!(
        replies.last(),
        Some(&Frame::Array(vec![Frame::Integer(104)]))
    );
    // A blocking command on its own connection.
    let c2 = pool.get().await.unwrap();
    let r = c2
        .send(&cmd("BLPOP").arg("nothing").arg("0.1"))
        .await
        .unwrap();
    assert_eq!(r, Frame::Null);
}
