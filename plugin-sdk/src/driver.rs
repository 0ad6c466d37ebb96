//! What a vendor implements: [`Driver`] and [`Session`], and what the host hands
//! them: [`Completion`], [`PhoneEvents`], [`DriverEvents`].
//!
//! # Threads
//!
//! The host calls a driver from TAPI's threads and its own, several at once.
//! `Driver` and `Session` are `Send + Sync` and take `&self`: keep state behind a
//! `Mutex` or atomics. A session whose driver says [`Driver::concurrent_sessions`]
//! is `false` gets one asynchronous request at a time, in order; the synchronous
//! getters may still arrive meanwhile. A request past its deadline, or outstanding
//! when the device goes away, is completed by the host, which then sends the next
//! one although the driver may still hold the earlier.
//!
//! # Blocking
//!
//! Every call has a deadline set by the host's configuration. Synchronous calls
//! (`get_*`, `open`, `caps`) may block on the device for a short while. Asynchronous
//! calls (`set_*`, `dev_specific`) should start the work and return: complete the
//! [`Completion`] from the driver's own thread when the device answers. Completing
//! before returning is allowed and cheap (the mock does it).
//!
//! # Panics
//!
//! A panic in any method is caught inside the plugin and reported to TAPI as
//! `PHONEERR_OPERATIONFAILED`; the host stays up. A panic on a thread the driver
//! started ends that thread only; a [`Completion`] it held completes with
//! `OPERATIONFAILED` as it is dropped.

use tsp_core::{
    ButtonInfo, ButtonModes, ButtonStates, HookSwitchDevice, HookSwitchDevs, HookSwitchMode,
    LampModes, PhoneCaps, PhoneError, PhoneStatus,
};

use crate::abi::{
    DRIVER_EVENT_ARRIVED, DRIVER_EVENT_CONNECTED, DRIVER_EVENT_DISCONNECTED, DRIVER_EVENT_REMOVED,
    FfiCompletion, FfiDevice, FfiDriverEvent, FfiPhoneEvents, HostLinkBox, clone_link,
};
use crate::codec::caps_to_bytes;
use crate::error::DriverError;
use crate::event::PhoneEvent;

/// A device a driver serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The driver's own stable name for the device (a port path, a USB serial
    /// number). The host keys everything about the device on it; it must not change
    /// while the device exists, and should be the same after a replug.
    pub key: String,
    /// What the phone can do. `caps.permanent_id` must be stable for the same key.
    pub caps: PhoneCaps,
}

