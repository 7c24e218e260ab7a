//! MIGRATE: moves keys to another server, as Redis 7.0's `migrateCommand` does — as a
//! client of the target. Each key's value goes as a DUMP payload in a RESTORE (RESTORE-
//! ASKING on a cluster node, so that a target importing the slot takes it), after AUTH and
//! SELECT when needed, all in one write; a key acknowledged by the target is deleted here
//! unless COPY. The target may be any Redis or lockstep server.
//!
//! ```text
//! MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw] [KEYS k...]
//!   -> +OK | +NOKEY (no key to move) | -IOERR ... | -ERR Target instance replied with error: ...
//! ```
//!
//! Like Redis, the handler blocks its node while it talks to the target (up to `timeout`
//! ms per read or write); connections are kept per node and target for ten idle seconds,
//! remembering the database last selected.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::command::{handler, key_flags, CommandResult, Ctx, Done, Entry};
use crate::commands::keys::is_option;
use crate::config::notify;
use crate::errors;
use crate::keyspace::NO_EXPIRY;
use crate::rdb::{self, SaveOptions};
use crate::state::unix_millis;
use crate::util::parse_i64;

pub static HANDLERS: &[Entry] = &[Entry {
    getkeys: Some(migrate_keys),
    ..handler("migrate", migrate)
}];

/// Redis's `migrateGetKeys` (MIGRATE's first key spec is incomplete): the key argument,
/// or with KEYS (and an empty key argument) the keys after it; none when KEYS comes with
/// a key argument. The arguments of AUTH and AUTH2 are skipped, not taken for KEYS.
fn migrate_keys(argv: &[&[u8]]) -> Vec<(usize, u32)> {
    const FLAGS: u32 = key_flags::RW | key_flags::ACCESS | key_flags::DELETE;
    let (mut first, mut num) = (3, 1);
    let mut i = 6;
    while i < argv.len() {
        if is_option(argv[i], "keys") {
            if !argv[3].is_empty() {
                return Vec::new();
            }
            if i + 1 < argv.len() {
                first = i + 1;
                num = argv.len() - first;
            }
            break;
        }
        if is_option(argv[i], "auth") {
            i += 1;
        } else if is_option(argv[i], "auth2") {
            i += 2;
        }
        i += 1;
    }
    (first..(first + num).min(argv.len()))
        .map(|at| (at, FLAGS))
        .collect()
}

/// How long an unused connection to a target is kept (Redis's
/// `MIGRATE_SOCKET_CACHE_TTL`).
const IDLE_TTL: Duration = Duration::from_secs(10);

/// The most connections kept (Redis's `MIGRATE_SOCKET_CACHE_ITEMS`).
const MAX_CACHED: usize = 64;

/// A connection to a target, kept between MIGRATEs of one node.
struct Cached {
    /// The node that opened it (its state's address: each server keeps its own).
    owner: usize,
    /// `host:port` as MIGRATE named them.
    target: String,
    stream: TcpStream,
    /// The database last selected there; -1 forces a SELECT.
    last_db: i64,
    used: Instant,
}

static SOCKETS: Mutex<Vec<Cached>> = Mutex::new(Vec::new());

/// What MIGRATE asks for, parsed.
struct Request<'a> {
    host: &'a [u8],
    port: u16,
    db: i64,
    timeout: Duration,
    copy: bool,
    replace: bool,
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    keys: &'a [&'a [u8]],
}

/// Redis's `atoi` of the port argument: leading digits, 0 without any.
fn atoi_port(arg: &[u8]) -> u16 {
    let digits = arg.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&arg[..digits])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(0, |p| (p % 65536) as u16)
}

fn parse<'a>(argv: &'a [&'a [u8]]) -> Result<Request<'a>, crate::command::CommandError> {
    let (mut copy, mut replace) = (false, false);
    let mut auth = None;
    let mut keys = &argv[3..4];
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if is_option(argv[j], "copy") {
            copy = true;
        } else if is_option(argv[j], "replace") {
            replace = true;
        } else if is_option(argv[j], "auth") {
            if more < 1 {
                return Err(errors::SYNTAX.into());
            }
            j += 1;
            auth = Some((None, argv[j]));
        } else if is_option(argv[j], "auth2") {
            if more < 2 {
                return Err(errors::SYNTAX.into());
            }
            auth = Some((Some(argv[j + 1]), argv[j + 2]));
            j += 2;
        } else if is_option(argv[j], "keys") {
            if !argv[3].is_empty() {
                return Err(errors::MIGRATE_KEYS_WITH_KEY.into());
            }
            keys = &argv[j + 1..];
            break;
        } else {
            return Err(errors::SYNTAX.into());
        }
        j += 1;
    }
    let timeout = parse_i64(argv[5]).ok_or(errors::NOT_INTEGER)?;
    let db = parse_i64(argv[4]).ok_or(errors::NOT_INTEGER)?;
    let timeout = if timeout <= 0 { 1000 } else { timeout };
    Ok(Request {
        host: argv[1],
        port: atoi_port(argv[2]),
        db,
        timeout: Duration::from_millis(timeout as u64),
        copy,
        replace,
        auth,
        keys,
    })
}

