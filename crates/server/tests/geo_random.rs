//! Randomized differential test of the geo commands: a seeded generator GEOADDs random
//! points (clusters around a random centre, which is sometimes near a pole or the
//! antimeridian, with exact duplicates so that equally distant points must come in Redis's
//! order, and scattered points all over the map), then sends random GEOSEARCH,
//! GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER (and `_RO`) queries with random shapes,
//! units, options, COUNT [ANY] and sort orders, plus GEODIST, GEOPOS and GEOHASH, to a real
//! `redis-server` and to lockstep's server. Every reply must be the same, byte for byte;
//! a STORE is followed by a ZRANGE WITHSCORES of its destination.
//!
//! Seeds alternate RESP2 and RESP3, and Redis's default sorted-set encoding with a tiny
//! listpack limit (so searches also run over skiplists).
//!
//! Environment:
//! - `GEO_RANDOM_SEED=N` or `GEO_RANDOM_SEED=A..B`: the seeds to run (default `1..9`).
//! - `GEO_RANDOM_ITERATIONS=N`: queries per seed (default 400).
//! - `GEO_RANDOM_TRACE=1`: print every command.
//!
//! A failure names its seed and command; rerun it with `GEO_RANDOM_SEED=<seed>`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::rng::Rng;
use common::RedisServer;
use lockstep_resp::{encode_command, Decoder};
use lockstep_server::{EmbeddedServer, ServerConfig};

const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_SEEDS: std::ops::Range<u64> = 1..9;
const DEFAULT_ITERATIONS: usize = 400;

const LAT_LIMIT: f64 = 85.05112878;

/// A connection that answers each command with the reply's exact bytes.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("read timeout");
        Conn {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::default(),
        }
    }

    fn call(&mut self, argv: &[String]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_command(argv, &mut out);
        self.stream.write_all(&out).expect("send");
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let before = self.buf.len();
            let snapshot = self.buf.clone();
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(_)) => {
                    let used = before - self.buf.len();
                    return snapshot[..used].to_vec();
                }
                Ok(None) => {}
                Err(e) => panic!("undecodable reply to {argv:?}: {e:?}"),
            }
            assert!(Instant::now() < deadline, "no reply to {argv:?}");
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "connection closed after {argv:?}");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A longitude/latitude printed as a client would send it: full precision, or a few
/// decimals.
fn coord(rng: &mut Rng, v: f64) -> String {
    match rng.below(3) {
        0 => format!("{v}"),
        1 => format!("{v:.6}"),
        _ => format!("{v:.2}"),
    }
}

fn clamp_lat(lat: f64) -> f64 {
    lat.clamp(-LAT_LIMIT, LAT_LIMIT)
}

/// Wraps a longitude into [-180, 180].
fn wrap_lon(lon: f64) -> f64 {
    if lon > 180.0 {
        lon - 360.0
    } else if lon < -180.0 {
        lon + 360.0
    } else {
        lon
    }
}

/// A centre for a cluster: anywhere, near a pole, or near the antimeridian.
fn centre(rng: &mut Rng) -> (f64, f64) {
    match rng.below(5) {
        0 => (rng.uniform(-180.0, 180.0), rng.uniform(75.0, LAT_LIMIT)),
        1 => (rng.uniform(-180.0, 180.0), rng.uniform(-LAT_LIMIT, -75.0)),
        2 => (
            *rng.pick(&[179.9, -179.9, 180.0, -180.0, 179.999]),
            rng.uniform(-60.0, 60.0),
        ),
        _ => (rng.uniform(-180.0, 180.0), rng.uniform(-80.0, 80.0)),
    }
}

/// A radius in meters, from a meter to half the planet.
fn radius_meters(rng: &mut Rng) -> f64 {
    10f64.powf(rng.uniform(0.0, 7.3))
}

/// A random distance as arguments: the value and a random unit.
fn random_distance(rng: &mut Rng) -> (String, String) {
    let meters = radius_meters(rng);
    let (unit, per) = *rng.pick(&[("m", 1.0), ("km", 1000.0), ("mi", 1609.34), ("ft", 0.3048)]);
    let unit = if rng.chance(20) {
        unit.to_uppercase()
    } else {
        unit.to_string()
    };
    let value = meters / per;
    let text = if rng.chance(50) {
        format!("{value:.3}")
    } else {
        format!("{}", value.round())
    };
    (text, unit)
}

struct World {
    members: Vec<String>,
    /// Where queries centre: the clusters' centres.
    centres: Vec<(f64, f64)>,
}

