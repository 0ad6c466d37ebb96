//! An open mock phone.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tsp_core::{
    ButtonInfo, ButtonModes, ButtonStates, HookSwitchDevice, HookSwitchDevs, HookSwitchMode,
    HookSwitchStatus, LampModes, PhoneError, PhoneFeatures, PhoneStatus, PhoneStatusFlags,
};
use tsp_plugin_sdk::{Completion, LockFile, PhoneEvent, PhoneEvents, Session};

use crate::command::{self, Command};
use crate::config::CompletionMode;
use crate::phone::Phone;
use crate::worker::Pending;
use crate::{Fault, Shared};

/// The operations faults can be set for.
pub const OPERATIONS: [&str; 13] = [
    "set_data",
    "get_data",
    "set_display",
    "set_hookswitch",
    "set_ring",
    "set_volume",
    "set_gain",
    "get_status",
    "dev_specific",
    "set_lamp",
    "set_button_info",
    "open",
    "close",
];

/// A presence fault a request commits.
#[derive(Debug, Clone, Copy)]
enum Presence {
    Disconnect,
    Remove,
}

impl Presence {
    fn commit(self, phone: &Phone, events: &PhoneEvents) {
        match self {
            Self::Disconnect => {
                phone.set_connected(false);
                events.send(PhoneEvent::Disconnected);
            }
            Self::Remove => {
                phone.set_removed();
                events.removed();
            }
        }
    }
}

pub(crate) struct MockSession {
    phone: Arc<Phone>,
    shared: Arc<Shared>,
    events: PhoneEvents,
    pending: Arc<Pending>,
    /// Set by close: a presence fault due later is not committed for a session
    /// that is gone (the host would never hear of it, the device would be).
    closed: Arc<std::sync::atomic::AtomicBool>,
    requests: AtomicU32,
    /// The file lock; taken out by `close`, which releases the device.
    reservation: Mutex<Option<LockFile>>,
}

impl MockSession {
    pub(crate) fn new(
        phone: Arc<Phone>,
        shared: Arc<Shared>,
        events: PhoneEvents,
        reservation: Option<LockFile>,
    ) -> Self {
        Self {
            phone,
            shared,
            events,
            pending: Arc::default(),
            closed: Arc::default(),
            requests: AtomicU32::new(0),
            reservation: Mutex::new(reservation),
        }
    }

