//! Scripts under concurrency, over TCP: a script runs with no other client's command
//! between two of its `redis.call`s, so a read-modify-write in Lua never loses an update,
//! however many clients race on the key.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{start, Conn};
use lockstep_resp::Frame;

/// Reads the counter, spins long enough for other clients' commands to arrive, writes it
/// back plus one. Any command between the GET and the SET would be lost.
const SLOW_INCREMENT: &str = "local v = tonumber(redis.call('get', KEYS[1]) or '0')\n\
     local spin = 0\n\
     for i = 1, tonumber(ARGV[1]) do spin = spin + i end\n\
     redis.call('set', KEYS[1], v + 1)\n\
     return v + 1";

fn int_of(frame: &Frame) -> i64 {
    match frame {
        Frame::Bulk(b) => std::str::from_utf8(b).unwrap().parse().unwrap(),
        Frame::Integer(n) => *n,
        Frame::Null => 0,
        other => panic!("not a number: {other:?}"),
    }
}

/// The seed scenario: one client runs the slow increment again and again while others
/// INCR the same key. The final value is the number of acknowledged increments.
#[test]
fn a_script_read_modify_write_loses_no_concurrent_incr() {
    let server = start();
    let addr = server.addr();
    let scripts = thread::spawn(move || {
        let mut c = Conn::open(addr);
        for _ in 0..40 {
            let n = c.int(&["EVAL", SLOW_INCREMENT, "1", "counter", "200000"]);
            assert!(n > 0);
        }
        40
    });
    let incrs: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                for _ in 0..300 {
                    assert!(c.int(&["INCR", "counter"]) > 0);
                }
                300
            })
        })
        .collect();
    let mut acknowledged = scripts.join().unwrap();
    for t in incrs {
        acknowledged += t.join().unwrap();
    }
    let mut c = Conn::open(addr);
    assert_eq!(int_of(&c.command(&["GET", "counter"])), acknowledged);
}

/// A SET from another client lands before or after the script, never between its GET
/// and its SET: the key ends as the script's result or as the SET's value.
#[test]
fn a_write_from_another_client_never_lands_inside_a_script() {
    let server = start();
    let addr = server.addr();
    for _ in 0..20 {
        let mut c = Conn::open(addr);
        c.ok(&["SET", "k", "0"]);
        let script = thread::spawn(move || {
            let mut c = Conn::open(addr);
            c.int(&["EVAL", SLOW_INCREMENT, "1", "k", "300000"])
        });
        thread::sleep(Duration::from_millis(1));
        let mut other = Conn::open(addr);
        other.ok(&["SET", "k", "999"]);
        let from_script = script.join().unwrap();
        let last = int_of(&c.command(&["GET", "k"]));
        match from_script {
            // The script ran first: the SET came after.
            1 => assert_eq!(last, 999),
            // The SET ran first: the script read it.
            1000 => assert_eq!(last, 1000),
            n => panic!("the script saw {}: a write landed inside it", n - 1),
        }
    }
}

/// 16 clients run the increment script through EVALSHA and 16 run INCR for about two
/// seconds; every acknowledged increment is in the total.
#[test]
fn scripts_and_incr_from_many_clients_lose_nothing() {
    let server = start();
    let addr = server.addr();
    let sha = {
        let mut c = Conn::open(addr);
        c.text(&["SCRIPT", "LOAD", SLOW_INCREMENT])
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    let workers: Vec<_> = (0..32)
        .map(|i| {
            let sha = sha.clone();
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                let mut done = 0i64;
                while Instant::now() < deadline {
                    if i % 2 == 0 {
                        let n = c.int(&["EVALSHA", &sha, "1", "counter", "2000"]);
                        assert!(n > 0);
                    } else {
                        assert!(c.int(&["INCR", "counter"]) > 0);
                    }
                    done += 1;
                }
                done
            })
        })
        .collect();
    let acknowledged: i64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let mut c = Conn::open(addr);
    assert_eq!(int_of(&c.command(&["GET", "counter"])), acknowledged);
    assert!(acknowledged > 32, "the clients hardly ran: {acknowledged}");
}

/// SCRIPT KILL with no script running answers NOTBUSY; a script's error does not leave
/// the engine thinking one runs.
#[test]
fn script_kill_without_a_running_script_is_notbusy() {
    let server = start();
    let mut c = Conn::open(server.addr());
    assert_eq!(
        c.command(&["SCRIPT", "KILL"]),
        Frame::Error("NOTBUSY No scripts in execution right now.".into())
    );
    assert!(matches!(
        c.command(&["EVAL", "error('x')", "0"]),
        Frame::Error(_)
    ));
    assert_eq!(
        c.command(&["SCRIPT", "KILL"]),
        Frame::Error("NOTBUSY No scripts in execution right now.".into())
    );
}