/// A permanent phone id derived from a device's stable identity (a port path, a
/// USB serial number): FNV-1a of its bytes, so the same device is the same phone
/// across replugs and restarts, as `PhoneCaps::permanent_id` must be.
pub fn permanent_id(identity: &str) -> u32 {
    identity.bytes().fold(0x811c_9dc5u32, |hash, b| {
        (hash ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl DeviceInfo {
    pub(crate) fn to_ffi(&self) -> FfiDevice {
        FfiDevice {
            key: self.key.as_str().into(),
            caps: caps_to_bytes(&self.caps).into(),
        }
    }
}

/// What the host gives a driver when it starts it.
#[derive(Debug)]
pub struct DriverContext {
    /// The driver's settings: the TOML text of its table in `tsp-rs.toml` (empty
    /// when there is none).
    pub settings: String,
    /// Where to report devices that arrive, go away and come back.
    pub events: DriverEvents,
}

/// A driver: one per plugin, started once by the host.
///
/// Errors: wherever a method returns a [`DriverError`], its `code` is what TAPI
/// sees and its message goes to the log.
pub trait Driver: Send + Sync + Sized + 'static {
    /// The driver's name: the manifest's `name`, used in configuration and logs.
    const NAME: &'static str;

    /// Starts the driver. Called once, on a host thread, before anything else.
    /// May open nothing yet: devices are opened by [`Driver::open`].
    ///
    /// Errors: `INIFILECORRUPT` for settings that do not parse (say where, in the
    /// message: [`crate::settings::parse`] gives the user's line and column and
    /// what is expected), `NODRIVER` when what the driver needs (a system library, a
    /// kernel module) is missing, `OPERATIONFAILED` otherwise.
    fn start(context: DriverContext) -> Result<Self, DriverError>;

    /// The devices present now, in the order their phones should be numbered.
    /// Called at `TSPI_providerEnumDevices`; may probe hardware briefly.
    ///
    /// Errors: `NOMEM`, `OPERATIONFAILED` (the host then reports no phones of this
    /// driver and logs the message).
    fn devices(&self) -> Result<Vec<DeviceInfo>, DriverError>;

    /// The capabilities of the device with this key, now. The host asks again when
    /// a session reports [`PhoneEvent::CapsChanged`]. The default looks it up in
    /// [`Driver::devices`].
    ///
    /// Errors: `BADDEVICEID` for an unknown key, `NODEVICE` for one that left.
    fn caps(&self, key: &str) -> Result<PhoneCaps, DriverError> {
        self.devices()?
            .into_iter()
            .find(|d| d.key == key)
            .map(|d| d.caps)
            .ok_or_else(|| DriverError::new(PhoneError::BadDeviceId, format!("no device `{key}`")))
    }

    /// Opens the device: reserves its non-shareable resource (the serial port, the
    /// USB interface) so no one else can use it, and returns the session through
    /// which the host drives it. `events` carries the phone's events to TAPI from
    /// any thread, for as long as the session lives.
    ///
    /// Errors: `ALLOCATED` when someone else (this process or another) holds the
    /// resource, with nothing left reserved; `NODRIVER` when the device does not
    /// exist; `RESOURCEUNAVAIL` when it cannot be reserved now (permissions: say
    /// what to do); `INUSE` when it is busy in another mode; `NOMEM`;
    /// `OPERATIONFAILED`.
    fn open(&self, key: &str, events: PhoneEvents) -> Result<Box<dyn Session>, DriverError>;

    /// Whether a session takes several asynchronous requests at once. When `false`
    /// the host queues them per phone and sends the next only after the previous
    /// one completed. Asked once, after `start`.
    fn concurrent_sessions(&self) -> bool {
        false
    }

    /// Stops every thread the driver started and releases everything. Called once,
    /// after every session was closed, before the host lets go of the driver; no
    /// call follows it. Must not block for long.
    fn shutdown(&self) {}
}

/// An open phone. Every operation has a default that answers `OPERATIONUNAVAIL`:
/// implement what the device can do and advertise exactly that in its caps.
///
/// The host validates every argument against the caps before calling (data ids,
/// lamp ids, modes, ranges), so a driver sees only well-formed requests; it still
/// must not trust lengths it did not check itself.
///
/// Asynchronous operations take a [`Completion`] and must return at once: the
/// host calls them on TAPI's own thread (or its timer's), with no deadline on
/// the call itself, only on the completion. Work that talks to the device goes
/// to the driver's own thread. Completing it with an error *before returning*
/// refuses the request: TAPI gets the negative code and no completion. Completing later, from any thread, reports through TAPI's
/// completion callback. Errors for asynchronous operations are the codes of the
/// TSPI function: `RESOURCEUNAVAIL`, `OPERATIONFAILED`, `INVALPHONESTATE`,
/// `OPERATIONUNAVAIL`, `NOMEM`, and the function's own (`INVALDATAID` …).
#[allow(unused_variables)]
pub trait Session: Send + Sync + 'static {
    /// `TSPI_phoneSetData`: download `data` (at most the area's size) to data area
    /// `data_id`. Writing may act as a command on the device.
    ///
    /// Errors: `INVALDATAID` (no such area), `OPERATIONFAILED` (more bytes than
    /// the area holds, or the device refused), `RESOURCEUNAVAIL`,
    /// `INVALPHONESTATE` (the device is away), `NOMEM`.
    fn set_data(&self, data_id: u32, data: &[u8], done: Completion) {
        done.complete(Err(PhoneError::OperationUnavail));
    }

    /// `TSPI_phoneGetData`: fill `buf` from data area `data_id` (at most `buf.len()`
    /// bytes; `buf` may be empty). Synchronous: answer promptly.
    ///
    /// Errors: `INVALDATAID`, `RESOURCEUNAVAIL`, `OPERATIONFAILED`,
    /// `INVALPHONESTATE`.
    fn get_data(&self, data_id: u32, buf: &mut [u8]) -> Result<(), PhoneError> {
        Err(PhoneError::OperationUnavail)
    }

    /// `TSPI_phoneSetDisplay`: write `text` at `row`, `column` (already cut at the
    /// display's edge by the host).
    ///
    /// Errors: `INVALPARAM` (row or column outside the display),
    /// `RESOURCEUNAVAIL`, `OPERATIONFAILED`, `INVALPHONESTATE`.
    fn set_display(&self, row: u32, column: u32, text: &str, done: Completion) {
        done.complete(Err(PhoneError::OperationUnavail));
    }

    /// `TSPI_phoneGetDisplay`: the whole display, rows one after the other.
    fn get_display(&self) -> Result<String, PhoneError> {
        Err(PhoneError::OperationUnavail)
    }

    /// `TSPI_phoneSetHookSwitch`: put every device in `devices` into `mode`.
    ///
    /// Errors: `INVALHOOKSWITCHDEV`, `INVALHOOKSWITCHMODE`, `RESOURCEUNAVAIL`,
    /// `OPERATIONFAILED`, `INVALPHONESTATE`.
    fn set_hookswitch(&self, devices: HookSwitchDevs, mode: HookSwitchMode, done: Completion) {
        done.complete(Err(PhoneError::OperationUnavail));
    }

    /// `TSPI_phoneGetHookSwitch`: the devices whose microphone or speaker is on.
    fn get_hookswitch(&self) -> Result<HookSwitchDevs, PhoneError> {
        Err(PhoneError::OperationUnavail)
    }

    /// `TSPI_phoneSetRing`: ring `mode` (0 = silence) at `volume` (0–0xFFFF).
    ///
    /// Errors: `INVALRINGMODE`, `RESOURCEUNAVAIL`, `OPERATIONFAILED`,
    /// `INVALPHONESTATE`.
    fn set_ring(&self, mode: u32, volume: u32, done: Completion) {
        done.complete(Err(PhoneError::OperationUnavail));
    }

    /// `TSPI_phoneGetRing`: the ring mode and volume.
    fn get_ring(&self) -> Result<(u32, u32), PhoneError> {
        Err(PhoneError::OperationUnavail)
    }

    /// `TSPI_phoneSetLamp`: set lamp `id` to `mode` (exactly one mode).
    ///
    /// Errors: `INVALBUTTONLAMPID`, `INVALLAMPMODE`, `RESOURCEUNAVAIL`,
    /// `OPERATIONFAILED`, `INVALPHONESTATE`.
    fn set_lamp(&self, id: u32, mode: LampModes, done: Completion) {
        done.complete(Err(PhoneError::OperationUnavail));
    }

    /// `TSPI_phoneGetLamp`: lamp `id`'s current mode.
    fn get_lamp(&self, id: u32) -> Result<LampModes, PhoneError> {
        Err(PhoneError::OperationUnavail)
    }

    /// `TSPI_phoneSetVolume`: `device`'s volume, 0–0xFFFF (quantise as needed).
    ///
    /// Errors: `INVALHOOKSWITCHDEV`, `RESOURCEUNAVAIL`, `OPERATIONFAILED`,
    /// `INVALPHONESTATE`.
    fn set_volume(&self, device: HookSwitchDevice, volume: u32, done: Completion) {
        done.complete(Err(PhoneError::OperationUnavail));
    }

    /// `TSPI_phoneGetVolume`.
    fn get_volume(&self, device: HookSwitchDevice) -> Result<u32, PhoneError> {
        Err(PhoneError::OperationUnavail)
    }

    /// `TSPI_phoneSetGain`: `device`'s gain, 0–0xFFFF.
    ///
    /// Errors: `INVALHOOKSWITCHDEV`, `RESOURCEUNAVAIL`, `OPERATIONFAILED`,
    /// `INVALPHONESTATE`.
    fn set_gain(&self, device: HookSwitchDevice, gain: u32, done: Completion) {
        done.complete(Err(PhoneError::OperationUnavail));
    }

    /// `TSPI_phoneGetGain`.
    fn get_gain(&self, device: HookSwitchDevice) -> Result<u32, PhoneError> {
        Err(PhoneError::OperationUnavail)
    }

    /// `TSPI_phoneSetButtonInfo`: relabel or reassign button `id`.
    ///
    /// Errors: `INVALBUTTONLAMPID`, `INVALPARAM`, `RESOURCEUNAVAIL`,
    /// `OPERATIONFAILED`, `INVALPHONESTATE`.
    fn set_button_info(&self, id: u32, info: &ButtonInfo, done: Completion) {
        done.complete(Err(PhoneError::OperationUnavail));
    }

    /// `TSPI_phoneGetButtonInfo`: the description of button `id`.
    ///
    /// Errors: `INVALBUTTONLAMPID`, `RESOURCEUNAVAIL`, `OPERATIONFAILED`.
    fn get_button_info(&self, id: u32) -> Result<ButtonInfo, PhoneError> {
        Err(PhoneError::OperationUnavail)
    }

    /// `TSPI_phoneGetStatus`: the phone's state now. Synchronous: answer from
    /// what the driver already knows where it can.
    ///
    /// Errors: `RESOURCEUNAVAIL`, `OPERATIONFAILED`, `INVALPHONESTATE`.
    fn get_status(&self) -> Result<PhoneStatus, PhoneError> {
        Err(PhoneError::OperationUnavail)
    }

    /// `TSPI_phoneDevSpecific`: a vendor command; `params` holds no pointers.
    /// Results for the application go back as [`crate::PhoneEvent::DevSpecific`].
    ///
    /// Errors: `INVALPARAM` (a command the driver does not know),
    /// `RESOURCEUNAVAIL`, `OPERATIONFAILED`, `INVALPHONESTATE`.
    fn dev_specific(&self, params: &[u8], done: Completion) {
        done.complete(Err(PhoneError::OperationUnavail));
    }

    /// The phone is closing: make every outstanding request complete now (with an
    /// error if it cannot finish). Called before [`Session::close`]; must not block
    /// for long. The host has already stopped sending new requests.
    fn cancel(&self) {}

    /// Releases the device's reservation. Called once, after [`Session::cancel`]
    /// and after every completion was delivered. Events sent afterwards are dropped.
    fn close(&self) {}
}

/// The one completion of an asynchronous request.
///
/// Exactly once by construction: [`Completion::complete`] consumes it, and dropping
/// it without completing completes with `OPERATIONFAILED` (a driver thread that
/// panics, a request forgotten in a queue). It may move to any thread, and may
/// complete before the call that received it returns. Making one costs no
/// allocation.
#[must_use = "a request completes with OPERATIONFAILED when its Completion is dropped"]
pub struct Completion {
    link: Option<HostLinkBox>,
    token: u64,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl Completion {
    pub(crate) fn from_ffi(raw: FfiCompletion) -> Self {
        Self {
            link: Some(raw.link),
            // A u32 only in the mismatched-ABI fixture.
            #[allow(clippy::useless_conversion)]
            token: raw.token.into(),
        }
    }

    /// Reports the request's result to TAPI.
    pub fn complete(mut self, result: Result<(), PhoneError>) {
        self.deliver(result);
    }

    fn deliver(&mut self, result: Result<(), PhoneError>) {
        if let Some(link) = self.link.take() {
            link.complete(self.token, result.err().map_or(0, PhoneError::code));
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        self.deliver(Err(PhoneError::OperationFailed));
    }
}

/// Where an open phone's events go. Cheap to clone; usable from any thread.
pub struct PhoneEvents {
    link: HostLinkBox,
    session: u64,
}

impl std::fmt::Debug for PhoneEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneEvents")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Clone for PhoneEvents {
    fn clone(&self) -> Self {
        Self {
            link: clone_link(&self.link),
            session: self.session,
        }
    }
}

impl PhoneEvents {
    pub(crate) fn from_ffi(raw: FfiPhoneEvents) -> Self {
        Self {
            link: raw.link,
            session: raw.session,
        }
    }

    /// Reports any event.
    pub fn send(&self, event: PhoneEvent) {
        self.link.phone_event(self.session, event.to_ffi());
    }

    /// A button went down. Report its release with [`PhoneEvents::button_up`]: the
    /// host makes up no release for it (a repeated DOWN of a button that is down
    /// is dropped). For a device that cannot report releases, use
    /// [`PhoneEvents::button_pressed`] instead.
    pub fn button_down(&self, id: u32, mode: ButtonModes) {
        self.send(PhoneEvent::Button {
            id,
            mode,
            state: ButtonStates::DOWN,
        });
    }

    /// A button was pressed on a device that cannot report its release (keypads
    /// that send one code per key): the host delivers DOWN and makes up the UP
    /// shortly after, as TAPI requires. A host built before this event existed
    /// ignores it (unknown event kinds are dropped), so such a host sees no
    /// press at all from a plugin that uses it.
    pub fn button_pressed(&self, id: u32, mode: ButtonModes) {
        self.send(PhoneEvent::ButtonPressed { id, mode });
    }

    /// A button went up. An UP for a button that is not down is dropped (its
    /// release was already delivered).
    pub fn button_up(&self, id: u32, mode: ButtonModes) {
        self.send(PhoneEvent::Button {
            id,
            mode,
            state: ButtonStates::UP,
        });
    }

    /// A hookswitch device changed mode (the user lifted the handset).
    pub fn hookswitch(&self, device: HookSwitchDevice, mode: HookSwitchMode) {
        self.send(PhoneEvent::HookSwitch { device, mode });
    }

    /// The device went away for now (unplugged, not answering).
    pub fn disconnected(&self) {
        self.send(PhoneEvent::Disconnected);
    }

    /// The device is back.
    pub fn connected(&self) {
        self.send(PhoneEvent::Connected);
    }

    /// The device is gone for good.
    pub fn removed(&self) {
        self.send(PhoneEvent::Removed);
    }
}

/// Where a driver reports its devices' presence. Cheap to clone; any thread.
pub struct DriverEvents {
    link: HostLinkBox,
}

impl std::fmt::Debug for DriverEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverEvents").finish_non_exhaustive()
    }
}

impl Clone for DriverEvents {
    fn clone(&self) -> Self {
        Self {
            link: clone_link(&self.link),
        }
    }
}

impl DriverEvents {
    pub(crate) fn new(link: HostLinkBox) -> Self {
        Self { link }
    }

    fn send(&self, kind: u32, device: FfiDevice) {
        self.link.driver_event(FfiDriverEvent { kind, device });
    }

    fn send_key(&self, kind: u32, key: &str) {
        let device = FfiDevice {
            key: key.into(),
            caps: Default::default(),
        };
        self.send(kind, device);
    }

    /// A device not seen before arrived (the host announces it with PHONE_CREATE).
    pub fn arrived(&self, device: &DeviceInfo) {
        self.send(DRIVER_EVENT_ARRIVED, device.to_ffi());
    }

    /// The device with this key went away for now.
    pub fn disconnected(&self, key: &str) {
        self.send_key(DRIVER_EVENT_DISCONNECTED, key);
    }

    /// The device with this key is back.
    pub fn connected(&self, key: &str) {
        self.send_key(DRIVER_EVENT_CONNECTED, key);
    }

    /// The device with this key is gone for good.
    pub fn removed(&self, key: &str) {
        self.send_key(DRIVER_EVENT_REMOVED, key);
    }
}
