//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO,
//! each reply and error as Redis 7.0's `bitops.c` writes them.
//!
//! A bitmap is a string: bit 0 is the most significant bit of the first byte. Commands
//! that write grow the string with zero bytes up to the byte they reach (never past
//! `proto-max-bulk-len`, which bounds every offset), turn it into a `raw` string as Redis
//! does, and report a change only when a bit changed or the string grew. Integer-encoded
//! strings are read through their decimal text.

mod bitfield;

use crate::args::Args;
use crate::command::{handler, key_flags, CommandError, CommandResult, Ctx, Done, Entry};
use crate::config::notify;
use crate::errors::{self, c_string};
use crate::keyspace::{DbMut, Sds, Value, Written};
use crate::util::parse_i64;

use bitfield::{FieldType, Overflow};

/// The handlers of this family, joined with their metadata (`crates/commands`) by name.
pub static HANDLERS: &[Entry] = &[
    handler("setbit", setbit),
    handler("getbit", getbit),
    handler("bitcount", bitcount),
    handler("bitpos", bitpos),
    handler("bitop", bitop),
    Entry {
        getkeys: Some(bitfield_keys),
        ..handler("bitfield", bitfield)
    },
    handler("bitfield_ro", bitfield_ro),
];

/// Redis's `bitfieldGetKeys`: the key, read-only while the operations (as far as they
/// parse) only GET or set OVERFLOW.
fn bitfield_keys(argv: &[&[u8]]) -> Vec<(usize, u32)> {
    let mut read_only = true;
    let mut i = 2;
    while i < argv.len() {
        let left = argv.len() - i - 1;
        let op = c_string(argv[i]);
        let is = |name: &str| op.eq_ignore_ascii_case(name.as_bytes());
        if is("get") && left >= 2 {
            i += 2;
        } else if is("overflow") && left >= 1 {
            i += 1;
        } else {
            // SET, INCRBY, or something that will not parse: not read-only.
            read_only = false;
            break;
        }
        i += 1;
    }
    let flags = if read_only {
        key_flags::RO | key_flags::ACCESS
    } else {
        key_flags::RW | key_flags::ACCESS | key_flags::UPDATE
    };
    vec![(1, flags)]
}

/// Redis's `dbUnshareStringValue`: a string value becomes an editable `raw` string (an
/// `int` turns into its text); its bytes. `None` for other types. HyperLogLog commands
/// edit their strings through it too.
pub(crate) fn unshare_string(value: &mut Value) -> Option<&mut Sds> {
    if let Value::Int(n) = *value {
        let mut text = itoa::Buffer::new();
        *value = Value::Str {
            data: Sds::from_slice(text.format(n).as_bytes()),
            raw: true,
        };
    }
    match value {
        Value::Str { data, raw } => {
            *raw = true;
            Some(data)
        }
        _ => None,
    }
}

/// Redis's `getBitOffsetFromArgument`: a bit offset, which must address a byte below
/// `proto-max-bulk-len`. With `hash_bits` (BITFIELD), `#N` means N fields of that width;
/// the product wraps as C's does.
fn bit_offset(arg: &[u8], hash_bits: u32, max_bulk: u64) -> Result<u64, CommandError> {
    let use_hash = hash_bits > 0 && arg.first() == Some(&b'#');
    let digits = if use_hash { &arg[1..] } else { arg };
    let mut offset = parse_i64(digits).ok_or(errors::BIT_OFFSET)?;
    if use_hash {
        offset = offset.wrapping_mul(hash_bits as i64);
    }
    if offset < 0 || (offset >> 3) as u64 >= max_bulk {
        return Err(errors::BIT_OFFSET.into());
    }
    Ok(offset as u64)
}

/// Redis's `lookupStringForBitCommand`: the string at `key`, created or grown with zero
/// bytes so that bit `max_bit` exists, as an editable raw string; with whether it was
/// created or grew (which counts as a change even when no bit changes). WRONGTYPE for
/// another type, before anything is created.
fn string_for_bits<'a>(
    db: &'a mut DbMut,
    key: &'a [u8],
    max_bit: u64,
) -> Result<(Written<'a, Value>, bool), CommandError> {
    if db.peek(key).is_some_and(|e| !e.value.is_string()) {
        return Err(errors::WRONGTYPE.into());
    }
    let len = (max_bit >> 3) as usize + 1;
    let mut created = false;
    let mut value = db.write_or_create::<Value>(key, || {
        created = true;
        Value::Str {
            data: Sds::new(),
            raw: true,
        }
    })?;
    let mut grew = created;
    if let Some(data) = unshare_string(&mut value) {
        if data.len() < len {
            data.resize(len, 0);
            grew = true;
        }
    }
    Ok((value, grew))
}

