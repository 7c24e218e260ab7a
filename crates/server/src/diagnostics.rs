//! What the server remembers about its own speed: the slow log (SLOWLOG), the latency
//! monitor's events (LATENCY LATEST/HISTORY/GRAPH/DOCTOR) and a latency histogram per
//! command (LATENCY HISTOGRAM, INFO latencystats), as Redis 7.0 keeps them.
//!
//! `record` runs after every command (from `dispatch::call`), under the lock: it reads typed
//! config fields and touches one histogram, and allocates only when something is logged or a
//! command runs for the first time. Nothing here writes replies; `commands/diagnostics.rs`
//! does.

use std::collections::VecDeque;

use crate::command::{flags, Command};
use crate::state::{unix_millis, Client, State};

/// Redis's `SLOWLOG_ENTRY_MAX_ARGC`: an entry keeps this many arguments, the last one
/// saying how many more there were.
pub const SLOWLOG_MAX_ARGC: usize = 32;
/// Redis's `SLOWLOG_ENTRY_MAX_STRING`: longer arguments are cut to this many bytes.
pub const SLOWLOG_MAX_STRING: usize = 128;
/// Redis's `LATENCY_TS_LEN`: samples kept per latency event.
pub const LATENCY_TS_LEN: usize = 160;

/// Everything the slow log, the latency monitor and latency tracking keep.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub slowlog: SlowLog,
    /// Latency events in the order they first happened (Redis keeps them in a dict).
    pub events: Vec<(&'static str, LatencySeries)>,
    /// Per-command latency, indexed by `Registry::id`; `None` until the command runs.
    pub histograms: Vec<Option<Box<Histogram>>>,
}

/// Redis's `call()` bookkeeping after a command ran for `usec` microseconds: the latency
/// histogram (with `latency-tracking`), the "command"/"fast-command" latency event (from
/// `latency-monitor-threshold` ms) and the slow log (from `slowlog-log-slower-than` µs,
/// except for `skip_slowlog` commands such as AUTH and EXEC).
pub fn record(
    state: &mut State,
    client: &Client,
    cmd: &Command,
    id: usize,
    argv: &[&[u8]],
    usec: u64,
) {
    let config = &state.config;
    let diag = &mut state.diagnostics;
    if config.latency_tracking {
        if diag.histograms.len() <= id {
            diag.histograms.resize_with(id + 1, || None);
        }
        diag.histograms[id]
            .get_or_insert_with(Default::default)
            .record(usec.saturating_mul(1000));
    }
    let threshold = config.latency_monitor_threshold;
    if threshold != 0 && usec / 1000 >= threshold {
        let event = if cmd.has(flags::FAST) {
            "fast-command"
        } else {
            "command"
        };
        diag.add_latency_sample(event, usec / 1000, unix_millis() / 1000);
    }
    let slower_than = config.slowlog_log_slower_than;
    if slower_than >= 0 && usec >= slower_than as u64 && !cmd.has(flags::SKIP_SLOWLOG) {
        let entry = SlowLogEntry::new(client, cmd.full_name, argv, usec, diag.slowlog.next_id);
        diag.slowlog.push(entry, config.slowlog_max_len);
    }
}

impl Diagnostics {
    /// Redis's `latencyAddSample`: one sample per second per event, the worst one.
    pub fn add_latency_sample(&mut self, event: &'static str, millis: u64, now: i64) {
        let at = match self.events.iter().position(|(name, _)| *name == event) {
            Some(at) => at,
            None => {
                self.events.push((event, LatencySeries::default()));
                self.events.len() - 1
            }
        };
        self.events[at].1.add(millis, now);
    }

    /// A latency event by name, in any letter case.
    pub fn event(&self, name: &[u8]) -> Option<(&'static str, &LatencySeries)> {
        self.events
            .iter()
            .find(|(event, _)| event.as_bytes().eq_ignore_ascii_case(name))
            .map(|(event, series)| (*event, series))
    }

