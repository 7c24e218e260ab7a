//! A Redis Cluster client: commands routed by hash slot over one multiplexed `Client` per
//! node, redirections followed, the slot map kept by one router task.
//!
//! - `topology.rs`: the slot map (shards, primaries, replicas) from CLUSTER SHARDS or
//!   CLUSTER SLOTS, and which of several nodes' maps to believe.
//! - `router.rs`: the task that owns the lifecycle, the map and the node connections, and
//!   publishes them as one view per epoch (connect, disconnect, refresh, MOVED).
//! - `fanout.rs`: commands one node cannot serve alone, by Redis's request and response
//!   policies: multi-key commands split by slot, keyless ones sent to every shard, SCAN.
//! - `pipeline.rs`: pipelines split by node and put back in order.
//!
//! Routing (this file): a command goes to the shard that owns its slot (`Cmd::meta`), to
//! a replica when it only reads and `ReadFrom` says so; a keyless one to a primary in
//! turn. `-MOVED slot addr` moves the slot in the map (a refresh follows), then the
//! command goes there; `-ASK slot addr` sends `ASKING` and the command to that node once;
//! `-TRYAGAIN`, `-CLUSTERDOWN` and `-READONLY` (a primary that became a replica) are
//! retried after a pause and a refresh. A command whose node cannot be reached refreshes
//! the map and is retried when it certainly did not run (or is safe to resend). Nothing
//! here holds a lock across a network wait: a shard that is down delays only its own
//! commands.

mod fanout;
mod pipeline;
mod pubsub;
mod router;
mod topology;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use lockstep_resp::Frame;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::client::Client;
use crate::cmd::{cmd, Cmd};
use crate::config::{Addr, Config};
use crate::connection::{Meta, Slot};
use crate::error::{ClosedBy, Error, Sent, ServerError};
use crate::reply::FromReply;
use fanout::{Request, Response};
pub use pipeline::ClusterPipeline;
pub use pubsub::ClusterSubscriber;
pub use router::RouterState;
use router::{Msg, Router, View};

/// Where commands that only read are sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadFrom {
    /// The shard's primary, always.
    #[default]
    Primary,
    /// One of the shard's replicas (in turn), the primary when it has none.
    PreferReplica,
    /// The primary and the replicas in turn.
    RoundRobin,
}

/// How the cluster client routes and keeps its map.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub read_from: ReadFrom,
    /// The map is fetched again this often (`None`: only when a reply says it is stale).
    pub refresh_interval: Option<Duration>,
    /// No two fetches closer than this: a storm of redirections costs one fetch.
    pub min_refresh_interval: Duration,
    /// Redirections and retries for one command before its last error is returned.
    pub max_redirects: usize,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions {
            read_from: ReadFrom::Primary,
            refresh_interval: Some(Duration::from_secs(30)),
            min_refresh_interval: Duration::from_millis(100),
            max_redirects: 5,
        }
    }
}

/// Counters of the router.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterMetrics {
    /// `-MOVED` replies followed.
    pub moved: u64,
    /// `-ASK` replies followed.
    pub asked: u64,
    /// Slot maps fetched.
    pub refreshes: u64,
    /// Commands retried after `-TRYAGAIN`, `-CLUSTERDOWN`, `-READONLY` or an unreachable
    /// node.
    pub retries: u64,
    /// Commands sent to several nodes (split by slot, or to every shard).
    pub fanouts: u64,
}

struct Inner {
    tx: mpsc::UnboundedSender<Msg>,
    view: watch::Receiver<Arc<View>>,
    opts: ClusterOptions,
    /// What every node connection starts from.
    base: Config,
    command_timeout: Option<Duration>,
    seeds: Vec<String>,
    /// Turn counter for keyless commands and replica reads.
    turn: AtomicUsize,
    moved: AtomicU64,
    asked: AtomicU64,
    refreshes: Arc<AtomicU64>,
    retries: AtomicU64,
    fanouts: AtomicU64,
}

