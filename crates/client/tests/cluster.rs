//! The cluster client against lockstep's own cluster (three primaries in this process) and
//! against a real Redis Cluster of three redis-server processes joined by
//! `redis-cli --cluster create`: routing by slot, MOVED followed after a slot changes
//! hands, and seed 000's connect → SET → disconnect → connect loop without an error.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::bounded;
use lockstep::{cmd, Addr, ClusterClient, Commands, Config};

fn client_for(addrs: &[SocketAddr]) -> ClusterClient {
    let seeds: Vec<Addr> = addrs
        .iter()
        .map(|a| Addr::Tcp {
            host: a.ip().to_string(),
            port: a.port(),
            tls: false,
        })
        .collect();
    let base = Config::builder()
        .command_timeout(Some(Duration::from_secs(5)))
        .build();
    ClusterClient::new(&seeds, base)
}

/// Keys in every part of the slot space, written and read back; a multi-key command whose
/// keys share a hash tag; a cross-slot one refused as a cluster refuses it.
async fn routes_by_slot(c: &ClusterClient) {
    c.connect().await.unwrap();
    assert_eq!(c.nodes().len(), 3, "{:?}", c.nodes());
    for i in 0..300 {
        c.set(format!("key:{i}"), i).await.unwrap();
    }
    for i in 0..300 {
        assert_eq!(c.get::<i64>(format!("key:{i}")).await.unwrap(), i);
    }
    let _: () = c
        .query(cmd("MSET").arg("{t}a").arg(1).arg("{t}b").arg(2))
        .await
        .unwrap();
    let both: Vec<i64> = c.query(cmd("MGET").arg("{t}a").arg("{t}b")).await.unwrap();
    assert_eq!(both, [1, 2]);
    let err = c
        .query::<Vec<Option<String>>>(cmd("MGET").arg("a").arg("b"))
        .await
        .unwrap_err();
    assert_eq!(err.server_error().unwrap().code, "CROSSSLOT", "{err}");
    let _: String = c.query(cmd("PING")).await.unwrap();
    assert_eq!(c.metrics().moved, 0, "the map was right: {:?}", c.metrics());
}

/// Seed 000: connect, SET, disconnect, connect again at once, many times.
async fn reconnect_loop(c: &ClusterClient, iterations: usize) {
    for i in 0..iterations {
        c.connect()
            .await
            .unwrap_or_else(|e| panic!("connect {i}: {e}"));
        c.set(format!("loop:{}", i % 50), i)
            .await
            .unwrap_or_else(|e| panic!("SET {i}: {e}"));
        c.disconnect().await;
    }
    c.connect().await.unwrap();
    assert_eq!(
        c.get::<usize>(format!("loop:{}", (iterations - 1) % 50))
            .await
            .unwrap(),
        iterations - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_cluster_routes_and_survives_the_reconnect_loop() {
    let cluster = lockstep_server::Cluster::start(lockstep_server::ClusterConfig::ephemeral(3))
        .await
        .unwrap();
    let c = client_for(&cluster.addrs());
    bounded(30, "routing", routes_by_slot(&c)).await;
    bounded(60, "reconnect loop", reconnect_loop(&c, 200)).await;
    cluster.stop().await;
}

/// A real Redis Cluster of three primaries on free loopback ports.
struct RedisCluster {
    children: Vec<Child>,
    ports: Vec<u16>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    fn start() -> RedisCluster {
        let ports: Vec<u16> = (0..3).map(|_| free_cluster_port()).collect();
        let dir = std::env::temp_dir().join(format!("lockstep-cluster-{}", ports[0]));
        std::fs::create_dir_all(&dir).unwrap();
        let children = ports
            .iter()
            .map(|p| {
                Command::new("redis-server")
                    .current_dir(&dir)
                    .args([
                        "--port",
                        &p.to_string(),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &format!("nodes-{p}.conf"),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--enable-debug-command",
                        "yes",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("these tests need redis-server in PATH")
            })
            .collect();
        let cluster = RedisCluster {
            children,
            ports,
            dir,
        };
        for p in &cluster.ports {
            cluster.wait_for(*p, &["PING"], "PONG");
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for p in &cluster.ports {
            create.arg(format!("127.0.0.1:{p}"));
        }
        let out = create
            .arg("--cluster-yes")
            .output()
            .expect("these tests need redis-cli in PATH");
        assert!(out.status.success(), "redis-cli --cluster create: {out:?}");
        for p in &cluster.ports {
            cluster.wait_for(*p, &["CLUSTER", "INFO"], "cluster_state:ok");
        }
        cluster
    }

    fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, port: u16, args: &[&str], expect: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.cli(port, args).contains(expect) {
            assert!(
                Instant::now() < deadline,
                "port {port}: {args:?} never said {expect}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        self.ports
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_routes_follows_moved_and_survives_the_reconnect_loop() {
    let redis = RedisCluster::start();
    let c = client_for(&redis.addrs());
    bounded(30, "routing", routes_by_slot(&c)).await;

    // Hand an empty slot to another node behind the client's back: its map is stale, the
    // owner answers MOVED, and the client follows and remembers.
    let key = "moving";
    let slot = lockstep_commands::key_slot(key.as_bytes());
    let from = redis
        .ports
        .iter()
        .copied()
        .find(|p| {
            redis
                .cli(*p, &["CLUSTER", "NODES"])
                .lines()
                .any(|l| l.contains("myself") && serves(l, slot))
        })
        .unwrap();
    let to = *redis.ports.iter().find(|p| **p != from).unwrap();
    let to_id = redis.cli(to, &["CLUSTER", "MYID"]).trim().to_string();
    for p in &redis.ports {
        let r = redis.cli(
            *p,
            &["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &to_id],
        );
        assert!(r.contains("OK"), "SETSLOT on {p}: {r}");
    }
    c.set(key, "here").await.unwrap();
    assert_eq!(c.metrics().moved, 1, "{:?}", c.metrics());
    assert_eq!(c.get::<String>(key).await.unwrap(), "here");
    assert_eq!(c.metrics().moved, 1, "remembered: {:?}", c.metrics());
    assert_eq!(redis.cli(to, &["GET", key]).trim(), "here");

    bounded(60, "reconnect loop", reconnect_loop(&c, 200)).await;
}

/// A free port whose cluster bus port (10000 above) is free too: the bus port of the
/// suite's range falls among the system's ephemeral ports, which client sockets may hold.
fn free_cluster_port() -> u16 {
    loop {
        let p = common::free_redis_port();
        if std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

/// Whether a CLUSTER NODES line lists `slot` among its ranges.
fn serves(line: &str, slot: u16) -> bool {
    line.split_ascii_whitespace().skip(8).any(|range| {
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) => (a..=b).contains(&slot),
            _ => false,
        }
    })
}
