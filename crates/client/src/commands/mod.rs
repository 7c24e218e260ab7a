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

/// Declares command methods that send one fixed command and convert its reply, from a
/// table: each entry is the method's signature without `&self`, its reply type after `->`,
/// and after `=>` the command as it goes on the wire (name, fixed words and parameters, in
/// Redis's order). A method that needs more (options, optional arguments, its own
/// conversion) is written out by hand instead.
///
/// ```text
/// commands! {
///     /// HGET: `Option<V>` for a field that may be missing.
///     fn hget<V: FromReply>(key: impl ToArg, field: impl ToArg) -> V => ["HGET", key, field];
/// }
/// ```
macro_rules! commands {
    ($(
        $(#[$meta:meta])*
        fn $method:ident $(<$v:ident: $bound:path>)? ($($param:ident: $ty:ty),* $(,)?) -> $reply:ty
            => [$name:literal $(, $arg:expr)* $(,)?];
    )*) => {$(
        $(#[$meta])*
        fn $method $(<$v: $bound>)? (
            &self,
            $($param: $ty),*
        ) -> impl ::std::future::Future<Output = Result<$reply, $crate::error::Error>> + Send {
            $crate::commands::conv(self.send_frame($crate::cmd::cmd($name)$(.arg($arg))*))
        }
    )*};
}

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

/// `MATCH pattern` and `COUNT n` of a SCAN-family command, each only when given.
fn scan_options(pattern: Option<&str>, count: Option<u64>) -> impl ToArg + '_ {
    (pattern.map(|p| ("MATCH", p)), count.map(|n| ("COUNT", n)))
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
    commands! {
        fn ping() -> String => ["PING"];
    }

    // ---- strings
    commands! {
        fn get<V: FromReply>(key: impl ToArg) -> V => ["GET", key];
        fn set(key: impl ToArg, value: impl ToArg) -> () => ["SET", key, value];
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
    commands! {
        fn get_del<V: FromReply>(key: impl ToArg) -> V => ["GETDEL", key];
        fn mget<V: FromReply>(keys: impl ToArg) -> V => ["MGET", keys];
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
    commands! {
        fn incr(key: impl ToArg) -> i64 => ["INCR", key];
        fn incr_by(key: impl ToArg, by: i64) -> i64 => ["INCRBY", key, by];
        fn incr_by_float(key: impl ToArg, by: f64) -> f64 => ["INCRBYFLOAT", key, by];
        fn decr(key: impl ToArg) -> i64 => ["DECR", key];
        fn decr_by(key: impl ToArg, by: i64) -> i64 => ["DECRBY", key, by];
        fn append(key: impl ToArg, value: impl ToArg) -> i64 => ["APPEND", key, value];
        fn strlen(key: impl ToArg) -> i64 => ["STRLEN", key];
        fn getrange<V: FromReply>(key: impl ToArg, start: i64, end: i64) -> V
            => ["GETRANGE", key, start, end];
        fn setrange(key: impl ToArg, offset: u64, value: impl ToArg) -> i64
            => ["SETRANGE", key, offset, value];
    }

    // ---- keys
    commands! {
        /// DEL of one key or a slice of keys: how many were removed.
        fn del(keys: impl ToArg) -> i64 => ["DEL", keys];
        fn unlink(keys: impl ToArg) -> i64 => ["UNLINK", keys];
        /// EXISTS: how many of the keys exist.
        fn exists(keys: impl ToArg) -> i64 => ["EXISTS", keys];
    }
    fn expire(
        &self,
        key: impl ToArg,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        conv(self.send_frame(cmd("PEXPIRE").arg(key).arg(ttl.as_millis() as u64)))
    }
    commands! {
        fn persist(key: impl ToArg) -> bool => ["PERSIST", key];
    }
    /// PTTL as a duration: `None` when the key has no TTL or does not exist.
    fn ttl(&self, key: impl ToArg) -> impl Future<Output = Result<Option<Duration>, Error>> + Send {
        let f = self.send_frame(cmd("PTTL").arg(key));
        async move {
            let ms = i64::from_reply(f.await?)?;
            Ok((ms >= 0).then(|| Duration::from_millis(ms as u64)))
        }
    }
    commands! {
        /// TYPE: "string", "list", ..., "none".
        fn key_type(key: impl ToArg) -> String => ["TYPE", key];
        fn rename(from: impl ToArg, to: impl ToArg) -> () => ["RENAME", from, to];
        fn keys<V: FromReply>(pattern: impl ToArg) -> V => ["KEYS", pattern];
        /// One SCAN step: (next cursor, keys). Cursor 0 starts and ends an iteration.
        fn scan(cursor: u64, pattern: Option<&str>, count: Option<u64>) -> (u64, Vec<String>)
            => ["SCAN", cursor, scan_options(pattern, count)];
        fn dbsize() -> i64 => ["DBSIZE"];
        fn flushdb() -> () => ["FLUSHDB"];
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
