//! COMMAND and its subcommands: the command table, as clients and tools read it.
//!
//! Everything here is read from the `CommandSpec`s; nothing lists command names. Replies
//! follow Redis 7.0's shapes exactly (which parts are sets, maps or arrays in RESP3), so
//! COMMAND INFO and COMMAND DOCS of a command equal Redis's once its spec is complete.

use crate::command::{
    arg_flags, flags, handler, key_flags, Arg, ArgType, BeginSearch, CommandResult, CommandSpec,
    Ctx, Done, Entry, FindKeys, KeySpec, Registry,
};
use crate::errors;
use crate::reply::Reply;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("command", command),
    handler("command|count", command_count),
    handler("command|docs", command_docs),
    handler("command|getkeys", command_getkeys),
    handler("command|getkeysandflags", command_getkeysandflags),
    handler("command|help", command_help),
    handler("command|info", command_info),
    handler("command|list", command_list),
];

/// Finds a command by COMMAND INFO/DOCS name: `get`, or `config|get` for a subcommand.
fn lookup_full_name(name: &[u8]) -> Option<&'static CommandSpec> {
    let registry = Registry::get();
    let mut parts = name.split(|&b| b == b'|');
    let base = registry.lookup(parts.next()?)?;
    let Some(sub) = parts.next() else {
        return Some(base);
    };
    if parts.next().is_some() {
        return None;
    }
    base.subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(sub))
        .copied()
}

/// The command `argv` would run (Redis's `lookupCommand`): a container's subcommand
/// when there is a second argument.
fn lookup_argv(argv: &[&[u8]]) -> Option<&'static CommandSpec> {
    let base = Registry::get().lookup(argv[0])?;
    if argv.len() == 1 || base.subcommands.is_empty() {
        return Some(base);
    }
    base.subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(argv[1]))
        .copied()
}

/// A set of status strings for the `names` whose bits are in `bits`.
fn flag_set(out: &mut Reply, bits: u32, names: &[(u32, &str)]) {
    let shown: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(shown.len());
    for name in shown {
        out.simple(name);
    }
}

/// One command's COMMAND INFO entry: name, arity, flags, first/last/step, ACL categories,
/// tips, key specs, subcommands.
fn reply_info(out: &mut Reply, cmd: &CommandSpec) {
    out.array(10);
    out.bulk(cmd.full_name.as_bytes());
    out.int(cmd.arity as i64);
    flag_set(out, cmd.flags, flags::NAMES);
    let (first, last, step) = cmd.legacy_range();
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    out.set(cmd.acl.len());
    for cat in cmd.acl {
        out.simple(&format!("@{cat}"));
    }
    out.set(cmd.tips.len());
    for tip in cmd.tips {
        out.bulk(tip.as_bytes());
    }
    out.set(cmd.key_specs.len());
    for ks in cmd.key_specs {
        reply_key_spec(out, ks);
    }
    out.set(cmd.subcommands.len());
    for sub in &cmd.subcommands {
        reply_info(out, sub);
    }
}

fn reply_key_spec(out: &mut Reply, ks: &KeySpec) {
    out.map(if ks.notes.is_empty() { 3 } else { 4 });
    if !ks.notes.is_empty() {
        out.bulk(b"notes");
        out.bulk(ks.notes.as_bytes());
    }
    out.bulk(b"flags");
    flag_set(out, ks.flags, key_flags::NAMES);
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    match ks.begin_search {
        BeginSearch::Index(index) => search_spec(out, "index", &[("index", index)]),
        BeginSearch::Keyword { keyword, startfrom } => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(keyword.as_bytes());
            out.bulk(b"startfrom");
            out.int(startfrom as i64);
        }
        BeginSearch::Unknown => search_spec(out, "unknown", &[]),
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    match ks.find_keys {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => search_spec(
            out,
            "range",
            &[("lastkey", lastkey), ("keystep", keystep), ("limit", limit)],
        ),
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => search_spec(
            out,
            "keynum",
            &[
                ("keynumidx", keynumidx),
                ("firstkey", firstkey),
                ("keystep", keystep),
            ],
        ),
        FindKeys::Unknown => search_spec(out, "unknown", &[]),
    }
}

/// The rest of a key spec's `begin_search` or `find_keys` map after `type`: the kind's
/// name, then `spec`, a map of the kind's integer fields.
fn search_spec(out: &mut Reply, kind: &str, fields: &[(&str, i32)]) {
    out.bulk(kind.as_bytes());
    out.bulk(b"spec");
    out.map(fields.len());
    for &(name, value) in fields {
        out.bulk(name.as_bytes());
        out.int(value as i64);
    }
}

