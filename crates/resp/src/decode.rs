//! Incremental decoder of RESP2/RESP3 frames (replies, as a client reads them).
//!
//! Feed it a growing `BytesMut`; it returns a frame once one is complete and leaves the
//! rest in the buffer. It first *scans* (no allocation) to find where the frame ends,
//! remembering how far it got so that a large reply arriving in many reads is scanned once;
//! then it splits exactly that many bytes off and builds the frame over them, so bulk
//! payloads are slices of the read buffer, never copies.
//!
//! It must never panic on any input: every malformed byte is a `DecodeError`.

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::Frame;

/// Why a byte stream is not valid RESP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A type byte that RESP does not define.
    InvalidType(u8),
    /// A length, integer or boolean that does not parse.
    InvalidNumber,
    /// A bulk or aggregate longer than the configured limit.
    TooLong(u64),
    /// A payload not followed by `\r\n`, or a line with a bare `\n`.
    MissingCrlf,
    /// Aggregates nested deeper than the limit.
    TooDeep,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::InvalidType(b) => write!(f, "invalid RESP type byte 0x{b:02x}"),
            DecodeError::InvalidNumber => f.write_str("invalid number in RESP header"),
            DecodeError::TooLong(n) => write!(f, "RESP length {n} exceeds the limit"),
            DecodeError::MissingCrlf => f.write_str("RESP payload not terminated by CRLF"),
            DecodeError::TooDeep => f.write_str("RESP aggregates nested too deeply"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Nesting limit: deep enough for any real reply, shallow enough that recursion is safe.
const MAX_DEPTH: usize = 128;

/// A resumable RESP frame decoder.
#[derive(Debug)]
pub struct Decoder {
    max_bulk_len: u64,
    /// How many bytes of the current frame have been scanned.
    scanned: usize,
    /// Elements still expected by each open aggregate, innermost last.
    open: Vec<u64>,
    /// True once the first header of the current frame was scanned.
    started: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(512 * 1024 * 1024)
    }
}

impl Decoder {
    /// A decoder that refuses bulk strings and aggregates longer than `max_bulk_len`.
    pub fn new(max_bulk_len: u64) -> Decoder {
        Decoder {
            max_bulk_len,
            scanned: 0,
            open: Vec::new(),
            started: false,
        }
    }

    /// Decodes one frame from the front of `buf`, if a whole one is there.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        match self.scan(buf)? {
            None => Ok(None),
            Some(len) => {
                self.scanned = 0;
                self.started = false;
                self.open.clear();
                let mut bytes = buf.split_to(len).freeze();
                let frame = parse(&mut bytes, 0)?;
                Ok(Some(frame))
            }
        }
    }

    /// Advances the scan; returns the whole frame's length once it is complete.
    fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, DecodeError> {
        loop {
            if self.started && self.open.is_empty() {
                return Ok(Some(self.scanned));
            }
            let Some((header, line_end)) = read_line(buf, self.scanned)? else {
                return Ok(None);
            };
            let ty = buf[self.scanned];
            let elements = match ty {
                b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
                    validate_scalar(ty, header)?;
                    self.scanned = line_end;
                    0
                }
                b'$' | b'!' | b'=' => {
                    let n = parse_len(header)?;
                    if n < 0 {
                        if ty != b'$' {
                            return Err(DecodeError::InvalidNumber);
                        }
                        self.scanned = line_end;
                    } else {
                        let n = n as u64;
                        if n > self.max_bulk_len {
                            return Err(DecodeError::TooLong(n));
                        }
                        let end = line_end as u64 + n + 2;
                        if (buf.len() as u64) < end {
                            return Ok(None);
                        }
                        let end = end as usize;
                        if &buf[end - 2..end] != b"\r\n" {
                            return Err(DecodeError::MissingCrlf);
                        }
                        if ty == b'=' && (n < 4 || buf[line_end + 3] != b':') {
                            return Err(DecodeError::InvalidNumber);
                        }
                        self.scanned = end;
                    }
                    0
                }
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    let n = parse_len(header)?;
                    self.scanned = line_end;
                    if n < 0 {
                        if ty != b'*' {
                            return Err(DecodeError::InvalidNumber);
                        }
                        0
                    } else {
                        let n = n as u64;
                        if n > self.max_bulk_len {
                            return Err(DecodeError::TooLong(n));
                        }
                        match ty {
                            b'%' => n * 2,
                            // An attribute is followed by the frame it describes.
                            b'|' => n * 2 + 1,
                            _ => n,
                        }
                    }
                }
                other => return Err(DecodeError::InvalidType(other)),
            };
            // One element of the enclosing aggregate is now done (or opened).
            if let Some(top) = self.open.last_mut() {
                *top -= 1;
            }
            self.started = true;
            if elements > 0 {
                if self.open.len() >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep);
                }
                self.open.push(elements);
            }
            while let Some(&0) = self.open.last() {
                self.open.pop();
            }
        }
    }
}

