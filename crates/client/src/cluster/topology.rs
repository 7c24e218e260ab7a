//! The slot map: which shard serves each slot, and each shard's primary and replicas, as
//! CLUSTER SHARDS (or CLUSTER SLOTS, for servers without SHARDS) describes them; and how
//! the answers of several nodes are weighed against each other.
//!
//! A map is a value: the router publishes a new one, readers never wait on a writer.

use lockstep_resp::Frame;

use crate::error::Error;
use crate::reply::map_get as field;

/// Slots in a cluster.
pub(crate) const SLOTS: usize = lockstep_commands::slot::SLOTS as usize;

/// One primary and the replicas that serve its slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shard {
    /// `host:port`.
    pub primary: String,
    /// `host:port` of each healthy replica, sorted (so that two nodes' views compare).
    pub replicas: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Topology {
    pub shards: Vec<Shard>,
    /// Slot → index into `shards`; empty before the first map.
    slots: Vec<Option<u16>>,
}

impl Topology {
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    pub fn shard_of(&self, slot: u16) -> Option<&Shard> {
        let i = (*self.slots.get(usize::from(slot))?)?;
        self.shards.get(usize::from(i))
    }

    /// Slots some shard serves.
    pub fn covered(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Primaries, in map order.
    pub fn primaries(&self) -> impl Iterator<Item = &str> {
        self.shards.iter().map(|s| s.primary.as_str())
    }

    /// Every node: primaries, then replicas.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.primaries().chain(
            self.shards
                .iter()
                .flat_map(|s| s.replicas.iter().map(String::as_str)),
        )
    }

    /// The shard whose primary is `node`, added (without replicas) when none is.
    fn shard_index(&mut self, node: &str) -> u16 {
        match self.shards.iter().position(|s| s.primary == node) {
            Some(i) => i as u16,
            None => {
                // A replica that was promoted leaves its old shard's replica list.
                for s in &mut self.shards {
                    s.replicas.retain(|r| r != node);
                }
                self.shards.push(Shard {
                    primary: node.to_string(),
                    replicas: Vec::new(),
                });
                (self.shards.len() - 1) as u16
            }
        }
    }

    fn assign(&mut self, slots: std::ops::RangeInclusive<usize>, shard: u16) {
        if self.slots.len() != SLOTS {
            self.slots = vec![None; SLOTS];
        }
        for s in slots {
            if let Some(entry) = self.slots.get_mut(s) {
                *entry = Some(shard);
            }
        }
    }

    /// This map with `slot` served by the primary `node` (what `-MOVED` says).
    pub fn moved(&self, slot: u16, node: &str) -> Topology {
        let mut t = self.clone();
        let i = t.shard_index(node);
        t.assign(usize::from(slot)..=usize::from(slot), i);
        t
    }

    /// Drops shards that serve no slot (a primary that handed all its slots away).
    fn prune(mut self) -> Topology {
        let mut used = vec![false; self.shards.len()];
        for i in self.slots.iter().flatten() {
            used[usize::from(*i)] = true;
        }
        if used.iter().all(|u| *u) {
            return self;
        }
        let mut renumber = vec![0u16; self.shards.len()];
        let mut kept = Vec::new();
        for (i, shard) in std::mem::take(&mut self.shards).into_iter().enumerate() {
            if used[i] {
                renumber[i] = kept.len() as u16;
                kept.push(shard);
            }
        }
        for s in self.slots.iter_mut().flatten() {
            *s = renumber[usize::from(*s)];
        }
        self.shards = kept;
        self
    }
}

/// The map most of the answering nodes agree on; among equally supported ones, the one
/// that covers the most slots, then the one that knows the most healthy nodes (a node
/// that has not yet seen a replica come online agrees on everything else). `None` when
/// nobody answered.
pub(crate) fn agree(views: Vec<Topology>) -> Option<Topology> {
    let mut groups: Vec<(Topology, usize)> = Vec::new();
    for v in views {
        match groups.iter_mut().find(|(t, _)| *t == v) {
            Some((_, n)) => *n += 1,
            None => groups.push((v, 1)),
        }
    }
    groups
        .into_iter()
        .max_by_key(|(t, n)| (*n, t.covered(), t.nodes().count()))
        .map(|(t, _)| t)
}

