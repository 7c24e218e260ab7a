//! What a write sends on, as Redis's `call()` → `alsoPropagate` → `propagatePendingCommands`
//! decides it: one recorded stream that feeds both the append-only file (`aof`) and a
//! cluster node's replicas (`replication`). Nothing here runs unless one of them is on:
//! `dispatch::call` tests `State::propagating` first, so a plain server pays one branch.
//!
//! - A command that wrote is recorded once it ran, as the command that replays it: relative
//!   expiries become absolute (EXPIRE/SETEX/SET EX/GETEX EX → PEXPIREAT or SET PXAT,
//!   RESTORE ttl → RESTORE ... ABSTTL), a TTL already past becomes DEL, SPOP becomes a
//!   RESTORE of what it left, MIGRATE the DEL of what it moved. EXEC and scripts are not
//!   recorded themselves: the commands they ran are.
//! - Keys the server deleted on its own (lazy and active expiry, eviction) are recorded as
//!   DEL, ahead of the command during which it happened.
//! - The commands recorded while a command runs (a transaction's, a script's) form one
//!   group, sent when the outermost command is done: wrapped in MULTI/EXEC when it holds
//!   more than one command. Each command carries its database (the AOF writes SELECT).
//!
//! It never changes the data set: it only reads what a command left.

use crate::command::CommandSpec;
use crate::keyspace::{Millis, NO_EXPIRY};
use crate::state::{Client, State};
use crate::util::parse_i64;

/// One command of the stream and the database it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propagated {
    pub db: usize,
    pub argv: Vec<Vec<u8>>,
}

/// The capture: how deep the running command is, and what it recorded so far.
#[derive(Debug, Default)]
pub struct Propagation {
    depth: u32,
    pending: Vec<Propagated>,
    /// A replica applying its primary's stream (its offset follows the primary's) or the
    /// AOF being loaded (nothing recorded at all).
    pub applying: bool,
    pub loading: bool,
}

impl State {
    /// Whether anything consumes the stream: an AOF, or a cluster node (replicas, the
    /// cluster bus's PUBLISH).
    #[inline]
    pub fn propagating(&self) -> bool {
        self.cluster.is_some() || self.aof.on || crate::replication_wire::feeding(self)
    }

    /// Keeps the keyspace logging the keys it deletes on its own while anything
    /// consumes the stream.
    pub fn log_deletions(&mut self) {
        self.mods.log_deletions = self.propagating();
    }
}

/// Before a command runs: one level deeper (a transaction's and a script's commands run
/// inside theirs and are sent with them).
#[inline]
pub fn enter(state: &mut State) {
    state.propagation.depth += 1;
}

/// After a command ran (`wrote`: it changed the data set, Redis's dirty counter): what it
/// propagates is recorded, and once the outermost command is done the group goes out.
pub fn after_call(
    state: &mut State,
    client: &Client,
    cmd: &CommandSpec,
    argv: &[&[u8]],
    wrote: bool,
    reply: &[u8],
    now: Millis,
) {
    let p = &mut state.propagation;
    p.depth = p.depth.saturating_sub(1);
    if state.cluster.is_some() {
        crate::replication::broadcast_publish(state, cmd, argv);
    }
    if state.propagation.loading {
        state.mods.drain_deletions();
        return;
    }
    let consumers = state.aof.on
        || crate::replication::has_feeds(state)
        || crate::replication_wire::feeding(state);
    record_deletions(state, consumers);
    if consumers && wrote && propagates(cmd) {
        let commands = effects(state, client.db, cmd, argv, reply, now);
        state.propagation.pending.extend(commands);
    }
    if state.propagation.depth == 0 && !state.propagation.pending.is_empty() {
        emit(state, Some(client.id), now);
    }
}

/// Sends the deletions the server made outside any command (the active expiry cycle,
/// eviction from the memory cron), one group each.
pub fn server_deletions(state: &mut State, now: Millis) {
    if !state.mods.has_deletions() {
        return;
    }
    let consumers = !state.propagation.loading
        && (state.aof.on
            || crate::replication::has_feeds(state)
            || crate::replication_wire::feeding(state));
    record_deletions(state, consumers);
    if state.propagation.depth != 0 {
        return;
    }
    // Each on its own, as Redis sends them (no MULTI around a cycle's deletions).
    for del in std::mem::take(&mut state.propagation.pending) {
        state.propagation.pending.push(del);
        emit(state, None, now);
    }
}

