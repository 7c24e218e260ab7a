//! Sorted set commands: ZADD (every option and error), ZINCRBY, the pops (ZPOPMIN,
//! ZPOPMAX, ZMPOP and the blocking BZPOPMIN, BZPOPMAX, BZMPOP), the ZRANGE family (by
//! rank, score and lex, REV, LIMIT, WITHSCORES, the older ZREVRANGE, Z[REV]RANGEBYSCORE,
//! Z[REV]RANGEBYLEX forms, and ZRANGESTORE), the ZREMRANGEBY* removals, ZUNION, ZINTER,
//! ZDIFF and their STORE forms, ZINTERCARD, ZRANDMEMBER, ZSCAN, ZSCORE/ZMSCORE, ZCARD,
//! ZREM, ZRANK, ZREVRANK, ZCOUNT and ZLEXCOUNT, each reply and error as Redis 7.0's
//! `t_zset.c` writes them.
//!
//! Scores print as Redis 7.0 prints doubles (`%.17g`; a RESP3 double). Parsing follows
//! Redis's functions step by step, because the order of their checks decides which error
//! a client sees (ZRANGE: options, then conflicting options, then the range, then the key;
//! ZUNION and friends: numkeys, the keys' types, then the options). Commands that store a
//! result replace the destination whole, or delete it when the result is empty.

use std::ops::ControlFlow;
use std::time::Instant;

use indexmap::IndexMap;

use super::keys::{parse_scan_cursor, ScanOptions};
use crate::args::Args;
use crate::blocking::woken_by;
use crate::command::{handler, CommandError, CommandResult, Ctx, Done, Entry};
use crate::config::notify;
use crate::errors::{self, c_string};
use crate::keyspace::{Sds, Value, Written};
use crate::reply::Reply;
use crate::types::zset::{cmp_entry, parse_score, AddFlags, Added, LexRange, ScoreRange};
use crate::types::{zset_limits, SetValue, ZsetValue};
use crate::util::{format_double_g17, parse_i64};

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("zadd", zadd),
    handler("zpopmin", zpopmin),
    handler("zpopmax", zpopmax),
    handler("bzpopmin", bzpopmin),
    handler("bzpopmax", bzpopmax),
    handler("zmpop", zmpop),
    handler("bzmpop", bzmpop),
    handler("zrange", zrange),
    handler("zrangestore", zrangestore),
    handler("zrevrange", zrevrange),
    handler("zrangebyscore", zrangebyscore),
    handler("zrevrangebyscore", zrevrangebyscore),
    handler("zrangebylex", zrangebylex),
    handler("zrevrangebylex", zrevrangebylex),
    handler("zremrangebyrank", zremrangebyrank),
    handler("zremrangebyscore", zremrangebyscore),
    handler("zremrangebylex", zremrangebylex),
    handler("zunion", zunion),
    handler("zinter", zinter),
    handler("zdiff", zdiff),
    handler("zunionstore", zunionstore),
    handler("zinterstore", zinterstore),
    handler("zdiffstore", zdiffstore),
    handler("zintercard", zintercard),
    handler("zrandmember", zrandmember),
    handler("zscore", zscore),
    handler("zmscore", zmscore),
    handler("zcard", zcard),
    handler("zrem", zrem),
    handler("zincrby", zincrby),
    handler("zrank", zrank),
    handler("zrevrank", zrevrank),
    handler("zcount", zcount),
    handler("zlexcount", zlexcount),
    handler("zscan", zscan),
];

/// True when `arg` is the option `word` as C's `strcasecmp` sees it: any letter case, the
/// argument ending at its first NUL.
fn is_word(arg: &[u8], word: &str) -> bool {
    c_string(arg).eq_ignore_ascii_case(word.as_bytes())
}

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
        if is_word(opt, "nx") {
            flags.nx = true;
        } else if is_word(opt, "xx") {
            flags.xx = true;
        } else if is_word(opt, "ch") {
            ch = true;
        } else if is_word(opt, "incr") {
            flags.incr = true;
        } else if is_word(opt, "gt") {
            flags.gt = true;
        } else if is_word(opt, "lt") {
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

/// `ZCOUNT key min max`: how many scores fall in the range.
fn zcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let range = ScoreRange::parse(argv[2], argv[3]).ok_or(errors::MIN_MAX_NOT_FLOAT)?;
    let count = ctx
        .read::<ZsetValue>(argv[1])?
        .map_or(0, |z| z.score_ranks(&range).len());
    ctx.out.int(count as i64);
    Ok(Done)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Rank,
    Score,
    Lex,
}

