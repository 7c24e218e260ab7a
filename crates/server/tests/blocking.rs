//! Blocking commands end to end over TCP: BLPOP, BRPOP, BLMPOP, BLMOVE and BRPOPLPUSH
//! park a client through `Outcome::Block` until another client's write serves it (in the
//! order clients blocked), its timeout passes, CLIENT UNBLOCK ends its wait, or it goes
//! away.
//!
//! The scenarios where Redis's order of serving is subtle (a transaction filling several
//! keys, moves that chain, a destination of another type) run against a real
//! redis-server too (`on_both`), which must answer what lockstep answers, and what the
//! test says.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{start, wait_blocked, Conn, RedisServer, TIMEOUT};
use lockstep_resp::{Decoder, Frame};
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

fn bulks(items: &[&str]) -> Frame {
    Frame::Array(items.iter().map(|s| bulk(s)).collect())
}

/// BLMPOP's reply: the key, then the elements.
fn key_and(key: &str, elements: &[&str]) -> Frame {
    Frame::Array(vec![bulk(key), bulks(elements)])
}

fn queued() -> Frame {
    Frame::simple("QUEUED")
}

fn wrongtype() -> Frame {
    Frame::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into())
}

/// Runs `scenario` against a real redis-server, then against lockstep: lockstep must
/// answer every step as redis-server did. Returns that transcript, for the test to hold
/// to what it specifies.
fn on_both(scenario: impl Fn(SocketAddr) -> Vec<Frame>) -> Vec<Frame> {
    let redis = RedisServer::start();
    let expected = scenario(redis.addr());
    let server = start();
    let actual = scenario(server.addr());
    assert_eq!(actual, expected, "lockstep (left) and redis-server (right)");
    actual
}

/// Sends `commands` at once and returns the raw bytes of their replies, for what decoded
/// frames cannot tell apart (RESP2's null bulk `$-1` and null array `*-1`).
fn raw_replies(conn: &mut Conn, commands: &[&[&str]]) -> Vec<u8> {
    for command in commands {
        conn.send(command);
    }
    let mut raw = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut buf = BytesMut::from(&raw[..]);
        let mut decoder = Decoder::default();
        let mut frames = 0;
        while let Ok(Some(_)) = decoder.decode(&mut buf) {
            frames += 1;
        }
        if frames == commands.len() {
            return raw;
        }
        assert!(Instant::now() < deadline, "replies never came: {raw:?}");
        let mut chunk = [0u8; 4096];
        let n = conn.stream.read(&mut chunk).expect("read replies");
        assert!(n > 0, "the server closed the connection");
        raw.extend_from_slice(&chunk[..n]);
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

#[test]
fn blmove_waits_for_a_push_then_moves_the_element() {
    let mut b = blocked_in(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]);
    b.admin.command(&["RPUSH", "dst", "old"]);
    assert!(
        b.waiter.silent_for(Duration::from_millis(100)),
        "dst is not its key"
    );
    assert_eq!(b.admin.command(&["RPUSH", "src", "a", "b"]), int(2));
    assert_eq!(b.waiter.read(), bulk("a"));
    assert_eq!(
        b.admin.command(&["LRANGE", "dst", "0", "-1"]),
        bulks(&["old", "a"])
    );
    assert_eq!(
        b.admin.command(&["LRANGE", "src", "0", "-1"]),
        bulks(&["b"])
    );
}

#[test]
fn brpoplpush_waits_then_moves_from_the_tail_to_the_head() {
    let mut b = blocked_in(&["BRPOPLPUSH", "src", "dst", "0"]);
    b.admin.command(&["RPUSH", "src", "a", "b"]);
    assert_eq!(b.waiter.read(), bulk("b"));
    assert_eq!(
        b.admin.command(&["LRANGE", "dst", "0", "-1"]),
        bulks(&["b"])
    );
    assert_eq!(
        b.admin.command(&["LRANGE", "src", "0", "-1"]),
        bulks(&["a"])
    );
}

#[test]
fn blmove_onto_the_key_it_waits_on_leaves_the_element_there() {
    let mut b = blocked_in(&["BLMOVE", "k", "k", "LEFT", "RIGHT", "0"]);
    b.admin.command(&["RPUSH", "k", "a"]);
    assert_eq!(b.waiter.read(), bulk("a"));
    assert_eq!(b.admin.command(&["LRANGE", "k", "0", "-1"]), bulks(&["a"]));
}

