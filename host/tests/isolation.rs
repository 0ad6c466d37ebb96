//! Drivers in their own process (`isolate = ["mock"]`): a driver that
//! crashes or hangs costs its phones a restart, never the host. Each test
//! plays TAPISRV on a host whose mock runs in `tsp-driver-host`, on both
//! queue modes: requests outstanding when the process goes complete exactly
//! once, the phones go DISCONNECTED then CONNECTED, and work after.

mod tapi_side;

use tapi_side::*;
use tsp_core::{PhoneError, PhoneMessage, PhoneStates};
use tsp_host::config::{Deadlines, IsolationConfig};
use tsp_host::{Config, ConfigSource, HostSetup, Provider};

const V31: u32 = 0x0003_0001;
const ALL_STATES: u32 = 0x00FF_FFFF;
const FAILED: i32 = PhoneError::OperationFailed as i32;

/// A started host whose mock (with `settings`) runs in a driver host, with
/// `call_ms` as its heartbeat.
fn started(name: &str, settings: &str, call_ms: u64, restarts: u32) -> Provider {
    let mut config = Config::demo();
    config.isolate = vec!["mock".into()];
    config.settings.insert(
        "mock".into(),
        settings.parse().expect("the settings are TOML"),
    );
    config.deadlines = Deadlines {
        call_ms,
        ..Deadlines::default()
    };
    config.isolation = IsolationConfig {
        restarts,
        backoff_ms: 20,
        hang_ms: 600,
        program: Some(env!("CARGO_BIN_EXE_tsp-driver-host").into()),
        ..IsolationConfig::default()
    };
    let provider = Provider::new(HostSetup {
        plugin_folder: Some(plugin_folder(name)),
        statics: Vec::new(),
        config: ConfigSource::Given(config),
    });
    let phones = provider
        .start_as_tapi(0xABC, Some(event_proc()), completion_proc())
        .expect("negotiate, enumerate, init");
    assert_eq!(phones, 2, "the mock's two phones, from its process");
    provider
}

fn open(provider: &Provider, id: u32, ht_phone: usize) -> u64 {
    let handle = provider
        .open(id, ht_phone, V31, event_proc())
        .expect("open");
    provider
        .set_status_messages(handle, ALL_STATES, 0, 0)
        .expect("all state messages");
    handle
}

fn states_of(ht_phone: usize) -> Vec<u32> {
    events_of(ht_phone, PhoneMessage::State)
        .into_iter()
        .map(|p| p[0] as u32)
        .collect()
}

/// Whether `ht_phone` saw DISCONNECTED and, after it, CONNECTED.
fn went_away_and_came_back(ht_phone: usize) -> bool {
    let states = states_of(ht_phone);
    let away = states
        .iter()
        .position(|s| *s == PhoneStates::DISCONNECTED.bits());
    away.is_some_and(|at| states[at..].contains(&PhoneStates::CONNECTED.bits()))
}

fn accepted(result: i32, request_id: u32) {
    assert_eq!(result, request_id as i32, "request {request_id} accepted");
}

fn completed(request_id: u32) -> bool {
    eventually(|| !completions_of(request_id).is_empty())
}

