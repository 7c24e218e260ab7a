//! The values a key can hold. One variant per Redis type (strings for now; lists, hashes,
//! sets, sorted sets and streams join as their issues land), each with the encodings that
//! `OBJECT ENCODING` reports.

use smallvec::SmallVec;

/// A key or a short string: up to 16 bytes live inline, with no allocation of their own.
pub type Key = SmallVec<[u8; 16]>;

/// A key as the dict stores it, in 16 bytes: inline up to 15 bytes, else behind a thin
/// pointer (one allocation holding its length and bytes). `Key` takes 24 bytes and keeps
/// 16 inline; in a slab of a million keys the 8 bytes saved on every key count for more
/// than the allocation a key of exactly 16 bytes now needs.
#[derive(Clone)]
pub enum StoredKey {
    Inline {
        len: InlineLen,
        bytes: [u8; INLINE_KEY],
    },
    Heap(crate::types::thin::ThinBytes),
}

/// Longest key stored inline.
pub const INLINE_KEY: usize = 15;

/// The length of an inline key: an enum, so that `StoredKey` can keep its tag in the
/// values a length never takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum InlineLen {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
}

const INLINE_LENS: [InlineLen; INLINE_KEY + 1] = {
    use InlineLen::*;
    [
        L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15,
    ]
};

impl StoredKey {
    pub fn from_slice(key: &[u8]) -> StoredKey {
        match INLINE_LENS.get(key.len()) {
            Some(&len) => {
                let mut bytes = [0; INLINE_KEY];
                bytes[..key.len()].copy_from_slice(key);
                StoredKey::Inline { len, bytes }
            }
            None => StoredKey::Heap(crate::types::thin::ThinBytes::from_parts(&[key])),
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            StoredKey::Inline { len, bytes } => &bytes[..*len as usize],
            StoredKey::Heap(b) => b.as_slice(),
        }
    }

    /// The key as a `Key`.
    pub fn to_key(&self) -> Key {
        Key::from_slice(self.as_slice())
    }

    /// Bytes allocated for the key apart from the 16 of the `StoredKey`.
    pub fn allocated(&self) -> usize {
        match self {
            StoredKey::Inline { .. } => 0,
            StoredKey::Heap(b) => b.allocated(),
        }
    }
}

impl std::ops::Deref for StoredKey {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for StoredKey {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for StoredKey {
    fn eq(&self, other: &StoredKey) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for StoredKey {}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

/// A string's bytes, inline when short.
pub type Sds = SmallVec<[u8; 16]>;

/// Longest string Redis stores as `embstr` (OBJECT ENCODING) when it is created whole.
pub const EMBSTR_MAX: usize = 44;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string that is the canonical decimal text of an i64 (encoding `int`). Redis keeps
    /// such strings as integers, which INCR works on and OBJECT ENCODING reports.
    Int(i64),
    /// Any other string. `raw` marks strings changed in place (APPEND, SETRANGE), which
    /// Redis reports as `raw` whatever their length; others are `embstr` up to 44 bytes.
    Str {
        data: Sds,
        raw: bool,
    },
    /// The collections are boxed so that `Value`, and with it every keyspace entry, stays
    /// the size a string needs; a hash is 24 bytes (a small one is one exact-size buffer),
    /// so it is not boxed, saving a small hash an allocation.
    List(Box<crate::types::ListValue>),
    Hash(crate::types::HashValue),
    Set(Box<crate::types::SetValue>),
    ZSet(Box<crate::types::ZsetValue>),
    Stream(Box<crate::types::StreamValue>),
}

impl Value {
    /// A string value from bytes, as SET stores it: an integer when the bytes are the
    /// canonical text of one, else a string.
    pub fn string(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = lockstep_resp::request::string_to_i64(bytes) {
                return Value::Int(n);
            }
        }
        Value::Str {
            data: Sds::from_slice(bytes),
            raw: bytes.len() > EMBSTR_MAX,
        }
    }

    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Str { .. } => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str { raw: true, .. } => "raw",
            Value::Str { data, .. } if data.len() > EMBSTR_MAX => "raw",
            Value::Str { .. } => "embstr",
            // Redis 7.0 keeps every list in a quicklist (listpack lists came in 7.2).
            Value::List(_) => "quicklist",
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Str { .. })
    }

    /// The bytes of a string value, formatting integers into `scratch`.
    pub fn string_bytes<'a>(&'a self, scratch: &'a mut itoa::Buffer) -> Option<&'a [u8]> {
        match self {
            Value::Int(n) => Some(scratch.format(*n).as_bytes()),
            Value::Str { data, .. } => Some(data.as_slice()),
            Value::List(_) | Value::Hash(_) | Value::Set(_) | Value::ZSet(_) | Value::Stream(_) => {
                None
            }
        }
    }
}
