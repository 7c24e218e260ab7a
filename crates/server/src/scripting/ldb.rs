//! The Lua debugger (Redis's LDB) that `redis-cli --ldb` and `--ldb-sync-mode` speak:
//! SCRIPT DEBUG YES|SYNC|NO, then the client's next EVAL runs under the debugger.
//!
//! ```text
//! SCRIPT DEBUG YES|SYNC|NO      -> OK (the next EVAL of this client is debugged)
//! EVAL ... (debugged)           -> *N of +<log line>, each time the script stops
//!   client: *1 $4 step          -> the next stop's logs, or another command's output
//!   ...                         -> at the end, the last logs and +<endsession>, then the
//!                                  script's reply, then the connection closes
//! ```
//!
//! The session talks to the client's socket directly from the Lua line hook, as Redis
//! does, while the command holds the state's lock: the whole server waits for the
//! debugging client, which is Redis's SYNC mode. Redis runs a YES session in a forked
//! child whose writes vanish with it; lockstep cannot fork a Lua state and a keyspace that
//! other threads share, so YES runs exactly as SYNC, and the script's writes are kept. A
//! session must never outlive its EVAL: it lives in a thread-local for the length of that
//! command only.

use std::cell::RefCell;
use std::time::Instant;

use mlua::{DebugEvent, HookTriggers, Lua, MultiValue, Value, VmState};

use crate::command::{CommandResult, Ctx, Done};

/// A client's SCRIPT DEBUG setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Off,
    /// SCRIPT DEBUG YES (run here as SYNC; see the module's doc).
    Yes,
    Sync,
}

/// Redis's `LDB_MAX_LEN_DEFAULT`: logged replies and values are cut at this many bytes.
const MAX_LEN_DEFAULT: usize = 256;
/// Redis's `LDB_BREAKPOINTS_MAX`.
const BREAKPOINTS_MAX: usize = 64;
/// Redis's `LDB_MAX_VALUES_DEPTH` (`LUA_MINSTACK/2`): how deep nested tables are shown.
const MAX_DEPTH: usize = 10;

