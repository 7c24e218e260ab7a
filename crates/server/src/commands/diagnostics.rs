//! SLOWLOG and LATENCY, and INFO's latencystats section: what `crate::diagnostics` kept,
//! answered as Redis 7.0.15 answers it.
//!
//! ```text
//! SLOWLOG GET [count]        newest first; each [id, unix time, µs, argv, addr, name]
//! SLOWLOG LEN | RESET | HELP
//! LATENCY LATEST             [[event, time, latest ms, max ms], ...]
//! LATENCY HISTORY event      [[time, ms], ...]
//! LATENCY GRAPH event        an ASCII sparkline of the event's samples
//! LATENCY DOCTOR             a report on the events (or the "no spike" text)
//! LATENCY RESET [event ...]  how many events were dropped
//! LATENCY HISTOGRAM [cmd ..] {name: {calls, histogram_usec: {µs: cumulative count}}}
//! ```
//!
//! These handlers only read and reset what `diagnostics::record` keeps; they never time
//! anything themselves.

use std::fmt::Write as _;

use crate::command::{handler, CommandResult, CommandSpec, Ctx, Done, Entry, Registry};
use crate::config::percentile_text;
use crate::diagnostics::{Diagnostics, Histogram, LatencySeries};
use crate::errors;
use crate::reply::Reply;
use crate::state::{unix_millis, State};

use super::container;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("slowlog", container),
    handler("slowlog|get", slowlog_get),
    handler("slowlog|len", slowlog_len),
    handler("slowlog|reset", slowlog_reset),
    handler("slowlog|help", slowlog_help),
    handler("latency", container),
    handler("latency|latest", latency_latest),
    handler("latency|history", latency_history),
    handler("latency|graph", latency_graph),
    handler("latency|doctor", latency_doctor),
    handler("latency|reset", latency_reset),
    handler("latency|histogram", latency_histogram),
    handler("latency|help", latency_help),
];

// ---------------------------------------------------------------------------------------
// SLOWLOG

/// `SLOWLOG GET [count]`: the newest `count` entries (10 by default, -1 for all). A count
/// that is not an integer gets the same error as one below -1, as in Redis.
fn slowlog_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let log = &ctx.state.diagnostics.slowlog;
    let count = match argv.len() {
        2 => 10,
        3 => match crate::util::parse_i64(argv[2]) {
            Some(-1) => log.entries.len(),
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return Err(errors::SLOWLOG_COUNT_TOO_LOW.into()),
        },
        _ => return Err(errors::subcommand_syntax(argv[0], argv[1]).into()),
    };
    let count = count.min(log.entries.len());
    ctx.out.array(count);
    for entry in log.entries.iter().take(count) {
        ctx.out.array(6);
        ctx.out.int(entry.id as i64);
        ctx.out.int(entry.time);
        ctx.out.int(entry.usec as i64);
        ctx.out.bulks(entry.argv.iter());
        ctx.out.bulk(entry.addr.as_bytes());
        ctx.out.bulk(&entry.name);
    }
    Ok(Done)
}

/// `SLOWLOG LEN`: entries kept.
fn slowlog_len(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    ctx.out
        .int(ctx.state.diagnostics.slowlog.entries.len() as i64);
    Ok(Done)
}

/// `SLOWLOG RESET`: drops every entry; ids go on from where they were.
fn slowlog_reset(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    ctx.state.diagnostics.slowlog.entries.clear();
    ctx.out.ok();
    Ok(Done)
}

fn slowlog_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    super::help(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(Done)
}

// ---------------------------------------------------------------------------------------
// LATENCY

/// `LATENCY LATEST`: per event, its name, the time and latency of its newest sample, and
/// its all time high.
fn latency_latest(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let events = &ctx.state.diagnostics.events;
    ctx.out.array(events.len());
    for (event, series) in events {
        let latest = series.latest();
        ctx.out.array(4);
        ctx.out.bulk(event.as_bytes());
        ctx.out.int(latest.time);
        ctx.out.int(latest.millis as i64);
        ctx.out.int(series.max as i64);
    }
    Ok(Done)
}

