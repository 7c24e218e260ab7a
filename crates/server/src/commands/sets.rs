//! Set commands: the `set` group of Redis 7.0 for single sets (SADD, SREM, SPOP,
//! SRANDMEMBER, the membership tests, SMEMBERS, SCARD), each reply and error as Redis's
//! `t_set.c` writes them.
//!
//! SMEMBERS and SPOP with a count answer a RESP3 set, SRANDMEMBER with a count an array,
//! as Redis 7.0 does. Random picks are uniform; which members come out differs from
//! Redis's, as it does between two runs of Redis. A set that becomes empty is deleted.

use rand::Rng;

use crate::command::{handler, legacy, CommandResult, Ctx, Entry};
use crate::errors;
use crate::keyspace::{Value, NO_EXPIRY};
use crate::reply::Reply;
use crate::types::set::Member;
use crate::types::{set_max_intset_entries, SetValue};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    legacy("sadd", sadd),
    handler("srem", srem),
    legacy("spop", spop),
    legacy("scard", scard),
    legacy("smembers", smembers),
    legacy("sismember", sismember),
    legacy("smismember", smismember),
    legacy("srandmember", srandmember),
];

fn reply_member(out: &mut Reply, member: Member<'_>) {
    let mut scratch = itoa::Buffer::new();
    out.bulk(member.bytes(&mut scratch));
}

/// `SADD key member [member ...]`: how many members were new. A new key starts as an
/// intset when its first member is an integer.
fn sadd(ctx: &mut Ctx, argv: &[&[u8]]) {
    let max_intset = set_max_intset_entries(&ctx.state.config);
    let key = argv[1];
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let added = match db.get_mut(key, now) {
        Some(entry) => {
            let Value::Set(set) = &mut entry.value else {
                return ctx.out.error(errors::WRONGTYPE);
            };
            argv[2..].iter().filter(|m| set.add(m, max_intset)).count()
        }
        None => {
            let mut set = SetValue::for_first_member(argv[2]);
            let added = argv[2..].iter().filter(|m| set.add(m, max_intset)).count();
            db.set(key, Value::Set(Box::new(set)), NO_EXPIRY);
            added
        }
    };
    ctx.dirty(added as u64);
    ctx.out.int(added as i64);
}

/// `SREM key member [member ...]`: how many members were removed.
fn srem(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::remove_members::<SetValue>(ctx, argv)
}

/// `SCARD key`
fn scard(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    match ctx.state.dbs[ctx.client.db]
        .get(argv[1], now)
        .map(|e| &e.value)
    {
        None => ctx.out.int(0),
        Some(Value::Set(set)) => ctx.out.int(set.len() as i64),
        Some(_) => ctx.out.error(errors::WRONGTYPE),
    }
}

/// `SISMEMBER key member`: 1 or 0.
fn sismember(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    match ctx.state.dbs[ctx.client.db]
        .get(argv[1], now)
        .map(|e| &e.value)
    {
        None => ctx.out.int(0),
        Some(Value::Set(set)) => ctx.out.int(set.contains(argv[2]) as i64),
        Some(_) => ctx.out.error(errors::WRONGTYPE),
    }
}

