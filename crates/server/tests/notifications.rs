//! Keyspace notifications, command by command: the guard that fails when a write command
//! emits no event.
//!
//! `SAMPLES` holds an invocation of every Redis 7.0 write command (with the setup it
//! needs), and three tests hold it to account:
//!
//! - the table covers every write command lockstep implements (`COMMAND LIST` joined with
//!   the `write` flag of `lockstep_commands`), so a new write command without a sample
//!   fails here;
//! - against a real redis-server every sample emits at least one event, except the
//!   commands of `SILENT`, which emit none in Redis either (so the table itself is checked);
//! - lockstep emits, for every sample of a command it implements, exactly the events the
//!   real redis-server emits: the same channels and payloads in the same order.
//!
//! Each sample runs on a flushed server with notifications off during its setup, then
//! `notify-keyspace-events KEA` for the command alone; a `PSUBSCRIBE __key*` subscriber
//! collects what arrives until a marker published on `__keymarker` (which the pattern also
//! matches) says the command's events are all in. The real redis-server is required: set
//! `REDIS_SERVER` to its path if it is not on PATH.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use bytes::Bytes;
use common::{start, Conn, RedisServer};
use lockstep_commands::{flags, COMMANDS};
use lockstep_resp::Frame;

/// One sample: the command's setup, then the invocation whose events are collected. Each
/// line is split like redis-cli input: words, or double-quoted strings with `\n`, `\"`,
/// `\\` and `\xHH` escapes.
struct Sample {
    setup: &'static [&'static str],
    run: &'static str,
}

const fn sample(setup: &'static [&'static str], run: &'static str) -> Sample {
    Sample { setup, run }
}

/// Setups several samples share.
const STREAM_WITH_GROUP: &[&str] = &["XADD s 1-1 f v", "XGROUP CREATE s g 0"];
const STREAM_WITH_PENDING: &[&str] = &[
    "XADD s 1-1 f v",
    "XGROUP CREATE s g 0",
    "XREADGROUP GROUP g c STREAMS s >",
];
const GEO: &[&str] = &["GEOADD g 13.361389 38.115556 a 15.087269 37.502669 b"];
const TWO_SETS: &[&str] = &["SADD a x y", "SADD b y z"];
const TWO_ZSETS: &[&str] = &["ZADD a 1 x 2 y", "ZADD b 3 y 4 z"];

/// `FUNCTION LOAD` of a one-function library; `FUNCTION DUMP` of it and `DUMP` of the
/// string `v`, as redis-server 7.0 writes them (RESTORE checks the version and checksum).
const FUNCTION_LOAD: &str =
    r##"FUNCTION LOAD "#!lua name=lib\nredis.register_function('f', function() return 1 end)""##;
const FUNCTION_RESTORE: &str = r##"FUNCTION RESTORE "\xf5@D#!lua name=lib\nredis.register_function('f', function() return 1 end)\n\x00\xaf\xecJ\xc1\r\xc9\x0c\xa3" REPLACE"##;
const RESTORE: &str = r#"RESTORE k 0 "\x00\x01v\n\x00\x91\x08\xce\xb2\x198\x8a\xce""#;
const RESTORE_ASKING: &str = r#"RESTORE-ASKING k 0 "\x00\x01v\n\x00\x91\x08\xce\xb2\x198\x8a\xce""#;

