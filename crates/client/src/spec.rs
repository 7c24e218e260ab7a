//! What the client decides from a command's Redis metadata (`lockstep-commands`, generated
//! from redis-server's COMMAND INFO): may it be re-sent after a lost connection, and does it
//! leave state on the connection that the next user of a pooled connection would inherit.
//!
//! The decisions are rules over Redis's own flags and ACL categories, so a command Redis
//! adds is classified by the metadata it ships with. This module must never grow its own
//! list of command names; the five names in `SESSION_BEYOND_METADATA` are there only because
//! their metadata is identical to that of commands that change nothing (see there).

use std::fmt;

use lockstep_commands::{flags, Command};

/// A command resolved against the Redis 7.0 command table once, when it is built: the
/// subcommand for a container command (`CLIENT INFO`, `CONFIG GET`, `OBJECT ENCODING`).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum CommandSpec {
    /// Not a Redis 7.0 command (a module's, a newer server's, a typo).
    #[default]
    Unknown,
    /// A container command with a subcommand the table does not know (`CLIENT NO-TOUCH`
    /// came with Redis 7.2), or with none given yet.
    UnknownSubcommand(&'static Command),
    Known(&'static Command),
}

impl fmt::Debug for CommandSpec {
    // `Command`'s own Debug prints its whole COMMAND DOCS entry; the full name says enough.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandSpec::Unknown => f.write_str("Unknown"),
            CommandSpec::UnknownSubcommand(c) => write!(f, "UnknownSubcommand({}|?)", c.name),
            CommandSpec::Known(c) => write!(f, "Known({})", c.full_name),
        }
    }
}

impl CommandSpec {
    /// Resolves the command named `name`; `sub` is its first argument, read only when the
    /// command is a container.
    pub(crate) fn resolve(name: &[u8], sub: Option<&[u8]>) -> CommandSpec {
        let Some(c) = lockstep_commands::lookup(name) else {
            return CommandSpec::Unknown;
        };
        if c.subcommands.is_empty() {
            return CommandSpec::Known(c);
        }
        match sub.and_then(|s| c.subcommand(s)) {
            Some(s) => CommandSpec::Known(s),
            None => CommandSpec::UnknownSubcommand(c),
        }
    }

    pub(crate) fn command(self) -> Option<&'static Command> {
        match self {
            CommandSpec::Known(c) => Some(c),
            _ => None,
        }
    }

    /// Safe to re-send after the connection was lost with it in flight (so it may have run).
    /// Unknown commands are not.
    pub(crate) fn resend_safe(self) -> bool {
        self.command().is_some_and(resend_safe)
    }

    /// Leaves state on the connection that outlives it (beyond MULTI and WATCH, which a
    /// later EXEC, DISCARD or UNWATCH clears; `pool::Session` follows those itself).
    /// An unknown subcommand of a known container counts: the containers that have grown
    /// subcommands since 7.0 have grown setters (CLIENT NO-TOUCH, CLIENT SETINFO in 7.2),
    /// and counting one too many only costs a fresh connection. An unknown command does
    /// not: those are mostly module commands (JSON.SET, FT.SEARCH), and counting them would
    /// close every pooled connection that ran one.
    pub(crate) fn changes_session(self) -> bool {
        match self {
            CommandSpec::Unknown => false,
            CommandSpec::UnknownSubcommand(_) => true,
            CommandSpec::Known(c) => changes_session(c),
        }
    }
}

/// Flags that rule out re-sending: the command writes (the first send may have run), or
/// it blocks (re-sent, it waits its full timeout again from the new send, and a pop that
/// ran on the lost connection already took its element).
///
/// `may_replicate` is not here although it marks commands with side effects: the one
/// readonly command Redis gives it (PFCOUNT, which may rewrite its cached cardinality) is
/// idempotent, so re-sending it stays safe; the others (EVAL, FCALL, PUBLISH) are not
/// readonly and so never resent.
const NOT_RESENDABLE: u32 = flags::WRITE | flags::BLOCKING;

