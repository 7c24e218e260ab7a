//! The set value, in Redis 7.0's two encodings.
//!
//! `intset`: a sorted array of integers, while every member is the canonical text of an
//! i64 (Redis's `string2ll`) and there are at most `set-max-intset-entries` of them. It
//! answers SMEMBERS in ascending order, which clients can see, so the order is kept.
//! `hashtable`: anything else, for good (a set never converts back). Its order is Redis's
//! hash order, which nobody can rely on; here it is insertion order with swap-removal,
//! which keeps random picks O(1). SSCAN walks a table from its last position down (see
//! `scan_positions`), the one direction in which swap-removal never moves a member that
//! is still to be visited into the part already visited.

use rand::Rng;

use super::hash::{remove_and_shrink, scan_positions};
use super::table::ThinTable;
use super::thin::ThinBytes;
use crate::keyspace::Sds;
use crate::util::parse_i64;

/// The members of a `hashtable` set, each one thin allocation (`table::ThinTable`).
pub type MemberTable = ThinTable<ThinBytes>;

#[derive(Clone, Debug, PartialEq)]
pub enum SetValue {
    Intset(Vec<i64>),
    Table(Box<MemberTable>),
}

/// A member as the set holds it: an integer of an intset or the bytes of a table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl<'a> Member<'a> {
    /// The member's text, formatting integers into `scratch`.
    pub fn bytes<'b>(&'b self, scratch: &'b mut itoa::Buffer) -> &'b [u8]
    where
        'a: 'b,
    {
        match *self {
            Member::Int(n) => scratch.format(n).as_bytes(),
            Member::Bytes(b) => b,
        }
    }

    pub fn to_sds(self) -> Sds {
        let mut scratch = itoa::Buffer::new();
        Sds::from_slice(self.bytes(&mut scratch))
    }
}

impl SetValue {
    /// Redis's `setTypeCreate`: an intset when the first member is an integer.
    pub fn for_first_member(member: &[u8]) -> SetValue {
        if parse_i64(member).is_some() {
            SetValue::Intset(Vec::new())
        } else {
            SetValue::Table(Box::default())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.len(),
            SetValue::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Table(_) => "hashtable",
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(v) => parse_i64(member).is_some_and(|n| v.binary_search(&n).is_ok()),
            SetValue::Table(t) => t.contains(member),
        }
    }

    /// Adds `member`; true when it is new. An intset becomes a table for a member that is
    /// not an integer, or when it grows past `max_intset_entries`.
    pub fn add(&mut self, member: &[u8], max_intset_entries: usize) -> bool {
        if let SetValue::Intset(_) = self {
            match parse_i64(member) {
                Some(n) => return self.add_int(n, max_intset_entries),
                None => self.convert(),
            }
        }
        match self {
            SetValue::Table(t) => t.upsert(ThinBytes::from_parts(&[member])),
            SetValue::Intset(_) => false,
        }
    }

    /// `add` for a member as another set holds it, which spares an intset's integers a
    /// trip through text.
    pub fn insert(&mut self, member: Member<'_>, max_intset_entries: usize) -> bool {
        match member {
            Member::Int(n) => self.add_int(n, max_intset_entries),
            Member::Bytes(b) => self.add(b, max_intset_entries),
        }
    }

    fn add_int(&mut self, n: i64, max_intset_entries: usize) -> bool {
        match self {
            SetValue::Intset(v) => match v.binary_search(&n) {
                Ok(_) => false,
                Err(pos) => {
                    v.insert(pos, n);
                    if v.len() > max_intset_entries {
                        self.convert();
                    }
                    true
                }
            },
            SetValue::Table(t) => {
                let mut text = itoa::Buffer::new();
                let member = text.format(n).as_bytes();
                t.upsert(ThinBytes::from_parts(&[member]))
            }
        }
    }

