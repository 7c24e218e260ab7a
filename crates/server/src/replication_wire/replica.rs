//! lockstep as the replica of a primary over TCP (REPLICAOF host port): a task that
//! connects, does Redis's handshake (PING, AUTH with `masteruser`/`masterauth`, REPLCONF
//! listening-port and capa, PSYNC with the replid and offset it has), loads the RDB of a
//! full resync or keeps its data on `+CONTINUE`, then applies the stream as the primary
//! sends it: each command, or a MULTI ... EXEC group, as one unit under the lock, on the
//! replica's own clock (the stream's expiries are absolute). It acknowledges its offset
//! every second and on `REPLCONF GETACK`. When the link drops it keeps its data and its
//! offset and connects again a second later, asking to continue.
//!
//! It never holds the lock while it waits for the network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{encode, LinkState, MasterLink};
use crate::reply::{Protocol, Reply};
use crate::shared::Shared;
use crate::state::{Client, State};

/// Makes this server a replica of `host:port` (REPLICAOF, or `replicaof` at start-up).
/// Its own replicas are disconnected (they resync from it), and the link task of any
/// previous primary ends.
pub fn replicate(state: &mut State, host: String, port: u16) {
    super::disconnect_replicas(state);
    // CONFIG GET replicaof (and CONFIG REWRITE) show the primary of now, as in Redis.
    state
        .config
        .kept
        .insert("replicaof", format!("{host} {port}"));
    let w = &mut state.wire_repl;
    let now = Instant::now();
    w.master = Some(MasterLink {
        host: host.clone(),
        port,
        state: LinkState::Connect,
        last_io: now,
        down_since: None,
        read_offset: w.offset,
    });
    let epoch = *w.epoch.borrow() + 1;
    w.epoch.send_replace(epoch);
    let rx = w.epoch.subscribe();
    if let Some(shared) = w.shared.upgrade() {
        tokio::spawn(run(shared, host, port, epoch, rx));
    }
    state.log_deletions();
}

/// REPLICAOF NO ONE: the link ends, and the data set goes on as a primary's under a new
/// replication id (the old one kept as `master_replid2`, so that replicas of the same
/// old primary can continue from here).
pub fn promote(state: &mut State) {
    let w = &mut state.wire_repl;
    if w.master.take().is_none() {
        return;
    }
    state.config.kept.remove("replicaof");
    let w = &mut state.wire_repl;
    let epoch = *w.epoch.borrow() + 1;
    w.epoch.send_replace(epoch);
    w.shift_replid();
    if w.backlog.is_none() {
        let size = super::backlog_size(&state.config);
        state.wire_repl.start_backlog(size);
    }
    state.wire_repl.seldb = None;
    state.log_deletions();
}

/// Why a link ended.
enum Ended {
    /// REPLICAOF changed the primary (or NO ONE): the task ends.
    Stale,
    /// The connection failed or broke: try again.
    Dropped(String),
}

