//! String commands: the `string` group of Redis 7.0 (GET, SET and its options, the counters,
//! ranges, MGET/MSET, GETEX/GETDEL, LCS), each reply and error byte for byte as Redis's
//! `t_string.c` writes them.
//!
//! Values keep Redis's encodings: SET, MSET, GETSET, SETNX, SETEX and a new key made by
//! APPEND store `Value::string` (an `int` when the text is a canonical integer); INCR and
//! friends store `Value::Int`; APPEND and SETRANGE on an existing key turn it `raw`;
//! INCRBYFLOAT stores its text as a plain string (never `int`, as Redis does).
//!
//! Lookups follow Redis's read/write split: commands that read (GET, MGET, STRLEN, GETEX,
//! SET ... GET) count keyspace hits and misses, writes (INCR, APPEND, ...) do not.

mod lcs;
pub(crate) mod long_double;

use crate::command::{key_flags, legacy, Ctx, Entry};
use crate::errors::{self, c_string};
use crate::keyspace::value::EMBSTR_MAX;
use crate::keyspace::{Millis, Sds, Value, NO_EXPIRY};
use crate::util::parse_i64;

use lcs::LcsError;
use long_double::LongDouble;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    legacy("get", get),
    Entry {
        getkeys: Some(set_keys),
        ..legacy("set", set)
    },
    legacy("setnx", setnx),
    legacy("setex", setex),
    legacy("psetex", psetex),
    legacy("mget", mget),
    legacy("mset", mset),
    legacy("msetnx", msetnx),
    legacy("incr", incr),
    legacy("decr", decr),
    legacy("incrby", incrby),
    legacy("decrby", decrby),
    legacy("incrbyfloat", incrbyfloat),
    legacy("append", append),
    legacy("strlen", strlen),
    legacy("getrange", getrange),
    legacy("substr", getrange),
    legacy("setrange", setrange),
    legacy("getdel", getdel),
    legacy("getex", getex),
    legacy("getset", getset),
    legacy("lcs", lcs),
];

/// Redis's `setGetKeys`: SET's key flags depend on its options; with `GET` it also reads.
fn set_keys(argv: &[&[u8]]) -> Vec<(usize, u32)> {
    let reads = argv
        .iter()
        .skip(3)
        .any(|a| c_string(a).eq_ignore_ascii_case(b"get"));
    let flags = if reads {
        key_flags::RW | key_flags::ACCESS | key_flags::UPDATE
    } else {
        key_flags::OW | key_flags::UPDATE
    };
    vec![(1, flags)]
}

/// Which expiry option a SET or GETEX carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpireKind {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl ExpireKind {
    fn from_option(opt: &[u8]) -> Option<ExpireKind> {
        [
            (&b"ex"[..], ExpireKind::Ex),
            (b"px", ExpireKind::Px),
            (b"exat", ExpireKind::ExAt),
            (b"pxat", ExpireKind::PxAt),
        ]
        .into_iter()
        .find(|(name, _)| opt.eq_ignore_ascii_case(name))
        .map(|(_, kind)| kind)
    }

    fn in_seconds(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::ExAt)
    }

    fn is_relative(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::Px)
    }
}

/// The options of SET (`NX XX GET KEEPTTL EX PX EXAT PXAT`) and GETEX (`PERSIST EX PX
/// EXAT PXAT`), as Redis's `parseExtendedStringArgumentsOrReply` accepts them.
#[derive(Clone, Copy, Debug, Default)]
struct StringOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a [u8])>,
}

