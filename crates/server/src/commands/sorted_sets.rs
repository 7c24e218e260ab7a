//! Sorted set commands: ZADD (every option and error), ZINCRBY, the pops, the ZRANGE
//! family (by rank, score and lex, REV, LIMIT, WITHSCORES, and the older ZREVRANGE,
//! Z[REV]RANGEBYSCORE, Z[REV]RANGEBYLEX forms), ZSCORE/ZMSCORE, ZCARD, ZREM, ZRANK,
//! ZREVRANK and ZCOUNT, each reply and error as Redis 7.0's `t_zset.c` writes them.
//!
//! Scores print as Redis 7.0 prints doubles (`%.17g`; a RESP3 double). Parsing follows
//! `zrangeGenericCommand` step by step, because the order of its checks decides which
//! error a client sees: options, then conflicting options, then the range, then the key.

use crate::args::Args;
use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::errors;
use crate::keyspace::Value;
use crate::types::zset::{parse_score, parse_score_bound, AddFlags, Added};
use crate::types::{zset_limits, ZsetValue};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("zadd", zadd),
    handler("zpopmin", zpopmin),
    handler("zpopmax", zpopmax),
    handler("zrange", zrange),
    handler("zrevrange", zrevrange),
    handler("zrangebyscore", zrangebyscore),
    handler("zrevrangebyscore", zrevrangebyscore),
    handler("zrangebylex", zrangebylex),
    handler("zrevrangebylex", zrevrangebylex),
    handler("zscore", zscore),
    handler("zmscore", zmscore),
    handler("zcard", zcard),
    handler("zrem", zrem),
    handler("zincrby", zincrby),
    handler("zrank", zrank),
    handler("zrevrank", zrevrank),
    handler("zcount", zcount),
];

