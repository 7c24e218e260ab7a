//! Loading the AOF (Redis's `loadAppendOnlyFiles`): the files the manifest names, in
//! order: the base (an RDB file, or commands) and each incremental file, replayed as a
//! client would send them, with a transaction's commands applied only once its EXEC is
//! read.
//!
//! - A last file that ends in the middle of a command (or of a MULTI without EXEC) was cut
//!   by a crash: with `aof-load-truncated yes` the incomplete tail is removed from the
//!   file, with a warning, and loading succeeds; with `no`, and for any file but the last,
//!   it is an error.
//! - Anything else that is not a command is an error naming the file and the offset; the
//!   files are left as they are. Lines starting with `#` (Redis's timestamp annotations)
//!   are skipped.

use std::net::SocketAddr;
use std::path::Path;

use super::manifest::Manifest;
use crate::keyspace::Millis;
use crate::reply::{Protocol, Reply};
use crate::state::{Client, State};

/// Where and why a file could not be read as commands.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// The file ends inside a command or a transaction; the offset is where the last
    /// complete one ended.
    Truncated { valid: usize },
    /// Not a command at this offset.
    Corrupt { at: usize, why: &'static str },
    /// A command this server does not have.
    Unknown { at: usize, name: String },
}

/// Loads every file of `m` into `state`; the error is the message to print before
/// exiting with 1.
pub fn load_files(state: &mut State, m: &Manifest, now: Millis) -> Result<(), String> {
    let dir = super::dir(state);
    let files: Vec<_> = m.files().cloned().collect();
    let truncated_ok = state.config.value("aof-load-truncated").as_deref() != Some("no");
    let manifest = format!("{}.manifest", super::name(state));
    let dirty = state.mods.dirty;
    state.propagation.loading = true;
    let result = (|| {
        for (i, entry) in files.iter().enumerate() {
            let last = i + 1 == files.len();
            let path = dir.join(&entry.name);
            let data = std::fs::read(&path)
                .map_err(|e| format!("Can't open the append-only file {}: {e}", path.display()))?;
            if data.starts_with(b"REDIS") {
                crate::rdb::file::load_quietly(state, &data, now).map_err(|(at, why)| {
                    format!(
                        "Bad file format reading the append only file {} at offset {at}: {why}",
                        entry.name
                    )
                })?;
                continue;
            }
            match replay(state, &data, now) {
                Ok(()) => {}
                Err(Stop::Truncated { valid }) if last && truncated_ok => {
                    eprintln!(
                        "!!! Warning: short read while loading the AOF file {}!!! \
                         AOF loaded anyway because aof-load-truncated is enabled: \
                         truncated at offset {valid} (of {})",
                        entry.name,
                        data.len()
                    );
                    truncate(&path, valid).map_err(|e| {
                        format!("Error truncating the AOF file {}: {e}", entry.name)
                    })?;
                }
                Err(Stop::Truncated { valid }) => {
                    let hint = if last {
                        " 2) Alternatively you can set the 'aof-load-truncated' configuration \
                         option to yes and restart the server."
                    } else {
                        " (it is not the last file of the AOF)"
                    };
                    return Err(format!(
                        "Unexpected end of file reading the append only file {} at offset \
                         {valid} (of {}). You can: 1) Make a backup of your AOF file, then use \
                         ./redis-check-aof --fix {manifest}.{hint}",
                        entry.name,
                        data.len()
                    ));
                }
                Err(Stop::Corrupt { at, why }) => {
                    return Err(format!(
                        "Bad file format reading the append only file {} at offset {at} \
                         ({why}): make a backup of your AOF file, then use ./redis-check-aof \
                         --fix {manifest}",
                        entry.name
                    ));
                }
                Err(Stop::Unknown { at, name }) => {
                    return Err(format!(
                        "Unknown command '{name}' reading the append only file {} at offset {at}",
                        entry.name
                    ));
                }
            }
        }
        Ok(())
    })();
    state.propagation.loading = false;
    // Loading changes nothing that a save would miss, and nobody listens yet.
    state.mods.dirty = dirty;
    state.mods.drain_events();
    state.mods.drain_keys();
    state.mods.drain_deletions();
    result
}

fn truncate(path: &Path, len: usize) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.set_len(len as u64)?;
    file.sync_all()
}