    /// Counts a request: the presence fault due at this count, if any.
    fn count_request(&self, fault: Fault) -> Option<Presence> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        match fault {
            Fault::DisconnectAfter(limit) if n == limit => Some(Presence::Disconnect),
            Fault::RemoveAfter(limit) if n == limit => Some(Presence::Remove),
            _ => None,
        }
    }

    fn check_present(&self) -> Result<(), PhoneError> {
        if !self.phone.is_present() {
            return Err(PhoneError::InvalPhoneState);
        }
        Ok(())
    }

    /// Runs an asynchronous operation: does `work` now and completes as the fault
    /// and the configuration say.
    fn run(
        &self,
        operation: &str,
        done: Completion,
        work: impl FnOnce() -> Result<(), PhoneError>,
    ) {
        self.shared.hung.wait();
        let fault = self.phone.fault(operation);
        if let Err(error) = self.check_present() {
            return done.complete(Err(error));
        }
        let delay = |ms| Some(Duration::from_millis(ms));
        let later = match (fault, self.shared.config.completion) {
            (Fault::Panic, _) => panic!("mock fault: panic in {operation}"),
            (Fault::PanicOnThread, _) => {
                let spawned = std::thread::Builder::new()
                    .name("tsp-mock-panic".into())
                    .spawn(move || {
                        let _held = done;
                        panic!("mock fault: panic on a driver thread");
                    });
                if let Err(error) = spawned {
                    tracing::error!("cannot start a thread: {error}");
                }
                return;
            }
            (Fault::Never, _) => {
                self.pending.hold(done, Err(PhoneError::OperationFailed));
                return;
            }
            (Fault::Fail(error), _) => return done.complete(Err(error)),
            (Fault::Inline, _) => None,
            (Fault::Stall(ms), _) => {
                std::thread::sleep(Duration::from_millis(ms));
                None
            }
            (Fault::Delay(ms), _) => delay(ms),
            (Fault::Worker, _) | (_, CompletionMode::Worker) => delay(self.shared.config.delay_ms),
            _ => None,
        };
        let result = work();
        let presence = self.count_request(fault);
        match later {
            None => {
                if let Some(presence) = presence {
                    self.commit(presence);
                }
                done.complete(result);
            }
            Some(delay) => {
                let id = self.pending.hold(done, result);
                let pending = Arc::clone(&self.pending);
                // A request completed later sees the device go while it is in
                // flight: the presence fault comes just before its completion.
                let (phone, events) = (Arc::clone(&self.phone), self.events.clone());
                let closed = Arc::clone(&self.closed);
                self.shared.worker.schedule(delay, move || {
                    if let Some(presence) = presence
                        && !closed.load(Ordering::Acquire)
                    {
                        presence.commit(&phone, &events);
                    }
                    pending.release(id);
                });
            }
        }
    }

    fn commit(&self, presence: Presence) {
        presence.commit(&self.phone, &self.events);
    }

    /// Runs a synchronous operation under its fault.
    fn get<T>(
        &self,
        operation: &str,
        work: impl FnOnce() -> Result<T, PhoneError>,
    ) -> Result<T, PhoneError> {
        self.shared.hung.wait();
        match self.phone.fault(operation) {
            Fault::Panic => panic!("mock fault: panic in {operation}"),
            Fault::Fail(error) => Err(error),
            Fault::Delay(ms) => {
                // A slow device: the host's deadline for synchronous calls is tested on it.
                std::thread::sleep(Duration::from_millis(ms));
                work()
            }
            _ => work(),
        }
    }

    fn set_connected(&self, connected: bool) {
        self.phone.set_connected(connected);
        self.events.send(if connected {
            PhoneEvent::Connected
        } else {
            PhoneEvent::Disconnected
        });
    }

    fn remove(&self) {
        self.phone.set_removed();
        self.events.removed();
    }

    fn execute(&self, command: Command) -> Result<(), PhoneError> {
        match command {
            Command::Press(id) => {
                if !self.phone.config.keypad || id >= 12 {
                    return Err(PhoneError::InvalButtonLampId);
                }
                self.events.button_down(id, ButtonModes::KEYPAD);
                self.events.button_up(id, ButtonModes::KEYPAD);
            }
            Command::PressDown(id) => {
                self.check_key(id)?;
                self.events.button_pressed(id, ButtonModes::KEYPAD);
            }
            Command::Hold(id) => {
                self.check_key(id)?;
                self.events.button_down(id, ButtonModes::KEYPAD);
            }
            Command::Release(id) => {
                self.check_key(id)?;
                self.events.button_up(id, ButtonModes::KEYPAD);
            }
            Command::RingModes(modes) => {
                self.phone.set_ring_modes(modes);
                self.events.send(PhoneEvent::CapsChanged);
            }
            Command::HookSwitch(mode) => {
                if !self.phone.config.handset {
                    return Err(PhoneError::InvalHookSwitchDev);
                }
                self.phone.state().hookswitch = mode;
                self.events.hookswitch(HookSwitchDevice::Handset, mode);
            }
            Command::Disconnect => self.set_connected(false),
            Command::Reconnect => self.set_connected(true),
            Command::Remove => self.remove(),
            Command::Arrive => self.shared.arrive(),
            Command::RemoveDevice(key) => self.shared.remove_device(&key)?,
            Command::Fault(operation, fault) => self.phone.set_fault(&operation, fault),
            Command::Panic => panic!("mock command: panic"),
            // Taken before `execute` (`dev_specific`): they never complete here.
            Command::Crash | Command::Hang => return Err(PhoneError::OperationFailed),
        }
        Ok(())
    }

    fn check_key(&self, id: u32) -> Result<(), PhoneError> {
        if !self.phone.config.keypad || id >= 12 {
            return Err(PhoneError::InvalButtonLampId);
        }
        Ok(())
    }

    fn check_handset(&self, device: HookSwitchDevice) -> Result<(), PhoneError> {
        match (self.phone.config.handset, device) {
            (false, _) => Err(PhoneError::OperationUnavail),
            (true, HookSwitchDevice::Handset) => Ok(()),
            (true, _) => Err(PhoneError::InvalHookSwitchDev),
        }
    }
}

