//! The server's request parser on arbitrary bytes, driven as the server's connection loop
//! drives it. It must never panic; it must parse the same commands and stop at the same
//! error whether the bytes arrive whole or in pieces; and every command it parses, sent
//! again as a multibulk, must parse back to the same arguments.

#![no_main]

use bytes::{Buf, BytesMut};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use lockstep_resp::encode_command;
use lockstep_resp::request::{Batch, Parsed, ProtocolError, RequestParser, INLINE_MAX_SIZE};

#[derive(Arbitrary, Debug)]
struct Input {
    authenticated: bool,
    /// Most commands per `parse` call in the split run (0 means no limit).
    per_call: u8,
    /// Sizes of the pieces the bytes arrive in (the rest arrives last).
    pieces: Vec<u16>,
    bytes: Vec<u8>,
}

type Argv = Vec<Vec<u8>>;

#[derive(Debug, PartialEq)]
struct Outcome {
    commands: Vec<Argv>,
    error: Option<ProtocolError>,
}

fuzz_target!(|input: Input| {
    let whole = parse(&[&input.bytes], usize::MAX, input.authenticated);
    let per_call = match input.per_call {
        0 => usize::MAX,
        n => n as usize,
    };
    let split = parse(
        &cut(&input.bytes, &input.pieces),
        per_call,
        input.authenticated,
    );
    // Past 64 KiB without a line end, when the "too big" errors fire depends on how the
    // bytes arrive (in Redis too), so only shorter inputs must agree exactly.
    if input.bytes.len() <= INLINE_MAX_SIZE {
        assert_eq!(whole, split);
    }

    let mut again = BytesMut::new();
    for argv in &whole.commands {
        encode_command(argv, &mut again);
    }
    let reparsed = parse(&[&again], usize::MAX, true);
    assert_eq!(reparsed.error, None);
    assert_eq!(reparsed.commands, whole.commands);
});

fn parse(chunks: &[&[u8]], per_call: usize, authenticated: bool) -> Outcome {
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
                Parsed::Error(e) => {
                    return Outcome {
                        commands,
                        error: Some(e),
                    }
                }
            }
        }
        buf.advance(parser.consumed());
        parser.discard_consumed();
    }
    Outcome {
        commands,
        error: None,
    }
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
