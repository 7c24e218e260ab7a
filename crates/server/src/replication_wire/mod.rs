//! Redis's replication protocol over TCP, for a standalone server: lockstep as the primary
//! of real `redis-server` replicas (or other lockstep servers), and lockstep as a replica
//! of a real primary (`replica`). Cluster nodes keep their in-process replication
//! (`crate::replication`); nothing here runs for them.
//!
//! As a primary: a connection that sends PSYNC (or the old SYNC) becomes a replica. It gets
//! `+FULLRESYNC <replid> <offset>` and an RDB snapshot taken at once under the lock, or
//! `+CONTINUE` and the part of the backlog it misses, then the stream `propagate` records,
//! as RESP, with SELECT where the database changes and MULTI/EXEC around groups. Everything
//! goes to a replica as output pushed to its connection (`ClientEntry::push`, as MONITOR
//! lines go): its connection task writes it, and answers none of its commands (REPLCONF
//! ACK must get no reply). The stream's bytes are counted (`master_repl_offset`) and kept
//! in a ring of `repl-backlog-size` bytes for partial resyncs.
//!
//! It never blocks under the lock: the snapshot is made in memory, the writing is the
//! connection's.

pub mod replica;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::command::{Block, CommandResult, Ctx, Done, Outcome};
use crate::keyspace::Millis;
use crate::propagate::Propagated;
use crate::shared::Shared;
use crate::state::{ReplyMode, State};

/// A replica as its primary holds it (Redis's client with `CLIENT_SLAVE`).
#[derive(Debug)]
struct Replica {
    client: u64,
    addr: SocketAddr,
    /// `REPLCONF listening-port`, 0 until told.
    port: u16,
    /// The offset it last acknowledged (`REPLCONF ACK`).
    ack: u64,
    ack_at: Instant,
    /// While a forked child writes its snapshot: the stream produced meanwhile, sent after
    /// the snapshot (Redis's `wait_bgsave` state).
    waiting: Option<Vec<u8>>,
}

/// What a connection told with REPLCONF before its PSYNC.
#[derive(Debug, Default, Clone)]
struct Handshake {
    port: u16,
    ip: Option<String>,
    /// `REPLCONF rdb-only 1` (redis-cli --rdb): the snapshot, then the connection closes.
    rdb_only: bool,
}

/// The ring of the last `repl-backlog-size` bytes of the stream.
#[derive(Debug)]
struct Backlog {
    buf: VecDeque<u8>,
    size: usize,
    /// The offset of the first byte held (Redis's `repl_backlog->offset`).
    first: u64,
}

impl Backlog {
    fn append(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
        let excess = self.buf.len().saturating_sub(self.size);
        if excess > 0 {
            self.buf.drain(..excess);
            self.first += excess as u64;
        }
    }
}

/// The link to a primary, as a replica keeps it.
#[derive(Debug, Clone)]
pub struct MasterLink {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// When the primary last sent something.
    pub last_io: Instant,
    /// Since when the link is down (`master_link_down_since_seconds`); `None` while it
    /// never was up.
    pub down_since: Option<Instant>,
    /// Bytes of the stream read from the primary (`slave_read_repl_offset`).
    pub read_offset: u64,
}

/// Redis's `repl_state` as ROLE names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connect,
    Connecting,
    /// Connected, in PING/AUTH/REPLCONF/PSYNC.
    Handshake,
    Sync,
    Connected,
}

