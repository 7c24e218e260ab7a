//! The server's connection loop under abuse, over real TCP.
//!
//! A client that sends garbage, an absurd length, half a command, an endless line, or (before
//! AUTH) too many arguments gets exactly the `-ERR Protocol error: ...` reply redis-server
//! 7.0.15 sends for the same bytes (where it sends one) and is then disconnected. Meanwhile a
//! well-behaved client keeps getting correct replies and the server keeps accepting. Many
//! clients pipelining at once each get every reply right.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use lockstep_resp::{encode_command, Decoder, Frame};
use lockstep_server::{EmbeddedServer, ServerConfig};

/// How long a reply, or the server closing a connection, may take.
const TIMEOUT: Duration = Duration::from_secs(10);

fn start() -> EmbeddedServer {
    EmbeddedServer::start(ServerConfig::ephemeral()).expect("server starts")
}

fn start_with_password() -> EmbeddedServer {
    EmbeddedServer::start(ServerConfig {
        requirepass: Some("secret".into()),
        ..ServerConfig::ephemeral()
    })
    .expect("server starts")
}

// ---------------------------------------------------------------------------------------
// A raw client
// ---------------------------------------------------------------------------------------

struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
}

/// How a connection ended, seen from the client.
#[derive(Debug, PartialEq)]
enum End {
    /// The server closed it (EOF, or a reset because our bytes were still unread).
    Closed,
    /// Still open when the time ran out.
    Open,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(TIMEOUT))
            .expect("write timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::default(),
        }
    }

    /// Writes everything. A server that refuses a request may close while we are still
    /// writing it, so write errors are the caller's to judge from what it reads next.
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    fn send_command(&mut self, args: &[&[u8]]) {
        let mut out = BytesMut::new();
        encode_command(args, &mut out);
        self.send(&out).expect("send command");
    }

    fn command(&mut self, args: &[&[u8]]) -> Frame {
        self.send_command(args);
        self.read_frame()
    }

    fn read_frame(&mut self) -> Frame {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(frame)) => return frame,
                Ok(None) => {}
                Err(e) => panic!("server sent invalid RESP: {e}: {:?}", self.buf),
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("server closed the connection; buffered {:?}", self.buf),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("reading a reply: {e}"),
            }
        }
    }

    /// Reads until the server closes the connection or `wait` passes, and returns every
    /// byte received (including any already buffered).
    fn read_until_closed(&mut self, wait: Duration) -> (Vec<u8>, End) {
        let deadline = Instant::now() + wait;
        let mut got = self.buf.split().to_vec();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (got, End::Open);
            }
            self.stream
                .set_read_timeout(Some(left))
                .expect("read timeout");
            match self.stream.read(&mut chunk) {
                Ok(0) => return (got, End::Closed),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return (got, End::Closed),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return (got, End::Open)
                }
                Err(e) => panic!("reading: {e}"),
            }
        }
    }

    /// Reads exactly `expected.len()` bytes (or what arrives before a close or the time
    /// limit), checks them, then checks that the server closes the connection.
    fn expect_reply_then_close(&mut self, expected: &[u8]) {
        let mut got = self.buf.split().to_vec();
        let deadline = Instant::now() + TIMEOUT;
        let mut chunk = [0u8; 16 * 1024];
        while got.len() < expected.len() && Instant::now() < deadline {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(_) => break,
            }
        }
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "reply"
        );
        assert_eq!(got, expected);
        let (rest, end) = self.read_until_closed(TIMEOUT);
        assert_eq!(
            String::from_utf8_lossy(&rest),
            "",
            "nothing may follow the protocol error"
        );
        assert_eq!(
            end,
            End::Closed,
            "the server must close after a protocol error"
        );
    }
}

/// Decodes a whole reply stream, which must be valid RESP with nothing left over.
fn frames_of(bytes: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::from(bytes);
    let mut decoder = Decoder::default();
    let mut frames = Vec::new();
    while let Some(frame) = decoder
        .decode(&mut buf)
        .unwrap_or_else(|e| panic!("invalid RESP from the server: {e}: {bytes:?}"))
    {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "a partial reply was left: {buf:?}");
    frames
}

