//! Lua scripting as Redis 7.0 has it: one Lua 5.1 state for the server, the script cache
//! (SHA1 → compiled function and shebang flags), the `redis` library and the sandbox.
//!
//! A script runs inside the command that runs it (EVAL, EVALSHA and their `_RO` forms),
//! under the state's one lock, so no other client's command runs between two of its
//! `redis.call`s. `redis.call` goes through `dispatch::call_into`, as any nested command.
//! Nothing here may block or do I/O; a long script is stopped only by SCRIPT KILL
//! (`busy::ScriptRun`), polled from an instruction hook.

mod bit;
mod cjson;
mod cmsgpack;
mod convert;
pub mod functions;
pub mod ldb;
mod raw;
mod sandbox;
mod structlib;

use std::cell::Cell;
use std::sync::Arc;

use hashbrown::HashMap;
use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value};

use crate::busy::ScriptRun;
use crate::command::{flags, CommandError, CommandSpec, Ctx, Registry};
use crate::errors;
use crate::reply::{Protocol, Reply};

/// The flags a script declares in its `#!lua flags=...` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// No shebang: the script runs as before Redis 7 (writes allowed, no flag checks).
    pub compat: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

impl ScriptFlags {
    /// Runs with Redis's `SCRIPT_ALLOW_OOM`: declared by a shebang or a function's flags.
    pub fn declares_allow_oom(&self) -> bool {
        !self.compat && self.allow_oom
    }
}

/// A cached script.
struct Script {
    flags: ScriptFlags,
    func: Function,
}

/// The scripting engine in `State`. The Lua state is made on first use and thrown away
/// by SCRIPT FLUSH, as Redis resets its Lua state.
#[derive(Default)]
pub struct Engine {
    inner: Option<Box<Inner>>,
    /// `math.random`'s state, kept across SCRIPT FLUSH as Redis's process-wide one is.
    rand48: Option<u64>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field(
                "scripts",
                &self.inner.as_ref().map_or(0, |i| i.scripts.len()),
            )
            .finish()
    }
}

struct Inner {
    vm: Vm,
    /// By lower-case hex SHA1.
    scripts: HashMap<String, Script>,
}

/// A Lua state set up to run scripts: the sandbox, the `redis` library and Redis's error
/// handler. EVAL's scripts and the libraries of FUNCTION each have one, as in Redis.
struct Vm {
    lua: Lua,
    /// The real globals, behind the read-only `_G` the scripts see.
    globals: Table,
    xpcall: Function,
    handler: Function,
}

impl Vm {
    fn new(rand48: u64) -> mlua::Result<Vm> {
        let (lua, globals) = sandbox::new_state(rand48)?;
        let xpcall: Function = globals.raw_get("xpcall")?;
        let handler = lua.create_function(error_handler)?;
        globals.raw_set("__redis__err__handler", handler.clone())?;
        install_hook(&lua);
        Ok(Vm {
            lua,
            globals,
            xpcall,
            handler,
        })
    }
}

/// Why a script could not be loaded.
pub type LoadError = String;

/// A script run in progress: what `redis.call` and the hook need, reachable from Lua
/// callbacks (which must be `'static`) through the `RUN` thread-local for the length of
/// the run, on the thread that holds the state's lock.
struct Run {
    /// The running command's context, lifetimes erased; valid while `RUN` points here.
    ctx: *mut Ctx<'static>,
    /// The protocol `redis.call` replies are read in (`redis.setresp`).
    resp: Protocol,
    read_only: bool,
    /// Declared `allow-oom` (Redis's `SCRIPT_ALLOW_OOM`; never for a script without a
    /// shebang).
    allow_oom: bool,
    /// A write command ran (Redis's `SCRIPT_WRITE_DIRTY`): from then on the script may
    /// not be stopped half-way for lack of memory.
    wrote: bool,
    busy: Arc<ScriptRun>,
    /// The keys the script's command declared (EVAL's KEYS, FCALL's keys).
    keys: Vec<Vec<u8>>,
}