/// One debugging session: the script's source, what the client asked, the logs not sent.
struct Session {
    fd: i32,
    lines: Vec<Vec<u8>>,
    logs: Vec<Vec<u8>>,
    /// Stop at the next line (and log `redis.call`s meanwhile).
    step: bool,
    /// `redis.breakpoint()` was called: stop at the next line.
    luabp: bool,
    breakpoints: Vec<i64>,
    current_line: i64,
    max_len: usize,
    max_len_hint_sent: bool,
    /// Bytes read from the client and not yet a whole command.
    input: Vec<u8>,
    /// When the script last went on running, for the timeout's stop.
    since: Instant,
    time_limit_ms: u64,
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

fn with_session<R>(f: impl FnOnce(&mut Session) -> R) -> Option<R> {
    SESSION.with(|s| s.borrow_mut().as_mut().map(f))
}

/// Whether a debugging session runs on this thread (Redis's `ldb.active`).
pub fn active() -> bool {
    SESSION.with(|s| s.borrow().is_some())
}

/// Whether `redis.call` logs its command and reply now (Redis's `ldbIsEnabled`).
fn logging() -> bool {
    with_session(|s| s.step).unwrap_or(false)
}

/// `SCRIPT DEBUG YES|SYNC|NO`. Refused after other replies of the same batch, as Redis
/// refuses it when the client has replies pending.
pub fn script_debug(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if !ctx.out.is_empty() {
        return Err("ERR SCRIPT DEBUG must be called outside a pipeline".into());
    }
    let mode = argv[2].to_ascii_lowercase();
    ctx.client.lua_debug = match mode.as_slice() {
        b"no" => Mode::Off,
        b"yes" => Mode::Yes,
        b"sync" => Mode::Sync,
        _ => return Err("ERR Use SCRIPT DEBUG YES/SYNC/NO".into()),
    };
    ctx.out.ok();
    Ok(Done)
}

/// EVAL (or EVAL_RO) under the debugger: `run` runs the command as usual while the line
/// hook stops the script and talks to the client; then the remaining logs and
/// `<endsession>` go out, and the connection closes after the script's reply.
pub fn debug_eval(
    ctx: &mut Ctx,
    body: &[u8],
    run: impl FnOnce(&mut Ctx) -> CommandResult,
) -> CommandResult {
    let mut source = body;
    while let [rest @ .., b'\n' | b'\r'] = source {
        source = rest;
    }
    let lines = if source.is_empty() {
        Vec::new()
    } else {
        source.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
    };
    let limit = ctx.state.config.busy_reply_threshold_ms();
    tracing::warn!("Redis synchronous debugging eval session started");
    SESSION.with(|s| {
        *s.borrow_mut() = Some(Session {
            fd: ctx.client.fd,
            lines,
            logs: Vec::new(),
            step: true,
            luabp: false,
            breakpoints: Vec::new(),
            current_line: 0,
            max_len: MAX_LEN_DEFAULT,
            max_len_hint_sent: false,
            input: Vec::new(),
            since: Instant::now(),
            time_limit_ms: if limit == 0 { 5000 } else { limit },
        })
    });
    let result = run(ctx);
    log(b"<endsession>".to_vec());
    send_logs();
    SESSION.with(|s| s.borrow_mut().take());
    tracing::warn!("Redis synchronous debugging eval session ended");
    ctx.client.lua_debug = Mode::Off;
    ctx.client.close_after_reply = true;
    result
}

/// Puts the debugger's hook on `lua` for a script about to run, if a session is active;
/// the caller puts its own hook back after the run.
pub(super) fn install_hook(lua: &Lua) -> bool {
    if !active() {
        return false;
    }
    lua.set_hook(
        HookTriggers::EVERY_LINE.every_nth_instruction(100_000),
        line_hook,
    );
    true
}

fn log(entry: Vec<u8>) {
    with_session(|s| s.logs.push(entry));
}

/// Logs `entry` cut at `maxlen` bytes (with ` ...`), and the first time one is cut, a
/// hint about `maxlen 0`.
fn log_with_max_len(mut entry: Vec<u8>) {
    with_session(|s| {
        let mut trimmed = false;
        if s.max_len != 0 && entry.len() > s.max_len {
            entry.truncate(s.max_len);
            entry.extend_from_slice(b" ...");
            trimmed = true;
        }
        s.logs.push(entry);
        if trimmed && !s.max_len_hint_sent {
            s.max_len_hint_sent = true;
            s.logs.push(
                b"<hint> The above reply was trimmed. Use 'maxlen 0' to disable trimming.".to_vec(),
            );
        }
    });
}

/// Sends the pending logs as an array of status replies (newlines become spaces).
fn send_logs() {
    let Some((fd, logs)) = with_session(|s| (s.fd, std::mem::take(&mut s.logs))) else {
        return;
    };
    let mut proto = format!("*{}\r\n", logs.len()).into_bytes();
    for entry in logs {
        proto.push(b'+');
        proto.extend(
            entry
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        proto.extend_from_slice(b"\r\n");
    }
    // As Redis, a failed write is noticed by the next read.
    let _ = write_all(fd, &proto);
}

/// Writes to the client's (non-blocking) socket, waiting up to 5 s for room each time, as
/// Redis's send timeout does.
fn write_all(fd: i32, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        // SAFETY: `data` is a valid buffer; `fd` is the client's open socket.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n > 0 {
            data = &data[n as usize..];
            continue;
        }
        let err = std::io::Error::last_os_error();
        if n < 0 && err.kind() == std::io::ErrorKind::WouldBlock {
            if !wait(fd, libc::POLLOUT, 5000) {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            continue;
        }
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}

/// Waits until `fd` is ready for `events` (or `timeout_ms` passed; -1: forever).
fn wait(fd: i32, events: i16, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    n > 0
}

/// Reads what the client sent, blocking (the whole server waits, as in Redis's SYNC
/// mode). `None`: the client is gone.
fn read_some(fd: i32) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1024];
    loop {
        // SAFETY: `buf` is a valid buffer of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            return Some(buf[..n as usize].to_vec());
        }
        if n == 0 {
            return None;
        }
        match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::WouldBlock => {
                wait(fd, libc::POLLIN, -1);
            }
            std::io::ErrorKind::Interrupted => {}
            _ => return None,
        }
    }
}

