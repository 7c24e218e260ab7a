//! The cluster commands: the CLUSTER container — what a node sees (INFO, MYID, NODES,
//! SLOTS, SHARDS, LINKS, KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, REPLICAS,
//! COUNT-FAILURE-REPORTS) and what changes it (ADDSLOTS, DELSLOTS and their RANGE forms,
//! FLUSHSLOTS, SETSLOT, MEET, FORGET, RESET, BUMPEPOCH, SET-CONFIG-EPOCH) — and READONLY,
//! READWRITE and ASKING, answered from the node's view of the cluster
//! (`cluster::ClusterState`) in Redis 7.0's exact shapes, with its checks in its order.
//!
//! On a standalone server every one of them answers Redis's "cluster support disabled"
//! error. They never change the configuration other nodes see except through the bus;
//! what Redis keeps to one node (open slots, slots given up, forgotten nodes) stays in
//! that node's `ClusterState`.

use std::fmt::Write as _;

use super::container;
use crate::cluster::slots::{key_slot, SLOT_COUNT};
use crate::cluster::{ClusterState, Health, Node, NodeId, OpenSlots, Role, Topology};
use crate::command::{handler, CommandError, CommandResult, Ctx, Done, Entry};
use crate::errors;
use crate::reply::Reply;
use crate::state::{unix_millis, State};
use crate::util::parse_i64;

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("cluster", container),
    handler("cluster|addslots", cluster_addslots),
    handler("cluster|addslotsrange", cluster_addslotsrange),
    handler("cluster|bumpepoch", cluster_bumpepoch),
    handler(
        "cluster|count-failure-reports",
        cluster_count_failure_reports,
    ),
    handler("cluster|countkeysinslot", cluster_countkeysinslot),
    handler("cluster|delslots", cluster_delslots),
    handler("cluster|delslotsrange", cluster_delslotsrange),
    handler("cluster|failover", cluster_failover),
    handler("cluster|flushslots", cluster_flushslots),
    handler("cluster|forget", cluster_forget),
    handler("cluster|getkeysinslot", cluster_getkeysinslot),
    handler("cluster|help", cluster_help),
    handler("cluster|info", cluster_info),
    handler("cluster|keyslot", cluster_keyslot),
    handler("cluster|links", cluster_links),
    handler("cluster|meet", cluster_meet),
    handler("cluster|myid", cluster_myid),
    handler("cluster|nodes", cluster_nodes),
    handler("cluster|replicas", cluster_replicas),
    handler("cluster|replicate", cluster_replicate),
    handler("cluster|reset", cluster_reset),
    handler("cluster|saveconfig", cluster_saveconfig),
    handler("cluster|set-config-epoch", cluster_set_config_epoch),
    handler("cluster|setslot", cluster_setslot),
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
/// `open` is this node's open slots, given for its own line: Redis prints the
/// migration markers there only.
pub fn node_line(topology: &Topology, index: usize, open: Option<&OpenSlots>, now: i64) -> String {
    let myself = open.is_some();
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
    if let Some(open) = open {
        open.markers(&mut line);
    }
    line
}

