//! What every task of a server shares: the state under its one lock, the running script
//! (readable without that lock), and the counter that numbers clients. Connections, the
//! accept loops and the active expiry cycle hold it.
//!
//! Tasks take the lock with `lock().await`, never by blocking on it: a script holds the
//! lock for as long as it runs, and a task blocked on it would stall a runtime thread, so
//! that nothing else (accepting connections, reading them, answering `-BUSY`) could run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use crate::busy::ScriptRun;
use crate::state::State;

pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// The running script, readable without the lock it holds.
    pub(crate) script_run: Arc<ScriptRun>,
    /// `maxmemory-clients`, readable without the lock.
    pub(crate) client_limit: Arc<crate::client_eviction::Limit>,
    next_client_id: AtomicU64,
}

/// How long a task blocks on the lock before it looks whether a script holds it. Other
/// commands hold it for microseconds.
const LOCK_SPIN: Duration = Duration::from_millis(2);
/// The longest a task sleeps between looks while a script runs.
const SCRIPT_POLL_MAX: Duration = Duration::from_millis(10);

impl Shared {
    pub(crate) fn new(state: State) -> Shared {
        Shared {
            script_run: state.script_run.clone(),
            client_limit: state.client_limit.clone(),
            state: Mutex::new(state),
            next_client_id: AtomicU64::new(1),
        }
    }

    /// The state's lock, waiting (without blocking the thread) while a script holds it.
    pub(crate) async fn lock(&self) -> MutexGuard<'_, State> {
        loop {
            match self.lock_or_busy().await {
                Ok(guard) => return guard,
                Err(Busy) => tokio::time::sleep(SCRIPT_POLL_MAX).await,
            }
        }
    }

    /// The state's lock, or `Busy` once a script has held it past `busy-reply-threshold`
    /// (the caller then answers as Redis does while a script runs).
    pub(crate) async fn lock_or_busy(&self) -> Result<MutexGuard<'_, State>, Busy> {
        let mut pause = Duration::from_micros(100);
        loop {
            if let Some(guard) = self.state.try_lock_for(LOCK_SPIN) {
                return Ok(guard);
            }
            if let Some(ran) = self.script_run.running_for() {
                if ran >= self.script_run.busy_threshold() {
                    return Err(Busy);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(SCRIPT_POLL_MAX);
            } else {
                // A command that holds the lock long (MIGRATE waits on its target, which
                // may be another node of this process) must not stall this thread: let
                // the runtime's other tasks run between looks.
                tokio::task::yield_now().await;
            }
        }
    }

    /// A new client's id (CLIENT ID), never reused.
    pub(crate) fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// A script has run past `busy-reply-threshold` and still holds the lock.
#[derive(Debug)]
pub(crate) struct Busy;
