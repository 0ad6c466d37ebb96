//! `cargo xtask fuzz [--time S] [TARGET …]`: every cargo-fuzz target of `fuzz/`
//! for S seconds each (default 600), seeded from the project's fixtures, with a
//! table at the end: runs, coverage, and the crashes found (in
//! `fuzz/artifacts/TARGET/`). Needs nightly and cargo-fuzz; not part of CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Where a target's seeds come from.
#[derive(Debug, Clone, Copy)]
enum Seeds {
    /// No seeds but `fuzz/seeds/TARGET`, if it exists.
    None,
    /// A fixture folder, read as it is.
    Folder(&'static str),
    /// The HID descriptor fixtures (hex text) as bytes.
    Descriptors,
    /// The same, each after its length (two bytes, little-endian), as the
    /// handset target takes them.
    DescriptorsWithLength,
}

/// Each target and its seeds (beside `fuzz/seeds/TARGET`).
const TARGETS: &[(&str, Seeds)] = &[
    (
        "at_engine",
        Seeds::Folder("drivers/serial/tests/transcripts"),
    ),
    (
        "at_parse",
        Seeds::Folder("drivers/serial/tests/transcripts"),
    ),
    ("config", Seeds::Folder("host")),
    ("var_structs", Seeds::None),
    ("tspi_calls", Seeds::None),
    ("hid_descriptor", Seeds::Descriptors),
    ("hid_input", Seeds::DescriptorsWithLength),
    ("p1k_packet", Seeds::None),
];

const DESCRIPTORS: &str = "drivers/usbhid/tests/data";

/// The target cargo fuzz builds for.
const TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// What one target's run gave.
#[derive(Debug, Default)]
struct Run {
    target: String,
    seconds: u64,
    runs: String,
    coverage: String,
    crashes: usize,
    ok: bool,
}

pub(crate) fn command(root: &Path, args: &[String]) -> Result<bool, String> {
    let (seconds, chosen) = arguments(args)?;
    check_tools()?;
    let targets: Vec<&(&str, Seeds)> = TARGETS
        .iter()
        .filter(|(name, _)| chosen.is_empty() || chosen.iter().any(|c| c == name))
        .collect();
    if targets.is_empty() {
        return Err(format!(
            "no such target; the targets: {}",
            TARGETS.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
        ));
    }
    let fuzz = root.join("fuzz");
    println!("building the fuzz targets (nightly, release, with sanitizer coverage)");
    let built = Command::new("cargo")
        .args(["+nightly", "fuzz", "build", "-O"])
        .current_dir(&fuzz)
        .status()
        .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
    if !built.success() {
        return Err("cargo fuzz build failed (see above)".into());
    }
    let mut runs = Vec::new();
    for (i, (name, seeds)) in targets.iter().enumerate() {
        let seeds = *seeds;
        println!(
            "[{}/{}] fuzzing {name} for {seconds} s",
            i + 1,
            targets.len()
        );
        runs.push(run(root, name, seeds, seconds));
    }
    print_table(&runs);
    Ok(runs.iter().all(|r| r.ok && r.crashes == 0))
}

fn arguments(args: &[String]) -> Result<(u64, Vec<String>), String> {
    let mut seconds = 600;
    let mut chosen = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--time" {
            let value = args.next().ok_or("--time needs a number of seconds")?;
            seconds = value
                .parse()
                .map_err(|_| format!("--time takes seconds, not `{value}`"))?;
        } else {
            chosen.push(arg.clone());
        }
    }
    Ok((seconds, chosen))
}

fn check_tools() -> Result<(), String> {
    let fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match fuzz {
        Ok(status) if status.success() => Ok(()),
        _ => Err("cargo fuzz needs a nightly toolchain and cargo-fuzz: run \
             `rustup toolchain install nightly` and `cargo install cargo-fuzz`"
            .into()),
    }
}

fn run(root: &Path, name: &str, seeds: Seeds, seconds: u64) -> Run {
    let fuzz = root.join("fuzz");
    let corpus = fuzz.join("corpus").join(name);
    let _ = std::fs::create_dir_all(&corpus);
    let mut dirs: Vec<PathBuf> = vec![corpus.clone()];
    let own = fuzz.join("seeds").join(name);
    if own.is_dir() {
        dirs.push(own);
    }
    match seeds {
        Seeds::None => {}
        Seeds::Folder(folder) => dirs.push(root.join(folder)),
        Seeds::Descriptors => write_descriptor_seeds(root, &corpus, false),
        Seeds::DescriptorsWithLength => write_descriptor_seeds(root, &corpus, true),
    }
    let started = Instant::now();
    // The binary cargo fuzz built above, run directly: `cargo fuzz run` would
    // build again, once per target.
    let binary = fuzz.join("target").join(TRIPLE).join("release").join(name);
    let output = Command::new(binary)
        .args(&dirs)
        .args([
            &format!("-max_total_time={seconds}"),
            &format!("-artifact_prefix={}/", artifacts(&fuzz, name).display()),
            "-rss_limit_mb=4096",
            "-print_final_stats=1",
        ])
        .current_dir(&fuzz)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let mut result = Run {
        target: name.to_owned(),
        seconds: started.elapsed().as_secs(),
        ..Run::default()
    };
    let Ok(output) = output else {
        return result;
    };
    let log = String::from_utf8_lossy(&output.stderr);
    result.ok = output.status.success();
    result.runs = stat(&log, "stat::number_of_executed_units:");
    result.coverage = log
        .lines()
        .rev()
        .find_map(|l| l.split("cov: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_owned();
    result.crashes = std::fs::read_dir(artifacts(&fuzz, name))
        .map(|entries| entries.count())
        .unwrap_or(0);
    if !result.ok {
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        for line in tail.into_iter().rev() {
            println!("  {line}");
        }
    }
    result
}

/// Where libFuzzer leaves the inputs that crashed a target.
fn artifacts(fuzz: &Path, name: &str) -> PathBuf {
    let folder = fuzz.join("artifacts").join(name);
    let _ = std::fs::create_dir_all(&folder);
    folder
}

fn stat(log: &str, name: &str) -> String {
    log.lines()
        .find_map(|l| l.strip_prefix(name))
        .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned())
}

fn print_table(runs: &[Run]) {
    println!("\n| target | seconds | runs | coverage | crashes | result |");
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    for r in runs {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.target,
            r.seconds,
            r.runs,
            r.coverage,
            r.crashes,
            if r.ok && r.crashes == 0 {
                "clean"
            } else {
                "FOUND (see fuzz/artifacts)"
            }
        );
    }
}

/// The hex descriptor fixtures as binary seeds in the (unversioned) corpus.
fn write_descriptor_seeds(root: &Path, corpus: &Path, with_length: bool) {
    let Ok(entries) = std::fs::read_dir(root.join(DESCRIPTORS)) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_none_or(|e| e != "hex") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let bytes: Vec<u8> = text
            .split_whitespace()
            .filter_map(|h| u8::from_str_radix(h, 16).ok())
            .collect();
        let mut seed = Vec::new();
        if with_length {
            let Ok(len) = u16::try_from(bytes.len()) else {
                continue;
            };
            seed.extend(len.to_le_bytes());
        }
        seed.extend(bytes);
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let _ = std::fs::write(
            corpus.join(format!("seed-{}", name.unwrap_or_default())),
            seed,
        );
    }
}
