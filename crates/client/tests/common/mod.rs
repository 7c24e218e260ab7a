//! Test harness: our server, a real redis-server (ports 28000-28999), and a TCP proxy that
//! counts accepts and live sockets and can stop forwarding (half-open) or close on accept.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Our server on 127.0.0.1 only (a free port, or the given one).
pub async fn our_server(port: u16) -> lockstep_server::Server {
    let cfg = lockstep_server::ServerConfig {
        bind: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        port,
        ..lockstep_server::ServerConfig::ephemeral()
    };
    // A port just released may take a moment to bind again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match lockstep_server::Server::start(cfg.clone()).await {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("could not start lockstep server: {e}"),
        }
    }
}

pub fn url(addr: SocketAddr) -> String {
    format!("redis://{addr}")
}

/// A fast-failing, fast-retrying configuration for tests.
pub fn config(addr: SocketAddr) -> lockstep::ConfigBuilder {
    lockstep::Config::builder()
        .url(&url(addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .command_timeout(Some(Duration::from_secs(5)))
        .retry(lockstep::RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            max_attempts: None,
            jitter: true,
        })
}

/// A client with the test configuration, already connected.
pub async fn connected(addr: SocketAddr) -> lockstep::Client {
    let client = lockstep::Client::new(config(addr).build());
    client.connect().await.unwrap();
    client
}

/// A pool of at most `size` connections with the test configuration.
pub fn pool(addr: SocketAddr, size: usize) -> lockstep::Pool {
    lockstep::Pool::new(
        config(addr).build(),
        lockstep::PoolOptions {
            size,
            ..lockstep::PoolOptions::default()
        },
    )
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A free port in 28000-28999 (the range this suite uses for real redis-server).
pub fn free_redis_port() -> u16 {
    let _ = NEXT_PORT.compare_exchange(
        0,
        28000 + (std::process::id() % 40) as u16 * 25,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..1000 {
        let p = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        let p = 28000 + (p - 28000) % 1000;
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free port in 28000-28999");
}

/// A real redis-server child process, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_on(free_redis_port())
    }

    pub fn start_on(port: u16) -> RedisServer {
        Self::start_with(port, &[])
    }

    /// Starts one with extra arguments (e.g. TLS settings); `port` is the plain port used
    /// to check it answers.
    pub fn start_with(port: u16, extra: &[String]) -> RedisServer {
        let child = Command::new("redis-server")
            .args(extra)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--daemonize",
                "no",
                "--enable-debug-command",
                "yes",
                "--loglevel",
                "warning",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "these tests need a real redis-server in PATH (CI installs it; \
                     locally: apt-get install redis-server): could not run it: {e}"
                )
            });
        let s = RedisServer {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::{Read, Write};
                let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
                let mut b = [0u8; 7];
                if c.write_all(b"PING\r\n").is_ok()
                    && c.read_exact(&mut b).is_ok()
                    && &b == b"+PONG\r\n"
                {
                    return s;
                }
            }
            if Instant::now() > deadline {
                panic!("redis-server on port {port} did not answer PING within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port;
        let fresh = RedisServer::start_on(port);
        *self = fresh;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Forward = 0,
    /// Keep every socket open but forward nothing (a server that stopped answering).
    Blackhole = 1,
    /// Accept, then close at once (seed 001).
    AcceptClose = 2,
}

/// A TCP proxy in front of `target` that counts connections.
pub struct Proxy {
    pub addr: SocketAddr,
    pub accepts: Arc<AtomicUsize>,
    pub max_live: Arc<AtomicUsize>,
    mode: Arc<AtomicU8>,
    conns: Arc<Mutex<Vec<std::net::TcpStream>>>,
    task: tokio::task::JoinHandle<()>,
}

fn alive(s: &std::net::TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.peek(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    }
}

/// Copies `from` into `to` until either side closes; in `Mode::Blackhole` it reads and
/// drops what arrives.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mode: &AtomicU8) {
    let mut b = vec![0u8; 16384];
    loop {
        let n = match from.read(&mut b).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if mode.load(Ordering::SeqCst) == Mode::Blackhole as u8 {
            continue;
        }
        if to.write_all(&b[..n]).await.is_err() {
            break;
        }
    }
}

impl Proxy {
    pub async fn start(listen: SocketAddr, target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(listen).await.expect("proxy bind");
        let addr = listener.local_addr().unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let max_live = Arc::new(AtomicUsize::new(0));
        let mode = Arc::new(AtomicU8::new(Mode::Forward as u8));
        let conns: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let (a, m, md, cs) = (
            accepts.clone(),
            max_live.clone(),
            mode.clone(),
            conns.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                a.fetch_add(1, Ordering::SeqCst);
                let mode_now = md.load(Ordering::SeqCst);
                if mode_now == Mode::AcceptClose as u8 {
                    drop(client);
                    continue;
                }
                let std_client = client.into_std().unwrap();
                let watch = std_client.try_clone().unwrap();
                let client = TcpStream::from_std(std_client).unwrap();
                // A socket the client closed just before connecting again may not have
                // delivered its FIN yet (loopback packets can be processed on another
                // CPU): give earlier sockets a short grace before counting them as live.
                for _ in 0..10 {
                    let others = {
                        let mut v = cs.lock().unwrap();
                        v.retain(alive);
                        v.len()
                    };
                    if others == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                {
                    let mut v = cs.lock().unwrap();
                    v.retain(alive);
                    v.push(watch.try_clone().unwrap());
                    m.fetch_max(v.len(), Ordering::SeqCst);
                }
                let md = md.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        let _ = watch.shutdown(std::net::Shutdown::Both);
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::select! {
                        _ = pump(cr, sw, &md) => {}
                        _ = pump(sr, cw, &md) => {}
                    }
                    let _ = watch.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Proxy {
            addr,
            accepts,
            max_live,
            mode,
            conns,
            task,
        }
    }

    pub fn set_mode(&self, m: Mode) {
        self.mode.store(m as u8, Ordering::SeqCst);
    }

    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    pub fn max_live(&self) -> usize {
        self.max_live.load(Ordering::SeqCst)
    }

    pub fn live(&self) -> usize {
        let mut v = self.conns.lock().unwrap();
        v.retain(alive);
        v.len()
    }

    /// Closes every proxied connection (like CLIENT KILL, or a server crash).
    pub fn kill_all(&self) {
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.kill_all();
    }
}

/// Where pub/sub messages arrive: a subscription on the shared connection, or a dedicated
/// subscriber.
pub trait Messages {
    async fn next_message(&mut self) -> Option<lockstep::Message>;
}

impl Messages for lockstep::Subscription {
    async fn next_message(&mut self) -> Option<lockstep::Message> {
        self.next().await
    }
}

impl Messages for lockstep::Subscriber {
    async fn next_message(&mut self) -> Option<lockstep::Message> {
        self.next().await
    }
}

/// Publishes until `sub` receives `payload` on `channel` (a PUBLISH may fail while a server
/// restarts; the loop tries again).
pub async fn publish_until_received(
    publisher: &lockstep::Client,
    sub: &mut impl Messages,
    channel: &str,
    payload: &str,
) {
    bounded(10, "message delivery", async {
        loop {
            let _ = publisher
                .query::<i64>(lockstep::cmd("PUBLISH").arg(channel).arg(payload))
                .await;
            let next = tokio::time::timeout(Duration::from_millis(100), sub.next_message());
            if let Ok(Some(m)) = next.await {
                if &m.payload[..] == payload.as_bytes() {
                    assert_eq!(&m.channel[..], channel.as_bytes());
                    return;
                }
            }
        }
    })
    .await
}

/// Runs `f` with a bound, failing the test on a hang.
pub async fn bounded<F: std::future::Future>(secs: u64, what: &str, f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not finish within {secs} s (hang)"),
    }
}
