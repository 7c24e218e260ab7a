//! Differential tests: the same commands go to a real `redis-server` (the oracle) and to
//! lockstep's server, over raw RESP, and the replies must be equal, errors included.
//!
//! Cases live in `tests/cases/*.txt`, one command per line, quoted like redis-cli input.
//! Each `## name` block runs twice (RESP2, then RESP3 after `HELLO 3`) on fresh
//! connections to freshly flushed servers. Directives, on a line of their own:
//!
//! - `!resp2` / `!resp3` (right after the block header): run the block in that protocol only.
//! - `!ignore`: send the next command to both, compare nothing (RANDOMKEY, ...).
//! - `!unordered`: the next reply's array/set/map elements, at any depth, may come in any order.
//! - `!approx N`: the next reply's integers may differ by at most N (TTLs).
//! - `!type`: the next reply need only have the same shape (TIME, INFO, ...).
//! - `!sleep MS`: wait, for expiry cases.
//! - `!pipeline` ... `!end`: write all the commands in between at once, then read every reply.
//! - `!read [@name]`: read one more frame from a connection without sending anything (a
//!   pub/sub message, the further replies of an UNSUBSCRIBE of several channels).
//! - `!raw BYTES`: send these bytes as they are (`\r`, `\n`, `\xHH` escapes) and compare the
//!   one reply (or the close) that follows; `!raw-closed BYTES` also expects the server to
//!   close the connection after its reply.
//!
//! - `!fields KEY...`: the next reply is a list of fields (a map, a flat RESP2 array of
//!   key/value pairs, or CLIENT LIST text: lines of `key=value`); the keys must be the same
//!   and in the same order, and every value the same except those of the named keys (ids,
//!   addresses, ages), which need only have the same type.
//! - `!requirepass PW` (anywhere in a file, for the whole file): run the file against a
//!   second pair of servers started with `--requirepass PW`. Connections start
//!   unauthenticated in RESP2; in RESP3 they are opened with `HELLO 3 AUTH default PW`.
//!
//! `@name COMMAND` sends on connection `name` (created on first use) instead of the main one.
//!
//! Replies are compared byte for byte, as they came off the wire, unless a directive relaxes
//! the comparison of one; a relaxed comparison still compares on the bytes what it does not
//! loosen (a null bulk `$-1` is never a null array `*-1`, a double `,1` never `,1.0`).
//!
//! A relaxation is declared next to the case it applies to, so every difference that is not
//! declared fails the suite. The real redis-server is required: the test fails, loudly, when
//! it cannot be started (set `REDIS_SERVER` to its path if it is not on PATH).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::RedisServer;
use lockstep_resp::{encode_command, Decoder, Frame};
use lockstep_server::{EmbeddedServer, ServerConfig};

const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// One RESP connection that reads whole replies, each with the bytes it came in.
struct Conn {
    stream: TcpStream,
    /// What was read and not yet decoded; the decoder consumes it.
    buf: BytesMut,
    /// The same bytes again, from which each decoded reply's own bytes are split.
    raw: BytesMut,
    decoder: Decoder,
}

/// One reply: the exact bytes it was sent as, and the frame decoded from them.
///
/// Replies are compared on their bytes, because `Frame` forgets how a value was written
/// (`$-1` and `*-1` are both `Frame::Null`, `,1` and `,1.0` the same double, and a NaN
/// double is not even equal to itself). The frame serves the relaxations that read values.
struct Reply {
    raw: Bytes,
    frame: Frame,
}

impl Reply {
    /// The one whole reply that `raw` holds.
    fn parse(raw: Bytes) -> Reply {
        let mut buf = BytesMut::from(&raw[..]);
        let frame = Decoder::default()
            .decode(&mut buf)
            .ok()
            .flatten()
            .expect("bytes of a decoded reply decode again");
        Reply { raw, frame }
    }

