//! The TSP library's log sink: one line per event to the file or standard error
//! that `[log]` in the configuration names. Tools and the daemon install their own
//! subscriber instead.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::config::LogConfig;

struct Sink {
    out: Mutex<Box<dyn std::io::Write + Send>>,
    max: LevelFilter,
    next_span: AtomicU64,
}

#[derive(Default)]
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Sink {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let seconds = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let metadata = event.metadata();
        let mut line = Line(format!(
            "{seconds:.3} {} {}:",
            metadata.level(),
            metadata.target()
        ));
        event.record(&mut line);
        line.0.push('\n');
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(line.0.as_bytes());
        let _ = out.flush();
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

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

/// Installs the sink `config` asks for, unless the process has a subscriber
/// already. Nothing is installed when neither a file nor stderr is asked for.
pub(crate) fn install(config: &LogConfig) {
    let mut failed = None;
    let out: Box<dyn std::io::Write + Send> = match (&config.file, config.stderr) {
        (Some(path), _) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(file) => Box::new(file),
            Err(error) => {
                failed = Some(format!(
                    "cannot open log file {}: {error}; logging to stderr instead",
                    path.display()
                ));
                Box::new(std::io::stderr())
            }
        },
        (None, true) => Box::new(std::io::stderr()),
        (None, false) => return,
    };
    let sink = Sink {
        out: Mutex::new(out),
        max: level(config.level.as_deref()),
        next_span: AtomicU64::new(1),
    };
    let _ = tracing::subscriber::set_global_default(sink);
    if let Some(problem) = failed {
        tracing::warn!("{problem}");
    }
}
