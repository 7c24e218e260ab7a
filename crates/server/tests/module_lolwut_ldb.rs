//! MODULE, LOLWUT and the Lua debugger (SCRIPT DEBUG, `redis-cli --ldb`), side by side with
//! a real redis-server 7.0: the same commands, or the same redis-cli session read from its
//! stdin, must give the same transcript. LOLWUT's art is random, so it is compared by
//! shape (lines, their widths in characters, the trailer).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{same_as_redis, Conn, RedisServer};
use lockstep_resp::Frame;
use lockstep_server::{EmbeddedServer, ServerConfig};

/// The replies to `commands`, each sent alone.
fn replies(addr: SocketAddr, commands: &[&[&str]]) -> Vec<Frame> {
    let mut c = Conn::open(addr);
    commands.iter().map(|args| c.command(args)).collect()
}

/// A lockstep server started with these settings, as from a config file.
fn lockstep_with(settings: &[(&str, &str)]) -> EmbeddedServer {
    let mut config = ServerConfig::ephemeral();
    for (name, value) in settings {
        let param = lockstep_server::config::lookup(name.as_bytes()).expect("a parameter");
        config
            .settings
            .set_at_startup(param, value.as_bytes())
            .expect("a valid value");
    }
    EmbeddedServer::start(config).expect("lockstep starts")
}

/// `scenario` against a redis-server and a lockstep server both started with `settings`.
fn same_as_redis_with<T: PartialEq + std::fmt::Debug>(
    settings: &[(&str, &str)],
    scenario: impl Fn(SocketAddr) -> Vec<T>,
) {
    let args: Vec<String> = settings
        .iter()
        .flat_map(|(n, v)| [format!("--{n}"), v.to_string()])
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let redis = RedisServer::start_with(&args);
    let expected = scenario(redis.addr());
    let server = lockstep_with(settings);
    let actual = scenario(server.addr());
    assert_eq!(actual, expected, "lockstep (left) and redis-server (right)");
}

const MODULE_COMMANDS: &[&[&str]] = &[
    &["MODULE", "HELP"],
    &["MODULE", "LIST"],
    &["MODULE", "LOAD", "/nonexistent/module.so"],
    &["MODULE", "LOAD", "/nonexistent/module.so", "arg1", "arg2"],
    &["MODULE", "LOADEX", "/nonexistent/module.so"],
    &["MODULE", "LOADEX", "/nonexistent/module.so", "CONFIG", "a"],
    &["MODULE", "LOADEX", "/x.so", "CONFIG", "a", "b", "ARGS", "1"],
    &["MODULE", "LOADEX", "/x.so", "bogus"],
    &["MODULE", "UNLOAD", "nosuch"],
    &["MODULE", "UNLOAD", "a", "b"],
    &["MODULE", "LIST", "extra"],
    &["MODULE", "NOSUCH"],
    &["MODULE"],
    &["EVAL", "return redis.call('module','list')", "0"],
];

#[test]
fn module_is_refused_but_help_and_list_by_default() {
    same_as_redis(|addr| replies(addr, MODULE_COMMANDS));
}

#[test]
fn module_loads_and_unloads_nothing_when_allowed() {
    same_as_redis_with(&[("enable-module-command", "yes")], |addr| {
        replies(addr, MODULE_COMMANDS)
    });
}

#[test]
fn module_local_allows_loopback_clients() {
    same_as_redis_with(&[("enable-module-command", "local")], |addr| {
        replies(addr, MODULE_COMMANDS)
    });
}

#[test]
fn a_refused_module_load_aborts_the_transaction() {
    same_as_redis(|addr| {
        replies(
            addr,
            &[
                &["MULTI"],
                &["MODULE", "LOAD", "/x.so"],
                &["MODULE", "LIST"],
                &["EXEC"],
            ],
        )
    });
}

#[test]
fn modules_section_of_info_is_empty() {
    same_as_redis(|addr| replies(addr, &[&["INFO", "modules"], &["INFO", "module_list"]]));
}

#[test]
fn loadmodule_in_the_configuration_stops_start_up_naming_the_module() {
    let text = "port 0\nloadmodule /nonexistent/module.so arg\n";
    let err = lockstep_server::config::file::load(text.as_bytes(), "")
        .expect_err("a server with a module does not start");
    assert_eq!(err.line, 2);
    assert!(err.reason.contains("/nonexistent/module.so"), "{err}");
}

