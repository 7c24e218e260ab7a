//! The command table and dispatch.
//!
//! Every command is described once by a `CommandSpec` declared next to its handler (in
//! `commands/<family>.rs`): name, arity, flags, key positions, ACL categories, subcommands.
//! Dispatch, arity errors, NOAUTH, COMMAND INFO/COUNT/DOCS/GETKEYS and (later) cluster slot
//! checks all read that one entry. There is no second list of command names anywhere.

use hashbrown::HashMap;
use std::sync::OnceLock;

use crate::errors;
use crate::keyspace::{Db, Millis};
use crate::reply::Reply;
use crate::state::{Client, State};

/// A command handler: reads its arguments (`argv[0]` is the command name), changes the
/// state, writes exactly one reply. It never touches sockets.
pub type Handler = fn(&mut Ctx, &[&[u8]]);

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

    /// Flag names in the order Redis lists them in COMMAND INFO.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (MOVABLE_KEYS, "movablekeys"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (SENTINEL, "sentinel"),
        (ONLY_SENTINEL, "only_sentinel"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// Where a command's keys are: Redis's legacy (first, last, step) triple. `last` may be
/// negative, counting from the end (-1: the last argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub first: i32,
    pub last: i32,
    pub step: i32,
}

impl KeySpec {
    pub const NONE: KeySpec = KeySpec {
        first: 0,
        last: 0,
        step: 0,
    };
}

/// One command's metadata and handler.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lower case, as COMMAND reports it (`get`; a subcommand is `kill` under `client`).
    pub name: &'static str,
    /// Full name: `get`, or `client|kill` for a subcommand.
    pub full_name: &'static str,
    /// Positive: exactly that many arguments (name included). Negative: at least -arity.
    pub arity: i32,
    pub flags: u32,
    pub keys: KeySpec,
    /// ACL categories without the `@` (`string`, `fast`, ...).
    pub acl: &'static [&'static str],
    /// Command tips (`nondeterministic_output`, `request_policy:all_shards`, ...).
    pub tips: &'static [&'static str],
    /// COMMAND DOCS: group (`string`, `generic`, `connection`, `server`) and summary.
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
    /// Redis 7 key specs (COMMAND INFO, COMMAND GETKEYS). Empty: derived from `keys`.
    pub key_specs: &'static [KeySpecDef],
    /// Keys for commands whose key specs cannot say (Redis's `getkeys_proc`): positions
    /// and `key_flags`. Used only when the key specs fail or are marked incomplete.
    pub getkeys: Option<GetKeysFn>,
    /// COMMAND DOCS: `complexity` (omitted when empty).
    pub complexity: &'static str,
    /// COMMAND DOCS `doc_flags`: `deprecated`, `syscmd`.
    pub doc_flags: &'static [&'static str],
    pub deprecated_since: &'static str,
    pub replaced_by: &'static str,
    /// COMMAND DOCS `history`: (version, change) pairs.
    pub history: &'static [(&'static str, &'static str)],
    /// COMMAND DOCS `arguments`.
    pub args: &'static [Arg],
}

impl CommandSpec {
    pub fn is_write(&self) -> bool {
        self.flags & flags::WRITE != 0
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
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

    /// Positions of the key arguments in `argv`, by the legacy key spec.
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        let KeySpec { first, last, step } = self.keys;
        if first <= 0 || step <= 0 {
            return Vec::new();
        }
        let last = if last < 0 {
            argc as i64 + last as i64
        } else {
            last as i64
        };
        let mut out = Vec::new();
        let mut i = first as i64;
        while i <= last && (i as usize) < argc {
            out.push(i as usize);
            i += step as i64;
        }
        out
    }
}

/// Builds a `CommandSpec` with the defaults most commands share; families override fields
/// with struct update syntax: `CommandSpec { arity: -3, ..spec("set", set) }`.
pub const fn spec(name: &'static str, handler: Handler) -> CommandSpec {
    CommandSpec {
        name,
        full_name: name,
        arity: -1,
        flags: 0,
        keys: KeySpec::NONE,
        acl: &[],
        tips: &[],
        group: "generic",
        summary: "",
        since: "1.0.0",
        handler,
        subcommands: &[],
        key_specs: &[],
        getkeys: None,
        complexity: "",
        doc_flags: &[],
        deprecated_since: "",
        replaced_by: "",
        history: &[],
        args: &[],
    }
}

