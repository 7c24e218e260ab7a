//! The server's request parser on arbitrary bytes, driven as the server's connection loop
//! drives it. It must never panic; it must parse the same commands and stop at the same
//! error whether the bytes arrive whole or in pieces; and every command it parses, sent
//! again as a multibulk, must parse back to the same arguments.

#![no_main]

#[path = "../../crates/resp/tests/oracle/mod.rs"]
mod oracle;

use bytes::BytesMut;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use lockstep_resp::encode_command;
use lockstep_resp::request::INLINE_MAX_SIZE;
use oracle::{cut, parse_chunks};

#[derive(Arbitrary, Debug)]
struct Input {
    authenticated: bool,
    /// Most commands per `parse` call in the split run (0 means no limit).
    per_call: u8,
    /// Sizes of the pieces the bytes arrive in (the rest arrives last).
    pieces: Vec<u16>,
    bytes: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let whole = parse_chunks(&[&input.bytes], usize::MAX, input.authenticated);
    let per_call = match input.per_call {
        0 => usize::MAX,
        n => n as usize,
    };
    let split = parse_chunks(
        &cut(&input.bytes, &input.pieces),
        per_call,
        input.authenticated,
    );
    // Past 64 KiB without a line end, when the "too big" errors fire depends on how the
    // bytes arrive (in Redis too), so only shorter inputs must agree exactly.
    // What is left buffered after an error means nothing, so it is not compared.
    if input.bytes.len() <= INLINE_MAX_SIZE {
        assert_eq!(
            (&whole.commands, &whole.error),
            (&split.commands, &split.error)
        );
    }

    let mut again = BytesMut::new();
    for argv in &whole.commands {
        encode_command(argv, &mut again);
    }
    let reparsed = parse_chunks(&[&again], usize::MAX, true);
    assert_eq!(reparsed.error, None);
    assert_eq!(reparsed.commands, whole.commands);
});
