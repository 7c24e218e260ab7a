//! Sorted sets: ZADD with its options, ranges by rank and by score, pops, ZSCAN.
//!
//! Members with scores come back as `Vec<(M, f64)>` whatever the protocol: RESP2 sends a
//! flat array `[m1, s1, m2, s2]` with scores as strings, RESP3 an array of `[m, s]` pairs
//! with scores as doubles. Score bounds are arguments as Redis takes them: a number,
//! `"(1.5"` (exclusive), `"-inf"`, `"+inf"`.

use std::future::Future;

use lockstep_resp::Frame;

use super::{conv, scan_options, Commands, SetCondition};
use crate::cmd::{cmd, Cmd, ToArg};
use crate::error::Error;
use crate::reply::FromReply;

/// GT / LT of ZADD: update an existing member only if the new score is greater / less.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZCompare {
    GreaterThan,
    LessThan,
}

/// The options of ZADD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZAddOptions {
    /// NX (only add new members) or XX (only update existing ones).
    pub condition: SetCondition,
    pub compare: Option<ZCompare>,
    /// CH: count changed scores as well as new members in the reply.
    pub changed: bool,
}

/// (member, score) pairs from either protocol's shape.
fn scored<M: FromReply>(frame: Frame) -> Result<Vec<(M, f64)>, Error> {
    let items = match frame {
        Frame::Array(v) | Frame::Set(v) => v,
        Frame::Null => return Ok(Vec::new()),
        Frame::Error(e) => {
            return Err(Error::Server(crate::error::ServerError::from_bytes(&e)));
        }
        f => return Err(Error::type_error("array of (member, score)", &f)),
    };
    let nested = items
        .iter()
        .all(|f| matches!(f, Frame::Array(p) if p.len() == 2));
    let mut out = Vec::with_capacity(if nested { items.len() } else { items.len() / 2 });
    if nested && !items.is_empty() {
        for pair in items {
            let Frame::Array(p) = pair else {
                unreachable!("checked above")
            };
            let mut it = p.into_iter();
            let (Some(m), Some(s)) = (it.next(), it.next()) else {
                unreachable!("len 2")
            };
            out.push((M::from_reply(m)?, f64::from_reply(s)?));
        }
        return Ok(out);
    }
    if items.len() % 2 != 0 {
        return Err(Error::type_error(
            "array of (member, score)",
            &Frame::Array(items),
        ));
    }
    let mut it = items.into_iter();
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        out.push((M::from_reply(m)?, f64::from_reply(s)?));
    }
    Ok(out)
}

async fn conv_scored<M: FromReply>(
    f: impl Future<Output = Result<Frame, Error>> + Send,
) -> Result<Vec<(M, f64)>, Error> {
    scored(f.await?)
}

fn zadd_cmd<M: ToArg>(key: impl ToArg, members: &[(M, f64)], opts: ZAddOptions) -> Cmd {
    let mut c = cmd("ZADD").arg(key);
    match opts.condition {
        SetCondition::Always => {}
        SetCondition::IfAbsent => c = c.arg("NX"),
        SetCondition::IfPresent => c = c.arg("XX"),
    }
    match opts.compare {
        None => {}
        Some(ZCompare::GreaterThan) => c = c.arg("GT"),
        Some(ZCompare::LessThan) => c = c.arg("LT"),
    }
    if opts.changed {
        c = c.arg("CH");
    }
    for (m, s) in members {
        c = c.arg(*s).arg(m);
    }
    c
}

