//! The set value, in Redis 7.0's two encodings.
//!
//! `intset`: a sorted array of integers, while every member is the canonical text of an
//! i64 (Redis's `string2ll`) and there are at most `set-max-intset-entries` of them. It
//! answers SMEMBERS in ascending order, which clients can see, so the order is kept.
//! `hashtable`: anything else, for good (a set never converts back). Its order is Redis's
//! hash order, which nobody can rely on; here it is insertion order with swap-removal,
//! which keeps random picks O(1).

use indexmap::IndexSet;
use rand::Rng;

use super::hash::remove_and_shrink;
use crate::keyspace::Sds;
use crate::util::parse_i64;

pub type MemberTable = IndexSet<Sds, hashbrown::DefaultHashBuilder>;

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
        if let SetValue::Intset(v) = self {
            match parse_i64(member) {
                Some(n) => {
                    return match v.binary_search(&n) {
                        Ok(_) => false,
                        Err(pos) => {
                            v.insert(pos, n);
                            if v.len() > max_intset_entries {
                                self.convert();
                            }
                            true
                        }
                    };
                }
                None => self.convert(),
            }
        }
        match self {
            SetValue::Table(t) => t.insert(Sds::from_slice(member)),
            SetValue::Intset(_) => false,
        }
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
                SetValue::Table(t) => {
                    super::table_bytes(t.capacity(), 8 + std::mem::size_of::<Sds>())
                        + super::sampled_heap(t.len(), t.iter())
                }
            }
    }

    /// Every member: ascending for an intset.
    pub fn iter(&self) -> impl Iterator<Item = Member<'_>> {
        let (ints, table) = match self {
            SetValue::Intset(v) => (Some(v.iter()), None),
            SetValue::Table(t) => (None, Some(t.iter())),
        };
        ints.into_iter()
            .flatten()
            .map(|&n| Member::Int(n))
            .chain(table.into_iter().flatten().map(|m| Member::Bytes(m)))
    }

    /// The member at position `i` (`i < len()`), for random picks.
    pub fn at(&self, i: usize) -> Option<Member<'_>> {
        match self {
            SetValue::Intset(v) => v.get(i).map(|&n| Member::Int(n)),
            SetValue::Table(t) => t.get_index(i).map(|m| Member::Bytes(m)),
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
            SetValue::Table(t) => t.swap_remove_index(i),
        }
    }

    fn convert(&mut self) {
        if let SetValue::Intset(v) = self {
            let mut table = MemberTable::with_capacity_and_hasher(v.len() + 1, Default::default());
            for &n in v.iter() {
                table.insert(Member::Int(n).to_sds());
            }
            *self = SetValue::Table(Box::new(table));
        }
    }
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
}