/// Redis's `zaddGenericCommand`, for ZADD and ZINCRBY (which is ZADD INCR with the
/// options loop still running over its arguments, as in Redis).
fn zadd_generic(ctx: &mut Ctx, argv: &[&[u8]], incr_command: bool) -> CommandResult {
    let mut flags = AddFlags {
        incr: incr_command,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut first = 2;
    while first < argv.len() {
        let opt = argv[first];
        if opt.eq_ignore_ascii_case(b"nx") {
            flags.nx = true;
        } else if opt.eq_ignore_ascii_case(b"xx") {
            flags.xx = true;
        } else if opt.eq_ignore_ascii_case(b"ch") {
            ch = true;
        } else if opt.eq_ignore_ascii_case(b"incr") {
            flags.incr = true;
        } else if opt.eq_ignore_ascii_case(b"gt") {
            flags.gt = true;
        } else if opt.eq_ignore_ascii_case(b"lt") {
            flags.lt = true;
        } else {
            break;
        }
        first += 1;
    }
    let rest = &argv[first..];
    if rest.is_empty() || rest.len() % 2 == 1 {
        return Err(errors::SYNTAX.into());
    }
    if flags.nx && flags.xx {
        return Err(errors::ZADD_XX_AND_NX.into());
    }
    if ((flags.gt || flags.lt) && flags.nx) || (flags.gt && flags.lt) {
        return Err(errors::ZADD_GT_LT_NX.into());
    }
    if flags.incr && rest.len() > 2 {
        return Err(errors::ZADD_INCR_PAIRS.into());
    }
    // Every score is checked before anything changes: ZADD applies fully or not at all.
    let scores = rest
        .chunks_exact(2)
        .map(|pair| parse_score(pair[0]).ok_or(errors::NOT_FLOAT))
        .collect::<Result<Vec<f64>, _>>()?;
    let limits = zset_limits(&ctx.state.config);
    let key = argv[1];
    let (mut added, mut updated, mut processed) = (0u64, 0u64, 0u64);
    let mut last_score = 0.0;
    // Redis names the change `zincr` for ZINCRBY and ZADD INCR, once per command.
    let event = if flags.incr { "zincr" } else { "zadd" };
    // The guard goes before the reply is written.
    {
        let mut db = ctx.db();
        // A missing key is created unless XX says to change existing ones only.
        let written = if flags.xx {
            db.write::<ZsetValue>(key)?
        } else {
            Some(db.write_or_create::<ZsetValue>(key, || {
                Value::ZSet(Box::new(ZsetValue::for_first_member(rest[1], limits)))
            })?)
        };
        if let Some(mut zset) = written {
            for (pair, &score) in rest.chunks_exact(2).zip(&scores) {
                match zset.add(score, pair[1], flags, limits) {
                    Added::Added(s) => {
                        added += 1;
                        processed += 1;
                        last_score = s;
                    }
                    Added::Updated(s) => {
                        updated += 1;
                        processed += 1;
                        last_score = s;
                    }
                    Added::Same(s) => {
                        processed += 1;
                        last_score = s;
                    }
                    Added::Nop => {}
                    Added::Nan => {
                        zset.changed(added + updated, event);
                        return Err(errors::ZADD_NAN.into());
                    }
                }
            }
            zset.changed(added + updated, event);
        }
    }
    if flags.incr {
        if processed > 0 {
            ctx.out.double(last_score);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out
            .int((if ch { added + updated } else { added }) as i64);
    }
    Ok(Done)
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`
fn zadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zadd_generic(ctx, argv, false)
}

/// `ZINCRBY key increment member`: the new score.
fn zincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zadd_generic(ctx, argv, true)
}

/// `ZCARD key`
fn zcard(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::reply_len(ctx, argv[1], ZsetValue::len)
}

/// `ZSCORE key member`: the score, or null.
fn zscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    match ctx
        .read::<ZsetValue>(argv[1])?
        .and_then(|z| z.score(argv[2]))
    {
        Some(score) => ctx.out.double(score),
        None => ctx.out.null(),
    }
    Ok(Done)
}

/// `ZMSCORE key member [member ...]`: a score or null per member.
fn zmscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::reply_per_member::<ZsetValue>(ctx, argv, |out, zset, member| {
        let score = zset.and_then(|z| z.score(member));
        match score {
            Some(score) => out.double(score),
            None => out.null(),
        }
    })
}

/// ZRANK and ZREVRANK: the 0-based rank, or null.
fn rank(ctx: &mut Ctx, argv: &[&[u8]], rev: bool) -> CommandResult {
    match ctx
        .read::<ZsetValue>(argv[1])?
        .and_then(|z| z.rank(argv[2], rev))
    {
        Some(rank) => ctx.out.int(rank as i64),
        None => ctx.out.null(),
    }
    Ok(Done)
}

/// `ZRANK key member`
fn zrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    rank(ctx, argv, false)
}

/// `ZREVRANK key member`
fn zrevrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    rank(ctx, argv, true)
}

/// `ZREM key member [member ...]`: how many members were removed.
fn zrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::remove_members::<ZsetValue>(ctx, argv, "zrem")
}

/// ZPOPMIN and ZPOPMAX: a flat array of member, score... except in RESP3 with a count,
/// where each pair is its own array. A missing key answers an empty array.
fn zpop(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CommandResult {
    if argv.len() > 3 {
        return Err(errors::SYNTAX.into());
    }
    let count = Args::new(argv, 2).pop_count()?;
    let (mut db, out) = ctx.db_out();
    let Some(mut zset) = db.write::<ZsetValue>(argv[1])? else {
        out.array(0);
        return Ok(Done);
    };
    if count == Some(0) {
        out.array(0);
        return Ok(Done);
    }
    let nested = out.resp3() && count.is_some();
    let n = count.unwrap_or(1).min(zset.len() as u64) as usize;
    out.array(if nested { n } else { n * 2 });
    for _ in 0..n {
        if let Some((member, score)) = zset.pop(max) {
            if nested {
                out.array(2);
            }
            out.bulk(&member);
            out.double(score);
        }
    }
    zset.changed(n as u64, if max { "zpopmax" } else { "zpopmin" });
    Ok(Done)
}

/// `ZPOPMIN key [count]`
fn zpopmin(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zpop(ctx, argv, false)
}

/// `ZPOPMAX key [count]`
fn zpopmax(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zpop(ctx, argv, true)
}

/// One end of a lexicographic range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex<'a> {
    /// `-`: below every string.
    Min,
    /// `+`: above every string.
    Max,
    Value(&'a [u8]),
}

/// Redis's `sdscmplex`: the sentinels sort outside every string and equal themselves.
fn cmp_lex(a: Lex, b: Lex) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (Lex::Min, Lex::Min) | (Lex::Max, Lex::Max) => Equal,
        (Lex::Min, _) | (_, Lex::Max) => Less,
        (Lex::Max, _) | (_, Lex::Min) => Greater,
        (Lex::Value(a), Lex::Value(b)) => a.cmp(b),
    }
}

/// Redis's `zslParseLexRangeItem`: `-`, `+`, `(value` (exclusive) or `[value`. C reads
/// `-` and `+` as strings, so anything after a NUL is not seen.
fn parse_lex(s: &[u8]) -> Option<(Lex<'_>, bool)> {
    let alone = s.get(1).is_none_or(|&b| b == 0);
    match s.first()? {
        b'+' if alone => Some((Lex::Max, true)),
        b'-' if alone => Some((Lex::Min, true)),
        b'(' => Some((Lex::Value(&s[1..]), true)),
        b'[' => Some((Lex::Value(&s[1..]), false)),
        _ => None,
    }
}

#[derive(Clone, Copy)]
struct LexRange<'a> {
    min: Lex<'a>,
    min_ex: bool,
    max: Lex<'a>,
    max_ex: bool,
}

impl LexRange<'_> {
    fn gte_min(&self, member: &[u8]) -> bool {
        let c = cmp_lex(Lex::Value(member), self.min);
        if self.min_ex {
            c.is_gt()
        } else {
            c.is_ge()
        }
    }

    fn lte_max(&self, member: &[u8]) -> bool {
        let c = cmp_lex(Lex::Value(member), self.max);
        if self.max_ex {
            c.is_lt()
        } else {
            c.is_le()
        }
    }

    /// Ranges that can never hold anything (`zslIsInLexRange`'s first test).
    fn is_empty(&self) -> bool {
        let c = cmp_lex(self.min, self.max);
        c.is_gt() || (c.is_eq() && (self.min_ex || self.max_ex))
    }
}

#[derive(Clone, Copy)]
struct ScoreRange {
    min: f64,
    min_ex: bool,
    max: f64,
    max_ex: bool,
}

impl ScoreRange {
    fn gte_min(&self, score: f64) -> bool {
        if self.min_ex {
            score > self.min
        } else {
            score >= self.min
        }
    }

    fn lte_max(&self, score: f64) -> bool {
        if self.max_ex {
            score < self.max
        } else {
            score <= self.max
        }
    }

    fn contains(&self, score: f64) -> bool {
        self.gte_min(score) && self.lte_max(score)
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
    let (min, min_ex) = parse_score_bound(min)?;
    let (max, max_ex) = parse_score_bound(max)?;
    Some(ScoreRange {
        min,
        min_ex,
        max,
        max_ex,
    })
}

/// `ZCOUNT key min max`: how many scores fall in the range.
fn zcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let range = parse_score_range(argv[2], argv[3]).ok_or(errors::MIN_MAX_NOT_FLOAT)?;
    let count = ctx.read::<ZsetValue>(argv[1])?.map_or(0, |z| {
        z.iter(false)
            .skip_while(|(_, s)| !range.gte_min(*s))
            .take_while(|(_, s)| range.lte_max(*s))
            .count()
    });
    ctx.out.int(count as i64);
    Ok(Done)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Rank,
    Score,
    Lex,
}

/// Redis's `zrangeGenericCommand` for the ZRANGE family. `fixed_type` and `fixed_rev`
/// are what the older commands (ZREVRANGE, ZRANGEBYSCORE, ...) imply; ZRANGE leaves them
/// to its options, and each option may then be given once.
fn zrange_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    fixed_type: Option<RangeType>,
    fixed_rev: Option<bool>,
) -> CommandResult {
    let mut range_type = fixed_type;
    let mut rev = fixed_rev;
    let mut withscores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        let opt = argv[j];
        let left = argv.len() - j - 1;
        if opt.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
        } else if opt.eq_ignore_ascii_case(b"limit") && left >= 2 {
            offset = parse_i64(argv[j + 1]).ok_or(errors::NOT_INTEGER)?;
            limit = parse_i64(argv[j + 2]).ok_or(errors::NOT_INTEGER)?;
            j += 2;
        } else if rev.is_none() && opt.eq_ignore_ascii_case(b"rev") {
            rev = Some(true);
        } else if range_type.is_none() && opt.eq_ignore_ascii_case(b"bylex") {
            range_type = Some(RangeType::Lex);
        } else if range_type.is_none() && opt.eq_ignore_ascii_case(b"byscore") {
            range_type = Some(RangeType::Score);
        } else {
            return Err(errors::SYNTAX.into());
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    let range_type = range_type.unwrap_or(RangeType::Rank);
    if limit != -1 && range_type == RangeType::Rank {
        return Err(errors::ZRANGE_LIMIT_WITH_RANK.into());
    }
    if withscores && range_type == RangeType::Lex {
        return Err(errors::ZRANGE_WITHSCORES_WITH_LEX.into());
    }
    let (mut min_arg, mut max_arg) = (argv[2], argv[3]);
    if rev && range_type != RangeType::Rank {
        std::mem::swap(&mut min_arg, &mut max_arg);
    }
    enum Parsed<'a> {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange<'a>),
    }
    let parsed = match range_type {
        RangeType::Rank => match (parse_i64(min_arg), parse_i64(max_arg)) {
            (Some(start), Some(end)) => Parsed::Rank(start, end),
            _ => return Err(errors::NOT_INTEGER.into()),
        },
        RangeType::Score => match parse_score_range(min_arg, max_arg) {
            Some(range) => Parsed::Score(range),
            None => return Err(errors::MIN_MAX_NOT_FLOAT.into()),
        },
        RangeType::Lex => match (parse_lex(min_arg), parse_lex(max_arg)) {
            (Some((min, min_ex)), Some((max, max_ex))) => Parsed::Lex(LexRange {
                min,
                min_ex,
                max,
                max_ex,
            }),
            _ => return Err(errors::MIN_MAX_NOT_LEX.into()),
        },
    };
    let (mut db, out) = ctx.db_out();
    let Some(zset) = db.read::<ZsetValue>(argv[1])? else {
        out.array(0);
        return Ok(Done);
    };
    let found: Vec<(&[u8], f64)> = match parsed {
        Parsed::Rank(start, end) => {
            let len = zset.len() as i64;
            let start = if start < 0 { len + start } else { start }.max(0);
            let end = if end < 0 { len + end } else { end };
            if start > end || start >= len {
                Vec::new()
            } else {
                let end = end.min(len - 1);
                zset.iter(rev)
                    .skip(start as usize)
                    .take((end - start + 1) as usize)
                    .collect()
            }
        }
        Parsed::Score(range) => {
            if offset < 0 || (offset > 0 && offset >= zset.len() as i64) {
                Vec::new()
            } else {
                let in_range = zset.iter(rev).filter(|(_, s)| range.contains(*s));
                let skipped = in_range.skip(offset as usize);
                if limit < 0 {
                    skipped.collect()
                } else {
                    skipped.take(limit as usize).collect()
                }
            }
        }
        Parsed::Lex(range) => lex_range(zset, &range, rev, offset, limit),
    };
    let pairs = withscores && out.resp3();
    out.array(if withscores && !pairs {
        found.len() * 2
    } else {
        found.len()
    });
    for (member, score) in found {
        if pairs {
            out.array(2);
        }
        out.bulk(member);
        if withscores {
            out.double(score);
        }
    }
    Ok(Done)
}

/// `genericZrangebylexCommand` step by step. The members are in score order, so when
/// scores differ the lex range is not a contiguous run; Redis then answers from where its
/// scan first meets the range, and so does this.
fn lex_range<'a>(
    zset: &'a ZsetValue,
    range: &LexRange,
    rev: bool,
    offset: i64,
    limit: i64,
) -> Vec<(&'a [u8], f64)> {
    let mut out = Vec::new();
    if range.is_empty() || offset < 0 {
        return out;
    }
    // `zzlIsInLexRange`: the last member must reach the minimum, the first the maximum.
    let (Some(first), Some(last)) = (zset.iter(false).next(), zset.iter(true).next()) else {
        return out;
    };
    if !range.gte_min(last.0) || !range.lte_max(first.0) {
        return out;
    }
    let mut it = zset.iter(rev).peekable();
    // The first member in range from this end: past the members below the minimum (or,
    // backwards, above the maximum); none when that member is outside the other bound.
    loop {
        let Some(&(member, _)) = it.peek() else {
            return out;
        };
        let reached = if rev {
            range.lte_max(member)
        } else {
            range.gte_min(member)
        };
        if reached {
            let inside = if rev {
                range.gte_min(member)
            } else {
                range.lte_max(member)
            };
            if !inside {
                return out;
            }
            break;
        }
        it.next();
    }
    for _ in 0..offset {
        if it.next().is_none() {
            return out;
        }
    }
    let mut left = limit;
    for (member, score) in it {
        if left == 0 {
            break;
        }
        let inside = if rev {
            range.gte_min(member)
        } else {
            range.lte_max(member)
        };
        if !inside {
            break;
        }
        out.push((member, score));
        left -= 1;
    }
    out
}

/// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
fn zrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, None, None)
}

/// `ZREVRANGE key start stop [WITHSCORES]`
fn zrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, Some(RangeType::Rank), Some(true))
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
fn zrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, Some(RangeType::Score), Some(false))
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`
fn zrevrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, Some(RangeType::Score), Some(true))
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`
fn zrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, Some(RangeType::Lex), Some(false))
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`
fn zrevrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, Some(RangeType::Lex), Some(true))
}
