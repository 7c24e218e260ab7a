//! MODULE HELP/LIST/LOAD/LOADEX/UNLOAD: lockstep loads no modules, so it answers as a
//! redis-server 7.0 that has none and whose every load fails. It must never pretend that a
//! module loaded.
//!
//! ```text
//! MODULE LIST                                   -> empty array
//! MODULE LOAD path [arg ...]                    -> ERR Error loading the extension. ...
//! MODULE LOADEX path [CONFIG name value ...] [ARGS arg ...]  -> the same error
//! MODULE UNLOAD name                            -> ERR Error unloading module: no such module ...
//! ```
//!
//! LOAD, LOADEX and UNLOAD are Redis's protected subcommands: `enable-module-command`
//! (`no` by default, `local` for loopback clients only, immutable at run time) gates them
//! in dispatch, right after the arity check, so a refused one also aborts a transaction
//! being queued (`refused`). HELP and LIST are always allowed, as in Redis.

use crate::command::{handler, CommandResult, CommandSpec, Ctx, Done, Entry};
use crate::commands::help;
use crate::state::{Client, State};

pub static HANDLERS: &[Entry] = &[
    handler("module", crate::commands::container),
    handler("module|help", module_help),
    handler("module|list", module_list),
    handler("module|load", module_load),
    handler("module|loadex", module_load),
    handler("module|unload", module_unload),
];

/// Redis's error for a protected MODULE subcommand that `enable-module-command` refuses.
pub const NOT_ALLOWED: &str = "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// What Redis answers when a module fails to load, whatever the reason (a missing file, a
/// LOADEX syntax error): the reason itself goes to the log only.
pub const LOAD_FAILED: &str = "ERR Error loading the extension. Please check the server logs.";

/// The refusal of Redis's `processCommand` for a protected MODULE subcommand
/// (`CMD_PROTECTED`: LOAD, LOADEX, UNLOAD) that `enable-module-command` does not allow
/// from this client; `None` for every other command.
pub fn refused(state: &State, client: &Client, cmd: &CommandSpec) -> Option<&'static str> {
    if !matches!(
        cmd.full_name,
        "module|load" | "module|loadex" | "module|unload"
    ) {
        return None;
    }
    let allowed = match state.config.value("enable-module-command").as_deref() {
        Some("yes") => true,
        Some("local") => client.addr.ip().is_loopback(),
        _ => false,
    };
    (!allowed).then_some(NOT_ALLOWED)
}

/// Why a server whose configuration names a module (`loadmodule path [args]`) does not
/// start: Redis exits 1 when a module of its configuration fails to load, and here every
/// module does.
pub fn startup_refusal(path: &[u8]) -> String {
    format!(
        "Can't load module from {}: lockstep loads no modules, server aborting",
        String::from_utf8_lossy(path)
    )
}

fn module_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    help(
        ctx,
        "MODULE",
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    );
    Ok(Done)
}

fn module_list(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    ctx.out.array(0);
    Ok(Done)
}

/// LOAD and LOADEX: Redis logs why (no such file, a LOADEX syntax error such as a CONFIG
/// without its name and value) and answers one error for all of them.
fn module_load(_ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let path = String::from_utf8_lossy(argv[2]);
    let why = if argv[1].eq_ignore_ascii_case(b"loadex") {
        loadex_syntax(&argv[3..]).err()
    } else {
        None
    };
    let why = why.unwrap_or_else(|| "lockstep loads no modules".to_string());
    tracing::warn!("Module {path} failed to load: {why}");
    Err(LOAD_FAILED.into())
}

/// LOADEX's arguments after the path: `CONFIG name value` any number of times, then
/// optionally `ARGS` and everything after it. The error is what Redis logs.
fn loadex_syntax(mut args: &[&[u8]]) -> Result<(), String> {
    while let Some((first, rest)) = args.split_first() {
        if first.eq_ignore_ascii_case(b"config") {
            if rest.len() < 2 {
                return Err("CONFIG specified without name value pair".into());
            }
            args = &rest[2..];
        } else if first.eq_ignore_ascii_case(b"args") {
            return Ok(());
        } else {
            return Err(format!(
                "Syntax Error from arguments to loadex around {}.",
                String::from_utf8_lossy(first)
            ));
        }
    }
    Ok(())
}

fn module_unload(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    Err("ERR Error unloading module: no such module with that name".into())
}
