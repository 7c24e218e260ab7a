//! `maxmemory` inside scripts, side by side with a real redis-server: a script that may
//! start (no shebang, or one declaring `allow-oom` or `no-writes`) has its `redis.call`
//! of a `denyoom` command refused with `-OOM` while memory was over the limit when the
//! script's command started (Redis's `scriptVerifyOOM`), unless it declared `allow-oom`
//! or has already written; replies and error statistics byte for byte as redis-server's.
//!
//! As in tests/memory.rs, this binary counts its allocations so that `used_memory` is
//! real, and runs one test at a time since `used_memory` is the whole process's.

mod common;

use common::{Conn, RedisServer};
use lockstep_resp::Frame;

#[global_allocator]
static ALLOC: lockstep_server::alloc::Counting<std::alloc::System> =
    lockstep_server::alloc::Counting(std::alloc::System);

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs every step on both servers and compares the replies.
fn same_replies(ours: &mut Conn, theirs: &mut Conn, steps: &[&[&str]]) {
    for step in steps {
        assert_eq!(ours.command(step), theirs.command(step), "{step:?}");
    }
}

/// The `errorstat_*` lines of INFO errorstats.
fn error_stats(conn: &mut Conn) -> Vec<String> {
    let text = conn.text(&["INFO", "errorstats"]);
    text.lines()
        .filter(|l| l.starts_with("errorstat_"))
        .map(String::from)
        .collect()
}

fn both() -> (RedisServer, lockstep_server::EmbeddedServer, Conn, Conn) {
    let redis = RedisServer::start();
    let server = common::start();
    let theirs = Conn::open(redis.addr());
    let ours = Conn::open(server.addrs()[0]);
    (redis, server, ours, theirs)
}

#[test]
fn a_script_without_a_shebang_gets_oom_from_redis_call_of_a_denyoom_command() {
    let _serial = serial();
    let (_redis, _server, mut ours, mut theirs) = both();
    let set = "return redis.call('set', KEYS[1], 'v')";
    let pset = "return redis.pcall('set', KEYS[1], 'v')";
    let caught = "local r = redis.pcall('lpush', KEYS[1], 'a') return r['err']";
    let read = "return redis.call('get', KEYS[1])";
    let del_first = "redis.call('del', KEYS[1]) return redis.call('set', KEYS[1], 'w')";
    let set_then = "redis.call('set', KEYS[1], 'x') return redis.call('set', KEYS[1], 'y')";
    let steps: &[&[&str]] = &[
        &["SET", "k", "before"],
        &["CONFIG", "RESETSTAT"],
        &["CONFIG", "SET", "maxmemory", "1"],
        &["EVAL", set, "1", "k"],
        &["EVAL", pset, "1", "k"],
        &["EVAL", caught, "1", "l"],
        &["EVAL", read, "1", "k"],
        // DEL is a write that frees memory: after it the script may not stop half-way.
        &["EVAL", del_first, "1", "k"],
        &["GET", "k"],
        &["EVAL", set_then, "1", "k"],
        &["SCRIPT", "LOAD", set],
        &[
            "EVALSHA",
            "b0e7bbc2efc136be74cdebcb73a106ad46ea881b",
            "1",
            "k",
        ],
        // EVAL is not denyoom itself: queued, it runs, and its SET is refused inside.
        &["MULTI"],
        &["EVAL", set, "1", "k"],
        &["EXEC"],
        &["CONFIG", "SET", "maxmemory", "0"],
        &["EVAL", set, "1", "k"],
    ];
    same_replies(&mut ours, &mut theirs, steps);
    assert_eq!(error_stats(&mut ours), error_stats(&mut theirs));
}

#[test]
fn allow_oom_scripts_and_functions_write_past_maxmemory_and_others_are_refused() {
    let _serial = serial();
    let (_redis, _server, mut ours, mut theirs) = both();
    let library = "#!lua name=oomlib\n\
        redis.register_function{function_name='free', callback=function(keys) return redis.call('set', keys[1], 'f') end, flags={'allow-oom'}}\n\
        redis.register_function{function_name='plain', callback=function(keys) return redis.call('set', keys[1], 'p') end}\n\
        redis.register_function{function_name='ro', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";
    let allow = "#!lua flags=allow-oom\nreturn redis.call('set', KEYS[1], 'a')";
    let declared = "#!lua\nreturn redis.call('set', KEYS[1], 'b')";
    let no_writes = "#!lua flags=no-writes\nreturn redis.pcall('set', KEYS[1], 'c')";
    let steps: &[&[&str]] = &[
        &["FUNCTION", "LOAD", library],
        &["SET", "k", "before"],
        &["CONFIG", "RESETSTAT"],
        &["CONFIG", "SET", "maxmemory", "1"],
        &["EVAL", allow, "1", "k"],
        &["GET", "k"],
        &["EVAL", declared, "1", "k"],
        &["EVAL", no_writes, "1", "k"],
        &["FCALL", "free", "1", "k"],
        &["GET", "k"],
        &["FCALL", "plain", "1", "k"],
        &["FCALL", "ro", "1", "k"],
        &["FCALL_RO", "ro", "1", "k"],
        &["CONFIG", "SET", "maxmemory", "0"],
        &["FCALL", "plain", "1", "k"],
        &["FUNCTION", "FLUSH"],
    ];
    same_replies(&mut ours, &mut theirs, steps);
    assert_eq!(error_stats(&mut ours), error_stats(&mut theirs));
    assert!(
        matches!(ours.command(&["GET", "k"]), Frame::Bulk(b) if &b[..] == b"p"),
        "the last FCALL wrote"
    );
}
