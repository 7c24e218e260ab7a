//! The cluster commands: the CLUSTER container (INFO, MYID, NODES, SLOTS, SHARDS, LINKS,
//! KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, REPLICAS, COUNT-FAILURE-REPORTS, BUMPEPOCH,
//! ...) and READONLY, READWRITE and ASKING, answered from the node's view of the cluster
//! (`cluster::ClusterState`) in Redis 7.0's exact shapes.
//!
//! On a standalone server every one of them answers Redis's "cluster support disabled"
//! error. They never change the configuration other nodes see except through the bus.

use std::fmt::Write as _;

use super::container;
use crate::cluster::slots::key_slot;
use crate::cluster::{ClusterState, Health, Node, NodeId, Role, Topology};
use crate::command::{handler, CommandError, CommandResult, Ctx, Done, Entry};
use crate::errors;
use crate::reply::Reply;
use crate::state::{unix_millis, State};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("cluster", container),
    handler("cluster|addslots", not_yet),
    handler("cluster|addslotsrange", not_yet),
    handler("cluster|bumpepoch", cluster_bumpepoch),
    handler(
        "cluster|count-failure-reports",
        cluster_count_failure_reports,
    ),
    handler("cluster|countkeysinslot", cluster_countkeysinslot),
    handler("cluster|delslots", not_yet),
    handler("cluster|delslotsrange", not_yet),
    handler("cluster|failover", not_yet),
    handler("cluster|flushslots", not_yet),
    handler("cluster|forget", cluster_forget),
    handler("cluster|getkeysinslot", cluster_getkeysinslot),
    handler("cluster|help", cluster_help),
    handler("cluster|info", cluster_info),
    handler("cluster|keyslot", cluster_keyslot),
    handler("cluster|links", cluster_links),
    handler("cluster|meet", not_yet),
    handler("cluster|myid", cluster_myid),
    handler("cluster|nodes", cluster_nodes),
    handler("cluster|replicas", cluster_replicas),
    handler("cluster|replicate", not_yet),
    handler("cluster|reset", not_yet),
    handler("cluster|saveconfig", cluster_saveconfig),
    handler("cluster|set-config-epoch", cluster_set_config_epoch),
    handler("cluster|setslot", not_yet),
    handler("cluster|shards", cluster_shards),
    handler("cluster|slaves", cluster_replicas),
    handler("cluster|slots", cluster_slots),
    handler("asking", asking),
    handler("readonly", readonly),
    handler("readwrite", readwrite),
];

/// This node's cluster state, or Redis's error for a server not in cluster mode.
fn cluster<'a>(ctx: &'a mut Ctx) -> Result<&'a mut ClusterState, CommandError> {
    cluster_in(ctx.state)
}

/// `cluster` from the state alone, for handlers that write the reply while they hold it.
fn cluster_in(state: &mut State) -> Result<&mut ClusterState, CommandError> {
    state
        .cluster
        .as_deref_mut()
        .ok_or_else(|| errors::CLUSTER_DISABLED.into())
}

/// The subcommands that change the cluster's configuration come with the phases that
/// implement them (slot assignment, MEET, failover, resharding).
fn not_yet(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    let sub = String::from_utf8_lossy(argv[1]).to_ascii_uppercase();
    Err(format!("ERR lockstep does not support CLUSTER {sub} yet").into())
}

/// `CLUSTER HELP`.
fn cluster_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    super::help(ctx, "CLUSTER", HELP);
    Ok(Done)
}

