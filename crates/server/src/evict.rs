//! `maxmemory` and its eviction policies, as Redis 7.0's evict.c does them.
//!
//! Before each command (`before_command`, from `dispatch::process_command`), when a
//! `maxmemory` is set and `used_memory` is over it, keys are evicted by the policy until
//! it is under again, for at most the time `maxmemory-eviction-tenacity` allows; a command
//! that may grow memory (the `denyoom` flag, anything queued in MULTI, a script that
//! declares writes) is refused with `-OOM` when nothing more can be evicted. The LRU and
//! LFU policies are Redis's approximations: `maxmemory-samples` keys sampled per database,
//! the best candidates kept in a pool of 16 across rounds, the one with the largest idle
//! time (or lowest decayed frequency, or nearest expiry) evicted. Every eviction goes
//! through the modification hook (WATCH, `evicted` events, tracking), as Redis's
//! `deleteEvictedKeyAndPropagate`.
//!
//! The per-key access stamp (`Dict::stamp`, 24 bits as Redis's `robj.lru`) is an LRU clock
//! in seconds, or under an LFU policy 16 bits of minutes and an 8-bit logarithmic counter;
//! `keyspace::access` updates it on each lookup through `Access`.

use crate::keyspace::{DbMut, Key, Millis};
use crate::state::State;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    #[default]
    NoEviction,
}

impl Policy {
    pub fn parse(name: &str) -> Option<Policy> {
        Some(match name {
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            "noeviction" => Policy::NoEviction,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
            Policy::AllkeysLru => "allkeys-lru",
            Policy::AllkeysLfu => "allkeys-lfu",
            Policy::AllkeysRandom => "allkeys-random",
            Policy::NoEviction => "noeviction",
        }
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllkeysLfu)
    }

    pub fn is_lru(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::AllkeysLru)
    }

    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }
}

/// Redis's `LRU_CLOCK_MAX`: the stamp is 24 bits.
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// Redis's `LFU_INIT_VAL`: the counter of a new key, so that it is not evicted at once.
pub const LFU_INIT_VAL: u32 = 5;
/// Redis's `EVPOOL_SIZE`.
const POOL_SIZE: usize = 16;

