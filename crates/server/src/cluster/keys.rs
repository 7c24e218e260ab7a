//! The per-slot key index of a cluster node (CLUSTER COUNTKEYSINSLOT, GETKEYSINSLOT, and
//! later the keys MIGRATE moves): for each slot, its keys, newest first, as Redis 7.0
//! keeps them in a list per slot.
//!
//! It is fed by the modification hook alone (`Modifications::slot_keys`, database 0 only,
//! since a cluster node has no other): every write reports whether its key exists
//! afterwards, and the index follows. It exists only in cluster mode, so that a
//! standalone server pays nothing for it. Adding, removing and counting cost O(1).

use std::hash::BuildHasher;

use hashbrown::hash_table::{Entry, HashTable};
use hashbrown::DefaultHashBuilder;

use super::slots::{key_slot, SLOT_COUNT};
use crate::keyspace::Key;

/// "No entry" in the links.
const NIL: u32 = u32::MAX;

/// One indexed key: a node of its slot's doubly linked list.
struct Link {
    key: Key,
    slot: u16,
    prev: u32,
    next: u32,
}

/// The keys of database 0 by slot.
pub struct SlotKeys {
    /// The list nodes; freed ones are reused (`free`).
    links: Vec<Link>,
    free: Vec<u32>,
    /// Key → its index in `links`.
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Per slot: the newest key's link, and how many keys.
    heads: Box<[u32]>,
    counts: Box<[u32]>,
}

impl Default for SlotKeys {
    fn default() -> SlotKeys {
        SlotKeys {
            links: Vec::new(),
            free: Vec::new(),
            table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            heads: vec![NIL; SLOT_COUNT].into_boxed_slice(),
            counts: vec![0; SLOT_COUNT].into_boxed_slice(),
        }
    }
}

impl std::fmt::Debug for SlotKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotKeys")
            .field("keys", &self.len())
            .finish()
    }
}

impl SlotKeys {
    /// Follows a write: `key` exists afterwards or not.
    #[inline]
    pub fn note(&mut self, key: &[u8], exists: bool) {
        if exists {
            self.add(key);
        } else {
            self.remove(key);
        }
    }

    /// Indexes `key` (at the head of its slot's list) unless it already is.
    pub fn add(&mut self, key: &[u8]) {
        let hash = self.hasher.hash_one(key);
        let links = &self.links;
        let entry = self.table.entry(
            hash,
            |&i| links[i as usize].key.as_slice() == key,
            |&i| self.hasher.hash_one(links[i as usize].key.as_slice()),
        );
        let Entry::Vacant(vacant) = entry else {
            return;
        };
        let slot = key_slot(key);
        let head = self.heads[usize::from(slot)];
        let link = Link {
            key: Key::from_slice(key),
            slot,
            prev: NIL,
            next: head,
        };
        let at = match self.free.pop() {
            Some(at) => {
                self.links[at as usize] = link;
                at
            }
            None => {
                self.links.push(link);
                (self.links.len() - 1) as u32
            }
        };
        vacant.insert(at);
        if head != NIL {
            self.links[head as usize].prev = at;
        }
        self.heads[usize::from(slot)] = at;
        self.counts[usize::from(slot)] += 1;
    }

    /// Forgets `key`, if it is indexed.
    pub fn remove(&mut self, key: &[u8]) {
        let hash = self.hasher.hash_one(key);
        let links = &self.links;
        let Ok(found) = self
            .table
            .find_entry(hash, |&i| links[i as usize].key.as_slice() == key)
        else {
            return;
        };
        let (at, _) = found.remove();
        let (slot, prev, next) = {
            let link = &mut self.links[at as usize];
            link.key = Key::new();
            (link.slot, link.prev, link.next)
        };
        match prev {
            NIL => self.heads[usize::from(slot)] = next,
            p => self.links[p as usize].next = next,
        }
        if next != NIL {
            self.links[next as usize].prev = prev;
        }
        self.counts[usize::from(slot)] -= 1;
        self.free.push(at);
    }

    /// Forgets every key (a flush of database 0).
    pub fn clear(&mut self) {
        self.links.clear();
        self.free.clear();
        self.table.clear();
        self.heads.fill(NIL);
        self.counts.fill(0);
    }

    /// Keys indexed in all.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Keys in `slot` (CLUSTER COUNTKEYSINSLOT).
    pub fn count(&self, slot: u16) -> usize {
        self.counts
            .get(usize::from(slot))
            .map_or(0, |&n| n as usize)
    }

    /// The keys of `slot`, newest first (CLUSTER GETKEYSINSLOT).
    pub fn keys(&self, slot: u16) -> impl Iterator<Item = &[u8]> + '_ {
        let mut at = self.heads.get(usize::from(slot)).copied().unwrap_or(NIL);
        std::iter::from_fn(move || {
            if at == NIL {
                return None;
            }
            let link = &self.links[at as usize];
            at = link.next;
            Some(link.key.as_slice())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_of(index: &SlotKeys, slot: u16) -> Vec<String> {
        index
            .keys(slot)
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    #[test]
    fn keys_of_a_slot_come_newest_first_and_are_counted() {
        let mut index = SlotKeys::default();
        for key in ["{t}a", "{t}b", "{t}c", "other"] {
            index.add(key.as_bytes());
        }
        let slot = key_slot(b"{t}");
        assert_eq!(index.count(slot), 3);
        assert_eq!(keys_of(&index, slot), ["{t}c", "{t}b", "{t}a"]);
        assert_eq!(index.count(key_slot(b"other")), 1);
        assert_eq!(index.len(), 4);
    }

    #[test]
    fn adding_a_key_twice_keeps_one_entry_in_its_place() {
        let mut index = SlotKeys::default();
        index.add(b"{t}a");
        index.add(b"{t}b");
        index.add(b"{t}a");
        assert_eq!(keys_of(&index, key_slot(b"t")), ["{t}b", "{t}a"]);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn removing_keeps_the_order_of_the_others_and_reuses_room() {
        let mut index = SlotKeys::default();
        for key in ["{t}a", "{t}b", "{t}c", "{t}d"] {
            index.add(key.as_bytes());
        }
        index.remove(b"{t}c");
        index.remove(b"{t}a");
        index.remove(b"missing");
        let slot = key_slot(b"t");
        assert_eq!(keys_of(&index, slot), ["{t}d", "{t}b"]);
        index.remove(b"{t}d");
        assert_eq!(keys_of(&index, slot), ["{t}b"]);
        index.add(b"{t}e");
        assert_eq!(keys_of(&index, slot), ["{t}e", "{t}b"]);
        assert_eq!(index.count(slot), 2);
        assert!(index.links.len() <= 4, "freed links are reused");
    }

    #[test]
    fn note_follows_existence_and_clear_forgets_everything() {
        let mut index = SlotKeys::default();
        index.note(b"k", true);
        index.note(b"k", true);
        assert_eq!(index.count(key_slot(b"k")), 1);
        index.note(b"k", false);
        assert!(index.is_empty());
        index.note(b"k", true);
        index.clear();
        assert_eq!(index.count(key_slot(b"k")), 0);
        assert_eq!(index.keys(key_slot(b"k")).count(), 0);
    }

    #[test]
    fn out_of_range_slots_are_empty() {
        let index = SlotKeys::default();
        assert_eq!(index.count(16384), 0);
        assert_eq!(index.keys(u16::MAX).count(), 0);
    }
}
