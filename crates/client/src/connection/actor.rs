//! The connection actor: one task, one socket at most, one state enum.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lockstep_resp::Frame;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Instant, Sleep};

use super::dial::{dial, Established, PhaseSink};
use super::io::Io;
use super::{Mode, Msg, Request, ShutdownReport, Snapshot, State};
use crate::config::Config;
use crate::error::{Cause, ClosedBy, ConnectError, Error, Sent};
use crate::metrics::Metrics;

/// Most yields spent gathering one write (bounds the latency they can add).
const MAX_GATHER_YIELDS: usize = 64;

type AttemptFuture = Pin<Box<dyn Future<Output = Result<Established, ConnectError>> + Send>>;

/// A connection attempt in progress (owned by the Resolving/Connecting/Handshaking states).
struct Attempt {
    fut: AttemptFuture,
    /// The epoch the attempt started in; its phase reports carry it.
    epoch: u64,
    /// `Some(n)`: reconnection attempt number n (retried per the policy); `None`: an attempt
    /// asked for by connect() or a first command (reported, not retried).
    retry: Option<u32>,
}

/// Waiting before reconnection attempt `attempt`.
struct Backoff {
    sleep: Pin<Box<Sleep>>,
    attempt: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CloseReason {
    /// disconnect() was called: commands fail until connect().
    Disconnected,
    /// An attempt failed (or reconnection gave up): the next command or connect() retries.
    Failed,
    /// shutdown(): final.
    Shutdown,
    /// A connection that is not re-established (`Mode::reconnect` off) was lost: final.
    Lost,
}

/// THE state. Each variant owns exactly the resources of that state, so leaving a state
/// drops (closes) them, and no resource can outlive the state that made it.
enum Conn {
    Created,
    Resolving(Attempt),
    Connecting(Attempt),
    Handshaking(Attempt),
    Ready(Box<Io>),
    Reconnecting(Backoff),
    Closed(CloseReason),
}

impl Conn {
    fn state(&self) -> State {
        match self {
            Conn::Created => State::Created,
            Conn::Resolving(_) => State::Resolving,
            Conn::Connecting(_) => State::Connecting,
            Conn::Handshaking(_) => State::Handshaking,
            Conn::Ready(_) => State::Ready,
            Conn::Reconnecting(_) => State::Reconnecting,
            Conn::Closed(_) => State::Closed,
        }
    }
}

enum Event {
    Msg(Option<Msg>),
    Phase(u64, State),
    Attempt(Result<Established, ConnectError>),
    Io(Result<(), Cause>),
    BackoffDone,
    ShutdownDeadline,
}

struct ShutdownState {
    deadline: Instant,
    tx: oneshot::Sender<ShutdownReport>,
    report: ShutdownReport,
    in_flight_at_start: usize,
}

pub(crate) struct Actor {
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
    conn: Conn,
    epoch: u64,
    watch: watch::Sender<Snapshot>,
    rx: mpsc::UnboundedReceiver<Msg>,
    phase_tx: mpsc::UnboundedSender<(u64, State)>,
    phase_rx: mpsc::UnboundedReceiver<(u64, State)>,
    /// Commands waiting for Ready, oldest first.
    waiting: VecDeque<Request>,
    /// connect() callers waiting for the current attempt (single flight).
    connect_waiters: Vec<oneshot::Sender<Result<(), Error>>>,
    push: broadcast::Sender<Frame>,
    /// Sent first on every new connection (resubscription), with its reply count.
    on_connect: Option<(Bytes, usize)>,
    shutdown: Option<ShutdownState>,
    mode: Mode,
    /// Why a connection that is not re-established was lost.
    lost: Option<Cause>,
    /// What the next snapshot says besides the state (see `Snapshot`).
    protocol: Option<crate::config::Protocol>,
    peer: Option<Arc<str>>,
    last_error: Option<Error>,
    /// Client-side caching, active while a RESP3 connection is Ready.
    cache: Option<Arc<crate::cache::Cache>>,
}

impl Actor {
    pub(crate) fn new(
        cfg: Arc<Config>,
        metrics: Arc<Metrics>,
        rx: mpsc::UnboundedReceiver<Msg>,
        watch: watch::Sender<Snapshot>,
        push: broadcast::Sender<Frame>,
        mode: Mode,
        cache: Option<Arc<crate::cache::Cache>>,
    ) -> Actor {
        let (phase_tx, phase_rx) = mpsc::unbounded_channel();
        Actor {
            cfg,
            metrics,
            conn: Conn::Created,
            epoch: 0,
            watch,
            rx,
            phase_tx,
            phase_rx,
            waiting: VecDeque::new(),
            connect_waiters: Vec::new(),
            push,
            on_connect: None,
            shutdown: None,
            mode,
            lost: None,
            protocol: None,
            peer: None,
            last_error: None,
            cache,
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            match self.next_event().await {
                Event::Msg(None) => {
                    // Every handle is gone: nobody can wait for anything any more.
                    self.close(CloseReason::Shutdown, ClosedBy::Shutdown);
                    return;
                }
                Event::Msg(Some(m)) => {
                    self.on_msg(m);
                    self.drain_mailbox();
                    self.gather_woken_callers().await;
                }
                Event::Phase(epoch, state) => self.on_phase(epoch, state),
                Event::Attempt(r) => self.on_attempt(r),
                Event::Io(Ok(())) => self.release_held_replies().await,
                Event::Io(Err(cause)) => self.on_lost(cause),
                Event::BackoffDone => {
                    if let Conn::Reconnecting(b) = &self.conn {
                        let n = b.attempt;
                        self.start_attempt(Some(n));
                    }
                }
                Event::ShutdownDeadline => {
                    if let Some(s) = &mut self.shutdown {
                        s.report.deadline_hit = true;
                    }
                    self.finish_shutdown();
                    return;
                }
            }
            if self.shutdown.is_some() && self.shutdown_drained() {
                self.finish_shutdown();
                return;
            }
        }
    }

