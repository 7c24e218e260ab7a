//! Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE,
//! SUNSUBSCRIBE, PUBLISH, SPUBLISH and the PUBSUB container (CHANNELS, NUMSUB, NUMPAT,
//! SHARDCHANNELS, SHARDNUMSUB, HELP). The registry and the delivery are `pubsub.rs`.
//!
//! A client with subscriptions is in "subscribed mode": in RESP2 it may only run the
//! commands `dispatch::process_command` lets through; in RESP3 anything, the messages
//! arriving as push frames between its replies.

use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::commands::help;
use crate::errors;
use crate::pubsub::{self, Kind};
use crate::state::Client;

pub static HANDLERS: &[Entry] = &[
    handler("subscribe", |ctx, argv| add(ctx, Kind::Channel, &argv[1..])),
    handler("unsubscribe", |ctx, argv| {
        remove(ctx, Kind::Channel, &argv[1..])
    }),
    handler("psubscribe", |ctx, argv| {
        add(ctx, Kind::Pattern, &argv[1..])
    }),
    handler("punsubscribe", |ctx, argv| {
        remove(ctx, Kind::Pattern, &argv[1..])
    }),
    handler("ssubscribe", |ctx, argv| add(ctx, Kind::Shard, &argv[1..])),
    handler("sunsubscribe", |ctx, argv| {
        remove(ctx, Kind::Shard, &argv[1..])
    }),
    handler("publish", publish),
    handler("spublish", spublish),
    handler("pubsub", crate::commands::container),
    handler("pubsub|channels", pubsub_channels),
    handler("pubsub|shardchannels", pubsub_shardchannels),
    handler("pubsub|numsub", pubsub_numsub),
    handler("pubsub|shardnumsub", pubsub_shardnumsub),
    handler("pubsub|numpat", pubsub_numpat),
    handler("pubsub|help", pubsub_help),
];

/// Whether a client has any subscription (Redis's `CLIENT_PUBSUB`).
pub fn subscribed(client: &Client) -> bool {
    client.subscriptions.iter().any(|&n| n > 0)
}

/// The count a (un)subscribe reply carries: channels and patterns together, shard channels
/// on their own (Redis's `clientSubscriptionsCount` / `clientShardSubscriptionsCount`).
fn reply_count(client: &Client, kind: Kind) -> usize {
    match kind {
        Kind::Shard => client.subscriptions[Kind::Shard as usize],
        _ => {
            client.subscriptions[Kind::Channel as usize]
                + client.subscriptions[Kind::Pattern as usize]
        }
    }
}

fn add(ctx: &mut Ctx, kind: Kind, names: &[&[u8]]) -> CommandResult {
    let (verb, _) = kind.names();
    for name in names {
        if ctx.state.pubsub.subscribe(ctx.client.id, kind, name) {
            ctx.client.subscriptions[kind as usize] += 1;
        }
        ctx.out.push(3);
        ctx.out.bulk(verb.as_bytes());
        ctx.out.bulk(name);
        ctx.out.int(reply_count(ctx.client, kind) as i64);
    }
    Ok(Done)
}

fn remove(ctx: &mut Ctx, kind: Kind, names: &[&[u8]]) -> CommandResult {
    let (_, verb) = kind.names();
    let all;
    let names: Vec<&[u8]> = if names.is_empty() {
        all = ctx.state.pubsub.of_client(ctx.client.id, kind);
        all.iter().map(Vec::as_slice).collect()
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        // Nothing to leave: one reply with a null name.
        ctx.out.push(3);
        ctx.out.bulk(verb.as_bytes());
        ctx.out.null();
        ctx.out.int(reply_count(ctx.client, kind) as i64);
        return Ok(Done);
    }
    for name in names {
        if ctx.state.pubsub.unsubscribe(ctx.client.id, kind, name) {
            ctx.client.subscriptions[kind as usize] -= 1;
        }
        ctx.out.push(3);
        ctx.out.bulk(verb.as_bytes());
        ctx.out.bulk(name);
        ctx.out.int(reply_count(ctx.client, kind) as i64);
    }
    Ok(Done)
}

/// Ends every subscription of the client (RESET), without replies.
pub fn leave_all(ctx: &mut Ctx) {
    ctx.state.pubsub.forget(ctx.client.id);
    ctx.client.subscriptions = [0; 3];
}

fn publish(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let n = publish_to(ctx, Kind::Channel, argv[1], argv[2]);
    ctx.out.int(n as i64);
    Ok(Done)
}

fn spublish(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let n = publish_to(ctx, Kind::Shard, argv[1], argv[2]);
    ctx.out.int(n as i64);
    Ok(Done)
}

/// Delivers `payload` on `channel` to every receiver (this client's own copy first, in
/// its reply); how many there were.
fn publish_to(ctx: &mut Ctx, kind: Kind, channel: &[u8], payload: &[u8]) -> usize {
    let me = Some((ctx.client.id, &mut *ctx.out));
    pubsub::publish(ctx.state, kind, channel, payload, me)
}

fn pubsub_channels(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    list_channels(ctx, Kind::Channel, argv)
}

fn pubsub_shardchannels(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    list_channels(ctx, Kind::Shard, argv)
}

/// `PUBSUB CHANNELS [pattern]`: one pattern at most.
fn list_channels(ctx: &mut Ctx, kind: Kind, argv: &[&[u8]]) -> CommandResult {
    if argv.len() > 3 {
        return Err(errors::subcommand_syntax(argv[0], argv[1]).into());
    }
    let pattern = argv.get(2).copied();
    let names = ctx.state.pubsub.channels(kind, pattern);
    ctx.out.array(names.len());
    for name in names {
        ctx.out.bulk(name);
    }
    Ok(Done)
}

fn pubsub_numsub(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    count_subscribers(ctx, Kind::Channel, &argv[2..])
}

fn pubsub_shardnumsub(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    count_subscribers(ctx, Kind::Shard, &argv[2..])
}

/// NUMSUB: channel, subscribers, channel, ... in the order asked (a flat array in RESP3
/// too, as Redis 7.0 answers).
fn count_subscribers(ctx: &mut Ctx, kind: Kind, channels: &[&[u8]]) -> CommandResult {
    ctx.out.array(2 * channels.len());
    for channel in channels {
        ctx.out.bulk(channel);
        ctx.out
            .int(ctx.state.pubsub.subscribers(kind, channel) as i64);
    }
    Ok(Done)
}

fn pubsub_numpat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let (_, patterns, _) = ctx.state.pubsub.sizes();
    ctx.out.int(patterns as i64);
    Ok(Done)
}

fn pubsub_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    help(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(Done)
}
