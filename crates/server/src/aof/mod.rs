//! The append-only file, as Redis 7.0 keeps it: a directory (`appenddirname`) holding a
//! base file (an RDB snapshot, `<name>.<n>.base.rdb`, or commands, `.base.aof`, after
//! `aof-use-rdb-preamble`), incremental files of commands (`<name>.<n>.incr.aof`) and the
//! manifest that lists them (`manifest`).
//!
//! - Every group `propagate` records is appended to the current incremental file when it
//!   is recorded, under the server's lock, before the reply leaves: SELECT when the
//!   database changes, MULTI/EXEC around a group of more than one command.
//!   `appendfsync always` syncs it there too (so an acknowledged write is on disk);
//!   `everysec` syncs from a task of its own once a second, outside the lock; `no` leaves
//!   it to the kernel.
//! - A rewrite (BGREWRITEAOF, `auto-aof-rewrite-*`, `appendonly yes` at run time) opens a
//!   new incremental file, then forks: the child writes the new base from its
//!   copy-on-write image of the moment of the fork (the `rdb::file` BGSAVE machinery), the
//!   parent goes on appending to the new incremental file. When the child succeeded, the
//!   manifest names the new base and the new incremental file alone, and the old files are
//!   deleted.
//! - Loading (`load`) replays the files the manifest names; a truncated tail is cut off
//!   (with `aof-load-truncated yes`) or refused, a corrupt file is refused, with the file
//!   and the offset.
//!
//! Nothing here panics on what it reads; a failed write is reported (INFO
//! `aof_last_write_status`), never hidden.

pub mod load;
pub mod manifest;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::keyspace::Millis;
use crate::propagate::Propagated;
use crate::state::State;
use manifest::{Entry, Kind, Manifest};

/// `appendfsync`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fsync {
    Always,
    #[default]
    Everysec,
    No,
}

impl Fsync {
    fn from_config(state: &State) -> Fsync {
        match state.config.value("appendfsync").as_deref() {
            Some("always") => Fsync::Always,
            Some("no") => Fsync::No,
            _ => Fsync::Everysec,
        }
    }
}

/// A rewrite child while it runs.
#[derive(Clone, Copy, Debug)]
pub struct RewriteChild {
    pub pid: i32,
    pub started: Instant,
}

/// The AOF's state, kept whether it is on or not (INFO reports the last rewrite's fate
/// either way).
#[derive(Debug, Default)]
pub struct Aof {
    /// `appendonly yes` in force (or waiting for its first rewrite, as Redis's
    /// `AOF_WAIT_REWRITE`): writes are appended.
    pub on: bool,
    manifest: Option<Manifest>,
    /// The incremental file appended to.
    incr: Option<Arc<File>>,
    /// The database the last SELECT in the incremental file named.
    selected: Option<usize>,
    pub fsync: Fsync,
    buf: Vec<u8>,
    /// Bytes of the base and incremental files (`aof_current_size`).
    pub current_size: u64,
    /// `aof_current_size` after the last rewrite or load (`aof_base_size`).
    pub base_size: u64,
    pub last_write_ok: bool,
    pub child: Option<RewriteChild>,
    /// A BGREWRITEAOF waiting for a BGSAVE to end.
    pub scheduled: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_rewrite_secs: i64,
    pub last_rewrite_ok: bool,
    /// Set when the first rewrite of `appendonly yes` ends: the manifest is then written.
    waiting_first_rewrite: bool,
    /// Whether anything was appended since the everysec task's last sync.
    dirty_since_fsync: bool,
    /// `aof-timestamp-enabled`: a `#TS:<unix seconds>` line before the first command of
    /// each second, as Redis 7.0 annotates its files.
    pub timestamps: bool,
    last_timestamp: i64,
}

impl Aof {
    pub fn new() -> Aof {
        Aof {
            last_write_ok: true,
            last_rewrite_ok: true,
            last_rewrite_secs: -1,
            ..Aof::default()
        }
    }

