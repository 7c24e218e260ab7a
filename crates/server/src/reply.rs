//! The reply writer: handlers write their replies straight into the connection's output
//! buffer through these methods, in the client's protocol (RESP2 or RESP3). No `Frame` is
//! built and nothing is allocated per reply on the hot path.
//!
//! The RESP2 forms of RESP3-only types follow Redis: a map is a flat array, a set an array,
//! a double a bulk string, a boolean an integer, a null `$-1` (or `*-1` for arrays).

use bytes::{BufMut, BytesMut};
use lockstep_resp::encode::{write_bulk, write_header, write_line};

use crate::util::format_double_g17;

/// Protocol version of a client: 2 or 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Resp2,
    Resp3,
}

/// A connection's pending output and its protocol.
#[derive(Debug)]
pub struct Reply {
    pub buf: BytesMut,
    pub protocol: Protocol,
    /// Error replies written so far (Redis's `total_error_replies`).
    pub errors: u64,
    /// `errors` when the last `dispatch::call` ended: a command counts as failed only for
    /// errors after it (EXEC is not failed by its commands' errors).
    pub errors_counted: u64,
    /// Codes (first words) of the errors written since the last `take_error_codes`, for
    /// INFO errorstats. Errors are rare; this stays empty on the hot path.
    error_codes: Vec<Box<[u8]>>,
}

impl Reply {
    pub fn new(protocol: Protocol) -> Reply {
        Reply::with_capacity(protocol, 16 * 1024)
    }

    /// A small writer, for output meant for another connection.
    pub fn with_capacity(protocol: Protocol, capacity: usize) -> Reply {
        Reply {
            buf: BytesMut::with_capacity(capacity),
            ..Reply::new_empty(protocol)
        }
    }

    fn new_empty(protocol: Protocol) -> Reply {
        Reply {
            buf: BytesMut::new(),
            protocol,
            errors: 0,
            errors_counted: 0,
            error_codes: Vec::new(),
        }
    }

    pub fn resp3(&self) -> bool {
        self.protocol == Protocol::Resp3
    }

    #[inline]
    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }

    #[inline]
    pub fn simple(&mut self, text: &str) {
        write_line(&mut self.buf, b'+', text.as_bytes());
    }

    /// An error reply. `text` starts with its code (`ERR ...`, `WRONGTYPE ...`); CR and LF
    /// inside it become spaces, as Redis does, so a reply can never break the stream.
    pub fn error(&mut self, text: &str) {
        self.error_bytes(text.as_bytes());
    }

    pub fn error_bytes(&mut self, text: &[u8]) {
        self.errors += 1;
        // Redis's afterErrorReply: the code is the text before the first space, looked for
        // in the first 32 bytes; without one, the error counts as ERR.
        let code = match memchr::memchr(b' ', &text[..text.len().min(32)]) {
            Some(end) => &text[..end],
            None => b"ERR",
        };
        self.error_codes.push(code.into());
        self.buf.reserve(text.len() + 3);
        self.buf.put_u8(b'-');
        for &b in text {
            self.buf
                .put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.put_slice(b"\r\n");
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        write_header(&mut self.buf, b':', n);
    }

    #[inline]
    pub fn bulk(&mut self, data: &[u8]) {
        write_bulk(&mut self.buf, data);
    }

    /// A bulk string holding the decimal text of `n`.
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null bulk string (`$-1`), `_` in RESP3.
    #[inline]
    pub fn null(&mut self) {
        self.buf
            .put_slice(if self.resp3() { b"_\r\n" } else { b"$-1\r\n" });
    }

    /// The null array (`*-1`), `_` in RESP3.
    pub fn null_array(&mut self) {
        self.buf
            .put_slice(if self.resp3() { b"_\r\n" } else { b"*-1\r\n" });
    }

    #[inline]
    pub fn array(&mut self, len: usize) {
        write_header(&mut self.buf, b'*', len as i64);
    }

    /// A map of `pairs` key/value pairs; a flat array of twice that in RESP2.
    pub fn map(&mut self, pairs: usize) {
        if self.resp3() {
            write_header(&mut self.buf, b'%', pairs as i64);
        } else {
            write_header(&mut self.buf, b'*', pairs as i64 * 2);
        }
    }

    /// A set; an array in RESP2.
    pub fn set(&mut self, len: usize) {
        let ty = if self.resp3() { b'~' } else { b'*' };
        write_header(&mut self.buf, ty, len as i64);
    }

    /// A push frame; an array in RESP2.
    pub fn push(&mut self, len: usize) {
        let ty = if self.resp3() { b'>' } else { b'*' };
        write_header(&mut self.buf, ty, len as i64);
    }

    /// A double as Redis 7.0 writes it (`%.17g`): a bulk string in RESP2.
    pub fn double(&mut self, d: f64) {
        let text = format_double_g17(d);
        if self.resp3() {
            write_line(&mut self.buf, b',', text.as_bytes());
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn bool(&mut self, b: bool) {
        if self.resp3() {
            self.buf.put_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// A verbatim string (`=len\r\ntxt:...` in RESP3), a bulk string in RESP2.
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3() {
            write_header(&mut self.buf, b'=', text.len() as i64 + 4);
            self.buf.put_slice(b"txt:");
            self.buf.put_slice(text);
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// An array of bulk strings.
    pub fn bulks<I, B>(&mut self, items: I)
    where
        I: ExactSizeIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        self.array(items.len());
        for item in items {
            self.bulk(item.as_ref());
        }
    }

    /// Whether errors were written since the last `take_error_codes`.
    #[inline]
    pub fn has_error_codes(&self) -> bool {
        !self.error_codes.is_empty()
    }

    /// The codes of the errors written since the last call.
    pub fn take_error_codes(&mut self) -> std::vec::Drain<'_, Box<[u8]>> {
        self.error_codes.drain(..)
    }

    /// Bytes written so far; with `truncate`, lets a caller take back a partial reply.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }
}