/// Sorted-set commands, for anything that implements [`Commands`].
pub trait SortedSetCommands: Commands {
    /// ZADD of (member, score) pairs: how many members are new.
    fn zadd<M: ToArg>(
        &self,
        key: impl ToArg,
        members: &[(M, f64)],
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(zadd_cmd(key, members, ZAddOptions::default())))
    }
    /// ZADD with NX/XX, GT/LT and CH: how many members are new (or changed, with CH).
    fn zadd_with<M: ToArg>(
        &self,
        key: impl ToArg,
        members: &[(M, f64)],
        opts: ZAddOptions,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(zadd_cmd(key, members, opts)))
    }
    commands! {
        /// ZINCRBY: the new score.
        fn zincr_by(key: impl ToArg, member: impl ToArg, by: f64) -> f64
            => ["ZINCRBY", key, by, member];
        /// ZSCORE: `None` for a missing member.
        fn zscore(key: impl ToArg, member: impl ToArg) -> Option<f64> => ["ZSCORE", key, member];
        /// ZMSCORE: one score per member, in order.
        fn zmscore(key: impl ToArg, members: impl ToArg) -> Vec<Option<f64>>
            => ["ZMSCORE", key, members];
        /// ZREM: how many were removed.
        fn zrem(key: impl ToArg, members: impl ToArg) -> i64 => ["ZREM", key, members];
        fn zcard(key: impl ToArg) -> i64 => ["ZCARD", key];
        /// ZCOUNT between two score bounds (`1`, `"(1"`, `"-inf"`, ...).
        fn zcount(key: impl ToArg, min: impl ToArg, max: impl ToArg) -> i64
            => ["ZCOUNT", key, min, max];
        /// ZRANGE by rank, lowest score first: `start` and `stop` inclusive, negative from
        /// the end.
        fn zrange<V: FromReply>(key: impl ToArg, start: i64, stop: i64) -> V
            => ["ZRANGE", key, start, stop];
    }
    /// ZRANGE ... WITHSCORES.
    fn zrange_with_scores<M: FromReply>(
        &self,
        key: impl ToArg,
        start: i64,
        stop: i64,
    ) -> impl Future<Output = Result<Vec<(M, f64)>, Error>> + Send {
        conv_scored(
            self.send_frame(
                cmd("ZRANGE")
                    .arg(key)
                    .arg(start)
                    .arg(stop)
                    .arg("WITHSCORES"),
            ),
        )
    }
    commands! {
        /// ZRANGE ... REV: highest score first.
        fn zrevrange<V: FromReply>(key: impl ToArg, start: i64, stop: i64) -> V
            => ["ZRANGE", key, start, stop, "REV"];
    }
    /// ZRANGE ... BYSCORE between two bounds, with an optional LIMIT (offset, count).
    fn zrange_by_score<V: FromReply>(
        &self,
        key: impl ToArg,
        min: impl ToArg,
        max: impl ToArg,
        limit: Option<(i64, i64)>,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        let mut c = cmd("ZRANGE").arg(key).arg(min).arg(max).arg("BYSCORE");
        if let Some((offset, count)) = limit {
            c = c.arg("LIMIT").arg(offset).arg(count);
        }
        conv(self.send_frame(c))
    }
    /// ZRANGE ... BYSCORE WITHSCORES.
    fn zrange_by_score_with_scores<M: FromReply>(
        &self,
        key: impl ToArg,
        min: impl ToArg,
        max: impl ToArg,
    ) -> impl Future<Output = Result<Vec<(M, f64)>, Error>> + Send {
        conv_scored(
            self.send_frame(
                cmd("ZRANGE")
                    .arg(key)
                    .arg(min)
                    .arg(max)
                    .arg("BYSCORE")
                    .arg("WITHSCORES"),
            ),
        )
    }
    commands! {
        /// ZRANK: the 0-based rank by ascending score, `None` for a missing member.
        fn zrank(key: impl ToArg, member: impl ToArg) -> Option<i64> => ["ZRANK", key, member];
        /// ZREVRANK: the rank by descending score.
        fn zrevrank(key: impl ToArg, member: impl ToArg) -> Option<i64>
            => ["ZREVRANK", key, member];
    }
    /// ZPOPMIN key count: the `count` lowest members with their scores.
    fn zpop_min<M: FromReply>(
        &self,
        key: impl ToArg,
        count: usize,
    ) -> impl Future<Output = Result<Vec<(M, f64)>, Error>> + Send {
        // Always with a count: without one, RESP3 answers one flat pair, not a list.
        conv_scored(self.send_frame(cmd("ZPOPMIN").arg(key).arg(count)))
    }
    /// ZPOPMAX key count: the `count` highest members with their scores.
    fn zpop_max<M: FromReply>(
        &self,
        key: impl ToArg,
        count: usize,
    ) -> impl Future<Output = Result<Vec<(M, f64)>, Error>> + Send {
        conv_scored(self.send_frame(cmd("ZPOPMAX").arg(key).arg(count)))
    }
    commands! {
        /// ZREMRANGEBYRANK: how many were removed.
        fn zrem_range_by_rank(key: impl ToArg, start: i64, stop: i64) -> i64
            => ["ZREMRANGEBYRANK", key, start, stop];
        /// ZREMRANGEBYSCORE: how many were removed.
        fn zrem_range_by_score(key: impl ToArg, min: impl ToArg, max: impl ToArg) -> i64
            => ["ZREMRANGEBYSCORE", key, min, max];
    }
    /// ZUNIONSTORE (scores summed): the size of the stored result.
    fn zunionstore(
        &self,
        dst: impl ToArg,
        keys: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(super::with_count(cmd("ZUNIONSTORE").arg(dst), keys)))
    }
    /// ZINTERSTORE (scores summed): the size of the stored result.
    fn zinterstore(
        &self,
        dst: impl ToArg,
        keys: impl ToArg,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        conv(self.send_frame(super::with_count(cmd("ZINTERSTORE").arg(dst), keys)))
    }
    /// One ZSCAN step: (next cursor, (member, score) pairs).
    fn zscan<M: FromReply>(
        &self,
        key: impl ToArg,
        cursor: u64,
        pattern: Option<&str>,
        count: Option<u64>,
    ) -> impl Future<Output = Result<(u64, Vec<(M, f64)>), Error>> + Send {
        let f = self.send_frame(
            cmd("ZSCAN")
                .arg(key)
                .arg(cursor)
                .arg(scan_options(pattern, count)),
        );
        async move {
            let (cursor, page): (u64, Frame) = FromReply::from_reply(f.await?)?;
            Ok((cursor, scored(page)?))
        }
    }
}

impl<T: Commands + ?Sized> SortedSetCommands for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scored_pairs_from_resp2_flat_and_resp3_nested() {
        let flat = Frame::Array(vec![
            Frame::bulk("a"),
            Frame::bulk("1.5"),
            Frame::bulk("b"),
            Frame::bulk("inf"),
        ]);
        let v: Vec<(String, f64)> = scored(flat).unwrap();
        assert_eq!(
            v,
            [("a".to_string(), 1.5), ("b".to_string(), f64::INFINITY)]
        );
        let nested = Frame::Array(vec![
            Frame::Array(vec![Frame::bulk("a"), Frame::Double(1.5)]),
            Frame::Array(vec![Frame::bulk("b"), Frame::Double(2.0)]),
        ]);
        let v: Vec<(String, f64)> = scored(nested).unwrap();
        assert_eq!(v, [("a".to_string(), 1.5), ("b".to_string(), 2.0)]);
        assert!(scored::<String>(Frame::Array(vec![])).unwrap().is_empty());
        let odd = Frame::Array(vec![Frame::bulk("a")]);
        assert!(matches!(scored::<String>(odd), Err(Error::Type(_))));
    }
}
