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

use lockstep_resp::Frame;
use tokio::sync::{broadcast, watch};

use crate::client::Client;
use crate::cmd::{cmd, ToArg};
use crate::config::Config;
use crate::connection::{Mode, Snapshot, State};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::pubsub::{message_of, subscription_meta, unsubscribe_from, Message};

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
        self.change(true, false, channels).await
    }

    /// Unsubscribes from channels (from every channel when `channels` is empty).
    pub async fn unsubscribe<A: ToArg>(&self, channels: &[A]) -> Result<(), Error> {
        self.change(false, false, channels).await
    }

    /// Subscribes to glob patterns (`news.*`).
    pub async fn psubscribe<A: ToArg>(&self, patterns: &[A]) -> Result<(), Error> {
        self.change(true, true, patterns).await
    }

    /// Unsubscribes from patterns (from every pattern when `patterns` is empty).
    pub async fn punsubscribe<A: ToArg>(&self, patterns: &[A]) -> Result<(), Error> {
        self.change(false, true, patterns).await
    }

    async fn change<A: ToArg>(
        &self,
        subscribe: bool,
        pattern: bool,
        names: &[A],
    ) -> Result<(), Error> {
        let names = crate::pubsub::to_bytes(names);
        if subscribe && names.is_empty() {
            return Ok(());
        }
        let (confirmations, on_connect) = self.client.registry().update(|s| {
            let set = if pattern {
                &mut s.patterns
            } else {
                &mut s.channels
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
        let name = match (subscribe, pattern) {
            (true, false) => "SUBSCRIBE",
            (true, true) => "PSUBSCRIBE",
            (false, false) => "UNSUBSCRIBE",
            (false, true) => "PUNSUBSCRIBE",
        };
        let c = cmd(name).arg(&names);
        self.client
            .request(c.encode(), confirmations, subscription_meta(), None)
            .await
            .map(|_| ())
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
