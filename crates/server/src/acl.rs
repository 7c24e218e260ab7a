//! Access control lists as Redis 7.0 has them: users (flags, password hashes, a root
//! selector and further selectors), the rules `ACL SETUSER` applies, the way Redis prints
//! them back (`ACL LIST`, `ACL GETUSER`), the permission check `processCommand`, EXEC and
//! `redis.call` run, and the ACL log.
//!
//! Command permissions are a bitmap over every command and subcommand Redis 7.0 knows (the
//! generated metadata, not only the ones lockstep runs), so categories count, render and
//! apply as in Redis. This module never touches a socket or writes a reply: the ACL
//! command family (`commands/acl.rs`) and dispatch turn its answers into replies.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock};

use hashbrown::HashMap;
use lockstep_commands::{flags, key_flags, Command, COMMANDS};

use crate::command::CommandSpec;
use crate::state::{Client, State};
use crate::util::glob_match;

/// Redis's categories, in the order `ACL CAT` lists them and rule rendering tries them.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Commands lockstep has that Redis 7.0 does not (from later versions): in no category
/// and unknown to rules, so that categories count, list and render as in Redis 7.0.
const NOT_IN_REDIS_7_0: &[&str] = &["client|setinfo"];

/// Bits in a command bitmap; the last is never a command's: `+@all` sets it, so that a
/// user built by subtracting from everything renders as `+@all ...` (Redis's "future
/// commands" bit).
const BITS: usize = 1024;
const FUTURE: usize = BITS - 1;

/// Every command and subcommand Redis 7.0 has, with a dense id for the bitmaps.
pub struct Table {
    pub cmds: Vec<&'static Command>,
    subs: Vec<Vec<usize>>,
    parent: Vec<Option<usize>>,
    /// Bit `j` set: the command is in `CATEGORIES[j]`.
    cats: Vec<u32>,
    by_addr: HashMap<usize, usize>,
}

impl Table {
    pub fn get() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(|| {
            let mut t = Table {
                cmds: Vec::new(),
                subs: Vec::new(),
                parent: Vec::new(),
                cats: Vec::new(),
                by_addr: HashMap::new(),
            };
            for cmd in COMMANDS {
                let id = t.push(cmd, None);
                for sub in cmd.subcommands {
                    let sid = t.push(sub, Some(id));
                    t.subs[id].push(sid);
                }
            }
            assert!(t.cmds.len() < FUTURE, "more commands than ACL bits");
            t
        })
    }

    fn push(&mut self, cmd: &'static Command, parent: Option<usize>) -> usize {
        let id = self.cmds.len();
        self.cmds.push(cmd);
        self.subs.push(Vec::new());
        self.parent.push(parent);
        let mut mask = 0;
        let known = !NOT_IN_REDIS_7_0.contains(&cmd.full_name);
        for cat in cmd.acl.iter().filter(|_| known) {
            if let Some(j) = CATEGORIES.iter().position(|c| c == cat) {
                mask |= 1 << j;
            }
        }
        self.cats.push(mask);
        self.by_addr.insert(cmd as *const Command as usize, id);
        id
    }

    /// The id of a command of the metadata table.
    pub fn id_of(&self, cmd: &'static Command) -> Option<usize> {
        self.by_addr.get(&(cmd as *const Command as usize)).copied()
    }

    /// Redis's `ACLLookupCommand`: `name` or `container|sub`, any letter case.
    fn lookup(&self, name: &[u8]) -> Option<usize> {
        let name = std::str::from_utf8(name).ok()?;
        let mut parts = name.split('|');
        let first = parts.next()?;
        let cmd = lockstep_commands::lookup(first.as_bytes())?;
        let cmd = match parts.next() {
            None => cmd,
            Some(sub) => {
                if parts.next().is_some() {
                    return None;
                }
                cmd.subcommand(sub.as_bytes())?
            }
        };
        if NOT_IN_REDIS_7_0.contains(&cmd.full_name) {
            return None;
        }
        self.id_of(cmd)
    }

    /// The commands of a category, top-level ones each followed by their subcommands.
    pub fn in_category(&self, cat: usize) -> impl Iterator<Item = &'static Command> + '_ {
        (0..self.cmds.len())
            .filter(move |&id| self.cats[id] & (1 << cat) != 0)
            .map(|id| self.cmds[id])
    }
}

