//! Commands that one node cannot serve alone, by the request and response policies Redis
//! attaches to its commands (`crates/commands`, COMMAND DOCS tips): multi-key commands cut
//! into one command per slot and their replies put back in key order (MGET, MSET, DEL,
//! EXISTS, UNLINK, TOUCH), keyless ones sent to every primary or every node and their
//! replies aggregated (DBSIZE summed, FLUSHALL to all, SCRIPT EXISTS and-ed, ...), and
//! SCAN walked node after node behind one cluster cursor.
//!
//! It decides shapes only; sending is the router's (`mod.rs`).

use lockstep_commands::key_slot;
use lockstep_resp::Frame;

use crate::cmd::Cmd;
use crate::error::{Error, ServerError};

/// Where a command goes (`request_policy` tip).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// By its keys' slot; a keyless command to any primary.
    Default,
    AllShards,
    AllNodes,
    MultiShard,
    /// SCAN.
    Special,
}

/// How the replies of several nodes become one (`response_policy` tip).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Response {
    /// Keyed: replies back in key order. Keyless: arrays concatenated, else the first.
    Default,
    OneSucceeded,
    AllSucceeded,
    AggSum,
    AggMin,
    AggMax,
    AggLogicalAnd,
    AggLogicalOr,
    /// Each node's reply, by node.
    Special,
}

pub(crate) fn policies(c: &Cmd) -> (Request, Response) {
    let Some(spec) = c.spec().command() else {
        return (Request::Default, Response::Default);
    };
    // MSETNX is all-or-nothing on one node; cut in pieces it would not be. It keeps
    // Redis's CROSSSLOT rather than become something else.
    if spec.full_name == "msetnx" {
        return (Request::Default, Response::Default);
    }
    let mut request = Request::Default;
    let mut response = Response::Default;
    for tip in spec.tips {
        if let Some(p) = tip.strip_prefix("request_policy:") {
            request = match p {
                "all_shards" => Request::AllShards,
                "all_nodes" => Request::AllNodes,
                "multi_shard" => Request::MultiShard,
                "special" => Request::Special,
                _ => Request::Default,
            };
        } else if let Some(p) = tip.strip_prefix("response_policy:") {
            response = match p {
                "one_succeeded" => Response::OneSucceeded,
                "all_succeeded" => Response::AllSucceeded,
                "agg_sum" => Response::AggSum,
                "agg_min" => Response::AggMin,
                "agg_max" => Response::AggMax,
                "agg_logical_and" => Response::AggLogicalAnd,
                "agg_logical_or" => Response::AggLogicalOr,
                "special" => Response::Special,
                _ => Response::Default,
            };
        }
    }
    (request, response)
}

/// One slot's share of a multi-key command.
pub(crate) struct Part {
    pub slot: u16,
    pub cmd: Cmd,
    /// Index, among the original command's keys, of each key of this part, in order.
    pub keys: Vec<usize>,
}

/// Cuts a multi-key command into one command per slot: the arguments before the first
/// key, then each key of the slot with the arguments that follow it up to the next key
/// (MSET's value). `None` when its keys cannot be told.
pub(crate) fn split(c: &Cmd) -> Option<Vec<Part>> {
    let argv: Vec<&[u8]> = c.args().collect();
    let spec = c.spec().command()?;
    let positions = spec.key_positions(&argv)?;
    let first = *positions.first()?;
    // (slot, arguments, indices of its keys)
    type Cut<'a> = (u16, Vec<&'a [u8]>, Vec<usize>);
    let mut parts: Vec<Cut> = Vec::new();
    for (k, &pos) in positions.iter().enumerate() {
        let end = positions.get(k + 1).copied().unwrap_or(argv.len());
        let slot = key_slot(argv[pos]);
        let part = match parts.iter_mut().position(|p| p.0 == slot) {
            Some(i) => &mut parts[i],
            None => {
                parts.push((slot, argv[..first].to_vec(), Vec::new()));
                parts.last_mut().expect("just pushed")
            }
        };
        part.1.extend_from_slice(&argv[pos..end]);
        part.2.push(k);
    }
    Some(
        parts
            .into_iter()
            .map(|(slot, args, keys)| Part {
                slot,
                cmd: Cmd::from_args(args, c),
                keys,
            })
            .collect(),
    )
}

