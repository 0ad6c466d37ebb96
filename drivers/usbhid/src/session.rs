//! An open phone: the reservation, the running [`Device`], the requests queued
//! for it, and the simulated handset's `TSPI_phoneDevSpecific` commands.
//!
//! Commands (UTF-8, a trailing NUL allowed), for simulated handsets only:
//!
//! | command | effect |
//! | --- | --- |
//! | `input HEX` | a HID handset sends input report `HEX` (`"02 01"` or `"0201"`) |
//! | `key HEX` | the user presses the P1K key with scancode `HEX` (`ff`: releases it) |
//! | `unplug [MS]` | the handset goes away; back after `MS` milliseconds if given |
//! | `arrive PATH [SERIAL]` | a new simulated handset with descriptor `PATH` is plugged in |
//!
//! A real handset answers every command with `OPERATIONUNAVAIL`; a simulated one
//! answers a command it does not know with `INVALPARAM`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tsp_core::{
    ButtonInfo, ButtonModes, ButtonStates, HookSwitchDevice, HookSwitchDevs, HookSwitchMode,
    HookSwitchStatus, LampModes, PhoneError, PhoneStatus, PhoneStatusFlags,
};
use tsp_plugin_sdk::{Completion, DriverError, LockFile, PhoneEvents, RequestWorker, Session};

use crate::candidate::{Candidate, Protocol, SimulatedDevice, Source, permanent_id};
use crate::caps;
use crate::config::SimulatedConfig;
use crate::device::{Control, Device, DeviceError, DeviceEvent};
use crate::handset::{DataError, HandsetEvent, Layout};
use crate::lock;
use crate::p1k::P1k;
use crate::transport::{Transport, TransportError};

/// The lock file that reserves the phone with this permanent id across
/// processes (a second open of the interface is refused by the kernel too, but
/// a simulated handset has no kernel).
pub fn lock_path(permanent_id: u32) -> PathBuf {
    LockFile::path("usbhid", permanent_id)
}

/// What an open phone asks of the driver that opened it, which implements it:
/// the session knows nothing of the driver's registry or watcher.
pub(crate) trait Presence: Send + Sync {
    /// The device's transfers say it is gone: it is reported disconnected (once).
    fn gone(&self, key: &str);

    /// Unplugs simulated handset `key` (the `unplug` command); it comes back
    /// `after` later (never without).
    fn unplug_simulated(&self, key: &str, after: Option<Duration>);

    /// Adds a simulated handset (the `arrive` command); the next scan finds it.
    ///
    /// # Errors
    /// Why it cannot be added, for the log.
    fn add_simulated(&self, config: &SimulatedConfig) -> Result<(), String>;
}

/// What the phone is doing, as TAPI asks it.
#[derive(Debug, Default)]
struct State {
    off_hook: bool,
    ring: (u32, u32),
}

/// An open phone's device, shared by its session and the driver's watcher.
#[derive(Debug)]
pub(crate) struct Live {
    key: String,
    layout: Layout,
    hookswitch: HookSwitchDevice,
    protocol: Protocol,
    device: Mutex<Option<Box<dyn Control>>>,
    state: Arc<Mutex<State>>,
    events: PhoneEvents,
    shared: Weak<dyn Presence>,
    simulated: Option<SimulatedDevice>,
    /// Held while open; letting go of it lets another process open the phone.
    reservation: Mutex<Option<LockFile>>,
}

impl Live {
    /// Reserves the device; nothing runs until [`Live::attach`].
    pub(crate) fn reserve(
        candidate: &Candidate,
        events: PhoneEvents,
        shared: Weak<dyn Presence>,
    ) -> Result<Arc<Self>, DriverError> {
        let reservation = LockFile::take("usbhid", permanent_id(&candidate.key), &candidate.key)?;
        let simulated = match &candidate.source {
            Source::Simulated(handset) => Some(handset.clone()),
            #[cfg(all(unix, feature = "usb"))]
            Source::Usb(_) => None,
            #[cfg(all(target_os = "linux", feature = "hidraw"))]
            Source::Hidraw(_) => None,
            #[cfg(all(windows, feature = "winhid"))]
            Source::WinHid(_) => None,
        };
        Ok(Arc::new(Self {
            key: candidate.key.clone(),
            layout: candidate.layout.clone(),
            hookswitch: caps::hookswitch_device(&candidate.layout),
            protocol: candidate.protocol,
            device: Mutex::default(),
            state: Arc::default(),
            events,
            shared,
            simulated,
            reservation: Mutex::new(Some(reservation)),
        }))
    }

