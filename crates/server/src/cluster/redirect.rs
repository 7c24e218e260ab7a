//! Which node serves a command: Redis's `getNodeByQuery`, for dispatch (before a command
//! runs or is queued), for EXEC (over everything queued) and for the commands a script
//! calls. A command whose keys all hash to one slot that this node owns runs here; one
//! whose slot is elsewhere is redirected with `-MOVED`; keys of several slots are refused
//! with `-CROSSSLOT`. Keyless commands always run here.
//!
//! Keys are found as Redis 7.0 finds them for this check (`getKeysFromCommand`): by the
//! command's own key finder when it has one or its keys move (`movablekeys`), else by its
//! legacy (first, last, step) range, which also covers the channels of the sharded
//! pub/sub commands.

use std::net::SocketAddr;

use crate::command::{flags, CommandSpec};
use crate::keyspace::DbMut;
use crate::state::{unix_millis, Client, State};

use super::slots::key_slot;
use super::topology::Role;
use super::ClusterState;

/// Why a command does not run on this node, and where it should go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// The slot is served by the node at `addr`.
    Moved { slot: u16, addr: SocketAddr },
    /// The slot is being migrated to `addr`: ask there, once, after ASKING.
    Ask { slot: u16, addr: SocketAddr },
    /// The keys hash to more than one slot.
    CrossSlot,
    /// Several keys of a slot being migrated, not all of them here.
    TryAgain,
    /// No node serves the slot.
    Unbound,
    /// The cluster is down.
    Down,
    /// The cluster is down and this node serves reads only.
    DownReadOnly,
}

impl Redirect {
    /// The error reply, as Redis's `clusterRedirectClient` words it.
    pub fn error(&self) -> String {
        match self {
            Redirect::Moved { slot, addr } => format!("MOVED {slot} {}", endpoint(addr)),
            Redirect::Ask { slot, addr } => format!("ASK {slot} {}", endpoint(addr)),
            Redirect::CrossSlot => crate::errors::CROSSSLOT.into(),
            Redirect::TryAgain => crate::errors::TRYAGAIN.into(),
            Redirect::Unbound => crate::errors::CLUSTERDOWN_UNBOUND.into(),
            Redirect::Down => crate::errors::CLUSTERDOWN.into(),
            Redirect::DownReadOnly => crate::errors::CLUSTERDOWN_READ_ONLY.into(),
        }
    }

    /// What a script's `redis.call` answers instead (Redis's `scriptVerifyClusterState`).
    pub fn script_error(&self) -> &'static str {
        match self {
            Redirect::DownReadOnly => {
                "Script attempted to execute a write command while the cluster is down and readonly"
            }
            Redirect::Down => "Script attempted to execute a command while the cluster is down",
            _ => "Script attempted to access a non local key in a cluster node",
        }
    }
}

/// `ip:port` as a redirect names it (an IPv6 address unbracketed, as Redis prints it).
fn endpoint(addr: &SocketAddr) -> String {
    format!("{}:{}", addr.ip(), addr.port())
}

/// Whether dispatch must ask `route` about `cmd`: Redis skips commands that declare no
/// keys at all (no key specs, keys that cannot move) other than EXEC.
#[inline]
pub fn may_redirect(cmd: &CommandSpec) -> bool {
    !cmd.key_specs.is_empty() || cmd.has(flags::MOVABLE_KEYS) || cmd.full_name == "exec"
}

/// Where `argv` (of `cmd`, from `client`) runs, as this node sees the cluster: `None` to
/// run here, or the redirect to answer. For EXEC, the queued commands decide.
pub fn route(
    state: &mut State,
    client: &Client,
    cmd: &'static CommandSpec,
    argv: &[&[u8]],
) -> Option<Redirect> {
    let State {
        cluster,
        transactions,
        dbs,
        mods,
        ..
    } = state;
    let cluster = cluster.as_deref_mut()?;
    // Whether a key is here, when a slot is open (Redis's `lookupKeyReadWithFlags`, which
    // lets an expired key go).
    // Only called while the key's slot is open: the common path reads no clock.
    let mut exists = |key: &[u8]| {
        dbs.first_mut()
            .is_some_and(|db| DbMut::new(db, mods, 0, unix_millis()).contains(key))
    };
    if cmd.full_name == "exec" {
        // Outside MULTI, EXEC only answers its own error.
        if !client.in_multi {
            return None;
        }
        let tx = transactions.get(&client.id)?;
        let argvs: Vec<Vec<&[u8]>> = tx
            .queued
            .iter()
            .map(|q| q.argv.iter().map(|a| a.as_slice()).collect())
            .collect();
        let commands: Vec<(&CommandSpec, &[&[u8]])> = tx
            .queued
            .iter()
            .zip(&argvs)
            .map(|(q, argv)| (q.cmd, argv.as_slice()))
            .collect();
        let write = tx.flags & flags::WRITE != 0;
        return decide(cluster, client, &commands, write, false, &mut exists);
    }
    let asking_cmd = cmd.has(flags::ASKING);
    decide(
        cluster,
        client,
        &[(cmd, argv)],
        cmd.has(flags::WRITE),
        asking_cmd,
        &mut exists,
    )
}

