//! A driver's `tracing` lines reach the host's subscriber: each plugin has its own
//! copy of `tracing`, so without the bridge they would vanish. (Its own test binary:
//! it installs a global subscriber.)

mod common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use common::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Default)]
struct Capture {
    lines: Mutex<Vec<String>>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

struct Subscribe(Arc<Capture>);

impl Subscriber for Subscribe {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(format!("[{}] ", event.metadata().target()));
        event.record(&mut fields);
        self.0.lines.lock().expect("capture").push(fields.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_drivers_log_line_reaches_the_hosts_subscriber() {
    let capture = Arc::new(Capture::default());
    tracing::subscriber::set_global_default(Subscribe(capture.clone())).expect("first subscriber");

    let plugin = load(&mock_manifest());
    assert!(plugin.has_log_bridge());
    let driver = plugin.start("", Recorder::new()).expect("starts");
    driver.shutdown();

    let lines = capture.lines.lock().expect("capture").clone();
    let started = lines
        .iter()
        .find(|l| l.contains("mock driver started"))
        .unwrap_or_else(|| panic!("the mock's start line is missing from {lines:#?}"));
    assert!(started.starts_with("[tsp_plugin]"), "{started}");
    assert!(
        started.contains("driver=\"mock\""),
        "tagged with the driver: {started}"
    );
    assert!(
        started.contains("tsp_driver_mock"),
        "keeps the plugin's own target: {started}"
    );
    assert!(
        lines.iter().any(|l| l.contains("mock driver stopped")),
        "{lines:#?}"
    );
}