/// `LATENCY HISTORY event`: the event's samples, oldest first; none for an unknown event.
/// Event names are matched exactly here (Redis looks them up in a case-sensitive dict).
fn latency_history(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let Some((_, series)) = exact_event(&ctx.state.diagnostics, argv[2]) else {
        ctx.out.array(0);
        return Ok(Done);
    };
    let samples: Vec<_> = series.samples().collect();
    ctx.out.array(samples.len());
    for sample in samples {
        ctx.out.array(2);
        ctx.out.int(sample.time);
        ctx.out.int(sample.millis as i64);
    }
    Ok(Done)
}

fn exact_event<'d>(
    diagnostics: &'d Diagnostics,
    name: &[u8],
) -> Option<(&'static str, &'d LatencySeries)> {
    diagnostics
        .event(name)
        .filter(|(event, _)| event.as_bytes() == name)
}

/// `LATENCY GRAPH event`: Redis's sparkline of the event's samples.
fn latency_graph(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let Some((event, series)) = exact_event(&ctx.state.diagnostics, argv[2]) else {
        let mut msg = b"ERR No samples available for event '".to_vec();
        msg.extend_from_slice(errors::c_string(argv[2]));
        msg.push(b'\'');
        return Err(msg.into());
    };
    let graph = latency_graph_text(event, series, unix_millis() / 1000);
    ctx.out.verbatim(graph.as_bytes());
    Ok(Done)
}

/// Redis's `LATENCY_GRAPH_COLS`.
const GRAPH_COLUMNS: usize = 80;
/// Rows of the sparkline itself, under which come the labels.
const GRAPH_ROWS: usize = 4;

/// Redis's `latencyCommandGenSparkeline`: a title line, a rule, then the samples as a
/// filled sparkline with labels saying how long ago each happened, read downwards.
fn latency_graph_text(event: &str, series: &LatencySeries, now: i64) -> String {
    let samples: Vec<(u64, String)> = series
        .samples()
        .map(|s| {
            let elapsed = now - s.time;
            let label = if elapsed < 60 {
                format!("{elapsed}s")
            } else if elapsed < 3600 {
                format!("{}m", elapsed / 60)
            } else if elapsed < 86_400 {
                format!("{}h", elapsed / 3600)
            } else {
                format!("{}d", elapsed / 86_400)
            };
            (s.millis, label)
        })
        .collect();
    let high = samples.iter().map(|s| s.0).max().unwrap_or(0);
    let low = samples.iter().map(|s| s.0).min().unwrap_or(0);
    let mut graph = format!(
        "{event} - high {high} ms, low {low} ms (all time high {} ms)\n",
        series.max
    );
    graph.push_str(&"-".repeat(GRAPH_COLUMNS));
    graph.push('\n');
    for (i, chunk) in samples.chunks(GRAPH_COLUMNS).enumerate() {
        if i != 0 {
            graph.push('\n');
        }
        sparkline(&mut graph, chunk, low as f64, high as f64);
    }
    graph
}

