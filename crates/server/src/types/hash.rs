//! The hash value: fields and their values, in one of Redis 7.0's two encodings.
//!
//! `listpack`: a `Packed` buffer of field, value, field, value... in insertion order
//! (HGETALL answers in that order, as Redis does), while there are at most
//! `hash-max-listpack-entries` fields and none of the strings written is longer than
//! `hash-max-listpack-value`. Past either limit it becomes a `hashtable` for good, as in
//! Redis (a hash never converts back).
//!
//! Both encodings keep strings in `entry`'s encoding, where the text of an integer is the
//! integer (as Redis's listpack keeps it): a field or value such as `1234567` takes 4 bytes
//! instead of 8. So values come back as `Element`s, which hold an integer's text.

use super::entry::{self, Element, Encoded};
use super::table::{Keyed, ThinTable};
use super::thin::ThinBytes;

/// A field and its value in one allocation behind a thin pointer: the value (in `entry`'s
/// encoding, which says where it ends), then the field. A field of 12 bytes with a value
/// below 2^20 fits 16 bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair(ThinBytes);

impl Pair {
    fn new(field: &[u8], value: &[u8]) -> Pair {
        let encoded = Encoded::new(value);
        let [head, body] = encoded.parts();
        Pair(ThinBytes::from_parts(&[head, body, field]))
    }

    fn split(&self) -> (Element<'_>, Element<'_>) {
        let bytes = self.0.as_slice();
        let (value, end) = entry::decode(bytes, 0);
        (Element::Bytes(&bytes[end..]), value)
    }

    pub fn field(&self) -> &[u8] {
        let bytes = self.0.as_slice();
        &bytes[entry::skip(bytes, 0)..]
    }

    pub fn value(&self) -> Element<'_> {
        entry::decode(self.0.as_slice(), 0).0
    }
}

/// A table of fields: the pairs, each one allocation (`table::ThinTable`).
pub type FieldTable = ThinTable<Pair>;

impl Keyed for Pair {
    fn key(&self) -> &[u8] {
        self.field()
    }
    fn allocated(&self) -> usize {
        self.0.allocated()
    }
}

impl<T: Keyed> SparseTable for ThinTable<T> {
    fn shrink_if_sparse(&mut self) {
        ThinTable::shrink_if_sparse(self);
    }
}

/// A small hash's pairs packed in one exact-size allocation, each string in `entry`'s
/// encoding: Redis's listpack, which it reallocates at each change as this does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Packed {
    buf: Box<[u8]>,
    /// Number of pairs.
    pairs: u32,
}

/// Where a pair sits in a `Packed`: its field's start, its value's start and its end.
#[derive(Clone, Copy)]
struct PairAt {
    field: usize,
    value: usize,
    end: usize,
}

impl Packed {
    pub fn len(&self) -> usize {
        self.pairs as usize
    }

    pub fn is_empty(&self) -> bool {
        self.pairs == 0
    }

    /// Bytes of the allocation.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    fn find(&self, field: &[u8]) -> Option<PairAt> {
        let needle = Encoded::new(field);
        let buf = &self.buf[..];
        let mut at = 0;
        while at < buf.len() {
            let value = entry::skip(buf, at);
            let end = entry::skip(buf, value);
            if needle.matches(&buf[at..value]) {
                return Some(PairAt {
                    field: at,
                    value,
                    end,
                });
            }
            at = end;
        }
        None
    }

    /// Replaces bytes `range` with `parts`, reallocating to the exact new size.
    fn splice(&mut self, range: std::ops::Range<usize>, parts: &[&[u8]]) {
        let added: usize = parts.iter().map(|p| p.len()).sum();
        let mut v = std::mem::take(&mut self.buf).into_vec();
        let new_len = v.len() - range.len() + added;
        if new_len > v.len() {
            v.reserve_exact(new_len - v.len());
        }
        v.splice(range, parts.iter().flat_map(|p| p.iter().copied()));
        self.buf = v.into_boxed_slice();
    }

    fn get(&self, field: &[u8]) -> Option<Element<'_>> {
        let at = self.find(field)?;
        Some(entry::decode(&self.buf, at.value).0)
    }

    /// Sets `field`; true when it is new.
    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let value = Encoded::new(value);
        let [vh, vb] = value.parts();
        match self.find(field) {
            Some(at) => {
                self.splice(at.value..at.end, &[vh, vb]);
                false
            }
            None => {
                let field = Encoded::new(field);
                let [fh, fb] = field.parts();
                let end = self.buf.len();
                self.splice(end..end, &[fh, fb, vh, vb]);
                self.pairs += 1;
                true
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(at) => {
                self.splice(at.field..at.end, &[]);
                self.pairs -= 1;
                true
            }
            None => false,
        }
    }

    fn iter(&self) -> PackedIter<'_> {
        PackedIter {
            buf: &self.buf,
            at: 0,
        }
    }
}

