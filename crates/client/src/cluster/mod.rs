//! A Redis Cluster client, first slice: routing by hash slot over one multiplexed `Client`
//! per node, redirections followed, the slot map refreshed single-flight.
//!
//! The slot map comes from CLUSTER SHARDS (CLUSTER SLOTS when the server has no SHARDS),
//! asked of the known nodes in turn until one answers. A command goes to the primary that
//! owns its slot (`Cmd::meta`); a keyless one to any primary. Replies steer the routing:
//! `-MOVED slot addr` moves the slot in the map (and asks for a refresh), then the command
//! goes there; `-ASK slot addr` sends `ASKING` and the command to that node once, leaving
//! the map alone; `-TRYAGAIN` and `-CLUSTERDOWN` are retried after a pause. A command whose
//! node cannot be reached refreshes the map and is retried when it certainly did not run
//! (or is safe to resend).
//!
//! Lifecycle: `connect()` and `disconnect()` are serialized (one at a time, in call order),
//! so the connect → command → disconnect → connect loop of seed 000 cannot interleave two of
//! them; `disconnect()` closes every node's connection and forgets them, and the next
//! `connect()` starts from the map again. Not yet here (issue 9's later slices): replicas
//! and read-from-replica, splitting multi-key commands and pipelines by slot, sharded
//! pub/sub, and the router as an actor with its own state enum and epochs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::BytesMut;
use lockstep_resp::Frame;

use crate::client::Client;
use crate::cmd::{cmd, Cmd};
use crate::config::{Addr, Config};
use crate::connection::{Meta, Slot};
use crate::error::{Error, ServerError};
use crate::reply::FromReply;

/// Redirections followed for one command before giving up.
const MAX_REDIRECTS: usize = 5;

/// Slots in a cluster.
const SLOTS: usize = lockstep_commands::slot::SLOTS as usize;

/// Which node serves each slot.
#[derive(Clone, Debug, Default)]
struct Topology {
    /// Node addresses (`host:port`), primaries only.
    nodes: Vec<String>,
    /// Slot → index into `nodes`; `None` when no node serves it.
    slots: Vec<Option<u32>>,
}

impl Topology {
    fn node_of(&self, slot: u16) -> Option<&str> {
        let i = (*self.slots.get(usize::from(slot))?)?;
        self.nodes.get(i as usize).map(String::as_str)
    }

    /// Sets `slot`'s node, adding the node when new.
    fn assign(&mut self, slot: u16, node: &str) {
        let i = match self.nodes.iter().position(|n| n == node) {
            Some(i) => i,
            None => {
                self.nodes.push(node.to_string());
                self.nodes.len() - 1
            }
        };
        if let Some(s) = self.slots.get_mut(usize::from(slot)) {
            *s = Some(i as u32);
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
    /// Commands retried after `-TRYAGAIN`, `-CLUSTERDOWN` or an unreachable node.
    pub retries: u64,
}

struct Inner {
    base: Config,
    seeds: Vec<String>,
    topology: RwLock<Arc<Topology>>,
    clients: Mutex<HashMap<String, Client>>,
    /// connect() and disconnect(), one at a time; also single-flights refreshes.
    lifecycle: tokio::sync::Mutex<()>,
    moved: AtomicU64,
    asked: AtomicU64,
    refreshes: AtomicU64,
    retries: AtomicU64,
}

/// A client of a Redis Cluster. Cheap to clone; clones share the slot map and the
/// connections.
#[derive(Clone)]
pub struct ClusterClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            .field("seeds", &self.inner.seeds)
            .finish()
    }
}

