//! The README's main command works, the other commands do what they say, and
//! tspctl's errors are clear.

use std::process::{Command, Output};

fn tspctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tspctl"))
        .args(args)
        .env_remove("TSP_RS_CONFIG")
        .output()
        .expect("tspctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// tspctl opens mock phones, whose locks are process-wide files: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn demo_tours_the_host_on_the_mock() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let output = tspctl(&["demo"]);
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "0  Mock Phone 0",
        "1  Mock Phone 1",
        "name            Mock Phone 0",
        "a second TSPI_phoneOpen(0): PHONEERR_ALLOCATED",
        "TSPI_phoneSetData returned request id 1",
        "\"hello, phone\"",
        "PHONEEVENT PHONE_BUTTON(id 5, KEYPAD, DOWN)",
        "PHONEEVENT PHONE_BUTTON(id 5, KEYPAD, UP)",
        "PHONEEVENT PHONE_STATE(HANDSETHOOKSWITCH, MICSPEAKER)",
        "closed",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

#[test]
fn list_caps_set_data_and_get_data() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert!(stdout(&tspctl(&["list"])).contains("1  Mock Phone 1"));
    assert!(stdout(&tspctl(&["caps", "1"])).contains("SetData areas   [256, 256, 256, 256] bytes"));
    let set = stdout(&tspctl(&["set-data", "1", "2", "written"]));
    assert!(set.contains("read back: \"written\""), "{set}");
    let get = stdout(&tspctl(&["get-data", "0", "0", "4"]));
    assert_eq!(
        get.trim(),
        "00 00 00 00",
        "a fresh process starts zero-filled"
    );
    let bad = tspctl(&["get-data", "0", "9"]);
    assert_eq!(bad.status.code(), Some(1), "the operation failed");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("PHONEERR_INVALDATAID"));
    let missing = tspctl(&["caps", "7"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("PHONEERR_BADDEVICEID"));
}

#[test]
fn explain_names_codes_in_both_spellings() {
    let hex = stdout(&tspctl(&["explain", "0x9000000C"]));
    assert!(hex.contains("PHONEERR_INVALDATAID"), "{hex}");
    let long = stdout(&tspctl(&["explain", "-2147483576"]));
    assert!(long.contains("LINEERR_OPERATIONFAILED"), "{long}");
    assert!(stdout(&tspctl(&["explain", "42"])).contains("request id"));
}

#[test]
fn bad_input_is_refused_with_usage() {
    for args in [
        &["bogus"][..],
        &["explain"],
        &["explain", "zz"],
        &[],
        &["caps", "x"],
        &["set-data", "0", "1"],
        &["set-data", "0", "1", "text", "--file", "f"],
        &["--bus", "tcp", "list"],
        &["--log-level", "=bogus=", "list"],
    ] {
        let output = tspctl(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.starts_with("tspctl: "), "{err}");
    }
}

/// The block of `tspctl --help` that starts with `from` and ends before the
/// blank line that precedes `until`.
fn help_block(from: &str, until: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tspctl"))
        .arg("--help")
        // clap wraps help to the terminal; the README shows it 100 columns wide.
        .env("COLUMNS", "100")
        .output()
        .expect("tspctl runs");
    assert_eq!(output.status.code(), Some(0), "--help is no error");
    let help = stdout(&output);
    let start = help.find(from).expect("the block's start");
    let end = help[start..].find(until).expect("the block's end");
    help[start..start + end].trim_end().to_owned()
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README")
}

#[test]
fn the_readme_shows_the_usage_tspctl_help_prints() {
    let usage = help_block("Usage: tspctl", "Without --bus");
    assert!(
        readme().contains(&format!("```text\n{usage}\n```")),
        "the README's tspctl usage differs from --help:\n{usage}"
    );
}

