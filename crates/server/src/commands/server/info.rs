//! INFO: the server's state as Redis's sections of `field:value` lines.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};

use super::memory::MemoryReport;
use crate::command::{CommandResult, Ctx, Done};
use crate::keyspace::{DbStats, NO_EXPIRY};
use crate::state::{unix_micros, State, Stats};

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
pub(super) fn info(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    // A BGSAVE that ended shows in persistence at once (Redis's cron would have reaped it).
    crate::rdb::file::poll_child(ctx.state, ctx.now);
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
    Ok(Done)
}

/// Appends `name:value\r\n`.
macro_rules! field {
    ($out:expr, $name:expr, $($arg:tt)*) => {{
        let _ = write!($out, "{}:", $name);
        let _ = write!($out, $($arg)*);
        $out.push_str("\r\n");
    }};
}

/// Appends a section's fields in order, each `name => value` (anything `Display`; a
/// `format_args!` for a formatted number) as a `name:value\r\n` line. Most are Redis's
/// fields for features this server lacks, at the value Redis shows without them.
macro_rules! fields {
    ($out:expr, $($name:literal => $value:expr),* $(,)?) => {{
        $(field!($out, $name, "{}", $value);)*
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
            let exe = std::env::current_exe()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            fields!(out,
                "redis_version" => "7.0.15",
                "redis_git_sha1" => "00000000",
                "redis_git_dirty" => "0",
                "redis_build_id" => &hex_id(ctx, 1)[..15],
                "redis_mode" => if state.cluster.is_some() { "cluster" } else { "standalone" },
                "os" => os_name(),
                "arch_bits" => usize::BITS,
                "monotonic_clock" => "POSIX clock_gettime",
                "multiplexing_api" => "epoll",
                "atomicvar_api" => "c11-builtin",
                "gcc_version" => "0.0.0",
                "process_id" => std::process::id(),
                "process_supervised" => "no",
                "run_id" => hex_id(ctx, 2),
                "tcp_port" => state.config.port,
                "server_time_usec" => unix_micros(),
                "uptime_in_seconds" => uptime,
                "uptime_in_days" => uptime / 86400,
                "hz" => state.config.hz,
                "configured_hz" => state.config.hz,
                "lru_clock" => (ctx.now / 1000) & ((1 << 24) - 1),
                "executable" => exe,
                "config_file" => "",
                "io_threads_active" => "0",
            );
        }
        "clients" => {
            let max_qbuf = state
                .clients
                .values()
                .map(|c| c.client.query_buf)
                .max()
                .unwrap_or(0);
            fields!(out,
                "connected_clients" => state.clients.len(),
                "cluster_connections" => state.cluster.as_ref().map_or(0, |c| c.links()),
                "maxclients" => state.config.maxclients,
                "client_recent_max_input_buffer" => max_qbuf,
                "client_recent_max_output_buffer" => "0",
                "blocked_clients" => state.blocked.len(),
                "tracking_clients" => "0",
                "clients_in_timeout_table" => "0",
            );
        }
        "memory" => memory_section(state, out),
        "persistence" => {
            let saves = state.config.saves;
            let changes = state.mods.dirty.saturating_sub(saves.dirty_at_last_save);
            let current = saves
                .child
                .map_or(-1, |c| c.started.elapsed().as_secs() as i64);
            let ok = |b: bool| if b { "ok" } else { "err" };
            fields!(out,
                "loading" => "0",
                "async_loading" => "0",
                "current_cow_peak" => "0",
                "current_cow_size" => "0",
                "current_cow_size_age" => "0",
                "current_fork_perc" => "0.00",
                "current_save_keys_processed" => "0",
                "current_save_keys_total" => "0",
                "rdb_changes_since_last_save" => changes,
                "rdb_bgsave_in_progress" => u8::from(saves.child.is_some()),
                "rdb_last_save_time" => state.last_save,
                "rdb_last_bgsave_status" => ok(saves.last_bgsave_ok),
                "rdb_last_bgsave_time_sec" => saves.last_bgsave_secs,
                "rdb_current_bgsave_time_sec" => current,
                "rdb_saves" => saves.saves,
                "rdb_last_cow_size" => "0",
                "rdb_last_load_keys_expired" => saves.loaded_expired,
                "rdb_last_load_keys_loaded" => saves.loaded_keys,
            );
            crate::aof::info(state, out);
        }
        "stats" => {
            let s: Stats = state.stats;
            let (channels, patterns, shard_channels) = state.pubsub.sizes();
            let db = db_stats_sum(ctx);
            fields!(out,
                "total_connections_received" => s.connections_received,
                "total_commands_processed" => s.commands_processed,
                "instantaneous_ops_per_sec" => "0",
                "total_net_input_bytes" => s.net_input_bytes,
                "total_net_output_bytes" => s.net_output_bytes,
                "total_net_repl_input_bytes" => "0",
                "total_net_repl_output_bytes" => "0",
                "instantaneous_input_kbps" => "0.00",
                "instantaneous_output_kbps" => "0.00",
                "instantaneous_input_repl_kbps" => "0.00",
                "instantaneous_output_repl_kbps" => "0.00",
                "rejected_connections" => s.rejected_connections,
                "sync_full" => state.wire_repl.sync_full,
                "sync_partial_ok" => state.wire_repl.sync_partial_ok,
                "sync_partial_err" => state.wire_repl.sync_partial_err,
                "expired_keys" => db.expired,
                "expired_stale_perc" => "0.00",
                "expired_time_cap_reached_count" => "0",
                "expire_cycle_cpu_milliseconds" => "0",
                "evicted_keys" => state.memory.evicted_keys,
                "evicted_clients" => state.stats.evicted_clients,
                "total_eviction_exceeded_time" => "0",
                "current_eviction_exceeded_time" => "0",
                "keyspace_hits" => db.hits,
                "keyspace_misses" => db.misses,
                "pubsub_channels" => channels,
                "pubsub_patterns" => patterns,
                "pubsubshard_channels" => shard_channels,
                "latest_fork_usec" => "0",
                "total_forks" => "0",
                "migrate_cached_sockets" => "0",
                "slave_expires_tracked_keys" => "0",
                "active_defrag_hits" => "0",
                "active_defrag_misses" => "0",
                "active_defrag_key_hits" => "0",
                "active_defrag_key_misses" => "0",
                "total_active_defrag_time" => "0",
                "current_active_defrag_time" => "0",
                "tracking_total_keys" => "0",
                "tracking_total_items" => "0",
                "tracking_total_prefixes" => "0",
                "unexpected_error_replies" => "0",
                "total_error_replies" => s.error_replies,
                "dump_payload_sanitizations" => "0",
                "total_reads_processed" => "0",
                "total_writes_processed" => "0",
                "io_threaded_reads_processed" => "0",
                "io_threaded_writes_processed" => "0",
                "reply_buffer_shrinks" => "0",
                "reply_buffer_expands" => "0",
            );
        }
        "replication" if crate::replication::info(state, out) => {}
        "replication" => crate::replication_wire::info(state, out),
        "cpu" => {
            let (user, sys) = cpu_seconds();
            fields!(out,
                "used_cpu_sys" => format_args!("{sys:.6}"),
                "used_cpu_user" => format_args!("{user:.6}"),
                "used_cpu_sys_children" => "0.000000",
                "used_cpu_user_children" => "0.000000",
                "used_cpu_sys_main_thread" => format_args!("{sys:.6}"),
                "used_cpu_user_main_thread" => format_args!("{user:.6}"),
            );
        }
        "cluster" => field!(out, "cluster_enabled", "{}", state.cluster.is_some() as u8),
        "keyspace" => {
            for (i, db) in state.dbs.iter().enumerate() {
                if db.is_empty() {
                    continue;
                }
                let expires = db.dict().expiring_len();
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

fn memory_section(state: &State, out: &mut String) {
    let (config, scripts, functions) = (&state.config, &state.scripts, &state.functions);
    let m = MemoryReport::read(state);
    let lua = scripts.lua_memory() as u64;
    let vm_functions = functions.lua_memory() as u64;
    let maxmemory = config.maxmemory;
    let a = m.allocator;
    let (frag, frag_bytes) = m.allocator_frag();
    let (rss_ratio, rss_bytes) = m.allocator_rss();
    let (overhead_ratio, overhead_bytes) = m.rss_overhead();
    let (total_frag, total_frag_bytes) = m.fragmentation();
    fields!(out,
        "used_memory" => m.used,
        "used_memory_human" => human(m.used),
        "used_memory_rss" => m.rss,
        "used_memory_rss_human" => human(m.rss),
        "used_memory_peak" => m.peak,
        "used_memory_peak_human" => human(m.peak),
        "used_memory_peak_perc" => format_args!("{:.2}%", m.peak_perc()),
        "used_memory_overhead" => m.overhead,
        "used_memory_startup" => m.startup,
        "used_memory_dataset" => m.dataset,
        "used_memory_dataset_perc" => format_args!("{:.2}%", m.dataset_perc()),
        "allocator_allocated" => a.allocated,
        "allocator_active" => a.active,
        "allocator_resident" => a.resident,
        "total_system_memory" => m.total_system,
        "total_system_memory_human" => human(m.total_system),
        "used_memory_lua" => lua,
        "used_memory_vm_eval" => lua,
        "used_memory_lua_human" => human(lua),
        "used_memory_scripts_eval" => "0",
        "number_of_cached_scripts" => scripts.cached_scripts(),
        "number_of_functions" => functions.function_count(),
        "number_of_libraries" => functions.library_count(),
        "used_memory_vm_functions" => vm_functions,
        "used_memory_vm_total" => lua + vm_functions,
        "used_memory_vm_total_human" => human(lua + vm_functions),
        "used_memory_functions" => functions.overhead(),
        "used_memory_scripts" => functions.overhead(),
        "used_memory_scripts_human" => human(functions.overhead() as u64),
        "maxmemory" => maxmemory,
        "maxmemory_human" => human(maxmemory),
        "maxmemory_policy" => config.maxmemory_policy.name(),
        "allocator_frag_ratio" => format_args!("{frag:.2}"),
        "allocator_frag_bytes" => frag_bytes,
        "allocator_rss_ratio" => format_args!("{rss_ratio:.2}"),
        "allocator_rss_bytes" => rss_bytes,
        "rss_overhead_ratio" => format_args!("{overhead_ratio:.2}"),
        "rss_overhead_bytes" => overhead_bytes,
        "mem_fragmentation_ratio" => format_args!("{total_frag:.2}"),
        "mem_fragmentation_bytes" => total_frag_bytes,
        "mem_not_counted_for_evict" => "0",
        "mem_replication_backlog" => "0",
        "mem_total_replication_buffers" => "0",
        "mem_clients_slaves" => "0",
        "mem_clients_normal" => m.clients_normal,
        "mem_cluster_links" => "0",
        "mem_aof_buffer" => "0",
        "mem_allocator" => crate::alloc::allocator_name(),
        "active_defrag_running" => "0",
        "lazyfree_pending_objects" => "0",
        "lazyfreed_objects" => "0",
    );
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
    let n = db.dict().expiring_len();
    if n == 0 {
        return 0;
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(now as u64);
    let (mut sum, mut count) = (0i64, 0i64);
    for _ in 0..SAMPLE.min(n) {
        let Some(e) = db
            .dict()
            .random_expiring(&mut rng)
            .and_then(|i| db.dict().at(i))
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

#[cfg(test)]
mod tests {
    use super::super::tests::Server;

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
        s.run(&["SELECT", "3"]);
        s.run(&["SET", "b", "1"]);
        s.run(&["GET", "b"]);
        s.run(&["GET", "b"]);
        assert_eq!(s.info_field("stats", "keyspace_hits"), "3");
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
}
