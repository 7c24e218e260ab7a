//! Topology changes side by side with a real Redis Cluster: slots opened for migration
//! (SETSLOT IMPORTING/MIGRATING, the ASK/TRYAGAIN/ASKING redirects, CLUSTER NODES markers)
//! and closed (SETSLOT NODE and its epochs), slot assignment errors, `redis-cli --cluster
//! create` over nodes that know only themselves, and a live `redis-cli --cluster reshard`
//! and `rebalance` under a writer, with no acknowledged write lost.
//!
//! Every command goes to the same node (by slot order) of a real 3-primary cluster and of
//! a lockstep one; replies are compared once ids and ports are named. Arguments may name
//! nodes as `<node0>`..`<node2>`: each side gets its own ids there.

mod cluster_support;
mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_support::*;
use common::Conn;
use lockstep_resp::Frame;
use lockstep_server::{ClusterConfig, EmbeddedCluster};

/// Both clusters with a connection to each node of each, kept (ASKING is per
/// connection).
struct Both {
    real: Side,
    ours: Side,
    real_conns: Vec<Conn>,
    our_conns: Vec<Conn>,
}

impl Both {
    fn new(real: Side, ours: Side) -> Both {
        let real_conns = (0..3).map(|i| real.conn(i, 2)).collect();
        let our_conns = (0..3).map(|i| ours.conn(i, 2)).collect();
        Both {
            real,
            ours,
            real_conns,
            our_conns,
        }
    }

    /// `args` with `<nodeN>` replaced by the side's id of node N.
    fn args(side: &Side, args: &[&str]) -> Vec<String> {
        args.iter()
            .map(|a| {
                let mut a = a.to_string();
                for (i, id) in side.names.ids.iter().enumerate() {
                    a = a.replace(&format!("<node{i}>"), id);
                }
                a
            })
            .collect()
    }

    /// Sends `args` to node `i` of both and returns the named replies (real, ours).
    fn both(&mut self, i: usize, args: &[&str]) -> (Frame, Frame) {
        let real_args = Both::args(&self.real, args);
        let our_args = Both::args(&self.ours, args);
        let real: Vec<&str> = real_args.iter().map(|s| s.as_str()).collect();
        let ours: Vec<&str> = our_args.iter().map(|s| s.as_str()).collect();
        (
            self.real.names.frame(self.real_conns[i].command(&real)),
            self.ours.names.frame(self.our_conns[i].command(&ours)),
        )
    }

    /// Node `i` of both answers `args` alike.
    fn same(&mut self, i: usize, args: &[&str]) -> Frame {
        let (want, got) = self.both(i, args);
        assert_eq!(got, want, "node {i} {args:?}");
        got
    }

    /// Node `i` of both answers `args` alike once `shape` is applied.
    fn same_shaped(&mut self, i: usize, args: &[&str], shape: impl Fn(Frame) -> Frame) {
        let (want, got) = self.both(i, args);
        assert_eq!(shape(got), shape(want), "node {i} {args:?}");
    }
}

fn text(frame: &Frame) -> String {
    match frame {
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } | Frame::Simple(b) | Frame::Error(b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        other => panic!("expected text, got {other:?}"),
    }
}