thread_local! {
    static RUN: Cell<*mut Run> = const { Cell::new(std::ptr::null_mut()) };
}

/// Whether the running script has been asked to stop.
fn kill_requested() -> bool {
    let run = RUN.with(Cell::get);
    // SAFETY: `RUN` is non-null only while `Engine::run` holds the `Run` it points to.
    !run.is_null() && unsafe { (*run).busy.kill_requested() }
}

/// The running script's `Run`, if a script runs on this thread.
fn with_run<R>(f: impl FnOnce(&mut Run) -> R) -> Option<R> {
    let run = RUN.with(Cell::get);
    if run.is_null() {
        return None;
    }
    // SAFETY: as in `kill_requested`; Lua callbacks run one at a time on this thread.
    Some(f(unsafe { &mut *run }))
}

/// The keys the running script's command declared, if a script runs on this thread.
pub fn declared_keys() -> Option<Vec<Vec<u8>>> {
    with_run(|run| run.keys.clone())
}

/// The SHA1 of a script body, in lower-case hex.
pub fn sha1hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// Redis's `evalExtractShebangFlags`: the flags of a `#!lua` first line and the length
/// of that line (without its newline, which stays to keep line numbers).
pub fn shebang(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((
            ScriptFlags {
                compat: true,
                ..ScriptFlags::default()
            },
            0,
        ));
    }
    let Some(end) = memchr::memchr(b'\n', body) else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    let Some(engine) = parts.first() else {
        return Err("Invalid engine in script shebang".into());
    };
    if *engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = ScriptFlags::default();
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" => flags.allow_stale = true,
                "no-cluster" => flags.no_cluster = true,
                "allow-cross-slot-keys" => flags.allow_cross_slot_keys = true,
                _ => return Err(format!("Unexpected flag in script shebang: {flag}")),
            }
        }
    }
    Ok((flags, end))
}

impl Engine {
    fn inner(&mut self) -> &mut Inner {
        let rand48 = self.rand48.unwrap_or(raw::RAND48_INITIAL);
        self.inner.get_or_insert_with(|| {
            Box::new(Inner::new(rand48).expect("a new Lua state with the redis library"))
        })
    }

    /// Whether a script with this SHA1 (any letter case) is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        self.flags_of(sha).is_some()
    }

    /// The flags of a cached script, by SHA1 (any letter case).
    pub fn flags_of(&self, sha: &[u8]) -> Option<ScriptFlags> {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.inner.as_ref()?.scripts.get(&sha).map(|s| s.flags)
    }

    /// How many scripts are cached (INFO `number_of_cached_scripts`).
    pub fn cached_scripts(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.scripts.len())
    }

    /// Bytes the Lua state uses (INFO `used_memory_lua`); 0 before the first script.
    pub fn lua_memory(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.vm.lua.used_memory())
    }

    /// SCRIPT FLUSH: forgets every script and starts a new Lua state.
    pub fn flush(&mut self) {
        if let Some(inner) = self.inner.take() {
            self.rand48 = Some(inner.rand48());
        }
    }

    /// Caches `body` (compiling it once) and answers its SHA1, or Redis's error text.
    pub fn load(&mut self, body: &[u8]) -> Result<String, LoadError> {
        let sha = sha1hex(body);
        self.inner().load(sha, body)
    }
}

impl Inner {
    fn new(rand48: u64) -> mlua::Result<Inner> {
        Ok(Inner {
            vm: Vm::new(rand48)?,
            scripts: HashMap::new(),
        })
    }

    fn rand48(&self) -> u64 {
        self.vm
            .lua
            .named_registry_value::<f64>(raw::RAND48_KEY)
            .map_or(raw::RAND48_INITIAL, |x| x as u64)
    }

