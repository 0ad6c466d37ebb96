//! The conformance kit: loads a built plugin through the real loader and checks what
//! every driver must do. Run it on a plugin before shipping it:
//! `cargo xtask conformance target/debug/drivers/NAME.toml [--config FILE]`.
//!
//! Every check is run (a failed one does not stop the others) and reports pass or
//! fail with the reason. The kit never waits forever: a driver that does not answer
//! fails the check that waited.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tsp_core::{
    HookSwitchDevice, HookSwitchDevs, HookSwitchMode, LampModes, PhoneError, PhoneFeatures,
};

use crate::host::{HostLink, LoadError, LoadedDriver, OpenSession, Plugin};
use crate::{DeviceInfo, DriverEvent, PhoneEvent};

/// How long the kit waits for a completion, unless told otherwise.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(5);
/// Requests sent by the concurrency check.
const CONCURRENT_REQUESTS: u64 = 400;
const CONCURRENT_THREADS: u64 = 4;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name.
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

    fn record(&mut self, name: &'static str, result: Result<(), String>) {
        self.checks.push(CheckResult {
            name,
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

/// The names of the checks, in order.
pub const CHECKS: [&str; 12] = [
    "loads",
    "manifest matches the library",
    "enumeration is stable",
    "caps are self-consistent",
    "caps are honoured",
    "open/close cycles",
    "exclusive reservation",
    "requests complete exactly once under concurrency",
    "cancel completes what is outstanding",
    "operations not advertised answer OPERATIONUNAVAIL",
    "no panic reaches the boundary",
    "shutdown leaves no thread running",
];

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
                CHECKS[1]
            } else {
                CHECKS[0]
            };
            report.record(check, Err(error.chain()));
            return report;
        }
    };
    report.driver = plugin.name().to_owned();
    report.record(CHECKS[0], Ok(()));
    report.record(CHECKS[1], Ok(()));

    let threads_before = thread_count();
    let host = Kit::new(options.patience);
    let driver = match plugin.start(settings, host.clone()) {
        Ok(driver) => driver,
        Err(error) => {
            report.record("starts", Err(error.to_string()));
            return report;
        }
    };
    let devices = match stable_devices(&driver) {
        Ok(devices) => {
            report.record(CHECKS[2], Ok(()));
            devices
        }
        Err(why) => {
            report.record(CHECKS[2], Err(why));
            driver.devices().unwrap_or_default()
        }
    };
    let ctx = Context {
        driver: &driver,
        host: &host,
        devices: &devices,
    };
    report.record(CHECKS[3], ctx.caps_consistent());
    report.record(CHECKS[4], ctx.each_device(Context::caps_honoured));
    report.record(CHECKS[5], ctx.each_device(Context::open_close_cycles));
    report.record(CHECKS[6], ctx.each_device(Context::exclusive));
    report.record(CHECKS[7], ctx.each_device(Context::exactly_once));
    report.record(CHECKS[8], ctx.each_device(Context::cancel_completes));
    report.record(CHECKS[9], ctx.each_device(Context::unadvertised));
    report.record(CHECKS[10], host.panics());
    driver.shutdown();
    drop(driver);
    report.record(CHECKS[11], no_new_threads(threads_before));
    report
}

fn stable_devices(driver: &LoadedDriver) -> Result<Vec<DeviceInfo>, String> {
    let first = driver
        .devices()
        .map_err(|e| format!("devices() failed: {e}"))?;
    let second = driver
        .devices()
        .map_err(|e| format!("devices() failed the second time: {e}"))?;
    if first != second {
        return Err("two calls to devices() gave different answers".into());
    }
    let keys: HashSet<&str> = first.iter().map(|d| d.key.as_str()).collect();
    if keys.len() != first.len() {
        return Err("two devices share a key".into());
    }
    let ids: HashSet<u32> = first.iter().map(|d| d.caps.permanent_id).collect();
    if ids.len() != first.len() {
        return Err("two devices share a permanent id".into());
    }
    Ok(first)
}