/// Redis's forgiving parser of the debugger's commands: `*<n>\r\n` then `n` bulk strings
/// of 1 to 1024 bytes. `Ok(None)`: more input is needed.
fn parse_command(input: &[u8]) -> Result<Option<Vec<Vec<u8>>>, ()> {
    if input.is_empty() {
        return Ok(None);
    }
    let find = |from: usize| -> Option<usize> {
        input[from..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| p + from)
    };
    let star = input.iter().position(|&b| b == b'*').ok_or(())?;
    let Some(end) = find(star) else {
        return Ok(None);
    };
    let count = atoi(&input[star + 1..end]);
    if count <= 0 || count > 1024 {
        return Err(());
    }
    let mut p = end + 2;
    let mut argv = Vec::new();
    while (argv.len() as i64) < count {
        if p >= input.len() {
            return Ok(None);
        }
        if input[p] != b'$' {
            return Err(());
        }
        let Some(end) = find(p) else {
            return Ok(None);
        };
        let len = atoi(&input[p + 1..end]);
        if len <= 0 || len > 1024 {
            return Err(());
        }
        let start = end + 2;
        let len = len as usize;
        if start + len + 2 > input.len() {
            return Ok(None);
        }
        argv.push(input[start..start + len].to_vec());
        if &input[start + len..start + len + 2] != b"\r\n" {
            return Err(());
        }
        p = start + len + 2;
    }
    Ok(Some(argv))
}

/// C's `atoi`: optional blanks and sign, then digits up to the first other byte.
fn atoi(s: &[u8]) -> i64 {
    let s = match s.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) => &s[i..],
        None => return 0,
    };
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add((b - b'0') as i64);
    }
    if negative {
        -n
    } else {
        n
    }
}

/// The hook while debugging: on every line of the script (and every 100 000 instructions,
/// to stop a script that runs too long without stopping), stop where asked and take
/// commands from the client until one lets the script go on.
fn line_hook(lua: &Lua, ar: mlua::Debug) -> mlua::Result<VmState> {
    let line = ar.curr_line() as i64;
    let in_script = ar
        .source()
        .short_src
        .is_some_and(|s| s.contains("user_script"));
    let is_count = matches!(ar.event(), DebugEvent::Count);
    drop(ar);
    let stop = with_session(|s| {
        s.current_line = line;
        if !in_script {
            return None;
        }
        let bp = s.breakpoints.contains(&line) || s.luabp;
        let mut timeout = false;
        if is_count && !s.step && !bp {
            if s.since.elapsed().as_millis() as u64 >= s.time_limit_ms {
                timeout = true;
                s.step = true;
            } else {
                return None;
            }
        }
        if !(s.step || bp) {
            return None;
        }
        let reason = if bp {
            if s.luabp {
                "redis.breakpoint() called"
            } else {
                "break point"
            }
        } else if timeout {
            "timeout reached, infinite loop?"
        } else {
            "step over"
        };
        s.step = false;
        s.luabp = false;
        s.logs
            .push(format!("* Stopped at {line}, stop reason = {reason}").into_bytes());
        Some(timeout)
    })
    .flatten();
    let Some(timeout) = stop else {
        return Ok(VmState::Continue);
    };
    log_source_line(line);
    send_logs();
    let connected = repl(lua)?;
    if !connected && timeout {
        return Err(mlua::Error::runtime(
            "timeout during Lua debugging with client closing connection",
        ));
    }
    with_session(|s| s.since = Instant::now());
    Ok(VmState::Continue)
}

/// Logs a source line as Redis lists it: `->` on the current line, `#` on breakpoints.
fn log_source_line(line: i64) {
    with_session(|s| {
        let text: &[u8] = usize::try_from(line - 1)
            .ok()
            .and_then(|i| s.lines.get(i))
            .map_or(b"<out of range source code line>", |l| l.as_slice());
        let bp = s.breakpoints.contains(&line);
        let current = s.current_line == line;
        let prefix = match (current, bp) {
            (true, true) => "->#",
            (true, false) => "-> ",
            (false, true) => "  #",
            (false, false) => "   ",
        };
        let mut entry = format!("{prefix}{line:<3} ").into_bytes();
        entry.extend_from_slice(text);
        s.logs.push(entry);
    });
}

