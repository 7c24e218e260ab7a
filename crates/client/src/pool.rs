//! A pool of dedicated connections: for blocking commands, WATCH/MULTI/EXEC, or users who
//! want one connection per task.
//!
//! Each connection holds ONE state enum (seed 004):
//!
//! ```text
//! Created → Initializing → Idle ⇄ InUse
//!                            ↓       ↓
//!                         Unusable (broken, expired, unhealthy) → Closed
//! ```
//!
//! Every transition goes through `PoolConn::transition`, which checks it against that graph
//! and counts any violation (there should be none: the tests assert it). At most `size`
//! connections are checked out at once (a semaphore); a caller waits at most `pool_timeout`
//! for a turn. Idle connections are checked before reuse (max lifetime, and their actor's
//! state: it reads all the time, so a closed socket or unasked-for bytes end it), and a
//! background task keeps `min_idle` ready.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::BytesMut;
use lockstep_resp::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::client::Client;
use crate::cmd::Cmd;
use crate::config::{Config, Protocol};
use crate::connection::Mode;
use crate::error::{Cause, Error, Sent};
use crate::metrics::Metrics;

/// The state of one pooled connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    Created,
    Initializing,
    Idle,
    InUse,
    Unusable,
    Closed,
}

impl ConnState {
    const ALL: [ConnState; 6] = [
        ConnState::Created,
        ConnState::Initializing,
        ConnState::Idle,
        ConnState::InUse,
        ConnState::Unusable,
        ConnState::Closed,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn allowed(self, to: ConnState) -> bool {
        use ConnState::*;
        matches!(
            (self, to),
            (Created, Initializing)
                | (Initializing, Idle)
                | (Initializing, InUse)
                | (Initializing, Unusable)
                | (Idle, InUse)
                | (Idle, Unusable)
                | (InUse, Idle)
                | (InUse, Unusable)
                | (Unusable, Closed)
        )
    }
}

/// Pool settings (go-redis names).
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Most connections at once.
    pub size: usize,
    /// Idle connections kept ready by the background task.
    pub min_idle: usize,
    /// Longest wait for a connection.
    pub pool_timeout: Duration,
    /// Connections older than this are closed instead of reused.
    pub max_lifetime: Option<Duration>,
    /// Idle connections unused for this long are checked before reuse.
    pub health_check_after: Duration,
    /// How often the background task runs.
    pub maintenance_interval: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            size: 10,
            min_idle: 0,
            pool_timeout: Duration::from_secs(4),
            max_lifetime: None,
            health_check_after: Duration::from_secs(1),
            maintenance_interval: Duration::from_secs(1),
        }
    }
}

/// Counters as go-redis's PoolStats, plus connections per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// An idle connection was reused.
    pub hits: u64,
    /// No idle connection: one was created.
    pub misses: u64,
    /// No connection within `pool_timeout`.
    pub timeouts: u64,
    /// Waits for a turn (the pool was full).
    pub waits: u64,
    pub wait_duration: Duration,
    /// Connections closed because they were broken, expired or unhealthy.
    pub stale: u64,
    /// Connections now open (idle + in use + initializing).
    pub total: u64,
    pub idle: u64,
    /// Connections per state, indexed as `ConnState` (Created..Closed). Closed counts
    /// every connection ever closed.
    pub per_state: [u64; 6],
    /// Transitions not in the state graph. Always 0 unless there is a bug.
    pub state_violations: u64,
}

impl PoolStats {
    pub fn in_state(&self, s: ConnState) -> u64 {
        self.per_state[s.index()]
    }
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    timeouts: AtomicU64,
    waits: AtomicU64,
    wait_nanos: AtomicU64,
    stale: AtomicU64,
    per_state: [AtomicU64; 6],
    violations: AtomicU64,
}

struct PoolInner {
    cfg: Arc<Config>,
    opts: PoolOptions,
    metrics: Arc<Metrics>,
    turns: Arc<Semaphore>,
    idle: Mutex<VecDeque<PoolConn>>,
    counters: Arc<Counters>,
    next_id: AtomicU64,
}

/// A pool of dedicated connections.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

/// A dedicated connection: a `Client` whose actor does not reconnect (a lost connection
/// is Unusable and replaced by the pool: what its user set up on it died with it). One
/// user at a time; the same driver as every other connection of the crate.
pub struct Connection {
    client: Client,
    pub protocol: Protocol,
    pub peer: String,
    /// A command timed out: its reply (or a blocked command's) may still come, ahead of
    /// the next user's.
    broken: bool,
    session: Session,
}

