//! The stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XREAD, XSETID, and the
//! consumer groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO), over
//! `types::StreamValue`. Arguments are checked in the order Redis 7.0's `t_stream.c`
//! checks them, so that the first error a client sees is Redis's.
//!
//! XREAD and XREADGROUP with BLOCK park their client (`Ctx::block`) when nothing can be
//! served; a write to one of the streams runs the command again, restricted to the stream
//! that was written (`blocking::woken_by`), as Redis serves a blocked reader from the key
//! that became ready. XREAD's `$` is resolved when the client blocks and the resolved ids
//! are what runs again. A group destroyed while its readers wait ends their wait with
//! Redis's NOGROUP error. Inside MULTI and scripts they answer at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::blocking::woken_by;
use crate::command::{handler, CommandError, CommandResult, Ctx, Done, Entry};
use crate::errors;
use crate::keyspace::{Key, Value};
use crate::reply::Reply;
use crate::types::stream::{Group, NodeLimits, StreamId, Trim, LISTPACK_MAX_SIZE};
use crate::types::StreamValue;
use crate::util::parse_i64;

pub static HANDLERS: &[Entry] = &[
    handler("xadd", xadd),
    handler("xlen", xlen),
    handler("xrange", xrange),
    handler("xrevrange", xrevrange),
    handler("xdel", xdel),
    handler("xtrim", xtrim),
    handler("xread", xread),
    handler("xreadgroup", xreadgroup),
    handler("xsetid", xsetid),
    handler("xack", xack),
    handler("xpending", xpending),
    handler("xclaim", xclaim),
    handler("xautoclaim", xautoclaim),
    handler("xgroup", super::container),
    handler("xgroup|create", xgroup),
    handler("xgroup|setid", xgroup),
    handler("xgroup|destroy", xgroup),
    handler("xgroup|createconsumer", xgroup),
    handler("xgroup|delconsumer", xgroup),
    handler("xgroup|help", xgroup),
    handler("xinfo", super::container),
    handler("xinfo|stream", xinfo),
    handler("xinfo|groups", xinfo),
    handler("xinfo|consumers", xinfo),
    handler("xinfo|help", xinfo),
];

