//! `lockstep doctor URL`: why can't I connect? It resolves the host and, for every address,
//! in resolver order, reports TCP connect, TLS, whether the peer speaks RESP, AUTH,
//! protected mode, the server's name and version and the round-trip latency; then what it
//! sees across addresses (seed 001: accepted then closed on one family while the other
//! works) and, for a cluster, its state and whether every advertised node answers from here.
//!
//! `diagnose` returns a `Report`; the command prints it (or its JSON) and exits 0 only when
//! every check passed. Doctor only reads: it sends PING, HELLO, AUTH, INFO, SELECT and
//! CLUSTER INFO/SHARDS/SLOTS/MYID, and never writes a key.

mod address;
mod cluster;
mod families;
mod report;
mod tls;
mod wire;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use lockstep::{Addr, Config, Resolver, StaticResolver, SystemResolver};
use serde_json::json;

pub use report::{Check, Report, Status};

/// How to examine a URL.
#[derive(Clone, Debug)]
pub struct Options {
    /// `redis://[user[:password]@]host[:port][/db]`, `rediss://...`, or `host:port`.
    pub url: String,
    /// Bound on each step (connect, handshake, one reply).
    pub timeout: Duration,
    /// Turns the host into addresses; tests inject one where `localhost` is `::1` first.
    pub resolver: Arc<dyn Resolver>,
}

impl Options {
    pub fn new(url: impl Into<String>) -> Options {
        Options {
            url: url.into(),
            timeout: Duration::from_secs(3),
            resolver: Arc::new(SystemResolver),
        }
    }

    pub fn timeout(mut self, timeout: Duration) -> Options {
        self.timeout = timeout;
        self
    }

    pub fn resolver(mut self, resolver: Arc<dyn Resolver>) -> Options {
        self.resolver = resolver;
        self
    }
}

/// What the URL says to connect to.
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub insecure: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: u32,
}

fn parse_target(url: &str) -> Result<Target, String> {
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!("redis://{url}")
    };
    let config = Config::from_url(&url).map_err(|e| e.to_string())?;
    match config.addr {
        Addr::Tcp { host, port, tls } => Ok(Target {
            host,
            port,
            tls,
            insecure: config.tls.insecure,
            username: config.username,
            password: config.password,
            db: config.db,
        }),
        Addr::Unix(path) => Err(format!(
            "{} is a Unix socket; doctor examines TCP addresses only",
            path.display()
        )),
    }
}

/// The URL with its password hidden.
fn redacted(url: &str, target: Option<&Target>) -> String {
    match target.and_then(|t| t.password.as_deref()) {
        Some(pass) if !pass.is_empty() => url.replace(pass, "***"),
        _ => url.to_string(),
    }
}

/// Runs every check and returns what it found.
pub async fn diagnose(opts: &Options) -> Report {
    let target = match parse_target(&opts.url) {
        Ok(t) => t,
        Err(e) => {
            return Report {
                url: redacted(&opts.url, None),
                host: String::new(),
                port: 0,
                checks: vec![Check::fail(
                    "url",
                    "bad_url",
                    e,
                    "give redis://[user:password@]host[:port][/db], rediss://... for TLS, or \
                     host:port",
                )],
            };
        }
    };
    let mut report = Report {
        url: redacted(&opts.url, Some(&target)),
        host: target.host.clone(),
        port: target.port,
        checks: Vec::new(),
    };

    // DNS.
    let addrs = match resolve(&target, opts).await {
        Ok((addrs, check)) => {
            report.checks.push(check);
            addrs
        }
        Err(check) => {
            report.checks.push(check);
            return report;
        }
    };

    // Every address, in the resolver's order.
    let mut outcomes = Vec::new();
    for addr in &addrs {
        let (checks, outcome) = address::examine(*addr, &target, opts.timeout).await;
        report.checks.extend(checks);
        outcomes.push((*addr, outcome));
    }

    // Across addresses.
    if let Some(check) = families::compare(&target.host, &outcomes) {
        report.checks.push(check);
    }

    // The cluster, through the first address that answered.
    let ready = outcomes.iter_mut().find_map(|(addr, o)| match o {
        address::Outcome::Ready(conn, facts) => Some((*addr, conn, facts.cluster_enabled)),
        address::Outcome::Failed { .. } => None,
    });
    if let Some((addr, conn, cluster_enabled)) = ready {
        if cluster_enabled {
            report.checks.extend(
                cluster::examine(conn, addr, &target, opts.resolver.clone(), opts.timeout).await,
            );
        } else {
            report.checks.push(Check::pass(
                "cluster",
                "standalone",
                "not a cluster (cluster_enabled:0)",
            ));
        }
    }
    report
}

