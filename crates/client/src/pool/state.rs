//! The state of one pooled connection, and the one place it changes (checked against the
//! graph of the module above, violations counted).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::time::Instant;

use super::Connection;

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
    pub(super) const ALL: [ConnState; 6] = [
        ConnState::Created,
        ConnState::Initializing,
        ConnState::Idle,
        ConnState::InUse,
        ConnState::Unusable,
        ConnState::Closed,
    ];

    pub(super) fn index(self) -> usize {
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

#[derive(Default)]
pub(super) struct Counters {
    pub(super) hits: AtomicU64,
    pub(super) misses: AtomicU64,
    pub(super) timeouts: AtomicU64,
    pub(super) waits: AtomicU64,
    pub(super) wait_nanos: AtomicU64,
    pub(super) stale: AtomicU64,
    pub(super) per_state: [AtomicU64; 6],
    pub(super) violations: AtomicU64,
}

/// A connection owned by the pool, with its state.
pub(super) struct PoolConn {
    pub(super) id: u64,
    pub(super) state: ConnState,
    pub(super) conn: Option<Connection>,
    pub(super) created: Instant,
    pub(super) last_used: Instant,
    pub(super) counters: Arc<Counters>,
}

impl PoolConn {
    pub(super) fn new(id: u64, counters: Arc<Counters>) -> PoolConn {
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
    pub(super) fn transition(&mut self, to: ConnState) {
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
    pub(super) fn close(mut self, stale: bool) {
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