fn bulk(b: &[u8]) -> Frame {
    Frame::bulk(b.to_vec())
}

fn ok() -> Frame {
    Frame::simple("OK")
}

/// A new connection is accepted and served.
fn assert_serving(addr: SocketAddr) {
    let mut c = Conn::open(addr);
    assert_eq!(c.command(&[b"PING"]), Frame::simple("PONG"));
}

/// Sends `bytes` on a fresh connection and checks Redis's reply and the close that follows.
fn assert_refused(addr: SocketAddr, bytes: &[u8], expected_reply: &[u8]) {
    let mut c = Conn::open(addr);
    // The server may close before it has read everything: a failed write is expected then.
    let _ = c.send(bytes);
    c.expect_reply_then_close(expected_reply);
}

/// `prefix`, then `fill` up to 100 KiB, then `end`: a line well past Redis's 64 KiB limit.
fn line_of_100k(prefix: &[u8], fill: u8, end: &[u8]) -> Vec<u8> {
    let mut line = prefix.to_vec();
    line.resize(100 * 1024, fill);
    line.extend_from_slice(end);
    line
}

// ---------------------------------------------------------------------------------------
// A well-behaved client that runs beside the abuse
// ---------------------------------------------------------------------------------------

/// Loops SET/GET/DEL/PING on its own connection, checking every reply, until stopped.
struct Canary {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl Canary {
    fn start(addr: SocketAddr, name: &str) -> Canary {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let key = format!("canary:{name}").into_bytes();
        let thread = std::thread::spawn(move || {
            let mut c = Conn::open(addr);
            let mut rounds = 0u64;
            while !flag.load(Ordering::Relaxed) || rounds < 3 {
                let value = format!("value-{rounds}").into_bytes();
                assert_eq!(c.command(&[b"PING"]), Frame::simple("PONG"));
                assert_eq!(c.command(&[b"SET", &key, &value]), ok());
                assert_eq!(c.command(&[b"GET", &key]), bulk(&value));
                assert_eq!(c.command(&[b"DEL", &key]), Frame::Integer(1));
                assert_eq!(c.command(&[b"GET", &key]), Frame::Null);
                rounds += 1;
            }
            rounds
        });
        Canary { stop, thread }
    }

    /// Stops the loop and checks that it ran and saw only correct replies.
    fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let rounds = self
            .thread
            .join()
            .unwrap_or_else(|_| panic!("the well-behaved client got a wrong reply"));
        assert!(rounds >= 3);
    }
}

// ---------------------------------------------------------------------------------------
// Garbage
// ---------------------------------------------------------------------------------------

/// xorshift64: deterministic garbage without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes that drive the parser through all its states: random runs, line ends, multibulk
/// and bulk headers with sane and absurd counts, quotes, NULs.
fn garbage(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    while out.len() < len {
        match rng.below(9) {
            0..=2 => {
                let n = 1 + rng.below(32);
                out.extend((0..n).map(|_| rng.next() as u8));
            }
            3 => out.extend_from_slice(b"\r\n"),
            4 => out.push(b'\n'),
            5 => {
                let n = [0i64, 1, 2, 3, -1, 10, 11, 1_000_000, i64::MAX][rng.below(9)];
                out.extend_from_slice(format!("*{n}\r\n").as_bytes());
            }
            6 => {
                let n = [0i64, 1, 3, 4, -1, 16385, 3_000_000_000][rng.below(7)];
                out.extend_from_slice(format!("${n}\r\n").as_bytes());
            }
            7 => out.push([b'"', b'\'', b'\\', 0, b' '][rng.below(5)]),
            _ => out.extend_from_slice(b"XYZ abc"),
        }
    }
    out
}

