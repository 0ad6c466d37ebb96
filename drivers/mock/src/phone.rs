//! One mock device: its capabilities, its state, its faults, its data areas and
//! its reservation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use tsp_core::{
    ButtonFunction, ButtonLamp, ButtonModes, DisplayGeometry, HookSwitchCaps, HookSwitchMode,
    HookSwitchModes, LampModes, PhoneCaps, PhoneFeatures, PhoneStates, StringFormat,
};
use tsp_plugin_sdk::{DriverError, LockFile};

use crate::Fault;
use crate::config::PhoneConfig;

/// What a phone's device is doing now.
#[derive(Debug, Clone)]
pub(crate) struct DeviceState {
    pub(crate) connected: bool,
    pub(crate) removed: bool,
    pub(crate) hookswitch: HookSwitchMode,
    pub(crate) volume: u32,
    pub(crate) gain: u32,
    pub(crate) ring: (u32, u32),
    pub(crate) display: Vec<char>,
    /// Per button/lamp id: its current lamp mode and its label.
    pub(crate) lamps: Vec<LampModes>,
    pub(crate) labels: Vec<String>,
}

/// One mock device.
#[derive(Debug)]
pub(crate) struct Phone {
    pub(crate) key: String,
    pub(crate) config: PhoneConfig,
    /// Its capabilities (the `ring-modes` command changes them).
    caps: Mutex<PhoneCaps>,
    /// Bytes SetData accepts per area (less than advertised for a lying mock).
    pub(crate) accepted_size: u32,
    state: Mutex<DeviceState>,
    /// `connected && !removed` of the state, written under its lock: every
    /// request reads it, without the lock.
    present: std::sync::atomic::AtomicBool,
    faults: Mutex<HashMap<String, Fault>>,
    /// Whether any fault is set: the request path skips the lookup when none is.
    any_fault: std::sync::atomic::AtomicBool,
    /// This phone's data areas (shared with every phone of its permanent id).
    areas: Areas,
}

/// The data areas of every mock phone, by permanent id: they live as long as the
/// process, across close, reopen, shutdown and re-init (the design's contract).
/// One phone's data areas, shared by every session of its permanent id.
type Areas = Arc<Mutex<Vec<Vec<u8>>>>;

static DATA_AREAS: LazyLock<Mutex<HashMap<u32, Areas>>> = LazyLock::new(Default::default);