/// A `fast` keyless command with none of these touches no data at all (PING, ECHO, TIME,
/// LASTSAVE): Redis gives those no `readonly`, a flag it keeps for keyspace reads.
const TOUCHES_NOTHING_EXCLUDES: u32 = flags::ADMIN | flags::PUBSUB | flags::NOSCRIPT;

/// The rule: a command Redis flags `readonly` (it reads the keyspace, never writes it),
/// or one that touches nothing — `fast`, no keys, and not `admin`, `pubsub` or `noscript`
/// (Redis marks `noscript` the commands that act on the calling connection, which a
/// script's fake client does not have) — provided it neither writes nor blocks, and does
/// not change the session (re-sent SELECT, READONLY or ASKING would change the new
/// connection's state behind the client's back; their flags are the same as ECHO's).
pub(crate) fn resend_safe(c: &Command) -> bool {
    if c.has(NOT_RESENDABLE) || changes_session(c) {
        return false;
    }
    let touches_nothing =
        c.has(flags::FAST) && c.key_specs.is_empty() && !c.has(TOUCHES_NOTHING_EXCLUDES);
    c.has(flags::READONLY) || touches_nothing
}

/// Commands whose effect on the connection outlives them although their metadata is the
/// same as that of commands that change nothing:
/// - `select`, `readonly`, `readwrite` have exactly ECHO's flags (`loading stale fast`),
///   ACL categories (`fast connection`) and arity: Redis lets scripts call them (on the
///   script's own fake client), so they are not `noscript` like the other session setters.
/// - `asking` has PING's flags and categories; its flag lasts until the next command, so
///   a connection returned (or a reconnect re-sent) right after it would serve that next
///   command from a slot being imported instead of redirecting it.
/// - `monitor` is an `admin` server command with the flags of DEBUG; nothing in its
///   metadata says that it turns the connection into a stream of every command.
const SESSION_BEYOND_METADATA: &[&str] = &["asking", "monitor", "readonly", "readwrite", "select"];

/// The rule: a command that acts on the calling connection — `noscript` (so meaningless on
/// a script's fake client) in the `connection` ACL category or with the `pubsub` flag —
/// and either sets the connection up (`no_auth`: AUTH, HELLO, RESET, which Redis accepts
/// before authentication for that reason) or needs an argument to say what to change
/// (SUBSCRIBE channel, CLIENT SETNAME name, CLIENT TRACKING on). What needs no argument
/// only reports (CLIENT INFO, CLIENT ID, CLIENT LIST) or undoes (UNSUBSCRIBE).
///
/// It also counts a few commands that leave nothing on this connection (QUIT, WAIT,
/// CLIENT KILL, CLIENT PAUSE, CLIENT UNBLOCK): that costs a fresh connection, never a
/// leaked session, which is the error to avoid. MULTI and WATCH are `transaction`
/// commands that `pool::Session` follows itself, since EXEC, DISCARD and UNWATCH undo them.
pub(crate) fn changes_session(c: &Command) -> bool {
    if SESSION_BEYOND_METADATA.contains(&c.full_name) {
        return true;
    }
    let on_this_connection =
        c.has(flags::NOSCRIPT) && (c.acl.contains(&"connection") || c.has(flags::PUBSUB));
    on_this_connection && (c.has(flags::NO_AUTH) || needs_argument(c))
}

/// True when the arity requires at least one argument after the name (after the container
/// and subcommand names, for a subcommand).
fn needs_argument(c: &Command) -> bool {
    let names = if c.full_name.contains('|') { 2 } else { 1 };
    c.arity.unsigned_abs() > names
}

/// Commands whose replies are subscription confirmations (one per channel or pattern, a
/// push frame in RESP3), which the connection matches in order as their replies. Their
/// metadata is that of PUBSUB CHANNELS or PUBLISH (`pubsub`, no keys or the channel as a
/// key): the reply shape is behaviour, as EXEC's is.
const SUBSCRIPTIONS: &[&str] = &[
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
];

