//! The wire as the doctor sees it: one TCP (or TLS) connection, commands written as RESP
//! arrays, and every answer kept as what it was — a frame, bytes that are not RESP, a close,
//! a reset, or silence. Nothing here interprets an answer; `address` does.
//!
//! It must never panic on what a peer sends: anything can be listening on the port.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use lockstep_resp::decode::Decoder;
use lockstep_resp::encode::encode_command;
use lockstep_resp::Frame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A byte stream: plain TCP or TLS over it.
pub trait Wire: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Wire for T {}

/// Replies longer than this are not something the doctor asks for.
const MAX_REPLY: u64 = 64 * 1024 * 1024;

/// Why a TCP connection could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// RST to our SYN: nothing listens on that address and port.
    Refused,
    /// No answer to our SYN within the timeout: a firewall dropping packets, or a host that
    /// is not there.
    Timeout,
    /// No route to the network or host.
    Unreachable(String),
    Other(String),
}

/// Opens a TCP connection to `addr` within `timeout`, and says how long it took.
pub async fn connect(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(TcpStream, Duration), ConnectError> {
    let started = Instant::now();
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => Err(ConnectError::Timeout),
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok((s, started.elapsed()))
        }
        Ok(Err(e)) => Err(classify_connect(&e)),
    }
}

fn classify_connect(e: &io::Error) -> ConnectError {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        return ConnectError::Refused;
    }
    if e.kind() == io::ErrorKind::TimedOut {
        return ConnectError::Timeout;
    }
    // ENETUNREACH and EHOSTUNREACH have no stable ErrorKind on our minimum Rust version.
    match e.raw_os_error() {
        Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH) => {
            ConnectError::Unreachable(e.to_string())
        }
        _ => ConnectError::Other(e.to_string()),
    }
}

/// What came back for one command.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// A whole RESP frame.
    Frame(Frame),
    /// The peer closed the connection cleanly before a whole reply; the bytes it sent.
    Closed(Vec<u8>),
    /// The peer reset the connection (or the write found it gone); the bytes it sent.
    Reset(Vec<u8>),
    /// Nothing more within the timeout; the bytes received so far.
    Silent(Vec<u8>),
    /// Bytes that are not RESP.
    NotResp(Vec<u8>),
    /// The TLS peer ended the session with an alert (e.g. `CertificateRequired` after a
    /// handshake that looked done from our side).
    TlsAlert(String),
    /// Any other I/O error.
    Io(String),
}

/// One connection under examination.
pub struct Conn {
    stream: Box<dyn Wire>,
    buf: BytesMut,
    decoder: Decoder,
    timeout: Duration,
}

impl Conn {
    pub fn new(stream: Box<dyn Wire>, timeout: Duration) -> Conn {
        Conn {
            stream,
            buf: BytesMut::with_capacity(4096),
            decoder: Decoder::new(MAX_REPLY),
            timeout,
        }
    }

    /// Sends one command and reads one answer.
    pub async fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Answer {
        let mut out = BytesMut::new();
        encode_command(args, &mut out);
        let write = async {
            self.stream.write_all(&out).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Err(_) => return Answer::Silent(Vec::new()),
            Ok(Err(e)) if is_reset(&e) => {
                // The peer may still have said something before it went away (protected
                // mode writes its DENIED line and closes): read what is there.
                return match self.read().await {
                    Answer::Io(_) | Answer::Silent(_) => Answer::Reset(self.buf.to_vec()),
                    other => other,
                };
            }
            Ok(Err(e)) => return io_answer(&e, &self.buf),
            Ok(Ok(())) => {}
        }
        self.read().await
    }

    /// Sends one command and returns its reply frame, or what came instead as text.
    pub async fn call_frame<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame, String> {
        match self.call(args).await {
            Answer::Frame(f) => Ok(f),
            other => Err(describe(&other)),
        }
    }

