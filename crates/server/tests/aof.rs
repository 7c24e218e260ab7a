//! The append-only file travels between lockstep and redis-server 7.0 in both directions:
//! an `appendonlydir` that redis-server writes (every type, TTLs, MULTI, EVAL with SPOP,
//! keys expired lazily, a BGREWRITEAOF in the middle) loads into a lockstep started on it
//! with every key, value and TTL intact, and the one lockstep writes loads into
//! redis-server, with `aof-use-rdb-preamble` yes and no. Files cut short or corrupt stop
//! the start with the file and the offset (or, cut short with `aof-load-truncated yes`,
//! lose only the incomplete tail), and with `appendfsync always` a `kill -9` under writes
//! loses no acknowledged write.
//!
//! Servers that must be killed or must fail to start run in a child process: this test
//! binary again, running `child_server` alone with `LOCKSTEP_AOF_CHILD` set.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::dataset::{assert_same, list, run, text, Look};
use common::{Conn, RedisServer};
use lockstep_resp::Frame;
use lockstep_server::{EmbeddedServer, ServerConfig};

const LIBRARY: &str =
    "#!lua name=aoflib\nredis.register_function('aoffunc', function(keys, args) return 42 end)";

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(String::from).collect()
}

/// A workload of every type with TTLs in several databases, transactions, scripts that
/// pop at random, relative expiries of every form and keys that expire before the end.
fn workload() -> Vec<Vec<String>> {
    let eval = |script: &str, keys: &[&str]| {
        let mut c = vec![
            "EVAL".to_string(),
            script.to_string(),
            keys.len().to_string(),
        ];
        c.extend(keys.iter().map(|k| k.to_string()));
        c
    };
    vec![
        words("SET int 12345"),
        words("SET str hello"),
        eval("redis.call('set',KEYS[1],string.rep('abc',300))", &["long"]),
        words("RPUSH list a b 1 2 300"),
        eval(
            "for i=1,3000 do redis.call('rpush',KEYS[1],'item'..i) end",
            &["biglist"],
        ),
        words("LPOP biglist 7"),
        words("HSET hash f v n 1"),
        eval(
            "for i=1,800 do redis.call('hset',KEYS[1],'f'..i,i) end",
            &["bighash"],
        ),
        words("SADD ints 1 2 3 -4"),
        words("SADD strs a b c"),
        words("ZADD zs 1 a 2.5 b -inf c"),
        words("ZINCRBY zs 3 a"),
        eval(
            "for i=1,300 do redis.call('zadd',KEYS[1],i/3,'m'..i) end",
            &["bigzset"],
        ),
        eval(
            "for i=1,250 do redis.call('xadd',KEYS[1],i..'-'..(i%3),'f',i,'v',string.rep('x',i%40)) end",
            &["stream"],
        ),
        words("XDEL stream 5-2 100-1 250-1"),
        words("XGROUP CREATE stream g 0"),
        words("XGROUP CREATE stream h 200-2 ENTRIESREAD 200"),
        words("XGROUP CREATECONSUMER stream h idle"),
        words("XREADGROUP GROUP g alice COUNT 20 STREAMS stream >"),
        words("XREADGROUP GROUP g bob COUNT 3 STREAMS stream >"),
        words("XREADGROUP GROUP g bob COUNT 2 STREAMS stream 0"),
        words("XCLAIM stream g carol 0 3-0 JUSTID"),
        words("XACK stream g 1-1 2-2"),
        words("XAUTOCLAIM stream g dave 0 0-0 COUNT 2"),
        words("XREADGROUP GROUP h erin NOACK COUNT 5 STREAMS stream >"),
        words("XADD emptied 1-1 f v"),
        words("XDEL emptied 1-1"),
        words("SADD popped a b c d e f g h"),
        words("SPOP popped"),
        words("SPOP popped 2"),
        eval(
            "redis.call('spop',KEYS[1]); redis.call('incr',KEYS[2]); return 1",
            &["popped", "counter"],
        ),
        words("MULTI"),
        words("INCR counter"),
        words("SET txkey inside"),
        words("EXPIRE txkey 4000"),
        words("EXEC"),
        words("SET ttl v PX 500000"),
        words("SET ex1 v EX 1000 NX"),
        words("SETEX ex2 2000 v"),
        words("PSETEX ex3 3000000 v"),
        words("SET ex4 v"),
        words("GETEX ex4 EX 4000"),
        words("SET persisted v EX 100"),
        words("GETEX persisted PERSIST"),
        words("SET gone v EX 100"),
        words("EXPIRE gone -1"),
        words("INCRBYFLOAT float 1.5"),
        words("HSET ttlhash a b"),
        words("PEXPIREAT ttlhash 4102444800000"),
        words("EXPIRE list 6000"),
        words("SET short v PX 30"),
        words("SELECT 3"),
        words("SET in3 three"),
        words("LPUSH list3 x y"),
        words("XADD stream3 5-5 a 1 b 2"),
        words("PEXPIREAT stream3 4102444800000"),
        words("SET short3 v PX 30"),
        words("SELECT 15"),
        words("SET in15 fifteen EX 1000"),
        words("SELECT 0"),
        vec!["FUNCTION".into(), "LOAD".into(), LIBRARY.into()],
    ]
}

