//! Properties of the RESP codec and the server's request parser, and the exact Redis 7.0
//! behaviour of every protocol error and inline-command quirk.
//!
//! The properties: what we encode decodes back to the same frame, and the decoder and the
//! request parser give the same result whether their input arrives whole or in pieces, valid
//! or not. The examples pin each `ProtocolError` and inline quirk to what redis-server 7.0.15
//! does: every expected reply below is the byte string it sent back to a raw socket.

mod oracle;

use bytes::{Bytes, BytesMut};
use lockstep_resp::request::{Batch, Parsed, ProtocolError, RequestParser, INLINE_MAX_SIZE};
use lockstep_resp::{encode, encode_command, DecodeError, Decoder, Frame};
use oracle::{decode_chunks, parse_chunks, same, same_all, Argv, Requests};
use proptest::collection::vec;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// Bytes with the ones that matter to RESP (line ends, type bytes, NUL, quotes) over-
/// represented, so that generated payloads often look like protocol.
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => any::<u8>(),
        1 => prop::sample::select(b"\r\n$*+-:_,#(=%~>|!\"'\\ \x00x0".to_vec()),
    ]
}

fn blob(max: usize) -> impl Strategy<Value = Bytes> {
    vec(byte(), 0..max).prop_map(Bytes::from)
}

/// The text of a simple string or error: one line, so anything but CR and LF.
fn line() -> impl Strategy<Value = Bytes> {
    vec(byte(), 0..24).prop_map(|mut v| {
        for b in &mut v {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        Bytes::from(v)
    })
}

/// Any double but NaN (NaN != NaN; it has its own test).
fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_map(|d| if d.is_nan() { 0.5 } else { d }),
        prop::sample::select(vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
            1e-320,
            1.5,
        ]),
    ]
}

/// Every RESP2/RESP3 frame type, nested a few levels deep.
fn frame() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        line().prop_map(Frame::Simple),
        line().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        blob(48).prop_map(Frame::Bulk),
        Just(Frame::Null),
        double().prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "-?[0-9]{1,40}".prop_map(|s| Frame::BigNumber(Bytes::from(s))),
        (any::<[u8; 3]>(), blob(32)).prop_map(|(format, text)| Frame::Verbatim { format, text }),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Frame::Array),
            vec(inner.clone(), 0..5).prop_map(Frame::Set),
            vec(inner.clone(), 0..5).prop_map(Frame::Push),
            vec((inner.clone(), inner.clone()), 0..4).prop_map(Frame::Map),
            (vec((inner.clone(), inner.clone()), 0..3), inner).prop_map(|(attrs, frame)| {
                Frame::Attribute {
                    attrs,
                    frame: Box::new(frame),
                }
            }),
        ]
    })
}

/// One edit of a byte string: replace, insert or delete a byte at a position.
#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), byte()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), byte()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

fn apply_edits(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        match *e {
            Edit::Replace(i, b) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] = b;
            }
            Edit::Insert(i, b) => {
                let i = i % (bytes.len() + 1);
                bytes.insert(i, b);
            }
            Edit::Delete(i) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes.remove(i);
            }
            _ => {}
        }
    }
    bytes
}

/// Cuts `bytes` at the given points (taken modulo its length), in order.
fn split_at_points<'a>(bytes: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for c in cuts {
        chunks.push(&bytes[from..c]);
        from = c;
    }
    chunks.push(&bytes[from..]);
    chunks
}

/// Appends `n` copies of `b`.
fn pad(v: &mut Vec<u8>, b: u8, n: usize) {
    v.resize(v.len() + n, b);
}

/// Every split point, for short inputs: one byte at a time.
fn bytewise(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.chunks(1).collect()
}

// ---------------------------------------------------------------------------------------
// Frame decoder
// ---------------------------------------------------------------------------------------

fn encoded(frames: &[Frame]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for f in frames {
        encode(f, &mut out);
    }
    out.to_vec()
}

