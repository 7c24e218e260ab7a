//! The committed table is what scripts/gen-commands makes from the redis-server on PATH.

use std::path::Path;
use std::process::Command;

fn redis_server_on_path() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

#[test]
fn generated_table_is_up_to_date_with_redis_server() {
    if !redis_server_on_path() {
        eprintln!("skipped: no redis-server on PATH");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/gen-commands");
    let out = Command::new(&script)
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} --check failed:\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
