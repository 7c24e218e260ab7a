//! Commands as values: `cmd("SET").arg("k").arg(1)`, and the metadata that decides what
//! may be re-sent after a reconnect.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

/// A command and its arguments, with the flags the connection needs.
#[derive(Clone, Debug)]
pub struct Cmd {
    data: BytesMut,
    /// End offset of each argument in `data`.
    ends: Vec<usize>,
    readonly: Option<bool>,
    timeout: Option<Option<Duration>>,
}

/// Starts a command: `cmd("GET").arg("key")`.
pub fn cmd(name: &str) -> Cmd {
    Cmd::new(name)
}

impl Cmd {
    pub fn new(name: &str) -> Cmd {
        let mut c = Cmd {
            data: BytesMut::with_capacity(64),
            ends: Vec::with_capacity(4),
            readonly: None,
            timeout: None,
        };
        c.push(name.as_bytes());
        c
    }

    fn push(&mut self, b: &[u8]) {
        self.data.extend_from_slice(b);
        self.ends.push(self.data.len());
    }

    /// Appends one argument.
    pub fn arg<A: ToArg>(mut self, a: A) -> Cmd {
        a.write_args(&mut ArgWriter { cmd: &mut self });
        self
    }

    /// Appends one argument in place.
    pub fn add_arg<A: ToArg>(&mut self, a: A) -> &mut Cmd {
        a.write_args(&mut ArgWriter { cmd: self });
        self
    }

    /// Overrides the metadata: may this command be re-sent after a lost connection?
    pub fn readonly(mut self, yes: bool) -> Cmd {
        self.readonly = Some(yes);
        self
    }

    /// Overrides the command timeout for this command (e.g. for a blocking command whose
    /// own timeout is longer). `None` waits without bound.
    pub fn timeout(mut self, t: Option<Duration>) -> Cmd {
        self.timeout = Some(t);
        self
    }

    pub(crate) fn readonly_override(&self) -> Option<bool> {
        self.readonly
    }

    pub(crate) fn timeout_override(&self) -> Option<Option<Duration>> {
        self.timeout
    }

    /// The command name as given.
    pub fn name(&self) -> &[u8] {
        &self.data[..self.ends[0]]
    }

    /// The arguments, name first.
    pub fn args(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let a = &self.data[start..end];
            start = end;
            a
        })
    }

    /// True when the command only reads (so re-sending it after a reconnect is safe).
    pub fn is_readonly(&self) -> bool {
        self.readonly.unwrap_or_else(|| is_readonly(self.name()))
    }

    /// RESP encoding, appended to `out`.
    pub fn encode_into(&self, out: &mut BytesMut) {
        out.reserve(self.data.len() + 16 * self.ends.len() + 16);
        write_len(out, b'*', self.ends.len());
        let mut start = 0;
        for &end in &self.ends {
            write_len(out, b'$', end - start);
            out.put_slice(&self.data[start..end]);
            out.put_slice(b"\r\n");
            start = end;
        }
    }

    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode_into(&mut out);
        out.freeze()
    }

    /// The name in upper case, for logs and errors.
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(self.name()).to_ascii_uppercase()
    }
}

fn write_len(out: &mut BytesMut, ty: u8, n: usize) {
    let mut buf = itoa::Buffer::new();
    out.put_u8(ty);
    out.put_slice(buf.format(n).as_bytes());
    out.put_slice(b"\r\n");
}

/// Where a `ToArg` writes its argument(s).
pub struct ArgWriter<'a> {
    cmd: &'a mut Cmd,
}

impl ArgWriter<'_> {
    /// Writes one whole argument.
    pub fn write_arg(&mut self, b: &[u8]) {
        self.cmd.push(b);
    }

    /// Writes one argument formatted with `Display`.
    pub fn write_display(&mut self, v: impl std::fmt::Display) {
        use std::fmt::Write;
        struct W<'b>(&'b mut BytesMut);
        impl Write for W<'_> {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                self.0.extend_from_slice(s.as_bytes());
                Ok(())
            }
        }
        let _ = write!(W(&mut self.cmd.data), "{v}");
        self.cmd.ends.push(self.cmd.data.len());
    }
}

/// Anything that can be a command argument (or several, for slices and tuples).
pub trait ToArg {
    fn write_args(&self, out: &mut ArgWriter<'_>);
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        (**self).write_args(out)
    }
}

impl ToArg for str {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        out.write_arg(self.as_bytes())
    }
}
impl ToArg for String {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        out.write_arg(self.as_bytes())
    }
}
impl ToArg for [u8] {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        out.write_arg(self)
    }
}
impl<const N: usize> ToArg for [u8; N] {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        out.write_arg(self)
    }
}
impl ToArg for Vec<u8> {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        out.write_arg(self)
    }
}
impl ToArg for Bytes {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        out.write_arg(self)
    }
}
macro_rules! display_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn write_args(&self, out: &mut ArgWriter<'_>) {
                out.write_display(self)
            }
        }
    )*};
}
display_arg!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