/// Phone 0 has two SetData outstanding (the mock's `never`, set by command
/// so that the restarted driver does not have it); `what` goes to phone 1.
/// Both phones are the one process's: both go away and come back.
fn the_driver_comes_back_after(what: &str, concurrent: bool) {
    let _serial = serial();
    let name = format!("test-isolation-{what}-{concurrent}");
    let p = started(&name, &format!("concurrent = {concurrent}"), 400, 5);
    let (h0, h1) = (open(&p, 0, 0x3000), open(&p, 1, 0x3001));
    accepted(p.dev_specific(300, h0, b"fault set_data never"), 300);
    assert!(completed(300));
    accepted(p.set_data(301, h0, 0, b"lost"), 301);
    accepted(p.set_data(302, h0, 0, b"queued"), 302);
    accepted(p.dev_specific(303, h1, what.as_bytes()), 303);

    assert!(completed(303), "the `{what}` request never completed");
    assert_eq!(completions_of(303), vec![FAILED]);
    assert!(completed(301), "the outstanding SetData never completed");
    assert_eq!(completions_of(301), vec![FAILED]);
    // Outstanding in the driver (concurrent) it fails; queued in the host
    // (one at a time) it reaches the restarted driver, or fails meanwhile.
    assert!(completed(302));
    for (ht, phone) in [(0x3000, 0), (0x3001, 1)] {
        assert!(
            eventually(|| went_away_and_came_back(ht)),
            "phone {phone}: DISCONNECTED then CONNECTED, saw {:?}",
            states_of(ht)
        );
    }
    accepted(p.set_data(304, h0, 1, b"after"), 304);
    assert!(completed(304));
    assert_eq!(completions_of(304), vec![0], "a SetData after the restart");
    let mut back = [0u8; 5];
    p.get_data(h0, 1, &mut back)
        .expect("GetData after the restart");
    assert_eq!(&back, b"after");

    p.close(h0).expect("close");
    p.close(h1).expect("close");
    p.shutdown().expect("shutdown");
    for request in 300..=304 {
        assert_eq!(
            completions_of(request).len(),
            1,
            "request {request}: exactly once"
        );
    }
    assert_eq!(OVERLAPS.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn a_crash_on_a_concurrent_phone_costs_a_restart() {
    the_driver_comes_back_after("crash", true);
}

#[test]
fn a_crash_on_a_one_at_a_time_phone_costs_a_restart() {
    the_driver_comes_back_after("crash", false);
}

#[test]
fn a_hang_on_a_concurrent_phone_costs_a_restart() {
    the_driver_comes_back_after("hang", true);
}

#[test]
fn a_hang_on_a_one_at_a_time_phone_costs_a_restart() {
    the_driver_comes_back_after("hang", false);
}

/// What the isolated driver reported, with no host in between (the host
/// completes a disconnected phone's requests itself too: this checks the
/// driver host's proxy alone).
#[derive(Default)]
struct Recorder {
    completions: std::sync::Mutex<Vec<(u64, Result<(), PhoneError>)>>,
    presence: std::sync::Mutex<Vec<String>>,
}

impl tsp_plugin_sdk::host::HostLink for Recorder {
    fn complete(&self, token: u64, result: Result<(), PhoneError>) {
        self.completions.lock().expect("lock").push((token, result));
    }

    fn phone_event(&self, _: u64, _: tsp_plugin_sdk::PhoneEvent) {}

    fn driver_event(&self, _: &str, event: tsp_plugin_sdk::DriverEvent) {
        let text = match event {
            tsp_plugin_sdk::DriverEvent::Arrived(info) => format!("arrived {}", info.key),
            tsp_plugin_sdk::DriverEvent::Disconnected(key) => format!("disconnected {key}"),
            tsp_plugin_sdk::DriverEvent::Connected(key) => format!("connected {key}"),
            tsp_plugin_sdk::DriverEvent::Removed(key) => format!("removed {key}"),
        };
        self.presence.lock().expect("lock").push(text);
    }
}

impl Recorder {
    fn completions_of(&self, token: u64) -> Vec<Result<(), PhoneError>> {
        let all = self.completions.lock().expect("lock");
        all.iter()
            .filter(|(t, _)| *t == token)
            .map(|(_, r)| *r)
            .collect()
    }
}

fn isolated_mock(name: &str, restarts: u32) -> tsp_plugin_sdk::host::Plugin {
    let folder = plugin_folder(name);
    let isolation = tsp_plugin_sdk::isolation::Isolation {
        heartbeat: std::time::Duration::from_millis(400),
        hang: std::time::Duration::from_millis(600),
        restarts,
        window: std::time::Duration::from_secs(60),
        backoff: std::time::Duration::from_millis(20),
        ..tsp_plugin_sdk::isolation::Isolation::new(
            env!("CARGO_BIN_EXE_tsp-driver-host").into(),
            folder.join("drivers/mock.toml"),
        )
    };
    tsp_plugin_sdk::host::Plugin::isolated(isolation).expect("the staged mock passes the checks")
}

/// The proxy's own promise: what the process had outstanding completes with
/// OPERATIONFAILED exactly once, every device is reported disconnected, and
/// back once the new process lists it; the open phone works in the new one.
#[test]
fn the_proxy_completes_what_the_dead_process_had_once_and_reopens() {
    // The mock's phones are locked per process and machine: one test at a time.
    let _serial = serial();
    let plugin = isolated_mock("test-isolation-proxy", 5);
    assert!(plugin.is_isolated());
    let recorder = std::sync::Arc::new(Recorder::default());
    let driver = plugin
        .start("", recorder.clone())
        .expect("the mock starts in its process");
    let devices = driver.devices().expect("devices");
    assert_eq!(devices.len(), 2);
    let phone = driver.open(&devices[0].key, 1).expect("open");
    let other = driver.open(&devices[1].key, 2).expect("open");
    phone.dev_specific(10, b"fault set_data never");
    assert!(eventually(|| recorder.completions_of(10) == [Ok(())]));
    phone.set_data(11, 0, b"outstanding");
    phone.set_data(12, 0, b"outstanding");
    other.dev_specific(13, b"crash");
    for token in 11..=13 {
        assert!(
            eventually(|| !recorder.completions_of(token).is_empty()),
            "request {token} never completed"
        );
    }
    let both_back = || {
        let seen = recorder.presence.lock().expect("lock").clone();
        devices.iter().all(|d| {
            let away = seen
                .iter()
                .position(|e| *e == format!("disconnected {}", d.key));
            away.is_some_and(|at| seen[at..].contains(&format!("connected {}", d.key)))
        })
    };
    assert!(
        eventually(both_back),
        "every device away then back: {:?}",
        recorder.presence.lock().expect("lock")
    );
    phone.set_data(14, 2, b"again");
    assert!(eventually(|| recorder.completions_of(14) == [Ok(())]));
    let mut back = [0u8; 5];
    phone
        .get_data(2, &mut back)
        .expect("GetData in the new process");
    assert_eq!(&back, b"again");
    phone.cancel();
    phone.close();
    other.close();
    driver.shutdown();
    for token in 11..=13 {
        assert_eq!(
            recorder.completions_of(token),
            [Err(PhoneError::OperationFailed)],
            "request {token}: once, failed"
        );
    }
}

/// Past its restarts within the window the driver is given up: its devices
/// stay disconnected and calls fail at once, and nothing hangs at shutdown.
#[test]
fn a_driver_that_keeps_dying_is_given_up() {
    let _serial = serial();
    let plugin = isolated_mock("test-isolation-give-up", 1);
    let recorder = std::sync::Arc::new(Recorder::default());
    let driver = plugin.start("", recorder.clone()).expect("starts");
    let key = driver.devices().expect("devices")[0].key.clone();
    let phone = driver.open(&key, 1).expect("open");
    let disconnects = || {
        let seen = recorder.presence.lock().expect("lock");
        seen.iter()
            .filter(|e| e.starts_with("disconnected"))
            .count()
    };
    phone.dev_specific(20, b"crash");
    assert!(eventually(|| disconnects() == 2), "both devices away once");
    assert!(eventually(|| {
        recorder
            .presence
            .lock()
            .expect("lock")
            .iter()
            .any(|e| e.starts_with("connected"))
    }));
    phone.dev_specific(21, b"crash");
    assert!(eventually(|| disconnects() == 4), "both devices away again");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let connects = recorder
        .presence
        .lock()
        .expect("lock")
        .iter()
        .filter(|e| e.starts_with("connected"))
        .count();
    assert_eq!(connects, 2, "no restart after the second death");
    assert_eq!(phone.get_status().err(), Some(PhoneError::OperationFailed));
    phone.set_data(22, 0, b"x");
    assert_eq!(
        recorder.completions_of(22),
        [Err(PhoneError::OperationFailed)]
    );
    phone.close();
    driver.shutdown();
    assert_eq!(
        recorder.completions_of(20),
        [Err(PhoneError::OperationFailed)]
    );
    assert_eq!(
        recorder.completions_of(21),
        [Err(PhoneError::OperationFailed)]
    );
}

/// The driver hosts this process started that are still running (Linux:
/// from /proc).
#[cfg(target_os = "linux")]
fn driver_hosts() -> Vec<u32> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // pid (comm) state ppid …: the name may hold spaces, so split after ')'.
            let (head, tail) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1;
            let mut fields = tail.split_whitespace();
            let (state, ppid) = (fields.next()?, fields.next()?);
            let ours = comm == "tsp-driver-host" && ppid == me && state != "Z";
            ours.then(|| entry.file_name().to_str()?.parse().ok())?
        })
        .collect()
}

