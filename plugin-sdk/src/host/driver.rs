//! A started driver and its open phones, in safe types over the ABI's trait
//! objects.

use abi_stable::std_types::{RResult, RSlice, RSliceMut, RStr};
use tsp_core::{
    ButtonInfo, HookSwitchDevice, HookSwitchDevs, HookSwitchMode, LampModes, PhoneCaps, PhoneError,
    PhoneStatus,
};

use crate::abi::{
    FfiCompletion, FfiDriverBox, FfiPhoneEvents, FfiResult, FfiSessionBox, HostLinkBox, clone_link,
};
use crate::codec::{
    button_info_from_bytes, button_info_to_bytes, caps_from_bytes, status_from_bytes,
};
use crate::driver::DeviceInfo;
use crate::error::DriverError;

/// A driver's answer, its error made a [`DriverError`].
pub(super) fn from_ffi<T>(result: FfiResult<T>) -> Result<T, DriverError> {
    match result {
        RResult::ROk(value) => Ok(value),
        RResult::RErr(error) => Err(DriverError {
            code: PhoneError::from_code(error.code).unwrap_or(PhoneError::OperationFailed),
            message: error.message.into(),
        }),
    }
}

/// A driver's answer, its error only the code TAPI sees.
fn phone_result<T>(result: FfiResult<T>) -> Result<T, PhoneError> {
    from_ffi(result).map_err(|e| e.code)
}

/// A plugin's driver, started by [`Plugin::start`](super::Plugin::start): its
/// devices, opening them, and its shutdown.
pub struct LoadedDriver {
    name: &'static str,
    driver: FfiDriverBox,
    link: HostLinkBox,
}

impl std::fmt::Debug for LoadedDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedDriver")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl LoadedDriver {
    pub(super) fn new(name: &'static str, driver: FfiDriverBox, link: HostLinkBox) -> Self {
        Self { name, driver, link }
    }

    /// The driver's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The devices present now. Devices whose caps do not read are left out (and
    /// logged).
    pub fn devices(&self) -> Result<Vec<DeviceInfo>, DriverError> {
        let devices = from_ffi(self.driver.devices())?;
        Ok(devices
            .into_iter()
            .filter_map(|d| {
                let key = d.key.to_string();
                let caps = caps_from_bytes(&d.caps);
                if caps.is_none() {
                    tracing::warn!(
                        driver = self.name,
                        key,
                        "device with unreadable caps left out"
                    );
                }
                Some(DeviceInfo { key, caps: caps? })
            })
            .collect())
    }

    /// The caps of the device with this key.
    pub fn caps(&self, key: &str) -> Result<PhoneCaps, DriverError> {
        let bytes = from_ffi(self.driver.caps(RStr::from_str(key)))?;
        caps_from_bytes(&bytes).ok_or_else(|| {
            DriverError::new(PhoneError::OperationFailed, "the driver's caps do not read")
        })
    }

    /// Opens the device with this key; its events arrive tagged with `session`.
    pub fn open(&self, key: &str, session: u64) -> Result<OpenSession, DriverError> {
        let events = FfiPhoneEvents {
            link: clone_link(&self.link),
            session,
        };
        let session = from_ffi(self.driver.open(RStr::from_str(key), events))?;
        Ok(OpenSession {
            session,
            link: clone_link(&self.link),
        })
    }

    /// Whether the driver's sessions take requests concurrently.
    pub fn concurrent_sessions(&self) -> bool {
        self.driver.concurrent_sessions()
    }

    /// Stops the driver's threads. Call once, after every session was closed.
    pub fn shutdown(&self) {
        self.driver.shutdown();
    }
}

/// An open phone of a started driver. Asynchronous operations take the request's
/// `token`; their result arrives through [`HostLink::complete`](super::HostLink::complete) with it,
/// exactly once, possibly before the call returns.
pub struct OpenSession {
    session: FfiSessionBox,
    link: HostLinkBox,
}

impl std::fmt::Debug for OpenSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSession").finish_non_exhaustive()
    }
}

impl OpenSession {
    fn completion(&self, token: u64) -> FfiCompletion {
        FfiCompletion {
            link: clone_link(&self.link),
            token: token as _,
        }
    }

    /// `TSPI_phoneSetData`.
    pub fn set_data(&self, token: u64, data_id: u32, data: &[u8]) {
        self.session
            .set_data(data_id, RSlice::from_slice(data), self.completion(token));
    }