/// At least one sample per Redis 7.0 write command, in the command table's order; a few
/// commands have a second one for a path with other events.
const SAMPLES: &[Sample] = &[
    sample(&[], "APPEND k v"),
    sample(&[], "BITFIELD k SET u8 0 1"),
    sample(&["SET a x"], "BITOP NOT d a"),
    sample(&["RPUSH l a b"], "BLMOVE l m LEFT RIGHT 0"),
    sample(&["RPUSH l a b"], "BLMPOP 0 1 l LEFT"),
    sample(&["RPUSH l a b"], "BLPOP l 0"),
    sample(&["RPUSH l a b"], "BRPOP l 0"),
    sample(&["RPUSH l a b"], "BRPOPLPUSH l m 0"),
    sample(&["ZADD z 1 a 2 b"], "BZMPOP 0 1 z MIN"),
    sample(&["ZADD z 1 a 2 b"], "BZPOPMAX z 0"),
    sample(&["ZADD z 1 a 2 b"], "BZPOPMIN z 0"),
    sample(&["SET a v"], "COPY a b"),
    sample(&[], "MIGRATE 127.0.0.1 1 nokey 0 1"),
    sample(&["SET a v", "SET b w"], "COPY a b REPLACE"),
    sample(&[], "DECR n"),
    sample(&[], "DECRBY n 2"),
    sample(&["SET a v", "RPUSH l x"], "DEL a l missing"),
    sample(&["SET k v"], "EXPIRE k 100"),
    // A TTL in the past deletes the key: `del`, not `expire`.
    sample(&["SET k v"], "EXPIRE k -1"),
    sample(&["SET k v"], "EXPIREAT k 4102444800"),
    sample(&["SET k v"], "FLUSHALL"),
    sample(&["SET k v"], "FLUSHDB"),
    sample(&[FUNCTION_LOAD], "FUNCTION DELETE lib"),
    sample(&[FUNCTION_LOAD], "FUNCTION FLUSH"),
    sample(&[], FUNCTION_LOAD),
    sample(&[], FUNCTION_RESTORE),
    sample(&[], "GEOADD g 13.361389 38.115556 a"),
    sample(GEO, "GEORADIUS g 15 37 200 km STORE d"),
    sample(GEO, "GEORADIUSBYMEMBER g a 200 km STORE d"),
    sample(GEO, "GEOSEARCHSTORE d g FROMMEMBER a BYRADIUS 200 km"),
    sample(&["SET k v"], "GETDEL k"),
    sample(&["SET k v"], "GETEX k EX 100"),
    sample(&["SET k v EX 100"], "GETEX k PERSIST"),
    sample(&["SET k v"], "GETSET k w"),
    sample(&["HSET h f v g w"], "HDEL h f"),
    sample(&["HSET h f v"], "HDEL h f"),
    sample(&[], "HINCRBY h f 1"),
    sample(&[], "HINCRBYFLOAT h f 1.5"),
    sample(&[], "HMSET h f v g w"),
    sample(&[], "HSET h f v"),
    sample(&[], "HSETNX h f v"),
    sample(&[], "INCR n"),
    sample(&[], "INCRBY n 5"),
    sample(&[], "INCRBYFLOAT n 1.5"),
    sample(&["RPUSH l a"], "LINSERT l BEFORE a b"),
    sample(&["RPUSH l a b"], "LMOVE l m LEFT RIGHT"),
    // Popping and pushing back the same end changes nothing, but Redis still announces both.
    sample(&["RPUSH l a"], "LMOVE l l LEFT LEFT"),
    sample(&["RPUSH l a b"], "LMPOP 1 l LEFT"),
    sample(&["RPUSH l a b"], "LPOP l"),
    // A collection emptied by a command is deleted after the command's own event.
    sample(&["RPUSH l a"], "LPOP l"),
    sample(&[], "LPUSH l a b"),
    sample(&["RPUSH l a"], "LPUSHX l b"),
    sample(&["RPUSH l a b a"], "LREM l 0 a"),
    sample(&["RPUSH l a"], "LSET l 0 x"),
    sample(&["RPUSH l a b c"], "LTRIM l 0 1"),
    sample(&["SET k v"], "MOVE k 1"),
    sample(&[], "MSET a 1 b 2"),
    sample(&[], "MSETNX a 1 b 2"),
    sample(&["SET k v EX 100"], "PERSIST k"),
    sample(&["SET k v"], "PEXPIRE k 100000"),
    sample(&["SET k v"], "PEXPIREAT k 4102444800000"),
    sample(&[], "PFADD p a b"),
    sample(&["PFADD p a"], "PFDEBUG TODENSE p"),
    sample(&["PFADD a x", "PFADD b y"], "PFMERGE d a b"),
    sample(&[], "PSETEX k 100000 v"),
    sample(&["SET a v"], "RENAME a b"),
    sample(&["SET a v"], "RENAMENX a b"),
    sample(&[], RESTORE),
    sample(&[], RESTORE_ASKING),
    sample(&["RPUSH l a b"], "RPOP l"),
    sample(&["RPUSH l a b"], "RPOPLPUSH l m"),
    sample(&["RPUSH l a b"], "RPOPLPUSH l l"),
    sample(&[], "RPUSH l a b"),
    sample(&["RPUSH l a"], "RPUSHX l b"),
    sample(&[], "SADD s a b"),
    sample(TWO_SETS, "SDIFFSTORE d a b"),
    sample(&[], "SET k v"),
    sample(&[], "SET k v EX 100"),
    sample(&[], "SETBIT k 7 1"),
    sample(&[], "SETEX k 100 v"),
    sample(&[], "SETNX k v"),
    sample(&[], "SETRANGE k 2 v"),
    sample(TWO_SETS, "SINTERSTORE d a b"),
    // An empty result deletes the destination.
    sample(&["SADD a x", "SADD b y", "SET d v"], "SINTERSTORE d a b"),
    sample(&["SADD a x"], "SMOVE a b x"),
    sample(&["RPUSH l 3 1 2"], "SORT l STORE d"),
    sample(&["SADD s a b"], "SPOP s"),
    sample(&["SADD s a b"], "SREM s a"),
    sample(&["SADD s a"], "SREM s a"),
    sample(TWO_SETS, "SUNIONSTORE d a b"),
    sample(&["SET k v"], "SWAPDB 0 1"),
    sample(&["SET a v", "RPUSH l x"], "UNLINK a l missing"),
    sample(STREAM_WITH_PENDING, "XACK s g 1-1"),
    sample(&[], "XADD s 1-1 f v"),
    sample(STREAM_WITH_PENDING, "XAUTOCLAIM s g c2 0 0"),
    sample(STREAM_WITH_PENDING, "XCLAIM s g c2 0 1-1"),
    sample(&["XADD s 1-1 f v"], "XDEL s 1-1"),
    sample(&["XADD s 1-1 f v"], "XGROUP CREATE s g 0"),
    sample(STREAM_WITH_GROUP, "XGROUP CREATECONSUMER s g c"),
    sample(STREAM_WITH_PENDING, "XGROUP DELCONSUMER s g c"),
    sample(STREAM_WITH_GROUP, "XGROUP DESTROY s g"),
    sample(STREAM_WITH_GROUP, "XGROUP SETID s g 0"),
    sample(STREAM_WITH_GROUP, "XREADGROUP GROUP g c STREAMS s >"),
    sample(&["XADD s 1-1 f v"], "XSETID s 5-0"),
    sample(&["XADD s 1-1 f v", "XADD s 2-1 f v"], "XTRIM s MAXLEN 1"),
    sample(&[], "ZADD z 1 a 2 b"),
    sample(&["ZADD z 1 a"], "ZADD z INCR 2 a"),
    sample(TWO_ZSETS, "ZDIFFSTORE d 2 a b"),
    sample(&[], "ZINCRBY z 2 a"),
    sample(TWO_ZSETS, "ZINTERSTORE d 2 a b"),
    sample(&["ZADD z 1 a 2 b"], "ZMPOP 1 z MAX"),
    sample(&["ZADD z 1 a 2 b"], "ZPOPMAX z"),
    sample(&["ZADD z 1 a 2 b"], "ZPOPMIN z"),
    sample(&["ZADD z 1 a 2 b"], "ZRANGESTORE d z 0 -1"),
    sample(&["ZADD z 1 a 2 b"], "ZREM z a"),
    sample(&["ZADD z 1 a"], "ZREM z a"),
    sample(&["ZADD z 0 a 0 b 0 c"], "ZREMRANGEBYLEX z [a [b"),
    sample(&["ZADD z 1 a 2 b 3 c"], "ZREMRANGEBYRANK z 0 1"),
    sample(&["ZADD z 1 a 2 b 3 c"], "ZREMRANGEBYSCORE z 1 2"),
    sample(TWO_ZSETS, "ZUNIONSTORE d 2 a b"),
];