#[test]
fn blmpop_waits_then_pops_up_to_its_count_from_its_side() {
    let mut b = blocked_in(&["BLMPOP", "0", "2", "k1", "k2", "RIGHT", "COUNT", "2"]);
    b.admin.command(&["RPUSH", "k2", "a", "b", "c"]);
    assert_eq!(b.waiter.read(), key_and("k2", &["c", "b"]));
    assert_eq!(b.admin.command(&["LRANGE", "k2", "0", "-1"]), bulks(&["a"]));
    b.waiter
        .send(&["BLMPOP", "0", "1", "k3", "LEFT", "COUNT", "5"]);
    wait_blocked(&mut b.admin, 1);
    b.admin.command(&["RPUSH", "k3", "x", "y"]);
    assert_eq!(b.waiter.read(), key_and("k3", &["x", "y"]));
    assert_eq!(
        b.admin.command(&["EXISTS", "k3"]),
        int(0),
        "emptied, deleted"
    );
}

#[test]
fn waiters_of_every_list_command_on_one_key_are_served_in_the_order_they_blocked() {
    let server = start();
    let mut admin = Conn::open(server.addr());
    let commands: [&[&str]; 4] = [
        &["BRPOP", "q", "0"],
        &["BLMOVE", "q", "d", "RIGHT", "LEFT", "0"],
        &["BLMPOP", "0", "1", "q", "LEFT", "COUNT", "2"],
        &["BRPOPLPUSH", "q", "d", "0"],
    ];
    let mut waiters = Vec::new();
    for (i, command) in commands.iter().enumerate() {
        let mut w = Conn::open(server.addr());
        w.send(command);
        wait_blocked(&mut admin, i + 1);
        waiters.push(w);
    }
    admin.command(&["RPUSH", "q", "1", "2", "3", "4", "5"]);
    assert_eq!(waiters[0].read(), pair("q", "5"));
    assert_eq!(waiters[1].read(), bulk("4"));
    assert_eq!(waiters[2].read(), key_and("q", &["1", "2"]));
    assert_eq!(waiters[3].read(), bulk("3"));
    assert_eq!(
        admin.command(&["LRANGE", "d", "0", "-1"]),
        bulks(&["3", "4"])
    );
    wait_blocked(&mut admin, 0);
}