struct Context<'a> {
    driver: &'a LoadedDriver,
    host: &'a Arc<Kit>,
    devices: &'a [DeviceInfo],
}

impl Context<'_> {
    fn each_device(
        &self,
        check: fn(&Self, &DeviceInfo) -> Result<(), String>,
    ) -> Result<(), String> {
        for device in self.devices {
            check(self, device).map_err(|why| format!("{}: {why}", device.key))?;
        }
        Ok(())
    }

    fn open(&self, device: &DeviceInfo) -> Result<OpenSession, String> {
        self.driver
            .open(&device.key, self.host.next_token())
            .map_err(|e| format!("open failed: {e}"))
    }

    /// Closes as the host does: cancel, wait for what is outstanding, close.
    fn close(&self, session: OpenSession, outstanding: &[u64]) -> Result<(), String> {
        session.cancel();
        let done = self.host.wait_all(outstanding);
        session.close();
        done
    }

    fn caps_consistent(&self) -> Result<(), String> {
        for device in self.devices {
            let caps = &device.caps;
            let fail = |why: String| Err(format!("{}: {why}", device.key));
            match self.driver.caps(&device.key) {
                Ok(again) if again == *caps => {}
                Ok(_) => return fail("caps() differs from what devices() said".into()),
                Err(e) => return fail(format!("caps() failed: {e}")),
            }
            if caps.name.is_empty() {
                return fail("the phone has no name".into());
            }
            if caps.string_format.is_none() {
                return fail("dwStringFormat is not a STRINGFORMAT_ value".into());
            }
            for (feature, present, what) in feature_needs(caps) {
                if caps.features.contains(feature) && !present {
                    return fail(format!("{feature:?} is advertised without {what}"));
                }
            }
        }
        match self.driver.caps("no such device, surely") {
            Err(e) if e.code == PhoneError::BadDeviceId => Ok(()),
            Err(e) => Err(format!(
                "caps of an unknown key: {} instead of BADDEVICEID",
                e.code.name()
            )),
            Ok(_) => Err("caps of an unknown key succeeded".into()),
        }
    }

    fn caps_honoured(&self, device: &DeviceInfo) -> Result<(), String> {
        let caps = &device.caps;
        if caps.set_data.is_empty() && caps.get_data.is_empty() {
            return Ok(());
        }
        let session = self.open(device)?;
        let mut tokens = Vec::new();
        let result = (|| {
            for (id, &size) in caps.set_data.iter().enumerate() {
                let pattern: Vec<u8> = (0..size).map(|i| (i as u8) ^ (id as u8) ^ 0x5A).collect();
                let token = self.host.next_token();
                tokens.push(token);
                session.set_data(token, id as u32, &pattern);
                match self.host.wait(token) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        return Err(format!(
                            "SetData of {size} bytes to area {id} failed: {}",
                            e.name()
                        ));
                    }
                    Err(why) => return Err(format!("SetData to area {id}: {why}")),
                }
                if id < caps.get_data.len() {
                    let mut back = vec![0u8; size.min(caps.get_data[id]) as usize];
                    session
                        .get_data(id as u32, &mut back)
                        .map_err(|e| format!("GetData of area {id} failed: {}", e.name()))?;
                    if back[..] != pattern[..back.len()] {
                        return Err(format!(
                            "GetData of area {id} does not read back what SetData wrote"
                        ));
                    }
                }
            }
            let past = caps.set_data.len() as u32;
            if past > 0 {
                let token = self.host.next_token();
                tokens.push(token);
                session.set_data(token, past, &[1]);
                match self.host.wait(token) {
                    Ok(Err(PhoneError::InvalDataId)) => {}
                    Ok(other) => {
                        return Err(format!(
                            "SetData to area {past} (past the last): {other:?}, not INVALDATAID"
                        ));
                    }
                    Err(why) => return Err(format!("SetData to area {past}: {why}")),
                }
            }
            let past = caps.get_data.len() as u32;
            if past > 0 {
                match session.get_data(past, &mut [0u8; 4]) {
                    Err(PhoneError::InvalDataId) => {}
                    other => {
                        return Err(format!(
                            "GetData of area {past} (past the last): {other:?}, not INVALDATAID"
                        ));
                    }
                }
            }
            Ok(())
        })();
        self.close(session, &tokens).and(result)
    }

    fn open_close_cycles(&self, device: &DeviceInfo) -> Result<(), String> {
        for cycle in 1..=3 {
            let session = self
                .open(device)
                .map_err(|why| format!("cycle {cycle}: {why}"))?;
            self.close(session, &[])?;
        }
        Ok(())
    }

    fn exclusive(&self, device: &DeviceInfo) -> Result<(), String> {
        let first = self.open(device)?;
        let second = self.driver.open(&device.key, self.host.next_token());
        let verdict = match &second {
            Err(e) if e.code == PhoneError::Allocated => Ok(()),
            Err(e) => Err(format!(
                "a second open failed with {} instead of ALLOCATED",
                e.code.name()
            )),
            Ok(_) => Err("a second open succeeded while the first held the device".into()),
        };
        if let Ok(second) = second {
            self.close(second, &[])?;
        }
        self.close(first, &[])?;
        verdict?;
        let again = self
            .open(device)
            .map_err(|why| format!("after close: {why}"))?;
        self.close(again, &[])
    }

    fn exactly_once(&self, device: &DeviceInfo) -> Result<(), String> {
        let Some(&size) = device.caps.set_data.first() else {
            return Ok(());
        };
        let session = self.open(device)?;
        let concurrent = self.driver.concurrent_sessions();
        let data = vec![0xA5u8; size.min(16) as usize];
        let tokens: Vec<u64> = (0..CONCURRENT_REQUESTS)
            .map(|_| self.host.next_token())
            .collect();
        let send = |chunk: &[u64]| -> Result<(), String> {
            for &token in chunk {
                session.set_data(token, 0, &data);
                if !concurrent {
                    self.host
                        .wait(token)?
                        .map_err(|e| format!("SetData failed: {}", e.name()))?;
                }
            }
            Ok(())
        };
        let sent = if concurrent {
            let per_thread = (CONCURRENT_REQUESTS / CONCURRENT_THREADS) as usize;
            std::thread::scope(|scope| {
                let workers: Vec<_> = tokens
                    .chunks(per_thread)
                    .map(|chunk| scope.spawn(move || send(chunk)))
                    .collect();
                workers
                    .into_iter()
                    .try_for_each(|w| w.join().unwrap_or_else(|_| Err("a sender panicked".into())))
            })
        } else {
            send(&tokens)
        };
        let waited = self.host.wait_all(&tokens);
        let close = self.close(session, &tokens);
        sent.and(waited).and(close)?;
        self.host.exactly_once(&tokens)
    }

    fn cancel_completes(&self, device: &DeviceInfo) -> Result<(), String> {
        if device.caps.set_data.is_empty() {
            return Ok(());
        }
        let session = self.open(device)?;
        let tokens: Vec<u64> = (0..8).map(|_| self.host.next_token()).collect();
        for &token in &tokens {
            session.set_data(token, 0, &[1, 2, 3]);
        }
        session.cancel();
        let waited = self
            .host
            .wait_all(&tokens)
            .map_err(|why| format!("after cancel: {why}"));
        session.close();
        waited?;
        self.host.exactly_once(&tokens)
    }

    fn unadvertised(&self, device: &DeviceInfo) -> Result<(), String> {
        let features = device.caps.features;
        let session = self.open(device)?;
        let mut tokens = Vec::new();
        let mut failures = Vec::new();
        for (feature, name, call) in unadvertised_calls() {
            if features.contains(feature) {
                continue;
            }
            let token = self.host.next_token();
            let answer = match call(&session, token) {
                Answer::Now(result) => result,
                Answer::Later => {
                    tokens.push(token);
                    self.host
                        .wait(token)
                        .unwrap_or(Err(PhoneError::OperationFailed))
                }
            };
            if answer != Err(PhoneError::OperationUnavail) {
                failures.push(format!("{name} (not advertised) answered {answer:?}"));
            }
        }
        self.close(session, &tokens)?;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}

