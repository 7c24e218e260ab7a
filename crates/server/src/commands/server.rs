//! Server commands: INFO, CONFIG, FLUSHDB/FLUSHALL, DBSIZE, TIME, DEBUG, MEMORY, SHUTDOWN, ...

use crate::command::{flags::*, spec, CommandSpec, Ctx};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    arity: 1,
    flags: READONLY | FAST,
    acl: &["keyspace", "read", "fast"],
    group: "server",
    summary: "Returns the number of keys in the database.",
    ..spec("dbsize", dbsize)
}];

/// `DBSIZE`: keys in the selected database.
fn dbsize(ctx: &mut Ctx, _argv: &[&[u8]]) {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
}
