//! Client-side caching: replies of reads kept in the client, kept true by the server's
//! invalidation messages (RESP3 `CLIENT TRACKING`).
//!
//! Opt-in (`ConfigBuilder::client_cache`). The handshake turns tracking on for every new
//! connection (default mode, or BCAST with the configured prefixes). A read is cached by
//! its exact command: a read-only command with keys, whose output depends on nothing but
//! those keys (not Redis's `nondeterministic_output`, so no TTL or SRANDMEMBER), and, in
//! BCAST mode, whose keys are all under a prefix.
//!
//! Ordering is what keeps it correct, and the connection's actor does both halves in the
//! order the server wrote them: it stores a reply when it reads it, and it applies an
//! invalidation when it reads it. The server sends a key's invalidation after every
//! reply that read the key's old value, so a stale reply stored is always removed by a
//! message that follows it; and a read answered from the cache after the invalidation
//! arrived cannot see the old value. Whatever was in flight when a connection was lost,
//! the cache is emptied for every new connection (an invalidation may have been missed),
//! and serves nothing while no tracked connection is up.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use lockstep_resp::Frame;

use crate::cmd::Cmd;

/// What `ConfigBuilder::client_cache` turns on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheOptions {
    /// Most replies kept; the oldest go first.
    pub max_entries: usize,
    /// BCAST mode with these key prefixes (the server tells of every change under them,
    /// read or not; only keys under them are cached). `None`: default mode (the server
    /// remembers the keys this client read).
    pub bcast_prefixes: Option<Vec<Bytes>>,
}

impl Default for CacheOptions {
    fn default() -> CacheOptions {
        CacheOptions {
            max_entries: 10_000,
            bcast_prefixes: None,
        }
    }
}

impl CacheOptions {
    /// The CLIENT TRACKING command the handshake sends.
    pub(crate) fn tracking_command(&self) -> Cmd {
        let mut c = crate::cmd::cmd("CLIENT").arg("TRACKING").arg("ON");
        if let Some(prefixes) = &self.bcast_prefixes {
            c = c.arg("BCAST");
            for p in prefixes {
                c = c.arg("PREFIX").arg(p);
            }
        }
        c
    }
}

#[derive(Default)]
struct Entries {
    /// Encoded command → its reply.
    replies: HashMap<Bytes, Frame>,
    /// Key → the encoded commands whose replies read it.
    readers: HashMap<Bytes, Vec<Bytes>>,
    /// Encoded commands in the order they were stored (with the keys they read), for
    /// eviction; an entry already gone is skipped.
    order: VecDeque<(Bytes, Vec<Bytes>)>,
}

impl Entries {
    fn remove(&mut self, request: &Bytes, keys: &[Bytes]) {
        if self.replies.remove(request).is_none() {
            return;
        }
        for key in keys {
            if let Some(readers) = self.readers.get_mut(key) {
                readers.retain(|r| r != request);
                if readers.is_empty() {
                    self.readers.remove(key);
                }
            }
        }
    }
}

/// One client's cache, shared by its handles and its connection's actor.
pub(crate) struct Cache {
    opts: CacheOptions,
    entries: Mutex<Entries>,
    /// A connection with tracking on is Ready: only then are replies served and stored.
    active: AtomicBool,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) flushes: AtomicU64,
}

