//! How commands reach a database: `DbMut`, the selected database seen through the one
//! modification hook. Every write made through it reports the key it changed to
//! `Modifications` (Redis's `signalModifiedKey` / `signalFlushedDb`), so WATCH, keyspace
//! notifications, blocked clients, client tracking and the cluster's slot index all hang
//! on one path. Typed access (`read::<T>`, `write::<T>`) answers WRONGTYPE in one place.
//!
//! A handler cannot change a value without saying whether it did: a `Written` guard that
//! was borrowed mutably must be told `changed(n)` or `unchanged()` before it goes (checked
//! in debug builds), and it deletes a collection that it leaves empty, as Redis does.

use std::marker::PhantomData;

use super::{Db, Entry, EntryRef, Key, Millis, Value};
use crate::config::notify;
use crate::errors::{self, CommandError};
use crate::multi::Watches;
use crate::types::{HashValue, ListValue, SetValue, StreamValue, ZsetValue};

/// What the keyspace reports after writes: Redis's `dirty` counter and, while somebody
/// listens (blocked clients today; WATCH, notifications and tracking later), the keys
/// changed since the dispatcher last drained them.
#[derive(Debug, Default)]
pub struct Modifications {
    /// Changes since start (Redis's `dirty`, INFO `rdb_changes_since_last_save`).
    pub dirty: u64,
    /// Keys changed, with their database, in order; only kept while `listening`.
    keys: Vec<(usize, Key)>,
    /// Whether anybody needs the keys (copying them costs on the hot path otherwise).
    pub listening: bool,
    /// A database was emptied while `listening`.
    flush_logged: bool,
    /// WATCHed keys: told of each change as it happens (Redis's `touchWatchedKey`).
    pub watches: Watches,
    /// `notify-keyspace-events`, as `config::notify` bits.
    pub notify_flags: u32,
    /// Keyspace events not published yet, in order (`dispatch::call` publishes them).
    events: Vec<Event>,
    /// Cluster mode: the keys of database 0 by hash slot, kept here so that no write can
    /// miss it. `None` on a standalone server, which then pays one test per write.
    pub slot_keys: Option<Box<crate::cluster::SlotKeys>>,
    /// How a lookup stamps the key it finds (LRU clock or LFU counter), for eviction and
    /// OBJECT IDLETIME/FREQ; `evict::before_command` keeps it in step with the config.
    pub access: crate::evict::Access,
    /// Whether the keys the server deletes on its own (expiry, eviction) are kept for
    /// `propagate`, which sends them on as DEL (an AOF, replicas).
    pub log_deletions: bool,
    deleted: Vec<(usize, Key)>,
}

/// A keyspace event (Redis's `notifyKeyspaceEvent`): its class, its name, and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub class: u32,
    pub name: &'static str,
    pub db: usize,
    pub key: Key,
}

impl Modifications {
    /// Records `changes` changes to `key` in database `db`, which holds it afterwards or
    /// not (`exists`). Zero changes signal nothing.
    #[inline]
    pub fn key(&mut self, db: usize, key: &[u8], changes: u64, exists: bool) {
        if changes == 0 {
            return;
        }
        self.signal(db, key, changes, exists);
    }

    /// Signals `key` as changed, adding `changes` (maybe none) to the dirty counter: for
    /// the commands Redis signals even when they change nothing (LTRIM), and for expiry.
    #[inline]
    pub fn signal(&mut self, db: usize, key: &[u8], changes: u64, exists: bool) {
        self.dirty += changes;
        if self.listening {
            self.keys.push((db, Key::from_slice(key)));
        }
        if !self.watches.is_empty() {
            self.watches.touched(db, key, exists);
        }
        if let Some(index) = &mut self.slot_keys {
            if db == 0 {
                index.note(key, exists);
            }
        }
    }

    /// Records keyspace event `name` of `class` for `key` of database `db`, if
    /// `notify-keyspace-events` asks for that class (and for keyspace or keyevent
    /// channels at all).
    #[inline]
    pub fn event(&mut self, class: u32, name: &'static str, db: usize, key: &[u8]) {
        use crate::config::notify::{KEYEVENT, KEYSPACE};
        let flags = self.notify_flags;
        if flags & class != 0 && flags & (KEYSPACE | KEYEVENT) != 0 {
            self.record_event(class, name, db, key);
        }
    }