/// What each advertised feature needs in the caps.
fn feature_needs(caps: &tsp_core::PhoneCaps) -> Vec<(PhoneFeatures, bool, &'static str)> {
    let handset = caps.handset.is_some();
    let speaker = caps.speaker.is_some();
    let headset = caps.headset.is_some();
    vec![
        (
            PhoneFeatures::SETDATA,
            !caps.set_data.is_empty(),
            "SetData areas",
        ),
        (
            PhoneFeatures::GETDATA,
            !caps.get_data.is_empty(),
            "GetData areas",
        ),
        (
            PhoneFeatures::SETDISPLAY,
            caps.display.is_some(),
            "a display",
        ),
        (
            PhoneFeatures::GETDISPLAY,
            caps.display.is_some(),
            "a display",
        ),
        (
            PhoneFeatures::GETBUTTONINFO,
            !caps.buttons.is_empty(),
            "buttons",
        ),
        (
            PhoneFeatures::SETBUTTONINFO,
            !caps.buttons.is_empty(),
            "buttons",
        ),
        (PhoneFeatures::SETRING, caps.ring_modes > 0, "ring modes"),
        (PhoneFeatures::GETHOOKSWITCHHANDSET, handset, "a handset"),
        (PhoneFeatures::SETHOOKSWITCHHANDSET, handset, "a handset"),
        (PhoneFeatures::GETHOOKSWITCHSPEAKER, speaker, "a speaker"),
        (PhoneFeatures::SETHOOKSWITCHSPEAKER, speaker, "a speaker"),
        (PhoneFeatures::GETHOOKSWITCHHEADSET, headset, "a headset"),
        (PhoneFeatures::SETHOOKSWITCHHEADSET, headset, "a headset"),
        (
            PhoneFeatures::SETVOLUMEHANDSET,
            caps.handset.is_some_and(|h| h.volume),
            "a handset with settable volume",
        ),
        (
            PhoneFeatures::SETGAINHANDSET,
            caps.handset.is_some_and(|h| h.gain),
            "a handset with settable gain",
        ),
    ]
}

