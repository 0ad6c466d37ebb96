//! `tsp-rs.toml`: which drivers load, their settings, and where logs go.
//!
//! ```toml
//! drivers = ["mock", "serial"]   # only these load, in this order (device order)
//!
//! [settings.mock]                # each driver's own table, passed to it as is
//! completion = "inline"
//!
//! [log]
//! level = "info"                 # error, warn, info, debug, trace
//! file = "/var/log/tsp-rs.log"   # or stderr = true
//! ```
//!
//! The file is `tsp-rs.toml` beside the TSP library, or the file the environment
//! variable `TSP_RS_CONFIG` names. No file at all is demo mode: the mock driver
//! alone, with its default phones.
//!
//! However it was found, the file is refused if another user could have written
//! it (the plugin files' check, [`tsp_plugin_sdk::trust`]): it says which code
//! loads. A driver's name is a plain name (no folders, no `..`): the driver is
//! `drivers/NAME.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tsp_plugin_sdk::manifest::plain_name_problem;
use tsp_plugin_sdk::trust::{Kind, Problem, check_trusted};

/// The environment variable that names the configuration file.
pub const CONFIG_ENV: &str = "TSP_RS_CONFIG";
/// The configuration file's name beside the library.
pub const CONFIG_FILE: &str = "tsp-rs.toml";

/// Where log lines go.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The most verbose level written (`info` by default).
    pub level: Option<String>,
    /// A file to append to.
    pub file: Option<PathBuf>,
    /// Write to standard error (for tools).
    #[serde(default)]
    pub stderr: bool,
}

/// The parsed configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The drivers to load, in device order.
    pub drivers: Vec<String>,
    /// Each driver's settings.
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Table>,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// How long driver calls may take.
    #[serde(default)]
    pub deadlines: Deadlines,
}

/// How long driver calls may take, for every driver or one.
///
/// ```toml
/// [deadlines]
/// request_ms = 30000   # an asynchronous request (SetData …) until its completion
/// call_ms = 5000       # a synchronous call (GetData, GetStatus …)
/// misses = 3           # consecutive misses before the device counts as disconnected
/// [deadlines.drivers.serial]
/// call_ms = 2000
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Deadlines {
    /// Milliseconds an asynchronous request may stay outstanding.
    pub request_ms: u64,
    /// Milliseconds a synchronous driver call may take.
    pub call_ms: u64,
    /// Consecutive misses after which the device is marked disconnected.
    pub misses: u32,
    /// Overrides per driver name.
    pub drivers: BTreeMap<String, DeadlineOverride>,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            request_ms: 30_000,
            call_ms: 5_000,
            misses: 3,
            drivers: BTreeMap::new(),
        }
    }
}

/// One driver's deadlines; what is not given comes from `[deadlines]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeadlineOverride {
    /// See [`Deadlines::request_ms`].
    pub request_ms: Option<u64>,
    /// See [`Deadlines::call_ms`].
    pub call_ms: Option<u64>,
    /// See [`Deadlines::misses`].
    pub misses: Option<u32>,
}

/// The deadlines that apply to one driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// An asynchronous request until its completion.
    pub request: std::time::Duration,
    /// A synchronous call.
    pub call: std::time::Duration,
    /// Consecutive misses before the device counts as disconnected.
    pub misses: u32,
}

impl Deadlines {
    /// The limits for driver `name`.
    pub fn limits(&self, name: &str) -> Limits {
        let own = self.drivers.get(name).cloned().unwrap_or_default();
        Limits {
            request: std::time::Duration::from_millis(own.request_ms.unwrap_or(self.request_ms)),
            call: std::time::Duration::from_millis(own.call_ms.unwrap_or(self.call_ms)),
            misses: own.misses.unwrap_or(self.misses).max(1),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{}: {problem}", file.display())]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// What is wrong, with line and column where known.
    pub problem: String,
}

impl Config {
    /// Demo mode: the mock driver alone, with its default phones.
    pub fn demo() -> Self {
        Self {
            drivers: vec!["mock".to_owned()],
            ..Self::default()
        }
    }

    /// Parses configuration text read from `file`.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError {
            file: file.to_owned(),
            problem: e.to_string().trim().replace('\n', " "),
        })?;
        config.check_names(file)?;
        Ok(config)
    }

    /// Every driver named in `drivers` is a plain name, every settings table
    /// is for one of them, and the log level is one there is.
    fn check_names(&self, file: &Path) -> Result<(), ConfigError> {
        if let Some(level) = &self.log.level {
            let known = ["off", "error", "warn", "info", "debug", "trace"];
            if !known.contains(&level.to_ascii_lowercase().as_str()) {
                return Err(ConfigError {
                    file: file.to_owned(),
                    problem: format!(
                        "[log] level = {level:?} is not a level: use off, error, warn, info, debug or trace"
                    ),
                });
            }
        }
        for name in &self.drivers {
            if let Some(why) = plain_name_problem(name) {
                return Err(ConfigError {
                    file: file.to_owned(),
                    problem: format!(
                        "driver {name:?} in `drivers` is not a plain name ({why}): a driver is named by its manifest, drivers/NAME.toml, with no folders in the name"
                    ),
                });
            }
        }
        for name in self.settings.keys() {
            if !self.drivers.contains(name) {
                return Err(ConfigError {
                    file: file.to_owned(),
                    problem: format!("[settings.{name}] is for a driver not listed in `drivers`"),
                });
            }
        }
        Ok(())
    }

    /// The settings of driver `name` as TOML text (empty when there are none).
    pub fn settings_of(&self, name: &str) -> String {
        self.settings
            .get(name)
            .map(|t| t.to_string())
            .unwrap_or_default()
    }
}

