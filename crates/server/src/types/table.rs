//! The hash table under large hashes and sets: items in a vector (insertion order, removal
//! by swapping the last one in), found through a hash table of their positions, so that
//! random picks (HRANDFIELD, SRANDMEMBER, SPOP) and HSCAN/SSCAN go by position in O(1).
//!
//! An item is one thin allocation (`ThinBytes`) that holds its key: a set member, or a
//! hash field with its value. A slot costs 8 bytes of vector and about 5 bytes of index
//! (a u32 and a control byte): no cached hash, no separate allocation per string, where
//! `IndexMap<Sds, Sds>` paid a 56-byte bucket and 9 bytes of index.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::thin::ThinBytes;

/// What a table holds: an item that knows its key.
pub trait Keyed {
    fn key(&self) -> &[u8];
    /// Bytes of the item's own allocation.
    fn allocated(&self) -> usize;
}

/// A set member is its own key.
impl Keyed for ThinBytes {
    fn key(&self) -> &[u8] {
        self.as_slice()
    }
    fn allocated(&self) -> usize {
        ThinBytes::allocated(self)
    }
}

#[derive(Clone)]
pub struct ThinTable<T> {
    hasher: hashbrown::DefaultHashBuilder,
    index: HashTable<u32>,
    items: Vec<T>,
}

impl<T> Default for ThinTable<T> {
    fn default() -> Self {
        ThinTable {
            hasher: Default::default(),
            index: HashTable::new(),
            items: Vec::new(),
        }
    }
}

impl<T: Keyed + PartialEq> PartialEq for ThinTable<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.items.iter().all(|x| other.get(x.key()) == Some(x))
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for ThinTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.items.iter()).finish()
    }
}

impl<T: Keyed> ThinTable<T> {
    pub fn with_capacity(n: usize) -> Self {
        ThinTable {
            hasher: Default::default(),
            index: HashTable::with_capacity(n),
            items: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Slots of the index.
    pub fn capacity(&self) -> usize {
        self.index.capacity()
    }

    /// The position of the item with `key`.
    pub fn position(&self, key: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        let items = &self.items;
        self.index
            .find(hash, |&i| items[i as usize].key() == key)
            .map(|&i| i as usize)
    }

    pub fn get(&self, key: &[u8]) -> Option<&T> {
        self.position(key).map(|i| &self.items[i])
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.position(key).is_some()
    }

    /// Puts `item` in place of the item with the same key, or adds it; true when added.
    pub fn upsert(&mut self, item: T) -> bool {
        if let Some(i) = self.position(item.key()) {
            self.items[i] = item;
            return false;
        }
        let hash = self.hasher.hash_one(item.key());
        let (hasher, items) = (&self.hasher, &self.items);
        self.index.insert_unique(hash, items.len() as u32, |&i| {
            hasher.hash_one(items[i as usize].key())
        });
        self.items.push(item);
        true
    }

    /// Removes the item at position `i`, moving the last one into its place.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<T> {
        let hash = self.hasher.hash_one(self.items.get(i)?.key());
        if let Ok(entry) = self.index.find_entry(hash, |&p| p as usize == i) {
            entry.remove();
        }
        let last = self.items.len() - 1;
        let item = self.items.swap_remove(i);
        if i < last {
            let moved = self.hasher.hash_one(self.items[i].key());
            if let Some(slot) = self.index.find_mut(moved, |&p| p as usize == last) {
                *slot = i as u32;
            }
        }
        Some(item)
    }

    /// Removes the item with `key`; true when it was there.
    pub fn swap_remove(&mut self, key: &[u8]) -> bool {
        match self.position(key) {
            Some(i) => self.swap_remove_index(i).is_some(),
            None => false,
        }
    }

    pub fn get_index(&self, i: usize) -> Option<&T> {
        self.items.get(i)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// Keeps the items `keep` says yes to, in their order.
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.items.retain(keep);
        self.index.clear();
        let (hasher, items) = (&self.hasher, &self.items);
        for (i, item) in items.iter().enumerate() {
            self.index
                .insert_unique(hasher.hash_one(item.key()), i as u32, |&p| {
                    hasher.hash_one(items[p as usize].key())
                });
        }
    }

    /// Gives back most of a table that removals left mostly empty (more than 64 slots,
    /// fewer than one in eight used): a hash or set that shrank should not keep its peak.
    pub fn shrink_if_sparse(&mut self) {
        let (len, cap) = (self.items.len(), self.index.capacity());
        if cap > 64 && len < cap / 8 {
            self.items.shrink_to(len * 2);
            let (hasher, items) = (&self.hasher, &self.items);
            self.index
                .shrink_to(len * 2, |&i| hasher.hash_one(items[i as usize].key()));
        }
    }

    /// Bytes of the vector, the index and (estimated from a sample) the items.
    pub fn memory_usage(&self) -> usize {
        let sample: usize = self.items.iter().take(5).map(T::allocated).sum();
        let per_item = sample.checked_div(self.items.len().min(5)).unwrap_or(0);
        self.items.capacity() * (std::mem::size_of::<T>() + per_item)
            + self.index.capacity() * 8 / 7 * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    proptest! {
        #[test]
        fn a_table_behaves_as_a_set_and_its_positions_hold_every_member(
            ops in prop::collection::vec((0u8..4, 0u16..300), 0..400)
        ) {
            let mut t: ThinTable<ThinBytes> = ThinTable::default();
            let mut model: HashSet<Vec<u8>> = HashSet::new();
            for (op, m) in ops {
                let member = format!("member:{m}").into_bytes();
                match op {
                    0 | 1 => prop_assert_eq!(
                        t.upsert(ThinBytes::from_parts(&[&member])),
                        model.insert(member.clone())
                    ),
                    2 => {
                        prop_assert_eq!(t.swap_remove(&member), model.remove(&member));
                        t.shrink_if_sparse();
                    }
                    _ => {
                        t.retain(|x| x.as_slice().len() % 2 == 0);
                        model.retain(|x| x.len() % 2 == 0);
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                for x in &model {
                    prop_assert!(t.contains(x));
                }
                let by_position: HashSet<Vec<u8>> = (0..t.len())
                    .filter_map(|i| t.get_index(i))
                    .map(|x| x.as_slice().to_vec())
                    .collect();
                prop_assert_eq!(&by_position, &model);
            }
        }
    }
}
