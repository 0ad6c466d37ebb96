//! What a handset's layout means as a TAPI phone: its button/lamp table, its
//! hookswitch device, its data areas.
//!
//! Button/lamp ids: the layout's buttons first, in descriptor order (the id a
//! PHONE_BUTTON carries), then one position per lamp, a lamp without a button
//! (`PHONEBUTTONMODE_DUMMY`). Data ids: the output reports, then the feature
//! reports, each by report id; SetData and GetData share them.

use tsp_core::{
    ButtonFunction, ButtonInfo, ButtonLamp, ButtonModes, ButtonStates, HookSwitchCaps,
    HookSwitchDevice, HookSwitchModes, LampModes, PhoneCaps, PhoneFeatures, PhoneStates,
    StringFormat,
};

use crate::descriptor::{PAGE_TELEPHONY, Usage};
use crate::handset::Layout;
use crate::usages;

/// The lamp modes a HID LED has: it is on or off.
pub const LAMP_MODES: LampModes = LampModes::OFF.union(LampModes::STEADY);

/// Where the hookswitch sits in TAPI: a headset when the Telephony application
/// collection says Headset (0x0B:0x05), else a handset.
pub fn hookswitch_device(layout: &Layout) -> HookSwitchDevice {
    if layout
        .applications
        .contains(&Usage::new(PAGE_TELEPHONY, 0x05))
    {
        HookSwitchDevice::Headset
    } else {
        HookSwitchDevice::Handset
    }
}

/// The TAPI id of lamp `index` of the layout.
pub fn lamp_id(layout: &Layout, index: usize) -> u32 {
    (layout.buttons.len() + index) as u32
}

/// The layout's lamp at TAPI id `id`, if that id is a lamp.
pub fn lamp_index(layout: &Layout, id: u32) -> Option<usize> {
    let index = (id as usize).checked_sub(layout.buttons.len())?;
    (index < layout.lamps.len()).then_some(index)
}

/// Keypad usages (0x0B:0xB0–0xBB) are keypad buttons; the rest are features.
fn button_mode(usage: Usage) -> ButtonModes {
    if usage.page == PAGE_TELEPHONY && (0xB0..=0xBB).contains(&usage.id) {
        ButtonModes::KEYPAD
    } else {
        ButtonModes::FEATURE
    }
}

/// The PHONEBUTTONFUNCTION_ of a Telephony-page button, where TAPI has one.
fn button_function(usage: Usage) -> ButtonFunction {
    if usage.page != PAGE_TELEPHONY {
        return ButtonFunction::Unknown;
    }
    match usage.id {
        0x21 => ButtonFunction::Flash,
        0x23 => ButtonFunction::Hold,
        0x25 => ButtonFunction::Transfer,
        0x26 => ButtonFunction::Drop,
        0x27 => ButtonFunction::Park,
        0x28 => ButtonFunction::Forward,
        0x2C => ButtonFunction::Conference,
        0x2F => ButtonFunction::Mute,
        0x50 => ButtonFunction::AbbrevDial,
        _ => ButtonFunction::Unknown,
    }
}

/// Every button and lamp position, in id order.
pub fn button_lamps(layout: &Layout) -> Vec<ButtonLamp> {
    let buttons = layout.buttons.iter().map(|button| ButtonLamp {
        mode: button_mode(button.usage),
        function: button_function(button.usage),
        lamp_modes: LampModes::DUMMY,
    });
    let lamps = layout.lamps.iter().map(|_| ButtonLamp {
        mode: ButtonModes::DUMMY,
        function: ButtonFunction::Unknown,
        lamp_modes: LAMP_MODES,
    });
    buttons.chain(lamps).collect()
}