/// How many entries a woken XREAD/XREADGROUP without COUNT is served at most (Redis's
/// `XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// The node limits, as CONFIG sets them.
fn node_limits(ctx: &Ctx) -> NodeLimits {
    let kept = &ctx.state.config.kept;
    let read = |name: &str, default: u64| {
        kept.get(name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    NodeLimits {
        max_bytes: read("stream-node-max-bytes", 4096),
        max_entries: read("stream-node-max-entries", 100),
    }
}

fn is_stream(value: &Value) -> bool {
    matches!(value, Value::Stream(_))
}

fn new_stream() -> Value {
    Value::Stream(Box::default())
}

// ---------------------------------------------------------------------------------------
// Ids

/// Redis's `string2ull`: `string2ll` when it fits (negative is invalid), else C's
/// `strtoull` over the whole text (leading spaces, a sign, wrapping negation and all).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return (v >= 0).then_some(v as u64);
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Redis's `streamGenericParseIDOrReply`: `-`, `+` (refused when `strict`), `<ms>` (with
/// `missing_seq`), `<ms>-<seq>`, and with `seq_given` the `<ms>-*` form of XADD.
fn parse_id(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_given: Option<&mut bool>,
) -> Result<StreamId, CommandError> {
    let invalid = || CommandError::from(errors::STREAM_INVALID_ID);
    if arg.len() > 127 {
        return Err(invalid());
    }
    // Redis copies the argument into a C string: it ends at a NUL.
    let buf = errors::c_string(arg);
    if strict && (buf == b"-" || buf == b"+") {
        return Err(invalid());
    }
    let mut seq_given = seq_given;
    if let Some(g) = seq_given.as_deref_mut() {
        *g = true;
    }
    if buf == b"-" {
        return Ok(StreamId::MIN);
    }
    if buf == b"+" {
        return Ok(StreamId::MAX);
    }
    let (ms_part, seq_part) = match memchr::memchr(b'-', buf) {
        Some(i) => (&buf[..i], Some(&buf[i + 1..])),
        None => (buf, None),
    };
    let ms = string2ull(ms_part).ok_or_else(invalid)?;
    let seq = match seq_part {
        None => missing_seq,
        Some(b"*") if seq_given.is_some() => {
            if let Some(g) = seq_given {
                *g = false;
            }
            0
        }
        Some(s) => string2ull(s).ok_or_else(invalid)?,
    };
    Ok(StreamId::new(ms, seq))
}

fn parse_strict(arg: &[u8]) -> Result<StreamId, CommandError> {
    parse_id(arg, 0, true, None)
}

/// Redis's `streamParseIntervalIDOrReply`: an id, or `(` and a strict id (exclusive).
fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CommandError> {
    if arg.len() > 1 && arg[0] == b'(' {
        return Ok((parse_id(&arg[1..], missing_seq, true, None)?, true));
    }
    Ok((parse_id(arg, missing_seq, false, None)?, false))
}

/// The start of a range: inclusive, or the id after an exclusive one.
fn range_start(arg: &[u8]) -> Result<StreamId, CommandError> {
    let (id, exclusive) = parse_interval(arg, 0)?;
    if exclusive {
        return id
            .incr()
            .ok_or_else(|| CommandError::from(errors::STREAM_INVALID_START));
    }
    Ok(id)
}

/// The end of a range: inclusive, or the id before an exclusive one.
fn range_end(arg: &[u8]) -> Result<StreamId, CommandError> {
    let (id, exclusive) = parse_interval(arg, u64::MAX)?;
    if exclusive {
        return id
            .decr()
            .ok_or_else(|| CommandError::from(errors::STREAM_INVALID_END));
    }
    Ok(id)
}

fn reply_id(out: &mut Reply, id: StreamId) {
    out.bulk(&id.to_bytes());
}

/// One entry as Redis replies it: its id and its fields and values.
fn reply_entry(out: &mut Reply, entry: &crate::types::stream::Entry<'_>) {
    out.array(2);
    reply_id(out, entry.id);
    out.array(entry.len() * 2);
    for (field, value) in entry.pairs() {
        out.bulk(field);
        out.bulk(value);
    }
}

/// The entries from `start` to `end`, at most `count` (0: all), as an array; how many.
fn reply_range(
    out: &mut Reply,
    stream: &StreamValue,
    start: StreamId,
    end: StreamId,
    count: usize,
    rev: bool,
) -> usize {
    let mut body = Reply::with_capacity(out.protocol, 256);
    let mut n = 0;
    stream.range(start, end, rev, |e| {
        reply_entry(&mut body, &e);
        n += 1;
        count == 0 || n < count
    });
    out.array(n);
    out.buf.extend_from_slice(&body.buf);
    n
}

/// One entry alone (XCLAIM, XAUTOCLAIM, XINFO's first and last), `false` if it is gone.
fn reply_one(out: &mut Reply, stream: &StreamValue, id: StreamId) -> bool {
    let mut found = false;
    stream.range(id, id, false, |e| {
        reply_entry(out, &e);
        found = true;
        false
    });
    found
}

/// The last live id (Redis's `streamLastValidID`), 0-0 for an empty stream.
fn last_valid_id(stream: &StreamValue) -> StreamId {
    stream.edge_id(true).unwrap_or_default()
}

/// A non-negative integer argument with `error` for anything else but a negative value,
/// which is `negative`'s error when given.
fn i64_arg(arg: &[u8], error: &'static str) -> Result<i64, CommandError> {
    parse_i64(arg).ok_or_else(|| CommandError::from(error))
}

// ---------------------------------------------------------------------------------------
// XADD, XTRIM

/// The trimming options of XADD and XTRIM.
#[derive(Default)]
struct TrimArgs {
    how: Option<Trim>,
    approx: bool,
    limit: u64,
}

/// XADD's own options.
#[derive(Default)]
struct AddArgs {
    /// The explicit id, and whether its sequence was given (not `<ms>-*`).
    id: Option<(StreamId, bool)>,
    nomkstream: bool,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`: the options from `argv[2]`, and the
/// position where XADD's id is (or where the options ended).
fn parse_add_or_trim(
    ctx: &Ctx,
    argv: &[&[u8]],
    xadd: bool,
) -> Result<(TrimArgs, AddArgs, usize), CommandError> {
    let mut trim = TrimArgs::default();
    let mut add = AddArgs::default();
    let mut limit: Option<i64> = None;
    let mut i = 2;
    while i < argv.len() {
        let moreargs = argv.len() - 1 - i;
        let opt = argv[i];
        if xadd && opt == b"*" {
            break;
        } else if (opt.eq_ignore_ascii_case(b"maxlen") || opt.eq_ignore_ascii_case(b"minid"))
            && moreargs > 0
        {
            if trim.how.is_some() {
                return Err(errors::STREAM_MAXLEN_AND_MINID.into());
            }
            trim.approx = false;
            let next = argv[i + 1];
            if moreargs >= 2 && next == b"~" {
                trim.approx = true;
                i += 1;
            } else if moreargs >= 2 && next == b"=" {
                i += 1;
            }
            let value = argv[i + 1];
            if opt.eq_ignore_ascii_case(b"maxlen") {
                let n = i64_arg(value, errors::NOT_INTEGER)?;
                if n < 0 {
                    return Err(errors::STREAM_MAXLEN_NEGATIVE.into());
                }
                trim.how = Some(Trim::MaxLen(n as u64));
            } else {
                trim.how = Some(Trim::MinId(parse_strict(value)?));
            }
            i += 1;
        } else if opt.eq_ignore_ascii_case(b"limit") && moreargs > 0 {
            let n = i64_arg(argv[i + 1], errors::NOT_INTEGER)?;
            if n < 0 {
                return Err(errors::STREAM_LIMIT_NEGATIVE.into());
            }
            limit = Some(n);
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            add.nomkstream = true;
        } else if xadd {
            let mut seq_given = true;
            let id = parse_id(opt, 0, true, Some(&mut seq_given))?;
            add.id = Some((id, seq_given));
            break;
        } else {
            return Err(errors::SYNTAX.into());
        }
        i += 1;
    }
    if limit.is_some_and(|l| l != 0) && trim.how.is_none() {
        return Err(errors::STREAM_LIMIT_WITHOUT_STRATEGY.into());
    }
    if !xadd && trim.how.is_none() {
        return Err(errors::STREAM_XTRIM_WITHOUT_STRATEGY.into());
    }
    match limit {
        Some(l) => {
            if !trim.approx {
                return Err(errors::STREAM_LIMIT_WITHOUT_APPROX.into());
            }
            trim.limit = l as u64;
        }
        None if trim.approx => {
            let per_node = node_limits(ctx).max_entries as i128;
            let l = 100 * per_node;
            trim.limit = if l <= 0 || l > 10000 { 10000 } else { l as u64 };
        }
        None => trim.limit = 0,
    }
    Ok((trim, add, i))
}

/// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value
/// [field value ...]`: appends an entry and answers its id.
fn xadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (trim, add, idpos) = parse_add_or_trim(ctx, argv, true)?;
    let field_pos = idpos + 1;
    let nfields = argv.len().saturating_sub(field_pos);
    if nfields < 2 || nfields % 2 == 1 {
        return Err(errors::wrong_arity("xadd").into());
    }
    if let Some((id, true)) = add.id {
        if id.is_zero() {
            return Err(errors::STREAM_ID_ZERO.into());
        }
    }
    let limits = node_limits(ctx);
    let key = argv[1];
    if add.nomkstream && ctx.read::<StreamValue>(key)?.is_none() {
        ctx.out.null();
        return Ok(Done);
    }
    let mut stream = ctx.write_or_create::<StreamValue>(key, new_stream)?;
    if stream.last_id == StreamId::MAX {
        stream.unchanged();
        return Err(errors::STREAM_EXHAUSTED.into());
    }
    let last = stream.last_id;
    let id = match add.id {
        None => {
            let now = crate::state::unix_millis().max(0) as u64;
            if now > last.ms {
                StreamId::new(now, 0)
            } else {
                // Never backwards, whatever the clock does.
                last.incr()
                    .ok_or(CommandError::from(errors::STREAM_EXHAUSTED))?
            }
        }
        Some((id, true)) => id,
        Some((id, false)) => {
            if id.ms == last.ms {
                if last.seq == u64::MAX {
                    stream.unchanged();
                    return Err(errors::STREAM_ID_TOO_SMALL.into());
                }
                StreamId::new(id.ms, last.seq + 1)
            } else {
                StreamId::new(id.ms, 0)
            }
        }
    };
    if id <= last {
        stream.unchanged();
        return Err(errors::STREAM_ID_TOO_SMALL.into());
    }
    let fields = &argv[field_pos..];
    let total: u64 = fields.iter().map(|f| f.len() as u64).sum();
    if total > LISTPACK_MAX_SIZE {
        stream.unchanged();
        return Err(errors::STREAM_ELEMENTS_TOO_LARGE.into());
    }
    stream.append(id, fields, limits);
    stream.changed(1, "xadd");
    if let Some(how) = trim.how {
        if stream.trim(how, trim.approx, trim.limit) > 0 {
            stream.notify("xtrim");
        }
    }
    drop(stream);
    reply_id(ctx.out, id);
    Ok(Done)
}

/// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`: answers how many entries went.
fn xtrim(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (trim, _, _) = parse_add_or_trim(ctx, argv, false)?;
    let mut deleted = 0;
    if let Some(mut stream) = ctx.write::<StreamValue>(argv[1])? {
        if let Some(how) = trim.how {
            deleted = stream.trim(how, trim.approx, trim.limit);
        }
        stream.changed(deleted, "xtrim");
    }
    ctx.out.int(deleted as i64);
    Ok(Done)
}

/// `XLEN key`
fn xlen(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let len = ctx.read::<StreamValue>(argv[1])?.map_or(0, |s| s.len());
    ctx.out.int(len as i64);
    Ok(Done)
}

/// `XRANGE key start end [COUNT count]`
fn xrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    range_command(ctx, argv, false)
}

/// `XREVRANGE key end start [COUNT count]`
fn xrevrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    range_command(ctx, argv, true)
}

