//! The values a key can hold. One variant per Redis type (strings for now; lists, hashes,
//! sets, sorted sets and streams join as their issues land), each with the encodings that
//! `OBJECT ENCODING` reports.

use smallvec::SmallVec;

/// A key or a short string: up to 16 bytes live inline, with no allocation of their own.
pub type Key = SmallVec<[u8; 16]>;

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
