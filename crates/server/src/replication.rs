//! Replication between the nodes of a process, as Redis replicates: a primary sends
//! its replicas the stream `propagate` records (the written commands, a transaction's or a
//! script's writes wrapped in MULTI/EXEC — scripts by their effects, never the script —
//! SPOP as the value it left, MIGRATE as the DEL of what it moved) to each of its
//! replicas in order, and a replica applies them, under its own lock, with the primary's
//! clock of the command (relative TTLs and stream ids come out the same). Offsets count the
//! bytes of the RESP stream Redis would send (`SELECT 0` first, MULTI/EXEC around groups).
//!
//! - A replica first syncs fully: an RDB snapshot of its primary, taken under the primary's
//!   lock together with the registration of its feed, so that nothing is missed or applied
//!   twice (Redis's full resynchronisation, without the socket).
//! - Every node runs one task (`run`): it (re)syncs when the configuration names a new
//!   primary for it, applies its primary's stream, delivers the PUBLISH messages other
//!   nodes broadcast (the cluster bus's PUBLISH) and wakes WAIT callers when replicas
//!   acknowledge. It never holds two nodes' locks at once.
//! - WAIT answers how many replicas acknowledged the client's last write (its offset).
//! - A node that becomes a replica drops its own feeds: a replica that was promoted applies
//!   what was in flight from its old primary before the feed closes, so no write the old
//!   primary acknowledged before the switch is lost.
//!
//! Replicas expire keys on their own clock (the same TTLs, so the same moments) instead of
//! waiting for their primary's DEL, and ignore nothing of maxmemory: a deviation from
//! Redis that a client cannot tell on a converged cluster.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use crate::cluster::{ClusterState, NodeId, Role};
use crate::command::{handler, Block, CommandResult, CommandSpec, Ctx, Done, Entry, Outcome};
use crate::keyspace::Millis;
use crate::reply::{Protocol, Reply};
use crate::shared::Shared;
use crate::state::{unix_millis, Client, State};
use crate::util::parse_i64;

pub static HANDLERS: &[Entry] = &[handler("wait", wait), handler("role", role)];

/// What a replica answers a write (`slave-read-only yes`).
pub const READONLY: &str = "READONLY You can't write against a read only replica.";

/// Whether this node replicates a primary (and so refuses writes).
#[inline]
pub fn is_replica(state: &State) -> bool {
    state
        .cluster
        .as_deref()
        .is_some_and(|c| c.repl.link.is_some())
        || crate::replication_wire::read_only_replica(state)
}

/// A unit of the stream: one command, or the writes of a transaction or script (sent
/// wrapped in MULTI/EXEC), with the primary's clock when it ran.
#[derive(Debug)]
pub struct Group {
    pub commands: Vec<Vec<Vec<u8>>>,
    pub now: Millis,
    /// The primary's offset once this group is counted.
    pub end: u64,
}

/// A replica as its primary holds it.
#[derive(Debug)]
struct Feed {
    replica: NodeId,
    addr: SocketAddr,
    tx: mpsc::UnboundedSender<Arc<Group>>,
    /// The offset the replica applied.
    acked: Arc<AtomicU64>,
}

/// A replica's link to its primary.
#[derive(Debug, Clone)]
pub struct Link {
    pub primary: NodeId,
    pub addr: SocketAddr,
    /// Whether the primary answers and the stream flows (`master_link_status:up`).
    pub up: bool,
}

/// One node's replication: its offset, its replicas (as a primary), its link (as a
/// replica), and the clients in WAIT.
#[derive(Debug)]
pub struct Replication {
    /// `master_repl_offset`: bytes of the stream this node produced or applied.
    pub offset: u64,
    pub replid: String,
    /// The id and offset of the history before a promotion (`master_replid2`).
    pub replid2: String,
    pub second_offset: i64,
    /// Whether a replica was ever attached (Redis creates the backlog then).
    pub backlog: bool,
    feeds: Vec<Feed>,
    pub link: Option<Link>,
    /// Every client's offset after its last propagated write (Redis's `c->woff`).
    woff: HashMap<u64, u64>,
    /// Clients blocked in WAIT: id, offset, replicas wanted.
    waiters: Vec<(u64, u64, usize)>,
    /// Set while somebody waits, read by the replicas' tasks.
    waiting: Arc<AtomicBool>,
    /// Messages for this node's task (set once the node runs).
    inbox: Option<mpsc::UnboundedSender<Msg>>,
    /// A CLUSTER FAILOVER (default) waiting for this replica to catch up: the offset.
    pub failover_target: Option<u64>,
}

