//! Server commands: INFO, CONFIG, FLUSHDB/FLUSHALL, DBSIZE, TIME, LASTSAVE, SAVE/BGSAVE,
//! SHUTDOWN, DEBUG, MEMORY. This file holds the family's table and the small commands;
//! INFO, CONFIG, DEBUG and MEMORY have a file each.
//!
//! SAVE, BGSAVE, LASTSAVE and SHUTDOWN's save write RDB files through `rdb::file`, in
//! `dir` (set at start-up) as `dbfilename`. There is no append-only file: CONFIG refuses
//! `appendonly yes`.

mod config;
mod debug;
mod info;
mod memory;

use crate::args::Args;
use crate::command::{handler, CommandResult, Ctx, Done, Entry};
use crate::errors::{self, CommandError};
use crate::rdb::file;
use crate::state::unix_micros;

use super::container;

use config::{config_get, config_help, config_resetstat, config_rewrite, config_set};
use debug::debug;
use info::info;
use memory::{
    memory_doctor, memory_help, memory_malloc_stats, memory_purge, memory_stats, memory_usage,
};

/// The handlers of this family, joined with their metadata (`crates/commands`) by
/// full name.
pub static HANDLERS: &[Entry] = &[
    handler("dbsize", dbsize),
    handler("flushall", flushall),
    handler("flushdb", flushdb),
    handler("info", info),
    handler("time", time),
    handler("lastsave", lastsave),
    handler("save", save),
    handler("bgsave", bgsave),
    handler("bgrewriteaof", bgrewriteaof),
    handler("shutdown", shutdown),
    handler("config", container),
    handler("config|get", config_get),
    handler("config|help", config_help),
    handler("config|resetstat", config_resetstat),
    handler("config|rewrite", config_rewrite),
    handler("config|set", config_set),
    handler("debug", debug),
    handler("memory", container),
    handler("memory|doctor", memory_doctor),
    handler("memory|help", memory_help),
    handler("memory|malloc-stats", memory_malloc_stats),
    handler("memory|purge", memory_purge),
    handler("memory|stats", memory_stats),
    handler("memory|usage", memory_usage),
];

/// `DBSIZE`: keys in the selected database.
fn dbsize(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let n = ctx.db().len();
    ctx.out.int(n as i64);
    Ok(Done)
}

/// `FLUSHALL [ASYNC|SYNC]`: empties every database. Changes count one per key removed
/// (Redis adds one more only when it then saves a snapshot, which this server never does).
fn flushall(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    flush_mode(argv)?;
    for index in 0..ctx.state.dbs.len() {
        flush(ctx, index);
    }
    ctx.out.ok();
    Ok(Done)
}

/// Empties database `index`. As Redis's `scanDatabaseForDeletedStreams`, every stream it
/// deletes that clients wait on is then ready to look at: its XREADGROUP readers wake to
/// be told the key went (UNBLOCKED), its XREAD readers go on waiting.
fn flush(ctx: &mut Ctx, index: usize) {
    let streams: Vec<_> = if ctx.state.blocked.is_empty() {
        Vec::new()
    } else {
        let dict = ctx.state.dbs[index].dict();
        ctx.state
            .blocked
            .waited_keys(index)
            .into_iter()
            .filter(|k| {
                dict.get(k)
                    .is_some_and(|e| matches!(e.value, crate::keyspace::Value::Stream(_)))
            })
            .collect()
    };
    ctx.state.db(index, ctx.now).clear();
    for key in streams {
        ctx.state.blocked.key_written(index, key);
    }
}

/// `FLUSHDB [ASYNC|SYNC]`: empties the selected database. Changes count one per key removed.
fn flushdb(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    flush_mode(argv)?;
    flush(ctx, ctx.client.db);
    ctx.out.ok();
    Ok(Done)
}

/// At most one argument, ASYNC or SYNC. Both free memory at once here.
fn flush_mode(argv: &[&[u8]]) -> Result<(), CommandError> {
    let mut args = Args::new(argv, 1);
    if !args.keyword("async") {
        args.keyword("sync");
    }
    args.finish()
}

/// `TIME`: seconds and microseconds, as two bulk strings.
fn time(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    let us = unix_micros();
    ctx.out.array(2);
    ctx.out.bulk_int(us / 1_000_000);
    ctx.out.bulk_int(us % 1_000_000);
    Ok(Done)
}

/// `LASTSAVE`: Unix time of the last successful save, the start time until then.
fn lastsave(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    file::poll_child(ctx.state, ctx.now);
    let t = ctx.state.last_save;
    ctx.out.int(t);
    Ok(Done)
}

/// `SAVE`: writes `dir/dbfilename` now, every other client waiting (as in Redis).
fn save(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    file::poll_child(ctx.state, ctx.now);
    if ctx.state.config.saves.child.is_some() {
        return Err(errors::BGSAVE_IN_PROGRESS.into());
    }
    file::save(ctx.state, ctx.now).map_err(|_| errors::GENERIC)?;
    ctx.out.ok();
    Ok(Done)
}