    /// Out of line: with notifications off (the common case) nothing here runs, and the
    /// lookups that may record an event stay small enough to inline.
    #[cold]
    #[inline(never)]
    fn record_event(&mut self, class: u32, name: &'static str, db: usize, key: &[u8]) {
        self.events.push(Event {
            class,
            name,
            db,
            key: Key::from_slice(key),
        });
    }

    /// Whether events wait to be published.
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The events recorded since the last call, in order.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Records that database `db` was emptied (FLUSHDB, FLUSHALL, SWAPDB): `changes` keys.
    pub fn flushed(&mut self, db: usize, changes: u64) {
        self.dirty += changes;
        if let Some(index) = &mut self.slot_keys {
            if db == 0 {
                index.clear();
            }
        }
        if self.listening {
            self.flush_logged = true;
        }
    }

    /// Whether a flush was logged since the last `take_flush` (client tracking tells
    /// every tracking client).
    #[inline]
    pub fn has_flush(&self) -> bool {
        self.flush_logged
    }

    pub fn take_flush(&mut self) -> bool {
        std::mem::take(&mut self.flush_logged)
    }

    /// A key the server deleted on its own (expired, evicted), for `propagate`.
    #[inline]
    pub fn deleted_by_server(&mut self, db: usize, key: &[u8]) {
        if self.log_deletions {
            self.deleted.push((db, Key::from_slice(key)));
        }
    }

    #[inline]
    pub fn has_deletions(&self) -> bool {
        !self.deleted.is_empty()
    }

    pub fn drain_deletions(&mut self) -> Vec<(usize, Key)> {
        std::mem::take(&mut self.deleted)
    }

    /// Whether keys wait to be drained.
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The keys changed since the last call, in order.
    pub fn drain_keys(&mut self) -> Vec<(usize, Key)> {
        std::mem::take(&mut self.keys)
    }
}

/// A value type a key can hold, for typed access.
pub trait Typed {
    /// The keyspace event class of its changes (`config::notify`).
    const CLASS: u32;
    /// Whether a value of this type can be left empty (a collection), so that a `Written`
    /// guard must look whether to delete it.
    const CAN_BE_EMPTY: bool;
    fn of(value: &Value) -> Option<&Self>;
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
    /// True for a collection with no members: such a key is deleted.
    fn is_empty_value(&self) -> bool {
        false
    }
}

/// Any value: untyped in-place access (strings, TTL-only changes).
impl Typed for Value {
    const CAN_BE_EMPTY: bool = false;
    const CLASS: u32 = notify::STRING;
    fn of(value: &Value) -> Option<&Self> {
        Some(value)
    }
    fn of_mut(value: &mut Value) -> Option<&mut Self> {
        Some(value)
    }
}

macro_rules! typed_collection {
    ($type:ty, $variant:ident, $class:ident) => {
        impl Typed for $type {
            const CLASS: u32 = notify::$class;
            fn of(value: &Value) -> Option<&Self> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }
            const CAN_BE_EMPTY: bool = true;
            fn is_empty_value(&self) -> bool {
                self.is_empty()
            }
        }
    };
}

typed_collection!(ListValue, List, LIST);
typed_collection!(HashValue, Hash, HASH);
typed_collection!(SetValue, Set, SET);
typed_collection!(ZsetValue, ZSet, ZSET);

impl Typed for StreamValue {
    const CLASS: u32 = notify::STREAM;
    // A stream stays when its last entry goes (XDEL, XTRIM), as in Redis.
    const CAN_BE_EMPTY: bool = false;
    fn of(value: &Value) -> Option<&Self> {
        match value {
            Value::Stream(v) => Some(v),
            _ => None,
        }
    }
    fn of_mut(value: &mut Value) -> Option<&mut Self> {
        match value {
            Value::Stream(v) => Some(v),
            _ => None,
        }
    }
}

