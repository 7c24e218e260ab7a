//! The cluster client against lockstep's own cluster (three primaries in this process) and
//! against a real Redis Cluster of redis-server processes joined by
//! `redis-cli --cluster create`: routing by slot, MOVED followed after a slot changes
//! hands, multi-key commands split by slot, keyless ones sent to every shard, SCAN across
//! nodes, pipelines split by node, seed 000's connect → SET → disconnect → connect loop
//! without an error; against a real cluster with replicas, reads served by replicas; on
//! both, with replicas, a primary stopped under load from 100 tasks without losing an
//! acknowledged write.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::bounded;
use lockstep::cluster::{ClusterOptions, ReadFrom};
use lockstep::{cmd, Addr, ClusterClient, Commands, Config};

fn client_for(addrs: &[SocketAddr]) -> ClusterClient {
    client_with(addrs, ClusterOptions::default())
}

fn client_with(addrs: &[SocketAddr], opts: ClusterOptions) -> ClusterClient {
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
    ClusterClient::with_options(&seeds, base, opts)
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
    // MSETNX is all or nothing on one node: across slots it stays refused.
    let err = c
        .query::<i64>(cmd("MSETNX").arg("a").arg(1).arg("b").arg(2))
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

/// MSET/MGET/EXISTS/TOUCH/DEL/UNLINK over keys in every slot range, split by slot and put
/// back in key order; DBSIZE summed, KEYS concatenated, FLUSHALL and SCRIPT LOAD on every
/// shard, SCRIPT EXISTS and-ed, SCAN walking every node behind one cursor.
async fn splits_and_fans_out(c: &ClusterClient) {
    let _: () = c.query(cmd("FLUSHALL")).await.unwrap();
    assert_eq!(c.query::<i64>(cmd("DBSIZE")).await.unwrap(), 0);
    let keys: Vec<String> = (0..60).map(|i| format!("split:{i}")).collect();
    let mut mset = cmd("MSET");
    for (i, k) in keys.iter().enumerate() {
        mset = mset.arg(k).arg(i);
    }
    let _: () = c.query(mset).await.unwrap();
    let mut mget = cmd("MGET");
    for (i, k) in keys.iter().enumerate() {
        mget = mget.arg(k);
        if i == 7 {
            mget = mget.arg("split:missing");
        }
    }
    let got: Vec<Option<i64>> = c.query(mget).await.unwrap();
    let mut want: Vec<Option<i64>> = (0..60).map(Some).collect();
    want.insert(8, None);
    assert_eq!(got, want, "MGET in key order, the missing key nil");
    let exists = cmd("EXISTS")
        .arg(&keys[0])
        .arg(&keys[1])
        .arg("nope")
        .arg(&keys[0]);
    assert_eq!(c.query::<i64>(exists).await.unwrap(), 3);
    let touch = cmd("TOUCH").arg(&keys[2]).arg(&keys[3]).arg("nope");
    assert_eq!(c.query::<i64>(touch).await.unwrap(), 2);
    assert_eq!(c.query::<i64>(cmd("DBSIZE")).await.unwrap(), 60);

    let mut listed: Vec<String> = c.query(cmd("KEYS").arg("split:*")).await.unwrap();
    listed.sort();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "KEYS from every shard");

    let mut scanned = BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let (next, batch): (String, Vec<String>) = c
            .query(cmd("SCAN").arg(&cursor).arg("COUNT").arg(7))
            .await
            .unwrap();
        calls += 1;
        scanned.extend(batch);
        cursor = next;
        if cursor == "0" {
            break;
        }
        assert!(calls < 1000, "SCAN never ended");
    }
    assert_eq!(scanned, sorted.iter().cloned().collect::<BTreeSet<_>>());
    assert!(calls >= c.nodes().len(), "one node per call at least");

    let sha: String = c
        .query(
            cmd("SCRIPT")
                .arg("LOAD")
                .arg("return redis.call('GET', KEYS[1])"),
        )
        .await
        .unwrap();
    for k in &keys {
        // EVALSHA finds the script on whichever shard the key lives.
        let v: i64 = c
            .query(cmd("EVALSHA").arg(&sha).arg(1).arg(k))
            .await
            .unwrap();
        assert_eq!(Some(v), keys.iter().position(|x| x == k).map(|p| p as i64));
    }
    let known: Vec<i64> = c
        .query(cmd("SCRIPT").arg("EXISTS").arg(&sha).arg("0000"))
        .await
        .unwrap();
    assert_eq!(known, [1, 0], "and-ed over every shard");

    let mut del = cmd("DEL");
    for k in &keys[..30] {
        del = del.arg(k);
    }
    assert_eq!(c.query::<i64>(del).await.unwrap(), 30);
    let mut unlink = cmd("UNLINK");
    for k in &keys[30..] {
        unlink = unlink.arg(k);
    }
    assert_eq!(c.query::<i64>(unlink.arg("nope")).await.unwrap(), 30);
    assert_eq!(c.query::<i64>(cmd("DBSIZE")).await.unwrap(), 0);
    assert!(c.metrics().fanouts >= 8, "{:?}", c.metrics());
}

