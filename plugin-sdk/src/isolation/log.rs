//! The driver host's own log lines (the loader's, the driver host's) as
//! [`FromChild::Log`] frames. The plugin's lines come through its log bridge
//! and the driver host's link; these are the rest.

use std::fmt::Write as _;
use std::fs::File;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use super::protocol::{FrameWriter, FromChild};
use crate::adapter::bridge::{level_filter, level_number};

/// Makes this process's `tracing` output frames to the host, up to `level`
/// (0 off … 5 trace).
pub(crate) fn forward_to(out: Arc<Mutex<FrameWriter<File>>>, level: u8) {
    let max = level_filter(level);
    if tracing::subscriber::set_global_default(Forward { out, max }).is_err() {
        tracing::debug!("a log subscriber was already set");
    }
}

struct Forward {
    out: Arc<Mutex<FrameWriter<File>>>,
    max: LevelFilter,
}

/// The event's message, then its other fields as `name=value`.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl Subscriber for Forward {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Spans are not forwarded; every span shares one id.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = Text::default();
        event.record(&mut text);
        let message = FromChild::Log {
            level: level_number(event.metadata().level()),
            target: event.metadata().target().to_owned(),
            message: text.0,
        };
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A host that is gone is noticed by the reading side.
        let _ = out.send(&message);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