async fn run(
    shared: Arc<Shared>,
    host: String,
    port: u16,
    epoch: u64,
    mut changes: watch::Receiver<u64>,
) {
    // The primary as a client of this server: its selected database lasts across
    // reconnections, as Redis keeps its cached master.
    let mut client = Client::new(
        u64::MAX - 1,
        SocketAddr::from(([127, 0, 0, 1], port)),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        true,
    );
    loop {
        if *changes.borrow() != epoch {
            return;
        }
        let ended = link(&shared, &host, port, epoch, &mut client, &mut changes).await;
        match ended {
            Ended::Stale => return,
            Ended::Dropped(why) => {
                tracing::info!(%host, port, %why, "link to the primary down");
                {
                    let mut state = shared.lock().await;
                    if *changes.borrow() != epoch {
                        return;
                    }
                    if let Some(link) = state.wire_repl.master.as_mut() {
                        if link.state == LinkState::Connected {
                            link.down_since = Some(Instant::now());
                        }
                        link.state = LinkState::Connect;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = changes.changed() => {}
                }
            }
        }
    }
}

/// The connection to the primary with what was read and not used yet.
struct Upstream {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Upstream {
    async fn send<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> Result<(), String> {
        let mut out = Vec::new();
        encode(&mut out, argv);
        self.stream
            .write_all(&out)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(self.timeout, self.stream.read(&mut chunk))
            .await
            .map_err(|_| "timeout".to_string())?
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed by the primary".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// A reply line, without the newlines Redis sends to keep the link alive while it
    /// prepares the snapshot.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                if text.is_empty() {
                    continue;
                }
                return Ok(text);
            }
            self.fill().await?;
        }
    }

    async fn command(&mut self, argv: &[&[u8]]) -> Result<String, String> {
        self.send(argv).await?;
        self.line().await
    }

    /// The snapshot after `+FULLRESYNC`: `$<len>` and its bytes, or (diskless) `$EOF:<mark>`,
    /// the bytes, and the mark again.
    async fn snapshot(&mut self) -> Result<Vec<u8>, String> {
        let header = self.line().await?;
        let Some(size) = header.strip_prefix('$') else {
            return Err(format!("unexpected reply to PSYNC: {header}"));
        };
        if let Some(mark) = size.strip_prefix("EOF:") {
            let mark = mark.as_bytes().to_vec();
            loop {
                if self.buf.len() >= mark.len() && self.buf.ends_with(&mark) {
                    let mut data = std::mem::take(&mut self.buf);
                    data.truncate(data.len() - mark.len());
                    return Ok(data);
                }
                self.fill().await?;
            }
        }
        let len: usize = size
            .parse()
            .map_err(|_| format!("bad RDB length: {size}"))?;
        while self.buf.len() < len {
            self.fill().await?;
        }
        let rest = self.buf.split_off(len);
        Ok(std::mem::replace(&mut self.buf, rest))
    }
}

fn stale(changes: &watch::Receiver<u64>, epoch: u64) -> bool {
    *changes.borrow() != epoch
}

/// One connection to the primary, from the handshake to its end.
async fn link(
    shared: &Arc<Shared>,
    host: &str,
    port: u16,
    epoch: u64,
    client: &mut Client,
    changes: &mut watch::Receiver<u64>,
) -> Ended {
    let (auth, my_port, timeout) = {
        let mut state = shared.lock().await;
        if stale(changes, epoch) {
            return Ended::Stale;
        }
        if let Some(link) = state.wire_repl.master.as_mut() {
            link.state = LinkState::Connecting;
        }
        let config = &state.config;
        let pass = config.value("masterauth").unwrap_or_default();
        let user = config.value("masteruser").unwrap_or_default();
        let timeout = config
            .value("repl-timeout")
            .and_then(|t| t.parse().ok())
            .unwrap_or(60u64);
        (
            (!pass.is_empty()).then_some((user, pass)),
            config.port,
            Duration::from_secs(timeout.max(1)),
        )
    };
    let connect = tokio::time::timeout(timeout, TcpStream::connect((host, port)));
    let stream = tokio::select! {
        r = connect => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Ended::Dropped(format!("connect: {e}")),
            Err(_) => return Ended::Dropped("connect: timeout".into()),
        },
        _ = changes.changed() => return Ended::Stale,
    };
    let _ = stream.set_nodelay(true);
    if let Some(link) = shared.lock().await.wire_repl.master.as_mut() {
        link.state = LinkState::Handshake;
    }
    let mut up = Upstream {
        stream,
        buf: Vec::new(),
        timeout,
    };
    let watching = changes.clone();
    let synced = tokio::select! {
        r = handshake(shared, &mut up, auth, my_port, epoch, &watching) => r,
        _ = changes.changed() => return Ended::Stale,
    };
    match synced {
        Ok(true) => {}
        Ok(false) => return Ended::Stale,
        Err(e) => return Ended::Dropped(e),
    }
    stream_loop(shared, &mut up, epoch, client, changes).await
}

