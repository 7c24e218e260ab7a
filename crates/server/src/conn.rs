//! One client connection: read what is there, parse every complete command, run the whole
//! batch under one acquisition of the lock, write every reply with one write.
//!
//! Closing follows Redis: QUIT, a CLIENT KILL of oneself and a protocol error close the
//! connection once the replies before it are written; a connection killed by another one
//! closes at once, even while it waits for input or for its peer to read. Whatever a
//! client sends, nothing here panics and no other client is disturbed. A connection idle
//! for longer than the `timeout` setting is closed without a word, as Redis's clientsCron
//! does.
//!
//! The loop allocates nothing per command or per reply: arguments are spans into the read
//! buffer, replies go straight into one output buffer, and the INFO traffic counters are
//! carried to the next lock the loop takes anyway rather than taking one of their own.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use lockstep_resp::request::{Batch, Parsed, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};

use crate::commands::connection::password;
use crate::dispatch::{
    busy_batch_needs_state, forget_client, run_batch, run_busy_batch, take_back, time_out,
    BatchEnd, BusyEnd,
};
use crate::keyspace::Millis;
use crate::reply::{Protocol, Reply};
use crate::shared::{Busy, Shared};
use crate::state::{unix_millis, Client, ClientEntry, ReplyMode, State};

/// Redis closes a client whose unparsed input passes `client-query-buffer-limit` (1 GiB).
const QUERY_BUFFER_LIMIT: usize = 1024 * 1024 * 1024;
/// Redis's read size (`PROTO_IOBUF_LEN`).
const READ_CHUNK: usize = 16 * 1024;
/// An argument at least this long is read in one go (`PROTO_MBULK_BIG_ARG`).
const BIG_ARG: usize = 32 * 1024;
/// The output buffer's usual size; one that grew past `OUTPUT_KEEP` for a large reply is
/// given back once written (Redis's replies past its 16 KiB buffer go in blocks it frees
/// once written, too).
const OUTPUT_CHUNK: usize = 16 * 1024;
const OUTPUT_KEEP: usize = 64 * 1024;
/// A read buffer left empty with more room than this (it grew for a big argument or a
/// long pipeline) is given back before the connection waits again, as Redis's clientsCron
/// trims query buffers: a thousand idle clients that once sent 100 KB hold 16 KiB each,
/// not 100 KB.
const INPUT_KEEP: usize = 2 * READ_CHUNK;

