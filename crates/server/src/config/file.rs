//! Redis's configuration file, and the command line that redis-server turns into more lines
//! of it: read into a `Config` whose every value was checked as CONFIG SET checks it
//! (`Config::set_at_startup`), with redis-server's error for the first line that fails.
//!
//! Nothing here opens files, binds or prints: callers hand in text and get a `Config` or a
//! `LoadError` to show.

use super::{lookup, Config, Param};

/// The first line of a configuration that could not be applied, as redis-server reports it
/// (`Reading the configuration file, at line N` / `>>> 'line'` / reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// 1-based, counting the file's lines, then one empty line, then the command line's.
    pub line: usize,
    /// The line, trimmed, as redis-server shows it after `>>> `.
    pub text: String,
    pub reason: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FATAL CONFIG FILE ERROR, at line {} >>> '{}': {}",
            self.line, self.text, self.reason
        )
    }
}

impl std::error::Error for LoadError {}

/// The configuration redis-server would run with: `file` (the config file's contents, empty
/// without one) and then `options`, the lines `command_line` made, so the command line wins.
pub fn load(file: &[u8], options: &str) -> Result<Config, LoadError> {
    let mut text = file.to_vec();
    text.push(b'\n');
    text.extend_from_slice(options.as_bytes());
    load_text(&text)
}

/// Applies every line of `text` to the defaults, in order. Redis's `loadServerConfigFromString`.
pub fn load_text(text: &[u8]) -> Result<Config, LoadError> {
    let mut config = Config::default();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = trim(line);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let fail = |reason: &str| LoadError {
            line: i + 1,
            text: String::from_utf8_lossy(line).into_owned(),
            reason: reason.to_string(),
        };
        let args =
            split_args(line).ok_or_else(|| fail("Unbalanced quotes in configuration line"))?;
        let Some((name, values)) = args.split_first() else {
            continue;
        };
        if name.eq_ignore_ascii_case(b"loadmodule") && !values.is_empty() {
            return Err(fail(&crate::commands::module::startup_refusal(&values[0])));
        }
        let param =
            lookup(name).ok_or_else(|| fail("Bad directive or wrong number of arguments"))?;
        let value = if takes_several(param) {
            values.join(&b' ')
        } else if let [value] = values {
            value.clone()
        } else {
            return Err(fail("wrong number of arguments"));
        };
        config
            .set_at_startup(param, &value)
            .map_err(|reason| fail(&reason))?;
    }
    Ok(config)
}