/// Key positions shorthand for `CommandSpec::keys`.
pub const fn keys(first: i32, last: i32, step: i32) -> KeySpec {
    KeySpec { first, last, step }
}

/// A top-level command, its lower-case name and its `id`.
type Named = (&'static [u8], &'static CommandSpec, usize);

/// The longest command name `lookup` finds.
const MAX_NAME: usize = 32;

/// The `by_name` bucket of a name of 1 to `MAX_NAME` bytes. Both letter cases share the
/// five low bits.
fn bucket(name: &[u8]) -> usize {
    (name.len() - 1) * 32 + (name[0] & 31) as usize
}

/// Every command, found by lower-case name.
pub struct Registry {
    /// Commands with their `id`, in buckets by name length and first letter (`bucket`):
    /// finding a command compares a name or two, with no hashing and no lower-case copy.
    by_name: Vec<Vec<Named>>,
    all: Vec<&'static CommandSpec>,
    /// A dense index per command and subcommand (by address), for per-command counters.
    ids: HashMap<usize, usize>,
}

impl Registry {
    fn build() -> Registry {
        let all: Vec<&'static CommandSpec> = crate::commands::FAMILIES
            .iter()
            .flat_map(|family| family.iter())
            .collect();
        let ids: HashMap<usize, usize> = all
            .iter()
            .flat_map(|c| std::iter::once(*c).chain(c.subcommands.iter()))
            .enumerate()
            .map(|(id, c)| (c as *const CommandSpec as usize, id))
            .collect();
        let mut by_name: Vec<Vec<Named>> = vec![Vec::new(); MAX_NAME * 32];
        for c in &all {
            let name = c.name.as_bytes();
            if name.is_empty() || name.len() > MAX_NAME {
                continue;
            }
            let id = ids.get(&(*c as *const CommandSpec as usize)).copied();
            let bucket = &mut by_name[bucket(name)];
            // A later entry of the same name replaces an earlier one.
            bucket.retain(|(n, _, _)| *n != name);
            bucket.push((name, *c, id.unwrap_or(0)));
        }
        Registry { by_name, all, ids }
    }

    /// Number of commands and subcommands: the range of `id`.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The dense index of a command or subcommand of this table.
    pub fn id(&self, cmd: &'static CommandSpec) -> usize {
        self.ids
            .get(&(cmd as *const CommandSpec as usize))
            .copied()
            .unwrap_or(0)
    }

    /// Every command and subcommand with its id, in table order.
    pub fn with_ids(&self) -> impl Iterator<Item = (usize, &'static CommandSpec)> + '_ {
        self.all
            .iter()
            .flat_map(|c| std::iter::once(*c).chain(c.subcommands.iter()))
            .enumerate()
    }

    /// The process-wide table.
    pub fn get() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(Registry::build)
    }

    /// Finds a top-level command by name, in any letter case.
    pub fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.lookup_with_id(name).map(|(cmd, _)| cmd)
    }

    /// `lookup`, with the command's `id`.
    fn lookup_with_id(&self, name: &[u8]) -> Option<(&'static CommandSpec, usize)> {
        if name.is_empty() || name.len() > MAX_NAME {
            return None;
        }
        self.by_name[bucket(name)]
            .iter()
            .find(|(n, _, _)| {
                n.iter()
                    .zip(name)
                    .all(|(n, c)| *n == c.to_ascii_lowercase())
            })
            .map(|&(_, cmd, id)| (cmd, id))
    }

    pub fn all(&self) -> &[&'static CommandSpec] {
        &self.all
    }

    /// Resolves `argv` to the command to run: the subcommand for container commands.
    pub fn resolve(&self, argv: &[&[u8]]) -> Result<&'static CommandSpec, Vec<u8>> {
        self.resolve_with_id(argv).map(|(cmd, _)| cmd)
    }

    /// `resolve`, with the command's `id`.
    fn resolve_with_id(&self, argv: &[&[u8]]) -> Result<(&'static CommandSpec, usize), Vec<u8>> {
        let Some((cmd, id)) = self.lookup_with_id(argv[0]) else {
            return Err(errors::unknown_command(argv));
        };
        if cmd.subcommands.is_empty() || argv.len() < 2 {
            return Ok((cmd, id));
        }
        let sub = cmd
            .subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(argv[1]))
            .ok_or_else(|| errors::unknown_subcommand(argv[0], argv[1]))?;
        Ok((sub, self.id(sub)))
    }
}

