//! MEMORY USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE and HELP, and the process's memory
//! as INFO memory reports it too.

use crate::args::Args;
use crate::command::{CommandResult, Ctx, Done};
use crate::commands::help;
use crate::errors;
use crate::keyspace::Value;

/// `MEMORY USAGE key [SAMPLES count]`: bytes used by the key, its value and its entry, as
/// Redis counts them with jemalloc's size classes; null when the key does not exist.
pub(super) fn memory_usage(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut args = Args::new(argv, 3);
    while !args.is_empty() {
        if args.remaining() < 2 || !args.keyword("samples") || args.i64()? < 0 {
            return Err(errors::SYNTAX.into());
        }
    }
    // Like Redis, this looks at the dict directly: no expiry, no hit or miss.
    let usage = ctx
        .db()
        .raw()
        .dict()
        .get(argv[2])
        .map(|e| key_usage(e.key) + value_usage(e.value) + DICT_ENTRY);
    match usage {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(Done)
}

/// Redis's `dictEntry`.
const DICT_ENTRY: usize = 24;
/// Redis's `robj`.
const ROBJ: usize = 16;

/// jemalloc's size class for an allocation of `n` bytes.
pub fn jemalloc_size(n: usize) -> usize {
    crate::alloc::size_class(n)
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
        Value::Stream(x) => return ROBJ + x.memory_usage(),
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

/// What INFO memory and MEMORY STATS report, computed once as Redis's
/// `getMemoryOverheadData` does: `used_memory` from the counting allocator (`alloc`),
/// jemalloc's own figures beside it, the process's RSS, and the overhead of the server
/// itself (its memory at startup, client buffers, script caches, the key tables) told
/// apart from the dataset.
pub(super) struct MemoryReport {
    pub(super) used: u64,
    pub(super) peak: u64,
    pub(super) startup: u64,
    pub(super) rss: u64,
    pub(super) clients_normal: u64,
    pub(super) lua_caches: u64,
    pub(super) functions_caches: u64,
    /// Per non-empty database: its number, the overhead of its key table and of its TTLs.
    pub(super) dbs: Vec<(usize, u64, u64)>,
    pub(super) overhead: u64,
    pub(super) dataset: u64,
    pub(super) keys: u64,
    pub(super) allocator: crate::alloc::AllocatorStats,
    pub(super) total_system: u64,
}

impl MemoryReport {
    pub(super) fn read(state: &crate::state::State) -> MemoryReport {
        let used = crate::alloc::used_memory();
        let peak = crate::alloc::used_memory_peak().max(used);
        let rss = crate::alloc::process_rss();
        // Without jemalloc, the allocator's figures are the counted ones.
        let allocator = crate::alloc::allocator_stats().unwrap_or(crate::alloc::AllocatorStats {
            allocated: used,
            active: used,
            resident: used,
            mapped: used,
            retained: 0,
        });
        let startup = state.memory.startup.min(used);
        let clients_normal: u64 = state
            .clients
            .values()
            .map(|c| (c.client.query_buf + c.client.query_buf_free + c.pushed.capacity()) as u64)
            .sum();
        let lua_caches = state.scripts.lua_memory() as u64;
        let functions_caches = state.functions.overhead() as u64;
        let dbs: Vec<(usize, u64, u64)> = state
            .dbs
            .iter()
            .enumerate()
            .filter(|(_, d)| !d.is_empty())
            .map(|(i, d)| {
                let (main, expires) = d.dict().overhead();
                (i, main as u64, expires as u64)
            })
            .collect();
        let keys: u64 = state.dbs.iter().map(|d| d.len() as u64).sum();
        let overhead = startup
            + clients_normal
            + lua_caches
            + functions_caches
            + dbs.iter().map(|(_, m, e)| m + e).sum::<u64>();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let total_system = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        MemoryReport {
            used,
            peak,
            startup,
            rss,
            clients_normal,
            lua_caches,
            functions_caches,
            dbs,
            overhead,
            dataset: used.saturating_sub(overhead),
            keys,
            allocator,
            total_system,
        }
    }

    pub(super) fn peak_perc(&self) -> f64 {
        ratio(self.used, self.peak) * 100.0
    }

    pub(super) fn dataset_perc(&self) -> f64 {
        ratio(self.dataset, self.used.saturating_sub(self.startup)) * 100.0
    }

    pub(super) fn allocator_frag(&self) -> (f64, i64) {
        let a = &self.allocator;
        (
            ratio(a.active, a.allocated),
            a.active as i64 - a.allocated as i64,
        )
    }

    pub(super) fn allocator_rss(&self) -> (f64, i64) {
        let a = &self.allocator;
        (
            ratio(a.resident, a.active),
            a.resident as i64 - a.active as i64,
        )
    }

    pub(super) fn rss_overhead(&self) -> (f64, i64) {
        let a = &self.allocator;
        (
            ratio(self.rss, a.resident),
            self.rss as i64 - a.resident as i64,
        )
    }

    /// INFO's `mem_fragmentation_ratio` and `_bytes`: RSS against `used_memory`.
    pub(super) fn fragmentation(&self) -> (f64, i64) {
        (
            ratio(self.rss, self.used),
            self.rss as i64 - self.used as i64,
        )
    }
}

/// `a / b`, 0 when `b` is 0 (Redis prints such ratios as 0).
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// `MEMORY STATS`: Redis's fields in Redis's order (`memoryCommand`).
pub(super) fn memory_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let m = MemoryReport::read(ctx.state);
    ctx.out.map(27 + m.dbs.len());
    let int_fields: [(&str, u64); 10] = [
        ("peak.allocated", m.peak),
        ("total.allocated", m.used),
        ("startup.allocated", m.startup),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", m.clients_normal),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", m.lua_caches),
        ("functions.caches", m.functions_caches),
    ];
    for (name, v) in int_fields {
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(v as i64);
    }
    for &(i, main, expires) in &m.dbs {
        ctx.out.bulk(format!("db.{i}").as_bytes());
        ctx.out.map(3);
        ctx.out.bulk(b"overhead.hashtable.main");
        ctx.out.int(main as i64);
        ctx.out.bulk(b"overhead.hashtable.expires");
        ctx.out.int(expires as i64);
        ctx.out.bulk(b"overhead.hashtable.slot-to-keys");
        ctx.out.int(0);
    }
    let per_key = m
        .used
        .saturating_sub(m.startup)
        .checked_div(m.keys)
        .unwrap_or(0);
    let a = m.allocator;
    let (frag, frag_bytes) = m.allocator_frag();
    let (rss_ratio, rss_bytes) = m.allocator_rss();
    let (overhead_ratio, overhead_bytes) = m.rss_overhead();
    let (total_frag, total_frag_bytes) = m.fragmentation();
    enum V {
        I(i64),
        D(f64),
    }
    let rest: [(&str, V); 17] = [
        ("overhead.total", V::I(m.overhead as i64)),
        ("keys.count", V::I(m.keys as i64)),
        ("keys.bytes-per-key", V::I(per_key as i64)),
        ("dataset.bytes", V::I(m.dataset as i64)),
        ("dataset.percentage", V::D(m.dataset_perc())),
        ("peak.percentage", V::D(m.peak_perc())),
        ("allocator.allocated", V::I(a.allocated as i64)),
        ("allocator.active", V::I(a.active as i64)),
        ("allocator.resident", V::I(a.resident as i64)),
        ("allocator-fragmentation.ratio", V::D(frag)),
        ("allocator-fragmentation.bytes", V::I(frag_bytes)),
        ("allocator-rss.ratio", V::D(rss_ratio)),
        ("allocator-rss.bytes", V::I(rss_bytes)),
        ("rss-overhead.ratio", V::D(overhead_ratio)),
        ("rss-overhead.bytes", V::I(overhead_bytes)),
        ("fragmentation", V::D(total_frag)),
        ("fragmentation.bytes", V::I(total_frag_bytes)),
    ];
    for (name, v) in rest {
        ctx.out.bulk(name.as_bytes());
        match v {
            // Redis computes these as C floats.
            V::D(d) => ctx.out.double(d as f32 as f64),
            V::I(n) => ctx.out.int(n),
        }
    }
    Ok(Done)
}

