//! Set commands: the `set` group of Redis 7.0 (SADD, SREM, SMOVE, SPOP, SRANDMEMBER, the
//! membership tests, SMEMBERS, SCARD, SSCAN, and the algebra: SINTER, SINTERCARD,
//! SINTERSTORE, SUNION, SUNIONSTORE, SDIFF, SDIFFSTORE), each reply and error as Redis's
//! `t_set.c` writes them.
//!
//! SMEMBERS, SPOP with a count and the algebra answer a RESP3 set, SRANDMEMBER with a
//! count an array, as Redis 7.0 does. Random picks are uniform; which members come out
//! differs from Redis's, as it does between two runs of Redis. A set that becomes empty is
//! deleted.
//!
//! The algebra follows Redis's algorithms where a client can see them: the intersection
//! walks the smallest set (so it answers in that set's order), and a computed set starts
//! as an intset and grows as SADD grows one, so the encoding a STORE leaves (and the order
//! SUNION and SDIFF answer in) is Redis's, SDIFF's choice between its two algorithms
//! included (one of them can leave integers in a hash table).

use super::keys::{is_option, parse_scan_cursor, ScanOptions};
use crate::args::Args;
use crate::command::{handler, CommandError, CommandResult, Ctx, Done, Entry};
use crate::config::notify;
use crate::errors;
use crate::keyspace::{DbMut, Typed, Value};
use crate::reply::Reply;
use crate::types::set::{sample_positions, Member};
use crate::types::{set_max_intset_entries, SetValue};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("sadd", sadd),
    handler("srem", srem),
    handler("smove", smove),
    handler("spop", spop),
    handler("scard", scard),
    handler("smembers", smembers),
    handler("sismember", sismember),
    handler("smismember", smismember),
    handler("srandmember", srandmember),
    handler("sinter", sinter),
    handler("sintercard", sintercard),
    handler("sinterstore", sinterstore),
    handler("sunion", sunion),
    handler("sunionstore", sunionstore),
    handler("sdiff", sdiff),
    handler("sdiffstore", sdiffstore),
    handler("sscan", sscan),
];

fn reply_member(out: &mut Reply, member: Member<'_>) {
    let mut scratch = itoa::Buffer::new();
    out.bulk(member.bytes(&mut scratch));
}

/// A set of `members`, as a RESP3 set.
fn reply_members<'a>(out: &mut Reply, len: usize, members: impl Iterator<Item = Member<'a>>) {
    out.set(len);
    for member in members {
        reply_member(out, member);
    }
}

/// `SADD key member [member ...]`: how many members were new. A new key starts as an
/// intset when its first member is an integer.
fn sadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let max_intset = set_max_intset_entries(&ctx.state.config);
    let mut set = ctx.write_or_create::<SetValue>(argv[1], || {
        Value::Set(Box::new(SetValue::for_first_member(argv[2])))
    })?;
    let added = argv[2..].iter().filter(|m| set.add(m, max_intset)).count();
    set.changed(added as u64, "sadd");
    drop(set);
    ctx.out.int(added as i64);
    Ok(Done)
}

/// `SREM key member [member ...]`: how many members were removed.
fn srem(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::remove_members::<SetValue>(ctx, argv, "srem")
}

/// `SMOVE source destination member`: 1 when `member` moved (or was already in both), 0
/// when `source` lacks it. A missing source answers 0 before any type is checked; then
/// the source's type, then the destination's. Moving within one set changes nothing. The
/// source names `srem` (and `del` if emptied); the destination, created like SADD's when
/// missing, names `sadd` only if the member is new to it.
fn smove(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (source, destination, member) = (argv[1], argv[2], argv[3]);
    let max_intset = set_max_intset_entries(&ctx.state.config);
    let (mut db, out) = ctx.db_out();
    let is_set = |db: &mut DbMut, key| db.peek(key).map(|e| matches!(e.value, Value::Set(_)));
    let source_is_set = is_set(&mut db, source);
    let destination_is_set = is_set(&mut db, destination);
    match source_is_set {
        None => {
            out.int(0);
            return Ok(Done);
        }
        Some(false) => return Err(errors::WRONGTYPE.into()),
        Some(true) if destination_is_set == Some(false) => return Err(errors::WRONGTYPE.into()),
        Some(true) => {}
    }
    if source == destination {
        let found = db
            .peek(source)
            .and_then(|e| SetValue::of(e.value))
            .is_some_and(|s| s.contains(member));
        out.int(found as i64);
        return Ok(Done);
    }
    if let Some(mut set) = db.write::<SetValue>(source)? {
        if !set.remove(member) {
            set.unchanged();
            out.int(0);
            return Ok(Done);
        }
        set.changed(1, "srem");
    }
    let mut set = db.write_or_create::<SetValue>(destination, || {
        Value::Set(Box::new(SetValue::for_first_member(member)))
    })?;
    if set.add(member, max_intset) {
        set.changed(1, "sadd");
    } else {
        set.unchanged();
    }
    drop(set);
    out.int(1);
    Ok(Done)
}

