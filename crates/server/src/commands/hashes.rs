//! Hash commands: the `hash` group of Redis 7.0 (HSET and friends, the getters, HDEL,
//! the counters, HRANDFIELD, HSCAN), each reply and error as Redis's `t_hash.c` writes
//! them.
//!
//! Encoding conversions follow `hashTypeTryConversion` and `hashTypeSet` (see
//! `types::hash`). HINCRBYFLOAT uses the same x87 long double arithmetic as INCRBYFLOAT,
//! so both print the same digits. A hash that becomes empty is deleted.

use rand::Rng;

use super::keys::{is_option, parse_scan_cursor, ScanOptions};
use super::strings::long_double::LongDouble;
use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::errors;
use crate::keyspace::Value;
use crate::reply::Reply;
use crate::types::entry::Element;
use crate::types::set::sample_positions;
use crate::types::{hash_limits, HashValue};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("hset", hset),
    handler("hsetnx", hsetnx),
    handler("hget", hget),
    handler("hmget", hmget),
    handler("hmset", hmset),
    handler("hdel", hdel),
    handler("hlen", hlen),
    handler("hexists", hexists),
    handler("hgetall", hgetall),
    handler("hkeys", hkeys),
    handler("hvals", hvals),
    handler("hincrby", hincrby),
    handler("hincrbyfloat", hincrbyfloat),
    handler("hstrlen", hstrlen),
    handler("hrandfield", hrandfield),
    handler("hscan", hscan),
];

/// A missing hash, created empty by writes (Redis's `hashTypeLookupWriteOrCreate`).
fn new_hash() -> Value {
    Value::Hash(HashValue::default())
}

/// HSET and HMSET: every pair set in order; HSET answers how many fields were new, HMSET
/// answers OK. An odd number of arguments is an arity error, before the key is looked at.
fn set_pairs(ctx: &mut Ctx, argv: &[&[u8]], answer_count: bool) -> CommandResult {
    if argv.len() % 2 == 1 {
        return Err(errors::wrong_arity(ctx.cmd.full_name).into());
    }
    let limits = hash_limits(&ctx.state.config);
    let mut hash = ctx.write_or_create::<HashValue>(argv[1], new_hash)?;
    hash.prepare_for(&argv[2..], limits);
    let mut created = 0;
    for pair in argv[2..].chunks_exact(2) {
        created += hash.set(pair[0], pair[1], limits) as i64;
    }
    hash.changed((argv.len() as u64 - 2) / 2, "hset");
    drop(hash);
    if answer_count {
        ctx.out.int(created);
    } else {
        ctx.out.ok();
    }
    Ok(Done)
}

/// `HSET key field value [field value ...]`
fn hset(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    set_pairs(ctx, argv, true)
}

/// `HMSET key field value [field value ...]`
fn hmset(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    set_pairs(ctx, argv, false)
}

/// `HSETNX key field value`: 1 when the field was set, 0 when it already existed.
fn hsetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let limits = hash_limits(&ctx.state.config);
    let mut hash = ctx.write_or_create::<HashValue>(argv[1], new_hash)?;
    let set = !hash.contains(argv[2]);
    if set {
        hash.prepare_for(&argv[2..4], limits);
        hash.set(argv[2], argv[3], limits);
        hash.changed(1, "hset");
    }
    drop(hash);
    ctx.out.int(set as i64);
    Ok(Done)
}

/// `HGET key field`: the value, or null.
fn hget(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    match db.read::<HashValue>(argv[1])?.and_then(|h| h.get(argv[2])) {
        Some(value) => out.bulk(&value),
        None => out.null(),
    }
    Ok(Done)
}

/// `HMGET key field [field ...]`: one value or null per field; a missing key is an empty
/// hash.
fn hmget(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::reply_per_member::<HashValue>(ctx, argv, |out, hash, field| {
        let value = hash.and_then(|h| h.get(field));
        match value {
            Some(value) => out.bulk(&value),
            None => out.null(),
        }
    })
}