/// Waits until every node of the real cluster shows the same CLUSTER NODES (but for
/// `myself` and times) and the same current epoch: gossip has carried a change.
fn wait_real_converged(real: &Side) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let views: Vec<(String, String)> = (0..3)
            .map(|i| {
                let mut conn = real.conn(i, 2);
                let nodes = text(&nodes_sorted_without_times(
                    conn.command(&["CLUSTER", "NODES"]),
                ));
                let info = text(&conn.command(&["CLUSTER", "INFO"]));
                let epoch = info
                    .lines()
                    .find(|l| l.starts_with("cluster_current_epoch:"))
                    .unwrap_or_default()
                    .to_string();
                (nodes.replace("myself,", ""), epoch)
            })
            .collect();
        if views.iter().all(|v| *v == views[0]) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the real cluster did not converge: {views:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn open_slots_are_marked_and_redirect_as_getnodebyquery_decides(both: &mut Both) {
    // {b} hashes to slot 3300, which node 0 serves.
    both.same(0, &["SET", "{b}x", "1"]);
    both.same(1, &["CLUSTER", "SETSLOT", "3300", "IMPORTING", "<node0>"]);
    both.same(0, &["CLUSTER", "SETSLOT", "3300", "MIGRATING", "<node1>"]);
    for i in 0..3 {
        both.same_shaped(i, &["CLUSTER", "NODES"], nodes_sorted_without_times);
    }
    // The source serves the keys it has, asks the target for the others, and refuses a
    // mix.
    for args in [
        &["GET", "{b}x"][..],
        &["GET", "{b}y"],
        &["MGET", "{b}x", "{b}y"],
        &["MGET", "{b}z", "{b}y"],
        &["MGET", "{b}z", "{b}z"],
        &["SET", "{b}y", "2"],
        &["EXISTS", "{b}y"],
        &["MULTI"],
        &["GET", "{b}x"],
        &["GET", "{b}y"],
        &["EXEC"],
        // Scripts: declared keys are checked as the command's, called ones as Redis's
        // scriptVerifyClusterState checks them.
        &["EVAL", "return redis.call('GET', KEYS[1])", "1", "{b}x"],
        &["EVAL", "return redis.call('GET', KEYS[1])", "1", "{b}y"],
        &["EVAL", "return redis.call('GET', '{b}x')", "0"],
        &["EVAL", "return redis.call('GET', '{b}y')", "0"],
        &["EVAL", "return redis.pcall('MGET', '{b}x', '{b}y')", "0"],
    ] {
        both.same(0, args);
    }
    // The target redirects unless asked; asked, it serves what it has and refuses
    // several keys when some are missing.
    for args in [
        &["GET", "{b}x"][..],
        &["ASKING"],
        &["GET", "{b}x"],
        &["ASKING"],
        &["MGET", "{b}x", "{b}y"],
        &["ASKING"],
        &["SET", "{b}y", "1"],
        &["ASKING"],
        &["MGET", "{b}y", "{b}y"],
        &["GET", "{b}y"],
        &["ASKING"],
        &["MULTI"],
        &["GET", "{b}y"],
        &["EXEC"],
        &["EVAL", "return redis.call('GET', '{b}y')", "0"],
        &["ASKING"],
        &["EVAL", "return redis.call('GET', '{b}y')", "0"],
        &["ASKING"],
        &["EVAL", "return redis.pcall('MGET', '{b}y', '{b}w')", "0"],
    ] {
        both.same(1, args);
    }
    // A third node knows nothing of it.
    both.same(2, &["GET", "{b}x"]);
}

fn setslot_is_checked_in_redis_order(both: &mut Both) {
    for (node, args) in [
        (
            0,
            &["CLUSTER", "SETSLOT", "3300", "MIGRATING", "<node1>"][..],
        ),
        (0, &["CLUSTER", "SETSLOT", "3300", "IMPORTING", "<node1>"]),
        (1, &["CLUSTER", "SETSLOT", "3300", "MIGRATING", "<node0>"]),
        (0, &["CLUSTER", "SETSLOT", "3300", "NODE", "<node1>"]),
        (0, &["CLUSTER", "SETSLOT", "16384", "STABLE"]),
        (0, &["CLUSTER", "SETSLOT", "-1", "STABLE"]),
        (0, &["CLUSTER", "SETSLOT", "x", "STABLE"]),
        (0, &["CLUSTER", "SETSLOT", "0", "FOO"]),
        (0, &["CLUSTER", "SETSLOT", "0", "NODE"]),
        (0, &["CLUSTER", "SETSLOT", "0", "NODE", "abc"]),
        (0, &["CLUSTER", "SETSLOT", "0", "MIGRATING", "abc"]),
        (0, &["CLUSTER", "SETSLOT", "0", "IMPORTING", "<node1>"]),
        (0, &["CLUSTER", "SETSLOT", "0", "STABLE", "x"]),
        (0, &["CLUSTER", "SETSLOT", "0"]),
        (0, &["CLUSTER", "SETSLOT", "0", "NODE", "<node0>", "x"]),
    ] {
        both.same(node, args);
    }
}

fn setslot_node_closes_the_migration_and_bumps_the_importers_epoch(both: &mut Both) {
    // Move {b}y from the target back is not needed: the key lives on the target, where
    // the slot goes. The source drops its key first, as MIGRATE would.
    both.same(0, &["DEL", "{b}x"]);
    both.same(1, &["CLUSTER", "SETSLOT", "3300", "NODE", "<node1>"]);
    both.same(0, &["CLUSTER", "SETSLOT", "3300", "NODE", "<node1>"]);
    both.same(2, &["CLUSTER", "SETSLOT", "3300", "NODE", "<node1>"]);
    wait_real_converged(&both.real);
    for i in 0..3 {
        both.same_shaped(i, &["CLUSTER", "NODES"], nodes_sorted_without_times);
        both.same_shaped(i, &["CLUSTER", "INFO"], info_without_stats);
    }
    both.same(0, &["GET", "{b}y"]);
    both.same(1, &["GET", "{b}y"]);
    // A second import by the same node keeps its epoch (already the greatest).
    both.same(0, &["CLUSTER", "SETSLOT", "3301", "MIGRATING", "<node1>"]);
    both.same(1, &["CLUSTER", "SETSLOT", "3301", "IMPORTING", "<node0>"]);
    both.same(1, &["CLUSTER", "SETSLOT", "3301", "NODE", "<node1>"]);
    both.same(0, &["CLUSTER", "SETSLOT", "3301", "NODE", "<node1>"]);
    both.same(1, &["CLUSTER", "BUMPEPOCH"]);
}

fn slot_assignment_errors_match(both: &mut Both) {
    for args in [
        &["CLUSTER", "ADDSLOTS", "0"][..],
        &["CLUSTER", "ADDSLOTS", "16384"],
        &["CLUSTER", "ADDSLOTS", "x"],
        &["CLUSTER", "ADDSLOTS", "0", "0"],
        &["CLUSTER", "ADDSLOTS"],
        &["CLUSTER", "ADDSLOTSRANGE", "0"],
        &["CLUSTER", "ADDSLOTSRANGE", "0", "1", "2"],
        &["CLUSTER", "ADDSLOTSRANGE", "5", "4"],
        &["CLUSTER", "ADDSLOTSRANGE", "0", "x"],
        &["CLUSTER", "DELSLOTSRANGE", "5", "4"],
        &["CLUSTER", "DELSLOTS", "16384"],
        &["CLUSTER", "FLUSHSLOTS", "x"],
        &["CLUSTER", "MEET"],
        &["CLUSTER", "MEET", "1.2.3.4", "x"],
        &["CLUSTER", "MEET", "1.2.3.4", "1", "x"],
        &["CLUSTER", "MEET", "1.2.3.4", "0"],
        &["CLUSTER", "MEET", "1.2.3", "7000"],
        &["CLUSTER", "MEET", "1.2.3.4", "70000"],
        &["CLUSTER", "MEET", "1.2.3.4", "1", "2", "3"],
        &["CLUSTER", "FORGET", "x"],
        &["CLUSTER", "FORGET", "<node0>"],
        &["CLUSTER", "RESET", "foo"],
        &["CLUSTER", "RESET", "soft", "x"],
        &["CLUSTER", "SET-CONFIG-EPOCH", "-1"],
        &["CLUSTER", "SET-CONFIG-EPOCH", "x"],
        &["CLUSTER", "SET-CONFIG-EPOCH", "5"],
        &["CLUSTER", "COUNT-FAILURE-REPORTS", "<node1>"],
    ] {
        both.same(0, args);
    }
    // A node that gives up one of its slots stops serving it; the others still see it
    // as the owner (nobody gossips a slot given up), until it takes it back.
    both.same(0, &["SET", "{f}", "1"]);
    both.same(0, &["CLUSTER", "DELSLOTS", "3168"]);
    both.same(0, &["CLUSTER", "DELSLOTS", "3168"]);
    both.same(0, &["GET", "{f}"]);
    both.same(0, &["FLUSHSLOTS"]);
    both.same(0, &["CLUSTER", "FLUSHSLOTS"]);
    both.same(0, &["CLUSTER", "RESET"]);
    std::thread::sleep(Duration::from_millis(300));
    both.same_shaped(0, &["CLUSTER", "NODES"], nodes_sorted_without_times);
    both.same_shaped(1, &["CLUSTER", "NODES"], nodes_sorted_without_times);
    both.same(1, &["GET", "{f}"]);
    both.same(0, &["CLUSTER", "ADDSLOTS", "3168"]);
    both.same(0, &["GET", "{f}"]);
    both.same(0, &["DEL", "{f}"]);
    wait_real_converged(&both.real);
    both.same_shaped(0, &["CLUSTER", "NODES"], nodes_sorted_without_times);
}

fn a_forgotten_node_is_gone_from_one_view_until_met_again(both: &mut Both) {
    both.same(0, &["CLUSTER", "FORGET", "<node2>"]);
    both.same(0, &["CLUSTER", "FORGET", "<node2>"]);
    both.same_shaped(0, &["CLUSTER", "NODES"], nodes_sorted_without_times);
    both.same_shaped(0, &["CLUSTER", "INFO"], info_without_stats);
    both.same_shaped(1, &["CLUSTER", "NODES"], nodes_sorted_without_times);
    both.same(0, &["GET", "{d}"]);
    let port = |side: &Side| side.addrs[2].port().to_string();
    let (real_port, our_port) = (port(&both.real), port(&both.ours));
    let real = both.real_conns[0].command(&["CLUSTER", "MEET", "127.0.0.1", &real_port]);
    let ours = both.our_conns[0].command(&["CLUSTER", "MEET", "127.0.0.1", &our_port]);
    assert_eq!(ours, real);
    wait_real_converged(&both.real);
    for i in 0..3 {
        both.same_shaped(i, &["CLUSTER", "NODES"], nodes_sorted_without_times);
    }
    both.same_shaped(0, &["CLUSTER", "INFO"], info_without_stats);
}

/// A migration that moved only some of a slot's keys before SETSLOT NODE reached the new
/// owner: the old owner learns it lost the slot and deletes what it still held there,
/// and its MIGRATING mark goes.
fn the_old_owner_drops_keys_it_kept_in_a_slot_it_lost(both: &mut Both) {
    // {k2} is slot 449, node 0's.
    both.same(0, &["SET", "{k2}a", "1"]);
    both.same(0, &["SET", "{k2}b", "2"]);
    both.same(1, &["CLUSTER", "SETSLOT", "449", "IMPORTING", "<node0>"]);
    both.same(0, &["CLUSTER", "SETSLOT", "449", "MIGRATING", "<node1>"]);
    let real_port = both.real.addrs[1].port().to_string();
    let our_port = both.ours.addrs[1].port().to_string();
    let migrate = |port: &str| {
        vec![
            "MIGRATE".to_string(),
            "127.0.0.1".into(),
            port.into(),
            String::new(),
            "0".into(),
            "5000".into(),
            "KEYS".into(),
            "{k2}a".into(),
        ]
    };
    let (real_args, our_args) = (migrate(&real_port), migrate(&our_port));
    let real: Vec<&str> = real_args.iter().map(String::as_str).collect();
    let ours: Vec<&str> = our_args.iter().map(String::as_str).collect();
    assert_eq!(
        both.our_conns[0].command(&ours),
        both.real_conns[0].command(&real)
    );
    both.same(1, &["CLUSTER", "SETSLOT", "449", "NODE", "<node1>"]);
    // Node 0 learns it lost the slot (the real one by gossip, ours through the node's
    // own task) and deletes what it kept there.
    let deadline = Instant::now() + Duration::from_secs(20);
    for conn in [&mut both.real_conns[0], &mut both.our_conns[0]] {
        while conn.command(&["CLUSTER", "COUNTKEYSINSLOT", "449"]) != Frame::Integer(0) {
            assert!(
                Instant::now() < deadline,
                "node 0 kept its keys in slot 449"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    both.same(0, &["EXISTS", "{k2}b"]);
    both.same(0, &["DBSIZE"]);
    both.same(1, &["GET", "{k2}a"]);
    // Then SETSLOT NODE everywhere, as redis-cli ends a migration, closes node 0's mark.
    both.same(0, &["CLUSTER", "SETSLOT", "449", "NODE", "<node1>"]);
    both.same(2, &["CLUSTER", "SETSLOT", "449", "NODE", "<node1>"]);
    wait_real_converged(&both.real);
    for i in 0..3 {
        both.same_shaped(i, &["CLUSTER", "NODES"], nodes_sorted_without_times);
    }
}

#[test]
fn migrations_and_slot_changes_match_a_real_cluster() {
    let real = RealCluster::start(3);
    let ours = EmbeddedCluster::start(ClusterConfig::ephemeral(3)).expect("lockstep cluster");
    let mut both = Both::new(
        Side::new("redis", real.addrs()),
        Side::new("lockstep", ours.addrs()),
    );
    open_slots_are_marked_and_redirect_as_getnodebyquery_decides(&mut both);
    setslot_is_checked_in_redis_order(&mut both);
    setslot_node_closes_the_migration_and_bumps_the_importers_epoch(&mut both);
    slot_assignment_errors_match(&mut both);
    a_forgotten_node_is_gone_from_one_view_until_met_again(&mut both);
    the_old_owner_drops_keys_it_kept_in_a_slot_it_lost(&mut both);
}

/// `redis-cli --cluster create` over lockstep nodes that each know only themselves:
/// ADDSLOTS, SET-CONFIG-EPOCH and MEET make the same cluster a real one gets.
#[test]
fn redis_cli_creates_a_cluster_of_lone_lockstep_nodes() {
    let ours = EmbeddedCluster::start_alone(ClusterConfig::ephemeral(3)).expect("nodes");
    let addrs = ours.addrs();
    for &addr in &addrs {
        let mut conn = Conn::open(addr);
        let info = conn.text(&["CLUSTER", "INFO"]);
        assert!(info.contains("cluster_state:fail"), "{info}");
        assert!(info.contains("cluster_known_nodes:1"), "{info}");
        assert!(info.contains("cluster_my_epoch:0"), "{info}");
    }
    let status = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(addrs.iter().map(|a| a.to_string()))
        .arg("--cluster-yes")
        .output()
        .expect("these tests need redis-cli");
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{out}");
    assert!(out.contains("[OK] All 16384 slots covered."), "{out}");
    let real = RealCluster::start(3);
    let real_side = Side::new("redis", real.addrs());
    let our_side = Side::new("lockstep", addrs);
    for i in 0..3 {
        for args in [&["CLUSTER", "NODES"][..], &["CLUSTER", "INFO"]] {
            let shape = |f: Frame| {
                if args[1] == "NODES" {
                    nodes_sorted_without_times(f)
                } else {
                    info_without_stats(f)
                }
            };
            let want = shape(real_side.names.frame(real_side.conn(i, 2).command(args)));
            let got = shape(our_side.names.frame(our_side.conn(i, 2).command(args)));
            assert_eq!(got, want, "node {i} {args:?}");
        }
    }
}

/// A cluster client in a few lines: follows MOVED (remembered per slot is not needed
/// here) and ASK (ASKING first), retries TRYAGAIN; any other error is returned.
struct Router {
    conns: std::collections::HashMap<String, Conn>,
    home: String,
}

impl Router {
    fn new(seed: std::net::SocketAddr) -> Router {
        Router {
            conns: Default::default(),
            home: seed.to_string(),
        }
    }

    fn conn(&mut self, addr: &str) -> &mut Conn {
        self.conns
            .entry(addr.to_string())
            .or_insert_with(|| Conn::open(addr.parse().expect("an address")))
    }

    fn run(&mut self, args: &[&str]) -> Result<Frame, String> {
        let mut at = self.home.clone();
        let mut asking = false;
        for _ in 0..50 {
            let conn = self.conn(&at);
            if asking {
                conn.command(&["ASKING"]);
            }
            match conn.command(args) {
                Frame::Error(e) => {
                    let e = String::from_utf8_lossy(&e).into_owned();
                    let words: Vec<&str> = e.split(' ').collect();
                    match words[0] {
                        "MOVED" => {
                            at = words[2].to_string();
                            asking = false;
                        }
                        "ASK" => {
                            at = words[2].to_string();
                            asking = true;
                        }
                        "TRYAGAIN" => std::thread::sleep(Duration::from_millis(5)),
                        _ => return Err(e),
                    }
                }
                reply => return Ok(reply),
            }
        }
        Err(format!("{args:?}: too many redirects"))
    }
}

/// What a reshard under load did: writes acknowledged, errors seen, output of the tools.
struct Reshard {
    acknowledged: usize,
    errors: Vec<String>,
    check: String,
}

/// Runs `redis-cli --cluster reshard` (node 0 → node 2, 1000 slots) and then `rebalance`
/// against the cluster whose node 0 is `addrs[0]`, while a writer sets keys; then reads
/// every acknowledged key back and runs `--cluster check`.
fn reshard_under_load(addrs: &[std::net::SocketAddr], ids: &[String]) -> Reshard {
    let stop = Arc::new(AtomicBool::new(false));
    let seed = addrs[0];
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut router = Router::new(seed);
            let mut errors = Vec::new();
            let mut last = std::collections::HashMap::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) || n < 2000 {
                let key = format!("key:{}", n % 3000);
                let value = n.to_string();
                match router.run(&["SET", &key, &value]) {
                    Ok(_) => {
                        last.insert(key, value);
                    }
                    Err(e) => errors.push(e),
                }
                n += 1;
            }
            (last, errors)
        })
    };
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(args)
            .output()
            .expect("these tests need redis-cli");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "redis-cli {args:?}: {text}");
        text
    };
    let node0 = addrs[0].to_string();
    cli(&[
        "--cluster",
        "reshard",
        &node0,
        "--cluster-from",
        &ids[0],
        "--cluster-to",
        &ids[2],
        "--cluster-slots",
        "1000",
        "--cluster-yes",
    ]);
    cli(&["--cluster", "rebalance", &node0, "--cluster-yes"]);
    stop.store(true, Ordering::Relaxed);
    let (last, mut errors) = writer.join().expect("the writer");
    let mut router = Router::new(seed);
    for (key, value) in &last {
        match router.run(&["GET", key]) {
            Ok(Frame::Bulk(v)) if v.as_ref() == value.as_bytes() => {}
            other => errors.push(format!("{key}: wrote {value}, read {other:?}")),
        }
    }
    let check = cli(&["--cluster", "check", &node0]);
    Reshard {
        acknowledged: last.len(),
        errors,
        check,
    }
}

