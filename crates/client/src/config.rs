//! Client configuration: from a URL (`redis://`, `rediss://`, `unix://`) or a builder.
//!
//! ```
//! use std::time::Duration;
//! let cfg = lockstep::Config::from_url("redis://alice:s3cret@localhost:6380/2").unwrap();
//! assert_eq!(cfg.db, 2);
//! let cfg = lockstep::Config::builder()
//!     .url("redis://127.0.0.1:6379").unwrap()
//!     .command_timeout(Some(Duration::from_millis(500)))
//!     .client_name("worker-1")
//!     .build();
//! assert_eq!(cfg.client_name.as_deref(), Some("worker-1"));
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::connection::resolver::{Resolver, SystemResolver};
use crate::error::Error;

/// Where the server is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// A host name or IP literal and a port; `tls` for `rediss://`.
    Tcp { host: String, port: u16, tls: bool },
    /// A Unix domain socket.
    Unix(PathBuf),
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Tcp { host, port, .. } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Addr::Tcp { host, port, .. } => write!(f, "{host}:{port}"),
            Addr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The RESP version to speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Resp2,
    /// RESP3 via `HELLO 3`; falls back to RESP2 when the server has no HELLO.
    Resp3,
}

/// How reconnection is retried: exponential backoff with jitter.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the first reconnection attempt (doubled each attempt).
    pub base_delay: Duration,
    /// Upper bound of one delay.
    pub max_delay: Duration,
    /// Attempts before giving up (`None`: retry forever).
    pub max_attempts: Option<u32>,
    /// Randomise each delay within [delay/2, delay] so that many clients do not reconnect in
    /// lockstep.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(2),
            max_attempts: None,
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// The delay before reconnection attempt `n` (0-based).
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX));
        let d = exp.min(self.max_delay);
        if self.jitter && !d.is_zero() {
            use rand::Rng;
            let half = d / 2;
            half + rand::thread_rng().gen_range(Duration::ZERO..=half)
        } else {
            d
        }
    }
}

/// TLS settings for `rediss://`.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// Skip certificate verification (tests only).
    pub insecure: bool,
    /// Extra root certificates (PEM) to trust besides the built-in roots.
    pub ca_pem: Option<Vec<u8>>,
}

#[cfg(feature = "tls")]
impl TlsOptions {
    /// The rustls connector these options make: the one `rediss://` connections use
    /// (Mozilla's roots plus `ca_pem`, or no verification with `insecure`).
    pub fn connector(&self) -> Result<tokio_rustls::TlsConnector, crate::Error> {
        crate::connection::tls::connector(self).map_err(|e| crate::Error::Config(e.to_string()))
    }
}

/// Everything a client needs to know.
#[derive(Clone)]
pub struct Config {
    pub addr: Addr,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: u32,
    pub client_name: Option<String>,
    pub protocol: Protocol,
    /// Bound on one connection attempt to one address (TCP + TLS + handshake).
    pub connect_timeout: Duration,
    /// Bound on one command, including any wait for a connection. `None`: no bound (not
    /// recommended: a silent server then hangs callers until TCP gives up).
    pub command_timeout: Option<Duration>,
    /// Happy eyeballs: delay before starting the next address while one is in progress.
    pub attempt_delay: Duration,
    pub retry: RetryPolicy,
    /// Retry commands not flagged read-only after a reconnect too (they may run twice).
    pub retry_writes: bool,
    /// How many times one command may be re-sent after connections were lost under it.
    pub max_command_retries: u32,
    /// Most commands queued or in flight on the shared connection at once (a pipeline
    /// counts as its number of commands). Past it, callers wait for room (within their
    /// command timeout), so that a stalled server cannot make the client's memory grow
    /// without bound.
    pub max_pending: usize,
    pub resolver: Arc<dyn Resolver>,
    pub tls: TlsOptions,
    /// Client-side caching of reads (RESP3 only; see `CacheOptions`). `None`: off.
    pub client_cache: Option<crate::cache::CacheOptions>,
    /// Send `READONLY` after every connect: a cluster replica then serves reads of its
    /// primary's slots instead of redirecting them (the cluster client sets it on the
    /// connections it opens to replicas).
    pub readonly: bool,
    /// While a lost connection is being re-established, commands wait for it (`true`, the
    /// default) or fail at once with `Error::ConnectionLost { sent: Sent::No, .. }`
    /// (`false`): the cluster client's choice for its node connections, so that it can
    /// route them elsewhere (a replica promoted meanwhile) instead of waiting on a node
    /// that is gone.
    pub queue_while_reconnecting: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("client_name", &self.client_name)
            .field("protocol", &self.protocol)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("attempt_delay", &self.attempt_delay)
            .field("retry", &self.retry)
            .field("retry_writes", &self.retry_writes)
            .field("max_command_retries", &self.max_command_retries)
            .field("max_pending", &self.max_pending)
            .field("resolver", &self.resolver)
            .field("client_cache", &self.client_cache)
            .field("readonly", &self.readonly)
            .field("queue_while_reconnecting", &self.queue_while_reconnecting)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: Addr::Tcp {
                host: "127.0.0.1".into(),
                port: 6379,
                tls: false,
            },
            username: None,
            password: None,
            db: 0,
            client_name: None,
            protocol: Protocol::Resp3,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Some(Duration::from_secs(10)),
            attempt_delay: Duration::from_millis(250),
            retry: RetryPolicy::default(),
            retry_writes: false,
            max_command_retries: 3,
            max_pending: 65_536,
            resolver: Arc::new(SystemResolver),
            tls: TlsOptions::default(),
            client_cache: None,
            readonly: false,
            queue_while_reconnecting: true,
        }
    }
}

