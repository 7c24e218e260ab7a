//! Set commands: the `set` group of Redis 7.0 for single sets (SADD, SREM, SPOP,
//! SRANDMEMBER, the membership tests, SMEMBERS, SCARD), each reply and error as Redis's
//! `t_set.c` writes them.
//!
//! SMEMBERS and SPOP with a count answer a RESP3 set, SRANDMEMBER with a count an array,
//! as Redis 7.0 does. Random picks are uniform; which members come out differs from
//! Redis's, as it does between two runs of Redis. A set that becomes empty is deleted.

use rand::Rng;

use crate::args::Args;
use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::errors;
use crate::keyspace::Value;
use crate::reply::Reply;
use crate::types::set::Member;
use crate::types::{set_max_intset_entries, SetValue};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("sadd", sadd),
    handler("srem", srem),
    handler("spop", spop),
    handler("scard", scard),
    handler("smembers", smembers),
    handler("sismember", sismember),
    handler("smismember", smismember),
    handler("srandmember", srandmember),
];

fn reply_member(out: &mut Reply, member: Member<'_>) {
    let mut scratch = itoa::Buffer::new();
    out.bulk(member.bytes(&mut scratch));
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
    let (mut db, out) = ctx.db_out();
    let Some(mut set) = db.write::<SetValue>(argv[1])? else {
        return reply_missing(out, count.is_some(), Reply::set);
    };
    let mut rng = rand::thread_rng();
    match count {
        None => {
            match set.pop_random(&mut rng) {
                Some(member) => out.bulk(&member),
                None => out.null(),
            }
            set.changed(1, "spop");
        }
        Some(0) => out.set(0),
        Some(n) if n >= set.len() as u64 => {
            // The whole set, in its own order, as Redis answers this case with SUNION;
            // left empty, the key goes: `spop` is still named, then `del`, as in Redis.
            let all = std::mem::replace(&mut *set, SetValue::Intset(Vec::new()));
            out.set(all.len());
            for member in all.iter() {
                reply_member(out, member);
            }
            set.changed(all.len() as u64, "spop");
        }
        Some(n) => {
            out.set(n as usize);
            for _ in 0..n {
                if let Some(member) = set.pop_random(&mut rng) {
                    out.bulk(&member);
                }
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
    out.array(wanted);
    for &i in &picks {
        if let Some(member) = set.at(i) {
            reply_member(out, member);
        }
    }
    Ok(Done)
}