/// One database as a command sees it, at the command's frozen clock `now`.
pub struct DbMut<'a> {
    db: &'a mut Db,
    mods: &'a mut Modifications,
    index: usize,
    now: Millis,
}

impl<'a> DbMut<'a> {
    #[inline]
    pub fn new(db: &'a mut Db, mods: &'a mut Modifications, index: usize, now: Millis) -> Self {
        DbMut {
            db,
            mods,
            index,
            now,
        }
    }

    /// This database's number.
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    /// The database itself, for what reads many keys (SCAN, KEYS, RANDOMKEY, DBSIZE).
    /// Expired keys it deletes on the way are counted by `Db` but not signalled.
    pub fn raw(&self) -> &Db {
        self.db
    }

    pub fn len(&self) -> usize {
        self.db.len()
    }

    pub fn is_empty(&self) -> bool {
        self.db.is_empty()
    }

    /// Deletes `key` if its TTL has passed, reporting the deletion. Its slot otherwise,
    /// with its access stamp renewed, as Redis's `lookupKey` does.
    #[inline]
    fn live(&mut self, key: &[u8]) -> Option<u32> {
        let idx = self.live_untouched(key)?;
        let dict = &mut self.db.dict;
        let stamp = self.mods.access.touched(dict.stamp(idx), self.now);
        dict.set_stamp(idx, stamp);
        Some(idx)
    }

    /// `live` without renewing the access stamp (Redis's `LOOKUP_NOTOUCH`: OBJECT, TYPE,
    /// TTL, EXISTS).
    #[inline]
    fn live_untouched(&mut self, key: &[u8]) -> Option<u32> {
        let (idx, expired) = self.db.expire_if_needed(key, self.now);
        if expired {
            self.expired(key);
        }
        idx
    }

    /// Stamps the key just created in slot `idx` as new (Redis's `createObject`).
    #[inline]
    fn stamp_new(&mut self, idx: u32) {
        let stamp = self.mods.access.fresh(self.now);
        self.db.dict.set_stamp(idx, stamp);
    }

