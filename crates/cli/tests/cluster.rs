//! `lockstep cluster` as users run it: the ready line, `redis-cli -c` following redirects
//! across the nodes, `redis-cli --cluster check` finding a healthy cluster, clear errors
//! for bad arguments, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn lockstep() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lockstep"))
}

/// A running `lockstep cluster`, stopped (SIGTERM) on drop.
struct Running {
    child: Child,
    addrs: Vec<SocketAddr>,
    ready_line: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `lockstep cluster` with `args` and reads its ready line.
fn start(args: &[&str]) -> Running {
    let mut child = lockstep()
        .arg("cluster")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lockstep");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let addrs = line
        .split_once(" at ")
        .and_then(|(_, rest)| rest.split_once(" ("))
        .map(|(addrs, _)| addrs)
        .unwrap_or_else(|| panic!("unexpected ready line: {line:?}"))
        .split_whitespace()
        .map(|a| {
            a.parse()
                .unwrap_or_else(|_| panic!("bad address {a:?} in {line:?}"))
        })
        .collect();
    Running {
        child,
        addrs,
        ready_line: line,
    }
}

fn redis_cli(args: &[&str]) -> Output {
    Command::new("redis-cli")
        .args(args)
        .output()
        .expect("these tests need redis-cli")
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn redis_cli_follows_redirects_across_the_nodes() {
    let cluster = start(&["--nodes", "3", "--port", "0"]);
    assert_eq!(cluster.addrs.len(), 3, "{}", cluster.ready_line);
    assert!(
        cluster.ready_line.contains("cluster_state:ok"),
        "{}",
        cluster.ready_line
    );
    let ports: Vec<String> = cluster.addrs.iter().map(|a| a.port().to_string()).collect();
    // Keys of every node's slots, written through the first node and read through the
    // last, each redirect followed by redis-cli.
    let keys = ["a", "b", "c", "d", "e", "f", "g", "h", "{user}1", "{user}2"];
    for key in keys {
        let set = redis_cli(&["-c", "-p", &ports[0], "SET", key, &format!("v-{key}")]);
        assert_eq!(stdout_of(&set), "OK", "SET {key}");
    }
    for key in keys {
        let get = redis_cli(&["-c", "-p", &ports[2], "GET", key]);
        assert_eq!(stdout_of(&get), format!("v-{key}"), "GET {key}");
    }
    // Each key lives on its owner alone.
    let sizes: Vec<usize> = ports
        .iter()
        .map(|p| {
            stdout_of(&redis_cli(&["-p", p, "DBSIZE"]))
                .parse()
                .expect("DBSIZE")
        })
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), keys.len(), "{sizes:?}");
    assert!(
        sizes.iter().all(|&n| n > 0),
        "every node holds keys: {sizes:?}"
    );
    let moved = redis_cli(&["-p", &ports[0], "GET", "a"]);
    assert_eq!(
        stdout_of(&moved),
        format!("MOVED 15495 127.0.0.1:{}", ports[2])
    );
}

#[test]
fn redis_cli_cluster_check_finds_every_slot_covered() {
    let cluster = start(&["--nodes", "4", "--port", "0"]);
    let first = cluster.addrs[0].to_string();
    let check = redis_cli(&["--cluster", "check", &first]);
    let text = stdout_of(&check);
    assert!(check.status.success(), "{text}");
    assert!(
        text.contains("[OK] All nodes agree about slots configuration."),
        "{text}"
    );
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    assert!(
        text.contains("slots:[0-4095] (4096 slots) master"),
        "{text}"
    );
}

#[test]
fn a_bad_node_count_is_one_clear_line_and_exit_code_1() {
    for nodes in ["0", "1001"] {
        let out = lockstep()
            .args(["cluster", "--nodes", nodes, "--port", "0"])
            .output()
            .expect("run lockstep");
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim(),
            format!("lockstep cluster: a cluster needs 1 to 1000 primaries, not {nodes}")
        );
    }
}

#[test]
fn a_taken_port_is_one_clear_line_and_exit_code_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let out = lockstep()
        .args(["cluster", "--nodes", "2", "--port", &port.to_string()])
        .output()
        .expect("run lockstep");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Address already in use"), "{err}");
}

#[test]
fn sigterm_stops_every_node() {
    let mut cluster = start(&["--nodes", "2", "--port", "0"]);
    let status = Command::new("kill")
        .args(["-TERM", &cluster.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = cluster.child.try_wait().expect("try_wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "lockstep cluster did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn fault_injection_accepts_lockstep_fault_from_redis_cli() {
    let cluster = start(&[
        "--nodes",
        "3",
        "--replicas",
        "1",
        "--node-timeout",
        "500",
        "--port",
        "0",
        "--fault-injection",
    ]);
    assert_eq!(cluster.addrs.len(), 6, "{}", cluster.ready_line);
    let port = |i: usize| cluster.addrs[i].port().to_string();
    let help = stdout_of(&redis_cli(&["-p", &port(0), "LOCKSTEP.FAULT", "HELP"]));
    assert!(help.contains("PARTITION <node> <ms>"), "{help}");
    // Node 0 stops node 1 (named by address): its port refuses, and it comes back.
    let victim = cluster.addrs[1].to_string();
    let stop = redis_cli(&["-p", &port(0), "LOCKSTEP.FAULT", "STOP", &victim]);
    assert_eq!(stdout_of(&stop), "OK");
    assert!(std::net::TcpStream::connect(cluster.addrs[1]).is_err());
    let restart = redis_cli(&["-p", &port(2), "LOCKSTEP.FAULT", "RESTART", "1"]);
    assert_eq!(stdout_of(&restart), "OK");
    assert_eq!(stdout_of(&redis_cli(&["-p", &port(1), "PING"])), "PONG");
    let latency = redis_cli(&[
        "-p",
        &port(0),
        "lockstep.fault",
        "latency",
        "2",
        "50",
        "200",
    ]);
    assert_eq!(stdout_of(&latency), "OK");
    let log = stdout_of(&redis_cli(&["-p", &port(3), "LOCKSTEP.FAULT", "LOG"]));
    assert!(log.contains(&format!("stop node 1 ({victim})")), "{log}");
    assert!(log.contains(&format!("restart node 1 ({victim})")), "{log}");
    assert!(log.contains("latency 50 ms on node 2"), "{log}");
    let bad = stdout_of(&redis_cli(&["-p", &port(0), "LOCKSTEP.FAULT", "STOP", "6"]));
    assert!(bad.starts_with("ERR no such node '6'"), "{bad}");
    // SIGTERM still stops every node, the restarted one included.
    let mut cluster = cluster;
    let status = Command::new("kill")
        .args(["-TERM", &cluster.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = cluster.child.try_wait().expect("try_wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "lockstep cluster did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(std::net::TcpStream::connect(cluster.addrs[1]).is_err());
    drop(cluster);

    let plain = start(&["--nodes", "1", "--port", "0"]);
    let refused = stdout_of(&redis_cli(&[
        "-p",
        &plain.addrs[0].port().to_string(),
        "LOCKSTEP.FAULT",
        "STOP",
        "0",
    ]));
    assert!(
        refused.starts_with("ERR fault injection is off"),
        "{refused}"
    );
    let help = lockstep()
        .args(["cluster", "--help"])
        .output()
        .expect("run lockstep");
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--fault-injection"), "{text}");
    assert!(
        text.contains("LOCKSTEP.FAULT PARTITION <node> <ms>"),
        "{text}"
    );
}