impl Session for MockSession {
    fn set_data(&self, data_id: u32, data: &[u8], done: Completion) {
        if self.phone.config.data_areas == 0 {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        if data.len() > self.phone.accepted_size as usize {
            // Refused before anything happens: TAPI gets a negative return.
            return done.complete(Err(PhoneError::OperationFailed));
        }
        self.run("set_data", done, || {
            self.phone.with_areas(|areas| {
                let area = areas
                    .get_mut(data_id as usize)
                    .ok_or(PhoneError::InvalDataId)?;
                area[..data.len()].copy_from_slice(data);
                Ok(())
            })
        });
    }

    fn get_data(&self, data_id: u32, buf: &mut [u8]) -> Result<(), PhoneError> {
        if self.phone.config.data_areas == 0 {
            return Err(PhoneError::OperationUnavail);
        }
        self.get("get_data", || {
            self.check_present()?;
            self.phone.with_areas(|areas| {
                let area = areas.get(data_id as usize).ok_or(PhoneError::InvalDataId)?;
                let n = buf.len().min(area.len());
                buf[..n].copy_from_slice(&area[..n]);
                Ok(())
            })
        })
    }

    fn set_display(&self, row: u32, column: u32, text: &str, done: Completion) {
        let [rows, columns] = self.phone.config.display;
        if self.phone.caps().display.is_none() {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        self.run("set_display", done, || {
            if row >= rows || column >= columns {
                return Err(PhoneError::InvalParam);
            }
            let start = (row * columns + column) as usize;
            let mut state = self.phone.state();
            for (cell, ch) in state.display[start..].iter_mut().zip(text.chars()) {
                *cell = ch;
            }
            drop(state);
            self.events.send(PhoneEvent::Display);
            Ok(())
        });
    }

    fn get_display(&self) -> Result<String, PhoneError> {
        if self.phone.caps().display.is_none() {
            return Err(PhoneError::OperationUnavail);
        }
        Ok(self.phone.state().display.iter().collect())
    }

    fn set_hookswitch(&self, devices: HookSwitchDevs, mode: HookSwitchMode, done: Completion) {
        if !self.phone.config.handset {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        self.run("set_hookswitch", done, || {
            if devices != HookSwitchDevs::HANDSET {
                return Err(PhoneError::InvalHookSwitchDev);
            }
            self.phone.state().hookswitch = mode;
            self.events.hookswitch(HookSwitchDevice::Handset, mode);
            Ok(())
        });
    }

    fn get_hookswitch(&self) -> Result<HookSwitchDevs, PhoneError> {
        if !self.phone.config.handset {
            return Err(PhoneError::OperationUnavail);
        }
        let off_hook = self.phone.state().hookswitch.is_off_hook();
        Ok(if off_hook {
            HookSwitchDevs::HANDSET
        } else {
            HookSwitchDevs::empty()
        })
    }

    fn set_ring(&self, mode: u32, volume: u32, done: Completion) {
        let modes = self.phone.caps().ring_modes;
        if modes == 0 {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        self.run("set_ring", done, || {
            if mode > modes {
                return Err(PhoneError::InvalRingMode);
            }
            let before = std::mem::replace(&mut self.phone.state().ring, (mode, volume));
            if before != (mode, volume) {
                self.events.send(PhoneEvent::Ring { mode, volume });
            }
            Ok(())
        });
    }

    fn get_ring(&self) -> Result<(u32, u32), PhoneError> {
        if self.phone.caps().ring_modes == 0 {
            return Err(PhoneError::OperationUnavail);
        }
        Ok(self.phone.state().ring)
    }

    fn set_volume(&self, device: HookSwitchDevice, volume: u32, done: Completion) {
        if let Err(error) = self.check_handset(device) {
            return done.complete(Err(error));
        }
        self.run("set_volume", done, || {
            self.phone.state().volume = volume;
            Ok(())
        });
    }

    fn get_volume(&self, device: HookSwitchDevice) -> Result<u32, PhoneError> {
        self.check_handset(device)?;
        Ok(self.phone.state().volume)
    }

    fn set_gain(&self, device: HookSwitchDevice, gain: u32, done: Completion) {
        if let Err(error) = self.check_handset(device) {
            return done.complete(Err(error));
        }
        self.run("set_gain", done, || {
            self.phone.state().gain = gain;
            Ok(())
        });
    }

    fn get_gain(&self, device: HookSwitchDevice) -> Result<u32, PhoneError> {
        self.check_handset(device)?;
        Ok(self.phone.state().gain)
    }

    fn get_button_info(&self, id: u32) -> Result<ButtonInfo, PhoneError> {
        let button = *self
            .phone
            .caps()
            .buttons
            .get(id as usize)
            .ok_or(PhoneError::OperationUnavail)?;
        let label = self
            .phone
            .state()
            .labels
            .get(id as usize)
            .cloned()
            .unwrap_or_default();
        Ok(ButtonInfo {
            mode: button.mode,
            function: button.function,
            text: label,
            dev_specific: Vec::new(),
            state: ButtonStates::UP,
        })
    }

    fn set_button_info(&self, id: u32, info: &ButtonInfo, done: Completion) {
        if self.phone.caps().buttons.is_empty() {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        self.run("set_button_info", done, || {
            let mut state = self.phone.state();
            let label = state
                .labels
                .get_mut(id as usize)
                .ok_or(PhoneError::InvalButtonLampId)?;
            *label = info.text.clone();
            Ok(())
        });
    }

    fn set_lamp(&self, id: u32, mode: LampModes, done: Completion) {
        if self.phone.config.lamps == 0 {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        self.run("set_lamp", done, || {
            let supported = self
                .phone
                .caps()
                .buttons
                .get(id as usize)
                .ok_or(PhoneError::InvalButtonLampId)?
                .lamp_modes;
            if !supported.contains(mode) || mode == LampModes::DUMMY {
                return Err(PhoneError::InvalLampMode);
            }
            self.phone.state().lamps[id as usize] = mode;
            self.events.send(PhoneEvent::Lamp { id, mode });
            Ok(())
        });
    }

    fn get_lamp(&self, id: u32) -> Result<LampModes, PhoneError> {
        if self.phone.config.lamps == 0 {
            return Err(PhoneError::OperationUnavail);
        }
        self.phone
            .state()
            .lamps
            .get(id as usize)
            .copied()
            .ok_or(PhoneError::InvalButtonLampId)
    }

    fn get_status(&self) -> Result<PhoneStatus, PhoneError> {
        self.get("get_status", || {
            let state = self.phone.state();
            let connected = state.connected && !state.removed;
            Ok(PhoneStatus {
                flags: if connected {
                    PhoneStatusFlags::CONNECTED
                } else {
                    PhoneStatusFlags::empty()
                },
                ring_mode: state.ring.0,
                ring_volume: state.ring.1,
                handset: self.phone.config.handset.then_some(HookSwitchStatus {
                    mode: state.hookswitch,
                    volume: state.volume,
                    gain: state.gain,
                }),
                display: self
                    .phone
                    .caps()
                    .display
                    .map(|_| state.display.iter().collect()),
                // PHONESTATUS carries each lamp's current mode, not the modes
                // it supports (those are in PHONECAPS).
                lamp_modes: state.lamps.clone(),
                features: if connected {
                    self.phone.caps().features
                } else {
                    PhoneFeatures::empty()
                },
                ..PhoneStatus::default()
            })
        })
    }

    fn dev_specific(&self, params: &[u8], done: Completion) {
        let command = match command::parse(params) {
            Ok(command) => command,
            Err(problem) => {
                tracing::warn!(phone = %self.phone.key, "DevSpecific refused: {problem}");
                return done.complete(Err(PhoneError::InvalParam));
            }
        };
        // Presence commands work while the device is away; the rest go through `run`.
        match command {
            Command::Crash => {
                tracing::error!(phone = %self.phone.key, "mock command: crash (the process aborts)");
                std::process::abort();
            }
            Command::Hang => {
                tracing::warn!(phone = %self.phone.key, "mock command: hang (every call blocks until shutdown)");
                // Held through the hang: dropped at shutdown, it completes
                // with OPERATIONFAILED then.
                let _held = done;
                self.shared.hung.start();
            }
            Command::Reconnect | Command::Remove | Command::Fault(..) | Command::Panic => {
                done.complete(self.execute(command));
            }
            _ => self.run("dev_specific", done, || self.execute(command)),
        }
    }

    fn cancel(&self) {
        self.shared.hung.wait();
        if self.shared.config.ignore_cancel {
            tracing::warn!("misbehaving on purpose: cancel ignored");
            return;
        }
        self.pending.cancel_all();
    }

    fn close(&self) {
        self.shared.hung.wait();
        self.closed.store(true, Ordering::Release);
        if self.phone.fault("close") == Fault::Panic {
            panic!("mock fault: panic in close");
        }
        if !self.shared.config.ignore_cancel {
            self.pending.cancel_all();
        }
        // Dropping the file releases the lock.
        drop(
            self.reservation
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }
}