fn record_deletions(state: &mut State, consumers: bool) {
    if !state.mods.has_deletions() {
        return;
    }
    let deleted = state.mods.drain_deletions();
    if consumers {
        state
            .propagation
            .pending
            .extend(deleted.into_iter().map(|(db, key)| Propagated {
                db,
                argv: vec![b"DEL".to_vec(), key.to_vec()],
            }));
    }
}

/// A replica applying a group of its primary: one unit, whatever it holds.
pub fn begin_unit(state: &mut State) {
    state.propagation.depth += 1;
    state.propagation.applying = true;
}

/// The end of `begin_unit`: what the unit recorded goes out (to the replica's AOF).
pub fn end_unit(state: &mut State, now: Millis) {
    let p = &mut state.propagation;
    p.depth = p.depth.saturating_sub(1);
    if p.depth == 0 && !p.pending.is_empty() {
        emit(state, None, now);
    }
    state.propagation.applying = false;
}

/// One finished group to every consumer.
fn emit(state: &mut State, client: Option<u64>, now: Millis) {
    let commands = std::mem::take(&mut state.propagation.pending);
    if state.aof.on {
        state.aof.feed(&commands, now);
    }
    crate::replication_wire::feed(state, &commands, client);
    if state.cluster.is_some() {
        crate::replication::send(state, commands, client, now);
    }
}

/// Commands that propagate their effects, not themselves.
fn propagates(cmd: &CommandSpec) -> bool {
    !matches!(
        cmd.full_name,
        "exec" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// What a command that wrote sends on: itself, with relative times made absolute, unless
/// its effect cannot be replayed as it came: SPOP picks at random (the SREM of what its
/// reply says it popped is sent), XADD with `*` makes its id from the clock (sent with the
/// id it answered), MIGRATE sends the DEL of what it moved away.
fn effects(
    state: &mut State,
    db: usize,
    cmd: &CommandSpec,
    argv: &[&[u8]],
    reply: &[u8],
    now: Millis,
) -> Vec<Propagated> {
    let one = |argv: Vec<Vec<u8>>| vec![Propagated { db, argv }];
    let owned = || argv.iter().map(|a| a.to_vec()).collect::<Vec<_>>();
    match cmd.full_name {
        // SPOP with a count that emptied the set: Redis sends the DEL.
        "spop" if argv.len() > 2 && !state.db(db, now).contains(argv[1]) => {
            one(vec![b"DEL".to_vec(), argv[1].to_vec()])
        }
        "spop" if argv.len() >= 2 => match strings_of(reply) {
            Some(members) if !members.is_empty() => {
                let mut srem = vec![b"SREM".to_vec(), argv[1].to_vec()];
                srem.extend(members);
                one(srem)
            }
            _ => one(copy_of(state, db, argv[1], now)),
        },
        "xadd" => one(xadd_with_id(argv, reply).unwrap_or_else(owned)),
        "xreadgroup" | "xclaim" | "xautoclaim" => {
            claims(state, db, cmd.full_name, argv, reply, now)
                .into_iter()
                .map(|argv| Propagated { db, argv })
                .collect()
        }
        "migrate" if argv.len() >= 6 => {
            if argv[6..].iter().any(|a| a.eq_ignore_ascii_case(b"copy")) {
                return Vec::new();
            }
            let mut del = vec![b"DEL".to_vec()];
            if argv[3].is_empty() {
                if let Some(at) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"keys")) {
                    del.extend(argv[at + 1..].iter().map(|k| k.to_vec()));
                }
            } else {
                del.push(argv[3].to_vec());
            }
            one(del)
        }
        _ => one(absolute(cmd.full_name, argv, now).unwrap_or_else(owned)),
    }
}

