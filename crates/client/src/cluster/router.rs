//! The router: one task that owns the cluster client's lifecycle — its state, the slot map
//! and the connection to each node — and publishes them as one immutable `View` per epoch.
//!
//! Callers route their commands themselves from the published view (a watch channel: no
//! lock, no hop through this task per command) and send to the node's `Client` directly.
//! They message the router for what changes the view: `connect()` (single-flight: callers
//! join the attempt in progress), `disconnect()` (cancels an attempt in progress, closes
//! every node's connection, and only then answers), a refresh after a redirection or a
//! lost node (single-flight and rate-limited: a caller that saw epoch `e` is satisfied by
//! any map fetched after `e`), a `-MOVED` (the slot is moved in place at once; a refresh
//! follows), and a connection to a node the map does not list (an `-ASK` target).
//!
//! Because one task applies these one at a time, seed 000's connect → command →
//! disconnect → connect loop cannot interleave two lifecycle changes, and a fetch in
//! flight never blocks commands: the old map serves until the new one is published. The
//! fetch asks up to three nodes at once and keeps the map most of them agree on.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::topology::{self, Topology};
use super::ClusterOptions;
use crate::client::Client;
use crate::cmd::cmd;
use crate::config::{Addr, Config};
use crate::error::{ClosedBy, Error, Sent};

/// Nodes asked at once for the slot map.
const FETCH_FANOUT: usize = 3;

/// The router's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouterState {
    /// No slot map: before `connect()` or the first command, and after `disconnect()`.
    Disconnected,
    /// Fetching the first slot map.
    Connecting,
    /// A slot map serves commands (a newer one may be being fetched).
    Ready,
}

/// What callers route by: published whole, one per epoch.
#[derive(Debug)]
pub(crate) struct View {
    pub epoch: u64,
    pub state: RouterState,
    pub topology: Arc<Topology>,
    /// A connection per node of the map (and per node an `-ASK` named).
    pub clients: Arc<HashMap<String, Client>>,
    /// Epoch of the last map fetched from the cluster (MOVED patches do not count).
    pub fetched: u64,
}

impl View {
    pub fn initial() -> View {
        View {
            epoch: 0,
            state: RouterState::Disconnected,
            topology: Arc::new(Topology::default()),
            clients: Arc::new(HashMap::new()),
            fetched: 0,
        }
    }
}

pub(crate) enum Msg {
    Connect(oneshot::Sender<Result<(), Error>>),
    Disconnect(oneshot::Sender<()>),
    /// A map fetched after epoch `seen` is wanted.
    Refresh {
        seen: u64,
        done: oneshot::Sender<()>,
    },
    /// `-MOVED slot node`; `done` answers once the view that has it is published.
    Moved {
        slot: u16,
        node: String,
        done: Option<oneshot::Sender<()>>,
    },
    /// A connection to `node`, which the map may not list.
    Node {
        node: String,
        tx: oneshot::Sender<Result<Client, Error>>,
    },
}

type Fetch = Pin<Box<dyn Future<Output = Result<Topology, Error>> + Send>>;

pub(crate) struct Router {
    base: Config,
    seeds: Vec<String>,
    opts: ClusterOptions,
    rx: mpsc::UnboundedReceiver<Msg>,
    view: watch::Sender<Arc<View>>,
    epoch: u64,
    fetched: u64,
    state: RouterState,
    topology: Arc<Topology>,
    clients: HashMap<String, Client>,
    fetch: Option<Fetch>,
    /// MOVEDs seen while a fetch was in flight: newer than the map it will bring.
    moved_during_fetch: Vec<(u16, String)>,
    connecting: Vec<oneshot::Sender<Result<(), Error>>>,
    refreshing: Vec<oneshot::Sender<()>>,
    /// A refresh is wanted, not before this instant (rate limit).
    refresh_due: Option<Instant>,
    last_fetch: Option<Instant>,
    refreshes: Arc<std::sync::atomic::AtomicU64>,
}

impl Router {
    pub fn spawn(
        base: Config,
        seeds: Vec<String>,
        opts: ClusterOptions,
        refreshes: Arc<std::sync::atomic::AtomicU64>,
    ) -> (mpsc::UnboundedSender<Msg>, watch::Receiver<Arc<View>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (view, view_rx) = watch::channel(Arc::new(View::initial()));
        let router = Router {
            base,
            seeds,
            opts,
            rx,
            view,
            epoch: 0,
            fetched: 0,
            state: RouterState::Disconnected,
            topology: Arc::new(Topology::default()),
            clients: HashMap::new(),
            fetch: None,
            moved_during_fetch: Vec::new(),
            connecting: Vec::new(),
            refreshing: Vec::new(),
            refresh_due: None,
            last_fetch: None,
            refreshes,
        };
        tokio::spawn(router.run());
        (tx, view_rx)
    }