/// The areas of permanent id `id`, created zero-filled, sized as `config` says.
fn areas_of(id: u32, config: &PhoneConfig) -> Areas {
    let areas = Arc::clone(lock(&DATA_AREAS).entry(id).or_default());
    {
        let mut guard = lock(&areas);
        guard.resize_with(config.data_areas as usize, Vec::new);
        for area in guard.iter_mut() {
            area.resize(config.data_area_size as usize, 0);
        }
    }
    areas
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic injected into the mock must not poison it for the next request.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Phone {
    pub(crate) fn new(
        index: u32,
        config: PhoneConfig,
        faults: &HashMap<String, Fault>,
        lie: bool,
    ) -> Self {
        let caps = caps_of(index, &config);
        let accepted_size = if lie {
            config.data_area_size / 2
        } else {
            config.data_area_size
        };
        let cells = (config.display[0] * config.display[1]) as usize;
        Self {
            key: format!("mock{index}"),
            present: std::sync::atomic::AtomicBool::new(true),
            state: Mutex::new(DeviceState {
                connected: true,
                removed: false,
                hookswitch: HookSwitchMode::OnHook,
                volume: 0x8000,
                gain: 0x8000,
                ring: (0, 0x8000),
                display: vec![' '; cells],
                lamps: caps
                    .buttons
                    .iter()
                    .map(|b| {
                        if b.lamp_modes == LampModes::DUMMY {
                            LampModes::DUMMY
                        } else {
                            LampModes::OFF
                        }
                    })
                    .collect(),
                labels: (0..caps.buttons.len()).map(default_label).collect(),
            }),
            any_fault: std::sync::atomic::AtomicBool::new(!faults.is_empty()),
            faults: Mutex::new(faults.clone()),
            areas: areas_of(caps.permanent_id, &config),
            config,
            caps: Mutex::new(caps),
            accepted_size,
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, DeviceState> {
        lock(&self.state)
    }

    /// Whether the device is connected and not removed.
    pub(crate) fn is_present(&self) -> bool {
        self.present.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The device connected or disconnected.
    pub(crate) fn set_connected(&self, connected: bool) {
        let mut state = self.state();
        state.connected = connected;
        self.present.store(
            connected && !state.removed,
            std::sync::atomic::Ordering::Release,
        );
    }

    /// The device gone for good.
    pub(crate) fn set_removed(&self) {
        let mut state = self.state();
        state.removed = true;
        self.present
            .store(false, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn fault(&self, operation: &str) -> Fault {
        if !self.any_fault.load(std::sync::atomic::Ordering::Acquire) {
            return Fault::None;
        }
        let faults = lock(&self.faults);
        faults
            .get(operation)
            .or_else(|| faults.get("all"))
            .copied()
            .unwrap_or(Fault::None)
    }

    pub(crate) fn set_fault(&self, operation: &str, fault: Fault) {
        lock(&self.faults).insert(operation.to_owned(), fault);
        self.any_fault
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Runs `f` on this phone's data areas, creating them zero-filled at first use.
    pub(crate) fn with_areas<T>(&self, f: impl FnOnce(&mut Vec<Vec<u8>>) -> T) -> T {
        f(&mut lock(&self.areas))
    }

    /// Takes the device's reservation: an exclusive OS file lock named after the
    /// permanent id, so a second open fails in this process or any other.
    pub(crate) fn reserve(&self, folder: Option<&Path>) -> Result<LockFile, DriverError> {
        let caps = self.caps();
        match folder {
            Some(folder) => LockFile::take_in(folder, "mock", caps.permanent_id, &caps.name),
            None => LockFile::take("mock", caps.permanent_id, &caps.name),
        }
    }

    /// The capabilities now.
    pub(crate) fn caps(&self) -> PhoneCaps {
        lock(&self.caps).clone()
    }

    /// Changes the number of ring modes (a caps change).
    pub(crate) fn set_ring_modes(&self, modes: u32) {
        lock(&self.caps).ring_modes = modes;
    }
}

/// A button's label at start: the keypad's digits, `*`, `#`, then `F1`, `F2` ….
fn default_label(id: usize) -> String {
    match id {
        0..=9 => id.to_string(),
        10 => "*".to_owned(),
        11 => "#".to_owned(),
        _ => format!("F{}", id - 11),
    }
}

/// The lock file of the phone with this permanent id (with no `lock_dir` set).
pub fn lock_path(permanent_id: u32) -> PathBuf {
    LockFile::path("mock", permanent_id)
}

/// The capabilities a phone configuration gives.
pub(crate) fn caps_of(index: u32, config: &PhoneConfig) -> PhoneCaps {
    let mut features = PhoneFeatures::empty();
    let mut states = PhoneStates::CONNECTED | PhoneStates::DISCONNECTED | PhoneStates::CAPSCHANGE;
    if config.data_areas > 0 {
        features |= PhoneFeatures::SETDATA | PhoneFeatures::GETDATA;
    }
    let [rows, columns] = config.display;
    let display = (rows > 0 && columns > 0).then_some(DisplayGeometry { rows, columns });
    if display.is_some() {
        features |= PhoneFeatures::SETDISPLAY | PhoneFeatures::GETDISPLAY;
        states |= PhoneStates::DISPLAY;
    }
    let mut buttons = Vec::new();
    if config.keypad {
        let key = ButtonLamp {
            mode: ButtonModes::KEYPAD,
            function: ButtonFunction::None,
            lamp_modes: LampModes::DUMMY,
        };
        buttons.extend(std::iter::repeat_n(key, 12));
    }
    if config.lamps > 0 {
        features |= PhoneFeatures::SETLAMP | PhoneFeatures::GETLAMP;
        states |= PhoneStates::LAMP;
        let feature = ButtonLamp {
            mode: ButtonModes::FEATURE,
            function: ButtonFunction::Hold,
            lamp_modes: LampModes::OFF | LampModes::STEADY | LampModes::FLASH,
        };
        buttons.extend(std::iter::repeat_n(feature, config.lamps as usize));
    }
    if !buttons.is_empty() {
        features |= PhoneFeatures::GETBUTTONINFO | PhoneFeatures::SETBUTTONINFO;
    }
    let handset = config.handset.then(|| {
        features |= PhoneFeatures::GETHOOKSWITCHHANDSET
            | PhoneFeatures::SETHOOKSWITCHHANDSET
            | PhoneFeatures::GETVOLUMEHANDSET
            | PhoneFeatures::SETVOLUMEHANDSET
            | PhoneFeatures::GETGAINHANDSET
            | PhoneFeatures::SETGAINHANDSET;
        states |=
            PhoneStates::HANDSETHOOKSWITCH | PhoneStates::HANDSETVOLUME | PhoneStates::HANDSETGAIN;
        let modes = HookSwitchModes::ONHOOK | HookSwitchModes::MICSPEAKER;
        HookSwitchCaps {
            modes,
            settable: modes,
            monitored: modes,
            volume: true,
            gain: true,
        }
    });
    if config.ring_modes > 0 {
        features |= PhoneFeatures::GETRING | PhoneFeatures::SETRING;
        states |= PhoneStates::RINGMODE | PhoneStates::RINGVOLUME;
    }
    PhoneCaps {
        name: config
            .name
            .clone()
            .unwrap_or_else(|| format!("Mock Phone {index}")),
        provider_info: format!("tsp-rs mock driver {}", env!("CARGO_PKG_VERSION")),
        phone_info: "scriptable mock phone".to_owned(),
        permanent_id: crate::default_permanent_id(index),
        permanent_guid: 0x7473_702d_7273_4d6f_636b_0000_0000_0000 | u128::from(index),
        string_format: Some(StringFormat::Unicode),
        phone_states: states,
        handset,
        display,
        ring_modes: config.ring_modes,
        buttons,
        set_data: vec![config.data_area_size; config.data_areas as usize],
        get_data: vec![config.data_area_size; config.data_areas as usize],
        device_classes: vec!["tsp-rs/mock".to_owned()],
        features,
        ..PhoneCaps::default()
    }
}