/// `CLUSTER NODES`: one line per node, this one flagged `myself`.
fn cluster_nodes(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let cluster = cluster(ctx)?;
    cluster.view();
    let open = cluster.open.clone();
    let (topology, me, _) = cluster.view_and_me();
    let now = unix_millis();
    let mut text = String::with_capacity(topology.nodes.len() * 120);
    for i in 0..topology.nodes.len() {
        text.push_str(&node_line(topology, i, (i == me).then_some(&open), now));
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
    let offset = crate::replication::offset_of(&node.id);
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
    out.int(offset as i64);
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
    let cluster = cluster(ctx)?;
    cluster.view();
    let open = cluster.open.clone();
    let (topology, me, _) = cluster.view_and_me();
    let index = known_node(topology, argv[2])?;
    let node = &topology.nodes[index];
    if !node.is_primary() {
        return Err(errors::NOT_A_MASTER.into());
    }
    let now = unix_millis();
    let lines: Vec<String> = (0..topology.nodes.len())
        .filter(|&i| topology.nodes[i].role == (Role::Replica { of: node.id }))
        .map(|i| node_line(topology, i, (i == me).then_some(&open), now))
        .collect();
    ctx.out.bulks(lines.iter());
    Ok(Done)
}

/// `CLUSTER COUNT-FAILURE-REPORTS node-id`: the failure reports this node holds about
/// another, as Redis counts them: one from every other primary that sees it failing
/// (`fail?` or `fail`) and still answers, never one from this node itself. The nodes of a
/// process share one view, so every answering primary suspects a silent node at once.
fn cluster_count_failure_reports(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (topology, me, _) = cluster(ctx)?.view_and_me();
    let index = known_node(topology, argv[2])?;
    let reports = if topology.nodes[index].health == Health::Online {
        0
    } else {
        topology
            .nodes
            .iter()
            .enumerate()
            .filter(|&(i, n)| i != me && i != index && n.is_primary() && n.health == Health::Online)
            .count()
    };
    ctx.out.int(reports as i64);
    Ok(Done)
}

/// `CLUSTER SAVECONFIG`: nothing to save, the configuration lives in memory only.
fn cluster_saveconfig(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    ctx.out.ok();
    Ok(Done)
}

/// `CLUSTER FORGET node-id`: this node forgets another one (its slots become unassigned
/// in this node's view). Once every other node forgot it, it leaves the configuration.
fn cluster_forget(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let cluster = cluster(ctx)?;
    let myself = cluster.myself;
    let (topology, me, _) = cluster.view_and_me();
    let index = known_node(topology, argv[2])?;
    if index == me {
        return Err(errors::FORGET_MYSELF.into());
    }
    let forgotten = topology.nodes[index].id;
    if topology.nodes.get(me).map(|n| n.role) == Some(Role::Replica { of: forgotten }) {
        return Err(errors::FORGET_MY_MASTER.into());
    }
    cluster.bus().update(|t| {
        let Some(i) = t.index_of(&forgotten) else {
            return;
        };
        if !t.nodes[i].forgotten_by.contains(&myself) {
            t.nodes[i].forgotten_by.push(myself);
        }
        let node = &t.nodes[i];
        let everyone = t
            .nodes
            .iter()
            .all(|n| n.id == forgotten || node.forgotten_by.contains(&n.id));
        if everyone {
            t.remove_node(i);
        }
    });
    ctx.out.ok();
    Ok(Done)
}

/// `CLUSTER FAILOVER [FORCE|TAKEOVER]` on a replica. Default: its primary pauses writes,
/// this replica catches up with its offset, then takes the slots with a new config epoch
/// and the old primary becomes its replica (asynchronously, after `+OK`, as Redis). FORCE
/// does not wait for the primary; TAKEOVER takes over at once (Redis's
/// `clusterBumpConfigEpochWithoutConsensus`).
fn cluster_failover(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    // FORCE and TAKEOVER both take over without the primary; in one process there is no
    // election for TAKEOVER to skip, so they end alike.
    let force = match argv.get(2) {
        None => false,
        Some(a) if argv.len() == 3 && a.eq_ignore_ascii_case(b"force") => true,
        Some(a) if argv.len() == 3 && a.eq_ignore_ascii_case(b"takeover") => true,
        Some(_) => return Err(errors::SYNTAX.into()),
    };
    let cluster = cluster(ctx)?;
    let myself = cluster.myself;
    let (topology, me, _) = cluster.view_and_me();
    let Some(Role::Replica { of }) = topology.nodes.get(me).map(|n| n.role) else {
        return Err("ERR You should send CLUSTER FAILOVER to a replica".into());
    };
    let primary_ok = topology
        .node(&of)
        .is_some_and(|p| p.health != Health::Failed);
    if !force && (!primary_ok || !crate::replication::is_running(&of)) {
        return Err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE".into());
    }
    let bus = cluster.bus().clone();
    if force {
        crate::replication::take_over(&bus, myself, of);
    } else {
        crate::replication::manual_failover(bus, myself, of);
    }
    ctx.out.ok();
    Ok(Done)
}

/// `CLUSTER REPLICATE node-id`: this node (a primary without slots or keys, or a replica)
/// becomes a replica of that primary, and syncs from it.
fn cluster_replicate(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let keys = ctx.state.dbs.first().map_or(0, |db| db.len());
    let cluster = cluster(ctx)?;
    let (topology, me, _) = cluster.view_and_me();
    let index = known_node(topology, argv[2])?;
    if index == me {
        return Err("ERR Can't replicate myself".into());
    }
    let target = &topology.nodes[index];
    if !target.is_primary() {
        return Err("ERR I can only replicate a master, not a replica.".into());
    }
    let mine = &topology.nodes[me];
    if mine.is_primary() && (topology.slots.count_of(me) > 0 || keys > 0) {
        return Err(
            "ERR To set a master the node must be empty and without assigned slots.".into(),
        );
    }
    let (of, myself) = (target.id, mine.id);
    cluster.bus().update(|t| {
        if let Some(i) = t.index_of(&myself) {
            t.demote(i, of);
        }
    });
    cluster.view();
    cluster.repl.kick();
    ctx.out.ok();
    Ok(Done)
}

/// `CLUSTER BUMPEPOCH`: gives this node a new config epoch, the highest, unless it
/// already has the highest (Redis's `clusterBumpConfigEpochWithoutConsensus`).
fn cluster_bumpepoch(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let cluster = cluster(ctx)?;
    let myself = cluster.myself;
    let bumped = cluster.bus().update(|t| match t.index_of(&myself) {
        Some(i) => t.bump_epoch(i),
        None => Err(0),
    });
    match bumped {
        Ok(epoch) => ctx.out.simple(&format!("BUMPED {epoch}")),
        Err(epoch) => ctx.out.simple(&format!("STILL {epoch}")),
    }
    Ok(Done)
}

/// `CLUSTER SET-CONFIG-EPOCH epoch`: only for a node that knows no other and has config
/// epoch 0 (what `redis-cli --cluster create` sends each new node).
fn cluster_set_config_epoch(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let cluster = cluster(ctx)?;
    let myself = cluster.myself;
    let (topology, me, _) = cluster.view_and_me();
    let epoch = parse_i64(argv[2]).ok_or(errors::NOT_INTEGER)?;
    if epoch < 0 {
        return Err(format!("ERR Invalid config epoch specified: {epoch}").into());
    }
    if topology.nodes.len() > 1 {
        return Err(errors::CONFIG_EPOCH_WITH_OTHERS.into());
    }
    if topology.nodes.get(me).is_some_and(|n| n.config_epoch != 0) {
        return Err(errors::CONFIG_EPOCH_NOT_ZERO.into());
    }
    let epoch = epoch as u64;
    cluster.bus().update(|t| {
        if let Some(i) = t.index_of(&myself) {
            t.nodes[i].config_epoch = epoch;
            t.current_epoch = t.current_epoch.max(epoch);
        }
    });
    ctx.out.ok();
    Ok(Done)
}

/// A slot argument of the slot-changing subcommands (Redis's `getSlotOrReply`).
fn slot_or_reply(arg: &[u8]) -> Result<u16, CommandError> {
    parse_i64(arg)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&s| usize::from(s) < SLOT_COUNT)
        .ok_or_else(|| errors::INVALID_OR_OUT_OF_RANGE_SLOT.into())
}

