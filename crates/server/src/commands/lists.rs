//! List commands: pushes, pops (one key or the first non-empty of several), ranges,
//! LINDEX/LSET/LREM/LTRIM/LINSERT/LPOS, the moves LMOVE/RPOPLPUSH and the blocking forms
//! BLPOP/BRPOP/BLMPOP/BLMOVE/BRPOPLPUSH, each reply and error as Redis 7.0's `t_list.c`
//! writes them.
//!
//! Argument checks come in Redis's order, which clients can see: LRANGE and LTRIM read
//! their indexes before looking at the key (so a bad index beats WRONGTYPE), LINDEX and
//! LSET look at the key first, LPOS and LMPOP read every option first. A list that becomes
//! empty is deleted, as in Redis.
//!
//! A blocking command that finds nothing parks its client (`Ctx::block`); a write to one
//! of its keys runs it again, and it then takes from the key that was written
//! (`blocking::woken_by`). Where blocking is not allowed (MULTI, scripts) it answers at
//! once as the non-blocking form would with nothing to take.

use std::time::Instant;

use crate::args::Args;
use crate::blocking::woken_by;
use crate::command::{handler, CommandError, CommandResult, Ctx, Done, Entry};
use crate::errors;
use crate::keyspace::{Sds, Value};
use crate::types::{End, ListValue};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("lpush", lpush),
    handler("rpush", rpush),
    handler("lpushx", lpushx),
    handler("rpushx", rpushx),
    handler("lpop", lpop),
    handler("rpop", rpop),
    handler("blpop", blpop),
    handler("brpop", brpop),
    handler("lmpop", lmpop),
    handler("blmpop", blmpop),
    handler("lmove", lmove),
    handler("blmove", blmove),
    handler("rpoplpush", rpoplpush),
    handler("brpoplpush", brpoplpush),
    handler("llen", llen),
    handler("lrange", lrange),
    handler("lindex", lindex),
    handler("lset", lset),
    handler("lrem", lrem),
    handler("ltrim", ltrim),
    handler("linsert", linsert),
    handler("lpos", lpos),
];

fn new_list() -> Value {
    Value::List(Box::default())
}

/// Redis's `pushGenericCommand`: pushes every element in argument order (so LPUSH a b c
/// leaves c first) and answers the new length. With `only_existing` (LPUSHX, RPUSHX) a
/// missing key is left missing and the answer is 0.
fn push(ctx: &mut Ctx, argv: &[&[u8]], end: End, only_existing: bool) -> CommandResult {
    let key = argv[1];
    let (mut db, out) = ctx.db_out();
    let mut list = if only_existing {
        match db.write::<ListValue>(key)? {
            Some(list) => list,
            None => {
                out.int(0);
                return Ok(Done);
            }
        }
    } else {
        db.write_or_create::<ListValue>(key, new_list)?
    };
    for element in &argv[2..] {
        list.push(end, element);
    }
    list.changed(argv.len() as u64 - 2, end.event("lpush", "rpush"));
    out.int(list.len() as i64);
    Ok(Done)
}

/// `LPUSH key element [element ...]`
fn lpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    push(ctx, argv, End::Head, false)
}

/// `RPUSH key element [element ...]`
fn rpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    push(ctx, argv, End::Tail, false)
}

/// `LPUSHX key element [element ...]`
fn lpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    push(ctx, argv, End::Head, true)
}

/// `RPUSHX key element [element ...]`
fn rpushx(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    push(ctx, argv, End::Tail, true)
}