/// `MEMORY DOCTOR`: Redis's `getMemoryDoctorReport`, its checks and its words.
pub(super) fn memory_doctor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let m = MemoryReport::read(ctx.state);
    let text = doctor_report(&m, ctx.state.clients.len());
    ctx.out.verbatim(text.as_bytes());
    Ok(Done)
}

fn doctor_report(m: &MemoryReport, clients: usize) -> String {
    // Redis: under 5 MB nothing can be said.
    if m.used < 1024 * 1024 * 5 {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".to_string();
    }
    let mut issues = Vec::new();
    if m.peak as f64 / m.used as f64 > 1.5 {
        issues.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
    }
    let (frag, frag_bytes) = m.allocator_frag();
    if frag > 1.1 && frag_bytes > 10 << 20 {
        issues.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You may try enabling 'activedefrag' config option.\n\n");
    }
    let (rss, rss_bytes) = m.allocator_rss();
    if rss > 1.1 && rss_bytes > 10 << 20 {
        issues.push(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n");
    }
    let (overhead, overhead_bytes) = m.rss_overhead();
    if overhead > 1.1 && overhead_bytes > 10 << 20 {
        issues.push(" * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n");
    }
    if clients > 0 && m.clients_normal / clients as u64 > 200 * 1024 {
        issues.push(" * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n");
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".to_string();
    }
    let mut text =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    for issue in issues {
        text.push_str(issue);
    }
    text.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    text
}

/// `MEMORY MALLOC-STATS`: jemalloc's report, or Redis's answer for another allocator.
pub(super) fn memory_malloc_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    match crate::alloc::malloc_stats() {
        Some(text) => ctx.out.verbatim(&text),
        None => ctx
            .out
            .verbatim(b"Stats not supported for the current allocator"),
    }
    Ok(Done)
}

/// `MEMORY PURGE`: jemalloc gives its dirty pages back. Redis answers OK whatever the
/// allocator.
pub(super) fn memory_purge(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    crate::alloc::purge();
    ctx.out.ok();
    Ok(Done)
}

pub(super) fn memory_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
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
    Ok(Done)
}

#[cfg(test)]
mod tests {
    use super::super::tests::Server;
    use super::*;

    #[test]
    fn memory_usage_reads_samples_with_redis_errors() {
        let mut s = Server::new();
        let usage = |s: &mut Server, args: &[&str]| {
            let argv: Vec<&str> = ["MEMORY", "USAGE", "nokey"]
                .iter()
                .chain(args)
                .copied()
                .collect();
            s.run(&argv)
        };
        assert_eq!(usage(&mut s, &[]), "$-1\r\n");
        assert_eq!(usage(&mut s, &["SAMPLES", "0"]), "$-1\r\n");
        assert_eq!(
            usage(&mut s, &["SAMPLES", "x"]),
            "-ERR value is not an integer or out of range\r\n"
        );
        for bad in [
            &["SAMPLES", "-1"][..],
            &["SAMPLES"],
            &["SAMPLES", "0", "foo"],
        ] {
            assert_eq!(usage(&mut s, bad), "-ERR syntax error\r\n", "{bad:?}");
        }
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
}