fn list(around: i64, context: i64) {
    let count = with_session(|s| s.lines.len()).unwrap_or(0) as i64;
    for j in 1..=count {
        if around != 0 && (around - j).abs() > context {
            continue;
        }
        log_source_line(j);
    }
}

const HELP: &[&str] = &[
    "Redis Lua debugger help:",
    "[h]elp               Show this help.",
    "[s]tep               Run current line and stop again.",
    "[n]ext               Alias for step.",
    "[c]ontinue           Run till next breakpoint.",
    "[l]ist               List source code around current line.",
    "[l]ist [line]        List source code around [line].",
    "                     line = 0 means: current position.",
    "[l]ist [line] [ctx]  In this form [ctx] specifies how many lines",
    "                     to show before/after [line].",
    "[w]hole              List all source code. Alias for 'list 1 1000000'.",
    "[p]rint              Show all the local variables.",
    "[p]rint <var>        Show the value of the specified variable.",
    "                     Can also show global vars KEYS and ARGV.",
    "[b]reak              Show all breakpoints.",
    "[b]reak <line>       Add a breakpoint to the specified line.",
    "[b]reak -<line>      Remove breakpoint from the specified line.",
    "[b]reak 0            Remove all breakpoints.",
    "[t]race              Show a backtrace.",
    "[e]val <code>        Execute some Lua code (in a different callframe).",
    "[r]edis <cmd>        Execute a Redis command.",
    "[m]axlen [len]       Trim logged Redis replies and Lua var dumps to len.",
    "                     Specifying zero as <len> means unlimited.",
    "[a]bort              Stop the execution of the script. In sync",
    "                     mode dataset changes will be retained.",
    "",
    "Debugger functions you can call from Lua scripts:",
    "redis.debug()        Produce logs in the debugger console.",
    "redis.breakpoint()   Stop execution like if there was a breakpoint in the",
    "                     next line of code.",
];

/// Takes debugger commands until one lets the script go on. `Ok(false)`: the client
/// closed the connection (the script then runs to its end without stopping).
fn repl(lua: &Lua) -> mlua::Result<bool> {
    loop {
        let argv = loop {
            let parsed = with_session(|s| parse_command(&s.input)).unwrap_or(Err(()));
            match parsed {
                Err(()) => return Err(mlua::Error::runtime("protocol error")),
                Ok(Some(argv)) => break argv,
                Ok(None) => {}
            }
            let fd = with_session(|s| s.fd).unwrap_or(-1);
            let Some(bytes) = read_some(fd) else {
                with_session(|s| {
                    s.step = false;
                    s.breakpoints.clear();
                });
                return Ok(false);
            };
            let too_big = with_session(|s| {
                s.input.extend_from_slice(&bytes);
                if s.input.len() > 1 << 20 {
                    s.input.clear();
                    true
                } else {
                    false
                }
            })
            .unwrap_or(false);
            if too_big {
                return Err(mlua::Error::runtime("max client buffer reached"));
            }
        };
        with_session(|s| s.input.clear());
        let name = argv[0].to_ascii_lowercase();
        let is = |short: &[u8], long: &[u8]| name == short || name == long;
        if is(b"h", b"help") {
            for line in HELP {
                log(line.as_bytes().to_vec());
            }
        } else if is(b"s", b"step") || is(b"n", b"next") {
            with_session(|s| s.step = true);
            return Ok(true);
        } else if is(b"c", b"continue") {
            return Ok(true);
        } else if is(b"t", b"trace") {
            trace(lua);
        } else if is(b"m", b"maxlen") {
            max_len(&argv);
        } else if is(b"b", b"break") {
            breakpoints(&argv);
        } else if is(b"e", b"eval") {
            eval(lua, &argv);
        } else if is(b"a", b"abort") {
            return Err(mlua::Error::runtime("script aborted for user request"));
        } else if argv.len() > 1 && is(b"r", b"redis") {
            redis(lua, &argv);
        } else if is(b"p", b"print") {
            if argv.len() == 2 {
                print(lua, &argv[1]);
            } else {
                print_all(lua);
            }
        } else if is(b"l", b"list") {
            let mut around = with_session(|s| s.current_line).unwrap_or(0);
            let mut context = 5;
            if argv.len() > 1 {
                let n = atoi(&argv[1]);
                if n > 0 {
                    around = n;
                }
            }
            if argv.len() > 2 {
                context = atoi(&argv[2]);
            }
            list(around, context);
        } else if is(b"w", b"whole") {
            list(1, 1_000_000);
        } else {
            log(
                b"<error> Unknown Redis Lua debugger command or wrong number of arguments."
                    .to_vec(),
            );
        }
        send_logs();
    }
}