    /// The type byte, with the two RESP2 nulls told apart from each other and from `_`.
    fn kind(&self) -> &'static str {
        match (self.raw.first(), self.raw.get(1)) {
            (Some(b'$'), Some(b'-')) => "null-bulk",
            (Some(b'*'), Some(b'-')) => "null-array",
            (Some(b'_'), _) => "null",
            (Some(b'+'), _) => "simple",
            (Some(b'-'), _) => "error",
            (Some(b'!'), _) => "blob-error",
            (Some(b':'), _) => "integer",
            (Some(b'$'), _) => "bulk",
            (Some(b'*'), _) => "array",
            (Some(b'%'), _) => "map",
            (Some(b'~'), _) => "set",
            (Some(b','), _) => "double",
            (Some(b'#'), _) => "boolean",
            (Some(b'('), _) => "bignumber",
            (Some(b'='), _) => "verbatim",
            (Some(b'>'), _) => "push",
            (Some(b'|'), _) => "attribute",
            _ => "unknown",
        }
    }

    /// The elements of an aggregate, each with its own bytes (a map's keys and values
    /// alternate); nothing for a scalar or a null.
    fn items(&self) -> Vec<Reply> {
        let aggregate = matches!(self.kind(), "array" | "map" | "set" | "push" | "attribute");
        let Some(header) = memchr_crlf(&self.raw).filter(|_| aggregate) else {
            return Vec::new();
        };
        let mut rest = self.raw.slice(header..);
        let mut items = Vec::new();
        while !rest.is_empty() {
            let mut buf = BytesMut::from(&rest[..]);
            Decoder::default()
                .decode(&mut buf)
                .ok()
                .flatten()
                .expect("an aggregate's elements decode");
            let used = rest.len() - buf.len();
            items.push(Reply::parse(rest.slice(..used)));
            rest = rest.slice(used..);
        }
        items
    }
}

/// The offset just past the first CRLF.
fn memchr_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n").map(|i| i + 2)
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.raw.escape_ascii())
    }
}

/// What reading a reply produced.
#[derive(Debug)]
enum Outcome {
    Reply(Reply),
    Closed,
    Timeout,
}

impl PartialEq for Outcome {
    fn eq(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Reply(x), Outcome::Reply(y)) => x.raw == y.raw,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Outcome {
    /// The decoded frame, if a reply came.
    fn frame(&self) -> Option<&Frame> {
        match self {
            Outcome::Reply(r) => Some(&r.frame),
            _ => None,
        }
    }
}

impl Conn {
    fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).ok();
        Conn {
            stream,
            buf: BytesMut::new(),
            raw: BytesMut::new(),
            decoder: Decoder::default(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        // A server that already closed is reported by the read that follows.
        let _ = self.stream.write_all(bytes);
    }

    fn read(&mut self) -> Outcome {
        self.read_within(REPLY_TIMEOUT)
    }

    fn read_within(&mut self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        loop {
            let before = self.buf.len();
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(frame)) => {
                    let raw = self.raw.split_to(before - self.buf.len()).freeze();
                    return Outcome::Reply(Reply { raw, frame });
                }
                Ok(None) => {}
                Err(e) => panic!("undecodable reply: {e}"),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Outcome::Timeout;
            }
            self.stream.set_read_timeout(Some(left)).ok();
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Outcome::Closed,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    self.raw.extend_from_slice(&chunk[..n]);
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return Outcome::Timeout
                }
                Err(_) => return Outcome::Closed,
            }
        }
    }

    fn command(&mut self, argv: &[Vec<u8>]) -> Outcome {
        let mut out = BytesMut::new();
        encode_command(argv, &mut out);
        self.send(&out);
        self.read()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum Relax {
    #[default]
    Exact,
    Ignore,
    Unordered,
    Approx(i64),
    Shape,
    /// `!fields`: the keys whose values may differ.
    Fields(&'static [String]),
}

/// One command of a `!pipeline` block and the relaxation its reply is compared under.
type PipelinedCommand = (Vec<Vec<u8>>, Relax);

#[derive(Debug)]
enum Step {
    Command {
        line: usize,
        conn: String,
        argv: Vec<Vec<u8>>,
        relax: Relax,
    },
    Pipeline {
        line: usize,
        commands: Vec<PipelinedCommand>,
    },
    Raw {
        line: usize,
        bytes: Vec<u8>,
        expect_close: bool,
    },
    /// `!read [NAME]`: one more frame from a connection, sending nothing (a pub/sub
    /// message, the rest of a multi-frame reply).
    Read {
        line: usize,
        conn: String,
    },
    Sleep(u64),
}

impl Step {
    /// The case file line the step comes from.
    fn line(&self) -> Option<usize> {
        match self {
            Step::Command { line, .. }
            | Step::Pipeline { line, .. }
            | Step::Raw { line, .. }
            | Step::Read { line, .. } => Some(*line),
            Step::Sleep(_) => None,
        }
    }
}

#[derive(Debug)]
struct Block {
    file: String,
    name: String,
    protocols: Vec<u8>,
    steps: Vec<Step>,
    /// `!requirepass`: the servers' password.
    requirepass: Option<String>,
}

/// Splits a line like redis-cli does: spaces separate, "..." with \n \r \t \xHH escapes,
/// '...' literal.
fn split_line(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let mut arg = Vec::new();
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(format!("unterminated quote in {line:?}")),
                        Some(&c) if c == quote => {
                            i += 1;
                            break;
                        }
                        // Only double quotes have escapes.
                        Some(b'\\') if quote == b'"' => {
                            let (byte, used) = unescape(&bytes[i..])?;
                            arg.push(byte);
                            i += used;
                        }
                        Some(&c) => {
                            arg.push(c);
                            i += 1;
                        }
                    }
                }
            }
            _ => {
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    arg.push(bytes[i]);
                    i += 1;
                }
            }
        }
        args.push(arg);
    }
    Ok(args)
}

