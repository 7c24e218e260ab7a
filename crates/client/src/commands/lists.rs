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

/// List commands, for anything that implements [`Commands`].
pub trait ListCommands: Commands {
    /// LPUSH of one value or a slice of values: the new length.
    fn lpush(
        &self,
        key: impl ToArg,
        values: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("LPUSH").arg(key).arg(values)))
    }
    fn rpush(
        &self,
        key: impl ToArg,
        values: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("RPUSH").arg(key).arg(values)))
    }
    /// LPUSHX: pushes only onto an existing list; 0 when there is none.
    fn lpushx(
        &self,
        key: impl ToArg,
        values: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("LPUSHX").arg(key).arg(values)))
    }
    fn rpushx(
        &self,
        key: impl ToArg,
        values: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("RPUSHX").arg(key).arg(values)))
    }
    /// LPOP of one element: `Option<V>`.
    fn lpop<V: FromReply>(&self, key: impl ToArg) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("LPOP").arg(key)))
    }
    /// LPOP key count: up to `count` elements (`Option<Vec<V>>`: nil for a missing key).
    fn lpop_count<V: FromReply>(
        &self,
        key: impl ToArg,
        count: usize,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("LPOP").arg(key).arg(count)))
    }
    fn rpop<V: FromReply>(&self, key: impl ToArg) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("RPOP").arg(key)))
    }
    fn rpop_count<V: FromReply>(
        &self,
        key: impl ToArg,
        count: usize,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("RPOP").arg(key).arg(count)))
    }
    /// LRANGE: `start` and `stop` inclusive, negative from the end (`0, -1`: all).
    fn lrange<V: FromReply>(
        &self,
        key: impl ToArg,
        start: i64,
        stop: i64,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("LRANGE").arg(key).arg(start).arg(stop)))
    }
    fn llen(&self, key: impl ToArg) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("LLEN").arg(key)))
    }
    /// LINDEX: `Option<V>`.
    fn lindex<V: FromReply>(
        &self,
        key: impl ToArg,
        index: i64,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("LINDEX").arg(key).arg(index)))
    }
    fn lset(
        &self,
        key: impl ToArg,
        index: i64,
        value: impl ToArg,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        conv(self.send_frame(cmd("LSET").arg(key).arg(index).arg(value)))
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
    /// LREM: removes `count` occurrences (from the head if positive, the tail if negative,
    /// all if 0); how many were removed.
    fn lrem(
        &self,
        key: impl ToArg,
        count: i64,
        value: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("LREM").arg(key).arg(count).arg(value)))
    }
    fn ltrim(
        &self,
        key: impl ToArg,
        start: i64,
        stop: i64,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        conv(self.send_frame(cmd("LTRIM").arg(key).arg(start).arg(stop)))
    }
    /// LPOS: the index of the first occurrence, `None` when absent.
    fn lpos(
        &self,
        key: impl ToArg,
        value: impl ToArg,
    ) -> impl Future<Output = Result<Option<i64>, Error>> + Send {
        conv(self.send_frame(cmd("LPOS").arg(key).arg(value)))
    }
    /// LMOVE: the element moved (`Option<V>`: nil when `src` is empty).
    fn lmove<V: FromReply>(
        &self,
        src: impl ToArg,
        dst: impl ToArg,
        from: ListEnd,
        to: ListEnd,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(
            self.send_frame(
                cmd("LMOVE")
                    .arg(src)
                    .arg(dst)
                    .arg(from.word())
                    .arg(to.word()),
            ),
        )
    }
    /// BLPOP: `Option<(key, element)>`, `None` after `timeout` (zero: block forever).
    /// Blocks its connection: use a pooled connection.
    fn blpop<V: FromReply>(
        &self,
        keys: impl ToArg,
        timeout: Duration,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        let c = cmd("BLPOP").arg(keys).arg(seconds(timeout));
        conv(self.send_frame(blocking_timeout(c, timeout, self.command_timeout())))
    }
    /// BRPOP, as [`blpop`](Self::blpop) from the tail.
    fn brpop<V: FromReply>(
        &self,
        keys: impl ToArg,
        timeout: Duration,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        let c = cmd("BRPOP").arg(keys).arg(seconds(timeout));
        conv(self.send_frame(blocking_timeout(c, timeout, self.command_timeout())))
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