    /// Redis's `latencyResetEvent`: drops the named event (every event for `None`) and
    /// answers how many went.
    pub fn reset_events(&mut self, name: Option<&[u8]>) -> usize {
        let before = self.events.len();
        self.events
            .retain(|(event, _)| name.is_some_and(|n| !event.as_bytes().eq_ignore_ascii_case(n)));
        before - self.events.len()
    }

    /// The histogram of command `id`, if it ran since the last reset.
    pub fn histogram(&self, id: usize) -> Option<&Histogram> {
        self.histograms.get(id).and_then(|h| h.as_deref())
    }

    /// CONFIG RESETSTAT: the histograms go, as Redis frees them.
    pub fn reset_histograms(&mut self) {
        self.histograms.clear();
    }
}

// ---------------------------------------------------------------------------------------
// The slow log

/// The newest entries first, at most `slowlog-max-len` of them.
#[derive(Debug, Default)]
pub struct SlowLog {
    pub entries: VecDeque<SlowLogEntry>,
    /// The id of the next entry; RESET does not restart it.
    pub next_id: u64,
}

impl SlowLog {
    /// Redis's `slowlogPushEntryIfNeeded`: the entry takes its id even when `max_len` is 0
    /// and it is dropped at once.
    fn push(&mut self, entry: SlowLogEntry, max_len: u64) {
        self.next_id += 1;
        self.entries.push_front(entry);
        let max_len = usize::try_from(max_len).unwrap_or(usize::MAX);
        self.entries.truncate(max_len);
    }
}

/// One slow command, as SLOWLOG GET shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowLogEntry {
    pub id: u64,
    /// Unix time, seconds.
    pub time: i64,
    pub usec: u64,
    /// At most `SLOWLOG_MAX_ARGC`, each at most `SLOWLOG_MAX_STRING` bytes plus a note.
    pub argv: Vec<Box<[u8]>>,
    /// `ip:port` (`[ip]:port` for IPv6).
    pub addr: String,
    pub name: Box<[u8]>,
}

impl SlowLogEntry {
    /// Redis's `slowlogCreateEntry`, for command `full_name`, with secrets redacted.
    pub fn new(
        client: &Client,
        full_name: &str,
        argv: &[&[u8]],
        usec: u64,
        id: u64,
    ) -> SlowLogEntry {
        let secret = secret_arguments(full_name, argv);
        let kept = argv.len().min(SLOWLOG_MAX_ARGC);
        let argv = (0..kept)
            .map(|j| {
                if kept != argv.len() && j == kept - 1 {
                    let more = argv.len() - kept + 1;
                    return format!("... ({more} more arguments)").into_bytes().into();
                }
                if secret.contains(&j) {
                    return b"(redacted)"[..].into();
                }
                let arg = argv[j];
                if arg.len() <= SLOWLOG_MAX_STRING {
                    return arg.into();
                }
                let mut cut = arg[..SLOWLOG_MAX_STRING].to_vec();
                let more = arg.len() - SLOWLOG_MAX_STRING;
                cut.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
                cut.into()
            })
            .collect();
        SlowLogEntry {
            id,
            time: unix_millis() / 1000,
            usec,
            argv,
            addr: client.addr.to_string(),
            name: client.name.as_deref().unwrap_or_default().into(),
        }
    }
}

