//! The key dictionary of one database.
//!
//! Entries live in a slab (`Vec`), found through a hash table of slab indices. An entry
//! never moves while it exists: a freed slot is reused by a later insert. That gives SCAN
//! its guarantee for free (the cursor is a slab index; a key present for the whole scan is
//! returned) and RANDOMKEY an O(1) sample. Which slots hold a key with a TTL is one bit per
//! slot (`ttl_bits`), so the active expiry cycle walks only those keys, in slab order, as
//! Redis 7 walks its `expires` dict with a cursor, at a cost of 1/8 byte per key instead of
//! a second index entry per key with a TTL.
//!
//! Each slot also has a 24-bit access stamp (`stamps`, 3 bytes per slot beside the slab, as
//! Redis keeps 24 bits of `lru` in every object): an LRU clock or an LFU counter, which the
//! eviction policies and OBJECT IDLETIME/FREQ read. Beside the slab rather than in `Entry`,
//! which is exactly 64 bytes and would grow to 72 with it.
//!
//! Nothing here knows the time: whether an entry has expired is the `Db`'s business.

use hashbrown::hash_table::{Entry as TableEntry, HashTable};
use hashbrown::DefaultHashBuilder;
use std::hash::BuildHasher;

use super::value::{Key, Value};

/// Slots kept when the last key goes: a dict that empties with more than this gives its
/// memory back (the slab never shrinks otherwise: entries cannot move under a SCAN).
/// Smaller ones keep theirs, so a key deleted and set again does not reallocate.
const KEEP_WHEN_EMPTY: usize = 1024;

/// Milliseconds since the Unix epoch; `NO_EXPIRY` for a key without a TTL.
pub type Millis = i64;
pub const NO_EXPIRY: Millis = -1;

#[derive(Debug)]
pub struct Entry {
    pub key: Key,
    pub value: Value,
    pub expire_at: Millis,
}

impl Entry {
    /// True when the entry's TTL has passed at `now`. Redis keeps a key alive during the
    /// very millisecond of its expiry (`keyIsExpired`: `now > when`); setting a TTL that is
    /// already due (`checkAlreadyExpired`: `when <= now`) deletes at once, in the commands.
    #[inline]
    pub fn is_expired(&self, now: Millis) -> bool {
        self.expire_at != NO_EXPIRY && self.expire_at < now
    }
}

#[derive(Debug)]
enum Slot {
    Used(Entry),
    /// A free slot and the next free one (`u32::MAX`: none).
    Free(u32),
}

#[derive(Debug, Default)]
pub struct Dict {
    hasher: DefaultHashBuilder,
    table: HashTable<u32>,
    slots: Vec<Slot>,
    free_head: Option<u32>,
    /// Bit `i` is set when slot `i` holds an entry with a TTL.
    ttl_bits: Vec<u64>,
    /// Number of bits set in `ttl_bits`.
    expiring: usize,
    /// Slot `i`'s access stamp, little-endian (see the module's comment).
    stamps: Vec<[u8; 3]>,
}

impl Dict {
    pub fn new() -> Dict {
        Dict::default()
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Keys that have a TTL.
    pub fn expiring_len(&self) -> usize {
        self.expiring
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn entry_at(&self, idx: u32) -> &Entry {
        match &self.slots[idx as usize] {
            Slot::Used(e) => e,
            Slot::Free(_) => unreachable!("hash table points at a free slot"),
        }
    }

    /// The slab index of `key`.
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        let hash = self.hash(key);
        self.table
            .find(hash, |&i| self.entry_at(i).key.as_slice() == key)
            .copied()
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.find(key).map(|i| self.entry_at(i))
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let i = self.find(key)?;
        self.at_mut(i)
    }

    /// The entry in slot `idx`, if the slot is in use.
    pub fn at(&self, idx: u32) -> Option<&Entry> {
        match self.slots.get(idx as usize) {
            Some(Slot::Used(e)) => Some(e),
            _ => None,
        }
    }

    pub fn at_mut(&mut self, idx: u32) -> Option<&mut Entry> {
        match self.slots.get_mut(idx as usize) {
            Some(Slot::Used(e)) => Some(e),
            _ => None,
        }
    }

    /// The access stamp of slot `idx` (0 for a slot out of range).
    #[inline]
    pub fn stamp(&self, idx: u32) -> u32 {
        self.stamps
            .get(idx as usize)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }

    /// Sets the access stamp of slot `idx` (its low 24 bits).
    #[inline]
    pub fn set_stamp(&mut self, idx: u32, stamp: u32) {
        if let Some(b) = self.stamps.get_mut(idx as usize) {
            let [x, y, z, _] = stamp.to_le_bytes();
            *b = [x, y, z];
        }
    }

    /// The bytes this dict spends around its keys and values (MEMORY STATS
    /// `overhead.hashtable.main` and `.expires`, as Redis counts its dict entries, bucket
    /// pointers and object headers): the slab, the stamps and the hash table; the TTL bits.
    pub fn overhead(&self) -> (usize, usize) {
        // A hash table holds 7/8 of its buckets; each costs a slot index and a control byte.
        let buckets = self.table.capacity() * 8 / 7;
        let main = self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.stamps.capacity() * 3
            + buckets * (std::mem::size_of::<u32>() + 1);
        (main, self.ttl_bits.capacity() * 8)
    }

    /// Number of slab slots: SCAN cursors and random samples range over `0..capacity()`.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Inserts or replaces `key`, keeping its slot (and, for a replaced key, its access
    /// stamp; a new key's is 0 until its caller stamps it). Returns the previous entry.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at: Millis) -> Option<Entry> {
        self.insert_slot(key, value, expire_at).1
    }

