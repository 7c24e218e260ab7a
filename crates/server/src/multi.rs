//! Transactions: what a client in MULTI has queued (`Transaction`), and WATCH: which
//! clients watch which keys, and which of them a change has made dirty (Redis's
//! `CLIENT_DIRTY_CAS`), so that their EXEC fails.
//!
//! The WATCH registry lives in the modification hook (`Modifications::watches`): every write,
//! expiry and flush reports its keys there at the moment it happens, so nothing can change
//! a watched key without the watchers hearing of it. A key that had already expired when
//! it was watched is special, as in Redis 7.0: its deletion (lazy or active expiry, DEL,
//! a flush) is no logical change and does not make its watcher dirty; anything that gives
//! it a value does.

use std::collections::{HashMap, HashSet};

use crate::command::CommandSpec;
use crate::keyspace::{Db, Key, Millis};
use crate::state::{Client, State};

/// Redis's `discardTransaction`: `client` leaves MULTI, its queue and its watched keys
/// forgotten. The queue, if it was in MULTI.
pub fn discard(state: &mut State, client: &mut Client) -> Option<Transaction> {
    state.mods.watches.unwatch(client.id);
    state.mods.watches.take_dirty(client.id);
    let was_in_multi = std::mem::take(&mut client.in_multi);
    let tx = state.transactions.remove(&client.id);
    was_in_multi.then(|| tx.unwrap_or_default())
}

/// What CLIENT LIST shows of a client's transaction.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// Commands queued, -1 outside MULTI (`multi`).
    pub queued: i64,
    /// The queue's and the watched keys' memory, as Redis estimates it (`multi-mem`).
    pub mem: usize,
    /// A watched key changed (flag `d`).
    pub dirty: bool,
}

impl Default for Summary {
    fn default() -> Summary {
        Summary {
            queued: -1,
            mem: 0,
            dirty: false,
        }
    }
}

/// Sizes Redis counts per queued command and per watched key (`multiStateMemOverhead`).
const QUEUED_COMMAND_MEM: usize = 24;
const WATCHED_KEY_MEM: usize = 56;

pub fn summary(state: &State, client: &Client) -> Summary {
    let watched = state.mods.watches.count(client.id);
    let tx = state.transactions.get(&client.id);
    let queue_mem = tx.map_or(0, |tx| {
        tx.queued
            .iter()
            .map(|q| q.argv.iter().map(|a| a.len() + 8).sum::<usize>() + QUEUED_COMMAND_MEM)
            .sum()
    });
    Summary {
        queued: match (client.in_multi, tx) {
            (false, _) => -1,
            (true, tx) => tx.map_or(0, |tx| (tx.queued.len() + tx.executing) as i64),
        },
        mem: queue_mem + watched * WATCHED_KEY_MEM,
        dirty: state.mods.watches.is_dirty(client.id),
    }
}

/// A client's MULTI: the commands queued for EXEC (`State::transactions`).
#[derive(Clone, Debug, Default)]
pub struct Transaction {
    pub queued: Vec<Queued>,
    /// A command was refused while queueing (unknown, wrong arity, not allowed in MULTI):
    /// EXEC answers EXECABORT (Redis's `CLIENT_DIRTY_EXEC`).
    pub aborted: bool,
    /// The union of the queued commands' flags (a WRITE pause holds an EXEC that writes).
    pub flags: u32,
    /// While EXEC runs the queue (taken out of `queued`): its length.
    pub executing: usize,
}

/// One queued command, resolved when it was queued.
#[derive(Clone, Debug)]
pub struct Queued {
    pub cmd: &'static CommandSpec,
    /// Its index in the registry (command statistics).
    pub id: usize,
    pub argv: Vec<Vec<u8>>,
}

