//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD/EXISTS/FLUSH/KILL/HELP: the
//! commands around the Lua engine (`crate::scripting`), with Redis 7.0's checks in its
//! order.
//!
//! ```text
//! EVAL script numkeys [key ...] [arg ...]      -> the script's reply
//! EVALSHA sha1 numkeys [key ...] [arg ...]     -> the cached script's reply, or NOSCRIPT
//! SCRIPT LOAD script                           -> the script's SHA1
//! SCRIPT EXISTS sha1 [sha1 ...]                -> 1 or 0 per SHA1
//! SCRIPT FLUSH [ASYNC|SYNC]                    -> OK
//! SCRIPT KILL                                  -> NOTBUSY when no script runs
//! ```

use crate::args::Args;
use crate::busy::KillRefused;
use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::commands::help;
use crate::errors;
use crate::scripting::{self, Source};

pub static HANDLERS: &[Entry] = &[
    handler("eval", eval),
    handler("evalsha", evalsha),
    handler("eval_ro", eval_ro),
    handler("evalsha_ro", evalsha_ro),
    handler("script", crate::commands::container),
    handler("script|load", script_load),
    handler("script|exists", script_exists),
    handler("script|flush", script_flush),
    handler("script|kill", script_kill),
    handler("script|help", script_help),
    handler("script|debug", scripting::ldb::script_debug),
];

fn eval(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    feed_monitors(ctx, argv);
    run_or_debug(ctx, argv, false)
}

fn eval_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    feed_monitors(ctx, argv);
    run_or_debug(ctx, argv, true)
}

/// EVAL's script, under the Lua debugger after SCRIPT DEBUG YES or SYNC.
fn run_or_debug(ctx: &mut Ctx, argv: &[&[u8]], read_only: bool) -> CommandResult {
    if ctx.client.lua_debug == scripting::ldb::Mode::Off {
        return run(ctx, argv, Source::Body(argv[1]), read_only);
    }
    scripting::ldb::debug_eval(ctx, argv[1], |ctx| {
        run(ctx, argv, Source::Body(argv[1]), read_only)
    })
}

/// EVALSHA and EVALSHA_RO cannot be debugged: the debugger shows the script's source.
fn refuse_debugging(ctx: &Ctx) -> Result<(), crate::errors::CommandError> {
    if ctx.client.lua_debug != scripting::ldb::Mode::Off {
        return Err("ERR Please use EVAL instead of EVALSHA for debugging".into());
    }
    Ok(())
}

/// The EVAL family skips the monitor feed after the command (`skip_monitor`): Redis feeds
/// it first, so that the script's commands (`[db lua] ...`) follow their EVAL.
pub(crate) fn feed_monitors(ctx: &mut Ctx, argv: &[&[u8]]) {
    if !ctx.state.monitors.is_empty() {
        crate::dispatch::feed_monitors(ctx.state, ctx.client, argv, false);
    }
}

fn evalsha(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    feed_monitors(ctx, argv);
    // A SHA1 of another length cannot match: Redis answers before reading numkeys.
    if argv[1].len() != 40 {
        return Err(errors::NOSCRIPT.into());
    }
    refuse_debugging(ctx)?;
    run(ctx, argv, Source::Sha(argv[1]), false)
}

fn evalsha_ro(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    feed_monitors(ctx, argv);
    if argv[1].len() != 40 {
        return Err(errors::NOSCRIPT.into());
    }
    refuse_debugging(ctx)?;
    run(ctx, argv, Source::Sha(argv[1]), true)
}

/// numkeys, then the script.
fn run(ctx: &mut Ctx, argv: &[&[u8]], source: Source, read_only: bool) -> CommandResult {
    let numkeys = Args::new(argv, 2).i64()?;
    let numkeys = scripting::numkeys(numkeys, argv.len() - 3)?;
    let (keys, args) = argv[3..].split_at(numkeys);
    scripting::eval(ctx, source, keys, args, read_only)?;
    Ok(Done)
}

fn script_load(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let sha = ctx.state.scripts.load(argv[2])?;
    ctx.out.bulk(sha.as_bytes());
    Ok(Done)
}

fn script_exists(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    ctx.out.array(argv.len() - 2);
    for sha in &argv[2..] {
        let found = ctx.state.scripts.exists(sha);
        ctx.out.int(found as i64);
    }
    Ok(Done)
}

fn script_flush(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mode_ok = match argv.len() {
        2 => true,
        3 => argv[2].eq_ignore_ascii_case(b"sync") || argv[2].eq_ignore_ascii_case(b"async"),
        _ => false,
    };
    if !mode_ok {
        return Err("ERR SCRIPT FLUSH only support SYNC|ASYNC option".into());
    }
    ctx.state.scripts.flush();
    ctx.out.ok();
    Ok(Done)
}

fn script_kill(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    ctx.state
        .script_run
        .kill(false)
        .map_err(KillRefused::error)?;
    ctx.out.ok();
    Ok(Done)
}

fn script_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    help(
        ctx,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    Ok(Done)
}
