//! Client-side caching (Redis's tracking.c): which clients track which keys, and the
//! invalidation messages a change sends them.
//!
//! In the default mode a client is remembered for every key a read-only command of its
//! read (`remember`), and told once when that key changes (`invalidate`); in BCAST mode
//! it is told of every change to a key under one of its prefixes, whatever it read. The
//! modification hook's key log feeds `invalidate`, from `dispatch::call` after each command
//! and from the expiry cycle. Default-mode clients are told at once; BCAST clients once the
//! batch of commands ends (`broadcast`), all keys of a prefix in one message, in key order,
//! as Redis does before it sleeps. A message goes to the client itself as a RESP3 push
//! (`invalidate [keys]`), or to the client it redirects to: a push again in RESP3, a
//! `__redis__:invalidate` message for a RESP2 client subscribed to that channel.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::reply::{Protocol, Reply};
use crate::state::{Client, State};

/// The channel a RESP2 redirect target receives invalidations on.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

/// One tracking client's settings (CLIENT TRACKING ON ...).
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    /// The client the messages go to (0: this one).
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// BCAST prefixes ("" for every key when none was given).
    pub prefixes: Vec<Vec<u8>>,
    /// The redirect target went away (CLIENT LIST flag `R`).
    pub broken_redirect: bool,
    /// CLIENT CACHING YES/NO, for the next command (OPTIN/OPTOUT).
    pub caching: Option<bool>,
}

#[derive(Debug, Default)]
pub struct Tracking {
    clients: HashMap<u64, Tracker>,
    /// Key → the clients (default mode) that read it since its last invalidation.
    keys: HashMap<Vec<u8>, HashSet<u64>>,
    /// BCAST prefix → its clients.
    prefixes: BTreeMap<Vec<u8>, HashSet<u64>>,
    /// BCAST prefix → the keys under it changed since the last `broadcast`, each with the
    /// client that changed it (`None`: several did, or none did, as expiry).
    pending: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Option<u64>>>,
}

impl Tracking {
    /// Whether no client tracks (the modification hook then logs no keys for tracking).
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn get_mut(&mut self, client: u64) -> Option<&mut Tracker> {
        self.clients.get_mut(&client)
    }

    pub fn get(&self, client: u64) -> Option<&Tracker> {
        self.clients.get(&client)
    }

    /// Turns tracking on (or changes its options) for `client`.
    pub fn enable(&mut self, client: u64, tracker: Tracker) {
        self.disable_prefixes(client);
        if tracker.bcast {
            let prefixes = if tracker.prefixes.is_empty() {
                vec![Vec::new()]
            } else {
                tracker.prefixes.clone()
            };
            for prefix in prefixes {
                self.prefixes.entry(prefix).or_default().insert(client);
            }
        }
        self.clients.insert(client, tracker);
    }

    /// Turns tracking off for `client` (CLIENT TRACKING OFF, disconnect). Keys it read
    /// stay in the table until they change, as in Redis; they are no longer sent.
    pub fn disable(&mut self, client: u64) {
        self.disable_prefixes(client);
        self.clients.remove(&client);
    }

    fn disable_prefixes(&mut self, client: u64) {
        self.prefixes.retain(|_, ids| {
            ids.remove(&client);
            !ids.is_empty()
        });
    }

    /// Redis's `trackingRememberKeys`: `client` read `keys`.
    pub fn remember(&mut self, client: u64, keys: impl Iterator<Item = Vec<u8>>) {
        for key in keys {
            self.keys.entry(key).or_default().insert(client);
        }
    }

    /// The BCAST prefixes that collide with `prefix` for `client` (Redis refuses a prefix
    /// that is a prefix of another of the same client's, or has one).
    pub fn colliding_prefix<'a>(existing: &'a [Vec<u8>], prefix: &[u8]) -> Option<&'a [u8]> {
        existing
            .iter()
            .find(|p| p.starts_with(prefix) || prefix.starts_with(p))
            .map(Vec::as_slice)
    }
}

/// What one invalidation is about: some keys, or every key (a flush).
enum Keys<'a> {
    List(&'a [&'a [u8]]),
    All,
}

/// Redis's `trackingInvalidateKey`: `key` changed, by `by` (the client whose command
/// changed it, if any). Clients that read it are told now (and forgotten); BCAST clients
/// with a matching prefix at the next `broadcast`. Messages for `by` itself go into its
/// reply buffer, after its reply.
pub fn invalidate(state: &mut State, key: &[u8], by: Option<(&Client, &mut Reply)>) {
    let by_id = by.as_ref().map(|(c, _)| c.id);
    let tracking = &mut state.tracking;
    for prefix in tracking.prefixes.keys() {
        if key.starts_with(prefix) {
            let keys = tracking.pending.entry(prefix.clone()).or_default();
            keys.entry(key.to_vec())
                .and_modify(|changer| {
                    if *changer != by_id {
                        *changer = None;
                    }
                })
                .or_insert(by_id);
        }
    }
    let Some(ids) = tracking.keys.remove(key) else {
        return;
    };
    let mut targets: Vec<u64> = ids.into_iter().collect();
    targets.sort_unstable();
    send_all(state, &targets, Keys::List(&[key]), by);
}