impl Default for Replication {
    fn default() -> Replication {
        Replication {
            offset: 0,
            replid: random_id(),
            replid2: "0".repeat(40),
            second_offset: -1,
            backlog: false,
            feeds: Vec::new(),
            link: None,
            woff: HashMap::new(),
            waiters: Vec::new(),
            waiting: Arc::new(AtomicBool::new(false)),
            inbox: None,
            failover_target: None,
        }
    }
}

fn random_id() -> String {
    NodeId::random().to_string()
}

impl Replication {
    /// The replicas attached, with the offsets they applied.
    pub fn replicas(&self) -> impl Iterator<Item = (NodeId, SocketAddr, u64)> + '_ {
        self.feeds
            .iter()
            .filter(|f| !f.tx.is_closed())
            .map(|f| (f.replica, f.addr, f.acked.load(Ordering::Acquire)))
    }

    /// How many replicas applied `offset`.
    fn acked(&self, offset: u64) -> usize {
        self.feeds
            .iter()
            .filter(|f| f.acked.load(Ordering::Acquire) >= offset)
            .count()
    }

    /// A node promoted: its history continues under a new id, the old one kept as
    /// `master_replid2` up to here (Redis's `shiftReplicationId`).
    pub fn promoted(&mut self) {
        self.replid2 = std::mem::replace(&mut self.replid, random_id());
        self.second_offset = self.offset as i64 + 1;
    }

    /// Asks this node's task to look at the configuration again.
    pub fn kick(&self) {
        if let Some(inbox) = &self.inbox {
            let _ = inbox.send(Msg::Check);
        }
    }
}

/// What a node's task is asked to do.
#[derive(Debug)]
enum Msg {
    Publish {
        shard: bool,
        channel: Vec<u8>,
        payload: Vec<u8>,
    },
    /// A replica acknowledged: serve the WAIT callers it satisfies.
    Acked,
    /// The configuration may name a new primary for this node.
    Check,
    /// Another node took this slot from this one (SETSLOT NODE sent elsewhere).
    LostSlot(u16),
}

/// A node of this process as the others reach it.
struct Handle {
    shared: Weak<Shared>,
    inbox: mpsc::UnboundedSender<Msg>,
    /// The node's offset, as its task last set it.
    offset: Arc<AtomicU64>,
}

/// The replication offset of a node of this process (0 if it is not running).
pub fn offset_of(id: &NodeId) -> u64 {
    let nodes = NODES.lock();
    nodes
        .iter()
        .find(|(n, h)| n == id && h.shared.strong_count() > 0)
        .map_or(0, |(_, h)| h.offset.load(Ordering::Acquire))
}

/// Asks every node's task to look at the configuration again (after a failover).
pub fn kick_all() {
    let nodes = NODES.lock();
    for (_, h) in nodes.iter() {
        let _ = h.inbox.send(Msg::Check);
    }
}

/// Forgets a node that stopped.
pub fn unregister(id: &NodeId) {
    NODES.lock().retain(|(n, _)| n != id);
}

static NODES: Mutex<Vec<(NodeId, Handle)>> = Mutex::new(Vec::new());

fn node(id: &NodeId) -> Option<(Arc<Shared>, mpsc::UnboundedSender<Msg>)> {
    let nodes = NODES.lock();
    let (_, h) = nodes.iter().find(|(n, _)| n == id)?;
    Some((h.shared.upgrade()?, h.inbox.clone()))
}

/// Tells the node `id` of this process that `slot` is no longer its own: it deletes its
/// keys there, as a real node does when gossip brings it the new owner.
pub fn tell_lost_slot(id: &NodeId, slot: u16) {
    if let Some(inbox) = inbox_of(id) {
        let _ = inbox.send(Msg::LostSlot(slot));
    }
}

