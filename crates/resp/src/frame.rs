//! The RESP value model shared by the client (replies) and tests.
//!
//! One `Frame` per RESP2/RESP3 type. The server never builds frames on its hot path (it
//! writes replies straight into its output buffer, see `encode`); frames are for code that
//! wants a value to look at.

use bytes::Bytes;

/// One RESP value, RESP2 and RESP3 types alike.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `+OK`
    Simple(Bytes),
    /// `-ERR message` (RESP2 and RESP3) or `!len` blob error (RESP3).
    Error(Bytes),
    /// `:42`
    Integer(i64),
    /// `$len` payload.
    Bulk(Bytes),
    /// `*len` elements.
    Array(Vec<Frame>),
    /// `$-1` and `*-1` in RESP2, `_` in RESP3.
    Null,
    /// `%len` key/value pairs (RESP3).
    Map(Vec<(Frame, Frame)>),
    /// `~len` elements (RESP3).
    Set(Vec<Frame>),
    /// `,1.5` (RESP3).
    Double(f64),
    /// `#t` / `#f` (RESP3).
    Boolean(bool),
    /// `(123...` (RESP3), kept as its decimal text.
    BigNumber(Bytes),
    /// `=len` with a three-letter format, e.g. `txt` (RESP3).
    Verbatim { format: [u8; 3], text: Bytes },
    /// `>len` out-of-band data such as pub/sub messages (RESP3).
    Push(Vec<Frame>),
    /// `|len` attributes attached to the frame that follows (RESP3).
    Attribute {
        attrs: Vec<(Frame, Frame)>,
        frame: Box<Frame>,
    },
}

impl Frame {
    /// A bulk string frame from anything byte-like.
    pub fn bulk(data: impl Into<Bytes>) -> Frame {
        Frame::Bulk(data.into())
    }

    /// A simple string frame.
    pub fn simple(text: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(text.as_bytes()))
    }

    /// A command as clients send it: an array of bulk strings.
    pub fn command<I, A>(args: I) -> Frame
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        Frame::Array(
            args.into_iter()
                .map(|a| Frame::Bulk(Bytes::copy_from_slice(a.as_ref())))
                .collect(),
        )
    }

    /// True for `-` and `!` errors.
    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }

    /// The frame's bytes when it is a string of any kind (simple, bulk, verbatim, error).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Frame::Simple(b) | Frame::Bulk(b) | Frame::Error(b) | Frame::BigNumber(b) => Some(b),
            Frame::Verbatim { text, .. } => Some(text),
            _ => None,
        }
    }
}
