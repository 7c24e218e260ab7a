//! Happy eyeballs with an injected resolver: `localhost` → [::1, 127.0.0.1] (seed 001).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bounded, our_server, Mode, Proxy, RedisServer};
use lockstep::{Client, Commands, Config, Error, Phase, StaticResolver};

fn localhost_v6_first() -> Arc<StaticResolver> {
    Arc::new(StaticResolver::new().with(
        "localhost",
        [
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        ],
    ))
}

fn localhost_config(port: u16) -> Config {
    Config::builder()
        .url(&format!("redis://localhost:{port}"))
        .unwrap()
        .resolver(localhost_v6_first())
        .connect_timeout(Duration::from_secs(2))
        .build()
}

/// A proxy on [::1], at the port of `target` (which listens on 127.0.0.1 only), in `mode`.
async fn v6_proxy(target: SocketAddr, mode: Mode) -> Proxy {
    let v6 = Proxy::start(
        SocketAddr::new(Ipv6Addr::LOCALHOST.into(), target.port()),
        target,
    )
    .await;
    v6.set_mode(mode);
    v6
}

/// lockstep on 127.0.0.1 only, a proxy in `mode` on [::1] at its port, and a client (not
/// connected yet) for `localhost` at that port.
async fn v4_server_and_v6_proxy(mode: Mode) -> (lockstep_server::Server, Proxy, Client) {
    let server = our_server(0).await;
    let v6 = v6_proxy(server.addr(), mode).await;
    let client = Client::new(localhost_config(server.addr().port()));
    (server, v6, client)
}

/// Connects with `cfg`, which must fail: the phase it failed in, and the error.
async fn failed_connect(cfg: Config) -> (Option<Phase>, Error) {
    let err = Client::new(cfg).connect().await.unwrap_err();
    let Error::Connect(ce) = &err else {
        panic!("expected a connect error, got {err}")
    };
    (ce.phase(), err)
}

/// Seed 001: the server listens on 127.0.0.1 only; something on [::1] accepts and closes.
/// The ::1 address fails in its handshake, and the client connects through 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_then_closed_v6_falls_back_to_v4() {
    let (server, v6, client) = v4_server_and_v6_proxy(Mode::AcceptClose).await;
    let port = server.addr().port();
    bounded(10, "connect", client.connect()).await.unwrap();
    assert_eq!(client.peer(), Some(format!("127.0.0.1:{port}")));
    assert!(v6.accepts() >= 1, "::1 was tried first");
    client.set("via", "v4").await.unwrap();
    let v: String = client.get("via").await.unwrap();
    assert_eq!(v, "v4");
    server.stop().await;
}

/// Same with real redis-server bound to 127.0.0.1 only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_then_closed_v6_falls_back_to_v4_redis_server() {
    let redis = RedisServer::start();
    let _v6 = v6_proxy(redis.addr(), Mode::AcceptClose).await;
    let client = Client::new(localhost_config(redis.port));
    bounded(10, "connect", client.connect()).await.unwrap();
    assert_eq!(client.peer(), Some(format!("127.0.0.1:{}", redis.port)));
    assert_eq!(client.protocol(), Some(lockstep::Protocol::Resp3));
    assert_eq!(client.ping().await.unwrap(), "PONG");
}

/// Nothing listens: the error names every address with its phase and cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_error_names_each_address() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = Client::new(localhost_config(port));
    let err = bounded(10, "connect", client.connect()).await.unwrap_err();
    let Error::Connect(ce) = &err else {
        panic!("expected a connect error, got {err}")
    };
    assert_eq!(ce.failures.len(), 2, "{err}");
    let addrs: Vec<String> = ce
        .failures
        .iter()
        .map(|f| f.addr.unwrap().to_string())
        .collect();
    assert!(addrs.contains(&format!("[::1]:{port}")), "{err}");
    assert!(addrs.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(ce.failures.iter().all(|f| f.phase == Phase::Tcp), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("[::1]:{port}: TCP failed")),
        "{text}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{port}: TCP failed")),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    assert_eq!(client.state(), lockstep::State::Closed);
    // Commands fail with the same, complete error.
    let err = client.ping().await.unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_failure_is_reported_as_dns() {
    let cfg = Config::builder()
        .url("redis://no-such-host.invalid:6379")
        .unwrap()
        .resolver(Arc::new(StaticResolver::new()))
        .build();
    let (phase, err) = failed_connect(cfg).await;
    assert_eq!(phase, Some(Phase::Dns));
    assert!(err.to_string().contains("DNS failed"), "{err}");
}