/// Redis's `trackingBroadcastInvalidationMessages`: tells each BCAST client the keys
/// under its prefixes that changed since the last time, one message per prefix with its
/// keys in order, leaving out for a NOLOOP client the keys only it changed.
pub fn broadcast(state: &mut State, mut by: Option<(&Client, &mut Reply)>) {
    if state.tracking.pending.is_empty() {
        return;
    }
    let pending = std::mem::take(&mut state.tracking.pending);
    for (prefix, keys) in pending {
        let Some(ids) = state.tracking.prefixes.get(&prefix) else {
            continue;
        };
        let mut ids: Vec<u64> = ids.iter().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let noloop = state.tracking.clients.get(&id).is_some_and(|t| t.noloop);
            let list: Vec<&[u8]> = keys
                .iter()
                .filter(|(_, changer)| !(noloop && **changer == Some(id)))
                .map(|(key, _)| key.as_slice())
                .collect();
            if !list.is_empty() {
                send(state, id, &Keys::List(&list), &mut by);
            }
        }
    }
}

/// Redis's `trackingInvalidateKeysOnFlush`: every tracking client is told that every key
/// is gone, and the table is emptied.
pub fn flushed(state: &mut State, by: Option<(&Client, &mut Reply)>) {
    state.tracking.keys.clear();
    let mut targets: Vec<u64> = state.tracking.clients.keys().copied().collect();
    targets.sort_unstable();
    send_all(state, &targets, Keys::All, by);
}

fn send_all(state: &mut State, targets: &[u64], keys: Keys, mut by: Option<(&Client, &mut Reply)>) {
    let by_id = by.as_ref().map(|(c, _)| c.id);
    for &id in targets {
        let noloop = state.tracking.clients.get(&id).is_some_and(|t| t.noloop);
        // NOLOOP: no word about the client's own writes (a flush is told to everyone).
        if noloop && Some(id) == by_id && matches!(keys, Keys::List(_)) {
            continue;
        }
        send(state, id, &keys, &mut by);
    }
}

/// One invalidation message for tracking client `id`, to it or to its redirect target.
fn send(state: &mut State, id: u64, keys: &Keys, by: &mut Option<(&Client, &mut Reply)>) {
    let Some(&Tracker { redirect, .. }) = state.tracking.clients.get(&id) else {
        return;
    };
    let target = if redirect == 0 { id } else { redirect };
    let Some((protocol, subscribed)) = connection(state, target, by) else {
        redirect_broken(state, id, by);
        return;
    };
    let mut msg = Reply::with_capacity(protocol, 64);
    if protocol == Protocol::Resp3 {
        msg.push(2);
        msg.bulk(b"invalidate");
    } else if redirect != 0 && subscribed {
        msg.push(3);
        msg.bulk(b"message");
        msg.bulk(CHANNEL);
    } else {
        // A RESP2 connection cannot take a push on its own connection.
        return;
    }
    match keys {
        Keys::List(list) => {
            msg.array(list.len());
            for key in *list {
                msg.bulk(key);
            }
        }
        Keys::All => msg.null(),
    }
    deliver(state, target, &msg.buf, by);
}

/// The protocol of connection `id` and whether it is subscribed: from the running client
/// itself when it is `by` (its registry copy is as of its last batch), else from the
/// registry; `None` when it is gone.
fn connection(
    state: &State,
    id: u64,
    by: &Option<(&Client, &mut Reply)>,
) -> Option<(Protocol, bool)> {
    match by {
        Some((c, out)) if c.id == id => {
            Some((out.protocol, crate::commands::pubsub::subscribed(c)))
        }
        _ => state
            .clients
            .get(&id)
            .map(|e| (e.protocol(), crate::commands::pubsub::subscribed(&e.client))),
    }
}

/// Tells a RESP3 client whose redirect target is gone (`tracking-redir-broken <id>`).
fn redirect_broken(state: &mut State, id: u64, by: &mut Option<(&Client, &mut Reply)>) {
    let Some(tracker) = state.tracking.clients.get_mut(&id) else {
        return;
    };
    tracker.broken_redirect = true;
    let redirect = tracker.redirect;
    if connection(state, id, by).map(|(protocol, _)| protocol) != Some(Protocol::Resp3) {
        return;
    }
    let mut msg = Reply::with_capacity(Protocol::Resp3, 48);
    msg.push(2);
    msg.bulk(b"tracking-redir-broken");
    msg.int(redirect as i64);
    deliver(state, id, &msg.buf, by);
}

fn deliver(state: &mut State, target: u64, bytes: &[u8], by: &mut Option<(&Client, &mut Reply)>) {
    match by {
        Some((c, out)) if c.id == target => out.buf.extend_from_slice(bytes),
        _ => {
            if let Some(entry) = state.clients.get_mut(&target) {
                entry.push(bytes);
            }
        }
    }
}
