//! PHONESTATUS, VARSTRING and PHONEBUTTONINFO (reference §4.3–§4.5).

use std::mem::offset_of;

use crate::error::PhoneError;
use crate::sys::{PHONEBUTTONINFO, PHONESTATUS, VARSTRING};
use crate::var::{VarReader, VarWriter, Written, dwords, from_dwords, from_utf16z, utf16z};
use crate::version::TspiVersion;
use crate::vocab::{
    ButtonFunction, ButtonModes, ButtonStates, HookSwitchMode, LampModes, PhoneFeatures,
    PhoneStatusFlags, StringFormat,
};

/// The state of one hookswitch device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookSwitchStatus {
    /// The current mode.
    pub mode: HookSwitchMode,
    /// Volume, 0 (silence) to 0xFFFF.
    pub volume: u32,
    /// Gain, 0 (silence) to 0xFFFF.
    pub gain: u32,
}

impl Default for HookSwitchStatus {
    fn default() -> Self {
        Self {
            mode: HookSwitchMode::OnHook,
            volume: 0,
            gain: 0,
        }
    }
}

/// A phone's current state: the source of PHONESTATUS.
///
/// TAPI fills `dwNumOwners`, `dwNumMonitors` and the owner name itself; the writer
/// never touches them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneStatus {
    /// Connected and suspended flags.
    pub flags: PhoneStatusFlags,
    /// The current ring mode (0 = silence).
    pub ring_mode: u32,
    /// The ring volume, 0 to 0xFFFF.
    pub ring_volume: u32,
    /// The handset (all zero when the phone has none).
    pub handset: Option<HookSwitchStatus>,
    /// The speaker.
    pub speaker: Option<HookSwitchStatus>,
    /// The headset.
    pub headset: Option<HookSwitchStatus>,
    /// What the display shows, rows one after the other.
    pub display: Option<String>,
    /// The current mode of each lamp, indexed by button/lamp id.
    pub lamp_modes: Vec<LampModes>,
    /// Vendor-specific bytes.
    pub dev_specific: Vec<u8>,
    /// The phone functions usable now (TSPI 2.0 and later).
    pub features: PhoneFeatures,
}

macro_rules! at {
    ($ty:ty, $field:ident) => {
        offset_of!($ty, $field)
    };
}

impl PhoneStatus {
    /// The fixed part of PHONESTATUS: 100 bytes before 2.0, 104 from 2.0.
    pub const fn fixed_size(version: TspiVersion) -> usize {
        if version.raw() < TspiVersion::V2_0.raw() {
            at!(PHONESTATUS, dwPhoneFeatures)
        } else {
            size_of::<PHONESTATUS>()
        }
    }

    /// Writes PHONESTATUS for `version` into `buf`, leaving TAPI's members alone.
    pub fn write(&self, buf: &mut [u8], version: TspiVersion) -> Result<Written, PhoneError> {
        let mut w = VarWriter::new(buf, Self::fixed_size(version))?;
        let dev = |d: &Option<HookSwitchStatus>| {
            d.map_or((0, 0, 0), |d| (d.mode.code(), d.volume, d.gain))
        };
        let (hs, hv, hg) = dev(&self.handset);
        let (ss, sv, sg) = dev(&self.speaker);
        let (es, ev, eg) = dev(&self.headset);

        w.put_u32(at!(PHONESTATUS, dwStatusFlags), self.flags.bits());
        w.put_u32(at!(PHONESTATUS, dwRingMode), self.ring_mode);
        w.put_u32(at!(PHONESTATUS, dwRingVolume), self.ring_volume);
        w.put_u32(at!(PHONESTATUS, dwHandsetHookSwitchMode), hs);
        w.put_u32(at!(PHONESTATUS, dwHandsetVolume), hv);
        w.put_u32(at!(PHONESTATUS, dwHandsetGain), hg);
        w.put_u32(at!(PHONESTATUS, dwSpeakerHookSwitchMode), ss);
        w.put_u32(at!(PHONESTATUS, dwSpeakerVolume), sv);
        w.put_u32(at!(PHONESTATUS, dwSpeakerGain), sg);
        w.put_u32(at!(PHONESTATUS, dwHeadsetHookSwitchMode), es);
        w.put_u32(at!(PHONESTATUS, dwHeadsetVolume), ev);
        w.put_u32(at!(PHONESTATUS, dwHeadsetGain), eg);
        w.put_u32(at!(PHONESTATUS, dwPhoneFeatures), self.features.bits());
        w.put_member(
            at!(PHONESTATUS, dwLampModesSize),
            at!(PHONESTATUS, dwLampModesOffset),
            &dwords(self.lamp_modes.iter().map(|m| m.bits())),
        );
        w.put_member(
            at!(PHONESTATUS, dwDevSpecificSize),
            at!(PHONESTATUS, dwDevSpecificOffset),
            &self.dev_specific,
        );
        w.put_text(
            at!(PHONESTATUS, dwDisplaySize),
            at!(PHONESTATUS, dwDisplayOffset),
            self.display.as_deref().unwrap_or_default(),
        );
        Ok(w.finish())
    }