impl Transaction {
    /// Queues a command, which runs with `flags` (its command's, or a script's; see
    /// `scripting::command_flags`). Nothing once the transaction is aborted: EXEC will not
    /// run it.
    pub fn queue(&mut self, cmd: &'static CommandSpec, id: usize, argv: &[&[u8]], flags: u32) {
        if self.aborted {
            return;
        }
        self.flags |= flags;
        self.queued.push(Queued {
            cmd,
            id,
            argv: argv.iter().map(|a| a.to_vec()).collect(),
        });
    }
}

/// The watched keys of every database, and the clients a change has made dirty.
#[derive(Debug, Default)]
pub struct Watches {
    /// Database → key → who watches it, in the order they started.
    by_db: HashMap<usize, HashMap<Key, Vec<Watcher>>>,
    /// Client → the keys it watches, with their databases.
    by_client: HashMap<u64, Vec<(usize, Key)>>,
    /// Clients whose next EXEC fails.
    dirty: HashSet<u64>,
}

#[derive(Clone, Copy, Debug)]
struct Watcher {
    client: u64,
    /// The key had expired (but was still stored) when it was watched.
    expired: bool,
}

impl Watches {
    /// Whether any key is watched (the hook reports keys only while one is).
    pub fn is_empty(&self) -> bool {
        self.by_client.is_empty()
    }

    /// WATCH `key` of database `db` for `client`; `expired` says that the key is stored but
    /// its TTL has passed. Watching a key twice is watching it once.
    pub fn watch(&mut self, client: u64, db: usize, key: &[u8], expired: bool) {
        let keys = self.by_client.entry(client).or_default();
        if keys.iter().any(|(d, k)| *d == db && k.as_slice() == key) {
            return;
        }
        keys.push((db, Key::from_slice(key)));
        self.by_db
            .entry(db)
            .or_default()
            .entry(Key::from_slice(key))
            .or_default()
            .push(Watcher { client, expired });
    }

    /// Stops watching every key of `client` (UNWATCH, EXEC, DISCARD). Its dirty flag is
    /// the caller's to clear.
    pub fn unwatch(&mut self, client: u64) {
        let Some(keys) = self.by_client.remove(&client) else {
            return;
        };
        for (db, key) in keys {
            let Some(keys_of_db) = self.by_db.get_mut(&db) else {
                continue;
            };
            if let Some(watchers) = keys_of_db.get_mut(key.as_slice()) {
                watchers.retain(|w| w.client != client);
                if watchers.is_empty() {
                    keys_of_db.remove(key.as_slice());
                }
            }
            if keys_of_db.is_empty() {
                self.by_db.remove(&db);
            }
        }
    }

    /// Whether `client`'s transaction must fail, clearing the flag (EXEC, DISCARD,
    /// UNWATCH).
    pub fn take_dirty(&mut self, client: u64) -> bool {
        self.dirty.remove(&client)
    }

    /// How many keys `client` watches.
    pub fn count(&self, client: u64) -> usize {
        self.by_client.get(&client).map_or(0, Vec::len)
    }

    pub fn is_dirty(&self, client: u64) -> bool {
        self.dirty.contains(&client)
    }

    /// A disconnected client watches nothing.
    pub fn forget(&mut self, client: u64) {
        self.unwatch(client);
        self.dirty.remove(&client);
    }

    /// Redis's `touchWatchedKey`: `key` of database `db` changed; `exists` says whether it
    /// is stored now. Its watchers become dirty (and stop watching: nothing can undo
    /// that), except one that watched it already expired and sees it deleted now.
    pub fn touched(&mut self, db: usize, key: &[u8], exists: bool) {
        let Some(watchers) = self.by_db.get_mut(&db).and_then(|keys| keys.get_mut(key)) else {
            return;
        };
        let mut dirty = Vec::new();
        for w in watchers.iter_mut() {
            if w.expired && !exists {
                w.expired = false;
            } else {
                dirty.push(w.client);
            }
        }
        self.make_dirty(dirty);
    }

