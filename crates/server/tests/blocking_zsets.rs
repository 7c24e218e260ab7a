//! The blocking sorted-set pops (BZPOPMIN, BZPOPMAX, BZMPOP) over TCP, each scenario run
//! against a real redis-server and against lockstep, whose transcripts (every reply every
//! client read, in order) must be equal: who is served, in which order, with what, when a
//! timeout passes, and what a client that leaves or a write of another type does.
//!
//! A scenario waits until INFO shows its clients blocked before it writes, so the order
//! in which they blocked is the one it meant. The real redis-server is required: set
//! `REDIS_SERVER` to its path if it is not on PATH.

mod common;

use std::time::{Duration, Instant};

use common::{park, same_as_redis, still_waiting, wait_blocked, Conn};

#[test]
fn waiters_on_one_key_are_served_in_the_order_they_blocked() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut waiters: Vec<Conn> = (1..=3)
            .map(|n| park(addr, &mut admin, n, &["BZPOPMIN", "z", "0"]))
            .collect();
        let mut log = vec![admin.command(&["ZADD", "z", "3", "c", "1", "a", "2", "b"])];
        log.extend(waiters.iter_mut().map(Conn::read));
        log.push(admin.command(&["EXISTS", "z"]));
        log
    });
}

#[test]
fn a_write_serves_as_many_waiters_as_it_brings_members() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut first = park(addr, &mut admin, 1, &["BZPOPMAX", "z", "0"]);
        let mut second = park(addr, &mut admin, 2, &["BZPOPMAX", "z", "0"]);
        let mut log = vec![admin.command(&["ZADD", "z", "1", "a"])];
        log.push(first.read());
        log.push(still_waiting(&mut second));
        log.push(admin.command(&["ZADD", "z", "2", "b", "3", "c"]));
        log.push(second.read());
        log.push(admin.command(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]));
        log
    });
}

#[test]
fn bzmpop_takes_up_to_its_count_before_the_next_waiter() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut greedy = park(
            addr,
            &mut admin,
            1,
            &["BZMPOP", "0", "2", "other", "z", "MAX", "COUNT", "10"],
        );
        let mut next = park(addr, &mut admin, 2, &["BZPOPMIN", "z", "0"]);
        let mut log = vec![admin.command(&["ZADD", "z", "1", "x", "2", "y", "3", "w"])];
        log.push(greedy.read());
        log.push(still_waiting(&mut next));
        log.push(admin.command(&["ZADD", "z", "5", "v", "6", "u"]));
        log.push(next.read());
        log.push(admin.command(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]));
        log
    });
}

#[test]
fn a_waiter_on_several_keys_is_served_by_the_one_that_gets_members() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut min = park(addr, &mut admin, 1, &["BZPOPMIN", "k1", "k2", "k3", "0"]);
        let mut mpop = park(
            addr,
            &mut admin,
            2,
            &["BZMPOP", "0", "2", "k3", "k2", "MIN"],
        );
        let mut log = vec![admin.command(&["ZADD", "k2", "5", "x", "6", "y"])];
        log.push(min.read());
        log.push(mpop.read());
        log.push(admin.command(&["EXISTS", "k2"]));
        log
    });
}

#[test]
fn timeouts_answer_a_null_array_after_that_long() {
    same_as_redis(|addr| {
        let mut log = Vec::new();
        for protocol in ["2", "3"] {
            let mut c = Conn::open(addr);
            c.command(&["HELLO", protocol]);
            for command in [
                &["BZPOPMIN", "z", "0.1"][..],
                &["BZPOPMAX", "a", "b", "0.05"],
                &["BZMPOP", "0.1", "1", "z", "MIN", "COUNT", "2"],
            ] {
                let started = Instant::now();
                log.push(c.command(command));
                let waited = started.elapsed();
                assert!(
                    waited >= Duration::from_millis(45),
                    "{command:?}: {waited:?}"
                );
                assert!(waited < Duration::from_secs(3), "{command:?}: {waited:?}");
            }
        }
        log
    });
}

#[test]
fn timeout_zero_waits_until_a_member_comes() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut waiter = park(addr, &mut admin, 1, &["BZPOPMIN", "z", "0"]);
        let mut log = vec![still_waiting(&mut waiter)];
        std::thread::sleep(Duration::from_millis(300));
        log.push(still_waiting(&mut waiter));
        log.push(admin.command(&["ZADD", "z", "1", "a"]));
        log.push(waiter.read());
        log
    });
}

