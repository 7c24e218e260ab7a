//! Command families, one file each: the handlers and the `CommandSpec`s that describe them.
//! A family exports `COMMANDS`; the registry gathers them from `FAMILIES`.

use crate::command::Entry;

pub mod connection;
pub mod hashes;
pub mod introspection;
pub mod keys;
pub mod lists;
pub mod server;
pub mod sets;
pub mod sorted_sets;
pub mod strings;

/// Every family's table, in the order COMMAND lists them.
pub static FAMILIES: &[&[Entry]] = &[
    connection::HANDLERS,
    strings::HANDLERS,
    keys::HANDLERS,
    server::HANDLERS,
    introspection::HANDLERS,
    lists::HANDLERS,
    hashes::HANDLERS,
    sets::HANDLERS,
    sorted_sets::HANDLERS,
];

/// HDEL, SREM and ZREM: removes the members named after the key and answers how many were
/// there; the key goes when its last member does. A missing key answers 0, another type
/// WRONGTYPE.
pub(crate) fn remove_members<T: crate::types::Members>(
    ctx: &mut crate::command::Ctx,
    argv: &[&[u8]],
) {
    let key = argv[1];
    let now = ctx.now;
    let db = &mut ctx.state.dbs[ctx.client.db];
    let members = match db.get_mut(key, now) {
        None => return ctx.out.int(0),
        Some(entry) => match T::of_mut(&mut entry.value) {
            Some(members) => members,
            None => return ctx.out.error(crate::errors::WRONGTYPE),
        },
    };
    let mut removed = 0;
    for member in &argv[2..] {
        if members.remove_member(member) {
            removed += 1;
            if members.is_empty() {
                break;
            }
        }
    }
    if members.is_empty() {
        db.remove(key, now);
    }
    ctx.dirty(removed);
    ctx.out.int(removed as i64);
}
