//! The server's request parser: RESP multibulk and inline commands, with Redis 7.0's limits
//! and its exact `Protocol error: ...` texts (after which the server closes the connection).
//!
//! It never copies arguments: a parsed command is a list of spans into the read buffer.
//! Inline commands (`SET a "b c"` typed into telnet) are unescaped in place, which is safe
//! because unescaping never makes a token longer than its source. It keeps its position
//! between reads, so a large command arriving in many pieces is scanned once.

use std::ops::Range;

/// Longest inline request, and longest length line, Redis accepts (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;
/// Default `proto-max-bulk-len`: 512 MiB.
pub const DEFAULT_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
/// Largest multibulk count a client that has not authenticated may send.
pub const UNAUTHENTICATED_MAX_ARGS: i64 = 10;
/// Largest bulk a client that has not authenticated may send.
pub const UNAUTHENTICATED_MAX_BULK: i64 = 16384;

/// A request Redis refuses; the connection is closed after the error reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    TooBigInlineRequest,
    UnbalancedQuotes,
    TooBigMbulkCount,
    InvalidMultibulkLength,
    UnauthenticatedMultibulkLength,
    TooBigBulkCount,
    ExpectedDollar(u8),
    InvalidBulkLength,
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The error text as Redis sends it, without the `ERR ` prefix.
    pub fn text(&self) -> String {
        let what = match self {
            ProtocolError::TooBigInlineRequest => "too big inline request",
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request",
            ProtocolError::TooBigMbulkCount => "too big mbulk count string",
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length",
            ProtocolError::UnauthenticatedMultibulkLength => "unauthenticated multibulk length",
            ProtocolError::TooBigBulkCount => "too big bulk count string",
            ProtocolError::InvalidBulkLength => "invalid bulk length",
            ProtocolError::UnauthenticatedBulkLength => "unauthenticated bulk length",
            ProtocolError::ExpectedDollar(_) => {
                return String::from_utf8_lossy(&self.text_bytes()).into_owned();
            }
        };
        format!("Protocol error: {what}")
    }

    /// The error text as the bytes Redis sends, without the `ERR ` prefix. Differs from
    /// [`ProtocolError::text`] only for `ExpectedDollar` with a byte that is not ASCII,
    /// which Redis sends raw (`got '\xff'`), not as UTF-8.
    pub fn text_bytes(&self) -> Vec<u8> {
        match self {
            ProtocolError::ExpectedDollar(b) => {
                // Redis formats the byte with %c: a NUL ends the C string there, and the
                // reply sanitiser turns CR and LF into spaces.
                let mut s = b"Protocol error: expected '$', got '".to_vec();
                match b {
                    0 => {}
                    b'\r' | b'\n' => s.extend_from_slice(b" '"),
                    b => {
                        s.push(*b);
                        s.push(b'\'');
                    }
                }
                s
            }
            other => other.text().into_bytes(),
        }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

impl std::error::Error for ProtocolError {}

/// Complete commands found in the buffer, as spans of their arguments.
#[derive(Debug, Default)]
pub struct Batch {
    spans: Vec<Range<usize>>,
    /// For each command, the index in `spans` just past its last argument.
    ends: Vec<usize>,
}

impl Batch {
    /// Number of commands.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn clear(&mut self) {
        self.spans.clear();
        self.ends.clear();
    }

    /// The argument spans of command `i`.
    pub fn command(&self, i: usize) -> &[Range<usize>] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.spans[start..self.ends[i]]
    }

    /// Fills `argv` with command `i`'s arguments, borrowed from `buf`.
    pub fn argv<'a>(&self, i: usize, buf: &'a [u8], argv: &mut Vec<&'a [u8]>) {
        argv.clear();
        argv.extend(self.command(i).iter().map(|r| &buf[r.clone()]));
    }
}

/// What one call to [`RequestParser::parse`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Everything complete was parsed; wait for more bytes.
    NeedMore,
    /// The batch reached the requested number of commands.
    Full,
    /// A protocol error follows the commands already in the batch.
    Error(ProtocolError),
}