/// The index of a category name, any letter case.
pub fn category(name: &[u8]) -> Option<usize> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
}

#[derive(Clone, PartialEq, Eq)]
struct Bits([u64; BITS / 64]);

impl Bits {
    fn get(&self, id: usize) -> bool {
        self.0[id / 64] & (1 << (id % 64)) != 0
    }
    fn set(&mut self, id: usize, on: bool) {
        if on {
            self.0[id / 64] |= 1 << (id % 64);
        } else {
            self.0[id / 64] &= !(1 << (id % 64));
        }
    }
}

pub const READ: u8 = 1;
pub const WRITE: u8 = 2;

/// A set of permissions: the user's root one, or one of its `(...)` selectors.
#[derive(Clone)]
pub struct Selector {
    root: bool,
    all_keys: bool,
    all_channels: bool,
    all_commands: bool,
    allowed: Bits,
    /// First arguments allowed for a command whose bit is off (`+select|0`), by id.
    first_args: BTreeMap<usize, Vec<Vec<u8>>>,
    /// Key patterns with `READ`/`WRITE`, in the order added.
    patterns: Vec<(Vec<u8>, u8)>,
    channels: Vec<Vec<u8>>,
}

impl Selector {
    fn new(root: bool, all_channels: bool) -> Selector {
        Selector {
            root,
            all_keys: false,
            all_channels,
            all_commands: false,
            allowed: Bits([0; BITS / 64]),
            first_args: BTreeMap::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        self.allowed.set(id, on);
        if !on {
            self.all_commands = false;
        }
    }

    /// Redis's `ACLChangeSelectorPerm`: a command and, for a container, its subcommands.
    fn change_perm(&mut self, table: &Table, id: usize, allow: bool) {
        self.set_bit(id, allow);
        self.first_args.remove(&id);
        for &sub in &table.subs[id] {
            self.set_bit(sub, allow);
        }
    }

    fn set_category(&mut self, table: &Table, cat: usize, allow: bool) {
        for id in 0..table.cmds.len() {
            if table.cats[id] & (1 << cat) != 0 {
                self.change_perm(table, id, allow);
            }
        }
    }

    /// Redis's `ACLSetSelector`: one rule about commands, keys or channels.
    fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let table = Table::get();
        if op.is_empty() {
            return Err(RuleError::Syntax);
        }
        let is = |s: &str| op.eq_ignore_ascii_case(s.as_bytes());
        if is("allkeys") || is("~*") {
            self.all_keys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.patterns.clear();
        } else if is("allchannels") || is("&*") {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.allowed = Bits([u64::MAX; BITS / 64]);
            self.all_commands = true;
            self.first_args.clear();
        } else if is("nocommands") || is("-@all") {
            self.allowed = Bits([0; BITS / 64]);
            self.all_commands = false;
            self.first_args.clear();
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.all_keys {
                return Err(RuleError::KeysAfterAll);
            }
            let mut perms = 0;
            let mut offset = 1;
            if op[0] == b'%' {
                while offset < op.len() {
                    let c = op[offset].to_ascii_uppercase();
                    if c == b'R' && perms & READ == 0 {
                        perms |= READ;
                    } else if c == b'W' && perms & WRITE == 0 {
                        perms |= WRITE;
                    } else if op[offset] == b'~' {
                        offset += 1;
                        break;
                    } else {
                        return Err(RuleError::Syntax);
                    }
                    offset += 1;
                }
                if perms == 0 {
                    return Err(RuleError::Syntax);
                }
            } else {
                perms = READ | WRITE;
            }
            let pattern = &op[offset..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.patterns.iter_mut().find(|(p, _)| p == pattern) {
                Some((_, f)) => *f |= perms,
                None => self.patterns.push((pattern.to_vec(), perms)),
            }
            self.all_keys = false;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelsAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
            self.all_channels = false;
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let id = table.lookup(name).ok_or(RuleError::Unknown)?;
                    self.change_perm(table, id, true);
                }
                Some(bar) => {
                    let id = table.lookup(&name[..bar]).ok_or(RuleError::Unknown)?;
                    if table.parent[id].is_some() {
                        return Err(RuleError::FirstArgOfSubcommand);
                    }
                    let sub = &name[bar + 1..];
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !table.subs[id].is_empty() {
                        let sid = table.lookup(name).ok_or(RuleError::Unknown)?;
                        self.change_perm(table, sid, true);
                    } else {
                        let list = self.first_args.entry(id).or_default();
                        if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                            list.push(sub.to_vec());
                        }
                    }
                }
            }
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let id = table.lookup(&op[1..]).ok_or(RuleError::Unknown)?;
            self.change_perm(table, id, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let cat = category(&op[2..]).ok_or(RuleError::Unknown)?;
            self.set_category(table, cat, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// Redis 7.0's `ACLDescribeSelectorCommandRules`: `+@all` or `-@all`, then the
    /// categories that fit best, one at a time, then single commands for what is left.
    /// Redis lists those single commands in the order of its command hash table, which a
    /// random seed changes from run to run; this lists them in table order.
    pub fn describe_commands(&self) -> String {
        let table = Table::get();
        let additive = !self.allowed.get(FUTURE);
        let mut fake = Selector::new(false, false);
        let mut rules = String::new();
        if additive {
            rules.push_str("-@all ");
        } else {
            rules.push_str("+@all ");
            fake.allowed = Bits([u64::MAX; BITS / 64]);
        }
        let mut temp = self.allowed.clone();
        let mut applied = [false; CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, _) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (mut on, mut off) = (0, 0);
                for id in 0..table.cmds.len() {
                    if table.cats[id] & (1 << j) != 0 {
                        if temp.get(id) {
                            on += 1;
                        } else {
                            off += 1;
                        }
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            fake.set_category(table, j, additive);
            let mut t = Selector::new(false, false);
            t.allowed = temp;
            t.set_category(table, j, !additive);
            temp = t.allowed;
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(CATEGORIES[j]);
            rules.push(' ');
            applied[j] = true;
        }
        for id in 0..table.cmds.len() {
            if table.parent[id].is_some() {
                continue;
            }
            self.describe_single(table, &mut fake, id, &mut rules);
            for &sub in &table.subs[id] {
                self.describe_single(table, &mut fake, sub, &mut rules);
            }
            self.describe_first_args(table, id, &mut rules);
        }
        rules.pop();
        rules
    }

    fn describe_single(&self, table: &Table, fake: &mut Selector, id: usize, rules: &mut String) {
        let bit = self.allowed.get(id);
        if bit != fake.allowed.get(id) {
            rules.push(if bit { '+' } else { '-' });
            rules.push_str(table.cmds[id].full_name);
            rules.push(' ');
            fake.change_perm(table, id, bit);
        }
        if table.parent[id].is_some() {
            self.describe_first_args(table, id, rules);
        }
    }

    fn describe_first_args(&self, table: &Table, id: usize, rules: &mut String) {
        if self.allowed.get(id) {
            return;
        }
        if let Some(args) = self.first_args.get(&id) {
            for arg in args {
                rules.push('+');
                rules.push_str(table.cmds[id].full_name);
                rules.push('|');
                rules.push_str(&String::from_utf8_lossy(arg));
                rules.push(' ');
            }
        }
    }

    /// GETUSER's `keys`: the patterns, space-separated.
    pub fn describe_keys(&self) -> Vec<u8> {
        if self.all_keys {
            return b"~*".to_vec();
        }
        let mut out = Vec::new();
        for (i, (p, f)) in self.patterns.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            pattern_string(&mut out, p, *f);
        }
        out
    }

    /// GETUSER's `channels`.
    pub fn describe_channels(&self) -> Vec<u8> {
        if self.all_channels {
            return b"&*".to_vec();
        }
        let mut out = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.push(b'&');
            out.extend_from_slice(c);
        }
        out
    }

    /// Redis's `ACLDescribeSelector`: keys, channels, commands, as ACL LIST shows them.
    fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.all_keys {
            out.extend_from_slice(b"~* ");
        } else {
            for (p, f) in &self.patterns {
                pattern_string(&mut out, p, *f);
                out.push(b' ');
            }
        }
        if self.all_channels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for c in &self.channels {
                out.push(b'&');
                out.extend_from_slice(c);
                out.push(b' ');
            }
        }
        out.extend_from_slice(self.describe_commands().as_bytes());
        out
    }

    /// Redis's `ACLSelectorCheckCmd`.
    fn check(&self, cmd: &CommandCheck) -> Result<(), (Denied, usize)> {
        let argv = cmd.argv;
        if !self.all_commands && !cmd.meta.has(flags::NO_AUTH) && !self.allowed.get(cmd.id) {
            let idx = if Table::get().parent[cmd.id].is_some() {
                2
            } else {
                1
            };
            let ok = argv.len() >= 2
                && self.first_args.get(&cmd.id).is_some_and(|args| {
                    argv.get(idx)
                        .is_some_and(|a| args.iter().any(|x| x.eq_ignore_ascii_case(a)))
                });
            if !ok {
                return Err((Denied::Command, 0));
            }
        }
        if !self.all_keys {
            for &(pos, kflags) in cmd.keys() {
                let mut need = 0;
                if kflags & key_flags::ACCESS != 0 {
                    need |= READ;
                }
                if kflags & (key_flags::INSERT | key_flags::DELETE | key_flags::UPDATE) != 0 {
                    need |= WRITE;
                }
                let key = argv[pos];
                let ok = self
                    .patterns
                    .iter()
                    .any(|(p, f)| f & need == need && glob_match(p, key, false));
                if !ok {
                    return Err((Denied::Key, pos));
                }
            }
        }
        if !self.all_channels {
            for (pos, pattern) in channels(cmd.meta.full_name, argv.len()) {
                if !channel_allowed(&self.channels, argv[pos], pattern) {
                    return Err((Denied::Channel, pos));
                }
            }
        }
        Ok(())
    }
}

