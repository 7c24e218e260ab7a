//! A RESP client for the server's integration tests: commands in, decoded frames out,
//! over a real TCP connection. Each test file uses part of it.
#![allow(dead_code)]

pub mod dataset;
pub mod rng;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use lockstep_resp::{encode_command, Decoder, Frame};
use lockstep_server::{EmbeddedServer, ServerConfig};

/// How long a reply may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A server on a free port.
pub fn start() -> EmbeddedServer {
    EmbeddedServer::start(ServerConfig::ephemeral()).expect("server starts")
}

pub struct Conn {
    pub stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::default(),
        }
    }

    /// This side's address, as the server sees the client.
    pub fn local_addr(&self) -> String {
        self.stream.local_addr().expect("local addr").to_string()
    }

    /// Sends a command without waiting for its reply.
    pub fn send(&mut self, args: &[&str]) {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send_bytes(&args);
    }

    pub fn send_bytes(&mut self, args: &[&[u8]]) {
        let mut out = BytesMut::new();
        encode_command(args, &mut out);
        self.stream.write_all(&out).expect("send");
    }

    pub fn command(&mut self, args: &[&str]) -> Frame {
        self.send(args);
        self.read()
    }

    pub fn command_bytes(&mut self, args: &[&[u8]]) -> Frame {
        self.send_bytes(args);
        self.read()
    }

    /// The next reply.
    pub fn read(&mut self) -> Frame {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).expect("valid RESP") {
                return frame;
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("server closed the connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("reading a reply: {e}"),
            }
        }
    }

    /// True when no reply arrives within `wait`.
    pub fn silent_for(&mut self, wait: Duration) -> bool {
        if self
            .decoder
            .decode(&mut self.buf)
            .expect("valid RESP")
            .is_some()
        {
            return false;
        }
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut chunk = [0u8; 4096];
        let silent = match self.stream.read(&mut chunk) {
            Ok(0) => panic!("server closed the connection"),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                false
            }
            Err(_) => true,
        };
        self.stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("timeout");
        silent
    }

    pub fn ok(&mut self, args: &[&str]) {
        assert_eq!(self.command(args), Frame::simple("OK"), "{args:?}");
    }

    pub fn int(&mut self, args: &[&str]) -> i64 {
        match self.command(args) {
            Frame::Integer(n) => n,
            other => panic!("{args:?}: expected an integer, got {other:?}"),
        }
    }

    pub fn text(&mut self, args: &[&str]) -> String {
        match self.command(args) {
            Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => {
                String::from_utf8_lossy(&b).into_owned()
            }
            other => panic!("{args:?}: expected text, got {other:?}"),
        }
    }
}

/// A real redis-server child process on a free loopback port, killed on drop: the oracle
/// of the differential tests (`REDIS_SERVER` names another binary).
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    pub fn start_with(extra_args: &[&str]) -> RedisServer {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let port = free_port();
        let child = Command::new(&binary)
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            // Files a test makes it write (a replica's synced RDB, SAVE) go to the
            // temporary directory under a name of this server's, never into the source
            // tree, and no server starts from another's file (`--dir` or `--dbfilename`
            // in `extra_args` win: the last one counts).
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .args(["--dbfilename", &format!("redis-{port}.rdb")])
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "these tests need the real redis-server ({binary}): {e}. \
                     Install it (apt-get install -y redis-server) or set REDIS_SERVER."
                )
            });
        let server = RedisServer { child, port };
        let deadline = Instant::now() + TIMEOUT;
        while TcpStream::connect(server.addr()).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A reply read as a number: an integer, a bulk string of digits, or nil as 0.
pub fn int_of(frame: &Frame) -> i64 {
    match frame {
        Frame::Bulk(b) => std::str::from_utf8(b).unwrap().parse().unwrap(),
        Frame::Integer(n) => *n,
        Frame::Null => 0,
        other => panic!("not a number: {other:?}"),
    }
}

// Blocking commands side by side with redis-server (blocking*.rs).

/// Waits until INFO reports `n` blocked clients.
pub fn wait_blocked(admin: &mut Conn, n: usize) {
    let deadline = Instant::now() + TIMEOUT;
    let want = format!("blocked_clients:{n}\r\n");
    loop {
        let info = match admin.command(&["INFO", "clients"]) {
            Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => b,
            other => panic!("INFO answers text, not {other:?}"),
        };
        if String::from_utf8_lossy(&info).contains(&want) {
            return;
        }
        assert!(Instant::now() < deadline, "never saw {want:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Opens a client and sends `command`, which blocks, then waits until the server counts
/// `blocked` blocked clients.
pub fn park(addr: SocketAddr, admin: &mut Conn, blocked: usize, command: &[&str]) -> Conn {
    let mut c = Conn::open(addr);
    c.send(command);
    wait_blocked(admin, blocked);
    c
}

/// Whether `c` stays without a reply for a while: a frame for the transcript.
pub fn still_waiting(c: &mut Conn) -> Frame {
    Frame::simple(if c.silent_for(Duration::from_millis(100)) {
        "still waiting"
    } else {
        "answered"
    })
}

/// Everything the server sends on `stream` until it closes it (`Some(bytes)`), or `None`
/// if it stays open and silent for `wait`.
pub fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<usize> {
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(total),
            Ok(n) => total += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some(total),
        }
    }
}

/// The value of `field` in INFO `section`, empty when the section has none (a primary has
/// no `master_link_status`, say).
pub fn info_field(conn: &mut Conn, section: &str, field: &str) -> String {
    let text = conn.text(&["INFO", section]);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .to_string()
}

/// Polls `ok` every 5 ms until it holds, failing the test after `limit`; how long it took.
pub fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

/// Runs `scenario` against a real redis-server and against lockstep and asserts that both
/// transcripts (of replies, or of outcomes put in words) are the same.
pub fn same_as_redis<T: PartialEq + std::fmt::Debug>(scenario: impl Fn(SocketAddr) -> Vec<T>) {
    let redis = RedisServer::start();
    let expected = scenario(redis.addr());
    let server = start();
    let actual = scenario(server.addr());
    assert_eq!(actual, expected, "lockstep (left) and redis-server (right)");
}
