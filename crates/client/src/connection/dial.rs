//! Establishing a connection: resolve every address, then race them as RFC 8305 (happy
//! eyeballs) says — families interleaved, the next address started `attempt_delay` after the
//! previous one or at once when it fails — where an address wins only once the handshake
//! succeeded. The losers' sockets are dropped (closed) when the winner returns. When every
//! address fails, the error lists each with the phase it reached and why it failed.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::handshake::handshake;
use super::resolver::interleave;
use super::transport::{Inner, Stream};
use super::State;
use crate::config::{Addr, Config, Protocol};
use crate::error::{AddrFailure, Cause, ConnectError, Phase};
use crate::metrics::Metrics;

/// A connection that completed its handshake.
pub(crate) struct Established {
    pub stream: Stream,
    /// Bytes read past the handshake replies (normally none).
    pub rbuf: BytesMut,
    pub protocol: Protocol,
    /// The address that won, for logs.
    pub peer: String,
}

/// Reports the phase an attempt reached, tagged with the epoch of the attempt, so that the
/// actor can drop reports from attempts it already abandoned.
#[derive(Clone)]
pub(crate) struct PhaseSink {
    pub tx: mpsc::UnboundedSender<(u64, State)>,
    pub epoch: u64,
}

impl PhaseSink {
    fn report(&self, s: State) {
        let _ = self.tx.send((self.epoch, s));
    }
}

type AttemptFuture = Pin<Box<dyn Future<Output = Result<Established, AddrFailure>> + Send>>;

pub(crate) async fn dial(
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
    events: PhaseSink,
) -> Result<Established, ConnectError> {
    let target = cfg.target();
    match &cfg.addr {
        #[cfg(unix)]
        Addr::Unix(path) => {
            events.report(State::Connecting);
            let clock = Clock::start(cfg.connect_timeout);
            let fail = |phase, cause| ConnectError::single(target.clone(), None, phase, cause);
            let sock = clock
                .bound(tokio::net::UnixStream::connect(path))
                .await
                .map_err(|c| fail(Phase::Tcp, c))?;
            let stream = Stream::new(Inner::Unix(sock), &metrics);
            establish(stream, &cfg, &events, clock, target.clone())
                .await
                .map_err(|(phase, cause)| fail(phase, cause))
        }
        #[cfg(not(unix))]
        Addr::Unix(_) => Err(ConnectError::single(
            target,
            None,
            Phase::Tcp,
            Cause::Protocol("Unix sockets are not supported on this platform".into()),
        )),
        Addr::Tcp { host, port, tls } => {
            events.report(State::Resolving);
            let addrs = match host.parse::<std::net::IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, *port)],
                Err(_) => {
                    let fut = cfg.resolver.resolve(host, *port);
                    match tokio::time::timeout(cfg.connect_timeout, fut).await {
                        Ok(Ok(a)) if !a.is_empty() => interleave(a),
                        Ok(Ok(_)) => {
                            return Err(ConnectError::single(
                                target,
                                None,
                                Phase::Dns,
                                Cause::NoAddress,
                            ))
                        }
                        Ok(Err(e)) => {
                            return Err(ConnectError::single(target, None, Phase::Dns, e.into()))
                        }
                        Err(_) => {
                            return Err(ConnectError::single(
                                target,
                                None,
                                Phase::Dns,
                                Cause::Timeout(cfg.connect_timeout),
                            ))
                        }
                    }
                }
            };
            tracing::debug!(target: "lockstep::connect", %target, ?addrs, "resolved");
            race(&cfg, &metrics, &events, host, *tls, addrs)
                .await
                .map_err(|failures| ConnectError { target, failures })
        }
    }
}

