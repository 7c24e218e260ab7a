//! DUMP payloads travel between lockstep and redis-server 7.0 in both directions, for
//! every type and encoding: a value built on one server, DUMPed and RESTOREd into the
//! other, reads back the same (members sorted where Redis's hash order leaves the order
//! open) with the same OBJECT ENCODING and TTL, and survives the trip back. A payload
//! from redis-server RESTOREd into lockstep DUMPs back to the very same bytes, hash-ordered
//! encodings included (lockstep keeps a table in the order the payload gave). The real
//! redis-server is required (set `REDIS_SERVER` to its path if it is not on PATH).

mod common;

use common::{start, Conn, RedisServer};
use lockstep_resp::Frame;

/// One value to build: its key, the commands that build it, and whether its DUMP bytes
/// depend on history lockstep does not keep (a list pushed at the head fills its quicklist
/// nodes differently from one pushed at the tail).
struct Case {
    key: &'static str,
    build: Vec<Vec<String>>,
    same_bytes_back: bool,
    /// Holds times from the clock (a stream's deliveries and consumers): built on two
    /// servers, it differs in them.
    clocked: bool,
}

fn cmd(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn eval(script: &str, key: &str) -> Vec<String> {
    cmd(&["EVAL", script, "1", key])
}

fn cases() -> Vec<Case> {
    let case = |key, build, same_bytes_back| Case {
        key,
        build,
        same_bytes_back,
        clocked: false,
    };
    let clocked = |key, build| Case {
        key,
        build,
        same_bytes_back: true,
        clocked: true,
    };
    vec![
        case("int", vec![cmd(&["SET", "int", "-12345"])], true),
        case(
            "wide",
            vec![cmd(&["SET", "wide", "9223372036854775807"])],
            true,
        ),
        case("embstr", vec![cmd(&["SET", "embstr", "hello world"])], true),
        case(
            "raw",
            vec![eval(
                "redis.call('set',KEYS[1],string.rep('ab',500))",
                "raw",
            )],
            true,
        ),
        case("appended", vec![cmd(&["APPEND", "appended", "xyz"])], true),
        case(
            "binary",
            vec![cmd(&["SET", "binary", "\u{0}\r\n\u{7f}"])],
            true,
        ),
        case(
            "list_small",
            vec![cmd(&["RPUSH", "list_small", "a", "1", "-7", "hello"])],
            true,
        ),
        case(
            "list_big",
            vec![eval(
                "for i=1,5000 do redis.call('rpush',KEYS[1],'element'..i) end",
                "list_big",
            )],
            true,
        ),
        case(
            "list_lpushed",
            vec![eval(
                "for i=1,5000 do redis.call('lpush',KEYS[1],string.rep('e',i%50)) end",
                "list_lpushed",
            )],
            false,
        ),
        case(
            "list_long_elements",
            vec![eval(
                "for i=1,20 do redis.call('rpush',KEYS[1],string.rep('L',i*700)) end",
                "list_long_elements",
            )],
            true,
        ),
        case(
            "hash_listpack",
            vec![cmd(&[
                "HSET",
                "hash_listpack",
                "f",
                "v",
                "n",
                "12",
                "e",
                "",
            ])],
            true,
        ),
        case(
            "hash_table",
            vec![eval(
                "for i=1,1000 do redis.call('hset',KEYS[1],'field'..i,i) end",
                "hash_table",
            )],
            true,
        ),
        case(
            "hash_long_value",
            vec![cmd(&["HSET", "hash_long_value", "f", &"v".repeat(100)])],
            true,
        ),
        case(
            "set_intset",
            vec![cmd(&[
                "SADD",
                "set_intset",
                "5",
                "-1",
                "70000",
                "4294967296",
            ])],
            true,
        ),
        case(
            "set_table",
            vec![eval(
                "for i=1,1000 do redis.call('sadd',KEYS[1],'member'..i) end",
                "set_table",
            )],
            true,
        ),
        case(
            "set_many_ints",
            vec![eval(
                "for i=1,600 do redis.call('sadd',KEYS[1],i*3) end",
                "set_many_ints",
            )],
            true,
        ),
        case(
            "zset_listpack",
            vec![cmd(&[
                "ZADD",
                "zset_listpack",
                "1",
                "a",
                "2.5",
                "b",
                "-inf",
                "c",
                "1e100",
                "d",
            ])],
            true,
        ),
        case(
            "zset_skiplist",
            vec![eval(
                "for i=1,1000 do redis.call('zadd',KEYS[1],i/7,'m'..i) end",
                "zset_skiplist",
            )],
            true,
        ),
        case(
            "stream",
            vec![eval(
                "for i=1,700 do redis.call('xadd',KEYS[1],i..'-'..(i%4),'sensor',i%9,'reading',string.rep('r',i%30)) \
                 if i%50==0 then redis.call('xadd',KEYS[1],i..'-9','other',i) end end",
                "stream",
            )],
            true,
        ),
        case(
            "stream_deleted",
            vec![
                eval(
                    "for i=1,400 do redis.call('xadd',KEYS[1],i..'-0','f',i) end \
                     for i=1,400,3 do redis.call('xdel',KEYS[1],i..'-0') end",
                    "stream_deleted",
                ),
                cmd(&["XTRIM", "stream_deleted", "MAXLEN", "~", "200"]),
                cmd(&["XTRIM", "stream_deleted", "MINID", "250"]),
                cmd(&["XDEL", "stream_deleted", "400-0"]),
            ],
            true,
        ),
        case(
            "stream_emptied",
            vec![
                cmd(&["XADD", "stream_emptied", "7-1", "f", "v"]),
                cmd(&["XGROUP", "CREATE", "stream_emptied", "g", "0"]),
                cmd(&["XDEL", "stream_emptied", "7-1"]),
            ],
            true,
        ),
        clocked(
            "stream_groups",
            vec![
                eval(
                    "for i=1,300 do redis.call('xadd',KEYS[1],i..'-0','f',i) end",
                    "stream_groups",
                ),
                cmd(&["XGROUP", "CREATE", "stream_groups", "g", "0"]),
                cmd(&["XGROUP", "CREATE", "stream_groups", "late", "$"]),
                cmd(&["XGROUP", "CREATE", "stream_groups", "mid", "100-0", "ENTRIESREAD", "100"]),
                cmd(&["XREADGROUP", "GROUP", "g", "alice", "COUNT", "120", "STREAMS", "stream_groups", ">"]),
                cmd(&["XREADGROUP", "GROUP", "g", "bob", "COUNT", "30", "STREAMS", "stream_groups", ">"]),
                cmd(&["XCLAIM", "stream_groups", "g", "carol", "0", "5-0", "6-0", "JUSTID"]),
                cmd(&["XCLAIM", "stream_groups", "g", "carol", "0", "7-0", "TIME", "1000", "RETRYCOUNT", "9"]),
                cmd(&["XACK", "stream_groups", "g", "1-0", "2-0", "130-0"]),
                cmd(&["XGROUP", "CREATECONSUMER", "stream_groups", "g", "idle"]),
                cmd(&["XREADGROUP", "GROUP", "mid", "zed", "NOACK", "COUNT", "5", "STREAMS", "stream_groups", ">"]),
                cmd(&["XDEL", "stream_groups", "8-0", "200-0"]),
            ],
        ),
        case(
            "with_ttl",
            vec![
                cmd(&["SET", "with_ttl", "v"]),
                cmd(&["PEXPIRE", "with_ttl", "100000"]),
            ],
            true,
        ),
    ]
}

fn bytes(frame: Frame) -> Vec<u8> {
    match frame {
        Frame::Bulk(b) => b.to_vec(),
        Frame::Simple(s) => s.to_vec(),
        other => panic!("expected a string, got {other:?}"),
    }
}

fn strings(frame: Frame) -> Vec<Vec<u8>> {
    match frame {
        Frame::Array(items) | Frame::Set(items) => items.into_iter().map(bytes).collect(),
        Frame::Map(pairs) => pairs
            .into_iter()
            .flat_map(|(k, v)| [bytes(k), bytes(v)])
            .collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

fn run(c: &mut Conn, args: &[&[u8]]) -> Frame {
    c.command_bytes(args)
}

/// The value at `key` in a form two servers can be compared on: type, encoding, TTL bucket
/// and contents (sorted where the order is the server's own).
fn snapshot(c: &mut Conn, key: &str) -> (Vec<u8>, Vec<u8>, bool, Vec<Vec<u8>>) {
    let k = key.as_bytes();
    let t = bytes(run(c, &[b"TYPE", k]));
    let enc = bytes(run(c, &[b"OBJECT", b"ENCODING", k]));
    let has_ttl = match run(c, &[b"PTTL", k]) {
        Frame::Integer(n) => n > 0,
        other => panic!("PTTL: {other:?}"),
    };
    let mut contents = match &t[..] {
        b"string" => vec![bytes(run(c, &[b"GET", k]))],
        b"list" => strings(run(c, &[b"LRANGE", k, b"0", b"-1"])),
        b"hash" => {
            let flat = strings(run(c, &[b"HGETALL", k]));
            let mut pairs: Vec<Vec<u8>> = flat.chunks(2).map(|p| p.concat()).collect();
            pairs.sort();
            pairs
        }
        b"set" => {
            let mut m = strings(run(c, &[b"SMEMBERS", k]));
            m.sort();
            m
        }
        b"zset" => strings(run(c, &[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"])),
        b"stream" => {
            let mut leaves = Vec::new();
            flatten(
                run(c, &[b"XINFO", b"STREAM", k, b"FULL", b"COUNT", b"0"]),
                &mut leaves,
            );
            leaves
        }
        other => panic!("unexpected type {other:?}"),
    };
    if t == b"list" || t == b"zset" || t == b"stream" {
        // Ordered already.
    } else {
        contents.sort();
    }
    (t, enc, has_ttl, contents)
}

/// Every leaf of a reply, in order (integers as text): XINFO STREAM FULL's nested
/// entries, groups, PELs and consumers, times included.
fn flatten(frame: Frame, out: &mut Vec<Vec<u8>>) {
    match frame {
        Frame::Array(items) | Frame::Set(items) => {
            out.push(format!("[{}", items.len()).into_bytes());
            items.into_iter().for_each(|i| flatten(i, out));
        }
        Frame::Map(pairs) => {
            out.push(format!("{{{}", pairs.len()).into_bytes());
            for (k, v) in pairs {
                flatten(k, out);
                flatten(v, out);
            }
        }
        Frame::Integer(n) => out.push(n.to_string().into_bytes()),
        Frame::Null => out.push(b"(nil)".to_vec()),
        other => out.push(bytes(other)),
    }
}

/// DUMP `key` on `from`, RESTORE it as `copy` on `to` with the TTL it has.
fn transfer(from: &mut Conn, to: &mut Conn, key: &str, copy: &str) -> Vec<u8> {
    let payload = bytes(run(from, &[b"DUMP", key.as_bytes()]));
    let ttl = match run(from, &[b"PTTL", key.as_bytes()]) {
        Frame::Integer(n) if n > 0 => n.to_string(),
        _ => "0".to_string(),
    };
    let reply = run(
        to,
        &[
            b"RESTORE",
            copy.as_bytes(),
            ttl.as_bytes(),
            &payload,
            b"REPLACE",
        ],
    );
    assert_eq!(bytes(reply), b"OK", "RESTORE {copy}");
    payload
}

fn build(c: &mut Conn, case: &Case) {
    for command in &case.build {
        let args: Vec<&[u8]> = command.iter().map(|w| w.as_bytes()).collect();
        let reply = run(c, &args);
        assert!(
            !matches!(reply, Frame::Error(_)),
            "{command:?} answered {reply:?}"
        );
    }
}

#[test]
fn a_dump_from_redis_restores_into_lockstep_and_dumps_back_the_same_bytes() {
    let redis_server = RedisServer::start();
    let ours = start();
    let (mut redis, mut lockstep) = (Conn::open(redis_server.addr()), Conn::open(ours.addr()));
    for case in cases() {
        build(&mut redis, &case);
        let payload = transfer(&mut redis, &mut lockstep, case.key, case.key);
        assert_eq!(
            snapshot(&mut lockstep, case.key),
            snapshot(&mut redis, case.key),
            "{}",
            case.key
        );
        let back = bytes(run(&mut lockstep, &[b"DUMP", case.key.as_bytes()]));
        if case.same_bytes_back {
            assert!(
                back == payload,
                "{}: DUMP bytes differ after the trip",
                case.key
            );
        }
        // And the trip back leaves redis-server with the same value.
        let copy = format!("{}:back", case.key);
        transfer(&mut lockstep, &mut redis, case.key, &copy);
        assert_eq!(
            snapshot(&mut redis, &copy),
            snapshot(&mut redis, case.key),
            "{} back in redis",
            case.key
        );
    }
}

#[test]
fn a_dump_from_lockstep_restores_into_redis_with_the_same_value() {
    let redis_server = RedisServer::start();
    let ours = start();
    let (mut redis, mut lockstep) = (Conn::open(redis_server.addr()), Conn::open(ours.addr()));
    for case in cases() {
        build(&mut lockstep, &case);
        build(&mut redis, &case);
        let payload = transfer(&mut lockstep, &mut redis, case.key, "copy");
        assert_eq!(
            snapshot(&mut redis, "copy"),
            snapshot(&mut lockstep, case.key),
            "{}",
            case.key
        );
        // Built the same way, the value has the same encoding on both sides, and where
        // its layout has no hash order (nor the clock) in it, the same bytes.
        if case.clocked {
            continue;
        }
        assert_eq!(
            snapshot(&mut redis, case.key),
            snapshot(&mut lockstep, case.key),
            "{} built on both",
            case.key
        );
        let enc = bytes(run(
            &mut redis,
            &[b"OBJECT", b"ENCODING", case.key.as_bytes()],
        ));
        if enc != b"hashtable" && case.same_bytes_back {
            let theirs = bytes(run(&mut redis, &[b"DUMP", case.key.as_bytes()]));
            assert!(theirs == payload, "{}: DUMP bytes differ", case.key);
        }
    }
}
