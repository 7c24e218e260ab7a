//! Values in RDB form: a type byte, then the object, exactly as redis-server 7.0's
//! `rdbSaveObjectType`/`rdbSaveObject` write them, and every object type 7.0's
//! `rdbLoadObject` reads (the older encodings included). DUMP, RESTORE, MIGRATE and RDB
//! files all go through here.
//!
//! What is written: strings as strings; lists as QUICKLIST_2 (listpack nodes split where an
//! RPUSH-built quicklist of the current `list-max-listpack-size` would split them); hashes
//! and sorted sets as LISTPACK blobs while they are listpack-encoded, else as HASH and
//! ZSET_2; sets as INTSET blobs or SET; streams as STREAM_LISTPACKS_2 (`stream`). Tables (hashes, sets) are written in this server's
//! table order, which is not Redis's hash order: those payloads load the same values, but
//! their bytes differ from a redis-server's.
//!
//! Loading validates everything and never trusts a length for an allocation: a corrupt
//! payload gives `LoadError`, never a panic.

use super::listpack::{read_intset, read_listpack, read_ziplist, read_zipmap, write_intset};
use super::listpack::{Element, ListpackWriter};
use super::{write_len, write_string, Reader};
use crate::config::Config;
use crate::keyspace::{Sds, Value};
use crate::types::zset::{cmp_entry, parse_score};
use crate::types::{
    hash_limits, set_max_intset_entries, zset_limits, End, HashLimits, HashValue, ListValue,
    SetValue, ZsetLimits, ZsetValue,
};

/// Object types (`RDB_TYPE_*`).
pub const TYPE_STRING: u8 = 0;
pub const TYPE_LIST: u8 = 1;
pub const TYPE_SET: u8 = 2;
pub const TYPE_ZSET: u8 = 3;
pub const TYPE_HASH: u8 = 4;
pub const TYPE_ZSET_2: u8 = 5;
pub const TYPE_MODULE_PRE_GA: u8 = 6;
pub const TYPE_MODULE_2: u8 = 7;
pub const TYPE_HASH_ZIPMAP: u8 = 9;
pub const TYPE_LIST_ZIPLIST: u8 = 10;
pub const TYPE_SET_INTSET: u8 = 11;
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
pub const TYPE_HASH_ZIPLIST: u8 = 13;
pub const TYPE_LIST_QUICKLIST: u8 = 14;
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
pub const TYPE_HASH_LISTPACK: u8 = 16;
pub const TYPE_ZSET_LISTPACK: u8 = 17;
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// Whether `t` names an object type Redis 7.0 knows (`rdbIsObjectType`).
pub fn is_object_type(t: u8) -> bool {
    matches!(t, 0..=7 | 9..=19)
}

/// Quicklist node containers (QUICKLIST_2).
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// Bytes `_quicklistNodeAllowInsert` adds to a node's size for the entry it weighs.
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Largest listpack node of a count-limited (positive fill) quicklist.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// The node sizes `list-max-listpack-size` -1 to -5 stand for.
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];

/// How values are written: the settings Redis reads while saving.
#[derive(Clone, Copy, Debug)]
pub struct SaveOptions {
    /// `list-max-listpack-size` (quicklist `fill`).
    pub list_fill: i64,
    /// `rdbcompression`: LZF for strings longer than 20 bytes.
    pub compress: bool,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            list_fill: -2,
            compress: true,
        }
    }
}

impl SaveOptions {
    pub fn from_config(config: &Config) -> SaveOptions {
        SaveOptions {
            list_fill: config.list_max_listpack_size,
            compress: config.value("rdbcompression").is_none_or(|v| v == "yes"),
        }
    }
}

/// A value this server holds but cannot write in RDB form yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Why an object did not load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// A well-formed collection with no members: RESTORE refuses it, a file load skips the
    /// key (as Redis's `RDB_LOAD_ERR_EMPTY_KEY`).
    EmptyKey,
    /// Anything else, with what was wrong.
    Corrupt(&'static str),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::EmptyKey => f.write_str("empty key"),
            LoadError::Corrupt(why) => f.write_str(why),
        }
    }
}

