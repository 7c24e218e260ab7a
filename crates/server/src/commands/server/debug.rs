//! DEBUG: the few subcommands clients and test suites use (SLEEP, POPULATE, HELP).

use crate::command::{CommandResult, Ctx, Done};
use crate::commands::help;
use crate::errors::{self, CommandError};
use crate::keyspace::Value;
use crate::util::parse_i64;

/// `DEBUG SLEEP seconds`, `DEBUG POPULATE count [prefix] [size]`, `DEBUG HELP`. Others get
/// Redis's unknown-subcommand error. Allowed as `enable-debug-command local` allows it:
/// from loopback connections only.
pub(super) fn debug(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if !ctx.client.addr.ip().is_loopback() {
        return Err(errors::DEBUG_NOT_ALLOWED.into());
    }
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"help", 2) => help(
            ctx,
            "DEBUG",
            &[
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    replicas. Cluster slots are not respected so keys not belonging to the",
                "    current node can be created in cluster mode.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        ),
        (b"sleep", 3) => {
            // Like Redis, the whole server stops: the lock stays held while sleeping.
            let secs = strtod_prefix(argv[2]);
            if secs > 0.0 && secs.is_finite() {
                let micros = (secs * 1_000_000.0).min(u64::MAX as f64) as u64;
                std::thread::sleep(std::time::Duration::from_micros(micros));
            }
            ctx.out.ok();
        }
        (b"populate", 3..=5) => {
            debug_populate(ctx, argv)?;
            ctx.out.ok();
        }
        (b"loadaof", 2) => {
            // As Redis: a file that does not load ends the server.
            if let Err(e) = crate::aof::reload(ctx.state, ctx.now) {
                eprintln!("{e}");
                std::process::exit(1);
            }
            ctx.out.ok();
        }
        (b"reload", _) => {
            debug_reload(ctx, argv)?;
            ctx.out.ok();
        }
        _ => {
            return Err(errors::subcommand_syntax(b"debug", argv[1]).into());
        }
    }
    Ok(Done)
}

/// `DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]`: saves the RDB file (unless NOSAVE), empties
/// every database and the function libraries (unless NOFLUSH), and loads the file again,
/// as Redis does to check that what it writes reads back.
fn debug_reload(ctx: &mut Ctx, argv: &[&[u8]]) -> Result<(), CommandError> {
    use crate::rdb::file;
    let (mut flush, mut save) = (true, true);
    for a in &argv[2..] {
        match a.to_ascii_lowercase().as_slice() {
            b"merge" => {}
            b"noflush" => flush = false,
            b"nosave" => save = false,
            _ => {
                return Err(
                    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.".into(),
                )
            }
        }
    }
    let now = ctx.now;
    if save {
        file::kill_child(ctx.state);
        file::save(ctx.state, now).map_err(|_| errors::GENERIC)?;
    }
    let data = std::fs::read(file::rdb_path(ctx.state))
        .map_err(|_| "ERR Error trying to load the RDB dump, check server logs.")?;
    if flush {
        for index in 0..ctx.state.dbs.len() {
            ctx.state.db(index, now).clear();
        }
        ctx.state.functions.flush();
    }
    file::load_quietly(ctx.state, &data, now)
        .map_err(|_| "ERR Error trying to load the RDB dump, check server logs.")?;
    Ok(())
}

/// `DEBUG POPULATE count [prefix] [size]`: keys `prefix:N` (0 <= N < count) holding
/// `value:N`, cut or padded with zero bytes to `size` when given. Existing keys are left
/// alone. Like Redis, the key name is cut to 127 bytes and the prefix at a NUL byte.
fn debug_populate(ctx: &mut Ctx, argv: &[&[u8]]) -> Result<(), CommandError> {
    let non_negative = |arg: &[u8]| {
        parse_i64(arg)
            .filter(|&n| n >= 0)
            .ok_or(CommandError::from(errors::MUST_BE_POSITIVE))
    };
    let count = non_negative(argv[2])?;
    let size = argv.get(4).map_or(Ok(0), |s| non_negative(s))? as usize;
    let prefix = argv.get(3).map_or(&b"key"[..], |p| errors::c_string(p));
    let mut db = ctx.db();
    let mut key = Vec::with_capacity(prefix.len() + 24);
    let mut value = Vec::with_capacity(size.max(24));
    let mut num = itoa::Buffer::new();
    for j in 0..count {
        let digits = num.format(j).as_bytes();
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(digits);
        key.truncate(127);
        // Redis signals every key it creates here but counts none of them as a change
        // (debug.c's populate adds to no `dirty`; INFO rdb_changes_since_last_save stays
        // put), so the key is created through the write guard and touched: `DbMut::set`
        // would count one change per key.
        let mut created = false;
        let mut entry = db.write_or_create::<Value>(&key, || {
            created = true;
            value.clear();
            value.extend_from_slice(b"value:");
            value.extend_from_slice(digits);
            if size > 0 {
                value.resize(size, 0);
            }
            Value::string(&value)
        })?;
        if created {
            entry.touched();
        }
    }
    Ok(())
}

