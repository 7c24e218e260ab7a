//! The keyspace: numbered databases of keys with values and optional TTLs.
//!
//! Expiry is lazy (a lookup that finds an expired key deletes it and reports a miss) plus
//! the active cycle in `active_expire`, which samples keys with a TTL as Redis does. All
//! access happens under the server's one lock; nothing here does I/O or takes locks.

pub mod access;
pub mod dict;
pub mod value;

pub use access::{DbMut, Modifications, Typed, Written};
pub use dict::{Dict, Entry, EntryRef, Millis, NO_EXPIRY};
pub use value::{Key, Sds, Value};

/// Keys with a TTL examined per round of the active expiry cycle (Redis's
/// `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const ACTIVE_EXPIRE_SAMPLE: usize = 20;
/// Another round runs while more than this share of a round's keys had expired (Redis's
/// `ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE`).
const ACTIVE_EXPIRE_REPEAT_PERCENT: usize = 10;
/// The longest one call of `active_expire` works, whatever deadline it is given: the cycle
/// runs under the server's one lock, and a database where 100k keys expire at once must not
/// stall every client for the whole of Redis's 25 ms budget. What is left is picked up on
/// the next tick (about 6k deletions per millisecond).
const ACTIVE_EXPIRE_SLICE: std::time::Duration = std::time::Duration::from_millis(1);

/// Counters INFO reports, kept per database and summed when asked.
#[derive(Clone, Copy, Debug, Default)]
pub struct DbStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

#[derive(Debug, Default)]
pub struct Db {
    /// Private: keys change only through `DbMut`, which reports every change.
    dict: Dict,
    pub stats: DbStats,
    /// Where the active expiry cycle goes on: a slot index, as Redis 7 keeps a cursor into
    /// its `expires` dict, so that every key with a TTL is looked at in turn.
    expire_cursor: usize,
}

impl Db {
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// The keys, to read (SCAN, KEYS, RANDOMKEY, INFO, MEMORY).
    pub fn dict(&self) -> &Dict {
        &self.dict
    }

    /// Deletes `key` if its TTL has passed: the key's slot when it is (still) there, and
    /// whether this call deleted it.
    fn expire_if_needed(&mut self, key: &[u8], now: Millis) -> (Option<u32>, bool) {
        let Some(idx) = self.dict.find(key) else {
            return (None, false);
        };
        if self.dict.at(idx).is_some_and(|e| e.is_expired(now)) {
            self.dict.remove_at(idx);
            self.stats.expired += 1;
            return (None, true);
        }
        (Some(idx), false)
    }

    /// Empties the database (through `DbMut::clear`, which reports it).
    fn clear(&mut self) {
        self.dict.clear();
        self.expire_cursor = 0;
    }

    /// One active expiry pass over this database, as Redis 7's `activeExpireCycle` does
    /// it: rounds of `ACTIVE_EXPIRE_SAMPLE` keys with a TTL, taken in slot order from where
    /// the last pass stopped, deleting the expired ones; another round while more than
    /// `ACTIVE_EXPIRE_REPEAT_PERCENT` of a round had expired, until `deadline` or
    /// `ACTIVE_EXPIRE_SLICE`, whichever comes first. Returns how many keys it deleted.
    ///
    /// Walking with a cursor instead of sampling at random means every key with a TTL is
    /// looked at within `expiring_len() / 20` rounds, so keys that nobody touches go away
    /// within a second in a database of a few hundred such keys.
    ///
    /// `expired` hears of every key deleted (`DbMut::active_expire` signals them).
    fn active_expire(
        &mut self,
        now: Millis,
        deadline: std::time::Instant,
        expired: &mut impl FnMut(&[u8]),
    ) -> usize {
        let deadline = deadline.min(std::time::Instant::now() + ACTIVE_EXPIRE_SLICE);
        let mut deleted = 0;
        loop {
            if self.dict.expiring_len() == 0 {
                self.expire_cursor = 0;
                return deleted;
            }
            let (sampled, round) = self.active_expire_round(now, expired);
            deleted += round;
            if round * 100 <= sampled * ACTIVE_EXPIRE_REPEAT_PERCENT
                || std::time::Instant::now() >= deadline
            {
                return deleted;
            }
        }
    }