/// Replays the commands of one file.
fn replay(state: &mut State, data: &[u8], now: Millis) -> Result<(), Stop> {
    let registry = crate::command::Registry::get();
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut client = Client::new(u64::MAX - 1, local, local, true);
    let mut out = Reply::new(Protocol::Resp2);
    let mut pos = 0;
    let mut valid = 0;
    // The commands of an open MULTI, and where it started.
    let mut queued: Option<(usize, Vec<Vec<Vec<u8>>>)> = None;
    while pos < data.len() {
        let start = pos;
        if data[pos] == b'#' {
            let Some(nl) = find(data, pos, b"\n") else {
                return Err(Stop::Truncated { valid });
            };
            pos = nl + 1;
            if queued.is_none() {
                valid = pos;
            }
            continue;
        }
        let argv = match command(data, &mut pos) {
            Ok(argv) => argv,
            Err(None) => return Err(Stop::Truncated { valid }),
            Err(Some((at, why))) => return Err(Stop::Corrupt { at, why }),
        };
        let name = argv[0].to_ascii_lowercase();
        match (name.as_slice(), queued.as_mut()) {
            (b"multi", None) => queued = Some((start, Vec::new())),
            (b"exec", Some(_)) => {
                let (_, commands) = queued.take().unwrap_or_default();
                for argv in commands {
                    run(state, &mut client, &mut out, registry, &argv, start, now)?;
                }
                valid = pos;
            }
            (_, Some((_, commands))) => commands.push(argv),
            _ => {
                run(state, &mut client, &mut out, registry, &argv, start, now)?;
                valid = pos;
            }
        }
    }
    if queued.is_some() {
        // A MULTI without its EXEC: the crash came in the middle of a transaction.
        return Err(Stop::Truncated { valid });
    }
    Ok(())
}

fn run(
    state: &mut State,
    client: &mut Client,
    out: &mut Reply,
    registry: &crate::command::Registry,
    argv: &[Vec<u8>],
    at: usize,
    now: Millis,
) -> Result<(), Stop> {
    let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    let Ok((cmd, id)) = registry.resolve_with_id(&argv) else {
        return Err(Stop::Unknown {
            at,
            name: String::from_utf8_lossy(argv[0]).into_owned(),
        });
    };
    out.truncate(0);
    // A command's error reply is ignored, as Redis's loader ignores it.
    crate::dispatch::call_at(state, client, out, cmd, id, &argv, now);
    Ok(())
}

fn find(data: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    data.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| from + i)
}

/// What reading a command gives: `Err(None)` when the data ends first, `Err(Some)` with
/// the offset and the reason when it is not a command.
type Parsed<T> = Result<T, Option<(usize, &'static str)>>;

/// A line `<prefix><integer>\r\n` at `pos`. `Err(None)`: the data ends first.
fn number_line(data: &[u8], pos: &mut usize, prefix: u8) -> Parsed<i64> {
    let at = *pos;
    match data.get(at) {
        None => return Err(None),
        Some(&b) if b != prefix => {
            return Err(Some((
                at,
                if prefix == b'*' {
                    "expected '*'"
                } else {
                    "expected '$'"
                },
            )))
        }
        _ => {}
    }
    let Some(end) = find(data, at + 1, b"\r\n") else {
        // A number is short: a long line with no CRLF is not a cut number.
        return if data.len() - at > 24 {
            Err(Some((at, "line too long")))
        } else {
            Err(None)
        };
    };
    let n = std::str::from_utf8(&data[at + 1..end])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(Some((at, "invalid number")))?;
    *pos = end + 2;
    Ok(n)
}

/// One command at `pos`, moving past it.
fn command(data: &[u8], pos: &mut usize) -> Parsed<Vec<Vec<u8>>> {
    let at = *pos;
    let argc = number_line(data, pos, b'*')?;
    if !(1..=1 << 20).contains(&argc) {
        return Err(Some((at, "invalid argument count")));
    }
    let mut argv = Vec::with_capacity(argc as usize);
    for _ in 0..argc {
        let len_at = *pos;
        let len = number_line(data, pos, b'$')?;
        if !(0..=1 << 32).contains(&len) {
            return Err(Some((len_at, "invalid bulk length")));
        }
        let len = len as usize;
        let end = *pos + len;
        if data.len() < end + 2 {
            return Err(None);
        }
        if &data[end..end + 2] != b"\r\n" {
            return Err(Some((end, "expected CRLF after an argument")));
        }
        argv.push(data[*pos..end].to_vec());
        *pos = end + 2;
    }
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(data: &[u8]) -> Parsed<Vec<Vec<Vec<u8>>>> {
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < data.len() {
            out.push(command(data, &mut pos)?);
        }
        Ok(out)
    }

    #[test]
    fn commands_read_back_and_a_cut_one_is_truncation_not_corruption() {
        let mut buf = Vec::new();
        super::super::encode(&mut buf, &[b"SET", b"k", b"v\r\n"]);
        let first = buf.len();
        super::super::encode(&mut buf, &[b"DEL", b"k"]);
        assert_eq!(parse_all(&buf).expect("valid").len(), 2);
        for cut in (1..buf.len()).filter(|&c| c != first) {
            assert_eq!(parse_all(&buf[..cut]), Err(None), "cut at {cut}");
        }
        let mut bad = buf.clone();
        bad[0] = b'x';
        assert_eq!(parse_all(&bad), Err(Some((0, "expected '*'"))));
        let mut bad = buf.clone();
        bad[20] = b'!';
        assert!(matches!(parse_all(&bad), Err(Some(_))));
    }
}