pub(crate) async fn serve(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    addr: SocketAddr,
    laddr: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let wake = Arc::new(Notify::new());
    let has_pushed = Arc::new(AtomicBool::new(false));
    let id = shared.next_client_id();
    let fd = stream.as_raw_fd();
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let registered = loop {
        match shared.lock_or_busy().await {
            Ok(mut state) => break register(&mut state, id, addr, laddr, fd, &wake, &has_pushed),
            Err(Busy) => {
                let visitor = Client::new(id, addr, laddr, !shared.script_run.auth_required());
                if !answer_unregistered(&shared, visitor, &mut stream, &mut rbuf).await {
                    return;
                }
            }
        }
    };
    let Some((mut client, max_bulk, mut idle_timeout, buffers)) = registered else {
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    };
    // Input read before the registration waits in `rbuf`: parse it before reading more.
    let mut unparsed = !rbuf.is_empty();

    let mut parser = RequestParser::new(max_bulk);
    let mut batch = Batch::default();
    let mut wire = Wire {
        stream,
        out: Reply::new(Protocol::Resp2),
        traffic: Traffic::default(),
        buffers,
    };
    // The read buffer's size when maxmemory-clients was last looked at.
    let mut input_checked = 0;
    // Unix time of the last read or write, for the idle `timeout`.
    let mut last_io_ms = unix_millis();
    let mut signals = Signals::new(wake, shutdown);
    // A stop that came before the registration woke nobody here.
    if signals.stopping() {
        return;
    }

    'conn: loop {
        // Redis reads 16 KiB at a time, and parses in between: its "too big" limits on a
        // line without its end depend on that, so lockstep reads the same way. An argument
        // of 32 KiB or more is read whole, as Redis does.
        let limit = match parser.bulk_in_progress(rbuf.len()) {
            Some((len, missing)) if len >= BIG_ARG && missing > 0 => missing,
            _ => READ_CHUNK,
        };
        if rbuf.is_empty() && rbuf.capacity() > INPUT_KEEP {
            rbuf = BytesMut::with_capacity(READ_CHUNK);
            input_checked = 0;
            wire.buffers.input.store(rbuf.capacity(), Ordering::Relaxed);
        }
        rbuf.reserve(limit);
        // A growing read buffer counts against maxmemory-clients at once, before the
        // command it holds is whole (a large argument's room is made for all of it).
        let input = rbuf.capacity();
        wire.buffers.input.store(input, Ordering::Relaxed);
        if input >= input_checked + crate::client_eviction::CHECK_STEP
            && shared.client_limit.get() != 0
        {
            input_checked = input;
            let mut state = shared.lock().await;
            if crate::client_eviction::check(&mut state, id, Some(input), None) {
                break 'conn;
            }
        }
        let mut room = (&mut rbuf).limit(limit);
        // Subscribers wait for messages, not idle: Redis never times them out.
        let idle_at = if crate::commands::pubsub::subscribed(&client) {
            None
        } else {
            idle_deadline(last_io_ms, idle_timeout)
        };
        // Input first, so that a ready read does not poll (and arm) anything else. A
        // connection that is never short of input still notices a kill when it publishes
        // its batch, and a server stop right here.
        if !std::mem::take(&mut unparsed) {
            tokio::select! {
                biased;
                r = wire.stream.read_buf(&mut room) => match r {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(n) => {
                        wire.traffic.input += n as u64;
                        if signals.stopping() {
                            break 'conn;
                        }
                    }
                },
                signal = signals.recv() => {
                    if signal == Signal::Shutdown {
                        break 'conn;
                    }
                    // Also how a CONFIG SET of `timeout` reaches a connection that waits, and
                    // how the MONITOR feed reaches a monitor.
                    let fed = {
                        let mut state = shared.lock().await;
                        if is_killed(&state, id) {
                            break 'conn;
                        }
                        idle_timeout = state.config.timeout;
                        take_pushed(&mut state, id, &mut wire.out)
                    };
                    if fed
                        && !wire.flush(&shared, id, &mut signals).await
                    {
                        break 'conn;
                    }
                    continue 'conn;
                }
                _ = sleep_until_unix(idle_at.unwrap_or(0)), if idle_at.is_some() => {
                    idle_timeout = shared.lock().await.config.timeout;
                    if idle_deadline(last_io_ms, idle_timeout).is_some_and(|d| d <= unix_millis()) {
                        tracing::debug!(%addr, "closing idle client");
                        break 'conn;
                    }
                    continue 'conn;
                }
            }
        }

        let mut close = false;
        loop {
            // Before AUTH, Redis applies smaller limits and checks them command by
            // command, so an AUTH early in a pipeline lifts them for what follows.
            let max = if client.authenticated { usize::MAX } else { 1 };
            let parsed = parser.parse(&mut rbuf, &mut batch, max, client.authenticated);
            let mut next = 0;
            // A command Redis lets through while a script runs, but which needs the state,
            // waits for the script to end.
            let mut wait_for_script = false;
            while next < batch.len() && !close {
                let locked = if wait_for_script {
                    Ok(shared.lock().await)
                } else {
                    shared.lock_or_busy().await
                };
                let Ok(guard) = locked else {
                    // A script has held the state past busy-reply-threshold.
                    client.last_active = Instant::now();
                    let script = &shared.script_run;
                    match run_busy_batch(script, &mut client, &mut wire.out, &batch, next, &rbuf) {
                        BusyEnd::Done => next = batch.len(),
                        BusyEnd::NeedsState { at } => {
                            next = at;
                            wait_for_script = true;
                        }
                    }
                    close = client.close_after_reply;
                    if !wire.flush(&shared, id, &mut signals).await {
                        break 'conn;
                    }
                    continue;
                };
                wait_for_script = false;
                let held = {
                    let mut state = guard;
                    wire.traffic.add_to(&mut state);
                    parser.set_max_bulk_len(state.config.proto_max_bulk_len);
                    idle_timeout = state.config.timeout;
                    client.last_active = Instant::now();
                    // As in Redis, the query buffer holds the batch until it is done.
                    client.query_buf = rbuf.len();
                    client.query_buf_free = rbuf.capacity() - rbuf.len();
                    // What others sent this client before the batch goes first.
                    if has_pushed.load(Ordering::Acquire) {
                        take_pushed(&mut state, id, &mut wire.out);
                    }
                    let end =
                        run_batch(&mut state, &mut client, &mut wire.out, &batch, next, &rbuf);
                    let held = match end {
                        BatchEnd::Done => {
                            next = batch.len();
                            client.query_buf = parser.pending(rbuf.len());
                            None
                        }
                        BatchEnd::Paused { at, until } => {
                            next = at;
                            Some(Hold::Paused(until))
                        }
                        BatchEnd::Blocked { at, deadline } => {
                            next = at;
                            Some(Hold::Blocked(deadline))
                        }
                    };
                    close = publish(&mut state, &client, &mut wire.out) || client.close_after_reply;
                    held
                };
                if let Some(hold) = held {
                    // Redis writes what the batch answered so far, then holds the rest.
                    let flushed = wire.flush(&shared, id, &mut signals).await;
                    if !flushed {
                        break 'conn;
                    }
                    let resumed = match hold {
                        Hold::Paused(until) => {
                            wait_for_pause(until, &shared, id, &mut signals).await
                        }
                        Hold::Blocked(deadline) => {
                            let before = rbuf.len();
                            let mut waiting = Blocked {
                                stream: &mut wire.stream,
                                rbuf: &mut rbuf,
                                traffic: &mut wire.traffic,
                            };
                            let resumed = waiting
                                .wait(deadline, &shared, &mut client, &mut wire.out, &mut signals)
                                .await;
                            // What arrived during the wait is parsed before reading more:
                            // no more input may ever come.
                            unparsed |= rbuf.len() > before;
                            resumed
                        }
                    };
                    if !resumed {
                        break 'conn;
                    }
                    close = client.close_after_reply;
                }
            }
            batch.clear();
            match parsed {
                Parsed::Full if !close => continue,
                Parsed::Full | Parsed::NeedMore => break,
                Parsed::Error(e) => {
                    // After QUIT or a kill, Redis would not have read this far.
                    if !close && !replies_suppressed(&client) {
                        let mut msg = b"ERR ".to_vec();
                        msg.extend_from_slice(&e.text_bytes());
                        wire.out.error_bytes(&msg);
                        wire.traffic.errors += 1;
                    }
                    close = true;
                    break;
                }
            }
        }
        rbuf.advance(parser.consumed());
        parser.discard_consumed();

        if !wire.flush(&shared, id, &mut signals).await {
            break;
        }
        // A read, and the write of its replies: Redis's `lastinteraction`.
        last_io_ms = unix_millis();
        if close || rbuf.len() > QUERY_BUFFER_LIMIT {
            break;
        }
    }
    let _ = wire.stream.shutdown().await;
    let mut state = shared.lock().await;
    wire.traffic.add_to(&mut state);
    forget_client(&mut state, id);
    state.clients.remove(&id);
}

