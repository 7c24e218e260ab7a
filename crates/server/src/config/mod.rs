//! Server settings: how the server is started (`ServerConfig`) and the runtime settings
//! that CONFIG GET/SET read and change (`Config`), with the table of every parameter Redis
//! 7.0 has (`PARAMS`), so that tools reading any of them get Redis's answer.
//!
//! A parameter is one of: honoured (a typed field of `Config` that the server acts on),
//! kept (validated like Redis and stored, so CONFIG GET returns what was set, but nothing
//! acts on it yet), or refused (immutable, protected, or a setting that would promise
//! something this server does not do, such as persistence).

pub mod file;

use std::collections::HashMap;
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
    /// Every other setting the server starts with (as `file::load` reads them from a config
    /// file and the command line). Its `port`, `bind` and `requirepass` are not read: the
    /// fields above say where to listen and which password to ask for (`with_settings`
    /// copies them over).
    pub settings: Config,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: Vec::new(),
            port: 6379,
            requirepass: None,
            announce: false,
            settings: Config::default(),
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

    /// A server that listens where `settings` say (`port`, and `bind` if it was set; the
    /// loopback default otherwise) and asks for their `requirepass`.
    pub fn with_settings(settings: Config) -> ServerConfig {
        let bind = if settings.bind == Config::default().bind {
            Vec::new()
        } else {
            // Every word passed `bind_address` when it was set.
            settings
                .bind
                .iter()
                .filter_map(|word| bind_address(word))
                .collect()
        };
        ServerConfig {
            bind,
            port: settings.port,
            requirepass: settings
                .requirepass
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            announce: false,
            settings,
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
    /// The encoding limits the value types read on every write, typed so that HSET, SADD
    /// and ZADD read a field (Redis reads `server.hash_max_listpack_entries` and so on).
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    /// Not read yet: 7.0 lists are always quicklists (see `types::list`).
    pub list_max_listpack_size: i64,
    /// The slow log and the latency monitor read these after every command (`diagnostics`),
    /// so they are typed: microseconds (negative: off), entries kept, milliseconds (0: off).
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    pub latency_monitor_threshold: u64,
    /// Per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM).
    pub latency_tracking: bool,
    /// The percentiles INFO latencystats prints, in the order given.
    pub latency_tracking_info_percentiles: Vec<f64>,
    /// Kept parameters that were set, by storage name (an alias shares its target's).
    pub kept: HashMap<&'static str, String>,
    /// What SAVE/BGSAVE were asked to do (they write no file), for INFO persistence.
    pub saves: SaveRecord,
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
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
            list_max_listpack_size: -2,
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            latency_tracking: true,
            latency_tracking_info_percentiles: vec![50.0, 99.0, 99.9],
            kept: HashMap::new(),
            saves: SaveRecord::default(),
        }
    }
}

/// SAVE and BGSAVE as INFO persistence reports them. This server keeps no files: a save
/// only records that it was asked for and what the keyspace had changed until then.
#[derive(Clone, Copy, Debug, Default)]
pub struct SaveRecord {
    /// SAVE and BGSAVE calls.
    pub saves: u64,
    /// `State::dirty` at the last save (`rdb_changes_since_last_save` counts from it).
    pub dirty_at_last_save: u64,
    /// Unix time of the last BGSAVE, if any.
    pub last_bgsave: Option<i64>,
}

/// How a parameter's value is checked and shown, as Redis 7.0's config.c types it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `yes`/`no`.
    Bool,
    /// One of these names, in any letter case; shown as written here.
    Enum(&'static [&'static str]),
    /// A decimal integer (`string2ll`) within the bounds.
    Int { min: i128, max: i128 },
    /// Bytes, with an optional unit (`1kb`, `5m`, ...), within the bounds.
    Memory { min: i128, max: i128 },
    /// Bytes or a percentage (`maxmemory-clients`).
    MemoryOrPercent,
    /// Any string.
    Str,
    /// `save`: pairs of integers, or "".
    Save,
    /// `notify-keyspace-events`: event class characters.
    KeyspaceEvents,
    /// Redis refuses CONFIG SET for these.
    Immutable,
    /// Redis refuses these while `enable-protected-configs` is `no` (its default).
    Protected,
    /// Redis can change these at run time; this server cannot (`port`, `bind`).
    ReadOnly,
    /// Settings with a syntax of their own that nothing here uses.
    Unsupported,
}

/// One parameter: its name, where its value lives (an alias names its target), its
/// kind and Redis's default.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub storage: &'static str,
    pub kind: Kind,
    pub default: &'static str,
}

const fn param(name: &'static str, kind: Kind, default: &'static str) -> Param {
    Param {
        name,
        storage: name,
        kind,
        default,
    }
}

