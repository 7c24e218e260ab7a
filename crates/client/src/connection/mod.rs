//! One connection = one actor task that owns the socket and ONE state enum.
//!
//! ```text
//! Created → Resolving → Connecting ⇄ Handshaking → Ready ⇄ Reconnecting → (Resolving …)
//!    any state → Closed (disconnect / shutdown / attempt failed); Closed → Resolving (connect)
//! ```
//!
//! Every transition bumps an epoch; the pair (epoch, state) is published on a `watch`.
//! Everything the actor reacts to either comes through its mailbox in call order (connect,
//! disconnect, commands), or is produced by a resource that the current state owns (the
//! attempt, the socket) — and is tagged with the epoch that resource was born in, so that a
//! report from an attempt or socket that was already abandoned is dropped, never applied to
//! its successor. That is the whole cure for seed 000 ("Connection is aborted": a stale
//! close event applied to the new connection) and seed 002 ("already connecting": two
//! attempts where one was wanted): there is one attempt at a time because it lives in the
//! state, and everyone who asks to connect joins it.

mod actor;
pub(crate) mod dial;
mod handshake;
mod io;
pub mod resolver;
#[cfg(feature = "tls")]
pub(crate) mod tls;
pub(crate) mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lockstep_resp::Frame;
use tokio::sync::oneshot;
use tokio::time::Instant;

pub use crate::spec::{Meta, Slot};
pub(crate) use actor::Actor;

use crate::error::Error;

/// The state of a connection. `Client::state()` and `Client::watch()` expose it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Built, never asked to connect.
    Created,
    /// Resolving the host name.
    Resolving,
    /// TCP (and TLS) connect in progress on at least one address.
    Connecting,
    /// An address accepted; HELLO/AUTH/SELECT/SETNAME in progress.
    Handshaking,
    /// Connected; commands flow.
    Ready,
    /// The connection was lost; waiting (backoff) before the next attempt.
    Reconnecting,
    /// Disconnected by the user, shut down, or the last attempt failed. `connect()` (or,
    /// unless the user disconnected, a command) starts a new attempt.
    Closed,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What the state machine publishes at each transition: the state and the epoch it was
/// entered at (epochs only grow; each transition adds one), and what the connection was
/// then. The one source of truth for `Client::state`, `protocol`, `peer` and
/// `last_error`: they all read the latest snapshot, so they never disagree.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub epoch: u64,
    pub state: State,
    /// The protocol of the current (or last) connection; `None` before the first.
    pub protocol: Option<crate::config::Protocol>,
    /// The address of the current (or last) connection.
    pub peer: Option<Arc<str>>,
    /// Why the last attempt failed or the last connection was lost; `None` once a
    /// connection is Ready.
    pub last_error: Option<Error>,
}

impl Snapshot {
    /// Before anything happened.
    pub(crate) fn initial() -> Snapshot {
        Snapshot {
            epoch: 0,
            state: State::Created,
            protocol: None,
            peer: None,
            last_error: None,
        }
    }
}

/// What `shutdown()` finished with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Commands that were in flight when shutdown began and got their reply.
    pub completed: usize,
    /// Commands failed without being sent (queued for a connection that never came).
    pub dropped_unsent: usize,
    /// Commands sent whose replies did not arrive before the deadline.
    pub dropped_in_flight: usize,
    /// True when the deadline cut the wait short.
    pub deadline_hit: bool,
}

/// How an actor serves its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mode {
    /// Re-establish a lost connection (the shared client, a subscriber). A pooled
    /// connection is not: what its user set up on it (MULTI, WATCH, SELECT) died with it,
    /// so it is closed, and its commands fail.
    pub reconnect: bool,
    /// A subscriber's connection: in RESP2 its messages are arrays, which are told apart
    /// from replies by their kind (`message`, `pmessage`, `smessage`).
    pub subscriber: bool,
}

impl Mode {
    /// The shared, multiplexed connection of a `Client`.
    pub const SHARED: Mode = Mode {
        reconnect: true,
        subscriber: false,
    };
    /// A `Subscriber`'s connection.
    pub const SUBSCRIBER: Mode = Mode {
        reconnect: true,
        subscriber: true,
    };
    /// A pooled connection (`pool::Connection`).
    pub const DEDICATED: Mode = Mode {
        reconnect: false,
        subscriber: false,
    };
}

/// One command (or a pipeline of several) on its way to the connection.
pub(crate) struct Request {
    /// The encoded command(s).
    pub bytes: Bytes,
    /// How many replies to collect; 1 delivers the frame itself, more deliver an array.
    /// Subscription confirmations count as replies (one per channel or pattern), push
    /// frames in RESP3 though they are.
    pub replies: usize,
    /// What the command's metadata says (may it be re-sent after a lost connection, its
    /// slot, ...): decided once, when it was sent.
    pub meta: crate::spec::Meta,
    /// Sent by the connection itself (the subscriptions restored after a reconnect):
    /// nobody waits for its replies.
    pub internal: bool,
    /// A cacheable read (client-side caching): the keys it reads. Its reply is stored
    /// when it is read, in stream order with the invalidations.
    pub cache_keys: Option<Vec<Bytes>>,
    /// Times re-sent so far.
    pub retries: u32,
    /// How long the connection may stay silent with this command at the head of the
    /// queue before it is declared dead.
    pub timeout: Option<Duration>,
    pub tx: oneshot::Sender<Result<Frame, Error>>,
    /// This request's room in the client's bounded queue, given back when the request is
    /// dropped (answered, failed, or discarded), wherever that happens.
    pub _room: Option<tokio::sync::OwnedSemaphorePermit>,
}

pub(crate) enum Msg {
    Cmd(Request),
    Connect(oneshot::Sender<Result<(), Error>>),
    Disconnect(oneshot::Sender<()>),
    Shutdown {
        deadline: Instant,
        tx: oneshot::Sender<ShutdownReport>,
    },
    /// Commands to send after every (re)connect before anything else (resubscription),
    /// and how many replies (confirmations) they get.
    OnConnect(Option<(Bytes, usize)>),
}

impl Request {
    /// A request of the connection's own, whose replies are read and dropped.
    pub(crate) fn internal(bytes: Bytes, replies: usize, meta: crate::spec::Meta) -> Request {
        let (tx, _) = oneshot::channel();
        Request {
            bytes,
            replies,
            meta,
            internal: true,
            cache_keys: None,
            retries: 0,
            timeout: None,
            tx,
            _room: None,
        }
    }
}
