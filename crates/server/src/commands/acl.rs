//! The ACL container: CAT, DELUSER, DRYRUN, GENPASS, GETUSER, HELP, LIST, LOAD, LOG, SAVE,
//! SETUSER, USERS and WHOAMI, with Redis 7.0's replies and errors. The users, their rules
//! and the check are `crate::acl`'s; these handlers read arguments and write replies.

use std::sync::Arc;

use super::container;
use crate::acl::{self, Table, User, CATEGORIES};
use crate::command::{handler, CommandResult, Ctx, Done, Entry, Registry};
use crate::errors;
use crate::util::parse_i64;

pub static HANDLERS: &[Entry] = &[
    handler("acl", container),
    handler("acl|cat", cat),
    handler("acl|deluser", deluser),
    handler("acl|dryrun", dryrun),
    handler("acl|genpass", genpass),
    handler("acl|getuser", getuser),
    handler("acl|help", help),
    handler("acl|list", list),
    handler("acl|load", load_or_save),
    handler("acl|log", log),
    handler("acl|save", load_or_save),
    handler("acl|setuser", setuser),
    handler("acl|users", users),
    handler("acl|whoami", whoami),
];

/// Redis answers a known ACL subcommand with the wrong number of arguments (that its
/// arity lets through) this way.
fn syntax(argv: &[&[u8]]) -> CommandResult {
    Err(errors::subcommand_syntax(argv[0], argv[1]).into())
}

/// `ACL CAT [category]`: the categories, or the commands and subcommands of one.
fn cat(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    match argv.len() {
        2 => {
            ctx.out.array(CATEGORIES.len());
            for c in CATEGORIES {
                ctx.out.bulk(c.as_bytes());
            }
        }
        3 => {
            let Some(cat) = acl::category(argv[2]) else {
                let name = errors::c_string(argv[2]);
                let mut msg = b"ERR Unknown category '".to_vec();
                msg.extend_from_slice(&name[..name.len().min(128)]);
                msg.push(b'\'');
                return Err(msg.into());
            };
            let names: Vec<&str> = Table::get().in_category(cat).map(|c| c.full_name).collect();
            ctx.out.array(names.len());
            for n in names {
                ctx.out.bulk(n.as_bytes());
            }
        }
        _ => return syntax(argv),
    }
    Ok(Done)
}

/// `ACL SETUSER name rule...`: every rule is tried on a copy of the user (or a new one);
/// the first bad one answers and nothing changes.
fn setuser(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let name = argv[2];
    if name
        .iter()
        .any(|&b| b.is_ascii_whitespace() || b == 0x0b || b == 0)
    {
        return Err("ERR Usernames can't contain spaces or null characters".into());
    }
    let rules = match merge_selectors(&argv[3..]) {
        Ok(rules) => rules,
        Err(at) => {
            let mut msg = b"ERR Unmatched parenthesis in acl selector starting at '".to_vec();
            msg.extend_from_slice(errors::c_string(argv[3 + at]));
            msg.extend_from_slice(b"'.");
            return Err(msg.into());
        }
    };
    acl::sync_requirepass(ctx.state);
    let pubsub_all = acl::pubsub_all(ctx.state);
    let existing = ctx.state.acl.user(name).cloned();
    let existed = existing.is_some();
    let mut user = existing.unwrap_or_else(|| User::new(name, pubsub_all));
    let before = user.clone();
    for rule in &rules {
        if let Err(e) = user.apply(rule, pubsub_all) {
            let mut msg = b"ERR Error in ACL SETUSER modifier '".to_vec();
            msg.extend_from_slice(errors::c_string(rule));
            msg.extend_from_slice(b"': ");
            msg.extend_from_slice(e.text().as_bytes());
            return Err(msg.into());
        }
    }
    if existed {
        kill_pubsub_clients_if_needed(ctx, &before, &user);
    }
    ctx.state.acl.put(user);
    ctx.out.ok();
    Ok(Done)
}

/// Redis's `ACLMergeSelectorArguments`: a selector split over several arguments
/// (`(+get` `~key)`) becomes one; `Err` with the argument that opened an unclosed one.
fn merge_selectors(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.to_vec()));
            continue;
        }
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                let (_, sel) = open.take().unwrap_or_default();
                out.push(sel);
            }
            continue;
        }
        out.push(op.to_vec());
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(out),
    }
}

