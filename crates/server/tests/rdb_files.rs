//! RDB files travel between lockstep and redis-server 7.0 in both directions: a dump.rdb
//! that redis-server SAVEs (every type and encoding, streams with their groups and
//! consumers, TTLs, several databases, a function library) loads into a lockstep started
//! on it with every key, value, encoding and TTL intact, and a file lockstep SAVEs loads
//! into a redis-server started with `--dir` and `--dbfilename` pointing at it, with the
//! same data. The real redis-server is required (set `REDIS_SERVER` to its path if it is
//! not on PATH).

mod common;

use std::path::{Path, PathBuf};

use common::dataset::{run, text, Look};
use common::{Conn, RedisServer};
use lockstep_resp::Frame;
use lockstep_server::{EmbeddedServer, ServerConfig};

const LIBRARY: &str =
    "#!lua name=rdblib\nredis.register_function('rdbfunc', function(keys, args) return 42 end)";

/// The commands that fill a server: every type and encoding, TTLs, databases 0, 3 and 15.
fn fill() -> Vec<Vec<String>> {
    let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let eval = |script: &str, key: &str| {
        vec![
            "EVAL".to_string(),
            script.to_string(),
            "1".to_string(),
            key.to_string(),
        ]
    };
    vec![
        words("SET int 12345"),
        words("SET str hello"),
        eval("redis.call('set',KEYS[1],string.rep('abc',300))", "long"),
        words("RPUSH list a b 1 2 300"),
        eval(
            "for i=1,3000 do redis.call('rpush',KEYS[1],'item'..i) end",
            "biglist",
        ),
        words("HSET hash f v n 1"),
        eval(
            "for i=1,800 do redis.call('hset',KEYS[1],'f'..i,i) end",
            "bighash",
        ),
        words("SADD ints 1 2 3 -4"),
        words("SADD strs a b c"),
        words("ZADD zs 1 a 2.5 b -inf c"),
        eval(
            "for i=1,300 do redis.call('zadd',KEYS[1],i/3,'m'..i) end",
            "bigzset",
        ),
        eval(
            "for i=1,250 do redis.call('xadd',KEYS[1],i..'-'..(i%3),'f',i,'v',string.rep('x',i%40)) end",
            "stream",
        ),
        words("XDEL stream 5-2 100-1 250-1"),
        words("XGROUP CREATE stream g 0"),
        words("XGROUP CREATE stream h 200-2 ENTRIESREAD 200"),
        words("XREADGROUP GROUP g alice COUNT 20 STREAMS stream >"),
        words("XREADGROUP GROUP g bob COUNT 3 STREAMS stream >"),
        words("XCLAIM stream g carol 0 3-0 JUSTID"),
        words("XGROUP CREATECONSUMER stream h idle"),
        words("XADD emptied 1-1 f v"),
        words("XDEL emptied 1-1"),
        words("SET ttl v PX 500000"),
        words("HSET ttlhash a b"),
        words("PEXPIREAT ttlhash 4102444800000"),
        words("SELECT 3"),
        words("SET in3 three"),
        words("LPUSH list3 x y"),
        words("XADD stream3 5-5 a 1 b 2"),
        words("PEXPIREAT stream3 4102444800000"),
        words("SELECT 15"),
        words("SET in15 fifteen EX 1000"),
        words("SELECT 0"),
        vec!["FUNCTION".into(), "LOAD".into(), LIBRARY.into()],
    ]
}

fn fill_server(c: &mut Conn) {
    for command in fill() {
        let args: Vec<&[u8]> = command.iter().map(|w| w.as_bytes()).collect();
        let reply = run(c, &args);
        assert!(!matches!(reply, Frame::Error(_)), "{command:?}: {reply:?}");
    }
}

/// The data set as these tests compare it (see `common::dataset`).
fn everything(c: &mut Conn) -> common::dataset::Data {
    let look = Look {
        encodings: true,
        mask_seen_times: false,
        function: "rdbfunc",
    };
    common::dataset::everything(c, &look)
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockstep-rdb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::canonicalize(&dir).expect("canonical")
}