impl Config {
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
        }
    }

    /// Parses `redis://[user[:pass]@]host[:port][/db][?protocol=2|3&client_name=x]`,
    /// `rediss://...` (TLS) and `unix:///path[?db=N&password=x]` (also `redis+unix://`).
    pub fn from_url(url: &str) -> Result<Config, Error> {
        let mut c = Config::default();
        c.apply_url(url)?;
        Ok(c)
    }

    fn apply_url(&mut self, url: &str) -> Result<(), Error> {
        let bad = |why: &str| Error::Config(format!("bad URL {url:?}: {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("missing scheme"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        match scheme {
            "redis" | "rediss" | "valkey" | "valkeys" => {
                let tls = matches!(scheme, "rediss" | "valkeys");
                let (authority, path) = match rest.split_once('/') {
                    Some((a, p)) => (a, p),
                    None => (rest, ""),
                };
                let hostport = match authority.rsplit_once('@') {
                    Some((userinfo, hp)) => {
                        let (user, pass) = match userinfo.split_once(':') {
                            Some((u, p)) => (u, Some(p)),
                            None => (userinfo, None),
                        };
                        match pass {
                            // `redis://secret@host` is a password, as redis-cli reads it.
                            None if !user.is_empty() => self.password = Some(percent_decode(user)?),
                            None => {}
                            Some(p) => {
                                if !user.is_empty() {
                                    self.username = Some(percent_decode(user)?);
                                }
                                self.password = Some(percent_decode(p)?);
                            }
                        }
                        hp
                    }
                    None => authority,
                };
                let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
                    let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
                    let port = match after.strip_prefix(':') {
                        Some(p) => p.parse().map_err(|_| bad("invalid port"))?,
                        None if after.is_empty() => 6379,
                        None => return Err(bad("junk after IPv6 address")),
                    };
                    (h.to_string(), port)
                } else {
                    match hostport.rsplit_once(':') {
                        Some((h, p)) => {
                            (h.to_string(), p.parse().map_err(|_| bad("invalid port"))?)
                        }
                        None => (hostport.to_string(), 6379),
                    }
                };
                let host = if host.is_empty() {
                    "127.0.0.1".to_string()
                } else {
                    host
                };
                self.addr = Addr::Tcp { host, port, tls };
                let path = path.trim_end_matches('/');
                if !path.is_empty() {
                    self.db = path.parse().map_err(|_| bad("database must be a number"))?;
                }
            }
            "unix" | "redis+unix" => {
                if rest.is_empty() {
                    return Err(bad("missing socket path"));
                }
                self.addr = Addr::Unix(PathBuf::from(percent_decode(rest)?));
            }
            other => return Err(bad(&format!("unknown scheme {other:?}"))),
        }
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v)?;
            match k {
                "db" => self.db = v.parse().map_err(|_| bad("db must be a number"))?,
                "password" => self.password = Some(v),
                "user" | "username" => self.username = Some(v),
                "client_name" | "name" => self.client_name = Some(v),
                "protocol" | "resp" => {
                    self.protocol = match v.as_str() {
                        "2" | "resp2" => Protocol::Resp2,
                        "3" | "resp3" => Protocol::Resp3,
                        _ => return Err(bad("protocol must be 2 or 3")),
                    }
                }
                "insecure" => self.tls.insecure = v != "false" && v != "0",
                _ => return Err(bad(&format!("unknown parameter {k:?}"))),
            }
        }
        Ok(())
    }

    /// `host:port` or the socket path, for messages.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }
}

