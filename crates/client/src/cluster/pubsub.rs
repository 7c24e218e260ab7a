//! Sharded pub/sub on a cluster (SSUBSCRIBE / SPUBLISH): each shard channel lives on the
//! shard that owns its hash slot, so a `ClusterSubscriber` keeps one subscriber connection
//! per primary it needs and places every channel on its slot's primary.
//!
//! One task (the supervisor) owns the placement and keeps it true to the router's map:
//! - when the map changes (a refresh, a MOVED), channels whose slot moved are unsubscribed
//!   where they were and subscribed where they belong now;
//! - when a node hands a slot over, Redis unsubscribes its shard channels there with an
//!   unsolicited `sunsubscribe`: those channels are placed again from a fresh map;
//! - when a node's connection goes down, the router is asked for a fresh map (a replica may
//!   be promoted), and channels that cannot be placed are retried every half second.
//!
//! Messages of every node arrive on one queue. Like all pub/sub, delivery is at most once:
//! what is published while a channel moves is not seen.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use lockstep_resp::Frame;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::topology::{split_node, Topology};
use super::{ClusterClient, Msg, RouterState};
use crate::cmd::ToArg;
use crate::config::Addr;
use crate::connection::State;
use crate::error::{ClosedBy, Error, Sent};
use crate::pubsub::{message_of, to_bytes, Message};
use crate::subscriber::{Kind, Subscriber};