    /// Takes whatever else is already queued, so that it joins the same write. Returns how
    /// many messages it took.
    fn drain_mailbox(&mut self) -> usize {
        for n in 0..4096 {
            match self.rx.try_recv() {
                Ok(m) => self.on_msg(m),
                Err(_) => return n,
            }
        }
        4096
    }

    /// Callers just woken by replies are about to send: yield until they did (or stop
    /// sending), so that their commands leave in one write (see `io.rs`). The scheduler
    /// may run the actor again after only some of them ran (tokio's multi-threaded
    /// scheduler polls its driver, and wakes yielded tasks, every 61 polls), hence the
    /// loop; it ends as soon as a yield brings nothing new.
    async fn gather_woken_callers(&mut self) {
        for _ in 0..MAX_GATHER_YIELDS {
            match &mut self.conn {
                Conn::Ready(io) if io.worth_waiting() => {}
                _ => return,
            }
            tokio::task::yield_now().await;
            if self.drain_mailbox() == 0 {
                if let Conn::Ready(io) = &mut self.conn {
                    io.stop_waiting();
                }
                return;
            }
        }
    }

    /// Replies a read held back (see `Io::deliver`) go to their callers once the write of
    /// the first half's commands is out; if the first half sends nothing (a yield brings
    /// no command), at once.
    async fn release_held_replies(&mut self) {
        let Conn::Ready(io) = &mut self.conn else {
            return;
        };
        if io.deliver_held(&self.metrics) {
            self.gather_woken_callers().await;
            return;
        }
        if !io.holding() {
            return;
        }
        tokio::task::yield_now().await;
        if self.drain_mailbox() > 0 {
            self.gather_woken_callers().await;
            return;
        }
        if let Conn::Ready(io) = &mut self.conn {
            if io.idle_writer() {
                io.deliver_all(&self.metrics);
            }
        }
    }

