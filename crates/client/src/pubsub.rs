//! Pub/sub over the shared RESP3 connection, restored after every reconnect.
//!
//! In RESP3, SUBSCRIBE's confirmations and the messages are push frames, out of the reply
//! order, so subscribing does not disturb the commands sharing the connection. The client
//! keeps the set of channels and patterns and hands the actor a SUBSCRIBE/PSUBSCRIBE to
//! write first on every new connection, before any queued command.

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
struct Subs {
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
}

impl Registry {
    fn update(&self, f: impl FnOnce(&mut Subs)) -> Option<Bytes> {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        let mut out = BytesMut::new();
        if !s.channels.is_empty() {
            let c = cmd("SUBSCRIBE").arg(s.channels.iter().cloned().collect::<Vec<_>>());
            c.encode_into(&mut out);
        }
        if !s.patterns.is_empty() {
            let c = cmd("PSUBSCRIBE").arg(s.patterns.iter().cloned().collect::<Vec<_>>());
            c.encode_into(&mut out);
        }
        (!out.is_empty()).then(|| out.freeze())
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
            let Frame::Push(items) = f else { continue };
            let bytes = |f: &Frame| f.as_bytes().map(Bytes::copy_from_slice);
            match items.first().and_then(|k| k.as_bytes()) {
                Some(b"message") if items.len() == 3 => {
                    let (Some(ch), Some(payload)) = (bytes(&items[1]), bytes(&items[2])) else {
                        continue;
                    };
                    if self.channels.contains(&ch) {
                        return Some(Message {
                            channel: ch,
                            pattern: None,
                            payload,
                        });
                    }
                }
                Some(b"pmessage") if items.len() == 4 => {
                    let (Some(pat), Some(ch), Some(payload)) =
                        (bytes(&items[1]), bytes(&items[2]), bytes(&items[3]))
                    else {
                        continue;
                    };
                    if self.patterns.contains(&pat) {
                        return Some(Message {
                            channel: ch,
                            pattern: Some(pat),
                            payload,
                        });
                    }
                }
                _ => {}
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
        let on_connect = self.registry().update(|s| {
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
        // Confirmations are push frames: nothing comes back in the reply order.
        self.request(out.freeze(), 0, false, None).await?;
        Ok(Subscription {
            rx,
            channels: channels.into_iter().collect(),
            patterns: patterns.into_iter().collect(),
            lagged: 0,
        })
    }

    /// Unsubscribes from channels for every subscription of this client.
    pub async fn unsubscribe<A: ToArg>(&self, channels: &[A]) -> Result<(), Error> {
        let channels = to_bytes(channels);
        let on_connect = self.registry().update(|s| {
            for c in &channels {
                s.channels.remove(c);
            }
        });
        self.set_on_connect(on_connect);
        self.request(cmd("UNSUBSCRIBE").arg(&channels).encode(), 0, false, None)
            .await
            .map(|_| ())
    }
}
