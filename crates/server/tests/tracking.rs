//! Client-side caching with REDIRECT, which the differential cases cannot express (the
//! target's client id differs between two servers). The expected frames are what
//! redis-server 7.0.15 sends in the same exchanges.

mod common;

use std::time::Duration;

use common::{start, Conn};
use lockstep_resp::Frame;

fn bulk(s: &str) -> Frame {
    Frame::Bulk(bytes::Bytes::copy_from_slice(s.as_bytes()))
}

fn client_id(c: &mut Conn) -> String {
    c.int(&["CLIENT", "ID"]).to_string()
}

/// A RESP2 client subscribed to `__redis__:invalidate` receives the invalidations of the
/// client that redirects to it, as pub/sub messages; a flush sends a null.
#[test]
fn a_resp2_subscriber_receives_redirected_invalidations() {
    let server = start();
    let [mut sub, mut tracker, mut writer] = std::array::from_fn(|_| Conn::open(server.addr()));
    let sid = client_id(&mut sub);
    sub.command(&["SUBSCRIBE", "__redis__:invalidate"]);
    tracker.ok(&["CLIENT", "TRACKING", "ON", "REDIRECT", &sid]);
    assert_eq!(tracker.int(&["CLIENT", "GETREDIR"]).to_string(), sid);
    tracker.command(&["GET", "k"]);
    writer.ok(&["SET", "k", "v"]);
    let message =
        |payload: Frame| Frame::Array(vec![bulk("message"), bulk("__redis__:invalidate"), payload]);
    assert_eq!(sub.read(), message(Frame::Array(vec![bulk("k")])));
    // Once told, the key is forgotten until read again.
    writer.ok(&["SET", "k", "w"]);
    assert!(sub.silent_for(Duration::from_millis(100)));
    tracker.command(&["GET", "k"]);
    writer.ok(&["FLUSHALL"]);
    assert_eq!(sub.read(), message(Frame::Null));
}

/// A RESP3 target gets the invalidation as a push, subscribed or not; when it goes away,
/// the tracking client (RESP3) is told `tracking-redir-broken` and shows `R`.
#[test]
fn a_resp3_target_gets_pushes_and_its_loss_is_reported() {
    let server = start();
    let [mut target, mut tracker, mut writer] = std::array::from_fn(|_| Conn::open(server.addr()));
    target.command(&["HELLO", "3"]);
    tracker.command(&["HELLO", "3"]);
    let tid = client_id(&mut target);
    tracker.ok(&["CLIENT", "TRACKING", "ON", "REDIRECT", &tid]);
    tracker.command(&["GET", "j"]);
    writer.ok(&["SET", "j", "v"]);
    assert_eq!(
        target.read(),
        Frame::Push(vec![bulk("invalidate"), Frame::Array(vec![bulk("j")])])
    );
    drop(target);
    // The server notices the disconnect on its own time.
    std::thread::sleep(Duration::from_millis(100));
    tracker.command(&["GET", "j"]);
    writer.ok(&["SET", "j", "w"]);
    assert_eq!(
        tracker.read(),
        Frame::Push(vec![
            bulk("tracking-redir-broken"),
            Frame::Integer(tid.parse().unwrap())
        ])
    );
    let info = tracker.command(&["CLIENT", "TRACKINGINFO"]);
    let Frame::Map(fields) = info else {
        panic!("TRACKINGINFO answers a map: {info:?}");
    };
    assert_eq!(
        fields[0],
        (
            bulk("flags"),
            Frame::Set(vec![bulk("on"), bulk("broken_redirect")])
        )
    );
    let line = tracker.text(&["CLIENT", "INFO"]);
    assert!(line.contains(" flags=tR "), "{line}");
    assert!(line.contains(&format!(" redir={tid} ")), "{line}");
}

/// A RESP2 client tracking without a redirect can receive nothing on its own connection.
#[test]
fn a_resp2_tracker_without_redirect_hears_nothing() {
    let server = start();
    let [mut tracker, mut writer] = std::array::from_fn(|_| Conn::open(server.addr()));
    tracker.ok(&["CLIENT", "TRACKING", "ON"]);
    tracker.command(&["GET", "z"]);
    writer.ok(&["SET", "z", "1"]);
    assert!(tracker.silent_for(Duration::from_millis(100)));
    assert_eq!(tracker.command(&["PING"]), Frame::simple("PONG"));
}