/// Redis's `popGenericCommand`. Without a count: one element, or null. With one: an
/// array of up to `count` elements, the null array for a missing key, and an empty array
/// for a count of 0. The count is checked before the key.
fn pop(ctx: &mut Ctx, argv: &[&[u8]], end: End) -> CommandResult {
    if argv.len() > 3 {
        return Err(errors::wrong_arity(ctx.cmd.full_name).into());
    }
    let count = Args::new(argv, 2).pop_count()?.map(|n| n as usize);
    let (mut db, out) = ctx.db_out();
    let Some(mut list) = db.write::<ListValue>(argv[1])? else {
        match count {
            Some(_) => out.null_array(),
            None => out.null(),
        }
        return Ok(Done);
    };
    match count {
        Some(0) => {
            list.unchanged();
            out.array(0);
        }
        Some(n) => {
            let n = n.min(list.len());
            out.array(n);
            for _ in 0..n {
                if let Some(element) = list.pop(end) {
                    out.bulk(&element);
                }
            }
            list.changed(n as u64, end.event("lpop", "rpop"));
        }
        None => {
            match list.pop(end) {
                Some(element) => out.bulk(&element),
                None => out.null(),
            }
            list.changed(1, end.event("lpop", "rpop"));
        }
    }
    Ok(Done)
}

/// `LPOP key [count]`
fn lpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    pop(ctx, argv, End::Head)
}

/// `RPOP key [count]`
fn rpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    pop(ctx, argv, End::Tail)
}

/// What wakes a client blocked on lists: a list under one of its keys.
fn is_list(value: &Value) -> bool {
    matches!(value, Value::List(_))
}

/// Pops up to `count` elements from `end` of the first key in `keys` that holds a
/// non-empty list, answering `[key, [element, ...]]` (in the order they were popped);
/// `[key, element]` when `count` is `None` (BLPOP, BRPOP). A key of another type answers
/// WRONGTYPE. False, with nothing written, when every key is missing.
fn pop_first(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    end: End,
    count: Option<usize>,
) -> Result<bool, CommandError> {
    let (mut db, out) = ctx.db_out();
    for &key in keys {
        let Some(mut list) = db.write::<ListValue>(key)? else {
            continue;
        };
        if list.is_empty() {
            list.unchanged();
            continue;
        }
        out.array(2);
        out.bulk(key);
        let n = match count {
            None => 1,
            Some(count) => {
                let n = count.min(list.len());
                out.array(n);
                n
            }
        };
        for _ in 0..n {
            if let Some(element) = list.pop(end) {
                out.bulk(&element);
            }
        }
        list.changed(n as u64, end.event("lpop", "rpop"));
        return Ok(true);
    }
    Ok(false)
}

/// Redis's `blockingPopGenericCommand`: the first key in argument order that holds a
/// non-empty list gives up an element, answered as `[key, element]`; a key of another
/// type answers WRONGTYPE; with none, the client waits for a push to one of them (and
/// answers a null array when the timeout passes). The timeout is read first.
fn blocking_pop(ctx: &mut Ctx, argv: &[&[u8]], end: End) -> CommandResult {
    let keys = &argv[1..argv.len() - 1];
    let deadline = Args::new(argv, argv.len() - 1).timeout(Instant::now())?;
    if pop_first(ctx, woken_by(ctx, keys), end, None)? {
        return Ok(Done);
    }
    ctx.block(keys, deadline, is_list)
}

/// `BLPOP key [key ...] timeout`
fn blpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    blocking_pop(ctx, argv, End::Head)
}

/// `BRPOP key [key ...] timeout`
fn brpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    blocking_pop(ctx, argv, End::Tail)
}

/// The arguments of LMPOP and BLMPOP after the timeout: `numkeys key [key ...]
/// LEFT|RIGHT [COUNT count]`, `numkeys` at `argv[at]`.
struct MultiPop<'a> {
    keys: &'a [&'a [u8]],
    end: End,
    count: usize,
}

