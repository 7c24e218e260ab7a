//! Memory accounting and `maxmemory`, over TCP: INFO memory and MEMORY STATS in Redis's
//! shape (field names and order, compared with a real redis-server), eviction under each
//! `maxmemory-policy` (memory stays under the limit, the policy's kind of key goes), the
//! OOM refusals byte for byte as redis-server gives them, OBJECT IDLETIME and FREQ, and
//! evictions seen by WATCH and keyspace notifications.
//!
//! This test binary counts its allocations with `alloc::Counting`, as the `lockstep`
//! binary does (around jemalloc there), so `used_memory` is real here: the embedded
//! server's memory plus this test's, which stays small beside the megabytes written.

mod common;

use std::time::Duration;

use common::{Conn, RedisServer};
use lockstep_resp::Frame;

#[global_allocator]
static ALLOC: lockstep_server::alloc::Counting<std::alloc::System> =
    lockstep_server::alloc::Counting(std::alloc::System);

/// `used_memory` counts the whole process: one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn info_field(conn: &mut Conn, section: &str, field: &str) -> String {
    let text = conn.text(&["INFO", section]);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
        .to_string()
}

fn used_memory(conn: &mut Conn) -> u64 {
    info_field(conn, "memory", "used_memory")
        .parse()
        .expect("a number")
}

fn field_names(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(':').next().unwrap_or_default().to_string())
        .collect()
}

/// Writes `count` keys `prefix:i` of `size` bytes, pipelined, and reads every reply;
/// `ttl` gives them an EX. Returns the replies that were errors.
fn fill(conn: &mut Conn, prefix: &str, count: usize, size: usize, ttl: Option<u64>) -> usize {
    let value = "x".repeat(size);
    let mut errors = 0;
    for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
        for i in chunk {
            let key = format!("{prefix}:{i}");
            match ttl {
                Some(t) => conn.send(&["SET", &key, &value, "EX", &t.to_string()]),
                None => conn.send(&["SET", &key, &value]),
            }
        }
        for _ in chunk {
            if matches!(conn.read(), Frame::Error(_)) {
                errors += 1;
            }
        }
    }
    errors
}

fn surviving(conn: &mut Conn, prefix: &str, range: std::ops::Range<usize>) -> usize {
    range
        .filter(|i| conn.int(&["EXISTS", &format!("{prefix}:{i}")]) == 1)
        .count()
}

/// A lockstep server with `maxmemory` set `room` bytes above what it uses now.
fn server_with_room(policy: &str, room: u64) -> (lockstep_server::EmbeddedServer, Conn, u64) {
    let server = common::start();
    let mut conn = Conn::open(server.addrs()[0]);
    conn.ok(&["CONFIG", "SET", "maxmemory-policy", policy]);
    // used_memory counts this whole test process: let what the tests before this one
    // left behind go first (it only falls), so that the room is what the test meant.
    let mut used = used_memory(&mut conn);
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(25));
        let now = used_memory(&mut conn);
        if now + 64 * 1024 >= used {
            used = now.min(used);
            break;
        }
        used = now;
    }
    let limit = used + room;
    conn.ok(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    (server, conn, limit)
}

/// Under the limit after the load, give or take one value and what the test itself holds.
fn assert_under(conn: &mut Conn, limit: u64) {
    let used = used_memory(conn);
    assert!(
        used <= limit + 512 * 1024,
        "used_memory {used} over maxmemory {limit}"
    );
    let evicted: u64 = info_field(conn, "stats", "evicted_keys")
        .parse()
        .expect("n");
    assert!(evicted > 0, "something was evicted");
}

#[test]
fn info_memory_has_redis_fields_in_redis_order() {
    let _serial = serial();
    let redis = RedisServer::start();
    let server = common::start();
    let mut theirs = Conn::open(redis.addr());
    let mut ours = Conn::open(server.addrs()[0]);
    let (t, o) = (
        theirs.text(&["INFO", "memory"]),
        ours.text(&["INFO", "memory"]),
    );
    assert_eq!(field_names(&o), field_names(&t));
    assert_eq!(
        info_field(&mut ours, "memory", "mem_allocator"),
        "libc",
        "the system allocator, counted"
    );
    let used = used_memory(&mut ours);
    let rss: u64 = info_field(&mut ours, "memory", "used_memory_rss")
        .parse()
        .expect("n");
    assert!(used > 0 && rss > 0 && used != rss, "{used} {rss}");
}