/// One backslash escape at the start of `s`: the byte and how many input bytes it used.
fn unescape(s: &[u8]) -> Result<(u8, usize), String> {
    match s.get(1) {
        Some(b'n') => Ok((b'\n', 2)),
        Some(b'r') => Ok((b'\r', 2)),
        Some(b't') => Ok((b'\t', 2)),
        Some(b'0') => Ok((0, 2)),
        Some(b'x') => {
            let hex = s.get(2..4).ok_or("short \\x escape")?;
            let hex = std::str::from_utf8(hex).map_err(|e| e.to_string())?;
            let v = u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
            Ok((v, 4))
        }
        Some(&c) => Ok((c, 2)),
        None => Err("trailing backslash".into()),
    }
}

/// Raw bytes for `!raw`: the rest of the line with escapes.
fn raw_bytes(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let (v, used) = unescape(&b[i..])?;
            out.push(v);
            i += used;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn parse_cases(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).expect("read case file");
    let file = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let mut blocks: Vec<Block> = Vec::new();
    let new_block = |name: &str| Block {
        file: file.clone(),
        name: name.to_string(),
        protocols: vec![2, 3],
        steps: Vec::new(),
        requirepass: None,
    };
    let mut requirepass: Option<String> = None;
    let mut relax = Relax::Exact;
    let mut pipeline: Option<(usize, Vec<PipelinedCommand>)> = None;
    for (n, raw_line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw_line.trim();
        if line.is_empty() || (line.starts_with('#') && !line.starts_with("##")) {
            continue;
        }
        let here = format!("{file}:{line_no}");
        if let Some(name) = line.strip_prefix("##") {
            blocks.push(new_block(name.trim()));
            continue;
        }
        if blocks.is_empty() {
            blocks.push(new_block(&file));
        }
        let block = blocks.last_mut().expect("a block");
        if let Some(directive) = line.strip_prefix('!') {
            let (word, rest) = directive.split_once(' ').unwrap_or((directive, ""));
            match word {
                "resp2" => block.protocols = vec![2],
                "resp3" => block.protocols = vec![3],
                "ignore" => relax = Relax::Ignore,
                "unordered" => relax = Relax::Unordered,
                "type" => relax = Relax::Shape,
                "fields" => {
                    let keys: Vec<String> = rest.split_whitespace().map(String::from).collect();
                    relax = Relax::Fields(Box::leak(keys.into_boxed_slice()));
                }
                "requirepass" => {
                    let pw = rest.trim();
                    assert!(!pw.is_empty(), "{here}: !requirepass PW");
                    requirepass = Some(pw.to_string());
                }
                "approx" => {
                    relax = Relax::Approx(
                        rest.trim()
                            .parse()
                            .unwrap_or_else(|_| panic!("{here}: !approx N")),
                    )
                }
                "sleep" => block.steps.push(Step::Sleep(
                    rest.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{here}: !sleep MS")),
                )),
                "pipeline" => pipeline = Some((line_no, Vec::new())),
                "read" => block.steps.push(Step::Read {
                    line: line_no,
                    conn: rest.trim().trim_start_matches('@').to_string(),
                }),
                "end" => {
                    let (line, commands) = pipeline
                        .take()
                        .unwrap_or_else(|| panic!("{here}: !end without !pipeline"));
                    block.steps.push(Step::Pipeline { line, commands });
                }
                "raw" | "raw-closed" => block.steps.push(Step::Raw {
                    line: line_no,
                    bytes: raw_bytes(rest).unwrap_or_else(|e| panic!("{here}: {e}")),
                    expect_close: word == "raw-closed",
                }),
                other => panic!("{here}: unknown directive !{other}"),
            }
            continue;
        }
        let (conn, command) = match line.strip_prefix('@') {
            Some(rest) => {
                let (name, cmd) = rest
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("{here}: @name COMMAND"));
                (name.to_string(), cmd)
            }
            None => ("main".to_string(), line),
        };
        let argv = split_line(command).unwrap_or_else(|e| panic!("{here}: {e}"));
        let this_relax = std::mem::take(&mut relax);
        match pipeline.as_mut() {
            Some((_, commands)) => commands.push((argv, this_relax)),
            None => block.steps.push(Step::Command {
                line: line_no,
                conn,
                argv,
                relax: this_relax,
            }),
        }
    }
    for block in &mut blocks {
        block.requirepass.clone_from(&requirepass);
    }
    blocks
}