/// A client blocked on a list is served by a script's push once the script has ended,
/// with the first element pushed, as Redis serves it after the script.
#[test]
fn a_script_push_serves_a_blocked_client_after_the_script() {
    let server = start();
    let addr = server.addr();
    let mut blocker = Conn::open(addr);
    blocker.send(&["BLPOP", "q", "0"]);
    let mut c = Conn::open(addr);
    // Wait until the BLPOP is parked.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c.text(&["CLIENT", "LIST"]).contains("cmd=blpop") {
        assert!(Instant::now() < deadline, "BLPOP never blocked");
        thread::sleep(Duration::from_millis(5));
    }
    let script = "redis.call('lpush', 'q', 'a'); redis.call('lpush', 'q', 'b'); \
                  return redis.call('llen', 'q')";
    assert_eq!(c.int(&["EVAL", script, "0"]), 2);
    assert_eq!(
        blocker.read(),
        Frame::Array(vec![Frame::bulk("q"), Frame::bulk("b")])
    );
    assert_eq!(
        c.command(&["LRANGE", "q", "0", "-1"]),
        Frame::Array(vec![Frame::bulk("a")])
    );
}

/// INFO memory reports the cached scripts and the Lua state's memory, as Redis does.
#[test]
fn info_memory_counts_cached_scripts_and_lua_memory() {
    let server = start();
    let mut c = Conn::open(server.addr());
    let field = |info: &str, name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {info}"))
            .trim()
            .parse()
            .unwrap()
    };
    let before = c.text(&["INFO", "memory"]);
    assert_eq!(field(&before, "number_of_cached_scripts"), 0);
    c.command(&["SCRIPT", "LOAD", "return 1"]);
    c.command(&["EVAL", "return 2", "0"]);
    let after = c.text(&["INFO", "memory"]);
    assert_eq!(field(&after, "number_of_cached_scripts"), 2);
    assert!(field(&after, "used_memory_lua") > 0, "{after}");
    c.ok(&["SCRIPT", "FLUSH"]);
    let flushed = c.text(&["INFO", "memory"]);
    assert_eq!(field(&flushed, "number_of_cached_scripts"), 0);
}

/// CLIENT PAUSE WRITE holds back what may write: a script or function by the flags it
/// declares (none: as its command, which may replicate), PUBLISH (which may
/// replicate), and a MULTI that queued any of them; read-only scripts, functions that
/// declare `no-writes` and `_RO` commands go on. Asked of lockstep and of a real
/// redis-server; the answers must be the same.
#[test]
fn client_pause_write_holds_scripts_by_their_flags_as_redis_does() {
    let ours = start();
    let redis = common::RedisServer::start();
    let cases: &[&[&str]] = &[
        &["EVAL", "return 1", "0"],
        &["EVAL", "#!lua flags=no-writes\nreturn 1", "0"],
        &["EVAL", "#!lua\nreturn 1", "0"],
        &["EVAL_RO", "return 1", "0"],
        &["EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"],
        &["EVALSHA", "ae33f9227913b24d053a555637f98260b23bd3a3", "0"],
        &["FCALL", "w", "0"],
        &["FCALL", "ro", "0"],
        &["FCALL_RO", "ro", "0"],
        &["FCALL", "missing", "0"],
        &["PUBLISH", "c", "m"],
        &["GET", "k"],
        &["SET", "k", "v"],
    ];
    let held: Vec<Vec<bool>> = [ours.addr(), redis.addr()]
        .into_iter()
        .map(|addr| {
            let mut admin = Conn::open(addr);
            admin.command(&["SCRIPT", "LOAD", "return 1"]);
            admin.command(&["SCRIPT", "LOAD", "#!lua flags=no-writes\nreturn 2"]);
            admin.command(&[
                "FUNCTION",
                "LOAD",
                "#!lua name=p\nredis.register_function('w', function() return 1 end)\n\
                 redis.register_function{function_name='ro', callback=function() return 2 end, flags={'no-writes'}}",
            ]);
            let mut held = Vec::new();
            for case in cases {
                admin.ok(&["CLIENT", "PAUSE", "10000", "WRITE"]);
                let mut c = Conn::open(addr);
                c.send(case);
                held.push(c.silent_for(Duration::from_millis(150)));
                admin.ok(&["CLIENT", "UNPAUSE"]);
                c.read();
                // The same inside MULTI: EXEC waits when a queued command would.
                c.ok(&["MULTI"]);
                assert_eq!(c.command(case), Frame::simple("QUEUED"), "{case:?}");
                admin.ok(&["CLIENT", "PAUSE", "10000", "WRITE"]);
                c.send(&["EXEC"]);
                held.push(c.silent_for(Duration::from_millis(150)));
                admin.ok(&["CLIENT", "UNPAUSE"]);
                c.read();
            }
            held
        })
        .collect();
    assert_eq!(held[0], held[1]);
    assert!(held[0].contains(&true) && held[0].contains(&false));
}