/// What a lookup needs to stamp a key: the policy's kind and the LFU parameters, copied
/// from the config before each command (`before_command`), and the LFU counter's dice.
#[derive(Clone, Copy, Debug)]
pub struct Access {
    pub lfu: bool,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    rng: u64,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            lfu: false,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl Access {
    /// The stamp of a key created at `now` (Redis's `createObject`).
    #[inline]
    pub fn fresh(&self, now: Millis) -> u32 {
        if self.lfu {
            (lfu_minutes(now) << 8) | LFU_INIT_VAL
        } else {
            lru_clock(now)
        }
    }

    /// The stamp of a key looked up at `now` whose stamp was `old` (Redis's `lookupKey`:
    /// `updateLFU`, or the LRU clock).
    #[inline]
    pub fn touched(&mut self, old: u32, now: Millis) -> u32 {
        if !self.lfu {
            return lru_clock(now);
        }
        let counter = lfu_decayed(old, now, self.lfu_decay_time);
        let counter = self.log_incr(counter);
        (lfu_minutes(now) << 8) | counter
    }

    /// Redis's `LFULogIncr`: one more with probability 1 / ((counter - 5) * factor + 1).
    fn log_incr(&mut self, counter: u32) -> u32 {
        if counter == 255 {
            return 255;
        }
        // xorshift64*: the dice need not be good, only cheap.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * self.lfu_log_factor as f64 + 1.0);
        if r < p {
            counter + 1
        } else {
            counter
        }
    }
}

/// Redis's `LRU_CLOCK()` at `now`: seconds, 24 bits.
#[inline]
pub fn lru_clock(now: Millis) -> u32 {
    (now.max(0) / 1000) as u32 & LRU_CLOCK_MAX
}

/// Redis's `LFUGetTimeInMinutes()`.
#[inline]
fn lfu_minutes(now: Millis) -> u32 {
    (now.max(0) / 60_000) as u32 & 0xFFFF
}

/// Redis's `LFUDecrAndReturn`: the counter of stamp `stamp`, less one per `decay_time`
/// minutes since it was last touched.
pub fn lfu_decayed(stamp: u32, now: Millis, decay_time: u32) -> u32 {
    let (ldt, counter) = (stamp >> 8, stamp & 255);
    let minutes = lfu_minutes(now);
    let elapsed = if minutes >= ldt {
        minutes - ldt
    } else {
        65535 - ldt + minutes
    };
    let periods = elapsed.checked_div(decay_time).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// Redis's `objectSetLRUOrLFU`: the stamp RESTORE's `FREQ`/`IDLETIME` (or an RDB file's
/// FREQ/IDLE opcodes) give a key at `now`: under an LFU policy the frequency (when given),
/// otherwise the idle time in seconds (when given) back from the LRU clock. `None` when
/// the one the policy reads was not given: the key keeps the stamp of a new object.
pub fn stamp_from(lfu: bool, freq: Option<i64>, idle: Option<i64>, now: Millis) -> Option<u32> {
    if lfu {
        return freq.map(|f| (lfu_minutes(now) << 8) | (f.clamp(0, 255) as u32));
    }
    let idle = idle?;
    // Redis scales by its clock's resolution (1000 ms: idle * 1000 / 1000, in C's
    // wrapping arithmetic), unwraps below zero once, then keeps the low 24 bits.
    let idle = idle.wrapping_mul(1000) / 1000;
    let mut abs = i64::from(lru_clock(now)).wrapping_sub(idle);
    if abs < 0 {
        abs += i64::from(LRU_CLOCK_MAX);
    }
    Some(abs as u32 & LRU_CLOCK_MAX)
}

/// Redis's `estimateObjectIdleTime`: milliseconds since a key with LRU stamp `stamp` was
/// last touched.
pub fn idle_ms(stamp: u32, now: Millis) -> u64 {
    let clock = lru_clock(now);
    let seconds = if clock >= stamp {
        clock - stamp
    } else {
        clock + (LRU_CLOCK_MAX - stamp)
    };
    seconds as u64 * 1000
}

/// The memory and eviction state of a server, kept in `State::memory`.
#[derive(Debug, Default)]
pub struct Memory {
    /// INFO `evicted_keys`.
    pub evicted_keys: u64,
    /// Whether memory was over the limit with nothing left to evict when the running
    /// command started (Redis's `pre_command_oom_state`), which a script's write checks.
    pub pre_command_oom: bool,
    /// `used_memory` when the server started (INFO `used_memory_startup`).
    pub startup: u64,
    /// Where the random policies look next (Redis's `next_db` in `performEvictions`).
    next_db: usize,
    /// The eviction pool: the best candidates seen, ascending by idleness.
    pool: Vec<Candidate>,
    rng: u64,
}

#[derive(Debug)]
struct Candidate {
    idle: u64,
    db: usize,
    key: Key,
}

/// What `perform_evictions` ended with (Redis's `EVICT_OK`, `EVICT_RUNNING`,
/// `EVICT_FAIL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evicted {
    Ok,
    Running,
    Fail,
}

/// Redis's `evictionTimeLimitUs`: how long one call may evict, from the tenacity (0..100).
fn time_limit_us(tenacity: u32) -> u64 {
    if tenacity <= 10 {
        return 50 * tenacity as u64;
    }
    if tenacity < 100 {
        return (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64;
    }
    u64::MAX
}

/// What `process_command` asks before it runs a command: evicts while memory is over
/// `maxmemory` and answers whether the command must be refused for lack of memory.
/// `deny` says whether this command could grow memory (Redis's `reject_cmd_on_oom`).
pub fn before_command(state: &mut State, deny: bool) -> bool {
    state.mods.access.lfu = state.config.maxmemory_policy.is_lfu();
    state.mods.access.lfu_log_factor = state.config.lfu_log_factor;
    state.mods.access.lfu_decay_time = state.config.lfu_decay_time;
    if state.config.maxmemory == 0 {
        state.memory.pre_command_oom = false;
        return false;
    }
    let out_of_memory = perform_evictions(state, crate::state::unix_millis()) == Evicted::Fail;
    state.memory.pre_command_oom = out_of_memory;
    out_of_memory && deny
}

/// Redis's `performEvictions`: evicts keys by the policy until `used_memory` is under
/// `maxmemory` or the time limit passes.
pub fn perform_evictions(state: &mut State, now: Millis) -> Evicted {
    let limit = state.config.maxmemory;
    let used = crate::alloc::used_memory();
    if limit == 0 || used <= limit {
        return Evicted::Ok;
    }
    let policy = state.config.maxmemory_policy;
    if policy == Policy::NoEviction {
        return Evicted::Fail;
    }
    let started = std::time::Instant::now();
    let budget = time_limit_us(state.config.maxmemory_eviction_tenacity);
    let samples = state.config.maxmemory_samples.max(1) as usize;
    let mut evicted = 0u64;
    loop {
        if crate::alloc::used_memory() <= limit {
            break;
        }
        let Some((db, key)) = pick(state, policy, samples, now) else {
            // Nothing left to evict.
            return Evicted::Fail;
        };
        let mut view = state.db(db, now);
        if view.evict(&key) {
            state.memory.evicted_keys += 1;
            evicted += 1;
        }
        // Redis publishes the `evicted` events and serves what the deletions unblocked
        // as part of the command that made room; here they go at once.
        if evicted.is_multiple_of(16) && started.elapsed().as_micros() as u64 > budget {
            finish(state);
            return Evicted::Running;
        }
    }
    finish(state);
    Evicted::Ok
}

/// What every write made outside a command does after it (an eviction, a node dropping a
/// slot it lost): events published, WATCH and tracking told.
pub(crate) fn finish(state: &mut State) {
    if state.mods.has_events() {
        crate::pubsub::publish_events(state, None);
    }
    if state.mods.has_keys() || state.mods.has_flush() {
        crate::dispatch::writes_done(state, None);
        crate::tracking::broadcast(state, None);
    }
}

impl Memory {
    fn rand(&mut self) -> u64 {
        if self.rng == 0 {
            self.rng = crate::state::unix_millis() as u64 | 1;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

/// The next key to evict under `policy`, and its database.
fn pick(state: &mut State, policy: Policy, samples: usize, now: Millis) -> Option<(usize, Key)> {
    use rand::SeedableRng;
    let seed = state.memory.rand();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let volatile = policy.volatile();
    let dbs = state.dbs.len();
    if matches!(policy, Policy::AllkeysRandom | Policy::VolatileRandom) {
        for _ in 0..dbs {
            let i = state.memory.next_db % dbs;
            state.memory.next_db = state.memory.next_db.wrapping_add(1);
            let dict = state.dbs[i].dict();
            let idx = if volatile {
                dict.random_expiring(&mut rng)
            } else {
                dict.random_slot(&mut rng)
            };
            if let Some(e) = idx.and_then(|idx| dict.at(idx)) {
                return Some((i, Key::from_slice(e.key)));
            }
        }
        return None;
    }
    loop {
        let mut keys = 0;
        for i in 0..dbs {
            let dict = state.dbs[i].dict();
            let size = if volatile {
                dict.expiring_len()
            } else {
                dict.len()
            };
            if size == 0 {
                continue;
            }
            keys += size;
            for _ in 0..samples.min(size) {
                let idx = if volatile {
                    dict.random_expiring(&mut rng)
                } else {
                    dict.random_slot(&mut rng)
                };
                let Some(idx) = idx else { continue };
                let Some(entry) = dict.at(idx) else { continue };
                let idle = match policy {
                    Policy::AllkeysLru | Policy::VolatileLru => idle_ms(dict.stamp(idx), now),
                    Policy::AllkeysLfu | Policy::VolatileLfu => {
                        255 - lfu_decayed(dict.stamp(idx), now, state.config.lfu_decay_time) as u64
                    }
                    _ => u64::MAX - entry.expire_at as u64,
                };
                pool_insert(&mut state.memory.pool, idle, i, entry.key);
            }
        }
        if keys == 0 {
            return None;
        }
        // The best candidate still there (and, for a volatile policy, still with a TTL).
        while let Some(best) = state.memory.pool.pop() {
            let alive = state
                .dbs
                .get(best.db)
                .and_then(|db| db.dict().get(&best.key));
            if alive.is_some_and(|e| !volatile || e.expire_at != crate::keyspace::NO_EXPIRY) {
                return Some((best.db, best.key));
            }
        }
    }
}

/// Redis's `evictionPoolPopulate` for one key: the pool stays sorted by idleness,
/// ascending, at most `POOL_SIZE` long; a key already in it is not added twice.
fn pool_insert(pool: &mut Vec<Candidate>, idle: u64, db: usize, key: &[u8]) {
    if pool.iter().any(|c| c.db == db && c.key.as_slice() == key) {
        return;
    }
    let at = pool.partition_point(|c| c.idle < idle);
    if pool.len() >= POOL_SIZE {
        if at == 0 {
            return;
        }
        pool.remove(0);
        pool.insert(
            at - 1,
            Candidate {
                idle,
                db,
                key: Key::from_slice(key),
            },
        );
    } else {
        pool.insert(
            at,
            Candidate {
                idle,
                db,
                key: Key::from_slice(key),
            },
        );
    }
}

/// The server's memory cron, `hz` times a second as Redis's `serverCron`: the peak, the
/// RSS estimate, and evictions that ran out of time in a command (Redis's
/// `evictionTimeProc`).
pub(crate) async fn memory_cron(
    shared: std::sync::Arc<crate::shared::Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    crate::alloc::start_background_purge();
    {
        let mut state = shared.lock().await;
        state.memory.startup = crate::alloc::used_memory();
    }
    loop {
        let hz = shared.lock().await.config.hz.clamp(1, 500);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(1000 / hz as u64)) => {}
            _ = shutdown.changed() => return,
        }
        crate::alloc::refresh();
        let mut state = shared.lock().await;
        if state.config.maxmemory > 0 {
            let now = crate::state::unix_millis();
            perform_evictions(&mut state, now);
            crate::propagate::server_deletions(&mut state, now);
        }
    }
}

impl DbMut<'_> {
    /// Deletes `key` for the eviction policy, as Redis's `deleteEvictedKeyAndPropagate`:
    /// signalled as a change, named `evicted`.
    fn evict(&mut self, key: &[u8]) -> bool {
        if self.evict_key(key) {
            self.notify(crate::config::notify::EVICTED, "evicted", key);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lru_clock_wraps_at_24_bits_and_idle_time_follows_it() {
        let now = 1_700_000_000_000;
        let stamp = lru_clock(now - 42_000);
        assert_eq!(idle_ms(stamp, now), 42_000);
        // Across the wrap Redis's estimateObjectIdleTime counts one second less than
        // passed (`clock + (MAX - stamp)`): 4 s elapsed read as 3.
        assert_eq!(
            idle_ms(LRU_CLOCK_MAX - 1, (LRU_CLOCK_MAX as i64 + 3) * 1000),
            3000
        );
    }

    #[test]
    fn the_lfu_counter_decays_one_per_decay_time_minutes() {
        let now = 1_700_000_000_000;
        let stamp = (lfu_minutes(now - 10 * 60_000) << 8) | 20;
        assert_eq!(lfu_decayed(stamp, now, 1), 10);
        assert_eq!(lfu_decayed(stamp, now, 2), 15);
        assert_eq!(lfu_decayed(stamp, now, 0), 20);
        assert_eq!(lfu_decayed(stamp, now + 60 * 60_000, 1), 0);
    }

    #[test]
    fn the_lfu_counter_grows_logarithmically() {
        let mut access = Access {
            lfu: true,
            ..Access::default()
        };
        let now = 1_700_000_000_000;
        let mut stamp = access.fresh(now);
        assert_eq!(stamp & 255, LFU_INIT_VAL);
        for _ in 0..1000 {
            stamp = access.touched(stamp, now);
        }
        // Redis's table for lfu-log-factor 10: about 18 after 100 hits, 10+ after 1000.
        let counter = stamp & 255;
        assert!((10..=40).contains(&counter), "counter {counter}");
        let mut once = Access {
            lfu: true,
            lfu_log_factor: 0,
            ..Access::default()
        };
        let mut s = once.fresh(now);
        for _ in 0..300 {
            s = once.touched(s, now);
        }
        assert_eq!(s & 255, 255, "factor 0 counts every hit, up to 255");
    }

    #[test]
    fn the_pool_keeps_the_sixteen_idlest_in_order() {
        let mut pool = Vec::new();
        for i in 0..40u64 {
            let idle = (i * 7) % 101;
            pool_insert(&mut pool, idle, 0, format!("k{i}").as_bytes());
        }
        let mut all: Vec<u64> = (0..40u64).map(|i| (i * 7) % 101).collect();
        all.sort();
        assert_eq!(pool.len(), POOL_SIZE);
        assert!(pool.windows(2).all(|w| w[0].idle <= w[1].idle));
        assert_eq!(pool[0].idle, all[40 - POOL_SIZE]);
        // A key already in the pool is not taken twice, whatever its new idle time.
        let idlest = pool[POOL_SIZE - 1].key.clone();
        pool_insert(&mut pool, 1000, 0, &idlest);
        assert_eq!(pool[0].idle, all[40 - POOL_SIZE]);
        // A new idler key pushes the least idle out.
        pool_insert(&mut pool, 1000, 0, b"new");
        assert_eq!(pool.len(), POOL_SIZE);
        assert_eq!(pool[0].idle, all[40 - POOL_SIZE + 1]);
        assert_eq!(pool[POOL_SIZE - 1].key.as_slice(), b"new");
    }

    #[test]
    fn tenacity_sets_the_time_limit_as_redis_does() {
        assert_eq!(time_limit_us(10), 500);
        assert_eq!(time_limit_us(0), 0);
        assert_eq!(time_limit_us(100), u64::MAX);
        assert!(time_limit_us(50) > 100_000);
    }
}