async fn race(
    cfg: &Arc<Config>,
    metrics: &Arc<Metrics>,
    events: &PhaseSink,
    host: &str,
    tls: bool,
    addrs: Vec<SocketAddr>,
) -> Result<Established, Vec<AddrFailure>> {
    let start = |addr: SocketAddr| -> AttemptFuture {
        Box::pin(try_addr(
            addr,
            cfg.clone(),
            metrics.clone(),
            events.clone(),
            host.to_string(),
            tls,
        ))
    };
    let mut running: Vec<AttemptFuture> = Vec::new();
    let mut failures = Vec::new();
    let mut next = 0;
    events.report(State::Connecting);
    running.push(start(addrs[0]));
    next += 1;
    let mut delay = Box::pin(tokio::time::sleep(cfg.attempt_delay));
    std::future::poll_fn(|cx| loop {
        let mut started = false;
        let mut i = 0;
        while i < running.len() {
            match running[i].as_mut().poll(cx) {
                Poll::Ready(Ok(est)) => return Poll::Ready(Ok(est)),
                Poll::Ready(Err(f)) => {
                    tracing::debug!(target: "lockstep::connect", failure = %f, "address failed");
                    failures.push(f);
                    drop(running.swap_remove(i));
                    if next < addrs.len() {
                        // RFC 8305 §5: a failure starts the next address at once.
                        events.report(State::Connecting);
                        running.push(start(addrs[next]));
                        next += 1;
                        delay.as_mut().reset(Instant::now() + cfg.attempt_delay);
                        started = true;
                    }
                }
                Poll::Pending => i += 1,
            }
        }
        if next < addrs.len() && delay.as_mut().poll(cx).is_ready() {
            running.push(start(addrs[next]));
            next += 1;
            delay.as_mut().reset(Instant::now() + cfg.attempt_delay);
            started = true;
        }
        if running.is_empty() && next >= addrs.len() {
            return Poll::Ready(Err(std::mem::take(&mut failures)));
        }
        if !started {
            return Poll::Pending;
        }
    })
    .await
}

async fn try_addr(
    addr: SocketAddr,
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
    events: PhaseSink,
    host: String,
    tls: bool,
) -> Result<Established, AddrFailure> {
    let fail = |phase, cause| AddrFailure {
        addr: Some(addr),
        phase,
        cause,
    };
    let clock = Clock::start(cfg.connect_timeout);
    let tcp = clock
        .bound(tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|c| fail(Phase::Tcp, c))?;
    let _ = tcp.set_nodelay(true);
    let stream = if tls {
        tls_connect(tcp, &cfg, &host, &metrics, clock)
            .await
            .map_err(|c| fail(Phase::Tls, c))?
    } else {
        Stream::new(Inner::Tcp(tcp), &metrics)
    };
    establish(stream, &cfg, &events, clock, addr.to_string())
        .await
        .map_err(|(phase, cause)| fail(phase, cause))
}

/// The clock of one connection attempt to one address: everything it does (socket, TLS,
/// handshake) shares one `connect_timeout`, counted from the start.
#[derive(Clone, Copy)]
struct Clock {
    started: Instant,
    deadline: Instant,
    connect_timeout: Duration,
}

impl Clock {
    fn start(connect_timeout: Duration) -> Clock {
        let started = Instant::now();
        Clock {
            started,
            deadline: started + connect_timeout,
            connect_timeout,
        }
    }

    /// Waits for `io` (a socket opening, or a TLS session) until the deadline; an overrun is
    /// a timeout of the whole `connect_timeout`, as the caller configured it.
    async fn bound<T>(&self, io: impl Future<Output = std::io::Result<T>>) -> Result<T, Cause> {
        match tokio::time::timeout_at(self.deadline, io).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Cause::Timeout(self.connect_timeout)),
        }
    }
}

/// Runs the handshake on a freshly opened stream; the connection is established once it
/// succeeds.
async fn establish(
    mut stream: Stream,
    cfg: &Config,
    events: &PhaseSink,
    clock: Clock,
    peer: String,
) -> Result<Established, (Phase, Cause)> {
    events.report(State::Handshaking);
    let mut rbuf = BytesMut::with_capacity(4096);
    let protocol = handshake(&mut stream, &mut rbuf, cfg, clock.deadline, clock.started).await?;
    Ok(Established {
        stream,
        rbuf,
        protocol,
        peer,
    })
}

#[cfg(not(feature = "tls"))]
async fn tls_connect(
    _tcp: tokio::net::TcpStream,
    _cfg: &Config,
    _host: &str,
    _metrics: &Arc<Metrics>,
    _clock: Clock,
) -> Result<Stream, Cause> {
    Err(Cause::Protocol(
        "rediss:// needs lockstep built with the `tls` feature".into(),
    ))
}

#[cfg(feature = "tls")]
async fn tls_connect(
    tcp: tokio::net::TcpStream,
    cfg: &Config,
    host: &str,
    metrics: &Arc<Metrics>,
    clock: Clock,
) -> Result<Stream, Cause> {
    let connector = super::tls::connector(&cfg.tls)?;
    let name = super::tls::server_name(host)?;
    let tls = clock.bound(connector.connect(name, tcp)).await?;
    Ok(Stream::new(Inner::Tls(Box::new(tls)), metrics))
}