/// A process that stops answering altogether (stopped by a signal, so not
/// even its reading thread runs) is killed after a heartbeat and restarted;
/// the call waiting for it fails then.
#[cfg(target_os = "linux")]
#[test]
fn a_stopped_process_misses_its_heartbeat_and_is_restarted() {
    let _serial = serial();
    let plugin = isolated_mock("test-isolation-stopped", 5);
    let recorder = std::sync::Arc::new(Recorder::default());
    let driver = plugin.start("", recorder.clone()).expect("starts");
    let key = driver.devices().expect("devices")[0].key.clone();
    let phone = driver.open(&key, 1).expect("open");
    let hosts = driver_hosts();
    assert_eq!(hosts.len(), 1, "one driver host: {hosts:?}");
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &hosts[0].to_string()])
        .status()
        .expect("kill runs");
    assert!(stopped.success());
    assert_eq!(
        phone.get_status().err(),
        Some(PhoneError::OperationFailed),
        "the call fails when the stopped process is killed"
    );
    assert!(eventually(|| {
        let seen = recorder.presence.lock().expect("lock");
        let away = seen
            .iter()
            .position(|e| *e == format!("disconnected {key}"));
        away.is_some_and(|at| seen[at..].contains(&format!("connected {key}")))
    }));
    assert!(phone.get_status().is_ok(), "the new process answers");
    let now = driver_hosts();
    assert_eq!(now.len(), 1, "the stopped one is gone: {now:?}");
    assert_ne!(now[0], hosts[0], "a new process");
    phone.close();
    driver.shutdown();
    assert!(
        eventually(|| driver_hosts().is_empty()),
        "none left after shutdown"
    );
}

