//! The mock keeps the contract tools rely on (design, "The mock's default phones"),
//! driven through the host's API with the mock linked in statically (the same
//! driver table a plugin exports).

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tsp_core::{ButtonModes, ButtonStates, HookSwitchDevice, HookSwitchMode, PhoneError};
use tsp_driver_mock::command;
use tsp_plugin_sdk::host::{HostLink, LoadedDriver, Plugin};
use tsp_plugin_sdk::{DriverEvent, PhoneEvent};

/// Completions by token, phone events, driver events.
type Seen = (
    HashMap<u64, Vec<Result<(), PhoneError>>>,
    Vec<PhoneEvent>,
    Vec<DriverEvent>,
);

#[derive(Default)]
struct Host {
    state: Mutex<Seen>,
    changed: Condvar,
}

impl Host {
    fn wait(&self, token: u64) -> Vec<Result<(), PhoneError>> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut state = self.state.lock().expect("host");
        while !state.0.contains_key(&token) && Instant::now() < deadline {
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(50))
                .expect("host")
                .0;
        }
        state.0.get(&token).cloned().unwrap_or_default()
    }

    fn completed(&self, token: u64) -> bool {
        self.state.lock().expect("host").0.contains_key(&token)
    }

    fn phone_events(&self) -> Vec<PhoneEvent> {
        self.state.lock().expect("host").1.clone()
    }

    fn driver_events(&self) -> Vec<DriverEvent> {
        self.state.lock().expect("host").2.clone()
    }
}

impl HostLink for Host {
    fn complete(&self, token: u64, result: Result<(), PhoneError>) {
        self.state
            .lock()
            .expect("host")
            .0
            .entry(token)
            .or_default()
            .push(result);
        self.changed.notify_all();
    }
    fn phone_event(&self, _: u64, event: PhoneEvent) {
        self.state.lock().expect("host").1.push(event);
    }
    fn driver_event(&self, _: &str, event: DriverEvent) {
        self.state.lock().expect("host").2.push(event);
    }
}

/// The tests share the process's data areas and lock files, as the contract says;
/// one at a time keeps them from meeting.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn start(settings: &str) -> (LoadedDriver, Arc<Host>) {
    let host = Arc::new(Host::default());
    let plugin = Plugin::from_static(tsp_driver_mock::tsp_driver_module());
    let driver = plugin
        .start(settings, host.clone())
        .expect("the mock starts");
    (driver, host)
}

#[test]
fn data_areas_are_zeroed_written_partially_and_outlive_close_and_reinit() {
    let _serial = serial();
    let (driver, host) = start("");
    let phone = driver.open("mock1", 1).expect("opens");
    let mut area = [0xFFu8; 256];
    phone.get_data(3, &mut area).expect("reads");
    assert_eq!(area, [0u8; 256], "zero-filled at start");

    phone.set_data(1, 3, &[7; 256]);
    assert_eq!(host.wait(1), [Ok(())]);
    phone.set_data(2, 3, b"abc");
    assert_eq!(host.wait(2), [Ok(())], "inline by default");
    phone.get_data(3, &mut area).expect("reads");
    assert_eq!(
        &area[..4],
        b"abc\x07",
        "the first dwSize bytes, the rest left"
    );

    phone.set_data(3, 3, &[1; 257]);
    assert_eq!(
        host.wait(3),
        [Err(PhoneError::OperationFailed)],
        "oversize refused"
    );
    phone.get_data(3, &mut area).expect("reads");
    assert_eq!(&area[..4], b"abc\x07", "nothing written");

    phone.close();
    drop(phone);
    driver.shutdown();
    let (driver, _) = start("");
    let phone = driver.open("mock1", 1).expect("opens again");
    let mut small = [0u8; 3];
    phone.get_data(3, &mut small).expect("reads");
    assert_eq!(&small, b"abc", "the memory lives as long as the process");
    phone.close();
    driver.shutdown();
}

#[test]
fn worker_completion_comes_later_and_serial_sessions_are_declared() {
    let _serial = serial();
    let (driver, host) = start("completion = \"worker\"\ndelay_ms = 20\nconcurrent = false");
    assert!(!driver.concurrent_sessions());
    let phone = driver.open("mock1", 1).expect("opens");
    phone.set_data(10, 2, b"later");
    assert_eq!(host.wait(10), [Ok(())]);
    phone.close();
    driver.shutdown();
    let (driver, _) = start("");
    assert!(driver.concurrent_sessions(), "concurrent by default");
    driver.shutdown();
}

