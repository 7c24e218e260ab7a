//! FCALL, FCALL_RO and FUNCTION LOAD/LIST/DELETE/FLUSH/DUMP/RESTORE/STATS/KILL/HELP: the
//! commands around Redis 7's functions (`crate::scripting::functions`).
//!
//! ```text
//! FUNCTION LOAD [REPLACE] code                  -> the library's name
//! FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE] -> one map per library
//! FUNCTION DUMP / RESTORE payload [FLUSH|APPEND|REPLACE]
//! FCALL function numkeys [key ...] [arg ...]    -> the function's reply
//! ```

use crate::busy::{Running, ScriptRun};
use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::commands::help;
use crate::errors;
use crate::reply::Reply;
use crate::scripting::functions::{self, RestorePolicy};

pub static HANDLERS: &[Entry] = &[
    handler("fcall", fcall),
    handler("fcall_ro", fcall_ro),
    handler("function", crate::commands::container),
    handler("function|load", function_load),
    handler("function|list", function_list),
    handler("function|delete", function_delete),
    handler("function|flush", function_flush),
    handler("function|dump", function_dump),
    handler("function|restore", function_restore),
    handler("function|stats", function_stats),
    handler("function|kill", function_kill),
    handler("function|help", function_help),
];

fn fcall(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::scripting::feed_monitors(ctx, argv);
    functions::fcall(ctx, argv, false)?;
    Ok(Done)
}

fn fcall_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    super::scripting::feed_monitors(ctx, argv);
    functions::fcall(ctx, argv, true)?;
    Ok(Done)
}

/// Counts a change of the libraries (Redis's `dirty++`).
fn changed(ctx: &mut Ctx) {
    ctx.state.mods.dirty += 1;
}

fn function_load(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut replace = false;
    let code_at = argv.len() - 1;
    for option in &argv[2..code_at] {
        if !option.eq_ignore_ascii_case(b"replace") {
            let mut msg = b"ERR Unknown option given: ".to_vec();
            msg.extend_from_slice(errors::c_string(option));
            return Err(msg.into());
        }
        replace = true;
    }
    let name = ctx
        .state
        .functions
        .load(argv[code_at], replace)
        .map_err(|e| format!("ERR {e}"))?;
    changed(ctx);
    ctx.out.bulk(name.as_bytes());
    Ok(Done)
}

fn function_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        let arg = argv[i];
        if !with_code && arg.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && arg.eq_ignore_ascii_case(b"libraryname") {
            if i + 1 >= argv.len() {
                return Err("ERR library name argument was not given".into());
            }
            i += 1;
            pattern = Some(argv[i]);
        } else {
            let mut msg = b"ERR Unknown argument ".to_vec();
            msg.extend_from_slice(errors::c_string(arg));
            return Err(msg.into());
        }
        i += 1;
    }
    let libraries: Vec<_> = ctx
        .state
        .functions
        .libraries()
        .filter(|l| pattern.is_none_or(|p| crate::util::glob_match(p, l.name.as_bytes(), true)))
        .collect();
    let out = &mut *ctx.out;
    out.array(libraries.len());
    for library in libraries {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(library.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(functions::ENGINE.as_bytes());
        out.bulk(b"functions");
        out.array(library.functions.len());
        for function in &library.functions {
            out.map(3);
            out.bulk(b"name");
            out.bulk(function.name.as_bytes());
            out.bulk(b"description");
            match &function.description {
                Some(text) => out.bulk(text),
                None => out.null(),
            }
            out.bulk(b"flags");
            let flags: Vec<&str> = function.flag_names().collect();
            out.set(flags.len());
            for flag in flags {
                out.simple(flag);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&library.code);
        }
    }
    Ok(Done)
}

fn function_delete(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if !ctx.state.functions.delete(argv[2]) {
        return Err("ERR Library not found".into());
    }
    changed(ctx);
    ctx.out.ok();
    Ok(Done)
}

fn function_flush(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() > 3 {
        return Err(errors::subcommand_syntax(argv[0], argv[1]).into());
    }
    if argv.len() == 3
        && !argv[2].eq_ignore_ascii_case(b"sync")
        && !argv[2].eq_ignore_ascii_case(b"async")
    {
        return Err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option".into());
    }
    ctx.state.functions.flush();
    changed(ctx);
    ctx.out.ok();
    Ok(Done)
}

fn function_dump(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let compress = ctx.state.config.value("rdbcompression").as_deref() == Some("yes");
    let payload = ctx.state.functions.dump(compress);
    ctx.out.bulk(&payload);
    Ok(Done)
}

fn function_restore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() > 4 {
        return Err(errors::subcommand_syntax(argv[0], argv[1]).into());
    }
    let policy =
        match argv.get(3) {
            None => RestorePolicy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"append") => RestorePolicy::Append,
            Some(p) if p.eq_ignore_ascii_case(b"replace") => RestorePolicy::Replace,
            Some(p) if p.eq_ignore_ascii_case(b"flush") => RestorePolicy::Flush,
            Some(_) => return Err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
                    .into(),
            ),
        };
    ctx.state
        .functions
        .restore(argv[2], policy)
        .map_err(|e| format!("ERR {e}"))?;
    changed(ctx);
    ctx.out.ok();
    Ok(Done)
}

fn function_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let counts = (
        ctx.state.functions.library_count(),
        ctx.state.functions.function_count(),
    );
    let run = ctx.state.script_run.clone();
    write_stats(ctx.out, &run, Some(counts));
    Ok(Done)
}

/// FUNCTION STATS: what runs, and the libraries and functions of the one engine. While a
/// function runs past the busy threshold this is answered without the state: `counts`
/// is `None` and the counts come with the running function.
pub fn write_stats(out: &mut Reply, run: &ScriptRun, counts: Option<(usize, usize)>) {
    let running = run.running();
    let (libraries, functions) = match (&running, counts) {
        (_, Some(counts)) => counts,
        (Running::Function(f, _), None) => (f.libraries, f.functions),
        (Running::Eval, None) => return out.error(errors::BUSY_SCRIPT),
        (Running::Nothing, None) => (0, 0),
    };
    out.map(2);
    out.bulk(b"running_script");
    match running {
        Running::Function(f, duration) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"command");
            out.bulks(f.command.iter());
            out.bulk(b"duration_ms");
            out.int(duration.as_millis() as i64);
        }
        _ => out.null(),
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(functions::ENGINE.as_bytes());
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libraries as i64);
    out.bulk(b"functions_count");
    out.int(functions as i64);
}

fn function_kill(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    ctx.state
        .script_run
        .kill(true)
        .map_err(crate::busy::KillRefused::error)?;
    ctx.out.ok();
    Ok(Done)
}

fn function_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    help(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(Done)
}
