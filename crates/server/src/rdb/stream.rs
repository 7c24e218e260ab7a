//! Streams in RDB form, as redis-server 7.0's `rdbSaveObject` writes them
//! (`RDB_TYPE_STREAM_LISTPACKS_2`) and its `rdbLoadObject` reads them (that type and the
//! older `RDB_TYPE_STREAM_LISTPACKS`).
//!
//! ```text
//! nodes: len, then per node: master id (16 big-endian bytes, a string), listpack (a string)
//! length, last id (ms, seq), first id, max deleted id, entries added   [first three: type 19]
//! groups: len, then per group: name, last id, entries read [type 19],
//!         PEL: len, then (id: 16 raw bytes, delivery time: 8 bytes LE, delivery count)
//!         consumers: len, then (name, seen time: 8 bytes LE, PEL: len, then ids)
//! ```
//!
//! A node's listpack is the node as Redis keeps it: the master entry (live count, deleted
//! count, master fields, a 0), then per entry its flags, its id as deltas from the master
//! id, its fields (unless SAMEFIELDS) and values, and its element count. `StreamValue`
//! keeps the same nodes with the same flags, so a stream dumps to the bytes redis-server
//! dumps for it.
//!
//! Loading checks every listpack as Redis's deep sanitization does, and what this server's
//! stream relies on besides (ids ascending, the length matching the nodes, every pending
//! entry owned by one consumer): a corrupt payload is `LoadError::Corrupt`, never a panic.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::listpack::{read_listpack, Element, ListpackWriter};
use super::value::{LoadError, SaveOptions, TYPE_STREAM_LISTPACKS_2};
use super::{write_len, write_string, Reader};
use crate::keyspace::Value;
use crate::types::stream::{Consumer, Group, NodeEntry, Pending, StreamId, StreamValue};

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

type Loaded<T> = Result<T, LoadError>;

fn corrupt<T>(why: &'static str) -> Loaded<T> {
    Err(LoadError::Corrupt(why))
}