/// What commands sent on a dedicated connection left behind on the server side, which the
/// next user of the connection must not inherit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Session {
    /// WATCH without a later EXEC, DISCARD or UNWATCH.
    watching: bool,
    /// MULTI without a later EXEC or DISCARD.
    in_multi: bool,
    /// A state that only a new connection clears (SELECT, SUBSCRIBE, CLIENT TRACKING...).
    tainted: bool,
}

impl Session {
    fn clean(&self) -> bool {
        *self == Session::default()
    }

    /// Follows what `c` leaves behind. MULTI and WATCH open state that EXEC, DISCARD and
    /// UNWATCH close (that is their behaviour, which no flag describes); everything else
    /// that outlives its command is what Redis's metadata says (`spec::changes_session`).
    fn track(&mut self, c: &Cmd) {
        let spec = c.spec();
        match spec.command().map(|c| c.full_name) {
            Some("watch") => self.watching = true,
            Some("unwatch") => self.watching = false,
            Some("multi") => self.in_multi = true,
            Some("exec" | "discard") => {
                self.watching = false;
                self.in_multi = false;
            }
            _ if spec.changes_session() => self.tainted = true,
            _ => {}
        }
    }
}

impl Connection {
    /// Opens one (happy eyeballs and handshake as the shared client does).
    pub async fn open(cfg: Arc<Config>) -> Result<Connection, Error> {
        Self::open_with(cfg, Arc::new(Metrics::default())).await
    }

    async fn open_with(cfg: Arc<Config>, metrics: Arc<Metrics>) -> Result<Connection, Error> {
        let client = Client::with_mode(cfg, metrics, Mode::DEDICATED);
        client.connect().await?;
        Ok(Connection {
            protocol: client.protocol().unwrap_or(Protocol::Resp2),
            peer: client.peer().unwrap_or_default(),
            client,
            broken: false,
            session: Session::default(),
        })
    }

    /// True once the connection was lost (an I/O error, a protocol error, a server that
    /// went silent) or a command on it timed out.
    pub fn is_broken(&self) -> bool {
        self.broken || self.client.state() != crate::State::Ready
    }

    /// True when nothing sent on it left state behind (an open WATCH or MULTI, a SELECT,
    /// a subscription...): only then can another user have it.
    pub fn is_reusable(&self) -> bool {
        !self.is_broken() && self.session.clean()
    }

    /// Sends one command and reads its reply. Error replies become `Error::Server`.
    pub async fn send(&mut self, cmd: &Cmd) -> Result<Frame, Error> {
        self.session.track(cmd);
        let r = self.client.send(cmd).await;
        self.note_timeout(&r);
        r
    }

    /// Sends several commands in one write; returns their replies.
    pub async fn send_all(&mut self, cmds: &[Cmd]) -> Result<Vec<Frame>, Error> {
        let mut bytes = BytesMut::new();
        let mut meta = crate::connection::Meta::default();
        for c in cmds {
            c.encode_into(&mut bytes);
            meta = meta.join(c.meta());
            self.session.track(c);
        }
        let r = self
            .client
            .request(bytes.freeze(), cmds.len(), meta, None)
            .await;
        self.note_timeout(&r);
        match r? {
            Frame::Array(v) if cmds.len() != 1 => Ok(v),
            f => Ok(vec![f]),
        }
    }

    fn note_timeout<T>(&mut self, r: &Result<T, Error>) {
        if matches!(r, Err(Error::Timeout { .. })) {
            self.broken = true;
        }
    }

    /// A healthy idle connection is Ready: its actor reads all the time, so a closed
    /// socket or bytes nobody asked for have already ended it.
    fn looks_healthy(&mut self) -> bool {
        !self.is_broken()
    }
}

/// A connection owned by the pool, with its state.
struct PoolConn {
    id: u64,
    state: ConnState,
    conn: Option<Connection>,
    created: Instant,
    last_used: Instant,
    counters: Arc<Counters>,
}

impl PoolConn {
    fn new(id: u64, counters: Arc<Counters>) -> PoolConn {
        counters.per_state[ConnState::Created.index()].fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        PoolConn {
            id,
            state: ConnState::Created,
            conn: None,
            created: now,
            last_used: now,
            counters,
        }
    }

