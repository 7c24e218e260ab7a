//! Real client libraries against lockstep's server, run as their users run them: the
//! scripts of `tests/clients/` (redis-py; ioredis 5 and 6; node-redis 4 and 6), plus
//! redis-cli and redis-benchmark. Each test starts its own server on an ephemeral port
//! (127.0.0.1 and ::1), with a second one behind `requirepass` for the handshakes that
//! authenticate, and passes when the client exits 0; on failure it prints everything the
//! client said.
//!
//! The cluster clients (redis-py `RedisCluster`, ioredis `Redis.Cluster`, node-redis
//! `createCluster`) run the `cluster_*` scripts against a 3-primary lockstep cluster of
//! their own, and seed 000's connect/disconnect/connect loop runs with ioredis against
//! lockstep's cluster and, for comparison, a real redis-server cluster.
//!
//! The client packages are not vendored: `scripts/test` installs them (`npm ci --prefix
//! tests/clients`, `pip install -r tests/clients/requirements.txt`). When they are missing
//! these tests fail, loudly, rather than skip.

mod cluster_support;
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use cluster_support::RealCluster;
use lockstep_server::{ClusterConfig, EmbeddedCluster, EmbeddedServer, ServerConfig};

/// The password the scripts use for `--auth-port`.
const PASSWORD: &str = "smoke-secret";

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients")
}

fn start() -> EmbeddedServer {
    EmbeddedServer::start(ServerConfig::ephemeral()).expect("start lockstep server")
}

fn start_with_password() -> EmbeddedServer {
    EmbeddedServer::start(ServerConfig {
        requirepass: Some(PASSWORD.into()),
        ..ServerConfig::ephemeral()
    })
    .expect("start lockstep server with a password")
}

fn missing(what: &str) -> ! {
    panic!(
        "{what}. The client tests need the packages of tests/clients: run scripts/test, which \
         installs them (npm ci --prefix tests/clients; \
         python3 -m pip install -r tests/clients/requirements.txt)"
    )
}

/// Fails unless `node_modules` holds `package` (as `npm ci` installs it).
fn require_node_package(package: &str) {
    let manifest = clients_dir()
        .join("node_modules")
        .join(package)
        .join("package.json");
    if !manifest.is_file() {
        missing(&format!("the npm package {package} is not installed"));
    }
}