    fn load(&mut self, sha: String, body: &[u8]) -> Result<String, LoadError> {
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, shebang_len) = shebang(body).map_err(|e| format!("ERR {e}"))?;
        let func = compile(&self.vm.lua, &body[shebang_len..], "@user_script")
            .map_err(|msg| format!("ERR Error compiling script (new function): {msg}"))?;
        self.scripts.insert(sha.clone(), Script { flags, func });
        Ok(sha)
    }
}

/// Compiles Lua source (text only, as Redis loads it) under a chunk name such as
/// `@user_script`; the error is Lua's message.
fn compile(lua: &Lua, source: &[u8], name: &str) -> Result<Function, String> {
    lua.load(source)
        .set_name(name)
        .set_mode(mlua::ChunkMode::Text)
        .into_function()
        .map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => message,
            other => other.to_string(),
        })
}

/// How a script is asked to run.
pub enum Source<'a> {
    /// EVAL: the body.
    Body(&'a [u8]),
    /// EVALSHA: the SHA1 of a cached body.
    Sha(&'a [u8]),
}

/// The numkeys of EVAL and FCALL, given `args` arguments after it, refused as Redis
/// refuses it (more than there are first, then negative).
pub fn numkeys(numkeys: i64, args: usize) -> Result<usize, CommandError> {
    if numkeys > args as i64 {
        return Err(errors::NUMKEYS_PAST_ARGS.into());
    }
    usize::try_from(numkeys).map_err(|_| errors::NUMKEYS_NEGATIVE.into())
}

/// Runs a script for EVAL/EVALSHA (`read_only`: their `_RO` forms) with its keys and
/// arguments, writing its reply (or error) into `ctx.out`.
pub fn eval(
    ctx: &mut Ctx,
    source: Source,
    keys: &[&[u8]],
    args: &[&[u8]],
    read_only: bool,
) -> Result<(), CommandError> {
    let mut engine = std::mem::take(&mut ctx.state.scripts);
    let result = eval_with(&mut engine, ctx, source, keys, args, read_only);
    // A nested call cannot reach the engine (EVAL and SCRIPT are refused in scripts), so
    // nothing replaced it meanwhile.
    ctx.state.scripts = engine;
    result
}

fn eval_with(
    engine: &mut Engine,
    ctx: &mut Ctx,
    source: Source,
    keys: &[&[u8]],
    args: &[&[u8]],
    read_only: bool,
) -> Result<(), CommandError> {
    let inner = engine.inner();
    let sha = match source {
        Source::Body(body) => {
            let sha = sha1hex(body);
            inner.load(sha, body).map_err(CommandError::from)?
        }
        Source::Sha(sha) => {
            let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
            if !inner.scripts.contains_key(&sha) {
                return Err(errors::NOSCRIPT.into());
            }
            sha
        }
    };
    let script = &inner.scripts[&sha];
    let read_only = check_flags(script.flags, read_only, ctx.state.cluster.is_some())?;
    let func = script.func.clone();
    let allow_oom = script.flags.declares_allow_oom();
    inner.run(ctx, &sha, func, keys, args, (read_only, allow_oom));
    Ok(())
}

/// The checks of a script's flags before it runs (Redis's `scriptPrepareForRun`), for
/// `read_only` (an `_RO` command) on a server in `cluster` mode or not; answers whether
/// the script runs read-only.
fn check_flags(flags: ScriptFlags, read_only: bool, cluster: bool) -> Result<bool, CommandError> {
    if !flags.compat && flags.no_cluster && cluster {
        return Err(crate::errors::NO_CLUSTER_SCRIPT.into());
    }
    if !flags.compat && !flags.no_writes && read_only {
        return Err("ERR Can not execute a script with write flag using *_ro command.".into());
    }
    Ok(read_only || (!flags.compat && flags.no_writes))
}

/// The flags a command runs with (Redis's `getCommandFlags`): a script or a function that
/// declares flags (a shebang line, `register_function`'s) runs with the write, deny-oom,
/// stale and may-replicate flags they imply instead of its command's; others with their
/// command's. What CLIENT PAUSE WRITE and MULTI go by.
pub fn command_flags(state: &crate::state::State, cmd: &CommandSpec, argv: &[&[u8]]) -> u32 {
    let declared = match cmd.full_name {
        "eval" | "eval_ro" => argv.get(1).and_then(|body| {
            let cached = state.scripts.flags_of(sha1hex(body).as_bytes());
            cached.or_else(|| shebang(body).ok().map(|(flags, _)| flags))
        }),
        "evalsha" | "evalsha_ro" => argv
            .get(1)
            .filter(|sha| sha.len() == 40)
            .and_then(|sha| state.scripts.flags_of(sha)),
        "fcall" | "fcall_ro" => argv.get(1).and_then(|name| state.functions.flags_of(name)),
        _ => None,
    };
    match declared {
        Some(f) if !f.compat => {
            let mut out =
                cmd.flags & !(flags::STALE | flags::DENYOOM | flags::WRITE | flags::MAY_REPLICATE);
            if !f.allow_oom && !f.no_writes {
                out |= flags::DENYOOM;
            }
            if !f.no_writes {
                out |= flags::WRITE;
            }
            if f.allow_stale {
                out |= flags::STALE;
            }
            out
        }
        _ => cmd.flags,
    }
}

impl Inner {
    fn run(
        &mut self,
        ctx: &mut Ctx,
        sha: &str,
        func: Function,
        keys: &[&[u8]],
        args: &[&[u8]],
        (read_only, allow_oom): (bool, bool),
    ) {
        let vm = &self.vm;
        let set_arrays = || -> mlua::Result<()> {
            vm.globals.raw_set("KEYS", strings(&vm.lua, keys)?)?;
            vm.globals.raw_set("ARGV", strings(&vm.lua, args)?)?;
            Ok(())
        };
        if let Err(e) = set_arrays() {
            ctx.out.error(&format!("ERR {e}"));
            return;
        }
        run_script(
            ctx,
            &vm.lua,
            sha,
            keys,
            (read_only, allow_oom),
            None,
            || vm.xpcall.call::<MultiValue>((func, vm.handler.clone())),
        );
    }
}

/// A Lua array of strings.
fn strings(lua: &Lua, items: &[&[u8]]) -> mlua::Result<Table> {
    lua.create_sequence_from(
        items
            .iter()
            .map(|s| lua.create_string(s))
            .collect::<mlua::Result<Vec<_>>>()?,
    )
}

/// Runs a script (`invoke` calls it under the error handler) for the command in `ctx`,
/// writing its reply, or its error with `name` (a SHA1 or a function's name) for where
/// it failed, into `ctx.out`. `function` says which function runs, for FUNCTION STATS
/// and the BUSY errors; `None` for EVAL. The script runs read-only and may run out of
/// memory as `read_only` and `allow_oom` say.
fn run_script(
    ctx: &mut Ctx,
    lua: &Lua,
    name: &str,
    keys: &[&[u8]],
    (read_only, allow_oom): (bool, bool),
    function: Option<crate::busy::FunctionRun>,
    invoke: impl FnOnce() -> mlua::Result<MultiValue>,
) {
    let busy = ctx.state.script_run.clone();
    let db = ctx.client.db;
    let mut run = Run {
        // SAFETY: only the lifetimes are erased; the pointer is dropped from `RUN`
        // below, before `ctx` can go away.
        ctx: (ctx as *mut Ctx).cast::<Ctx<'static>>(),
        resp: Protocol::Resp2,
        read_only,
        allow_oom,
        wrote: false,
        busy: busy.clone(),
        keys: keys.iter().map(|k| k.to_vec()).collect(),
    };
    busy.begin(function);
    HAND_OFFS.with(|n| n.set(0));
    RUN.with(|r| r.set(&mut run));
    let debugging = ldb::install_hook(lua);
    let outcome = invoke();
    if debugging {
        lua.remove_hook();
        install_hook(lua);
    }
    RUN.with(|r| r.set(std::ptr::null_mut()));
    let killed = busy.kill_requested();
    busy.end();
    if killed {
        // The kill switched the hook to every line: put the counting one back.
        lua.remove_hook();
        install_hook(lua);
    }
    ctx.client.db = db;
    let script_resp = run.resp;
    let mut values = match outcome {
        Ok(values) => values.into_iter(),
        Err(e) => {
            ctx.out.error(&format!(
                "ERR Error running script {name}, {}",
                truncate(&e.to_string(), 100)
            ));
            return;
        }
    };
    let ok = matches!(values.next(), Some(Value::Boolean(true)));
    let value = values.next().unwrap_or(Value::Nil);
    if ok {
        convert::write_reply(ctx.out, script_resp, &value, 0);
    } else {
        write_script_error(ctx.out, name, &value);
    }
}

/// The hook Redis sets for every script: every 100 000 instructions it checks for SCRIPT
/// KILL (or, while FUNCTION LOAD runs a library, for its time limit). Once a kill is
/// asked, every line fails, so that pcall cannot swallow it.
fn install_hook(lua: &Lua) {
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(100_000),
        |lua, _| {
            if functions::load_timed_out(lua) {
                lua.set_hook(HookTriggers::EVERY_LINE, |_, _| {
                    Err(mlua::Error::runtime(errors::FUNCTION_LOAD_TIMEOUT))
                });
                return Err(mlua::Error::runtime(errors::FUNCTION_LOAD_TIMEOUT));
            }
            hand_off_the_worker();
            if kill_requested() {
                tracing::warn!("Lua script killed by user with SCRIPT KILL.");
                lua.set_hook(HookTriggers::EVERY_LINE, |_, _| {
                    Err(mlua::Error::runtime(errors::SCRIPT_KILLED))
                });
                return Err(mlua::Error::runtime(errors::SCRIPT_KILLED));
            }
            Ok(mlua::VmState::Continue)
        },
    );
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The reply for a script that failed: its error table's `err`, and where it failed as
/// ` script: <sha>, on <source>:<line>.` when the error handler could tell.
fn write_script_error(out: &mut Reply, sha: &str, value: &Value) {
    let Value::Table(t) = value else {
        out.error(&format!(
            "ERR Error running script {sha}, execution failure"
        ));
        return;
    };
    let field = |name: &str| sandbox::to_bytes(&t.raw_get::<Value>(name).ok()?);
    let mut text = field("err").unwrap_or_default();
    if let (Some(source), Some(line)) = (field("source"), field("line")) {
        text.extend_from_slice(b" script: ");
        text.extend_from_slice(sha.as_bytes());
        text.extend_from_slice(b", on ");
        text.extend_from_slice(&source);
        text.push(b':');
        text.extend_from_slice(&line);
        text.push(b'.');
    }
    let counted = !matches!(
        t.raw_get::<Value>("ignore_error_stats_update"),
        Ok(Value::Boolean(true))
    );
    convert::write_error(out, &text, counted);
}

/// The error handler every script runs under: whatever was raised becomes a table
/// `{err=...}` (a message gets Redis's `ERR ` code), with the source and line of the
/// script code that raised it.
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let table = match err {
        Value::Table(t) => t,
        other => {
            let text: Vec<u8> = match &other {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Error(e) => root_message(e).into_bytes(),
                Value::Nil => b"nil".to_vec(),
                Value::Boolean(b) => b.to_string().into_bytes(),
                Value::Integer(n) => n.to_string().into_bytes(),
                Value::Number(n) => convert::lua_number_text(*n).into_bytes(),
                v => format!("{}: {:p}", v.type_name(), v.to_pointer()).into_bytes(),
            };
            let t = lua.create_table()?;
            let mut msg = Vec::with_capacity(text.len() + 4);
            if !text.starts_with(errors::SCRIPT_KILLED.as_bytes()) {
                msg.extend_from_slice(b"ERR ");
            }
            msg.extend_from_slice(&text);
            t.raw_set("err", lua.create_string(&msg)?)?;
            t
        }
    };
    // Level 0 is this handler; 1 raised the error, unless it is a C function (error,
    // redis.call), whose caller is meant.
    let mut frame = lua.inspect_stack(1);
    if frame.as_ref().is_some_and(|f| f.source().what == "C") {
        frame = lua.inspect_stack(2);
    }
    if let Some(frame) = frame {
        let source = frame.source();
        if let Some(src) = source.source {
            table.raw_set("source", lua.create_string(src.as_bytes())?)?;
        }
        table.raw_set("line", frame.curr_line())?;
    }
    Ok(table)
}

