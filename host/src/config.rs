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
use std::sync::Arc;

use serde::Deserialize;
use tsp_plugin_sdk::manifest::plain_name_problem;
use tsp_plugin_sdk::settings::line_column;
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
    /// The drivers that run in a `tsp-driver-host` process of their own.
    #[serde(default)]
    pub isolate: Vec<String>,
    /// How isolated drivers are restarted.
    #[serde(default)]
    pub isolation: IsolationConfig,
    /// The text it was parsed from (`None` for a configuration built in
    /// code), so that a driver's settings reach it line for line as the user
    /// wrote them.
    #[serde(skip)]
    pub source: Option<Arc<str>>,
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

/// How the drivers in `isolate` run and are restarted.
///
/// ```toml
/// drivers = ["usbhid"]
/// isolate = ["usbhid"]
/// [isolation]
/// restarts = 5          # restarts within window_ms; one more death and the driver failed
/// window_ms = 60000
/// backoff_ms = 100      # before the first restart, doubled for each further one
/// hang_ms = 30000       # one driver call running this long: the driver hangs
/// # uid = 65534         # Unix, with gid: the user and group it runs as
/// # gid = 65534         # (the host must be root to switch)
/// # program = "/opt/tsp-rs/tsp-driver-host"   # default: beside the TSP library
/// ```
///
/// A process that leaves a ping unanswered for the driver's `call_ms` has
/// stopped, and one whose driver call has run for `hang_ms` hangs: either is
/// killed and restarted. A call past `call_ms` but within `hang_ms` is only
/// slow (the deadlines handle it as in process). It has the driver's
/// `request_ms` to start.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct IsolationConfig {
    /// The most restarts within `window_ms`.
    pub restarts: u32,
    /// The window restarts are counted in, in milliseconds.
    pub window_ms: u64,
    /// The first restart's delay, in milliseconds.
    pub backoff_ms: u64,
    /// How long one driver call may run before the driver counts as hung, in
    /// milliseconds.
    pub hang_ms: u64,
    /// The driver host program; by default `tsp-driver-host` beside the TSP
    /// library (the folder holding `drivers/`).
    pub program: Option<PathBuf>,
    /// Unix: the user id the driver host runs as (with `gid`; the host must
    /// run as root to switch). Ignored on Windows.
    pub uid: Option<u32>,
    /// Unix: the group id the driver host runs as (with `uid`).
    pub gid: Option<u32>,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        Self {
            restarts: 5,
            window_ms: 60_000,
            backoff_ms: 100,
            hang_ms: 30_000,
            program: None,
            uid: None,
            gid: None,
        }
    }
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
#[error("{}: {}{problem}", file.display(), at(*line_column))]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The line and column (from 1) of the problem, where known.
    pub line_column: Option<(usize, usize)>,
    /// What is wrong and what is expected.
    pub problem: String,
}

fn at(line_column: Option<(usize, usize)>) -> String {
    line_column.map_or_else(String::new, |(line, column)| {
        format!("line {line}, column {column}: ")
    })
}

impl ConfigError {
    /// A problem with no place in the file (it could not be read, say).
    pub fn new(file: &Path, problem: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line_column: None,
            problem: problem.into(),
        }
    }
}