fn require_redis_py() {
    let found = Command::new("python3")
        .args(["-c", "import redis, redis.asyncio"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match found {
        Ok(status) if status.success() => {}
        Ok(_) => missing("redis-py is not installed for python3"),
        Err(e) => missing(&format!("python3 could not be run ({e})")),
    }
}

/// Runs a client to its end and returns what it did; the scripts stop themselves after
/// 60 s, so a hung server cannot hang the test.
fn run(program: &str, args: &[String]) -> Output {
    let started = Instant::now();
    let output = Command::new(program)
        .args(args)
        .current_dir(clients_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| missing(&format!("{program} could not be run ({e})")));
    eprintln!(
        "{program} {} took {:.1}s",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    output
}

/// Asserts that the client exited 0, showing its whole output either way.
fn assert_success(what: &str, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}

fn run_script(program: &str, script: &str, extra: &[&str]) {
    let server = start();
    let locked = start_with_password();
    let mut args = vec![script.to_string(), server.port().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--auth-port".to_string(), locked.port().to_string()]);
    let output = run(program, &args);
    assert_success(&format!("{program} {}", args.join(" ")), &output);
}

#[test]
fn redis_py_works_against_lockstep() {
    require_redis_py();
    run_script("python3", "smoke.py", &[]);
}

/// A test that runs the node `script` with the npm `package`, whose name the script takes
/// as its argument to pick the library (and version) to load.
macro_rules! node_client_test {
    ($name:ident, $package:literal, $script:literal) => {
        #[test]
        fn $name() {
            require_node_package($package);
            run_script("node", $script, &[$package]);
        }
    };
}

node_client_test!(
    ioredis_5_works_against_lockstep,
    "ioredis",
    "smoke_ioredis.js"
);
node_client_test!(
    ioredis_6_works_against_lockstep_in_resp2_and_resp3,
    "ioredis-v6",
    "smoke_ioredis.js"
);
node_client_test!(
    node_redis_4_works_against_lockstep,
    "redis",
    "smoke_node_redis.js"
);
node_client_test!(
    node_redis_6_works_against_lockstep_in_resp2_and_resp3,
    "redis-v6",
    "smoke_node_redis.js"
);

/// redis-benchmark's tests of what lockstep implements (it exits non-zero on the first
/// error reply), pipelined from 20 clients over random keys. LRANGE_300 to _600 are left
/// out for time: they add nothing LRANGE_100 does not cover.
#[test]
fn redis_benchmark_runs_its_tests() {
    const TESTS: &[(&str, &str)] = &[
        ("ping", "PING_INLINE"),
        ("ping", "PING_MBULK"),
        ("set", "SET"),
        ("get", "GET"),
        ("incr", "INCR"),
        ("lpush", "LPUSH"),
        ("rpush", "RPUSH"),
        ("lpop", "LPOP"),
        ("rpop", "RPOP"),
        ("sadd", "SADD"),
        ("hset", "HSET"),
        ("spop", "SPOP"),
        ("zadd", "ZADD"),
        ("zpopmin", "ZPOPMIN"),
        ("lrange_100", "LRANGE_100 (first 100 elements)"),
        ("mset", "MSET (10 keys)"),
    ];
    let server = start();
    let port = server.port().to_string();
    let tests: Vec<&str> = TESTS.iter().map(|(t, _)| *t).collect();
    let tests = tests.join(",");
    let args: Vec<String> = [
        "-p", &port, "-q", "-n", "2000", "-c", "20", "-P", "16", "-r", "1000", "-t", &tests,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let output = run("redis-benchmark", &args);
    assert_success("redis-benchmark", &output);
    // Progress lines end in \r; each test's result is the last of its lines.
    let stdout = String::from_utf8_lossy(&output.stdout).replace('\r', "\n");
    for (_, label) in TESTS {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("{label}: ")) && l.contains("requests per second")),
            "redis-benchmark did not report {label}:\n{stdout}"
        );
    }
}

/// Runs redis-cli against `port` with `stdin`, asserts it exited 0, returns its stdout.
fn cli(port: u16, args: &[&str], stdin: &[u8]) -> String {
    let port = port.to_string();
    let mut child = Command::new("redis-cli")
        .args(["-p", &port])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("redis-cli could not be run ({e}): run scripts/test"));
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).expect("write redis-cli's stdin");
    }
    let output = child.wait_with_output().expect("redis-cli ends");
    assert_success(&format!("redis-cli {}", args.join(" ")), &output);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `count` SETs of `key:N` to `v`, in RESP, as `redis-cli --pipe` takes them.
fn mass_insertion(count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        let key = format!("key:{i}");
        out.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\nv\r\n", key.len()).as_bytes(),
        );
    }
    out
}

/// --pipe writes everything, then an ECHO of a random marker, and counts the replies until
/// the marker comes back.
#[test]
fn redis_cli_pipe_inserts_every_key_without_errors() {
    let server = start();
    let piped = cli(server.port(), &["--pipe"], &mass_insertion(1000));
    assert!(piped.contains("errors: 0, replies: 1000"), "{piped}");
    assert_eq!(cli(server.port(), &["dbsize"], b""), "1000\n");
}