#[test]
fn memory_stats_has_redis_fields_and_types_in_both_protocols() {
    let _serial = serial();
    let redis = RedisServer::start();
    let server = common::start();
    for resp3 in [false, true] {
        let mut theirs = Conn::open(redis.addr());
        let mut ours = Conn::open(server.addrs()[0]);
        for c in [&mut theirs, &mut ours] {
            if resp3 {
                c.command(&["HELLO", "3"]);
            }
            c.ok(&["SET", "k", "v"]);
            c.ok(&["SET", "t", "v", "EX", "100"]);
        }
        let shape = |f: Frame| -> Vec<String> {
            let pairs: Vec<(Frame, Frame)> = match f {
                Frame::Map(m) => m,
                Frame::Array(a) => a.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
                other => panic!("not a map: {other:?}"),
            };
            pairs
                .into_iter()
                .map(|(k, v)| {
                    let kind = match v {
                        Frame::Integer(_) => "int",
                        Frame::Double(_) => "double",
                        Frame::Bulk(_) => "bulk",
                        Frame::Map(_) | Frame::Array(_) => "map",
                        _ => "other",
                    };
                    format!("{k:?}={kind}")
                })
                .collect()
        };
        assert_eq!(
            shape(ours.command(&["MEMORY", "STATS"])),
            shape(theirs.command(&["MEMORY", "STATS"])),
            "resp3 {resp3}"
        );
    }
}

#[test]
fn memory_doctor_purge_and_malloc_stats_answer_as_redis_does_for_a_small_instance() {
    let _serial = serial();
    let redis = RedisServer::start();
    let server = common::start();
    let mut theirs = Conn::open(redis.addr());
    let mut ours = Conn::open(server.addrs()[0]);
    // used_memory counts this whole test process: servers of the tests before this one
    // may still be going away. Redis's words for a small instance need it under 5 MB.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while used_memory(&mut ours) >= 5 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "used_memory stays over 5 MB"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for args in [&["MEMORY", "DOCTOR"][..], &["MEMORY", "PURGE"]] {
        assert_eq!(ours.command(args), theirs.command(args), "{args:?}");
    }
    // This binary's allocator is not jemalloc: Redis's words for that case.
    assert_eq!(
        ours.text(&["MEMORY", "MALLOC-STATS"]),
        "Stats not supported for the current allocator"
    );
}

/// Rounds of 200 clients that each SET a 100 KB value and leave: `used_memory` after a
/// round is where it was before it, give or take 5%, past what the first round leaves
/// for good (the runtime's table of sockets keeps its size: under 128 KB).
#[test]
fn used_memory_comes_back_after_clients_leave() {
    let _serial = serial();
    let server = common::start();
    let mut conn = Conn::open(server.addrs()[0]);
    let before = used_memory(&mut conn);
    let mut after_round = Vec::new();
    for _ in 0..3 {
        let mut clients: Vec<Conn> = (0..200).map(|_| Conn::open(server.addrs()[0])).collect();
        for c in &mut clients {
            c.ok(&["SET", "big", &"v".repeat(100 * 1024)]);
        }
        drop(clients);
        conn.int(&["DEL", "big"]);
        // The server forgets a client once its task sees the close.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut used = used_memory(&mut conn);
        while used > before + (128 << 10) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            used = used_memory(&mut conn);
        }
        after_round.push(used);
    }
    assert!(
        after_round[0] <= before + (128 << 10),
        "{before} before, {after_round:?} after each round"
    );
    for used in &after_round[1..] {
        assert!(
            *used <= after_round[0] + after_round[0] / 20,
            "{before} before, {after_round:?} after each round"
        );
    }
}