    /// `contains` for a member as another set holds it.
    pub fn contains_member(&self, member: Member<'_>) -> bool {
        match (self, member) {
            (SetValue::Intset(v), Member::Int(n)) => v.binary_search(&n).is_ok(),
            (_, member) => {
                let mut scratch = itoa::Buffer::new();
                self.contains(member.bytes(&mut scratch))
            }
        }
    }

    /// `remove` for a member as another set holds it.
    pub fn discard(&mut self, member: Member<'_>) -> bool {
        let mut scratch = itoa::Buffer::new();
        self.remove(member.bytes(&mut scratch))
    }

    /// Removes `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Intset(v) => {
                let Some(n) = parse_i64(member) else {
                    return false;
                };
                match v.binary_search(&n) {
                    Ok(pos) => {
                        v.remove(pos);
                        true
                    }
                    Err(_) => false,
                }
            }
            SetValue::Table(t) => remove_and_shrink(&mut **t, |t| t.swap_remove(member)),
        }
    }

    /// Estimated bytes this set takes (MEMORY USAGE).
    pub fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + match self {
                SetValue::Intset(v) => v.capacity() * 8,
                SetValue::Table(t) => t.memory_usage(),
            }
    }

    /// Every member: ascending for an intset.
    pub fn iter(&self) -> impl Iterator<Item = Member<'_>> {
        let (ints, table) = match self {
            SetValue::Intset(v) => (Some(v.iter()), None),
            SetValue::Table(t) => (None, Some(t.iter())),
        };
        ints.into_iter().flatten().map(|&n| Member::Int(n)).chain(
            table
                .into_iter()
                .flatten()
                .map(|m| Member::Bytes(m.as_slice())),
        )
    }

    /// The member at position `i` (`i < len()`), for random picks.
    pub fn at(&self, i: usize) -> Option<Member<'_>> {
        match self {
            SetValue::Intset(v) => v.get(i).map(|&n| Member::Int(n)),
            SetValue::Table(t) => t.get_index(i).map(|m| Member::Bytes(m.as_slice())),
        }
    }

    /// A member picked uniformly at random; `None` when empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<Member<'_>> {
        if self.is_empty() {
            return None;
        }
        self.at(rng.gen_range(0..self.len()))
    }

    /// Removes and returns a member picked uniformly at random.
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> Option<Sds> {
        if self.is_empty() {
            return None;
        }
        let i = rng.gen_range(0..self.len());
        match self {
            SetValue::Intset(v) => {
                let n = v.remove(i);
                Some(Member::Int(n).to_sds())
            }
            SetValue::Table(t) => {
                let member = t.swap_remove_index(i);
                t.shrink_if_sparse();
                member.map(|m| Sds::from_slice(m.as_slice()))
            }
        }
    }

    /// One SSCAN call from `cursor`: an intset gives every member and cursor 0 (as Redis
    /// does for its small encodings); a table gives up to `count` members and the cursor
    /// to go on from, 0 once it is done (`scan_positions`).
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut visit: impl FnMut(Member<'a>)) -> u64 {
        match self {
            SetValue::Intset(v) => {
                v.iter().for_each(|&n| visit(Member::Int(n)));
                0
            }
            SetValue::Table(t) => {
                let (positions, next) = scan_positions(t.len(), cursor, count);
                for i in positions {
                    if let Some(m) = t.get_index(i) {
                        visit(Member::Bytes(m.as_slice()));
                    }
                }
                next
            }
        }
    }

    /// Keeps the members `keep` says yes to, in their order.
    pub fn retain(&mut self, mut keep: impl FnMut(Member<'_>) -> bool) {
        match self {
            SetValue::Intset(v) => v.retain(|&n| keep(Member::Int(n))),
            SetValue::Table(t) => {
                t.retain(|m| keep(Member::Bytes(m.as_slice())));
                t.shrink_if_sparse();
            }
        }
    }

    fn convert(&mut self) {
        if let SetValue::Intset(v) = self {
            let mut table = MemberTable::with_capacity(v.len() + 1);
            let mut text = itoa::Buffer::new();
            for &n in v.iter() {
                table.upsert(ThinBytes::from_parts(&[text.format(n).as_bytes()]));
            }
            *self = SetValue::Table(Box::new(table));
        }
    }
}

