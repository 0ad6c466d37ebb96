//! The README's main command works and tspctl's errors are clear.

use std::process::{Command, Output};

fn tspctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tspctl"))
        .args(args)
        .output()
        .expect("tspctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn demo_shows_both_default_phones_read_back_from_phonecaps() {
    let output = tspctl(&["demo"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("name            Mock Phone 0"), "{text}");
    assert!(text.contains("name            Mock Phone 1"), "{text}");
    assert!(
        text.contains("SetData areas   [256, 256, 256, 256] bytes"),
        "{text}"
    );
    assert!(
        text.contains("TAPI offers 1.3-1.4: LINEERR_INCOMPATIBLEAPIVERSION"),
        "{text}"
    );
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
    for args in [&["bogus"][..], &["explain"], &["explain", "zz"], &[]] {
        let output = tspctl(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            err.starts_with("tspctl: ") || err.contains("usage:"),
            "{err}"
        );
    }
}