/// Replies compared: byte for byte, unless a relaxation applies to this one.
fn same(expected: &Outcome, actual: &Outcome, relax: Relax) -> bool {
    match relax {
        Relax::Ignore => true,
        Relax::Exact => expected == actual,
        _ => match (expected, actual) {
            (Outcome::Reply(e), Outcome::Reply(a)) => same_reply(e, a, relax),
            _ => expected == actual,
        },
    }
}

/// Replies compared under a relaxation. What the relaxation does not loosen is still
/// compared on the bytes (a `$-1` is never a `*-1`, a `,1` never a `,1.0`).
fn same_reply(e: &Reply, a: &Reply, relax: Relax) -> bool {
    match (&e.frame, &a.frame, relax) {
        (Frame::Integer(x), Frame::Integer(y), Relax::Approx(n)) => (x - y).abs() <= n,
        // Maps too: RESP3's XINFO and XPENDING hold times in maps.
        (Frame::Array(_), Frame::Array(_), Relax::Approx(_))
        | (Frame::Map(_), Frame::Map(_), Relax::Approx(_)) => {
            let (x, y) = (e.items(), a.items());
            x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| same_reply(p, q, relax))
        }
        (_, _, Relax::Unordered) => unordered(e) == unordered(a),
        (_, _, Relax::Shape) => shape(e) == shape(a),
        (_, _, Relax::Fields(keys)) => same_fields(e, a, keys),
        _ => e.raw == a.raw,
    }
}

/// `!fields`: same keys in the same order, same values except for `loose` keys, whose
/// values need only be of the same kind.
fn same_fields(e: &Reply, a: &Reply, loose: &[String]) -> bool {
    let is_loose = |key: &[u8]| loose.iter().any(|k| k.as_bytes() == key);
    let text = |r: &Reply| -> Option<Bytes> {
        match &r.frame {
            Frame::Bulk(t) => Some(t.clone()),
            Frame::Verbatim {
                format: [b't', b'x', b't'],
                text,
            } => Some(text.clone()),
            _ => None,
        }
    };
    if e.kind() == a.kind() {
        if let (Some(x), Some(y)) = (text(e), text(a)) {
            return same_field_lines(&x, &y, is_loose);
        }
    }
    let pairs = |r: &Reply| -> Option<Vec<(Reply, Reply)>> {
        if !matches!(r.kind(), "map" | "array") {
            return None;
        }
        let items = r.items();
        if !items.len().is_multiple_of(2) {
            return None;
        }
        let mut items = items.into_iter();
        let mut pairs = Vec::new();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            pairs.push((k, v));
        }
        Some(pairs)
    };
    match (pairs(e), pairs(a)) {
        (Some(x), Some(y)) => {
            e.kind() == a.kind()
                && x.len() == y.len()
                && x.iter().zip(&y).all(|((kx, vx), (ky, vy))| {
                    kx.raw == ky.raw
                        && (vx.raw == vy.raw
                            || (kx.frame.as_bytes().is_some_and(is_loose)
                                && vx.kind() == vy.kind()))
                })
        }
        _ => e.raw == a.raw,
    }
}