fn inbox_of(id: &NodeId) -> Option<mpsc::UnboundedSender<Msg>> {
    let nodes = NODES.lock();
    nodes
        .iter()
        .find(|(n, h)| n == id && h.shared.strong_count() > 0)
        .map(|(_, h)| h.inbox.clone())
}

/// Whether the node is running in this process.
pub fn is_running(id: &NodeId) -> bool {
    node(id).is_some()
}

/// Closes this node's feeds to the replicas `cut` names (a partition, fault injection):
/// their links go down, as if the primary had stopped.
pub fn cut_feeds(state: &mut State, cut: impl Fn(&NodeId) -> bool) {
    if let Some(c) = state.cluster.as_deref_mut() {
        c.repl.feeds.retain(|f| !cut(&f.replica));
    }
}

// ---------------------------------------------------------------------------------------
// What `propagate` hands over.

/// Whether this node streams to replicas (`propagate` records nothing for a node that
/// has neither replicas nor an AOF).
#[inline]
pub fn has_feeds(state: &State) -> bool {
    state
        .cluster
        .as_deref()
        .is_some_and(|c| !c.repl.feeds.is_empty())
}

/// PUBLISH reaches every other node, SPUBLISH the other nodes of the shard, as the
/// cluster bus carries them.
pub fn broadcast_publish(state: &mut State, cmd: &CommandSpec, argv: &[&[u8]]) {
    if let ("publish" | "spublish", 3) = (cmd.full_name, argv.len()) {
        if let Some(c) = state.cluster.as_deref_mut() {
            broadcast(c, cmd.full_name == "spublish", argv);
        }
    }
}

/// A finished group of the stream (`propagate`): to every replica, the offset counted,
/// and the client's write offset (`client`) remembered for WAIT. A replica streams to
/// nobody: what it applied or expired on its own leaves its offset alone.
pub fn send(
    state: &mut State,
    commands: Vec<crate::propagate::Propagated>,
    client: Option<u64>,
    now: Millis,
) {
    let applying = state.propagation.applying;
    let Some(c) = state.cluster.as_deref_mut() else {
        return;
    };
    if c.repl.link.is_some() || c.repl.feeds.is_empty() {
        return;
    }
    let commands = commands.into_iter().map(|p| p.argv).collect();
    flush(c, commands, applying, now);
    if let (Some(id), false) = (client, applying) {
        c.repl.woff.insert(id, c.repl.offset);
    }
}

/// The bytes of `argv` as a RESP array of bulk strings.
fn resp_len(argv: &[Vec<u8>]) -> u64 {
    let digits = |n: usize| n.to_string().len() as u64;
    let mut len = 1 + digits(argv.len()) + 2;
    for a in argv {
        len += 1 + digits(a.len()) + 2 + a.len() as u64 + 2;
    }
    len
}

/// Sends a group to every replica.
fn flush(c: &mut ClusterState, commands: Vec<Vec<Vec<u8>>>, applying: bool, now: Millis) {
    let repl = &mut c.repl;
    if !applying {
        let mut bytes: u64 = commands.iter().map(|a| resp_len(a)).sum();
        if commands.len() > 1 {
            bytes += resp_len(&[b"MULTI".to_vec()]) + resp_len(&[b"EXEC".to_vec()]);
        }
        if repl.offset == 0 {
            bytes += resp_len(&[b"SELECT".to_vec(), b"0".to_vec()]);
        }
        repl.offset += bytes;
    }
    let group = Arc::new(Group {
        commands,
        now,
        end: repl.offset,
    });
    repl.feeds.retain(|f| f.tx.send(group.clone()).is_ok());
}

/// PUBLISH (every other node) or SPUBLISH (the other nodes of this node's shard), as the
/// cluster bus carries them.
fn broadcast(c: &mut ClusterState, shard: bool, argv: &[&[u8]]) {
    let myself = c.myself;
    let (topology, me, _) = c.view_and_me();
    let Some(my_node) = topology.nodes.get(me) else {
        return;
    };
    let my_primary = match my_node.role {
        Role::Primary => myself,
        Role::Replica { of } => of,
    };
    for node in &topology.nodes {
        if node.id == myself {
            continue;
        }
        if shard {
            let primary = match node.role {
                Role::Primary => node.id,
                Role::Replica { of } => of,
            };
            if primary != my_primary {
                continue;
            }
        }
        if let Some(inbox) = inbox_of(&node.id) {
            let _ = inbox.send(Msg::Publish {
                shard,
                channel: argv[1].to_vec(),
                payload: argv[2].to_vec(),
            });
        }
    }
}

