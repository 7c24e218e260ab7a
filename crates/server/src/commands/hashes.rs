//! Hash commands: the `hash` group of Redis 7.0 (HSET and friends, the getters, HDEL,
//! the counters), each reply and error as Redis's `t_hash.c` writes them.
//!
//! Encoding conversions follow `hashTypeTryConversion` and `hashTypeSet` (see
//! `types::hash`). HINCRBYFLOAT uses the same x87 long double arithmetic as INCRBYFLOAT,
//! so both print the same digits. A hash that becomes empty is deleted.

use super::strings::long_double::LongDouble;
use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::errors;
use crate::keyspace::Value;
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
];

/// A missing hash, created empty by writes (Redis's `hashTypeLookupWriteOrCreate`).
fn new_hash() -> Value {
    Value::Hash(Box::default())
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
        Some(value) => out.bulk(value),
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
            Some(value) => out.bulk(value),
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
        .map_or(0, <[u8]>::len);
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
            out.bulk(field);
        }
        if parts != Parts::Fields {
            out.bulk(value);
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
        Some(text) => parse_i64(text).ok_or(errors::HASH_VALUE_NOT_INTEGER)?,
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
        Some(text) => LongDouble::parse(text).ok_or(errors::HASH_VALUE_NOT_FLOAT)?,
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