/// The positions of the arguments Redis 7.0 replaces with `(redacted)` before logging
/// (`redactClientCommandArgument`): AUTH's, HELLO's AUTH username and password, and the
/// values CONFIG SET gives to sensitive parameters.
fn secret_arguments(full_name: &str, argv: &[&[u8]]) -> Vec<usize> {
    let is = |j: usize, word: &str| argv[j].eq_ignore_ascii_case(word.as_bytes());
    match full_name {
        "auth" => (1..argv.len()).collect(),
        "hello" => {
            let mut secret = Vec::new();
            let mut j = 2;
            while j < argv.len() {
                if is(j, "auth") && j + 2 < argv.len() {
                    secret.extend([j + 1, j + 2]);
                    j += 2;
                } else if is(j, "setname") && j + 1 < argv.len() {
                    j += 1;
                }
                j += 1;
            }
            secret
        }
        "config|set" => (2..argv.len())
            .step_by(2)
            .filter(|&j| j + 1 < argv.len())
            .filter(|&j| {
                ["requirepass", "masterauth", "masteruser"]
                    .iter()
                    .any(|p| is(j, p))
            })
            .map(|j| j + 1)
            .collect(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// The latency monitor

/// One sample: the worst latency (ms) seen in second `time`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySample {
    pub time: i64,
    pub millis: u64,
}

/// Redis's `latencyTimeSeries`: a ring of the last `LATENCY_TS_LEN` samples and the all
/// time high.
#[derive(Clone, Debug)]
pub struct LatencySeries {
    samples: Box<[LatencySample; LATENCY_TS_LEN]>,
    /// Where the next sample goes.
    next: usize,
    pub max: u64,
}

impl Default for LatencySeries {
    fn default() -> Self {
        LatencySeries {
            samples: Box::new([LatencySample::default(); LATENCY_TS_LEN]),
            next: 0,
            max: 0,
        }
    }
}

impl LatencySeries {
    fn add(&mut self, millis: u64, now: i64) {
        self.max = self.max.max(millis);
        let prev = &mut self.samples[(self.next + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN];
        if prev.time == now {
            prev.millis = prev.millis.max(millis);
            return;
        }
        self.samples[self.next] = LatencySample { time: now, millis };
        self.next = (self.next + 1) % LATENCY_TS_LEN;
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = LatencySample> + '_ {
        (0..LATENCY_TS_LEN)
            .map(|j| self.samples[(self.next + j) % LATENCY_TS_LEN])
            .filter(|s| s.time != 0)
    }

    /// The newest sample.
    pub fn latest(&self) -> LatencySample {
        self.samples[(self.next + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN]
    }
}

// ---------------------------------------------------------------------------------------
// Latency histograms

/// Redis's `LATENCY_HISTOGRAM_MIN_VALUE` and `_MAX_VALUE`, in nanoseconds: samples are
/// clamped into this range (so a command slower than a second counts as one second).
const HISTOGRAM_MIN_NS: u64 = 1;
const HISTOGRAM_MAX_NS: u64 = 1_000_000_000;
/// 2 significant figures, as Redis's `hdr_init(..., 2, ...)`: 256 sub-buckets per power of
/// two, the upper half of which is new in each bucket.
const SUB_BUCKET_HALF_MAGNITUDE: u32 = 7;
const SUB_BUCKET_HALF: usize = 1 << SUB_BUCKET_HALF_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = (1 << (SUB_BUCKET_HALF_MAGNITUDE + 1)) - 1;
/// Buckets needed to reach `HISTOGRAM_MAX_NS` (below 2^30).
const BUCKETS: usize = 30 - SUB_BUCKET_HALF_MAGNITUDE as usize;
const COUNTS: usize = (BUCKETS + 1) * SUB_BUCKET_HALF;

/// The layout of HdrHistogram (which Redis uses) with a lowest value of 1 and 2
/// significant figures, so percentiles come out as Redis prints them: a value's slot
/// keeps its top 8 bits, and a percentile is the highest value of its slot.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u64; COUNTS]>,
    pub total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; COUNTS]),
            total: 0,
        }
    }
}

/// The slot of `value` (hdr's `counts_index_for`).
fn slot_of(value: u64) -> usize {
    let bucket = (63 - (value | SUB_BUCKET_MASK).leading_zeros()) - SUB_BUCKET_HALF_MAGNITUDE;
    let sub = (value >> bucket) as usize;
    ((bucket as usize + 1) << SUB_BUCKET_HALF_MAGNITUDE) + sub - SUB_BUCKET_HALF
}

/// The lowest value of a slot and the number of values it holds (hdr's
/// `value_from_index` and `size_of_equivalent_value_range`).
fn slot_range(slot: usize) -> (u64, u64) {
    let mut bucket = (slot >> SUB_BUCKET_HALF_MAGNITUDE) as i64 - 1;
    let mut sub = (slot & (SUB_BUCKET_HALF - 1)) + SUB_BUCKET_HALF;
    if bucket < 0 {
        sub -= SUB_BUCKET_HALF;
        bucket = 0;
    }
    ((sub as u64) << bucket, 1 << bucket)
}

