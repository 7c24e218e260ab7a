//! Server commands: INFO, CONFIG, FLUSHDB/FLUSHALL, DBSIZE, TIME, LASTSAVE, SAVE/BGSAVE,
//! SHUTDOWN, DEBUG, MEMORY.
//!
//! This server keeps no files. SAVE and BGSAVE answer as Redis does and are recorded in
//! INFO persistence (with `lockstep_persistence:none` saying that nothing was written);
//! CONFIG refuses settings that would promise persistence.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};

use crate::command::{legacy, Ctx, Entry};
use crate::config::{self, Config, Kind};
use crate::errors;
use crate::keyspace::{DbStats, Value, NO_EXPIRY};
use crate::state::{unix_micros, Stats};

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    legacy("dbsize", dbsize),
    legacy("flushall", flushall),
    legacy("flushdb", flushdb),
    legacy("info", info),
    legacy("time", time),
    legacy("lastsave", lastsave),
    legacy("save", save),
    legacy("bgsave", bgsave),
    legacy("shutdown", shutdown),
    legacy("config", container),
    legacy("config|get", config_get),
    legacy("config|help", config_help),
    legacy("config|resetstat", config_resetstat),
    legacy("config|rewrite", config_rewrite),
    legacy("config|set", config_set),
    legacy("debug", debug),
    legacy("memory", container),
    legacy("memory|doctor", memory_doctor),
    legacy("memory|help", memory_help),
    legacy("memory|malloc-stats", memory_malloc_stats),
    legacy("memory|purge", memory_purge),
    legacy("memory|stats", memory_stats),
    legacy("memory|usage", memory_usage),
];

/// The handler of a container command (CONFIG, MEMORY) called with a subcommand that
/// does not exist; `execute` normally answers before it gets here.
fn container(ctx: &mut Ctx, argv: &[&[u8]]) {
    let sub = argv.get(1).copied().unwrap_or_default();
    ctx.out
        .error_bytes(&errors::unknown_subcommand(argv[0], sub));
}

