//! Cluster checks, once per target through the first address that answered: the cluster's
//! state, and whether every node address the cluster advertises (CLUSTER SHARDS, or CLUSTER
//! SLOTS before 7.0) answers from this machine *as that node*. That is the Docker/NAT trap:
//! the seed node is reachable through a published port, but the nodes announce their
//! container addresses, which a cluster client then cannot reach.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use lockstep::Resolver;
use lockstep_resp::Frame;
use serde_json::json;

use super::report::Check;
use super::tls::{self, Handshake};
use super::wire::{self, Answer, Conn, ConnectError};
use super::Target;

/// A node as the cluster advertises it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Advertised {
    /// The endpoint clients are told to use: an IP or a host name.
    pub endpoint: String,
    pub port: u16,
    pub id: String,
}

impl Advertised {
    fn label(&self) -> String {
        if self.endpoint.contains(':') {
            format!("[{}]:{}", self.endpoint, self.port)
        } else {
            format!("{}:{}", self.endpoint, self.port)
        }
    }
}

/// Runs the cluster checks over `conn` (connected to `via`).
pub async fn examine(
    conn: &mut Conn,
    via: SocketAddr,
    target: &Target,
    resolver: Arc<dyn Resolver>,
    timeout: Duration,
) -> Vec<Check> {
    let mut checks = vec![Check::pass(
        "cluster",
        "cluster",
        format!("cluster mode (cluster_enabled:1), checked through {via}"),
    )];

    match conn.call_frame(&["CLUSTER", "INFO"]).await {
        Ok(f) => {
            let info = wire::text(&f).unwrap_or_default();
            let field = |k: &str| wire::info_field(&info, k).unwrap_or_else(|| "?".into());
            let state = field("cluster_state");
            let data = json!({
                "cluster_state": state,
                "slots_assigned": field("cluster_slots_assigned"),
                "slots_fail": field("cluster_slots_fail"),
                "known_nodes": field("cluster_known_nodes"),
            });
            let message = format!(
                "cluster_state:{state}, {} of 16384 slots assigned, {} failing, {} known nodes",
                field("cluster_slots_assigned"),
                field("cluster_slots_fail"),
                field("cluster_known_nodes")
            );
            checks.push(if state == "ok" {
                Check::pass("cluster_state", "ok", message).with_data(data)
            } else {
                Check::fail(
                    "cluster_state",
                    "state_fail",
                    message,
                    "every slot must be served by a reachable primary: look for failed nodes \
                     and unassigned slots with CLUSTER NODES or redis-cli --cluster check",
                )
                .with_data(data)
            });
        }
        Err(seen) => checks.push(Check::fail(
            "cluster_state",
            "error",
            format!("CLUSTER INFO answered {seen}"),
            "check the user's permissions (ACL) for CLUSTER",
        )),
    }

    let nodes = match advertised(conn, target.tls).await {
        Ok(nodes) => nodes,
        Err(seen) => {
            checks.push(Check::fail(
                "cluster_nodes",
                "error",
                format!("neither CLUSTER SHARDS nor CLUSTER SLOTS gave the nodes: {seen}"),
                "check the user's permissions (ACL) for CLUSTER",
            ));
            return checks;
        }
    };
    checks.push(reachability(nodes, via, target, resolver, timeout).await);
    checks
}

/// The nodes the cluster advertises, from CLUSTER SHARDS (7.0+) or CLUSTER SLOTS.
async fn advertised(conn: &mut Conn, tls: bool) -> Result<BTreeSet<Advertised>, String> {
    let shards = conn.call_frame(&["CLUSTER", "SHARDS"]).await;
    if let Ok(Frame::Array(shards)) = &shards {
        return Ok(from_shards(shards, tls));
    }
    match conn.call_frame(&["CLUSTER", "SLOTS"]).await {
        Ok(Frame::Array(ranges)) => Ok(from_slots(&ranges)),
        Ok(other) => Err(format!(
            "CLUSTER SLOTS answered {}",
            wire::frame_text(&other)
        )),
        Err(e) => Err(format!("CLUSTER SLOTS answered {e}")),
    }
}