/// Moves what other clients produced for client `id` (MONITOR lines, pub/sub messages)
/// into its output. True if there was any.
fn take_pushed(state: &mut State, id: u64, out: &mut Reply) -> bool {
    state
        .clients
        .get_mut(&id)
        .is_some_and(|entry| entry.take_pushed(out))
}

/// What holds the rest of a batch back.
enum Hold {
    /// A CLIENT PAUSE, until then.
    Paused(Instant),
    /// A blocking command, until its deadline (`None`: forever) or until it is served.
    Blocked(Option<Instant>),
}

/// A connection while its client is parked by a blocking command.
struct Blocked<'a> {
    stream: &'a mut TcpStream,
    rbuf: &'a mut BytesMut,
    traffic: &'a mut Traffic,
}

impl Blocked<'_> {
    /// Waits until the client is served (another connection's write), unblocked (CLIENT
    /// UNBLOCK), or times out, then takes the client back with the reply written for it.
    /// Input that arrives meanwhile is kept for later, as Redis keeps it in the query
    /// buffer. False when the connection is to close: the peer left, a kill, a stop.
    async fn wait(
        &mut self,
        deadline: Option<Instant>,
        shared: &Shared,
        client: &mut Client,
        out: &mut Reply,
        signals: &mut Signals,
    ) -> bool {
        let id = client.id;
        loop {
            // Once the peer has closed, only a wake-up or the deadline can end the wait.
            tokio::select! {
                biased;
                signal = signals.recv() => {
                    if signal == Signal::Shutdown {
                        return false;
                    }
                    let mut state = shared.lock().await;
                    if is_killed(&state, id) {
                        return false;
                    }
                    if take_back(&mut state, client, out) {
                        return true;
                    }
                }
                _ = sleep_until_instant(deadline), if deadline.is_some() => {
                    let mut state = shared.lock().await;
                    // Served at the last moment, or timed out now: either way, done.
                    time_out(&mut state, id);
                    return take_back(&mut state, client, out);
                }
                r = self.stream.read_buf(&mut *self.rbuf) => match r {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => {
                        self.traffic.input += n as u64;
                        if self.rbuf.len() > QUERY_BUFFER_LIMIT {
                            return false;
                        }
                    }
                },
            }
        }
    }
}