    /// Looks a key up without counting a hit or a miss and without touching its access
    /// stamp (OBJECT).
    pub fn peek_untouched(&mut self, key: &[u8]) -> Option<EntryRef<'_>> {
        let idx = self.live_untouched(key)?;
        self.db.dict.at(idx)
    }

    /// The access stamp of `key` without touching it: the LRU clock of its last access, or
    /// under an LFU policy its minutes and counter (see `evict`).
    pub fn stamp_of(&mut self, key: &[u8]) -> Option<u32> {
        let idx = self.live_untouched(key)?;
        Some(self.db.dict.stamp(idx))
    }

    /// Sets the access stamp of `key` (RESTORE's IDLETIME and FREQ, an RDB file's IDLE
    /// and FREQ opcodes), or stamps it as new when `stamp` is `None` (a RESTOREd value is
    /// a new object, even where it replaced a key). False if the key is missing.
    pub fn set_stamp_of(&mut self, key: &[u8], stamp: Option<u32>) -> bool {
        let Some(idx) = self.db.dict.find(key) else {
            return false;
        };
        match stamp {
            Some(stamp) => self.db.dict.set_stamp(idx, stamp),
            None => self.stamp_new(idx),
        }
        true
    }

    /// A key lazy expiry just deleted: Redis signals it, without counting a change, and
    /// names it `expired`.
    #[cold]
    #[inline(never)]
    fn expired(&mut self, key: &[u8]) {
        self.mods.signal(self.index, key, 0, false);
        self.mods.deleted_by_server(self.index, key);
        self.mods.event(notify::EXPIRED, "expired", self.index, key);
    }

    /// A read that found nothing: INFO keyspace_misses and the `keymiss` event.
    #[inline]
    fn miss(&mut self, key: &[u8]) {
        self.db.stats.misses += 1;
        self.mods
            .event(notify::KEY_MISS, "keymiss", self.index, key);
    }

    /// Records keyspace event `name` of `class` for `key` of this database.
    #[inline]
    pub fn notify(&mut self, class: u32, name: &'static str, key: &[u8]) {
        self.mods.event(class, name, self.index, key);
    }

    /// Looks a key up for reading, counting a hit or a miss (INFO keyspace_hits/misses).
    #[inline]
    pub fn get(&mut self, key: &[u8]) -> Option<EntryRef<'_>> {
        match self.live(key) {
            Some(idx) => {
                self.db.stats.hits += 1;
                self.db.dict.at(idx)
            }
            None => {
                self.miss(key);
                None
            }
        }
    }

    /// `get` without renewing the key's access stamp (Redis's `LOOKUP_NOTOUCH` reads:
    /// EXISTS, TYPE, TTL).
    #[inline]
    pub fn get_untouched(&mut self, key: &[u8]) -> Option<EntryRef<'_>> {
        match self.live_untouched(key) {
            Some(idx) => {
                self.db.stats.hits += 1;
                self.db.dict.at(idx)
            }
            None => {
                self.miss(key);
                None
            }
        }
    }

    /// Looks a key up without counting a hit or a miss (what writes and TYPE-like
    /// commands do).
    #[inline]
    pub fn peek(&mut self, key: &[u8]) -> Option<EntryRef<'_>> {
        let idx = self.live(key)?;
        self.db.dict.at(idx)
    }

    /// True when the key exists and has not expired. Counts no hit or miss, touches
    /// nothing (EXISTS does not in Redis).
    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.live_untouched(key).is_some()
    }

    /// The TTL of `key` in ms since the epoch (`NO_EXPIRY` for none), `None` if absent.
    pub fn expire_at(&mut self, key: &[u8]) -> Option<Millis> {
        let idx = self.live_untouched(key)?;
        Some(self.db.dict.expire_at(idx))
    }

    /// The same database, borrowed again for a shorter while.
    #[inline]
    pub fn reborrow(&mut self) -> DbMut<'_> {
        DbMut {
            db: &mut *self.db,
            mods: &mut *self.mods,
            index: self.index,
            now: self.now,
        }
    }

    /// The value of `key` as a `T`, counting a hit or a miss; WRONGTYPE for another type.
    #[inline]
    pub fn read<T: Typed>(&mut self, key: &[u8]) -> Result<Option<&T>, CommandError> {
        self.reborrow().into_read(key)
    }

    /// `read`, for as long as the database was borrowed.
    #[inline]
    pub fn into_read<T: Typed>(mut self, key: &[u8]) -> Result<Option<&'a T>, CommandError> {
        let Some(idx) = self.live(key) else {
            self.miss(key);
            return Ok(None);
        };
        self.db.stats.hits += 1;
        match self.db.dict.at(idx).and_then(|e| T::of(e.value)) {
            Some(value) => Ok(Some(value)),
            None => Err(errors::WRONGTYPE.into()),
        }
    }

    /// The string value of `key` (an integer or bytes), counting a hit or a miss;
    /// WRONGTYPE for a collection.
    #[inline]
    pub fn read_string(&mut self, key: &[u8]) -> Result<Option<&Value>, CommandError> {
        match self.get(key) {
            None => Ok(None),
            Some(entry) if entry.value.is_string() => Ok(Some(entry.value)),
            Some(_) => Err(errors::WRONGTYPE.into()),
        }
    }

    /// Stores `value` under `key`, replacing any previous value and TTL.
    pub fn set(&mut self, key: &[u8], value: Value, expire_at: Millis) -> Option<Entry> {
        // With keyspace events on, a stale key expires first and a missing one is `new`,
        // as Redis's lookup-then-add does; otherwise one hash lookup is all it costs.
        let is_new = self.mods.notify_flags != 0 && self.live_untouched(key).is_none();
        let (idx, old) = self.db.dict.insert_slot(key, value, expire_at);
        // A new value is stamped afresh; an overwritten one is touched (Redis looks it up
        // for writing first) and under LFU keeps its counter (Redis's `dbSetValue`).
        if old.is_some() {
            let stamp = self.mods.access.touched(self.db.dict.stamp(idx), self.now);
            self.db.dict.set_stamp(idx, stamp);
        } else {
            self.stamp_new(idx);
        }
        if is_new {
            self.notify(notify::NEW, "new", key);
        }
        self.mods.key(self.index, key, 1, true);
        old
    }

    /// Removes `key`; a key that had already expired counts as absent.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let old = self.remove_live(key)?;
        self.mods.key(self.index, key, 1, false);
        Some(old)
    }

    /// Removes `key` to put its entry elsewhere (RENAME, MOVE): the key is signalled, and
    /// the change is counted once, by the write that puts the entry (one `dirty++` in
    /// Redis for the pair).
    pub fn take(&mut self, key: &[u8]) -> Option<Entry> {
        let old = self.remove_live(key)?;
        self.mods.signal(self.index, key, 0, false);
        Some(old)
    }

    /// Removes `key` for the eviction policy, reporting the change (the caller names the
    /// event). False when it was not there (or had just expired).
    pub(crate) fn evict_key(&mut self, key: &[u8]) -> bool {
        let Some(idx) = self.live_untouched(key) else {
            return false;
        };
        self.db.dict.remove_at(idx);
        // Signalled, not counted as a change (Redis's `performEvictions` adds no dirty).
        self.mods.signal(self.index, key, 0, false);
        self.mods.deleted_by_server(self.index, key);
        true
    }

    /// Removes `key` if it is live, without telling the hook: `remove` and `take` do, each
    /// in its own way.
    #[inline]
    fn remove_live(&mut self, key: &[u8]) -> Option<Entry> {
        let idx = self.live(key)?;
        self.db.dict.remove_at(idx)
    }

    /// Sets (or with `NO_EXPIRY` clears) the TTL of an existing key. False if absent.
    pub fn set_expire(&mut self, key: &[u8], expire_at: Millis) -> bool {
        match self.live(key) {
            Some(idx) => {
                self.db.dict.set_expire(idx, expire_at);
                self.mods.key(self.index, key, 1, true);
                true
            }
            None => false,
        }
    }

    /// Redis's active expiry cycle on this database (`Db::active_expire`), every key it
    /// deletes signalled as lazy expiry signals it: without counting a change.
    pub fn active_expire(&mut self, deadline: std::time::Instant) -> usize {
        let (mods, index) = (&mut *self.mods, self.index);
        self.db.active_expire(self.now, deadline, &mut |key| {
            mods.signal(index, key, 0, false);
            mods.deleted_by_server(index, key);
            mods.event(notify::EXPIRED, "expired", index, key);
        })
    }

    /// Empties the database (FLUSHDB), reporting how many keys went.
    pub fn clear(&mut self) -> usize {
        let n = self.db.len();
        if !self.mods.watches.is_empty() {
            self.mods
                .watches
                .emptied(self.index, self.db, None, self.now);
        }
        self.db.clear();
        self.mods.flushed(self.index, n as u64);
        n
    }

    /// The value of `key` as a `T` for changing in place; WRONGTYPE for another type.
    /// Counts no hit or miss.
    pub fn write<'s, T: Typed>(
        &'s mut self,
        key: &'s [u8],
    ) -> Result<Option<Written<'s, T>>, CommandError> {
        self.reborrow().into_write(key)
    }

    /// `write`, for as long as the database was borrowed.
    pub fn into_write<T: Typed>(
        mut self,
        key: &'a [u8],
    ) -> Result<Option<Written<'a, T>>, CommandError> {
        let Some(idx) = self.live(key) else {
            return Ok(None);
        };
        self.into_guard(key, idx).map(Some)
    }

    /// `write`, creating the key with `create()` when it is missing.
    pub fn write_or_create<'s, T: Typed>(
        &'s mut self,
        key: &'s [u8],
        create: impl FnOnce() -> Value,
    ) -> Result<Written<'s, T>, CommandError> {
        self.reborrow().into_write_or_create(key, create)
    }

    /// `write_or_create`, for as long as the database was borrowed.
    pub fn into_write_or_create<T: Typed>(
        mut self,
        key: &'a [u8],
        create: impl FnOnce() -> Value,
    ) -> Result<Written<'a, T>, CommandError> {
        let idx = match self.live(key) {
            Some(idx) => idx,
            None => {
                self.notify(notify::NEW, "new", key);
                let idx = self.db.dict.insert_slot(key, create(), super::NO_EXPIRY).0;
                self.stamp_new(idx);
                idx
            }
        };
        self.into_guard(key, idx)
    }

    fn into_guard<T: Typed>(self, key: &'a [u8], idx: u32) -> Result<Written<'a, T>, CommandError> {
        let typed = self
            .db
            .dict
            .at(idx)
            .is_some_and(|e| T::of(e.value).is_some());
        if !typed {
            return Err(errors::WRONGTYPE.into());
        }
        Ok(Written {
            db: self.db,
            mods: self.mods,
            index: self.index,
            key,
            idx,
            changes: 0,
            reported: false,
            touched: false,
            borrowed_mut: false,
            _type: PhantomData,
        })
    }
}

