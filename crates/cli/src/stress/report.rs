//! One scenario's results: the metrics of seed 004 (total, successful, failed, timeouts,
//! pool timeouts, throughput, latency avg/p50/p99/p99.9/max and a histogram), pool stats,
//! transitions by kind, and the verdict against the thresholds. Rendered as text for a
//! person and as JSON for machines; both come from the same struct.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hdrhistogram::Histogram;
use lockstep::metrics::TransitionCount;
use serde_json::{json, Value};

use super::record::Recorder;
use super::scenarios::{Extra, Scenario};

pub struct Report {
    pub name: String,
    pub mode: &'static str,
    pub about: &'static str,
    pub unit: &'static str,
    pub elapsed: Duration,
    pub total: u64,
    pub ok: u64,
    pub failed: u64,
    pub timeouts: u64,
    pub pool_timeouts: u64,
    pub histogram: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
    pub transitions: Vec<TransitionCount>,
    pub extra: Extra,
    /// Why the scenario failed its thresholds (empty: it passed).
    pub failures: Vec<String>,
}

impl Report {
    pub fn new(
        s: Scenario,
        rec: &Recorder,
        elapsed: Duration,
        transitions: Vec<TransitionCount>,
        extra: Extra,
    ) -> Report {
        let mut r = Report {
            name: s.name(),
            mode: s.mode(),
            about: s.about(),
            unit: s.unit(),
            elapsed,
            total: rec.total(),
            ok: rec.ok.load(Ordering::Relaxed),
            failed: rec.failed.load(Ordering::Relaxed),
            timeouts: rec.timeouts.load(Ordering::Relaxed),
            pool_timeouts: rec.pool_timeouts.load(Ordering::Relaxed),
            histogram: rec.histogram(),
            errors: rec.errors(),
            transitions,
            extra,
            failures: Vec::new(),
        };
        r.failures = r.judge();
        r
    }

    /// A scenario that could not start (the target refused, say).
    pub fn error(s: Scenario, why: String) -> Report {
        let mut r = Report::new(
            s,
            &Recorder::new(),
            Duration::ZERO,
            Vec::new(),
            Extra::default(),
        );
        r.failures.push(format!("could not run: {why}"));
        r
    }

    pub fn chaos(&self) -> bool {
        self.mode == "chaos"
    }

    pub fn skipped(&self) -> bool {
        self.extra.skipped.is_some()
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The thresholds. Everywhere: no transition outside the connection or pool state
    /// graphs, no failed check. Outside chaos: every operation succeeds. In chaos:
    /// operations may fail while faults hit them, but no acknowledged write is lost or
    /// duplicated, and most operations still succeed.
    fn judge(&self) -> Vec<String> {
        let mut f = Vec::new();
        if self.skipped() {
            return f;
        }
        let invalid: u64 = self
            .transitions
            .iter()
            .filter(|t| !t.allowed)
            .map(|t| t.count)
            .sum();
        if invalid > 0 {
            let kinds: Vec<String> = self
                .transitions
                .iter()
                .filter(|t| !t.allowed)
                .map(|t| format!("{} -> {} x{}", t.from, t.to, t.count))
                .collect();
            f.push(format!(
                "{invalid} connection transitions outside the state graph: {}",
                kinds.join(", ")
            ));
        }
        if let Some(p) = &self.extra.pool {
            if p.state_violations > 0 {
                f.push(format!(
                    "{} pool transitions outside the state graph",
                    p.state_violations
                ));
            }
        }
        if let Some(w) = &self.extra.watch {
            if w.invalid > 0 || w.epoch_regressions > 0 {
                f.push(format!(
                    "published snapshots: {} transitions outside the graph, {} epochs that did not grow",
                    w.invalid, w.epoch_regressions
                ));
            }
        }
        f.extend(self.extra.violations.iter().cloned());
        if let Some(a) = &self.extra.ack {
            if !a.lost.is_empty() {
                f.push(format!(
                    "{} acknowledged writes lost: {}",
                    a.lost.len(),
                    first(&a.lost)
                ));
            }
            if !a.duplicated.is_empty() {
                f.push(format!(
                    "{} writes duplicated: {}",
                    a.duplicated.len(),
                    first(&a.duplicated)
                ));
            }
            if !a.phantom.is_empty() {
                f.push(format!(
                    "{} writes present that were never acknowledged as possible: {}",
                    a.phantom.len(),
                    first(&a.phantom)
                ));
            }
            if !a.unreadable.is_empty() {
                f.push(format!(
                    "{} lists could not be read back: {}",
                    a.unreadable.len(),
                    first(&a.unreadable)
                ));
            }
        }
        if self.total == 0 {
            f.push("no operation completed".into());
        } else if self.chaos() {
            // Faults may fail what they hit; most of the work must still go through.
            if self.ok * 2 < self.total {
                f.push(format!(
                    "only {} of {} operations succeeded under faults",
                    self.ok, self.total
                ));
            }
        } else if self.ok != self.total {
            f.push(format!(
                "{} failed, {} timeouts, {} pool timeouts (every operation must succeed)",
                self.failed, self.timeouts, self.pool_timeouts
            ));
        }
        f
    }

    pub fn throughput(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.ok as f64 / s
        } else {
            0.0
        }
    }