/// `BGSAVE [SCHEDULE]`: forks a child that writes the snapshot (`rdb::file::bgsave`);
/// with SCHEDULE while one runs, starts another once it ends.
fn bgsave(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut args = Args::new(argv, 1);
    let schedule = args.keyword("schedule");
    args.finish()?;
    file::poll_child(ctx.state, ctx.now);
    crate::aof::poll_child(ctx.state, ctx.now);
    if ctx.state.aof.child.is_some() && !schedule {
        return Err(
            "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.".into(),
        );
    }
    if ctx.state.config.saves.child.is_some() || ctx.state.aof.child.is_some() {
        if !schedule {
            return Err(errors::BGSAVE_IN_PROGRESS.into());
        }
        ctx.state.config.saves.scheduled = true;
        ctx.out.simple("Background saving scheduled");
        return Ok(Done);
    }
    file::bgsave(ctx.state, ctx.now).map_err(|_| errors::GENERIC)?;
    ctx.out.simple("Background saving started");
    Ok(Done)
}

/// `BGREWRITEAOF`: a new AOF base from a forked child (`aof::rewrite`); scheduled while
/// a BGSAVE runs.
fn bgrewriteaof(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    crate::aof::poll_child(ctx.state, ctx.now);
    file::poll_child(ctx.state, ctx.now);
    if ctx.state.aof.child.is_some() {
        return Err("ERR Background append only file rewriting already in progress".into());
    }
    if ctx.state.config.saves.child.is_some() {
        ctx.state.aof.scheduled = true;
        ctx.out
            .simple("Background append only file rewriting scheduled");
        return Ok(Done);
    }
    crate::aof::rewrite(ctx.state, ctx.now).map_err(|_| errors::GENERIC)?;
    ctx.out
        .simple("Background append only file rewriting started");
    Ok(Done)
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: stops the server. Like Redis, the
/// client gets no reply: the connection closes. A running BGSAVE is killed; the snapshot
/// is saved first with SAVE, or when `save` rules are set and NOSAVE was not given. A save
/// that fails keeps the server running (unless FORCE).
fn shutdown(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let (mut nosave, mut save, mut abort, mut force, mut other) =
        (false, false, false, false, false);
    for a in &argv[1..] {
        if a.eq_ignore_ascii_case(b"nosave") {
            nosave = true;
        } else if a.eq_ignore_ascii_case(b"save") {
            save = true;
        } else if a.eq_ignore_ascii_case(b"now") {
            other = true;
        } else if a.eq_ignore_ascii_case(b"force") {
            force = true;
        } else if a.eq_ignore_ascii_case(b"abort") {
            abort = true;
        } else {
            return Err(errors::SYNTAX.into());
        }
    }
    if (abort && (nosave || save || other || force)) || (nosave && save) {
        return Err(errors::SYNTAX.into());
    }
    if abort {
        return Err("ERR No shutdown in progress.".into());
    }
    file::kill_child(ctx.state);
    crate::aof::kill_child(ctx.state);
    ctx.state.aof.sync();
    let wants_save = save || (!nosave && !file::save_rules(ctx.state).is_empty());
    if wants_save && file::save(ctx.state, ctx.now).is_err() && !force {
        return Err(errors::SHUTDOWN_ERRORS.into());
    }
    let _ = ctx.state.shutdown.send(true);
    ctx.client.close_after_reply = true;
    Ok(Done)
}

#[cfg(test)]
mod tests {
    use crate::dispatch::process_command as execute;
    use crate::reply::{Protocol, Reply};
    use crate::state::{Client, State};
    use tokio::sync::watch;

    /// A server state with one local client, driven command by command.
    pub(super) struct Server {
        pub(super) state: State,
        pub(super) client: Client,
        pub(super) shutdown: watch::Receiver<bool>,
    }

    impl Server {
        pub(super) fn new() -> Server {
            let (tx, shutdown) = watch::channel(false);
            Server {
                // A file of its own in the temporary directory, for SAVE to write.
                state: State::new(crate::config::ServerConfig::ephemeral().settings, tx),
                client: Client::for_tests(1),
                shutdown,
            }
        }

        /// Runs one command; returns the raw RESP2 reply.
        pub(super) fn run(&mut self, args: &[&str]) -> String {
            let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            let mut out = Reply::new(Protocol::Resp2);
            let _ = execute(&mut self.state, &mut self.client, &mut out, &argv);
            String::from_utf8_lossy(&out.buf).into_owned()
        }

        pub(super) fn info_field(&mut self, section: &str, field: &str) -> String {
            let text = self.run(&["INFO", section]);
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{field}:")))
                .unwrap_or_else(|| panic!("no {field} in {text}"))
                .to_string()
        }
    }

    #[test]
    fn save_answers_ok_and_is_recorded_in_info_persistence() {
        let mut s = Server::new();
        s.run(&["SET", "a", "1"]);
        assert_eq!(
            s.info_field("persistence", "rdb_changes_since_last_save"),
            "1"
        );
        assert_eq!(s.run(&["SAVE"]), "+OK\r\n");
        assert_eq!(
            s.info_field("persistence", "rdb_changes_since_last_save"),
            "0"
        );
        assert_eq!(s.info_field("persistence", "rdb_saves"), "1");
        let path = crate::rdb::file::rdb_path(&s.state);
        let data = std::fs::read(&path).expect("SAVE wrote the file");
        let _ = std::fs::remove_file(&path);
        assert!(data.starts_with(b"REDIS0010"));
    }

    #[test]
    fn debug_reload_saves_and_loads_every_database_back() {
        let mut s = Server::new();
        s.run(&["SET", "a", "1"]);
        s.run(&["PEXPIRE", "a", "100000"]);
        s.run(&["SELECT", "3"]);
        s.run(&["RPUSH", "l", "x", "y"]);
        assert_eq!(s.run(&["DEBUG", "RELOAD"]), "+OK\r\n");
        let _ = std::fs::remove_file(crate::rdb::file::rdb_path(&s.state));
        assert_eq!(
            s.run(&["LRANGE", "l", "0", "-1"]),
            "*2\r\n$1\r\nx\r\n$1\r\ny\r\n"
        );
        s.run(&["SELECT", "0"]);
        assert_eq!(s.run(&["GET", "a"]), "$1\r\n1\r\n");
        assert_ne!(s.run(&["PTTL", "a"]), ":-1\r\n");
    }

    #[test]
    fn bgsave_forks_a_child_that_writes_the_file_and_updates_lastsave() {
        let mut s = Server::new();
        s.state.last_save = 0;
        s.run(&["SET", "k", "v"]);
        assert_eq!(s.run(&["BGSAVE"]), "+Background saving started\r\n");
        assert_eq!(
            s.run(&["BGSAVE"]),
            "-ERR Background save already in progress\r\n"
        );
        assert_eq!(
            s.run(&["BGSAVE", "SCHEDULE"]),
            "+Background saving scheduled\r\n"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while s.info_field("persistence", "rdb_bgsave_in_progress") == "1" {
            assert!(
                std::time::Instant::now() < deadline,
                "the child never ended"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_ne!(s.run(&["LASTSAVE"]), ":0\r\n");
        assert_eq!(s.info_field("persistence", "rdb_saves"), "1");
        assert_eq!(s.info_field("persistence", "rdb_last_bgsave_status"), "ok");
        assert_eq!(
            s.info_field("persistence", "rdb_changes_since_last_save"),
            "0"
        );
        let path = crate::rdb::file::rdb_path(&s.state);
        let data = std::fs::read(&path).expect("the child wrote the file");
        let _ = std::fs::remove_file(&path);
        assert!(data.windows(1).count() > 9 && data.starts_with(b"REDIS0010"));
    }

    #[test]
    fn flush_counts_removed_keys_as_changes() {
        let mut s = Server::new();
        s.run(&["SET", "a", "1"]);
        s.run(&["SET", "b", "1"]);
        s.run(&["FLUSHALL"]);
        s.run(&["FLUSHALL"]);
        assert_eq!(
            s.info_field("persistence", "rdb_changes_since_last_save"),
            "4"
        );
    }

    #[test]
    fn flushdb_empties_only_the_selected_database_and_counts_its_keys() {
        let mut s = Server::new();
        s.run(&["SET", "a", "1"]);
        s.run(&["SELECT", "1"]);
        s.run(&["SET", "b", "1"]);
        s.run(&["SET", "c", "1"]);
        assert_eq!(s.run(&["FLUSHDB", "ASYNC"]), "+OK\r\n");
        assert_eq!(s.run(&["DBSIZE"]), ":0\r\n");
        s.run(&["SELECT", "0"]);
        assert_eq!(s.run(&["DBSIZE"]), ":1\r\n");
        assert_eq!(
            s.info_field("persistence", "rdb_changes_since_last_save"),
            "5"
        );
        assert_eq!(s.run(&["FLUSHDB", "LAZY"]), "-ERR syntax error\r\n");
    }

    #[test]
    fn shutdown_stops_the_server_without_a_reply() {
        let mut s = Server::new();
        assert_eq!(s.run(&["SHUTDOWN", "NOSAVE", "NOW"]), "");
        assert!(*s.shutdown.borrow());
        assert!(s.client.close_after_reply);
    }

    #[test]
    fn shutdown_abort_leaves_the_server_running() {
        let mut s = Server::new();
        assert_eq!(
            s.run(&["SHUTDOWN", "ABORT"]),
            "-ERR No shutdown in progress.\r\n"
        );
        assert!(!*s.shutdown.borrow());
    }
}