#[test]
fn noeviction_refuses_denyoom_commands_with_redis_errors() {
    let _serial = serial();
    let redis = RedisServer::start();
    let server = common::start();
    let mut theirs = Conn::open(redis.addr());
    let mut ours = Conn::open(server.addrs()[0]);
    let script = "#!lua\nreturn redis.call('set', KEYS[1], 'v')";
    let ro_script = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])";
    let steps: &[&[&str]] = &[
        &["SET", "before", "1"],
        &["CONFIG", "SET", "maxmemory", "1"],
        &["SET", "k", "v"],
        &["GET", "before"],
        &["DEL", "before"],
        &["LPUSH", "l", "a"],
        &["INCR", "n"],
        &["EVAL", script, "1", "k"],
        &["EVAL", ro_script, "1", "k"],
        &["MULTI"],
        &["GET", "k"],
        &["EXEC"],
        &["MULTI"],
        &["CONFIG", "SET", "maxmemory", "0"],
        &["SET", "k", "v"],
        &["EXEC"],
    ];
    for step in steps {
        assert_eq!(ours.command(step), theirs.command(step), "{step:?}");
    }
}

#[test]
fn allkeys_lru_keeps_memory_under_the_limit_and_the_recently_used_keys() {
    let _serial = serial();
    let (_server, mut conn, limit) = server_with_room("allkeys-lru", 6 << 20);
    assert_eq!(fill(&mut conn, "old", 3000, 1000, None), 0);
    // The LRU clock counts seconds.
    std::thread::sleep(Duration::from_millis(2100));
    for i in 0..1500 {
        conn.command(&["GET", &format!("old:{i}")]);
    }
    assert_eq!(fill(&mut conn, "new", 6000, 1000, None), 0);
    assert_under(&mut conn, limit);
    let touched = surviving(&mut conn, "old", 0..1500);
    let untouched = surviving(&mut conn, "old", 1500..3000);
    assert!(
        touched > untouched * 2 && untouched < 750,
        "recently used {touched}/1500 survived, not used {untouched}/1500"
    );
}

#[test]
fn allkeys_lfu_keeps_the_frequently_used_keys() {
    let _serial = serial();
    let (_server, mut conn, limit) = server_with_room("allkeys-lfu", 6 << 20);
    conn.ok(&["CONFIG", "SET", "lfu-log-factor", "1"]);
    assert_eq!(fill(&mut conn, "key", 3000, 1000, None), 0);
    for _ in 0..10 {
        for i in 0..1500 {
            conn.send(&["GET", &format!("key:{i}")]);
        }
        for _ in 0..1500 {
            conn.read();
        }
    }
    assert_eq!(fill(&mut conn, "new", 6000, 1000, None), 0);
    assert_under(&mut conn, limit);
    let hot = surviving(&mut conn, "key", 0..1500);
    let cold = surviving(&mut conn, "key", 1500..3000);
    assert!(
        hot > cold * 2 && hot > 1200,
        "hot {hot}/1500 survived, cold {cold}/1500"
    );
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    let _serial = serial();
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let (_server, mut conn, limit) = server_with_room(policy, 6 << 20);
        assert_eq!(fill(&mut conn, "keep", 2000, 1000, None), 0, "{policy}");
        assert_eq!(fill(&mut conn, "ttl", 8000, 1000, Some(10_000)), 0);
        assert_under(&mut conn, limit);
        assert_eq!(surviving(&mut conn, "keep", 0..2000), 2000, "{policy}");
        assert!(surviving(&mut conn, "ttl", 0..8000) < 8000, "{policy}");
    }
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiry_first() {
    let _serial = serial();
    let (_server, mut conn, limit) = server_with_room("volatile-ttl", 6 << 20);
    assert_eq!(fill(&mut conn, "late", 2500, 1000, Some(1_000_000)), 0);
    assert_eq!(fill(&mut conn, "soon", 2500, 1000, Some(1000)), 0);
    assert_eq!(fill(&mut conn, "more", 4000, 1000, Some(500_000)), 0);
    assert_under(&mut conn, limit);
    let late = surviving(&mut conn, "late", 0..2500);
    let soon = surviving(&mut conn, "soon", 0..2500);
    assert!(
        late > soon * 2,
        "late {late}/2500 survived, soon {soon}/2500"
    );
}

