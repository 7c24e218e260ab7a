//! The list value: a double-ended sequence of byte strings. Redis 7.0 always reports its
//! lists as `quicklist` (the listpack encoding for small lists came in 7.2), so there is
//! one representation and no conversion to mirror.
//!
//! Elements are `Sds`: up to 16 bytes inline, so the short elements most lists hold cost
//! no allocation of their own. Indexes follow Redis: negative ones count from the tail.

use std::collections::VecDeque;

use crate::keyspace::Sds;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListValue {
    items: VecDeque<Sds>,
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

impl End {
    /// The name of a command's keyspace event at this end (`lpush` or `rpush`, ...).
    pub fn event(self, head: &'static str, tail: &'static str) -> &'static str {
        match self {
            End::Head => head,
            End::Tail => tail,
        }
    }
}

impl ListValue {
    pub fn new() -> ListValue {
        ListValue::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(&mut self, end: End, element: &[u8]) {
        let element = Sds::from_slice(element);
        match end {
            End::Head => self.items.push_front(element),
            End::Tail => self.items.push_back(element),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Sds> {
        let popped = match end {
            End::Head => self.items.pop_front(),
            End::Tail => self.items.pop_back(),
        };
        self.release_slack();
        popped
    }

    /// The element at `end`, if any.
    pub fn peek(&self, end: End) -> Option<&[u8]> {
        match end {
            End::Head => self.items.front(),
            End::Tail => self.items.back(),
        }
        .map(|e| e.as_slice())
    }

    /// LINSERT: puts `element` next to the first element equal to `pivot` (counting from
    /// the head), after it or before it; false when no element equals `pivot`.
    pub fn insert(&mut self, pivot: &[u8], element: &[u8], after: bool) -> bool {
        let Some(at) = self.items.iter().position(|e| e.as_slice() == pivot) else {
            return false;
        };
        self.items
            .insert(at + usize::from(after), Sds::from_slice(element));
        true
    }

    /// LPOS's scan: the positions (counted from the head) of the elements equal to
    /// `element`, met walking from the `from` end and looking at no more than `limit`
    /// elements.
    pub fn positions_of<'a>(
        &'a self,
        element: &'a [u8],
        from: End,
        limit: usize,
    ) -> impl Iterator<Item = usize> + 'a {
        let len = self.items.len();
        (0..len)
            .take(limit)
            .map(move |i| match from {
                End::Head => i,
                End::Tail => len - 1 - i,
            })
            .filter(move |&p| self.items[p].as_slice() == element)
    }

    /// The position `index` names (negative: from the tail), if it is inside the list.
    fn position(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let index = if index < 0 { len + index } else { index };
        (0..len).contains(&index).then_some(index as usize)
    }

    /// LINDEX: the element at `index`.
    pub fn get(&self, index: i64) -> Option<&[u8]> {
        self.position(index).map(|i| self.items[i].as_slice())
    }

    /// LSET: replaces the element at `index`; false when it is out of range.
    pub fn set(&mut self, index: i64, element: &[u8]) -> bool {
        match self.position(index) {
            Some(i) => {
                self.items[i] = Sds::from_slice(element);
                true
            }
            None => false,
        }
    }

    /// The elements from position `start` to `end` inclusive (both in range).
    pub fn range(&self, start: usize, end: usize) -> impl ExactSizeIterator<Item = &[u8]> {
        self.items.range(start..=end).map(|e| e.as_slice())
    }

    /// LREM: removes up to `count` elements equal to `element` (all when 0), from the head
    /// when `count` is positive, from the tail when negative. Returns how many went.
    pub fn remove(&mut self, count: i64, element: &[u8]) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().min(usize::MAX as u64) as usize
        };
        let mut removed = 0;
        if count >= 0 {
            let mut i = 0;
            while i < self.items.len() && removed < limit {
                if self.items[i].as_slice() == element {
                    self.items.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        } else {
            let mut i = self.items.len();
            while i > 0 && removed < limit {
                i -= 1;
                if self.items[i].as_slice() == element {
                    self.items.remove(i);
                    removed += 1;
                }
            }
        }
        self.release_slack();
        removed
    }

    /// LTRIM's work: drops `head` elements from the head and `tail` from the tail.
    pub fn trim(&mut self, head: usize, tail: usize) {
        let head = head.min(self.items.len());
        self.items.drain(..head);
        let keep = self.items.len().saturating_sub(tail);
        self.items.truncate(keep);
        self.release_slack();
    }

    /// Estimated bytes this list takes (MEMORY USAGE).
    pub fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.items.capacity() * std::mem::size_of::<Sds>()
            + super::sampled_heap(self.items.len(), self.items.iter())
    }