/// Redis's `sparklineRenderRange` with `SPARKLINE_FILL`, for samples that all have a
/// label: `GRAPH_ROWS` rows of `_o#` tops over `|` fill, a blank row, then the labels.
fn sparkline(out: &mut String, samples: &[(u64, String)], min: f64, max: f64) {
    const FILL: &[u8] = b"_o#";
    let steps = (FILL.len() * GRAPH_ROWS) as i64;
    let range = if max - min == 0.0 { 1.0 } else { max - min };
    let step_of = |value: u64| {
        let step = ((value as f64 - min) * steps as f64 / range) as i64;
        step.clamp(0, steps - 1)
    };
    for row in 0..GRAPH_ROWS as i64 {
        let line: String = samples
            .iter()
            .map(|(value, _)| {
                let index = step_of(*value) - (GRAPH_ROWS as i64 - row - 1) * FILL.len() as i64;
                match index {
                    i if i < 0 => ' ',
                    i if (i as usize) < FILL.len() => FILL[i as usize] as char,
                    _ => '|',
                }
            })
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&" ".repeat(samples.len()));
    out.push('\n');
    let longest = samples.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    for at in 0..longest {
        let line: String = samples
            .iter()
            .map(|(_, label)| label.as_bytes().get(at).map_or(' ', |&c| c as char))
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
}

/// `LATENCY DOCTOR`: Redis's report. Only the "command" and "fast-command" events exist
/// here, so only their advice can come up.
fn latency_doctor(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let report = latency_report(ctx.state, unix_millis() / 1000);
    ctx.out.verbatim(report.as_bytes());
    Ok(Done)
}

/// Redis's `createLatencyReport`.
fn latency_report(state: &State, now: i64) -> String {
    let events = &state.diagnostics.events;
    let config = &state.config;
    if events.is_empty() && config.latency_monitor_threshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let mut report = String::new();
    let (mut slowlog_enabled, mut slowlog_tuning, mut slowlog_inspect) = (false, false, false);
    let (mut scheduler, mut large_objects) = (false, false);
    for (n, (event, series)) in events.iter().enumerate() {
        if n == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let stats = EventStats::of(series, now);
        let _ = write!(
            report,
            "{}. {event}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            n + 1,
            stats.samples,
            stats.avg,
            stats.mad,
            stats.period as f64 / stats.samples as f64,
            series.max
        );
        match *event {
            "command" => {
                if config.slowlog_log_slower_than < 0 {
                    slowlog_enabled = true;
                } else if config.slowlog_log_slower_than / 1000
                    > config.latency_monitor_threshold as i64
                {
                    slowlog_tuning = true;
                }
                slowlog_inspect = true;
                large_objects = true;
            }
            "fast-command" => scheduler = true,
            _ => {}
        }
        report.push('\n');
    }
    let advices = slowlog_enabled || slowlog_tuning || slowlog_inspect || scheduler;
    if events.is_empty() {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        return report;
    }
    if !advices {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        return report;
    }
    report.push_str("\nI have a few advices for you:\n\n");
    let suggested = config.latency_monitor_threshold.saturating_mul(1000);
    if slowlog_enabled {
        let _ = writeln!(report, "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {suggested}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.");
    }
    if slowlog_tuning {
        let _ = writeln!(report, "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {suggested}'.");
    }
    if slowlog_inspect {
        report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    }
    if scheduler {
        report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
    }
    if large_objects {
        report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    report
}

/// Redis's `analyzeLatencyForEvent`, the parts the report prints (whole milliseconds).
struct EventStats {
    samples: u64,
    avg: u64,
    /// Mean absolute deviation from `avg`.
    mad: u64,
    /// Seconds since the oldest sample, at least 1.
    period: i64,
}

impl EventStats {
    fn of(series: &LatencySeries, now: i64) -> EventStats {
        let samples: Vec<_> = series.samples().collect();
        let n = samples.len() as u64;
        if n == 0 {
            return EventStats {
                samples: 0,
                avg: 0,
                mad: 0,
                period: 0,
            };
        }
        let avg = samples.iter().map(|s| s.millis).sum::<u64>() / n;
        let mad = samples.iter().map(|s| s.millis.abs_diff(avg)).sum::<u64>() / n;
        let oldest = samples.iter().map(|s| s.time).min().unwrap_or(now);
        EventStats {
            samples: n,
            avg,
            mad,
            period: (now - oldest).max(1),
        }
    }
}

/// `LATENCY RESET [event ...]`: drops the named events (in any letter case), or all of
/// them, and answers how many went.
fn latency_reset(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let diagnostics = &mut ctx.state.diagnostics;
    let resets = if argv.len() == 2 {
        diagnostics.reset_events(None)
    } else {
        argv[2..]
            .iter()
            .map(|name| diagnostics.reset_events(Some(name)))
            .sum()
    };
    ctx.out.int(resets as i64);
    Ok(Done)
}

/// `LATENCY HISTOGRAM [command ...]`: the latency histograms of the commands named (a
/// container names its subcommands too; unknown names and commands that never ran are
/// skipped, a name given twice is answered twice), or of every command that ran.
fn latency_histogram(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let registry = Registry::get();
    let diagnostics = &ctx.state.diagnostics;
    let mut found: Vec<(&'static str, &Histogram)> = Vec::new();
    let mut add = |cmd: &'static CommandSpec| {
        if let Some(h) = diagnostics.histogram(registry.id(cmd)) {
            found.push((cmd.full_name, h));
        }
    };
    if argv.len() == 2 {
        for (_, cmd) in registry.with_ids() {
            add(cmd);
        }
    } else {
        for name in &argv[2..] {
            let Some(cmd) = lookup_full_name(registry, name) else {
                continue;
            };
            add(cmd);
            for sub in &cmd.subcommands {
                add(sub);
            }
        }
    }
    ctx.out.map(found.len());
    for (name, histogram) in found {
        ctx.out.bulk(name.as_bytes());
        write_histogram(ctx.out, histogram);
    }
    Ok(Done)
}

/// A command by full name (`get`, `config|get`), in any letter case: Redis's
/// `lookupCommandBySds`.
fn lookup_full_name(registry: &Registry, name: &[u8]) -> Option<&'static CommandSpec> {
    let mut parts = name.split(|&c| c == b'|');
    let top = registry.lookup(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(top),
        (Some(sub), None) => top
            .subcommands
            .iter()
            .copied()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(sub)),
        _ => None,
    }
}

