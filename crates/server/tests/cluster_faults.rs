//! Fault injection over the wire: `LOCKSTEP.FAULT` sent by a real TCP client to a node of
//! an embedded 3+3 cluster started with fault injection on (node timeout 500 ms), each
//! fault checked by what clients then see: refused ports, promotions, silence, late
//! replies, `-CLUSTERDOWN` on an isolated node, closed connections, moved slots, the log.

mod cluster_support;
mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use cluster_support::owner_of;
use common::{info_field, wait_until, Conn, RedisServer};
use lockstep_resp::Frame;
use lockstep_server::{ClusterConfig, EmbeddedCluster};

const NODE_TIMEOUT: Duration = Duration::from_millis(500);

fn cluster(fault_injection: bool) -> EmbeddedCluster {
    EmbeddedCluster::start(ClusterConfig {
        replicas: 1,
        node_timeout: NODE_TIMEOUT,
        fault_injection,
        ..ClusterConfig::ephemeral(3)
    })
    .expect("cluster starts")
}

fn fault(conn: &mut Conn, args: &[&str]) -> Frame {
    let mut argv = vec!["LOCKSTEP.FAULT"];
    argv.extend_from_slice(args);
    conn.command(&argv)
}

fn error_of(frame: Frame) -> String {
    match frame {
        Frame::Error(e) => String::from_utf8_lossy(&e).into_owned(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The CLUSTER NODES line of node `i`, as node `via` lists it.
fn line_of(cluster: &EmbeddedCluster, via: usize, i: usize) -> String {
    Conn::open(cluster.addrs()[via])
        .text(&["CLUSTER", "NODES"])
        .lines()
        .find(|l| l.starts_with(cluster.nodes()[i].id.as_str()))
        .map(str::to_string)
        .unwrap_or_default()
}

/// The replica of primary `primary`.
fn replica_of(cluster: &EmbeddedCluster, primary: usize) -> usize {
    let id = cluster.nodes()[primary].id.as_str();
    (0..cluster.nodes().len())
        .find(|&i| line_of(cluster, 0, i).split(' ').nth(3) == Some(id))
        .expect("a replica")
}

/// True once the peer has closed the connection (EOF or reset), within 5 s.
fn closed(conn: &mut Conn) -> bool {
    use std::io::Read;
    conn.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    matches!(conn.stream.read(&mut buf), Ok(0) | Err(_))
}

fn ping_time(conn: &mut Conn) -> Duration {
    let start = Instant::now();
    assert_eq!(conn.command(&["PING"]), Frame::simple("PONG"));
    start.elapsed()
}

#[test]
fn refused_without_fault_injection_and_absent_from_command() {
    let off = cluster(false);
    let mut c = Conn::open(off.addrs()[0]);
    let e = error_of(fault(&mut c, &["STOP", "1"]));
    assert!(e.starts_with("ERR fault injection is off"), "{e}");
    assert!(e.contains("--fault-injection"), "{e}");
    // Nothing happened.
    assert!(TcpStream::connect(off.addrs()[1]).is_ok());
    assert!(off.fault_log().is_empty());
    drop(off);

    // With it on, the command table is unchanged: what a standalone server has (the
    // commands lockstep implements), nothing that redis-server would not list.
    let on = cluster(true);
    let redis = RedisServer::start();
    let mut r = Conn::open(redis.addr());
    let server = common::start();
    let mut s = Conn::open(server.addr());
    let mut c = Conn::open(on.addrs()[0]);
    assert_eq!(
        c.int(&["COMMAND", "COUNT"]),
        s.int(&["COMMAND", "COUNT"]),
        "COMMAND COUNT"
    );
    assert_eq!(
        c.command(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "lockstep*"]),
        r.command(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "lockstep*"])
    );
    assert_eq!(
        c.command(&["COMMAND", "INFO", "lockstep.fault"]),
        Frame::Array(vec![Frame::Null])
    );
    assert_eq!(
        c.command(&["COMMAND", "DOCS", "lockstep.fault"]),
        r.command(&["COMMAND", "DOCS", "lockstep.fault"])
    );
    let listed = match c.command(&["COMMAND"]) {
        Frame::Array(commands) => commands,
        other => panic!("{other:?}"),
    };
    assert!(!format!("{listed:?}")
        .to_ascii_lowercase()
        .contains("lockstep"));
    // Scripts cannot reach it.
    let e = error_of(c.command(&["EVAL", "return redis.call('LOCKSTEP.FAULT','LOG')", "0"]));
    assert!(e.contains("Unknown Redis command"), "{e}");

    // A standalone lockstep server answers it as Redis answers any unknown command.
    assert_eq!(fault(&mut s, &["STOP", "0"]), fault(&mut r, &["STOP", "0"]));
}

#[test]
fn errors_for_bad_nodes_and_arguments() {
    let cluster = cluster(true);
    let mut c = Conn::open(cluster.addrs()[0]);
    let cases: &[(&[&str], &str)] = &[
        (
            &[],
            "ERR wrong number of arguments for 'lockstep.fault' command",
        ),
        (
            &["STOP"],
            "ERR wrong number of arguments for 'lockstep.fault|stop' command",
        ),
        (
            &["STOP", "6"],
            "ERR no such node '6': give an index from 0 to 5, a node id or host:port",
        ),
        (&["STOP", "127.0.0.1:1"], "ERR no such node '127.0.0.1:1'"),
        (
            &["PAUSE", "1", "soon"],
            "ERR the time must be a number of milliseconds",
        ),
        (
            &["LATENCY", "1", "10"],
            "ERR wrong number of arguments for 'lockstep.fault|latency'",
        ),
        (&["FAILOVER", "3", "NOW"], "ERR syntax error"),
        (
            &["MIGRATE", "0", "1", "5", "16384"],
            "ERR Invalid or out of range slot",
        ),
        (
            &["MIGRATE", "0", "1", "9", "5"],
            "ERR the first slot must not be after the last",
        ),
        (
            &["MIGRATE", "0", "0", "1", "2"],
            "ERR the source and target nodes are the same",
        ),
        (
            &["FREEZE", "1"],
            "ERR unknown subcommand 'FREEZE'. Try LOCKSTEP.FAULT HELP.",
        ),
        // Refused by the controller: what the fault would need is not there.
        (&["RESTART", "1"], "ERR node 1 is running"),
        (&["HEAL", "2"], "ERR node 2 is not partitioned"),
        (
            &["FAILOVER", "0"],
            "ERR You should send CLUSTER FAILOVER to a replica",
        ),
    ];
    for (args, expected) in cases {
        let e = error_of(fault(&mut c, args));
        assert!(e.starts_with(expected), "{args:?}: {e}");
    }
    // Inside a transaction it is refused, and the transaction with it.
    c.ok(&["MULTI"]);
    let e = error_of(fault(&mut c, &["STOP", "1"]));
    assert!(e.contains("not allowed in a transaction"), "{e}");
    assert!(error_of(c.command(&["EXEC"])).starts_with("EXECABORT"));
    assert!(TcpStream::connect(cluster.addrs()[1]).is_ok());
    let help = match fault(&mut c, &["HELP"]) {
        Frame::Array(lines) => lines,
        other => panic!("{other:?}"),
    };
    assert!(help.len() > 10);
    assert!(format!("{help:?}").contains("PARTITION <node> <ms>"));
    // None of the refusals was logged, and only the failover reached the controller.
    let log = cluster.fault_log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].1.starts_with("failover"), "{log:?}");
}