proptest! {
    #[test]
    fn any_frame_decodes_back_to_itself(f in frame()) {
        let bytes = encoded(std::slice::from_ref(&f));
        let mut buf = BytesMut::from(&bytes[..]);
        let decoded = Decoder::default().decode(&mut buf);
        let Ok(Some(back)) = decoded else {
            return Err(TestCaseError::fail(format!("{decoded:?} from {bytes:?}")));
        };
        prop_assert!(same(&f, &back), "{f:?} came back as {back:?}");
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn frames_split_anywhere_decode_as_when_whole(
        frames in vec(frame(), 1..6),
        points in vec(any::<usize>(), 0..12),
    ) {
        let bytes = encoded(&frames);
        let whole = decode_chunks(u64::MAX, &[&bytes]);
        prop_assert!(whole.error.is_none(), "{whole:?}");
        prop_assert!(same_all(&whole.frames, &frames));
        prop_assert_eq!(whole.left, 0);
        let split = decode_chunks(u64::MAX, &split_at_points(&bytes, &points));
        prop_assert!(split.same_as(&whole), "split {split:?} whole {whole:?}");
    }

    #[test]
    fn a_frame_fed_byte_by_byte_decodes_as_when_whole(f in frame()) {
        let bytes = encoded(std::slice::from_ref(&f));
        let whole = decode_chunks(u64::MAX, &[&bytes]);
        let split = decode_chunks(u64::MAX, &bytewise(&bytes));
        prop_assert!(split.same_as(&whole), "split {split:?} whole {whole:?}");
    }

    /// Damaged frames: whatever the decoder decides (frames, then an error or a wait), it
    /// decides the same however the bytes arrive. A small length limit brings `TooLong` in.
    #[test]
    fn damaged_frames_split_anywhere_decode_as_when_whole(
        frames in vec(frame(), 1..5),
        edits in vec(edit(), 1..6),
        points in vec(any::<usize>(), 0..12),
        max_bulk_len in prop_oneof![Just(u64::MAX), 0u64..40],
    ) {
        let bytes = apply_edits(encoded(&frames), &edits);
        let whole = decode_chunks(max_bulk_len, &[&bytes]);
        let split = decode_chunks(max_bulk_len, &split_at_points(&bytes, &points));
        prop_assert!(split.same_as(&whole), "split {split:?} whole {whole:?} of {bytes:?}");
    }

    #[test]
    fn random_bytes_split_anywhere_decode_as_when_whole(
        bytes in vec(byte(), 0..256),
        points in vec(any::<usize>(), 0..12),
    ) {
        let whole = decode_chunks(u64::MAX, &[&bytes]);
        let split = decode_chunks(u64::MAX, &split_at_points(&bytes, &points));
        prop_assert!(split.same_as(&whole), "split {split:?} whole {whole:?} of {bytes:?}");
    }

    /// Every NaN, whatever its sign and payload, is written `,nan` and reads back as a NaN.
    #[test]
    fn any_nan_encodes_as_nan_and_decodes_to_nan(payload in any::<u64>()) {
        let nan = f64::from_bits(0x7ff8_0000_0000_0000 | (payload & 0x800f_ffff_ffff_ffff));
        prop_assert!(nan.is_nan());
        let bytes = encoded(&[Frame::Double(nan)]);
        prop_assert_eq!(&bytes[..], b",nan\r\n");
        let mut buf = BytesMut::from(&bytes[..]);
        let back = Decoder::default().decode(&mut buf);
        prop_assert!(matches!(back, Ok(Some(Frame::Double(d))) if d.is_nan()), "{back:?}");
    }
}

#[test]
fn resp3_nan_spellings_decode_to_nan() {
    for text in [&b",nan\r\n"[..], b",-nan\r\n"] {
        let mut buf = BytesMut::from(text);
        let back = Decoder::default().decode(&mut buf);
        assert!(
            matches!(back, Ok(Some(Frame::Double(d))) if d.is_nan()),
            "{back:?}"
        );
    }
}

#[test]
fn bulk_longer_than_the_limit_is_too_long() {
    let mut buf = BytesMut::from(&b"$11\r\n"[..]);
    assert_eq!(
        Decoder::new(10).decode(&mut buf),
        Err(DecodeError::TooLong(11))
    );
}

#[test]
fn aggregates_nested_past_the_limit_are_too_deep() {
    let mut buf = BytesMut::from("*1\r\n".repeat(200).as_bytes());
    assert_eq!(
        Decoder::default().decode(&mut buf),
        Err(DecodeError::TooDeep)
    );
}

#[test]
fn bare_newline_in_a_header_is_missing_crlf() {
    let mut buf = BytesMut::from(&b"+OK\n"[..]);
    assert_eq!(
        Decoder::default().decode(&mut buf),
        Err(DecodeError::MissingCrlf)
    );
}

// ---------------------------------------------------------------------------------------
// Request parser
// ---------------------------------------------------------------------------------------

fn parse_whole(bytes: &[u8]) -> Requests {
    parse_chunks(&[bytes], usize::MAX, true)
}

/// Asserts that `bytes`, parsed whole, are exactly one command with the arguments `args`.
#[track_caller]
fn assert_parses_to(bytes: &[u8], args: &[&str]) {
    assert_eq!(parse_whole(bytes).commands, vec![argv(args)], "{bytes:?}");
}

fn parse_whole_unauthenticated(bytes: &[u8]) -> Requests {
    parse_chunks(&[bytes], usize::MAX, false)
}

fn argv(args: &[&str]) -> Argv {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

/// The full error reply Redis sends for a protocol error.
fn reply(e: ProtocolError) -> Vec<u8> {
    [&b"-ERR "[..], &e.text_bytes(), b"\r\n"].concat()
}

/// Asserts that each of `inputs`, parsed whole, stops at `error`.
#[track_caller]
fn assert_each_fails_with(inputs: &[&[u8]], error: ProtocolError) {
    for bad in inputs {
        let got = parse_whole(bad).error;
        assert_eq!(got, Some(error), "{:?}", String::from_utf8_lossy(bad));
    }
}

/// How one argument is written in an inline command.
#[derive(Clone, Copy, Debug)]
enum Quoting {
    Bare,
    Double,
    Single,
}

fn is_bare_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_.:-@/".contains(&b)
}

/// Writes an argument so that Redis's `sdssplitargs` reads it back exactly, in the requested
/// style when the argument allows it, in double quotes (which can carry any byte) otherwise.
fn write_inline_arg(arg: &[u8], quoting: Quoting, escape_all: bool, out: &mut Vec<u8>) {
    let bare_ok = !arg.is_empty() && arg.iter().all(|&b| is_bare_safe(b));
    let single_ok = arg.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\');
    match quoting {
        Quoting::Bare if bare_ok => out.extend_from_slice(arg),
        Quoting::Single if single_ok => {
            out.push(b'\'');
            for &b in arg {
                if b == b'\'' {
                    out.extend_from_slice(b"\\'");
                } else {
                    out.push(b);
                }
            }
            out.push(b'\'');
        }
        _ => {
            out.push(b'"');
            for &b in arg {
                match b {
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0x08 => out.extend_from_slice(b"\\b"),
                    0x07 => out.extend_from_slice(b"\\a"),
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b if !escape_all && (0x20..0x7f).contains(&b) => out.push(b),
                    b => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                }
            }
            out.push(b'"');
        }
    }
}

/// One command as the test writes it on the wire.
#[derive(Clone, Debug)]
enum Wire {
    Multibulk(Argv),
    Inline {
        args: Argv,
        quoting: Vec<Quoting>,
        escape_all: bool,
        separators: Vec<&'static [u8]>,
        crlf: bool,
    },
    /// `*0`, `*-1`, an empty or blank line: Redis runs nothing.
    Nothing(&'static [u8]),
}

impl Wire {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Wire::Multibulk(args) => {
                let mut b = BytesMut::new();
                encode_command(args, &mut b);
                out.extend_from_slice(&b);
            }
            Wire::Inline {
                args,
                quoting,
                escape_all,
                separators,
                crlf,
            } => {
                for (i, arg) in args.iter().enumerate() {
                    out.extend_from_slice(separators[i % separators.len()]);
                    write_inline_arg(arg, quoting[i % quoting.len()], *escape_all, out);
                }
                out.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
            }
            Wire::Nothing(bytes) => out.extend_from_slice(bytes),
        }
    }

    fn argv(&self) -> Option<&Argv> {
        match self {
            Wire::Multibulk(args) | Wire::Inline { args, .. } => Some(args),
            Wire::Nothing(_) => None,
        }
    }
}