/// A driver's settings as the host passes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsText {
    /// The TOML text of the table.
    pub text: String,
    /// Its lines are the configuration file's: a line in a driver's error is
    /// the user's. False when the table could not be cut out of the file that
    /// way (an inline table, dotted keys) and was written anew.
    pub lines_are_the_files: bool,
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
        let mut config: Self = toml::from_str(text).map_err(|e| ConfigError {
            file: file.to_owned(),
            line_column: e.span().map(|span| line_column(text, span.start)),
            problem: e.message().trim().to_owned(),
        })?;
        config.source = Some(Arc::from(text));
        config.check_names(file)?;
        Ok(config)
    }

    /// An error about what `path` (keys from the top) holds, placed at it.
    fn error_at(&self, file: &Path, path: &[&str], problem: String) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            line_column: self.source.as_deref().and_then(|text| place_of(text, path)),
            problem,
        }
    }

    /// Every driver named in `drivers` is a plain name, every settings table
    /// is for one of them, and the log level is one there is.
    fn check_names(&self, file: &Path) -> Result<(), ConfigError> {
        if let Some(level) = &self.log.level {
            let known = ["off", "error", "warn", "info", "debug", "trace"];
            if !known.contains(&level.to_ascii_lowercase().as_str()) {
                return Err(self.error_at(
                    file,
                    &["log", "level"],
                    format!(
                        "[log] level = {level:?} is not a level: use off, error, warn, info, debug or trace"
                    ),
                ));
            }
        }
        for name in &self.drivers {
            if let Some(why) = plain_name_problem(name) {
                return Err(self.error_at(
                    file,
                    &["drivers"],
                    format!(
                        "driver {name:?} in `drivers` is not a plain name ({why}): a driver is named by its manifest, drivers/NAME.toml, with no folders in the name"
                    ),
                ));
            }
        }
        if self.isolation.uid.is_some() != self.isolation.gid.is_some() {
            return Err(self.error_at(
                file,
                &["isolation"],
                "[isolation] uid and gid go together: give both, or neither".into(),
            ));
        }
        if self.isolation.hang_ms == 0 || self.isolation.window_ms == 0 {
            return Err(self.error_at(
                file,
                &["isolation"],
                "[isolation] hang_ms and window_ms must be at least 1 (milliseconds)".into(),
            ));
        }
        for name in &self.isolate {
            if !self.drivers.contains(name) {
                return Err(self.error_at(
                    file,
                    &["isolate"],
                    format!("driver {name:?} in `isolate` is not listed in `drivers`"),
                ));
            }
        }
        for name in self.settings.keys() {
            if !self.drivers.contains(name) {
                return Err(self.error_at(
                    file,
                    &["settings", name],
                    format!("[settings.{name}] is for a driver not listed in `drivers`"),
                ));
            }
        }
        Ok(())
    }

    /// The settings of driver `name` as TOML text (empty when there are none).
    pub fn settings_of(&self, name: &str) -> String {
        self.settings_text(name).text
    }

    /// The settings of driver `name`, cut out of the file line for line where
    /// that gives the same table, so a driver's error names the user's line.
    pub fn settings_text(&self, name: &str) -> SettingsText {
        let Some(table) = self.settings.get(name) else {
            return SettingsText {
                text: String::new(),
                lines_are_the_files: true,
            };
        };
        let in_place = self
            .source
            .as_deref()
            .and_then(|source| table_in_place(source, &["settings", name]))
            .filter(|text| text.parse::<toml::Table>().ok().as_ref() == Some(table));
        match in_place {
            Some(text) => SettingsText {
                text,
                lines_are_the_files: true,
            },
            None => SettingsText {
                text: table.to_string(),
                lines_are_the_files: false,
            },
        }
    }
}

/// The line and column in `text` of the key at `path`.
fn place_of(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let (last, parents) = path.split_last()?;
    let mut table = document.get_ref();
    for key in parents {
        match table.get(*key)?.get_ref() {
            toml::de::DeValue::Table(inner) => table = inner,
            _ => return None,
        }
    }
    let (key, _) = table.get_key_value(*last)?;
    Some(line_column(text, key.span().start))
}

/// The keys of a table header line (`[a."b c"]`, `[[a.b]]`), and whether it
/// is an array of tables; `None` for any other line.
fn header_of(line: &str) -> Option<(Vec<String>, bool)> {
    let line = line.trim();
    let (inner, array) = match line.strip_prefix("[[") {
        Some(rest) => (rest.split_once("]]")?, true),
        None => (line.strip_prefix('[')?.split_once(']')?, false),
    };
    let (keys, after) = inner;
    let after = after.trim();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    // The key syntax (quotes, spaces around dots) is TOML's: let it read them.
    let probe = format!("{keys} = 0");
    let parsed: toml::Table = probe.parse().ok()?;
    let mut path = Vec::new();
    let mut value = toml::Value::Table(parsed);
    while let toml::Value::Table(table) = value {
        let mut entries = table.into_iter();
        let (key, inner) = entries.next()?;
        path.push(key);
        value = inner;
    }
    Some((path, array))
}

/// The lines of table `path` and its sub-tables, each where it is in `source`
/// (other lines left empty, sub-table headers made relative): a parse error
/// in it has the file's line numbers. `None` when `path` is itself an array
/// of tables. The caller checks the result is the same table.
fn table_in_place(source: &str, path: &[&str]) -> Option<String> {
    // A multi-line string may hold lines that look like headers: reading line
    // by line could then cut a table that parses the same from the wrong
    // lines. Such a file's table is written anew instead.
    if source.contains("\"\"\"") || source.contains("'''") {
        return None;
    }
    let mut out = String::with_capacity(source.len());
    let mut inside = false;
    for line in source.lines() {
        match header_of(line) {
            Some((keys, array)) => {
                let ours = keys.len() >= path.len() && keys.iter().zip(path).all(|(a, b)| a == b);
                inside = ours;
                if ours && keys.len() == path.len() {
                    if array {
                        return None;
                    }
                } else if ours {
                    let relative: Vec<String> = keys[path.len()..]
                        .iter()
                        .map(|key| toml::Value::from(key.as_str()).to_string())
                        .collect();
                    let (open, close) = if array { ("[[", "]]") } else { ("[", "]") };
                    out.push_str(&format!("{open}{}{close}", relative.join(".")));
                }
            }
            None if inside => out.push_str(line),
            None => {}
        }
        out.push('\n');
    }
    Some(out)
}

