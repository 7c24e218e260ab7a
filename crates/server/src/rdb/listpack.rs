//! The blobs inside RDB values, byte for byte as Redis 7.0 lays them out: listpacks
//! (written and read), intsets (written and read), and the older ziplists and zipmaps
//! (read only: Redis 7.0 converts them on load and never writes them).
//!
//! Readers validate everything (Redis's "deep" sanitization) and answer `None` for any
//! inconsistency: a payload is data from the network, and a bogus length must give an
//! error, never a panic or a huge allocation.

/// Listpack header: total bytes (u32) and number of elements (u16).
const LP_HEADER: usize = 6;
const LP_EOF: u8 = 0xff;
/// Header count of a listpack with 65535 elements or more.
const LP_NUMELE_UNKNOWN: u16 = u16::MAX;

/// Builds a listpack entry by entry, as `lpAppend` does.
#[derive(Clone, Debug)]
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        ListpackWriter {
            buf: vec![0; LP_HEADER],
            count: 0,
        }
    }
}

impl ListpackWriter {
    pub fn new() -> ListpackWriter {
        ListpackWriter::default()
    }

    /// Elements so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// What `lpBytes` would answer now (header, entries and the end byte).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends `s`, as an integer when it is the canonical text of an i64 (Redis's
    /// `lpStringToInt64`), else as a string.
    pub fn push(&mut self, s: &[u8]) {
        match super::canonical_int(s) {
            Some(n) if s.len() <= 20 => self.push_int(n),
            _ => self.push_str(s),
        }
    }

