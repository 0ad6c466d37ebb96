//! `PhoneCaps`: what a phone can do, written into PHONECAPS (reference §4.2).

use std::mem::offset_of;

use crate::error::PhoneError;
use crate::sys::{GUID, PHONECAPS};
use crate::var::{
    VarReader, VarWriter, Written, dwords, from_dwords, from_utf16z, from_utf16z_list, utf16z_list,
};
use crate::version::TspiVersion;
use crate::vocab::{
    ButtonFunction, ButtonModes, HookSwitchDevice, HookSwitchDevs, HookSwitchModes, LampModes,
    PhoneFeatures, PhoneStates, StringFormat,
};

/// One hookswitch device of a phone: handset, speaker or headset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HookSwitchCaps {
    /// Every mode the device has (`dwXxxHookSwitchModes`).
    pub modes: HookSwitchModes,
    /// Modes `TSPI_phoneSetHookSwitch` may set (`dwSettableXxxHookSwitchModes`).
    pub settable: HookSwitchModes,
    /// Modes reported in PHONE_STATE and GetHookSwitch (`dwMonitoredXxxHookSwitchModes`).
    pub monitored: HookSwitchModes,
    /// Whether its volume can be set (`dwVolumeFlags`).
    pub volume: bool,
    /// Whether its gain can be set (`dwGainFlags`).
    pub gain: bool,
}

/// A button/lamp position (ids are indexes into [`PhoneCaps::buttons`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ButtonLamp {
    /// The kind of button; [`ButtonModes::DUMMY`] for a lamp without a button.
    pub mode: ButtonModes,
    /// What the button does.
    pub function: ButtonFunction,
    /// The modes its lamp supports; [`LampModes::DUMMY`] for a button without a lamp.
    pub lamp_modes: LampModes,
}

/// The display's size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplayGeometry {
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub columns: u32,
}

/// A typed description of a phone: the source of PHONECAPS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneCaps {
    /// The phone's name, as the user sees it.
    pub name: String,
    /// The provider: vendor and version.
    pub provider_info: String,
    /// The phone: model and firmware.
    pub phone_info: String,
    /// A stable id, never reused for another phone.
    pub permanent_id: u32,
    /// The permanent GUID (TSPI 2.2 and later); 0 for none.
    pub permanent_guid: u128,
    /// How the phone's strings (and display text) are encoded.
    pub string_format: Option<StringFormat>,
    /// The PHONESTATE_ changes the phone can report.
    pub phone_states: PhoneStates,
    /// The handset, if the phone has one.
    pub handset: Option<HookSwitchCaps>,
    /// The speakerphone, if the phone has one.
    pub speaker: Option<HookSwitchCaps>,
    /// The headset, if the phone has one.
    pub headset: Option<HookSwitchCaps>,
    /// The display, if any.
    pub display: Option<DisplayGeometry>,
    /// The number of ring modes (valid modes are `1..=ring_modes`; 0 is silence).
    pub ring_modes: u32,
    /// Buttons and lamps, indexed by button/lamp id.
    pub buttons: Vec<ButtonLamp>,
    /// Sizes in bytes of the SetData areas, indexed by data id.
    pub set_data: Vec<u32>,
    /// Sizes in bytes of the GetData areas, indexed by data id.
    pub get_data: Vec<u32>,
    /// Vendor-specific bytes.
    pub dev_specific: Vec<u8>,
    /// Device classes `TSPI_phoneGetID` answers.
    pub device_classes: Vec<String>,
    /// The phone functions that can ever be invoked.
    pub features: PhoneFeatures,
}

macro_rules! at {
    ($field:ident) => {
        offset_of!(PHONECAPS, $field)
    };
}

impl PhoneCaps {
    /// The fixed part of PHONECAPS for `version`: 144 bytes before 2.0, 180 for 2.0
    /// and 2.1, 196 from 2.2 (the version guards of the SDK header).
    pub const fn fixed_size(version: TspiVersion) -> usize {
        if version.raw() < TspiVersion::V2_0.raw() {
            at!(dwDeviceClassesSize)
        } else if version.raw() < TspiVersion::V2_2.raw() {
            at!(PermanentPhoneGuid)
        } else {
            size_of::<PHONECAPS>()
        }
    }

