//! The `lockstep` command: `server`, `cluster` (and, as their issues land, `stress`,
//! `doctor`). Errors are one clear line and exit code 1; nothing here panics on bad input.

mod stress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lockstep_server::config::file;
use lockstep_server::{Cluster, ClusterConfig, Server, ServerConfig};

/// jemalloc, counted, as Redis runs on it: INFO memory's `used_memory` and `maxmemory`
/// read the count, MEMORY STATS and MALLOC-STATS read jemalloc.
#[global_allocator]
static ALLOCATOR: lockstep_server::alloc::Allocator = lockstep_server::alloc::ALLOCATOR;

#[derive(Parser)]
#[command(
    name = "lockstep",
    version,
    about = "A Redis toolkit: server, client tools."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Redis-compatible server (127.0.0.1 and ::1 by default).
    Server(ServerArgs),
    /// Run a Redis Cluster of primaries in this process, one port per node.
    Cluster(ClusterArgs),
    /// Load and race workloads (seed 004) and chaos, with thresholds; embedded cluster by default.
    Stress(stress::StressArgs),
    /// Diagnose a connection: DNS, TCP, TLS, RESP, AUTH, protected mode, cluster addresses.
    Doctor(lockstep_cli::doctor::DoctorArgs),
}

/// `lockstep cluster`: N primaries on consecutive ports, slots split as `redis-cli
/// --cluster create` splits them, ready for `redis-cli -c` and any cluster client.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    lockstep cluster --nodes 3 --port 7000\n  \
    redis-cli -c -p 7000 set foo bar\n  \
    lockstep cluster --nodes 3 --replicas 1 --node-timeout 2000 --fault-injection\n  \
    redis-cli -p 7000 lockstep.fault partition 1 10000\n\n\
    One line is printed once cluster_state:ok holds on every node; SIGINT or SIGTERM stops \
    the cluster.\n\n\
    Fault injection (--fault-injection; refused otherwise): send to any node\n  \
    LOCKSTEP.FAULT STOP <node>                         stop it: port refuses, connections reset\n  \
    LOCKSTEP.FAULT RESTART <node>                      start it again with its data\n  \
    LOCKSTEP.FAULT PAUSE <node> <ms>                   it reads but answers nothing for <ms>\n  \
    LOCKSTEP.FAULT LATENCY <node> <delay-ms> <ms>      its replies come <delay-ms> late\n  \
    LOCKSTEP.FAULT PARTITION <node> <ms>               cut it off from the other nodes\n  \
    LOCKSTEP.FAULT HEAL <node>                         end its partition now\n  \
    LOCKSTEP.FAULT DROP <node>                         close its client connections\n  \
    LOCKSTEP.FAULT FAILOVER <node> [FORCE|TAKEOVER]    CLUSTER FAILOVER on a replica\n  \
    LOCKSTEP.FAULT MIGRATE <from> <to> <first> <last>  move a slot range and its keys\n  \
    LOCKSTEP.FAULT LOG                                 every fault injected, with its time\n  \
    LOCKSTEP.FAULT HELP\n\
    <node> is an index (the order of the ready line), a node id or host:port. The reply \
    comes once the fault is in place. A partitioned node is failed by the others after \
    --node-timeout (its replica promoted) and answers CLUSTERDOWN itself; healed, it \
    rejoins as a replica.")]
struct ClusterArgs {
    /// How many primaries.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Replicas of each primary (on the ports after the primaries').
    #[arg(long, default_value_t = 0)]
    replicas: usize,
    /// cluster-node-timeout in ms: a node silent that long is failed, its replica promoted.
    #[arg(long, default_value_t = 15000)]
    node_timeout: u64,
    /// The first node's port; the others take the next ones. 0 picks free ports.
    #[arg(long, default_value_t = 7000)]
    port: u16,
    /// An address to listen on (repeatable; default 127.0.0.1 and ::1).
    #[arg(long)]
    bind: Vec<std::net::IpAddr>,
    /// The password every node asks for.
    #[arg(long)]
    requirepass: Option<String>,
    /// Accept LOCKSTEP.FAULT on every node (stop, restart, pause, latency, partition,
    /// drop, failover, migrate; see below).
    #[arg(long)]
    fault_injection: bool,
}