/// Reads LMPOP's and BLMPOP's arguments with Redis's errors, in its order: numkeys, the
/// side, then COUNT (once); a numkeys that runs past the arguments is a syntax error.
fn multi_pop_args<'a>(argv: &'a [&'a [u8]], at: usize) -> Result<MultiPop<'a>, CommandError> {
    let numkeys = parse_i64(argv[at])
        .filter(|n| *n > 0)
        .ok_or(CommandError::from(errors::NUMKEYS_NOT_POSITIVE))? as u64;
    let keys_end = (at as u64 + 1)
        .checked_add(numkeys)
        .filter(|end| *end < argv.len() as u64)
        .ok_or(CommandError::from(errors::SYNTAX))? as usize;
    let end = end_arg(argv[keys_end])?;
    let mut args = Args::new(argv, keys_end + 1);
    let mut count = None;
    while !args.is_empty() {
        if count.is_none() && args.remaining() > 1 && args.keyword("count") {
            let n = parse_i64(args.next()?).filter(|n| *n > 0);
            count = Some(n.ok_or(CommandError::from(errors::COUNT_NOT_POSITIVE))? as usize);
        } else {
            return Err(errors::SYNTAX.into());
        }
    }
    Ok(MultiPop {
        keys: &argv[at + 1..keys_end],
        end,
        count: count.unwrap_or(1),
    })
}

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]`: up to `count` elements (1 by
/// default) from the first non-empty list, as `[key, [element, ...]]`; a null array when
/// every key is missing.
fn lmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let pop = multi_pop_args(argv, 1)?;
    if !pop_first(ctx, pop.keys, pop.end, Some(pop.count))? {
        ctx.out.null_array();
    }
    Ok(Done)
}

/// `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]`: LMPOP that waits for
/// a push when every key is missing. The timeout is read after the other arguments.
fn blmpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let pop = multi_pop_args(argv, 2)?;
    let deadline = Args::new(argv, 1).timeout(Instant::now())?;
    if pop_first(ctx, woken_by(ctx, pop.keys), pop.end, Some(pop.count))? {
        return Ok(Done);
    }
    ctx.block(pop.keys, deadline, is_list)
}

/// Reads `LEFT` or `RIGHT`, in any letter case (Redis's `getListPositionFromObjectOrReply`).
fn end_arg(arg: &[u8]) -> Result<End, CommandError> {
    if arg.eq_ignore_ascii_case(b"left") {
        Ok(End::Head)
    } else if arg.eq_ignore_ascii_case(b"right") {
        Ok(End::Tail)
    } else {
        Err(errors::SYNTAX.into())
    }
}

/// Redis's `lmoveGenericCommand`: takes the element at `from` of `src` and pushes it at
/// `to` of `dst` (created if missing), answering the element; null when `src` is
/// missing. WRONGTYPE for `src` first, then for `dst`, before anything moves. One change
/// for the pair, and the events in Redis's order: `dst`'s push, then `src`'s pop (and its
/// `del` when it is left empty).
fn move_element(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    let Some(mut source) = db.write::<ListValue>(src)? else {
        out.null();
        return Ok(Done);
    };
    if src == dst {
        // One list: the element goes round, and the list is never left empty.
        let Some(element) = source.pop(from) else {
            source.unchanged();
            out.null();
            return Ok(Done);
        };
        source.push(to, &element);
        source.changed(1, to.event("lpush", "rpush"));
        source.notify(from.event("lpop", "rpop"));
        out.bulk(&element);
        return Ok(Done);
    }
    let Some(element) = source.peek(from).map(|e| Sds::from_slice(&e)) else {
        out.null();
        return Ok(Done);
    };
    drop(source);
    let mut dest = db.write_or_create::<ListValue>(dst, new_list)?;
    dest.push(to, &element);
    dest.changed(1, to.event("lpush", "rpush"));
    drop(dest);
    if let Some(mut source) = db.write::<ListValue>(src)? {
        source.pop(from);
        // The move counted its one change with the push.
        source.touched();
        source.notify(from.event("lpop", "rpop"));
    }
    out.bulk(&element);
    Ok(Done)
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`: the sides are read before the keys.
fn lmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let from = end_arg(argv[3])?;
    let to = end_arg(argv[4])?;
    move_element(ctx, argv[1], argv[2], from, to)
}

/// `RPOPLPUSH source destination`: LMOVE from the tail to the head.
fn rpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    move_element(ctx, argv[1], argv[2], End::Tail, End::Head)
}