impl LinkState {
    fn role_name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// A standalone server's replication, both ways.
#[derive(Debug)]
pub struct WireReplication {
    pub replid: String,
    pub replid2: String,
    pub second_offset: i64,
    /// `master_repl_offset`: bytes of the stream produced (as a primary) or applied (as a
    /// replica).
    pub offset: u64,
    backlog: Option<Backlog>,
    /// The database the stream last selected (`None`: the next command selects).
    seldb: Option<usize>,
    replicas: Vec<Replica>,
    handshakes: HashMap<u64, Handshake>,
    /// Every client's offset after its last propagated write (WAIT).
    woff: HashMap<u64, u64>,
    /// Clients blocked in WAIT: id, offset, replicas wanted.
    waiters: Vec<(u64, u64, usize)>,
    last_ping: Instant,
    /// Set while this server replicates a primary (REPLICAOF host port).
    pub master: Option<MasterLink>,
    pub failover: Option<Failover>,
    /// Bumped by every REPLICAOF: a link task of an older epoch ends.
    epoch: watch::Sender<u64>,
    shared: Weak<Shared>,
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// `min-replicas-to-write` and `min-replicas-max-lag`, as the cron last read them.
    min_replicas: (usize, u64),
}

impl Default for WireReplication {
    fn default() -> WireReplication {
        WireReplication {
            replid: random_id(),
            replid2: "0".repeat(40),
            second_offset: -1,
            offset: 0,
            backlog: None,
            seldb: None,
            replicas: Vec::new(),
            handshakes: HashMap::new(),
            woff: HashMap::new(),
            waiters: Vec::new(),
            last_ping: Instant::now(),
            master: None,
            failover: None,
            epoch: watch::channel(0).0,
            shared: Weak::new(),
            sync_full: 0,
            sync_partial_ok: 0,
            sync_partial_err: 0,
            min_replicas: (0, 10),
        }
    }
}

fn random_id() -> String {
    crate::cluster::NodeId::random().to_string()
}

impl WireReplication {
    /// Redis's `shiftReplicationId`: a replica promoted keeps its history as replid2.
    fn shift_replid(&mut self) {
        self.replid2 = std::mem::replace(&mut self.replid, random_id());
        self.second_offset = self.offset as i64 + 1;
    }

    /// A replica's backlog starts (empty) where its primary's snapshot or its own promotion
    /// left it, so that its own replicas can continue from there.
    fn start_backlog(&mut self, size: usize) {
        self.backlog = Some(Backlog {
            buf: VecDeque::new(),
            size,
            first: self.offset + 1,
        });
    }

