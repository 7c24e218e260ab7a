//! Keyspace (`generic` group) commands: DEL, UNLINK, EXISTS, TYPE, TOUCH, the EXPIRE and
//! TTL families, PERSIST, KEYS, SCAN, RENAME(NX), RANDOMKEY, COPY, MOVE, SWAPDB, OBJECT.
//!
//! They work on any value type and never look inside one, except COPY (which duplicates a
//! value) and OBJECT (which reports how it is stored). Every lookup goes through `Db`, so
//! lazy expiry applies on each of them; which lookups count as keyspace hits or misses
//! follows Redis 7.0 (read lookups count, write lookups do not).

use crate::command::{legacy, Ctx, Entry};
use crate::errors::{self, c_string};
use crate::keyspace::{Key, Millis, Value, NO_EXPIRY};
use crate::util::{glob_match, parse_i64};

// Metadata as Redis 7.0.15 reports it (COMMAND INFO and COMMAND DOCS).
/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    legacy("del", del),
    legacy("unlink", del),
    legacy("exists", exists),
    legacy("type", type_),
    legacy("touch", exists),
    legacy("expire", expire),
    legacy("pexpire", pexpire),
    legacy("expireat", expireat),
    legacy("pexpireat", pexpireat),
    legacy("ttl", ttl),
    legacy("pttl", pttl),
    legacy("expiretime", expiretime),
    legacy("pexpiretime", pexpiretime),
    legacy("persist", persist),
    legacy("keys", keys_),
    legacy("scan", scan),
    legacy("rename", rename),
    legacy("renamenx", renamenx),
    legacy("randomkey", randomkey),
    legacy("copy", copy),
    legacy("move", move_),
    legacy("swapdb", swapdb),
    legacy("object", object),
    legacy("object|encoding", object_encoding),
    legacy("object|freq", object_freq),
    legacy("object|help", object_help),
    legacy("object|idletime", object_idletime),
    legacy("object|refcount", object_refcount),
];

/// True when `arg` is the option `name` as C's `strcasecmp` sees it: any letter case, and
/// the argument ends at its first NUL.
fn is_option(arg: &[u8], name: &str) -> bool {
    c_string(arg).eq_ignore_ascii_case(name.as_bytes())
}

/// Parses a database index as `getIntFromObjectOrReply` does: an integer that fits a C
/// `int`. The error, if any, is the reply to send.
fn parse_int32(arg: &[u8]) -> Result<i64, &'static str> {
    let n = parse_i64(arg).ok_or(errors::NOT_INTEGER)?;
    if i32::try_from(n).is_err() {
        return Err(errors::NOT_INT32);
    }
    Ok(n)
}

/// A database index that exists, for MOVE and COPY DB.
fn parse_db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, &'static str> {
    let n = parse_int32(arg)?;
    usize::try_from(n)
        .ok()
        .filter(|&i| i < ctx.state.dbs.len())
        .ok_or(errors::DB_INDEX_OUT_OF_RANGE)
}

// --- DEL, UNLINK, EXISTS, TOUCH, TYPE ------------------------------------------------

/// `DEL key [key ...]` and `UNLINK key [key ...]`: the number of keys removed (a key named
/// twice is removed once). Values are freed at once: with no lazy-free thread, UNLINK is
/// DEL.
fn del(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let db = ctx.raw_db();
    let removed = argv[1..]
        .iter()
        .filter(|k| db.remove(k, now).is_some())
        .count();
    ctx.dirty(removed as u64);
    ctx.out.int(removed as i64);
}

/// `EXISTS key [key ...]` and `TOUCH key [key ...]`: how many of the keys exist, a key named
/// twice counting twice. TOUCH would refresh the access time, which is not tracked.
fn exists(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let db = ctx.raw_db();
    let found = argv[1..]
        .iter()
        .filter(|k| db.get(k, now).is_some())
        .count();
    ctx.out.int(found as i64);
}

/// `TYPE key`: `+string`, `+list`, ... or `+none`.
fn type_(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let name = ctx
        .raw_db()
        .get(argv[1], now)
        .map_or("none", |e| e.value.type_name());
    ctx.out.simple(name);
}

