//! Blocking commands end to end over TCP: BLPOP and BRPOP park a client through
//! `Outcome::Block` until another client's write serves it (in the order clients blocked),
//! its timeout passes, CLIENT UNBLOCK ends its wait, or it goes away.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{start, Conn, TIMEOUT};
use lockstep_resp::Frame;
use lockstep_server::EmbeddedServer;

fn bulk(s: &str) -> Frame {
    Frame::Bulk(bytes::Bytes::copy_from_slice(s.as_bytes()))
}

fn pair(key: &str, value: &str) -> Frame {
    Frame::Array(vec![bulk(key), bulk(value)])
}

fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

/// Waits until INFO reports `n` blocked clients, so that a test acts only once the
/// clients it started have really parked.
fn wait_blocked(admin: &mut Conn, n: usize) {
    let deadline = Instant::now() + TIMEOUT;
    let want = format!("blocked_clients:{n}\r\n");
    loop {
        let Frame::Bulk(info) = admin.command(&["INFO", "clients"]) else {
            panic!("INFO answers a bulk string");
        };
        if String::from_utf8_lossy(&info).contains(&want) {
            return;
        }
        assert!(Instant::now() < deadline, "never saw {want:?} in {info:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A server with two clients, `admin` and `waiter`.
fn admin_and_waiter() -> (EmbeddedServer, Conn, Conn) {
    let server = start();
    let admin = Conn::open(server.addr());
    let waiter = Conn::open(server.addr());
    (server, admin, waiter)
}

/// A server with two clients: `admin`, and `waiter` (whose CLIENT ID is `id`) parked in a
/// blocking command.
struct Blocked {
    _server: EmbeddedServer,
    admin: Conn,
    waiter: Conn,
    id: String,
}

/// Starts a server, sends `command` from a fresh waiter and returns once INFO shows the
/// waiter blocked.
fn blocked_in(command: &[&str]) -> Blocked {
    let (server, mut admin, mut waiter) = admin_and_waiter();
    let id = waiter.int(&["CLIENT", "ID"]).to_string();
    waiter.send(command);
    wait_blocked(&mut admin, 1);
    Blocked {
        _server: server,
        admin,
        waiter,
        id,
    }
}

#[test]
fn blpop_on_a_non_empty_list_answers_at_once_with_key_and_element() {
    let server = start();
    let mut c = Conn::open(server.addr());
    c.command(&["RPUSH", "b", "x", "y"]);
    assert_eq!(c.command(&["BLPOP", "a", "b", "0"]), pair("b", "x"));
    assert_eq!(c.command(&["BRPOP", "a", "b", "0"]), pair("b", "y"));
    assert_eq!(
        c.command(&["EXISTS", "b"]),
        int(0),
        "an emptied list is deleted"
    );
}

#[test]
fn clients_blocked_on_one_key_are_served_in_the_order_they_blocked() {
    let server = start();
    let mut admin = Conn::open(server.addr());
    let mut waiters: Vec<Conn> = Vec::new();
    for i in 0..3 {
        let mut w = Conn::open(server.addr());
        w.send(&["BLPOP", "q", "0"]);
        wait_blocked(&mut admin, i + 1);
        waiters.push(w);
    }
    assert_eq!(admin.command(&["RPUSH", "q", "1", "2", "3"]), int(3));
    for (i, w) in waiters.iter_mut().enumerate() {
        assert_eq!(w.read(), pair("q", &(i + 1).to_string()));
    }
    wait_blocked(&mut admin, 0);
}

#[test]
fn a_push_serves_the_waiter_before_the_pushers_next_command() {
    // Redis serves blocked clients right after the command that made their key ready,
    // before the next command of the same pipeline.
    let mut b = blocked_in(&["BLPOP", "k", "0"]);
    b.admin.send(&["LPUSH", "k", "v"]);
    b.admin.send(&["LLEN", "k"]);
    assert_eq!(b.admin.read(), int(1));
    assert_eq!(b.admin.read(), int(0));
    assert_eq!(b.waiter.read(), pair("k", "v"));
}

#[test]
fn a_waiter_on_several_keys_is_served_by_whichever_gets_a_push() {
    let mut b = blocked_in(&["BRPOP", "k1", "k2", "0"]);
    b.admin.command(&["RPUSH", "k2", "a", "b"]);
    assert_eq!(b.waiter.read(), pair("k2", "b"));
}

#[test]
fn a_fractional_timeout_answers_a_null_array_after_that_long() {
    let server = start();
    let mut c = Conn::open(server.addr());
    let started = Instant::now();
    assert_eq!(c.command(&["BLPOP", "missing", "0.15"]), Frame::Null);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    // RESP3 says null as `_`.
    c.command(&["HELLO", "3"]);
    assert_eq!(c.command(&["BLPOP", "missing", "0.01"]), Frame::Null);
    assert_eq!(c.command(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn timeout_zero_waits_for_as_long_as_it_takes() {
    let (_server, mut admin, mut waiter) = admin_and_waiter();
    waiter.send(&["BLPOP", "k", "0"]);
    assert!(waiter.silent_for(Duration::from_millis(400)));
    admin.command(&["RPUSH", "k", "late"]);
    assert_eq!(waiter.read(), pair("k", "late"));
}

#[test]
fn commands_pipelined_after_a_blocked_one_wait_for_it() {
    let (_server, mut admin, mut waiter) = admin_and_waiter();
    waiter.send(&["BLPOP", "k", "0"]);
    waiter.send(&["ECHO", "after"]);
    assert!(waiter.silent_for(Duration::from_millis(200)));
    admin.command(&["RPUSH", "k", "v"]);
    assert_eq!(waiter.read(), pair("k", "v"));
    assert_eq!(waiter.read(), bulk("after"));
}

#[test]
fn a_client_that_leaves_while_blocked_takes_nothing() {
    let server = start();
    let mut admin = Conn::open(server.addr());
    {
        let mut waiter = Conn::open(server.addr());
        waiter.send(&["BLPOP", "k", "0"]);
        wait_blocked(&mut admin, 1);
    }
    wait_blocked(&mut admin, 0);
    admin.command(&["RPUSH", "k", "kept"]);
    assert_eq!(admin.command(&["LLEN", "k"]), int(1));
}

#[test]
fn client_unblock_timeout_answers_as_a_timeout_and_error_with_unblocked() {
    let mut b = blocked_in(&["BLPOP", "k", "0"]);
    assert_eq!(
        b.admin.command(&["CLIENT", "UNBLOCK", &b.id, "TIMEOUT"]),
        int(1)
    );
    assert_eq!(b.waiter.read(), Frame::Null);
    b.waiter.send(&["BRPOP", "k", "0"]);
    wait_blocked(&mut b.admin, 1);
    assert_eq!(
        b.admin.command(&["CLIENT", "UNBLOCK", &b.id, "ERROR"]),
        int(1)
    );
    assert_eq!(
        b.waiter.read(),
        Frame::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    assert_eq!(
        b.admin.command(&["CLIENT", "UNBLOCK", &b.id]),
        int(0),
        "not blocked now"
    );
    assert_eq!(b.waiter.command(&["PING"]), Frame::Simple("PONG".into()));
}

#[test]
fn client_kill_ends_a_blocked_connection() {
    let mut b = blocked_in(&["BLPOP", "k", "0"]);
    assert_eq!(b.admin.command(&["CLIENT", "KILL", "ID", &b.id]), int(1));
    wait_blocked(&mut b.admin, 0);
    let mut rest = [0u8; 16];
    assert_eq!(b.waiter.stream.read(&mut rest).unwrap_or(0), 0, "closed");
}

#[test]
fn a_blocked_client_shows_flag_b_in_client_list() {
    let mut b = blocked_in(&["BLPOP", "k", "0"]);
    let Frame::Bulk(line) = b.admin.command(&["CLIENT", "LIST", "ID", &b.id]) else {
        panic!("CLIENT LIST answers a bulk string");
    };
    let line = String::from_utf8_lossy(&line).into_owned();
    assert!(line.contains(" flags=b "), "{line}");
    assert!(line.contains(" cmd=blpop "), "{line}");
}

#[test]
fn a_key_of_another_type_leaves_the_waiter_blocked() {
    let mut b = blocked_in(&["BLPOP", "k", "0"]);
    b.admin.command(&["SET", "k", "string"]);
    assert!(b.waiter.silent_for(Duration::from_millis(100)));
    b.admin.command(&["DEL", "k"]);
    b.admin.command(&["RPUSH", "k", "v"]);
    assert_eq!(b.waiter.read(), pair("k", "v"));
}

#[test]
fn swapdb_serves_a_waiter_whose_key_arrives_with_the_other_database() {
    let (_server, mut admin, mut waiter) = admin_and_waiter();
    waiter.command(&["SELECT", "1"]);
    waiter.send(&["BLPOP", "k", "0"]);
    wait_blocked(&mut admin, 1);
    admin.command(&["RPUSH", "k", "v"]);
    assert!(
        waiter.silent_for(Duration::from_millis(100)),
        "k is in db 0"
    );
    assert_eq!(
        admin.command(&["SWAPDB", "0", "1"]),
        Frame::Simple("OK".into())
    );
    assert_eq!(waiter.read(), pair("k", "v"));
}
