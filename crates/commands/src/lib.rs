//! What Redis says about its commands: arity, flags, ACL categories, key specs, tips and the
//! COMMAND DOCS text, for every command and subcommand of Redis 7.0.
//!
//! The table (`COMMANDS`, in `generated.rs`) is written by `scripts/gen-commands`, which asks
//! a real redis-server for COMMAND INFO and COMMAND DOCS (the server's differential suite
//! reruns it with `--check`); the types here mirror what that output can say. The server's
//! dispatch, arity errors, COMMAND replies and ACLs and the client's routing and retry
//! decisions all read this one table.
//!
//! This crate holds data and the arithmetic Redis defines on it (the legacy key range, key
//! positions by key spec, a key's cluster hash slot). It must never run a command, hold state or depend on anything.

mod generated;
pub mod slot;

pub use generated::{COMMANDS, REDIS_VERSION};
pub use slot::key_slot;

/// Command flags, as COMMAND INFO names them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 14;
    pub const NO_ASYNC_LOADING: u32 = 1 << 15;
    pub const NO_MULTI: u32 = 1 << 16;
    pub const MOVABLE_KEYS: u32 = 1 << 17;
    pub const ALLOW_BUSY: u32 = 1 << 18;
    pub const SENTINEL: u32 = 1 << 19;
    pub const ONLY_SENTINEL: u32 = 1 << 20;
    /// Served on a cluster node for a slot it is importing (RESTORE-ASKING).
    pub const ASKING: u32 = 1 << 21;

    /// Flag names in the order Redis 7.0 lists them in COMMAND INFO. MAY_REPLICATE,
    /// SENTINEL and ONLY_SENTINEL are missing on purpose: Redis hides them, so COMMAND INFO
    /// never shows them (and the generated table never has them set).
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// Key spec flags, as COMMAND INFO and COMMAND GETKEYSANDFLAGS name them.
pub mod key_flags {
    pub const RO: u32 = 1 << 0;
    pub const RW: u32 = 1 << 1;
    pub const OW: u32 = 1 << 2;
    pub const RM: u32 = 1 << 3;
    pub const ACCESS: u32 = 1 << 4;
    pub const UPDATE: u32 = 1 << 5;
    pub const INSERT: u32 = 1 << 6;
    pub const DELETE: u32 = 1 << 7;
    pub const NOT_KEY: u32 = 1 << 8;
    pub const INCOMPLETE: u32 = 1 << 9;
    pub const VARIABLE_FLAGS: u32 = 1 << 10;

    /// Names in the order Redis lists them.
    pub const NAMES: &[(u32, &str)] = &[
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];
}

/// COMMAND DOCS argument flags.
pub mod arg_flags {
    pub const OPTIONAL: u32 = 1 << 0;
    pub const MULTIPLE: u32 = 1 << 1;
    pub const MULTIPLE_TOKEN: u32 = 1 << 2;

    /// Names in the order Redis lists them.
    pub const NAMES: &[(u32, &str)] = &[
        (OPTIONAL, "optional"),
        (MULTIPLE, "multiple"),
        (MULTIPLE_TOKEN, "multiple_token"),
    ];
}

/// Where the search for a key spec's keys starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeginSearch {
    /// At this argument position.
    Index(i32),
    /// After the first `keyword` found from `startfrom` (negative: from the end, backwards).
    Keyword {
        keyword: &'static str,
        startfrom: i32,
    },
    Unknown,
}

/// Which arguments, from the start found by `BeginSearch`, are keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindKeys {
    /// Keys up to `lastkey` (relative to the start; negative: from the end), every
    /// `keystep`; with `limit` > 1, only the first 1/limit of the remaining arguments.
    Range {
        lastkey: i32,
        keystep: i32,
        limit: i32,
    },
    /// The argument at `keynumidx` (relative to the start) holds the number of keys, which
    /// begin at `firstkey` (relative to the start), every `keystep`.
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        keystep: i32,
    },
    Unknown,
}

