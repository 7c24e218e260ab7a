//! The CLIENT container: the connection's name and library, its ID and CLIENT INFO line,
//! CLIENT LIST and KILL over every connection, PAUSE/UNPAUSE, REPLY, UNBLOCK, NO-EVICT and
//! the client-side-caching subcommands (TRACKING, CACHING, GETREDIR, TRACKINGINFO; the
//! tracking itself is `tracking.rs`).
//!
//! They never touch a socket: a CLIENT KILL that hits the caller sets `close_after_reply`,
//! a CLIENT KILL of another connection marks its registry entry `killed` and wakes it, and
//! the connection loop does the closing once the replies are written.
//!
//! `CLIENT SETINFO` is Redis 7.2's, not 7.0.15's: clients such as redis-py 5, go-redis 9
//! and Jedis 5 send it on every connect, and some older releases of them fail the connect
//! on the "unknown subcommand" error that 7.0.15 gives. Everything else matches 7.0.15.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connection::{is_printable_token, set_name};
use super::container;
use crate::args::Args;
use crate::command::{handler, CommandError, CommandResult, Ctx, Done, Entry};
use crate::errors;
use crate::multi;
use crate::state::{Client, ClientPause, ReplyMode};
use crate::tracking::{Tracker, Tracking};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("client", container),
    handler("client|caching", client_caching),
    handler("client|getname", client_getname),
    handler("client|getredir", client_getredir),
    handler("client|help", client_help),
    handler("client|id", client_id),
    handler("client|info", client_info),
    handler("client|kill", client_kill),
    handler("client|list", client_list),
    handler("client|no-evict", client_no_evict),
    handler("client|pause", client_pause),
    handler("client|reply", client_reply),
    handler("client|setinfo", client_setinfo),
    handler("client|setname", client_setname),
    handler("client|tracking", client_tracking),
    handler("client|trackinginfo", client_trackinginfo),
    handler("client|unpause", client_unpause),
    handler("client|unblock", client_unblock),
];

/// `CLIENT ID`.
fn client_id(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(Done)
}

/// `CLIENT GETNAME`: the name, or null.
fn client_getname(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    match &ctx.client.name {
        Some(name) => ctx.out.bulk(name),
        None => ctx.out.null(),
    }
    Ok(Done)
}

