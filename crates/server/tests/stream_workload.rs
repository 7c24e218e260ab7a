//! A consumer-group workload against lockstep over TCP: two producers XADD while three
//! consumers XREADGROUP (blocking) and XACK; one consumer is killed while entries it read
//! are pending; the others hand them over with XAUTOCLAIM. Every entry produced must be
//! acknowledged exactly once (XACK answers 1 for it once, and the group ends with nothing
//! pending).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{start, Conn};
use lockstep_resp::Frame;

const PRODUCERS: usize = 2;
const PER_PRODUCER: usize = 600;

fn text(frame: &Frame) -> String {
    match frame {
        Frame::Bulk(b) | Frame::Simple(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("text, not {other:?}"),
    }
}

fn items(frame: &Frame) -> &[Frame] {
    match frame {
        Frame::Array(items) => items,
        other => panic!("an array, not {other:?}"),
    }
}

/// The ids of an XREADGROUP reply for one stream (none on a timeout).
fn read_ids(reply: &Frame) -> Vec<String> {
    if matches!(reply, Frame::Null) {
        return Vec::new();
    }
    let streams = items(reply);
    assert_eq!(streams.len(), 1, "one stream read");
    let pair = items(&streams[0]);
    items(&pair[1])
        .iter()
        .map(|entry| text(&items(entry)[0]))
        .collect()
}

/// Acknowledges `ids`, one XACK each, counting each acknowledgement in `acks`.
fn ack_all(conn: &mut Conn, ids: &[String], acks: &Mutex<BTreeMap<String, u32>>) {
    for id in ids {
        let n = conn.int(&["XACK", "jobs", "g", id]);
        assert!(n == 0 || n == 1, "XACK of one id answers 0 or 1");
        if n == 1 {
            *acks.lock().unwrap().entry(id.clone()).or_default() += 1;
        }
    }
}

#[test]
fn every_entry_is_acknowledged_exactly_once_after_a_consumer_dies() {
    let server = start();
    let addr = server.addr();
    let mut admin = Conn::open(addr);
    admin.ok(&["XGROUP", "CREATE", "jobs", "g", "$", "MKSTREAM"]);

    let produced = Arc::new(Mutex::new(BTreeSet::new()));
    let acks = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
    let producing = Arc::new(AtomicBool::new(true));

    // The consumer that dies: it reads a few batches, acknowledges nothing, and its
    // connection goes while they are pending.
    let victim = {
        let taken = Arc::new(Mutex::new(Vec::new()));
        let t = taken.clone();
        let handle = thread::spawn(move || {
            let mut conn = Conn::open(addr);
            while t.lock().unwrap().len() < 40 {
                let reply = conn.command(&[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "victim",
                    "COUNT",
                    "10",
                    "BLOCK",
                    "1000",
                    "STREAMS",
                    "jobs",
                    ">",
                ]);
                t.lock().unwrap().extend(read_ids(&reply));
            }
            drop(conn);
        });
        (handle, taken)
    };

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let produced = produced.clone();
            thread::spawn(move || {
                let mut conn = Conn::open(addr);
                for i in 0..PER_PRODUCER {
                    let id = text(&conn.command(&[
                        "XADD",
                        "jobs",
                        "*",
                        "producer",
                        &p.to_string(),
                        "n",
                        &i.to_string(),
                    ]));
                    assert!(produced.lock().unwrap().insert(id), "ids are unique");
                    if i % 50 == 0 {
                        thread::sleep(Duration::from_millis(2));
                    }
                }
            })
        })
        .collect();

    let consumers: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|name| {
            let acks = acks.clone();
            let producing = producing.clone();
            thread::spawn(move || {
                let mut conn = Conn::open(addr);
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    assert!(Instant::now() < deadline, "the workload never drained");
                    let reply = conn.command(&[
                        "XREADGROUP",
                        "GROUP",
                        "g",
                        name,
                        "COUNT",
                        "20",
                        "BLOCK",
                        "50",
                        "STREAMS",
                        "jobs",
                        ">",
                    ]);
                    let ids = read_ids(&reply);
                    ack_all(&mut conn, &ids, &acks);
                    // Entries pending for 100 ms (the dead consumer's) are taken over.
                    let claimed = conn.command(&[
                        "XAUTOCLAIM",
                        "jobs",
                        "g",
                        name,
                        "100",
                        "0",
                        "COUNT",
                        "25",
                        "JUSTID",
                    ]);
                    let claimed: Vec<String> =
                        items(&items(&claimed)[1]).iter().map(text).collect();
                    ack_all(&mut conn, &claimed, &acks);
                    if !producing.load(Ordering::SeqCst) && ids.is_empty() && claimed.is_empty() {
                        let pending = conn.command(&["XPENDING", "jobs", "g"]);
                        if common::int_of(&items(&pending)[0]) == 0 {
                            return;
                        }
                    }
                }
            })
        })
        .collect();

    for p in producers {
        p.join().expect("producer");
    }
    let (victim_thread, victim_took) = victim;
    victim_thread.join().expect("victim");
    producing.store(false, Ordering::SeqCst);
    for c in consumers {
        c.join().expect("consumer");
    }

    let produced = produced.lock().unwrap();
    let acks = acks.lock().unwrap();
    assert_eq!(produced.len(), PRODUCERS * PER_PRODUCER);
    let acked: BTreeSet<String> = acks.keys().cloned().collect();
    assert_eq!(acked, *produced, "every entry acknowledged");
    assert!(
        acks.values().all(|&n| n == 1),
        "no entry acknowledged twice"
    );
    let victim_took = victim_took.lock().unwrap();
    assert!(victim_took.len() >= 40, "the dead consumer held entries");
    assert!(victim_took.iter().all(|id| acks.get(id) == Some(&1)));

    // The group's view agrees: nothing pending, every entry delivered, the dead consumer
    // left with nothing.
    let pending = admin.command(&["XPENDING", "jobs", "g"]);
    assert_eq!(common::int_of(&items(&pending)[0]), 0);
    let groups = admin.command(&["XINFO", "GROUPS", "jobs"]);
    let group = items(&items(&groups)[0]).to_vec();
    let field = |name: &str| {
        let at = group
            .iter()
            .position(|f| matches!(f, Frame::Bulk(b) if b.as_ref() == name.as_bytes()))
            .expect("field");
        group[at + 1].clone()
    };
    assert_eq!(field("lag"), Frame::Integer(0));
    assert_eq!(
        field("entries-read"),
        Frame::Integer((PRODUCERS * PER_PRODUCER) as i64)
    );
    assert_eq!(
        admin.int(&["XLEN", "jobs"]),
        (PRODUCERS * PER_PRODUCER) as i64
    );
}