/// Forgets a closed connection's offset.
pub fn forget_client(state: &mut State, id: u64) {
    crate::replication_wire::forget_client(state, id);
    if let Some(c) = state.cluster.as_deref_mut() {
        c.repl.woff.remove(&id);
        c.repl.waiters.retain(|w| w.0 != id);
    }
}

// ---------------------------------------------------------------------------------------
// WAIT and ROLE.

/// `WAIT numreplicas timeout`: how many replicas acknowledged this client's last write,
/// once `numreplicas` did or `timeout` ms passed (0: forever).
fn wait(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let wanted = parse_i64(argv[1]).ok_or(crate::errors::NOT_INTEGER)?;
    let timeout = parse_i64(argv[2]).ok_or("ERR timeout is not an integer or out of range")?;
    if timeout < 0 {
        return Err("ERR timeout is negative".into());
    }
    let id = ctx.client.id;
    let Some(c) = ctx.state.cluster.as_deref_mut() else {
        return crate::replication_wire::wait(ctx, wanted, timeout);
    };
    if c.repl.link.is_some() {
        return Err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.".into());
    }
    let target = c.repl.woff.get(&id).copied().unwrap_or(0);
    let acked = c.repl.acked(target);
    if acked as i64 >= wanted || !ctx.can_block {
        ctx.out.int(acked as i64);
        return Ok(Done);
    }
    c.repl
        .waiters
        .push((id, target, usize::try_from(wanted).unwrap_or(usize::MAX)));
    c.repl.waiting.store(true, Ordering::Release);
    Ok(block_until(timeout))
}

fn block_until(timeout: i64) -> Outcome {
    Outcome::Block(Block {
        keys: Vec::new(),
        deadline: (timeout > 0)
            .then(|| std::time::Instant::now() + Duration::from_millis(timeout as u64)),
        ready_when: |_| false,
        argv: None,
        wake_on_every_write: false,
    })
}

/// What a WAIT that timed out answers: the replicas that acknowledged by then.
pub fn wait_timed_out(state: &mut State, client: u64) -> i64 {
    let Some(c) = state.cluster.as_deref_mut() else {
        return crate::replication_wire::wait_timed_out(state, client);
    };
    let target = c.repl.woff.get(&client).copied().unwrap_or(0);
    c.repl.waiters.retain(|w| w.0 != client);
    c.repl.acked(target) as i64
}

/// Serves the WAIT callers whose replicas acknowledged enough.
fn serve_waiters(state: &mut State) {
    let Some(c) = state.cluster.as_deref_mut() else {
        return;
    };
    let mut done = Vec::new();
    let mut waiters = std::mem::take(&mut c.repl.waiters);
    waiters.retain(|&(id, target, wanted)| {
        let acked = c.repl.acked(target);
        if acked >= wanted {
            done.push((id, acked));
            false
        } else {
            true
        }
    });
    c.repl.waiters = waiters;
    if c.repl.waiters.is_empty() {
        c.repl.waiting.store(false, Ordering::Release);
    }
    for (id, acked) in done {
        crate::dispatch::unblock(state, id, |r| r.int(acked as i64));
    }
}

/// `ROLE`: `master offset [[ip port offset] ...]` or `slave ip port state offset`.
fn role(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let out = &mut *ctx.out;
    let Some(c) = ctx.state.cluster.as_deref_mut() else {
        crate::replication_wire::role(ctx);
        return Ok(Done);
    };
    match &c.repl.link {
        Some(link) => {
            out.array(5);
            out.bulk(b"slave");
            out.bulk(link.addr.ip().to_string().as_bytes());
            out.int(i64::from(link.addr.port()));
            out.bulk(if link.up {
                b"connected".as_slice()
            } else {
                b"connect"
            });
            out.int(c.repl.offset as i64);
        }
        None => {
            let replicas: Vec<_> = c.repl.replicas().collect();
            out.array(3);
            out.bulk(b"master");
            out.int(c.repl.offset as i64);
            out.array(replicas.len());
            for (_, addr, offset) in replicas {
                out.array(3);
                out.bulk(addr.ip().to_string().as_bytes());
                out.bulk(addr.port().to_string().as_bytes());
                out.bulk(offset.to_string().as_bytes());
            }
        }
    }
    Ok(Done)
}

