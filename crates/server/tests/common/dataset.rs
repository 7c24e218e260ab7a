//! What a client can see of a whole data set, read the same way from any server, so that
//! two servers' data sets (one loaded from the other's RDB or AOF files, say) compare.
#![allow(dead_code)]

use lockstep_resp::Frame;

use super::Conn;

pub fn run(c: &mut Conn, args: &[&[u8]]) -> Frame {
    c.command_bytes(args)
}

pub fn text(frame: Frame) -> Vec<u8> {
    match frame {
        Frame::Bulk(b) | Frame::Simple(b) => b.to_vec(),
        Frame::Integer(n) => n.to_string().into_bytes(),
        other => panic!("expected a string, got {other:?}"),
    }
}

pub fn list(frame: Frame) -> Vec<Vec<u8>> {
    match frame {
        Frame::Array(items) => items.into_iter().map(text).collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

/// Every leaf of a nested reply, in order, with the size of each array before its items
/// (XINFO STREAM FULL: entries, groups, PELs and consumers with their times).
pub fn flatten(frame: Frame, out: &mut Vec<Vec<u8>>) {
    match frame {
        Frame::Array(items) => {
            out.push(format!("[{}", items.len()).into_bytes());
            items.into_iter().for_each(|i| flatten(i, out));
        }
        Frame::Null => out.push(b"(nil)".to_vec()),
        other => out.push(text(other)),
    }
}

/// What `everything` reads besides types, TTLs and contents.
pub struct Look<'a> {
    /// OBJECT ENCODING of every key.
    pub encodings: bool,
    /// Streams' consumer seen-times replaced by `<time>`: a consumer's seen-time is the
    /// moment XGROUP CREATECONSUMER ran, and Redis replays it as itself (redis-server
    /// loading its own AOF gives it the time of the load too).
    pub mask_seen_times: bool,
    /// A function of the data set's library, called with no keys: its answer is part of
    /// the data.
    pub function: &'a str,
}

/// Everything a client can see of the data in databases 0..16: per database, each key
/// (sorted) with its type, (encoding,) TTL rounded to minutes, and contents (sorted where
/// the order is the server's own); and what the library's function answers.
pub fn everything(c: &mut Conn, look: &Look) -> Data {
    let mut out = Vec::new();
    for db in 0..16 {
        run(c, &[b"SELECT", db.to_string().as_bytes()]);
        let mut keys = list(run(c, &[b"KEYS", b"*"]));
        keys.sort();
        for k in keys {
            let t = text(run(c, &[b"TYPE", &k]));
            let mut facts = vec![t.clone()];
            if look.encodings {
                facts.push(text(run(c, &[b"OBJECT", b"ENCODING", &k])));
            }
            facts.push(match run(c, &[b"PTTL", &k]) {
                Frame::Integer(n) if n > 0 => ((n + 30_000) / 60_000).to_string().into_bytes(),
                other => text(other),
            });
            let mut contents = match &t[..] {
                b"string" => vec![text(run(c, &[b"GET", &k]))],
                b"list" => list(run(c, &[b"LRANGE", &k, b"0", b"-1"])),
                b"hash" => list(run(c, &[b"HGETALL", &k]))
                    .chunks(2)
                    .map(|p| p.concat())
                    .collect(),
                b"set" => list(run(c, &[b"SMEMBERS", &k])),
                b"zset" => list(run(c, &[b"ZRANGE", &k, b"0", b"-1", b"WITHSCORES"])),
                b"stream" => {
                    let mut leaves = Vec::new();
                    flatten(
                        run(c, &[b"XINFO", b"STREAM", &k, b"FULL", b"COUNT", b"0"]),
                        &mut leaves,
                    );
                    for i in 1..leaves.len() {
                        if look.mask_seen_times && leaves[i - 1] == b"seen-time" {
                            leaves[i] = b"<time>".to_vec();
                        }
                    }
                    leaves
                }
                other => panic!("type {other:?}"),
            };
            if t == b"hash" || t == b"set" {
                contents.sort();
            }
            facts.extend(contents);
            out.push((db, k, facts));
        }
    }
    run(c, &[b"SELECT", b"0"]);
    let answer = text(run(c, &[b"FCALL", look.function.as_bytes(), b"0"]));
    out.push((
        0,
        format!("<fcall {}>", look.function).into_bytes(),
        vec![answer],
    ));
    out
}

/// Per key: its database, its name, what `everything` read of it.
pub type Data = Vec<(usize, Vec<u8>, Vec<Vec<u8>>)>;

/// The two data sets are the same; otherwise the keys that differ, readably.
pub fn assert_same(got: &Data, expected: &Data) {
    if got == expected {
        return;
    }
    let show = |d: &Data| -> Vec<String> {
        d.iter()
            .map(|(db, k, facts)| {
                let facts: Vec<_> = facts.iter().map(|f| String::from_utf8_lossy(f)).collect();
                format!("db{db} {}: {}", String::from_utf8_lossy(k), facts.join(" "))
            })
            .collect()
    };
    let (g, e) = (show(got), show(expected));
    let missing: Vec<_> = e.iter().filter(|l| !g.contains(l)).collect();
    let extra: Vec<_> = g.iter().filter(|l| !e.contains(l)).collect();
    // Where a key's facts part, shown from there on.
    let mut differences = Vec::new();
    for m in &missing {
        let name = m.split(':').next().unwrap_or_default();
        if let Some(x) = extra.iter().find(|x| x.split(':').next() == Some(name)) {
            let at = m.bytes().zip(x.bytes()).take_while(|(a, b)| a == b).count();
            let cut = |t: &str| {
                t.get(at.saturating_sub(60)..)
                    .unwrap_or(t)
                    .chars()
                    .take(300)
                    .collect::<String>()
            };
            differences.push(format!(
                "{name}:\n expected …{}\n found    …{}",
                cut(m),
                cut(x)
            ));
        }
    }
    panic!(
        "expected but not found: {missing:#?}\nfound but not expected: {extra:#?}\n{}",
        differences.join("\n")
    );
}