fn server_error(f: &Frame) -> Option<Error> {
    match f {
        Frame::Error(e) => Some(Error::Server(ServerError::from_bytes(e))),
        _ => None,
    }
}

fn int(f: &Frame) -> Result<i64, Error> {
    match f {
        Frame::Integer(n) => Ok(*n),
        other => Err(Error::Protocol(format!(
            "expected an integer from every node, got {}",
            crate::reply::describe(other)
        ))),
    }
}

/// The replies of a split command, merged as its response policy says. Replies are in
/// `parts` order; the first error wins.
pub(crate) fn merge_parts(
    response: Response,
    parts: &[Part],
    replies: Vec<Frame>,
    keys: usize,
) -> Result<Frame, Error> {
    if let Some(e) = replies.iter().find_map(server_error) {
        return Err(e);
    }
    match response {
        Response::Default => {
            let mut out = vec![Frame::Null; keys];
            for (part, reply) in parts.iter().zip(replies) {
                let Frame::Array(items) = reply else {
                    return Err(Error::Protocol(format!(
                        "expected an array per slot, got {}",
                        crate::reply::describe(&reply)
                    )));
                };
                if items.len() != part.keys.len() {
                    return Err(Error::Protocol(format!(
                        "{} replies for {} keys",
                        items.len(),
                        part.keys.len()
                    )));
                }
                for (k, item) in part.keys.iter().zip(items) {
                    out[*k] = item;
                }
            }
            Ok(Frame::Array(out))
        }
        other => aggregate(other, replies),
    }
}

/// The replies of one keyless command sent to several nodes (`node`, reply), as its
/// response policy says.
pub(crate) fn merge_nodes(
    response: Response,
    replies: Vec<(String, Result<Frame, Error>)>,
) -> Result<Frame, Error> {
    if response == Response::OneSucceeded {
        let mut last = None;
        for (_, r) in replies {
            match r {
                Ok(f) if !matches!(f, Frame::Error(_)) => return Ok(f),
                Ok(f) => last = server_error(&f),
                Err(e) => last = Some(e),
            }
        }
        return Err(last.unwrap_or_else(|| Error::Protocol("no node to send to".into())));
    }
    if response == Response::Special {
        let mut map = Vec::with_capacity(replies.len());
        for (node, r) in replies {
            let reply = match r {
                Ok(f) => f,
                Err(Error::Server(e)) => Frame::Error(e.to_string().into()),
                Err(e) => return Err(e),
            };
            map.push((Frame::Bulk(node.into()), reply));
        }
        return Ok(Frame::Map(map));
    }
    let mut frames = Vec::with_capacity(replies.len());
    for (_, r) in replies {
        let f = r?;
        if let Some(e) = server_error(&f) {
            return Err(e);
        }
        frames.push(f);
    }
    aggregate(response, frames)
}