    /// Gives back memory after a list has shrunk to a quarter of what it had reserved, so
    /// a list that was once long does not pin its peak size.
    fn release_slack(&mut self) {
        let cap = self.items.capacity();
        if cap > 64 && self.items.len() < cap / 4 {
            self.items.shrink_to(self.items.len() * 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> ListValue {
        let mut l = ListValue::new();
        for i in items {
            l.push(End::Tail, i.as_bytes());
        }
        l
    }

    fn items(l: &ListValue) -> Vec<String> {
        l.range(0, l.len().saturating_sub(1))
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[test]
    fn negative_indexes_count_from_the_tail() {
        let l = list(&["a", "b", "c"]);
        assert_eq!(l.get(-1), Some(&b"c"[..]));
        assert_eq!(l.get(-3), Some(&b"a"[..]));
        assert_eq!(l.get(-4), None);
        assert_eq!(l.get(3), None);
    }

    #[test]
    fn remove_with_a_negative_count_starts_at_the_tail() {
        let mut l = list(&["x", "a", "x", "b", "x"]);
        assert_eq!(l.remove(-2, b"x"), 2);
        assert_eq!(items(&l), ["x", "a", "b"]);
        assert_eq!(l.remove(0, b"x"), 1);
        assert_eq!(items(&l), ["a", "b"]);
    }

    #[test]
    fn insert_goes_next_to_the_first_pivot_from_the_head() {
        let mut l = list(&["a", "p", "b", "p"]);
        assert!(l.insert(b"p", b"x", false));
        assert_eq!(items(&l), ["a", "x", "p", "b", "p"]);
        assert!(l.insert(b"p", b"y", true));
        assert_eq!(items(&l), ["a", "x", "p", "y", "b", "p"]);
        assert!(!l.insert(b"missing", b"z", true));
        assert_eq!(l.len(), 6);
    }

    #[test]
    fn positions_of_walk_from_either_end_within_the_limit() {
        let l = list(&["a", "b", "a", "c", "a"]);
        let found = |from, limit| l.positions_of(b"a", from, limit).collect::<Vec<_>>();
        assert_eq!(found(End::Head, usize::MAX), [0, 2, 4]);
        assert_eq!(found(End::Tail, usize::MAX), [4, 2, 0]);
        assert_eq!(found(End::Head, 2), [0]);
        assert_eq!(found(End::Tail, 1), [4]);
        assert_eq!(found(End::Tail, 0), Vec::<usize>::new());
    }

    #[test]
    fn peek_sees_either_end_without_taking() {
        let l = list(&["a", "b"]);
        assert_eq!(l.peek(End::Head), Some(&b"a"[..]));
        assert_eq!(l.peek(End::Tail), Some(&b"b"[..]));
        assert_eq!(ListValue::new().peek(End::Head), None);
    }

    #[test]
    fn trim_drops_from_both_ends() {
        let mut l = list(&["a", "b", "c", "d"]);
        l.trim(1, 2);
        assert_eq!(items(&l), ["b"]);
        l.trim(5, 5);
        assert!(l.is_empty());
    }
}