/// What Redis does with garbage: each complete inline line or multibulk becomes a command
/// (unknown here, so an error reply), until a protocol error is answered and the connection
/// closed. So every reply is an error, and a close caused by the server follows a protocol
/// error.
#[test]
fn random_garbage_only_gets_error_replies_and_others_are_unaffected() {
    let server = start();
    let canary = Canary::start(server.addr(), "garbage");
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let bytes = garbage(&mut rng, 4096);
        let mut c = Conn::open(server.addr());
        let sent = c.send(&bytes);
        // Half-close: end of input, as when a client exits. Whatever the parser was waiting
        // for, the server must now close its side too.
        if sent.is_ok() {
            let _ = c.stream.shutdown(Shutdown::Write);
        }
        let (replies, end) = c.read_until_closed(TIMEOUT);
        assert_eq!(end, End::Closed, "seed {seed}: the server did not close");
        let frames = frames_of(&replies);
        for f in &frames {
            assert!(f.is_error(), "seed {seed}: non-error reply {f:?}");
        }
    }
    canary.finish();
    assert_serving(server.addr());
}

#[test]
fn garbage_followed_by_a_protocol_error_is_answered_then_closed() {
    let server = start();
    // A TLS ClientHello's first bytes, then a multibulk with a bad argument.
    assert_refused(
        server.addr(),
        b"\x16\x03\x01\x02\xa5 hello\r\n*1\r\n+PING\r\n",
        b"-ERR unknown command '\x16\x03\x01\x02\xa5', with args beginning with: 'hello' \r\n\
          -ERR Protocol error: expected '$', got '+'\r\n",
    );
}

// ---------------------------------------------------------------------------------------
// Protocol errors: Redis's reply, then the close
// ---------------------------------------------------------------------------------------

#[test]
fn bulk_length_of_three_billion_is_invalid_and_closes() {
    let server = start();
    let canary = Canary::start(server.addr(), "bulk");
    assert_refused(
        server.addr(),
        b"*1\r\n$3000000000\r\n",
        b"-ERR Protocol error: invalid bulk length\r\n",
    );
    canary.finish();
    assert_serving(server.addr());
}

#[test]
fn multibulk_count_past_int_max_is_invalid_and_closes() {
    let server = start();
    assert_refused(
        server.addr(),
        b"*2147483648\r\n",
        b"-ERR Protocol error: invalid multibulk length\r\n",
    );
}

#[test]
fn argument_without_dollar_is_refused_and_closes() {
    let server = start();
    assert_refused(
        server.addr(),
        b"*1\r\n:1\r\n",
        b"-ERR Protocol error: expected '$', got ':'\r\n",
    );
}

/// Redis prints the offending byte with `%c`: a byte that is not ASCII goes out raw.
#[test]
fn argument_starting_with_a_non_ascii_byte_is_refused_with_that_byte_raw() {
    let server = start();
    assert_refused(
        server.addr(),
        b"*1\r\n\xffPING\r\n",
        b"-ERR Protocol error: expected '$', got '\xff'\r\n",
    );
}

#[test]
fn unbalanced_quotes_are_refused_and_close() {
    let server = start();
    assert_refused(
        server.addr(),
        b"SET a \"b\r\n",
        b"-ERR Protocol error: unbalanced quotes in request\r\n",
    );
}

#[test]
fn commands_before_a_protocol_error_are_answered_first() {
    let server = start();
    assert_refused(
        server.addr(),
        b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$-1\r\n",
        b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid bulk length\r\n",
    );
}

#[test]
fn line_of_100k_without_newline_is_too_big_inline_request_and_closes() {
    let server = start();
    let canary = Canary::start(server.addr(), "inline");
    assert_refused(
        server.addr(),
        &line_of_100k(b"", b'A', b""),
        b"-ERR Protocol error: too big inline request\r\n",
    );
    canary.finish();
    assert_serving(server.addr());
}

/// Redis reads 16 KiB at a time and checks the 64 KiB line limit after each read, so a
/// 100 KiB line is refused even when its newline is already in the socket.
#[test]
fn line_of_100k_with_newline_sent_at_once_is_still_too_big() {
    let server = start();
    assert_refused(
        server.addr(),
        &line_of_100k(b"ECHO ", b'A', b"\r\n"),
        b"-ERR Protocol error: too big inline request\r\n",
    );
}

#[test]
fn multibulk_count_line_of_100k_is_too_big_mbulk_count_string() {
    let server = start();
    assert_refused(
        server.addr(),
        &line_of_100k(b"*", b'1', b"\r\n"),
        b"-ERR Protocol error: too big mbulk count string\r\n",
    );
}

