//! An owned byte string behind one thin pointer: the allocation holds its own length (a
//! LEB128 varint) before the bytes, so a table of a million of them pays 8 bytes a slot
//! and one allocation each, where `Box<[u8]>` pays 16 and `Vec<u8>` 24.
//!
//! The one place in the types with `unsafe`: the allocation is made and freed here only,
//! with the size read back from the header it was made with.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

pub struct ThinBytes {
    ptr: NonNull<u8>,
}

// SAFETY: a `ThinBytes` owns its allocation alone, as a `Box<[u8]>` does.
unsafe impl Send for ThinBytes {}
// SAFETY: shared access only reads.
unsafe impl Sync for ThinBytes {}

fn varint_len(mut n: usize) -> usize {
    let mut size = 1;
    while n >= 0x80 {
        n >>= 7;
        size += 1;
    }
    size
}

impl ThinBytes {
    /// The concatenation of `parts`.
    pub fn from_parts(parts: &[&[u8]]) -> ThinBytes {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let head = varint_len(len);
        let Ok(layout) = Layout::from_size_align(head + len, 1) else {
            // Longer than the address space: only an allocation failure can say so.
            handle_alloc_error(Layout::new::<u8>())
        };
        // SAFETY: the layout is at least one byte long.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        // SAFETY: `raw` holds `head + len` bytes, written once each below.
        let out = unsafe { std::slice::from_raw_parts_mut(raw, head + len) };
        let mut n = len;
        let mut w = 0;
        while n >= 0x80 {
            out[w] = (n as u8 & 0x7f) | 0x80;
            n >>= 7;
            w += 1;
        }
        out[w] = n as u8;
        w += 1;
        for p in parts {
            out[w..w + p.len()].copy_from_slice(p);
            w += p.len();
        }
        ThinBytes { ptr }
    }

    /// The length and where the bytes start.
    fn header(&self) -> (usize, usize) {
        let (mut len, mut shift, mut at) = (0usize, 0, 0);
        loop {
            // SAFETY: the header was written whole at construction.
            let b = unsafe { *self.ptr.as_ptr().add(at) };
            len |= usize::from(b & 0x7f) << shift;
            at += 1;
            if b & 0x80 == 0 {
                return (len, at);
            }
            shift += 7;
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        let (len, start) = self.header();
        // SAFETY: `len` bytes follow the header, initialized at construction.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(start), len) }
    }

    /// Bytes of the allocation.
    pub fn allocated(&self) -> usize {
        let (len, start) = self.header();
        start + len
    }
}

impl Drop for ThinBytes {
    fn drop(&mut self) {
        let size = self.allocated();
        // SAFETY: the same pointer and layout as `from_parts` allocated.
        unsafe {
            dealloc(
                self.ptr.as_ptr(),
                Layout::from_size_align_unchecked(size, 1),
            )
        }
    }
}

impl Clone for ThinBytes {
    fn clone(&self) -> ThinBytes {
        ThinBytes::from_parts(&[self.as_slice()])
    }
}

impl PartialEq for ThinBytes {
    fn eq(&self, other: &ThinBytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl std::fmt::Debug for ThinBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_of_any_length_come_back() {
        for n in [0usize, 1, 127, 128, 300, 16_384, 70_000] {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let t = ThinBytes::from_parts(&[&data[..n / 2], &data[n / 2..]]);
            assert_eq!(t.as_slice(), &data[..]);
            assert_eq!(t.clone().as_slice(), &data[..]);
            assert_eq!(t.allocated(), varint_len(n) + n);
        }
        assert_eq!(std::mem::size_of::<ThinBytes>(), 8);
        assert_eq!(std::mem::size_of::<Option<ThinBytes>>(), 8);
    }
}