#[test]
fn replies_of_served_waiters_take_each_protocols_shape() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut log = Vec::new();
        let mut waiters = Vec::new();
        for (n, protocol) in ["2", "3"].iter().enumerate() {
            for (m, command) in [
                &["BZPOPMIN", "z", "0"][..],
                &["BZPOPMAX", "z", "0"],
                &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "2"],
            ]
            .iter()
            .enumerate()
            {
                let mut c = Conn::open(addr);
                c.command(&["HELLO", protocol]);
                c.send(command);
                wait_blocked(&mut admin, n * 3 + m + 1);
                waiters.push(c);
            }
        }
        log.push(admin.command(&[
            "ZADD", "z", "1.5", "a", "-0", "b", "inf", "c", "1e20", "d", "0.1", "e", "2", "f", "3",
            "g", "4", "h",
        ]));
        log.extend(waiters.iter_mut().map(Conn::read));
        log
    });
}

#[test]
fn a_waiter_that_leaves_takes_nothing() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let leaver = park(addr, &mut admin, 1, &["BZPOPMIN", "z", "0"]);
        let mut stayer = park(addr, &mut admin, 2, &["BZPOPMIN", "z", "0"]);
        drop(leaver);
        wait_blocked(&mut admin, 1);
        let mut log = vec![admin.command(&["ZADD", "z", "1", "a", "2", "b"])];
        log.push(stayer.read());
        log.push(admin.command(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]));
        log
    });
}

#[test]
fn a_killed_waiter_takes_nothing() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut killed = Conn::open(addr);
        let id = killed.int(&["CLIENT", "ID"]).to_string();
        killed.send(&["BZMPOP", "0", "1", "z", "MIN", "COUNT", "5"]);
        wait_blocked(&mut admin, 1);
        let mut stayer = park(addr, &mut admin, 2, &["BZPOPMAX", "z", "0"]);
        let mut log = vec![admin.command(&["CLIENT", "KILL", "ID", &id])];
        wait_blocked(&mut admin, 1);
        log.push(admin.command(&["ZADD", "z", "1", "a", "2", "b"]));
        log.push(stayer.read());
        log.push(admin.command(&["ZRANGE", "z", "0", "-1"]));
        log
    });
}

#[test]
fn client_unblock_ends_the_wait_as_a_timeout_or_an_error() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut log = Vec::new();
        for how in ["TIMEOUT", "ERROR"] {
            let mut waiter = Conn::open(addr);
            let id = waiter.int(&["CLIENT", "ID"]).to_string();
            waiter.send(&["BZPOPMIN", "z", "0"]);
            wait_blocked(&mut admin, 1);
            log.push(admin.command(&["CLIENT", "UNBLOCK", &id, how]));
            log.push(waiter.read());
        }
        log
    });
}

#[test]
fn a_key_of_another_type_leaves_the_waiter_blocked() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut waiter = park(addr, &mut admin, 1, &["BZPOPMIN", "z", "0"]);
        let mut log = vec![admin.command(&["SET", "z", "v"])];
        log.push(still_waiting(&mut waiter));
        log.push(admin.command(&["DEL", "z"]));
        log.push(admin.command(&["SADD", "z", "m"]));
        log.push(still_waiting(&mut waiter));
        log.push(admin.command(&["DEL", "z"]));
        log.push(admin.command(&["ZADD", "z", "1", "a"]));
        log.push(waiter.read());
        log
    });
}

#[test]
fn zadd_inside_multi_serves_waiters_after_exec() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut waiter = park(addr, &mut admin, 1, &["BZPOPMAX", "z", "0"]);
        let mut log = vec![admin.command(&["MULTI"])];
        log.push(admin.command(&["ZADD", "z", "1", "a", "2", "b"]));
        log.push(admin.command(&["ZINCRBY", "z", "5", "a"]));
        log.push(still_waiting(&mut waiter));
        log.push(admin.command(&["EXEC"]));
        log.push(waiter.read());
        log.push(admin.command(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]));
        log
    });
}

#[test]
fn the_stores_and_zrangestore_wake_waiters_on_their_destination() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["ZADD", "src", "1", "a", "2", "b", "3", "c"]);
        let mut log = Vec::new();
        for store in [
            &["ZUNIONSTORE", "dst", "1", "src"][..],
            &["ZINTERSTORE", "dst", "1", "src"],
            &["ZDIFFSTORE", "dst", "1", "src"],
            &["ZRANGESTORE", "dst", "src", "1", "2"],
        ] {
            admin.command(&["DEL", "dst"]);
            let mut waiter = park(addr, &mut admin, 1, &["BZMPOP", "0", "1", "dst", "MIN"]);
            log.push(admin.command(store));
            log.push(waiter.read());
        }
        log
    });
}