/// Redis's `ACLKillPubsubClientsIfNeeded`: when a user's channels shrink, its subscribed
/// clients whose channels or patterns are no longer all allowed are disconnected.
fn kill_pubsub_clients_if_needed(ctx: &mut Ctx, old: &User, new: &User) {
    if new.selectors_all_channels() {
        return;
    }
    let upcoming = new.all_channel_patterns();
    let kept = old
        .all_channel_patterns()
        .iter()
        .all(|c| upcoming.contains(c));
    if kept {
        return;
    }
    let name = new.name.clone();
    let mine = ctx.client.id;
    let victims: Vec<u64> = ctx
        .state
        .clients
        .iter()
        .filter(|(&id, e)| {
            let c = if id == mine { &*ctx.client } else { &e.client };
            c.user.as_deref().unwrap_or(b"default") == name.as_slice()
                && super::pubsub::subscribed(c)
        })
        .map(|(&id, _)| id)
        .collect();
    for id in victims {
        use crate::pubsub::Kind;
        let patterns = ctx.state.pubsub.of_client(id, Kind::Pattern);
        let mut channels = ctx.state.pubsub.of_client(id, Kind::Channel);
        channels.extend(ctx.state.pubsub.of_client(id, Kind::Shard));
        let denied = patterns.iter().any(|p| !upcoming.iter().any(|u| u == p))
            || channels.iter().any(|c| {
                !upcoming
                    .iter()
                    .any(|u| crate::util::glob_match(u, c, false))
            });
        if denied {
            kill(ctx, id);
        }
    }
}

fn kill(ctx: &mut Ctx, id: u64) {
    if id == ctx.client.id {
        ctx.client.close_after_reply = true;
    } else if let Some(entry) = ctx.state.clients.get_mut(&id) {
        entry.killed = true;
        entry.wake.notify_one();
    }
}

/// `ACL DELUSER name...`: how many existed; their clients are disconnected. `default`
/// cannot go.
fn deluser(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv[2..].iter().any(|n| errors::c_string(n) == b"default") {
        return Err("ERR The 'default' user cannot be removed".into());
    }
    let mut deleted = 0;
    for name in &argv[2..] {
        if ctx.state.acl.users.remove(*name).is_none() {
            continue;
        }
        deleted += 1;
        let mine = ctx.client.id;
        let victims: Vec<u64> = ctx
            .state
            .clients
            .iter()
            .filter(|(&id, e)| {
                let c = if id == mine { &*ctx.client } else { &e.client };
                c.user.as_deref() == Some(*name)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in victims {
            if id == mine {
                ctx.client.user = None;
                ctx.client.authenticated = false;
            }
            kill(ctx, id);
        }
    }
    ctx.out.int(deleted);
    Ok(Done)
}

/// `ACL GETUSER name`: the user's flags, passwords (hashes), root selector and other
/// selectors, as a map; nil for no such user.
fn getuser(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    acl::sync_requirepass(ctx.state);
    let Some(user) = ctx.state.acl.user(argv[2]) else {
        ctx.out.null();
        return Ok(Done);
    };
    let out = &mut *ctx.out;
    out.map(6);
    out.bulk(b"flags");
    let flags = user.flags();
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(user.passwords.len());
    for p in &user.passwords {
        out.bulk(p.as_bytes());
    }
    let describe = |out: &mut crate::reply::Reply, s: &acl::Selector| {
        out.bulk(b"commands");
        out.bulk(s.describe_commands().as_bytes());
        out.bulk(b"keys");
        out.bulk(&s.describe_keys());
        out.bulk(b"channels");
        out.bulk(&s.describe_channels());
    };
    describe(out, &user.selectors[0]);
    out.bulk(b"selectors");
    out.array(user.selectors.len() - 1);
    for s in &user.selectors[1..] {
        out.map(3);
        describe(out, s);
    }
    Ok(Done)
}

/// `ACL LIST`: a `user <name> <rules>` line per user, in name order.
fn list(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() != 2 {
        return syntax(argv);
    }
    acl::sync_requirepass(ctx.state);
    let lines: Vec<Vec<u8>> = ctx
        .state
        .acl
        .all()
        .iter()
        .map(|u| {
            let mut line = b"user ".to_vec();
            line.extend_from_slice(&u.name);
            line.push(b' ');
            line.extend_from_slice(&u.describe());
            line
        })
        .collect();
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.bulk(&l);
    }
    Ok(Done)
}

/// `ACL USERS`: the names, in order.
fn users(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() != 2 {
        return syntax(argv);
    }
    let names: Vec<Vec<u8>> = ctx.state.acl.all().iter().map(|u| u.name.clone()).collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(&n);
    }
    Ok(Done)
}