/// Where the configuration comes from, decided once at start-up.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSource {
    /// A file (from `TSP_RS_CONFIG`, or beside the library).
    File(PathBuf),
    /// No file: demo mode.
    Demo,
    /// Given directly (tools, tests).
    Given(Config),
}

impl ConfigSource {
    /// The file to name in an error: the configuration file, or what stands for
    /// it when there is none.
    pub fn file(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::Demo => PathBuf::from("(no configuration: the demo)"),
            Self::Given(_) => PathBuf::from("(the configuration given)"),
        }
    }

    /// `TSP_RS_CONFIG` if set, else `tsp-rs.toml` in `folder` if it exists, else demo.
    pub fn locate(folder: Option<&Path>) -> Self {
        if let Some(path) = std::env::var_os(CONFIG_ENV) {
            return Self::File(PathBuf::from(path));
        }
        match folder.map(|f| f.join(CONFIG_FILE)) {
            Some(path) if path.exists() => Self::File(path),
            _ => Self::Demo,
        }
    }

    /// Reads the configuration. Demo mode is logged; a broken file, a file
    /// another user could have written, or a driver name that is not a plain
    /// name is an error.
    pub fn load(&self) -> Result<Config, ConfigError> {
        match self {
            Self::Given(config) => {
                config.check_names(Path::new("(the configuration the application gave)"))?;
                Ok(config.clone())
            }
            Self::Demo => {
                tracing::info!(
                    "no {CONFIG_FILE} and no {CONFIG_ENV}: demo mode, the mock driver's default phones"
                );
                Ok(Config::demo())
            }
            Self::File(path) => {
                check_trusted(path, Kind::Configuration).map_err(|e| ConfigError {
                    file: path.clone(),
                    problem: match &e.problem {
                        Problem::Unreadable { message } => format!("cannot read it: {message}"),
                        _ => format!(
                            "refused, another user could have written it: {}",
                            e.reason()
                        ),
                    },
                })?;
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    file: path.clone(),
                    problem: format!("cannot read it: {e}"),
                })?;
                Config::parse(&text, path)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let text = "drivers = [\"mock\"]\n[settings.mock]\ncompletion = \"worker\"\n[log]\nlevel = \"debug\"\nstderr = true\n";
        let config = Config::parse(text, Path::new("tsp-rs.toml")).expect("parses");
        assert_eq!(config.drivers, ["mock"]);
        assert_eq!(config.settings_of("mock").trim(), "completion = \"worker\"");
        assert_eq!(config.settings_of("serial"), "");
        assert!(config.log.stderr);
    }

    #[test]
    fn the_shipped_example_parses() {
        let config = Config::parse(
            crate::dist::CONFIG_EXAMPLE,
            Path::new("tsp-rs.toml.example"),
        )
        .expect("parses");
        assert_eq!(config.drivers, ["mock"]);
        assert_eq!(
            config.deadlines,
            Deadlines::default(),
            "the example shows the defaults"
        );
        assert_eq!(
            config.deadlines.limits("mock").call,
            std::time::Duration::from_secs(5)
        );
    }

    #[test]
    fn deadlines_have_per_driver_overrides() {
        let text = "drivers = [\"mock\"]\n[deadlines]\ncall_ms = 100\n[deadlines.drivers.mock]\nmisses = 7\n";
        let config = Config::parse(text, Path::new("x.toml")).expect("parses");
        let limits = config.deadlines.limits("mock");
        assert_eq!((limits.call.as_millis(), limits.misses), (100, 7));
        assert_eq!(config.deadlines.limits("other").misses, 3);
    }

    #[test]
    fn errors_name_the_file_and_the_line() {
        let error = Config::parse("drivers = [\"mock\"\n", Path::new("/etc/tsp-rs.toml"))
            .expect_err("broken");
        let text = error.to_string();
        assert!(text.starts_with("/etc/tsp-rs.toml: "), "{text}");
        assert!(text.contains("line"), "{text}");
        let error = Config::parse("drivers = []\n[settings.mock]\n", Path::new("x.toml"))
            .expect_err("unlisted");
        assert!(error.problem.contains("settings.mock"), "{}", error.problem);
    }
}