type Loaded<T> = Result<T, LoadError>;

/// Writes `value` (type byte and object) as redis-server 7.0 does, with default settings.
pub fn dump_value(value: &Value, out: &mut Vec<u8>) -> Result<(), Unsupported> {
    dump_value_with(value, out, SaveOptions::default())
}

/// `dump_value` with the settings given.
pub fn dump_value_with(
    value: &Value,
    out: &mut Vec<u8>,
    opts: SaveOptions,
) -> Result<(), Unsupported> {
    match value {
        Value::Int(n) => {
            out.push(TYPE_STRING);
            write_string(
                out,
                itoa::Buffer::new().format(*n).as_bytes(),
                opts.compress,
            );
        }
        Value::Str { data, .. } => {
            out.push(TYPE_STRING);
            write_string(out, data, opts.compress);
        }
        Value::List(list) => {
            out.push(TYPE_LIST_QUICKLIST_2);
            write_quicklist(out, list, opts);
        }
        Value::Hash(hash) => match hash {
            HashValue::Listpack(_) => {
                out.push(TYPE_HASH_LISTPACK);
                let mut lp = ListpackWriter::new();
                for (f, v) in hash.iter() {
                    lp.push(&f);
                    lp.push(&v);
                }
                write_string(out, &lp.finish(), opts.compress);
            }
            HashValue::Table(_) => {
                out.push(TYPE_HASH);
                write_len(out, hash.len() as u64);
                for (f, v) in hash.iter() {
                    write_string(out, &f, opts.compress);
                    write_string(out, &v, opts.compress);
                }
            }
        },
        Value::Set(set) => match &**set {
            SetValue::Intset(ints) => {
                out.push(TYPE_SET_INTSET);
                write_string(out, &write_intset(ints), opts.compress);
            }
            SetValue::Table(_) => {
                out.push(TYPE_SET);
                write_len(out, set.len() as u64);
                let mut scratch = itoa::Buffer::new();
                for m in set.iter() {
                    write_string(out, m.bytes(&mut scratch), opts.compress);
                }
            }
        },
        Value::ZSet(zset) => match &**zset {
            ZsetValue::Listpack(_) => {
                out.push(TYPE_ZSET_LISTPACK);
                let mut lp = ListpackWriter::new();
                for (m, score) in zset.iter(false) {
                    lp.push(m);
                    lp.push(packed_score(score).as_bytes());
                }
                write_string(out, &lp.finish(), opts.compress);
            }
            ZsetValue::Skiplist(_) => {
                // From the greatest to the smallest, as Redis walks its skiplist backwards
                // so that loading inserts at the head.
                out.push(TYPE_ZSET_2);
                write_len(out, zset.len() as u64);
                for (m, score) in zset.iter(true) {
                    write_string(out, m, opts.compress);
                    out.extend_from_slice(&score.to_le_bytes());
                }
            }
        },
        Value::Stream(stream) => {
            out.push(TYPE_STREAM_LISTPACKS_2);
            super::stream::write_stream(out, stream, opts);
        }
    }
    Ok(())
}

/// A score as Redis 7.0's `zzlInsertAt` packs it: `d2string`, which prints integral
/// values below 2^52 as integers (so -0 becomes "0") and anything else as `%.17g`.
fn packed_score(score: f64) -> String {
    const LIMIT: f64 = 4_503_599_627_370_496.0; // 2^52
    if score.is_finite() && score.fract() == 0.0 && score > -LIMIT && score < LIMIT {
        itoa::Buffer::new().format(score as i64).to_string()
    } else {
        crate::util::format_double_g17(score)
    }
}

