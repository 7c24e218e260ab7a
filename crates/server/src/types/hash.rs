//! The hash value: fields and their values, in one of Redis 7.0's two encodings.
//!
//! `listpack`: a `Pack` of field, value, field, value... in insertion order (HGETALL
//! answers in that order, as Redis does), while there are at most
//! `hash-max-listpack-entries` fields and none of the strings written is longer than
//! `hash-max-listpack-value`. Past either limit it becomes a `hashtable` for good, as in
//! Redis (a hash never converts back).

use super::pack::Pack;
use super::table::{Keyed, ThinTable};
use super::thin::ThinBytes;

/// A field and its value in one allocation behind a thin pointer: the field's length, the
/// field, the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair(ThinBytes);

impl Pair {
    fn new(field: &[u8], value: &[u8]) -> Pair {
        let mut head = [0u8; 10];
        let (mut n, mut w) = (field.len(), 0);
        while n >= 0x80 {
            head[w] = (n as u8 & 0x7f) | 0x80;
            n >>= 7;
            w += 1;
        }
        head[w] = n as u8;
        Pair(ThinBytes::from_parts(&[&head[..=w], field, value]))
    }

    fn split(&self) -> (&[u8], &[u8]) {
        let bytes = self.0.as_slice();
        let (mut len, mut shift, mut at) = (0usize, 0, 0);
        loop {
            let b = bytes[at];
            len |= usize::from(b & 0x7f) << shift;
            at += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        bytes[at..].split_at(len)
    }

    pub fn field(&self) -> &[u8] {
        self.split().0
    }

    pub fn value(&self) -> &[u8] {
        self.split().1
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

/// The conversion thresholds, read from the configuration by the caller.
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum HashValue {
    Listpack(Pack),
    Table(Box<FieldTable>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Pack::new())
    }
}

impl HashValue {
    pub fn new() -> HashValue {
        HashValue::default()
    }

    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(p) => p.len() / 2,
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

    /// Byte offset of `field`'s entry in a listpack.
    fn find_in_pack(pack: &Pack, field: &[u8]) -> Option<usize> {
        let mut it = pack.iter();
        while let Some((at, f)) = it.next() {
            if f == field {
                return Some(at);
            }
            it.next();
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Listpack(p) => {
                let at = Self::find_in_pack(p, field)?;
                let (_, value_at) = p.entry_at(at);
                Some(p.entry_at(value_at).0)
            }
            HashValue::Table(t) => t.get(field).map(Pair::value),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
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
                let inserted = match Self::find_in_pack(p, field) {
                    Some(at) => {
                        let (_, value_at) = p.entry_at(at);
                        p.replace_at(value_at, value);
                        false
                    }
                    None => {
                        p.push(field);
                        p.push(value);
                        true
                    }
                };
                if self.len() > limits.max_entries {
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
            HashValue::Listpack(p) => match Self::find_in_pack(p, field) {
                Some(at) => {
                    p.remove_at(at, 2);
                    true
                }
                None => false,
            },
            HashValue::Table(t) => remove_and_shrink(&mut **t, |t| t.swap_remove(field)),
        }
    }

    /// Estimated bytes this hash takes (MEMORY USAGE).
    pub fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + match self {
                HashValue::Listpack(p) => p.capacity(),
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
        mut visit: impl FnMut(&'a [u8], &'a [u8]),
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
            let mut table = FieldTable::with_capacity(p.len() / 2);
            let mut it = p.iter();
            while let (Some((_, f)), Some((_, v))) = (it.next(), it.next()) {
                table.upsert(Pair::new(f, v));
            }
            *self = HashValue::Table(Box::new(table));
        }
    }
}

pub enum HashIter<'a> {
    Pack(super::pack::PackIter<'a>),
    Table(std::slice::Iter<'a, Pair>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Pack(it) => {
                let (_, f) = it.next()?;
                let (_, v) = it.next()?;
                Some((f, v))
            }
            HashIter::Table(it) => it.next().map(Pair::split),
        }
    }
}

/// A hash's pairs by position, `HashValue::by_position`.
pub enum ByPosition<'a> {
    Pack(Vec<(&'a [u8], &'a [u8])>),
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
    pub fn get(&self, i: usize) -> Option<(&'a [u8], &'a [u8])> {
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
                    prop_assert_eq!(t.get(f).map(Pair::value), Some(&v[..]));
                }
                let by_position: HashMap<Vec<u8>, Vec<u8>> = (0..t.len())
                    .filter_map(|i| t.get_index(i).map(Pair::split))
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect();
                prop_assert_eq!(&by_position, &model);
                prop_assert!(t.get_index(t.len()).is_none());
            }
        }
    }

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
        let pairs: Vec<_> = h.iter().collect();
        assert_eq!(pairs, vec![(&b"b"[..], &b"3"[..]), (&b"a"[..], &b"2"[..])]);
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
        assert_eq!(h.get(b"a"), Some(&b"1"[..]));

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
        assert_eq!(h.get(b"b"), Some(&b"2"[..]));
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
        assert_eq!(small.scan(5, 1, |f, v| pairs.push((f, v))), 0);
        assert_eq!(pairs, [(&b"a"[..], &b"1"[..]), (&b"b"[..], &b"2"[..])]);

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
            let pairs: Vec<_> = (0..3).filter_map(|i| by_position.get(i)).collect();
            assert_eq!(pairs, h.iter().collect::<Vec<_>>());
            assert_eq!(by_position.get(3), None);
        }
    }
}
