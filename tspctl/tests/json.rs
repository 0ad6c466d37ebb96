//! Every `--json` command prints JSON that parses and has exactly the fields
//! the README's "tspctl's JSON output" lists, with their types (the doc is
//! parsed here, so doc and code cannot drift).

mod schema;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// A lock folder of this test's own: the mock's reservations meet no other
/// run's, nor a tspd's.
struct LockDir(PathBuf);

impl LockDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tspctl-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a lock folder");
        Self(dir)
    }
}

impl Drop for LockDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn json_of(lock_dir: &LockDir, args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_tspctl"))
        .args(args)
        .env_remove("TSP_RS_CONFIG")
        .env("TSP_RS_LOCK_DIR", &lock_dir.0)
        .output()
        .expect("tspctl runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(text.lines().count(), 1, "{args:?}: one line: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
}

fn fixture(name: &str) -> String {
    format!(
        "{}/../drivers/usbhid/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn every_json_command_prints_the_documented_fields() {
    let lock_dir = LockDir::new("json-fields");
    let documented = schema::documented();
    let telephony = fixture("poly-bt700_047f-02e6.hex");
    let no_telephony = fixture("logitech-g535_046d-0ac4.hex");
    let runs: [(&str, Vec<&str>); 6] = [
        ("`tspctl list --json`", vec!["list", "--json"]),
        ("`tspctl caps DEV --json`", vec!["caps", "0", "--json"]),
        (
            "`tspctl set-data DEV AREA TEXT --json`",
            vec!["--json", "set-data", "0", "1", "a \"quoted\"\ttext"],
        ),
        (
            "`tspctl get-data DEV AREA --json`",
            vec!["get-data", "0", "1", "--json"],
        ),
        (
            "`tspctl usbhid inspect FILE --json`",
            vec!["usbhid", "inspect", &telephony, "--json"],
        ),
        (
            "`tspctl usbhid inspect FILE --json`",
            vec!["usbhid", "inspect", &no_telephony, "--json"],
        ),
    ];
    for (heading, args) in &runs {
        let value = json_of(&lock_dir, args);
        schema::check(&documented, heading, &value).unwrap_or_else(|e| panic!("{e}"));
    }
    // watch's events come from a phone acting: the unit test `every_watch_event_
    // has_the_documented_fields` holds each kind to the README.
    let checked: BTreeSet<&str> = runs.iter().map(|(heading, _)| *heading).collect();
    let unchecked: Vec<&String> = documented
        .keys()
        .filter(|h| !checked.contains(h.as_str()) && !h.starts_with("`tspctl watch DEV --json`: "))
        .collect();
    assert!(
        unchecked.is_empty(),
        "documented but not run: {unchecked:?}"
    );
}

#[test]
fn json_strings_are_escaped() {
    let lock_dir = LockDir::new("json-escapes");
    let text = "a \"quoted\"\ttext \\ with a\nnewline";
    let value = json_of(&lock_dir, &["set-data", "1", "2", text, "--json"]);
    assert_eq!(value["read_back"], text);
    assert_eq!(value["written"], text.len() + 1, "and its NUL");
}
