//! Replication over the wire with real redis-server 7.0: lockstep as the primary of a
//! redis-server replica and as the replica of a redis-server primary, under a write load
//! of every type (TTLs of every form, MULTI, EVAL, keys expiring), with every key, value
//! and absolute expiry read back from both sides; dropped links continued with a partial
//! resync; WAIT; INFO replication and ROLE in Redis's shape; REPLICAOF NO ONE; the
//! READONLY error; FAILOVER's errors.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Conn, RedisServer};
use lockstep_resp::Frame;
use lockstep_server::{EmbeddedServer, ServerConfig};

const DBS: usize = 3;

fn text_of(frame: &Frame) -> String {
    match frame {
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => String::from_utf8_lossy(b).into(),
        Frame::Simple(s) => String::from_utf8_lossy(s).into(),
        Frame::Error(e) => format!("-{}", String::from_utf8_lossy(e)),
        Frame::Integer(n) => n.to_string(),
        Frame::Null => "(nil)".into(),
        Frame::Array(items) => {
            let items: Vec<String> = items.iter().map(text_of).collect();
            format!("[{}]", items.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// INFO `section` as field → value.
fn info(c: &mut Conn, section: &str) -> Vec<(String, String)> {
    let text = text_of(&c.command(&["INFO", section]));
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(':'))
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn field(c: &mut Conn, section: &str, name: &str) -> String {
    info(c, section)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn link_up(replica: SocketAddr) {
    let mut c = Conn::open(replica);
    wait_until("master_link_status:up", Duration::from_secs(15), || {
        field(&mut c, "replication", "master_link_status") == "up"
    });
}

/// Waits until the replica applied everything the primary produced.
fn caught_up(primary: SocketAddr, replica: SocketAddr) {
    let mut p = Conn::open(primary);
    let mut r = Conn::open(replica);
    wait_until("the replica's offset", Duration::from_secs(15), || {
        let want = field(&mut p, "replication", "master_repl_offset");
        field(&mut r, "replication", "master_repl_offset") == want
            && field(&mut r, "replication", "master_link_status") == "up"
    });
}

/// Every key of the first databases: its type, its value in a canonical form and its
/// absolute expiry (PEXPIRETIME).
fn dataset(addr: SocketAddr) -> BTreeMap<(usize, String), (String, String, i64)> {
    let mut c = Conn::open(addr);
    let mut all = BTreeMap::new();
    for db in 0..DBS {
        c.ok(&["SELECT", &db.to_string()]);
        let mut cursor = "0".to_string();
        let mut keys = Vec::new();
        loop {
            let Frame::Array(reply) = c.command(&["SCAN", &cursor, "COUNT", "1000"]) else {
                panic!("SCAN")
            };
            cursor = text_of(&reply[0]);
            if let Frame::Array(ks) = &reply[1] {
                keys.extend(ks.iter().map(text_of));
            }
            if cursor == "0" {
                break;
            }
        }
        for key in keys {
            let ty = text_of(&c.command(&["TYPE", &key]));
            let value = match ty.as_str() {
                "string" => text_of(&c.command(&["GET", &key])),
                "list" => text_of(&c.command(&["LRANGE", &key, "0", "-1"])),
                "hash" => {
                    let Frame::Array(kv) = c.command(&["HGETALL", &key]) else {
                        panic!()
                    };
                    let mut pairs: Vec<String> = kv
                        .chunks(2)
                        .map(|p| format!("{}={}", text_of(&p[0]), text_of(&p[1])))
                        .collect();
                    pairs.sort();
                    pairs.join(",")
                }
                "set" => {
                    let Frame::Array(ms) = c.command(&["SMEMBERS", &key]) else {
                        panic!()
                    };
                    let mut ms: Vec<String> = ms.iter().map(text_of).collect();
                    ms.sort();
                    ms.join(",")
                }
                "zset" => text_of(&c.command(&["ZRANGE", &key, "0", "-1", "WITHSCORES"])),
                "stream" => format!(
                    "{} {}",
                    text_of(&c.command(&["XRANGE", &key, "-", "+"])),
                    text_of(&c.command(&["XINFO", "GROUPS", &key]))
                ),
                "none" => continue,
                other => panic!("unexpected type {other}"),
            };
            let at = common::int_of(&c.command(&["PEXPIRETIME", &key]));
            all.insert((db, key), (ty, value, at));
        }
    }
    all
}

/// A small deterministic generator (no dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Writes of every type to `addr`: TTLs in every form (some expire during the run),
/// MULTI/EXEC across databases, EVAL, SPOP, stream ids made by the server, deletions.
fn load(addr: SocketAddr, seed: u64, rounds: usize) {
    let mut c = Conn::open(addr);
    let mut rng = Lcg(seed);
    for i in 0..rounds {
        let k = |rng: &mut Lcg, p: &str| format!("{p}:{}", rng.next(40));
        let db = rng.next(DBS as u64).to_string();
        c.ok(&["SELECT", &db]);
        let v = format!("v{i}");
        let reply = match rng.next(22) {
            0 => c.command(&["SET", &k(&mut rng, "s"), &v]),
            1 => c.command(&["SET", &k(&mut rng, "s"), &v, "EX", "100"]),
            2 => c.command(&["SET", &k(&mut rng, "s"), &v, "PX", "30"]),
            3 => c.command(&["SETEX", &k(&mut rng, "s"), "200", &v]),
            4 => c.command(&["INCRBY", &k(&mut rng, "n"), "3"]),
            5 => c.command(&["APPEND", &k(&mut rng, "s"), "x"]),
            6 => c.command(&["RPUSH", &k(&mut rng, "l"), &v, "b", "c"]),
            7 => c.command(&["LPOP", &k(&mut rng, "l")]),
            8 => c.command(&["HSET", &k(&mut rng, "h"), &v, "1", "f", &v]),
            9 => c.command(&["HINCRBY", &k(&mut rng, "h"), "ctr", "2"]),
            10 => c.command(&["SADD", &k(&mut rng, "t"), &v, "a", "b"]),
            11 => c.command(&["SPOP", &k(&mut rng, "t")]),
            12 => c.command(&["ZADD", &k(&mut rng, "z"), &i.to_string(), &v]),
            13 => c.command(&["ZINCRBY", &k(&mut rng, "z"), "1.5", "m"]),
            14 => c.command(&["XADD", &k(&mut rng, "x"), "*", "f", &v]),
            15 => c.command(&["EXPIRE", &k(&mut rng, "h"), "300"]),
            16 => c.command(&["PEXPIRE", &k(&mut rng, "l"), "20"]),
            17 => c.command(&["DEL", &k(&mut rng, "s")]),
            18 => {
                c.ok(&["MULTI"]);
                for cmd in [
                    vec!["SET".to_string(), k(&mut rng, "s"), v.clone()],
                    vec!["SELECT".into(), ((i + 1) % DBS).to_string()],
                    vec!["LPUSH".into(), k(&mut rng, "l"), v.clone()],
                    vec!["EXPIRE".into(), k(&mut rng, "l"), "500".into()],
                ] {
                    let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
                    c.command(&args);
                }
                c.command(&["EXEC"])
            }
            19 => c.command(&[
                "EVAL",
                "redis.call('SET', KEYS[1], ARGV[1]); redis.call('PEXPIRE', KEYS[1], 400000); \
                 return redis.call('INCR', KEYS[2])",
                "2",
                &k(&mut rng, "s"),
                &k(&mut rng, "n"),
                &v,
            ]),
            20 => c.command(&["GETEX", &k(&mut rng, "s"), "PX", "40"]),
            _ => c.command(&["SET", &k(&mut rng, "s"), &v, "PXAT", "4102444800000"]),
        };
        // Wrong types are part of the load: only protocol-level failures matter.
        let _ = reply;
    }
    c.ok(&["SELECT", "0"]);
}

fn lockstep_with(settings: &[(&'static str, String)]) -> EmbeddedServer {
    let mut config = ServerConfig::ephemeral();
    for (k, v) in settings {
        let param = lockstep_server::config::lookup(k.as_bytes()).expect("a parameter");
        config
            .settings
            .set_at_startup(param, v.as_bytes())
            .expect("a valid setting");
    }
    EmbeddedServer::start(config).expect("lockstep starts")
}

fn assert_same_data(a: SocketAddr, b: SocketAddr) {
    let left = dataset(a);
    let right = dataset(b);
    assert!(left.len() > 50, "the load left keys: {}", left.len());
    let differ: Vec<String> = left
        .iter()
        .filter(|(k, v)| right.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k:?}: {v:?} against {:?}", right.get(k)))
        .chain(
            right
                .keys()
                .filter(|k| !left.contains_key(*k))
                .map(|k| format!("{k:?} only on the second side")),
        )
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {} keys differ: {:#?}",
        differ.len(),
        left.len(),
        &differ[..differ.len().min(8)]
    );
}

#[test]
fn redis_replica_of_lockstep_converges_under_load_and_continues_after_a_dropped_link() {
    let primary = common::start();
    load(primary.addr(), 1, 300);
    let port = primary.port().to_string();
    let dir = scratch_dir("redis-replica");
    // Writes go on while the snapshot is made and sent (the replica waits in wait_bgsave).
    let writer = {
        let addr = primary.addr();
        std::thread::spawn(move || load(addr, 2, 1500))
    };
    let redis = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port, "--dir", &dir]);
    link_up(redis.addr());
    writer.join().expect("the load");
    std::thread::sleep(Duration::from_millis(100));
    caught_up(primary.addr(), redis.addr());
    assert_same_data(primary.addr(), redis.addr());

    // The link drops; the replica asks to continue from its offset.
    let mut p = Conn::open(primary.addr());
    let mut r = Conn::open(redis.addr());
    assert_eq!(field(&mut p, "stats", "sync_full"), "1");
    r.command(&["CLIENT", "KILL", "TYPE", "master"]);
    load(primary.addr(), 3, 300);
    link_up(redis.addr());
    load(primary.addr(), 4, 300);
    std::thread::sleep(Duration::from_millis(100));
    caught_up(primary.addr(), redis.addr());
    assert_eq!(field(&mut p, "stats", "sync_partial_ok"), "1");
    assert_eq!(field(&mut p, "stats", "sync_full"), "1");
    assert_same_data(primary.addr(), redis.addr());

    // The replica in CLIENT LIST (flag S), and killed from this side as Redis kills one.
    let list = text_of(&p.command(&["CLIENT", "LIST", "TYPE", "replica"]));
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains(" flags=S "), "{list}");
    assert_eq!(p.int(&["CLIENT", "KILL", "TYPE", "replica"]), 1);
    load(primary.addr(), 11, 100);
    link_up(redis.addr());
    std::thread::sleep(Duration::from_millis(100));
    caught_up(primary.addr(), redis.addr());
    assert_eq!(field(&mut p, "stats", "sync_partial_ok"), "2");
    assert_same_data(primary.addr(), redis.addr());

    // WAIT counts the replica's acknowledgement.
    p.ok(&["SET", "waited", "1"]);
    assert_eq!(p.int(&["WAIT", "1", "2000"]), 1);
    let started = Instant::now();
    assert_eq!(p.int(&["WAIT", "2", "200"]), 1);
    assert!(started.elapsed() >= Duration::from_millis(190));
}

#[test]
fn lockstep_replica_of_redis_converges_under_load_and_continues_after_a_dropped_link() {
    let redis = RedisServer::start();
    load(redis.addr(), 5, 300);
    let replica = common::start();
    let mut r = Conn::open(replica.addr());
    r.ok(&["REPLICAOF", "127.0.0.1", &redis.port.to_string()]);
    link_up(replica.addr());
    load(redis.addr(), 6, 1500);
    std::thread::sleep(Duration::from_millis(100));
    caught_up(redis.addr(), replica.addr());
    assert_same_data(redis.addr(), replica.addr());

    let mut p = Conn::open(redis.addr());
    p.command(&["CLIENT", "KILL", "TYPE", "replica"]);
    load(redis.addr(), 7, 300);
    link_up(replica.addr());
    std::thread::sleep(Duration::from_millis(100));
    caught_up(redis.addr(), replica.addr());
    assert_same_data(redis.addr(), replica.addr());
    load(redis.addr(), 8, 300);
    std::thread::sleep(Duration::from_millis(100));
    caught_up(redis.addr(), replica.addr());
    assert_eq!(field(&mut p, "stats", "sync_partial_ok"), "1");
    assert_eq!(field(&mut p, "stats", "sync_full"), "1");
    assert_same_data(redis.addr(), replica.addr());

    // The primary's WAIT sees lockstep's acknowledgements.
    p.ok(&["SET", "waited", "1"]);
    assert_eq!(p.int(&["WAIT", "1", "2000"]), 1);
}

/// A directory of this test process for a server's files (a redis-server replica's
/// snapshot, an AOF), removed when dropped.
struct Scratch(String);

impl std::ops::Deref for Scratch {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch_dir(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!(
        "lockstep-replication-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    Scratch(dir.to_string_lossy().into_owned())
}

/// A text with its numbers and replication ids masked: the shape of a field or reply.
fn shape(text: &str) -> String {
    let mut out = String::new();
    let mut in_number = false;
    let part = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    for word in text.split_inclusive(|c: char| !part(c)) {
        let (body, sep) = match word.char_indices().last() {
            Some((i, c)) if !part(c) => (&word[..i], &word[i..]),
            _ => (word, ""),
        };
        if body.len() == 40 && body.chars().all(|c| c.is_ascii_hexdigit()) {
            out.push_str("<id>");
        } else if !body.is_empty() && body.chars().all(|c| c.is_ascii_digit() || c == '-') {
            if !in_number {
                out.push('N');
            }
        } else {
            out.push_str(body);
        }
        in_number = false;
        out.push_str(sep);
    }
    out
}

/// INFO replication's fields with their values' shapes, but for values that are times
/// (which may be 0 on one side and 1 on the other).
fn info_shape(addr: SocketAddr) -> Vec<String> {
    let mut c = Conn::open(addr);
    info(&mut c, "replication")
        .into_iter()
        .map(|(k, v)| format!("{k}:{}", shape(&v)))
        .collect()
}

fn role_shape(addr: SocketAddr) -> String {
    shape(&text_of(&Conn::open(addr).command(&["ROLE"])))
}

#[test]
fn info_replication_and_role_have_redis_shape_on_primary_and_replica() {
    // Primaries, each with one redis-server replica.
    let lockstep = common::start();
    let redis = RedisServer::start();
    let dir = scratch_dir("shape");
    let lp = lockstep.port().to_string();
    let rp = redis.port.to_string();
    let of_lockstep = RedisServer::start_with(&["--replicaof", "127.0.0.1", &lp, "--dir", &dir]);
    let of_redis = RedisServer::start_with(&["--replicaof", "127.0.0.1", &rp, "--dir", &dir]);
    // And lockstep as a replica of the same redis primary.
    let replica = lockstep_with(&[("replicaof", format!("127.0.0.1 {rp}"))]);
    for r in [of_lockstep.addr(), of_redis.addr(), replica.addr()] {
        link_up(r);
    }
    for p in [lockstep.addr(), redis.addr()] {
        Conn::open(p).ok(&["SET", "k", "v"]);
    }
    caught_up(lockstep.addr(), of_lockstep.addr());
    caught_up(redis.addr(), of_redis.addr());
    caught_up(redis.addr(), replica.addr());
    let mut p = Conn::open(redis.addr());
    wait_until("two online replicas", Duration::from_secs(10), || {
        field(&mut p, "replication", "connected_slaves") == "2"
    });

    // The primary: one replica's line, the offsets, the backlog.
    let redis_primary: Vec<String> = info_shape(redis.addr())
        .into_iter()
        .filter(|l| !l.starts_with("slave1:") && !l.starts_with("connected_slaves"))
        .collect();
    let lockstep_primary: Vec<String> = info_shape(lockstep.addr())
        .into_iter()
        .filter(|l| !l.starts_with("connected_slaves"))
        .collect();
    assert_eq!(lockstep_primary, redis_primary);
    assert_eq!(
        role_shape(lockstep.addr()),
        "[master, N, [[N.N.N.N, N, N]]]"
    );
    assert_eq!(
        role_shape(redis.addr()),
        "[master, N, [[N.N.N.N, N, N], [N.N.N.N, N, N]]]"
    );

    // The replica (of the same primary: same replid and offsets).
    let mut a = Conn::open(replica.addr());
    let mut b = Conn::open(of_redis.addr());
    let mask = |fields: Vec<(String, String)>| -> Vec<(String, String)> {
        fields
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "master_last_io_seconds_ago" => (k, "N".into()),
                _ => (k, v),
            })
            .collect()
    };
    assert_eq!(
        mask(info(&mut a, "replication")),
        mask(info(&mut b, "replication"))
    );
    assert_eq!(
        text_of(&a.command(&["ROLE"])),
        text_of(&b.command(&["ROLE"]))
    );
}

#[test]
fn writes_to_a_replica_fail_alike_and_replicaof_no_one_promotes() {
    let redis = RedisServer::start();
    let dir = scratch_dir("promote");
    let rp = redis.port.to_string();
    let of_redis = RedisServer::start_with(&["--replicaof", "127.0.0.1", &rp, "--dir", &dir]);
    let replica = common::start();
    let mut l = Conn::open(replica.addr());
    let mut r = Conn::open(of_redis.addr());
    l.ok(&["REPLICAOF", "127.0.0.1", &rp]);
    assert_eq!(
        l.command(&["REPLICAOF", "127.0.0.1", &rp]),
        Frame::simple("OK Already connected to specified master")
    );
    link_up(replica.addr());
    link_up(of_redis.addr());
    load(redis.addr(), 9, 200);
    std::thread::sleep(Duration::from_millis(100));
    caught_up(redis.addr(), replica.addr());
    caught_up(redis.addr(), of_redis.addr());

    for cmd in [
        vec!["SET", "k", "v"],
        vec!["DEL", "k"],
        vec!["EXPIRE", "k", "10"],
        vec!["FLUSHALL"],
    ] {
        assert_eq!(l.command(&cmd), r.command(&cmd), "{cmd:?}");
    }
    assert_eq!(
        text_of(&l.command(&["SET", "k", "v"])),
        "-READONLY You can't write against a read only replica."
    );
    assert_eq!(
        l.command(&["WAIT", "0", "0"]),
        r.command(&["WAIT", "0", "0"])
    );
    for cmd in [
        vec!["FAILOVER"],
        vec!["REPLICAOF", "127.0.0.1", "notaport"],
        vec!["REPLICAOF", "127.0.0.1", "70000"],
    ] {
        assert_eq!(l.command(&cmd), r.command(&cmd), "{cmd:?}");
    }

    // Promoted: the primary's history is kept as replid2, writes are taken, data stays.
    let before = dataset(replica.addr());
    let old_id = field(&mut l, "replication", "master_replid");
    let offset: i64 = field(&mut l, "replication", "master_repl_offset")
        .parse()
        .unwrap();
    l.ok(&["REPLICAOF", "NO", "ONE"]);
    r.ok(&["REPLICAOF", "NO", "ONE"]);
    assert_eq!(field(&mut l, "replication", "role"), "master");
    assert_eq!(field(&mut l, "replication", "master_replid2"), old_id);
    assert_eq!(
        field(&mut l, "replication", "second_repl_offset"),
        (offset + 1).to_string()
    );
    assert_ne!(field(&mut l, "replication", "master_replid"), old_id);
    assert_eq!(dataset(replica.addr()), before);
    l.ok(&["SET", "k", "v"]);
    assert_eq!(info_shape(replica.addr()), info_shape(of_redis.addr()));
}

#[test]
fn failover_checks_its_arguments_as_redis_does() {
    let scenario = |addr: SocketAddr| -> Vec<String> {
        let mut c = Conn::open(addr);
        [
            vec!["FAILOVER"],
            vec!["FAILOVER", "ABORT"],
            vec!["FAILOVER", "TIMEOUT", "0"],
            vec!["FAILOVER", "TIMEOUT", "x"],
            vec!["FAILOVER", "TIMEOUT", "10", "TIMEOUT", "10"],
            vec!["FAILOVER", "FORCE"],
            vec!["FAILOVER", "FORCE", "FORCE"],
            vec!["FAILOVER", "TO", "127.0.0.1"],
            vec!["FAILOVER", "TO", "127.0.0.1", "x"],
            vec!["FAILOVER", "BOGUS"],
            vec!["REPLCONF", "listening-port"],
            vec!["REPLCONF", "bogus", "1"],
            vec!["REPLCONF", "listening-port", "6380"],
        ]
        .iter()
        .map(|cmd| text_of(&c.command(cmd)))
        .collect()
    };
    common::same_as_redis(scenario);

    // With a replica: the target must be one, FORCE needs TO and TIMEOUT.
    let with_replica = |addr: SocketAddr| -> Vec<String> {
        let dir = scratch_dir("failover");
        let port = addr.port().to_string();
        let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port, "--dir", &dir]);
        link_up(replica.addr());
        let mut c = Conn::open(addr);
        let mut out: Vec<String> = [
            vec!["FAILOVER", "TO", "127.0.0.1", "1"],
            vec!["FAILOVER", "FORCE", "TO", "127.0.0.1", "1"],
            vec!["FAILOVER", "FORCE", "TIMEOUT", "100"],
            vec!["FAILOVER", "ABORT"],
        ]
        .iter()
        .map(|cmd| text_of(&c.command(cmd)))
        .collect();
        drop(replica);
        wait_until("the replica gone", Duration::from_secs(5), || {
            field(&mut c, "replication", "connected_slaves") == "0"
        });
        out.push(shape(&text_of(&c.command(&["ROLE"]))));
        out
    };
    common::same_as_redis(with_replica);
}

#[test]
fn failover_hands_over_to_a_redis_replica() {
    let primary = common::start();
    let dir = scratch_dir("handover");
    let port = primary.port().to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port, "--dir", &dir]);
    link_up(replica.addr());
    load(primary.addr(), 10, 300);
    // Keys of a few milliseconds expire first.
    std::thread::sleep(Duration::from_millis(100));
    caught_up(primary.addr(), replica.addr());
    let before = dataset(primary.addr());
    let mut p = Conn::open(primary.addr());
    let mut r = Conn::open(replica.addr());
    p.ok(&["FAILOVER", "TIMEOUT", "5000"]);
    wait_until("the replica promoted", Duration::from_secs(10), || {
        field(&mut r, "replication", "role") == "master"
    });
    wait_until("lockstep a replica", Duration::from_secs(10), || {
        field(&mut p, "replication", "role") == "slave"
            && field(&mut p, "replication", "master_link_status") == "up"
    });
    assert_eq!(
        field(&mut p, "replication", "master_port"),
        replica.port.to_string()
    );
    assert_eq!(field(&mut r, "stats", "sync_partial_ok"), "1");
    r.ok(&["SET", "after", "failover"]);
    caught_up(replica.addr(), primary.addr());
    assert_eq!(p.text(&["GET", "after"]), "failover");
    let mut after = dataset(primary.addr());
    after.remove(&(0, "after".to_string()));
    assert_eq!(after, before);
}