    /// `TSPI_phoneGetData`.
    pub fn get_data(&self, data_id: u32, buf: &mut [u8]) -> Result<(), PhoneError> {
        phone_result(
            self.session
                .get_data(data_id, RSliceMut::from_mut_slice(buf)),
        )
    }

    /// `TSPI_phoneSetDisplay`.
    pub fn set_display(&self, token: u64, row: u32, column: u32, text: &str) {
        self.session
            .set_display(row, column, RStr::from_str(text), self.completion(token));
    }

    /// `TSPI_phoneGetDisplay`.
    pub fn get_display(&self) -> Result<String, PhoneError> {
        phone_result(self.session.get_display()).map(String::from)
    }

    /// `TSPI_phoneSetHookSwitch`.
    pub fn set_hookswitch(&self, token: u64, devices: HookSwitchDevs, mode: HookSwitchMode) {
        self.session
            .set_hookswitch(devices.bits(), mode.code(), self.completion(token));
    }

    /// `TSPI_phoneGetHookSwitch`.
    pub fn get_hookswitch(&self) -> Result<HookSwitchDevs, PhoneError> {
        phone_result(self.session.get_hookswitch()).map(HookSwitchDevs::from_bits_retain)
    }

    /// `TSPI_phoneSetRing`.
    pub fn set_ring(&self, token: u64, mode: u32, volume: u32) {
        self.session.set_ring(mode, volume, self.completion(token));
    }

    /// `TSPI_phoneGetRing`: mode and volume.
    pub fn get_ring(&self) -> Result<(u32, u32), PhoneError> {
        phone_result(self.session.get_ring()).map(|t| (t.0, t.1))
    }

    /// `TSPI_phoneSetLamp`.
    pub fn set_lamp(&self, token: u64, id: u32, mode: LampModes) {
        self.session
            .set_lamp(id, mode.bits(), self.completion(token));
    }

    /// `TSPI_phoneGetLamp`.
    pub fn get_lamp(&self, id: u32) -> Result<LampModes, PhoneError> {
        phone_result(self.session.get_lamp(id)).map(LampModes::from_bits_retain)
    }

    /// `TSPI_phoneSetVolume`.
    pub fn set_volume(&self, token: u64, device: HookSwitchDevice, volume: u32) {
        self.session
            .set_volume(device.code(), volume, self.completion(token));
    }

    /// `TSPI_phoneGetVolume`.
    pub fn get_volume(&self, device: HookSwitchDevice) -> Result<u32, PhoneError> {
        phone_result(self.session.get_volume(device.code()))
    }

    /// `TSPI_phoneSetGain`.
    pub fn set_gain(&self, token: u64, device: HookSwitchDevice, gain: u32) {
        self.session
            .set_gain(device.code(), gain, self.completion(token));
    }

    /// `TSPI_phoneGetGain`.
    pub fn get_gain(&self, device: HookSwitchDevice) -> Result<u32, PhoneError> {
        phone_result(self.session.get_gain(device.code()))
    }

    /// `TSPI_phoneSetButtonInfo`.
    pub fn set_button_info(&self, token: u64, id: u32, info: &ButtonInfo) {
        let bytes = button_info_to_bytes(info);
        self.session
            .set_button_info(id, bytes.into(), self.completion(token));
    }

    /// `TSPI_phoneGetButtonInfo`.
    pub fn get_button_info(&self, id: u32) -> Result<ButtonInfo, PhoneError> {
        let bytes = phone_result(self.session.get_button_info(id))?;
        button_info_from_bytes(&bytes).ok_or(PhoneError::OperationFailed)
    }

    /// `TSPI_phoneGetStatus`.
    pub fn get_status(&self) -> Result<PhoneStatus, PhoneError> {
        let bytes = phone_result(self.session.get_status())?;
        status_from_bytes(&bytes).ok_or(PhoneError::OperationFailed)
    }

    /// `TSPI_phoneDevSpecific`.
    pub fn dev_specific(&self, token: u64, params: &[u8]) {
        self.session
            .dev_specific(RSlice::from_slice(params), self.completion(token));
    }

    /// Asks the driver to complete everything outstanding now.
    pub fn cancel(&self) {
        self.session.cancel();
    }

    /// Releases the device. Call once, after [`OpenSession::cancel`] and after every
    /// completion arrived.
    pub fn close(&self) {
        self.session.close();
    }
}