fn range_command(ctx: &mut Ctx, argv: &[&[u8]], rev: bool) -> CommandResult {
    let (start_arg, end_arg) = if rev {
        (argv[3], argv[2])
    } else {
        (argv[2], argv[3])
    };
    let start = range_start(start_arg)?;
    let end = range_end(end_arg)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if argv[j].eq_ignore_ascii_case(b"count") && j + 1 < argv.len() {
            count = i64_arg(argv[j + 1], errors::NOT_INTEGER)?.max(0);
            j += 2;
        } else {
            return Err(errors::SYNTAX.into());
        }
    }
    let (mut db, out) = ctx.db_out();
    match db.read::<StreamValue>(argv[1])? {
        None => out.array(0),
        // Looked up first: a missing key answers an empty array even so.
        Some(_) if count == 0 => out.null_array(),
        Some(stream) => {
            reply_range(out, stream, start, end, count.max(0) as usize, rev);
        }
    }
    Ok(Done)
}

/// `XDEL key id [id ...]`: answers how many of the entries were there.
fn xdel(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let Some(mut stream) = ctx.write::<StreamValue>(argv[1])? else {
        ctx.out.int(0);
        return Ok(Done);
    };
    let mut ids = Vec::with_capacity(argv.len() - 2);
    for arg in &argv[2..] {
        match parse_strict(arg) {
            Ok(id) => ids.push(id),
            Err(e) => {
                stream.unchanged();
                return Err(e);
            }
        }
    }
    let mut deleted = 0;
    let mut first_entry = false;
    for id in ids {
        if stream.delete(id) {
            if id == stream.first_id {
                first_entry = true;
            }
            if id > stream.max_deleted_id {
                stream.max_deleted_id = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        if stream.is_empty() {
            stream.first_id = StreamId::MIN;
        } else if first_entry {
            stream.refresh_first_id();
        }
    }
    stream.changed(deleted, "xdel");
    drop(stream);
    ctx.out.int(deleted as i64);
    Ok(Done)
}

/// `XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]`
fn xsetid(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let id = parse_strict(argv[2])?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if argv[i].eq_ignore_ascii_case(b"entriesadded") && more > 0 {
            let n = i64_arg(argv[i + 1], errors::NOT_INTEGER)?;
            if n < 0 {
                return Err(errors::STREAM_ENTRIES_ADDED_NEGATIVE.into());
            }
            entries_added = Some(n as u64);
        } else if argv[i].eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
            max_deleted = parse_strict(argv[i + 1])?;
            if id < max_deleted {
                return Err(errors::STREAM_XSETID_BELOW_MAX_DELETED_ARG.into());
            }
        } else {
            return Err(errors::SYNTAX.into());
        }
        i += 2;
    }
    let Some(mut stream) = ctx.write::<StreamValue>(argv[1])? else {
        return Err(errors::NO_SUCH_KEY.into());
    };
    let check = (|| {
        // Redis 7.0 does not compare with the stream's own max deleted id.
        if !stream.is_empty() {
            if id < last_valid_id(&stream) {
                return Err(errors::STREAM_XSETID_BELOW_TOP);
            }
            if entries_added.is_some_and(|n| stream.len() > n) {
                return Err(errors::STREAM_XSETID_ENTRIES_ADDED);
            }
        }
        Ok(())
    })();
    if let Err(e) = check {
        stream.unchanged();
        return Err(e.into());
    }
    stream.last_id = id;
    if let Some(n) = entries_added {
        stream.entries_added = n;
    }
    if !max_deleted.is_zero() {
        stream.max_deleted_id = max_deleted;
    }
    // Redis 7.0 signals no key change for XSETID (WATCH does not see it).
    stream.notify("xsetid");
    stream.unchanged();
    drop(stream);
    ctx.state.mods.dirty += 1;
    ctx.out.ok();
    Ok(Done)
}

// ---------------------------------------------------------------------------------------
// XREAD, XREADGROUP

/// Whether a script runs the command (Redis refuses BLOCK there; MULTI only answers at
/// once).
fn in_script(ctx: &Ctx) -> bool {
    !ctx.can_block && ctx.state.script_run.running_for().is_some()
}

/// `XREAD [COUNT count] [BLOCK ms] STREAMS key [key ...] id [id ...]`
fn xread(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    read_streams(ctx, argv, false)
}

/// `XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key [key ...]
/// id [id ...]`
fn xreadgroup(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    read_streams(ctx, argv, true)
}