/// Redis's `checkSlotAssignmentsOrReply`: each slot of `first..=last` must be free (to
/// add) or assigned (to delete) in this node's view, and named once.
fn check_assignments(
    topology: &Topology,
    marked: &mut [u8],
    del: bool,
    first: u16,
    last: u16,
) -> Result<(), CommandError> {
    for slot in first..=last {
        let owner = topology.slots.owner(slot);
        if del && owner.is_none() {
            return Err(format!("ERR Slot {slot} is already unassigned").into());
        }
        if !del && owner.is_some() {
            return Err(format!("ERR Slot {slot} is already busy").into());
        }
        let seen = &mut marked[usize::from(slot)];
        *seen += 1;
        if *seen == 2 {
            return Err(format!("ERR Slot {slot} specified multiple times").into());
        }
    }
    Ok(())
}

/// Adds (or deletes) the marked slots, as Redis's `clusterUpdateSlots`: an importing
/// state ends, since this node now decides the slot. A slot this node adds is claimed
/// for all to see; one it deletes is unassigned in its own view only when it was its own
/// (nobody learns that a node stopped serving a slot), and not at all when another node
/// serves it (that node keeps claiming it, and gossip brings it back at once).
fn update_slots(ctx: &mut Ctx, marked: &[u8], del: bool) -> CommandResult {
    let cluster = cluster(ctx)?;
    let myself = cluster.myself;
    let (topology, me, _) = cluster.view_and_me();
    let slots: Vec<u16> = (0..SLOT_COUNT as u16)
        .filter(|&s| marked[usize::from(s)] != 0)
        .collect();
    let mine: Vec<bool> = slots
        .iter()
        .map(|&s| topology.slots.owner(s) == Some(me))
        .collect();
    for (&slot, &mine) in slots.iter().zip(&mine) {
        cluster.open.set_importing(slot, None);
        if del {
            if mine {
                cluster.drop_slot(slot);
            }
        } else {
            cluster.undrop_slot(slot);
        }
    }
    if !del {
        cluster.bus().update(|t| {
            if let Some(i) = t.index_of(&myself) {
                for &slot in &slots {
                    t.slots.assign(slot, slot, Some(i));
                }
            }
        });
    }
    ctx.out.ok();
    Ok(Done)
}

