//! ACLs side by side with a real redis-server 7.0: every scenario runs against both, in
//! RESP2 and in RESP3, and the transcripts of replies must be equal.
//!
//! What is normalised, and why: Redis lists the single commands of a rule string
//! (`-@all +get +set`) in the order of its command hash table, which a random seed changes
//! from run to run of the same redis-server, so runs of `+cmd`/`-cmd` tokens are compared
//! as sets; so are the commands of `ACL CAT <category>`. ACL LOG's `age-seconds` is a
//! time, and its `client-info` carries addresses, fds and memory sizes: the age is only
//! checked to be a small number and the client line is reduced to the fields a client
//! controls (name, db, flags, multi, cmd, user, resp). GENPASS is random: its length is
//! compared.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{Conn, RedisServer};
use lockstep_resp::Frame;

/// Named connections to one server, and what they were answered.
struct Session {
    addr: SocketAddr,
    resp3: bool,
    conns: BTreeMap<&'static str, Conn>,
    out: Vec<Frame>,
    /// What each reply of `out` answered.
    asked: Vec<String>,
}

impl Session {
    fn new(addr: SocketAddr, resp3: bool) -> Session {
        Session {
            addr,
            resp3,
            conns: BTreeMap::new(),
            out: Vec::new(),
            asked: Vec::new(),
        }
    }

    fn conn(&mut self, name: &'static str) -> &mut Conn {
        let (addr, resp3) = (self.addr, self.resp3);
        self.conns.entry(name).or_insert_with(|| {
            let mut c = Conn::open(addr);
            if resp3 {
                let _ = c.command(&["HELLO", "3"]);
            }
            c
        })
    }

    /// Sends on `name`, records the normalised reply.
    fn on(&mut self, name: &'static str, args: &[&str]) -> Frame {
        let reply = normalise(self.conn(name).command(args));
        self.out.push(reply.clone());
        self.asked.push(format!("@{name} {args:?}"));
        reply
    }

    fn run(&mut self, args: &[&str]) -> Frame {
        self.on("main", args)
    }

    /// Runs every command on the main connection.
    fn all(&mut self, cmds: &[&[&str]]) {
        for c in cmds {
            self.run(c);
        }
    }

    /// The reply's elements compared as a set (ACL CAT of a category).
    fn unordered(&mut self, args: &[&str]) {
        let reply = match normalise(self.conn("main").command(args)) {
            Frame::Array(mut items) => {
                items.sort_by_key(|f| format!("{f:?}"));
                Frame::Array(items)
            }
            other => other,
        };
        self.out.push(reply);
        self.asked.push(format!("{args:?} (unordered)"));
    }

    /// Whether the server closed `name` (after a PING, which it may answer first).
    fn closed(&mut self, name: &'static str) {
        let c = self.conn(name);
        let _ = std::io::Write::write_all(&mut c.stream, b"PING\r\n");
        c.stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        let mut buf = [0u8; 256];
        let mut seen = Vec::new();
        let state = loop {
            match c.stream.read(&mut buf) {
                Ok(0) => break "closed",
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break "closed",
                Err(_) => break "open",
            }
        };
        self.conns.remove(name);
        self.out.push(Frame::simple(state));
        self.asked.push(format!("@{name} closed?"));
    }
}

/// Both protocols, each on a fresh redis-server and lockstep server; the replies are
/// compared one by one, the first difference named with what was asked.
fn both(scenario: impl Fn(&mut Session)) {
    for resp3 in [false, true] {
        let redis = RedisServer::start();
        let mut expected = Session::new(redis.addr(), resp3);
        scenario(&mut expected);
        let server = common::start();
        let mut actual = Session::new(server.addr(), resp3);
        scenario(&mut actual);
        for (i, (a, e)) in actual.out.iter().zip(&expected.out).enumerate() {
            assert_eq!(
                a, e,
                "reply {i} to {} (resp3 {resp3}): lockstep (left), redis-server (right)",
                expected.asked[i]
            );
        }
        assert_eq!(actual.out.len(), expected.out.len());
        eprintln!("compared {} replies (resp3 {resp3})", expected.out.len());
    }
}

