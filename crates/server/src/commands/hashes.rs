//! Hash commands: the `hash` group of Redis 7.0 (HSET and friends, the getters, HDEL,
//! the counters), each reply and error as Redis's `t_hash.c` writes them.
//!
//! Encoding conversions follow `hashTypeTryConversion` and `hashTypeSet` (see
//! `types::hash`). HINCRBYFLOAT uses the same x87 long double arithmetic as INCRBYFLOAT,
//! so both print the same digits. A hash that becomes empty is deleted.

use super::strings::long_double::LongDouble;
use crate::command::{legacy, Ctx, Entry};
use crate::errors;
use crate::keyspace::{Db, Millis, Value, NO_EXPIRY};
use crate::reply::Reply;
use crate::types::{hash_limits, HashValue};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    legacy("hset", hset),
    legacy("hsetnx", hsetnx),
    legacy("hget", hget),
    legacy("hmget", hmget),
    legacy("hmset", hmset),
    legacy("hdel", hdel),
    legacy("hlen", hlen),
    legacy("hexists", hexists),
    legacy("hgetall", hgetall),
    legacy("hkeys", hkeys),
    legacy("hvals", hvals),
    legacy("hincrby", hincrby),
    legacy("hincrbyfloat", hincrbyfloat),
    legacy("hstrlen", hstrlen),
];

/// The hash at `key` for reading. `Err` after replying WRONGTYPE; `Ok(None)` when missing.
fn read<'a>(
    db: &'a mut Db,
    out: &mut Reply,
    key: &[u8],
    now: Millis,
) -> Result<Option<&'a HashValue>, ()> {
    match db.get(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => {
            out.error(errors::WRONGTYPE);
            Err(())
        }
    }
}

/// The hash at `key` for writing, created empty when missing and `create` is set (Redis's
/// `hashTypeLookupWriteOrCreate`). `Err` when the key holds another type.
fn write<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: Millis,
    create: bool,
) -> Result<Option<&'a mut HashValue>, ()> {
    if create && !db.contains(key, now) {
        db.set(key, Value::Hash(Box::default()), NO_EXPIRY);
    }
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(entry) => match &mut entry.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(()),
        },
    }
}

/// HSET and HMSET: every pair set in order; HSET answers how many fields were new, HMSET
/// answers OK. An odd number of arguments is an arity error, before the key is looked at.
fn set_pairs(ctx: &mut Ctx, argv: &[&[u8]], answer_count: bool) {
    if argv.len() % 2 == 1 {
        return ctx.out.error(&errors::wrong_arity(ctx.cmd.full_name));
    }
    let limits = hash_limits(&ctx.state.config);
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Ok(Some(hash)) = write(db, argv[1], now, true) else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    hash.prepare_for(&argv[2..], limits);
    let mut created = 0;
    for pair in argv[2..].chunks_exact(2) {
        created += hash.set(pair[0], pair[1], limits) as i64;
    }
    ctx.dirty((argv.len() as u64 - 2) / 2);
    if answer_count {
        ctx.out.int(created);
    } else {
        ctx.out.ok();
    }
}

/// `HSET key field value [field value ...]`
fn hset(ctx: &mut Ctx, argv: &[&[u8]]) {
    set_pairs(ctx, argv, true);
}

/// `HMSET key field value [field value ...]`
fn hmset(ctx: &mut Ctx, argv: &[&[u8]]) {
    set_pairs(ctx, argv, false);
}

/// `HSETNX key field value`: 1 when the field was set, 0 when it already existed.
fn hsetnx(ctx: &mut Ctx, argv: &[&[u8]]) {
    let limits = hash_limits(&ctx.state.config);
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Ok(Some(hash)) = write(db, argv[1], now, true) else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    if hash.contains(argv[2]) {
        return ctx.out.int(0);
    }
    hash.prepare_for(&argv[2..4], limits);
    hash.set(argv[2], argv[3], limits);
    ctx.dirty(1);
    ctx.out.int(1);
}

/// `HGET key field`: the value, or null.
fn hget(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Ok(hash) = read(&mut ctx.state.dbs[ctx.client.db], ctx.out, argv[1], ctx.now) else {
        return;
    };
    match hash.and_then(|h| h.get(argv[2])) {
        Some(value) => ctx.out.bulk(value),
        None => ctx.out.null(),
    }
}