pub fn from_shards(shards: &[Frame], tls: bool) -> BTreeSet<Advertised> {
    let mut out = BTreeSet::new();
    for shard in shards {
        let Some(Frame::Array(nodes)) = lockstep::reply::map_get(shard, "nodes") else {
            continue;
        };
        for node in nodes {
            let get = |k: &str| lockstep::reply::map_get(node, k).and_then(wire::text);
            let port = if tls { get("tls-port") } else { get("port") };
            let Some(port) = port.and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            let endpoint = get("endpoint")
                .filter(|e| !e.is_empty() && e != "?")
                .or_else(|| get("ip"))
                .unwrap_or_default();
            out.insert(Advertised {
                endpoint,
                port,
                id: get("id").unwrap_or_default(),
            });
        }
    }
    out
}

pub fn from_slots(ranges: &[Frame]) -> BTreeSet<Advertised> {
    let mut out = BTreeSet::new();
    for range in ranges {
        let Frame::Array(parts) = range else { continue };
        for node in parts.iter().skip(2) {
            let Frame::Array(fields) = node else { continue };
            let get = |i: usize| fields.get(i).and_then(wire::text);
            let Some(port) = get(1).and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            out.insert(Advertised {
                endpoint: get(0).unwrap_or_default(),
                port,
                id: get(2).unwrap_or_default(),
            });
        }
    }
    out
}

/// How reaching one advertised node went: `None` when it answered as itself.
async fn probe(
    node: &Advertised,
    via: SocketAddr,
    target: &Target,
    resolver: &Arc<dyn Resolver>,
    timeout: Duration,
) -> Option<String> {
    // An empty or "?" endpoint means "the address you reached me on" (Redis 7.0).
    let ip: IpAddr = if node.endpoint.is_empty() || node.endpoint == "?" {
        via.ip()
    } else if let Ok(ip) = node.endpoint.parse() {
        ip
    } else {
        match tokio::time::timeout(timeout, resolver.resolve(&node.endpoint, node.port)).await {
            Ok(Ok(addrs)) if !addrs.is_empty() => addrs[0].ip(),
            Ok(Ok(_)) => return Some("its host name resolves to no address".into()),
            Ok(Err(e)) => return Some(format!("its host name does not resolve: {e}")),
            Err(_) => return Some("its host name did not resolve in time".into()),
        }
    };
    let addr = SocketAddr::new(ip, node.port);
    let tcp = match wire::connect(addr, timeout).await {
        Ok((tcp, _)) => tcp,
        Err(ConnectError::Refused) => return Some("connection refused".into()),
        Err(ConnectError::Timeout) => {
            return Some(format!("no answer within {}", super::address::ms(timeout)))
        }
        Err(ConnectError::Unreachable(e)) | Err(ConnectError::Other(e)) => return Some(e),
    };
    let stream: Box<dyn wire::Wire> = if target.tls {
        match tls::handshake(tcp, &node.endpoint, !target.insecure, timeout).await {
            Handshake::Done(s, _) => s,
            other => return Some(format!("TLS handshake failed: {other:?}")),
        }
    } else {
        Box::new(tcp)
    };
    let mut conn = Conn::new(stream, timeout);
    if let Some(pass) = &target.password {
        let user = target.username.clone().unwrap_or_else(|| "default".into());
        let answer = conn.call(&["AUTH", user.as_str(), pass.as_str()]).await;
        if !matches!(answer, Answer::Frame(Frame::Simple(_))) {
            return Some(format!("AUTH answered {}", wire::describe(&answer)));
        }
    }
    match conn.call(&["CLUSTER", "MYID"]).await {
        Answer::Frame(Frame::Bulk(id)) => {
            let id = String::from_utf8_lossy(&id).into_owned();
            if node.id.is_empty() || id == node.id {
                None
            } else {
                Some(format!("a different node answers there ({id})"))
            }
        }
        Answer::Frame(Frame::Error(e)) => Some(format!(
            "CLUSTER MYID answered -{}",
            String::from_utf8_lossy(&e)
        )),
        Answer::NotResp(b) | Answer::Closed(b) | Answer::Reset(b) if b.starts_with(b"HTTP/") => {
            Some("an HTTP server answers there, not this node (a proxy or NAT?)".into())
        }
        other => Some(wire::describe(&other)),
    }
}