/// `redis-cli --eval script.lua key1 key2 , arg1 arg2` sends the file as EVAL with the
/// keys before the comma and the arguments after it.
#[test]
fn redis_cli_eval_runs_a_script_file() {
    let server = start();
    let dir = std::env::temp_dir().join(format!("lockstep-cli-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("incr_both.lua");
    std::fs::write(
        &script,
        "redis.call('incrby', KEYS[1], ARGV[1])\n\
         redis.call('incrby', KEYS[2], ARGV[2])\n\
         return {redis.call('get', KEYS[1]), redis.call('get', KEYS[2])}\n",
    )
    .expect("write the script");
    let path = script.to_string_lossy().into_owned();
    let out = cli(
        server.port(),
        &["--eval", &path, "a", "b", ",", "2", "5"],
        b"",
    );
    assert_eq!(out, "2\n5\n");
    let again = cli(
        server.port(),
        &["--eval", &path, "a", "b", ",", "1", "1"],
        b"",
    );
    assert_eq!(again, "3\n6\n");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn redis_cli_x_takes_the_last_argument_from_stdin() {
    let server = start();
    let set = cli(
        server.port(),
        &["-x", "set", "from-stdin"],
        b"line one\nline two",
    );
    assert_eq!(set, "OK\n");
    let got = cli(server.port(), &["get", "from-stdin"], b"");
    assert_eq!(got, "line one\nline two\n");
}

#[test]
fn redis_cli_scan_and_bigkeys_see_every_key() {
    let server = start();
    cli(server.port(), &["--pipe"], &mass_insertion(1000));
    cli(server.port(), &["set", "longest", "seventeen bytes!!"], b"");
    let scanned = cli(server.port(), &["--scan", "--pattern", "key:99*"], b"");
    let mut keys: Vec<&str> = scanned.lines().collect();
    keys.sort_unstable();
    let expected: Vec<String> = std::iter::once("key:99".to_string())
        .chain((990..1000).map(|i| format!("key:{i}")))
        .collect();
    assert_eq!(keys, expected);
    let bigkeys = cli(server.port(), &["--bigkeys"], b"");
    assert!(
        bigkeys.contains("Biggest string found '\"longest\"' has 17 bytes"),
        "{bigkeys}"
    );
    assert!(bigkeys.contains("1001 strings with"), "{bigkeys}");
}

#[test]
fn redis_cli_repeats_a_command_in_the_database_given_by_n() {
    let server = start();
    let counted = cli(
        server.port(),
        &["-n", "3", "-r", "3", "incr", "counter"],
        b"",
    );
    assert_eq!(counted, "1\n2\n3\n");
    assert_eq!(cli(server.port(), &["-n", "3", "dbsize"], b""), "1\n");
    assert_eq!(cli(server.port(), &["dbsize"], b""), "0\n");
}

/// What redis-cli prints for a RESP3 map and for an error reply (it still exits 0).
#[test]
fn redis_cli_prints_resp3_maps_and_errors_as_against_redis() {
    let server = start();
    let hello = cli(server.port(), &["-3", "--no-raw", "hello", "3"], b"");
    let mut lines = hello.lines();
    assert_eq!(lines.next(), Some("1# \"server\" => \"redis\""));
    assert_eq!(lines.next(), Some("2# \"version\" => \"7.0.15\""));
    cli(server.port(), &["set", "text", "abc"], b"");
    assert_eq!(
        cli(server.port(), &["--no-raw", "incr", "text"], b""),
        "(error) ERR value is not an integer or out of range\n"
    );
}

/// The cluster scripts' first argument: every node's port, comma-separated.
fn ports_arg(ports: impl IntoIterator<Item = u16>) -> String {
    ports
        .into_iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn start_cluster() -> EmbeddedCluster {
    EmbeddedCluster::start(ClusterConfig::ephemeral(3)).expect("start a lockstep cluster")
}

fn cluster_ports(cluster: &EmbeddedCluster) -> String {
    ports_arg(cluster.addrs().iter().map(|a| a.port()))
}

/// Runs a cluster client's workload script against a fresh 3-primary lockstep cluster.
fn run_cluster_script(program: &str, script: &str, extra: &[&str]) {
    let cluster = start_cluster();
    let mut args = vec![script.to_string(), cluster_ports(&cluster)];
    args.extend(extra.iter().map(|s| s.to_string()));
    let output = run(program, &args);
    assert_success(&format!("{program} {}", args.join(" ")), &output);
}

#[test]
fn redis_py_cluster_works_against_lockstep_cluster() {
    require_redis_py();
    run_cluster_script("python3", "cluster_py.py", &[]);
}

/// A test that runs the node cluster `script` with the npm `package` against a lockstep
/// cluster.
macro_rules! node_cluster_test {
    ($name:ident, $package:literal, $script:literal) => {
        #[test]
        fn $name() {
            require_node_package($package);
            run_cluster_script("node", $script, &[$package]);
        }
    };
}

node_cluster_test!(
    ioredis_5_cluster_works_against_lockstep_cluster,
    "ioredis",
    "cluster_ioredis.js"
);
node_cluster_test!(
    ioredis_6_cluster_works_against_lockstep_cluster_in_resp2_and_resp3,
    "ioredis-v6",
    "cluster_ioredis.js"
);
node_cluster_test!(
    node_redis_4_cluster_works_against_lockstep_cluster,
    "redis",
    "cluster_node_redis.js"
);
node_cluster_test!(
    node_redis_6_cluster_works_against_lockstep_cluster_in_resp2_and_resp3,
    "redis-v6",
    "cluster_node_redis.js"
);

/// Seed 000's loop with ioredis `package` against the cluster on `ports`: how many of
/// `iterations` ended each way (`"ok"`, or the error's message), in the order the script
/// printed them.
fn reconnect_loop(package: &str, ports: &str, iterations: usize, extra: &[&str]) -> String {
    let mut args = vec![
        "cluster_ioredis.js".to_string(),
        ports.to_string(),
        package.to_string(),
        "--reconnect-loop".to_string(),
        iterations.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let output = run("node", &args);
    assert_success(&format!("node {}", args.join(" ")), &output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line from the loop:\n{stdout}"))
        .to_string()
}

/// Seed 000: `connect()`, SET, `disconnect()`, `connect()` at once, SET, 200 times, on a
/// `Redis.Cluster` whose startup node is `localhost` as in the seed. ioredis 5 and 6 fail
/// every iteration against lockstep with the seed's "Connection is aborted", exactly as
/// they do against a real redis-server cluster (`real_cluster_fails_ioredis_seed_000_loop_alike`):
/// the pool's late "close" event of the first connection lands on the second `connect()`
/// while it resolves `localhost` (DEBUG=ioredis:cluster shows `connecting -> close`, then
/// "discard connecting after resolving startup nodes"). It is ioredis's own bug, not the
/// server's: a new `Redis.Cluster` for the second connect succeeds all 200 times, and so
/// does ioredis 6 given the address `127.0.0.1` (no lookup to race with). ioredis 5 with
/// `127.0.0.1` fails nearly every iteration too, with "None of startup nodes is
/// available" (the same stale close, a step later), on both servers; how many of the 200
/// it fails depends on timing, so it is not asserted.
#[test]
fn ioredis_cluster_reconnect_loop_of_seed_000_against_lockstep_cluster() {
    require_node_package("ioredis");
    require_node_package("ioredis-v6");
    let cluster = start_cluster();
    let ports = cluster_ports(&cluster);
    for package in ["ioredis", "ioredis-v6"] {
        assert_eq!(
            reconnect_loop(package, &ports, 200, &["--host", "localhost"]),
            r#"{"Connection is aborted":200}"#,
            "{package}: seed 000's loop as the seed ran it"
        );
        assert_eq!(
            reconnect_loop(
                package,
                &ports,
                200,
                &["--host", "localhost", "--fresh-client"]
            ),
            r#"{"ok":200}"#,
            "{package}: the loop with a new client for the second connect"
        );
    }
    assert_eq!(
        reconnect_loop("ioredis-v6", &ports, 200, &["--host", "127.0.0.1"]),
        r#"{"ok":200}"#,
        "ioredis 6: seed 000's loop on 127.0.0.1"
    );
}

/// The comparison for the test above: ioredis 5 runs seed 000's loop against a real
/// redis-server cluster of 3 primaries (`redis-cli --cluster create`) and fails the same
/// way on every iteration, while a new client per connect never fails.
#[test]
fn real_cluster_fails_ioredis_seed_000_loop_alike() {
    require_node_package("ioredis");
    let real = RealCluster::start(3);
    let ports = ports_arg(real.nodes.iter().map(|n| n.port));
    assert_eq!(
        reconnect_loop("ioredis", &ports, 200, &["--host", "localhost"]),
        r#"{"Connection is aborted":200}"#,
        "ioredis 5 against redis-server: seed 000's loop as the seed ran it"
    );
    assert_eq!(
        reconnect_loop(
            "ioredis",
            &ports,
            200,
            &["--host", "localhost", "--fresh-client"]
        ),
        r#"{"ok":200}"#,
        "ioredis 5 against redis-server: a new client for the second connect"
    );
}
