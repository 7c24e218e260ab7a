//! The `lockstep server` command as users run it: the ready line, the exit code and message
//! for a port that is taken, and a clean stop on SIGINT and SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn lockstep() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lockstep"))
}

/// Starts `lockstep server` with `args`, returns the child and the addresses of its ready line.
fn start(args: &[&str]) -> (Child, Vec<SocketAddr>) {
    let mut child = lockstep()
        .arg("server")
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
        .split_once("listening on ")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("unexpected ready line: {line:?}"))
        .split_whitespace()
        .map(|a| {
            a.parse()
                .unwrap_or_else(|_| panic!("bad address {a:?} in {line:?}"))
        })
        .collect();
    (child, addrs)
}

fn ping(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(b"PING\r\n").expect("write");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn wait_with_deadline(child: &mut Child, deadline: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("lockstep server did not stop within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ready_line_names_both_loopback_families_by_default() {
    let (mut child, addrs) = start(&["--port", "0"]);
    assert!(
        addrs.iter().any(|a| a.ip().is_loopback() && a.is_ipv4()),
        "{addrs:?}"
    );
    // ::1 is optional on hosts without IPv6; where it is listed, it must answer.
    for addr in &addrs {
        assert_eq!(ping(*addr), "+PONG\r\n", "on {addr}");
    }
    signal(&child, "-TERM");
    assert!(wait_with_deadline(&mut child, Duration::from_secs(5)).success());
}

#[test]
fn sigint_stops_the_server_cleanly() {
    let (mut child, addrs) = start(&["--port", "0", "--bind", "127.0.0.1"]);
    assert_eq!(addrs.len(), 1);
    assert_eq!(ping(addrs[0]), "+PONG\r\n");
    signal(&child, "-INT");
    assert!(wait_with_deadline(&mut child, Duration::from_secs(5)).success());
    assert!(
        TcpStream::connect(addrs[0]).is_err(),
        "still listening after SIGINT"
    );
}

#[test]
fn taken_port_is_one_clear_line_and_exit_code_1() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = lockstep()
        .args(["server", "--bind", "127.0.0.1", "--port", &port])
        .output()
        .expect("run lockstep");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "lockstep server: Could not create server TCP listening socket 127.0.0.1:{port}: bind: Address already in use"
        )
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn unbindable_address_is_an_error_not_a_panic() {
    // 192.0.2.1 (TEST-NET-1) is never assigned to this machine: bind fails at once.
    let out = lockstep()
        .args(["server", "--bind", "192.0.2.1", "--port", "0"])
        .output()
        .expect("run lockstep");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Could not create server TCP listening socket 192.0.2.1:0: bind: Cannot assign requested address"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
