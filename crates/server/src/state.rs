//! Everything the server keeps under its one lock: databases, the client registry, the
//! configuration and the counters INFO reports.
//!
//! Holding the lock is what makes a command, a batch, a MULTI/EXEC or a script atomic.
//! Code under the lock never awaits and never does I/O.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{watch, Notify};

use crate::config::Config;
use crate::keyspace::{Db, DbMut, Millis, Modifications};

/// How a client wants replies: `CLIENT REPLY ON|OFF|SKIP`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Drop the reply of the next command only.
    Skip,
    /// Set by SKIP while the command that asked for it runs.
    SkipNext,
}

/// One connection's own state. The connection task owns it; a copy sits in the registry
/// (refreshed after every batch) for CLIENT LIST and friends to read.
#[derive(Debug)]
pub struct Client {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    pub last_active: Instant,
    pub db: usize,
    pub authenticated: bool,
    /// The ACL user (`acl.rs`) the client runs as; `None` is `default`.
    pub user: Option<Arc<[u8]>>,
    pub name: Option<Arc<[u8]>>,
    pub lib_name: Option<Arc<[u8]>>,
    pub lib_ver: Option<Arc<[u8]>>,
    /// Full name (`client|list`) of the last command run.
    pub last_cmd: &'static str,
    pub reply_mode: ReplyMode,
    /// Close once the pending replies are written (QUIT, protocol errors, CLIENT KILL).
    pub close_after_reply: bool,
    /// 2 or 3, as HELLO set it; mirrored from the reply writer for CLIENT LIST.
    pub resp: u8,
    /// Bytes buffered for a command not complete yet (CLIENT LIST `qbuf`).
    pub query_buf: usize,
    /// Room left in the read buffer (CLIENT LIST `qbuf-free`).
    pub query_buf_free: usize,
    /// The socket's file descriptor (CLIENT LIST `fd`), -1 when there is none.
    pub fd: i32,
    /// CLIENT NO-EVICT ON (CLIENT LIST flag `e`).
    pub no_evict: bool,
    /// Parked by a blocking command (CLIENT LIST flag `b`).
    pub blocked: bool,
    /// In MULTI (CLIENT LIST flag `x`); the queue is `State::transactions`'.
    pub in_multi: bool,
    /// CLIENT TRACKING ON (CLIENT LIST flag `t`); the settings are in `State::tracking`.
    pub tracking: bool,
    /// Channels, patterns and shard channels subscribed to, by `pubsub::Kind` (CLIENT
    /// LIST `sub`, `psub`, `ssub`); the names are in `State::pubsub`.
    pub subscriptions: [usize; 3],
    /// Cluster mode: READONLY was sent (reads of a replica's primary's slots are served).
    pub readonly: bool,
    /// A replica of this server fed the replication stream (CLIENT LIST flag `S`).
    pub replica: bool,
    /// Cluster mode: ASKING was sent, for the next command (or transaction).
    pub asking: bool,
    /// SCRIPT DEBUG: whether the next EVAL runs under the Lua debugger.
    pub lua_debug: crate::scripting::ldb::Mode,
}

impl Client {
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr, authenticated: bool) -> Client {
        let now = Instant::now();
        Client {
            id,
            addr,
            laddr,
            created: now,
            last_active: now,
            db: 0,
            authenticated,
            user: None,
            name: None,
            lib_name: None,
            lib_ver: None,
            last_cmd: "NULL",
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            resp: 2,
            query_buf: 0,
            query_buf_free: 0,
            fd: -1,
            no_evict: false,
            blocked: false,
            in_multi: false,
            subscriptions: [0; 3],
            tracking: false,
            readonly: false,
            replica: false,
            asking: false,
            lua_debug: Default::default(),
        }
    }
}

#[cfg(test)]
impl Client {
    /// An authenticated client from 127.0.0.1:50000 to port 6379, for unit tests.
    pub fn for_tests(id: u64) -> Client {
        let addr = SocketAddr::from(([127, 0, 0, 1], 50000));
        let laddr = SocketAddr::from(([127, 0, 0, 1], 6379));
        Client::new(id, addr, laddr, true)
    }
}

impl Clone for Client {
    fn clone(&self) -> Client {
        let mut copy = Client::new(self.id, self.addr, self.laddr, self.authenticated);
        copy.clone_from(self);
        copy
    }