/// One command's COMMAND DOCS map: summary, since, group, complexity, doc flags,
/// deprecation, history, arguments, subcommands; the empty ones left out.
fn reply_docs(out: &mut Reply, cmd: &CommandSpec) {
    let optional = [
        !cmd.summary.is_empty(),
        !cmd.since.is_empty(),
        !cmd.complexity.is_empty(),
        !cmd.doc_flags.is_empty(),
        !cmd.deprecated_since.is_empty(),
        !cmd.replaced_by.is_empty(),
        !cmd.history.is_empty(),
        !cmd.args.is_empty(),
        !cmd.subcommands.is_empty(),
    ];
    out.map(1 + optional.iter().filter(|&&b| b).count());
    let text = |out: &mut Reply, name: &str, value: &str| {
        if !value.is_empty() {
            out.bulk(name.as_bytes());
            out.bulk(value.as_bytes());
        }
    };
    text(out, "summary", cmd.summary);
    text(out, "since", cmd.since);
    out.bulk(b"group");
    out.bulk(cmd.group.as_bytes());
    text(out, "complexity", cmd.complexity);
    if !cmd.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        out.set(cmd.doc_flags.len());
        for f in cmd.doc_flags {
            out.simple(f);
        }
    }
    text(out, "deprecated_since", cmd.deprecated_since);
    text(out, "replaced_by", cmd.replaced_by);
    if !cmd.history.is_empty() {
        out.bulk(b"history");
        out.set(cmd.history.len());
        for (version, change) in cmd.history {
            out.array(2);
            out.bulk(version.as_bytes());
            out.bulk(change.as_bytes());
        }
    }
    if !cmd.args.is_empty() {
        out.bulk(b"arguments");
        reply_args(out, cmd.args);
    }
    if !cmd.subcommands.is_empty() {
        out.bulk(b"subcommands");
        out.map(cmd.subcommands.len());
        for sub in &cmd.subcommands {
            out.bulk(sub.full_name.as_bytes());
            reply_docs(out, sub);
        }
    }
}

fn reply_args(out: &mut Reply, args: &[Arg]) {
    out.array(args.len());
    for a in args {
        let nested = matches!(a.kind, ArgType::Oneof | ArgType::Block);
        let optional = [
            a.key_spec_index >= 0,
            a.token.is_some(),
            !a.summary.is_empty(),
            !a.since.is_empty(),
            !a.deprecated_since.is_empty(),
            a.flags != 0,
            nested,
        ];
        out.map(2 + optional.iter().filter(|&&b| b).count());
        out.bulk(b"name");
        out.bulk(a.name.as_bytes());
        out.bulk(b"type");
        out.bulk(a.kind.name().as_bytes());
        if a.key_spec_index >= 0 {
            out.bulk(b"key_spec_index");
            out.int(a.key_spec_index as i64);
        }
        if let Some(token) = a.token {
            out.bulk(b"token");
            out.bulk(token.as_bytes());
        }
        for (name, value) in [
            ("summary", a.summary),
            ("since", a.since),
            ("deprecated_since", a.deprecated_since),
        ] {
            if !value.is_empty() {
                out.bulk(name.as_bytes());
                out.bulk(value.as_bytes());
            }
        }
        if a.flags != 0 {
            out.bulk(b"flags");
            flag_set(out, a.flags, arg_flags::NAMES);
        }
        if nested {
            out.bulk(b"arguments");
            reply_args(out, a.args);
        }
    }
}

/// `COMMAND`: every command's info.
fn command(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let all = Registry::get().all();
    ctx.out.array(all.len());
    for c in all {
        reply_info(ctx.out, c);
    }
    Ok(Done)
}

/// `COMMAND INFO [name ...]`: each named command's info (null for unknown names), or
/// every command's without names.
fn command_info(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() == 2 {
        return command(ctx, argv);
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match lookup_full_name(name) {
            Some(cmd) => reply_info(ctx.out, cmd),
            None => ctx.out.null(),
        }
    }
    Ok(Done)
}

/// `COMMAND DOCS [name ...]`: a map from name to docs; unknown names are left out.
fn command_docs(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let found: Vec<&CommandSpec> = if argv.len() == 2 {
        Registry::get().all().to_vec()
    } else {
        argv[2..]
            .iter()
            .filter_map(|n| lookup_full_name(n))
            .collect()
    };
    ctx.out.map(found.len());
    for cmd in found {
        ctx.out.bulk(cmd.full_name.as_bytes());
        reply_docs(ctx.out, cmd);
    }
    Ok(Done)
}

/// `COMMAND COUNT`: top-level commands.
fn command_count(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    ctx.out.int(Registry::get().all().len() as i64);
    Ok(Done)
}

/// `COMMAND LIST [FILTERBY MODULE name|ACLCAT category|PATTERN pattern]`: full names of
/// every command and subcommand that passes the filter.
fn command_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    enum Filter<'a> {
        All,
        Module,
        AclCat(&'a [u8]),
        Pattern(&'a [u8]),
    }
    let filter = match argv.len() {
        2 => Filter::All,
        5 if argv[2].eq_ignore_ascii_case(b"filterby") => {
            let kind = argv[3].to_ascii_lowercase();
            match kind.as_slice() {
                // No modules exist here, so no command belongs to one.
                b"module" => Filter::Module,
                b"aclcat" => Filter::AclCat(argv[4]),
                b"pattern" => Filter::Pattern(argv[4]),
                _ => return Err(errors::SYNTAX.into()),
            }
        }
        _ => return Err(errors::SYNTAX.into()),
    };
    let keep = |c: &CommandSpec| match filter {
        Filter::All => true,
        Filter::Module => false,
        Filter::AclCat(cat) => c.acl.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(cat)),
        Filter::Pattern(p) => crate::util::glob_match(p, c.full_name.as_bytes(), true),
    };
    let mut names = Vec::new();
    for cmd in Registry::get().all() {
        for c in std::iter::once(*cmd).chain(cmd.subcommands.iter().copied()) {
            if keep(c) {
                names.push(c.full_name);
            }
        }
    }
    ctx.out.bulks(names.iter());
    Ok(Done)
}