/// Parses the options from `argv[first..]`; `None` means `ERR syntax error`. Options may
/// come in any order and repeat, but not contradict each other; an expiry option takes the
/// next argument (its value is checked later). Redis compares the options as C strings, so
/// an argument is read up to its first NUL byte.
fn parse_options<'a>(argv: &[&'a [u8]], first: usize, for_set: bool) -> Option<StringOptions<'a>> {
    let mut o = StringOptions::default();
    let mut j = first;
    while j < argv.len() {
        let opt = c_string(argv[j]);
        let next = argv.get(j + 1).copied();
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        let expire_kind = o.expire.map(|(kind, _)| kind);
        if for_set && is("nx") && !o.xx {
            o.nx = true;
        } else if for_set && is("xx") && !o.nx {
            o.xx = true;
        } else if for_set && is("get") {
            o.get = true;
        } else if for_set && is("keepttl") && expire_kind.is_none() {
            o.keepttl = true;
        } else if !for_set && is("persist") && expire_kind.is_none() {
            o.persist = true;
        } else if let Some(kind) = ExpireKind::from_option(opt)
            .filter(|&kind| !o.keepttl && !o.persist && expire_kind.is_none_or(|k| k == kind))
        {
            o.expire = Some((kind, next?));
            j += 1;
        } else {
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// Why an expiry argument was refused.
enum ExpireError {
    NotInteger,
    Invalid,
}

/// Redis's `getExpireMillisecondsOrReply`: the absolute expiry time in ms since the epoch.
/// Zero, negative and overflowing values are invalid; the overflow checks are Redis's own
/// (the sum with `now` wraps as C's does on the hardware, then the sign is checked).
fn expire_millis(kind: ExpireKind, arg: &[u8], now: Millis) -> Result<Millis, ExpireError> {
    let mut ms = parse_i64(arg).ok_or(ExpireError::NotInteger)?;
    if ms <= 0 || (kind.in_seconds() && ms > i64::MAX / 1000) {
        return Err(ExpireError::Invalid);
    }
    if kind.in_seconds() {
        ms *= 1000;
    }
    if kind.is_relative() {
        ms = ms.wrapping_add(now);
    }
    if ms <= 0 {
        return Err(ExpireError::Invalid);
    }
    Ok(ms)
}

fn reply_expire_error(ctx: &mut Ctx, e: ExpireError) {
    match e {
        ExpireError::NotInteger => ctx.out.error(errors::NOT_INTEGER),
        ExpireError::Invalid => ctx
            .out
            .error(&errors::invalid_expire_time(ctx.cmd.full_name)),
    }
}

/// An integer argument, or `ERR value is not an integer or out of range` replied.
fn int_arg(ctx: &mut Ctx, arg: &[u8]) -> Option<i64> {
    let n = parse_i64(arg);
    if n.is_none() {
        ctx.out.error(errors::NOT_INTEGER);
    }
    n
}

/// What `getGenericCommand` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Got {
    Missing,
    Found,
    WrongType,
}

/// Redis's `getGenericCommand`: replies with the string at `key`, null when there is none,
/// WRONGTYPE for another type.
fn reply_get(ctx: &mut Ctx, key: &[u8]) -> Got {
    let now = ctx.now;
    let Some(entry) = ctx.state.dbs[ctx.client.db].get(key, now) else {
        ctx.out.null();
        return Got::Missing;
    };
    let mut scratch = itoa::Buffer::new();
    match entry.value.string_bytes(&mut scratch) {
        Some(bytes) => {
            ctx.out.bulk(bytes);
            Got::Found
        }
        None => {
            ctx.out.error(errors::WRONGTYPE);
            Got::WrongType
        }
    }
}

/// The integer a string value holds, as `getLongLongFromObject` reads it.
fn value_as_i64(value: &Value) -> Result<i64, &'static str> {
    if let Value::Int(n) = value {
        return Ok(*n);
    }
    let mut scratch = itoa::Buffer::new();
    match value.string_bytes(&mut scratch) {
        Some(bytes) => parse_i64(bytes).ok_or(errors::NOT_INTEGER),
        None => Err(errors::WRONGTYPE),
    }
}

/// Redis's `dbUnshareStringValue`: makes a string value an in-place-editable `raw` string
/// and gives its bytes; `None` for other types.
fn raw_string(value: &mut Value) -> Option<&mut Sds> {
    if let Value::Int(n) = *value {
        let mut b = itoa::Buffer::new();
        *value = Value::Str {
            data: Sds::from_slice(b.format(n).as_bytes()),
            raw: true,
        };
    }
    if let Value::Str { data, raw } = value {
        *raw = true;
        Some(data)
    } else {
        None
    }
}

/// Redis's `checkStringLength`: a string of `len + extra` bytes must fit in
/// `proto-max-bulk-len` (`max`).
fn fits_bulk_len(len: u64, extra: u64, max: u64) -> bool {
    len.checked_add(extra).is_some_and(|total| total <= max)
}

/// `GET key`: the value, or null when the key does not exist.
fn get(ctx: &mut Ctx, argv: &[&[u8]]) {
    reply_get(ctx, argv[1]);
}