/// A pipeline over keys on every node comes back in command order; an atomic one on one
/// hash tag runs as a transaction; an atomic one across slots is refused.
async fn pipelines_split_by_node(c: &ClusterClient) {
    let mut p = c.pipeline();
    for i in 0..100 {
        p.cmd(cmd("SET").arg(format!("pipe:{i}")).arg(i));
        p.cmd(cmd("GET").arg(format!("pipe:{i}")));
    }
    p.cmd(cmd("DBSIZE"));
    let replies: Vec<lockstep::Frame> = p.query().await.unwrap();
    assert_eq!(replies.len(), 201);
    for i in 0..100 {
        assert_eq!(replies[2 * i], lockstep::Frame::Simple("OK".into()));
        assert_eq!(
            replies[2 * i + 1],
            lockstep::Frame::Bulk(i.to_string().into_bytes().into())
        );
    }
    assert!(matches!(replies[200], lockstep::Frame::Integer(n) if n >= 100));

    let mut tx = c.pipeline();
    tx.atomic()
        .cmd(cmd("INCR").arg("{acct}a"))
        .cmd(cmd("INCRBY").arg("{acct}b").arg(5));
    let (a, b): (i64, i64) = tx.query().await.unwrap();
    assert_eq!((a, b), (1, 5));
    let mut cross = c.pipeline();
    cross
        .atomic()
        .cmd(cmd("INCR").arg("a"))
        .cmd(cmd("INCR").arg("b"));
    let err = cross.query::<Vec<i64>>().await.unwrap_err();
    assert_eq!(err.server_error().unwrap().code, "CROSSSLOT", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_cluster_routes_and_survives_the_reconnect_loop() {
    let cluster = lockstep_server::Cluster::start(lockstep_server::ClusterConfig::ephemeral(3))
        .await
        .unwrap();
    let c = client_for(&cluster.addrs());
    bounded(30, "routing", routes_by_slot(&c)).await;
    bounded(30, "split and fan-out", splits_and_fans_out(&c)).await;
    bounded(30, "pipelines", pipelines_split_by_node(&c)).await;
    bounded(60, "reconnect loop", reconnect_loop(&c, 200)).await;
    cluster.stop().await;
}

/// A real Redis Cluster of three primaries (and `replicas` replicas each) on free loopback
/// ports.
struct RedisCluster {
    children: Vec<Option<Child>>,
    ports: Vec<u16>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    fn start() -> RedisCluster {
        RedisCluster::start_with(0)
    }

    fn start_with(replicas: usize) -> RedisCluster {
        let ports: Vec<u16> = (0..3 * (1 + replicas))
            .map(|_| free_cluster_port())
            .collect();
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
                        "--cluster-node-timeout",
                        "1000",
                        // A replica may take over however long it was apart from its
                        // primary (Redis's default refuses after ten node timeouts).
                        "--cluster-replica-validity-factor",
                        "0",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map(Some)
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
            .arg("--cluster-replicas")
            .arg(replicas.to_string())
            .arg("--cluster-yes")
            .output()
            .expect("these tests need redis-cli in PATH");
        assert!(out.status.success(), "redis-cli --cluster create: {out:?}");
        for p in &cluster.ports {
            cluster.wait_for(*p, &["CLUSTER", "INFO"], "cluster_state:ok");
        }
        if replicas > 0 {
            // Every replica attached and in sync, as CLUSTER SHARDS tells clients.
            let deadline = Instant::now() + Duration::from_secs(20);
            while cluster
                .cli(cluster.ports[0], &["CLUSTER", "SHARDS"])
                .matches("online")
                .count()
                < cluster.ports.len()
            {
                assert!(Instant::now() < deadline, "replicas never came online");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// Stops the node on `port` as `kill -TERM` does: Redis 7 waits for its replicas to
    /// catch up before it exits.
    fn stop(&mut self, port: u16) {
        let i = self.ports.iter().position(|p| *p == port).unwrap();
        if let Some(mut child) = self.children[i].take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    fn slots_of(&self, port: u16) -> Vec<(u16, u16)> {
        slots_of(port)
    }

    fn primary_of(&self, slot: u16) -> u16 {
        primary_of(&self.ports, slot)
    }

    fn cli(&self, port: u16, args: &[&str]) -> String {
        cli(port, args)
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
        for c in self.children.iter_mut().flatten() {
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
    bounded(30, "split and fan-out", splits_and_fans_out(&c)).await;
    bounded(30, "pipelines", pipelines_split_by_node(&c)).await;

    // Hand an empty slot to another node behind the client's back: its map is stale, the
    // owner answers MOVED, and the client follows and remembers.
    let key = "moving";
    let slot = lockstep_commands::key_slot(key.as_bytes());
    let from = redis.primary_of(slot);
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

/// With `ReadFrom::PreferReplica`, reads go to the replicas (READONLY on their
/// connections), writes to the primaries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_serves_reads_from_replicas() {
    let redis = RedisCluster::start_with(1);
    let opts = ClusterOptions {
        read_from: ReadFrom::PreferReplica,
        ..ClusterOptions::default()
    };
    let c = client_with(&redis.addrs(), opts);
    bounded(30, "reads from replicas", async {
        c.connect().await.unwrap();
        assert_eq!(c.nodes().len(), 3);
        assert_eq!(c.replicas().len(), 3, "{:?}", c.replicas());
        let _: () = c.query(cmd("CONFIG").arg("RESETSTAT")).await.unwrap();
        for i in 0..90 {
            c.set(format!("r:{i}"), i).await.unwrap();
        }
        // WAIT goes to every shard; the smallest count of replicas that acknowledged.
        let acked: i64 = c.query(cmd("WAIT").arg(1).arg(5000)).await.unwrap();
        assert_eq!(acked, 1);
        for i in 0..90 {
            assert_eq!(c.get::<i64>(format!("r:{i}")).await.unwrap(), i);
        }
    })
    .await;
    let replica_ports: Vec<u16> = c
        .replicas()
        .iter()
        .map(|n| n.rsplit_once(':').unwrap().1.parse().unwrap())
        .collect();
    let gets = |port: u16| -> u64 {
        let stats = redis.cli(port, &["INFO", "commandstats"]);
        stats
            .lines()
            .find(|l| l.starts_with("cmdstat_get:"))
            .and_then(|l| l.split("calls=").nth(1))
            .and_then(|v| v.split(',').next())
            .map_or(0, |v| v.parse().unwrap())
    };
    let on_replicas: u64 = replica_ports.iter().map(|p| gets(*p)).sum();
    let on_primaries: u64 = redis
        .ports
        .iter()
        .filter(|p| !replica_ports.contains(p))
        .map(|p| gets(*p))
        .sum();
    assert_eq!((on_replicas, on_primaries), (90, 0));
}

/// 100 tasks write (ten of them to the shard that will fail, ninety to the others); the
/// failing shard's primary is stopped and its replica promoted. Every write the tasks saw
/// acknowledged is there afterwards, the other shards keep their throughput through the
/// outage, and the stopped shard serves again soon after the promotion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_failover_under_load_loses_no_acknowledged_write() {
    let mut redis = RedisCluster::start_with(1);
    let victim = redis.primary_of(lockstep_commands::key_slot(b"victim"));
    let addrs = redis.addrs();
    failover_under_load(&addrs, victim, async {
        tokio::task::block_in_place(|| redis.stop(victim));
    })
    .await;
}

/// The same against a lockstep cluster of three primaries and three replicas: the victim
/// is stopped as a killed process is (`Cluster::stop_node`), its replica promoted after the
/// node timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_cluster_failover_under_load_loses_no_acknowledged_write() {
    let mut cluster = lockstep_server::Cluster::start(lockstep_server::ClusterConfig {
        replicas: 1,
        node_timeout: Duration::from_millis(1000),
        ..lockstep_server::ClusterConfig::ephemeral(3)
    })
    .await
    .unwrap();
    let addrs = cluster.addrs();
    let ports: Vec<u16> = addrs.iter().map(|a| a.port()).collect();
    let victim = primary_of(&ports, lockstep_commands::key_slot(b"victim"));
    let index = ports.iter().position(|p| *p == victim).unwrap();
    failover_under_load(&addrs, victim, async {
        cluster.stop_node(index).await.unwrap();
    })
    .await;
    cluster.stop().await;
}

/// 100 tasks write against the cluster at `addrs`; `stop_victim` stops the primary on port
/// `victim` (which serves the slot of `{victim}`) once they have run for a second.
async fn failover_under_load(
    addrs: &[SocketAddr],
    victim: u16,
    stop_victim: impl std::future::Future<Output = ()>,
) {
    let c = client_for(addrs);
    c.connect().await.unwrap();
    let victim_node = format!("127.0.0.1:{victim}");
    let victim_slots = slots_of(victim);
    let on_victim = |key: &str| {
        let slot = lockstep_commands::key_slot(key.as_bytes());
        victim_slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
    };
    // Ninety hash tags on the healthy shards.
    let healthy_tags: Vec<String> = (0..)
        .map(|i| format!("h{i}"))
        .filter(|t| !on_victim(&format!("{{{t}}}")))
        .take(90)
        .collect();

    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let errors: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let healthy_acks = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..100 {
        let (c, acked, errors, stop) = (c.clone(), acked.clone(), errors.clone(), stop.clone());
        let healthy = healthy_acks.clone();
        let tag = if t < 10 {
            None
        } else {
            Some(healthy_tags[t - 10].clone())
        };
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = match &tag {
                    None => format!("{{victim}}:{t}:{n}"),
                    Some(tag) => format!("{{{tag}}}:{n}"),
                };
                match c.set(&key, n).await {
                    Ok(()) => {
                        if tag.is_some() {
                            healthy.fetch_add(1, Ordering::Relaxed);
                        }
                        acked.lock().unwrap().insert(key, n);
                    }
                    Err(e) => {
                        let kind = format!("{e}").chars().take(60).collect::<String>();
                        *errors.lock().unwrap().entry(kind).or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let before = healthy_acks.load(Ordering::Relaxed);
    let stopped_at = Instant::now();
    stop_victim.await;
    // The victim's shard serves again: a write there is acknowledged.
    let recovered = bounded(30, "the stopped shard to serve again", async {
        loop {
            if c.set("{victim}:probe", 1).await.is_ok() {
                return stopped_at.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let during = healthy_acks.load(Ordering::Relaxed) - before;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let victims = acked.keys().filter(|k| k.starts_with("{victim}")).count();
    let per_s_before = before as f64; // over the first second
    let per_s_during = during as f64 / recovered.as_secs_f64();
    eprintln!(
        "failover: {} writes acknowledged ({victims} on the stopped shard); healthy shards \
         {per_s_before:.0} writes/s before the stop, {per_s_during:.0} writes/s during the \
         outage; the stopped shard served again after {recovered:?}; errors seen: {:?}",
        acked.len(),
        errors.lock().unwrap()
    );
    assert!(
        victims > 0,
        "the victim's shard took writes before the stop"
    );
    assert!(
        per_s_during > per_s_before / 4.0,
        "the healthy shards kept serving while one was down"
    );
    assert!(recovered < Duration::from_secs(20), "{recovered:?}");
    assert!(!c.nodes().contains(&victim_node), "{:?}", c.nodes());
    // Every acknowledged write is there.
    let keys: Vec<&String> = acked.keys().collect();
    for chunk in keys.chunks(500) {
        let mut mget = cmd("MGET");
        for k in chunk {
            mget = mget.arg(k.as_str());
        }
        let got: Vec<Option<u64>> = c.query(mget).await.unwrap();
        for (k, v) in chunk.iter().zip(got) {
            assert_eq!(v, Some(acked[*k]), "acknowledged write {k} lost");
        }
    }
}

/// 50 tasks write and read back while `redis-cli --cluster reshard` moves 1000 slots from
/// one primary to another (MIGRATING/IMPORTING, MIGRATE key by key, SETSLOT NODE): the
/// callers see no error, every value reads back, and the client followed ASK and MOVED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_reshard_under_load_shows_callers_no_error() {
    let redis = RedisCluster::start();
    reshard_under_load(&redis.addrs()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_cluster_reshard_under_load_shows_callers_no_error() {
    let cluster = lockstep_server::Cluster::start(lockstep_server::ClusterConfig::ephemeral(3))
        .await
        .unwrap();
    reshard_under_load(&cluster.addrs()).await;
    cluster.stop().await;
}

async fn reshard_under_load(addrs: &[SocketAddr]) {
    let ports: Vec<u16> = addrs.iter().map(|a| a.port()).collect();
    let c = client_for(addrs);
    c.connect().await.unwrap();
    let from = primary_of(&ports, 0);
    let to = *ports.iter().find(|p| **p != from).unwrap();
    let id = |p: u16| cli(p, &["CLUSTER", "MYID"]).trim().to_string();
    let (from_id, to_id) = (id(from), id(to));

    let stop = Arc::new(AtomicBool::new(false));
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let ops = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..50 {
        let (c, stop, errors, ops) = (c.clone(), stop.clone(), errors.clone(), ops.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Keys all over the slot space, many in the slots being moved.
                let key = format!("rs:{t}:{}", n % 200);
                let r = async {
                    c.set(&key, n).await?;
                    let back: u64 = c.get(&key).await?;
                    let pair: Vec<Option<u64>> = c
                        .query(
                            cmd("MGET")
                                .arg(&key)
                                .arg(format!("rs:{t}:{}", (n + 1) % 200)),
                        )
                        .await?;
                    Ok::<_, lockstep::Error>((back, pair[0]))
                }
                .await;
                match r {
                    Ok((back, first)) if back == n && first == Some(n) => {
                        ops.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(other) => errors
                        .lock()
                        .unwrap()
                        .push(format!("{key}: {other:?} != {n}")),
                    Err(e) => errors.lock().unwrap().push(format!("{key}: {e}")),
                }
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = tokio::task::spawn_blocking(move || {
        Command::new("redis-cli")
            .args(["--cluster", "reshard", &format!("127.0.0.1:{from}")])
            .args(["--cluster-from", &from_id, "--cluster-to", &to_id])
            .args([
                "--cluster-slots",
                "1000",
                "--cluster-yes",
                "--cluster-pipeline",
                "10",
            ])
            .output()
            .expect("redis-cli")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "reshard: {out:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let errors = errors.lock().unwrap();
    let m = c.metrics();
    eprintln!(
        "reshard: {} checked operations, {} errors, {m:?}",
        ops.load(Ordering::Relaxed),
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "callers saw errors: {:?}",
        &errors[..errors.len().min(10)]
    );
    assert!(m.moved > 0, "the client followed the slots: {m:?}");
    assert!(
        tokio::task::block_in_place(|| slots_of(to))
            .iter()
            .any(|(a, _)| *a == 0),
        "slot 0 moved"
    );
}

/// Publishes `payload` on `channel` every 100 ms until the subscriber receives it.
async fn spublish_until_received(
    c: &ClusterClient,
    sub: &mut lockstep::ClusterSubscriber,
    channel: &str,
    payload: &str,
) {
    let what = format!("a message on {channel}");
    bounded(20, &what, async {
        loop {
            let _ = c
                .query::<i64>(cmd("SPUBLISH").arg(channel).arg(payload))
                .await;
            if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await
            {
                if m.channel == channel.as_bytes() && m.payload == payload.as_bytes() {
                    return;
                }
            }
        }
    })
    .await;
}

/// The subscriber counts a move once the new node confirmed it, which may be just after
/// the first message there arrived.
async fn moves_reach(sub: &lockstep::ClusterSubscriber, n: u64) {
    bounded(5, "the move to be counted", async {
        while sub.moves() < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Shard channels spread over the slot space: each is received through the connection to
/// its slot's primary.
async fn sharded_pubsub_basics(c: &ClusterClient) -> lockstep::ClusterSubscriber {
    let mut sub = c.sharded_subscriber();
    let channels: Vec<String> = (0..9).map(|i| format!("news:{i}")).collect();
    sub.ssubscribe(&channels).await.unwrap();
    for ch in &channels {
        let n: i64 = c.query(cmd("SPUBLISH").arg(ch).arg("hello")).await.unwrap();
        assert_eq!(n, 1, "{ch} has one subscriber on its shard");
    }
    let mut got = BTreeSet::new();
    while got.len() < channels.len() {
        let m = bounded(10, "sharded messages", sub.next()).await.unwrap();
        assert_eq!(m.payload, "hello".as_bytes());
        got.insert(String::from_utf8(m.channel.to_vec()).unwrap());
    }
    assert_eq!(got, channels.iter().cloned().collect::<BTreeSet<_>>());
    sub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_cluster_sharded_pubsub() {
    let cluster = lockstep_server::Cluster::start(lockstep_server::ClusterConfig::ephemeral(3))
        .await
        .unwrap();
    let c = client_for(&cluster.addrs());
    let sub = bounded(30, "sharded pub/sub", sharded_pubsub_basics(&c)).await;
    sub.sunsubscribe::<&str>(&[]).await.unwrap();
    let n: i64 = c
        .query(cmd("SPUBLISH").arg("news:1").arg("x"))
        .await
        .unwrap();
    assert_eq!(n, 0, "unsubscribed everywhere");
    drop(sub);
    cluster.stop().await;
}

/// Sharded subscriptions follow their slot when it is handed to another primary (the
/// old owner unsubscribes them by itself) and when a primary is stopped and its replica
/// promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_sharded_pubsub_follows_slot_moves_and_failovers() {
    let mut redis = RedisCluster::start_with(1);
    let c = client_for(&redis.addrs());
    let mut sub = bounded(30, "sharded pub/sub", sharded_pubsub_basics(&c)).await;

    // A slot handed over behind the client's back.
    let moving = "news:3";
    let slot = lockstep_commands::key_slot(moving.as_bytes());
    let from = redis.primary_of(slot);
    let primaries: Vec<u16> = redis
        .ports
        .iter()
        .copied()
        .filter(|p| !redis.slots_of(*p).is_empty())
        .collect();
    let to = *primaries.iter().find(|p| **p != from).unwrap();
    let to_id = redis.cli(to, &["CLUSTER", "MYID"]).trim().to_string();
    for p in &redis.ports {
        redis.cli(
            *p,
            &["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &to_id],
        );
    }
    spublish_until_received(&c, &mut sub, moving, "after the move").await;
    moves_reach(&sub, 1).await;

    // A primary stopped: its replica takes over, the channel follows.
    let failing = "news:5";
    let victim = redis.primary_of(lockstep_commands::key_slot(failing.as_bytes()));
    tokio::task::block_in_place(|| redis.stop(victim));
    spublish_until_received(&c, &mut sub, failing, "after the failover").await;
    moves_reach(&sub, 2).await;
    // The others never stopped working.
    spublish_until_received(&c, &mut sub, "news:0", "still here").await;
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The slot ranges the node on `port` serves.
fn slots_of(port: u16) -> Vec<(u16, u16)> {
    let nodes = cli(port, &["CLUSTER", "NODES"]);
    let me = nodes.lines().find(|l| l.contains("myself")).unwrap_or("");
    me.split_ascii_whitespace()
        .skip(8)
        .filter_map(|r| {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

/// The port of the primary (among `ports`) that serves `slot`.
fn primary_of(ports: &[u16], slot: u16) -> u16 {
    ports
        .iter()
        .copied()
        .find(|p| {
            cli(*p, &["CLUSTER", "NODES"])
                .lines()
                .any(|l| l.contains("myself") && l.contains("master") && serves(l, slot))
        })
        .unwrap()
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