/// `COMMAND GETKEYS command [arg ...]`: the key arguments, by the command's key specs.
fn command_getkeys(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    getkeys(ctx, argv, false)
}

/// `COMMAND GETKEYSANDFLAGS command [arg ...]`: each key with its key spec flags.
fn command_getkeysandflags(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    getkeys(ctx, argv, true)
}

fn getkeys(ctx: &mut Ctx, argv: &[&[u8]], with_flags: bool) -> CommandResult {
    let args = &argv[2..];
    let cmd = lookup_argv(args).ok_or("ERR Invalid command specified")?;
    if !cmd.has_keys() {
        return Err("ERR The command has no key arguments".into());
    }
    if !cmd.arity_ok(args.len()) {
        return Err("ERR Invalid number of arguments specified for command".into());
    }
    let keys = cmd.get_keys(args).unwrap_or_default();
    if keys.is_empty() && !cmd.has(flags::NO_MANDATORY_KEYS) {
        return Err("ERR Invalid arguments specified for command".into());
    }
    ctx.out.array(keys.len());
    for (pos, flags) in keys {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(args[pos]);
            flag_set(ctx.out, flags, key_flags::NAMES);
        } else {
            ctx.out.bulk(args[pos]);
        }
    }
    Ok(Done)
}

fn command_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    const LINES: &[&str] = &[
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
    ];
    super::help(ctx, "COMMAND", LINES);
    Ok(Done)
}

#[cfg(test)]
mod tests {
    use crate::command::{
        key_flags::*, CommandResult, CommandSpec, Ctx, Done, GetKeysFn, InvalidKeyArgs,
    };

    fn noop(_: &mut Ctx, _: &[&[u8]]) -> CommandResult {
        Ok(Done)
    }

    /// A command with Redis's metadata and the given getkeys function.
    fn command(name: &str, getkeys: Option<GetKeysFn>) -> CommandSpec {
        CommandSpec {
            meta: lockstep_commands::lookup_full(name).expect("a Redis 7.0 command"),
            handler: noop,
            getkeys,
            subcommands: Vec::new(),
        }
    }

    /// Key positions found in a command line written with spaces.
    fn keys(cmd: &CommandSpec, line: &str) -> Result<Vec<usize>, InvalidKeyArgs> {
        let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        cmd.get_keys(&argv)
            .map(|k| k.into_iter().map(|(pos, _)| pos).collect())
    }

    fn migrate_keys(argv: &[&[u8]]) -> Vec<(usize, u32)> {
        match argv.iter().position(|a| a.eq_ignore_ascii_case(b"keys")) {
            Some(i) if argv[3].is_empty() => (i + 1..argv.len()).map(|p| (p, RW)).collect(),
            _ => vec![(3, RW)],
        }
    }

    #[test]
    fn keynum_spec_takes_the_count_from_the_arguments() {
        let zunionstore = command("zunionstore", None);
        assert_eq!(keys(&zunionstore, "zunionstore d 2 a b"), Ok(vec![1, 3, 4]));
    }

    #[test]
    fn keynum_spec_rejects_counts_past_the_end_or_negative() {
        let zunionstore = command("zunionstore", None);
        for line in [
            "zunionstore d 3 a b",
            "zunionstore d -1 a b",
            "zunionstore d x a b",
        ] {
            assert_eq!(keys(&zunionstore, line), Err(InvalidKeyArgs), "{line}");
        }
    }

    #[test]
    fn keyword_spec_with_limit_takes_half_of_the_rest() {
        let xread = command("xread", None);
        assert_eq!(
            keys(&xread, "xread COUNT 2 STREAMS s1 s2 0 0"),
            Ok(vec![4, 5])
        );
        assert_eq!(keys(&xread, "xread streams s1 s2 s3 0 0"), Ok(vec![2, 3]));
    }

    #[test]
    fn incomplete_spec_defers_to_the_getkeys_function() {
        let migrate = command("migrate", Some(migrate_keys));
        let line = "migrate host port  0 5000 KEYS k1 k2";
        assert_eq!(keys(&migrate, line), Ok(vec![7, 8]));
        assert_eq!(keys(&migrate, "migrate host port k 0 5000"), Ok(vec![3]));
    }

    #[test]
    fn range_spec_with_a_step_takes_every_other_argument() {
        assert_eq!(keys(&command("mset", None), "mset a 1 b 2"), Ok(vec![1, 3]));
    }
}