/// `SCARD key`
fn scard(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::reply_len(ctx, argv[1], SetValue::len)
}

/// `SISMEMBER key member`: 1 or 0.
fn sismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let found = ctx
        .read::<SetValue>(argv[1])?
        .is_some_and(|s| s.contains(argv[2]));
    ctx.out.int(found as i64);
    Ok(Done)
}

/// `SMISMEMBER key member [member ...]`: 1 or 0 per member; a missing key is empty.
fn smismember(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::reply_per_member::<SetValue>(ctx, argv, |out, set, member| {
        out.int(set.is_some_and(|s| s.contains(member)) as i64)
    })
}

/// `SMEMBERS key`: every member, as a set (ascending for an intset).
fn smembers(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    let Some(set) = db.read::<SetValue>(argv[1])? else {
        out.set(0);
        return Ok(Done);
    };
    out.set(set.len());
    for member in set.iter() {
        reply_member(out, member);
    }
    Ok(Done)
}

/// `SPOP key [count]`: one random member (or null), or with a count a set of up to that
/// many, removed. The count is checked before the key.
fn spop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() > 3 {
        return Err(errors::SYNTAX.into());
    }
    let count = Args::new(argv, 2).pop_count()?;
    let max_intset = set_max_intset_entries(&ctx.state.config);
    let (mut db, out) = ctx.db_out();
    let Some(mut set) = db.write::<SetValue>(argv[1])? else {
        return reply_missing(out, count.is_some(), Reply::set);
    };
    let mut rng = rand::thread_rng();
    let len = set.len() as u64;
    match count {
        None => {
            match set.pop_random(&mut rng) {
                Some(member) => out.bulk(&member),
                None => out.null(),
            }
            set.changed(1, "spop");
        }
        Some(0) => {
            set.unchanged();
            out.set(0);
        }
        Some(n) if n >= len => {
            // The whole set, in its own order, as Redis answers this case with SUNION;
            // left empty, the key goes: `spop` is still named, then `del`, as in Redis.
            let all = std::mem::replace(&mut *set, SetValue::Intset(Vec::new()));
            reply_members(out, all.len(), all.iter());
            set.changed(len, "spop");
        }
        Some(n) if (len - n) * 5 > n => {
            // Few members go: they are drawn one by one.
            out.set(n as usize);
            for _ in 0..n {
                if let Some(member) = set.pop_random(&mut rng) {
                    out.bulk(&member);
                }
            }
            set.changed(n, "spop");
        }
        Some(n) => {
            // Most members go: the ones that stay are drawn instead, into a new set built
            // as SADD builds one (so a table can come back an intset), and the others are
            // answered in the set's order.
            let positions = sample_positions(&mut rng, len as usize, (len - n) as usize);
            let mut kept = SetValue::Intset(Vec::new());
            for member in positions.iter().filter_map(|&i| set.at(i)) {
                kept.insert(member, max_intset);
            }
            reply_members(
                out,
                n as usize,
                set.iter().filter(|m| !kept.contains_member(*m)),
            );
            if kept.encoding() != set.encoding() {
                *set = kept;
            } else {
                // In place, which keeps the order of what stays (an SSCAN going on).
                set.retain(|m| kept.contains_member(m));
            }
            set.changed(n, "spop");
        }
    }
    Ok(Done)
}

/// SPOP's and SRANDMEMBER's answer for a missing key: with a count, an empty
/// `collection` (SPOP's a set, SRANDMEMBER's an array); without, null.
fn reply_missing(
    out: &mut Reply,
    counted: bool,
    collection: fn(&mut Reply, usize),
) -> CommandResult {
    if counted {
        collection(out, 0);
    } else {
        out.null();
    }
    Ok(Done)
}