/// RFC 8305: while ::1 hangs (accepts, never answers), 127.0.0.1 starts after the attempt
/// delay and wins; the connect takes about the delay, not the connect timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_first_address_loses_after_attempt_delay() {
    let (server, _v6, client) = v4_server_and_v6_proxy(Mode::Blackhole).await;
    let port = server.addr().port();
    let started = Instant::now();
    bounded(10, "connect", client.connect()).await.unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(240), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(client.peer(), Some(format!("127.0.0.1:{port}")));
    // The losing attempt's socket is closed: only the winner stays open.
    assert_eq!(client.metrics().sockets_open, 1);
    server.stop().await;
}

/// Handshake failures name their phase: AUTH with a wrong password, SELECT out of range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_failures_name_their_phase() {
    let redis = RedisServer::start();
    let admin = Client::new(common::config(redis.addr()).build());
    admin
        .send(
            &lockstep::cmd("CONFIG")
                .arg("SET")
                .arg("requirepass")
                .arg("right"),
        )
        .await
        .unwrap();

    let bad = Config::from_url(&format!("redis://:wrong@127.0.0.1:{}", redis.port)).unwrap();
    let (phase, err) = failed_connect(bad).await;
    assert_eq!(phase, Some(Phase::Auth), "{err}");

    let good = Config::builder()
        .url(&format!("redis://:right@127.0.0.1:{}/3", redis.port))
        .unwrap()
        .client_name("lockstep-test")
        .build();
    let c = Client::new(good);
    c.connect().await.unwrap();
    let name: String = c
        .query(lockstep::cmd("CLIENT").arg("GETNAME"))
        .await
        .unwrap();
    assert_eq!(name, "lockstep-test");
    let info: String = c.query(lockstep::cmd("CLIENT").arg("INFO")).await.unwrap();
    assert!(info.contains(" db=3 "), "{info}");

    let bad_db = Config::from_url(&format!("redis://:right@127.0.0.1:{}/99", redis.port)).unwrap();
    let (phase, err) = failed_connect(bad_db).await;
    assert_eq!(phase, Some(Phase::Select), "{err}");

    // RESP2 fallback path (AUTH + SELECT + SETNAME as separate commands).
    let resp2 = Config::builder()
        .url(&format!(
            "redis://:right@127.0.0.1:{}/2?protocol=2",
            redis.port
        ))
        .unwrap()
        .build();
    let c = Client::new(resp2);
    c.connect().await.unwrap();
    assert_eq!(c.protocol(), Some(lockstep::Protocol::Resp2));
}

/// A server without HELLO: the handshake falls back to AUTH + CLIENT SETNAME (RESP2), and
/// an unknown CLIENT is tolerated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_falls_back_when_hello_is_unknown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Answer each command by its name, as an old server would.
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            let mut replies = String::new();
            for part in text.split('*').filter(|p| !p.is_empty()) {
                let words: Vec<&str> = part.split("\r\n").collect();
                let name = words.get(2).copied().unwrap_or("").to_ascii_uppercase();
                seen2.lock().unwrap().push(name.clone());
                replies.push_str(match name.as_str() {
                    "HELLO" => "-ERR unknown command 'HELLO', with args beginning with: '3' \r\n",
                    "AUTH" => "+OK\r\n",
                    "CLIENT" => "-ERR unknown command 'CLIENT', with args beginning with: \r\n",
                    "GET" => "$2\r\nhi\r\n",
                    _ => "-ERR unexpected\r\n",
                });
            }
            buf.clear();
            s.write_all(replies.as_bytes()).await.unwrap();
        }
    });
    let cfg = Config::builder()
        .url(&format!("redis://:secret@{addr}"))
        .unwrap()
        .client_name("old-server")
        .build();
    let c = Client::new(cfg);
    bounded(5, "connect", c.connect()).await.unwrap();
    assert_eq!(c.protocol(), Some(lockstep::Protocol::Resp2));
    assert_eq!(c.get::<String>("k").await.unwrap(), "hi");
    assert_eq!(*seen.lock().unwrap(), ["HELLO", "AUTH", "CLIENT", "GET"]);
}
