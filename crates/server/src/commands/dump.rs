//! DUMP, RESTORE and RESTORE-ASKING: a key's value in Redis's serialized form (the RDB
//! object, the RDB version, a CRC64), as redis-server 7.0 writes and reads it, so that a
//! payload moves between lockstep and Redis in either direction (`rdb::value`).
//!
//! ```text
//! DUMP key                      -> bulk payload, or null for a missing key
//! RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency] -> +OK
//! ```

use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::commands::keys::is_option;
use crate::config::notify;
use crate::errors;
use crate::keyspace::NO_EXPIRY;
use crate::rdb::{self, Reader, SaveOptions};
use crate::util::parse_i64;

pub static HANDLERS: &[Entry] = &[
    handler("dump", dump),
    handler("restore", restore),
    // What a cluster node gets from MIGRATE for a slot it is importing; the slot check
    // (ASKING) is dispatch's business, the work is RESTORE's.
    handler("restore-asking", restore),
];

/// `DUMP key`: the serialized value, null when the key is missing.
fn dump(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let opts = SaveOptions::from_config(&ctx.state.config);
    let (mut db, out) = ctx.db_out();
    let Some(entry) = db.get(argv[1]) else {
        out.null();
        return Ok(Done);
    };
    let mut payload = Vec::new();
    rdb::dump_value_with(entry.value, &mut payload, opts).map_err(|e| format!("ERR {e}"))?;
    rdb::finish_dump(&mut payload);
    out.bulk(&payload);
    Ok(Done)
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`, checked in Redis's
/// order: the options, then an existing key (BUSYKEY), the TTL, the payload's trailer, the
/// value. A TTL already past creates nothing (and deletes a key REPLACE would replace).
/// The new key is stamped as Redis's `objectSetLRUOrLFU` does: FREQ under an LFU policy,
/// IDLETIME under any other, else as a new object (a replaced key's history is gone).
fn restore(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (None, None);
    let mut j = 4;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        if is_option(argv[j], "replace") {
            replace = true;
        } else if is_option(argv[j], "absttl") {
            absttl = true;
        } else if is_option(argv[j], "idletime") && more >= 1 && freq.is_none() {
            let n = parse_i64(argv[j + 1]).ok_or(errors::NOT_INTEGER)?;
            if n < 0 {
                return Err(errors::INVALID_IDLETIME.into());
            }
            idle = Some(n);
            j += 1;
        } else if is_option(argv[j], "freq") && more >= 1 && idle.is_none() {
            let n = parse_i64(argv[j + 1]).ok_or(errors::NOT_INTEGER)?;
            if !(0..=255).contains(&n) {
                return Err(errors::INVALID_FREQ.into());
            }
            freq = Some(n);
            j += 1;
        } else {
            return Err(errors::SYNTAX.into());
        }
        j += 1;
    }
    let key = argv[1];
    let exists = ctx.db().contains(key);
    if exists && !replace {
        return Err(errors::BUSYKEY.into());
    }
    let ttl = parse_i64(argv[2]).ok_or(errors::NOT_INTEGER)?;
    if ttl < 0 {
        return Err(errors::INVALID_TTL.into());
    }
    rdb::verify_dump(argv[3]).ok_or(errors::DUMP_PAYLOAD)?;
    // Redis reads the object from the whole payload, trailer included: an object that
    // runs into the trailer is not refused, and neither are bytes left after it.
    let value = rdb::load_value(&mut Reader::new(argv[3]), &ctx.state.config)
        .map_err(|_| errors::BAD_DATA_FORMAT)?;

    let now = ctx.now;
    let stamp =
        crate::evict::stamp_from(ctx.state.config.maxmemory_policy.is_lfu(), freq, idle, now);
    // C's overflow on a huge relative TTL makes it negative, hence already past.
    let expire_at = match ttl {
        0 => NO_EXPIRY,
        t if absttl => t,
        t => t.wrapping_add(now),
    };
    let mut db = ctx.db();
    if expire_at != NO_EXPIRY && expire_at <= now {
        if exists && db.remove(key).is_some() {
            db.notify(notify::GENERIC, "del", key);
        }
        ctx.out.ok();
        return Ok(Done);
    }
    // Redis deletes the key it replaces, then adds the new one: it is `new`.
    if exists {
        db.notify(notify::NEW, "new", key);
    }
    db.set(key, value, expire_at);
    db.set_stamp_of(key, stamp);
    db.notify(notify::GENERIC, "restore", key);
    ctx.out.ok();
    Ok(Done)
}
