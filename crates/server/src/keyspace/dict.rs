//! The key dictionary of one database.
//!
//! Entries live in a slab, found through a hash table of slab indices. An entry never
//! moves while it exists: a freed slot is reused by a later insert. That gives SCAN its
//! guarantee for free (the cursor is a slab index; a key present for the whole scan is
//! returned) and RANDOMKEY an O(1) sample.
//!
//! The slab is cut in chunks of `CHUNK` slots, each its own allocation, so that it grows
//! a chunk at a time: a single `Vec` would double at a million keys and leave up to half
//! of itself unused (and, while it copies, both the old and the new one in RSS). A slot
//! is 48 bytes: the key's first 16 bytes and the value. A key of up to 16 bytes lives
//! there whole; a longer one is behind a thin pointer (one allocation with its length).
//!
//! Beside the slots, each chunk keeps `Meta`, 4 bytes a slot:
//! - a 24-bit access stamp (as Redis keeps 24 bits of `lru` in every object): an LRU
//!   clock or an LFU counter, which the eviction policies and OBJECT IDLETIME/FREQ read;
//! - the length of a key kept whole in its slot;
//!
//! and
//! the TTLs, in an array made the first time a key of the chunk gets one: most keyspaces
//! have no TTL, or a TTL on most keys, and neither pays for the other.
//!
//! Which slots hold a key with a TTL is also one bit per slot (`ttl_bits`), so the active
//! expiry cycle walks only those keys, in slab order, as Redis 7 walks its `expires` dict
//! with a cursor.
//!
//! Nothing here knows the time: whether an entry has expired is the `Db`'s business.

use hashbrown::hash_table::{Entry as TableEntry, HashTable};
use hashbrown::DefaultHashBuilder;
use std::hash::BuildHasher;

use super::value::{Key, Value};
use crate::types::thin::ThinBytes;

/// Slots kept when the last key goes: a dict that empties with more than this gives its
/// memory back (the slab never shrinks otherwise: entries cannot move under a SCAN).
/// Smaller ones keep theirs, so a key deleted and set again does not reallocate.
const KEEP_WHEN_EMPTY: usize = 1024;

/// The longest key kept in its slot.
const INLINE_KEY: usize = 16;

/// Slots per chunk of the slab (a power of two): 4096 slots of 48 bytes, 192 KiB.
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Milliseconds since the Unix epoch; `NO_EXPIRY` for a key without a TTL.
pub type Millis = i64;
pub const NO_EXPIRY: Millis = -1;

/// A key and its value, out of the dict (what `remove` and `insert` give back).
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
        expired(self.expire_at, now)
    }
}

/// A key and its value in the dict, to read.
#[derive(Clone, Copy, Debug)]
pub struct EntryRef<'a> {
    pub key: &'a [u8],
    pub value: &'a Value,
    pub expire_at: Millis,
}

impl EntryRef<'_> {
    /// `Entry::is_expired`.
    #[inline]
    pub fn is_expired(&self, now: Millis) -> bool {
        expired(self.expire_at, now)
    }
}

#[inline]
fn expired(expire_at: Millis, now: Millis) -> bool {
    expire_at != NO_EXPIRY && expire_at < now
}

#[derive(Debug)]
enum Stored {
    /// A key of up to `INLINE_KEY` bytes (its length is in the slot's `Meta`).
    Short { key: [u8; INLINE_KEY], value: Value },
    /// A longer key. (The enum's tag lives in a value the `Value` never takes.)
    Long { key: ThinBytes, value: Value },
}

impl Stored {
    #[inline]
    fn value(&self) -> &Value {
        match self {
            Stored::Short { value, .. } | Stored::Long { value, .. } => value,
        }
    }

    #[inline]
    fn value_mut(&mut self) -> &mut Value {
        match self {
            Stored::Short { value, .. } | Stored::Long { value, .. } => value,
        }
    }
}

/// What a chunk keeps beside each slot.
#[derive(Clone, Copy, Debug, Default)]
struct Meta {
    /// The access stamp, little-endian (see the module's comment).
    stamp: [u8; 3],
    /// The length of a `Stored::Short` key.
    key_len: u8,
}

#[derive(Debug)]
enum Slot {
    Used(Stored),
    /// A free slot and the next free one (`u32::MAX`: none).
    Free(u32),
}