/// `CLUSTER ADDSLOTS slot [slot ...]` and DELSLOTS: every slot parsed, then checked.
fn slots_command(ctx: &mut Ctx, argv: &[&[u8]], del: bool) -> CommandResult {
    let cluster = cluster(ctx)?;
    let mut slots = Vec::with_capacity(argv.len() - 2);
    for arg in &argv[2..] {
        slots.push(slot_or_reply(arg)?);
    }
    let (topology, _, _) = cluster.view_and_me();
    let mut marked = vec![0u8; SLOT_COUNT];
    for slot in slots {
        check_assignments(topology, &mut marked, del, slot, slot)?;
    }
    update_slots(ctx, &marked, del)
}

/// `CLUSTER ADDSLOTSRANGE first last [first last ...]` and DELSLOTSRANGE: each pair
/// parsed and checked in turn.
fn ranges_command(ctx: &mut Ctx, argv: &[&[u8]], del: bool) -> CommandResult {
    let cluster = cluster(ctx)?;
    if argv.len() % 2 == 1 {
        let name = if del {
            "cluster|delslotsrange"
        } else {
            "cluster|addslotsrange"
        };
        return Err(errors::wrong_arity(name).into());
    }
    let (topology, _, _) = cluster.view_and_me();
    let mut marked = vec![0u8; SLOT_COUNT];
    for pair in argv[2..].chunks(2) {
        let first = slot_or_reply(pair[0])?;
        let last = slot_or_reply(pair[1])?;
        if first > last {
            return Err(format!(
                "ERR start slot number {first} is greater than end slot number {last}"
            )
            .into());
        }
        check_assignments(topology, &mut marked, del, first, last)?;
    }
    update_slots(ctx, &marked, del)
}

fn cluster_addslots(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    slots_command(ctx, argv, false)
}

fn cluster_delslots(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    slots_command(ctx, argv, true)
}

fn cluster_addslotsrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    ranges_command(ctx, argv, false)
}

fn cluster_delslotsrange(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    ranges_command(ctx, argv, true)
}

/// `CLUSTER FLUSHSLOTS`: this node stops serving all its slots; its database must be
/// empty.
fn cluster_flushslots(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    if ctx.state.dbs.first().is_some_and(|db| !db.is_empty()) {
        return Err(errors::FLUSHSLOTS_NOT_EMPTY.into());
    }
    let cluster = cluster(ctx)?;
    let (topology, me, _) = cluster.view_and_me();
    let mine: Vec<u16> = topology
        .slots
        .ranges_of(me)
        .into_iter()
        .flat_map(|(first, last)| first..=last)
        .collect();
    for slot in mine {
        cluster.drop_slot(slot);
    }
    ctx.out.ok();
    Ok(Done)
}