#[test]
fn stop_and_restart_a_node_over_the_wire() {
    let cluster = cluster(true);
    let primary = owner_of(&cluster, 0, 15495);
    let replica = replica_of(&cluster, primary);
    let other = (primary + 1) % 3;
    let mut p = Conn::open(cluster.addrs()[primary]);
    for i in 0..20 {
        p.int(&["RPUSH", "{a}list", &i.to_string()]);
    }
    assert_eq!(p.int(&["WAIT", "1", "5000"]), 1);
    let mut c = Conn::open(cluster.addrs()[other]);
    let victim = cluster.addrs()[primary].to_string();
    assert_eq!(fault(&mut c, &["STOP", &victim]), Frame::simple("OK"));
    // Done once answered: the port refuses, the connection is gone.
    assert!(TcpStream::connect(cluster.addrs()[primary]).is_err());
    assert!(closed(&mut p));
    let promoted = wait_until("promotion", Duration::from_secs(5), || {
        owner_of(&cluster, other, 15495) == replica
    });
    eprintln!("replica promoted {promoted:?} after STOP (node timeout {NODE_TIMEOUT:?})");
    let mut r = Conn::open(cluster.addrs()[replica]);
    assert_eq!(r.int(&["LLEN", "{a}list"]), 20);
    r.int(&["RPUSH", "{a}list", "after"]);
    // Stopping it again is refused.
    let e = error_of(fault(&mut c, &["STOP", &primary.to_string()]));
    assert_eq!(e, format!("ERR node {primary} is stopped"));
    // Restarted by id: it comes back as the replica of the node that took its slots.
    let id = cluster.nodes()[primary].id.to_string();
    assert_eq!(fault(&mut c, &["RESTART", &id]), Frame::simple("OK"));
    let mut old = Conn::open(cluster.addrs()[primary]);
    wait_until("rejoin as a replica", Duration::from_secs(5), || {
        info_field(&mut old, "replication", "role") == "slave"
            && info_field(&mut old, "replication", "master_link_status") == "up"
    });
    old.ok(&["READONLY"]);
    assert_eq!(old.int(&["LLEN", "{a}list"]), 21);

    // STOP of the node the client is connected to: +OK, then the connection goes.
    let mut own = Conn::open(cluster.addrs()[other]);
    assert_eq!(
        fault(&mut own, &["STOP", &other.to_string()]),
        Frame::simple("OK")
    );
    assert!(closed(&mut own));
    wait_until("port refuses", Duration::from_secs(2), || {
        TcpStream::connect(cluster.addrs()[other]).is_err()
    });
    let log: Vec<String> = cluster.fault_log().into_iter().map(|(_, w)| w).collect();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log[0].starts_with(&format!("stop node {primary} ")),
        "{log:?}"
    );
    assert!(
        log[1].starts_with(&format!("restart node {primary} ")),
        "{log:?}"
    );
    assert!(
        log[2].starts_with(&format!("stop node {other} ")),
        "{log:?}"
    );
}

