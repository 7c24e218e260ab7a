//! XREAD BLOCK and XREADGROUP BLOCK over TCP with several clients, each scenario run
//! against a real redis-server and against lockstep, whose transcripts (every reply every
//! client read, in order) must be equal: who is served, in which order, with what, `$`
//! resolved when the client blocked, timeouts, several streams, and the group or the key
//! going away while clients wait. Ids are explicit so that the transcripts compare exactly.
//!
//! A scenario waits until INFO shows its clients blocked before it writes. The real
//! redis-server is required: set `REDIS_SERVER` to its path if it is not on PATH.

mod common;

use common::{park, same_as_redis, still_waiting, wait_blocked, Conn};
use lockstep_resp::Frame;

#[test]
fn xread_waiters_on_one_stream_are_all_served_by_one_xadd_in_block_order() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XADD", "s", "1-1", "f", "old"]);
        let mut waiters: Vec<Conn> = (1..=3)
            .map(|n| {
                park(
                    addr,
                    &mut admin,
                    n,
                    &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
                )
            })
            .collect();
        let mut log = vec![admin.command(&["XADD", "s", "2-1", "f", "new"])];
        log.extend(waiters.iter_mut().map(Conn::read));
        log
    });
}

#[test]
fn dollar_is_the_last_id_when_the_client_blocked() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XADD", "s", "1-1", "f", "a"]);
        let mut waiter = park(
            addr,
            &mut admin,
            1,
            &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
        );
        // Entries deleted and trimmed do not wake it; the next one does, alone.
        let mut log = vec![
            admin.command(&["XDEL", "s", "1-1"]),
            still_waiting(&mut waiter),
        ];
        log.push(admin.command(&["XADD", "s", "2-1", "f", "b"]));
        log.push(waiter.read());
        log
    });
}

#[test]
fn xread_on_several_streams_is_served_from_the_stream_written() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XADD", "b", "5-1", "f", "in b"]);
        let mut waiter = park(
            addr,
            &mut admin,
            1,
            &[
                "XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", "a", "b", "0", "$",
            ],
        );
        let mut log = vec![admin.command(&["XADD", "b", "6-1", "f", "later in b"])];
        log.push(waiter.read());
        let mut waiter = park(
            addr,
            &mut admin,
            1,
            &["XREAD", "BLOCK", "0", "STREAMS", "a", "b", "$", "$"],
        );
        log.push(admin.command(&["XADD", "a", "1-1", "f", "in a"]));
        log.push(waiter.read());
        log
    });
}

#[test]
fn xread_block_times_out_with_a_null_array_in_both_protocols() {
    same_as_redis(|addr| {
        let mut c = Conn::open(addr);
        let mut log = vec![c.command(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"])];
        c.command(&["HELLO", "3"]);
        log.push(c.command(&["XREAD", "BLOCK", "50", "STREAMS", "s", "0"]));
        log
    });
}

#[test]
fn an_id_the_stream_has_passed_is_served_at_once_and_a_future_one_waits() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XADD", "s", "5-1", "f", "v"]);
        let mut log = vec![admin.command(&["XREAD", "BLOCK", "0", "STREAMS", "s", "1"])];
        // A timeout of almost 300 million years is accepted and waits like 0.
        let mut waiter = park(
            addr,
            &mut admin,
            1,
            &["XREAD", "BLOCK", "9000000000000000000", "STREAMS", "s", "7"],
        );
        log.push(admin.command(&["XADD", "s", "6-1", "f", "not after 7"]));
        log.push(still_waiting(&mut waiter));
        log.push(admin.command(&["XADD", "s", "8-1", "f", "after 7"]));
        log.push(waiter.read());
        log
    });
}

#[test]
fn xreadgroup_waiters_share_new_entries_in_block_order() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut alice = park(
            addr,
            &mut admin,
            1,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "alice",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        let mut bob = park(
            addr,
            &mut admin,
            2,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "bob",
                "COUNT",
                "1",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        // One entry: alice takes it, bob waits on for the next.
        let mut log = vec![admin.command(&["XADD", "s", "1-1", "f", "1"])];
        log.push(alice.read());
        log.push(still_waiting(&mut bob));
        log.push(admin.command(&["XADD", "s", "2-1", "f", "2"]));
        log.push(bob.read());
        log.push(admin.command(&["XPENDING", "s", "g"]));
        log.push(admin.command(&["XINFO", "GROUPS", "s"]));
        log
    });
}

#[test]
fn a_transaction_adding_several_entries_serves_them_together() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut reader = park(
            addr,
            &mut admin,
            1,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "NOACK",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        admin.command(&["MULTI"]);
        admin.command(&["XADD", "s", "1-1", "f", "1"]);
        admin.command(&["XADD", "s", "2-1", "f", "2"]);
        let mut log = vec![admin.command(&["EXEC"]), reader.read()];
        log.push(admin.command(&["XPENDING", "s", "g"]));
        log
    });
}

#[test]
fn destroying_the_group_ends_the_wait_with_nogroup() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut reader = park(
            addr,
            &mut admin,
            1,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        let mut plain = park(
            addr,
            &mut admin,
            2,
            &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
        );
        let mut log = vec![
            admin.command(&["XGROUP", "DESTROY", "s", "g"]),
            reader.read(),
        ];
        // The plain reader is not a reader of the group: it waits on.
        log.push(still_waiting(&mut plain));
        log.push(admin.command(&["XADD", "s", "1-1", "f", "v"]));
        log.push(plain.read());
        log
    });
}

