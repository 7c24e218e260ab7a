//! `lockstep stress` end to end: the binary against its embedded cluster and against a
//! real redis-server, judged by its exit code and the numbers of its JSON report.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn lockstep() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lockstep"))
}

/// A report file of its own, removed when dropped.
struct JsonFile(PathBuf);

impl JsonFile {
    fn new(name: &str) -> JsonFile {
        JsonFile(std::env::temp_dir().join(format!(
            "lockstep-stress-{name}-{}.json",
            std::process::id()
        )))
    }

    fn read(&self) -> Value {
        let text = std::fs::read_to_string(&self.0).expect("the JSON report was written");
        serde_json::from_str(&text).expect("the JSON report parses")
    }
}

impl Drop for JsonFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `lockstep stress ARGS --json FILE` and returns its output and report.
fn stress(name: &str, args: &[&str]) -> (Output, Value) {
    let json = JsonFile::new(name);
    let out = lockstep()
        .arg("stress")
        .args(args)
        .arg("--json")
        .arg(&json.0)
        .output()
        .expect("lockstep runs");
    let report = json.read();
    (out, report)
}

fn scenarios(report: &Value) -> &Vec<Value> {
    report["scenarios"].as_array().expect("scenarios array")
}

fn scenario<'a>(report: &'a Value, name: &str) -> &'a Value {
    scenarios(report)
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn explain(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every scenario ran, every operation succeeded, no transition outside the graph.
fn assert_clean(report: &Value) {
    for s in scenarios(report) {
        if !s["skipped"].is_null() {
            continue;
        }
        let name = &s["name"];
        assert_eq!(s["passed"], true, "{name}: {}", s["failures"]);
        assert!(n(&s["total"]) > 0, "{name} ran nothing");
        assert_eq!(s["successful"], s["total"], "{name}");
        assert_eq!(n(&s["failed"]), 0, "{name}");
        assert_eq!(n(&s["timeouts"]), 0, "{name}");
        assert_eq!(n(&s["pool_timeouts"]), 0, "{name}");
        assert_eq!(n(&s["invalid_transitions"]), 0, "{name}");
        assert!(n(&s["latency_us"]["p50"]) > 0, "{name}");
        assert!(
            n(&s["latency_us"]["max"]) >= n(&s["latency_us"]["p99"]),
            "{name}"
        );
        let in_histogram: u64 = s["histogram_us"]
            .as_array()
            .map(|b| b.iter().map(|b| n(&b["count"])).sum())
            .unwrap_or(0);
        assert_eq!(in_histogram, n(&s["successful"]), "{name}: histogram");
    }
}

/// The chaos scenarios that ran injected faults and lost, duplicated or invented nothing.
fn assert_no_write_lost(report: &Value) {
    let mut ran = 0;
    for s in scenarios(report).iter().filter(|s| s["mode"] == "chaos") {
        if !s["skipped"].is_null() {
            continue;
        }
        ran += 1;
        let name = &s["name"];
        assert_eq!(s["passed"], true, "{name}: {}", s["failures"]);
        let ack = &s["acknowledged_writes"];
        assert!(n(&ack["acknowledged"]) > 0, "{name}: no write acknowledged");
        for list in ["lost", "duplicated", "phantom", "unreadable"] {
            assert_eq!(ack[list], serde_json::json!([]), "{name}: {list}");
        }
        assert_eq!(n(&s["invalid_transitions"]), 0, "{name}");
    }
    assert!(ran > 0, "no chaos scenario ran");
}

fn transitions(s: &Value, from: &str, to: &str) -> u64 {
    s["transitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["from"] == from && t["to"] == to)
        .map(|t| n(&t["count"]))
        .sum()
}

#[test]
fn basic_on_the_embedded_cluster_passes_with_no_failed_operation() {
    let (out, report) = stress("basic", &["--mode", "basic", "--duration", "2s"]);
    assert!(out.status.success(), "{}", explain(&out));
    assert_eq!(report["embedded"], true);
    assert_eq!(report["passed"], true);
    assert_eq!(scenarios(&report).len(), 4);
    assert_clean(&report);
    let pool = &scenario(&report, "small-pool")["pool"];
    assert!(n(&pool["hits"]) > 0, "a pool of 5 for 100 tasks reuses");
    assert_eq!(n(&pool["state_violations"]), 0);
}

#[test]
fn detect_on_the_embedded_cluster_counts_transitions_by_kind_and_none_outside_the_graph() {
    let (out, report) = stress("detect", &["--mode", "detect", "--duration", "2s"]);
    assert!(out.status.success(), "{}", explain(&out));
    assert_clean(&report);
    // Every cold client of the herd and every churned client connected and closed: the
    // detector saw their transitions.
    for name in ["thundering-herd", "client-churn"] {
        let s = scenario(&report, name);
        assert!(transitions(s, "Handshaking", "Ready") > 0, "{name}");
        assert!(transitions(s, "Ready", "Closed") > 0, "{name}");
    }
}

#[test]
fn chaos_on_the_embedded_cluster_kills_and_migrates_and_loses_no_acknowledged_write() {
    let (out, report) = stress(
        "chaos",
        &[
            "--mode",
            "chaos",
            "--scenario",
            "chaos-connection-kills,chaos-write-pauses,chaos-slot-migrations,chaos-failovers",
            "--duration",
            "2s",
        ],
    );
    assert!(out.status.success(), "{}", explain(&out));
    assert_no_write_lost(&report);
    let kills = scenario(&report, "chaos-connection-kills");
    assert!(n(&kills["faults"]["connections killed"]) > 0);
    assert!(
        transitions(kills, "Ready", "Reconnecting") > 0,
        "killed shared connections reconnect, and the detector counts it"
    );
    let moves = scenario(&report, "chaos-slot-migrations");
    assert!(n(&moves["faults"]["slots migrated"]) > 0);
    // The embedded cluster has a replica per primary: a replica takes over for real.
    let failovers = scenario(&report, "chaos-failovers");
    assert!(failovers["skipped"].is_null(), "{failovers}");
    assert!(n(&failovers["faults"]["failovers"]) > 0, "{failovers}");
    // The shared client and the pools follow the new primary at its first MOVED: a
    // failover costs latency, not operations.
    assert_eq!(failovers["successful"], failovers["total"], "{failovers}");
}

/// The node faults of one kind that a chaos scenario reports.
fn node_faults<'a>(s: &'a Value, fault: &str) -> Vec<&'a Value> {
    s["node_faults"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["fault"] == fault)
        .collect()
}

