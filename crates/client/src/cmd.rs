//! Commands as values: `cmd("SET").arg("k").arg(1)`, resolved against Redis's command
//! table as they are built, so that what may be re-sent after a reconnect or what taints a
//! pooled connection is read from Redis's flags (`crate::spec`), never from a list here.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use lockstep_resp::encode::{write_bulk, write_header};

use crate::spec::{CommandSpec, Meta};

/// A command and its arguments, with the flags the connection needs.
#[derive(Clone, Debug)]
pub struct Cmd {
    data: BytesMut,
    /// End offset of each argument in `data`.
    ends: Vec<usize>,
    /// The command (or subcommand) in Redis's table, resolved once its name and first
    /// argument are in.
    spec: CommandSpec,
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
            spec: CommandSpec::Unknown,
            readonly: None,
            timeout: None,
        };
        c.push(name.as_bytes());
        c
    }

    /// A command of these arguments (name first) that keeps `like`'s overrides (read-only,
    /// timeout): how the cluster client cuts a multi-key command into one per slot.
    pub(crate) fn from_args<'a>(args: impl IntoIterator<Item = &'a [u8]>, like: &Cmd) -> Cmd {
        let mut c = Cmd {
            data: BytesMut::with_capacity(64),
            ends: Vec::with_capacity(4),
            spec: CommandSpec::Unknown,
            readonly: like.readonly,
            timeout: like.timeout,
        };
        for a in args {
            c.push(a);
        }
        c
    }

    fn push(&mut self, b: &[u8]) {
        self.data.extend_from_slice(b);
        self.end_arg();
    }

    /// Closes the argument written at the end of `data`. The name resolves the command;
    /// the first argument, the subcommand of a container (CLIENT INFO, CONFIG GET).
    fn end_arg(&mut self) {
        self.ends.push(self.data.len());
        match self.ends.len() {
            1 => self.spec = CommandSpec::resolve(self.name(), None),
            2 if matches!(self.spec, CommandSpec::UnknownSubcommand(_)) => {
                let sub = &self.data[self.ends[0]..self.ends[1]];
                self.spec = CommandSpec::resolve(self.name(), Some(sub));
            }
            _ => {}
        }
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

    /// True when re-sending the command after a lost connection is safe: `readonly(yes)`
    /// if it was called, else what Redis's flags say (`spec::resend_safe`).
    pub fn is_readonly(&self) -> bool {
        self.readonly.unwrap_or_else(|| self.spec.resend_safe())
    }

    pub(crate) fn spec(&self) -> CommandSpec {
        self.spec
    }

    /// What a cluster router needs to know about this command: its Redis flags, whether
    /// it may be re-sent (`is_readonly`), whether it changes the session, and the hash
    /// slot of its keys. Read from its arguments, not its bytes.
    pub fn meta(&self) -> Meta {
        Meta::of(self.spec, self.args(), self.is_readonly(), true)
    }

    /// `meta` without the slot, for a connection that routes nothing.
    pub(crate) fn meta_unrouted(&self) -> Meta {
        Meta::of(self.spec, std::iter::empty(), self.is_readonly(), false)
    }

    /// RESP encoding, appended to `out`.
    pub fn encode_into(&self, out: &mut BytesMut) {
        out.reserve(self.data.len() + 16 * self.ends.len() + 16);
        write_header(out, b'*', self.ends.len() as i64);
        for a in self.args() {
            write_bulk(out, a);
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
        self.cmd.end_arg();
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
    fn the_subcommand_is_resolved_from_the_first_argument_however_it_is_written() {
        let info = cmd("client").arg("INFO");
        assert_eq!(
            info.spec().command().map(|c| c.full_name),
            Some("client|info")
        );
        let getkeys = cmd("COMMAND").arg(&b"getkeys"[..]).arg("get").arg("k");
        assert_eq!(
            getkeys.spec().command().map(|c| c.full_name),
            Some("command|getkeys")
        );
        let mut usage = cmd("MEMORY");
        usage.add_arg("USAGE").add_arg("k");
        assert!(usage.is_readonly());
        assert!(!cmd("CLIENT").is_readonly());
    }

    #[test]
    fn arguments_after_the_subcommand_do_not_change_the_resolution() {
        let c = cmd("OBJECT").arg("ENCODING").arg("client");
        assert_eq!(
            c.spec().command().map(|c| c.full_name),
            Some("object|encoding")
        );
    }
}

#[cfg(test)]
mod meta_tests {
    use super::*;
    use crate::spec::Slot;
    use lockstep_commands::{flags, key_slot};

    #[test]
    fn a_command_knows_its_flags_and_the_slot_of_its_keys() {
        let get = cmd("GET").arg("foo").meta();
        assert_eq!(get.slot, Some(Slot::One(12182)));
        assert!(get.has(flags::READONLY) && get.resend_safe && !get.subscription);
        let set = cmd("set").arg("foo").arg("v").meta();
        assert!(set.has(flags::WRITE) && !set.resend_safe);
        assert_eq!(cmd("PING").meta().slot, Some(Slot::Keyless));
        assert_eq!(cmd("NOSUCH").arg("k").meta().slot, Some(Slot::Unknown));
        assert_eq!(cmd("GET").arg("foo").meta_unrouted().slot, None);
        assert!(cmd("SUBSCRIBE").arg("c").meta().subscription);
        assert!(cmd("SELECT").arg(1).meta().changes_session);
        assert!(cmd("BLPOP").arg("l").arg(0).meta().has(flags::BLOCKING));
    }

    #[test]
    fn keys_in_several_slots_are_cross_slot_unless_a_hash_tag_joins_them() {
        assert_ne!(key_slot(b"a"), key_slot(b"b"));
        let mset = cmd("MSET").arg("a").arg(1).arg("b").arg(2).meta();
        assert_eq!(mset.slot, Some(Slot::Cross));
        let tagged = cmd("MSET").arg("{t}a").arg(1).arg("{t}b").arg(2).meta();
        assert_eq!(tagged.slot, Some(Slot::One(key_slot(b"t"))));
        // EVAL's keys are the ones its numkeys declares.
        let eval = cmd("EVAL")
            .arg("return 1")
            .arg(1)
            .arg("foo")
            .arg("notakey")
            .meta();
        assert_eq!(eval.slot, Some(Slot::One(12182)));
    }

    #[test]
    fn a_pipeline_joins_its_commands() {
        let get = cmd("GET").arg("foo").meta();
        let joined = get.join(cmd("PING").meta());
        assert_eq!(joined.slot, Some(Slot::One(12182)));
        assert!(joined.resend_safe);
        let with_write = joined.join(cmd("SET").arg("bar").arg(1).meta());
        assert_eq!(with_write.slot, Some(Slot::Cross));
        assert!(!with_write.resend_safe && with_write.has(flags::WRITE));
        assert_eq!(get.join(cmd("NOSUCH").meta()).slot, Some(Slot::Unknown));
    }
}