/// `route` for a command a script calls (Redis's `scriptVerifyClusterState`): its keys
/// must all be served here, the caller's ASKING and READONLY counting.
pub fn route_script_call(
    state: &mut State,
    client: &Client,
    cmd: &'static CommandSpec,
    argv: &[&[u8]],
) -> Option<Redirect> {
    let State {
        cluster, dbs, mods, ..
    } = state;
    let cluster = cluster.as_deref_mut()?;
    // Only called while the key's slot is open: the common path reads no clock.
    let mut exists = |key: &[u8]| {
        dbs.first_mut()
            .is_some_and(|db| DbMut::new(db, mods, 0, unix_millis()).contains(key))
    };
    decide(
        cluster,
        client,
        &[(cmd, argv)],
        cmd.has(flags::WRITE),
        cmd.has(flags::ASKING),
        &mut exists,
    )
}

/// The shared part of `route`: the slot of the commands' keys, and who serves it, as
/// Redis 7.0's `getNodeByQuery` decides: while this node migrates the slot, keys it does
/// not have are asked of the target (`-ASK`), or refused with `-TRYAGAIN` when some of
/// several keys are here and some not; while it imports the slot, a client that sent
/// ASKING (or RESTORE-ASKING) is served unless several keys are asked for and some are
/// missing; MIGRATE runs wherever the slot is open.
fn decide(
    cluster: &mut ClusterState,
    client: &Client,
    commands: &[(&CommandSpec, &[&[u8]])],
    write: bool,
    asking_cmd: bool,
    exists: &mut dyn FnMut(&[u8]) -> bool,
) -> Option<Redirect> {
    let (topology, me, ok, open) = cluster.view_and_open();
    // The first key's slot and its owner.
    let mut first: Option<(&[u8], u16, usize)> = None;
    let mut multiple_keys = false;
    let mut migrating = false;
    let mut importing = false;
    let mut missing = 0usize;
    let mut existing = 0usize;
    let mut migrate = false;
    for &(cmd, argv) in commands {
        migrate |= cmd.full_name == "migrate";
        let shard_channels = cmd.has(flags::PUBSUB);
        for at in key_positions(cmd, argv) {
            let Some(&key) = argv.get(at) else { continue };
            match first {
                None => {
                    let slot = key_slot(key);
                    let Some(owner) = topology.slots.owner(slot) else {
                        return Some(Redirect::Unbound);
                    };
                    if !open.is_empty() {
                        if owner == me && open.migrating(slot).is_some() {
                            migrating = true;
                        } else if open.importing(slot).is_some() {
                            importing = true;
                        }
                    }
                    first = Some((key, slot, owner));
                }
                Some((first_key, slot, _)) => {
                    if first_key != key {
                        if key_slot(key) != slot {
                            return Some(Redirect::CrossSlot);
                        }
                        multiple_keys = true;
                    }
                }
            }
            // Channels of a slot being moved are served where the slot is until it
            // moves: only keys are looked for.
            if (migrating || importing) && !shard_channels {
                if exists(key) {
                    existing += 1;
                } else {
                    missing += 1;
                }
            }
        }
    }
    // No key at all: served here, whatever the cluster's state.
    let (_, slot, owner) = first?;
    if !ok {
        return Some(Redirect::Down);
    }
    if (migrating || importing) && migrate {
        return None;
    }
    if migrating && missing > 0 {
        if existing > 0 {
            return Some(Redirect::TryAgain);
        }
        let to = open.migrating(slot).and_then(|id| topology.node(&id))?;
        return Some(Redirect::Ask {
            slot,
            addr: to.addr(),
        });
    }
    if importing && (client.asking || asking_cmd) {
        if multiple_keys && missing > 0 {
            return Some(Redirect::TryAgain);
        }
        return None;
    }
    if owner == me {
        return None;
    }
    let node = topology.nodes.get(owner)?;
    // A replica serves reads of its primary's slots to READONLY clients.
    if client.readonly && !write {
        if let Some(myself) = topology.nodes.get(me) {
            if myself.role == (Role::Replica { of: node.id }) {
                return None;
            }
        }
    }
    Some(Redirect::Moved {
        slot,
        addr: node.addr(),
    })
}