fn aggregate(response: Response, frames: Vec<Frame>) -> Result<Frame, Error> {
    let fold = |f: &dyn Fn(i64, i64) -> i64| -> Result<Frame, Error> {
        let mut acc: Option<i64> = None;
        for fr in &frames {
            let n = int(fr)?;
            acc = Some(acc.map_or(n, |a| f(a, n)));
        }
        Ok(Frame::Integer(acc.unwrap_or(0)))
    };
    match response {
        Response::AggSum => fold(&i64::wrapping_add),
        Response::AggMin => fold(&i64::min),
        Response::AggMax => fold(&i64::max),
        Response::AggLogicalAnd | Response::AggLogicalOr => {
            let and = response == Response::AggLogicalAnd;
            let combine = |a: i64, b: i64| {
                i64::from(if and {
                    a != 0 && b != 0
                } else {
                    a != 0 || b != 0
                })
            };
            match frames.first() {
                Some(Frame::Array(first)) => {
                    let mut acc: Vec<i64> = first.iter().map(int).collect::<Result<_, _>>()?;
                    for fr in &frames[1..] {
                        let Frame::Array(items) = fr else {
                            return Err(Error::Protocol(
                                "nodes disagree on the reply's shape".into(),
                            ));
                        };
                        if items.len() != acc.len() {
                            return Err(Error::Protocol(
                                "nodes disagree on the reply's length".into(),
                            ));
                        }
                        for (a, item) in acc.iter_mut().zip(items) {
                            *a = combine(*a, int(item)?);
                        }
                    }
                    Ok(Frame::Array(acc.into_iter().map(Frame::Integer).collect()))
                }
                _ => fold(&combine),
            }
        }
        Response::AllSucceeded => frames
            .into_iter()
            .next()
            .ok_or_else(|| Error::Protocol("no node to send to".into())),
        // Keyless without a policy: arrays (KEYS) concatenated; otherwise any non-null
        // reply (RANDOMKEY).
        _ => {
            if frames.iter().all(|f| matches!(f, Frame::Array(_))) {
                let mut out = Vec::new();
                for f in frames {
                    if let Frame::Array(items) = f {
                        out.extend(items);
                    }
                }
                Ok(Frame::Array(out))
            } else {
                let first = frames.iter().position(|f| !matches!(f, Frame::Null));
                Ok(first.map_or(Frame::Null, |i| frames[i].clone()))
            }
        }
    }
}

/// Nodes a cluster cursor can name (the low bits of the cursor).
const SCAN_NODE_BITS: u32 = 10;

/// A cluster SCAN cursor: which primary (in the map's order) and that node's own cursor.
/// Cursor 0 starts at the first node; the reply's cursor is 0 only after the last node.
pub(crate) fn scan_cursor(cursor: &[u8]) -> Option<(usize, u64)> {
    let c: u64 = std::str::from_utf8(cursor).ok()?.parse().ok()?;
    Some((
        (c & ((1 << SCAN_NODE_BITS) - 1)) as usize,
        c >> SCAN_NODE_BITS,
    ))
}

