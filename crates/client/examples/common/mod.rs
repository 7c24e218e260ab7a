//! What the seed examples share: the server they run against and how they exit.
//! Holds no scenario logic; each example's loop stays in its own file.

use std::process::ExitCode;

use lockstep::Config;

/// The server an example runs against: the one `--url` names, or a lockstep server of its
/// own (kept alive as long as this value).
pub struct Target {
    _server: Option<lockstep_server::EmbeddedServer>,
    pub url: String,
    pub config: Config,
}

impl Target {
    /// Uses `url`, or starts a lockstep server when there is none; prints the error and
    /// gives the exit code when `url` does not parse.
    pub fn from_url(url: Option<String>) -> Result<Target, ExitCode> {
        let (server, url) = match url {
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
            Ok(config) => Ok(Target {
                _server: server,
                url,
                config,
            }),
            Err(e) => {
                eprintln!("{e}");
                Err(ExitCode::FAILURE)
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