fn channel_allowed(list: &[Vec<u8>], channel: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            p == channel
        } else {
            glob_match(p, channel, false)
        }
    })
}

/// The channel arguments whose use ACLs check (publishing and subscribing; unsubscribing
/// is always allowed), and whether each is a pattern.
fn channels(full_name: &str, argc: usize) -> Vec<(usize, bool)> {
    match full_name {
        "publish" | "spublish" if argc > 1 => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..argc).map(|i| (i, false)).collect(),
        "psubscribe" => (1..argc).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

fn pattern_string(out: &mut Vec<u8>, pattern: &[u8], perms: u8) {
    out.extend_from_slice(match perms {
        READ => b"%R~".as_slice(),
        WRITE => b"%W~",
        _ => b"~",
    });
    out.extend_from_slice(pattern);
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| b.is_ascii_whitespace() || b == 0x0b || b == 0)
}

/// Why a rule was refused, as `ACLSetUserStringError` words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    Unknown,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
}

impl RuleError {
    pub fn text(self) -> &'static str {
        match self {
            RuleError::Syntax => "Syntax error",
            RuleError::Unknown => "Unknown command or category name in ACL",
            RuleError::KeysAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelsAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::FirstArgOfSubcommand => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// A user: `on`/`off`, `nopass`, payload sanitizing, password hashes (SHA-256, hex) and
/// selectors, the root one first.
#[derive(Clone)]
pub struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    /// `None`: neither flag was given; `Some(true)`: skip-sanitize-payload.
    pub sanitize: Option<bool>,
    pub passwords: Vec<String>,
    pub selectors: Vec<Selector>,
    /// The root selector may run everything on every key and channel: the permission
    /// check is skipped (kept by `refresh`).
    pub unrestricted: bool,
}

impl User {
    pub fn new(name: &[u8], all_channels: bool) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(true, all_channels)],
            unrestricted: false,
        }
    }

    fn default_user() -> User {
        let mut u = User::new(b"default", false);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = u.apply(op.as_bytes(), false);
        }
        u.refresh();
        u
    }

    fn refresh(&mut self) {
        let root = &self.selectors[0];
        self.unrestricted = root.all_commands && root.all_keys && root.all_channels;
    }

    /// Redis's `ACLSetUser`: one rule.
    pub fn apply(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |s: &str| op.eq_ignore_ascii_case(s.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Some(true);
        } else if is("sanitize-payload") {
            self.sanitize = Some(false);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else {
                valid_hash(&op[1..])?
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else {
                valid_hash(&op[1..])?
            };
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut selector = Selector::new(false, pubsub_all);
            let inner = &op[1..op.len() - 1];
            // Unbalanced quotes split into nothing, as `sdssplitargs` fails: an empty
            // selector, not an error.
            for rule in split_args(inner).unwrap_or_default() {
                selector.apply(&rule)?;
            }
            self.selectors.push(selector);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for rule in ["resetpass", "resetkeys", "resetchannels"] {
                self.apply(rule.as_bytes(), pubsub_all)?;
            }
            if pubsub_all {
                self.apply(b"allchannels", pubsub_all)?;
            }
            for rule in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                self.apply(rule.as_bytes(), pubsub_all)?;
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        self.refresh();
        Ok(())
    }

    /// Redis's `ACLDescribeUser`, as ACL LIST and the ACL file have it (after `user name `).
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for flag in self.flags() {
            out.extend_from_slice(flag.as_bytes());
            out.push(b' ');
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(p.as_bytes());
            out.push(b' ');
        }
        for s in &self.selectors {
            if s.root {
                out.extend_from_slice(&s.describe());
            } else {
                out.extend_from_slice(b" (");
                out.extend_from_slice(&s.describe());
                out.push(b')');
            }
        }
        out
    }

    /// Whether some selector allows every channel.
    pub fn selectors_all_channels(&self) -> bool {
        self.selectors.iter().any(|s| s.all_channels)
    }

    /// The channel patterns of every selector.
    pub fn all_channel_patterns(&self) -> Vec<Vec<u8>> {
        self.selectors
            .iter()
            .flat_map(|s| s.channels.iter().cloned())
            .collect()
    }

    /// GETUSER's `flags`, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(true) => f.push("skip-sanitize-payload"),
            Some(false) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    /// Redis's `ACLCheckAllUserCommandPerm`: the first selector that allows the command
    /// wins; otherwise the most telling denial (a key or channel over the command, the
    /// later argument over the earlier).
    pub fn check(&self, cmd: &CommandCheck) -> Result<(), (Denied, usize)> {
        if self.unrestricted {
            return Ok(());
        }
        let mut worst = (Denied::Command, 0);
        for s in &self.selectors {
            match s.check(cmd) {
                Ok(()) => return Ok(()),
                Err((d, pos)) => {
                    if d > worst.0 || (d == worst.0 && pos > worst.1) {
                        worst = (d, pos);
                    }
                }
            }
        }
        Err(worst)
    }

    fn password_ok(&self, pass: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hash = hash_password(pass);
        let mut ok = false;
        for p in &self.passwords {
            ok |= constant_time_eq(p.as_bytes(), hash.as_bytes());
        }
        ok
    }
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for (i, &x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(!x);
    }
    diff == 0
}