#[test]
fn a_live_reshard_and_rebalance_by_redis_cli_lose_no_write() {
    let ours = EmbeddedCluster::start(ClusterConfig::ephemeral(3)).expect("lockstep cluster");
    let real = RealCluster::start(3);
    let sides = [
        Side::new("lockstep", ours.addrs()),
        Side::new("redis", real.addrs()),
    ];
    for side in &sides {
        let name = side.name;
        let started = Instant::now();
        let result = reshard_under_load(&side.addrs, &side.names.ids);
        eprintln!(
            "{name}: reshard + rebalance under load in {:?}, {} keys acknowledged",
            started.elapsed(),
            result.acknowledged
        );
        assert!(result.errors.is_empty(), "{name}: {:?}", result.errors);
        assert!(result.acknowledged > 1000, "{name}");
        assert!(
            result
                .check
                .contains("[OK] All nodes agree about slots configuration."),
            "{name}: {}",
            result.check
        );
        assert!(
            result.check.contains("[OK] All 16384 slots covered."),
            "{name}: {}",
            result.check
        );
        assert!(
            !result.check.contains("[WARNING]"),
            "{name}: {}",
            result.check
        );
        assert!(!result.check.contains("[ERR]"), "{name}: {}", result.check);
    }
    // The same moves end in the same configuration, epochs included.
    let [ours, real] = &sides;
    wait_real_converged(real);
    for i in 0..3 {
        for args in [&["CLUSTER", "NODES"][..], &["CLUSTER", "INFO"]] {
            let shape = |f: Frame| {
                if args[1] == "NODES" {
                    nodes_sorted_without_times(f)
                } else {
                    info_without_stats(f)
                }
            };
            let want = shape(real.names.frame(real.conn(i, 2).command(args)));
            let got = shape(ours.names.frame(ours.conn(i, 2).command(args)));
            assert_eq!(got, want, "node {i} {args:?}");
        }
    }
}