fn read_streams(ctx: &mut Ctx, argv: &[&[u8]], xreadgroup: bool) -> CommandResult {
    let mut timeout: Option<i64> = None;
    let mut count: i64 = 0;
    let mut streams_arg = 0;
    let mut streams_count = 0;
    let mut noack = false;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let o = argv[i];
        if o.eq_ignore_ascii_case(b"block") && more > 0 {
            if in_script(ctx) {
                return Err(errors::stream_block_in_script(argv[0]).into());
            }
            i += 1;
            let ms = parse_i64(argv[i])
                .ok_or_else(|| CommandError::from(errors::TIMEOUT_NOT_INTEGER))?;
            if ms < 0 {
                return Err(errors::TIMEOUT_NEGATIVE.into());
            }
            timeout = Some(ms);
        } else if o.eq_ignore_ascii_case(b"count") && more > 0 {
            i += 1;
            count = i64_arg(argv[i], errors::NOT_INTEGER)?.max(0);
        } else if o.eq_ignore_ascii_case(b"streams") && more > 0 {
            streams_arg = i + 1;
            let n = argv.len() - streams_arg;
            if !n.is_multiple_of(2) {
                return Err(errors::STREAM_UNBALANCED.into());
            }
            streams_count = n / 2;
            break;
        } else if o.eq_ignore_ascii_case(b"group") && more >= 2 {
            if !xreadgroup {
                return Err(errors::STREAM_GROUP_ONLY_XREADGROUP.into());
            }
            group = Some((argv[i + 1], argv[i + 2]));
            i += 2;
        } else if o.eq_ignore_ascii_case(b"noack") {
            if !xreadgroup {
                return Err(errors::STREAM_NOACK_ONLY_XREADGROUP.into());
            }
            noack = true;
        } else {
            return Err(errors::SYNTAX.into());
        }
        i += 1;
    }
    if streams_arg == 0 {
        return Err(errors::SYNTAX.into());
    }
    if xreadgroup && group.is_none() {
        return Err(errors::STREAM_MISSING_GROUP.into());
    }
    let keys = &argv[streams_arg..streams_arg + streams_count];
    let id_args = &argv[streams_arg + streams_count..];
    // A woken client looks at the stream that was written only.
    let woken = woken_by(ctx, keys);
    let indices: Vec<usize> = if woken.len() == keys.len() {
        (0..keys.len()).collect()
    } else {
        keys.iter()
            .position(|k| *k == woken[0])
            .into_iter()
            .collect()
    };
    let rerun = ctx.client.blocked;

    // The ids, resolved as Redis resolves them before serving anything: `$` is the last
    // id, `>` (and the largest id) means the group's new entries.
    let mut ids = vec![StreamId::MIN; streams_count];
    let mut dollar = false;
    for &i in &indices {
        let key = keys[i];
        if rerun && group.is_some() && !ctx.db().peek(key).is_some_and(|e| is_stream(e.value)) {
            // Deleted, or replaced by another type, while the reader waited.
            return Err(errors::STREAM_KEY_GONE.into());
        }
        let stream = ctx.read::<StreamValue>(key)?;
        if let Some((name, _)) = group {
            if stream.and_then(|s| s.group(name)).is_none() {
                if rerun {
                    return Err(errors::STREAM_GROUP_GONE.into());
                }
                return Err(errors::stream_no_key_or_group(
                    key,
                    name,
                    " in XREADGROUP with GROUP option",
                )
                .into());
            }
        }
        let arg = id_args[i];
        if arg == b"$" {
            if xreadgroup {
                return Err(errors::STREAM_DOLLAR_IN_XREADGROUP.into());
            }
            ids[i] = stream.map_or(StreamId::MIN, |s| s.last_id);
            dollar = true;
        } else if arg == b">" {
            if !xreadgroup {
                return Err(errors::STREAM_GT_OUTSIDE_XREADGROUP.into());
            }
            ids[i] = StreamId::MAX;
        } else {
            ids[i] = parse_strict(arg)?;
        }
    }

    let count = if count == 0 && rerun {
        BLOCKED_DEFAULT_COUNT
    } else {
        count as usize
    };
    let mut body = Reply::with_capacity(ctx.out.protocol, 256);
    let mut served = 0;
    for &i in &indices {
        let key = keys[i];
        let done = match group {
            Some((name, consumer)) => {
                serve_group(ctx, &mut body, key, name, consumer, ids[i], count, noack)?
            }
            None => serve_plain(ctx, &mut body, key, ids[i], count),
        };
        served += done as usize;
    }
    if served > 0 {
        if ctx.out.resp3() {
            ctx.out.map(served);
        } else {
            ctx.out.array(served);
        }
        ctx.out.buf.extend_from_slice(&body.buf);
        return Ok(Done);
    }
    let Some(ms) = timeout else {
        ctx.out.null_array();
        return Ok(Done);
    };
    // Far enough to be forever for any timer, and no overflow of `Instant`.
    let ms = (ms as u64).min(100 * 365 * 86_400_000);
    let deadline = (ms > 0).then(|| Instant::now() + Duration::from_millis(ms));
    let mut outcome = ctx.block(keys, deadline, is_stream)?;
    if let crate::command::Outcome::Block(block) = &mut outcome {
        block.wake_on_every_write = group.is_some();
    }
    match outcome {
        crate::command::Outcome::Block(mut block) if dollar => {
            // Wait for entries after the ids of now, not of when the client wakes.
            let mut resolved: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
            for (i, arg) in id_args.iter().enumerate() {
                if *arg == b"$" {
                    resolved[streams_arg + streams_count + i] = ids[i].to_bytes();
                }
            }
            block.argv = Some(resolved);
            Ok(crate::command::Outcome::Block(block))
        }
        other => Ok(other),
    }
}

/// Writes `[key, entries]` (a map entry in RESP3) for an XREAD of `key` after `gt`, if
/// the stream has entries after it; true if it did.
fn serve_plain(ctx: &mut Ctx, body: &mut Reply, key: &[u8], gt: StreamId, count: usize) -> bool {
    let Ok(Some(stream)) = ctx.read::<StreamValue>(key) else {
        return false;
    };
    if stream.is_empty() || last_valid_id(stream) <= gt {
        return false;
    }
    let start = gt.incr().unwrap_or(gt);
    if !body.resp3() {
        body.array(2);
    }
    body.bulk(key);
    reply_range(body, stream, start, StreamId::MAX, count, false);
    true
}

