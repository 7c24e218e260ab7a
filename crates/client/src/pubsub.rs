//! Pub/sub over the shared RESP3 connection, restored after every reconnect.
//!
//! In RESP3, SUBSCRIBE's confirmations and the messages are push frames, so subscribing
//! does not disturb the commands sharing the connection: the messages go to subscriptions,
//! and the confirmations (which arrive in order) complete the SUBSCRIBE as its replies.
//! The client keeps the set of channels and patterns and hands the actor a
//! SUBSCRIBE/PSUBSCRIBE to write first on every new connection, before any queued command.
//! A `Subscriber` keeps its set here too.

use std::collections::BTreeSet;
use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use lockstep_resp::Frame;
use tokio::sync::broadcast;

use crate::client::Client;
use crate::cmd::{cmd, ToArg};
use crate::config::Protocol;
use crate::error::Error;

#[derive(Default)]
pub(crate) struct Registry {
    inner: Mutex<Subs>,
}

#[derive(Default)]
pub(crate) struct Subs {
    pub channels: BTreeSet<Bytes>,
    pub patterns: BTreeSet<Bytes>,
    /// SSUBSCRIBE's shard channels.
    pub shard_channels: BTreeSet<Bytes>,
}

/// Shard channels grouped by hash slot: a cluster takes one SSUBSCRIBE (or SUNSUBSCRIBE)
/// per slot, refusing one across slots with CROSSSLOT.
pub(crate) fn by_slot<'a>(channels: impl IntoIterator<Item = &'a Bytes>) -> Vec<Vec<Bytes>> {
    let mut groups: std::collections::BTreeMap<u16, Vec<Bytes>> = Default::default();
    for c in channels {
        groups
            .entry(lockstep_commands::key_slot(c))
            .or_default()
            .push(c.clone());
    }
    groups.into_values().collect()
}

impl Registry {
    /// Changes the set, and answers what `f` answered with what restores the new set on a
    /// new connection: the commands and the confirmations they get.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut Subs) -> R) -> (R, Option<(Bytes, usize)>) {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut s);
        let mut out = BytesMut::new();
        if !s.channels.is_empty() {
            let c = cmd("SUBSCRIBE").arg(s.channels.iter().cloned().collect::<Vec<_>>());
            c.encode_into(&mut out);
        }
        if !s.patterns.is_empty() {
            let c = cmd("PSUBSCRIBE").arg(s.patterns.iter().cloned().collect::<Vec<_>>());
            c.encode_into(&mut out);
        }
        for group in by_slot(&s.shard_channels) {
            cmd("SSUBSCRIBE").arg(group).encode_into(&mut out);
        }
        let confirmations = s.channels.len() + s.patterns.len() + s.shard_channels.len();
        (r, (!out.is_empty()).then(|| (out.freeze(), confirmations)))
    }
}

/// The metadata of a subscription change: its replies are confirmations, and it may be
/// re-sent (subscribing twice changes nothing).
pub(crate) fn subscription_meta() -> crate::connection::Meta {
    crate::connection::Meta {
        subscription: true,
        ..Default::default()
    }
}

/// A message of a push frame (`message`, `pmessage` or `smessage`), if it is one.
pub(crate) fn message_of(frame: &Frame) -> Option<Message> {
    let Frame::Push(items) = frame else {
        return None;
    };
    let bytes = |f: &Frame| f.as_bytes().map(Bytes::copy_from_slice);
    match items.first().and_then(|k| k.as_bytes()) {
        Some(b"message" | b"smessage") if items.len() == 3 => Some(Message {
            channel: bytes(&items[1])?,
            pattern: None,
            payload: bytes(&items[2])?,
        }),
        Some(b"pmessage") if items.len() == 4 => Some(Message {
            channel: bytes(&items[2])?,
            pattern: Some(bytes(&items[1])?),
            payload: bytes(&items[3])?,
        }),
        _ => None,
    }
}