/// The form of a command with a relative time that replays the same at any later moment
/// (what Redis 7.0 rewrites with `rewriteClientCommandArgument`), or `None` to send it as
/// it came.
pub fn absolute(name: &str, argv: &[&[u8]], now: Millis) -> Option<Vec<Vec<u8>>> {
    let int = |a: &[u8]| parse_i64(a);
    let pexpireat = |key: &[u8], at: Millis, flags: &[&[u8]]| {
        if at <= now {
            return vec![b"DEL".to_vec(), key.to_vec()];
        }
        let mut out = vec![
            b"PEXPIREAT".to_vec(),
            key.to_vec(),
            at.to_string().into_bytes(),
        ];
        out.extend(flags.iter().map(|f| f.to_vec()));
        out
    };
    let set_pxat = |key: &[u8], value: &[u8], at: Millis| {
        vec![
            b"SET".to_vec(),
            key.to_vec(),
            value.to_vec(),
            b"PXAT".to_vec(),
            at.to_string().into_bytes(),
        ]
    };
    match name {
        "expire" | "pexpire" | "expireat" if argv.len() >= 3 => {
            let n = int(argv[2])?;
            let at = match name {
                "expire" => n.checked_mul(1000)?.checked_add(now)?,
                "pexpire" => n.checked_add(now)?,
                _ => n.checked_mul(1000)?,
            };
            Some(pexpireat(argv[1], at, &argv[3..]))
        }
        "pexpireat" if argv.len() >= 3 => {
            let at = int(argv[2])?;
            (at <= now).then(|| vec![b"DEL".to_vec(), argv[1].to_vec()])
        }
        "setex" if argv.len() == 4 => {
            let at = int(argv[2])?.checked_mul(1000)?.checked_add(now)?;
            Some(set_pxat(argv[1], argv[3], at))
        }
        "psetex" if argv.len() == 4 => {
            let at = int(argv[2])?.checked_add(now)?;
            Some(set_pxat(argv[1], argv[3], at))
        }
        "set" if argv.len() > 3 => {
            let mut at = None;
            let mut get = false;
            let mut i = 3;
            while i < argv.len() {
                let opt = argv[i].to_ascii_lowercase();
                let arg = argv.get(i + 1).and_then(|a| int(a));
                match opt.as_slice() {
                    b"ex" => at = Some(arg?.checked_mul(1000)?.checked_add(now)?),
                    b"px" => at = Some(arg?.checked_add(now)?),
                    b"exat" => at = Some(arg?.checked_mul(1000)?),
                    b"pxat" => at = Some(arg?),
                    b"get" => get = true,
                    _ => {}
                }
                i += if matches!(opt.as_slice(), b"ex" | b"px" | b"exat" | b"pxat") {
                    2
                } else {
                    1
                };
            }
            match at {
                Some(at) => Some(set_pxat(argv[1], argv[2], at)),
                // Without an expiry, SET ... GET goes on without its GET.
                None if get => Some(
                    argv.iter()
                        .filter(|a| !a.eq_ignore_ascii_case(b"get"))
                        .map(|a| a.to_vec())
                        .collect(),
                ),
                None => None,
            }
        }
        "getex" if argv.len() >= 3 => {
            let opt = argv[2].to_ascii_lowercase();
            if opt == b"persist" {
                return Some(vec![b"PERSIST".to_vec(), argv[1].to_vec()]);
            }
            let n = int(argv.get(3)?)?;
            let at = match opt.as_slice() {
                b"ex" => n.checked_mul(1000)?.checked_add(now)?,
                b"px" => n.checked_add(now)?,
                b"exat" => n.checked_mul(1000)?,
                b"pxat" => n,
                _ => return None,
            };
            Some(pexpireat(argv[1], at, &[]))
        }
        "restore" if argv.len() >= 4 => {
            let ttl = int(argv[2])?;
            let absttl = argv[4..].iter().any(|a| a.eq_ignore_ascii_case(b"absttl"));
            if ttl == 0 || absttl {
                return None;
            }
            let mut out: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
            out[2] = ttl.checked_add(now)?.to_string().into_bytes();
            out.push(b"ABSTTL".to_vec());
            Some(out)
        }
        _ => None,
    }
}

/// XADD with the id it answered in place of an id to generate (`*`, `<ms>-*`), as Redis
/// rewrites it; `None` when the id was given whole.
fn xadd_with_id(argv: &[&[u8]], reply: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut i = 2;
    while i < argv.len() {
        let opt = argv[i].to_ascii_lowercase();
        match opt.as_slice() {
            b"nomkstream" => i += 1,
            b"maxlen" | b"minid" => {
                i += 1;
                if matches!(argv.get(i).copied(), Some(b"=" | b"~")) {
                    i += 1;
                }
                i += 1;
                if argv
                    .get(i)
                    .is_some_and(|a| a.eq_ignore_ascii_case(b"limit"))
                {
                    i += 2;
                }
            }
            _ => break,
        }
    }
    if !argv.get(i)?.ends_with(b"*") {
        return None;
    }
    let id = strings_of(reply)?.into_iter().next()?;
    let mut out: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    out[i] = id;
    Some(out)
}

