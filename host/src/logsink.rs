//! The TSP library's log: `tracing-subscriber` writing one line per event, with
//! the fields of the spans it happens in, to the file or standard error that
//! `[log]` in the configuration names. When the configuration cannot be used,
//! the reason goes to `tsp-rs.log` beside the library (else standard error);
//! with no `[log]` destination, warnings and errors go there too (the file is
//! made at the first): TAPISRV shows nothing, and the user must learn what to
//! fix. Tools and the
//! daemon install their own subscriber instead.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::level_filters::LevelFilter;

use crate::config::LogConfig;

/// The level `name` gives (`info` when none; the configuration refuses others).
fn level(name: Option<&str>) -> LevelFilter {
    match name.map(str::to_ascii_lowercase).as_deref() {
        Some("off") => LevelFilter::OFF,
        Some("error") => LevelFilter::ERROR,
        Some("warn") => LevelFilter::WARN,
        Some("debug") => LevelFilter::DEBUG,
        Some("trace") => LevelFilter::TRACE,
        _ => LevelFilter::INFO,
    }
}

/// Appends to `path`, or says why not.
fn open(path: &Path) -> Result<Box<dyn Write + Send>, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(|file| Box::new(file) as Box<dyn Write + Send>)
        .map_err(|error| format!("cannot open log file {}: {error}", path.display()))
}

/// Installs the subscriber, unless the process has one already.
fn install_writer(out: Box<dyn Write + Send>, max: LevelFilter) {
    let installed = tracing_subscriber::fmt()
        .with_max_level(max)
        .with_writer(Mutex::new(out))
        .with_ansi(false)
        .try_init();
    if installed.is_err() {
        tracing::debug!("the process has a log already: the TSP library writes to it");
    }
}

/// A file opened at its first line, so a log that stays silent leaves no file.
struct OnFirstLine {
    path: std::path::PathBuf,
    file: Option<Box<dyn Write + Send>>,
}

impl Write for OnFirstLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.file.is_none() {
            self.file = Some(open(&self.path).unwrap_or_else(|_| Box::new(std::io::stderr())));
        }
        match &mut self.file {
            Some(file) => file.write(bytes),
            None => Ok(bytes.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

/// Installs the log `config` asks for. With neither a file nor stderr asked
/// for, warnings and errors still go to `tsp-rs.log` in `folder` (opened at the
/// first): a driver's settings that do not parse must reach the user.
pub(crate) fn install(config: &LogConfig, folder: Option<&Path>) {
    if config.file.is_none() && !config.stderr {
        if let Some(folder) = folder {
            let out = OnFirstLine {
                path: folder.join("tsp-rs.log"),
                file: None,
            };
            install_writer(
                Box::new(out),
                LevelFilter::WARN.min(level(config.level.as_deref())),
            );
        }
        return;
    }
    install_configured(config);
}

fn install_configured(config: &LogConfig) {
    let max = level(config.level.as_deref());
    let (out, failed) = match (&config.file, config.stderr) {
        (Some(path), _) => match open(path) {
            Ok(out) => (out, None),
            Err(problem) => (
                Box::new(std::io::stderr()) as Box<dyn Write + Send>,
                Some(problem),
            ),
        },
        (None, _) => (Box::new(std::io::stderr()) as Box<dyn Write + Send>, None),
    };
    install_writer(out, max);
    if let Some(problem) = failed {
        tracing::warn!("{problem}; logging to stderr instead");
    }
}

/// The log when the configuration cannot be used: `tsp-rs.log` in `folder`
/// (the library's), else standard error; the caller logs the reason.
pub(crate) fn install_fallback(folder: Option<&Path>) {
    let out = folder
        .map(|folder| open(&folder.join("tsp-rs.log")))
        .and_then(Result::ok)
        .unwrap_or_else(|| Box::new(std::io::stderr()));
    install_writer(out, LevelFilter::INFO);
}
