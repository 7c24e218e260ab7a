//! A sweep of the whole command surface against a real redis-server: every command and
//! subcommand of the metadata table, each with seeded random argument lists (wrong
//! arities, unknown options, keys of every type, numbers good and bad), sent to both
//! servers after the same setup, in RESP2 and in RESP3, replies compared byte for byte.
//! It catches the order of Redis's checks (arity, syntax, options, key type), which the
//! per-family suites test only where someone thought of it.
//!
//! Left out, each for its reason: commands that block, change the connection or the
//! server (MULTI, SELECT, SUBSCRIBE, CLIENT, CONFIG SET, SHUTDOWN, DEBUG, ...), whose
//! output is nondeterministic by Redis's own tips (random members, INFO, TIME, ...) or
//! that answer from allocator or hash-seed state (MEMORY, CONFIG GET order). SORT, OBJECT
//! and RESTORE are swept: random arguments keep them deterministic.
//!
//! `SWEEP_SEED=N` picks another seed; a failure prints the seed, the command and both
//! replies.

mod common;

use common::rng::Rng;
use common::{Conn, RedisServer};
use lockstep_commands::{flags, Command, COMMANDS};
use lockstep_resp::Frame;

/// Commands and subcommands left out (full names, or a container's name for all of its
/// subcommands); see the module comment.
const LEFT_OUT: &[&str] = &[
    "acl",
    "asking",
    "auth",
    "bgrewriteaof",
    "bgsave",
    "client",
    "cluster",
    "command",
    "config",
    "debug",
    "discard",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "exec",
    "failover",
    "fcall",
    "fcall_ro",
    "flushall",
    "flushdb",
    "function",
    "hello",
    "info",
    "latency",
    "lolwut",
    "memory",
    "migrate",
    "module",
    "monitor",
    "multi",
    "pfdebug",
    "pfselftest",
    "psubscribe",
    "psync",
    "punsubscribe",
    "quit",
    "readonly",
    "readwrite",
    "replconf",
    "replicaof",
    "reset",
    "role",
    "save",
    "script",
    "select",
    "shutdown",
    "slaveof",
    "slowlog",
    "ssubscribe",
    "subscribe",
    "sunsubscribe",
    "swapdb",
    "sync",
    "unsubscribe",
    "unwatch",
    "wait",
    "watch",
    "xautoclaim",
    "xclaim",
    "xinfo",
    "xpending",
];

/// What every case starts from: a key of each type.
const SETUP: &[&[&str]] = &[
    &["FLUSHALL"],
    &["SET", "k", "v"],
    &["SET", "n", "10"],
    &["RPUSH", "l", "a", "b", "c"],
    &["HSET", "h", "f", "1", "g", "x"],
    &["SADD", "s", "m", "1"],
    &["ZADD", "z", "1", "m", "2", "n"],
    &["XADD", "x", "1-1", "f", "v"],
    &["XGROUP", "CREATE", "x", "g", "0"],
    &["GEOADD", "geo", "13.361389", "38.115556", "palermo"],
];