/// Redis's `blmoveGenericCommand`: a move when `src` holds a list; otherwise the client
/// waits on `src` alone (its destination's type is looked at only when it is served).
/// Where it cannot block it answers a null bulk, as the non-blocking move does (not the
/// null array of the blocking pops).
fn blocking_move(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    from: End,
    to: End,
    deadline: Option<Instant>,
) -> CommandResult {
    let (src, dst) = (argv[1], argv[2]);
    if ctx.write::<ListValue>(src)?.is_some() {
        return move_element(ctx, src, dst, from, to);
    }
    if !ctx.can_block {
        ctx.out.null();
        return Ok(Done);
    }
    ctx.block(&[src], deadline, is_list)
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`
fn blmove(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let from = end_arg(argv[3])?;
    let to = end_arg(argv[4])?;
    let deadline = Args::new(argv, 5).timeout(Instant::now())?;
    blocking_move(ctx, argv, from, to, deadline)
}

/// `BRPOPLPUSH source destination timeout`
fn brpoplpush(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let deadline = Args::new(argv, 3).timeout(Instant::now())?;
    blocking_move(ctx, argv, End::Tail, End::Head, deadline)
}

/// `LLEN key`: 0 for a missing key.
fn llen(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::reply_len(ctx, argv[1], ListValue::len)
}

/// Reads an index argument as Redis's `getLongFromObjectOrReply` does.
fn index_arg(arg: &[u8]) -> Result<i64, CommandError> {
    parse_i64(arg).ok_or(errors::NOT_INTEGER.into())
}

/// Redis's range clamping (LRANGE, LTRIM): negative indexes count from the tail; `None`
/// when the range holds nothing.
fn clamp_range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

/// `LRANGE key start stop`: the elements from start to stop, both included.
fn lrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let start = index_arg(argv[2])?;
    let stop = index_arg(argv[3])?;
    let (mut db, out) = ctx.db_out();
    match db.read::<ListValue>(argv[1])? {
        None => out.array(0),
        Some(list) => match clamp_range(list.len(), start, stop) {
            None => out.array(0),
            Some((start, stop)) => out.bulks(list.range(start, stop)),
        },
    }
    Ok(Done)
}

/// `LINDEX key index`: the element, or null when the index is out of range.
fn lindex(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    let Some(list) = db.read::<ListValue>(argv[1])? else {
        out.null();
        return Ok(Done);
    };
    match list.get(index_arg(argv[2])?) {
        Some(element) => out.bulk(&element),
        None => out.null(),
    }
    Ok(Done)
}

/// `LSET key index element`: `ERR no such key` for a missing key, `ERR index out of
/// range` past either end.
fn lset(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let Some(mut list) = ctx.write::<ListValue>(argv[1])? else {
        return Err(errors::NO_SUCH_KEY.into());
    };
    let index = index_arg(argv[2])?;
    if !list.set(index, argv[3]) {
        list.unchanged();
        return Err(errors::OUT_OF_RANGE.into());
    }
    list.changed(1, "lset");
    drop(list);
    ctx.out.ok();
    Ok(Done)
}

/// `LREM key count element`: removes up to |count| matches (all with 0), from the head
/// for a positive count, from the tail for a negative one; answers how many went.
fn lrem(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let count = index_arg(argv[2])?;
    let removed = match ctx.write::<ListValue>(argv[1])? {
        None => 0,
        Some(mut list) => {
            let removed = list.remove(count, argv[3]);
            list.changed(removed as u64, "lrem");
            removed
        }
    };
    ctx.out.int(removed as i64);
    Ok(Done)
}

/// `LTRIM key start stop`: keeps only that range (deleting the key when it is empty).
/// A missing key answers OK.
fn ltrim(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let start = index_arg(argv[2])?;
    let stop = index_arg(argv[3])?;
    if let Some(mut list) = ctx.write::<ListValue>(argv[1])? {
        let len = list.len();
        let (head, tail) = match clamp_range(len, start, stop) {
            None => (len, 0),
            Some((start, stop)) => (start, len - stop - 1),
        };
        list.trim(head, tail);
        // Redis signals the key, and names it `ltrim`, even when nothing was trimmed.
        list.touched();
        match head + tail {
            0 => list.notify("ltrim"),
            trimmed => list.changed(trimmed as u64, "ltrim"),
        }
    }
    ctx.out.ok();
    Ok(Done)
}

/// `LINSERT key BEFORE|AFTER pivot element`: the new length; -1 when no element equals
/// the pivot, 0 for a missing key. The side is read before the key.
fn linsert(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let after = if argv[2].eq_ignore_ascii_case(b"after") {
        true
    } else if argv[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        return Err(errors::SYNTAX.into());
    };
    let Some(mut list) = ctx.write::<ListValue>(argv[1])? else {
        ctx.out.int(0);
        return Ok(Done);
    };
    let answer = if list.insert(argv[3], argv[4], after) {
        list.changed(1, "linsert");
        list.len() as i64
    } else {
        list.unchanged();
        -1
    };
    drop(list);
    ctx.out.int(answer);
    Ok(Done)
}

/// LPOS's options, as Redis 7.0 reads them.
struct Lpos {
    rank: i64,
    /// `None`: no COUNT, answer one position (or null) instead of an array.
    count: Option<i64>,
    /// 0: no limit.
    maxlen: i64,
}

/// Reads `[RANK rank] [COUNT num-matches] [MAXLEN len]` in any order, the last of each
/// winning. RANK is any integer but 0; COUNT and MAXLEN answer their own error for
/// anything but a non-negative integer.
fn lpos_args(argv: &[&[u8]]) -> Result<Lpos, CommandError> {
    let non_negative = |arg: &[u8], msg: &'static str| {
        parse_i64(arg)
            .filter(|n| *n >= 0)
            .ok_or(CommandError::from(msg))
    };
    let mut lpos = Lpos {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut args = Args::new(argv, 3);
    while !args.is_empty() {
        let has_value = args.remaining() > 1;
        if has_value && args.keyword("rank") {
            lpos.rank = args.i64()?;
            if lpos.rank == 0 {
                return Err(errors::LPOS_RANK_ZERO.into());
            }
        } else if has_value && args.keyword("count") {
            lpos.count = Some(non_negative(args.next()?, errors::LPOS_COUNT_NEGATIVE)?);
        } else if has_value && args.keyword("maxlen") {
            lpos.maxlen = non_negative(args.next()?, errors::LPOS_MAXLEN_NEGATIVE)?;
        } else {
            return Err(errors::SYNTAX.into());
        }
    }
    Ok(lpos)
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`: the position of the
/// `rank`-th match (from the tail for a negative rank), or with COUNT an array of up to
/// that many positions from there (all with 0), looking at no more than MAXLEN elements.
/// A missing key answers null, or an empty array with COUNT.
fn lpos(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let Lpos {
        mut rank,
        count,
        maxlen,
    } = lpos_args(argv)?;
    let (mut db, out) = ctx.db_out();
    let Some(list) = db.read::<ListValue>(argv[1])? else {
        match count {
            Some(_) => out.array(0),
            None => out.null(),
        }
        return Ok(Done);
    };
    let mut from = End::Head;
    if rank < 0 {
        // Redis negates the rank in a C long: the lowest one stays negative, so that
        // every match counts, and with it a COUNT never ends the scan (its arithmetic
        // below wraps as Redis's does).
        rank = rank.wrapping_neg();
        from = End::Tail;
    }
    let limit = if maxlen == 0 {
        usize::MAX
    } else {
        maxlen as usize
    };
    let mut found = Vec::new();
    let mut matches: i64 = 0;
    for position in list.positions_of(argv[2], from, limit) {
        matches += 1;
        if matches < rank {
            continue;
        }
        found.push(position as i64);
        match count {
            None => break,
            Some(count) if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count => {
                break
            }
            Some(_) => {}
        }
    }
    match count {
        Some(_) => {
            out.array(found.len());
            for position in found {
                out.int(position);
            }
        }
        None => match found.first() {
            Some(&position) => out.int(position),
            None => out.null(),
        },
    }
    Ok(Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_as_redis_does() {
        assert_eq!(clamp_range(5, 0, -1), Some((0, 4)));
        assert_eq!(clamp_range(5, -100, 100), Some((0, 4)));
        assert_eq!(clamp_range(5, 3, 1), None);
        assert_eq!(clamp_range(5, 5, 10), None);
        assert_eq!(clamp_range(5, -2, -1), Some((3, 4)));
        assert_eq!(clamp_range(0, 0, -1), None);
    }
}
