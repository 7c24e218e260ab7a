//! Converting replies into Rust types, with errors that say what was expected and what came.
//!
//! RESP2 and RESP3 shapes are both accepted: a map converts from a RESP3 map or from a RESP2
//! flat array of pairs; a `f64` from a RESP3 double or from a bulk string.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;

use bytes::Bytes;
use lockstep_resp::Frame;

use crate::error::{Error, ServerError};

/// A type a reply converts into.
pub trait FromReply: Sized {
    fn from_reply(frame: Frame) -> Result<Self, Error>;

    /// A string reply as a `Vec<Self>`: only `u8` says yes, so that `Vec<u8>` converts
    /// from a bulk string (its bytes) while every other `Vec<T>` converts from an array.
    #[doc(hidden)]
    fn vec_from_string(_bytes: &[u8]) -> Option<Vec<Self>> {
        None
    }
}

/// The value under `key` in a RESP3 map or a RESP2 flat array of key/value pairs (the
/// shapes of HELLO, CLUSTER SHARDS, XINFO, ...).
pub fn map_get<'a>(f: &'a Frame, key: &str) -> Option<&'a Frame> {
    match f {
        Frame::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.as_bytes() == Some(key.as_bytes()))
            .map(|(_, v)| v),
        Frame::Array(items) => items
            .chunks(2)
            .find(|kv| kv.len() == 2 && kv[0].as_bytes() == Some(key.as_bytes()))
            .map(|kv| &kv[1]),
        _ => None,
    }
}

/// A short description of a frame for type errors: its kind and a preview.
pub fn describe(f: &Frame) -> String {
    fn preview(b: &[u8]) -> String {
        let s = String::from_utf8_lossy(&b[..b.len().min(40)]);
        if b.len() > 40 {
            format!("{s:?}...")
        } else {
            format!("{s:?}")
        }
    }
    match f {
        Frame::Simple(b) => format!("simple string {}", preview(b)),
        Frame::Error(b) => format!("error {}", preview(b)),
        Frame::Integer(n) => format!("integer {n}"),
        Frame::Bulk(b) => format!("bulk string {}", preview(b)),
        Frame::Array(v) => format!("array of {}", v.len()),
        Frame::Null => "nil".into(),
        Frame::Map(v) => format!("map of {}", v.len()),
        Frame::Set(v) => format!("set of {}", v.len()),
        Frame::Double(d) => format!("double {d}"),
        Frame::Boolean(b) => format!("boolean {b}"),
        Frame::BigNumber(b) => format!("big number {}", preview(b)),
        Frame::Verbatim { text, .. } => format!("verbatim string {}", preview(text)),
        Frame::Push(v) => format!("push of {}", v.len()),
        Frame::Attribute { frame, .. } => describe(frame),
    }
}

/// Error frames become `Error::Server`; attributes are unwrapped.
fn check(frame: Frame) -> Result<Frame, Error> {
    match frame {
        Frame::Error(e) => Err(Error::Server(ServerError::from_bytes(&e))),
        Frame::Attribute { frame, .. } => check(*frame),
        f => Ok(f),
    }
}

impl FromReply for Frame {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        check(frame)
    }
}

/// Accepts any non-error reply (`+OK`, or anything).
impl FromReply for () {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        check(frame).map(|_| ())
    }
}

impl FromReply for Bytes {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        match check(frame)? {
            Frame::Bulk(b) | Frame::Simple(b) | Frame::BigNumber(b) => Ok(b),
            Frame::Verbatim { text, .. } => Ok(text),
            Frame::Integer(n) => Ok(Bytes::from(n.to_string())),
            Frame::Double(d) => Ok(Bytes::from(lockstep_resp::encode::format_double(d))),
            f => Err(Error::type_error("bytes", &f)),
        }
    }
}

impl FromReply for String {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        let f = check(frame)?;
        let desc = describe(&f);
        let b = Bytes::from_reply(f).map_err(|e| match e {
            Error::Type(mut t) => {
                t.expected = "string";
                Error::Type(t)
            }
            e => e,
        })?;
        String::from_utf8(b.to_vec()).map_err(|_| {
            Error::Type(crate::error::TypeError {
                expected: "UTF-8 string",
                got: desc,
            })
        })
    }
}