/// A parsed range of the ZRANGE family.
enum Parsed<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// Redis's `zrangeGenericCommand` for the ZRANGE family and ZRANGESTORE. `fixed_type` and
/// `fixed_rev` are what the older commands (ZREVRANGE, ZRANGEBYSCORE, ...) imply; ZRANGE
/// leaves them to its options, and each option may then be given once. With `store`
/// (ZRANGESTORE) the arguments start one later, WITHSCORES is not an option, and the
/// result goes to the destination key instead of the reply.
fn zrange_generic(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    store: bool,
    fixed_type: Option<RangeType>,
    fixed_rev: Option<bool>,
) -> CommandResult {
    let at = if store { 2 } else { 1 };
    let mut range_type = fixed_type;
    let mut rev = fixed_rev;
    let mut withscores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1;
    let mut j = at + 3;
    while j < argv.len() {
        let opt = argv[j];
        let left = argv.len() - j - 1;
        if !store && is_word(opt, "withscores") {
            withscores = true;
        } else if is_word(opt, "limit") && left >= 2 {
            offset = parse_i64(argv[j + 1]).ok_or(errors::NOT_INTEGER)?;
            limit = parse_i64(argv[j + 2]).ok_or(errors::NOT_INTEGER)?;
            j += 2;
        } else if rev.is_none() && is_word(opt, "rev") {
            rev = Some(true);
        } else if range_type.is_none() && is_word(opt, "bylex") {
            range_type = Some(RangeType::Lex);
        } else if range_type.is_none() && is_word(opt, "byscore") {
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
    let (mut min_arg, mut max_arg) = (argv[at + 1], argv[at + 2]);
    if rev && range_type != RangeType::Rank {
        std::mem::swap(&mut min_arg, &mut max_arg);
    }
    let parsed = match range_type {
        RangeType::Rank => match (parse_i64(min_arg), parse_i64(max_arg)) {
            (Some(start), Some(end)) => Parsed::Rank(start, end),
            _ => return Err(errors::NOT_INTEGER.into()),
        },
        RangeType::Score => {
            Parsed::Score(ScoreRange::parse(min_arg, max_arg).ok_or(errors::MIN_MAX_NOT_FLOAT)?)
        }
        RangeType::Lex => {
            Parsed::Lex(LexRange::parse(min_arg, max_arg).ok_or(errors::MIN_MAX_NOT_LEX)?)
        }
    };
    let limits = zset_limits(&ctx.state.config);
    let (mut db, out) = ctx.db_out();
    let Some(zset) = db.read::<ZsetValue>(argv[at])? else {
        if store {
            return store_result(
                ctx,
                argv[1],
                ZsetValue::for_length(None, limits),
                "zrangestore",
            );
        }
        out.array(0);
        return Ok(Done);
    };
    // Redis knows the length of a rank range before it starts a stored result.
    let mut known_len = None;
    let found: Vec<(&[u8], f64)> = match parsed {
        Parsed::Rank(start, end) => {
            let found = match clamp_ranks(zset.len(), start, end) {
                Some(ranks) => zset.iter_from(ranks.start, rev).take(ranks.len()).collect(),
                None => Vec::new(),
            };
            known_len = Some(found.len());
            found
        }
        Parsed::Score(range) => score_range(zset, &range, rev, offset, limit),
        Parsed::Lex(range) => lex_range(zset, &range, rev, offset, limit),
    };
    if store {
        let mut result = ZsetValue::for_length(known_len, limits);
        for (member, score) in found {
            result.add(score, member, AddFlags::default(), limits);
        }
        return store_result(ctx, argv[1], result, "zrangestore");
    }
    reply_entries(out, found.len(), found.into_iter(), withscores);
    Ok(Done)
}

/// Redis's rank clamping (ZRANGE, ZREMRANGEBYRANK): negative ranks count from the highest;
/// `None` when the range holds nothing.
fn clamp_ranks(len: usize, start: i64, end: i64) -> Option<std::ops::Range<usize>> {
    let len = len as i64;
    let start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    }
    .max(0);
    let end = if end < 0 {
        len.saturating_add(end)
    } else {
        end
    };
    if start > end || start >= len {
        return None;
    }
    Some(start as usize..end.min(len - 1) as usize + 1)
}

/// Members with scores as ZRANGE answers them: flat (with the scores between the members
/// in RESP2), or in RESP3 with scores a [member, score] pair each.
fn reply_entries<'a>(
    out: &mut Reply,
    len: usize,
    entries: impl Iterator<Item = (&'a [u8], f64)>,
    withscores: bool,
) {
    let pairs = withscores && out.resp3();
    out.array(if withscores && !pairs { len * 2 } else { len });
    for (member, score) in entries {
        if pairs {
            out.array(2);
        }
        out.bulk(member);
        if withscores {
            out.double(score);
        }
    }
}

/// `genericZrangebyscoreCommand`: from the first member in range at this end, past
/// `offset` members (not checked against the range), then up to `limit` (all when
/// negative) while they stay in range. A negative offset, or one past the end, finds
/// nothing.
fn score_range<'a>(
    zset: &'a ZsetValue,
    range: &ScoreRange,
    rev: bool,
    offset: i64,
    limit: i64,
) -> Vec<(&'a [u8], f64)> {
    let ranks = zset.score_ranks(range);
    if ranks.is_empty() || offset < 0 || (offset > 0 && offset >= zset.len() as i64) {
        return Vec::new();
    }
    let start = if rev {
        zset.len() - ranks.end
    } else {
        ranks.start
    };
    let in_range = zset
        .iter_from(start, rev)
        .skip(offset as usize)
        .take_while(|(_, s)| {
            if rev {
                range.gte_min(*s)
            } else {
                range.lte_max(*s)
            }
        });
    match usize::try_from(limit) {
        Ok(limit) => in_range.take(limit).collect(),
        Err(_) => in_range.collect(),
    }
}