/// `CLIENT SETNAME name`.
fn client_setname(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if !set_name(ctx.client, argv[2]) {
        return Err(errors::CLIENT_NAME_INVALID.into());
    }
    ctx.out.ok();
    Ok(Done)
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value` (Redis 7.2): what the client library calls
/// itself. An empty value clears it.
fn client_setinfo(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (attr, value) = (argv[2], argv[3]);
    let client = &mut *ctx.client;
    let slot = if attr.eq_ignore_ascii_case(b"lib-name") {
        &mut client.lib_name
    } else if attr.eq_ignore_ascii_case(b"lib-ver") {
        &mut client.lib_ver
    } else {
        return Err(errors::unrecognized_option(attr).into());
    };
    if !is_printable_token(value) {
        return Err(errors::client_attr_invalid(attr).into());
    }
    *slot = (!value.is_empty()).then(|| Arc::from(value));
    ctx.out.ok();
    Ok(Done)
}

/// `CLIENT REPLY ON|OFF|SKIP`. The connection loop drops the replies: OFF drops every
/// reply until ON, SKIP the reply of the next command only. ON answers `+OK` (even right
/// after SKIP), OFF and SKIP answer nothing.
fn client_reply(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mode = argv[2];
    if mode.eq_ignore_ascii_case(b"on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if mode.eq_ignore_ascii_case(b"off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if mode.eq_ignore_ascii_case(b"skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(errors::SYNTAX.into());
    }
    Ok(Done)
}

/// `CLIENT NO-EVICT ON|OFF`: recorded and shown in CLIENT LIST; lockstep never evicts
/// clients.
fn client_no_evict(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mode = argv[2];
    if mode.eq_ignore_ascii_case(b"on") {
        ctx.client.no_evict = true;
    } else if mode.eq_ignore_ascii_case(b"off") {
        ctx.client.no_evict = false;
    } else {
        return Err(errors::SYNTAX.into());
    }
    ctx.out.ok();
    Ok(Done)
}

/// `CLIENT GETREDIR`: the client tracking invalidations go to (0: this one), -1 when
/// tracking is off.
fn client_getredir(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let redirect = match ctx.state.tracking.get(ctx.client.id) {
        Some(t) => t.redirect as i64,
        None => -1,
    };
    ctx.out.int(redirect);
    Ok(Done)
}

/// `CLIENT TRACKINGINFO`: flags, redirect and prefixes, as Redis reports them.
fn client_trackinginfo(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let tracker = ctx.state.tracking.get(ctx.client.id);
    let mut flags: Vec<&[u8]> = Vec::new();
    let (redirect, mut prefixes) = match tracker {
        None => {
            flags.push(b"off");
            (-1, Vec::new())
        }
        Some(t) => {
            flags.push(b"on");
            for (on, name) in [
                (t.bcast, &b"bcast"[..]),
                (t.optin, b"optin"),
                (t.optin && t.caching == Some(true), b"caching-yes"),
                (t.optout, b"optout"),
                (t.optout && t.caching == Some(false), b"caching-no"),
                (t.noloop, b"noloop"),
                (t.broken_redirect, b"broken_redirect"),
            ] {
                if on {
                    flags.push(name);
                }
            }
            (t.redirect as i64, t.prefixes.clone())
        }
    };
    prefixes.sort();
    let out = &mut *ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(flags.len());
    for flag in flags {
        out.bulk(flag);
    }
    out.bulk(b"redirect");
    out.int(redirect);
    out.bulk(b"prefixes");
    out.array(prefixes.len());
    for prefix in &prefixes {
        out.bulk(prefix);
    }
    Ok(Done)
}

/// `CLIENT CACHING YES|NO`: whether the next command's keys are tracked, in OPTIN (YES)
/// or OPTOUT (NO) mode.
fn client_caching(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let Some(tracker) = ctx.state.tracking.get_mut(ctx.client.id) else {
        return Err(errors::CLIENT_CACHING_WITHOUT_TRACKING.into());
    };
    if argv[2].eq_ignore_ascii_case(b"yes") {
        if !tracker.optin {
            return Err(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
                    .into(),
            );
        }
        tracker.caching = Some(true);
    } else if argv[2].eq_ignore_ascii_case(b"no") {
        if !tracker.optout {
            return Err(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
                    .into(),
            );
        }
        tracker.caching = Some(false);
    } else {
        return Err(errors::SYNTAX.into());
    }
    ctx.out.ok();
    Ok(Done)
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT]
/// [NOLOOP]`, with Redis's checks in its order.
fn client_tracking(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut new = Tracker::default();
    let mut i = 3;
    while i < argv.len() {
        let more = i + 1 < argv.len();
        let word = argv[i];
        if word.eq_ignore_ascii_case(b"redirect") && more {
            i += 1;
            if new.redirect != 0 {
                return Err("ERR A client can only redirect to a single other client".into());
            }
            let id = parse_i64(argv[i]).ok_or(errors::NOT_INTEGER)?;
            let exists = id == ctx.client.id as i64
                || u64::try_from(id).is_ok_and(|id| ctx.state.clients.contains_key(&id));
            if !exists {
                return Err("ERR The client ID you want redirect to does not exist".into());
            }
            new.redirect = id as u64;
        } else if word.eq_ignore_ascii_case(b"bcast") {
            new.bcast = true;
        } else if word.eq_ignore_ascii_case(b"optin") {
            new.optin = true;
        } else if word.eq_ignore_ascii_case(b"optout") {
            new.optout = true;
        } else if word.eq_ignore_ascii_case(b"noloop") {
            new.noloop = true;
        } else if word.eq_ignore_ascii_case(b"prefix") && more {
            i += 1;
            new.prefixes.push(argv[i].to_vec());
        } else {
            return Err(errors::SYNTAX.into());
        }
        i += 1;
    }
    let id = ctx.client.id;
    if argv[2].eq_ignore_ascii_case(b"off") {
        ctx.state.tracking.disable(id);
        ctx.state.listen();
        ctx.client.tracking = false;
        ctx.out.ok();
        return Ok(Done);
    }
    if !argv[2].eq_ignore_ascii_case(b"on") {
        return Err(errors::SYNTAX.into());
    }
    if !new.bcast && !new.prefixes.is_empty() {
        return Err("ERR PREFIX option requires BCAST mode to be enabled".into());
    }
    let old = ctx.state.tracking.get(id).cloned();
    if let Some(old) = &old {
        if old.bcast != new.bcast {
            return Err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.".into());
        }
    }
    if new.bcast && (new.optin || new.optout) {
        return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
    }
    if new.optin && new.optout {
        return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".into());
    }
    if let Some(old) = &old {
        if (new.optin && old.optout) || (new.optout && old.optin) {
            return Err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.".into());
        }
    }
    if new.bcast {
        let existing = old.as_ref().map(|o| o.prefixes.as_slice()).unwrap_or(&[]);
        for (n, prefix) in new.prefixes.iter().enumerate() {
            if let Some(other) = Tracking::colliding_prefix(existing, prefix) {
                return Err(prefix_overlap(prefix, "an existing", other));
            }
            if let Some(other) = Tracking::colliding_prefix(&new.prefixes[n + 1..], prefix) {
                return Err(prefix_overlap(prefix, "another provided", other));
            }
        }
        // Prefixes add up over repeated CLIENT TRACKING ON; none means every key.
        let mut prefixes = old.map(|o| o.prefixes).unwrap_or_default();
        if new.prefixes.is_empty() {
            new.prefixes.push(Vec::new());
        }
        for prefix in std::mem::take(&mut new.prefixes) {
            if !prefixes.contains(&prefix) {
                prefixes.push(prefix);
            }
        }
        new.prefixes = prefixes;
    }
    ctx.state.tracking.enable(id, new);
    ctx.client.tracking = true;
    ctx.state.listen();
    ctx.out.ok();
    Ok(Done)
}

fn prefix_overlap(prefix: &[u8], which: &str, other: &[u8]) -> CommandError {
    format!(
        "ERR Prefix '{}' overlaps with {which} prefix '{}'. Prefixes for a single client must not overlap.",
        String::from_utf8_lossy(prefix),
        String::from_utf8_lossy(other)
    )
    .into()
}

/// `CLIENT UNBLOCK client-id [TIMEOUT|ERROR]`: how many clients were unblocked.
fn client_unblock(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() > 4 {
        return Err(errors::subcommand_syntax(argv[0], argv[1]).into());
    }
    if let Some(reason) = argv.get(3) {
        if !reason.eq_ignore_ascii_case(b"timeout") && !reason.eq_ignore_ascii_case(b"error") {
            return Err(errors::UNBLOCK_REASON.into());
        }
    }
    let id = parse_i64(argv[2]).ok_or(errors::NOT_INTEGER)?;
    let with_error = argv
        .get(3)
        .is_some_and(|r| r.eq_ignore_ascii_case(b"error"));
    // A client waits in `State::blocked`; its reply is written there and its connection
    // woken to take it.
    let unblocked = u64::try_from(id).is_ok_and(|id| {
        crate::dispatch::unblock(ctx.state, id, |reply| {
            if with_error {
                reply.error(errors::UNBLOCKED);
            } else {
                reply.null_array();
            }
        })
    });
    ctx.out.int(unblocked as i64);
    Ok(Done)
}

/// `CLIENT PAUSE timeout [WRITE|ALL]`: for `timeout` ms, the connection loop holds back
/// every command (ALL, the default) or those that write (WRITE), this connection's own
/// included. A pause already in force is only ever extended, and WRITE widened to ALL.
fn client_pause(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() > 4 {
        return Err(errors::subcommand_syntax(argv[0], argv[1]).into());
    }
    let mut writes_only = false;
    if let Some(mode) = argv.get(3) {
        if mode.eq_ignore_ascii_case(b"write") {
            writes_only = true;
        } else if !mode.eq_ignore_ascii_case(b"all") {
            return Err(errors::PAUSE_MODE.into());
        }
    }
    let ms = parse_i64(argv[2]).ok_or(errors::TIMEOUT_NOT_INTEGER)?;
    if ms < 0 {
        return Err(errors::TIMEOUT_NEGATIVE.into());
    }
    if ms > i64::MAX - ctx.now {
        // Redis 7.0 adds the time without checking: the end wraps into the past and the
        // pause is over before it starts.
        ctx.out.ok();
        return Ok(Done);
    }
    // Past any real deadline: wait "forever" (until CLIENT UNPAUSE).
    let wait = Duration::from_millis(ms as u64).min(Duration::from_secs(100 * 365 * 86400));
    let now = Instant::now();
    let until = now + wait;
    ctx.state.pause = Some(match ctx.state.pause.filter(|p| p.until > now) {
        None => ClientPause { until, writes_only },
        Some(p) => ClientPause {
            until: p.until.max(until),
            writes_only: p.writes_only && writes_only,
        },
    });
    ctx.out.ok();
    Ok(Done)
}

/// `CLIENT UNPAUSE`: ends the pause and wakes the connections that wait on it.
fn client_unpause(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    if ctx.state.pause.take().is_some() {
        for entry in ctx.state.clients.values() {
            entry.wake.notify_one();
        }
    }
    ctx.out.ok();
    Ok(Done)
}

const CLIENT_HELP: &[&str] = &[
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
];

/// `CLIENT HELP`: Redis 7.0.15's text, line for line.
fn client_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    super::help(ctx, "CLIENT", CLIENT_HELP);
    Ok(Done)
}

