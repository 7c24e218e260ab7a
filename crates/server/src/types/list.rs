//! The list value: a double-ended sequence of byte strings. Redis 7.0 always reports its
//! lists as `quicklist` (the listpack encoding for small lists came in 7.2), so there is
//! one representation and no conversion to mirror.
//!
//! As a quicklist, the elements live in nodes of packed entries, each node one buffer of
//! at most `NODE_BYTES` (Redis's default `list-max-listpack-size -2`, 8 KB): an entry is
//! the string's encoding (`entry`: integers and padded digits as numbers) followed by its
//! length written backwards, so a node can be walked from either end. Pushes and pops at
//! either end touch one node; an index walks the nodes by their counts, then one node.
//! Indexes follow Redis: negative ones count from the tail.

use std::collections::VecDeque;

use super::entry::{self, Element, Encoded};
use crate::keyspace::Sds;

/// Bytes a node holds at most (unless one entry alone is longer).
const NODE_BYTES: usize = 8192;

/// Bytes of a length written to be read backwards.
fn backlen_size(mut n: usize) -> usize {
    let mut size = 1;
    while n >= 0x80 {
        n >>= 7;
        size += 1;
    }
    size
}

/// `n` in 7-bit groups, least significant last, each but the first flagged: read from its
/// end, a byte with the high bit set has more before it.
fn backlen(n: usize) -> ([u8; 10], usize) {
    let size = backlen_size(n);
    let mut out = [0u8; 10];
    for (j, byte) in out[..size].iter_mut().rev().enumerate() {
        let flag = if j + 1 < size { 0x80 } else { 0 };
        *byte = ((n >> (7 * j)) & 0x7f) as u8 | flag;
    }
    (out, size)
}