/// PING, AUTH, REPLCONF, PSYNC and the snapshot. False when REPLICAOF changed meanwhile.
async fn handshake(
    shared: &Arc<Shared>,
    up: &mut Upstream,
    auth: Option<(String, String)>,
    my_port: u16,
    epoch: u64,
    changes: &watch::Receiver<u64>,
) -> Result<bool, String> {
    let pong = up.command(&[b"PING"]).await?;
    // A primary that wants AUTH answers the PING with an error; the handshake goes on.
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("error reply to PING from master: '{pong}'"));
    }
    if let Some((user, pass)) = auth {
        let reply = if user.is_empty() {
            up.command(&[b"AUTH".as_slice(), pass.as_bytes()]).await?
        } else {
            up.command(&[b"AUTH".as_slice(), user.as_bytes(), pass.as_bytes()])
                .await?
        };
        if reply.starts_with('-') {
            return Err(format!("unable to AUTH to MASTER: {reply}"));
        }
    }
    let port = my_port.to_string();
    // Errors here are ignored, as Redis ignores them from old primaries.
    up.command(&[b"REPLCONF".as_slice(), b"listening-port", port.as_bytes()])
        .await?;
    // Without `capa eof`: a primary then sends a snapshot it wrote to disk, at once, where
    // a diskless one waits `repl-diskless-sync-delay` for more replicas first. (A `$EOF:`
    // snapshot is read all the same.)
    up.command(&[b"REPLCONF".as_slice(), b"capa", b"psync2"])
        .await?;
    let (replid, offset, failover) = {
        let state = shared.lock().await;
        let w = &state.wire_repl;
        let failover = w.failover.as_ref().is_some_and(|f| f.in_progress);
        (w.replid.clone(), w.offset, failover)
    };
    let from = (offset + 1).to_string();
    let mut psync = vec![b"PSYNC".as_slice(), replid.as_bytes(), from.as_bytes()];
    if failover {
        psync.push(b"FAILOVER");
    }
    let reply = up.command(&psync).await?;
    if failover {
        // The target took over (or refused: this server is a primary again).
        let mut state = shared.lock().await;
        if stale(changes, epoch) {
            return Ok(false);
        }
        let took_over = reply.starts_with("+CONTINUE") || reply.starts_with("+FULLRESYNC");
        super::end_failover(&mut state, took_over);
        if !took_over {
            return Ok(false);
        }
    }
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC") {
        let mut words = rest.split_whitespace();
        let new_id = words.next().unwrap_or_default().to_string();
        let new_offset: u64 = words.next().and_then(|o| o.parse().ok()).unwrap_or(0);
        {
            let mut state = shared.lock().await;
            if stale(changes, epoch) {
                return Ok(false);
            }
            if let Some(link) = state.wire_repl.master.as_mut() {
                link.state = LinkState::Sync;
            }
        }
        let rdb = up.snapshot().await?;
        let mut state = shared.lock().await;
        if stale(changes, epoch) {
            return Ok(false);
        }
        load_snapshot(&mut state, &rdb)?;
        // The append-only file starts again from the primary's data set, as Redis
        // restarts it after a sync (else a restart would load only what came after).
        if state.aof.on {
            crate::aof::kill_child(&mut state);
            if let Err(e) = crate::aof::rewrite(&mut state, super::now()) {
                tracing::warn!(error = ?e, "AOF rewrite after the full sync failed");
            }
        }
        let w = &mut state.wire_repl;
        w.replid = new_id;
        w.replid2 = "0".repeat(40);
        w.second_offset = -1;
        w.offset = new_offset;
        let size = super::backlog_size(&state.config);
        state.wire_repl.start_backlog(size);
        connected(&mut state);
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let mut state = shared.lock().await;
        if stale(changes, epoch) {
            return Ok(false);
        }
        let new_id = rest.trim();
        let w = &mut state.wire_repl;
        // The primary's history goes on under a new id (it was promoted): ours too.
        if !new_id.is_empty() && new_id != w.replid {
            w.replid2 = std::mem::replace(&mut w.replid, new_id.to_string());
            w.second_offset = w.offset as i64 + 1;
        }
        connected(&mut state);
    } else {
        return Err(format!("unexpected reply to PSYNC from master: {reply}"));
    }
    Ok(true)
}