    /// The one place a pooled connection changes state.
    fn transition(&mut self, to: ConnState) {
        let from = self.state;
        if !from.allowed(to) {
            self.counters.violations.fetch_add(1, Ordering::Relaxed);
            tracing::error!(target: "lockstep::pool", id = self.id, ?from, ?to, "invalid pool state transition");
            debug_assert!(false, "invalid pool state transition {from:?} -> {to:?}");
        }
        let c = &self.counters.per_state;
        c[from.index()].fetch_sub(1, Ordering::Relaxed);
        c[to.index()].fetch_add(1, Ordering::Relaxed);
        self.state = to;
        tracing::trace!(target: "lockstep::pool", id = self.id, ?from, ?to, "pool connection transition");
    }

    /// Unusable → Closed, dropping the socket.
    fn close(mut self, stale: bool) {
        if self.state != ConnState::Unusable {
            self.transition(ConnState::Unusable);
        }
        if stale {
            self.counters.stale.fetch_add(1, Ordering::Relaxed);
        }
        self.conn = None;
        self.transition(ConnState::Closed);
    }
}

impl Pool {
    /// A pool (inside a tokio runtime: it spawns its maintenance task).
    pub fn new(cfg: Config, opts: PoolOptions) -> Pool {
        assert!(opts.size > 0, "pool size must be at least 1");
        let inner = Arc::new(PoolInner {
            cfg: Arc::new(cfg),
            turns: Arc::new(Semaphore::new(opts.size)),
            metrics: Arc::new(Metrics::default()),
            idle: Mutex::new(VecDeque::new()),
            counters: Arc::new(Counters::default()),
            next_id: AtomicU64::new(1),
            opts,
        });
        tokio::spawn(maintain(Arc::downgrade(&inner)));
        Pool { inner }
    }

    pub fn options(&self) -> &PoolOptions {
        &self.inner.opts
    }

    /// Takes a connection, waiting at most `pool_timeout` for one.
    pub async fn get(&self) -> Result<PooledConn, Error> {
        let inner = &self.inner;
        let c = &inner.counters;
        let permit = match inner.turns.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                c.waits.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let r = tokio::time::timeout(
                    inner.opts.pool_timeout,
                    inner.turns.clone().acquire_owned(),
                )
                .await;
                c.wait_nanos
                    .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                match r {
                    Ok(Ok(p)) => p,
                    _ => {
                        c.timeouts.fetch_add(1, Ordering::Relaxed);
                        return Err(Error::PoolTimeout {
                            after: inner.opts.pool_timeout,
                        });
                    }
                }
            }
        };
        // Reuse an idle connection that is still good.
        loop {
            let next = inner
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            let Some(mut pc) = next else { break };
            if self.reusable(&mut pc) {
                c.hits.fetch_add(1, Ordering::Relaxed);
                pc.transition(ConnState::InUse);
                return Ok(PooledConn::new(pc, permit, self.inner.clone()));
            }
            pc.close(true);
        }
        c.misses.fetch_add(1, Ordering::Relaxed);
        let pc = self.create(ConnState::InUse).await?;
        Ok(PooledConn::new(pc, permit, self.inner.clone()))
    }

    fn reusable(&self, pc: &mut PoolConn) -> bool {
        if let Some(max) = self.inner.opts.max_lifetime {
            if pc.created.elapsed() >= max {
                return false;
            }
        }
        let Some(conn) = pc.conn.as_mut() else {
            return false;
        };
        if pc.last_used.elapsed() >= self.inner.opts.health_check_after {
            return conn.looks_healthy();
        }
        !conn.is_broken()
    }

    async fn create(&self, to: ConnState) -> Result<PoolConn, Error> {
        let inner = &self.inner;
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut pc = PoolConn::new(id, inner.counters.clone());
        pc.transition(ConnState::Initializing);
        match Connection::open_with(inner.cfg.clone(), inner.metrics.clone()).await {
            Ok(conn) => {
                pc.conn = Some(conn);
                pc.transition(to);
                Ok(pc)
            }
            Err(e) => {
                pc.close(false);
                Err(e)
            }
        }
    }

    /// Sends one command on a pooled connection.
    pub async fn send(&self, cmd: &Cmd) -> Result<Frame, Error> {
        self.get().await?.send(cmd).await
    }

    pub fn stats(&self) -> PoolStats {
        let c = &self.inner.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut per_state = [0; 6];
        for s in ConnState::ALL {
            per_state[s.index()] = g(&c.per_state[s.index()]);
        }
        PoolStats {
            hits: g(&c.hits),
            misses: g(&c.misses),
            timeouts: g(&c.timeouts),
            waits: g(&c.waits),
            wait_duration: Duration::from_nanos(g(&c.wait_nanos)),
            stale: g(&c.stale),
            total: per_state[ConnState::Initializing.index()]
                + per_state[ConnState::Idle.index()]
                + per_state[ConnState::InUse.index()],
            idle: per_state[ConnState::Idle.index()],
            per_state,
            state_violations: g(&c.violations),
        }
    }

    /// Closes every idle connection (connections in use close when returned).
    pub fn close_idle(&self) {
        let idle: Vec<PoolConn> = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for pc in idle {
            pc.close(false);
        }
    }
}

