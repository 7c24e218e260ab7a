//! The keyspace: numbered databases of keys with values and optional TTLs.
//!
//! Expiry is lazy (a lookup that finds an expired key deletes it and reports a miss) plus
//! the active cycle in `active_expire`, which samples keys with a TTL as Redis does. All
//! access happens under the server's one lock; nothing here does I/O or takes locks.

pub mod dict;
pub mod value;

pub use dict::{Dict, Entry, Millis, NO_EXPIRY};
pub use value::{Key, Sds, Value};

/// Keys sampled per database per round of the active expiry cycle (Redis's default).
const ACTIVE_EXPIRE_SAMPLE: usize = 20;
/// Another round runs while more than this share of the sample had expired.
const ACTIVE_EXPIRE_REPEAT_PERCENT: usize = 10;

/// Counters INFO reports, kept per database and summed when asked.
#[derive(Clone, Copy, Debug, Default)]
pub struct DbStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

#[derive(Debug, Default)]
pub struct Db {
    pub dict: Dict,
    pub stats: DbStats,
}

impl Db {
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// Deletes `key` if its TTL has passed. True when the key is (still) there.
    fn expire_if_needed(&mut self, key: &[u8], now: Millis) -> Option<u32> {
        let idx = self.dict.find(key)?;
        let expire_at = self.dict.at(idx).map_or(NO_EXPIRY, |e| e.expire_at);
        if expire_at != NO_EXPIRY && expire_at <= now {
            self.dict.remove(key);
            self.stats.expired += 1;
            return None;
        }
        Some(idx)
    }

    /// Looks a key up for reading, counting a hit or a miss (INFO keyspace_hits/misses).
    pub fn get(&mut self, key: &[u8], now: Millis) -> Option<&Entry> {
        match self.expire_if_needed(key, now) {
            Some(idx) => {
                self.stats.hits += 1;
                self.dict.at(idx)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Looks a key up for writing (no hit/miss counting), expiring it first if due.
    pub fn get_mut(&mut self, key: &[u8], now: Millis) -> Option<&mut Entry> {
        let idx = self.expire_if_needed(key, now)?;
        self.dict.at_mut(idx)
    }

    /// True when the key exists and has not expired. Counts no hit or miss.
    pub fn contains(&mut self, key: &[u8], now: Millis) -> bool {
        self.expire_if_needed(key, now).is_some()
    }

    /// Stores `value` under `key`, replacing any previous value and TTL.
    pub fn set(&mut self, key: &[u8], value: Value, expire_at: Millis) -> Option<Entry> {
        self.dict.insert(key, value, expire_at)
    }

    /// Removes `key`; a key that had already expired counts as absent.
    pub fn remove(&mut self, key: &[u8], now: Millis) -> Option<Entry> {
        self.expire_if_needed(key, now)?;
        self.dict.remove(key)
    }

    /// Sets (or with `NO_EXPIRY` clears) the TTL of an existing key. False if absent.
    pub fn set_expire(&mut self, key: &[u8], expire_at: Millis, now: Millis) -> bool {
        match self.expire_if_needed(key, now) {
            Some(idx) => {
                self.dict.set_expire(idx, expire_at);
                true
            }
            None => false,
        }
    }

    /// The TTL of `key` in ms since the epoch (`NO_EXPIRY` for none), `None` if absent.
    pub fn expire_at(&mut self, key: &[u8], now: Millis) -> Option<Millis> {
        let idx = self.expire_if_needed(key, now)?;
        self.dict.at(idx).map(|e| e.expire_at)
    }

    pub fn clear(&mut self) {
        self.dict.clear();
    }

    /// One active expiry pass over this database: samples keys with a TTL and deletes the
    /// expired ones, repeating while many of the sample had expired and `budget` lasts.
    /// Returns how many keys it deleted.
    pub fn active_expire(
        &mut self,
        now: Millis,
        rng: &mut impl rand::Rng,
        deadline: std::time::Instant,
    ) -> usize {
        let mut deleted = 0;
        loop {
            let sample = ACTIVE_EXPIRE_SAMPLE.min(self.dict.expiring_len());
            if sample == 0 {
                return deleted;
            }
            let mut expired_now = 0;
            for _ in 0..sample {
                let Some(idx) = self.dict.random_expiring(rng) else {
                    break;
                };
                let due = self
                    .dict
                    .at(idx)
                    .filter(|e| e.expire_at != NO_EXPIRY && e.expire_at <= now)
                    .map(|e| e.key.clone());
                if let Some(key) = due {
                    self.dict.remove(&key);
                    self.stats.expired += 1;
                    expired_now += 1;
                }
            }
            deleted += expired_now;
            if expired_now * 100 <= sample * ACTIVE_EXPIRE_REPEAT_PERCENT
                || std::time::Instant::now() >= deadline
            {
                return deleted;
            }
        }
    }
}