/// Write commands that emit no keyspace event in Redis 7.0 either (checked against the
/// real server by `samples_emit_events_in_redis_exactly_unless_silent`), with the reason.
const SILENT: &[(&str, &str)] = &[
    // Redis's flushes and SWAPDB call signalFlushedDb / touch WATCHed keys, but publish
    // no keyspace event (not even `del` per key).
    ("flushall", "a flush publishes nothing"),
    ("flushdb", "a flush publishes nothing"),
    ("swapdb", "swapping databases publishes nothing"),
    // Functions live outside the keyspace.
    ("function|delete", "functions are not keys"),
    ("function|flush", "functions are not keys"),
    ("function|load", "functions are not keys"),
    ("function|restore", "functions are not keys"),
    // On one server only NOKEY can be sampled: a real move needs a target server
    // (cluster_migrate.rs compares what moves; the source's `del` events are not compared
    // yet).
    ("migrate", "a sample on one server migrates nothing"),
    // A debugging command: it changes the HyperLogLog's encoding, not its content.
    ("pfdebug", "only re-encodes"),
    // XACK only shortens a group's pending list, which Redis does not announce.
    ("xack", "the pending list is not announced"),
];

/// Write commands without a sample, with the reason. A command here that lockstep
/// implements still fails the coverage test: it needs a sample then.
const UNSAMPLED: &[(&str, &str)] = &[(
    "migrate",
    "needs a second server that accepts RESTORE-ASKING; its `del` is \
     the same event DEL emits",
)];

