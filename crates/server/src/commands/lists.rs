//! List commands: pushes, pops, ranges, LINDEX/LSET/LREM/LTRIM and the blocking pops
//! BLPOP/BRPOP, each reply and error as Redis's `t_list.c` writes them.
//!
//! Argument checks come in Redis's order, which clients can see: LRANGE and LTRIM read
//! their indexes before looking at the key (so a bad index beats WRONGTYPE), LINDEX and
//! LSET look at the key first. A list that becomes empty is deleted, as in Redis.

use std::time::Instant;

use crate::args::Args;
use crate::command::{handler, CommandError, CommandResult, Ctx, Done, Entry};
use crate::errors;
use crate::keyspace::Value;
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
    handler("llen", llen),
    handler("lrange", lrange),
    handler("lindex", lindex),
    handler("lset", lset),
    handler("lrem", lrem),
    handler("ltrim", ltrim),
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

/// Redis's `blockingPopGenericCommand`: the first key in argument order that holds a
/// non-empty list gives up an element, answered as `[key, element]`; a key of another
/// type answers WRONGTYPE; with none, the client waits for a push to one of them (and
/// answers a null array when the timeout passes). The timeout is read first.
fn blocking_pop(ctx: &mut Ctx, argv: &[&[u8]], end: End) -> CommandResult {
    let keys = &argv[1..argv.len() - 1];
    let deadline = Args::new(argv, argv.len() - 1).timeout(Instant::now())?;
    let (mut db, out) = ctx.db_out();
    for &key in keys {
        let Some(mut list) = db.write::<ListValue>(key)? else {
            continue;
        };
        if let Some(element) = list.pop(end) {
            list.changed(1, end.event("lpop", "rpop"));
            out.array(2);
            out.bulk(key);
            out.bulk(&element);
            return Ok(Done);
        }
        list.unchanged();
    }
    ctx.block(keys, deadline, |value| matches!(value, Value::List(_)))
}

/// `BLPOP key [key ...] timeout`
fn blpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    blocking_pop(ctx, argv, End::Head)
}

/// `BRPOP key [key ...] timeout`
fn brpop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    blocking_pop(ctx, argv, End::Tail)
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
        Some(element) => out.bulk(element),
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