// --- EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, PERSIST -----------------------------------

/// The NX/XX/GT/LT conditions of the EXPIRE family.
#[derive(Clone, Copy, Default)]
struct ExpireCondition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCondition {
    /// Parses the options after `key time`, with Redis's errors in Redis's order: an
    /// unknown option first, then the incompatible pairs.
    fn parse(args: &[&[u8]]) -> Result<ExpireCondition, Vec<u8>> {
        let mut c = ExpireCondition::default();
        for arg in args {
            if is_option(arg, "nx") {
                c.nx = true;
            } else if is_option(arg, "xx") {
                c.xx = true;
            } else if is_option(arg, "gt") {
                c.gt = true;
            } else if is_option(arg, "lt") {
                c.lt = true;
            } else {
                return Err(errors::unsupported_option(arg));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(errors::EXPIRE_NX_WITH_OTHERS.as_bytes().to_vec());
        }
        if c.gt && c.lt {
            return Err(errors::EXPIRE_GT_AND_LT.as_bytes().to_vec());
        }
        Ok(c)
    }

    /// Whether a key whose TTL is `current` (`NO_EXPIRY`: none) may get `when`. A key
    /// without a TTL counts as an infinite one for GT and LT.
    fn allows(self, current: Millis, when: Millis) -> bool {
        let persistent = current == NO_EXPIRY;
        !((self.nx && !persistent)
            || (self.xx && persistent)
            || (self.gt && (persistent || when <= current))
            || (self.lt && !persistent && when >= current))
    }
}

fn expire(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    expire_generic(ctx, argv, now, 1000);
}

fn pexpire(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    expire_generic(ctx, argv, now, 1);
}

fn expireat(ctx: &mut Ctx, argv: &[&[u8]]) {
    expire_generic(ctx, argv, 0, 1000);
}

fn pexpireat(ctx: &mut Ctx, argv: &[&[u8]]) {
    expire_generic(ctx, argv, 0, 1);
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and its millisecond and absolute forms: 1 when the
/// TTL was set, 0 when the key is missing or the condition failed. A time that is already
/// past deletes the key (and still answers 1). `unit` is 1000 for seconds, 1 for ms;
/// `basetime` is now for the relative forms, 0 for the absolute ones.
fn expire_generic(ctx: &mut Ctx, argv: &[&[u8]], basetime: Millis, unit: i64) {
    let condition = match ExpireCondition::parse(&argv[3..]) {
        Ok(c) => c,
        Err(msg) => return ctx.out.error_bytes(&msg),
    };
    let Some(when) = parse_i64(argv[2]) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
    // Negative times are allowed (they delete the key); only overflow is an error.
    let Some(when) = when
        .checked_mul(unit)
        .filter(|&w| w <= i64::MAX - basetime)
        .map(|w| w + basetime)
    else {
        return ctx
            .out
            .error(&errors::invalid_expire_time(ctx.cmd.full_name));
    };
    let now = ctx.now;
    let db = ctx.raw_db();
    let Some(current) = db.get_mut(argv[1], now).map(|e| e.expire_at) else {
        return ctx.out.int(0);
    };
    if !condition.allows(current, when) {
        return ctx.out.int(0);
    }
    if when <= now {
        db.remove(argv[1], now);
    } else {
        db.set_expire(argv[1], when, now);
    }
    ctx.dirty(1);
    ctx.out.int(1);
}

/// `PERSIST key`: 1 when a TTL was removed, 0 when the key is missing or had none.
fn persist(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let db = ctx.raw_db();
    let had_ttl = db
        .get_mut(argv[1], now)
        .is_some_and(|e| e.expire_at != NO_EXPIRY);
    if had_ttl {
        db.set_expire(argv[1], NO_EXPIRY, now);
        ctx.dirty(1);
    }
    ctx.out.int(had_ttl as i64);
}

// --- TTL, PTTL, EXPIRETIME, PEXPIRETIME ----------------------------------------------

fn ttl(ctx: &mut Ctx, argv: &[&[u8]]) {
    ttl_generic(ctx, argv, false, false);
}

fn pttl(ctx: &mut Ctx, argv: &[&[u8]]) {
    ttl_generic(ctx, argv, true, false);
}

fn expiretime(ctx: &mut Ctx, argv: &[&[u8]]) {
    ttl_generic(ctx, argv, false, true);
}

fn pexpiretime(ctx: &mut Ctx, argv: &[&[u8]]) {
    ttl_generic(ctx, argv, true, true);
}

/// `TTL key` and friends: -2 for a missing key, -1 for a key without a TTL, else the time
/// left (or, `absolute`, the expiry time), in ms or in seconds rounded to the nearest.
fn ttl_generic(ctx: &mut Ctx, argv: &[&[u8]], ms: bool, absolute: bool) {
    let now = ctx.now;
    let Some(expire_at) = ctx.raw_db().get(argv[1], now).map(|e| e.expire_at) else {
        return ctx.out.int(-2);
    };
    if expire_at == NO_EXPIRY {
        return ctx.out.int(-1);
    }
    let t = if absolute {
        expire_at
    } else {
        expire_at.saturating_sub(now)
    }
    .max(0);
    // Rounded in 128 bits: a TTL near i64::MAX must not wrap (Redis's answer is the
    // mathematically rounded one there too).
    let reply = if ms {
        t
    } else {
        ((t as i128 + 500) / 1000) as i64
    };
    ctx.out.int(reply);
}

// --- KEYS, SCAN, RANDOMKEY -------------------------------------------------------------

/// `KEYS pattern`: every key matching the glob. Expired keys are left out but, as in
/// Redis, not deleted here.
fn keys_(ctx: &mut Ctx, argv: &[&[u8]]) {
    let (now, pattern) = (ctx.now, argv[1]);
    let all = pattern == b"*";
    let db = &ctx.state.dbs[ctx.client.db];
    let found: Vec<&[u8]> = db
        .dict
        .iter()
        .filter(|e| !e.is_expired(now) && (all || glob_match(pattern, &e.key, false)))
        .map(|e| e.key.as_slice())
        .collect();
    ctx.out.bulks(found.into_iter());
}

/// Parses a SCAN cursor as Redis does, with `strtoul`: an optional sign, decimal digits,
/// the argument ending at its first NUL; a leading space, any other byte or an overflow
/// is an invalid cursor. (So `""` is 0, and `-1` wraps to `u64::MAX`.)
fn parse_scan_cursor(arg: &[u8]) -> Option<u64> {
    let s = c_string(arg);
    let (negative, digits) = match s.first() {
        Some(b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') => return None,
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        // No digits: strtoul stops at the start, which is fine only if that is the end.
        return s.is_empty().then_some(0);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`: the next cursor and a batch of
/// keys. The cursor is a slot index of the key dictionary, whose entries never move, so a
/// key present for the whole iteration is returned (once, unless deleted and re-added).
/// COUNT bounds the keys looked at, before MATCH and TYPE filter them, as in Redis.
fn scan(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Some(cursor) = parse_scan_cursor(argv[1]) else {
        return ctx.out.error(errors::INVALID_CURSOR);
    };
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut type_name: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        let has_value = argv.len() - i >= 2;
        if is_option(argv[i], "count") && has_value {
            count = match parse_i64(argv[i + 1]) {
                Some(n) if n >= 1 => n,
                Some(_) => return ctx.out.error(errors::SYNTAX),
                None => return ctx.out.error(errors::NOT_INTEGER),
            };
        } else if is_option(argv[i], "match") && has_value {
            // "*" matches everything: the same as no pattern.
            pattern = Some(argv[i + 1]).filter(|p| *p != b"*");
        } else if is_option(argv[i], "type") && has_value {
            type_name = Some(c_string(argv[i + 1]));
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        i += 2;
    }

    let now = ctx.now;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let db = ctx.raw_db();
    let mut batch: Vec<Key> = Vec::with_capacity(count.min(1024));
    let next = match usize::try_from(cursor) {
        Ok(cursor) => db.dict.scan_slots(cursor, count.saturating_mul(10), |e| {
            batch.push(e.key.clone());
            batch.len() < count
        }),
        Err(_) => 0,
    };
    batch.retain(|key| {
        if pattern.is_some_and(|p| !glob_match(p, key, false)) {
            return false;
        }
        if let Some(wanted) = type_name {
            // Redis looks the key up to learn its type: an expired key is deleted there
            // and has type "none", and is then not filtered again as expired.
            let Some(entry) = db.get(key, now) else {
                return wanted.eq_ignore_ascii_case(b"none");
            };
            if !wanted.eq_ignore_ascii_case(entry.value.type_name().as_bytes()) {
                return false;
            }
        }
        db.contains(key, now)
    });
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.bulks(batch.iter());
}

/// `RANDOMKEY`: a random key, or null when the database is empty.
fn randomkey(ctx: &mut Ctx, _argv: &[&[u8]]) {
    let now = ctx.now;
    match ctx.raw_db().random_key(now, &mut rand::thread_rng()) {
        Some(key) => ctx.out.bulk(&key),
        None => ctx.out.null(),
    }
}

// --- RENAME, RENAMENX, COPY, MOVE, SWAPDB -------------------------------------------

fn rename(ctx: &mut Ctx, argv: &[&[u8]]) {
    rename_generic(ctx, argv, false);
}

fn renamenx(ctx: &mut Ctx, argv: &[&[u8]]) {
    rename_generic(ctx, argv, true);
}

/// `RENAME key newkey` (`+OK`) and `RENAMENX key newkey` (1, or 0 when `newkey` exists).
/// The TTL moves with the value; an existing `newkey` is replaced (RENAME). Renaming a
/// key to itself changes nothing but still needs the key to exist.
fn rename_generic(ctx: &mut Ctx, argv: &[&[u8]], nx: bool) {
    let (now, src, dst) = (ctx.now, argv[1], argv[2]);
    let db = ctx.raw_db();
    if !db.contains(src, now) {
        return ctx.out.error(errors::NO_SUCH_KEY);
    }
    if src == dst {
        return if nx { ctx.out.int(0) } else { ctx.out.ok() };
    }
    // Looked up even without NX: an expired destination is expired (and counted) first.
    if db.contains(dst, now) && nx {
        return ctx.out.int(0);
    }
    if let Some(entry) = db.remove(src, now) {
        db.set(dst, entry.value, entry.expire_at);
    }
    ctx.dirty(1);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
}

/// `COPY source destination [DB destination-db] [REPLACE]`: 1 when copied, 0 when the
/// source is missing or the destination exists (without REPLACE). The TTL is copied too.
fn copy(ctx: &mut Ctx, argv: &[&[u8]]) {
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < argv.len() {
        if is_option(argv[j], "replace") {
            replace = true;
        } else if is_option(argv[j], "db") && j + 1 < argv.len() {
            dst_db = match parse_db_index(ctx, argv[j + 1]) {
                Ok(i) => i,
                Err(msg) => return ctx.out.error(msg),
            };
            j += 1;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        j += 1;
    }
    let (now, src, dst) = (ctx.now, argv[1], argv[2]);
    if src_db == dst_db && src == dst {
        return ctx.out.error(errors::SAME_OBJECT);
    }
    let Some((value, expire_at)) = ctx.state.dbs[src_db]
        .get(src, now)
        .map(|e| (e.value.clone(), e.expire_at))
    else {
        return ctx.out.int(0);
    };
    let target = &mut ctx.state.dbs[dst_db];
    if target.contains(dst, now) && !replace {
        return ctx.out.int(0);
    }
    target.set(dst, value, expire_at);
    ctx.dirty(1);
    ctx.out.int(1);
}

/// `MOVE key db`: 1 when the key moved to database `db` (with its TTL), 0 when it is
/// missing here or already exists there.
fn move_(ctx: &mut Ctx, argv: &[&[u8]]) {
    let dst_db = match parse_db_index(ctx, argv[2]) {
        Ok(i) => i,
        Err(msg) => return ctx.out.error(msg),
    };
    let (now, key, src_db) = (ctx.now, argv[1], ctx.client.db);
    if dst_db == src_db {
        return ctx.out.error(errors::SAME_OBJECT);
    }
    if !ctx.state.dbs[src_db].contains(key, now) || ctx.state.dbs[dst_db].contains(key, now) {
        return ctx.out.int(0);
    }
    if let Some(entry) = ctx.state.dbs[src_db].remove(key, now) {
        ctx.state.dbs[dst_db].set(key, entry.value, entry.expire_at);
    }
    ctx.dirty(1);
    ctx.out.int(1);
}

/// `SWAPDB index1 index2`: exchanges two databases' contents; clients stay on their index.
fn swapdb(ctx: &mut Ctx, argv: &[&[u8]]) {
    let first = parse_int32(argv[1]).map_err(|_| errors::INVALID_FIRST_DB_INDEX);
    let second = parse_int32(argv[2]).map_err(|_| errors::INVALID_SECOND_DB_INDEX);
    let (a, b) = match (first, second) {
        (Err(msg), _) | (_, Err(msg)) => return ctx.out.error(msg),
        (Ok(a), Ok(b)) => (a, b),
    };
    let dbs = ctx.state.dbs.len();
    let index = |n: i64| usize::try_from(n).ok().filter(|&i| i < dbs);
    let (Some(a), Some(b)) = (index(a), index(b)) else {
        return ctx.out.error(errors::DB_INDEX_OUT_OF_RANGE);
    };
    ctx.state.dbs.swap(a, b);
    ctx.dirty(1);
    ctx.out.ok();
}

// --- OBJECT ------------------------------------------------------------------------------

/// `OBJECT` itself only runs when the table finds no subcommand, which `execute` already
/// answers; this is Redis's own fallback reply, for completeness.
fn object(ctx: &mut Ctx, argv: &[&[u8]]) {
    let sub = argv.get(1).copied().unwrap_or_default();
    let mut msg = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    let sub = c_string(sub);
    msg.extend_from_slice(&sub[..sub.len().min(128)]);
    msg.extend_from_slice(b"'. Try OBJECT HELP.");
    ctx.out.error_bytes(&msg);
}

const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

/// `OBJECT HELP`: Redis's help lines as status replies, framed like every HELP.
fn object_help(ctx: &mut Ctx, argv: &[&[u8]]) {
    let name = String::from_utf8_lossy(c_string(argv[0])).to_ascii_uppercase();
    ctx.out.array(OBJECT_HELP.len() + 3);
    ctx.out.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for line in OBJECT_HELP {
        ctx.out.simple(line);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// Redis shares the objects of the integers 0..10000 (`OBJ_SHARED_INTEGERS`) and reports
/// their refcount as `INT_MAX`.
const SHARED_INTEGERS: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// Whether `maxmemory-policy` is an LFU one (`allkeys-lfu`, `volatile-lfu`): Redis then
/// keeps an access-frequency counter instead of an access time, and OBJECT FREQ and
/// IDLETIME trade which one errors.
fn lfu_policy_selected(ctx: &Ctx) -> bool {
    ctx.state
        .config
        .value("maxmemory-policy")
        .is_some_and(|p| p.ends_with("-lfu"))
}

/// The counter Redis gives a new value under an LFU policy (`LFU_INIT_VAL`).
const LFU_INIT_VAL: i64 = 5;

/// Whether Redis shares its integer objects 0..10000 between keys: unless a `maxmemory`
/// limit with an LRU or LFU policy turns sharing off (each value then needs its own access
/// data). Redis decides when a value is written; this asks at read time.
fn integers_shared(ctx: &Ctx) -> bool {
    let config = &ctx.state.config;
    let no_limit = config.value("maxmemory").is_none_or(|m| m == "0");
    let policy = config.value("maxmemory-policy").unwrap_or_default();
    no_limit || !(policy.ends_with("-lru") || policy.ends_with("-lfu"))
}

/// Looks up OBJECT's key (argv[2]) as a read, answering null when it is missing. When it
/// exists: whether Redis would hold its value as a shared integer object.
fn object_lookup(ctx: &mut Ctx, argv: &[&[u8]]) -> Option<bool> {
    let now = ctx.now;
    let small_int = ctx
        .raw_db()
        .get(argv[2], now)
        .map(|e| matches!(e.value, Value::Int(n) if (0..SHARED_INTEGERS).contains(&n)));
    match small_int {
        None => {
            ctx.out.null();
            None
        }
        Some(small_int) => Some(small_int && integers_shared(ctx)),
    }
}

/// `OBJECT ENCODING key`: `int`, `embstr`, `raw`, ... as Redis would store the value.
fn object_encoding(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    match db.get(argv[2], now) {
        None => ctx.out.null(),
        Some(entry) => ctx.out.bulk(entry.value.encoding().as_bytes()),
    }
}

/// `OBJECT REFCOUNT key`: values are never shared here, but Redis's answer for the small
/// integers it shares is part of what clients see, so it is reproduced.
fn object_refcount(ctx: &mut Ctx, argv: &[&[u8]]) {
    if let Some(shared) = object_lookup(ctx, argv) {
        ctx.out.int(if shared { SHARED_REFCOUNT } else { 1 });
    }
}

/// `OBJECT IDLETIME key`: always 0. Keeping a last-access time would grow every entry by
/// 8 bytes (the entry is exactly 64 now), so it is not tracked; TOUCH is accepted.
fn object_idletime(ctx: &mut Ctx, argv: &[&[u8]]) {
    if object_lookup(ctx, argv).is_none() {
        return;
    }
    if lfu_policy_selected(ctx) {
        ctx.out.error(errors::LFU_SELECTED);
    } else {
        ctx.out.int(0);
    }
}

/// `OBJECT FREQ key`: an error unless an LFU `maxmemory-policy` is set, as in Redis. The
/// counter is not tracked (it would grow every entry), so under LFU every key reports the
/// counter of a key never read since it was written.
fn object_freq(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Some(shared) = object_lookup(ctx, argv) else {
        return;
    };
    if lfu_policy_selected(ctx) {
        // A shared integer's counter is the one of an object made at startup, long since
        // decayed to 0.
        ctx.out.int(if shared { 0 } else { LFU_INIT_VAL });
    } else {
        ctx.out.error(errors::LFU_NOT_SELECTED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_cursor_parses_like_strtoul() {
        assert_eq!(parse_scan_cursor(b"0"), Some(0));
        assert_eq!(parse_scan_cursor(b"42"), Some(42));
        assert_eq!(parse_scan_cursor(b""), Some(0));
        assert_eq!(parse_scan_cursor(b"+7"), Some(7));
        assert_eq!(parse_scan_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_scan_cursor(b"7\x00junk"), Some(7));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_scan_cursor(b" 1"), None);
        assert_eq!(parse_scan_cursor(b"1 "), None);
        assert_eq!(parse_scan_cursor(b"-"), None);
        assert_eq!(parse_scan_cursor(b"0x10"), None);
    }

    #[test]
    fn expire_conditions_treat_no_ttl_as_infinite() {
        let gt = ExpireCondition {
            gt: true,
            ..Default::default()
        };
        let lt = ExpireCondition {
            lt: true,
            ..Default::default()
        };
        assert!(!gt.allows(NO_EXPIRY, 5));
        assert!(gt.allows(4, 5));
        assert!(!gt.allows(5, 5));
        assert!(lt.allows(NO_EXPIRY, 5));
        assert!(lt.allows(6, 5));
        assert!(!lt.allows(5, 5));
    }

    #[test]
    fn expire_options_report_the_first_unknown_one_before_conflicts() {
        let err = ExpireCondition::parse(&[b"nx", b"xx", b"bogus"]).err();
        assert_eq!(err, Some(b"ERR Unsupported option bogus".to_vec()));
        let err = ExpireCondition::parse(&[b"NX", b"gt"]).err();
        assert_eq!(err, Some(errors::EXPIRE_NX_WITH_OTHERS.as_bytes().to_vec()));
        let err = ExpireCondition::parse(&[b"gt", b"LT"]).err();
        assert_eq!(err, Some(errors::EXPIRE_GT_AND_LT.as_bytes().to_vec()));
    }
}
