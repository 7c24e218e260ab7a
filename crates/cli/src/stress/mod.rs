//! `lockstep stress`: the load and race workloads of seed 004 (basic, advanced, detect)
//! and chaos (the same kind of load while faults are injected, with an
//! acknowledged-writes check), against an embedded lockstep cluster or the servers named
//! by `--addrs`. It reports per scenario and exits non-zero when one fails its thresholds.
//!
//! It must never touch data it did not write (its keys start with `stress:`) nor kill
//! connections that are not its own (chaos kills only connections named `lockstep-stress`).

mod chaos;
mod detect;
mod record;
mod report;
mod scenarios;
mod target;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use record::Recorder;
use report::Report;
pub use scenarios::Mode;
use scenarios::{Ctx, Scenario};
use target::Target;

/// `lockstep stress`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    lockstep stress --mode all --duration 10s\n  \
    lockstep stress --addrs 127.0.0.1:6379 --mode basic --json report.json\n  \
    lockstep stress --addrs 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 --mode chaos\n\n\
    Without --addrs an embedded lockstep cluster of 3 primaries and 3 replicas runs the \
    workloads, and chaos also stops, restarts and pauses its nodes. With --addrs, a \
    standalone server or a cluster (told by INFO cluster_enabled). The exit code \
    is 1 when a scenario fails its thresholds: any failed operation outside chaos, any \
    connection or pool transition outside the state graph, any lost or duplicated \
    acknowledged write.")]
pub struct StressArgs {
    /// Servers to run against (HOST:PORT, comma-separated); default: an embedded cluster.
    #[arg(long, value_delimiter = ',')]
    addrs: Vec<String>,
    /// Which scenarios.
    #[arg(long, value_enum, default_value_t = Mode::Basic)]
    mode: Mode,
    /// Time for the whole run, shared by its scenarios (e.g. 10s, 500ms, 2m); node stops
    /// and pauses take at least 2.5 s and 3 s.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Only these scenarios of the mode (names as the report prints them, e.g.
    /// chaos-node-stops; comma-separated).
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<String>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `10s`, `500ms`, `2m`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 10s, 500ms, 2m)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!("'{s}' is not a duration between 1ms and 24h"));
    }
    Ok(Duration::from_secs_f64(secs).max(Duration::from_millis(1)))
}

pub async fn run(args: StressArgs) -> ExitCode {
    let started = Instant::now();
    let mut list = Scenario::of(args.mode);
    if !args.scenario.is_empty() {
        if let Some(unknown) = args
            .scenario
            .iter()
            .find(|n| !list.iter().any(|s| &s.name() == *n))
        {
            let names: Vec<String> = list.iter().map(|s| s.name()).collect();
            eprintln!(
                "lockstep stress: --scenario: no scenario '{unknown}' in {:?} mode (it has {})",
                args.mode,
                names.join(", ")
            );
            return ExitCode::FAILURE;
        }
        list.retain(|s| args.scenario.contains(&s.name()));
    }
    let target = if args.addrs.is_empty() {
        Target::embedded(3).await
    } else {
        for a in &args.addrs {
            if let Err(e) = target::split_addr(a) {
                eprintln!("lockstep stress: --addrs: {e}");
                return ExitCode::FAILURE;
            }
        }
        Target::external(&args.addrs).await
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            eprintln!("lockstep stress: {e}");
            return ExitCode::FAILURE;
        }
    };
    let slice = args.duration / list.len().max(1) as u32;
    let tty = std::io::stderr().is_terminal();
    println!(
        "lockstep stress: {} scenarios ({:?} mode) against {}, {:.2}s each{}",
        list.len(),
        args.mode,
        target.description,
        slice.as_secs_f64(),
        if list.iter().any(|s| s.min_slice() > slice) {
            " (node faults longer: they wait for takeovers and restarts)"
        } else {
            ""
        }
    );
    let run_id = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id())
    );
    let mut reports = Vec::new();
    for s in list {
        let report = run_one(s, &target, slice.max(s.min_slice()), &run_id, tty).await;
        print!("{}", report.text());
        reports.push(report);
    }
    let embedded = target.is_embedded();
    let description = target.description.clone();
    target.stop().await;

    let failed: Vec<&Report> = reports.iter().filter(|r| !r.passed()).collect();
    let skipped = reports.iter().filter(|r| r.skipped()).count();
    println!(
        "\n{} of {} scenarios passed{} in {:.1}s{}",
        reports.len() - failed.len() - skipped,
        reports.len(),
        if skipped > 0 {
            format!(", {skipped} skipped")
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(
                "; FAILED: {}",
                failed
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "target": description,
            "embedded": embedded,
            "mode": format!("{:?}", args.mode).to_lowercase(),
            "duration_s": args.duration.as_secs_f64(),
            "passed": failed.is_empty(),
            "scenarios": reports.iter().map(Report::json).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("lockstep stress: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run_one(s: Scenario, target: &Target, slice: Duration, run: &str, tty: bool) -> Report {
    let rec = Arc::new(Recorder::new());
    let before = lockstep::metrics::transitions();
    let started = Instant::now();
    let ctx = Ctx {
        target,
        rec: rec.clone(),
        until: started + slice,
        run: run.to_string(),
    };
    let bar = if tty {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:.bold} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(s.name());
        bar.enable_steady_tick(Duration::from_millis(100));
        Some(bar)
    } else {
        println!("running {} ({}): {}", s.name(), s.mode(), s.about());
        None
    };
    let ticker = bar.clone().map(|bar| {
        let rec = rec.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                bar.set_message(format!(
                    "{} ops, {} ok, {} not ok",
                    rec.total(),
                    rec.ok.load(std::sync::atomic::Ordering::Relaxed),
                    rec.unsuccessful()
                ));
            }
        })
    });
    let result = scenarios::run(s, &ctx).await;
    // Operations start only before the deadline: the load lasted the slice (setup and
    // read-back checks are not load).
    let elapsed = started.elapsed().min(slice);
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(extra) => Report::new(s, &rec, elapsed, detect::since(&before), extra),
        Err(e) => Report::error(s, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10h").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
