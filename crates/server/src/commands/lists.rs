//! List commands: the `list` group of Redis 7.0 that does not block (pushes, pops, ranges,
//! LINDEX/LSET/LREM/LTRIM), each reply and error as Redis's `t_list.c` writes them.
//!
//! Argument checks come in Redis's order, which clients can see: LRANGE and LTRIM read
//! their indexes before looking at the key (so a bad index beats WRONGTYPE), LINDEX and
//! LSET look at the key first. A list that becomes empty is deleted, as in Redis.

use crate::command::{legacy, Ctx, Entry};
use crate::errors;
use crate::keyspace::{Value, NO_EXPIRY};
use crate::types::{End, ListValue};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    legacy("lpush", lpush),
    legacy("rpush", rpush),
    legacy("lpushx", lpushx),
    legacy("rpushx", rpushx),
    legacy("lpop", lpop),
    legacy("rpop", rpop),
    legacy("llen", llen),
    legacy("lrange", lrange),
    legacy("lindex", lindex),
    legacy("lset", lset),
    legacy("lrem", lrem),
    legacy("ltrim", ltrim),
];

/// Redis's `pushGenericCommand`: pushes every element in argument order (so LPUSH a b c
/// leaves c first) and answers the new length. With `only_existing` (LPUSHX, RPUSHX) a
/// missing key is left missing and the answer is 0.
fn push(ctx: &mut Ctx, argv: &[&[u8]], end: End, only_existing: bool) {
    let key = argv[1];
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let len = match db.get_mut(key, now) {
        Some(entry) => {
            let Value::List(list) = &mut entry.value else {
                return ctx.out.error(errors::WRONGTYPE);
            };
            for element in &argv[2..] {
                list.push(end, element);
            }
            list.len()
        }
        None if only_existing => return ctx.out.int(0),
        None => {
            let mut list = ListValue::new();
            for element in &argv[2..] {
                list.push(end, element);
            }
            let len = list.len();
            db.set(key, Value::List(Box::new(list)), NO_EXPIRY);
            len
        }
    };
    ctx.dirty(argv.len() as u64 - 2);
    ctx.out.int(len as i64);
}

/// `LPUSH key element [element ...]`
fn lpush(ctx: &mut Ctx, argv: &[&[u8]]) {
    push(ctx, argv, End::Head, false);
}

/// `RPUSH key element [element ...]`
fn rpush(ctx: &mut Ctx, argv: &[&[u8]]) {
    push(ctx, argv, End::Tail, false);
}

/// `LPUSHX key element [element ...]`
fn lpushx(ctx: &mut Ctx, argv: &[&[u8]]) {
    push(ctx, argv, End::Head, true);
}

/// `RPUSHX key element [element ...]`
fn rpushx(ctx: &mut Ctx, argv: &[&[u8]]) {
    push(ctx, argv, End::Tail, true);
}

/// Redis's `popGenericCommand`. Without a count: one element, or null. With one: an
/// array of up to `count` elements, the null array for a missing key, and an empty array
/// for a count of 0. The count is checked before the key.
fn pop(ctx: &mut Ctx, argv: &[&[u8]], end: End) {
    if argv.len() > 3 {
        return ctx.out.error(&errors::wrong_arity(ctx.cmd.full_name));
    }
    let count = match argv.get(2) {
        None => None,
        Some(arg) => match parse_i64(arg).filter(|n| *n >= 0) {
            Some(n) => Some(n as usize),
            None => return ctx.out.error(errors::MUST_BE_POSITIVE),
        },
    };
    let key = argv[1];
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Some(entry) = db.get_mut(key, now) else {
        return match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        };
    };
    let Value::List(list) = &mut entry.value else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    let popped = match count {
        Some(0) => return ctx.out.array(0),
        Some(n) => {
            let n = n.min(list.len());
            ctx.out.array(n);
            for _ in 0..n {
                if let Some(element) = list.pop(end) {
                    ctx.out.bulk(&element);
                }
            }
            n
        }
        None => {
            match list.pop(end) {
                Some(element) => ctx.out.bulk(&element),
                None => ctx.out.null(),
            }
            1
        }
    };
    if list.is_empty() {
        db.remove(key, now);
    }
    ctx.dirty(popped as u64);
}