/// PHONEBUTTONINFO of position `id`, labelled with the usage's name.
pub fn button_info(layout: &Layout, id: u32, state: ButtonStates) -> Option<ButtonInfo> {
    let position = *button_lamps(layout).get(id as usize)?;
    let text = match layout.buttons.get(id as usize) {
        Some(button) => button
            .label
            .map_or_else(|| usages::name(button.usage), str::to_owned),
        None => usages::name(layout.lamps.get(lamp_index(layout, id)?)?.usage),
    };
    Some(ButtonInfo {
        mode: position.mode,
        function: position.function,
        text,
        dev_specific: Vec::new(),
        state,
    })
}

/// Whether TSPI_phoneSetRing has something to drive: the Ringer usage, or a Ring
/// lamp.
pub fn can_ring(layout: &Layout) -> bool {
    layout.ringer.is_some() || layout.lamp_index(0x18).is_some()
}

/// Whether the hookswitch can be set from software: by the Off-Hook lamp that
/// headsets follow.
pub fn can_set_hookswitch(layout: &Layout) -> bool {
    layout.lamp_index(0x17).is_some()
}

/// The phone's capabilities.
pub fn phone_caps(layout: &Layout, name: &str, phone_info: &str, permanent_id: u32) -> PhoneCaps {
    // Layout::of keeps reports within the kernel's 16383 bytes; a hand-made area
    // past u32 is offered as the most TAPI can say (SetData checks the real size).
    let sizes: Vec<u32> = layout
        .data_areas
        .iter()
        .map(|a| u32::try_from(a.len).unwrap_or(u32::MAX))
        .collect();
    let mut caps = PhoneCaps {
        name: name.to_owned(),
        provider_info: format!("tsp-rs USB HID driver {}", env!("CARGO_PKG_VERSION")),
        phone_info: phone_info.to_owned(),
        permanent_id,
        string_format: Some(StringFormat::Unicode),
        phone_states: PhoneStates::CONNECTED | PhoneStates::DISCONNECTED | PhoneStates::OTHER,
        buttons: button_lamps(layout),
        set_data: sizes.clone(),
        get_data: sizes,
        ring_modes: u32::from(can_ring(layout)),
        ..PhoneCaps::default()
    };
    let mut features = PhoneFeatures::empty();
    if !caps.set_data.is_empty() {
        features |= PhoneFeatures::SETDATA | PhoneFeatures::GETDATA;
    }
    if !caps.buttons.is_empty() {
        features |= PhoneFeatures::GETBUTTONINFO;
    }
    if !layout.lamps.is_empty() {
        features |= PhoneFeatures::SETLAMP | PhoneFeatures::GETLAMP;
        caps.phone_states |= PhoneStates::LAMP;
    }
    if caps.ring_modes > 0 {
        features |= PhoneFeatures::SETRING | PhoneFeatures::GETRING;
        caps.phone_states |= PhoneStates::RINGMODE;
    }
    if layout.hookswitch.is_some() || can_set_hookswitch(layout) {
        let (hookswitch, get, set, state) = match hookswitch_device(layout) {
            HookSwitchDevice::Headset => (
                &mut caps.headset,
                PhoneFeatures::GETHOOKSWITCHHEADSET,
                PhoneFeatures::SETHOOKSWITCHHEADSET,
                PhoneStates::HEADSETHOOKSWITCH,
            ),
            _ => (
                &mut caps.handset,
                PhoneFeatures::GETHOOKSWITCHHANDSET,
                PhoneFeatures::SETHOOKSWITCHHANDSET,
                PhoneStates::HANDSETHOOKSWITCH,
            ),
        };
        let modes = HookSwitchModes::ONHOOK | HookSwitchModes::MICSPEAKER;
        let settable = if can_set_hookswitch(layout) {
            features |= set;
            modes
        } else {
            HookSwitchModes::empty()
        };
        *hookswitch = Some(HookSwitchCaps {
            modes,
            settable,
            monitored: modes,
            volume: false,
            gain: false,
        });
        features |= get;
        caps.phone_states |= state;
    }
    caps.features = features;
    caps
}