/// `genericZrangebylexCommand` step by step. The members are in score order, so when
/// scores differ the lex range is not a contiguous run; Redis then answers from where its
/// walk first meets the range, and so does this for a listpack (a skiplist's answer then
/// depends on its random levels in Redis; here it is the ranks of `lex_ranks`).
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
    let start = match zset {
        ZsetValue::Skiplist(_) => {
            let ranks = zset.lex_ranks(range);
            if ranks.is_empty() {
                return out;
            }
            if rev {
                zset.len() - ranks.end
            } else {
                ranks.start
            }
        }
        ZsetValue::Listpack(_) => {
            // `zzlIsInLexRange`: the last member must reach the minimum, the first the
            // maximum.
            let (Some(first), Some(last)) = (zset.at_rank(0, false), zset.at_rank(0, true)) else {
                return out;
            };
            if !range.gte_min(last.0) || !range.lte_max(first.0) {
                return out;
            }
            // The first member in range from this end: past the members below the minimum
            // (or, backwards, above the maximum); none when that member is outside the
            // other bound.
            let reached = |m: &[u8]| {
                if rev {
                    range.lte_max(m)
                } else {
                    range.gte_min(m)
                }
            };
            let Some((start, (member, _))) = zset.iter(rev).enumerate().find(|(_, e)| reached(e.0))
            else {
                return out;
            };
            let inside = if rev {
                range.gte_min(member)
            } else {
                range.lte_max(member)
            };
            if !inside {
                return out;
            }
            start
        }
    };
    // A negative limit is no limit.
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let in_range = zset
        .iter_from(start, rev)
        .skip(offset as usize)
        .take_while(|(member, _)| {
            if rev {
                range.gte_min(member)
            } else {
                range.lte_max(member)
            }
        });
    out.extend(in_range.take(limit));
    out
}

/// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
fn zrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, false, None, None)
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`: how many
/// members `dst` now holds.
fn zrangestore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, true, None, None)
}

/// `ZREVRANGE key start stop [WITHSCORES]`
fn zrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, false, Some(RangeType::Rank), Some(true))
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
fn zrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, false, Some(RangeType::Score), Some(false))
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`
fn zrevrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, false, Some(RangeType::Score), Some(true))
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`
fn zrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, false, Some(RangeType::Lex), Some(false))
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`
fn zrevrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zrange_generic(ctx, argv, false, Some(RangeType::Lex), Some(true))
}