    /// Redis's `touchAllWatchedKeysInDb`: database `db` is about to be emptied (FLUSHDB,
    /// FLUSHALL) or, with `replaced_with`, to trade contents with another (SWAPDB). A
    /// watcher becomes dirty when its key is stored in either, except when an expired key
    /// only goes (or stays expired).
    pub fn emptied(&mut self, db: usize, emptied: &Db, replaced_with: Option<&Db>, now: Millis) {
        let Some(keys) = self.by_db.get_mut(&db) else {
            return;
        };
        let stored = |db: &Db, key: &[u8]| db.dict().get(key).is_some();
        let expired = |db: &Db, key: &[u8]| db.dict().get(key).is_some_and(|e| e.is_expired(now));
        let mut dirty = Vec::new();
        for (key, watchers) in keys.iter_mut() {
            let in_emptied = stored(emptied, key);
            let in_replacement = replaced_with.is_some_and(|r| stored(r, key));
            if !in_emptied && !in_replacement {
                continue;
            }
            let replacement_expired = replaced_with.is_some_and(|r| expired(r, key));
            for w in watchers.iter_mut() {
                if w.expired {
                    // An expired key that only goes is no change; one that stays expired
                    // neither.
                    if !in_replacement {
                        w.expired = false;
                    } else if !replacement_expired {
                        dirty.push(w.client);
                    }
                } else if !in_emptied && replacement_expired {
                    // A missing key replaced by an expired one.
                    w.expired = true;
                } else {
                    dirty.push(w.client);
                }
            }
        }
        self.make_dirty(dirty);
    }

    /// Redis's `isWatchedKeyExpired`, at EXEC: a key `client` watched while it was live
    /// has expired since (and nobody has looked at it, which would have deleted it).
    pub fn expired_since_watched(&self, client: u64, dbs: &[Db], now: Millis) -> bool {
        let Some(keys) = self.by_client.get(&client) else {
            return false;
        };
        keys.iter().any(|(db, key)| {
            let watched_live = self.by_db[db][key.as_slice()]
                .iter()
                .any(|w| w.client == client && !w.expired);
            watched_live && dbs[*db].dict().get(key).is_some_and(|e| e.is_expired(now))
        })
    }

    fn make_dirty(&mut self, clients: Vec<u64>) {
        for client in clients {
            self.dirty.insert(client);
            self.unwatch(client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_makes_every_watcher_dirty_once_and_ends_their_watch() {
        let mut w = Watches::default();
        w.watch(1, 0, b"k", false);
        w.watch(2, 0, b"k", false);
        w.watch(2, 0, b"k", false);
        w.watch(3, 1, b"k", false);
        w.touched(0, b"k", true);
        assert!(w.is_dirty(1) && w.is_dirty(2) && !w.is_dirty(3));
        assert!(w.take_dirty(1));
        assert!(!w.take_dirty(1));
        // 1 and 2 watch nothing any more; 3 still watches db 1.
        assert!(!w.is_empty());
        w.touched(1, b"k", false);
        assert!(w.is_dirty(3));
        assert!(w.is_empty());
    }

    #[test]
    fn unwatch_removes_only_that_client() {
        let mut w = Watches::default();
        w.watch(1, 0, b"a", false);
        w.watch(2, 0, b"a", false);
        w.unwatch(1);
        w.touched(0, b"a", true);
        assert!(!w.is_dirty(1));
        assert!(w.is_dirty(2));
    }

    #[test]
    fn an_expired_key_going_away_is_no_change_but_coming_back_is() {
        let mut w = Watches::default();
        w.watch(1, 0, b"k", true);
        w.touched(0, b"k", false);
        assert!(!w.is_dirty(1));
        w.touched(0, b"k", true);
        assert!(w.is_dirty(1));

        w.watch(2, 0, b"j", true);
        w.touched(0, b"j", true);
        assert!(w.is_dirty(2));
    }
}
