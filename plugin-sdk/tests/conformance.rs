//! The conformance kit passes a good driver and fails each misbehaving one on the
//! check it should. One test, run in order: the kit counts the process's threads,
//! so nothing else may run beside it.

mod common;

use std::time::Duration;

use common::*;
use tsp_plugin_sdk::conformance::{CHECKS, Options, Report, run_with};

fn kit(manifest: &std::path::Path, settings: &str) -> Report {
    let options = Options {
        settings: settings.to_owned(),
        patience: Duration::from_millis(800),
    };
    run_with(manifest, &options)
}

fn failed(report: &Report) -> Vec<&'static str> {
    report
        .checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| c.name)
        .collect()
}

#[test]
fn the_kit_passes_good_drivers_and_fails_each_misbehaviour() {
    let mock = mock_manifest();

    let good = kit(&mock, "");
    assert_eq!(good.checks.len(), CHECKS.len(), "{good}");
    let run: Vec<_> = good.checks.iter().map(|c| c.check).collect();
    assert_eq!(run, CHECKS, "every check, in the listed order:\n{good}");
    assert_eq!(good.failed(), 0, "the mock passes:\n{good}");

    let worker = kit(
        &mock,
        "completion = \"worker\"\ndelay_ms = 1\nconcurrent = false",
    );
    assert_eq!(
        worker.failed(),
        0,
        "the mock with worker completions passes:\n{worker}"
    );

    let minimal = kit(&minimal_manifest(), "");
    assert_eq!(minimal.failed(), 0, "the SDK's example passes:\n{minimal}");

    let cases = [
        ("lie_about_data = true", "caps are honoured"),
        ("reservation = false", "exclusive reservation"),
        (
            "[faults]\nset_data = \"never\"",
            "requests complete exactly once under concurrency",
        ),
        (
            "ignore_cancel = true\n[faults]\nset_data = \"never\"",
            "cancel completes what is outstanding",
        ),
        ("[faults]\nall = \"panic\"", "no panic reaches the boundary"),
        ("leak_thread = true", "shutdown leaves no thread running"),
    ];
    for (settings, check) in cases {
        let report = kit(&mock, settings);
        assert!(
            failed(&report).contains(&check),
            "with `{settings}` the check `{check}` should fail:\n{report}"
        );
        let why = report
            .check(check)
            .and_then(|c| c.failure.clone())
            .unwrap_or_default();
        assert!(!why.is_empty(), "a failure says why");
    }

    a_manifest_that_does_not_match_fails_the_first_checks();
}

fn a_manifest_that_does_not_match_fails_the_first_checks() {
    let dir = build_dir().join("test-kit-mismatch");
    std::fs::create_dir_all(&dir).expect("folder");
    let staged = tsp_plugin_sdk::manifest::Manifest::read(&mock_manifest()).expect("reads");
    let library = mock_manifest()
        .parent()
        .expect("folder")
        .join(&staged.library);
    std::fs::copy(library, dir.join(&staged.library)).expect("copy");
    let lying = tsp_plugin_sdk::manifest::Manifest {
        version: "9.9.9".into(),
        ..staged
    };
    let report = kit(&lying.write_to(&dir).expect("writes"), "");
    assert_eq!(
        failed(&report),
        ["manifest matches the library"],
        "{report}"
    );
}
