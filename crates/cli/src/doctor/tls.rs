//! TLS for the doctor: the handshake of a `rediss://` URL (certificates verified unless the
//! URL says `insecure`), and the probe that asks "does this port speak TLS at all?" when a
//! plain connection got closed or silence — there certificates do not matter, only whether
//! a ServerHello comes back.

use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How a TLS handshake went.
#[derive(Debug)]
pub enum Handshake {
    /// Done; the negotiated protocol version.
    Done(Box<TlsStream<TcpStream>>, String),
    /// The server's certificate did not verify.
    Certificate(String),
    /// The server spoke TLS but ended the handshake with an alert (e.g. it wants a client
    /// certificate).
    Alert(String),
    /// The peer answered with something that is not TLS.
    NotTls(String),
    /// The peer closed or reset the connection during the handshake.
    Closed,
    /// No answer within the timeout.
    Timeout,
}

/// Runs a TLS handshake over `tcp`, naming `host` (SNI, and the certificate's name when
/// `verify`).
pub async fn handshake(tcp: TcpStream, host: &str, verify: bool, timeout: Duration) -> Handshake {
    let connector = match connector(verify) {
        Ok(c) => c,
        Err(e) => return Handshake::NotTls(format!("TLS setup failed: {e}")),
    };
    // An IP literal is a valid ServerName too; anything unparseable still gets a handshake.
    let name = ServerName::try_from(host.to_string())
        .unwrap_or_else(|_| ServerName::try_from("localhost").expect("a valid DNS name"));
    match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Err(_) => Handshake::Timeout,
        Ok(Ok(stream)) => {
            let version = stream
                .get_ref()
                .1
                .protocol_version()
                .map(|v| format!("{v:?}").replace("TLSv1_", "TLS 1."))
                .unwrap_or_else(|| "TLS".into());
            Handshake::Done(Box::new(stream), version)
        }
        Ok(Err(e)) => {
            let tls_error = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .cloned();
            match tls_error {
                Some(rustls::Error::InvalidCertificate(c)) => {
                    Handshake::Certificate(format!("{c:?}"))
                }
                Some(rustls::Error::AlertReceived(a)) => Handshake::Alert(format!("{a:?}")),
                Some(other) => Handshake::NotTls(other.to_string()),
                None => match e.kind() {
                    std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted => Handshake::Closed,
                    _ => Handshake::NotTls(e.to_string()),
                },
            }
        }
    }
}

/// The client's own connector (see `lockstep::TlsOptions`), verifying or not.
fn connector(verify: bool) -> Result<TlsConnector, lockstep::Error> {
    lockstep::TlsOptions {
        insecure: !verify,
        ca_pem: None,
    }
    .connector()
}
