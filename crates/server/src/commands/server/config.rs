//! CONFIG GET, SET, RESETSTAT, REWRITE and HELP.

use crate::command::{CommandResult, Ctx, Done};
use crate::commands::help;
use crate::config::{self, Kind};
use crate::errors::{self, CommandError};
use crate::keyspace::DbStats;
use crate::state::Stats;

/// `CONFIG GET parameter [parameter ...]`: names without glob characters are looked up
/// directly and answered under the name as given; patterns match every parameter
/// (aliases included) without regard to case. A map in RESP3.
pub(super) fn config_get(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    let mut found: Vec<(Vec<u8>, &'static config::Param)> = Vec::new();
    for pattern in &argv[2..] {
        if !pattern.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
            if let Some(p) = config::lookup(pattern) {
                if !found
                    .iter()
                    .any(|(name, _)| name.eq_ignore_ascii_case(pattern))
                {
                    found.push((pattern.to_vec(), p));
                }
            }
            continue;
        }
        for p in config::PARAMS {
            if crate::util::glob_match(pattern, p.name.as_bytes(), true)
                && !found
                    .iter()
                    .any(|(name, _)| name.eq_ignore_ascii_case(p.name.as_bytes()))
            {
                found.push((p.name.as_bytes().to_vec(), p));
            }
        }
    }
    ctx.out.map(found.len());
    for (name, p) in found {
        ctx.out.bulk(&name);
        let value = ctx.state.config.get(p);
        ctx.out.bulk(value.as_bytes());
    }
    Ok(Done)
}

/// `CONFIG SET parameter value [parameter value ...]`: all or nothing. Names are checked
/// first (unknown, immutable, duplicate: the first problem is reported), then the values
/// are applied in order; one that fails restores every value set before it.
pub(super) fn config_set(ctx: &mut Ctx, argv: &[&[u8]]) -> CommandResult {
    if !argv.len().is_multiple_of(2) {
        return Err(errors::SYNTAX.into());
    }
    let mut params: Vec<(&'static config::Param, &[u8])> = Vec::new();
    for pair in argv[2..].chunks(2) {
        let Some(p) = config::lookup(pair[0]) else {
            let mut msg = b"ERR Unknown option or number of arguments for CONFIG SET - '".to_vec();
            msg.extend_from_slice(errors::c_string(pair[0]));
            msg.push(b'\'');
            return Err(msg.into());
        };
        let problem = match p.kind {
            Kind::Immutable => Some("can't set immutable config"),
            Kind::Protected => Some("can't set protected config"),
            _ if params.iter().any(|(q, _)| q.name == p.name) => Some("duplicate parameter"),
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(set_failed(pair[0], problem));
        }
        params.push((p, pair[1]));
    }
    let before = ctx.state.config.clone();
    for (p, value) in params {
        if let Err(problem) = ctx.state.config.set(p, value) {
            ctx.state.config = before;
            return Err(set_failed(p.name.as_bytes(), &problem));
        }
    }
    ctx.state.mods.notify_flags = ctx.state.config.notify_keyspace_events;
    if let Err(problem) = apply_aof(ctx) {
        ctx.state.config = before;
        return Err(set_failed(b"appendonly", &problem));
    }
    let threshold = ctx.state.config.busy_reply_threshold_ms();
    ctx.state.script_run.set_busy_threshold(threshold);
    let auth_required = ctx
        .state
        .config
        .requirepass
        .as_ref()
        .is_some_and(|p| !p.is_empty());
    ctx.state.script_run.set_auth_required(auth_required);
    // A lower maxmemory-clients (or maxmemory, for a percentage) evicts at once.
    ctx.state.client_limit.update(&ctx.state.config);
    crate::client_eviction::evict(ctx.state);
    if ctx.state.config.timeout != before.timeout {
        // Connections waiting for input learn the new idle limit when woken, as Redis's
        // clientsCron applies it to every client, idle ones included.
        for entry in ctx.state.clients.values() {
            entry.wake.notify_one();
        }
    }
    ctx.out.ok();
    Ok(Done)
}

/// `appendonly` turned on (a rewrite starts) or off, `appendfsync` or
/// `aof-timestamp-enabled` changed.
fn apply_aof(ctx: &mut Ctx) -> Result<(), String> {
    let state = &mut *ctx.state;
    crate::aof::configure(state);
    let on = crate::aof::configured(state);
    crate::aof::set_enabled(state, on, ctx.now)
}

/// CONFIG SET's error for the parameter `name`.
fn set_failed(name: &[u8], problem: &str) -> CommandError {
    let mut msg = b"ERR CONFIG SET failed (possibly related to argument '".to_vec();
    msg.extend_from_slice(errors::c_string(name));
    msg.extend_from_slice(b"') - ");
    msg.extend_from_slice(problem.as_bytes());
    msg.into()
}

/// `CONFIG RESETSTAT`: zeroes the counters INFO stats reports.
pub(super) fn config_resetstat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    ctx.state.stats = Stats::default();
    ctx.state.command_stats.fill(Default::default());
    ctx.state.error_stats.clear();
    ctx.state.diagnostics.reset_histograms();
    for db in ctx.state.dbs.iter_mut() {
        db.stats = DbStats::default();
    }
    ctx.out.ok();
    Ok(Done)
}

/// `CONFIG REWRITE`: there is never a config file to rewrite.
pub(super) fn config_rewrite(_ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    Err("ERR The server is running without a config file".into())
}

pub(super) fn config_help(ctx: &mut Ctx, _argv: &[&[u8]]) -> CommandResult {
    help(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(Done)
}

#[cfg(test)]
mod tests {
    use super::super::tests::Server;

    #[test]
    fn config_set_refuses_what_this_server_cannot_do() {
        let mut s = Server::new();
        let reply = s.run(&["CONFIG", "SET", "save", "3600 1"]);
        assert!(reply.starts_with("-ERR CONFIG SET failed (possibly related to argument 'save')"));
        let reply = s.run(&["CONFIG", "SET", "port", "7000"]);
        assert!(reply.starts_with("-ERR CONFIG SET failed (possibly related to argument 'port')"));
        assert_eq!(
            s.run(&["CONFIG", "GET", "save"]),
            "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn config_set_requirepass_changes_the_password() {
        let mut s = Server::new();
        assert_eq!(s.run(&["CONFIG", "SET", "requirepass", "pw"]), "+OK\r\n");
        assert_eq!(s.state.config.requirepass.as_deref(), Some(&b"pw"[..]));
        assert_eq!(s.run(&["CONFIG", "SET", "requirepass", ""]), "+OK\r\n");
        assert_eq!(s.state.config.requirepass, None);
    }

    #[test]
    fn config_set_failure_restores_earlier_values() {
        let mut s = Server::new();
        let reply = s.run(&["CONFIG", "SET", "hz", "20", "maxclients", "0"]);
        assert!(reply.starts_with("-ERR"));
        assert_eq!(s.state.config.hz, 10);
        assert_eq!(
            s.run(&["CONFIG", "SET", "hz", "20", "timeout", "30"]),
            "+OK\r\n"
        );
        assert_eq!((s.state.config.hz, s.state.config.timeout), (20, 30));
    }
}