/// A client of a Redis Cluster. Cheap to clone; clones share the router, the slot map and
/// the connections.
#[derive(Clone)]
pub struct ClusterClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            .field("seeds", &self.inner.seeds)
            .field("state", &self.state())
            .finish()
    }
}

/// A redirection or a retryable cluster error, read from an error reply.
enum Steer {
    Moved(u16, String),
    /// The node importing the slot, for this one command.
    Ask(String),
    /// Retry after a pause and a fresh map.
    Retry,
}

fn steer(e: &ServerError) -> Option<Steer> {
    let mut words = e.message.split_ascii_whitespace();
    match e.code.as_str() {
        "MOVED" | "ASK" => {
            let slot = words.next()?.parse().ok()?;
            let node = words.next()?.to_string();
            Some(if e.code == "MOVED" {
                Steer::Moved(slot, node)
            } else {
                Steer::Ask(node)
            })
        }
        // READONLY: the node the map calls a primary is a replica now (a failover); the
        // write did not run.
        "TRYAGAIN" | "CLUSTERDOWN" | "READONLY" => Some(Steer::Retry),
        _ => None,
    }
}

/// The command certainly did not run (nothing was written, or no connection was made).
fn did_not_run(e: &Error) -> bool {
    e.not_sent() || matches!(e, Error::Connect(_))
}

fn backoff(attempt: usize) -> Duration {
    Duration::from_millis(20 * (1 << attempt.min(5)) as u64)
}

fn crossslot() -> Error {
    Error::Server(ServerError::from_bytes(
        b"CROSSSLOT Keys in request don't hash to the same slot",
    ))
}

fn clusterdown() -> Error {
    Error::Server(ServerError::from_bytes(b"CLUSTERDOWN Hash slot not served"))
}

impl ClusterClient {
    /// A cluster client that learns the cluster from `seeds` (any of its nodes). `base` is
    /// the configuration every node's connection starts from (its address replaced).
    /// Nothing connects until `connect()` or the first command.
    pub fn new(seeds: &[Addr], base: Config) -> ClusterClient {
        ClusterClient::with_options(seeds, base, ClusterOptions::default())
    }

    pub fn with_options(seeds: &[Addr], base: Config, opts: ClusterOptions) -> ClusterClient {
        let seeds: Vec<String> = seeds
            .iter()
            .filter_map(|a| match a {
                Addr::Tcp { host, port, .. } => Some(topology::node_name(host, *port)),
                Addr::Unix(_) => None,
            })
            .collect();
        let refreshes = Arc::new(AtomicU64::new(0));
        let command_timeout = base.command_timeout;
        let (tx, view) =
            Router::spawn(base.clone(), seeds.clone(), opts.clone(), refreshes.clone());
        ClusterClient {
            inner: Arc::new(Inner {
                tx,
                view,
                opts,
                base,
                command_timeout,
                seeds,
                turn: AtomicUsize::new(0),
                moved: AtomicU64::new(0),
                asked: AtomicU64::new(0),
                refreshes,
                retries: AtomicU64::new(0),
                fanouts: AtomicU64::new(0),
            }),
        }
    }

    /// Parses `redis://host:port` URLs of some of the nodes; the first gives the rest of
    /// the configuration.
    pub fn from_urls(urls: &[&str]) -> Result<ClusterClient, Error> {
        let configs = urls
            .iter()
            .map(|u| Config::from_url(u))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(base) = configs.first().cloned() else {
            return Err(Error::Config(
                "a cluster client needs at least one node".into(),
            ));
        };
        let seeds: Vec<Addr> = configs.into_iter().map(|c| c.addr).collect();
        Ok(ClusterClient::new(&seeds, base))
    }

    pub fn metrics(&self) -> ClusterMetrics {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClusterMetrics {
            moved: g(&self.inner.moved),
            asked: g(&self.inner.asked),
            refreshes: g(&self.inner.refreshes),
            retries: g(&self.inner.retries),
            fanouts: g(&self.inner.fanouts),
        }
    }

    fn view(&self) -> Arc<View> {
        self.inner.view.borrow().clone()
    }

    /// The router's state.
    pub fn state(&self) -> RouterState {
        self.inner.view.borrow().state
    }