    /// Examines up to `ACTIVE_EXPIRE_SAMPLE` keys with a TTL from the cursor on, wrapping
    /// once at the end of the slab but never past where it started. Returns how many keys
    /// it examined and how many of them it deleted.
    fn active_expire_round(
        &mut self,
        now: Millis,
        signal: &mut impl FnMut(&[u8]),
    ) -> (usize, usize) {
        let start = self.expire_cursor;
        let mut wrapped = false;
        let (mut sampled, mut expired) = (0, 0);
        while sampled < ACTIVE_EXPIRE_SAMPLE {
            let Some(idx) = self.dict.next_expiring(self.expire_cursor) else {
                if wrapped {
                    break;
                }
                wrapped = true;
                self.expire_cursor = 0;
                continue;
            };
            if wrapped && idx as usize >= start {
                break;
            }
            self.expire_cursor = idx as usize + 1;
            sampled += 1;
            if self.dict.at(idx).is_some_and(|e| e.is_expired(now)) {
                if let Some(entry) = self.dict.remove_at(idx) {
                    signal(&entry.key);
                }
                self.stats.expired += 1;
                expired += 1;
            }
        }
        (sampled, expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn far_deadline() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    fn db_with(keys: usize, expire_at: impl Fn(usize) -> Millis) -> Db {
        let mut db = Db::default();
        for i in 0..keys {
            db.dict.insert(
                format!("k{i}").as_bytes(),
                Value::string(b"v"),
                expire_at(i),
            );
        }
        db
    }

    fn listening() -> Modifications {
        let mut mods = Modifications::default();
        mods.listening = true;
        mods
    }

    fn expire(db: &mut Db, now: Millis, deadline: Instant) -> usize {
        db.active_expire(now, deadline, &mut |_| {})
    }

    #[test]
    fn a_read_of_a_due_key_deletes_it_counts_a_miss_and_signals_it_without_a_change() {
        let mut db = db_with(1, |_| 100);
        let mut mods = listening();
        assert!(DbMut::new(&mut db, &mut mods, 0, 99).get(b"k0").is_some());
        // Alive during its last millisecond, as in Redis (`now > when` expires).
        assert!(DbMut::new(&mut db, &mut mods, 0, 100).get(b"k0").is_some());
        assert!(DbMut::new(&mut db, &mut mods, 0, 101).get(b"k0").is_none());
        assert_eq!(db.len(), 0);
        assert_eq!(
            (db.stats.hits, db.stats.misses, db.stats.expired),
            (2, 1, 1)
        );
        assert_eq!(mods.dirty, 0);
        assert_eq!(mods.drain_keys(), vec![(0, Key::from_slice(b"k0"))]);
    }

    #[test]
    fn writes_see_a_due_key_as_absent() {
        let mut db = db_with(1, |_| 100);
        let mut mods = Modifications::default();
        let mut view = DbMut::new(&mut db, &mut mods, 0, 101);
        assert!(!view.set_expire(b"k0", 500));
        assert_eq!(view.expire_at(b"k0"), None);
        assert!(view.remove(b"k0").is_none());
        assert_eq!(db.stats.expired, 1);
        assert_eq!(mods.dirty, 0);
    }

    #[test]
    fn active_expire_signals_each_key_it_deletes_without_a_change() {
        let mut db = db_with(3, |i| if i == 1 { NO_EXPIRY } else { 10 });
        let mut mods = listening();
        let deleted = DbMut::new(&mut db, &mut mods, 4, 500).active_expire(far_deadline());
        assert_eq!(deleted, 2);
        let mut keys = mods.drain_keys();
        keys.sort();
        assert_eq!(
            keys,
            vec![(4, Key::from_slice(b"k0")), (4, Key::from_slice(b"k2"))]
        );
        assert_eq!(mods.dirty, 0);
    }

    #[test]
    fn active_expire_deletes_due_keys_and_keeps_the_others() {
        let mut db = db_with(100, |i| match i % 3 {
            0 => 50,
            1 => 5000,
            _ => NO_EXPIRY,
        });
        let mut deleted = 0;
        for _ in 0..10 {
            deleted += expire(&mut db, 1000, far_deadline());
        }
        assert_eq!(deleted, 34);
        assert_eq!(db.len(), 66);
        assert_eq!(db.dict.expiring_len(), 33);
        assert_eq!(db.stats.expired, 34);
    }

    #[test]
    fn active_expire_reaches_every_key_with_a_ttl_in_turn() {
        // 1 in 50 due: too few for a round to repeat, so only the cursor finds them all.
        let mut db = db_with(1000, |i| if i % 50 == 0 { 10 } else { 1_000_000 });
        let mut deleted = 0;
        for _ in 0..(1000 / ACTIVE_EXPIRE_SAMPLE) {
            deleted += expire(&mut db, 500, far_deadline());
        }
        assert_eq!(deleted, 20);
    }

    #[test]
    fn active_expire_works_in_slices_on_a_large_database() {
        let mut db = db_with(100_000, |_| 10);
        let first = expire(&mut db, 500, far_deadline());
        assert!(first > 0, "some keys go at once");
        assert!(first < 100_000, "but one call stops at its slice");
        let mut calls = 1;
        while !db.is_empty() {
            expire(&mut db, 500, far_deadline());
            calls += 1;
            assert!(calls < 10_000, "the cycle makes progress");
        }
        assert_eq!(db.stats.expired, 100_000);
    }

    #[test]
    fn active_expire_respects_a_past_deadline_after_one_round() {
        let mut db = db_with(1000, |_| 10);
        let deleted = expire(&mut db, 500, Instant::now());
        assert_eq!(deleted, ACTIVE_EXPIRE_SAMPLE);
    }
}
