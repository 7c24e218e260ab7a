//! The RESP frame decoder on arbitrary bytes: it must never panic, and it must decide the
//! same (frames, then an error or a wait for more) whether the bytes arrive whole or cut
//! into pieces at the points the fuzzer picks.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use lockstep_resp::{DecodeError, Decoder, Frame};

#[derive(Arbitrary, Debug)]
struct Input {
    /// A small limit brings `TooLong` in; `None` is the default 512 MiB.
    max_bulk_len: Option<u8>,
    /// Sizes of the pieces the bytes arrive in (the rest arrives last).
    pieces: Vec<u16>,
    bytes: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let max = input.max_bulk_len.map_or(512 * 1024 * 1024, u64::from);
    let whole = decode(max, &[&input.bytes]);
    let chunks = cut(&input.bytes, &input.pieces);
    let split = decode(max, &chunks);
    assert!(
        same_all(&whole.0, &split.0) && whole.1 == split.1,
        "whole {whole:?} split {split:?}"
    );
});

/// The frames decoded, and the error that stopped the decoder.
type Outcome = (Vec<Frame>, Option<DecodeError>);

fn decode(max_bulk_len: u64, chunks: &[&[u8]]) -> Outcome {
    let mut decoder = Decoder::new(max_bulk_len);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fn cut<'a>(bytes: &'a [u8], pieces: &[u16]) -> Vec<&'a [u8]> {
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

/// Frame equality with doubles compared by bits, so that NaN equals NaN.
fn same(a: &Frame, b: &Frame) -> bool {
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

fn same_all(a: &[Frame], b: &[Frame]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

fn same_pairs(a: &[(Frame, Frame)], b: &[(Frame, Frame)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ak, av), (bk, bv))| same(ak, bk) && same(av, bv))
}
