//! `LOCKSTEP.FAULT`: fault injection over the wire, on any node of a `lockstep cluster`
//! started with `--fault-injection` (`ClusterConfig::fault_injection`).
//!
//! ```text
//! LOCKSTEP.FAULT STOP <node>                         stop the node (port refuses)
//! LOCKSTEP.FAULT RESTART <node>                      start it again with its data
//! LOCKSTEP.FAULT PAUSE <node> <ms>                   it answers nothing for <ms>
//! LOCKSTEP.FAULT LATENCY <node> <delay-ms> <ms>      its replies come <delay-ms> late
//! LOCKSTEP.FAULT PARTITION <node> <ms>               cut it off from the other nodes
//! LOCKSTEP.FAULT HEAL <node>                         end its partition now
//! LOCKSTEP.FAULT DROP <node>                         close its client connections
//! LOCKSTEP.FAULT FAILOVER <node> [FORCE|TAKEOVER]    CLUSTER FAILOVER on a replica
//! LOCKSTEP.FAULT MIGRATE <from> <to> <first> <last>  move a slot range and its keys
//! LOCKSTEP.FAULT LOG                                 the faults injected, with times
//! LOCKSTEP.FAULT HELP
//! ```
//!
//! `<node>` is an index (the order the cluster started its nodes in, primaries first), a
//! node id, or `host:port`. The reply comes once the fault is in place (`+OK`, `:n` for
//! DROP); a fault that cannot be injected answers `-ERR` and why. STOP and DROP of the
//! node the client is connected to answer at once and then close the connection (the
//! fault takes it away).
//!
//! The command is not Redis's and stays out of the command table: COMMAND, COMMAND COUNT
//! and COMMAND DOCS answer as Redis 7.0 does, scripts cannot call it, and dispatch looks
//! here only for a name it does not know (`intercept`). A standalone server answers it as
//! any unknown command; a cluster node without fault injection refuses it with an error
//! that says how to turn it on.
//!
//! The handler never carries a fault out itself, under its node's lock: it parks the
//! client as a blocking command would and sends the fault to the cluster's controller
//! (`embedded`), which owns the nodes, injects it and then answers the client.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::embedded::NodeAddr;
use super::topology::NodeId;
use crate::blocking::Parked;
use crate::command::{CommandSpec, Ctx, Outcome};
use crate::dispatch::Processed;
use crate::errors;
use crate::reply::Reply;
use crate::state::{Client, State};

/// The command's name, as clients send it (in any case).
pub const NAME: &str = "LOCKSTEP.FAULT";

/// What a node without fault injection answers.
pub const OFF: &str =
    "ERR fault injection is off: start the cluster with `lockstep cluster --fault-injection` (ClusterConfig::fault_injection)";

/// A fault as the controller carries it out.
#[derive(Debug)]
pub(crate) enum Fault {
    Stop(usize),
    Restart(usize),
    Pause(usize, Duration),
    /// Node, delay, for how long.
    Latency(usize, Duration, Duration),
    Partition(usize, Duration),
    Heal(usize),
    /// The end of a partition that lasted until then (a later partition of the node is
    /// left alone).
    PartitionOver(usize, Instant),
    Drop(usize),
    /// Node, mode (`""`, `FORCE` or `TAKEOVER`).
    Failover(usize, String),
    Migrate {
        from: usize,
        to: usize,
        first: u16,
        last: u16,
    },
}

/// Who hears how a fault went.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    Nobody,
    /// A client parked on node `node`, answered once the fault is in place.
    Client {
        node: NodeId,
        client: u64,
    },
    /// A client already answered, whose connection the fault ends: the fault waits for
    /// it to close so that the answer reaches it.
    AfterClose {
        node: NodeId,
        client: u64,
    },
}

/// A fault for the controller, and who to answer.
#[derive(Debug)]
pub(crate) struct Request {
    pub fault: Fault,
    pub answer: Answer,
}

/// What a fault answers when it was injected.
#[derive(Debug)]
pub(crate) enum Answered {
    Ok,
    Int(i64),
}

/// A node's way to the controller of its cluster (fault injection on).
#[derive(Debug, Clone)]
pub struct FaultControl {
    /// The cluster's nodes, in the order `<node>` indexes them.
    pub(crate) nodes: Arc<[NodeAddr]>,
    pub(crate) requests: mpsc::UnboundedSender<Request>,
}