const HELP: &[&str] = &[
    "ADDSLOTS <slot> [<slot> ...]",
    "    Assign slots to current node.",
    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Assign slots which are between <start-slot> and <end-slot> to current node.",
    "BUMPEPOCH",
    "    Advance the cluster config epoch.",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "DELSLOTS <slot> [<slot> ...]",
    "    Delete slots information from current node.",
    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
    "FAILOVER [FORCE|TAKEOVER]",
    "    Promote current replica node to being a master.",
    "FORGET <node-id>",
    "    Remove a node from the cluster.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "FLUSHSLOTS",
    "    Delete current node own slots information.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MEET <ip> <port> [<bus-port>]",
    "    Connect nodes into a working cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICATE <node-id>",
    "    Configure current node as replica to <node-id>.",
    "RESET [HARD|SOFT]",
    "    Reset current node (default: soft).",
    "SET-CONFIG-EPOCH <epoch>",
    "    Set config epoch of current node.",
    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
    "    Set slot state.",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SAVECONFIG",
    "    Force saving cluster configuration on disk.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    Output format is an array where each array element is a map containing attributes of a link",
];

/// `CLUSTER MYID`: this node's id.
fn cluster_myid(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let id = cluster(ctx)?.myself;
    ctx.out.bulk(id.as_bytes());
    Ok(Done)
}

/// `CLUSTER KEYSLOT key`.
fn cluster_keyslot(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    ctx.out.int(i64::from(key_slot(argv[2])));
    Ok(Done)
}

/// A slot number argument: an integer (Redis's `getLongLongFromObjectOrReply`), then
/// within 0..16384.
fn slot_arg(arg: &[u8]) -> Result<Option<u16>, CommandError> {
    let n = parse_i64(arg).ok_or(errors::NOT_INTEGER)?;
    Ok(u16::try_from(n)
        .ok()
        .filter(|&s| usize::from(s) < crate::cluster::slots::SLOT_COUNT))
}

/// `CLUSTER COUNTKEYSINSLOT slot`: keys this node holds in the slot.
fn cluster_countkeysinslot(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    let slot = slot_arg(argv[2])?.ok_or(errors::INVALID_SLOT)?;
    let count = ctx
        .state
        .mods
        .slot_keys
        .as_ref()
        .map_or(0, |k| k.count(slot));
    ctx.out.int(count as i64);
    Ok(Done)
}

/// `CLUSTER GETKEYSINSLOT slot count`: up to `count` keys of the slot, newest first.
fn cluster_getkeysinslot(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    let slot = slot_arg(argv[2])?;
    let max = parse_i64(argv[3]).ok_or(errors::NOT_INTEGER)?;
    let (Some(slot), Ok(max)) = (slot, usize::try_from(max)) else {
        return Err(errors::INVALID_SLOT_OR_COUNT.into());
    };
    let Some(index) = ctx.state.mods.slot_keys.as_ref() else {
        ctx.out.array(0);
        return Ok(Done);
    };
    let n = index.count(slot).min(max);
    ctx.out.array(n);
    for key in index.keys(slot).take(n) {
        ctx.out.bulk(key);
    }
    Ok(Done)
}

/// The message counters of CLUSTER INFO. The nodes of a process share their
/// configuration without messages; the counters are those of a quiet bus, on which each
/// node pings every other once a second and is answered: they grow as a real cluster's
/// do, and are never zero once nodes know each other.
fn message_stats(peers: u64, formed_at: i64) -> u64 {
    let seconds = (unix_millis() - formed_at).max(0) as u64 / 1000;
    peers * (seconds + 1)
}

