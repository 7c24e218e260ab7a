//! rediss:// against redis-server's TLS port, with a CA made for the test.

mod common;

use std::time::Duration;

use common::{free_redis_port, RedisServer};
use lockstep::{Client, Commands, Config, Error, Phase, TlsOptions};

struct Pki {
    dir: std::path::PathBuf,
    ca_pem: String,
}

fn make_pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let dir = std::env::temp_dir().join(format!("lockstep-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("server.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    Pki {
        dir,
        ca_pem: ca.pem(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_against_redis_server() {
    let pki = make_pki();
    let plain = free_redis_port();
    let tls_port = free_redis_port();
    let p = |f: &str| pki.dir.join(f).to_string_lossy().into_owned();
    let _redis = RedisServer::start_with(
        plain,
        &[
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            p("server.crt"),
            "--tls-key-file".into(),
            p("server.key"),
            "--tls-ca-cert-file".into(),
            p("ca.crt"),
            "--tls-auth-clients".into(),
            "no".into(),
        ],
    );

    // Verified against the test CA.
    let cfg = Config::builder()
        .url(&format!("rediss://127.0.0.1:{tls_port}"))
        .unwrap()
        .tls(TlsOptions {
            insecure: false,
            ca_pem: Some(pki.ca_pem.clone().into_bytes()),
        })
        .connect_timeout(Duration::from_secs(3))
        .build();
    let c = Client::new(cfg);
    c.connect().await.unwrap();
    c.set("tls", "yes").await.unwrap();
    assert_eq!(c.get::<String>("tls").await.unwrap(), "yes");

    // Without the CA, verification fails, in the TLS phase.
    let cfg = Config::builder()
        .url(&format!("rediss://127.0.0.1:{tls_port}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(3))
        .build();
    let err = Client::new(cfg).connect().await.unwrap_err();
    let Error::Connect(ce) = &err else {
        panic!("{err}")
    };
    assert_eq!(ce.phase(), Some(Phase::Tls), "{err}");

    // insecure skips verification.
    let c = Client::open(&format!("rediss://127.0.0.1:{tls_port}?insecure=true"))
        .await
        .unwrap();
    assert_eq!(c.ping().await.unwrap(), "PONG");
    let _ = std::fs::remove_dir_all(&pki.dir);
}