/// One Redis 7 key spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// Shown by COMMAND INFO as `notes` when not empty.
    pub notes: &'static str,
    /// `key_flags` bits.
    pub flags: u32,
    pub begin_search: BeginSearch,
    pub find_keys: FindKeys,
}

/// COMMAND DOCS argument types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    Oneof,
    Block,
}

impl ArgType {
    /// The name COMMAND DOCS uses (`unix-time`, `pure-token`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Double => "double",
            ArgType::Key => "key",
            ArgType::Pattern => "pattern",
            ArgType::UnixTime => "unix-time",
            ArgType::PureToken => "pure-token",
            ArgType::Oneof => "oneof",
            ArgType::Block => "block",
        }
    }
}

/// One argument as COMMAND DOCS describes it. Empty strings and -1 mean "absent", so a
/// renderer prints exactly the fields Redis prints; `token` alone is an `Option`, because
/// Redis does show one empty token (MIGRATE's `empty_string`, the `""` in place of a key).
/// Redis 7.0 reports no `display_text` or `value` for arguments (7.2 added them).
#[derive(Debug, PartialEq, Eq)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgType,
    /// Index into the command's `key_specs` for `key` arguments, else -1.
    pub key_spec_index: i32,
    /// The literal word that introduces the argument (`BY`, `LIMIT`, ...).
    pub token: Option<&'static str>,
    pub summary: &'static str,
    pub since: &'static str,
    pub deprecated_since: &'static str,
    /// `arg_flags` bits.
    pub flags: u32,
    /// The members of a `oneof` or `block`.
    pub args: &'static [Arg],
}

impl Arg {
    /// An argument with every optional field absent; set the others with struct update
    /// syntax: `Arg { token: Some("BY"), ..Arg::new("pattern", ArgType::Pattern) }`.
    pub const fn new(name: &'static str, kind: ArgType) -> Arg {
        Arg {
            name,
            kind,
            key_spec_index: -1,
            token: None,
            summary: "",
            since: "",
            deprecated_since: "",
            flags: 0,
            args: &[],
        }
    }
}

/// One command's (or subcommand's) metadata, as COMMAND INFO and COMMAND DOCS report it.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    /// Lower case, as COMMAND reports it (`get`; a subcommand is `kill` under `client`).
    pub name: &'static str,
    /// Full name: `get`, or `client|kill` for a subcommand.
    pub full_name: &'static str,
    /// Positive: exactly that many arguments (name included). Negative: at least -arity.
    pub arity: i32,
    /// `flags` bits.
    pub flags: u32,
    /// ACL categories without the `@` (`string`, `fast`, ...).
    pub acl: &'static [&'static str],
    /// Command tips (`nondeterministic_output`, `request_policy:all_shards`, ...).
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    /// COMMAND DOCS `group` (`string`, `generic`, `connection`, ...).
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    /// COMMAND DOCS `complexity` (empty when Redis reports none).
    pub complexity: &'static str,
    /// COMMAND DOCS `doc_flags`: `deprecated`, `syscmd`.
    pub doc_flags: &'static [&'static str],
    pub deprecated_since: &'static str,
    pub replaced_by: &'static str,
    /// COMMAND DOCS `history`: (version, change) pairs.
    pub history: &'static [(&'static str, &'static str)],
    /// COMMAND DOCS `arguments`.
    pub args: &'static [Arg],
    /// Sorted by name.
    pub subcommands: &'static [Command],
}

impl Command {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn is_write(&self) -> bool {
        self.has(flags::WRITE)
    }

    /// True when `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity > 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// The subcommand `name` (any letter case) of a container command.
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static Command> {
        find(self.subcommands, name)
    }

    /// The legacy (first key, last key, step) triple of COMMAND INFO, derived from the key
    /// specs as Redis 7.0's `populateCommandLegacyRangeSpec` does: a lone index/range spec
    /// as it is, else the index/range specs glued into one range of step 1 (other specs
    /// ignored), else (0, 0, 0). A negative `last` counts from the end.
    pub fn legacy_range(&self) -> (i32, i32, i32) {
        let (first, lastkey, step) = match self.key_specs {
            [] => return (0, 0, 0),
            [KeySpec {
                begin_search: BeginSearch::Index(pos),
                find_keys:
                    FindKeys::Range {
                        lastkey, keystep, ..
                    },
                ..
            }] => (*pos, *lastkey, *keystep),
            specs => match glued_range(specs) {
                Some(range) => range,
                None => return (0, 0, 0),
            },
        };
        let last = if lastkey >= 0 {
            first + lastkey
        } else {
            lastkey
        };
        (first, last, step)
    }

