//! A stand-in for TAPISRV in Rust: the two callbacks record what the provider
//! delivers, and check that no two callbacks ever overlap.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tsp_host::sdk::manifest::PluginSpec;
use tsp_host::{CompletionProc, EventProc};

#[derive(Debug, Default)]
pub struct Seen {
    pub completions: Vec<(u32, i32)>,
    pub events: Vec<(usize, u32, [usize; 3])>,
}

pub static SEEN: Mutex<Seen> = Mutex::new(Seen {
    completions: Vec::new(),
    events: Vec::new(),
});
pub static CHANGED: Condvar = Condvar::new();
pub static IN_CALLBACK: AtomicBool = AtomicBool::new(false);
pub static OVERLAPS: AtomicUsize = AtomicUsize::new(0);
/// Something to run inside the next PHONEEVENT (a TSPI call from a callback).
pub static ON_EVENT: Mutex<Option<Box<dyn FnOnce() + Send>>> = Mutex::new(None);

/// One test at a time: the callbacks are process-wide.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut seen = seen();
    seen.completions.clear();
    seen.events.clear();
    OVERLAPS.store(0, Ordering::SeqCst);
    drop(seen);
    guard
}

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

unsafe extern "system" fn completion(request_id: u32, result: i32) {
    enter();
    seen().completions.push((request_id, result));
    leave();
}

unsafe extern "system" fn event(
    ht_phone: *mut std::ffi::c_void,
    msg: u32,
    p1: usize,
    p2: usize,
    p3: usize,
) {
    enter();
    seen().events.push((ht_phone as usize, msg, [p1, p2, p3]));
    let job = ON_EVENT.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(job) = job {
        job();
    }
    leave();
}

pub fn completion_proc() -> CompletionProc {
    CompletionProc::new(Some(completion)).expect("non-null")
}

pub fn event_proc() -> EventProc {
    EventProc::new(Some(event)).expect("non-null")
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

/// Waits up to 5 s for `done`.
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

pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_owned()
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A folder laid out like the dist: `drivers/` with the mock plugin staged by the
/// same code xtask uses.
pub fn plugin_folder(name: &str) -> PathBuf {
    let folder = build_dir().join(name);
    let spec =
        PluginSpec::read(&workspace().join("drivers/mock/plugin.toml")).expect("plugin.toml");
    spec.stage_from(&build_dir(), &folder.join("drivers"))
        .unwrap_or_else(|e| panic!("{e}\n(build the plugins first: cargo build --workspace, which cargo xtask test does)"));
    folder
}