#[test]
fn min_replicas_to_write_refuses_writes_as_redis_does() {
    let scenario = |addr: SocketAddr| -> Vec<String> {
        let dir = scratch_dir("min-replicas");
        let port = addr.port().to_string();
        let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port, "--dir", &dir]);
        link_up(replica.addr());
        let mut c = Conn::open(addr);
        let mut out = vec![text_of(&c.command(&[
            "CONFIG",
            "SET",
            "min-replicas-to-write",
            "2",
        ]))];
        // Redis reads the setting at its next replication cron (once a second).
        std::thread::sleep(Duration::from_millis(1100));
        for cmd in [
            vec!["SET", "k", "v"],
            vec!["GET", "k"],
            vec!["MULTI"],
            vec!["INCR", "n"],
            vec!["EXEC"],
        ] {
            out.push(text_of(&c.command(&cmd)));
        }
        out.push(text_of(&c.command(&[
            "CONFIG",
            "SET",
            "min-replicas-to-write",
            "1",
        ])));
        std::thread::sleep(Duration::from_millis(1100));
        out.push(text_of(&c.command(&["SET", "k", "v"])));
        out
    };
    common::same_as_redis(scenario);
}

#[test]
fn lockstep_replicates_lockstep() {
    let primary = common::start();
    load(primary.addr(), 12, 200);
    let replica = lockstep_with(&[("replicaof", format!("127.0.0.1 {}", primary.port()))]);
    link_up(replica.addr());
    load(primary.addr(), 13, 600);
    std::thread::sleep(Duration::from_millis(100));
    caught_up(primary.addr(), replica.addr());
    assert_same_data(primary.addr(), replica.addr());
    let mut p = Conn::open(primary.addr());
    assert_eq!(p.int(&["WAIT", "1", "2000"]), 1);
}

