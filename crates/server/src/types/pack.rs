//! A packed run of byte strings in one allocation: the idea of Redis's listpack. Small
//! hashes and sorted sets live in one, as in Redis, because a few dozen short strings cost
//! two bytes of overhead each here instead of a pointer, a length and an allocation.
//!
//! An entry is its length as a LEB128 varint followed by its bytes. Lookups are linear
//! scans, which is what Redis does too: packs only hold a bounded number of entries
//! (`*-max-listpack-entries`) before their owner converts them to a real table.
//!
//! Nothing here knows what the entries mean; the owners give them meaning (a hash stores
//! field, value, field, value, ...).

/// A sequence of byte strings packed into one buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pack {
    buf: Vec<u8>,
    len: u32,
}

fn varint_len(mut n: usize) -> usize {
    let mut size = 1;
    while n >= 0x80 {
        n >>= 7;
        size += 1;
    }
    size
}

fn write_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads the varint at `at`: (value, bytes used).
fn read_varint(buf: &[u8], at: usize) -> (usize, usize) {
    let mut value = 0usize;
    let mut shift = 0;
    let mut i = at;
    loop {
        let b = buf[i];
        value |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (value, i - at);
        }
        shift += 7;
    }
}

impl Pack {
    pub fn new() -> Pack {
        Pack::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes used by the packed entries (what the allocation holds).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes the allocation holds.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The entry starting at byte offset `at` and the offset of the next one.
    pub fn entry_at(&self, at: usize) -> (&[u8], usize) {
        let (len, used) = read_varint(&self.buf, at);
        let start = at + used;
        (&self.buf[start..start + len], start + len)
    }

    /// Every entry with its byte offset, in order.
    pub fn iter(&self) -> PackIter<'_> {
        PackIter { pack: self, at: 0 }
    }

    /// Byte offset just past the last entry: where `insert_at` appends.
    pub fn end(&self) -> usize {
        self.buf.len()
    }

    /// Appends an entry.
    pub fn push(&mut self, entry: &[u8]) {
        let at = self.buf.len();
        self.insert_at(at, entry);
    }

    /// Inserts an entry at byte offset `at` (an entry boundary or `end()`).
    pub fn insert_at(&mut self, at: usize, entry: &[u8]) {
        let mut encoded = Vec::with_capacity(varint_len(entry.len()) + entry.len());
        write_varint(&mut encoded, entry.len());
        encoded.extend_from_slice(entry);
        // Grow exactly, as Redis reallocates a listpack per insertion: the buffer never
        // carries doubling slack.
        self.buf.reserve_exact(encoded.len());
        self.buf.splice(at..at, encoded);
        self.len += 1;
    }

    /// Removes `count` entries starting at byte offset `at`.
    pub fn remove_at(&mut self, at: usize, count: usize) {
        let mut end = at;
        let mut removed = 0;
        while removed < count && end < self.buf.len() {
            end = self.entry_at(end).1;
            removed += 1;
        }
        self.buf.drain(at..end);
        self.len -= removed as u32;
        if self.buf.capacity() > self.buf.len() * 2 + 64 {
            self.buf.shrink_to_fit();
        }
    }

    /// Replaces the entry at byte offset `at` with `entry`.
    pub fn replace_at(&mut self, at: usize, entry: &[u8]) {
        let (_, next) = self.entry_at(at);
        let mut encoded = Vec::with_capacity(varint_len(entry.len()) + entry.len());
        write_varint(&mut encoded, entry.len());
        encoded.extend_from_slice(entry);
        if encoded.len() > next - at {
            self.buf.reserve_exact(encoded.len() - (next - at));
        }
        self.buf.splice(at..next, encoded);
    }
}

/// Entries of a `Pack` with their byte offsets.
pub struct PackIter<'a> {
    pack: &'a Pack,
    at: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.pack.buf.len() {
            return None;
        }
        let at = self.at;
        let (entry, next) = self.pack.entry_at(at);
        self.at = next;
        Some((at, entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(p: &Pack) -> Vec<Vec<u8>> {
        p.iter().map(|(_, e)| e.to_vec()).collect()
    }

    #[test]
    fn entries_come_back_in_order_whatever_their_length() {
        let mut p = Pack::new();
        let long = vec![7u8; 300];
        p.push(b"a");
        p.push(b"");
        p.push(&long);
        p.push(b"z");
        assert_eq!(p.len(), 4);
        assert_eq!(
            entries(&p),
            vec![b"a".to_vec(), vec![], long.clone(), b"z".to_vec()]
        );
    }

    #[test]
    fn insert_remove_and_replace_keep_the_other_entries() {
        let mut p = Pack::new();
        for e in [&b"one"[..], b"two", b"three"] {
            p.push(e);
        }
        let second = p.iter().nth(1).map(|(at, _)| at).unwrap_or(0);
        p.insert_at(second, b"inserted");
        assert_eq!(entries(&p)[1], b"inserted");
        p.remove_at(second, 2);
        assert_eq!(entries(&p), vec![b"one".to_vec(), b"three".to_vec()]);
        p.replace_at(0, &[1u8; 200]);
        assert_eq!(entries(&p), vec![vec![1u8; 200], b"three".to_vec()]);
        p.replace_at(0, b"x");
        assert_eq!(entries(&p), vec![b"x".to_vec(), b"three".to_vec()]);
        assert_eq!(p.len(), 2);
    }
}