/// The cluster cursor that follows node `node` (of `nodes`) answering `next`.
pub(crate) fn next_scan_cursor(node: usize, nodes: usize, next: u64) -> Result<u64, Error> {
    let (node, next) = if next == 0 {
        if node + 1 >= nodes {
            return Ok(0);
        }
        (node + 1, 0)
    } else {
        (node, next)
    };
    if nodes > 1 << SCAN_NODE_BITS || next >> (64 - SCAN_NODE_BITS) != 0 {
        return Err(Error::Protocol(
            "SCAN cursor too large to combine with a node index".into(),
        ));
    }
    Ok(next << SCAN_NODE_BITS | node as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::cmd;

    fn args(c: &Cmd) -> Vec<String> {
        c.args()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn policies_come_from_the_command_table() {
        assert_eq!(
            policies(&cmd("DBSIZE")),
            (Request::AllShards, Response::AggSum)
        );
        assert_eq!(
            policies(&cmd("MGET").arg("a")),
            (Request::MultiShard, Response::Default)
        );
        assert_eq!(
            policies(&cmd("DEL").arg("a")),
            (Request::MultiShard, Response::AggSum)
        );
        assert_eq!(
            policies(&cmd("SCRIPT").arg("EXISTS").arg("x")),
            (Request::AllShards, Response::AggLogicalAnd)
        );
        assert_eq!(policies(&cmd("SCAN").arg("0")).0, Request::Special);
        assert_eq!(
            policies(&cmd("GET").arg("a")),
            (Request::Default, Response::Default)
        );
        assert_eq!(
            policies(&cmd("MSETNX").arg("a").arg("1")).0,
            Request::Default
        );
    }

    #[test]
    fn mset_is_cut_by_slot_with_values_following_their_keys() {
        let c = cmd("MSET")
            .arg("a")
            .arg("1")
            .arg("b")
            .arg("2")
            .arg("{a}x")
            .arg("3");
        let parts = split(&c).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(args(&parts[0].cmd), ["MSET", "a", "1", "{a}x", "3"]);
        assert_eq!(parts[0].keys, [0, 2]);
        assert_eq!(parts[0].slot, key_slot(b"a"));
        assert_eq!(args(&parts[1].cmd), ["MSET", "b", "2"]);
        assert_eq!(parts[1].keys, [1]);
    }

    #[test]
    fn mget_replies_go_back_in_key_order() {
        let c = cmd("MGET").arg("a").arg("b").arg("{a}c");
        let parts = split(&c).unwrap();
        let replies = vec![
            Frame::Array(vec![Frame::Integer(1), Frame::Integer(3)]),
            Frame::Array(vec![Frame::Integer(2)]),
        ];
        let merged = merge_parts(Response::Default, &parts, replies, 3).unwrap();
        assert_eq!(
            merged,
            Frame::Array(vec![
                Frame::Integer(1),
                Frame::Integer(2),
                Frame::Integer(3)
            ])
        );
    }

    #[test]
    fn node_replies_aggregate_by_policy() {
        let r = |v: Vec<Frame>| {
            v.into_iter()
                .enumerate()
                .map(|(i, f)| (format!("n{i}"), Ok(f)))
                .collect::<Vec<_>>()
        };
        let ints = || r(vec![Frame::Integer(3), Frame::Integer(5)]);
        assert_eq!(
            merge_nodes(Response::AggSum, ints()).unwrap(),
            Frame::Integer(8)
        );
        assert_eq!(
            merge_nodes(Response::AggMin, ints()).unwrap(),
            Frame::Integer(3)
        );
        assert_eq!(
            merge_nodes(Response::AggMax, ints()).unwrap(),
            Frame::Integer(5)
        );
        let arrays = r(vec![
            Frame::Array(vec![Frame::Integer(1), Frame::Integer(1)]),
            Frame::Array(vec![Frame::Integer(1), Frame::Integer(0)]),
        ]);
        assert_eq!(
            merge_nodes(Response::AggLogicalAnd, arrays).unwrap(),
            Frame::Array(vec![Frame::Integer(1), Frame::Integer(0)])
        );
        let failed = r(vec![
            Frame::Simple("OK".into()),
            Frame::Error("ERR no".into()),
        ]);
        assert!(merge_nodes(Response::AllSucceeded, failed.clone()).is_err());
        assert_eq!(
            merge_nodes(Response::OneSucceeded, failed).unwrap(),
            Frame::Simple("OK".into())
        );
        let keys = r(vec![
            Frame::Array(vec![Frame::Integer(1)]),
            Frame::Array(vec![Frame::Integer(2)]),
        ]);
        assert_eq!(
            merge_nodes(Response::Default, keys).unwrap(),
            Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])
        );
    }

    #[test]
    fn scan_cursors_walk_every_node_then_end_at_zero() {
        assert_eq!(scan_cursor(b"0"), Some((0, 0)));
        let c = next_scan_cursor(0, 3, 17).unwrap();
        assert_eq!(scan_cursor(c.to_string().as_bytes()), Some((0, 17)));
        let c = next_scan_cursor(0, 3, 0).unwrap();
        assert_eq!(scan_cursor(c.to_string().as_bytes()), Some((1, 0)));
        assert_eq!(next_scan_cursor(2, 3, 0).unwrap(), 0);
        assert_eq!(scan_cursor(b"x"), None);
    }
}