/// Words the argument lists are drawn from: the keys above, a missing one, numbers of
/// every shape and the option names Redis's commands take.
const WORDS: &[&str] = &[
    "k",
    "n",
    "l",
    "h",
    "s",
    "z",
    "x",
    "geo",
    "nokey",
    "0",
    "1",
    "-1",
    "2",
    "10",
    "1.5",
    "-inf",
    "+inf",
    "inf",
    "(1",
    "[a",
    "-",
    "+",
    "*",
    "$",
    ">",
    "0-1",
    "1-1",
    "EX",
    "PX",
    "EXAT",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "COUNT",
    "LIMIT",
    "WITHSCORES",
    "BYSCORE",
    "BYLEX",
    "REV",
    "MATCH",
    "TYPE",
    "KEEPTTL",
    "GET",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "MAXLEN",
    "MINID",
    "~",
    "=",
    "WEIGHTS",
    "AGGREGATE",
    "SUM",
    "MIN",
    "MAX",
    "STORE",
    "ASC",
    "DESC",
    "ALPHA",
    "BY",
    "IDLE",
    "FORCE",
    "JUSTID",
    "RANK",
    "M",
    "KM",
    "FROMMEMBER",
    "FROMLONLAT",
    "BYRADIUS",
    "BYBOX",
    "WITHCOORD",
    "WITHDIST",
    "ENTRIESREAD",
    "MKSTREAM",
    "NOMKSTREAM",
    "KEYS",
    "STREAMS",
    "BLOCK",
    "LEN",
    "IDX",
    "MINMATCHLEN",
    "WITHMATCHLEN",
    "REPLACE",
    "DB",
    "COPY",
    "ABSTTL",
    "BIT",
    "BYTE",
    "OVERFLOW",
    "WRAP",
    "SAT",
    "FAIL",
    "u8",
    "i16",
    "#1",
    "AND",
    "OR",
    "NOT",
    "f",
    "g",
    "m",
    "a",
    "b",
    "palermo",
    "",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "nan",
    "0x10",
];

const CASES_PER_COMMAND: usize = 24;

fn swept(cmd: &Command) -> bool {
    let container = cmd.full_name.split('|').next().unwrap_or("");
    !LEFT_OUT.contains(&cmd.full_name)
        && !LEFT_OUT.contains(&container)
        && !cmd.has(flags::BLOCKING)
        && !cmd.has(flags::ADMIN)
        && !cmd
            .tips
            .iter()
            .any(|t| t.starts_with("nondeterministic_output"))
}

/// Every command and subcommand the sweep runs, as the words that name it.
fn commands() -> Vec<Vec<&'static str>> {
    let mut out = Vec::new();
    for cmd in COMMANDS {
        if cmd.subcommands.is_empty() {
            if swept(cmd) {
                out.push(vec![cmd.name]);
            }
        } else {
            for sub in cmd.subcommands {
                if swept(sub) {
                    out.push(vec![cmd.name, sub.name]);
                }
            }
        }
    }
    out
}

fn sweep(protocol: &str, seed: u64) {
    let redis = RedisServer::start();
    let server = common::start();
    let mut theirs = Conn::open(redis.addr());
    let mut ours = Conn::open(server.addr());
    for conn in [&mut theirs, &mut ours] {
        conn.command(&["HELLO", protocol]);
    }
    let mut rng = Rng(seed);
    let mut cases = 0;
    let mut mismatches = Vec::new();
    for name in commands() {
        for _ in 0..CASES_PER_COMMAND {
            let mut args: Vec<&str> = name.clone();
            for _ in 0..rng.below(7) {
                args.push(WORDS[rng.below(WORDS.len())]);
            }
            let mut replies: Vec<Frame> = Vec::new();
            for conn in [&mut theirs, &mut ours] {
                for step in SETUP {
                    conn.send(step);
                }
                for _ in SETUP {
                    conn.read();
                }
                replies.push(conn.command(&args));
            }
            cases += 1;
            if replies[0] != replies[1] {
                mismatches.push(format!(
                    "{args:?}\n  redis-server: {:?}\n  lockstep:     {:?}",
                    replies[0], replies[1]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "RESP{protocol}, seed {seed}: {} of {cases} cases differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    eprintln!("RESP{protocol}, seed {seed}: {cases} cases, all the same as redis-server");
}

fn seed() -> u64 {
    std::env::var("SWEEP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
}

#[test]
fn every_command_answers_random_arguments_as_redis_does_resp2() {
    sweep("2", seed());
}

#[test]
fn every_command_answers_random_arguments_as_redis_does_resp3() {
    sweep("3", seed() + 1);
}

#[test]
fn the_sweep_covers_most_of_the_command_table() {
    let swept = commands().len();
    assert!(swept >= 140, "only {swept} commands swept");
}
