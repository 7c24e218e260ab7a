//! Writing RESP: whole frames, and the small header writers that the server uses to
//! write replies straight into its output buffer without building a `Frame` first.

use bytes::{BufMut, BytesMut};

use crate::frame::Frame;

/// Writes `<ty><n>\r\n`.
#[inline]
pub fn write_header(out: &mut BytesMut, ty: u8, n: i64) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n).as_bytes();
    out.reserve(digits.len() + 3);
    out.put_u8(ty);
    out.put_slice(digits);
    out.put_slice(b"\r\n");
}

/// Writes a bulk string: `$<len>\r\n<data>\r\n`.
#[inline]
pub fn write_bulk(out: &mut BytesMut, data: &[u8]) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(data.len()).as_bytes();
    out.reserve(digits.len() + data.len() + 5);
    out.put_u8(b'$');
    out.put_slice(digits);
    out.put_slice(b"\r\n");
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Writes a line frame such as `+OK\r\n` or `-ERR ...\r\n`.
#[inline]
pub fn write_line(out: &mut BytesMut, ty: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(ty);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

/// Formats a double as RESP3 and Redis do: `inf`, `-inf`, `nan`, or the shortest text that
/// reads back as the same value.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        "nan".to_string()
    } else if d.is_infinite() {
        if d > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        let s = format!("{d}");
        s
    }
}

/// Encodes a whole frame.
pub fn encode(frame: &Frame, out: &mut BytesMut) {
    match frame {
        Frame::Simple(s) => write_line(out, b'+', s),
        Frame::Error(e) => write_line(out, b'-', e),
        Frame::Integer(n) => write_header(out, b':', *n),
        Frame::Bulk(b) => write_bulk(out, b),
        Frame::Null => out.put_slice(b"_\r\n"),
        Frame::Double(d) => write_line(out, b',', format_double(*d).as_bytes()),
        Frame::Boolean(b) => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Frame::BigNumber(n) => write_line(out, b'(', n),
        Frame::Verbatim { format, text } => {
            write_header(out, b'=', text.len() as i64 + 4);
            out.put_slice(format);
            out.put_u8(b':');
            out.put_slice(text);
            out.put_slice(b"\r\n");
        }
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            let ty = match frame {
                Frame::Array(_) => b'*',
                Frame::Set(_) => b'~',
                _ => b'>',
            };
            write_header(out, ty, items.len() as i64);
            for item in items {
                encode(item, out);
            }
        }
        Frame::Map(pairs) => {
            write_header(out, b'%', pairs.len() as i64);
            for (k, v) in pairs {
                encode(k, out);
                encode(v, out);
            }
        }
        Frame::Attribute { attrs, frame } => {
            write_header(out, b'|', attrs.len() as i64);
            for (k, v) in attrs {
                encode(k, out);
                encode(v, out);
            }
            encode(frame, out);
        }
    }
}

/// Encodes a command (an array of bulk strings) as a client sends it.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    write_header(out, b'*', args.len() as i64);
    for a in args {
        write_bulk(out, a.as_ref());
    }
}