#[test]
fn pause_and_latency() {
    let cluster = cluster(true);
    let mut c = Conn::open(cluster.addrs()[0]);
    // PAUSE: the node reads but answers nothing until the pause ends.
    let mut paused = Conn::open(cluster.addrs()[1]);
    assert_eq!(fault(&mut c, &["PAUSE", "1", "400"]), Frame::simple("OK"));
    let start = Instant::now();
    paused.send(&["PING"]);
    assert!(paused.silent_for(Duration::from_millis(200)));
    assert_eq!(paused.read(), Frame::simple("PONG"));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(350), "{waited:?}");
    eprintln!("PING on a node paused for 400 ms answered after {waited:?}");

    // LATENCY: every reply of node 2 comes 100 ms late, and only node 2's.
    let mut slow = Conn::open(cluster.addrs()[2]);
    let mut fast = Conn::open(cluster.addrs()[0]);
    let before = ping_time(&mut slow);
    assert_eq!(
        fault(&mut c, &["LATENCY", "2", "100", "1500"]),
        Frame::simple("OK")
    );
    let late = ping_time(&mut slow);
    let other = ping_time(&mut fast);
    eprintln!("PING: {before:?} before, {late:?} with 100 ms latency, {other:?} on another node");
    assert!(late >= Duration::from_millis(95), "{late:?}");
    assert!(late < Duration::from_millis(400), "{late:?}");
    assert!(other < Duration::from_millis(50), "{other:?}");
    // The reply is held, not the lock: two clients of the slow node asking together are
    // both answered one delay late, not one after the other.
    let mut a = Conn::open(cluster.addrs()[2]);
    let mut b = Conn::open(cluster.addrs()[2]);
    let start = Instant::now();
    a.send(&["PING"]);
    b.send(&["PING"]);
    assert_eq!(a.read(), Frame::simple("PONG"));
    assert_eq!(b.read(), Frame::simple("PONG"));
    let both = start.elapsed();
    assert!(both >= Duration::from_millis(95), "{both:?}");
    assert!(both < Duration::from_millis(190), "{both:?}");
    // A pipeline's replies come late once, together.
    let start = Instant::now();
    for _ in 0..10 {
        a.send(&["PING"]);
    }
    for _ in 0..10 {
        assert_eq!(a.read(), Frame::simple("PONG"));
    }
    let pipeline = start.elapsed();
    assert!(pipeline < Duration::from_millis(600), "{pipeline:?}");
    // After the duration, the node answers at once again.
    wait_until("latency over", Duration::from_secs(3), || {
        ping_time(&mut slow) < Duration::from_millis(50)
    });
    let log = cluster.fault_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[0].1.starts_with("pause node 1 "), "{log:?}");
    assert!(log[1].1.starts_with("latency 100 ms on node 2 "), "{log:?}");
}

