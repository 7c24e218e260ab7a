//! The command table and dispatch.
//!
//! Every command is described once by a `CommandSpec` declared next to its handler (in
//! `commands/<family>.rs`): name, arity, flags, key positions, ACL categories, subcommands.
//! Dispatch, arity errors, NOAUTH, COMMAND INFO/COUNT/DOCS/GETKEYS and (later) cluster slot
//! checks all read that one entry. There is no second list of command names anywhere.

use hashbrown::HashMap;
use std::sync::OnceLock;

use std::time::Instant;

use crate::errors;
pub use crate::errors::CommandError;
use crate::keyspace::{DbMut, Key, Millis, Typed, Value, Written};
use crate::reply::Reply;
use crate::state::{Client, State};

/// A command handler: reads its arguments (`argv[0]` is the command name), changes the
/// state through the context, and either writes its one reply and answers `Done`, fails
/// with a `CommandError` (which dispatch writes as the reply), or asks to `Block`. It never
/// touches sockets.
pub type Handler = fn(&mut Ctx, &[&[u8]]) -> CommandResult;

/// What a handler answers.
pub type CommandResult = Result<Outcome, CommandError>;

/// What became of a command that did not fail.
#[derive(Debug)]
pub enum Outcome {
    /// The reply is written.
    Done,
    /// Nothing is written: park the client until a write to one of `keys` makes one of
    /// them hold what it waits for (then the command runs again, in the order clients
    /// blocked), or until `deadline` (then it answers a null array, as Redis's timed-out
    /// list, zset and stream pops do).
    Block(Block),
}

pub use Outcome::Done;

/// Why and how long a client waits.
#[derive(Debug)]
pub struct Block {
    /// The keys, in the selected database, in argument order.
    pub keys: Vec<Key>,
    /// `None`: forever.
    pub deadline: Option<Instant>,
    /// Whether a value wakes the client (a list for BLPOP): a write that leaves another
    /// type under the key leaves the client blocked, as in Redis.
    pub ready_when: fn(&Value) -> bool,
    /// The arguments to run again when woken, if not the command's own: XREAD resolves
    /// `$` to the stream's last id when it blocks, as Redis remembers it.
    pub argv: Option<Vec<Vec<u8>>>,
    /// Run the command again on any write to one of its keys, whatever the key holds
    /// then or whether it is gone: XREADGROUP answers that its stream was deleted.
    pub wake_on_every_write: bool,
}

pub use lockstep_commands::{
    arg_flags, flags, key_flags, Arg, ArgType, BeginSearch, Command, FindKeys, KeySpec,
};

/// A family's handler for one command, joined with the command's metadata by its full
/// name (`get`, `client|kill`).
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub name: &'static str,
    pub handler: Handler,
    /// Keys for commands whose key specs cannot say (Redis's `getkeys_proc`): positions
    /// and `key_flags`. Used only when the key specs fail or are marked incomplete.
    pub getkeys: Option<GetKeysFn>,
}

/// An `Entry` for a `Handler`.
pub const fn handler(name: &'static str, handler: Handler) -> Entry {
    Entry {
        name,
        handler,
        getkeys: None,
    }
}

/// A command the server runs: Redis's metadata for it (generated from the real server,
/// `crates/commands`) and lockstep's handler. Reads through to the metadata
/// (`cmd.arity`, `cmd.flags`, `cmd.key_specs`, ...).
#[derive(Debug)]
pub struct CommandSpec {
    pub meta: &'static Command,
    pub handler: Handler,
    pub getkeys: Option<GetKeysFn>,
    /// The subcommands that have a handler, in metadata order.
    pub subcommands: Vec<&'static CommandSpec>,
}