    async fn run(mut self) {
        let mut periodic = self.opts.refresh_interval.map(|every| {
            let mut t = tokio::time::interval_at(Instant::now() + every, every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            let due = self.refresh_due.filter(|_| self.fetch.is_none());
            let ready = self.state == RouterState::Ready;
            tokio::select! {
                m = self.rx.recv() => match m {
                    Some(m) => self.on_msg(m).await,
                    None => {
                        // Every handle is gone.
                        self.close_all().await;
                        return;
                    }
                },
                r = async {
                    match self.fetch.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.fetch = None;
                    self.on_fetched(r);
                }
                () = async {
                    match due {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => self.start_fetch(),
                _ = async {
                    match periodic.as_mut() {
                        Some(t) if ready => t.tick().await,
                        _ => std::future::pending().await,
                    }
                } => self.want_refresh(),
            }
        }
    }

    async fn on_msg(&mut self, m: Msg) {
        match m {
            Msg::Connect(tx) => match self.state {
                RouterState::Ready => {
                    let _ = tx.send(Ok(()));
                }
                RouterState::Connecting => self.connecting.push(tx),
                RouterState::Disconnected => {
                    self.connecting.push(tx);
                    self.state = RouterState::Connecting;
                    self.publish();
                    self.start_fetch();
                }
            },
            Msg::Disconnect(tx) => {
                self.fetch = None;
                self.refresh_due = None;
                for w in self.connecting.drain(..) {
                    let _ = w.send(Err(Error::Closed {
                        by: ClosedBy::Disconnect,
                        sent: Sent::No,
                    }));
                }
                self.refreshing.clear();
                self.close_all().await;
                self.state = RouterState::Disconnected;
                self.topology = Arc::new(Topology::default());
                self.publish();
                let _ = tx.send(());
            }
            Msg::Refresh { seen, done } => {
                if self.fetched > seen || self.state == RouterState::Disconnected {
                    let _ = done.send(());
                } else {
                    self.refreshing.push(done);
                    self.want_refresh();
                }
            }
            Msg::Moved { slot, node, done } => {
                if self.fetch.is_some() {
                    self.moved_during_fetch.push((slot, node.clone()));
                }
                if self.state != RouterState::Disconnected
                    && self.topology.shard_of(slot).map(|s| s.primary.as_str()) != Some(&node)
                {
                    self.topology = Arc::new(self.topology.moved(slot, &node));
                    if let Err(e) = self.ensure_client(&node) {
                        tracing::debug!(target: "lockstep::cluster", %node, %e, "MOVED to an unusable address");
                    }
                    self.publish();
                }
                self.want_refresh();
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            Msg::Node { node, tx } => {
                let r = self.ensure_client(&node);
                if r.is_ok() {
                    self.publish();
                }
                let _ = tx.send(r);
            }
        }
    }

    /// Schedules a refresh, no sooner than `min_refresh_interval` after the last one.
    fn want_refresh(&mut self) {
        if self.fetch.is_some() || self.refresh_due.is_some() {
            return;
        }
        let now = Instant::now();
        let at = self
            .last_fetch
            .map_or(now, |last| (last + self.opts.min_refresh_interval).max(now));
        self.refresh_due = Some(at);
    }

    fn start_fetch(&mut self) {
        self.refresh_due = None;
        // Known primaries first (they know the newest map), then the seeds.
        let mut order: Vec<String> = self.topology.primaries().map(str::to_string).collect();
        for s in &self.seeds {
            if !order.contains(s) {
                order.push(s.clone());
            }
        }
        let mut candidates = Vec::new();
        for node in order {
            match self.ensure_client(&node) {
                Ok(c) => candidates.push((node, c)),
                Err(e) => {
                    tracing::debug!(target: "lockstep::cluster", %node, %e, "unusable node address")
                }
            }
        }
        self.last_fetch = Some(Instant::now());
        self.moved_during_fetch.clear();
        self.fetch = Some(Box::pin(fetch(candidates)));
    }

    fn on_fetched(&mut self, r: Result<Topology, Error>) {
        let r = r.and_then(|t| {
            if t.is_empty() {
                Err(Error::Protocol("the cluster serves no slot".into()))
            } else {
                Ok(t)
            }
        });
        let moved = std::mem::take(&mut self.moved_during_fetch);
        match r {
            Ok(mut t) => {
                // A MOVED that came while the fetch was under way is newer than its map
                // (the node asked may not have known yet): it stays, and a refresh follows.
                let mut stale = false;
                for (slot, node) in moved {
                    if t.shard_of(slot).map(|s| s.primary.as_str()) != Some(node.as_str()) {
                        t = t.moved(slot, &node);
                        stale = true;
                    }
                }
                if stale {
                    self.want_refresh();
                }
                self.refreshes
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let wanted: Vec<String> = t.nodes().map(str::to_string).collect();
                for node in &wanted {
                    if let Err(e) = self.ensure_client(node) {
                        tracing::debug!(target: "lockstep::cluster", %node, %e, "unusable node address");
                    }
                }
                // Nodes that left the map: their commands in flight still get replies.
                let gone: Vec<String> = self
                    .clients
                    .keys()
                    .filter(|n| !wanted.contains(n))
                    .cloned()
                    .collect();
                for node in gone {
                    if let Some(c) = self.clients.remove(&node) {
                        tokio::spawn(async move {
                            c.shutdown(Duration::from_secs(5)).await;
                        });
                    }
                }
                self.topology = Arc::new(t);
                self.state = RouterState::Ready;
                self.fetched = self.epoch + 1;
                self.publish();
                for w in self.connecting.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::debug!(target: "lockstep::cluster", %e, "slot map fetch failed");
                if self.state == RouterState::Connecting {
                    self.state = RouterState::Disconnected;
                    self.publish();
                }
                for w in self.connecting.drain(..) {
                    let _ = w.send(Err(e.clone()));
                }
            }
        }
        for w in self.refreshing.drain(..) {
            let _ = w.send(());
        }
    }

    /// The connection to `node`, made (lazily: it connects on first use) when new.
    fn ensure_client(&mut self, node: &str) -> Result<Client, Error> {
        if let Some(c) = self.clients.get(node) {
            return Ok(c.clone());
        }
        let (host, port) = topology::split_node(node)
            .ok_or_else(|| Error::Protocol(format!("not a node address: {node}")))?;
        let mut cfg = self.base.clone();
        let tls = matches!(cfg.addr, Addr::Tcp { tls: true, .. });
        cfg.addr = Addr::Tcp { host, port, tls };
        cfg.readonly = self.opts.read_from != super::ReadFrom::Primary;
        // A node that is down fails its commands at once: the router sends them where the
        // next map says (a promoted replica) rather than wait for the node to return.
        cfg.queue_while_reconnecting = false;
        let c = Client::new(cfg);
        self.clients.insert(node.to_string(), c.clone());
        Ok(c)
    }

    async fn close_all(&mut self) {
        let clients: Vec<Client> = self.clients.drain().map(|(_, c)| c).collect();
        let mut closing = tokio::task::JoinSet::new();
        for c in clients {
            closing.spawn(async move { c.disconnect().await });
        }
        while closing.join_next().await.is_some() {}
    }

    fn publish(&mut self) {
        self.epoch += 1;
        self.view.send_replace(Arc::new(View {
            epoch: self.epoch,
            state: self.state,
            topology: self.topology.clone(),
            clients: Arc::new(self.clients.clone()),
            fetched: self.fetched,
        }));
        tracing::debug!(target: "lockstep::cluster", epoch = self.epoch, state = ?self.state, "view");
    }
}

/// Asks up to `FETCH_FANOUT` candidates at once for the slot map; when none of them
/// answers, the rest, all at once. Keeps the map most answers agree on.
async fn fetch(candidates: Vec<(String, Client)>) -> Result<Topology, Error> {
    let mut last = None;
    let (first, rest) = candidates.split_at(candidates.len().min(FETCH_FANOUT));
    for round in [first, rest] {
        if round.is_empty() {
            continue;
        }
        let mut asks = tokio::task::JoinSet::new();
        for (node, client) in round {
            let (node, client) = (node.clone(), client.clone());
            asks.spawn(async move { ask(&node, &client).await });
        }
        let mut views = Vec::new();
        while let Some(r) = asks.join_next().await {
            match r {
                Ok(Ok(t)) => views.push(t),
                Ok(Err(e)) => last = Some(e),
                Err(e) => last = Some(Error::Protocol(format!("slot map fetch: {e}"))),
            }
        }
        if let Some(t) = topology::agree(views) {
            return Ok(t);
        }
    }
    Err(last.unwrap_or_else(|| Error::Config("no cluster node to ask".into())))
}

/// The slot map as `node` sees it.
async fn ask(node: &str, client: &Client) -> Result<Topology, Error> {
    match client.send(&cmd("CLUSTER").arg("SHARDS")).await {
        Ok(reply) => topology::from_shards(reply, node),
        Err(Error::Server(e)) if e.is_unknown_command() || e.message.contains("SHARDS") => {
            let reply = client.send(&cmd("CLUSTER").arg("SLOTS")).await?;
            topology::from_slots(reply, node)
        }
        Err(e) => Err(e),
    }
}