/// The pairs of a `Packed`, in order.
pub struct PackedIter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (Element<'a>, Element<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.buf.len() {
            return None;
        }
        let (field, value_at) = entry::decode(self.buf, self.at);
        let (value, end) = entry::decode(self.buf, value_at);
        self.at = end;
        Some((field, value))
    }
}

/// The conversion thresholds, read from the configuration by the caller.
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum HashValue {
    Listpack(Packed),
    Table(Box<FieldTable>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Packed::default())
    }
}

impl HashValue {
    pub fn new() -> HashValue {
        HashValue::default()
    }

    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(p) => p.len(),
            HashValue::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<Element<'_>> {
        match self {
            HashValue::Listpack(p) => p.get(field),
            HashValue::Table(t) => t.get(field).map(Pair::value),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(p) => p.find(field).is_some(),
            HashValue::Table(t) => t.contains(field),
        }
    }

    /// Redis's `hashTypeTryConversion`: a listpack becomes a table before a write when one
    /// of the strings about to be written is longer than `max_value`.
    pub fn prepare_for(&mut self, strings: &[&[u8]], limits: HashLimits) {
        if matches!(self, HashValue::Listpack(_))
            && strings.iter().any(|s| s.len() > limits.max_value)
        {
            self.convert();
        }
    }

    /// Sets `field` to `value`; true when the field is new. Converts to a table when the
    /// strings are too long for a listpack or the hash has grown past `max_entries`.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        self.prepare_for(&[field, value], limits);
        match self {
            HashValue::Listpack(p) => {
                let inserted = p.set(field, value);
                if p.len() > limits.max_entries {
                    self.convert();
                }
                inserted
            }
            HashValue::Table(t) => t.upsert(Pair::new(field, value)),
        }
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(p) => p.remove(field),
            HashValue::Table(t) => remove_and_shrink(&mut **t, |t| t.swap_remove(field)),
        }
    }

    /// Estimated bytes this hash takes (MEMORY USAGE).
    pub fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + match self {
                HashValue::Listpack(p) => p.bytes(),
                HashValue::Table(t) => t.memory_usage(),
            }
    }

    /// Every (field, value), in listpack order or table order.
    pub fn iter(&self) -> HashIter<'_> {
        match self {
            HashValue::Listpack(p) => HashIter::Pack(p.iter()),
            HashValue::Table(t) => HashIter::Table(t.iter()),
        }
    }

    /// The pairs, reachable by position (HRANDFIELD's picks): a listpack's are gathered
    /// once, a table's are read in place.
    pub fn by_position(&self) -> ByPosition<'_> {
        match self {
            HashValue::Listpack(_) => ByPosition::Pack(self.iter().collect()),
            HashValue::Table(t) => ByPosition::Table(t),
        }
    }

    /// One HSCAN call from `cursor`: a listpack gives every pair and cursor 0 (as Redis
    /// does for its small encodings); a table gives up to `count` pairs and the cursor to
    /// go on from, 0 once it is done (`scan_positions`).
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(Element<'a>, Element<'a>),
    ) -> u64 {
        match self {
            HashValue::Listpack(_) => {
                self.iter().for_each(|(f, v)| visit(f, v));
                0
            }
            HashValue::Table(t) => {
                let (positions, next) = scan_positions(t.len(), cursor, count);
                for i in positions {
                    if let Some((f, v)) = t.get_index(i).map(Pair::split) {
                        visit(f, v);
                    }
                }
                next
            }
        }
    }

    fn convert(&mut self) {
        if let HashValue::Listpack(p) = self {
            let mut table = FieldTable::with_capacity(p.len());
            for (f, v) in p.iter() {
                table.upsert(Pair::new(&f, &v));
            }
            *self = HashValue::Table(Box::new(table));
        }
    }
}