/// `!fields` over text made of lines of space-separated `key=value` fields (CLIENT LIST).
fn same_field_lines(x: &[u8], y: &[u8], is_loose: impl Fn(&[u8]) -> bool) -> bool {
    let lines = |t: &[u8]| -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
        t.split(|&b| b == b'\n')
            .map(|line| {
                line.split(|&b| b == b' ')
                    .map(|field| match field.iter().position(|&b| b == b'=') {
                        Some(i) => (field[..i].to_vec(), field[i + 1..].to_vec()),
                        None => (field.to_vec(), Vec::new()),
                    })
                    .collect()
            })
            .collect()
    };
    let (x, y) = (lines(x), lines(y));
    x.len() == y.len()
        && x.iter().zip(&y).all(|(lx, ly)| {
            lx.len() == ly.len()
                && lx
                    .iter()
                    .zip(ly)
                    .all(|((kx, vx), (ky, vy))| kx == ky && (vx == vy || is_loose(kx)))
        })
}

/// A reply's bytes with the elements of every aggregate, at any depth, in sorted order
/// (a map's pairs kept whole): equal for two replies that differ only in element order
/// (SCAN's key list, KEYS, ...).
fn unordered(r: &Reply) -> Vec<u8> {
    let items = r.items();
    let Some(header) = memchr_crlf(&r.raw).filter(|_| !items.is_empty()) else {
        return r.raw.to_vec();
    };
    let mut parts: Vec<Vec<u8>> = if r.kind() == "map" {
        items
            .chunks(2)
            .map(|kv| kv.iter().flat_map(unordered).collect())
            .collect()
    } else {
        items.iter().map(unordered).collect()
    };
    parts.sort();
    let mut out = r.raw[..header].to_vec();
    out.extend(parts.concat());
    out
}

/// The kind of a reply and, for arrays, sets and pushes, the kinds of its elements.
fn shape(r: &Reply) -> String {
    match r.kind() {
        kind @ ("array" | "set" | "push") => format!(
            "{kind}[{}]",
            r.items()
                .iter()
                .map(Reply::kind)
                .collect::<Vec<_>>()
                .join(",")
        ),
        kind => kind.to_string(),
    }
}

/// Both servers' connections of one block.
struct Pair<'a> {
    ports: (u16, u16),
    protocol: u8,
    password: Option<&'a str>,
    conns: BTreeMap<String, (Conn, Conn)>,
}

impl Pair<'_> {
    fn conn(&mut self, name: &str) -> &mut (Conn, Conn) {
        let (ports, protocol, password) = (self.ports, self.protocol, self.password);
        self.conns.entry(name.to_string()).or_insert_with(|| {
            let mut pair = (Conn::open(ports.0), Conn::open(ports.1));
            if protocol == 3 {
                let mut hello = vec![b"HELLO".to_vec(), b"3".to_vec()];
                if let Some(pw) = password {
                    hello.extend([
                        b"AUTH".to_vec(),
                        b"default".to_vec(),
                        pw.as_bytes().to_vec(),
                    ]);
                }
                pair.0.command(&hello);
                pair.1.command(&hello);
            }
            pair
        })
    }
}

