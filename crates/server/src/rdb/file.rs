//! RDB files: the whole keyspace (and the function libraries) as redis-server 7.0 writes
//! `dump.rdb` (version 10: aux fields, FUNCTION2, SELECTDB, RESIZEDB, EXPIRETIME_MS, the
//! objects of `value`, EOF, CRC64), and the loader for what 7.0 writes or still reads.
//!
//! SAVE writes under the server's lock. BGSAVE does what Redis does: `fork()`. The child
//! holds a copy-on-write image of the keyspace as it was at the fork, writes it out and
//! exits; the parent goes on serving at once, paying only the fork (page tables). A save
//! writes `temp-<pid>.rdb` beside the target and renames it over `dbfilename` only once
//! it is complete and synced, so a crash mid-save leaves the previous file intact.
//!
//! Loading never panics: a bad file is an error naming the offset where reading stopped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::value::{dump_value_with, is_object_type, load_object, LoadError, SaveOptions};
use super::{write_len, write_string, Reader, OPCODE_FUNCTION2, OPCODE_FUNCTION_PRE_GA};
use crate::keyspace::{Millis, NO_EXPIRY};
use crate::state::State;

pub const OPCODE_MODULE_AUX: u8 = 247;
pub const OPCODE_IDLE: u8 = 248;
pub const OPCODE_FREQ: u8 = 249;
pub const OPCODE_AUX: u8 = 250;
pub const OPCODE_RESIZEDB: u8 = 251;
pub const OPCODE_EXPIRETIME_MS: u8 = 252;
pub const OPCODE_EXPIRETIME: u8 = 253;
pub const OPCODE_SELECTDB: u8 = 254;
pub const OPCODE_EOF: u8 = 255;

/// What INFO persistence reports about saves, and the BGSAVE child while it runs.
#[derive(Clone, Copy, Debug)]
pub struct SaveRecord {
    /// Saves that succeeded (`rdb_saves`).
    pub saves: u64,
    /// `dirty` when the last successful save's image was taken.
    pub dirty_at_last_save: u64,
    /// Unix time of the last BGSAVE that ended, if any.
    pub last_bgsave: Option<i64>,
    /// Whether the last BGSAVE succeeded (`rdb_last_bgsave_status`).
    pub last_bgsave_ok: bool,
    /// Seconds the last BGSAVE took (`rdb_last_bgsave_time_sec`), -1 before any.
    pub last_bgsave_secs: i64,
    /// The running BGSAVE child.
    pub child: Option<Child>,
    /// A BGSAVE SCHEDULE waiting for a running save to end.
    pub scheduled: bool,
    /// Unix time of the last save attempt that failed, for the save rules' retry delay.
    pub last_failed_try: i64,
    /// Keys the last load read and skipped as expired.
    pub loaded_keys: u64,
    pub loaded_expired: u64,
}

impl Default for SaveRecord {
    fn default() -> Self {
        SaveRecord {
            saves: 0,
            dirty_at_last_save: 0,
            last_bgsave: None,
            last_bgsave_ok: true,
            last_bgsave_secs: -1,
            child: None,
            scheduled: false,
            last_failed_try: 0,
            loaded_keys: 0,
            loaded_expired: 0,
        }
    }
}

/// A BGSAVE child process.
#[derive(Clone, Copy, Debug)]
pub struct Child {
    pub pid: i32,
    pub started: Instant,
    /// `dirty` at the fork: what the image holds.
    pub dirty: u64,
}

/// Why a file did not load: where reading stopped and what was wrong there.
#[derive(Debug)]
pub struct FileError {
    pub path: PathBuf,
    pub offset: usize,
    pub reason: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Bad RDB file {} at offset {}: {}",
            self.path.display(),
            self.offset,
            self.reason
        )
    }
}