/// Splits a sample line like redis-cli does.
fn words(line: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut bytes = line.bytes().peekable();
    loop {
        while bytes.peek() == Some(&b' ') {
            bytes.next();
        }
        let Some(&first) = bytes.peek() else {
            return out;
        };
        let mut word = Vec::new();
        if first == b'"' {
            bytes.next();
            loop {
                match bytes.next().expect("a closing quote") {
                    b'"' => break,
                    b'\\' => match bytes.next().expect("an escape") {
                        b'n' => word.push(b'\n'),
                        b'r' => word.push(b'\r'),
                        b'x' => {
                            let hex = [bytes.next(), bytes.next()];
                            let hex: String = hex
                                .iter()
                                .map(|b| char::from(b.expect("two hex digits")))
                                .collect();
                            word.push(u8::from_str_radix(&hex, 16).expect("hex"));
                        }
                        other => word.push(other),
                    },
                    other => word.push(other),
                }
            }
        } else {
            while let Some(b) = bytes.next_if(|&b| b != b' ') {
                word.push(b);
            }
        }
        out.push(word);
    }
}

/// The command a sample line runs, as `COMMAND LIST` names it (`set`, `xgroup|create`).
fn command_name(line: &str) -> String {
    let words = words(line);
    let name = String::from_utf8_lossy(&words[0]).to_lowercase();
    let has_subcommands = COMMANDS
        .iter()
        .any(|c| c.name == name && !c.subcommands.is_empty());
    if has_subcommands {
        format!(
            "{name}|{}",
            String::from_utf8_lossy(&words[1]).to_lowercase()
        )
    } else {
        name
    }
}

/// Every write command and subcommand of Redis 7.0, by `COMMAND LIST` name.
fn write_commands() -> BTreeSet<&'static str> {
    COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c).chain(c.subcommands))
        .filter(|c| c.flags & flags::WRITE != 0)
        .map(|c| c.full_name)
        .collect()
}

/// What a server answers to `COMMAND LIST`.
fn implemented(conn: &mut Conn) -> BTreeSet<String> {
    let Frame::Array(names) = conn.command(&["COMMAND", "LIST"]) else {
        panic!("COMMAND LIST answers an array");
    };
    names
        .into_iter()
        .map(|name| match name {
            Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("COMMAND LIST holds names, not {other:?}"),
        })
        .collect()
}

/// One published event: the channel and the payload.
type Event = (String, String);

/// A client and a `PSUBSCRIBE __key*` subscriber on one server.
struct Observer {
    conn: Conn,
    sub: Conn,
}

const MARKER: &str = "__keymarker";