/// Where a request's keys live in a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The command has no keys (PING, INFO): any node can serve it.
    Keyless,
    /// Every key hashes to this slot.
    One(u16),
    /// Keys in several slots (a cluster refuses it with CROSSSLOT).
    Cross,
    /// The keys cannot be told (an unknown command, or arguments its key specs cannot read).
    Unknown,
}

impl Slot {
    /// The slot of keys in two slots: the same, or `Cross`; keyless joins anything.
    fn join(self, other: Slot) -> Slot {
        match (self, other) {
            (Slot::Keyless, s) | (s, Slot::Keyless) => s,
            (Slot::Unknown, _) | (_, Slot::Unknown) => Slot::Unknown,
            (Slot::One(a), Slot::One(b)) if a == b => Slot::One(a),
            _ => Slot::Cross,
        }
    }
}

/// What a request knows about itself from Redis's metadata, decided once when it is sent
/// (not re-read from its bytes when a connection is lost): its flags, whether it may be
/// re-sent, whether it changes the connection's session, where its keys live, and whether
/// its replies are subscription confirmations. A pipeline's is the join of its commands'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Redis's flags (`lockstep_commands::flags`): of the command, or every flag of any
    /// command of a pipeline.
    pub flags: u32,
    pub resend_safe: bool,
    pub changes_session: bool,
    /// Where its keys live; `None` when nobody asked (a standalone connection routes
    /// nothing, so `Cmd::meta` leaves it out: hashing every key would cost every command).
    pub slot: Option<Slot>,
    pub subscription: bool,
}

impl Default for Meta {
    /// An empty pipeline: nothing to say against resending it, no keys.
    fn default() -> Meta {
        Meta {
            flags: 0,
            resend_safe: true,
            changes_session: false,
            slot: Some(Slot::Keyless),
            subscription: false,
        }
    }
}