/// Client kinds, as CLIENT LIST TYPE and CLIENT KILL TYPE name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    PubSub,
    Master,
}

/// A client type by name, or Redis's error for an unknown one.
fn parse_client_type(name: &[u8]) -> Result<ClientType, CommandError> {
    client_type_by_name(name).ok_or_else(|| errors::unknown_client_type(name).into())
}

fn client_type_by_name(name: &[u8]) -> Option<ClientType> {
    let kinds: [(&[u8], ClientType); 5] = [
        (b"normal", ClientType::Normal),
        (b"slave", ClientType::Replica),
        (b"replica", ClientType::Replica),
        (b"pubsub", ClientType::PubSub),
        (b"master", ClientType::Master),
    ];
    kinds
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, t)| t)
}

/// A replica fed the replication stream is `replica`; every other connection is `normal`
/// (pub/sub clients are not told apart yet).
fn client_type(client: &Client) -> ClientType {
    if client.replica {
        return ClientType::Replica;
    }
    ClientType::Normal
}

/// What only the running command knows about its own connection, for its CLIENT LIST line.
struct Live {
    /// Bytes of the running command's arguments (`argv-mem`).
    argv_mem: usize,
    argc: usize,
    /// Replies produced since the last write (`obl`).
    pending_output: usize,
    cmd: &'static str,
}

