//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! MULTI only marks the client; `dispatch::process_command` queues what follows (after the
//! checks that can refuse a command, each of which aborts the transaction, as Redis's
//! `rejectCommand` does). EXEC runs the queue through `dispatch::call`, under the one lock
//! the whole batch holds, so no other client's command runs in between; blocking commands
//! answer at once, as if their timeout had passed. WATCH keeps its keys in the
//! modification hook (`multi::Watches`), which every write reports to.

use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::dispatch;
use crate::errors;
use crate::multi;

pub static HANDLERS: &[Entry] = &[
    handler("multi", multi),
    handler("exec", exec),
    handler("discard", discard),
    handler("watch", watch),
    handler("unwatch", unwatch),
];

fn multi(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    if ctx.client.in_multi {
        return Err(errors::MULTI_NESTED.into());
    }
    ctx.client.in_multi = true;
    let id = ctx.client.id;
    ctx.state.transactions.insert(id, Default::default());
    ctx.out.ok();
    Ok(Done)
}

fn discard(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    if multi::discard(ctx.state, ctx.client).is_none() {
        return Err(errors::DISCARD_WITHOUT_MULTI.into());
    }
    ctx.out.ok();
    Ok(Done)
}

fn exec(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    if !ctx.client.in_multi {
        return Err(errors::EXEC_WITHOUT_MULTI.into());
    }
    let id = ctx.client.id;
    let state = &mut *ctx.state;
    let expired = state
        .mods
        .watches
        .expired_since_watched(id, &state.dbs, ctx.now);
    let dirty = state.mods.watches.is_dirty(id) || expired;
    let tx = state.transactions.entry(id).or_default();
    let aborted = tx.aborted;
    if aborted || dirty {
        multi::discard(ctx.state, ctx.client);
        if aborted {
            return Err(errors::EXECABORT.into());
        }
        ctx.out.null_array();
        return Ok(Done);
    }
    // The client stays in MULTI while its queue runs (CLIENT LIST shows `x` and the
    // count), watching nothing any more: its own writes are no news.
    let queued = std::mem::take(&mut tx.queued);
    tx.executing = queued.len();
    state.mods.watches.unwatch(id);
    ctx.out.array(queued.len());
    let mut argv: Vec<&[u8]> = Vec::new();
    for q in &queued {
        argv.clear();
        argv.extend(q.argv.iter().map(Vec::as_slice));
        // Cannot block: `can_block` is false, so a blocking command answers at once.
        dispatch::call_in(ctx, q.cmd, q.id, &argv);
    }
    multi::discard(ctx.state, ctx.client);
    Ok(Done)
}

fn watch(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if ctx.client.in_multi {
        return Err(errors::WATCH_INSIDE_MULTI.into());
    }
    let (id, db, now) = (ctx.client.id, ctx.client.db, ctx.now);
    let state = &mut *ctx.state;
    // Once dirty, EXEC fails whatever else is watched.
    if !state.mods.watches.is_dirty(id) {
        for key in &argv[1..] {
            let expired = state.dbs[db]
                .dict()
                .get(key)
                .is_some_and(|e| e.is_expired(now));
            state.mods.watches.watch(id, db, key, expired);
        }
    }
    ctx.out.ok();
    Ok(Done)
}

fn unwatch(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let id = ctx.client.id;
    ctx.state.mods.watches.unwatch(id);
    ctx.state.mods.watches.take_dirty(id);
    ctx.out.ok();
    Ok(Done)
}