    async fn next_event(&mut self) -> Event {
        let deadline = self.shutdown.as_ref().map(|s| s.deadline);
        let shutdown_timer = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        match &mut self.conn {
            Conn::Created | Conn::Closed(_) => tokio::select! {
                m = self.rx.recv() => Event::Msg(m),
                _ = shutdown_timer => Event::ShutdownDeadline,
            },
            Conn::Resolving(a) | Conn::Connecting(a) | Conn::Handshaking(a) => tokio::select! {
                m = self.rx.recv() => Event::Msg(m),
                r = a.fut.as_mut() => Event::Attempt(r),
                Some((epoch, state)) = self.phase_rx.recv() => Event::Phase(epoch, state),
                _ = shutdown_timer => Event::ShutdownDeadline,
            },
            Conn::Ready(io) => tokio::select! {
                m = self.rx.recv() => Event::Msg(m),
                r = io.drive(&self.push, &self.metrics) => Event::Io(r),
                _ = shutdown_timer => Event::ShutdownDeadline,
            },
            Conn::Reconnecting(b) => tokio::select! {
                m = self.rx.recv() => Event::Msg(m),
                _ = b.sleep.as_mut() => Event::BackoffDone,
                _ = shutdown_timer => Event::ShutdownDeadline,
            },
        }
    }

    /// The one place the state changes: the old state (and whatever it owned) is dropped,
    /// the epoch bumps, the new (epoch, state) is published.
    fn set(&mut self, from: State, conn: Conn) {
        let to = conn.state();
        self.conn = conn;
        self.epoch += 1;
        self.watch.send_replace(Snapshot {
            epoch: self.epoch,
            state: to,
            protocol: self.protocol,
            peer: self.peer.clone(),
            last_error: self.last_error.clone(),
        });
        let allowed = crate::metrics::transition_allowed(from, to);
        crate::metrics::count_transition(&self.metrics, from, to, allowed);
        if !allowed {
            tracing::error!(target: "lockstep::state", epoch = self.epoch, %from, %to, "transition outside the state graph");
        }
        tracing::debug!(target: "lockstep::state", epoch = self.epoch, %from, %to, "transition");
    }

    fn transition(&mut self, conn: Conn) {
        let from = self.conn.state();
        self.set(from, conn);
    }

    /// Takes effect with the next transition, which publishes it.
    fn set_last_error(&mut self, e: Option<Error>) {
        self.last_error = e;
    }

    fn start_attempt(&mut self, retry: Option<u32>) {
        let epoch = self.epoch + 1;
        let sink = PhaseSink {
            tx: self.phase_tx.clone(),
            epoch,
        };
        Metrics::inc(&self.metrics.connect_attempts);
        let fut = Box::pin(dial(self.cfg.clone(), self.metrics.clone(), sink));
        tracing::debug!(target: "lockstep::state", epoch, ?retry, target = %self.cfg.target(), "connection attempt");
        self.transition(Conn::Resolving(Attempt { fut, epoch, retry }));
        debug_assert_eq!(self.epoch, epoch);
    }

    fn on_phase(&mut self, epoch: u64, state: State) {
        let current = match &self.conn {
            Conn::Resolving(a) | Conn::Connecting(a) | Conn::Handshaking(a) => Some(a.epoch),
            _ => None,
        };
        if current != Some(epoch) {
            // A report from an attempt that no longer exists.
            Metrics::inc(&self.metrics.stale_events);
            tracing::trace!(target: "lockstep::state", epoch, current = self.epoch, ?state, "stale event dropped");
            return;
        }
        if state == self.conn.state() {
            return;
        }
        let from = self.conn.state();
        let attempt = match std::mem::replace(&mut self.conn, Conn::Created) {
            Conn::Resolving(a) | Conn::Connecting(a) | Conn::Handshaking(a) => a,
            _ => unreachable!("checked above"),
        };
        let next = match state {
            State::Resolving => Conn::Resolving(attempt),
            State::Connecting => Conn::Connecting(attempt),
            State::Handshaking => Conn::Handshaking(attempt),
            _ => {
                self.conn = Conn::Connecting(attempt);
                return;
            }
        };
        self.set(from, next);
    }

    fn on_msg(&mut self, m: Msg) {
        match m {
            Msg::Cmd(req) => self.on_cmd(req),
            Msg::Connect(tx) => self.on_connect(tx),
            Msg::Disconnect(tx) => {
                self.on_disconnect();
                let _ = tx.send(());
            }
            Msg::Shutdown { deadline, tx } => self.on_shutdown(deadline, tx),
            Msg::OnConnect(bytes) => self.on_connect = bytes,
        }
    }

