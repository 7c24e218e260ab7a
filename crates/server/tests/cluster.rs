//! lockstep's cluster next to a real Redis Cluster of the same shape: three redis-server
//! processes in cluster mode joined by `redis-cli --cluster create`, and a lockstep
//! `EmbeddedCluster` of three primaries. The same commands go to the node that holds slot
//! 0 in each, and the replies must be equal once node ids, ports and times are replaced by
//! names (`<node1>`, `<port2>`, ...). The CLUSTER replies of every node are compared too.
//!
//! Starting the real cluster takes about two seconds (redis-cli waits for the nodes to
//! join), so one test drives both clusters through every comparison, each a function
//! named after the behaviour it checks.

mod cluster_support;
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster_support::*;
use common::Conn;
use lockstep_resp::Frame;
use lockstep_server::{ClusterConfig, EmbeddedCluster};

fn cluster_info_matches_on_every_node(pair: &Pair) {
    pair.same_on_every_node(&["CLUSTER", "INFO"], info_without_message_counts);
}

fn cluster_nodes_match_on_every_node(pair: &Pair) {
    pair.same_on_every_node(&["CLUSTER", "NODES"], nodes_sorted_without_times);
}

fn cluster_slots_and_shards_match_on_every_node(pair: &Pair) {
    pair.same_on_every_node(&["CLUSTER", "SLOTS"], |f| f);
    pair.same_on_every_node(&["CLUSTER", "SHARDS"], shards_in_slot_order);
}

/// A real node's links come and go with its peers' connections (a `from` link appears
/// when the peer first connects): every link the real node shows, lockstep's shows too,
/// in the same shape, and lockstep's node shows both links to every other node.
fn cluster_links_and_myid_match_on_every_node(pair: &Pair) {
    for protocol in [2, 3] {
        for i in 0..pair.real.addrs.len() {
            let args = ["CLUSTER", "LINKS"];
            let links = |side: &Side| match links_without_times(
                side.names.frame(side.conn(i, protocol).command(&args)),
            ) {
                Frame::Array(links) => links,
                other => panic!("CLUSTER LINKS: {other:?}"),
            };
            let (real, ours) = (links(&pair.real), links(&pair.ours));
            for link in &real {
                assert!(
                    ours.contains(link),
                    "RESP{protocol} node {i}: {link:?} in {ours:?}"
                );
            }
            assert_eq!(ours.len(), 2 * (pair.ours.addrs.len() - 1), "{ours:?}");
        }
    }
    pair.same_on_every_node(&["CLUSTER", "MYID"], |f| f);
}

fn info_cluster_and_help_match(pair: &Pair) {
    for protocol in [2, 3] {
        pair.same_replies(
            protocol,
            &[
                &["INFO", "cluster"],
                &["CONFIG", "GET", "cluster-enabled"],
                &["CLUSTER", "HELP"],
                &["CLUSTER", "FOO"],
                &["CLUSTER", "INFO", "extra"],
                &["CLUSTER"],
            ],
        );
    }
}

fn keyslot_follows_hash_tags(pair: &Pair) {
    let keys = [
        "foo",
        "{user1000}.following",
        "a{}b",
        "{}x",
        "",
        "{a}{b}",
        "x{y}z",
        "{",
    ];
    let script: Vec<Vec<&str>> = keys.iter().map(|k| vec!["CLUSTER", "KEYSLOT", k]).collect();
    let script: Vec<&[&str]> = script.iter().map(|c| c.as_slice()).collect();
    pair.same_replies(2, &script);
}

