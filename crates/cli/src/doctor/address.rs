//! The checks of one resolved address, in the order a connection meets its problems: TCP
//! connect, TLS (for `rediss://`), whether the peer speaks RESP at all, AUTH, protected mode,
//! the server's name and version, round-trip latency. Each step runs only when the one
//! before it passed; the first failure ends the address's list.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lockstep_resp::Frame;
use serde_json::json;

use super::report::Check;
use super::tls::{self, Handshake};
use super::wire::{self, Answer, Conn, ConnectError};
use super::Target;

/// What one address came to.
pub enum Outcome {
    /// Every check passed; the connection stays open (authenticated) for the cluster checks.
    Ready(Box<Conn>, Facts),
    /// The check named `stage` failed with `kind`.
    Failed {
        stage: &'static str,
        kind: &'static str,
    },
}

/// What the server said about itself.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub cluster_enabled: bool,
}

/// Runs every check against `addr`.
pub async fn examine(
    addr: SocketAddr,
    target: &Target,
    timeout: Duration,
) -> (Vec<Check>, Outcome) {
    let mut checks = Vec::new();
    let outcome = run(addr, target, timeout, &mut checks).await;
    for c in &mut checks {
        c.addr = Some(addr);
    }
    (checks, outcome)
}

fn failed(checks: &mut Vec<Check>, check: Check) -> Outcome {
    let outcome = Outcome::Failed {
        stage: check.name,
        kind: check.kind,
    };
    checks.push(check);
    outcome
}

async fn run(
    addr: SocketAddr,
    target: &Target,
    timeout: Duration,
    checks: &mut Vec<Check>,
) -> Outcome {
    // TCP.
    let tcp = match wire::connect(addr, timeout).await {
        Ok((tcp, took)) => {
            checks.push(
                Check::pass("tcp", "ok", format!("connected in {}", ms(took)))
                    .with_data(json!({ "connect_ms": millis(took) })),
            );
            tcp
        }
        Err(e) => return failed(checks, tcp_failure(addr, &e, timeout)),
    };

    // TLS, when the URL asks for it.
    let mut tls_done = None;
    let stream: Box<dyn wire::Wire> = if target.tls {
        match tls::handshake(tcp, &target.host, !target.insecure, timeout).await {
            Handshake::Done(stream, version) => {
                // Said once the first reply came: with TLS 1.3 a server that wants a client
                // certificate says so only after the handshake looked done from our side.
                tls_done = Some(Check::pass(
                    "tls",
                    "ok",
                    format!(
                        "{version} handshake done{}",
                        if target.insecure {
                            " (certificate not verified: insecure)"
                        } else {
                            ""
                        }
                    ),
                ));
                stream
            }
            other => return failed(checks, tls_failure(addr, other, timeout).await),
        }
    } else {
        Box::new(tcp)
    };

    // RESP.
    let mut conn = Conn::new(stream, timeout);
    let ping = conn.call(&["PING"]).await;
    let open = matches!(ping, Answer::Frame(Frame::Simple(_)));
    if let Answer::TlsAlert(alert) = &ping {
        return failed(checks, tls_alert(alert));
    }
    checks.extend(tls_done);
    match &ping {
        Answer::Frame(Frame::Error(e)) => {
            let e = String::from_utf8_lossy(e).into_owned();
            checks.push(Check::pass(
                "resp",
                "ok",
                format!("speaks RESP (PING answered -{})", first_word(&e)),
            ));
            if e.starts_with("DENIED") {
                return failed(checks, denied(&e));
            }
            if !e.starts_with("NOAUTH") {
                return failed(
                    checks,
                    Check::fail(
                        "ping",
                        "error_reply",
                        format!("PING answered -{e}"),
                        "the server is up but refuses commands: read the error (LOADING: it is \
                         loading its data set; MASTERDOWN: a replica without its primary; max \
                         number of clients reached: raise maxclients or close idle clients)",
                    ),
                );
            }
        }
        Answer::Frame(f) => {
            checks.push(Check::pass(
                "resp",
                "ok",
                format!("answers PING with {}", wire::frame_text(f)),
            ));
        }
        other => return failed(checks, not_redis(addr, other, target.tls, timeout).await),
    }

    // AUTH (with HELLO, which also says who the server is).
    let hello = match authenticate(&mut conn, target, open).await {
        Ok((hello, message)) => {
            checks.push(Check::pass("auth", "ok", message));
            hello
        }
        Err(check) => return failed(checks, *check),
    };
    checks.push(Check::pass(
        "protected_mode",
        "ok",
        "not refused by protected mode",
    ));

    // Server name and version.
    let info = match conn.call_frame(&["INFO", "server"]).await {
        Ok(f) => f
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        Err(_) => None,
    };
    let mut facts = Facts::default();
    let server = server_facts(hello.as_ref(), info.as_deref());
    checks.push(Check::pass("server", "ok", server.line()).with_data(json!({
        "name": server.name,
        "version": server.version,
        "mode": server.mode,
        "protocol": server.protocol,
    })));
    if target.db != 0 {
        let db = target.db.to_string();
        match conn.call(&["SELECT", db.as_str()]).await {
            Answer::Frame(Frame::Simple(_)) => {
                checks.push(Check::pass(
                    "select",
                    "ok",
                    format!("database {db} selected"),
                ));
            }
            other => {
                return failed(
                    checks,
                    Check::fail(
                        "select",
                        "bad_db",
                        format!("SELECT {db} answered {}", wire::describe(&other)),
                        "use a database the server has (CONFIG GET databases; a cluster has \
                         database 0 only)",
                    ),
                )
            }
        }
    }

    // Round-trip latency.
    match latency(&mut conn, 5).await {
        Ok(samples) => {
            let (min, median, max) = summary(&samples);
            checks.push(
                Check::pass(
                    "latency",
                    "ok",
                    format!(
                        "PING round trip min {}, median {}, max {} over {} PINGs",
                        ms(min),
                        ms(median),
                        ms(max),
                        samples.len()
                    ),
                )
                .with_data(json!({
                    "min_ms": millis(min),
                    "median_ms": millis(median),
                    "max_ms": millis(max),
                    "samples": samples.len(),
                })),
            );
        }
        Err(seen) => {
            return failed(
                checks,
                Check::fail(
                    "latency",
                    "error",
                    format!("a PING answered {seen}"),
                    "the connection broke while idle: check the server's log and any proxy in \
                     between",
                ),
            )
        }
    }

    match conn.call_frame(&["INFO", "cluster"]).await {
        Ok(f) => {
            let text = wire::text(&f).unwrap_or_default();
            facts.cluster_enabled =
                wire::info_field(&text, "cluster_enabled").as_deref() == Some("1");
        }
        Err(_) => facts.cluster_enabled = server.mode.as_deref() == Some("cluster"),
    }
    Outcome::Ready(Box::new(conn), facts)
}