impl Live {
    fn of(ctx: &Ctx, argv: &[&[u8]]) -> Live {
        Live {
            argv_mem: argv.iter().map(|a| a.len()).sum(),
            argc: argv.len(),
            pending_output: ctx.out.len(),
            // Inside EXEC, the EXEC (Redis shows the command the client sent).
            cmd: ctx.client.last_cmd,
        }
    }
}

use crate::client_eviction::{CLIENT_STRUCT_MEM, REPLY_BUFFER_SIZE};

/// One CLIENT LIST line (without its newline), with Redis 7.0.15's fields in its order.
/// Sizes Redis measures in its own allocator are given in the same terms from ours, so
/// they are plausible rather than equal.
fn write_client_line(
    out: &mut Vec<u8>,
    c: &Client,
    live: Option<&Live>,
    tx: multi::Summary,
    tracking: Option<&Tracker>,
    buffered: usize,
    now: Instant,
) {
    let age = now.saturating_duration_since(c.created).as_secs();
    let idle = match live {
        Some(_) => 0,
        None => now.saturating_duration_since(c.last_active).as_secs(),
    };
    // Redis's letters, in its order.
    let mut flags = String::new();
    for (on, letter) in [
        (c.replica, 'S'),
        (super::pubsub::subscribed(c), 'P'),
        (c.in_multi, 'x'),
        (c.blocked, 'b'),
        (tracking.is_some(), 't'),
        (tracking.is_some_and(|t| t.broken_redirect), 'R'),
        (tracking.is_some_and(|t| t.bcast), 'B'),
        (tx.dirty, 'd'),
        (c.readonly, 'r'),
        (c.no_evict, 'e'),
    ] {
        if on {
            flags.push(letter);
        }
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let (argv_mem, argc, obl, cmd) = match live {
        Some(l) => (l.argv_mem, l.argc, l.pending_output, l.cmd),
        None => (0, 0, 0, c.last_cmd),
    };
    let tot_mem = c.query_buf
        + c.query_buf_free
        + argv_mem
        + argc * std::mem::size_of::<usize>()
        + tx.mem
        + buffered
        + REPLY_BUFFER_SIZE
        + CLIENT_STRUCT_MEM;
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "id={} addr={} laddr={} fd={} name=",
        c.id, c.addr, c.laddr, c.fd
    );
    if let Some(name) = &c.name {
        out.extend_from_slice(name);
    }
    let _ = write!(
        out,
        " age={age} idle={idle} flags={flags} db={} sub={} psub={} ssub={} multi={} \
         qbuf={} qbuf-free={} argv-mem={argv_mem} multi-mem={} rbs={REPLY_BUFFER_SIZE} \
         rbp={obl} obl={obl} oll=0 omem=0 tot-mem={tot_mem} events=r cmd={cmd} \
         user={} redir={} resp={}",
        c.db,
        c.subscriptions[0],
        c.subscriptions[1],
        c.subscriptions[2],
        tx.queued,
        c.query_buf,
        c.query_buf_free,
        tx.mem,
        String::from_utf8_lossy(c.user.as_deref().unwrap_or(b"default")),
        tracking.map_or(-1, |t| t.redirect as i64),
        c.resp
    );
}