/// C's `strtod` on the longest numeric prefix (0 when there is none), as DEBUG SLEEP
/// reads its argument.
fn strtod_prefix(s: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(s);
    let text = text.trim_start();
    let mut best = 0.0;
    for end in 1..=text.len() {
        if !text.is_char_boundary(end) {
            continue;
        }
        if let Ok(v) = text[..end].parse::<f64>() {
            if text[..end]
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            {
                best = v;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::super::tests::Server;
    use super::*;
    use crate::command::Registry;
    use crate::reply::{Protocol, Reply};
    use crate::state::unix_millis;

    #[test]
    fn debug_populate_creates_keys_and_keeps_existing_ones() {
        let mut s = Server::new();
        s.run(&["SET", "key:1", "mine"]);
        assert_eq!(s.run(&["DEBUG", "POPULATE", "3"]), "+OK\r\n");
        assert_eq!(s.run(&["DBSIZE"]), ":3\r\n");
        assert_eq!(s.run(&["GET", "key:0"]), "$7\r\nvalue:0\r\n");
        assert_eq!(s.run(&["GET", "key:1"]), "$4\r\nmine\r\n");
    }

    #[test]
    fn debug_populate_signals_the_keys_it_creates_but_counts_no_change() {
        let mut s = Server::new();
        s.run(&["SET", "key:1", "mine"]);
        let dirty = s.state.mods.dirty;
        s.state.mods.listening = true;
        let argv: [&[u8]; 3] = [b"DEBUG", b"POPULATE", b"3"];
        let mut out = Reply::new(Protocol::Resp2);
        let mut ctx = Ctx {
            state: &mut s.state,
            client: &mut s.client,
            out: &mut out,
            now: unix_millis(),
            cmd: Registry::get().resolve(&argv).expect("DEBUG"),
            can_block: false,
        };
        assert!(matches!(debug(&mut ctx, &argv), Ok(Done)));
        assert_eq!(&out.buf[..], b"+OK\r\n");
        assert_eq!(s.state.mods.dirty, dirty);
        let signalled: Vec<Vec<u8>> = s
            .state
            .mods
            .drain_keys()
            .into_iter()
            .map(|(_, key)| key.to_vec())
            .collect();
        assert_eq!(signalled, [b"key:0".to_vec(), b"key:2".to_vec()]);
    }

    #[test]
    fn debug_populate_pads_and_cuts_values_to_size() {
        let mut s = Server::new();
        assert_eq!(s.run(&["DEBUG", "POPULATE", "2", "p", "10"]), "+OK\r\n");
        assert_eq!(s.run(&["GET", "p:1"]), "$10\r\nvalue:1\0\0\0\r\n");
        assert_eq!(s.run(&["DEBUG", "POPULATE", "1", "q", "3"]), "+OK\r\n");
        assert_eq!(s.run(&["GET", "q:0"]), "$3\r\nval\r\n");
    }

    #[test]
    fn debug_populate_rejects_negative_counts_and_sizes() {
        let mut s = Server::new();
        let err = "-ERR value is out of range, must be positive\r\n";
        assert_eq!(s.run(&["DEBUG", "POPULATE", "-1"]), err);
        assert_eq!(s.run(&["DEBUG", "POPULATE", "abc"]), err);
        assert_eq!(s.run(&["DEBUG", "POPULATE", "1", "k", "-1"]), err);
    }

    #[test]
    fn debug_sleep_holds_the_server_for_the_time_given() {
        let mut s = Server::new();
        let start = std::time::Instant::now();
        assert_eq!(s.run(&["DEBUG", "SLEEP", "0.05"]), "+OK\r\n");
        assert!(start.elapsed() >= std::time::Duration::from_millis(50));
        assert_eq!(s.run(&["DEBUG", "SLEEP", "abc"]), "+OK\r\n");
    }

    #[test]
    fn debug_unknown_subcommand_gets_redis_error() {
        let mut s = Server::new();
        assert_eq!(
            s.run(&["DEBUG", "NOSUCH"]),
            "-ERR unknown subcommand or wrong number of arguments for 'NOSUCH'. Try DEBUG HELP.\r\n"
        );
        assert!(s
            .run(&["DEBUG", "SLEEP"])
            .starts_with("-ERR unknown subcommand"));
    }

    #[test]
    fn debug_is_refused_to_remote_clients() {
        let mut s = Server::new();
        s.client.addr = "10.1.2.3:4000".parse().expect("addr");
        assert_eq!(
            s.run(&["DEBUG", "SLEEP", "0"]),
            format!("-{}\r\n", errors::DEBUG_NOT_ALLOWED)
        );
    }

    #[test]
    fn strtod_prefix_reads_like_c() {
        assert_eq!(strtod_prefix(b"0.5"), 0.5);
        assert_eq!(strtod_prefix(b"2abc"), 2.0);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
        assert_eq!(strtod_prefix(b"-1"), -1.0);
    }
}