/// The resumable parser. One per connection.
#[derive(Debug)]
pub struct RequestParser {
    max_bulk_len: u64,
    /// Where parsing resumes.
    pos: usize,
    /// End of the last complete command: what the caller may drop from the buffer.
    consumed: usize,
    /// Arguments still expected by the multibulk in progress (0: none in progress).
    args_left: usize,
    /// Length of the bulk whose header was read but whose payload has not arrived.
    bulk_len: Option<usize>,
    /// Spans of the arguments of the multibulk in progress.
    partial: Vec<Range<usize>>,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new(DEFAULT_MAX_BULK_LEN)
    }
}

impl RequestParser {
    pub fn new(max_bulk_len: u64) -> RequestParser {
        RequestParser {
            max_bulk_len,
            pos: 0,
            consumed: 0,
            args_left: 0,
            bulk_len: None,
            partial: Vec::new(),
        }
    }

    /// Changes `proto-max-bulk-len` for the requests that follow.
    pub fn set_max_bulk_len(&mut self, max: u64) {
        self.max_bulk_len = max;
    }

    /// Bytes at the front of the buffer that belong to complete commands (already parsed).
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// Bytes buffered for a command that is not complete yet.
    pub fn pending(&self, buf_len: usize) -> usize {
        buf_len - self.consumed
    }

    /// The bulk argument being read, when its `$len` line is parsed and its payload has not
    /// all arrived: its length, and the bytes (payload and CRLF) still missing from a buffer
    /// of `buf_len` bytes. Redis reads exactly what a big argument still needs.
    pub fn bulk_in_progress(&self, buf_len: usize) -> Option<(usize, usize)> {
        let len = self.bulk_len?;
        Some((len, (self.pos + len + 2).saturating_sub(buf_len)))
    }

    /// Tells the parser that the caller dropped the first `consumed()` bytes of the buffer.
    pub fn discard_consumed(&mut self) {
        let n = self.consumed;
        self.pos -= n;
        for r in &mut self.partial {
            *r = r.start - n..r.end - n;
        }
        self.consumed = 0;
    }

    /// Parses complete commands from `buf` into `batch`, at most `max_commands` of them.
    /// `authenticated` selects the smaller limits Redis applies before AUTH.
    pub fn parse(
        &mut self,
        buf: &mut [u8],
        batch: &mut Batch,
        max_commands: usize,
        authenticated: bool,
    ) -> Parsed {
        while batch.len() < max_commands {
            if self.args_left == 0 {
                if self.pos >= buf.len() {
                    return Parsed::NeedMore;
                }
                let step = if buf[self.pos] == b'*' {
                    self.multibulk_header(buf, authenticated)
                } else {
                    self.inline(buf, batch)
                };
                match step {
                    Ok(true) => continue,
                    Ok(false) => return Parsed::NeedMore,
                    Err(e) => return Parsed::Error(e),
                }
            }
            match self.bulks(buf, authenticated) {
                Ok(true) => {
                    batch.spans.append(&mut self.partial);
                    batch.ends.push(batch.spans.len());
                    self.consumed = self.pos;
                }
                Ok(false) => return Parsed::NeedMore,
                Err(e) => return Parsed::Error(e),
            }
        }
        Parsed::Full
    }

    /// The CR that ends the header line (`*<n>` or `$<len>`) at `self.pos`. Ok(None):
    /// incomplete; `too_big` once more than 64 KiB have come without a CR.
    fn header_end(
        &self,
        buf: &[u8],
        too_big: ProtocolError,
    ) -> Result<Option<usize>, ProtocolError> {
        let Some(cr) = find_cr(buf, self.pos) else {
            if buf.len() - self.pos > INLINE_MAX_SIZE {
                return Err(too_big);
            }
            return Ok(None);
        };
        // Redis only asks for one more byte after the CR and skips it, whatever it is.
        if cr + 1 >= buf.len() {
            return Ok(None);
        }
        Ok(Some(cr))
    }

