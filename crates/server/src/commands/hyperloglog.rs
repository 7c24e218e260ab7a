//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST, as Redis 7.0's
//! `hyperloglog.c` answers them.
//!
//! A HyperLogLog is a string in Redis's exact representation (`hyperloglog::hll`), so GET,
//! SET, DUMP and friends see the same bytes redis-server holds. A string that is not a
//! valid one (an integer, too short, another magic, a dense one of the wrong length)
//! answers `WRONGTYPE Key is not a valid HyperLogLog string value.`; a sparse code that
//! does not add up answers `INVALIDOBJ Corrupted HLL object detected` when it is read.
//!
//! Like Redis, every command that looks at a key's HyperLogLog leaves it a `raw` string,
//! PFCOUNT of one key stores the cardinality it computed in the header (signalling the
//! key, without an event), and PFDEBUG GETREG and TODENSE turn a sparse string dense
//! without signalling anything.

mod hll;

use crate::command::{handler, CommandError, CommandResult, Ctx, Done, Entry};
use crate::commands::bitmaps::unshare_string;
use crate::errors::{self, c_string};
use crate::keyspace::{Sds, Value};

/// The handlers of this family, joined with their metadata (`crates/commands`) by name.
pub static HANDLERS: &[Entry] = &[
    handler("pfadd", pfadd),
    handler("pfcount", pfcount),
    handler("pfmerge", pfmerge),
    handler("pfdebug", pfdebug),
    handler("pfselftest", pfselftest),
];

