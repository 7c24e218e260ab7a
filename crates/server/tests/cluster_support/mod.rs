//! What the cluster tests share: real redis-server clusters on free loopback ports
//! (`RealCluster`), names for node ids and ports so that replies of two clusters compare
//! (`Names`), and the normalisations of CLUSTER replies whose order or timing Redis leaves
//! open.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lockstep_resp::Frame;

use crate::common::{Conn, TIMEOUT};

/// A redis-server in cluster mode, killed on drop.
pub struct RealNode {
    pub child: Child,
    pub port: u16,
}

impl Drop for RealNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Real redis-server nodes joined into one cluster by `redis-cli --cluster create`.
pub struct RealCluster {
    pub nodes: Vec<RealNode>,
    pub dir: PathBuf,
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free loopback port whose cluster bus port (+10000) is free too, as redis-server
/// needs in cluster mode.
pub fn cluster_port() -> u16 {
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if port <= 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

impl RealCluster {
    pub fn start(primaries: usize) -> RealCluster {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let dir = std::env::temp_dir().join(format!(
            "lockstep-real-cluster-{}-{}",
            std::process::id(),
            cluster_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut cluster = RealCluster {
            nodes: Vec::new(),
            dir,
        };
        for _ in 0..primaries {
            let port = cluster_port();
            let child = Command::new(&binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .arg("--cluster-config-file")
                .arg(cluster.dir.join(format!("nodes-{port}.conf")))
                .arg("--dir")
                .arg(&cluster.dir)
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("these tests need redis-server ({binary}): {e}"));
            cluster.nodes.push(RealNode { child, port });
        }
        let deadline = Instant::now() + TIMEOUT;
        for node in &cluster.nodes {
            while TcpStream::connect(("127.0.0.1", node.port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(
                cluster
                    .nodes
                    .iter()
                    .map(|n| format!("127.0.0.1:{}", n.port)),
            )
            .arg("--cluster-yes")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("these tests need redis-cli");
        assert!(status.success(), "redis-cli --cluster create failed");
        cluster.wait_settled(primaries);
        cluster
    }

    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes
            .iter()
            .map(|n| SocketAddr::from(([127, 0, 0, 1], n.port)))
            .collect()
    }

    /// Waits until every node reports the whole cluster: state ok, every node known with
    /// its epoch, every slot range.
    pub fn wait_settled(&self, primaries: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let want_epoch = format!("cluster_current_epoch:{primaries}");
        let want_known = format!("cluster_known_nodes:{primaries}");
        loop {
            let settled = self.addrs().iter().all(|&addr| {
                let mut conn = Conn::open(addr);
                let info = conn.text(&["CLUSTER", "INFO"]);
                let nodes = conn.text(&["CLUSTER", "NODES"]);
                info.contains("cluster_state:ok")
                    && info.contains(&want_epoch)
                    && info.contains(&want_known)
                    && nodes.lines().count() == primaries
                    && nodes
                        .lines()
                        .all(|l| l.contains(" connected ") && l.split(' ').count() > 8)
            });
            if settled {
                return;
            }
            assert!(Instant::now() < deadline, "the real cluster did not settle");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// How a cluster's ids and ports are named in compared replies: node `i` is the one
/// holding the `i`-th slot range.
pub struct Names {
    pub ids: Vec<String>,
    pub ports: Vec<u16>,
}

impl Names {
    /// Reads the names from CLUSTER NODES of the node at `addr`.
    pub fn of(addr: SocketAddr) -> Names {
        let nodes = Conn::open(addr).text(&["CLUSTER", "NODES"]);
        let mut rows: Vec<(u32, String, u16)> = nodes
            .lines()
            .map(|line| {
                let cols: Vec<&str> = line.split(' ').collect();
                let port = cols[1]
                    .split('@')
                    .next()
                    .and_then(|a| a.rsplit(':').next())
                    .and_then(|p| p.parse().ok())
                    .expect("a port");
                let first: u32 = cols
                    .get(8)
                    .and_then(|s| s.split('-').next())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(u32::MAX);
                (first, cols[0].to_string(), port)
            })
            .collect();
        rows.sort();
        Names {
            ids: rows.iter().map(|r| r.1.clone()).collect(),
            ports: rows.iter().map(|r| r.2).collect(),
        }
    }

    pub fn text(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (i, id) in self.ids.iter().enumerate() {
            text = text.replace(id.as_str(), &format!("<node{i}>"));
        }
        for (i, port) in self.ports.iter().enumerate() {
            text = text.replace(&format!(":{port}"), &format!(":<port{i}>"));
        }
        // Bus ports: nothing listens on lockstep's, so only their place is compared.
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find('@') {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits > 0 {
                out.push_str("<bus>");
                rest = &rest[digits..];
            }
        }
        out.push_str(rest);
        out
    }

    /// The frame with ids and ports named; integers equal to a port become its name.
    pub fn frame(&self, frame: Frame) -> Frame {
        let named = |b: &Bytes| Bytes::from(self.text(&String::from_utf8_lossy(b)));
        match frame {
            Frame::Simple(b) => Frame::Simple(named(&b)),
            Frame::Error(b) => Frame::Error(named(&b)),
            Frame::Bulk(b) => Frame::Bulk(named(&b)),
            Frame::Verbatim { format, text } => Frame::Verbatim {
                format,
                text: named(&text),
            },
            Frame::Integer(n) => match self.ports.iter().position(|&p| i64::from(p) == n) {
                Some(i) => Frame::Simple(Bytes::from(format!("<port{i}>"))),
                None => Frame::Integer(n),
            },
            Frame::Array(items) => Frame::Array(items.into_iter().map(|f| self.frame(f)).collect()),
            Frame::Set(items) => Frame::Set(items.into_iter().map(|f| self.frame(f)).collect()),
            Frame::Push(items) => Frame::Push(items.into_iter().map(|f| self.frame(f)).collect()),
            Frame::Map(pairs) => Frame::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (self.frame(k), self.frame(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

/// One side of the comparison: a cluster's node addresses (slot order) and names.
pub struct Side {
    pub name: &'static str,
    pub addrs: Vec<SocketAddr>,
    pub names: Names,
}

impl Side {
    pub fn new(name: &'static str, addrs: Vec<SocketAddr>) -> Side {
        let names = Names::of(addrs[0]);
        let addrs = names
            .ports
            .iter()
            .map(|&p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect();
        Side { name, addrs, names }
    }

    /// A connection to node `i` speaking `protocol`.
    pub fn conn(&self, i: usize, protocol: u8) -> Conn {
        let mut conn = Conn::open(self.addrs[i]);
        if protocol == 3 {
            conn.command(&["HELLO", "3"]);
        }
        conn
    }
}

pub struct Pair {
    pub real: Side,
    pub ours: Side,
}

impl Pair {
    /// Sends each command to node 0 of both clusters on one connection per side and
    /// compares the named replies; `!sleep MS` lines wait.
    pub fn same_replies(&self, protocol: u8, script: &[&[&str]]) {
        let mut real = self.real.conn(0, protocol);
        let mut ours = self.ours.conn(0, protocol);
        for &args in script {
            if let ["!sleep", ms] = args {
                std::thread::sleep(Duration::from_millis(ms.parse().expect("ms")));
                continue;
            }
            let want = self.real.names.frame(real.command(args));
            let got = self.ours.names.frame(ours.command(args));
            assert_eq!(got, want, "RESP{protocol} {args:?}");
        }
    }

    /// The same command to node `i` of both, named replies compared after `shape`.
    pub fn same_on_every_node(&self, args: &[&str], shape: impl Fn(Frame) -> Frame) {
        for protocol in [2, 3] {
            for i in 0..self.real.addrs.len() {
                let want = shape(
                    self.real
                        .names
                        .frame(self.real.conn(i, protocol).command(args)),
                );
                let got = shape(
                    self.ours
                        .names
                        .frame(self.ours.conn(i, protocol).command(args)),
                );
                assert_eq!(got, want, "RESP{protocol} node {i} {args:?}");
            }
        }
    }
}

pub fn text_of(frame: &Frame) -> String {
    match frame {
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } | Frame::Simple(b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        other => panic!("expected text, got {other:?}"),
    }
}

pub fn with_text(frame: Frame, text: String) -> Frame {
    match frame {
        Frame::Verbatim { format, .. } => Frame::Verbatim {
            format,
            text: Bytes::from(text),
        },
        _ => Frame::Bulk(Bytes::from(text)),
    }
}

/// CLUSTER INFO without the message counters, which count gossip lockstep does not
/// send; their names are checked apart.
pub fn info_without_message_counts(frame: Frame) -> Frame {
    let text = text_of(&frame);
    for line in text
        .lines()
        .filter(|l| l.starts_with("cluster_stats_messages_"))
    {
        let (name, value) = line.split_once(':').expect("field:value");
        assert!(value.parse::<u64>().is_ok(), "{line}");
        assert!(
            name.ends_with("_sent") || name.ends_with("_received"),
            "{line}"
        );
    }
    assert!(text.contains("cluster_stats_messages_sent:"), "{text}");
    assert!(text.contains("cluster_stats_messages_received:"), "{text}");
    let kept: String = text
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("cluster_stats_messages_"))
        .collect();
    with_text(frame, kept)
}

/// CLUSTER NODES with the ping and pong times blanked and the lines sorted (Redis lists
/// nodes in hash table order).
pub fn nodes_sorted_without_times(frame: Frame) -> Frame {
    let text = text_of(&frame);
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            let mut cols: Vec<&str> = line.split(' ').collect();
            if cols.len() > 5 {
                cols[4] = "<ping>";
                cols[5] = "<pong>";
            }
            cols.join(" ")
        })
        .collect();
    lines.sort();
    with_text(frame, lines.iter().map(|l| format!("{l}\n")).collect())
}

/// CLUSTER SHARDS in slot order (Redis lists shards in hash table order).
pub fn shards_in_slot_order(frame: Frame) -> Frame {
    let Frame::Array(mut shards) = frame else {
        panic!("CLUSTER SHARDS is an array");
    };
    let first_slot = |shard: &Frame| -> i64 {
        let slots = match shard {
            Frame::Map(pairs) => pairs[0].1.clone(),
            Frame::Array(items) => items[1].clone(),
            other => panic!("a shard: {other:?}"),
        };
        match slots {
            Frame::Array(s) => match s.first() {
                Some(Frame::Integer(n)) => *n,
                _ => i64::MAX,
            },
            other => panic!("shard slots: {other:?}"),
        }
    };
    shards.sort_by_key(first_slot);
    Frame::Array(shards)
}

/// CLUSTER LINKS with what depends on the moment blanked (creation times, whether a
/// link waits to write, its buffer's size), links sorted.
pub fn links_without_times(frame: Frame) -> Frame {
    let blank = |link: Frame| -> Frame {
        match link {
            Frame::Map(pairs) => Frame::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| match k.as_bytes() {
                        Some(b"create-time" | b"events" | b"send-buffer-allocated") => {
                            (k, Frame::Null)
                        }
                        _ => (k, v),
                    })
                    .collect(),
            ),
            Frame::Array(items) => {
                let mut out = Vec::new();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    let v = match k.as_bytes() {
                        Some(b"create-time" | b"events" | b"send-buffer-allocated") => Frame::Null,
                        _ => v,
                    };
                    out.push(k);
                    out.push(v);
                }
                Frame::Array(out)
            }
            other => other,
        }
    };
    let Frame::Array(links) = frame else {
        panic!("CLUSTER LINKS is an array");
    };
    let mut links: Vec<Frame> = links.into_iter().map(blank).collect();
    links.sort_by_key(|l| format!("{l:?}"));
    Frame::Array(links)
}

/// The index (in `cluster.nodes()`) of the primary serving `slot`, as node `via` sees it.
pub fn owner_of(cluster: &lockstep_server::EmbeddedCluster, via: usize, slot: u16) -> usize {
    let nodes = Conn::open(cluster.addrs()[via]).text(&["CLUSTER", "NODES"]);
    for line in nodes.lines() {
        let cols: Vec<&str> = line.split(' ').collect();
        let serves = cols[8..].iter().any(|r| {
            let mut it = r.split('-').map(|s| s.parse::<u16>().unwrap_or(u16::MAX));
            let first = it.next().unwrap_or(u16::MAX);
            let last = it.next().unwrap_or(first);
            (first..=last).contains(&slot)
        });
        if serves {
            return cluster
                .nodes()
                .iter()
                .position(|n| n.id.as_str() == cols[0])
                .expect("a node of the cluster");
        }
    }
    panic!("no owner of slot {slot}: {nodes}");
}