fn valid_hash(h: &[u8]) -> Result<String, RuleError> {
    if h.len() != 64 || !h.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(h).into_owned())
}

/// What ACLs deny, in Redis's order of precedence (`ACL_DENIED_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Command = 1,
    Key = 2,
    Auth = 3,
    Channel = 4,
}

impl Denied {
    /// The `-NOPERM` reply of `processCommand`.
    pub fn noperm(self, full_name: &str) -> String {
        match self {
            Denied::Command => format!(
                "NOPERM this user has no permissions to run the '{full_name}' command"
            ),
            Denied::Key => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
            Denied::Channel => "NOPERM this user has no permissions to access one of the channels used as arguments".into(),
            Denied::Auth => "NOPERM no permission".into(),
        }
    }

    /// Redis's `getAclErrorMessage` (scripts).
    pub fn message(self) -> &'static str {
        match self {
            Denied::Command => "can't run this command or subcommand",
            Denied::Key => {
                "can't access at least one of the keys mentioned in the command arguments"
            }
            Denied::Channel => "can't publish to the channel mentioned in the command",
            Denied::Auth => "lacking the permissions for the command",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Denied::Command => "command",
            Denied::Key => "key",
            Denied::Channel => "channel",
            Denied::Auth => "auth",
        }
    }
}

