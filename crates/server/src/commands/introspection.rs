//! COMMAND and its subcommands: the command table, as clients and tools read it.

use crate::command::{flags::*, spec, CommandSpec, Ctx, Registry};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    arity: -1,
    flags: LOADING | STALE,
    acl: &["slow", "connection"],
    group: "server",
    summary: "Returns detailed information about all commands.",
    tips: &["nondeterministic_output_order"],
    ..spec("command", command)
}];

/// `COMMAND`: every command's info. (Subcommands come with this family's issue.)
fn command(ctx: &mut Ctx, _argv: &[&[u8]]) {
    let all = Registry::get().all();
    ctx.out.array(all.len());
    for c in all {
        ctx.out.array(2);
        ctx.out.bulk(c.name.as_bytes());
        ctx.out.int(c.arity as i64);
    }
}
