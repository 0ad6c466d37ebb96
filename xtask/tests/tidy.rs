//! Tests that keep ARCHITECTURE.md's conventions true (after rust-analyzer's
//! `tidy.rs`): where `unsafe` and `abi_stable` may appear, what tsp-core and the
//! libraries must not do, and that every architecture invariant names the test
//! that checks it.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_owned()
}

/// Every `.rs` file of the workspace, as (path relative to it, text).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let relative = path.strip_prefix(root).unwrap_or(&path);
                out.push((relative.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }
    let root = workspace();
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    assert!(out.len() > 50, "the workspace's sources were not found");
    out
}

/// Lines of code: comments (`//`, `//!`, `///`) left out.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
}

/// The files where `unsafe` may appear: each talks to C (TAPI's callbacks, the
/// exported TSPI functions, `dlopen`, the Windows loader, file ownership and
/// ACLs, a pty) or is the model checker's stand-in for TAPI.
const FFI_FILES: &[&str] = &[
    "plugin-sdk/src/adapter.rs",
    "plugin-sdk/src/winload.rs",
    // geteuid, and GetNamedSecurityInfoW with the DACL walk, for trust.rs.
    "plugin-sdk/src/trust/sys.rs",
    // The driver host's protocol moved off standard input and output.
    "plugin-sdk/src/isolation/sys.rs",
    "host/src/ffi/mod.rs",
    "host/src/ffi/platform.rs",
    "host/src/ffi/pointers.rs",
    "host/src/tapi.rs",
    "host/src/model.rs",
    "host/tests/tapi_c/mod.rs",
    "host/benches/set_data.rs",
    // The counting global allocator (GlobalAlloc is an unsafe trait).
    "host/benches/request_path.rs",
    // hidraw's poll, feature-report ioctls and raw mode for an emulated node.
    "drivers/usbhid/src/hidraw/sys.rs",
    // SetupAPI's list of HID collections and their usage pages (Windows).
    "drivers/usbhid/src/winhid/sys.rs",
];