/// A message received on a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub channel: Bytes,
    /// The pattern that matched, for pattern subscriptions.
    pub pattern: Option<Bytes>,
    pub payload: Bytes,
}

/// Messages for the channels and patterns this subscription asked for.
pub struct Subscription {
    rx: broadcast::Receiver<Frame>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    /// Messages lost because this subscriber fell behind.
    pub lagged: u64,
}

impl Subscription {
    /// The next message; `None` once the client is gone.
    pub async fn next(&mut self) -> Option<Message> {
        loop {
            let f = match self.rx.recv().await {
                Ok(f) => f,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.lagged += n;
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            let Some(message) = message_of(&f) else {
                continue;
            };
            let wanted = match &message.pattern {
                None => self.channels.contains(&message.channel),
                Some(pattern) => self.patterns.contains(pattern),
            };
            if wanted {
                return Some(message);
            }
        }
    }
}

pub(crate) fn to_bytes<A: ToArg>(items: &[A]) -> Vec<Bytes> {
    let mut c = cmd("X");
    for i in items {
        c = c.arg(i);
    }
    c.args().skip(1).map(Bytes::copy_from_slice).collect()
}

impl Client {
    /// Subscribes to channels; the subscription survives reconnects. Needs RESP3.
    pub async fn subscribe<A: ToArg>(&self, channels: &[A]) -> Result<Subscription, Error> {
        self.sub(to_bytes(channels), Vec::new()).await
    }

    /// Subscribes to patterns; survives reconnects. Needs RESP3.
    pub async fn psubscribe<A: ToArg>(&self, patterns: &[A]) -> Result<Subscription, Error> {
        self.sub(Vec::new(), to_bytes(patterns)).await
    }

    async fn sub(&self, channels: Vec<Bytes>, patterns: Vec<Bytes>) -> Result<Subscription, Error> {
        self.connect().await?;
        if self.protocol() != Some(Protocol::Resp3) {
            return Err(Error::Config(
                "pub/sub on the shared connection needs RESP3 (the server did not accept HELLO 3)"
                    .into(),
            ));
        }
        let rx = self.push_frames();
        let ((), on_connect) = self.registry().update(|s| {
            s.channels.extend(channels.iter().cloned());
            s.patterns.extend(patterns.iter().cloned());
        });
        self.set_on_connect(on_connect);
        let mut out = BytesMut::new();
        if !channels.is_empty() {
            cmd("SUBSCRIBE").arg(&channels).encode_into(&mut out);
        }
        if !patterns.is_empty() {
            cmd("PSUBSCRIBE").arg(&patterns).encode_into(&mut out);
        }
        let confirmations = channels.len() + patterns.len();
        self.request(out.freeze(), confirmations, subscription_meta(), None)
            .await?;
        Ok(Subscription {
            rx,
            channels: channels.into_iter().collect(),
            patterns: patterns.into_iter().collect(),
            lagged: 0,
        })
    }

    /// Unsubscribes from channels for every subscription of this client; from every
    /// channel when `channels` is empty.
    pub async fn unsubscribe<A: ToArg>(&self, channels: &[A]) -> Result<(), Error> {
        let channels = to_bytes(channels);
        let (confirmations, on_connect) = self
            .registry()
            .update(|s| unsubscribe_from(&mut s.channels, &channels));
        self.set_on_connect(on_connect);
        let c = cmd("UNSUBSCRIBE").arg(&channels);
        self.request(c.encode(), confirmations, subscription_meta(), None)
            .await
            .map(|_| ())
    }
}

/// Takes `names` out of `set` (all of it when `names` is empty) and answers how many
/// confirmations the server sends: one per name, or for no names one per subscription
/// (one when there is none).
pub(crate) fn unsubscribe_from(set: &mut BTreeSet<Bytes>, names: &[Bytes]) -> usize {
    if names.is_empty() {
        let n = set.len().max(1);
        set.clear();
        return n;
    }
    for name in names {
        set.remove(name);
    }
    names.len()
}
