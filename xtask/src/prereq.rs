//! What `cargo xtask test` needs beyond a Rust toolchain, checked before it
//! builds anything: the Windows target (added with rustup), and system
//! packages for the C programs, the Windows leg, the USB HID tests and tspd's
//! tests. Missing packages are installed when this user may (root, or sudo
//! without a password, with apt-get); otherwise the run stops with one line
//! naming the command to run. `TSP_RS_NO_INSTALL=1` never installs (it only
//! names the command), for machines where installing is not wanted.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

/// A program a test step runs, and the Debian package that brings it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Need {
    /// The program looked for on `PATH`.
    pub(crate) program: &'static str,
    /// The packages `apt-get install` needs for it.
    pub(crate) packages: &'static [&'static str],
    /// What needs it.
    pub(crate) for_what: &'static str,
}

/// Every program the test steps run, on Linux.
pub(crate) const NEEDS: &[Need] = &[
    Need {
        program: "cc",
        packages: &["gcc", "libc6-dev"],
        for_what: "the C programs that play TAPISRV",
    },
    Need {
        program: "x86_64-w64-mingw32-gcc",
        packages: &["gcc-mingw-w64-x86-64-posix", "mingw-w64-x86-64-dev"],
        for_what: "the Windows TSP and its C programs",
    },
    Need {
        program: "wine",
        packages: &["wine", "wine64"],
        for_what: "running the Windows TSP's C programs",
    },
    Need {
        program: "pkg-config",
        packages: &["pkg-config", "libusb-1.0-0-dev"],
        for_what: "building the USB HID driver against libusb",
    },
    Need {
        program: "umockdev-run",
        packages: &["umockdev"],
        for_what: "the USB HID driver's emulated devices",
    },
    Need {
        program: "dbus-daemon",
        packages: &["dbus-daemon"],
        for_what: "tspd's private bus",
    },
    Need {
        program: "dbus-send",
        packages: &["dbus-bin"],
        for_what: "tspd's tests (a client nobody here wrote)",
    },
    Need {
        program: "dbus-monitor",
        packages: &["dbus-bin"],
        for_what: "tspd's policy test",
    },
    Need {
        program: "setpriv",
        packages: &["util-linux"],
        for_what: "tspd's policy test (a listener as another user)",
    },
];

/// The Rust target of the Windows leg.
pub(crate) const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

/// libusb's development files, which pkg-config finds (not a program).
const LIBUSB: Need = Need {
    program: "libusb-1.0 (pkg-config)",
    packages: &["libusb-1.0-0-dev"],
    for_what: "building the USB HID driver against the system's libusb",
};

/// What is missing: the needs whose program is not on `path`, and libusb's
/// development files when pkg-config is there but does not find them.
pub(crate) fn missing(path: Option<&OsString>) -> Vec<Need> {
    let mut missing: Vec<Need> = NEEDS
        .iter()
        .copied()
        .filter(|need| !on_path(need.program, path))
        .collect();
    if on_path("pkg-config", path) && !libusb_found() {
        missing.push(LIBUSB);
    }
    missing
}

