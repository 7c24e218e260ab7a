//! Keyspace (`generic` group) commands: DEL, UNLINK, EXISTS, TYPE, TOUCH, the EXPIRE and
//! TTL families, PERSIST, KEYS, SCAN, RENAME(NX), RANDOMKEY, COPY, MOVE, SWAPDB, OBJECT.
//!
//! They work on any value type and never look inside one, except COPY (which duplicates a
//! value) and OBJECT (which reports how it is stored). Every lookup goes through `DbMut`,
//! so lazy expiry applies on each of them and every write (an expired key deleted on the
//! way included) is reported to the modification hook; which lookups count as keyspace
//! hits or misses follows Redis 7.0 (read lookups count, write lookups do not).

use crate::command::{handler, CommandError, CommandResult, Ctx, Done, Entry};
use crate::config::notify;
use crate::errors::{self, c_string};
use crate::keyspace::{DbMut, Key, Millis, Value, NO_EXPIRY};
use crate::util::{glob_match, parse_i64};

// Metadata as Redis 7.0.15 reports it (COMMAND INFO and COMMAND DOCS).
/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("del", del),
    handler("unlink", del),
    handler("exists", exists),
    handler("type", type_),
    handler("touch", exists),
    handler("expire", expire),
    handler("pexpire", pexpire),
    handler("expireat", expireat),
    handler("pexpireat", pexpireat),
    handler("ttl", ttl),
    handler("pttl", pttl),
    handler("expiretime", expiretime),
    handler("pexpiretime", pexpiretime),
    handler("persist", persist),
    handler("keys", keys_),
    handler("scan", scan),
    handler("rename", rename),
    handler("renamenx", renamenx),
    handler("randomkey", randomkey),
    handler("copy", copy),
    handler("move", move_),
    handler("swapdb", swapdb),
    handler("object", object),
    handler("object|encoding", object_encoding),
    handler("object|freq", object_freq),
    handler("object|help", object_help),
    handler("object|idletime", object_idletime),
    handler("object|refcount", object_refcount),
];