fn tcp_failure(addr: SocketAddr, e: &ConnectError, timeout: Duration) -> Check {
    match e {
        ConnectError::Refused => Check::fail(
            "tcp",
            "refused",
            format!("connection refused: nothing listens on {addr}"),
            "start the server, check the port, or make the server listen on this address \
             (bind in redis.conf, --bind on the command line, or publish the container's \
             port on this address)",
        ),
        ConnectError::Timeout => Check::fail(
            "tcp",
            "timeout",
            format!("no answer to the connection attempt within {}", ms(timeout)),
            "packets are dropped on the way (a firewall, a security group) or the host is \
             down; check that the server's port is open to this machine",
        ),
        ConnectError::Unreachable(e) => Check::fail(
            "tcp",
            "unreachable",
            format!("cannot reach {addr}: {e}"),
            "this machine has no route to that address: is it an address that only exists \
             inside a container or private network?",
        ),
        ConnectError::Other(e) => Check::fail(
            "tcp",
            "error",
            format!("cannot connect to {addr}: {e}"),
            "check the address and port",
        ),
    }
}

/// The server ended the TLS session with an alert: most often because it wants a client
/// certificate (redis-server's default, `tls-auth-clients yes`), which TLS 1.3 only says
/// after the handshake looked done from our side.
fn tls_alert(alert: &str) -> Check {
    if alert.contains("CertificateRequired") || alert.contains("HandshakeFailure") {
        return Check::fail(
            "tls",
            "client_certificate",
            format!("the server ended the TLS session with the alert {alert}: it asks for a client certificate"),
            "give the client a certificate the server's CA signed (tls-cert-file/tls-key-file \
             on the client side; doctor itself sends none), or set tls-auth-clients no (or \
             optional) on the server",
        );
    }
    Check::fail(
        "tls",
        "alert",
        format!("the server ended the TLS session with the alert {alert}"),
        "the server and this client share no TLS version or cipher, or the server refuses \
         this client; check tls-protocols and tls-ciphers on the server",
    )
}