/// Whether a quicklist node of `node_bytes` and `count` elements takes one more element of
/// `size` bytes (`_quicklistNodeAllowInsert` in 7.0).
fn node_takes(node_bytes: usize, count: usize, fill: i64, size: usize) -> bool {
    let new_size = node_bytes + size + SIZE_ESTIMATE_OVERHEAD;
    if fill < 0 {
        // quicklistSetFill clamps below -5.
        let level = OPTIMIZATION_LEVEL[((-fill).min(5) - 1) as usize];
        if new_size <= level {
            return true;
        }
    }
    new_size <= SIZE_SAFETY_LIMIT && (count as i64) < fill
}

fn write_quicklist(out: &mut Vec<u8>, list: &ListValue, opts: SaveOptions) {
    let fill = opts.list_fill.min(i64::from(i16::MAX));
    let mut nodes: Vec<ListpackWriter> = Vec::new();
    let items = (!list.is_empty()).then(|| list.range(0, list.len() - 1));
    for item in items.into_iter().flatten() {
        let fits = nodes
            .last()
            .is_some_and(|n| node_takes(n.bytes(), n.len(), fill, item.len()));
        if !fits {
            nodes.push(ListpackWriter::new());
        }
        if let Some(node) = nodes.last_mut() {
            node.push(&item);
        }
    }
    write_len(out, nodes.len() as u64);
    for node in nodes {
        write_len(out, CONTAINER_PACKED);
        write_string(out, &node.finish(), opts.compress);
    }
}

/// Reads a type byte and the object after it.
pub fn load_value(r: &mut Reader, config: &Config) -> Result<Value, LoadError> {
    let t = r.byte().ok_or(LoadError::Corrupt("truncated"))?;
    load_object(t, r, config)
}

/// The encoding limits the loaded value is shaped by (Redis applies its current settings
/// on load, not the ones the payload was written with).
struct Limits {
    hash: HashLimits,
    zset: ZsetLimits,
    intset: usize,
}

fn string(r: &mut Reader) -> Loaded<Vec<u8>> {
    r.string()
        .ok_or(LoadError::Corrupt("bad or truncated string"))
}

fn len(r: &mut Reader) -> Loaded<u64> {
    r.len().ok_or(LoadError::Corrupt("bad or truncated length"))
}

