//! Pipelines on a cluster: the commands are grouped by the node that serves them, each
//! group leaves in one write, and the replies come back in the order of the commands.
//! A command a node redirects (`-MOVED`, `-ASK`, `-TRYAGAIN`, ...) is sent again on its
//! own through the router, which follows the redirection; commands that one node cannot
//! serve (split by slot, sent to every shard) go through the router too.
//!
//! `atomic()` wraps the commands in MULTI/EXEC, which a cluster allows only when every key
//! is in one slot.

use bytes::BytesMut;
use lockstep_resp::Frame;

use super::fanout::{self, Request};
use super::{steer, ClusterClient, Msg, Steer};
use crate::cmd::{cmd, Cmd};
use crate::connection::{Meta, Slot};
use crate::error::{Error, ServerError};
use crate::reply::FromReply;

#[derive(Clone)]
pub struct ClusterPipeline {
    client: ClusterClient,
    cmds: Vec<Cmd>,
    atomic: bool,
}

/// A reply as a pipeline carries it: an error reply stays a frame.
fn as_frame(r: Result<Frame, Error>) -> Result<Frame, Error> {
    match r {
        Err(Error::Server(e)) => Ok(Frame::Error(e.to_string().into())),
        other => other,
    }
}

impl ClusterPipeline {
    pub(crate) fn new(client: ClusterClient) -> ClusterPipeline {
        ClusterPipeline {
            client,
            cmds: Vec::new(),
            atomic: false,
        }
    }

    pub fn cmd(&mut self, c: Cmd) -> &mut ClusterPipeline {
        self.cmds.push(c);
        self
    }