#[test]
fn a_replica_with_appendonly_keeps_the_synced_data_across_a_restart() {
    let redis = RedisServer::start();
    load(redis.addr(), 14, 300);
    let dir = scratch_dir("aof-replica");
    let settings = [
        ("dir", dir.to_string()),
        ("appendonly", "yes".to_string()),
        ("replicaof", format!("127.0.0.1 {}", redis.port)),
    ];
    let replica = lockstep_with(&settings);
    link_up(replica.addr());
    load(redis.addr(), 15, 300);
    std::thread::sleep(Duration::from_millis(100));
    caught_up(redis.addr(), replica.addr());
    let synced = dataset(replica.addr());
    assert_same_data(redis.addr(), replica.addr());
    let mut r = Conn::open(replica.addr());
    wait_until(
        "the rewrite after the sync",
        Duration::from_secs(10),
        || field(&mut r, "persistence", "aof_rewrite_in_progress") == "0",
    );
    drop(r);
    replica.stop();
    // Started again from its files alone.
    let again = lockstep_with(&settings[..2]);
    assert_eq!(dataset(again.addr()), synced);
}

#[test]
fn redis_fails_over_to_a_lockstep_replica() {
    let redis = RedisServer::start();
    let replica = common::start();
    let mut l = Conn::open(replica.addr());
    l.ok(&["REPLICAOF", "127.0.0.1", &redis.port.to_string()]);
    link_up(replica.addr());
    load(redis.addr(), 16, 300);
    std::thread::sleep(Duration::from_millis(100));
    caught_up(redis.addr(), replica.addr());
    let mut r = Conn::open(redis.addr());
    let port = replica.port().to_string();
    r.ok(&["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "5000"]);
    wait_until("lockstep promoted", Duration::from_secs(10), || {
        field(&mut l, "replication", "role") == "master"
    });
    wait_until("redis-server its replica", Duration::from_secs(10), || {
        field(&mut r, "replication", "role") == "slave"
            && field(&mut r, "replication", "master_link_status") == "up"
    });
    assert_eq!(field(&mut l, "stats", "sync_partial_ok"), "1");
    assert_eq!(field(&mut l, "stats", "sync_full"), "0");
    load(replica.addr(), 17, 300);
    std::thread::sleep(Duration::from_millis(100));
    caught_up(replica.addr(), redis.addr());
    assert_same_data(replica.addr(), redis.addr());
}

#[test]
fn config_get_replicaof_follows_replicaof_as_in_redis() {
    let scenario = |addr: SocketAddr| -> Vec<String> {
        let mut c = Conn::open(addr);
        let mut out = Vec::new();
        for cmd in [
            vec!["CONFIG", "GET", "replicaof"],
            vec!["REPLICAOF", "127.0.0.1", "1"],
            vec!["CONFIG", "GET", "replicaof"],
            vec!["CONFIG", "GET", "slaveof"],
            vec!["CONFIG", "SET", "replicaof", "127.0.0.1 2"],
            vec!["REPLICAOF", "NO", "ONE"],
            vec!["CONFIG", "GET", "replicaof"],
        ] {
            out.push(text_of(&c.command(&cmd)));
        }
        out
    };
    common::same_as_redis(scenario);
}