    /// The registry's copy is refreshed after every batch: this copies field by field and
    /// leaves the names alone unless they changed, where the derived `clone_from` would
    /// build a whole new `Client` and drop the old one.
    fn clone_from(&mut self, source: &Client) {
        // Destructured so that a new field cannot be forgotten here.
        let Client {
            id,
            addr,
            laddr,
            created,
            last_active,
            db,
            authenticated,
            user,
            name,
            lib_name,
            lib_ver,
            last_cmd,
            reply_mode,
            close_after_reply,
            resp,
            query_buf,
            query_buf_free,
            fd,
            no_evict,
            blocked,
            in_multi,
            subscriptions,
            tracking,
            readonly,
            replica,
            asking,
            lua_debug,
        } = source;
        self.id = *id;
        self.addr = *addr;
        self.laddr = *laddr;
        self.created = *created;
        self.last_active = *last_active;
        self.db = *db;
        self.authenticated = *authenticated;
        copy_name(&mut self.user, user);
        copy_name(&mut self.name, name);
        copy_name(&mut self.lib_name, lib_name);
        copy_name(&mut self.lib_ver, lib_ver);
        self.last_cmd = last_cmd;
        self.reply_mode = *reply_mode;
        self.close_after_reply = *close_after_reply;
        self.resp = *resp;
        self.query_buf = *query_buf;
        self.query_buf_free = *query_buf_free;
        self.fd = *fd;
        self.no_evict = *no_evict;
        self.blocked = *blocked;
        self.in_multi = *in_multi;
        self.subscriptions = *subscriptions;
        self.tracking = *tracking;
        self.readonly = *readonly;
        self.replica = *replica;
        self.asking = *asking;
        self.lua_debug = *lua_debug;
    }
}

/// `*to = from.clone()`, without touching the reference counts when both are the same.
fn copy_name(to: &mut Option<Arc<[u8]>>, from: &Option<Arc<[u8]>>) {
    let same = match (&*to, from) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    };
    if !same {
        *to = from.clone();
    }
}

/// The registry's entry for one connection.
#[derive(Debug)]
pub struct ClientEntry {
    /// The connection's state as of its last batch.
    pub client: Client,
    /// Set by CLIENT KILL; the connection closes when it sees it.
    pub killed: bool,
    /// Wakes the connection task so that it notices `killed` while idle.
    pub wake: Arc<Notify>,
    /// Output other clients produced for this one and its task has not written yet:
    /// MONITOR lines, pub/sub messages (`pubsub::deliver`).
    pub pushed: Vec<u8>,
    /// Since when `pushed` has been over the pub/sub soft limit.
    pub soft_limit_since: Option<Instant>,
    /// Set while `pushed` holds something: the connection task reads it without the
    /// registry lookup before each batch.
    pub has_pushed: Arc<AtomicBool>,
    /// The sizes of the connection's buffers, kept by its task (client eviction).
    pub buffers: Arc<crate::client_eviction::Buffers>,
}

impl ClientEntry {
    pub fn new(client: Client, wake: Arc<Notify>, has_pushed: Arc<AtomicBool>) -> ClientEntry {
        ClientEntry {
            client,
            killed: false,
            wake,
            pushed: Vec::new(),
            soft_limit_since: None,
            has_pushed,
            buffers: Arc::default(),
        }
    }

    /// Adds output for this connection from another (a MONITOR line, a message), waking
    /// its task if it had nothing pending.
    pub fn push(&mut self, bytes: &[u8]) {
        let was_empty = self.pushed.is_empty();
        self.pushed.extend_from_slice(bytes);
        self.has_pushed.store(true, Ordering::Release);
        if was_empty {
            self.wake.notify_one();
        }
    }

    /// Moves the pending output into `out`; true if there was any.
    pub fn take_pushed(&mut self, out: &mut crate::reply::Reply) -> bool {
        if self.pushed.is_empty() {
            return false;
        }
        out.buf.extend_from_slice(&self.pushed);
        self.pushed.clear();
        self.soft_limit_since = None;
        self.has_pushed.store(false, Ordering::Release);
        true
    }

    /// The protocol the connection spoke at its last batch.
    pub fn protocol(&self) -> crate::reply::Protocol {
        if self.client.resp == 3 {
            crate::reply::Protocol::Resp3
        } else {
            crate::reply::Protocol::Resp2
        }
    }
}

/// A CLIENT PAUSE in force: until `until`, commands wait (every command, or with
/// `writes_only` those that write or may replicate).
#[derive(Clone, Copy, Debug)]
pub struct ClientPause {
    pub until: Instant,
    pub writes_only: bool,
}

/// Counters INFO `stats` reports, other than the per-database ones.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub connections_received: u64,
    pub commands_processed: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub error_replies: u64,
    /// Clients disconnected by `maxmemory-clients` (INFO `evicted_clients`).
    pub evicted_clients: u64,
}