/// Keys `{b}...` hash to slot 3300, in the first node's range.
fn keys_in_slot_are_counted_and_listed_as_the_hook_sees_them(pair: &Pair) {
    for protocol in [2, 3] {
        pair.same_replies(
            protocol,
            &[
                &["FLUSHALL"],
                &["SET", "{b}1", "one"],
                &["RPUSH", "{b}2", "x", "y"],
                &["SADD", "{b}3", "m"],
                &["HSET", "{b}4", "f", "v"],
                &["CLUSTER", "COUNTKEYSINSLOT", "3300"],
                &["CLUSTER", "GETKEYSINSLOT", "3300", "10"],
                &["CLUSTER", "GETKEYSINSLOT", "3300", "2"],
                &["CLUSTER", "GETKEYSINSLOT", "3300", "0"],
                &["DEL", "{b}2"],
                &["LPOP", "{b}2"],
                &["SREM", "{b}3", "m"],
                &["CLUSTER", "GETKEYSINSLOT", "3300", "10"],
                &["RENAME", "{b}1", "{b}5"],
                &["CLUSTER", "GETKEYSINSLOT", "3300", "10"],
                &["SET", "{b}6", "v", "PX", "1"],
                &["!sleep", "5"],
                &["GET", "{b}6"],
                &["CLUSTER", "COUNTKEYSINSLOT", "3300"],
                &["CLUSTER", "COUNTKEYSINSLOT", "0"],
                &["CLUSTER", "COUNTKEYSINSLOT", "16383"],
                &["CLUSTER", "COUNTKEYSINSLOT", "16384"],
                &["CLUSTER", "COUNTKEYSINSLOT", "-1"],
                &["CLUSTER", "COUNTKEYSINSLOT", "x"],
                &["CLUSTER", "GETKEYSINSLOT", "0", "-1"],
                &["CLUSTER", "GETKEYSINSLOT", "16384", "1"],
                &["CLUSTER", "GETKEYSINSLOT", "x", "1"],
                &["CLUSTER", "GETKEYSINSLOT", "0", "x"],
                &["FLUSHDB"],
                &["CLUSTER", "COUNTKEYSINSLOT", "3300"],
                &["CLUSTER", "GETKEYSINSLOT", "3300", "10"],
            ],
        );
    }
}

/// `a` hashes to 15495 (the third node), `b` to 3300 and `f` to 3168 (the first).
fn keys_elsewhere_are_moved_and_keys_across_slots_refused(pair: &Pair) {
    for protocol in [2, 3] {
        pair.same_replies(
            protocol,
            &[
                &["FLUSHALL"],
                &["SET", "a", "1"],
                &["GET", "a"],
                &["GET", "b"],
                &["MGET", "a", "b"],
                &["MGET", "{a}1", "{a}2"],
                &["MGET", "{b}1", "b"],
                &["MSET", "a", "1", "a", "2"],
                &["MSET", "b", "1", "f", "2"],
                &["DEL", "b", "f", "a"],
                &["EXISTS", "a"],
                &["RENAME", "b", "f"],
                &["SORT", "b", "BY", "nosort", "STORE", "f"],
                &["BLPOP", "b", "f", "1"],
                &["SINTERCARD", "2", "b", "f"],
                &["SINTERCARD", "0", "b"],
                &["ZUNIONSTORE", "{b}d", "2", "b", "{b}x"],
                &["ZUNIONSTORE", "{b}d", "2", "b", "a"],
                &["OBJECT", "ENCODING", "a"],
                &["COPY", "b", "a"],
                &["SPUBLISH", "a", "x"],
                &["SPUBLISH", "b", "x"],
                &["PUBLISH", "a", "x"],
                &["DBSIZE"],
                &["KEYS", "*"],
                &["SCAN", "0"],
                &["PING"],
                &["WATCH", "a", "b"],
                &["WATCH", "a"],
                &["WATCH", "b"],
                &["UNWATCH"],
            ],
        );
    }
}

fn transactions_respect_slots(pair: &Pair) {
    for protocol in [2, 3] {
        pair.same_replies(
            protocol,
            &[
                &["MULTI"],
                &["SET", "b", "1"],
                &["SET", "a", "1"],
                &["EXEC"],
                &["MULTI"],
                &["SET", "b", "1"],
                &["SET", "f", "1"],
                &["EXEC"],
                &["MULTI"],
                &["SET", "{b}1", "1"],
                &["GET", "b"],
                &["PING"],
                &["EXEC"],
                &["MULTI"],
                &["PING"],
                &["EXEC"],
                &["EXEC"],
                &["MULTI"],
                &["MGET", "a", "b"],
                &["EXEC"],
            ],
        );
    }
}

fn scripts_respect_slots(pair: &Pair) {
    for protocol in [2, 3] {
        pair.same_replies(
            protocol,
            &[
                &["EVAL", "return redis.call('get', KEYS[1])", "1", "a"],
                &["EVAL", "return redis.call('get', KEYS[1])", "2", "a", "b"],
                &["EVAL", "return redis.call('get', KEYS[1])", "2", "b", "f"],
                &["EVAL", "return redis.call('get', KEYS[1])", "1", "b"],
                &["EVAL", "return redis.call('get', 'a')", "0"],
                &["EVAL", "return redis.pcall('get', 'a')", "0"],
                &[
                    "EVAL",
                    "redis.call('set', 'b', 1) return redis.call('get', 'f')",
                    "0",
                ],
                &["EVAL", "return redis.call('mget', 'b', 'f')", "0"],
                &["EVAL", "#!lua flags=no-cluster\nreturn 1", "0"],
                &["EVAL", "#!lua\nreturn redis.call('get', 'a')", "0"],
                &["EVAL", "return 1", "-1"],
                &["EVAL", "return 1", "x"],
                &["FCALL", "nosuch", "1", "a"],
                &["FCALL", "nosuch", "1", "b"],
            ],
        );
    }
}

