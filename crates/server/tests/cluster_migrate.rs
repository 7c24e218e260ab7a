//! MIGRATE between any two of redis-server and lockstep: the same script from a real
//! source to a real target (the oracle), and from lockstep to real, real to lockstep and
//! lockstep to lockstep. Replies must be byte-identical, errors included (the target's
//! NOAUTH, WRONGPASS, BUSYKEY and SELECT errors, NOKEY, IOERR, the option errors), and the
//! target must end up with the same values.

mod common;

use common::{free_port, Conn, RedisServer};
use lockstep_resp::Frame;
use lockstep_server::{EmbeddedServer, ServerConfig};

/// A server of either kind, kept alive for the test.
enum Server {
    Real(RedisServer),
    Ours(EmbeddedServer),
}

impl Server {
    fn real(password: Option<&str>) -> Server {
        match password {
            Some(pw) => Server::Real(RedisServer::start_with(&["--requirepass", pw])),
            None => Server::Real(RedisServer::start()),
        }
    }

    fn ours(password: Option<&str>) -> Server {
        let mut config = ServerConfig::ephemeral();
        config.requirepass = password.map(str::to_string);
        Server::Ours(EmbeddedServer::start(config).expect("lockstep starts"))
    }

    fn port(&self) -> u16 {
        match self {
            Server::Real(s) => s.port,
            Server::Ours(s) => s.addr().port(),
        }
    }

    fn conn(&self) -> Conn {
        Conn::open(std::net::SocketAddr::from(([127, 0, 0, 1], self.port())))
    }
}

/// The script, run against `source` with `target` as MIGRATE's target: every reply of
/// the source, then what the target holds.
fn migrate_script(source: &Server, target: &Server) -> Vec<(String, Frame)> {
    let t = target.port().to_string();
    let closed = free_port().to_string();
    let mut src = source.conn();
    let mut replies = Vec::new();
    let script: Vec<Vec<&str>> = vec![
        vec!["SET", "k", "v"],
        vec!["SET", "k2", "v2"],
        vec!["HSET", "h", "a", "1", "b", "2"],
        vec!["EXPIRE", "h", "100"],
        vec!["RPUSH", "l", "a", "b", "c"],
        vec!["ZADD", "z", "1", "one", "2", "two"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "1000"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "1000", "AUTH", "bad"],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &t,
            "k",
            "0",
            "1000",
            "AUTH",
            "pw",
            "COPY",
        ],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &t,
            "k",
            "0",
            "1000",
            "AUTH",
            "pw",
            "COPY",
        ],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &t,
            "k",
            "0",
            "1000",
            "AUTH2",
            "default",
            "pw",
            "COPY",
            "REPLACE",
        ],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "1000", "AUTH"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "1000", "AUTH2", "x"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "1000", "FOO"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "1000", "KEYS", "k2"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "x", "1000"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "x"],
        vec!["MIGRATE", "127.0.0.1", &t, "missing", "0", "1000"],
        vec!["MIGRATE", "127.0.0.1", &t, "", "0", "1000", "KEYS"],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &t,
            "",
            "0",
            "1000",
            "AUTH",
            "pw",
            "KEYS",
            "k",
            "k2",
            "h",
            "l",
            "nope",
        ],
        vec!["EXISTS", "k", "k2", "h", "l", "z"],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &t,
            "k",
            "0",
            "1000",
            "AUTH",
            "pw",
            "REPLACE",
        ],
        vec!["EXISTS", "k"],
        vec!["MIGRATE", "127.0.0.1", &t, "z", "9", "1000", "AUTH", "pw"],
        vec!["MIGRATE", "127.0.0.1", &closed, "z", "0", "100"],
        vec!["MIGRATE", "nosuchhost.invalid", &t, "z", "0", "100"],
        vec!["MIGRATE", "127.0.0.1", &t, "z", "0", "-5", "AUTH", "pw"],
        vec!["EXISTS", "z"],
    ];
    for args in &script {
        replies.push((args.join(" "), src.command(args)));
    }
    let mut dst = target.conn();
    dst.command(&["AUTH", "pw"]);
    for args in [
        &["GET", "k"][..],
        &["GET", "k2"],
        &["HGETALL", "h"],
        &["LRANGE", "l", "0", "-1"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        &["DBSIZE"],
    ] {
        replies.push((format!("target {}", args.join(" ")), dst.command(args)));
    }
    // The TTL went along, less the time on the way.
    let ttl = common::int_of(&dst.command(&["TTL", "h"]));
    assert!((95..=100).contains(&ttl), "TTL of h on the target: {ttl}");
    replies
}

#[test]
fn migrate_answers_as_redis_between_any_two_servers() {
    let want = migrate_script(&Server::real(None), &Server::real(Some("pw")));
    for (name, source, target) in [
        (
            "lockstep to redis",
            Server::ours(None),
            Server::real(Some("pw")),
        ),
        (
            "redis to lockstep",
            Server::real(None),
            Server::ours(Some("pw")),
        ),
        (
            "lockstep to lockstep",
            Server::ours(None),
            Server::ours(Some("pw")),
        ),
    ] {
        let got = migrate_script(&source, &target);
        assert_eq!(got.len(), want.len());
        for ((command, got), (_, want)) in got.iter().zip(&want) {
            assert_eq!(got, want, "{name}: {command}");
        }
    }
}

#[test]
fn migrate_reuses_its_connection_and_selects_once() {
    let target = Server::real(None);
    let source = Server::ours(None);
    let t = target.port().to_string();
    let mut src = source.conn();
    let mut dst = target.conn();
    for i in 0..5 {
        let key = format!("k{i}");
        src.command(&["SET", &key, "v"]);
        let reply = src.command(&["MIGRATE", "127.0.0.1", &t, &key, "0", "1000"]);
        assert_eq!(reply, Frame::Simple("OK".into()));
    }
    // One connection from the source, which selected its database once.
    let clients = dst.text(&["CLIENT", "LIST"]);
    let from_source: Vec<&str> = clients
        .lines()
        .filter(|l| !l.contains("cmd=client|list"))
        .collect();
    assert_eq!(from_source.len(), 1, "{clients}");
    let stats = dst.text(&["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_select:calls=1,"), "{stats}");
    assert!(stats.contains("cmdstat_restore:calls=5,"), "{stats}");
}
