//! Counters, readable at any time with `Client::metrics()`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::connection::State;

/// Live counters of one client (all monotonic except `sockets_open`).
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) commands: AtomicU64,
    pub(crate) replies: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) failed_in_flight: AtomicU64,
    pub(crate) late_replies: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) transitions: AtomicU64,
    pub(crate) stale_events: AtomicU64,
    pub(crate) connect_attempts: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) connections_lost: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) push_frames: AtomicU64,
    pub(crate) sockets_open: AtomicU64,
    pub(crate) sockets_opened: AtomicU64,
    pub(crate) sockets_open_max: AtomicU64,
    pub(crate) queue_full_waits: AtomicU64,
    pub(crate) invalid_transitions: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Commands handed to the connection.
    pub commands: u64,
    /// Replies matched to a command.
    pub replies: u64,
    /// Commands re-sent after a connection was lost under them.
    pub retried: u64,
    /// Commands failed because the connection was lost and they could not be retried.
    pub failed_in_flight: u64,
    /// Replies that arrived after their caller had given up (discarded in order).
    pub late_replies: u64,
    /// Connections recycled because the server stopped answering.
    pub timeouts: u64,
    /// State transitions.
    pub transitions: u64,
    /// Events dropped because they came from an older epoch.
    pub stale_events: u64,
    /// Connection attempts started (one per happy-eyeballs race).
    pub connect_attempts: u64,
    /// Attempts that reached Ready.
    pub connects: u64,
    /// Ready connections that were lost (not counting disconnect()).
    pub connections_lost: u64,
    /// Write system calls (commands per write = commands / writes: the pipelining factor).
    pub writes: u64,
    /// RESP3 push frames received.
    pub push_frames: u64,
    /// Sockets open now (including happy-eyeballs attempts in progress).
    pub sockets_open: u64,
    /// Sockets ever opened.
    pub sockets_opened: u64,
    /// The most sockets ever open at once.
    pub sockets_open_max: u64,
    /// Commands that had to wait for room because `max_pending` were queued or in flight.
    pub queue_full_waits: u64,
    /// Transitions outside the connection state graph (`connection` module doc). The actor
    /// checks every transition it makes; always 0 unless there is a bug.
    pub invalid_transitions: u64,
    /// Commands queued or in flight now (at most `Config::max_pending`).
    pub pending: u64,
    /// Client-side caching, when it is on.
    pub cache: Option<CacheStats>,
}

/// What client-side caching did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Cacheable reads answered from the cache.
    pub hits: u64,
    /// Cacheable reads sent to the server.
    pub misses: u64,
    /// Keys the server said changed.
    pub invalidations: u64,
    /// Times the whole cache was emptied (each new connection, a flush, a lost one).
    pub flushes: u64,
    /// Replies held now.
    pub entries: u64,
}

impl CacheStats {
    /// Hits over cacheable reads, 0 before any.
    pub fn hit_rate(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

impl Metrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetricsSnapshot {
            commands: g(&self.commands),
            replies: g(&self.replies),
            retried: g(&self.retried),
            failed_in_flight: g(&self.failed_in_flight),
            late_replies: g(&self.late_replies),
            timeouts: g(&self.timeouts),
            transitions: g(&self.transitions),
            stale_events: g(&self.stale_events),
            connect_attempts: g(&self.connect_attempts),
            connects: g(&self.connects),
            connections_lost: g(&self.connections_lost),
            writes: g(&self.writes),
            push_frames: g(&self.push_frames),
            sockets_open: g(&self.sockets_open),
            sockets_opened: g(&self.sockets_opened),
            sockets_open_max: g(&self.sockets_open_max),
            queue_full_waits: g(&self.queue_full_waits),
            invalid_transitions: g(&self.invalid_transitions),
            pending: 0,
            cache: None,
        }
    }

    pub(crate) fn inc(a: &AtomicU64) {
        a.fetch_add(1, Ordering::Relaxed);
    }
}

const STATES: [State; 7] = [
    State::Created,
    State::Resolving,
    State::Connecting,
    State::Handshaking,
    State::Ready,
    State::Reconnecting,
    State::Closed,
];

/// Every connection state transition made in this process, by kind (from, to), whatever
/// client made it: shared connections, pooled ones, a cluster client's node connections.
/// Tools that watch a whole workload (`lockstep stress`) read these; a client's own
/// counters are in its `metrics()`.
static TRANSITIONS: [[AtomicU64; 7]; 7] = [const { [const { AtomicU64::new(0) }; 7] }; 7];

/// Called by the connection actor for every transition it makes.
pub(crate) fn count_transition(metrics: &Metrics, from: State, to: State, allowed: bool) {
    TRANSITIONS[from as usize][to as usize].fetch_add(1, Ordering::Relaxed);
    Metrics::inc(&metrics.transitions);
    if !allowed {
        Metrics::inc(&metrics.invalid_transitions);
    }
}

/// The graph of the `connection` module doc, edge by edge: the actor checks every
/// transition it makes against it and counts those that are not one of these.
pub fn transition_allowed(from: State, to: State) -> bool {
    use State::*;
    matches!(
        (from, to),
        (Created, Resolving | Closed)
            // An attempt's phases, in the order its reports arrive; happy eyeballs may go
            // back from one address's handshake to another's connect.
            | (Resolving, Connecting)
            | (Connecting, Handshaking)
            | (Handshaking, Connecting)
            // An attempt ends (its result can come before its last phase reports).
            | (Resolving | Connecting | Handshaking, Ready | Reconnecting | Closed)
            | (Ready, Reconnecting | Closed)
            | (Reconnecting, Resolving | Closed)
            // Closed for another reason (a failed attempt's Closed, then shutdown).
            | (Closed, Resolving | Closed)
    )
}

/// How many times one kind of transition happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransitionCount {
    pub from: State,
    pub to: State,
    pub count: u64,
    /// Whether the state graph has this transition (`false`: a bug, counted anyway).
    pub allowed: bool,
}

/// The connection state transitions made in this process so far, by kind, those that
/// happened at least once, in state order.
pub fn transitions() -> Vec<TransitionCount> {
    let mut out = Vec::new();
    for from in STATES {
        for to in STATES {
            let count = TRANSITIONS[from as usize][to as usize].load(Ordering::Relaxed);
            if count > 0 {
                out.push(TransitionCount {
                    from,
                    to,
                    count,
                    allowed: transition_allowed(from, to),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_graph_has_the_lifecycle_and_nothing_that_skips_a_connection() {
        use State::*;
        for (from, to) in [
            (Created, Resolving),
            (Resolving, Connecting),
            (Connecting, Handshaking),
            (Handshaking, Ready),
            (Ready, Reconnecting),
            (Reconnecting, Resolving),
            (Ready, Closed),
            (Closed, Resolving),
        ] {
            assert!(transition_allowed(from, to), "{from} -> {to}");
        }
        for (from, to) in [
            (Created, Ready),
            (Ready, Ready),
            (Ready, Connecting),
            (Reconnecting, Ready),
            (Closed, Ready),
            (Handshaking, Resolving),
            (Resolving, Handshaking),
        ] {
            assert!(!transition_allowed(from, to), "{from} -> {to}");
        }
    }
}
