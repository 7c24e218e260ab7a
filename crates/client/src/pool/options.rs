//! What a pool is built with, and what it reports.

use std::time::Duration;

use super::ConnState;

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