    /// Wraps the commands in MULTI/EXEC (their keys must all be in one slot).
    pub fn atomic(&mut self) -> &mut ClusterPipeline {
        self.atomic = true;
        self
    }

    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Sends the pipeline; the reply is the array of replies in command order (for
    /// `atomic()`, EXEC's). An error reply inside converts to `Error::Server` when
    /// converting its element.
    pub async fn query<T: FromReply>(&self) -> Result<T, Error> {
        if self.cmds.is_empty() {
            return T::from_reply(Frame::Array(Vec::new()));
        }
        let frame = if self.atomic {
            self.transaction().await?
        } else {
            Frame::Array(self.replies().await?)
        };
        T::from_reply(frame)
    }

    async fn replies(&self) -> Result<Vec<Frame>, Error> {
        let c = &self.client;
        let view = c.ready_view().await?;
        // Node → the indices of its commands, in order.
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        let mut alone = Vec::new();
        let mut keyless_node = None;
        for (i, cmd) in self.cmds.iter().enumerate() {
            let meta = cmd.meta();
            let node = match meta.slot {
                Some(Slot::One(slot)) => c.pick(&view, slot, &meta, false)?,
                Some(Slot::Cross) => {
                    alone.push(i);
                    continue;
                }
                _ if fanout::policies(cmd).0 == Request::Default => match &keyless_node {
                    Some(n) => String::clone(n),
                    None => {
                        let n = c.any_primary(&view)?;
                        keyless_node = Some(n.clone());
                        n
                    }
                },
                _ => {
                    alone.push(i);
                    continue;
                }
            };
            match groups.iter_mut().find(|(n, _)| *n == node) {
                Some((_, ix)) => ix.push(i),
                None => groups.push((node, vec![i])),
            }
        }

        let mut running = tokio::task::JoinSet::new();
        for (g, (node, ix)) in groups.iter().enumerate() {
            let client = c.client(&view, node).await?;
            let mut bytes = BytesMut::new();
            let mut meta = Meta::default();
            for &i in ix {
                self.cmds[i].encode_into(&mut bytes);
                meta = meta.join(self.cmds[i].meta());
            }
            let n = ix.len();
            running.spawn(
                async move { (g, meta, client.request(bytes.freeze(), n, meta, None).await) },
            );
        }
        let mut out: Vec<Option<Frame>> = vec![None; self.cmds.len()];
        while let Some(done) = running.join_next().await {
            let (g, meta, r) = done.map_err(|e| Error::Protocol(format!("pipeline: {e}")))?;
            let ix = &groups[g].1;
            match r {
                Ok(Frame::Array(replies)) if replies.len() == ix.len() => {
                    for (&i, reply) in ix.iter().zip(replies) {
                        let redirected = match &reply {
                            Frame::Error(e) => steer(&ServerError::from_bytes(e)),
                            _ => None,
                        };
                        match redirected {
                            Some(s) => {
                                if let Steer::Moved(slot, node) = s {
                                    c.inner
                                        .moved
                                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    let _ = c.ask_router(Msg::Moved {
                                        slot,
                                        node,
                                        done: None,
                                    });
                                }
                                alone.push(i);
                            }
                            None => out[i] = Some(reply),
                        }
                    }
                }
                Ok(other) => {
                    return Err(Error::Protocol(format!(
                        "unexpected pipeline reply: {}",
                        crate::reply::describe(&other)
                    )))
                }
                Err(e)
                    if e.is_connection_error() && (super::did_not_run(&e) || meta.resend_safe) =>
                {
                    alone.extend_from_slice(ix);
                }
                Err(e) => return Err(e),
            }
        }

        // One by one through the router, at once.
        let mut running = tokio::task::JoinSet::new();
        for i in alone {
            let (client, cmd) = (c.clone(), self.cmds[i].clone());
            running.spawn(async move { (i, client.send(&cmd).await) });
        }
        while let Some(done) = running.join_next().await {
            let (i, r) = done.map_err(|e| Error::Protocol(format!("pipeline: {e}")))?;
            out[i] = Some(as_frame(r)?);
        }
        Ok(out.into_iter().map(|f| f.unwrap_or(Frame::Null)).collect())
    }

    /// MULTI, the commands, EXEC, to the node of their one slot; a `-MOVED` while queuing
    /// (EXEC then aborts, nothing ran) sends the whole transaction again where it said.
    async fn transaction(&self) -> Result<Frame, Error> {
        let c = &self.client;
        let meta = self
            .cmds
            .iter()
            .fold(Meta::default(), |m, cmd| m.join(cmd.meta()));
        let meta = Meta {
            resend_safe: false,
            ..meta
        };
        let mut view = c.ready_view().await?;
        let mut node = match meta.slot {
            Some(Slot::One(slot)) => c.pick(&view, slot, &meta, true)?,
            Some(Slot::Cross) => return Err(super::crossslot()),
            _ => c.any_primary(&view)?,
        };
        let mut bytes = BytesMut::new();
        cmd("MULTI").encode_into(&mut bytes);
        for cmd in &self.cmds {
            cmd.encode_into(&mut bytes);
        }
        cmd("EXEC").encode_into(&mut bytes);
        let bytes = bytes.freeze();
        let replies = self.cmds.len() + 2;
        for attempt in 0..=c.inner.opts.max_redirects {
            let client = c.client(&view, &node).await?;
            let Frame::Array(mut all) = client.request(bytes.clone(), replies, meta, None).await?
            else {
                return Err(Error::Protocol("unexpected transaction reply".into()));
            };
            let exec = all.pop().unwrap_or(Frame::Null);
            let moved = all.iter().find_map(|f| match f {
                Frame::Error(e) => match steer(&ServerError::from_bytes(e)) {
                    Some(Steer::Moved(slot, to)) => Some((slot, to)),
                    _ => None,
                },
                _ => None,
            });
            match (exec, moved) {
                (Frame::Error(_), Some((slot, to))) if attempt < c.inner.opts.max_redirects => {
                    c.inner
                        .moved
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = c.ask_router(Msg::Moved {
                        slot,
                        node: to.clone(),
                        done: None,
                    });
                    node = to;
                    view = c.view();
                }
                (Frame::Error(e), _) => {
                    // The first queuing error says why EXEC aborted.
                    let cause = all.iter().find(|f| matches!(f, Frame::Error(_)));
                    return Err(Error::Server(ServerError::from_bytes(match cause {
                        Some(Frame::Error(q)) => q,
                        _ => &e,
                    })));
                }
                (exec, _) => return Ok(exec),
            }
        }
        Err(Error::Protocol(
            "transaction redirected too many times".into(),
        ))
    }
}
