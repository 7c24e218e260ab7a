//! A dedicated connection: a `Client` whose actor does not reconnect, and what its user
//! left on it (`Session`), which decides whether the pool may hand it to the next user.

use std::sync::Arc;

use bytes::BytesMut;
use lockstep_resp::Frame;

use crate::client::Client;
use crate::cmd::Cmd;
use crate::config::{Config, Protocol};
use crate::connection::Mode;
use crate::error::Error;
use crate::metrics::Metrics;

/// A dedicated connection: a `Client` whose actor does not reconnect (a lost connection
/// is Unusable and replaced by the pool: what its user set up on it died with it). One
/// user at a time; the same driver as every other connection of the crate.
pub struct Connection {
    client: Client,
    pub protocol: Protocol,
    pub peer: String,
    /// A command timed out: its reply (or a blocked command's) may still come, ahead of
    /// the next user's.
    pub(super) broken: bool,
    session: Session,
}

/// What commands sent on a dedicated connection left behind on the server side, which the
/// next user of the connection must not inherit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Session {
    /// WATCH without a later EXEC, DISCARD or UNWATCH.
    watching: bool,
    /// MULTI without a later EXEC or DISCARD.
    in_multi: bool,
    /// A state that only a new connection clears (SELECT, SUBSCRIBE, CLIENT TRACKING...).
    tainted: bool,
}

impl Session {
    fn clean(&self) -> bool {
        *self == Session::default()
    }

    /// Follows what `c` leaves behind. MULTI and WATCH open state that EXEC, DISCARD and
    /// UNWATCH close (that is their behaviour, which no flag describes); everything else
    /// that outlives its command is what Redis's metadata says (`spec::changes_session`).
    fn track(&mut self, c: &Cmd) {
        let spec = c.spec();
        match spec.command().map(|c| c.full_name) {
            Some("watch") => self.watching = true,
            Some("unwatch") => self.watching = false,
            Some("multi") => self.in_multi = true,
            Some("exec" | "discard") => {
                self.watching = false;
                self.in_multi = false;
            }
            _ if spec.changes_session() => self.tainted = true,
            _ => {}
        }
    }
}

impl Connection {
    /// Opens one (happy eyeballs and handshake as the shared client does).
    pub async fn open(cfg: Arc<Config>) -> Result<Connection, Error> {
        Self::open_with(cfg, Arc::new(Metrics::default())).await
    }

    pub(super) async fn open_with(
        cfg: Arc<Config>,
        metrics: Arc<Metrics>,
    ) -> Result<Connection, Error> {
        let client = Client::with_mode(cfg, metrics, Mode::DEDICATED);
        client.connect().await?;
        Ok(Connection {
            protocol: client.protocol().unwrap_or(Protocol::Resp2),
            peer: client.peer().unwrap_or_default(),
            client,
            broken: false,
            session: Session::default(),
        })
    }

    /// True once the connection was lost (an I/O error, a protocol error, a server that
    /// went silent) or a command on it timed out.
    pub fn is_broken(&self) -> bool {
        self.broken || self.client.state() != crate::State::Ready
    }

    /// True when nothing sent on it left state behind (an open WATCH or MULTI, a SELECT,
    /// a subscription...): only then can another user have it.
    pub fn is_reusable(&self) -> bool {
        !self.is_broken() && self.session.clean()
    }

    /// Sends one command and reads its reply. Error replies become `Error::Server`.
    pub async fn send(&mut self, cmd: &Cmd) -> Result<Frame, Error> {
        self.session.track(cmd);
        let r = self.client.send(cmd).await;
        self.note_timeout(&r);
        r
    }

    /// Sends several commands in one write; returns their replies.
    pub async fn send_all(&mut self, cmds: &[Cmd]) -> Result<Vec<Frame>, Error> {
        let mut bytes = BytesMut::new();
        let mut meta = crate::connection::Meta::default();
        for c in cmds {
            c.encode_into(&mut bytes);
            meta = meta.join(c.meta_unrouted());
            self.session.track(c);
        }
        let r = self
            .client
            .request(bytes.freeze(), cmds.len(), meta, None)
            .await;
        self.note_timeout(&r);
        match r? {
            Frame::Array(v) if cmds.len() != 1 => Ok(v),
            f => Ok(vec![f]),
        }
    }

    fn note_timeout<T>(&mut self, r: &Result<T, Error>) {
        if matches!(r, Err(Error::Timeout { .. })) {
            self.broken = true;
        }
    }

    /// A healthy idle connection is Ready: its actor reads all the time, so a closed
    /// socket or bytes nobody asked for have already ended it.
    pub(super) fn looks_healthy(&mut self) -> bool {
        !self.is_broken()
    }
}