/// `HMGET key field [field ...]`: one value or null per field; a missing key is an empty
/// hash.
fn hmget(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let hash = match ctx.state.dbs[ctx.client.db]
        .get(argv[1], now)
        .map(|e| &e.value)
    {
        None => None,
        Some(Value::Hash(h)) => Some(h),
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    ctx.out.array(argv.len() - 2);
    for field in &argv[2..] {
        match hash.and_then(|h| h.get(field)) {
            Some(value) => ctx.out.bulk(value),
            None => ctx.out.null(),
        }
    }
}

/// `HDEL key field [field ...]`: how many fields were removed.
fn hdel(ctx: &mut Ctx, argv: &[&[u8]]) {
    super::remove_members::<HashValue>(ctx, argv);
}

/// `HLEN key`
fn hlen(ctx: &mut Ctx, argv: &[&[u8]]) {
    if let Ok(hash) = read(&mut ctx.state.dbs[ctx.client.db], ctx.out, argv[1], ctx.now) {
        let len = hash.map_or(0, |h| h.len());
        ctx.out.int(len as i64);
    }
}

/// `HEXISTS key field`: 1 or 0.
fn hexists(ctx: &mut Ctx, argv: &[&[u8]]) {
    if let Ok(hash) = read(&mut ctx.state.dbs[ctx.client.db], ctx.out, argv[1], ctx.now) {
        let found = hash.is_some_and(|h| h.contains(argv[2]));
        ctx.out.int(found as i64);
    }
}

/// `HSTRLEN key field`: the length of the value, 0 when there is none.
fn hstrlen(ctx: &mut Ctx, argv: &[&[u8]]) {
    if let Ok(hash) = read(&mut ctx.state.dbs[ctx.client.db], ctx.out, argv[1], ctx.now) {
        let len = hash.and_then(|h| h.get(argv[2])).map_or(0, <[u8]>::len);
        ctx.out.int(len as i64);
    }
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
fn get_all(ctx: &mut Ctx, argv: &[&[u8]], parts: Parts) {
    let now = ctx.now;
    let hash = match ctx.state.dbs[ctx.client.db]
        .get(argv[1], now)
        .map(|e| &e.value)
    {
        None if parts == Parts::Both => return ctx.out.map(0),
        None => return ctx.out.array(0),
        Some(Value::Hash(h)) => h,
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    if parts == Parts::Both {
        ctx.out.map(hash.len());
    } else {
        ctx.out.array(hash.len());
    }
    for (field, value) in hash.iter() {
        if parts != Parts::Values {
            ctx.out.bulk(field);
        }
        if parts != Parts::Fields {
            ctx.out.bulk(value);
        }
    }
}

/// `HGETALL key`
fn hgetall(ctx: &mut Ctx, argv: &[&[u8]]) {
    get_all(ctx, argv, Parts::Both);
}

/// `HKEYS key`
fn hkeys(ctx: &mut Ctx, argv: &[&[u8]]) {
    get_all(ctx, argv, Parts::Fields);
}

/// `HVALS key`
fn hvals(ctx: &mut Ctx, argv: &[&[u8]]) {
    get_all(ctx, argv, Parts::Values);
}

/// `HINCRBY key field increment`: the increment is checked first, then the key's type,
/// then the field's value (`ERR hash value is not an integer`), then overflow.
fn hincrby(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Some(by) = parse_i64(argv[3]) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    let limits = hash_limits(&ctx.state.config);
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Ok(hash) = write(db, argv[1], now, false) else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    let current = match hash.as_ref().and_then(|h| h.get(argv[2])) {
        None => 0,
        Some(text) => match parse_i64(text) {
            Some(n) => n,
            None => return ctx.out.error(errors::HASH_VALUE_NOT_INTEGER),
        },
    };
    let Some(sum) = current.checked_add(by) else {
        return ctx.out.error(errors::OVERFLOW);
    };
    let mut text = itoa::Buffer::new();
    let text = text.format(sum).as_bytes();
    set_field(db, argv[1], argv[2], text, now, limits);
    ctx.dirty(1);
    ctx.out.int(sum);
}

/// Sets one field, creating the hash when it is missing.
fn set_field(
    db: &mut Db,
    key: &[u8],
    field: &[u8],
    value: &[u8],
    now: Millis,
    limits: crate::types::HashLimits,
) {
    if let Ok(Some(hash)) = write(db, key, now, true) {
        hash.set(field, value, limits);
    }
}

/// `HINCRBYFLOAT key field increment`: long double arithmetic, the result written as
/// `%.17Lf` less its trailing zeros, like INCRBYFLOAT.
fn hincrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Some(by) = LongDouble::parse(argv[3]) else {
        return ctx.out.error(errors::NOT_FLOAT);
    };
    if !by.is_finite() {
        return ctx.out.error(errors::NAN_OR_INFINITY_VALUE);
    }
    let limits = hash_limits(&ctx.state.config);
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Ok(hash) = write(db, argv[1], now, false) else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    let current = match hash.as_ref().and_then(|h| h.get(argv[2])) {
        None => LongDouble::ZERO,
        Some(text) => match LongDouble::parse(text) {
            Some(v) => v,
            None => return ctx.out.error(errors::HASH_VALUE_NOT_FLOAT),
        },
    };
    let sum = current.add(by);
    if !sum.is_finite() {
        return ctx.out.error(errors::NAN_OR_INFINITY);
    }
    let text = sum.to_human_string();
    set_field(db, argv[1], argv[2], text.as_bytes(), now, limits);
    ctx.dirty(1);
    ctx.out.bulk(text.as_bytes());
}