impl Meta {
    /// The metadata of a command, given its resolution and its arguments (name first);
    /// `resend_safe` as `Cmd::is_readonly` decided it.
    pub(crate) fn of<'a>(
        spec: CommandSpec,
        args: impl Iterator<Item = &'a [u8]>,
        resend_safe: bool,
        with_slot: bool,
    ) -> Meta {
        let Some(c) = spec.command() else {
            return Meta {
                flags: 0,
                resend_safe,
                changes_session: spec.changes_session(),
                slot: with_slot.then_some(Slot::Unknown),
                subscription: false,
            };
        };
        let slot = if !with_slot {
            None
        } else if c.key_specs.is_empty() {
            Some(Slot::Keyless)
        } else {
            Some(Self::slot_of(c, args))
        };
        Meta {
            flags: c.flags,
            resend_safe,
            changes_session: changes_session(c),
            slot,
            subscription: SUBSCRIPTIONS.contains(&c.full_name),
        }
    }

    fn slot_of<'a>(c: &Command, args: impl Iterator<Item = &'a [u8]>) -> Slot {
        let argv: Vec<&[u8]> = args.collect();
        match c.route_positions(&argv) {
            Some(positions) => positions.iter().fold(Slot::Keyless, |slot, &i| {
                slot.join(Slot::One(lockstep_commands::key_slot(argv[i])))
            }),
            None => Slot::Unknown,
        }
    }

    /// The metadata of a pipeline that runs `self`'s commands, then `other`'s.
    pub fn join(self, other: Meta) -> Meta {
        Meta {
            flags: self.flags | other.flags,
            resend_safe: self.resend_safe && other.resend_safe,
            changes_session: self.changes_session || other.changes_session,
            slot: match (self.slot, other.slot) {
                (Some(a), Some(b)) => Some(a.join(b)),
                _ => None,
            },
            subscription: self.subscription || other.subscription,
        }
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(argv: &str) -> CommandSpec {
        let mut words = argv.split(' ');
        let name = words.next().unwrap_or_default();
        CommandSpec::resolve(name.as_bytes(), words.next().map(str::as_bytes))
    }

    /// The hand-written list this rule replaced (cmd.rs `READONLY`, 0.x).
    const FORMER_RESEND_LIST: &[&str] = &[
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

    /// The hand-written lists this rule replaced (pool.rs `SESSION_CHANGING` and
    /// `CLIENT_SESSION_CHANGING`, 0.x).
    const FORMER_SESSION_LIST: &[&str] = &[
        "AUTH",
        "HELLO",
        "MONITOR",
        "PSUBSCRIBE",
        "READONLY",
        "READWRITE",
        "RESET",
        "SELECT",
        "SSUBSCRIBE",
        "SUBSCRIBE",
        "CLIENT CACHING",
        "CLIENT NO-EVICT",
        "CLIENT NO-TOUCH",
        "CLIENT REPLY",
        "CLIENT SETINFO",
        "CLIENT SETNAME",
        "CLIENT TRACKING",
    ];

    #[test]
    fn every_command_of_the_former_resend_list_is_resend_safe() {
        let lost: Vec<_> = FORMER_RESEND_LIST
            .iter()
            .filter(|n| !spec(&n.to_ascii_lowercase()).resend_safe())
            .collect();
        assert!(lost.is_empty(), "no longer resend-safe: {lost:?}");
    }

    #[test]
    fn readonly_subcommands_are_resend_safe_and_their_containers_are_not() {
        for argv in [
            "OBJECT ENCODING",
            "object freq",
            "MEMORY USAGE",
            "XINFO STREAM",
        ] {
            assert!(spec(argv).resend_safe(), "{argv}");
        }
        for argv in ["OBJECT", "OBJECT NOSUCH", "MEMORY PURGE", "XINFO HELP"] {
            assert!(!spec(argv).resend_safe(), "{argv}");
        }
    }

    #[test]
    fn writes_blocking_reads_session_setters_and_unknown_commands_are_not_resend_safe() {
        for argv in [
            "SET",
            "INCR",
            "PFADD",
            "EVAL",
            "FCALL",
            "BLPOP",
            "XREAD",
            "BZPOPMIN",
            "SELECT",
            "READONLY",
            "READWRITE",
            "ASKING",
            "MULTI",
            "EXEC",
            "AUTH",
            "HELLO",
            "SUBSCRIBE",
            "PUBLISH",
            "CONFIG SET",
            "CLIENT SETNAME",
            "JSON.GET",
            "",
        ] {
            assert!(!spec(argv).resend_safe(), "{argv}");
        }
    }

    #[test]
    fn every_command_of_the_former_session_list_changes_the_session() {
        let lost: Vec<_> = FORMER_SESSION_LIST
            .iter()
            .filter(|argv| !spec(argv).changes_session())
            .collect();
        assert!(lost.is_empty(), "no longer session-changing: {lost:?}");
    }

    #[test]
    fn reads_data_commands_and_reports_do_not_change_the_session() {
        for argv in [
            "GET",
            "SET",
            "INCR",
            "CLIENT LIST",
            "CLIENT INFO",
            "CLIENT ID",
            "CLIENT GETNAME",
            "PING",
            "ECHO",
            "PUBLISH",
            "PUBSUB CHANNELS",
            "UNSUBSCRIBE",
            "COMMAND DOCS",
            "EVAL",
            "JSON.SET",
        ] {
            assert!(!spec(argv).changes_session(), "{argv}");
        }
    }

    #[test]
    fn names_resolve_in_any_letter_case_with_their_subcommand() {
        assert_eq!(
            spec("client info").command().map(|c| c.full_name),
            Some("client|info")
        );
        assert_eq!(spec("Get").command().map(|c| c.full_name), Some("get"));
        assert!(matches!(spec("CLIENT"), CommandSpec::UnknownSubcommand(_)));
        assert_eq!(spec("NOSUCH"), CommandSpec::Unknown);
    }
}
