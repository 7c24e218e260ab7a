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
    /// HSET of one field: true when the field is new.
    fn hset(
        &self,
        key: impl ToArg,
        field: impl ToArg,
        value: impl ToArg,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        conv(self.send_frame(cmd("HSET").arg(key).arg(field).arg(value)))
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
    /// HSETNX: true when the field was set (it did not exist).
    fn hset_nx(
        &self,
        key: impl ToArg,
        field: impl ToArg,
        value: impl ToArg,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        conv(self.send_frame(cmd("HSETNX").arg(key).arg(field).arg(value)))
    }
    /// HGET: `Option<V>` for a field that may be missing.
    fn hget<V: FromReply>(
        &self,
        key: impl ToArg,
        field: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("HGET").arg(key).arg(field)))
    }
    /// HMGET: e.g. `Vec<Option<String>>`, in the order of `fields`.
    fn hmget<V: FromReply>(
        &self,
        key: impl ToArg,
        fields: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("HMGET").arg(key).arg(fields)))
    }
    /// HGETALL, e.g. as `HashMap<String, String>` (empty for a missing key).
    fn hgetall<V: FromReply>(
        &self,
        key: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("HGETALL").arg(key)))
    }
    /// HDEL of one field or a slice of fields: how many were removed.
    fn hdel(
        &self,
        key: impl ToArg,
        fields: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("HDEL").arg(key).arg(fields)))
    }
    fn hexists(
        &self,
        key: impl ToArg,
        field: impl ToArg,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        conv(self.send_frame(cmd("HEXISTS").arg(key).arg(field)))
    }
    fn hlen(&self, key: impl ToArg) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("HLEN").arg(key)))
    }
    fn hkeys<V: FromReply>(
        &self,
        key: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("HKEYS").arg(key)))
    }
    fn hvals<V: FromReply>(
        &self,
        key: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("HVALS").arg(key)))
    }
    /// HSTRLEN: the length of a field's value (0 when missing).
    fn hstrlen(
        &self,
        key: impl ToArg,
        field: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("HSTRLEN").arg(key).arg(field)))
    }
    /// HINCRBY: the new value.
    fn hincr_by(
        &self,
        key: impl ToArg,
        field: impl ToArg,
        by: i64,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(cmd("HINCRBY").arg(key).arg(field).arg(by)))
    }
    /// HINCRBYFLOAT: the new value.
    fn hincr_by_float(
        &self,
        key: impl ToArg,
        field: impl ToArg,
        by: f64,
    ) -> impl Future<Output = Result<f64, Error>> + Send {
        conv(self.send_frame(cmd("HINCRBYFLOAT").arg(key).arg(field).arg(by)))
    }
    /// HRANDFIELD key count: up to `count` distinct fields (negative: `-count` fields,
    /// repetitions allowed).
    fn hrandfield<V: FromReply>(
        &self,
        key: impl ToArg,
        count: i64,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        conv(self.send_frame(cmd("HRANDFIELD").arg(key).arg(count)))
    }
    /// One HSCAN step: (next cursor, page), the page e.g. as `HashMap<String, String>`.
    /// Cursor 0 starts and ends an iteration.
    fn hscan<V: FromReply>(
        &self,
        key: impl ToArg,
        cursor: u64,
        pattern: Option<&str>,
        count: Option<u64>,
    ) -> impl Future<Output = Result<(u64, V), Error>> + Send {
        conv(self.send_frame(scan_options(
            cmd("HSCAN").arg(key).arg(cursor),
            pattern,
            count,
        )))
    }
}

impl<T: Commands + ?Sized> HashCommands for T {}