/// Where the configuration comes from, decided once at start-up.
#[derive(Debug, Clone, PartialEq)]
// Made once per start and moved, never copied in a loop: boxing the given
// configuration would only change the public constructor.
#[allow(clippy::large_enum_variant)]
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
                check_trusted(path, Kind::Configuration).map_err(|e| {
                    let problem = match &e.problem {
                        Problem::Unreadable { message } => format!("cannot read it: {message}"),
                        _ => format!(
                            "refused, another user could have written it: {}",
                            e.reason()
                        ),
                    };
                    ConfigError::new(path, problem)
                })?;
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::new(path, format!("cannot read it: {e}")))?;
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
    fn isolation_names_listed_drivers_and_sane_limits() {
        let file = Path::new("tsp-rs.toml");
        let isolated =
            Config::parse("drivers = [\"mock\"]\nisolate = [\"mock\"]\n", file).expect("parses");
        assert_eq!(isolated.isolate, ["mock"]);
        assert_eq!(isolated.isolation, IsolationConfig::default());
        let unlisted = Config::parse("drivers = [\"mock\"]\nisolate = [\"serial\"]\n", file)
            .expect_err("serial is not a driver here");
        assert!(
            unlisted.problem.contains("not listed in `drivers`"),
            "{unlisted}"
        );
        assert_eq!(unlisted.line_column, Some((2, 1)));
        let zero = Config::parse("drivers = [\"mock\"]\n[isolation]\nhang_ms = 0\n", file)
            .expect_err("a hang limit of 0");
        assert!(zero.problem.contains("hang_ms"), "{zero}");
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

    #[test]
    fn errors_say_the_line_and_column_and_what_is_expected() {
        let file = Path::new("tsp-rs.toml");
        let error = Config::parse("drivers = [\"mock\"]\nlog = 3\n", file).expect_err("a number");
        assert_eq!(error.line_column, Some((2, 7)), "{error}");
        assert!(error.problem.contains("expected"), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("tsp-rs.toml: line 2, column 7: "),
            "{error}"
        );
        let text = "drivers = [\"mock\"]\n\n[log]\n  level = \"wrn\"\n";
        let error = Config::parse(text, file).expect_err("no such level");
        assert_eq!(error.line_column, Some((4, 3)), "{error}");
        let text = "drivers = [\"mock\"]\n[settings.serial]\n";
        let error = Config::parse(text, file).expect_err("unlisted");
        assert_eq!(error.line_column, Some((2, 11)), "{error}");
        let error = Config::parse("drivers = [\"../x\"]\n", file).expect_err("not plain");
        assert_eq!(error.line_column, Some((1, 1)), "{error}");
    }

    const SPREAD: &str = "\
drivers = [\"mock\", \"serial\"]
[settings.mock]
completion = \"worker\"   # a comment
[ settings . \"mock\" . faults ]
set_data = \"never\"
[log]
level = \"info\"
[[settings.mock.phones]]
name = \"A\"
[settings.serial]
ports = []
";

    #[test]
    fn a_drivers_settings_keep_the_files_lines() {
        let config = Config::parse(SPREAD, Path::new("x.toml")).expect("parses");
        let mock = config.settings_text("mock");
        assert!(mock.lines_are_the_files, "{}", mock.text);
        let ours = |line: &str| {
            ["completion", "set_data", "name"]
                .iter()
                .any(|key| line.starts_with(key))
        };
        for (number, (given, file)) in mock.text.lines().zip(SPREAD.lines()).enumerate() {
            if ours(file) {
                assert_eq!(given, file, "line {}", number + 1);
            } else if !given.starts_with('[') {
                assert_eq!(given, "", "line {} is not the mock's", number + 1);
            }
        }
        let table: toml::Table = mock.text.parse().expect("TOML");
        assert_eq!(Some(&table), config.settings.get("mock"));
        assert_eq!(config.settings_text("serial").text.trim(), "ports = []");
    }

    #[test]
    fn a_multi_line_string_that_looks_like_headers_is_not_cut_by_lines() {
        // The cut would parse the same from lines 4-5; the table is at line 9.
        let text = "drivers = [\"mock\", \"serial\"]\n[settings.serial]\nnote = \"\"\"\n\
                    [settings.mock]\ncompletion = \"x\"\n[end]\n\"\"\"\n[settings]\n\
                    mock.completion = \"x\"\n";
        let config = Config::parse(text, Path::new("x.toml")).expect("parses");
        assert!(!config.settings_text("mock").lines_are_the_files);
    }

    #[test]
    fn settings_that_cannot_be_cut_out_line_for_line_are_written_anew() {
        let text = "drivers = [\"mock\"]\nsettings.mock.completion = \"inline\"\n";
        let config = Config::parse(text, Path::new("x.toml")).expect("parses");
        let mock = config.settings_text("mock");
        assert!(!mock.lines_are_the_files);
        assert_eq!(mock.text.trim(), "completion = \"inline\"");
        let mut changed = config.clone();
        changed.settings.clear();
        assert_eq!(changed.settings_text("mock").text, "");
    }
}