/// INFO's replication section of a cluster node, as Redis 7.0 writes it; false on a
/// standalone server (which has no replicas).
pub fn info(state: &State, out: &mut String) -> bool {
    use std::fmt::Write as _;
    let Some(c) = state.cluster.as_deref() else {
        return false;
    };
    let repl = &c.repl;
    match &repl.link {
        Some(link) => {
            let _ = write!(
                out,
                "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n\
                 master_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:0\r\n\
                 slave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\nslave_priority:100\r\n\
                 slave_read_only:1\r\nreplica_announced:1\r\nconnected_slaves:0\r\n",
                link.addr.ip(),
                link.addr.port(),
                if link.up { "up" } else { "down" },
                if link.up { 0 } else { -1 },
                repl.offset,
                repl.offset,
            );
        }
        None => {
            let replicas: Vec<_> = repl.replicas().collect();
            let _ = write!(
                out,
                "role:master\r\nconnected_slaves:{}\r\n",
                replicas.len()
            );
            for (i, (_, addr, offset)) in replicas.iter().enumerate() {
                let _ = write!(
                    out,
                    "slave{i}:ip={},port={},state=online,offset={offset},lag=0\r\n",
                    addr.ip(),
                    addr.port()
                );
            }
        }
    }
    let failover = if repl.failover_target.is_some() {
        "waiting-for-sync"
    } else {
        "no-failover"
    };
    let _ = write!(
        out,
        "master_failover_state:{failover}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\n\
         master_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{}\r\n\
         repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:{}\r\n\
         repl_backlog_histlen:{}\r\n",
        repl.replid,
        repl.replid2,
        repl.offset,
        repl.second_offset,
        u8::from(repl.backlog),
        u64::from(repl.backlog),
        if repl.backlog { repl.offset } else { 0 },
    );
    true
}

// ---------------------------------------------------------------------------------------
// The node's task.

/// Registers a node of this process and runs its replication task until `shutdown`.
pub(crate) fn start(shared: &Arc<Shared>, myself: NodeId, shutdown: watch::Receiver<bool>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let offset = Arc::new(AtomicU64::new(0));
    {
        let mut nodes = NODES.lock();
        nodes.retain(|(id, h)| *id != myself && h.shared.strong_count() > 0);
        nodes.push((
            myself,
            Handle {
                shared: Arc::downgrade(shared),
                inbox: tx.clone(),
                offset: offset.clone(),
            },
        ));
    }
    if let Some(c) = shared.state.lock().cluster.as_deref_mut() {
        c.repl.inbox = Some(tx);
    }
    tokio::spawn(run(shared.clone(), rx, shutdown, offset));
}

/// The stream from a primary, as the replica's task holds it.
struct Upstream {
    primary: NodeId,
    rx: mpsc::UnboundedReceiver<Arc<Group>>,
    acked: Arc<AtomicU64>,
    primary_inbox: mpsc::UnboundedSender<Msg>,
    waiting: Arc<AtomicBool>,
}

