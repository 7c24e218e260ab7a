//! Typed errors. Every failure is a value that says *where* it happened (which address, which
//! phase of the connection) and *what is known* about the command (not sent, or may have
//! run). Text is produced only by `Display`, at the edge.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::connection::State;

/// The phase of establishing a connection in which an address failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Resolving the host name.
    Dns,
    /// The TCP (or Unix socket) connect.
    Tcp,
    /// The TLS handshake.
    Tls,
    /// `HELLO` (protocol negotiation, and AUTH/SETNAME folded into it).
    Hello,
    /// `AUTH` (when the server has no HELLO).
    Auth,
    /// `SELECT db`.
    Select,
    /// `CLIENT SETNAME`.
    SetName,
    /// The `PING` that proves a server without HELLO answers at all.
    Ping,
    /// `CLIENT TRACKING ON`, for client-side caching.
    Tracking,
    /// `READONLY`, on a connection to a cluster replica that serves reads.
    ReadOnly,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Dns => "DNS",
            Phase::Tcp => "TCP",
            Phase::Tls => "TLS",
            Phase::Hello => "HELLO",
            Phase::Auth => "AUTH",
            Phase::Select => "SELECT",
            Phase::SetName => "CLIENT SETNAME",
            Phase::Ping => "PING",
            Phase::Tracking => "CLIENT TRACKING",
            Phase::ReadOnly => "READONLY",
        })
    }
}

/// Why one step failed.
#[derive(Clone, Debug)]
pub enum Cause {
    /// An I/O error from the operating system.
    Io(Arc<std::io::Error>),
    /// The peer closed the connection (EOF), e.g. a socket accepted and then closed.
    Closed,
    /// The step did not finish in time.
    Timeout(Duration),
    /// The server answered with an error.
    Server(ServerError),
    /// The server sent bytes that are not RESP, or not the reply expected.
    Protocol(String),
    /// The resolver found no address.
    NoAddress,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Io(e) => write!(f, "{e}"),
            Cause::Closed => f.write_str("connection closed by the server"),
            Cause::Timeout(d) => write!(f, "timed out after {d:?}"),
            Cause::Server(e) => write!(f, "server error: {e}"),
            Cause::Protocol(m) => write!(f, "protocol error: {m}"),
            Cause::NoAddress => f.write_str("no address found"),
        }
    }
}

impl From<std::io::Error> for Cause {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Cause::Closed
        } else {
            Cause::Io(Arc::new(e))
        }
    }
}

/// One address that was tried, and how it failed.
#[derive(Clone, Debug)]
pub struct AddrFailure {
    /// The address, or `None` for a DNS failure (no address yet).
    pub addr: Option<SocketAddr>,
    pub phase: Phase,
    pub cause: Cause,
}

impl fmt::Display for AddrFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            Some(a) => write!(f, "{a}: {} failed: {}", self.phase, self.cause),
            None => write!(f, "{} failed: {}", self.phase, self.cause),
        }
    }
}

/// A connection attempt in which every address failed.
#[derive(Clone, Debug)]
pub struct ConnectError {
    /// What was being connected to: `host:port` or a Unix socket path.
    pub target: String,
    /// Every address tried, in the order they failed.
    pub failures: Vec<AddrFailure>,
}

impl ConnectError {
    pub(crate) fn single(
        target: String,
        addr: Option<SocketAddr>,
        phase: Phase,
        cause: Cause,
    ) -> Self {
        ConnectError {
            target,
            failures: vec![AddrFailure { addr, phase, cause }],
        }
    }

    /// The phase in which the first address failed (DNS when resolution failed).
    pub fn phase(&self) -> Option<Phase> {
        self.failures.first().map(|f| f.phase)
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not connect to {}", self.target)?;
        match self.failures.len() {
            0 => Ok(()),
            1 => write!(f, ": {}", self.failures[0]),
            n => {
                write!(f, " ({n} addresses tried): ")?;
                for (i, fail) in self.failures.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{fail}")?;
                }
                Ok(())
            }
        }
    }
}

/// An error reply from the server: `-CODE message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    /// The first word: `ERR`, `WRONGTYPE`, `NOSCRIPT`, `MOVED`...
    pub code: String,
    /// The rest of the line.
    pub message: String,
}

impl ServerError {
    pub(crate) fn from_bytes(b: &[u8]) -> ServerError {
        let text = String::from_utf8_lossy(b);
        match text.split_once(' ') {
            Some((code, rest)) if code.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                ServerError {
                    code: code.to_string(),
                    message: rest.to_string(),
                }
            }
            _ => ServerError {
                code: if text.chars().all(|c| c.is_ascii_uppercase()) && !text.is_empty() {
                    text.to_string()
                } else {
                    String::new()
                },
                message: text.to_string(),
            },
        }
    }

    /// True for `ERR unknown command ...`.
    pub fn is_unknown_command(&self) -> bool {
        self.message.starts_with("unknown command") || self.message.contains("unknown subcommand")
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{} {}", self.code, self.message)
        }
    }
}