/// What a handler works with: the locked state, its own client, its reply.
pub struct Ctx<'a> {
    pub state: &'a mut State,
    pub client: &'a mut Client,
    pub out: &'a mut Reply,
    /// The time the command started, in ms since the epoch. Redis freezes the clock for
    /// the length of a command (and of a script), so expiry decisions agree with each other.
    pub now: Millis,
    /// The spec of the running command.
    pub cmd: &'static CommandSpec,
}

impl Ctx<'_> {
    /// The client's selected database.
    pub fn db(&mut self) -> &mut Db {
        &mut self.state.dbs[self.client.db]
    }

    /// Records a change to the keyspace (INFO `rdb_changes_since_last_save`; later, WATCH
    /// and keyspace notifications hook in here).
    pub fn dirty(&mut self, changes: u64) {
        self.state.dirty += changes;
    }
}

/// Runs one command with Redis's checks in Redis's order: lookup (unknown command or
/// subcommand), arity, authentication. Then the handler writes its reply.
pub fn execute(state: &mut State, client: &mut Client, out: &mut Reply, argv: &[&[u8]]) {
    run(state, client, out, argv);
    for code in out.take_error_codes() {
        *state.error_stats.entry(code).or_default() += 1;
    }
}

fn run(state: &mut State, client: &mut Client, out: &mut Reply, argv: &[&[u8]]) {
    let registry = Registry::get();
    let (cmd, id) = match registry.resolve_with_id(argv) {
        Ok(found) => found,
        Err(msg) => {
            out.error_bytes(&msg);
            return;
        }
    };
    if !cmd.arity_ok(argv.len()) {
        out.error(&errors::wrong_arity(cmd.full_name));
        state.command_stats[id].rejected += 1;
        return;
    }
    if !client.authenticated && !cmd.has(flags::NO_AUTH) {
        out.error(errors::NOAUTH);
        state.command_stats[id].rejected += 1;
        return;
    }
    let started = std::time::Instant::now();
    let errors_before = out.errors;
    let now = crate::state::unix_millis();
    let mut ctx = Ctx {
        state,
        client,
        out,
        now,
        cmd,
    };
    (cmd.handler)(&mut ctx, argv);
    ctx.client.last_cmd = cmd.full_name;
    ctx.state.stats.commands_processed += 1;
    let stat = &mut ctx.state.command_stats[id];
    stat.calls += 1;
    stat.usec += started.elapsed().as_micros() as u64;
    if ctx.out.errors > errors_before {
        stat.failed += 1;
    }
}

/// Keys found by a `getkeys` function: (argument position, `key_flags`).
pub type GetKeysFn = fn(&[&[u8]]) -> Vec<(usize, u32)>;

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
pub struct KeySpecDef {
    /// Shown by COMMAND INFO as `notes` when not empty.
    pub notes: &'static str,
    /// `key_flags` bits.
    pub flags: u32,
    pub begin_search: BeginSearch,
    pub find_keys: FindKeys,
}

/// The common key spec: keys from argument `index` to `lastkey` (relative), every `keystep`.
pub const fn key_range(flags: u32, index: i32, lastkey: i32, keystep: i32) -> KeySpecDef {
    KeySpecDef {
        notes: "",
        flags,
        begin_search: BeginSearch::Index(index),
        find_keys: FindKeys::Range {
            lastkey,
            keystep,
            limit: 0,
        },
    }
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

/// COMMAND DOCS argument flags.
pub mod arg_flags {
    pub const OPTIONAL: u32 = 1 << 0;
    pub const MULTIPLE: u32 = 1 << 1;
    pub const MULTIPLE_TOKEN: u32 = 1 << 2;

    pub const NAMES: &[(u32, &str)] = &[
        (OPTIONAL, "optional"),
        (MULTIPLE, "multiple"),
        (MULTIPLE_TOKEN, "multiple_token"),
    ];
}

/// One argument as COMMAND DOCS describes it; build with `arg(name, type)` and struct
/// update syntax. Empty strings and -1 mean "absent".
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgType,
    pub key_spec_index: i32,
    pub token: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub deprecated_since: &'static str,
    /// `arg_flags` bits.
    pub flags: u32,
    /// The members of a `oneof` or `block`.
    pub args: &'static [Arg],
}

