//! `cargo xtask test`: every test of the workspace in steps (prerequisites,
//! build, tidy, fuzz targets, plugins staged, workspace tests, loom models,
//! the conformance kit, the C programs under wine), one `total:` line at the
//! end with the failed tests named before it, in a lock folder of its own.

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use crate::{USAGE, conformance, prereq, stage, windows};

/// Counts of what a step ran.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    passed: u64,
    failed: u64,
    /// Legs this platform cannot run at all (said why where they were skipped).
    skipped: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }

    /// A leg that cannot run here, with the reason printed.
    fn skipped(why: &str) -> Tally {
        println!("xtask: skipped: {why}");
        Tally {
            passed: 0,
            failed: 0,
            skipped: 1,
        }
    }
}

/// What failed in this run, by name, for the closing lines: a log of several
/// thousand lines must not hide which test to look at.
static FAILURES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Notes a failure by name (a test, a conformance check, a C program's check).
pub(crate) fn note_failure(name: String) {
    FAILURES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(name);
}

/// The name of the test a libtest line reports failed: `test NAME ... FAILED`.
fn failed_test(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("test ")?
        .strip_suffix(" ... FAILED")
}

/// The test binary a `cargo test` line announces: `Running tests/x.rs (…)`.
fn test_binary(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("Running ")?;
    Some(rest.split(" (").next().unwrap_or(rest))
}

/// A step of `cargo xtask test`: its name and what runs it.
type Step = (&'static str, fn() -> Tally);

pub(crate) fn test(args: &[String]) -> ExitCode {
    if let Some(extra) = args.first() {
        eprintln!("xtask test: unexpected argument `{extra}`\n\n{USAGE}");
        return ExitCode::from(2);
    }
    if std::env::var_os(tsp_plugin_sdk::LOCK_DIR_VARIABLE).is_none() {
        return with_private_lock_folder(args);
    }
    if let Err(why) = prereq::ensure() {
        eprintln!("xtask: {why}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let mut total = Tally::default();
    let steps: [Step; 8] = [
        ("build the workspace (tools and plugins)", build_workspace),
        (
            "tidy: rustfmt, clippy and rustdoc with warnings denied",
            run_tidy,
        ),
        (
            "check that the fuzz targets compile (they run with cargo xtask fuzz)",
            check_fuzz_targets,
        ),
        ("stage the drivers as plugins", stage_plugins),
        ("run the workspace's tests", run_workspace_tests),
        (
            "model-check the callback lane, the call gate and the queue (loom)",
            run_model_checks,
        ),
        ("run the conformance kit on every driver", run_conformance),
        (
            "run the C programs under wine against the Windows TSP",
            run_under_wine,
        ),
    ];
    let count = steps.len();
    for (index, (name, step)) in steps.into_iter().enumerate() {
        println!("xtask: [{}/{count}] {name} ...", index + 1);
        let step_started = Instant::now();
        let tally = step();
        let verdict = if tally.failed == 0 { "ok" } else { "FAILED" };
        println!(
            "xtask: [{}/{count}] {name}: {verdict} ({} passed, {} failed, {} skipped) in {:.1}s",
            index + 1,
            tally.passed,
            tally.failed,
            tally.skipped,
            step_started.elapsed().as_secs_f64()
        );
        total.add(tally);
    }
    println!(
        "xtask: all steps in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let failures = std::mem::take(&mut *FAILURES.lock().unwrap_or_else(|e| e.into_inner()));
    if !failures.is_empty() {
        println!("xtask: what failed:");
        for failure in &failures {
            println!("  {failure}");
        }
    }
    println!(
        "total: {} passed, {} failed, {} skipped",
        total.passed, total.failed, total.skipped
    );
    if total.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs `cargo xtask test` again with `TSP_RS_LOCK_DIR` set to a folder of
/// this run's own, for everything it starts (tests, tspd, the conformance kit
/// in this process): two runs at once, or a run beside a running tspd, never
/// meet over the mock's reservations. The folder goes when the run ends.
fn with_private_lock_folder(args: &[String]) -> ExitCode {
    let folder = stage::target_dir().join(format!("tsp-rs-locks-{}", std::process::id()));
    if let Err(error) = std::fs::create_dir_all(&folder) {
        eprintln!(
            "xtask: cannot make the lock folder {}: {error}",
            folder.display()
        );
        return ExitCode::FAILURE;
    }
    let again = std::env::current_exe().map(|exe| {
        Command::new(exe)
            .arg("test")
            .args(args)
            .env(tsp_plugin_sdk::LOCK_DIR_VARIABLE, &folder)
            .status()
    });
    let _ = std::fs::remove_dir_all(&folder);
    match again {
        Ok(Ok(status)) if status.success() => ExitCode::SUCCESS,
        Ok(Ok(_)) => ExitCode::FAILURE,
        Ok(Err(error)) | Err(error) => {
            eprintln!("xtask: cannot run xtask again with its lock folder: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A tidy check: its name, cargo's arguments, and a variable to set.
type TidyCheck = (
    &'static str,
    &'static [&'static str],
    Option<(&'static str, &'static str)>,
);

/// `cargo fmt --check`, `cargo clippy --all-targets -- -D warnings` and
/// `cargo doc` with warnings denied, each counted as one check.
fn run_tidy() -> Tally {
    let checks: [TidyCheck; 3] = [
        (
            "cargo fmt --all --check",
            &["fmt", "--all", "--check"],
            None,
        ),
        (
            "cargo clippy --workspace --all-targets -- -D warnings",
            &[
                "clippy",
                "--quiet",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            None,
        ),
        (
            "cargo doc --workspace --no-deps (warnings denied)",
            &["doc", "--quiet", "--workspace", "--no-deps"],
            Some(("RUSTDOCFLAGS", "-D warnings")),
        ),
    ];
    let mut tally = Tally::default();
    for (name, args, env) in checks {
        let mut command = cargo();
        command.args(args);
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        if command.status().is_ok_and(|s| s.success()) {
            tally.passed += 1;
        } else {
            eprintln!("xtask: {name} failed (see above)");
            note_failure(name.to_owned());
            tally.failed += 1;
        }
    }
    tally
}

/// `cargo check` of `fuzz/` on this toolchain, in a target folder of its own:
/// the targets call the crates' fuzzing entry points, and a change there must
/// not leave them broken until someone fuzzes. Fails as a build does.
fn check_fuzz_targets() -> Tally {
    let mut check = cargo();
    check
        .args(["check", "--quiet", "--bins", "--manifest-path"])
        .arg(stage::workspace().join("fuzz/Cargo.toml"))
        .arg("--target-dir")
        .arg(stage::target_dir().join("fuzz-check"));
    build_step("cargo check of fuzz/", check)
}

/// Runs a build-like `command`: not a test, so only its failure counts (once,
/// named `name` among what failed).
fn build_step(name: &str, mut command: Command) -> Tally {
    let why = match command.status() {
        Ok(status) if status.success() => return Tally::default(),
        Ok(status) => format!("{name} failed ({status})"),
        Err(error) => format!("cannot run cargo for {name}: {error}"),
    };
    eprintln!("xtask: {why}");
    note_failure(name.to_owned());
    Tally {
        passed: 0,
        failed: 1,
        skipped: 0,
    }
}

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `cargo build` of every crate and test: the plugins are `cdylib`s that `cargo
/// test` alone does not produce, and building the tests here lets the next step
/// reuse them. A failed build counts as one failure.
fn build_workspace() -> Tally {
    let mut build = cargo();
    build.args(["build", "--workspace", "--all-targets"]);
    build_step("cargo build --workspace --all-targets", build)
}

/// Lays the drivers out as the host finds them. A failure counts once.
fn stage_plugins() -> Tally {
    match stage::stage_drivers("debug") {
        Ok(manifests) => {
            for manifest in manifests {
                println!("xtask: staged {}", manifest.display());
            }
            Tally::default()
        }
        Err(error) => {
            eprintln!("xtask: staging failed: {error}");
            Tally {
                passed: 0,
                failed: 1,
                skipped: 0,
            }
        }
    }
}

/// The conformance kit on every staged driver, each check counted.
fn run_conformance() -> Tally {
    let manifests = match stage::stage_drivers("debug") {
        Ok(manifests) => manifests,
        Err(error) => {
            eprintln!("xtask: {error}");
            return Tally {
                passed: 0,
                failed: 1,
                skipped: 0,
            };
        }
    };
    let reports: Vec<_> = manifests.iter().map(|m| conformance_of(m)).collect();
    let mut tally = Tally::default();
    for report in &reports {
        for check in report.checks.iter().filter(|c| !c.passed()) {
            note_failure(format!("conformance {}: {}", report.driver, check.name));
            eprintln!(
                "xtask: conformance {}: FAIL {}: {}",
                report.driver,
                check.name,
                check.failure.as_deref().unwrap_or("")
            );
        }
        tally.passed += report.passed() as u64;
        tally.failed += report.failed() as u64;
    }
    print!("{}", conformance::table(&reports));
    tally
}

/// The Windows leg: each C program's checks counted; a build that fails counts once.
fn run_under_wine() -> Tally {
    if !cfg!(target_os = "linux") {
        return Tally::skipped(
            "the C programs under wine: wine runs the Windows TSP on Linux only \
             (on Windows, run them natively)",
        );
    }
    match windows::test_under_wine() {
        Ok(runs) => {
            let mut tally = Tally::default();
            for run in runs {
                println!(
                    "xtask: wine {:<10} {} passed, {} failed",
                    run.program, run.passed, run.failed
                );
                tally.add(Tally {
                    passed: run.passed,
                    failed: run.failed,
                    skipped: 0,
                });
            }
            tally
        }
        Err(error) => {
            eprintln!("xtask: the Windows leg could not run: {error}");
            Tally {
                passed: 0,
                failed: 1,
                skipped: 0,
            }
        }
    }
}

/// Runs the kit on one staged driver, with what it needs to have a device: the
/// serial driver talks to the modem simulator on a pseudo-terminal, the USB HID
/// driver to simulated handsets made from real report descriptors.
fn conformance_of(manifest: &std::path::Path) -> tsp_plugin_sdk::conformance::Report {
    let name = manifest
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    #[cfg(unix)]
    if name == "serial" {
        return match tsp_driver_serial::sim::Simulator::phone() {
            Ok(sim) => {
                let settings = format!(
                    "[[ports]]\npath = \"{}\"\ntimeout_ms = 1000\n",
                    sim.path().display()
                );
                tsp_plugin_sdk::conformance::run(manifest, &settings)
            }
            Err(error) => {
                eprintln!("xtask: cannot start the modem simulator: {error}");
                tsp_plugin_sdk::conformance::run(manifest, "")
            }
        };
    }
    if name == "usbhid" {
        return tsp_plugin_sdk::conformance::run(manifest, &usbhid_settings());
    }
    tsp_plugin_sdk::conformance::run(manifest, "")
}

/// USB off (CI has no USB), two simulated handsets: a Jabra headset with a ringer
/// and a feature report, a Poly with a Ring lamp and many output reports.
fn usbhid_settings() -> String {
    let data = stage::workspace().join("drivers/usbhid/tests/data");
    let mut settings = String::from("usb = false\n");
    for (fixture, serial) in [
        ("jabra-evolve-link-ms_0b0e-0307.hex", "XTASK-JABRA"),
        ("poly-bt700_047f-02e6.hex", "XTASK-POLY"),
    ] {
        settings += &format!(
            "[[simulated]]\ndescriptor = {:?}\nserial = \"{serial}\"\n",
            data.join(fixture).display().to_string()
        );
    }
    settings
}

/// `cargo test` across the workspace, its output passed through, its `test result`
/// lines added up. A run that fails without a failing test (a compile error) counts
/// as one failure, so it can never look green.
fn run_workspace_tests() -> Tally {
    run_cargo_tests(&["test", "--workspace", "--no-fail-fast"], &[])
}

/// The loom models of `host/src/model.rs`, bounded to three preemptions per
/// execution (their own build of tsp-host, with the `model` feature).
fn run_model_checks() -> Tally {
    run_cargo_tests(
        &[
            "test",
            "-p",
            "tsp-host",
            "--features",
            "model",
            "--lib",
            "model::",
        ],
        &[("LOOM_MAX_PREEMPTIONS", "3")],
    )
}

/// Runs a `cargo test` command, echoing its output and counting its results.
fn run_cargo_tests(args: &[&str], env: &[(&str, &str)]) -> Tally {
    let child = cargo()
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            eprintln!("xtask: cannot run cargo: {error}");
            return Tally {
                passed: 0,
                failed: 1,
                skipped: 0,
            };
        }
    };
    let mut tally = Tally::default();
    let mut binary = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(result) = parse_test_result(&line) {
                tally.add(result);
            }
            if let Some(name) = test_binary(&line) {
                binary = name.to_owned();
            }
            if let Some(test) = failed_test(&line) {
                // cargo announces each binary on stderr, which is not read here.
                note_failure(if binary.is_empty() {
                    test.to_owned()
                } else {
                    format!("{binary}: {test}")
                });
            }
        }
    }
    let success = child.wait().is_ok_and(|status| status.success());
    if !success && tally.failed == 0 {
        eprintln!("xtask: cargo test failed before any test failed (see above)");
        note_failure(format!("cargo {} (before any test failed)", args.join(" ")));
        tally.failed = 1;
    }
    tally
}

/// Reads libtest's summary: `test result: ok. 10 passed; 0 failed; 0 ignored; ...`.
fn parse_test_result(line: &str) -> Option<Tally> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (_, counts) = rest.split_once(". ")?;
    let mut tally = Tally::default();
    let mut seen = false;
    for part in counts.split(';') {
        let mut words = part.split_whitespace();
        let (Some(number), Some(word)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(number) = number.parse::<u64>() else {
            continue;
        };
        match word {
            "passed" => tally.passed = number,
            "failed" => tally.failed = number,
            _ => continue,
        }
        seen = true;
    }
    seen.then_some(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libtest_summaries() {
        let line = "test result: FAILED. 7 passed; 3 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.23s";
        let tally = parse_test_result(line).expect("a summary");
        assert_eq!((tally.passed, tally.failed), (7, 3));
        assert!(parse_test_result("test foo ... ok").is_none());
        assert!(parse_test_result("running 3 tests").is_none());
        let ok = "test result: ok. 10 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.04s";
        let tally = parse_test_result(ok).expect("a summary");
        assert_eq!((tally.passed, tally.failed), (10, 0));
    }

    #[test]
    fn names_the_failed_tests_and_their_binary() {
        assert_eq!(
            failed_test("test faults::a_hung_call ... FAILED"),
            Some("faults::a_hung_call")
        );
        assert_eq!(failed_test("test faults::a_hung_call ... ok"), None);
        assert_eq!(failed_test("test result: FAILED. 1 passed; 1 failed"), None);
        assert_eq!(
            test_binary("     Running tests/faults.rs (target/debug/deps/faults-1234)"),
            Some("tests/faults.rs")
        );
    }
}
