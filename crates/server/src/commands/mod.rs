//! Command families, one file each: the handlers and the `CommandSpec`s that describe them.
//! A family exports `COMMANDS`; the registry gathers them from `FAMILIES`.

use crate::command::{CommandResult, Ctx, Done, Entry};
use crate::config::notify;
use crate::errors;
use crate::keyspace::{DbMut, Typed, Value, NO_EXPIRY};
use crate::reply::Reply;

pub mod acl;
pub mod bitmaps;
pub mod client;
pub mod cluster;
pub mod connection;
pub mod diagnostics;
pub mod dump;
pub mod functions;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod introspection;
pub mod keys;
pub mod lists;
pub mod lolwut;
pub mod migrate;
pub mod module;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod sorted_sets;
pub mod streams;
pub mod strings;
pub mod transactions;

/// Every family's table, in the order COMMAND lists them.
pub static FAMILIES: &[&[Entry]] = &[
    connection::HANDLERS,
    client::HANDLERS,
    strings::HANDLERS,
    bitmaps::HANDLERS,
    hyperloglog::HANDLERS,
    sort::HANDLERS,
    keys::HANDLERS,
    dump::HANDLERS,
    server::HANDLERS,
    introspection::HANDLERS,
    lists::HANDLERS,
    hashes::HANDLERS,
    sets::HANDLERS,
    sorted_sets::HANDLERS,
    streams::HANDLERS,
    geo::HANDLERS,
    diagnostics::HANDLERS,
    transactions::HANDLERS,
    pubsub::HANDLERS,
    scripting::HANDLERS,
    functions::HANDLERS,
    cluster::HANDLERS,
    crate::replication::HANDLERS,
    replication::HANDLERS,
    migrate::HANDLERS,
    module::HANDLERS,
    lolwut::HANDLERS,
    acl::HANDLERS,
];

/// The handler of a container command (CLIENT, CONFIG, MEMORY, SLOWLOG, LATENCY) called
/// with a subcommand that does not exist; the registry normally answers before it gets here.
pub(crate) fn container(_ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let sub = argv.get(1).copied().unwrap_or_default();
    Err(errors::unknown_subcommand(argv[0], sub).into())
}

/// Writes Redis's HELP reply for a container command: the header line, then the lines,
/// then HELP's own entry.
pub(crate) fn help(ctx: &mut Ctx, command: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for line in lines {
        ctx.out.simple(line);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// Where a computed value goes (SINTERSTORE, ZUNIONSTORE, SORT ... STORE, BITOP): it
/// replaces whatever `key` held, TTL included, and the change is named `event` of `class`;
/// `None` (an empty result) deletes `key` instead, named `del` when there was one.
pub(crate) fn store_or_delete(
    db: &mut DbMut,
    key: &[u8],
    value: Option<Value>,
    class: u32,
    event: &'static str,
) {
    match value {
        Some(value) => {
            db.set(key, value, NO_EXPIRY);
            db.notify(class, event, key);
        }
        None => {
            if db.remove(key).is_some() {
                db.notify(notify::GENERIC, "del", key);
            }
        }
    }
}

/// HLEN, LLEN, SCARD and ZCARD: the collection's size, `len` of the value at `key`; a
/// missing key is empty, another type answers WRONGTYPE.
pub(crate) fn reply_len<T: Typed>(
    ctx: &mut Ctx,
    key: &[u8],
    len: fn(&T) -> usize,
) -> CommandResult {
    let len = ctx.read::<T>(key)?.map_or(0, len);
    ctx.out.int(len as i64);
    Ok(Done)
}

/// HMGET, SMISMEMBER and ZMSCORE: an array with `reply`'s answer for each member named
/// after the key; a missing key is read as empty (`None`), another type answers WRONGTYPE.
pub(crate) fn reply_per_member<T: Typed>(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    reply: impl Fn(&mut Reply, Option<&T>, &[u8]),
) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    let value = db.read::<T>(argv[1])?;
    out.array(argv.len() - 2);
    for member in &argv[2..] {
        reply(out, value, member);
    }
    Ok(Done)
}

/// HDEL, SREM and ZREM: removes the members named after the key and answers how many were
/// there; the key goes when its last member does. A missing key answers 0, another type
/// WRONGTYPE.
pub(crate) fn remove_members<T: crate::types::Members>(
    ctx: &mut Ctx,
    argv: &[&[u8]],
    event: &'static str,
) -> CommandResult {
    let mut removed = 0;
    if let Some(mut members) = ctx.write::<T>(argv[1])? {
        for member in &argv[2..] {
            if members.remove_member(member) {
                removed += 1;
                if members.is_empty_value() {
                    break;
                }
            }
        }
        members.changed(removed, event);
    }
    ctx.out.int(removed as i64);
    Ok(Done)
}
