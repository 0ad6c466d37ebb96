//! The conformance kit: loads a built plugin through the real loader and checks what
//! every driver must do. Run it on a plugin before shipping it:
//! `cargo xtask conformance target/debug/drivers/NAME.toml [--config FILE]`.
//!
//! Every check is run (a failed one does not stop the others) and reports pass or
//! fail with the reason. The kit never waits forever: a driver that does not answer
//! fails the check that waited.
//!
//! The checks are [`Check`], in the order they run ([`CHECKS`]); `checks.rs`
//! holds what they ask of the driver and its devices, `kit.rs` the host the
//! kit plays.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::host::{LoadError, Plugin};

mod checks;
mod kit;

use checks::{Context, stable_devices};
use kit::{Kit, no_new_threads, thread_count};

/// How long the kit waits for a completion, unless told otherwise.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(5);

/// One check of the kit. Its [`name`](Check::name) is what the report prints;
/// its [`description`](Check::description) says what it asks of the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// The plugin loads through the real loader.
    Loads,
    /// The library is the driver its manifest names.
    ManifestMatches,
    /// The driver starts with the given settings.
    Starts,
    /// `devices()` answers the same twice, without duplicates.
    EnumerationStable,
    /// Each device's caps agree with themselves and with `caps()`.
    CapsConsistent,
    /// The data areas the caps advertise work.
    CapsHonoured,
    /// Each device opens and closes again and again.
    OpenCloseCycles,
    /// An open device is not opened a second time.
    ExclusiveReservation,
    /// Many requests at once, each completed once.
    ExactlyOnce,
    /// Cancel completes what is outstanding.
    CancelCompletes,
    /// What the caps do not advertise answers `OPERATIONUNAVAIL`.
    Unadvertised,
    /// The driver never panicked.
    NoPanic,
    /// Shutdown leaves no thread of the driver's running.
    NoThreadLeft,
}

/// Every check, in the order the kit runs them.
pub const CHECKS: [Check; 13] = [
    Check::Loads,
    Check::ManifestMatches,
    Check::Starts,
    Check::EnumerationStable,
    Check::CapsConsistent,
    Check::CapsHonoured,
    Check::OpenCloseCycles,
    Check::ExclusiveReservation,
    Check::ExactlyOnce,
    Check::CancelCompletes,
    Check::Unadvertised,
    Check::NoPanic,
    Check::NoThreadLeft,
];

impl Check {
    /// The check's name, as the report prints it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Loads => "loads",
            Self::ManifestMatches => "manifest matches the library",
            Self::Starts => "starts",
            Self::EnumerationStable => "enumeration is stable",
            Self::CapsConsistent => "caps are self-consistent",
            Self::CapsHonoured => "caps are honoured",
            Self::OpenCloseCycles => "open/close cycles",
            Self::ExclusiveReservation => "exclusive reservation",
            Self::ExactlyOnce => "requests complete exactly once under concurrency",
            Self::CancelCompletes => "cancel completes what is outstanding",
            Self::Unadvertised => "operations not advertised answer OPERATIONUNAVAIL",
            Self::NoPanic => "no panic reaches the boundary",
            Self::NoThreadLeft => "shutdown leaves no thread running",
        }
    }

    /// What the check asks of the driver.
    pub const fn description(self) -> &'static str {
        match self {
            Self::Loads => {
                "the loader accepts the plugin: its manifest reads, no other user could have \
                 written its files, and its SDK version and interface fit this host"
            }
            Self::ManifestMatches => {
                "the library reports the name, version and SDK version its manifest says"
            }
            Self::Starts => "the driver starts with the settings given",
            Self::EnumerationStable => {
                "two calls to devices() give the same devices, no two sharing a key or a \
                 permanent id"
            }
            Self::CapsConsistent => {
                "each device's caps() is what devices() said, names the phone, has a \
                 STRINGFORMAT_ and backs every feature it advertises; an unknown key is \
                 BADDEVICEID"
            }
            Self::CapsHonoured => {
                "SetData fills and GetData reads back each advertised data area; the area \
                 past the last is INVALDATAID"
            }
            Self::OpenCloseCycles => "each device opens and closes three times in a row",
            Self::ExclusiveReservation => {
                "a second open of an open device is ALLOCATED, and the device opens again \
                 once closed"
            }
            Self::ExactlyOnce => {
                "400 SetData requests (from 4 threads when sessions are concurrent) \
                 complete, each exactly once"
            }
            Self::CancelCompletes => {
                "cancel completes every outstanding request, each exactly once"
            }
            Self::Unadvertised => {
                "every operation the caps do not advertise answers OPERATIONUNAVAIL"
            }
            Self::NoPanic => {
                "the driver did not panic in any call of the run (the SDK catches a panic \
                 at the boundary and reports it)"
            }
            Self::NoThreadLeft => {
                "after shutdown the process runs no more threads than before the driver \
                 started (where the platform tells: Linux)"
            }
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check.
    pub check: Check,
    /// The check's name (its [`Check::name`]).
    pub name: &'static str,
    /// `None` when it passed, else why it failed.
    pub failure: Option<String>,
}