    /// Reads PHONESTATUS as written for `version` back (tools and tests): `None` when
    /// the buffer is shorter than the fixed part. Hookswitch devices whose mode is 0
    /// come back as `None`, and so does an empty display.
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
        let dev = |m: usize, v: usize, g: usize| {
            HookSwitchMode::from_code(u(m)).map(|mode| HookSwitchStatus {
                mode,
                volume: u(v),
                gain: u(g),
            })
        };
        Some(Self {
            flags: PhoneStatusFlags::from_bits_retain(u(at!(PHONESTATUS, dwStatusFlags))),
            ring_mode: u(at!(PHONESTATUS, dwRingMode)),
            ring_volume: u(at!(PHONESTATUS, dwRingVolume)),
            handset: dev(
                at!(PHONESTATUS, dwHandsetHookSwitchMode),
                at!(PHONESTATUS, dwHandsetVolume),
                at!(PHONESTATUS, dwHandsetGain),
            ),
            speaker: dev(
                at!(PHONESTATUS, dwSpeakerHookSwitchMode),
                at!(PHONESTATUS, dwSpeakerVolume),
                at!(PHONESTATUS, dwSpeakerGain),
            ),
            headset: dev(
                at!(PHONESTATUS, dwHeadsetHookSwitchMode),
                at!(PHONESTATUS, dwHeadsetVolume),
                at!(PHONESTATUS, dwHeadsetGain),
            ),
            display: r
                .member(
                    at!(PHONESTATUS, dwDisplaySize),
                    at!(PHONESTATUS, dwDisplayOffset),
                )
                .and_then(from_utf16z),
            lamp_modes: r
                .member(
                    at!(PHONESTATUS, dwLampModesSize),
                    at!(PHONESTATUS, dwLampModesOffset),
                )
                .map(from_dwords)
                .unwrap_or_default()
                .into_iter()
                .map(LampModes::from_bits_retain)
                .collect(),
            dev_specific: r
                .member(
                    at!(PHONESTATUS, dwDevSpecificSize),
                    at!(PHONESTATUS, dwDevSpecificOffset),
                )
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            features: PhoneFeatures::from_bits_retain(u(at!(PHONESTATUS, dwPhoneFeatures))),
        })
    }
}

/// A VARSTRING's content: the display (GetDisplay) or a device id (GetID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarString {
    /// How `data` is encoded.
    pub format: StringFormat,
    /// The bytes, with the terminator for text.
    pub data: Vec<u8>,
}

impl VarString {
    /// The fixed part: 24 bytes, the same in every version.
    pub const FIXED_SIZE: usize = size_of::<VARSTRING>();

    /// Text as UTF-16 with its terminator.
    pub fn text(text: &str) -> Self {
        Self {
            format: StringFormat::Unicode,
            data: utf16z(text),
        }
    }

    /// Raw bytes (for example a handle and a name for a device class).
    pub fn binary(data: impl Into<Vec<u8>>) -> Self {
        Self {
            format: StringFormat::Binary,
            data: data.into(),
        }
    }