fn percent_decode(s: &str) -> Result<String, Error> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::Config(format!("bad percent-encoding in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::Config(format!("{s:?} is not UTF-8")))
}

/// Builds a `Config` step by step.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    config: Config,
}

/// Builder methods that each set one field of the `Config` to the value given (the
/// optional strings take anything that turns into a `String`).
macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty;)*) => {$(
        #[doc = concat!("Sets [`Config::", stringify!($field), "`].")]
        $(#[$doc])*
        pub fn $field(mut self, value: $ty) -> Self {
            self.config.$field = value;
            self
        }
    )*};
}

macro_rules! string_setters {
    ($($field:ident),*) => {$(
        #[doc = concat!("Sets [`Config::", stringify!($field), "`].")]
        pub fn $field(mut self, value: impl Into<String>) -> Self {
            self.config.$field = Some(value.into());
            self
        }
    )*};
}

impl ConfigBuilder {
    /// Applies a URL over the current settings.
    pub fn url(mut self, url: &str) -> Result<Self, Error> {
        self.config.apply_url(url)?;
        Ok(self)
    }
    /// A TCP host and port (no TLS).
    pub fn host(mut self, host: impl Into<String>, port: u16) -> Self {
        self.config.addr = Addr::Tcp {
            host: host.into(),
            port,
            tls: false,
        };
        self
    }
    /// Turns client-side caching on (RESP3): replies of reads are kept and served
    /// locally until the server says their keys changed.
    pub fn client_cache(mut self, options: crate::cache::CacheOptions) -> Self {
        self.config.client_cache = Some(options);
        self
    }

    /// See [`Config::max_pending`] (at least 1).
    pub fn max_pending(mut self, n: usize) -> Self {
        self.config.max_pending = n.max(1);
        self
    }

    string_setters!(username, password, client_name);

    setters! {
        addr: Addr;
        db: u32;
        protocol: Protocol;
        connect_timeout: Duration;
        command_timeout: Option<Duration>;
        attempt_delay: Duration;
        retry: RetryPolicy;
        retry_writes: bool;
        max_command_retries: u32;
        /// Injects the resolver (tests use `StaticResolver`).
        resolver: Arc<dyn Resolver>;
        tls: TlsOptions;
        readonly: bool;
        queue_while_reconnecting: bool;
    }

    pub fn build(self) -> Config {
        self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = Config::from_url("redis://alice:p%40ss@example.com:6380/3?protocol=2").unwrap();
        assert_eq!(
            c.addr,
            Addr::Tcp {
                host: "example.com".into(),
                port: 6380,
                tls: false
            }
        );
        assert_eq!(c.username.as_deref(), Some("alice"));
        assert_eq!(c.password.as_deref(), Some("p@ss"));
        assert_eq!(c.db, 3);
        assert_eq!(c.protocol, Protocol::Resp2);

        let c = Config::from_url("rediss://:pw@[::1]:7000").unwrap();
        assert_eq!(
            c.addr,
            Addr::Tcp {
                host: "::1".into(),
                port: 7000,
                tls: true
            }
        );
        assert_eq!(c.username, None);
        assert_eq!(c.password.as_deref(), Some("pw"));
        assert_eq!(c.target(), "[::1]:7000");

        let c = Config::from_url("redis://localhost").unwrap();
        assert_eq!(
            c.addr,
            Addr::Tcp {
                host: "localhost".into(),
                port: 6379,
                tls: false
            }
        );

        let c = Config::from_url("unix:///tmp/redis.sock?db=4").unwrap();
        assert_eq!(c.addr, Addr::Unix("/tmp/redis.sock".into()));
        assert_eq!(c.db, 4);

        assert!(Config::from_url("http://x").is_err());
        assert!(Config::from_url("redis://host:notaport").is_err());
        assert!(Config::from_url("redis://host/db").is_err());
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay(0), Duration::from_millis(20));
        assert_eq!(p.delay(1), Duration::from_millis(40));
        assert_eq!(p.delay(40), Duration::from_secs(2));
        let j = RetryPolicy::default();
        for n in 0..10 {
            let d = j.delay(n);
            let full = p.delay(n);
            assert!(d >= full / 2 && d <= full);
        }
    }
}