/// Writes the object of a stream (the type byte is the caller's).
pub fn write_stream(out: &mut Vec<u8>, s: &StreamValue, opts: SaveOptions) {
    write_len(out, s.node_count() as u64);
    for node in s.nodes() {
        write_string(out, &node.master_id.to_be_bytes(), opts.compress);
        let mut lp = ListpackWriter::new();
        lp.push_int(node.live() as i64);
        lp.push_int(node.deleted() as i64);
        let master = node.master_fields();
        lp.push_int(master.len() as i64);
        for f in &master {
            lp.push(f);
        }
        lp.push_int(0);
        for stored in node.entries() {
            let e = stored.entry;
            let flags = if stored.deleted { FLAG_DELETED } else { 0 }
                | if stored.same_fields {
                    FLAG_SAMEFIELDS
                } else {
                    0
                };
            lp.push_int(flags);
            lp.push_int(e.id.ms.wrapping_sub(node.master_id.ms) as i64);
            lp.push_int(e.id.seq.wrapping_sub(node.master_id.seq) as i64);
            let n = e.len() as i64;
            if stored.same_fields {
                for (_, v) in e.pairs() {
                    lp.push(v);
                }
                lp.push_int(n + 3);
            } else {
                lp.push_int(n);
                for (f, v) in e.pairs() {
                    lp.push(f);
                    lp.push(v);
                }
                lp.push_int(2 * n + 4);
            }
        }
        write_string(out, &lp.finish(), opts.compress);
    }
    write_len(out, s.len());
    write_id(out, s.last_id);
    write_id(out, s.first_id);
    write_id(out, s.max_deleted_id);
    write_len(out, s.entries_added);
    write_len(out, s.group_count() as u64);
    for (name, group) in s.groups() {
        write_string(out, name, opts.compress);
        write_id(out, group.last_id);
        // Redis's SCG_INVALID_ENTRIES_READ (-1) goes through rdbSaveLen as a u64.
        write_len(out, group.entries_read.unwrap_or(u64::MAX));
        write_len(out, group.pel.len() as u64);
        for (id, p) in &group.pel {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&p.delivery_time.to_le_bytes());
            write_len(out, p.delivery_count);
        }
        write_len(out, group.consumers.len() as u64);
        for (name, consumer) in &group.consumers {
            write_string(out, name, opts.compress);
            out.extend_from_slice(&consumer.seen_time.to_le_bytes());
            write_len(out, consumer.pel.len() as u64);
            for id in &consumer.pel {
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

fn len(r: &mut Reader) -> Loaded<u64> {
    r.len()
        .ok_or(LoadError::Corrupt("bad or truncated stream length"))
}

fn read_id(r: &mut Reader) -> Loaded<StreamId> {
    Ok(StreamId::new(len(r)?, len(r)?))
}

fn raw_id(r: &mut Reader) -> Loaded<StreamId> {
    let bytes = r
        .take(16)
        .ok_or(LoadError::Corrupt("truncated stream id"))?;
    let mut b = [0u8; 16];
    b.copy_from_slice(bytes);
    Ok(StreamId::from_be_bytes(b))
}

/// A delivery or seen time. Redis only ever stores times from its clock (XCLAIM's TIME
/// and IDLE are brought back to now when out of range): a negative one is corrupt, and
/// would break the idle times computed from it.
fn millis(r: &mut Reader) -> Loaded<i64> {
    let bytes = r.take(8).ok_or(LoadError::Corrupt("truncated time"))?;
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    let t = i64::from_le_bytes(b);
    if t < 0 {
        return corrupt("negative stream time");
    }
    Ok(t)
}

/// An element as Redis's `lpGetIntegerIfValid` reads it: an integer, or a string that is
/// the text of one.
fn int_of(e: Option<&Element>) -> Loaded<i64> {
    match e {
        Some(Element::Int(n)) => Ok(*n),
        Some(Element::Str(s)) => {
            super::canonical_int(s).ok_or(LoadError::Corrupt("stream listpack integer expected"))
        }
        None => corrupt("stream listpack ends early"),
    }
}

/// A count read from a listpack: not negative, and within what a node can hold.
fn count_of(e: Option<&Element>) -> Loaded<usize> {
    let n = int_of(e)?;
    u32::try_from(n)
        .map(|n| n as usize)
        .map_err(|_| LoadError::Corrupt("bad stream listpack count"))
}

/// Reads the object of a stream of type `t` (15 or 19).
pub fn read_stream(t: u8, r: &mut Reader) -> Loaded<Value> {
    let v2 = t == TYPE_STREAM_LISTPACKS_2;
    let mut s = StreamValue::new();
    let nodes = len(r)?;
    // The greatest id seen so far: every entry must come after it.
    let mut last_seen: Option<StreamId> = None;
    let mut live_total = 0u64;
    for _ in 0..nodes {
        let key = r
            .string()
            .ok_or(LoadError::Corrupt("bad stream node key"))?;
        let Ok(key) = <[u8; 16]>::try_from(key.as_slice()) else {
            return corrupt("Stream node key entry is not the size of a stream ID");
        };
        let master_id = StreamId::from_be_bytes(key);
        let blob = r
            .string()
            .ok_or(LoadError::Corrupt("bad stream listpack"))?;
        let elements = read_listpack(&blob).ok_or(LoadError::Corrupt("bad stream listpack"))?;
        if elements.is_empty() {
            return corrupt("Empty listpack inside stream");
        }
        if last_seen.is_some_and(|last| master_id <= last) {
            return corrupt("stream nodes out of order");
        }
        let (master_fields, entries) = parse_node(master_id, &elements)?;
        let parts: Vec<NodeEntry> = entries
            .iter()
            .map(|(id, deleted, same_fields, items)| NodeEntry {
                id: *id,
                deleted: *deleted,
                same_fields: *same_fields,
                items,
            })
            .collect();
        for e in &parts {
            if last_seen.is_some_and(|last| e.id <= last) || e.id < master_id {
                return corrupt("stream entries out of order");
            }
            last_seen = Some(e.id);
            live_total += u64::from(!e.deleted);
        }
        if parts.iter().all(|e| e.deleted) {
            // Redis removes a node when its last live entry goes.
            return corrupt("stream node without live entries");
        }
        s.push_node(master_id, &master_fields, &parts);
    }
    let length = len(r)?;
    if length != live_total {
        return corrupt("Stream length inconsistent with its nodes");
    }
    s.last_id = read_id(r)?;
    if last_seen.is_some_and(|last| last > s.last_id) {
        return corrupt("stream entry after the last id");
    }
    if v2 {
        s.first_id = read_id(r)?;
        s.max_deleted_id = read_id(r)?;
        s.entries_added = len(r)?;
        // XSETID keeps it so, and the stream's arithmetic relies on it.
        if s.entries_added < length {
            return corrupt("stream entries added below its length");
        }
    } else {
        s.max_deleted_id = StreamId::MIN;
        s.entries_added = length;
        s.refresh_first_id();
    }
    let groups = len(r)?;
    for _ in 0..groups {
        let name = r
            .string()
            .ok_or(LoadError::Corrupt("bad consumer group name"))?;
        let last_id = read_id(r)?;
        let entries_read = if v2 {
            let n = len(r)?;
            (n != u64::MAX).then_some(n)
        } else {
            s.estimate_entries_read(last_id)
        };
        let group = read_group(r, last_id, entries_read)?;
        if !s.create_group(&name, group) {
            return corrupt("Duplicated consumer group name");
        }
    }
    Ok(Value::Stream(Box::new(s)))
}

/// One entry parsed from a node: id, deleted, same fields, items.
type ParsedEntry = (StreamId, bool, bool, Vec<Vec<u8>>);

/// The master fields and the entries of a node's listpack, checked as Redis's
/// `streamValidateListpackIntegrity` checks them deeply.
fn parse_node(master_id: StreamId, el: &[Element]) -> Loaded<(Vec<Vec<u8>>, Vec<ParsedEntry>)> {
    let mut at = 0;
    let mut next = || {
        let e = el.get(at);
        at += 1;
        e
    };
    let live = count_of(next())?;
    let deleted = count_of(next())?;
    let nmaster = count_of(next())?;
    let mut master = Vec::new();
    for _ in 0..nmaster {
        master.push(
            next()
                .ok_or(LoadError::Corrupt("stream listpack ends early"))?
                .to_bytes(),
        );
    }
    if int_of(next())? != 0 {
        return corrupt("stream master entry not terminated");
    }
    let mut entries = Vec::new();
    let (mut seen_live, mut seen_deleted) = (0usize, 0usize);
    for _ in 0..live + deleted {
        let flags = int_of(next())?;
        let ms_delta = int_of(next())?;
        let seq_delta = int_of(next())?;
        let id = StreamId::new(
            master_id.ms.wrapping_add(ms_delta as u64),
            master_id.seq.wrapping_add(seq_delta as u64),
        );
        let same = flags & FLAG_SAMEFIELDS != 0;
        let (fields, extra) = if same {
            (nmaster, 3)
        } else {
            let n = count_of(next())?;
            (n, 3 + n + 1)
        };
        let items = if same { fields } else { 2 * fields };
        let mut values = Vec::new();
        for _ in 0..items {
            values.push(
                next()
                    .ok_or(LoadError::Corrupt("stream listpack ends early"))?
                    .to_bytes(),
            );
        }
        if int_of(next())? != (fields + extra) as i64 {
            return corrupt("bad stream entry element count");
        }
        let is_deleted = flags & FLAG_DELETED != 0;
        if is_deleted {
            seen_deleted += 1;
        } else {
            seen_live += 1;
        }
        entries.push((id, is_deleted, same, values));
    }
    if at != el.len() {
        return corrupt("stream listpack has extra elements");
    }
    if (seen_live, seen_deleted) != (live, deleted) {
        return corrupt("stream node counts disagree with its entries");
    }
    Ok((master, entries))
}

/// A group's PEL and consumers, each pending entry given to the consumer that lists it.
fn read_group(r: &mut Reader, last_id: StreamId, entries_read: Option<u64>) -> Loaded<Group> {
    // Delivery time, delivery count and (once its consumer lists it) owner.
    type Nack = (i64, u64, Option<Arc<[u8]>>);
    let mut pel: BTreeMap<StreamId, Nack> = BTreeMap::new();
    for _ in 0..len(r)? {
        let id = raw_id(r)?;
        let time = millis(r)?;
        let count = len(r)?;
        // Counts start from RETRYCOUNT (a long long) and grow by one per delivery.
        if count > i64::MAX as u64 {
            return corrupt("stream delivery count out of range");
        }
        if pel.insert(id, (time, count, None)).is_some() {
            return corrupt("Duplicated global PEL entry loading stream consumer group");
        }
    }
    let mut group = Group::new(last_id, entries_read);
    for _ in 0..len(r)? {
        let name: Arc<[u8]> = Arc::from(r.string().ok_or(LoadError::Corrupt("bad consumer name"))?);
        let seen_time = millis(r)?;
        let mut consumer = Consumer {
            seen_time,
            ..Consumer::default()
        };
        for _ in 0..len(r)? {
            let id = raw_id(r)?;
            let Some(nack) = pel.get_mut(&id) else {
                return corrupt("Consumer entry not found in group global PEL");
            };
            if nack.2.is_some() {
                return corrupt("Duplicated consumer PEL entry loading a stream consumer group");
            }
            nack.2 = Some(name.clone());
            consumer.pel.insert(id);
        }
        if group.consumers.insert(name, consumer).is_some() {
            return corrupt("Duplicate stream consumer detected.");
        }
    }
    for (id, (delivery_time, delivery_count, owner)) in pel {
        let Some(consumer) = owner else {
            return corrupt("Stream CG PEL entry without consumer");
        };
        group.pel.insert(
            id,
            Pending {
                delivery_time,
                delivery_count,
                consumer,
            },
        );
    }
    Ok(group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::stream::NodeLimits;

    /// A stream of two entries with a group whose one pending entry `alice` holds.
    fn sample() -> StreamValue {
        let mut s = StreamValue::new();
        s.append(StreamId::new(1, 0), &[b"f", b"1"], NodeLimits::default());
        s.append(StreamId::new(2, 0), &[b"f", b"2"], NodeLimits::default());
        let mut g = Group::new(StreamId::new(1, 0), Some(1));
        let (alice, _) = g.consumer_or_create(b"alice", 1000);
        g.assign(StreamId::new(1, 0), &alice, 2000, 3);
        s.create_group(b"g", g);
        s
    }

    fn dump(s: &StreamValue) -> Vec<u8> {
        let mut out = Vec::new();
        write_stream(&mut out, s, SaveOptions::default());
        out
    }

    fn load(payload: &[u8]) -> Loaded<Value> {
        read_stream(TYPE_STREAM_LISTPACKS_2, &mut Reader::new(payload))
    }

    #[test]
    fn a_stream_reads_back_as_it_was_written() {
        let s = sample();
        let payload = dump(&s);
        assert_eq!(load(&payload), Ok(Value::Stream(Box::new(s))));
    }

    #[test]
    fn values_a_redis_stream_never_holds_are_refused() {
        let s = sample();
        let payload = dump(&s);
        let find = |needle: &[u8]| {
            payload
                .windows(needle.len())
                .position(|w| w == needle)
                .expect("in the payload")
        };
        // The delivery time (2000) and the seen time (1000), 8 bytes each.
        for time in [2000i64, 1000] {
            let at = find(&time.to_le_bytes());
            let mut bad = payload.clone();
            bad[at..at + 8].copy_from_slice(&(-1i64).to_le_bytes());
            assert_eq!(load(&bad), corrupt("negative stream time"), "time {time}");
        }
        // The delivery count (3, just after the delivery time) as u64::MAX.
        let at = find(&2000i64.to_le_bytes()) + 8;
        let mut bad = payload[..at].to_vec();
        write_len(&mut bad, u64::MAX);
        bad.extend_from_slice(&payload[at + 1..]);
        assert_eq!(load(&bad), corrupt("stream delivery count out of range"));
        // Entries added (2) below the length: set to 1. It follows the length (2), the
        // last id (2, 0), the first id (1, 0) and the max deleted id (0, 0).
        let at = find(&[2, 2, 0, 1, 0, 0, 0, 2]) + 7;
        let mut bad = payload.clone();
        bad[at] = 1;
        assert_eq!(load(&bad), corrupt("stream entries added below its length"));
    }
}