/// Reads the object of type `t` (the type byte already read).
pub fn load_object(t: u8, r: &mut Reader, config: &Config) -> Result<Value, LoadError> {
    let limits = Limits {
        hash: hash_limits(config),
        zset: zset_limits(config),
        intset: set_max_intset_entries(config),
    };
    match t {
        TYPE_STRING => Ok(Value::string(&string(r)?)),
        TYPE_LIST => {
            let n = len(r)?;
            let mut list = ListValue::new();
            for _ in 0..n {
                list.push(End::Tail, &string(r)?);
            }
            non_empty_list(list)
        }
        TYPE_LIST_ZIPLIST => {
            let blob = string(r)?;
            let elements = read_ziplist(&blob).ok_or(LoadError::Corrupt("bad ziplist"))?;
            let mut list = ListValue::new();
            push_elements(&mut list, &elements);
            non_empty_list(list)
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let nodes = len(r)?;
            let mut list = ListValue::new();
            for _ in 0..nodes {
                let container = if t == TYPE_LIST_QUICKLIST_2 {
                    len(r)?
                } else {
                    CONTAINER_PACKED
                };
                let blob = string(r)?;
                match container {
                    CONTAINER_PLAIN => list.push(End::Tail, &blob),
                    CONTAINER_PACKED => {
                        let elements = if t == TYPE_LIST_QUICKLIST_2 {
                            read_listpack(&blob).ok_or(LoadError::Corrupt("bad listpack"))?
                        } else {
                            read_ziplist(&blob).ok_or(LoadError::Corrupt("bad ziplist"))?
                        };
                        // Redis skips empty nodes silently.
                        push_elements(&mut list, &elements);
                    }
                    _ => return Err(LoadError::Corrupt("unknown quicklist container")),
                }
            }
            non_empty_list(list)
        }
        TYPE_SET => {
            let n = len(r)?;
            if n == 0 {
                return Err(LoadError::EmptyKey);
            }
            let mut set = if n as usize <= limits.intset {
                SetValue::Intset(Vec::new())
            } else {
                SetValue::Table(Box::default())
            };
            for _ in 0..n {
                if !set.add(&string(r)?, limits.intset) {
                    return Err(LoadError::Corrupt("duplicate set member"));
                }
            }
            Ok(Value::Set(Box::new(set)))
        }
        TYPE_SET_INTSET => {
            let blob = string(r)?;
            let ints = read_intset(&blob).ok_or(LoadError::Corrupt("bad intset"))?;
            if ints.is_empty() {
                return Err(LoadError::EmptyKey);
            }
            let mut set = SetValue::Intset(Vec::new());
            let mut scratch = itoa::Buffer::new();
            if ints.len() > limits.intset {
                set = SetValue::Table(Box::default());
            }
            for n in ints {
                set.add(scratch.format(n).as_bytes(), usize::MAX);
            }
            Ok(Value::Set(Box::new(set)))
        }
        TYPE_HASH => {
            let n = len(r)?;
            if n == 0 {
                return Err(LoadError::EmptyKey);
            }
            let mut hash = HashValue::new();
            let forced = if n as usize > limits.hash.max_entries {
                table_limits()
            } else {
                limits.hash
            };
            for _ in 0..n {
                let (f, v) = (string(r)?, string(r)?);
                if !hash.set(&f, &v, forced) {
                    return Err(LoadError::Corrupt("duplicate hash field"));
                }
            }
            Ok(Value::Hash(hash))
        }
        TYPE_HASH_ZIPMAP => {
            let blob = string(r)?;
            let pairs = read_zipmap(&blob).ok_or(LoadError::Corrupt("bad zipmap"))?;
            let too_long = pairs
                .iter()
                .any(|(f, v)| f.len().max(v.len()) > limits.hash.max_value);
            let owned: Vec<(Vec<u8>, Vec<u8>)> = pairs
                .iter()
                .map(|(f, v)| (f.to_vec(), v.to_vec()))
                .collect();
            hash_of_pairs(owned, &limits, too_long)
        }
        TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            let blob = string(r)?;
            let elements = if t == TYPE_HASH_LISTPACK {
                read_listpack(&blob).ok_or(LoadError::Corrupt("bad listpack"))?
            } else {
                read_ziplist(&blob).ok_or(LoadError::Corrupt("bad ziplist"))?
            };
            hash_of_pairs(pairs_of(&elements)?, &limits, false)
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = len(r)?;
            if n == 0 {
                return Err(LoadError::EmptyKey);
            }
            let mut entries = Vec::new();
            for _ in 0..n {
                let member = string(r)?;
                let score = if t == TYPE_ZSET_2 {
                    let bytes = r.take(8).ok_or(LoadError::Corrupt("truncated score"))?;
                    let mut b = [0u8; 8];
                    b.copy_from_slice(bytes);
                    f64::from_le_bytes(b)
                } else {
                    text_double(r)?
                };
                if score.is_nan() {
                    return Err(LoadError::Corrupt("NaN score"));
                }
                entries.push((Sds::from_slice(&member), score));
            }
            let fits = entries.len() <= limits.zset.max_entries
                && entries
                    .iter()
                    .all(|(m, _)| m.len() <= limits.zset.max_value);
            zset_of(entries, fits)
        }
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
            let blob = string(r)?;
            let elements = if t == TYPE_ZSET_LISTPACK {
                read_listpack(&blob).ok_or(LoadError::Corrupt("bad listpack"))?
            } else {
                read_ziplist(&blob).ok_or(LoadError::Corrupt("bad ziplist"))?
            };
            let mut entries = Vec::new();
            for (member, score) in pairs_of(&elements)? {
                let score = parse_score(&score).ok_or(LoadError::Corrupt("bad score"))?;
                entries.push((Sds::from_slice(&member), score));
            }
            let fits = entries.len() <= limits.zset.max_entries;
            zset_of(entries, fits)
        }
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => super::stream::read_stream(t, r),
        TYPE_MODULE_PRE_GA | TYPE_MODULE_2 => Err(LoadError::Corrupt(
            "module types are not supported: lockstep loads no modules",
        )),
        _ => Err(LoadError::Corrupt("unknown object type")),
    }
}

