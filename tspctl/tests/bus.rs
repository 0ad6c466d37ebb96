//! tspctl against tspd on a private bus: the same output as in-process, errors
//! by name, events streamed by `watch`.

#[path = "../../tspd/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use common::{Bus, Daemon, Scratch, phone};

fn tspctl(bus: Option<&Bus>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tspctl"));
    command.args(args).env_remove("TSP_RS_CONFIG");
    if let Some(bus) = bus {
        command.env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    }
    command.output().expect("tspctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn list_and_caps_print_the_same_with_and_without_the_bus() {
    let scratch = Scratch::new("tspctl-same");
    let bus = Bus::session(&scratch);
    let _tspd = Daemon::start(&bus, &scratch, "");
    for command in [
        &["list"][..],
        &["caps", "1"],
        &["list", "--json"],
        &["caps", "0", "--json"],
    ] {
        let here = tspctl(None, command);
        let mut remote: Vec<&str> = vec!["--bus", "session"];
        remote.extend_from_slice(command);
        let there = tspctl(Some(&bus), &remote);
        assert!(there.status.success(), "{command:?}: {}", stderr(&there));
        assert_eq!(stdout(&there), stdout(&here), "{command:?}");
    }
    let after = tspctl(Some(&bus), &["list", "--bus", "session"]);
    assert!(
        stdout(&after).contains("1  Mock Phone 1"),
        "--bus after the command"
    );
}

#[test]
fn set_data_and_errors_over_the_bus() {
    let scratch = Scratch::new("tspctl-data");
    let bus = Bus::session(&scratch);
    let _tspd = Daemon::start(&bus, &scratch, "");
    let set = tspctl(
        Some(&bus),
        &["--bus", "session", "set-data", "1", "2", "over the bus"],
    );
    assert!(
        stdout(&set).contains("read back: \"over the bus\""),
        "{}",
        stderr(&set)
    );
    let get = tspctl(Some(&bus), &["--bus", "session", "get-data", "1", "2", "4"]);
    assert_eq!(stdout(&get).trim(), "6f 76 65 72", "tspd keeps the data");
    let bad = tspctl(Some(&bus), &["--bus", "session", "get-data", "0", "9"]);
    assert_eq!(bad.status.code(), Some(1), "the operation failed");
    assert!(
        stderr(&bad).starts_with("tspctl: PHONEERR_INVALDATAID: no data area has this id"),
        "{}",
        stderr(&bad)
    );
    let missing = tspctl(Some(&bus), &["--bus", "session", "caps", "7"]);
    assert!(
        stderr(&missing).contains("PHONEERR_BADDEVICEID"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn without_tspd_the_error_says_how_to_start_it() {
    let scratch = Scratch::new("tspctl-none");
    let bus = Bus::session(&scratch);
    let output = tspctl(Some(&bus), &["--bus", "session", "list"]);
    assert_eq!(output.status.code(), Some(3), "tspd cannot be reached");
    assert!(
        stderr(&output).contains("tspd --bus session"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn watch_streams_events_as_they_happen() {
    let scratch = Scratch::new("tspctl-watch");
    let bus = Bus::session(&scratch);
    let _tspd = Daemon::start(&bus, &scratch, "");
    // Another client holds the phone and makes it act: tspd sends its keys and
    // states to that client only, so watch says so and sees the presence.
    let client = bus.client();
    phone(&client, 0).call_method("Open", &()).expect("opens");
    let mut watch = Command::new(env!("CARGO_BIN_EXE_tspctl"))
        .args([
            "--bus",
            "session",
            "watch",
            "0",
            "--count",
            "2",
            "--seconds",
            "20",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tspctl watch runs");
    let mut said = BufReader::new(watch.stderr.take().expect("piped"));
    let mut notice = String::new();
    said.read_line(&mut notice).expect("watch explains");
    assert!(notice.contains("open by another client"), "{notice}");
    let mut line = String::new();
    said.read_line(&mut line)
        .expect("watch says it is watching");
    assert!(line.contains("watching phone 0"), "{line}");
    // The line comes once the subscription is in place. The key comes first:
    // had it reached watch, it would be among the two events watch prints.
    for command in ["press 5", "disconnect", "reconnect"] {
        phone(&client, 0)
            .call_method("DevSpecific", &(command.as_bytes().to_vec(),))
            .expect(command);
    }
    let status = common::wait_exit(&mut watch, std::time::Duration::from_secs(20));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut watch.stdout.take().expect("piped"), &mut out)
        .expect("reads");
    assert!(status.success(), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "PHONE_STATE  DISCONNECTED  0x0",
            "PHONE_STATE  CONNECTED  0x0"
        ],
        "{out}"
    );
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = tspctl(None, &["completions", shell]);
        assert!(output.status.success(), "{shell}");
        let script = stdout(&output);
        for word in ["bus", "set-data", "inspect", "count"] {
            assert!(script.contains(word), "{shell}: `{word}` completes");
        }
        // clap_complete writes no value lists for elvish and PowerShell.
        if ["bash", "zsh", "fish"].contains(&shell) {
            assert!(
                script.contains("session") && script.contains("system"),
                "{shell}: --bus's values complete"
            );
        }
    }
    let bash = stdout(&tspctl(None, &["completions", "bash"]));
    let checked = Command::new("bash")
        .args(["-n", "-c", &bash])
        .status()
        .expect("bash runs");
    assert!(checked.success(), "the bash script parses");
    assert_eq!(
        tspctl(None, &["completions", "tcsh"]).status.code(),
        Some(2)
    );
}
