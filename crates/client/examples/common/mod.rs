//! What the seed examples share: the server they run against and how they exit.
//! Holds no scenario logic; each example's loop stays in its own file.

use std::process::ExitCode;

use clap::Args;
use lockstep::Config;

// The `--url` option every example takes. (A plain comment: clap would show a doc comment
// here as each example's own description.)
#[derive(Args)]
pub struct UrlArg {
    /// Server URL (default: a lockstep server started by this example).
    #[arg(long)]
    url: Option<String>,
}

/// The server an example runs against: the one `--url` names, or a lockstep server of its
/// own (kept alive as long as this value).
pub struct Target {
    _server: Option<lockstep_server::EmbeddedServer>,
    pub url: String,
    pub config: Config,
}

impl Target {
    /// Uses `--url`, or starts a lockstep server when there is none; prints the error and
    /// exits with a failure status when the URL does not parse.
    pub fn from_arg(arg: UrlArg) -> Target {
        let (server, url) = match arg.url {
            Some(u) => (None, u),
            None => {
                let s = lockstep_server::EmbeddedServer::start(
                    lockstep_server::ServerConfig::ephemeral(),
                )
                .expect("start a lockstep server");
                let url = format!("redis://{}", s.addr());
                (Some(s), url)
            }
        };
        match Config::from_url(&url) {
            Ok(config) => Target {
                _server: server,
                url,
                config,
            },
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1)
            }
        }
    }
}

/// Non-zero when any error was counted.
pub fn exit_code(errors: usize) -> ExitCode {
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
