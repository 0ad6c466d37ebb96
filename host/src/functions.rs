//! The rest of the TSPI phone surface: every argument checked against the phone's
//! caps before the driver sees it.

use std::sync::Arc;

use tsp_core::{
    ButtonInfo, HookSwitchDevice, HookSwitchDevs, HookSwitchMode, LampModes, PhoneError, VarString,
    Written,
};

use crate::phone::{Op, Phone, PhoneHandle};
use crate::provider::Provider;

/// Volume, gain and ring volume run 0..=0xFFFF; TAPI clamps before the provider
/// sees a value, and so does the provider for a caller that did not.
const LEVEL_MAX: u32 = 0xFFFF;

fn device_of(phone: &Phone, device: u32) -> Result<HookSwitchDevice, PhoneError> {
    let device = HookSwitchDevice::from_code(device).ok_or(PhoneError::InvalHookSwitchDev)?;
    phone
        .caps()
        .hookswitch(device)
        .ok_or(PhoneError::InvalHookSwitchDev)?;
    Ok(device)
}

fn button_of(phone: &Phone, id: u32) -> Result<usize, PhoneError> {
    let index = id as usize;
    (index < phone.caps().buttons.len())
        .then_some(index)
        .ok_or(PhoneError::InvalButtonLampId)
}

/// The UTF-16 text of `TSPI_phoneSetDisplay`: `bytes` is `dwSize` bytes including
/// the terminator. An odd size, no terminator inside `dwSize`, or an unpaired
/// surrogate is refused; the text ends at the first NUL.
pub fn display_text(bytes: &[u8]) -> Result<Vec<u16>, PhoneError> {
    display_units(bytes, usize::MAX)
}

/// [`display_text`], keeping at most `keep` units: the whole text is checked,
/// but the host holds no more of it than the display has room for.
fn display_units(bytes: &[u8], keep: usize) -> Result<Vec<u16>, PhoneError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(PhoneError::InvalParam);
    }
    let units = || {
        bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
    };
    let end = units().position(|u| u == 0).ok_or(PhoneError::InvalParam)?;
    if char::decode_utf16(units().take(end)).any(|c| c.is_err()) {
        return Err(PhoneError::InvalParam);
    }
    // One unit past `keep`, so `cut_to` still sees a pair it must not split.
    Ok(units().take(end.min(keep.saturating_add(1))).collect())
}

/// Cuts `text` (UTF-16 units) to the `room` cells left on the display, never
/// splitting a surrogate pair.
fn cut_to(text: &[u16], room: usize) -> String {
    let mut end = text.len().min(room);
    if end > 0 && end < text.len() && (0xD800..0xDC00).contains(&text[end - 1]) {
        end -= 1;
    }
    String::from_utf16_lossy(&text[..end])
}

impl Provider {
    fn with_phone(
        &self,
        handle: PhoneHandle,
        request_id: u32,
        build: impl FnOnce(&Arc<Phone>) -> Result<Op<'static>, PhoneError>,
    ) -> i32 {
        let phone = match self.phone(handle) {
            Ok(phone) => phone,
            Err(error) => return error.to_long(),
        };
        match build(&phone) {
            Ok(op) => self.request(&phone, request_id, op),
            Err(error) => error.to_long(),
        }
    }

    /// `TSPI_phoneSetDisplay`: `text` is the raw `LPCWSTR` bytes, `dwSize` long.
    pub fn set_display(
        &self,
        request_id: u32,
        handle: PhoneHandle,
        row: u32,
        column: u32,
        text: &[u8],
    ) -> i32 {
        self.with_phone(handle, request_id, |phone| {
            let display = phone.caps().display.ok_or(PhoneError::OperationUnavail)?;
            let room = room_from(display, row, column)?;
            let units = display_units(text, room)?;
            Ok(Op::SetDisplay {
                row,
                column,
                text: cut_to(&units, room),
            })
        })
    }

    /// `TSPI_phoneGetDisplay`: VARSTRING with the display's text.
    pub fn get_display(&self, handle: PhoneHandle, buf: &mut [u8]) -> Result<Written, PhoneError> {
        let phone = self.phone(handle)?;
        if buf.len() < VarString::FIXED_SIZE {
            return Err(PhoneError::StructureTooSmall);
        }
        phone.caps().display.ok_or(PhoneError::OperationUnavail)?;
        let text = self.sync_call(&phone, |phone| phone.session.get_display())?;
        VarString::text(&text).write(buf)
    }

