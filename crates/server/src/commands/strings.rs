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

use crate::args::Args;
use crate::command::{handler, key_flags, CommandError, CommandResult, Ctx, Done, Entry};
use crate::config::notify;
use crate::errors::{self, c_string};
use crate::keyspace::value::EMBSTR_MAX;
use crate::keyspace::{DbMut, Millis, Sds, Value, NO_EXPIRY};
use crate::util::parse_i64;

use lcs::LcsError;
use long_double::LongDouble;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("get", get),
    Entry {
        getkeys: Some(set_keys),
        ..handler("set", set)
    },
    handler("setnx", setnx),
    handler("setex", setex),
    handler("psetex", psetex),
    handler("mget", mget),
    handler("mset", mset),
    handler("msetnx", msetnx),
    handler("incr", incr),
    handler("decr", decr),
    handler("incrby", incrby),
    handler("decrby", decrby),
    handler("incrbyfloat", incrbyfloat),
    handler("append", append),
    handler("strlen", strlen),
    handler("getrange", getrange),
    handler("substr", getrange),
    handler("setrange", setrange),
    handler("getdel", getdel),
    handler("getex", getex),
    handler("getset", getset),
    handler("lcs", lcs),
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
#[derive(Debug, PartialEq, Eq)]
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

impl ExpireError {
    /// The reply for a refused expiry argument of `command`.
    fn into_error(self, command: &str) -> CommandError {
        match self {
            ExpireError::NotInteger => errors::NOT_INTEGER.into(),
            ExpireError::Invalid => errors::invalid_expire_time(command).into(),
        }
    }
}

/// The bytes of the string at `key` (formatting an `int` into `scratch`), counting a hit
/// or a miss; WRONGTYPE for another type.
fn string_at<'a>(
    db: &'a mut DbMut,
    key: &[u8],
    scratch: &'a mut itoa::Buffer,
) -> Result<Option<&'a [u8]>, CommandError> {
    Ok(db.read_string(key)?.and_then(|v| v.string_bytes(scratch)))
}

/// The length of a string value; `None` for other types.
fn string_len(value: &Value) -> Option<usize> {
    let mut scratch = itoa::Buffer::new();
    value.string_bytes(&mut scratch).map(<[u8]>::len)
}