    /// The positions in `argv` (`argv[0]` is the command name; for a subcommand, the
    /// container's) of the key arguments, as Redis's `getKeysUsingKeySpecs` finds them.
    /// `None` when the key specs cannot tell: a spec is `Unknown` or `incomplete`, or the
    /// arguments contradict it (a bad key count, positions past the end). Then only the
    /// server knows (COMMAND GETKEYS). Specs flagged `not_key` are skipped, and so is a
    /// key count of 0 (what Redis's getkeys fallback answers for it).
    pub fn key_positions(&self, argv: &[&[u8]]) -> Option<Vec<usize>> {
        let keys = search_specs(self.key_specs, argv, KeySearch::Client)?;
        Some(keys.into_iter().map(|(at, _)| at).collect())
    }

    /// The positions a cluster routes `argv` by: its keys, and the arguments of `not_key`
    /// specs, which name shard channels (SPUBLISH, SSUBSCRIBE, SUNSUBSCRIBE: a cluster
    /// serves a shard channel on its slot's node, as it serves a key).
    pub fn route_positions(&self, argv: &[&[u8]]) -> Option<Vec<usize>> {
        let keys = search_specs(self.key_specs, argv, KeySearch::Route)?;
        Some(keys.into_iter().map(|(at, _)| at).collect())
    }

    /// Redis's `getKeysUsingKeySpecs` exactly: every key spec applied to `argv`, `not_key`
    /// specs skipped, each key with its spec's `key_flags`. `None` when a spec is `Unknown`,
    /// when an argument contradicts one (a key count of 0 included, as Redis sees
    /// `last < first`), or, with `fail_incomplete` (the command has its own key finder to
    /// ask instead), when a spec that applies is `incomplete`.
    pub fn keys_by_specs(
        &self,
        argv: &[&[u8]],
        fail_incomplete: bool,
    ) -> Option<Vec<(usize, u32)>> {
        search_specs(self.key_specs, argv, KeySearch::Server { fail_incomplete })
    }
}

/// How `search_specs` treats what Redis's spec search cannot settle alone.
#[derive(Clone, Copy)]
enum KeySearch {
    /// As the server does it: `incomplete` fails only when asked, a key count of 0 fails.
    Server { fail_incomplete: bool },
    /// For a client that has no key finder to fall back on: `incomplete` always fails, a
    /// key count of 0 gives no keys.
    Client,
    /// `Client`, with the `not_key` specs' arguments too (what a cluster routes by).
    Route,
}

/// The one walk over the key specs behind `key_positions` and `keys_by_specs`.
fn search_specs(specs: &[KeySpec], argv: &[&[u8]], mode: KeySearch) -> Option<Vec<(usize, u32)>> {
    let (fail_incomplete, skip_zero_counts) = match mode {
        KeySearch::Server { fail_incomplete } => (fail_incomplete, false),
        KeySearch::Client | KeySearch::Route => (true, true),
    };
    let skip_not_keys = !matches!(mode, KeySearch::Route);
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for spec in specs {
        if skip_not_keys && spec.flags & key_flags::NOT_KEY != 0 {
            continue;
        }
        let first: i64 = match spec.begin_search {
            BeginSearch::Index(pos) => pos as i64,
            BeginSearch::Keyword { keyword, startfrom } => {
                match find_keyword(argv, keyword, startfrom as i64) {
                    Some(at) => at + 1,
                    // No keyword, no keys from this spec (an optional STORE, ...).
                    None => continue,
                }
            }
            BeginSearch::Unknown => return None,
        };
        if fail_incomplete && spec.flags & key_flags::INCOMPLETE != 0 {
            return None;
        }
        let (first, last, step) = match spec.find_keys {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let lastkey = lastkey as i64;
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit as i64 + lastkey)
                };
                (first, last, keystep as i64)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let at = first + keynumidx as i64;
                if at < 0 || at >= argc {
                    return None;
                }
                let numkeys = parse_count(argv[at as usize])?;
                if numkeys == 0 && skip_zero_counts {
                    // Redis's spec search calls this a contradiction (last < first) and
                    // falls back to the command's getkeys function, which finds no keys:
                    // say so directly (EVAL with 0 keys has none).
                    continue;
                }
                let first = first + firstkey as i64;
                (first, first + numkeys - 1, keystep as i64)
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            return None;
        }
        keys.extend(
            (first..=last)
                .step_by(step as usize)
                .map(|i| (i as usize, spec.flags)),
        );
    }
    Some(keys)
}

