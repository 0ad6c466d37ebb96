//! The Windows TSP: cross-built for `x86_64-pc-windows-gnu`, laid out like the
//! Linux dist, and tested by the same C programs built with mingw-w64 against its
//! own `tspi.h`, run under wine.

use std::path::{Path, PathBuf};
use std::process::Command;

use tsp_plugin_sdk::manifest::Platform;

use crate::stage::{driver_specs, workspace};

pub(crate) const TARGET: &str = "x86_64-pc-windows-gnu";
const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";
/// The C programs that run under wine (deadlines.c needs a configuration file
/// path the Windows way; it runs on Linux only for now).
const PROGRAMS: [&str; 4] = ["harness", "functions", "presence", "hostile"];

fn target_dir() -> PathBuf {
    crate::stage::target_dir()
}

/// Builds the TSP library and every driver for Windows; returns the build folder.
pub(crate) fn build(release: bool) -> Result<PathBuf, String> {
    let mut cargo = crate::cargo();
    cargo.args(["build", "--quiet", "--target", TARGET, "-p", "tsp-host"]);
    for (_, spec) in driver_specs()? {
        cargo.args(["-p", &spec.crate_name]);
    }
    if release {
        cargo.arg("--release");
    }
    let status = cargo
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "the {TARGET} build failed (rustup target add {TARGET}; cargo xtask test does it)"
        ));
    }
    let profile = if release { "release" } else { "debug" };
    Ok(target_dir().join(TARGET).join(profile))
}

/// Lays out what `build` built into `out`, as the Linux dist: `tsp-rs.tsp`,
/// the sample configuration, `drivers\`.
pub(crate) fn lay_out(build_dir: &Path, out: &Path) -> Result<PathBuf, String> {
    let specs: Vec<_> = driver_specs()?.into_iter().map(|(_, spec)| spec).collect();
    tsp_host::dist::lay_out_on(build_dir, out, &specs, Platform::WINDOWS)
}

/// `cargo xtask dist --windows`.
pub(crate) fn dist() -> Result<(), String> {
    let built = build(true)?;
    let out = target_dir().join("dist-windows");
    let tsp = lay_out(&built, &out)?;
    println!("laid out {}: {}", out.display(), tsp.display());
    Ok(())
}

fn mingw(args: &[&str], out: &Path, sources: &[PathBuf], libs: &[&str]) -> Result<(), String> {
    let status = Command::new(MINGW_GCC)
        .args(args)
        .arg("-o")
        .arg(out)
        .args(sources)
        .args(libs)
        .status()
        .map_err(|e| format!("cannot run {MINGW_GCC}: {e} (apt-get install gcc-mingw-w64-x86-64-posix; cargo xtask test does it)"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{MINGW_GCC} failed for {}", out.display()))
    }
}

/// The configuration of the isolated runs: the mock in tsp-driver-host.exe,
/// killed when a call has run 600 ms (the mock's `hang`), restarted at once.
const ISOLATED_CONFIG: &str = "drivers = [\"mock\"]\nisolate = [\"mock\"]\n\
    [isolation]\nhang_ms = 600\nbackoff_ms = 20\n";

/// Writes `tsp-rs.toml` beside the TSP in `folder` (where it finds it).
fn write_config(folder: &Path, text: &str) -> Result<(), String> {
    let file = folder.join("tsp-rs.toml");
    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))
}

/// Builds and runs the C programs under wine.
struct CPrograms<'a> {
    c: &'a Path,
    prefix: &'a Path,
    stub_dir: &'a Path,
}

