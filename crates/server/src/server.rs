//! Starting and stopping a server: the listeners, the accept loops, the active expiry task,
//! and the handles that tests and the CLI hold.
//!
//! Binding failures are values (`StartError`) with Redis's wording, never panics.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, ServerConfig};
use crate::shared::Shared;
use crate::state::{unix_millis, State};

/// Why a server could not start.
#[derive(Debug)]
pub struct StartError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Could not create server TCP listening socket {}: bind: {}",
            self.addr,
            describe_io_error(&self.source)
        )
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn describe_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => "Address already in use".into(),
        std::io::ErrorKind::AddrNotAvailable => "Cannot assign requested address".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// The address accessors of `Server` and `EmbeddedServer`: both keep the addresses they
/// listen on in `addrs`, in the order of the `bind` setting.
macro_rules! listening_addrs {
    () => {
        /// The first address listened on (127.0.0.1 by default).
        pub fn addr(&self) -> SocketAddr {
            self.addrs[0]
        }

        /// Every address listened on.
        pub fn addrs(&self) -> &[SocketAddr] {
            &self.addrs
        }

        /// The first address's port.
        pub fn port(&self) -> u16 {
            self.addr().port()
        }
    };
}

/// A running server inside a tokio runtime.
pub struct Server {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Server {
    /// Binds every address and starts serving. With the default bind list, `::1` is
    /// optional (hosts without IPv6 still start); addresses given explicitly must all bind.
    pub async fn start(config: ServerConfig) -> Result<Server, StartError> {
        let listeners = bind_all(&config)?;
        Ok(Server::serve(config, listeners, None))
    }

    /// Starts serving on `listeners`, already bound (by `bind_all`), as a node of a
    /// cluster when `cluster` is given. Must be called inside a tokio runtime.
    pub(crate) fn serve(
        config: ServerConfig,
        listeners: Vec<TcpListener>,
        cluster: Option<crate::cluster::ClusterState>,
    ) -> Server {
        let addrs: Vec<SocketAddr> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let (shutdown, _) = watch::channel(false);
        let runtime_config = Config {
            requirepass: config.requirepass.as_ref().map(|p| p.as_bytes().to_vec()),
            port: addrs.first().map_or(config.port, |a| a.port()),
            bind: config.bind_addrs().iter().map(|a| a.to_string()).collect(),
            ..config.settings.clone()
        };
        let mut state = State::new(runtime_config, shutdown.clone());
        // As Redis: a file that cannot be loaded ends the process, with what and where.
        // With `appendonly yes` the AOF is the data set and the RDB file is not read.
        let loaded = if crate::aof::configured(&state) {
            crate::aof::start(&mut state, unix_millis())
        } else {
            crate::rdb::file::load_at_startup(&mut state, unix_millis())
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        if let Err(e) = loaded {
            eprintln!("{e}");
            std::process::exit(1);
        }
        state.listening = addrs.clone();
        if let Some(cluster) = cluster {
            crate::cluster::install(&mut state, cluster);
        }
        state.log_deletions();
        let shared = Arc::new(Shared::new(state));
        let mut tasks = JoinSet::new();
        for listener in listeners {
            tasks.spawn(accept_loop(shared.clone(), listener, shutdown.subscribe()));
        }
        tasks.spawn(active_expire_loop(shared.clone(), shutdown.subscribe()));
        crate::replication_wire::start(&shared, shutdown.subscribe());
        tasks.spawn(crate::aof::fsync_loop(shared.clone(), shutdown.subscribe()));
        tasks.spawn(crate::evict::memory_cron(
            shared.clone(),
            shutdown.subscribe(),
        ));
        Server {
            shared,
            addrs,
            shutdown,
            tasks,
        }
    }

    listening_addrs!();

    /// Waits until the server is asked to stop (SHUTDOWN, or `stop`).
    pub async fn stopped(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Stops accepting, closes every connection and waits for the tasks to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }

    /// A sender that stops the server when `true` is sent (for signal handlers).
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }

    /// Number of connected clients.
    pub fn client_count(&self) -> usize {
        self.shared.state.lock().clients.len()
    }