/// What a consumer group read or claim did, as Redis 7.0 propagates it: for each entry it
/// delivered, `XCLAIM key group consumer 0 id TIME <delivery time> RETRYCOUNT <count> FORCE
/// JUSTID LASTID <group's last id>` (the pending entry as it is now, whatever the clock of
/// the replay), then for XREADGROUP the group's position (`XGROUP SETID ... ENTRIESREAD`);
/// the entries XAUTOCLAIM found deleted go as XACK. A consumer created with nothing
/// delivered goes as XGROUP CREATECONSUMER.
fn claims(
    state: &mut State,
    db: usize,
    name: &str,
    argv: &[&[u8]],
    reply: &[u8],
    now: Millis,
) -> Vec<Vec<Vec<u8>>> {
    // (key, ids delivered), the group and the consumer.
    let (group, consumer, delivered, deleted): (&[u8], &[u8], PerKey, Vec<Vec<u8>>) = match name {
        "xreadgroup" => {
            let Some(at) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"group")) else {
                return Vec::new();
            };
            let (Some(group), Some(consumer)) = (argv.get(at + 1), argv.get(at + 2)) else {
                return Vec::new();
            };
            let per_key = match parse(reply) {
                Some(Resp::List(items)) => items
                    .into_iter()
                    .filter_map(|kv| match kv {
                        Resp::List(mut kv) if kv.len() == 2 => {
                            let entries = kv.pop()?;
                            Some((kv.pop()?.bytes()?, entry_ids(entries)))
                        }
                        _ => None,
                    })
                    .collect(),
                Some(Resp::Map(pairs)) => pairs
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.bytes()?, entry_ids(v))))
                    .collect(),
                _ => Vec::new(),
            };
            (group, consumer, per_key, Vec::new())
        }
        "xclaim" if argv.len() >= 6 => {
            let ids = parse(reply).map(entry_ids).unwrap_or_default();
            (argv[2], argv[3], vec![(argv[1].to_vec(), ids)], Vec::new())
        }
        "xautoclaim" if argv.len() >= 6 => {
            let Some(Resp::List(mut parts)) = parse(reply) else {
                return Vec::new();
            };
            let deleted = match parts.pop() {
                Some(d) if parts.len() == 2 => entry_ids(d),
                _ => Vec::new(),
            };
            let ids = parts.pop().map(entry_ids).unwrap_or_default();
            (argv[2], argv[3], vec![(argv[1].to_vec(), ids)], deleted)
        }
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut db = state.db(db, now);
    // XREADGROUP: NOACK, and the keys read with `>` (new entries, not the history).
    let noack = name == "xreadgroup" && argv.iter().any(|a| a.eq_ignore_ascii_case(b"noack"));
    let fresh = |key: &[u8]| {
        let Some(at) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"streams")) else {
            return false;
        };
        let streams = &argv[at + 1..];
        let n = streams.len() / 2;
        streams[..n]
            .iter()
            .position(|k| *k == key)
            .is_some_and(|i| streams[n + i] == b">")
    };
    for (key, ids) in delivered {
        let Ok(Some(stream)) = db.read::<crate::types::StreamValue>(&key) else {
            continue;
        };
        let Some(g) = stream.group(group) else {
            continue;
        };
        let last = g.last_id.to_bytes();
        let fresh = name == "xreadgroup" && fresh(&key);
        if noack && g.consumers.contains_key(consumer) {
            out.push(vec![
                b"XGROUP".to_vec(),
                b"CREATECONSUMER".to_vec(),
                key.clone(),
                group.to_vec(),
                consumer.to_vec(),
            ]);
        }
        let mut claimed = 0;
        for id in &ids {
            let Some(p) = std::str::from_utf8(id)
                .ok()
                .and_then(|s| s.split_once('-'))
                .and_then(|(ms, seq)| {
                    Some(crate::types::stream::StreamId::new(
                        ms.parse().ok()?,
                        seq.parse().ok()?,
                    ))
                })
                .and_then(|id| g.pel.get(&id))
            else {
                continue;
            };
            claimed += 1;
            out.push(vec![
                b"XCLAIM".to_vec(),
                key.clone(),
                group.to_vec(),
                p.consumer.to_vec(),
                b"0".to_vec(),
                id.clone(),
                b"TIME".to_vec(),
                p.delivery_time.to_string().into_bytes(),
                b"RETRYCOUNT".to_vec(),
                p.delivery_count.to_string().into_bytes(),
                b"FORCE".to_vec(),
                b"JUSTID".to_vec(),
                b"LASTID".to_vec(),
                // As Redis: the group's last id when the entry was delivered.
                if fresh { id.clone() } else { last.clone() },
            ]);
        }
        // The group's position, with its entries-read counter: Redis 7.0 sends it after a
        // NOACK read only (XCLAIM's LASTID carries the id otherwise, and a reload of its
        // AOF loses entries-read); lockstep sends it after every read of new entries.
        if fresh && !ids.is_empty() {
            let mut setid = vec![
                b"XGROUP".to_vec(),
                b"SETID".to_vec(),
                key.clone(),
                group.to_vec(),
                last.clone(),
            ];
            if let Some(read) = g.entries_read {
                setid.push(b"ENTRIESREAD".to_vec());
                setid.push(read.to_string().into_bytes());
            }
            out.push(setid);
        }
        if !noack && claimed == 0 && g.consumers.contains_key(consumer) {
            out.push(vec![
                b"XGROUP".to_vec(),
                b"CREATECONSUMER".to_vec(),
                key.clone(),
                group.to_vec(),
                consumer.to_vec(),
            ]);
        }
        if !deleted.is_empty() {
            let mut ack = vec![b"XACK".to_vec(), key.clone(), group.to_vec()];
            ack.extend(deleted.iter().cloned());
            out.push(ack);
        }
    }
    out
}

