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

// ---------------------------------------------------------------------------------------
// Configuration: a config file and `--name value` options, as redis-server takes them.

/// Sends `command` (inline) on a new connection and checks that the reply is `expected`.
fn check_reply(addr: SocketAddr, command: &str, expected: &str) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(format!("{command}\r\n").as_bytes())
        .expect("write");
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    while reply.len() < expected.len() {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "connection closed after {reply:?}");
        reply.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        String::from_utf8_lossy(&reply),
        expected,
        "reply to {command}"
    );
}

fn stop(mut child: Child) {
    signal(&child, "-TERM");
    assert!(wait_with_deadline(&mut child, Duration::from_secs(5)).success());
}

/// Runs `lockstep server` with `args`, expecting it to refuse them: returns stderr.
fn refused(args: &[&str]) -> String {
    let out = lockstep()
        .arg("server")
        .args(args)
        .output()
        .expect("run lockstep");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "started anyway: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

/// A config file with `contents`, removed when dropped.
struct ConfigFile(std::path::PathBuf);

impl ConfigFile {
    fn new(name: &str, contents: &str) -> ConfigFile {
        let path =
            std::env::temp_dir().join(format!("lockstep-{}-{name}.conf", std::process::id()));
        std::fs::write(&path, contents).expect("write config file");
        ConfigFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn any_parameter_is_taken_from_the_command_line() {
    let (child, addrs) = start(&["--port", "0", "--save", "", "--maxmemory", "100mb"]);
    check_reply(
        addrs[0],
        "CONFIG GET maxmemory",
        "*2\r\n$9\r\nmaxmemory\r\n$9\r\n104857600\r\n",
    );
    check_reply(
        addrs[0],
        "CONFIG GET save",
        "*2\r\n$4\r\nsave\r\n$0\r\n\r\n",
    );
    stop(child);
}

#[test]
fn config_file_sets_immutable_parameters() {
    let file = ConfigFile::new(
        "databases",
        "# four databases\n\n   databases 4   # not a comment here\n",
    );
    // Redis has no trailing comments: the line above is `databases` with three arguments.
    let stderr = refused(&[file.path(), "--port", "0"]);
    assert!(
        stderr.contains(
            "at line 3 >>> 'databases 4   # not a comment here': wrong number of arguments"
        ),
        "{stderr}"
    );
    let file = ConfigFile::new("databases-ok", "# four databases\n\n   databases 4\n");
    let (child, addrs) = start(&[file.path(), "--port", "0", "--bind", "127.0.0.1"]);
    check_reply(
        addrs[0],
        "CONFIG GET databases",
        "*2\r\n$9\r\ndatabases\r\n$1\r\n4\r\n",
    );
    check_reply(addrs[0], "SELECT 4", "-ERR DB index is out of range\r\n");
    check_reply(addrs[0], "SELECT 3", "+OK\r\n");
    stop(child);
}

#[test]
fn unknown_parameter_is_one_line_naming_it_and_exit_code_1() {
    let stderr = refused(&["--port", "0", "--nosuchparam", "x"]);
    assert_eq!(
        stderr.trim_end(),
        "lockstep server: FATAL CONFIG FILE ERROR, at line 3 >>> 'nosuchparam \"x\"': Bad directive or wrong number of arguments"
    );
}

#[test]
fn bad_value_is_one_line_with_redis_reason_and_exit_code_1() {
    let stderr = refused(&["--maxmemory", "abc"]);
    assert_eq!(
        stderr.trim_end(),
        "lockstep server: FATAL CONFIG FILE ERROR, at line 2 >>> 'maxmemory \"abc\"': argument must be a memory value"
    );
}

#[test]
fn bad_value_never_opens_the_port() {
    let free = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = free.local_addr().expect("addr").port().to_string();
    drop(free);
    let stderr = refused(&["--bind", "127.0.0.1", "--port", &port, "--databases", "0"]);
    assert!(
        stderr.contains("argument must be between 1 and 2147483647 inclusive"),
        "{stderr}"
    );
}

#[test]
fn command_line_wins_over_the_config_file() {
    let file = ConfigFile::new("override", "maxmemory 1mb\nbind 192.0.2.1\n");
    let (child, addrs) = start(&[
        file.path(),
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
        "--maxmemory",
        "2mb",
    ]);
    assert_eq!(addrs.len(), 1, "{addrs:?}");
    check_reply(
        addrs[0],
        "CONFIG GET maxmemory",
        "*2\r\n$9\r\nmaxmemory\r\n$7\r\n2097152\r\n",
    );
    stop(child);
}

#[test]
fn missing_config_file_is_one_clear_line() {
    let stderr = refused(&["/nonexistent/lockstep.conf", "--port", "0"]);
    assert!(
        stderr.starts_with(
            "lockstep server: Fatal error, can't open config file '/nonexistent/lockstep.conf': "
        ),
        "{stderr}"
    );
}

#[test]
fn requirepass_option_still_requires_auth() {
    let (child, addrs) = start(&["--port", "0", "--bind", "127.0.0.1", "--requirepass", "pw"]);
    check_reply(addrs[0], "GET k", "-NOAUTH Authentication required.\r\n");
    check_reply(addrs[0], "AUTH pw", "+OK\r\n");
    stop(child);
}
