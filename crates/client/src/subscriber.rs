//! Pub/sub on a dedicated connection, for RESP2 servers (where a subscribed connection can
//! run nothing else) or for keeping message traffic off the shared connection.
//!
//! One task owns the socket and the set of channels and patterns. It writes (P)SUBSCRIBE
//! and (P)UNSUBSCRIBE, reads messages and confirmations, and when the connection is lost it
//! reconnects (the config's retry policy) and subscribes to the whole set again before
//! anything else. A `subscribe()` returns once the server confirmed every channel — also
//! when that confirmation comes from the resubscription after a reconnect.
//!
//! Messages go out on a broadcast channel: a slow reader never stalls the connection (Redis
//! would otherwise disconnect it at its pub/sub output-buffer limit); it loses the oldest
//! messages instead, and `Subscriber::lagged` counts them.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use lockstep_resp::{Decoder, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::cmd::{cmd, ToArg};
use crate::config::Config;
use crate::connection::dial::{dial, Established, PhaseSink};
use crate::connection::transport::Stream;
use crate::error::{ClosedBy, Error, Sent};
use crate::metrics::Metrics;
use crate::pubsub::Message;

/// Messages kept for a reader that falls behind before the oldest are dropped.
const BACKLOG: usize = 4096;

enum Op {
    Change {
        subscribe: bool,
        pattern: bool,
        names: Vec<Bytes>,
        done: oneshot::Sender<Result<(), Error>>,
    },
}

/// A dedicated subscriber connection; dropping every handle closes it.
pub struct Subscriber {
    ops: mpsc::UnboundedSender<Op>,
    rx: broadcast::Receiver<Message>,
    reconnects: Arc<AtomicU64>,
    /// Messages lost because this reader fell behind.
    pub lagged: u64,
}

impl Subscriber {
    /// Connects (happy eyeballs and handshake as the shared client) and starts the task.
    /// The first connection must succeed; later ones are retried for as long as the retry
    /// policy allows.
    pub async fn connect(cfg: Config) -> Result<Subscriber, Error> {
        let cfg = Arc::new(cfg);
        let metrics = Arc::new(Metrics::default());
        let est = dial(cfg.clone(), metrics.clone(), no_phases()).await?;
        let (ops_tx, ops_rx) = mpsc::unbounded_channel();
        let (msg_tx, msg_rx) = broadcast::channel(BACKLOG);
        let reconnects = Arc::new(AtomicU64::new(0));
        let task = Task {
            cfg,
            metrics,
            ops: ops_rx,
            out: msg_tx,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            confirms: VecDeque::new(),
            reconnects: reconnects.clone(),
        };
        tokio::spawn(task.run(est));
        Ok(Subscriber {
            ops: ops_tx,
            rx: msg_rx,
            reconnects,
            lagged: 0,
        })
    }

    /// Subscribes to channels; returns once the server confirmed each of them.
    pub async fn subscribe<A: ToArg>(&self, channels: &[A]) -> Result<(), Error> {
        self.change(true, false, channels).await
    }

    pub async fn unsubscribe<A: ToArg>(&self, channels: &[A]) -> Result<(), Error> {
        self.change(false, false, channels).await
    }

