//! Redis's serialization format (RDB version 10, as redis-server 7.0 writes it): lengths,
//! strings (integer-encoded, LZF-compressed or plain), the trailer of a DUMP payload (the
//! RDB version and a CRC64 of everything before it), values (`value`: the type byte and
//! object of every type, with the blobs of `listpack`) and whole files (`file`).
//!
//! FUNCTION DUMP/RESTORE, DUMP/RESTORE, MIGRATE and SAVE/BGSAVE/loading all use it. Nothing
//! here may panic or allocate from a length it read: a payload comes from the network.

pub mod file;
pub mod listpack;
mod lzf;
mod stream;
pub mod value;

pub use value::{
    dump_value, dump_value_with, load_object, load_value, LoadError, SaveOptions, Unsupported,
};

/// The RDB version redis-server 7.0 writes.
pub const VERSION: u16 = 10;

/// Opcodes.
pub const OPCODE_FUNCTION_PRE_GA: u8 = 246;
pub const OPCODE_FUNCTION2: u8 = 245;

/// The two high bits of a length's first byte.
const LEN_6BIT: u8 = 0;
const LEN_14BIT: u8 = 1;
const LEN_32BIT: u8 = 0x80;
const LEN_64BIT: u8 = 0x81;
const ENCVAL: u8 = 3;

/// Special string encodings (after `ENCVAL`).
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