/// A client's CLIENT LIST line as of now, for the ACL log's `client-info`.
pub(crate) fn info_line(state: &crate::state::State, c: &Client) -> Vec<u8> {
    let mut text = Vec::with_capacity(320);
    let tx = multi::summary(state, c);
    let tracking = state.tracking.get(c.id);
    write_client_line(&mut text, c, None, tx, tracking, 0, Instant::now());
    text
}

/// `CLIENT INFO`: this connection's CLIENT LIST line.
fn client_info(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let live = Live::of(ctx, argv);
    let mut text = Vec::with_capacity(320);
    let tx = multi::summary(ctx.state, ctx.client);
    let tracking = ctx.state.tracking.get(ctx.client.id);
    let buffered = live.pending_output;
    write_client_line(
        &mut text,
        ctx.client,
        Some(&live),
        tx,
        tracking,
        buffered,
        Instant::now(),
    );
    text.push(b'\n');
    ctx.out.verbatim(&text);
    Ok(Done)
}

/// `CLIENT LIST [TYPE type | ID id [id ...]]`: one line per connection, oldest first.
fn client_list(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut kind = None;
    let mut ids = None;
    if argv.len() == 4 && argv[2].eq_ignore_ascii_case(b"type") {
        kind = Some(parse_client_type(argv[3])?);
    } else if argv.len() > 3 && argv[2].eq_ignore_ascii_case(b"id") {
        let wanted = argv[3..]
            .iter()
            .map(|arg| parse_i64(arg).ok_or(errors::INVALID_CLIENT_ID))
            .collect::<Result<Vec<i64>, _>>()?;
        ids = Some(wanted);
    } else if argv.len() != 2 {
        return Err(errors::SYNTAX.into());
    }

    let live = Live::of(ctx, argv);
    let now = Instant::now();
    let me = &*ctx.client;
    let state = &*ctx.state;
    let mut text = Vec::new();
    let mut line = |c: &Client| {
        let live = (c.id == me.id).then_some(&live);
        let tracking = state.tracking.get(c.id);
        // Replies not written yet and what others pushed to it, as client eviction
        // counts them (`tot-mem`).
        let buffered = match live {
            Some(l) => l.pending_output,
            None => state.clients.get(&c.id).map_or(0, |e| {
                e.buffers.output.load(std::sync::atomic::Ordering::Relaxed) + e.pushed.capacity()
            }),
        };
        let summary = multi::summary(state, c);
        write_client_line(&mut text, c, live, summary, tracking, buffered, now);
        text.push(b'\n');
    };
    // The registry's copy of this connection is as of its previous batch: use the live one.
    let lookup = |id: u64| -> Option<&Client> {
        if id == me.id {
            return Some(me);
        }
        ctx.state
            .clients
            .get(&id)
            .filter(|e| !e.killed)
            .map(|e| &e.client)
    };
    match ids {
        // Listed in the order asked, repeats included, as Redis does.
        Some(ids) => {
            for id in ids {
                if let Some(c) = u64::try_from(id).ok().and_then(lookup) {
                    line(c);
                }
            }
        }
        None => {
            for (&id, entry) in &ctx.state.clients {
                if entry.killed {
                    continue;
                }
                let c = if id == me.id { me } else { &entry.client };
                if kind.is_none_or(|k| client_type(c) == k) {
                    line(c);
                }
            }
        }
    }
    ctx.out.verbatim(&text);
    Ok(Done)
}