fn ms(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a time: {v}"))
}

#[test]
fn chaos_stops_and_pauses_embedded_primaries_their_replicas_take_over_and_no_acknowledged_write_is_lost(
) {
    let (out, report) = stress(
        "nodes",
        &[
            "--mode",
            "chaos",
            "--scenario",
            "chaos-node-stops,chaos-node-pauses",
            "--duration",
            "1s",
        ],
    );
    assert!(out.status.success(), "{}", explain(&out));
    assert_eq!(scenarios(&report).len(), 2);
    assert_no_write_lost(&report);

    let stops = scenario(&report, "chaos-node-stops");
    let events = node_faults(stops, "stop");
    assert!(!events.is_empty(), "{stops}");
    for ev in events {
        assert!(ev["error"].is_null(), "{ev}");
        // The replica took the slots, well before the node came back, and the node
        // rejoined as a replica.
        assert!(ev["promoted"].is_string(), "{ev}");
        assert_ne!(ev["promoted"], ev["node"], "{ev}");
        let served = ms(&ev["served_after_ms"]);
        assert!(served < ms(&ev["restarted_after_ms"]), "{ev}");
        assert!(served >= 500.0, "not before the node timeout: {ev}");
        assert!(ev["rejoined_after_ms"].is_number(), "{ev}");
        // The workload was served by the promoted replica too, not only once the old
        // primary was back: the pools follow the new map.
        for via in ["shared_client_served_after_ms", "pool_served_after_ms"] {
            assert!(ms(&ev[via]) < ms(&ev["restarted_after_ms"]), "{via}: {ev}");
        }
    }
    assert!(n(&stops["faults"]["replicas promoted"]) > 0, "{stops}");

    let pauses = scenario(&report, "chaos-node-pauses");
    let events = node_faults(pauses, "pause");
    assert!(events.len() >= 2, "{pauses}");
    for ev in &events {
        assert!(ev["error"].is_null(), "{ev}");
        assert!(ev["pool_served_after_ms"].is_number(), "{ev}");
    }
    // Past the node timeout the replica takes over while the primary is silent; within
    // it, the primary answers again itself.
    let long = events
        .iter()
        .find(|e| ms(&e["paused_ms"]) > 500.0)
        .expect("a long pause");
    assert!(long["promoted"].is_string(), "{long}");
    assert!(
        ms(&long["served_after_ms"]) < ms(&long["paused_ms"]),
        "{long}"
    );
    assert!(long["rejoined_after_ms"].is_number(), "{long}");
    let short = events
        .iter()
        .find(|e| ms(&e["paused_ms"]) < 500.0)
        .expect("a short pause");
    assert!(short["promoted"].is_null(), "{short}");
    assert!(
        ms(&short["served_after_ms"]) >= ms(&short["paused_ms"]) - 5.0,
        "{short}"
    );
}