    fn on_cmd(&mut self, req: Request) {
        if req.tx.is_closed() {
            return;
        }
        Metrics::inc(&self.metrics.commands);
        if self.shutdown.is_some() {
            let _ = req.tx.send(Err(Error::Closed {
                by: ClosedBy::Shutdown,
                sent: Sent::No,
            }));
            return;
        }
        match &mut self.conn {
            Conn::Ready(io) => io.enqueue(req),
            Conn::Reconnecting(_) if !self.cfg.queue_while_reconnecting => {
                let _ = req.tx.send(Err(self.lost_error()));
            }
            Conn::Resolving(a) | Conn::Connecting(a) | Conn::Handshaking(a)
                if a.retry.is_some() && !self.cfg.queue_while_reconnecting =>
            {
                let _ = req.tx.send(Err(self.lost_error()));
            }
            Conn::Resolving(_)
            | Conn::Connecting(_)
            | Conn::Handshaking(_)
            | Conn::Reconnecting(_) => self.waiting.push_back(req),
            Conn::Created | Conn::Closed(CloseReason::Failed) => {
                self.waiting.push_back(req);
                self.start_attempt(None);
            }
            Conn::Closed(CloseReason::Disconnected) => {
                let _ = req.tx.send(Err(Error::Closed {
                    by: ClosedBy::Disconnect,
                    sent: Sent::No,
                }));
            }
            Conn::Closed(CloseReason::Shutdown) => {
                let _ = req.tx.send(Err(Error::Closed {
                    by: ClosedBy::Shutdown,
                    sent: Sent::No,
                }));
            }
            Conn::Closed(CloseReason::Lost) => {
                let _ = req.tx.send(Err(self.lost_error()));
            }
        }
    }

    /// What a command or connect() gets once a connection that is not re-established
    /// was lost, and what a command gets, without waiting, while one is re-established
    /// with `Config::queue_while_reconnecting` off: certainly not run, and why the
    /// connection went.
    fn lost_error(&self) -> Error {
        Error::ConnectionLost {
            sent: Sent::No,
            cause: self.lost.clone().unwrap_or(Cause::Closed),
        }
    }

    /// connect() is single-flight: it joins the attempt in progress, or starts one.
    fn on_connect(&mut self, tx: oneshot::Sender<Result<(), Error>>) {
        if self.shutdown.is_some() {
            let _ = tx.send(Err(Error::Closed {
                by: ClosedBy::Shutdown,
                sent: Sent::No,
            }));
            return;
        }
        match &self.conn {
            Conn::Ready(_) => {
                let _ = tx.send(Ok(()));
            }
            Conn::Resolving(_) | Conn::Connecting(_) | Conn::Handshaking(_) => {
                self.connect_waiters.push(tx);
            }
            Conn::Reconnecting(b) => {
                // The caller wants a connection now: skip the rest of the backoff.
                let n = b.attempt;
                self.connect_waiters.push(tx);
                self.start_attempt(Some(n));
            }
            Conn::Created | Conn::Closed(CloseReason::Failed | CloseReason::Disconnected) => {
                self.connect_waiters.push(tx);
                self.start_attempt(None);
            }
            Conn::Closed(CloseReason::Shutdown) => {
                let _ = tx.send(Err(Error::Closed {
                    by: ClosedBy::Shutdown,
                    sent: Sent::No,
                }));
            }
            Conn::Closed(CloseReason::Lost) => {
                let _ = tx.send(Err(self.lost_error()));
            }
        }
    }

    /// Idempotent. When it returns (its reply is sent), the socket is closed.
    fn on_disconnect(&mut self) {
        match self.conn {
            Conn::Closed(_) => {}
            Conn::Created => self.transition(Conn::Closed(CloseReason::Disconnected)),
            _ => self.close(CloseReason::Disconnected, ClosedBy::Disconnect),
        }
    }