fn show(argv: &[Vec<u8>]) -> String {
    argv.iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_block(block: &Block, protocol: u8, ports: (u16, u16), failures: &mut Vec<String>) -> usize {
    // Start both servers from the same empty state.
    for port in [ports.0, ports.1] {
        let mut c = Conn::open(port);
        if let Some(pw) = &block.requirepass {
            let r = c.command(&[b"AUTH".to_vec(), pw.as_bytes().to_vec()]);
            assert!(
                matches!(r.frame(), Some(Frame::Simple(_))),
                "AUTH on {port}: {r:?}"
            );
        }
        for reset in [&b"FLUSHALL"[..], b"FUNCTION FLUSH"] {
            let argv: Vec<Vec<u8>> = reset.split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
            let r = c.command(&argv);
            assert!(
                matches!(r.frame(), Some(Frame::Simple(_))),
                "{} on {port}: {r:?}",
                String::from_utf8_lossy(reset)
            );
        }
    }
    let mut pair = Pair {
        ports,
        protocol,
        password: block.requirepass.as_deref(),
        conns: BTreeMap::new(),
    };
    let mut compared = 0;
    // `DIFF_TRACE=1` prints every pair of replies compared (run with `--nocapture`).
    let trace = std::env::var_os("DIFF_TRACE").is_some();
    let mut check = |line: usize,
                     what: String,
                     relax: Relax,
                     expected: Outcome,
                     actual: Outcome| {
        compared += 1;
        if trace {
            eprintln!(
                "{}:{line} {what}\n    redis:    {expected:?}\n    lockstep: {actual:?}",
                block.file
            );
        }
        if !same(&expected, &actual, relax) {
            failures.push(format!(
                "{}:{line} [{}] RESP{protocol} {what}\n    redis:    {expected:?}\n    lockstep: {actual:?}",
                block.file, block.name
            ));
        }
    };
    for step in &block.steps {
        match step {
            Step::Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Step::Command {
                line,
                conn,
                argv,
                relax,
            } => {
                let (r, l) = pair.conn(conn);
                let expected = r.command(argv);
                let actual = l.command(argv);
                check(*line, show(argv), *relax, expected, actual);
            }
            Step::Read { line, conn } => {
                let conn = if conn.is_empty() { "main" } else { conn };
                let (r, l) = pair.conn(conn);
                let (expected, actual) = (r.read(), l.read());
                // Reading what never comes would compare two timeouts: a broken case.
                assert_ne!(
                    expected,
                    Outcome::Timeout,
                    "{}:{line}: redis sent nothing for !read",
                    block.file
                );
                check(
                    *line,
                    format!("(read @{conn})"),
                    Relax::Exact,
                    expected,
                    actual,
                );
            }
            Step::Pipeline { line, commands } => {
                let (r, l) = pair.conn("main");
                let mut out = BytesMut::new();
                for (argv, _) in commands {
                    encode_command(argv, &mut out);
                }
                r.send(&out);
                l.send(&out);
                for (argv, relax) in commands {
                    let expected = r.read();
                    let actual = l.read();
                    check(
                        *line,
                        format!("(pipelined) {}", show(argv)),
                        *relax,
                        expected,
                        actual,
                    );
                }
            }
            Step::Raw {
                line,
                bytes,
                expect_close,
            } => {
                let (r, l) = pair.conn("main");
                r.send(bytes);
                l.send(bytes);
                let what = format!("raw {:?}", String::from_utf8_lossy(bytes));
                let (expected, actual) = (r.read(), l.read());
                check(*line, what.clone(), Relax::Exact, expected, actual);
                if *expect_close {
                    let (expected, actual) = (r.read(), l.read());
                    assert_eq!(
                        expected,
                        Outcome::Closed,
                        "{}:{line}: redis did not close",
                        block.file
                    );
                    check(
                        *line,
                        format!("{what} then close"),
                        Relax::Exact,
                        expected,
                        actual,
                    );
                    pair.conns.remove("main");
                }
            }
        }
    }
    let end = block.steps.iter().filter_map(Step::line).max().unwrap_or(0);
    for (name, (r, l)) in &mut pair.conns {
        let unread = flush_unread(r, l);
        let what = format!("(unread at the end of the block @{name})");
        for (expected, actual) in unread {
            check(end, what.clone(), Relax::Exact, expected, actual);
        }
    }
    compared
}

/// What a connection still had to say when its block ended (a reply or a push that no step
/// read), from both servers, in pairs. A `PING` with a marker flushes it: everything redis
/// sends before the answer to that `PING` is compared, so a reply that lockstep sends and
/// redis does not (or the reverse) cannot hide at the end of a block.
fn flush_unread(redis: &mut Conn, ours: &mut Conn) -> Vec<(Outcome, Outcome)> {
    const MARKER: &[u8] = b"lockstep-differential-end-of-block";
    // A blocked client answers nothing; its silence needs no long wait.
    const SILENCE: Duration = Duration::from_millis(200);
    let ping = {
        let mut out = BytesMut::new();
        encode_command(&[b"PING".to_vec(), MARKER.to_vec()], &mut out);
        out
    };
    redis.send(&ping);
    ours.send(&ping);
    let mut pairs = Vec::new();
    loop {
        let expected = redis.read_within(SILENCE);
        let actual = ours.read_within(SILENCE);
        let answered = match &expected {
            // The PING's own answer: its marker (as a bulk, or in RESP2's subscribed
            // `pong` array), or what a connection in MULTI or without AUTH answers.
            Outcome::Reply(r) => {
                r.raw.windows(MARKER.len()).any(|w| w == MARKER)
                    || r.raw[..] == b"+QUEUED\r\n"[..]
                    || r.frame.is_error()
            }
            Outcome::Closed | Outcome::Timeout => true,
        };
        pairs.push((expected, actual));
        if answered {
            return pairs;
        }
    }
}

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/cases")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    // `DIFF_FILTER=strings` runs only the case files whose name contains it.
    if let Ok(filter) = std::env::var("DIFF_FILTER") {
        files.retain(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&filter))
        });
    }
    files
}

