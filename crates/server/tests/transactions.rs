//! Transactions under concurrency, over TCP: EXEC runs its queue with no other client's
//! command in between, and WATCH turns GET-then-SET into a compare-and-set that never
//! loses an increment, however many clients race on one key.

mod common;

use std::net::SocketAddr;
use std::thread;

use common::{int_of, start, Conn};
use lockstep_resp::Frame;

const CLIENTS: usize = 16;
const ROUNDS: usize = 150;

/// Half the clients increment through WATCH/GET/MULTI/SET/EXEC, retrying when EXEC
/// answers nil; the other half with INCR. Every acknowledged increment is in the total.
#[test]
fn watch_makes_get_then_set_a_compare_and_set() {
    let server = start();
    let addr = server.addr();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                let mut retries = 0;
                for _ in 0..ROUNDS {
                    if i % 2 == 0 {
                        assert!(c.int(&["INCR", "counter"]) > 0);
                        continue;
                    }
                    loop {
                        c.ok(&["WATCH", "counter"]);
                        let n = int_of(&c.command(&["GET", "counter"]));
                        c.ok(&["MULTI"]);
                        c.send(&["SET", "counter", &(n + 1).to_string()]);
                        assert_eq!(c.read(), Frame::Simple("QUEUED".into()));
                        match c.command(&["EXEC"]) {
                            Frame::Array(replies) => {
                                assert_eq!(replies, vec![Frame::Simple("OK".into())]);
                                break;
                            }
                            Frame::Null => retries += 1,
                            other => panic!("EXEC answered {other:?}"),
                        }
                    }
                }
                retries
            })
        })
        .collect();
    let retries: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let mut c = Conn::open(addr);
    assert_eq!(
        int_of(&c.command(&["GET", "counter"])),
        (CLIENTS * ROUNDS) as i64
    );
    // The race really happened: some compare-and-sets had to try again.
    assert!(
        retries > 0,
        "no EXEC was ever aborted by a concurrent write"
    );
}

/// Writers move one unit from `a` to `b` inside MULTI/EXEC; readers read both inside
/// MULTI/EXEC. Every read sees a total of zero: nothing runs between two queued commands.
#[test]
fn exec_runs_its_queue_with_nothing_in_between() {
    let server = start();
    let addr = server.addr();
    let writers = spawn_clients(addr, |c| {
        c.send(&["MULTI"]);
        c.send(&["DECR", "a"]);
        c.send(&["INCR", "b"]);
        c.send(&["EXEC"]);
        for _ in 0..3 {
            c.read();
        }
        let Frame::Array(replies) = c.read() else {
            panic!("EXEC answers an array");
        };
        assert_eq!(replies.len(), 2);
    });
    let readers = spawn_clients(addr, |c| {
        c.ok(&["MULTI"]);
        c.command(&["GET", "a"]);
        c.command(&["GET", "b"]);
        let Frame::Array(replies) = c.command(&["EXEC"]) else {
            panic!("EXEC answers an array");
        };
        assert_eq!(int_of(&replies[0]) + int_of(&replies[1]), 0, "{replies:?}");
    });
    for t in writers.into_iter().chain(readers) {
        t.join().unwrap();
    }
    let mut c = Conn::open(addr);
    assert_eq!(
        int_of(&c.command(&["GET", "b"])),
        (CLIENTS / 2 * ROUNDS) as i64
    );
}

/// Half of CLIENTS threads, each on its own connection, running `round` ROUNDS times.
fn spawn_clients(addr: SocketAddr, round: fn(&mut Conn)) -> Vec<thread::JoinHandle<()>> {
    (0..CLIENTS / 2)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                for _ in 0..ROUNDS {
                    round(&mut c);
                }
            })
        })
        .collect()
}

/// While EXEC runs its queue the client is still in the transaction, as Redis shows it:
/// CLIENT INFO inside it says `flags=x`, the queued count and `cmd=exec`.
#[test]
fn client_info_inside_exec_shows_the_transaction() {
    let server = start();
    let mut c = Conn::open(server.addr());
    c.ok(&["MULTI"]);
    c.command(&["SET", "a", "1"]);
    c.command(&["CLIENT", "INFO"]);
    let Frame::Array(replies) = c.command(&["EXEC"]) else {
        panic!("EXEC answers an array");
    };
    let Frame::Bulk(info) = &replies[1] else {
        panic!("CLIENT INFO answers a bulk string: {replies:?}");
    };
    let info = String::from_utf8_lossy(info);
    for field in [" flags=x ", " multi=2 ", " cmd=exec "] {
        assert!(info.contains(field), "{field:?} not in {info}");
    }
    let after = c.command(&["CLIENT", "INFO"]);
    let Frame::Bulk(after) = after else {
        panic!("{after:?}");
    };
    let after = String::from_utf8_lossy(&after);
    assert!(
        after.contains(" flags=N ") && after.contains(" multi=-1 "),
        "{after}"
    );
}
