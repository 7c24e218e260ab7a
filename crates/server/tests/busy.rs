//! A long script, as other connections see it: they wait while it is young, get `-BUSY`
//! once it has run past `busy-reply-threshold`, and can stop it with SCRIPT KILL unless it
//! has written. The script holds the state for its whole run (that is its atomicity), so
//! all of this is answered without the state, also to a connection opened while the
//! script runs (which is registered only once the script ends).

mod common;

use std::time::{Duration, Instant};

use common::{start, Conn};
use lockstep_resp::Frame;

const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

fn error_text(frame: Frame) -> String {
    match frame {
        Frame::Error(e) => String::from_utf8_lossy(&e).into_owned(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Lets the runner's connection start its script before another connection asks
/// anything (there is no way to ask the server without waiting for the script).
fn settle() {
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn an_endless_script_makes_others_busy_until_script_kill_ends_it() {
    let server = start();
    let mut admin = Conn::open(server.addr());
    admin.ok(&["CONFIG", "SET", "busy-reply-threshold", "200"]);
    let mut runner = Conn::open(server.addr());
    let started = Instant::now();
    runner.send(&["EVAL", "while true do end", "0"]);
    settle();
    // Young, the script makes others wait; past the threshold they are told BUSY.
    assert_eq!(error_text(admin.command(&["PING"])), BUSY);
    assert!(started.elapsed() >= Duration::from_millis(150));
    // A connection opened before the script is answered without the state.
    assert!(admin.command(&["NOSUCHCOMMAND"]).is_error());
    assert_eq!(error_text(admin.command(&["GET", "k"])), BUSY);
    // A connection opened while the script runs is answered too; a command that needs
    // the state (MULTI, which Redis allows while busy) waits for the script to end.
    let mut late = Conn::open(server.addr());
    assert_eq!(error_text(late.command(&["GET", "k"])), BUSY);
    assert!(late.command(&["NOSUCHCOMMAND"]).is_error());
    late.send(&["MULTI"]);
    let mut quitter = Conn::open(server.addr());
    assert_eq!(quitter.command(&["QUIT"]), Frame::simple("OK"));
    assert_eq!(admin.command(&["SCRIPT", "KILL"]), Frame::simple("OK"));
    let killed = error_text(runner.read());
    assert!(
        killed.starts_with("ERR Script killed by user with SCRIPT KILL"),
        "{killed}"
    );
    // The server is itself again.
    assert_eq!(late.read(), Frame::simple("OK"));
    assert_eq!(late.command(&["PING"]), Frame::simple("QUEUED"));
    assert_eq!(admin.command(&["PING"]), Frame::simple("PONG"));
    assert_eq!(runner.command(&["PING"]), Frame::simple("PONG"));
    assert_eq!(
        error_text(admin.command(&["SCRIPT", "KILL"])),
        "NOTBUSY No scripts in execution right now."
    );
}

#[test]
fn a_script_that_has_written_cannot_be_killed() {
    let server = start();
    let mut admin = Conn::open(server.addr());
    admin.ok(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
    let mut runner = Conn::open(server.addr());
    // Long enough to be seen busy, short enough for the test to wait it out.
    runner.send(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'written') local n = 0 for i = 1, 150000000 do n = n + 1 end return n",
        "1",
        "k",
    ]);
    settle();
    assert_eq!(error_text(admin.command(&["PING"])), BUSY);
    let refused = error_text(admin.command(&["SCRIPT", "KILL"]));
    assert!(refused.starts_with("UNKILLABLE "), "{refused}");
    assert_eq!(runner.read(), Frame::Integer(150_000_000));
    assert_eq!(admin.text(&["GET", "k"]), "written");
}

/// With a password set, a connection made while a script runs must still authenticate
/// first: it is told NOAUTH, not BUSY.
#[test]
fn a_new_connection_during_a_script_still_needs_the_password() {
    let server = start();
    let mut admin = Conn::open(server.addr());
    admin.ok(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
    admin.ok(&["CONFIG", "SET", "requirepass", "s3cret"]);
    let mut runner = Conn::open(server.addr());
    runner.ok(&["AUTH", "s3cret"]);
    runner.send(&["EVAL", "while true do end", "0"]);
    settle();
    let mut late = Conn::open(server.addr());
    assert_eq!(
        error_text(late.command(&["GET", "k"])),
        "NOAUTH Authentication required."
    );
    assert_eq!(error_text(admin.command(&["GET", "k"])), BUSY);
    assert_eq!(admin.command(&["SCRIPT", "KILL"]), Frame::simple("OK"));
    assert!(runner.read().is_error());
    admin.ok(&["CONFIG", "SET", "requirepass", ""]);
}

/// FUNCTION STATS of a busy server, with the duration (which only has to be a number)
/// set to 0.
fn stats_without_duration(conn: &mut Conn) -> Frame {
    let mut frame = conn.command(&["FUNCTION", "STATS"]);
    if let Frame::Array(items) = &mut frame {
        if let Some(Frame::Array(running)) = items.get_mut(1) {
            if let Some(d @ Frame::Integer(_)) = running.get_mut(5) {
                *d = Frame::Integer(0);
            }
        }
    }
    frame
}

/// A long function and a long EVAL script, as other connections see them, on lockstep and
/// on a real redis-server: each kind is stopped only by its own KILL command and names it
/// in its BUSY errors, and FUNCTION STATS shows a running function (and is refused while
/// an EVAL script runs). The transcripts must be equal.
#[test]
fn functions_are_busy_and_killed_as_redis_s() {
    let ours = start();
    let redis = common::RedisServer::start();
    let transcripts: Vec<Vec<Frame>> = [ours.addr(), redis.addr()]
        .into_iter()
        .map(|addr| {
            let mut seen = Vec::new();
            let mut admin = Conn::open(addr);
            admin.ok(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
            admin.command(&[
                "FUNCTION",
                "LOAD",
                "#!lua name=spin\nredis.register_function('spin', function() while true do end end)",
            ]);
            let mut runner = Conn::open(addr);
            runner.send(&["FCALL", "spin", "0"]);
            settle();
            seen.push(admin.command(&["PING"]));
            seen.push(admin.command(&["SCRIPT", "KILL"]));
            seen.push(stats_without_duration(&mut admin));
            seen.push(admin.command(&["FUNCTION", "KILL"]));
            seen.push(runner.read());
            seen.push(stats_without_duration(&mut admin));
            runner.send(&["EVAL", "while true do end", "0"]);
            settle();
            seen.push(admin.command(&["PING"]));
            seen.push(admin.command(&["FUNCTION", "STATS"]));
            seen.push(admin.command(&["FUNCTION", "KILL"]));
            seen.push(admin.command(&["SCRIPT", "KILL"]));
            seen.push(runner.read());
            seen.push(admin.command(&["FUNCTION", "KILL"]));
            seen
        })
        .collect();
    assert_eq!(transcripts[0], transcripts[1]);
    assert!(transcripts[0][0].is_error());
}