#[test]
fn bulk_count_line_of_100k_without_cr_is_too_big_bulk_count_string() {
    let server = start();
    assert_refused(
        server.addr(),
        &line_of_100k(b"*1\r\n$", b'1', b""),
        b"-ERR Protocol error: too big bulk count string\r\n",
    );
}

/// Redis's line search stops at a NUL, so it waits (silently) for a line end it cannot see
/// until the 64 KiB limit is passed.
#[test]
fn nul_in_a_multibulk_count_waits_silently_then_is_too_big() {
    let server = start();
    let mut c = Conn::open(server.addr());
    c.send(b"*1\x00\r\n$4\r\nPING\r\n").expect("send");
    let (got, end) = c.read_until_closed(Duration::from_millis(300));
    assert_eq!(
        (got, end),
        (Vec::new(), End::Open),
        "Redis sends nothing yet"
    );
    let _ = c.send(&vec![b'A'; 70 * 1024]);
    c.expect_reply_then_close(b"-ERR Protocol error: too big mbulk count string\r\n");
}

// ---------------------------------------------------------------------------------------
// Clients that leave
// ---------------------------------------------------------------------------------------

#[test]
fn half_a_command_then_half_close_gets_no_reply_and_the_server_closes() {
    let server = start();
    let canary = Canary::start(server.addr(), "half");
    let mut c = Conn::open(server.addr());
    c.send(b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nval")
        .expect("send");
    c.stream.shutdown(Shutdown::Write).expect("half-close");
    let (got, end) = c.read_until_closed(TIMEOUT);
    assert_eq!(got, b"");
    assert_eq!(end, End::Closed);
    canary.finish();
    // The half command was never run.
    let mut check = Conn::open(server.addr());
    assert_eq!(check.command(&[b"GET", b"key"]), Frame::Null);
}

#[test]
fn many_clients_dropping_mid_command_leave_the_server_serving() {
    let server = start();
    let canary = Canary::start(server.addr(), "drop");
    let partials: [&[u8]; 5] = [
        b"*2\r\n$3\r\nGET\r\n$3\r\nfo",
        b"*2\r\n$3\r\nGET\r\n",
        b"*2\r\n",
        b"*1\r\n$1000000\r\nabc",
        b"PIN",
    ];
    for round in 0..40 {
        let mut conns: Vec<Conn> = (0..5).map(|_| Conn::open(server.addr())).collect();
        for (c, bytes) in conns.iter_mut().zip(partials) {
            c.send(bytes).expect("send");
        }
        if round % 2 == 0 {
            // An abortive close (RST) instead of a FIN.
            for c in &conns {
                let _ = socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
            }
        }
        drop(conns);
    }
    canary.finish();
    assert_serving(server.addr());
}

// ---------------------------------------------------------------------------------------
// Before AUTH
// ---------------------------------------------------------------------------------------

#[test]
fn unauthenticated_client_sending_eleven_arguments_is_refused_and_closed() {
    let server = start_with_password();
    assert_refused(
        server.addr(),
        b"*11\r\n",
        b"-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
}

#[test]
fn unauthenticated_client_sending_a_20k_bulk_is_refused_and_closed() {
    let server = start_with_password();
    assert_refused(
        server.addr(),
        b"*1\r\n$20000\r\n",
        b"-ERR Protocol error: unauthenticated bulk length\r\n",
    );
}

#[test]
fn unauthenticated_limits_apply_command_by_command_in_a_pipeline() {
    let server = start_with_password();
    assert_refused(
        server.addr(),
        b"PING\r\n*11\r\n",
        b"-NOAUTH Authentication required.\r\n-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
}

#[test]
fn unauthenticated_client_may_send_ten_arguments_and_16k_bulks() {
    let server = start_with_password();
    let mut c = Conn::open(server.addr());
    let big = vec![b'x'; 16384];
    let args: Vec<&[u8]> = vec![b"SET", b"k", &big, b"a", b"b", b"c", b"d", b"e", b"f", b"g"];
    assert_eq!(
        c.command(&args),
        Frame::Error("NOAUTH Authentication required.".into())
    );
}

// ---------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------

/// Appends one command to a pipeline.
fn cmd(out: &mut BytesMut, args: &[&[u8]]) {
    encode_command(args, out);
}

/// A value that shows whether it was written whole: `prefix` repeated, its length varying.
fn stamped_value(prefix: &str, n: usize) -> Vec<u8> {
    prefix.repeat(1 + n % 97).into_bytes()
}

fn is_whole_stamped_value(v: &[u8]) -> bool {
    let Some(end) = v.iter().position(|&b| b == b'|') else {
        return false;
    };
    let unit = &v[..=end];
    // A short last chunk differs from `unit`, so this also checks the length.
    v.chunks(unit.len()).all(|c| c == unit)
}

#[test]
fn concurrent_pipelining_clients_each_get_every_reply_right() {
    const CLIENTS: usize = 16;
    const ROUNDS: usize = 40;
    const DEPTH: usize = 16;
    let server = start();
    let addr = server.addr();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|client| {
            std::thread::spawn(move || {
                let mut c = Conn::open(addr);
                for round in 0..ROUNDS {
                    let mut out = BytesMut::new();
                    let mut expected = Vec::new();
                    for i in 0..DEPTH {
                        let key = format!("c{client}:k{i}");
                        let value = stamped_value(&format!("c{client}r{round}i{i}|"), i + round);
                        cmd(&mut out, &[b"SET", key.as_bytes(), &value]);
                        expected.push(ok());
                        cmd(&mut out, &[b"GET", key.as_bytes()]);
                        expected.push(bulk(&value));
                        cmd(&mut out, &[b"PING", value.as_slice()]);
                        expected.push(bulk(&value));
                        if i % 2 == 0 {
                            cmd(&mut out, &[b"DEL", key.as_bytes(), b"missing"]);
                            expected.push(Frame::Integer(1));
                            cmd(&mut out, &[b"GET", key.as_bytes()]);
                            expected.push(Frame::Null);
                        }
                        cmd(&mut out, &[b"PING"]);
                        expected.push(Frame::simple("PONG"));
                        // Everyone writes the same key: a reader must see some writer's
                        // value whole, never a mix.
                        cmd(&mut out, &[b"SET", b"shared", &value]);
                        expected.push(ok());
                    }
                    cmd(&mut out, &[b"GET", b"shared"]);
                    c.send(&out).expect("send pipeline");
                    for (n, want) in expected.iter().enumerate() {
                        let got = c.read_frame();
                        assert_eq!(&got, want, "client {client} round {round} reply {n}");
                    }
                    match c.read_frame() {
                        Frame::Bulk(v) => {
                            assert!(is_whole_stamped_value(&v), "torn shared value {v:?}")
                        }
                        other => panic!("GET shared: {other:?}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client got a wrong reply");
    }
    assert_serving(addr);
}

#[test]
fn a_client_that_never_reads_its_replies_does_not_block_others() {
    let server = start();
    let mut setup = Conn::open(server.addr());
    let big = vec![b'v'; 64 * 1024];
    assert_eq!(setup.command(&[b"SET", b"big", &big]), ok());

    // 512 GETs of 64 KiB: 32 MiB of replies that nobody reads, far more than the socket
    // buffers hold, so the server's writes to this client stall.
    let mut hog = Conn::open(server.addr());
    let mut out = BytesMut::new();
    for _ in 0..512 {
        cmd(&mut out, &[b"GET", b"big"]);
    }
    hog.send(&out).expect("send");

    let canary = Canary::start(server.addr(), "hog");
    std::thread::sleep(Duration::from_millis(300));
    canary.finish();
    assert_serving(server.addr());
    drop(hog);
}

#[test]
fn server_keeps_accepting_while_many_connections_come_and_go() {
    let server = start();
    let canary = Canary::start(server.addr(), "churn");
    let addr = server.addr();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..50 {
                    let mut c = Conn::open(addr);
                    let key = format!("churn:{t}:{i}");
                    assert_eq!(c.command(&[b"SET", key.as_bytes(), b"v"]), ok());
                    assert_eq!(c.command(&[b"GET", key.as_bytes()]), bulk(b"v"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a churning client got a wrong reply");
    }
    canary.finish();
    assert_serving(addr);
}