#[derive(Debug)]
pub struct State {
    pub dbs: Vec<Db>,
    pub clients: BTreeMap<u64, ClientEntry>,
    pub config: Config,
    pub stats: Stats,
    /// The modification hook's log: the dirty counter and the keys written.
    pub mods: Modifications,
    /// Clients parked by blocking commands.
    pub blocked: crate::blocking::Blocked,
    /// Pub/sub subscriptions.
    pub pubsub: crate::pubsub::PubSub,
    /// Client-side caching: tracking clients and the keys they read.
    pub tracking: crate::tracking::Tracking,
    /// ACL users and the ACL log.
    pub acl: crate::acl::Acl,
    /// The running script, as connections see it without this lock (`Shared` holds it
    /// too).
    pub script_run: Arc<crate::busy::ScriptRun>,
    /// The Lua engine and the script cache.
    pub scripts: crate::scripting::Engine,
    /// The libraries of FUNCTION LOAD.
    pub functions: crate::scripting::functions::Functions,
    /// What each client in MULTI has queued, by client id.
    pub transactions: std::collections::HashMap<u64, crate::multi::Transaction>,
    /// Clients in MONITOR mode, by id, in the order they asked.
    pub monitors: Vec<u64>,
    /// `maxmemory`: evicted keys, the eviction pool, the OOM state of the running command.
    pub memory: crate::evict::Memory,
    pub started: Instant,
    /// The access stamp of Redis's shared integer objects 0..10000, made once at start-up
    /// under the policy of then (OBJECT IDLETIME and FREQ of a key holding one read it).
    pub shared_integers_stamp: u32,
    /// Unix time (seconds) of the last SAVE; start time until then.
    pub last_save: i64,
    /// Ends the server: SHUTDOWN sends `true`.
    pub shutdown: watch::Sender<bool>,
    /// The addresses the server listens on.
    pub listening: Vec<SocketAddr>,
    /// CLIENT PAUSE, while in force.
    pub pause: Option<ClientPause>,
    /// INFO commandstats, indexed by `Registry::id`.
    pub command_stats: Vec<CommandStat>,
    /// INFO errorstats: replies per error code, in code order.
    pub error_stats: BTreeMap<Box<[u8]>, u64>,
    /// The slow log, latency events and per-command latency histograms.
    pub diagnostics: crate::diagnostics::Diagnostics,
    /// Cluster mode: this node's view of the cluster (`None` for a standalone server).
    pub cluster: Option<Box<crate::cluster::ClusterState>>,
    /// What `call()` records for the AOF and the replicas while a command runs.
    pub propagation: crate::propagate::Propagation,
    /// The append-only file (`appendonly`).
    pub aof: crate::aof::Aof,
    /// `maxmemory-clients` in bytes (0: off), readable by connections without this lock.
    pub client_limit: Arc<crate::client_eviction::Limit>,
    /// A standalone server's replication over TCP (as primary and as replica).
    pub wire_repl: crate::replication_wire::WireReplication,
}

/// One command's counters, as INFO commandstats reports them.
#[derive(Clone, Copy, Debug, Default)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    /// Refused before running (arity, NOAUTH).
    pub rejected: u64,
    /// Ran and replied with an error.
    pub failed: u64,
}

impl State {
    pub fn new(config: Config, shutdown: watch::Sender<bool>) -> State {
        let mut mods = Modifications::default();
        mods.notify_flags = config.notify_keyspace_events;
        let script_run = Arc::new(crate::busy::ScriptRun::new(shutdown.clone()));
        script_run.set_busy_threshold(config.busy_reply_threshold_ms());
        script_run.set_auth_required(config.requirepass.as_ref().is_some_and(|p| !p.is_empty()));
        let mut access = crate::evict::Access::default();
        access.lfu = config.maxmemory_policy.is_lfu();
        let shared_integers_stamp = access.fresh(unix_millis());
        let client_limit = Arc::new(crate::client_eviction::Limit::default());
        client_limit.update(&config);
        State {
            dbs: (0..config.databases).map(|_| Db::default()).collect(),
            clients: BTreeMap::new(),
            config,
            stats: Stats::default(),
            mods,
            blocked: crate::blocking::Blocked::default(),
            transactions: Default::default(),
            pubsub: Default::default(),
            script_run,
            tracking: Default::default(),
            acl: Default::default(),
            scripts: Default::default(),
            functions: Default::default(),
            monitors: Vec::new(),
            memory: Default::default(),
            started: Instant::now(),
            shared_integers_stamp,
            last_save: unix_millis() / 1000,
            shutdown,
            listening: Vec::new(),
            pause: None,
            command_stats: vec![CommandStat::default(); crate::command::Registry::get().len()],
            error_stats: BTreeMap::new(),
            diagnostics: crate::diagnostics::Diagnostics::default(),
            cluster: None,
            propagation: Default::default(),
            aof: crate::aof::Aof::new(),
            client_limit,
            wire_repl: Default::default(),
        }
    }
}

impl State {
    /// SWAPDB: databases `a` and `b` trade contents, one change in all as Redis counts
    /// it, and a client waiting on a key of either may find it there now.
    pub fn swap_dbs(&mut self, a: usize, b: usize, now: Millis) {
        let watches = &mut self.mods.watches;
        if !watches.is_empty() {
            watches.emptied(a, &self.dbs[a], Some(&self.dbs[b]), now);
            watches.emptied(b, &self.dbs[b], Some(&self.dbs[a]), now);
        }
        self.dbs.swap(a, b);
        self.mods.flushed(a, 1);
        self.mods.flushed(b, 0);
        self.blocked.database_changed(a);
        self.blocked.database_changed(b);
    }

    /// Keeps the modification hook copying changed keys while clients wait on keys.
    pub fn listen(&mut self) {
        self.mods.listening = !self.blocked.is_empty() || !self.tracking.is_empty();
    }

    /// Database `index` through the modification hook, at the command time `now`.
    #[inline]
    pub fn db(&mut self, index: usize, now: Millis) -> DbMut<'_> {
        DbMut::new(&mut self.dbs[index], &mut self.mods, index, now)
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch.
pub fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