async fn tls_failure(addr: SocketAddr, handshake: Handshake, timeout: Duration) -> Check {
    match handshake {
        Handshake::Certificate(e) => Check::fail(
            "tls",
            "certificate",
            format!("the server's certificate is not trusted: {e}"),
            "use a certificate from a public CA for this host name, or, for testing only, add \
             ?insecure=true to the URL",
        ),
        Handshake::Alert(a) => tls_alert(&a),
        other => {
            let seen = match &other {
                Handshake::Timeout => format!("no TLS answer within {}", ms(timeout)),
                Handshake::Closed => "the connection was closed during the TLS handshake".into(),
                Handshake::NotTls(e) => format!("the TLS handshake failed: {e}"),
                _ => String::new(),
            };
            // Is it a plain-text Redis port?
            if let Ok((tcp, _)) = wire::connect(addr, timeout).await {
                let mut plain = Conn::new(Box::new(tcp), timeout);
                if let Answer::Frame(f) = plain.call(&["PING"]).await {
                    return Check::fail(
                        "tls",
                        "plain_port",
                        format!(
                            "{seen}; this port speaks plain RESP, not TLS (PING answered {})",
                            wire::frame_text(&f)
                        ),
                        "use redis:// instead of rediss://, or the server's tls-port",
                    );
                }
            }
            Check::fail(
                "tls",
                "not_tls",
                seen,
                "check the port: it is neither a TLS port nor a plain Redis port",
            )
        }
    }
}

/// The peer did not answer PING with RESP: say what it is.
async fn not_redis(addr: SocketAddr, answer: &Answer, over_tls: bool, timeout: Duration) -> Check {
    let bytes: &[u8] = match answer {
        Answer::NotResp(b) | Answer::Closed(b) | Answer::Reset(b) | Answer::Silent(b) => b,
        Answer::Frame(_) | Answer::TlsAlert(_) | Answer::Io(_) => &[],
    };
    if bytes.starts_with(b"HTTP/") {
        let line = String::from_utf8_lossy(
            bytes
                .split(|&c| c == b'\r' || c == b'\n')
                .next()
                .unwrap_or_default(),
        )
        .into_owned();
        return Check::fail(
            "resp",
            "http",
            format!("this port answers like an HTTP server ({line:?}), not Redis"),
            "check the port number: this is a web server or an HTTP proxy, and Redis speaks RESP \
             (default port 6379)",
        );
    }
    if looks_like_tls(bytes) {
        return expects_tls(format!(
            "answered with a TLS record ({})",
            wire::snippet(bytes)
        ));
    }
    if bytes.starts_with(b"SSH-") {
        return Check::fail(
            "resp",
            "not_resp",
            format!(
                "this port answers like an SSH server ({})",
                wire::snippet(bytes)
            ),
            "check the port number",
        );
    }
    if !bytes.is_empty() {
        return Check::fail(
            "resp",
            "not_resp",
            format!("PING answered {}", wire::describe(answer)),
            "check the port number: whatever listens there does not speak Redis's protocol",
        );
    }
    // Closed, reset or silent with nothing said: is it a TLS port?
    let tls_port = !over_tls
        && match wire::connect(addr, timeout).await {
            Ok((tcp, _)) => matches!(
                tls::handshake(tcp, &addr.ip().to_string(), false, timeout).await,
                Handshake::Done(..) | Handshake::Alert(_) | Handshake::Certificate(_)
            ),
            Err(_) => false,
        };
    if tls_port {
        return expects_tls(format!(
            "a PING in plain text got {} while a TLS handshake on the same port succeeds",
            match answer {
                Answer::Silent(_) => "no answer",
                Answer::Reset(_) => "a reset",
                _ => "the connection closed",
            }
        ));
    }
    match answer {
        Answer::Closed(_) | Answer::Reset(_) => Check::fail(
            "resp",
            "accepted_then_closed",
            "accepted the connection, then closed it before any reply",
            "something accepts on this address but no Redis answers behind it: typically a \
             container port forwarder (Docker, Podman) that has no path to the server on this \
             address family, or a proxy whose backend is down; connect to the address the \
             server itself is bound to",
        ),
        Answer::Silent(_) => Check::fail(
            "resp",
            "silent",
            format!(
                "accepted the connection but did not answer PING within {}",
                ms(timeout)
            ),
            "the server is stuck or overloaded (a long script? CLIENT PAUSE?), or whatever \
             listens here waits for another protocol",
        ),
        _ => Check::fail(
            "resp",
            "error",
            format!("PING failed: {}", wire::describe(answer)),
            "check the address and port",
        ),
    }
}

