//! `client-output-buffer-limit`, each scenario run on a fresh real redis-server and a fresh
//! lockstep server with the same steps, and the outcomes compared: CONFIG SET/GET replies
//! and errors, which clients were closed and what they had received, what a transaction
//! did before its client was closed.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{same_as_redis, Conn};

/// Whether and what the server sent on `stream` before closing it (`None`: still open).
fn read_until_closed(stream: &mut TcpStream) -> Option<usize> {
    common::read_until_closed(stream, Duration::from_millis(500))
}

/// A 1 MB value under `big`, and normal clients limited to 100 KB of unread replies.
fn with_big_value_and_limit(admin: &mut Conn) {
    admin.ok(&["SET", "big", &"v".repeat(1_000_000)]);
    admin.ok(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "normal 100000 0 0",
    ]);
}

/// Sends every command in one write, so that both servers read them at once.
fn send_at_once(c: &mut Conn, commands: &[&[&str]]) {
    let mut raw = bytes::BytesMut::new();
    for args in commands {
        lockstep_resp::encode_command(args, &mut raw);
    }
    c.stream.write_all(&raw).expect("send");
}

#[test]
fn config_set_and_get_read_and_refuse_limits_as_redis_does() {
    same_as_redis(|addr| {
        let mut c = Conn::open(addr);
        let mut out = Vec::new();
        for value in [
            "normal 1mb 512kb 10",
            "pubsub 0 0 0 replica 1 2 3",
            "master 1 1 1",
            "bogus 1 1 1",
            "normal 1 1",
            "normal x 1 1",
            "normal -1 1 1",
            "normal 1 1 1.5",
            "normal 1 1 1 bogus 1 1 1",
            "",
            "NORMAL 5 5 5",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        ] {
            let set = c.command(&["CONFIG", "SET", "client-output-buffer-limit", value]);
            let get = c.command(&["CONFIG", "GET", "client-output-buffer-limit"]);
            out.push(format!("{value:?}: {set:?} -> {get:?}"));
        }
        out
    });
}

/// A reply past the normal class's hard limit closes the client without sending it, and
/// without the replies before it in the same pipeline.
#[test]
fn a_reply_over_the_hard_limit_closes_its_client_with_nothing_sent() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        with_big_value_and_limit(&mut admin);
        let mut out = Vec::new();
        let mut c = Conn::open(addr);
        out.push(format!("{:?}", c.command(&["SET", "small", "1"])));
        c.send(&["GET", "big"]);
        out.push(format!("single: {:?}", read_until_closed(&mut c.stream)));
        let mut c = Conn::open(addr);
        let mut pipeline = vec![&["INCR", "small"][..]; 10];
        pipeline.push(&["GET", "big"]);
        send_at_once(&mut c, &pipeline);
        out.push(format!("pipeline: {:?}", read_until_closed(&mut c.stream)));
        out.push(format!("{:?}", admin.command(&["GET", "small"])));
        admin.ok(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 0 0",
        ]);
        out
    });
}

/// A transaction whose replies pass the limit runs whole; only then is its client closed.
#[test]
fn a_transaction_runs_whole_before_its_client_is_closed() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        with_big_value_and_limit(&mut admin);
        let mut c = Conn::open(addr);
        send_at_once(
            &mut c,
            &[
                &["MULTI"],
                &["SET", "a", "1"],
                &["GET", "big"],
                &["GET", "big"],
                &["SET", "b", "2"],
                &["EXEC"],
            ],
        );
        let out = vec![
            format!("{:?}", read_until_closed(&mut c.stream)),
            format!("{:?}", admin.command(&["MGET", "a", "b"])),
        ];
        admin.ok(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 0 0",
        ]);
        out
    });
}

/// A subscriber that reads nothing is closed once its backlog passes the pubsub hard
/// limit; PUBLISH then counts no receiver.
#[test]
fn a_subscriber_over_the_hard_limit_is_closed() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.ok(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 100000 0 0",
        ]);
        let mut sub = Conn::open(addr);
        sub.command(&["SUBSCRIBE", "news"]);
        let payload = "m".repeat(1000);
        let mut receivers = Vec::new();
        for _ in 0..2000 {
            receivers.push(admin.int(&["PUBLISH", "news", &payload]));
            if receivers.last() == Some(&0) {
                break;
            }
        }
        // Both servers stop counting the subscriber somewhere past 100 KB of backlog
        // (socket buffers absorb a varying part first), and never before.
        let delivered = receivers.iter().filter(|&&n| n == 1).count();
        vec![
            format!("closed: {}", read_until_closed(&mut sub.stream).is_some()),
            format!("receivers went to 0: {}", receivers.last() == Some(&0)),
            format!("over 100 messages first: {}", delivered > 100),
        ]
    });
}

/// Over the soft limit a subscriber may stay for the soft seconds; a message that finds it
/// still over after that closes it.
#[test]
fn a_subscriber_over_the_soft_limit_too_long_is_closed() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.ok(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 0 100000 1",
        ]);
        let mut sub = Conn::open(addr);
        sub.command(&["SUBSCRIBE", "news"]);
        let payload = "m".repeat(10_000);
        // Far past the soft limit, socket buffers included (about 3 MB).
        for _ in 0..300 {
            admin.int(&["PUBLISH", "news", &payload]);
        }
        let mut out = vec![format!("{}", admin.int(&["PUBLISH", "news", "x"]))];
        std::thread::sleep(Duration::from_millis(2500));
        out.push(format!("{}", admin.int(&["PUBLISH", "news", "x"])));
        out.push(format!("{}", admin.int(&["PUBLISH", "news", "x"])));
        out.push(format!(
            "closed: {}",
            read_until_closed(&mut sub.stream).is_some()
        ));
        out
    });
}
