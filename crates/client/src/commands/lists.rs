//! Lists: pushes, pops, ranges, LMOVE, and the blocking pops.
//!
//! A blocking command holds its connection until it returns: on the shared, multiplexed
//! [`Client`](crate::Client) every other command waits behind it. Run BLPOP, BRPOP and
//! BLMOVE on a pooled connection ([`Pool::get`](crate::Pool::get)). Their command timeout
//! is their own timeout plus the configured command timeout, so that a long block is not
//! mistaken for a dead server.

use std::future::Future;
use std::time::Duration;

use super::{blocking_timeout, conv, seconds, Commands};
use crate::cmd::{cmd, ToArg};
use crate::error::Error;
use crate::reply::FromReply;

/// Which end of a list (LMOVE, BLMOVE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListEnd {
    Left,
    Right,
}

impl ListEnd {
    fn word(self) -> &'static str {
        match self {
            ListEnd::Left => "LEFT",
            ListEnd::Right => "RIGHT",
        }
    }
}

/// BLPOP and BRPOP, which differ only in the end they pop from.
macro_rules! blocking_pop {
    ($(#[$meta:meta])* fn $method:ident => $name:literal) => {
        $(#[$meta])*
        fn $method<V: FromReply>(
            &self,
            keys: impl ToArg,
            timeout: Duration,
        ) -> impl Future<Output = Result<V, Error>> + Send {
            let c = cmd($name).arg(keys).arg(seconds(timeout));
            conv(self.send_frame(blocking_timeout(c, timeout, self.command_timeout())))
        }
    };
}

/// List commands, for anything that implements [`Commands`].
pub trait ListCommands: Commands {
    commands! {
        /// LPUSH of one value or a slice of values: the new length.
        fn lpush(key: impl ToArg, values: impl ToArg) -> i64 => ["LPUSH", key, values];
        fn rpush(key: impl ToArg, values: impl ToArg) -> i64 => ["RPUSH", key, values];
        /// LPUSHX: pushes only onto an existing list; 0 when there is none.
        fn lpushx(key: impl ToArg, values: impl ToArg) -> i64 => ["LPUSHX", key, values];
        fn rpushx(key: impl ToArg, values: impl ToArg) -> i64 => ["RPUSHX", key, values];
        /// LPOP of one element: `Option<V>`.
        fn lpop<V: FromReply>(key: impl ToArg) -> V => ["LPOP", key];
        /// LPOP key count: up to `count` elements (`Option<Vec<V>>`: nil for a missing key).
        fn lpop_count<V: FromReply>(key: impl ToArg, count: usize) -> V => ["LPOP", key, count];
        fn rpop<V: FromReply>(key: impl ToArg) -> V => ["RPOP", key];
        fn rpop_count<V: FromReply>(key: impl ToArg, count: usize) -> V => ["RPOP", key, count];
        /// LRANGE: `start` and `stop` inclusive, negative from the end (`0, -1`: all).
        fn lrange<V: FromReply>(key: impl ToArg, start: i64, stop: i64) -> V
            => ["LRANGE", key, start, stop];
        fn llen(key: impl ToArg) -> i64 => ["LLEN", key];
        /// LINDEX: `Option<V>`.
        fn lindex<V: FromReply>(key: impl ToArg, index: i64) -> V => ["LINDEX", key, index];
        fn lset(key: impl ToArg, index: i64, value: impl ToArg) -> ()
            => ["LSET", key, index, value];
    }
    /// LINSERT BEFORE/AFTER pivot: the new length, -1 when the pivot is not found, 0 when
    /// the key does not exist.
    fn linsert(
        &self,
        key: impl ToArg,
        before: bool,
        pivot: impl ToArg,
        value: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        let side = if before { "BEFORE" } else { "AFTER" };
        conv(self.send_frame(cmd("LINSERT").arg(key).arg(side).arg(pivot).arg(value)))
    }
    commands! {
        /// LREM: removes `count` occurrences (from the head if positive, the tail if negative,
        /// all if 0); how many were removed.
        fn lrem(key: impl ToArg, count: i64, value: impl ToArg) -> i64
            => ["LREM", key, count, value];
        fn ltrim(key: impl ToArg, start: i64, stop: i64) -> () => ["LTRIM", key, start, stop];
        /// LPOS: the index of the first occurrence, `None` when absent.
        fn lpos(key: impl ToArg, value: impl ToArg) -> Option<i64> => ["LPOS", key, value];
        /// LMOVE: the element moved (`Option<V>`: nil when `src` is empty).
        fn lmove<V: FromReply>(src: impl ToArg, dst: impl ToArg, from: ListEnd, to: ListEnd) -> V
            => ["LMOVE", src, dst, from.word(), to.word()];
    }
    blocking_pop! {
        /// BLPOP: `Option<(key, element)>`, `None` after `timeout` (zero: block forever).
        /// Blocks its connection: use a pooled connection.
        fn blpop => "BLPOP"
    }
    blocking_pop! {
        /// BRPOP, as [`blpop`](Self::blpop) from the tail.
        fn brpop => "BRPOP"
    }
    /// BLMOVE: the element moved, `None` after `timeout`. Blocks its connection.
    fn blmove<V: FromReply>(
        &self,
        src: impl ToArg,
        dst: impl ToArg,
        from: ListEnd,
        to: ListEnd,
        timeout: Duration,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        let c = cmd("BLMOVE")
            .arg(src)
            .arg(dst)
            .arg(from.word())
            .arg(to.word())
            .arg(seconds(timeout));
        conv(self.send_frame(blocking_timeout(c, timeout, self.command_timeout())))
    }
}

impl<T: Commands + ?Sized> ListCommands for T {}
