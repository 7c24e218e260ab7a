//! Command families, one file each: the handlers and the `CommandSpec`s that describe them.
//! A family exports `COMMANDS`; the registry gathers them from `FAMILIES`.

use crate::command::CommandSpec;

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
pub static FAMILIES: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    strings::COMMANDS,
    keys::COMMANDS,
    server::COMMANDS,
    introspection::COMMANDS,
    lists::COMMANDS,
    hashes::COMMANDS,
    sets::COMMANDS,
    sorted_sets::COMMANDS,
];