/// `wanted` distinct positions below `len` (`wanted <= len`), drawn uniformly, in the
/// order drawn: a partial Fisher-Yates shuffle when most positions are wanted, rejection
/// sampling when few are (no index array the size of the collection).
pub fn sample_positions(rng: &mut impl Rng, len: usize, wanted: usize) -> Vec<usize> {
    let wanted = wanted.min(len);
    if wanted * 3 > len {
        let mut all: Vec<usize> = (0..len).collect();
        for i in 0..wanted {
            let j = rng.gen_range(i..len);
            all.swap(i, j);
        }
        all.truncate(wanted);
        return all;
    }
    let mut seen = hashbrown::HashSet::with_capacity(wanted);
    let mut picks = Vec::with_capacity(wanted);
    while picks.len() < wanted {
        let i = rng.gen_range(0..len);
        if seen.insert(i) {
            picks.push(i);
        }
    }
    picks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &SetValue) -> Vec<String> {
        let mut scratch = itoa::Buffer::new();
        s.iter()
            .map(|m| String::from_utf8_lossy(m.bytes(&mut scratch)).into_owned())
            .collect()
    }

    #[test]
    fn integers_stay_an_ascending_intset() {
        let mut s = SetValue::for_first_member(b"5");
        for m in ["5", "-3", "10", "5"] {
            s.add(m.as_bytes(), 512);
        }
        assert_eq!(s.encoding(), "intset");
        assert_eq!(texts(&s), ["-3", "5", "10"]);
        assert!(s.contains(b"10"));
        assert!(!s.contains(b"010"));
    }

    #[test]
    fn a_non_integer_or_too_many_members_make_a_table() {
        let mut s = SetValue::for_first_member(b"1");
        s.add(b"1", 512);
        s.add(b"x", 512);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"x"));

        let mut small = SetValue::for_first_member(b"1");
        small.add(b"1", 2);
        small.add(b"2", 2);
        assert_eq!(small.encoding(), "intset");
        small.add(b"3", 2);
        assert_eq!(small.encoding(), "hashtable");
    }

    #[test]
    fn canonical_integers_only_make_an_intset() {
        assert_eq!(SetValue::for_first_member(b"-0").encoding(), "hashtable");
        assert_eq!(SetValue::for_first_member(b"007").encoding(), "hashtable");
        assert_eq!(SetValue::for_first_member(b"-7").encoding(), "intset");
    }

    fn table_of(members: impl IntoIterator<Item = String>) -> SetValue {
        let mut s = SetValue::Table(Box::default());
        for m in members {
            s.add(m.as_bytes(), 512);
        }
        s
    }

    #[test]
    fn members_of_another_set_are_added_tested_and_removed_in_either_encoding() {
        let mut ints = SetValue::Intset(Vec::new());
        assert!(ints.insert(Member::Int(7), 512));
        assert!(!ints.insert(Member::Bytes(b"7"), 512));
        assert!(ints.insert(Member::Bytes(b"-2"), 512));
        assert_eq!(ints.encoding(), "intset");
        assert_eq!(texts(&ints), ["-2", "7"]);

        let table = table_of(["7".to_string(), "x".to_string()]);
        assert!(table.contains_member(Member::Int(7)));
        assert!(!table.contains_member(Member::Int(-2)));
        assert!(ints.contains_member(Member::Bytes(b"7")));
        assert!(!ints.contains_member(Member::Bytes(b"07")));

        assert!(ints.insert(Member::Bytes(b"x"), 512));
        assert_eq!(ints.encoding(), "hashtable");
        assert!(ints.discard(Member::Int(7)));
        assert!(!ints.discard(Member::Int(7)));
        assert_eq!(texts(&ints), ["-2", "x"]);
    }

    #[test]
    fn inserting_past_the_intset_limit_makes_a_table() {
        let mut s = SetValue::Intset(Vec::new());
        s.insert(Member::Int(1), 2);
        s.insert(Member::Int(2), 2);
        assert_eq!(s.encoding(), "intset");
        s.insert(Member::Int(3), 2);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains_member(Member::Int(3)));
    }

    #[test]
    fn retain_keeps_the_order_of_what_stays() {
        let mut ints = SetValue::Intset(vec![1, 2, 3, 4]);
        ints.retain(|m| m != Member::Int(2));
        assert_eq!(texts(&ints), ["1", "3", "4"]);
        let mut table = table_of(["c", "a", "b", "d"].map(String::from));
        table.retain(|m| m != Member::Bytes(b"a"));
        assert_eq!(texts(&table), ["c", "b", "d"]);
    }

    #[test]
    fn an_intset_scans_whole_whatever_the_cursor() {
        let s = SetValue::Intset(vec![1, 5, 9]);
        for cursor in [0, 1, 2, 1000, u64::MAX] {
            let mut seen = Vec::new();
            assert_eq!(s.scan(cursor, 1, |m| seen.push(m)), 0);
            assert_eq!(seen, [Member::Int(1), Member::Int(5), Member::Int(9)]);
        }
    }

    #[test]
    fn a_table_scans_in_batches_of_count_down_to_cursor_zero() {
        let s = table_of((0..25).map(|i| i.to_string()));
        let mut seen = Vec::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            let before = seen.len();
            cursor = s.scan(cursor, 10, |m| seen.push(m.to_sds()));
            calls += 1;
            assert!(seen.len() - before <= 10);
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(calls, 3);
        seen.sort();
        let mut all: Vec<Sds> = s.iter().map(Member::to_sds).collect();
        all.sort();
        assert_eq!(seen, all);
    }

    proptest::proptest! {
        /// SSCAN's guarantee: a member there from the first call to the last is returned,
        /// whatever is added and removed between calls.
        #[test]
        fn a_scan_returns_every_member_present_throughout(
            initial in 1usize..80,
            steps in proptest::collection::vec((1usize..12, 0usize..4, 0usize..4, 0usize..1000), 1..40),
        ) {
            let mut set = table_of((0..initial).map(|i| format!("m{i}")));
            let mut removed = std::collections::HashSet::new();
            let mut added = initial;
            let mut seen = std::collections::HashSet::new();
            let mut cursor = 0;
            for (count, removals, additions, pick) in steps.iter().copied().cycle().take(10_000) {
                cursor = set.scan(cursor, count, |m| {
                    seen.insert(m.to_sds());
                });
                if cursor == 0 {
                    break;
                }
                for r in 0..removals {
                    if set.len() > 1 {
                        let victim = set.at((pick + r * 7) % set.len()).map(Member::to_sds);
                        if let Some(victim) = victim {
                            set.remove(&victim);
                            removed.insert(victim);
                        }
                    }
                }
                for _ in 0..additions {
                    set.add(format!("m{added}").as_bytes(), 512);
                    added += 1;
                }
            }
            proptest::prop_assert_eq!(cursor, 0);
            for i in 0..initial {
                let member = Sds::from_slice(format!("m{i}").as_bytes());
                if !removed.contains(&member) {
                    proptest::prop_assert!(seen.contains(&member), "m{} was never returned", i);
                }
            }
        }

        #[test]
        fn sampled_positions_are_distinct_and_in_range(len in 0usize..200, wanted in 0usize..220) {
            let picks = sample_positions(&mut rand::thread_rng(), len, wanted);
            proptest::prop_assert_eq!(picks.len(), wanted.min(len));
            let distinct: std::collections::HashSet<_> = picks.iter().collect();
            proptest::prop_assert_eq!(distinct.len(), picks.len());
            proptest::prop_assert!(picks.iter().all(|&i| i < len));
        }
    }
}