/// True when `arg` is the option `name` as C's `strcasecmp` sees it: any letter case, and
/// the argument ends at its first NUL.
pub(crate) fn is_option(arg: &[u8], name: &str) -> bool {
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
fn del(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut db = ctx.db();
    let mut removed = 0;
    for key in &argv[1..] {
        if db.remove(key).is_some() {
            db.notify(notify::GENERIC, "del", key);
            removed += 1;
        }
    }
    ctx.out.int(removed as i64);
    Ok(Done)
}

/// `EXISTS key [key ...]` and `TOUCH key [key ...]`: how many of the keys exist, a key named
/// twice counting twice. TOUCH would refresh the access time, which is not tracked.
fn exists(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut db = ctx.db();
    let found = argv[1..]
        .iter()
        .filter(|k| db.get_untouched(k).is_some())
        .count();
    ctx.out.int(found as i64);
    Ok(Done)
}

/// `TYPE key`: `+string`, `+list`, ... or `+none`.
fn type_(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let name = ctx
        .db()
        .get_untouched(argv[1])
        .map_or("none", |e| e.value.type_name());
    ctx.out.simple(name);
    Ok(Done)
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

fn expire(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let now = ctx.now;
    expire_generic(ctx, argv, now, 1000)
}

fn pexpire(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let now = ctx.now;
    expire_generic(ctx, argv, now, 1)
}

fn expireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    expire_generic(ctx, argv, 0, 1000)
}

fn pexpireat(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    expire_generic(ctx, argv, 0, 1)
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` and its millisecond and absolute forms: 1 when the
/// TTL was set, 0 when the key is missing or the condition failed. A time that is already
/// past deletes the key (and still answers 1). `unit` is 1000 for seconds, 1 for ms;
/// `basetime` is now for the relative forms, 0 for the absolute ones.
fn expire_generic(ctx: &mut Ctx, argv: &[&[u8]], basetime: Millis, unit: i64) -> CommandResult {
    let condition = ExpireCondition::parse(&argv[3..])?;
    let when = parse_i64(argv[2]).ok_or(errors::NOT_INTEGER)?;
    // Negative times are allowed (they delete the key); only overflow is an error.
    let when = when
        .checked_mul(unit)
        .filter(|&w| w <= i64::MAX - basetime)
        .map(|w| w + basetime)
        .ok_or_else(|| errors::invalid_expire_time(ctx.cmd.full_name))?;
    let (now, key) = (ctx.now, argv[1]);
    let mut db = ctx.db();
    let set = db
        .expire_at(key)
        .is_some_and(|current| condition.allows(current, when));
    if set {
        if when <= now {
            db.remove(key);
            db.notify(notify::GENERIC, "del", key);
        } else {
            db.set_expire(key, when);
            db.notify(notify::GENERIC, "expire", key);
        }
    }
    ctx.out.int(set as i64);
    Ok(Done)
}

/// `PERSIST key`: 1 when a TTL was removed, 0 when the key is missing or had none.
fn persist(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut db = ctx.db();
    let had_ttl = db.expire_at(argv[1]).is_some_and(|t| t != NO_EXPIRY);
    if had_ttl {
        db.set_expire(argv[1], NO_EXPIRY);
        db.notify(notify::GENERIC, "persist", argv[1]);
    }
    ctx.out.int(had_ttl as i64);
    Ok(Done)
}

// --- TTL, PTTL, EXPIRETIME, PEXPIRETIME ----------------------------------------------

fn ttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    ttl_generic(ctx, argv, false, false)
}

fn pttl(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    ttl_generic(ctx, argv, true, false)
}

fn expiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    ttl_generic(ctx, argv, false, true)
}

fn pexpiretime(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    ttl_generic(ctx, argv, true, true)
}

/// `TTL key` and friends: -2 for a missing key, -1 for a key without a TTL, else the time
/// left (or, `absolute`, the expiry time), in ms or in seconds rounded to the nearest.
fn ttl_generic(ctx: &mut Ctx, argv: &[&[u8]], ms: bool, absolute: bool) -> CommandResult {
    let now = ctx.now;
    let reply = match ctx.db().get_untouched(argv[1]).map(|e| e.expire_at) {
        None => -2,
        Some(NO_EXPIRY) => -1,
        Some(expire_at) => time_left(expire_at, now, ms, absolute),
    };
    ctx.out.int(reply);
    Ok(Done)
}

/// What TTL and friends answer for a key that expires at `expire_at`.
fn time_left(expire_at: Millis, now: Millis, ms: bool, absolute: bool) -> i64 {
    let t = if absolute {
        expire_at
    } else {
        expire_at.saturating_sub(now)
    }
    .max(0);
    // Rounded in 128 bits: a TTL near i64::MAX must not wrap (Redis's answer is the
    // mathematically rounded one there too).
    if ms {
        t
    } else {
        ((t as i128 + 500) / 1000) as i64
    }
}

// --- KEYS, SCAN, RANDOMKEY -------------------------------------------------------------

/// `KEYS pattern`: every key matching the glob. Expired keys are left out but, as in
/// Redis, not deleted here.
fn keys_(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (now, pattern) = (ctx.now, argv[1]);
    let all = pattern == b"*";
    let (db, out) = ctx.db_out();
    let found: Vec<&[u8]> = db
        .raw()
        .dict()
        .iter()
        .filter(|e| !e.is_expired(now) && (all || glob_match(pattern, e.key, false)))
        .map(|e| e.key)
        .collect();
    out.bulks(found.into_iter());
    Ok(Done)
}

/// Parses a SCAN cursor as Redis does, with `strtoul`: an optional sign, decimal digits,
/// the argument ending at its first NUL; a leading space, any other byte or an overflow
/// is an invalid cursor. (So `""` is 0, and `-1` wraps to `u64::MAX`.)
pub(crate) fn parse_scan_cursor(arg: &[u8]) -> Option<u64> {
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

/// The options after a scan's cursor (SCAN, SSCAN, HSCAN, ZSCAN), as Redis's
/// `scanGenericCommand` reads them: each any number of times, the last one winning.
pub(crate) struct ScanOptions<'a> {
    /// `COUNT`, at least 1 (10 when not given).
    pub count: usize,
    /// `MATCH`; `*` matches everything, the same as no pattern.
    pub pattern: Option<&'a [u8]>,
    /// `TYPE`, which only SCAN takes.
    pub type_name: Option<&'a [u8]>,
}

impl<'a> ScanOptions<'a> {
    /// Reads `args`; `TYPE` is a syntax error unless `with_type` (SCAN).
    pub(crate) fn parse(args: &[&'a [u8]], with_type: bool) -> Result<Self, CommandError> {
        let mut options = ScanOptions {
            count: 10,
            pattern: None,
            type_name: None,
        };
        let mut i = 0;
        while i < args.len() {
            let has_value = args.len() - i >= 2;
            if is_option(args[i], "count") && has_value {
                options.count = match parse_i64(args[i + 1]) {
                    Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
                    Some(_) => return Err(errors::SYNTAX.into()),
                    None => return Err(errors::NOT_INTEGER.into()),
                };
            } else if is_option(args[i], "match") && has_value {
                options.pattern = Some(args[i + 1]).filter(|p| *p != b"*");
            } else if with_type && is_option(args[i], "type") && has_value {
                options.type_name = Some(c_string(args[i + 1]));
            } else {
                return Err(errors::SYNTAX.into());
            }
            i += 2;
        }
        Ok(options)
    }

    /// Whether `item` passes `MATCH`.
    pub(crate) fn matches(&self, item: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, item, false))
    }
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`: the next cursor and a batch of
/// keys. The cursor is a slot index of the key dictionary, whose entries never move, so a
/// key present for the whole iteration is returned (once, unless deleted and re-added).
/// COUNT bounds the keys looked at, before MATCH and TYPE filter them, as in Redis.
fn scan(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let cursor = parse_scan_cursor(argv[1]).ok_or(errors::INVALID_CURSOR)?;
    let ScanOptions {
        count,
        pattern,
        type_name,
    } = ScanOptions::parse(&argv[2..], true)?;
    let mut db = ctx.db();
    let mut batch: Vec<Key> = Vec::with_capacity(count.min(1024));
    let next = match usize::try_from(cursor) {
        Ok(cursor) => db
            .raw()
            .dict()
            .scan_slots(cursor, count.saturating_mul(10), |e| {
                batch.push(Key::from_slice(e.key));
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
            let Some(entry) = db.get(key) else {
                return wanted.eq_ignore_ascii_case(b"none");
            };
            if !wanted.eq_ignore_ascii_case(entry.value.type_name().as_bytes()) {
                return false;
            }
        }
        db.contains(key)
    });
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.bulks(batch.iter());
    Ok(Done)
}

/// `RANDOMKEY`: a random key, or null when the database is empty.
fn randomkey(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    match random_key(&mut ctx.db(), &mut rand::thread_rng()) {
        Some(key) => ctx.out.bulk(&key),
        None => ctx.out.null(),
    }
    Ok(Done)
}

/// A random key that has not expired, deleting the expired ones it draws on the way (as
/// Redis's `dbRandomKey` does), each reported to the modification hook. `None` when the
/// database is (or becomes) empty.
fn random_key(db: &mut DbMut, rng: &mut impl rand::Rng) -> Option<Key> {
    loop {
        let key = Key::from_slice(db.raw().dict().random(rng)?.key);
        if db.contains(&key) {
            return Some(key);
        }
    }
}

// --- RENAME, RENAMENX, COPY, MOVE, SWAPDB -------------------------------------------

fn rename(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    rename_generic(ctx, argv, false)
}

fn renamenx(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    rename_generic(ctx, argv, true)
}

/// `RENAME key newkey` (`+OK`) and `RENAMENX key newkey` (1, or 0 when `newkey` exists).
/// The TTL moves with the value; an existing `newkey` is replaced (RENAME). Renaming a
/// key to itself changes nothing but still needs the key to exist.
fn rename_generic(ctx: &mut Ctx, argv: &[&[u8]], nx: bool) -> CommandResult {
    let (src, dst) = (argv[1], argv[2]);
    let mut db = ctx.db();
    if !db.contains(src) {
        return Err(errors::NO_SUCH_KEY.into());
    }
    // Looked up even without NX: an expired destination is expired (and counted) first.
    let replaces = src != dst && db.contains(dst);
    let renamed = src != dst && !(replaces && nx);
    if renamed {
        if let Some(entry) = db.take(src) {
            // Redis deletes a destination it replaces, then adds the key: it is `new`.
            if replaces {
                db.notify(notify::NEW, "new", dst);
            }
            db.set(dst, entry.value, entry.expire_at);
            db.notify(notify::GENERIC, "rename_from", src);
            db.notify(notify::GENERIC, "rename_to", dst);
        }
    }
    if nx {
        ctx.out.int(renamed as i64);
    } else {
        ctx.out.ok();
    }
    Ok(Done)
}

/// `COPY source destination [DB destination-db] [REPLACE]`: 1 when copied, 0 when the
/// source is missing or the destination exists (without REPLACE). The TTL is copied too.
fn copy(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < argv.len() {
        if is_option(argv[j], "replace") {
            replace = true;
        } else if is_option(argv[j], "db") && j + 1 < argv.len() {
            dst_db = parse_db_index(ctx, argv[j + 1])?;
            j += 1;
        } else {
            return Err(errors::SYNTAX.into());
        }
        j += 1;
    }
    if ctx.state.cluster.is_some() && (src_db != 0 || dst_db != 0) {
        return Err(errors::COPY_DB_IN_CLUSTER.into());
    }
    let (now, src, dst) = (ctx.now, argv[1], argv[2]);
    if src_db == dst_db && src == dst {
        return Err(errors::SAME_OBJECT.into());
    }
    let source = ctx.db().get(src).map(|e| (e.value.clone(), e.expire_at));
    let Some((value, expire_at)) = source else {
        ctx.out.int(0);
        return Ok(Done);
    };
    let mut target = ctx.state.db(dst_db, now);
    // Looked up even with REPLACE: an expired destination is expired (and counted) first.
    let replaces = target.contains(dst);
    let copied = !replaces || replace;
    if copied {
        // Redis deletes a destination it replaces, then adds the copy: it is `new`.
        if replaces {
            target.notify(notify::NEW, "new", dst);
        }
        target.set(dst, value, expire_at);
        target.notify(notify::GENERIC, "copy_to", dst);
    }
    ctx.out.int(copied as i64);
    Ok(Done)
}

/// `MOVE key db`: 1 when the key moved to database `db` (with its TTL), 0 when it is
/// missing here or already exists there.
fn move_(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if ctx.state.cluster.is_some() {
        return Err(errors::MOVE_IN_CLUSTER.into());
    }
    let dst_db = parse_db_index(ctx, argv[2])?;
    let (now, key) = (ctx.now, argv[1]);
    if dst_db == ctx.client.db {
        return Err(errors::SAME_OBJECT.into());
    }
    let moved = ctx.db().contains(key) && !ctx.state.db(dst_db, now).contains(key);
    if moved {
        if let Some(entry) = ctx.db().take(key) {
            ctx.state
                .db(dst_db, now)
                .set(key, entry.value, entry.expire_at);
            ctx.db().notify(notify::GENERIC, "move_from", key);
            ctx.state
                .db(dst_db, now)
                .notify(notify::GENERIC, "move_to", key);
        }
    }
    ctx.out.int(moved as i64);
    Ok(Done)
}

/// `SWAPDB index1 index2`: exchanges two databases' contents; clients stay on their index.
fn swapdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if ctx.state.cluster.is_some() {
        return Err(errors::SWAPDB_IN_CLUSTER.into());
    }
    let first = parse_int32(argv[1]).map_err(|_| errors::INVALID_FIRST_DB_INDEX);
    let second = parse_int32(argv[2]).map_err(|_| errors::INVALID_SECOND_DB_INDEX);
    let (a, b) = (first?, second?);
    let dbs = ctx.state.dbs.len();
    let index = |n: i64| usize::try_from(n).ok().filter(|&i| i < dbs);
    let (Some(a), Some(b)) = (index(a), index(b)) else {
        return Err(errors::DB_INDEX_OUT_OF_RANGE.into());
    };
    ctx.state.swap_dbs(a, b, ctx.now);
    ctx.out.ok();
    Ok(Done)
}

// --- OBJECT ------------------------------------------------------------------------------

/// `OBJECT` itself only runs when the table finds no subcommand, which `execute` already
/// answers; this is Redis's own fallback reply, for completeness.
fn object(_ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let sub = argv.get(1).copied().unwrap_or_default();
    Err(errors::subcommand_syntax(b"object", sub).into())
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
fn object_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let name = String::from_utf8_lossy(c_string(argv[0])).to_ascii_uppercase();
    super::help(ctx, &name, OBJECT_HELP);
    Ok(Done)
}

/// Redis shares the objects of the integers 0..10000 (`OBJ_SHARED_INTEGERS`) and reports
/// their refcount as `INT_MAX`.
const SHARED_INTEGERS: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// Whether `maxmemory-policy` is an LFU one (`allkeys-lfu`, `volatile-lfu`): Redis then
/// keeps an access-frequency counter instead of an access time, and OBJECT FREQ and
/// IDLETIME trade which one errors.
fn lfu_policy_selected(ctx: &Ctx) -> bool {
    ctx.state.config.maxmemory_policy.is_lfu()
}

/// Whether Redis shares its integer objects 0..10000 between keys: unless a `maxmemory`
/// limit with an LRU or LFU policy turns sharing off (each value then needs its own access
/// data). Redis decides when a value is written; this asks at read time.
fn integers_shared(ctx: &Ctx) -> bool {
    let config = &ctx.state.config;
    let policy = config.maxmemory_policy;
    config.maxmemory == 0 || !(policy.is_lru() || policy.is_lfu())
}

/// Looks up OBJECT's key (argv[2]) without touching its access time (Redis's
/// `LOOKUP_NOTOUCH`), answering null when it is missing. When it exists: whether Redis
/// would hold its value as a shared integer object.
fn object_lookup(ctx: &mut Ctx, argv: &[&[u8]]) -> Option<bool> {
    let small_int = ctx
        .db()
        .peek_untouched(argv[2])
        .map(|e| matches!(e.value, Value::Int(n) if (0..SHARED_INTEGERS).contains(n)));
    match small_int {
        None => {
            ctx.out.null();
            None
        }
        Some(small_int) => Some(small_int && integers_shared(ctx)),
    }
}

/// The access stamp OBJECT reads for `key`: its own, or, for a value Redis would hold as a
/// shared integer, that object's (made at start-up and never touched: under an LFU policy
/// set later, its LRU clock reads as a long-decayed counter, 0).
fn access_stamp(ctx: &mut Ctx, key: &[u8], shared: bool) -> u32 {
    if shared {
        ctx.state.shared_integers_stamp
    } else {
        ctx.db().stamp_of(key).unwrap_or(0)
    }
}

/// `OBJECT ENCODING key`: `int`, `embstr`, `raw`, ... as Redis would store the value.
fn object_encoding(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    match ctx.db().get(argv[2]).map(|e| e.value.encoding()) {
        None => ctx.out.null(),
        Some(encoding) => ctx.out.bulk(encoding.as_bytes()),
    }
    Ok(Done)
}

/// `OBJECT REFCOUNT key`: values are never shared here, but Redis's answer for the small
/// integers it shares is part of what clients see, so it is reproduced.
fn object_refcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if let Some(shared) = object_lookup(ctx, argv) {
        ctx.out.int(if shared { SHARED_REFCOUNT } else { 1 });
    }
    Ok(Done)
}

