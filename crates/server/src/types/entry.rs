//! How one string is stored inside a packed buffer (list nodes, small hashes): the idea of
//! Redis's listpack entry encodings, which keep the canonical text of an integer as the
//! integer. Here decimal strings with leading zeros (fixed-width ids, padded counters) are
//! kept as a number and a width too, since that is as lossless and as common.
//!
//! Every string has exactly one encoding, so two entries hold the same string exactly when
//! their encoded bytes are equal: lookups encode the needle once and compare bytes, without
//! decoding anything. Decoding never fails on bytes this module wrote; it is never given
//! bytes from the network.
//!
//! ```text
//! 0x00..=0x7F  a string of that many bytes (0 to 127), which follow
//! 0x80..=0xBF  the integer 0 to 63 (tag - 0x80)
//! 0xC0..=0xCF  an integer below 2^12: tag's low 4 bits, then 1 byte
//! 0xD0..=0xDF  an integer below 2^20: tag's low 4 bits, then 2 bytes
//! 0xE0..=0xE7  a non-negative integer in (tag & 7) + 1 little-endian bytes
//! 0xE8..=0xEF  a negative integer n: -(n + 1) in (tag & 7) + 1 little-endian bytes
//! 0xF0         zero-padded digits: their count (2 to 19), then the value as a LEB128
//! 0xFF         a longer string: its length as a LEB128, then its bytes
//! ```

use std::ops::Deref;

/// A string read out of a packed buffer: its bytes in place, or the text of a number.
#[derive(Clone, Copy)]
pub enum Element<'a> {
    Bytes(&'a [u8]),
    Text { buf: [u8; 20], len: u8 },
}

impl Deref for Element<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Element::Bytes(b) => b,
            Element::Text { buf, len } => &buf[..*len as usize],
        }
    }
}

impl AsRef<[u8]> for Element<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

impl PartialEq for Element<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

const PADDED: u8 = 0xF0;
const LONG: u8 = 0xFF;
/// Longest run of digits kept as a number (10^19 - 1 fits a u64).
const MAX_PADDED_DIGITS: usize = 19;

/// A string's encoding, ready to be written: a short head and, for strings, the bytes.
#[derive(Clone, Copy)]
pub struct Encoded<'a> {
    head: [u8; 12],
    head_len: u8,
    body: &'a [u8],
}

fn leb128(out: &mut [u8; 12], mut at: usize, mut n: u64) -> usize {
    while n >= 0x80 {
        out[at] = (n as u8 & 0x7f) | 0x80;
        n >>= 7;
        at += 1;
    }
    out[at] = n as u8;
    at + 1
}

fn read_leb128(buf: &[u8], mut at: usize) -> (u64, usize) {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[at];
        value |= u64::from(b & 0x7f) << shift;
        at += 1;
        if b & 0x80 == 0 {
            return (value, at);
        }
        shift += 7;
    }
}

/// Digits with a leading zero, as a (count, value) pair.
fn padded_digits(s: &[u8]) -> Option<(u8, u64)> {
    if s.len() < 2 || s.len() > MAX_PADDED_DIGITS || s[0] != b'0' {
        return None;
    }
    let mut v = 0u64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some((s.len() as u8, v))
}

impl<'a> Encoded<'a> {
    pub fn new(s: &'a [u8]) -> Encoded<'a> {
        let mut head = [0u8; 12];
        let head_len;
        let mut body: &[u8] = &[];
        if let Some(n) = lockstep_resp::request::string_to_i64(s) {
            head_len = if (0..64).contains(&n) {
                head[0] = 0x80 | n as u8;
                1
            } else if (0..1 << 12).contains(&n) {
                head[0] = 0xC0 | (n >> 8) as u8;
                head[1] = n as u8;
                2
            } else if (0..1 << 20).contains(&n) {
                head[0] = 0xD0 | (n >> 16) as u8;
                head[1] = (n >> 8) as u8;
                head[2] = n as u8;
                3
            } else {
                let (tag, m) = if n >= 0 {
                    (0xE0, n as u64)
                } else {
                    (0xE8, !(n as u64))
                };
                let bytes = (8 - m.leading_zeros() as usize / 8).max(1);
                head[0] = tag | (bytes as u8 - 1);
                head[1..=bytes].copy_from_slice(&m.to_le_bytes()[..bytes]);
                bytes + 1
            };
        } else if let Some((count, value)) = padded_digits(s) {
            head[0] = PADDED;
            head[1] = count;
            head_len = leb128(&mut head, 2, value);
        } else if s.len() < 0x80 {
            head[0] = s.len() as u8;
            head_len = 1;
            body = s;
        } else {
            head[0] = LONG;
            head_len = leb128(&mut head, 1, s.len() as u64);
            body = s;
        }
        Encoded {
            head,
            head_len: head_len as u8,
            body,
        }
    }

    /// Bytes the entry takes.
    pub fn len(&self) -> usize {
        self.head_len as usize + self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The two parts of the entry, to be written one after the other.
    pub fn parts(&self) -> [&[u8]; 2] {
        [&self.head[..self.head_len as usize], self.body]
    }

    /// Appends the entry to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head[..self.head_len as usize]);
        out.extend_from_slice(self.body);
    }

    /// Whether `entry`, the bytes of one whole entry, holds this string.
    pub fn matches(&self, entry: &[u8]) -> bool {
        let h = self.head_len as usize;
        entry.len() == self.len() && entry[..h] == self.head[..h] && entry[h..] == *self.body
    }
}

/// Inserts `parts`, one after the other, at byte `at` of `buf`.
pub fn insert_parts(buf: &mut Vec<u8>, at: usize, parts: &[&[u8]]) {
    let n: usize = parts.iter().map(|p| p.len()).sum();
    let old = buf.len();
    buf.reserve(n);
    buf.resize(old + n, 0);
    buf.copy_within(at..old, at + n);
    let mut w = at;
    for p in parts {
        buf[w..w + p.len()].copy_from_slice(p);
        w += p.len();
    }
}

/// The end of the entry starting at `at`.
pub fn skip(buf: &[u8], at: usize) -> usize {
    let tag = buf[at];
    match tag {
        0x00..=0x7F => at + 1 + tag as usize,
        0x80..=0xBF => at + 1,
        0xC0..=0xCF => at + 2,
        0xD0..=0xDF => at + 3,
        0xE0..=0xEF => at + 2 + (tag & 7) as usize,
        PADDED => read_leb128(buf, at + 2).1,
        _ => {
            let (len, start) = read_leb128(buf, at + 1);
            start + len as usize
        }
    }
}

fn text_of_int(n: i64) -> Element<'static> {
    let mut buf = [0u8; 20];
    let mut f = itoa::Buffer::new();
    let s = f.format(n).as_bytes();
    buf[..s.len()].copy_from_slice(s);
    Element::Text {
        buf,
        len: s.len() as u8,
    }
}