/// The length written backwards just before `end`, and how many bytes it took.
fn read_backlen(buf: &[u8], end: usize) -> (usize, usize) {
    let (mut value, mut shift, mut p) = (0usize, 0, end);
    loop {
        p -= 1;
        let b = buf[p];
        value |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return (value, end - p);
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Node {
    buf: Vec<u8>,
    count: u32,
}

impl Node {
    /// Where the entry after the one at `at` starts.
    fn next(&self, at: usize) -> usize {
        let end = entry::skip(&self.buf, at);
        end + backlen_size(end - at)
    }

    /// Where the entry before offset `at` (an entry's start or the end) starts.
    fn prev(&self, at: usize) -> usize {
        let (len, size) = read_backlen(&self.buf, at);
        at - size - len
    }

    fn element(&self, at: usize) -> Element<'_> {
        entry::decode(&self.buf, at).0
    }

    /// The encoded bytes of the entry at `at`, without its back length.
    fn entry(&self, at: usize) -> &[u8] {
        &self.buf[at..entry::skip(&self.buf, at)]
    }

    /// The offset of the `i`th entry, walking from the nearer end.
    fn offset_of(&self, i: usize) -> usize {
        let count = self.count as usize;
        if i <= count / 2 {
            (0..i).fold(0, |at, _| self.next(at))
        } else {
            (i..count).fold(self.buf.len(), |at, _| self.prev(at))
        }
    }

    /// Inserts `enc` at byte `at`, growing the buffer no further than a node may be.
    fn insert(&mut self, at: usize, enc: &Encoded) {
        let (back, size) = backlen(enc.len());
        let [head, body] = enc.parts();
        let need = self.buf.len() + enc.len() + size;
        if need > self.buf.capacity() {
            let mut want = (self.buf.capacity() * 2).max(need).max(16);
            if need <= NODE_BYTES {
                want = want.min(NODE_BYTES);
            }
            self.buf.reserve_exact(want - self.buf.len());
        }
        entry::insert_parts(&mut self.buf, at, &[head, body, &back[..size]]);
        self.count += 1;
    }

    /// Removes the entries in `start..end` (offsets), `n` of them.
    fn remove(&mut self, start: usize, end: usize, n: usize) {
        self.buf.drain(start..end);
        self.count -= n as u32;
        self.release_slack();
    }

    fn release_slack(&mut self) {
        if self.buf.capacity() > self.buf.len() * 2 + 64 {
            self.buf.shrink_to(self.buf.len() + self.buf.len() / 4);
        }
    }

    fn fits(&self, more: usize) -> bool {
        self.buf.len() + more <= NODE_BYTES
    }
}

#[derive(Clone, Debug, Default)]
pub struct ListValue {
    nodes: VecDeque<Node>,
    len: usize,
}

impl PartialEq for ListValue {
    fn eq(&self, other: &ListValue) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
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

/// A place in a list: a node and the offset of an entry in it.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    node: usize,
    at: usize,
}

impl ListValue {
    pub fn new() -> ListValue {
        ListValue::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, end: End, element: &[u8]) {
        let enc = Encoded::new(element);
        let size = enc.len() + backlen_size(enc.len());
        let node = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        };
        let node = match node {
            Some(n) if n.fits(size) => n,
            _ => {
                match end {
                    End::Head => self.nodes.push_front(Node::default()),
                    End::Tail => self.nodes.push_back(Node::default()),
                }
                let last = self.nodes.len() - 1;
                match end {
                    End::Head => &mut self.nodes[0],
                    End::Tail => &mut self.nodes[last],
                }
            }
        };
        let at = match end {
            End::Head => 0,
            End::Tail => node.buf.len(),
        };
        node.insert(at, &enc);
        self.len += 1;
    }

    pub fn pop(&mut self, end: End) -> Option<Sds> {
        let ni = match end {
            End::Head => 0,
            End::Tail => self.nodes.len().checked_sub(1)?,
        };
        let node = self.nodes.get_mut(ni)?;
        let popped = match end {
            End::Head => {
                let next = node.next(0);
                let element = Sds::from_slice(&node.element(0));
                node.remove(0, next, 1);
                element
            }
            End::Tail => {
                let start = node.prev(node.buf.len());
                let element = Sds::from_slice(&node.element(start));
                node.remove(start, node.buf.len(), 1);
                element
            }
        };
        if node.count == 0 {
            self.nodes.remove(ni);
            self.release_slack();
        }
        self.len -= 1;
        Some(popped)
    }

    /// The element at `end`, if any.
    pub fn peek(&self, end: End) -> Option<Element<'_>> {
        match end {
            End::Head => self.nodes.front().map(|n| n.element(0)),
            End::Tail => self.nodes.back().map(|n| n.element(n.prev(n.buf.len()))),
        }
    }

    /// The cursor of the element at position `pos` (in range).
    fn locate(&self, pos: usize) -> Cursor {
        let mut i = pos;
        if pos < self.len / 2 {
            for (node, n) in self.nodes.iter().enumerate() {
                if i < n.count as usize {
                    return Cursor {
                        node,
                        at: n.offset_of(i),
                    };
                }
                i -= n.count as usize;
            }
        } else {
            let mut from_tail = self.len - pos;
            for (node, n) in self.nodes.iter().enumerate().rev() {
                if from_tail <= n.count as usize {
                    return Cursor {
                        node,
                        at: n.offset_of(n.count as usize - from_tail),
                    };
                }
                from_tail -= n.count as usize;
            }
        }
        Cursor { node: 0, at: 0 }
    }

    /// Entries from position `pos` on, toward the tail (or toward the head, `rev`).
    fn walk(&self, pos: usize, rev: bool) -> Walk<'_> {
        let remaining = match rev {
            _ if pos >= self.len => 0,
            false => self.len - pos,
            true => pos + 1,
        };
        let mut cursor = if remaining > 0 {
            self.locate(pos)
        } else {
            Cursor { node: 0, at: 0 }
        };
        if rev && remaining > 0 {
            // A backward walk holds the end of the entry it gives next.
            cursor.at = self.nodes[cursor.node].next(cursor.at);
        }
        Walk {
            list: self,
            cursor,
            remaining,
            rev,
        }
    }

    /// Every element from the head.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Element<'_>> {
        self.walk(0, false).map(|(n, at)| n.element(at))
    }

    /// LINSERT: puts `element` next to the first element equal to `pivot` (counting from
    /// the head), after it or before it; false when no element equals `pivot`.
    pub fn insert(&mut self, pivot: &[u8], element: &[u8], after: bool) -> bool {
        let pivot = Encoded::new(pivot);
        let mut found = None;
        'nodes: for (ni, n) in self.nodes.iter().enumerate() {
            let mut at = 0;
            while at < n.buf.len() {
                if pivot.matches(n.entry(at)) {
                    found = Some((ni, if after { n.next(at) } else { at }));
                    break 'nodes;
                }
                at = n.next(at);
            }
        }
        let Some((ni, at)) = found else {
            return false;
        };
        self.nodes[ni].insert(at, &Encoded::new(element));
        self.len += 1;
        self.split_if_long(ni);
        true
    }

    /// Splits node `ni` in two halves when it has grown past a node's size.
    fn split_if_long(&mut self, ni: usize) {
        let node = &mut self.nodes[ni];
        if node.buf.len() <= NODE_BYTES || node.count < 2 {
            return;
        }
        let (mut at, mut k) = (0, 0);
        while at < node.buf.len() / 2 && k + 1 < node.count {
            at = node.next(at);
            k += 1;
        }
        let tail = Node {
            buf: node.buf.split_off(at),
            count: node.count - k,
        };
        node.count = k;
        node.buf.shrink_to_fit();
        self.nodes.insert(ni + 1, tail);
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
        let wanted = Encoded::new(element);
        let len = self.len;
        let walk = match from {
            End::Head => self.walk(0, false),
            End::Tail => self.walk(len.saturating_sub(1), true),
        };
        walk.take(limit)
            .enumerate()
            .filter(move |(_, (n, at))| wanted.matches(n.entry(*at)))
            .map(move |(i, _)| match from {
                End::Head => i,
                End::Tail => len - 1 - i,
            })
    }

    /// The position `index` names (negative: from the tail), if it is inside the list.
    fn position(&self, index: i64) -> Option<usize> {
        let len = self.len as i64;
        let index = if index < 0 { len + index } else { index };
        (0..len).contains(&index).then_some(index as usize)
    }

    /// LINDEX: the element at `index`.
    pub fn get(&self, index: i64) -> Option<Element<'_>> {
        let c = self.locate(self.position(index)?);
        Some(self.nodes[c.node].element(c.at))
    }

    /// LSET: replaces the element at `index`; false when it is out of range.
    pub fn set(&mut self, index: i64, element: &[u8]) -> bool {
        let Some(pos) = self.position(index) else {
            return false;
        };
        let c = self.locate(pos);
        let node = &mut self.nodes[c.node];
        let next = node.next(c.at);
        node.remove(c.at, next, 1);
        node.insert(c.at, &Encoded::new(element));
        self.split_if_long(c.node);
        true
    }

    /// The elements from position `start` to `end` inclusive (both in range).
    pub fn range(&self, start: usize, end: usize) -> impl ExactSizeIterator<Item = Element<'_>> {
        let n = (end + 1)
            .saturating_sub(start)
            .min(self.len.saturating_sub(start));
        let mut walk = self.walk(start, false);
        walk.remaining = walk.remaining.min(n);
        walk.map(|(node, at)| node.element(at))
    }

    /// LREM: removes up to `count` elements equal to `element` (all when 0), from the head
    /// when `count` is positive, from the tail when negative. Returns how many went.
    pub fn remove(&mut self, count: i64, element: &[u8]) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().min(usize::MAX as u64) as usize
        };
        let wanted = Encoded::new(element);
        let mut removed = 0;
        let mut hits = Vec::new();
        for k in 0..self.nodes.len() {
            if removed == limit {
                break;
            }
            let ni = if count >= 0 {
                k
            } else {
                self.nodes.len() - 1 - k
            };
            let node = &mut self.nodes[ni];
            hits.clear();
            let mut at = 0;
            while at < node.buf.len() {
                let next = node.next(at);
                if wanted.matches(node.entry(at)) {
                    hits.push((at, next));
                }
                at = next;
            }
            let take = hits.len().min(limit - removed);
            let chosen = if count >= 0 {
                &hits[..take]
            } else {
                &hits[hits.len() - take..]
            };
            let Some(&(mut w, _)) = chosen.first() else {
                continue;
            };
            for (i, &(_, end)) in chosen.iter().enumerate() {
                let upto = chosen.get(i + 1).map_or(node.buf.len(), |c| c.0);
                node.buf.copy_within(end..upto, w);
                w += upto - end;
            }
            node.buf.truncate(w);
            node.count -= take as u32;
            node.release_slack();
            removed += take;
        }
        if removed > 0 {
            self.len -= removed;
            self.nodes.retain(|n| n.count > 0);
            self.merge_small_nodes();
            self.release_slack();
        }
        removed
    }

    /// Joins neighbouring nodes that fit in one, after removals left them small.
    fn merge_small_nodes(&mut self) {
        let mut i = 0;
        while i + 1 < self.nodes.len() {
            if self.nodes[i].fits(self.nodes[i + 1].buf.len()) {
                let next = self.nodes.remove(i + 1).unwrap_or_default();
                let node = &mut self.nodes[i];
                node.buf.extend_from_slice(&next.buf);
                node.count += next.count;
            } else {
                i += 1;
            }
        }
    }

    /// LTRIM's work: drops `head` elements from the head and `tail` from the tail.
    pub fn trim(&mut self, head: usize, tail: usize) {
        let mut head = head.min(self.len);
        while head > 0 {
            let Some(node) = self.nodes.front_mut() else {
                break;
            };
            let count = node.count as usize;
            if count <= head {
                self.nodes.pop_front();
                head -= count;
                self.len -= count;
            } else {
                let at = node.offset_of(head);
                node.remove(0, at, head);
                self.len -= head;
                head = 0;
            }
        }
        let mut tail = tail.min(self.len);
        while tail > 0 {
            let Some(node) = self.nodes.back_mut() else {
                break;
            };
            let count = node.count as usize;
            if count <= tail {
                self.nodes.pop_back();
                tail -= count;
                self.len -= count;
            } else {
                let at = node.offset_of(count - tail);
                node.remove(at, node.buf.len(), tail);
                self.len -= tail;
                tail = 0;
            }
        }
        self.release_slack();
    }

    /// Estimated bytes this list takes (MEMORY USAGE).
    pub fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
    }

    /// Gives back memory after a list has shrunk to a quarter of the nodes it had reserved.
    fn release_slack(&mut self) {
        let cap = self.nodes.capacity();
        if cap > 16 && self.nodes.len() < cap / 4 {
            self.nodes.shrink_to(self.nodes.len() * 2);
        }
    }
}

