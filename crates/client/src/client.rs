//! The handle users hold: cheap to clone, every clone talks to the same connection actor.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lockstep_resp::Frame;
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore, TryAcquireError};
use tokio::time::Instant;
use tracing::Instrument;

use crate::cmd::Cmd;
use crate::config::Config;
use crate::connection::{Actor, Meta, Mode, Msg, Request, ShutdownReport, Snapshot, State};
use crate::error::{ClosedBy, Error, Sent, ServerError};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::pipeline::Pipeline;
use crate::reply::FromReply;

/// A client over one auto-pipelined, multiplexed connection.
///
/// Any number of tasks may use clones of one `Client` at once: their commands are written
/// together and their replies matched in order. The connection is established on the first
/// `connect()` or command, and re-established after it is lost.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::UnboundedSender<Msg>,
    state: watch::Receiver<Snapshot>,
    metrics: Arc<Metrics>,
    cfg: Arc<Config>,
    push: broadcast::Sender<Frame>,
    pub(crate) subs: crate::pubsub::Registry,
    /// Room for `max_pending` commands queued or in flight (see `Config::max_pending`).
    room: Arc<Semaphore>,
    /// Client-side caching (`Config::client_cache`), on the shared connection only.
    cache: Option<Arc<crate::cache::Cache>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.inner.cfg.target())
            .field("state", &*self.inner.state.borrow())
            .finish()
    }
}

impl Client {
    /// A client in the `Created` state. Must be called inside a tokio runtime (it spawns
    /// the connection actor). Nothing connects until `connect()` or the first command.
    pub fn new(cfg: Config) -> Client {
        Client::with_mode(Arc::new(cfg), Arc::new(Metrics::default()), Mode::SHARED)
    }

    /// A client whose actor serves its connection in `mode` (a subscriber's, a pooled
    /// connection's): the one driver behind every connection of the crate.
    pub(crate) fn with_mode(cfg: Arc<Config>, metrics: Arc<Metrics>, mode: Mode) -> Client {
        let (tx, rx) = mpsc::unbounded_channel();
        let (wtx, wrx) = watch::channel(Snapshot::initial());
        let (push, _) = broadcast::channel(4096);
        let cache = match (&cfg.client_cache, mode) {
            (Some(opts), Mode::SHARED) => Some(Arc::new(crate::cache::Cache::new(opts.clone()))),
            _ => None,
        };
        let actor = Actor::new(
            cfg.clone(),
            metrics.clone(),
            rx,
            wtx,
            push.clone(),
            mode,
            cache.clone(),
        );
        tokio::spawn(actor.run());
        let room = Arc::new(Semaphore::new(cfg.max_pending.max(1)));
        Client {
            inner: Arc::new(Inner {
                room,
                tx,
                state: wrx,
                metrics,
                cfg,
                push,
                subs: Default::default(),
                cache,
            }),
        }
    }

