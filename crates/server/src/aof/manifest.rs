//! The manifest of Redis 7.0's multi-part AOF (`<appendfilename>.manifest` in
//! `appenddirname`): one line per file, `file <name> seq <n> type <b|h|i>`, the base first,
//! then history files waiting to be deleted, then the incremental files in order. It is
//! replaced atomically (a temporary file, synced, renamed), so a crash leaves the old one.

use std::io::Write;
use std::path::Path;

/// What a file of the AOF is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Base,
    History,
    Incr,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Base => 'b',
            Kind::History => 'h',
            Kind::Incr => 'i',
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub seq: u64,
    pub kind: Kind,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<Entry>,
    pub history: Vec<Entry>,
    pub incrs: Vec<Entry>,
    /// The highest sequence numbers used (the next files take one more).
    pub base_seq: u64,
    pub incr_seq: u64,
}

impl Manifest {
    /// Reads a manifest as Redis's `aofLoadManifestFromFile` does; the error is Redis's
    /// reason.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if !words.len().is_multiple_of(2) || words.len() < 6 {
                return Err("Invalid AOF manifest file format".into());
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                match pair[0] {
                    "file" => name = Some(pair[1].trim_matches('"').to_string()),
                    "seq" => seq = pair[1].parse::<u64>().ok(),
                    "type" => {
                        kind = match pair[1] {
                            "b" => Some(Kind::Base),
                            "h" => Some(Kind::History),
                            "i" => Some(Kind::Incr),
                            _ => None,
                        }
                    }
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err("Invalid AOF manifest file format".into());
            };
            if name.contains('/') {
                return Err("Invalid AOF manifest file format".into());
            }
            let entry = Entry { name, seq, kind };
            match kind {
                Kind::Base => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.base_seq = seq;
                    m.base = Some(entry);
                }
                Kind::History => m.history.push(entry),
                Kind::Incr => {
                    if seq <= m.incr_seq {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    m.incr_seq = seq;
                    m.incrs.push(entry);
                }
            }
        }
        if m.base.is_none() && m.incrs.is_empty() {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(m)
    }

    /// The text Redis writes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |e: &Entry| {
            out.push_str(&format!(
                "file {} seq {} type {}\n",
                e.name,
                e.seq,
                e.kind.letter()
            ));
        };
        self.base.iter().for_each(&mut line);
        self.history.iter().for_each(&mut line);
        self.incrs.iter().for_each(&mut line);
        out
    }

    /// The files to load, in order: the base, then every incremental file.
    pub fn files(&self) -> impl Iterator<Item = &Entry> {
        self.base.iter().chain(self.incrs.iter())
    }

    /// Writes the manifest as `path`, through a temporary file renamed over it.
    pub fn persist(&self, path: &Path) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = dir.join(format!("temp-{name}"));
        let result = (|| {
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(self.render().as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temp, path)?;
            // The rename itself reaches the disk with the directory.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_and_writes_as_redis_7_does() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\n\
                    file appendonly.aof.1.incr.aof seq 1 type h\n\
                    file appendonly.aof.2.incr.aof seq 2 type i\n\
                    file appendonly.aof.3.incr.aof seq 3 type i\n";
        let m = Manifest::parse(text).expect("valid");
        assert_eq!((m.base_seq, m.incr_seq), (2, 3));
        assert_eq!(m.render(), text);
        let names: Vec<_> = m.files().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "appendonly.aof.2.base.rdb",
                "appendonly.aof.2.incr.aof",
                "appendonly.aof.3.incr.aof"
            ]
        );
    }

    #[test]
    fn a_bad_manifest_is_refused() {
        for bad in [
            "",
            "file a seq x type i\n",
            "file a seq 1\n",
            "file a seq 2 type i\nfile b seq 1 type i\n",
            "file a seq 1 type b\nfile b seq 1 type b\n",
            "file ../x seq 1 type i\n",
        ] {
            assert!(Manifest::parse(bad).is_err(), "{bad:?}");
        }
    }
}