/// Stream ids by key.
type PerKey = Vec<(Vec<u8>, Vec<Vec<u8>>)>;

/// The ids of a list of stream entries (`[id, fields]` each) or of bare ids.
fn entry_ids(entries: Resp) -> Vec<Vec<u8>> {
    match entries {
        Resp::List(items) => items
            .into_iter()
            .filter_map(|e| match e {
                Resp::Bytes(id) => Some(id),
                Resp::List(mut parts) if !parts.is_empty() => parts.swap_remove(0).bytes(),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A reply as far as propagation reads one.
enum Resp {
    Bytes(Vec<u8>),
    List(Vec<Resp>),
    Map(Vec<(Resp, Resp)>),
    Other,
}

impl Resp {
    fn bytes(self) -> Option<Vec<u8>> {
        match self {
            Resp::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// Parses one reply (RESP2 or RESP3); `None` if it is cut or malformed.
fn parse(reply: &[u8]) -> Option<Resp> {
    fn line<'a>(r: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
        let start = *pos + 1;
        let end = start + r.get(start..)?.windows(2).position(|w| w == b"\r\n")?;
        *pos = end + 2;
        r.get(start..end)
    }
    fn num(l: &[u8]) -> Option<i64> {
        std::str::from_utf8(l).ok()?.parse().ok()
    }
    fn one(r: &[u8], pos: &mut usize, depth: u32) -> Option<Resp> {
        if depth > 8 {
            return None;
        }
        let kind = *r.get(*pos)?;
        let l = line(r, pos)?;
        Some(match kind {
            b'$' | b'=' => {
                let Ok(len) = usize::try_from(num(l)?) else {
                    return Some(Resp::Other);
                };
                let s = r.get(*pos..pos.checked_add(len)?)?.to_vec();
                *pos += len + 2;
                Resp::Bytes(s)
            }
            b'+' => Resp::Bytes(l.to_vec()),
            b'*' | b'~' | b'>' => {
                let Ok(n) = usize::try_from(num(l)?) else {
                    return Some(Resp::Other);
                };
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(one(r, pos, depth + 1)?);
                }
                Resp::List(items)
            }
            b'%' => {
                let n = usize::try_from(num(l)?).ok()?;
                let mut pairs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let k = one(r, pos, depth + 1)?;
                    pairs.push((k, one(r, pos, depth + 1)?));
                }
                Resp::Map(pairs)
            }
            _ => Resp::Other,
        })
    }
    one(reply, &mut 0, 0)
}

/// The strings of a reply that is a bulk string or an array (or RESP3 set) of them.
fn strings_of(reply: &[u8]) -> Option<Vec<Vec<u8>>> {
    fn line(r: &[u8], pos: &mut usize) -> Option<i64> {
        let end = *pos + r.get(*pos..)?.windows(2).position(|w| w == b"\r\n")?;
        let n = std::str::from_utf8(r.get(*pos + 1..end)?)
            .ok()?
            .parse()
            .ok()?;
        *pos = end + 2;
        Some(n)
    }
    fn bulk(r: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
        if r.get(*pos) != Some(&b'$') {
            return None;
        }
        let len = usize::try_from(line(r, pos)?).ok()?;
        let s = r.get(*pos..*pos + len)?.to_vec();
        *pos += len + 2;
        Some(s)
    }
    let mut pos = 0;
    match reply.first()? {
        b'$' => Some(vec![bulk(reply, &mut pos)?]),
        b'*' | b'~' => {
            let n = usize::try_from(line(reply, &mut pos)?).ok()?;
            (0..n).map(|_| bulk(reply, &mut pos)).collect()
        }
        _ => None,
    }
}

/// The command that makes another copy's `key` what it is here: a RESTORE of its value
/// (with its absolute TTL), or a DEL.
fn copy_of(state: &mut State, db: usize, key: &[u8], now: Millis) -> Vec<Vec<u8>> {
    let opts = crate::rdb::SaveOptions::from_config(&state.config);
    let mut db = state.db(db, now);
    let expire = db.expire_at(key);
    let Some(entry) = db.peek(key) else {
        return vec![b"DEL".to_vec(), key.to_vec()];
    };
    let mut payload = Vec::new();
    if crate::rdb::dump_value_with(entry.value, &mut payload, opts).is_err() {
        return vec![b"DEL".to_vec(), key.to_vec()];
    }
    crate::rdb::finish_dump(&mut payload);
    let ttl = expire.filter(|&e| e != NO_EXPIRY).unwrap_or(0);
    vec![
        b"RESTORE".to_vec(),
        key.to_vec(),
        ttl.to_string().into_bytes(),
        payload,
        b"REPLACE".to_vec(),
        b"ABSTTL".to_vec(),
    ]
}

#[cfg(test)]
mod tests {
    use super::absolute;

    fn abs(argv: &[&str], now: i64) -> Option<Vec<String>> {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        let name = String::from_utf8_lossy(argv[0]).to_ascii_lowercase();
        absolute(&name, &argv, now).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn relative_expiries_become_absolute_as_redis_7_rewrites_them() {
        let now = 1_000_000;
        assert_eq!(
            abs(&["set", "k", "v", "EX", "10", "NX"], now).unwrap(),
            ["SET", "k", "v", "PXAT", "1010000"]
        );
        assert_eq!(
            abs(&["setex", "k", "10", "v"], now).unwrap(),
            ["SET", "k", "v", "PXAT", "1010000"]
        );
        assert_eq!(
            abs(&["psetex", "k", "10", "v"], now).unwrap(),
            ["SET", "k", "v", "PXAT", "1000010"]
        );
        assert_eq!(
            abs(&["set", "k", "v", "get"], now).unwrap(),
            ["set", "k", "v"]
        );
        assert_eq!(abs(&["set", "k", "v", "xx"], now), None);
        assert_eq!(
            abs(&["expire", "k", "5", "GT"], now).unwrap(),
            ["PEXPIREAT", "k", "1005000", "GT"]
        );
        assert_eq!(abs(&["expire", "k", "-1"], now).unwrap(), ["DEL", "k"]);
        assert_eq!(abs(&["pexpireat", "k", "5"], now).unwrap(), ["DEL", "k"]);
        assert_eq!(abs(&["pexpireat", "k", "5000000"], now), None);
        assert_eq!(
            abs(&["getex", "k", "persist"], now).unwrap(),
            ["PERSIST", "k"]
        );
        assert_eq!(
            abs(&["getex", "k", "px", "7"], now).unwrap(),
            ["PEXPIREAT", "k", "1000007"]
        );
        assert_eq!(
            abs(&["restore", "k", "100", "payload", "REPLACE"], now).unwrap(),
            ["restore", "k", "1000100", "payload", "REPLACE", "ABSTTL"]
        );
        assert_eq!(abs(&["restore", "k", "0", "payload"], now), None);
    }
}