const HELP: &[&str] = &[
    "LOCKSTEP.FAULT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "STOP <node>",
    "    Stop the node as a killed process: its port refuses, its connections are reset.",
    "RESTART <node>",
    "    Start a stopped node again on its port, with its id and its data.",
    "PAUSE <node> <ms>",
    "    The node accepts and reads but answers nothing for <ms> milliseconds.",
    "LATENCY <node> <delay-ms> <ms>",
    "    For <ms> milliseconds, every reply of the node is written <delay-ms> late.",
    "PARTITION <node> <ms>",
    "    Cut the node off from the other nodes (not from clients) for <ms> milliseconds.",
    "HEAL <node>",
    "    End the node's partition now.",
    "DROP <node>",
    "    Close every client connection of the node; answers how many.",
    "FAILOVER <node> [FORCE|TAKEOVER]",
    "    CLUSTER FAILOVER on the node, a replica.",
    "MIGRATE <from> <to> <first-slot> <last-slot>",
    "    Move the slots and their keys from node <from> to node <to>.",
    "LOG",
    "    The faults injected so far: [unix time in ms, what] each.",
    "HELP",
    "    Print this help.",
    "<node> is an index (the order the cluster started its nodes in), a node id or host:port.",
];

/// Dispatch's look before its unknown-command error: `None` when `argv` is not
/// `LOCKSTEP.FAULT` or this server is not a cluster node (the usual error follows),
/// `Some(Err(message))` for a refusal dispatch answers as any refused command,
/// `Some(Ok(_))` when answered or parked until the fault is in place.
pub fn intercept(
    state: &mut State,
    client: &mut Client,
    out: &mut Reply,
    argv: &[&[u8]],
) -> Option<Result<Processed, Vec<u8>>> {
    if !argv.first()?.eq_ignore_ascii_case(NAME.as_bytes()) {
        return None;
    }
    let cluster = state.cluster.as_deref()?;
    client.last_cmd = "lockstep.fault";
    if !client.authenticated {
        return Some(Err(errors::NOAUTH.as_bytes().to_vec()));
    }
    if argv.len() < 2 {
        return Some(Err(errors::wrong_arity("lockstep.fault").into_bytes()));
    }
    let Some(control) = cluster.fault_control.clone() else {
        return Some(Err(OFF.as_bytes().to_vec()));
    };
    if client.in_multi {
        return Some(Err(
            b"ERR LOCKSTEP.FAULT is not allowed in a transaction".to_vec()
        ));
    }
    // A paused node answers nothing, this included.
    if let Some(pause) = state.pause {
        if pause.until > Instant::now() && !pause.writes_only {
            return Some(Ok(Processed::Paused(pause.until)));
        }
    }
    let myself = cluster.myself;
    let request = match parse(&control.nodes, argv) {
        Ok(Parsed::Help) => {
            out.array(HELP.len());
            for line in HELP {
                out.simple(line);
            }
            return Some(Ok(Processed::Done));
        }
        Ok(Parsed::Log) => {
            let log = cluster.faults.as_ref().map(|f| f.log()).unwrap_or_default();
            out.array(log.len());
            for (at, what) in log {
                out.array(2);
                out.int(at);
                out.bulk(what.as_bytes());
            }
            return Some(Ok(Processed::Done));
        }
        Ok(Parsed::Fault(fault)) => fault,
        Err(e) => return Some(Err(e.into_bytes())),
    };
    // STOP and DROP of this very node end this connection: answered now, closed after.
    let here = |i: &usize| control.nodes.get(*i).is_some_and(|n| n.id == myself);
    let at_once = match &request {
        Fault::Stop(i) if here(i) => {
            out.simple("OK");
            true
        }
        Fault::Drop(i) if here(i) => {
            out.int(state.clients.len() as i64);
            true
        }
        _ => false,
    };
    let answer = if at_once {
        client.close_after_reply = true;
        Answer::AfterClose {
            node: myself,
            client: client.id,
        }
    } else {
        Answer::Client {
            node: myself,
            client: client.id,
        }
    };
    let sent = control.requests.send(Request {
        fault: request,
        answer,
    });
    if sent.is_err() {
        if at_once {
            out.truncate(0);
            client.close_after_reply = false;
        }
        return Some(Err(
            b"ERR the cluster's fault controller is not running".to_vec()
        ));
    }
    if at_once {
        return Some(Ok(Processed::Done));
    }
    // Parked as a blocking command without keys, until the controller answers.
    client.blocked = true;
    state.blocked.park(Parked {
        client: client.clone(),
        cmd: &SPEC,
        cmd_id: 0,
        argv: Vec::new(),
        db: client.db,
        keys: Vec::new(),
        deadline: None,
        ready_when: |_| false,
        wake_on_every_write: false,
        out: Reply::new(out.protocol),
    });
    Some(Ok(Processed::Blocked(None)))
}