/// Writes Redis's HELP reply: the header line, then the lines, then HELP's own entry.
pub(crate) fn help(ctx: &mut Ctx, command: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for line in lines {
        ctx.out.simple(line);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// `DBSIZE`: keys in the selected database.
fn dbsize(ctx: &mut Ctx, _argv: &[&[u8]]) {
    let n = ctx.raw_db().len();
    ctx.out.int(n as i64);
}

/// `FLUSHALL [ASYNC|SYNC]`: empties every database. Changes count one per key removed.
fn flushall(ctx: &mut Ctx, argv: &[&[u8]]) {
    if !flush_mode_ok(argv) {
        ctx.out.error(errors::SYNTAX);
        return;
    }
    let mut removed = 0;
    for db in ctx.state.dbs.iter_mut() {
        removed += db.len() as u64;
        db.clear();
    }
    ctx.dirty(removed);
    ctx.out.ok();
}

/// `FLUSHDB [ASYNC|SYNC]`: empties the selected database.
fn flushdb(ctx: &mut Ctx, argv: &[&[u8]]) {
    if !flush_mode_ok(argv) {
        ctx.out.error(errors::SYNTAX);
        return;
    }
    let db = ctx.raw_db();
    let removed = db.len() as u64;
    db.clear();
    ctx.dirty(removed);
    ctx.out.ok();
}

/// At most one argument, ASYNC or SYNC. Both free memory at once here.
fn flush_mode_ok(argv: &[&[u8]]) -> bool {
    match argv.len() {
        1 => true,
        2 => argv[1].eq_ignore_ascii_case(b"async") || argv[1].eq_ignore_ascii_case(b"sync"),
        _ => false,
    }
}

/// `TIME`: seconds and microseconds, as two bulk strings.
fn time(ctx: &mut Ctx, _argv: &[&[u8]]) {
    let us = unix_micros();
    ctx.out.array(2);
    ctx.out.bulk_int(us / 1_000_000);
    ctx.out.bulk_int(us % 1_000_000);
}

/// `LASTSAVE`: Unix time of the last (recorded) save, the start time until then.
fn lastsave(ctx: &mut Ctx, _argv: &[&[u8]]) {
    let t = ctx.state.last_save;
    ctx.out.int(t);
}

/// Records a save that writes nothing: INFO persistence shows it like a successful one.
fn record_save(ctx: &mut Ctx, background: bool) {
    let now = ctx.now / 1000;
    let dirty = ctx.state.mods.dirty;
    let saves = &mut ctx.state.config.saves;
    saves.saves += 1;
    saves.dirty_at_last_save = dirty;
    if background {
        saves.last_bgsave = Some(now);
    }
    ctx.state.last_save = now;
}

/// `SAVE`: OK, as Redis answers after writing its snapshot (no file is written here).
fn save(ctx: &mut Ctx, _argv: &[&[u8]]) {
    record_save(ctx, false);
    ctx.out.ok();
}

/// `BGSAVE [SCHEDULE]`: the background save "completes" at once; no file is written.
fn bgsave(ctx: &mut Ctx, argv: &[&[u8]]) {
    if argv.len() > 2 || (argv.len() == 2 && !argv[1].eq_ignore_ascii_case(b"schedule")) {
        ctx.out.error(errors::SYNTAX);
        return;
    }
    record_save(ctx, true);
    ctx.out.simple("Background saving started");
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: stops the server. Like Redis, the
/// client gets no reply: the connection closes. There is nothing to save first.
fn shutdown(ctx: &mut Ctx, argv: &[&[u8]]) {
    let (mut nosave, mut save, mut abort, mut other) = (false, false, false, false);
    for a in &argv[1..] {
        if a.eq_ignore_ascii_case(b"nosave") {
            nosave = true;
        } else if a.eq_ignore_ascii_case(b"save") {
            save = true;
        } else if a.eq_ignore_ascii_case(b"now") || a.eq_ignore_ascii_case(b"force") {
            other = true;
        } else if a.eq_ignore_ascii_case(b"abort") {
            abort = true;
        } else {
            ctx.out.error(errors::SYNTAX);
            return;
        }
    }
    if (abort && (nosave || save || other)) || (nosave && save) {
        ctx.out.error(errors::SYNTAX);
        return;
    }
    if abort {
        ctx.out.error("ERR No shutdown in progress.");
        return;
    }
    let _ = ctx.state.shutdown.send(true);
    ctx.client.close_after_reply = true;
}

// ---------------------------------------------------------------------------------------
// INFO

/// Sections in the order INFO prints them, and whether the default set includes each.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// `INFO [section ...]`: the sections asked for (`default` without arguments; `all` and
/// `everything` for every one), each as `# Name` then `field:value` lines, separated by a
/// blank line.
fn info(ctx: &mut Ctx, argv: &[&[u8]]) {
    let mut wanted = [false; SECTIONS.len()];
    if argv.len() == 1 {
        for (w, (_, default)) in wanted.iter_mut().zip(SECTIONS) {
            *w = *default;
        }
    }
    for a in &argv[1..] {
        let a = a.to_ascii_lowercase();
        let name: &[u8] = if a == b"module_list" { b"modules" } else { &a };
        for (w, (section, default)) in wanted.iter_mut().zip(SECTIONS) {
            let hit = match name {
                b"all" | b"everything" => true,
                b"default" => *default,
                _ => name == section.as_bytes(),
            };
            *w |= hit;
        }
    }
    let mut text = String::new();
    for (i, (section, _)) in SECTIONS.iter().enumerate() {
        if wanted[i] {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            info_section(ctx, section, &mut text);
        }
    }
    ctx.out.verbatim(text.as_bytes());
}

/// Appends `name:value\r\n`.
macro_rules! field {
    ($out:expr, $name:expr, $($arg:tt)*) => {{
        let _ = write!($out, "{}:", $name);
        let _ = write!($out, $($arg)*);
        $out.push_str("\r\n");
    }};
}

fn info_section(ctx: &mut Ctx, section: &str, out: &mut String) {
    let state = &*ctx.state;
    let title = match section {
        "cpu" => "CPU".to_string(),
        s => s[..1].to_ascii_uppercase() + &s[1..],
    };
    let _ = write!(out, "# {title}\r\n");
    let uptime = state.started.elapsed().as_secs();
    match section {
        "server" => {
            field!(out, "redis_version", "7.0.15");
            field!(out, "redis_git_sha1", "00000000");
            field!(out, "redis_git_dirty", "0");
            field!(out, "redis_build_id", "{}", &hex_id(ctx, 1)[..15]);
            field!(out, "redis_mode", "standalone");
            field!(out, "os", "{}", os_name());
            field!(out, "arch_bits", "{}", usize::BITS);
            field!(out, "monotonic_clock", "POSIX clock_gettime");
            field!(out, "multiplexing_api", "epoll");
            field!(out, "atomicvar_api", "c11-builtin");
            field!(out, "gcc_version", "0.0.0");
            field!(out, "process_id", "{}", std::process::id());
            field!(out, "process_supervised", "no");
            field!(out, "run_id", "{}", hex_id(ctx, 2));
            field!(out, "tcp_port", "{}", state.config.port);
            field!(out, "server_time_usec", "{}", unix_micros());
            field!(out, "uptime_in_seconds", "{uptime}");
            field!(out, "uptime_in_days", "{}", uptime / 86400);
            field!(out, "hz", "{}", state.config.hz);
            field!(out, "configured_hz", "{}", state.config.hz);
            field!(out, "lru_clock", "{}", (ctx.now / 1000) & ((1 << 24) - 1));
            let exe = std::env::current_exe()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            field!(out, "executable", "{exe}");
            field!(out, "config_file", "");
            field!(out, "io_threads_active", "0");
        }
        "clients" => {
            let max_qbuf = state
                .clients
                .values()
                .map(|c| c.client.query_buf)
                .max()
                .unwrap_or(0);
            field!(out, "connected_clients", "{}", state.clients.len());
            field!(out, "cluster_connections", "0");
            field!(out, "maxclients", "{}", state.config.maxclients);
            field!(out, "client_recent_max_input_buffer", "{max_qbuf}");
            field!(out, "client_recent_max_output_buffer", "0");
            field!(out, "blocked_clients", "{}", state.blocked.len());
            field!(out, "tracking_clients", "0");
            field!(out, "clients_in_timeout_table", "0");
        }
        "memory" => memory_section(&state.config, out),
        "persistence" => {
            let saves = state.config.saves;
            let changes = state.mods.dirty.saturating_sub(saves.dirty_at_last_save);
            for (name, value) in [
                ("loading", "0"),
                ("async_loading", "0"),
                ("current_cow_peak", "0"),
                ("current_cow_size", "0"),
                ("current_cow_size_age", "0"),
                ("current_fork_perc", "0.00"),
                ("current_save_keys_processed", "0"),
                ("current_save_keys_total", "0"),
            ] {
                field!(out, name, "{value}");
            }
            field!(out, "rdb_changes_since_last_save", "{changes}");
            field!(out, "rdb_bgsave_in_progress", "0");
            field!(out, "rdb_last_save_time", "{}", state.last_save);
            field!(out, "rdb_last_bgsave_status", "ok");
            let bgsave_secs = if saves.last_bgsave.is_some() { 0 } else { -1 };
            field!(out, "rdb_last_bgsave_time_sec", "{bgsave_secs}");
            field!(out, "rdb_current_bgsave_time_sec", "-1");
            field!(out, "rdb_saves", "{}", saves.saves);
            for (name, value) in [
                ("rdb_last_cow_size", "0"),
                ("rdb_last_load_keys_expired", "0"),
                ("rdb_last_load_keys_loaded", "0"),
                ("aof_enabled", "0"),
                ("aof_rewrite_in_progress", "0"),
                ("aof_rewrite_scheduled", "0"),
                ("aof_last_rewrite_time_sec", "-1"),
                ("aof_current_rewrite_time_sec", "-1"),
                ("aof_last_bgrewrite_status", "ok"),
                ("aof_rewrites", "0"),
                ("aof_rewrites_consecutive_failures", "0"),
                ("aof_last_write_status", "ok"),
                ("aof_last_cow_size", "0"),
                ("module_fork_in_progress", "0"),
                ("module_fork_last_cow_size", "0"),
                // Not a Redis field: SAVE, BGSAVE and SHUTDOWN SAVE write no file here.
                ("lockstep_persistence", "none"),
            ] {
                field!(out, name, "{value}");
            }
        }
        "stats" => {
            let s: Stats = state.stats;
            let db = db_stats_sum(ctx);
            field!(
                out,
                "total_connections_received",
                "{}",
                s.connections_received
            );
            field!(out, "total_commands_processed", "{}", s.commands_processed);
            field!(out, "instantaneous_ops_per_sec", "0");
            field!(out, "total_net_input_bytes", "{}", s.net_input_bytes);
            field!(out, "total_net_output_bytes", "{}", s.net_output_bytes);
            field!(out, "total_net_repl_input_bytes", "0");
            field!(out, "total_net_repl_output_bytes", "0");
            field!(out, "instantaneous_input_kbps", "0.00");
            field!(out, "instantaneous_output_kbps", "0.00");
            field!(out, "instantaneous_input_repl_kbps", "0.00");
            field!(out, "instantaneous_output_repl_kbps", "0.00");
            field!(out, "rejected_connections", "{}", s.rejected_connections);
            field!(out, "sync_full", "0");
            field!(out, "sync_partial_ok", "0");
            field!(out, "sync_partial_err", "0");
            field!(out, "expired_keys", "{}", db.expired);
            field!(out, "expired_stale_perc", "0.00");
            for name in [
                "expired_time_cap_reached_count",
                "expire_cycle_cpu_milliseconds",
                "evicted_keys",
                "evicted_clients",
                "total_eviction_exceeded_time",
                "current_eviction_exceeded_time",
            ] {
                field!(out, name, "0");
            }
            field!(out, "keyspace_hits", "{}", db.hits);
            field!(out, "keyspace_misses", "{}", db.misses);
            for name in [
                "pubsub_channels",
                "pubsub_patterns",
                "pubsubshard_channels",
                "latest_fork_usec",
                "total_forks",
                "migrate_cached_sockets",
                "slave_expires_tracked_keys",
                "active_defrag_hits",
                "active_defrag_misses",
                "active_defrag_key_hits",
                "active_defrag_key_misses",
                "total_active_defrag_time",
                "current_active_defrag_time",
                "tracking_total_keys",
                "tracking_total_items",
                "tracking_total_prefixes",
                "unexpected_error_replies",
            ] {
                field!(out, name, "0");
            }
            field!(out, "total_error_replies", "{}", s.error_replies);
            field!(out, "dump_payload_sanitizations", "0");
            field!(out, "total_reads_processed", "0");
            field!(out, "total_writes_processed", "0");
            field!(out, "io_threaded_reads_processed", "0");
            field!(out, "io_threaded_writes_processed", "0");
            field!(out, "reply_buffer_shrinks", "0");
            field!(out, "reply_buffer_expands", "0");
        }
        "replication" => {
            field!(out, "role", "master");
            field!(out, "connected_slaves", "0");
            field!(out, "master_failover_state", "no-failover");
            field!(out, "master_replid", "{}", hex_id(ctx, 3));
            field!(out, "master_replid2", "{}", "0".repeat(40));
            field!(out, "master_repl_offset", "0");
            field!(out, "second_repl_offset", "-1");
            field!(out, "repl_backlog_active", "0");
            field!(out, "repl_backlog_size", "1048576");
            field!(out, "repl_backlog_first_byte_offset", "0");
            field!(out, "repl_backlog_histlen", "0");
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            field!(out, "used_cpu_sys", "{sys:.6}");
            field!(out, "used_cpu_user", "{user:.6}");
            field!(out, "used_cpu_sys_children", "0.000000");
            field!(out, "used_cpu_user_children", "0.000000");
            field!(out, "used_cpu_sys_main_thread", "{sys:.6}");
            field!(out, "used_cpu_user_main_thread", "{user:.6}");
        }
        "cluster" => field!(out, "cluster_enabled", "0"),
        "keyspace" => {
            for (i, db) in state.dbs.iter().enumerate() {
                if db.is_empty() {
                    continue;
                }
                let expires = db.dict.expiring_len();
                let avg_ttl = avg_ttl_estimate(db, ctx.now);
                field!(
                    out,
                    format!("db{i}"),
                    "keys={},expires={expires},avg_ttl={avg_ttl}",
                    db.len()
                );
            }
        }
        "commandstats" => {
            for (id, cmd) in crate::command::Registry::get().with_ids() {
                let st = state.command_stats[id];
                if st.calls == 0 && st.rejected == 0 && st.failed == 0 {
                    continue;
                }
                let per_call = if st.calls == 0 {
                    0.0
                } else {
                    st.usec as f64 / st.calls as f64
                };
                field!(
                    out,
                    format!("cmdstat_{}", cmd.full_name),
                    "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                    st.calls,
                    st.usec,
                    st.rejected,
                    st.failed
                );
            }
        }
        "errorstats" => {
            for (code, count) in &state.error_stats {
                field!(
                    out,
                    format!("errorstat_{}", String::from_utf8_lossy(code)),
                    "count={count}"
                );
            }
        }
        "latencystats" => crate::commands::diagnostics::latencystats(state, out),
        // Modules: there are none, so the section has a header and no fields.
        _ => {}
    }
}

fn memory_section(config: &Config, out: &mut String) {
    let mem = ProcessMemory::read();
    let used = mem.rss;
    let maxmemory: u64 = config
        .value("maxmemory")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let policy = config.value("maxmemory-policy").unwrap_or_default();
    field!(out, "used_memory", "{used}");
    field!(out, "used_memory_human", "{}", human(used));
    field!(out, "used_memory_rss", "{}", mem.rss);
    field!(out, "used_memory_rss_human", "{}", human(mem.rss));
    field!(out, "used_memory_peak", "{}", mem.peak);
    field!(out, "used_memory_peak_human", "{}", human(mem.peak));
    let peak_perc = if mem.peak > 0 {
        used as f64 * 100.0 / mem.peak as f64
    } else {
        100.0
    };
    field!(out, "used_memory_peak_perc", "{peak_perc:.2}%");
    field!(out, "used_memory_overhead", "0");
    field!(out, "used_memory_startup", "0");
    field!(out, "used_memory_dataset", "{used}");
    field!(out, "used_memory_dataset_perc", "100.00%");
    field!(out, "allocator_allocated", "{used}");
    field!(out, "allocator_active", "{used}");
    field!(out, "allocator_resident", "{}", mem.rss);
    field!(out, "total_system_memory", "{}", mem.total_system);
    field!(
        out,
        "total_system_memory_human",
        "{}",
        human(mem.total_system)
    );
    for (name, value) in [
        ("used_memory_lua", "0"),
        ("used_memory_vm_eval", "0"),
        ("used_memory_lua_human", "0B"),
        ("used_memory_scripts_eval", "0"),
        ("number_of_cached_scripts", "0"),
        ("number_of_functions", "0"),
        ("number_of_libraries", "0"),
        ("used_memory_vm_functions", "0"),
        ("used_memory_vm_total", "0"),
        ("used_memory_vm_total_human", "0B"),
        ("used_memory_functions", "0"),
        ("used_memory_scripts", "0"),
        ("used_memory_scripts_human", "0B"),
    ] {
        field!(out, name, "{value}");
    }
    field!(out, "maxmemory", "{maxmemory}");
    field!(out, "maxmemory_human", "{}", human(maxmemory));
    field!(out, "maxmemory_policy", "{policy}");
    for (name, value) in [
        ("allocator_frag_ratio", "1.00"),
        ("allocator_frag_bytes", "0"),
        ("allocator_rss_ratio", "1.00"),
        ("allocator_rss_bytes", "0"),
        ("rss_overhead_ratio", "1.00"),
        ("rss_overhead_bytes", "0"),
        ("mem_fragmentation_ratio", "1.00"),
        ("mem_fragmentation_bytes", "0"),
        ("mem_not_counted_for_evict", "0"),
        ("mem_replication_backlog", "0"),
        ("mem_total_replication_buffers", "0"),
        ("mem_clients_slaves", "0"),
        ("mem_clients_normal", "0"),
        ("mem_cluster_links", "0"),
        ("mem_aof_buffer", "0"),
        ("mem_allocator", "libc"),
        ("active_defrag_running", "0"),
        ("lazyfree_pending_objects", "0"),
        ("lazyfreed_objects", "0"),
    ] {
        field!(out, name, "{value}");
    }
}

/// The per-database counters summed over every database.
fn db_stats_sum(ctx: &Ctx) -> DbStats {
    ctx.state
        .dbs
        .iter()
        .fold(DbStats::default(), |acc, db| DbStats {
            hits: acc.hits + db.stats.hits,
            misses: acc.misses + db.stats.misses,
            expired: acc.expired + db.stats.expired,
        })
}

/// Average remaining TTL in ms over a sample of the keys with one, as Redis estimates it
/// from its expiry cycle's samples (0 when none).
fn avg_ttl_estimate(db: &crate::keyspace::Db, now: i64) -> i64 {
    use rand::SeedableRng;
    const SAMPLE: usize = 64;
    let n = db.dict.expiring_len();
    if n == 0 {
        return 0;
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(now as u64);
    let (mut sum, mut count) = (0i64, 0i64);
    for _ in 0..SAMPLE.min(n) {
        let Some(e) = db
            .dict
            .random_expiring(&mut rng)
            .and_then(|i| db.dict.at(i))
        else {
            continue;
        };
        if e.expire_at != NO_EXPIRY && e.expire_at > now {
            sum += e.expire_at - now;
            count += 1;
        }
    }
    if count == 0 {
        0
    } else {
        sum / count
    }
}

/// A 40 hex digit identifier that stays the same for one server's life (run_id,
/// master_replid): a hash of the process, the server's start instant and addresses.
fn hex_id(ctx: &Ctx, salt: u64) -> String {
    let mut out = String::with_capacity(48);
    for round in 0..3u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, round, std::process::id()).hash(&mut h);
        format!("{:?}", ctx.state.started).hash(&mut h);
        ctx.state.listening.hash(&mut h);
        let _ = write!(out, "{:016x}", h.finish());
    }
    out.truncate(40);
    out
}

/// `uname -s -r -m`, as Redis prints it.
fn os_name() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let ostype = read("/proc/sys/kernel/ostype");
    let ostype = if ostype.is_empty() {
        std::env::consts::OS.to_string()
    } else {
        ostype
    };
    format!(
        "{} {} {}",
        ostype,
        read("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    )
}

/// The process's memory as the kernel reports it (zeros where /proc is missing).
struct ProcessMemory {
    rss: u64,
    peak: u64,
    total_system: u64,
}

impl ProcessMemory {
    fn read() -> ProcessMemory {
        let kb = |text: &str, key: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .map_or(0, |n| n * 1024)
        };
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let rss = kb(&status, "VmRSS:");
        ProcessMemory {
            rss,
            peak: kb(&status, "VmHWM:").max(rss),
            total_system: kb(&meminfo, "MemTotal:"),
        }
    }
}

/// User and system CPU seconds of the process, from /proc/self/stat.
fn cpu_seconds() -> (f64, f64) {
    // Linux reports them in clock ticks of USER_HZ, which is 100 on every platform it runs.
    const TICKS: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (get(11) / TICKS, get(12) / TICKS)
}

/// Redis's `bytesToHuman`.
fn human(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if n < 1024 {
        format!("{n}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else {
        format!("{:.2}P", d / (K * K * K * K * K))
    }
}

// ---------------------------------------------------------------------------------------
// CONFIG

/// `CONFIG GET parameter [parameter ...]`: names without glob characters are looked up
/// directly and answered under the name as given; patterns match every parameter
/// (aliases included) without regard to case. A map in RESP3.
fn config_get(ctx: &mut Ctx, argv: &[&[u8]]) {
    let mut found: Vec<(Vec<u8>, &'static config::Param)> = Vec::new();
    for pattern in &argv[2..] {
        if !pattern.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
            if let Some(p) = config::lookup(pattern) {
                if !found
                    .iter()
                    .any(|(name, _)| name.eq_ignore_ascii_case(pattern))
                {
                    found.push((pattern.to_vec(), p));
                }
            }
            continue;
        }
        for p in config::PARAMS {
            if crate::util::glob_match(pattern, p.name.as_bytes(), true)
                && !found
                    .iter()
                    .any(|(name, _)| name.eq_ignore_ascii_case(p.name.as_bytes()))
            {
                found.push((p.name.as_bytes().to_vec(), p));
            }
        }
    }
    ctx.out.map(found.len());
    for (name, p) in found {
        ctx.out.bulk(&name);
        let value = ctx.state.config.get(p);
        ctx.out.bulk(value.as_bytes());
    }
}

/// `CONFIG SET parameter value [parameter value ...]`: all or nothing. Names are checked
/// first (unknown, immutable, duplicate: the first problem is reported), then the values
/// are applied in order; one that fails restores every value set before it.
fn config_set(ctx: &mut Ctx, argv: &[&[u8]]) {
    if !argv.len().is_multiple_of(2) {
        ctx.out.error(errors::SYNTAX);
        return;
    }
    let mut params: Vec<(&'static config::Param, &[u8])> = Vec::new();
    for pair in argv[2..].chunks(2) {
        let Some(p) = config::lookup(pair[0]) else {
            let mut msg = b"ERR Unknown option or number of arguments for CONFIG SET - '".to_vec();
            msg.extend_from_slice(errors::c_string(pair[0]));
            msg.push(b'\'');
            ctx.out.error_bytes(&msg);
            return;
        };
        let problem = match p.kind {
            Kind::Immutable => Some("can't set immutable config"),
            Kind::Protected => Some("can't set protected config"),
            _ if params.iter().any(|(q, _)| q.name == p.name) => Some("duplicate parameter"),
            _ => None,
        };
        if let Some(problem) = problem {
            config_set_failed(ctx, pair[0], problem);
            return;
        }
        params.push((p, pair[1]));
    }
    let before = ctx.state.config.clone();
    for (p, value) in params {
        if let Err(problem) = ctx.state.config.set(p, value) {
            ctx.state.config = before;
            config_set_failed(ctx, p.name.as_bytes(), &problem);
            return;
        }
    }
    if ctx.state.config.timeout != before.timeout {
        // Connections waiting for input learn the new idle limit when woken, as Redis's
        // clientsCron applies it to every client, idle ones included.
        for entry in ctx.state.clients.values() {
            entry.wake.notify_one();
        }
    }
    ctx.out.ok();
}

fn config_set_failed(ctx: &mut Ctx, name: &[u8], problem: &str) {
    let mut msg = b"ERR CONFIG SET failed (possibly related to argument '".to_vec();
    msg.extend_from_slice(errors::c_string(name));
    msg.extend_from_slice(b"') - ");
    msg.extend_from_slice(problem.as_bytes());
    ctx.out.error_bytes(&msg);
}

/// `CONFIG RESETSTAT`: zeroes the counters INFO stats reports.
fn config_resetstat(ctx: &mut Ctx, _argv: &[&[u8]]) {
    ctx.state.stats = Stats::default();
    ctx.state.command_stats.fill(Default::default());
    ctx.state.error_stats.clear();
    ctx.state.diagnostics.reset_histograms();
    for db in ctx.state.dbs.iter_mut() {
        db.stats = DbStats::default();
    }
    ctx.out.ok();
}

/// `CONFIG REWRITE`: there is never a config file to rewrite.
fn config_rewrite(ctx: &mut Ctx, _argv: &[&[u8]]) {
    ctx.out
        .error("ERR The server is running without a config file");
}

fn config_help(ctx: &mut Ctx, _argv: &[&[u8]]) {
    help(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// DEBUG

const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// `DEBUG SLEEP seconds`, `DEBUG POPULATE count [prefix] [size]`, `DEBUG HELP`. Others get
/// Redis's unknown-subcommand error. Allowed as `enable-debug-command local` allows it:
/// from loopback connections only.
fn debug(ctx: &mut Ctx, argv: &[&[u8]]) {
    if !ctx.client.addr.ip().is_loopback() {
        ctx.out.error(DEBUG_NOT_ALLOWED);
        return;
    }
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"help", 2) => help(
            ctx,
            "DEBUG",
            &[
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    replicas. Cluster slots are not respected so keys not belonging to the",
                "    current node can be created in cluster mode.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        ),
        (b"sleep", 3) => {
            // Like Redis, the whole server stops: the lock stays held while sleeping.
            let secs = strtod_prefix(argv[2]);
            if secs > 0.0 && secs.is_finite() {
                let micros = (secs * 1_000_000.0).min(u64::MAX as f64) as u64;
                std::thread::sleep(std::time::Duration::from_micros(micros));
            }
            ctx.out.ok();
        }
        (b"populate", 3..=5) => debug_populate(ctx, argv),
        _ => {
            let mut msg = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
            msg.extend_from_slice(errors::c_string(argv[1]));
            msg.extend_from_slice(b"'. Try DEBUG HELP.");
            ctx.out.error_bytes(&msg);
        }
    }
}

/// `DEBUG POPULATE count [prefix] [size]`: keys `prefix:N` (0 <= N < count) holding
/// `value:N`, cut or padded with zero bytes to `size` when given. Existing keys are left
/// alone. Like Redis, the key name is cut to 127 bytes and the prefix at a NUL byte.
fn debug_populate(ctx: &mut Ctx, argv: &[&[u8]]) {
    const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
    let Some(count) = crate::util::parse_i64(argv[2]).filter(|&n| n >= 0) else {
        ctx.out.error(NOT_POSITIVE);
        return;
    };
    let size = match argv.get(4) {
        None => 0,
        Some(s) => match crate::util::parse_i64(s).filter(|&n| n >= 0) {
            Some(n) => n as usize,
            None => {
                ctx.out.error(NOT_POSITIVE);
                return;
            }
        },
    };
    let prefix = argv.get(3).map_or(&b"key"[..], |p| errors::c_string(p));
    let db = &mut ctx.state.dbs[ctx.client.db];
    let now = ctx.now;
    let mut key = Vec::with_capacity(prefix.len() + 24);
    let mut value = Vec::with_capacity(size.max(24));
    let mut num = itoa::Buffer::new();
    for j in 0..count {
        let digits = num.format(j).as_bytes();
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(digits);
        key.truncate(127);
        if db.contains(&key, now) {
            continue;
        }
        value.clear();
        value.extend_from_slice(b"value:");
        value.extend_from_slice(digits);
        if size > 0 {
            value.resize(size, 0);
        }
        db.set(&key, Value::string(&value), NO_EXPIRY);
    }
    ctx.out.ok();
}

/// C's `strtod` on the longest numeric prefix (0 when there is none), as DEBUG SLEEP
/// reads its argument.
fn strtod_prefix(s: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(s);
    let text = text.trim_start();
    let mut best = 0.0;
    for end in 1..=text.len() {
        if !text.is_char_boundary(end) {
            continue;
        }
        if let Ok(v) = text[..end].parse::<f64>() {
            if text[..end]
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            {
                best = v;
            }
        }
    }
    best
}

// ---------------------------------------------------------------------------------------
// MEMORY

/// `MEMORY USAGE key [SAMPLES count]`: bytes used by the key, its value and its entry, as
/// Redis counts them with jemalloc's size classes; null when the key does not exist.
fn memory_usage(ctx: &mut Ctx, argv: &[&[u8]]) {
    let mut i = 3;
    while i < argv.len() {
        if argv[i].eq_ignore_ascii_case(b"samples") && i + 1 < argv.len() {
            match crate::util::parse_i64(argv[i + 1]) {
                None => {
                    ctx.out.error(errors::NOT_INTEGER);
                    return;
                }
                Some(n) if n < 0 => {
                    ctx.out.error(errors::SYNTAX);
                    return;
                }
                Some(_) => i += 2,
            }
        } else {
            ctx.out.error(errors::SYNTAX);
            return;
        }
    }
    // Like Redis, this looks at the dict directly: no expiry, no hit or miss.
    let usage = ctx
        .raw_db()
        .dict
        .get(argv[2])
        .map(|e| key_usage(&e.key) + value_usage(&e.value) + DICT_ENTRY);
    match usage {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
}

/// Redis's `dictEntry`.
const DICT_ENTRY: usize = 24;
/// Redis's `robj`.
const ROBJ: usize = 16;

/// jemalloc's size class for an allocation of `n` bytes: 8, 16, then steps of 16 up to
/// 128, then four classes per doubling.
pub fn jemalloc_size(n: usize) -> usize {
    match n {
        0..=8 => 8,
        9..=128 => n.div_ceil(16) * 16,
        _ => {
            let step = 1usize << (usize::BITS - (n - 1).leading_zeros() - 3);
            n.div_ceil(step) * step
        }
    }
}

/// Header size of an sds string of `len` bytes (type 5 only for keys under 32 bytes).
fn sds_header(len: usize, allow_type5: bool) -> usize {
    match len {
        _ if len < 32 && allow_type5 => 1,
        0..=255 => 3,
        256..=65535 => 5,
        _ if len as u64 <= u32::MAX as u64 => 9,
        _ => 17,
    }
}

fn key_usage(key: &[u8]) -> usize {
    jemalloc_size(sds_header(key.len(), true) + key.len() + 1)
}

fn value_usage(value: &Value) -> usize {
    match value {
        Value::List(l) => return ROBJ + l.memory_usage(),
        Value::Hash(h) => return ROBJ + h.memory_usage(),
        Value::Set(s) => return ROBJ + s.memory_usage(),
        Value::ZSet(z) => return ROBJ + z.memory_usage(),
        Value::Int(_) | Value::Str { .. } => {}
    }
    let mut scratch = itoa::Buffer::new();
    let Some(bytes) = value.string_bytes(&mut scratch) else {
        // Other types estimate their own size when they land; until then a fixed guess.
        return ROBJ + 64;
    };
    match value.encoding() {
        "int" => ROBJ,
        "embstr" => jemalloc_size(ROBJ + 3 + bytes.len() + 1),
        _ => ROBJ + jemalloc_size(sds_header(bytes.len(), false) + bytes.len() + 1),
    }
}

/// `MEMORY STATS`: Redis's fields, from what this process can measure.
fn memory_stats(ctx: &mut Ctx, _argv: &[&[u8]]) {
    let mem = ProcessMemory::read();
    let keys: usize = ctx.state.dbs.iter().map(|d| d.len()).sum();
    let non_empty: Vec<(usize, usize, usize)> = ctx
        .state
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .map(|(i, d)| (i, d.dict.capacity(), d.dict.expiring_len()))
        .collect();
    ctx.out.map(27 + non_empty.len());
    let int_fields: [(&str, u64); 10] = [
        ("peak.allocated", mem.peak),
        ("total.allocated", mem.rss),
        ("startup.allocated", 0),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", 0),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
    ];
    for (name, v) in int_fields {
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(v as i64);
    }
    for (i, slots, expiring) in non_empty {
        ctx.out.bulk(format!("db.{i}").as_bytes());
        ctx.out.map(3);
        ctx.out.bulk(b"overhead.hashtable.main");
        ctx.out.int((slots * (DICT_ENTRY + 8)) as i64);
        ctx.out.bulk(b"overhead.hashtable.expires");
        ctx.out.int((expiring * (DICT_ENTRY + 8)) as i64);
        ctx.out.bulk(b"overhead.hashtable.slot-to-keys");
        ctx.out.int(0);
    }
    let per_key = if keys > 0 { mem.rss / keys as u64 } else { 0 };
    let peak_pct = if mem.peak > 0 {
        mem.rss as f64 * 100.0 / mem.peak as f64
    } else {
        100.0
    };
    let rest: [(&str, Option<u64>, f64); 17] = [
        ("overhead.total", Some(0), 0.0),
        ("keys.count", Some(keys as u64), 0.0),
        ("keys.bytes-per-key", Some(per_key), 0.0),
        ("dataset.bytes", Some(mem.rss), 0.0),
        ("dataset.percentage", None, 100.0),
        ("peak.percentage", None, peak_pct),
        ("allocator.allocated", Some(mem.rss), 0.0),
        ("allocator.active", Some(mem.rss), 0.0),
        ("allocator.resident", Some(mem.rss), 0.0),
        ("allocator-fragmentation.ratio", None, 1.0),
        ("allocator-fragmentation.bytes", Some(0), 0.0),
        ("allocator-rss.ratio", None, 1.0),
        ("allocator-rss.bytes", Some(0), 0.0),
        ("rss-overhead.ratio", None, 1.0),
        ("rss-overhead.bytes", Some(0), 0.0),
        ("fragmentation", None, 1.0),
        ("fragmentation.bytes", Some(0), 0.0),
    ];
    for (name, int, double) in rest {
        ctx.out.bulk(name.as_bytes());
        match int {
            Some(v) => ctx.out.int(v as i64),
            None => ctx.out.double(double),
        }
    }
}

/// `MEMORY DOCTOR`: Redis's report for an instance with nothing to report.
fn memory_doctor(ctx: &mut Ctx, _argv: &[&[u8]]) {
    let keys: usize = ctx.state.dbs.iter().map(|d| d.len()).sum();
    let text = if keys == 0 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    ctx.out.verbatim(text.as_bytes());
}

/// `MEMORY MALLOC-STATS`: Redis's answer when not built with jemalloc.
fn memory_malloc_stats(ctx: &mut Ctx, _argv: &[&[u8]]) {
    ctx.out
        .verbatim(b"Stats not supported for the current allocator");
}

fn memory_purge(ctx: &mut Ctx, _argv: &[&[u8]]) {
    ctx.out.ok();
}

fn memory_help(ctx: &mut Ctx, _argv: &[&[u8]]) {
    help(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::process_command as execute;
    use crate::reply::{Protocol, Reply};
    use crate::state::{Client, State};
    use tokio::sync::watch;

    struct Server {
        state: State,
        client: Client,
        shutdown: watch::Receiver<bool>,
    }

    impl Server {
        fn new() -> Server {
            let (tx, shutdown) = watch::channel(false);
            let addr = "127.0.0.1:50000".parse().expect("addr");
            let laddr = "127.0.0.1:6379".parse().expect("addr");
            Server {
                state: State::new(Config::default(), tx),
                client: Client::new(1, addr, laddr, true),
                shutdown,
            }
        }

        /// Runs one command; returns the raw RESP2 reply.
        fn run(&mut self, args: &[&str]) -> String {
            let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            let mut out = Reply::new(Protocol::Resp2);
            let _ = execute(&mut self.state, &mut self.client, &mut out, &argv);
            String::from_utf8_lossy(&out.buf).into_owned()
        }

        fn info_field(&mut self, section: &str, field: &str) -> String {
            let text = self.run(&["INFO", section]);
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{field}:")))
                .unwrap_or_else(|| panic!("no {field} in {text}"))
                .to_string()
        }
    }

    #[test]
    fn save_answers_ok_and_is_recorded_in_info_persistence() {
        let mut s = Server::new();
        s.run(&["SET", "a", "1"]);
        assert_eq!(
            s.info_field("persistence", "rdb_changes_since_last_save"),
            "1"
        );
        assert_eq!(s.run(&["SAVE"]), "+OK\r\n");
        assert_eq!(
            s.info_field("persistence", "rdb_changes_since_last_save"),
            "0"
        );
        assert_eq!(s.info_field("persistence", "rdb_saves"), "1");
        assert_eq!(s.info_field("persistence", "lockstep_persistence"), "none");
    }

    #[test]
    fn bgsave_answers_like_redis_and_updates_lastsave() {
        let mut s = Server::new();
        s.state.last_save = 0;
        assert_eq!(s.run(&["BGSAVE"]), "+Background saving started\r\n");
        assert_eq!(
            s.run(&["BGSAVE", "SCHEDULE"]),
            "+Background saving started\r\n"
        );
        assert_ne!(s.run(&["LASTSAVE"]), ":0\r\n");
        assert_eq!(s.info_field("persistence", "rdb_saves"), "2");
        assert_eq!(s.info_field("persistence", "rdb_last_bgsave_status"), "ok");
    }

    #[test]
    fn flush_counts_removed_keys_as_changes() {
        let mut s = Server::new();
        s.run(&["SET", "a", "1"]);
        s.run(&["SET", "b", "1"]);
        s.run(&["FLUSHALL"]);
        s.run(&["FLUSHALL"]);
        assert_eq!(
            s.info_field("persistence", "rdb_changes_since_last_save"),
            "4"
        );
    }

    #[test]
    fn shutdown_stops_the_server_without_a_reply() {
        let mut s = Server::new();
        assert_eq!(s.run(&["SHUTDOWN", "NOSAVE", "NOW"]), "");
        assert!(*s.shutdown.borrow());
        assert!(s.client.close_after_reply);
    }

    #[test]
    fn shutdown_abort_leaves_the_server_running() {
        let mut s = Server::new();
        assert_eq!(
            s.run(&["SHUTDOWN", "ABORT"]),
            "-ERR No shutdown in progress.\r\n"
        );
        assert!(!*s.shutdown.borrow());
    }

    #[test]
    fn info_server_reports_redis_7_0_15_standalone() {
        let mut s = Server::new();
        assert_eq!(s.info_field("server", "redis_version"), "7.0.15");
        assert_eq!(s.info_field("server", "redis_mode"), "standalone");
        assert_eq!(s.info_field("server", "tcp_port"), "6379");
        assert_eq!(s.info_field("server", "run_id").len(), 40);
        assert_eq!(
            s.info_field("server", "run_id"),
            s.info_field("server", "run_id")
        );
        assert_eq!(s.info_field("replication", "role"), "master");
    }

    #[test]
    fn info_stats_sums_keyspace_counters_over_databases() {
        let mut s = Server::new();
        s.run(&["SET", "a", "1"]);
        s.run(&["GET", "a"]);
        s.run(&["GET", "missing"]);
        s.state.dbs[3].stats.hits = 5;
        assert_eq!(s.info_field("stats", "keyspace_hits"), "6");
        assert_eq!(s.info_field("stats", "keyspace_misses"), "1");
        assert_eq!(s.run(&["CONFIG", "RESETSTAT"]), "+OK\r\n");
        assert_eq!(s.info_field("stats", "keyspace_hits"), "0");
    }

    #[test]
    fn info_memory_reads_the_process_rss() {
        let mut s = Server::new();
        let rss: u64 = s
            .info_field("memory", "used_memory_rss")
            .parse()
            .expect("int");
        assert!(rss > 0);
        assert_eq!(s.info_field("memory", "maxmemory_policy"), "noeviction");
    }

    #[test]
    fn info_sections_are_separated_by_a_blank_line_with_crlf() {
        let mut s = Server::new();
        let reply = s.run(&["INFO", "cluster", "keyspace"]);
        assert!(reply.ends_with("# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\n\r\n"));
    }

    #[test]
    fn config_set_refuses_what_this_server_cannot_do() {
        let mut s = Server::new();
        let reply = s.run(&["CONFIG", "SET", "appendonly", "yes"]);
        assert!(
            reply.starts_with("-ERR CONFIG SET failed (possibly related to argument 'appendonly')")
        );
        let reply = s.run(&["CONFIG", "SET", "save", "3600 1"]);
        assert!(reply.starts_with("-ERR CONFIG SET failed (possibly related to argument 'save')"));
        let reply = s.run(&["CONFIG", "SET", "port", "7000"]);
        assert!(reply.starts_with("-ERR CONFIG SET failed (possibly related to argument 'port')"));
        assert_eq!(
            s.run(&["CONFIG", "GET", "save"]),
            "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn config_set_requirepass_changes_the_password() {
        let mut s = Server::new();
        assert_eq!(s.run(&["CONFIG", "SET", "requirepass", "pw"]), "+OK\r\n");
        assert_eq!(s.state.config.requirepass.as_deref(), Some(&b"pw"[..]));
        assert_eq!(s.run(&["CONFIG", "SET", "requirepass", ""]), "+OK\r\n");
        assert_eq!(s.state.config.requirepass, None);
    }

    #[test]
    fn config_set_failure_restores_earlier_values() {
        let mut s = Server::new();
        let reply = s.run(&["CONFIG", "SET", "hz", "20", "maxclients", "0"]);
        assert!(reply.starts_with("-ERR"));
        assert_eq!(s.state.config.hz, 10);
        assert_eq!(
            s.run(&["CONFIG", "SET", "hz", "20", "timeout", "30"]),
            "+OK\r\n"
        );
        assert_eq!((s.state.config.hz, s.state.config.timeout), (20, 30));
    }

    #[test]
    fn debug_populate_creates_keys_and_keeps_existing_ones() {
        let mut s = Server::new();
        s.run(&["SET", "key:1", "mine"]);
        assert_eq!(s.run(&["DEBUG", "POPULATE", "3"]), "+OK\r\n");
        assert_eq!(s.run(&["DBSIZE"]), ":3\r\n");
        assert_eq!(s.run(&["GET", "key:0"]), "$7\r\nvalue:0\r\n");
        assert_eq!(s.run(&["GET", "key:1"]), "$4\r\nmine\r\n");
    }

    #[test]
    fn debug_populate_pads_and_cuts_values_to_size() {
        let mut s = Server::new();
        assert_eq!(s.run(&["DEBUG", "POPULATE", "2", "p", "10"]), "+OK\r\n");
        assert_eq!(s.run(&["GET", "p:1"]), "$10\r\nvalue:1\0\0\0\r\n");
        assert_eq!(s.run(&["DEBUG", "POPULATE", "1", "q", "3"]), "+OK\r\n");
        assert_eq!(s.run(&["GET", "q:0"]), "$3\r\nval\r\n");
    }

    #[test]
    fn debug_populate_rejects_negative_counts_and_sizes() {
        let mut s = Server::new();
        let err = "-ERR value is out of range, must be positive\r\n";
        assert_eq!(s.run(&["DEBUG", "POPULATE", "-1"]), err);
        assert_eq!(s.run(&["DEBUG", "POPULATE", "abc"]), err);
        assert_eq!(s.run(&["DEBUG", "POPULATE", "1", "k", "-1"]), err);
    }

    #[test]
    fn debug_sleep_holds_the_server_for_the_time_given() {
        let mut s = Server::new();
        let start = std::time::Instant::now();
        assert_eq!(s.run(&["DEBUG", "SLEEP", "0.05"]), "+OK\r\n");
        assert!(start.elapsed() >= std::time::Duration::from_millis(50));
        assert_eq!(s.run(&["DEBUG", "SLEEP", "abc"]), "+OK\r\n");
    }

    #[test]
    fn debug_unknown_subcommand_gets_redis_error() {
        let mut s = Server::new();
        assert_eq!(
            s.run(&["DEBUG", "RELOAD"]),
            "-ERR unknown subcommand or wrong number of arguments for 'RELOAD'. Try DEBUG HELP.\r\n"
        );
        assert!(s
            .run(&["DEBUG", "SLEEP"])
            .starts_with("-ERR unknown subcommand"));
    }

    #[test]
    fn debug_is_refused_to_remote_clients() {
        let mut s = Server::new();
        s.client.addr = "10.1.2.3:4000".parse().expect("addr");
        assert_eq!(
            s.run(&["DEBUG", "SLEEP", "0"]),
            format!("-{DEBUG_NOT_ALLOWED}\r\n")
        );
    }

    #[test]
    fn jemalloc_size_classes() {
        let classes = [
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (27, 32),
            (54, 64),
            (129, 160),
        ];
        for (n, class) in classes {
            assert_eq!(jemalloc_size(n), class, "size {n}");
        }
        assert_eq!(jemalloc_size(154), 160);
        assert_eq!(jemalloc_size(257), 320);
        assert_eq!(jemalloc_size(4097), 5120);
    }

    #[test]
    fn strtod_prefix_reads_like_c() {
        assert_eq!(strtod_prefix(b"0.5"), 0.5);
        assert_eq!(strtod_prefix(b"2abc"), 2.0);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
        assert_eq!(strtod_prefix(b"-1"), -1.0);
    }
}