/// `HDEL key field [field ...]`: how many fields were removed.
fn hdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::remove_members::<HashValue>(ctx, argv, "hdel")
}

/// `HLEN key`
fn hlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::reply_len(ctx, argv[1], HashValue::len)
}

/// `HEXISTS key field`: 1 or 0.
fn hexists(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let found = ctx
        .read::<HashValue>(argv[1])?
        .is_some_and(|h| h.contains(argv[2]));
    ctx.out.int(found as i64);
    Ok(Done)
}

/// `HSTRLEN key field`: the length of the value, 0 when there is none.
fn hstrlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let len = ctx
        .read::<HashValue>(argv[1])?
        .and_then(|h| h.get(argv[2]))
        .map_or(0, |v| v.len());
    ctx.out.int(len as i64);
    Ok(Done)
}

/// What `genericHgetallCommand` answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Fields,
    Values,
    Both,
}

/// HKEYS, HVALS and HGETALL: HGETALL answers a map (an empty map for a missing key), the
/// others an array.
fn get_all(ctx: &mut Ctx, argv: &[&[u8]], parts: Parts) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    let hash = db.read::<HashValue>(argv[1])?;
    let len = hash.map_or(0, |h| h.len());
    if parts == Parts::Both {
        out.map(len);
    } else {
        out.array(len);
    }
    for (field, value) in hash.into_iter().flat_map(|h| h.iter()) {
        if parts != Parts::Values {
            out.bulk(&field);
        }
        if parts != Parts::Fields {
            out.bulk(&value);
        }
    }
    Ok(Done)
}

/// `HGETALL key`
fn hgetall(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    get_all(ctx, argv, Parts::Both)
}

/// `HKEYS key`
fn hkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    get_all(ctx, argv, Parts::Fields)
}

/// `HVALS key`
fn hvals(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    get_all(ctx, argv, Parts::Values)
}

/// `HINCRBY key field increment`: the increment is checked first, then the key's type,
/// then the field's value (`ERR hash value is not an integer`), then overflow.
fn hincrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let by = parse_i64(argv[3]).ok_or(errors::NOT_INTEGER)?;
    let limits = hash_limits(&ctx.state.config);
    let mut hash = ctx.write_or_create::<HashValue>(argv[1], new_hash)?;
    let current = match hash.get(argv[2]) {
        None => 0,
        Some(text) => parse_i64(&text).ok_or(errors::HASH_VALUE_NOT_INTEGER)?,
    };
    let sum = current.checked_add(by).ok_or(errors::OVERFLOW)?;
    let mut text = itoa::Buffer::new();
    hash.set(argv[2], text.format(sum).as_bytes(), limits);
    hash.changed(1, "hincrby");
    drop(hash);
    ctx.out.int(sum);
    Ok(Done)
}

/// `HINCRBYFLOAT key field increment`: long double arithmetic, the result written as
/// `%.17Lf` less its trailing zeros, like INCRBYFLOAT.
fn hincrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let by = LongDouble::parse(argv[3]).ok_or(errors::NOT_FLOAT)?;
    if !by.is_finite() {
        return Err(errors::NAN_OR_INFINITY_VALUE.into());
    }
    let limits = hash_limits(&ctx.state.config);
    let mut hash = ctx.write_or_create::<HashValue>(argv[1], new_hash)?;
    let current = match hash.get(argv[2]) {
        None => LongDouble::ZERO,
        Some(text) => LongDouble::parse(&text).ok_or(errors::HASH_VALUE_NOT_FLOAT)?,
    };
    let sum = current.add(by);
    if !sum.is_finite() {
        return Err(errors::NAN_OR_INFINITY.into());
    }
    let text = sum.to_human_string();
    hash.set(argv[2], text.as_bytes(), limits);
    hash.changed(1, "hincrbyfloat");
    drop(hash);
    ctx.out.bulk(text.as_bytes());
    Ok(Done)
}