/// How many threads process `pid` has (Linux).
#[cfg(target_os = "linux")]
fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Opens that fail (the device is taken) and sessions dropped without a
/// close (the host giving up on a late open) leave nothing behind in the
/// driver host: no thread per try, no phone open there.
#[cfg(target_os = "linux")]
#[test]
fn failed_and_abandoned_opens_leave_nothing_in_the_driver_host() {
    let _serial = serial();
    let plugin = isolated_mock("test-isolation-leaks", 5);
    let recorder = std::sync::Arc::new(Recorder::default());
    let driver = plugin.start("", recorder.clone()).expect("starts");
    let devices = driver.devices().expect("devices");
    let held = driver.open(&devices[0].key, 1).expect("open");
    let host = driver_hosts()[0];
    let before = threads_of(host);
    for session in 100..150 {
        let refused = driver.open(&devices[0].key, session).expect_err("taken");
        assert_eq!(refused.code, PhoneError::Allocated);
    }
    for session in 200..220 {
        drop(driver.open(&devices[1].key, session).expect("opens"));
    }
    // The last drop's close reaches the child before this open does.
    let again = driver
        .open(&devices[1].key, 300)
        .expect("free again after the drops");
    assert!(
        eventually(|| threads_of(host) <= before + 1),
        "{} threads after, {before} before",
        threads_of(host)
    );
    again.close();
    held.close();
    driver.shutdown();
}

/// This process's effective user id (Linux, from /proc).
#[cfg(target_os = "linux")]
fn effective_uid(pid: &str) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    ids.split_whitespace().nth(1)?.parse().ok()
}

/// `[isolation] uid/gid`: a host running as root starts the driver host as
/// that user; a host that may not switch gets a driver that did not start,
/// with the system's reason, and nothing running.
#[cfg(target_os = "linux")]
#[test]
fn the_driver_host_runs_as_the_configured_user() {
    use std::os::unix::fs::PermissionsExt;

    let _serial = serial();
    let staged = plugin_folder("test-isolation-user");
    // A folder the other user can reach (the checkout may sit in a private
    // one, as a fresh clone in a temporary folder does), with copies of the
    // program and the plugin.
    let scratch = tempfile::tempdir().expect("a folder");
    let open_to_all = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(scratch.path(), open_to_all.clone()).expect("mode");
    let drivers = scratch.path().join("drivers");
    std::fs::create_dir(&drivers).expect("drivers");
    std::fs::set_permissions(&drivers, open_to_all).expect("mode");
    for file in ["mock.toml", "libtsp_driver_mock.so"] {
        std::fs::copy(staged.join("drivers").join(file), drivers.join(file)).expect("copied");
    }
    let program = scratch.path().join("tsp-driver-host");
    std::fs::copy(env!("CARGO_BIN_EXE_tsp-driver-host"), &program).expect("copied");
    let nobody = 65534;
    let isolation = tsp_plugin_sdk::isolation::Isolation {
        run_as: Some((nobody, nobody)),
        ..tsp_plugin_sdk::isolation::Isolation::new(program, drivers.join("mock.toml"))
    };
    let plugin = tsp_plugin_sdk::host::Plugin::isolated(isolation).expect("checks pass");
    let recorder = std::sync::Arc::new(Recorder::default());
    // Without the lock file: nobody may not write this run's lock folder.
    let started = plugin.start("reservation = false", recorder);
    if effective_uid("self") == Some(0) {
        let driver = started.expect("root may start it as nobody");
        let hosts = driver_hosts();
        assert_eq!(hosts.len(), 1);
        assert_eq!(effective_uid(&hosts[0].to_string()), Some(nobody));
        let devices = driver.devices().expect("nobody can read the plugin");
        let phone = driver.open(&devices[0].key, 1).expect("and open a phone");
        phone.close();
        driver.shutdown();
    } else {
        let error = started.expect_err("only root may switch users");
        assert!(error.message.contains("tsp-driver-host"), "{error}");
        assert!(driver_hosts().is_empty());
    }
}