/// CLUSTER INFO without the message counters.
fn info_without_stats(frame: Frame) -> Frame {
    let t = text(&frame);
    Frame::Bulk(
        t.lines()
            .filter(|l| !l.starts_with("cluster_stats_"))
            .collect::<Vec<_>>()
            .join("\n")
            .into(),
    )
}

/// The lines of CLUSTER NODES at `addr`.
fn nodes_at(addr: std::net::SocketAddr) -> Vec<String> {
    Conn::open(addr)
        .text(&["CLUSTER", "NODES"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// `redis-cli --cluster add-node` (MEET), a reshard from all nodes onto it, a
/// rebalance that empties the node again (it turns into a replica of the node that took
/// its last slot, as `cluster-allow-replica-migration` has it) and `del-node` (FORGET on
/// every other node, then RESET SOFT), with every key kept.
#[test]
fn redis_cli_adds_a_node_rebalances_onto_it_and_deletes_it() {
    let cluster = EmbeddedCluster::start(ClusterConfig::ephemeral(3)).expect("cluster");
    let extra = EmbeddedCluster::start_alone(ClusterConfig::ephemeral(1)).expect("a node");
    let seed = cluster.addrs()[0];
    let new = extra.addrs()[0];
    let new_id = extra.nodes()[0].id.to_string();
    let mut router = Router::new(seed);
    for i in 0..300 {
        let key = format!("key:{i}");
        router.run(&["SET", &key, &key]).expect("SET");
    }
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(args)
            .output()
            .expect("these tests need redis-cli");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "redis-cli {args:?}: {text}");
        text
    };
    let seed_s = seed.to_string();
    let added = cli(&["--cluster", "add-node", &new.to_string(), &seed_s]);
    assert!(added.contains("[OK] New node added correctly."), "{added}");
    assert_eq!(nodes_at(new).len(), 4);
    assert_eq!(nodes_at(seed).len(), 4);
    // 300 slots onto the new node (a rebalance would move 4096, slow in a debug build).
    cli(&[
        "--cluster",
        "reshard",
        &seed_s,
        "--cluster-from",
        "all",
        "--cluster-to",
        &new_id,
        "--cluster-slots",
        "300",
        "--cluster-yes",
    ]);
    let check = cli(&["--cluster", "check", &seed_s]);
    assert!(check.contains("[OK] All nodes agree"), "{check}");
    let mine = nodes_at(new)
        .into_iter()
        .find(|l| l.contains("myself"))
        .expect("myself");
    assert!(mine.split(' ').count() > 8, "slots on the new node: {mine}");
    assert!(Conn::open(new).int(&["DBSIZE"]) > 0);
    let weight = format!("{new_id}=0");
    cli(&[
        "--cluster",
        "rebalance",
        &seed_s,
        "--cluster-weight",
        &weight,
        "--cluster-yes",
    ]);
    let line = nodes_at(seed)
        .into_iter()
        .find(|l| l.starts_with(&new_id))
        .expect("the new node's line");
    let cols: Vec<&str> = line.split(' ').collect();
    assert_eq!(cols[2], "slave", "{line}");
    assert_eq!(cols.len(), 8, "no slots: {line}");
    // A replica now, it holds its new primary's data, synced as a real one would be.
    let primary = nodes_at(seed)
        .into_iter()
        .find(|l| l.starts_with(cols[3]))
        .and_then(|l| {
            l.split(' ')
                .nth(1)
                .map(|a| a.split('@').next().unwrap_or("").to_string())
        })
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .expect("the primary's address");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Conn::open(new).int(&["DBSIZE"]) != Conn::open(primary).int(&["DBSIZE"]) {
        assert!(Instant::now() < deadline, "the emptied node never synced");
        std::thread::sleep(Duration::from_millis(20));
    }
    let deleted = cli(&["--cluster", "del-node", &seed_s, &new_id]);
    assert!(deleted.contains("CLUSTER RESET SOFT"), "{deleted}");
    for &addr in &cluster.addrs() {
        let lines = nodes_at(addr);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines.iter().all(|l| !l.starts_with(&new_id)), "{lines:?}");
    }
    let info = Conn::open(new).text(&["CLUSTER", "INFO"]);
    assert!(info.contains("cluster_known_nodes:1"), "{info}");
    assert_eq!(nodes_at(new)[0].split(' ').nth(2), Some("myself,master"));
    let check = cli(&["--cluster", "check", &seed_s]);
    assert!(check.contains("[OK] All 16384 slots covered."), "{check}");
    let mut router = Router::new(seed);
    for i in 0..300 {
        let key = format!("key:{i}");
        assert_eq!(
            router.run(&["GET", &key]),
            Ok(Frame::Bulk(key.clone().into_bytes().into())),
            "{key}"
        );
    }
}