/// Keeps `min_idle` connections ready and drops expired idle ones.
async fn maintain(weak: Weak<PoolInner>) {
    loop {
        let interval = match weak.upgrade() {
            Some(inner) => inner.opts.maintenance_interval,
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(inner) = weak.upgrade() else { return };
        let pool = Pool { inner };
        // Expired idle connections.
        if let Some(max) = pool.inner.opts.max_lifetime {
            let expired: Vec<PoolConn> = {
                let mut idle = pool.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
                let (old, keep): (Vec<_>, Vec<_>) =
                    idle.drain(..).partition(|pc| pc.created.elapsed() >= max);
                idle.extend(keep);
                old
            };
            for pc in expired {
                pc.close(true);
            }
        }
        while pool.stats().idle < pool.inner.opts.min_idle as u64 {
            // Creating takes a turn, so min_idle never pushes the pool past its size.
            let Ok(permit) = pool.inner.turns.clone().try_acquire_owned() else {
                break;
            };
            match pool.create(ConnState::Idle).await {
                Ok(pc) => pool
                    .inner
                    .idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_back(pc),
                Err(e) => {
                    tracing::debug!(target: "lockstep::pool", error = %e, "min_idle connection failed");
                    drop(permit);
                    break;
                }
            }
            drop(permit);
        }
    }
}

/// A connection checked out of the pool; returns to it on drop (or is closed, if broken).
pub struct PooledConn {
    pc: Option<PoolConn>,
    conn: tokio::sync::Mutex<Option<Connection>>,
    _permit: OwnedSemaphorePermit,
    pool: Arc<PoolInner>,
}

impl PooledConn {
    fn new(mut pc: PoolConn, permit: OwnedSemaphorePermit, pool: Arc<PoolInner>) -> PooledConn {
        let conn = pc.conn.take();
        PooledConn {
            pc: Some(pc),
            conn: tokio::sync::Mutex::new(conn),
            _permit: permit,
            pool,
        }
    }

    /// Sends one command on this connection.
    pub async fn send(&self, cmd: &Cmd) -> Result<Frame, Error> {
        let mut g = self.conn.lock().await;
        match g.as_mut() {
            Some(c) => c.send(cmd).await,
            None => Err(released()),
        }
    }

    /// Sends several commands in one write (e.g. MULTI ... EXEC after a WATCH).
    pub async fn send_all(&self, cmds: &[Cmd]) -> Result<Vec<Frame>, Error> {
        let mut g = self.conn.lock().await;
        match g.as_mut() {
            Some(c) => c.send_all(cmds).await,
            None => Err(released()),
        }
    }

    /// Marks the connection as not to be reused (e.g. after changing its state in a way
    /// the next user must not inherit).
    pub fn discard(&mut self) {
        if let Some(c) = self.conn.get_mut().as_mut() {
            c.broken = true;
        }
    }
}

/// What a pooled connection answers once its connection went back to the pool.
fn released() -> Error {
    Error::ConnectionLost {
        sent: Sent::No,
        cause: Cause::Protocol("pooled connection already released".into()),
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        let Some(mut pc) = self.pc.take() else { return };
        let conn = self.conn.get_mut().take();
        let good = conn.as_ref().is_some_and(|c| c.is_reusable());
        pc.conn = conn;
        if good {
            pc.last_used = Instant::now();
            pc.transition(ConnState::Idle);
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_front(pc);
        } else {
            pc.close(true);
        }
        // The permit is released after the connection is back in the idle list.
    }
}

impl crate::Commands for PooledConn {
    async fn send_frame(&self, cmd: Cmd) -> Result<Frame, Error> {
        self.send(&cmd).await
    }

    fn command_timeout(&self) -> Option<Duration> {
        self.pool.cfg.command_timeout
    }
}