/// The message of a Rust error raised inside Lua, without mlua's wrapping.
fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(msg) => msg.clone(),
        other => other.to_string(),
    }
}

/// `redis.call` and `redis.pcall`: runs a command for the script, as Redis's
/// `luaRedisGenericCommand` and `scriptCall`, checking in Redis's order.
fn redis_call(lua: &Lua, args: MultiValue, raise: bool) -> mlua::Result<(Value, i64)> {
    let reply = with_run(|run| command_for_script(lua, run, args));
    let (value, failed) = match reply {
        Some(r) => r?,
        None => (
            convert::error_table(
                lua,
                b"redis.call/pcall can only be called inside a script invocation",
                false,
            )?,
            true,
        ),
    };
    let mode = if failed && raise {
        raw::mode::RAISE
    } else {
        raw::mode::RETURN
    };
    Ok((value, mode))
}

/// The reply as a Lua value and whether it is an error.
fn command_for_script(lua: &Lua, run: &mut Run, args: MultiValue) -> mlua::Result<(Value, bool)> {
    if args.is_empty() {
        let msg = b"Please specify at least one argument for this redis lib call";
        ldb::log_error(msg);
        return Ok((convert::error_table(lua, msg, false)?, true));
    }
    let mut argv: Vec<Vec<u8>> = Vec::with_capacity(args.len());
    for arg in args.iter() {
        match arg {
            Value::String(s) => argv.push(s.as_bytes().to_vec()),
            Value::Integer(n) => argv.push(crate::util::format_double_g17(*n as f64).into_bytes()),
            Value::Number(n) => argv.push(crate::util::format_double_g17(*n).into_bytes()),
            _ => {
                let msg = b"Lua redis lib command arguments must be strings or integers";
                ldb::log_error(msg);
                return Ok((convert::error_table(lua, msg, false)?, true));
            }
        }
    }
    ldb::log_command(&argv);
    let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    // SAFETY: `run.ctx` is the running command's context (see `Run`).
    let ctx = unsafe { &mut *run.ctx };
    // Errors count where the caller's count them, so that EVAL counts as failed as in
    // Redis when a command inside it failed.
    let refuse = |ctx: &mut Ctx, msg: &str, id: Option<usize>| -> mlua::Result<(Value, bool)> {
        ldb::log_error(msg.as_bytes());
        ctx.out.errors += 1;
        // "-CODE text" names its code, as Redis's `afterErrorReply` reads it.
        let code = match msg.strip_prefix('-') {
            Some(rest) => rest.split(' ').next().unwrap_or("ERR"),
            None => "ERR",
        };
        *ctx.state
            .error_stats
            .entry(code.as_bytes().into())
            .or_default() += 1;
        if let Some(id) = id {
            ctx.state.command_stats[id].rejected += 1;
        }
        Ok((convert::error_table(lua, msg.as_bytes(), true)?, true))
    };
    let Ok((cmd, id)) = Registry::get().resolve_with_id(&argv) else {
        return refuse(ctx, "Unknown Redis command called from script", None);
    };
    if !cmd.arity_ok(argv.len()) {
        return refuse(
            ctx,
            "Wrong number of args calling Redis command from script",
            Some(id),
        );
    }
    if cmd.has(flags::NOSCRIPT) {
        return refuse(
            ctx,
            "This Redis command is not allowed from script",
            Some(id),
        );
    }
    // Redis's `scriptVerifyACL`: the script's caller's user must be allowed the command,
    // its keys and channels (a denial is logged with context `lua`).
    if let Err(denied) = crate::acl::check_script_call(ctx.state, ctx.client, cmd, &argv) {
        let msg = format!("The user executing the script {}", denied.message());
        return refuse(ctx, &msg, Some(id));
    }
    // May-replicate commands (PUBLISH, PFCOUNT, ...) count as writes here.
    if run.read_only && cmd.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        return refuse(
            ctx,
            "Write commands are not allowed from read-only scripts.",
            Some(id),
        );
    }
    // Redis's `scriptVerifyOOM`: unless the script declared `allow-oom`, a command that
    // may grow memory is refused while memory was over `maxmemory` when the script's
    // command started, as long as the script has not written yet (it cannot be stopped
    // half-way). A script without a shebang gets here: processCommand let it start.
    if !run.allow_oom
        && !run.wrote
        && ctx.state.config.maxmemory != 0
        && ctx.state.memory.pre_command_oom
        && cmd.has(flags::DENYOOM)
    {
        let msg = format!("-{}", errors::OOM);
        return refuse(ctx, &msg, Some(id));
    }
    if cmd.has(flags::WRITE) {
        run.busy.wrote();
        run.wrote = true;
    }
    // In a cluster, every key a script touches must be served here (Redis's
    // `scriptVerifyClusterState`).
    if ctx.state.cluster.is_some() && crate::cluster::redirect::may_redirect(cmd) {
        let redirect =
            crate::cluster::redirect::route_script_call(ctx.state, ctx.client, cmd, &argv);
        if let Some(redirect) = redirect {
            return refuse(ctx, redirect.script_error(), Some(id));
        }
    }
    let mut out = Reply::with_capacity(run.resp, 64);
    crate::dispatch::call_into(ctx, &mut out, cmd, id, &argv);
    ldb::log_reply(&out.buf);
    ctx.out.errors += out.errors;
    for code in out.take_error_codes() {
        *ctx.state.error_stats.entry(code).or_default() += 1;
    }
    convert::reply_to_lua(lua, ctx.out, out, run.resp)
}

