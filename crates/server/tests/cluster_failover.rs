//! Replicas, failover and fault injection on lockstep's cluster, next to a real 3+3 Redis
//! Cluster (`redis-cli --cluster create --cluster-replicas 1`) where the shape is compared:
//! CLUSTER NODES with ids, ports and times replaced by names, roles and epochs kept.

mod cluster_support;
mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cluster_support::{cluster_port, owner_of, RealNode};
use common::{info_field, wait_until, Conn};
use lockstep_resp::Frame;
use lockstep_server::{ClusterConfig, EmbeddedCluster};

fn lockstep(primaries: usize, replicas: usize, node_timeout_ms: u64) -> EmbeddedCluster {
    let config = ClusterConfig {
        replicas,
        node_timeout: Duration::from_millis(node_timeout_ms),
        ..ClusterConfig::ephemeral(primaries)
    };
    EmbeddedCluster::start(config).expect("cluster starts")
}

/// CLUSTER NODES as names: each primary by its first slot, each replica by its primary's,
/// the flags (without `myself`), the primary's name, the epoch, the link state and slots.
fn shape(nodes: &str) -> Vec<String> {
    let rows: Vec<Vec<&str>> = nodes.lines().map(|l| l.split(' ').collect()).collect();
    let name_of = |id: &str| -> String {
        rows.iter()
            .find(|r| r[0] == id)
            .and_then(|r| r.get(8))
            .map_or("?".into(), |s| {
                format!("P{}", s.split('-').next().unwrap_or(""))
            })
    };
    let mut shaped: Vec<String> = rows
        .iter()
        .map(|r| {
            let flags = r[2].replace("myself,", "");
            let (me, primary) = if r[3] == "-" {
                (name_of(r[0]), "-".to_string())
            } else {
                (format!("R{}", name_of(r[3])), name_of(r[3]))
            };
            format!(
                "{me} {flags} {primary} {} {} {}",
                r[6],
                r[7],
                r[8..].join(" ")
            )
        })
        .collect();
    shaped.sort();
    shaped
}

/// A real 3+3 cluster made by redis-cli, killed on drop.
struct Real3x3 {
    nodes: Vec<RealNode>,
    dir: std::path::PathBuf,
}