impl CPrograms<'_> {
    /// Builds `program`.c into `folder` and runs it there on `tsp` with
    /// `args`; `label` tells this run from others of the program.
    fn run(
        &self,
        folder: &Path,
        tsp: &Path,
        program: &str,
        args: &[&str],
        label: &str,
    ) -> Result<Run, String> {
        let exe = folder.join(format!("{program}.exe"));
        mingw(
            &[
                "-std=gnu11",
                "-O1",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-static",
                "-pthread",
            ],
            &exe,
            &[self.c.join(format!("{program}.c"))],
            &[],
        )?;
        let name = format!("{program}{label}");
        let isolated = folder.join("tsp-rs.toml").is_file();
        let output = Command::new("wine")
            .arg(&exe)
            .arg(tsp.file_name().unwrap_or_default())
            .args(args)
            .current_dir(folder)
            .env("WINEPREFIX", self.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEPATH", windows_path(self.stub_dir))
            .env_remove("TSP_RS_CONFIG")
            .env("TSP_TEST_ISOLATED", if isolated { "1" } else { "0" })
            // A Unix path means nothing to the Windows TSP: its lock files go
            // to the wine prefix's temporary folder (shared by runs that share
            // the target folder, as the prefix itself is).
            .env_remove(tsp_plugin_sdk::LOCK_DIR_VARIABLE)
            .output()
            .map_err(|e| {
                format!(
                    "cannot run wine: {e} (apt-get install wine wine64; cargo xtask test does it)"
                )
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        for line in stdout.lines().filter(|l| l.starts_with("FAIL")) {
            eprintln!("xtask: wine {name}: {line}");
            crate::note_failure(format!("wine {name}: {line}"));
        }
        let (passed, failed) = summary(&stdout).unwrap_or_else(|| {
            // No closing line: it crashed or hung up early; show what it said.
            let stderr = String::from_utf8_lossy(&output.stderr);
            eprintln!(
                "xtask: wine {name} ended without its summary ({}):\n{}\n{}",
                output.status,
                tail(&stdout, 20),
                tail(&stderr, 20)
            );
            (0, 1)
        });
        let failed = if output.status.success() {
            failed
        } else {
            failed.max(1)
        };
        Ok(Run {
            program: name,
            passed,
            failed,
        })
    }
}

/// The result of one program under wine.
pub(crate) struct Run {
    pub(crate) program: String,
    pub(crate) passed: u64,
    pub(crate) failed: u64,
}

/// Builds the Windows TSP (debug), lays it out, builds the C programs with
/// mingw-w64's headers and the wine stub, and runs each under wine.
pub(crate) fn test_under_wine() -> Result<Vec<Run>, String> {
    let built = build(false)?;
    let folder = built.join("wine-test");
    let tsp = lay_out(&built, &folder)?;
    let stub_dir = built.join("wine-stub");
    std::fs::create_dir_all(&stub_dir).map_err(|e| e.to_string())?;
    let c = workspace().join("host/tests/c");
    mingw(
        &["-shared", "-O1"],
        &stub_dir.join("bcryptprimitives.dll"),
        &[c.join("wine/bcryptprimitives.c")],
        &["-ladvapi32", "-Wl,--export-all-symbols"],
    )?;
    let prefix = target_dir().join("wineprefix");
    let c_programs = CPrograms {
        c: &c,
        prefix: &prefix,
        stub_dir: &stub_dir,
    };
    let mut runs = Vec::new();
    for program in PROGRAMS {
        runs.push(c_programs.run(&folder, &tsp, program, &[], "")?);
    }
    // The same programs, and crashes and hangs, with the mock in
    // tsp-driver-host.exe: a folder of its own with a tsp-rs.toml beside the TSP.
    let isolated = built.join("wine-test-isolated");
    let tsp_isolated = lay_out(&built, &isolated)?;
    for program in PROGRAMS {
        write_config(&isolated, ISOLATED_CONFIG)?;
        runs.push(c_programs.run(&isolated, &tsp_isolated, program, &[], " (isolated)")?);
    }
    for (what, concurrent) in [
        ("crash", true),
        ("crash", false),
        ("hang", true),
        ("hang", false),
    ] {
        let config = format!("{ISOLATED_CONFIG}[settings.mock]\nconcurrent = {concurrent}\n");
        write_config(&isolated, &config)?;
        let label = format!(" {what} (concurrent = {concurrent})");
        runs.push(c_programs.run(&isolated, &tsp_isolated, "isolation", &[what], &label)?);
    }
    std::fs::remove_file(isolated.join("tsp-rs.toml")).map_err(|e| e.to_string())?;
    runs.push(conformance_under_wine(&folder, &prefix, &stub_dir)?);
    let _ = Command::new("wineserver")
        .arg("-k")
        .env("WINEPREFIX", &prefix)
        .status();
    Ok(runs)
}

/// The conformance kit, cross-built (`plugin-sdk/examples/conformance.rs`), on
/// the Windows build of the USB HID driver under wine: with the HID class
/// transport on (it lists what wine's HID class has, nothing here, without
/// error) and two simulated handsets made from real report descriptors.
fn conformance_under_wine(folder: &Path, prefix: &Path, stub_dir: &Path) -> Result<Run, String> {
    let mut cargo = crate::cargo();
    cargo.args([
        "build",
        "--quiet",
        "--target",
        TARGET,
        "-p",
        "tsp-plugin-sdk",
        "--example",
        "conformance",
    ]);
    let built = cargo
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !built.success() {
        return Err("the conformance kit's Windows build failed".into());
    }
    let exe = folder.join("conformance.exe");
    let from = target_dir()
        .join(TARGET)
        .join("debug/examples/conformance.exe");
    std::fs::copy(&from, &exe).map_err(|e| format!("{}: {e}", from.display()))?;
    let data = workspace().join("drivers/usbhid/tests/data");
    let mut settings = String::from("usb = true\nscan_ms = 200\n");
    for (fixture, serial) in [
        ("jabra-evolve-link-ms_0b0e-0307.hex", "WINE-JABRA"),
        ("poly-bt700_047f-02e6.hex", "WINE-POLY"),
    ] {
        let path = windows_path(&data.join(fixture));
        settings += &format!("[[simulated]]\ndescriptor = '{path}'\nserial = \"{serial}\"\n");
    }
    let settings_file = folder.join("usbhid-conformance.toml");
    std::fs::write(&settings_file, settings).map_err(|e| e.to_string())?;
    let output = Command::new("wine")
        .arg(&exe)
        .arg("drivers\\usbhid.toml")
        .arg("usbhid-conformance.toml")
        .current_dir(folder)
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEPATH", windows_path(stub_dir))
        .env_remove(tsp_plugin_sdk::LOCK_DIR_VARIABLE)
        .output()
        .map_err(|e| format!("cannot run wine: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The driver's warnings and errors: listing the HID class must not fail.
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| matches!(l.split_whitespace().next(), Some("WARN" | "ERROR")))
        .collect();
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .chain(complaints.iter().copied())
    {
        eprintln!("xtask: wine conformance usbhid: {line}");
        crate::note_failure(format!("wine conformance usbhid: {line}"));
    }
    let (passed, failed) = summary(&stdout).unwrap_or_else(|| {
        eprintln!(
            "xtask: wine conformance ended without its summary ({}):\n{}\n{}",
            output.status,
            tail(&stdout, 20),
            tail(&stderr, 20)
        );
        (0, 1)
    });
    let failed = if output.status.success() && complaints.is_empty() {
        failed
    } else {
        failed.max(1)
    };
    Ok(Run {
        program: "conformance usbhid".into(),
        passed,
        failed,
    })
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `Z:\path\to\folder`: how wine sees a Unix path.
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// A C program's closing line: `N passed, M failed`.
fn summary(stdout: &str) -> Option<(u64, u64)> {
    let last = stdout.lines().rev().find(|l| l.ends_with(" failed"))?;
    let (passed, failed) = last.split_once(" passed, ")?;
    Some((
        passed.trim().parse().ok()?,
        failed.trim_end_matches(" failed").parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_c_programs_closing_line() {
        assert_eq!(
            summary("PASS a\nFAIL b\n45 passed, 1 failed\n"),
            Some((45, 1))
        );
        assert_eq!(summary("crashed\n"), None);
        assert_eq!(windows_path(Path::new("/work/target")), "Z:\\work\\target");
    }
}