fn databases_other_than_zero_are_refused(pair: &Pair) {
    pair.same_replies(
        2,
        &[
            &["SELECT", "1"],
            &["SELECT", "0"],
            &["SELECT", "x"],
            &["SELECT", "99"],
            &["SELECT", "-1"],
            &["SWAPDB", "0", "1"],
            &["SWAPDB", "0", "0"],
            &["SET", "b", "v"],
            &["MOVE", "b", "1"],
            &["COPY", "b", "{b}x", "DB", "1"],
            &["COPY", "b", "{b}x", "DB", "0"],
            &["COPY", "b", "{b}y"],
            &["COPY", "b", "{b}y", "DB", "x"],
        ],
    );
}

fn readonly_readwrite_and_asking_are_accepted(pair: &Pair) {
    pair.same_replies(
        2,
        &[
            &["READONLY"],
            &["GET", "a"],
            &["READWRITE"],
            &["ASKING"],
            &["GET", "a"],
            &["READONLY", "x"],
            &["ASKING", "x"],
        ],
    );
}

/// CLIENT INFO shows READONLY as flag `r`, before `e` (NO-EVICT), as Redis does.
fn readonly_clients_are_flagged_r(pair: &Pair) {
    let flags = |side: &Side| -> Vec<String> {
        let mut conn = side.conn(0, 2);
        let mut seen = Vec::new();
        for step in [
            &["READONLY"][..],
            &["CLIENT", "NO-EVICT", "on"],
            &["READWRITE"],
        ] {
            conn.command(step);
            let info = conn.text(&["CLIENT", "INFO"]);
            let field = info
                .split(' ')
                .find_map(|f| f.strip_prefix("flags="))
                .expect("a flags field");
            seen.push(field.to_string());
        }
        seen
    };
    assert_eq!(flags(&pair.ours), ["r", "re", "e"]);
    assert_eq!(flags(&pair.ours), flags(&pair.real));
}