    /// Subscribes to glob patterns (`news.*`).
    pub async fn psubscribe<A: ToArg>(&self, patterns: &[A]) -> Result<(), Error> {
        self.change(true, true, patterns).await
    }

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
        if names.is_empty() {
            return Ok(());
        }
        let (done, rx) = oneshot::channel();
        let closed = || Error::Closed {
            by: ClosedBy::Shutdown,
            sent: Sent::No,
        };
        self.ops
            .send(Op::Change {
                subscribe,
                pattern,
                names,
                done,
            })
            .map_err(|_| closed())?;
        rx.await.unwrap_or_else(|_| Err(closed()))
    }

    /// The next message; `None` once the connection task ended (retry policy exhausted).
    pub async fn next(&mut self) -> Option<Message> {
        loop {
            match self.rx.recv().await {
                Ok(m) => return Some(m),
                Err(broadcast::error::RecvError::Lagged(n)) => self.lagged += n,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// How many times the connection was re-established (and the subscriptions restored).
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
}

fn no_phases() -> PhaseSink {
    let (tx, _) = mpsc::unbounded_channel();
    PhaseSink { tx, epoch: 0 }
}

/// Confirmations still expected for one write, and who waits for them.
struct Confirm {
    remaining: usize,
    waiters: Vec<oneshot::Sender<Result<(), Error>>>,
}

struct Task {
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
    ops: mpsc::UnboundedReceiver<Op>,
    out: broadcast::Sender<Message>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    /// One entry per write of (P)(UN)SUBSCRIBE, in write order: the server confirms each
    /// name with one reply, in order.
    confirms: VecDeque<Confirm>,
    reconnects: Arc<AtomicU64>,
}

enum Lost {
    /// Every handle is gone: stop.
    Done,
    /// The connection failed: reconnect.
    Conn(String),
}

impl Task {
    async fn run(mut self, mut est: Established) {
        loop {
            let why = self.serve(est).await;
            let Lost::Conn(why) = why else { return };
            tracing::debug!(target: "lockstep::subscriber", %why, "subscriber connection lost");
            // Whoever waited for a confirmation gets it from the resubscription instead.
            let waiters: Vec<_> = self.confirms.drain(..).flat_map(|c| c.waiters).collect();
            match self.reconnect().await {
                Some(e) => {
                    est = e;
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    let n = self.channels.len() + self.patterns.len();
                    self.confirms.push_back(Confirm {
                        remaining: n,
                        waiters,
                    });
                    if n == 0 {
                        self.confirm(0);
                    }
                }
                None => {
                    for w in waiters {
                        let _ = w.send(Err(Error::Closed {
                            by: ClosedBy::Shutdown,
                            sent: Sent::MayHaveRun,
                        }));
                    }
                    return;
                }
            }
        }
    }

    /// Retries per the policy; `None` when it gives up or every handle is gone.
    async fn reconnect(&mut self) -> Option<Established> {
        let mut attempt = 0u32;
        loop {
            if self.ops.is_closed() {
                return None;
            }
            tokio::time::sleep(self.cfg.retry.delay(attempt)).await;
            match dial(self.cfg.clone(), self.metrics.clone(), no_phases()).await {
                Ok(est) => return Some(est),
                Err(e) => {
                    tracing::debug!(target: "lockstep::subscriber", error = %e, attempt, "reconnect failed");
                    attempt += 1;
                    if matches!(self.cfg.retry.max_attempts, Some(max) if attempt >= max) {
                        return None;
                    }
                }
            }
        }
    }

    /// Runs one connection: resubscribes to everything first, then serves changes and
    /// messages until it fails.
    async fn serve(&mut self, est: Established) -> Lost {
        let mut stream: Stream = est.stream;
        let mut rbuf = est.rbuf;
        let mut decoder = Decoder::default();
        let mut wbuf = BytesMut::new();
        if !self.channels.is_empty() {
            cmd("SUBSCRIBE")
                .arg(self.channels.iter().cloned().collect::<Vec<_>>())
                .encode_into(&mut wbuf);
        }
        if !self.patterns.is_empty() {
            cmd("PSUBSCRIBE")
                .arg(self.patterns.iter().cloned().collect::<Vec<_>>())
                .encode_into(&mut wbuf);
        }
        loop {
            if !wbuf.is_empty() {
                if let Err(e) = stream.write_all(&wbuf).await {
                    return Lost::Conn(e.to_string());
                }
                wbuf.clear();
            }
            // Frames already buffered (e.g. read along with the handshake) come first.
            loop {
                match decoder.decode(&mut rbuf) {
                    Ok(Some(f)) => self.on_frame(f),
                    Ok(None) => break,
                    Err(e) => return Lost::Conn(format!("protocol error: {e}")),
                }
            }
            if rbuf.capacity() - rbuf.len() < 4096 {
                rbuf.reserve(16 * 1024);
            }
            tokio::select! {
                op = self.ops.recv() => match op {
                    None => return Lost::Done,
                    Some(op) => self.on_op(op, &mut wbuf),
                },
                r = stream.read_buf(&mut rbuf) => match r {
                    Ok(0) => return Lost::Conn("connection closed by the server".into()),
                    Ok(_) => {}
                    Err(e) => return Lost::Conn(e.to_string()),
                },
            }
        }
    }

    fn on_op(&mut self, op: Op, wbuf: &mut BytesMut) {
        let Op::Change {
            subscribe,
            pattern,
            names,
            done,
        } = op;
        let set = if pattern {
            &mut self.patterns
        } else {
            &mut self.channels
        };
        for n in &names {
            if subscribe {
                set.insert(n.clone());
            } else {
                set.remove(n);
            }
        }
        let name = match (subscribe, pattern) {
            (true, false) => "SUBSCRIBE",
            (true, true) => "PSUBSCRIBE",
            (false, false) => "UNSUBSCRIBE",
            (false, true) => "PUNSUBSCRIBE",
        };
        cmd(name).arg(&names).encode_into(wbuf);
        self.confirms.push_back(Confirm {
            remaining: names.len(),
            waiters: vec![done],
        });
    }

    /// One confirmation arrived (or `0`: check for an entry already complete).
    fn confirm(&mut self, n: usize) {
        if let Some(front) = self.confirms.front_mut() {
            front.remaining = front.remaining.saturating_sub(n);
            if front.remaining == 0 {
                if let Some(done) = self.confirms.pop_front() {
                    for w in done.waiters {
                        let _ = w.send(Ok(()));
                    }
                }
            }
        }
    }

    fn on_frame(&mut self, f: Frame) {
        // RESP2: arrays; RESP3: push frames. Same elements.
        let (Frame::Array(items) | Frame::Push(items)) = f else {
            return;
        };
        let bytes = |f: &Frame| f.as_bytes().map(Bytes::copy_from_slice);
        match items.first().and_then(|k| k.as_bytes()) {
            Some(b"message") if items.len() == 3 => {
                if let (Some(channel), Some(payload)) = (bytes(&items[1]), bytes(&items[2])) {
                    let _ = self.out.send(Message {
                        channel,
                        pattern: None,
                        payload,
                    });
                }
            }
            Some(b"pmessage") if items.len() == 4 => {
                if let (Some(pat), Some(channel), Some(payload)) =
                    (bytes(&items[1]), bytes(&items[2]), bytes(&items[3]))
                {
                    let _ = self.out.send(Message {
                        channel,
                        pattern: Some(pat),
                        payload,
                    });
                }
            }
            Some(b"subscribe" | b"psubscribe" | b"unsubscribe" | b"punsubscribe") => {
                self.confirm(1)
            }
            _ => {}
        }
    }
}