/// `CHUNK` slots of the slab (the last chunk may hold fewer) and what goes beside them.
#[derive(Debug, Default)]
struct Chunk {
    slots: Vec<Slot>,
    meta: Vec<Meta>,
    /// Slot `i`'s TTL, `NO_EXPIRY` for none; empty until a key of the chunk has one, then
    /// as long as needed to reach the highest such slot.
    expires: Vec<Millis>,
}

impl Chunk {
    fn expire_at(&self, off: usize) -> Millis {
        self.expires.get(off).copied().unwrap_or(NO_EXPIRY)
    }

    fn set_expire_at(&mut self, off: usize, at: Millis) {
        if at == NO_EXPIRY && self.expires.len() <= off {
            return;
        }
        if self.expires.len() <= off {
            if self.expires.capacity() <= off {
                // The array grows to the chunk's size at most, by doubling.
                let want = (off + 1).next_power_of_two().clamp(64, CHUNK);
                self.expires.reserve_exact(want - self.expires.len());
            }
            self.expires.resize(off + 1, NO_EXPIRY);
        }
        self.expires[off] = at;
    }
}

#[inline]
fn split(idx: u32) -> (usize, usize) {
    ((idx >> CHUNK_BITS) as usize, idx as usize & (CHUNK - 1))
}

#[derive(Debug, Default)]
pub struct Dict {
    hasher: DefaultHashBuilder,
    table: HashTable<u32>,
    /// Every chunk but the last holds `CHUNK` slots.
    chunks: Vec<Chunk>,
    /// Slots in the slab, used or free.
    slots_len: usize,
    free_head: Option<u32>,
    /// Bit `i` is set when slot `i` holds an entry with a TTL.
    ttl_bits: Vec<u64>,
    /// Number of bits set in `ttl_bits`.
    expiring: usize,
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

    #[inline]
    fn slot(&self, idx: u32) -> Option<&Slot> {
        let (c, off) = split(idx);
        self.chunks.get(c)?.slots.get(off)
    }

    #[inline]
    fn stored(&self, idx: u32) -> Option<&Stored> {
        match self.slot(idx) {
            Some(Slot::Used(s)) => Some(s),
            _ => None,
        }
    }

    /// The key in slot `off` of `chunk`, if it is used.
    #[inline]
    fn key_of(chunk: &Chunk, off: usize) -> Option<&[u8]> {
        match chunk.slots.get(off)? {
            Slot::Used(Stored::Short { key, .. }) => {
                key.get(..chunk.meta.get(off)?.key_len as usize)
            }
            Slot::Used(Stored::Long { key, .. }) => Some(key.as_slice()),
            Slot::Free(_) => None,
        }
    }

    #[inline]
    fn key_at(chunks: &[Chunk], idx: u32) -> Option<&[u8]> {
        let (c, off) = split(idx);
        Self::key_of(chunks.get(c)?, off)
    }

