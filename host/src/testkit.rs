//! A stand-in for TAPISRV for tests (feature `testkit`): the two callbacks
//! record what the provider delivers and check that no two ever overlap, and
//! helpers stage a driver's plugin and start a host on it, as TAPI would.
//!
//! What the callbacks record is process-wide, as TAPISRV is: tests that share
//! a binary tell their phones apart by `htPhone` (see [`events_of`]) and
//! request ids, or take [`serial`] to run one at a time. (An application
//! that wants callbacks of its own per host uses [`crate::Host`].)

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tsp_plugin_sdk::manifest::PluginSpec;

use crate::{CompletionProc, Config, ConfigSource, EventProc, HostSetup, Provider};

/// Everything the callbacks saw, oldest first.
#[derive(Debug, Default)]
pub struct Seen {
    /// `(request id, result)` of each ASYNC_COMPLETION.
    pub completions: Vec<(u32, i32)>,
    /// `(htPhone, message, params)` of each PHONEEVENT.
    pub events: Vec<(usize, u32, [usize; 3])>,
}

static SEEN: Mutex<Seen> = Mutex::new(Seen {
    completions: Vec::new(),
    events: Vec::new(),
});
static CHANGED: Condvar = Condvar::new();
static IN_CALLBACK: AtomicBool = AtomicBool::new(false);
/// How many times a callback began while another was running (must stay 0).
pub static OVERLAPS: AtomicUsize = AtomicUsize::new(0);
/// Something to run inside the next PHONEEVENT (a TSPI call from a callback).
pub static ON_EVENT: Mutex<Option<Box<dyn FnOnce() + Send>>> = Mutex::new(None);
static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time, starting from nothing seen.
pub fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut seen = seen();
    seen.completions.clear();
    seen.events.clear();
    OVERLAPS.store(0, Ordering::SeqCst);
    drop(seen);
    guard
}

/// What the callbacks saw so far.
pub fn seen() -> MutexGuard<'static, Seen> {
    SEEN.lock().unwrap_or_else(|e| e.into_inner())
}

fn enter() {
    if IN_CALLBACK.swap(true, Ordering::SeqCst) {
        OVERLAPS.fetch_add(1, Ordering::SeqCst);
    }
}

fn leave() {
    IN_CALLBACK.store(false, Ordering::SeqCst);
    CHANGED.notify_all();
}

fn completion(request_id: u32, result: Result<(), tsp_core::PhoneError>) {
    enter();
    let result = tsp_core::phone_result(result);
    seen().completions.push((request_id, result));
    leave();
}

fn event(ht_phone: usize, message: tsp_core::Message) {
    enter();
    let (msg, params) = message.to_raw();
    seen().events.push((ht_phone, msg, params));
    let job = ON_EVENT.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(job) = job {
        job();
    }
    leave();
}

/// The completion callback to give `TSPI_providerInit`.
pub fn completion_proc() -> CompletionProc {
    CompletionProc::from_fn(completion)
}

/// The event callback to give `TSPI_phoneOpen` (and the create procedure).
pub fn event_proc() -> EventProc {
    EventProc::from_fn(event)
}

/// The completions delivered for `request_id`.
pub fn completions_of(request_id: u32) -> Vec<i32> {
    seen()
        .completions
        .iter()
        .filter(|(id, _)| *id == request_id)
        .map(|(_, r)| *r)
        .collect()
}

/// The first completion of `request_id`, if it came.
pub fn completion_of(request_id: u32) -> Option<i32> {
    completions_of(request_id).first().copied()
}

/// The parameters of every `msg` delivered, to any phone.
pub fn events(msg: tsp_core::PhoneMessage) -> Vec<[usize; 3]> {
    seen()
        .events
        .iter()
        .filter(|e| e.1 == msg.code())
        .map(|e| e.2)
        .collect()
}

/// The parameters of every `msg` delivered to the phone opened as `ht_phone`.
pub fn events_of(ht_phone: usize, msg: tsp_core::PhoneMessage) -> Vec<[usize; 3]> {
    seen()
        .events
        .iter()
        .filter(|e| e.0 == ht_phone && e.1 == msg.code())
        .map(|e| e.2)
        .collect()
}

/// Waits up to 5 s for `done` to hold of what was seen; false if it never did.
pub fn wait_until(done: impl Fn(&Seen) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut state = seen();
    while !done(&state) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        state = CHANGED
            .wait_timeout(state, left.min(Duration::from_millis(20)))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    true
}

/// Polls `done` for up to 5 s, holding nothing the callbacks need (unlike
/// [`wait_until`], whose closure runs under the record's lock); whether it held.
pub fn eventually(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Waits up to 5 s for `done`; panics naming `what` if it never holds.
pub fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Writes a configuration (or any file the host checks) as its owner alone may
/// change it (0644 on Unix), whatever the umask: the host refuses files others
/// could have written.
pub fn write_trusted(path: &Path, contents: &str) {
    std::fs::write(path, contents)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("cannot set the mode of {}: {e}", path.display()));
    }
}

/// `target/<profile>`: a test binary lives in its `deps/`.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("a test knows its own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_owned()
}

/// Stages the driver whose manifest source is `plugin_toml` into
/// `<build>/<name>/drivers/`, as xtask does; returns `<build>/<name>` (a folder
/// laid out like the dist) and the staged manifest.
pub fn stage(plugin_toml: &Path, name: &str) -> (PathBuf, PathBuf) {
    let folder = build_dir().join(name);
    let spec =
        PluginSpec::read(plugin_toml).unwrap_or_else(|e| panic!("{}: {e}", plugin_toml.display()));
    let manifest = spec
        .stage_from(&build_dir(), &folder.join("drivers"))
        .unwrap_or_else(|e| {
            panic!("{e}\n(build the plugins first: cargo build --workspace, which cargo xtask test does)")
        });
    (folder, manifest)
}

/// A host with plugins from `folder` and the one driver `driver`, `settings`
/// (TOML) as its table.
pub fn provider(folder: PathBuf, driver: &str, settings: &str) -> Provider {
    let mut config = Config {
        drivers: vec![driver.into()],
        ..Config::default()
    };
    let table = settings
        .parse()
        .unwrap_or_else(|e| panic!("the settings are not TOML: {e}"));
    config.settings.insert(driver.into(), table);
    Provider::new(HostSetup {
        plugin_folder: Some(folder),
        statics: Vec::new(),
        config: ConfigSource::Given(config),
    })
}