async fn reachability(
    nodes: BTreeSet<Advertised>,
    via: SocketAddr,
    target: &Target,
    resolver: Arc<dyn Resolver>,
    timeout: Duration,
) -> Check {
    let mut tasks = tokio::task::JoinSet::new();
    for node in nodes.iter().cloned() {
        let target = target.clone();
        let resolver = resolver.clone();
        tasks.spawn(async move {
            let result = probe(&node, via, &target, &resolver, timeout).await;
            (node, result)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(r) = joined {
            results.push(r);
        }
    }
    results.sort();
    let data = json!(results
        .iter()
        .map(|(n, r)| json!({
            "addr": n.label(),
            "id": n.id,
            "reachable": r.is_none(),
            "error": r,
        }))
        .collect::<Vec<_>>());
    let bad: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().map(|r| format!("{} ({r})", n.label())))
        .collect();
    if results.is_empty() {
        return Check::fail(
            "cluster_nodes",
            "no_nodes",
            "the cluster advertises no node with slots",
            "assign the slots (CLUSTER ADDSLOTS, or redis-cli --cluster create)",
        );
    }
    if bad.is_empty() {
        let all: Vec<String> = results.iter().map(|(n, _)| n.label()).collect();
        return Check::pass(
            "cluster_nodes",
            "ok",
            format!(
                "all {} advertised nodes answer from here as themselves: {}",
                all.len(),
                all.join(", ")
            ),
        )
        .with_data(data);
    }
    Check::fail(
        "cluster_nodes",
        "nodes_unreachable",
        format!(
            "{} of {} nodes advertise addresses this machine cannot reach them at: {}; a \
             cluster client is sent to these addresses by CLUSTER SLOTS and MOVED",
            bad.len(),
            results.len(),
            bad.join("; ")
        ),
        "the nodes announce addresses that work only inside their own network (the \
         Docker/NAT cluster trap): set cluster-announce-ip (and cluster-announce-port, \
         cluster-announce-bus-port) on every node to an address clients can reach, or run \
         the client inside the same network (the same Docker network, or host networking)",
    )
    .with_data(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn b(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn shards_give_endpoint_port_and_id() {
        let node = Frame::Map(vec![
            (b("id"), b("abc")),
            (b("port"), Frame::Integer(7001)),
            (b("ip"), b("10.0.0.5")),
            (b("endpoint"), b("203.0.113.1")),
        ]);
        let shard = Frame::Map(vec![
            (b("slots"), Frame::Array(vec![])),
            (b("nodes"), Frame::Array(vec![node])),
        ]);
        let got = from_shards(&[shard], false);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            vec![Advertised {
                endpoint: "203.0.113.1".into(),
                port: 7001,
                id: "abc".into()
            }]
        );
    }

    #[test]
    fn slots_give_every_node_of_every_range() {
        let range = Frame::Array(vec![
            Frame::Integer(0),
            Frame::Integer(16383),
            Frame::Array(vec![b("203.0.113.1"), Frame::Integer(7000), b("p")]),
            Frame::Array(vec![b("203.0.113.2"), Frame::Integer(7001), b("r")]),
        ]);
        let got = from_slots(&[range]);
        assert_eq!(got.len(), 2);
    }
}
