//! One dispatch, as Redis's `processCommand` and `call()`: every command a connection sends
//! goes through `process_command`, which resolves it once and applies Redis's checks in
//! Redis's order; `call` runs the handler and does what follows every command (stats, the
//! modification hook's side effects). EXEC, scripts and woken blocked clients reuse `call`.
//!
//! Nothing here does I/O: the connection loop (`conn.rs`) reads, hands a batch to
//! `run_batch` under one acquisition of the lock, and writes what it answered.

use std::time::Instant;

use lockstep_resp::request::Batch;
use smallvec::SmallVec;

use crate::blocking::Parked;
use crate::command::{flags, CommandSpec, Ctx, Outcome, Registry};
use crate::commands::pubsub::subscribed;
use crate::errors;
use crate::reply::Reply;
use crate::state::{unix_millis, Client, ReplyMode, State};

/// What became of one command.
#[derive(Debug, PartialEq, Eq)]
pub enum Processed {
    /// Answered (or refused with an error reply).
    Done,
    /// A CLIENT PAUSE holds it back until then; nothing ran.
    Paused(Instant),
    /// The client is parked in `State::blocked` until the deadline (`None`: forever); its
    /// reply comes when it is woken.
    Blocked(Option<Instant>),
}

/// Redis's `processCommand`: lookup (unknown command or subcommand), arity,
/// authentication, then the hooks later features add in Redis's order (commands refused
/// in MULTI, cluster redirects, the RESP2 subscribed-mode filter, OOM, script BUSY), then
/// CLIENT PAUSE, then MULTI queueing, then `call`, then the clients that the command's
/// writes woke.
pub fn process_command(
    state: &mut State,
    client: &mut Client,
    out: &mut Reply,
    argv: &[&[u8]],
) -> Processed {
    let registry = Registry::get();
    let (cmd, id) = match registry.resolve_with_id(argv) {
        Ok(found) => found,
        Err(msg) => {
            client.last_cmd = "NULL";
            // LOCKSTEP.FAULT on a cluster node: in no command table, looked for only here.
            let msg = match crate::cluster::wire_faults::intercept(state, client, out, argv) {
                Some(Ok(processed)) => return processed,
                Some(Err(refused)) => refused,
                None => msg,
            };
            return reject(state, client, out, None, &msg);
        }
    };
    // Redis records the command it looked up even when it refuses to run it.
    client.last_cmd = cmd.full_name;
    if !cmd.arity_ok(argv.len()) {
        let msg = errors::wrong_arity(cmd.full_name);
        return reject(state, client, out, Some((cmd, id)), msg.as_bytes());
    }
    if let Some(msg) = crate::commands::module::refused(state, client, cmd) {
        return reject(state, client, out, Some((cmd, id)), msg.as_bytes());
    }
    if !client.authenticated && !cmd.has(flags::NO_AUTH) && crate::acl::auth_required(state) {
        return reject(
            state,
            client,
            out,
            Some((cmd, id)),
            errors::NOAUTH.as_bytes(),
        );
    }
    if client.in_multi && cmd.has(flags::NO_MULTI) {
        let msg = b"ERR Command not allowed inside a transaction";
        return reject(state, client, out, Some((cmd, id)), msg);
    }
    // ACLs, as Redis checks them: after authentication, before cluster redirection.
    if let Err(msg) = crate::acl::check_command(state, client, cmd, argv) {
        return reject(state, client, out, Some((cmd, id)), msg.as_bytes());
    }
    if state.cluster.is_some() && crate::cluster::redirect::may_redirect(cmd) {
        if let Some(redirect) = crate::cluster::redirect::route(state, client, cmd, argv) {
            return redirected(state, client, out, (cmd, id), &redirect);
        }
    }
    if cmd.has(flags::WRITE) && crate::replication_wire::not_enough_replicas(state) {
        let msg = crate::replication_wire::NOREPLICAS.as_bytes();
        return reject(state, client, out, Some((cmd, id)), msg);
    }
    // Redis's check for replicas (`-READONLY`), after the redirect: a write that was not
    // redirected (keyless, or its slot served here) is refused on a replica.
    if cmd.has(flags::WRITE) && crate::replication::is_replica(state) {
        return reject(
            state,
            client,
            out,
            Some((cmd, id)),
            crate::replication::READONLY.as_bytes(),
        );
    }
    if out_of_memory(state, client, cmd, argv) {
        return reject(
            state,
            client,
            out,
            Some((cmd, id)),
            crate::errors::OOM.as_bytes(),
        );
    }
    if client.resp == 2 && subscribed(client) && !runs_when_subscribed(cmd) {
        let msg = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.full_name
        );
        return reject(state, client, out, Some((cmd, id)), msg.as_bytes());
    }
    if let Some(until) = held_by_pause(state, client, cmd, argv) {
        return Processed::Paused(until);
    }
    if client.in_multi && !runs_inside_multi(cmd) {
        let flags = crate::scripting::command_flags(state, cmd, argv);
        let tx = state.transactions.entry(client.id).or_default();
        tx.queue(cmd, id, argv, flags);
        out.simple("QUEUED");
        return Processed::Done;
    }
    let outcome = call(state, client, out, cmd, id, argv, true);
    // CLIENT CACHING YES/NO lasts for one command (a transaction counts as one; CLIENT
    // subcommands leave it), as Redis clears it after each command.
    if client.tracking && !client.in_multi && !cmd.full_name.starts_with("client|") {
        if let Some(tracker) = state.tracking.get_mut(client.id) {
            tracker.caching = None;
        }
    }
    let processed = match outcome {
        Outcome::Done => Processed::Done,
        Outcome::Block(block) => {
            let deadline = block.deadline;
            client.blocked = true;
            state.blocked.park(Parked {
                client: client.clone(),
                cmd,
                cmd_id: id,
                argv: block
                    .argv
                    .unwrap_or_else(|| argv.iter().map(|a| a.to_vec()).collect()),
                db: client.db,
                keys: block.keys,
                deadline,
                ready_when: block.ready_when,
                wake_on_every_write: block.wake_on_every_write,
                out: Reply::new(out.protocol),
            });
            state.listen();
            Processed::Blocked(deadline)
        }
    };
    if state.blocked.has_ready() {
        serve_blocked(state);
    }
    count_error_codes(state, out);
    processed
}

