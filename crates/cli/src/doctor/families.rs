//! Seed 001 in one check: a host name that resolves to several addresses, where some answer
//! as Redis and others refuse, time out, or accept the connection and close it. Clients that
//! try the first address only (or treat "connected" as "ready") fail although the server is
//! up, which is why `redis-cli` works and the application does not.

use std::net::SocketAddr;

use serde_json::json;

use super::address::Outcome;
use super::report::Check;

/// The verdict across the addresses of one host name, when there is more than one.
pub fn compare(host: &str, outcomes: &[(SocketAddr, Outcome)]) -> Option<Check> {
    if outcomes.len() < 2 {
        return None;
    }
    let working: Vec<SocketAddr> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Ready(..)))
        .map(|(a, _)| *a)
        .collect();
    // Only failures of the connection itself say something about where the server listens;
    // a wrong password fails on every address alike.
    let broken: Vec<(SocketAddr, &'static str)> = outcomes
        .iter()
        .filter_map(|(a, o)| match o {
            Outcome::Failed { stage, kind } if is_connection_failure(stage, kind) => {
                Some((*a, *kind))
            }
            _ => None,
        })
        .collect();
    if working.len() == outcomes.len() {
        let all: Vec<String> = working.iter().map(|a| a.ip().to_string()).collect();
        return Some(Check::pass(
            "families",
            "ok",
            format!("every address of {host} answers ({})", all.join(", ")),
        ));
    }
    if working.is_empty() || broken.is_empty() {
        return None;
    }

    let ips = |list: &mut dyn Iterator<Item = SocketAddr>| {
        let v: Vec<String> = list.map(|a| a.ip().to_string()).collect();
        v.join(" and ")
    };
    let working_ips = ips(&mut working.iter().copied());
    let broken_ips = ips(&mut broken.iter().map(|(a, _)| *a));
    let what: Vec<String> = broken
        .iter()
        .map(|(a, kind)| format!("{a} {}", what_happened(kind)))
        .collect();
    let mut message = format!(
        "{}, while {} answers: the server is bound to {working_ips} only",
        what.join("; "),
        working
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    let first = outcomes[0].0;
    if broken.iter().any(|(a, _)| *a == first) {
        message.push_str(&format!(
            "; {host} resolves to {} first, so clients that try it first and do not fall back \
             to the next address fail",
            first.ip()
        ));
        if broken.iter().any(|(_, k)| *k == "accepted_then_closed") {
            message.push_str(" with EPIPE or ECONNRESET");
        }
    } else {
        message.push_str(&format!("; clients that pick {broken_ips} fail"));
    }
    if broken.iter().any(|(_, k)| *k == "accepted_then_closed") {
        message.push_str(&format!(
            "; something on {broken_ips} (typically a container port forwarder, Docker's or \
             Podman's) accepts the connection but has no path to the server"
        ));
    }
    let good = working[0];
    let url_host = if good.is_ipv6() {
        format!("[{}]", good.ip())
    } else {
        good.ip().to_string()
    };
    let fix = format!(
        "use {} instead of {host} (redis://{url_host}:{}), or make the server listen on both \
         families (bind {working_ips} {broken_ips} in redis.conf; for a container, publish the \
         port on both families)",
        good.ip(),
        good.port(),
        working_ips = working
            .iter()
            .map(|a| a.ip().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        broken_ips = broken
            .iter()
            .map(|(a, _)| a.ip().to_string())
            .collect::<Vec<_>>()
            .join(" "),
    );
    Some(
        Check::fail("families", "family_mismatch", message, fix).with_data(json!({
            "working": working.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "failing": broken.iter().map(|(a, k)| json!({ "addr": a.to_string(), "kind": k })).collect::<Vec<_>>(),
        })),
    )
}

fn is_connection_failure(stage: &str, kind: &str) -> bool {
    matches!(
        (stage, kind),
        ("tcp", _)
            | ("resp", "accepted_then_closed")
            | ("resp", "silent")
            | ("resp", "not_resp")
            | ("resp", "http")
    )
}

fn what_happened(kind: &str) -> &'static str {
    match kind {
        "accepted_then_closed" => "accepted the connection and closed it before any reply",
        "refused" => "refused the connection (nothing listens there)",
        "timeout" => "did not answer the connection attempt",
        "unreachable" => "is unreachable",
        "silent" => "accepted the connection but never answered",
        "http" | "not_resp" => "is answered by something that is not Redis",
        _ => "failed",
    }
}