fn args() -> impl Strategy<Value = Argv> {
    vec(vec(byte(), 0..40), 1..7)
}

fn wire() -> impl Strategy<Value = Wire> {
    let quoting = prop_oneof![
        Just(Quoting::Bare),
        Just(Quoting::Double),
        Just(Quoting::Single)
    ];
    // Whitespace before a token is anything `isspace`, but only space, tab, CR and LF end a
    // bare token: vertical tab and form feed must come after one of those.
    let separator =
        prop::sample::select(vec![&b" "[..], b"  ", b"\t", b" \t ", b" \x0b", b"\t\x0c"]);
    prop_oneof![
        3 => args().prop_map(Wire::Multibulk),
        3 => (args(), vec(quoting, 1..4), any::<bool>(), vec(separator, 1..4), any::<bool>())
            .prop_map(|(args, quoting, escape_all, separators, crlf)| Wire::Inline {
                args,
                quoting,
                escape_all,
                separators,
                crlf,
            }),
        1 => prop::sample::select(vec![
            &b"*0\r\n"[..],
            b"*-1\r\n",
            b"*-42\r\n",
            b"\r\n",
            b"\n",
            b"  \t\r\n",
        ])
        .prop_map(Wire::Nothing),
    ]
}

fn wire_bytes(commands: &[Wire]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in commands {
        c.write(&mut out);
    }
    out
}