/// Redis's `getGenericCommand`: replies with the string at `key`, null when there is none;
/// WRONGTYPE for another type. True when there was one.
fn reply_get(ctx: &mut Ctx, key: &[u8]) -> Result<bool, CommandError> {
    let (mut db, out) = ctx.db_out();
    let mut scratch = itoa::Buffer::new();
    match string_at(&mut db, key, &mut scratch)? {
        Some(bytes) => {
            out.bulk(bytes);
            Ok(true)
        }
        None => {
            out.null();
            Ok(false)
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
fn get(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    reply_get(ctx, argv[1])?;
    Ok(Done)
}

/// How SET-like commands answer: SET replies `OK` or null, SETNX `1` or `0`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetReply {
    OkOrNull,
    OneOrZero,
}

/// Redis's `setGenericCommand`: validates the expiry, answers the old value for `GET`,
/// honours NX/XX, then stores the value with its TTL (or the old TTL with KEEPTTL).
fn set_generic(
    ctx: &mut Ctx,
    key: &[u8],
    value: &[u8],
    opts: StringOptions,
    answer: SetReply,
) -> CommandResult {
    let mut expire_at = NO_EXPIRY;
    if let Some((kind, arg)) = opts.expire {
        expire_at =
            expire_millis(kind, arg, ctx.now).map_err(|e| e.into_error(ctx.cmd.full_name))?;
    }
    if opts.get {
        reply_get(ctx, key)?;
    }
    let (mut db, out) = ctx.db_out();
    let found = db.contains(key);
    let store = !((opts.nx && found) || (opts.xx && !found));
    if store {
        if opts.keepttl {
            expire_at = db.expire_at(key).unwrap_or(NO_EXPIRY);
        }
        // An absolute time in the past is stored as it is: the key is gone at its next
        // access, as in Redis 7.0, which also only expires it lazily.
        db.set(key, Value::string(value), expire_at);
        db.notify(notify::STRING, "set", key);
        if opts.expire.is_some() {
            db.notify(notify::GENERIC, "expire", key);
        }
    }
    if !opts.get {
        match (answer, store) {
            (SetReply::OkOrNull, true) => out.ok(),
            (SetReply::OkOrNull, false) => out.null(),
            (SetReply::OneOrZero, stored) => out.int(stored as i64),
        }
    }
    Ok(Done)
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL]`.
fn set(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let opts = parse_options(argv, 3, true).ok_or(errors::SYNTAX)?;
    set_generic(ctx, argv[1], argv[2], opts, SetReply::OkOrNull)
}

/// `SETNX key value`: 1 when set, 0 when the key existed.
fn setnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let opts = StringOptions {
        nx: true,
        ..StringOptions::default()
    };
    set_generic(ctx, argv[1], argv[2], opts, SetReply::OneOrZero)
}

/// `SETEX key seconds value`.
fn setex(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let opts = StringOptions {
        expire: Some((ExpireKind::Ex, argv[2])),
        ..StringOptions::default()
    };
    set_generic(ctx, argv[1], argv[3], opts, SetReply::OkOrNull)
}

/// `PSETEX key milliseconds value`.
fn psetex(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let opts = StringOptions {
        expire: Some((ExpireKind::Px, argv[2])),
        ..StringOptions::default()
    };
    set_generic(ctx, argv[1], argv[3], opts, SetReply::OkOrNull)
}

/// `GETSET key value`: the old value (null if none); the new value has no TTL.
fn getset(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    reply_get(ctx, argv[1])?;
    let mut db = ctx.db();
    db.set(argv[1], Value::string(argv[2]), NO_EXPIRY);
    db.notify(notify::STRING, "set", argv[1]);
    Ok(Done)
}

/// `GETDEL key`: the value, and the key is deleted.
fn getdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if reply_get(ctx, argv[1])? {
        let mut db = ctx.db();
        if db.remove(argv[1]).is_some() {
            db.notify(notify::GENERIC, "del", argv[1]);
        }
    }
    Ok(Done)
}

/// `GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]`: the value, and its TTL changed.
/// A missing key answers null before the expiry is even checked; an absolute time that
/// has passed deletes the key after answering its value.
fn getex(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let opts = parse_options(argv, 2, false).ok_or(errors::SYNTAX)?;
    let key = argv[1];
    let (now, command) = (ctx.now, ctx.cmd.full_name);
    let (mut db, out) = ctx.db_out();
    let mut scratch = itoa::Buffer::new();
    let Some(bytes) = string_at(&mut db, key, &mut scratch)? else {
        out.null();
        return Ok(Done);
    };
    let expire = match opts.expire {
        Some((kind, arg)) => {
            let at = expire_millis(kind, arg, now).map_err(|e| e.into_error(command))?;
            Some((kind, at))
        }
        None => None,
    };
    out.bulk(bytes);
    match expire {
        Some((kind, at)) if !kind.is_relative() && at <= now => {
            db.remove(key);
            db.notify(notify::GENERIC, "del", key);
        }
        Some((_, at)) => {
            db.set_expire(key, at);
            db.notify(notify::GENERIC, "expire", key);
        }
        None if opts.persist && db.expire_at(key).is_some_and(|at| at != NO_EXPIRY) => {
            db.set_expire(key, NO_EXPIRY);
            db.notify(notify::GENERIC, "persist", key);
        }
        None => {}
    }
    Ok(Done)
}

/// `MGET key [key ...]`: each value, null for a missing key or one of another type.
fn mget(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    out.array(argv.len() - 1);
    let mut scratch = itoa::Buffer::new();
    for key in &argv[1..] {
        match db.get(key).and_then(|e| e.value.string_bytes(&mut scratch)) {
            Some(bytes) => out.bulk(bytes),
            None => out.null(),
        }
    }
    Ok(Done)
}

/// `MSET key value [key value ...]`: always `OK`; every TTL is cleared.
fn mset(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    mset_generic(ctx, argv, false)
}

/// `MSETNX key value [key value ...]`: 1 when all were set, 0 (and nothing set) when any
/// key existed.
fn msetnx(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    mset_generic(ctx, argv, true)
}

fn mset_generic(ctx: &mut Ctx, argv: &[&[u8]], nx: bool) -> CommandResult {
    if argv.len().is_multiple_of(2) {
        return Err(errors::wrong_arity(ctx.cmd.full_name).into());
    }
    let (mut db, out) = ctx.db_out();
    if nx && argv[1..].iter().step_by(2).any(|key| db.contains(key)) {
        out.int(0);
        return Ok(Done);
    }
    for pair in argv[1..].chunks_exact(2) {
        db.set(pair[0], Value::string(pair[1]), NO_EXPIRY);
        db.notify(notify::STRING, "set", pair[0]);
    }
    if nx {
        out.int(1);
    } else {
        out.ok();
    }
    Ok(Done)
}

/// Redis's `incrDecrCommand`: adds `by` to the integer at `key` (0 when missing), keeping
/// its TTL; the result is always `int` encoded.
fn incr_by(ctx: &mut Ctx, key: &[u8], by: i64) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    // A new key cannot fail below (0 + `by` does not overflow), so it can be made first.
    let mut value = db.write_or_create::<Value>(key, || Value::Int(0))?;
    let result = value_as_i64(&value)?
        .checked_add(by)
        .ok_or(errors::OVERFLOW)?;
    match &mut *value {
        Value::Int(n) => *n = result,
        other => *other = Value::Int(result),
    }
    value.changed(1, "incrby");
    out.int(result);
    Ok(Done)
}

/// `INCR key`.
fn incr(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    incr_by(ctx, argv[1], 1)
}

/// `DECR key`.
fn decr(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    incr_by(ctx, argv[1], -1)
}

/// `INCRBY key increment`: the increment is checked before the key.
fn incrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let by = Args::new(argv, 2).i64()?;
    incr_by(ctx, argv[1], by)
}

/// `DECRBY key decrement`: a decrement of i64::MIN cannot be negated, which Redis 7.0
/// reports with an error of its own.
fn decrby(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let by = Args::new(argv, 2).i64()?;
    if by == i64::MIN {
        return Err(errors::DECREMENT_OVERFLOW.into());
    }
    incr_by(ctx, argv[1], -by)
}

/// `INCRBYFLOAT key increment`: C `long double` arithmetic (see `long_double`), the result
/// written with `%.17Lf` less its trailing zeros and stored as that text, TTL kept.
fn incrbyfloat(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let key = argv[1];
    let (mut db, out) = ctx.db_out();
    let current = match db.peek(key).map(|e| e.value) {
        None => Some(LongDouble::ZERO),
        Some(Value::Int(n)) => Some(LongDouble::from_i64(*n)),
        Some(Value::Str { data, .. }) => LongDouble::parse(data),
        Some(_) => return Err(errors::WRONGTYPE.into()),
    };
    let (Some(current), Some(by)) = (current, LongDouble::parse(argv[2])) else {
        return Err(errors::NOT_FLOAT.into());
    };
    let sum = current.add(by);
    if !sum.is_finite() {
        return Err(errors::NAN_OR_INFINITY.into());
    }
    let text = sum.to_human_string();
    // Replaced in place (its TTL stays), or stored under a new key.
    let mut value = db.write_or_create::<Value>(key, || Value::Int(0))?;
    *value = Value::Str {
        data: Sds::from_slice(text.as_bytes()),
        raw: text.len() > EMBSTR_MAX,
    };
    value.changed(1, "incrbyfloat");
    out.bulk(text.as_bytes());
    Ok(Done)
}

/// `APPEND key value`: the new length. A new key is stored like SET stores it; an existing
/// one becomes `raw`, even when nothing is appended.
fn append(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (key, tail) = (argv[1], argv[2]);
    let max = ctx.state.config.proto_max_bulk_len;
    let (mut db, out) = ctx.db_out();
    let Some(mut value) = db.write::<Value>(key)? else {
        db.set(key, Value::string(tail), NO_EXPIRY);
        // Redis names a key that APPEND creates `append` too (after `new`).
        db.notify(notify::STRING, "append", key);
        out.int(tail.len() as i64);
        return Ok(Done);
    };
    let old_len = string_len(&value).ok_or(errors::WRONGTYPE)?;
    if !fits_bulk_len(old_len as u64, tail.len() as u64, max) {
        return Err(errors::STRING_TOO_LONG.into());
    }
    if let Some(data) = raw_string(&mut value) {
        data.extend_from_slice(tail);
    }
    value.changed(1, "append");
    out.int((old_len + tail.len()) as i64);
    Ok(Done)
}

/// `STRLEN key`: the length of the value, 0 when missing.
fn strlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let len = match ctx.db().read_string(argv[1])? {
        Some(value) => string_len(value).unwrap_or(0),
        None => 0,
    };
    ctx.out.int(len as i64);
    Ok(Done)
}

/// `GETRANGE key start end` (and the old name SUBSTR): the bytes from `start` to `end`
/// inclusive, negative indexes counting from the end, clamped as Redis clamps them. A
/// missing key reads as an empty string.
fn getrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut args = Args::new(argv, 2);
    let (start, end) = (args.i64()?, args.i64()?);
    let (mut db, out) = ctx.db_out();
    let mut scratch = itoa::Buffer::new();
    let s = string_at(&mut db, argv[1], &mut scratch)?.unwrap_or_default();
    match byte_range(s.len(), start, end) {
        Some((from, to)) => out.bulk(&s[from..=to]),
        None => out.bulk(b""),
    }
    Ok(Done)
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
fn setrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (key, value) = (argv[1], argv[3]);
    let offset = Args::new(argv, 2).i64()?;
    if offset < 0 {
        return Err(errors::OFFSET_OUT_OF_RANGE.into());
    }
    let max = ctx.state.config.proto_max_bulk_len;
    let (mut db, out) = ctx.db_out();
    // Redis's order: the type, then an empty value (which changes nothing), then the size.
    let old_len = match db.peek(key) {
        Some(entry) => string_len(entry.value).ok_or(errors::WRONGTYPE)?,
        None => 0,
    };
    if value.is_empty() {
        out.int(old_len as i64);
        return Ok(Done);
    }
    if !fits_bulk_len(offset as u64, value.len() as u64, max) {
        return Err(errors::STRING_TOO_LONG.into());
    }
    let (offset, end) = (offset as usize, offset as usize + value.len());
    // A new key starts as an empty `raw` string and is padded like an existing one.
    let mut string = db.write_or_create::<Value>(key, || Value::Str {
        data: Sds::new(),
        raw: true,
    })?;
    if let Some(data) = raw_string(&mut string) {
        if data.len() < end {
            data.resize(end, 0);
        }
        data[offset..end].copy_from_slice(value);
    }
    string.changed(1, "setrange");
    out.int(old_len.max(end) as i64);
    Ok(Done)
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`: the longest common
/// subsequence, its length, or its matching ranges (a map in RESP3). Missing keys count
/// as empty strings; the keys are checked before the options.
fn lcs(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut db = ctx.db();
    let mut inputs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut wrong_type = false;
    for (input, key) in inputs.iter_mut().zip(&argv[1..3]) {
        if let Some(entry) = db.get(key) {
            let mut scratch = itoa::Buffer::new();
            match entry.value.string_bytes(&mut scratch) {
                Some(bytes) => *input = bytes.to_vec(),
                None => wrong_type = true,
            }
        }
    }
    if wrong_type {
        return Err(errors::LCS_NOT_STRINGS.into());
    }
    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut args = Args::new(argv, 3);
    while !args.is_empty() {
        // Redis compares the options as C strings.
        let opt = c_string(args.next()?);
        if opt.eq_ignore_ascii_case(b"idx") {
            get_idx = true;
        } else if opt.eq_ignore_ascii_case(b"len") {
            get_len = true;
        } else if opt.eq_ignore_ascii_case(b"withmatchlen") {
            with_match_len = true;
        } else if opt.eq_ignore_ascii_case(b"minmatchlen") && !args.is_empty() {
            min_match_len = args.i64()?.max(0);
        } else {
            return Err(errors::SYNTAX.into());
        }
    }
    if get_idx && get_len {
        return Err(errors::LCS_LEN_AND_IDX.into());
    }
    let [a, b] = &inputs;
    let max = ctx.state.config.proto_max_bulk_len;
    let result =
        lcs::lcs(a, b, !get_idx && !get_len, get_idx, min_match_len, max).map_err(|e| match e {
            LcsError::TooLong => errors::LCS_TOO_LONG,
            LcsError::TableTooBig => errors::LCS_TABLE_TOO_BIG,
            LcsError::OutOfMemory => errors::LCS_OUT_OF_MEMORY,
        })?;
    let out = &mut *ctx.out;
    if get_idx {
        out.map(2);
        out.bulk(b"matches");
        out.array(result.matches.len());
        for m in &result.matches {
            out.array(2 + with_match_len as usize);
            out.array(2);
            out.int(m.a_start as i64);
            out.int(m.a_end as i64);
            out.array(2);
            out.int(m.b_start as i64);
            out.int(m.b_end as i64);
            if with_match_len {
                out.int(m.len as i64);
            }
        }
        out.bulk(b"len");
        out.int(result.len as i64);
    } else if get_len {
        out.int(result.len as i64);
    } else {
        out.bulk(&result.text);
    }
    Ok(Done)
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
        for (kind, arg, refused) in [
            (ExpireKind::Ex, "0", ExpireError::Invalid),
            (ExpireKind::Px, "9223372036854775807", ExpireError::Invalid),
            (ExpireKind::ExAt, "9223372036854776", ExpireError::Invalid),
            (ExpireKind::Ex, "1.5", ExpireError::NotInteger),
        ] {
            let got = expire_millis(kind, arg.as_bytes(), now);
            assert_eq!(got, Err(refused), "{kind:?} {arg}");
        }
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