/// The text of a string value (an integer formatted into `scratch`).
fn string_text<'a>(value: &'a Value, scratch: &'a mut itoa::Buffer) -> &'a [u8] {
    value.string_bytes(scratch).unwrap_or_default()
}

/// `SETBIT key offset 0|1`: the bit's previous value.
fn setbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let max_bulk = ctx.state.config.proto_max_bulk_len;
    let offset = bit_offset(argv[2], 0, max_bulk)?;
    let on = parse_i64(argv[3]).ok_or(errors::BIT_VALUE)?;
    if on & !1 != 0 {
        return Err(errors::BIT_VALUE.into());
    }
    let (mut db, out) = ctx.db_out();
    let (mut value, grew) = string_for_bits(&mut db, argv[1], offset)?;
    let (byte, shift) = ((offset >> 3) as usize, 7 - (offset & 7));
    let mut was = false;
    if let Some(data) = unshare_string(&mut value) {
        was = data[byte] & (1 << shift) != 0;
        if grew || was != (on == 1) {
            data[byte] = (data[byte] & !(1 << shift)) | ((on as u8) << shift);
        }
    }
    if grew || was != (on == 1) {
        value.changed(1, "setbit");
    } else {
        value.unchanged();
    }
    out.int(was as i64);
    Ok(Done)
}

/// `GETBIT key offset`: 0 past the end of the string or for a missing key.
fn getbit(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let offset = bit_offset(argv[2], 0, ctx.state.config.proto_max_bulk_len)?;
    let (mut db, out) = ctx.db_out();
    let mut scratch = itoa::Buffer::new();
    let bit = match db.read_string(argv[1])? {
        Some(value) => bitfield::get_unsigned(string_text(value, &mut scratch), offset, 1),
        None => 0,
    };
    out.int(bit as i64);
    Ok(Done)
}

/// Whether a range's indexes count bytes or bits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Byte,
    Bit,
}

/// `BYTE` or `BIT`, in any letter case, compared as a C string.
fn parse_unit(arg: &[u8]) -> Result<Unit, CommandError> {
    let arg = c_string(arg);
    if arg.eq_ignore_ascii_case(b"bit") {
        Ok(Unit::Bit)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Ok(Unit::Byte)
    } else {
        Err(errors::SYNTAX.into())
    }
}

/// BITCOUNT's and BITPOS's range arithmetic over a string of `total` units: negative
/// indexes count from the end, both ends are clamped to the string, `end` to its last
/// unit. The result may be empty (`start > end`).
fn clamp_range(total: i64, start: i64, end: i64) -> (i64, i64) {
    let start = if start < 0 { total + start } else { start }.max(0);
    let end = if end < 0 { total + end } else { end }.max(0);
    (start, end.min(total - 1))
}

/// Set bits in `bytes` between bit `from` and bit `to`, both included.
fn count_bits(bytes: &[u8], from: u64, to: u64) -> u64 {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    let whole: u64 = bytes[first..=last]
        .chunks(8)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            u64::from_ne_bytes(word).count_ones() as u64
        })
        .sum();
    let before = (bytes[first] & !(0xffu8 >> (from & 7))).count_ones() as u64;
    let after = (bytes[last] & (0xffu8 >> 1 >> (to & 7))).count_ones() as u64;
    whole - before - after
}

/// `BITCOUNT key [start end [BYTE|BIT]]`. As Redis 7.0 does, a missing key answers 0
/// before the arguments are looked at; a negative range with `start > end` answers 0
/// before the unit is.
fn bitcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    let Some(value) = db.read_string(argv[1])? else {
        out.int(0);
        return Ok(Done);
    };
    let mut scratch = itoa::Buffer::new();
    let bytes = string_text(value, &mut scratch);
    let (mut start, mut end, mut unit) = (0, bytes.len() as i64 - 1, Unit::Byte);
    match argv.len() {
        2 => {}
        4 | 5 => {
            let mut args = Args::new(argv, 2);
            let (s, e) = (args.i64()?, args.i64()?);
            if s < 0 && e < 0 && s > e {
                out.int(0);
                return Ok(Done);
            }
            if argv.len() == 5 {
                unit = parse_unit(argv[4])?;
            }
            let total = bytes.len() as i64 * if unit == Unit::Bit { 8 } else { 1 };
            (start, end) = clamp_range(total, s, e);
        }
        _ => return Err(errors::SYNTAX.into()),
    }
    let count = if start > end {
        0
    } else if unit == Unit::Bit {
        count_bits(bytes, start as u64, end as u64)
    } else {
        count_bits(bytes, start as u64 * 8, end as u64 * 8 + 7)
    };
    out.int(count as i64);
    Ok(Done)
}

