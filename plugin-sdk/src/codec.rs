//! Typed values to and from the TAPI structures that carry them across the ABI.

use tsp_core::var::sized_buffer;
use tsp_core::{ButtonInfo, PhoneCaps, PhoneError, PhoneStatus, TspiVersion, Written};

/// The version structures cross the ABI in: the newest, so nothing is lost.
pub(crate) const WIRE_VERSION: TspiVersion = TspiVersion::V3_1;

/// Writes with `write` twice: once to learn the size, once into a buffer that fits.
fn encode(fixed: usize, write: impl Fn(&mut [u8]) -> Result<Written, PhoneError>) -> Vec<u8> {
    let mut buf = sized_buffer(fixed as u32);
    let Ok(first) = write(&mut buf) else {
        return buf;
    };
    if first.is_complete() {
        return buf;
    }
    let mut buf = sized_buffer(first.needed);
    // The same value into a buffer of `needed` bytes cannot fail.
    let _ = write(&mut buf);
    buf
}

pub(crate) fn caps_to_bytes(caps: &PhoneCaps) -> Vec<u8> {
    encode(PhoneCaps::fixed_size(WIRE_VERSION), |b| {
        caps.write(b, WIRE_VERSION)
    })
}

pub(crate) fn caps_from_bytes(bytes: &[u8]) -> Option<PhoneCaps> {
    PhoneCaps::read(bytes, WIRE_VERSION)
}

pub(crate) fn status_to_bytes(status: &PhoneStatus) -> Vec<u8> {
    encode(PhoneStatus::fixed_size(WIRE_VERSION), |b| {
        status.write(b, WIRE_VERSION)
    })
}

pub(crate) fn status_from_bytes(bytes: &[u8]) -> Option<PhoneStatus> {
    PhoneStatus::read(bytes, WIRE_VERSION)
}

pub(crate) fn button_info_to_bytes(info: &ButtonInfo) -> Vec<u8> {
    encode(ButtonInfo::fixed_size(WIRE_VERSION), |b| {
        info.write(b, WIRE_VERSION)
    })
}

pub(crate) fn button_info_from_bytes(bytes: &[u8]) -> Option<ButtonInfo> {
    ButtonInfo::read(bytes)
}