async fn run(
    shared: Arc<Shared>,
    mut inbox: mpsc::UnboundedReceiver<Msg>,
    mut shutdown: watch::Receiver<bool>,
    offset: Arc<AtomicU64>,
) {
    let mut upstream: Option<Upstream> = None;
    let mut client = Client::new(
        u64::MAX,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        true,
    );
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = inbox.recv() => match msg {
                Some(Msg::Publish { shard, channel, payload }) => {
                    let kind = if shard { crate::pubsub::Kind::Shard } else { crate::pubsub::Kind::Channel };
                    let mut state = shared.lock().await;
                    crate::pubsub::publish(&mut state, kind, &channel, &payload, None);
                }
                Some(Msg::Acked) => serve_waiters(&mut *shared.lock().await),
                Some(Msg::Check) => {}
                Some(Msg::LostSlot(slot)) => {
                    crate::cluster::forget_lost_slot(&mut *shared.lock().await, slot);
                }
                None => return,
            },
            group = recv(&mut upstream) => match group {
                Some(group) => {
                    let mut state = shared.lock().await;
                    apply(&mut state, &mut client, &group);
                    if let Some(up) = &upstream {
                        up.acked.store(group.end, Ordering::Release);
                        if up.waiting.load(Ordering::Acquire) {
                            let _ = up.primary_inbox.send(Msg::Acked);
                        }
                    }
                    // Drain what else came, under the same acquisition.
                    while let Some(up) = upstream.as_mut() {
                        let Ok(next) = up.rx.try_recv() else { break };
                        apply(&mut state, &mut client, &next);
                        up.acked.store(next.end, Ordering::Release);
                        if up.waiting.load(Ordering::Acquire) {
                            let _ = up.primary_inbox.send(Msg::Acked);
                        }
                    }
                    if let Some(c) = state.cluster.as_deref() {
                        offset.store(c.repl.offset, Ordering::Release);
                    }
                    continue;
                }
                None => {
                    // The primary is gone (stopped, or it became a replica itself).
                    upstream = None;
                    if let Some(c) = shared.lock().await.cluster.as_deref_mut() {
                        if let Some(link) = c.repl.link.as_mut() {
                            link.up = false;
                        }
                    }
                }
            },
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        reconcile(&shared, &mut upstream).await;
        if let Some(c) = shared.lock().await.cluster.as_deref() {
            offset.store(c.repl.offset, Ordering::Release);
        }
    }
}