    /// Reads `*<n>\r\n`. Ok(false): incomplete.
    fn multibulk_header(&mut self, buf: &[u8], authenticated: bool) -> Result<bool, ProtocolError> {
        let Some(cr) = self.header_end(buf, ProtocolError::TooBigMbulkCount)? else {
            return Ok(false);
        };
        let n = match string_to_i64(&buf[self.pos + 1..cr]) {
            Some(n) if n <= i32::MAX as i64 => n,
            _ => return Err(ProtocolError::InvalidMultibulkLength),
        };
        if n > UNAUTHENTICATED_MAX_ARGS && !authenticated {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        self.pos = cr + 2;
        if n <= 0 {
            // An empty command: nothing to run.
            self.consumed = self.pos;
        } else {
            self.args_left = n as usize;
            self.partial.reserve(self.args_left.min(1024));
        }
        Ok(true)
    }

    /// Reads the bulks of the multibulk in progress. Ok(true): the command is complete.
    fn bulks(&mut self, buf: &[u8], authenticated: bool) -> Result<bool, ProtocolError> {
        while self.args_left > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let Some(cr) = self.header_end(buf, ProtocolError::TooBigBulkCount)? else {
                        return Ok(false);
                    };
                    if buf[self.pos] != b'$' {
                        return Err(ProtocolError::ExpectedDollar(buf[self.pos]));
                    }
                    let len = match string_to_i64(&buf[self.pos + 1..cr]) {
                        Some(n) if n >= 0 && (n as u64) <= self.max_bulk_len => n,
                        _ => return Err(ProtocolError::InvalidBulkLength),
                    };
                    if len > UNAUTHENTICATED_MAX_BULK && !authenticated {
                        return Err(ProtocolError::UnauthenticatedBulkLength);
                    }
                    self.pos = cr + 2;
                    self.bulk_len = Some(len as usize);
                    len as usize
                }
            };
            // Redis skips the two bytes after the payload without looking at them.
            if buf.len() - self.pos < len + 2 {
                return Ok(false);
            }
            self.partial.push(self.pos..self.pos + len);
            self.pos += len + 2;
            self.bulk_len = None;
            self.args_left -= 1;
        }
        Ok(true)
    }

    /// Reads one inline command line. Ok(false): incomplete.
    fn inline(&mut self, buf: &mut [u8], batch: &mut Batch) -> Result<bool, ProtocolError> {
        let Some(nl) = find_before_nul(buf, self.pos, b'\n') else {
            if buf.len() - self.pos > INLINE_MAX_SIZE {
                return Err(ProtocolError::TooBigInlineRequest);
            }
            return Ok(false);
        };
        let mut end = nl;
        if end > self.pos && buf[end - 1] == b'\r' {
            end -= 1;
        }
        let start_spans = batch.spans.len();
        if !split_args_in_place(buf, self.pos..end, &mut batch.spans) {
            batch.spans.truncate(start_spans);
            return Err(ProtocolError::UnbalancedQuotes);
        }
        if batch.spans.len() > start_spans {
            batch.ends.push(batch.spans.len());
        }
        self.pos = nl + 1;
        self.consumed = self.pos;
        Ok(true)
    }
}

fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    find_before_nul(buf, from, b'\r')
}

/// The first `needle` at or after `from`, as Redis's `strchr` finds it: a NUL byte before it
/// hides it. Redis then keeps waiting for a line end that it can never see, until the size
/// limit rejects the request (`*1\0\r\n` gets no reply at first, then "too big mbulk
/// count string" once 64 KiB are buffered).
fn find_before_nul(buf: &[u8], from: usize, needle: u8) -> Option<usize> {
    // Most lines are `*3` or `$5`: a plain look at their first bytes finds the end sooner
    // than memchr gets going.
    const SHORT: usize = 16;
    let head = &buf[from..buf.len().min(from + SHORT)];
    for (i, &c) in head.iter().enumerate() {
        if c == needle {
            return Some(from + i);
        }
        if c == 0 {
            return None;
        }
    }
    if head.len() < SHORT {
        return None;
    }
    let rest = from + SHORT;
    let i = rest + memchr::memchr2(needle, 0, &buf[rest..])?;
    (buf[i] == needle).then_some(i)
}

