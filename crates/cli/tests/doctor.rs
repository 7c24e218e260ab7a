//! `lockstep doctor`: every diagnosis against a real listener that has the problem — a
//! lockstep server bound to 127.0.0.1 only with `localhost` resolving to ::1 first (seed
//! 001), listeners that accept and close, answer HTTP or speak only TLS, password-protected
//! and protected-mode servers, a cluster whose nodes advertise an address this machine
//! cannot reach them at, and nothing listening at all. Then the command itself: its JSON
//! and its exit codes.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockstep::StaticResolver;
use lockstep_cli::doctor::{diagnose, Check, Options, Report, Status};
use lockstep_server::{Cluster, ClusterConfig, Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(60), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not finish within 60 s"),
    }
}

/// Runs the doctor on `url` with a short timeout and, when given, `resolver`.
async fn doctor(url: &str, resolver: Option<StaticResolver>) -> Report {
    let mut opts = Options::new(url).timeout(Duration::from_secs(3));
    if let Some(r) = resolver {
        opts = opts.resolver(Arc::new(r));
    }
    let report = bounded("doctor", diagnose(&opts)).await;
    eprintln!("{}", report.render());
    report
}

/// `localhost` → [::1, 127.0.0.1], in that order (Fedora's and Node's default since 17).
fn localhost_v6_first() -> StaticResolver {
    StaticResolver::new().with("localhost", [V6, V4])
}

fn check<'a>(report: &'a Report, name: &str, addr: Option<SocketAddr>) -> &'a Check {
    report
        .check(name, addr)
        .unwrap_or_else(|| panic!("no {name} check at {addr:?} in:\n{}", report.render()))
}

fn assert_failed(report: &Report, name: &str, addr: Option<SocketAddr>, kind: &str) -> Check {
    let c = check(report, name, addr);
    assert_eq!(
        (c.status, c.kind),
        (Status::Fail, kind),
        "{name} at {addr:?}:\n{}",
        report.render()
    );
    assert!(c.fix.is_some(), "a failure comes with a fix: {c:?}");
    assert!(!report.passed());
    c.clone()
}

/// A lockstep server on `bind` only.
async fn lockstep_on(bind: IpAddr, requirepass: Option<&str>) -> Server {
    Server::start(ServerConfig {
        bind: vec![bind],
        requirepass: requirepass.map(str::to_string),
        ..ServerConfig::ephemeral()
    })
    .await
    .expect("start lockstep server")
}

/// A listener that accepts every connection and closes it at once, as a container port
/// forwarder with no path to the server does (seed 001).
async fn accept_then_close(addr: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind(addr).await.expect("bind accept-close");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    addr
}

/// A tiny web server: every request gets `400 Bad Request`, as nginx answers RESP.
async fn http_listener() -> SocketAddr {
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    addr
}

/// A TLS-only port (self-signed certificate for `localhost`) that forwards the decrypted
/// bytes to `backend`: Redis behind a TLS terminator.
async fn tls_terminator(backend: SocketAddr) -> SocketAddr {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], der)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

/// A port nothing listens on.
fn closed_port(ip: IpAddr) -> u16 {
    let l = std::net::TcpListener::bind((ip, 0)).unwrap();
    l.local_addr().unwrap().port()
}