/// `host:port` of an address, as CLUSTER SHARDS and redirections name nodes.
pub(crate) fn node_name(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host:port` (or `[v6]:port`).
pub(crate) fn split_node(node: &str) -> Option<(String, u16)> {
    let (host, port) = node.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

fn int(f: &Frame) -> Option<i64> {
    match f {
        Frame::Integer(n) => Some(*n),
        other => std::str::from_utf8(other.as_bytes()?).ok()?.parse().ok(),
    }
}

fn text(f: &Frame) -> Option<String> {
    f.as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

/// A node's address from what the map says of it; an empty or `?` host is the one the
/// map was asked of (Redis's convention for "the address you reached me at").
fn address(host: Option<String>, port: Option<i64>, asked: &str) -> Option<String> {
    let port = u16::try_from(port?).ok()?;
    let host = match host.filter(|h| !h.is_empty() && h != "?") {
        Some(h) => h,
        None => split_node(asked)?.0,
    };
    Some(node_name(&host, port))
}

fn malformed(what: &str) -> Error {
    Error::Protocol(format!("unexpected {what} reply"))
}

fn slot_range(start: i64, end: i64) -> std::ops::RangeInclusive<usize> {
    let start = start.clamp(0, SLOTS as i64 - 1) as usize;
    let end = end.clamp(0, SLOTS as i64 - 1) as usize;
    start..=end
}

/// CLUSTER SHARDS: per shard, its slot ranges and its nodes, each with its role and health.
pub(crate) fn from_shards(reply: Frame, asked: &str) -> Result<Topology, Error> {
    let bad = || malformed("CLUSTER SHARDS");
    let Frame::Array(shards) = reply else {
        return Err(bad());
    };
    let mut t = Topology::default();
    for shard in &shards {
        let (Some(Frame::Array(ranges)), Some(Frame::Array(nodes))) =
            (field(shard, "slots"), field(shard, "nodes"))
        else {
            return Err(bad());
        };
        if ranges.is_empty() {
            continue;
        }
        let mut primary = None;
        let mut replicas = Vec::new();
        for n in nodes {
            let host = field(n, "endpoint")
                .and_then(text)
                .or_else(|| field(n, "ip").and_then(text));
            let port = field(n, "port").and_then(int);
            let Some(addr) = address(host, port, asked) else {
                return Err(bad());
            };
            let health = field(n, "health").and_then(text);
            match field(n, "role").and_then(text).as_deref() {
                Some("master") if health.as_deref() != Some("fail") => primary = Some(addr),
                Some("replica") if health.as_deref() == Some("online") => replicas.push(addr),
                _ => {}
            }
        }
        let Some(primary) = primary else { continue };
        replicas.sort();
        let i = t.shard_index(&primary);
        t.shards[usize::from(i)].replicas = replicas;
        for range in ranges.chunks(2) {
            let (Some(start), Some(end)) = (int(&range[0]), range.get(1).and_then(int)) else {
                return Err(bad());
            };
            t.assign(slot_range(start, end), i);
        }
    }
    Ok(t.prune())
}

/// CLUSTER SLOTS: per range, start, end, the primary `[host, port, id, ...]`, then the
/// replicas in the same shape.
pub(crate) fn from_slots(reply: Frame, asked: &str) -> Result<Topology, Error> {
    let bad = || malformed("CLUSTER SLOTS");
    let Frame::Array(ranges) = reply else {
        return Err(bad());
    };
    let mut t = Topology::default();
    for range in &ranges {
        let Frame::Array(items) = range else {
            return Err(bad());
        };
        let (Some(start), Some(end)) = (items.first().and_then(int), items.get(1).and_then(int))
        else {
            return Err(bad());
        };
        let mut nodes = Vec::new();
        for n in items.iter().skip(2) {
            let Frame::Array(n) = n else {
                return Err(bad());
            };
            let host = n.first().and_then(text);
            let port = n.get(1).and_then(int);
            nodes.push(address(host, port, asked).ok_or_else(bad)?);
        }
        let Some((primary, replicas)) = nodes.split_first() else {
            return Err(bad());
        };
        let i = t.shard_index(primary);
        let shard = &mut t.shards[usize::from(i)];
        for r in replicas {
            if !shard.replicas.contains(r) {
                shard.replicas.push(r.clone());
            }
        }
        shard.replicas.sort();
        t.assign(slot_range(start, end), i);
    }
    Ok(t.prune())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(bytes::Bytes::copy_from_slice(s.as_bytes()))
    }

    fn node(host: &str, port: i64, role: &str, health: &str) -> Frame {
        Frame::Map(vec![
            (bulk("ip"), bulk(host)),
            (bulk("port"), Frame::Integer(port)),
            (bulk("role"), bulk(role)),
            (bulk("health"), bulk(health)),
        ])
    }

    #[test]
    fn cluster_slots_makes_a_map_with_replicas() {
        let reply = Frame::Array(vec![
            Frame::Array(vec![
                Frame::Integer(0),
                Frame::Integer(5460),
                Frame::Array(vec![bulk("127.0.0.1"), Frame::Integer(7000), bulk("id")]),
                Frame::Array(vec![bulk("127.0.0.1"), Frame::Integer(7003), bulk("r")]),
            ]),
            Frame::Array(vec![
                Frame::Integer(5461),
                Frame::Integer(16383),
                Frame::Array(vec![bulk(""), Frame::Integer(7001), bulk("id2")]),
            ]),
        ]);
        let t = from_slots(reply, "10.0.0.9:7001").unwrap();
        assert_eq!(t.shard_of(0).unwrap().primary, "127.0.0.1:7000");
        assert_eq!(t.shard_of(0).unwrap().replicas, ["127.0.0.1:7003"]);
        assert_eq!(t.shard_of(5461).unwrap().primary, "10.0.0.9:7001");
        assert_eq!(t.covered(), SLOTS);
        assert_eq!(t.nodes().count(), 3);
    }

    #[test]
    fn cluster_shards_skips_failed_nodes_and_keeps_online_replicas() {
        let shard = |lo, hi, nodes| {
            Frame::Map(vec![
                (
                    bulk("slots"),
                    Frame::Array(vec![Frame::Integer(lo), Frame::Integer(hi)]),
                ),
                (bulk("nodes"), Frame::Array(nodes)),
            ])
        };
        let reply = Frame::Array(vec![
            shard(
                0,
                8191,
                vec![
                    node("127.0.0.1", 7000, "master", "online"),
                    node("127.0.0.1", 7003, "replica", "online"),
                    node("127.0.0.1", 7004, "replica", "loading"),
                ],
            ),
            shard(
                8192,
                16383,
                vec![
                    node("127.0.0.1", 7001, "master", "fail"),
                    node("127.0.0.1", 7005, "replica", "online"),
                ],
            ),
        ]);
        let t = from_shards(reply, "127.0.0.1:7000").unwrap();
        assert_eq!(
            t.shards.len(),
            1,
            "the failed primary's shard has no primary"
        );
        assert_eq!(t.shard_of(1).unwrap().replicas, ["127.0.0.1:7003"]);
        assert!(t.shard_of(9000).is_none());
        assert_eq!(t.covered(), 8192);
    }

    #[test]
    fn moved_reassigns_one_slot_and_promotes_a_replica() {
        let mut t = Topology::default();
        let a = t.shard_index("a:1");
        t.shards[0].replicas = vec!["b:1".into()];
        t.assign(0..=SLOTS - 1, a);
        let m = t.moved(7, "b:1");
        assert_eq!(m.shard_of(7).unwrap().primary, "b:1");
        assert_eq!(m.shard_of(8).unwrap().primary, "a:1");
        assert!(m.shard_of(8).unwrap().replicas.is_empty());
        assert_eq!(
            t.shard_of(7).unwrap().primary,
            "a:1",
            "the old map is unchanged"
        );
    }

    #[test]
    fn the_majority_view_wins_then_the_fuller_one() {
        let full = {
            let mut t = Topology::default();
            let i = t.shard_index("a:1");
            t.assign(0..=SLOTS - 1, i);
            t
        };
        let half = {
            let mut t = Topology::default();
            let i = t.shard_index("a:1");
            t.assign(0..=99, i);
            t
        };
        assert_eq!(
            agree(vec![half.clone(), full.clone(), half.clone()]),
            Some(half.clone())
        );
        assert_eq!(agree(vec![half, full.clone()]), Some(full));
        assert_eq!(agree(Vec::new()), None);
    }
}