/// GEOADDs random points to `key` on both servers.
fn populate(rng: &mut Rng, send: &mut impl FnMut(Vec<String>), key: &str) -> World {
    let mut members = Vec::new();
    let mut centres = Vec::new();
    let mut n = 0;
    for _ in 0..1 + rng.below(3) {
        let c = centre(rng);
        centres.push(c);
        let spread = 10f64.powf(rng.uniform(-4.0, 1.5));
        let points = 20 + rng.below(150);
        let mut argv = vec!["GEOADD".to_string(), key.to_string()];
        let mut last: Option<(String, String)> = None;
        for _ in 0..points {
            let (lon, lat) = match &last {
                // Exact duplicates: ties in distance.
                Some(prev) if rng.chance(10) => prev.clone(),
                _ => {
                    let lon = wrap_lon(c.0 + rng.uniform(-spread, spread));
                    let lat = clamp_lat(c.1 + rng.uniform(-spread, spread));
                    (coord(rng, lon), coord(rng, lat))
                }
            };
            let member = format!("m{n}");
            n += 1;
            argv.extend([lon.clone(), lat.clone(), member.clone()]);
            members.push(member);
            last = Some((lon, lat));
        }
        send(argv);
    }
    // Points all over the map.
    let mut argv = vec!["GEOADD".to_string(), key.to_string()];
    for _ in 0..rng.below(40) {
        let lon = rng.uniform(-180.0, 180.0);
        let lat = rng.uniform(-LAT_LIMIT, LAT_LIMIT);
        let member = format!("w{n}");
        n += 1;
        argv.extend([coord(rng, lon), coord(rng, lat), member.clone()]);
        members.push(member);
    }
    if argv.len() > 2 {
        send(argv);
    }
    World { members, centres }
}

/// The options shared by every search: WITH*, COUNT [ANY], ASC/DESC, in a random order.
fn search_options(rng: &mut Rng, with: bool) -> Vec<String> {
    let mut opts: Vec<Vec<String>> = Vec::new();
    if with {
        for w in ["WITHDIST", "WITHCOORD", "WITHHASH"] {
            if rng.chance(40) {
                opts.push(vec![w.to_string()]);
            }
        }
    }
    if rng.chance(40) {
        let count = *rng.pick(&[1, 2, 3, 5, 10, 50, 1000]);
        let mut c = vec!["COUNT".to_string(), count.to_string()];
        if rng.chance(30) {
            c.push("ANY".to_string());
        }
        opts.push(c);
    }
    match rng.below(3) {
        0 => opts.push(vec!["ASC".to_string()]),
        1 => opts.push(vec!["DESC".to_string()]),
        _ => {}
    }
    // Fisher-Yates.
    for i in (1..opts.len()).rev() {
        let j = rng.below(i + 1);
        opts.swap(i, j);
    }
    opts.concat()
}

/// A query centre: a cluster centre nudged, or a member.
fn query_point(rng: &mut Rng, world: &World) -> (f64, f64) {
    let c = *rng.pick(&world.centres);
    let nudge = 10f64.powf(rng.uniform(-4.0, 1.0));
    (
        wrap_lon(c.0 + rng.uniform(-nudge, nudge)),
        clamp_lat(c.1 + rng.uniform(-nudge, nudge)),
    )
}

/// One random command, and what to run after it to see its effect.
fn query(rng: &mut Rng, world: &World, key: &str) -> Vec<Vec<String>> {
    let s = |v: &str| v.to_string();
    let member = |rng: &mut Rng| rng.pick(&world.members).clone();
    let mut cmds = Vec::new();
    match rng.below(10) {
        0..=3 => {
            let store = rng.chance(20);
            let mut argv = if store {
                vec![s("GEOSEARCHSTORE"), s("dst"), s(key)]
            } else {
                vec![s("GEOSEARCH"), s(key)]
            };
            if rng.chance(40) {
                argv.extend([s("FROMMEMBER"), member(rng)]);
            } else {
                let (lon, lat) = query_point(rng, world);
                argv.extend([s("FROMLONLAT"), coord(rng, lon), coord(rng, lat)]);
            }
            if rng.chance(50) {
                let (r, unit) = random_distance(rng);
                argv.extend([s("BYRADIUS"), r, unit]);
            } else {
                let (w, unit) = random_distance(rng);
                let h_meters = radius_meters(rng);
                let per = match unit.to_lowercase().as_str() {
                    "km" => 1000.0,
                    "mi" => 1609.34,
                    "ft" => 0.3048,
                    _ => 1.0,
                };
                argv.extend([s("BYBOX"), w, format!("{:.2}", h_meters / per), unit]);
            }
            argv.extend(search_options(rng, !store));
            if store && rng.chance(50) {
                argv.push(s("STOREDIST"));
            }
            cmds.push(argv);
            if store {
                cmds.push(vec![
                    s("ZRANGE"),
                    s("dst"),
                    s("0"),
                    s("-1"),
                    s("WITHSCORES"),
                ]);
            }
        }
        4..=5 => {
            let ro = rng.chance(30);
            let (lon, lat) = query_point(rng, world);
            let (r, unit) = random_distance(rng);
            let name = if ro { "GEORADIUS_RO" } else { "GEORADIUS" };
            let mut argv = vec![s(name), s(key), coord(rng, lon), coord(rng, lat), r, unit];
            let store = !ro && rng.chance(20);
            argv.extend(search_options(rng, !store));
            if store {
                argv.extend([
                    s(if rng.chance(50) { "STORE" } else { "STOREDIST" }),
                    s("dst"),
                ]);
            }
            cmds.push(argv);
            if store {
                cmds.push(vec![
                    s("ZRANGE"),
                    s("dst"),
                    s("0"),
                    s("-1"),
                    s("WITHSCORES"),
                ]);
            }
        }
        6..=7 => {
            let ro = rng.chance(30);
            let (r, unit) = random_distance(rng);
            let name = if ro {
                "GEORADIUSBYMEMBER_RO"
            } else {
                "GEORADIUSBYMEMBER"
            };
            let mut argv = vec![s(name), s(key), member(rng), r, unit];
            let store = !ro && rng.chance(20);
            argv.extend(search_options(rng, !store));
            if store {
                argv.extend([
                    s(if rng.chance(50) { "STORE" } else { "STOREDIST" }),
                    s("dst"),
                ]);
            }
            cmds.push(argv);
            if store {
                cmds.push(vec![
                    s("ZRANGE"),
                    s("dst"),
                    s("0"),
                    s("-1"),
                    s("WITHSCORES"),
                ]);
            }
        }
        8 => {
            let mut argv = vec![s("GEODIST"), s(key), member(rng), member(rng)];
            if rng.chance(70) {
                let unit = *rng.pick(&["m", "km", "mi", "ft"]);
                argv.push(s(unit));
            }
            cmds.push(argv);
        }
        _ => {
            let name = if rng.chance(50) { "GEOPOS" } else { "GEOHASH" };
            let mut argv = vec![s(name), s(key)];
            for _ in 0..1 + rng.below(4) {
                argv.push(member(rng));
            }
            cmds.push(argv);
        }
    }
    cmds
}