/// A reply that does not convert to the Rust type asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeError {
    /// The Rust type (or shape) wanted.
    pub expected: &'static str,
    /// A short description of the reply received.
    pub got: String,
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reply type mismatch: expected {}, got {}",
            self.expected, self.got
        )
    }
}

/// What is known about a command that did not get its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Not one byte of it reached the socket: it certainly did not run.
    No,
    /// It was written, so the server may or may not have run it.
    MayHaveRun,
}

impl fmt::Display for Sent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sent::No => "it was not sent, so it did not run",
            Sent::MayHaveRun => "it was sent and may or may not have run",
        })
    }
}

/// Why the client is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedBy {
    /// `disconnect()` was called.
    Disconnect,
    /// `shutdown()` was called, or every handle was dropped.
    Shutdown,
}

/// Every error the client returns.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// Every address failed; lists each one with its phase and cause.
    Connect(ConnectError),
    /// The connection was lost with this command outstanding and it was not retried.
    ConnectionLost { sent: Sent, cause: Cause },
    /// No reply within the command timeout. The connection is recycled if the server stays
    /// silent, so a late reply can never be taken for another command's.
    Timeout {
        after: Duration,
        /// The connection state when the timeout fired.
        state: State,
        /// The last connection error, when the wait was for a connection.
        last_error: Option<Box<Error>>,
    },
    /// The client was disconnected or shut down.
    Closed { by: ClosedBy, sent: Sent },
    /// The server answered with an error.
    Server(ServerError),
    /// A reply did not convert to the requested type.
    Type(TypeError),
    /// The server sent something that is not valid RESP, or an unexpected reply.
    Protocol(String),
    /// A configuration or URL error.
    Config(String),
    /// No pooled connection became available within the pool timeout.
    PoolTimeout { after: Duration },
    /// The client's queue stayed full (`Config::max_pending` commands queued or in
    /// flight) for the whole command timeout: the command was never handed to the
    /// connection, so it did not run.
    Backpressure { after: Duration, max_pending: usize },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The server error, if this is one.
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Error::Server(e) => Some(e),
            _ => None,
        }
    }

    /// True when the command certainly did not run.
    pub fn not_sent(&self) -> bool {
        matches!(
            self,
            Error::ConnectionLost { sent: Sent::No, .. }
                | Error::Closed { sent: Sent::No, .. }
                | Error::Backpressure { .. }
        )
    }

    /// True for errors about the connection (as opposed to the command or the reply).
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Error::Connect(_)
                | Error::ConnectionLost { .. }
                | Error::Timeout { .. }
                | Error::Closed { .. }
                | Error::Backpressure { .. }
        )
    }

    pub(crate) fn type_error(expected: &'static str, got: &lockstep_resp::Frame) -> Error {
        Error::Type(TypeError {
            expected,
            got: crate::reply::describe(got),
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(e) => write!(f, "{e}"),
            Error::ConnectionLost { sent, cause } => {
                write!(f, "connection lost ({cause}); {sent}")
            }
            Error::Timeout {
                after,
                state,
                last_error,
            } => {
                write!(
                    f,
                    "no reply within {after:?} (connection {state:?}); it may or may not have run"
                )?;
                if let Some(e) = last_error {
                    write!(f, "; last connection error: {e}")?;
                }
                Ok(())
            }
            Error::Closed { by, sent } => {
                let by = match by {
                    ClosedBy::Disconnect => "disconnect() was called",
                    ClosedBy::Shutdown => "the client was shut down",
                };
                write!(f, "client closed: {by}; {sent}")
            }
            Error::Server(e) => write!(f, "{e}"),
            Error::Type(e) => write!(f, "{e}"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Config(m) => write!(f, "invalid configuration: {m}"),
            Error::PoolTimeout { after } => {
                write!(f, "no pooled connection became free within {after:?}")
            }
            Error::Backpressure { after, max_pending } => write!(
                f,
                "the client's queue stayed full ({max_pending} commands queued or in flight) for {after:?}; the command was not sent"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConnectError> for Error {
    fn from(e: ConnectError) -> Self {
        Error::Connect(e)
    }
}

impl From<ServerError> for Error {
    fn from(e: ServerError) -> Self {
        Error::Server(e)
    }
}

impl From<TypeError> for Error {
    fn from(e: TypeError) -> Self {
        Error::Type(e)
    }
}