    /// The hookswitch devices the phone has, with their caps.
    pub fn hookswitch_devices(&self) -> impl Iterator<Item = (HookSwitchDevice, &HookSwitchCaps)> {
        [
            (HookSwitchDevice::Handset, &self.handset),
            (HookSwitchDevice::Speaker, &self.speaker),
            (HookSwitchDevice::Headset, &self.headset),
        ]
        .into_iter()
        .filter_map(|(device, caps)| caps.as_ref().map(|c| (device, c)))
    }

    /// The caps of one hookswitch device, if the phone has it.
    pub fn hookswitch(&self, device: HookSwitchDevice) -> Option<&HookSwitchCaps> {
        match device {
            HookSwitchDevice::Handset => self.handset.as_ref(),
            HookSwitchDevice::Speaker => self.speaker.as_ref(),
            HookSwitchDevice::Headset => self.headset.as_ref(),
        }
    }

    fn device_flags(&self, pick: impl Fn(&HookSwitchCaps) -> bool) -> u32 {
        self.hookswitch_devices()
            .filter(|(_, caps)| pick(caps))
            .fold(HookSwitchDevs::empty(), |acc, (dev, _)| acc | dev.into())
            .bits()
    }

    /// Writes PHONECAPS for `version` into `buf` (the whole structure, `dwTotalSize`
    /// bytes), following reference §4.1.
    pub fn write(&self, buf: &mut [u8], version: TspiVersion) -> Result<Written, PhoneError> {
        let mut w = VarWriter::new(buf, Self::fixed_size(version))?;
        let modes = |c: &Option<HookSwitchCaps>, pick: fn(&HookSwitchCaps) -> HookSwitchModes| {
            c.as_ref().map_or(0, |c| pick(c).bits())
        };
        let display = self.display.unwrap_or(DisplayGeometry {
            rows: 0,
            columns: 0,
        });

        w.put_u32(at!(dwPermanentPhoneID), self.permanent_id);
        w.put_u32(
            at!(dwStringFormat),
            self.string_format.map_or(0, StringFormat::code),
        );
        w.put_u32(at!(dwPhoneStates), self.phone_states.bits());
        w.put_u32(at!(dwHookSwitchDevs), self.device_flags(|_| true));
        w.put_u32(
            at!(dwHandsetHookSwitchModes),
            modes(&self.handset, |c| c.modes),
        );
        w.put_u32(
            at!(dwSpeakerHookSwitchModes),
            modes(&self.speaker, |c| c.modes),
        );
        w.put_u32(
            at!(dwHeadsetHookSwitchModes),
            modes(&self.headset, |c| c.modes),
        );
        w.put_u32(at!(dwVolumeFlags), self.device_flags(|c| c.volume));
        w.put_u32(at!(dwGainFlags), self.device_flags(|c| c.gain));
        w.put_u32(at!(dwDisplayNumRows), display.rows);
        w.put_u32(at!(dwDisplayNumColumns), display.columns);
        w.put_u32(at!(dwNumRingModes), self.ring_modes);
        w.put_u32(at!(dwNumButtonLamps), self.buttons.len() as u32);
        w.put_u32(at!(dwNumSetData), self.set_data.len() as u32);
        w.put_u32(at!(dwNumGetData), self.get_data.len() as u32);
        w.put_u32(at!(dwPhoneFeatures), self.features.bits());
        w.put_u32(
            at!(dwSettableHandsetHookSwitchModes),
            modes(&self.handset, |c| c.settable),
        );
        w.put_u32(
            at!(dwSettableSpeakerHookSwitchModes),
            modes(&self.speaker, |c| c.settable),
        );
        w.put_u32(
            at!(dwSettableHeadsetHookSwitchModes),
            modes(&self.headset, |c| c.settable),
        );
        w.put_u32(
            at!(dwMonitoredHandsetHookSwitchModes),
            modes(&self.handset, |c| c.monitored),
        );
        w.put_u32(
            at!(dwMonitoredSpeakerHookSwitchModes),
            modes(&self.speaker, |c| c.monitored),
        );
        w.put_u32(
            at!(dwMonitoredHeadsetHookSwitchModes),
            modes(&self.headset, |c| c.monitored),
        );
        w.put_bytes(at!(PermanentPhoneGuid), &guid_bytes(self.permanent_guid));

        // DWORD arrays first, so they stay 4-byte aligned behind the fixed part.
        let buttons = |f: fn(&ButtonLamp) -> u32| dwords(self.buttons.iter().map(f));
        w.put_member(
            at!(dwButtonModesSize),
            at!(dwButtonModesOffset),
            &buttons(|b| b.mode.bits()),
        );
        w.put_member(
            at!(dwButtonFunctionsSize),
            at!(dwButtonFunctionsOffset),
            &buttons(|b| b.function.code()),
        );
        w.put_member(
            at!(dwLampModesSize),
            at!(dwLampModesOffset),
            &buttons(|b| b.lamp_modes.bits()),
        );
        w.put_member(
            at!(dwSetDataSize),
            at!(dwSetDataOffset),
            &dwords(self.set_data.iter().copied()),
        );
        w.put_member(
            at!(dwGetDataSize),
            at!(dwGetDataOffset),
            &dwords(self.get_data.iter().copied()),
        );
        w.put_member(
            at!(dwDevSpecificSize),
            at!(dwDevSpecificOffset),
            &self.dev_specific,
        );
        w.put_text(at!(dwPhoneNameSize), at!(dwPhoneNameOffset), &self.name);
        w.put_text(
            at!(dwProviderInfoSize),
            at!(dwProviderInfoOffset),
            &self.provider_info,
        );
        w.put_text(
            at!(dwPhoneInfoSize),
            at!(dwPhoneInfoOffset),
            &self.phone_info,
        );
        w.put_member(
            at!(dwDeviceClassesSize),
            at!(dwDeviceClassesOffset),
            &utf16z_list(&self.device_classes),
        );
        Ok(w.finish())
    }