/// One key to send: its name, TTL in ms (0: none) and DUMP payload.
struct Outgoing<'a> {
    key: &'a [u8],
    ttl: i64,
    payload: Vec<u8>,
}

/// `MIGRATE host port key|"" db timeout [options]`.
fn migrate(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let request = parse(argv)?;
    let opts = SaveOptions::from_config(&ctx.state.config);
    let owner = &*ctx.state as *const _ as usize;
    let restore: &[u8] = if ctx.state.cluster.is_some() {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    // The keys here (a read each, as Redis's lookupKeyRead counts it) and their values
    // serialized; a key that expires between the two is skipped.
    let mut outgoing = Vec::with_capacity(request.keys.len());
    {
        let mut db = ctx.db();
        let present: Vec<&[u8]> = request
            .keys
            .iter()
            .copied()
            .filter(|k| db.get(k).is_some())
            .collect();
        if present.is_empty() {
            ctx.out.simple("NOKEY");
            return Ok(Done);
        }
        for key in present {
            let Some(entry) = db.peek(key) else { continue };
            let mut ttl = 0;
            if entry.expire_at != NO_EXPIRY {
                ttl = entry.expire_at - unix_millis();
                if ttl < 0 {
                    continue;
                }
                ttl = ttl.max(1);
            }
            let mut payload = Vec::new();
            rdb::dump_value_with(entry.value, &mut payload, opts)
                .map_err(|e| format!("ERR {e}"))?;
            rdb::finish_dump(&mut payload);
            outgoing.push(Outgoing { key, ttl, payload });
        }
    }
    let outcome = blocking(|| transfer(owner, &request, restore, &outgoing));
    if !request.copy {
        let mut db = ctx.db();
        for key in outcome.acknowledged {
            if db.remove(key).is_some() {
                db.notify(notify::GENERIC, "del", key);
            }
        }
    }
    match outcome.reply {
        Ok(None) => ctx.out.ok(),
        Ok(Some(text)) => {
            return Err(format!("ERR Target instance replied with error: {text}").into())
        }
        Err(ioerr) => return Err(ioerr.into()),
    }
    Ok(Done)
}

/// Runs blocking socket work without starving the runtime's other tasks (another node
/// of the process may be the target).
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// How the exchange with the target ended: the keys it acknowledged (gone from here
/// unless COPY, whatever happened next), then the reply.
struct Transfer<'a> {
    acknowledged: Vec<&'a [u8]>,
    /// `Ok(None)`: +OK; `Ok(Some(text))`: the first error the target answered;
    /// `Err(text)`: Redis's IOERR text.
    reply: Result<Option<String>, &'static str>,
}

