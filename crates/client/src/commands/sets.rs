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
    commands! {
        /// SADD of one member or a slice of members: how many were new.
        fn sadd(key: impl ToArg, members: impl ToArg) -> i64 => ["SADD", key, members];
        /// SREM: how many were removed.
        fn srem(key: impl ToArg, members: impl ToArg) -> i64 => ["SREM", key, members];
        fn smembers<V: FromReply>(key: impl ToArg) -> V => ["SMEMBERS", key];
        fn sismember(key: impl ToArg, member: impl ToArg) -> bool => ["SISMEMBER", key, member];
        /// SMISMEMBER: one bool per member, in order.
        fn smismember(key: impl ToArg, members: impl ToArg) -> Vec<bool>
            => ["SMISMEMBER", key, members];
        fn scard(key: impl ToArg) -> i64 => ["SCARD", key];
        /// SPOP of one member: `Option<V>`.
        fn spop<V: FromReply>(key: impl ToArg) -> V => ["SPOP", key];
        /// SPOP key count: up to `count` members.
        fn spop_count<V: FromReply>(key: impl ToArg, count: usize) -> V => ["SPOP", key, count];
        /// SRANDMEMBER key count: up to `count` distinct members (negative: `-count` members,
        /// repetitions allowed).
        fn srandmember<V: FromReply>(key: impl ToArg, count: i64) -> V
            => ["SRANDMEMBER", key, count];
        /// SMOVE: true when the member was moved.
        fn smove(src: impl ToArg, dst: impl ToArg, member: impl ToArg) -> bool
            => ["SMOVE", src, dst, member];
        fn sinter<V: FromReply>(keys: impl ToArg) -> V => ["SINTER", keys];
        fn sunion<V: FromReply>(keys: impl ToArg) -> V => ["SUNION", keys];
        /// SDIFF: the members of the first key that are in none of the others.
        fn sdiff<V: FromReply>(keys: impl ToArg) -> V => ["SDIFF", keys];
        /// SINTERSTORE: the size of the stored result.
        fn sinterstore(dst: impl ToArg, keys: impl ToArg) -> i64 => ["SINTERSTORE", dst, keys];
        fn sunionstore(dst: impl ToArg, keys: impl ToArg) -> i64 => ["SUNIONSTORE", dst, keys];
        fn sdiffstore(dst: impl ToArg, keys: impl ToArg) -> i64 => ["SDIFFSTORE", dst, keys];
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
    commands! {
        /// One SSCAN step: (next cursor, members). Cursor 0 starts and ends an iteration.
        fn sscan<V: FromReply>(
            key: impl ToArg,
            cursor: u64,
            pattern: Option<&str>,
            count: Option<u64>,
        ) -> (u64, V) => ["SSCAN", key, cursor, scan_options(pattern, count)];
    }
}

impl<T: Commands + ?Sized> SetCommands for T {}