/// Limits that keep a hash as a listpack whatever it holds.
fn pack_limits() -> HashLimits {
    HashLimits {
        max_entries: usize::MAX,
        max_value: usize::MAX,
    }
}

/// Limits that make a hash a table at its first field.
fn table_limits() -> HashLimits {
    HashLimits {
        max_entries: 0,
        max_value: 0,
    }
}

fn non_empty_list(list: ListValue) -> Loaded<Value> {
    if list.is_empty() {
        return Err(LoadError::EmptyKey);
    }
    Ok(Value::List(Box::new(list)))
}

fn push_elements(list: &mut ListValue, elements: &[Element]) {
    for e in elements {
        list.push(End::Tail, &e.to_bytes());
    }
}

/// The elements of a listpack or ziplist taken two by two; an odd count is corrupt.
fn pairs_of(elements: &[Element]) -> Loaded<Vec<(Vec<u8>, Vec<u8>)>> {
    if !elements.len().is_multiple_of(2) {
        return Err(LoadError::Corrupt("odd number of elements in pairs"));
    }
    Ok(elements
        .chunks_exact(2)
        .map(|c| (c[0].to_bytes(), c[1].to_bytes()))
        .collect())
}

/// A hash from the pairs of a blob: kept a listpack (as Redis keeps the blob) unless it
/// has more fields than `hash-max-listpack-entries` (or `too_long`, for zipmaps).
fn hash_of_pairs(pairs: Vec<(Vec<u8>, Vec<u8>)>, limits: &Limits, too_long: bool) -> Loaded<Value> {
    if pairs.is_empty() {
        return Err(LoadError::EmptyKey);
    }
    let as_table = too_long || pairs.len() > limits.hash.max_entries;
    let forced = if as_table {
        table_limits()
    } else {
        pack_limits()
    };
    let mut hash = HashValue::new();
    for (f, v) in pairs {
        if !hash.set(&f, &v, forced) {
            return Err(LoadError::Corrupt("duplicate hash field"));
        }
    }
    Ok(Value::Hash(hash))
}

/// A sorted set of `entries` (any order), a listpack when `listpack`.
fn zset_of(mut entries: Vec<(Sds, f64)>, listpack: bool) -> Loaded<Value> {
    if entries.is_empty() {
        return Err(LoadError::EmptyKey);
    }
    entries.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
    if has_duplicates(entries.iter().map(|(m, _)| m.as_slice())) {
        return Err(LoadError::Corrupt("duplicate sorted set member"));
    }
    let limits = if listpack {
        ZsetLimits {
            max_entries: usize::MAX,
            max_value: usize::MAX,
        }
    } else {
        ZsetLimits {
            max_entries: 0,
            max_value: 0,
        }
    };
    Ok(Value::ZSet(Box::new(ZsetValue::from_sorted(
        entries, limits,
    ))))
}

fn has_duplicates<'a>(members: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut seen = std::collections::HashSet::new();
    members.into_iter().any(|m| !seen.insert(m))
}