/// What comes after a BGREWRITEAOF in the tests that rewrite: more of the same, in the
/// new incremental file.
fn after_rewrite() -> Vec<Vec<String>> {
    vec![
        words("SET after rewrite"),
        words("RPUSH list c"),
        words("DEL str"),
        words("SELECT 3"),
        words("SETEX in3 5000 again"),
        words("SELECT 0"),
        words("SPOP popped"),
    ]
}

/// Connects once the server is done loading (redis-server answers -LOADING until then).
fn open_loaded(addr: std::net::SocketAddr) -> Conn {
    let mut c = Conn::open(addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Frame::Error(e) = run(&mut c, &[b"PING"]) {
        assert!(e.starts_with(b"LOADING"), "{e:?}");
        assert!(Instant::now() < deadline, "still loading");
        std::thread::sleep(Duration::from_millis(10));
    }
    c
}

fn apply(c: &mut Conn, commands: &[Vec<String>]) {
    for command in commands {
        let args: Vec<&[u8]> = command.iter().map(|w| w.as_bytes()).collect();
        let reply = run(c, &args);
        assert!(!matches!(reply, Frame::Error(_)), "{command:?}: {reply:?}");
    }
    // The keys with 30 ms to live expire, read (lazily) after their time.
    std::thread::sleep(Duration::from_millis(60));
    for (db, key) in [(b"0", b"short".as_slice()), (b"3", b"short3")] {
        run(c, &[b"SELECT", db]);
        assert_eq!(run(c, &[b"GET", key]), Frame::Null);
    }
    run(c, &[b"SELECT", b"0"]);
}

/// The data set as these tests compare it (see `common::dataset`).
fn everything(c: &mut Conn) -> common::dataset::Data {
    let look = Look {
        encodings: false,
        mask_seen_times: true,
        function: "aoffunc",
    };
    common::dataset::everything(c, &look)
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockstep-aof-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::canonicalize(&dir).expect("canonical")
}

/// A lockstep server in this process with `appendonly yes` in `dir` and `settings`.
fn lockstep_on(dir: &Path, settings: &[(&str, &str)]) -> EmbeddedServer {
    EmbeddedServer::start(config_for(dir, settings)).expect("lockstep starts on the AOF")
}

fn config_for(dir: &Path, settings: &[(&str, &str)]) -> ServerConfig {
    let mut config = ServerConfig::ephemeral();
    let mut set = |name: &str, value: &str| {
        let param = lockstep_server::config::lookup(name.as_bytes()).expect("a parameter");
        config
            .settings
            .set_at_startup(param, value.as_bytes())
            .expect("a valid value");
    };
    set("dir", dir.to_str().expect("utf-8 path"));
    set("appendonly", "yes");
    for (name, value) in settings {
        set(name, value);
    }
    config
}

fn info_field(c: &mut Conn, field: &str) -> String {
    let info = String::from_utf8_lossy(&text(run(c, &[b"INFO", b"persistence"]))).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO persistence has no {field}: {info}"))
        .to_string()
}

/// BGREWRITEAOF, waiting until it ended well.
fn rewrite(c: &mut Conn) {
    let reply = text(run(c, &[b"BGREWRITEAOF"]));
    assert!(reply.starts_with(b"Background append only file rewriting"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(c, "aof_rewrite_in_progress") != "0"
        || info_field(c, "aof_rewrite_scheduled") != "0"
    {
        assert!(Instant::now() < deadline, "the rewrite did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info_field(c, "aof_last_bgrewrite_status"), "ok");
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).expect("manifest")
}

fn from_redis(preamble: &str, rewrite_midway: bool) {
    let dir = scratch_dir(&format!("from-redis-{preamble}-{rewrite_midway}"));
    let redis_server = RedisServer::start_with(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        preamble,
    ]);
    let mut redis = Conn::open(redis_server.addr());
    apply(&mut redis, &workload());
    if rewrite_midway {
        rewrite(&mut redis);
        apply(&mut redis, &after_rewrite());
    }
    drop(redis_server);
    // What redis-server itself makes of its files is the oracle: a few things do not
    // survive its own reload (a consumer group's entries-read after XREADGROUP without
    // NOACK, a re-delivery's count: Redis 7.0 does not propagate them).
    let copy = scratch_dir(&format!("from-redis-{preamble}-{rewrite_midway}-reloaded"));
    let status = Command::new("cp")
        .arg("-r")
        .arg(dir.join("appendonlydir"))
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success());
    let reloaded = RedisServer::start_with(&[
        "--dir",
        copy.to_str().expect("utf-8 path"),
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        preamble,
    ]);
    let expected = everything(&mut open_loaded(reloaded.addr()));
    drop(reloaded);
    let _ = std::fs::remove_dir_all(&copy);
    let seq = if rewrite_midway { 2 } else { 1 };
    let base = if preamble == "yes" { "rdb" } else { "aof" };
    let listed = manifest(&dir);
    assert!(
        listed.contains(&format!("appendonly.aof.{seq}.base.{base}")),
        "{listed}"
    );

    let ours = lockstep_on(&dir, &[("aof-use-rdb-preamble", preamble)]);
    let mut lockstep = Conn::open(ours.addr());
    assert_same(&everything(&mut lockstep), &expected);
    assert_eq!(info_field(&mut lockstep, "aof_enabled"), "1");
    drop(ours);
    let _ = std::fs::remove_dir_all(&dir);
}

fn from_lockstep(preamble: &str, rewrite_midway: bool) {
    let dir = scratch_dir(&format!("from-lockstep-{preamble}-{rewrite_midway}"));
    let ours = lockstep_on(&dir, &[("aof-use-rdb-preamble", preamble)]);
    let mut lockstep = Conn::open(ours.addr());
    apply(&mut lockstep, &workload());
    if rewrite_midway {
        rewrite(&mut lockstep);
        apply(&mut lockstep, &after_rewrite());
        let listed = manifest(&dir);
        let base = if preamble == "yes" { "rdb" } else { "aof" };
        assert_eq!(
            listed,
            format!(
                "file appendonly.aof.2.base.{base} seq 2 type b\n\
                 file appendonly.aof.2.incr.aof seq 2 type i\n"
            )
        );
        // The old files are gone.
        let mut files: Vec<_> = std::fs::read_dir(dir.join("appendonlydir"))
            .expect("the directory")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                format!("appendonly.aof.2.base.{base}"),
                "appendonly.aof.2.incr.aof".to_string(),
                "appendonly.aof.manifest".to_string()
            ]
        );
    }
    let expected = everything(&mut lockstep);
    drop(ours);

    let redis_server = RedisServer::start_with(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        preamble,
    ]);
    let mut redis = open_loaded(redis_server.addr());
    assert_same(&everything(&mut redis), &expected);
    drop(redis_server);
    // And back: lockstep loads its own files too.
    let ours = lockstep_on(&dir, &[("aof-use-rdb-preamble", preamble)]);
    let mut lockstep = Conn::open(ours.addr());
    assert_same(&everything(&mut lockstep), &expected);
    drop(ours);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_aof_written_by_redis_loads_into_lockstep_with_everything_intact() {
    from_redis("yes", false);
}