    /// The slab index of `key`.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        let hash = self.hash(key);
        let chunks = &self.chunks;
        self.table
            .find(hash, |&i| Self::key_at(chunks, i) == Some(key))
            .copied()
    }

    pub fn get(&self, key: &[u8]) -> Option<EntryRef<'_>> {
        self.find(key).and_then(|i| self.at(i))
    }

    /// The entry in slot `idx`, if the slot is in use.
    #[inline]
    pub fn at(&self, idx: u32) -> Option<EntryRef<'_>> {
        let (c, off) = split(idx);
        let chunk = self.chunks.get(c)?;
        match chunk.slots.get(off)? {
            Slot::Used(s) => Some(EntryRef {
                key: Self::key_of(chunk, off)?,
                value: s.value(),
                expire_at: chunk.expire_at(off),
            }),
            Slot::Free(_) => None,
        }
    }

    /// The value in slot `idx`, to change in place, if the slot is in use.
    #[inline]
    pub fn value_mut(&mut self, idx: u32) -> Option<&mut Value> {
        let (c, off) = split(idx);
        match self.chunks.get_mut(c)?.slots.get_mut(off)? {
            Slot::Used(s) => Some(s.value_mut()),
            Slot::Free(_) => None,
        }
    }

    /// The TTL of the entry in slot `idx` (`NO_EXPIRY` for none or a free slot).
    #[inline]
    pub fn expire_at(&self, idx: u32) -> Millis {
        let (c, off) = split(idx);
        self.chunks.get(c).map_or(NO_EXPIRY, |ch| ch.expire_at(off))
    }

    /// The access stamp of slot `idx` (0 for a slot out of range).
    #[inline]
    pub fn stamp(&self, idx: u32) -> u32 {
        let (c, off) = split(idx);
        self.chunks
            .get(c)
            .and_then(|ch| ch.meta.get(off))
            .map_or(0, |m| {
                let [x, y, z] = m.stamp;
                u32::from_le_bytes([x, y, z, 0])
            })
    }

    /// Sets the access stamp of slot `idx` (its low 24 bits).
    #[inline]
    pub fn set_stamp(&mut self, idx: u32, stamp: u32) {
        let (c, off) = split(idx);
        if let Some(m) = self.chunks.get_mut(c).and_then(|ch| ch.meta.get_mut(off)) {
            let [x, y, z, _] = stamp.to_le_bytes();
            m.stamp = [x, y, z];
        }
    }

    /// The bytes this dict spends around its keys and values (MEMORY STATS
    /// `overhead.hashtable.main` and `.expires`, as Redis counts its dict entries, bucket
    /// pointers and object headers): the slab, the stamps and the hash table; the TTLs.
    pub fn overhead(&self) -> (usize, usize) {
        // A hash table holds 7/8 of its buckets; each costs a slot index and a control byte.
        let buckets = self.table.capacity() * 8 / 7;
        let (mut main, mut expires) = (0, self.ttl_bits.capacity() * 8);
        for ch in &self.chunks {
            main += ch.slots.capacity() * std::mem::size_of::<Slot>()
                + ch.meta.capacity() * std::mem::size_of::<Meta>();
            expires += ch.expires.capacity() * std::mem::size_of::<Millis>();
        }
        main += self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + buckets * (std::mem::size_of::<u32>() + 1);
        (main, expires)
    }

    /// Number of slab slots: SCAN cursors and random samples range over `0..capacity()`.
    pub fn capacity(&self) -> usize {
        self.slots_len
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
            chunks,
            ..
        } = self;
        let entry = table.entry(
            hash,
            |&i| Self::key_at(chunks, i) == Some(key),
            |&i| Self::key_at(chunks, i).map_or(0, |k| hasher.hash_one(k)),
        );
        match entry {
            TableEntry::Occupied(o) => {
                let idx = *o.get();
                let (c, off) = split(idx);
                let chunk = &mut chunks[c];
                let Slot::Used(s) = &mut chunk.slots[off] else {
                    unreachable!("hash table points at a free slot")
                };
                // The key is the same bytes: it stays.
                let old_value = std::mem::replace(s.value_mut(), value);
                let old_expire = chunk.expire_at(off);
                chunk.set_expire_at(off, expire_at);
                update_ttl_bit(
                    &mut self.ttl_bits,
                    &mut self.expiring,
                    idx,
                    old_expire,
                    expire_at,
                );
                let old = Entry {
                    key: Key::from_slice(key),
                    value: old_value,
                    expire_at: old_expire,
                };
                (idx, Some(old))
            }
            TableEntry::Vacant(v) => {
                let (new, key_len) = if key.len() <= INLINE_KEY {
                    let mut bytes = [0; INLINE_KEY];
                    bytes[..key.len()].copy_from_slice(key);
                    let short = Stored::Short { key: bytes, value };
                    (Slot::Used(short), key.len() as u8)
                } else {
                    let key = ThinBytes::from_parts(&[key]);
                    (Slot::Used(Stored::Long { key, value }), 0)
                };
                let meta = Meta {
                    stamp: [0; 3],
                    key_len,
                };
                let idx = match self.free_head {
                    Some(idx) => {
                        let (c, off) = split(idx);
                        let chunk = &mut chunks[c];
                        let Slot::Free(next) = chunk.slots[off] else {
                            unreachable!("free list points at a used slot")
                        };
                        self.free_head = (next != u32::MAX).then_some(next);
                        chunk.slots[off] = new;
                        chunk.meta[off] = meta;
                        idx
                    }
                    None => {
                        let idx = self.slots_len as u32;
                        push_slot(chunks, new, meta);
                        self.slots_len += 1;
                        idx
                    }
                };
                v.insert(idx);
                let (c, off) = split(idx);
                chunks[c].set_expire_at(off, expire_at);
                update_ttl_bit(
                    &mut self.ttl_bits,
                    &mut self.expiring,
                    idx,
                    NO_EXPIRY,
                    expire_at,
                );
                (idx, None)
            }
        }
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let hash = self.hash(key);
        let Dict { table, chunks, .. } = self;
        let found = table
            .find_entry(hash, |&i| Self::key_at(chunks, i) == Some(key))
            .ok()?;
        let (idx, _) = found.remove();
        Some(self.free_slot(idx))
    }

    /// Removes the entry in slot `idx`, if the slot is in use. Saves the caller a copy of
    /// the key (the active expiry cycle finds entries by slot).
    pub fn remove_at(&mut self, idx: u32) -> Option<Entry> {
        let hash = self.hash(self.at(idx)?.key);
        self.table.find_entry(hash, |&i| i == idx).ok()?.remove();
        Some(self.free_slot(idx))
    }

    /// Frees slot `idx`, which the table pointed at until now, and returns its entry: the
    /// slot heads the free list, its TTL is cleared.
    #[inline]
    fn free_slot(&mut self, idx: u32) -> Entry {
        let next = self.free_head.unwrap_or(u32::MAX);
        let (c, off) = split(idx);
        let chunk = &mut self.chunks[c];
        let Slot::Used(stored) = std::mem::replace(&mut chunk.slots[off], Slot::Free(next)) else {
            unreachable!("the hash table pointed at a free slot")
        };
        let (key, value) = match stored {
            Stored::Short { key, value } => (
                Key::from_slice(&key[..chunk.meta[off].key_len as usize]),
                value,
            ),
            Stored::Long { key, value } => (Key::from_slice(key.as_slice()), value),
        };
        let expire_at = chunk.expire_at(off);
        chunk.set_expire_at(off, NO_EXPIRY);
        self.free_head = Some(idx);
        update_ttl_bit(
            &mut self.ttl_bits,
            &mut self.expiring,
            idx,
            expire_at,
            NO_EXPIRY,
        );
        self.release_if_empty();
        Entry {
            key,
            value,
            expire_at,
        }
    }

    /// After the last key of a large dict is gone, frees the slab and the table, which
    /// would otherwise stay at their largest size (mass expiry, a DEL of everything).
    fn release_if_empty(&mut self) {
        if self.table.is_empty() && self.slots_len > KEEP_WHEN_EMPTY {
            self.clear();
        }
    }

    /// Sets or clears the TTL of the entry in slot `idx`.
    pub fn set_expire(&mut self, idx: u32, expire_at: Millis) {
        let (c, off) = split(idx);
        let Some(chunk) = self.chunks.get_mut(c) else {
            return;
        };
        if !matches!(chunk.slots.get(off), Some(Slot::Used(_))) {
            return;
        }
        let old = chunk.expire_at(off);
        chunk.set_expire_at(off, expire_at);
        update_ttl_bit(&mut self.ttl_bits, &mut self.expiring, idx, old, expire_at);
    }

    /// A random slab index among the entries that have a TTL: the first one at or after a
    /// random slot. (Not uniform when TTL keys cluster; the expiry cycle does not need it.)
    pub fn random_expiring(&self, rng: &mut impl rand::Rng) -> Option<u32> {
        if self.expiring == 0 {
            return None;
        }
        let start = rng.gen_range(0..self.slots_len);
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
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<EntryRef<'_>> {
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
            let i = rng.gen_range(0..self.slots_len) as u32;
            if self.stored(i).is_some() {
                return Some(i);
            }
        }
        let start = rng.gen_range(0..self.slots_len);
        (start..self.slots_len)
            .chain(0..start)
            .find(|&i| self.stored(i as u32).is_some())
            .map(|i| i as u32)
    }

    /// Visits used slots from `cursor` on until `visit` returns false or the slab ends.
    /// Returns the next cursor (0 once the whole slab was visited).
    pub fn scan(&self, cursor: usize, visit: impl FnMut(EntryRef<'_>) -> bool) -> usize {
        self.scan_slots(cursor, usize::MAX, visit)
    }

    /// Like `scan`, but looks at no more than `max_slots` slots, used or free, so that a
    /// call on a slab that is mostly holes stays short (Redis bounds SCAN the same way, at
    /// ten times COUNT buckets). Returns the next cursor, 0 once the slab is done.
    pub fn scan_slots(
        &self,
        cursor: usize,
        max_slots: usize,
        mut visit: impl FnMut(EntryRef<'_>) -> bool,
    ) -> usize {
        let end = cursor.saturating_add(max_slots).min(self.slots_len);
        let mut i = cursor;
        while i < end {
            let idx = i as u32;
            i += 1;
            if let Some(e) = self.at(idx) {
                if !visit(e) {
                    break;
                }
            }
        }
        if i >= self.slots_len {
            0
        } else {
            i
        }
    }

    /// Every entry, in slab order.
    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> {
        self.chunks.iter().flat_map(move |chunk| {
            chunk
                .slots
                .iter()
                .enumerate()
                .filter_map(move |(off, s)| match s {
                    Slot::Used(s) => Some(EntryRef {
                        key: Self::key_of(chunk, off)?,
                        value: s.value(),
                        expire_at: chunk.expire_at(off),
                    }),
                    Slot::Free(_) => None,
                })
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

/// Appends a slot to the slab: into the last chunk while it has room, else a new chunk.
/// The first chunk grows by doubling (most dicts are small); later ones are made whole.
fn push_slot(chunks: &mut Vec<Chunk>, slot: Slot, meta: Meta) {
    if chunks.last().is_none_or(|c| c.slots.len() == CHUNK) {
        let first = chunks.is_empty();
        let cap = if first { 4 } else { CHUNK };
        chunks.push(Chunk {
            slots: Vec::with_capacity(cap),
            meta: Vec::with_capacity(cap),
            expires: Vec::new(),
        });
    }
    let Some(chunk) = chunks.last_mut() else {
        unreachable!("a chunk was just made")
    };
    if chunk.slots.len() == chunk.slots.capacity() {
        let want = (chunk.slots.capacity() * 2).clamp(4, CHUNK);
        chunk.slots.reserve_exact(want - chunk.slots.len());
        chunk.meta.reserve_exact(want - chunk.meta.len());
    }
    chunk.slots.push(slot);
    chunk.meta.push(meta);
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
                seen.push(Key::from_slice(e.key));
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
                seen.insert(Key::from_slice(e.key));
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
    fn a_slot_is_48_bytes_and_its_meta_4() {
        assert_eq!(std::mem::size_of::<Slot>(), 48);
        assert_eq!(std::mem::size_of::<Meta>(), 4);
    }

    #[test]
    fn keys_of_every_length_come_back_from_inline_and_heap_forms() {
        let mut d = Dict::new();
        let keys: Vec<Vec<u8>> = (0..40)
            .map(|n| (0..n).map(|i| b'a' + i as u8).collect())
            .collect();
        for (i, k) in keys.iter().enumerate() {
            d.insert(k, Value::Int(i as i64), NO_EXPIRY);
        }
        for (i, k) in keys.iter().enumerate() {
            let e = d.get(k).expect("present");
            assert_eq!((e.key, e.value), (&k[..], &Value::Int(i as i64)));
        }
        let removed = d.remove(&keys[30]).expect("a long key");
        assert_eq!(removed.key.as_slice(), &keys[30][..]);
        let slot = d.find(&keys[20]).expect("a long key");
        let removed = d.remove_at(slot).expect("a long key by slot");
        assert_eq!(removed.key.as_slice(), &keys[20][..]);
        assert_eq!(d.len(), 38);
        // Their slots are taken again.
        d.insert(&[b'z'; 50], val(), NO_EXPIRY);
        d.insert(&[b'y'; 17], val(), NO_EXPIRY);
        assert_eq!(d.capacity(), 40);
        for (i, k) in keys
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 20 && *i != 30)
        {
            assert_eq!(d.get(k).map(|e| e.value), Some(&Value::Int(i as i64)));
        }
        assert_eq!(d.get(&[b'z'; 50]).map(|e| e.key.len()), Some(50));
        assert_eq!(d.iter().count(), 40);
        assert!(d.iter().any(|e| e.key == [b'y'; 17]));
    }

    #[test]
    fn the_slab_grows_by_chunks_and_slots_keep_their_index() {
        let mut d = Dict::new();
        let n = CHUNK * 2 + 10;
        for i in 0..n {
            let ttl = if i % 1000 == 0 {
                i as Millis
            } else {
                NO_EXPIRY
            };
            let (idx, _) = d.insert_slot(format!("k{i}").as_bytes(), val(), ttl);
            assert_eq!(idx as usize, i);
            d.set_stamp(idx, i as u32);
        }
        assert_eq!((d.capacity(), d.chunks.len()), (n, 3));
        assert!(d.chunks[..2].iter().all(|c| c.slots.capacity() == CHUNK));
        for i in 0..n {
            let e = d.at(i as u32).expect("used");
            assert_eq!(e.key, format!("k{i}").as_bytes());
            let ttl = if i % 1000 == 0 {
                i as Millis
            } else {
                NO_EXPIRY
            };
            assert_eq!(e.expire_at, ttl);
            assert_eq!(d.stamp(i as u32), i as u32 & 0xFF_FFFF);
        }
        assert_eq!(d.expiring_len(), n.div_ceil(1000));
        assert_eq!(d.iter().count(), n);
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