/// A double as `rdbLoadDoubleValue` reads it (old ZSET type): a length byte (253 NaN, 254
/// +inf, 255 -inf), then that many bytes of text.
fn text_double(r: &mut Reader) -> Loaded<f64> {
    let n = r.byte().ok_or(LoadError::Corrupt("truncated score"))?;
    match n {
        253 => Ok(f64::NAN),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        _ => {
            let text = r
                .take(usize::from(n))
                .ok_or(LoadError::Corrupt("truncated score"))?;
            let (v, used, _) = crate::types::zset::strtod(text);
            if used == 0 {
                return Err(LoadError::Corrupt("bad score"));
            }
            Ok(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dump(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        dump_value(v, &mut out).expect("dumpable");
        out
    }

    #[test]
    fn packed_scores_print_as_d2string() {
        assert_eq!(packed_score(-0.0), "0");
        assert_eq!(packed_score(1.5), "1.5");
        assert_eq!(packed_score(3.0), "3");
        assert_eq!(packed_score(f64::INFINITY), "inf");
        assert_eq!(packed_score(4_503_599_627_370_496.0), "4503599627370496");
    }

    #[test]
    fn a_small_zset_dumps_as_redis_does() {
        // ZADD z -0 a 1.5 b 3 c on redis-server 7.0: DUMP without its trailer.
        let config = Config::default();
        let mut z = ZsetValue::for_first_member(b"a", zset_limits(&config));
        for (s, m) in [(-0.0, "a"), (1.5, "b"), (3.0, "c")] {
            z.add(s, m.as_bytes(), Default::default(), zset_limits(&config));
        }
        assert_eq!(
            dump(&Value::ZSet(Box::new(z))),
            b"\x11\x19\x19\x00\x00\x00\x06\x00\x81a\x02\x00\x01\x81b\x02\x831.5\x04\x81c\x02\x03\x01\xff"
        );
    }

    #[test]
    fn empty_collections_are_refused_as_empty_keys() {
        let config = Config::default();
        for payload in [
            &[TYPE_SET, 0][..],
            &[TYPE_HASH, 0],
            &[TYPE_LIST_QUICKLIST_2, 0],
        ] {
            let got = load_value(&mut Reader::new(payload), &config);
            assert_eq!(got, Err(LoadError::EmptyKey));
        }
    }

    /// A value of any type and either encoding, built through the types' own API.
    fn arb_value() -> impl Strategy<Value = Value> {
        let bytes = || {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string().into_bytes()),
                proptest::collection::vec(any::<u8>(), 0..80),
                proptest::collection::vec(b'a'..b'd', 0..300),
            ]
        };
        let config = Config::default();
        let (hl, zl, il) = (
            hash_limits(&config),
            zset_limits(&config),
            set_max_intset_entries(&config),
        );
        prop_oneof![
            bytes().prop_map(|b| Value::string(&b)),
            proptest::collection::vec(bytes(), 1..600).prop_map(|items| {
                let mut l = ListValue::new();
                items.iter().for_each(|i| l.push(End::Tail, i));
                Value::List(Box::new(l))
            }),
            proptest::collection::vec((bytes(), bytes()), 1..700).prop_map(move |pairs| {
                let mut h = HashValue::new();
                pairs.iter().for_each(|(f, v)| {
                    h.set(f, v, hl);
                });
                Value::Hash(h)
            }),
            proptest::collection::vec(bytes(), 1..700).prop_map(move |members| {
                let mut s = SetValue::for_first_member(&members[0]);
                members.iter().for_each(|m| {
                    s.add(m, il);
                });
                Value::Set(Box::new(s))
            }),
            proptest::collection::vec((bytes(), -1e6f64..1e6), 1..300).prop_map(move |pairs| {
                let mut z = ZsetValue::for_first_member(&pairs[0].0, zl);
                pairs.iter().for_each(|(m, s)| {
                    z.add(s.round() / 4.0, m, Default::default(), zl);
                });
                Value::ZSet(Box::new(z))
            }),
            arb_stream(),
        ]
    }

    /// A stream built through its own API: entries with the same or other fields (ids
    /// with wide gaps and sequences), nodes cut by entries or bytes, deletions, a trim,
    /// and groups with pending entries owned by consumers.
    fn arb_stream() -> impl Strategy<Value = Value> {
        use crate::types::stream::{Group, NodeLimits, StreamId, StreamValue, Trim};
        let entry = (
            0u8..4,
            proptest::collection::vec(any::<u8>(), 0..40),
            any::<i64>(),
            0u64..1 << 40,
            any::<u64>(),
            any::<bool>(),
        );
        let limits = prop_oneof![
            Just(NodeLimits::default()),
            Just(NodeLimits {
                max_bytes: 0,
                max_entries: 3
            }),
            Just(NodeLimits {
                max_bytes: 150,
                max_entries: 0
            }),
        ];
        let pending = proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3), 0..20);
        (
            proptest::collection::vec(entry, 0..200),
            limits,
            0u64..50,
            pending,
        )
            .prop_map(|(entries, limits, trim, pending)| {
                let mut s = StreamValue::new();
                let mut id = StreamId::new(1, 0);
                let mut ids = Vec::new();
                for (shape, text, n, gap, seq, delete) in &entries {
                    id = if *gap % 3 == 0 {
                        StreamId::new(id.ms, id.seq.saturating_add(1 + gap))
                    } else {
                        StreamId::new(id.ms.saturating_add(*gap), *seq)
                    };
                    if id <= s.last_id {
                        continue;
                    }
                    let num = n.to_string().into_bytes();
                    let fields: Vec<&[u8]> = match shape {
                        0 => vec![b"f", &text, b"g", &num],
                        1 => vec![b"f", &num, b"g", &text],
                        2 => vec![&text, &num],
                        _ => vec![b"other", &text, &num, b"", b"x", b"1"],
                    };
                    s.append(id, &fields, limits);
                    ids.push((id, *delete));
                }
                for (id, delete) in &ids {
                    if *delete && s.delete(*id) {
                        s.max_deleted_id = s.max_deleted_id.max(*id);
                    }
                }
                s.refresh_first_id();
                if trim > 0 {
                    s.trim(Trim::MaxLen(s.len().saturating_sub(trim)), trim % 2 == 0, 0);
                }
                let names: [&[u8]; 3] = [b"alice", b"bob", b"a consumer with a longer name"];
                let mut g = Group::new(s.last_id, Some(s.entries_added));
                for (at, who) in pending {
                    if ids.is_empty() {
                        break;
                    }
                    let (id, _) = ids[at.index(ids.len())];
                    let (name, _) = g.consumer_or_create(names[who as usize], 1_700_000_000_000);
                    g.assign(id, &name, 1_700_000_000_000 + id.ms as i64, 1 + id.seq % 5);
                }
                g.consumer_or_create(b"idle", 5);
                s.create_group(b"group", g);
                s.create_group(b"unread", Group::new(StreamId::MIN, None));
                Value::Stream(Box::new(s))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_value_loads_back_as_it_was_dumped(value in arb_value()) {
            let config = Config::default();
            let payload = dump(&value);
            let mut r = Reader::new(&payload);
            let loaded = load_value(&mut r, &config).expect("loads");
            prop_assert!(r.is_empty());
            prop_assert_eq!(loaded.encoding(), value.encoding());
            prop_assert_eq!(dump(&loaded), payload);
            if let (Value::Stream(a), Value::Stream(b)) = (&loaded, &value) {
                // The same nodes, counters and listpack sizes (where the next XADD cuts).
                prop_assert_eq!(a, b);
            }
        }

        #[test]
        fn a_damaged_payload_is_refused_or_loaded_never_a_panic(
            value in arb_value(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let config = Config::default();
            let mut payload = dump(&value);
            for (at, byte) in flips {
                let i = at.index(payload.len());
                payload[i] = byte;
            }
            let _ = load_value(&mut Reader::new(&payload), &config);
            payload.truncate(cut.index(payload.len()));
            let _ = load_value(&mut Reader::new(&payload), &config);
        }
    }

    #[test]
    fn duplicates_are_corrupt() {
        let config = Config::default();
        let mut p = vec![TYPE_SET, 2];
        write_string(&mut p, b"x", false);
        write_string(&mut p, b"x", false);
        assert!(matches!(
            load_value(&mut Reader::new(&p), &config),
            Err(LoadError::Corrupt(_))
        ));
    }
}