/// LOLWUT's reply reduced to what is not random: the lines' widths in characters (ANSI
/// color escapes left out), with the trailer lines as they are; an error as it is.
fn lolwut_shape(reply: Frame) -> String {
    let text = match reply {
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => {
            String::from_utf8(b.to_vec()).unwrap_or_else(|e| panic!("LOLWUT answers UTF-8: {e}"))
        }
        other => return format!("{other:?}"),
    };
    let mut shape = Vec::new();
    for line in text.split('\n') {
        if line.contains("Redis ver.") || line.contains("Dedicated") {
            shape.push(line.to_string());
            continue;
        }
        let mut width = 0;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                width += 1;
            }
        }
        shape.push(width.to_string());
    }
    // Run-length: "66 x49" rather than 49 lines of "66".
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < shape.len() {
        let run = shape[i..].iter().take_while(|s| **s == shape[i]).count();
        out.push(format!("{} x{run}", shape[i]));
        i += run;
    }
    out.join(" | ")
}

#[test]
fn lolwut_pieces_have_redis_s_shape_and_trailers() {
    let cases: &[&[&str]] = &[
        &["LOLWUT"],
        &["LOLWUT", "VERSION"],
        &["LOLWUT", "5"],
        &["LOLWUT", "foo", "bar"],
        &["LOLWUT", "VERSION", "7"],
        &["LOLWUT", "VERSION", "-1"],
        &["LOLWUT", "VERSION", "x"],
        &["LOLWUT", "VERSION", "4.9"],
        &["LOLWUT", "VERSION", "5"],
        &["LOLWUT", "VERSION", "4"],
        &["LOLWUT", "VERSION", "5", "x"],
        &["LOLWUT", "VERSION", "5", "1", "x"],
        &["LOLWUT", "VERSION", "5", "1", "1", "x"],
        &["LOLWUT", "VERSION", "5", "1", "1", "1"],
        &["LOLWUT", "VERSION", "5", "2", "1", "1"],
        &["LOLWUT", "VERSION", "5", "40", "3", "5"],
        &["LOLWUT", "VERSION", "5", "0", "0", "0"],
        &["LOLWUT", "VERSION", "5", "5000", "1", "1"],
        &["LOLWUT", "VERSION", "5", "20", "300", "1"],
        &["LOLWUT", "VERSION", "6"],
        &["LOLWUT", "VERSION", "6", "1", "2", "x"],
        &["LOLWUT", "VERSION", "6", "x"],
        &["LOLWUT", "VERSION", "6", "30", "10"],
        &["LOLWUT", "VERSION", "6", "-5", "0"],
        &["LOLWUT", "VERSION", "6", "2000", "3"],
        &["LOLWUT", "VERSION", "5", "12", "3", "5"],
    ];
    same_as_redis(|addr| {
        let mut c = Conn::open(addr);
        cases
            .iter()
            .map(|args| format!("{args:?}: {}", lolwut_shape(c.command(args))))
            .collect::<Vec<_>>()
    });
}

#[test]
fn lolwut_is_verbatim_text_in_resp3() {
    same_as_redis(|addr| {
        let mut c = Conn::open(addr);
        c.command(&["HELLO", "3"]);
        vec![
            c.command(&["LOLWUT"]),
            c.command(&["LOLWUT", "VERSION", "x"]),
        ]
    });
}

#[test]
fn command_table_lists_module_lolwut_and_script_debug() {
    same_as_redis(|addr| {
        let mut c = Conn::open(addr);
        let list = match c.command(&["COMMAND", "LIST"]) {
            Frame::Array(items) => items,
            other => panic!("COMMAND LIST answers an array, not {other:?}"),
        };
        let listed = |name: &str| {
            Frame::simple(
                if list.contains(&Frame::Bulk(name.as_bytes().to_vec().into())) {
                    "listed"
                } else {
                    "missing"
                },
            )
        };
        vec![
            listed("module"),
            listed("lolwut"),
            sorted_subcommands(c.command(&["COMMAND", "INFO", "module", "lolwut", "script"])),
            // By full name: DOCS of a container lists its subcommands in hash table order.
            c.command(&[
                "COMMAND",
                "DOCS",
                "lolwut",
                "module|help",
                "module|list",
                "module|load",
                "module|loadex",
                "module|unload",
                "script|debug",
            ]),
        ]
    });
}

/// COMMAND INFO's entries with their subcommands (the tenth field) in name order: Redis
/// lists them in its hash table's order.
fn sorted_subcommands(info: Frame) -> Frame {
    let Frame::Array(entries) = info else {
        return info;
    };
    let entries = entries
        .into_iter()
        .map(|entry| match entry {
            Frame::Array(mut fields) => {
                if let Some(Frame::Array(subs)) = fields.get_mut(9) {
                    subs.sort_by_key(|s| format!("{s:?}"));
                }
                Frame::Array(fields)
            }
            other => other,
        })
        .collect();
    Frame::Array(entries)
}