/// A key's value borrowed for a change in place. Say what changed with `changed(n)` (or
/// `unchanged()`); when the guard goes, a change is reported through the hook and a
/// collection left empty is deleted.
pub struct Written<'w, T: Typed> {
    db: &'w mut Db,
    mods: &'w mut Modifications,
    index: usize,
    key: &'w [u8],
    idx: u32,
    changes: u64,
    reported: bool,
    touched: bool,
    borrowed_mut: bool,
    _type: PhantomData<fn() -> T>,
}

impl<T: Typed> Written<'_, T> {
    /// Records `n` changes (Redis's `dirty += n`); any change signals the key once and,
    /// if there was one, records keyspace event `event` (of the type's class), as the
    /// command that changed the value names it in Redis.
    pub fn changed(&mut self, n: u64, event: &'static str) {
        self.changes += n;
        self.reported = true;
        if n > 0 {
            self.notify(event);
        }
    }

    /// Records keyspace event `event` of the type's class for this key, changed or not
    /// (LTRIM names itself even when it trims nothing).
    pub fn notify(&mut self, event: &'static str) {
        self.mods.event(T::CLASS, event, self.index, self.key);
    }

    /// Says that nothing changed (an error after a look, a no-op).
    pub fn unchanged(&mut self) {
        self.reported = true;
    }

    /// Counts `n` changes that are no key change (Redis's `dirty += n` without
    /// `signalModifiedKey`: a consumer group's reads, claims and acknowledgements), so
    /// that they are saved and propagated while WATCH sees nothing.
    pub fn counted(&mut self, n: u64) {
        self.mods.dirty += n;
    }

    /// Signals the key even if `changed` counts nothing, as Redis does for a few commands
    /// (LTRIM of the whole list).
    pub fn touched(&mut self) {
        self.reported = true;
        self.touched = true;
    }
}

impl<T: Typed> std::ops::Deref for Written<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.db
            .dict
            .at(self.idx)
            .and_then(|e| T::of(e.value))
            .expect("a Written guard's slot holds a value of its type")
    }
}

impl<T: Typed> std::ops::DerefMut for Written<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.borrowed_mut = true;
        self.db
            .dict
            .value_mut(self.idx)
            .and_then(T::of_mut)
            .expect("a Written guard's slot holds a value of its type")
    }
}

impl<T: Typed> Drop for Written<'_, T> {
    fn drop(&mut self) {
        debug_assert!(
            self.reported || !self.borrowed_mut || std::thread::panicking(),
            "a value changed in place without saying whether it changed"
        );
        let empty = T::CAN_BE_EMPTY
            && self
                .db
                .dict
                .at(self.idx)
                .and_then(|e| T::of(e.value))
                .is_some_and(T::is_empty_value);
        if empty {
            self.db.dict.remove_at(self.idx);
            // After the command's own event, as Redis's `del` for an emptied collection.
            self.mods
                .event(notify::GENERIC, "del", self.index, self.key);
        }
        if self.changes > 0 || self.touched || empty {
            self.mods.signal(self.index, self.key, self.changes, !empty);
        }
    }
}