fn max_len(argv: &[Vec<u8>]) {
    with_session(|s| {
        if argv.len() == 2 {
            let mut n = atoi(&argv[1]) as i32 as i64;
            s.max_len_hint_sent = true;
            if n != 0 && n <= 60 {
                n = 60;
            }
            s.max_len = n as usize;
        }
        let text = if s.max_len != 0 {
            format!("<value> replies are truncated at {} bytes.", s.max_len)
        } else {
            "<value> replies are unlimited.".to_string()
        };
        s.logs.push(text.into_bytes());
    });
}

fn breakpoints(argv: &[Vec<u8>]) {
    if argv.len() == 1 {
        let bps = with_session(|s| s.breakpoints.clone()).unwrap_or_default();
        if bps.is_empty() {
            log(b"No breakpoints set. Use 'b <line>' to add one.".to_vec());
        } else {
            log(format!("{} breakpoints set:", bps.len()).into_bytes());
            for line in bps {
                log_source_line(line);
            }
        }
        return;
    }
    for arg in &argv[1..] {
        let Some(line) = std::str::from_utf8(arg)
            .ok()
            .and_then(|t| crate::util::parse_i64(t.as_bytes()))
        else {
            let mut msg = b"Invalid argument:'".to_vec();
            msg.extend_from_slice(arg);
            msg.push(b'\'');
            log(msg);
            continue;
        };
        if line == 0 {
            with_session(|s| s.breakpoints.clear());
            log(b"All breakpoints removed.".to_vec());
        } else if line > 0 {
            let added = with_session(|s| {
                if s.breakpoints.len() == BREAKPOINTS_MAX {
                    return None;
                }
                let valid = line as usize <= s.lines.len() && !s.breakpoints.contains(&line);
                if valid {
                    s.breakpoints.push(line);
                }
                Some(valid)
            })
            .flatten();
            match added {
                None => log(b"Too many breakpoints set.".to_vec()),
                Some(true) => list(line, 1),
                Some(false) => log(b"Wrong line number.".to_vec()),
            }
        } else {
            let removed = with_session(|s| {
                let found = s.breakpoints.iter().position(|&b| b == -line);
                found.map(|i| s.breakpoints.remove(i)).is_some()
            })
            .unwrap_or(false);
            log(if removed {
                b"Breakpoint removed.".to_vec()
            } else {
                b"No breakpoint in the specified line.".to_vec()
            });
        }
    }
}

/// `eval <code>`: the code as an expression (`return <code>`), else as a statement, in a
/// chunk of its own; its first result or its error is logged.
fn eval(lua: &Lua, argv: &[Vec<u8>]) {
    let code = argv[1..].join(&b' ');
    let mut expr = b"return ".to_vec();
    expr.extend_from_slice(&code);
    let func = lua
        .load(&expr[..])
        .set_name("@ldb_eval")
        .into_function()
        .or_else(|_| lua.load(&code[..]).set_name("@ldb_eval").into_function());
    let func = match func {
        Ok(f) => f,
        Err(e) => {
            log(format!("<error> {}", message(&e)).into_bytes());
            return;
        }
    };
    match func.call::<MultiValue>(()) {
        Ok(values) => {
            let value = values.into_iter().next().unwrap_or(Value::Nil);
            let mut entry = b"<retval> ".to_vec();
            repr(&mut entry, &value, 0);
            log_with_max_len(entry);
        }
        Err(e) => log(format!("<error> {}", message(&e)).into_bytes()),
    }
}