    /// Parses the URL, builds the client and connects it.
    pub async fn open(url: &str) -> Result<Client, Error> {
        let client = Client::new(Config::from_url(url)?);
        client.connect().await?;
        Ok(client)
    }

    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    /// Connects, or joins the attempt in progress (any number of concurrent callers share
    /// one attempt), or returns at once when already Ready. Reports that attempt's outcome.
    pub async fn connect(&self) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .tx
            .send(Msg::Connect(tx))
            .map_err(|_| closed(Sent::No))?;
        rx.await.unwrap_or_else(|_| Err(closed(Sent::No)))
    }

    /// Closes the connection (idempotent). When it returns, the socket is closed. Commands
    /// then fail with `Error::Closed` until `connect()` is called again.
    pub async fn disconnect(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.send(Msg::Disconnect(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Stops accepting commands, waits up to `within` for the replies of the commands in
    /// flight, closes, and reports what completed and what was dropped. Final.
    pub async fn shutdown(&self, within: Duration) -> ShutdownReport {
        let (tx, rx) = oneshot::channel();
        let deadline = Instant::now() + within;
        if self.inner.tx.send(Msg::Shutdown { deadline, tx }).is_err() {
            return ShutdownReport::default();
        }
        rx.await.unwrap_or_default()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.inner.state.borrow().state
    }

    /// The current snapshot: epoch, state, and what the connection was then.
    pub fn snapshot(&self) -> Snapshot {
        self.inner.state.borrow().clone()
    }

    /// A receiver of snapshots, updated on every transition.
    pub fn watch(&self) -> watch::Receiver<Snapshot> {
        self.inner.state.clone()
    }

    /// Waits until the state is `state` (or `timeout` passes).
    pub async fn wait_for(&self, state: State, timeout: Duration) -> Result<Snapshot, Snapshot> {
        let mut rx = self.inner.state.clone();
        let r = tokio::time::timeout(timeout, rx.wait_for(|s| s.state == state))
            .await
            .ok()
            .and_then(|r| r.ok().map(|s| s.clone()));
        r.ok_or_else(|| rx.borrow().clone())
    }

    /// The counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        let mut m = self.inner.metrics.snapshot();
        let room = self.inner.room.available_permits();
        m.pending = self.inner.cfg.max_pending.max(1).saturating_sub(room) as u64;
        if let Some(cache) = &self.inner.cache {
            m.cache = Some(cache.stats());
        }
        m
    }

    /// The last connection error (cleared when Ready).
    pub fn last_error(&self) -> Option<Error> {
        self.inner.state.borrow().last_error.clone()
    }

    /// The protocol negotiated by the last connection (`None` before the first).
    pub fn protocol(&self) -> Option<crate::config::Protocol> {
        self.inner.state.borrow().protocol
    }

    /// The address of the current (or last) connection.
    pub fn peer(&self) -> Option<String> {
        self.inner.state.borrow().peer.as_deref().map(String::from)
    }

    /// RESP3 push frames (pub/sub messages, invalidations) as they arrive.
    pub fn push_frames(&self) -> broadcast::Receiver<Frame> {
        self.inner.push.subscribe()
    }

    pub(crate) fn registry(&self) -> &crate::pubsub::Registry {
        &self.inner.subs
    }

    pub(crate) fn set_on_connect(&self, bytes: Option<(Bytes, usize)>) {
        let _ = self.inner.tx.send(Msg::OnConnect(bytes));
    }

    /// Sends a command; error replies become `Error::Server`.
    pub async fn send(&self, cmd: &Cmd) -> Result<Frame, Error> {
        let span = tracing::debug_span!("redis.command", cmd = %cmd.display_name());
        let bytes = cmd.encode();
        let cache_keys = match &self.inner.cache {
            Some(cache) => match cache.cacheable(cmd) {
                Some(keys) => match cache.get(&bytes) {
                    Some(hit) => return Ok(hit),
                    None => Some(keys),
                },
                None => None,
            },
            None => None,
        };
        let req = self.request_with(
            bytes,
            1,
            cmd.meta_unrouted(),
            cmd.timeout_override(),
            cache_keys,
        );
        // A disabled span still costs an enter and an exit per poll: skip it.
        let f = if span.is_disabled() {
            req.await?
        } else {
            req.instrument(span).await?
        };
        match f {
            Frame::Error(e) => Err(Error::Server(ServerError::from_bytes(&e))),
            f => Ok(f),
        }
    }

    /// Sends a command and converts its reply.
    pub async fn query<T: FromReply>(&self, cmd: Cmd) -> Result<T, Error> {
        T::from_reply(self.send(&cmd).await?)
    }

    /// A pipeline: commands written together, replies returned together.
    pub fn pipeline(&self) -> Pipeline {
        Pipeline::new(self.clone())
    }

    pub(crate) async fn request(
        &self,
        bytes: Bytes,
        replies: usize,
        meta: Meta,
        timeout: Option<Option<Duration>>,
    ) -> Result<Frame, Error> {
        self.request_with(bytes, replies, meta, timeout, None).await
    }

    async fn request_with(
        &self,
        bytes: Bytes,
        replies: usize,
        meta: Meta,
        timeout: Option<Option<Duration>>,
        cache_keys: Option<Vec<Bytes>>,
    ) -> Result<Frame, Error> {
        let timeout = timeout.unwrap_or(self.inner.cfg.command_timeout);
        let deadline = timeout.map(|t| Instant::now() + t);
        // A pipeline takes room for each of its commands (all of the room at most, so that
        // a pipeline longer than the bound still goes, alone).
        let n = replies.clamp(1, self.inner.cfg.max_pending.max(1)) as u32;
        let room = match self.inner.room.clone().try_acquire_many_owned(n) {
            Ok(p) => p,
            Err(TryAcquireError::NoPermits) => {
                Metrics::inc(&self.inner.metrics.queue_full_waits);
                let wait = self.inner.room.clone().acquire_many_owned(n);
                let acquired =
                    match deadline {
                        Some(d) => tokio::time::timeout_at(d, wait).await.map_err(|_| {
                            Error::Backpressure {
                                after: timeout.unwrap_or_default(),
                                max_pending: self.inner.cfg.max_pending,
                            }
                        })?,
                        None => wait.await,
                    };
                acquired.map_err(|_| closed(Sent::No))?
            }
            Err(TryAcquireError::Closed) => return Err(closed(Sent::No)),
        };
        let (tx, rx) = oneshot::channel();
        let req = Request {
            bytes,
            replies,
            meta,
            internal: false,
            cache_keys,
            retries: 0,
            timeout,
            tx,
            _room: Some(room),
        };
        self.inner
            .tx
            .send(Msg::Cmd(req))
            .map_err(|_| closed(Sent::No))?;
        let reply = async { rx.await.unwrap_or_else(|_| Err(closed(Sent::MayHaveRun))) };
        match (deadline, timeout) {
            (Some(d), Some(t)) => match tokio::time::timeout_at(d, reply).await {
                Ok(r) => r,
                Err(_) => Err(self.timeout_error(t)),
            },
            _ => reply.await,
        }
    }

    fn timeout_error(&self, after: Duration) -> Error {
        let state = self.state();
        let last_error = if state == State::Ready {
            None
        } else {
            self.last_error().map(Box::new)
        };
        Error::Timeout {
            after,
            state,
            last_error,
        }
    }
}

fn closed(sent: Sent) -> Error {
    Error::Closed {
        by: ClosedBy::Shutdown,
        sent,
    }
}