/// `host:port` of an address, as CLUSTER SHARDS and redirections name nodes.
fn node_name(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host:port` (or `[v6]:port`).
fn split_node(node: &str) -> Option<(String, u16)> {
    let (host, port) = node.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

/// A redirection or a retryable cluster error, read from an error reply.
enum Steer {
    Moved(u16, String),
    /// The node importing the slot, for this one command.
    Ask(String),
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
        "TRYAGAIN" | "CLUSTERDOWN" => Some(Steer::Retry),
        _ => None,
    }
}

impl ClusterClient {
    /// A cluster client that learns the cluster from `seeds` (any of its nodes). `base` is
    /// the configuration every node's connection starts from (its address replaced).
    /// Nothing connects until `connect()` or the first command.
    pub fn new(seeds: &[Addr], base: Config) -> ClusterClient {
        let seeds = seeds
            .iter()
            .filter_map(|a| match a {
                Addr::Tcp { host, port, .. } => Some(node_name(host, *port)),
                Addr::Unix(_) => None,
            })
            .collect();
        ClusterClient {
            inner: Arc::new(Inner {
                base,
                seeds,
                topology: RwLock::new(Arc::new(Topology::default())),
                clients: Mutex::new(HashMap::new()),
                lifecycle: tokio::sync::Mutex::new(()),
                moved: AtomicU64::new(0),
                asked: AtomicU64::new(0),
                refreshes: AtomicU64::new(0),
                retries: AtomicU64::new(0),
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
        }
    }

    /// The primaries the slot map knows (`host:port`).
    pub fn nodes(&self) -> Vec<String> {
        self.topology().nodes.clone()
    }

    fn topology(&self) -> Arc<Topology> {
        self.inner
            .topology
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Fetches the slot map (once, for any number of concurrent callers: they share the
    /// connect in progress).
    pub async fn connect(&self) -> Result<(), Error> {
        let _turn = self.inner.lifecycle.lock().await;
        self.refresh_locked().await
    }

    /// Closes every node's connection and forgets the slot map. Idempotent.
    pub async fn disconnect(&self) {
        let _turn = self.inner.lifecycle.lock().await;
        let clients: Vec<Client> = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, c)| c)
            .collect();
        for c in clients {
            c.disconnect().await;
        }
        *self
            .inner
            .topology
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(Topology::default());
    }

    /// Asks for a new slot map unless another caller is fetching one.
    async fn refresh(&self) -> Result<(), Error> {
        match self.inner.lifecycle.try_lock() {
            Ok(_turn) => self.refresh_locked().await,
            // A connect, disconnect or refresh is under way: its map is as new as ours.
            Err(_) => {
                let _wait = self.inner.lifecycle.lock().await;
                Ok(())
            }
        }
    }

    async fn refresh_locked(&self) -> Result<(), Error> {
        let mut candidates: Vec<String> = self.topology().nodes.clone();
        for s in &self.inner.seeds {
            if !candidates.contains(s) {
                candidates.push(s.clone());
            }
        }
        let mut last = None;
        for node in candidates {
            match self.fetch_topology(&node).await {
                Ok(t) => {
                    self.inner.refreshes.fetch_add(1, Ordering::Relaxed);
                    *self
                        .inner
                        .topology
                        .write()
                        .unwrap_or_else(|p| p.into_inner()) = Arc::new(t);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no cluster node to ask".into())))
    }

    /// The slot map as `node` sees it.
    async fn fetch_topology(&self, node: &str) -> Result<Topology, Error> {
        let client = self.client(node)?;
        match client.send(&cmd("CLUSTER").arg("SHARDS")).await {
            Ok(reply) => shards_topology(reply, node),
            Err(Error::Server(e)) if e.is_unknown_command() || e.message.contains("SHARDS") => {
                let reply = client.send(&cmd("CLUSTER").arg("SLOTS")).await?;
                slots_topology(reply, node)
            }
            Err(e) => Err(e),
        }
    }

    /// The connection to `node`, made on first use.
    fn client(&self, node: &str) -> Result<Client, Error> {
        let mut clients = self.inner.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(node) {
            return Ok(c.clone());
        }
        let (host, port) = split_node(node)
            .ok_or_else(|| Error::Protocol(format!("not a node address: {node}")))?;
        let mut cfg = self.inner.base.clone();
        let tls = matches!(cfg.addr, Addr::Tcp { tls: true, .. });
        cfg.addr = Addr::Tcp { host, port, tls };
        let c = Client::new(cfg);
        clients.insert(node.to_string(), c.clone());
        Ok(c)
    }

    /// Where a command goes first.
    async fn route(&self, meta: &Meta) -> Result<String, Error> {
        let mut topology = self.topology();
        if topology.nodes.is_empty() {
            self.refresh().await?;
            topology = self.topology();
        }
        let node = match meta.slot {
            Some(Slot::One(slot)) => topology.node_of(slot).map(str::to_string),
            Some(Slot::Cross) => {
                return Err(Error::Server(ServerError::from_bytes(
                    b"CROSSSLOT Keys in request don't hash to the same slot",
                )))
            }
            _ => None,
        };
        match node.or_else(|| topology.nodes.first().cloned()) {
            Some(n) => Ok(n),
            None => Err(Error::Server(ServerError::from_bytes(
                b"CLUSTERDOWN The cluster is down",
            ))),
        }
    }

    /// Sends a command to the node that serves it, following redirections; error replies
    /// become `Error::Server`.
    pub async fn send(&self, c: &Cmd) -> Result<Frame, Error> {
        let meta = c.meta();
        let mut node = self.route(&meta).await?;
        let mut asking = false;
        for attempt in 0..=MAX_REDIRECTS {
            let client = self.client(&node)?;
            let result = if asking {
                asking = false;
                let mut bytes = BytesMut::new();
                cmd("ASKING").encode_into(&mut bytes);
                c.encode_into(&mut bytes);
                client
                    .request(bytes.freeze(), 2, meta, c.timeout_override())
                    .await
                    .map(|f| match f {
                        Frame::Array(mut v) if v.len() == 2 => v.pop().unwrap_or(Frame::Null),
                        other => other,
                    })
            } else {
                client
                    .request(c.encode(), 1, meta, c.timeout_override())
                    .await
            };
            let reply = match result {
                Ok(f) => f,
                Err(e) if attempt < MAX_REDIRECTS && (e.not_sent() || meta.resend_safe) => {
                    if !e.is_connection_error() {
                        return Err(e);
                    }
                    // The node may be gone or have handed its slots over: ask again.
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                    let _ = self.refresh().await;
                    node = self.route(&meta).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Frame::Error(text) = &reply else {
                return Ok(reply);
            };
            let e = ServerError::from_bytes(text);
            match steer(&e) {
                Some(Steer::Moved(slot, to)) if attempt < MAX_REDIRECTS => {
                    self.inner.moved.fetch_add(1, Ordering::Relaxed);
                    self.moved(slot, &to);
                    node = to;
                }
                Some(Steer::Ask(to)) if attempt < MAX_REDIRECTS => {
                    self.inner.asked.fetch_add(1, Ordering::Relaxed);
                    node = to;
                    asking = true;
                }
                Some(Steer::Retry) if attempt < MAX_REDIRECTS => {
                    self.inner.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                    let _ = self.refresh().await;
                    node = self.route(&meta).await?;
                }
                _ => return Err(Error::Server(e)),
            }
        }
        Err(Error::Protocol(format!(
            "more than {MAX_REDIRECTS} redirections for {}",
            c.display_name()
        )))
    }

    /// A MOVED: the slot is served by `node` now (in a copy of the map, so readers never
    /// wait).
    fn moved(&self, slot: u16, node: &str) {
        let mut lock = self
            .inner
            .topology
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let mut t = (**lock).clone();
        if t.slots.len() != SLOTS {
            t.slots = vec![None; SLOTS];
        }
        t.assign(slot, node);
        *lock = Arc::new(t);
    }

    /// Sends a command and converts its reply.
    pub async fn query<T: FromReply>(&self, c: Cmd) -> Result<T, Error> {
        T::from_reply(self.send(&c).await?)
    }
}

fn backoff(attempt: usize) -> Duration {
    Duration::from_millis(20 * (1 << attempt.min(5)) as u64)
}

/// The field `name` of a RESP3 map or a RESP2 flat array of pairs.
fn field<'a>(entry: &'a Frame, name: &str) -> Option<&'a Frame> {
    let pairs: Vec<(&Frame, &Frame)> = match entry {
        Frame::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        Frame::Array(a) => a
            .chunks(2)
            .filter_map(|p| Some((&p[0], p.get(1)?)))
            .collect(),
        _ => return None,
    };
    pairs
        .into_iter()
        .find(|(k, _)| k.as_bytes() == Some(name.as_bytes()))
        .map(|(_, v)| v)
}

fn int(f: &Frame) -> Option<i64> {
    match f {
        Frame::Integer(n) => Some(*n),
        other => std::str::from_utf8(other.as_bytes()?).ok()?.parse().ok(),
    }
}

fn text(f: &Frame) -> Option<String> {
    f.as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// A node's address from what the map says of it; an empty or `?` host is the one the
/// map was asked of (Redis's convention for "the address you reached me at").
fn address(host: Option<String>, port: Option<i64>, asked: &str) -> Option<String> {
    let port = u16::try_from(port?).ok()?;
    let host = match host.filter(|h| !h.is_empty() && h != "?") {
        Some(h) => h,
        None => split_node(asked)?.0,
    };
    Some(node_name(&host, port))
}

fn malformed(what: &str) -> Error {
    Error::Protocol(format!("unexpected {what} reply"))
}

/// CLUSTER SHARDS: per shard, its slot ranges and its nodes (the primary has role
/// `master`).
fn shards_topology(reply: Frame, asked: &str) -> Result<Topology, Error> {
    let Frame::Array(shards) = reply else {
        return Err(malformed("CLUSTER SHARDS"));
    };
    let mut t = Topology {
        nodes: Vec::new(),
        slots: vec![None; SLOTS],
    };
    for shard in &shards {
        let (Some(Frame::Array(ranges)), Some(Frame::Array(nodes))) =
            (field(shard, "slots"), field(shard, "nodes"))
        else {
            return Err(malformed("CLUSTER SHARDS"));
        };
        let primary = nodes.iter().find(|n| {
            field(n, "role").and_then(text).as_deref() == Some("master")
                && field(n, "health").and_then(text).as_deref() != Some("fail")
        });
        let Some(primary) = primary else { continue };
        let host = field(primary, "endpoint")
            .and_then(text)
            .or_else(|| field(primary, "ip").and_then(text));
        let port = field(primary, "port").and_then(int);
        let Some(node) = address(host, port, asked) else {
            return Err(malformed("CLUSTER SHARDS"));
        };
        for range in ranges.chunks(2) {
            let (Some(start), Some(end)) = (int(&range[0]), range.get(1).and_then(int)) else {
                return Err(malformed("CLUSTER SHARDS"));
            };
            for slot in start.max(0)..=end.min(SLOTS as i64 - 1) {
                t.assign(slot as u16, &node);
            }
        }
    }
    Ok(t)
}

/// CLUSTER SLOTS: per range, start, end, then the primary `[host, port, id, ...]`.
fn slots_topology(reply: Frame, asked: &str) -> Result<Topology, Error> {
    let Frame::Array(ranges) = reply else {
        return Err(malformed("CLUSTER SLOTS"));
    };
    let mut t = Topology {
        nodes: Vec::new(),
        slots: vec![None; SLOTS],
    };
    for range in &ranges {
        let Frame::Array(items) = range else {
            return Err(malformed("CLUSTER SLOTS"));
        };
        let (Some(start), Some(end), Some(Frame::Array(primary))) = (
            items.first().and_then(int),
            items.get(1).and_then(int),
            items.get(2),
        ) else {
            return Err(malformed("CLUSTER SLOTS"));
        };
        let host = primary.first().and_then(text);
        let port = primary.get(1).and_then(int);
        let Some(node) = address(host, port, asked) else {
            return Err(malformed("CLUSTER SLOTS"));
        };
        for slot in start.max(0)..=end.min(SLOTS as i64 - 1) {
            t.assign(slot as u16, &node);
        }
    }
    Ok(t)
}

impl crate::Commands for ClusterClient {
    async fn send_frame(&self, cmd: Cmd) -> Result<Frame, Error> {
        self.send(&cmd).await
    }

    fn command_timeout(&self) -> Option<Duration> {
        self.inner.base.command_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(bytes::Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn redirections_are_read_from_error_replies() {
        let moved = ServerError::from_bytes(b"MOVED 3999 127.0.0.1:6381");
        assert!(matches!(steer(&moved), Some(Steer::Moved(3999, n)) if n == "127.0.0.1:6381"));
        let ask = ServerError::from_bytes(b"ASK 1 [::1]:7000");
        assert!(matches!(steer(&ask), Some(Steer::Ask(n)) if n == "[::1]:7000"));
        assert!(matches!(
            steer(&ServerError::from_bytes(
                b"TRYAGAIN Multiple keys request during rehashing of slot"
            )),
            Some(Steer::Retry)
        ));
        assert!(steer(&ServerError::from_bytes(b"ERR wrong")).is_none());
        assert_eq!(split_node("[::1]:7000"), Some(("::1".into(), 7000)));
    }

    #[test]
    fn cluster_slots_makes_a_map() {
        let reply = Frame::Array(vec![
            Frame::Array(vec![
                Frame::Integer(0),
                Frame::Integer(5460),
                Frame::Array(vec![bulk("127.0.0.1"), Frame::Integer(7000), bulk("id")]),
            ]),
            Frame::Array(vec![
                Frame::Integer(5461),
                Frame::Integer(16383),
                Frame::Array(vec![bulk(""), Frame::Integer(7001), bulk("id2")]),
            ]),
        ]);
        let t = slots_topology(reply, "10.0.0.9:7001").unwrap();
        assert_eq!(t.node_of(0), Some("127.0.0.1:7000"));
        assert_eq!(t.node_of(5461), Some("10.0.0.9:7001"));
        assert_eq!(t.nodes.len(), 2);
    }
}