    /// Appends an integer in the smallest of listpack's integer encodings.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (if v < 0 { (1 << 13) + v } else { v }) as u16;
            self.buf
                .extend_from_slice(&[(u >> 8) as u8 | 0xc0, u as u8]);
        } else if (-32768..=32767).contains(&v) {
            self.buf.push(0xf1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            self.buf.push(0xf2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(v) = i32::try_from(v) {
            self.buf.push(0xf3);
            self.buf.extend_from_slice(&v.to_le_bytes());
        } else {
            self.buf.push(0xf4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.end_entry(start);
    }

    /// Appends `s` as a string, whatever it holds.
    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(len as u8 | 0x80);
        } else if len < 4096 {
            self.buf
                .extend_from_slice(&[(len >> 8) as u8 | 0xe0, len as u8]);
        } else {
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.end_entry(start);
    }

    /// Writes the back length of the entry that began at `start` (`lpEncodeBacklen`).
    fn end_entry(&mut self, start: usize) {
        let l = (self.buf.len() - start) as u64;
        if l <= 127 {
            self.buf.push(l as u8);
        } else if l < 16383 {
            self.buf
                .extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]);
        } else if l < 2_097_151 {
            self.buf.extend_from_slice(&[
                (l >> 14) as u8,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
        } else if l < 268_435_455 {
            self.buf.extend_from_slice(&[
                (l >> 21) as u8,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
        } else {
            self.buf.extend_from_slice(&[
                (l >> 28) as u8,
                ((l >> 21) & 127) as u8 | 128,
                ((l >> 14) & 127) as u8 | 128,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]);
        }
        self.count += 1;
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(LP_NUMELE_UNKNOWN);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// An element as a listpack or ziplist holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Element<'_> {
    /// The element as text (integers in decimal).
    pub fn to_bytes(self) -> Vec<u8> {
        match self {
            Element::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
            Element::Str(s) => s.to_vec(),
        }
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Reads `n` little-endian bytes at `at`.
fn le(buf: &[u8], at: usize, n: usize) -> Option<u64> {
    let bytes = buf.get(at..at.checked_add(n)?)?;
    Some(
        bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    )
}

/// Every element of the listpack `lp`, validated as Redis's `lpValidateIntegrity` does
/// deeply: the header's size and count, each entry's encoding, its back length, and the
/// end byte.
pub fn read_listpack(lp: &[u8]) -> Option<Vec<Element<'_>>> {
    if lp.len() < LP_HEADER + 1 || le(lp, 0, 4)? as usize != lp.len() {
        return None;
    }
    let declared = le(lp, 4, 2)? as u16;
    if *lp.last()? != LP_EOF {
        return None;
    }
    let end = lp.len() - 1;
    let mut at = LP_HEADER;
    // Grows with what is really there: the header's count is not trusted for a size.
    let mut out = Vec::new();
    while at < end {
        let first = lp[at];
        let (element, len) = match first {
            0x00..=0x7f => (Element::Int(i64::from(first)), 1),
            0x80..=0xbf => {
                let n = usize::from(first & 0x3f);
                (Element::Str(lp.get(at + 1..at + 1 + n)?), 1 + n)
            }
            0xc0..=0xdf => {
                let v = (u64::from(first & 0x1f) << 8) | u64::from(*lp.get(at + 1)?);
                (Element::Int(sign_extend(v, 13)), 2)
            }
            0xe0..=0xef => {
                let n = (usize::from(first & 0x0f) << 8) | usize::from(*lp.get(at + 1)?);
                (Element::Str(lp.get(at + 2..at + 2 + n)?), 2 + n)
            }
            0xf0 => {
                let n = le(lp, at + 1, 4)? as usize;
                let data = lp.get(at + 5..(at + 5).checked_add(n)?)?;
                (Element::Str(data), 5 + n)
            }
            0xf1 => (Element::Int(sign_extend(le(lp, at + 1, 2)?, 16)), 3),
            0xf2 => (Element::Int(sign_extend(le(lp, at + 1, 3)?, 24)), 4),
            0xf3 => (Element::Int(sign_extend(le(lp, at + 1, 4)?, 32)), 5),
            0xf4 => (Element::Int(le(lp, at + 1, 8)? as i64), 9),
            _ => return None,
        };
        // The back length must say the entry's size, in its exact encoding.
        let mut expected = ListpackWriter {
            buf: Vec::new(),
            count: 0,
        };
        expected.buf.resize(len, 0);
        expected.end_entry(0);
        let backlen = &expected.buf[len..];
        let back_at = at + len;
        if lp.get(back_at..back_at + backlen.len())? != backlen {
            return None;
        }
        at = back_at + backlen.len();
        out.push(element);
    }
    if at != end || (declared != LP_NUMELE_UNKNOWN && usize::from(declared) != out.len()) {
        return None;
    }
    Some(out)
}

const ZIP_END: u8 = 0xff;
const ZIP_BIG_PREVLEN: u8 = 0xfe;

/// Every element of the ziplist `zl` (RDB versions before 10), validated: header size,
/// tail offset and count, each entry's previous length and encoding, the end byte.
pub fn read_ziplist(zl: &[u8]) -> Option<Vec<Element<'_>>> {
    const HEADER: usize = 10;
    if zl.len() < HEADER + 1 || le(zl, 0, 4)? as usize != zl.len() || *zl.last()? != ZIP_END {
        return None;
    }
    let tail = le(zl, 4, 4)? as usize;
    let declared = le(zl, 8, 2)? as u16;
    let end = zl.len() - 1;
    let (mut at, mut prev_len, mut last_at) = (HEADER, 0usize, HEADER);
    let mut out = Vec::new();
    while at < end {
        let start = at;
        let prevlen = if zl[at] < ZIP_BIG_PREVLEN {
            at += 1;
            usize::from(zl[at - 1])
        } else if zl[at] == ZIP_BIG_PREVLEN {
            at += 5;
            le(zl, at - 4, 4)? as usize
        } else {
            return None;
        };
        if prevlen != prev_len {
            return None;
        }
        let enc = *zl.get(at)?;
        let element = match enc >> 6 {
            0 => {
                let n = usize::from(enc & 0x3f);
                at += 1;
                let s = zl.get(at..at + n)?;
                at += n;
                Element::Str(s)
            }
            1 => {
                let n = (usize::from(enc & 0x3f) << 8) | usize::from(*zl.get(at + 1)?);
                at += 2;
                let s = zl.get(at..at + n)?;
                at += n;
                Element::Str(s)
            }
            2 => {
                if enc != 0x80 {
                    return None;
                }
                let b = zl.get(at + 1..at + 5)?;
                let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
                at += 5;
                let s = zl.get(at..at.checked_add(n)?)?;
                at += n;
                Element::Str(s)
            }
            _ => {
                at += 1;
                let (v, n) = match enc {
                    0xc0 => (sign_extend(le(zl, at, 2)?, 16), 2),
                    0xd0 => (sign_extend(le(zl, at, 4)?, 32), 4),
                    0xe0 => (le(zl, at, 8)? as i64, 8),
                    0xf0 => (sign_extend(le(zl, at, 3)?, 24), 3),
                    0xfe => (sign_extend(le(zl, at, 1)?, 8), 1),
                    0xf1..=0xfd => (i64::from(enc & 0x0f) - 1, 0),
                    _ => return None,
                };
                at += n;
                Element::Int(v)
            }
        };
        if at > end {
            return None;
        }
        prev_len = at - start;
        last_at = start;
        out.push(element);
    }
    let tail_ok = if out.is_empty() {
        tail == HEADER
    } else {
        tail == last_at
    };
    if !tail_ok || (declared != u16::MAX && usize::from(declared) != out.len()) {
        return None;
    }
    Some(out)
}

/// The intset blob of `values` (sorted, distinct), in the narrowest encoding that holds
/// them all.
pub fn write_intset(values: &[i64]) -> Vec<u8> {
    let width: usize = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// The integers of an intset blob, validated as `intsetValidateIntegrity` does deeply: a
/// known width, a size that matches the count, strictly ascending values.
pub fn read_intset(blob: &[u8]) -> Option<Vec<i64>> {
    let width = le(blob, 0, 4)? as usize;
    if !matches!(width, 2 | 4 | 8) {
        return None;
    }
    let count = le(blob, 4, 4)? as usize;
    if count.checked_mul(width)?.checked_add(8)? != blob.len() {
        return None;
    }
    let values: Vec<i64> = blob[8..]
        .chunks_exact(width)
        .map(|c| {
            let v = c
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            sign_extend(v, 8 * width as u32)
        })
        .collect();
    values.windows(2).all(|w| w[0] < w[1]).then_some(values)
}

/// The (field, value) pairs of a zipmap (hashes of RDB versions before 4).
pub fn read_zipmap(zm: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut at = 1;
    let mut pairs = Vec::new();
    // A length: one byte below 254, else 254 and four bytes.
    let len = |at: &mut usize| -> Option<Option<usize>> {
        let b = *zm.get(*at)?;
        *at += 1;
        Some(match b {
            0..=253 => Some(usize::from(b)),
            254 => {
                let n = le(zm, *at, 4)? as usize;
                *at += 4;
                Some(n)
            }
            _ => None,
        })
    };
    while let Some(flen) = len(&mut at)? {
        let field = zm.get(at..at.checked_add(flen)?)?;
        at += flen;
        let vlen = len(&mut at)??;
        let free = usize::from(*zm.get(at)?);
        at += 1;
        let value = zm.get(at..at.checked_add(vlen)?)?;
        at += vlen + free;
        pairs.push((field, value));
    }
    (at == zm.len()).then_some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(elements: &[Element]) -> Vec<Vec<u8>> {
        elements.iter().map(|e| e.to_bytes()).collect()
    }

    #[test]
    fn listpack_matches_redis_bytes() {
        // DUMP of RPUSH l a 1 300 -5000 from redis-server 7.0, inner listpack.
        let mut w = ListpackWriter::new();
        for s in ["a", "1", "300", "-5000"] {
            w.push(s.as_bytes());
        }
        assert_eq!(
            w.finish(),
            b"\x13\x00\x00\x00\x04\x00\x81a\x02\x01\x01\xc1,\x02\xf1x\xec\x03\xff"
        );
    }

    #[test]
    fn intset_matches_redis_bytes() {
        assert_eq!(
            write_intset(&[1, 2, 3]),
            b"\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00"
        );
        assert_eq!(
            read_intset(&write_intset(&[-1, 1 << 40])),
            Some(vec![-1, 1 << 40])
        );
        assert_eq!(read_intset(&write_intset(&[2, 1])), None);
    }

    #[test]
    fn a_ziplist_reads_back_every_encoding() {
        // zl: "ab", 7 (immediate), 300 (int16), -70000 (int24), 1<<40 (int64).
        let mut body = Vec::new();
        let mut prev = 0u8;
        let mut tail = 0;
        for entry in [
            vec![0x02, b'a', b'b'],
            vec![0xf8],
            vec![0xc0, 0x2c, 0x01],
            vec![0xf0, 0x90, 0xee, 0xfe],
            [vec![0xe0], (1i64 << 40).to_le_bytes().to_vec()].concat(),
        ] {
            tail = 10 + body.len();
            body.push(prev);
            body.extend_from_slice(&entry);
            prev = entry.len() as u8 + 1;
        }
        let mut zl = Vec::new();
        zl.extend_from_slice(&((10 + body.len() + 1) as u32).to_le_bytes());
        zl.extend_from_slice(&(tail as u32).to_le_bytes());
        zl.extend_from_slice(&5u16.to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(0xff);
        let got = read_ziplist(&zl).expect("valid ziplist");
        assert_eq!(
            got,
            [
                Element::Str(b"ab"),
                Element::Int(7),
                Element::Int(300),
                Element::Int(-70000),
                Element::Int(1 << 40)
            ]
        );
        zl[14] = 9; // the second entry's previous length
        assert!(read_ziplist(&zl).is_none());
    }

    proptest! {
        #[test]
        fn listpacks_read_back(items in proptest::collection::vec(
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string().into_bytes()),
                proptest::collection::vec(any::<u8>(), 0..5000),
            ], 0..40))
        {
            let mut w = ListpackWriter::new();
            for i in &items {
                w.push(i);
            }
            let lp = w.finish();
            let back = read_listpack(&lp).expect("valid");
            prop_assert_eq!(text(&back), items);
        }

        #[test]
        fn garbage_is_refused_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = read_listpack(&bytes);
            let _ = read_ziplist(&bytes);
            let _ = read_intset(&bytes);
            let _ = read_zipmap(&bytes);
        }
    }
}