/// The string in the entry starting at `at`, and where the entry ends.
pub fn decode(buf: &[u8], at: usize) -> (Element<'_>, usize) {
    let tag = buf[at];
    match tag {
        0x00..=0x7F => {
            let end = at + 1 + tag as usize;
            (Element::Bytes(&buf[at + 1..end]), end)
        }
        0x80..=0xBF => (text_of_int(i64::from(tag & 0x3f)), at + 1),
        0xC0..=0xCF => {
            let n = (i64::from(tag & 0xf) << 8) | i64::from(buf[at + 1]);
            (text_of_int(n), at + 2)
        }
        0xD0..=0xDF => {
            let n = (i64::from(tag & 0xf) << 16)
                | (i64::from(buf[at + 1]) << 8)
                | i64::from(buf[at + 2]);
            (text_of_int(n), at + 3)
        }
        0xE0..=0xEF => {
            let bytes = (tag & 7) as usize + 1;
            let mut le = [0u8; 8];
            le[..bytes].copy_from_slice(&buf[at + 1..at + 1 + bytes]);
            let m = u64::from_le_bytes(le);
            let n = if tag < 0xE8 { m as i64 } else { !m as i64 };
            (text_of_int(n), at + 1 + bytes)
        }
        PADDED => {
            let count = buf[at + 1] as usize;
            let (mut value, end) = read_leb128(buf, at + 2);
            let mut text = [b'0'; 20];
            for d in text[..count].iter_mut().rev() {
                *d = b'0' + (value % 10) as u8;
                value /= 10;
            }
            (
                Element::Text {
                    buf: text,
                    len: count as u8,
                },
                end,
            )
        }
        _ => {
            let (len, start) = read_leb128(buf, at + 1);
            let end = start + len as usize;
            (Element::Bytes(&buf[start..end]), end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(s: &[u8]) -> (Vec<u8>, usize) {
        let e = Encoded::new(s);
        let mut buf = vec![0xAA];
        e.write(&mut buf);
        assert_eq!(buf.len(), 1 + e.len());
        assert!(e.matches(&buf[1..]));
        assert_eq!(skip(&buf, 1), buf.len());
        let (got, end) = decode(&buf, 1);
        assert_eq!(end, buf.len());
        (got.to_vec(), e.len())
    }

    #[test]
    fn numbers_and_padded_digits_come_back_as_the_same_text() {
        for s in [
            "0",
            "1",
            "63",
            "64",
            "4095",
            "4096",
            "1048575",
            "1048576",
            "-1",
            "-64",
            "9223372036854775807",
            "-9223372036854775808",
            "00",
            "007",
            "0000000000000123",
            "0999999999999999999",
            "09999999999999999999",
            "01x",
            "-0",
            "+1",
            "1.5",
            "",
            " 1",
            "12345678901234567890",
        ] {
            assert_eq!(round_trip(s.as_bytes()).0, s.as_bytes(), "{s}");
        }
        assert_eq!(round_trip(&[b'x'; 300]).0, vec![b'x'; 300]);
    }

    #[test]
    fn numbers_take_few_bytes() {
        assert_eq!(round_trip(b"7").1, 1);
        assert_eq!(round_trip(b"999999").1, 3);
        assert_eq!(round_trip(b"0000000000999999").1, 5);
        assert_eq!(round_trip(b"-1").1, 2);
        assert_eq!(round_trip(b"abc").1, 4);
    }

    proptest! {
        #[test]
        fn any_string_round_trips(s in prop::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(round_trip(&s).0, s);
        }

        #[test]
        fn digit_strings_round_trip(s in "-?[0-9]{0,22}") {
            prop_assert_eq!(round_trip(s.as_bytes()).0, s.as_bytes().to_vec());
        }

        #[test]
        fn equal_encodings_mean_equal_strings(a in "[0-9a]{0,4}", b in "[0-9a]{0,4}") {
            let ea = Encoded::new(a.as_bytes());
            let mut buf = Vec::new();
            Encoded::new(b.as_bytes()).write(&mut buf);
            prop_assert_eq!(ea.matches(&buf), a == b);
        }
    }
}