async fn resolve(target: &Target, opts: &Options) -> Result<(Vec<SocketAddr>, Check), Check> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        let addr = SocketAddr::new(ip, target.port);
        let check = Check::pass(
            "dns",
            "literal",
            format!("{ip} is an IP address, no lookup"),
        )
        .with_data(json!({ "addrs": [addr.to_string()] }));
        return Ok((vec![addr], check));
    }
    let looked_up = tokio::time::timeout(
        opts.timeout,
        opts.resolver.resolve(&target.host, target.port),
    )
    .await;
    let addrs = match looked_up {
        Err(_) => {
            return Err(Check::fail(
                "dns",
                "timeout",
                format!(
                    "no answer for {} within {}",
                    target.host,
                    address::ms(opts.timeout)
                ),
                "check the DNS servers this machine uses (/etc/resolv.conf)",
            ))
        }
        Ok(Err(e)) => {
            return Err(Check::fail(
                "dns",
                "lookup_failed",
                format!("cannot resolve {}: {e}", target.host),
                "check the host name; a name that exists only inside a container network (a \
                 Docker Compose service name) does not resolve outside it",
            ))
        }
        Ok(Ok(addrs)) => addrs,
    };
    let mut unique: Vec<SocketAddr> = Vec::new();
    for a in addrs {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(Check::fail(
            "dns",
            "no_addresses",
            format!("{} resolves to no address", target.host),
            "check the host name",
        ));
    }
    let ips: Vec<String> = unique.iter().map(|a| a.ip().to_string()).collect();
    let order = if unique.len() > 1 {
        " (tried in this order, as most clients do)"
    } else {
        ""
    };
    let check = Check::pass(
        "dns",
        "ok",
        format!("{} resolves to {}{order}", target.host, ips.join(", ")),
    )
    .with_data(json!({ "addrs": unique.iter().map(|a| a.to_string()).collect::<Vec<_>>() }));
    Ok((unique, check))
}

/// `lockstep doctor`'s command line.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    lockstep doctor redis://localhost:6379\n  \
    lockstep doctor rediss://:PASSWORD@cache.example.com:6380 --json\n  \
    lockstep doctor localhost:7000 --resolve localhost=::1,127.0.0.1\n\n\
    Exit code 0 only when every check passed.")]
pub struct DoctorArgs {
    /// redis://[user[:password]@]host[:port][/db], rediss://... (TLS), or host:port.
    pub url: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Bound on each step: connect, handshake, one reply (e.g. 500ms, 3s).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Make HOST resolve to these addresses, in this order, instead of asking the system:
    /// HOST=ADDR[,ADDR...] (repeatable).
    #[arg(long, value_name = "HOST=ADDRS")]
    pub resolve: Vec<String>,
}

/// Parses `250ms`, `3s`, `1.5s`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 500ms, 3s)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 3600.0 {
        return Err(format!("duration {s:?} out of range (0 to 1 hour)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn static_resolver(entries: &[String]) -> Result<StaticResolver, String> {
    let resolver = StaticResolver::new();
    for entry in entries {
        let (host, list) = entry
            .split_once('=')
            .ok_or_else(|| format!("--resolve {entry:?}: expected HOST=ADDR[,ADDR...]"))?;
        let ips = list
            .split(',')
            .map(|a| {
                a.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .map_err(|_| format!("--resolve {entry:?}: {a:?} is not an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        resolver.set(host, ips);
    }
    Ok(resolver)
}

/// Runs `lockstep doctor` and prints its report.
pub async fn run(args: DoctorArgs) -> ExitCode {
    let mut opts = Options::new(args.url).timeout(args.timeout);
    if !args.resolve.is_empty() {
        match static_resolver(&args.resolve) {
            Ok(r) => opts = opts.resolver(Arc::new(r)),
            Err(e) => {
                eprintln!("lockstep doctor: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let report = diagnose(&opts).await;
    if args.json {
        match serde_json::to_string_pretty(&report.to_json()) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("lockstep doctor: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", report.render());
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn urls_without_a_scheme_are_redis_urls() {
        let t = parse_target("localhost:7000").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("localhost", 7000, false));
        let t = parse_target("rediss://u:p@h:6380/2?insecure=true").unwrap();
        assert!(t.tls && t.insecure);
        assert_eq!(t.password.as_deref(), Some("p"));
        assert_eq!(t.db, 2);
        assert!(parse_target("unix:///tmp/redis.sock").is_err());
    }

    #[test]
    fn passwords_are_hidden_in_the_report() {
        let t = parse_target("redis://:s3cret@h:1").unwrap();
        assert_eq!(
            redacted("redis://:s3cret@h:1", Some(&t)),
            "redis://:***@h:1"
        );
    }

    #[test]
    fn resolve_option_reads_host_and_addresses_in_order() {
        let r = static_resolver(&["localhost=::1,127.0.0.1".into()]).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = rt.block_on(r.resolve("localhost", 1)).unwrap();
        assert_eq!(
            got.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            ["[::1]:1", "127.0.0.1:1"]
        );
        assert!(static_resolver(&["nohost".into()]).is_err());
        assert!(static_resolver(&["h=not-an-ip".into()]).is_err());
    }
}