proptest! {
    #[test]
    fn commands_parse_back_to_their_arguments_whole_or_split(
        commands in vec(wire(), 1..10),
        points in vec(any::<usize>(), 0..16),
        per_call in prop_oneof![Just(usize::MAX), 1usize..4],
    ) {
        let bytes = wire_bytes(&commands);
        let expected: Vec<Argv> = commands.iter().filter_map(|c| c.argv().cloned()).collect();
        let whole = parse_chunks(&[&bytes], usize::MAX, true);
        prop_assert_eq!(&whole.commands, &expected);
        prop_assert_eq!(whole.error, None);
        prop_assert_eq!(whole.left, 0);
        let split = parse_chunks(&split_at_points(&bytes, &points), per_call, true);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn commands_fed_byte_by_byte_parse_as_when_whole(commands in vec(wire(), 1..4)) {
        let bytes = wire_bytes(&commands);
        let whole = parse_chunks(&[&bytes], usize::MAX, true);
        let split = parse_chunks(&bytewise(&bytes), 1, true);
        prop_assert_eq!(split, whole);
    }

    /// Damaged requests (well under the 64 KiB line limit, whose errors depend on how the
    /// bytes arrive, in Redis too): the same commands and the same error however they arrive.
    #[test]
    fn damaged_requests_split_anywhere_parse_as_when_whole(
        commands in vec(wire(), 1..8),
        edits in vec(edit(), 1..6),
        points in vec(any::<usize>(), 0..16),
        per_call in prop_oneof![Just(usize::MAX), 1usize..4],
        authenticated in any::<bool>(),
    ) {
        let bytes = apply_edits(wire_bytes(&commands), &edits);
        let whole = parse_chunks(&[&bytes], usize::MAX, authenticated);
        let split = parse_chunks(&split_at_points(&bytes, &points), per_call, authenticated);
        prop_assert!(split.same_as(&whole), "split {split:?} whole {whole:?} of {bytes:?}");
    }

    #[test]
    fn random_request_bytes_split_anywhere_parse_as_when_whole(
        bytes in vec(byte(), 0..512),
        points in vec(any::<usize>(), 0..16),
        authenticated in any::<bool>(),
    ) {
        let whole = parse_chunks(&[&bytes], usize::MAX, authenticated);
        let split = parse_chunks(&split_at_points(&bytes, &points), 1, authenticated);
        prop_assert!(split.same_as(&whole), "split {split:?} whole {whole:?} of {bytes:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Protocol errors, with the replies redis-server 7.0.15 sent for the same bytes
// ---------------------------------------------------------------------------------------

#[test]
fn inline_request_longer_than_64k_without_newline_is_too_big() {
    let r = parse_whole(&vec![b'A'; INLINE_MAX_SIZE + 1]);
    assert_eq!(r.error, Some(ProtocolError::TooBigInlineRequest));
    assert_eq!(
        reply(ProtocolError::TooBigInlineRequest),
        b"-ERR Protocol error: too big inline request\r\n"
    );
}

#[test]
fn inline_request_of_exactly_64k_without_newline_waits() {
    let r = parse_whole(&vec![b'A'; INLINE_MAX_SIZE]);
    assert_eq!(r.error, None);
    assert_eq!(r.left, INLINE_MAX_SIZE);
}

#[test]
fn unterminated_double_quote_is_unbalanced() {
    let r = parse_whole(b"SET a \"b\r\n");
    assert_eq!(r.error, Some(ProtocolError::UnbalancedQuotes));
    assert_eq!(
        reply(ProtocolError::UnbalancedQuotes),
        b"-ERR Protocol error: unbalanced quotes in request\r\n"
    );
}

#[test]
fn unterminated_single_quote_is_unbalanced() {
    let r = parse_whole(b"SET a 'b\r\n");
    assert_eq!(r.error, Some(ProtocolError::UnbalancedQuotes));
}

#[test]
fn closing_quote_followed_by_a_non_space_is_unbalanced() {
    assert_eq!(
        parse_whole(b"ECHO \"a\"b\r\n").error,
        Some(ProtocolError::UnbalancedQuotes)
    );
    assert_eq!(
        parse_whole(b"ECHO a\"b c\"d\r\n").error,
        Some(ProtocolError::UnbalancedQuotes)
    );
}

#[test]
fn backslash_before_the_closing_quote_leaves_it_unbalanced() {
    assert_eq!(
        parse_whole(b"ECHO \"a\\\r\n").error,
        Some(ProtocolError::UnbalancedQuotes)
    );
    assert_eq!(
        parse_whole(b"ECHO 'a\\'\r\n").error,
        Some(ProtocolError::UnbalancedQuotes)
    );
}

#[test]
fn commands_before_an_unbalanced_line_are_still_parsed() {
    let r = parse_whole(b"PING\r\nECHO \"x\r\nPING\r\n");
    assert_eq!(r.commands, vec![argv(&["PING"])]);
    assert_eq!(r.error, Some(ProtocolError::UnbalancedQuotes));
}

#[test]
fn multibulk_count_line_longer_than_64k_is_too_big() {
    let mut bytes = b"*".to_vec();
    pad(&mut bytes, b'1', INLINE_MAX_SIZE);
    assert_eq!(
        parse_whole(&bytes).error,
        Some(ProtocolError::TooBigMbulkCount)
    );
    assert_eq!(
        reply(ProtocolError::TooBigMbulkCount),
        b"-ERR Protocol error: too big mbulk count string\r\n"
    );
}

#[test]
fn multibulk_count_line_of_exactly_64k_waits() {
    let mut bytes = b"*".to_vec();
    pad(&mut bytes, b'1', INLINE_MAX_SIZE - 1);
    assert_eq!(parse_whole(&bytes).error, None);
}

#[test]
fn malformed_multibulk_counts_are_invalid() {
    assert_each_fails_with(
        &[
            &b"*abc\r\n"[..],
            b"*\r\n",
            b"*+1\r\n",
            b"*01\r\n",
            b"* 1\r\n",
            b"*2147483648\r\n",
            b"*99999999999999999999\r\n",
        ],
        ProtocolError::InvalidMultibulkLength,
    );
    assert_eq!(
        reply(ProtocolError::InvalidMultibulkLength),
        b"-ERR Protocol error: invalid multibulk length\r\n"
    );
}

#[test]
fn multibulk_count_of_int_max_is_accepted_and_waits_for_arguments() {
    let r = parse_whole(b"*2147483647\r\n$4\r\nPING\r\n");
    assert_eq!(r.error, None);
    assert!(r.commands.is_empty());
}

#[test]
fn zero_and_negative_multibulk_counts_are_empty_commands() {
    let r = parse_whole(b"*0\r\n*-1\r\n*-5\r\n$4\r\nPING\r\n");
    // After `*-5` the `$4` line is an inline command of its own, as in Redis.
    assert_eq!(r.commands, vec![argv(&["$4"]), argv(&["PING"])]);
    assert_eq!(r.error, None);
    assert_eq!(r.left, 0);
}

#[test]
fn more_than_ten_arguments_before_auth_is_refused() {
    let r = parse_whole_unauthenticated(b"*11\r\n");
    assert_eq!(r.error, Some(ProtocolError::UnauthenticatedMultibulkLength));
    assert_eq!(
        reply(ProtocolError::UnauthenticatedMultibulkLength),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
}

#[test]
fn ten_arguments_before_auth_are_allowed() {
    let mut bytes = BytesMut::new();
    encode_command(&["a"; 10], &mut bytes);
    let r = parse_whole_unauthenticated(&bytes);
    assert_eq!(r.commands, vec![argv(&["a"; 10])]);
    assert_eq!(r.error, None);
}

#[test]
fn eleven_arguments_after_auth_are_allowed() {
    let mut bytes = BytesMut::new();
    encode_command(&["a"; 11], &mut bytes);
    assert_parses_to(&bytes, &["a"; 11]);
}

#[test]
fn bulk_count_line_longer_than_64k_is_too_big() {
    let mut bytes = b"*1\r\n$".to_vec();
    pad(&mut bytes, b'1', INLINE_MAX_SIZE);
    assert_eq!(
        parse_whole(&bytes).error,
        Some(ProtocolError::TooBigBulkCount)
    );
    assert_eq!(
        reply(ProtocolError::TooBigBulkCount),
        b"-ERR Protocol error: too big bulk count string\r\n"
    );
}

#[test]
fn argument_not_starting_with_dollar_is_refused_with_the_byte_found() {
    let r = parse_whole(b"*1\r\n+PING\r\n");
    assert_eq!(r.error, Some(ProtocolError::ExpectedDollar(b'+')));
    assert_eq!(
        reply(ProtocolError::ExpectedDollar(b'+')),
        b"-ERR Protocol error: expected '$', got '+'\r\n"
    );
}

#[test]
fn expected_dollar_shows_cr_and_lf_as_spaces() {
    assert_eq!(
        parse_whole(b"*1\r\n\r\n").error,
        Some(ProtocolError::ExpectedDollar(b'\r'))
    );
    assert_eq!(
        parse_whole(b"*1\r\n\n\r\n").error,
        Some(ProtocolError::ExpectedDollar(b'\n'))
    );
    for b in [b'\r', b'\n'] {
        assert_eq!(
            reply(ProtocolError::ExpectedDollar(b)),
            b"-ERR Protocol error: expected '$', got ' '\r\n"
        );
    }
}

#[test]
fn expected_dollar_sends_a_non_ascii_byte_raw() {
    let r = parse_whole(b"*1\r\n\xffPING\r\n");
    assert_eq!(r.error, Some(ProtocolError::ExpectedDollar(0xff)));
    assert_eq!(
        reply(ProtocolError::ExpectedDollar(0xff)),
        b"-ERR Protocol error: expected '$', got '\xff'\r\n"
    );
}

#[test]
fn malformed_bulk_lengths_are_invalid() {
    assert_each_fails_with(
        &[
            &b"*1\r\n$abc\r\n"[..],
            b"*1\r\n$-1\r\n",
            b"*1\r\n$\r\n",
            b"*1\r\n$+4\r\n",
            b"*1\r\n$3000000000\r\n",
            b"*1\r\n$536870913\r\n",
        ],
        ProtocolError::InvalidBulkLength,
    );
    assert_eq!(
        reply(ProtocolError::InvalidBulkLength),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
}

#[test]
fn bulk_of_exactly_proto_max_bulk_len_is_accepted_and_waits() {
    let r = parse_whole(b"*1\r\n$536870912\r\n");
    assert_eq!(r.error, None);
    assert!(r.commands.is_empty());
}

#[test]
fn bulk_longer_than_a_lowered_max_bulk_len_is_invalid() {
    let mut parser = RequestParser::default();
    parser.set_max_bulk_len(3);
    let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\n"[..]);
    let mut batch = Batch::default();
    assert_eq!(
        parser.parse(&mut buf, &mut batch, usize::MAX, true),
        Parsed::Error(ProtocolError::InvalidBulkLength)
    );
}

#[test]
fn bulk_longer_than_16k_before_auth_is_refused() {
    let r = parse_whole_unauthenticated(b"*1\r\n$16385\r\n");
    assert_eq!(r.error, Some(ProtocolError::UnauthenticatedBulkLength));
    assert_eq!(
        reply(ProtocolError::UnauthenticatedBulkLength),
        b"-ERR Protocol error: unauthenticated bulk length\r\n"
    );
}

#[test]
fn bulk_of_16k_before_auth_is_allowed() {
    let big = vec![b'a'; 16384];
    let mut bytes = BytesMut::new();
    encode_command(&[&b"ECHO"[..], &big], &mut bytes);
    let r = parse_whole_unauthenticated(&bytes);
    assert_eq!(r.commands, vec![vec![b"ECHO".to_vec(), big]]);
}

#[test]
fn inline_commands_have_no_unauthenticated_limits() {
    let mut line = b"ECHO".to_vec();
    line.extend(" a".repeat(100).as_bytes());
    line.extend_from_slice(b" ");
    pad(&mut line, b'b', 20000);
    line.extend_from_slice(b"\r\n");
    let r = parse_whole_unauthenticated(&line);
    assert_eq!(r.error, None);
    assert_eq!(r.commands[0].len(), 102);
}

#[test]
fn two_bytes_after_a_bulk_payload_are_skipped_unchecked() {
    let r = parse_whole(b"*1\r\n$4\r\nPINGxxPING\r\n");
    assert_eq!(r.commands, vec![argv(&["PING"]), argv(&["PING"])]);
}

#[test]
fn only_the_first_unauthenticated_limit_breach_is_reported() {
    let r = parse_whole_unauthenticated(b"*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n*11\r\n$16385\r\n");
    assert_eq!(r.commands, vec![argv(&["ECHO", "x"])]);
    assert_eq!(r.error, Some(ProtocolError::UnauthenticatedMultibulkLength));
}

// Redis finds line ends with strchr, which stops at a NUL: a NUL before the end of a header
// or inline line hides the line end, and Redis waits (no reply at all) until the 64 KiB
// limit turns the wait into a "too big" error.

/// Parses `head`, checks that nothing happened, then adds 64 KiB and returns the error.
fn stalls_then(head: &[u8]) -> Option<ProtocolError> {
    let stalled = parse_whole(head);
    assert_eq!(stalled.error, None, "{head:?}");
    assert!(stalled.commands.is_empty(), "{head:?}: {stalled:?}");
    let mut more = head.to_vec();
    pad(&mut more, b'A', INLINE_MAX_SIZE);
    let whole = parse_whole(&more);
    let split = parse_chunks(&[head, &more[head.len()..]], usize::MAX, true);
    assert_eq!(whole, split);
    whole.error
}

#[test]
fn nul_in_an_inline_line_stalls_until_too_big() {
    assert_eq!(
        stalls_then(b"ECHO a\x00b\r\n"),
        Some(ProtocolError::TooBigInlineRequest)
    );
    assert_eq!(
        stalls_then(b"\x00PING\r\n"),
        Some(ProtocolError::TooBigInlineRequest)
    );
}

#[test]
fn nul_in_a_multibulk_count_stalls_until_too_big() {
    assert_eq!(
        stalls_then(b"*1\x00\r\n$4\r\nPING\r\n"),
        Some(ProtocolError::TooBigMbulkCount)
    );
}

#[test]
fn nul_in_a_bulk_header_stalls_until_too_big() {
    assert_eq!(
        stalls_then(b"*1\r\n$4\x00\r\nPING\r\n"),
        Some(ProtocolError::TooBigBulkCount)
    );
    assert_eq!(
        stalls_then(b"*1\r\n\x00PING\r\n"),
        Some(ProtocolError::TooBigBulkCount)
    );
}

#[test]
fn nul_after_a_line_end_does_not_affect_that_line() {
    let r = parse_whole(b"PING\r\n\x00\r\nPING\r\n");
    assert_eq!(r.commands, vec![argv(&["PING"])]);
    assert_eq!(r.error, None);
}

#[test]
fn nul_inside_a_bulk_payload_is_data() {
    let r = parse_whole(b"*2\r\n$4\r\nECHO\r\n$3\r\na\x00b\r\n");
    assert_eq!(r.commands, vec![vec![b"ECHO".to_vec(), b"a\x00b".to_vec()]]);
}

// ---------------------------------------------------------------------------------------
// Inline quirks (each checked against redis-server 7.0.15 through ECHO)
// ---------------------------------------------------------------------------------------

#[test]
fn inline_hex_escapes_in_double_quotes_become_bytes() {
    let r = parse_whole(b"ECHO \"\\x41\\x4a\\xff\\x00\"\r\n");
    assert_eq!(
        r.commands,
        vec![vec![b"ECHO".to_vec(), b"AJ\xff\x00".to_vec()]]
    );
}

#[test]
fn inline_incomplete_hex_escape_keeps_the_x() {
    assert_parses_to(b"ECHO \"\\x4g\"\r\n", &["ECHO", "x4g"]);
    assert_parses_to(b"ECHO \"\\x4\"\r\n", &["ECHO", "x4"]);
}

#[test]
fn inline_backslash_escapes_in_double_quotes() {
    let r = parse_whole(b"ECHO \"\\n\\r\\t\\b\\a\\\"\\\\\\q\"\r\n");
    assert_eq!(
        r.commands,
        vec![vec![b"ECHO".to_vec(), b"\n\r\t\x08\x07\"\\q".to_vec()]]
    );
}

#[test]
fn inline_single_quotes_only_unescape_a_quote() {
    assert_parses_to(b"ECHO 'a\\'b'\r\n", &["ECHO", "a'b"]);
    assert_parses_to(b"ECHO 'a\\nb'\r\n", &["ECHO", "a\\nb"]);
}

#[test]
fn inline_empty_quotes_are_an_empty_argument() {
    assert_parses_to(b"ECHO \"\"\r\n", &["ECHO", ""]);
    assert_parses_to(b"ECHO ''\r\n", &["ECHO", ""]);
}

#[test]
fn inline_quote_inside_a_bare_token_opens_a_quoted_part() {
    assert_parses_to(b"ECHO a\"b c\" d\r\n", &["ECHO", "ab c", "d"]);
    assert_parses_to(b"ECHO a'b c'\r\n", &["ECHO", "ab c"]);
}

#[test]
fn inline_closing_quote_may_be_followed_by_a_tab() {
    assert_parses_to(b"ECHO \"a\"\tb\r\n", &["ECHO", "a", "b"]);
}

#[test]
fn inline_empty_and_blank_lines_are_skipped() {
    let r = parse_whole(b"\r\n\n   \r\n\tPING\r\n");
    assert_eq!(r.commands, vec![argv(&["PING"])]);
    assert_eq!(r.left, 0);
}

#[test]
fn inline_line_may_end_with_lf_or_crlf() {
    let r = parse_whole(b"PING\nPING\r\n");
    assert_eq!(r.commands, vec![argv(&["PING"]), argv(&["PING"])]);
}

#[test]
fn inline_only_one_cr_is_part_of_the_line_end() {
    assert_parses_to(b"PING\r\r\n", &["PING"]);
}

#[test]
fn inline_cr_inside_a_line_separates_tokens() {
    assert_parses_to(b"ECHO a\rb\r\n", &["ECHO", "a", "b"]);
}

#[test]
fn inline_vertical_tab_and_form_feed_only_separate_before_a_token() {
    assert_parses_to(b"\x0bECHO a\r\n", &["ECHO", "a"]);
    assert_parses_to(b"ECHO\x0ba\r\n", &["ECHO\x0ba"]);
    assert_parses_to(b"PING\x0c\r\n", &["PING\x0c"]);
}

#[test]
fn inline_line_starting_with_a_space_and_star_is_inline() {
    assert_parses_to(b" *1\r\n", &["*1"]);
}

#[test]
fn inline_line_without_newline_waits() {
    let r = parse_whole(b"PING");
    assert!(r.commands.is_empty());
    assert_eq!(r.left, 4);
}