/// `SRANDMEMBER key [count]`: one random member (or null); with a positive count up to
/// that many distinct members, with a negative one exactly |count| members that may
/// repeat. Either way an array.
fn srandmember(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() > 3 {
        return Err(errors::SYNTAX.into());
    }
    let count = match argv.get(2) {
        None => None,
        Some(arg) => match parse_i64(arg) {
            None => return Err(errors::NOT_INTEGER.into()),
            Some(i64::MIN) => return Err(errors::SRANDMEMBER_COUNT_RANGE.into()),
            Some(n) => Some(n),
        },
    };
    let (mut db, out) = ctx.db_out();
    let Some(set) = db.read::<SetValue>(argv[1])? else {
        return reply_missing(out, count.is_some(), Reply::array);
    };
    let mut rng = rand::thread_rng();
    let Some(count) = count else {
        match set.random(&mut rng) {
            Some(member) => reply_member(out, member),
            None => out.null(),
        }
        return Ok(Done);
    };
    let len = set.len();
    let wanted = count.unsigned_abs();
    if count == 0 || len == 0 {
        out.array(0);
        return Ok(Done);
    }
    if count < 0 || wanted == 1 {
        out.array(wanted as usize);
        for _ in 0..wanted {
            if let Some(member) = set.random(&mut rng) {
                reply_member(out, member);
            }
        }
        return Ok(Done);
    }
    if wanted >= len as u64 {
        out.array(len);
        for member in set.iter() {
            reply_member(out, member);
        }
        return Ok(Done);
    }
    let wanted = wanted as usize;
    let picks = sample_positions(&mut rng, len, wanted);
    out.array(wanted);
    for &i in &picks {
        if let Some(member) = set.at(i) {
            reply_member(out, member);
        }
    }
    Ok(Done)
}

/// The sets at `keys`, read in order as SINTER, SUNION and SDIFF read them: each a hit or
/// a miss, a missing key `None`, and WRONGTYPE at the first key of another type (the keys
/// after it are not looked at).
fn read_sets<'d>(
    db: &'d mut DbMut<'_>,
    keys: &[&[u8]],
) -> Result<Vec<Option<&'d SetValue>>, CommandError> {
    for key in keys {
        db.read::<SetValue>(key)?;
    }
    // Expired keys went on the way, so the dictionary holds what the reads saw.
    let dict = db.raw().dict();
    Ok(keys
        .iter()
        .map(|key| dict.get(key).and_then(|e| SetValue::of(e.value)))
        .collect())
}

/// Puts `result` at `destination`, replacing any value of any type and its TTL, and names
/// it `event`; an empty result deletes `destination` instead (naming `del` if there was
/// one). Answers the result's size.
fn store(
    db: &mut DbMut,
    out: &mut Reply,
    destination: &[u8],
    result: SetValue,
    event: &'static str,
) -> CommandResult {
    let len = result.len();
    let value = (len > 0).then(|| Value::Set(Box::new(result)));
    super::store_or_delete(db, destination, value, notify::SET, event);
    out.int(len as i64);
    Ok(Done)
}

/// What SINTER, SINTERCARD and SINTERSTORE make of the intersection.
#[derive(Clone, Copy)]
enum Intersection<'a> {
    /// The members, as a set.
    Members,
    /// How many there are, counting no further than `limit` (0: no limit).
    Cardinality { limit: u64 },
    /// Stored at this key.
    Store(&'a [u8]),
}

/// Redis's `sinterGenericCommand`: every key is read (and type-checked) first; a missing
/// one makes the intersection empty. Otherwise the members of the smallest set (the first
/// of the smallest, as Redis's sort leaves ties in argument order) that every other set
/// holds, in that set's order.
fn intersect(ctx: &mut Ctx, keys: &[&[u8]], output: Intersection) -> CommandResult {
    let max_intset = set_max_intset_entries(&ctx.state.config);
    let (mut db, out) = ctx.db_out();
    let sets: Option<Vec<&SetValue>> = read_sets(&mut db, keys)?.into_iter().collect();
    let mut sets = sets.unwrap_or_default();
    sets.sort_by_key(|s| s.len());
    let found = sets
        .split_first()
        .into_iter()
        .flat_map(|(&smallest, others)| {
            smallest.iter().filter(move |member| {
                others
                    .iter()
                    .all(|&s| std::ptr::eq(s, smallest) || s.contains_member(*member))
            })
        });
    match output {
        Intersection::Members => {
            let members: Vec<Member> = found.collect();
            reply_members(out, members.len(), members.into_iter());
            Ok(Done)
        }
        Intersection::Cardinality { limit } => {
            let limit = if limit == 0 {
                usize::MAX
            } else {
                limit as usize
            };
            out.int(found.take(limit).count() as i64);
            Ok(Done)
        }
        Intersection::Store(destination) => {
            let mut result = SetValue::Intset(Vec::new());
            for member in found {
                result.insert(member, max_intset);
            }
            store(&mut db, out, destination, result, "sinterstore")
        }
    }
}