#[test]
fn with_no_key_left_to_evict_writes_are_refused_and_nothing_is_evicted() {
    let _serial = serial();
    let server = common::start();
    let mut conn = Conn::open(server.addrs()[0]);
    conn.ok(&["CONFIG", "SET", "maxmemory-policy", "volatile-lru"]);
    assert_eq!(fill(&mut conn, "keep", 1000, 1000, None), 0);
    // No key has a TTL: nothing volatile-lru may evict.
    conn.ok(&["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(
        conn.command(&["SET", "one", "more"]),
        Frame::Error("OOM command not allowed when used memory > 'maxmemory'.".into())
    );
    assert_eq!(conn.int(&["DBSIZE"]), 1000);
    assert_eq!(conn.text(&["GET", "keep:1"]).len(), 1000, "reads still run");
    assert_eq!(conn.int(&["DEL", "keep:0"]), 1, "deletes still run");
    assert_eq!(info_field(&mut conn, "stats", "evicted_keys"), "0");
}

#[test]
fn allkeys_random_keeps_memory_under_the_limit() {
    let _serial = serial();
    let (_server, mut conn, limit) = server_with_room("allkeys-random", 4 << 20);
    assert_eq!(fill(&mut conn, "k", 10_000, 1000, None), 0);
    assert_under(&mut conn, limit);
    assert!(conn.int(&["DBSIZE"]) < 10_000);
}

#[test]
fn an_eviction_touches_watched_keys_and_is_notified() {
    let _serial = serial();
    let server = common::start();
    let mut conn = Conn::open(server.addrs()[0]);
    let mut watcher = Conn::open(server.addrs()[0]);
    let mut sub = Conn::open(server.addrs()[0]);
    conn.ok(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    conn.ok(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    sub.command(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    conn.ok(&["SET", "big", &"v".repeat(4 << 20)]);
    // The 4 MB query buffer goes back once the connection waits again: measure after.
    conn.command(&["PING"]);
    watcher.ok(&["WATCH", "big"]);
    watcher.ok(&["MULTI"]);
    watcher.command(&["SET", "other", "1"]);
    let limit = used_memory(&mut conn) - (2 << 20);
    conn.ok(&["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    conn.command(&["PING"]);
    conn.ok(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(conn.int(&["EXISTS", "big"]), 0, "the only key was evicted");
    assert_eq!(watcher.command(&["EXEC"]), Frame::Null);
    assert_eq!(
        sub.read(),
        Frame::Array(vec![
            Frame::Bulk("message".into()),
            Frame::Bulk("__keyevent@0__:evicted".into()),
            Frame::Bulk("big".into()),
        ])
    );
}

#[test]
fn object_freq_and_idletime_answer_as_redis_does() {
    let _serial = serial();
    let redis = RedisServer::start();
    let server = common::start();
    let mut theirs = Conn::open(redis.addr());
    let mut ours = Conn::open(server.addrs()[0]);
    let steps: &[&[&str]] = &[
        &["SET", "k", "hello"],
        &["OBJECT", "FREQ", "k"],
        &["OBJECT", "IDLETIME", "k"],
        &["OBJECT", "IDLETIME", "missing"],
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
        &["CONFIG", "SET", "lfu-log-factor", "0"],
        &["OBJECT", "IDLETIME", "k"],
        &["OBJECT", "FREQ", "missing"],
        &["SET", "f", "some value"],
        &["OBJECT", "FREQ", "f"],
        &["GET", "f"],
        &["GET", "f"],
        &["GET", "f"],
        &["OBJECT", "FREQ", "f"],
        &["SET", "f", "overwritten"],
        &["OBJECT", "FREQ", "f"],
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
        &["OBJECT", "FREQ", "f"],
    ];
    for step in steps {
        assert_eq!(ours.command(step), theirs.command(step), "{step:?}");
    }
}

#[test]
fn object_idletime_counts_seconds_since_the_last_access() {
    let _serial = serial();
    let server = common::start();
    let mut conn = Conn::open(server.addrs()[0]);
    conn.ok(&["SET", "k", "v"]);
    conn.ok(&["SET", "other", "v"]);
    std::thread::sleep(Duration::from_millis(2100));
    let idle = conn.int(&["OBJECT", "IDLETIME", "k"]);
    assert!((2..=3).contains(&idle), "idle {idle}");
    // Neither OBJECT, TYPE-like lookups nor EXISTS count as an access; GET does.
    conn.int(&["EXISTS", "k"]);
    conn.command(&["TTL", "k"]);
    assert!(conn.int(&["OBJECT", "IDLETIME", "k"]) >= 2);
    conn.command(&["GET", "k"]);
    assert_eq!(conn.int(&["OBJECT", "IDLETIME", "k"]), 0);
    assert!(conn.int(&["OBJECT", "IDLETIME", "other"]) >= 2);
}
