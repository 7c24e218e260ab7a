//! MONITOR over TCP: a monitor sees every other client's commands, one line each, in
//! Redis's format, and `redis-cli monitor` reads it as it reads redis-server's.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use common::{start, Conn};
use lockstep_server::EmbeddedServer;

/// A raw connection: the monitor feed is read line by line, not as frames.
fn connect(server: &EmbeddedServer) -> TcpStream {
    Conn::open(server.addr()).stream
}

fn exchange(s: &mut TcpStream, request: &[u8], expected: &[u8]) {
    s.write_all(request).expect("write");
    let mut got = vec![0u8; expected.len()];
    s.read_exact(&mut got).expect("read");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
}

/// `+<secs>.<6 digits> [<db> <addr>] <args>` with the given arguments part.
fn assert_feed_line(line: &str, db: u32, addr: &str, args: &str) {
    let rest = line.strip_prefix('+').unwrap_or(line);
    let (time, rest) = rest.split_once(' ').expect("a time, then the rest");
    let (secs, micros) = time.split_once('.').expect("seconds.micros");
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
    assert_eq!(rest, format!("[{db} {addr}] {args}"), "{line}");
}

/// Starts a server and a monitor on it, then sends `request` from another connection and
/// checks its `replies`: that connection's address, and the monitor's next feed line,
/// line by line (the server lives as long as the reader).
fn monitor_while(request: &[u8], replies: &[u8]) -> (String, impl FnMut() -> String) {
    let server = start();
    let mut monitor = connect(&server);
    exchange(&mut monitor, b"MONITOR\r\n", b"+OK\r\n");
    let mut other = connect(&server);
    let addr = other.local_addr().expect("addr").to_string();
    exchange(&mut other, request, replies);
    let mut lines = BufReader::new(monitor);
    let next = move || {
        let _keep = (&server, &other);
        let mut line = String::new();
        lines.read_line(&mut line).expect("a feed line");
        line.trim_end().to_string()
    };
    (addr, next)
}

#[test]
fn a_monitor_sees_other_clients_commands_in_redis_format() {
    let (addr, mut next) = monitor_while(
        b"SET k \"a b\"\r\nSELECT 2\r\nGET \"\\x01\\n\"\r\nAUTH secret\r\n",
        b"+OK\r\n+OK\r\n$-1\r\n-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
    );
    assert_feed_line(&next(), 0, &addr, r#""SET" "k" "a b""#);
    // Redis 7.0 feeds a command after it ran: SELECT shows the database it selected.
    assert_feed_line(&next(), 2, &addr, r#""SELECT" "2""#);
    assert_feed_line(&next(), 2, &addr, r#""GET" "\x01\n""#);
    assert_feed_line(&next(), 2, &addr, r#""AUTH" "(redacted)""#);
}

#[test]
fn redis_cli_monitor_shows_another_clients_command() {
    if Command::new("redis-cli").arg("--version").output().is_err() {
        panic!("redis-cli is needed (scripts/test installs redis-tools)");
    }
    let server = start();
    let mut cli = Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), "monitor"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli starts");
    let mut lines = BufReader::new(cli.stdout.take().expect("stdout"));
    let mut first = String::new();
    lines.read_line(&mut first).expect("OK line");
    assert_eq!(first.trim_end(), "OK");
    let mut other = connect(&server);
    let addr = other.local_addr().expect("addr").to_string();
    exchange(&mut other, b"LPUSH list x\r\n", b":1\r\n");
    let mut line = String::new();
    lines.read_line(&mut line).expect("a feed line");
    let _ = cli.kill();
    let _ = cli.wait();
    assert_feed_line(line.trim_end(), 0, &addr, r#""LPUSH" "list" "x""#);
}

/// As redis-server 7.0.15 shows a script: the EVAL first (fed before it runs), then each
/// `redis.call` with `lua` for an address, in the database the script is in; an EVALSHA
/// of an unknown script still shows.
#[test]
fn a_monitor_sees_a_script_and_then_its_commands_from_lua() {
    let (addr, mut next) = monitor_while(
        b"SELECT 2\r\nEVAL \"redis.call('set','a','1') return redis.call('get','a')\" 0\r\nEVALSHA 0000000000000000000000000000000000000000 0\r\n",
        b"+OK\r\n$1\r\n1\r\n-NOSCRIPT No matching script. Please use EVAL.\r\n",
    );
    assert_feed_line(&next(), 2, &addr, r#""SELECT" "2""#);
    assert_feed_line(
        &next(),
        2,
        &addr,
        r#""EVAL" "redis.call('set','a','1') return redis.call('get','a')" "0""#,
    );
    assert_feed_line(&next(), 2, "lua", r#""set" "a" "1""#);
    assert_feed_line(&next(), 2, "lua", r#""get" "a""#);
    assert_feed_line(
        &next(),
        2,
        &addr,
        r#""EVALSHA" "0000000000000000000000000000000000000000" "0""#,
    );
}

/// A function shows as a script does: the FCALL first, then its commands from `lua`; an
/// FCALL of a function that does not exist still shows.
#[test]
fn a_monitor_sees_a_function_and_then_its_commands_from_lua() {
    let (addr, mut next) = monitor_while(
        b"FUNCTION LOAD \"#!lua name=m\\nredis.register_function('m', function(k) redis.call('set', k[1], '1') return redis.call('get', k[1]) end)\"\r\nSELECT 2\r\nFCALL m 1 a\r\nFCALL nope 0\r\n",
        b"$1\r\nm\r\n+OK\r\n$1\r\n1\r\n-ERR Function not found\r\n",
    );
    let load = next();
    assert!(load.contains(r#""FUNCTION" "LOAD""#), "{load}");
    assert_feed_line(&next(), 2, &addr, r#""SELECT" "2""#);
    assert_feed_line(&next(), 2, &addr, r#""FCALL" "m" "1" "a""#);
    assert_feed_line(&next(), 2, "lua", r#""set" "a" "1""#);
    assert_feed_line(&next(), 2, "lua", r#""get" "a""#);
    assert_feed_line(&next(), 2, &addr, r#""FCALL" "nope" "0""#);
}
