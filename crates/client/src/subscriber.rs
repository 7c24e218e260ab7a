//! Pub/sub on a dedicated connection, for RESP2 servers (where a subscribed connection can
//! run nothing else) or for keeping message traffic off the shared connection.
//!
//! A `Subscriber` is a `Client` whose connection actor runs in subscriber mode: the same
//! state machine, the same reconnects (visible in `watch()`), the same driver. Its set of
//! channels and patterns is restored first on every new connection. A `subscribe()`
//! returns once the server confirmed every channel (confirmations are its replies, in
//! order) — also when a reconnect came in between: the change is re-sent after the set is
//! restored.
//!
//! Messages go out on a broadcast channel: a slow reader never stalls the connection (Redis
//! would otherwise disconnect it at its pub/sub output-buffer limit); it loses the oldest
//! messages instead, and `Subscriber::lagged` counts them.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use lockstep_resp::Frame;
use tokio::sync::{broadcast, watch};

use crate::client::Client;
use crate::cmd::{cmd, ToArg};
use crate::config::Config;
use crate::connection::{Mode, Snapshot, State};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::pubsub::{by_slot, message_of, subscription_meta, unsubscribe_from, Message};

/// What a subscription names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Channel,
    Pattern,
    Shard,
}

/// A dedicated subscriber connection; dropping every handle closes it.
pub struct Subscriber {
    client: Client,
    rx: broadcast::Receiver<Frame>,
    state: watch::Receiver<Snapshot>,
    /// Messages lost because this reader fell behind.
    pub lagged: u64,
}

impl Subscriber {
    /// Connects (happy eyeballs and handshake as the shared client) and starts the
    /// connection's actor. The first connection must succeed; later ones are retried for as
    /// long as the retry policy allows.
    pub async fn connect(cfg: Config) -> Result<Subscriber, Error> {
        let client = Client::with_mode(
            Arc::new(cfg),
            Arc::new(Metrics::default()),
            Mode::SUBSCRIBER,
        );
        let rx = client.push_frames();
        let state = client.watch();
        client.connect().await?;
        Ok(Subscriber {
            client,
            rx,
            state,
            lagged: 0,
        })
    }

    /// Subscribes to channels; returns once the server confirmed each of them.
    pub async fn subscribe<A: ToArg>(&self, channels: &[A]) -> Result<(), Error> {
        self.change(true, Kind::Channel, channels).await
    }

    /// Unsubscribes from channels (from every channel when `channels` is empty).
    pub async fn unsubscribe<A: ToArg>(&self, channels: &[A]) -> Result<(), Error> {
        self.change(false, Kind::Channel, channels).await
    }

    /// Subscribes to glob patterns (`news.*`).
    pub async fn psubscribe<A: ToArg>(&self, patterns: &[A]) -> Result<(), Error> {
        self.change(true, Kind::Pattern, patterns).await
    }

    /// Unsubscribes from patterns (from every pattern when `patterns` is empty).
    pub async fn punsubscribe<A: ToArg>(&self, patterns: &[A]) -> Result<(), Error> {
        self.change(false, Kind::Pattern, patterns).await
    }

    /// Subscribes to shard channels (SSUBSCRIBE, one command per hash slot). On a cluster,
    /// every channel must be served by the node this subscriber is connected to; the
    /// cluster client's `ClusterSubscriber` routes them.
    pub async fn ssubscribe<A: ToArg>(&self, channels: &[A]) -> Result<(), Error> {
        self.change(true, Kind::Shard, channels).await
    }

    /// Unsubscribes from shard channels (from every one when `channels` is empty).
    pub async fn sunsubscribe<A: ToArg>(&self, channels: &[A]) -> Result<(), Error> {
        self.change(false, Kind::Shard, channels).await
    }

    async fn change<A: ToArg>(
        &self,
        subscribe: bool,
        kind: Kind,
        names: &[A],
    ) -> Result<(), Error> {
        let names = crate::pubsub::to_bytes(names);
        self.change_bytes(subscribe, kind, names).await
    }