enum Answer {
    Now(Result<(), PhoneError>),
    Later,
}

type Call = fn(&OpenSession, u64) -> Answer;

fn unadvertised_calls() -> Vec<(PhoneFeatures, &'static str, Call)> {
    fn now<T>(r: Result<T, PhoneError>) -> Answer {
        Answer::Now(r.map(|_| ()))
    }
    vec![
        (PhoneFeatures::SETDATA, "SetData", |s, t| {
            s.set_data(t, 0, &[0]);
            Answer::Later
        }),
        (PhoneFeatures::GETDATA, "GetData", |s, _| {
            now(s.get_data(0, &mut [0]))
        }),
        (PhoneFeatures::SETDISPLAY, "SetDisplay", |s, t| {
            s.set_display(t, 0, 0, "x");
            Answer::Later
        }),
        (PhoneFeatures::GETDISPLAY, "GetDisplay", |s, _| {
            now(s.get_display())
        }),
        (PhoneFeatures::SETRING, "SetRing", |s, t| {
            s.set_ring(t, 0, 0);
            Answer::Later
        }),
        (PhoneFeatures::GETRING, "GetRing", |s, _| now(s.get_ring())),
        (PhoneFeatures::SETLAMP, "SetLamp", |s, t| {
            s.set_lamp(t, 0, LampModes::OFF);
            Answer::Later
        }),
        (PhoneFeatures::GETLAMP, "GetLamp", |s, _| now(s.get_lamp(0))),
        (PhoneFeatures::GETBUTTONINFO, "GetButtonInfo", |s, _| {
            now(s.get_button_info(0))
        }),
        (
            PhoneFeatures::SETHOOKSWITCHHANDSET,
            "SetHookSwitch(handset)",
            |s, t| {
                s.set_hookswitch(t, HookSwitchDevs::HANDSET, HookSwitchMode::OnHook);
                Answer::Later
            },
        ),
        (
            PhoneFeatures::GETVOLUMEHANDSET,
            "GetVolume(handset)",
            |s, _| now(s.get_volume(HookSwitchDevice::Handset)),
        ),
        (
            PhoneFeatures::SETVOLUMEHANDSET,
            "SetVolume(handset)",
            |s, t| {
                s.set_volume(t, HookSwitchDevice::Handset, 0);
                Answer::Later
            },
        ),
        (PhoneFeatures::GETGAINHANDSET, "GetGain(handset)", |s, _| {
            now(s.get_gain(HookSwitchDevice::Handset))
        }),
        (PhoneFeatures::SETGAINHANDSET, "SetGain(handset)", |s, t| {
            s.set_gain(t, HookSwitchDevice::Handset, 0);
            Answer::Later
        }),
    ]
}