#[test]
fn a_partitioned_primary_is_failed_isolated_and_rejoins_as_a_replica() {
    let cluster = cluster(true);
    let primary = owner_of(&cluster, 0, 15495);
    let replica = replica_of(&cluster, primary);
    let other = (primary + 1) % 3;
    let mut p = Conn::open(cluster.addrs()[primary]);
    for i in 0..20 {
        p.int(&["RPUSH", "{a}list", &i.to_string()]);
    }
    assert_eq!(p.int(&["WAIT", "1", "5000"]), 1);
    let mut c = Conn::open(cluster.addrs()[other]);
    let started = Instant::now();
    assert_eq!(
        fault(&mut c, &["PARTITION", &primary.to_string(), "20000"]),
        Frame::simple("OK")
    );
    // Its replication link is down at once, both ways.
    let mut r = Conn::open(cluster.addrs()[replica]);
    wait_until("replica link down", Duration::from_secs(2), || {
        info_field(&mut r, "replication", "master_link_status") == "down"
    });
    assert_eq!(p.int(&["WAIT", "1", "100"]), 0);
    // The others fail it and promote its replica.
    wait_until("fail flag", Duration::from_secs(5), || {
        line_of(&cluster, other, primary).contains("master,fail ")
    });
    let promoted = wait_until("promotion", Duration::from_secs(5), || {
        owner_of(&cluster, other, 15495) == replica
    });
    eprintln!(
        "partitioned primary failed and replaced {:?} after the partition",
        started.elapsed()
    );
    let _ = promoted;
    assert_eq!(r.int(&["LLEN", "{a}list"]), 20);
    r.int(&["RPUSH", "{a}list", "after"]);
    assert!(c.text(&["CLUSTER", "INFO"]).contains("cluster_state:ok"));
    // The isolated node is in a minority: down for keyed commands, still answering others.
    assert!(p.text(&["CLUSTER", "INFO"]).contains("cluster_state:fail"));
    assert_eq!(
        error_of(p.command(&["GET", "{a}list"])),
        "CLUSTERDOWN The cluster is down"
    );
    assert_eq!(p.command(&["PING"]), Frame::simple("PONG"));
    // It still sees itself as the primary of its slots and the others as fail?.
    let own_view = p.text(&["CLUSTER", "NODES"]);
    let me = own_view
        .lines()
        .find(|l| l.contains("myself"))
        .unwrap_or_default();
    assert!(
        me.contains("myself,master ") && me.contains("16383"),
        "{own_view}"
    );
    assert_eq!(own_view.matches("fail?").count(), 5, "{own_view}");

    // Healed: it rejoins as the replica of the node that took its slots, and resyncs.
    assert_eq!(
        fault(&mut c, &["HEAL", &primary.to_string()]),
        Frame::simple("OK")
    );
    wait_until("rejoin as a replica", Duration::from_secs(5), || {
        info_field(&mut p, "replication", "role") == "slave"
            && info_field(&mut p, "replication", "master_link_status") == "up"
    });
    p.ok(&["READONLY"]);
    assert_eq!(p.int(&["LLEN", "{a}list"]), 21);
    assert!(p.text(&["CLUSTER", "INFO"]).contains("cluster_state:ok"));
    let line = line_of(&cluster, other, primary);
    assert!(line.contains(" slave ") && !line.contains("fail"), "{line}");

    // A partition shorter than the node timeout fails nobody and heals by itself; a
    // partitioned replica's link is down meanwhile and up again after.
    let mut old = Conn::open(cluster.addrs()[primary]);
    assert_eq!(
        fault(&mut c, &["PARTITION", &primary.to_string(), "300"]),
        Frame::simple("OK")
    );
    wait_until("link down", Duration::from_secs(2), || {
        info_field(&mut old, "replication", "master_link_status") == "down"
    });
    r.int(&["RPUSH", "{a}list", "while cut off"]);
    wait_until("healed by itself", Duration::from_secs(3), || {
        info_field(&mut old, "replication", "master_link_status") == "up"
    });
    old.ok(&["READONLY"]);
    wait_until("resynced", Duration::from_secs(3), || {
        old.int(&["LLEN", "{a}list"]) == 22
    });
    assert!(!line_of(&cluster, other, primary).contains("fail"));
    let log: Vec<String> = cluster.fault_log().into_iter().map(|(_, w)| w).collect();
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(log[0].starts_with(&format!("partition node {primary} ")));
    assert!(log[1].starts_with(&format!("heal node {primary} ")));
    assert!(log[2].starts_with(&format!("partition node {primary} ")));
    assert!(log[3].starts_with(&format!("heal node {primary} ")));
}

