//! Sets: SADD, SMEMBERS, the set algebra, SSCAN.
//!
//! Member lists convert into `Vec<T>` or `HashSet<T>` (RESP3 set or RESP2 array alike).

use std::future::Future;

use super::{conv, scan_options, with_count, Commands};
use crate::cmd::{cmd, ToArg};
use crate::error::Error;
use crate::reply::FromReply;

/// Set commands, for anything that implements [`Commands`].
pub trait SetCommands: Commands {
    /// SADD of one member or a slice of members: how many were new.
    fn sadd(
        &self,
        key: impl ToArg,
        members: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("SADD").arg(key).arg(members)))
    }
    /// SREM: how many were removed.
    fn srem(
        &self,
        key: impl ToArg,
        members: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("SREM").arg(key).arg(members)))
    }
    fn smembers<V: FromReply>(
        &self,
        key: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("SMEMBERS").arg(key)))
    }
    fn sismember(
        &self,
        key: impl ToArg,
        member: impl ToArg,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        conv(self.send_frame(cmd("SISMEMBER").arg(key).arg(member)))
    }
    /// SMISMEMBER: one bool per member, in order.
    fn smismember(
        &self,
        key: impl ToArg,
        members: impl ToArg,
    ) -> impl Future<Output = Result<Vec<bool>, Error>> + Send {
        conv(self.send_frame(cmd("SMISMEMBER").arg(key).arg(members)))
    }
    fn scard(&self, key: impl ToArg) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("SCARD").arg(key)))
    }
    /// SPOP of one member: `Option<V>`.
    fn spop<V: FromReply>(&self, key: impl ToArg) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("SPOP").arg(key)))
    }
    /// SPOP key count: up to `count` members.
    fn spop_count<V: FromReply>(
        &self,
        key: impl ToArg,
        count: usize,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("SPOP").arg(key).arg(count)))
    }
    /// SRANDMEMBER key count: up to `count` distinct members (negative: `-count` members,
    /// repetitions allowed).
    fn srandmember<V: FromReply>(
        &self,
        key: impl ToArg,
        count: i64,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("SRANDMEMBER").arg(key).arg(count)))
    }
    /// SMOVE: true when the member was moved.
    fn smove(
        &self,
        src: impl ToArg,
        dst: impl ToArg,
        member: impl ToArg,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        conv(self.send_frame(cmd("SMOVE").arg(src).arg(dst).arg(member)))
    }
    fn sinter<V: FromReply>(
        &self,
        keys: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("SINTER").arg(keys)))
    }
    fn sunion<V: FromReply>(
        &self,
        keys: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("SUNION").arg(keys)))
    }
    /// SDIFF: the members of the first key that are in none of the others.
    fn sdiff<V: FromReply>(
        &self,
        keys: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("SDIFF").arg(keys)))
    }
    /// SINTERSTORE: the size of the stored result.
    fn sinterstore(
        &self,
        dst: impl ToArg,
        keys: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("SINTERSTORE").arg(dst).arg(keys)))
    }
    fn sunionstore(
        &self,
        dst: impl ToArg,
        keys: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("SUNIONSTORE").arg(dst).arg(keys)))
    }
    fn sdiffstore(
        &self,
        dst: impl ToArg,
        keys: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("SDIFFSTORE").arg(dst).arg(keys)))
    }
    /// SINTERCARD: the size of the intersection, counting stops at `limit` when given.
    fn sintercard(
        &self,
        keys: impl ToArg,
        limit: Option<u64>,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        let mut c = with_count(cmd("SINTERCARD"), keys);
        if let Some(n) = limit {
            c = c.arg("LIMIT").arg(n);
        }
        conv(self.send_frame(c))
    }
    /// One SSCAN step: (next cursor, members). Cursor 0 starts and ends an iteration.
    fn sscan<V: FromReply>(
        &self,
        key: impl ToArg,
        cursor: u64,
        pattern: Option<&str>,
        count: Option<u64>,
    ) -> impl Future<Output = Result<(u64, V), Error>> + Send {
        conv(self.send_frame(scan_options(
            cmd("SSCAN").arg(key).arg(cursor),
            pattern,
            count,
        )))
    }
}

impl<T: Commands + ?Sized> SetCommands for T {}