/// The directory files go in (`dir`; the current one by default).
pub fn dir(state: &State) -> PathBuf {
    state
        .config
        .value("dir")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// `dir/dbfilename`.
pub fn rdb_path(state: &State) -> PathBuf {
    let name = state
        .config
        .value("dbfilename")
        .unwrap_or_else(|| "dump.rdb".into());
    dir(state).join(name)
}

/// Writes bytes while computing their CRC64, as Redis's `rio` does with checksums on.
struct Checksummed<W: Write> {
    inner: W,
    digest: crc::Digest<'static, u64>,
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The whole file: header, aux fields, libraries, every database, EOF and checksum.
pub fn write_rdb(state: &State, now: Millis, out: impl Write) -> std::io::Result<()> {
    let opts = SaveOptions::from_config(&state.config);
    let policy = state.config.maxmemory_policy;
    let checksum = state.config.value("rdbchecksum").is_none_or(|v| v == "yes");
    let mut w = Checksummed {
        inner: out,
        digest: super::CRC64.digest(),
    };
    let mut buf = Vec::with_capacity(64 * 1024);
    buf.extend_from_slice(format!("REDIS{:04}", super::VERSION).as_bytes());
    let aux = |buf: &mut Vec<u8>, key: &str, value: &str| {
        buf.push(OPCODE_AUX);
        write_string(buf, key.as_bytes(), opts.compress);
        write_string(buf, value.as_bytes(), opts.compress);
    };
    aux(
        &mut buf,
        "redis-ver",
        crate::commands::connection::REDIS_VERSION,
    );
    aux(&mut buf, "redis-bits", "64");
    aux(&mut buf, "ctime", &(now / 1000).to_string());
    aux(&mut buf, "used-mem", "0");
    aux(&mut buf, "aof-base", "0");
    for library in state.functions.libraries() {
        buf.push(OPCODE_FUNCTION2);
        write_string(&mut buf, &library.code, opts.compress);
    }
    for (index, db) in state.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let dict = db.dict();
        buf.push(OPCODE_SELECTDB);
        write_len(&mut buf, index as u64);
        buf.push(OPCODE_RESIZEDB);
        write_len(&mut buf, dict.len() as u64);
        write_len(&mut buf, dict.expiring_len() as u64);
        for entry in dict.iter() {
            let mut object = Vec::new();
            if dump_value_with(entry.value, &mut object, opts).is_err() {
                // A value with no RDB form (none today): left out, not a corrupt file.
                continue;
            }
            if entry.expire_at != NO_EXPIRY {
                buf.push(OPCODE_EXPIRETIME_MS);
                buf.extend_from_slice(&entry.expire_at.to_le_bytes());
            }
            // The key's access data, as `rdbSaveKeyValuePair` writes it for the policy
            // that reads it: seconds idle for an LRU policy, the decayed counter for LFU.
            if policy.is_lru() || policy.is_lfu() {
                let stamp = dict.find(entry.key).map_or(0, |idx| dict.stamp(idx));
                if policy.is_lru() {
                    buf.push(OPCODE_IDLE);
                    write_len(&mut buf, crate::evict::idle_ms(stamp, now) / 1000);
                } else {
                    buf.push(OPCODE_FREQ);
                    let decay = state.config.lfu_decay_time;
                    buf.push(crate::evict::lfu_decayed(stamp, now, decay) as u8);
                }
            }
            buf.push(object[0]);
            write_string(&mut buf, entry.key, opts.compress);
            buf.extend_from_slice(&object[1..]);
            if buf.len() >= 64 * 1024 {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    buf.push(OPCODE_EOF);
    w.write_all(&buf)?;
    let crc = if checksum { w.digest.finalize() } else { 0 };
    w.inner.write_all(&crc.to_le_bytes())?;
    w.inner.flush()
}

/// Writes the file at `path` through `temp-<pid>.rdb` in the same directory: synced, then
/// renamed over the old file.
pub fn write_file(state: &State, now: Millis, path: &Path, pid: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!("temp-{pid}.rdb"));
    let result = (|| {
        let file = std::fs::File::create(&temp)?;
        let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
        write_rdb(state, now, &mut writer)?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// SAVE: the file, written now under the lock. Records the save when it succeeds.
pub fn save(state: &mut State, now: Millis) -> std::io::Result<()> {
    let path = rdb_path(state);
    let result = write_file(state, now, &path, std::process::id());
    match &result {
        Ok(()) => saved(state, now, state.mods.dirty),
        Err(_) => state.config.saves.last_failed_try = now / 1000,
    }
    result
}

fn saved(state: &mut State, now: Millis, dirty: u64) {
    let saves = &mut state.config.saves;
    saves.saves += 1;
    saves.dirty_at_last_save = dirty;
    state.last_save = now / 1000;
}

/// BGSAVE: forks a child that writes the file from its copy-on-write image of memory.
pub fn bgsave(state: &mut State, now: Millis) -> std::io::Result<()> {
    let path = rdb_path(state);
    // SAFETY: the child only reads memory the parent held still at the fork (this thread
    // holds the server's lock), allocates (glibc's malloc and jemalloc are fork-safe),
    // writes one file and leaves with `_exit`, running no destructor and touching no lock
    // or runtime of the parent's.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        let me = std::process::id();
        let code = match write_file(state, now, &path, me) {
            Ok(()) => 0,
            Err(_) => 1,
        };
        // SAFETY: ends the child at once, as Redis's `exitFromChild` does.
        unsafe { libc::_exit(code) };
    }
    state.config.saves.child = Some(Child {
        pid,
        started: Instant::now(),
        dirty: state.mods.dirty,
    });
    Ok(())
}

/// Reaps a BGSAVE child that has ended (`checkChildrenDone`) and records its outcome.
/// Called by the cron and by every command that reports on saves.
pub fn poll_child(state: &mut State, now: Millis) {
    let Some(child) = state.config.saves.child else {
        return;
    };
    let mut status = 0;
    // SAFETY: a non-blocking wait for our own child.
    let r = unsafe { libc::waitpid(child.pid, &mut status, libc::WNOHANG) };
    if r == 0 {
        return;
    }
    let ok = r == child.pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let saves = &mut state.config.saves;
    saves.child = None;
    saves.last_bgsave = Some(now / 1000);
    saves.last_bgsave_ok = ok;
    saves.last_bgsave_secs = child.started.elapsed().as_secs() as i64;
    if ok {
        saved(state, now, child.dirty);
    } else {
        state.config.saves.last_failed_try = now / 1000;
    }
}

/// The `save` rules: (seconds, changes) pairs; none when `save ""`.
pub fn save_rules(state: &State) -> Vec<(i64, u64)> {
    let text = state.config.value("save").unwrap_or_default();
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .chunks_exact(2)
        .filter_map(|p| Some((p[0].parse().ok()?, p[1].parse().ok()?)))
        .collect()
}

/// What `serverCron` does for persistence: reap a finished child, start a scheduled
/// BGSAVE, and start one when a `save` rule is met (after a failure, not before 5 seconds).
pub fn cron(state: &mut State, now: Millis) {
    poll_child(state, now);
    if state.config.saves.child.is_some() {
        return;
    }
    let secs = now / 1000;
    let saves = state.config.saves;
    let changes = state.mods.dirty.saturating_sub(saves.dirty_at_last_save);
    let due = save_rules(state).iter().any(|&(seconds, min_changes)| {
        changes >= min_changes
            && secs - state.last_save > seconds
            && (saves.last_bgsave_ok || secs - saves.last_failed_try > 5)
    });
    if saves.scheduled || due {
        state.config.saves.scheduled = false;
        let _ = bgsave(state, now);
    }
}

/// Waits for a running BGSAVE child to end (SHUTDOWN kills it instead; DEBUG RELOAD and
/// SAVE refuse to run beside it).
pub fn kill_child(state: &mut State) {
    if let Some(child) = state.config.saves.child.take() {
        // SAFETY: our own child; the wait reaps it.
        unsafe {
            libc::kill(child.pid, libc::SIGUSR1);
            let mut status = 0;
            libc::waitpid(child.pid, &mut status, 0);
        }
        let dir = rdb_path(state).parent().map(Path::to_path_buf);
        if let Some(dir) = dir {
            let _ = std::fs::remove_file(dir.join(format!("temp-{}.rdb", child.pid)));
        }
    }
}

/// What a load read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub keys: u64,
    pub expired: u64,
}

/// Loads the file at start-up, if there is one: into the empty databases and libraries.
pub fn load_at_startup(state: &mut State, now: Millis) -> Result<Option<Loaded>, FileError> {
    let path = rdb_path(state);
    let data = match std::fs::read(&path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(FileError {
                path,
                offset: 0,
                reason: e.to_string(),
            })
        }
    };
    let loaded = load_quietly(state, &data, now).map_err(|(offset, reason)| FileError {
        path,
        offset,
        reason,
    })?;
    Ok(Some(loaded))
}

/// `load`, as loading is in Redis: no change counted, no keyspace event sent.
pub fn load_quietly(
    state: &mut State,
    data: &[u8],
    now: Millis,
) -> Result<Loaded, (usize, String)> {
    let dirty = state.mods.dirty;
    let result = load(state, data, now);
    state.mods.dirty = dirty;
    state.mods.drain_events();
    if let Ok(loaded) = &result {
        state.config.saves.loaded_keys = loaded.keys;
        state.config.saves.loaded_expired = loaded.expired;
    }
    result
}

/// Loads `data` into `state` (whose databases should be empty). Keys already past their
/// TTL are skipped, as a primary skips them. On error: the offset and the reason.
pub fn load(state: &mut State, data: &[u8], now: Millis) -> Result<Loaded, (usize, String)> {
    let mut r = Reader::new(data);
    let fail = |r: &Reader, why: &str| Err((r.pos(), why.to_string()));
    let magic = r
        .take(9)
        .ok_or((0, "too short for an RDB file".to_string()))?;
    if &magic[..5] != b"REDIS" {
        return Err((0, "Wrong signature trying to load DB from file".into()));
    }
    let version: u16 = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if !(1..=super::VERSION).contains(&version) {
        return Err((5, format!("Can't handle RDB format version {version}")));
    }
    let config = state.config.clone();
    let mut db = 0usize;
    let mut expire_at = NO_EXPIRY;
    // What the IDLE and FREQ opcodes said of the next key (Redis's `lru_idle`, `lfu_freq`).
    let (mut lru_idle, mut lfu_freq) = (None, None);
    let lfu = config.maxmemory_policy.is_lfu();
    // Keys are stamped as this server's policy reads them, even before its first command.
    state.mods.access.lfu = lfu;
    state.mods.access.lfu_log_factor = config.lfu_log_factor;
    state.mods.access.lfu_decay_time = config.lfu_decay_time;
    let mut loaded = Loaded::default();
    loop {
        let Some(t) = r.byte() else {
            return fail(
                &r,
                "Short read or OOM loading DB. Unrecoverable error, aborting now.",
            );
        };
        match t {
            OPCODE_EXPIRETIME_MS => {
                let b = r
                    .take(8)
                    .ok_or((r.pos(), "truncated expire time".to_string()))?;
                expire_at = i64::from_le_bytes(b.try_into().unwrap_or_default());
                continue;
            }
            OPCODE_EXPIRETIME => {
                let b = r
                    .take(4)
                    .ok_or((r.pos(), "truncated expire time".to_string()))?;
                expire_at = i64::from(i32::from_le_bytes(b.try_into().unwrap_or_default())) * 1000;
                continue;
            }
            OPCODE_IDLE => {
                let idle = r
                    .len()
                    .ok_or((r.pos(), "truncated idle time".to_string()))?;
                // Redis keeps it in a long long: a huge one is negative, hence unused.
                lru_idle = Some(idle as i64).filter(|&i| i >= 0);
                continue;
            }
            OPCODE_FREQ => {
                let freq = r
                    .byte()
                    .ok_or((r.pos(), "truncated frequency".to_string()))?;
                lfu_freq = Some(i64::from(freq));
                continue;
            }
            OPCODE_EOF => break,
            OPCODE_SELECTDB => {
                let n = r
                    .len()
                    .ok_or((r.pos(), "truncated database number".to_string()))?;
                if n >= state.dbs.len() as u64 {
                    return fail(&r, &format!("FATAL: Data file was created with a Redis server configured to handle more than {} databases. Exiting", state.dbs.len()));
                }
                db = n as usize;
                continue;
            }
            OPCODE_RESIZEDB => {
                r.len().ok_or((r.pos(), "truncated RESIZEDB".to_string()))?;
                r.len().ok_or((r.pos(), "truncated RESIZEDB".to_string()))?;
                continue;
            }
            OPCODE_AUX => {
                r.string()
                    .ok_or((r.pos(), "truncated aux field".to_string()))?;
                r.string()
                    .ok_or((r.pos(), "truncated aux field".to_string()))?;
                continue;
            }
            OPCODE_MODULE_AUX => {
                return fail(&r, "module data found, but lockstep loads no modules");
            }
            OPCODE_FUNCTION_PRE_GA => {
                return fail(&r, "Pre-release function format not supported");
            }
            OPCODE_FUNCTION2 => {
                let code = r
                    .string()
                    .ok_or((r.pos(), "truncated function library".to_string()))?;
                if let Err(e) = state.functions.load(&code, false) {
                    return fail(&r, &format!("Failed loading library: {e}"));
                }
                continue;
            }
            t if !is_object_type(t) => {
                return fail(&r, &format!("Unknown RDB encoding type {t}"));
            }
            t => {
                let at = r.pos();
                let key = r.string().ok_or((r.pos(), "truncated key".to_string()))?;
                let value = match load_object(t, &mut r, &config) {
                    Ok(v) => Some(v),
                    Err(LoadError::EmptyKey) => None,
                    Err(LoadError::Corrupt(why)) => return Err((at, why.to_string())),
                };
                let expire = std::mem::replace(&mut expire_at, NO_EXPIRY);
                let stamp = crate::evict::stamp_from(lfu, lfu_freq.take(), lru_idle.take(), now);
                let Some(value) = value else { continue };
                if expire != NO_EXPIRY && expire < now {
                    loaded.expired += 1;
                    continue;
                }
                let mut target = state.db(db, now);
                if target.contains(&key) {
                    return Err((
                        at,
                        format!(
                            "duplicated key '{}' in DB {db}",
                            String::from_utf8_lossy(&key)
                        ),
                    ));
                }
                target.set(&key, value, expire);
                target.set_stamp_of(&key, stamp);
                loaded.keys += 1;
            }
        }
    }
    let end = r.pos();
    if version >= 5 {
        let Some(crc) = r.take(8) else {
            return fail(
                &r,
                "Short read or OOM loading DB. Unrecoverable error, aborting now.",
            );
        };
        let expected = u64::from_le_bytes(crc.try_into().unwrap_or_default());
        let checking = config.value("rdbchecksum").is_none_or(|v| v == "yes");
        if checking && expected != 0 {
            let actual = super::CRC64.checksum(&data[..end]);
            if actual != expected {
                return Err((end, format!("Wrong RDB checksum expected: ({expected:x}) got: ({actual:x}). Aborting now.")));
            }
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;
    use crate::keyspace::Value;

    fn state() -> State {
        let (tx, _) = tokio::sync::watch::channel(false);
        State::new(ServerConfig::ephemeral().settings, tx)
    }

    fn saved_bytes() -> Vec<u8> {
        let mut s = state();
        s.db(0, 1000).set(b"k", Value::string(b"v"), NO_EXPIRY);
        s.db(2, 1000).set(b"t", Value::string(b"12"), 5_000_000);
        let mut out = Vec::new();
        write_rdb(&s, 1000, &mut out).expect("in memory");
        out
    }

    #[test]
    fn a_saved_file_loads_back_with_its_ttls() {
        let mut s = state();
        let loaded = load(&mut s, &saved_bytes(), 1000).expect("loads");
        assert_eq!((loaded.keys, loaded.expired), (2, 0));
        assert_eq!(s.db(2, 1000).expire_at(b"t"), Some(5_000_000));
        // Loaded after the TTL passed: skipped and counted.
        let mut s = state();
        let loaded = load(&mut s, &saved_bytes(), 6_000_000).expect("loads");
        assert_eq!((loaded.keys, loaded.expired), (1, 1));
    }

    #[test]
    fn a_bad_file_is_refused_with_the_offset_where_reading_stopped() {
        let good = saved_bytes();
        let mut s = state();
        let (at, why) = load(&mut s, b"RUBBISH0010", 0).expect_err("bad magic");
        assert_eq!(at, 0, "{why}");
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let (at, why) = load(&mut state(), &flipped, 0).expect_err("bad checksum");
        assert!(why.starts_with("Wrong RDB checksum"), "{why}");
        assert_eq!(at, good.len() - 8);
        for cut in [9, 20, good.len() - 9, good.len() - 3] {
            let (at, _) = load(&mut state(), &good[..cut], 0).expect_err("truncated");
            assert!(at <= cut, "offset {at} past the end {cut}");
        }
        let mut module = good[..9].to_vec();
        module.push(OPCODE_MODULE_AUX);
        let (_, why) = load(&mut state(), &module, 0).expect_err("module");
        assert!(why.contains("module"), "{why}");
        let mut future = good.clone();
        future[5..9].copy_from_slice(b"0011");
        let (_, why) = load(&mut state(), &future, 0).expect_err("version");
        assert_eq!(why, "Can't handle RDB format version 11");
    }
}
