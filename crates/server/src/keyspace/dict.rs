//! The key dictionary of one database.
//!
//! Entries live in a slab (`Vec`), found through a hash table of slab indices. An entry
//! never moves while it exists: a freed slot is reused by a later insert. That gives SCAN
//! its guarantee for free (the cursor is a slab index; a key present for the whole scan is
//! returned), RANDOMKEY an O(1) sample, and the active expiry cycle a set of slab indices
//! (`expiring`) to sample from.

use hashbrown::hash_table::{Entry as TableEntry, HashTable};
use hashbrown::DefaultHashBuilder;
use indexmap::IndexSet;
use std::hash::BuildHasher;

use super::value::{Key, Value};

/// Milliseconds since the Unix epoch; `NO_EXPIRY` for a key without a TTL.
pub type Millis = i64;
pub const NO_EXPIRY: Millis = -1;

#[derive(Debug)]
pub struct Entry {
    pub key: Key,
    pub value: Value,
    pub expire_at: Millis,
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
    /// Slab indices of entries with a TTL.
    expiring: IndexSet<u32>,
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
        self.expiring.len()
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

    /// Number of slab slots: SCAN cursors and random samples range over `0..capacity()`.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Inserts or replaces `key`, keeping its slot. Returns the previous entry, if any.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at: Millis) -> Option<Entry> {
        let hash = self.hash(key);
        let Dict {
            hasher,
            table,
            slots,
            free_head,
            expiring,
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
                update_expiring(expiring, idx, old_expire, expire_at);
                Some(old)
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
                        idx
                    }
                    None => {
                        slots.push(Slot::Used(new));
                        (slots.len() - 1) as u32
                    }
                };
                v.insert(idx);
                update_expiring(expiring, idx, NO_EXPIRY, expire_at);
                None
            }
        }
    }

    /// Removes `key`, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let hash = self.hash(key);
        let Dict {
            table,
            slots,
            free_head,
            expiring,
            ..
        } = self;
        let found = table
            .find_entry(
                hash,
                |&i| matches!(&slots[i as usize], Slot::Used(e) if e.key.as_slice() == key),
            )
            .ok()?;
        let (idx, _) = found.remove();
        let next = free_head.unwrap_or(u32::MAX);
        let Slot::Used(entry) = std::mem::replace(&mut slots[idx as usize], Slot::Free(next))
        else {
            unreachable!("hash table points at a free slot")
        };
        *free_head = Some(idx);
        if entry.expire_at != NO_EXPIRY {
            expiring.swap_remove(&idx);
        }
        Some(entry)
    }

    /// Sets or clears the TTL of the entry in slot `idx`.
    pub fn set_expire(&mut self, idx: u32, expire_at: Millis) {
        let Dict {
            slots, expiring, ..
        } = self;
        if let Some(Slot::Used(e)) = slots.get_mut(idx as usize) {
            let old = e.expire_at;
            e.expire_at = expire_at;
            update_expiring(expiring, idx, old, expire_at);
        }
    }

    /// A random slab index among the entries that have a TTL.
    pub fn random_expiring(&self, rng: &mut impl rand::Rng) -> Option<u32> {
        if self.expiring.is_empty() {
            return None;
        }
        let i = rng.gen_range(0..self.expiring.len());
        self.expiring.get_index(i).copied()
    }

    /// A random entry, or `None` when the dict is empty.
    pub fn random(&self, rng: &mut impl rand::Rng) -> Option<&Entry> {
        if self.is_empty() {
            return None;
        }
        // The slab is at least as dense as the free list lets it be: retry on holes, and
        // fall back to a walk when the slab is mostly holes.
        for _ in 0..64 {
            if let Some(e) = self.at(rng.gen_range(0..self.slots.len()) as u32) {
                return Some(e);
            }
        }
        let start = rng.gen_range(0..self.slots.len());
        (start..self.slots.len())
            .chain(0..start)
            .find_map(|i| self.at(i as u32))
    }

    /// Visits used slots from `cursor` on until `visit` returns false or the slab ends.
    /// Returns the next cursor (0 once the whole slab was visited).
    pub fn scan(&self, cursor: usize, mut visit: impl FnMut(&Entry) -> bool) -> usize {
        let mut i = cursor;
        while i < self.slots.len() {
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

fn update_expiring(expiring: &mut IndexSet<u32>, idx: u32, old: Millis, new: Millis) {
    match (old != NO_EXPIRY, new != NO_EXPIRY) {
        (false, true) => {
            expiring.insert(idx);
        }
        (true, false) => {
            expiring.swap_remove(&idx);
        }
        _ => {}
    }
}
