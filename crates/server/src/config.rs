//! Server settings: how the server is started (`ServerConfig`) and the runtime settings
//! that CONFIG GET/SET read and change (`Config`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How to start a server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Addresses to listen on. Empty means 127.0.0.1 and ::1 (both loopback families, so
    /// that `localhost` works whichever one a client resolves it to).
    pub bind: Vec<IpAddr>,
    /// 0 picks a free port (the same one on every address).
    pub port: u16,
    pub requirepass: Option<String>,
    /// Print the ready line and install SIGINT/SIGTERM handlers (the CLI does; tests don't).
    pub announce: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: Vec::new(),
            port: 6379,
            requirepass: None,
            announce: false,
        }
    }
}

impl ServerConfig {
    /// A server for tests: loopback, a free port.
    pub fn ephemeral() -> ServerConfig {
        ServerConfig {
            port: 0,
            ..ServerConfig::default()
        }
    }

    pub fn bind_addrs(&self) -> Vec<IpAddr> {
        if self.bind.is_empty() {
            vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]
        } else {
            self.bind.clone()
        }
    }
}

/// Runtime settings, read and changed by CONFIG GET/SET.
#[derive(Clone, Debug)]
pub struct Config {
    pub requirepass: Option<Vec<u8>>,
    pub databases: usize,
    pub proto_max_bulk_len: u64,
    /// Active expiry cycles per second.
    pub hz: u32,
    pub maxclients: u64,
    /// Idle seconds before a client is closed (0: never).
    pub timeout: u64,
    pub port: u16,
    pub bind: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            requirepass: None,
            databases: 16,
            proto_max_bulk_len: lockstep_resp::request::DEFAULT_MAX_BULK_LEN,
            hz: 10,
            maxclients: 10000,
            timeout: 0,
            port: 6379,
            bind: vec!["127.0.0.1".into(), "-::1".into()],
        }
    }
}