thread_local! {
    /// How many times the running script has tried to hand off its worker.
    static HAND_OFFS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Lets the rest of the server go on while a script runs long: called from the
/// instruction hook (so only once a script has run 100 000 instructions, never for the
/// short ones, which this would slow down), it hands the worker's other tasks and the
/// polling of sockets to another thread (`block_in_place`, on a multi-threaded
/// runtime), so that other connections are read and answered `-BUSY`. The short wait lets
/// the new thread take the worker over before this one would take it back; once it has,
/// this thread goes on with the script without a worker. A few tries per script (counted
/// in `HAND_OFFS`, reset when a script starts) are plenty; after them this costs nothing.
fn hand_off_the_worker() {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let tries = HAND_OFFS.with(|n| n.replace(n.get().saturating_add(1)));
    if tries >= 5 {
        return;
    }
    if let Ok(handle) = Handle::try_current() {
        if handle.runtime_flavor() == RuntimeFlavor::MultiThread {
            tokio::task::block_in_place(|| {
                std::thread::sleep(std::time::Duration::from_micros(200))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Client, State};

    /// Runs `body` as EVAL would, with another thread asking SCRIPT KILL until it
    /// succeeds; answers the reply.
    fn run_and_kill(body: &[u8]) -> Vec<u8> {
        let (tx, _rx) = tokio::sync::watch::channel(false);
        let mut state = State::new(Default::default(), tx);
        run_and_kill_in(&mut state, body)
    }

    fn run_and_kill_in(state: &mut State, body: &[u8]) -> Vec<u8> {
        let mut client = Client::for_tests(1);
        let mut out = Reply::new(Protocol::Resp2);
        let busy = state.script_run.clone();
        let killer = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            while busy.kill(false).is_err() {
                assert!(started.elapsed().as_secs() < 10, "the script never ran");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        let mut ctx = Ctx {
            state: &mut *state,
            client: &mut client,
            out: &mut out,
            now: crate::state::unix_millis(),
            cmd: Registry::get().lookup(b"eval").expect("eval"),
            can_block: false,
        };
        eval(&mut ctx, Source::Body(body), &[], &[], false).expect("ran");
        killer.join().expect("killer");
        assert!(state.script_run.running_for().is_none());
        out.buf.to_vec()
    }

    #[test]
    fn script_kill_stops_a_running_script_with_redis_error() {
        let reply = run_and_kill(b"local i = 0\nwhile true do i = i + 1 end");
        let sha = sha1hex(b"local i = 0\nwhile true do i = i + 1 end");
        assert_eq!(
            String::from_utf8_lossy(&reply),
            format!("-ERR Script killed by user with SCRIPT KILL... script: {sha}, on @user_script:2.\r\n")
        );
    }

    #[test]
    fn a_script_after_a_killed_one_runs_to_its_end() {
        let (tx, _rx) = tokio::sync::watch::channel(false);
        let mut state = State::new(Default::default(), tx);
        let reply = run_and_kill_in(&mut state, b"while true do end");
        assert!(reply.starts_with(b"-ERR Script killed"));
        let mut client = Client::for_tests(1);
        let mut out = Reply::new(Protocol::Resp2);
        let mut ctx = Ctx {
            state: &mut state,
            client: &mut client,
            out: &mut out,
            now: crate::state::unix_millis(),
            cmd: Registry::get().lookup(b"eval").expect("eval"),
            can_block: false,
        };
        let body = b"local n = 0; for i = 1, 300000 do n = n + 1 end; return n";
        eval(&mut ctx, Source::Body(body), &[], &[], false).expect("ran");
        assert_eq!(&out.buf[..], b":300000\r\n");
    }

    #[test]
    fn pcall_cannot_swallow_script_kill() {
        let reply = run_and_kill(b"while true do pcall(function() while true do end end) end");
        assert!(
            reply.starts_with(b"-ERR Script killed by user with SCRIPT KILL..."),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }

    #[test]
    fn shebang_flags_and_errors_are_redis_s() {
        assert_eq!(shebang(b"return 1").map(|(f, _)| f.compat), Ok(true));
        let (flags, len) = shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").expect("ok");
        assert!(flags.no_writes && flags.allow_oom && !flags.compat);
        assert_eq!(len, "#!lua flags=no-writes,allow-oom".len());
        assert_eq!(shebang(b"#!lua").unwrap_err(), "Invalid script shebang");
        assert_eq!(
            shebang(b"#!py\n").unwrap_err(),
            "Unexpected engine in script shebang: #!py"
        );
        assert_eq!(
            shebang(b"#!lua flags=x\n").unwrap_err(),
            "Unexpected flag in script shebang: x"
        );
        assert_eq!(
            shebang(b"#!lua x=1\n").unwrap_err(),
            "Unknown lua shebang option: x=1"
        );
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn load_caches_once_and_flush_forgets() {
        let mut engine = Engine::default();
        assert_eq!(engine.cached_scripts(), 0);
        assert_eq!(engine.lua_memory(), 0);
        let sha = engine.load(b"return 1").expect("compiles");
        assert_eq!(sha, sha1hex(b"return 1"));
        assert_eq!(engine.load(b"return 1").expect("cached"), sha);
        assert_eq!(engine.cached_scripts(), 1);
        assert!(engine.lua_memory() > 0);
        assert!(engine.exists(sha.to_ascii_uppercase().as_bytes()));
        assert!(engine.load(b"return (").is_err());
        assert_eq!(engine.cached_scripts(), 1);
        engine.flush();
        assert_eq!(engine.cached_scripts(), 0);
        assert!(!engine.exists(sha.as_bytes()));
    }
}