/// Entries of a list, one after the other from a cursor, as (node, offset).
struct Walk<'a> {
    list: &'a ListValue,
    cursor: Cursor,
    remaining: usize,
    rev: bool,
}

impl<'a> Iterator for Walk<'a> {
    type Item = (&'a Node, usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let nodes = &self.list.nodes;
        let c = &mut self.cursor;
        if self.rev {
            if c.at == 0 {
                c.node -= 1;
                c.at = nodes[c.node].buf.len();
            }
            let node = &nodes[c.node];
            c.at = node.prev(c.at);
            Some((node, c.at))
        } else {
            if c.at == nodes[c.node].buf.len() {
                c.node += 1;
                c.at = 0;
            }
            let node = &nodes[c.node];
            let at = c.at;
            c.at = node.next(at);
            Some((node, at))
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Walk<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// Elements that exercise every entry encoding and, being up to 3 KB long, nodes
    /// filling up and splitting.
    fn element() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (0u8..6).prop_map(|i| vec![b'a' + i]),
            (0u32..5).prop_map(|i| format!("{:016}", i).into_bytes()),
            (-3i64..3).prop_map(|i| (i * 1_000_003).to_string().into_bytes()),
            ((0u8..3), (100usize..3000)).prop_map(|(b, n)| vec![b'x' + b; n]),
        ]
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(bool, Vec<u8>),
        PushMany(bool, u8, u16),
        Pop(bool),
        Insert(Vec<u8>, Vec<u8>, bool),
        Set(i64, Vec<u8>),
        Remove(i64, Vec<u8>),
        Trim(usize, usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<bool>(), element()).prop_map(|(h, e)| Op::Push(h, e)),
            1 => (any::<bool>(), 0u8..4, 1u16..1500).prop_map(|(h, e, n)| Op::PushMany(h, e, n)),
            3 => any::<bool>().prop_map(Op::Pop),
            1 => (element(), element(), any::<bool>()).prop_map(|(p, e, a)| Op::Insert(p, e, a)),
            1 => (-40i64..40, element()).prop_map(|(i, e)| Op::Set(i, e)),
            1 => (-3i64..3, element()).prop_map(|(c, e)| Op::Remove(c, e)),
            1 => (0usize..30, 0usize..30).prop_map(|(h, t)| Op::Trim(h, t)),
        ]
    }

    fn end(head: bool) -> End {
        if head {
            End::Head
        } else {
            End::Tail
        }
    }

    fn model_position(model: &VecDeque<Vec<u8>>, index: i64) -> Option<usize> {
        let len = model.len() as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    fn check(l: &ListValue, model: &VecDeque<Vec<u8>>) -> Result<(), TestCaseError> {
        prop_assert_eq!(l.len(), model.len());
        let got: Vec<Vec<u8>> = l.iter().map(|e| e.to_vec()).collect();
        prop_assert!(got.iter().eq(model.iter()));
        prop_assert_eq!(
            l.nodes.iter().map(|n| n.count as usize).sum::<usize>(),
            l.len()
        );
        prop_assert!(l.nodes.iter().all(|n| n.count > 0));
        for i in [
            0,
            model.len() / 3,
            model.len() / 2,
            model.len().saturating_sub(1),
        ] {
            prop_assert_eq!(l.get(i as i64).map(|e| e.to_vec()), model.get(i).cloned());
            let back = -(i as i64) - 1;
            prop_assert_eq!(
                l.get(back).map(|e| e.to_vec()),
                model_position(model, back).map(|p| model[p].clone())
            );
            if i < model.len() {
                let end = (i + 7).min(model.len() - 1);
                let range: Vec<Vec<u8>> = l.range(i, end).map(|e| e.to_vec()).collect();
                prop_assert_eq!(l.range(i, end).len(), end - i + 1);
                prop_assert!(range.iter().eq(model.range(i..=end)));
            }
        }
        prop_assert_eq!(
            l.peek(End::Head).map(|e| e.to_vec()),
            model.front().cloned()
        );
        prop_assert_eq!(l.peek(End::Tail).map(|e| e.to_vec()), model.back().cloned());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn a_list_behaves_as_a_deque_of_strings(ops in prop::collection::vec(op(), 0..60)) {
            let mut l = ListValue::new();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Push(head, e) => {
                        l.push(end(head), &e);
                        if head { model.push_front(e) } else { model.push_back(e) }
                    }
                    Op::PushMany(head, e, n) => {
                        for i in 0..n {
                            let e = format!("{}{:05}", e, i).into_bytes();
                            l.push(end(head), &e);
                            if head { model.push_front(e) } else { model.push_back(e) }
                        }
                    }
                    Op::Pop(head) => {
                        let want = if head { model.pop_front() } else { model.pop_back() };
                        prop_assert_eq!(l.pop(end(head)).map(|e| e.to_vec()), want);
                    }
                    Op::Insert(pivot, e, after) => {
                        let at = model.iter().position(|x| *x == pivot);
                        prop_assert_eq!(l.insert(&pivot, &e, after), at.is_some());
                        if let Some(at) = at {
                            model.insert(at + usize::from(after), e);
                        }
                    }
                    Op::Set(i, e) => {
                        let at = model_position(&model, i);
                        prop_assert_eq!(l.set(i, &e), at.is_some());
                        if let Some(at) = at {
                            model[at] = e;
                        }
                    }
                    Op::Remove(count, e) => {
                        let mut hits: Vec<usize> = model.iter().enumerate().filter(|(_, x)| **x == e).map(|(i, _)| i).collect();
                        if count < 0 { hits.reverse(); }
                        if count != 0 { hits.truncate(count.unsigned_abs() as usize); }
                        hits.sort_unstable();
                        for &i in hits.iter().rev() { model.remove(i); }
                        prop_assert_eq!(l.remove(count, &e), hits.len());
                    }
                    Op::Trim(h, t) => {
                        l.trim(h, t);
                        let h = h.min(model.len());
                        model.drain(..h);
                        let keep = model.len().saturating_sub(t);
                        model.truncate(keep);
                    }
                }
                check(&l, &model)?;
                for needle in [&b"a"[..], b"0000000000000001", b"-1000003"] {
                    for from in [End::Head, End::Tail] {
                        let got: Vec<usize> = l.positions_of(needle, from, 50).collect();
                        let n = model.len();
                        let order: Vec<usize> = match from {
                            End::Head => (0..n).take(50).collect(),
                            End::Tail => (0..n).rev().take(50).collect(),
                        };
                        let want: Vec<usize> = order.into_iter().filter(|&p| model[p] == needle).collect();
                        prop_assert_eq!(got, want);
                    }
                }
            }
        }
    }

    #[test]
    fn sixteen_digit_elements_pack_into_a_few_bytes_each() {
        let mut l = ListValue::new();
        for i in 0..100_000 {
            l.push(End::Tail, format!("{:016}", i).as_bytes());
        }
        let bytes: usize = l.nodes.iter().map(|n| n.buf.len()).sum();
        assert!(bytes < 100_000 * 6, "{bytes}");
        assert_eq!(
            l.get(54_321).map(|e| e.to_vec()),
            Some(b"0000000000054321".to_vec())
        );
    }

    fn list(items: &[&str]) -> ListValue {
        let mut l = ListValue::new();
        for i in items {
            l.push(End::Tail, i.as_bytes());
        }
        l
    }

    fn items(l: &ListValue) -> Vec<String> {
        l.iter()
            .map(|e| String::from_utf8_lossy(&e).into_owned())
            .collect()
    }

    #[test]
    fn negative_indexes_count_from_the_tail() {
        let l = list(&["a", "b", "c"]);
        assert_eq!(l.get(-1).map(|e| e.to_vec()), Some(b"c".to_vec()));
        assert_eq!(l.get(-3).map(|e| e.to_vec()), Some(b"a".to_vec()));
        assert_eq!(l.get(-4).map(|e| e.to_vec()), None);
        assert_eq!(l.get(3).map(|e| e.to_vec()), None);
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
        assert_eq!(l.peek(End::Head).map(|e| e.to_vec()), Some(b"a".to_vec()));
        assert_eq!(l.peek(End::Tail).map(|e| e.to_vec()), Some(b"b".to_vec()));
        assert_eq!(ListValue::new().peek(End::Head).map(|e| e.to_vec()), None);
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