/// XREADGROUP's serving of one stream: the consumer's history after `gt`, or with `>`
/// (`gt` the largest id) the entries after the group's last id, which join the pending
/// list unless `noack`. True if it wrote `[key, entries]`.
#[allow(clippy::too_many_arguments)]
fn serve_group(
    ctx: &mut Ctx,
    body: &mut Reply,
    key: &[u8],
    group_name: &[u8],
    consumer_name: &[u8],
    gt: StreamId,
    count: usize,
    noack: bool,
) -> Result<bool, CommandError> {
    let now = ctx.now;
    let Some(mut stream) = ctx.write::<StreamValue>(key)? else {
        return Ok(false);
    };
    let history = gt != StreamId::MAX;
    let Some(group) = stream.group(group_name) else {
        stream.unchanged();
        return Ok(false);
    };
    let start = if history {
        gt.incr().unwrap_or(gt)
    } else {
        let last = group.last_id;
        if stream.is_empty() || last_valid_id(&stream) <= last {
            stream.unchanged();
            return Ok(false);
        }
        last.incr().unwrap_or(last)
    };
    if !body.resp3() {
        body.array(2);
    }
    body.bulk(key);
    let created = {
        let group = stream.group_mut(group_name).expect("group looked up");
        let (_, created) = group.consumer_or_create(consumer_name, now);
        if let Some(c) = group.consumers.get_mut(consumer_name) {
            c.seen_time = now;
        }
        created
    };
    if created {
        stream.notify("xgroup-createconsumer");
    }
    if history {
        // The consumer's pending entries from `start`, those deleted since as nulls.
        let group = stream.group(group_name).expect("group looked up");
        let consumer = &group.consumers[consumer_name];
        let pending: Vec<StreamId> = consumer
            .pel
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect();
        body.array(pending.len());
        let mut delivered = Vec::new();
        for id in &pending {
            if reply_one(body, &stream, *id) {
                delivered.push(*id);
            } else {
                body.array(2);
                reply_id(body, *id);
                body.null_array();
            }
        }
        let group = stream.group_mut(group_name).expect("group looked up");
        let redelivered = delivered.len() as u64;
        for id in delivered {
            if let Some(p) = group.pel.get_mut(&id) {
                p.delivery_time = now;
                p.delivery_count += 1;
            }
        }
        stream.counted(redelivered + u64::from(created));
    } else {
        let mut ids = Vec::new();
        let mut part = Reply::with_capacity(body.protocol, 256);
        stream.range(start, StreamId::MAX, false, |e| {
            reply_entry(&mut part, &e);
            ids.push(e.id);
            count == 0 || ids.len() < count
        });
        body.array(ids.len());
        body.buf.extend_from_slice(&part.buf);
        for &id in &ids {
            stream.advance_group(group_name, id);
        }
        if !noack {
            let group = stream.group_mut(group_name).expect("group looked up");
            let consumer: Arc<[u8]> = group
                .consumers
                .get_key_value(consumer_name)
                .map(|(k, _)| k.clone())
                .expect("consumer created");
            for &id in &ids {
                // An entry pending for another consumer (after XGROUP SETID) moves.
                group.assign(id, &consumer, now, 1);
            }
        }
        stream.counted(ids.len() as u64 + u64::from(created));
    }
    stream.unchanged();
    Ok(true)
}

// ---------------------------------------------------------------------------------------
// XGROUP

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

/// Reads an ENTRIESREAD value: a non-negative integer or -1 (unknown).
fn entries_read_arg(arg: &[u8]) -> Result<Option<u64>, CommandError> {
    let n = i64_arg(arg, errors::NOT_INTEGER)?;
    if n < 0 && n != -1 {
        return Err(errors::STREAM_ENTRIES_READ.into());
    }
    Ok((n >= 0).then_some(n as u64))
}

/// `XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP ...`, one function as in
/// Redis, so that the checks common to the subcommands come in its order.
fn xgroup(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let sub = argv[1];
    let is = |name: &str| sub.eq_ignore_ascii_case(name.as_bytes());
    let syntax = || CommandError::from(errors::subcommand_syntax(argv[0], sub));
    if argv.len() == 2 && is("help") {
        super::help(ctx, "XGROUP", XGROUP_HELP);
        return Ok(Done);
    }
    let mut mkstream = false;
    let mut entries_read: Option<u64> = None;
    let mut exists = false;
    if argv.len() >= 4 {
        // CREATE's and SETID's options, read before the key is looked at.
        if (is("create") || is("setid")) && argv.len() >= 5 {
            let mut i = 5;
            while i < argv.len() {
                if is("create") && argv[i].eq_ignore_ascii_case(b"mkstream") {
                    mkstream = true;
                    i += 1;
                } else if argv[i].eq_ignore_ascii_case(b"entriesread") && i + 1 < argv.len() {
                    entries_read = entries_read_arg(argv[i + 1])?;
                    i += 2;
                } else {
                    return Err(syntax());
                }
            }
        }
        let key = argv[2];
        let name = argv[3];
        exists = match ctx.db().peek(key) {
            None => false,
            Some(e) if is_stream(e.value) => true,
            Some(_) => return Err(errors::WRONGTYPE.into()),
        };
        if !mkstream {
            if !exists {
                return Err(errors::STREAM_XGROUP_NEEDS_KEY.into());
            }
            let has_group = ctx
                .read::<StreamValue>(key)?
                .is_some_and(|s| s.group(name).is_some());
            if !has_group && (is("setid") || is("createconsumer") || is("delconsumer")) {
                return Err(errors::stream_no_group(name, key).into());
            }
        }
    }
    let now = ctx.now;
    if is("create") && (5..=8).contains(&argv.len()) {
        let (key, name) = (argv[2], argv[3]);
        let id = if argv[4] == b"$" {
            ctx.read::<StreamValue>(key)?
                .map_or(StreamId::MIN, |s| s.last_id)
        } else {
            parse_strict(argv[4])?
        };
        let mut stream = ctx.write_or_create::<StreamValue>(key, new_stream)?;
        if stream.create_group(name, Group::new(id, entries_read)) {
            // Group changes are not key changes to WATCH (Redis signals none), except
            // the stream MKSTREAM makes.
            if !exists {
                stream.touched();
            }
            stream.notify("xgroup-create");
            stream.unchanged();
            drop(stream);
            // Not a key change, but a change to save and propagate (Redis's dirty++).
            ctx.state.mods.dirty += 1;
            ctx.out.ok();
            return Ok(Done);
        }
        stream.unchanged();
        return Err(errors::STREAM_BUSYGROUP.into());
    }
    if is("setid") && (argv.len() == 5 || argv.len() == 7) {
        let (key, name) = (argv[2], argv[3]);
        let mut stream = ctx.write::<StreamValue>(key)?.ok_or_else(syntax)?;
        let parsed = (|| {
            let id = if argv[4] == b"$" {
                stream.last_id
            } else {
                parse_id(argv[4], 0, false, None)?
            };
            Ok((id, entries_read))
        })();
        let (id, read) = match parsed {
            Ok(v) => v,
            Err(e) => {
                stream.unchanged();
                return Err(e);
            }
        };
        if let Some(group) = stream.group_mut(name) {
            group.last_id = id;
            group.entries_read = read;
        }
        stream.notify("xgroup-setid");
        stream.unchanged();
        drop(stream);
        ctx.state.mods.dirty += 1;
        ctx.out.ok();
        return Ok(Done);
    }
    if is("destroy") && argv.len() == 4 {
        let (key, name) = (argv[2], argv[3]);
        let mut stream = ctx.write::<StreamValue>(key)?.ok_or_else(syntax)?;
        let destroyed = stream.destroy_group(name);
        if destroyed {
            stream.notify("xgroup-destroy");
        }
        stream.unchanged();
        drop(stream);
        if destroyed {
            ctx.state.mods.dirty += 1;
            // Its blocked readers are woken to get NOGROUP (Redis's signalKeyAsReady,
            // which WATCH does not see).
            let db = ctx.client.db;
            ctx.state.blocked.key_written(db, Key::from_slice(key));
        }
        ctx.out.int(destroyed as i64);
        return Ok(Done);
    }
    if is("createconsumer") && argv.len() == 5 {
        let (key, name) = (argv[2], argv[3]);
        let mut stream = ctx.write::<StreamValue>(key)?.ok_or_else(syntax)?;
        let created = stream
            .group_mut(name)
            .is_some_and(|g| g.consumer_or_create(argv[4], now).1);
        if created {
            stream.notify("xgroup-createconsumer");
        }
        stream.unchanged();
        drop(stream);
        ctx.state.mods.dirty += u64::from(created);
        ctx.out.int(created as i64);
        return Ok(Done);
    }
    if is("delconsumer") && argv.len() == 5 {
        let (key, name) = (argv[2], argv[3]);
        let mut stream = ctx.write::<StreamValue>(key)?.ok_or_else(syntax)?;
        let pending = stream
            .group_mut(name)
            .and_then(|g| g.remove_consumer(argv[4]));
        if pending.is_some() {
            stream.notify("xgroup-delconsumer");
        }
        stream.unchanged();
        drop(stream);
        ctx.state.mods.dirty += u64::from(pending.is_some());
        ctx.out.int(pending.unwrap_or(0) as i64);
        return Ok(Done);
    }
    Err(syntax())
}