    /// `insert`, also telling the slot the key now has.
    pub fn insert_slot(
        &mut self,
        key: &[u8],
        value: Value,
        expire_at: Millis,
    ) -> (u32, Option<Entry>) {
        let hash = self.hash(key);
        let Dict {
            hasher,
            table,
            slots,
            free_head,
            ttl_bits,
            expiring,
            stamps,
        } = self;
        let entry = table.entry(
            hash,
            |&i| matches!(&slots[i as usize], Slot::Used(e) if e.key.as_slice() == key),
            |&i| match &slots[i as usize] {
                Slot::Used(e) => hasher.hash_one(e.key.as_slice()),
                Slot::Free(_) => 0,
            },
        );
        match entry {
            TableEntry::Occupied(o) => {
                let idx = *o.get();
                let Slot::Used(e) = &mut slots[idx as usize] else {
                    unreachable!("hash table points at a free slot")
                };
                let old_expire = e.expire_at;
                let old = std::mem::replace(
                    e,
                    Entry {
                        key: Key::from_slice(key),
                        value,
                        expire_at,
                    },
                );
                update_ttl_bit(ttl_bits, expiring, idx, old_expire, expire_at);
                (idx, Some(old))
            }
            TableEntry::Vacant(v) => {
                let new = Entry {
                    key: Key::from_slice(key),
                    value,
                    expire_at,
                };
                let idx = match *free_head {
                    Some(idx) => {
                        let Slot::Free(next) = slots[idx as usize] else {
                            unreachable!("free list points at a used slot")
                        };
                        *free_head = (next != u32::MAX).then_some(next);
                        slots[idx as usize] = Slot::Used(new);
                        stamps[idx as usize] = [0; 3];
                        idx
                    }
                    None => {
                        slots.push(Slot::Used(new));
                        // In step with the slab, so that it never holds more slots' worth.
                        if stamps.capacity() < slots.capacity() {
                            stamps.reserve_exact(slots.capacity() - stamps.len());
                        }
                        stamps.push([0; 3]);
                        (slots.len() - 1) as u32
                    }
                };
                v.insert(idx);
                update_ttl_bit(ttl_bits, expiring, idx, NO_EXPIRY, expire_at);
                (idx, None)
            }
        }
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let hash = self.hash(key);
        let Dict { table, slots, .. } = self;
        let found = table
            .find_entry(
                hash,
                |&i| matches!(&slots[i as usize], Slot::Used(e) if e.key.as_slice() == key),
            )
            .ok()?;
        let (idx, _) = found.remove();
        Some(self.free_slot(idx))
    }

    /// Removes the entry in slot `idx`, if the slot is in use. Saves the caller a copy of
    /// the key (the active expiry cycle finds entries by slot).
    pub fn remove_at(&mut self, idx: u32) -> Option<Entry> {
        let hash = self.hash(&self.at(idx)?.key);
        self.table.find_entry(hash, |&i| i == idx).ok()?.remove();
        Some(self.free_slot(idx))
    }