fn lockstep_on(dir: &Path, file: &str) -> EmbeddedServer {
    lockstep_with_policy(dir, file, "noeviction")
}

/// `lockstep_on` with `maxmemory-policy` set from the start, as the file is loaded.
fn lockstep_with_policy(dir: &Path, file: &str, policy: &str) -> EmbeddedServer {
    let mut config = ServerConfig::ephemeral();
    config.settings.maxmemory_policy =
        lockstep_server::evict::Policy::parse(policy).expect("a policy");
    config
        .settings
        .kept
        .insert("dir", dir.to_string_lossy().into_owned());
    config.settings.kept.insert("dbfilename", file.to_string());
    EmbeddedServer::start(config).expect("lockstep starts on the file")
}

#[test]
fn a_dump_rdb_written_by_redis_loads_into_lockstep_with_everything_intact() {
    let dir = scratch_dir("from-redis");
    let redis_server = RedisServer::start_with(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--dbfilename",
        "from-redis.rdb",
    ]);
    let mut redis = Conn::open(redis_server.addr());
    fill_server(&mut redis);
    assert_eq!(text(run(&mut redis, &[b"SAVE"])), b"OK");
    let expected = everything(&mut redis);

    let ours = lockstep_on(&dir, "from-redis.rdb");
    let mut lockstep = Conn::open(ours.addr());
    assert_eq!(everything(&mut lockstep), expected);
    let info = text(run(&mut lockstep, &[b"INFO", b"persistence"]));
    let loaded = format!("rdb_last_load_keys_loaded:{}", expected.len() - 1);
    assert!(
        String::from_utf8_lossy(&info).contains(&loaded),
        "INFO persistence should say {loaded}"
    );
    drop(ours);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_saved_by_lockstep_loads_into_redis_with_the_same_data() {
    let dir = scratch_dir("from-lockstep");
    let ours = lockstep_on(&dir, "from-lockstep.rdb");
    let mut lockstep = Conn::open(ours.addr());
    fill_server(&mut lockstep);
    assert_eq!(text(run(&mut lockstep, &[b"SAVE"])), b"OK");
    let expected = everything(&mut lockstep);

    let redis_server = RedisServer::start_with(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--dbfilename",
        "from-lockstep.rdb",
    ]);
    let mut redis = Conn::open(redis_server.addr());
    assert_eq!(everything(&mut redis), expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_background_save_is_a_snapshot_of_the_moment_it_started() {
    let dir = scratch_dir("bgsave");
    let ours = lockstep_on(&dir, "bg.rdb");
    let mut c = Conn::open(ours.addr());
    run(&mut c, &[b"DEBUG", b"POPULATE", b"200000"]);
    assert_eq!(
        text(run(&mut c, &[b"BGSAVE"])),
        b"Background saving started"
    );
    // Writes after the fork are not in the file; other commands are served meanwhile.
    assert_eq!(text(run(&mut c, &[b"SET", b"after", b"fork"])), b"OK");
    run(&mut c, &[b"DEL", b"key:0"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let info =
            String::from_utf8_lossy(&text(run(&mut c, &[b"INFO", b"persistence"]))).into_owned();
        if info.contains("rdb_bgsave_in_progress:0") {
            assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "BGSAVE never ended");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let redis_server = RedisServer::start_with(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--dbfilename",
        "bg.rdb",
    ]);
    let mut redis = Conn::open(redis_server.addr());
    // redis-server answers -LOADING until the file is in.
    let mut size = run(&mut redis, &[b"DBSIZE"]);
    while matches!(&size, Frame::Error(e) if e.starts_with(b"LOADING")) {
        std::thread::sleep(std::time::Duration::from_millis(10));
        size = run(&mut redis, &[b"DBSIZE"]);
    }
    assert_eq!(size, Frame::Integer(200_000));
    assert_eq!(text(run(&mut redis, &[b"EXISTS", b"after"])), b"0");
    assert_eq!(text(run(&mut redis, &[b"GET", b"key:0"])), b"value:0");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The stamp a key's OBJECT subcommand reads: its idle seconds or its LFU counter.
fn access(c: &mut Conn, what: &[u8], key: &[u8]) -> i64 {
    match run(c, &[b"OBJECT", what, key]) {
        Frame::Integer(n) => n,
        other => panic!("OBJECT {}: {other:?}", String::from_utf8_lossy(what)),
    }
}

/// A value RESTOREd with an idle time (under an LRU policy) or a frequency (under an LFU
/// one) on `from`, SAVEd, then read on `to` loaded from the file.
fn check_access_travels(from: &mut Conn, to: impl FnOnce() -> Conn, policy: &str) {
    run(from, &[b"SET", b"src", b"a value"]);
    let payload = match run(from, &[b"DUMP", b"src"]) {
        Frame::Bulk(b) => b.to_vec(),
        other => panic!("DUMP: {other:?}"),
    };
    let lfu = policy.ends_with("lfu");
    for (key, n) in [(&b"a"[..], 3000), (b"b", 77), (b"c", 0)] {
        let (option, value) = if lfu {
            (&b"FREQ"[..], n % 256)
        } else {
            (&b"IDLETIME"[..], n)
        };
        let value = value.to_string();
        assert_eq!(
            text(run(
                from,
                &[b"RESTORE", key, b"0", &payload, option, value.as_bytes()]
            )),
            b"OK"
        );
    }
    assert_eq!(text(run(from, &[b"SAVE"])), b"OK");
    let what: &[u8] = if lfu { b"FREQ" } else { b"IDLETIME" };
    let before: Vec<i64> = [b"a", b"b", b"c"]
        .iter()
        .map(|k| access(from, what, *k))
        .collect();
    let mut to = to();
    for (k, expected) in [b"a", b"b", b"c"].iter().zip(before) {
        let got = access(&mut to, what, *k);
        // Idle seconds go on counting while the file is written and read.
        let slack = if lfu { 0 } else { 2 };
        assert!(
            (got - expected).abs() <= slack,
            "{policy}: OBJECT {} {} is {got}, was {expected} where it was saved",
            String::from_utf8_lossy(what),
            String::from_utf8_lossy(*k)
        );
    }
}

#[test]
fn idle_times_and_frequencies_travel_in_rdb_files_under_the_policy_that_keeps_them() {
    for policy in ["allkeys-lru", "volatile-lfu"] {
        // redis-server's file into lockstep.
        let dir = scratch_dir(&format!("access-from-redis-{policy}"));
        let redis_server = RedisServer::start_with(&[
            "--dir",
            dir.to_str().expect("utf-8 path"),
            "--dbfilename",
            "access.rdb",
            "--maxmemory-policy",
            policy,
        ]);
        let mut redis = Conn::open(redis_server.addr());
        let mut ours = None;
        check_access_travels(
            &mut redis,
            || {
                let server = lockstep_with_policy(&dir, "access.rdb", policy);
                let c = Conn::open(server.addr());
                ours = Some(server);
                c
            },
            policy,
        );
        drop(ours);
        let _ = std::fs::remove_dir_all(&dir);

        // lockstep's file into redis-server.
        let dir = scratch_dir(&format!("access-from-lockstep-{policy}"));
        let server = lockstep_on(&dir, "access.rdb");
        let mut lockstep = Conn::open(server.addr());
        run(
            &mut lockstep,
            &[b"CONFIG", b"SET", b"maxmemory-policy", policy.as_bytes()],
        );
        let mut theirs = None;
        check_access_travels(
            &mut lockstep,
            || {
                let redis_server = RedisServer::start_with(&[
                    "--dir",
                    dir.to_str().expect("utf-8 path"),
                    "--dbfilename",
                    "access.rdb",
                    "--maxmemory-policy",
                    policy,
                ]);
                let c = Conn::open(redis_server.addr());
                theirs = Some(redis_server);
                c
            },
            policy,
        );
        drop(theirs);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