fn expects_tls(message: String) -> Check {
    Check::fail(
        "resp",
        "expects_tls",
        format!("{message}: this port expects TLS"),
        "use rediss:// (add ?insecure=true for a self-signed certificate)",
    )
}

/// A TLS record header: content type 20-23, version 3.x.
fn looks_like_tls(b: &[u8]) -> bool {
    b.len() >= 3 && (0x14..=0x17).contains(&b[0]) && b[1] == 0x03 && b[2] <= 0x04
}

fn denied(e: &str) -> Check {
    Check::fail(
        "protected_mode",
        "denied",
        format!(
            "the server is in protected mode: it has no password and accepts clients from \
             loopback only, and this connection does not come from loopback (-{})",
            shorten(e, 60)
        ),
        "connect from the server's own host through 127.0.0.1, or set a password \
         (requirepass or an ACL user) and put it in the URL, or, on a private network only, \
         start the server with --protected-mode no",
    )
}

/// HELLO 3 with AUTH when the URL has a password, falling back to AUTH and RESP2 for servers
/// older than 6. Returns HELLO's reply (if any) and what to say.
async fn authenticate(
    conn: &mut Conn,
    target: &Target,
    open: bool,
) -> Result<(Option<Frame>, String), Box<Check>> {
    let user = target.username.clone().unwrap_or_else(|| "default".into());
    let mut args: Vec<String> = vec!["HELLO".into(), "3".into()];
    if let Some(pass) = &target.password {
        args.extend(["AUTH".into(), user.clone(), pass.clone()]);
    }
    // PING answered before any AUTH: the server asks for no password at all.
    let authed = |target: &Target| match &target.password {
        Some(_) if open => {
            "the server needs no password (the URL's was accepted all the same)".to_string()
        }
        Some(_) => format!("authenticated as {user:?}"),
        None => "no password needed".to_string(),
    };
    let answer = conn.call(&args).await;
    match &answer {
        Answer::Frame(f @ (Frame::Map(_) | Frame::Array(_))) => {
            Ok((Some(f.clone()), authed(target)))
        }
        Answer::Frame(Frame::Error(e)) => {
            let e = String::from_utf8_lossy(e).into_owned();
            if let Some(check) = auth_error(&e) {
                return Err(Box::new(check));
            }
            if e.starts_with("ERR unknown command") || e.starts_with("NOPROTO") {
                return legacy_auth(conn, target).await.map(|m| (None, m));
            }
            Err(Box::new(Check::fail(
                "auth",
                "error",
                format!("HELLO answered -{e}"),
                "check the user's permissions (ACL) for HELLO",
            )))
        }
        other => Err(Box::new(Check::fail(
            "auth",
            "error",
            format!("HELLO answered {}", wire::describe(other)),
            "the server stopped answering during the handshake: check its log",
        ))),
    }
}

