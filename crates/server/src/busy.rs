//! A running script as the other connections see it, without the state's lock (which the
//! script holds for the whole run, so that nothing runs between two of its commands):
//! since when it runs, whether it has written, and whether SCRIPT KILL asked it to stop.
//!
//! The script engine marks the run (`begin`/`end`, `wrote`) and polls `kill_requested`
//! from its instruction hook; a connection that finds a script running past
//! `busy-reply-threshold` answers `-BUSY` instead of waiting for the lock, and SCRIPT
//! KILL asks the run to stop through `kill`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::state::unix_millis;

#[derive(Debug, Default)]
pub struct ScriptRun {
    /// Unix ms when the running script started; 0 when none runs.
    started_ms: AtomicU64,
    /// The running script has called a write command (it can no longer be killed).
    wrote: AtomicBool,
    /// SCRIPT KILL asked the running script to stop.
    kill: AtomicBool,
    /// `busy-reply-threshold` in ms (config, mirrored here to be read without the lock).
    threshold_ms: AtomicU64,
    /// Stops the server: SHUTDOWN NOSAVE is answered while a script holds the lock.
    shutdown: Option<watch::Sender<bool>>,
    /// A password is set (`requirepass`): a connection made while a script runs starts
    /// unauthenticated.
    auth_required: AtomicBool,
}

/// Why SCRIPT KILL could not stop a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillRefused {
    /// No script runs.
    NotBusy,
    /// The script has written: stopping it would leave half its writes.
    Unkillable,
}

impl ScriptRun {
    /// The run of a server that `shutdown` stops.
    pub fn new(shutdown: watch::Sender<bool>) -> ScriptRun {
        ScriptRun {
            shutdown: Some(shutdown),
            ..ScriptRun::default()
        }
    }

    /// SHUTDOWN NOSAVE while a script runs: the script is stopped, and the server.
    pub fn shut_down(&self) {
        self.stop();
        if let Some(shutdown) = &self.shutdown {
            let _ = shutdown.send(true);
        }
    }

    /// A script starts running.
    pub fn begin(&self) {
        self.wrote.store(false, Ordering::Release);
        self.kill.store(false, Ordering::Release);
        self.started_ms
            .store(unix_millis().max(1) as u64, Ordering::Release);
    }

    /// The script ended (returned, failed or was killed).
    pub fn end(&self) {
        self.started_ms.store(0, Ordering::Release);
        self.kill.store(false, Ordering::Release);
    }

    /// How long the running script has run, if one runs.
    pub fn running_for(&self) -> Option<Duration> {
        match self.started_ms.load(Ordering::Acquire) {
            0 => None,
            started => {
                let now = unix_millis().max(0) as u64;
                Some(Duration::from_millis(now.saturating_sub(started)))
            }
        }
    }

    /// The running script called a write command.
    pub fn wrote(&self) {
        self.wrote.store(true, Ordering::Release);
    }

    /// SCRIPT KILL: asks the running script to stop, unless none runs or it has written.
    pub fn kill(&self) -> Result<(), KillRefused> {
        if self.started_ms.load(Ordering::Acquire) == 0 {
            return Err(KillRefused::NotBusy);
        }
        if self.wrote.load(Ordering::Acquire) {
            return Err(KillRefused::Unkillable);
        }
        self.kill.store(true, Ordering::Release);
        Ok(())
    }

    /// From how long a running script on, other clients are answered `-BUSY`.
    pub fn busy_threshold(&self) -> Duration {
        Duration::from_millis(self.threshold_ms.load(Ordering::Relaxed))
    }

    pub fn set_busy_threshold(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    pub fn auth_required(&self) -> bool {
        self.auth_required.load(Ordering::Relaxed)
    }

    pub fn set_auth_required(&self, required: bool) {
        self.auth_required.store(required, Ordering::Relaxed);
    }

    /// Stops the running script whatever it did (the server is shutting down).
    pub fn stop(&self) {
        if self.started_ms.load(Ordering::Acquire) != 0 {
            self.kill.store(true, Ordering::Release);
        }
    }

    /// Whether the engine should stop the running script now.
    pub fn kill_requested(&self) -> bool {
        self.kill.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_is_refused_without_a_script_and_after_a_write() {
        let run = ScriptRun::default();
        assert_eq!(run.kill(), Err(KillRefused::NotBusy));
        assert!(run.running_for().is_none());
        run.begin();
        assert!(run.running_for().is_some());
        assert!(!run.kill_requested());
        assert_eq!(run.kill(), Ok(()));
        assert!(run.kill_requested());
        run.end();
        run.begin();
        run.wrote();
        assert_eq!(run.kill(), Err(KillRefused::Unkillable));
        assert!(!run.kill_requested());
        run.end();
        assert_eq!(run.kill(), Err(KillRefused::NotBusy));
    }
}
