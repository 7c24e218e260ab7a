//! Clients parked by blocking commands (the list pops and moves and, as their issues
//! land, the sorted-set and stream ones): who waits on which key, in the order they
//! blocked, and which written key is being served.
//!
//! A parked client's `Client` and the replies written for it while it waits live here, so
//! that a write by another connection serves it at once, under the same acquisition of
//! the lock, before that connection's next command (Redis's `handleClientsBlockedOnKeys`).
//! The parked connection's task only waits: it takes its client back when it is woken.
//! Nothing here does I/O.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use crate::command::{CommandSpec, Ctx};
use crate::keyspace::{Key, Value};
use crate::reply::Reply;
use crate::state::Client;

/// The keys a blocking pop (of any type) looks at, in order: all of them, or, when a
/// write to one of them woke the client, that one alone. Redis serves a woken client from
/// the key that became ready: not from an earlier key of its command that a transaction
/// filled too, and without a WRONGTYPE for an earlier key that became another type
/// meanwhile.
pub fn woken_by<'k>(ctx: &Ctx, keys: &'k [&'k [u8]]) -> &'k [&'k [u8]] {
    if !ctx.client.blocked {
        return keys;
    }
    let Some(ready) = ctx.state.blocked.serving(ctx.client.db) else {
        return keys;
    };
    match keys.iter().position(|k| *k == ready.as_slice()) {
        Some(i) => &keys[i..=i],
        None => keys,
    }
}

/// One parked client.
#[derive(Debug)]
pub struct Parked {
    pub client: Client,
    /// The command to run again (resolved once, with its `Registry` id), and its
    /// arguments.
    pub cmd: &'static CommandSpec,
    pub cmd_id: usize,
    pub argv: Vec<Vec<u8>>,
    /// The database of its keys.
    pub db: usize,
    pub keys: Vec<Key>,
    pub deadline: Option<Instant>,
    pub ready_when: fn(&Value) -> bool,
    /// Whether any write to one of its keys runs its command again (`Block`'s).
    pub wake_on_every_write: bool,
    /// What was answered for it while it waited: the reply of its command when served,
    /// a null array or an error when CLIENT UNBLOCK ended the wait.
    pub out: Reply,
}

#[derive(Debug, Default)]
pub struct Blocked {
    /// Parked clients by id, still waiting.
    waiting: HashMap<u64, Parked>,
    /// Clients waiting on each key, in the order they blocked.
    by_key: HashMap<(usize, Key), VecDeque<u64>>,
    /// Keys written since the last serving that somebody waits on (Redis's `ready_keys`),
    /// in the order they were written, each once.
    ready: VecDeque<(usize, Key)>,
    ready_set: HashSet<(usize, Key)>,
    /// The ready key whose waiters are being served (the last `next_ready`): a woken
    /// command takes from this key, whatever the order of its own keys, as Redis serves
    /// a client from the key that became ready.
    serving: Option<(usize, Key)>,
    /// Clients whose wait has ended, for their connection to take back.
    finished: HashMap<u64, Parked>,
}

impl Blocked {
    /// Whether anybody waits (the modification hook keeps keys only then).
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Number of clients waiting (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// What wakes client `id`, if it waits.
    pub fn ready_when(&self, id: u64) -> Option<fn(&Value) -> bool> {
        self.waiting.get(&id).map(|p| p.ready_when)
    }

    /// Whether any write to its keys wakes client `id` (see `Block::wake_on_every_write`).
    pub fn wakes_on_every_write(&self, id: u64) -> bool {
        self.waiting.get(&id).is_some_and(|p| p.wake_on_every_write)
    }

    /// Parks a client on the keys of its `Parked`.
    pub fn park(&mut self, parked: Parked) {
        let id = parked.client.id;
        for key in &parked.keys {
            let queue = self.by_key.entry((parked.db, key.clone())).or_default();
            // BLPOP k k waits once on k.
            if !queue.contains(&id) {
                queue.push_back(id);
            }
        }
        self.waiting.insert(id, parked);
    }

    /// Takes client `id` out of every queue it waits in, still waiting or not.
    pub fn unpark(&mut self, id: u64) -> Option<Parked> {
        let parked = self.waiting.remove(&id)?;
        for key in &parked.keys {
            let slot = (parked.db, key.clone());
            if let Some(queue) = self.by_key.get_mut(&slot) {
                queue.retain(|&waiter| waiter != id);
                if queue.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        Some(parked)
    }

    /// Notes a write to `key` of database `db`, if somebody waits on it.
    pub fn key_written(&mut self, db: usize, key: Key) {
        let slot = (db, key);
        if self.by_key.contains_key(&slot) && self.ready_set.insert(slot.clone()) {
            self.ready.push_back(slot);
        }
    }

    /// The keys of database `db` somebody waits on.
    pub fn waited_keys(&self, db: usize) -> Vec<Key> {
        self.by_key
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, key)| key.clone())
            .collect()
    }

    /// Marks every key of database `db` that somebody waits on as ready to look at again:
    /// the database changed wholesale (Redis's `scanDatabaseForReadyKeys`, after SWAPDB).
    pub fn database_changed(&mut self, db: usize) {
        let keys: Vec<Key> = self
            .by_key
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, key)| key.clone())
            .collect();
        for key in keys {
            self.key_written(db, key);
        }
    }

    /// Whether a written key waits to be served.
    #[inline]
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The next written key that somebody waits on, which is then the key being served
    /// (`serving`) until the next call; `None` once all are served.
    pub fn next_ready(&mut self) -> Option<(usize, Key)> {
        let Some(slot) = self.ready.pop_front() else {
            self.serving = None;
            return None;
        };
        self.ready_set.remove(&slot);
        self.serving = Some(slot.clone());
        Some(slot)
    }

    /// The key whose waiters are being served, if it is in database `db`. Only a woken
    /// client's command runs while it is set.
    pub fn serving(&self, db: usize) -> Option<&Key> {
        self.serving
            .as_ref()
            .filter(|(d, _)| *d == db)
            .map(|(_, key)| key)
    }

    /// The clients waiting on `key` of `db`, first blocked first.
    pub fn waiters(&self, db: usize, key: &Key) -> Vec<u64> {
        self.by_key
            .get(&(db, key.clone()))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Puts back a client taken with `unpark` to run its command, at the place it had:
    /// its command found nothing after all and waits on.
    pub fn repark(&mut self, parked: Parked, positions: Vec<((usize, Key), usize)>) {
        let id = parked.client.id;
        for (slot, at) in positions {
            let queue = self.by_key.entry(slot).or_default();
            queue.insert(at.min(queue.len()), id);
        }
        self.waiting.insert(id, parked);
    }

    /// Where client `id` stands in each queue it waits in.
    pub fn positions(&self, id: u64) -> Vec<((usize, Key), usize)> {
        let Some(parked) = self.waiting.get(&id) else {
            return Vec::new();
        };
        parked
            .keys
            .iter()
            .filter_map(|key| {
                let slot = (parked.db, key.clone());
                let at = self.by_key.get(&slot)?.iter().position(|&w| w == id)?;
                Some((slot, at))
            })
            .collect()
    }

    /// Hands a client whose wait ended to its connection.
    pub fn finish(&mut self, parked: Parked) {
        self.finished.insert(parked.client.id, parked);
    }

    /// The client `id` back, once its wait has ended.
    pub fn take_finished(&mut self, id: u64) -> Option<Parked> {
        self.finished.remove(&id)
    }

    /// Forgets client `id` (its connection closed).
    pub fn forget(&mut self, id: u64) {
        self.unpark(id);
        self.finished.remove(&id);
    }
}