#[test]
fn script_debug_errors_are_redis_s() {
    same_as_redis(|addr| {
        let mut c = Conn::open(addr);
        let mut out = vec![
            c.command(&["SCRIPT", "DEBUG", "maybe"]),
            c.command(&["SCRIPT", "DEBUG"]),
            c.command(&["EVAL", "return redis.call('script','debug','yes')", "0"]),
            c.command(&["MULTI"]),
            c.command(&["SCRIPT", "DEBUG", "yes"]),
            c.command(&["EXEC"]),
            c.command(&["SCRIPT", "DEBUG", "yes"]),
            c.command(&["EVALSHA", &"0".repeat(40), "0"]),
            c.command(&["EVALSHA", "short", "0"]),
            c.command(&["SCRIPT", "DEBUG", "no"]),
            c.command(&["EVAL", "return 1", "0"]),
        ];
        // After another reply of the same read, still unwritten: one write, so that both
        // servers read the two commands at once (two writes may arrive apart or not).
        let mut raw = bytes::BytesMut::new();
        lockstep_resp::encode_command(&["PING"], &mut raw);
        lockstep_resp::encode_command(&["SCRIPT", "DEBUG", "sync"], &mut raw);
        c.stream.write_all(&raw).expect("send");
        out.push(c.read());
        out.push(c.read());
        out
    });
}

/// A scratch directory of this test process.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockstep-ldb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A Lua script with locals, a loop, redis.call and redis.debug, to step through.
const SCRIPT: &str = "local a = 10
local t = {1,2,'x'}
redis.call('set',KEYS[1],ARGV[1])
redis.debug('dbg', a, t)
local v = redis.call('get',KEYS[1])
for i=1,2 do
  a = a + i
end
return {a, v}
";

/// Runs `redis-cli <mode> --eval script k1 , v1` against `addr` with `commands` (debugger
/// commands, one a line) on its stdin; answers what it printed.
fn ldb_session(addr: SocketAddr, mode: &str, script: &str, commands: &str) -> Vec<String> {
    // A file per session: tests run at once, and two scripts must never share a name.
    static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = scratch().join(format!("session-{n}.lua"));
    std::fs::write(&path, script).expect("script file");
    let mut reset = Conn::open(addr);
    reset.command(&["DEL", "k1", "x"]);
    let mut child = Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &addr.port().to_string(),
            mode,
            "--eval",
        ])
        .arg(&path)
        .args(["k1", ",", "v1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("redis-cli could not be run ({e}): run scripts/test"));
    // redis-cli may be gone before it reads them (a script that does not compile ends
    // the session at once): a broken pipe is not the test's business.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(commands.as_bytes());
    let output = child.wait_with_output().expect("redis-cli ends");
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| {
            // Values whose text is an address in memory (functions) differ by run.
            match l.find("function@0x") {
                Some(i) => format!("{}function@<address>", &l[..i]),
                None => l.to_string(),
            }
        })
        .collect();
    lines.push(format!("exit: {:?}", output.status.code()));
    let mut after = Conn::open(addr);
    lines.push(format!("k1 after: {:?}", after.command(&["GET", "k1"])));
    lines
}

#[test]
fn ldb_every_command_answers_as_redis_s_debugger() {
    let commands = "help\nstep\nprint\np a\np KEYS\np ARGV\np nosuch\nlist\nlist 2 1\nl 0 0\nwhole\n\
                    break 7\nbreak\nbreak x\nbreak 99\nbreak -3\nb -7\nb 7 8\nb 0\nb 7\n\
                    eval a+1\neval zz(\ne nil\ne 1+1\ne {a=1,b={c=2}}\ne 'q\"\\n'\ne print\n\
                    redis get k1\nr incr k1\nr set k1 1 2\nr nosuch\nr\n\
                    maxlen\nmaxlen 10\nmaxlen 0\nm 100\nm -3\nm 256\ntrace\nfoo\nstep\nstep\ncontinue\nstep\nc\nc\n";
    same_as_redis(|addr| ldb_session(addr, "--ldb-sync-mode", SCRIPT, commands));
}

#[test]
fn ldb_continue_runs_to_the_reply_with_the_debug_logs() {
    same_as_redis(|addr| ldb_session(addr, "--ldb-sync-mode", SCRIPT, "c\n"));
}

#[test]
fn ldb_abort_ends_the_script_with_redis_s_error() {
    same_as_redis(|addr| ldb_session(addr, "--ldb-sync-mode", SCRIPT, "s\nabort\n"));
}