/// `HRANDFIELD key [count [WITHVALUES]]`: one random field (or null); with a count an
/// array: up to `count` distinct fields, or for a negative count exactly |count| fields
/// that may repeat. WITHVALUES adds each value after its field, flat in RESP2 and as
/// [field, value] pairs in RESP3. The count (which must fit `-LONG_MAX..=LONG_MAX`, and
/// half of that with WITHVALUES) and the option are checked before the key.
///
/// The order is Redis's where its encoding fixes it: asked for the whole hash or more, the
/// hash's own order; for a few distinct fields of a listpack, their listpack order; random
/// otherwise.
fn hrandfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut rng = rand::thread_rng();
    if argv.len() == 2 {
        let (mut db, out) = ctx.db_out();
        let pairs = db.read::<HashValue>(argv[1])?.map(HashValue::by_position);
        match pairs.and_then(|p| p.get(rng.gen_range(0..p.len().max(1)))) {
            Some((field, _)) => out.bulk(&field),
            None => out.null(),
        }
        return Ok(Done);
    }
    let count = match parse_i64(argv[2]) {
        None => return Err(errors::NOT_INTEGER.into()),
        Some(i64::MIN) => return Err(errors::SRANDMEMBER_COUNT_RANGE.into()),
        Some(n) => n,
    };
    let with_values = match argv.get(3) {
        None => false,
        Some(arg) if argv.len() == 4 && is_option(arg, "withvalues") => true,
        Some(_) => return Err(errors::SYNTAX.into()),
    };
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(errors::VALUE_OUT_OF_RANGE.into());
    }
    let (mut db, out) = ctx.db_out();
    let Some(hash) = db.read::<HashValue>(argv[1])? else {
        out.array(0);
        return Ok(Done);
    };
    let pairs = hash.by_position();
    let size = pairs.len();
    let wanted = count.unsigned_abs() as usize;
    if wanted == 0 || size == 0 {
        out.array(0);
        return Ok(Done);
    }
    let resp3 = out.resp3();
    let header =
        |out: &mut Reply, n: usize| out.array(if with_values && !resp3 { n * 2 } else { n });
    let reply_pair = |out: &mut Reply, (field, value): (Element, Element)| {
        if with_values && resp3 {
            out.array(2);
        }
        out.bulk(&field);
        if with_values {
            out.bulk(&value);
        }
    };
    let positions: Vec<usize> = if count < 0 || wanted == 1 {
        header(out, wanted);
        for _ in 0..wanted {
            if let Some(pair) = pairs.get(rng.gen_range(0..size)) {
                reply_pair(out, pair);
            }
        }
        return Ok(Done);
    } else if wanted >= size {
        (0..size).collect()
    } else {
        let mut picks = sample_positions(&mut rng, size, wanted);
        if matches!(hash, HashValue::Listpack(_)) && wanted * 3 <= size {
            picks.sort_unstable();
        }
        picks
    };
    header(out, positions.len());
    for pair in positions.into_iter().filter_map(|i| pairs.get(i)) {
        reply_pair(out, pair);
    }
    Ok(Done)
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`: the next cursor and a batch of
/// fields, each followed by its value; MATCH looks at fields only. The cursor is checked
/// first, then the key (a missing one answers an empty scan before the options are read),
/// then the options. A listpack answers whole, with cursor 0; a table by positions
/// (`HashValue::scan`), COUNT counting pairs.
fn hscan(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let cursor = parse_scan_cursor(argv[2]).ok_or(errors::INVALID_CURSOR)?;
    let (mut db, out) = ctx.db_out();
    let Some(hash) = db.read::<HashValue>(argv[1])? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(Done);
    };
    let options = ScanOptions::parse(&argv[3..], false)?;
    let mut batch: Vec<(Element, Element)> = Vec::new();
    let next = hash.scan(cursor, options.count, |field, value| {
        if options.matches(&field) {
            batch.push((field, value));
        }
    });
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.array(batch.len() * 2);
    for (field, value) in batch {
        out.bulk(&field);
        out.bulk(&value);
    }
    Ok(Done)
}
