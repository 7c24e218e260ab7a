//! The CLIENT container: the connection's name and library, its ID and CLIENT INFO line,
//! CLIENT LIST and KILL over every connection, PAUSE/UNPAUSE, REPLY, UNBLOCK, NO-EVICT and
//! the client-side-caching subcommands, answered as a server without tracking does.
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
use crate::command::{legacy, Ctx, Entry};
use crate::errors;
use crate::state::{Client, ClientPause, ReplyMode};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    legacy("client", client_container),
    legacy("client|caching", client_caching),
    legacy("client|getname", client_getname),
    legacy("client|getredir", client_getredir),
    legacy("client|help", client_help),
    legacy("client|id", client_id),
    legacy("client|info", client_info),
    legacy("client|kill", client_kill),
    legacy("client|list", client_list),
    legacy("client|no-evict", client_no_evict),
    legacy("client|pause", client_pause),
    legacy("client|reply", client_reply),
    legacy("client|setinfo", client_setinfo),
    legacy("client|setname", client_setname),
    legacy("client|trackinginfo", client_trackinginfo),
    legacy("client|unpause", client_unpause),
    legacy("client|unblock", client_unblock),
];

/// `CLIENT` alone: the arity check answers first, so this only runs for a table error.
fn client_container(ctx: &mut Ctx, argv: &[&[u8]]) {
    let sub = argv.get(1).copied().unwrap_or_default();
    ctx.out
        .error_bytes(&errors::unknown_subcommand(argv[0], sub));
}

/// `CLIENT ID`.
fn client_id(ctx: &mut Ctx, _argv: &[&[u8]]) {
    ctx.out.int(ctx.client.id as i64);
}

/// `CLIENT GETNAME`: the name, or null.
fn client_getname(ctx: &mut Ctx, _argv: &[&[u8]]) {
    match &ctx.client.name {
        Some(name) => ctx.out.bulk(name),
        None => ctx.out.null(),
    }
}