/// `LPOP key [count]`
fn lpop(ctx: &mut Ctx, argv: &[&[u8]]) {
    pop(ctx, argv, End::Head);
}

/// `RPOP key [count]`
fn rpop(ctx: &mut Ctx, argv: &[&[u8]]) {
    pop(ctx, argv, End::Tail);
}

/// `LLEN key`: 0 for a missing key.
fn llen(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    match ctx.state.dbs[ctx.client.db]
        .get(argv[1], now)
        .map(|e| &e.value)
    {
        None => ctx.out.int(0),
        Some(Value::List(list)) => ctx.out.int(list.len() as i64),
        Some(_) => ctx.out.error(errors::WRONGTYPE),
    }
}

/// Reads an index argument as Redis's `getLongFromObjectOrReply` does.
fn index_arg(ctx: &mut Ctx, arg: &[u8]) -> Option<i64> {
    let n = parse_i64(arg);
    if n.is_none() {
        ctx.out.error(errors::NOT_INTEGER);
    }
    n
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
fn lrange(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Some(start) = index_arg(ctx, argv[2]) else {
        return;
    };
    let Some(stop) = index_arg(ctx, argv[3]) else {
        return;
    };
    let now = ctx.now;
    let list = match ctx.state.dbs[ctx.client.db]
        .get(argv[1], now)
        .map(|e| &e.value)
    {
        None => return ctx.out.array(0),
        Some(Value::List(list)) => list,
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    match clamp_range(list.len(), start, stop) {
        None => ctx.out.array(0),
        Some((start, stop)) => ctx.out.bulks(list.range(start, stop)),
    }
}

/// `LINDEX key index`: the element, or null when the index is out of range.
fn lindex(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let list = match ctx.state.dbs[ctx.client.db]
        .get(argv[1], now)
        .map(|e| &e.value)
    {
        None => return ctx.out.null(),
        Some(Value::List(list)) => list,
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    let Some(index) = parse_i64(argv[2]) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    match list.get(index) {
        Some(element) => ctx.out.bulk(element),
        None => ctx.out.null(),
    }
}

/// `LSET key index element`: `ERR no such key` for a missing key, `ERR index out of
/// range` past either end.
fn lset(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let list = match ctx.state.dbs[ctx.client.db].get_mut(argv[1], now) {
        None => return ctx.out.error(errors::NO_SUCH_KEY),
        Some(entry) => match &mut entry.value {
            Value::List(list) => list,
            _ => return ctx.out.error(errors::WRONGTYPE),
        },
    };
    let Some(index) = parse_i64(argv[2]) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    if list.set(index, argv[3]) {
        ctx.dirty(1);
        ctx.out.ok();
    } else {
        ctx.out.error(errors::OUT_OF_RANGE);
    }
}

/// `LREM key count element`: removes up to |count| matches (all with 0), from the head
/// for a positive count, from the tail for a negative one; answers how many went.
fn lrem(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Some(count) = index_arg(ctx, argv[2]) else {
        return;
    };
    let key = argv[1];
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let list = match db.get_mut(key, now) {
        None => return ctx.out.int(0),
        Some(entry) => match &mut entry.value {
            Value::List(list) => list,
            _ => return ctx.out.error(errors::WRONGTYPE),
        },
    };
    let removed = list.remove(count, argv[3]);
    if list.is_empty() {
        db.remove(key, now);
    }
    ctx.dirty(removed as u64);
    ctx.out.int(removed as i64);
}

/// `LTRIM key start stop`: keeps only that range (deleting the key when it is empty).
/// A missing key answers OK.
fn ltrim(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Some(start) = index_arg(ctx, argv[2]) else {
        return;
    };
    let Some(stop) = index_arg(ctx, argv[3]) else {
        return;
    };
    let key = argv[1];
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let list = match db.get_mut(key, now) {
        None => return ctx.out.ok(),
        Some(entry) => match &mut entry.value {
            Value::List(list) => list,
            _ => return ctx.out.error(errors::WRONGTYPE),
        },
    };
    let len = list.len();
    let (head, tail) = match clamp_range(len, start, stop) {
        None => (len, 0),
        Some((start, stop)) => (start, len - stop - 1),
    };
    list.trim(head, tail);
    if list.is_empty() {
        db.remove(key, now);
    }
    ctx.dirty((head + tail) as u64);
    ctx.out.ok();
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