impl CheckResult {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Everything one run found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The driver's name (or the manifest's file name if it did not load).
    pub driver: String,
    /// Each check, in the order run.
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// How many checks passed.
    pub fn passed(&self) -> usize {
        self.checks.iter().filter(|c| c.passed()).count()
    }

    /// How many checks failed.
    pub fn failed(&self) -> usize {
        self.checks.len() - self.passed()
    }

    /// The result of the check named `name`.
    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
    }

    fn record(&mut self, check: Check, result: Result<(), String>) {
        self.checks.push(CheckResult {
            check,
            name: check.name(),
            failure: result.err(),
        });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            match &check.failure {
                None => writeln!(f, "PASS {}", check.name)?,
                Some(why) => writeln!(f, "FAIL {}: {why}", check.name)?,
            }
        }
        write!(
            f,
            "{}: {} passed, {} failed",
            self.driver,
            self.passed(),
            self.failed()
        )
    }
}

/// How to run the kit.
#[derive(Debug, Clone)]
pub struct Options {
    /// The driver's settings (its TOML table).
    pub settings: String,
    /// How long to wait for a completion before failing the check.
    pub patience: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            settings: String::new(),
            patience: DEFAULT_PATIENCE,
        }
    }
}

/// Runs every check on the plugin whose manifest is at `manifest`, started with
/// `settings` (the driver's TOML table).
pub fn run(manifest: &Path, settings: &str) -> Report {
    run_with(
        manifest,
        &Options {
            settings: settings.to_owned(),
            ..Options::default()
        },
    )
}

/// [`run`] with options.
pub fn run_with(manifest: &Path, options: &Options) -> Report {
    let settings = options.settings.as_str();
    let mut report = Report {
        driver: manifest
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
        checks: Vec::new(),
    };
    let plugin = match Plugin::load(manifest) {
        Ok(plugin) => plugin,
        Err(error) => {
            let check = if matches!(error, LoadError::Mismatch { .. }) {
                Check::ManifestMatches
            } else {
                Check::Loads
            };
            report.record(check, Err(error.chain()));
            return report;
        }
    };
    report.driver = plugin.name().to_owned();
    report.record(Check::Loads, Ok(()));
    report.record(Check::ManifestMatches, Ok(()));

    let threads_before = thread_count();
    let host = Kit::new(options.patience);
    let driver = match plugin.start(settings, host.clone()) {
        Ok(driver) => {
            report.record(Check::Starts, Ok(()));
            driver
        }
        Err(error) => {
            report.record(Check::Starts, Err(error.to_string()));
            return report;
        }
    };
    let devices = match stable_devices(&driver) {
        Ok(devices) => {
            report.record(Check::EnumerationStable, Ok(()));
            devices
        }
        Err(why) => {
            report.record(Check::EnumerationStable, Err(why));
            driver.devices().unwrap_or_default()
        }
    };
    let ctx = Context {
        driver: &driver,
        host: &host,
        devices: &devices,
    };
    report.record(Check::CapsConsistent, ctx.caps_consistent());
    report.record(Check::CapsHonoured, ctx.each_device(Context::caps_honoured));
    report.record(
        Check::OpenCloseCycles,
        ctx.each_device(Context::open_close_cycles),
    );
    report.record(
        Check::ExclusiveReservation,
        ctx.each_device(Context::exclusive),
    );
    report.record(Check::ExactlyOnce, ctx.each_device(Context::exactly_once));
    report.record(
        Check::CancelCompletes,
        ctx.each_device(Context::cancel_completes),
    );
    report.record(Check::Unadvertised, ctx.each_device(Context::unadvertised));
    report.record(Check::NoPanic, host.panics());
    driver.shutdown();
    drop(driver);
    report.record(Check::NoThreadLeft, no_new_threads(threads_before));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_has_its_own_name_and_a_description() {
        let names: std::collections::HashSet<_> = CHECKS.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), CHECKS.len());
        assert!(CHECKS.iter().all(|c| !c.description().is_empty()));
        assert_eq!(Check::Starts.to_string(), "starts");
    }
}
