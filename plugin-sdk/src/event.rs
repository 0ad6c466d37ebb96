//! Events a driver reports: per open phone, and device presence.

use tsp_core::{ButtonModes, ButtonStates, HookSwitchDevice, HookSwitchMode, LampModes};

use crate::abi::*;
use crate::driver::DeviceInfo;

/// Something that happened on an open phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneEvent {
    /// A button changed state.
    Button {
        /// The button/lamp id.
        id: u32,
        /// The kind of button.
        mode: ButtonModes,
        /// Its new state.
        state: ButtonStates,
    },
    /// A button was pressed on a device that cannot report its release: the host
    /// delivers DOWN and makes up the UP. (A device that reports releases sends
    /// [`PhoneEvent::Button`] DOWN and UP instead.)
    ButtonPressed {
        /// The button/lamp id.
        id: u32,
        /// The kind of button.
        mode: ButtonModes,
    },
    /// A hookswitch device changed mode.
    HookSwitch {
        /// The device.
        device: HookSwitchDevice,
        /// Its new mode.
        mode: HookSwitchMode,
    },
    /// The display changed.
    Display,
    /// The ring mode or volume changed.
    Ring {
        /// The ring mode (0 = silence).
        mode: u32,
        /// The volume, 0 to 0xFFFF.
        volume: u32,
    },
    /// A lamp changed mode.
    Lamp {
        /// The button/lamp id.
        id: u32,
        /// Its new mode.
        mode: LampModes,
    },
    /// A device's volume changed.
    Volume {
        /// The device.
        device: HookSwitchDevice,
        /// Its new volume.
        volume: u32,
    },
    /// A device's gain changed.
    Gain {
        /// The device.
        device: HookSwitchDevice,
        /// Its new gain.
        gain: u32,
    },
    /// The phone's capabilities changed: the host reads them again with
    /// [`crate::Driver::caps`] before it tells TAPI.
    CapsChanged,
    /// A vendor-defined event, passed to applications as PHONE_DEVSPECIFIC.
    DevSpecific([u32; 3]),
    /// The device went away for now; it may come back.
    Disconnected,
    /// The device is back.
    Connected,
    /// The device is gone for good.
    Removed,
}

impl PhoneEvent {
    pub(crate) fn to_ffi(self) -> FfiPhoneEvent {
        let (kind, params) = match self {
            Self::Button { id, mode, state } => {
                (PHONE_EVENT_BUTTON, [id, mode.bits(), state.bits()])
            }
            Self::ButtonPressed { id, mode } => (PHONE_EVENT_BUTTON_PRESSED, [id, mode.bits(), 0]),
            Self::HookSwitch { device, mode } => {
                (PHONE_EVENT_HOOKSWITCH, [device.code(), mode.code(), 0])
            }
            Self::Display => (PHONE_EVENT_DISPLAY, [0; 3]),
            Self::Ring { mode, volume } => (PHONE_EVENT_RING, [mode, volume, 0]),
            Self::Lamp { id, mode } => (PHONE_EVENT_LAMP, [id, mode.bits(), 0]),
            Self::Volume { device, volume } => (PHONE_EVENT_VOLUME, [device.code(), volume, 0]),
            Self::Gain { device, gain } => (PHONE_EVENT_GAIN, [device.code(), gain, 0]),
            Self::CapsChanged => (PHONE_EVENT_CAPS_CHANGED, [0; 3]),
            Self::DevSpecific(params) => (PHONE_EVENT_DEV_SPECIFIC, params),
            Self::Disconnected => (PHONE_EVENT_DISCONNECTED, [0; 3]),
            Self::Connected => (PHONE_EVENT_CONNECTED, [0; 3]),
            Self::Removed => (PHONE_EVENT_REMOVED, [0; 3]),
        };
        FfiPhoneEvent { kind, params }
    }

    /// `None` for kinds this SDK does not know (a newer plugin) or bad values.
    pub(crate) fn from_ffi(event: FfiPhoneEvent) -> Option<Self> {
        let [a, b, c] = event.params;
        Some(match event.kind {
            PHONE_EVENT_BUTTON => Self::Button {
                id: a,
                mode: ButtonModes::from_bits_retain(b),
                state: ButtonStates::from_bits_retain(c),
            },
            PHONE_EVENT_BUTTON_PRESSED => Self::ButtonPressed {
                id: a,
                mode: ButtonModes::from_bits_retain(b),
            },
            PHONE_EVENT_HOOKSWITCH => Self::HookSwitch {
                device: HookSwitchDevice::from_code(a)?,
                mode: HookSwitchMode::from_code(b)?,
            },
            PHONE_EVENT_DISPLAY => Self::Display,
            PHONE_EVENT_RING => Self::Ring { mode: a, volume: b },
            PHONE_EVENT_LAMP => Self::Lamp {
                id: a,
                mode: LampModes::from_bits_retain(b),
            },
            PHONE_EVENT_VOLUME => Self::Volume {
                device: HookSwitchDevice::from_code(a)?,
                volume: b,
            },
            PHONE_EVENT_GAIN => Self::Gain {
                device: HookSwitchDevice::from_code(a)?,
                gain: b,
            },
            PHONE_EVENT_CAPS_CHANGED => Self::CapsChanged,
            PHONE_EVENT_DEV_SPECIFIC => Self::DevSpecific([a, b, c]),
            PHONE_EVENT_DISCONNECTED => Self::Disconnected,
            PHONE_EVENT_CONNECTED => Self::Connected,
            PHONE_EVENT_REMOVED => Self::Removed,
            _ => return None,
        })
    }
}

/// A change in the presence of one of a driver's devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverEvent {
    /// A device not seen before.
    Arrived(Box<DeviceInfo>),
    /// The device with this key went away for now.
    Disconnected(String),
    /// The device with this key is back.
    Connected(String),
    /// The device with this key is gone for good.
    Removed(String),
}