/// `hll-sparse-max-bytes`: the longest a sparse string may grow before it turns dense.
fn sparse_max_bytes(ctx: &Ctx) -> u64 {
    ctx.state
        .config
        .value("hll-sparse-max-bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Redis's `isHLLObjectOrReply`: WRONGTYPE for another type, the HyperLogLog WRONGTYPE
/// for a string that is not one.
fn check_hll(value: &Value) -> Result<(), CommandError> {
    match value {
        Value::Str { data, .. } if hll::is_valid(data) => Ok(()),
        Value::Str { .. } | Value::Int(_) => Err(errors::HLL_WRONGTYPE.into()),
        _ => Err(errors::WRONGTYPE.into()),
    }
}

/// Runs `edit` on the string's bytes as a `Vec` (the representation works on one) and
/// puts them back, whatever `edit` answers.
fn edit_bytes<R>(data: &mut Sds, edit: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut bytes = std::mem::take(data).into_vec();
    let result = edit(&mut bytes);
    *data = Sds::from_vec(bytes);
    result
}

fn new_hll() -> Value {
    Value::Str {
        data: Sds::from_vec(hll::new_sparse()),
        raw: true,
    }
}

/// `PFADD key [element ...]`: 1 when a register changed (or the key was created), else 0.
fn pfadd(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let sparse_max = sparse_max_bytes(ctx);
    let key = argv[1];
    let (mut db, out) = ctx.db_out();
    if let Some(entry) = db.peek(key) {
        check_hll(entry.value)?;
    }
    let mut created = false;
    let mut value = db.write_or_create::<Value>(key, || {
        created = true;
        new_hll()
    })?;
    let mut updated = created as u64;
    let Some(data) = unshare_string(&mut value) else {
        value.unchanged();
        return Err(errors::WRONGTYPE.into());
    };
    let added = edit_bytes(data, |s| {
        for element in &argv[2..] {
            updated += hll::add(s, element, sparse_max)? as u64;
        }
        if updated > 0 {
            hll::invalidate_cache(s);
        }
        Ok(())
    });
    if let Err(hll::Corrupt) = added {
        // Redis answers at the element it could not add, signalling nothing.
        value.unchanged();
        return Err(errors::HLL_CORRUPT.into());
    }
    if updated > 0 {
        value.changed(updated, "pfadd");
    } else {
        value.unchanged();
    }
    out.int((updated > 0) as i64);
    Ok(Done)
}

/// `PFCOUNT key [key ...]`: the estimated cardinality; of the union for several keys
/// (missing keys are empty). One key answers its cached cardinality, or computes and
/// caches it.
fn pfcount(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (mut db, out) = ctx.db_out();
    if argv.len() > 2 {
        let mut max = vec![0u8; hll::REGISTERS];
        for key in &argv[1..] {
            let Some(entry) = db.get(key) else { continue };
            check_hll(entry.value)?;
            if let Value::Str { data, .. } = &entry.value {
                hll::merge_into(&mut max, data).map_err(|_| errors::HLL_CORRUPT)?;
            }
        }
        out.int(hll::estimate(&hll::raw_histogram(&max)) as i64);
        return Ok(Done);
    }
    let key = argv[1];
    let Some(entry) = db.get(key) else {
        out.int(0);
        return Ok(Done);
    };
    check_hll(entry.value)?;
    let Some(mut value) = db.write::<Value>(key)? else {
        out.int(0);
        return Ok(Done);
    };
    let Some(data) = unshare_string(&mut value) else {
        value.unchanged();
        return Err(errors::WRONGTYPE.into());
    };
    if let Some(card) = hll::cached_cardinality(data) {
        value.unchanged();
        out.int(card as i64);
        return Ok(Done);
    }
    let (histo, valid) = hll::histogram(data);
    if !valid {
        value.unchanged();
        return Err(errors::HLL_CORRUPT.into());
    }
    let card = hll::estimate(&histo);
    hll::set_cached_cardinality(data, card);
    // A write Redis makes in a read command: the key is signalled, no event is sent.
    value.touched();
    out.int(card as i64);
    Ok(Done)
}

/// `PFMERGE destkey [sourcekey ...]`: the destination (itself one of the inputs) gets the
/// maximum of every register; dense as soon as one input is.
fn pfmerge(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let sparse_max = sparse_max_bytes(ctx);
    let (mut db, out) = ctx.db_out();
    let mut max = vec![0u8; hll::REGISTERS];
    let mut dense = false;
    for key in &argv[1..] {
        let Some(entry) = db.get(key) else { continue };
        check_hll(entry.value)?;
        if let Value::Str { data, .. } = &entry.value {
            dense |= !hll::is_sparse(data);
            hll::merge_into(&mut max, data).map_err(|_| errors::HLL_CORRUPT)?;
        }
    }
    let mut value = db.write_or_create::<Value>(argv[1], new_hll)?;
    let Some(data) = unshare_string(&mut value) else {
        value.unchanged();
        return Err(errors::WRONGTYPE.into());
    };
    let merged = edit_bytes(data, |s| {
        if dense {
            hll::to_dense(s)?;
        }
        for (i, &m) in max.iter().enumerate() {
            if m > 0 {
                // As in Redis, a register that cannot be raised is passed over.
                let _ = hll::raise(s, i, m, sparse_max);
            }
        }
        hll::invalidate_cache(s);
        Ok(())
    });
    if let Err(hll::Corrupt) = merged {
        value.unchanged();
        return Err(errors::HLL_CORRUPT.into());
    }
    // Redis names a merge `pfadd`: it adds many elements at once.
    value.changed(1, "pfadd");
    out.ok();
    Ok(Done)
}

/// `PFDEBUG GETREG|DECODE|ENCODING|TODENSE key`: the registers (turning a sparse string
/// dense), the sparse code as text, the encoding's name, or a conversion to dense (1 if
/// it happened). The key is looked at before the subcommand.
fn pfdebug(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (sub, key) = (argv[1], argv[2]);
    let (mut db, out) = ctx.db_out();
    match db.peek(key) {
        Some(entry) => check_hll(entry.value)?,
        None => return Err(errors::HLL_NO_SUCH_KEY.into()),
    }
    let Some(mut value) = db.write::<Value>(key)? else {
        return Err(errors::HLL_NO_SUCH_KEY.into());
    };
    // Nothing PFDEBUG does is signalled, in Redis either.
    value.unchanged();
    let Some(data) = unshare_string(&mut value) else {
        return Err(errors::WRONGTYPE.into());
    };
    let name = c_string(sub);
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if !(is("getreg") || is("decode") || is("encoding") || is("todense")) {
        return Err(errors::pfdebug_unknown(sub).into());
    }
    if argv.len() != 3 {
        return Err(errors::pfdebug_arity(sub).into());
    }
    if is("getreg") {
        edit_bytes(data, hll::to_dense).map_err(|_| errors::HLL_CORRUPT)?;
        out.array(hll::REGISTERS);
        let regs = &data[hll::HEADER..];
        for i in 0..hll::REGISTERS {
            out.int(hll::dense_get(regs, i) as i64);
        }
    } else if is("decode") {
        if !hll::is_sparse(data) {
            return Err(errors::HLL_NOT_SPARSE.into());
        }
        out.bulk(hll::decode(data).as_bytes());
    } else if is("encoding") {
        out.simple(if hll::is_sparse(data) {
            "sparse"
        } else {
            "dense"
        });
    } else {
        let sparse = hll::is_sparse(data);
        edit_bytes(data, hll::to_dense).map_err(|_| errors::HLL_CORRUPT)?;
        out.int(sparse as i64);
    }
    Ok(Done)
}

/// `PFSELFTEST`: checks the register layout and the estimator (see `hll::self_test`).
fn pfselftest(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let sparse_max = sparse_max_bytes(ctx);
    let mut rng = rand::thread_rng();
    hll::self_test(sparse_max, &mut rng).map_err(|e| format!("ERR {e}"))?;
    ctx.out.ok();
    Ok(Done)
}
