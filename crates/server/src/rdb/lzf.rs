//! LZF compression exactly as redis-server's bundled liblzf 3.6 does it (`lzf_c.c` built
//! with `HLOG 16`, `VERY_FAST 1`, `ULTRA_FAST 0`), so that a compressed string in a DUMP
//! payload or RDB file is the same bytes Redis writes. The `lzf` crate compresses
//! validly but finds other matches, which no client would notice but a byte-for-byte
//! comparison with Redis does; it still does the decompression, which has one answer.
//!
//! The one deliberate difference: Redis's hash table starts as uninitialized stack memory
//! (`INIT_HTAB 0`), so a stale pointer can, very rarely, yield a match into a previous
//! buffer; here the table starts empty.

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const NONE: usize = usize::MAX;

fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// `lzf_compress(input, in_len, out, out_len)`: the compressed bytes, or `None` where the
/// C function answers 0 (empty input, or output that would not fit `out_len` by its own
/// conservative checks).
pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if input.is_empty() || out_len == 0 {
        return None;
    }
    TABLE.with(|table| {
        let mut table = table.borrow_mut();
        let packed = compress_with(&mut table, input, out_len);
        table.forget(input.len());
        packed
    })
}

/// The hash table of positions, kept between calls: a fresh one per call would be
/// 512 KiB to clear for every string (it made SAVE of a million 100-byte values take
/// seconds, all of them in memset). Positions are stored shifted by `base`, which moves
/// past every position of a call once it ends, so that older entries read as empty.
struct Table {
    slots: Vec<u64>,
    base: u64,
}

impl Table {
    fn get(&self, slot: usize) -> usize {
        match self.slots[slot].checked_sub(self.base) {
            Some(pos) => pos as usize,
            None => NONE,
        }
    }

    fn set(&mut self, slot: usize, pos: usize) {
        self.slots[slot] = self.base + pos as u64;
    }

    /// Ends a call over `len` bytes: its entries become stale.
    fn forget(&mut self, len: usize) {
        self.base += len as u64 + 1;
    }
}

thread_local! {
    static TABLE: std::cell::RefCell<Table> = std::cell::RefCell::new(Table {
        slots: vec![0; HSIZE],
        // Every slot starts below the base: empty.
        base: 1,
    });
}

fn compress_with(htab: &mut Table, input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    let mut out = vec![0u8; out_len + 8];
    let (mut ip, mut op, mut lit) = (0usize, 1usize, 0usize);
    let first =
        |at: usize| (u32::from(input[at]) << 8) | u32::from(*input.get(at + 1).unwrap_or(&0));
    let mut hval = first(0);
    while ip + 2 < in_len {
        hval = (hval << 8) | u32::from(input[ip + 2]);
        let slot = idx(hval);
        let r = htab.get(slot);
        htab.set(slot, ip);
        let matched = r != NONE
            && r < ip
            && ip - r - 1 < MAX_OFF
            && r > 0
            && input[r..r + 3] == input[ip..ip + 3];
        if matched {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            if op - usize::from(lit == 0) + 3 + 1 >= out_len {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1);
            op -= usize::from(lit == 0);
            'scan: {
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            break 'scan;
                        }
                    }
                }
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2;
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1;
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            ip -= 2;
            hval = first(ip);
            for _ in 0..2 {
                hval = (hval << 8) | u32::from(input[ip + 2]);
                htab.set(idx(hval), ip);
                ip += 1;
            }
        } else {
            if op >= out_len {
                return None;
            }
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
    }
    if op + 3 > out_len {
        return None;
    }
    while ip < in_len {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compresses_as_redis_does() {
        // The intset of SADD w 1 4294967296, which redis-server 7.0 DUMPs LZF-compressed as
        // this (the `lzf` crate finds a different match).
        let intset = b"\x08\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00";
        assert_eq!(
            compress(intset, intset.len() - 4).as_deref(),
            Some(&b"\x04\x08\x00\x00\x00\x02 \x03\x00\x01 \x03\xc0\x00 \x0b\x00\x00"[..])
        );
    }

    proptest! {
        /// The table kept between calls is invisible: a string compresses to the same
        /// bytes whatever was compressed before it.
        #[test]
        fn earlier_calls_change_nothing(
            a in proptest::collection::vec(0u8..4, 1..2000),
            b in proptest::collection::vec(0u8..4, 1..2000),
        ) {
            let first = compress(&a, a.len() + 64);
            compress(&b, b.len() + 64);
            prop_assert_eq!(compress(&a, a.len() + 64), first);
        }

        #[test]
        fn decompresses_back(input in proptest::collection::vec(0u8..4, 1..3000)) {
            if let Some(packed) = compress(&input, input.len() + 64) {
                prop_assert_eq!(::lzf::decompress(&packed, input.len()).ok(), Some(input));
            }
        }
    }
}