fn error_stats_count_redirects(pair: &Pair) {
    let stats = |side: &Side| -> Frame {
        let mut conn = side.conn(0, 2);
        conn.command(&["CONFIG", "RESETSTAT"]);
        for args in [
            &["GET", "a"][..],
            &["MGET", "a", "b"],
            &["MULTI"],
            &["GET", "a"],
            &["EXEC"],
        ] {
            conn.command(args);
        }
        let errorstats = conn.command(&["INFO", "errorstats"]);
        let mut commandstats = text_of(&conn.command(&["INFO", "commandstats"]));
        // Times differ; calls, rejections and failures must not.
        let mut lines: Vec<&str> = commandstats.lines().collect();
        // Redis lists commands in hash table order.
        lines.sort();
        commandstats = lines
            .into_iter()
            .filter(|l| {
                l.starts_with("cmdstat_get")
                    || l.starts_with("cmdstat_mget")
                    || l.starts_with("cmdstat_exec")
            })
            .map(|l| {
                l.split(',')
                    .filter(|f| {
                        f.starts_with("cmdstat")
                            || f.starts_with("rejected")
                            || f.starts_with("failed")
                    })
                    .map(|f| f.split_once("usec").map_or(f, |_| "").to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join("\n");
        Frame::Array(vec![errorstats, Frame::Bulk(Bytes::from(commandstats))])
    };
    assert_eq!(stats(&pair.ours), stats(&pair.real));
}

fn hello_reports_cluster_mode(pair: &Pair) {
    let mode = |side: &Side| -> Frame {
        let mut conn = Conn::open(side.addrs[0]);
        match conn.command(&["HELLO", "3"]) {
            Frame::Map(pairs) => pairs
                .into_iter()
                .find(|(k, _)| k.as_bytes() == Some(b"mode"))
                .map(|(_, v)| v)
                .expect("a mode"),
            other => panic!("HELLO 3: {other:?}"),
        }
    };
    assert_eq!(mode(&pair.ours), Frame::bulk("cluster"));
    assert_eq!(mode(&pair.ours), mode(&pair.real));
}

#[test]
fn cluster_replies_match_a_real_redis_cluster_of_three_primaries() {
    let real = RealCluster::start(3);
    let ours = EmbeddedCluster::start(ClusterConfig::ephemeral(3)).expect("lockstep cluster");
    let pair = Pair {
        real: Side::new("redis", real.addrs()),
        ours: Side::new("lockstep", ours.addrs()),
    };
    assert_eq!((pair.real.name, pair.ours.name), ("redis", "lockstep"));
    cluster_info_matches_on_every_node(&pair);
    cluster_nodes_match_on_every_node(&pair);
    cluster_slots_and_shards_match_on_every_node(&pair);
    cluster_links_and_myid_match_on_every_node(&pair);
    info_cluster_and_help_match(&pair);
    keyslot_follows_hash_tags(&pair);
    keys_in_slot_are_counted_and_listed_as_the_hook_sees_them(&pair);
    keys_elsewhere_are_moved_and_keys_across_slots_refused(&pair);
    transactions_respect_slots(&pair);
    scripts_respect_slots(&pair);
    databases_other_than_zero_are_refused(&pair);
    readonly_readwrite_and_asking_are_accepted(&pair);
    readonly_clients_are_flagged_r(&pair);
    error_stats_count_redirects(&pair);
    hello_reports_cluster_mode(&pair);
}

#[test]
fn an_embedded_cluster_is_ok_on_every_node_as_soon_as_start_returns() {
    let started = Instant::now();
    let cluster = EmbeddedCluster::start(ClusterConfig::ephemeral(3)).expect("cluster");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "ready in {elapsed:?}");
    let ids: Vec<String> = cluster.nodes().iter().map(|n| n.id.to_string()).collect();
    for (i, node) in cluster.nodes().iter().enumerate() {
        let mut conn = Conn::open(node.addr);
        assert!(conn
            .text(&["CLUSTER", "INFO"])
            .starts_with("cluster_state:ok\r\n"));
        assert_eq!(conn.text(&["CLUSTER", "MYID"]), ids[i]);
    }
    // Stopping closes every node's connections (ports are not checked: other tests of
    // this file take free ports too, and may be given one just freed).
    let mut open: Vec<Conn> = cluster.addrs().into_iter().map(Conn::open).collect();
    for conn in &mut open {
        conn.command(&["PING"]);
    }
    cluster.stop();
    for conn in &mut open {
        let mut buf = [0u8; 16];
        let read = std::io::Read::read(&mut conn.stream, &mut buf);
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}

#[test]
fn keys_written_through_every_node_land_on_their_owner_only() {
    let cluster = EmbeddedCluster::start(ClusterConfig::ephemeral(3)).expect("cluster");
    let addrs = cluster.addrs();
    let mut conns: Vec<Conn> = addrs.iter().map(|&a| Conn::open(a)).collect();
    let mut owners: HashMap<usize, usize> = HashMap::new();
    for k in 0..60 {
        let key = format!("key:{k}");
        // Follow the redirect, as a cluster client does.
        let mut at = k % conns.len();
        for _ in 0..2 {
            match conns[at].command(&["SET", &key, "v"]) {
                Frame::Simple(_) => break,
                Frame::Error(e) => {
                    let text = String::from_utf8_lossy(&e).into_owned();
                    let target = text.rsplit(' ').next().expect("an address");
                    at = addrs
                        .iter()
                        .position(|a| a.to_string() == target)
                        .unwrap_or_else(|| panic!("{text} names no node"));
                }
                other => panic!("SET: {other:?}"),
            }
        }
        owners.insert(k, at);
    }
    let mut total = 0;
    for (i, conn) in conns.iter_mut().enumerate() {
        let size = conn.int(&["DBSIZE"]);
        assert_eq!(size as usize, owners.values().filter(|&&o| o == i).count());
        total += size;
    }
    assert_eq!(total, 60);
}

/// Nodes never share their files: a shared `dbfilename` made every node of a test cluster
/// load the `dump.rdb` another test had left in the working directory, keys of every slot
/// included. Unless set, each node's file is its own, in the temporary directory.
#[test]
fn every_node_has_files_of_its_own() {
    let cluster = EmbeddedCluster::start(ClusterConfig::ephemeral(3)).expect("cluster");
    let mut names = std::collections::HashSet::new();
    for &addr in cluster.addrs().iter() {
        let mut conn = Conn::open(addr);
        for param in ["dbfilename", "appenddirname"] {
            let Frame::Array(pair) = conn.command(&["CONFIG", "GET", param]) else {
                panic!("CONFIG GET {param}");
            };
            let Some(Frame::Bulk(name)) = pair.get(1) else {
                panic!("CONFIG GET {param}: {pair:?}");
            };
            let name = String::from_utf8_lossy(name).into_owned();
            assert!(name != "dump.rdb" && name != "appendonlydir", "{name}");
            assert!(names.insert(name.clone()), "{param} {name} shared");
        }
        assert_eq!(conn.int(&["DBSIZE"]), 0);
    }
}