#[test]
fn deleting_the_stream_ends_group_waits_and_leaves_plain_readers_waiting() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut reader = park(
            addr,
            &mut admin,
            1,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        let mut plain = park(
            addr,
            &mut admin,
            2,
            &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
        );
        let mut log = vec![admin.command(&["DEL", "s"]), still_waiting(&mut reader)];
        log.push(still_waiting(&mut plain));
        // A string under the key wakes nobody either.
        log.push(admin.command(&["SET", "s", "x"]));
        log.push(still_waiting(&mut plain));
        log.push(admin.command(&["DEL", "s"]));
        // The group reader was told the stream went; the plain one waits for entries.
        log.push(admin.command(&["XADD", "s", "1-1", "f", "v"]));
        log.push(reader.read());
        log.push(plain.read());
        log
    });
}

#[test]
fn a_reader_that_leaves_is_skipped() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let leaver = park(
            addr,
            &mut admin,
            1,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "first",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        let mut stayer = park(
            addr,
            &mut admin,
            2,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "second",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        drop(leaver);
        wait_blocked(&mut admin, 1);
        let mut log = vec![
            admin.command(&["XADD", "s", "1-1", "f", "v"]),
            stayer.read(),
        ];
        log.push(admin.command(&["XPENDING", "s", "g"]));
        log
    });
}

#[test]
fn xreadgroup_block_times_out_without_creating_the_consumer() {
    same_as_redis(|addr| {
        let mut c = Conn::open(addr);
        c.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut log = vec![c.command(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "30",
            "STREAMS",
            "s",
            ">",
        ])];
        log.push(c.command(&["XINFO", "CONSUMERS", "s", "g"]));
        log
    });
}

#[test]
fn a_woken_reader_without_count_gets_at_most_a_thousand_entries() {
    // A long history behind the id: a woken XREAD is served with Redis's default count.
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XADD", "s", "1-0", "f", "v"]);
        let mut waiter = park(
            addr,
            &mut admin,
            1,
            &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
        );
        admin.command(&["MULTI"]);
        for i in 2..1205 {
            let id = format!("{i}-0");
            admin.command(&["XADD", "s", &id, "f", "v"]);
        }
        admin.command(&["EXEC"]);
        let reply = waiter.read();
        let count = match &reply {
            Frame::Array(streams) => match &streams[0] {
                Frame::Array(pair) => match &pair[1] {
                    Frame::Array(entries) => entries.len(),
                    other => panic!("entries, not {other:?}"),
                },
                other => panic!("a stream, not {other:?}"),
            },
            other => panic!("streams, not {other:?}"),
        };
        vec![Frame::Integer(count as i64)]
    });
}

#[test]
fn woken_readers_in_resp3_get_a_map_of_one_stream() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut plain = Conn::open(addr);
        plain.command(&["HELLO", "3"]);
        plain.send(&["XREAD", "BLOCK", "0", "STREAMS", "t", "s", "$", "$"]);
        wait_blocked(&mut admin, 1);
        let mut grouped = Conn::open(addr);
        grouped.command(&["HELLO", "3"]);
        grouped.send(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ]);
        wait_blocked(&mut admin, 2);
        let log = vec![
            admin.command(&["XADD", "s", "1-1", "f", "v"]),
            plain.read(),
            grouped.read(),
        ];
        log
    });
}

#[test]
fn flushdb_ends_group_waits_on_its_streams_and_leaves_plain_readers_waiting() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        admin.command(&["XADD", "plain", "1-1", "f", "v"]);
        let readgroup = |key| {
            vec![
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                key,
                ">",
            ]
        };
        let mut reader = park(addr, &mut admin, 1, &readgroup("s"));
        let mut plain = park(
            addr,
            &mut admin,
            2,
            &["XREAD", "BLOCK", "0", "STREAMS", "plain", "$"],
        );
        let mut popper = park(addr, &mut admin, 3, &["BLPOP", "list", "0"]);
        let mut log = vec![admin.command(&["FLUSHDB"]), reader.read()];
        log.push(still_waiting(&mut plain));
        log.push(still_waiting(&mut popper));
        log.push(admin.command(&["XADD", "plain", "2-1", "f", "after"]));
        log.push(plain.read());
        log.push(admin.command(&["RPUSH", "list", "x"]));
        log.push(popper.read());
        log
    });
}

#[test]
fn flushall_ends_group_waits_in_every_database_and_flushdb_of_another_does_not() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["SELECT", "3"]);
        admin.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        admin.command(&["SELECT", "0"]);
        admin.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut in_3 = Conn::open(addr);
        in_3.command(&["SELECT", "3"]);
        in_3.send(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ]);
        wait_blocked(&mut admin, 1);
        let mut in_0 = park(
            addr,
            &mut admin,
            2,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        // FLUSHDB of database 0 leaves the reader of database 3 waiting.
        let mut log = vec![admin.command(&["FLUSHDB"]), in_0.read()];
        log.push(still_waiting(&mut in_3));
        admin.command(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut again = park(
            addr,
            &mut admin,
            2,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        // Inside a transaction, the readers are woken once it ends.
        log.push(admin.command(&["MULTI"]));
        log.push(admin.command(&["FLUSHALL"]));
        log.push(admin.command(&["EXEC"]));
        log.push(again.read());
        log.push(in_3.read());
        log.push(admin.command(&["INFO", "keyspace"]));
        log
    });
}