/// What a parked `LOCKSTEP.FAULT` is known as while it waits (CLIENT LIST, CLIENT
/// UNBLOCK); it is in no command table.
static META: crate::command::Command = crate::command::Command {
    name: "lockstep.fault",
    full_name: "lockstep.fault",
    arity: -2,
    flags: 0,
    acl: &[],
    tips: &[],
    key_specs: &[],
    group: "cluster",
    summary: "Injects a fault into a lockstep cluster.",
    since: "",
    complexity: "",
    doc_flags: &[],
    deprecated_since: "",
    replaced_by: "",
    history: &[],
    args: &[],
    subcommands: &[],
};

static SPEC: LazyLock<CommandSpec> = LazyLock::new(|| CommandSpec {
    meta: &META,
    handler: never_run_again,
    getkeys: None,
    subcommands: Vec::new(),
});

/// A parked `LOCKSTEP.FAULT` waits on no key, so it is never run again.
fn never_run_again(ctx: &mut Ctx, _argv: &[&[u8]]) -> crate::command::CommandResult {
    ctx.out.error("ERR LOCKSTEP.FAULT cannot run again");
    Ok(Outcome::Done)
}

enum Parsed {
    Help,
    Log,
    Fault(Fault),
}

/// Reads `LOCKSTEP.FAULT <subcommand> ...`, resolving nodes against `nodes`.
fn parse(nodes: &[NodeAddr], argv: &[&[u8]]) -> Result<Parsed, String> {
    let sub = String::from_utf8_lossy(argv[1]).to_ascii_uppercase();
    let arity = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(errors::wrong_arity(&format!(
                "lockstep.fault|{}",
                sub.to_ascii_lowercase()
            )))
        }
    };
    let node = |at: usize| -> Result<usize, String> {
        node_index(nodes, argv[at]).ok_or_else(|| {
            format!(
                "ERR no such node '{}': give an index from 0 to {}, a node id or host:port",
                String::from_utf8_lossy(argv[at]),
                nodes.len().saturating_sub(1)
            )
        })
    };
    let ms = |at: usize| -> Result<Duration, String> {
        std::str::from_utf8(argv[at])
            .ok()
            .and_then(|t| t.parse::<u64>().ok())
            .map(Duration::from_millis)
            .ok_or_else(|| "ERR the time must be a number of milliseconds (0 or more)".into())
    };
    let slot = |at: usize| -> Result<u16, String> {
        std::str::from_utf8(argv[at])
            .ok()
            .and_then(|t| t.parse::<u16>().ok())
            .filter(|&s| usize::from(s) < super::slots::SLOT_COUNT)
            .ok_or_else(|| "ERR Invalid or out of range slot".into())
    };
    let n = argv.len();
    let fault = match sub.as_str() {
        "HELP" => {
            arity(n == 2)?;
            return Ok(Parsed::Help);
        }
        "LOG" => {
            arity(n == 2)?;
            return Ok(Parsed::Log);
        }
        "STOP" => {
            arity(n == 3)?;
            Fault::Stop(node(2)?)
        }
        "RESTART" => {
            arity(n == 3)?;
            Fault::Restart(node(2)?)
        }
        "DROP" => {
            arity(n == 3)?;
            Fault::Drop(node(2)?)
        }
        "HEAL" => {
            arity(n == 3)?;
            Fault::Heal(node(2)?)
        }
        "PAUSE" => {
            arity(n == 4)?;
            Fault::Pause(node(2)?, ms(3)?)
        }
        "PARTITION" => {
            arity(n == 4)?;
            Fault::Partition(node(2)?, ms(3)?)
        }
        "LATENCY" => {
            arity(n == 5)?;
            Fault::Latency(node(2)?, ms(3)?, ms(4)?)
        }
        "FAILOVER" => {
            arity(n == 3 || n == 4)?;
            let i = node(2)?;
            let mode = match argv.get(3) {
                None => String::new(),
                Some(m) if m.eq_ignore_ascii_case(b"FORCE") => "FORCE".into(),
                Some(m) if m.eq_ignore_ascii_case(b"TAKEOVER") => "TAKEOVER".into(),
                Some(_) => return Err(errors::SYNTAX.into()),
            };
            Fault::Failover(i, mode)
        }
        "MIGRATE" => {
            arity(n == 6)?;
            let (from, to) = (node(2)?, node(3)?);
            let (first, last) = (slot(4)?, slot(5)?);
            if first > last {
                return Err("ERR the first slot must not be after the last".into());
            }
            if from == to {
                return Err("ERR the source and target nodes are the same node".into());
            }
            Fault::Migrate {
                from,
                to,
                first,
                last,
            }
        }
        _ => {
            return Err(format!(
                "ERR unknown subcommand '{}'. Try LOCKSTEP.FAULT HELP.",
                String::from_utf8_lossy(argv[1])
            ))
        }
    };
    Ok(Parsed::Fault(fault))
}