    fn pct(&self, n: u64) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            n as f64 * 100.0 / self.total as f64
        }
    }

    /// Latency buckets (upper bound in µs, count), doubling from 50 µs.
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        if self.histogram.is_empty() {
            return Vec::new();
        }
        self.histogram
            .iter_log(50, 2.0)
            .map(|v| (v.value_iterated_to(), v.count_since_last_iteration()))
            .collect()
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        let verdict = if self.skipped() {
            "SKIPPED"
        } else if self.passed() {
            "PASS"
        } else {
            "FAIL"
        };
        let _ = writeln!(
            s,
            "\n[{verdict}] {} ({}): {}",
            self.name, self.mode, self.about
        );
        if let Some(why) = &self.extra.skipped {
            let _ = writeln!(s, "  skipped: {why}");
            return s;
        }
        let h = &self.histogram;
        let ms = |us: u64| us as f64 / 1000.0;
        let _ = writeln!(
            s,
            "  Total operations:  {} {}s from {} tasks in {:.2}s",
            self.total,
            self.unit,
            self.extra.tasks,
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "  Successful:        {} ({:.2}%)",
            self.ok,
            self.pct(self.ok)
        );
        let _ = writeln!(
            s,
            "  Failed:            {} ({:.2}%)",
            self.failed,
            self.pct(self.failed)
        );
        let _ = writeln!(
            s,
            "  Timeouts:          {} ({:.2}%)",
            self.timeouts,
            self.pct(self.timeouts)
        );
        let _ = writeln!(s, "  Pool timeouts:     {}", self.pool_timeouts);
        let _ = writeln!(s, "  Throughput:        {:.0} ops/s", self.throughput());
        if !h.is_empty() {
            let _ = writeln!(
                s,
                "  Latency (ms):      avg {:.3}  p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
                h.mean() / 1000.0,
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.value_at_quantile(0.999)),
                ms(h.max())
            );
            let buckets = self.buckets();
            let top = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1);
            for (le, n) in buckets.iter().filter(|b| b.1 > 0) {
                let bar = "#".repeat(((n * 40).div_ceil(top)) as usize);
                let _ = writeln!(s, "    <= {:>9.3} ms {:>9} {bar}", ms(*le), n);
            }
        }
        if let Some(p) = &self.extra.pool {
            let _ = writeln!(
                s,
                "  Pool:              hits {} misses {} waits {} ({:.1} ms waited) timeouts {} stale {} open {} idle {} state violations {}",
                p.hits,
                p.misses,
                p.waits,
                p.wait_duration.as_secs_f64() * 1000.0,
                p.timeouts,
                p.stale,
                p.total,
                p.idle,
                p.state_violations
            );
        }
        if !self.transitions.is_empty() {
            let kinds: Vec<String> = self
                .transitions
                .iter()
                .map(|t| {
                    format!(
                        "{}->{} {}{}",
                        t.from,
                        t.to,
                        t.count,
                        if t.allowed { "" } else { " (INVALID)" }
                    )
                })
                .collect();
            let _ = writeln!(s, "  Transitions:       {}", kinds.join(", "));
        }
        if let Some(w) = &self.extra.watch {
            let _ = writeln!(
                s,
                "  Snapshots watched: {} ({} checked edge by edge, {} missed, {} invalid, {} epoch regressions)",
                w.observed, w.checked, w.missed, w.invalid, w.epoch_regressions
            );
        }
        if !self.extra.faults.is_empty() {
            let f: Vec<String> = self
                .extra
                .faults
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "  Faults:            {}", f.join(", "));
        }
        for ev in &self.extra.events {
            let _ = writeln!(s, "  Node fault:        {}", ev.text());
        }
        if let Some(a) = &self.extra.ack {
            let _ = writeln!(
                s,
                "  Acknowledged writes: {} read back ({} uncertain, {} of them applied; {} not run), lost {}, duplicated {}, phantom {}",
                a.acknowledged,
                a.uncertain,
                a.uncertain_applied,
                a.not_run,
                a.lost.len(),
                a.duplicated.len(),
                a.phantom.len()
            );
        }
        for note in &self.extra.notes {
            let _ = writeln!(s, "  Note:              {note}");
        }
        for (e, n) in self.errors.iter().take(5) {
            let _ = writeln!(s, "  Error x{n}: {e}");
        }
        for f in &self.failures {
            let _ = writeln!(s, "  FAILED: {f}");
        }
        s
    }

    pub fn json(&self) -> Value {
        let h = &self.histogram;
        let latency = if h.is_empty() {
            Value::Null
        } else {
            json!({
                "avg": h.mean(),
                "p50": h.value_at_quantile(0.5),
                "p99": h.value_at_quantile(0.99),
                "p999": h.value_at_quantile(0.999),
                "max": h.max(),
                "min": h.min(),
            })
        };
        let pool = self.extra.pool.map(|p| {
            json!({
                "hits": p.hits, "misses": p.misses, "timeouts": p.timeouts, "waits": p.waits,
                "wait_ms": p.wait_duration.as_secs_f64() * 1000.0, "stale": p.stale,
                "open": p.total, "idle": p.idle, "state_violations": p.state_violations,
            })
        });
        let watch = self.extra.watch.map(|w| {
            json!({
                "observed": w.observed, "checked": w.checked, "missed": w.missed,
                "invalid": w.invalid, "epoch_regressions": w.epoch_regressions,
            })
        });
        let ack = self.extra.ack.as_ref().map(|a| {
            json!({
                "acknowledged": a.acknowledged, "uncertain": a.uncertain,
                "uncertain_applied": a.uncertain_applied, "not_run": a.not_run,
                "lost": a.lost, "duplicated": a.duplicated, "phantom": a.phantom,
                "unreadable": a.unreadable,
            })
        });
        json!({
            "name": self.name,
            "mode": self.mode,
            "about": self.about,
            "unit": self.unit,
            "passed": self.passed(),
            "skipped": self.extra.skipped,
            "failures": self.failures,
            "tasks": self.extra.tasks,
            "seconds": self.elapsed.as_secs_f64(),
            "total": self.total,
            "successful": self.ok,
            "failed": self.failed,
            "timeouts": self.timeouts,
            "pool_timeouts": self.pool_timeouts,
            "throughput": self.throughput(),
            "latency_us": latency,
            "histogram_us": self.buckets().iter().map(|(le, n)| json!({"le": le, "count": n})).collect::<Vec<_>>(),
            "pool": pool,
            "transitions": self.transitions.iter().map(|t| json!({
                "from": t.from.to_string(), "to": t.to.to_string(), "count": t.count, "allowed": t.allowed,
            })).collect::<Vec<_>>(),
            "invalid_transitions": self.transitions.iter().filter(|t| !t.allowed).map(|t| t.count).sum::<u64>(),
            "watch": watch,
            "faults": self.extra.faults,
            "node_faults": self.extra.events.iter().map(|e| e.json()).collect::<Vec<_>>(),
            "acknowledged_writes": ack,
            "errors": self.errors,
            "notes": self.extra.notes,
        })
    }
}

