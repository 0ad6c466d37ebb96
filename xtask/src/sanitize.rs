//! `cargo xtask sanitize [address|thread]`: the host's and the drivers' tests
//! under AddressSanitizer and ThreadSanitizer (nightly, `-Zsanitizer`, the
//! standard library rebuilt with the same instrumentation). Each sanitizer has
//! its own target folder. The C programs (`c_harness`) are left out: a binary
//! without the sanitizer's runtime cannot load an instrumented library. Not in
//! CI; RELIABILITY.md records the runs.

use std::path::Path;
use std::process::Command;

const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The packages whose tests run, and the tests of tsp-host (all but the C
/// programs).
const PACKAGES: &[&str] = &[
    "tsp-core",
    "tsp-plugin-sdk",
    "tsp-driver-mock",
    "tsp-driver-serial",
    "tsp-driver-usbhid",
];
const HOST_TESTS: &[&str] = &[
    "bounds",
    "embed",
    "faults",
    "fault_matrix",
    "provider",
    "stress",
    "threads",
];

pub(crate) fn command(root: &Path, args: &[String]) -> Result<bool, String> {
    let sanitizers: Vec<&str> = match args {
        [] => vec!["address", "thread"],
        [one] if one == "address" || one == "thread" => vec![one.as_str()],
        _ => return Err("usage: cargo xtask sanitize [address|thread]".into()),
    };
    ensure_rust_src()?;
    let mut clean = true;
    for sanitizer in sanitizers {
        println!("== {sanitizer} sanitizer: building the workspace and its plugins");
        // Not tspctl: it links two drivers in, and exporting an executable's
        // symbols (below) makes their two plugin root symbols collide; no
        // test here runs it.
        clean &= run(
            root,
            sanitizer,
            &[
                "build",
                "--workspace",
                "--exclude",
                "tspctl",
                "--lib",
                "--bins",
            ],
        )?;
        println!("== {sanitizer} sanitizer: the drivers' and the SDK's tests");
        let mut test = vec!["test", "--no-fail-fast"];
        for package in PACKAGES {
            test.extend(["-p", package]);
        }
        clean &= run(root, sanitizer, &test)?;
        println!("== {sanitizer} sanitizer: the host's tests");
        let mut host = vec!["test", "--no-fail-fast", "-p", "tsp-host", "--lib"];
        for name in HOST_TESTS {
            host.extend(["--test", name]);
        }
        clean &= run(root, sanitizer, &host)?;
    }
    Ok(clean)
}

fn ensure_rust_src() -> Result<(), String> {
    let listed = Command::new("rustup")
        .args(["+nightly", "component", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup: {e} (the sanitizers need nightly)"))?;
    if String::from_utf8_lossy(&listed.stdout).contains("rust-src") {
        return Ok(());
    }
    let added = Command::new("rustup")
        .args(["component", "add", "rust-src", "--toolchain", "nightly"])
        .status()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if added.success() {
        Ok(())
    } else {
        Err(
            "the sanitizers rebuild std: run `rustup component add rust-src --toolchain nightly`"
                .into(),
        )
    }
}

fn run(root: &Path, sanitizer: &str, args: &[&str]) -> Result<bool, String> {
    let target_dir = crate::stage::target_dir().join(format!("sanitize-{sanitizer}"));
    // The sanitizer's runtime is linked into executables only: exporting their
    // symbols (-rdynamic) lets the plugins they dlopen resolve it.
    let flags = format!("-Zsanitizer={sanitizer} -Cdebuginfo=1 -Clink-arg=-rdynamic");
    let status = Command::new("cargo")
        .arg("+nightly")
        .args(args)
        .args(["-Zbuild-std", "--target", TARGET])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", &flags)
        .env("RUSTDOCFLAGS", &flags)
        .env("ASAN_OPTIONS", "detect_leaks=0")
        .env("TSAN_OPTIONS", "halt_on_error=1")
        .env("STRESS_OPS", "2000")
        // A panic's backtrace, symbolised under the sanitizer, takes seconds:
        // tests that panic on purpose would pass their patience waiting.
        .env_remove("RUST_BACKTRACE")
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    Ok(status.success())
}