    pub(crate) async fn change_bytes(
        &self,
        subscribe: bool,
        kind: Kind,
        names: Vec<Bytes>,
    ) -> Result<(), Error> {
        if subscribe && names.is_empty() {
            return Ok(());
        }
        let (confirmations, on_connect) = self.client.registry().update(|s| {
            let set = match kind {
                Kind::Channel => &mut s.channels,
                Kind::Pattern => &mut s.patterns,
                Kind::Shard => &mut s.shard_channels,
            };
            if subscribe {
                set.extend(names.iter().cloned());
                names.len()
            } else {
                unsubscribe_from(set, &names)
            }
        });
        // The actor takes the new set before the command: a reconnect in between restores
        // it, and the command, re-sent, is confirmed again.
        self.client.set_on_connect(on_connect);
        let name = match (subscribe, kind) {
            (true, Kind::Channel) => "SUBSCRIBE",
            (true, Kind::Pattern) => "PSUBSCRIBE",
            (true, Kind::Shard) => "SSUBSCRIBE",
            (false, Kind::Channel) => "UNSUBSCRIBE",
            (false, Kind::Pattern) => "PUNSUBSCRIBE",
            (false, Kind::Shard) => "SUNSUBSCRIBE",
        };
        // Shard channels: one command per slot (a cluster refuses one across slots), each
        // its own request, so that an error reply (a -MOVED in place of its confirmations)
        // completes just that command.
        let commands: Vec<(Vec<Bytes>, usize)> = if kind == Kind::Shard && !names.is_empty() {
            by_slot(&names)
                .into_iter()
                .map(|g| {
                    let n = g.len();
                    (g, n)
                })
                .collect()
        } else {
            vec![(names, confirmations)]
        };
        for (group, confirmations) in commands {
            let mut out = BytesMut::new();
            cmd(name).arg(&group).encode_into(&mut out);
            let reply = self
                .client
                .request(out.freeze(), confirmations, subscription_meta(), None)
                .await?;
            if let Frame::Error(e) = reply {
                return Err(Error::Server(crate::error::ServerError::from_bytes(&e)));
            }
        }
        Ok(())
    }

    /// Takes a shard channel out of the set restored on reconnects, without telling the
    /// server (whose connection is down, or which dropped it itself).
    pub(crate) fn forget_shard_channel(&self, channel: &Bytes) {
        let ((), on_connect) = self.client.registry().update(|s| {
            s.shard_channels.remove(channel);
        });
        self.client.set_on_connect(on_connect);
    }

    /// The connection's push frames, messages and unsolicited confirmations alike (a
    /// cluster node's `sunsubscribe` when it hands a slot over).
    pub(crate) fn frames(&self) -> broadcast::Receiver<Frame> {
        self.client.push_frames()
    }

    /// The next message; `None` once the connection is closed for good (the retry policy
    /// gave up).
    pub async fn next(&mut self) -> Option<Message> {
        loop {
            tokio::select! {
                biased;
                r = self.rx.recv() => match r {
                    Ok(frame) => {
                        if let Some(m) = message_of(&frame) {
                            return Some(m);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => self.lagged += n,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                closed = self.state.wait_for(|s| s.state == State::Closed) => {
                    // Messages that arrived before the end are still read.
                    if closed.is_err() || self.rx.is_empty() {
                        return None;
                    }
                }
            }
        }
    }

    /// How many times the connection was re-established (and the subscriptions restored).
    pub fn reconnects(&self) -> u64 {
        self.client.metrics().connects.saturating_sub(1)
    }

    /// The connection's state, as `Client::state`.
    pub fn state(&self) -> State {
        self.client.state()
    }

    /// The connection's state changes, as `Client::watch`: reconnects show here.
    pub fn watch(&self) -> watch::Receiver<Snapshot> {
        self.client.watch()
    }
}