// ---------------------------------------------------------------------------------------
// XACK, XPENDING, XCLAIM, XAUTOCLAIM

/// `XACK key group id [id ...]`: answers how many of the ids were pending.
fn xack(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let has_group = ctx
        .read::<StreamValue>(argv[1])?
        .is_some_and(|s| s.group(argv[2]).is_some());
    if !has_group {
        ctx.out.int(0);
        return Ok(Done);
    }
    let ids = argv[3..]
        .iter()
        .map(|a| parse_strict(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut acked = 0;
    if let Some(mut stream) = ctx.write::<StreamValue>(argv[1])? {
        if let Some(group) = stream.group_mut(argv[2]) {
            for id in ids {
                acked += group.ack(id) as i64;
            }
        }
        stream.counted(acked as u64);
        stream.unchanged();
    }
    ctx.out.int(acked);
    Ok(Done)
}

/// `XPENDING key group [[IDLE min-idle-time] start end count [consumer]]`
fn xpending(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let justinfo = argv.len() == 3;
    if argv.len() != 3 && !(6..=9).contains(&argv.len()) {
        return Err(errors::SYNTAX.into());
    }
    let (mut start, mut end, mut count, mut minidle) = (StreamId::MIN, StreamId::MAX, 0i64, 0);
    let mut consumer: Option<&[u8]> = None;
    if argv.len() >= 6 {
        let mut at = 3;
        if argv[3].eq_ignore_ascii_case(b"idle") {
            minidle = i64_arg(argv[4], errors::NOT_INTEGER)?;
            if argv.len() < 8 {
                return Err(errors::SYNTAX.into());
            }
            at += 2;
        }
        count = i64_arg(argv[at + 2], errors::NOT_INTEGER)?.max(0);
        start = range_start(argv[at])?;
        end = range_end(argv[at + 1])?;
        consumer = argv.get(at + 3).copied();
    }
    let now = ctx.now;
    let (key, name) = (argv[1], argv[2]);
    let (mut db, out) = ctx.db_out();
    let stream = db.read::<StreamValue>(key)?;
    let Some(group) = stream.and_then(|s| s.group(name)) else {
        return Err(errors::stream_no_key_or_group(key, name, "").into());
    };
    if justinfo {
        out.array(4);
        out.int(group.pel.len() as i64);
        match (group.pel.keys().next(), group.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                reply_id(out, *first);
                reply_id(out, *last);
                let with: Vec<_> = group
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                out.array(with.len());
                for (cname, c) in with {
                    out.array(2);
                    out.bulk(cname);
                    out.bulk_int(c.pel.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(Done);
    }
    let ids: Vec<StreamId> = match consumer {
        Some(cname) => match group.consumers.get(cname) {
            None => {
                out.array(0);
                return Ok(Done);
            }
            Some(c) => c.pel.range(start..).copied().collect(),
        },
        None => group.pel.range(start..).map(|(id, _)| *id).collect(),
    };
    let mut rows = Vec::new();
    for id in ids {
        if count == 0 || id > end {
            break;
        }
        let Some(p) = group.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now - p.delivery_time < minidle {
            continue;
        }
        count -= 1;
        rows.push((id, p));
    }
    out.array(rows.len());
    for (id, p) in rows {
        out.array(4);
        reply_id(out, id);
        out.bulk(&p.consumer);
        out.int((now - p.delivery_time).max(0));
        out.int(p.delivery_count as i64);
    }
    Ok(Done)
}

/// `XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]`
fn xclaim(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (key, name, consumer_name) = (argv[1], argv[2], argv[3]);
    let has_group = ctx
        .read::<StreamValue>(key)?
        .is_some_and(|s| s.group(name).is_some());
    if !has_group {
        return Err(errors::stream_no_key_or_group(key, name, "").into());
    }
    let minidle = i64_arg(argv[4], errors::STREAM_XCLAIM_MIN_IDLE)?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match parse_strict(argv[j]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.now;
    let (mut force, mut justid) = (false, false);
    let mut retrycount: i64 = -1;
    let mut delivery: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv[j];
        if opt.eq_ignore_ascii_case(b"force") {
            force = true;
        } else if opt.eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else if opt.eq_ignore_ascii_case(b"idle") && more > 0 {
            j += 1;
            delivery = now - i64_arg(argv[j], errors::STREAM_XCLAIM_IDLE)?;
        } else if opt.eq_ignore_ascii_case(b"time") && more > 0 {
            j += 1;
            delivery = i64_arg(argv[j], errors::STREAM_XCLAIM_TIME)?;
        } else if opt.eq_ignore_ascii_case(b"retrycount") && more > 0 {
            j += 1;
            retrycount = i64_arg(argv[j], errors::STREAM_XCLAIM_RETRYCOUNT)?;
        } else if opt.eq_ignore_ascii_case(b"lastid") && more > 0 {
            j += 1;
            last_id = parse_strict(argv[j])?;
        } else {
            return Err(errors::stream_xclaim_option(opt).into());
        }
        j += 1;
    }
    if delivery == -1 || delivery < 0 || delivery > now {
        delivery = now;
    }
    let protocol = ctx.out.protocol;
    let mut stream = ctx
        .write::<StreamValue>(key)?
        .ok_or_else(|| CommandError::from(errors::stream_no_key_or_group(key, name, "")))?;
    if let Some(group) = stream.group_mut(name) {
        if last_id > group.last_id {
            group.last_id = last_id;
        }
    }
    let mut body = Reply::with_capacity(protocol, 256);
    let mut claimed = 0;
    let mut consumer: Option<Arc<[u8]>> = None;
    let mut created = false;
    for id in ids {
        let exists = stream.contains(id);
        let group = stream.group_mut(name).expect("group checked");
        if !exists {
            group.ack(id);
            continue;
        }
        let known = group
            .pel
            .get(&id)
            .map(|p| (p.delivery_time, p.delivery_count));
        let (previous_time, previous_count) = match known {
            Some(v) => (Some(v.0), v.1),
            None if force => (None, 0),
            None => continue,
        };
        if let Some(t) = previous_time {
            if minidle != 0 && now - t < minidle {
                continue;
            }
        }
        let who = claimer(group, &mut consumer, consumer_name, now, &mut created);
        let deliveries = if retrycount >= 0 {
            retrycount as u64
        } else if !justid {
            previous_count + 1
        } else {
            previous_count
        };
        group.assign(id, &who, delivery, deliveries);
        if justid {
            reply_id(&mut body, id);
        } else if !reply_one(&mut body, &stream, id) {
            body.null();
        }
        claimed += 1;
    }
    if created {
        stream.notify("xgroup-createconsumer");
    }
    stream.counted(claimed as u64 + u64::from(created));
    stream.unchanged();
    drop(stream);
    ctx.out.array(claimed);
    ctx.out.buf.extend_from_slice(&body.buf);
    Ok(Done)
}

/// `XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]`
fn xautoclaim(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (key, name, consumer_name) = (argv[1], argv[2], argv[3]);
    let minidle = i64_arg(argv[4], errors::STREAM_XAUTOCLAIM_MIN_IDLE)?.max(0);
    let start = range_start(argv[5])?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    // COUNT times 10 attempts must fit in a long, as in Redis.
    let max_count = i64::MAX / 16;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if argv[j].eq_ignore_ascii_case(b"count") && more > 0 {
            count = parse_i64(argv[j + 1])
                .filter(|n| (1..=max_count).contains(n))
                .ok_or_else(|| CommandError::from(errors::STREAM_COUNT_POSITIVE))?;
            j += 1;
        } else if argv[j].eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return Err(errors::SYNTAX.into());
        }
        j += 1;
    }
    let has_group = ctx
        .read::<StreamValue>(key)?
        .is_some_and(|s| s.group(name).is_some());
    if !has_group {
        return Err(errors::stream_no_key_or_group(key, name, "").into());
    }
    // Redis allocates room for COUNT deleted ids up front, and fails where that cannot be
    // had; past a terabyte it cannot on the machines it runs on.
    if count > (1 << 36) {
        return Err(errors::STREAM_COUNT_TOO_HIGH.into());
    }
    let now = ctx.now;
    let protocol = ctx.out.protocol;
    let mut stream = ctx.write::<StreamValue>(key)?.expect("stream checked");
    let mut attempts = count * 10;
    let candidates: Vec<StreamId> = {
        let group = stream.group(name).expect("group checked");
        group
            .pel
            .range(start..)
            .map(|(id, _)| *id)
            .take((attempts as usize).saturating_add(1))
            .collect()
    };
    let mut body = Reply::with_capacity(protocol, 256);
    let mut claimed = 0;
    let mut deleted = Vec::new();
    let mut consumer: Option<Arc<[u8]>> = None;
    let mut created = false;
    let mut next = 0;
    while attempts > 0 && count > 0 && next < candidates.len() {
        attempts -= 1;
        let id = candidates[next];
        next += 1;
        let exists = stream.contains(id);
        let group = stream.group_mut(name).expect("group checked");
        if !exists {
            group.ack(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        let Some(p) = group.pel.get(&id) else {
            continue;
        };
        if minidle != 0 && now - p.delivery_time < minidle {
            continue;
        }
        let deliveries = p.delivery_count + (!justid) as u64;
        let who = claimer(group, &mut consumer, consumer_name, now, &mut created);
        group.assign(id, &who, now, deliveries);
        if justid {
            reply_id(&mut body, id);
        } else if !reply_one(&mut body, &stream, id) {
            body.null();
        }
        claimed += 1;
        count -= 1;
    }
    // The cursor: the next pending id after the last one looked at, 0-0 at the end.
    let cursor = {
        let group = stream.group(name).expect("group checked");
        let after = if next == 0 {
            None
        } else {
            Some(candidates[next - 1])
        };
        match after {
            None => group.pel.range(start..).next().map(|(id, _)| *id),
            Some(last) => group
                .pel
                .range((std::ops::Bound::Excluded(last), std::ops::Bound::Unbounded))
                .next()
                .map(|(id, _)| *id),
        }
        .unwrap_or_default()
    };
    if created {
        stream.notify("xgroup-createconsumer");
    }
    stream.counted(claimed as u64 + deleted.len() as u64 + u64::from(created));
    stream.unchanged();
    drop(stream);
    let out = &mut *ctx.out;
    out.array(3);
    reply_id(out, cursor);
    out.array(claimed);
    out.buf.extend_from_slice(&body.buf);
    out.array(deleted.len());
    for id in deleted {
        reply_id(out, id);
    }
    Ok(Done)
}

// ---------------------------------------------------------------------------------------
// XINFO

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

/// `XINFO STREAM|GROUPS|CONSUMERS|HELP ...`
fn xinfo(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let sub = argv[1];
    let syntax = || CommandError::from(errors::subcommand_syntax(argv[0], sub));
    if sub.eq_ignore_ascii_case(b"help") {
        if argv.len() != 2 {
            return Err(syntax());
        }
        super::help(ctx, "XINFO", XINFO_HELP);
        return Ok(Done);
    }
    if argv.len() < 3 {
        return Err(syntax());
    }
    let key = argv[2];
    let now = ctx.now;
    let (mut db, out) = ctx.db_out();
    let Some(stream) = db.read::<StreamValue>(key)? else {
        return Err(errors::NO_SUCH_KEY.into());
    };
    if sub.eq_ignore_ascii_case(b"consumers") && argv.len() == 4 {
        let Some(group) = stream.group(argv[3]) else {
            return Err(errors::stream_no_group(argv[3], key).into());
        };
        out.array(group.consumers.len());
        for (name, c) in &group.consumers {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"pending");
            out.int(c.pel.len() as i64);
            out.bulk(b"idle");
            out.int((now - c.seen_time).max(0));
        }
        return Ok(Done);
    }
    if sub.eq_ignore_ascii_case(b"groups") && argv.len() == 3 {
        out.array(stream.group_count());
        for (name, g) in stream.groups() {
            out.map(6);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"consumers");
            out.int(g.consumers.len() as i64);
            out.bulk(b"pending");
            out.int(g.pel.len() as i64);
            out.bulk(b"last-delivered-id");
            reply_id(out, g.last_id);
            reply_group_counters(out, stream, g);
        }
        return Ok(Done);
    }
    if sub.eq_ignore_ascii_case(b"stream") {
        return xinfo_stream(out, stream, argv, syntax);
    }
    Err(syntax())
}

/// A group's `entries-read` and `lag` fields.
fn reply_group_counters(out: &mut Reply, stream: &StreamValue, g: &Group) {
    out.bulk(b"entries-read");
    match g.entries_read {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
    out.bulk(b"lag");
    match stream.lag(g) {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
}

fn xinfo_stream(
    out: &mut Reply,
    stream: &StreamValue,
    argv: &[&[u8]],
    syntax: impl Fn() -> CommandError,
) -> CommandResult {
    let opts = &argv[3..];
    let mut count: i64 = 10;
    let full = !opts.is_empty();
    if full {
        if opts.len() != 1 && opts.len() != 3 {
            return Err(syntax());
        }
        if !opts[0].eq_ignore_ascii_case(b"full") {
            return Err(syntax());
        }
        if opts.len() == 3 {
            if !opts[1].eq_ignore_ascii_case(b"count") {
                return Err(syntax());
            }
            count = i64_arg(opts[2], errors::NOT_INTEGER)?;
            if count < 0 {
                count = 10;
            }
        }
    }
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(stream.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(stream.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(stream.radix_tree_nodes() as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, stream.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, stream.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(stream.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, stream.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(stream.group_count() as i64);
        out.bulk(b"first-entry");
        match stream.edge_id(false) {
            Some(id) => {
                reply_one(out, stream, id);
            }
            None => out.null(),
        }
        out.bulk(b"last-entry");
        match stream.edge_id(true) {
            Some(id) => {
                reply_one(out, stream, id);
            }
            None => out.null(),
        }
        return Ok(Done);
    }
    let count = count as usize;
    let limit = |n: usize| count == 0 || n < count;
    out.bulk(b"entries");
    reply_range(out, stream, StreamId::MIN, StreamId::MAX, count, false);
    out.bulk(b"groups");
    out.array(stream.group_count());
    for (name, g) in stream.groups() {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        reply_group_counters(out, stream, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let pel: Vec<_> = g
            .pel
            .iter()
            .enumerate()
            .take_while(|(n, _)| limit(*n))
            .map(|(_, p)| p)
            .collect();
        out.array(pel.len());
        for (id, p) in pel {
            out.array(4);
            reply_id(out, *id);
            out.bulk(&p.consumer);
            out.int(p.delivery_time);
            out.int(p.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let ids: Vec<_> = c
                .pel
                .iter()
                .enumerate()
                .take_while(|(n, _)| limit(*n))
                .map(|(_, id)| *id)
                .collect();
            out.array(ids.len());
            for id in ids {
                let p = &g.pel[&id];
                out.array(3);
                reply_id(out, id);
                out.int(p.delivery_time);
                out.int(p.delivery_count as i64);
            }
        }
    }
    Ok(Done)
}

/// The consumer XCLAIM and XAUTOCLAIM give entries to: made (and marked seen) at the first
/// entry actually claimed, as Redis creates it only then; `created` says it was new.
fn claimer(
    group: &mut Group,
    claimer: &mut Option<Arc<[u8]>>,
    name: &[u8],
    now: i64,
    created: &mut bool,
) -> Arc<[u8]> {
    if let Some(c) = claimer {
        return c.clone();
    }
    let (c, new) = group.consumer_or_create(name, now);
    if let Some(state) = group.consumers.get_mut(&c) {
        state.seen_time = now;
    }
    *created |= new;
    *claimer = Some(c.clone());
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_string2ull_reads_them() {
        assert_eq!(string2ull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(string2ull(b"18446744073709551616"), None);
        assert_eq!(string2ull(b"-1"), None);
        assert_eq!(string2ull(b"-0"), Some(0));
        assert_eq!(string2ull(b" 5"), Some(5));
        assert_eq!(string2ull(b"+5"), Some(5));
        assert_eq!(string2ull(b""), None);
        assert_eq!(parse_strict(b"5").unwrap(), StreamId::new(5, 0));
        assert_eq!(
            parse_id(b"5", u64::MAX, false, None).unwrap(),
            StreamId::new(5, u64::MAX)
        );
        assert!(parse_strict(b"-").is_err());
        assert_eq!(parse_id(b"+", 0, false, None).unwrap(), StreamId::MAX);
        let mut given = true;
        assert_eq!(
            parse_id(b"7-*", 0, true, Some(&mut given)).unwrap(),
            StreamId::new(7, 0)
        );
        assert!(!given);
        assert!(parse_strict(b"7-*").is_err());
    }
}