/// A command about to run, as the check sees it.
pub struct CommandCheck<'a> {
    pub meta: &'static Command,
    pub id: usize,
    pub spec: &'static CommandSpec,
    pub argv: &'a [&'a [u8]],
    keys: std::cell::OnceCell<Vec<(usize, u32)>>,
}

impl<'a> CommandCheck<'a> {
    pub fn new(spec: &'static CommandSpec, argv: &'a [&'a [u8]]) -> Option<CommandCheck<'a>> {
        let id = Table::get().id_of(spec.meta)?;
        Some(CommandCheck {
            meta: spec.meta,
            id,
            spec,
            argv,
            keys: std::cell::OnceCell::new(),
        })
    }

    /// The key arguments, found once for every selector (Redis's key result cache).
    fn keys(&self) -> &[(usize, u32)] {
        self.keys.get_or_init(|| {
            if !self.spec.has_keys() {
                return Vec::new();
            }
            self.spec.get_keys(self.argv).unwrap_or_default()
        })
    }
}

/// Where a denial happened, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// One ACL LOG entry.
pub struct LogEntry {
    pub count: u64,
    pub reason: Denied,
    pub context: Context,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Milliseconds since the epoch of the last update.
    pub ctime: i64,
    pub client_info: Vec<u8>,
}

impl LogEntry {
    pub fn reason(&self) -> &'static str {
        self.reason.reason()
    }
    pub fn context(&self) -> &'static str {
        self.context.name()
    }
}