#[test]
fn dev_specific_commands_inject_events_and_faults() {
    let _serial = serial();
    let (driver, host) = start("[[phones]]\nname = \"Desk\"\n[[phones]]\nname = \"Wall\"");
    let phone = driver.open("mock1", 1).expect("opens");
    phone.dev_specific(1, &command::press(5));
    phone.dev_specific(2, &command::hookswitch(HookSwitchMode::MicSpeaker));
    phone.dev_specific(3, &command::fault("set_data", "fail RESOURCEUNAVAIL"));
    phone.set_data(4, 0, b"x");
    phone.dev_specific(5, &command::plain("disconnect"));
    phone.set_data(6, 0, b"x");
    phone.dev_specific(7, &command::plain("reconnect"));
    phone.dev_specific(8, &command::plain("arrive"));
    phone.dev_specific(9, b"dance");
    assert_eq!(host.wait(4), [Err(PhoneError::ResourceUnavail)]);
    assert_eq!(
        host.wait(6),
        [Err(PhoneError::InvalPhoneState)],
        "refused while away"
    );
    assert_eq!(
        host.wait(9),
        [Err(PhoneError::InvalParam)],
        "unknown command"
    );
    let events = host.phone_events();
    let down = PhoneEvent::Button {
        id: 5,
        mode: ButtonModes::KEYPAD,
        state: ButtonStates::DOWN,
    };
    let up = PhoneEvent::Button {
        id: 5,
        mode: ButtonModes::KEYPAD,
        state: ButtonStates::UP,
    };
    let hook = PhoneEvent::HookSwitch {
        device: HookSwitchDevice::Handset,
        mode: HookSwitchMode::MicSpeaker,
    };
    assert_eq!(events[..3], [down, up, hook]);
    assert!(events.contains(&PhoneEvent::Disconnected) && events.contains(&PhoneEvent::Connected));
    let arrived = host.driver_events();
    assert!(
        matches!(&arrived[..], [DriverEvent::Arrived(info)] if info.key == "mock2" && info.caps.name == "Mock Phone 2"),
        "{arrived:?}"
    );
    assert_eq!(
        driver.devices().expect("devices").len(),
        3,
        "the new phone is enumerated"
    );
    phone.close();
    driver.shutdown();
}

#[test]
fn never_holds_a_request_until_cancel() {
    let _serial = serial();
    let (driver, host) = start("[faults]\nset_data = \"never\"");
    let phone = driver.open("mock1", 1).expect("opens");
    phone.set_data(1, 0, b"held");
    std::thread::sleep(Duration::from_millis(30));
    assert!(!host.completed(1), "held");
    phone.cancel();
    assert_eq!(host.wait(1), [Err(PhoneError::OperationFailed)]);
    phone.close();
    driver.shutdown();
}

/// Run as a child process: holds mock0 until its standard input closes.
#[test]
#[ignore = "a helper the lock test runs in a second process"]
fn hold_mock0_in_this_process() {
    let (driver, _) = start("");
    let phone = driver.open("mock0", 1).expect("the child opens mock0");
    println!("holding");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    phone.close();
    driver.shutdown();
}

#[test]
fn the_reservation_is_exclusive_in_this_process_and_across_processes() {
    let _serial = serial();
    let (driver, _) = start("");
    let first = driver.open("mock0", 1).expect("opens");
    let second = driver.open("mock0", 2).expect_err("held by the first");
    assert_eq!(second.code, PhoneError::Allocated);
    first.close();
    drop(first);

    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .args([
            "--ignored",
            "--exact",
            "hold_mock0_in_this_process",
            "--nocapture",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the child starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("holding"))),
        "the child holds mock0"
    );

    let other = driver
        .open("mock0", 3)
        .expect_err("held by the other process");
    assert_eq!(other.code, PhoneError::Allocated);
    assert!(
        other.message.contains("open elsewhere"),
        "{}",
        other.message
    );

    drop(child.stdin.take());
    assert!(child.wait().expect("the child ends").success());
    let again = driver
        .open("mock0", 4)
        .expect("free again after the child closed it");
    again.close();
    driver.shutdown();
}