#[test]
fn exit_statuses_are_the_documented_ones() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let documented = help_block("Exit status:", "Example:");
    let readme = readme();
    let mut statuses = Vec::new();
    for line in documented.lines().skip(1) {
        let (code, meaning) = line.trim().split_once("  ").expect("code  meaning");
        let row = format!("| {code} | {meaning} |");
        assert!(readme.contains(&row), "the README lacks `{row}`");
        statuses.push(code.parse::<i32>().expect("a number"));
    }
    assert_eq!(statuses, [0, 1, 2, 3]);

    assert_eq!(tspctl(&["caps", "0"]).status.code(), Some(0));
    let failed = tspctl(&["get-data", "0", "9"]);
    assert_eq!(failed.status.code(), Some(1), "a PHONEERR_ is a failure");
    assert_eq!(tspctl(&["caps", "7"]).status.code(), Some(1));
    assert_eq!(tspctl(&["caps", "x"]).status.code(), Some(2), "usage");
    assert_eq!(tspctl(&["frobnicate"]).status.code(), Some(2), "usage");
    let no_bus = Command::new(env!("CARGO_BIN_EXE_tspctl"))
        .args(["--bus", "session", "list"])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/tspctl-test-bus",
        )
        .output()
        .expect("tspctl runs");
    assert_eq!(no_bus.status.code(), Some(3), "tspd cannot be reached");
    assert!(
        String::from_utf8_lossy(&no_bus.stderr).starts_with("tspctl: cannot reach the session bus")
    );
}

#[test]
fn help_and_version_are_no_errors() {
    for args in [
        &["--help"][..],
        &["help"],
        &["-V"],
        &["caps", "--help"],
        &["help", "watch"],
    ] {
        let output = tspctl(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(output.stderr.is_empty(), "{args:?}");
    }
    let caps = stdout(&tspctl(&["caps", "--help"]));
    assert!(caps.contains("Example:\n  tspctl caps 0"), "{caps}");
}

fn hid_fixture(name: &str) -> String {
    format!(
        "{}/../drivers/usbhid/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn usbhid_inspect_prints_the_telephony_controls() {
    let output = tspctl(&[
        "usbhid",
        "inspect",
        &hid_fixture("poly-bt700_047f-02e6.hex"),
    ]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("Hook Switch"), "{text}");
    assert!(
        text.contains("hookswitch: yes, buttons: 4, lamps: 5, ringer: no"),
        "{text}"
    );

    let json = tspctl(&[
        "usbhid",
        "inspect",
        &hid_fixture("poly-bt700_047f-02e6.hex"),
        "--json",
    ]);
    assert!(json.status.success());
    assert!(stdout(&json).starts_with(r#"{"telephony": true, "usages": [{"code": "0x0B:0x20", "page": 11, "usage": 32, "name": "Hook Switch", "direction": "input", "report_id": 32"#));
}

#[test]
fn usbhid_inspect_of_a_non_phone_is_not_an_error() {
    let output = tspctl(&[
        "usbhid",
        "inspect",
        &hid_fixture("logitech-g535_046d-0ac4.hex"),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output).trim(),
        r#"{"telephony": false, "usages": []}"#
    );
}

#[test]
fn usbhid_inspect_of_a_broken_or_missing_file_fails_with_status_1() {
    let ringtone = hid_fixture("yealink-usb-p1k_default-ringtone-g1.hex");
    for (file, says) in [
        (ringtone.as_str(), "malformed at byte"),
        (
            "/nonexistent/report_descriptor",
            "cannot read /nonexistent/report_descriptor",
        ),
    ] {
        let output = tspctl(&["usbhid", "inspect", file, "--json"]);
        assert_eq!(output.status.code(), Some(1), "{file}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
}

/// A download that takes noticeable time shows that it is running, on a
/// terminal only (util-linux `script` gives tspctl one); a pipe stays clean.
#[test]
fn a_slow_download_shows_progress_on_a_terminal() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("tspctl-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let config = dir.join("tsp-rs.toml");
    std::fs::write(
        &config,
        "drivers = [\"mock\"]\n[settings.mock]\ncompletion = \"worker\"\ndelay_ms = 1500\n",
    )
    .expect("writes");
    // Whatever the umask: the host refuses a configuration others could write.
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("a mode");
    let command = format!("{} set-data 0 1 slow", env!("CARGO_BIN_EXE_tspctl"));
    let on_terminal = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("TSP_RS_CONFIG", &config)
        .output()
        .expect("script runs");
    let seen = stdout(&on_terminal);
    assert!(on_terminal.status.success(), "{seen}");
    assert!(
        seen.contains("sending 5 bytes to data area 1 of phone 0"),
        "{seen}"
    );
    assert!(seen.contains("done"), "{seen}");
    let piped = Command::new(env!("CARGO_BIN_EXE_tspctl"))
        .args(["set-data", "0", "1", "slow"])
        .env("TSP_RS_CONFIG", &config)
        .output()
        .expect("tspctl runs");
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("sending"));
    let _ = std::fs::remove_dir_all(&dir);
}