/// Sleeps until `deadline`; never returns for `None`.
async fn sleep_until_instant(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// A connection's way out: its socket, the replies not yet written to it, and the
/// traffic not yet added to the INFO counters.
struct Wire {
    stream: TcpStream,
    out: Reply,
    traffic: Traffic,
    /// The buffers' sizes for client eviction.
    buffers: Arc<crate::client_eviction::Buffers>,
}

impl Wire {
    /// Writes the pending replies. False when the connection is to close instead: the
    /// peer is gone, another connection killed this one, or the server stops. A peer that
    /// does not read must not keep a killed connection alive.
    async fn flush(&mut self, shared: &Shared, id: u64, signals: &mut Signals) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let pending = self.out.buf.len();
        self.buffers.output.store(pending, Ordering::Relaxed);
        // A node with latency injected (fault injection) holds its replies, not its lock.
        let held = crate::cluster::faults::reply_delay(shared);
        let flushed = {
            let mut write = pin!(async {
                if let Some(delay) = held {
                    tokio::time::sleep(delay).await;
                }
                self.stream.write_all(&self.out.buf).await
            });
            loop {
                tokio::select! {
                    biased;
                    r = &mut write => break r.is_ok(),
                    signal = signals.recv() => {
                        if signal == Signal::Shutdown || is_killed(&*shared.lock().await, id) {
                            break false;
                        }
                    }
                }
            }
        };
        if flushed {
            self.buffers.output.store(0, Ordering::Relaxed);
            self.traffic.output += self.out.buf.len() as u64;
            self.out.buf.clear();
            if self.out.buf.capacity() > OUTPUT_KEEP {
                self.out.buf = BytesMut::with_capacity(OUTPUT_CHUNK);
            }
        }
        flushed
    }
}

/// Waits while a CLIENT PAUSE holds the next command, until `until` or until something
/// wakes the connection (CLIENT UNPAUSE, a kill). False when the connection is to close.
async fn wait_for_pause(until: Instant, shared: &Shared, id: u64, signals: &mut Signals) -> bool {
    // The caller looks at the pause again after this returns, so waking early is harmless;
    // the cap keeps the timer within what any runtime handles.
    let deadline = until.min(Instant::now() + Duration::from_secs(3600));
    tokio::select! {
        _ = tokio::time::sleep_until(deadline.into()) => true,
        signal = signals.recv() => {
            signal == Signal::Wake && !is_killed(&*shared.lock().await, id)
        }
    }
}

/// When a connection whose last read or write was at `last_io_ms` (unix time) has been
/// silent too long under `timeout` seconds; never when `timeout` is 0. Redis closes a
/// client once `unixtime - lastinteraction > timeout` in whole seconds, so the limit falls
/// on the start of a second: after between `timeout` and `timeout + 1` seconds of silence.
fn idle_deadline(last_io_ms: Millis, timeout: u64) -> Option<Millis> {
    if timeout == 0 {
        return None;
    }
    let timeout = Millis::try_from(timeout).unwrap_or(Millis::MAX);
    let second = last_io_ms.div_euclid(1000);
    Some(
        second
            .saturating_add(timeout)
            .saturating_add(1)
            .saturating_mul(1000),
    )
}

