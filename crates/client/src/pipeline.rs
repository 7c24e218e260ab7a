//! Pipelines: commands written together (one append to the shared connection's write
//! buffer, so nothing else lands between them), their replies returned together.

use bytes::BytesMut;
use lockstep_resp::Frame;
use tracing::Instrument;

use crate::client::Client;
use crate::cmd::Cmd;
use crate::connection::Meta;
use crate::error::{Error, ServerError};
use crate::reply::FromReply;

/// Commands sent in one write with their replies returned together. With `atomic()`, they
/// are wrapped in MULTI/EXEC (safe on the shared connection: nothing else can be written
/// between them, since the whole pipeline is one write-buffer append).
#[derive(Clone)]
pub struct Pipeline {
    client: Client,
    buf: BytesMut,
    count: usize,
    meta: Meta,
    atomic: bool,
}

impl Pipeline {
    pub(crate) fn new(client: Client) -> Pipeline {
        Pipeline {
            client,
            buf: BytesMut::new(),
            count: 0,
            meta: Meta::default(),
            atomic: false,
        }
    }

    pub fn cmd(&mut self, c: Cmd) -> &mut Pipeline {
        c.encode_into(&mut self.buf);
        self.meta = self.meta.join(c.meta_unrouted());
        self.count += 1;
        self
    }

    /// Wraps the commands in MULTI/EXEC.
    pub fn atomic(&mut self) -> &mut Pipeline {
        self.atomic = true;
        self
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sends the pipeline; the reply is the array of replies (for `atomic()`, EXEC's).
    /// An error reply inside converts to `Error::Server` when converting its element.
    pub async fn query<T: FromReply>(&self) -> Result<T, Error> {
        if self.count == 0 {
            return T::from_reply(Frame::Array(Vec::new()));
        }
        let (bytes, replies) = if self.atomic {
            let mut b = BytesMut::with_capacity(self.buf.len() + 32);
            crate::cmd::cmd("MULTI").encode_into(&mut b);
            b.extend_from_slice(&self.buf);
            crate::cmd::cmd("EXEC").encode_into(&mut b);
            (b.freeze(), self.count + 2)
        } else {
            (self.buf.clone().freeze(), self.count)
        };
        // A transaction is not re-sent: its EXEC may have run.
        let meta = Meta {
            resend_safe: self.meta.resend_safe && !self.atomic,
            ..self.meta
        };
        let span = tracing::debug_span!(
            "redis.pipeline",
            commands = self.count,
            atomic = self.atomic
        );
        let frame = self
            .client
            .request(bytes, replies, meta, None)
            .instrument(span)
            .await?;
        let frame = if self.atomic {
            match frame {
                Frame::Array(mut v) => match v.pop() {
                    Some(Frame::Error(e)) => {
                        return Err(Error::Server(ServerError::from_bytes(&e)))
                    }
                    Some(f) => f,
                    None => return Err(Error::Protocol("empty EXEC reply".into())),
                },
                f => f,
            }
        } else {
            frame
        };
        T::from_reply(frame)
    }
}