/// Which connections a CLIENT KILL names; every filter given must match.
#[derive(Default)]
struct KillFilter<'a> {
    addr: Option<&'a [u8]>,
    laddr: Option<&'a [u8]>,
    kind: Option<ClientType>,
    id: Option<u64>,
    user: Option<&'a [u8]>,
    skip_me: bool,
}

impl<'a> KillFilter<'a> {
    /// The filter that CLIENT KILL's arguments describe: the old form's address, or the
    /// option/value pairs, each checked as it is read (the first bad one answers).
    fn parse(argv: &'a [&'a [u8]], acl: &crate::acl::Acl) -> Result<KillFilter<'a>, CommandError> {
        if argv.len() == 3 {
            return Ok(KillFilter {
                addr: Some(argv[2]),
                ..KillFilter::default()
            });
        }
        let mut filter = KillFilter {
            skip_me: true,
            ..KillFilter::default()
        };
        let mut args = Args::new(argv, 2);
        while !args.is_empty() {
            let opt = args.next()?;
            let value = args.next()?;
            if opt.eq_ignore_ascii_case(b"id") {
                match parse_i64(value) {
                    Some(id) if id >= 1 => filter.id = Some(id as u64),
                    _ => return Err(errors::CLIENT_ID_NOT_POSITIVE.into()),
                }
            } else if opt.eq_ignore_ascii_case(b"type") {
                filter.kind = Some(parse_client_type(value)?);
            } else if opt.eq_ignore_ascii_case(b"addr") {
                filter.addr = Some(value);
            } else if opt.eq_ignore_ascii_case(b"laddr") {
                filter.laddr = Some(value);
            } else if opt.eq_ignore_ascii_case(b"user") {
                if acl.user(value).is_none() {
                    return Err(errors::no_such_user(value).into());
                }
                filter.user = Some(value);
            } else if opt.eq_ignore_ascii_case(b"skipme") {
                if value.eq_ignore_ascii_case(b"yes") {
                    filter.skip_me = true;
                } else if value.eq_ignore_ascii_case(b"no") {
                    filter.skip_me = false;
                } else {
                    return Err(errors::SYNTAX.into());
                }
            } else {
                return Err(errors::SYNTAX.into());
            }
        }
        Ok(filter)
    }

    fn matches(&self, c: &Client, me: u64, scratch: &mut Vec<u8>) -> bool {
        let same_addr = |want: &[u8], addr: &std::net::SocketAddr, scratch: &mut Vec<u8>| {
            scratch.clear();
            let _ = write!(scratch, "{addr}");
            // Redis compares with strcmp: the argument ends at a NUL.
            errors::c_string(want) == scratch.as_slice()
        };
        !(self.addr.is_some_and(|a| !same_addr(a, &c.addr, scratch))
            || self.laddr.is_some_and(|a| !same_addr(a, &c.laddr, scratch))
            || self.kind.is_some_and(|k| client_type(c) != k)
            || self.id.is_some_and(|id| c.id != id)
            || self
                .user
                .is_some_and(|u| u != c.user.as_deref().unwrap_or(b"default"))
            || (self.skip_me && c.id == me))
    }
}