impl Cache {
    pub(crate) fn new(opts: CacheOptions) -> Cache {
        Cache {
            opts,
            entries: Mutex::new(Entries::default()),
            active: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The keys of `cmd` when its reply may be cached.
    pub(crate) fn cacheable(&self, cmd: &Cmd) -> Option<Vec<Bytes>> {
        let c = cmd.spec().command()?;
        if !c.has(lockstep_commands::flags::READONLY)
            || c.has(lockstep_commands::flags::BLOCKING)
            || c.tips.contains(&"nondeterministic_output")
        {
            return None;
        }
        let args: Vec<&[u8]> = cmd.args().collect();
        let positions = c.key_positions(&args)?;
        if positions.is_empty() {
            return None;
        }
        let keys: Vec<Bytes> = positions
            .iter()
            .map(|&i| Bytes::copy_from_slice(args[i]))
            .collect();
        if let Some(prefixes) = &self.opts.bcast_prefixes {
            let covered = |k: &Bytes| prefixes.iter().any(|p| k.starts_with(p));
            if !keys.iter().all(covered) {
                return None;
            }
        }
        Some(keys)
    }

    /// The cached reply of an encoded command, counting the hit or the miss.
    pub(crate) fn get(&self, request: &Bytes) -> Option<Frame> {
        let found = if self.active.load(Ordering::Acquire) {
            self.entries().replies.get(request).cloned()
        } else {
            None
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Stores a reply read from the connection (from the actor, in stream order).
    pub(crate) fn store(&self, request: Bytes, keys: Vec<Bytes>, reply: &Frame) {
        if !self.active.load(Ordering::Acquire) || matches!(reply, Frame::Error(_)) {
            return;
        }
        let mut e = self.entries();
        if let Some(held) = e.replies.get_mut(&request) {
            *held = reply.clone();
            return;
        }
        while e.replies.len() >= self.opts.max_entries.max(1) {
            let Some((old, old_keys)) = e.order.pop_front() else {
                break;
            };
            e.remove(&old, &old_keys);
        }
        for key in &keys {
            e.readers
                .entry(key.clone())
                .or_default()
                .push(request.clone());
        }
        e.replies.insert(request.clone(), reply.clone());
        e.order.push_back((request, keys));
        // Invalidations leave their entries in `order`: drop those before it outgrows
        // the cache.
        if e.order.len() > 2 * self.opts.max_entries.max(1) {
            let Entries { replies, order, .. } = &mut *e;
            order.retain(|(r, _)| replies.contains_key(r));
        }
    }

    /// A push frame the connection read: an invalidation drops what read its keys (all,
    /// for a flush), a broken redirection drops everything.
    pub(crate) fn on_push(&self, frame: &Frame) {
        let Frame::Push(items) = frame else {
            return;
        };
        match items.first().and_then(|k| k.as_bytes()) {
            Some(b"invalidate") => match items.get(1) {
                Some(Frame::Array(keys)) => {
                    let mut e = self.entries();
                    for key in keys.iter().filter_map(|k| k.as_bytes()) {
                        self.invalidations.fetch_add(1, Ordering::Relaxed);
                        if let Some(readers) = e.readers.remove(key) {
                            for r in readers {
                                e.replies.remove(&r);
                            }
                        }
                    }
                }
                _ => self.flush(),
            },
            Some(b"tracking-redir-broken") => self.flush(),
            _ => {}
        }
    }

    /// Empties the cache.
    pub(crate) fn flush(&self) {
        let mut e = self.entries();
        *e = Entries::default();
        self.flushes.fetch_add(1, Ordering::Relaxed);
    }

    /// A tracked connection came up (`true`: emptied first, since invalidations may have
    /// been missed meanwhile) or went away (`false`).
    pub(crate) fn set_active(&self, active: bool) {
        self.active.store(false, Ordering::Release);
        self.flush();
        self.active.store(active, Ordering::Release);
    }

    pub(crate) fn stats(&self) -> crate::metrics::CacheStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        crate::metrics::CacheStats {
            hits: g(&self.hits),
            misses: g(&self.misses),
            invalidations: g(&self.invalidations),
            flushes: g(&self.flushes),
            entries: self.len() as u64,
        }
    }

    /// Replies held now.
    pub(crate) fn len(&self) -> usize {
        self.entries().replies.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::cmd;

    fn push(items: Vec<Frame>) -> Frame {
        Frame::Push(items)
    }

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn reads_of_their_keys_only_are_cacheable() {
        let cache = Cache::new(CacheOptions::default());
        assert!(cache.cacheable(&cmd("GET").arg("k")).is_some());
        assert_eq!(
            cache
                .cacheable(&cmd("MGET").arg("a").arg("b"))
                .map(|k| k.len()),
            Some(2)
        );
        assert!(cache.cacheable(&cmd("HGETALL").arg("h")).is_some());
        assert!(cache.cacheable(&cmd("SET").arg("k").arg("v")).is_none());
        assert!(cache.cacheable(&cmd("TTL").arg("k")).is_none());
        assert!(cache.cacheable(&cmd("SRANDMEMBER").arg("s")).is_none());
        assert!(cache.cacheable(&cmd("PING")).is_none());
        assert!(cache.cacheable(&cmd("NOSUCH").arg("k")).is_none());
        let bcast = Cache::new(CacheOptions {
            bcast_prefixes: Some(vec![Bytes::from_static(b"user:")]),
            ..CacheOptions::default()
        });
        assert!(bcast.cacheable(&cmd("GET").arg("user:1")).is_some());
        assert!(bcast.cacheable(&cmd("GET").arg("other")).is_none());
        assert!(bcast
            .cacheable(&cmd("MGET").arg("user:1").arg("other"))
            .is_none());
    }

    #[test]
    fn an_invalidation_drops_every_reply_that_read_the_key() {
        let cache = Cache::new(CacheOptions::default());
        cache.set_active(true);
        let get = cmd("GET").arg("a").encode();
        let mget = cmd("MGET").arg("a").arg("b").encode();
        let other = cmd("GET").arg("b").encode();
        cache.store(get.clone(), vec![Bytes::from_static(b"a")], &bulk("1"));
        cache.store(
            mget.clone(),
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
            &Frame::Array(vec![bulk("1"), bulk("2")]),
        );
        cache.store(other.clone(), vec![Bytes::from_static(b"b")], &bulk("2"));
        assert_eq!(cache.get(&get), Some(bulk("1")));
        cache.on_push(&push(vec![
            bulk("invalidate"),
            Frame::Array(vec![bulk("a")]),
        ]));
        assert_eq!(cache.get(&get), None);
        assert_eq!(cache.get(&mget), None);
        assert_eq!(cache.get(&other), Some(bulk("2")));
        // A flush (null keys) drops everything.
        cache.on_push(&push(vec![bulk("invalidate"), Frame::Null]));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn errors_are_not_stored_and_nothing_is_served_while_inactive() {
        let cache = Cache::new(CacheOptions::default());
        let get = cmd("GET").arg("a").encode();
        cache.store(get.clone(), vec![Bytes::from_static(b"a")], &bulk("1"));
        assert_eq!(cache.len(), 0, "inactive: not stored");
        cache.set_active(true);
        cache.store(
            get.clone(),
            vec![Bytes::from_static(b"a")],
            &Frame::Error(Bytes::from_static(b"WRONGTYPE x")),
        );
        assert_eq!(cache.len(), 0);
        cache.store(get.clone(), vec![Bytes::from_static(b"a")], &bulk("1"));
        assert_eq!(cache.get(&get), Some(bulk("1")));
        cache.set_active(false);
        assert_eq!(cache.get(&get), None);
        cache.set_active(true);
        assert_eq!(cache.get(&get), None, "a new connection starts empty");
    }

    #[test]
    fn the_oldest_replies_go_when_full() {
        let cache = Cache::new(CacheOptions {
            max_entries: 3,
            ..CacheOptions::default()
        });
        cache.set_active(true);
        let gets: Vec<Bytes> = (0..5).map(|i| cmd("GET").arg(i).encode()).collect();
        for (i, g) in gets.iter().enumerate() {
            let key = Bytes::from(i.to_string());
            cache.store(g.clone(), vec![key], &bulk("v"));
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&gets[0]), None);
        assert_eq!(cache.get(&gets[4]), Some(bulk("v")));
        // An invalidation of an evicted key's reader is harmless.
        cache.on_push(&push(vec![
            bulk("invalidate"),
            Frame::Array(vec![bulk("0")]),
        ]));
        assert_eq!(cache.len(), 3);
    }
}