    /// Starts the device over `transport`, replacing one that went away.
    pub(crate) fn attach(&self, transport: Arc<dyn Transport>) -> Result<(), DriverError> {
        let handler = self.event_handler();
        let started: std::io::Result<Box<dyn Control>> = match self.protocol {
            Protocol::Hid => Device::start(self.layout.clone(), transport, handler)
                .map(|d| Box::new(d) as Box<dyn Control>),
            Protocol::YealinkP1k => {
                P1k::start(transport, handler).map(|d| Box::new(d) as Box<dyn Control>)
            }
        };
        let device = started.map_err(|e| {
            DriverError::new(
                PhoneError::OperationFailed,
                format!("cannot start the reader: {e}"),
            )
        })?;
        // The old device, if any, stops (its reader has ended) outside the lock.
        let old = lock(&self.device).replace(device);
        drop(old);
        Ok(())
    }

    /// What the reader does with each event: PHONE_BUTTON, PHONE_STATE, presence.
    fn event_handler(&self) -> impl FnMut(DeviceEvent) + Send + 'static {
        let events = self.events.clone();
        let state = Arc::clone(&self.state);
        let shared = self.shared.clone();
        let key = self.key.clone();
        let hookswitch = self.hookswitch;
        let modes: Vec<ButtonModes> = caps::button_lamps(&self.layout)
            .iter()
            .map(|b| b.mode)
            .collect();
        move |event| match event {
            DeviceEvent::Handset(HandsetEvent::Hookswitch(off_hook)) => {
                lock(&state).off_hook = off_hook;
                events.hookswitch(hookswitch, hook_mode(off_hook));
            }
            DeviceEvent::Handset(HandsetEvent::ButtonDown(id)) => {
                events.button_down(id, mode_of(&modes, id));
            }
            DeviceEvent::Handset(HandsetEvent::ButtonUp(id)) => {
                events.button_up(id, mode_of(&modes, id));
            }
            DeviceEvent::BadReport(_) => {}
            DeviceEvent::Disconnected => {
                if let Some(shared) = shared.upgrade() {
                    shared.gone(&key);
                }
            }
        }
    }

    /// Runs `f` on the device; `INVALPHONESTATE` while it is away.
    fn with_device<T>(
        &self,
        f: impl FnOnce(&dyn Control) -> Result<T, DeviceError>,
    ) -> Result<T, PhoneError> {
        let device = lock(&self.device);
        let device = device.as_deref().ok_or(PhoneError::InvalPhoneState)?;
        f(device).map_err(phone_error)
    }

    /// Stops the device and releases the reservation.
    fn stop(&self) {
        let device = lock(&self.device).take();
        drop(device);
        lock(&self.reservation).take();
    }
}

fn mode_of(modes: &[ButtonModes], id: u32) -> ButtonModes {
    modes
        .get(id as usize)
        .copied()
        .unwrap_or(ButtonModes::FEATURE)
}

fn hook_mode(off_hook: bool) -> HookSwitchMode {
    if off_hook {
        HookSwitchMode::MicSpeaker
    } else {
        HookSwitchMode::OnHook
    }
}

/// The TAPI code of a device failure.
fn phone_error(error: DeviceError) -> PhoneError {
    match error {
        DeviceError::NoSuchControl => PhoneError::OperationUnavail,
        DeviceError::Data(DataError::NoSuchArea(_)) => PhoneError::InvalDataId,
        DeviceError::Data(DataError::TooLong { .. }) => PhoneError::OperationFailed,
        DeviceError::Transport(TransportError::Gone) => PhoneError::InvalPhoneState,
        DeviceError::Transport(TransportError::Io(_) | TransportError::NoAnswer(_)) => {
            PhoneError::OperationFailed
        }
        DeviceError::Transport(TransportError::Unsupported(_)) => PhoneError::OperationUnavail,
        DeviceError::Packet(_) => PhoneError::OperationFailed,
    }
}

/// The session TAPI holds: requests go to one worker thread, in order, because a
/// USB transfer may take up to a second.
pub(crate) struct HidSession {
    live: Arc<Live>,
    shared: Arc<dyn Presence>,
    worker: RequestWorker<Live>,
}

impl std::fmt::Debug for HidSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HidSession")
            .field("key", &self.live.key)
            .finish_non_exhaustive()
    }
}