/// `CLIENT KILL ip:port` (the old form: `+OK`, or an error when nobody matched; it may kill
/// the caller) or `CLIENT KILL [ID id] [TYPE type] [ADDR ip:port] [LADDR ip:port]
/// [USER name] [SKIPME yes|no]` (the number killed; the caller is spared unless
/// `SKIPME no`). The caller, when killed, gets its reply before the connection closes.
fn client_kill(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let old_form = argv.len() == 3;
    let filter = KillFilter::parse(argv, &ctx.state.acl)?;

    let me = ctx.client.id;
    let mut scratch = Vec::with_capacity(48);
    let mut killed = 0;
    let mut kill_me = false;
    for (&id, entry) in ctx.state.clients.iter_mut() {
        if entry.killed {
            continue;
        }
        let c = if id == me {
            &*ctx.client
        } else {
            &entry.client
        };
        if !filter.matches(c, me, &mut scratch) {
            continue;
        }
        if id == me {
            kill_me = true;
        } else {
            entry.killed = true;
            entry.wake.notify_one();
        }
        killed += 1;
    }
    if kill_me {
        ctx.client.close_after_reply = true;
    }
    if !old_form {
        ctx.out.int(killed);
    } else if killed == 0 {
        return Err(errors::NO_SUCH_CLIENT.into());
    } else {
        ctx.out.ok();
    }
    Ok(Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::for_tests(7)
    }

    #[test]
    fn client_list_line_has_redis_7_0_fields_in_order() {
        let mut line = Vec::new();
        write_client_line(
            &mut line,
            &client(),
            None,
            Default::default(),
            None,
            0,
            Instant::now(),
        );
        let line = String::from_utf8(line).expect("text");
        let keys: Vec<&str> = line
            .split(' ')
            .map(|f| f.split_once('=').map_or(f, |(k, _)| k))
            .collect();
        assert_eq!(
            keys.join(" "),
            "id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free \
             argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp"
        );
        assert!(line.starts_with("id=7 addr=127.0.0.1:50000 laddr=127.0.0.1:6379 fd=-1 name= "));
        assert!(line.ends_with(" cmd=NULL user=default redir=-1 resp=2"));
    }

    #[test]
    fn ipv6_addresses_are_bracketed_as_redis_prints_them() {
        let mut c = client();
        c.addr = "[::1]:50000".parse().expect("addr");
        let mut line = Vec::new();
        write_client_line(
            &mut line,
            &c,
            None,
            Default::default(),
            None,
            0,
            Instant::now(),
        );
        assert!(line.starts_with(b"id=7 addr=[::1]:50000 "));
    }

    #[test]
    fn client_types_are_named_as_redis_names_them() {
        assert_eq!(client_type_by_name(b"NORMAL"), Some(ClientType::Normal));
        assert_eq!(client_type_by_name(b"slave"), Some(ClientType::Replica));
        assert_eq!(client_type_by_name(b"replica"), Some(ClientType::Replica));
        assert_eq!(client_type_by_name(b"PubSub"), Some(ClientType::PubSub));
        assert_eq!(client_type_by_name(b"master"), Some(ClientType::Master));
        assert_eq!(client_type_by_name(b"monitor"), None);
    }
}