/// A Lua error's text as Lua would give it, without mlua's wrapping and traceback.
fn message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => match m.find("\nstack traceback:") {
            Some(end) => m[..end].to_string(),
            None => m.clone(),
        },
        mlua::Error::CallbackError { cause, .. } => message(cause),
        other => other.to_string(),
    }
}

/// `redis <cmd> ...`: runs the command through `redis.call` with logging on, so that the
/// command and its reply are logged as a stepped script's are.
fn redis(lua: &Lua, argv: &[Vec<u8>]) {
    let call = lua
        .globals()
        .get::<mlua::Table>("redis")
        .and_then(|redis| redis.get::<mlua::Function>("call"));
    let Ok(call) = call else {
        return;
    };
    let args: mlua::Result<Vec<mlua::String>> =
        argv[1..].iter().map(|a| lua.create_string(a)).collect();
    let Ok(args) = args else {
        return;
    };
    with_session(|s| s.step = true);
    let _ = call.call::<Value>(MultiValue::from_iter(args.into_iter().map(Value::String)));
    with_session(|s| s.step = false);
}

/// `trace`: the script's frames from the current one out.
fn trace(lua: &Lua) {
    let mut level = 0;
    while let Some(ar) = lua.inspect_stack(level) {
        let in_script = ar
            .source()
            .short_src
            .is_some_and(|s| s.contains("user_script"));
        if in_script {
            let name = ar
                .names()
                .name
                .map_or_else(|| "top level".to_string(), |n| n.to_string());
            let line = ar.curr_line() as i64;
            drop(ar);
            let word = if level == 0 { "In" } else { "From" };
            log(format!("{word} {name}:").into_bytes());
            log_source_line(line);
        }
        level += 1;
    }
    if level == 0 {
        log(b"<error> Can't retrieve Lua stack.".to_vec());
    }
}

/// The local variables visible from the script's current frame outwards, as name and
/// value pairs: the first one named `wanted`, or (`None`) every local of the current
/// frame.
fn locals(lua: &Lua, wanted: Option<&[u8]>) -> Vec<(Vec<u8>, Value)> {
    use mlua::ffi;
    let wanted = wanted.map(<[u8]>::to_vec);
    // SAFETY: the closure runs in a C function called by Lua (level 0 of the stack, so
    // the script's frame is level 1); it only reads the stack and pushes at most two
    // values at a time, checking for room first, and raises no error.
    let values = unsafe {
        lua.exec_raw::<MultiValue>((), move |l| {
            let mut level = 1;
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            while ffi::lua_getstack(l, level, &mut ar) != 0 {
                level += 1;
                let mut i = 1;
                loop {
                    if ffi::lua_checkstack(l, 3) == 0 {
                        return;
                    }
                    let name = ffi::lua_getlocal(l, &ar, i);
                    if name.is_null() {
                        break;
                    }
                    i += 1;
                    let name = std::ffi::CStr::from_ptr(name).to_bytes();
                    let keep = match &wanted {
                        Some(w) => name == w.as_slice(),
                        None => !name.windows(12).any(|w| w == b"(*temporary)"),
                    };
                    if keep {
                        ffi::lua_pushlstring(l, name.as_ptr().cast(), name.len());
                        ffi::lua_insert(l, -2);
                        if wanted.is_some() {
                            return;
                        }
                    } else {
                        ffi::lua_settop(l, -2);
                    }
                }
                if wanted.is_none() {
                    return;
                }
            }
        })
    };
    let mut out = Vec::new();
    let mut values = values.unwrap_or_default().into_iter();
    while let (Some(Value::String(name)), Some(value)) = (values.next(), values.next()) {
        out.push((name.as_bytes().to_vec(), value));
    }
    out
}