    fn append(&mut self, bytes: &[u8]) {
        self.offset += bytes.len() as u64;
        if let Some(backlog) = self.backlog.as_mut() {
            backlog.append(bytes);
        }
    }
}

/// Whether the stream goes anywhere from here: a primary that has a backlog (created by
/// its first replica, kept when they leave, for their partial resync).
#[inline]
pub fn feeding(state: &State) -> bool {
    state.wire_repl.backlog.is_some() && state.wire_repl.master.is_none()
}

/// Whether this server replicates a primary and refuses writes (`replica-read-only`).
#[inline]
pub fn read_only_replica(state: &State) -> bool {
    state.wire_repl.master.is_some()
        && state.config.value("replica-read-only").as_deref() != Some("no")
}

/// Whether this server replicates a primary over TCP: its keys expire when the primary
/// says so (a DEL in the stream), not by its own active expiry cycle.
#[inline]
pub fn is_replica(state: &State) -> bool {
    state.wire_repl.master.is_some()
}

/// What a write gets while fewer replicas than `min-replicas-to-write` acknowledged within
/// `min-replicas-max-lag` seconds.
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// Whether writes are refused for want of good replicas (Redis's `repl_good_slaves_count`
/// against `min-replicas-to-write`, on a primary).
#[inline]
pub fn not_enough_replicas(state: &State) -> bool {
    let w = &state.wire_repl;
    let (wanted, max_lag) = w.min_replicas;
    wanted > 0
        && max_lag > 0
        && w.master.is_none()
        && state.cluster.is_none()
        && w.replicas
            .iter()
            .filter(|r| r.ack_at.elapsed().as_secs() <= max_lag)
            .count()
            < wanted
}

fn read_min_replicas(state: &mut State) {
    let number = |name: &str| state.config.value(name).and_then(|v| v.parse().ok());
    let wanted = number("min-replicas-to-write").unwrap_or(0) as usize;
    let max_lag = number("min-replicas-max-lag").unwrap_or(10);
    state.wire_repl.min_replicas = (wanted, max_lag);
    // CONFIG SET repl-backlog-size: the ring keeps its newest bytes.
    let size = backlog_size(&state.config);
    if let Some(backlog) = state.wire_repl.backlog.as_mut() {
        if backlog.size != size {
            backlog.size = size;
            backlog.append(&[]);
        }
    }
}

/// Whether client `id` is a replica of this server (CLIENT LIST flag `S`).
pub fn is_replica_client(state: &State, id: u64) -> bool {
    state.wire_repl.replicas.iter().any(|r| r.client == id)
}

/// Starts the replication cron of a server (and, with `replicaof` in its configuration,
/// its link to the primary). Inside a tokio runtime.
pub(crate) fn start(shared: &Arc<Shared>, shutdown: watch::Receiver<bool>) {
    {
        let mut state = shared.state.lock();
        state.wire_repl.shared = Arc::downgrade(shared);
        read_min_replicas(&mut state);
        if state.cluster.is_none() {
            let configured = state.config.value("replicaof").unwrap_or_default();
            let mut words = configured.split_whitespace();
            if let (Some(host), Some(port)) = (words.next(), words.next()) {
                if let Ok(port) = port.parse() {
                    replica::replicate(&mut state, host.to_string(), port);
                }
            }
        }
    }
    tokio::spawn(cron(shared.clone(), shutdown));
}

/// Once a second: a PING to the replicas every `repl-ping-replica-period` seconds, so
/// that their `repl-timeout` does not fire on an idle primary.
async fn cron(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        let mut state = shared.lock().await;
        read_min_replicas(&mut state);
        let period = state
            .config
            .value("repl-ping-replica-period")
            .and_then(|p| p.parse().ok())
            .unwrap_or(10u64);
        let w = &state.wire_repl;
        if feeding(&state)
            && !w.replicas.is_empty()
            && w.last_ping.elapsed() >= Duration::from_secs(period)
        {
            state.wire_repl.last_ping = Instant::now();
            stream_raw(&mut state, &[b"PING".to_vec()]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The primary's side.

/// A finished group of the stream (`propagate::emit`): encoded as Redis sends it, counted,
/// kept in the backlog and pushed to every replica; `client`'s offset remembered for WAIT.
pub fn feed(state: &mut State, commands: &[Propagated], client: Option<u64>) {
    if !feeding(state) || commands.is_empty() {
        return;
    }
    let w = &mut state.wire_repl;
    let mut bytes = Vec::new();
    let mut select = |bytes: &mut Vec<u8>, db: usize| {
        if w.seldb != Some(db) {
            encode(bytes, &[b"SELECT".as_slice(), db.to_string().as_bytes()]);
            w.seldb = Some(db);
        }
    };
    let multi = commands.len() > 1;
    if multi {
        // MULTI goes with the first command's database, so that SELECT comes before it.
        select(&mut bytes, commands[0].db);
        encode(&mut bytes, &[b"MULTI".as_slice()]);
    }
    for c in commands {
        select(&mut bytes, c.db);
        encode(&mut bytes, &c.argv);
    }
    if multi {
        encode(&mut bytes, &[b"EXEC".as_slice()]);
    }
    push(state, &bytes);
    if let Some(id) = client {
        let offset = state.wire_repl.offset;
        state.wire_repl.woff.insert(id, offset);
    }
}

/// A command of no database (PING, REPLCONF GETACK) into the stream.
fn stream_raw(state: &mut State, argv: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    encode(&mut bytes, argv);
    push(state, &bytes);
}

fn push(state: &mut State, bytes: &[u8]) {
    let State {
        wire_repl, clients, ..
    } = state;
    wire_repl.append(bytes);
    for r in &mut wire_repl.replicas {
        if let Some(waiting) = r.waiting.as_mut() {
            waiting.extend_from_slice(bytes);
        } else if let Some(entry) = clients.get_mut(&r.client) {
            entry.push(bytes);
        }
    }
}

/// `argv` as a RESP array of bulk strings.
pub fn encode<A: AsRef<[u8]>>(out: &mut Vec<u8>, argv: &[A]) {
    out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for a in argv {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// `REPLCONF option value ...` from a replica (or a client that will be one).
pub fn replconf(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if argv.len().is_multiple_of(2) {
        return Err(crate::errors::SYNTAX.into());
    }
    let id = ctx.client.id;
    let mut i = 1;
    while i + 1 < argv.len() {
        let opt = argv[i].to_ascii_lowercase();
        let value = argv[i + 1];
        match opt.as_slice() {
            b"listening-port" => {
                let port = crate::util::parse_i64(value).ok_or(crate::errors::NOT_INTEGER)?;
                let w = &mut ctx.state.wire_repl;
                w.handshakes.entry(id).or_default().port = port.clamp(0, 65535) as u16;
                if let Some(r) = w.replicas.iter_mut().find(|r| r.client == id) {
                    r.port = port.clamp(0, 65535) as u16;
                }
            }
            b"ip-address" => {
                let ip = String::from_utf8_lossy(value).into_owned();
                ctx.state.wire_repl.handshakes.entry(id).or_default().ip = Some(ip);
            }
            b"rdb-only" => {
                let on = value == b"1";
                ctx.state
                    .wire_repl
                    .handshakes
                    .entry(id)
                    .or_default()
                    .rdb_only = on;
            }
            b"capa" | b"rdb-filter-only" => {}
            b"ack" | b"fack" => {
                // No reply: a replica reads none (Redis's replconfCommand returns early).
                if opt == b"ack" {
                    if let Some(offset) = crate::util::parse_i64(value) {
                        acked(ctx.state, id, offset.max(0) as u64);
                    }
                }
                ctx.client.reply_mode = match ctx.client.reply_mode {
                    ReplyMode::On => ReplyMode::Skip,
                    mode => mode,
                };
                return Ok(Done);
            }
            b"getack" => {
                // Only a primary asks its replica; a replica answers on its link.
                return Ok(Done);
            }
            _ => {
                return Err(format!(
                    "ERR Unrecognized REPLCONF option: {}",
                    String::from_utf8_lossy(argv[i])
                )
                .into())
            }
        }
        i += 2;
    }
    ctx.out.ok();
    Ok(Done)
}

/// A replica's acknowledgement: its offset, and the WAIT callers it satisfies.
fn acked(state: &mut State, id: u64, offset: u64) {
    let w = &mut state.wire_repl;
    let Some(r) = w.replicas.iter_mut().find(|r| r.client == id) else {
        return;
    };
    r.ack = r.ack.max(offset);
    r.ack_at = Instant::now();
    if w.waiters.is_empty() {
        return;
    }
    let mut done = Vec::new();
    let mut waiters = std::mem::take(&mut w.waiters);
    waiters.retain(|&(client, target, wanted)| {
        let n = w.acked(target);
        if n >= wanted {
            done.push((client, n));
            false
        } else {
            true
        }
    });
    w.waiters = waiters;
    for (client, n) in done {
        crate::dispatch::unblock(state, client, |r| r.int(n as i64));
    }
}

impl WireReplication {
    fn acked(&self, offset: u64) -> usize {
        self.replicas.iter().filter(|r| r.ack >= offset).count()
    }
}

/// `PSYNC replid offset` (`sync`: the old SYNC): this connection becomes a replica,
/// resynced from the backlog when it can be, fully otherwise.
pub fn psync(ctx: &mut Ctx, argv: &[&[u8]], sync: bool) -> CommandResult {
    let id = ctx.client.id;
    if is_replica_client(ctx.state, id) {
        return Ok(Done);
    }
    if ctx.state.cluster.is_some() {
        return Err("ERR PSYNC is not supported by lockstep cluster nodes".into());
    }
    // The primary of a FAILOVER hands over: this replica becomes the primary, and the old
    // primary continues from its offset.
    if argv.len() > 3 && argv[3].eq_ignore_ascii_case(b"failover") {
        if ctx.state.wire_repl.master.is_none() || argv[1] != ctx.state.wire_repl.replid.as_bytes()
        {
            return Err("ERR PSYNC FAILOVER replid must match my replid.".into());
        }
        replica::promote(ctx.state);
    }
    if let Some(link) = &ctx.state.wire_repl.master {
        if link.state != LinkState::Connected {
            return Err("NOMASTERLINK Can't SYNC while not connected with my master".into());
        }
        // Sub-replicas of a replica would need the primary's stream proxied.
        return Err("ERR lockstep does not serve replicas while it is a replica itself".into());
    }
    let now = ctx.now;
    let state = &mut *ctx.state;
    let handshake = state.wire_repl.handshakes.remove(&id).unwrap_or_default();
    let mut payload = Vec::new();
    let partial = if sync {
        None
    } else {
        continue_from(state, argv[1], argv[2])
    };
    match partial {
        Some(from) => {
            let w = &mut state.wire_repl;
            w.sync_partial_ok += 1;
            payload.extend_from_slice(format!("+CONTINUE {}\r\n", w.replid).as_bytes());
            if let Some(backlog) = &w.backlog {
                let skip = (from - backlog.first) as usize;
                payload.extend(backlog.buf.iter().skip(skip));
            }
        }
        None => {
            let w = &mut state.wire_repl;
            if !sync && argv[1] != b"?" {
                w.sync_partial_err += 1;
            }
            w.sync_full += 1;
            // The first replica: a new history (Redis changes the replid and creates the
            // backlog then).
            if w.backlog.is_none() {
                w.replid = random_id();
                w.replid2 = "0".repeat(40);
                w.second_offset = -1;
                w.backlog = Some(Backlog {
                    buf: VecDeque::new(),
                    size: backlog_size(&state.config),
                    first: w.offset + 1,
                });
            }
            // The next command of the stream selects its database.
            state.wire_repl.seldb = None;
            let w = &state.wire_repl;
            let line = format!("+FULLRESYNC {} {}\r\n", w.replid, w.offset);
            if let Some(child) = fork_snapshot(state, id, now) {
                // The snapshot follows from the child; the stream waits for it.
                if !sync {
                    if let Some(entry) = state.clients.get_mut(&id) {
                        entry.push(line.as_bytes());
                    }
                }
                register(ctx, &handshake, Some(Vec::new()));
                let shared = ctx.state.wire_repl.shared.clone();
                tokio::spawn(send_snapshot(shared, id, child));
                return Ok(Done);
            }
            let mut rdb = Vec::new();
            if crate::rdb::file::write_rdb(state, now, &mut rdb).is_err() {
                return Err("ERR could not make the RDB snapshot".into());
            }
            if !sync {
                payload.extend_from_slice(line.as_bytes());
            }
            payload.extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
            payload.extend_from_slice(&rdb);
        }
    }
    if handshake.rdb_only {
        if let Some(entry) = state.clients.get_mut(&id) {
            entry.push(&payload);
        }
        ctx.client.reply_mode = ReplyMode::Off;
        ctx.client.close_after_reply = true;
        return Ok(Done);
    }
    if let Some(entry) = state.clients.get_mut(&id) {
        entry.push(&payload);
    }
    register(ctx, &handshake, None);
    Ok(Done)
}

/// The connection of `ctx` becomes a replica: it carries the stream from here on, and
/// none of its commands is answered.
fn register(ctx: &mut Ctx, handshake: &Handshake, waiting: Option<Vec<u8>>) {
    let ip = handshake.ip.clone();
    let state = &mut *ctx.state;
    state.wire_repl.replicas.push(Replica {
        client: ctx.client.id,
        addr: match ip.and_then(|ip| ip.parse().ok()) {
            Some(ip) => SocketAddr::new(ip, 0),
            None => ctx.client.addr,
        },
        port: handshake.port,
        ack: 0,
        ack_at: Instant::now(),
        waiting,
    });
    state.log_deletions();
    ctx.client.reply_mode = ReplyMode::Off;
    ctx.client.replica = true;
}

/// A child forked to write the snapshot of this moment into a file of `dir` (as BGSAVE
/// does), so that the primary goes on serving while it is written: its pid and the file.
fn fork_snapshot(state: &State, client: u64, now: Millis) -> Option<(i32, std::path::PathBuf)> {
    state.wire_repl.shared.upgrade()?;
    let path =
        crate::rdb::file::dir(state).join(format!("temp-repl-{}-{client}.rdb", std::process::id()));
    // SAFETY: as `rdb::file::bgsave`: the child reads the memory it got at the fork (this
    // thread holds the server's lock), writes one file and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return None;
    }
    if pid == 0 {
        let written = (|| -> std::io::Result<()> {
            let file = std::fs::File::create(&path)?;
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            crate::rdb::file::write_rdb(state, now, &mut out)?;
            std::io::Write::flush(&mut out)
        })();
        // SAFETY: ends the child at once, as Redis's `exitFromChild` does.
        unsafe { libc::_exit(i32::from(written.is_err())) };
    }
    Some((pid, path))
}

/// Waits for the snapshot child, then sends the replica `$<len>`, the file and the stream
/// produced meanwhile, and puts it online. A failed snapshot closes the replica's
/// connection (it syncs again), as Redis drops replicas of a failed BGSAVE.
async fn send_snapshot(shared: Weak<Shared>, client: u64, (pid, path): (i32, std::path::PathBuf)) {
    let rdb = tokio::task::spawn_blocking(move || {
        let mut status = 0;
        // SAFETY: a blocking wait for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        let exited = r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        let rdb = exited.then(|| std::fs::read(&path).ok()).flatten();
        let _ = std::fs::remove_file(&path);
        rdb
    })
    .await
    .ok()
    .flatten();
    let Some(shared) = shared.upgrade() else {
        return;
    };
    let mut state = shared.lock().await;
    let State {
        wire_repl, clients, ..
    } = &mut *state;
    let Some(replica) = wire_repl.replicas.iter_mut().find(|r| r.client == client) else {
        return;
    };
    let Some(entry) = clients.get_mut(&client) else {
        return;
    };
    let Some(rdb) = rdb else {
        entry.killed = true;
        entry.wake.notify_one();
        return;
    };
    let waiting = replica.waiting.take().unwrap_or_default();
    replica.ack_at = Instant::now();
    let mut payload = format!("${}\r\n", rdb.len()).into_bytes();
    payload.extend_from_slice(&rdb);
    payload.extend_from_slice(&waiting);
    entry.push(&payload);
}

fn backlog_size(config: &crate::config::Config) -> usize {
    config
        .value("repl-backlog-size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 20)
}

/// Where a PSYNC can continue from (the next byte it wants), if the history it names is
/// this one's and the backlog still holds that byte (Redis's
/// `masterTryPartialResynchronization`).
fn continue_from(state: &State, replid: &[u8], offset: &[u8]) -> Option<u64> {
    let w = &state.wire_repl;
    let backlog = w.backlog.as_ref()?;
    let from = u64::try_from(crate::util::parse_i64(offset)?).ok()?;
    let ours = replid == w.replid.as_bytes();
    let previous = replid == w.replid2.as_bytes() && from as i64 <= w.second_offset;
    if !ours && !previous {
        return None;
    }
    let end = backlog.first + backlog.buf.len() as u64;
    (from >= backlog.first && from <= end).then_some(from)
}

/// Forgets a closed connection: a replica that left, its WAIT, its handshake.
pub fn forget_client(state: &mut State, id: u64) {
    let w = &mut state.wire_repl;
    w.replicas.retain(|r| r.client != id);
    w.handshakes.remove(&id);
    w.woff.remove(&id);
    w.waiters.retain(|x| x.0 != id);
}

/// Closes every replica's connection (this server becomes a replica: they resync).
fn disconnect_replicas(state: &mut State) {
    let ids: Vec<u64> = state
        .wire_repl
        .replicas
        .drain(..)
        .map(|r| r.client)
        .collect();
    for id in ids {
        if let Some(entry) = state.clients.get_mut(&id) {
            entry.killed = true;
            entry.wake.notify_one();
        }
    }
}

/// WAIT on a standalone server.
pub fn wait(ctx: &mut Ctx, wanted: i64, timeout: i64) -> CommandResult {
    let id = ctx.client.id;
    if ctx.state.wire_repl.master.is_some() {
        return Err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.".into());
    }
    let w = &ctx.state.wire_repl;
    let target = w.woff.get(&id).copied().unwrap_or(0);
    let acked = w.acked(target);
    if acked as i64 >= wanted || !ctx.can_block {
        ctx.out.int(acked as i64);
        return Ok(Done);
    }
    ctx.state
        .wire_repl
        .waiters
        .push((id, target, usize::try_from(wanted).unwrap_or(usize::MAX)));
    // Ask the replicas for their offsets now rather than at their next second.
    if feeding(ctx.state) && !ctx.state.wire_repl.replicas.is_empty() {
        stream_raw(
            ctx.state,
            &[b"REPLCONF".to_vec(), b"GETACK".to_vec(), b"*".to_vec()],
        );
    }
    Ok(Outcome::Block(Block {
        keys: Vec::new(),
        deadline: (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64)),
        ready_when: |_| false,
        argv: None,
        wake_on_every_write: false,
    }))
}

/// What a WAIT that timed out answers.
pub fn wait_timed_out(state: &mut State, client: u64) -> i64 {
    let w = &mut state.wire_repl;
    let target = w.woff.get(&client).copied().unwrap_or(0);
    w.waiters.retain(|x| x.0 != client);
    w.acked(target) as i64
}

// ---------------------------------------------------------------------------------------
// ROLE and INFO replication.

/// ROLE of a standalone server.
pub fn role(ctx: &mut Ctx) {
    let w = &ctx.state.wire_repl;
    let out = &mut *ctx.out;
    match &w.master {
        Some(link) => {
            out.array(5);
            out.bulk(b"slave");
            out.bulk(link.host.as_bytes());
            out.int(i64::from(link.port));
            out.bulk(link.state.role_name().as_bytes());
            let offset = if link.state == LinkState::Connected || w.offset > 0 {
                w.offset as i64
            } else {
                -1
            };
            out.int(offset);
        }
        None => {
            out.array(3);
            out.bulk(b"master");
            out.int(w.offset as i64);
            out.array(w.replicas.len());
            for r in &w.replicas {
                out.array(3);
                out.bulk(r.addr.ip().to_string().as_bytes());
                out.bulk(r.port.to_string().as_bytes());
                out.bulk(r.ack.to_string().as_bytes());
            }
        }
    }
}

/// INFO's replication section of a standalone server, as Redis 7.0 writes it.
pub fn info(state: &State, out: &mut String) {
    use std::fmt::Write as _;
    let w = &state.wire_repl;
    match &w.master {
        Some(link) => {
            let up = link.state == LinkState::Connected;
            let _ = write!(
                out,
                "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n\
                 master_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\n\
                 slave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\n",
                link.host,
                link.port,
                if up { "up" } else { "down" },
                if up {
                    link.last_io.elapsed().as_secs() as i64
                } else {
                    -1
                },
                u8::from(link.state == LinkState::Sync),
                link.read_offset.max(w.offset),
                w.offset,
            );
            if !up {
                let _ = write!(
                    out,
                    "master_link_down_since_seconds:{}\r\n",
                    link.down_since
                        .map_or(-1, |since| since.elapsed().as_secs() as i64)
                );
            }
            let _ = write!(
                out,
                "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:1\r\n",
                state
                    .config
                    .value("replica-priority")
                    .unwrap_or_else(|| "100".into()),
                u8::from(read_only_replica(state)),
            );
        }
        None => out.push_str("role:master\r\n"),
    }
    let _ = write!(out, "connected_slaves:{}\r\n", w.replicas.len());
    for (i, r) in w.replicas.iter().enumerate() {
        let _ = write!(
            out,
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            r.addr.ip(),
            r.port,
            if r.waiting.is_some() {
                "wait_bgsave"
            } else {
                "online"
            },
            r.ack,
            r.ack_at.elapsed().as_secs()
        );
    }
    let (active, size, first, histlen) = match &w.backlog {
        Some(b) => (1, b.size, b.first, b.buf.len()),
        None => (0, backlog_size(&state.config), 0, 0),
    };
    let _ = write!(
        out,
        "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\n\
         master_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{active}\r\n\
         repl_backlog_size:{size}\r\nrepl_backlog_first_byte_offset:{first}\r\n\
         repl_backlog_histlen:{histlen}\r\n",
        w.failover_state(),
        w.replid,
        w.replid2,
        w.offset,
        w.second_offset,
    );
}

/// The clock of a replica applying its primary's stream (its own: the stream's times are
/// absolute).
fn now() -> Millis {
    crate::state::unix_millis()
}

// ---------------------------------------------------------------------------------------
// FAILOVER.

/// A FAILOVER under way: writes are paused until the chosen replica has everything, then
/// this server becomes its replica with `PSYNC ... FAILOVER`, which promotes it.
#[derive(Debug, Clone)]
pub struct Failover {
    target: Option<(String, u16)>,
    deadline: Option<Instant>,
    force: bool,
    /// The PSYNC FAILOVER handshake with the target is under way.
    pub in_progress: bool,
}

impl WireReplication {
    pub fn failing_over(&self) -> bool {
        self.failover.is_some()
    }

    fn failover_state(&self) -> &'static str {
        match &self.failover {
            None => "no-failover",
            Some(f) if f.in_progress => "failover-in-progress",
            Some(_) => "waiting-for-sync",
        }
    }
}

pub fn has_replicas(state: &State) -> bool {
    !state.wire_repl.replicas.is_empty()
}

/// Starts a FAILOVER whose arguments were checked: the target must be a replica.
pub fn start_failover(
    ctx: &mut Ctx,
    target: Option<(String, i64)>,
    timeout: i64,
    force: bool,
) -> Result<(), crate::command::CommandError> {
    let target = match target {
        Some((host, port)) => {
            let found = ctx.state.wire_repl.replicas.iter().any(|r| {
                i64::from(r.port) == port && r.addr.ip().to_string().eq_ignore_ascii_case(&host)
            });
            if !found {
                return Err("ERR FAILOVER target HOST and PORT is not a replica.".into());
            }
            Some((host, port as u16))
        }
        None => None,
    };
    let state = &mut *ctx.state;
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    state.wire_repl.failover = Some(Failover {
        target,
        deadline,
        force,
        in_progress: false,
    });
    state.pause = Some(crate::state::ClientPause {
        until: Instant::now() + Duration::from_secs(365 * 24 * 3600),
        writes_only: true,
    });
    stream_raw(
        state,
        &[b"REPLCONF".to_vec(), b"GETACK".to_vec(), b"*".to_vec()],
    );
    if let Some(shared) = state.wire_repl.shared.upgrade() {
        tokio::spawn(failover_task(shared));
    }
    Ok(())
}

/// FAILOVER ABORT: writes resume and this server stays (or becomes again) a primary.
pub fn abort_failover(state: &mut State) -> bool {
    let Some(f) = state.wire_repl.failover.take() else {
        return false;
    };
    if f.in_progress {
        replica::promote(state);
    }
    unpause(state);
    true
}

/// The end of a failover, either way.
pub(crate) fn end_failover(state: &mut State, promoted_target: bool) {
    if state.wire_repl.failover.take().is_none() {
        return;
    }
    if !promoted_target {
        replica::promote(state);
    }
    unpause(state);
}

fn unpause(state: &mut State) {
    if state.pause.take().is_some() {
        for entry in state.clients.values() {
            entry.wake.notify_one();
        }
    }
}

/// Waits for the target (or any replica) to acknowledge everything, then hands over.
async fn failover_task(shared: Arc<Shared>) {
    let mut asked = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut state = shared.lock().await;
        let Some(f) = state.wire_repl.failover.clone() else {
            return;
        };
        let w = &state.wire_repl;
        let caught_up = w
            .replicas
            .iter()
            .filter(|r| r.ack >= w.offset)
            .filter(|r| {
                f.target.as_ref().is_none_or(|(host, port)| {
                    r.port == *port && r.addr.ip().to_string().eq_ignore_ascii_case(host)
                })
            })
            .max_by_key(|r| r.ack)
            .map(|r| (r.addr.ip().to_string(), r.port));
        let timed_out = f.deadline.is_some_and(|d| Instant::now() >= d);
        let chosen = match (caught_up, timed_out) {
            (Some(t), _) => t,
            (None, true) if f.force => match f.target.clone() {
                Some(t) => t,
                None => return end_failover(&mut state, true),
            },
            (None, true) => {
                // Redis: "Replica never caught up before timeout".
                state.wire_repl.failover = None;
                return unpause(&mut state);
            }
            (None, false) => {
                if asked.elapsed() >= Duration::from_millis(200) {
                    asked = Instant::now();
                    stream_raw(
                        &mut state,
                        &[b"REPLCONF".to_vec(), b"GETACK".to_vec(), b"*".to_vec()],
                    );
                }
                continue;
            }
        };
        if let Some(f) = state.wire_repl.failover.as_mut() {
            f.in_progress = true;
        }
        replica::replicate(&mut state, chosen.0, chosen.1);
        return;
    }
}