    /// The router's epoch: it grows by one with every change of state or map.
    pub fn epoch(&self) -> u64 {
        self.inner.view.borrow().epoch
    }

    /// The primaries the slot map knows (`host:port`).
    pub fn nodes(&self) -> Vec<String> {
        self.view()
            .topology
            .primaries()
            .map(str::to_string)
            .collect()
    }

    /// The replicas the slot map knows (`host:port`), of every shard.
    pub fn replicas(&self) -> Vec<String> {
        self.view()
            .topology
            .shards
            .iter()
            .flat_map(|s| s.replicas.iter().cloned())
            .collect()
    }

    fn ask_router(&self, m: Msg) -> Result<(), Error> {
        self.inner.tx.send(m).map_err(|_| Error::Closed {
            by: ClosedBy::Shutdown,
            sent: Sent::No,
        })
    }

    /// Fetches the slot map (once, for any number of concurrent callers: they join the
    /// fetch in progress). Returns at once when a map is there.
    pub async fn connect(&self) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.ask_router(Msg::Connect(tx))?;
        rx.await.unwrap_or(Err(Error::Closed {
            by: ClosedBy::Shutdown,
            sent: Sent::No,
        }))
    }

    /// Closes every node's connection and forgets the slot map; returns once they are
    /// closed. Idempotent. A later command or `connect()` starts from the seeds again.
    pub async fn disconnect(&self) {
        let (tx, rx) = oneshot::channel();
        if self.ask_router(Msg::Disconnect(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// A view with a map, connecting when there is none.
    async fn ready_view(&self) -> Result<Arc<View>, Error> {
        for _ in 0..3 {
            let v = self.view();
            if v.state == RouterState::Ready {
                return Ok(v);
            }
            self.connect().await?;
        }
        // Disconnected again each time it connected: somebody keeps disconnecting.
        Err(Error::Closed {
            by: ClosedBy::Disconnect,
            sent: Sent::No,
        })
    }

    /// Waits for a map fetched after the one `seen` was part of.
    async fn refresh(&self, seen: &View) {
        let (tx, rx) = oneshot::channel();
        if self
            .ask_router(Msg::Refresh {
                seen: seen.fetched.max(seen.epoch),
                done: tx,
            })
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// The connection to `node`: from the view, or made by the router.
    async fn client(&self, view: &View, node: &str) -> Result<Client, Error> {
        if let Some(c) = view.clients.get(node) {
            return Ok(c.clone());
        }
        let (tx, rx) = oneshot::channel();
        self.ask_router(Msg::Node {
            node: node.to_string(),
            tx,
        })?;
        rx.await.unwrap_or(Err(Error::Closed {
            by: ClosedBy::Shutdown,
            sent: Sent::No,
        }))
    }

    fn next_turn(&self) -> usize {
        self.inner.turn.fetch_add(1, Ordering::Relaxed)
    }

    /// The node for a command on `slot`: the primary, or a replica for a read when the
    /// options say so (unless `primary_only`, after a replica failed it).
    fn pick(
        &self,
        view: &View,
        slot: u16,
        meta: &Meta,
        primary_only: bool,
    ) -> Result<String, Error> {
        let shard = view.topology.shard_of(slot).ok_or_else(clusterdown)?;
        let read = meta.has(lockstep_commands::flags::READONLY)
            && !meta.has(lockstep_commands::flags::WRITE);
        if !read || primary_only || shard.replicas.is_empty() {
            return Ok(shard.primary.clone());
        }
        let n = shard.replicas.len();
        Ok(match self.inner.opts.read_from {
            ReadFrom::Primary => shard.primary.clone(),
            ReadFrom::PreferReplica => shard.replicas[self.next_turn() % n].clone(),
            ReadFrom::RoundRobin => match self.next_turn() % (n + 1) {
                0 => shard.primary.clone(),
                i => shard.replicas[i - 1].clone(),
            },
        })
    }

    /// Any primary, in turn (keyless commands).
    fn any_primary(&self, view: &View) -> Result<String, Error> {
        let primaries: Vec<&str> = view.topology.primaries().collect();
        if primaries.is_empty() {
            return Err(clusterdown());
        }
        Ok(primaries[self.next_turn() % primaries.len()].to_string())
    }

    /// Sends a command where it belongs, following redirections; error replies become
    /// `Error::Server`. Multi-key commands whose keys are in several slots are split by
    /// slot where Redis's command table allows it (MGET, MSET, DEL, EXISTS, UNLINK, TOUCH);
    /// keyless commands that concern every shard (DBSIZE, FLUSHALL, SCRIPT LOAD, KEYS, ...)
    /// go to every one, and SCAN walks the nodes one after the other behind one cursor.
    pub async fn send(&self, c: &Cmd) -> Result<Frame, Error> {
        let meta = c.meta();
        match meta.slot {
            Some(Slot::One(slot)) => self.send_to_slot(c, meta, slot).await,
            Some(Slot::Cross) => match fanout::policies(c) {
                (Request::MultiShard, response) => self.send_split(c, response).await,
                _ => Err(crossslot()),
            },
            _ => match fanout::policies(c) {
                (Request::AllShards, response) => self.send_to_all(c, response, false).await,
                (Request::AllNodes, response) => self.send_to_all(c, response, true).await,
                (Request::Special, _) if c.name().eq_ignore_ascii_case(b"scan") => {
                    self.scan(c).await
                }
                _ => self.send_keyless(c, meta).await,
            },
        }
    }

    /// One command to the node serving `slot`, with redirections and retries.
    async fn send_to_slot(&self, c: &Cmd, meta: Meta, slot: u16) -> Result<Frame, Error> {
        let max = self.inner.opts.max_redirects;
        let timeout = c.timeout_override().unwrap_or(self.inner.command_timeout);
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut view = self.ready_view().await?;
        // `None`: no shard serves the slot in this map (a primary failed and its replica is
        // not promoted yet): retried like CLUSTERDOWN, on a fresh map.
        let mut node = self.pick(&view, slot, &meta, false).ok();
        let mut asking = false;
        let mut attempt = 0;
        loop {
            let result = match &node {
                Some(n) => {
                    let client = self.client(&view, n).await?;
                    self.request(&client, c, meta, asking).await
                }
                None => Err(clusterdown()),
            };
            asking = false;
            let e = match result {
                Ok(Frame::Error(text)) => Error::Server(ServerError::from_bytes(&text)),
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            let steer = match &e {
                Error::Server(se) => steer(se),
                e if e.is_connection_error() && (did_not_run(e) || meta.resend_safe) => {
                    Some(Steer::Retry)
                }
                _ => None,
            };
            // Redirections are bounded by count; waits for a shard to come back (a failover
            // takes seconds) by the command timeout too.
            let waiting = matches!(steer, Some(Steer::Retry))
                && deadline.is_some_and(|d| Instant::now() + backoff(attempt + 1) < d);
            if attempt >= max && !waiting {
                return Err(e);
            }
            attempt += 1;
            match steer {
                Some(Steer::Moved(slot, to)) => {
                    self.inner.moved.fetch_add(1, Ordering::Relaxed);
                    // The next command on this slot must see the move: wait for the view.
                    let (done, moved) = oneshot::channel();
                    if self
                        .ask_router(Msg::Moved {
                            slot,
                            node: to.clone(),
                            done: Some(done),
                        })
                        .is_ok()
                    {
                        let _ = moved.await;
                    }
                    node = Some(to);
                }
                Some(Steer::Ask(to)) => {
                    self.inner.asked.fetch_add(1, Ordering::Relaxed);
                    node = Some(to);
                    asking = true;
                }
                Some(Steer::Retry) => {
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                    self.refresh(&view).await;
                    view = self.ready_view().await?;
                    // A replica that failed a read is not asked again for it.
                    let primary_only = !matches!(e, Error::Server(_));
                    node = self.pick(&view, slot, &meta, primary_only).ok();
                }
                None => return Err(e),
            }
        }
    }

    /// One request on one node's connection; with `asking`, `ASKING` goes first in the
    /// same write and its reply is dropped.
    async fn request(
        &self,
        client: &Client,
        c: &Cmd,
        meta: Meta,
        asking: bool,
    ) -> Result<Frame, Error> {
        if !asking {
            return client
                .request(c.encode(), 1, meta, c.timeout_override())
                .await;
        }
        let mut bytes = BytesMut::new();
        cmd("ASKING").encode_into(&mut bytes);
        c.encode_into(&mut bytes);
        let reply = client
            .request(bytes.freeze(), 2, meta, c.timeout_override())
            .await?;
        Ok(match reply {
            Frame::Array(mut v) if v.len() == 2 => v.pop().unwrap_or(Frame::Null),
            other => other,
        })
    }

    /// A keyless command with no policy: any primary; retried elsewhere when its node is
    /// unreachable and it certainly did not run.
    async fn send_keyless(&self, c: &Cmd, meta: Meta) -> Result<Frame, Error> {
        let max = self.inner.opts.max_redirects;
        let mut view = self.ready_view().await?;
        let mut attempt = 0;
        loop {
            let node = self.any_primary(&view)?;
            let client = self.client(&view, &node).await?;
            match self.request(&client, c, meta, false).await {
                Err(e)
                    if attempt < max
                        && e.is_connection_error()
                        && (did_not_run(&e) || meta.resend_safe) =>
                {
                    attempt += 1;
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                    self.refresh(&view).await;
                    view = self.ready_view().await?;
                }
                other => return other,
            }
        }
    }

    /// A multi-key command cut by slot; the parts run at once.
    async fn send_split(&self, c: &Cmd, response: Response) -> Result<Frame, Error> {
        let Some(parts) = fanout::split(c) else {
            return Err(crossslot());
        };
        self.inner.fanouts.fetch_add(1, Ordering::Relaxed);
        let keys = parts.iter().map(|p| p.keys.len()).sum();
        let mut running = tokio::task::JoinSet::new();
        for (i, part) in parts.iter().enumerate() {
            let me = self.clone();
            let (cmd, slot) = (part.cmd.clone(), part.slot);
            running.spawn(async move {
                let meta = cmd.meta();
                (i, me.send_to_slot(&cmd, meta, slot).await)
            });
        }
        let mut replies: Vec<Option<Frame>> = vec![None; parts.len()];
        let mut first_error = None;
        while let Some(done) = running.join_next().await {
            match done {
                Ok((i, Ok(f))) => replies[i] = Some(f),
                Ok((_, Err(e))) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(Error::Protocol(format!("split command: {e}")));
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let replies = replies
            .into_iter()
            .map(|r| r.unwrap_or(Frame::Null))
            .collect();
        fanout::merge_parts(response, &parts, replies, keys)
    }

    /// A keyless command to every primary (or every node), replies aggregated.
    async fn send_to_all(
        &self,
        c: &Cmd,
        response: Response,
        replicas_too: bool,
    ) -> Result<Frame, Error> {
        let view = self.ready_view().await?;
        let nodes: Vec<String> = if replicas_too {
            view.topology.nodes().map(str::to_string).collect()
        } else {
            view.topology.primaries().map(str::to_string).collect()
        };
        if nodes.is_empty() {
            return Err(clusterdown());
        }
        self.inner.fanouts.fetch_add(1, Ordering::Relaxed);
        let meta = c.meta();
        let mut running = tokio::task::JoinSet::new();
        for (i, node) in nodes.iter().enumerate() {
            let client = self.client(&view, node).await?;
            let bytes = c.encode();
            let timeout = c.timeout_override();
            running.spawn(async move { (i, client.request(bytes, 1, meta, timeout).await) });
        }
        let mut replies: Vec<Option<Result<Frame, Error>>> = vec![None; nodes.len()];
        while let Some(done) = running.join_next().await {
            match done {
                Ok((i, r)) => replies[i] = Some(r),
                Err(e) => return Err(Error::Protocol(format!("fan-out: {e}"))),
            }
        }
        let replies = nodes
            .into_iter()
            .zip(replies)
            .map(|(n, r)| (n, r.unwrap_or(Err(Error::Protocol("no reply".into())))))
            .collect();
        fanout::merge_nodes(response, replies)
    }

    /// SCAN over the whole cluster: the cursor names a primary (in the map's order) and
    /// that node's own cursor; each call scans one node.
    async fn scan(&self, c: &Cmd) -> Result<Frame, Error> {
        let view = self.ready_view().await?;
        let primaries: Vec<String> = view.topology.primaries().map(str::to_string).collect();
        let args: Vec<&[u8]> = c.args().collect();
        let Some((node, cursor)) = args.get(1).and_then(|a| fanout::scan_cursor(a)) else {
            // Not a cursor Redis would take: let a node say so in its words.
            return self.send_keyless(c, c.meta()).await;
        };
        let Some(addr) = primaries.get(node) else {
            return Err(Error::Server(ServerError::from_bytes(
                b"ERR invalid cursor",
            )));
        };
        let cursor = cursor.to_string();
        let mut node_args = args.clone();
        node_args[1] = cursor.as_bytes();
        let node_cmd = Cmd::from_args(node_args, c);
        let client = self.client(&view, addr).await?;
        let reply = self
            .request(&client, &node_cmd, node_cmd.meta(), false)
            .await?;
        let Frame::Array(mut items) = reply else {
            return match reply {
                Frame::Error(e) => Err(Error::Server(ServerError::from_bytes(&e))),
                other => Err(Error::Protocol(format!(
                    "unexpected SCAN reply: {}",
                    crate::reply::describe(&other)
                ))),
            };
        };
        let next = items
            .first()
            .and_then(|f| f.as_bytes())
            .and_then(|b| std::str::from_utf8(b).ok()?.parse::<u64>().ok())
            .ok_or_else(|| Error::Protocol("unexpected SCAN cursor".into()))?;
        let cursor = fanout::next_scan_cursor(node, primaries.len(), next)?;
        items[0] = Frame::Bulk(cursor.to_string().into());
        Ok(Frame::Array(items))
    }

    /// Sends a command and converts its reply.
    pub async fn query<T: FromReply>(&self, c: Cmd) -> Result<T, Error> {
        T::from_reply(self.send(&c).await?)
    }

    /// Sharded pub/sub: SSUBSCRIBE'd channels placed on their slots' primaries, and kept
    /// there through slot moves and failovers. Publish with `SPUBLISH` through this client.
    pub fn sharded_subscriber(&self) -> ClusterSubscriber {
        ClusterSubscriber::new(self.clone())
    }

    /// A pipeline: its commands are sent to their nodes (one write per node) and the
    /// replies returned in the order of the commands.
    pub fn pipeline(&self) -> ClusterPipeline {
        ClusterPipeline::new(self.clone())
    }
}

impl crate::Commands for ClusterClient {
    async fn send_frame(&self, cmd: Cmd) -> Result<Frame, Error> {
        self.send(&cmd).await
    }

    fn command_timeout(&self) -> Option<Duration> {
        self.inner.command_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirections_are_read_from_error_replies() {
        let moved = ServerError::from_bytes(b"MOVED 3999 127.0.0.1:6381");
        assert!(matches!(steer(&moved), Some(Steer::Moved(3999, n)) if n == "127.0.0.1:6381"));
        let ask = ServerError::from_bytes(b"ASK 1 [::1]:7000");
        assert!(matches!(steer(&ask), Some(Steer::Ask(n)) if n == "[::1]:7000"));
        for retry in [
            &b"TRYAGAIN Multiple keys request during rehashing of slot"[..],
            b"CLUSTERDOWN The cluster is down",
            b"READONLY You can't write against a read only replica.",
        ] {
            assert!(matches!(
                steer(&ServerError::from_bytes(retry)),
                Some(Steer::Retry)
            ));
        }
        assert!(steer(&ServerError::from_bytes(b"ERR wrong")).is_none());
        assert_eq!(
            topology::split_node("[::1]:7000"),
            Some(("::1".into(), 7000))
        );
    }
}