/// Where a computed sorted set goes (ZRANGESTORE, ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE):
/// it replaces whatever `dst` held, TTL included, and the change is named `event`; an
/// empty result deletes `dst` instead (`del`, when there was one). Answers the new size.
fn store_result(ctx: &mut Ctx, dst: &[u8], zset: ZsetValue, event: &'static str) -> CommandResult {
    let len = zset.len();
    let value = (len > 0).then(|| Value::ZSet(Box::new(zset)));
    super::store_or_delete(&mut ctx.db(), dst, value, notify::ZSET, event);
    ctx.out.int(len as i64);
    Ok(Done)
}

/// `ZLEXCOUNT key min max`: how many members fall in the lex range.
fn zlexcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let range = LexRange::parse(argv[2], argv[3]).ok_or(errors::MIN_MAX_NOT_LEX)?;
    let count = ctx
        .read::<ZsetValue>(argv[1])?
        .map_or(0, |z| z.lex_ranks(&range).len());
    ctx.out.int(count as i64);
    Ok(Done)
}

/// Redis's `zremrangeGenericCommand` for ZREMRANGEBYRANK, ZREMRANGEBYSCORE and
/// ZREMRANGEBYLEX: the range is read before the key; answers how many members went (the
/// key with its last one).
fn zremrange(ctx: &mut Ctx, argv: &[&[u8]], range_type: RangeType) -> CommandResult {
    let (parsed, event) = match range_type {
        RangeType::Rank => match (parse_i64(argv[2]), parse_i64(argv[3])) {
            (Some(start), Some(end)) => (Parsed::Rank(start, end), "zremrangebyrank"),
            _ => return Err(errors::NOT_INTEGER.into()),
        },
        RangeType::Score => (
            Parsed::Score(ScoreRange::parse(argv[2], argv[3]).ok_or(errors::MIN_MAX_NOT_FLOAT)?),
            "zremrangebyscore",
        ),
        RangeType::Lex => (
            Parsed::Lex(LexRange::parse(argv[2], argv[3]).ok_or(errors::MIN_MAX_NOT_LEX)?),
            "zremrangebylex",
        ),
    };
    let mut removed = 0;
    if let Some(mut zset) = ctx.write::<ZsetValue>(argv[1])? {
        let ranks = match parsed {
            Parsed::Rank(start, end) => clamp_ranks(zset.len(), start, end).unwrap_or(0..0),
            Parsed::Score(range) => zset.score_ranks(&range),
            Parsed::Lex(range) => zset.lex_ranks(&range),
        };
        if ranks.is_empty() {
            zset.unchanged();
        } else {
            removed = zset.remove_ranks(ranks);
            zset.changed(removed as u64, event);
        }
    }
    ctx.out.int(removed as i64);
    Ok(Done)
}

/// `ZREMRANGEBYRANK key start stop`
fn zremrangebyrank(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zremrange(ctx, argv, RangeType::Rank)
}

/// `ZREMRANGEBYSCORE key min max`
fn zremrangebyscore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zremrange(ctx, argv, RangeType::Score)
}