/// Every parameter CONFIG GET knows, aliases included, with Redis 7.0.15's defaults for a
/// server started without a config file (`save ""` and `appendonly no`, since this server
/// keeps no files; `enable-debug-command local`, since DEBUG works from loopback clients).
pub static PARAMS: &[Param] = &[
    param(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
    ),
    param("aclfile", Kind::Immutable, ""),
    param(
        "acllog-max-len",
        Kind::Int {
            min: 0,
            max: 9223372036854775807,
        },
        "128",
    ),
    param(
        "active-defrag-cycle-max",
        Kind::Int { min: 1, max: 99 },
        "25",
    ),
    param(
        "active-defrag-cycle-min",
        Kind::Int { min: 1, max: 99 },
        "1",
    ),
    param(
        "active-defrag-ignore-bytes",
        Kind::Memory {
            min: 1,
            max: 9223372036854775807,
        },
        "104857600",
    ),
    param(
        "active-defrag-max-scan-fields",
        Kind::Int {
            min: 1,
            max: 9223372036854775807,
        },
        "1000",
    ),
    param(
        "active-defrag-threshold-lower",
        Kind::Int { min: 0, max: 1000 },
        "10",
    ),
    param(
        "active-defrag-threshold-upper",
        Kind::Int { min: 0, max: 1000 },
        "100",
    ),
    param("active-expire-effort", Kind::Int { min: 1, max: 10 }, "1"),
    param("activedefrag", Kind::Bool, "no"),
    param("activerehashing", Kind::Bool, "yes"),
    param("always-show-logo", Kind::Immutable, "no"),
    param("aof-disable-auto-gc", Kind::Bool, "no"),
    param("aof-load-truncated", Kind::Bool, "yes"),
    param("aof-rewrite-incremental-fsync", Kind::Bool, "yes"),
    param("aof-timestamp-enabled", Kind::Bool, "no"),
    param("aof-use-rdb-preamble", Kind::Bool, "yes"),
    param("aof_rewrite_cpulist", Kind::Immutable, ""),
    param("appenddirname", Kind::Immutable, "appendonlydir"),
    param("appendfilename", Kind::Immutable, "appendonly.aof"),
    param(
        "appendfsync",
        Kind::Enum(&["everysec", "always", "no"]),
        "everysec",
    ),
    param("appendonly", Kind::Bool, "no"),
    param(
        "auto-aof-rewrite-min-size",
        Kind::Memory {
            min: 0,
            max: 9223372036854775807,
        },
        "67108864",
    ),
    param(
        "auto-aof-rewrite-percentage",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "100",
    ),
    param("bgsave_cpulist", Kind::Immutable, ""),
    param("bind", Kind::ReadOnly, "* -::*"),
    param("bind-source-addr", Kind::Str, ""),
    param("bio_cpulist", Kind::Immutable, ""),
    param(
        "busy-reply-threshold",
        Kind::Int {
            min: 0,
            max: 9223372036854775807,
        },
        "5000",
    ),
    param(
        "client-output-buffer-limit",
        Kind::Unsupported,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    param(
        "client-query-buffer-limit",
        Kind::Memory {
            min: 1048576,
            max: 9223372036854775807,
        },
        "1073741824",
    ),
    param("cluster-allow-pubsubshard-when-down", Kind::Bool, "yes"),
    param("cluster-allow-reads-when-down", Kind::Bool, "no"),
    param("cluster-allow-replica-migration", Kind::Bool, "yes"),
    param(
        "cluster-announce-bus-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
    ),
    param("cluster-announce-hostname", Kind::Unsupported, ""),
    param("cluster-announce-ip", Kind::Str, ""),
    param(
        "cluster-announce-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
    ),
    param(
        "cluster-announce-tls-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
    ),
    param("cluster-config-file", Kind::Immutable, "nodes.conf"),
    param("cluster-enabled", Kind::Immutable, "no"),
    param(
        "cluster-link-sendbuf-limit",
        Kind::Memory {
            min: 0,
            max: u64::MAX as i128,
        },
        "0",
    ),
    param(
        "cluster-migration-barrier",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "1",
    ),
    param(
        "cluster-node-timeout",
        Kind::Int {
            min: 0,
            max: 9223372036854775807,
        },
        "15000",
    ),
    param("cluster-port", Kind::Immutable, "0"),
    param(
        "cluster-preferred-endpoint-type",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
    ),
    param("cluster-replica-no-failover", Kind::Bool, "no"),
    param(
        "cluster-replica-validity-factor",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "10",
    ),
    param("cluster-require-full-coverage", Kind::Bool, "yes"),
    Param {
        storage: "cluster-replica-no-failover",
        ..param("cluster-slave-no-failover", Kind::Bool, "no")
    },
    Param {
        storage: "cluster-replica-validity-factor",
        ..param(
            "cluster-slave-validity-factor",
            Kind::Int {
                min: 0,
                max: 2147483647,
            },
            "10",
        )
    },
    param("crash-log-enabled", Kind::Bool, "yes"),
    param("crash-memcheck-enabled", Kind::Bool, "yes"),
    param("daemonize", Kind::Immutable, "no"),
    param("databases", Kind::Immutable, "16"),
    param("dbfilename", Kind::Protected, "dump.rdb"),
    param("dir", Kind::Protected, ""),
    param("disable-thp", Kind::Immutable, "yes"),
    param("dynamic-hz", Kind::Bool, "yes"),
    param("enable-debug-command", Kind::Immutable, "local"),
    param("enable-module-command", Kind::Immutable, "no"),
    param("enable-protected-configs", Kind::Immutable, "no"),
    param(
        "hash-max-listpack-entries",
        Kind::Int {
            min: 0,
            max: 9223372036854775807,
        },
        "512",
    ),
    param(
        "hash-max-listpack-value",
        Kind::Memory {
            min: 0,
            max: 9223372036854775807,
        },
        "64",
    ),
    Param {
        storage: "hash-max-listpack-entries",
        ..param(
            "hash-max-ziplist-entries",
            Kind::Int {
                min: 0,
                max: 9223372036854775807,
            },
            "512",
        )
    },
    Param {
        storage: "hash-max-listpack-value",
        ..param(
            "hash-max-ziplist-value",
            Kind::Memory {
                min: 0,
                max: 9223372036854775807,
            },
            "64",
        )
    },
    param(
        "hll-sparse-max-bytes",
        Kind::Memory {
            min: 0,
            max: 9223372036854775807,
        },
        "3000",
    ),
    param(
        "hz",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "10",
    ),
    param("ignore-warnings", Kind::Str, ""),
    param("io-threads", Kind::Immutable, "1"),
    param("io-threads-do-reads", Kind::Immutable, "no"),
    param("jemalloc-bg-thread", Kind::Bool, "yes"),
    param(
        "latency-monitor-threshold",
        Kind::Int {
            min: 0,
            max: 9223372036854775807,
        },
        "0",
    ),
    param("latency-tracking", Kind::Bool, "yes"),
    param("latency-tracking-info-percentiles", Kind::Str, "50 99 99.9"),
    param("lazyfree-lazy-eviction", Kind::Bool, "no"),
    param("lazyfree-lazy-expire", Kind::Bool, "no"),
    param("lazyfree-lazy-server-del", Kind::Bool, "no"),
    param("lazyfree-lazy-user-del", Kind::Bool, "no"),
    param("lazyfree-lazy-user-flush", Kind::Bool, "no"),
    param(
        "lfu-decay-time",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "1",
    ),
    param(
        "lfu-log-factor",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "10",
    ),
    param(
        "list-compress-depth",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "0",
    ),
    param(
        "list-max-listpack-size",
        Kind::Int {
            min: -2147483648,
            max: 2147483647,
        },
        "-2",
    ),
    Param {
        storage: "list-max-listpack-size",
        ..param(
            "list-max-ziplist-size",
            Kind::Int {
                min: -2147483648,
                max: 2147483647,
            },
            "-2",
        )
    },
    param("logfile", Kind::Immutable, ""),
    param(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        "notice",
    ),
    Param {
        storage: "busy-reply-threshold",
        ..param(
            "lua-time-limit",
            Kind::Int {
                min: 0,
                max: 9223372036854775807,
            },
            "5000",
        )
    },
    param("masterauth", Kind::Str, ""),
    param("masteruser", Kind::Str, ""),
    param(
        "maxclients",
        Kind::Int {
            min: 1,
            max: 4294967295,
        },
        "10000",
    ),
    param(
        "maxmemory",
        Kind::Memory {
            min: 0,
            max: u64::MAX as i128,
        },
        "0",
    ),
    param("maxmemory-clients", Kind::MemoryOrPercent, "0"),
    param(
        "maxmemory-eviction-tenacity",
        Kind::Int { min: 0, max: 100 },
        "10",
    ),
    param(
        "maxmemory-policy",
        Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
        "noeviction",
    ),
    param(
        "maxmemory-samples",
        Kind::Int {
            min: 1,
            max: 2147483647,
        },
        "5",
    ),
    param(
        "min-replicas-max-lag",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "10",
    ),
    param(
        "min-replicas-to-write",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "0",
    ),
    Param {
        storage: "min-replicas-max-lag",
        ..param(
            "min-slaves-max-lag",
            Kind::Int {
                min: 0,
                max: 2147483647,
            },
            "10",
        )
    },
    Param {
        storage: "min-replicas-to-write",
        ..param(
            "min-slaves-to-write",
            Kind::Int {
                min: 0,
                max: 2147483647,
            },
            "0",
        )
    },
    param("no-appendfsync-on-rewrite", Kind::Bool, "no"),
    param("notify-keyspace-events", Kind::KeyspaceEvents, ""),
    param(
        "oom-score-adj",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        "no",
    ),
    param("oom-score-adj-values", Kind::Unsupported, "0 200 800"),
    param("pidfile", Kind::Immutable, ""),
    param("port", Kind::ReadOnly, "6379"),
    param(
        "proc-title-template",
        Kind::Str,
        "{title} {listen-addr} {server-mode}",
    ),
    param(
        "propagation-error-behavior",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
    ),
    param("protected-mode", Kind::Protected, "yes"),
    param(
        "proto-max-bulk-len",
        Kind::Memory {
            min: 1048576,
            max: 9223372036854775807,
        },
        "536870912",
    ),
    param("rdb-del-sync-files", Kind::Bool, "no"),
    param("rdb-save-incremental-fsync", Kind::Bool, "yes"),
    param("rdbchecksum", Kind::Immutable, "yes"),
    param("rdbcompression", Kind::Bool, "yes"),
    param(
        "repl-backlog-size",
        Kind::Memory {
            min: 1,
            max: 9223372036854775807,
        },
        "1048576",
    ),
    param(
        "repl-backlog-ttl",
        Kind::Int {
            min: 0,
            max: 9223372036854775807,
        },
        "3600",
    ),
    param("repl-disable-tcp-nodelay", Kind::Bool, "no"),
    param(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
    ),
    param("repl-diskless-sync", Kind::Bool, "yes"),
    param(
        "repl-diskless-sync-delay",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "5",
    ),
    param(
        "repl-diskless-sync-max-replicas",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "0",
    ),
    param(
        "repl-ping-replica-period",
        Kind::Int {
            min: 1,
            max: 2147483647,
        },
        "10",
    ),
    Param {
        storage: "repl-ping-replica-period",
        ..param(
            "repl-ping-slave-period",
            Kind::Int {
                min: 1,
                max: 2147483647,
            },
            "10",
        )
    },
    param(
        "repl-timeout",
        Kind::Int {
            min: 1,
            max: 2147483647,
        },
        "60",
    ),
    param("replica-announce-ip", Kind::Str, ""),
    param(
        "replica-announce-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
    ),
    param("replica-announced", Kind::Bool, "yes"),
    param("replica-ignore-disk-write-errors", Kind::Bool, "no"),
    param("replica-ignore-maxmemory", Kind::Bool, "yes"),
    param("replica-lazy-flush", Kind::Bool, "no"),
    param(
        "replica-priority",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "100",
    ),
    param("replica-read-only", Kind::Bool, "yes"),
    param("replica-serve-stale-data", Kind::Bool, "yes"),
    param("replicaof", Kind::Immutable, ""),
    param("requirepass", Kind::Str, ""),
    param(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
    ),
    param("save", Kind::Save, ""),
    param("server_cpulist", Kind::Immutable, ""),
    param(
        "set-max-intset-entries",
        Kind::Int {
            min: 0,
            max: 9223372036854775807,
        },
        "512",
    ),
    param("set-proc-title", Kind::Immutable, "yes"),
    param(
        "shutdown-on-sigint",
        Kind::Enum(&["default", "save", "nosave", "now", "force"]),
        "default",
    ),
    param(
        "shutdown-on-sigterm",
        Kind::Enum(&["default", "save", "nosave", "now", "force"]),
        "default",
    ),
    param(
        "shutdown-timeout",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "10",
    ),
    Param {
        storage: "replica-announce-ip",
        ..param("slave-announce-ip", Kind::Str, "")
    },
    Param {
        storage: "replica-announce-port",
        ..param("slave-announce-port", Kind::Int { min: 0, max: 65535 }, "0")
    },
    Param {
        storage: "replica-ignore-maxmemory",
        ..param("slave-ignore-maxmemory", Kind::Bool, "yes")
    },
    Param {
        storage: "replica-lazy-flush",
        ..param("slave-lazy-flush", Kind::Bool, "no")
    },
    Param {
        storage: "replica-priority",
        ..param(
            "slave-priority",
            Kind::Int {
                min: 0,
                max: 2147483647,
            },
            "100",
        )
    },
    Param {
        storage: "replica-read-only",
        ..param("slave-read-only", Kind::Bool, "yes")
    },
    Param {
        storage: "replica-serve-stale-data",
        ..param("slave-serve-stale-data", Kind::Bool, "yes")
    },
    Param {
        storage: "replicaof",
        ..param("slaveof", Kind::Immutable, "")
    },
    param(
        "slowlog-log-slower-than",
        Kind::Int {
            min: -1,
            max: 9223372036854775807,
        },
        "10000",
    ),
    param(
        "slowlog-max-len",
        Kind::Int {
            min: 0,
            max: 9223372036854775807,
        },
        "128",
    ),
    param("socket-mark-id", Kind::Immutable, "0"),
    param("stop-writes-on-bgsave-error", Kind::Bool, "yes"),
    param(
        "stream-node-max-bytes",
        Kind::Memory {
            min: 0,
            max: 9223372036854775807,
        },
        "4096",
    ),
    param(
        "stream-node-max-entries",
        Kind::Int {
            min: 0,
            max: 9223372036854775807,
        },
        "100",
    ),
    param("supervised", Kind::Immutable, "no"),
    param("syslog-enabled", Kind::Immutable, "no"),
    param("syslog-facility", Kind::Immutable, "local0"),
    param("syslog-ident", Kind::Immutable, "redis"),
    param("tcp-backlog", Kind::Immutable, "511"),
    param(
        "tcp-keepalive",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "300",
    ),
    param(
        "timeout",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "0",
    ),
    param(
        "tls-auth-clients",
        Kind::Enum(&["no", "yes", "optional"]),
        "yes",
    ),
    param("tls-ca-cert-dir", Kind::Str, ""),
    param("tls-ca-cert-file", Kind::Str, ""),
    param("tls-cert-file", Kind::Str, ""),
    param("tls-ciphers", Kind::Str, ""),
    param("tls-ciphersuites", Kind::Str, ""),
    param("tls-client-cert-file", Kind::Str, ""),
    param("tls-client-key-file", Kind::Str, ""),
    param("tls-client-key-file-pass", Kind::Str, ""),
    param("tls-cluster", Kind::Bool, "no"),
    param("tls-dh-params-file", Kind::Str, ""),
    param("tls-key-file", Kind::Str, ""),
    param("tls-key-file-pass", Kind::Str, ""),
    param("tls-port", Kind::Int { min: 0, max: 65535 }, "0"),
    param("tls-prefer-server-ciphers", Kind::Bool, "no"),
    param("tls-protocols", Kind::Str, ""),
    param("tls-replication", Kind::Bool, "no"),
    param(
        "tls-session-cache-size",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "20480",
    ),
    param(
        "tls-session-cache-timeout",
        Kind::Int {
            min: 0,
            max: 2147483647,
        },
        "300",
    ),
    param("tls-session-caching", Kind::Bool, "yes"),
    param(
        "tracking-table-max-keys",
        Kind::Int {
            min: 0,
            max: 9223372036854775807,
        },
        "1000000",
    ),
    param("unixsocket", Kind::Immutable, ""),
    param("unixsocketperm", Kind::Immutable, "0"),
    param(
        "zset-max-listpack-entries",
        Kind::Int {
            min: 0,
            max: 9223372036854775807,
        },
        "128",
    ),
    param(
        "zset-max-listpack-value",
        Kind::Memory {
            min: 0,
            max: 9223372036854775807,
        },
        "64",
    ),
    Param {
        storage: "zset-max-listpack-entries",
        ..param(
            "zset-max-ziplist-entries",
            Kind::Int {
                min: 0,
                max: 9223372036854775807,
            },
            "128",
        )
    },
    Param {
        storage: "zset-max-listpack-value",
        ..param(
            "zset-max-ziplist-value",
            Kind::Memory {
                min: 0,
                max: 9223372036854775807,
            },
            "64",
        )
    },
];

/// Finds a parameter by name, in any letter case.
pub fn lookup(name: &[u8]) -> Option<&'static Param> {
    PARAMS
        .iter()
        .find(|p| p.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Why CONFIG SET refused a value: the text after `- ` in Redis's message.
pub type SetError = String;

impl Config {
    /// The value CONFIG GET shows for `param`.
    pub fn get(&self, param: &Param) -> String {
        match param.storage {
            "requirepass" => self
                .requirepass
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default(),
            "databases" => self.databases.to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "hz" => self.hz.to_string(),
            "maxclients" => self.maxclients.to_string(),
            "timeout" => self.timeout.to_string(),
            "port" => self.port.to_string(),
            "bind" => self.bind.join(" "),
            "hash-max-listpack-entries" => self.hash_max_listpack_entries.to_string(),
            "hash-max-listpack-value" => self.hash_max_listpack_value.to_string(),
            "zset-max-listpack-entries" => self.zset_max_listpack_entries.to_string(),
            "zset-max-listpack-value" => self.zset_max_listpack_value.to_string(),
            "set-max-intset-entries" => self.set_max_intset_entries.to_string(),
            "list-max-listpack-size" => self.list_max_listpack_size.to_string(),
            "slowlog-log-slower-than" => self.slowlog_log_slower_than.to_string(),
            "slowlog-max-len" => self.slowlog_max_len.to_string(),
            "latency-monitor-threshold" => self.latency_monitor_threshold.to_string(),
            "latency-tracking" => yes_no(self.latency_tracking).to_string(),
            "latency-tracking-info-percentiles" => {
                let words: Vec<String> = self
                    .latency_tracking_info_percentiles
                    .iter()
                    .map(|p| percentile_text(*p))
                    .collect();
                words.join(" ")
            }
            "dir" => std::env::current_dir()
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default(),
            storage => match self.kept.get(storage) {
                Some(v) => v.clone(),
                None => param_by_storage(storage).default.to_string(),
            },
        }
    }

    /// The value of a parameter by name, `None` for names Redis does not have.
    pub fn value(&self, name: &str) -> Option<String> {
        lookup(name.as_bytes()).map(|p| self.get(p))
    }

    /// Checks `value` as Redis's CONFIG SET would and stores it. Refuses what this server
    /// cannot do.
    pub fn set(&mut self, param: &Param, value: &[u8]) -> Result<(), SetError> {
        self.apply(param, value, Phase::Runtime)
    }

    /// Checks `value` as Redis checks a config file line and stores it: as `set`, except
    /// that the parameters CONFIG SET refuses (immutable, protected) are accepted too.
    pub fn set_at_startup(&mut self, param: &Param, value: &[u8]) -> Result<(), SetError> {
        self.apply(param, value, Phase::Startup)
    }

    fn apply(&mut self, param: &Param, value: &[u8], phase: Phase) -> Result<(), SetError> {
        let kind = match (phase, param.kind) {
            (
                Phase::Startup,
                Kind::Immutable | Kind::Protected | Kind::ReadOnly | Kind::Unsupported,
            ) => startup_kind(param.storage),
            (_, kind) => kind,
        };
        let Checked { text, number } = check(kind, value)?;
        match param.storage {
            "appendonly" if text == "yes" => {
                return Err(
                    "lockstep keeps no append only file: only appendonly no is accepted".into(),
                )
            }
            "requirepass" => {
                self.requirepass = (!value.is_empty()).then(|| value.to_vec());
            }
            "proto-max-bulk-len" => self.proto_max_bulk_len = fits(number),
            // Redis clamps the active expiry frequency rather than refusing it.
            "hz" => self.hz = fits(number.map(|n| n.clamp(1, 500))),
            "maxclients" => self.maxclients = fits(number),
            "timeout" => self.timeout = fits(number),
            "hash-max-listpack-entries" => self.hash_max_listpack_entries = fits(number),
            "hash-max-listpack-value" => self.hash_max_listpack_value = fits(number),
            "zset-max-listpack-entries" => self.zset_max_listpack_entries = fits(number),
            "zset-max-listpack-value" => self.zset_max_listpack_value = fits(number),
            "set-max-intset-entries" => self.set_max_intset_entries = fits(number),
            "list-max-listpack-size" => self.list_max_listpack_size = fits(number),
            "slowlog-log-slower-than" => self.slowlog_log_slower_than = fits(number),
            "slowlog-max-len" => self.slowlog_max_len = fits(number),
            "latency-monitor-threshold" => self.latency_monitor_threshold = fits(number),
            "latency-tracking" => self.latency_tracking = text == "yes",
            "latency-tracking-info-percentiles" => {
                self.latency_tracking_info_percentiles = parse_percentiles(&text)?
            }
            // Only reachable at startup: CONFIG SET refuses these by their kind.
            "databases" => self.databases = fits(number),
            "port" => self.port = fits(number),
            "bind" => {
                let addrs: Vec<String> = text.split(' ').filter(|w| !w.is_empty()).map(String::from).collect();
                if addrs.is_empty() {
                    return Err("lockstep needs at least one address to listen on".into());
                }
                if let Some(bad) = addrs.iter().find(|a| bind_address(a).is_none()) {
                    return Err(format!("lockstep binds IP addresses only, not '{bad}'"));
                }
                self.bind = addrs;
            }
            "daemonize" | "cluster-enabled" if text == "yes" => {
                return Err(format!(
                    "lockstep does not support this: only {} no is accepted",
                    param.name
                ))
            }
            "supervised" if text != "no" => {
                return Err("lockstep does not notify supervisors: only supervised no is accepted".into())
            }
            "replicaof" | "unixsocket" if !text.is_empty() => {
                return Err(format!("lockstep does not support {}", param.name))
            }
            "dir" if !is_current_dir(&text) => {
                return Err(
                    "lockstep keeps no files and does not change directory: dir must name the current one"
                        .into(),
                )
            }
            storage => {
                self.kept.insert(storage, text);
            }
        }
        Ok(())
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A percentile as Redis shows it: `%f` without its trailing zeros (`99.9`, `50`).
pub fn percentile_text(p: f64) -> String {
    let text = format!("{p:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `latency-tracking-info-percentiles`: numbers from 0 to 100, one space apart (Redis
/// splits on each space, so two in a row make an empty, invalid word); "" for none.
fn parse_percentiles(text: &str) -> Result<Vec<f64>, SetError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut percentiles = Vec::new();
    for word in text.split(' ') {
        let p = crate::util::parse_f64(word.as_bytes())
            .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
        if !(0.0..=100.0).contains(&p) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .into(),
            );
        }
        percentiles.push(p);
    }
    Ok(percentiles)
}

/// Whether a value is being set by CONFIG SET or from the config file and command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Startup,
    Runtime,
}

/// A value that passed its kind's check: as CONFIG GET shows it, and as a number for the
/// numeric kinds.
struct Checked {
    text: String,
    number: Option<i128>,
}

/// A checked number into its field's type. The kind's bounds make it fit; a number that
/// somehow does not, or a missing one, gives the type's zero.
fn fits<T: TryFrom<i128> + Default>(number: Option<i128>) -> T {
    number.and_then(|n| T::try_from(n).ok()).unwrap_or_default()
}

/// Checks `value` against `kind` with Redis's messages.
fn check(kind: Kind, value: &[u8]) -> Result<Checked, SetError> {
    let text = String::from_utf8_lossy(value);
    let plain = |text: String| Ok(Checked { text, number: None });
    let numeric = |n: i128| {
        Ok(Checked {
            text: n.to_string(),
            number: Some(n),
        })
    };
    match kind {
        Kind::Immutable => Err("can't set immutable config".into()),
        Kind::Protected => Err("can't set protected config".into()),
        Kind::ReadOnly => {
            Err("lockstep cannot change this at run time (can't set immutable config)".into())
        }
        Kind::Unsupported => Err("lockstep does not support changing this parameter".into()),
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "yes" => plain("yes".into()),
            "no" => plain("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Enum(names) => match names.iter().find(|n| n.eq_ignore_ascii_case(&text)) {
            Some(n) => plain(n.to_string()),
            None => Err(format!(
                "argument(s) must be one of the following: {}",
                names.join(", ")
            )),
        },
        Kind::Int { min, max } => {
            let n = crate::util::parse_i64(value)
                .ok_or("argument couldn't be parsed into an integer")?;
            check_bounds(n as i128, min, max)?;
            numeric(n as i128)
        }
        Kind::Memory { min, max } => {
            let n = parse_memory(value).ok_or("argument must be a memory value")?;
            check_bounds(n as i128, min, max)?;
            numeric(n as i128)
        }
        Kind::MemoryOrPercent => {
            if let Some(n) = parse_memory(value) {
                return plain(n.to_string());
            }
            let pct = value
                .strip_suffix(b"%")
                .filter(|p| !p.is_empty())
                .and_then(crate::util::parse_i64)
                .filter(|&p| p >= 0)
                .ok_or("argument must be a memory or percent value")?;
            if pct > 100 {
                return Err("percentage argument must be less or equal to 100".into());
            }
            plain(format!("{pct}%"))
        }
        Kind::Str => plain(text.into_owned()),
        Kind::Save => {
            if !valid_save_params(&text) {
                return Err("Invalid save parameters".into());
            }
            if !text.is_empty() {
                return Err("lockstep keeps no snapshots: only save \"\" is accepted".into());
            }
            plain(String::new())
        }
        Kind::KeyspaceEvents => {
            let flags = keyspace_events_flags(value)
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            plain(keyspace_events_string(flags))
        }
    }
}

/// How a parameter that CONFIG SET refuses is checked when it comes from the config file,
/// as Redis 7.0's config.c declares it; the rest are strings.
fn startup_kind(storage: &str) -> Kind {
    const PROTECTED_ACTION: &[&str] = &["no", "yes", "local"];
    match storage {
        "databases" => Kind::Int {
            min: 1,
            max: i32::MAX as i128,
        },
        "port" | "cluster-port" => Kind::Int { min: 0, max: 65535 },
        "io-threads" => Kind::Int { min: 1, max: 128 },
        "tcp-backlog" => Kind::Int {
            min: 0,
            max: i32::MAX as i128,
        },
        "socket-mark-id" => Kind::Int {
            min: 0,
            max: u32::MAX as i128,
        },
        "always-show-logo"
        | "cluster-enabled"
        | "daemonize"
        | "disable-thp"
        | "io-threads-do-reads"
        | "protected-mode"
        | "rdbchecksum"
        | "set-proc-title"
        | "syslog-enabled" => Kind::Bool,
        "enable-debug-command" | "enable-module-command" | "enable-protected-configs" => {
            Kind::Enum(PROTECTED_ACTION)
        }
        "supervised" => Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "syslog-facility" => Kind::Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        _ => Kind::Str,
    }
}

/// A `bind` address as Redis writes them: an IP, `*` (every IPv4 interface), `::*` (every
/// IPv6 one), with `-` in front for "skip it if it is not available".
pub fn bind_address(word: &str) -> Option<IpAddr> {
    match word.strip_prefix('-').unwrap_or(word) {
        "*" => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        "::*" => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        ip => ip.parse().ok(),
    }
}

fn is_current_dir(dir: &str) -> bool {
    match (std::fs::canonicalize(dir), std::env::current_dir()) {
        (Ok(dir), Ok(cwd)) => dir == cwd,
        _ => false,
    }
}

fn param_by_storage(storage: &str) -> &'static Param {
    PARAMS
        .iter()
        .find(|p| p.name == storage)
        .unwrap_or(&PARAMS[0])
}

fn check_bounds(n: i128, min: i128, max: i128) -> Result<(), SetError> {
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(())
}

/// Redis's `memtoull`: digits and an optional unit (b, k, kb, m, mb, g, gb, any case).
/// Leading zeros are fine; a sign is not; "" is 0.
pub fn parse_memory(s: &[u8]) -> Option<u64> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let unit = std::str::from_utf8(&s[digits..]).ok()?.to_ascii_lowercase();
    let mul: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n: u64 = if digits == 0 {
        0
    } else {
        std::str::from_utf8(&s[..digits]).ok()?.parse().ok()?
    };
    n.checked_mul(mul)
}