/// `print <var>`: the first local of that name from the current frame out, else the
/// globals KEYS and ARGV.
fn print(lua: &Lua, name: &[u8]) {
    let mut value = locals(lua, Some(name)).into_iter().next().map(|(_, v)| v);
    if value.is_none() && (name == b"KEYS" || name == b"ARGV") {
        let global = std::str::from_utf8(name).unwrap_or_default();
        value = lua.globals().get::<Value>(global).ok();
    }
    match value {
        Some(value) => {
            let mut entry = b"<value> ".to_vec();
            repr(&mut entry, &value, 0);
            log_with_max_len(entry);
        }
        None => log(b"No such variable.".to_vec()),
    }
}

/// `print`: every local of the current frame.
fn print_all(lua: &Lua) {
    let vars = locals(lua, None);
    if vars.is_empty() {
        log(b"No local variables in the current context.".to_vec());
    }
    for (name, value) in vars {
        let mut entry = b"<value> ".to_vec();
        entry.extend_from_slice(&name);
        entry.extend_from_slice(b" = ");
        repr(&mut entry, &value, 0);
        log_with_max_len(entry);
    }
}

/// A Lua value as the debugger shows it: strings quoted and escaped, numbers as `%g`,
/// tables as `{1; 2}` when they are arrays, else `{["k"]=v; ...}`.
fn repr(out: &mut Vec<u8>, value: &Value, level: usize) {
    if level == MAX_DEPTH {
        out.extend_from_slice(b"<max recursion level reached! Nested table?>");
        return;
    }
    match value {
        Value::String(s) => quote(out, &s.as_bytes()),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => out.extend_from_slice(crate::util::format_g(*n as f64, 6).as_bytes()),
        Value::Number(n) => out.extend_from_slice(crate::util::format_g(*n, 6).as_bytes()),
        Value::Nil => out.extend_from_slice(b"nil"),
        Value::Table(t) => {
            let mut is_array = true;
            let (mut as_array, mut as_map) = (Vec::new(), Vec::new());
            for (expected, pair) in (1i64..).zip(t.clone().pairs::<Value, Value>()) {
                let Ok((k, v)) = pair else { break };
                let index = match k {
                    Value::Integer(n) => Some(n as f64),
                    Value::Number(n) => Some(n),
                    _ => None,
                };
                if is_array && index != Some(expected as f64) {
                    is_array = false;
                }
                repr(&mut as_array, &v, level + 1);
                as_array.extend_from_slice(b"; ");
                as_map.push(b'[');
                repr(&mut as_map, &k, level + 1);
                as_map.extend_from_slice(b"]=");
                repr(&mut as_map, &v, level + 1);
                as_map.extend_from_slice(b"; ");
            }
            for text in [&mut as_array, &mut as_map] {
                let len = text.len();
                text.truncate(len.saturating_sub(2));
            }
            out.push(b'{');
            out.extend_from_slice(if is_array { &as_array } else { &as_map });
            out.push(b'}');
        }
        other => {
            let kind = match other {
                Value::Function(_) => "function",
                Value::Thread(_) => "thread",
                Value::LightUserData(_) => "light-userdata",
                _ => "userdata",
            };
            out.extend_from_slice(format!("\"{kind}@{:p}\"", other.to_pointer()).as_bytes());
        }
    }
}