impl ToArg for f64 {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        if self.is_infinite() {
            out.write_arg(if *self > 0.0 { b"+inf" } else { b"-inf" })
        } else {
            out.write_display(self)
        }
    }
}
impl ToArg for f32 {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        (*self as f64).write_args(out)
    }
}
impl ToArg for bool {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        out.write_arg(if *self { b"1" } else { b"0" })
    }
}
/// Slices, arrays and vectors of arguments write each element (`MGET k1 k2 k3`).
/// (Bytes themselves are `[u8]`, `Vec<u8>` and `Bytes`: one argument each.)
macro_rules! many_args {
    ($($t:ty),*) => {$(
        impl ToArg for [$t] {
            fn write_args(&self, out: &mut ArgWriter<'_>) {
                for a in self {
                    a.write_args(out);
                }
            }
        }
        impl<const N: usize> ToArg for [$t; N] {
            fn write_args(&self, out: &mut ArgWriter<'_>) {
                self.as_slice().write_args(out)
            }
        }
        impl ToArg for Vec<$t> {
            fn write_args(&self, out: &mut ArgWriter<'_>) {
                self.as_slice().write_args(out)
            }
        }
    )*};
}
many_args!(
    &str,
    String,
    &String,
    Bytes,
    Vec<u8>,
    &[u8],
    i32,
    i64,
    u32,
    u64,
    usize,
    f64
);

impl<T: ToArg> ToArg for Option<T> {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        if let Some(v) = self {
            v.write_args(out)
        }
    }
}
impl<A: ToArg, B: ToArg> ToArg for (A, B) {
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        self.0.write_args(out);
        self.1.write_args(out);
    }
}

/// Commands that carry Redis's `readonly` flag (plus PING/ECHO and friends that change
/// nothing): safe to re-send after a connection was lost under them.
static READONLY: &[&str] = &[
    "BITCOUNT",
    "BITFIELD_RO",
    "BITPOS",
    "DBSIZE",
    "DUMP",
    "ECHO",
    "EVALSHA_RO",
    "EVAL_RO",
    "EXISTS",
    "EXPIRETIME",
    "FCALL_RO",
    "GEODIST",
    "GEOHASH",
    "GEOPOS",
    "GEORADIUSBYMEMBER_RO",
    "GEORADIUS_RO",
    "GEOSEARCH",
    "GET",
    "GETBIT",
    "GETRANGE",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HRANDFIELD",
    "HSCAN",
    "HSTRLEN",
    "HVALS",
    "KEYS",
    "LASTSAVE",
    "LCS",
    "LINDEX",
    "LLEN",
    "LOLWUT",
    "LPOS",
    "LRANGE",
    "MGET",
    "PEXPIRETIME",
    "PFCOUNT",
    "PING",
    "PTTL",
    "RANDOMKEY",
    "SCAN",
    "SCARD",
    "SDIFF",
    "SINTER",
    "SINTERCARD",
    "SISMEMBER",
    "SMEMBERS",
    "SMISMEMBER",
    "SORT_RO",
    "SRANDMEMBER",
    "SSCAN",
    "STRLEN",
    "SUBSTR",
    "SUNION",
    "TIME",
    "TOUCH",
    "TTL",
    "TYPE",
    "XLEN",
    "XPENDING",
    "XRANGE",
    "XREVRANGE",
    "ZCARD",
    "ZCOUNT",
    "ZDIFF",
    "ZINTER",
    "ZINTERCARD",
    "ZLEXCOUNT",
    "ZMSCORE",
    "ZRANDMEMBER",
    "ZRANGE",
    "ZRANGEBYLEX",
    "ZRANGEBYSCORE",
    "ZRANK",
    "ZREVRANGE",
    "ZREVRANGEBYLEX",
    "ZREVRANGEBYSCORE",
    "ZREVRANK",
    "ZSCAN",
    "ZSCORE",
    "ZUNION",
];

/// True when `name` (any case) is a read-only command.
pub fn is_readonly(name: &[u8]) -> bool {
    if name.len() > 24 {
        return false;
    }
    let mut up = [0u8; 24];
    let up = &mut up[..name.len()];
    up.copy_from_slice(name);
    up.make_ascii_uppercase();
    READONLY
        .binary_search_by(|probe| probe.as_bytes().cmp(up))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes() {
        let c = cmd("SET").arg("k").arg(42).arg(1.5).arg(&b"\x00"[..]);
        assert_eq!(
            &c.encode()[..],
            b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n42\r\n$3\r\n1.5\r\n$1\r\n\x00\r\n"
        );
        let c = cmd("MGET").arg(["a", "b"]);
        assert_eq!(c.args().count(), 3);
        assert!(c.is_readonly());
        assert!(!cmd("set").is_readonly());
        assert!(cmd("get").is_readonly());
        assert!(cmd("set").readonly(true).is_readonly());
    }

    #[test]
    fn table_sorted() {
        let mut sorted = READONLY.to_vec();
        sorted.sort();
        assert_eq!(sorted, READONLY);
    }
}
