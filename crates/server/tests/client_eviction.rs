//! Client eviction (`maxmemory-clients`), each scenario run on a fresh real redis-server and
//! a fresh lockstep server with the same steps, and the outcomes compared: which clients
//! were disconnected, what the survivors were answered, INFO's `evicted_clients`.
//!
//! Sizes are chosen with wide margins: the two servers count a client's memory in the same
//! terms (read buffer, replies not written, transaction, a fixed part) but not to the byte.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{same_as_redis, Conn};

fn evicted_clients(admin: &mut Conn) -> String {
    let info = admin.text(&["INFO", "stats"]);
    info.lines()
        .find(|l| l.starts_with("evicted_clients:"))
        .unwrap_or("evicted_clients: missing")
        .to_string()
}

/// Whether the server closed `stream` (reading what it may still have sent first).
fn closed(stream: &mut TcpStream) -> bool {
    common::read_until_closed(stream, Duration::from_millis(400)).is_some()
}

/// A connection that sent the start of a SET whose value is `len` bytes and only
/// `sent` of them: both servers hold a read buffer of about `len` for it.
fn partial_set(addr: SocketAddr, len: usize, sent: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut req = format!("*3\r\n$3\r\nSET\r\n$4\r\nbig!\r\n${len}\r\n").into_bytes();
    req.extend(std::iter::repeat_n(b'x', sent));
    s.write_all(&req).expect("send");
    s
}

/// Lets the servers read what was sent.
fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

/// A command whose argument pushes the read buffer past the limit disconnects its client
/// before it runs; a smaller one under the limit runs. Others are untouched.
#[test]
fn a_large_argument_over_the_limit_evicts_its_client() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut out = vec![format!(
            "{:?}",
            admin.command(&["CONFIG", "SET", "maxmemory-clients", "3000000"])
        )];
        let mut c = Conn::open(addr);
        let small = "v".repeat(1_000_000);
        out.push(format!(
            "{:?}",
            c.command(&["MSET", "k", "v", "k2", &small])
        ));
        out.push(format!("{:?}", c.command(&["GET", "k"])));
        let big = "v".repeat(3_000_000);
        let mut raw = bytes::BytesMut::new();
        lockstep_resp::encode_command(
            &[b"MSET".as_slice(), b"k", b"v2", b"k2", big.as_bytes()],
            &mut raw,
        );
        // The server may close while the bytes are still going out.
        let _ = c.stream.write_all(&raw);
        out.push(format!("closed: {}", closed(&mut c.stream)));
        out.push(format!("{:?}", admin.command(&["GET", "k"])));
        out.push(evicted_clients(&mut admin));
        out
    });
}

/// CLIENT NO-EVICT ON exempts a client, though its memory still counts: the other clients
/// are evicted in its place (as redis-server does). OFF makes it evictable again.
#[test]
fn no_evict_exempts_a_client_but_its_memory_counts() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.ok(&["CONFIG", "SET", "maxmemory-clients", "1000000"]);
        let mut c = Conn::open(addr);
        let mut out = vec![format!("{:?}", c.command(&["CLIENT", "NO-EVICT", "on"]))];
        let big = "v".repeat(2_000_000);
        out.push(format!("{:?}", c.command(&["SET", "k", &big])));
        out.push(format!("admin closed: {}", closed(&mut admin.stream)));
        out.push(format!("{:?}", c.command(&["STRLEN", "k"])));
        out.push(evicted_clients(&mut c));
        out.push(format!("{:?}", c.command(&["CLIENT", "NO-EVICT", "off"])));
        let mut raw = bytes::BytesMut::new();
        lockstep_resp::encode_command(&[b"SET".as_slice(), b"k", big.as_bytes()], &mut raw);
        let _ = c.stream.write_all(&raw);
        out.push(format!("closed: {}", closed(&mut c.stream)));
        let mut admin = Conn::open(addr);
        out.push(evicted_clients(&mut admin));
        admin.ok(&["CONFIG", "SET", "maxmemory-clients", "0"]);
        out
    });
}

/// A client that sends many reads of a large value and reads no reply is disconnected
/// once the replies it left unread pass the limit.
#[test]
fn unread_replies_over_the_limit_evict_their_client() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.int(&["SETRANGE", "k", "200000", "v"]);
        admin.ok(&["CONFIG", "SET", "maxmemory-clients", "3000000"]);
        let mut c = Conn::open(addr);
        // One reply well under the limit is fine.
        let mut out = vec![format!("{}", c.text(&["GET", "k"]).len())];
        let mut raw = bytes::BytesMut::new();
        for _ in 0..200 {
            lockstep_resp::encode_command(&[b"GET".as_slice(), b"k"], &mut raw);
        }
        let _ = c.stream.write_all(&raw);
        settle();
        out.push(format!("closed: {}", closed(&mut c.stream)));
        out.push(evicted_clients(&mut admin));
        out
    });
}

/// Lowering the limit disconnects the largest clients, and only as many as needed to get
/// under it; a percentage is of `maxmemory`. Each round is done within a second: Redis
/// shrinks the read buffer of a client idle for two seconds.
#[test]
fn a_lower_limit_evicts_the_largest_clients_first_and_no_more() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut out = Vec::new();
        // About 5 MB held: under 3.2 MB once the 2 MB client goes.
        let sizes = [500_000, 1_000_000, 1_500_000, 2_000_000];
        let mut clients: Vec<TcpStream> = sizes
            .iter()
            .map(|&len| partial_set(addr, len, 100))
            .collect();
        settle();
        out.push(evicted_clients(&mut admin));
        out.push(format!(
            "{:?}",
            admin.command(&["CONFIG", "SET", "maxmemory-clients", "3200000"])
        ));
        for c in clients.iter_mut() {
            out.push(format!("closed: {}", closed(c)));
        }
        out.push(evicted_clients(&mut admin));
        // 20% of 5 MB: the 1.5 MB and 1 MB clients go, the 0.5 MB one stays.
        admin.ok(&["CONFIG", "SET", "maxmemory-clients", "0"]);
        drop(clients);
        settle();
        let mut clients: Vec<TcpStream> = sizes[..3]
            .iter()
            .map(|&len| partial_set(addr, len, 100))
            .collect();
        settle();
        admin.ok(&["CONFIG", "SET", "maxmemory", "5000000"]);
        out.push(format!(
            "{:?}",
            admin.command(&["CONFIG", "SET", "maxmemory-clients", "20%"])
        ));
        for c in clients.iter_mut() {
            out.push(format!("closed: {}", closed(c)));
        }
        out.push(evicted_clients(&mut admin));
        admin.ok(&["CONFIG", "SET", "maxmemory-clients", "0"]);
        admin.ok(&["CONFIG", "SET", "maxmemory", "0"]);
        out
    });
}