/// Sleeps until the given unix time in milliseconds (at once if it has passed).
async fn sleep_until_unix(when_ms: Millis) {
    let wait = when_ms.saturating_sub(unix_millis()).clamp(0, 3_600_000);
    // The caller checks the clock again, so the cap only costs an extra wake-up.
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
}

/// Traffic not yet added to the INFO counters.
#[derive(Default)]
struct Traffic {
    input: u64,
    output: u64,
    /// Protocol errors, which are answered outside a batch.
    errors: u64,
}

impl Traffic {
    fn add_to(&mut self, state: &mut State) {
        state.stats.net_input_bytes += std::mem::take(&mut self.input);
        state.stats.net_output_bytes += std::mem::take(&mut self.output);
        state.stats.error_replies += std::mem::take(&mut self.errors);
    }
}

/// A script has held the state past `busy-reply-threshold` since before this connection
/// could be registered: answer what it sends as Redis does then, without the state
/// (`dispatch::run_busy_batch`), so that a new connection is told BUSY like the others.
/// Input with a command that needs the state stays in `rbuf` for after the registration.
/// False when the connection is gone or asked to close.
async fn answer_unregistered(
    shared: &Shared,
    mut visitor: Client,
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
) -> bool {
    let max = if visitor.authenticated { usize::MAX } else { 1 };
    let parse = |rbuf: &mut BytesMut, batch: &mut Batch| {
        let mut parser = RequestParser::new(lockstep_resp::request::DEFAULT_MAX_BULK_LEN);
        let parsed = parser.parse(rbuf, batch, max, visitor.authenticated);
        (parser, parsed)
    };
    let mut batch = Batch::default();
    let (mut parser, mut parsed) = parse(rbuf, &mut batch);
    if batch.is_empty() && !matches!(parsed, Parsed::Error(_)) {
        // Nothing whole yet: input, or a look at the lock again soon.
        tokio::select! {
            r = stream.read_buf(rbuf) => match r {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            },
            _ = tokio::time::sleep(Duration::from_millis(10)) => return true,
        }
        batch.clear();
        (parser, parsed) = parse(rbuf, &mut batch);
    }
    // A protocol error, or a command that needs the state: after the registration (the
    // caller looks at the lock again after a pause).
    if matches!(parsed, Parsed::Error(_)) || busy_batch_needs_state(&visitor, &batch, rbuf) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        return true;
    }
    let mut out = Reply::new(Protocol::Resp2);
    run_busy_batch(&shared.script_run, &mut visitor, &mut out, &batch, 0, rbuf);
    rbuf.advance(parser.consumed());
    if stream.write_all(&out.buf).await.is_err() {
        return false;
    }
    !visitor.close_after_reply
}

/// Adds the connection to the registry, or refuses it past `maxclients`.
fn register(
    state: &mut State,
    id: u64,
    addr: SocketAddr,
    laddr: SocketAddr,
    fd: i32,
    wake: &Arc<Notify>,
    has_pushed: &Arc<AtomicBool>,
) -> Option<(Client, u64, u64, Arc<crate::client_eviction::Buffers>)> {
    state.stats.connections_received += 1;
    if state.clients.len() as u64 >= state.config.maxclients {
        state.stats.rejected_connections += 1;
        return None;
    }
    let authenticated = password(state).is_none();
    let mut client = Client::new(id, addr, laddr, authenticated);
    client.fd = fd;
    let entry = ClientEntry::new(client.clone(), wake.clone(), has_pushed.clone());
    let buffers = entry.buffers.clone();
    state.clients.insert(id, entry);
    Some((
        client,
        state.config.proto_max_bulk_len,
        state.config.timeout,
        buffers,
    ))
}

fn is_killed(state: &State, id: u64) -> bool {
    state.clients.get(&id).is_none_or(|e| e.killed)
}

/// What interrupts a connection's wait: a wake-up from another connection (CLIENT KILL,
/// CLIENT UNPAUSE, CONFIG SET timeout) or the server stopping.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signal {
    Wake,
    Shutdown,
}