impl Observer {
    fn open(addr: SocketAddr) -> Observer {
        let conn = Conn::open(addr);
        let mut sub = Conn::open(addr);
        sub.send(&["PSUBSCRIBE", "__key*"]);
        let text = |s: &str| Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()));
        assert_eq!(
            sub.read(),
            Frame::Array(vec![text("psubscribe"), text("__key*"), Frame::Integer(1)])
        );
        Observer { conn, sub }
    }

    fn run(&mut self, line: &str) -> Frame {
        let args = words(line);
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        self.conn.command_bytes(&args)
    }

    /// Runs `sample` on a flushed server and answers the invocation's reply and events.
    fn events_of(&mut self, sample: &Sample) -> Result<Vec<Event>, String> {
        self.conn
            .ok(&["CONFIG", "SET", "notify-keyspace-events", ""]);
        self.conn.ok(&["FLUSHALL"]);
        for line in sample.setup {
            if let Frame::Error(e) = self.run(line) {
                return Err(format!(
                    "setup `{line}` failed: {}",
                    String::from_utf8_lossy(&e)
                ));
            }
        }
        self.conn
            .ok(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        let reply = self.run(sample.run);
        self.conn
            .ok(&["CONFIG", "SET", "notify-keyspace-events", ""]);
        assert_eq!(self.conn.int(&["PUBLISH", MARKER, "end"]), 1);
        let mut events = Vec::new();
        loop {
            let Frame::Array(parts) = self.sub.read() else {
                panic!("the subscriber reads only messages");
            };
            let text = |f: &Frame| match f {
                Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("a message holds bulk strings, not {other:?}"),
            };
            let fields: Vec<String> = parts.iter().map(text).collect();
            let [kind, _pattern, channel, payload] = &fields[..] else {
                panic!("a pmessage has four parts: {fields:?}");
            };
            assert_eq!(kind, "pmessage");
            if channel == MARKER {
                break;
            }
            events.push((channel.clone(), payload.clone()));
        }
        match reply {
            Frame::Error(e) => Err(format!(
                "`{}` failed: {}",
                sample.run,
                String::from_utf8_lossy(&e)
            )),
            _ => Ok(events),
        }
    }
}

#[test]
fn samples_cover_every_write_command_the_server_implements() {
    let server = start();
    let mut conn = Conn::open(server.addr());
    let writes = write_commands();
    let sampled: BTreeSet<String> = SAMPLES.iter().map(|s| command_name(s.run)).collect();
    for name in &sampled {
        assert!(
            writes.contains(name.as_str()),
            "sample for {name}, which is not a Redis write command"
        );
    }
    for (name, _) in SILENT {
        assert!(sampled.contains(*name), "silent {name} needs a sample too");
    }
    let missing: Vec<String> = implemented(&mut conn)
        .into_iter()
        .filter(|name| writes.contains(name.as_str()) && !sampled.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "write commands the server implements without a sample in SAMPLES: {missing:?}"
    );
    let unaccounted: Vec<&str> = writes
        .iter()
        .copied()
        .filter(|name| !sampled.contains(*name) && !UNSAMPLED.iter().any(|(n, _)| n == name))
        .collect();
    assert!(
        unaccounted.is_empty(),
        "Redis write commands neither sampled nor in UNSAMPLED: {unaccounted:?}"
    );
}

#[test]
fn samples_emit_events_in_redis_exactly_unless_silent() {
    let redis = RedisServer::start();
    let mut redis = Observer::open(redis.addr());
    let mut wrong = Vec::new();
    for sample in SAMPLES {
        let name = command_name(sample.run);
        let silent = SILENT.iter().any(|(n, _)| *n == name);
        match redis.events_of(sample) {
            Err(e) => wrong.push(format!("{name}: {e}")),
            Ok(events) if events.is_empty() && !silent => {
                wrong.push(format!("{name}: `{}` emitted nothing", sample.run))
            }
            Ok(events) if !events.is_empty() && silent => {
                wrong.push(format!("{name} is in SILENT but emitted {events:?}"))
            }
            Ok(_) => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "samples that are wrong for redis-server:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_write_command_emits_the_events_redis_emits() {
    let redis = RedisServer::start();
    let server = start();
    let mut redis = Observer::open(redis.addr());
    let mut lockstep = Observer::open(server.addr());
    let implemented = implemented(&mut lockstep.conn);
    let mut failures = Vec::new();
    let mut checked = 0;
    for sample in SAMPLES {
        let name = command_name(sample.run);
        if !implemented.contains(&name) {
            continue;
        }
        checked += 1;
        let expected = redis
            .events_of(sample)
            .expect("the sample works in redis-server");
        let silent = SILENT.iter().any(|(n, _)| *n == name);
        match lockstep.events_of(sample) {
            Err(e) => failures.push(format!("{name}: {e}")),
            Ok(events) if events.is_empty() && !silent => failures.push(format!(
                "{name}: `{}` emitted no event, redis-server {expected:?}",
                sample.run
            )),
            Ok(events) if events != expected => failures.push(format!(
                "{name}: `{}` emitted {events:?}, redis-server {expected:?}",
                sample.run
            )),
            Ok(_) => {}
        }
    }
    assert!(checked > 0);
    assert!(
        failures.is_empty(),
        "{} of the {checked} samples of write commands lockstep implements emit other events than redis-server:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