/// The exchange: one write of every command, then a line per reply; on a socket error
/// before any reply (not a timeout), one retry on a fresh connection, as Redis does.
fn transfer<'a>(
    owner: usize,
    request: &Request,
    restore: &[u8],
    outgoing: &[Outgoing<'a>],
) -> Transfer<'a> {
    let target = format!("{}:{}", String::from_utf8_lossy(request.host), request.port);
    let mut may_retry = true;
    loop {
        let mut conn = match socket(owner, &target, request) {
            Ok(conn) => conn,
            // Redis connects without waiting for the handshake's outcome: a refused
            // connection shows when it writes.
            Err(Some(_)) if may_retry => {
                may_retry = false;
                continue;
            }
            Err(Some(_)) => {
                return Transfer {
                    acknowledged: Vec::new(),
                    reply: Err(errors::MIGRATE_IOERR_WRITING),
                }
            }
            Err(None) => {
                return Transfer {
                    acknowledged: Vec::new(),
                    reply: Err(errors::MIGRATE_IOERR_CONNECT),
                }
            }
        };
        let select = conn.last_db != request.db;
        let mut buf = Vec::new();
        if let Some((user, password)) = request.auth {
            match user {
                Some(user) => command(&mut buf, &[b"AUTH", user, password]),
                None => command(&mut buf, &[b"AUTH", password]),
            }
        }
        if select {
            command(&mut buf, &[b"SELECT", request.db.to_string().as_bytes()]);
        }
        for out in outgoing {
            let ttl = out.ttl.to_string();
            let mut args: Vec<&[u8]> = vec![restore, out.key, ttl.as_bytes(), &out.payload];
            if request.replace {
                args.push(b"REPLACE");
            }
            command(&mut buf, &args);
        }
        // A failure before any RESTORE reply: retried once, unless it timed out.
        let early = |e: std::io::Error, writing: bool| (e, writing);
        let mut failed = conn.stream.write_all(&buf).err().map(|e| early(e, true));
        let mut prelude_error: Option<Vec<u8>> = None;
        if failed.is_none() {
            let prelude = usize::from(request.auth.is_some()) + usize::from(select);
            for _ in 0..prelude {
                match read_line(&mut conn.stream) {
                    Ok(line) if line.first() == Some(&b'-') => {
                        prelude_error.get_or_insert(line);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        failed = Some(early(e, false));
                        break;
                    }
                }
            }
        }
        if let Some((e, writing)) = failed {
            let timed_out = matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            );
            if !timed_out && may_retry {
                may_retry = false;
                continue;
            }
            return Transfer {
                acknowledged: Vec::new(),
                reply: Err(if writing {
                    errors::MIGRATE_IOERR_WRITING
                } else {
                    errors::MIGRATE_IOERR_READING
                }),
            };
        }
        let mut first_error: Option<String> = None;
        let mut acknowledged = Vec::new();
        let mut socket_error = None;
        let mut replies = 0;
        for out in outgoing {
            let line = match read_line(&mut conn.stream) {
                Ok(line) => line,
                Err(e) => {
                    socket_error = Some(e);
                    break;
                }
            };
            replies += 1;
            let error = prelude_error
                .as_deref()
                .or((line.first() == Some(&b'-')).then_some(line.as_slice()));
            match error {
                Some(text) => {
                    if first_error.is_none() {
                        conn.last_db = -1;
                        let text = String::from_utf8_lossy(text.get(1..).unwrap_or_default());
                        first_error = Some(text.replace(['\r', '\n'], " "));
                    }
                }
                None => acknowledged.push(out.key),
            }
        }
        match socket_error {
            None => {
                if first_error.is_none() {
                    conn.last_db = request.db;
                }
                keep(conn);
            }
            Some(e) => {
                // The socket is dropped, not kept.
                let timed_out = matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
                if first_error.is_none() && replies == 0 && may_retry && !timed_out {
                    may_retry = false;
                    continue;
                }
                if first_error.is_none() {
                    return Transfer {
                        acknowledged,
                        reply: Err(errors::MIGRATE_IOERR_READING),
                    };
                }
            }
        }
        return Transfer {
            acknowledged,
            reply: Ok(first_error),
        };
    }
}

/// A connection to `target` for `owner`: the cached one, or a new one. `Err(Some(e))`:
/// the target refused the connection; `Err(None)`: no address, or no answer in time.
fn socket(owner: usize, target: &str, request: &Request) -> Result<Cached, Option<std::io::Error>> {
    {
        let mut cache = SOCKETS.lock();
        cache.retain(|c| c.used.elapsed() < IDLE_TTL);
        if let Some(i) = cache
            .iter()
            .position(|c| c.owner == owner && c.target == target)
        {
            let mut cached = cache.swap_remove(i);
            cached.used = Instant::now();
            let _ = cached.stream.set_read_timeout(Some(request.timeout));
            let _ = cached.stream.set_write_timeout(Some(request.timeout));
            return Ok(cached);
        }
    }
    let host = std::str::from_utf8(request.host).map_err(|_| None)?;
    let addrs = (host, request.port).to_socket_addrs().map_err(|_| None)?;
    let mut refused = None;
    let mut connected = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, request.timeout) {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused = Some(e),
            Err(_) => {}
        }
    }
    let Some(stream) = connected else {
        return Err(refused);
    };
    stream
        .set_read_timeout(Some(request.timeout))
        .map_err(|_| None)?;
    stream
        .set_write_timeout(Some(request.timeout))
        .map_err(|_| None)?;
    let _ = stream.set_nodelay(true);
    Ok(Cached {
        owner,
        target: target.to_string(),
        stream,
        last_db: -1,
        used: Instant::now(),
    })
}

/// Puts a connection back for the next MIGRATE.
fn keep(conn: Cached) {
    let mut cache = SOCKETS.lock();
    if cache.len() >= MAX_CACHED {
        cache.remove(0);
    }
    cache.push(conn);
}

/// A command as RESP.
fn command(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        buf.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        buf.extend_from_slice(arg);
        buf.extend_from_slice(b"\r\n");
    }
}

/// One reply line without its CRLF, read a byte at a time as Redis's `syncReadLine` does
/// (nothing after the line is consumed). Only status and error replies are expected.
fn read_line(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ if byte[0] == b'\n' => {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            _ => line.push(byte[0]),
        }
        if line.len() > 1024 {
            return Ok(line);
        }
    }
}