/// `ACL WHOAMI`: the connection's user.
fn whoami(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() != 2 {
        return syntax(argv);
    }
    let name: Arc<[u8]> = ctx
        .client
        .user
        .clone()
        .unwrap_or_else(|| Arc::from(b"default".as_slice()));
    ctx.out.bulk(&name);
    Ok(Done)
}

/// `ACL LOAD` / `ACL SAVE`: lockstep has no `aclfile` (the setting is refused), so both
/// answer as Redis does without one.
fn load_or_save(_ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() != 2 {
        return syntax(argv);
    }
    Err("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.".into())
}

/// `ACL GENPASS [bits]`: that many random bits (256 by default) as hex.
fn genpass(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() > 3 {
        return syntax(argv);
    }
    let bits = match argv.get(2) {
        None => 256,
        Some(a) => parse_i64(a).ok_or(errors::NOT_INTEGER)?,
    };
    if bits <= 0 || bits > 4096 {
        return Err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096".into());
    }
    let chars = ((bits + 3) / 4) as usize;
    let mut pass = Vec::with_capacity(chars);
    for _ in 0..chars {
        pass.push(b"0123456789abcdef"[rand::random::<u8>() as usize & 15]);
    }
    ctx.out.bulk(&pass);
    Ok(Done)
}

/// `ACL LOG [count|RESET]`: the newest entries first (10 by default), or forget them.
fn log(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() > 3 {
        return syntax(argv);
    }
    let mut count = 10;
    if let Some(arg) = argv.get(2) {
        if arg.eq_ignore_ascii_case(b"reset") {
            ctx.state.acl.log.clear();
            ctx.out.ok();
            return Ok(Done);
        }
        count = parse_i64(arg).ok_or(errors::NOT_INTEGER)?.max(0);
    }
    let now = crate::state::unix_millis() as i64;
    let log = &ctx.state.acl.log;
    let count = (count as usize).min(log.len());
    let out = &mut *ctx.out;
    out.array(count);
    for e in log.iter().take(count) {
        out.map(7);
        out.bulk(b"count");
        out.int(e.count as i64);
        out.bulk(b"reason");
        out.bulk(e.reason().as_bytes());
        out.bulk(b"context");
        out.bulk(e.context().as_bytes());
        out.bulk(b"object");
        out.bulk(&e.object);
        out.bulk(b"username");
        out.bulk(&e.username);
        out.bulk(b"age-seconds");
        out.double((now - e.ctime) as f64 / 1000.0);
        out.bulk(b"client-info");
        out.bulk(&e.client_info);
    }
    Ok(Done)
}

/// `ACL DRYRUN user command arg...`: `+OK` if the user may run it, else a bulk string
/// saying why (not an error), as Redis 7.0 answers.
fn dryrun(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let Some(user) = ctx.state.acl.user(argv[2]) else {
        let mut msg = b"ERR User '".to_vec();
        msg.extend_from_slice(errors::c_string(argv[2]));
        msg.extend_from_slice(b"' not found");
        return Err(msg.into());
    };
    let args = &argv[3..];
    let Ok(spec) = Registry::get().resolve(args) else {
        let mut msg = b"ERR Command '".to_vec();
        msg.extend_from_slice(errors::c_string(args[0]));
        msg.extend_from_slice(b"' not found");
        return Err(msg.into());
    };
    if !spec.arity_ok(args.len()) {
        return Err(errors::wrong_arity(spec.full_name).into());
    }
    let Some(check) = acl::CommandCheck::new(spec, args) else {
        ctx.out.ok();
        return Ok(Done);
    };
    match user.check(&check) {
        Ok(()) => ctx.out.ok(),
        Err((denied, pos)) => {
            let mut text = Vec::new();
            match denied {
                acl::Denied::Command => {
                    text.extend_from_slice(b"This user has no permissions to run the '");
                    text.extend_from_slice(spec.full_name.as_bytes());
                    text.extend_from_slice(b"' command");
                }
                acl::Denied::Key | acl::Denied::Channel | acl::Denied::Auth => {
                    text.extend_from_slice(b"This user has no permissions to access the '");
                    text.extend_from_slice(errors::c_string(args[pos]));
                    text.extend_from_slice(if denied == acl::Denied::Key {
                        b"' key".as_slice()
                    } else {
                        b"' channel"
                    });
                }
            }
            ctx.out.bulk(&text);
        }
    }
    Ok(Done)
}

/// `ACL HELP`.
fn help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    super::help(
        ctx,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(Done)
}
