//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, CLIENT, QUIT, RESET.

use crate::command::{flags::*, spec, CommandSpec, Ctx};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    arity: -1,
    flags: FAST | SENTINEL,
    acl: &["fast", "connection"],
    group: "connection",
    summary: "Returns the server's liveliness response.",
    ..spec("ping", ping)
}];

/// `PING [message]`: `+PONG`, or the message as a bulk string.
fn ping(ctx: &mut Ctx, argv: &[&[u8]]) {
    match argv.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(argv[1]),
        _ => ctx.out.error(&crate::errors::wrong_arity("ping")),
    }
}