/// The highest value that shares `value`'s slot.
fn highest_equivalent(value: u64) -> u64 {
    let (low, size) = slot_range(slot_of(value));
    low + size - 1
}

impl Histogram {
    /// Counts one command that took `nanos`.
    pub fn record(&mut self, nanos: u64) {
        let nanos = nanos.clamp(HISTOGRAM_MIN_NS, HISTOGRAM_MAX_NS);
        self.counts[slot_of(nanos)] += 1;
        self.total += 1;
    }

    /// hdr's `hdr_value_at_percentile`, in nanoseconds: the highest value of the slot where
    /// the count reaches `percentile` % of the total (the lowest for the 0th).
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let wanted = ((percentile.min(100.0) / 100.0) * self.total as f64 + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        let mut slot = 0;
        for (i, count) in self.counts.iter().enumerate() {
            seen += count;
            slot = i;
            if seen >= wanted {
                break;
            }
        }
        let (low, size) = slot_range(slot);
        if percentile == 0.0 {
            low
        } else {
            low + size - 1
        }
    }

    /// LATENCY HISTOGRAM's buckets, as Redis's `fillCommandCDF` walks hdr's logarithmic
    /// iterator (first bucket 1024 ns, each twice the last): (the bucket's highest value in
    /// whole µs, commands at or below it), for the buckets that added commands, up to the
    /// one that holds the slowest.
    pub fn cumulative_usec(&self) -> Vec<(u64, u64)> {
        let mut buckets = Vec::new();
        let mut level: u64 = 1024;
        let mut next_slot = 0;
        let mut seen = 0;
        let mut previous = 0;
        while seen < self.total {
            let last = slot_of(level);
            while next_slot <= last && next_slot < COUNTS {
                seen += self.counts[next_slot];
                next_slot += 1;
            }
            if seen > previous {
                buckets.push((highest_equivalent(level) / 1000, seen));
            }
            previous = seen;
            level *= 2;
        }
        buckets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::for_tests(1)
    }

    fn state() -> State {
        State::new(Default::default(), tokio::sync::watch::channel(false).0)
    }

    #[test]
    fn exec_is_timed_but_not_logged_as_redis_skips_slowlog_commands() {
        let mut state = state();
        state.config.latency_monitor_threshold = 10;
        let exec = lockstep_commands::lookup_full("exec").expect("exec");
        record(&mut state, &client(), exec, 0, &[b"EXEC"], 20_000);
        assert!(state.diagnostics.slowlog.entries.is_empty());
        assert_eq!(state.diagnostics.slowlog.next_id, 0);
        assert_eq!(state.diagnostics.events[0].0, "command");
        assert_eq!(state.diagnostics.histogram(0).map(|h| h.total), Some(1));
    }

    #[test]
    fn fast_commands_are_fast_command_latency_events() {
        let mut state = state();
        state.config.latency_monitor_threshold = 10;
        let get = lockstep_commands::lookup_full("get").expect("get");
        record(&mut state, &client(), get, 0, &[b"GET", b"k"], 9_999);
        assert!(state.diagnostics.events.is_empty(), "under the threshold");
        record(&mut state, &client(), get, 0, &[b"GET", b"k"], 10_000);
        assert_eq!(state.diagnostics.events[0].0, "fast-command");
        assert_eq!(state.diagnostics.slowlog.entries.len(), 1);
    }

    #[test]
    fn slots_keep_two_significant_figures_as_hdr_does() {
        // Values from Redis 7.0.15's INFO latencystats (ns, printed / 1000).
        assert_eq!(highest_equivalent(1), 1);
        assert_eq!(highest_equivalent(1000), 1003);
        assert_eq!(highest_equivalent(2000), 2007);
        assert_eq!(highest_equivalent(200_426_000), 201_326_591);
        assert_eq!(highest_equivalent(300_119_000), 301_989_887);
        assert!(slot_of(HISTOGRAM_MAX_NS) < COUNTS);
    }

