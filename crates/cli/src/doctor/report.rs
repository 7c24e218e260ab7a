//! The doctor's findings: an ordered list of checks, each with a status, a machine-readable
//! kind, what was seen, and the fix when something is wrong. The text a person reads and the
//! JSON a machine reads are two renderings of the same list.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde_json::{json, Value};

/// Whether a check passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
}

/// One finding.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// What was checked: `dns`, `tcp`, `tls`, `resp`, `auth`, `protected_mode`, `server`,
    /// `latency`, `families`, `cluster`, `cluster_state`, `cluster_nodes`.
    pub name: &'static str,
    /// The address the check ran against; `None` for checks of the target as a whole.
    pub addr: Option<SocketAddr>,
    pub status: Status,
    /// The finding as a code, e.g. `ok`, `refused`, `accepted_then_closed`, `expects_tls`,
    /// `http`, `noauth`, `wrongpass`, `denied`, `family_mismatch`, `nodes_unreachable`.
    pub kind: &'static str,
    /// What was seen, in plain words.
    pub message: String,
    /// What to do about it (failed checks).
    pub fix: Option<String>,
    /// Figures for machines (addresses, latencies, versions).
    pub data: Value,
}

impl Check {
    pub fn pass(name: &'static str, kind: &'static str, message: impl Into<String>) -> Check {
        Check {
            name,
            addr: None,
            status: Status::Pass,
            kind,
            message: message.into(),
            fix: None,
            data: Value::Null,
        }
    }

    pub fn fail(
        name: &'static str,
        kind: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name,
            addr: None,
            status: Status::Fail,
            kind,
            message: message.into(),
            fix: Some(fix.into()),
            data: Value::Null,
        }
    }

    pub fn at(mut self, addr: SocketAddr) -> Check {
        self.addr = Some(addr);
        self
    }

    pub fn with_data(mut self, data: Value) -> Check {
        self.data = data;
        self
    }

    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }

    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "addr": self.addr.map(|a| a.to_string()),
            "status": match self.status { Status::Pass => "pass", Status::Fail => "fail" },
            "kind": self.kind,
            "message": self.message,
            "fix": self.fix,
            "data": self.data,
        })
    }
}

/// Everything the doctor found about one URL.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The URL with any password replaced by `***`.
    pub url: String,
    pub host: String,
    pub port: u16,
    /// In the order they ran: DNS, then each address's checks in resolver order, then the
    /// checks of the target as a whole (families, cluster).
    pub checks: Vec<Check>,
}

impl Report {
    /// True when every check passed: the exit code is 0 exactly then.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(Check::passed)
    }

    /// The first check named `name` (at `addr`, when given).
    pub fn check(&self, name: &str, addr: Option<SocketAddr>) -> Option<&Check> {
        self.checks
            .iter()
            .find(|c| c.name == name && (addr.is_none() || c.addr == addr))
    }

    /// Every failed check.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed())
    }

    pub fn to_json(&self) -> Value {
        json!({
            "url": self.url,
            "host": self.host,
            "port": self.port,
            "passed": self.passed(),
            "checks": self.checks.iter().map(Check::to_json).collect::<Vec<_>>(),
        })
    }

    /// The report for a person: one line per check, grouped by address, with the fix under
    /// each failure.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "lockstep doctor {}", self.url);
        let mut current: Option<SocketAddr> = None;
        for c in &self.checks {
            if c.addr != current {
                if let Some(addr) = c.addr {
                    let _ = writeln!(out, "{addr}");
                }
                current = c.addr;
            }
            let indent = if c.addr.is_some() { "  " } else { "" };
            let mark = if c.passed() { "✓" } else { "✗" };
            let _ = writeln!(out, "{indent}{mark} {:<14} {}", c.name, c.message);
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "{indent}  {:<14} fix: {fix}", "");
            }
        }
        let failed = self.failures().count();
        if failed == 0 {
            let _ = writeln!(out, "all {} checks passed", self.checks.len());
        } else {
            let _ = writeln!(out, "{failed} of {} checks failed", self.checks.len());
        }
        out
    }
}
