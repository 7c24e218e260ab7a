//! Transactions with optimistic locking on a dedicated (pooled) connection:
//! `WATCH keys` → read → `MULTI … EXEC`, where EXEC answers nil (here: `Ok(None)`) when a
//! watched key changed in between, and the caller tries again.
//!
//! WATCH belongs to a connection, so it cannot run on the shared multiplexed client (the
//! other tasks' commands would run between WATCH and EXEC, and a reconnect would drop the
//! watch silently). A pooled connection that is returned with a WATCH or MULTI still open
//! is closed, not handed to the next user (see `pool.rs`).
//!
//! ```no_run
//! # async fn demo(pool: lockstep::Pool) -> Result<(), lockstep::Error> {
//! use lockstep::prelude::*;
//! // Adds 5 to "balance", however many other clients race to change it.
//! let new_balance: Option<i64> = pool
//!     .transaction("balance", 10, async |c| {
//!         let balance = c.get::<Option<i64>>("balance").await?.unwrap_or(0);
//!         let set: Option<((),)> = c
//!             .multi()
//!             .cmd(cmd("SET").arg("balance").arg(balance + 5))
//!             .exec()
//!             .await?;
//!         Ok(set.map(|_| balance + 5))
//!     })
//!     .await?;
//! # Ok(()) }
//! ```

use lockstep_resp::Frame;

use crate::cmd::{cmd, Cmd, ToArg};
use crate::error::{Error, ServerError};
use crate::pool::{Pool, PooledConn};
use crate::reply::FromReply;

/// Commands queued for one MULTI/EXEC on a pooled connection.
pub struct Transaction<'a> {
    conn: &'a PooledConn,
    cmds: Vec<Cmd>,
}

impl PooledConn {
    /// WATCH: EXEC will fail (answer nil) if any of `keys` changes before it.
    pub async fn watch(&self, keys: impl ToArg) -> Result<(), Error> {
        self.send(&cmd("WATCH").arg(keys)).await.map(|_| ())
    }

    /// UNWATCH: forgets every watched key of this connection.
    pub async fn unwatch(&self) -> Result<(), Error> {
        self.send(&cmd("UNWATCH")).await.map(|_| ())
    }

    /// Starts queueing a transaction; nothing is sent until `exec()`.
    pub fn multi(&self) -> Transaction<'_> {
        Transaction {
            conn: self,
            cmds: Vec::new(),
        }
    }
}

impl Transaction<'_> {
    pub fn cmd(&mut self, c: Cmd) -> &mut Self {
        self.cmds.push(c);
        self
    }

    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Sends MULTI, the commands and EXEC in one write. `Ok(None)`: a watched key changed,
    /// nothing ran. `Ok(Some(replies))`: every command ran; `T` converts EXEC's array,
    /// e.g. a tuple. A command that fails at run time (WRONGTYPE...) is an error element
    /// there, which fails the conversion unless its element type is a `Result` (`(Result<
    /// i64, Error>, String)`). A command the server refused to queue (unknown, wrong arity)
    /// aborts the whole transaction with that command's error.
    pub async fn exec<T: FromReply>(&self) -> Result<Option<T>, Error> {
        let mut all = Vec::with_capacity(self.cmds.len() + 2);
        all.push(cmd("MULTI"));
        all.extend(self.cmds.iter().cloned());
        all.push(cmd("EXEC"));
        let mut replies = self.conn.send_all(&all).await?;
        match replies.pop() {
            Some(Frame::Null) => Ok(None),
            Some(Frame::Error(exec_err)) => {
                // EXECABORT says only that something failed to queue; the queueing error
                // says what.
                let first = replies.into_iter().find_map(|f| match f {
                    Frame::Error(e) => Some(e),
                    _ => None,
                });
                Err(Error::Server(ServerError::from_bytes(
                    &first.unwrap_or(exec_err),
                )))
            }
            Some(f) => T::from_reply(f).map(Some),
            None => Err(Error::Protocol("no reply to EXEC".into())),
        }
    }
}

impl Pool {
    /// Runs `body` on one pooled connection after WATCH `keys`, again (on the same
    /// connection, watching anew) each time EXEC reports that a watched key changed, at
    /// most `attempts` times. `Ok(None)` when every attempt lost the race. The body reads
    /// through the connection, then returns what its `multi()…exec()` returned.
    pub async fn transaction<T, F>(
        &self,
        keys: impl ToArg,
        attempts: usize,
        mut body: F,
    ) -> Result<Option<T>, Error>
    where
        F: AsyncFnMut(&PooledConn) -> Result<Option<T>, Error>,
    {
        let c = self.get().await?;
        let watch = cmd("WATCH").arg(keys);
        for _ in 0..attempts {
            c.send(&watch).await?;
            match body(&c).await {
                Ok(Some(v)) => return Ok(Some(v)),
                Ok(None) => continue,
                Err(e) => {
                    // Leave the connection clean for the pool (if it still works).
                    let _ = c.unwatch().await;
                    return Err(e);
                }
            }
        }
        Ok(None)
    }
}
