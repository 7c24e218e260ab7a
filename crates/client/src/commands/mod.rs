//! Typed commands. Each is a thin `Cmd` plus a `FromReply` conversion, so a command missing
//! here is one `cmd("NAME").arg(..)` away.
//!
//! One trait per family, each implemented for everything that implements [`Commands`] (the
//! shared [`Client`](crate::Client) and a pooled connection): [`Commands`] (connection,
//! strings, keys), [`HashCommands`], [`ListCommands`], [`SetCommands`],
//! [`SortedSetCommands`], [`ScriptingCommands`]. `use lockstep::prelude::*` brings them all.
//!
//! ```no_run
//! # async fn demo(c: lockstep::Client) -> Result<(), lockstep::Error> {
//! use lockstep::Commands;
//! c.set("greeting", "hello").await?;
//! let v: Option<String> = c.get("greeting").await?;
//! let n: i64 = c.incr_by("counter", 5).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::time::Duration;

use lockstep_resp::Frame;

use crate::cmd::{cmd, Cmd, ToArg};
use crate::error::Error;
use crate::reply::FromReply;

mod hashes;
mod lists;
mod scripting;
mod sets;
mod sorted_sets;

pub use hashes::HashCommands;
pub use lists::{ListCommands, ListEnd};
pub use scripting::{Script, ScriptingCommands};
pub use sets::SetCommands;
pub use sorted_sets::{SortedSetCommands, ZAddOptions, ZCompare};

async fn conv<T: FromReply>(
    f: impl Future<Output = Result<Frame, Error>> + Send,
) -> Result<T, Error> {
    T::from_reply(f.await?)
}

/// Appends `items` (one argument, or a slice of them) preceded by how many they are, as
/// EVAL's `numkeys` and SINTERCARD's `numkeys` want.
fn with_count(mut c: Cmd, items: impl ToArg) -> Cmd {
    let mut tmp = cmd("");
    tmp.add_arg(items);
    c.add_arg(tmp.args().count() - 1);
    for a in tmp.args().skip(1) {
        c.add_arg(a);
    }
    c
}

/// Adds `MATCH pattern` and `COUNT n` to a SCAN-family command.
fn scan_options(mut c: Cmd, pattern: Option<&str>, count: Option<u64>) -> Cmd {
    if let Some(p) = pattern {
        c = c.arg("MATCH").arg(p);
    }
    if let Some(n) = count {
        c = c.arg("COUNT").arg(n);
    }
    c
}

/// A blocking command's own timeout, plus a margin for the reply to travel, as the command
/// timeout (0, "block forever", waits without bound).
fn blocking_timeout(c: Cmd, timeout: Duration, margin: Option<Duration>) -> Cmd {
    if timeout.is_zero() {
        c.timeout(None)
    } else {
        c.timeout(margin.map(|m| timeout + m))
    }
}

/// Seconds as Redis's blocking commands take them (a decimal, e.g. `0.25`).
fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Options of SET.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SetCondition {
    #[default]
    Always,
    /// NX: only if the key does not exist.
    IfAbsent,
    /// XX: only if the key exists.
    IfPresent,
}

/// The typed command set, for anything that can send a `Cmd`.
pub trait Commands: Sync {
    /// Sends a command and returns its raw reply (errors as `Error::Server`).
    fn send_frame(&self, cmd: Cmd) -> impl Future<Output = Result<Frame, Error>> + Send;

    /// The command timeout, which blocking commands add to their own timeout (`None`:
    /// they wait as long as the server blocks them).
    fn command_timeout(&self) -> Option<Duration> {
        None
    }

    // ---- connection
    fn ping(&self) -> impl Future<Output = Result<String, Error>> + Send {
        conv(self.send_frame(cmd("PING")))
    }

