//! Hashes: HSET, HGET, HGETALL, HINCRBY, HSCAN and friends.
//!
//! Replies that are maps (HGETALL, HRANDFIELD WITHVALUES, HSCAN's page) convert from a RESP3
//! map or a RESP2 flat array alike: ask for a `HashMap`/`BTreeMap`.

use std::future::Future;

use super::{conv, scan_options, Commands};
use crate::cmd::{cmd, ToArg};
use crate::error::Error;
use crate::reply::FromReply;

/// Hash commands, for anything that implements [`Commands`].
pub trait HashCommands: Commands {
    commands! {
        /// HSET of one field: true when the field is new.
        fn hset(key: impl ToArg, field: impl ToArg, value: impl ToArg) -> bool
            => ["HSET", key, field, value];
    }
    /// HSET of (field, value) pairs: how many fields are new.
    fn hset_multiple<F: ToArg, V: ToArg>(
        &self,
        key: impl ToArg,
        pairs: &[(F, V)],
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        let mut c = cmd("HSET").arg(key);
        for (f, v) in pairs {
            c = c.arg(f).arg(v);
        }
        conv(self.send_frame(c))
    }
    commands! {
        /// HSETNX: true when the field was set (it did not exist).
        fn hset_nx(key: impl ToArg, field: impl ToArg, value: impl ToArg) -> bool
            => ["HSETNX", key, field, value];
        /// HGET: `Option<V>` for a field that may be missing.
        fn hget<V: FromReply>(key: impl ToArg, field: impl ToArg) -> V => ["HGET", key, field];
        /// HMGET: e.g. `Vec<Option<String>>`, in the order of `fields`.
        fn hmget<V: FromReply>(key: impl ToArg, fields: impl ToArg) -> V
            => ["HMGET", key, fields];
        /// HGETALL, e.g. as `HashMap<String, String>` (empty for a missing key).
        fn hgetall<V: FromReply>(key: impl ToArg) -> V => ["HGETALL", key];
        /// HDEL of one field or a slice of fields: how many were removed.
        fn hdel(key: impl ToArg, fields: impl ToArg) -> i64 => ["HDEL", key, fields];
        fn hexists(key: impl ToArg, field: impl ToArg) -> bool => ["HEXISTS", key, field];
        fn hlen(key: impl ToArg) -> i64 => ["HLEN", key];
        fn hkeys<V: FromReply>(key: impl ToArg) -> V => ["HKEYS", key];
        fn hvals<V: FromReply>(key: impl ToArg) -> V => ["HVALS", key];
        /// HSTRLEN: the length of a field's value (0 when missing).
        fn hstrlen(key: impl ToArg, field: impl ToArg) -> i64 => ["HSTRLEN", key, field];
        /// HINCRBY: the new value.
        fn hincr_by(key: impl ToArg, field: impl ToArg, by: i64) -> i64
            => ["HINCRBY", key, field, by];
        /// HINCRBYFLOAT: the new value.
        fn hincr_by_float(key: impl ToArg, field: impl ToArg, by: f64) -> f64
            => ["HINCRBYFLOAT", key, field, by];
        /// HRANDFIELD key count: up to `count` distinct fields (negative: `-count` fields,
        /// repetitions allowed).
        fn hrandfield<V: FromReply>(key: impl ToArg, count: i64) -> V
            => ["HRANDFIELD", key, count];
    }
    commands! {
        /// One HSCAN step: (next cursor, page), the page e.g. as `HashMap<String, String>`.
        /// Cursor 0 starts and ends an iteration.
        fn hscan<V: FromReply>(
            key: impl ToArg,
            cursor: u64,
            pattern: Option<&str>,
            count: Option<u64>,
        ) -> (u64, V) => ["HSCAN", key, cursor, scan_options(pattern, count)];
    }
}

impl<T: Commands + ?Sized> HashCommands for T {}
