//! Publish/subscribe: who listens to which channels, patterns and shard channels, and how a
//! message reaches a client whose connection task is elsewhere.
//!
//! The registry is keyed both ways, as Redis keeps it: channel → subscribers in the order
//! they came (PUBLISH delivers in that order), and client → what it listens to (for
//! UNSUBSCRIBE without arguments, CLIENT LIST and disconnects). A message for another
//! connection is written in that client's protocol into its `ClientEntry::pushed` buffer,
//! which its connection task writes out, in order with its own replies; a message for the
//! client that publishes goes straight into its reply, before PUBLISH's own answer, as in
//! Redis.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use indexmap::IndexSet;

use crate::config::output_limits::OutputLimit;
use crate::reply::{Protocol, Reply};
use crate::state::{ClientEntry, State};
use crate::util::glob_match;

/// The three kinds of subscription, each with its own commands and message name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE / PUBLISH: `message`.
    Channel,
    /// PSUBSCRIBE: `pmessage`, for every channel a glob pattern matches.
    Pattern,
    /// SSUBSCRIBE / SPUBLISH: `smessage`.
    Shard,
}

impl Kind {
    /// The reply names of subscribing, unsubscribing and a message.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
            Kind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What one client listens to, by kind, in the order it subscribed (UNSUBSCRIBE without
/// arguments leaves them in that order).
#[derive(Debug, Default)]
struct Listening {
    by_kind: [IndexSet<Vec<u8>>; 3],
}

/// Every subscription of the server.
#[derive(Debug, Default)]
pub struct PubSub {
    /// Channels (and shard channels) → subscribers, in subscription order.
    channels: HashMap<Vec<u8>, Vec<u64>>,
    shard_channels: HashMap<Vec<u8>, Vec<u64>>,
    /// Patterns → subscribers; PUBLISH tries them in this (sorted) order.
    patterns: BTreeMap<Vec<u8>, Vec<u64>>,
    clients: HashMap<u64, Listening>,
}

impl PubSub {
    fn table(&mut self, kind: Kind) -> &mut dyn Subscribers {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// Subscribes `client` to `name`; false if it already was.
    pub fn subscribe(&mut self, client: u64, kind: Kind, name: &[u8]) -> bool {
        let mine = &mut self.clients.entry(client).or_default().by_kind[kind.index()];
        if !mine.insert(name.to_vec()) {
            return false;
        }
        self.table(kind).add(name, client);
        true
    }

    /// Unsubscribes `client` from `name`; false if it was not subscribed.
    pub fn unsubscribe(&mut self, client: u64, kind: Kind, name: &[u8]) -> bool {
        let Some(listening) = self.clients.get_mut(&client) else {
            return false;
        };
        if !listening.by_kind[kind.index()].shift_remove(name) {
            return false;
        }
        if listening.by_kind.iter().all(IndexSet::is_empty) {
            self.clients.remove(&client);
        }
        self.table(kind).remove(name, client);
        true
    }

    /// What `client` listens to of `kind`.
    pub fn of_client(&self, client: u64, kind: Kind) -> Vec<Vec<u8>> {
        self.clients
            .get(&client)
            .map(|l| l.by_kind[kind.index()].iter().cloned().collect())
            .unwrap_or_default()
    }

    /// How many subscriptions of `kind` `client` has.
    pub fn count(&self, client: u64, kind: Kind) -> usize {
        self.clients
            .get(&client)
            .map_or(0, |l| l.by_kind[kind.index()].len())
    }

    /// Drops every subscription of a client that went away (or was RESET).
    pub fn forget(&mut self, client: u64) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.of_client(client, kind) {
                self.unsubscribe(client, kind, &name);
            }
        }
    }

    /// Who gets a message published to `channel`: its subscribers in order, then for each
    /// matching pattern its subscribers (with the pattern). Shard channels have no
    /// patterns.
    pub fn receivers(&self, kind: Kind, channel: &[u8]) -> Vec<(u64, Option<&[u8]>)> {
        let direct = match kind {
            Kind::Shard => &self.shard_channels,
            _ => &self.channels,
        };
        let mut out: Vec<(u64, Option<&[u8]>)> = direct
            .get(channel)
            .map(|ids| ids.iter().map(|&id| (id, None)).collect())
            .unwrap_or_default();
        if kind == Kind::Channel {
            for (pattern, ids) in &self.patterns {
                if glob_match(pattern, channel, false) {
                    out.extend(ids.iter().map(|&id| (id, Some(pattern.as_slice()))));
                }
            }
        }
        out
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: the active channels matching `pattern` (all
    /// without one), sorted (Redis gives them in its hash table's order).
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<&[u8]> {
        let table = match kind {
            Kind::Shard => &self.shard_channels,
            _ => &self.channels,
        };
        let mut names: Vec<&[u8]> = table
            .keys()
            .map(Vec::as_slice)
            .filter(|name| pattern.is_none_or(|p| glob_match(p, name, false)))
            .collect();
        names.sort_unstable();
        names
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: the subscribers of one channel.
    pub fn subscribers(&self, kind: Kind, channel: &[u8]) -> usize {
        let table = match kind {
            Kind::Shard => &self.shard_channels,
            _ => &self.channels,
        };
        table.get(channel).map_or(0, Vec::len)
    }

    /// INFO `pubsub_channels`, `pubsub_patterns`, `pubsubshard_channels`.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (
            self.channels.len(),
            self.patterns.len(),
            self.shard_channels.len(),
        )
    }
}

/// A channel or pattern table: name → subscribers in order.
trait Subscribers {
    fn add(&mut self, name: &[u8], client: u64);
    fn remove(&mut self, name: &[u8], client: u64);
}

macro_rules! subscribers_for {
    ($map:ty) => {
        impl Subscribers for $map {
            fn add(&mut self, name: &[u8], client: u64) {
                self.entry(name.to_vec()).or_default().push(client);
            }

            fn remove(&mut self, name: &[u8], client: u64) {
                if let Some(ids) = self.get_mut(name) {
                    ids.retain(|&id| id != client);
                    if ids.is_empty() {
                        self.remove(name);
                    }
                }
            }
        }
    };
}

subscribers_for!(HashMap<Vec<u8>, Vec<u64>>);
subscribers_for!(BTreeMap<Vec<u8>, Vec<u64>>);

/// Writes one message as Redis does: `message channel payload`, `pmessage pattern channel
/// payload` or `smessage channel payload`, a push frame in RESP3.
pub fn write_message(
    out: &mut Reply,
    kind: Kind,
    pattern: Option<&[u8]>,
    channel: &[u8],
    payload: &[u8],
) {
    match pattern {
        Some(pattern) => {
            out.push(4);
            out.bulk(b"pmessage");
            out.bulk(pattern);
        }
        None => {
            out.push(3);
            out.bulk(if kind == Kind::Shard {
                b"smessage"
            } else {
                b"message"
            });
        }
    }
    out.bulk(channel);
    out.bulk(payload);
}

/// Hands `bytes`, written for another connection, to that connection: into its pushed
/// output, waking it if it was idle. A client past its class's output limits (`limit`:
/// the pubsub class's for subscribers, the replicas' for monitors) is killed, and what
/// was pushed to it dropped.
pub fn deliver(entry: &mut ClientEntry, bytes: &[u8], now: Instant, limit: &OutputLimit) {
    entry.push(bytes);
    let unwritten = entry
        .buffers
        .output
        .load(std::sync::atomic::Ordering::Relaxed);
    let pending = (entry.pushed.len() + unwritten) as u64;
    if crate::config::output_limits::reached(limit, pending, &mut entry.soft_limit_since, now) {
        tracing::info!(client = %entry.client.addr, pending, "client closed for overcoming of output buffer limits");
        entry.killed = true;
        entry.pushed = Vec::new();
        entry.wake.notify_one();
    }
}

/// Delivers `payload` on `channel` to every receiver and answers how many there were. A
/// message for `me` (the client running the command, if any) is written into `my_out`;
/// the others get theirs in their own protocol, through their pushed output.
pub fn publish(
    state: &mut State,
    kind: Kind,
    channel: &[u8],
    payload: &[u8],
    me: Option<(u64, &mut Reply)>,
) -> usize {
    let receivers = state.pubsub.receivers(kind, channel);
    if receivers.is_empty() {
        return 0;
    }
    let count = receivers.len();
    let now = Instant::now();
    let limit = state.config.output_limits.pubsub;
    let (my_id, mut my_out) = match me {
        Some((id, out)) => (Some(id), Some(out)),
        None => (None, None),
    };
    for (id, pattern) in receivers {
        if Some(id) == my_id {
            if let Some(out) = my_out.as_deref_mut() {
                write_message(out, kind, pattern, channel, payload);
            }
        } else if let Some(entry) = state.clients.get_mut(&id) {
            let bytes = encode_message(entry.protocol(), kind, pattern, channel, payload);
            deliver(entry, &bytes, now, &limit);
        }
    }
    count
}

/// Publishes the keyspace events the last command (or expiry cycle) recorded, as Redis's
/// `notifyKeyspaceEvent`: the event's name on `__keyspace@<db>__:<key>` and the key on
/// `__keyevent@<db>__:<event>`, as `notify-keyspace-events` asks. The messages for `me`
/// go into `my_out`.
pub fn publish_events(state: &mut State, mut me: Option<(u64, &mut Reply)>) {
    use crate::config::notify::{KEYEVENT, KEYSPACE};
    let flags = state.mods.notify_flags;
    for event in state.mods.drain_events() {
        let channel = |space: &str, tail: &[u8]| {
            let mut name = format!("__key{space}@{}__:", event.db).into_bytes();
            name.extend_from_slice(tail);
            name
        };
        if flags & KEYSPACE != 0 {
            let mine = me.as_mut().map(|(id, out)| (*id, &mut **out));
            let name = channel("space", &event.key);
            publish(state, Kind::Channel, &name, event.name.as_bytes(), mine);
        }
        if flags & KEYEVENT != 0 {
            let mine = me.as_mut().map(|(id, out)| (*id, &mut **out));
            let name = channel("event", event.name.as_bytes());
            publish(state, Kind::Channel, &name, &event.key, mine);
        }
    }
}

/// A message encoded for another client, in its protocol.
pub fn encode_message(
    protocol: Protocol,
    kind: Kind,
    pattern: Option<&[u8]>,
    channel: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Reply::with_capacity(protocol, 32 + channel.len() + payload.len());
    write_message(&mut out, kind, pattern, channel, payload);
    out.buf.to_vec()
}
