//! The TSP library as TAPISRV uses it: C programs, compiled here with the system's
//! C compiler, load the built library with `dlopen` from a folder laid out by the
//! dist code (the library, the sample configuration, `drivers/` with the mock
//! plugin; no tsp-rs.toml, so demo mode), and play TAPISRV. Their own checks are
//! printed; these tests require them all to pass.

mod tapi_side;

use std::process::Command;

use tapi_side::*;
use tsp_host::sdk::manifest::PluginSpec;

/// Lays out the library, compiles `name`.c and runs it; every check must pass.
fn run_c_program(name: &str, min_checks: usize) {
    run_c_program_with(name, min_checks, None);
}

/// The same, with `config` as the library's configuration (TSP_RS_CONFIG).
fn run_c_program_with(name: &str, min_checks: usize, config: Option<&str>) {
    run_c_program_as(name, min_checks, config, None, &[]);
}

/// The configuration that runs the mock in `tsp-driver-host`, with `more`.
fn isolated(more: &str) -> String {
    format!("drivers = [\"mock\"]\nisolate = [\"mock\"]\n{more}")
}

/// A program's cases against the mock in its own process (its own folder).
fn run_c_program_isolated(name: &str, min_checks: usize, more: &str, args: &[&str]) {
    run_c_program_in(
        &format!("test-c-{name}-isolated"),
        name,
        min_checks,
        Some(&isolated(more)),
        None,
        args,
    );
}

/// The same, with the TSP library renamed to `library_name` in its folder, and
/// `args` after the library's path.
fn run_c_program_as(
    name: &str,
    min_checks: usize,
    config: Option<&str>,
    library_name: Option<&str>,
    args: &[&str],
) {
    let folder = match library_name {
        Some(_) => format!("test-c-{name}-renamed"),
        None => format!("test-c-{name}"),
    };
    run_c_program_in(&folder, name, min_checks, config, library_name, args);
}

/// [`run_c_program_as`] in folder `folder` of the build folder.
fn run_c_program_in(
    folder: &str,
    name: &str,
    min_checks: usize,
    config: Option<&str>,
    library_name: Option<&str>,
    args: &[&str],
) {
    let folder = build_dir().join(folder);
    let mock =
        PluginSpec::read(&workspace().join("drivers/mock/plugin.toml")).expect("plugin.toml");
    let laid_out = tsp_host::dist::lay_out(&build_dir(), &folder, &[mock]).unwrap_or_else(|e| {
        panic!("{e} (cargo build --workspace builds it; cargo xtask test does)")
    });
    let library = match library_name {
        Some(new_name) => {
            let renamed = folder.join(new_name);
            std::fs::rename(&laid_out, &renamed).expect("rename the library");
            renamed
        }
        None => laid_out,
    };
    assert!(folder.join("tsp-rs.toml.example").is_file());

    let source = workspace().join(format!("host/tests/c/{name}.c"));
    let program = folder.join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args([
            "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-pthread", "-o",
        ])
        .arg(&program)
        .arg(&source)
        .arg("-ldl")
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(status.success(), "{name}.c does not compile");

    let mut command = Command::new(&program);
    command.arg(&library).args(args).env_remove("TSP_RS_CONFIG");
    // The programs accept a refusal by an isolated driver as a completion.
    let isolated = config.is_some_and(|c| c.contains("isolate = "));
    command.env("TSP_TEST_ISOLATED", if isolated { "1" } else { "0" });
    if let Some(config) = config {
        let file = folder.join("test-config.toml");
        tsp_host::testkit::write_trusted(&file, config);
        command.env("TSP_RS_CONFIG", file);
    }
    let output = command.output().expect("the program runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(" 0 failed"),
        "{name} reports failures:\n{stdout}"
    );
    assert!(
        output.status.success(),
        "{name} exited with {}",
        output.status
    );
    assert!(
        stdout.lines().filter(|l| l.starts_with("PASS")).count() >= min_checks,
        "{stdout}"
    );
}

/// The mock's lock files are process-wide: one program at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_c_harness_passes_against_the_tsp_library() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_c_program("harness", 40);
}

#[test]
fn a_renamed_tsp_library_names_its_own_file_to_tapi() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_c_program_as("harness", 1, None, Some("renamed-tsp"), &["ui-dll"]);
}

#[test]
fn plug_and_play_and_presence_through_the_c_exports() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_c_program("presence", 25);
}

#[test]
fn deadlines_and_per_phone_ordering_through_the_c_exports() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = "drivers = [\"mock\"]\n[settings.mock]\nconcurrent = false\n\
                  [deadlines]\nrequest_ms = 100\ncall_ms = 100\nmisses = 3\n";
    run_c_program_with("deadlines", 15, Some(config));
}

#[test]
fn every_phone_function_through_the_c_exports() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_c_program("functions", 60);
}

#[test]
fn hostile_arguments_through_every_export() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_c_program("hostile", 750);
}

#[test]
fn the_c_harness_passes_against_an_isolated_mock() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_c_program_isolated("harness", 40, "", &[]);
}

#[test]
fn plug_and_play_and_presence_with_an_isolated_mock() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_c_program_isolated("presence", 25, "", &[]);
}

#[test]
fn deadlines_and_per_phone_ordering_with_an_isolated_mock() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let more = "[settings.mock]\nconcurrent = false\n\
                [deadlines]\nrequest_ms = 100\ncall_ms = 100\nmisses = 3\n";
    // 4 x 25 requests through the one queue: each is a round trip to the
    // driver's process, and they share the 100 ms deadline.
    run_c_program_isolated("deadlines", 15, more, &["25"]);
}

#[test]
fn every_phone_function_with_an_isolated_mock() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_c_program_isolated("functions", 60, "", &[]);
}

#[test]
fn hostile_arguments_with_an_isolated_mock() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run_c_program_isolated("hostile", 750, "", &[]);
}

/// The mock in its own process crashing or hanging with requests outstanding,
/// on a concurrent or a one-at-a-time phone (`isolation.c`).
fn the_driver_comes_back(what: &str, concurrent: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let more = format!(
        "[settings.mock]\nconcurrent = {concurrent}\n[deadlines]\ncall_ms = 400\n\
         [isolation]\nhang_ms = 600\nbackoff_ms = 20\n"
    );
    run_c_program_isolated("isolation", 16, &more, &[what]);
}

#[test]
fn a_crash_on_a_concurrent_phone_through_the_c_exports() {
    the_driver_comes_back("crash", true);
}

#[test]
fn a_crash_on_a_one_at_a_time_phone_through_the_c_exports() {
    the_driver_comes_back("crash", false);
}

#[test]
fn a_hang_on_a_concurrent_phone_through_the_c_exports() {
    the_driver_comes_back("hang", true);
}

#[test]
fn a_hang_on_a_one_at_a_time_phone_through_the_c_exports() {
    the_driver_comes_back("hang", false);
}