/// A real redis-server child, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl RedisServer {
    /// Starts redis-server on `ip` and a free port with `args`; waits until it answers
    /// (anything, DENIED included).
    fn start(ip: IpAddr, args: &[&str]) -> RedisServer {
        let port = closed_port(ip);
        let dir =
            std::env::temp_dir().join(format!("lockstep-doctor-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", &ip.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "these tests need redis-server in PATH (CI installs it; locally: \
                     apt-get install redis-server): {e}"
                )
            });
        let server = RedisServer { child, port, dir };
        let started = Instant::now();
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect((ip, port)) {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                let mut buf = [0u8; 16];
                if s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| n > 0) {
                    return server;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server on {ip}:{port} did not answer within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts redis-server with a TLS port only (`--port 0 --tls-port P`) and `args`, and
    /// waits until the port accepts connections.
    fn start_tls(ip: IpAddr, args: &[String]) -> RedisServer {
        let port = closed_port(ip);
        let dir =
            std::env::temp_dir().join(format!("lockstep-doctor-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args([
                "--bind",
                &ip.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("these tests need redis-server (built with TLS) in PATH");
        let server = RedisServer { child, port, dir };
        let started = Instant::now();
        while std::net::TcpStream::connect((ip, port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server's TLS port {ip}:{port} did not open within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// --- seed 001 --------------------------------------------------------------------------

/// Seed 001 exactly: the server listens on 127.0.0.1 only, something on [::1] accepts the
/// connection and closes it, and `localhost` resolves to ::1 first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_only_server_with_localhost_v6_first_and_accept_close_on_v6() {
    let server = lockstep_on(V4, None).await;
    let port = server.addr().port();
    let v6 = accept_then_close(SocketAddr::new(V6, port)).await;
    let report = doctor(
        &format!("redis://localhost:{port}"),
        Some(localhost_v6_first()),
    )
    .await;

    let dns = check(&report, "dns", None);
    assert!(dns.passed());
    assert!(dns.message.contains("::1, 127.0.0.1"), "{}", dns.message);
    assert!(check(&report, "tcp", Some(v6)).passed());
    assert_failed(&report, "resp", Some(v6), "accepted_then_closed");
    let v4 = SocketAddr::new(V4, port);
    assert!(check(&report, "latency", Some(v4)).passed());
    let families = assert_failed(&report, "families", None, "family_mismatch");
    assert!(
        families.message.contains("bound to 127.0.0.1 only"),
        "{}",
        families.message
    );
    assert!(
        families.message.contains("localhost resolves to ::1 first"),
        "{}",
        families.message
    );
    let fix = families.fix.unwrap();
    assert!(fix.contains("use 127.0.0.1"), "{fix}");
    assert!(fix.contains("bind 127.0.0.1 ::1"), "{fix}");
    // The order of the report is the resolver's: ::1's checks come first.
    let first_addr = report.checks.iter().find_map(|c| c.addr);
    assert_eq!(first_addr, Some(v6));
    server.stop().await;
}

/// The same server with nothing at all on [::1]: refused there, the same verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_only_server_with_localhost_v6_first_and_nothing_on_v6() {
    let server = lockstep_on(V4, None).await;
    let port = server.addr().port();
    let report = doctor(
        &format!("redis://localhost:{port}"),
        Some(localhost_v6_first()),
    )
    .await;
    assert_failed(&report, "tcp", Some(SocketAddr::new(V6, port)), "refused");
    let families = assert_failed(&report, "families", None, "family_mismatch");
    assert!(
        families.message.contains("bound to 127.0.0.1 only"),
        "{}",
        families.message
    );
    assert!(families.message.contains("refused"), "{}", families.message);
    server.stop().await;
}

/// A server on both families: every check passes, the families check included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_on_both_families_passes_every_check() {
    let server = Server::start(ServerConfig::ephemeral()).await.unwrap();
    let port = server.addr().port();
    if server.addrs().len() < 2 {
        eprintln!("this machine has no ::1: the both-families case cannot be shown here");
        server.stop().await;
        return;
    }
    let report = doctor(
        &format!("redis://localhost:{port}"),
        Some(localhost_v6_first()),
    )
    .await;
    assert!(report.passed(), "{}", report.render());
    assert_eq!(check(&report, "families", None).kind, "ok");
    let server_check = check(&report, "server", Some(SocketAddr::new(V4, port)));
    assert_eq!(server_check.data["protocol"], 3);
    assert_eq!(check(&report, "cluster", None).kind, "standalone");
    server.stop().await;
}

// --- listeners that are not Redis -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_then_close_listener_is_named_so() {
    let addr = accept_then_close(SocketAddr::new(V4, 0)).await;
    let report = doctor(&format!("redis://{addr}"), None).await;
    assert!(check(&report, "tcp", Some(addr)).passed());
    let c = assert_failed(&report, "resp", Some(addr), "accepted_then_closed");
    assert!(
        c.message.contains("closed it before any reply"),
        "{}",
        c.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_listener_is_not_redis() {
    let addr = http_listener().await;
    let report = doctor(&format!("redis://{addr}"), None).await;
    let c = assert_failed(&report, "resp", Some(addr), "http");
    assert!(
        c.message.contains("HTTP/1.1 400 Bad Request"),
        "{}",
        c.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_only_port_says_use_rediss() {
    let server = lockstep_on(V4, None).await;
    let tls = tls_terminator(server.addr()).await;
    let report = doctor(&format!("redis://{tls}"), None).await;
    let c = assert_failed(&report, "resp", Some(tls), "expects_tls");
    assert!(c.message.contains("expects TLS"), "{}", c.message);
    assert!(c.fix.unwrap().contains("rediss://"));
    server.stop().await;
}

/// redis-server's own TLS port (tls-port, no plain port). A plain PING is reset; a TLS
/// handshake succeeds. With its default tls-auth-clients yes, it then ends the session for
/// want of a client certificate; with tls-auth-clients no every check passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_server_tls_port_expects_tls_and_a_client_certificate() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("lockstep-doctor-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let tls_args = |auth: &'static str| -> Vec<String> {
        vec![
            "--tls-cert-file".into(),
            cert_file.to_string_lossy().into_owned(),
            "--tls-key-file".into(),
            key_file.to_string_lossy().into_owned(),
            "--tls-ca-cert-file".into(),
            cert_file.to_string_lossy().into_owned(),
            "--tls-auth-clients".into(),
            auth.into(),
        ]
    };

    for auth in ["yes", "no"] {
        let redis = RedisServer::start_tls(V4, &tls_args(auth));
        let addr = SocketAddr::new(V4, redis.port);
        let report = doctor(&format!("redis://{addr}"), None).await;
        let c = assert_failed(&report, "resp", Some(addr), "expects_tls");
        assert!(
            c.message
                .contains("TLS handshake on the same port succeeds"),
            "{}",
            c.message
        );

        let report = doctor(
            &format!("rediss://localhost:{}?insecure=true", redis.port),
            Some(StaticResolver::new().with("localhost", [V4])),
        )
        .await;
        if auth == "yes" {
            assert_failed(&report, "tls", Some(addr), "client_certificate");
        } else {
            assert!(report.passed(), "{}", report.render());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A listener that accepts and never says anything: silence, not a TLS port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_listener_is_named_so() {
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let report = doctor(&format!("redis://{addr}"), None).await;
    let c = assert_failed(&report, "resp", Some(addr), "silent");
    assert!(c.message.contains("did not answer PING"), "{}", c.message);
}

/// rediss:// to the same port: the self-signed certificate is not trusted; with
/// `insecure` the handshake and every check after it pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_verifies_the_certificate_unless_insecure() {
    let server = lockstep_on(V4, None).await;
    let tls = tls_terminator(server.addr()).await;
    let report = doctor(&format!("rediss://{tls}"), None).await;
    assert_failed(&report, "tls", Some(tls), "certificate");

    let report = doctor(&format!("rediss://{tls}?insecure=true"), None).await;
    assert!(report.passed(), "{}", report.render());
    assert!(check(&report, "tls", Some(tls)).passed());
    server.stop().await;
}

/// rediss:// to a plain-text Redis port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_to_a_plain_port_says_use_redis() {
    let server = lockstep_on(V4, None).await;
    let addr = server.addr();
    let report = doctor(&format!("rediss://{addr}"), None).await;
    let c = assert_failed(&report, "tls", Some(addr), "plain_port");
    assert!(c.fix.unwrap().contains("redis://"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_refused() {
    let port = closed_port(V4);
    let report = doctor(&format!("redis://127.0.0.1:{port}"), None).await;
    let c = assert_failed(&report, "tcp", Some(SocketAddr::new(V4, port)), "refused");
    assert!(c.message.contains("nothing listens"), "{}", c.message);
    // Nothing after the failed connect: no RESP, AUTH or cluster check.
    assert!(report.check("resp", None).is_none());
    assert!(report.check("cluster", None).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_fails_in_dns() {
    let report = doctor("redis://redis-in-compose:6379", Some(localhost_v6_first())).await;
    assert_failed(&report, "dns", None, "lookup_failed");
    assert_eq!(report.checks.len(), 1);
}

// --- passwords and protected mode -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_protected_server_without_a_password_is_noauth() {
    let server = lockstep_on(V4, Some("s3cret")).await;
    let addr = server.addr();
    let report = doctor(&format!("redis://{addr}"), None).await;
    assert!(
        check(&report, "resp", Some(addr)).passed(),
        "NOAUTH is RESP"
    );
    let c = assert_failed(&report, "auth", Some(addr), "noauth");
    assert!(c.fix.unwrap().contains("redis://:PASSWORD@"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_protected_server_with_a_wrong_password_is_wrongpass() {
    let server = lockstep_on(V4, Some("s3cret")).await;
    let addr = server.addr();
    let report = doctor(&format!("redis://:nope@{addr}"), None).await;
    assert_failed(&report, "auth", Some(addr), "wrongpass");
    assert!(
        !report.url.contains("nope"),
        "the password is not printed: {}",
        report.url
    );

    let report = doctor(&format!("redis://:s3cret@{addr}"), None).await;
    assert!(report.passed(), "{}", report.render());
    server.stop().await;
}

/// The same two diagnoses against redis-server with requirepass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_server_with_requirepass_noauth_and_wrongpass() {
    let redis = RedisServer::start(V4, &["--requirepass", "s3cret"]);
    let addr = SocketAddr::new(V4, redis.port);
    let report = doctor(&format!("redis://{addr}"), None).await;
    assert_failed(&report, "auth", Some(addr), "noauth");
    let report = doctor(&format!("redis://:wrong@{addr}"), None).await;
    assert_failed(&report, "auth", Some(addr), "wrongpass");
    let report = doctor(&format!("redis://default:s3cret@{addr}"), None).await;
    assert!(report.passed(), "{}", report.render());
    assert!(check(&report, "server", Some(addr)).message.contains("7."));
}

/// This machine's address on its default route, if it has one that is not loopback.
fn non_loopback_ip() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("203.0.113.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// redis-server in protected mode (no password) reached over a non-loopback address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_mode_server_reached_from_outside_loopback_is_denied() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!(
            "this machine has no non-loopback address: protected mode cannot be shown here \
             (it only refuses clients that do not come from loopback)"
        );
        return;
    };
    let redis = RedisServer::start(ip, &["--protected-mode", "yes"]);
    let addr = SocketAddr::new(ip, redis.port);
    let report = doctor(&format!("redis://{addr}"), None).await;
    let c = assert_failed(&report, "protected_mode", Some(addr), "denied");
    assert!(c.message.contains("protected mode"), "{}", c.message);
    assert!(c.fix.unwrap().contains("127.0.0.1"));
}

// --- clusters ---------------------------------------------------------------------------

/// The Docker/NAT trap with a real redis-server: a one-node cluster that announces
/// 203.0.113.1 (TEST-NET-3, reachable from nowhere). Its port is reachable here; the
/// address it tells clients to use is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_advertising_unreachable_addresses_is_the_nat_trap() {
    let redis = RedisServer::start(
        V4,
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-announce-ip",
            "203.0.113.1",
            "--cluster-config-file",
            "nodes.conf",
        ],
    );
    assert_eq!(
        redis
            .cli(&["cluster", "addslotsrange", "0", "16383"])
            .trim(),
        "OK"
    );
    let started = Instant::now();
    while !redis.cli(&["cluster", "info"]).contains("cluster_state:ok") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "cluster_state never ok"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let addr = SocketAddr::new(V4, redis.port);
    let report = doctor(&format!("redis://{addr}"), None).await;
    assert_eq!(check(&report, "cluster", None).kind, "cluster");
    assert!(check(&report, "cluster_state", None).passed());
    let c = assert_failed(&report, "cluster_nodes", None, "nodes_unreachable");
    assert!(
        c.message.contains(&format!("203.0.113.1:{}", redis.port)),
        "{}",
        c.message
    );
    assert!(c.fix.unwrap().contains("cluster-announce-ip"));
    assert_eq!(c.data[0]["reachable"], false);
}

/// A lockstep cluster whose nodes announce where they listen: every node answers from here
/// as itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockstep_cluster_nodes_are_all_reachable() {
    let cluster = Cluster::start(ClusterConfig {
        bind: vec![V4],
        ..ClusterConfig::ephemeral(3)
    })
    .await
    .expect("start cluster");
    let started = Instant::now();
    while !cluster.is_ok().await {
        assert!(started.elapsed() < Duration::from_secs(15));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let addr = cluster.addrs()[0];
    let report = doctor(&format!("redis://{addr}"), None).await;
    assert!(report.passed(), "{}", report.render());
    let nodes = check(&report, "cluster_nodes", None);
    assert_eq!(
        nodes.data.as_array().map(Vec::len),
        Some(3),
        "{:?}",
        nodes.data
    );
    cluster.stop().await;
}

// --- the command ------------------------------------------------------------------------

fn lockstep(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .args(args)
        .output()
        .expect("run lockstep");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_parses_and_exit_code_is_zero_only_when_every_check_passed() {
    let server = lockstep_on(V4, None).await;
    let url = format!("redis://{}", server.addr());
    let (code, out) = tokio::task::spawn_blocking(move || lockstep(&["doctor", &url, "--json"]))
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&out).expect("doctor --json is JSON");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(json["passed"], true);
    let names: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "dns",
            "tcp",
            "resp",
            "auth",
            "protected_mode",
            "server",
            "latency",
            "cluster"
        ]
    );
    assert!(json["checks"][6]["data"]["median_ms"].as_f64().is_some());
    server.stop().await;

    let url = format!("redis://127.0.0.1:{}", closed_port(V4));
    let (code, out) = tokio::task::spawn_blocking(move || {
        lockstep(&["doctor", &url, "--json", "--timeout", "1s"])
    })
    .await
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&out).expect("doctor --json is JSON");
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(json["passed"], false);
    assert_eq!(json["checks"][1]["kind"], "refused");
    assert!(json["checks"][1]["fix"].is_string());
}

/// Seed 001 from the command line, `--resolve` standing in for the system's resolver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_prints_the_seed_001_diagnosis_in_plain_words() {
    let server = lockstep_on(V4, None).await;
    let port = server.addr().port();
    accept_then_close(SocketAddr::new(V6, port)).await;
    let (code, out) = tokio::task::spawn_blocking(move || {
        lockstep(&[
            "doctor",
            &format!("localhost:{port}"),
            "--resolve",
            "localhost=::1,127.0.0.1",
            "--timeout",
            "1500ms",
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("✗ resp"), "{out}");
    assert!(
        out.contains("accepted the connection, then closed it"),
        "{out}"
    );
    assert!(
        out.contains("the server is bound to 127.0.0.1 only"),
        "{out}"
    );
    assert!(out.contains("localhost resolves to ::1 first"), "{out}");
    assert!(out.contains("fix: use 127.0.0.1"), "{out}");
    server.stop().await;
}

#[test]
fn bad_arguments_exit_with_2_or_more() {
    let (code, _) = lockstep(&["doctor", "localhost", "--timeout", "soon"]);
    assert_eq!(code, Some(2));
    let (code, _) = lockstep(&["doctor", "localhost", "--resolve", "localhost=nope"]);
    assert_eq!(code, Some(2));
    let (code, out) = lockstep(&["doctor", "ftp://x"]);
    assert_eq!(code, Some(1), "a bad URL is a failed check: {out}");
    assert!(out.contains("✗ url"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_the_server_does_not_have_fails_select() {
    let server = lockstep_on(V4, None).await;
    let addr = server.addr();
    let report = doctor(&format!("redis://{addr}/99"), None).await;
    let c = assert_failed(&report, "select", Some(addr), "bad_db");
    assert!(
        c.message.contains("DB index is out of range"),
        "{}",
        c.message
    );
    let report = doctor(&format!("redis://{addr}/3"), None).await;
    assert!(report.passed(), "{}", report.render());
    server.stop().await;
}

/// A fake cluster node of a Redis older than 7.0: no CLUSTER SHARDS, so the nodes come from
/// CLUSTER SLOTS, which lists `advertised` (ip, port, id) for all the slots. CLUSTER MYID
/// answers `id`. An advertised port 0 stands for the fake node's own port.
async fn fake_cluster_node(id: &'static str, advertised: Vec<(String, u16, String)>) -> SocketAddr {
    use lockstep_resp::decode::Decoder;
    use lockstep_resp::encode::encode;
    use lockstep_resp::Frame;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(bytes::Bytes::copy_from_slice(s.as_bytes()))
    }
    let listener = TcpListener::bind((V4, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let advertised: Vec<(String, u16, String)> = advertised
        .into_iter()
        .map(|(ip, port, id)| (ip, if port == 0 { addr.port() } else { port }, id))
        .collect();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let advertised = advertised.clone();
            tokio::spawn(async move {
                let mut decoder = Decoder::default();
                let mut buf = bytes::BytesMut::new();
                loop {
                    let frame = match decoder.decode(&mut buf) {
                        Ok(Some(f)) => f,
                        Ok(None) => {
                            let mut chunk = [0u8; 4096];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        }
                        Err(_) => return,
                    };
                    let Frame::Array(args) = frame else { return };
                    let words: Vec<String> = args
                        .iter()
                        .map(|a| {
                            String::from_utf8_lossy(a.as_bytes().unwrap_or_default()).to_uppercase()
                        })
                        .collect();
                    let words: Vec<&str> = words.iter().map(String::as_str).collect();
                    let reply = match words.as_slice() {
                        ["PING"] => Frame::simple("PONG"),
                        ["HELLO", ..] => Frame::Error("ERR unknown command 'HELLO'".into()),
                        ["INFO", "SERVER"] => bulk("# Server\r\nredis_version:6.2.14\r\nredis_mode:cluster\r\n"),
                        ["INFO", "CLUSTER"] => bulk("# Cluster\r\ncluster_enabled:1\r\n"),
                        ["CLUSTER", "INFO"] => bulk("cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_fail:0\r\ncluster_known_nodes:2\r\n"),
                        ["CLUSTER", "SHARDS"] => Frame::Error("ERR unknown subcommand 'SHARDS'. Try CLUSTER HELP.".into()),
                        ["CLUSTER", "SLOTS"] => {
                            let mut range = vec![Frame::Integer(0), Frame::Integer(16383)];
                            for (ip, port, id) in &advertised {
                                range.push(Frame::Array(vec![bulk(ip), Frame::Integer(i64::from(*port)), bulk(id)]));
                            }
                            Frame::Array(vec![Frame::Array(range)])
                        }
                        ["CLUSTER", "MYID"] => bulk(id),
                        _ => Frame::Error("ERR unknown command".into()),
                    };
                    let mut out = bytes::BytesMut::new();
                    encode(&reply, &mut out);
                    if socket.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Redis 6 (no CLUSTER SHARDS, no HELLO): the nodes come from CLUSTER SLOTS; a node whose
/// advertised address answers with another node's id (ports mapped to the wrong container)
/// is as unreachable as one that does not answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_slots_fallback_and_a_different_node_at_an_advertised_address() {
    let other = fake_cluster_node("other-node", vec![]).await;
    let seed = fake_cluster_node(
        "seed-node",
        vec![
            ("127.0.0.1".into(), 0, "seed-node".into()),
            ("127.0.0.1".into(), other.port(), "replica-node".into()),
        ],
    )
    .await;
    let report = doctor(&format!("redis://{seed}"), None).await;
    assert!(
        check(&report, "auth", Some(seed)).passed(),
        "AUTH-less Redis 6: no HELLO is fine"
    );
    assert!(check(&report, "server", Some(seed))
        .message
        .contains("6.2.14"));
    let c = assert_failed(&report, "cluster_nodes", None, "nodes_unreachable");
    assert!(c.message.starts_with("1 of 2 nodes"), "{}", c.message);
    assert!(
        c.message.contains(&format!(
            "127.0.0.1:{} (a different node answers there (other-node))",
            other.port()
        )),
        "{}",
        c.message
    );
}