    /// Reads PHONECAPS as written for `version` back from `buf`: `None` when the
    /// buffer is shorter than that version's fixed part. Members that are absent, out
    /// of bounds or badly encoded come back empty; unknown codes come back as `None`
    /// or are dropped. For tools and tests: the host only ever writes PHONECAPS.
    pub fn read(buf: &[u8], version: TspiVersion) -> Option<Self> {
        let r = VarReader::new(buf);
        let fixed = Self::fixed_size(version);
        r.u32_at(fixed - 4)?;
        let u = |off: usize| {
            if off + 4 <= fixed {
                r.u32_at(off).unwrap_or(0)
            } else {
                0
            }
        };
        let text = |s: usize, o: usize| r.member(s, o).and_then(from_utf16z).unwrap_or_default();
        let array = |s: usize, o: usize| r.member(s, o).map(from_dwords).unwrap_or_default();

        let devs = HookSwitchDevs::from_bits_retain(u(at!(dwHookSwitchDevs)));
        let volume = HookSwitchDevs::from_bits_retain(u(at!(dwVolumeFlags)));
        let gain = HookSwitchDevs::from_bits_retain(u(at!(dwGainFlags)));
        let device = |dev: HookSwitchDevs, m: usize, s: usize, mo: usize| {
            devs.contains(dev).then(|| HookSwitchCaps {
                modes: HookSwitchModes::from_bits_retain(u(m)),
                settable: HookSwitchModes::from_bits_retain(u(s)),
                monitored: HookSwitchModes::from_bits_retain(u(mo)),
                volume: volume.contains(dev),
                gain: gain.contains(dev),
            })
        };
        let modes = array(at!(dwButtonModesSize), at!(dwButtonModesOffset));
        let functions = array(at!(dwButtonFunctionsSize), at!(dwButtonFunctionsOffset));
        let lamps = array(at!(dwLampModesSize), at!(dwLampModesOffset));
        let buttons = (0..modes.len().max(functions.len()).max(lamps.len()))
            .map(|i| ButtonLamp {
                mode: ButtonModes::from_bits_retain(modes.get(i).copied().unwrap_or(0)),
                function: functions
                    .get(i)
                    .and_then(|&f| ButtonFunction::from_code(f))
                    .unwrap_or(ButtonFunction::Unknown),
                lamp_modes: LampModes::from_bits_retain(lamps.get(i).copied().unwrap_or(0)),
            })
            .collect();
        let (rows, columns) = (u(at!(dwDisplayNumRows)), u(at!(dwDisplayNumColumns)));
        let guid_at = at!(PermanentPhoneGuid);
        Some(Self {
            name: text(at!(dwPhoneNameSize), at!(dwPhoneNameOffset)),
            provider_info: text(at!(dwProviderInfoSize), at!(dwProviderInfoOffset)),
            phone_info: text(at!(dwPhoneInfoSize), at!(dwPhoneInfoOffset)),
            permanent_id: u(at!(dwPermanentPhoneID)),
            permanent_guid: buf
                .get(guid_at..guid_at + 16)
                .filter(|_| guid_at + 16 <= fixed)
                .map_or(0, guid_from_bytes),
            string_format: StringFormat::from_code(u(at!(dwStringFormat))),
            phone_states: PhoneStates::from_bits_retain(u(at!(dwPhoneStates))),
            handset: device(
                HookSwitchDevs::HANDSET,
                at!(dwHandsetHookSwitchModes),
                at!(dwSettableHandsetHookSwitchModes),
                at!(dwMonitoredHandsetHookSwitchModes),
            ),
            speaker: device(
                HookSwitchDevs::SPEAKER,
                at!(dwSpeakerHookSwitchModes),
                at!(dwSettableSpeakerHookSwitchModes),
                at!(dwMonitoredSpeakerHookSwitchModes),
            ),
            headset: device(
                HookSwitchDevs::HEADSET,
                at!(dwHeadsetHookSwitchModes),
                at!(dwSettableHeadsetHookSwitchModes),
                at!(dwMonitoredHeadsetHookSwitchModes),
            ),
            display: (rows != 0 || columns != 0).then_some(DisplayGeometry { rows, columns }),
            ring_modes: u(at!(dwNumRingModes)),
            buttons,
            set_data: array(at!(dwSetDataSize), at!(dwSetDataOffset)),
            get_data: array(at!(dwGetDataSize), at!(dwGetDataOffset)),
            dev_specific: r
                .member(at!(dwDevSpecificSize), at!(dwDevSpecificOffset))
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            device_classes: r
                .member(at!(dwDeviceClassesSize), at!(dwDeviceClassesOffset))
                .and_then(from_utf16z_list)
                .unwrap_or_default(),
            features: PhoneFeatures::from_bits_retain(u(at!(dwPhoneFeatures))),
        })
    }
}