#[test]
fn lockstep_replies_like_redis() {
    let redis = RedisServer::start();
    let ours = EmbeddedServer::start(ServerConfig::ephemeral()).expect("start lockstep server");
    let ports = (redis.port, ours.port());
    let mut failures = Vec::new();
    let (mut cases, mut compared) = (0, 0);
    // `!requirepass` files get their own pair of servers, one pair per password.
    let mut with_password: BTreeMap<String, (RedisServer, EmbeddedServer)> = BTreeMap::new();
    for file in case_files() {
        for block in parse_cases(&file) {
            let ports = match &block.requirepass {
                None => ports,
                Some(pw) => {
                    let (redis, ours) = with_password.entry(pw.clone()).or_insert_with(|| {
                        let redis = RedisServer::start_with(&["--requirepass", pw]);
                        let ours = EmbeddedServer::start(ServerConfig {
                            requirepass: Some(pw.clone()),
                            ..ServerConfig::ephemeral()
                        })
                        .expect("start lockstep server with a password");
                        (redis, ours)
                    });
                    (redis.port, ours.port())
                }
            };
            cases += block
                .steps
                .iter()
                .map(|s| match s {
                    Step::Command { .. } | Step::Raw { .. } | Step::Read { .. } => 1,
                    Step::Pipeline { commands, .. } => commands.len(),
                    Step::Sleep(_) => 0,
                })
                .sum::<usize>();
            for &protocol in &block.protocols {
                compared += run_block(&block, protocol, ports, &mut failures);
            }
        }
    }
    for f in &failures {
        eprintln!("MISMATCH {f}");
    }
    eprintln!(
        "differential: {cases} cases, {compared} replies compared, {} mismatches",
        failures.len()
    );
    assert!(cases > 0, "no differential cases found");
    assert!(
        failures.is_empty(),
        "{} replies differ from redis-server",
        failures.len()
    );
}