macro_rules! int_from_reply {
    ($($t:ty),*) => {$(
        impl FromReply for $t {
            fn from_reply(frame: Frame) -> Result<Self, Error> {
                let f = check(frame)?;
                let parsed = match &f {
                    Frame::Integer(n) => <$t>::try_from(*n).ok(),
                    Frame::Bulk(b) | Frame::Simple(b) | Frame::BigNumber(b) => {
                        std::str::from_utf8(b).ok().and_then(|s| s.parse::<$t>().ok())
                    }
                    Frame::Boolean(b) => Some(*b as $t),
                    _ => None,
                };
                parsed.ok_or_else(|| Error::type_error(stringify!($t), &f))
            }
        }
    )*};
}
int_from_reply!(i8, i16, i32, i64, i128, isize, u16, u32, u64, u128, usize);

impl FromReply for u8 {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        let f = check(frame)?;
        let parsed = match &f {
            Frame::Integer(n) => u8::try_from(*n).ok(),
            Frame::Bulk(b) | Frame::Simple(b) | Frame::BigNumber(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<u8>().ok()),
            Frame::Boolean(b) => Some(*b as u8),
            _ => None,
        };
        parsed.ok_or_else(|| Error::type_error("u8", &f))
    }

    fn vec_from_string(bytes: &[u8]) -> Option<Vec<u8>> {
        Some(bytes.to_vec())
    }
}

impl FromReply for f64 {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        let f = check(frame)?;
        let parsed = match &f {
            Frame::Double(d) => Some(*d),
            Frame::Integer(n) => Some(*n as f64),
            Frame::Bulk(b) | Frame::Simple(b) | Frame::BigNumber(b) => {
                std::str::from_utf8(b).ok().and_then(|s| match s {
                    "inf" | "+inf" => Some(f64::INFINITY),
                    "-inf" => Some(f64::NEG_INFINITY),
                    s => s.parse().ok(),
                })
            }
            _ => None,
        };
        parsed.ok_or_else(|| Error::type_error("f64", &f))
    }
}

impl FromReply for bool {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        let f = check(frame)?;
        match &f {
            Frame::Boolean(b) => Ok(*b),
            Frame::Integer(0) => Ok(false),
            Frame::Integer(1) => Ok(true),
            Frame::Simple(s) if &s[..] == b"OK" => Ok(true),
            Frame::Null => Ok(false),
            Frame::Bulk(b) if &b[..] == b"1" => Ok(true),
            Frame::Bulk(b) if &b[..] == b"0" => Ok(false),
            _ => Err(Error::type_error("bool", &f)),
        }
    }
}

/// `nil` becomes `None`.
impl<T: FromReply> FromReply for Option<T> {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        match check(frame)? {
            Frame::Null => Ok(None),
            f => T::from_reply(f).map(Some),
        }
    }
}

/// Keeps an error reply as a value instead of failing the whole conversion: for the
/// elements of EXEC's and pipelines' arrays, where one command can fail and the rest run
/// (`(Result<i64, Error>, String)`, `Vec<Result<Frame, Error>>`).
impl<T: FromReply> FromReply for Result<T, Error> {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        Ok(T::from_reply(frame))
    }
}

fn elements(f: Frame, expected: &'static str) -> Result<Vec<Frame>, Error> {
    match f {
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => Ok(v),
        Frame::Map(pairs) => Ok(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        Frame::Null => Ok(Vec::new()),
        f => Err(Error::type_error(expected, &f)),
    }
}

impl<T: FromReply> FromReply for Vec<T> {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        let frame = check(frame)?;
        if let Frame::Bulk(b) | Frame::Simple(b) | Frame::Verbatim { text: b, .. } = &frame {
            if let Some(v) = T::vec_from_string(b) {
                return Ok(v);
            }
        }
        elements(frame, "array")?
            .into_iter()
            .map(T::from_reply)
            .collect()
    }
}

impl<T: FromReply + Eq + Hash> FromReply for HashSet<T> {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        elements(check(frame)?, "set")?
            .into_iter()
            .map(T::from_reply)
            .collect()
    }
}

fn pairs(f: Frame) -> Result<Vec<(Frame, Frame)>, Error> {
    match f {
        Frame::Map(p) => Ok(p),
        Frame::Array(v) if v.len() % 2 == 0 => {
            let mut out = Vec::with_capacity(v.len() / 2);
            let mut it = v.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((k, v));
            }
            Ok(out)
        }
        Frame::Null => Ok(Vec::new()),
        f => Err(Error::type_error("map (or array of pairs)", &f)),
    }
}