fn normalise(frame: Frame) -> Frame {
    match frame {
        Frame::Bulk(b) if b.starts_with(b"id=") => Frame::Bulk(client_fields(&b)),
        Frame::Verbatim { text, .. } if text.starts_with(b"id=") => {
            Frame::Bulk(client_fields(&text))
        }
        Frame::Bulk(b) => Frame::Bulk(normalise_text(b)),
        Frame::Simple(b) => Frame::Simple(normalise_text(b)),
        Frame::Array(items) => Frame::Array(normalise_fields(items)),
        Frame::Set(items) => Frame::Set(items.into_iter().map(normalise).collect()),
        Frame::Map(pairs) => Frame::Map(
            pairs
                .into_iter()
                .map(|(k, v)| {
                    let v = normalise_field(&k, v);
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// A RESP2 flat key/value array: the values of ACL LOG's fields normalised by key.
fn normalise_fields(items: Vec<Frame>) -> Vec<Frame> {
    let is_log = items
        .iter()
        .any(|f| matches!(f, Frame::Bulk(b) if b.as_ref() == b"age-seconds"))
        || matches!(items.first(), Some(Frame::Bulk(b)) if b.as_ref() == b"server");
    if !is_log {
        return items.into_iter().map(normalise).collect();
    }
    let mut out = Vec::with_capacity(items.len());
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let v = normalise_field(&k, v);
        out.push(k);
        out.push(v);
    }
    out
}

fn normalise_field(key: &Frame, value: Frame) -> Frame {
    let Frame::Bulk(k) = key else {
        return normalise(value);
    };
    match k.as_ref() {
        b"age-seconds" => {
            let age: f64 = match &value {
                Frame::Double(d) => *d,
                Frame::Bulk(b) => std::str::from_utf8(b).unwrap().parse().unwrap(),
                other => panic!("age-seconds {other:?}"),
            };
            assert!((0.0..30.0).contains(&age), "age {age}");
            Frame::simple(if matches!(value, Frame::Double(_)) {
                "double age"
            } else {
                "bulk age"
            })
        }
        b"client-info" => {
            let Frame::Bulk(line) = value else {
                panic!("client-info {value:?}")
            };
            Frame::Bulk(client_fields(&line))
        }
        b"id" => Frame::simple("an id"),
        _ => normalise(value),
    }
}

/// A CLIENT LIST line reduced to the fields a client controls (no ids, addresses, fds,
/// ages or memory sizes).
fn client_fields(line: &[u8]) -> Bytes {
    let line = String::from_utf8_lossy(line).into_owned();
    let kept: Vec<&str> = line
        .trim_end()
        .split(' ')
        .filter(|f| {
            let key = f.split('=').next().unwrap_or("");
            matches!(
                key,
                "name" | "db" | "flags" | "multi" | "cmd" | "user" | "resp"
            )
        })
        .collect();
    Bytes::from(kept.join(" "))
}

/// Sorts each run of single-command rules (`+get -set`) of a rule string.
fn normalise_text(b: Bytes) -> Bytes {
    let Ok(text) = std::str::from_utf8(&b) else {
        return b;
    };
    if !text.contains("@all") {
        return b;
    }
    let spaced = text.replace(')', " )");
    let mut tokens: Vec<&str> = spaced.split(' ').collect();
    let single = |t: &str| (t.starts_with('+') || t.starts_with('-')) && !t.contains('@');
    let mut i = 0;
    while i < tokens.len() {
        if single(tokens[i]) {
            let start = i;
            while i < tokens.len() && single(tokens[i]) {
                i += 1;
            }
            tokens[start..i].sort_unstable();
        } else {
            i += 1;
        }
    }
    Bytes::from(tokens.join(" ").replace(" )", ")"))
}

#[test]
fn default_user_as_redis_shows_it() {
    both(|s| {
        s.all(&[
            &["ACL", "WHOAMI"],
            &["ACL", "USERS"],
            &["ACL", "LIST"],
            &["ACL", "GETUSER", "default"],
            &["ACL", "GETUSER", "nobody"],
            &["ACL", "CAT"],
            &["ACL", "HELP"],
            &["ACL"],
            &["ACL", "NOSUCH"],
            &["ACL", "WHOAMI", "x"],
            &["ACL", "LIST", "x"],
            &["ACL", "USERS", "x"],
            &["ACL", "GETUSER"],
            &["ACL", "LOAD"],
            &["ACL", "SAVE"],
            &["ACL", "LOG"],
            &["ACL", "LOG", "RESET"],
            &["ACL", "LOG", "x"],
            &["ACL", "LOG", "-1"],
            &["ACL", "LOG", "1", "2"],
        ]);
    });
}

#[test]
fn category_lists_are_redis_s() {
    both(|s| {
        // Every category Redis has (asked of both servers), and one in capitals.
        let categories = lockstep_server::acl::CATEGORIES.iter().copied();
        for cat in categories.chain(["STRING"]) {
            s.unordered(&["ACL", "CAT", cat]);
        }
        s.run(&["ACL", "CAT", "nosuch"]);
        s.run(&["ACL", "CAT", "all"]);
        s.run(&["ACL", "CAT", "a", "b"]);
    });
}

#[test]
fn command_list_and_count_include_the_acl_family() {
    both(|s| {
        // COUNT itself differs while lockstep lacks other commands; the ACL family is there.
        s.unordered(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "acl*"]);
        s.run(&["COMMAND", "INFO", "acl|whoami"]);
        s.run(&["COMMAND", "DOCS", "acl|whoami"]);
    });
}

#[test]
fn setuser_rules_render_as_redis_renders_them() {
    both(|s| {
        let cases: &[&[&str]] = &[
            &["ACL", "SETUSER", "u1"],
            &[
                "ACL", "SETUSER", "u2", "on", ">p1", ">p2", "~a*", "&ch", "+get",
            ],
            &[
                "ACL",
                "SETUSER",
                "u3",
                "on",
                "nopass",
                "allkeys",
                "allchannels",
                "allcommands",
            ],
            &[
                "ACL",
                "SETUSER",
                "u4",
                "+@hash",
                "-hset",
                "+client|kill",
                "+select|0",
                "+select|1",
            ],
            &[
                "ACL",
                "SETUSER",
                "u5",
                "+@all",
                "-@dangerous",
                "-debug",
                "+flushall",
            ],
            &[
                "ACL", "SETUSER", "u6", "%R~r*", "%W~w*", "%RW~b*", "~r*", "%R~w*",
            ],
            &[
                "ACL",
                "SETUSER",
                "u7",
                "#f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a",
                "<p1",
            ],
            &[
                "ACL",
                "SETUSER",
                "u8",
                ">x",
                ">y",
                "!a1fce4363854ff888cff4b8e7875d600c2682390412a8cf79b37d0b11148b0fa",
                "<y",
            ],
            &[
                "ACL",
                "SETUSER",
                "u9",
                "(+get ~k*)",
                "(+set",
                "~w*",
                "&c)",
                "+ping",
            ],
            &[
                "ACL",
                "SETUSER",
                "u10",
                "+@read",
                "+@write",
                "-@keyspace",
                "skip-sanitize-payload",
            ],
            &[
                "ACL",
                "SETUSER",
                "u11",
                "sanitize-payload",
                "+@all",
                "-@all",
                "+info",
            ],
            &[
                "ACL",
                "SETUSER",
                "u12",
                "+@string",
                "+@list",
                "+@set",
                "+@sortedset",
            ],
            &[
                "ACL",
                "SETUSER",
                "u13",
                "allcommands",
                "-config",
                "+config|get",
            ],
            &[
                "ACL",
                "SETUSER",
                "u14",
                "nocommands",
                "+config",
                "-config|set",
                "-config|rewrite",
            ],
            &["ACL", "SETUSER", "u15", "+@admin", "-@dangerous"],
            &[
                "ACL",
                "SETUSER",
                "u16",
                "+@pubsub",
                "+@scripting",
                "+@transaction",
                "+@connection",
            ],
            &["ACL", "SETUSER", "u17", "+@all", "-@write", "-@read"],
            &[
                "ACL",
                "SETUSER",
                "u18",
                "ON",
                "NOPASS",
                "RESETKEYS",
                "~x",
                "RESETCHANNELS",
                "&y",
                "+GET",
                "+Client|Kill",
            ],
            &[
                "ACL",
                "SETUSER",
                "u19",
                "+debug|object",
                "+debug|sleep",
                "+debug|object",
            ],
            &["ACL", "SETUSER", "u20", "%r~lower", "%w~lower2"],
            &[
                "ACL",
                "SETUSER",
                "u21",
                "+@geo",
                "+@stream",
                "+@bitmap",
                "+@hyperloglog",
                "-@slow",
            ],
            &["ACL", "SETUSER", "u22", "+@blocking", "+@fast"],
            &["ACL", "SETUSER", "u23", "", "on"],
            &["ACL", "SETUSER", "u24", "%R~"],
        ];
        for c in cases {
            s.run(c);
            s.run(&["ACL", "GETUSER", c[2]]);
        }
        s.run(&["ACL", "LIST"]);
        s.run(&["ACL", "USERS"]);
        // Later rules change existing users.
        s.all(&[
            &[
                "ACL",
                "SETUSER",
                "u2",
                "resetpass",
                "resetkeys",
                "resetchannels",
                "-get",
            ],
            &["ACL", "GETUSER", "u2"],
            &["ACL", "SETUSER", "u9", "clearselectors"],
            &["ACL", "GETUSER", "u9"],
            &["ACL", "SETUSER", "u3", "reset"],
            &["ACL", "GETUSER", "u3"],
            &["ACL", "SETUSER", "u6", "allkeys"],
            &["ACL", "GETUSER", "u6"],
            &["ACL", "SETUSER", "u4", "+select"],
            &["ACL", "GETUSER", "u4"],
            &["ACL", "SETUSER", "u4", "-select", "+select|5"],
            &["ACL", "GETUSER", "u4"],
            &["ACL", "SETUSER", "u4", "-@all"],
            &["ACL", "GETUSER", "u4"],
            &["ACL", "LIST"],
        ]);
    });
}

#[test]
fn setuser_errors_are_redis_s_and_change_nothing() {
    both(|s| {
        s.run(&["ACL", "SETUSER", "e", "on", ">pw", "~k"]);
        let bad: &[&[&str]] = &[
            &["ACL", "SETUSER", "e", "off", "bogus"],
            &["ACL", "SETUSER", "e", "+nosuchcommand"],
            &["ACL", "SETUSER", "e", "-nosuchcommand"],
            &["ACL", "SETUSER", "e", "+@nosuchcategory"],
            &["ACL", "SETUSER", "e", "-@nosuchcategory"],
            &["ACL", "SETUSER", "e", "allkeys", "~more"],
            &["ACL", "SETUSER", "e", "allkeys", "%R~more"],
            &["ACL", "SETUSER", "e", "allchannels", "&more"],
            &["ACL", "SETUSER", "e", "<notapassword"],
            &[
                "ACL",
                "SETUSER",
                "e",
                "!0000000000000000000000000000000000000000000000000000000000000000",
            ],
            &["ACL", "SETUSER", "e", "#abc"],
            &[
                "ACL",
                "SETUSER",
                "e",
                "#F64551FCD6F07823CB87971CFB91446425DA18286B3AB1EF935E0CBD7A69F68A",
            ],
            &["ACL", "SETUSER", "e", "!xyz"],
            &["ACL", "SETUSER", "e", "+client|kill|x"],
            &["ACL", "SETUSER", "e", "+select|"],
            &["ACL", "SETUSER", "e", "+select|0|1"],
            &["ACL", "SETUSER", "e", "+client|nosuch"],
            &["ACL", "SETUSER", "e", "-client|nosuch"],
            &["ACL", "SETUSER", "e", "-select|0"],
            &["ACL", "SETUSER", "e", "%~foo"],
            &["ACL", "SETUSER", "e", "%X~foo"],
            &["ACL", "SETUSER", "e", "%RR~foo"],
            &["ACL", "SETUSER", "e", "%RWR~a"],
            &["ACL", "SETUSER", "e", "(+get"],
            &["ACL", "SETUSER", "e", "on", "(+get", "~x"],
            &["ACL", "SETUSER", "e", "(+nosuch)"],
            &["ACL", "SETUSER", "e", "(on)"],
            &["ACL", "SETUSER", "e", "(~a ~b) (nopass)"],
            &["ACL", "SETUSER", "has space"],
            &["ACL", "SETUSER", "e", "~has\tspace"],
            &["ACL", "SETUSER"],
            &["ACL", "SETUSER", "e", "*"],
            &["ACL", "SETUSER", "e", "get"],
            &["ACL", "SETUSER", "e", "(\"\")"],
            &["ACL", "SETUSER", "e", ")"],
            &["ACL", "SETUSER", "e", "(~a \"b c\")"],
            &["ACL", "SETUSER", "e", "(+get \"~a\" '~b')"],
            &["ACL", "SETUSER", "e", "(~a 'b)", "()"],
            &["ACL", "SETUSER", "e", "~\u{0}x"],
            &["ACL", "SETUSER", "e", "&\u{b}x"],
        ];
        for c in bad {
            s.run(c);
        }
        s.run(&["ACL", "GETUSER", "e"]);
        s.run(&["ACL", "USERS"]);
    });
}

#[test]
fn auth_and_hello_with_users() {
    both(|s| {
        s.all(&[
            &["ACL", "SETUSER", "alice", "on", ">apw", "~*", "&*", "+@all"],
            &["ACL", "SETUSER", "bob", "off", ">bpw", "+@all"],
            &["ACL", "SETUSER", "carol", "on", "nopass", "+@all"],
        ]);
        s.on("a", &["AUTH", "alice", "apw"]);
        s.on("a", &["ACL", "WHOAMI"]);
        s.on("a", &["AUTH", "alice", "wrong"]);
        s.on("a", &["ACL", "WHOAMI"]);
        s.on("a", &["AUTH", "bob", "bpw"]);
        s.on("a", &["AUTH", "nobody", "x"]);
        s.on("a", &["AUTH", "carol", "anything"]);
        s.on("a", &["ACL", "WHOAMI"]);
        s.on("a", &["AUTH", "apw"]);
        s.on("a", &["AUTH", "a", "b", "c"]);
        s.on(
            "b",
            &["HELLO", "2", "AUTH", "alice", "apw", "SETNAME", "cli"],
        );
        s.on("b", &["ACL", "WHOAMI"]);
        s.on("b", &["HELLO", "2", "AUTH", "alice", "nope"]);
        s.on("b", &["HELLO", "2", "AUTH", "bob", "bpw"]);
        s.on("b", &["CLIENT", "INFO"]);
        s.on("b", &["RESET"]);
        s.on("b", &["ACL", "WHOAMI"]);
        // requirepass is the default user's password.
        s.run(&["CONFIG", "SET", "requirepass", "rp"]);
        s.run(&["ACL", "GETUSER", "default"]);
        s.run(&["ACL", "LIST"]);
        s.on("c", &["GET", "x"]);
        s.on("c", &["AUTH", "wrong"]);
        s.on("c", &["AUTH", "rp"]);
        s.on("c", &["ACL", "WHOAMI"]);
        s.on("d", &["HELLO", "2", "AUTH", "default", "rp"]);
        s.on("e", &["HELLO"]);
        s.on("e", &["AUTH", "alice", "apw"]);
        s.on("e", &["ACL", "WHOAMI"]);
        s.run(&["ACL", "SETUSER", "default", ">second"]);
        s.on("f", &["AUTH", "second"]);
        s.run(&["CONFIG", "SET", "requirepass", ""]);
        s.run(&["ACL", "GETUSER", "default"]);
        s.on("g", &["AUTH", "x"]);
        s.on("g", &["PING"]);
        s.run(&["ACL", "SETUSER", "default", "resetpass"]);
        s.on("h", &["PING"]);
        s.on("h", &["AUTH", "carol", "z"]);
        s.on("h", &["PING"]);
        s.run(&["ACL", "SETUSER", "default", "nopass"]);
        s.run(&["ACL", "LOG", "5"]);
    });
}

#[test]
fn a_default_user_turned_off_makes_new_clients_authenticate() {
    both(|s| {
        s.run(&["ACL", "SETUSER", "adm", "on", ">pw", "+@all", "~*", "&*"]);
        s.run(&["ACL", "SETUSER", "default", "off"]);
        s.run(&["PING"]);
        s.on("n", &["PING"]);
        s.on("n", &["AUTH", "x"]);
        s.on("n", &["AUTH", "default", "x"]);
        s.on("n", &["HELLO", "2", "AUTH", "default", "x"]);
        s.on("n", &["AUTH", "adm", "pw"]);
        s.on("n", &["ACL", "WHOAMI"]);
        s.on("n", &["ACL", "SETUSER", "default", "on"]);
        s.on("m", &["PING"]);
        s.run(&["ACL", "LOG", "3"]);
        s.run(&["ACL", "SETUSER", "default", "-@all", "+ping", "resetkeys"]);
        s.on("o", &["PING"]);
        s.on("o", &["GET", "k"]);
        s.on("o", &["ACL", "WHOAMI"]);
        s.on("o", &["AUTH", "adm", "pw"]);
        s.on("o", &["GET", "k"]);
        s.on("o", &["RESET"]);
        s.on("o", &["GET", "k"]);
    });
}

#[test]
fn noperm_for_commands_keys_and_channels() {
    both(|s| {
        s.all(&[
            &[
                "ACL",
                "SETUSER",
                "u",
                "on",
                "nopass",
                "~k*",
                "%R~ro*",
                "%W~wo*",
                "&news.*",
                "+get",
                "+set",
                "+publish",
                "+subscribe",
                "+psubscribe",
                "+mget",
                "+copy",
                "+lmove",
                "+client|id",
                "+select|0",
                "+config|get",
                "+ping",
                "+multi",
                "+exec",
                "+discard",
                "+object",
                "+sort",
                "+acl|whoami",
            ],
            &["SET", "ro1", "v"],
            &["SET", "k1", "v"],
        ]);
        let cases: &[&[&str]] = &[
            &["AUTH", "u", "x"],
            &["GET", "k1"],
            &["GET", "other"],
            &["SET", "k2", "v"],
            &["SET", "ro1", "v"],
            &["GET", "ro1"],
            &["GET", "wo1"],
            &["SET", "wo1", "v"],
            &["DEL", "k1"],
            &["MGET", "k1", "k2", "x", "y"],
            &["MGET", "k1", "ro1", "wo1"],
            &["COPY", "ro1", "wo2"],
            &["COPY", "wo2", "ro1"],
            &["COPY", "k1", "k3"],
            &["LMOVE", "k1", "ro1", "LEFT", "RIGHT"],
            &["CLIENT", "KILL", "ID", "1"],
            &["CLIENT", "LIST"],
            &["SELECT", "0"],
            &["SELECT", "1"],
            &["CONFIG", "GET", "maxmemory"],
            &["CONFIG", "SET", "maxmemory", "0"],
            &["OBJECT", "ENCODING", "k1"],
            &["SORT", "k1", "BY", "nosort"],
            &["PUBLISH", "news.a", "m"],
            &["PUBLISH", "sport", "m"],
            &["PING"],
            &["ACL", "WHOAMI"],
            &["ACL", "LIST"],
            &["FLUSHALL"],
            &["ACL", "SETUSER", "x"],
            &["NOSUCHCMD"],
            &["GET"],
        ];
        for c in cases {
            s.on("u", c);
        }
        s.on("p", &["AUTH", "u", "x"]);
        s.on("p", &["SUBSCRIBE", "news.x", "other"]);
        s.on("q", &["AUTH", "u", "x"]);
        s.on("q", &["PSUBSCRIBE", "news.*"]);
        s.on("q", &["PSUBSCRIBE", "news.x*"]);
        s.on("r", &["AUTH", "u", "x"]);
        s.on("r", &["SUBSCRIBE", "news.x"]);
        s.on("r", &["UNSUBSCRIBE", "other"]);
        s.run(&["ACL", "LOG", "50"]);
        s.run(&["ACL", "LOG", "RESET"]);
        s.run(&["ACL", "LOG"]);
    });
}

#[test]
fn selectors_allow_what_the_root_does_not() {
    both(|s| {
        s.all(&[
            &[
                "ACL",
                "SETUSER",
                "sel",
                "on",
                "nopass",
                "+get",
                "~a*",
                "(+set ~b*)",
                "(+get ~c* %R~d*)",
            ],
            &["ACL", "GETUSER", "sel"],
        ]);
        for c in [
            &["AUTH", "sel", "x"][..],
            &["GET", "a1"],
            &["GET", "c1"],
            &["GET", "d1"],
            &["GET", "b1"],
            &["SET", "b1", "v"],
            &["SET", "a1", "v"],
            &["SET", "d1", "v"],
            &["DEL", "a1"],
        ] {
            s.on("u", c);
        }
        s.run(&["ACL", "LOG", "10"]);
        for c in [
            &["ACL", "DRYRUN", "sel", "GET", "a1"][..],
            &["ACL", "DRYRUN", "sel", "GET", "zz"],
            &["ACL", "DRYRUN", "sel", "SET", "b2", "v"],
            &["ACL", "DRYRUN", "sel", "SET", "zz", "v"],
            &["ACL", "DRYRUN", "sel", "DEL", "a1"],
            &["ACL", "DRYRUN", "sel", "GET"],
            &["ACL", "DRYRUN", "sel", "NOSUCH", "x"],
            &["ACL", "DRYRUN", "nobody", "GET", "x"],
            &["ACL", "DRYRUN", "default", "FLUSHALL"],
            &["ACL", "DRYRUN", "sel"],
        ] {
            s.run(c);
        }
        s.run(&[
            "ACL",
            "SETUSER",
            "ch",
            "on",
            "nopass",
            "resetchannels",
            "&a",
            "+publish",
            "+subscribe",
        ]);
        s.run(&["ACL", "DRYRUN", "ch", "PUBLISH", "a", "m"]);
        s.run(&["ACL", "DRYRUN", "ch", "PUBLISH", "b", "m"]);
        s.run(&["ACL", "DRYRUN", "ch", "SUBSCRIBE", "a", "b"]);
    });
}

#[test]
fn multi_queues_nothing_the_user_may_not_run() {
    both(|s| {
        s.run(&[
            "ACL", "SETUSER", "m", "on", "nopass", "~k*", "+multi", "+exec", "+discard", "+get",
            "+set",
        ]);
        for c in [
            &["AUTH", "m", "x"][..],
            &["MULTI"],
            &["SET", "k1", "v"],
            &["GET", "other"],
            &["DEL", "k1"],
            &["EXEC"],
            &["MULTI"],
            &["SET", "k1", "v"],
            &["GET", "k1"],
            &["EXEC"],
        ] {
            s.on("u", c);
        }
        s.run(&["ACL", "LOG", "2"]);
    });
}

#[test]
fn scripts_raise_the_users_noperm() {
    both(|s| {
        s.run(&[
            "ACL", "SETUSER", "lua", "on", "nopass", "~k*", "&c", "+eval", "+get", "+publish",
        ]);
        for c in [
            &["AUTH", "lua", "x"][..],
            &["EVAL", "return redis.call('get','k1')", "0"],
            &["EVAL", "return redis.call('get','zz')", "0"],
            &["EVAL", "return redis.call('del','k1')", "0"],
            &["EVAL", "return redis.pcall('del','k1')", "0"],
            &["EVAL", "return redis.pcall('get','zz')", "0"],
            &["EVAL", "return redis.call('publish','c','m')", "0"],
            &["EVAL", "return redis.call('publish','d','m')", "0"],
            &["EVAL", "return 1", "1", "zz"],
            &["EVAL", "return 1", "1", "k9"],
        ] {
            s.on("u", c);
        }
        s.run(&["ACL", "LOG", "5"]);
        // Functions run under the caller's user too.
        s.run(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=acllib\nredis.register_function('getit', function(keys) return redis.call('get', keys[1]) end)",
        ]);
        s.run(&["ACL", "SETUSER", "lua", "+fcall"]);
        s.on("u", &["FCALL", "getit", "1", "k1"]);
        s.on("u", &["FCALL", "getit", "1", "zz"]);
        s.run(&["ACL", "SETUSER", "lua", "%R~zz"]);
        s.on("u", &["FCALL", "getit", "1", "zz"]);
    });
}

#[test]
fn the_log_groups_like_entries_and_keeps_acllog_max_len() {
    both(|s| {
        s.run(&["ACL", "SETUSER", "lg", "on", "nopass", "+get", "~k*"]);
        s.on("u", &["AUTH", "lg", "x"]);
        for _ in 0..3 {
            s.on("u", &["GET", "zz"]);
        }
        s.on("u", &["SET", "k", "v"]);
        s.on("u", &["GET", "yy"]);
        s.on("u", &["GET", "zz"]);
        s.run(&["ACL", "LOG"]);
        s.run(&["ACL", "LOG", "1"]);
        s.run(&["ACL", "LOG", "0"]);
        s.run(&["CONFIG", "SET", "acllog-max-len", "2"]);
        s.on("u", &["DEL", "k"]);
        s.run(&["ACL", "LOG"]);
        s.run(&["CONFIG", "SET", "acllog-max-len", "0"]);
        s.on("u", &["DEL", "k"]);
        s.run(&["ACL", "LOG"]);
    });
}

#[test]
fn deleting_or_disabling_users_and_their_clients() {
    both(|s| {
        s.run(&["ACL", "SETUSER", "d1", "on", ">p", "+@all", "~*"]);
        s.run(&["ACL", "SETUSER", "d2", "on", ">p", "+@all", "~*"]);
        s.on("c1", &["AUTH", "d1", "p"]);
        s.on("c2", &["AUTH", "d2", "p"]);
        s.on("c3", &["AUTH", "d2", "p"]);
        s.run(&["ACL", "DELUSER", "default"]);
        s.run(&["ACL", "DELUSER", "d1", "default"]);
        s.run(&["ACL", "DELUSER", "d1", "nobody", "d1"]);
        s.closed("c1");
        s.on("c2", &["PING"]);
        s.run(&["CLIENT", "KILL", "USER", "nobody"]);
        s.run(&["CLIENT", "KILL", "USER", "d2"]);
        s.closed("c2");
        s.closed("c3");
        s.run(&["ACL", "USERS"]);
        // Turning a user off or changing its passwords leaves its clients connected.
        s.run(&["ACL", "SETUSER", "d2", "on", ">p", "+@all", "~*"]);
        s.on("c6", &["AUTH", "d2", "p"]);
        s.run(&["ACL", "SETUSER", "d2", "off", "resetpass", ">other"]);
        s.on("c6", &["PING"]);
        s.on("c6", &["ACL", "WHOAMI"]);
        s.on("c7", &["AUTH", "d2", "other"]);
        s.run(&["ACL", "SETUSER", "d3", "on", ">p", "+@all"]);
        s.on("c4", &["AUTH", "d3", "p"]);
        s.on("c4", &["ACL", "DELUSER", "d3"]);
        s.closed("c4");
        // A subscriber whose channel is taken away is disconnected.
        s.run(&[
            "ACL",
            "SETUSER",
            "sub",
            "on",
            ">p",
            "+@all",
            "resetchannels",
            "&n1",
            "&n2",
        ]);
        s.on("c5", &["AUTH", "sub", "p"]);
        s.on("c5", &["SUBSCRIBE", "n1"]);
        s.run(&["ACL", "SETUSER", "sub", "&n3"]);
        s.run(&["PUBLISH", "n1", "still"]);
        s.on("c5", &["PING"]);
        s.run(&["ACL", "SETUSER", "sub", "resetchannels", "&n2"]);
        s.closed("c5");
    });
}

#[test]
fn client_list_names_the_user() {
    both(|s| {
        s.run(&["ACL", "SETUSER", "cl", "on", ">p", "+@all", "~*"]);
        s.on("c", &["AUTH", "cl", "p"]);
        s.on("c", &["CLIENT", "SETNAME", "me"]);
        let info = s.on("c", &["CLIENT", "INFO"]);
        let text = match info {
            Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => b,
            other => panic!("{other:?}"),
        };
        // Only the user field is compared; the rest is addresses and sizes.
        s.out.pop();
        let user = String::from_utf8_lossy(&text)
            .split(' ')
            .find(|f| f.starts_with("user="))
            .unwrap_or("")
            .to_string();
        s.out.push(Frame::Bulk(Bytes::from(user)));
    });
}

#[test]
fn genpass_gives_the_bits_asked_for() {
    both(|s| {
        for args in [
            &["ACL", "GENPASS"][..],
            &["ACL", "GENPASS", "1"],
            &["ACL", "GENPASS", "5"],
            &["ACL", "GENPASS", "4096"],
        ] {
            let reply = s.conn("main").command(args);
            let len = match reply {
                Frame::Bulk(b) => {
                    assert!(b.iter().all(|c| c.is_ascii_hexdigit()));
                    b.len() as i64
                }
                other => panic!("{other:?}"),
            };
            s.out.push(Frame::Integer(len));
        }
        s.run(&["ACL", "GENPASS", "0"]);
        s.run(&["ACL", "GENPASS", "4097"]);
        s.run(&["ACL", "GENPASS", "x"]);
        s.run(&["ACL", "GENPASS", "1", "2"]);
    });
}
