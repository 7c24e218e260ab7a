//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET and MONITOR (the
//! CLIENT container is `client.rs`).
//!
//! They read and change the connection's own state (`Client`: protocol, database, name,
//! authentication, reply mode). They never touch a socket: QUIT sets `close_after_reply`,
//! and the connection loop does the closing once the replies are written.

use std::sync::Arc;

use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::errors;
use crate::reply::Protocol;
use crate::state::{Client, ReplyMode, State};
use crate::util::parse_i64;

/// What HELLO reports as `version`: clients feature-detect on it.
pub const REDIS_VERSION: &str = "7.0.15";

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("ping", ping),
    handler("monitor", monitor),
    handler("echo", echo),
    handler("hello", hello),
    handler("auth", auth),
    handler("select", select),
    handler("quit", quit),
    handler("reset", reset),
];

/// `PING [message]`: `+PONG`, or the message as a bulk string.
fn ping(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    // A RESP2 subscriber gets its answer in the shape of a message.
    if ctx.client.resp == 2 && super::pubsub::subscribed(ctx.client) && argv.len() <= 2 {
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(argv.get(1).copied().unwrap_or_default());
        return Ok(Done);
    }
    match argv.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(argv[1]),
        _ => return Err(errors::wrong_arity("ping").into()),
    }
    Ok(Done)
}