    /// Leaves whatever state for Closed, failing everything that waits.
    fn close(&mut self, reason: CloseReason, by: ClosedBy) {
        self.cache_off();
        let from = self.conn.state();
        let old = std::mem::replace(&mut self.conn, Conn::Created);
        if let Conn::Ready(io) = old {
            let written = io.written;
            let pending = take_pending(io);
            for p in pending {
                let sent = if p.start < written {
                    Sent::MayHaveRun
                } else {
                    Sent::No
                };
                if let Some(s) = &mut self.shutdown {
                    if sent == Sent::No {
                        s.report.dropped_unsent += 1;
                    } else {
                        s.report.dropped_in_flight += 1;
                    }
                }
                let _ = p.req.tx.send(Err(Error::Closed { by, sent }));
            }
        } else {
            drop(old);
        }
        self.fail_waiters(by);
        self.set(from, Conn::Closed(reason));
    }

    /// Fails every request waiting for a connection, and every `connect()` caller, as closed
    /// before anything was sent.
    fn fail_waiters(&mut self, by: ClosedBy) {
        for req in self.waiting.drain(..) {
            if let Some(s) = &mut self.shutdown {
                s.report.dropped_unsent += 1;
            }
            let _ = req.tx.send(Err(Error::Closed { by, sent: Sent::No }));
        }
        for w in self.connect_waiters.drain(..) {
            let _ = w.send(Err(Error::Closed { by, sent: Sent::No }));
        }
    }

    fn on_attempt(&mut self, r: Result<Established, ConnectError>) {
        let retry = match &self.conn {
            Conn::Resolving(a) | Conn::Connecting(a) | Conn::Handshaking(a) => a.retry,
            _ => return,
        };
        match r {
            Ok(est) => {
                tracing::debug!(target: "lockstep::state", peer = %est.peer, protocol = ?est.protocol, "connected");
                let check = self
                    .cfg
                    .command_timeout
                    .map_or(Duration::from_secs(1), |t| {
                        (t / 4).clamp(Duration::from_millis(5), Duration::from_secs(1))
                    });
                let mut io = Box::new(Io::new(
                    est,
                    check,
                    self.mode.subscriber,
                    self.cache.clone(),
                ));
                if let Some(cache) = &self.cache {
                    // Emptied for every new connection: invalidations may have been missed.
                    cache.set_active(io.protocol == crate::config::Protocol::Resp3);
                }
                if let Some((bytes, replies)) = &self.on_connect {
                    let meta = crate::spec::Meta {
                        subscription: true,
                        ..crate::spec::Meta::default()
                    };
                    io.enqueue(Request::internal(bytes.clone(), *replies, meta));
                }
                let mut sent = 0;
                for req in self.waiting.drain(..) {
                    if !req.tx.is_closed() {
                        io.enqueue(req);
                        sent += 1;
                    }
                }
                Metrics::inc(&self.metrics.connects);
                self.set_last_error(None);
                self.protocol = Some(io.protocol);
                self.peer = Some(Arc::from(io.peer.as_str()));
                self.transition(Conn::Ready(io));
                tracing::trace!(target: "lockstep::state", sent, "flushed waiting commands");
                for w in self.connect_waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::debug!(target: "lockstep::state", error = %e, ?retry, "connection attempt failed");
                let err = Error::Connect(e);
                self.set_last_error(Some(err.clone()));
                for w in self.connect_waiters.drain(..) {
                    let _ = w.send(Err(err.clone()));
                }
                let next = match retry {
                    Some(n) => Some(n + 1)
                        .filter(|&m| !matches!(self.cfg.retry.max_attempts, Some(max) if m >= max)),
                    None => None,
                };
                match next {
                    Some(n) if self.shutdown.is_none() => {
                        let delay = self.cfg.retry.delay(n);
                        self.transition(Conn::Reconnecting(Backoff {
                            sleep: Box::pin(tokio::time::sleep(delay)),
                            attempt: n,
                        }));
                    }
                    _ => {
                        for req in self.waiting.drain(..) {
                            let _ = req.tx.send(Err(err.clone()));
                        }
                        self.transition(Conn::Closed(CloseReason::Failed));
                    }
                }
            }
        }
    }

    /// No tracked connection: the cache serves nothing until the next one.
    fn cache_off(&self) {
        if let Some(cache) = &self.cache {
            cache.set_active(false);
        }
    }

