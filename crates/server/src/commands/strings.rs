//! String commands: GET, SET and the rest of the `string` group.

use crate::command::{flags::*, keys, spec, CommandSpec, Ctx};
use crate::errors;
use crate::keyspace::{Value, NO_EXPIRY};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        arity: 2,
        flags: READONLY | FAST,
        keys: keys(1, 1, 1),
        acl: &["read", "string", "fast"],
        group: "string",
        summary: "Returns the string value of a key.",
        ..spec("get", get)
    },
    CommandSpec {
        arity: -3,
        flags: WRITE | DENYOOM,
        keys: keys(1, 1, 1),
        acl: &["write", "string", "slow"],
        group: "string",
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        ..spec("set", set)
    },
];

/// `GET key`: the value, or null when the key does not exist.
fn get(ctx: &mut Ctx, argv: &[&[u8]]) {
    let now = ctx.now;
    let entry = ctx.state.dbs[ctx.client.db].get(argv[1], now);
    match entry {
        None => ctx.out.null(),
        Some(e) => {
            let mut scratch = itoa::Buffer::new();
            match e.value.string_bytes(&mut scratch) {
                Some(bytes) => ctx.out.bulk(bytes),
                None => ctx.out.error(errors::WRONGTYPE),
            }
        }
    }
}

/// `SET key value`: stores the value. (Options come with the strings family.)
fn set(ctx: &mut Ctx, argv: &[&[u8]]) {
    if argv.len() != 3 {
        ctx.out.error(errors::SYNTAX);
        return;
    }
    ctx.db().set(argv[1], Value::string(argv[2]), NO_EXPIRY);
    ctx.dirty(1);
    ctx.out.ok();
}