/// `ZREMRANGEBYLEX key min max`
fn zremrangebylex(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zremrange(ctx, argv, RangeType::Lex)
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`: without a count one random member (or null);
/// with one, up to `count` distinct members, or with a negative count exactly `-count`
/// members that may repeat. The count is read before the key.
fn zrandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() < 3 {
        let (mut db, out) = ctx.db_out();
        match db
            .read::<ZsetValue>(argv[1])?
            .and_then(|z| z.random(&mut rand::thread_rng()))
        {
            Some((member, _)) => out.bulk(member),
            None => out.null(),
        }
        return Ok(Done);
    }
    let count = parse_i64(argv[2]).ok_or(errors::NOT_INTEGER)?;
    if count == i64::MIN {
        return Err(errors::SRANDMEMBER_COUNT_RANGE.into());
    }
    if argv.len() > 4 || (argv.len() == 4 && !is_word(argv[3], "withscores")) {
        return Err(errors::SYNTAX.into());
    }
    let withscores = argv.len() == 4;
    // The count doubles with the scores, so it must stay in half the range.
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(errors::VALUE_OUT_OF_RANGE.into());
    }
    let (mut db, out) = ctx.db_out();
    let Some(zset) = db.read::<ZsetValue>(argv[1])? else {
        out.array(0);
        return Ok(Done);
    };
    let mut rng = rand::thread_rng();
    let size = zset.len();
    let unique = count >= 0;
    let n = count.unsigned_abs() as usize;
    if n == 0 {
        out.array(0);
    } else if !unique || n == 1 {
        let picks = (0..n).filter_map(|_| zset.random(&mut rng));
        reply_entries(out, n, picks, withscores);
    } else if n >= size {
        // The whole set, from the highest, as Redis's iterator over a sorted set walks.
        reply_entries(out, size, zset.iter(true), withscores);
    } else {
        // Distinct picks: in order for a listpack, as Redis samples one; in no particular
        // order for a skiplist, as Redis's come out of a dict.
        let mut positions = rand::seq::index::sample(&mut rng, size, n).into_vec();
        let picks: Vec<(&[u8], f64)> = match zset {
            ZsetValue::Listpack(_) => {
                positions.sort_unstable();
                let mut wanted = positions.into_iter().peekable();
                zset.iter(false)
                    .enumerate()
                    .filter(|(i, _)| wanted.next_if_eq(i).is_some())
                    .map(|(_, e)| e)
                    .collect()
            }
            ZsetValue::Skiplist(_) => positions
                .into_iter()
                .filter_map(|i| zset.at_position(i))
                .collect(),
        };
        reply_entries(out, picks.len(), picks.into_iter(), withscores);
    }
    Ok(Done)
}

// --- ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD ---------------------------------

/// An input of ZUNION, ZINTER, ZDIFF and ZINTERCARD: a sorted set, or a set whose members
/// all score 1 (Redis accepts both); a missing key is empty.
#[derive(Clone, Copy)]
enum Source<'a> {
    Missing,
    Zset(&'a ZsetValue),
    Set(&'a SetValue),
}

impl<'a> Source<'a> {
    fn of(value: Option<&'a Value>) -> Source<'a> {
        match value {
            Some(Value::ZSet(z)) => Source::Zset(z),
            Some(Value::Set(s)) => Source::Set(s),
            _ => Source::Missing,
        }
    }

    fn len(self) -> usize {
        match self {
            Source::Missing => 0,
            Source::Zset(z) => z.len(),
            Source::Set(s) => s.len(),
        }
    }

    /// Visits the members with their scores until `visit` breaks.
    fn each(self, mut visit: impl FnMut(&[u8], f64) -> ControlFlow<()>) {
        match self {
            Source::Missing => {}
            Source::Zset(z) => {
                for (member, score) in z.iter(false) {
                    if visit(member, score).is_break() {
                        return;
                    }
                }
            }
            Source::Set(s) => {
                let mut scratch = itoa::Buffer::new();
                for member in s.iter() {
                    if visit(member.bytes(&mut scratch), 1.0).is_break() {
                        return;
                    }
                }
            }
        }
    }

    fn score(self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::Zset(z) => z.score(member),
            Source::Set(s) => s.contains(member).then_some(1.0),
        }
    }

    /// Whether both are the same value (one key given twice).
    fn is(self, other: Source) -> bool {
        match (self, other) {
            (Source::Zset(a), Source::Zset(b)) => std::ptr::eq(a, b),
            (Source::Set(a), Source::Set(b)) => std::ptr::eq(a, b),
            _ => false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Folds `value` into `target`. A sum of `inf` and `-inf` is 0, as in Redis; MIN and
    /// MAX keep the target when either is NaN (C's `<` and `>`).
    fn fold(self, target: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *target += value;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if value < *target {
                    *target = value;
                }
            }
            Aggregate::Max => {
                if value > *target {
                    *target = value;
                }
            }
        }
    }
}

/// Redis's `zunionInterDiffGenericCommand`, for ZUNION, ZINTER, ZDIFF (`dst` None), their
/// STORE forms and ZINTERCARD (`cardinality`). Checks come in Redis's order: numkeys, the
/// keys' types, then the options.
fn zset_op(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    op: SetOp,
    dst: Option<&[u8]>,
    cardinality: bool,
) -> CommandResult {
    let numkeys_at = if dst.is_some() { 2 } else { 1 };
    let setnum = parse_i64(argv[numkeys_at]).ok_or(errors::NOT_INTEGER)?;
    if setnum < 1 {
        return Err(format!(
            "ERR at least 1 input key is needed for '{}' command",
            ctx.cmd.full_name
        )
        .into());
    }
    if setnum > (argv.len() - numkeys_at - 1) as i64 {
        return Err(errors::SYNTAX.into());
    }
    let setnum = setnum as usize;
    let keys = &argv[numkeys_at + 1..numkeys_at + 1 + setnum];
    let limits = zset_limits(&ctx.state.config);
    let (mut db, out) = ctx.db_out();
    for &key in keys {
        // Read lookups, STORE forms included: each counts a hit or a miss (and `keymiss`).
        let entry = db.get(key);
        if entry.is_some_and(|e| !matches!(e.value, Value::ZSet(_) | Value::Set(_))) {
            return Err(errors::WRONGTYPE.into());
        }
    }
    let mut weights = vec![1.0; setnum];
    let mut aggregate = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = numkeys_at + 1 + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        let opt = argv[j];
        let combines = op != SetOp::Diff && !cardinality;
        if combines && remaining > setnum && is_word(opt, "weights") {
            for (weight, arg) in weights.iter_mut().zip(&argv[j + 1..]) {
                *weight = parse_score(arg).ok_or(errors::WEIGHT_NOT_FLOAT)?;
            }
            j += 1 + setnum;
        } else if combines && remaining >= 2 && is_word(opt, "aggregate") {
            let how = argv[j + 1];
            aggregate = if is_word(how, "sum") {
                Aggregate::Sum
            } else if is_word(how, "min") {
                Aggregate::Min
            } else if is_word(how, "max") {
                Aggregate::Max
            } else {
                return Err(errors::SYNTAX.into());
            };
            j += 2;
        } else if dst.is_none() && !cardinality && is_word(opt, "withscores") {
            withscores = true;
            j += 1;
        } else if cardinality && remaining >= 2 && is_word(opt, "limit") {
            limit = parse_i64(argv[j + 1])
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(errors::LIMIT_NEGATIVE)?;
            j += 2;
        } else {
            return Err(errors::SYNTAX.into());
        }
    }
    let dict = db.raw().dict();
    let mut sources: Vec<(Source, f64)> = keys
        .iter()
        .map(|k| Source::of(dict.get(k).map(|e| e.value)))
        .zip(weights)
        .collect();
    // Smallest first, as Redis orders them (a stable sort, as glibc's qsort is): this is
    // also the order in which scores are added up, which decides how sums round.
    if op != SetOp::Diff {
        sources.sort_by_key(|(source, _)| source.len());
    }
    let mut result: Vec<(Sds, f64)> = Vec::new();
    match op {
        SetOp::Union => {
            let mut acc: IndexMap<Sds, f64, hashbrown::DefaultHashBuilder> = IndexMap::default();
            for &(source, weight) in &sources {
                source.each(|member, score| {
                    let mut score = weight * score;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(member) {
                        Some(total) => aggregate.fold(total, score),
                        None => {
                            acc.insert(Sds::from_slice(member), score);
                        }
                    }
                    ControlFlow::Continue(())
                });
            }
            result = acc.into_iter().collect();
        }
        SetOp::Inter => {
            let (first, first_weight) = sources[0];
            let mut found = 0usize;
            first.each(|member, score| {
                let mut total = first_weight * score;
                if total.is_nan() {
                    total = 0.0;
                }
                for &(source, weight) in &sources[1..] {
                    let value = if source.is(first) {
                        Some(score)
                    } else {
                        source.score(member)
                    };
                    match value {
                        Some(value) => aggregate.fold(&mut total, value * weight),
                        None => return ControlFlow::Continue(()),
                    }
                }
                found += 1;
                if cardinality {
                    if limit > 0 && found >= limit {
                        return ControlFlow::Break(());
                    }
                } else {
                    result.push((Sds::from_slice(member), total));
                }
                ControlFlow::Continue(())
            });
            if cardinality {
                out.int(found as i64);
                return Ok(Done);
            }
        }
        SetOp::Diff => {
            let (first, _) = sources[0];
            if !sources[1..].iter().any(|(s, _)| s.is(first)) {
                first.each(|member, score| {
                    if !sources[1..].iter().any(|(s, _)| s.score(member).is_some()) {
                        result.push((Sds::from_slice(member), score));
                    }
                    ControlFlow::Continue(())
                });
            }
        }
    }
    result.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
    let Some(dst) = dst else {
        let entries = result.iter().map(|(m, s)| (m.as_slice(), *s));
        reply_entries(out, result.len(), entries, withscores);
        return Ok(Done);
    };
    let event = match op {
        SetOp::Union => "zunionstore",
        SetOp::Inter => "zinterstore",
        SetOp::Diff => "zdiffstore",
    };
    store_result(ctx, dst, ZsetValue::from_sorted(result, limits), event)
}

/// `ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
fn zunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zset_op(ctx, argv, SetOp::Union, None, false)
}

