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
        .map(|e| key_usage(&e.key) + value_usage(&e.value) + DICT_ENTRY);
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

/// `MEMORY STATS`: Redis's fields, from what this process can measure.
pub(super) fn memory_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let mem = ProcessMemory::read();
    let keys: usize = ctx.state.dbs.iter().map(|d| d.len()).sum();
    let non_empty: Vec<(usize, usize, usize)> = ctx
        .state
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .map(|(i, d)| (i, d.dict().capacity(), d.dict().expiring_len()))
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
    Ok(Done)
}

/// `MEMORY DOCTOR`: Redis's report for an instance with nothing to report.
pub(super) fn memory_doctor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let keys: usize = ctx.state.dbs.iter().map(|d| d.len()).sum();
    let text = if keys == 0 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(Done)
}

/// `MEMORY MALLOC-STATS`: Redis's answer when not built with jemalloc.
pub(super) fn memory_malloc_stats(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    ctx.out
        .verbatim(b"Stats not supported for the current allocator");
    Ok(Done)
}

pub(super) fn memory_purge(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
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

/// The process's memory as the kernel reports it (zeros where /proc is missing).
pub(super) struct ProcessMemory {
    pub(super) rss: u64,
    pub(super) peak: u64,
    pub(super) total_system: u64,
}

impl ProcessMemory {
    pub(super) fn read() -> ProcessMemory {
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