/// `CLUSTER SETSLOT slot IMPORTING|MIGRATING node-id`, `STABLE` or `NODE node-id`, with
/// Redis's checks in its order.
fn cluster_setslot(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let keys_in = |ctx: &Ctx, slot: u16| {
        ctx.state
            .mods
            .slot_keys
            .as_ref()
            .map_or(0, |k| k.count(slot))
    };
    let cluster = cluster(ctx)?;
    let (topology, me) = cluster.shared_view();
    let topology = &*topology;
    if topology.nodes.get(me).is_some_and(|n| !n.is_primary()) {
        return Err(errors::SETSLOT_ON_REPLICA.into());
    }
    let slot = slot_or_reply(argv[2])?;
    let action = argv[3].to_ascii_lowercase();
    let owner = topology.slots.owner(slot);
    let mine = owner == Some(me);
    // The node a MIGRATING or IMPORTING names, a primary.
    let peer = |topology: &Topology| -> Result<NodeId, CommandError> {
        let node = NodeId::parse(argv[4])
            .and_then(|id| topology.node(&id))
            .ok_or_else(|| CommandError::from(errors::dont_know_node(argv[4])))?;
        if !node.is_primary() {
            return Err(errors::TARGET_NOT_MASTER.into());
        }
        Ok(node.id)
    };
    match (action.as_slice(), argv.len()) {
        (b"migrating", 5) => {
            if !mine {
                return Err(format!("ERR I'm not the owner of hash slot {slot}").into());
            }
            let to = peer(topology)?;
            cluster.open.set_migrating(slot, Some(to));
        }
        (b"importing", 5) => {
            if mine {
                return Err(format!("ERR I'm already the owner of hash slot {slot}").into());
            }
            let from = peer(topology)?;
            cluster.open.set_importing(slot, Some(from));
        }
        (b"stable", 4) => {
            cluster.open.set_importing(slot, None);
            cluster.open.set_migrating(slot, None);
        }
        (b"node", 5) => {
            let index = known_node(topology, argv[4])?;
            let node = &topology.nodes[index];
            if !node.is_primary() {
                return Err(errors::TARGET_NOT_MASTER.into());
            }
            let target = node.id;
            let keys = keys_in(ctx, slot);
            let cluster = cluster_in(ctx.state)?;
            let myself = cluster.myself;
            if mine && target != myself && keys != 0 {
                return Err(format!(
                    "ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
                )
                .into());
            }
            if keys == 0 && cluster.open.migrating(slot).is_some() {
                cluster.open.set_migrating(slot, None);
            }
            let importing = target == myself && cluster.open.importing(slot).is_some();
            if importing {
                cluster.open.set_importing(slot, None);
            }
            cluster.undrop_slot(slot);
            let before = owner.and_then(|o| topology.nodes.get(o)).map(|n| n.id);
            cluster.bus().update(|t| {
                let Some(to) = t.index_of(&target) else {
                    return;
                };
                t.slots.assign(slot, slot, Some(to));
                // A primary left without slots by this move turns into a replica of the
                // node that took its last one (`cluster-allow-replica-migration yes`):
                // at once when it is the one told, through gossip when the new owner
                // bumps its epoch.
                if let Some(from) = before.filter(|&b| b != target) {
                    let told = from == myself || importing;
                    if let Some(f) = t.index_of(&from) {
                        if told && t.nodes[f].is_primary() && t.slots.count_of(f) == 0 {
                            t.nodes[f].role = Role::Replica { of: target };
                        }
                    }
                }
                // A slot imported by hand gets a new epoch, so that the new owner wins
                // over every other claim.
                if importing {
                    let _ = t.bump_epoch(to);
                }
            });
            // The node that lost the slot learns it as gossip would tell it, and drops
            // what it still holds there.
            if let Some(from) = before.filter(|&b| b != target && b != myself) {
                crate::replication::tell_lost_slot(&from, slot);
            }
        }
        _ => return Err(errors::SETSLOT_SYNTAX.into()),
    }
    ctx.out.ok();
    Ok(Done)
}

/// `CLUSTER MEET ip port [bus-port]`: joins the cluster of the lockstep node of this
/// process at that address (a real node's handshake; with any other address nothing
/// happens, as a handshake with nobody times out).
fn cluster_meet(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    if argv.len() > 5 {
        return Err(errors::subcommand_syntax(argv[0], argv[1]).into());
    }
    let port = parse_i64(argv[3]).ok_or_else(|| errors::invalid_base_port(argv[3]))?;
    let bus_port = match argv.get(4) {
        Some(arg) => parse_i64(arg).ok_or_else(|| errors::invalid_bus_port(arg))?,
        None => port + 10000,
    };
    let ip = std::str::from_utf8(argv[2])
        .ok()
        .and_then(|s| s.parse::<std::net::IpAddr>().ok());
    let valid = |p: i64| (1..=65535).contains(&p);
    let (Some(ip), true, true) = (ip, valid(port), valid(bus_port)) else {
        return Err(errors::invalid_node_address(argv[2], argv[3]).into());
    };
    let addr = std::net::SocketAddr::new(ip, port as u16);
    cluster(ctx)?.meet(addr);
    ctx.out.ok();
    Ok(Done)
}

/// `CLUSTER RESET [HARD|SOFT]`: this node forgets the cluster (a primary must hold no
/// keys); HARD also gives it a new id and epochs 0.
fn cluster_reset(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    cluster(ctx)?;
    if argv.len() > 3 {
        return Err(errors::subcommand_syntax(argv[0], argv[1]).into());
    }
    let hard = match argv.get(2).map(|a| a.to_ascii_lowercase()) {
        None => false,
        Some(a) if a == b"hard" => true,
        Some(a) if a == b"soft" => false,
        Some(_) => return Err(errors::SYNTAX.into()),
    };
    let has_keys = ctx.state.dbs.first().is_some_and(|db| !db.is_empty());
    let cluster = cluster(ctx)?;
    let (topology, me, _) = cluster.view_and_me();
    let primary = topology.nodes.get(me).is_some_and(|n| n.is_primary());
    if primary && has_keys {
        return Err(errors::RESET_WITH_KEYS.into());
    }
    cluster.reset(hard);
    // A replica turns into an empty primary.
    if !primary {
        for index in 0..ctx.state.dbs.len() {
            ctx.state.db(index, ctx.now).clear();
        }
    }
    ctx.out.ok();
    Ok(Done)
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