/// A migration left half done (slot open on both sides, keys on both) is what
/// `redis-cli --cluster check` warns about and `--cluster fix` closes: it moves the keys
/// with MIGRATE and settles the slot with SETSLOT, and no key is lost.
#[test]
fn redis_cli_fixes_an_interrupted_migration() {
    let cluster = EmbeddedCluster::start(ClusterConfig::ephemeral(3)).expect("cluster");
    let addrs = cluster.addrs();
    let ids: Vec<String> = cluster.nodes().iter().map(|n| n.id.to_string()).collect();
    let mut source = Conn::open(addrs[0]);
    let mut target = Conn::open(addrs[1]);
    // {b} hashes to slot 3300, served by node 0.
    let keys: Vec<String> = (0..10).map(|i| format!("{{b}}{i}")).collect();
    for key in &keys {
        source.ok(&["SET", key, key]);
    }
    target.ok(&["CLUSTER", "SETSLOT", "3300", "IMPORTING", &ids[0]]);
    source.ok(&["CLUSTER", "SETSLOT", "3300", "MIGRATING", &ids[1]]);
    let port = addrs[1].port().to_string();
    let mut migrate = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
    migrate.extend(keys[..4].iter().map(String::as_str));
    assert_eq!(source.command(&migrate), Frame::Simple("OK".into()));
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(args)
            .output()
            .expect("these tests need redis-cli");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let seed = addrs[0].to_string();
    let (_, check) = cli(&["--cluster", "check", &seed]);
    assert!(check.contains("[WARNING]"), "{check}");
    assert!(check.contains("3300"), "{check}");
    let (ok, fixed) = cli(&["--cluster", "fix", &seed, "--cluster-yes"]);
    assert!(ok, "{fixed}");
    let (ok, check) = cli(&["--cluster", "check", &seed]);
    assert!(ok, "{check}");
    assert!(!check.contains("[WARNING]"), "{check}");
    assert!(check.contains("[OK] All 16384 slots covered."), "{check}");
    let mut router = Router::new(addrs[2]);
    for key in &keys {
        assert_eq!(
            router.run(&["GET", key]),
            Ok(Frame::Bulk(key.clone().into_bytes().into())),
            "{key}"
        );
    }
    for (i, &addr) in addrs.iter().enumerate() {
        let line = nodes_at(addr)
            .into_iter()
            .find(|l| l.contains("myself"))
            .expect("myself");
        assert!(!line.contains('['), "node {i} still has open slots: {line}");
    }
}