    /// `TSPI_phoneSetHookSwitch`: one mode for every listed device.
    pub fn set_hookswitch(
        &self,
        request_id: u32,
        handle: PhoneHandle,
        devices: u32,
        mode: u32,
    ) -> i32 {
        self.with_phone(handle, request_id, |phone| {
            let devices = HookSwitchDevs::from_bits(devices)
                .filter(|d| !d.is_empty())
                .ok_or(PhoneError::InvalHookSwitchDev)?;
            let mode = HookSwitchMode::from_code(mode).ok_or(PhoneError::InvalHookSwitchMode)?;
            let phone_caps = phone.caps();
            for device in HookSwitchDevice::ALL
                .iter()
                .copied()
                .filter(|d| devices.contains((*d).into()))
            {
                let caps = phone_caps
                    .hookswitch(device)
                    .ok_or(PhoneError::InvalHookSwitchDev)?;
                if !caps.settable.contains(mode.into()) {
                    return Err(PhoneError::InvalHookSwitchMode);
                }
            }
            Ok(Op::SetHookSwitch { devices, mode })
        })
    }

    /// `TSPI_phoneGetHookSwitch`: the devices whose microphone or speaker is on.
    pub fn get_hookswitch(&self, handle: PhoneHandle) -> Result<u32, PhoneError> {
        let phone = self.phone(handle)?;
        if phone.caps().hookswitch_devices().next().is_none() {
            return Err(PhoneError::OperationUnavail);
        }
        Ok(self
            .sync_call(&phone, |phone| phone.session.get_hookswitch())?
            .bits())
    }

    /// `TSPI_phoneSetRing`: mode 0 (silence) up to `dwNumRingModes`.
    pub fn set_ring(&self, request_id: u32, handle: PhoneHandle, mode: u32, volume: u32) -> i32 {
        self.with_phone(handle, request_id, |phone| {
            if phone.caps().ring_modes == 0 {
                return Err(PhoneError::OperationUnavail);
            }
            if mode > phone.caps().ring_modes {
                return Err(PhoneError::InvalRingMode);
            }
            Ok(Op::SetRing {
                mode,
                volume: volume.min(LEVEL_MAX),
            })
        })
    }

    /// `TSPI_phoneGetRing`: mode and volume.
    pub fn get_ring(&self, handle: PhoneHandle) -> Result<(u32, u32), PhoneError> {
        let phone = self.phone(handle)?;
        if phone.caps().ring_modes == 0 {
            return Err(PhoneError::OperationUnavail);
        }
        self.sync_call(&phone, |phone| phone.session.get_ring())
    }

    /// `TSPI_phoneSetLamp`: exactly one mode the lamp supports.
    pub fn set_lamp(&self, request_id: u32, handle: PhoneHandle, id: u32, mode: u32) -> i32 {
        self.with_phone(handle, request_id, |phone| {
            let mode = LampModes::from_bits_retain(mode);
            // One snapshot of the caps: they may change between two reads.
            let supported = phone
                .caps()
                .buttons
                .get(id as usize)
                .ok_or(PhoneError::InvalButtonLampId)?
                .lamp_modes;
            if !mode.is_single() || !supported.contains(mode) || mode == LampModes::DUMMY {
                return Err(PhoneError::InvalLampMode);
            }
            Ok(Op::SetLamp { id, mode })
        })
    }

    /// `TSPI_phoneGetLamp`.
    pub fn get_lamp(&self, handle: PhoneHandle, id: u32) -> Result<u32, PhoneError> {
        let phone = self.phone(handle)?;
        button_of(&phone, id)?;
        Ok(self
            .sync_call(&phone, move |phone| phone.session.get_lamp(id))?
            .bits())
    }

    /// `TSPI_phoneSetVolume`: one device whose volume is settable.
    pub fn set_volume(
        &self,
        request_id: u32,
        handle: PhoneHandle,
        device: u32,
        volume: u32,
    ) -> i32 {
        self.with_phone(handle, request_id, |phone| {
            let device = device_of(phone, device)?;
            if !phone.caps().hookswitch(device).is_some_and(|c| c.volume) {
                return Err(PhoneError::OperationUnavail);
            }
            Ok(Op::SetVolume {
                device,
                volume: volume.min(LEVEL_MAX),
            })
        })
    }

    /// `TSPI_phoneGetVolume`.
    pub fn get_volume(&self, handle: PhoneHandle, device: u32) -> Result<u32, PhoneError> {
        let phone = self.phone(handle)?;
        let device = device_of(&phone, device)?;
        self.sync_call(&phone, move |phone| phone.session.get_volume(device))
    }

