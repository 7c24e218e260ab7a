//! Name resolution, injectable: production uses the system resolver; tests hand in a
//! `StaticResolver` that returns exactly the addresses (and order) a scenario needs, e.g.
//! `localhost` → `[::1, 127.0.0.1]`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use parking_lot_free::Mutex;

/// A boxed future returned by resolvers.
pub type ResolveFuture = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// Turns a host name into addresses. IP literals never reach the resolver.
pub trait Resolver: Send + Sync + fmt::Debug + 'static {
    fn resolve(&self, host: &str, port: u16) -> ResolveFuture;
}

/// The operating system's resolver (`getaddrinfo`, via tokio).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> ResolveFuture {
        let host = host.to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect();
            Ok(addrs)
        })
    }
}

/// A fixed table of host → addresses, in the order given. Unknown hosts fail like NXDOMAIN.
#[derive(Debug, Default, Clone)]
pub struct StaticResolver {
    table: Arc<Mutex<HashMap<String, Vec<IpAddr>>>>,
}

impl StaticResolver {
    pub fn new() -> StaticResolver {
        StaticResolver::default()
    }

    /// Sets the addresses `host` resolves to (replacing earlier ones).
    pub fn with(self, host: &str, addrs: impl IntoIterator<Item = IpAddr>) -> StaticResolver {
        self.set(host, addrs);
        self
    }

    pub fn set(&self, host: &str, addrs: impl IntoIterator<Item = IpAddr>) {
        self.table
            .lock()
            .insert(host.to_ascii_lowercase(), addrs.into_iter().collect());
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self, host: &str, port: u16) -> ResolveFuture {
        let found = self.table.lock().get(&host.to_ascii_lowercase()).cloned();
        let host = host.to_string();
        Box::pin(async move {
            match found {
                Some(ips) => Ok(ips
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect()),
                None => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "failed to lookup address information: {host}: Name or service not known"
                    ),
                )),
            }
        })
    }
}

/// RFC 8305 §4: interleave address families, starting with the family of the first
/// address the resolver returned.
pub fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut seen = std::collections::HashSet::new();
    let addrs: Vec<SocketAddr> = addrs.into_iter().filter(|a| seen.insert(*a)).collect();
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let first_v6 = first.is_ipv6();
    let (mut a, mut b): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.iter().partition(|x| x.is_ipv6() == first_v6);
    a.reverse();
    b.reverse();
    let mut out = Vec::with_capacity(addrs.len());
    loop {
        match (a.pop(), b.pop()) {
            (None, None) => break,
            (x, y) => {
                out.extend(x);
                out.extend(y);
            }
        }
    }
    out
}

/// The std Mutex under a parking_lot-like API (no poisoning to handle).
mod parking_lot_free {
    #[derive(Debug, Default)]
    pub struct Mutex<T>(std::sync::Mutex<T>);
    impl<T> Mutex<T> {
        pub fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|p| p.into_inner())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_families() {
        let a: Vec<SocketAddr> = [
            "[::1]:1",
            "[::2]:1",
            "127.0.0.1:1",
            "[::3]:1",
            "127.0.0.2:1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let got: Vec<String> = interleave(a).iter().map(|a| a.to_string()).collect();
        assert_eq!(
            got,
            [
                "[::1]:1",
                "127.0.0.1:1",
                "[::2]:1",
                "127.0.0.2:1",
                "[::3]:1"
            ]
        );
    }
}