/// `CLUSTER INFO`: the node's view as `field:value` lines.
fn cluster_info(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let cluster = cluster(ctx)?;
    let formed_at = cluster.bus().formed_at;
    let (topology, me, ok) = cluster.view_and_me();
    let assigned = topology.slots.assigned();
    let pfail = topology.slots_with_owner(Health::PossiblyFailed);
    let fail = topology.slots_with_owner(Health::Failed);
    let my_epoch = topology.nodes.get(me).map_or(0, |n| topology.epoch_of(n));
    let mut text = String::with_capacity(512);
    let _ = write!(
        text,
        "cluster_state:{}\r\n\
         cluster_slots_assigned:{assigned}\r\n\
         cluster_slots_ok:{}\r\n\
         cluster_slots_pfail:{pfail}\r\n\
         cluster_slots_fail:{fail}\r\n\
         cluster_known_nodes:{}\r\n\
         cluster_size:{}\r\n\
         cluster_current_epoch:{}\r\n\
         cluster_my_epoch:{my_epoch}\r\n",
        if ok { "ok" } else { "fail" },
        assigned - pfail - fail,
        topology.nodes.len(),
        topology.size(),
        topology.current_epoch,
    );
    let peers = topology.nodes.len().saturating_sub(1) as u64;
    let messages = message_stats(peers, formed_at);
    if messages > 0 {
        let _ = write!(
            text,
            "cluster_stats_messages_ping_sent:{messages}\r\n\
             cluster_stats_messages_pong_sent:{messages}\r\n"
        );
    }
    let _ = write!(text, "cluster_stats_messages_sent:{}\r\n", 2 * messages);
    if messages > 0 {
        let _ = write!(
            text,
            "cluster_stats_messages_ping_received:{messages}\r\n\
             cluster_stats_messages_pong_received:{messages}\r\n"
        );
    }
    let _ = write!(
        text,
        "cluster_stats_messages_received:{}\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n",
        2 * messages
    );
    ctx.out.verbatim(text.as_bytes());
    Ok(Done)
}

/// A node's line of CLUSTER NODES (without the newline), as Redis's
/// `clusterGenNodeDescription` writes it:
/// `<id> <ip:port@cport> <flags> <master> <ping-sent> <pong-recv> <config-epoch>
/// <link-state> <slot> <slot> ...`.
pub fn node_line(topology: &Topology, index: usize, myself: bool, now: i64) -> String {
    let Some(node) = topology.nodes.get(index) else {
        return String::new();
    };
    let mut flags = String::new();
    if myself {
        flags.push_str("myself,");
    }
    flags.push_str(if node.is_primary() { "master" } else { "slave" });
    match node.health {
        Health::Online => {}
        Health::PossiblyFailed => flags.push_str(",fail?"),
        Health::Failed => flags.push_str(",fail"),
    }
    let primary = match node.role {
        Role::Primary => "-".to_string(),
        Role::Replica { of } => of.to_string(),
    };
    // Redis keeps the time of the last pong; the nodes here hear each other all the time.
    // Its own line shows the time to the second, as Redis's does.
    let pong = if myself { now / 1000 * 1000 } else { now };
    let link = if myself || node.health != Health::Failed {
        "connected"
    } else {
        "disconnected"
    };
    let mut line = format!(
        "{} {}:{}@{} {flags} {primary} 0 {pong} {} {link}",
        node.id,
        node.ip,
        node.port,
        node.bus_port,
        topology.epoch_of(node),
    );
    if node.is_primary() {
        for (first, last) in topology.slots.ranges_of(index) {
            if first == last {
                let _ = write!(line, " {first}");
            } else {
                let _ = write!(line, " {first}-{last}");
            }
        }
    }
    line
}