/// redis-server's command line: an optional config file, then `--name value [value...]` for
/// any parameter, appended to the file's lines so that the command line wins.
#[derive(clap::Args)]
#[command(
    override_usage = "lockstep server [CONFIG_FILE] [--NAME VALUE [VALUE...]]...",
    after_help = "Examples:\n  \
    lockstep server --port 7001 --save \"\" --maxmemory 100mb\n  \
    lockstep server /etc/redis/redis.conf --bind 127.0.0.1 ::1 --requirepass secret\n\n\
    Any parameter CONFIG GET knows can be given, immutable ones (databases, port, bind) \
    included. Repeated --bind options add up. The default bind is 127.0.0.1 and ::1."
)]
struct ServerArgs {
    /// A config file (redis.conf format), then `--name value [value...]` options.
    #[arg(
        value_name = "ARG",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOCKSTEP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Every command runs under one lock, so extra workers only add hand-offs between
    // threads; with a single CPU to run on, one worker does the same work for less. It is
    // still a multi-threaded runtime: a long script hands its worker's other tasks to
    // another thread (`block_in_place`), so that other clients are answered `-BUSY`.
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if one_cpu {
        builder.worker_threads(1);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lockstep: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Server(args) => runtime.block_on(run_server(args)),
        Command::Cluster(args) => runtime.block_on(run_cluster(args)),
        Command::Stress(args) => runtime.block_on(stress::run(args)),
        Command::Doctor(args) => runtime.block_on(lockstep_cli::doctor::run(args)),
    }
}

async fn run_cluster(args: ClusterArgs) -> ExitCode {
    let started = std::time::Instant::now();
    let config = ClusterConfig {
        primaries: args.nodes,
        replicas: args.replicas,
        node_timeout: std::time::Duration::from_millis(args.node_timeout),
        port: args.port,
        bind: args.bind,
        requirepass: args.requirepass,
        fault_injection: args.fault_injection,
        ..ClusterConfig::ephemeral(args.nodes)
    };
    let cluster = match Cluster::start(config).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lockstep cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    let signal = stop_signal();
    while !cluster.is_ok().await {
        tokio::task::yield_now().await;
    }
    let nodes: Vec<String> = cluster.addrs().iter().map(|a| a.to_string()).collect();
    println!(
        "lockstep cluster ready in {:.1} ms: {} primaries, {} replicas at {} (cluster_state:ok on every node)",
        started.elapsed().as_secs_f64() * 1000.0,
        args.nodes,
        nodes.len() - args.nodes.min(nodes.len()),
        nodes.join(" ")
    );
    // A signal, or every node shut down (SHUTDOWN on each); nodes that a fault stopped
    // or restarted count as they are then.
    tokio::select! {
        _ = signal => {}
        _ = cluster.stopped() => {}
    }
    cluster.stop().await;
    ExitCode::SUCCESS
}

async fn run_server(args: ServerArgs) -> ExitCode {
    // Everything is checked before anything binds: a bad parameter never opens a port.
    let config = match server_config(&args.args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("lockstep server: {message}");
            return ExitCode::FAILURE;
        }
    };
    let server = match Server::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lockstep server: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Handlers go in before the ready line: a signal sent the moment a supervisor (or a
    // test) reads that line must stop the server cleanly, not kill it with the default action.
    let signal = stop_signal();
    let addrs: Vec<String> = server.addrs().iter().map(|a| a.to_string()).collect();
    println!("lockstep server ready, listening on {}", addrs.join(" "));
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        signal.await;
        let _ = stop.send(true);
    });
    server.stopped().await;
    server.stop().await;
    ExitCode::SUCCESS
}

/// Reads the config file named first (as redis-server does, when the first argument does not
/// start with `-`) and the options after it into the settings to start with.
fn server_config(args: &[String]) -> Result<ServerConfig, String> {
    let (contents, options) = match args.split_first() {
        Some((path, options)) if !path.starts_with('-') => {
            let contents = std::fs::read(path)
                .map_err(|e| format!("Fatal error, can't open config file '{path}': {e}"))?;
            (contents, options)
        }
        _ => (Vec::new(), args),
    };
    let settings =
        file::load(&contents, &file::command_line(options)).map_err(|e| e.to_string())?;
    Ok(ServerConfig {
        announce: true,
        ..ServerConfig::with_settings(settings)
    })
}

/// A future that completes on SIGINT or SIGTERM. The handlers are registered when this is
/// called, not when the future is first polled.
#[cfg(unix)]
fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        match handlers {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(not(unix))]
fn stop_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