fn connected(state: &mut State) {
    let offset = state.wire_repl.offset;
    if let Some(link) = state.wire_repl.master.as_mut() {
        link.state = LinkState::Connected;
        link.last_io = Instant::now();
        link.read_offset = offset;
    }
}

/// Replaces the data set with the primary's snapshot.
fn load_snapshot(state: &mut State, rdb: &[u8]) -> Result<(), String> {
    let now = super::now();
    for i in 0..state.dbs.len() {
        state.db(i, now).clear();
    }
    state.functions = Default::default();
    state.propagation.loading = true;
    let loaded = crate::rdb::file::load(state, rdb, now);
    state.propagation.loading = false;
    state.mods.drain_deletions();
    loaded
        .map(|_| ())
        .map_err(|(at, why)| format!("failed loading the primary's RDB at {at}: {why}"))
}

/// A command of the stream and its size in bytes.
type Parsed = (Vec<Vec<u8>>, usize);

/// One command of the stream: its arguments and its size in bytes, `None` while it is
/// not all there.
fn parse_command(buf: &[u8]) -> Result<Option<Parsed>, String> {
    fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        Some((&buf[at..end], end + 2))
    }
    let num = |s: &[u8]| -> Result<usize, String> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad length in the primary's stream: {s:?}"))
    };
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != b'*' {
        // An inline line (a bare newline keeps the link alive).
        let Some(pos) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&buf[..pos]);
        let argv = text
            .split_whitespace()
            .map(|w| w.as_bytes().to_vec())
            .collect();
        return Ok(Some((argv, pos + 1)));
    }
    let Some((n, mut at)) = line(buf, 1) else {
        return Ok(None);
    };
    let n = num(n)?;
    let mut argv = Vec::with_capacity(n);
    for _ in 0..n {
        if buf.len() <= at {
            return Ok(None);
        }
        if buf[at] != b'$' {
            return Err("expected a bulk string in the primary's stream".into());
        }
        let Some((len, start)) = line(buf, at + 1) else {
            return Ok(None);
        };
        let len = num(len)?;
        if buf.len() < start + len + 2 {
            return Ok(None);
        }
        argv.push(buf[start..start + len].to_vec());
        at = start + len + 2;
    }
    Ok(Some((argv, at)))
}

/// What the stream asks for beyond applying commands.
#[derive(Default)]
struct Applied {
    /// REPLCONF GETACK came: acknowledge at once, this offset (the one before it, as
    /// Redis acknowledges while it runs the GETACK).
    ack: Option<u64>,
}

/// A MULTI of the stream whose EXEC has not come yet.
#[derive(Default)]
struct Pending {
    open: bool,
    commands: Vec<Vec<Vec<u8>>>,
    bytes: Vec<u8>,
}

async fn stream_loop(
    shared: &Arc<Shared>,
    up: &mut Upstream,
    epoch: u64,
    client: &mut Client,
    changes: &mut watch::Receiver<u64>,
) -> Ended {
    let mut pending = Pending::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ack_now = None;
    let mut ack_tick = true;
    loop {
        if ack_tick || ack_now.is_some() {
            let offset = match ack_now.take() {
                Some(offset) => offset,
                None => shared.lock().await.wire_repl.offset,
            };
            ack_tick = false;
            let offset = offset.to_string();
            if let Err(e) = up
                .send(&[b"REPLCONF".as_slice(), b"ACK", offset.as_bytes()])
                .await
            {
                return Ended::Dropped(e);
            }
        }
        tokio::select! {
            r = up.fill() => {
                if let Err(e) = r {
                    return Ended::Dropped(e);
                }
                let mut state = shared.lock().await;
                if stale(changes, epoch) {
                    return Ended::Stale;
                }
                match apply_buffered(&mut state, up, client, &mut pending) {
                    Ok(applied) => ack_now = applied.ack,
                    Err(e) => return Ended::Dropped(e),
                }
            }
            _ = tick.tick() => ack_tick = true,
            _ = changes.changed() => return Ended::Stale,
        }
    }
}