/// `CLUSTER NODES`: one line per node, this one flagged `myself`.
fn cluster_nodes(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let (topology, me, _) = cluster(ctx)?.view_and_me();
    let now = unix_millis();
    let mut text = String::with_capacity(topology.nodes.len() * 120);
    for i in 0..topology.nodes.len() {
        text.push_str(&node_line(topology, i, i == me, now));
        text.push('\n');
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(Done)
}

/// A node as CLUSTER SLOTS lists it: endpoint, port, id, and a map of extra endpoints
/// (empty: nodes are known by IP only).
fn slots_node(out: &mut Reply, node: &Node) {
    out.array(4);
    out.bulk(node.ip.to_string().as_bytes());
    out.int(i64::from(node.port));
    out.bulk(node.id.as_bytes());
    out.map(0);
}

/// `CLUSTER SLOTS`: each run of slots with one primary, in slot order: first, last, the
/// primary, then its replicas that are not failed.
fn cluster_slots(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let (topology, _, _) = cluster_in(ctx.state)?.view_and_me();
    let out = &mut *ctx.out;
    let runs: Vec<_> = topology
        .slots
        .runs()
        .filter(|r| r.owner.is_some())
        .collect();
    out.array(runs.len());
    for run in runs {
        let Some(primary) = run.owner.and_then(|o| topology.nodes.get(o)) else {
            continue;
        };
        let replicas: Vec<&Node> = topology
            .replicas_of(&primary.id)
            .filter(|r| r.health != Health::Failed)
            .collect();
        out.array(3 + replicas.len());
        out.int(i64::from(run.first));
        out.int(i64::from(run.last));
        slots_node(out, primary);
        for replica in replicas {
            slots_node(out, replica);
        }
    }
    Ok(Done)
}

/// A node as CLUSTER SHARDS describes it.
fn shards_node(out: &mut Reply, node: &Node) {
    out.map(7);
    out.bulk(b"id");
    out.bulk(node.id.as_bytes());
    out.bulk(b"port");
    out.int(i64::from(node.port));
    let ip = node.ip.to_string();
    out.bulk(b"ip");
    out.bulk(ip.as_bytes());
    out.bulk(b"endpoint");
    out.bulk(ip.as_bytes());
    out.bulk(b"role");
    out.bulk(if node.is_primary() {
        b"master"
    } else {
        b"replica"
    });
    out.bulk(b"replication-offset");
    out.int(0);
    out.bulk(b"health");
    out.bulk(match node.health {
        Health::Failed => b"fail".as_slice(),
        _ => b"online",
    });
}

/// `CLUSTER SHARDS`: each primary's shard: its slot ranges (flattened first/last pairs),
/// then its nodes, the primary first.
fn cluster_shards(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let (topology, _, _) = cluster_in(ctx.state)?.view_and_me();
    let out = &mut *ctx.out;
    let primaries: Vec<usize> = (0..topology.nodes.len())
        .filter(|&i| topology.nodes[i].is_primary())
        .collect();
    out.array(primaries.len());
    for i in primaries {
        let primary = &topology.nodes[i];
        out.map(2);
        out.bulk(b"slots");
        let ranges = topology.slots.ranges_of(i);
        out.array(ranges.len() * 2);
        for (first, last) in ranges {
            out.int(i64::from(first));
            out.int(i64::from(last));
        }
        out.bulk(b"nodes");
        let replicas: Vec<&Node> = topology.replicas_of(&primary.id).collect();
        out.array(1 + replicas.len());
        shards_node(out, primary);
        for replica in replicas {
            shards_node(out, replica);
        }
    }
    Ok(Done)
}

/// `CLUSTER LINKS`: the bus links to and from every other node. The nodes of a process
/// share their configuration without sockets; these are the links a real node would
/// hold, each with nothing buffered.
fn cluster_links(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let (topology, me, _) = cluster_in(ctx.state)?.view_and_me();
    let out = &mut *ctx.out;
    let peers: Vec<&Node> = topology
        .nodes
        .iter()
        .enumerate()
        .filter(|&(i, n)| i != me && n.health != Health::Failed)
        .map(|(_, n)| n)
        .collect();
    out.array(peers.len() * 2);
    for peer in peers {
        for direction in [b"to".as_slice(), b"from"] {
            out.map(6);
            out.bulk(b"direction");
            out.bulk(direction);
            out.bulk(b"node");
            out.bulk(peer.id.as_bytes());
            out.bulk(b"create-time");
            out.int(peer.linked_at);
            out.bulk(b"events");
            out.bulk(b"r");
            out.bulk(b"send-buffer-allocated");
            out.int(0);
            out.bulk(b"send-buffer-used");
            out.int(0);
        }
    }
    Ok(Done)
}

/// The node a `<node-id>` argument names: `ERR Unknown node <id>` otherwise.
fn known_node(topology: &Topology, arg: &[u8]) -> Result<usize, CommandError> {
    NodeId::parse(arg)
        .and_then(|id| topology.index_of(&id))
        .ok_or_else(|| errors::unknown_node(arg).into())
}

/// `CLUSTER REPLICAS node-id` (and SLAVES): the CLUSTER NODES lines of its replicas.
fn cluster_replicas(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (topology, me, _) = cluster(ctx)?.view_and_me();
    let index = known_node(topology, argv[2])?;
    let node = &topology.nodes[index];
    if !node.is_primary() {
        return Err("ERR The specified node is not a master".into());
    }
    let now = unix_millis();
    let lines: Vec<String> = (0..topology.nodes.len())
        .filter(|&i| topology.nodes[i].role == (Role::Replica { of: node.id }))
        .map(|i| node_line(topology, i, i == me, now))
        .collect();
    ctx.out.bulks(lines.iter());
    Ok(Done)
}

/// `CLUSTER COUNT-FAILURE-REPORTS node-id`: failure reports about a node (none: the nodes
/// of a process never suspect each other without a fault).
fn cluster_count_failure_reports(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (topology, _, _) = cluster(ctx)?.view_and_me();
    known_node(topology, argv[2])?;
    ctx.out.int(0);
    Ok(Done)
}

/// `CLUSTER SAVECONFIG`: nothing to save, the configuration lives in memory only.
fn cluster_saveconfig(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    ctx.out.ok();
    Ok(Done)
}

/// `CLUSTER FORGET node-id`: refused for this node and for its primary, as Redis refuses
/// them; forgetting another node comes with MEET.
fn cluster_forget(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (topology, me, _) = cluster(ctx)?.view_and_me();
    let index = known_node(topology, argv[2])?;
    if index == me {
        return Err("ERR I tried hard but I can't forget myself...".into());
    }
    let forgotten = topology.nodes[index].id;
    if topology.nodes.get(me).map(|n| n.role) == Some(Role::Replica { of: forgotten }) {
        return Err("ERR Can't forget my master!".into());
    }
    not_yet(ctx, argv)
}

/// `CLUSTER BUMPEPOCH`: gives this node a new config epoch, the highest, unless it
/// already has the highest (Redis's `clusterBumpConfigEpochWithoutConsensus`).
fn cluster_bumpepoch(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let cluster = cluster(ctx)?;
    let myself = cluster.myself;
    let mut reply = String::new();
    cluster.bus().update(|topology| {
        let max = topology
            .nodes
            .iter()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(topology.current_epoch);
        let current = topology.current_epoch;
        let Some(node) = topology.nodes.iter_mut().find(|n| n.id == myself) else {
            return;
        };
        if node.config_epoch == 0 || node.config_epoch != max {
            let epoch = current + 1;
            node.config_epoch = epoch;
            topology.current_epoch = epoch;
            reply = format!("BUMPED {epoch}");
        } else {
            reply = format!("STILL {}", node.config_epoch);
        }
    });
    ctx.out.simple(&reply);
    Ok(Done)
}

/// `CLUSTER SET-CONFIG-EPOCH epoch`: only for a node alone with a zero epoch, which the
/// nodes here never are.
fn cluster_set_config_epoch(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (topology, me, _) = cluster(ctx)?.view_and_me();
    let epoch = parse_i64(argv[2]).ok_or(errors::NOT_INTEGER)?;
    if epoch < 0 {
        return Err(format!("ERR Invalid config epoch specified: {epoch}").into());
    }
    if topology.nodes.len() > 1 {
        return Err("ERR The user can assign a config epoch only when the node does not know any other node.".into());
    }
    if topology.nodes.get(me).is_some_and(|n| n.config_epoch != 0) {
        return Err("ERR Node config epoch is already non-zero".into());
    }
    not_yet(ctx, argv)
}

/// `ASKING`: the next command may touch a slot this node is importing.
fn asking(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    ctx.client.asking = true;
    ctx.out.ok();
    Ok(Done)
}

/// `READONLY`: reads of the slots of this replica's primary are served here.
fn readonly(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    ctx.client.readonly = true;
    ctx.out.ok();
    Ok(Done)
}

/// `READWRITE`: back to redirecting every read to the primary.
fn readwrite(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    ctx.client.readonly = false;
    ctx.out.ok();
    Ok(Done)
}
