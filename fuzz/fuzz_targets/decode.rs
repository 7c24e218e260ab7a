//! The RESP frame decoder on arbitrary bytes: it must never panic, and it must decide the
//! same (frames, then an error or a wait for more) whether the bytes arrive whole or cut
//! into pieces at the points the fuzzer picks.

#![no_main]

#[path = "../../crates/resp/tests/oracle/mod.rs"]
mod oracle;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use oracle::{cut, decode_chunks, same_all};

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
    let whole = decode_chunks(max, &[&input.bytes]);
    let chunks = cut(&input.bytes, &input.pieces);
    let split = decode_chunks(max, &chunks);
    assert!(
        same_all(&whole.frames, &split.frames) && whole.error == split.error,
        "whole {whole:?} split {split:?}"
    );
});