/// The non-lone case of `populateCommandLegacyRangeSpec`: every index/range spec must have
/// step 1; the result spans the lowest start to the highest end, as (first, lastkey
/// relative to first or negative, 1). Like Redis 7.0, the ends are compared as unsigned,
/// so a negative (from the end) lastkey wins over any positive one, and the specs are not
/// checked for adjacency (7.0 never updates its `prev_lastkey`).
fn glued_range(specs: &[KeySpec]) -> Option<(i32, i32, i32)> {
    let mut first = i32::MAX;
    let mut last: u32 = 0;
    for spec in specs {
        let (
            BeginSearch::Index(pos),
            FindKeys::Range {
                lastkey, keystep, ..
            },
        ) = (spec.begin_search, spec.find_keys)
        else {
            continue;
        };
        if keystep != 1 {
            return None;
        }
        first = first.min(pos);
        let abs = if lastkey >= 0 { lastkey + pos } else { lastkey };
        last = last.max(abs as u32);
    }
    if first == i32::MAX {
        return None;
    }
    let last = last as i32;
    let lastkey = if last < 0 { last } else { last - first };
    Some((first, lastkey, 1))
}

/// The position of `keyword` in `argv`, searched like Redis: from `startfrom` forwards,
/// or from `argc + startfrom` backwards when it is negative, never reaching the last
/// argument (forwards) or the name (backwards).
fn find_keyword(argv: &[&[u8]], keyword: &str, startfrom: i64) -> Option<i64> {
    let argc = argv.len() as i64;
    let (start, end) = if startfrom > 0 {
        (startfrom, argc - 1)
    } else {
        (argc + startfrom, 1)
    };
    let mut i = start;
    while i != end && i < argc && i >= 1 {
        if argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
            return Some(i);
        }
        i += if start <= end { 1 } else { -1 };
    }
    None
}

/// A key count as Redis's `string2ll` reads it, non-negative: `0` or digits without a
/// leading zero, sign or spaces.
fn parse_count(arg: &[u8]) -> Option<i64> {
    match arg {
        [b'0'] => Some(0),
        [b'1'..=b'9', ..] => arg.iter().try_fold(0i64, |n, &c| {
            if !c.is_ascii_digit() {
                return None;
            }
            n.checked_mul(10)?.checked_add((c - b'0') as i64)
        }),
        _ => None,
    }
}

/// Binary search of a name-sorted table, in any letter case, without a lower-case copy.
fn find(table: &'static [Command], name: &[u8]) -> Option<&'static Command> {
    table
        .binary_search_by(|c| {
            c.name
                .bytes()
                .cmp(name.iter().map(|b| b.to_ascii_lowercase()))
        })
        .ok()
        .map(|i| &table[i])
}

/// A top-level command by name, in any letter case.
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    find(COMMANDS, name)
}

/// A command by full name, `get` or `client|kill`, in any letter case.
pub fn lookup_full(full_name: &str) -> Option<&'static Command> {
    match full_name.split_once('|') {
        None => lookup(full_name.as_bytes()),
        Some((container, sub)) => lookup(container.as_bytes())?.subcommand(sub.as_bytes()),
    }
}

#[cfg(test)]
mod tests;