/// How SET-like commands answer: SET replies `OK` or null, SETNX `1` or `0`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetReply {
    OkOrNull,
    OneOrZero,
}

/// Redis's `setGenericCommand`: validates the expiry, answers the old value for `GET`,
/// honours NX/XX, then stores the value with its TTL (or the old TTL with KEEPTTL).
fn set_generic(ctx: &mut Ctx, key: &[u8], value: &[u8], opts: StringOptions, answer: SetReply) {
    let now = ctx.now;
    let mut expire_at = NO_EXPIRY;
    if let Some((kind, arg)) = opts.expire {
        match expire_millis(kind, arg, now) {
            Ok(at) => expire_at = at,
            Err(e) => return reply_expire_error(ctx, e),
        }
    }
    if opts.get && reply_get(ctx, key) == Got::WrongType {
        return;
    }
    let db = &mut ctx.state.dbs[ctx.client.db];
    let found = db.contains(key, now);
    if (opts.nx && found) || (opts.xx && !found) {
        if !opts.get {
            match answer {
                SetReply::OkOrNull => ctx.out.null(),
                SetReply::OneOrZero => ctx.out.int(0),
            }
        }
        return;
    }
    if opts.keepttl {
        expire_at = db.expire_at(key, now).unwrap_or(NO_EXPIRY);
    }
    // An absolute time in the past is stored as it is: the key is gone at its next
    // access, as in Redis 7.0, which also only expires it lazily.
    db.set(key, Value::string(value), expire_at);
    ctx.dirty(1);
    if !opts.get {
        match answer {
            SetReply::OkOrNull => ctx.out.ok(),
            SetReply::OneOrZero => ctx.out.int(1),
        }
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL]`.
fn set(ctx: &mut Ctx, argv: &[&[u8]]) {
    match parse_options(argv, 3, true) {
        Some(opts) => set_generic(ctx, argv[1], argv[2], opts, SetReply::OkOrNull),
        None => ctx.out.error(errors::SYNTAX),
    }
}

/// `SETNX key value`: 1 when set, 0 when the key existed.
fn setnx(ctx: &mut Ctx, argv: &[&[u8]]) {
    let opts = StringOptions {
        nx: true,
        ..StringOptions::default()
    };
    set_generic(ctx, argv[1], argv[2], opts, SetReply::OneOrZero);
}

/// `SETEX key seconds value`.
fn setex(ctx: &mut Ctx, argv: &[&[u8]]) {
    let opts = StringOptions {
        expire: Some((ExpireKind::Ex, argv[2])),
        ..StringOptions::default()
    };
    set_generic(ctx, argv[1], argv[3], opts, SetReply::OkOrNull);
}

/// `PSETEX key milliseconds value`.
fn psetex(ctx: &mut Ctx, argv: &[&[u8]]) {
    let opts = StringOptions {
        expire: Some((ExpireKind::Px, argv[2])),
        ..StringOptions::default()
    };
    set_generic(ctx, argv[1], argv[3], opts, SetReply::OkOrNull);
}

/// `GETSET key value`: the old value (null if none); the new value has no TTL.
fn getset(ctx: &mut Ctx, argv: &[&[u8]]) {
    if reply_get(ctx, argv[1]) == Got::WrongType {
        return;
    }
    ctx.raw_db().set(argv[1], Value::string(argv[2]), NO_EXPIRY);
    ctx.dirty(1);
}

/// `GETDEL key`: the value, and the key is deleted.
fn getdel(ctx: &mut Ctx, argv: &[&[u8]]) {
    if reply_get(ctx, argv[1]) == Got::Found {
        let now = ctx.now;
        ctx.raw_db().remove(argv[1], now);
        ctx.dirty(1);
    }
}

/// `GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]`: the value, and its TTL changed.
/// A missing key answers null before the expiry is even checked; an absolute time that
/// has passed deletes the key after answering its value.
fn getex(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Some(opts) = parse_options(argv, 2, false) else {
        return ctx.out.error(errors::SYNTAX);
    };
    let key = argv[1];
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let Some(entry) = db.get(key, now) else {
        return ctx.out.null();
    };
    let mut scratch = itoa::Buffer::new();
    let Some(bytes) = entry.value.string_bytes(&mut scratch) else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    let mut expire = None;
    if let Some((kind, arg)) = opts.expire {
        match expire_millis(kind, arg, now) {
            Ok(at) => expire = Some((kind, at)),
            Err(ExpireError::NotInteger) => return ctx.out.error(errors::NOT_INTEGER),
            Err(ExpireError::Invalid) => {
                return ctx
                    .out
                    .error(&errors::invalid_expire_time(ctx.cmd.full_name))
            }
        }
    }
    ctx.out.bulk(bytes);
    let changed = match expire {
        Some((kind, at)) if !kind.is_relative() && at <= now => db.remove(key, now).is_some(),
        Some((_, at)) => db.set_expire(key, at, now),
        None if opts.persist => {
            db.expire_at(key, now).is_some_and(|at| at != NO_EXPIRY)
                && db.set_expire(key, NO_EXPIRY, now)
        }
        None => false,
    };
    if changed {
        ctx.dirty(1);
    }
}

/// `MGET key [key ...]`: each value, null for a missing key or one of another type.
fn mget(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    ctx.out.array(argv.len() - 1);
    let mut scratch = itoa::Buffer::new();
    for key in &argv[1..] {
        match db
            .get(key, now)
            .and_then(|e| e.value.string_bytes(&mut scratch))
        {
            Some(bytes) => ctx.out.bulk(bytes),
            None => ctx.out.null(),
        }
    }
}

/// `MSET key value [key value ...]`: always `OK`; every TTL is cleared.
fn mset(ctx: &mut Ctx, argv: &[&[u8]]) {
    mset_generic(ctx, argv, false);
}

/// `MSETNX key value [key value ...]`: 1 when all were set, 0 (and nothing set) when any
/// key existed.
fn msetnx(ctx: &mut Ctx, argv: &[&[u8]]) {
    mset_generic(ctx, argv, true);
}

fn mset_generic(ctx: &mut Ctx, argv: &[&[u8]], nx: bool) {
    if argv.len().is_multiple_of(2) {
        return ctx.out.error(&errors::wrong_arity(ctx.cmd.full_name));
    }
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    if nx && argv[1..].iter().step_by(2).any(|key| db.contains(key, now)) {
        return ctx.out.int(0);
    }
    for pair in argv[1..].chunks_exact(2) {
        db.set(pair[0], Value::string(pair[1]), NO_EXPIRY);
    }
    ctx.dirty((argv.len() as u64 - 1) / 2);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
}

/// Redis's `incrDecrCommand`: adds `by` to the integer at `key` (0 when missing), keeping
/// its TTL; the result is always `int` encoded.
fn incr_by(ctx: &mut Ctx, key: &[u8], by: i64) {
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let entry = db.get_mut(key, now);
    let current = match &entry {
        None => 0,
        Some(e) => match value_as_i64(&e.value) {
            Ok(n) => n,
            Err(msg) => return ctx.out.error(msg),
        },
    };
    let Some(result) = current.checked_add(by) else {
        return ctx.out.error(errors::OVERFLOW);
    };
    match entry {
        Some(e) => e.value = Value::Int(result),
        None => {
            db.set(key, Value::Int(result), NO_EXPIRY);
        }
    }
    ctx.dirty(1);
    ctx.out.int(result);
}

/// `INCR key`.
fn incr(ctx: &mut Ctx, argv: &[&[u8]]) {
    incr_by(ctx, argv[1], 1);
}

/// `DECR key`.
fn decr(ctx: &mut Ctx, argv: &[&[u8]]) {
    incr_by(ctx, argv[1], -1);
}

/// `INCRBY key increment`: the increment is checked before the key.
fn incrby(ctx: &mut Ctx, argv: &[&[u8]]) {
    if let Some(by) = int_arg(ctx, argv[2]) {
        incr_by(ctx, argv[1], by);
    }
}

/// `DECRBY key decrement`: a decrement of i64::MIN cannot be negated, which Redis 7.0
/// reports with an error of its own.
fn decrby(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Some(by) = int_arg(ctx, argv[2]) else {
        return;
    };
    if by == i64::MIN {
        return ctx.out.error(errors::DECREMENT_OVERFLOW);
    }
    incr_by(ctx, argv[1], -by);
}

/// `INCRBYFLOAT key increment`: C `long double` arithmetic (see `long_double`), the result
/// written with `%.17Lf` less its trailing zeros and stored as that text, TTL kept.
fn incrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) {
    let key = argv[1];
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let entry = db.get_mut(key, now);
    let current = match &entry {
        None => Some(LongDouble::ZERO),
        Some(e) => {
            let mut scratch = itoa::Buffer::new();
            match (&e.value, e.value.string_bytes(&mut scratch)) {
                (Value::Int(n), _) => Some(LongDouble::from_i64(*n)),
                (_, Some(bytes)) => LongDouble::parse(bytes),
                (_, None) => return ctx.out.error(errors::WRONGTYPE),
            }
        }
    };
    let (Some(current), Some(by)) = (current, LongDouble::parse(argv[2])) else {
        return ctx.out.error(errors::NOT_FLOAT);
    };
    let sum = current.add(by);
    if !sum.is_finite() {
        return ctx.out.error(errors::NAN_OR_INFINITY);
    }
    let text = sum.to_human_string();
    let value = Value::Str {
        data: Sds::from_slice(text.as_bytes()),
        raw: text.len() > EMBSTR_MAX,
    };
    match entry {
        Some(e) => e.value = value,
        None => {
            db.set(key, value, NO_EXPIRY);
        }
    }
    ctx.dirty(1);
    ctx.out.bulk(text.as_bytes());
}

/// `APPEND key value`: the new length. A new key is stored like SET stores it; an existing
/// one becomes `raw`, even when nothing is appended.
fn append(ctx: &mut Ctx, argv: &[&[u8]]) {
    let (key, tail) = (argv[1], argv[2]);
    let now = ctx.now;
    let max = ctx.state.config.proto_max_bulk_len;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let len = match db.get_mut(key, now) {
        None => {
            db.set(key, Value::string(tail), NO_EXPIRY);
            tail.len()
        }
        Some(e) => {
            let mut scratch = itoa::Buffer::new();
            let Some(old_len) = e.value.string_bytes(&mut scratch).map(<[u8]>::len) else {
                return ctx.out.error(errors::WRONGTYPE);
            };
            if !fits_bulk_len(old_len as u64, tail.len() as u64, max) {
                return ctx.out.error(errors::STRING_TOO_LONG);
            }
            let Some(data) = raw_string(&mut e.value) else {
                return ctx.out.error(errors::WRONGTYPE);
            };
            data.extend_from_slice(tail);
            data.len()
        }
    };
    ctx.dirty(1);
    ctx.out.int(len as i64);
}

/// `STRLEN key`: the length of the value, 0 when missing.
fn strlen(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let Some(entry) = ctx.state.dbs[ctx.client.db].get(argv[1], now) else {
        return ctx.out.int(0);
    };
    let mut scratch = itoa::Buffer::new();
    match entry.value.string_bytes(&mut scratch) {
        Some(bytes) => ctx.out.int(bytes.len() as i64),
        None => ctx.out.error(errors::WRONGTYPE),
    }
}

/// `GETRANGE key start end` (and the old name SUBSTR): the bytes from `start` to `end`
/// inclusive, negative indexes counting from the end, clamped as Redis clamps them.
fn getrange(ctx: &mut Ctx, argv: &[&[u8]]) {
    let Some(start) = int_arg(ctx, argv[2]) else {
        return;
    };
    let Some(end) = int_arg(ctx, argv[3]) else {
        return;
    };
    let now = ctx.now;
    let Some(entry) = ctx.state.dbs[ctx.client.db].get(argv[1], now) else {
        return ctx.out.bulk(b"");
    };
    let mut scratch = itoa::Buffer::new();
    let Some(s) = entry.value.string_bytes(&mut scratch) else {
        return ctx.out.error(errors::WRONGTYPE);
    };
    match byte_range(s.len(), start, end) {
        Some((from, to)) => ctx.out.bulk(&s[from..=to]),
        None => ctx.out.bulk(b""),
    }
}

/// GETRANGE's index arithmetic: the inclusive byte range, or `None` when it is empty.
/// C adds a negative index to the unsigned length, which wraps like `wrapping_add`.
fn byte_range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    if (start < 0 && end < 0 && start > end) || len == 0 {
        return None;
    }
    let len = len as i64;
    let start = if start < 0 {
        len.wrapping_add(start)
    } else {
        start
    }
    .max(0);
    let end = if end < 0 { len.wrapping_add(end) } else { end }.clamp(0, len - 1);
    (start <= end).then_some((start as usize, end as usize))
}

/// `SETRANGE key offset value`: overwrites from `offset`, padding with zero bytes; the
/// new length. An empty value changes nothing and answers the current length.
fn setrange(ctx: &mut Ctx, argv: &[&[u8]]) {
    let (key, value) = (argv[1], argv[3]);
    let Some(offset) = int_arg(ctx, argv[2]) else {
        return;
    };
    if offset < 0 {
        return ctx.out.error(errors::OFFSET_OUT_OF_RANGE);
    }
    let offset = offset as u64;
    let now = ctx.now;
    let exists = match ctx.state.dbs[ctx.client.db].get_mut(key, now) {
        None => None,
        Some(e) => {
            let mut scratch = itoa::Buffer::new();
            match e.value.string_bytes(&mut scratch) {
                Some(bytes) => Some(bytes.len()),
                None => return ctx.out.error(errors::WRONGTYPE),
            }
        }
    };
    if value.is_empty() {
        return ctx.out.int(exists.unwrap_or(0) as i64);
    }
    if !fits_bulk_len(
        offset,
        value.len() as u64,
        ctx.state.config.proto_max_bulk_len,
    ) {
        return ctx.out.error(errors::STRING_TOO_LONG);
    }
    let offset = offset as usize;
    let end = offset + value.len();
    let db = &mut ctx.state.dbs[ctx.client.db];
    let len = match db.get_mut(key, now).and_then(|e| raw_string(&mut e.value)) {
        Some(data) => {
            if data.len() < end {
                data.resize(end, 0);
            }
            data[offset..end].copy_from_slice(value);
            data.len()
        }
        None => {
            let mut data = Sds::from_elem(0, end);
            data[offset..].copy_from_slice(value);
            db.set(key, Value::Str { data, raw: true }, NO_EXPIRY);
            end
        }
    };
    ctx.dirty(1);
    ctx.out.int(len as i64);
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`: the longest common
/// subsequence, its length, or its matching ranges (a map in RESP3). Missing keys count
/// as empty strings; the keys are checked before the options.
fn lcs(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let mut inputs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut wrong_type = false;
    for (input, key) in inputs.iter_mut().zip(&argv[1..3]) {
        if let Some(entry) = db.get(key, now) {
            let mut scratch = itoa::Buffer::new();
            match entry.value.string_bytes(&mut scratch) {
                Some(bytes) => *input = bytes.to_vec(),
                None => wrong_type = true,
            }
        }
    }
    if wrong_type {
        return ctx.out.error(errors::LCS_NOT_STRINGS);
    }
    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let opt = c_string(argv[j]);
        let more = j + 1 < argv.len();
        if opt.eq_ignore_ascii_case(b"idx") {
            get_idx = true;
        } else if opt.eq_ignore_ascii_case(b"len") {
            get_len = true;
        } else if opt.eq_ignore_ascii_case(b"withmatchlen") {
            with_match_len = true;
        } else if opt.eq_ignore_ascii_case(b"minmatchlen") && more {
            let Some(n) = int_arg(ctx, argv[j + 1]) else {
                return;
            };
            min_match_len = n.max(0);
            j += 1;
        } else {
            return ctx.out.error(errors::SYNTAX);
        }
        j += 1;
    }
    if get_idx && get_len {
        return ctx.out.error(errors::LCS_LEN_AND_IDX);
    }
    let [a, b] = &inputs;
    let max = ctx.state.config.proto_max_bulk_len;
    let result = match lcs::lcs(a, b, !get_idx && !get_len, get_idx, min_match_len, max) {
        Ok(r) => r,
        Err(LcsError::TooLong) => return ctx.out.error(errors::LCS_TOO_LONG),
        Err(LcsError::TableTooBig) => return ctx.out.error(errors::LCS_TABLE_TOO_BIG),
        Err(LcsError::OutOfMemory) => return ctx.out.error(errors::LCS_OUT_OF_MEMORY),
    };
    if get_idx {
        ctx.out.map(2);
        ctx.out.bulk(b"matches");
        ctx.out.array(result.matches.len());
        for m in &result.matches {
            ctx.out.array(2 + with_match_len as usize);
            ctx.out.array(2);
            ctx.out.int(m.a_start as i64);
            ctx.out.int(m.a_end as i64);
            ctx.out.array(2);
            ctx.out.int(m.b_start as i64);
            ctx.out.int(m.b_end as i64);
            if with_match_len {
                ctx.out.int(m.len as i64);
            }
        }
        ctx.out.bulk(b"len");
        ctx.out.int(result.len as i64);
    } else if get_len {
        ctx.out.int(result.len as i64);
    } else {
        ctx.out.bulk(&result.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str], for_set: bool) -> Option<String> {
        let mut argv: Vec<&[u8]> = vec![b"cmd", b"key"];
        if for_set {
            argv.push(b"value");
        }
        argv.extend(args.iter().map(|a| a.as_bytes()));
        let first = argv.len() - args.len();
        parse_options(&argv, first, for_set).map(|o| format!("{o:?}"))
    }

    #[test]
    fn set_options_refuse_contradictions() {
        assert!(opts(&["NX", "XX"], true).is_none());
        assert!(opts(&["EX", "1", "PX", "1"], true).is_none());
        assert!(opts(&["EX", "1", "KEEPTTL"], true).is_none());
        assert!(opts(&["KEEPTTL", "PXAT", "1"], true).is_none());
        assert!(opts(&["EX"], true).is_none());
        assert!(opts(&["PERSIST"], true).is_none());
    }

    #[test]
    fn set_options_allow_repeats_and_any_order() {
        assert!(opts(&["EX", "1", "EX", "2"], true).is_some());
        assert!(opts(&["get", "nx", "px", "5"], true).is_some());
        assert!(opts(&["KEEPTTL", "KEEPTTL", "GET", "GET"], true).is_some());
    }

    #[test]
    fn options_are_compared_up_to_a_nul_byte() {
        assert!(opts(&["nx\0junk"], true).is_some());
    }

    #[test]
    fn getex_options_exclude_set_only_ones() {
        assert!(opts(&["PERSIST", "PERSIST"], false).is_some());
        assert!(opts(&["PERSIST", "EX", "1"], false).is_none());
        assert!(opts(&["NX"], false).is_none());
        assert!(opts(&["GET"], false).is_none());
        assert!(opts(&["KEEPTTL"], false).is_none());
    }

    #[test]
    fn expire_values_are_checked_like_redis() {
        let now = 1_700_000_000_000;
        assert_eq!(
            expire_millis(ExpireKind::Ex, b"10", now).ok(),
            Some(now + 10_000)
        );
        assert_eq!(expire_millis(ExpireKind::PxAt, b"5", now).ok(), Some(5));
        assert!(matches!(
            expire_millis(ExpireKind::Ex, b"0", now),
            Err(ExpireError::Invalid)
        ));
        assert!(matches!(
            expire_millis(ExpireKind::Px, b"9223372036854775807", now),
            Err(ExpireError::Invalid)
        ));
        assert!(matches!(
            expire_millis(ExpireKind::ExAt, b"9223372036854776", now),
            Err(ExpireError::Invalid)
        ));
        assert!(matches!(
            expire_millis(ExpireKind::Ex, b"1.5", now),
            Err(ExpireError::NotInteger)
        ));
    }

    #[test]
    fn byte_range_clamps_like_getrange() {
        assert_eq!(byte_range(5, 0, -1), Some((0, 4)));
        assert_eq!(byte_range(5, -3, -1), Some((2, 4)));
        assert_eq!(byte_range(5, -1, -3), None);
        assert_eq!(byte_range(5, 10, 20), None);
        assert_eq!(byte_range(5, -100, 100), Some((0, 4)));
        assert_eq!(byte_range(5, i64::MIN, i64::MAX), Some((0, 4)));
        assert_eq!(byte_range(0, 0, -1), None);
    }

    #[test]
    fn int_strings_become_raw_when_edited() {
        let mut v = Value::Int(42);
        raw_string(&mut v).unwrap().extend_from_slice(b"x");
        assert_eq!(v.encoding(), "raw");
        assert_eq!(
            v,
            Value::Str {
                data: Sds::from_slice(b"42x"),
                raw: true
            }
        );
    }
}