/// The position of the first bit equal to `bit` between bit `from` and bit `to`, both
/// included.
fn find_bit(bytes: &[u8], bit: bool, from: u64, to: u64) -> Option<u64> {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    let skip = if bit { 0x00 } else { 0xff };
    let mut at = first;
    while at <= last {
        let mut byte = if bit { bytes[at] } else { !bytes[at] };
        if at == first {
            byte &= 0xff >> (from & 7);
        }
        if at == last {
            byte &= 0xff << (7 - (to & 7));
        }
        if byte != 0 {
            return Some(at as u64 * 8 + byte.leading_zeros() as u64);
        }
        at += 1;
        // Whole bytes that cannot hold the bit are skipped in one go.
        if at < last {
            at += bytes[at..last]
                .iter()
                .position(|&b| b != skip)
                .unwrap_or(last - at);
        }
    }
    None
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`: the first bit set to `bit` in the range;
/// -1 when there is none, except that looking for a 0 without an explicit end finds the
/// first bit past the string (it is read as padded with zeros). A missing key is all
/// zeros.
fn bitpos(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let bit = parse_i64(argv[2]).ok_or(errors::NOT_INTEGER)?;
    if bit != 0 && bit != 1 {
        return Err(errors::BITPOS_BIT.into());
    }
    let (mut db, out) = ctx.db_out();
    let Some(value) = db.read_string(argv[1])? else {
        out.int(if bit == 1 { -1 } else { 0 });
        return Ok(Done);
    };
    let mut scratch = itoa::Buffer::new();
    let bytes = string_text(value, &mut scratch);
    let len = bytes.len() as i64;
    let (mut start, mut end, mut unit, mut end_given) = (0, len - 1, Unit::Byte, false);
    match argv.len() {
        3 => {}
        4..=6 => {
            let mut args = Args::new(argv, 3);
            let s = args.i64()?;
            if argv.len() == 6 {
                unit = parse_unit(argv[5])?;
            }
            let e = if argv.len() >= 5 {
                end_given = true;
                args.i64()?
            } else {
                len - 1
            };
            let total = len * if unit == Unit::Bit { 8 } else { 1 };
            (start, end) = clamp_range(total, s, e);
        }
        _ => return Err(errors::SYNTAX.into()),
    }
    if start > end {
        out.int(-1);
        return Ok(Done);
    }
    let (from, to) = match unit {
        Unit::Bit => (start as u64, end as u64),
        Unit::Byte => (start as u64 * 8, end as u64 * 8 + 7),
    };
    let pos = match find_bit(bytes, bit == 1, from, to) {
        Some(pos) => pos as i64,
        None if bit == 0 && !end_given => to as i64 + 1,
        None => -1,
    };
    out.int(pos);
    Ok(Done)
}

/// BITOP's operations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`: the result, as long as the longest
/// input (shorter ones and missing keys read as zeros), is stored as a raw string and its
/// length answered; an empty result deletes the destination.
fn bitop(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let name = c_string(argv[1]);
    let op = [
        (&b"and"[..], BitOp::And),
        (b"or", BitOp::Or),
        (b"xor", BitOp::Xor),
        (b"not", BitOp::Not),
    ]
    .into_iter()
    .find(|(n, _)| name.eq_ignore_ascii_case(n))
    .map(|(_, op)| op)
    .ok_or(errors::SYNTAX)?;
    if op == BitOp::Not && argv.len() != 4 {
        return Err(errors::BITOP_NOT_ONE_KEY.into());
    }
    let (dest, sources) = (argv[2], &argv[3..]);
    let mut db = ctx.db();
    let mut inputs: Vec<Option<Vec<u8>>> = Vec::with_capacity(sources.len());
    for key in sources {
        let mut scratch = itoa::Buffer::new();
        inputs.push(
            db.read_string(key)?
                .map(|v| string_text(v, &mut scratch).to_vec()),
        );
    }
    let max_len = inputs.iter().flatten().map(Vec::len).max().unwrap_or(0);
    let mut result = vec![0u8; max_len];
    let byte_of = |input: &Option<Vec<u8>>, j: usize| -> u8 {
        input.as_ref().and_then(|b| b.get(j)).copied().unwrap_or(0)
    };
    for (j, out) in result.iter_mut().enumerate() {
        let first = byte_of(&inputs[0], j);
        *out = match op {
            BitOp::Not => !first,
            BitOp::And => inputs[1..].iter().fold(first, |acc, i| acc & byte_of(i, j)),
            BitOp::Or => inputs[1..].iter().fold(first, |acc, i| acc | byte_of(i, j)),
            BitOp::Xor => inputs[1..].iter().fold(first, |acc, i| acc ^ byte_of(i, j)),
        };
    }
    let value = (max_len > 0).then(|| Value::Str {
        data: Sds::from_vec(result),
        raw: true,
    });
    super::store_or_delete(&mut db, dest, value, notify::STRING, "set");
    ctx.out.int(max_len as i64);
    Ok(Done)
}

/// One BITFIELD operation, parsed.
#[derive(Clone, Copy)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

struct Field {
    op: FieldOp,
    ty: FieldType,
    offset: u64,
    overflow: Overflow,
}

/// Redis's `bitfieldGeneric`: every operation is parsed (and refused with Redis's
/// errors) before the key is looked at; operations that only GET read the key, the others
/// grow it once up to the farthest bit they write.
fn bitfield_generic(ctx: &mut Ctx, argv: &[&[u8]], read_only: bool) -> CommandResult {
    let max_bulk = ctx.state.config.proto_max_bulk_len;
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest_write: Option<u64> = None;
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let name = c_string(argv[j]);
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let op = if is("get") && left >= 2 {
            FieldOp::Get
        } else if is("set") && left >= 3 {
            FieldOp::Set(0)
        } else if is("incrby") && left >= 3 {
            FieldOp::IncrBy(0)
        } else if is("overflow") && left >= 1 {
            overflow = Overflow::parse(argv[j + 1]).ok_or(errors::BITFIELD_OVERFLOW)?;
            j += 2;
            continue;
        } else {
            return Err(errors::SYNTAX.into());
        };
        let ty = FieldType::parse(argv[j + 1]).ok_or(errors::BITFIELD_TYPE)?;
        let offset = bit_offset(argv[j + 2], ty.bits, max_bulk)?;
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            write => {
                let last = offset + ty.bits as u64 - 1;
                highest_write = Some(highest_write.map_or(last, |h| h.max(last)));
                let n = parse_i64(argv[j + 3]).ok_or(errors::NOT_INTEGER)?;
                match write {
                    FieldOp::Set(_) => FieldOp::Set(n),
                    _ => FieldOp::IncrBy(n),
                }
            }
        };
        fields.push(Field {
            op,
            ty,
            offset,
            overflow,
        });
        j += if matches!(op, FieldOp::Get) { 3 } else { 4 };
    }
    let (mut db, out) = ctx.db_out();
    let Some(highest_write) = highest_write else {
        let mut scratch = itoa::Buffer::new();
        let bytes = db
            .read_string(argv[1])?
            .map(|v| string_text(v, &mut scratch))
            .unwrap_or_default();
        out.array(fields.len());
        for field in &fields {
            reply_get(out, bytes, field);
        }
        return Ok(Done);
    };
    if read_only {
        return Err(errors::BITFIELD_RO_GET_ONLY.into());
    }
    let (mut value, grew) = string_for_bits(&mut db, argv[1], highest_write)?;
    let mut changes = 0;
    out.array(fields.len());
    if let Some(data) = unshare_string(&mut value) {
        for field in &fields {
            changes += apply_field(out, data, field, grew) as u64;
        }
    }
    if changes > 0 {
        value.changed(changes, "setbit");
    } else {
        value.unchanged();
    }
    Ok(Done)
}

