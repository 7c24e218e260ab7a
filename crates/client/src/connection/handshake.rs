//! The handshake that makes a socket a Redis connection: HELLO (protocol, AUTH and SETNAME
//! in one round trip), falling back to AUTH / CLIENT SETNAME / PING when the server has no
//! HELLO, then SELECT. A connection counts as established only after this succeeded: a
//! socket that is accepted and then closed (seed 001) fails here, as that address's failure.

use bytes::BytesMut;
use lockstep_resp::{Decoder, Frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::transport::Stream;
use crate::cmd::{cmd, Cmd};
use crate::config::{Config, Protocol};
use crate::error::{Cause, Phase, ServerError};

type StepError = (Phase, Cause);

/// Sends `cmds` in one write and reads one reply per command.
/// One command of the handshake after HELLO, its error reply failing `phase`.
async fn step(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    c: Cmd,
    phase: Phase,
    deadline: Instant,
    started: Instant,
) -> Result<(), StepError> {
    let r = round_trip(stream, rbuf, &[c], phase, deadline, started).await?;
    match server_error(&r[0]) {
        Some(e) => Err((phase, Cause::Server(e))),
        None => Ok(()),
    }
}

async fn round_trip(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    cmds: &[Cmd],
    phase: Phase,
    deadline: Instant,
    started: Instant,
) -> Result<Vec<Frame>, StepError> {
    let work = async {
        let mut out = BytesMut::new();
        for c in cmds {
            c.encode_into(&mut out);
        }
        stream
            .write_all(&out)
            .await
            .map_err(|e| (phase, Cause::from(e)))?;
        let mut dec = Decoder::default();
        let mut replies = Vec::with_capacity(cmds.len());
        while replies.len() < cmds.len() {
            match dec.decode(rbuf) {
                Ok(Some(Frame::Push(_))) => continue,
                Ok(Some(f)) => replies.push(f),
                Ok(None) => {
                    rbuf.reserve(4096);
                    let n = stream
                        .read_buf(rbuf)
                        .await
                        .map_err(|e| (phase, Cause::from(e)))?;
                    if n == 0 {
                        return Err((phase, Cause::Closed));
                    }
                }
                Err(e) => return Err((phase, Cause::Protocol(e.to_string()))),
            }
        }
        Ok(replies)
    };
    match tokio::time::timeout_at(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err((phase, Cause::Timeout(deadline - started))),
    }
}

fn server_error(f: &Frame) -> Option<ServerError> {
    match f {
        Frame::Error(e) => Some(ServerError::from_bytes(e)),
        _ => None,
    }
}

fn is_auth_error(e: &ServerError) -> bool {
    matches!(e.code.as_str(), "WRONGPASS" | "NOAUTH" | "NOPERM")
        || e.message.contains("invalid password")
        || e.message.contains("invalid username-password")
}

/// Runs the handshake on a fresh socket; returns the protocol spoken.
pub(crate) async fn handshake(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    cfg: &Config,
    deadline: Instant,
    started: Instant,
) -> Result<Protocol, StepError> {
    let creds = cfg.password.as_ref().map(|p| {
        (
            cfg.username
                .clone()
                .unwrap_or_else(|| "default".to_string()),
            p.clone(),
        )
    });

    let mut hello = cmd("HELLO").arg(match cfg.protocol {
        Protocol::Resp2 => "2",
        Protocol::Resp3 => "3",
    });
    if let Some((u, p)) = &creds {
        hello = hello.arg("AUTH").arg(u).arg(p);
    }
    if let Some(name) = &cfg.client_name {
        hello = hello.arg("SETNAME").arg(name);
    }
    let reply = round_trip(stream, rbuf, &[hello], Phase::Hello, deadline, started).await?;
    let protocol = match server_error(&reply[0]) {
        None => match &reply[0] {
            Frame::Map(_) | Frame::Array(_) => cfg.protocol,
            other => {
                return Err((
                    Phase::Hello,
                    Cause::Protocol(format!(
                        "unexpected HELLO reply: {}",
                        crate::reply::describe(other)
                    )),
                ))
            }
        },
        Some(e) if e.is_unknown_command() || e.code == "NOPROTO" => {
            // A server without HELLO (or without RESP3): AUTH, SETNAME, or at least a PING
            // so that a server that accepts and then closes is caught here.
            let mut steps: Vec<(Phase, Cmd)> = Vec::new();
            if let Some((u, p)) = &creds {
                let auth = if cfg.username.is_some() {
                    cmd("AUTH").arg(u).arg(p)
                } else {
                    cmd("AUTH").arg(p)
                };
                steps.push((Phase::Auth, auth));
            }
            if let Some(name) = &cfg.client_name {
                steps.push((Phase::SetName, cmd("CLIENT").arg("SETNAME").arg(name)));
            }
            if steps.is_empty() {
                steps.push((Phase::Ping, cmd("PING")));
            }
            let cmds: Vec<Cmd> = steps.iter().map(|(_, c)| c.clone()).collect();
            let replies = round_trip(stream, rbuf, &cmds, steps[0].0, deadline, started).await?;
            for ((phase, _), r) in steps.iter().zip(&replies) {
                if let Some(e) = server_error(r) {
                    if *phase == Phase::SetName && e.is_unknown_command() {
                        continue;
                    }
                    return Err((*phase, Cause::Server(e)));
                }
            }
            Protocol::Resp2
        }
        Some(e) if creds.is_some() && is_auth_error(&e) => {
            return Err((Phase::Auth, Cause::Server(e)))
        }
        Some(e) => return Err((Phase::Hello, Cause::Server(e))),
    };

    if cfg.db != 0 {
        step(
            stream,
            rbuf,
            cmd("SELECT").arg(cfg.db),
            Phase::Select,
            deadline,
            started,
        )
        .await?;
    }
    // Client-side caching needs invalidations on this connection: RESP3 pushes.
    if let (Some(cache), Protocol::Resp3) = (&cfg.client_cache, protocol) {
        let tracking = cache.tracking_command();
        step(stream, rbuf, tracking, Phase::Tracking, deadline, started).await?;
    }
    if cfg.readonly {
        step(
            stream,
            rbuf,
            cmd("READONLY"),
            Phase::ReadOnly,
            deadline,
            started,
        )
        .await?;
    }
    Ok(protocol)
}
