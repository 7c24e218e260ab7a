//! Client eviction (`maxmemory-clients`), as Redis 7.0 does it: once the memory of every
//! normal and pub/sub client together reaches the limit, the clients using the most are
//! disconnected, largest first, until the rest fit. CLIENT NO-EVICT exempts a client;
//! monitors (replica-type clients in Redis) are neither counted nor evicted.
//!
//! The limit is bytes, or a percentage of `maxmemory`, and never below 128 KiB (a smaller
//! one would cut off every client, the one that could fix the setting included; a real
//! redis-server with `maxmemory-clients 1` evicts a 246 KB client and keeps three idle
//! ones).
//!
//! A client's memory is what CLIENT LIST shows as `tot-mem`: its read buffer, the replies
//! not written yet, what others pushed to it (pub/sub, MONITOR), its transaction's queue,
//! and a fixed part for its structures. A connection's task keeps the size of its buffers
//! in `Buffers` without the lock, and looks at the limit where Redis does: when a read
//! grows its buffer, as a batch's replies grow, when CONFIG SET lowers the limit, and on
//! every cron tick (pub/sub backlogs grow from other clients' PUBLISH).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::config::Config;
use crate::state::{ClientEntry, State};

/// The smallest limit applied, whatever the setting.
pub const MIN_LIMIT: u64 = 128 * 1024;

/// The reply buffer's size (`rbs`): lockstep's, which is also the one Redis starts with.
pub const REPLY_BUFFER_SIZE: usize = 16 * 1024;

/// What Redis counts for a client's own structures in `tot-mem`, beyond its buffers.
pub const CLIENT_STRUCT_MEM: usize = 774;

/// How much a buffer grows between two looks at the limit.
pub const CHECK_STEP: usize = 16 * 1024;

/// A connection's buffers, as its task last stored them (bytes).
#[derive(Debug, Default)]
pub struct Buffers {
    /// The read buffer's capacity.
    pub input: AtomicUsize,
    /// Replies produced and not written yet.
    pub output: AtomicUsize,
}

/// The limit (bytes) that `config` sets; 0 when client eviction is off.
pub fn limit(config: &Config) -> u64 {
    let Some(param) = crate::config::lookup(b"maxmemory-clients") else {
        return 0;
    };
    let setting = config.get(param);
    let bytes = match setting.strip_suffix('%') {
        Some(pct) => {
            let pct: u64 = pct.parse().unwrap_or(0);
            config.maxmemory.saturating_mul(pct) / 100
        }
        None => setting.parse().unwrap_or(0),
    };
    match bytes {
        0 => 0,
        n => n.max(MIN_LIMIT),
    }
}

/// The limit as connections read it without the lock: kept in step with the config.
#[derive(Debug, Default)]
pub struct Limit(AtomicU64);

impl Limit {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn update(&self, config: &Config) {
        self.0.store(limit(config), Ordering::Relaxed);
    }
}

/// A client's memory (`tot-mem`) from its registry entry; `multi_mem` is its
/// transaction's, `argv_mem` the arguments of the command it is running.
pub fn memory(entry: &ClientEntry, multi_mem: usize, argv_mem: usize) -> usize {
    let c = &entry.client;
    let input = (c.query_buf + c.query_buf_free).max(entry.buffers.input.load(Ordering::Relaxed));
    input
        + argv_mem
        + multi_mem
        + entry.buffers.output.load(Ordering::Relaxed)
        + entry.pushed.capacity()
        + REPLY_BUFFER_SIZE
        + CLIENT_STRUCT_MEM
}

/// Disconnects the largest evictable clients while all clients together use at least the
/// limit; how many it disconnected. Each one is killed as CLIENT KILL kills (its task
/// closes the connection) and logged with its CLIENT LIST line.
pub fn evict(state: &mut State) -> usize {
    let limit = state.client_limit.get();
    if limit == 0 {
        return 0;
    }
    let mut total: u64 = 0;
    let mut candidates: Vec<(usize, u64)> = Vec::new();
    for (id, entry) in &state.clients {
        if entry.killed || state.monitors.contains(id) {
            continue;
        }
        let multi_mem = crate::multi::summary(state, &entry.client).mem;
        let mem = memory(entry, multi_mem, 0);
        total += mem as u64;
        if !entry.client.no_evict {
            candidates.push((mem, *id));
        }
    }
    if total < limit {
        return 0;
    }
    candidates.sort_unstable_by(|a, b| b.cmp(a));
    let mut evicted = 0;
    for (mem, id) in candidates {
        if total < limit {
            break;
        }
        let Some(entry) = state.clients.get_mut(&id) else {
            continue;
        };
        tracing::info!(client = %entry.client.addr, id, tot_mem = mem, "evicting client");
        entry.killed = true;
        entry.wake.notify_one();
        total -= mem as u64;
        evicted += 1;
    }
    if total >= limit {
        tracing::warn!("over maxmemory-clients after evicting every evictable client");
    }
    state.stats.evicted_clients += evicted as u64;
    evicted
}

/// Looks at the limit for client `id` whose buffers now hold `input` bytes of read buffer
/// (`None`: unchanged) and `output` bytes of replies not written (`None`: unchanged); true
/// when it was evicted itself.
pub fn check(state: &mut State, id: u64, input: Option<usize>, output: Option<usize>) -> bool {
    if let Some(entry) = state.clients.get(&id) {
        if let Some(n) = input {
            entry.buffers.input.store(n, Ordering::Relaxed);
        }
        if let Some(n) = output {
            entry.buffers.output.store(n, Ordering::Relaxed);
        }
    }
    evict(state);
    state.clients.get(&id).is_none_or(|e| e.killed)
}