/// `SINTER key [key ...]`
fn sinter(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    intersect(ctx, &argv[1..], Intersection::Members)
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`: the size of the intersection, or
/// `limit` if that is smaller (0 is no limit). The arguments are all checked before any
/// key: numkeys, then that there are that many keys, then the options.
fn sintercard(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let numkeys = match parse_i64(argv[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(errors::NUMKEYS_NOT_POSITIVE.into()),
    };
    if numkeys > (argv.len() - 2) as u64 {
        return Err(errors::NUMKEYS_PAST_ARGS.into());
    }
    let keys_end = 2 + numkeys as usize;
    let mut limit = 0;
    let mut i = keys_end;
    while i < argv.len() {
        if is_option(argv[i], "limit") && i + 1 < argv.len() {
            limit = match parse_i64(argv[i + 1]) {
                Some(n) if n >= 0 => n as u64,
                _ => return Err(errors::LIMIT_NEGATIVE.into()),
            };
            i += 2;
        } else {
            return Err(errors::SYNTAX.into());
        }
    }
    intersect(ctx, &argv[2..keys_end], Intersection::Cardinality { limit })
}

/// `SINTERSTORE destination key [key ...]`: the size of the stored intersection.
fn sinterstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    intersect(ctx, &argv[2..], Intersection::Store(argv[1]))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Algebra {
    Union,
    Diff,
}

/// Redis's `sunionDiffGenericCommand`: every key is read (and type-checked) first, a
/// missing one is an empty set; the result is built as a new set, so it answers in that
/// set's order (ascending when it is an intset). SDIFF picks Redis's algorithm: test each
/// member of the first set against the others, or, when the others are small next to it,
/// copy the first set and remove theirs (which leaves a table if the first set had to be
/// one, whatever stays). A first set named again later makes the difference empty.
fn union_or_diff(
    ctx: &mut Ctx,
    keys: &[&[u8]],
    algebra: Algebra,
    destination: Option<&[u8]>,
) -> CommandResult {
    let max_intset = set_max_intset_entries(&ctx.state.config);
    let (mut db, out) = ctx.db_out();
    let sets = read_sets(&mut db, keys)?;
    let mut result = SetValue::Intset(Vec::new());
    match (algebra, sets.split_first()) {
        (Algebra::Union, _) => {
            for member in sets.iter().flatten().flat_map(|s| s.iter()) {
                result.insert(member, max_intset);
            }
        }
        (Algebra::Diff, Some((Some(first), rest))) => {
            let others: Vec<&SetValue> = rest.iter().flatten().copied().collect();
            let repeated = others.iter().any(|s| std::ptr::eq(*s, *first));
            let first_len = first.len() as u64;
            let test_each_work = first_len.saturating_mul(others.len() as u64 + 1) / 2;
            let remove_work = others.iter().map(|s| s.len() as u64).sum::<u64>() + first_len;
            if repeated {
            } else if test_each_work <= remove_work {
                for member in first.iter() {
                    if !others.iter().any(|s| s.contains_member(member)) {
                        result.insert(member, max_intset);
                    }
                }
            } else {
                for member in first.iter() {
                    result.insert(member, max_intset);
                }
                for set in others {
                    if result.is_empty() {
                        break;
                    }
                    for member in set.iter() {
                        result.discard(member);
                    }
                }
            }
        }
        (Algebra::Diff, _) => {}
    }
    match destination {
        None => {
            reply_members(out, result.len(), result.iter());
            Ok(Done)
        }
        Some(destination) => {
            let event = match algebra {
                Algebra::Union => "sunionstore",
                Algebra::Diff => "sdiffstore",
            };
            store(&mut db, out, destination, result, event)
        }
    }
}

/// `SUNION key [key ...]`
fn sunion(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    union_or_diff(ctx, &argv[1..], Algebra::Union, None)
}

/// `SUNIONSTORE destination key [key ...]`: the size of the stored union.
fn sunionstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    union_or_diff(ctx, &argv[2..], Algebra::Union, Some(argv[1]))
}

/// `SDIFF key [key ...]`: the members of the first set that no other set holds.
fn sdiff(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    union_or_diff(ctx, &argv[1..], Algebra::Diff, None)
}

/// `SDIFFSTORE destination key [key ...]`: the size of the stored difference.
fn sdiffstore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    union_or_diff(ctx, &argv[2..], Algebra::Diff, Some(argv[1]))
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`: the next cursor and a batch of
/// members. The cursor is checked first, then the key (a missing one answers an empty
/// scan before the options are read), then the options. An intset answers whole, with
/// cursor 0; a table by positions (`SetValue::scan`).
fn sscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let cursor = parse_scan_cursor(argv[2]).ok_or(errors::INVALID_CURSOR)?;
    let (mut db, out) = ctx.db_out();
    let Some(set) = db.read::<SetValue>(argv[1])? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(Done);
    };
    let options = ScanOptions::parse(&argv[3..], false)?;
    let mut batch: Vec<Member> = Vec::new();
    let next = set.scan(cursor, options.count, |member| {
        let mut scratch = itoa::Buffer::new();
        if options.matches(member.bytes(&mut scratch)) {
            batch.push(member);
        }
    });
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.array(batch.len());
    for member in batch {
        reply_member(out, member);
    }
    Ok(Done)
}