    /// Reads one answer.
    pub async fn read(&mut self) -> Answer {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(frame)) => return Answer::Frame(frame),
                Ok(None) => {}
                Err(_) => return Answer::NotResp(self.buf.to_vec()),
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Answer::Silent(self.buf.to_vec()),
                Ok(Ok(0)) => return Answer::Closed(self.buf.to_vec()),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return io_answer(&e, &self.buf),
            }
        }
    }
}

fn io_answer(e: &io::Error, received: &[u8]) -> Answer {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::AlertReceived(alert)) => Answer::TlsAlert(format!("{alert:?}")),
        _ if is_reset(e) => Answer::Reset(received.to_vec()),
        _ => Answer::Io(e.to_string()),
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

/// An answer in a few words, for messages.
pub fn describe(answer: &Answer) -> String {
    match answer {
        Answer::Frame(f) => frame_text(f),
        Answer::Closed(b) if b.is_empty() => "the connection was closed".into(),
        Answer::Closed(b) => format!("the connection was closed after {}", snippet(b)),
        Answer::Reset(b) if b.is_empty() => "the connection was reset".into(),
        Answer::Reset(b) => format!("the connection was reset after {}", snippet(b)),
        Answer::Silent(b) if b.is_empty() => "no answer".into(),
        Answer::Silent(b) => format!("an incomplete answer {}", snippet(b)),
        Answer::NotResp(b) => format!("bytes that are not RESP: {}", snippet(b)),
        Answer::TlsAlert(a) => format!("the TLS alert {a}"),
        Answer::Io(e) => e.clone(),
    }
}

/// A frame as one short line of text (errors with their `-`).
pub fn frame_text(f: &Frame) -> String {
    match f {
        Frame::Error(b) => format!("-{}", String::from_utf8_lossy(first_line(b))),
        Frame::Simple(b) => format!("+{}", String::from_utf8_lossy(first_line(b))),
        Frame::Bulk(b) => format!("\"{}\"", String::from_utf8_lossy(first_line(b))),
        Frame::Integer(n) => format!("(integer) {n}"),
        Frame::Null => "(nil)".into(),
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => format!("an array of {}", v.len()),
        Frame::Map(v) => format!("a map of {}", v.len()),
        other => format!("{other:?}"),
    }
}

fn first_line(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == b'\r' || c == b'\n');
    let b = &b[..end.unwrap_or(b.len())];
    &b[..b.len().min(200)]
}

/// The first bytes of an answer, printable: text where it is text, hex where it is not.
pub fn snippet(b: &[u8]) -> String {
    let head = &b[..b.len().min(48)];
    let printable = head
        .iter()
        .all(|&c| c == b'\r' || c == b'\n' || (0x20..0x7f).contains(&c));
    let more = if b.len() > head.len() { "..." } else { "" };
    if printable {
        format!("{:?}{more}", String::from_utf8_lossy(head))
    } else {
        let hex: Vec<String> = head.iter().take(16).map(|c| format!("{c:02x}")).collect();
        let more = if b.len() > 16 { " ..." } else { "" };
        format!("bytes {}{more}", hex.join(" "))
    }
}

/// The text of an error frame, or `None` for any other answer.
pub fn error_text(answer: &Answer) -> Option<String> {
    match answer {
        Answer::Frame(Frame::Error(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// The bytes of a string-like frame as text.
pub fn text(f: &Frame) -> Option<String> {
    f.as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .or_else(|| match f {
            Frame::Integer(n) => Some(n.to_string()),
            _ => None,
        })
}

/// `field:value` lines of an INFO reply.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == field).then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_shows_text_as_text_and_binary_as_hex() {
        assert_eq!(snippet(b"HTTP/1.1 400"), "\"HTTP/1.1 400\"");
        assert_eq!(
            snippet(&[0x15, 0x03, 0x03, 0x00, 0x02]),
            "bytes 15 03 03 00 02"
        );
    }

    #[test]
    fn info_field_reads_one_line() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_mode:cluster\r\n";
        assert_eq!(info_field(info, "redis_mode").as_deref(), Some("cluster"));
        assert_eq!(info_field(info, "nope"), None);
    }
}