/// The server's users and log.
pub struct Acl {
    /// Every user but `default`, by name (Redis lists users in name order).
    pub users: BTreeMap<Vec<u8>, User>,
    pub default: User,
    pub log: VecDeque<LogEntry>,
    /// The `requirepass` last applied to the default user (CONFIG SET requirepass resets
    /// its passwords, as in Redis).
    requirepass_seen: Option<Vec<u8>>,
}

impl std::fmt::Debug for Acl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acl")
            .field("users", &(self.users.len() + 1))
            .field("log", &self.log.len())
            .finish()
    }
}

impl Default for Acl {
    fn default() -> Acl {
        Acl {
            users: BTreeMap::new(),
            default: User::default_user(),
            log: VecDeque::new(),
            requirepass_seen: None,
        }
    }
}

impl Acl {
    pub fn user(&self, name: &[u8]) -> Option<&User> {
        if name == b"default" {
            Some(&self.default)
        } else {
            self.users.get(name)
        }
    }

    /// The user of a client (`None`: the user was deleted under it).
    pub fn user_of(&self, client: &Client) -> Option<&User> {
        match &client.user {
            None => Some(&self.default),
            Some(name) => self.users.get(&name[..]),
        }
    }

    /// Every user in name order, `default` among them.
    pub fn all(&self) -> Vec<&User> {
        let mut all: Vec<&User> = self.users.values().collect();
        let at = all
            .iter()
            .position(|u| u.name.as_slice() > b"default".as_slice())
            .unwrap_or(all.len());
        all.insert(at, &self.default);
        all
    }

    /// Replaces (or creates) a user.
    pub fn put(&mut self, user: User) {
        if user.name == b"default" {
            self.default = user;
        } else {
            self.users.insert(user.name.clone(), user);
        }
    }

    /// Whether clients of the default user must authenticate (Redis's `authRequired`).
    pub fn default_needs_auth(&self) -> bool {
        !self.default.nopass || !self.default.enabled
    }
}

/// Applies a changed `requirepass` to the default user, as Redis's CONFIG SET does
/// (`resetpass`, then the password or `nopass`).
pub fn sync_requirepass(state: &mut State) {
    let current = state
        .config
        .requirepass
        .as_deref()
        .filter(|p| !p.is_empty());
    if current == state.acl.requirepass_seen.as_deref() {
        return;
    }
    let current = current.map(|p| p.to_vec());
    let default = &mut state.acl.default;
    let _ = default.apply(b"resetpass", false);
    match &current {
        Some(p) => {
            let mut op = b">".to_vec();
            op.extend_from_slice(p);
            let _ = default.apply(&op, false);
        }
        None => {
            let _ = default.apply(b"nopass", false);
        }
    }
    state.acl.requirepass_seen = current;
}

/// Redis's `authRequired` for an unauthenticated client: the default user needs a password
/// or is off (a client that connected while one was needed may go on once none is).
pub fn auth_required(state: &mut State) -> bool {
    sync_requirepass(state);
    state.acl.default_needs_auth()
}