/// Redis's `sdstrim(line, " \t\r\n")`.
fn trim(line: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = line.iter().position(|b| !blank(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &line[start..end]
}

/// Parameters whose value is a list of words, given as several arguments on one line
/// (Redis's `MULTI_ARG_CONFIG`, and `replicaof host port`). CONFIG SET takes them as one
/// space-separated value, which is what they are joined into.
fn takes_several(param: &Param) -> bool {
    matches!(
        param.storage,
        "save"
            | "bind"
            | "client-output-buffer-limit"
            | "oom-score-adj-values"
            | "latency-tracking-info-percentiles"
            | "replicaof"
    )
}

/// redis-server's command line after the config file name, as the lines it appends to the
/// file: `--name` starts a line, every argument after it up to the next `--name` is one
/// quoted argument of it. As in redis-server, an option's first argument may itself start
/// with `--` (`--requirepass --secret`), and a `--save` with nothing after it means `save ""`.
///
/// One addition: repeated `--bind` options make one `bind` line with all their addresses
/// (lockstep's `--bind` has always been repeatable; redis-server would keep the last).
pub fn command_line(args: &[String]) -> String {
    struct Line {
        head: String,
        args: Vec<String>,
    }
    let mut lines: Vec<Line> = Vec::new();
    // Where arguments go: the line of the last `--name`, if any.
    let mut current: Option<usize> = None;
    // Whether the last `--name` has an argument yet (redis-server's `handled_last_config_arg`).
    let mut has_arg = true;
    for (j, arg) in args.iter().enumerate() {
        let Some(name) = arg.strip_prefix("--").filter(|_| has_arg) else {
            match current {
                Some(i) => lines[i].args.push(arg.clone()),
                None => {
                    lines.push(Line {
                        head: String::new(),
                        args: vec![arg.clone()],
                    });
                    current = Some(lines.len() - 1);
                }
            }
            has_arg = true;
            continue;
        };
        // `--port 6380` as one argument names the option and gives its value at once.
        has_arg = split_args(name.as_bytes()).is_some_and(|words| words.len() > 1);
        let next_is_option = args.get(j + 1).is_none_or(|next| next.starts_with("--"));
        let mut line = Line {
            head: name.to_string(),
            args: Vec::new(),
        };
        if !has_arg && next_is_option && name.eq_ignore_ascii_case("save") {
            line.args.push(String::new());
            has_arg = true;
        }
        let earlier_bind = lines
            .iter()
            .position(|l| l.head.eq_ignore_ascii_case("bind"))
            .filter(|_| name.eq_ignore_ascii_case("bind"));
        current = Some(match earlier_bind {
            Some(i) => i,
            None => {
                lines.push(line);
                lines.len() - 1
            }
        });
    }
    lines
        .iter()
        .map(|line| {
            let mut text = line.head.clone();
            if !text.is_empty() {
                text.push(' ');
            }
            for arg in &line.args {
                text.push_str(&repr(arg.as_bytes()));
                text.push(' ');
            }
            text
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Redis's `sdssplitargs`, as the inline protocol splits lines.
pub use lockstep_resp::request::split_args;

/// Redis's `sdscatrepr`: the argument in double quotes, with `\\`, `\"`, `\n`, `\r`, `\t`,
/// `\a`, `\b` escaped and other unprintable bytes as `\xHH`, so `split_args` reads it back.
pub fn repr(arg: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in arg {
        match b {
            b'\\' | b'"' => {
                out.push('\\');
                out.push(b as char);
            }
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            b' '..=b'~' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Option<Vec<String>> {
        split_args(line.as_bytes()).map(|args| {
            args.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    fn options(args: &[&str]) -> String {
        command_line(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn words_split_on_white_space() {
        assert_eq!(words("  save   3600\t1  ").unwrap(), ["save", "3600", "1"]);
    }

    #[test]
    fn double_quotes_keep_spaces_and_read_escapes() {
        assert_eq!(
            words(r#"requirepass "a b\"c\x41\n""#).unwrap(),
            ["requirepass", "a b\"cA\n"]
        );
        assert_eq!(words(r#"save """#).unwrap(), ["save", ""]);
    }

    #[test]
    fn single_quotes_read_only_escaped_single_quotes() {
        assert_eq!(
            words(r"requirepass 'it\'s \n'").unwrap(),
            ["requirepass", r"it's \n"]
        );
    }

    #[test]
    fn unbalanced_or_glued_quotes_are_refused() {
        assert_eq!(words(r#"foo "unbalanced"#), None);
        assert_eq!(words("foo 'unbalanced"), None);
        assert_eq!(words(r#"foo "a"b"#), None);
    }

    #[test]
    fn repr_is_read_back_by_split_args() {
        let arg = b"a \"b\"\\\n\x01";
        let line = format!("x {}", repr(arg));
        assert_eq!(split_args(line.as_bytes()).unwrap()[1], arg);
    }

    #[test]
    fn comments_blank_lines_and_indentation_are_skipped() {
        let config =
            load_text(b"# a comment\n\n   \n  databases 4  \n\t# another\nhz 20\n").expect("loads");
        assert_eq!(config.databases, 4);
        assert_eq!(config.hz, 20);
    }

    #[test]
    fn later_lines_win() {
        let config = load(b"maxmemory 1mb\n", &options(&["--maxmemory", "2mb"])).expect("loads");
        assert_eq!(config.value("maxmemory").as_deref(), Some("2097152"));
    }

    #[test]
    fn unknown_parameter_names_its_line_as_redis_does() {
        let err = load(b"", &options(&["--nosuchparam", "x"])).unwrap_err();
        assert_eq!(
            err,
            LoadError {
                line: 2,
                text: "nosuchparam \"x\"".into(),
                reason: "Bad directive or wrong number of arguments".into(),
            }
        );
    }

    #[test]
    fn bad_value_gives_config_set_reason() {
        let err = load(
            b"# c\n\n  databases   4  \n",
            &options(&["--port", "99999"]),
        )
        .unwrap_err();
        assert_eq!(err.line, 5);
        assert_eq!(err.text, "port \"99999\"");
        assert_eq!(err.reason, "argument must be between 0 and 65535 inclusive");
    }

    #[test]
    fn single_value_parameters_take_exactly_one_argument() {
        let err = load(b"", &options(&["--maxmemory", "1", "2"])).unwrap_err();
        assert_eq!(err.reason, "wrong number of arguments");
        let err = load(b"", &options(&["--port"])).unwrap_err();
        assert_eq!(
            (err.text.as_str(), err.reason.as_str()),
            ("port", "wrong number of arguments")
        );
    }

    #[test]
    fn unbalanced_quotes_in_the_file_are_refused() {
        let err = load_text(b"port 0\nfoo \"unbalanced\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.reason, "Unbalanced quotes in configuration line");
    }

    #[test]
    fn immutable_parameters_are_set_at_startup() {
        let config = load(b"databases 4\n", &options(&["--port", "7001"])).expect("loads");
        assert_eq!((config.databases, config.port), (4, 7001));
        let err = load_text(b"databases 0").unwrap_err();
        assert_eq!(
            err.reason,
            "argument must be between 1 and 2147483647 inclusive"
        );
    }

    #[test]
    fn command_line_options_become_quoted_lines() {
        assert_eq!(
            options(&["--port", "7001", "--save", "", "--maxmemory", "100mb"]),
            "port \"7001\" \nsave \"\" \nmaxmemory \"100mb\" "
        );
        assert_eq!(
            options(&["--save", "3600", "1", "300", "100"]),
            "save \"3600\" \"1\" \"300\" \"100\" "
        );
    }

    #[test]
    fn bare_save_means_empty_save() {
        assert_eq!(options(&["--save"]), "save \"\" ");
        assert_eq!(
            options(&["--save", "--port", "1"]),
            "save \"\" \nport \"1\" "
        );
    }

    #[test]
    fn an_options_first_argument_may_start_with_dashes() {
        assert_eq!(
            options(&["--requirepass", "--secret", "--port", "1"]),
            "requirepass \"--secret\" \nport \"1\" "
        );
    }

    #[test]
    fn repeated_bind_options_make_one_line() {
        assert_eq!(
            options(&["--bind", "127.0.0.1", "--port", "0", "--bind", "::1"]),
            "bind \"127.0.0.1\" \"::1\" \nport \"0\" "
        );
        let config = load(b"", &options(&["--bind", "127.0.0.1", "--bind", "::1"])).expect("loads");
        assert_eq!(config.bind, ["127.0.0.1", "::1"]);
    }

    #[test]
    fn multi_word_parameters_take_every_argument() {
        let config = load(b"", &options(&["--bind", "127.0.0.1", "-::1"])).expect("loads");
        assert_eq!(config.value("bind").as_deref(), Some("127.0.0.1 -::1"));
        let err = load(b"", &options(&["--save", "3600", "1"])).unwrap_err();
        assert_eq!(
            err.reason,
            "lockstep keeps no snapshots: only save \"\" is accepted"
        );
        let err = load(b"", &options(&["--save", "3600"])).unwrap_err();
        assert_eq!(err.reason, "Invalid save parameters");
    }

    #[test]
    fn encoding_limits_are_typed_and_shown_under_their_aliases() {
        let config =
            load_text(b"hash-max-ziplist-entries 7\nzset-max-listpack-value 1kb\n").expect("loads");
        assert_eq!(config.hash_max_listpack_entries, 7);
        assert_eq!(config.zset_max_listpack_value, 1024);
        assert_eq!(
            config.value("hash-max-listpack-entries").as_deref(),
            Some("7")
        );
        assert_eq!(
            config.value("zset-max-ziplist-value").as_deref(),
            Some("1024")
        );
    }
}