/// Redis's `sdscatrepr`: in double quotes, with C escapes and `\xHH` for other bytes.
fn quote(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// `redis.call`'s command, logged while stepping: `<redis> cmd args...`, ten at most.
pub(super) fn log_command(argv: &[Vec<u8>]) {
    if !logging() {
        return;
    }
    let mut entry = b"<redis>".to_vec();
    for (j, arg) in argv.iter().enumerate() {
        if j == 10 {
            entry.extend_from_slice(format!(" ... ({} more)", argv.len() - j - 1).as_bytes());
            break;
        }
        entry.push(b' ');
        entry.extend_from_slice(arg);
    }
    log(entry);
}

/// An error `redis.call` gives the script, logged while stepping (Redis's `luaPushError`).
pub(super) fn log_error(msg: &[u8]) {
    if logging() {
        let mut entry = b"<error> ".to_vec();
        entry.extend_from_slice(msg);
        log(entry);
    }
}

/// `redis.call`'s reply, logged while stepping: an error reply as its `<error>` line, then
/// `<reply> ` and the reply in the debugger's human form.
pub(super) fn log_reply(reply: &[u8]) {
    if !logging() {
        return;
    }
    if reply.first() == Some(&b'-') {
        let line = reply.split(|&b| b == b'\r').next().unwrap_or_default();
        log_error(line);
    }
    let mut entry = b"<reply> ".to_vec();
    human(&mut entry, reply);
    log_with_max_len(entry);
}

/// Appends the first RESP value of `reply` in the debugger's form; answers the rest.
fn human<'a>(out: &mut Vec<u8>, reply: &'a [u8]) -> &'a [u8] {
    let Some(end) = reply.windows(2).position(|w| w == b"\r\n") else {
        return &[];
    };
    let (head, rest) = (&reply[..end], &reply[end + 2..]);
    let Some((&kind, body)) = head.split_first() else {
        return rest;
    };
    let count = || crate::util::parse_i64(body).unwrap_or(0);
    match kind {
        b':' => {
            out.extend_from_slice(body);
            rest
        }
        b'$' => {
            let len = count();
            if len < 0 {
                out.extend_from_slice(b"NULL");
                return rest;
            }
            let len = (len as usize).min(rest.len());
            quote(out, &rest[..len]);
            rest.get(len + 2..).unwrap_or_default()
        }
        b'+' | b'-' => {
            quote(out, head);
            rest
        }
        b'*' | b'~' | b'%' => {
            let n = count();
            if kind == b'*' && n < 0 {
                out.extend_from_slice(b"NULL");
                return rest;
            }
            let (open, close): (&[u8], &[u8]) = match kind {
                b'*' => (b"[", b"]"),
                b'~' => (b"~(", b")"),
                _ => (b"{", b"}"),
            };
            out.extend_from_slice(open);
            let mut rest = rest;
            for j in 0..n.max(0) {
                rest = human(out, rest);
                if kind == b'%' {
                    out.extend_from_slice(b" => ");
                    rest = human(out, rest);
                }
                if j != n - 1 {
                    out.push(b',');
                }
            }
            out.extend_from_slice(close);
            rest
        }
        b'_' => {
            out.extend_from_slice(b"(null)");
            rest
        }
        b'#' => {
            out.extend_from_slice(if body.first() == Some(&b't') {
                b"#true"
            } else {
                b"#false"
            });
            rest
        }
        b',' => {
            out.extend_from_slice(b"(double) ");
            out.extend_from_slice(body);
            rest
        }
        _ => rest,
    }
}

/// `redis.debug(...)`: logs its arguments (shown as values) with the current line, when a
/// session is active.
pub(super) fn debug(args: MultiValue) {
    let Some(line) = with_session(|s| s.current_line) else {
        return;
    };
    let mut entry = format!("<debug> line {line}: ").into_bytes();
    let n = args.len();
    for (i, value) in args.iter().enumerate() {
        repr(&mut entry, value, 0);
        if i + 1 != n {
            entry.extend_from_slice(b", ");
        }
    }
    log(entry);
}

/// `redis.breakpoint()`: stop at the next line, when a session is active; answers whether
/// one is.
pub(super) fn breakpoint() -> bool {
    with_session(|s| s.luabp = true).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_commands_and_waits_for_partial_ones() {
        assert_eq!(
            parse_command(b"*2\r\n$1\r\nb\r\n$1\r\n3\r\n"),
            Ok(Some(vec![b"b".to_vec(), b"3".to_vec()]))
        );
        assert_eq!(parse_command(b"*2\r\n$1\r\nb\r\n"), Ok(None));
        assert_eq!(parse_command(b"step\r\n"), Err(()));
    }

    #[test]
    fn replies_read_as_redis_shows_them() {
        let mut out = Vec::new();
        human(&mut out, b"*3\r\n:1\r\n$-1\r\n$2\r\na\n\r\n");
        assert_eq!(out, b"[1,NULL,\"a\\n\"]");
    }
}