/// Redis's `string2ll`: optional `-`, no `+`, no leading zeros, no spaces, fits in i64.
pub fn string_to_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Redis's `sdssplitargs` over a whole line, each token copied out (how redis.conf lines
/// are read). `None` for unbalanced quotes. The rules are `split_args_in_place`'s.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut buf = line.to_vec();
    let mut tokens = Vec::new();
    let whole = 0..buf.len();
    if !split_args_in_place(&mut buf, whole, &mut tokens) {
        return None;
    }
    Some(tokens.into_iter().map(|t| buf[t].to_vec()).collect())
}

/// Redis's `sdssplitargs` over `buf[range]`, writing each unescaped token back into the
/// buffer at or before its source position. Returns false on unbalanced quotes.
///
/// Copies Redis's quirks on purpose: a NUL byte ends the line (it is a C string there; the
/// line search already stops at a NUL, so this only guards the splitter on its own), a
/// quote in the middle of a bare token opens a quoted part, and a closing quote must be
/// followed by a space or the end of the line.
fn split_args_in_place(buf: &mut [u8], range: Range<usize>, out: &mut Vec<Range<usize>>) -> bool {
    let end = match memchr::memchr(0, &buf[range.clone()]) {
        Some(i) => range.start + i,
        None => range.end,
    };
    let at = |buf: &[u8], i: usize| if i < end { buf[i] } else { 0 };
    let mut p = range.start;
    loop {
        while p < end && is_c_space(buf[p]) {
            p += 1;
        }
        if p >= end {
            return true;
        }
        let token_start = p;
        let mut w = p;
        // The quote of the part being read, if it is a quoted one.
        let mut quote = None;
        loop {
            let c = at(buf, p);
            match quote {
                None => match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' | b'\'' => quote = Some(c),
                    _ => {
                        buf[w] = c;
                        w += 1;
                    }
                },
                Some(b'"')
                    if c == b'\\'
                        && at(buf, p + 1) == b'x'
                        && hex_value(at(buf, p + 2)).is_some()
                        && hex_value(at(buf, p + 3)).is_some() =>
                {
                    let hi = hex_value(buf[p + 2]).unwrap_or(0);
                    let lo = hex_value(buf[p + 3]).unwrap_or(0);
                    buf[w] = hi * 16 + lo;
                    w += 1;
                    p += 3;
                }
                Some(b'"') if c == b'\\' && at(buf, p + 1) != 0 => {
                    p += 1;
                    buf[w] = match buf[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    };
                    w += 1;
                }
                // Inside single quotes only an escaped single quote is unescaped.
                Some(b'\'') if c == b'\\' && at(buf, p + 1) == b'\'' => {
                    p += 1;
                    buf[w] = b'\'';
                    w += 1;
                }
                Some(q) if c == q => {
                    let next = at(buf, p + 1);
                    if next != 0 && !is_c_space(next) {
                        return false;
                    }
                    p += 1;
                    break;
                }
                Some(_) if c == 0 => return false,
                Some(_) => {
                    buf[w] = c;
                    w += 1;
                }
            }
            p += 1;
        }
        out.push(token_start..w);
    }
}

#[cfg(test)]
mod tests {
    use super::find_before_nul;

    #[test]
    fn line_end_is_found_in_the_first_bytes_and_past_them() {
        let mut line = b"$5\r\n".to_vec();
        assert_eq!(find_before_nul(&line, 0, b'\r'), Some(2));
        line = vec![b'1'; 40];
        line.extend_from_slice(b"\r\n");
        assert_eq!(find_before_nul(&line, 3, b'\r'), Some(40));
        assert_eq!(find_before_nul(&line[..40], 3, b'\r'), None);
    }

    #[test]
    fn nul_hides_a_line_end_in_the_first_bytes_and_past_them() {
        assert_eq!(find_before_nul(b"*1\0\r\n", 0, b'\r'), None);
        let mut line = vec![b'1'; 30];
        line.extend_from_slice(b"\0\r\n");
        assert_eq!(find_before_nul(&line, 0, b'\r'), None);
        // Exactly at the edge of the plain look.
        let mut line = vec![b'1'; 16];
        line.extend_from_slice(b"\r\n");
        assert_eq!(find_before_nul(&line, 0, b'\r'), Some(16));
    }
}
