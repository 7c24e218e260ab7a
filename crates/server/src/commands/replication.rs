//! The replication commands of a standalone server: REPLICAOF/SLAVEOF, what a replica
//! sends its primary (SYNC, PSYNC, REPLCONF) and FAILOVER. The protocol itself is in
//! `replication_wire`; WAIT and ROLE are `replication`'s (they serve cluster nodes too).

use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::replication_wire::{self, replica};
use crate::util::parse_i64;

pub static HANDLERS: &[Entry] = &[
    handler("replicaof", replicaof),
    handler("slaveof", replicaof),
    handler("sync", sync),
    handler("psync", psync),
    handler("replconf", replconf),
    handler("failover", failover),
];

/// `REPLICAOF host port` / `REPLICAOF NO ONE` (and its old name SLAVEOF).
fn replicaof(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if ctx.state.cluster.is_some() {
        return Err("ERR REPLICAOF not allowed in cluster mode.".into());
    }
    if ctx.state.wire_repl.failing_over() {
        return Err("ERR REPLICAOF not allowed while failing over.".into());
    }
    if argv[1].eq_ignore_ascii_case(b"no") && argv[2].eq_ignore_ascii_case(b"one") {
        replica::promote(ctx.state);
        ctx.out.ok();
        return Ok(Done);
    }
    if replication_wire::is_replica_client(ctx.state, ctx.client.id) {
        return Err("ERR Command is not valid when client is a replica.".into());
    }
    let port = parse_i64(argv[2])
        .filter(|p| (0..=65535).contains(p))
        .ok_or("ERR Invalid master port")? as u16;
    let host = String::from_utf8_lossy(argv[1]).into_owned();
    if let Some(link) = &ctx.state.wire_repl.master {
        if link.host.eq_ignore_ascii_case(&host) && link.port == port {
            ctx.out.simple("OK Already connected to specified master");
            return Ok(Done);
        }
    }
    replica::replicate(ctx.state, host, port);
    ctx.out.ok();
    Ok(Done)
}

/// `SYNC`: a full resync without ids or offsets (replicas older than 2.8).
fn sync(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    replication_wire::psync(ctx, argv, true)
}

/// `PSYNC replid offset`.
fn psync(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    replication_wire::psync(ctx, argv, false)
}

fn replconf(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    replication_wire::replconf(ctx, argv)
}

/// `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]`, with Redis 7.0's checks in its
/// order.
fn failover(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if ctx.state.cluster.is_some() {
        return Err("ERR FAILOVER not allowed in cluster mode.".into());
    }
    if argv.len() == 2 && argv[1].eq_ignore_ascii_case(b"abort") {
        if !replication_wire::abort_failover(ctx.state) {
            return Err("ERR No failover in progress.".into());
        }
        ctx.out.ok();
        return Ok(Done);
    }
    let mut timeout: i64 = 0;
    let mut force = false;
    let mut target: Option<(String, i64)> = None;
    let mut j = 1;
    while j < argv.len() {
        let opt = argv[j];
        if opt.eq_ignore_ascii_case(b"timeout") && j + 1 < argv.len() && timeout <= 0 {
            timeout = parse_i64(argv[j + 1]).ok_or(crate::errors::NOT_INTEGER)?;
            if timeout <= 0 {
                return Err("ERR FAILOVER timeout must be greater than 0".into());
            }
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"to") && j + 2 < argv.len() && target.is_none() {
            let port = parse_i64(argv[j + 2]).ok_or(crate::errors::NOT_INTEGER)?;
            target = Some((String::from_utf8_lossy(argv[j + 1]).into_owned(), port));
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"force") && !force {
            force = true;
            j += 1;
        } else {
            return Err(crate::errors::SYNTAX.into());
        }
    }
    if ctx.state.wire_repl.failing_over() {
        return Err("ERR FAILOVER already in progress.".into());
    }
    if ctx.state.wire_repl.master.is_some() {
        return Err("ERR FAILOVER is not valid when server is a replica.".into());
    }
    if !replication_wire::has_replicas(ctx.state) {
        return Err("ERR FAILOVER requires connected replicas.".into());
    }
    if force && (timeout == 0 || target.is_none()) {
        return Err(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.".into(),
        );
    }
    replication_wire::start_failover(ctx, target, timeout, force)?;
    ctx.out.ok();
    Ok(Done)
}