fn libusb_found() -> bool {
    Command::new("pkg-config")
        .args(["--exists", "libusb-1.0"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `program` is an executable file in one of `path`'s folders.
fn on_path(program: &str, path: Option<&OsString>) -> bool {
    path.is_some_and(|path| {
        std::env::split_paths(path).any(|folder| is_executable(&folder.join(program)))
    })
}

fn is_executable(file: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        file.is_file() || file.with_extension("exe").is_file()
    }
}

/// The packages of `needs`, each once, in order.
pub(crate) fn packages(needs: &[Need]) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for package in needs.iter().flat_map(|n| n.packages.iter().copied()) {
        if !packages.contains(&package) {
            packages.push(package);
        }
    }
    packages
}

/// The one command that installs `needs`.
pub(crate) fn install_command(needs: &[Need]) -> String {
    format!(
        "sudo apt-get install -y --no-install-recommends {}",
        packages(needs).join(" ")
    )
}

/// Checks everything and installs what it may; `Err` says what to run.
pub(crate) fn ensure() -> Result<(), String> {
    ensure_components()?;
    if !cfg!(target_os = "linux") {
        // The legs that need these packages are Linux's; elsewhere they are
        // reported as skipped by their steps.
        return Ok(());
    }
    let path = std::env::var_os("PATH");
    let needs = missing(path.as_ref());
    if needs.is_empty() {
        return ensure_windows_target();
    }
    let names: Vec<&str> = needs.iter().map(|n| n.program).collect();
    println!("xtask: missing {}", names.join(", "));
    for need in &needs {
        println!("xtask:   {} (for {})", need.program, need.for_what);
    }
    let Some(sudo) = may_install(path.as_ref()) else {
        return Err(format!(
            "missing {}: run `{}` and then `cargo xtask test` again",
            names.join(", "),
            install_command(&needs)
        ));
    };
    install(&sudo, &needs)?;
    let still = missing(std::env::var_os("PATH").as_ref());
    if still.is_empty() {
        ensure_windows_target()
    } else {
        Err(format!(
            "still missing after installing: {}",
            still
                .iter()
                .map(|n| n.program)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// How this user may install packages: `Some([])` as root, `Some(["sudo",
/// "-n"])` with password-less sudo, `None` otherwise (or without apt-get, or
/// when `TSP_RS_NO_INSTALL` is set).
fn may_install(path: Option<&OsString>) -> Option<Vec<&'static str>> {
    if std::env::var_os("TSP_RS_NO_INSTALL").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    if !on_path("apt-get", path) {
        return None;
    }
    if is_root() {
        return Some(Vec::new());
    }
    let sudo_works = Command::new("sudo")
        .args(["-n", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    sudo_works.then(|| vec!["sudo", "-n"])
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn install(sudo: &[&str], needs: &[Need]) -> Result<(), String> {
    let run = |args: &[&str]| -> Result<(), String> {
        // `env` after sudo: sudo's env_reset would drop DEBIAN_FRONTEND, and a
        // debconf prompt would hang a run that nobody watches.
        let mut words: Vec<&str> = sudo.to_vec();
        words.extend_from_slice(&["env", "DEBIAN_FRONTEND=noninteractive"]);
        words.extend_from_slice(args);
        println!("xtask: running {}", words.join(" "));
        let status = Command::new(words[0])
            .args(&words[1..])
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", words[0]))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{}` failed ({status})", words.join(" ")))
        }
    };
    run(&["apt-get", "update", "-qq"])?;
    let mut args = vec!["apt-get", "install", "-y", "-qq", "--no-install-recommends"];
    args.extend(packages(needs));
    run(&args)
}

/// Adds rustfmt and clippy (the tidy step runs them) with rustup when a
/// minimal toolchain lacks them.
fn ensure_components() -> Result<(), String> {
    let has = |tool: &str| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        Command::new(cargo)
            .args([tool, "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let missing: Vec<&str> = [("fmt", "rustfmt"), ("clippy", "clippy")]
        .into_iter()
        .filter(|(tool, _)| !has(tool))
        .map(|(_, component)| component)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!(
        "xtask: adding {} (rustup component add)",
        missing.join(", ")
    );
    let added = Command::new("rustup")
        .args(["component", "add"])
        .args(&missing)
        .status();
    match added {
        Ok(status) if status.success() => Ok(()),
        _ => Err(format!(
            "the tidy step needs {}: run `rustup component add {}`",
            missing.join(" and "),
            missing.join(" ")
        )),
    }
}

/// Adds the Windows target with rustup when it is missing.
fn ensure_windows_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let Ok(installed) = installed else {
        return Err(format!(
            "the Windows leg needs the {WINDOWS_TARGET} target and rustup is not on PATH: \
             install rustup, or run `rustup target add {WINDOWS_TARGET}` where it is"
        ));
    };
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == WINDOWS_TARGET)
    {
        return Ok(());
    }
    println!("xtask: adding the Rust target {WINDOWS_TARGET} (rustup target add)");
    let added = Command::new("rustup")
        .args(["target", "add", WINDOWS_TARGET])
        .status()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if added.success() {
        Ok(())
    } else {
        Err(format!(
            "`rustup target add {WINDOWS_TARGET}` failed ({added})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_program_is_named_with_its_packages_once() {
        let all = missing(None);
        assert_eq!(all.len(), NEEDS.len(), "nothing is on no PATH");
        let command = install_command(&all);
        for need in NEEDS {
            for package in need.packages {
                assert_eq!(
                    command.split_whitespace().filter(|w| w == package).count(),
                    1,
                    "{package} once in `{command}`"
                );
            }
        }
    }

    #[test]
    fn a_program_on_path_is_not_missing() {
        let folder = tempfile::tempdir().expect("a folder");
        let wine = folder.path().join("wine");
        std::fs::write(&wine, "#!/bin/sh\n").expect("writes");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&wine, std::fs::Permissions::from_mode(0o755)).expect("mode");
        }
        let path = OsString::from(folder.path());
        let missing = missing(Some(&path));
        assert!(!missing.iter().any(|n| n.program == "wine"));
        assert!(missing.iter().any(|n| n.program == "umockdev-run"));
    }
}