/// `CLIENT SETNAME name`.
fn client_setname(ctx: &mut Ctx, argv: &[&[u8]]) {
    if set_name(ctx.client, argv[2]) {
        ctx.out.ok();
    } else {
        ctx.out.error(errors::CLIENT_NAME_INVALID);
    }
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value` (Redis 7.2): what the client library calls
/// itself. An empty value clears it.
fn client_setinfo(ctx: &mut Ctx, argv: &[&[u8]]) {
    let (attr, value) = (argv[2], argv[3]);
    let client = &mut *ctx.client;
    let slot = if attr.eq_ignore_ascii_case(b"lib-name") {
        &mut client.lib_name
    } else if attr.eq_ignore_ascii_case(b"lib-ver") {
        &mut client.lib_ver
    } else {
        return ctx.out.error_bytes(&errors::unrecognized_option(attr));
    };
    if !is_printable_token(value) {
        return ctx.out.error_bytes(&errors::client_attr_invalid(attr));
    }
    *slot = (!value.is_empty()).then(|| Arc::from(value));
    ctx.out.ok();
}

/// `CLIENT REPLY ON|OFF|SKIP`. The connection loop drops the replies: OFF drops every
/// reply until ON, SKIP the reply of the next command only. ON answers `+OK` (even right
/// after SKIP), OFF and SKIP answer nothing.
fn client_reply(ctx: &mut Ctx, argv: &[&[u8]]) {
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
        ctx.out.error(errors::SYNTAX);
    }
}

/// `CLIENT NO-EVICT ON|OFF`: recorded and shown in CLIENT LIST; lockstep never evicts
/// clients.
fn client_no_evict(ctx: &mut Ctx, argv: &[&[u8]]) {
    let mode = argv[2];
    if mode.eq_ignore_ascii_case(b"on") {
        ctx.client.no_evict = true;
    } else if mode.eq_ignore_ascii_case(b"off") {
        ctx.client.no_evict = false;
    } else {
        return ctx.out.error(errors::SYNTAX);
    }
    ctx.out.ok();
}

/// `CLIENT GETREDIR`: -1, tracking is never on.
fn client_getredir(ctx: &mut Ctx, _argv: &[&[u8]]) {
    ctx.out.int(-1);
}

/// `CLIENT TRACKINGINFO`: tracking is off.
fn client_trackinginfo(ctx: &mut Ctx, _argv: &[&[u8]]) {
    let out = &mut *ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(1);
    out.bulk(b"off");
    out.bulk(b"redirect");
    out.int(-1);
    out.bulk(b"prefixes");
    out.array(0);
}

/// `CLIENT CACHING YES|NO`: only valid in OPTIN/OPTOUT tracking mode, which lockstep does
/// not offer.
fn client_caching(ctx: &mut Ctx, _argv: &[&[u8]]) {
    ctx.out.error(errors::CLIENT_CACHING_WITHOUT_TRACKING);
}

/// `CLIENT UNBLOCK client-id [TIMEOUT|ERROR]`: how many clients were unblocked.
fn client_unblock(ctx: &mut Ctx, argv: &[&[u8]]) {
    if argv.len() > 4 {
        return ctx
            .out
            .error_bytes(&errors::subcommand_syntax(argv[0], argv[1]));
    }
    if let Some(reason) = argv.get(3) {
        if !reason.eq_ignore_ascii_case(b"timeout") && !reason.eq_ignore_ascii_case(b"error") {
            return ctx.out.error(errors::UNBLOCK_REASON);
        }
    }
    let Some(id) = parse_i64(argv[2]) else {
        return ctx.out.error(errors::NOT_INTEGER);
    };
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
}

/// `CLIENT PAUSE timeout [WRITE|ALL]`: for `timeout` ms, the connection loop holds back
/// every command (ALL, the default) or those that write (WRITE), this connection's own
/// included. A pause already in force is only ever extended, and WRITE widened to ALL.
fn client_pause(ctx: &mut Ctx, argv: &[&[u8]]) {
    if argv.len() > 4 {
        return ctx
            .out
            .error_bytes(&errors::subcommand_syntax(argv[0], argv[1]));
    }
    let mut writes_only = false;
    if let Some(mode) = argv.get(3) {
        if mode.eq_ignore_ascii_case(b"write") {
            writes_only = true;
        } else if !mode.eq_ignore_ascii_case(b"all") {
            return ctx.out.error(errors::PAUSE_MODE);
        }
    }
    let Some(ms) = parse_i64(argv[2]) else {
        return ctx.out.error(errors::TIMEOUT_NOT_INTEGER);
    };
    if ms < 0 {
        return ctx.out.error(errors::TIMEOUT_NEGATIVE);
    }
    if ms > i64::MAX - ctx.now {
        // Redis 7.0 adds the time without checking: the end wraps into the past and the
        // pause is over before it starts.
        return ctx.out.ok();
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
}

/// `CLIENT UNPAUSE`: ends the pause and wakes the connections that wait on it.
fn client_unpause(ctx: &mut Ctx, _argv: &[&[u8]]) {
    if ctx.state.pause.take().is_some() {
        for entry in ctx.state.clients.values() {
            entry.wake.notify_one();
        }
    }
    ctx.out.ok();
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
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
    "HELP",
    "    Prints this help.",
];

/// `CLIENT HELP`: Redis 7.0.15's text, line for line.
fn client_help(ctx: &mut Ctx, _argv: &[&[u8]]) {
    ctx.out.array(CLIENT_HELP.len());
    for line in CLIENT_HELP {
        ctx.out.simple(line);
    }
}

/// Client kinds, as CLIENT LIST TYPE and CLIENT KILL TYPE name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    PubSub,
    Master,
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

/// Every connection is a normal one until pub/sub and replication exist.
fn client_type(_client: &Client) -> ClientType {
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
            cmd: ctx.cmd.full_name,
        }
    }
}

/// The reply buffer's size (`rbs`): lockstep's, which is also the one Redis starts with.
const REPLY_BUFFER_SIZE: usize = 16 * 1024;
/// What Redis counts for a client's own structures in `tot-mem`, beyond its buffers.
const CLIENT_STRUCT_MEM: usize = 774;

/// One CLIENT LIST line (without its newline), with Redis 7.0.15's fields in its order.
/// Sizes Redis measures in its own allocator are given in the same terms from ours, so
/// they are plausible rather than equal.
fn write_client_line(out: &mut Vec<u8>, c: &Client, live: Option<&Live>, now: Instant) {
    let age = now.saturating_duration_since(c.created).as_secs();
    let idle = match live {
        Some(_) => 0,
        None => now.saturating_duration_since(c.last_active).as_secs(),
    };
    let flags = match (c.blocked, c.no_evict) {
        (true, true) => "be",
        (true, false) => "b",
        (false, true) => "e",
        (false, false) => "N",
    };
    let (argv_mem, argc, obl, cmd) = match live {
        Some(l) => (l.argv_mem, l.argc, l.pending_output, l.cmd),
        None => (0, 0, 0, c.last_cmd),
    };
    let tot_mem = c.query_buf
        + c.query_buf_free
        + argv_mem
        + argc * std::mem::size_of::<usize>()
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
        " age={age} idle={idle} flags={flags} db={} sub=0 psub=0 ssub=0 multi=-1 \
         qbuf={} qbuf-free={} argv-mem={argv_mem} multi-mem=0 rbs={REPLY_BUFFER_SIZE} \
         rbp={obl} obl={obl} oll=0 omem=0 tot-mem={tot_mem} events=r cmd={cmd} \
         user=default redir=-1 resp={}",
        c.db, c.query_buf, c.query_buf_free, c.resp
    );
}

/// `CLIENT INFO`: this connection's CLIENT LIST line.
fn client_info(ctx: &mut Ctx, argv: &[&[u8]]) {
    let live = Live::of(ctx, argv);
    let mut text = Vec::with_capacity(320);
    write_client_line(&mut text, ctx.client, Some(&live), Instant::now());
    text.push(b'\n');
    ctx.out.verbatim(&text);
}

/// `CLIENT LIST [TYPE type | ID id [id ...]]`: one line per connection, oldest first.
fn client_list(ctx: &mut Ctx, argv: &[&[u8]]) {
    let mut kind = None;
    let mut ids = None;
    if argv.len() == 4 && argv[2].eq_ignore_ascii_case(b"type") {
        match client_type_by_name(argv[3]) {
            Some(t) => kind = Some(t),
            None => return ctx.out.error_bytes(&errors::unknown_client_type(argv[3])),
        }
    } else if argv.len() > 3 && argv[2].eq_ignore_ascii_case(b"id") {
        let mut wanted = Vec::with_capacity(argv.len() - 3);
        for arg in &argv[3..] {
            match parse_i64(arg) {
                Some(id) => wanted.push(id),
                None => return ctx.out.error(errors::INVALID_CLIENT_ID),
            }
        }
        ids = Some(wanted);
    } else if argv.len() != 2 {
        return ctx.out.error(errors::SYNTAX);
    }

    let live = Live::of(ctx, argv);
    let now = Instant::now();
    let me = &*ctx.client;
    let mut text = Vec::new();
    let mut line = |c: &Client| {
        let live = (c.id == me.id).then_some(&live);
        write_client_line(&mut text, c, live, now);
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
}

/// Which connections a CLIENT KILL names; every filter given must match.
#[derive(Default)]
struct KillFilter<'a> {
    addr: Option<&'a [u8]>,
    laddr: Option<&'a [u8]>,
    kind: Option<ClientType>,
    id: Option<u64>,
    skip_me: bool,
}

impl KillFilter<'_> {
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
            || (self.skip_me && c.id == me))
    }
}

/// `CLIENT KILL ip:port` (the old form: `+OK`, or an error when nobody matched; it may kill
/// the caller) or `CLIENT KILL [ID id] [TYPE type] [ADDR ip:port] [LADDR ip:port]
/// [USER name] [SKIPME yes|no]` (the number killed; the caller is spared unless
/// `SKIPME no`). The caller, when killed, gets its reply before the connection closes.
fn client_kill(ctx: &mut Ctx, argv: &[&[u8]]) {
    let old_form = argv.len() == 3;
    let mut filter = KillFilter {
        skip_me: !old_form,
        ..KillFilter::default()
    };
    if old_form {
        filter.addr = Some(argv[2]);
    } else {
        let mut i = 2;
        while i < argv.len() {
            let (opt, value) = (argv[i], argv.get(i + 1).copied());
            let Some(value) = value else {
                return ctx.out.error(errors::SYNTAX);
            };
            if opt.eq_ignore_ascii_case(b"id") {
                match parse_i64(value) {
                    Some(id) if id >= 1 => filter.id = Some(id as u64),
                    _ => return ctx.out.error(errors::CLIENT_ID_NOT_POSITIVE),
                }
            } else if opt.eq_ignore_ascii_case(b"type") {
                match client_type_by_name(value) {
                    Some(t) => filter.kind = Some(t),
                    None => return ctx.out.error_bytes(&errors::unknown_client_type(value)),
                }
            } else if opt.eq_ignore_ascii_case(b"addr") {
                filter.addr = Some(value);
            } else if opt.eq_ignore_ascii_case(b"laddr") {
                filter.laddr = Some(value);
            } else if opt.eq_ignore_ascii_case(b"user") {
                // Without ACLs, `default` is the only user, and every connection's.
                if value != b"default" {
                    return ctx.out.error_bytes(&errors::no_such_user(value));
                }
            } else if opt.eq_ignore_ascii_case(b"skipme") {
                if value.eq_ignore_ascii_case(b"yes") {
                    filter.skip_me = true;
                } else if value.eq_ignore_ascii_case(b"no") {
                    filter.skip_me = false;
                } else {
                    return ctx.out.error(errors::SYNTAX);
                }
            } else {
                return ctx.out.error(errors::SYNTAX);
            }
            i += 2;
        }
    }

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
        ctx.out.error(errors::NO_SUCH_CLIENT);
    } else {
        ctx.out.ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 50000));
        let laddr = std::net::SocketAddr::from(([127, 0, 0, 1], 6379));
        Client::new(7, addr, laddr, true)
    }

    #[test]
    fn client_list_line_has_redis_7_0_fields_in_order() {
        let mut line = Vec::new();
        write_client_line(&mut line, &client(), None, Instant::now());
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
        write_client_line(&mut line, &c, None, Instant::now());
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