/// The index of the node `spec` names: an index, a node id, or `host:port` (`localhost`
/// and bracketed IPv6 addresses accepted).
fn node_index(nodes: &[NodeAddr], spec: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(spec).ok()?;
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<usize>().ok().filter(|&i| i < nodes.len());
    }
    if let Some(id) = NodeId::parse(&spec.to_ascii_lowercase()) {
        return nodes.iter().position(|n| n.id == id);
    }
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: Option<IpAddr> = host.parse().ok();
    nodes.iter().position(|n| {
        n.addr.port() == port && (ip == Some(n.addr.ip()) || host.eq_ignore_ascii_case("localhost"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn nodes() -> Vec<NodeAddr> {
        (0..3)
            .map(|i| NodeAddr {
                id: NodeId::random(),
                addr: SocketAddr::from(([127, 0, 0, 1], 7000 + i)),
            })
            .collect()
    }

    #[test]
    fn a_node_is_named_by_index_id_or_address() {
        let nodes = nodes();
        assert_eq!(node_index(&nodes, b"2"), Some(2));
        assert_eq!(node_index(&nodes, b"3"), None);
        assert_eq!(node_index(&nodes, nodes[1].id.as_bytes()), Some(1));
        let upper = nodes[1].id.as_str().to_ascii_uppercase();
        assert_eq!(node_index(&nodes, upper.as_bytes()), Some(1));
        assert_eq!(node_index(&nodes, b"127.0.0.1:7002"), Some(2));
        assert_eq!(node_index(&nodes, b"localhost:7000"), Some(0));
        assert_eq!(node_index(&nodes, b"127.0.0.1:7003"), None);
        assert_eq!(node_index(&nodes, b"[::1]:7000"), None);
        assert_eq!(node_index(&nodes, b"nonsense"), None);
        assert_eq!(node_index(&nodes, b""), None);
    }

    #[test]
    fn arguments_are_checked_before_anything_is_sent() {
        let nodes = nodes();
        let parse = |args: &str| {
            let argv: Vec<&[u8]> = args.split(' ').map(str::as_bytes).collect();
            parse(&nodes, &argv).map(|p| match p {
                Parsed::Fault(f) => format!("{f:?}"),
                Parsed::Help => "help".into(),
                Parsed::Log => "log".into(),
            })
        };
        assert_eq!(parse("LOCKSTEP.FAULT stop 1").unwrap(), "Stop(1)");
        assert_eq!(
            parse("LOCKSTEP.FAULT latency 0 20 1000").unwrap(),
            "Latency(0, 20ms, 1s)"
        );
        assert_eq!(
            parse("LOCKSTEP.FAULT failover 1 takeover").unwrap(),
            "Failover(1, \"TAKEOVER\")"
        );
        assert_eq!(parse("LOCKSTEP.FAULT help").unwrap(), "help");
        assert_eq!(
            parse("LOCKSTEP.FAULT stop").unwrap_err(),
            "ERR wrong number of arguments for 'lockstep.fault|stop' command"
        );
        assert!(parse("LOCKSTEP.FAULT stop 9")
            .unwrap_err()
            .starts_with("ERR no such node '9'"));
        assert!(parse("LOCKSTEP.FAULT pause 0 -1")
            .unwrap_err()
            .contains("milliseconds"));
        assert_eq!(
            parse("LOCKSTEP.FAULT migrate 0 1 10 16384").unwrap_err(),
            "ERR Invalid or out of range slot"
        );
        assert!(parse("LOCKSTEP.FAULT migrate 0 1 10 5").is_err());
        assert!(parse("LOCKSTEP.FAULT failover 1 now").is_err());
        assert_eq!(
            parse("LOCKSTEP.FAULT bogus").unwrap_err(),
            "ERR unknown subcommand 'bogus'. Try LOCKSTEP.FAULT HELP."
        );
    }
}
