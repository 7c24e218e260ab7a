//! What the property tests (`tests/properties.rs`) and the fuzz targets (`fuzz/`) share:
//! driving the frame decoder and the request parser over a byte stream that arrives in
//! chunks, as a client and the server do, and comparing frames with doubles by bits. The
//! fuzz targets include this file with `#[path]`, so it must use nothing but
//! `lockstep_resp` and `bytes`.

// Each includer uses only part of it.
#![allow(dead_code)]

use bytes::{Buf, BytesMut};
use lockstep_resp::request::{Batch, Parsed, ProtocolError, RequestParser};
use lockstep_resp::{DecodeError, Decoder, Frame};

// ---------------------------------------------------------------------------------------
// Frame decoder
// ---------------------------------------------------------------------------------------

/// Frame equality with doubles compared by bits: `-0.0` must stay `-0.0`, and NaN equals
/// NaN.
pub fn same(a: &Frame, b: &Frame) -> bool {
    match (a, b) {
        (Frame::Double(x), Frame::Double(y)) => x.to_bits() == y.to_bits(),
        (Frame::Array(x), Frame::Array(y))
        | (Frame::Set(x), Frame::Set(y))
        | (Frame::Push(x), Frame::Push(y)) => same_all(x, y),
        (Frame::Map(x), Frame::Map(y)) => same_pairs(x, y),
        (
            Frame::Attribute {
                attrs: xa,
                frame: xf,
            },
            Frame::Attribute {
                attrs: ya,
                frame: yf,
            },
        ) => same_pairs(xa, ya) && same(xf, yf),
        _ => a == b,
    }
}

pub fn same_all(a: &[Frame], b: &[Frame]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

fn same_pairs(a: &[(Frame, Frame)], b: &[(Frame, Frame)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ak, av), (bk, bv))| same(ak, bk) && same(av, bv))
}

/// What a decoder made of a byte stream: the frames, the error that stopped it (if any) and
/// how many bytes were left undecoded.
#[derive(Debug)]
pub struct Decoded {
    pub frames: Vec<Frame>,
    pub error: Option<DecodeError>,
    pub left: usize,
}

impl Decoded {
    pub fn same_as(&self, other: &Decoded) -> bool {
        same_all(&self.frames, &other.frames)
            && self.error == other.error
            && (self.error.is_some() || self.left == other.left)
    }
}

/// Feeds the chunks one after the other, decoding every frame each time, as a client does
/// after each read.
pub fn decode_chunks(max_bulk_len: u64, chunks: &[&[u8]]) -> Decoded {
    let mut decoder = Decoder::new(max_bulk_len);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    return Decoded {
                        frames,
                        error: Some(e),
                        left: buf.len(),
                    }
                }
            }
        }
    }
    Decoded {
        frames,
        error: None,
        left: buf.len(),
    }
}

// ---------------------------------------------------------------------------------------
// Request parser
// ---------------------------------------------------------------------------------------

pub type Argv = Vec<Vec<u8>>;

/// What the request parser made of a byte stream.
#[derive(Debug, PartialEq)]
pub struct Requests {
    pub commands: Vec<Argv>,
    pub error: Option<ProtocolError>,
    /// Bytes still buffered for an incomplete command (meaningless after an error).
    pub left: usize,
}

impl Requests {
    pub fn same_as(&self, other: &Requests) -> bool {
        self.commands == other.commands
            && self.error == other.error
            && (self.error.is_some() || self.left == other.left)
    }
}

/// Drives the parser as `server/src/conn.rs` does: append what a read brought, parse every
/// complete command (at most `per_call` per `parse`), take their arguments, then drop the
/// consumed bytes from the front of the buffer and tell the parser so.
pub fn parse_chunks(chunks: &[&[u8]], per_call: usize, authenticated: bool) -> Requests {
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::new();
    let mut batch = Batch::default();
    let mut commands = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let parsed = parser.parse(&mut buf, &mut batch, per_call, authenticated);
            let mut argv = Vec::new();
            for i in 0..batch.len() {
                batch.argv(i, &buf, &mut argv);
                commands.push(argv.iter().map(|a| a.to_vec()).collect());
            }
            batch.clear();
            match parsed {
                Parsed::Full => continue,
                Parsed::NeedMore => break,
                Parsed::Error(error) => {
                    return Requests {
                        commands,
                        error: Some(error),
                        left: buf.len(),
                    }
                }
            }
        }
        buf.advance(parser.consumed());
        parser.discard_consumed();
        assert_eq!(parser.pending(buf.len()), buf.len());
    }
    Requests {
        commands,
        error: None,
        left: buf.len(),
    }
}

// ---------------------------------------------------------------------------------------
// Chunks
// ---------------------------------------------------------------------------------------

/// Cuts `bytes` into pieces of the given sizes (each at most what is left), then the rest.
pub fn cut<'a>(bytes: &'a [u8], pieces: &[u16]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = bytes;
    for &p in pieces {
        let n = (p as usize).min(rest.len());
        let (head, tail) = rest.split_at(n);
        chunks.push(head);
        rest = tail;
    }
    chunks.push(rest);
    chunks
}