impl HidSession {
    pub(crate) fn new(live: Arc<Live>, shared: Arc<dyn Presence>) -> Self {
        let worker = RequestWorker::start("tsp-usbhid-requests", Arc::clone(&live));
        Self {
            live,
            shared,
            worker,
        }
    }

    /// Queues `work`; its result completes `done`.
    fn run(
        &self,
        done: Completion,
        work: impl FnOnce(&Live) -> Result<(), PhoneError> + Send + 'static,
    ) {
        self.worker.run(done, work);
    }

    fn simulated_command(&self, device: &SimulatedDevice, text: &str) -> Result<(), PhoneError> {
        let mut words = text.split_whitespace();
        match (words.next(), words.next(), words.next(), device) {
            (Some("input"), Some(_), _, SimulatedDevice::Hid(handset)) => {
                let report = crate::inspect::parse_hex(&text["input".len()..])
                    .map_err(|_| PhoneError::InvalParam)?;
                if report.is_empty() {
                    return Err(PhoneError::InvalParam);
                }
                handset.send(&report);
                Ok(())
            }
            (Some("key"), Some(code), None, SimulatedDevice::P1k(phone)) => {
                let scancode = u8::from_str_radix(code, 16).map_err(|_| PhoneError::InvalParam)?;
                phone.key(scancode);
                Ok(())
            }
            (Some("unplug"), after, None, _) => {
                let after = match after {
                    Some(ms) => Some(Duration::from_millis(
                        ms.parse().map_err(|_| PhoneError::InvalParam)?,
                    )),
                    None => None,
                };
                self.shared.unplug_simulated(&self.live.key, after);
                Ok(())
            }
            (Some("arrive"), Some(path), serial, _) => {
                let config = SimulatedConfig {
                    descriptor: Some(path.into()),
                    serial: serial.map(str::to_owned),
                    ..SimulatedConfig::default()
                };
                self.shared.add_simulated(&config).map_err(|why| {
                    tracing::warn!("arrive: {why}");
                    PhoneError::InvalParam
                })
            }
            _ => Err(PhoneError::InvalParam),
        }
    }
}

impl Session for HidSession {
    fn set_data(&self, data_id: u32, data: &[u8], done: Completion) {
        if data_id as usize >= self.live.layout.data_areas.len() {
            return done.complete(Err(PhoneError::InvalDataId));
        }
        // A malformed ringtone is refused at once, not after a trip to the worker.
        if self.live.protocol == Protocol::YealinkP1k
            && data_id == crate::p1k::RINGTONE_AREA
            && let Err(error) = crate::yealink::ringtone(crate::yealink::Generation::G1, data)
        {
            tracing::info!(%error, "SetData refused");
            return done.complete(Err(PhoneError::OperationFailed));
        }
        let data = data.to_vec();
        self.run(done, move |live| {
            live.with_device(|device| device.set_data(data_id, &data))
        });
    }

    fn get_data(&self, data_id: u32, buf: &mut [u8]) -> Result<(), PhoneError> {
        let data = self.live.with_device(|device| device.get_data(data_id))?;
        let len = data.len().min(buf.len());
        buf[..len].copy_from_slice(&data[..len]);
        Ok(())
    }