/// Redis's `fillCommandCDF`.
fn write_histogram(out: &mut Reply, histogram: &Histogram) {
    out.map(2);
    out.bulk(b"calls");
    out.int(histogram.total as i64);
    out.bulk(b"histogram_usec");
    let buckets = histogram.cumulative_usec();
    out.map(buckets.len());
    for (usec, count) in buckets {
        out.int(usec as i64);
        out.int(count as i64);
    }
}

fn latency_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    super::help(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(Done)
}

// ---------------------------------------------------------------------------------------
// INFO latencystats

/// INFO's `latencystats` fields: with `latency-tracking yes`, one line per command that
/// ran, `latency_percentiles_usec_<name>:p50=1.003,p99=...` (µs, three decimals), in the
/// order and with the percentiles of `latency-tracking-info-percentiles`.
pub fn latencystats(state: &State, out: &mut String) {
    if !state.config.latency_tracking {
        return;
    }
    let percentiles: Vec<(f64, String)> = state
        .config
        .latency_tracking_info_percentiles
        .iter()
        .map(|&p| (p, percentile_text(p)))
        .collect();
    for (id, cmd) in Registry::get().with_ids() {
        let Some(histogram) = state.diagnostics.histogram(id) else {
            continue;
        };
        let _ = write!(out, "latency_percentiles_usec_{}:", cmd.full_name);
        for (i, (p, text)) in percentiles.iter().enumerate() {
            if i != 0 {
                out.push(',');
            }
            let usec = histogram.value_at_percentile(*p) as f64 / 1000.0;
            let _ = write!(out, "p{text}={usec:.3}");
        }
        out.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::LatencySeries;

    #[test]
    fn graph_matches_redis_for_two_samples() {
        // Redis 7.0.15 after DEBUG SLEEP 0.2, and DEBUG SLEEP 0.3 two seconds later.
        let mut diagnostics = Diagnostics::default();
        diagnostics.add_latency_sample("command", 200, 100);
        diagnostics.add_latency_sample("command", 300, 102);
        let series: &LatencySeries = &diagnostics.events[0].1;
        let graph = latency_graph_text("command", series, 102);
        let expected = format!(
            "command - high 300 ms, low 200 ms (all time high 300 ms)\n{}\n #\n |\n |\n_|\n  \n20\nss\n",
            "-".repeat(80)
        );
        assert_eq!(graph, expected);
    }

    #[test]
    fn event_stats_are_whole_milliseconds() {
        let mut series = LatencySeries::default();
        let mut diagnostics = Diagnostics::default();
        diagnostics.add_latency_sample("command", 200, 100);
        diagnostics.add_latency_sample("command", 300, 101);
        std::mem::swap(&mut series, &mut diagnostics.events[0].1);
        let stats = EventStats::of(&series, 101);
        assert_eq!(
            (stats.samples, stats.avg, stats.mad, stats.period),
            (2, 250, 50, 1)
        );
    }
}