/// The kit's host: records completions and panics.
struct Kit {
    state: Mutex<KitState>,
    changed: Condvar,
    patience: Duration,
}

#[derive(Default)]
struct KitState {
    next_token: u64,
    completions: HashMap<u64, Vec<Result<(), PhoneError>>>,
    panics: Vec<String>,
}

impl Kit {
    fn new(patience: Duration) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::default(),
            changed: Condvar::new(),
            patience,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KitState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_token(&self) -> u64 {
        let mut state = self.lock();
        state.next_token += 1;
        state.next_token
    }

    /// Waits for every token in `tokens` to complete at least once.
    fn wait_all(&self, tokens: &[u64]) -> Result<(), String> {
        let deadline = Instant::now() + self.patience;
        let mut state = self.lock();
        loop {
            let missing = tokens
                .iter()
                .filter(|t| !state.completions.contains_key(t))
                .count();
            if missing == 0 {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{missing} of {} requests did not complete within {:?}",
                    tokens.len(),
                    self.patience
                ));
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn wait(&self, token: u64) -> Result<Result<(), PhoneError>, String> {
        self.wait_all(&[token])?;
        Ok(self.lock().completions[&token][0])
    }

    fn exactly_once(&self, tokens: &[u64]) -> Result<(), String> {
        // Give a duplicate a moment to show up.
        std::thread::sleep(Duration::from_millis(20));
        let state = self.lock();
        let twice = tokens
            .iter()
            .filter(|t| state.completions.get(t).is_some_and(|c| c.len() > 1))
            .count();
        if twice > 0 {
            return Err(format!("{twice} requests completed more than once"));
        }
        Ok(())
    }

    fn panics(&self) -> Result<(), String> {
        let state = self.lock();
        match state.panics.first() {
            None => Ok(()),
            Some(first) => Err(format!(
                "the driver panicked {} times; first: {first}",
                state.panics.len()
            )),
        }
    }
}

impl HostLink for Kit {
    fn complete(&self, token: u64, result: Result<(), PhoneError>) {
        self.lock()
            .completions
            .entry(token)
            .or_default()
            .push(result);
        self.changed.notify_all();
    }

    fn phone_event(&self, _: u64, _: PhoneEvent) {}

    fn driver_event(&self, _: &str, _: DriverEvent) {}

    fn driver_panicked(&self, _: &str, message: &str) {
        self.lock().panics.push(message.to_owned());
    }
}

/// This process's threads, where the platform tells.
fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

fn no_new_threads(before: Option<usize>) -> Result<(), String> {
    let Some(before) = before else {
        return Ok(());
    };
    // Joined threads leave the task list at once; give exiting ones a moment.
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        let now = thread_count().unwrap_or(before);
        if now <= before {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} thread(s) still running after shutdown",
                now - before
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
