//! TLS for the doctor: the handshake of a `rediss://` URL (certificates verified unless the
//! URL says `insecure`), and the probe that asks "does this port speak TLS at all?" when a
//! plain connection got closed or silence — there certificates do not matter, only whether
//! a ServerHello comes back.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
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

fn connector(verify: bool) -> Result<TlsConnector, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = if verify {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Accepts any certificate: the probe only asks whether the port speaks TLS, and `insecure`
/// URLs ask for no verification.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