/// Whether a new connection of the default user starts unauthenticated, without changing
/// anything (`requirepass` may not be applied yet).
pub fn default_needs_auth(state: &State) -> bool {
    let current = state
        .config
        .requirepass
        .as_deref()
        .filter(|p| !p.is_empty());
    if current != state.acl.requirepass_seen.as_deref() {
        return current.is_some() || !state.acl.default.enabled;
    }
    state.acl.default_needs_auth()
}

/// `acl-pubsub-default allchannels`: new users and selectors start with every channel.
pub fn pubsub_all(state: &State) -> bool {
    state
        .config
        .value("acl-pubsub-default")
        .is_some_and(|v| v == "allchannels")
}

/// Redis's `ACLAuthenticateUser`: checks a pair and, when good, makes `user` the client's;
/// a bad pair is logged.
pub fn authenticate(
    state: &mut State,
    client: &mut Client,
    user: &[u8],
    pass: &[u8],
    cmd_name: &[u8],
) -> bool {
    sync_requirepass(state);
    let ok = state.acl.user(user).is_some_and(|u| u.password_ok(pass));
    if ok {
        client.authenticated = true;
        client.user = if user == b"default" {
            None
        } else {
            Some(Arc::from(user))
        };
    } else {
        let context = if client.in_multi {
            Context::Multi
        } else {
            Context::Toplevel
        };
        log(
            state,
            client,
            Denied::Auth,
            context,
            cmd_name.to_vec(),
            Some(user),
        );
    }
    ok
}

/// The check `processCommand` makes: `Err` with the `-NOPERM` text when the client's user
/// may not run this command on these keys and channels (the denial is logged).
#[inline]
pub fn check_command(
    state: &mut State,
    client: &Client,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
) -> Result<(), String> {
    if client.user.is_none() && state.acl.default.unrestricted {
        return Ok(());
    }
    let context = if client.in_multi {
        Context::Multi
    } else {
        Context::Toplevel
    };
    check_slow(state, client, spec, argv, context).map_err(|d| d.noperm(spec.full_name))
}

/// The check a script's `redis.call` makes: `Err` with what the script's error says.
pub fn check_script_call(
    state: &mut State,
    client: &Client,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
) -> Result<(), Denied> {
    if client.user.is_none() && state.acl.default.unrestricted {
        return Ok(());
    }
    check_slow(state, client, spec, argv, Context::Lua)
}

#[cold]
fn check_slow(
    state: &mut State,
    client: &Client,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    context: Context,
) -> Result<(), Denied> {
    let Some(check) = CommandCheck::new(spec, argv) else {
        return Ok(());
    };
    let result = match state.acl.user_of(client) {
        Some(user) => user.check(&check),
        None => Err((Denied::Command, 0)),
    };
    match result {
        Ok(()) => Ok(()),
        Err((denied, pos)) => {
            let object = match denied {
                Denied::Command => spec.full_name.as_bytes().to_vec(),
                _ => argv.get(pos).map(|a| a.to_vec()).unwrap_or_default(),
            };
            log(state, client, denied, context, object, None);
            Err(denied)
        }
    }
}

/// Redis's `addACLLogEntry`: a new entry, or one more count on a like one of the last
/// minute among the 10 newest.
pub fn log(
    state: &mut State,
    client: &Client,
    reason: Denied,
    context: Context,
    object: Vec<u8>,
    username: Option<&[u8]>,
) {
    let username = match username {
        Some(u) => u.to_vec(),
        None => client
            .user
            .as_deref()
            .unwrap_or(b"default".as_slice())
            .to_vec(),
    };
    let ctime = crate::state::unix_millis() as i64;
    let client_info = crate::commands::client::info_line(state, client);
    let log = &mut state.acl.log;
    let found = log.iter().take(10).position(|e| {
        e.reason == reason
            && e.context == context
            && (e.ctime - ctime).abs() <= 60_000
            && e.object == object
            && e.username == username
    });
    if let Some(at) = found {
        if let Some(mut e) = log.remove(at) {
            e.count += 1;
            e.ctime = ctime;
            e.client_info = client_info;
            log.push_front(e);
        }
        return;
    }
    log.push_front(LogEntry {
        count: 1,
        reason,
        context,
        object,
        username,
        ctime,
        client_info,
    });
    let max = state
        .config
        .value("acllog-max-len")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(128);
    while state.acl.log.len() > max {
        state.acl.log.pop_back();
    }
}