/// `ECHO message`: the message.
fn echo(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    ctx.out.bulk(argv[1]);
    Ok(Done)
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`: switches protocol and
/// answers with the server's description.
///
/// Redis 7.0 applies the options one by one as it reads them, so a name can be set, or
/// the client authenticated, by a HELLO that then fails on a later option; the protocol
/// only changes when the whole command succeeds.
fn hello(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut version = None;
    if argv.len() >= 2 {
        match parse_i64(argv[1]) {
            None => return Err(errors::PROTOCOL_VERSION_NOT_INTEGER.into()),
            Some(v @ 2..=3) => version = Some(v),
            Some(_) => return Err(errors::NO_PROTO.into()),
        }
    }
    let mut j = 2;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv[j];
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            if !authenticate(ctx.state, ctx.client, argv[j + 1], argv[j + 2], argv[0]) {
                return Err(errors::WRONGPASS.into());
            }
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            if !set_name(ctx.client, argv[j + 1]) {
                return Err(errors::CLIENT_NAME_INVALID.into());
            }
            j += 2;
        } else {
            return Err(errors::hello_syntax(opt).into());
        }
    }
    if !ctx.client.authenticated {
        return Err(errors::HELLO_NOAUTH.into());
    }
    if let Some(v) = version {
        set_protocol(ctx, v == 3);
    }
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(ctx.client.resp as i64);
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(if ctx.state.cluster.is_some() {
        b"cluster".as_slice()
    } else {
        b"standalone"
    });
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(Done)
}

/// `AUTH [username] password`: authenticates as any enabled user whose password matches
/// (or that has `nopass`). The one-argument form is the default user's, and an error
/// while that user needs no password, as in Redis, to catch a misconfigured client.
fn auth(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len() > 3 {
        return Err(errors::SYNTAX.into());
    }
    crate::acl::sync_requirepass(ctx.state);
    let (user, pass): (&[u8], &[u8]) = if argv.len() == 2 {
        if ctx.state.acl.default.nopass {
            return Err(errors::AUTH_NOT_CONFIGURED.into());
        }
        (b"default", argv[1])
    } else {
        (argv[1], argv[2])
    };
    if !authenticate(ctx.state, ctx.client, user, pass, argv[0]) {
        return Err(errors::WRONGPASS.into());
    }
    ctx.out.ok();
    Ok(Done)
}

/// `Some` when a new connection starts unauthenticated: the default user needs a
/// password (`requirepass`, or ACL rules) or is off. The bytes are not the password:
/// users keep only hashes.
pub fn password(state: &State) -> Option<&[u8]> {
    crate::acl::default_needs_auth(state).then_some(b"".as_slice())
}

/// Checks a username/password pair and, when it is good, authenticates the client as that
/// user. A bad pair leaves the client as it was (still authenticated if it was) and is
/// written to the ACL log.
fn authenticate(
    state: &mut State,
    client: &mut Client,
    user: &[u8],
    pass: &[u8],
    cmd_name: &[u8],
) -> bool {
    crate::acl::authenticate(state, client, user, pass, cmd_name)
}

/// `SELECT index`.
fn select(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let id = parse_i64(argv[1]).ok_or(errors::NOT_INTEGER)?;
    if i32::try_from(id).is_err() {
        return Err(errors::NOT_INT32.into());
    }
    if ctx.state.cluster.is_some() && id != 0 {
        return Err(errors::SELECT_IN_CLUSTER.into());
    }
    if id < 0 || id as usize >= ctx.state.dbs.len() {
        return Err(errors::DB_INDEX_OUT_OF_RANGE.into());
    }
    ctx.client.db = id as usize;
    ctx.out.ok();
    Ok(Done)
}

/// `QUIT`: `+OK`, then the connection closes (whatever else was pipelined after it is not
/// run).
fn quit(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    Ok(Done)
}

/// `RESET`: the connection as it was when it connected: database 0, RESP2, no name,
/// authenticated only if no password is set, replies on (a pending `CLIENT REPLY SKIP`
/// still swallows this reply, as in Redis), out of MULTI and watching nothing. Redis 7.0
/// keeps NO-EVICT, and so does this.
fn reset(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    crate::multi::discard(ctx.state, ctx.client);
    super::pubsub::leave_all(ctx);
    ctx.state.tracking.disable(ctx.client.id);
    ctx.state.listen();
    ctx.client.tracking = false;
    set_protocol(ctx, false);
    crate::acl::sync_requirepass(ctx.state);
    let authenticated = !ctx.state.acl.default_needs_auth();
    let client = &mut *ctx.client;
    client.user = None;
    client.db = 0;
    client.name = None;
    client.authenticated = authenticated;
    if matches!(client.reply_mode, ReplyMode::Off | ReplyMode::SkipNext) {
        client.reply_mode = ReplyMode::On;
    }
    ctx.out.simple("RESET");
    Ok(Done)
}

fn set_protocol(ctx: &mut Ctx, resp3: bool) {
    ctx.out.protocol = if resp3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    ctx.client.resp = if resp3 { 3 } else { 2 };
}

/// Sets (or, with an empty name, clears) the connection name. Names are printable ASCII
/// without spaces, so that CLIENT LIST can be split on spaces.
pub(super) fn set_name(client: &mut Client, name: &[u8]) -> bool {
    if name.is_empty() {
        client.name = None;
        return true;
    }
    if !is_printable_token(name) {
        return false;
    }
    client.name = Some(Arc::from(name));
    true
}

pub(super) fn is_printable_token(s: &[u8]) -> bool {
    s.iter().all(|b| (b'!'..=b'~').contains(b))
}

/// `MONITOR`: from now on, this connection is sent a line for every command any client
/// runs (`dispatch::feed_monitors`), written whenever it waits.
fn monitor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let id = ctx.client.id;
    if !ctx.state.monitors.contains(&id) {
        ctx.state.monitors.push(id);
    }
    ctx.out.ok();
    Ok(Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_are_printable_ascii_without_spaces() {
        let mut c = Client::for_tests(7);
        assert!(set_name(&mut c, b"a-b_c:1!~"));
        assert_eq!(c.name.as_deref(), Some(&b"a-b_c:1!~"[..]));
        for bad in [&b"a b"[..], b"a\nb", b"\x7f", b"caf\xc3\xa9", b"a\x00"] {
            assert!(!set_name(&mut c, bad), "{bad:?}");
        }
        assert_eq!(c.name.as_deref(), Some(&b"a-b_c:1!~"[..]));
        assert!(set_name(&mut c, b""));
        assert_eq!(c.name, None);
    }
}