    /// Appends a group of the stream (`propagate`).
    pub fn feed(&mut self, commands: &[Propagated], now: Millis) {
        let Some(file) = self.incr.clone() else {
            return;
        };
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if self.timestamps && now / 1000 != self.last_timestamp {
            self.last_timestamp = now / 1000;
            buf.extend_from_slice(format!("#TS:{}\r\n", self.last_timestamp).as_bytes());
        }
        let wrap = commands.len() > 1;
        for (i, c) in commands.iter().enumerate() {
            if self.selected != Some(c.db) {
                encode(&mut buf, &[b"SELECT", c.db.to_string().as_bytes()]);
                self.selected = Some(c.db);
            }
            if wrap && i == 0 {
                encode(&mut buf, &[b"MULTI"]);
            }
            let argv: Vec<&[u8]> = c.argv.iter().map(|a| a.as_slice()).collect();
            encode(&mut buf, &argv);
        }
        if wrap {
            encode(&mut buf, &[b"EXEC"]);
        }
        let mut ok = (&*file).write_all(&buf).is_ok();
        if ok && self.fsync == Fsync::Always {
            ok = file.sync_data().is_ok();
        }
        self.dirty_since_fsync = true;
        self.last_write_ok = ok;
        self.current_size += buf.len() as u64;
        self.buf = buf;
    }

    /// The file the everysec task syncs, if writes went to it since the last sync.
    fn take_sync(&mut self) -> Option<Arc<File>> {
        if !self.on || self.fsync != Fsync::Everysec || !self.dirty_since_fsync {
            return None;
        }
        self.dirty_since_fsync = false;
        self.incr.clone()
    }

    /// Syncs what was appended (SHUTDOWN, DEBUG LOADAOF).
    pub fn sync(&self) {
        if let Some(file) = &self.incr {
            let _ = file.sync_data();
        }
    }
}

/// Reads the settings the writer follows (`appendfsync`, `aof-timestamp-enabled`); CONFIG
/// SET calls it too.
pub fn configure(state: &mut State) {
    state.aof.fsync = Fsync::from_config(state);
    state.aof.timestamps = state.config.value("aof-timestamp-enabled").as_deref() == Some("yes");
}

