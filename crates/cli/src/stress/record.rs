//! What one scenario's operations did: outcome counters and a latency histogram, shared by
//! every task of the scenario. Never blocks a task for longer than a histogram insert.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use hdrhistogram::Histogram;
use lockstep::Error;

/// Latencies are recorded in microseconds, from 1 µs to 60 s, 3 significant digits.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Distinct error texts kept per scenario (the rest are counted, not named).
const ERROR_KINDS: usize = 16;

pub struct Recorder {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub timeouts: AtomicU64,
    pub pool_timeouts: AtomicU64,
    histogram: Mutex<Histogram<u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// How an operation ended, as the report counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    /// No reply within the command timeout.
    Timeout,
    /// No pooled connection within the pool timeout.
    PoolTimeout,
}

pub fn classify(e: &Error) -> Outcome {
    match e {
        Error::Timeout { .. } => Outcome::Timeout,
        Error::PoolTimeout { .. } => Outcome::PoolTimeout,
        _ => Outcome::Failed,
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        // Constant bounds that `new_with_bounds` accepts (1 <= low, high >= 2 * low, 3
        // significant digits): it cannot fail.
        let histogram =
            Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds");
        Recorder {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            pool_timeouts: AtomicU64::new(0),
            histogram: Mutex::new(histogram),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one operation that started at `started`; returns its outcome.
    pub fn record<T>(&self, started: Instant, r: &Result<T, Error>) -> Outcome {
        match r {
            Ok(_) => {
                self.ok_after(started);
                Outcome::Ok
            }
            Err(e) => self.error(e),
        }
    }

    /// A successful operation: counted, its latency recorded.
    pub fn ok_after(&self, started: Instant) {
        let us = (started.elapsed().as_micros() as u64).clamp(1, MAX_LATENCY_US);
        self.ok.fetch_add(1, Ordering::Relaxed);
        let mut h = self.histogram.lock().unwrap_or_else(|p| p.into_inner());
        h.saturating_record(us);
    }

    /// A failed operation (no latency is recorded: seed 004 averages successful ones).
    pub fn error(&self, e: &Error) -> Outcome {
        let outcome = classify(e);
        let counter = match outcome {
            Outcome::Timeout => &self.timeouts,
            Outcome::PoolTimeout => &self.pool_timeouts,
            _ => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.note(e.to_string());
        outcome
    }

    /// A failure found by a check rather than returned by the client (a wrong value read
    /// back, say): counted as failed, with its description.
    pub fn check_failed(&self, what: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.note(what);
    }

    fn note(&self, text: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        let len = errors.len();
        match errors.get_mut(&text) {
            Some(n) => *n += 1,
            None if len < ERROR_KINDS => {
                errors.insert(text, 1);
            }
            None => *errors.entry("(other errors)".into()).or_insert(0) += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
            + self.timeouts.load(Ordering::Relaxed)
            + self.pool_timeouts.load(Ordering::Relaxed)
    }

    pub fn unsuccessful(&self) -> u64 {
        self.total() - self.ok.load(Ordering::Relaxed)
    }

    pub fn histogram(&self) -> Histogram<u64> {
        self.histogram
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn outcomes_are_counted_by_kind_and_latencies_only_for_successes() {
        let r = Recorder::new();
        let t = Instant::now();
        r.record::<()>(t, &Ok(()));
        r.record::<()>(
            t,
            &Err(Error::PoolTimeout {
                after: Duration::from_millis(1),
            }),
        );
        r.record::<()>(t, &Err(Error::Protocol("bad".into())));
        assert_eq!(r.total(), 3);
        assert_eq!(r.ok.load(Ordering::Relaxed), 1);
        assert_eq!(r.pool_timeouts.load(Ordering::Relaxed), 1);
        assert_eq!(r.failed.load(Ordering::Relaxed), 1);
        assert_eq!(r.histogram().len(), 1);
        assert_eq!(r.errors().len(), 2);
    }
}
