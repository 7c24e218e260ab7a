//! Server commands: INFO, CONFIG, FLUSHDB/FLUSHALL, DBSIZE, TIME, DEBUG, MEMORY, SHUTDOWN, ...

use crate::command::{flags::*, spec, CommandSpec, Ctx};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        arity: 1,
        flags: READONLY | FAST,
        acl: &["keyspace", "read", "fast"],
        group: "server",
        summary: "Returns the number of keys in the database.",
        ..spec("dbsize", dbsize)
    },
    CommandSpec {
        arity: -1,
        flags: WRITE,
        acl: &["keyspace", "write", "slow", "dangerous"],
        group: "server",
        summary: "Removes all keys from all databases.",
        ..spec("flushall", flushall)
    },
];

/// `FLUSHALL [ASYNC|SYNC]`: empties every database.
fn flushall(ctx: &mut Ctx, _argv: &[&[u8]]) {
    for db in ctx.state.dbs.iter_mut() {
        db.clear();
    }
    ctx.dirty(1);
    ctx.out.ok();
}

/// `DBSIZE`: keys in the selected database.
fn dbsize(ctx: &mut Ctx, _argv: &[&[u8]]) {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
}