/// The header line starting at `start` (without its type byte and CRLF) and the offset just
/// past its CRLF, or `None` when the line is not complete yet.
fn read_line(buf: &[u8], start: usize) -> Result<Option<(&[u8], usize)>, DecodeError> {
    if start >= buf.len() {
        return Ok(None);
    }
    match memchr::memchr(b'\n', &buf[start..]) {
        None => Ok(None),
        Some(i) => {
            let nl = start + i;
            if nl < start + 2 || buf[nl - 1] != b'\r' {
                return Err(DecodeError::MissingCrlf);
            }
            Ok(Some((&buf[start + 1..nl - 1], nl + 1)))
        }
    }
}

fn validate_scalar(ty: u8, line: &[u8]) -> Result<(), DecodeError> {
    match ty {
        b':' => parse_i64(line).map(|_| ()),
        b'_' if line.is_empty() => Ok(()),
        b'#' if line == b"t" || line == b"f" => Ok(()),
        b',' => parse_double(line).map(|_| ()),
        b'(' if is_big_number(line) => Ok(()),
        b'+' | b'-' => Ok(()),
        _ => Err(DecodeError::InvalidNumber),
    }
}

fn is_big_number(line: &[u8]) -> bool {
    let digits = line.strip_prefix(b"-").unwrap_or(line);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

fn parse_i64(line: &[u8]) -> Result<i64, DecodeError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(DecodeError::InvalidNumber)
}

fn parse_len(line: &[u8]) -> Result<i64, DecodeError> {
    let n = parse_i64(line)?;
    if n < -1 {
        return Err(DecodeError::InvalidNumber);
    }
    Ok(n)
}

fn parse_double(line: &[u8]) -> Result<f64, DecodeError> {
    match line {
        b"inf" | b"+inf" => Ok(f64::INFINITY),
        b"-inf" => Ok(f64::NEG_INFINITY),
        b"nan" | b"-nan" => Ok(f64::NAN),
        _ => std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or(DecodeError::InvalidNumber),
    }
}

/// Builds the frame at the front of `bytes`, which the scan proved complete and valid.
fn parse(bytes: &mut Bytes, depth: usize) -> Result<Frame, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let nl = memchr::memchr(b'\n', bytes).ok_or(DecodeError::MissingCrlf)?;
    let ty = bytes[0];
    let line = bytes.slice(1..nl - 1);
    bytes.advance(nl + 1);
    let frame = match ty {
        b'+' => Frame::Simple(line),
        b'-' => Frame::Error(line),
        b':' => Frame::Integer(parse_i64(&line)?),
        b'_' => Frame::Null,
        b',' => Frame::Double(parse_double(&line)?),
        b'#' => Frame::Boolean(&line[..] == b"t"),
        b'(' => Frame::BigNumber(line),
        b'$' | b'!' | b'=' => {
            let n = parse_len(&line)?;
            if n < 0 {
                return Ok(Frame::Null);
            }
            let n = n as usize;
            let data = bytes.slice(..n);
            bytes.advance(n + 2);
            match ty {
                b'$' => Frame::Bulk(data),
                b'!' => Frame::Error(data),
                _ => Frame::Verbatim {
                    format: [data[0], data[1], data[2]],
                    text: data.slice(4..),
                },
            }
        }
        b'*' | b'~' | b'>' => {
            let n = parse_len(&line)?;
            if n < 0 {
                return Ok(Frame::Null);
            }
            let items = (0..n)
                .map(|_| parse(bytes, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            match ty {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                _ => Frame::Push(items),
            }
        }
        b'%' | b'|' => {
            let n = parse_len(&line)?.max(0);
            let mut pairs = Vec::with_capacity(n.min(1024) as usize);
            for _ in 0..n {
                let k = parse(bytes, depth + 1)?;
                let v = parse(bytes, depth + 1)?;
                pairs.push((k, v));
            }
            if ty == b'%' {
                Frame::Map(pairs)
            } else {
                let frame = Box::new(parse(bytes, depth + 1)?);
                Frame::Attribute {
                    attrs: pairs,
                    frame,
                }
            }
        }
        other => return Err(DecodeError::InvalidType(other)),
    };
    Ok(frame)
}