/// Redis's `sdssplitargs` for the rules inside a selector: words separated by spaces,
/// with double and single quotes. `None` for unbalanced quotes.
fn split_args(s: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= s.len() {
            return Some(out);
        }
        let mut word = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                let c = *s.get(i)?;
                if c == b'\\' && i + 1 < s.len() {
                    i += 1;
                    word.push(match s[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        c => c,
                    });
                } else if c == b'"' {
                    if i + 1 < s.len() && !s[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    word.push(c);
                }
            } else if insq {
                let c = *s.get(i)?;
                if c == b'\\' && s.get(i + 1) == Some(&b'\'') {
                    i += 1;
                    word.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < s.len() && !s[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    word.push(c);
                }
            } else {
                match s.get(i) {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => inq = true,
                    Some(b'\'') => insq = true,
                    Some(&c) => word.push(c),
                }
            }
            i += 1;
        }
        out.push(word);
    }
}

/// The hex SHA-256 of a password, as Redis stores it.
pub fn hash_password(pass: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(pass);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
        out.push(char::from(b"0123456789abcdef"[(b & 15) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_strings() {
        assert_eq!(
            hash_password(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hash_password(b"p1"),
            "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a"
        );
    }

    #[test]
    fn default_user_renders_as_redis_does() {
        let u = User::default_user();
        assert_eq!(
            String::from_utf8(u.describe()).unwrap(),
            "on nopass ~* &* +@all"
        );
        assert!(u.unrestricted);
    }

    #[test]
    fn categories_render_best_fit_first() {
        let mut u = User::new(b"a", false);
        for op in ["+@hash", "-hset", "+get"] {
            u.apply(op.as_bytes(), false).unwrap();
        }
        assert_eq!(
            u.selectors[0].describe_commands(),
            "-@all +@hash +get -hset"
        );
    }

    /// Rules drawn from every kind SETUSER takes, good and bad.
    fn rule() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            prop::sample::select(vec![
                "+@all",
                "-@all",
                "allcommands",
                "nocommands",
                "+@read",
                "-@write",
                "+@hash",
                "-@dangerous",
                "+@admin",
                "-@slow",
                "+@fast",
                "+get",
                "-get",
                "+client",
                "-client|kill",
                "+client|kill",
                "+config|get",
                "-config",
                "+select|0",
                "+debug|object",
                "+@pubsub",
                "-@keyspace",
                "~*",
                "%R~r*",
                "%W~w*",
                "allkeys",
                "resetkeys",
                "&*",
                "&c*",
                "resetchannels",
                "on",
                "off",
                "nopass",
                ">p",
                "<p",
                "resetpass",
                "reset",
                "(+get ~k*)",
                "clearselectors",
                "(",
                ")",
                "%",
                "%R",
                "+",
                "-",
                "+@",
                "#",
                "!",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..12),
        ]
    }

    proptest::proptest! {
        /// Any rules: no panic, and the rendered command rules rebuild the same bitmap (the
        /// check Redis makes before printing them).
        #[test]
        fn rendered_rules_rebuild_the_same_permissions(
            rules in proptest::collection::vec(rule(), 0..12)
        ) {
            let mut u = User::new(b"p", false);
            for r in &rules {
                let _ = u.apply(r, false);
            }
            let _ = u.describe();
            for s in &u.selectors {
                let text = s.describe_commands();
                let mut rebuilt = Selector::new(false, false);
                for op in text.split(' ') {
                    proptest::prop_assert!(rebuilt.apply(op.as_bytes()).is_ok(), "{}", text);
                }
                proptest::prop_assert!(rebuilt.allowed == s.allowed, "{}", text);
                // First arguments of an allowed command do not show (nor matter), as in
                // Redis.
                let shown: BTreeMap<usize, Vec<Vec<u8>>> = s
                    .first_args
                    .iter()
                    .filter(|(id, _)| !s.allowed.get(**id))
                    .map(|(id, a)| (*id, a.clone()))
                    .collect();
                proptest::prop_assert_eq!(&rebuilt.first_args, &shown);
            }
        }
    }
}
