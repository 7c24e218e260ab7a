//! SLOWLOG, LATENCY and INFO latencystats over TCP, as a client sees them: slow commands
//! land in the slow log and the latency monitor, the configuration parameters act, and
//! the per-command histograms fill. Exact replies that do not depend on timing are
//! compared with the real Redis in `tests/cases/diagnostics.txt`.

mod common;

use bytes::Bytes;
use common::{start, Conn};
use lockstep_resp::Frame;
use lockstep_server::EmbeddedServer;

fn array(frame: Frame) -> Vec<Frame> {
    match frame {
        Frame::Array(items) => items,
        other => panic!("expected an array, got {other:?}"),
    }
}

fn int(frame: &Frame) -> i64 {
    match frame {
        Frame::Integer(n) => *n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn bulk(text: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

fn bulks(items: &[&str]) -> Frame {
    Frame::Array(items.iter().map(|s| bulk(s)).collect())
}

/// A server and one connection to it that has run `CONFIG SET param value`.
fn configured(param: &str, value: &str) -> (EmbeddedServer, Conn) {
    let server = start();
    let mut c = Conn::open(server.addr());
    c.ok(&["CONFIG", "SET", param, value]);
    (server, c)
}

/// The entries of SLOWLOG GET `count`, each as its six fields.
fn slowlog(c: &mut Conn, count: &str) -> Vec<Vec<Frame>> {
    array(c.command(&["SLOWLOG", "GET", count]))
        .into_iter()
        .map(array)
        .collect()
}

#[test]
fn debug_sleep_lands_in_the_slow_log_with_its_arguments_and_client() {
    let server = start();
    let mut c = Conn::open(server.addr());
    c.ok(&["CLIENT", "SETNAME", "sleeper"]);
    c.ok(&["DEBUG", "SLEEP", "0.2"]);
    let entries = slowlog(&mut c, "-1");
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.len(), 6);
    assert_eq!(int(&entry[0]), 0, "the first id");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(
        (now - int(&entry[1])).abs() <= 2,
        "unix time {:?}",
        entry[1]
    );
    assert!(int(&entry[2]) >= 200_000, "µs {:?}", entry[2]);
    assert_eq!(entry[3], bulks(&["DEBUG", "SLEEP", "0.2"]));
    assert_eq!(entry[4], bulk(&c.local_addr()));
    assert_eq!(entry[5], bulk("sleeper"));
}

#[test]
fn slowlog_len_counts_entries_and_reset_empties_the_log_keeping_ids() {
    let (_server, mut c) = configured("slowlog-log-slower-than", "0");
    c.ok(&["SET", "a", "1"]);
    // CONFIG SET, SET, and this SLOWLOG LEN's predecessors: every command is logged now.
    let len = c.int(&["SLOWLOG", "LEN"]);
    assert_eq!(len, 2, "CONFIG SET and SET");
    c.ok(&["SLOWLOG", "RESET"]);
    // SLOWLOG RESET itself is logged after it ran.
    assert_eq!(c.int(&["SLOWLOG", "LEN"]), 1);
    let entries = slowlog(&mut c, "-1");
    assert_eq!(entries[0][3], bulks(&["SLOWLOG", "LEN"]));
    assert_eq!(entries[1][3], bulks(&["SLOWLOG", "RESET"]));
    assert!(int(&entries[0][0]) > int(&entries[1][0]), "newest first");
    assert_eq!(int(&entries[1][0]), 3, "ids go on after a reset");
}

#[test]
fn slowlog_get_count_limits_the_entries_newest_first() {
    let (_server, mut c) = configured("slowlog-log-slower-than", "0");
    for i in 0..12 {
        c.ok(&["SET", "k", &i.to_string()]);
    }
    let default = array(c.command(&["SLOWLOG", "GET"]));
    assert_eq!(default.len(), 10);
    let two = slowlog(&mut c, "2");
    assert_eq!(two.len(), 2);
    // The previous SLOWLOG GET is the newest entry.
    assert_eq!(two[0][3], bulks(&["SLOWLOG", "GET"]));
    assert_eq!(two[1][3], bulks(&["SET", "k", "11"]));
    assert_eq!(array(c.command(&["SLOWLOG", "GET", "0"])), vec![]);
}

#[test]
fn slowlog_max_len_keeps_only_the_newest_entries() {
    let (_server, mut c) = configured("slowlog-max-len", "3");
    c.ok(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    for i in 0..10 {
        c.ok(&["SET", &format!("k{i}"), "v"]);
    }
    let entries = slowlog(&mut c, "-1");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0][3], bulks(&["SET", "k9", "v"]));
    assert_eq!(entries[2][3], bulks(&["SET", "k7", "v"]));
    c.ok(&["CONFIG", "SET", "slowlog-max-len", "1"]);
    assert_eq!(c.int(&["SLOWLOG", "LEN"]), 1);
}

#[test]
fn slowlog_entries_cut_long_arguments_and_long_argument_lists() {
    let (_server, mut c) = configured("slowlog-log-slower-than", "0");
    let long = "x".repeat(200);
    let mut args: Vec<String> = vec!["RPUSH".into(), "list".into(), long.clone()];
    args.extend((0..40).map(|i| i.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(c.int(&argv), 41);
    let entries = slowlog(&mut c, "-1");
    let logged = array(entries[0][3].clone());
    assert_eq!(logged.len(), 32);
    assert_eq!(
        logged[2],
        bulk(&format!("{}... (72 more bytes)", &long[..128]))
    );
    assert_eq!(logged[30], bulk("27"));
    assert_eq!(logged[31], bulk("... (12 more arguments)"));
}

#[test]
fn slowlog_threshold_minus_one_logs_nothing() {
    let (_server, mut c) = configured("slowlog-log-slower-than", "-1");
    c.ok(&["DEBUG", "SLEEP", "0.02"]);
    assert_eq!(c.int(&["SLOWLOG", "LEN"]), 0);
}

#[test]
fn slowlog_redacts_passwords_as_redis_does() {
    let (_server, mut c) = configured("slowlog-log-slower-than", "0");
    assert!(matches!(
        c.command(&["AUTH", "user", "secret"]),
        Frame::Error(_)
    ));
    let entries = slowlog(&mut c, "-1");
    assert_eq!(entries[0][3], bulks(&["AUTH", "(redacted)", "(redacted)"]));
}

#[test]
fn a_slow_command_is_a_latency_event_once_the_monitor_is_on() {
    let server = start();
    let mut c = Conn::open(server.addr());
    c.ok(&["DEBUG", "SLEEP", "0.2"]);
    assert_eq!(
        array(c.command(&["LATENCY", "LATEST"])),
        vec![],
        "off by default"
    );
    c.ok(&["CONFIG", "SET", "latency-monitor-threshold", "100"]);
    c.ok(&["DEBUG", "SLEEP", "0.2"]);
    let latest = array(c.command(&["LATENCY", "LATEST"]));
    assert_eq!(latest.len(), 1, "{latest:?}");
    let event = array(latest[0].clone());
    assert_eq!(event[0], bulk("command"));
    assert!(int(&event[2]) >= 200, "latest {:?}", event[2]);
    assert!(int(&event[3]) >= int(&event[2]), "max {:?}", event[3]);
    let history = array(c.command(&["LATENCY", "HISTORY", "command"]));
    assert_eq!(history.len(), 1);
    let graph = c.text(&["LATENCY", "GRAPH", "command"]);
    assert!(graph.starts_with("command - high "), "{graph}");
    let doctor = c.text(&["LATENCY", "DOCTOR"]);
    assert!(
        doctor.contains("1. command: 1 latency spikes (average "),
        "{doctor}"
    );
}

#[test]
fn latency_reset_drops_events_and_counts_them() {
    let (_server, mut c) = configured("latency-monitor-threshold", "10");
    c.ok(&["DEBUG", "SLEEP", "0.02"]);
    assert_eq!(c.int(&["LATENCY", "RESET", "nosuch"]), 0);
    assert_eq!(
        c.int(&["LATENCY", "RESET", "COMMAND"]),
        1,
        "any letter case"
    );
    assert_eq!(array(c.command(&["LATENCY", "LATEST"])), vec![]);
    c.ok(&["DEBUG", "SLEEP", "0.02"]);
    assert_eq!(c.int(&["LATENCY", "RESET"]), 1);
    assert_eq!(c.int(&["LATENCY", "RESET"]), 0);
    let doctor = c.text(&["LATENCY", "DOCTOR"]);
    assert!(
        doctor.starts_with("Dave, no latency spike was observed"),
        "{doctor}"
    );
}

#[test]
fn latency_histogram_lists_a_command_after_it_ran() {
    let server = start();
    let mut c = Conn::open(server.addr());
    assert_eq!(array(c.command(&["LATENCY", "HISTOGRAM", "set"])), vec![]);
    c.ok(&["SET", "a", "1"]);
    c.ok(&["SET", "a", "2"]);
    let reply = array(c.command(&["LATENCY", "HISTOGRAM", "set", "nosuch"]));
    assert_eq!(reply.len(), 2, "{reply:?}");
    assert_eq!(reply[0], bulk("set"));
    let fields = array(reply[1].clone());
    assert_eq!(fields[0], bulk("calls"));
    assert_eq!(int(&fields[1]), 2);
    assert_eq!(fields[2], bulk("histogram_usec"));
    let buckets: Vec<i64> = array(fields[3].clone()).iter().map(int).collect();
    assert!(
        buckets.len() >= 2 && buckets.len().is_multiple_of(2),
        "{buckets:?}"
    );
    let (edges, counts): (Vec<i64>, Vec<i64>) =
        buckets.chunks(2).map(|pair| (pair[0], pair[1])).unzip();
    assert!(edges.windows(2).all(|w| w[0] < w[1]), "{edges:?}");
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
    assert_eq!(counts.last(), Some(&2), "cumulative");
    // A container names its subcommands.
    let latency = array(c.command(&["LATENCY", "HISTOGRAM", "LATENCY"]));
    assert_eq!(latency.len(), 2, "{latency:?}");
    assert_eq!(latency[0], bulk("latency|histogram"));
    // Without names: every command that ran, this one's predecessors included.
    let all = array(c.command(&["LATENCY", "HISTOGRAM"]));
    assert!(all.contains(&bulk("latency|histogram")), "{all:?}");
}

#[test]
fn latency_tracking_no_stops_the_histograms() {
    let (_server, mut c) = configured("latency-tracking", "no");
    c.ok(&["SET", "a", "1"]);
    assert_eq!(array(c.command(&["LATENCY", "HISTOGRAM", "set"])), vec![]);
    assert_eq!(c.text(&["INFO", "latencystats"]), "# Latencystats\r\n");
}

/// The `latency_percentiles_usec_<name>` line of INFO latencystats.
fn percentiles_line(c: &mut Conn, name: &str) -> String {
    let info = c.text(&["INFO", "latencystats"]);
    let prefix = format!("latency_percentiles_usec_{name}:");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("no {prefix} in {info}"))
}

#[test]
fn info_latencystats_prints_percentiles_with_three_decimals() {
    let server = start();
    let mut c = Conn::open(server.addr());
    for _ in 0..20 {
        c.ok(&["SET", "a", "1"]);
    }
    c.ok(&["DEBUG", "SLEEP", "0.01"]);
    let line = percentiles_line(&mut c, "set");
    let values: Vec<f64> = line
        .split(',')
        .zip(["p50=", "p99=", "p99.9="])
        .map(|(field, name)| {
            let value = field.strip_prefix(name).unwrap_or_else(|| panic!("{line}"));
            let decimals = value.split_once('.').map(|(_, d)| d.len());
            assert_eq!(decimals, Some(3), "{line}");
            value.parse().expect("a number")
        })
        .collect();
    assert_eq!(values.len(), 3, "{line}");
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{line}");
    let debug = percentiles_line(&mut c, "debug");
    let p50: f64 = debug["p50=".len()..debug.find(',').expect(",")]
        .parse()
        .expect("a number");
    assert!(p50 >= 10_000.0, "{debug}");
    let all = c.text(&["INFO", "everything"]);
    assert!(
        all.contains("# Latencystats\r\nlatency_percentiles_usec_"),
        "{all}"
    );
    let default = c.text(&["INFO"]);
    assert!(!default.contains("# Latencystats"), "not a default section");
}

#[test]
fn info_latencystats_follows_the_configured_percentiles() {
    let (_server, mut c) = configured("latency-tracking-info-percentiles", "0 100 50.5");
    let line = percentiles_line(&mut c, "config|set");
    let names: Vec<&str> = line
        .split(',')
        .map(|f| f.split('=').next().unwrap_or(""))
        .collect();
    assert_eq!(names, ["p0", "p100", "p50.5"], "{line}");
    c.ok(&["CONFIG", "SET", "latency-tracking-info-percentiles", ""]);
    assert_eq!(percentiles_line(&mut c, "config|set"), "");
}

#[test]
fn config_resetstat_clears_the_histograms() {
    let server = start();
    let mut c = Conn::open(server.addr());
    c.ok(&["SET", "a", "1"]);
    c.ok(&["CONFIG", "RESETSTAT"]);
    assert_eq!(array(c.command(&["LATENCY", "HISTOGRAM", "set"])), vec![]);
}