#[test]
fn a_served_pop_sends_its_events_after_the_writers() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        admin.command(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        let mut sub = Conn::open(addr);
        sub.command(&["PSUBSCRIBE", "__keyevent@0__:*"]);
        let mut waiter = park(addr, &mut admin, 1, &["BZPOPMIN", "z", "0"]);
        let mut log = vec![admin.command(&["ZADD", "z", "1", "a"])];
        log.push(waiter.read());
        // zadd, then the served pop's zpopmin and the del of the emptied key.
        for _ in 0..3 {
            log.push(sub.read());
        }
        log.push(admin.command(&["CONFIG", "SET", "notify-keyspace-events", ""]));
        log
    });
}

/// Redis serves a waiter from the key whose write woke it (here k2, written first
/// inside the transaction), not from the first of its keys that holds members.
#[test]
fn a_waiter_is_served_from_the_key_written_first() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut waiter = park(addr, &mut admin, 1, &["BZPOPMIN", "k1", "k2", "0"]);
        let mut log = vec![admin.command(&["MULTI"])];
        log.push(admin.command(&["ZADD", "k2", "1", "x"]));
        log.push(admin.command(&["ZADD", "k1", "1", "y"]));
        log.push(admin.command(&["EXEC"]));
        log.push(waiter.read());
        log
    });
}

#[test]
fn waiters_on_two_keys_filled_in_one_transaction_share_them_in_order() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut waiters: Vec<Conn> = [
            ["BZMPOP", "0", "2", "a", "b", "MIN", "COUNT", "1"],
            ["BZMPOP", "0", "2", "a", "b", "MAX", "COUNT", "10"],
            ["BZMPOP", "0", "2", "a", "b", "MIN", "COUNT", "10"],
            ["BZMPOP", "0", "2", "a", "b", "MAX", "COUNT", "1"],
        ]
        .iter()
        .enumerate()
        .map(|(n, command)| park(addr, &mut admin, n + 1, command))
        .collect();
        let mut log = vec![admin.command(&["MULTI"])];
        log.push(admin.command(&["ZADD", "a", "1", "p", "2", "q", "3", "r", "4", "s"]));
        log.push(admin.command(&["ZADD", "b", "1", "p", "2", "q", "3", "r"]));
        log.push(admin.command(&["EXEC"]));
        for waiter in &mut waiters[..3] {
            log.push(waiter.read());
        }
        log.push(still_waiting(&mut waiters[3]));
        log.push(admin.command(&["ZADD", "b", "7", "x", "8", "y"]));
        log.push(waiters[3].read());
        log
    });
}

#[test]
fn writes_to_the_other_arguments_of_bzmpop_wake_nobody() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut waiter = park(
            addr,
            &mut admin,
            1,
            &["BZMPOP", "0", "1", "z", "MIN", "COUNT", "10"],
        );
        let mut log = Vec::new();
        for key in ["0", "1", "MIN", "COUNT", "10"] {
            log.push(admin.command(&["ZADD", key, "1", "m"]));
        }
        log.push(still_waiting(&mut waiter));
        log.push(admin.command(&["ZADD", "z", "1", "m"]));
        log.push(waiter.read());
        log
    });
}

#[test]
fn a_member_added_and_deleted_inside_a_transaction_wakes_nobody() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut waiter = park(addr, &mut admin, 1, &["BZPOPMIN", "z", "0"]);
        let mut log = vec![admin.command(&["MULTI"])];
        log.push(admin.command(&["ZADD", "z", "0", "foo"]));
        log.push(admin.command(&["DEL", "z"]));
        log.push(admin.command(&["SET", "z", "v"]));
        log.push(admin.command(&["EXEC"]));
        log.push(still_waiting(&mut waiter));
        log.push(admin.command(&["DEL", "z"]));
        log.push(admin.command(&["ZADD", "z", "1", "bar"]));
        log.push(waiter.read());
        log
    });
}

#[test]
fn a_key_named_twice_is_waited_on_once() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut waiter = park(
            addr,
            &mut admin,
            1,
            &["BZPOPMIN", "z1", "z2", "z2", "z1", "0"],
        );
        let mut log = vec![admin.command(&["ZADD", "z2", "1", "b"])];
        log.push(waiter.read());
        log.push(admin.command(&["ZADD", "z1", "0", "a", "1", "c"]));
        log.push(waiter.command(&["BZPOPMIN", "z1", "z2", "z2", "z1", "0"]));
        log
    });
}

#[test]
fn a_waiter_is_served_from_its_ready_key_past_an_earlier_key_of_another_type() {
    same_as_redis(|addr| {
        let mut admin = Conn::open(addr);
        let mut waiter = park(
            addr,
            &mut admin,
            1,
            &["BZMPOP", "0", "2", "k1", "k2", "MAX"],
        );
        let mut log = vec![admin.command(&["SET", "k1", "v"])];
        log.push(admin.command(&["ZADD", "k2", "1", "x", "2", "y"]));
        log.push(waiter.read());
        log
    });
}