    #[test]
    fn percentiles_are_the_highest_value_of_their_slot() {
        let mut h = Histogram::default();
        for us in [1, 2, 2, 4, 300] {
            h.record(us * 1000);
        }
        assert_eq!(h.value_at_percentile(50.0), 2007);
        assert_eq!(h.value_at_percentile(99.0), highest_equivalent(300_000));
        assert_eq!(h.value_at_percentile(0.0), 1000);
    }

    #[test]
    fn cumulative_buckets_match_redis_latency_histogram() {
        // Redis 7.0.15: DEBUG SLEEP 0.2, 0.15, 0.3 gave {270532: 2, 541065: 3}.
        let mut h = Histogram::default();
        for us in [200_426, 150_170, 300_119] {
            h.record(us * 1000);
        }
        assert_eq!(h.cumulative_usec(), vec![(270_532, 2), (541_065, 3)]);
        // The bucket edges are 1031, 2063, 4127, 8255 ns (Redis prints 1, 2, 4, 8).
        let mut h = Histogram::default();
        for us in [0, 1, 2, 3, 4, 7] {
            h.record(us * 1000);
        }
        assert_eq!(h.cumulative_usec(), vec![(1, 2), (2, 3), (4, 5), (8, 6)]);
    }

    #[test]
    fn slow_log_entries_cut_long_arguments_and_long_commands() {
        let long = [b'x'; 130];
        let many: Vec<&[u8]> = std::iter::once(&long[..])
            .chain(std::iter::repeat_n(&b"a"[..], 39))
            .collect();
        let entry = SlowLogEntry::new(&client(), "rpush", &many, 5, 0);
        assert_eq!(entry.argv.len(), 32);
        let mut cut = vec![b'x'; 128];
        cut.extend_from_slice(b"... (2 more bytes)");
        assert_eq!(&*entry.argv[0], &cut[..]);
        assert_eq!(&*entry.argv[31], b"... (9 more arguments)");
        assert_eq!(entry.addr, "127.0.0.1:50000");
    }

    #[test]
    fn slow_log_entries_redact_passwords_as_redis_7_does() {
        let logged = |name: &str, argv: &[&[u8]]| -> Vec<Box<[u8]>> {
            SlowLogEntry::new(&client(), name, argv, 1, 0).argv
        };
        let r: Box<[u8]> = b"(redacted)"[..].into();
        let b = |s: &[u8]| -> Box<[u8]> { s.into() };
        assert_eq!(
            logged("auth", &[b"auth", b"u", b"p"]),
            [b(b"auth"), r.clone(), r.clone()]
        );
        assert_eq!(
            logged(
                "hello",
                &[b"hello", b"3", b"AUTH", b"u", b"p", b"setname", b"x"]
            ),
            [
                b(b"hello"),
                b(b"3"),
                b(b"AUTH"),
                r.clone(),
                r.clone(),
                b(b"setname"),
                b(b"x")
            ]
        );
        assert_eq!(
            logged(
                "config|set",
                &[b"config", b"set", b"hz", b"10", b"REQUIREPASS", b"pw"]
            ),
            [
                b(b"config"),
                b(b"set"),
                b(b"hz"),
                b(b"10"),
                b(b"REQUIREPASS"),
                r
            ]
        );
    }

    #[test]
    fn the_slow_log_keeps_the_newest_entries_and_counts_ids_on() {
        let mut log = SlowLog::default();
        for id in 0..3 {
            let entry = SlowLogEntry::new(&client(), "get", &[b"get"], 1, id);
            log.push(entry, 2);
        }
        let ids: Vec<u64> = log.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, [2, 1]);
        log.push(SlowLogEntry::new(&client(), "get", &[b"get"], 1, 3), 0);
        assert!(log.entries.is_empty());
        assert_eq!(log.next_id, 4);
    }

    #[test]
    fn latency_series_keep_the_worst_sample_of_each_second() {
        let mut series = LatencySeries::default();
        series.add(200, 10);
        series.add(150, 10);
        series.add(300, 10);
        series.add(120, 11);
        let samples: Vec<(i64, u64)> = series.samples().map(|s| (s.time, s.millis)).collect();
        assert_eq!(samples, [(10, 300), (11, 120)]);
        assert_eq!(series.max, 300);
        assert_eq!(series.latest().millis, 120);
    }
}
