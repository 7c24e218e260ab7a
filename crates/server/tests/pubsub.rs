//! Pub/sub end to end over TCP, where a differential case cannot reach: many subscribers
//! and concurrent publishers, RESP3 pushes interleaved with a subscriber's own replies, a
//! subscriber that never reads (Redis's `client-output-buffer-limit pubsub` hard limit),
//! subscribers and the idle `timeout`, and a subscriber that goes away.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{start, Conn, TIMEOUT};
use lockstep_resp::Frame;

fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// `message channel payload`, as a RESP2 subscriber reads it.
fn message(channel: &str, payload: &str) -> Frame {
    Frame::Array(vec![bulk("message"), bulk(channel), bulk(payload)])
}

/// Subscribes `conn` to `channel` as its only subscription.
fn subscribe(conn: &mut Conn, channel: &str) {
    conn.send(&["SUBSCRIBE", channel]);
    let confirm = conn.read();
    let expected = vec![bulk("subscribe"), bulk(channel), Frame::Integer(1)];
    assert!(
        confirm == Frame::Array(expected.clone()) || confirm == Frame::Push(expected),
        "SUBSCRIBE {channel} answered {confirm:?}"
    );
}

/// Waits until PUBSUB NUMSUB says `channel` has `n` subscribers.
fn wait_numsub(admin: &mut Conn, channel: &str, n: i64) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let reply = admin.command(&["PUBSUB", "NUMSUB", channel]);
        if reply == Frame::Array(vec![bulk(channel), Frame::Integer(n)]) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "PUBSUB NUMSUB {channel} never reached {n}: {reply:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A `field:value` line of an INFO section.
fn info_field(admin: &mut Conn, section: &str, field: &str) -> String {
    let info = admin.text(&["INFO", section]);
    let prefix = format!("{field}:");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}: {info}"))
        .to_string()
}

#[test]
fn every_subscriber_gets_every_message_in_each_publishers_order() {
    const SUBSCRIBERS: usize = 50;
    const PUBLISHERS: usize = 4;
    const PER_PUBLISHER: usize = 200;
    let server = start();
    let addr = server.addr();
    let mut admin = Conn::open(addr);
    let mut subscribers: Vec<Conn> = (0..SUBSCRIBERS)
        .map(|_| {
            let mut sub = Conn::open(addr);
            subscribe(&mut sub, "news");
            sub
        })
        .collect();
    wait_numsub(&mut admin, "news", SUBSCRIBERS as i64);

    // The subscribers read while the publishers publish, each on its own thread.
    let readers: Vec<_> = subscribers
        .drain(..)
        .map(|mut sub| {
            std::thread::spawn(move || {
                let mut next = [0usize; PUBLISHERS];
                for _ in 0..PUBLISHERS * PER_PUBLISHER {
                    let Frame::Array(parts) = sub.read() else {
                        panic!("a subscriber reads only messages");
                    };
                    assert_eq!(parts[..2], [bulk("message"), bulk("news")]);
                    let Frame::Bulk(payload) = &parts[2] else {
                        panic!("a message's payload is a bulk string: {parts:?}");
                    };
                    let payload = std::str::from_utf8(payload).expect("utf-8 payload");
                    let (publisher, seq) = payload.split_once(':').expect("p:n payload");
                    let publisher: usize = publisher.parse().expect("publisher number");
                    let seq: usize = seq.parse().expect("sequence number");
                    assert_eq!(
                        seq, next[publisher],
                        "publisher {publisher}'s messages arrive in the order it sent them"
                    );
                    next[publisher] += 1;
                }
                assert!(
                    sub.silent_for(Duration::from_millis(50)),
                    "no message twice"
                );
            })
        })
        .collect();
    let start_together = Arc::new(Barrier::new(PUBLISHERS));
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let start_together = Arc::clone(&start_together);
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                start_together.wait();
                for seq in 0..PER_PUBLISHER {
                    let payload = format!("{p}:{seq}");
                    assert_eq!(
                        conn.int(&["PUBLISH", "news", &payload]),
                        SUBSCRIBERS as i64,
                        "PUBLISH counts every subscriber"
                    );
                }
            })
        })
        .collect();
    for handle in publishers.into_iter().chain(readers) {
        handle.join().expect("no thread panicked");
    }
    assert_eq!(admin.int(&["PUBLISH", "elsewhere", "x"]), 0);
}

