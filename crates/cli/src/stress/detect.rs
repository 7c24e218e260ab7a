//! The detector: every connection state transition, by kind, and every one outside the
//! state graph. Two independent sources:
//!
//! - the client's own count (`lockstep::metrics::transitions()`): the actor checks each
//!   transition it makes, for every connection of the process (shared, pooled, a cluster
//!   client's node connections), so nothing is missed;
//! - watchers of standalone clients' published snapshots (`Client::watch`): from outside,
//!   epochs must only grow, and two snapshots one epoch apart must be an edge of the
//!   graph. A watcher may miss snapshots that follow each other quickly; it counts them
//!   as missed, never as wrong.
//!
//! A scenario fails when either source sees a transition outside the graph.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lockstep::metrics::{transition_allowed, transitions, TransitionCount};
use lockstep::Client;
use tokio::task::JoinHandle;

/// Transition counts since `before` (a `transitions()` taken earlier).
pub fn since(before: &[TransitionCount]) -> Vec<TransitionCount> {
    transitions()
        .into_iter()
        .filter_map(|mut t| {
            let earlier = before
                .iter()
                .find(|b| b.from == t.from && b.to == t.to)
                .map_or(0, |b| b.count);
            t.count = t.count.saturating_sub(earlier);
            (t.count > 0).then_some(t)
        })
        .collect()
}

/// What watchers of published snapshots saw.
#[derive(Default)]
pub struct Watchers {
    /// Snapshots seen.
    pub observed: AtomicU64,
    /// Snapshots one epoch after the previous one seen (their transition was checked).
    pub checked: AtomicU64,
    /// Snapshots whose epoch was not above the previous one's.
    pub epoch_regressions: AtomicU64,
    /// Checked transitions outside the graph.
    pub invalid: AtomicU64,
    /// Epochs skipped between two snapshots seen (transitions not observed).
    pub missed: AtomicU64,
    handles: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchCounts {
    pub observed: u64,
    pub checked: u64,
    pub epoch_regressions: u64,
    pub invalid: u64,
    pub missed: u64,
}

impl Watchers {
    /// Follows `client`'s snapshots until its actor ends (or `finish`).
    pub fn watch(self: &Arc<Self>, client: &Client) {
        let mut rx = client.watch();
        let me = self.clone();
        let h = tokio::spawn(async move {
            let first = rx.borrow_and_update().clone();
            let (mut epoch, mut state) = (first.epoch, first.state);
            while rx.changed().await.is_ok() {
                let (e, s) = {
                    let snap = rx.borrow_and_update();
                    (snap.epoch, snap.state)
                };
                me.observe(epoch, state, e, s);
                epoch = e;
                state = s;
            }
        });
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(h);
    }

    fn observe(&self, epoch: u64, state: lockstep::State, e: u64, s: lockstep::State) {
        self.observed.fetch_add(1, Ordering::Relaxed);
        if e <= epoch {
            self.epoch_regressions.fetch_add(1, Ordering::Relaxed);
        } else if e == epoch + 1 {
            self.checked.fetch_add(1, Ordering::Relaxed);
            if !transition_allowed(state, s) {
                self.invalid.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            self.missed.fetch_add(e - epoch - 1, Ordering::Relaxed);
        }
    }

    /// Gives the watchers a moment to read the last snapshots, stops them, and counts;
    /// `None` when no client was watched (a cluster client's connections are not).
    pub async fn finish(&self) -> Option<WatchCounts> {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let handles: Vec<_> = self
            .handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        if handles.is_empty() {
            return None;
        }
        for h in handles {
            h.abort();
        }
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Some(WatchCounts {
            observed: g(&self.observed),
            checked: g(&self.checked),
            epoch_regressions: g(&self.epoch_regressions),
            invalid: g(&self.invalid),
            missed: g(&self.missed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep::State;

    #[test]
    fn watcher_flags_regressions_and_edges_outside_the_graph_and_only_those() {
        let w = Watchers::default();
        w.observe(0, State::Created, 1, State::Resolving);
        w.observe(1, State::Resolving, 2, State::Connecting);
        w.observe(2, State::Connecting, 5, State::Ready); // two missed
        w.observe(5, State::Ready, 6, State::Connecting); // not an edge
        w.observe(6, State::Connecting, 6, State::Ready); // same epoch again
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        assert_eq!(g(&w.observed), 5);
        assert_eq!(g(&w.checked), 3);
        assert_eq!(g(&w.invalid), 1);
        assert_eq!(g(&w.missed), 2);
        assert_eq!(g(&w.epoch_regressions), 1);
    }
}
