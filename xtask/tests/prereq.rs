//! `cargo xtask test` on a machine without the tools its steps run: with them
//! hidden from `PATH` (and installing turned off), it stops before building and
//! names each missing program and the one command that installs them.

use std::process::Command;

#[cfg(target_os = "linux")]
#[test]
fn with_the_tools_hidden_it_names_each_and_the_command_to_run() {
    let empty = tempfile::tempdir().expect("a folder");
    let locks = tempfile::tempdir().expect("a folder");
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("test")
        .env("PATH", empty.path())
        .env("TSP_RS_NO_INSTALL", "1")
        .env(tsp_plugin_sdk::LOCK_DIR_VARIABLE, locks.path())
        .output()
        .expect("xtask runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("build the workspace"),
        "stops before building: {stdout}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    for program in [
        "cc",
        "x86_64-w64-mingw32-gcc",
        "wine",
        "pkg-config",
        "umockdev-run",
        "dbus-daemon",
        "dbus-send",
        "dbus-monitor",
        "setpriv",
    ] {
        assert!(
            stdout.contains(&format!("xtask:   {program} (for ")),
            "{program}: {stdout}"
        );
        assert!(last.contains(program), "{program} in the last line: {last}");
    }
    assert!(
        last.contains("run `sudo apt-get install -y --no-install-recommends gcc libc6-dev"),
        "{last}"
    );
    assert!(last.contains(" wine wine64 "), "{last}");
    assert!(last.contains(" umockdev "), "{last}");
}
