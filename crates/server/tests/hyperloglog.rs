//! HyperLogLog values travel between lockstep and redis-server: both build the same bytes
//! from the same PFADDs, and a value copied from one server into the other (SET of GET's
//! bytes) counts the same and keeps accepting elements, in both directions, sparse and
//! dense. The real redis-server is required (set `REDIS_SERVER` to its path if it is not
//! on PATH).

mod common;

use std::time::Duration;

use common::{start, Conn, RedisServer};
use lockstep_resp::Frame;

/// The two servers, one connection to each.
struct Pair {
    redis: Conn,
    lockstep: Conn,
    _redis_server: RedisServer,
    _lockstep_server: lockstep_server::EmbeddedServer,
}

impl Pair {
    fn start() -> Pair {
        let redis_server = RedisServer::start();
        let lockstep_server = start();
        Pair {
            redis: Conn::open(redis_server.addr()),
            lockstep: Conn::open(lockstep_server.addr()),
            _redis_server: redis_server,
            _lockstep_server: lockstep_server,
        }
    }

    /// Sends `args` to both and insists on the same reply, which it returns.
    fn both(&mut self, args: &[&[u8]]) -> Frame {
        let from_redis = self.redis.command_bytes(args);
        let from_lockstep = self.lockstep.command_bytes(args);
        assert_eq!(from_lockstep, from_redis, "{:?}", printable(args));
        from_redis
    }
}

fn printable(args: &[&[u8]]) -> Vec<String> {
    args.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn bytes_of(frame: Frame) -> Vec<u8> {
    match frame {
        Frame::Bulk(b) => b.to_vec(),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

/// `PFADD key` with elements `prefix0`, `prefix1`, ... up to `count`.
fn pfadd_args(key: &str, prefix: &str, count: usize) -> Vec<Vec<u8>> {
    let mut args = vec![b"PFADD".to_vec(), key.as_bytes().to_vec()];
    args.extend((0..count).map(|i| format!("{prefix}{i}").into_bytes()));
    args
}

fn refs(args: &[Vec<u8>]) -> Vec<&[u8]> {
    args.iter().map(Vec::as_slice).collect()
}

/// Element counts that give a sparse value, one at the sparse limit's edge and dense ones.
const SIZES: &[usize] = &[0, 1, 3, 50, 400, 1500, 3000, 20000];

#[test]
fn the_same_pfadds_build_the_same_bytes() {
    let mut pair = Pair::start();
    for &n in SIZES {
        let key = format!("h{n}");
        pair.both(&refs(&pfadd_args(&key, "e", n)));
        let built = bytes_of(pair.both(&[b"GET", key.as_bytes()]));
        assert!(built.starts_with(b"HYLL"));
        pair.both(&[b"PFDEBUG", b"ENCODING", key.as_bytes()]);
        pair.both(&[b"PFCOUNT", key.as_bytes()]);
        // The count is cached in the header now: the bytes still agree.
        pair.both(&[b"GET", key.as_bytes()]);
        pair.both(&refs(&pfadd_args(&key, "more", n / 2 + 1)));
        pair.both(&[b"GET", key.as_bytes()]);
    }
}

/// Copies `key` from `from` into `to` under `copy` (SET of GET's bytes).
fn copy(from: &mut Conn, to: &mut Conn, key: &str, copy: &str) -> Vec<u8> {
    let value = bytes_of(from.command(&["GET", key]));
    assert_eq!(
        to.command_bytes(&[b"SET", copy.as_bytes(), &value]),
        Frame::simple("OK")
    );
    value
}

#[test]
fn values_copied_from_redis_count_and_grow_in_lockstep() {
    let mut pair = Pair::start();
    for &n in SIZES {
        let key = format!("h{n}");
        let args = pfadd_args(&key, "r", n);
        assert!(matches!(
            pair.redis.command_bytes(&refs(&args)),
            Frame::Integer(_)
        ));
        let copied = copy(&mut pair.redis, &mut pair.lockstep, &key, &key);
        assert_eq!(
            bytes_of(pair.lockstep.command(&["GET", &key])),
            copied,
            "SET keeps the bytes"
        );
        pair.both(&[b"PFCOUNT", key.as_bytes()]);
        pair.both(&[b"GET", key.as_bytes()]);
        pair.both(&refs(&pfadd_args(&key, "after", n + 10)));
        pair.both(&[b"PFCOUNT", key.as_bytes()]);
        pair.both(&[b"GET", key.as_bytes()]);
    }
}

#[test]
fn values_copied_from_lockstep_count_and_grow_in_redis() {
    let mut pair = Pair::start();
    for &n in SIZES {
        let key = format!("h{n}");
        let args = pfadd_args(&key, "l", n);
        assert!(matches!(
            pair.lockstep.command_bytes(&refs(&args)),
            Frame::Integer(_)
        ));
        copy(&mut pair.lockstep, &mut pair.redis, &key, &key);
        pair.both(&[b"PFCOUNT", key.as_bytes()]);
        pair.both(&[b"GET", key.as_bytes()]);
        pair.both(&refs(&pfadd_args(&key, "after", n + 10)));
        pair.both(&[b"PFDEBUG", b"ENCODING", key.as_bytes()]);
        pair.both(&[b"GET", key.as_bytes()]);
    }
}

#[test]
fn copied_values_merge_with_native_ones() {
    let mut pair = Pair::start();
    // A sparse and a dense value built in redis-server, a sparse and a dense one built
    // in lockstep; each side gets the other's two by copy, then merges all four.
    for (conn, prefix) in [(&mut pair.redis, "r"), (&mut pair.lockstep, "l")] {
        for (name, n) in [("small", 30), ("large", 5000)] {
            let key = format!("{prefix}-{name}");
            conn.command_bytes(&refs(&pfadd_args(&key, &key, n)));
        }
    }
    for key in ["r-small", "r-large"] {
        copy(&mut pair.redis, &mut pair.lockstep, key, key);
    }
    for key in ["l-small", "l-large"] {
        copy(&mut pair.lockstep, &mut pair.redis, key, key);
    }
    pair.both(&[b"PFCOUNT", b"r-small", b"l-small"]);
    pair.both(&[b"PFCOUNT", b"r-small", b"l-large", b"r-large", b"l-small"]);
    pair.both(&[b"PFMERGE", b"small", b"r-small", b"l-small"]);
    pair.both(&[b"GET", b"small"]);
    pair.both(&[
        b"PFMERGE", b"all", b"r-small", b"l-large", b"r-large", b"l-small",
    ]);
    pair.both(&[b"GET", b"all"]);
    pair.both(&[b"PFCOUNT", b"all"]);
}

#[test]
fn pfselftest_passes_on_both() {
    let mut pair = Pair::start();
    // Ten million additions: slow in a debug build, so this one reply may take a while.
    pair.lockstep
        .stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    assert_eq!(pair.both(&[b"PFSELFTEST"]), Frame::simple("OK"));
}