/// `save` is "" or pairs of `<seconds> <changes>`.
fn valid_save_params(s: &str) -> bool {
    let words: Vec<&str> = s.split(' ').filter(|w| !w.is_empty()).collect();
    if s.is_empty() {
        return true;
    }
    !words.is_empty()
        && words.len().is_multiple_of(2)
        && words
            .iter()
            .all(|w| crate::util::parse_i64(w.as_bytes()).is_some_and(|n| n >= 0))
}

/// Keyspace notification classes, as Redis's `NOTIFY_*` bits.
pub mod notify {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 12;
    pub const NEW: u32 = 1 << 13;
    /// `A`: every class but key-miss and new-key.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Redis's `keyspaceEventsStringToFlags`; `None` on an unknown character.
pub fn keyspace_events_flags(s: &[u8]) -> Option<u32> {
    let mut flags = 0;
    for &c in s {
        flags |= match c {
            b'A' => notify::ALL,
            b'g' => notify::GENERIC,
            b'$' => notify::STRING,
            b'l' => notify::LIST,
            b's' => notify::SET,
            b'h' => notify::HASH,
            b'z' => notify::ZSET,
            b'x' => notify::EXPIRED,
            b'e' => notify::EVICTED,
            b'K' => notify::KEYSPACE,
            b'E' => notify::KEYEVENT,
            b't' => notify::STREAM,
            b'm' => notify::KEY_MISS,
            b'd' => notify::MODULE,
            b'n' => notify::NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// Redis's `keyspaceEventsFlagsToString`: `A` stands for the whole class set, and the
/// new-key class is then not shown (as Redis does).
pub fn keyspace_events_string(flags: u32) -> String {
    let mut out = String::new();
    if flags & notify::ALL == notify::ALL {
        out.push('A');
    } else {
        for (bit, c) in [
            (notify::GENERIC, 'g'),
            (notify::STRING, '$'),
            (notify::LIST, 'l'),
            (notify::SET, 's'),
            (notify::HASH, 'h'),
            (notify::ZSET, 'z'),
            (notify::EXPIRED, 'x'),
            (notify::EVICTED, 'e'),
            (notify::STREAM, 't'),
            (notify::MODULE, 'd'),
            (notify::NEW, 'n'),
        ] {
            if flags & bit != 0 {
                out.push(c);
            }
        }
    }
    for (bit, c) in [
        (notify::KEYSPACE, 'K'),
        (notify::KEYEVENT, 'E'),
        (notify::KEY_MISS, 'm'),
    ] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_values_take_redis_units() {
        assert_eq!(parse_memory(b"100"), Some(100));
        assert_eq!(parse_memory(b"1k"), Some(1000));
        assert_eq!(parse_memory(b"1KB"), Some(1024));
        assert_eq!(parse_memory(b"2mb"), Some(2 * 1024 * 1024));
        assert_eq!(parse_memory(b"1g"), Some(1_000_000_000));
        assert_eq!(parse_memory(b"007"), Some(7));
        assert_eq!(parse_memory(b""), Some(0));
        assert_eq!(parse_memory(b"-1"), None);
        assert_eq!(parse_memory(b"+1"), None);
        assert_eq!(parse_memory(b"1x"), None);
    }

    #[test]
    fn keyspace_events_print_in_redis_order() {
        let show = |s: &str| keyspace_events_flags(s.as_bytes()).map(keyspace_events_string);
        assert_eq!(show("KEA").as_deref(), Some("AKE"));
        assert_eq!(show("Kmn").as_deref(), Some("nKm"));
        assert_eq!(show("An").as_deref(), Some("A"));
        assert_eq!(show("bad!"), None);
    }

    #[test]
    fn every_alias_stores_into_a_real_parameter() {
        for p in PARAMS {
            assert!(PARAMS.iter().any(|q| q.name == p.storage), "{}", p.name);
        }
    }

    #[test]
    fn aliases_share_their_value() {
        let mut config = Config::default();
        let alias = lookup(b"slave-read-only").expect("alias");
        config.set(alias, b"no").expect("set");
        assert_eq!(config.value("replica-read-only").as_deref(), Some("no"));
    }
}
