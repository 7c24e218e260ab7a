//! One client connection: read what is there, parse every complete command, run the whole
//! batch under one acquisition of the lock, write every reply with one write.
//!
//! A protocol error gets Redis's reply and then the connection closes, as Redis does;
//! whatever a client sends, nothing here panics and no other client is disturbed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use lockstep_resp::request::{Batch, Parsed, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};

use crate::command::execute;
use crate::reply::{Protocol, Reply};
use crate::server::Shared;
use crate::state::{Client, ClientEntry, ReplyMode, State};

/// Redis closes a client whose unparsed input passes `client-query-buffer-limit` (1 GiB).
const QUERY_BUFFER_LIMIT: usize = 1024 * 1024 * 1024;
/// Read in chunks of at least this much.
const READ_CHUNK: usize = 16 * 1024;

pub(crate) async fn serve(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    addr: SocketAddr,
    laddr: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let wake = Arc::new(Notify::new());
    let id = shared.next_client_id();
    let registered = register(&shared, id, addr, laddr, &wake);
    let Some((mut client, max_bulk)) = registered else {
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    };

    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = RequestParser::new(max_bulk);
    let mut batch = Batch::default();
    let mut out = Reply::new(Protocol::Resp2);

    'conn: loop {
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 2 {
            rbuf.reserve(READ_CHUNK);
        }
        let n = tokio::select! {
            r = stream.read_buf(&mut rbuf) => match r {
                Ok(0) | Err(_) => break 'conn,
                Ok(n) => n,
            },
            _ = wake.notified() => {
                if is_killed(&shared.state.lock(), id) {
                    break 'conn;
                }
                continue 'conn;
            }
            _ = shutdown.changed() => break 'conn,
        };

        let mut killed = false;
        loop {
            // Before AUTH, Redis applies smaller limits and checks them command by
            // command, so an AUTH early in a pipeline lifts them for what follows.
            let max = if client.authenticated { usize::MAX } else { 1 };
            let parsed = parser.parse(&mut rbuf, &mut batch, max, client.authenticated);
            if !batch.is_empty() {
                let mut state = shared.state.lock();
                run_batch(&mut state, &mut client, &mut out, &batch, &rbuf);
                batch.clear();
                client.query_buf = parser.pending(rbuf.len());
                client.last_active = Instant::now();
                client.resp = if out.resp3() { 3 } else { 2 };
                state.stats.net_input_bytes += n as u64;
                if let Some(entry) = state.clients.get_mut(&id) {
                    entry.client.clone_from(&client);
                    killed = entry.killed;
                }
            }
            match parsed {
                Parsed::Full if !client.close_after_reply && !killed => continue,
                Parsed::Full | Parsed::NeedMore => break,
                Parsed::Error(e) => {
                    out.error(&format!("ERR {e}"));
                    client.close_after_reply = true;
                    break;
                }
            }
        }
        rbuf.advance(parser.consumed());
        parser.discard_consumed();

        if !out.is_empty() {
            let written = out.buf.len() as u64;
            if stream.write_all(&out.buf).await.is_err() {
                break;
            }
            out.buf.clear();
            shared.state.lock().stats.net_output_bytes += written;
        }
        if client.close_after_reply || killed || rbuf.len() > QUERY_BUFFER_LIMIT {
            break;
        }
    }
    let _ = stream.shutdown().await;
    let mut state = shared.state.lock();
    state.clients.remove(&id);
}

/// Adds the connection to the registry, or refuses it past `maxclients`.
fn register(
    shared: &Shared,
    id: u64,
    addr: SocketAddr,
    laddr: SocketAddr,
    wake: &Arc<Notify>,
) -> Option<(Client, u64)> {
    let mut state = shared.state.lock();
    state.stats.connections_received += 1;
    if state.clients.len() as u64 >= state.config.maxclients {
        state.stats.rejected_connections += 1;
        return None;
    }
    let authenticated = state.config.requirepass.is_none();
    let client = Client::new(id, addr, laddr, authenticated);
    state.clients.insert(
        id,
        ClientEntry {
            client: client.clone(),
            killed: false,
            wake: wake.clone(),
        },
    );
    Some((client, state.config.proto_max_bulk_len))
}

fn is_killed(state: &State, id: u64) -> bool {
    state.clients.get(&id).is_none_or(|e| e.killed)
}

/// Runs every command of the batch, honouring CLIENT REPLY OFF/SKIP and stopping at a
/// command after which the connection must close.
fn run_batch(state: &mut State, client: &mut Client, out: &mut Reply, batch: &Batch, buf: &[u8]) {
    let errors_before = out.errors;
    let mut argv: Vec<&[u8]> = Vec::with_capacity(8);
    for i in 0..batch.len() {
        batch.argv(i, buf, &mut argv);
        let mark = out.len();
        let skip_this = client.reply_mode == ReplyMode::Skip;
        execute(state, client, out, &argv);
        match client.reply_mode {
            ReplyMode::Off => out.truncate(mark),
            ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
            ReplyMode::Skip | ReplyMode::On if skip_this => {
                out.truncate(mark);
                if client.reply_mode == ReplyMode::Skip {
                    client.reply_mode = ReplyMode::On;
                }
            }
            _ => {}
        }
        if client.close_after_reply {
            break;
        }
    }
    state.stats.error_replies += out.errors - errors_before;
}