/// Redis's maxmemory check in `processCommand`: evicts what the policy allows, then
/// whether the command must be refused with `-OOM`: one that may grow memory (`denyoom`,
/// a script declaring writes, an EXEC of such commands), or anything but EXEC, DISCARD,
/// QUIT and RESET while queueing a transaction.
fn out_of_memory(state: &mut State, client: &Client, cmd: &CommandSpec, argv: &[&[u8]]) -> bool {
    let deny = || {
        let mut flags = cmd.flags;
        if cmd.full_name.starts_with("eval") || cmd.full_name.starts_with("fcall") {
            flags = crate::scripting::command_flags(state, cmd, argv);
        }
        if cmd.full_name == "exec" {
            flags |= state.transactions.get(&client.id).map_or(0, |tx| tx.flags);
        }
        flags & flags::DENYOOM != 0
            || (client.in_multi && !matches!(cmd.full_name, "exec" | "discard" | "quit" | "reset"))
    };
    if state.config.maxmemory == 0 {
        crate::evict::before_command(state, false);
        return false;
    }
    let deny = deny();
    crate::evict::before_command(state, deny)
}

/// What a RESP2 client in subscribed mode may still run.
fn runs_when_subscribed(cmd: &CommandSpec) -> bool {
    matches!(
        cmd.full_name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// The commands that run at once inside MULTI instead of being queued.
fn runs_inside_multi(cmd: &CommandSpec) -> bool {
    matches!(
        cmd.full_name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Redis's `rejectCommand`: the command (`None`: unknown) is refused with `msg` before it
/// ran. A transaction being queued is aborted; a refused EXEC discards it at once, its
/// reply saying why.
fn reject(
    state: &mut State,
    client: &mut Client,
    out: &mut Reply,
    cmd: Option<(&'static CommandSpec, usize)>,
    msg: &[u8],
) -> Processed {
    if client.in_multi {
        state.transactions.entry(client.id).or_default().aborted = true;
    }
    match cmd {
        Some((cmd, id)) => {
            state.command_stats[id].rejected += 1;
            if cmd.full_name == "exec" {
                crate::multi::discard(state, client);
                let mut text = b"EXECABORT Transaction discarded because of: ".to_vec();
                // Redis gives the reason without a leading `-` or `ERR `.
                let reason = msg.strip_prefix(b"-").unwrap_or(msg);
                text.extend_from_slice(reason.strip_prefix(b"ERR ").unwrap_or(reason));
                out.error_bytes(&text);
                if !state.monitors.is_empty() {
                    feed_monitors(state, client, &[b"exec"], false);
                }
            } else {
                out.error_bytes(msg);
            }
        }
        None => out.error_bytes(msg),
    }
    count_error_codes(state, out);
    Processed::Done
}

/// Redis's `clusterRedirectClient`: the command is refused with a redirect (`-MOVED`,
/// `-CROSSSLOT`, ...). A command being queued aborts its transaction; a redirected EXEC
/// discards it and answers the redirect itself, not EXECABORT.
fn redirected(
    state: &mut State,
    client: &mut Client,
    out: &mut Reply,
    (cmd, id): (&'static CommandSpec, usize),
    redirect: &crate::cluster::Redirect,
) -> Processed {
    if cmd.full_name != "exec" {
        return reject(
            state,
            client,
            out,
            Some((cmd, id)),
            redirect.error().as_bytes(),
        );
    }
    state.command_stats[id].rejected += 1;
    crate::multi::discard(state, client);
    out.error(&redirect.error());
    count_error_codes(state, out);
    Processed::Done
}

/// INFO errorstats: the codes of the error replies just written.
#[inline]
fn count_error_codes(state: &mut State, out: &mut Reply) {
    if !out.has_error_codes() {
        return;
    }
    for code in out.take_error_codes() {
        *state.error_stats.entry(code).or_default() += 1;
    }
}

/// Redis's `call()`: runs the handler with the command's clock frozen, writes a failed
/// handler's error, counts the call (INFO commandstats) and passes the keys it wrote to
/// the modification hook's listeners. A command that blocks is counted when it is served.
pub fn call(
    state: &mut State,
    client: &mut Client,
    out: &mut Reply,
    cmd: &'static CommandSpec,
    id: usize,
    argv: &[&[u8]],
    can_block: bool,
) -> Outcome {
    let ctx = Ctx {
        state,
        client,
        out,
        now: unix_millis(),
        cmd,
        can_block,
    };
    call_with(ctx, id, argv, false)
}

/// `call` for a command another runs (EXEC's queue; later, scripts): on the caller's
/// clock, which Redis keeps frozen for the whole unit, and never blocking.
pub fn call_in(caller: &mut Ctx, cmd: &'static CommandSpec, id: usize, argv: &[&[u8]]) {
    let ctx = Ctx {
        state: caller.state,
        client: caller.client,
        out: caller.out,
        now: caller.now,
        cmd,
        can_block: false,
    };
    call_with(ctx, id, argv, false);
}

/// `call` on a given clock and never blocking: a replica applying its primary's stream
/// runs each command at the moment the primary ran it.
pub fn call_at(
    state: &mut State,
    client: &mut Client,
    out: &mut Reply,
    cmd: &'static CommandSpec,
    id: usize,
    argv: &[&[u8]],
    now: crate::keyspace::Millis,
) {
    let ctx = Ctx {
        state,
        client,
        out,
        now,
        cmd,
        can_block: false,
    };
    call_with(ctx, id, argv, false);
}

/// `call_in` with the reply going to `out` instead of the caller's (a script's
/// `redis.call`, whose reply becomes a Lua value).
pub fn call_into(
    caller: &mut Ctx,
    out: &mut Reply,
    cmd: &'static CommandSpec,
    id: usize,
    argv: &[&[u8]],
) {
    let ctx = Ctx {
        state: caller.state,
        client: caller.client,
        out,
        now: caller.now,
        cmd,
        can_block: false,
    };
    call_with(ctx, id, argv, true);
}

fn call_with(mut ctx: Ctx, id: usize, argv: &[&[u8]], from_script: bool) -> Outcome {
    let cmd = ctx.cmd;
    let started = crate::util::monotonic_micros();
    let reply_start = ctx.out.buf.len();
    let errors_before = ctx.out.errors;
    let dirty_before = ctx.state.mods.dirty;
    let propagating = ctx.state.propagating();
    if propagating {
        crate::propagate::enter(ctx.state);
    }
    let outcome = match (cmd.handler)(&mut ctx, argv) {
        Ok(outcome) => outcome,
        Err(e) => {
            ctx.out.error_bytes(e.text());
            Outcome::Done
        }
    };
    // Errors a nested call counted (EXEC's commands) are theirs, not the caller's.
    let failed = ctx.out.errors > errors_before.max(ctx.out.errors_counted);
    ctx.out.errors_counted = ctx.out.errors;
    let state = ctx.state;
    // The propagation hook: what the command wrote goes to the AOF and the replicas.
    if propagating {
        let wrote = state.mods.dirty != dirty_before;
        let reply = ctx.out.buf.get(reply_start..).unwrap_or_default();
        crate::propagate::after_call(state, ctx.client, cmd, argv, wrote, reply, ctx.now);
    }
    if matches!(outcome, Outcome::Done) {
        let usec = crate::util::monotonic_micros().saturating_sub(started);
        state.stats.commands_processed += 1;
        let stat = &mut state.command_stats[id];
        stat.calls += 1;
        stat.usec += usec;
        if failed {
            stat.failed += 1;
        }
        crate::diagnostics::record(state, ctx.client, cmd, id, argv, usec);
    }
    // Redis 7.0 feeds monitors after the command ran, leaving out what may be secret.
    if !state.monitors.is_empty() && !cmd.has(flags::SKIP_MONITOR) && !cmd.has(flags::ADMIN) {
        feed_monitors(state, ctx.client, argv, from_script);
    }
    if state.mods.has_events() {
        publish_events(state, ctx.client, ctx.out, reply_start);
    }
    if state.mods.has_keys() || state.mods.has_flush() {
        writes_done(state, Some((&*ctx.client, &mut *ctx.out)));
    }
    if ctx.client.tracking && cmd.has(flags::READONLY) {
        // A script's read remembers the keys its EVAL or FCALL declared, as Redis 7.0
        // does (it asks the caller's command for keys), not the keys it read.
        match from_script.then(crate::scripting::declared_keys).flatten() {
            Some(keys) => remember(state, ctx.client, keys.into_iter()),
            None => {
                let keys = cmd.key_positions(argv).unwrap_or_default();
                remember(
                    state,
                    ctx.client,
                    keys.into_iter().map(|i| argv[i].to_vec()),
                );
            }
        }
    }
    outcome
}

/// What the keys a command (or the expiry cycle) changed mean to the others: blocked
/// clients waiting on them may be served, tracking clients are told (messages for
/// `by`, the client whose command it was, go after its reply).
pub fn writes_done(state: &mut State, mut by: Option<(&Client, &mut Reply)>) {
    let tracking = !state.tracking.is_empty();
    for (db, key) in state.mods.drain_keys() {
        if tracking {
            let mine = by.as_mut().map(|(c, out)| (*c, &mut **out));
            crate::tracking::invalidate(state, &key, mine);
        }
        state.blocked.key_written(db, key);
    }
    if state.mods.take_flush() && tracking {
        crate::tracking::flushed(state, by);
    }
}

/// Redis's `trackingRememberKeys`: a tracking client (default mode) read these keys,
/// unless OPTIN without CLIENT CACHING YES or OPTOUT with CLIENT CACHING NO says no.
fn remember(state: &mut State, client: &Client, keys: impl Iterator<Item = Vec<u8>>) {
    let Some(tracker) = state.tracking.get(client.id) else {
        return;
    };
    let cached = match (tracker.optin, tracker.optout) {
        (true, _) => tracker.caching == Some(true),
        (_, true) => tracker.caching != Some(false),
        _ => true,
    };
    if tracker.bcast || !cached {
        return;
    }
    // The hook already logs keys: the client is tracking (see `State::listen`).
    state.tracking.remember(client.id, keys);
}

/// Publishes the keyspace events of the command that just ran. Redis publishes while the
/// command runs, so a message for the client itself comes before the command's reply:
/// it is put there.
fn publish_events(state: &mut State, client: &Client, out: &mut Reply, reply_start: usize) {
    let mut mine = Reply::with_capacity(out.protocol, 0);
    crate::pubsub::publish_events(state, Some((client.id, &mut mine)));
    if !mine.buf.is_empty() {
        let reply = out.buf.split_off(reply_start);
        out.buf.extend_from_slice(&mine.buf);
        out.buf.unsplit(reply);
    }
}

/// Redis's `replicationFeedMonitors`: one line per command for every client in MONITOR
/// mode, `+<unix time with µs> [<db> <addr>] "arg" ...`, arguments quoted as
/// `sdscatrepr` does; AUTH's arguments and HELLO's password are redacted.
pub(crate) fn feed_monitors(state: &mut State, client: &Client, argv: &[&[u8]], from_script: bool) {
    let micros = crate::state::unix_micros();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        micros / 1_000_000,
        micros % 1_000_000,
        client.db,
        // A script's commands show `lua` where a client's address would be.
        if from_script {
            "lua".to_string()
        } else {
            client.addr.to_string()
        }
    )
    .into_bytes();
    // AUTH's arguments; HELLO's username and password after AUTH.
    let redacted = if argv[0].eq_ignore_ascii_case(b"auth") {
        1..argv.len()
    } else if argv[0].eq_ignore_ascii_case(b"hello") {
        argv.iter()
            .position(|a| a.eq_ignore_ascii_case(b"auth"))
            .map_or(0..0, |i| i + 1..i + 3)
    } else {
        0..0
    };
    for (i, arg) in argv.iter().enumerate() {
        line.push(b' ');
        if redacted.contains(&i) {
            line.extend_from_slice(b"\"(redacted)\"");
        } else {
            line.extend_from_slice(crate::config::file::repr(arg).as_bytes());
        }
    }
    line.extend_from_slice(b"\r\n");
    // Monitors are replica-type clients: their output limits are the replicas'.
    let limit = state.config.output_limits.replica;
    let now = std::time::Instant::now();
    for id in state.monitors.clone() {
        if let Some(entry) = state.clients.get_mut(&id) {
            crate::pubsub::deliver(entry, &line, now, &limit);
        }
    }
}

/// Redis's `handleClientsBlockedOnKeys`: for every written key somebody waits on, the
/// clients waiting on it run their command again, first blocked first, while the key
/// holds what they wait for. A woken command's own writes can wake more clients.
pub fn serve_blocked(state: &mut State) {
    let now = unix_millis();
    while let Some((db, key)) = state.blocked.next_ready() {
        for id in state.blocked.waiters(db, &key) {
            let Some(ready_when) = state.blocked.ready_when(id) else {
                continue;
            };
            let ready = state.blocked.wakes_on_every_write(id)
                || state
                    .db(db, now)
                    .peek(&key)
                    .is_some_and(|e| ready_when(e.value));
            if !ready {
                continue;
            }
            let positions = state.blocked.positions(id);
            let Some(mut parked) = state.blocked.unpark(id) else {
                continue;
            };
            let outcome = {
                let Parked {
                    client,
                    cmd,
                    cmd_id,
                    argv,
                    out,
                    ..
                } = &mut parked;
                let argv: SmallVec<[&[u8]; 8]> = argv.iter().map(|a| a.as_slice()).collect();
                call(state, client, out, cmd, *cmd_id, &argv, true)
            };
            match outcome {
                Outcome::Done => finish(state, parked, true),
                // Something else took what it waited for: it waits on, where it was.
                Outcome::Block(_) => state.blocked.repark(parked, positions),
            }
        }
    }
    state.listen();
}

/// Hands a client whose wait ended to its connection, waking it unless it is the one
/// asking (a timeout seen by the connection itself).
fn finish(state: &mut State, mut parked: Parked, wake: bool) {
    parked.client.blocked = false;
    if wake {
        if let Some(entry) = state.clients.get(&parked.client.id) {
            entry.wake.notify_one();
        }
    }
    state.blocked.finish(parked);
}

/// Ends client `id`'s wait without serving it (CLIENT UNBLOCK): `answer` writes its
/// reply, and its connection is woken to take it. False when it was not waiting.
pub fn unblock(state: &mut State, id: u64, answer: impl FnOnce(&mut Reply)) -> bool {
    end_wait(state, id, answer, true)
}

fn end_wait(state: &mut State, id: u64, answer: impl FnOnce(&mut Reply), wake: bool) -> bool {
    let Some(mut parked) = state.blocked.unpark(id) else {
        return false;
    };
    answer(&mut parked.out);
    finish(state, parked, wake);
    state.listen();
    true
}

/// The blocked client's side, once its deadline passed: unless it was served meanwhile,
/// its wait ends with a null array, as Redis answers a timed-out pop.
pub fn time_out(state: &mut State, id: u64) {
    let Some(mut parked) = state.blocked.unpark(id) else {
        return;
    };
    // WAIT answers how many replicas acknowledged by then.
    if parked.cmd.full_name == "wait" {
        let acked = crate::replication::wait_timed_out(state, id);
        parked.out.int(acked);
    } else {
        parked.out.null_array();
    }
    finish(state, parked, false);
    state.listen();
}

/// Takes a client whose wait has ended back from `State::blocked`, with its reply (and
/// that reply's errors counted as any command's). False when it still waits.
pub fn take_back(state: &mut State, client: &mut Client, out: &mut Reply) -> bool {
    let Some(mut parked) = state.blocked.take_finished(client.id) else {
        return false;
    };
    *client = parked.client;
    state.stats.error_replies += parked.out.errors;
    count_error_codes(state, &mut parked.out);
    let mark = out.len();
    out.buf.extend_from_slice(&parked.out.buf);
    apply_reply_mode(client, out, mark);
    true
}

/// Forgets a connection that closed: its wait, its MONITOR feed.
pub fn forget_client(state: &mut State, id: u64) {
    state.blocked.forget(id);
    state.mods.watches.forget(id);
    state.transactions.remove(&id);
    state.pubsub.forget(id);
    state.tracking.disable(id);
    state.listen();
    state.monitors.retain(|&m| m != id);
    crate::replication::forget_client(state, id);
}

/// Until when a CLIENT PAUSE holds this command back, if it does.
fn held_by_pause(
    state: &mut State,
    client: &Client,
    cmd: &CommandSpec,
    argv: &[&[u8]],
) -> Option<Instant> {
    let pause = state.pause?;
    if pause.until <= Instant::now() {
        state.pause = None;
        return None;
    }
    // WRITE pauses what could change the data set or reach replicas: a script counts
    // with the flags it declares, EXEC with what it would run.
    let mut cmd_flags = crate::scripting::command_flags(state, cmd, argv);
    if cmd.full_name == "exec" {
        cmd_flags |= state.transactions.get(&client.id).map_or(0, |tx| tx.flags);
    }
    if pause.writes_only && cmd_flags & (flags::WRITE | flags::MAY_REPLICATE) == 0 {
        return None;
    }
    Some(pause.until)
}

/// How far `run_batch` got.
#[derive(Debug, PartialEq, Eq)]
pub enum BatchEnd {
    /// Every command ran, or one after which the connection closes.
    Done,
    /// A CLIENT PAUSE holds command `at` (and those after it) until `until`.
    Paused { at: usize, until: Instant },
    /// The command before `at` parked the client until `deadline` (`None`: forever); the
    /// rest waits until it is woken.
    Blocked {
        at: usize,
        deadline: Option<Instant>,
    },
}

/// Runs the batch's commands from `start`, honouring CLIENT REPLY OFF/SKIP, stopping at a
/// command after which the connection must close, that a CLIENT PAUSE holds back, or that
/// blocks.
/// How far `run_busy_batch` got.
#[derive(Debug, PartialEq, Eq)]
pub enum BusyEnd {
    /// Every command was answered.
    Done,
    /// Command `at` needs the state (a command Redis allows while a script runs, such as
    /// MULTI or AUTH): the rest waits for the script to end.
    NeedsState { at: usize },
}

/// `run_batch` while a script has run past `busy-reply-threshold` and holds the state:
/// what Redis answers then, without the state. Unknown commands, wrong arities and
/// missing authentication get their usual errors; SCRIPT KILL and FUNCTION KILL ask the
/// script to stop; SHUTDOWN NOSAVE stops it and the server; QUIT closes; everything else
/// is refused with `-BUSY`.
/// A command Redis runs while a script is busy (its `allow_busy` flag) that needs the state
/// here (MULTI, AUTH, HELLO, ...), unlike SCRIPT KILL, FUNCTION KILL, QUIT and SHUTDOWN,
/// which `run_busy_batch` answers without it. Asked once the command resolved, its arity
/// and authentication checked.
fn needs_state_while_busy(cmd: &CommandSpec) -> bool {
    cmd.has(flags::ALLOW_BUSY)
        && !matches!(
            cmd.full_name,
            "script|kill" | "function|kill" | "function|stats" | "quit" | "shutdown"
        )
}

/// Whether `run_busy_batch` would stop at one of `batch`'s commands for want of the state.
pub fn busy_batch_needs_state(client: &Client, batch: &Batch, buf: &[u8]) -> bool {
    let mut argv: Vec<&[u8]> = Vec::with_capacity(16);
    (0..batch.len()).any(|i| {
        argv.clear();
        argv.extend(batch.command(i).iter().map(|r| &buf[r.clone()]));
        matches!(
            Registry::get().resolve_with_id(&argv),
            Ok((cmd, _)) if cmd.arity_ok(argv.len())
                && (client.authenticated || cmd.has(flags::NO_AUTH))
                && needs_state_while_busy(cmd)
        )
    })
}

pub fn run_busy_batch(
    script: &crate::busy::ScriptRun,
    client: &mut Client,
    out: &mut Reply,
    batch: &Batch,
    start: usize,
    buf: &[u8],
) -> BusyEnd {
    let mut argv: Vec<&[u8]> = Vec::with_capacity(16);
    for i in start..batch.len() {
        argv.clear();
        argv.extend(batch.command(i).iter().map(|r| &buf[r.clone()]));
        let mark = out.len();
        match Registry::get().resolve_with_id(&argv) {
            Err(msg) => out.error_bytes(&msg),
            Ok((cmd, _)) if !cmd.arity_ok(argv.len()) => {
                out.error(&errors::wrong_arity(cmd.full_name))
            }
            Ok((cmd, _)) if !client.authenticated && !cmd.has(flags::NO_AUTH) => {
                out.error(errors::NOAUTH)
            }
            Ok((cmd, _)) if needs_state_while_busy(cmd) => return BusyEnd::NeedsState { at: i },
            Ok((cmd, _)) => match cmd.full_name {
                "script|kill" | "function|kill" => {
                    match script.kill(cmd.full_name == "function|kill") {
                        Ok(()) => out.ok(),
                        Err(refused) => out.error(refused.error()),
                    }
                }
                "function|stats" => crate::commands::functions::write_stats(out, script, None),
                "quit" => {
                    out.ok();
                    client.close_after_reply = true;
                }
                // Only without saving: the script is stopped, and the server with it.
                "shutdown" => {
                    if argv[1..].iter().any(|a| a.eq_ignore_ascii_case(b"nosave")) {
                        script.shut_down();
                        client.close_after_reply = true;
                    } else {
                        out.error(script.busy_error());
                    }
                }
                _ => out.error(script.busy_error()),
            },
        }
        apply_reply_mode(client, out, mark);
        if client.close_after_reply {
            break;
        }
    }
    BusyEnd::Done
}

pub fn run_batch(
    state: &mut State,
    client: &mut Client,
    out: &mut Reply,
    batch: &Batch,
    start: usize,
    buf: &[u8],
) -> BatchEnd {
    let errors_before = out.errors;
    let mut end = BatchEnd::Done;
    // One vector for the batch, refilled per command.
    let mut argv: Vec<&[u8]> = Vec::with_capacity(16);
    // Under maxmemory-clients, the replies' growth is looked at every few steps.
    let step = crate::client_eviction::CHECK_STEP * 4;
    let mut next_check = match state.client_limit.get() {
        0 => usize::MAX,
        _ => out.len() + step,
    };
    // `client-output-buffer-limit`'s hard limit for the client's class (the soft one is
    // looked at while the replies wait to be written, `conn`).
    let hard = output_hard_limit(state, client);
    warm_keys(state, client, batch, start, buf);
    for i in start..batch.len() {
        argv.clear();
        argv.extend(batch.command(i).iter().map(|r| &buf[r.clone()]));
        if is_http_request(argv[0]) {
            tracing::warn!(addr = %client.addr, "possible security attack: HTTP request on the Redis port, connection closed");
            out.truncate(0);
            client.close_after_reply = true;
            break;
        }
        let mark = out.len();
        match process_command(state, client, out, &argv) {
            Processed::Done => {}
            Processed::Paused(until) => {
                end = BatchEnd::Paused { at: i, until };
                break;
            }
            Processed::Blocked(deadline) => {
                end = BatchEnd::Blocked {
                    at: i + 1,
                    deadline,
                };
                break;
            }
        }
        apply_reply_mode(client, out, mark);
        // ASKING lasts for the next command, or the transaction it opens.
        if client.asking && !client.in_multi && client.last_cmd != "asking" {
            client.asking = false;
        }
        if client.close_after_reply {
            break;
        }
        if hard != 0 && reply_list_bytes(out.len()) >= hard {
            tracing::info!(client = %client.addr, "client closed for overcoming of output buffer limits");
            // Redis frees it without writing anything the batch answered.
            out.truncate(0);
            client.close_after_reply = true;
            break;
        }
        if out.len() >= next_check {
            next_check = out.len() + step;
            if crate::client_eviction::check(state, client.id, None, Some(out.len())) {
                // Evicted: Redis frees it without writing what it had not sent.
                out.truncate(0);
                client.close_after_reply = true;
                break;
            }
        }
    }
    state.stats.error_replies += out.errors - errors_before;
    // BCAST invalidations go out once the batch is done, as Redis sends them before it
    // sleeps.
    crate::tracking::broadcast(state, Some((&*client, &mut *out)));
    end
}

/// Looks up the first argument of every command of a pipelined batch before any runs, so
/// that the memory each lookup needs (hash table, entry) is fetched for all of them at once
/// (independent lookups overlap their cache misses) instead of one miss after another as
/// the commands run: SET -P16 over 100,000 keys, 18% less server CPU per request. Only a
/// hint: it changes nothing; a first argument that is no key costs a hash.
fn warm_keys(state: &State, client: &Client, batch: &Batch, start: usize, buf: &[u8]) {
    const MIN_BATCH: usize = 4;
    if batch.len() - start < MIN_BATCH {
        return;
    }
    let Some(db) = state.dbs.get(client.db) else {
        return;
    };
    let dict = db.dict();
    if dict.len() < 4096 {
        return;
    }
    let mut found = 0u32;
    for i in start..batch.len() {
        if let Some(key) = batch.command(i).get(1) {
            found = found.wrapping_add(dict.find(&buf[key.clone()]).unwrap_or(0));
        }
    }
    std::hint::black_box(found);
}

/// The hard output limit of `client`'s class (0: none).
fn output_hard_limit(state: &State, client: &Client) -> u64 {
    let monitor = !state.monitors.is_empty() && state.monitors.contains(&client.id);
    let subscribed = crate::commands::pubsub::subscribed(client);
    state
        .config
        .output_limits
        .for_client(monitor, subscribed)
        .hard
}

/// What Redis counts against the output limits for `pending` bytes of replies: what does
/// not fit its fixed reply buffer.
pub fn reply_list_bytes(pending: usize) -> u64 {
    pending.saturating_sub(crate::client_eviction::REPLY_BUFFER_SIZE) as u64
}

/// CLIENT REPLY OFF/SKIP: drops the reply written since `mark`. Redis decides when a reply
/// is added; the mode after the command is the one that was in force then (CLIENT REPLY
/// ON after SKIP answers `+OK`, RESET after SKIP does not answer).
pub fn apply_reply_mode(client: &mut Client, out: &mut Reply, mark: usize) {
    match client.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => out.truncate(mark),
        ReplyMode::Skip => {
            out.truncate(mark);
            client.reply_mode = ReplyMode::On;
        }
        // Set by this very command: the next one is skipped.
        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
    }
}

/// Redis's defence against cross-protocol scripting: a browser tricked into posting to
/// the Redis port sends `POST` or `Host:` lines, which Redis answers by closing the
/// connection without a word, dropping the replies it had not written yet.
fn is_http_request(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:")
}