    /// Frees slot `idx`, which the table pointed at until now, and returns its entry: the
    /// slot heads the free list, its TTL bit is cleared.
    #[inline]
    fn free_slot(&mut self, idx: u32) -> Entry {
        let next = self.free_head.unwrap_or(u32::MAX);
        let Slot::Used(entry) = std::mem::replace(&mut self.slots[idx as usize], Slot::Free(next))
        else {
            unreachable!("the hash table pointed at a free slot")
        };
        self.free_head = Some(idx);
        update_ttl_bit(
            &mut self.ttl_bits,
            &mut self.expiring,
            idx,
            entry.expire_at,
            NO_EXPIRY,
        );
        self.release_if_empty();
        entry
    }

    /// After the last key of a large dict is gone, frees the slab and the table, which
    /// would otherwise stay at their largest size (mass expiry, a DEL of everything).
    fn release_if_empty(&mut self) {
        if self.table.is_empty() && self.slots.len() > KEEP_WHEN_EMPTY {
            self.clear();
        }
    }

    /// Sets or clears the TTL of the entry in slot `idx`.
    pub fn set_expire(&mut self, idx: u32, expire_at: Millis) {
        let Dict {
            slots,
            ttl_bits,
            expiring,
            ..
        } = self;
        if let Some(Slot::Used(e)) = slots.get_mut(idx as usize) {
            let old = e.expire_at;
            e.expire_at = expire_at;
            update_ttl_bit(ttl_bits, expiring, idx, old, expire_at);
        }
    }

    /// A random slab index among the entries that have a TTL: the first one at or after a
    /// random slot. (Not uniform when TTL keys cluster; the expiry cycle does not need it.)
    pub fn random_expiring(&self, rng: &mut impl rand::Rng) -> Option<u32> {
        if self.expiring == 0 {
            return None;
        }
        let start = rng.gen_range(0..self.slots.len());
        self.next_expiring(start).or_else(|| self.next_expiring(0))
    }

    /// The first slot at or after `from` whose entry has a TTL. Skips 64 slots per word
    /// without a TTL, so a walk over a large keyspace with few TTLs stays cheap.
    pub fn next_expiring(&self, from: usize) -> Option<u32> {
        let mut word = from / 64;
        let mut bits = *self.ttl_bits.get(word)? & (u64::MAX << (from % 64));
        loop {
            if bits != 0 {
                return Some((word * 64) as u32 + bits.trailing_zeros());
            }
            word += 1;
            bits = *self.ttl_bits.get(word)?;
        }
    }

    /// A random entry, or `None` when the dict is empty.
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<&Entry> {
        self.random_slot(rng).and_then(|i| self.at(i))
    }

    /// The slot of a random entry, or `None` when the dict is empty.
    pub fn random_slot(&self, rng: &mut impl rand::Rng) -> Option<u32> {
        if self.is_empty() {
            return None;
        }
        // The slab is at least as dense as the free list lets it be: retry on holes, and
        // fall back to a walk when the slab is mostly holes.
        for _ in 0..64 {
            let i = rng.gen_range(0..self.slots.len()) as u32;
            if self.at(i).is_some() {
                return Some(i);
            }
        }
        let start = rng.gen_range(0..self.slots.len());
        (start..self.slots.len())
            .chain(0..start)
            .find(|&i| self.at(i as u32).is_some())
            .map(|i| i as u32)
    }

    /// Visits used slots from `cursor` on until `visit` returns false or the slab ends.
    /// Returns the next cursor (0 once the whole slab was visited).
    pub fn scan(&self, cursor: usize, visit: impl FnMut(&Entry) -> bool) -> usize {
        self.scan_slots(cursor, usize::MAX, visit)
    }

    /// Like `scan`, but looks at no more than `max_slots` slots, used or free, so that a
    /// call on a slab that is mostly holes stays short (Redis bounds SCAN the same way, at
    /// ten times COUNT buckets). Returns the next cursor, 0 once the slab is done.
    pub fn scan_slots(
        &self,
        cursor: usize,
        max_slots: usize,
        mut visit: impl FnMut(&Entry) -> bool,
    ) -> usize {
        let end = cursor.saturating_add(max_slots).min(self.slots.len());
        let mut i = cursor;
        while i < end {
            let idx = i;
            i += 1;
            if let Slot::Used(e) = &self.slots[idx] {
                if !visit(e) {
                    break;
                }
            }
        }
        if i >= self.slots.len() {
            0
        } else {
            i
        }
    }

    /// Every entry, in slab order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().filter_map(|s| match s {
            Slot::Used(e) => Some(e),
            Slot::Free(_) => None,
        })
    }

    /// Empties the dict and gives its memory back.
    pub fn clear(&mut self) {
        *self = Dict {
            hasher: std::mem::take(&mut self.hasher),
            ..Dict::default()
        };
    }
}

