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
    /// The function running (FCALL), for FUNCTION STATS; `None` while EVAL's script runs
    /// or nothing does.
    function: parking_lot::Mutex<Option<FunctionRun>>,
}

/// A running function as FUNCTION STATS shows it, with the library counts it shows beside
/// (which cannot change while a function runs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionRun {
    pub name: String,
    pub command: Vec<Vec<u8>>,
    pub libraries: usize,
    pub functions: usize,
}

/// What is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Running {
    Nothing,
    /// A script of EVAL or EVALSHA.
    Eval,
    /// A function, with how long it has run.
    Function(FunctionRun, Duration),
}

/// Why SCRIPT KILL could not stop a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillRefused {
    /// No script runs.
    NotBusy,
    /// The script has written: stopping it would leave half its writes.
    Unkillable,
    /// FUNCTION KILL while a script of EVAL runs.
    EvalRuns,
    /// SCRIPT KILL while a function runs.
    FunctionRuns,
}

impl KillRefused {
    /// Redis's error for the refusal.
    pub fn error(self) -> &'static str {
        match self {
            KillRefused::NotBusy => crate::errors::NOTBUSY,
            KillRefused::Unkillable => crate::errors::UNKILLABLE,
            KillRefused::EvalRuns => crate::errors::BUSY_SCRIPT,
            KillRefused::FunctionRuns => crate::errors::BUSY_FUNCTION,
        }
    }
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

    /// A script starts running: a function (FCALL) or, with `None`, a script of EVAL.
    pub fn begin(&self, function: Option<FunctionRun>) {
        *self.function.lock() = function;
        self.wrote.store(false, Ordering::Release);
        self.kill.store(false, Ordering::Release);
        self.started_ms
            .store(unix_millis().max(1) as u64, Ordering::Release);
    }

    /// The script ended (returned, failed or was killed).
    pub fn end(&self) {
        self.started_ms.store(0, Ordering::Release);
        self.kill.store(false, Ordering::Release);
        *self.function.lock() = None;
    }

    /// What runs now.
    pub fn running(&self) -> Running {
        let Some(duration) = self.running_for() else {
            return Running::Nothing;
        };
        match &*self.function.lock() {
            Some(function) => Running::Function(function.clone(), duration),
            None => Running::Eval,
        }
    }

    /// The `-BUSY` error for other clients: it names the command that can stop what runs.
    pub fn busy_error(&self) -> &'static str {
        if self.function.lock().is_some() {
            crate::errors::BUSY_FUNCTION
        } else {
            crate::errors::BUSY_SCRIPT
        }
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

    /// SCRIPT KILL (`function` false) or FUNCTION KILL: asks the running script to stop,
    /// unless none runs, it has written, or it is not of the kind the command stops.
    pub fn kill(&self, function: bool) -> Result<(), KillRefused> {
        if self.started_ms.load(Ordering::Acquire) == 0 {
            return Err(KillRefused::NotBusy);
        }
        if self.wrote.load(Ordering::Acquire) {
            return Err(KillRefused::Unkillable);
        }
        match (self.function.lock().is_some(), function) {
            (true, false) => return Err(KillRefused::FunctionRuns),
            (false, true) => return Err(KillRefused::EvalRuns),
            _ => {}
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
        assert_eq!(run.kill(false), Err(KillRefused::NotBusy));
        assert!(run.running_for().is_none());
        run.begin(None);
        assert!(run.running_for().is_some());
        assert!(!run.kill_requested());
        assert_eq!(run.kill(false), Ok(()));
        assert!(run.kill_requested());
        run.end();
        run.begin(None);
        run.wrote();
        assert_eq!(run.kill(false), Err(KillRefused::Unkillable));
        assert!(!run.kill_requested());
        run.end();
        assert_eq!(run.kill(false), Err(KillRefused::NotBusy));
    }

    #[test]
    fn each_kill_command_stops_only_its_kind() {
        let run = ScriptRun::default();
        run.begin(None);
        assert_eq!(run.busy_error(), crate::errors::BUSY_SCRIPT);
        assert_eq!(run.running(), Running::Eval);
        assert_eq!(run.kill(true), Err(KillRefused::EvalRuns));
        run.end();
        let f = FunctionRun {
            name: "f".into(),
            ..FunctionRun::default()
        };
        run.begin(Some(f.clone()));
        assert_eq!(run.busy_error(), crate::errors::BUSY_FUNCTION);
        assert!(matches!(run.running(), Running::Function(g, _) if g == f));
        assert_eq!(run.kill(false), Err(KillRefused::FunctionRuns));
        assert_eq!(run.kill(true), Ok(()));
        run.end();
        assert_eq!(run.running(), Running::Nothing);
    }
}