#[test]
fn ldb_maxlen_trims_values_and_replies_with_one_hint() {
    let commands = "maxlen 60\ne string.rep('x',100)\ne string.rep('y',100)\n\
                    r set k1 1 2\nr nosuch\nr set big aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\
                    r get big\ne redis.breakpoint()\ns\nc\n";
    same_as_redis(|addr| ldb_session(addr, "--ldb-sync-mode", SCRIPT, commands));
}

#[test]
fn ldb_breakpoints_and_nested_functions_trace_as_redis() {
    let script = "local function inner(n)\n  local m = n * 2\n  return m\nend\nlocal r = inner(3)\nreturn r\n";
    let commands = "b 2\nc\nt\np\np n\np r\ns\ns\nt\np\nc\n";
    same_as_redis(|addr| ldb_session(addr, "--ldb-sync-mode", script, commands));
}

#[test]
fn ldb_script_errors_and_compile_errors_end_the_session_as_redis() {
    let script = "local x = 1\nreturn redis.call('incr', 'k1', 'extra')\n";
    same_as_redis(|addr| ldb_session(addr, "--ldb-sync-mode", script, "s\ns\n"));
    same_as_redis(|addr| ldb_session(addr, "--ldb-sync-mode", "return (\n", "c\n"));
}

#[test]
fn ldb_yes_mode_session_reads_as_redis_s() {
    // redis-cli prints the same for YES; lockstep keeps the writes (see scripting/ldb.rs),
    // so the key is not compared here.
    let script = "return redis.call('incr','x') + 1\n";
    same_as_redis(|addr| {
        let mut lines = ldb_session(addr, "--ldb", script, "s\nc\n");
        lines.pop();
        lines
    });
}

#[test]
fn ldb_client_gone_lets_the_script_finish() {
    // redis-cli reads no command (stdin at its end) and quits: the script runs to its end
    // and the server goes on answering.
    same_as_redis(|addr| {
        let mut lines = ldb_session(addr, "--ldb-sync-mode", SCRIPT, "");
        let mut c = Conn::open(addr);
        lines.push(format!("{:?}", c.command(&["PING"])));
        lines
    });
}

#[test]
fn ldb_logs_redis_call_argument_errors() {
    let script = "local ok = pcall(redis.call, {})\nreturn redis.call()\n";
    same_as_redis(|addr| ldb_session(addr, "--ldb-sync-mode", script, "s\ns\nc\n"));
}

#[test]
fn ldb_stops_a_script_that_runs_past_the_busy_threshold() {
    let script = "local i = 0\nwhile true do\n  i = i + 1\nend\n";
    same_as_redis_with(&[("busy-reply-threshold", "200")], |addr| {
        ldb_session(addr, "--ldb-sync-mode", script, "c\np\nabort\n")
            .into_iter()
            // How far the loop got differs by run.
            .map(|l| match l.find("i = ") {
                Some(i) if l.contains("<value>") => format!("{}i = <count>", &l[..i]),
                _ => l,
            })
            .collect()
    });
}

/// A debugging session over the wire: SCRIPT DEBUG SYNC, then `eval` (the command's
/// arguments), then each of `steps` sent once the previous answer arrived; the replies in
/// order, the session's last two (its logs ending in `<endsession>`, the script's reply),
/// and whether the server closed the connection after them.
fn wire_session(addr: SocketAddr, eval: &[&str], steps: &[&[&str]]) -> Vec<Frame> {
    let mut c = Conn::open(addr);
    let mut out = vec![c.command(&["SCRIPT", "DEBUG", "SYNC"])];
    out.push(c.command(eval));
    for step in steps {
        out.push(c.command(step));
    }
    let ended = |f: Option<&Frame>| match f {
        Some(Frame::Array(logs)) => logs.last() == Some(&Frame::simple("<endsession>")),
        _ => false,
    };
    while !ended(out.last()) {
        out.push(c.read());
    }
    out.push(c.read());
    let closed = common::read_until_closed(&mut c.stream, std::time::Duration::from_secs(5));
    out.push(Frame::simple(match closed {
        Some(_) => "closed",
        None => "still open",
    }));
    out
}

#[test]
fn ldb_protocol_is_redis_s_byte_for_byte() {
    same_as_redis(|addr| wire_session(addr, &["EVAL", "return 1", "5"], &[]));
    same_as_redis(|addr| {
        wire_session(
            addr,
            &["EVAL_RO", "return redis.call('set','a','b')", "0"],
            &[&["s"]],
        )
    });
    same_as_redis(|addr| {
        wire_session(
            addr,
            &["EVAL", "local x = 1\nreturn x", "0"],
            &[&["p", "x"], &["s"], &["p", "x"], &["c"]],
        )
    });
}