    /// The Ready connection is gone (EOF, I/O error, protocol error, or silence).
    fn on_lost(&mut self, cause: Cause) {
        self.cache_off();
        let from = self.conn.state();
        let Conn::Ready(io) = std::mem::replace(&mut self.conn, Conn::Created) else {
            return;
        };
        Metrics::inc(&self.metrics.connections_lost);
        tracing::debug!(target: "lockstep::state", peer = %io.peer, %cause, pending = io.pending.len(), "connection lost");
        let written = io.written;
        let pending = take_pending(io);
        let mut retry = Vec::new();
        for mut p in pending {
            if p.req.tx.is_closed() {
                continue;
            }
            let sent = if p.start < written {
                Sent::MayHaveRun
            } else {
                Sent::No
            };
            let may_resend = sent == Sent::No
                || ((p.req.meta.resend_safe || self.cfg.retry_writes)
                    && p.req.retries < self.cfg.max_command_retries);
            if may_resend
                && self.shutdown.is_none()
                && self.mode.reconnect
                && self.cfg.queue_while_reconnecting
            {
                if sent == Sent::MayHaveRun {
                    p.req.retries += 1;
                    Metrics::inc(&self.metrics.retried);
                }
                retry.push(p.req);
            } else {
                Metrics::inc(&self.metrics.failed_in_flight);
                if let Some(s) = &mut self.shutdown {
                    s.report.dropped_in_flight += 1;
                }
                let _ = p.req.tx.send(Err(Error::ConnectionLost {
                    sent,
                    cause: cause.clone(),
                }));
            }
        }
        for req in retry.into_iter().rev() {
            self.waiting.push_front(req);
        }
        self.set_last_error(Some(Error::ConnectionLost {
            sent: Sent::No,
            cause: cause.clone(),
        }));
        self.lost = Some(cause.clone());
        if !self.cfg.queue_while_reconnecting {
            let err = self.lost_error();
            for req in self.waiting.drain(..) {
                let _ = req.tx.send(Err(err.clone()));
            }
        }
        if self.shutdown.is_some() {
            self.set(from, Conn::Closed(CloseReason::Shutdown));
            return;
        }
        if !self.mode.reconnect {
            self.lost = Some(cause.clone());
            let err = self.lost_error();
            for req in self.waiting.drain(..) {
                let _ = req.tx.send(Err(err.clone()));
            }
            self.set(from, Conn::Closed(CloseReason::Lost));
            return;
        }
        let delay = self.cfg.retry.delay(0);
        self.set(
            from,
            Conn::Reconnecting(Backoff {
                sleep: Box::pin(tokio::time::sleep(delay)),
                attempt: 0,
            }),
        );
    }

    fn on_shutdown(&mut self, deadline: Instant, tx: oneshot::Sender<ShutdownReport>) {
        if self.shutdown.is_some() {
            let _ = tx.send(ShutdownReport::default());
            return;
        }
        let in_flight = match &self.conn {
            Conn::Ready(io) => io.pending.len(),
            _ => 0,
        };
        self.shutdown = Some(ShutdownState {
            deadline,
            tx,
            report: ShutdownReport::default(),
            in_flight_at_start: in_flight,
        });
        // Nothing that waits for a connection will get one now.
        if !matches!(self.conn, Conn::Ready(_)) {
            self.fail_waiters(ClosedBy::Shutdown);
        }
    }

    fn shutdown_drained(&self) -> bool {
        match &self.conn {
            Conn::Ready(io) => io.idle(),
            _ => self.waiting.is_empty(),
        }
    }

    fn finish_shutdown(&mut self) {
        if !matches!(self.conn, Conn::Closed(CloseReason::Shutdown)) {
            self.close(CloseReason::Shutdown, ClosedBy::Shutdown);
        }
        if let Some(mut s) = self.shutdown.take() {
            s.report.completed = s
                .in_flight_at_start
                .saturating_sub(s.report.dropped_in_flight);
            tracing::debug!(target: "lockstep::state", report = ?s.report, "shut down");
            let _ = s.tx.send(s.report);
        }
    }
}

/// Takes the FIFO out of a boxed `Io`, dropping (closing) the socket.
fn take_pending(io: Box<Io>) -> VecDeque<super::io::Pending> {
    let mut io = *io;
    io.release_held();
    std::mem::take(&mut io.pending)
}