    /// What the server's tasks share (its state under the lock).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

pub(crate) fn bind_all(config: &ServerConfig) -> Result<Vec<TcpListener>, StartError> {
    let optional_v6 = config.bind.is_empty();
    let mut port = config.port;
    let mut listeners = Vec::new();
    for ip in config.bind_addrs() {
        let addr = SocketAddr::new(ip, port);
        match bind(addr) {
            Ok(listener) => {
                if port == 0 {
                    port = listener.local_addr().map_or(0, |a| a.port());
                }
                listeners.push(listener);
            }
            Err(e)
                if optional_v6
                    && matches!(ip, IpAddr::V6(_))
                    && e.kind() != std::io::ErrorKind::AddrInUse =>
            {
                tracing::warn!(%addr, error = %e, "skipping optional IPv6 loopback");
            }
            Err(source) => return Err(StartError { addr, source }),
        }
    }
    Ok(listeners)
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None)?;
        // Listen on IPv6 only, so that [::] and 0.0.0.0 can both be bound.
        s.set_only_v6(true)?;
        s.set_nonblocking(true)?;
        TcpSocket::from_std_stream(s.into())
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(511)
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let laddr = match listener.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    conns.spawn(crate::conn::serve(
                        shared.clone(),
                        stream,
                        addr,
                        laddr,
                        shutdown.clone(),
                    ));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    // A script still running would hold the state (and this stop) forever.
    shared.script_run.stop();
    // Connections wait on their own wake-up alone (see `conn::Signals`): this is how they
    // hear of the stop. One registered after this sees the stop when it starts.
    for entry in shared.lock().await.clients.values() {
        entry.wake.notify_one();
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// Redis's active expiry: `hz` times a second, sample keys with a TTL in every database,
/// spending at most a quarter of the period.
async fn active_expire_loop(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    // Where the next cycle starts, so that a busy database cannot starve the ones after it
    // (Redis keeps the same `current_db` between cycles).
    let mut next_db = 0;
    loop {
        let hz = shared.lock().await.config.hz.clamp(1, 500);
        let period = Duration::from_millis(1000 / hz as u64);
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
        let deadline = Instant::now() + period / 4;
        let databases = {
            let mut state = shared.lock().await;
            // The persistence part of Redis's serverCron: a finished BGSAVE, save rules.
            crate::rdb::file::cron(&mut state, unix_millis());
            crate::aof::cron(&mut state, unix_millis());
            // Pub/sub backlogs grow from other clients' PUBLISH: Redis's clientsCron
            // looks at every client's memory.
            if state.client_limit.get() != 0 {
                crate::client_eviction::evict(&mut state);
            }
            state.dbs.len()
        };
        // One acquisition per database, so that clients wait at most one database's slice
        // (a millisecond or so), not the whole cycle's.
        for step in 0..databases {
            let i = (next_db + step) % databases;
            next_db = (i + 1) % databases;
            let mut state = shared.lock().await;
            let now = unix_millis();
            if i < state.dbs.len() && !crate::replication_wire::is_replica(&state) {
                state.db(i, now).active_expire(deadline);
            }
            // The keys it deleted go to the AOF and the replicas as DEL.
            crate::propagate::server_deletions(&mut state, now);
            // `expired` events of the keys the cycle deleted.
            if state.mods.has_events() {
                crate::pubsub::publish_events(&mut state, None);
            }
            if state.mods.has_keys() || state.mods.has_flush() {
                crate::dispatch::writes_done(&mut state, None);
                crate::tracking::broadcast(&mut state, None);
            }
            drop(state);
            if Instant::now() >= deadline {
                break;
            }
        }
    }
}

/// A server on its own thread and runtime, for tests and tools that are not async.
/// Dropping it stops the server.
pub struct EmbeddedServer {
    addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedServer {
    pub fn start(config: ServerConfig) -> Result<EmbeddedServer, StartError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lockstep-server".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(source) => {
                        let addr = SocketAddr::from(([127, 0, 0, 1], config.port));
                        let _ = tx.send(Err(StartError { addr, source }));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Server::start(config).await {
                        Ok(server) => {
                            let _ =
                                tx.send(Ok((server.addrs().to_vec(), server.shutdown_handle())));
                            server.stopped().await;
                            server.stop().await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|source| StartError {
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                source,
            })?;
        let (addrs, shutdown) = rx.recv().map_err(|_| StartError {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            source: std::io::Error::other("server thread ended before it started"),
        })??;
        Ok(EmbeddedServer {
            addrs,
            shutdown,
            thread: Some(thread),
        })
    }

    listening_addrs!();

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}