/// A redis-server on a free port, stopped when dropped.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, port }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn every_mode_against_a_standalone_redis_server_passes_and_chaos_loses_nothing() {
    let server = RedisServer::start();
    let addr = format!("127.0.0.1:{}", server.port);
    let (out, report) = stress(
        "redis",
        &["--addrs", &addr, "--mode", "all", "--duration", "4s"],
    );
    assert!(out.status.success(), "{}", explain(&out));
    assert_eq!(report["embedded"], false);
    assert!(report["target"]
        .as_str()
        .is_some_and(|t| t.starts_with("standalone")));
    let (chaos, rest): (Vec<&Value>, Vec<&Value>) = scenarios(&report)
        .iter()
        .partition(|s| s["mode"] == "chaos");
    assert_eq!(rest.len(), 12);
    assert_clean(&serde_json::json!({ "scenarios": rest }));
    assert_no_write_lost(&report);
    // Standalone clients are also watched from outside, edge by edge.
    let cycles = scenario(&report, "rapid-cycles");
    assert!(n(&cycles["watch"]["checked"]) > 0);
    assert_eq!(n(&cycles["watch"]["invalid"]), 0);
    // Migration needs a cluster, node stops and pauses the embedded one: skipped, not
    // failed.
    for name in [
        "chaos-slot-migrations",
        "chaos-node-stops",
        "chaos-node-pauses",
    ] {
        assert!(
            chaos
                .iter()
                .any(|s| s["name"] == name && s["skipped"].is_string()),
            "{name}"
        );
    }
    let stops = scenario(&report, "chaos-node-stops");
    assert!(stops["skipped"]
        .as_str()
        .is_some_and(|why| why.contains("embedded")));
}

#[test]
fn bad_arguments_and_unreachable_servers_are_one_line_and_exit_code_1() {
    let out = lockstep()
        .args(["stress", "--addrs", "nonsense"])
        .output()
        .expect("lockstep runs");
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonsense"));

    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let out = lockstep()
        .args(["stress", "--addrs", &closed.to_string(), "--duration", "1s"])
        .output()
        .expect("lockstep runs");
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);

    let out = lockstep()
        .args(["stress", "--duration", "fast"])
        .output()
        .expect("lockstep runs");
    assert!(!out.status.success());

    let out = lockstep()
        .args([
            "stress",
            "--mode",
            "basic",
            "--scenario",
            "chaos-node-stops",
        ])
        .output()
        .expect("lockstep runs");
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("chaos-node-stops"), "{err}");
}