    /// Writes VARSTRING into `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<Written, PhoneError> {
        let mut w = VarWriter::new(buf, Self::FIXED_SIZE)?;
        w.put_u32(at!(VARSTRING, dwStringFormat), self.format.code());
        w.put_member(
            at!(VARSTRING, dwStringSize),
            at!(VARSTRING, dwStringOffset),
            &self.data,
        );
        Ok(w.finish())
    }

    /// Reads VARSTRING back (tools and tests): `None` when the buffer is shorter than
    /// the fixed part or the format is unknown.
    pub fn read(buf: &[u8]) -> Option<Self> {
        let r = VarReader::new(buf);
        let format = StringFormat::from_code(r.u32_at(at!(VARSTRING, dwStringFormat))?)?;
        r.u32_at(at!(VARSTRING, dwStringOffset))?;
        let data = r
            .member(at!(VARSTRING, dwStringSize), at!(VARSTRING, dwStringOffset))
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        Some(Self { format, data })
    }

    /// The text, for a Unicode string.
    pub fn as_text(&self) -> Option<String> {
        match self.format {
            StringFormat::Unicode => from_utf16z(&self.data),
            _ => None,
        }
    }
}

/// A button's description: the source of PHONEBUTTONINFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonInfo {
    /// The kind of button.
    pub mode: ButtonModes,
    /// What it does.
    pub function: ButtonFunction,
    /// Its label.
    pub text: String,
    /// Vendor-specific bytes.
    pub dev_specific: Vec<u8>,
    /// Whether it is up or down (TAPI 1.4 and later).
    pub state: ButtonStates,
}

impl ButtonInfo {
    /// The fixed part of PHONEBUTTONINFO: 36 bytes under 1.3, 40 from 1.4.
    pub const fn fixed_size(version: TspiVersion) -> usize {
        if version.raw() < TspiVersion::V1_4.raw() {
            at!(PHONEBUTTONINFO, dwButtonState)
        } else {
            size_of::<PHONEBUTTONINFO>()
        }
    }

    /// Writes PHONEBUTTONINFO for `version` into `buf`.
    pub fn write(&self, buf: &mut [u8], version: TspiVersion) -> Result<Written, PhoneError> {
        let mut w = VarWriter::new(buf, Self::fixed_size(version))?;
        w.put_u32(at!(PHONEBUTTONINFO, dwButtonMode), self.mode.bits());
        w.put_u32(at!(PHONEBUTTONINFO, dwButtonFunction), self.function.code());
        w.put_u32(at!(PHONEBUTTONINFO, dwButtonState), self.state.bits());
        w.put_member(
            at!(PHONEBUTTONINFO, dwDevSpecificSize),
            at!(PHONEBUTTONINFO, dwDevSpecificOffset),
            &self.dev_specific,
        );
        w.put_text(
            at!(PHONEBUTTONINFO, dwButtonTextSize),
            at!(PHONEBUTTONINFO, dwButtonTextOffset),
            &self.text,
        );
        Ok(w.finish())
    }

    /// Reads PHONEBUTTONINFO (what `TSPI_phoneSetButtonInfo` receives). `None` when
    /// the buffer is shorter than the 1.4 fixed part, the function is unknown, the
    /// text is not valid UTF-16, or a member lies outside the buffer (it is
    /// refused, not dropped: an application's label must not vanish silently).
    pub fn read(buf: &[u8]) -> Option<Self> {
        let r = VarReader::new(buf);
        let u = |off: usize| r.u32_at(off);
        u(at!(PHONEBUTTONINFO, dwButtonState))?;
        let text = match r
            .member_in(
                at!(PHONEBUTTONINFO, dwButtonTextSize),
                at!(PHONEBUTTONINFO, dwButtonTextOffset),
            )
            .ok()?
        {
            Some(bytes) => from_utf16z(bytes)?,
            None => String::new(),
        };
        let dev_specific = r
            .member_in(
                at!(PHONEBUTTONINFO, dwDevSpecificSize),
                at!(PHONEBUTTONINFO, dwDevSpecificOffset),
            )
            .ok()?
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        Some(Self {
            mode: ButtonModes::from_bits_retain(u(at!(PHONEBUTTONINFO, dwButtonMode))?),
            function: ButtonFunction::from_code(u(at!(PHONEBUTTONINFO, dwButtonFunction))?)?,
            text,
            dev_specific,
            state: ButtonStates::from_bits_retain(u(at!(PHONEBUTTONINFO, dwButtonState))?),
        })
    }
}