/// The comparison itself: what `Frame` cannot tell apart, the bytes do, under every relaxation.
#[test]
fn replies_differing_only_in_their_bytes_are_told_apart() {
    let reply = |raw: &'static [u8]| Outcome::Reply(Reply::parse(Bytes::from_static(raw)));
    let relaxations = [
        Relax::Exact,
        Relax::Unordered,
        Relax::Approx(1),
        Relax::Shape,
        Relax::Fields(&[]),
    ];
    let pairs: &[(&[u8], &[u8])] = &[
        (b"$-1\r\n", b"*-1\r\n"),
        (b"$-1\r\n", b"_\r\n"),
        (b"*1\r\n$-1\r\n", b"*1\r\n*-1\r\n"),
        (b"*2\r\n$1\r\nk\r\n$-1\r\n", b"*2\r\n$1\r\nk\r\n*-1\r\n"),
        (b"+OK\r\n", b"$2\r\nOK\r\n"),
        (b"%1\r\n+a\r\n:1\r\n", b"*2\r\n+a\r\n:1\r\n"),
        (b"~1\r\n:1\r\n", b"*1\r\n:1\r\n"),
        (b"-ERR x\r\n", b"!5\r\nERR x\r\n"),
    ];
    for (x, y) in pairs {
        for relax in relaxations {
            assert!(
                !same(&reply(x), &reply(y), relax),
                "{:?} and {:?} pass under {relax:?}",
                x.escape_ascii().to_string(),
                y.escape_ascii().to_string()
            );
        }
    }
    let exact_only: &[(&[u8], &[u8])] = &[
        (b",1\r\n", b",1.0\r\n"),
        (b"(10\r\n", b"(010\r\n"),
        (b"=7\r\ntxt:abc\r\n", b"=7\r\nmkd:abc\r\n"),
        (b",nan\r\n", b",-nan\r\n"),
    ];
    for (x, y) in exact_only {
        assert!(!same(&reply(x), &reply(y), Relax::Exact));
        assert!(!same(&reply(x), &reply(y), Relax::Unordered));
    }
    assert!(same(&reply(b",nan\r\n"), &reply(b",nan\r\n"), Relax::Exact));
    assert!(same(
        &reply(b"*2\r\n$-1\r\n:1\r\n"),
        &reply(b"*2\r\n:1\r\n$-1\r\n"),
        Relax::Unordered
    ));
}

/// INFO commandstats and errorstats: the same lines as Redis after the same commands, with
/// the timings masked and the lines sorted (Redis lists commands in hash order).
#[test]
fn command_and_error_stats_count_like_redis() {
    let redis = RedisServer::start();
    let ours = EmbeddedServer::start(ServerConfig::ephemeral()).expect("start lockstep server");
    let stats = |port: u16| -> Vec<String> {
        let mut c = Conn::open(port);
        let script: &[&[&str]] = &[
            &["CONFIG", "RESETSTAT"],
            &["SET", "a", "1"],
            &["GET"],
            &["INCR", "a"],
            &["SET", "s", "x"],
            &["INCR", "s"],
            &["NOSUCH"],
            &["CLIENT", "KILL", "1.1.1.1:1"],
            &["CLIENT", "NOSUCH"],
            &["HELLO", "4"],
            // EXEC counts its commands (and their failures) and itself, not failed;
            // a refused command inside MULTI is rejected, and so is the EXEC after it.
            &["MULTI"],
            &["SET", "t", "1"],
            &["INCR", "s"],
            &["LPUSH", "t", "x"],
            &["EXEC"],
            &["MULTI"],
            &["GET"],
            &["EXEC"],
            &["MULTI"],
            &["EXEC", "extra"],
            &["WATCH", "a"],
            &["UNWATCH"],
        ];
        for argv in script {
            let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
            c.command(&argv);
        }
        let mut lines = Vec::new();
        for section in ["commandstats", "errorstats"] {
            let reply = c.command(&[b"INFO".to_vec(), section.as_bytes().to_vec()]);
            let Some(Frame::Bulk(text)) = reply.frame() else {
                panic!("INFO {section}: {reply:?}");
            };
            for line in String::from_utf8_lossy(text).lines() {
                let masked: Vec<String> = line
                    .split(',')
                    .map(|field| match field.split_once('=') {
                        Some((k, _)) if k.ends_with("usec") || k == "usec_per_call" => {
                            format!("{k}=#")
                        }
                        _ => field.to_string(),
                    })
                    .collect();
                lines.push(masked.join(","));
            }
        }
        lines.sort();
        lines
    };
    let expected = stats(redis.port);
    assert!(
        expected.iter().any(|l| l.starts_with("errorstat_NOPROTO")),
        "{expected:?}"
    );
    assert_eq!(stats(ours.port()), expected);
}

/// The generated tables are what their generators find in the redis-server this suite
/// runs against: the command table of `crates/commands` (scripts/gen-commands) and CONFIG's
/// parameter table, `config/params.rs` (scripts/gen-config).
#[test]
fn generated_tables_are_what_redis_answers() {
    let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    for generator in ["gen-commands", "gen-config"] {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scripts")
            .join(generator);
        let out = Command::new(&script)
            .args(["--check", "--redis-server", &binary])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} --check failed:\n{}{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