/// Sharded subscriptions across a cluster. Dropping it closes its connections.
pub struct ClusterSubscriber {
    rx: mpsc::UnboundedReceiver<Message>,
    ctl: mpsc::UnboundedSender<Ctl>,
    moves: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ClusterSubscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Ctl {
    Change {
        subscribe: bool,
        channels: Vec<Bytes>,
        tx: oneshot::Sender<Result<(), Error>>,
    },
}

enum Event {
    /// The node unsubscribed us from a channel by itself (its slot left the node).
    Dropped(String, Bytes),
    /// The node's connection is not ready.
    Down,
}

struct Node {
    sub: Subscriber,
    forward: tokio::task::JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

struct Supervisor {
    cluster: ClusterClient,
    /// Channel → the node it is subscribed on; `None` while it is not placed.
    channels: BTreeMap<Bytes, Option<String>>,
    /// Channel → the last node it was placed on (to count moves).
    last: HashMap<Bytes, String>,
    nodes: HashMap<String, Node>,
    events_tx: mpsc::UnboundedSender<Event>,
    out: mpsc::UnboundedSender<Message>,
    moves: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ClusterSubscriber {
    pub(super) fn new(cluster: ClusterClient) -> ClusterSubscriber {
        let (out, rx) = mpsc::unbounded_channel();
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        let moves = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (events_tx, events) = mpsc::unbounded_channel();
        let sup = Supervisor {
            cluster,
            channels: BTreeMap::new(),
            last: HashMap::new(),
            nodes: HashMap::new(),
            events_tx,
            out,
            moves: moves.clone(),
        };
        let task = tokio::spawn(sup.run(ctl_rx, events));
        ClusterSubscriber {
            rx,
            ctl,
            moves,
            task,
        }
    }

    /// Subscribes to shard channels, each on its slot's primary; returns once every one is
    /// confirmed.
    pub async fn ssubscribe<A: ToArg>(&self, channels: &[A]) -> Result<(), Error> {
        self.change(true, to_bytes(channels)).await
    }

    /// Unsubscribes from shard channels (from every one when `channels` is empty).
    pub async fn sunsubscribe<A: ToArg>(&self, channels: &[A]) -> Result<(), Error> {
        self.change(false, to_bytes(channels)).await
    }

    async fn change(&self, subscribe: bool, channels: Vec<Bytes>) -> Result<(), Error> {
        let gone = || Error::Closed {
            by: ClosedBy::Shutdown,
            sent: Sent::No,
        };
        let (tx, rx) = oneshot::channel();
        self.ctl
            .send(Ctl::Change {
                subscribe,
                channels,
                tx,
            })
            .map_err(|_| gone())?;
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// The next message of any of the channels.
    pub async fn next(&mut self) -> Option<Message> {
        self.rx.recv().await
    }

    /// Channels moved from one node to another since the start (slot moves, failovers).
    pub fn moves(&self) -> u64 {
        self.moves.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Whether a push frame is a `sunsubscribe` the server sent by itself; its channel.
fn dropped_channel(frame: &Frame) -> Option<Bytes> {
    let Frame::Push(items) = frame else {
        return None;
    };
    match (items.first().and_then(Frame::as_bytes), items.get(1)) {
        (Some(b"sunsubscribe"), Some(ch)) => ch.as_bytes().map(Bytes::copy_from_slice),
        _ => None,
    }
}

impl Supervisor {
    async fn run(
        mut self,
        mut ctl: mpsc::UnboundedReceiver<Ctl>,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) {
        let mut view = self.cluster.inner.view.clone();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                c = ctl.recv() => match c {
                    Some(Ctl::Change { subscribe, channels, tx }) => {
                        let r = self.change(subscribe, channels).await;
                        let _ = tx.send(r);
                    }
                    None => return,
                },
                Some(e) = events.recv() => match e {
                    Event::Dropped(node, channel) => {
                        if self.channels.get(&channel) == Some(&Some(node.clone())) {
                            self.channels.insert(channel.clone(), None);
                            if let Some(n) = self.nodes.get(&node) {
                                // Out of its registry, so a reconnect does not restore it.
                                let _ = n.sub.change_bytes(false, Kind::Shard, vec![channel]).await;
                            }
                            self.refresh();
                        }
                    }
                    Event::Down => self.refresh(),
                },
                changed = view.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.place().await;
                }
                _ = tick.tick() => {
                    if self.channels.values().any(Option::is_none) {
                        self.refresh();
                        self.place().await;
                    }
                }
            }
        }
    }

    /// Asks the router for a map newer than the current one.
    fn refresh(&self) {
        let v = self.cluster.view();
        let (done, _) = oneshot::channel();
        let _ = self.cluster.ask_router(Msg::Refresh {
            seen: v.fetched.max(v.epoch),
            done,
        });
    }

    async fn change(&mut self, subscribe: bool, channels: Vec<Bytes>) -> Result<(), Error> {
        if subscribe {
            for c in &channels {
                self.channels.entry(c.clone()).or_insert(None);
            }
            self.cluster.ready_view().await?;
            self.place().await;
            let unplaced: Vec<String> = channels
                .iter()
                .filter(|c| matches!(self.channels.get(*c), Some(None)))
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            if unplaced.is_empty() {
                Ok(())
            } else {
                Err(Error::Protocol(format!(
                    "no reachable primary serves the slot of {unplaced:?} yet; retrying in the background"
                )))
            }
        } else {
            let names: Vec<Bytes> = if channels.is_empty() {
                self.channels.keys().cloned().collect()
            } else {
                channels
            };
            let mut by_node: HashMap<String, Vec<Bytes>> = HashMap::new();
            for c in names {
                self.last.remove(&c);
                if let Some(Some(node)) = self.channels.remove(&c) {
                    by_node.entry(node).or_default().push(c);
                }
            }
            for (node, chans) in by_node {
                if let Some(n) = self.nodes.get(&node) {
                    n.sub.change_bytes(false, Kind::Shard, chans).await?;
                }
            }
            self.drop_idle_nodes();
            Ok(())
        }
    }

    /// Puts every channel on its slot's primary in the current map.
    async fn place(&mut self) {
        let view = self.cluster.view();
        if view.state != RouterState::Ready {
            return;
        }
        let mut wanted: HashMap<String, Vec<Bytes>> = HashMap::new();
        for (c, at) in &self.channels {
            // A slot with no primary in this map (a failover under way) waits for the next.
            let Some(target) = primary_for(&view.topology, c) else {
                continue;
            };
            if at.as_ref() == Some(&target) {
                continue;
            }
            if let Some(old) = at {
                // Moving: out of the old node.
                if let Some(n) = self.nodes.get(old) {
                    if n.sub.state() == State::Ready {
                        let _ = n
                            .sub
                            .change_bytes(false, Kind::Shard, vec![c.clone()])
                            .await;
                    } else {
                        n.sub.forget_shard_channel(c);
                    }
                }
            }
            wanted.entry(target).or_default().push(c.clone());
        }
        for (node, chans) in wanted {
            let placed = match self.node(&node).await {
                Ok(sub) => sub
                    .change_bytes(true, Kind::Shard, chans.clone())
                    .await
                    .is_ok(),
                Err(_) => false,
            };
            for c in chans {
                let at = placed.then(|| node.clone());
                if placed {
                    if let Some(prev) = self.last.insert(c.clone(), node.clone()) {
                        if prev != node {
                            self.moves
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                } else {
                    if let Some(n) = self.nodes.get(&node) {
                        n.sub.forget_shard_channel(&c);
                    }
                }
                self.channels.insert(c, at);
            }
        }
        self.drop_idle_nodes();
    }

    /// The subscriber connection to `node`, made when new.
    async fn node(&mut self, node: &str) -> Result<&Subscriber, Error> {
        if !self.nodes.contains_key(node) {
            let (host, port) = split_node(node)
                .ok_or_else(|| Error::Protocol(format!("not a node address: {node}")))?;
            let mut cfg = self.cluster.inner.base.clone();
            let tls = matches!(cfg.addr, Addr::Tcp { tls: true, .. });
            cfg.addr = Addr::Tcp { host, port, tls };
            cfg.queue_while_reconnecting = false;
            cfg.client_cache = None;
            let sub = Subscriber::connect(cfg).await?;
            let forward = tokio::spawn(forward(
                node.to_string(),
                sub.frames(),
                sub.watch(),
                self.out.clone(),
                self.events_tx.clone(),
            ));
            self.nodes.insert(node.to_string(), Node { sub, forward });
        }
        Ok(&self.nodes[node].sub)
    }

    /// Closes connections to nodes that serve none of the channels now.
    fn drop_idle_nodes(&mut self) {
        let used: Vec<&String> = self.channels.values().flatten().collect();
        self.nodes.retain(|n, _| used.contains(&n));
    }
}

/// The primary serving `channel`'s slot.
fn primary_for(t: &Topology, channel: &[u8]) -> Option<String> {
    t.shard_of(lockstep_commands::key_slot(channel))
        .map(|s| s.primary.clone())
}

/// Carries one node's messages to the subscriber's queue and tells the supervisor of
/// dropped channels and of the connection going down.
async fn forward(
    node: String,
    mut frames: broadcast::Receiver<Frame>,
    mut state: tokio::sync::watch::Receiver<crate::connection::Snapshot>,
    out: mpsc::UnboundedSender<Message>,
    events: mpsc::UnboundedSender<Event>,
) {
    loop {
        tokio::select! {
            f = frames.recv() => match f {
                Ok(frame) => {
                    if let Some(m) = message_of(&frame) {
                        if out.send(m).is_err() {
                            return;
                        }
                    } else if let Some(ch) = dropped_channel(&frame) {
                        let _ = events.send(Event::Dropped(node.clone(), ch));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
                let s = state.borrow().state;
                if s != State::Ready {
                    let _ = events.send(Event::Down);
                }
            }
        }
    }
}