/// A GUID's bytes as `windows-sys` lays out `GUID` (data1..data3 little-endian).
fn guid_bytes(value: u128) -> [u8; 16] {
    let guid = GUID::from_u128(value);
    let mut out = [0u8; 16];
    out[offset_of!(GUID, data1)..][..4].copy_from_slice(&guid.data1.to_le_bytes());
    out[offset_of!(GUID, data2)..][..2].copy_from_slice(&guid.data2.to_le_bytes());
    out[offset_of!(GUID, data3)..][..2].copy_from_slice(&guid.data3.to_le_bytes());
    out[offset_of!(GUID, data4)..][..8].copy_from_slice(&guid.data4);
    out
}

fn guid_from_bytes(bytes: &[u8]) -> u128 {
    let mut le = [0u8; 16];
    le.copy_from_slice(&bytes[..16]);
    let data1 = u32::from_le_bytes([le[0], le[1], le[2], le[3]]) as u128;
    let data2 = u16::from_le_bytes([le[4], le[5]]) as u128;
    let data3 = u16::from_le_bytes([le[6], le[7]]) as u128;
    let mut data4 = [0u8; 8];
    data4.copy_from_slice(&le[8..16]);
    (data1 << 96) | (data2 << 80) | (data3 << 64) | u64::from_be_bytes(data4) as u128
}