/// Keeps slot `idx`'s TTL bit and the count of TTL keys in step with a TTL change.
fn update_ttl_bit(bits: &mut Vec<u64>, count: &mut usize, idx: u32, old: Millis, new: Millis) {
    let (word, mask) = (idx as usize / 64, 1u64 << (idx % 64));
    match (old != NO_EXPIRY, new != NO_EXPIRY) {
        (false, true) => {
            if bits.len() <= word {
                bits.resize(word + 1, 0);
            }
            bits[word] |= mask;
            *count += 1;
        }
        (true, false) => {
            if let Some(w) = bits.get_mut(word) {
                *w &= !mask;
            }
            *count -= 1;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::HashSet;

    fn val() -> Value {
        Value::string(b"v")
    }

    fn scan_all(dict: &Dict, count: usize) -> Vec<Key> {
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let mut n = 0;
            cursor = dict.scan_slots(cursor, count * 10, |e| {
                seen.push(e.key.clone());
                n += 1;
                n < count
            });
            if cursor == 0 {
                return seen;
            }
        }
    }

    #[test]
    fn entries_keep_their_slot_and_freed_slots_are_reused() {
        let mut d = Dict::new();
        d.insert(b"a", val(), NO_EXPIRY);
        d.insert(b"b", val(), NO_EXPIRY);
        let b = d.find(b"b");
        d.remove(b"a");
        d.insert(b"c", val(), NO_EXPIRY);
        assert_eq!(d.find(b"c"), Some(0), "c takes a's freed slot");
        assert_eq!(d.find(b"b"), b, "b never moved");
        assert_eq!(d.capacity(), 2);
    }

    #[test]
    fn scan_returns_every_key_present_for_the_whole_scan_despite_churn() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut d = Dict::new();
        for i in 0..2000 {
            d.insert(format!("stable:{i}").as_bytes(), val(), NO_EXPIRY);
            d.insert(format!("churn:{i}").as_bytes(), val(), NO_EXPIRY);
        }
        let mut live: Vec<String> = (0..2000).map(|i| format!("churn:{i}")).collect();
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut next_churn = 2000;
        loop {
            let mut n = 0;
            cursor = d.scan_slots(cursor, 100, |e| {
                seen.insert(e.key.clone());
                n += 1;
                n < 10
            });
            // Between calls, delete and add as many other keys: freed slots behind and
            // ahead of the cursor get reused by the new keys.
            for _ in 0..10 {
                let victim = live.swap_remove(rng.gen_range(0..live.len()));
                assert!(d.remove(victim.as_bytes()).is_some());
                let fresh = format!("churn:{next_churn}");
                d.insert(fresh.as_bytes(), val(), NO_EXPIRY);
                live.push(fresh);
                next_churn += 1;
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..2000 {
            let key = format!("stable:{i}");
            assert!(seen.contains(key.as_bytes()), "{key} was not returned");
        }
    }

    #[test]
    fn scan_slots_looks_at_no_more_than_max_slots() {
        let mut d = Dict::new();
        for i in 0..100 {
            d.insert(format!("k{i}").as_bytes(), val(), NO_EXPIRY);
        }
        for i in 0..99 {
            d.remove(format!("k{i}").as_bytes());
        }
        let mut visited = 0;
        let next = d.scan_slots(0, 30, |_| {
            visited += 1;
            true
        });
        assert_eq!((next, visited), (30, 0), "only holes in the first 30 slots");
        let next = d.scan_slots(next, 1000, |_| {
            visited += 1;
            true
        });
        assert_eq!((next, visited), (0, 1), "the last key, then the end");
        assert_eq!(d.scan_slots(5000, 10, |_| true), 0, "a cursor past the end");
    }

    #[test]
    fn a_full_scan_returns_each_key_once() {
        let mut d = Dict::new();
        for i in 0..500 {
            d.insert(format!("k{i}").as_bytes(), val(), NO_EXPIRY);
        }
        let keys = scan_all(&d, 7);
        let unique: HashSet<_> = keys.iter().collect();
        assert_eq!((keys.len(), unique.len()), (500, 500));
    }

    #[test]
    fn ttl_bits_follow_insert_replace_set_expire_and_remove() {
        let mut d = Dict::new();
        d.insert(b"a", val(), 100);
        d.insert(b"b", val(), NO_EXPIRY);
        d.insert(b"c", val(), 200);
        assert_eq!(d.expiring_len(), 2);
        d.insert(b"a", val(), NO_EXPIRY);
        assert_eq!(d.expiring_len(), 1);
        let b = d.find(b"b").expect("b");
        d.set_expire(b, 300);
        d.set_expire(b, 400);
        assert_eq!(d.expiring_len(), 2);
        d.remove(b"c");
        assert_eq!(d.expiring_len(), 1);
        assert_eq!(d.next_expiring(0), Some(b));
        let b_entry = d.remove_at(b).expect("b by slot");
        assert_eq!(
            (b_entry.key.as_slice(), b_entry.expire_at),
            (&b"b"[..], 400)
        );
        assert_eq!((d.expiring_len(), d.next_expiring(0)), (0, None));
        assert!(d.get(b"b").is_none());
        d.insert(b"d", val(), 500);
        assert_eq!(d.get(b"d").map(|e| e.expire_at), Some(500));
        assert_eq!(d.expiring_len(), 1);
    }

    #[test]
    fn next_expiring_skips_words_without_a_ttl() {
        let mut d = Dict::new();
        for i in 0..1000 {
            let ttl = if i == 3 || i == 700 { 1 } else { NO_EXPIRY };
            d.insert(format!("k{i}").as_bytes(), val(), ttl);
        }
        assert_eq!(d.next_expiring(0), Some(3));
        assert_eq!(d.next_expiring(3), Some(3));
        assert_eq!(d.next_expiring(4), Some(700));
        assert_eq!(d.next_expiring(701), None);
        assert_eq!(d.next_expiring(1_000_000), None);
    }

    #[test]
    fn random_expiring_only_picks_keys_with_a_ttl() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut d = Dict::new();
        assert_eq!(d.random_expiring(&mut rng), None);
        for i in 0..300 {
            let ttl = if i % 100 == 0 { 5 } else { NO_EXPIRY };
            d.insert(format!("k{i}").as_bytes(), val(), ttl);
        }
        let mut picked = HashSet::new();
        for _ in 0..200 {
            let idx = d.random_expiring(&mut rng).expect("some key has a ttl");
            assert_eq!(d.at(idx).map(|e| e.expire_at), Some(5));
            picked.insert(idx);
        }
        assert_eq!(picked.len(), 3);
    }

    #[test]
    fn a_large_dict_gives_its_memory_back_when_its_last_key_goes() {
        let mut d = Dict::new();
        for i in 0..(KEEP_WHEN_EMPTY + 1) {
            d.insert(format!("k{i}").as_bytes(), val(), 5);
        }
        for i in 0..KEEP_WHEN_EMPTY {
            d.remove(format!("k{i}").as_bytes());
        }
        assert_eq!(d.capacity(), KEEP_WHEN_EMPTY + 1, "not empty yet");
        let last = d
            .find(format!("k{KEEP_WHEN_EMPTY}").as_bytes())
            .expect("last");
        d.remove_at(last);
        assert_eq!((d.capacity(), d.expiring_len()), (0, 0));
        d.insert(b"again", val(), NO_EXPIRY);
        assert_eq!(d.find(b"again"), Some(0));
    }

    #[test]
    fn a_small_dict_keeps_its_slots_when_emptied() {
        let mut d = Dict::new();
        d.insert(b"a", val(), NO_EXPIRY);
        d.remove(b"a");
        assert_eq!(d.capacity(), 1);
    }

    #[test]
    fn stamps_follow_their_slot_and_start_at_zero_for_a_new_key() {
        let mut d = Dict::new();
        let (a, _) = d.insert_slot(b"a", val(), NO_EXPIRY);
        d.set_stamp(a, 0xABCDEF);
        assert_eq!(d.stamp(a), 0xABCDEF);
        d.set_stamp(a, 0x1_123456);
        assert_eq!(d.stamp(a), 0x123456, "24 bits are kept");
        d.insert(b"a", val(), NO_EXPIRY);
        assert_eq!(d.stamp(a), 0x123456, "a replaced key keeps its stamp");
        d.remove(b"a");
        let (b, _) = d.insert_slot(b"b", val(), NO_EXPIRY);
        assert_eq!((b, d.stamp(b)), (a, 0), "a reused slot starts afresh");
        assert_eq!(d.stamp(99), 0);
    }

    #[test]
    fn clear_forgets_ttls() {
        let mut d = Dict::new();
        d.insert(b"a", val(), 5);
        d.clear();
        assert_eq!(
            (d.len(), d.expiring_len(), d.next_expiring(0)),
            (0, 0, None)
        );
    }
}