pub const fn arg(name: &'static str, kind: ArgType) -> Arg {
    Arg {
        name,
        kind,
        key_spec_index: -1,
        token: "",
        summary: "",
        since: "",
        deprecated_since: "",
        flags: 0,
        args: &[],
    }
}

/// Why COMMAND GETKEYS found no keys where the arguments should have had some.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidKeyArgs;

impl CommandSpec {
    /// The key specs COMMAND INFO shows: the declared ones, or one derived from the legacy
    /// (first, last, step) triple for commands that declare none yet.
    pub fn effective_key_specs(&self) -> std::borrow::Cow<'static, [KeySpecDef]> {
        if !self.key_specs.is_empty() || self.keys.first <= 0 {
            return std::borrow::Cow::Borrowed(self.key_specs);
        }
        let KeySpec { first, last, step } = self.keys;
        let lastkey = if last < 0 { last } else { last - first };
        std::borrow::Cow::Owned(vec![key_range(0, first, lastkey, step)])
    }

    /// True when some key spec names real keys (Redis's `doesCommandHaveKeys`).
    pub fn has_keys(&self) -> bool {
        self.getkeys.is_some()
            || self
                .effective_key_specs()
                .iter()
                .any(|s| s.flags & key_flags::NOT_KEY == 0)
    }

    /// The key arguments of `argv` (argv[0] is the command name) with their flags, as
    /// Redis's `getKeysFromCommandWithSpecs` finds them: by the key specs, falling back to
    /// `getkeys` when a spec cannot tell. `Err` when the arguments contradict the specs.
    pub fn get_keys(&self, argv: &[&[u8]]) -> Result<Vec<(usize, u32)>, InvalidKeyArgs> {
        let specs = self.effective_key_specs();
        let all_flags = specs.iter().fold(0, |acc, s| acc | s.flags);
        let has_keyspec = specs.iter().any(|s| s.flags & key_flags::NOT_KEY == 0);
        if has_keyspec && all_flags & key_flags::VARIABLE_FLAGS == 0 {
            if let Ok(keys) = keys_by_specs(&specs, argv, self.getkeys.is_some()) {
                return Ok(keys);
            }
        }
        match self.getkeys {
            Some(getkeys) => Ok(getkeys(argv)),
            None if has_keyspec => Err(InvalidKeyArgs),
            None => Ok(Vec::new()),
        }
    }
}

/// Redis's `getKeysUsingKeySpecs`: every key spec applied to `argv`, `NOT_KEY` specs
/// skipped. A spec that an argument contradicts (a key count out of range, positions past
/// the end) or that is `Unknown` fails the whole search, and so does an `INCOMPLETE` one
/// when the command has a `getkeys` function to ask instead.
fn keys_by_specs(
    specs: &[KeySpecDef],
    argv: &[&[u8]],
    fail_incomplete: bool,
) -> Result<Vec<(usize, u32)>, InvalidKeyArgs> {
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for spec in specs {
        if spec.flags & key_flags::NOT_KEY != 0 {
            continue;
        }
        let first: i64 = match spec.begin_search {
            BeginSearch::Index(pos) => pos as i64,
            BeginSearch::Keyword { keyword, startfrom } => {
                let startfrom = startfrom as i64;
                let (start, end) = if startfrom > 0 {
                    (startfrom, argc - 1)
                } else {
                    (argc + startfrom, 1)
                };
                // Like Redis, the search stops before `end`: a keyword in the last
                // argument would have no key after it.
                let mut found = 0;
                let mut i = start;
                loop {
                    if i == end || i >= argc || i < 1 {
                        break;
                    }
                    if argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return Err(InvalidKeyArgs),
        };
        if fail_incomplete && spec.flags & key_flags::INCOMPLETE != 0 {
            return Err(InvalidKeyArgs);
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
                if at >= argc {
                    return Err(InvalidKeyArgs);
                }
                let numkeys = crate::util::parse_i64(argv[at as usize])
                    .filter(|&n| n >= 0)
                    .ok_or(InvalidKeyArgs)?;
                let first = first + firstkey as i64;
                (first, first + numkeys - 1, keystep as i64)
            }
            FindKeys::Unknown => return Err(InvalidKeyArgs),
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            return Err(InvalidKeyArgs);
        }
        let mut i = first;
        while i <= last {
            keys.push((i as usize, spec.flags));
            i += step;
        }
    }
    Ok(keys)
}
