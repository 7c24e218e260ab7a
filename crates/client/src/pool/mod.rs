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

mod connection;
mod options;
mod state;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use lockstep_resp::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub use connection::Connection;
pub use options::{PoolOptions, PoolStats};
pub use state::ConnState;
use state::{Counters, PoolConn};

use crate::cmd::Cmd;
use crate::config::Config;
use crate::error::{Cause, Error, Sent};
use crate::metrics::Metrics;

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