#[test]
fn drop_failover_migrate_and_log() {
    let cluster = cluster(true);
    let mut c = Conn::open(cluster.addrs()[0]);
    // DROP: every connection of the node goes.
    let mut victims: Vec<Conn> = (0..3).map(|_| Conn::open(cluster.addrs()[1])).collect();
    for v in &mut victims {
        assert_eq!(v.command(&["PING"]), Frame::simple("PONG"));
    }
    let dropped = c.command(&["LOCKSTEP.FAULT", "DROP", "1"]);
    assert_eq!(dropped, Frame::Integer(3));
    for v in &mut victims {
        assert!(closed(v));
    }
    // DROP of its own node: the count (itself included), then the connection goes.
    let mut own = Conn::open(cluster.addrs()[2]);
    let mut other = Conn::open(cluster.addrs()[2]);
    assert_eq!(other.command(&["PING"]), Frame::simple("PONG"));
    assert_eq!(fault(&mut own, &["DROP", "2"]), Frame::Integer(2));
    assert!(closed(&mut own));
    assert!(closed(&mut other));

    // FAILOVER on a replica: it takes its primary's slots.
    let primary = owner_of(&cluster, 0, 0);
    let replica = replica_of(&cluster, primary);
    let mut p = Conn::open(cluster.addrs()[primary]);
    p.ok(&["SET", "{b}k", "v"]);
    assert_eq!(p.int(&["WAIT", "1", "5000"]), 1);
    assert_eq!(
        fault(&mut c, &["FAILOVER", &replica.to_string(), "TAKEOVER"]),
        Frame::simple("OK")
    );
    wait_until("failover", Duration::from_secs(5), || {
        owner_of(&cluster, 0, 0) == replica
    });

    // MIGRATE: slots 3000-3009 and their keys go from their owner to another primary.
    let from = owner_of(&cluster, 0, 3000);
    let to = (0..cluster.nodes().len())
        .find(|&i| {
            i != from && line_of(&cluster, 0, i).contains(" master ") && {
                let line = line_of(&cluster, 0, i);
                line.split(' ').count() > 8
            }
        })
        .expect("another primary");
    let keys: Vec<String> = (0..200)
        .map(|i| format!("key:{i}"))
        .filter(|k| {
            let slot = lockstep_commands::key_slot(k.as_bytes());
            (3000..=3009).contains(&slot)
        })
        .collect();
    let mut f = Conn::open(cluster.addrs()[from]);
    for k in &keys {
        f.ok(&["SET", k, k]);
    }
    assert_eq!(
        fault(
            &mut c,
            &[
                "MIGRATE",
                &from.to_string(),
                &to.to_string(),
                "3000",
                "3009"
            ]
        ),
        Frame::simple("OK")
    );
    assert_eq!(owner_of(&cluster, 0, 3000), to);
    assert_eq!(owner_of(&cluster, 0, 3009), to);
    let mut t = Conn::open(cluster.addrs()[to]);
    for k in &keys {
        assert_eq!(t.text(&["GET", k]), *k);
    }
    assert_eq!(f.int(&["CLUSTER", "COUNTKEYSINSLOT", "3000"]), 0);

    // LOG: every fault, oldest first, with its time.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let log = match fault(&mut c, &["LOG"]) {
        Frame::Array(entries) => entries,
        other => panic!("{other:?}"),
    };
    let entries: Vec<(i64, String)> = log
        .into_iter()
        .map(|e| match e {
            Frame::Array(pair) => match (&pair[0], &pair[1]) {
                (Frame::Integer(at), Frame::Bulk(what)) => {
                    (*at, String::from_utf8_lossy(what).into_owned())
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(entries.len(), 4, "{entries:?}");
    assert!(entries[0].1.starts_with("drop 3 connections of node 1 "));
    assert!(entries[1].1.starts_with("drop "));
    assert!(entries[1].1.contains("of node 2 "));
    assert!(entries[2].1.starts_with("failover TAKEOVER on node "));
    assert_eq!(
        entries[3].1,
        format!("migrate slots 3000-3009 from node {from} to node {to}")
    );
    assert!(entries.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(entries
        .iter()
        .all(|(at, _)| (now_ms - 60_000..=now_ms).contains(at)));
    // The Rust handle's log is the same log.
    assert_eq!(
        cluster
            .fault_log()
            .into_iter()
            .map(|(_, w)| w)
            .collect::<Vec<_>>(),
        entries.into_iter().map(|(_, w)| w).collect::<Vec<_>>()
    );
}

/// A real 3-primary redis-server cluster with a 500 ms node timeout, on loopback ports at
/// most 22767 (their bus ports stay below the ephemeral range); killed on drop.
struct RealThree {
    nodes: Vec<(std::process::Child, u16)>,
    dir: std::path::PathBuf,
}

impl Drop for RealThree {
    fn drop(&mut self) {
        for (child, _) in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port from 20000 to 22767 free with its bus port.
fn low_cluster_port() -> u16 {
    use std::net::TcpListener;
    let seed = std::process::id() as usize * 7919;
    for k in 0..2768 {
        let port = 20000 + ((seed + k * 131) % 2768) as u16;
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10000) {
            return port;
        }
    }
    panic!("no free port pair under 22768");
}

fn real_three() -> RealThree {
    let dir = std::env::temp_dir().join(format!("lockstep-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut real = RealThree {
        nodes: Vec::new(),
        dir,
    };
    let mut taken = Vec::new();
    while taken.len() < 3 {
        let port = low_cluster_port();
        if taken.contains(&port) {
            continue;
        }
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "500"])
            .arg("--cluster-config-file")
            .arg(real.dir.join(format!("nodes-{port}.conf")))
            .arg("--dir")
            .arg(&real.dir)
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("these tests need redis-server");
        real.nodes.push((child, port));
        taken.push(port);
        wait_until("redis-server listens", Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }
    let status = std::process::Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(taken.iter().map(|p| format!("127.0.0.1:{p}")))
        .arg("--cluster-yes")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("these tests need redis-cli");
    assert!(status.success(), "redis-cli --cluster create");
    wait_until("the real cluster settles", Duration::from_secs(30), || {
        taken.iter().all(|p| {
            let mut c = Conn::open(std::net::SocketAddr::from(([127, 0, 0, 1], *p)));
            c.text(&["CLUSTER", "INFO"]).contains("cluster_state:ok")
                && c.text(&["CLUSTER", "NODES"])
                    .lines()
                    .all(|l| l.contains(" connected ") && l.split(' ').count() > 8)
        })
    });
    real
}

/// CLUSTER NODES without ids, addresses and times: each node named by its first slot,
/// with its flags, primary, epoch, link state and slots; sorted.
fn nodes_shape(nodes: &str) -> Vec<String> {
    let mut shape: Vec<String> = nodes
        .lines()
        .map(|l| {
            let cols: Vec<&str> = l.split(' ').collect();
            let name = cols.get(8).and_then(|s| s.split('-').next()).unwrap_or("-");
            format!(
                "S{name} {} {} {} {}",
                cols[2],
                cols[3],
                cols[6],
                cols[7..].join(" ")
            )
        })
        .collect();
    shape.sort();
    shape
}

/// What the isolated node answers: CLUSTER INFO's state and slot counts, keyed commands,
/// CLUSTER NODES' shape, PING.
fn isolated_side(conn: &mut Conn) -> (Vec<String>, Vec<Frame>, Vec<String>) {
    let info: Vec<String> = conn
        .text(&["CLUSTER", "INFO"])
        .lines()
        .take(7)
        .map(str::to_string)
        .collect();
    let replies = vec![
        conn.command(&["GET", "foo"]),
        conn.command(&["SET", "a", "1"]),
        conn.command(&["GET", "{x}"]),
        conn.command(&["PING"]),
    ];
    (
        info,
        replies,
        nodes_shape(&conn.text(&["CLUSTER", "NODES"])),
    )
}

#[test]
fn the_isolated_node_answers_as_a_real_node_cut_off_from_the_others() {
    // Real: the two other primaries are stopped (SIGSTOP), which node 0 cannot tell from
    // a partition; lockstep: node 0 is partitioned.
    let real = real_three();
    let mut r = Conn::open(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        real.nodes[0].1,
    )));
    let ours = EmbeddedCluster::start(ClusterConfig {
        node_timeout: NODE_TIMEOUT,
        fault_injection: true,
        ..ClusterConfig::ephemeral(3)
    })
    .expect("cluster starts");
    let mut o = Conn::open(ours.addrs()[0]);
    let signal = |sig: &str| {
        for (child, _) in &real.nodes[1..] {
            let status = std::process::Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status()
                .expect("kill");
            assert!(status.success());
        }
    };
    signal("-STOP");
    assert_eq!(
        fault(
            &mut Conn::open(ours.addrs()[1]),
            &["PARTITION", "0", "30000"]
        ),
        Frame::simple("OK")
    );
    let settled = |c: &mut Conn| {
        let nodes = c.text(&["CLUSTER", "NODES"]);
        c.text(&["CLUSTER", "INFO"]).contains("cluster_state:fail")
            && nodes.matches("fail?").count() == 2
    };
    wait_until("real node 0 alone", Duration::from_secs(10), || {
        settled(&mut r)
    });
    wait_until("lockstep node 0 alone", Duration::from_secs(10), || {
        settled(&mut o)
    });
    let real_side = isolated_side(&mut r);
    signal("-CONT");
    let our_side = isolated_side(&mut o);
    assert_eq!(our_side, real_side);
    assert!(real_side.0[0] == "cluster_state:fail", "{real_side:?}");
    assert_eq!(
        real_side.1[0],
        Frame::Error("CLUSTERDOWN The cluster is down".into())
    );
    // Together again: both answer as before.
    assert_eq!(
        fault(&mut Conn::open(ours.addrs()[1]), &["HEAL", "0"]),
        Frame::simple("OK")
    );
    let ok = |c: &mut Conn| {
        c.text(&["CLUSTER", "INFO"]).contains("cluster_state:ok")
            && !c.text(&["CLUSTER", "NODES"]).contains("fail")
    };
    wait_until("real node 0 back", Duration::from_secs(10), || ok(&mut r));
    wait_until("lockstep node 0 back", Duration::from_secs(10), || {
        ok(&mut o)
    });
    assert_eq!(
        nodes_shape(&o.text(&["CLUSTER", "NODES"])),
        nodes_shape(&r.text(&["CLUSTER", "NODES"]))
    );
}