    fn set_hookswitch(&self, devices: HookSwitchDevs, mode: HookSwitchMode, done: Completion) {
        if !caps::can_set_hookswitch(&self.live.layout) {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        // Another device of TAPI's (a handset on a headset) is a feature this
        // phone does not have: the kit and TAPI expect OPERATIONUNAVAIL for that.
        if devices != HookSwitchDevs::from(self.live.hookswitch) {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        let off_hook = match mode {
            HookSwitchMode::OnHook => false,
            HookSwitchMode::MicSpeaker => true,
            _ => return done.complete(Err(PhoneError::InvalHookSwitchMode)),
        };
        self.run(done, move |live| {
            live.with_device(|device| device.set_hookswitch(off_hook))?;
            let changed = std::mem::replace(&mut lock(&live.state).off_hook, off_hook) != off_hook;
            if changed {
                live.events.hookswitch(live.hookswitch, hook_mode(off_hook));
            }
            Ok(())
        });
    }

    fn get_hookswitch(&self) -> Result<HookSwitchDevs, PhoneError> {
        if self.live.layout.hookswitch.is_none() && !caps::can_set_hookswitch(&self.live.layout) {
            return Err(PhoneError::OperationUnavail);
        }
        Ok(if lock(&self.live.state).off_hook {
            HookSwitchDevs::from(self.live.hookswitch)
        } else {
            HookSwitchDevs::empty()
        })
    }

    fn set_ring(&self, mode: u32, volume: u32, done: Completion) {
        if !caps::can_ring(&self.live.layout) {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        if mode > 1 {
            return done.complete(Err(PhoneError::InvalRingMode));
        }
        self.run(done, move |live| {
            live.with_device(|device| device.set_ring(mode != 0, volume))?;
            lock(&live.state).ring = (mode, volume);
            Ok(())
        });
    }

    fn get_ring(&self) -> Result<(u32, u32), PhoneError> {
        if !caps::can_ring(&self.live.layout) {
            return Err(PhoneError::OperationUnavail);
        }
        Ok(lock(&self.live.state).ring)
    }

    fn set_lamp(&self, id: u32, mode: LampModes, done: Completion) {
        if self.live.layout.lamps.is_empty() {
            return done.complete(Err(PhoneError::OperationUnavail));
        }
        let Some(index) = caps::lamp_index(&self.live.layout, id) else {
            return done.complete(Err(PhoneError::InvalButtonLampId));
        };
        let on = if mode == LampModes::STEADY {
            true
        } else if mode == LampModes::OFF {
            false
        } else {
            return done.complete(Err(PhoneError::InvalLampMode));
        };
        self.run(done, move |live| {
            live.with_device(|device| device.set_lamp(index, on))
        });
    }

    fn get_lamp(&self, id: u32) -> Result<LampModes, PhoneError> {
        if self.live.layout.lamps.is_empty() {
            return Err(PhoneError::OperationUnavail);
        }
        let index = caps::lamp_index(&self.live.layout, id).ok_or(PhoneError::InvalButtonLampId)?;
        let on = self
            .live
            .with_device(|device| Ok(device.lamp_is_on(index)))?;
        Ok(if on {
            LampModes::STEADY
        } else {
            LampModes::OFF
        })
    }

    fn get_button_info(&self, id: u32) -> Result<ButtonInfo, PhoneError> {
        if caps::button_lamps(&self.live.layout).is_empty() {
            return Err(PhoneError::OperationUnavail);
        }
        caps::button_info(&self.live.layout, id, ButtonStates::UP)
            .ok_or(PhoneError::InvalButtonLampId)
    }

    fn get_status(&self) -> Result<PhoneStatus, PhoneError> {
        let layout = &self.live.layout;
        let connected = lock(&self.live.device).is_some();
        let (off_hook, ring) = {
            let state = lock(&self.live.state);
            (state.off_hook, state.ring)
        };
        let hookswitch = (layout.hookswitch.is_some() || caps::can_set_hookswitch(layout))
            .then_some(HookSwitchStatus {
                mode: hook_mode(off_hook),
                volume: 0,
                gain: 0,
            });
        let lamp_on = |index| {
            lock(&self.live.device)
                .as_deref()
                .is_some_and(|d| d.lamp_is_on(index))
        };
        let lamp_modes = (0..layout.buttons.len())
            .map(|_| LampModes::DUMMY)
            .chain((0..layout.lamps.len()).map(|index| {
                if lamp_on(index) {
                    LampModes::STEADY
                } else {
                    LampModes::OFF
                }
            }))
            .collect();
        let (mut handset, mut headset) = (None, None);
        match self.live.hookswitch {
            HookSwitchDevice::Headset => headset = hookswitch,
            _ => handset = hookswitch,
        }
        Ok(PhoneStatus {
            flags: if connected {
                PhoneStatusFlags::CONNECTED
            } else {
                PhoneStatusFlags::empty()
            },
            ring_mode: ring.0,
            ring_volume: ring.1,
            handset,
            headset,
            lamp_modes,
            ..PhoneStatus::default()
        })
    }

    fn dev_specific(&self, params: &[u8], done: Completion) {
        let Some(device) = &self.live.simulated else {
            return done.complete(Err(PhoneError::OperationUnavail));
        };
        let text = std::str::from_utf8(params)
            .map(|t| t.trim_end_matches('\0').trim())
            .map_err(|_| PhoneError::InvalParam);
        done.complete(text.and_then(|text| self.simulated_command(device, text)));
    }

    fn cancel(&self) {
        self.worker.cancel();
    }

    fn close(&self) {
        self.worker.stop();
        self.live.stop();
    }
}