fn seeds() -> Vec<u64> {
    match std::env::var("GEO_RANDOM_SEED") {
        Ok(v) => match v.split_once("..") {
            Some((a, b)) => (a.parse().expect("seed")..b.parse().expect("seed")).collect(),
            None => vec![v.parse().expect("seed")],
        },
        Err(_) => DEFAULT_SEEDS.collect(),
    }
}

fn run_seed(seed: u64, redis_port: u16, our_port: u16, iterations: usize, trace: bool) {
    let mut rng = Rng(seed);
    let mut redis = Conn::open(redis_port);
    let mut ours = Conn::open(our_port);
    if seed % 2 == 1 {
        // The replies name each server's own client id: sent, not compared.
        let hello = ["HELLO".to_string(), "3".to_string()];
        redis.call(&hello);
        ours.call(&hello);
    }
    let mut failures = Vec::new();
    let mut both = |argv: Vec<String>, failures: &mut Vec<String>| {
        if trace {
            eprintln!("seed {seed}: {argv:?}");
        }
        let expected = redis.call(&argv);
        let got = ours.call(&argv);
        if expected != got && failures.len() < 5 {
            failures.push(format!(
                "seed {seed}: {argv:?}\n    redis:    {}\n    lockstep: {}",
                expected.escape_ascii(),
                got.escape_ascii()
            ));
        }
    };
    let s = |v: &str| v.to_string();
    both(vec![s("FLUSHALL")], &mut failures);
    let listpack_entries = if seed % 4 >= 2 { "8" } else { "128" };
    both(
        vec![
            s("CONFIG"),
            s("SET"),
            s("zset-max-listpack-entries"),
            s(listpack_entries),
        ],
        &mut failures,
    );
    let world = populate(&mut rng, &mut |argv| both(argv, &mut failures), "geo");
    both(vec![s("OBJECT"), s("ENCODING"), s("geo")], &mut failures);
    for _ in 0..iterations {
        for argv in query(&mut rng, &world, "geo") {
            both(argv, &mut failures);
        }
        if failures.len() >= 5 {
            break;
        }
    }
    both(
        vec![
            s("CONFIG"),
            s("SET"),
            s("zset-max-listpack-entries"),
            s("128"),
        ],
        &mut failures,
    );
    assert!(
        failures.is_empty(),
        "lockstep differs from redis-server:\n{}\n(rerun with GEO_RANDOM_SEED={seed})",
        failures.join("\n")
    );
}

#[test]
fn random_geo_queries_reply_like_redis() {
    let redis = RedisServer::start();
    let ours = EmbeddedServer::start(ServerConfig::ephemeral()).expect("start lockstep server");
    let iterations = std::env::var("GEO_RANDOM_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS);
    let trace = std::env::var_os("GEO_RANDOM_TRACE").is_some();
    for seed in seeds() {
        run_seed(
            seed,
            redis.addr().port(),
            ours.addr().port(),
            iterations,
            trace,
        );
    }
}