impl std::ops::Deref for CommandSpec {
    type Target = Command;
    fn deref(&self) -> &Command {
        self.meta
    }
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
        let entries: Vec<&'static Entry> = crate::commands::FAMILIES
            .iter()
            .flat_map(|family| family.iter())
            .collect();
        let spec_of = |entry: &Entry, subcommands: Vec<&'static CommandSpec>| {
            let meta = lockstep_commands::lookup_full(entry.name).unwrap_or_else(|| {
                panic!(
                    "handler for `{}`, which Redis 7.0 does not have",
                    entry.name
                )
            });
            &*Box::leak(Box::new(CommandSpec {
                meta,
                handler: entry.handler,
                getkeys: entry.getkeys,
                subcommands,
            }))
        };
        let mut all: Vec<&'static CommandSpec> = Vec::new();
        for entry in entries.iter().filter(|e| !e.name.contains('|')) {
            let prefix = format!("{}|", entry.name);
            let mut subs: Vec<&'static CommandSpec> = entries
                .iter()
                .filter(|e| e.name.starts_with(&prefix))
                .map(|e| spec_of(e, Vec::new()))
                .collect();
            subs.sort_by_key(|s| s.full_name);
            all.push(spec_of(entry, subs));
        }
        let ids: HashMap<usize, usize> = all
            .iter()
            .flat_map(|c| std::iter::once(*c).chain(c.subcommands.iter().copied()))
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
            .flat_map(|c| std::iter::once(*c).chain(c.subcommands.iter().copied()))
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
    pub(crate) fn resolve_with_id(
        &self,
        argv: &[&[u8]],
    ) -> Result<(&'static CommandSpec, usize), Vec<u8>> {
        let Some((cmd, id)) = self.lookup_with_id(argv[0]) else {
            return Err(errors::unknown_command(argv));
        };
        if cmd.subcommands.is_empty() || argv.len() < 2 {
            return Ok((cmd, id));
        }
        let sub = *cmd
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
    /// False where a blocking command must answer at once as if it had timed out: inside
    /// MULTI/EXEC and scripts (and when a woken client runs its command again).
    pub can_block: bool,
}

impl Ctx<'_> {
    /// The client's selected database, through the modification hook.
    #[inline]
    pub fn db(&mut self) -> DbMut<'_> {
        let index = self.client.db;
        self.state.db(index, self.now)
    }

    /// The selected database and the reply, borrowed apart, for handlers that stream a
    /// value into the reply while they hold it.
    #[inline]
    pub fn db_out(&mut self) -> (DbMut<'_>, &mut Reply) {
        let index = self.client.db;
        (self.state.db(index, self.now), &mut *self.out)
    }

    /// The value of `key` as a `T` (counting a hit or a miss); WRONGTYPE for another type.
    pub fn read<T: Typed>(&mut self, key: &[u8]) -> Result<Option<&T>, CommandError> {
        self.db().into_read(key)
    }

    /// `key`'s value as a `T` to change in place; WRONGTYPE for another type.
    pub fn write<'s, T: Typed>(
        &'s mut self,
        key: &'s [u8],
    ) -> Result<Option<Written<'s, T>>, CommandError> {
        self.db().into_write(key)
    }

    /// `write`, creating the key with `create()` when it is missing.
    pub fn write_or_create<'s, T: Typed>(
        &'s mut self,
        key: &'s [u8],
        create: impl FnOnce() -> Value,
    ) -> Result<Written<'s, T>, CommandError> {
        self.db().into_write_or_create(key, create)
    }

    /// Parks the client on `keys` until `deadline`, where blocking is allowed; where it is
    /// not (MULTI, scripts), answers as a timeout does: a null array.
    pub fn block(
        &mut self,
        keys: &[&[u8]],
        deadline: Option<Instant>,
        ready_when: fn(&Value) -> bool,
    ) -> CommandResult {
        if !self.can_block {
            self.out.null_array();
            return Ok(Done);
        }
        Ok(Outcome::Block(Block {
            keys: keys.iter().map(|k| Key::from_slice(k)).collect(),
            deadline,
            ready_when,
            argv: None,
            wake_on_every_write: false,
        }))
    }
}

/// Keys found by a `getkeys` function: (argument position, `key_flags`).
pub type GetKeysFn = fn(&[&[u8]]) -> Vec<(usize, u32)>;

/// Why COMMAND GETKEYS found no keys where the arguments should have had some.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidKeyArgs;

impl CommandSpec {
    /// True when some key spec names real keys (Redis's `doesCommandHaveKeys`).
    pub fn has_keys(&self) -> bool {
        self.getkeys.is_some()
            || self
                .key_specs
                .iter()
                .any(|s| s.flags & key_flags::NOT_KEY == 0)
    }

    /// The key arguments of `argv` (argv[0] is the command name) with their flags, as
    /// Redis's `getKeysFromCommandWithSpecs` finds them: by the key specs, falling back to
    /// `getkeys` when a spec cannot tell. `Err` when the arguments contradict the specs.
    pub fn get_keys(&self, argv: &[&[u8]]) -> Result<Vec<(usize, u32)>, InvalidKeyArgs> {
        let specs = self.key_specs;
        let all_flags = specs.iter().fold(0, |acc, s| acc | s.flags);
        let has_keyspec = specs.iter().any(|s| s.flags & key_flags::NOT_KEY == 0);
        if has_keyspec && all_flags & key_flags::VARIABLE_FLAGS == 0 {
            if let Some(keys) = self.keys_by_specs(argv, self.getkeys.is_some()) {
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