#[test]
fn resp3_subscriber_gets_pushes_between_its_replies_in_order() {
    const MESSAGES: usize = 300;
    let server = start();
    let addr = server.addr();
    let mut sub = Conn::open(addr);
    assert!(matches!(sub.command(&["HELLO", "3"]), Frame::Map(_)));
    subscribe(&mut sub, "feed");
    let publisher = std::thread::spawn(move || {
        let mut conn = Conn::open(addr);
        for i in 0..MESSAGES {
            assert_eq!(conn.int(&["PUBLISH", "feed", &format!("m{i}")]), 1);
            if i % 16 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });

    let mut pushes: Vec<Frame> = Vec::new();
    let mut replies: Vec<Frame> = Vec::new();
    let mut expected: Vec<Frame> = Vec::new();
    let mut pushes_between_replies = 0;
    for i in 0..MESSAGES {
        let (key, value) = (format!("k{i}"), format!("v{i}"));
        sub.send(&["SET", &key, &value]);
        sub.send(&["GET", &key]);
        expected.extend([Frame::simple("OK"), bulk(&value)]);
        let wanted = replies.len() + 2;
        while replies.len() < wanted {
            match sub.read() {
                push @ Frame::Push(_) => {
                    if replies.len() + 1 == wanted {
                        pushes_between_replies += 1;
                    }
                    pushes.push(push);
                }
                reply => replies.push(reply),
            }
        }
    }
    publisher.join().expect("the publisher did not panic");
    while pushes.len() < MESSAGES {
        match sub.read() {
            push @ Frame::Push(_) => pushes.push(push),
            reply => panic!("a reply nobody asked for: {reply:?}"),
        }
    }
    assert_eq!(replies, expected, "every reply, in order");
    let want: Vec<Frame> = (0..MESSAGES)
        .map(|i| Frame::Push(vec![bulk("message"), bulk("feed"), bulk(&format!("m{i}"))]))
        .collect();
    assert_eq!(pushes, want, "every push, in order");
    assert!(sub.silent_for(Duration::from_millis(50)));
    // Not asserted (timing decides it), but shows the interleaving was exercised.
    eprintln!("{pushes_between_replies} pushes arrived between a SET's and a GET's reply");
}

/// A connection that subscribes to `channel` and then never reads again, with a small
/// receive buffer so that the kernel holds little of what the server writes.
fn silent_subscriber(addr: SocketAddr, channel: &str) -> TcpStream {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let request = format!(
        "*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{channel}\r\n",
        channel.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let expected = format!(
        "*3\r\n$9\r\nsubscribe\r\n${}\r\n{channel}\r\n:1\r\n",
        channel.len()
    );
    let mut got = vec![0u8; expected.len()];
    stream.read_exact(&mut got).expect("SUBSCRIBE's reply");
    assert_eq!(String::from_utf8_lossy(&got), expected);
    stream
}

#[test]
fn subscriber_that_never_reads_is_disconnected_past_32mb_and_forgotten() {
    const MESSAGE: usize = 64 * 1024;
    const TOTAL: usize = 40 * 1024 * 1024;
    let server = start();
    let addr = server.addr();
    let mut admin = Conn::open(addr);
    let mut slow = silent_subscriber(addr, "flood");
    let slow_addr = slow.local_addr().expect("local addr").to_string();
    assert_eq!(info_field(&mut admin, "clients", "connected_clients"), "2");

    // Another client keeps asking meanwhile; the server must answer it promptly.
    let publishing = Arc::new(AtomicBool::new(true));
    let pinger = {
        let publishing = Arc::clone(&publishing);
        std::thread::spawn(move || {
            let mut conn = Conn::open(addr);
            let mut slowest = Duration::ZERO;
            let mut pings = 0;
            while publishing.load(Ordering::Relaxed) {
                let sent = Instant::now();
                assert_eq!(conn.command(&["PING"]), Frame::simple("PONG"));
                slowest = slowest.max(sent.elapsed());
                pings += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            (pings, slowest)
        })
    };

    let mut publisher = Conn::open(addr);
    let payload = vec![b'x'; MESSAGE];
    let mut delivered_bytes = 0;
    let mut published = 0;
    while published < TOTAL {
        let receivers = match publisher.command_bytes(&[b"PUBLISH", b"flood", &payload]) {
            Frame::Integer(n) => n,
            other => panic!("PUBLISH answered {other:?}"),
        };
        assert!(receivers <= 1, "one subscriber at most: {receivers}");
        delivered_bytes += receivers as usize * MESSAGE;
        published += MESSAGE;
    }
    publishing.store(false, Ordering::Relaxed);
    let (pings, slowest) = pinger.join().expect("the pinger did not panic");
    assert!(pings > 0);
    assert!(
        slowest < Duration::from_millis(500),
        "a PING waited {slowest:?} while the subscriber was flooded"
    );
    assert!(
        delivered_bytes > 32 * 1024 * 1024,
        "the subscriber was dropped after only {delivered_bytes} bytes: \
         Redis's hard limit is 32 MB"
    );

    // The server closed the connection: draining what the kernel holds ends in EOF
    // (or a reset), long before 40 MB have been read.
    let mut drained = 0usize;
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        match slow.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
        assert!(
            drained < TOTAL,
            "the slow subscriber was never disconnected: read {drained} bytes"
        );
    }
    assert!(drained < TOTAL);

    wait_numsub(&mut admin, "flood", 0);
    assert_eq!(admin.int(&["PUBLISH", "flood", "after"]), 0);
    let deadline = Instant::now() + TIMEOUT;
    while info_field(&mut admin, "clients", "connected_clients") != "2" {
        assert!(
            Instant::now() < deadline,
            "INFO still counts the subscriber"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let list = admin.text(&["CLIENT", "LIST"]);
    assert!(
        !list.contains(&format!("addr={slow_addr} ")),
        "CLIENT LIST still shows the subscriber: {list}"
    );
    assert_eq!(info_field(&mut admin, "stats", "pubsub_channels"), "0");
}

#[test]
fn subscribers_are_exempt_from_the_idle_timeout() {
    let server = start();
    let addr = server.addr();
    let mut admin = Conn::open(addr);
    admin.ok(&["CONFIG", "SET", "timeout", "1"]);
    let mut sub = Conn::open(addr);
    subscribe(&mut sub, "quiet");
    let mut idle = Conn::open(addr);
    assert_eq!(idle.command(&["PING"]), Frame::simple("PONG"));
    let mut psub = Conn::open(addr);
    psub.send(&["PSUBSCRIBE", "qu*"]);
    assert_eq!(
        psub.read(),
        Frame::Array(vec![bulk("psubscribe"), bulk("qu*"), Frame::Integer(1)])
    );

    std::thread::sleep(Duration::from_millis(2500));

    // A fresh connection publishes: the admin connection has been idle too.
    let mut publisher = Conn::open(addr);
    assert_eq!(publisher.int(&["PUBLISH", "quiet", "still here"]), 2);
    assert_eq!(sub.read(), message("quiet", "still here"));
    assert_eq!(
        psub.read(),
        Frame::Array(vec![
            bulk("pmessage"),
            bulk("qu*"),
            bulk("quiet"),
            bulk("still here"),
        ])
    );

    // The plain connection was closed without a word.
    let mut byte = [0u8; 1];
    idle.stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    match idle.stream.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("an idle non-subscriber is closed, not {other:?}"),
    }
    publisher.ok(&["CONFIG", "SET", "timeout", "0"]);
}

#[test]
fn a_subscriber_that_disconnects_is_forgotten() {
    let server = start();
    let addr = server.addr();
    let mut admin = Conn::open(addr);
    {
        let mut sub = Conn::open(addr);
        subscribe(&mut sub, "gone");
        sub.send(&["PSUBSCRIBE", "go*"]);
        assert_eq!(
            sub.read(),
            Frame::Array(vec![bulk("psubscribe"), bulk("go*"), Frame::Integer(2)])
        );
        wait_numsub(&mut admin, "gone", 1);
        assert_eq!(admin.int(&["PUBSUB", "NUMPAT"]), 1);
        assert_eq!(admin.int(&["PUBLISH", "gone", "hello"]), 2);
        assert_eq!(sub.read(), message("gone", "hello"));
    }
    wait_numsub(&mut admin, "gone", 0);
    assert_eq!(admin.int(&["PUBSUB", "NUMPAT"]), 0);
    assert_eq!(admin.int(&["PUBLISH", "gone", "anyone?"]), 0);
    assert_eq!(
        admin.command(&["PUBSUB", "CHANNELS"]),
        Frame::Array(Vec::new())
    );
}