/// `OBJECT IDLETIME key`: seconds since the key was last read or written (Redis's
/// `estimateObjectIdleTime`, at the LRU clock's resolution of a second); an error under
/// an LFU policy, which keeps a counter instead.
fn object_idletime(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let Some(shared) = object_lookup(ctx, argv) else {
        return Ok(Done);
    };
    if lfu_policy_selected(ctx) {
        return Err(errors::LFU_SELECTED.into());
    }
    let stamp = access_stamp(ctx, argv[2], shared);
    ctx.out
        .int((crate::evict::idle_ms(stamp, ctx.now) / 1000) as i64);
    Ok(Done)
}

/// `OBJECT FREQ key`: the key's logarithmic access counter, decayed by the minutes since
/// its last access (Redis's `LFUDecrAndReturn`); an error unless an LFU
/// `maxmemory-policy` is set, as in Redis.
fn object_freq(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let Some(shared) = object_lookup(ctx, argv) else {
        return Ok(Done);
    };
    if !lfu_policy_selected(ctx) {
        return Err(errors::LFU_NOT_SELECTED.into());
    }
    let stamp = access_stamp(ctx, argv[2], shared);
    let decay = ctx.state.config.lfu_decay_time;
    ctx.out
        .int(crate::evict::lfu_decayed(stamp, ctx.now, decay) as i64);
    Ok(Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Registry;
    use crate::reply::{Protocol, Reply};
    use crate::state::{unix_millis, Client, State};

    #[test]
    fn random_key_deletes_the_due_keys_it_draws() {
        use crate::keyspace::{Db, Modifications, NO_EXPIRY};
        use rand::SeedableRng;
        let mut db = Db::default();
        let mut mods = Modifications::default();
        let mut view = DbMut::new(&mut db, &mut mods, 0, 50);
        for i in 0..50 {
            let expire_at = if i == 7 { NO_EXPIRY } else { 100 };
            view.set(format!("k{i}").as_bytes(), Value::string(b"v"), expire_at);
        }
        let mut view = DbMut::new(&mut db, &mut mods, 0, 200);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        assert_eq!(random_key(&mut view, &mut rng).as_deref(), Some(&b"k7"[..]));
        view.remove(b"k7");
        assert_eq!(random_key(&mut view, &mut rng), None);
        assert!(view.is_empty());
    }

    /// Runs one command of this family straight through its handler, so that the keys
    /// it signals stay in `state.mods` (dispatch would hand them to blocked clients).
    fn run(state: &mut State, client: &mut Client, args: &[&str]) -> String {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let cmd = Registry::get().resolve(&argv).expect("a known command");
        let handler = cmd.handler;
        let mut out = Reply::new(Protocol::Resp2);
        let mut ctx = Ctx {
            state,
            client,
            out: &mut out,
            now: unix_millis(),
            cmd,
            can_block: false,
        };
        if let Err(e) = handler(&mut ctx, &argv) {
            out.error_bytes(e.text());
        }
        String::from_utf8_lossy(&out.buf).into_owned()
    }

    #[test]
    fn rename_and_move_signal_both_keys_but_count_one_change() {
        let (tx, _shutdown) = tokio::sync::watch::channel(false);
        let mut state = State::new(Default::default(), tx);
        let mut client = Client::for_tests(1);
        state.db(0, 0).set(b"a", Value::string(b"v"), NO_EXPIRY);
        state.mods.listening = true;
        let dirty = state.mods.dirty;

        assert_eq!(
            run(&mut state, &mut client, &["RENAME", "a", "b"]),
            "+OK\r\n"
        );
        assert_eq!(run(&mut state, &mut client, &["MOVE", "b", "1"]), ":1\r\n");

        assert_eq!(state.mods.dirty - dirty, 2);
        let signalled: Vec<(usize, Vec<u8>)> = state
            .mods
            .drain_keys()
            .into_iter()
            .map(|(db, key)| (db, key.to_vec()))
            .collect();
        let expected = [(0, b"a"), (0, b"b"), (0, b"b"), (1, b"b")];
        assert_eq!(signalled, expected.map(|(db, k)| (db, k.to_vec())));
    }

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
