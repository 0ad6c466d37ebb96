//! Project automation: `cargo xtask test` (every test, one total line at the end),
//! `stress`, `bench`, `fuzz`, `sanitize`, `stage`, `conformance`, `new-driver`.

mod bench;
mod conformance;
mod figure;
mod fuzz;
mod new_driver;
mod prereq;
mod sanitize;
mod stage;
mod suite;
mod windows;

pub(crate) use suite::{cargo, note_failure};

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test                 install what the tests need (or name the command that
                       does), build everything, run every test and the
                       conformance kit on every driver, print one line per step
                       with its time, end with `total: N passed, M failed, K skipped`
  dist [--windows]     release build laid out in target/dist/: the TSP library,
                       tsp-rs.toml.example, drivers/ (library + manifest each);
                       --windows: cross-built, in target/dist-windows/
  stress [--ops N]     the host's stress test with its invariant checker, long
                       mode: N operations (default 1000000) through the C
                       exports; STRESS_SEED=S replays a seed
  bench [--full]       every benchmark in its short mode (a few minutes; --full
                       for the long runs), then one table: figure, unit, tsp-rs,
                       baseline, ratio, target (PERFORMANCE.md)
  fuzz [--time S] [TARGET …]
                       every cargo-fuzz target of fuzz/ for S seconds each
                       (default 600), seeded from the fixtures; a table of runs,
                       coverage and crashes (nightly and cargo-fuzz; not in CI)
  sanitize [address|thread]
                       the host's and drivers' tests under AddressSanitizer and
                       ThreadSanitizer (nightly, std rebuilt; not in CI)
  stage                build the drivers and lay them out in target/debug/drivers/
                       (library + manifest each), the way the host finds them
  conformance PLUGIN [--config FILE]
                       run the conformance kit on a built plugin: its library or
                       its NAME.toml manifest (FILE holds the driver's settings)
  new-driver NAME [--path DIR]
                       scaffold a driver crate that builds and passes conformance
  help                 this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let result = match args.first().map(String::as_str) {
        Some("test") => return suite::test(rest),
        Some("stage") => stage_command(),
        Some("bench") => bench::command(rest),
        Some("stress") => stress_command(rest),
        Some("fuzz") => fuzz::command(&stage::workspace(), rest).map(exit_code),
        Some("sanitize") => sanitize::command(&stage::workspace(), rest).map(exit_code),
        Some("dist") => dist_command(rest),
        Some("conformance") => conformance::command(rest),
        Some("new-driver") => new_driver::command(rest).map(|()| ExitCode::SUCCESS),
        Some(other) if other != "help" && other != "--help" && other != "-h" => {
            Err(format!("unknown command `{other}`\n\n{USAGE}"))
        }
        Some(_) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::from(2)
        }
    }
}

fn dist_command(args: &[String]) -> Result<ExitCode, String> {
    match args {
        [] => {}
        [flag] if flag == "--windows" => return windows::dist().map(|()| ExitCode::SUCCESS),
        [extra, ..] => return Err(format!("unexpected argument `{extra}`")),
    }
    let mut build = cargo();
    build.args(["build", "--release", "-p", "tsp-host"]);
    let specs = stage::driver_specs()?;
    for (_, spec) in &specs {
        build.args(["-p", &spec.crate_name]);
    }
    if !build
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?
        .success()
    {
        return Err("the release build failed".into());
    }
    let target = stage::target_dir();
    let out = target.join("dist");
    let specs: Vec<_> = specs.into_iter().map(|(_, spec)| spec).collect();
    let library = tsp_host::dist::lay_out(&target.join("release"), &out, &specs)?;
    println!("laid out {}: {}", out.display(), library.display());
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask stress [--ops N]`: the stress test of `host/tests/stress.rs`
/// in its long mode (the short mode runs in `cargo xtask test`).
fn stress_command(args: &[String]) -> Result<ExitCode, String> {
    let ops = match args {
        [] => 1_000_000,
        [flag, n] if flag == "--ops" => n
            .parse::<u64>()
            .map_err(|_| format!("--ops takes a number of operations, not `{n}`"))?,
        _ => return Err(format!("usage: cargo xtask stress [--ops N]\n\n{USAGE}")),
    };
    let built = cargo()
        .args(["build", "--workspace"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !built.success() {
        return Err("cargo build failed".into());
    }
    let status = cargo()
        .args([
            "test",
            "-p",
            "tsp-host",
            "--test",
            "stress",
            "--",
            "--nocapture",
        ])
        .env("STRESS_OPS", ops.to_string())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn stage_command() -> Result<ExitCode, String> {
    let status = cargo()
        .args(["build", "--workspace"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build failed".into());
    }
    for manifest in stage::stage_drivers("debug")? {
        println!("staged {}", manifest.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn exit_code(clean: bool) -> ExitCode {
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