impl<K: FromReply + Eq + Hash, V: FromReply> FromReply for HashMap<K, V> {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        pairs(check(frame)?)?
            .into_iter()
            .map(|(k, v)| Ok((K::from_reply(k)?, V::from_reply(v)?)))
            .collect()
    }
}

impl<K: FromReply + Ord, V: FromReply> FromReply for BTreeMap<K, V> {
    fn from_reply(frame: Frame) -> Result<Self, Error> {
        pairs(check(frame)?)?
            .into_iter()
            .map(|(k, v)| Ok((K::from_reply(k)?, V::from_reply(v)?)))
            .collect()
    }
}

macro_rules! tuple_from_reply {
    ($n:literal; $($t:ident),+) => {
        impl<$($t: FromReply),+> FromReply for ($($t,)+) {
            fn from_reply(frame: Frame) -> Result<Self, Error> {
                let f = check(frame)?;
                let desc = describe(&f);
                let v = elements(f, concat!("array of ", $n))?;
                if v.len() != $n {
                    return Err(Error::Type(crate::error::TypeError {
                        expected: concat!("array of ", $n),
                        got: desc,
                    }));
                }
                let mut it = v.into_iter();
                Ok(($($t::from_reply(it.next().unwrap_or(Frame::Null))?,)+))
            }
        }
    };
}
tuple_from_reply!(1; A);
tuple_from_reply!(2; A, B);
tuple_from_reply!(3; A, B, C);
tuple_from_reply!(4; A, B, C, D);
tuple_from_reply!(5; A, B, C, D, E);
tuple_from_reply!(6; A, B, C, D, E, F);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(i64::from_reply(Frame::Integer(5)).unwrap(), 5);
        assert_eq!(i64::from_reply(Frame::bulk("17")).unwrap(), 17);
        assert_eq!(String::from_reply(Frame::bulk("hi")).unwrap(), "hi");
        assert_eq!(Option::<String>::from_reply(Frame::Null).unwrap(), None);
        let e = i64::from_reply(Frame::bulk("abc")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "reply type mismatch: expected i64, got bulk string \"abc\""
        );
        let e = String::from_reply(Frame::Error("WRONGTYPE Operation against a key".into()))
            .unwrap_err();
        assert_eq!(e.server_error().unwrap().code, "WRONGTYPE");
        let m: HashMap<String, i64> =
            HashMap::from_reply(Frame::Array(vec![Frame::bulk("a"), Frame::bulk("1")])).unwrap();
        assert_eq!(m["a"], 1);
        let (a, b): (i64, String) =
            FromReply::from_reply(Frame::Array(vec![Frame::Integer(1), Frame::bulk("x")])).unwrap();
        assert_eq!((a, b.as_str()), (1, "x"));
        let e = <(i64, i64)>::from_reply(Frame::Array(vec![Frame::Integer(1)])).unwrap_err();
        assert!(e.to_string().contains("expected array of 2"));
        assert!(u8::from_reply(Frame::Integer(300)).is_err());
    }

    #[test]
    fn result_elements_keep_an_error_reply_as_a_value() {
        let arr = Frame::Array(vec![Frame::Error("ERR boom".into()), Frame::Integer(2)]);
        let (a, b): (Result<i64, Error>, i64) = FromReply::from_reply(arr).unwrap();
        assert_eq!(a.unwrap_err().server_error().unwrap().message, "boom");
        assert_eq!(b, 2);
    }

    #[test]
    fn vec_of_u8_is_the_bytes_of_a_string_and_other_vecs_are_arrays() {
        let v = Vec::<u8>::from_reply(Frame::bulk("a\x00b")).unwrap();
        assert_eq!(v, b"a\x00b");
        let v = Option::<Vec<u8>>::from_reply(Frame::Null).unwrap();
        assert_eq!(v, None);
        let v = Vec::<i64>::from_reply(Frame::Array(vec![Frame::Integer(7)])).unwrap();
        assert_eq!(v, [7]);
        let e = Vec::<i64>::from_reply(Frame::bulk("7")).unwrap_err();
        assert!(matches!(e, Error::Type(_)), "{e}");
        let v = Vec::<Vec<u8>>::from_reply(Frame::Array(vec![Frame::bulk("x")])).unwrap();
        assert_eq!(v, [b"x".to_vec()]);
    }
}