/// `SMISMEMBER key member [member ...]`: 1 or 0 per member; a missing key is empty.
fn smismember(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let set = match ctx.state.dbs[ctx.client.db]
        .get(argv[1], now)
        .map(|e| &e.value)
    {
        None => None,
        Some(Value::Set(set)) => Some(set),
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    ctx.out.array(argv.len() - 2);
    for member in &argv[2..] {
        ctx.out.int(set.is_some_and(|s| s.contains(member)) as i64);
    }
}

/// `SMEMBERS key`: every member, as a set (ascending for an intset).
fn smembers(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let set = match ctx.state.dbs[ctx.client.db]
        .get(argv[1], now)
        .map(|e| &e.value)
    {
        None => return ctx.out.set(0),
        Some(Value::Set(set)) => set,
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    ctx.out.set(set.len());
    for member in set.iter() {
        reply_member(ctx.out, member);
    }
}

/// `SPOP key [count]`: one random member (or null), or with a count a set of up to that
/// many, removed. The count is checked before the key.
fn spop(ctx: &mut Ctx, argv: &[&[u8]]) {
    if argv.len() > 3 {
        return ctx.out.error(errors::SYNTAX);
    }
    let count = match argv.get(2) {
        None => None,
        Some(arg) => match parse_i64(arg).filter(|n| *n >= 0) {
            Some(n) => Some(n as u64),
            None => return ctx.out.error(errors::MUST_BE_POSITIVE),
        },
    };
    let key = argv[1];
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let set = match db.get_mut(key, now) {
        None if count.is_some() => return ctx.out.set(0),
        None => return ctx.out.null(),
        Some(entry) => match &mut entry.value {
            Value::Set(set) => set,
            _ => return ctx.out.error(errors::WRONGTYPE),
        },
    };
    let mut rng = rand::thread_rng();
    let popped = match count {
        None => {
            match set.pop_random(&mut rng) {
                Some(member) => ctx.out.bulk(&member),
                None => ctx.out.null(),
            }
            1
        }
        Some(0) => return ctx.out.set(0),
        Some(n) if n >= set.len() as u64 => {
            // The whole set, in its own order, as Redis answers this case with SUNION.
            let len = set.len();
            ctx.out.set(len);
            for member in set.iter() {
                reply_member(ctx.out, member);
            }
            db.remove(key, now);
            ctx.dirty(len as u64);
            return;
        }
        Some(n) => {
            ctx.out.set(n as usize);
            for _ in 0..n {
                if let Some(member) = set.pop_random(&mut rng) {
                    ctx.out.bulk(&member);
                }
            }
            n as usize
        }
    };
    if set.is_empty() {
        db.remove(key, now);
    }
    ctx.dirty(popped as u64);
}

/// `SRANDMEMBER key [count]`: one random member (or null); with a positive count up to
/// that many distinct members, with a negative one exactly |count| members that may
/// repeat. Either way an array.
fn srandmember(ctx: &mut Ctx, argv: &[&[u8]]) {
    if argv.len() > 3 {
        return ctx.out.error(errors::SYNTAX);
    }
    let count = match argv.get(2) {
        None => None,
        Some(arg) => match parse_i64(arg) {
            None => return ctx.out.error(errors::NOT_INTEGER),
            Some(i64::MIN) => return ctx.out.error(errors::SRANDMEMBER_COUNT_RANGE),
            Some(n) => Some(n),
        },
    };
    let now = ctx.now;
    let set = match ctx.state.dbs[ctx.client.db]
        .get(argv[1], now)
        .map(|e| &e.value)
    {
        None if count.is_some() => return ctx.out.array(0),
        None => return ctx.out.null(),
        Some(Value::Set(set)) => set,
        Some(_) => return ctx.out.error(errors::WRONGTYPE),
    };
    let mut rng = rand::thread_rng();
    let Some(count) = count else {
        return match set.random(&mut rng) {
            Some(member) => reply_member(ctx.out, member),
            None => ctx.out.null(),
        };
    };
    let len = set.len();
    let wanted = count.unsigned_abs();
    if count == 0 || len == 0 {
        return ctx.out.array(0);
    }
    if count < 0 || wanted == 1 {
        ctx.out.array(wanted as usize);
        for _ in 0..wanted {
            if let Some(member) = set.random(&mut rng) {
                reply_member(ctx.out, member);
            }
        }
        return;
    }
    if wanted >= len as u64 {
        ctx.out.array(len);
        for member in set.iter() {
            reply_member(ctx.out, member);
        }
        return;
    }
    // Distinct positions: a partial Fisher-Yates shuffle when most of the set is wanted,
    // rejection sampling when few are (no index array the size of the set).
    let wanted = wanted as usize;
    let picks: Vec<usize> = if wanted * 3 > len {
        let mut all: Vec<usize> = (0..len).collect();
        for i in 0..wanted {
            let j = rng.gen_range(i..len);
            all.swap(i, j);
        }
        all.truncate(wanted);
        all
    } else {
        let mut seen = hashbrown::HashSet::with_capacity(wanted);
        let mut picks = Vec::with_capacity(wanted);
        while picks.len() < wanted {
            let i = rng.gen_range(0..len);
            if seen.insert(i) {
                picks.push(i);
            }
        }
        picks
    };
    ctx.out.array(wanted);
    for &i in &picks {
        if let Some(member) = set.at(i) {
            reply_member(ctx.out, member);
        }
    }
}