pub(crate) const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// Writes a length as Redis's `rdbSaveLen`.
pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push((LEN_6BIT << 6) | len as u8);
    } else if len < 1 << 14 {
        out.push((LEN_14BIT << 6) | (len >> 8) as u8);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Writes a string as Redis's `rdbSaveRawString`: as an integer when it is the canonical
/// text of one that fits 32 bits, LZF-compressed when longer than 20 bytes and
/// `compress` (the `rdbcompression` setting) and compression saves at least 4 bytes,
/// plainly otherwise.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(n) = canonical_int(s) {
            if let Ok(n) = i8::try_from(n) {
                out.extend_from_slice(&[(ENCVAL << 6) | ENC_INT8, n as u8]);
                return;
            }
            if let Ok(n) = i16::try_from(n) {
                out.push((ENCVAL << 6) | ENC_INT16);
                out.extend_from_slice(&n.to_le_bytes());
                return;
            }
            if let Ok(n) = i32::try_from(n) {
                out.push((ENCVAL << 6) | ENC_INT32);
                out.extend_from_slice(&n.to_le_bytes());
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        // Redis gives the compressor 4 bytes less room than the input.
        if let Some(packed) = lzf::compress(s, s.len() - 4) {
            out.push((ENCVAL << 6) | ENC_LZF);
            write_len(out, packed.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&packed);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The integer `s` is the canonical decimal text of (no sign on zero, no leading zeros,
/// no spaces), if any.
pub(crate) fn canonical_int(s: &[u8]) -> Option<i64> {
    let n: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    let mut buf = itoa::Buffer::new();
    (buf.format(n).as_bytes() == s).then_some(n)
}

/// Ends a DUMP payload: the RDB version, then the CRC64 of all of it, little-endian.
pub fn finish_dump(out: &mut Vec<u8>) {
    out.extend_from_slice(&VERSION.to_le_bytes());
    let crc = CRC64.checksum(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Checks a DUMP payload's trailer as Redis's `verifyDumpPayload`: an RDB version this
/// server reads and a matching CRC64. Answers the body (without the trailer) and its
/// version.
pub fn verify_dump(payload: &[u8]) -> Option<(&[u8], u16)> {
    if payload.len() < 10 {
        return None;
    }
    let (rest, crc) = payload.split_at(payload.len() - 8);
    let (body, version) = rest.split_at(rest.len() - 2);
    let version = u16::from_le_bytes([version[0], version[1]]);
    if version > VERSION {
        return None;
    }
    (CRC64.checksum(rest).to_le_bytes() == crc).then_some((body, version))
}

/// Reads RDB data from a buffer.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes read so far: where the next read starts.
    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    pub fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// A length, or (`Err`) the special encoding a string's first byte announces.
    fn len_or_encoding(&mut self) -> Option<Result<u64, u8>> {
        let first = self.byte()?;
        Some(match first >> 6 {
            0 => Ok(u64::from(first & 0x3f)),
            1 => Ok((u64::from(first & 0x3f) << 8) | u64::from(self.byte()?)),
            ENCVAL => Err(first & 0x3f),
            _ => match first {
                LEN_32BIT => Ok(u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().ok()?,
                ))),
                LEN_64BIT => Ok(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
                _ => return None,
            },
        })
    }

    pub fn len(&mut self) -> Option<u64> {
        self.len_or_encoding()?.ok()
    }

    /// A string in any of its encodings.
    pub fn string(&mut self) -> Option<Vec<u8>> {
        match self.len_or_encoding()? {
            Ok(len) => Some(self.take(usize::try_from(len).ok()?)?.to_vec()),
            Err(ENC_INT8) => Some(itoa_bytes(i64::from(self.byte()? as i8))),
            Err(ENC_INT16) => {
                let n = i16::from_le_bytes(self.take(2)?.try_into().ok()?);
                Some(itoa_bytes(i64::from(n)))
            }
            Err(ENC_INT32) => {
                let n = i32::from_le_bytes(self.take(4)?.try_into().ok()?);
                Some(itoa_bytes(i64::from(n)))
            }
            Err(ENC_LZF) => {
                let packed_len = usize::try_from(self.len()?).ok()?;
                let len = usize::try_from(self.len()?).ok()?;
                let packed = self.take(packed_len)?;
                // A back reference of 2 bytes gives at most 264: a longer claim is false,
                // and must not make us allocate it.
                if len > packed_len.saturating_mul(132) {
                    return None;
                }
                let data = ::lzf::decompress(packed, len).ok()?;
                (data.len() == len).then_some(data)
            }
            Err(_) => None,
        }
    }
}

fn itoa_bytes(n: i64) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc64_is_redis_s() {
        // The check value Redis's own crc64 test uses.
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn lengths_take_redis_s_sizes() {
        for (len, size) in [
            (0, 1),
            (63, 1),
            (64, 2),
            (16383, 2),
            (16384, 5),
            (1 << 32, 9),
        ] {
            let mut out = Vec::new();
            write_len(&mut out, len);
            assert_eq!(out.len(), size, "length {len}");
            assert_eq!(Reader::new(&out).len(), Some(len));
        }
    }

    #[test]
    fn strings_pick_redis_s_encodings() {
        let enc = |s: &[u8]| {
            let mut out = Vec::new();
            write_string(&mut out, s, true);
            out
        };
        assert_eq!(enc(b"12"), [0xc0, 12]);
        assert_eq!(enc(b"-300"), [0xc1, 0xd4, 0xfe]);
        assert_eq!(enc(b"100000"), [0xc2, 0xa0, 0x86, 0x01, 0x00]);
        // Not canonical, or too wide: plain.
        assert_eq!(enc(b"012"), [3, b'0', b'1', b'2']);
        assert_eq!(enc(b"4294967296")[0], 10);
        assert_eq!(enc(&[b'a'; 30])[0], 0xc3);
        assert_eq!(enc(b"abcdefghijklmnopqrstuvwxyz")[0], 26);
    }

    #[test]
    fn dump_trailer_is_checked() {
        let mut payload = vec![OPCODE_FUNCTION2];
        write_string(&mut payload, b"body", true);
        finish_dump(&mut payload);
        let (body, version) = verify_dump(&payload).expect("valid");
        assert_eq!((body.len(), version), (6, VERSION));
        let last = payload.len() - 1;
        payload[last] ^= 1;
        assert!(verify_dump(&payload).is_none());
        assert!(verify_dump(b"short").is_none());
    }

    proptest! {
        #[test]
        fn strings_read_back(s in proptest::collection::vec(any::<u8>(), 0..300), compress: bool) {
            let mut out = Vec::new();
            write_string(&mut out, &s, compress);
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.string(), Some(s));
            prop_assert!(r.is_empty());
        }

        #[test]
        fn truncated_input_is_refused_not_a_panic(s in proptest::collection::vec(any::<u8>(), 0..100), cut in 0usize..100) {
            let mut out = Vec::new();
            write_string(&mut out, &s, true);
            out.truncate(cut.min(out.len().saturating_sub(1)));
            let _ = Reader::new(&out).string();
        }
    }
}