#[test]
fn a_served_blmove_serves_the_waiters_of_its_destination_before_the_pushers_next_command() {
    let server = start();
    let mut admin = Conn::open(server.addr());
    let mut first = Conn::open(server.addr());
    let mut second = Conn::open(server.addr());
    let mut last = Conn::open(server.addr());
    first.send(&["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut admin, 1);
    second.send(&["BRPOPLPUSH", "b", "c", "0"]);
    wait_blocked(&mut admin, 2);
    last.send(&["BLPOP", "c", "0"]);
    wait_blocked(&mut admin, 3);
    admin.send(&["RPUSH", "a", "x"]);
    admin.send(&["EXISTS", "a", "b", "c"]);
    assert_eq!(admin.read(), int(1));
    assert_eq!(
        admin.read(),
        int(0),
        "x went from a to b to c to the last waiter"
    );
    assert_eq!(first.read(), bulk("x"));
    assert_eq!(second.read(), bulk("x"));
    assert_eq!(last.read(), pair("c", "x"));
}

#[test]
fn moves_chain_as_in_redis_when_a_waiter_of_the_destination_blocked_first() {
    // The waiter on b blocked before the move that fills b: it is served when b is.
    let transcript = on_both(|addr| {
        let mut admin = Conn::open(addr);
        let mut on_b = Conn::open(addr);
        let mut mover = Conn::open(addr);
        let mut on_a = Conn::open(addr);
        on_b.send(&["BLMPOP", "0", "1", "b", "LEFT", "COUNT", "9"]);
        wait_blocked(&mut admin, 1);
        mover.send(&["BLMOVE", "a", "b", "RIGHT", "LEFT", "0"]);
        wait_blocked(&mut admin, 2);
        on_a.send(&["BLPOP", "a", "0"]);
        wait_blocked(&mut admin, 3);
        vec![
            admin.command(&["RPUSH", "a", "1", "2", "3"]),
            mover.read(),
            on_b.read(),
            on_a.read(),
            admin.command(&["LRANGE", "a", "0", "-1"]),
            admin.command(&["EXISTS", "b"]),
        ]
    });
    assert_eq!(
        transcript,
        [
            int(3),
            bulk("3"),
            key_and("b", &["3"]),
            pair("a", "1"),
            bulks(&["2"]),
            int(0)
        ]
    );
}

#[test]
fn a_transaction_that_pushes_twice_serves_both_waiters_after_exec() {
    let server = start();
    let mut admin = Conn::open(server.addr());
    let mut w1 = Conn::open(server.addr());
    let mut w2 = Conn::open(server.addr());
    w1.send(&["BLPOP", "k", "0"]);
    wait_blocked(&mut admin, 1);
    w2.send(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut admin, 2);
    admin.ok(&["MULTI"]);
    assert_eq!(admin.command(&["RPUSH", "k", "a"]), queued());
    assert_eq!(admin.command(&["RPUSH", "k", "b"]), queued());
    assert!(w1.silent_for(Duration::from_millis(100)), "queued, not run");
    assert_eq!(admin.command(&["EXEC"]), Frame::Array(vec![int(1), int(2)]));
    assert_eq!(w1.read(), pair("k", "a"));
    assert_eq!(w2.read(), bulk("b"));
    assert_eq!(admin.command(&["LRANGE", "d", "0", "-1"]), bulks(&["b"]));
}

#[test]
fn a_transaction_that_leaves_the_key_empty_wakes_nobody() {
    let mut b = blocked_in(&["BLMPOP", "0", "1", "k", "LEFT"]);
    b.admin.ok(&["MULTI"]);
    b.admin.command(&["RPUSH", "k", "a"]);
    b.admin.command(&["LPOP", "k"]);
    assert_eq!(
        b.admin.command(&["EXEC"]),
        Frame::Array(vec![int(1), bulk("a")])
    );
    assert!(b.waiter.silent_for(Duration::from_millis(100)));
    b.admin.command(&["RPUSH", "k", "later"]);
    assert_eq!(b.waiter.read(), key_and("k", &["later"]));
}

#[test]
fn a_script_that_pushes_serves_the_waiter_once_it_ends() {
    let mut b = blocked_in(&["BRPOPLPUSH", "k", "d", "0"]);
    let script = "redis.call('RPUSH', KEYS[1], 'a', 'b'); return redis.call('LLEN', KEYS[1])";
    assert_eq!(b.admin.command(&["EVAL", script, "1", "k"]), int(2));
    assert_eq!(b.waiter.read(), bulk("b"));
    assert_eq!(b.admin.command(&["LRANGE", "k", "0", "-1"]), bulks(&["a"]));
}

#[test]
fn a_woken_client_takes_from_the_key_that_was_written_not_its_first_key() {
    // A transaction fills k2, then k1: Redis serves k2's waiters first, from k2.
    let transcript = on_both(|addr| {
        let mut admin = Conn::open(addr);
        let mut blpop = Conn::open(addr);
        let mut blmpop = Conn::open(addr);
        blpop.send(&["BLPOP", "k1", "k2", "0"]);
        wait_blocked(&mut admin, 1);
        blmpop.send(&["BLMPOP", "0", "2", "k1", "k2", "LEFT", "COUNT", "2"]);
        wait_blocked(&mut admin, 2);
        admin.command(&["MULTI"]);
        admin.command(&["RPUSH", "k2", "a", "b", "c"]);
        admin.command(&["RPUSH", "k1", "x"]);
        admin.command(&["EXEC"]);
        vec![
            blpop.read(),
            blmpop.read(),
            admin.command(&["LRANGE", "k1", "0", "-1"]),
        ]
    });
    assert_eq!(
        transcript,
        [pair("k2", "a"), key_and("k2", &["b", "c"]), bulks(&["x"])]
    );
}

#[test]
fn an_earlier_key_of_another_type_does_not_fail_a_woken_pop() {
    let transcript = on_both(|addr| {
        let mut admin = Conn::open(addr);
        let mut waiter = Conn::open(addr);
        waiter.send(&["BLMPOP", "0", "2", "k1", "k2", "RIGHT"]);
        wait_blocked(&mut admin, 1);
        admin.command(&["SET", "k1", "string"]);
        admin.command(&["RPUSH", "k2", "a"]);
        vec![
            waiter.read(),
            waiter.command(&["BLMPOP", "0", "2", "k1", "k2", "RIGHT"]),
        ]
    });
    assert_eq!(transcript, [key_and("k2", &["a"]), wrongtype()]);
}

#[test]
fn a_blmove_served_onto_a_destination_of_another_type_fails_and_the_next_waiter_is_served() {
    let transcript = on_both(|addr| {
        let mut admin = Conn::open(addr);
        let mut mover = Conn::open(addr);
        let mut popper = Conn::open(addr);
        admin.command(&["SET", "s", "string"]);
        mover.send(&["BLMOVE", "src", "s", "LEFT", "LEFT", "0"]);
        wait_blocked(&mut admin, 1);
        popper.send(&["BLPOP", "src", "0"]);
        wait_blocked(&mut admin, 2);
        vec![
            admin.command(&["RPUSH", "src", "x"]),
            mover.read(),
            popper.read(),
            admin.command(&["GET", "s"]),
        ]
    });
    assert_eq!(
        transcript,
        [int(1), wrongtype(), pair("src", "x"), bulk("string")]
    );
}

#[test]
fn keyspace_events_of_a_served_blmove_are_redis_events() {
    let transcript = on_both(|addr| {
        let mut admin = Conn::open(addr);
        let mut sub = Conn::open(addr);
        let mut mover = Conn::open(addr);
        admin.ok(&["CONFIG", "SET", "notify-keyspace-events", "KEAn"]);
        sub.command(&["PSUBSCRIBE", "__keyevent*"]);
        mover.send(&["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
        wait_blocked(&mut admin, 1);
        admin.command(&["RPUSH", "src", "x"]);
        let mut seen = vec![mover.read()];
        // new and rpush of the push; new, lpush, rpop and del of the move.
        for _ in 0..6 {
            seen.push(sub.read());
        }
        assert!(sub.silent_for(Duration::from_millis(50)), "no more events");
        admin.ok(&["CONFIG", "SET", "notify-keyspace-events", ""]);
        seen
    });
    let events: Vec<String> = transcript[1..]
        .iter()
        .map(|message| match message {
            Frame::Array(parts) | Frame::Push(parts) => match (&parts[2], &parts[3]) {
                (Frame::Bulk(channel), Frame::Bulk(key)) => format!(
                    "{} {}",
                    String::from_utf8_lossy(channel).trim_start_matches("__keyevent@0__:"),
                    String::from_utf8_lossy(key)
                ),
                other => panic!("not a pmessage: {other:?}"),
            },
            other => panic!("not a pmessage: {other:?}"),
        })
        .collect();
    assert_eq!(
        events,
        [
            "new src",
            "rpush src",
            "new dst",
            "lpush dst",
            "rpop src",
            "del src"
        ]
    );
}

#[test]
fn blocking_list_commands_time_out_with_a_null_after_their_fractional_timeout() {
    let server = start();
    let mut c = Conn::open(server.addr());
    let commands: [&[&str]; 3] = [
        &["BLMOVE", "missing", "d", "LEFT", "LEFT", "0.15"],
        &["BRPOPLPUSH", "missing", "d", "0.15"],
        &["BLMPOP", "0.15", "1", "missing", "LEFT"],
    ];
    for command in commands {
        let started = Instant::now();
        assert_eq!(c.command(command), Frame::Null, "{command:?}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(150),
            "{command:?}: {waited:?}"
        );
        assert!(waited < Duration::from_secs(2), "{command:?}: {waited:?}");
    }
    assert_eq!(c.command(&["EXISTS", "d"]), int(0));
}

#[test]
fn a_timed_out_blocking_move_answers_a_null_array_and_one_that_cannot_block_a_null_bulk() {
    // RESP2 tells them apart: `*-1` for a wait that timed out, `$-1` for BLMOVE and
    // BRPOPLPUSH inside MULTI (as LMOVE on a missing key), `*-1` for the pops there.
    let replies = |addr| {
        let mut c = Conn::open(addr);
        let timed_out = raw_replies(
            &mut c,
            &[
                &["BLMOVE", "missing", "d", "LEFT", "LEFT", "0.01"],
                &["BRPOPLPUSH", "missing", "d", "0.01"],
            ],
        );
        let in_multi = raw_replies(
            &mut c,
            &[
                &["MULTI"],
                &["BLMOVE", "missing", "d", "LEFT", "LEFT", "0"],
                &["BRPOPLPUSH", "missing", "d", "0"],
                &["BLMPOP", "0", "1", "missing", "LEFT"],
                &["BLPOP", "missing", "0"],
                &["EXEC"],
            ],
        );
        (timed_out, in_multi)
    };
    let redis = RedisServer::start();
    let expected = replies(redis.addr());
    let server = start();
    let actual = replies(server.addr());
    assert_eq!(actual, expected);
    assert_eq!(actual.0, b"*-1\r\n*-1\r\n");
    assert_eq!(
        actual.1,
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n$-1\r\n$-1\r\n*-1\r\n*-1\r\n"
    );
}

#[test]
fn client_unblock_ends_a_blmove_and_a_blmpop_wait() {
    let mut b = blocked_in(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
    assert_eq!(
        b.admin.command(&["CLIENT", "UNBLOCK", &b.id, "TIMEOUT"]),
        int(1)
    );
    assert_eq!(b.waiter.read(), Frame::Null);
    b.waiter.send(&["BLMPOP", "0", "1", "k", "LEFT"]);
    wait_blocked(&mut b.admin, 1);
    assert_eq!(
        b.admin.command(&["CLIENT", "UNBLOCK", &b.id, "ERROR"]),
        int(1)
    );
    assert_eq!(
        b.waiter.read(),
        Frame::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    b.admin.command(&["RPUSH", "k", "a"]);
    assert_eq!(
        b.admin.command(&["LRANGE", "k", "0", "-1"]),
        bulks(&["a"]),
        "nobody waits"
    );
    assert_eq!(b.admin.command(&["EXISTS", "d"]), int(0));
}

#[test]
fn a_killed_waiter_is_skipped_and_the_next_one_served() {
    let server = start();
    let mut admin = Conn::open(server.addr());
    let mut doomed = Conn::open(server.addr());
    let doomed_id = doomed.int(&["CLIENT", "ID"]).to_string();
    doomed.send(&["BLMOVE", "src", "d1", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut admin, 1);
    let mut next = Conn::open(server.addr());
    next.send(&["BRPOPLPUSH", "src", "d2", "0"]);
    wait_blocked(&mut admin, 2);
    assert_eq!(admin.command(&["CLIENT", "KILL", "ID", &doomed_id]), int(1));
    wait_blocked(&mut admin, 1);
    admin.command(&["RPUSH", "src", "x"]);
    assert_eq!(next.read(), bulk("x"));
    assert_eq!(admin.command(&["EXISTS", "d1"]), int(0));
    assert_eq!(admin.command(&["LRANGE", "d2", "0", "-1"]), bulks(&["x"]));
}

#[test]
fn a_waiter_that_disconnects_from_blmpop_takes_nothing() {
    let server = start();
    let mut admin = Conn::open(server.addr());
    {
        let mut waiter = Conn::open(server.addr());
        waiter.send(&["BLMPOP", "0", "1", "k", "LEFT", "COUNT", "3"]);
        wait_blocked(&mut admin, 1);
    }
    wait_blocked(&mut admin, 0);
    admin.command(&["RPUSH", "k", "a", "b"]);
    assert_eq!(admin.command(&["LLEN", "k"]), int(2));
}

#[test]
fn an_lmove_by_another_client_serves_a_waiter_on_its_destination() {
    let mut b = blocked_in(&["BLMPOP", "0", "1", "d", "RIGHT"]);
    b.admin.command(&["RPUSH", "src", "a", "b"]);
    assert_eq!(
        b.admin.command(&["LMOVE", "src", "d", "LEFT", "LEFT"]),
        bulk("a")
    );
    assert_eq!(b.waiter.read(), key_and("d", &["a"]));
    assert_eq!(
        b.admin.command(&["LINSERT", "src", "BEFORE", "b", "c"]),
        int(2)
    );
    assert_eq!(b.admin.command(&["EXISTS", "d"]), int(0));
}

#[test]
fn a_timeout_under_a_millisecond_waits_one_and_a_negative_one_above_minus_one_forever() {
    let transcript = on_both(|addr| {
        let mut admin = Conn::open(addr);
        let mut c = Conn::open(addr);
        let id = c.int(&["CLIENT", "ID"]).to_string();
        let started = Instant::now();
        let mut seen = vec![
            c.command(&["BLMPOP", "0.0001", "1", "missing", "LEFT"]),
            c.command(&["BLMOVE", "missing", "d", "LEFT", "LEFT", "1e-300"]),
        ];
        assert!(started.elapsed() < Duration::from_secs(2));
        c.send(&["BRPOPLPUSH", "missing", "d", "-0.0009"]);
        assert!(c.silent_for(Duration::from_millis(200)), "waits on");
        seen.push(admin.command(&["CLIENT", "UNBLOCK", &id]));
        seen.push(c.read());
        seen
    });
    assert_eq!(transcript, [Frame::Null, Frame::Null, int(1), Frame::Null]);
}

#[test]
fn a_blmove_onto_its_own_key_leaves_the_element_for_the_next_waiter() {
    let transcript = on_both(|addr| {
        let mut admin = Conn::open(addr);
        let mut rotator = Conn::open(addr);
        let mut popper = Conn::open(addr);
        rotator.send(&["BLMOVE", "k", "k", "LEFT", "RIGHT", "0"]);
        wait_blocked(&mut admin, 1);
        popper.send(&["BLPOP", "k", "0"]);
        wait_blocked(&mut admin, 2);
        vec![
            admin.command(&["RPUSH", "k", "a"]),
            rotator.read(),
            popper.read(),
            admin.command(&["EXISTS", "k"]),
        ]
    });
    assert_eq!(transcript, [int(1), bulk("a"), pair("k", "a"), int(0)]);
}

#[test]
fn a_list_that_arrives_by_rename_or_copy_serves_the_waiters() {
    let transcript = on_both(|addr| {
        let mut admin = Conn::open(addr);
        let mut mover = Conn::open(addr);
        let mut popper = Conn::open(addr);
        mover.send(&["BRPOPLPUSH", "k1", "d", "0"]);
        popper.send(&["BLMPOP", "0", "1", "k2", "LEFT", "COUNT", "5"]);
        wait_blocked(&mut admin, 2);
        admin.command(&["RPUSH", "tmp", "a", "b"]);
        vec![
            admin.command(&["COPY", "tmp", "k2"]),
            popper.read(),
            admin.command(&["RENAME", "tmp", "k1"]),
            mover.read(),
            admin.command(&["LRANGE", "k1", "0", "-1"]),
        ]
    });
    assert_eq!(
        transcript,
        [
            int(1),
            key_and("k2", &["a", "b"]),
            Frame::simple("OK"),
            bulk("b"),
            bulks(&["a"])
        ]
    );
}

#[test]
fn a_command_sent_while_the_client_waits_runs_once_the_wait_ends() {
    let (_server, mut admin, mut waiter) = admin_and_waiter();
    waiter.send(&["BLMOVE", "missing", "d", "LEFT", "LEFT", "0.1"]);
    wait_blocked(&mut admin, 1);
    // Arrives during the wait, and no more input follows it.
    waiter.send(&["BRPOPLPUSH", "missing", "d", "0.1"]);
    assert_eq!(waiter.read(), Frame::Null);
    assert_eq!(waiter.read(), Frame::Null);
    waiter.send(&["BLMPOP", "0", "1", "k", "LEFT"]);
    wait_blocked(&mut admin, 1);
    waiter.send(&["ECHO", "after"]);
    assert!(waiter.silent_for(Duration::from_millis(50)));
    admin.command(&["RPUSH", "k", "v"]);
    assert_eq!(waiter.read(), key_and("k", &["v"]));
    assert_eq!(waiter.read(), bulk("after"));
}