pub enum HashIter<'a> {
    Pack(PackedIter<'a>),
    Table(std::slice::Iter<'a, Pair>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (Element<'a>, Element<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Pack(it) => it.next(),
            HashIter::Table(it) => it.next().map(Pair::split),
        }
    }
}

/// A hash's pairs by position, `HashValue::by_position`.
pub enum ByPosition<'a> {
    Pack(Vec<(Element<'a>, Element<'a>)>),
    Table(&'a FieldTable),
}

impl<'a> ByPosition<'a> {
    pub fn len(&self) -> usize {
        match self {
            ByPosition::Pack(pairs) => pairs.len(),
            ByPosition::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pair at position `i`, `None` past the end.
    pub fn get(&self, i: usize) -> Option<(Element<'a>, Element<'a>)> {
        match self {
            ByPosition::Pack(pairs) => pairs.get(i).copied(),
            ByPosition::Table(t) => t.get_index(i).map(Pair::split),
        }
    }
}

/// The positions one SSCAN or HSCAN call visits in a table of `len` entries, and the
/// cursor it answers. Positions go from the top down: cursor 0 starts at the last one, a
/// cursor `c` goes on below `c`, and the answer is 0 once position 0 was visited. Tables
/// remove by swapping their last entry into the hole, which here only ever moves an entry
/// already visited (the last one) into a hole, so an entry present for a whole iteration
/// is visited at least once (and an entry added meanwhile maybe not), as Redis's
/// guarantees say. A stale cursor past the end starts at the top.
pub(super) fn scan_positions(
    len: usize,
    cursor: u64,
    count: usize,
) -> (std::iter::Rev<std::ops::Range<usize>>, u64) {
    let top = match usize::try_from(cursor) {
        Ok(0) | Err(_) => len,
        Ok(c) => c.min(len),
    };
    let bottom = top.saturating_sub(count.max(1));
    (
        (bottom..top).rev(),
        if bottom == 0 { 0 } else { bottom as u64 },
    )
}

/// A table of a hash, set or sorted set, which a delete may leave mostly empty.
pub(super) trait SparseTable {
    /// Gives back most of the table when removals left it mostly empty (Redis resizes
    /// its dicts after deletes: a collection that shrank should not keep its peak).
    fn shrink_if_sparse(&mut self);
}

/// Runs `remove` on `table` and, when it removed something, shrinks the table if that
/// left it mostly empty. What `remove` answered.
pub(super) fn remove_and_shrink<T: SparseTable>(
    table: &mut T,
    remove: impl FnOnce(&mut T) -> bool,
) -> bool {
    let removed = remove(table);
    if removed {
        table.shrink_if_sparse();
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        #[test]
        fn a_field_table_behaves_as_a_map(ops in prop::collection::vec((0u8..3, 0u16..300, 0u16..2000), 0..400)) {
            let mut t = FieldTable::default();
            let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            for (op, f, v) in ops {
                // Long fields and values cross the varint boundaries of the pair header.
                let field = if f % 7 == 0 { vec![b'f'; 130 + f as usize] } else { format!("field:{f}").into_bytes() };
                let value = format!("{v}").repeat(1 + v as usize % 50).into_bytes();
                match op {
                    0 | 1 => prop_assert_eq!(t.upsert(Pair::new(&field, &value)), model.insert(field.clone(), value).is_none()),
                    _ => {
                        prop_assert_eq!(remove_and_shrink(&mut t, |t| t.swap_remove(&field)), model.remove(&field).is_some());
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                for (f, v) in &model {
                    prop_assert_eq!(t.get(f).map(|p| p.value().to_vec()), Some(v.clone()));
                }
                let by_position: HashMap<Vec<u8>, Vec<u8>> = (0..t.len())
                    .filter_map(|i| t.get_index(i).map(Pair::split))
                    .map(owned)
                    .collect();
                prop_assert_eq!(&by_position, &model);
                prop_assert!(t.get_index(t.len()).is_none());
            }
        }
    }

    fn owned((f, v): (Element, Element)) -> (Vec<u8>, Vec<u8>) {
        (f.to_vec(), v.to_vec())
    }

    fn owned_pair(f: &[u8], v: &[u8]) -> (Vec<u8>, Vec<u8>) {
        (f.to_vec(), v.to_vec())
    }

    /// Strings of every encoding: integers, zero-padded digits, text, long text.
    fn string_of(n: u16) -> Vec<u8> {
        match n % 5 {
            0 => format!("{}", n as i64 * 997 - 30_000).into_bytes(),
            1 => format!("{:06}", n).into_bytes(),
            2 => format!("f{n}").into_bytes(),
            3 => vec![b'x'; 100 + n as usize % 60],
            _ => format!("{}", n % 64).into_bytes(),
        }
    }

    proptest! {
        #[test]
        fn a_small_hash_behaves_as_a_map_in_insertion_order(ops in prop::collection::vec((0u8..3, 0u16..40, 0u16..2000), 0..200)) {
            let limits = HashLimits { max_entries: 1000, max_value: 1000 };
            let mut h = HashValue::new();
            let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for (op, f, v) in ops {
                let (field, value) = (string_of(f), string_of(v));
                let at = model.iter().position(|(mf, _)| *mf == field);
                match op {
                    0 | 1 => {
                        prop_assert_eq!(h.set(&field, &value, limits), at.is_none());
                        match at {
                            Some(i) => model[i].1 = value,
                            None => model.push((field, value)),
                        }
                    }
                    _ => {
                        prop_assert_eq!(h.remove(&field), at.is_some());
                        if let Some(i) = at {
                            model.remove(i);
                        }
                    }
                }
                prop_assert_eq!(h.encoding(), "listpack");
                prop_assert_eq!(h.len(), model.len());
                prop_assert_eq!(h.iter().map(owned).collect::<Vec<_>>(), model.clone());
                for (f, v) in &model {
                    prop_assert_eq!(h.get(f).map(|x| x.to_vec()), Some(v.clone()));
                    prop_assert!(h.contains(f));
                }
            }
        }
    }

    #[test]
    fn integers_take_few_bytes_and_a_hash_is_not_boxed() {
        let mut h = HashValue::new();
        for i in 0..10 {
            h.set(
                format!("f{i}").as_bytes(),
                format!("{}", 123_450 + i).as_bytes(),
                LIMITS_BIG,
            );
        }
        // Per pair: "fN" in 3 bytes, the number in 3 (it is below 2^20).
        assert_eq!(h.memory_usage() - std::mem::size_of::<HashValue>(), 60);
        assert_eq!(h.get(b"f3").as_deref(), Some(&b"123453"[..]));
        assert_eq!(std::mem::size_of::<HashValue>(), 24);
        // A 12-byte field with a value below 2^20 is a 16-byte allocation.
        assert_eq!(Pair::new(b"field:123456", b"123456").0.allocated(), 16);
    }

    const LIMITS_BIG: HashLimits = HashLimits {
        max_entries: 128,
        max_value: 64,
    };

    const LIMITS: HashLimits = HashLimits {
        max_entries: 2,
        max_value: 4,
    };

    #[test]
    fn a_small_hash_keeps_insertion_order_and_updates_in_place() {
        let mut h = HashValue::new();
        assert!(h.set(b"b", b"1", LIMITS));
        assert!(h.set(b"a", b"2", LIMITS));
        assert!(!h.set(b"b", b"3", LIMITS));
        let pairs: Vec<_> = h.iter().map(owned).collect();
        assert_eq!(pairs, vec![owned_pair(b"b", b"3"), owned_pair(b"a", b"2")]);
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn too_many_fields_or_a_long_value_make_a_table() {
        let mut h = HashValue::new();
        h.set(b"a", b"1", LIMITS);
        h.set(b"b", b"1", LIMITS);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"c", b"1", LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a").as_deref(), Some(&b"1"[..]));

        let mut long = HashValue::new();
        long.set(b"a", b"12345", LIMITS);
        assert_eq!(long.encoding(), "hashtable");
    }

    #[test]
    fn remove_takes_the_field_and_its_value() {
        let mut h = HashValue::new();
        h.set(b"a", b"1", LIMITS);
        h.set(b"b", b"2", LIMITS);
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        assert_eq!(h.len(), 1);
        assert_eq!(h.get(b"b").as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn scan_positions_go_down_from_the_top_and_end_at_zero() {
        let visit = |len, cursor, count| {
            let (positions, next) = scan_positions(len, cursor, count);
            (positions.collect::<Vec<_>>(), next)
        };
        assert_eq!(visit(5, 0, 2), (vec![4, 3], 3));
        assert_eq!(visit(5, 3, 2), (vec![2, 1], 1));
        assert_eq!(visit(5, 1, 2), (vec![0], 0));
        assert_eq!(visit(5, 0, 10), (vec![4, 3, 2, 1, 0], 0));
        // A cursor past the end (the table shrank, or it came from elsewhere): the top.
        assert_eq!(visit(3, 100, 2), (vec![2, 1], 1));
        assert_eq!(visit(3, u64::MAX, 2), (vec![2, 1], 1));
        assert_eq!(visit(0, 7, 2), (vec![], 0));
    }

    #[test]
    fn a_listpack_scans_whole_and_a_table_by_pairs() {
        let mut small = HashValue::new();
        small.set(b"a", b"1", LIMITS);
        small.set(b"b", b"2", LIMITS);
        let mut pairs = Vec::new();
        assert_eq!(small.scan(5, 1, |f, v| pairs.push(owned((f, v)))), 0);
        assert_eq!(pairs, [owned_pair(b"a", b"1"), owned_pair(b"b", b"2")]);

        let mut table = HashValue::new();
        for f in [&b"a"[..], b"b", b"c"] {
            table.set(f, b"v", LIMITS);
        }
        assert_eq!(table.encoding(), "hashtable");
        let mut fields = Vec::new();
        let next = table.scan(0, 2, |f, _| fields.push(f.to_vec()));
        assert_eq!((fields.len(), next), (2, 1));
        assert_eq!(table.scan(next, 2, |f, _| fields.push(f.to_vec())), 0);
        fields.sort();
        assert_eq!(fields, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn pairs_by_position_follow_the_hash_order() {
        for limits in [
            LIMITS,
            HashLimits {
                max_entries: 512,
                max_value: 64,
            },
        ] {
            let mut h = HashValue::new();
            for (f, v) in [(&b"x"[..], &b"1"[..]), (b"y", b"2"), (b"z", b"3")] {
                h.set(f, v, limits);
            }
            let by_position = h.by_position();
            assert_eq!(by_position.len(), 3);
            let pairs: Vec<_> = (0..3)
                .filter_map(|i| by_position.get(i))
                .map(owned)
                .collect();
            assert_eq!(pairs, h.iter().map(owned).collect::<Vec<_>>());
            assert_eq!(by_position.get(3), None);
        }
    }
}