    // ---- strings
    fn get<V: FromReply>(&self, key: impl ToArg) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("GET").arg(key)))
    }
    fn set(
        &self,
        key: impl ToArg,
        value: impl ToArg,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        conv(self.send_frame(cmd("SET").arg(key).arg(value)))
    }
    /// SET with a time to live.
    fn set_ex(
        &self,
        key: impl ToArg,
        value: impl ToArg,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        conv(
            self.send_frame(
                cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64),
            ),
        )
    }
    /// SET NX / XX: true when the value was set.
    fn set_if(
        &self,
        key: impl ToArg,
        value: impl ToArg,
        cond: SetCondition,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        let mut c = cmd("SET").arg(key).arg(value);
        match cond {
            SetCondition::Always => {}
            SetCondition::IfAbsent => c = c.arg("NX"),
            SetCondition::IfPresent => c = c.arg("XX"),
        }
        conv(self.send_frame(c))
    }
    fn get_del<V: FromReply>(
        &self,
        key: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("GETDEL").arg(key)))
    }
    fn mget<V: FromReply>(
        &self,
        keys: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("MGET").arg(keys)))
    }
    /// MSET of (key, value) pairs.
    fn mset<K: ToArg, V: ToArg>(
        &self,
        pairs: &[(K, V)],
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let mut c = cmd("MSET");
        for (k, v) in pairs {
            c = c.arg(k).arg(v);
        }
        conv(self.send_frame(c))
    }
    fn incr(&self, key: impl ToArg) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("INCR").arg(key)))
    }
    fn incr_by(&self, key: impl ToArg, by: i64) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("INCRBY").arg(key).arg(by)))
    }
    fn incr_by_float(
        &self,
        key: impl ToArg,
        by: f64,
    ) -> impl Future<Output = Result<f64, Error>> + Send {
        conv(self.send_frame(cmd("INCRBYFLOAT").arg(key).arg(by)))
    }
    fn decr(&self, key: impl ToArg) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("DECR").arg(key)))
    }
    fn decr_by(&self, key: impl ToArg, by: i64) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("DECRBY").arg(key).arg(by)))
    }
    fn append(
        &self,
        key: impl ToArg,
        value: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("APPEND").arg(key).arg(value)))
    }
    fn strlen(&self, key: impl ToArg) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("STRLEN").arg(key)))
    }
    fn getrange<V: FromReply>(
        &self,
        key: impl ToArg,
        start: i64,
        end: i64,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("GETRANGE").arg(key).arg(start).arg(end)))
    }
    fn setrange(
        &self,
        key: impl ToArg,
        offset: u64,
        value: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("SETRANGE").arg(key).arg(offset).arg(value)))
    }

    // ---- keys
    /// DEL of one key or a slice of keys: how many were removed.
    fn del(&self, keys: impl ToArg) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("DEL").arg(keys)))
    }
    fn unlink(&self, keys: impl ToArg) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("UNLINK").arg(keys)))
    }
    /// EXISTS: how many of the keys exist.
    fn exists(&self, keys: impl ToArg) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("EXISTS").arg(keys)))
    }
    fn expire(
        &self,
        key: impl ToArg,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        conv(self.send_frame(cmd("PEXPIRE").arg(key).arg(ttl.as_millis() as u64)))
    }
    fn persist(&self, key: impl ToArg) -> impl Future<Output = Result<bool, Error>> + Send {
        conv(self.send_frame(cmd("PERSIST").arg(key)))
    }
    /// PTTL as a duration: `None` when the key has no TTL or does not exist.
    fn ttl(&self, key: impl ToArg) -> impl Future<Output = Result<Option<Duration>, Error>> + Send {
        let f = self.send_frame(cmd("PTTL").arg(key));
        async move {
            let ms = i64::from_reply(f.await?)?;
            Ok((ms >= 0).then(|| Duration::from_millis(ms as u64)))
        }
    }
    /// TYPE: "string", "list", ..., "none".
    fn key_type(&self, key: impl ToArg) -> impl Future<Output = Result<String, Error>> + Send {
        conv(self.send_frame(cmd("TYPE").arg(key)))
    }
    fn rename(
        &self,
        from: impl ToArg,
        to: impl ToArg,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        conv(self.send_frame(cmd("RENAME").arg(from).arg(to)))
    }
    fn keys<V: FromReply>(
        &self,
        pattern: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("KEYS").arg(pattern)))
    }
    /// One SCAN step: (next cursor, keys). Cursor 0 starts and ends an iteration.
    fn scan(
        &self,
        cursor: u64,
        pattern: Option<&str>,
        count: Option<u64>,
    ) -> impl Future<Output = Result<(u64, Vec<String>), Error>> + Send {
        conv(self.send_frame(scan_options(cmd("SCAN").arg(cursor), pattern, count)))
    }
    fn dbsize(&self) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("DBSIZE")))
    }
    fn flushdb(&self) -> impl Future<Output = Result<(), Error>> + Send {
        conv(self.send_frame(cmd("FLUSHDB")))
    }
}

impl Commands for crate::Client {
    async fn send_frame(&self, cmd: Cmd) -> Result<Frame, Error> {
        self.send(&cmd).await
    }

    fn command_timeout(&self) -> Option<Duration> {
        self.config().command_timeout
    }
}