/// The argument positions of `cmd`'s keys, as Redis 7.0's `getKeysFromCommand` finds them.
fn key_positions(cmd: &CommandSpec, argv: &[&[u8]]) -> KeyPositions {
    if cmd.getkeys.is_some() || cmd.has(flags::MOVABLE_KEYS) {
        let found = cmd.get_keys(argv).unwrap_or_default();
        return KeyPositions::Found(found.into_iter());
    }
    let (first, last, step) = cmd.legacy_range();
    let argc = argv.len() as i64;
    let last = if last < 0 {
        argc + i64::from(last)
    } else {
        i64::from(last)
    };
    if first <= 0 || step <= 0 || last >= argc {
        // No keys, or arguments that do not fit the range: the command answers its own
        // error.
        return KeyPositions::Range(0..0, 1);
    }
    KeyPositions::Range(first as usize..last as usize + 1, step as usize)
}

/// Key positions without a list for the common case: a range with a step.
enum KeyPositions {
    Range(std::ops::Range<usize>, usize),
    Found(std::vec::IntoIter<(usize, u32)>),
}

impl Iterator for KeyPositions {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        match self {
            KeyPositions::Range(range, step) => {
                let at = range.next()?;
                range.start = range.start.saturating_add(*step - 1).min(range.end);
                Some(at)
            }
            KeyPositions::Found(found) => found.next().map(|(at, _)| at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Registry;

    fn positions(argv: &[&str]) -> Vec<usize> {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        let cmd = Registry::get().resolve(&argv).expect("a command");
        key_positions(cmd, &argv).collect()
    }

    #[test]
    fn keys_are_found_as_redis_finds_them_for_redirects() {
        assert_eq!(positions(&["GET", "a"]), [1]);
        assert_eq!(positions(&["MSET", "a", "1", "b", "2"]), [1, 3]);
        assert_eq!(positions(&["MGET", "a", "b", "c"]), [1, 2, 3]);
        assert_eq!(positions(&["SET", "a", "1", "EX", "5"]), [1]);
        assert_eq!(positions(&["EVAL", "s", "2", "a", "b", "x"]), [3, 4]);
        assert_eq!(positions(&["EVAL", "s", "0"]), Vec::<usize>::new());
        assert_eq!(positions(&["SORT", "a", "STORE", "b"]), [1, 3]);
        assert_eq!(positions(&["ZUNIONSTORE", "d", "2", "a", "b"]), [1, 3, 4]);
        // The channels of the sharded pub/sub commands count, by their legacy range.
        assert_eq!(positions(&["SPUBLISH", "ch", "msg"]), [1]);
        assert_eq!(positions(&["SSUBSCRIBE", "a", "b"]), [1, 2]);
        assert_eq!(positions(&["PUBLISH", "ch", "msg"]), Vec::<usize>::new());
        assert_eq!(positions(&["PING"]), Vec::<usize>::new());
    }

    #[test]
    fn redirects_are_worded_as_redis_words_them() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 7002));
        assert_eq!(
            Redirect::Moved { slot: 15495, addr }.error(),
            "MOVED 15495 127.0.0.1:7002"
        );
        assert_eq!(
            Redirect::Ask { slot: 1, addr }.error(),
            "ASK 1 127.0.0.1:7002"
        );
        assert_eq!(
            Redirect::CrossSlot.error(),
            "CROSSSLOT Keys in request don't hash to the same slot"
        );
        assert_eq!(
            Redirect::Unbound.error(),
            "CLUSTERDOWN Hash slot not served"
        );
    }
}