/// Waits for the next `Signal`. The wait outlives each `select!` and is replaced only once
/// it fires: a `select!` that ends for another reason (input arrived, a write finished)
/// leaves it registered with the `Notify`, instead of unregistering it and registering a
/// new one on every turn of the loop. Only the `Notify` is waited on (each poll of a
/// registered wait takes its lock): the accept loop wakes every connection when the server
/// stops, and the watch channel then tells a stop from other wake-ups.
struct Signals {
    wake: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
    next: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Signals {
    fn new(wake: Arc<Notify>, shutdown: watch::Receiver<bool>) -> Signals {
        let next = Signals::arm(&wake);
        Signals {
            wake,
            shutdown,
            next,
        }
    }

    fn arm(wake: &Arc<Notify>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let wake = wake.clone();
        Box::pin(async move { wake.notified().await })
    }

    /// The next signal. Cancel safe: a dropped `recv` leaves the wait armed.
    async fn recv(&mut self) -> Signal {
        self.next.as_mut().await;
        self.next = Signals::arm(&self.wake);
        if self.stopping() {
            Signal::Shutdown
        } else {
            Signal::Wake
        }
    }

    /// Whether the server is stopping, without waiting.
    fn stopping(&self) -> bool {
        self.shutdown.has_changed().unwrap_or(true)
    }
}

/// Copies the connection's state into the registry, for CLIENT LIST and friends. True when
/// another connection killed this one meanwhile.
fn publish(state: &mut State, client: &Client, out: &mut Reply) -> bool {
    match state.clients.get_mut(&client.id) {
        Some(entry) => {
            entry.client.clone_from(client);
            // And take what others sent it meanwhile (its own commands' MONITOR lines).
            entry.take_pushed(out);
            entry.killed
        }
        None => true,
    }
}

/// Whether the reply being produced now is dropped (CLIENT REPLY OFF, or SKIP in effect).
fn replies_suppressed(client: &Client) -> bool {
    matches!(client.reply_mode, ReplyMode::Off | ReplyMode::Skip)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use crate::{EmbeddedServer, ServerConfig};

    fn server() -> EmbeddedServer {
        EmbeddedServer::start(ServerConfig {
            bind: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            ..ServerConfig::ephemeral()
        })
        .expect("start a server")
    }

    fn connect(server: &EmbeddedServer) -> TcpStream {
        let stream = TcpStream::connect(server.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        stream
    }

    /// Sends `request` and reads exactly the `reply` expected.
    fn exchange(stream: &mut TcpStream, request: &[u8], reply: &[u8]) {
        stream.write_all(request).expect("write");
        expect_reply(stream, reply);
    }

    /// Reads exactly the `reply` expected, to a request sent before.
    fn expect_reply(stream: &mut TcpStream, reply: &[u8]) {
        let mut got = vec![0; reply.len()];
        stream.read_exact(&mut got).expect("read the reply");
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(reply)
        );
    }

    /// Everything the server still sends, up to its close; an error if it does not close.
    fn read_to_close(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        let mut all = Vec::new();
        stream.read_to_end(&mut all)?;
        Ok(all)
    }

    /// Sends `request` on a new connection and checks that the server sends exactly
    /// `replies`, then closes the connection.
    fn closes_after(server: &EmbeddedServer, request: &[u8], replies: &[u8]) {
        let mut client = connect(server);
        client.write_all(request).expect("write");
        assert_eq!(read_to_close(&mut client).expect("closed"), replies);
    }

    /// A victim connection with its client id, and a second connection to kill it from.
    fn victim_and_killer(server: &EmbeddedServer) -> (TcpStream, u64, TcpStream) {
        let mut victim = connect(server);
        let id = client_id(&mut victim);
        (victim, id, connect(server))
    }

    /// CLIENT KILL ID `id` from `killer`, which must find the client.
    fn kill(killer: &mut TcpStream, id: u64) {
        exchange(
            killer,
            format!("CLIENT KILL ID {id}\r\n").as_bytes(),
            b":1\r\n",
        );
    }

    /// A server that `pauser` has paused with `CLIENT PAUSE {args}`, and another client.
    fn paused(args: &str) -> (EmbeddedServer, TcpStream, TcpStream) {
        let server = server();
        let mut pauser = connect(&server);
        let other = connect(&server);
        let pause = format!("CLIENT PAUSE {args}\r\n");
        exchange(&mut pauser, pause.as_bytes(), b"+OK\r\n");
        (server, pauser, other)
    }

    fn client_id(stream: &mut TcpStream) -> u64 {
        stream.write_all(b"CLIENT ID\r\n").expect("write");
        let mut line = Vec::new();
        let mut byte = [0u8];
        while !line.ends_with(b"\r\n") {
            stream.read_exact(&mut byte).expect("read");
            line.push(byte[0]);
        }
        std::str::from_utf8(&line[1..line.len() - 2])
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("an integer reply")
    }

    #[test]
    fn killed_connection_closes_while_its_peer_does_not_read() {
        let server = server();
        let mut victim = connect(&server);
        let value = vec![b'x'; 1 << 20];
        let mut set = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1048576\r\n".to_vec();
        set.extend_from_slice(&value);
        set.extend_from_slice(b"\r\n");
        exchange(&mut victim, &set, b"+OK\r\n");
        let id = client_id(&mut victim);
        // 64 MiB of replies that the victim does not read: the server blocks writing them.
        victim.write_all(&b"GET big\r\n".repeat(64)).expect("write");
        std::thread::sleep(Duration::from_millis(200));

        let mut killer = connect(&server);
        kill(&mut killer, id);
        let rest = read_to_close(&mut victim).expect("the victim is closed");
        assert!(rest.len() < 64 << 20, "the server stopped writing");
        exchange(&mut killer, b"PING\r\n", b"+PONG\r\n");
    }

    #[test]
    fn killed_idle_connection_closes_at_once() {
        let server = server();
        let (mut victim, id, mut killer) = victim_and_killer(&server);
        kill(&mut killer, id);
        assert_eq!(read_to_close(&mut victim).expect("closed"), b"");
    }

    #[test]
    fn killed_connection_leaves_client_list_at_once() {
        let server = server();
        let (_victim, id, mut killer) = victim_and_killer(&server);
        // Both in one batch: the second finds nobody to kill.
        exchange(
            &mut killer,
            format!("CLIENT KILL ID {id}\r\nCLIENT KILL ID {id}\r\nCLIENT LIST ID {id}\r\n")
                .as_bytes(),
            b":1\r\n:0\r\n$0\r\n\r\n",
        );
    }

    #[test]
    fn quit_under_reply_off_closes_without_a_reply() {
        // Redis 7.0.15 leaves such a connection open and ignores what it sends next;
        // lockstep closes it, as QUIT asks.
        let server = server();
        closes_after(
            &server,
            b"CLIENT REPLY OFF\r\nPING\r\nQUIT\r\nPING\r\n",
            b"",
        );
    }

    #[test]
    fn protocol_error_under_reply_off_closes_without_a_reply() {
        let server = server();
        closes_after(&server, b"CLIENT REPLY OFF\r\n*1\r\n$x\r\n", b"");
    }

    #[test]
    fn replies_before_quit_are_written_and_commands_after_it_are_not_run() {
        let server = server();
        closes_after(
            &server,
            b"SET k 1\r\nQUIT\r\nSET k 2\r\n",
            b"+OK\r\n+OK\r\n",
        );
        let mut other = connect(&server);
        exchange(&mut other, b"GET k\r\n", b"$1\r\n1\r\n");
    }

    #[test]
    fn a_large_pipeline_is_answered_in_order() {
        let server = server();
        let mut client = connect(&server);
        let mut request = Vec::new();
        let mut expected = Vec::new();
        for i in 0..20_000 {
            request.extend_from_slice(format!("ECHO {i}\r\n").as_bytes());
            expected.extend_from_slice(format!("${}\r\n{i}\r\n", i.to_string().len()).as_bytes());
        }
        exchange(&mut client, &request, &expected);
    }

    #[test]
    fn client_pause_holds_every_command_until_it_ends() {
        let (_server, _pauser, mut other) = paused("300");
        let start = std::time::Instant::now();
        exchange(&mut other, b"PING\r\n", b"+PONG\r\n");
        assert!(start.elapsed() >= Duration::from_millis(250));
    }

    #[test]
    fn client_pause_write_lets_reads_through_and_holds_writes() {
        let (_server, _pauser, mut other) = paused("400 WRITE");
        let start = std::time::Instant::now();
        exchange(&mut other, b"GET k\r\n", b"$-1\r\n");
        assert!(start.elapsed() < Duration::from_millis(300));
        // The read before the write is answered at once; the write and what follows wait.
        other
            .write_all(b"GET k\r\nSET k v\r\nGET k\r\n")
            .expect("write");
        expect_reply(&mut other, b"$-1\r\n");
        assert!(start.elapsed() < Duration::from_millis(300));
        expect_reply(&mut other, b"+OK\r\n$1\r\nv\r\n");
        assert!(start.elapsed() >= Duration::from_millis(350));
    }

    #[test]
    fn client_unpause_releases_held_commands_at_once() {
        let (_server, mut pauser, mut other) = paused("60000 WRITE");
        let start = std::time::Instant::now();
        other.write_all(b"SET k v\r\n").expect("write");
        std::thread::sleep(Duration::from_millis(100));
        exchange(&mut pauser, b"CLIENT UNPAUSE\r\n", b"+OK\r\n");
        expect_reply(&mut other, b"+OK\r\n");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn killed_paused_connection_closes() {
        let server = server();
        let mut pauser = connect(&server);
        let mut victim = connect(&server);
        let id = client_id(&mut victim);
        exchange(&mut pauser, b"CLIENT PAUSE 60000 WRITE\r\n", b"+OK\r\n");
        victim.write_all(b"SET k v\r\n").expect("write");
        std::thread::sleep(Duration::from_millis(100));
        exchange(
            &mut pauser,
            format!("CLIENT KILL ID {id}\r\nCLIENT UNPAUSE\r\nGET k\r\n").as_bytes(),
            b":1\r\n+OK\r\n$-1\r\n",
        );
        assert_eq!(read_to_close(&mut victim).expect("closed"), b"");
    }

    #[test]
    fn requirepass_client_must_authenticate_first() {
        let server = EmbeddedServer::start(ServerConfig {
            bind: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            requirepass: Some("pw".into()),
            ..ServerConfig::ephemeral()
        })
        .expect("start a server");
        let mut client = connect(&server);
        exchange(
            &mut client,
            b"PING\r\nAUTH pw\r\nPING\r\n",
            b"-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n",
        );
    }

    #[test]
    fn server_stop_closes_a_connection_that_waits_for_input() {
        let server = server();
        let mut idle = connect(&server);
        exchange(&mut idle, b"PING\r\n", b"+PONG\r\n");
        let stopped = std::time::Instant::now();
        server.stop();
        assert!(stopped.elapsed() < Duration::from_secs(2));
        assert_eq!(read_to_close(&mut idle).expect("closed"), b"");
    }

    #[test]
    fn idle_deadline_is_the_start_of_the_second_after_timeout_whole_seconds() {
        use super::idle_deadline;
        assert_eq!(idle_deadline(10_000, 0), None);
        // Last heard at 10.0 s or 10.999 s: closed from 12.0 s on, as `12 - 10 > 1`.
        assert_eq!(idle_deadline(10_000, 1), Some(12_000));
        assert_eq!(idle_deadline(10_999, 1), Some(12_000));
        assert_eq!(idle_deadline(10_999, 300), Some(311_000));
        assert_eq!(idle_deadline(i64::MAX - 5, u64::MAX), Some(i64::MAX));
    }

    #[test]
    fn idle_connection_is_closed_after_config_set_timeout() {
        let server = server();
        let mut idle = connect(&server);
        exchange(&mut idle, b"PING\r\n", b"+PONG\r\n");
        let mut admin = connect(&server);
        exchange(&mut admin, b"CONFIG SET timeout 1\r\n", b"+OK\r\n");
        let started = std::time::Instant::now();
        idle.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        assert_eq!(read_to_close(&mut idle).expect("closed"), b"");
        assert!(started.elapsed() < Duration::from_millis(2500));
    }
}
