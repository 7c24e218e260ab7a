//! Lua scripts: a [`Script`] holds its source and SHA1, and runs with EVALSHA, falling back
//! to EVAL (which also caches it on the server) when the server answers NOSCRIPT — after a
//! restart, a failover or SCRIPT FLUSH. Scripts are never re-sent by the reconnect logic:
//! they may write, so a lost connection under one fails with "may have run".

use std::future::Future;
use std::sync::Arc;

use lockstep_resp::Frame;

use super::{conv, with_count, Commands};
use crate::cmd::{cmd, Cmd, ToArg};
use crate::error::Error;
use crate::reply::FromReply;

/// A Lua script and its SHA1 (computed once, here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    source: Arc<str>,
    sha1: Arc<str>,
}

impl Script {
    pub fn new(source: &str) -> Script {
        let sha1 = sha1_smol::Sha1::from(source).digest().to_string();
        Script {
            source: source.into(),
            sha1: sha1.into(),
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The lower-case hex SHA1 of the source, as SCRIPT LOAD returns it.
    pub fn sha1(&self) -> &str {
        &self.sha1
    }

    fn invocation(&self, by_source: bool, keys: &Cmd, args: &Cmd) -> Cmd {
        let mut c = if by_source {
            cmd("EVAL").arg(&*self.source)
        } else {
            cmd("EVALSHA").arg(&*self.sha1)
        };
        c = with_count(c, keys.args().skip(1).collect::<Vec<_>>());
        for a in args.args().skip(1) {
            c.add_arg(a);
        }
        c
    }
}

fn is_noscript(r: &Result<Frame, Error>) -> bool {
    matches!(r, Err(Error::Server(e)) if e.code == "NOSCRIPT")
}

/// Scripting commands, for anything that implements [`Commands`].
pub trait ScriptingCommands: Commands {
    /// Runs a script by SHA1, and by source when the server does not have it yet. `keys`
    /// and `args` are one argument or a slice each (`&[] as &[&str]` for none).
    fn run_script<V: FromReply>(
        &self,
        script: &Script,
        keys: impl ToArg,
        args: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        let mut k = cmd("");
        k.add_arg(keys);
        let mut a = cmd("");
        a.add_arg(args);
        let by_sha = script.invocation(false, &k, &a);
        let by_source = script.invocation(true, &k, &a);
        async move {
            let r = self.send_frame(by_sha).await;
            let r = if is_noscript(&r) {
                self.send_frame(by_source).await
            } else {
                r
            };
            V::from_reply(r?)
        }
    }
    /// EVAL of a source given as text (no caching by SHA1 on our side).
    fn eval<V: FromReply>(
        &self,
        source: &str,
        keys: impl ToArg,
        args: impl ToArg,
    ) -> impl Future<Output = Result<V, Error>> + Send {
        let mut c = with_count(cmd("EVAL").arg(source), keys);
        c.add_arg(args);
        conv(self.send_frame(c))
    }
    commands! {
        /// SCRIPT LOAD: caches the script on the server; returns its SHA1.
        fn script_load(script: &Script) -> String => ["SCRIPT", "LOAD", script.source()];
        /// SCRIPT EXISTS: one bool per SHA1, in order.
        fn script_exists(sha1s: impl ToArg) -> Vec<bool> => ["SCRIPT", "EXISTS", sha1s];
        /// SCRIPT FLUSH: empties the server's script cache.
        fn script_flush() -> () => ["SCRIPT", "FLUSH"];
    }
}

impl<T: Commands + ?Sized> ScriptingCommands for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_is_the_one_redis_computes() {
        // redis-cli SCRIPT LOAD "return 1"
        let s = Script::new("return 1");
        assert_eq!(s.sha1(), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }

    #[test]
    fn invocation_counts_keys_and_keeps_args_apart() {
        let s = Script::new("return KEYS[1]");
        let mut k = cmd("");
        k.add_arg(["a", "b"]);
        let mut a = cmd("");
        a.add_arg(7);
        let c = s.invocation(false, &k, &a);
        let args: Vec<&[u8]> = c.args().collect();
        assert_eq!(
            args,
            [&b"EVALSHA"[..], s.sha1().as_bytes(), b"2", b"a", b"b", b"7"]
        );
    }
}