/// Applies every whole command read so far, under one acquisition of the lock.
fn apply_buffered(
    state: &mut State,
    up: &mut Upstream,
    client: &mut Client,
    pending: &mut Pending,
) -> Result<Applied, String> {
    let mut applied = Applied::default();
    let mut used = 0;
    let mut out = Reply::new(Protocol::Resp2);
    while let Some((argv, len)) = parse_command(&up.buf[used..])? {
        let raw = &up.buf[used..used + len];
        used += len;
        let name = argv
            .first()
            .map(|a| a.to_ascii_lowercase())
            .unwrap_or_default();
        if pending.open {
            pending.bytes.extend_from_slice(raw);
            if name == b"exec" {
                pending.open = false;
                let commands = std::mem::take(&mut pending.commands);
                apply_unit(state, client, &mut out, &commands);
                state.wire_repl.append(&std::mem::take(&mut pending.bytes));
            } else {
                pending.commands.push(argv);
            }
            continue;
        }
        match name.as_slice() {
            b"multi" => {
                pending.open = true;
                pending.bytes = raw.to_vec();
                continue;
            }
            b"replconf" => {
                if argv
                    .get(1)
                    .is_some_and(|a| a.eq_ignore_ascii_case(b"getack"))
                {
                    applied.ack = Some(state.wire_repl.offset);
                }
            }
            b"ping" | b"" => {}
            _ => apply_unit(state, client, &mut out, std::slice::from_ref(&argv)),
        }
        state.wire_repl.append(raw);
    }
    up.buf.drain(..used);
    let offset = state.wire_repl.offset;
    if let Some(link) = state.wire_repl.master.as_mut() {
        link.last_io = Instant::now();
        link.read_offset = offset + up.buf.len() as u64;
    }
    if state.blocked.has_ready() {
        crate::dispatch::serve_blocked(state);
    }
    if state.mods.has_events() {
        crate::pubsub::publish_events(state, None);
    }
    if state.mods.has_keys() || state.mods.has_flush() {
        crate::dispatch::writes_done(state, None);
        crate::tracking::broadcast(state, None);
    }
    Ok(applied)
}

/// The clock the primary's commands run on here: one before every expiry. As in Redis,
/// a key the primary writes is never expired for it on the replica (Redis's
/// `expireIfNeeded` answers "alive" to the master client): a stream applied late (after a
/// partial resync, or behind a slow link) must find the keys the primary found, and the
/// primary sends a DEL for each key that expires there. Every time the stream carries is
/// absolute (PEXPIREAT, SET PXAT, RESTORE ABSTTL, stream ids), so nothing else reads it.
const PRIMARY_CLOCK: crate::keyspace::Millis = 0;

/// Runs commands of the primary as one unit (a transaction's, or one alone).
fn apply_unit(state: &mut State, client: &mut Client, out: &mut Reply, commands: &[Vec<Vec<u8>>]) {
    let registry = crate::command::Registry::get();
    crate::propagate::begin_unit(state);
    for argv in commands {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        if let Ok((cmd, id)) = registry.resolve_with_id(&argv) {
            out.truncate(0);
            crate::dispatch::call_at(state, client, out, cmd, id, &argv, PRIMARY_CLOCK);
        }
    }
    crate::propagate::end_unit(state, super::now());
}