async fn recv(upstream: &mut Option<Upstream>) -> Option<Arc<Group>> {
    match upstream {
        Some(up) => up.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Applies a group from the primary with its clock, as one unit.
fn apply(state: &mut State, client: &mut Client, group: &Group) {
    let registry = crate::command::Registry::get();
    crate::propagate::begin_unit(state);
    let mut out = Reply::new(Protocol::Resp2);
    for argv in &group.commands {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        if let Ok((cmd, id)) = registry.resolve_with_id(&argv) {
            out.truncate(0);
            crate::dispatch::call_at(state, client, &mut out, cmd, id, &argv, group.now);
        }
    }
    crate::propagate::end_unit(state, group.now);
    if let Some(c) = state.cluster.as_deref_mut() {
        c.repl.offset = group.end;
        if let Some(link) = c.repl.link.as_mut() {
            link.up = true;
        }
    }
    if state.blocked.has_ready() {
        crate::dispatch::serve_blocked(state);
    }
}

/// Makes the node's replication agree with the configuration: a node that the
/// configuration makes a replica of a primary it does not stream from syncs from it; a
/// node that became a primary keeps applying what is in flight until its old primary
/// closes the stream.
async fn reconcile(shared: &Arc<Shared>, upstream: &mut Option<Upstream>) {
    let (wanted, myself, my_addr) = {
        let mut state = shared.lock().await;
        let Some(c) = state.cluster.as_deref_mut() else {
            return;
        };
        let Some(me) = c.me() else { return };
        let wanted = match me.role {
            Role::Primary => {
                if c.repl.link.take().is_some() {
                    c.repl.promoted();
                }
                return;
            }
            Role::Replica { of } => {
                // A replica streams to nobody.
                if !c.repl.feeds.is_empty() {
                    c.repl.feeds.clear();
                }
                if upstream.as_ref().is_some_and(|u| u.primary == of) {
                    return;
                }
                let addr = c.view().node(&of).map(|n| n.addr());
                if let Some(addr) = addr {
                    if c.repl.link.as_ref().map(|l| l.primary) != Some(of) {
                        c.repl.link = Some(Link {
                            primary: of,
                            addr,
                            up: false,
                        });
                    }
                }
                // A partition (fault injection) keeps the link down while it lasts.
                if c.cut_off_from(&of) {
                    return;
                }
                of
            }
        };
        (wanted, me.id, me.addr())
    };
    let Some((primary, primary_inbox)) = node(&wanted) else {
        return;
    };
    // Full sync: the snapshot and the feed under one acquisition of the primary.
    let (tx, rx) = mpsc::unbounded_channel();
    let acked = Arc::new(AtomicU64::new(0));
    let (snapshot, offset, waiting, replid) = {
        let mut state = primary.lock().await;
        let now = unix_millis();
        let mut rdb = Vec::new();
        if crate::rdb::file::write_rdb(&state, now, &mut rdb).is_err() {
            return;
        }
        let Some(c) = state.cluster.as_deref_mut() else {
            return;
        };
        // A primary only: a node still a replica is asked again later.
        if c.repl.link.is_some() || c.me().is_none_or(|m| !m.is_primary()) {
            return;
        }
        c.repl.feeds.retain(|f| f.replica != myself);
        acked.store(c.repl.offset, Ordering::Release);
        c.repl.feeds.push(Feed {
            replica: myself,
            addr: my_addr,
            tx,
            acked: acked.clone(),
        });
        c.repl.backlog = true;
        (
            rdb,
            c.repl.offset,
            c.repl.waiting.clone(),
            c.repl.replid.clone(),
        )
    };
    let mut state = shared.lock().await;
    let now = unix_millis();
    for i in 0..state.dbs.len() {
        state.db(i, now).clear();
    }
    if crate::rdb::file::load(&mut state, &snapshot, now).is_err() {
        return;
    }
    crate::cluster::reindex(&mut state);
    if let Some(c) = state.cluster.as_deref_mut() {
        c.repl.offset = offset;
        c.repl.replid = replid;
        c.repl.backlog = true;
        if let Some(link) = c.repl.link.as_mut() {
            link.up = true;
        }
    }
    *upstream = Some(Upstream {
        primary: wanted,
        rx,
        acked,
        primary_inbox,
        waiting,
    });
}

// ---------------------------------------------------------------------------------------
// Failover.

/// Replica `myself` takes its primary's slots at once (FORCE, TAKEOVER, or the end of a
/// manual failover): a new config epoch, the old primary becomes its replica.
pub fn take_over(bus: &Arc<crate::cluster::Bus>, myself: NodeId, old: NodeId) {
    bus.update(|t| {
        if let Some(i) = t.index_of(&myself) {
            if t.promote(i).is_some() {
                if let Some(o) = t.index_of(&old) {
                    if t.slots.count_of(o) == 0 {
                        t.demote(o, myself);
                    }
                }
            }
        }
    });
    kick_all();
}

/// How long a manual failover keeps the primary's writes paused at most (Redis's
/// `CLUSTER_MF_TIMEOUT` × `CLUSTER_MF_PAUSE_MULT`).
const MANUAL_FAILOVER_PAUSE: Duration = Duration::from_millis(10_000);

/// CLUSTER FAILOVER without options: the primary pauses writes and tells its offset, the
/// replica applies up to it, then takes over; the old primary's writes resume (and are
/// redirected to the new primary).
pub fn manual_failover(bus: Arc<crate::cluster::Bus>, myself: NodeId, primary: NodeId) {
    tokio::spawn(async move {
        let Some((primary_shared, _)) = node(&primary) else {
            return;
        };
        let target = {
            let mut state = primary_shared.lock().await;
            state.pause = Some(crate::state::ClientPause {
                until: std::time::Instant::now() + MANUAL_FAILOVER_PAUSE,
                writes_only: true,
            });
            state.cluster.as_deref().map_or(0, |c| c.repl.offset)
        };
        let deadline = std::time::Instant::now() + MANUAL_FAILOVER_PAUSE;
        if let Some((me, _)) = node(&myself) {
            if let Some(c) = me.lock().await.cluster.as_deref_mut() {
                c.repl.failover_target = Some(target);
            }
            loop {
                let reached = me
                    .lock()
                    .await
                    .cluster
                    .as_deref()
                    .is_none_or(|c| c.repl.offset >= target);
                if reached {
                    take_over(&bus, myself, primary);
                    break;
                }
                if std::time::Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if let Some(c) = me.lock().await.cluster.as_deref_mut() {
                c.repl.failover_target = None;
            }
        }
        let mut state = primary_shared.lock().await;
        if state.pause.take().is_some() {
            for entry in state.clients.values() {
                entry.wake.notify_one();
            }
        }
    });
}
