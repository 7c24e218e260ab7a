//! Keyspace commands: DEL, EXISTS, TYPE, EXPIRE and friends, SCAN, RENAME, ...

use crate::command::{flags::*, keys, spec, CommandSpec, Ctx};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    arity: -2,
    flags: WRITE,
    keys: keys(1, -1, 1),
    acl: &["keyspace", "write", "slow"],
    summary: "Deletes one or more keys.",
    ..spec("del", del)
}];

/// `DEL key [key ...]`: the number of keys removed.
fn del(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let removed = argv[1..]
        .iter()
        .filter(|k| ctx.db().remove(k, now).is_some())
        .count();
    ctx.dirty(removed as u64);
    ctx.out.int(removed as i64);
}