#[test]
fn unsafe_lives_only_in_ffi_modules() {
    let mut found = Vec::new();
    for (path, text) in sources() {
        if FFI_FILES.contains(&path.as_str()) || path.starts_with("xtask/tests/") {
            continue;
        }
        for (number, line) in code_lines(&text) {
            if line.contains("unsafe ") || line.contains("unsafe{") || line.contains("unsafe(") {
                found.push(format!("{path}:{number}: {}", line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "`unsafe` outside the FFI modules (move it into one, or add the file to FFI_FILES with why):\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_sdk_boundary_names_abi_stable() {
    const ALLOWED: &[&str] = &[
        "plugin-sdk/src/abi.rs",
        "plugin-sdk/src/adapter.rs",
        "plugin-sdk/src/host/driver.rs",
        "plugin-sdk/src/host/link.rs",
        "plugin-sdk/src/host/load.rs",
        // The host's side of an isolated driver, and the driver host's.
        "plugin-sdk/src/isolation/child.rs",
        "plugin-sdk/src/isolation/proxy.rs",
        // Re-exported for `export_driver!`, so drivers never name it.
        "plugin-sdk/src/lib.rs",
    ];
    let found: Vec<String> = sources()
        .into_iter()
        .filter(|(path, _)| !ALLOWED.contains(&path.as_str()) && !path.starts_with("xtask/tests/"))
        .filter(|(_, text)| code_lines(text).any(|(_, line)| line.contains("abi_stable")))
        .map(|(path, _)| path)
        .collect();
    assert!(found.is_empty(), "abi_stable named in {found:?}");
}

#[test]
fn tsp_core_does_no_io_starts_no_threads_and_never_logs() {
    const FORBIDDEN: &[&str] = &[
        "unsafe",
        "std::thread",
        "std::fs",
        "std::net",
        "std::process",
        "std::io::std",
        "tracing",
        "println!",
        "eprintln!",
    ];
    let mut found = Vec::new();
    for (path, text) in sources() {
        if !path.starts_with("core/src/") {
            continue;
        }
        for (number, line) in code_lines(&text) {
            for word in FORBIDDEN {
                if line.contains(word) {
                    found.push(format!("{path}:{number}: {word}"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "tsp-core must stay pure:\n{}",
        found.join("\n")
    );
}

#[test]
fn libraries_log_and_never_print() {
    const LIBRARIES: &[&str] = &["core/src/", "plugin-sdk/src/", "host/src/", "drivers/"];
    const PRINTS: &[&str] = &["println!", "eprintln!", "print!(", "eprint!(", "dbg!("];
    let mut found = Vec::new();
    for (path, text) in sources() {
        // A program's `main` (src/bin/) tells its user on standard error.
        let library = LIBRARIES.iter().any(|l| path.starts_with(l))
            && !path.contains("/src/bin/")
            && !path.contains("/tests/")
            && !path.contains("/examples/")
            && !path.contains("/benches/");
        if !library {
            continue;
        }
        for (number, line) in code_lines(&text) {
            if PRINTS.iter().any(|p| line.contains(p)) {
                found.push(format!("{path}:{number}: {}", line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "libraries log with tracing, they never print:\n{}",
        found.join("\n")
    );
}

/// Every bullet under ARCHITECTURE.md's "Architecture invariants" names a test
/// (a `fn` of the workspace, in backticks) or a test file that exists.
#[test]
fn every_architecture_invariant_names_the_test_that_checks_it() {
    let architecture =
        std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let section = architecture
        .split("## Architecture invariants")
        .nth(1)
        .expect("an `## Architecture invariants` section");
    let sources = sources();
    let is_test = |name: &str| {
        // A test file: a C program of the host's, or a file under `tests/`.
        if name.ends_with(".c") {
            return workspace().join("host/tests/c").join(name).is_file();
        }
        if name.ends_with(".rs") {
            return sources
                .iter()
                .any(|(path, _)| path.ends_with(name) && path.contains("/tests/"));
        }
        let defined = format!("fn {name}(");
        sources.iter().any(|(_, text)| text.contains(&defined))
    };
    let mut unnamed = Vec::new();
    for bullet in section.split("\n- ").skip(1) {
        let names: Vec<&str> = bullet.split('`').skip(1).step_by(2).collect();
        if !names.iter().any(|name| is_test(name)) {
            let title = bullet.lines().next().unwrap_or_default();
            unnamed.push(title.to_owned());
        }
    }
    assert!(
        unnamed.is_empty(),
        "these invariants name no existing test:\n{}",
        unnamed.join("\n")
    );
}

/// Every crate that may be published carries what crates.io shows (a
/// description, keywords, categories, a readme, a licence), no placeholder
/// repository, and a version on every path dependency (cargo publish needs it).
#[test]
fn publishable_crates_carry_their_metadata() {
    let root: toml::Table =
        toml::from_str(&std::fs::read_to_string(workspace().join("Cargo.toml")).expect("read"))
            .expect("TOML");
    let members = root["workspace"]["members"].as_array().expect("members");
    let mut problems = Vec::new();
    for member in members.iter().filter_map(|m| m.as_str()) {
        let folders: Vec<PathBuf> = match member.strip_suffix("/*") {
            Some(parent) => std::fs::read_dir(workspace().join(parent))
                .expect("a folder")
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("Cargo.toml").is_file())
                .collect(),
            None => vec![workspace().join(member)],
        };
        for folder in folders {
            let text = std::fs::read_to_string(folder.join("Cargo.toml")).expect("read");
            let manifest: toml::Table = toml::from_str(&text).expect("TOML");
            let package = manifest["package"].as_table().expect("[package]");
            let name = package["name"].as_str().unwrap_or("?").to_owned();
            if package.get("publish").and_then(toml::Value::as_bool) == Some(false) {
                continue;
            }
            for key in ["description", "keywords", "categories", "readme", "license"] {
                if !package.contains_key(key) {
                    problems.push(format!("{name}: no `{key}`"));
                }
            }
            if text.contains("example.invalid") {
                problems.push(format!("{name}: a placeholder repository"));
            }
            let dependencies = manifest.get("dependencies").and_then(toml::Value::as_table);
            for (dep, spec) in dependencies.into_iter().flatten() {
                let spec = spec.as_table();
                let has_path = spec.is_some_and(|s| s.contains_key("path"));
                let has_version = spec.is_some_and(|s| s.contains_key("version"));
                if has_path && !has_version {
                    problems.push(format!("{name}: path dependency `{dep}` has no version"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "crate metadata:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_changelog_the_sdk_points_to_exists() {
    let sdk = std::fs::read_to_string(workspace().join("plugin-sdk/src/lib.rs")).expect("read");
    assert!(
        sdk.contains("CHANGELOG.md"),
        "the compatibility policy points to it"
    );
    let changelog =
        std::fs::read_to_string(workspace().join("CHANGELOG.md")).expect("CHANGELOG.md");
    assert!(
        changelog.contains("## Unreleased"),
        "changes wait under Unreleased"
    );
}

/// Every source file says what it is in its first line (`//!`), and ARCHITECTURE.md
/// names every source file of the crates (but `lib.rs`, `main.rs` and `mod.rs`,
/// which the crate's own section is about), so the code map stays whole.
#[test]
fn every_source_file_opens_with_its_purpose_and_is_on_the_map() {
    let architecture =
        std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut problems = Vec::new();
    for (path, text) in sources() {
        if path.starts_with("fuzz/") || path.contains("/fixtures/") {
            continue;
        }
        if !text.trim_start().starts_with("//!") {
            problems.push(format!("{path}: does not open with a `//!` line"));
        }
        let name = path.rsplit('/').next().unwrap_or(&path);
        let in_src = path.contains("/src/") && !path.starts_with("xtask/");
        let crate_root = matches!(name, "lib.rs" | "main.rs" | "mod.rs");
        if in_src
            && !crate_root
            && !architecture.contains(&format!("`{name}`"))
            && !architecture.contains(&format!("/{name}`"))
        {
            problems.push(format!("{path}: not named in ARCHITECTURE.md"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// tspctl reads report descriptors (`usbhid inspect`) but opens no USB device:
/// it must not link libusb (`tsp-driver-usbhid` without its `usb` feature).
#[test]
fn tspctl_does_not_link_libusb() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "tspctl",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(workspace())
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        tree.contains("tsp-driver-usbhid"),
        "tspctl inspects descriptors: {tree}"
    );
    assert!(
        !tree
            .lines()
            .any(|l| l.starts_with("rusb ") || l.starts_with("libusb1-sys ")),
        "tspctl links libusb:\n{tree}"
    );
}