/// `ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
fn zinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zset_op(ctx, argv, SetOp::Inter, None, false)
}

/// `ZDIFF numkeys key [key ...] [WITHSCORES]`
fn zdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zset_op(ctx, argv, SetOp::Diff, None, false)
}

/// `ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]`
fn zunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zset_op(ctx, argv, SetOp::Union, Some(argv[1]), false)
}

/// `ZINTERSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]`
fn zinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zset_op(ctx, argv, SetOp::Inter, Some(argv[1]), false)
}

/// `ZDIFFSTORE destination numkeys key [key ...]`
fn zdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zset_op(ctx, argv, SetOp::Diff, Some(argv[1]), false)
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`: the size of the intersection,
/// counted up to `limit` (0: no limit).
fn zintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zset_op(ctx, argv, SetOp::Inter, None, true)
}

// --- ZMPOP and the blocking pops ----------------------------------------------------------

/// How a pop lays out its reply (the flags of Redis's `genericZpopCommand`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum PopReply {
    /// ZPOPMIN/ZPOPMAX: member, score, ... flat.
    Flat,
    /// ZPOPMIN/ZPOPMAX with a count in RESP3: a [member, score] pair each.
    Pairs,
    /// BZPOPMIN/BZPOPMAX: key, member, score.
    KeyFlat,
    /// ZMPOP/BZMPOP: key, then a [member, score] pair each.
    KeyPairs,
}

/// Pops up to `count` members from the lowest (or with `max` the highest) of `zset`, the
/// value of `key`, and answers them as `shape` says.
fn pop_members(
    out: &mut Reply,
    key: &[u8],
    mut zset: Written<'_, ZsetValue>,
    count: usize,
    max: bool,
    shape: PopReply,
) {
    let n = count.min(zset.len());
    match shape {
        PopReply::Flat => out.array(n * 2),
        PopReply::Pairs => out.array(n),
        PopReply::KeyFlat => {
            out.array(n * 2 + 1);
            out.bulk(key);
        }
        PopReply::KeyPairs => {
            out.array(2);
            out.bulk(key);
            out.array(n);
        }
    }
    let pairs = matches!(shape, PopReply::Pairs | PopReply::KeyPairs);
    for _ in 0..n {
        if let Some((member, score)) = zset.pop(max) {
            if pairs {
                out.array(2);
            }
            out.bulk(&member);
            out.double(score);
        }
    }
    zset.changed(n as u64, if max { "zpopmax" } else { "zpopmin" });
}

/// Pops from the first of `keys` that exists (Redis looks no further, and a key of another
/// type there answers WRONGTYPE). False, with nothing written, when none exists.
fn pop_first(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    count: usize,
    max: bool,
    shape: PopReply,
) -> Result<bool, CommandError> {
    let (mut db, out) = ctx.db_out();
    for &key in keys {
        if let Some(zset) = db.write::<ZsetValue>(key)? {
            pop_members(out, key, zset, count, max, shape);
            return Ok(true);
        }
    }
    Ok(false)
}

/// ZPOPMIN and ZPOPMAX: a flat array of member, score... except in RESP3 with a count,
/// where each pair is its own array. A missing key answers an empty array.
fn zpop(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CommandResult {
    if argv.len() > 3 {
        return Err(errors::SYNTAX.into());
    }
    let count = Args::new(argv, 2).pop_count()?;
    let shape = if ctx.out.resp3() && count.is_some() {
        PopReply::Pairs
    } else {
        PopReply::Flat
    };
    let (mut db, out) = ctx.db_out();
    match db.write::<ZsetValue>(argv[1])? {
        Some(_) if count == Some(0) => out.array(0),
        Some(zset) => {
            let count = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
            pop_members(out, argv[1], zset, count, max, shape);
        }
        None => out.array(0),
    }
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

/// What wakes a client blocked on sorted-set keys: a sorted set under one of them.
fn holds_zset(value: &Value) -> bool {
    matches!(value, Value::ZSet(_))
}

/// Redis's `zmpopGenericCommand`, for ZMPOP and BZMPOP (`blocking`, whose timeout comes
/// first but is read after every other argument, as Redis reads it): pops up to COUNT
/// members from the first existing key, answered as [key, [[member, score], ...]]; with
/// none, a null array, or for BZMPOP a wait.
fn zmpop_generic(ctx: &mut Ctx, argv: &[&[u8]], blocking: bool) -> CommandResult {
    let numkeys_at = if blocking { 2 } else { 1 };
    let numkeys = parse_i64(argv[numkeys_at])
        .filter(|n| *n >= 1)
        .ok_or(errors::NUMKEYS_NOT_POSITIVE)?;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_at + 1))
        .filter(|&at| at < argv.len())
        .ok_or(errors::SYNTAX)?;
    let max = if is_word(argv[where_at], "min") {
        false
    } else if is_word(argv[where_at], "max") {
        true
    } else {
        return Err(errors::SYNTAX.into());
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        if count.is_none() && is_word(argv[j], "count") && j + 1 < argv.len() {
            let n = parse_i64(argv[j + 1])
                .filter(|n| *n >= 1)
                .ok_or(errors::COUNT_NOT_POSITIVE)?;
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            j += 2;
        } else {
            return Err(errors::SYNTAX.into());
        }
    }
    let deadline = if blocking {
        Args::new(argv, 1).timeout(Instant::now())?
    } else {
        None
    };
    let keys = &argv[numkeys_at + 1..where_at];
    let from = if blocking { woken_by(ctx, keys) } else { keys };
    if pop_first(ctx, from, count.unwrap_or(1), max, PopReply::KeyPairs)? {
        return Ok(Done);
    }
    if blocking {
        return ctx.block(keys, deadline, holds_zset);
    }
    ctx.out.null_array();
    Ok(Done)
}

/// `ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]`
fn zmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zmpop_generic(ctx, argv, false)
}

/// `BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]`
fn bzmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    zmpop_generic(ctx, argv, true)
}

/// BZPOPMIN and BZPOPMAX: the timeout first, then the first existing key gives up one
/// member, answered as [key, member, score]; with none the client waits for a sorted set
/// under one of the keys (a null array when the timeout passes, or at once inside MULTI
/// and scripts).
fn bzpop(ctx: &mut Ctx, argv: &[&[u8]], max: bool) -> CommandResult {
    let keys = &argv[1..argv.len() - 1];
    let deadline = Args::new(argv, argv.len() - 1).timeout(Instant::now())?;
    if pop_first(ctx, woken_by(ctx, keys), 1, max, PopReply::KeyFlat)? {
        return Ok(Done);
    }
    ctx.block(keys, deadline, holds_zset)
}

/// `BZPOPMIN key [key ...] timeout`
fn bzpopmin(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    bzpop(ctx, argv, false)
}

/// `BZPOPMAX key [key ...] timeout`
fn bzpopmax(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    bzpop(ctx, argv, true)
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: the next cursor and a flat batch of
/// member, score. The cursor is checked first, then the key (a missing one answers an
/// empty scan before the options are read), then the options. MATCH looks at members
/// only. A listpack answers whole, with cursor 0; a skiplist by positions
/// (`ZsetValue::scan`). Scores are text as Redis keeps them (`scan_score`).
fn zscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let cursor = parse_scan_cursor(argv[2]).ok_or(errors::INVALID_CURSOR)?;
    let (mut db, out) = ctx.db_out();
    let Some(zset) = db.read::<ZsetValue>(argv[1])? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(Done);
    };
    let options = ScanOptions::parse(&argv[3..], false)?;
    let packed = matches!(zset, ZsetValue::Listpack(_));
    let mut batch: Vec<(&[u8], f64)> = Vec::new();
    let next = zset.scan(cursor, options.count, |member, score| {
        if options.matches(member) {
            batch.push((member, score));
        }
    });
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.array(batch.len() * 2);
    for (member, score) in batch {
        out.bulk(member);
        out.bulk(scan_score(score, packed).as_bytes());
    }
    Ok(Done)
}

/// A score as ZSCAN answers it: the text a listpack holds when `packed` (Redis writes an
/// integral score within ±2^62 as an integer there, anything else as `%.17g`), else the
/// `%.17g` of the skiplist's double.
fn scan_score(score: f64, packed: bool) -> String {
    const LIMIT: f64 = (1u64 << 62) as f64;
    if packed && score.fract() == 0.0 && (-LIMIT..=LIMIT).contains(&score) {
        itoa::Buffer::new().format(score as i64).to_string()
    } else {
        format_double_g17(score)
    }
}