async fn legacy_auth(conn: &mut Conn, target: &Target) -> Result<String, Box<Check>> {
    if let Some(pass) = &target.password {
        let mut args = vec!["AUTH".to_string()];
        args.extend(target.username.clone());
        args.push(pass.clone());
        let answer = conn.call(&args).await;
        if let Some(e) = wire::error_text(&answer) {
            // "ERR Client sent AUTH, but no password is set": harmless.
            if !e.contains("no password is set") {
                return Err(Box::new(auth_error(&e).unwrap_or_else(|| {
                    Check::fail(
                        "auth",
                        "wrongpass",
                        format!("AUTH answered -{e}"),
                        "check the password (requirepass)",
                    )
                })));
            }
        }
    }
    match conn.call(&["PING"]).await {
        Answer::Frame(Frame::Error(e)) => {
            let e = String::from_utf8_lossy(&e).into_owned();
            Err(Box::new(auth_error(&e).unwrap_or_else(|| {
                Check::fail(
                    "auth",
                    "error",
                    format!("PING answered -{e}"),
                    "check the server's log",
                )
            })))
        }
        Answer::Frame(_) => Ok(match &target.password {
            Some(_) => "authenticated (AUTH; the server has no HELLO)".into(),
            None => "no password needed".into(),
        }),
        other => Err(Box::new(Check::fail(
            "auth",
            "error",
            format!("PING answered {}", wire::describe(&other)),
            "check the server's log",
        ))),
    }
}

fn auth_error(e: &str) -> Option<Check> {
    if e.starts_with("NOAUTH") {
        return Some(Check::fail(
            "auth",
            "noauth",
            "the server requires a password and the URL gives none (NOAUTH)",
            "put the password in the URL: redis://:PASSWORD@host:port, or \
             redis://USER:PASSWORD@host:port for an ACL user",
        ));
    }
    if e.starts_with("WRONGPASS") || e.starts_with("ERR invalid password") {
        return Some(Check::fail(
            "auth",
            "wrongpass",
            format!(
                "the server refused the user name and password (-{})",
                shorten(e, 100)
            ),
            "check the password (the server's requirepass, or the ACL user's: ACL LIST); with \
             no user name in the URL the user is \"default\"",
        ));
    }
    if e.starts_with("DENIED") {
        return Some(denied(e));
    }
    None
}

struct ServerFacts {
    name: Option<String>,
    version: Option<String>,
    mode: Option<String>,
    protocol: Option<i64>,
}

impl ServerFacts {
    fn line(&self) -> String {
        let mut parts = vec![format!(
            "{} {}",
            self.name.as_deref().unwrap_or("redis"),
            self.version.as_deref().unwrap_or("(version unknown)")
        )];
        parts.extend(self.mode.clone());
        if let Some(p) = self.protocol {
            parts.push(format!("RESP{p}"));
        }
        parts.join(", ")
    }
}

fn server_facts(hello: Option<&Frame>, info: Option<&str>) -> ServerFacts {
    let from_hello = |key: &str| {
        hello
            .and_then(|h| lockstep::reply::map_get(h, key))
            .and_then(wire::text)
    };
    let from_info = |key: &str| info.and_then(|i| wire::info_field(i, key));
    ServerFacts {
        name: from_hello("server"),
        version: from_hello("version").or_else(|| from_info("redis_version")),
        mode: from_hello("mode").or_else(|| from_info("redis_mode")),
        protocol: Some(
            from_hello("proto")
                .and_then(|p| p.parse().ok())
                .unwrap_or(2),
        ),
    }
}

async fn latency(conn: &mut Conn, n: usize) -> Result<Vec<Duration>, String> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        match conn.call(&["PING"]).await {
            Answer::Frame(Frame::Simple(_)) => samples.push(started.elapsed()),
            other => return Err(wire::describe(&other)),
        }
    }
    Ok(samples)
}

fn summary(samples: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let min = sorted.first().copied().unwrap_or_default();
    let max = sorted.last().copied().unwrap_or_default();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    (min, median, max)
}

fn first_word(e: &str) -> &str {
    e.split_whitespace().next().unwrap_or(e)
}

fn shorten(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

pub fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1000.0;
    if m >= 1000.0 {
        format!("{:.1} s", m / 1000.0)
    } else if m >= 10.0 {
        format!("{m:.0} ms")
    } else {
        format!("{m:.2} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_records_are_recognised() {
        assert!(looks_like_tls(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]));
        assert!(looks_like_tls(&[0x16, 0x03, 0x01]));
        assert!(!looks_like_tls(b"+PONG\r\n"));
        assert!(!looks_like_tls(b"HTTP/1.1"));
    }

    #[test]
    fn latency_summary_takes_min_median_max() {
        let d = |n| Duration::from_micros(n);
        assert_eq!(summary(&[d(5), d(1), d(3)]), (d(1), d(3), d(5)));
        assert_eq!(summary(&[]), (d(0), d(0), d(0)));
    }
}
