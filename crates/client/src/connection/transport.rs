//! The byte stream under a connection: TCP, TLS over TCP, or a Unix socket. Every socket
//! carries a guard that keeps the client's socket gauge exact (opened, closed, high-water).

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::metrics::Metrics;

pub(crate) enum Inner {
    Tcp(tokio::net::TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

/// A connected socket.
pub struct Stream {
    pub(crate) inner: Inner,
    _guard: SocketGuard,
}

impl Stream {
    pub(crate) fn new(inner: Inner, metrics: &Arc<Metrics>) -> Stream {
        Stream {
            inner,
            _guard: SocketGuard::new(metrics.clone()),
        }
    }
}

/// Counts a socket as open from creation to drop.
struct SocketGuard(Arc<Metrics>);

impl SocketGuard {
    fn new(m: Arc<Metrics>) -> SocketGuard {
        let open = m.sockets_open.fetch_add(1, Ordering::SeqCst) + 1;
        m.sockets_opened.fetch_add(1, Ordering::Relaxed);
        m.sockets_open_max.fetch_max(open, Ordering::SeqCst);
        SocketGuard(m)
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.sockets_open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `$call` on whichever socket `$inner` holds, bound to `$s`. (A boxed TLS stream is
/// `Unpin` and forwards every I/O call to the stream it holds, so all arms read the same.)
macro_rules! on_socket {
    ($inner:expr, $s:ident => $call:expr) => {
        match $inner {
            Inner::Tcp($s) => $call,
            #[cfg(unix)]
            Inner::Unix($s) => $call,
            #[cfg(feature = "tls")]
            Inner::Tls($s) => $call,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        on_socket!(&mut self.get_mut().inner, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        on_socket!(&mut self.get_mut().inner, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        on_socket!(&mut self.get_mut().inner, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        on_socket!(&self.inner, s => s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_socket!(&mut self.get_mut().inner, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_socket!(&mut self.get_mut().inner, s => Pin::new(s).poll_shutdown(cx))
    }
}
