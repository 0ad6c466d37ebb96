//! tspd's D-Bus interface, as the daemon serves it and clients (tspctl) call it.
//!
//! - Bus name [`BUS_NAME`] (`org.tsprs.Telephony1`), on the system or the session
//!   bus.
//! - [`ROOT_PATH`] carries `org.freedesktop.DBus.ObjectManager` and the
//!   [`MANAGER_INTERFACE`]: `ListPhones() -> a(ous)` (path, device id, name) and
//!   the signals `PhoneCreated(o, u)` and `PhoneRemoved(o, u)`.
//! - One object per phone, [`phone_path`], with the [`PHONE_INTERFACE`]: the TSPI
//!   phone functions as methods, the PHONE_* events as signals (`Button(uuu)`:
//!   id, PHONEBUTTONMODE_, PHONEBUTTONSTATE_; `State(uu)`: PHONESTATE_, detail;
//!   `Closed()`; `DeviceEvent(uuu)` for PHONE_DEVSPECIFIC), and the properties
//!   `DeviceId`, `Name`, `Driver`, `PermanentId`, `Connected` and `Owner`.
//! - A client that has not opened a phone may still call it when no other client
//!   holds it: the phone is opened for that call alone (so `dbus-send` and
//!   `busctl` work).
//! - A phone is the client's that opened it: others get `ALLOCATED` from `Open`
//!   and [`ACCESS_DENIED`] for requests on it. A `PHONEERR_*` comes back as the
//!   error [`error_name`] (`org.tsprs.Telephony1.Error.InvalDataId` …) with the
//!   code's meaning as its message.
//! - `Button`, `State` (but for the presence changes CONNECTED and DISCONNECTED),
//!   `Closed` and `DeviceEvent` of a phone go to the client that holds it only
//!   (unicast signals): another local user cannot read its keypad. Presence,
//!   `PhoneCreated` and `PhoneRemoved` are broadcast.
//! - Bounds: GetData returns at most the data area (whatever `size` asks),
//!   SetData longer than its area is `OPERATIONFAILED`; when tspd is already
//!   running its most calls at once, a call is answered [`LIMITS_EXCEEDED`].

pub mod logging;

use tsp_core::PhoneError;

/// The well-known name tspd owns.
pub const BUS_NAME: &str = "org.tsprs.Telephony1";
/// The object that lists the phones (ObjectManager).
pub const ROOT_PATH: &str = "/org/tsprs/Telephony1";
/// The interface of each phone object.
pub const PHONE_INTERFACE: &str = "org.tsprs.Telephony1.Phone";
/// The interface of the root object.
pub const MANAGER_INTERFACE: &str = "org.tsprs.Telephony1.Manager";
/// The prefix of the errors that carry a `PHONEERR_*`.
pub const ERROR_PREFIX: &str = "org.tsprs.Telephony1.Error";
/// The error for a request on a phone another client opened.
pub const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";

/// The error of a call tspd has no room for (too many calls at once).
pub const LIMITS_EXCEEDED: &str = "org.freedesktop.DBus.Error.LimitsExceeded";

/// The object path of the phone with TAPI device id `device_id`.
pub fn phone_path(device_id: u32) -> String {
    format!("{ROOT_PATH}/phone{device_id}")
}

/// The D-Bus error name of a `PHONEERR_*`: `org.tsprs.Telephony1.Error.` and the
/// code's name in CamelCase (`InvalDataId` for `PHONEERR_INVALDATAID`).
pub fn error_name(error: PhoneError) -> String {
    format!("{ERROR_PREFIX}.{error:?}")
}

/// The `PHONEERR_*` a D-Bus error name stands for.
pub fn phone_error_of(name: &str) -> Option<PhoneError> {
    let short = name.strip_prefix(ERROR_PREFIX)?.strip_prefix('.')?;
    (0x9000_0001u32..=0x9000_0025)
        .filter_map(PhoneError::from_code)
        .find(|error| format!("{error:?}") == short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_go_both_ways() {
        assert_eq!(
            error_name(PhoneError::InvalDataId),
            "org.tsprs.Telephony1.Error.InvalDataId"
        );
        for code in 0x9000_0001u32..=0x9000_0025 {
            if let Some(error) = PhoneError::from_code(code) {
                assert_eq!(phone_error_of(&error_name(error)), Some(error));
            }
        }
        assert_eq!(phone_error_of("org.freedesktop.DBus.Error.Failed"), None);
        assert_eq!(phone_error_of("org.tsprs.Telephony1.Error.Bogus"), None);
    }
}