/// A GET's answer: the field read from `bytes`, zeros past their end.
fn reply_get(out: &mut crate::reply::Reply, bytes: &[u8], field: &Field) {
    let FieldType { signed, bits } = field.ty;
    if signed {
        out.int(bitfield::get_signed(bytes, field.offset, bits));
    } else {
        out.int(bitfield::get_unsigned(bytes, field.offset, bits) as i64);
    }
}

/// Runs one operation on the (grown) string and writes its answer: GET the field, SET
/// the old value, INCRBY the new one, null when FAIL refuses an overflow. True when it
/// counts as a change: a write to a string that grew, or one that changed the field.
fn apply_field(out: &mut crate::reply::Reply, data: &mut [u8], field: &Field, grew: bool) -> bool {
    let FieldType { signed, bits } = field.ty;
    let (offset, overflow) = (field.offset, field.overflow);
    let (old, new, answer) = match field.op {
        FieldOp::Get => {
            reply_get(out, data, field);
            return false;
        }
        FieldOp::Set(v) if signed => {
            let old = bitfield::get_signed(data, offset, bits);
            match bitfield::signed_overflow(v, 0, bits, overflow) {
                None => (old as u64, v as u64, old),
                Some(Some(wrapped)) => (old as u64, wrapped as u64, old),
                Some(None) => return fail(out),
            }
        }
        FieldOp::IncrBy(by) if signed => {
            let old = bitfield::get_signed(data, offset, bits);
            let new = match bitfield::signed_overflow(old, by, bits, overflow) {
                None => old.wrapping_add(by),
                Some(Some(wrapped)) => wrapped,
                Some(None) => return fail(out),
            };
            (old as u64, new as u64, new)
        }
        FieldOp::Set(v) => {
            let old = bitfield::get_unsigned(data, offset, bits);
            match bitfield::unsigned_overflow(v as u64, 0, bits, overflow) {
                None => (old, v as u64, old as i64),
                Some(Some(wrapped)) => (old, wrapped, old as i64),
                Some(None) => return fail(out),
            }
        }
        FieldOp::IncrBy(by) => {
            let old = bitfield::get_unsigned(data, offset, bits);
            let new = match bitfield::unsigned_overflow(old, by, bits, overflow) {
                None => old.wrapping_add(by as u64),
                Some(Some(wrapped)) => wrapped,
                Some(None) => return fail(out),
            };
            (old, new, new as i64)
        }
    };
    out.int(answer);
    bitfield::set_bits(data, offset, bits, new);
    grew || old != new
}