/// A command as RESP, as it goes in the file.
pub fn encode(out: &mut Vec<u8>, argv: &[&[u8]]) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        out.push(b'$');
        out.extend_from_slice(n.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// `dir/appenddirname`.
pub fn dir(state: &State) -> PathBuf {
    let name = state
        .config
        .value("appenddirname")
        .unwrap_or_else(|| "appendonlydir".into());
    crate::rdb::file::dir(state).join(name)
}

/// `appendfilename`.
pub fn name(state: &State) -> String {
    state
        .config
        .value("appendfilename")
        .unwrap_or_else(|| "appendonly.aof".into())
}

fn manifest_path(state: &State) -> PathBuf {
    dir(state).join(format!("{}.manifest", name(state)))
}

/// Whether the configuration asks for the AOF.
pub fn configured(state: &State) -> bool {
    state.config.value("appendonly").as_deref() == Some("yes")
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Opens the next incremental file (`incr_seq + 1`) for appending, and names it in the
/// manifest (in memory).
fn open_new_incr(state: &mut State) -> std::io::Result<()> {
    let dir = dir(state);
    std::fs::create_dir_all(&dir)?;
    let name = name(state);
    let mut m = state.aof.manifest.clone().unwrap_or_default();
    m.incr_seq += 1;
    let entry = Entry {
        name: format!("{name}.{}.incr.aof", m.incr_seq),
        seq: m.incr_seq,
        kind: Kind::Incr,
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(&entry.name))?;
    m.incrs.push(entry);
    let aof = &mut state.aof;
    aof.manifest = Some(m);
    aof.incr = Some(Arc::new(file));
    // Redis starts every incremental file with a SELECT.
    aof.selected = None;
    Ok(())
}

/// Start-up with `appendonly yes`: loads the files the manifest names (if any) into the
/// empty data set, then opens the AOF for appending. With no AOF yet, creates a base from
/// what is loaded (nothing) and a first incremental file, as Redis 7.0 does. An error is
/// fatal: the caller prints it and exits 1.
pub fn start(state: &mut State, now: Millis) -> Result<(), String> {
    configure(state);
    let path = manifest_path(state);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let m = Manifest::parse(&text)
                .map_err(|e| format!("Bad AOF manifest {}: {e}", path.display()))?;
            load::load_files(state, &m, now)?;
            let size: u64 = m
                .files()
                .map(|e| file_size(&dir(state).join(&e.name)))
                .sum();
            let aof = &mut state.aof;
            aof.current_size = size;
            aof.base_size = size;
            // Appends go on in the last incremental file, as in Redis.
            let last = m.incrs.last().cloned();
            aof.manifest = Some(m);
            match last {
                Some(last) => {
                    let file = OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(dir(state).join(&last.name))
                        .map_err(|e| {
                            format!("Can't open the append-only file {}: {e}", last.name)
                        })?;
                    state.aof.incr = Some(Arc::new(file));
                    state.aof.selected = None;
                }
                None => {
                    open_new_incr(state).map_err(|e| e.to_string())?;
                    persist_manifest(state).map_err(|e| e.to_string())?;
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Redis 7.0: "Creating AOF base file ... on server start".
            write_base_now(state, now).map_err(|e| format!("Can't create the AOF base: {e}"))?;
            open_new_incr(state).map_err(|e| e.to_string())?;
            persist_manifest(state).map_err(|e| e.to_string())?;
        }
        Err(e) => {
            return Err(format!(
                "Can't read the AOF manifest {}: {e}",
                path.display()
            ))
        }
    }
    state.aof.on = true;
    state.log_deletions();
    Ok(())
}

/// DEBUG LOADAOF: what was appended is synced, the data set emptied and loaded again
/// from the files the manifest on disk names.
pub fn reload(state: &mut State, now: Millis) -> Result<(), String> {
    state.aof.sync();
    let path = manifest_path(state);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("Can't read the AOF manifest {}: {e}", path.display()))?;
    let m =
        Manifest::parse(&text).map_err(|e| format!("Bad AOF manifest {}: {e}", path.display()))?;
    let dirty = state.mods.dirty;
    for index in 0..state.dbs.len() {
        state.db(index, now).clear();
    }
    state.functions.flush();
    load::load_files(state, &m, now)?;
    state.mods.dirty = dirty;
    Ok(())
}

/// Writes a base from the data set now, under the lock (start-up only).
fn write_base_now(state: &mut State, now: Millis) -> std::io::Result<()> {
    let dir = dir(state);
    std::fs::create_dir_all(&dir)?;
    let mut m = state.aof.manifest.clone().unwrap_or_default();
    m.base_seq += 1;
    let entry = base_entry(state, m.base_seq);
    let path = dir.join(&entry.name);
    write_base(state, now, &path)?;
    state.aof.current_size = file_size(&path);
    state.aof.base_size = state.aof.current_size;
    m.base = Some(entry);
    state.aof.manifest = Some(m);
    Ok(())
}

fn base_entry(state: &State, seq: u64) -> Entry {
    let preamble = state.config.value("aof-use-rdb-preamble").as_deref() != Some("no");
    let ext = if preamble { "rdb" } else { "aof" };
    Entry {
        name: format!("{}.{seq}.base.{ext}", name(state)),
        seq,
        kind: Kind::Base,
    }
}

/// The base file: an RDB snapshot, or (`aof-use-rdb-preamble no`) the commands that make
/// the data set.
fn write_base(state: &State, now: Millis, path: &Path) -> std::io::Result<()> {
    let preamble = state.config.value("aof-use-rdb-preamble").as_deref() != Some("no");
    let file = File::create(path)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    if preamble {
        crate::rdb::file::write_rdb(state, now, &mut w)?;
    } else {
        write_commands(state, &mut w)?;
    }
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// The data set as commands Redis replays: the function libraries (FUNCTION LOAD), then
/// per database a SELECT and each key as a RESTORE of its serialized value with its
/// absolute TTL.
fn write_commands(state: &State, w: &mut impl Write) -> std::io::Result<()> {
    let opts = crate::rdb::SaveOptions::from_config(&state.config);
    let mut buf = Vec::with_capacity(64 * 1024);
    for library in state.functions.libraries() {
        encode(&mut buf, &[b"FUNCTION", b"LOAD", &library.code]);
    }
    for (index, db) in state.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        encode(&mut buf, &[b"SELECT", index.to_string().as_bytes()]);
        for entry in db.dict().iter() {
            let mut payload = Vec::new();
            if crate::rdb::dump_value_with(entry.value, &mut payload, opts).is_err() {
                continue;
            }
            crate::rdb::finish_dump(&mut payload);
            let ttl = if entry.expire_at == crate::keyspace::NO_EXPIRY {
                0
            } else {
                entry.expire_at
            };
            encode(
                &mut buf,
                &[
                    b"RESTORE",
                    entry.key,
                    ttl.to_string().as_bytes(),
                    &payload,
                    b"ABSTTL",
                ],
            );
            if buf.len() >= 64 * 1024 {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    w.write_all(&buf)?;
    w.flush()
}

fn persist_manifest(state: &State) -> std::io::Result<()> {
    match &state.aof.manifest {
        Some(m) => m.persist(&manifest_path(state)),
        None => Ok(()),
    }
}

/// Why a rewrite did not start.
#[derive(Debug)]
pub enum RewriteError {
    InProgress,
    Io(std::io::Error),
}

/// Starts a rewrite now: a new incremental file takes the writes from here on, and a
/// forked child writes the base from its image of this moment.
pub fn rewrite(state: &mut State, now: Millis) -> Result<(), RewriteError> {
    if state.aof.child.is_some() {
        return Err(RewriteError::InProgress);
    }
    open_new_incr(state).map_err(RewriteError::Io)?;
    if !state.aof.waiting_first_rewrite {
        // The old files and the new incremental one: what a crash before the end loads.
        persist_manifest(state).map_err(RewriteError::Io)?;
    }
    let dir = dir(state);
    // SAFETY: as `rdb::file::bgsave`: the child reads the memory it got at the fork (this
    // thread holds the server's lock), writes one file and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(RewriteError::Io(std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let me = std::process::id();
        let temp = dir.join(format!("temp-rewriteaof-bg-{me}.aof"));
        let code = match write_base(state, now, &temp) {
            Ok(()) => 0,
            Err(_) => 1,
        };
        // SAFETY: ends the child at once, as Redis's `exitFromChild` does.
        unsafe { libc::_exit(code) };
    }
    state.aof.child = Some(RewriteChild {
        pid,
        started: Instant::now(),
    });
    Ok(())
}

/// Reaps a rewrite child that has ended and installs its base (Redis's
/// `backgroundRewriteDoneHandler`).
pub fn poll_child(state: &mut State, now: Millis) {
    let Some(child) = state.aof.child else {
        return;
    };
    let mut status = 0;
    // SAFETY: a non-blocking wait for our own child.
    let r = unsafe { libc::waitpid(child.pid, &mut status, libc::WNOHANG) };
    if r == 0 {
        return;
    }
    state.aof.child = None;
    let dir = dir(state);
    let temp = dir.join(format!("temp-rewriteaof-bg-{}.aof", child.pid));
    let ok = r == child.pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let installed = ok && install_base(state, &temp).is_ok();
    if !installed {
        let _ = std::fs::remove_file(&temp);
    }
    let aof = &mut state.aof;
    aof.last_rewrite_secs = child.started.elapsed().as_secs() as i64;
    aof.last_rewrite_ok = installed;
    if installed {
        aof.rewrites += 1;
        aof.consecutive_failures = 0;
        aof.waiting_first_rewrite = false;
    } else {
        aof.consecutive_failures += 1;
    }
    let _ = now;
}

/// The child's base becomes the base: the manifest names it and the newest incremental
/// file; the files before them are deleted.
fn install_base(state: &mut State, temp: &Path) -> std::io::Result<()> {
    let dir = dir(state);
    let Some(mut m) = state.aof.manifest.clone() else {
        return Err(std::io::Error::other("no manifest"));
    };
    m.base_seq += 1;
    let base = base_entry(state, m.base_seq);
    std::fs::rename(temp, dir.join(&base.name))?;
    let mut old: Vec<Entry> = m.base.take().into_iter().collect();
    let newest = m.incrs.pop();
    old.append(&mut m.incrs);
    m.base = Some(base);
    m.incrs = newest.into_iter().collect();
    m.history = old
        .into_iter()
        .map(|e| Entry {
            kind: Kind::History,
            ..e
        })
        .collect();
    m.persist(&manifest_path(state))?;
    for e in std::mem::take(&mut m.history) {
        let _ = std::fs::remove_file(dir.join(&e.name));
    }
    m.persist(&manifest_path(state))?;
    let size: u64 = m.files().map(|e| file_size(&dir.join(&e.name))).sum();
    state.aof.manifest = Some(m);
    state.aof.current_size = size;
    state.aof.base_size = size;
    Ok(())
}

/// `CONFIG SET appendonly yes|no` at run time. Turning it on starts a rewrite (the
/// manifest is written when it ends, as Redis's `startAppendOnly`); turning it off stops
/// appending and kills a running rewrite.
pub fn set_enabled(state: &mut State, on: bool, now: Millis) -> Result<(), String> {
    if on == state.aof.on {
        return Ok(());
    }
    if on {
        configure(state);
        if state.aof.manifest.is_none() {
            if let Ok(text) = std::fs::read_to_string(manifest_path(state)) {
                state.aof.manifest = Manifest::parse(&text).ok();
            }
        }
        kill_child(state);
        crate::rdb::file::poll_child(state, now);
        if state.config.saves.child.is_some() {
            // Redis waits for the BGSAVE to end; the rewrite is scheduled.
            state.aof.waiting_first_rewrite = true;
            open_new_incr(state).map_err(|e| e.to_string())?;
            state.aof.scheduled = true;
        } else {
            // Until the base is written, the files on disk stay as they were (Redis's
            // AOF_WAIT_REWRITE): a crash meanwhile must not load old files and new writes.
            state.aof.waiting_first_rewrite = true;
            rewrite(state, now).map_err(|e| format!("{e:?}"))?;
        }
        state.aof.on = true;
    } else {
        state.aof.sync();
        kill_child(state);
        state.aof.on = false;
        state.aof.incr = None;
    }
    state.log_deletions();
    Ok(())
}

/// Kills a running rewrite (SHUTDOWN, `appendonly no`), removing its temporary file.
pub fn kill_child(state: &mut State) {
    if let Some(child) = state.aof.child.take() {
        // SAFETY: our own child; the wait reaps it.
        unsafe {
            libc::kill(child.pid, libc::SIGUSR1);
            let mut status = 0;
            libc::waitpid(child.pid, &mut status, 0);
        }
        let _ =
            std::fs::remove_file(dir(state).join(format!("temp-rewriteaof-bg-{}.aof", child.pid)));
    }
}

/// What Redis's `serverCron` does for the AOF: reap a finished rewrite, start a scheduled
/// one once no child runs, and one when the file grew by `auto-aof-rewrite-percentage`
/// over its size after the last rewrite (and is at least `auto-aof-rewrite-min-size`).
pub fn cron(state: &mut State, now: Millis) {
    poll_child(state, now);
    if state.aof.child.is_some() || state.config.saves.child.is_some() {
        return;
    }
    if state.aof.scheduled {
        state.aof.scheduled = false;
        let _ = rewrite(state, now);
        return;
    }
    if !state.aof.on {
        return;
    }
    let number = |name: &str| {
        state
            .config
            .value(name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (percentage, min_size) = (
        number("auto-aof-rewrite-percentage"),
        number("auto-aof-rewrite-min-size"),
    );
    let aof = &state.aof;
    if percentage > 0 && aof.current_size > min_size {
        let base = aof.base_size.max(1);
        let growth = (aof.current_size.saturating_sub(base)) * 100 / base;
        if growth >= percentage {
            let _ = rewrite(state, now);
        }
    }
}

/// `appendfsync everysec`: syncs what was appended once a second, outside the lock.
pub(crate) async fn fsync_loop(
    shared: Arc<crate::shared::Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        let file = shared.lock().await.aof.take_sync();
        if let Some(file) = file {
            let _ = tokio::task::spawn_blocking(move || file.sync_data()).await;
        }
    }
}

/// INFO persistence's aof fields, as Redis 7.0 writes them.
pub fn info(state: &State, out: &mut String) {
    use std::fmt::Write as _;
    let aof = &state.aof;
    let current = aof
        .child
        .map_or(-1, |c| c.started.elapsed().as_secs() as i64);
    let ok = |b: bool| if b { "ok" } else { "err" };
    let _ = write!(
        out,
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\n\
         aof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{current}\r\n\
         aof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\n\
         aof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\n\
         aof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        u8::from(aof.on),
        u8::from(aof.child.is_some()),
        u8::from(aof.scheduled),
        aof.last_rewrite_secs,
        ok(aof.last_rewrite_ok),
        aof.rewrites,
        aof.consecutive_failures,
        ok(aof.last_write_ok),
    );
    if aof.on {
        let _ = write!(
            out,
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\n\
             aof_buffer_length:0\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
            aof.current_size,
            aof.base_size,
            u8::from(aof.scheduled),
        );
    }
}