    /// `TSPI_phoneSetGain`: one device whose gain is settable.
    pub fn set_gain(&self, request_id: u32, handle: PhoneHandle, device: u32, gain: u32) -> i32 {
        self.with_phone(handle, request_id, |phone| {
            let device = device_of(phone, device)?;
            if !phone.caps().hookswitch(device).is_some_and(|c| c.gain) {
                return Err(PhoneError::OperationUnavail);
            }
            Ok(Op::SetGain {
                device,
                gain: gain.min(LEVEL_MAX),
            })
        })
    }

    /// `TSPI_phoneGetGain`.
    pub fn get_gain(&self, handle: PhoneHandle, device: u32) -> Result<u32, PhoneError> {
        let phone = self.phone(handle)?;
        let device = device_of(&phone, device)?;
        self.sync_call(&phone, move |phone| phone.session.get_gain(device))
    }

    /// `TSPI_phoneSetButtonInfo`: `info` is the PHONEBUTTONINFO TAPI passed.
    pub fn set_button_info(
        &self,
        request_id: u32,
        handle: PhoneHandle,
        id: u32,
        info: &[u8],
    ) -> i32 {
        self.with_phone(handle, request_id, |phone| {
            button_of(phone, id)?;
            let info = ButtonInfo::read(info).ok_or(PhoneError::InvalParam)?;
            Ok(Op::SetButtonInfo {
                id,
                info: Box::new(info),
            })
        })
    }

    /// `TSPI_phoneGetButtonInfo`: PHONEBUTTONINFO for the phone's version.
    pub fn get_button_info(
        &self,
        handle: PhoneHandle,
        id: u32,
        buf: &mut [u8],
    ) -> Result<Written, PhoneError> {
        let phone = self.phone(handle)?;
        if buf.len() < ButtonInfo::fixed_size(phone.version) {
            return Err(PhoneError::StructureTooSmall);
        }
        button_of(&phone, id)?;
        self.sync_call(&phone, move |phone| phone.session.get_button_info(id))?
            .write(buf, phone.version)
    }

    /// `TSPI_phoneGetID`: for a device class the phone lists (compared without
    /// regard to case), the device's key (a port path, a USB serial number) as
    /// text. `tapi/phone` is answered by TAPI itself.
    pub fn get_id(
        &self,
        handle: PhoneHandle,
        class: &str,
        buf: &mut [u8],
    ) -> Result<Written, PhoneError> {
        let phone = self.phone(handle)?;
        if buf.len() < VarString::FIXED_SIZE {
            return Err(PhoneError::StructureTooSmall);
        }
        let listed = phone
            .caps()
            .device_classes
            .iter()
            .any(|c| c.eq_ignore_ascii_case(class));
        if !listed {
            return Err(PhoneError::InvalDeviceClass);
        }
        let key = self
            .devices()
            .get(phone.device)
            .map(|d| d.key.clone())
            .unwrap_or_default();
        VarString::text(&key).write(buf)
    }

    /// `TSPI_phoneGetExtensionID`: all zeros, "no extensions".
    pub fn get_extension_id(&self, device_id: u32, version: u32) -> Result<[u32; 4], PhoneError> {
        self.device_index(device_id)?;
        Self::check_version(version)?;
        Ok([0; 4])
    }

    /// `TSPI_phoneNegotiateExtVersion`: no extension version exists, so none lies
    /// in any range.
    pub fn negotiate_ext_version(
        &self,
        device_id: u32,
        version: u32,
        _low: u32,
        _high: u32,
    ) -> Result<u32, PhoneError> {
        self.device_index(device_id)?;
        Self::check_version(version)?;
        Err(PhoneError::IncompatibleExtVersion)
    }

    /// `TSPI_phoneSelectExtVersion`: only 0 (no extension) can be selected.
    pub fn select_ext_version(&self, handle: PhoneHandle, version: u32) -> Result<(), PhoneError> {
        self.phone(handle)?;
        if version == 0 {
            Ok(())
        } else {
            Err(PhoneError::IncompatibleExtVersion)
        }
    }

    /// `TSPI_phoneGetIcon`: no icon of its own (TAPI then uses its generic phone
    /// icon); the class may be absent, empty or `tapi/phone`.
    pub fn get_icon(&self, device_id: u32, class: Option<&str>) -> Result<(), PhoneError> {
        self.device_index(device_id)?;
        match class {
            None | Some("") => Ok(()),
            Some(class) if class.eq_ignore_ascii_case("tapi/phone") => Ok(()),
            Some(_) => Err(PhoneError::InvalDeviceClass),
        }
    }
}