/// FAIL's answer to an overflow: null, nothing written.
fn fail(out: &mut crate::reply::Reply) -> bool {
    out.null();
    false
}

/// `BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset incr]
/// [OVERFLOW WRAP|SAT|FAIL] ...`: an array with each operation's answer.
fn bitfield(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    bitfield_generic(ctx, argv, false)
}

/// `BITFIELD_RO key [GET type offset] ...`: BITFIELD that refuses to write.
fn bitfield_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    bitfield_generic(ctx, argv, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_bounded_by_proto_max_bulk_len() {
        let max = 512 * 1024 * 1024;
        assert_eq!(bit_offset(b"4294967295", 0, max), Ok(4294967295));
        assert!(bit_offset(b"4294967296", 0, max).is_err());
        assert!(bit_offset(b"-1", 0, max).is_err());
        assert!(bit_offset(b"#2", 0, max).is_err(), "# only for BITFIELD");
        assert_eq!(bit_offset(b"#2", 8, max), Ok(16));
        assert!(bit_offset(b"#-1", 8, max).is_err());
        assert!(bit_offset(b"01", 0, max).is_err());
    }

    #[test]
    fn ranges_clamp_like_redis() {
        assert_eq!(clamp_range(6, 0, -1), (0, 5));
        assert_eq!(clamp_range(6, -100, 100), (0, 5));
        assert_eq!(clamp_range(6, 4, 2), (4, 2));
        assert_eq!(clamp_range(0, 0, -1), (0, -1));
    }

    #[test]
    fn bit_counts_respect_both_edges() {
        let bytes = [0xff, 0x0f, 0xf0];
        assert_eq!(count_bits(&bytes, 0, 23), 16);
        assert_eq!(count_bits(&bytes, 1, 22), 15);
        assert_eq!(count_bits(&bytes, 12, 12), 1);
        assert_eq!(count_bits(&bytes, 11, 11), 0);
        assert_eq!(count_bits(&bytes, 8, 11), 0);
    }

    #[test]
    fn first_bits_are_found_within_the_range_only() {
        let bytes = [0x00, 0x00, 0x01, 0xff];
        assert_eq!(find_bit(&bytes, true, 0, 31), Some(23));
        assert_eq!(find_bit(&bytes, true, 0, 22), None);
        assert_eq!(find_bit(&bytes, false, 23, 31), None);
        assert_eq!(find_bit(&bytes, false, 20, 31), Some(20));
        assert_eq!(find_bit(&[0xff; 20], false, 0, 159), None);
        assert_eq!(find_bit(&[0xff, 0xff, 0xfe, 0xff], false, 3, 31), Some(23));
    }
}