impl Drop for Real3x3 {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn real_3x3() -> Real3x3 {
    let dir = std::env::temp_dir().join(format!("lockstep-failover-{}", cluster_port()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut real = Real3x3 {
        nodes: Vec::new(),
        dir,
    };
    for _ in 0..6 {
        let port = cluster_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "500"])
            .arg("--cluster-config-file")
            .arg(real.dir.join(format!("nodes-{port}.conf")))
            .arg("--dir")
            .arg(&real.dir)
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("these tests need redis-server");
        real.nodes.push(RealNode { child, port });
    }
    for node in &real.nodes {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", node.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let status = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(real.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("these tests need redis-cli");
    assert!(status.success());
    // Settled: every node sees six nodes, three replicas, every link up.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let settled = real.nodes.iter().all(|n| {
            let mut c = Conn::open(addr(n.port));
            let nodes = c.text(&["CLUSTER", "NODES"]);
            c.text(&["CLUSTER", "INFO"]).contains("cluster_state:ok")
                && nodes.lines().count() == 6
                && nodes.matches("slave").count() == 3
                && nodes.lines().all(|l| l.contains(" connected"))
        });
        if settled {
            return real;
        }
        assert!(Instant::now() < deadline, "the real cluster did not settle");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn replicas_are_listed_as_a_real_3_plus_3_cluster_lists_them() {
    let real = real_3x3();
    let ours = lockstep(3, 1, 15000);
    let real_nodes = Conn::open(addr(real.nodes[0].port)).text(&["CLUSTER", "NODES"]);
    for (i, a) in ours.addrs().iter().enumerate() {
        let our_nodes = Conn::open(*a).text(&["CLUSTER", "NODES"]);
        assert_eq!(
            shape(&our_nodes),
            shape(&real_nodes),
            "node {i}:\n{our_nodes}"
        );
    }
    for field in [
        "cluster_state",
        "cluster_known_nodes",
        "cluster_size",
        "cluster_current_epoch",
    ] {
        let mut r = Conn::open(addr(real.nodes[0].port));
        let mut o = Conn::open(ours.addrs()[0]);
        let get = |c: &mut Conn| {
            c.text(&["CLUSTER", "INFO"])
                .lines()
                .find(|l| l.starts_with(field))
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(get(&mut o), get(&mut r));
    }
    // Replicas in SLOTS (primary then replica per range), SHARDS (role, health), INFO.
    for (port_o, port_r) in [(ours.addrs()[0].port(), real.nodes[0].port)] {
        let mut o = Conn::open(addr(port_o));
        let mut r = Conn::open(addr(port_r));
        let count = |f: Frame| match f {
            Frame::Array(ranges) => ranges
                .iter()
                .map(|r| match r {
                    Frame::Array(a) => a.len(),
                    _ => 0,
                })
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        // Every range: first, last, primary, replica. (The real node's CLUSTER SLOTS,
        // cached by 7.0 before its replicas attached, may still lack them here.)
        assert_eq!(count(o.command(&["CLUSTER", "SLOTS"])), [4, 4, 4]);
        let shards_o = format!("{:?}", o.command(&["CLUSTER", "SHARDS"]));
        assert_eq!(
            shards_o.matches("Bulk(b\"replica\")").count(),
            3,
            "{shards_o}"
        );
        assert_eq!(shards_o.matches("online").count(), 6, "{shards_o}");
        for field in ["role", "connected_slaves", "repl_backlog_active"] {
            assert_eq!(
                info_field(&mut o, "replication", field),
                info_field(&mut r, "replication", field),
                "{field}"
            );
        }
    }
    // A replica's INFO and ROLE name its primary; CLUSTER REPLICAS lists it.
    let our_nodes = Conn::open(ours.addrs()[0]).text(&["CLUSTER", "NODES"]);
    let replica_line = our_nodes
        .lines()
        .find(|l| l.contains("slave"))
        .expect("a replica");
    let cols: Vec<&str> = replica_line.split(' ').collect();
    let port: u16 = cols[1]
        .split(['@', ':'])
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("port");
    let mut replica = Conn::open(addr(port));
    wait_until("the replica's link", Duration::from_secs(5), || {
        info_field(&mut replica, "replication", "master_link_status") == "up"
    });
    assert_eq!(info_field(&mut replica, "replication", "role"), "slave");
    let replicas = Conn::open(ours.addrs()[0]).command(&["CLUSTER", "REPLICAS", cols[3]]);
    assert!(format!("{replicas:?}").contains(cols[0]), "{replicas:?}");
}

#[test]
fn writes_reach_replicas_in_order_and_wait_counts_them() {
    let cluster = lockstep(3, 1, 15000);
    let key = "{a}k";
    // Slot of {a} is 15495: served by the third primary, whose replica is node 4.
    let primary = owner_of(&cluster, 0, 15495);
    let nodes = Conn::open(cluster.addrs()[0]).text(&["CLUSTER", "NODES"]);
    let primary_id = cluster.nodes()[primary].id.to_string();
    let replica = cluster
        .nodes()
        .iter()
        .position(|n| {
            nodes.lines().any(|l| {
                l.starts_with(n.id.as_str()) && l.contains(&primary_id) && l.contains("slave")
            })
        })
        .expect("a replica of the primary");
    let mut p = Conn::open(cluster.addrs()[primary]);
    for i in 0..200 {
        p.ok(&["SET", key, &i.to_string()]);
        p.int(&["RPUSH", "{a}list", &i.to_string()]);
    }
    p.ok(&["MULTI"]);
    p.command(&["INCR", "{a}n"]);
    p.command(&["SADD", "{a}set", "x", "y", "z"]);
    p.command(&["EXEC"]);
    p.command(&[
        "EVAL",
        "redis.call('SET', KEYS[1], 'lua'); return redis.call('SPOP', KEYS[2])",
        "2",
        "{a}s",
        "{a}set",
    ]);
    p.command(&["SET", "{a}ttl", "v", "EX", "100"]);
    assert_eq!(p.int(&["WAIT", "1", "5000"]), 1);
    let mut r = Conn::open(cluster.addrs()[replica]);
    // Without READONLY: redirected to the primary.
    let moved = format!("{:?}", r.command(&["GET", key]));
    assert!(moved.contains("MOVED 15495"), "{moved}");
    r.ok(&["READONLY"]);
    assert_eq!(r.text(&["GET", key]), "199");
    assert_eq!(r.int(&["LLEN", "{a}list"]), 200);
    assert_eq!(r.text(&["GET", "{a}n"]), "1");
    assert_eq!(r.text(&["GET", "{a}s"]), "lua");
    assert_eq!(r.int(&["SCARD", "{a}set"]), p.int(&["SCARD", "{a}set"]));
    let members =
        |c: &mut Conn| format!("{:?}", c.command(&["SMISMEMBER", "{a}set", "x", "y", "z"]));
    assert_eq!(members(&mut r), members(&mut p));
    assert_eq!(
        r.int(&["PEXPIRETIME", "{a}ttl"]),
        p.int(&["PEXPIRETIME", "{a}ttl"])
    );
    // Writes on a replica: MOVED for a key, -READONLY without one.
    assert!(format!("{:?}", r.command(&["SET", key, "x"])).contains("MOVED"));
    let refused = format!("{:?}", r.command(&["FLUSHALL"]));
    assert!(
        refused.contains("READONLY You can't write against a read only replica."),
        "{refused}"
    );
    assert!(format!("{:?}", r.command(&["WAIT", "0", "0"]))
        .contains("WAIT cannot be used with replica"));
    // Offsets agree.
    let po = info_field(&mut p, "replication", "master_repl_offset");
    assert_eq!(info_field(&mut r, "replication", "slave_repl_offset"), po);
    assert!(po.parse::<u64>().unwrap_or(0) > 0);
    // WAIT for more replicas than there are times out with the count.
    let started = Instant::now();
    assert_eq!(p.int(&["WAIT", "2", "100"]), 1);
    assert!(started.elapsed() >= Duration::from_millis(90));
}

/// Writes acknowledged by the old primary (each WAITed for) are all on the new one after a
/// failover of `mode`, and the old primary follows the new one.
fn failover_loses_nothing(mode: &str) {
    let cluster = lockstep(3, 1, 15000);
    let primary = owner_of(&cluster, 0, 15495);
    let primary_id = cluster.nodes()[primary].id.to_string();
    let nodes = Conn::open(cluster.addrs()[0]).text(&["CLUSTER", "NODES"]);
    let replica = cluster
        .nodes()
        .iter()
        .position(|n| {
            nodes.lines().any(|l| {
                l.starts_with(n.id.as_str()) && l.contains(&primary_id) && l.contains("slave")
            })
        })
        .expect("replica");
    let mut p = Conn::open(cluster.addrs()[primary]);
    for i in 0..100 {
        p.int(&["RPUSH", "{a}acked", &i.to_string()]);
    }
    let epoch_before: u64 = info_field_cluster(&cluster, 0, "cluster_current_epoch");
    let mut r = Conn::open(cluster.addrs()[replica]);
    let mut args = vec!["CLUSTER", "FAILOVER"];
    if !mode.is_empty() {
        args.push(mode);
    }
    r.ok(&args);
    wait_until("the replica's promotion", Duration::from_secs(5), || {
        owner_of(&cluster, 0, 15495) == replica
    });
    assert_eq!(
        info_field_cluster(&cluster, 0, "cluster_current_epoch"),
        epoch_before + 1
    );
    assert_eq!(r.int(&["LLEN", "{a}acked"]), 100);
    // The old primary redirects, then follows the new one.
    let moved = format!("{:?}", p.command(&["RPUSH", "{a}acked", "x"]));
    assert!(
        moved.contains(&format!("MOVED 15495 {}", cluster.addrs()[replica])),
        "{moved}"
    );
    r.int(&["RPUSH", "{a}acked", "100"]);
    assert_eq!(r.int(&["WAIT", "1", "5000"]), 1);
    p.ok(&["READONLY"]);
    assert_eq!(p.int(&["LLEN", "{a}acked"]), 101);
    assert_eq!(info_field(&mut p, "replication", "role"), "slave");
}

fn info_field_cluster(cluster: &EmbeddedCluster, i: usize, field: &str) -> u64 {
    Conn::open(cluster.addrs()[i])
        .text(&["CLUSTER", "INFO"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn cluster_failover_default_loses_no_acknowledged_write() {
    failover_loses_nothing("");
}

#[test]
fn cluster_failover_takeover_loses_no_acknowledged_write() {
    failover_loses_nothing("TAKEOVER");
}

#[test]
fn a_stopped_primary_is_replaced_and_rejoins_as_a_replica() {
    let cluster = lockstep(3, 1, 500);
    let check = cluster_check(cluster.addrs()[0]);
    assert_eq!(
        check.matches("1 additional replica(s)").count(),
        3,
        "{check}"
    );
    let primary = owner_of(&cluster, 0, 15495);
    let mut p = Conn::open(cluster.addrs()[primary]);
    for i in 0..50 {
        p.int(&["RPUSH", "{a}acked", &i.to_string()]);
    }
    assert_eq!(p.int(&["WAIT", "1", "5000"]), 1);
    let other = (primary + 1) % 3;
    let mut watcher = Conn::open(cluster.addrs()[other]);
    let victim_id = cluster.nodes()[primary].id.as_str();
    assert_eq!(
        watcher.int(&["CLUSTER", "COUNT-FAILURE-REPORTS", victim_id]),
        0
    );
    cluster.stop_node(primary).expect("stop");
    assert!(std::net::TcpStream::connect(cluster.addrs()[primary]).is_err());
    let flagged = wait_until("fail flag", Duration::from_secs(5), || {
        watcher.text(&["CLUSTER", "NODES"]).contains("master,fail ")
    });
    let promoted = wait_until("promotion", Duration::from_secs(5), || {
        owner_of(&cluster, other, 15495) != primary
    });
    eprintln!(
        "failure flagged after {flagged:?}, promotion {promoted:?} later (node timeout 500 ms)"
    );
    let new_primary = owner_of(&cluster, other, 15495);
    // The failed node's reports: one from each other primary that answers (the third
    // original one and the promoted replica), none from the asking node itself.
    let victim_id = cluster.nodes()[primary].id.as_str();
    assert_eq!(
        watcher.int(&["CLUSTER", "COUNT-FAILURE-REPORTS", victim_id]),
        2
    );
    let mut n = Conn::open(cluster.addrs()[new_primary]);
    assert_eq!(n.int(&["LLEN", "{a}acked"]), 50);
    assert!(watcher
        .text(&["CLUSTER", "INFO"])
        .contains("cluster_state:ok"));
    n.int(&["RPUSH", "{a}acked", "after"]);
    cluster.restart_node(primary).expect("restart");
    let mut old = Conn::open(cluster.addrs()[primary]);
    wait_until("rejoin as replica", Duration::from_secs(5), || {
        info_field(&mut old, "replication", "role") == "slave"
            && info_field(&mut old, "replication", "master_link_status") == "up"
    });
    old.ok(&["READONLY"]);
    assert_eq!(old.int(&["LLEN", "{a}acked"]), 51);
    let line = watcher
        .text(&["CLUSTER", "NODES"])
        .lines()
        .find(|l| l.starts_with(cluster.nodes()[primary].id.as_str()))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(line.contains(" slave ") && !line.contains("fail"), "{line}");
    assert!(!cluster.fault_log().is_empty());
    // redis-cli sees the new shape as consistent: three primaries, one replica each (the
    // old primary now among them), every slot covered.
    let check = cluster_check(cluster.addrs()[other]);
    assert_eq!(
        check.matches("1 additional replica(s)").count(),
        3,
        "{check}"
    );
    assert_eq!(check.matches(" slave\n").count(), 3, "{check}");
    let old_id = cluster.nodes()[primary].id.as_str();
    assert!(check.contains(&format!("S: {old_id} ")), "{check}");
}

/// `redis-cli --cluster check` against the node at `addr`: its output, once it passed.
fn cluster_check(addr: SocketAddr) -> String {
    let out = Command::new("redis-cli")
        .args(["--cluster", "check", &addr.to_string()])
        .output()
        .expect("these tests need redis-cli in PATH");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("[OK] All nodes agree about slots configuration."),
        "{text}"
    );
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    assert!(
        !text.contains("[WARNING]") && !text.contains("[ERR]"),
        "{text}"
    );
    text
}

#[test]
fn publish_reaches_every_node_and_spublish_stays_in_its_shard() {
    let cluster = lockstep(3, 1, 15000);
    let addrs = cluster.addrs();
    let mut subscribers: Vec<Conn> = addrs.iter().map(|a| Conn::open(*a)).collect();
    for s in &mut subscribers {
        s.command(&["SUBSCRIBE", "news"]);
    }
    // The publisher's own node counts only its own subscribers.
    assert_eq!(Conn::open(addrs[0]).int(&["PUBLISH", "news", "hello"]), 1);
    for (i, s) in subscribers.iter_mut().enumerate() {
        let msg = format!("{:?}", s.read());
        assert!(msg.contains("hello"), "node {i}: {msg}");
    }
    // SPUBLISH on the slot's primary reaches its replica, not the other shards.
    let primary = owner_of(&cluster, 0, 15495);
    let mut shard_subs: Vec<Conn> = addrs.iter().map(|a| Conn::open(*a)).collect();
    for s in &mut shard_subs {
        s.command(&["READONLY"]);
        s.send(&["SSUBSCRIBE", "{a}ch"]);
        let _ = s.read();
    }
    Conn::open(addrs[primary]).int(&["SPUBLISH", "{a}ch", "sharded"]);
    let mut got = 0;
    for s in &mut shard_subs {
        if !s.silent_for(Duration::from_millis(200)) {
            got += 1;
        }
    }
    // The primary's own subscriber and its replica's.
    assert_eq!(got, 2);
}

#[test]
fn a_paused_node_answers_nothing_then_everything() {
    let cluster = lockstep(3, 0, 15000);
    let mut c = Conn::open(cluster.addrs()[1]);
    cluster
        .pause_node(1, Duration::from_millis(300))
        .expect("pause");
    c.send(&["PING"]);
    assert!(c.silent_for(Duration::from_millis(150)));
    assert_eq!(
        format!("{:?}", c.read()),
        format!("{:?}", Frame::Simple("PONG".into()))
    );
    // Dropping the node's connections closes them.
    use std::io::{Read, Write};
    let mut raw = std::net::TcpStream::connect(cluster.addrs()[1]).expect("connect");
    raw.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    raw.write_all(b"PING\r\n").expect("send");
    let mut buf = [0u8; 64];
    let n = raw.read(&mut buf).expect("pong");
    assert_eq!(&buf[..n], b"+PONG\r\n");
    assert_eq!(cluster.drop_connections(1).expect("drop"), 2);
    assert_eq!(raw.read(&mut buf).expect("closed"), 0);
}