#[test]
fn an_aof_written_by_redis_without_rdb_preamble_loads_into_lockstep() {
    from_redis("no", false);
}

#[test]
fn an_aof_redis_rewrote_loads_into_lockstep() {
    from_redis("yes", true);
    from_redis("no", true);
}

#[test]
fn an_aof_written_by_lockstep_loads_into_redis_with_the_same_data() {
    from_lockstep("yes", false);
}

#[test]
fn an_aof_written_by_lockstep_without_rdb_preamble_loads_into_redis() {
    from_lockstep("no", false);
}

#[test]
fn an_aof_lockstep_rewrote_loads_into_redis() {
    from_lockstep("yes", true);
    from_lockstep("no", true);
}

#[test]
fn config_set_appendonly_yes_writes_a_base_then_appends() {
    let dir = scratch_dir("config-set");
    let mut config = ServerConfig::ephemeral();
    let dir_param = lockstep_server::config::lookup(b"dir").expect("dir");
    config
        .settings
        .set_at_startup(dir_param, dir.to_str().expect("utf-8").as_bytes())
        .expect("dir");
    let ours = EmbeddedServer::start(config).expect("starts");
    let mut c = Conn::open(ours.addr());
    c.ok(&["SET", "before", "1"]);
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    c.ok(&["CONFIG", "SET", "appendonly", "yes"]);
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    c.ok(&["SET", "during", "2"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(&mut c, "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    c.ok(&["SET", "after", "3"]);
    assert_eq!(info_field(&mut c, "aof_rewrites"), "1");
    assert!(manifest(&dir).contains("type b\n"), "{}", manifest(&dir));
    let expected = everything_plain(&mut c);
    drop(ours);
    let redis_server = RedisServer::start_with(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--appendonly",
        "yes",
    ]);
    let mut redis = open_loaded(redis_server.addr());
    assert_eq!(everything_plain(&mut redis), expected);
    assert_eq!(expected.len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn timestamp_annotations_are_written_and_read_by_both_servers() {
    let dir = scratch_dir("timestamps");
    let ours = lockstep_on(&dir, &[("aof-timestamp-enabled", "yes")]);
    let mut c = Conn::open(ours.addr());
    c.ok(&["SET", "a", "1"]);
    std::thread::sleep(Duration::from_millis(1100));
    c.ok(&["SET", "b", "2"]);
    drop(ours);
    let text = String::from_utf8_lossy(&std::fs::read(incr_file(&dir)).expect("incr")).into_owned();
    assert_eq!(text.matches("#TS:").count(), 2, "{text}");
    assert!(text.starts_with("#TS:"), "{text}");
    // redis-server reads lockstep's annotated file and annotates its own writes after it.
    let redis_server = RedisServer::start_with(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--appendonly",
        "yes",
        "--aof-timestamp-enabled",
        "yes",
    ]);
    let mut redis = open_loaded(redis_server.addr());
    assert_eq!(everything_plain(&mut redis).len(), 2);
    redis.ok(&["SET", "c", "3"]);
    drop(redis_server);
    let ours = lockstep_on(&dir, &[]);
    let mut c = Conn::open(ours.addr());
    let expected: Vec<(Vec<u8>, Vec<u8>)> = [("a", "1"), ("b", "2"), ("c", "3")]
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(everything_plain(&mut c), expected);
    drop(ours);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The keys and string values of database 0.
fn everything_plain(c: &mut Conn) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut keys = list(run(c, &[b"KEYS", b"*"]));
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let v = text(run(c, &[b"GET", &k]));
            (k, v)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Servers in a child process: killed with SIGKILL, or refusing to start.

/// Not a test of its own: the body of the child process the tests below spawn.
#[test]
fn child_server() {
    let Ok(spec) = std::env::var("LOCKSTEP_AOF_CHILD") else {
        return;
    };
    let mut parts = spec.split('\n');
    let dir = PathBuf::from(parts.next().expect("a dir"));
    let settings: Vec<(String, String)> = parts
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').expect("name=value");
            (k.to_string(), v.to_string())
        })
        .collect();
    let settings: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let server = lockstep_on(&dir, &settings);
    println!("PORT {}", server.port());
    std::io::stdout().flush().expect("stdout");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// A lockstep server on `dir` in a child process; `Err` with its exit code and stderr
/// when it does not start.
fn spawn_child(dir: &Path, settings: &[(&str, &str)]) -> Result<(Child, u16), (i32, String)> {
    let mut spec = dir.to_string_lossy().into_owned();
    for (k, v) in settings {
        spec.push_str(&format!("\n{k}={v}"));
    }
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "child_server",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("LOCKSTEP_AOF_CHILD", spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("a line");
        // libtest prints the test's name on the same line first.
        if let Some((_, port)) = line.split_once("PORT ") {
            let port = port.trim().parse().expect("a port");
            // Keep draining its output so that it never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Ok((child, port));
        }
    }
    let status = child.wait().expect("the child ends");
    let mut stderr = String::new();
    use std::io::Read;
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    Err((status.code().unwrap_or(-1), stderr))
}

fn addr(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

fn incr_file(dir: &Path) -> PathBuf {
    let listed = manifest(dir);
    let name = listed
        .lines()
        .rfind(|l| l.ends_with("type i"))
        .and_then(|l| l.split(' ').nth(1))
        .expect("an incr file")
        .to_string();
    dir.join("appendonlydir").join(name)
}

/// A directory with an AOF lockstep wrote: keys k0..k99.
fn written_aof(name: &str) -> PathBuf {
    let dir = scratch_dir(name);
    let ours = lockstep_on(&dir, &[]);
    let mut c = Conn::open(ours.addr());
    for i in 0..100 {
        c.ok(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    drop(ours);
    dir
}

#[test]
fn a_truncated_aof_loads_up_to_the_last_complete_command_when_allowed() {
    let dir = written_aof("truncated-yes");
    let incr = incr_file(&dir);
    let complete = std::fs::metadata(&incr).expect("incr").len();
    // Half of a command, as a crash in the middle of a write leaves it.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .expect("open");
    f.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf")
        .expect("append");
    drop(f);
    let (mut child, port) = spawn_child(&dir, &[("aof-load-truncated", "yes")]).expect("starts");
    let mut c = Conn::open(addr(port));
    assert_eq!(c.int(&["DBSIZE"]), 100);
    assert_eq!(c.text(&["GET", "k99"]), "99");
    // The incomplete tail was cut off, and new writes follow the last complete command.
    assert_eq!(std::fs::metadata(&incr).expect("incr").len(), complete);
    c.ok(&["SET", "after", "restart"]);
    let _ = child.kill();
    let _ = child.wait();
    let (mut child, port) = spawn_child(&dir, &[]).expect("starts again");
    let mut c = Conn::open(addr(port));
    assert_eq!(c.int(&["DBSIZE"]), 101);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_truncated_aof_is_refused_with_the_file_and_offset_when_not_allowed() {
    let dir = written_aof("truncated-no");
    let incr = incr_file(&dir);
    let complete = std::fs::metadata(&incr).expect("incr").len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .expect("open");
    f.write_all(b"*2\r\n$3\r\nDEL\r\n").expect("append");
    drop(f);
    let before = std::fs::read(&incr).expect("incr");
    let Err((code, stderr)) = spawn_child(&dir, &[("aof-load-truncated", "no")]) else {
        panic!("lockstep started on a truncated AOF with aof-load-truncated no");
    };
    assert_eq!(code, 1, "{stderr}");
    let name = incr
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    assert!(stderr.contains(&name), "{stderr}");
    assert!(
        stderr.contains(&format!("offset {complete}")),
        "the offset of the last complete command: {stderr}"
    );
    assert_eq!(
        std::fs::read(&incr).expect("incr"),
        before,
        "nothing overwritten"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_aof_is_refused_with_the_file_and_offset() {
    let dir = written_aof("corrupt");
    let incr = incr_file(&dir);
    let mut data = std::fs::read(&incr).expect("incr");
    // A byte in the middle that is no longer a command's.
    let at = data.len() / 2;
    let at = at
        + data[at..]
            .iter()
            .position(|&b| b == b'*')
            .expect("a command");
    data[at] = b'!';
    std::fs::write(&incr, &data).expect("write");
    let Err((code, stderr)) = spawn_child(&dir, &[]) else {
        panic!("lockstep started on a corrupt AOF");
    };
    assert_eq!(code, 1, "{stderr}");
    let name = incr
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    assert!(stderr.contains(&name), "{stderr}");
    assert!(stderr.contains(&format!("offset {at}")), "{stderr}");
    assert_eq!(
        std::fs::read(&incr).expect("incr"),
        data,
        "nothing overwritten"
    );
    // A corrupt manifest too.
    let path = dir.join("appendonlydir/appendonly.aof.manifest");
    std::fs::write(&path, "file x seq y\n").expect("write");
    let Err((code, stderr)) = spawn_child(&dir, &[]) else {
        panic!("lockstep started with a corrupt manifest");
    };
    assert_eq!(code, 1);
    assert!(stderr.contains("appendonly.aof.manifest"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_under_writes_with_appendfsync_always_loses_no_acknowledged_write() {
    let dir = scratch_dir("kill-9");
    let settings = [("appendfsync", "always")];
    let (mut child, port) = spawn_child(&dir, &settings).expect("starts");
    // Writers on their own connections, each recording what was acknowledged.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            std::thread::spawn(move || {
                let mut c = Conn::open(addr(port));
                c.stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
                let mut acked = Vec::new();
                for i in 0.. {
                    let key = format!("w{w}:{i}");
                    c.send(&["SET", &key, &i.to_string()]);
                    let mut buf = [0u8; 5];
                    use std::io::Read;
                    match c.stream.read_exact(&mut buf) {
                        Ok(()) if &buf == b"+OK\r\n" => acked.push(key),
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    child.kill().expect("kill -9");
    let _ = child.wait();
    let acked: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("a writer"))
        .collect();
    assert!(acked.len() > 100, "only {} writes", acked.len());
    let (mut child, port) = spawn_child(&dir, &settings).expect("restarts");
    let mut c = Conn::open(addr(port));
    let mut lost = 0;
    for key in &acked {
        let expected = key.split(':').nth(1).expect("a number");
        match c.command(&["GET", key]) {
            Frame::Bulk(v) if v.as_ref() == expected.as_bytes() => {}
            _ => lost += 1,
        }
    }
    assert_eq!(
        lost,
        0,
        "{lost} of {} acknowledged writes lost",
        acked.len()
    );
    println!("kill -9: {} acknowledged writes, none lost", acked.len());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The commands of an incremental file, with absolute times (13 digits and more) and the
/// stream ids made from them masked: the two servers ran the workload at different moments.
fn commands_of(path: &Path) -> Vec<Vec<String>> {
    let data = std::fs::read(path).expect("an incr file");
    let mut decoder = lockstep_resp::Decoder::default();
    let mut buf = bytes::BytesMut::from(&data[..]);
    let mut out = Vec::new();
    while let Some(frame) = decoder.decode(&mut buf).expect("RESP") {
        let Frame::Array(items) = frame else {
            panic!("not a command: {frame:?}")
        };
        out.push(
            items
                .into_iter()
                .map(|i| {
                    let t = String::from_utf8_lossy(&text(i)).into_owned();
                    let (ms, seq) = t.split_once('-').unwrap_or((&t, ""));
                    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
                    if ms.len() >= 13 && digits(ms) && digits(seq) {
                        // A stream id made from the clock: its sequence depends on the
                        // commands in the same millisecond.
                        if seq.is_empty() {
                            "<time>"
                        } else {
                            "<time>-<seq>"
                        }
                        .to_string()
                    } else {
                        t
                    }
                })
                .collect(),
        );
    }
    out
}

#[test]
fn the_incremental_file_holds_what_redis_writes_for_the_same_commands() {
    let workload = |c: &mut Conn| {
        for command in [
            "SET a 1",
            "SETEX b 100 x",
            "SET c v GET",
            "SET c v2 XX PX 5000 GET",
            "EXPIRE c 50",
            "EXPIRE c -1",
            "SET d 1 EX 100",
            "GETEX d PERSIST",
            "GETEX d EX 30",
            "PEXPIRE d 100000 GT",
            "SELECT 2",
            "SET e 1",
            "MULTI",
            "INCR e",
            "SELECT 4",
            "SET f 1",
            "EXEC",
            "SET lazy 1 PX 20",
            "SET active 1 PX 20",
            "SET active2 1 PX 20",
            "SELECT 0",
            "INCRBY counter 5",
            "HSET h a 1 b 2",
            "HDEL h a",
            "DEL nothing",
            "SET notwritten 1 NX",
            "SET notwritten 2 NX",
            "SADD one only",
            "SPOP one",
            "SADD two a b",
            "SPOP two 5",
            "XADD st * f v",
            "XADD st MAXLEN = 5 * f w",
            "XADD s2 1-1 a 1",
            "XADD s2 2-1 b 2",
            "XADD s2 3-1 c 3",
            "XGROUP CREATE s2 g 0",
            "XREADGROUP GROUP g alice COUNT 2 STREAMS s2 >",
            "XREADGROUP GROUP g bob NOACK STREAMS s2 >",
            "XCLAIM s2 g carol 0 1-1",
            "XACK s2 g 2-1",
            "XGROUP CREATECONSUMER s2 g dave",
        ] {
            let args: Vec<&str> = command.split(' ').collect();
            let reply = c.command(&args);
            assert!(!matches!(reply, Frame::Error(_)), "{command}: {reply:?}");
        }
        let reply = run(
            c,
            &[
                b"EVAL",
                b"redis.call('set', KEYS[1], 'x'); redis.call('expire', KEYS[1], 60); return 1",
                b"1",
                b"scripted",
            ],
        );
        assert_eq!(reply, Frame::Integer(1));
        // One key expires on access, the other in the active cycle.
        std::thread::sleep(Duration::from_millis(50));
        c.command(&["SELECT", "4"]);
        assert_eq!(c.command(&["GET", "lazy"]), Frame::Null);
        std::thread::sleep(Duration::from_millis(400));
        c.command(&["SELECT", "0"]);
        c.ok(&["SET", "last", "1"]);
    };
    let dir = scratch_dir("incr-redis");
    let redis_server = RedisServer::start_with(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--appendonly",
        "yes",
    ]);
    workload(&mut Conn::open(redis_server.addr()));
    let expected = commands_of(&incr_file(&dir));
    drop(redis_server);

    let dir = scratch_dir("incr-lockstep");
    let ours = lockstep_on(&dir, &[]);
    workload(&mut Conn::open(ours.addr()));
    // lockstep also sends a group's position after a read of new entries (XGROUP SETID
    // ... ENTRIESREAD), which Redis 7.0 leaves to XCLAIM's LASTID (its reload loses the
    // group's entries-read): that one command is left out of the comparison.
    let mut got = commands_of(&incr_file(&dir));
    let after_xclaim: Vec<bool> = std::iter::once(false)
        .chain(got.iter().map(|c| c[0] == "XCLAIM"))
        .collect();
    let mut i = 0;
    got.retain(|c| {
        i += 1;
        !(after_xclaim[i - 1] && c[0] == "XGROUP" && c[1] == "SETID")
    });
    drop(ours);
    assert_eq!(
        in_deletion_order(got),
        in_deletion_order(expected),
        "lockstep's incr file, then redis-server's"
    );
}

/// Runs of single DELs sorted: the active cycle deletes keys in its own sampling order.
fn in_deletion_order(mut commands: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let is_del = |c: &Vec<String>| c.len() == 2 && c[0] == "DEL";
    let mut i = 0;
    while i < commands.len() {
        let run = commands[i..].iter().take_while(|c| is_del(c)).count();
        commands[i..i + run].sort();
        i += run.max(1);
    }
    commands
}