fn first(v: &[String]) -> String {
    let mut s = v.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
    if v.len() > 5 {
        let _ = write!(s, "; ... ({} more)", v.len() - 5);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep::State;

    fn report(transitions: Vec<TransitionCount>, extra: Extra, s: Scenario) -> Report {
        let rec = Recorder::new();
        rec.ok_after(std::time::Instant::now());
        Report::new(s, &rec, Duration::from_secs(1), transitions, extra)
    }

    #[test]
    fn a_transition_outside_the_graph_fails_the_scenario() {
        let good = TransitionCount {
            from: State::Created,
            to: State::Resolving,
            count: 3,
            allowed: true,
        };
        assert!(report(vec![good], Extra::default(), Scenario::Bursty).passed());
        let bad = TransitionCount {
            from: State::Ready,
            to: State::Connecting,
            count: 1,
            allowed: false,
        };
        let r = report(vec![good, bad], Extra::default(), Scenario::Bursty);
        assert!(!r.passed());
        assert!(
            r.failures[0].contains("Ready -> Connecting"),
            "{:?}",
            r.failures
        );
        assert_eq!(r.json()["invalid_transitions"], 1);
    }

    #[test]
    fn pool_violations_and_lost_writes_fail_and_chaos_tolerates_errors() {
        let pool = lockstep::PoolStats {
            state_violations: 1,
            ..Default::default()
        };
        let extra = Extra {
            pool: Some(pool),
            ..Extra::default()
        };
        assert!(!report(vec![], extra, Scenario::SmallPool).passed());

        let chaos = Scenario::Chaos(super::super::chaos::Fault::Kill);
        let rec = Recorder::new();
        rec.ok_after(std::time::Instant::now());
        rec.ok_after(std::time::Instant::now());
        rec.check_failed("killed".into());
        let faults = BTreeMap::from([("connections killed".to_string(), 1)]);
        let r = Report::new(
            chaos,
            &rec,
            Duration::from_secs(1),
            vec![],
            Extra {
                faults: faults.clone(),
                ack: Some(Default::default()),
                ..Extra::default()
            },
        );
        assert!(r.passed(), "{:?}", r.failures);
        let lost = super::super::chaos::AckReport {
            lost: vec!["writer 0 #1".into()],
            ..Default::default()
        };
        let r = Report::new(
            chaos,
            &rec,
            Duration::from_secs(1),
            vec![],
            Extra {
                faults,
                ack: Some(lost),
                ..Extra::default()
            },
        );
        assert!(!r.passed());
        // Outside chaos the same failed operation fails the scenario.
        let r = Report::new(
            Scenario::Bursty,
            &rec,
            Duration::from_secs(1),
            vec![],
            Extra::default(),
        );
        assert!(!r.passed());
    }
}