/// The cells from (`row`, `column`) to the end of the display.
///
/// The geometry is the driver's and the position the application's, so
/// neither is trusted: a position off the display is `INVALPARAM`; a display
/// of more cells than a `DWORD` counts can only be a driver's mistake, so it is
/// `OPERATIONFAILED` wherever the text would start, not the application's fault.
fn room_from(
    display: tsp_core::DisplayGeometry,
    row: u32,
    column: u32,
) -> Result<usize, PhoneError> {
    if row >= display.rows || column >= display.columns {
        return Err(PhoneError::InvalParam);
    }
    let cells = display.rows.checked_mul(display.columns);
    let start = row
        .checked_mul(display.columns)
        .and_then(|start| start.checked_add(column));
    cells
        .zip(start)
        .and_then(|(cells, start)| cells.checked_sub(start))
        .and_then(|room| usize::try_from(room).ok())
        .ok_or(PhoneError::OperationFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str) -> Vec<u8> {
        tsp_core::var::utf16z(text)
    }

    #[test]
    fn display_text_is_checked() {
        assert_eq!(
            display_text(&utf16("hi")),
            Ok(vec![u16::from(b'h'), u16::from(b'i')])
        );
        assert_eq!(
            display_text(&[b'h', 0, 0]),
            Err(PhoneError::InvalParam),
            "odd size"
        );
        assert_eq!(
            display_text(&[b'h', 0, b'i', 0]),
            Err(PhoneError::InvalParam),
            "no terminator"
        );
        assert_eq!(
            display_text(&[0x00, 0xD8, 0, 0]),
            Err(PhoneError::InvalParam),
            "unpaired surrogate"
        );
        assert_eq!(
            display_text(&utf16("ab\0cd")),
            Ok(vec![97, 98]),
            "ends at the first NUL"
        );
    }

    #[test]
    fn set_display_keeps_no_more_than_the_room_and_checks_it_all() {
        let kept = display_units(&utf16(&"x".repeat(100_000)), 32).expect("valid");
        assert_eq!(kept.len(), 33, "the room and one unit to see a pair");
        assert_eq!(cut_to(&kept, 32), "x".repeat(32));
        let mut bad = utf16(&"x".repeat(1000));
        bad.truncate(bad.len() - 2);
        bad.extend([0x00, 0xD8, 0, 0]);
        assert_eq!(
            display_units(&bad, 4),
            Err(PhoneError::InvalParam),
            "checked past what is kept"
        );
    }

    #[test]
    fn the_room_on_the_display_is_checked_for_any_geometry() {
        let display = |rows, columns| tsp_core::DisplayGeometry { rows, columns };
        assert_eq!(room_from(display(2, 16), 0, 0), Ok(32));
        assert_eq!(room_from(display(2, 16), 1, 15), Ok(1));
        assert_eq!(room_from(display(2, 16), 2, 0), Err(PhoneError::InvalParam));
        assert_eq!(
            room_from(display(2, 16), 0, 16),
            Err(PhoneError::InvalParam)
        );
        assert_eq!(room_from(display(0, 0), 0, 0), Err(PhoneError::InvalParam));
        assert_eq!(
            room_from(display(1, u32::MAX), 0, 1),
            Ok(u32::MAX as usize - 1),
            "the largest display a DWORD counts"
        );
        assert_eq!(
            room_from(display(u32::MAX, u32::MAX), 0, 0),
            Err(PhoneError::OperationFailed),
            "more cells than a DWORD counts: the driver's caps are wrong"
        );
        assert_eq!(
            room_from(display(70_000, 70_000), 69_999, 69_999),
            Err(PhoneError::OperationFailed),
            "such a display fails wherever the text starts"
        );
        assert_eq!(
            room_from(display(0x1_0000, 0xFFFF), 0, 0),
            Ok(0xFFFF_0000),
            "the most cells a DWORD counts with as many rows"
        );
    }

    #[test]
    fn text_is_cut_at_the_edge_without_splitting_a_pair() {
        let units: Vec<u16> = "ab📞".encode_utf16().collect();
        assert_eq!(cut_to(&units, 10), "ab📞");
        assert_eq!(cut_to(&units, 3), "ab", "the pair would be split");
        assert_eq!(cut_to(&units, 1), "a");
    }
}
