//! The stable binary interface between the host and a driver plugin.
//!
//! Vendors never use this module: `export_driver!` builds it from a `Driver`, and
//! the loader wraps it in safe types. It is public only so that the macro's
//! expansion can name it. Everything here is `abi_stable`; nothing outside this
//! module and the two adapters (`driver::adapter`, `host`) names `abi_stable`, so
//! the ABI crate could be swapped without touching drivers.
//!
//! Structured data crosses as TAPI's own structures (PHONECAPS, PHONESTATUS,
//! PHONEBUTTONINFO bytes, written for TSPI 3.1 by tsp-core): a layout Microsoft
//! fixed decades ago, so it never needs a version of ours.
//!
//! Evolution (see the crate docs, "Compatibility policy"): the root module and both
//! trait objects are prefix types; later SDK versions add fields and methods only
//! after the `last_prefix_field` markers, with defaults, so plugins built earlier
//! keep loading.
#![allow(
    missing_docs,
    missing_debug_implementations,
    non_camel_case_types,
    non_local_definitions
)]

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RArc, RBox, RResult, RSlice, RSliceMut, RStr, RString, RVec, Tuple2};
use abi_stable::{StableAbi, package_version_strings, sabi_trait};

/// An error crossing the boundary: a `PHONEERR_*` code and words for the log.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiError {
    pub code: u32,
    pub message: RString,
}

pub type FfiResult<T> = RResult<T, FfiError>;

/// A device a driver serves: its stable key and its PHONECAPS bytes.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiDevice {
    pub key: RString,
    pub caps: RVec<u8>,
}

/// The completion of one asynchronous request: the host's link and the request's
/// token. Cloning the link is a reference-count increment: no allocation.
#[repr(C)]
#[derive(StableAbi)]
pub struct FfiCompletion {
    pub link: HostLinkBox,
    #[cfg(not(feature = "__fixture_abi_mismatch"))]
    pub token: u64,
    #[cfg(feature = "__fixture_abi_mismatch")]
    pub token: u32,
}

/// Where an open phone's events go.
#[repr(C)]
#[derive(StableAbi)]
pub struct FfiPhoneEvents {
    pub link: HostLinkBox,
    pub session: u64,
}

/// A phone event: `kind` is one of the `PHONE_EVENT_*` values; unknown kinds are
/// ignored by the host, so later SDKs can add kinds.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct FfiPhoneEvent {
    pub kind: u32,
    pub params: [u32; 3],
}

pub const PHONE_EVENT_BUTTON: u32 = 1;
pub const PHONE_EVENT_HOOKSWITCH: u32 = 2;
pub const PHONE_EVENT_DISPLAY: u32 = 3;
pub const PHONE_EVENT_RING: u32 = 4;
pub const PHONE_EVENT_LAMP: u32 = 5;
pub const PHONE_EVENT_VOLUME: u32 = 6;
pub const PHONE_EVENT_GAIN: u32 = 7;
pub const PHONE_EVENT_CAPS_CHANGED: u32 = 8;
pub const PHONE_EVENT_DEV_SPECIFIC: u32 = 9;
pub const PHONE_EVENT_DISCONNECTED: u32 = 10;
pub const PHONE_EVENT_CONNECTED: u32 = 11;
pub const PHONE_EVENT_REMOVED: u32 = 12;
/// A later kind: a host that predates it ignores it (see [`FfiPhoneEvent`]).
pub const PHONE_EVENT_BUTTON_PRESSED: u32 = 13;

/// A device presence event at driver level (`DRIVER_EVENT_*`).
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiDriverEvent {
    pub kind: u32,
    pub device: FfiDevice,
}

pub const DRIVER_EVENT_ARRIVED: u32 = 1;
pub const DRIVER_EVENT_DISCONNECTED: u32 = 2;
pub const DRIVER_EVENT_CONNECTED: u32 = 3;
pub const DRIVER_EVENT_REMOVED: u32 = 4;

/// A log line from the driver's `tracing` (level: 1 error … 5 trace).
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiLogRecord {
    pub level: u8,
    pub target: RString,
    pub message: RString,
}

/// What the host offers a driver: the host link across the boundary, called by
/// the driver from any thread. The host implements the Rust trait
/// [`crate::host::HostLink`]; the loader puts it behind this one. Both carry the
/// one name on purpose: this trait's name is part of the layout abi_stable
/// checks (`HostLink_TO`, `HostLink_Interface`), so it cannot change within a
/// major series without refusing every plugin built before.
#[sabi_trait]
pub trait HostLink: Send + Sync {
    /// Completes request `token` with 0 or a `PHONEERR_*` code.
    fn complete(&self, token: u64, result: u32);
    /// An event of the phone opened as `session`.
    fn phone_event(&self, session: u64, event: FfiPhoneEvent);
    /// A presence event of one of the driver's devices.
    fn driver_event(&self, event: FfiDriverEvent);
    /// A log line.
    #[sabi(last_prefix_field)]
    fn log(&self, record: FfiLogRecord);
}

pub type HostLinkBox = HostLink_TO<'static, RArc<()>>;

/// A shallow clone of the host's link (a reference-count increment).
pub fn clone_link(link: &HostLinkBox) -> HostLinkBox {
    HostLink_TO::from_sabi(link.obj.shallow_clone())
}

/// A loaded driver, as the host sees it.
#[sabi_trait]
pub trait FfiDriver: Send + Sync {
    fn devices(&self) -> FfiResult<RVec<FfiDevice>>;
    fn caps(&self, key: RStr<'_>) -> FfiResult<RVec<u8>>;
    fn open(&self, key: RStr<'_>, events: FfiPhoneEvents) -> FfiResult<FfiSessionBox>;
    fn concurrent_sessions(&self) -> bool;
    #[sabi(last_prefix_field)]
    fn shutdown(&self);
}

pub type FfiDriverBox = FfiDriver_TO<'static, RBox<()>>;

/// An open phone. Asynchronous operations take an [`FfiCompletion`].
#[sabi_trait]
pub trait FfiSession: Send + Sync {
    fn set_data(&self, data_id: u32, data: RSlice<'_, u8>, done: FfiCompletion);
    fn get_data(&self, data_id: u32, buf: RSliceMut<'_, u8>) -> FfiResult<()>;
    fn set_display(&self, row: u32, column: u32, text: RStr<'_>, done: FfiCompletion);
    fn get_display(&self) -> FfiResult<RString>;
    fn set_hookswitch(&self, devices: u32, mode: u32, done: FfiCompletion);
    fn get_hookswitch(&self) -> FfiResult<u32>;
    fn set_ring(&self, mode: u32, volume: u32, done: FfiCompletion);
    fn get_ring(&self) -> FfiResult<Tuple2<u32, u32>>;
    fn set_lamp(&self, id: u32, mode: u32, done: FfiCompletion);
    fn get_lamp(&self, id: u32) -> FfiResult<u32>;
    fn set_volume(&self, device: u32, volume: u32, done: FfiCompletion);
    fn get_volume(&self, device: u32) -> FfiResult<u32>;
    fn set_gain(&self, device: u32, gain: u32, done: FfiCompletion);
    fn get_gain(&self, device: u32) -> FfiResult<u32>;
    fn set_button_info(&self, id: u32, info: RVec<u8>, done: FfiCompletion);
    fn get_button_info(&self, id: u32) -> FfiResult<RVec<u8>>;
    fn get_status(&self) -> FfiResult<RVec<u8>>;
    fn dev_specific(&self, params: RSlice<'_, u8>, done: FfiCompletion);
    fn cancel(&self);
    #[sabi(last_prefix_field)]
    fn close(&self);
}

pub type FfiSessionBox = FfiSession_TO<'static, RBox<()>>;

/// The root module every plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = DriverModuleRef)))]
#[sabi(missing_field(option))]
pub struct DriverModule {
    /// The driver's name (the manifest's `name`).
    pub name: RStr<'static>,
    /// The driver's own version.
    pub version: RStr<'static>,
    /// The SDK version the plugin was built with.
    pub sdk_version: RStr<'static>,
    /// Starts the driver with its settings (TOML text) and the host's link.
    #[sabi(last_prefix_field)]
    pub start: extern "C" fn(settings: RStr<'_>, link: HostLinkBox) -> FfiResult<FfiDriverBox>,
    /// Routes the plugin's `tracing` output to the host (level 0 off … 5 trace).
    /// Added after the first prefix: a plugin without it loads, without logs.
    #[cfg(not(feature = "__fixture_older_sdk"))]
    pub install_log_bridge: extern "C" fn(link: HostLinkBox, max_level: u8),
}

pub type StartFn = extern "C" fn(settings: RStr<'_>, link: HostLinkBox) -> FfiResult<FfiDriverBox>;
pub type LogBridgeFn = extern "C" fn(link: HostLinkBox, max_level: u8);

impl DriverModule {
    /// The module `export_driver!` exports. A constructor, not a struct literal in
    /// the macro, so the fixtures' feature flags (which live in this crate) decide
    /// which fields exist.
    pub const fn new(
        name: &'static str,
        version: &'static str,
        start: StartFn,
        install_log_bridge: LogBridgeFn,
    ) -> Self {
        #[cfg(feature = "__fixture_older_sdk")]
        let _ = install_log_bridge;
        Self {
            name: RStr::from_str(name),
            version: RStr::from_str(version),
            sdk_version: RStr::from_str(crate::SDK_VERSION),
            start,
            #[cfg(not(feature = "__fixture_older_sdk"))]
            install_log_bridge,
        }
    }
}

/// Root-module layouts that older SDKs exported and this host still loads.
///
/// abi_stable 0.11 accepts a library whose prefix type has *more* fields than the
/// loader's, never fewer: a host with a newer root module cannot check an older
/// plugin against it. So every root layout of the current major series is kept
/// here, frozen, and the loader tries them newest first. Types reached from the
/// root (the trait objects) are frozen too: a minor SDK adds entry points only as
/// new root-module fields.
pub mod layout1 {
    use super::*;

    /// Layout 1: name, versions and `start`, without the log bridge.
    #[repr(C)]
    #[derive(StableAbi)]
    #[sabi(kind(Prefix(prefix_ref = DriverModuleRef)))]
    #[sabi(missing_field(option))]
    pub struct DriverModule {
        pub name: RStr<'static>,
        pub version: RStr<'static>,
        pub sdk_version: RStr<'static>,
        #[sabi(last_prefix_field)]
        pub start: extern "C" fn(settings: RStr<'_>, link: HostLinkBox) -> FfiResult<FfiDriverBox>,
    }

    impl RootModule for DriverModuleRef {
        abi_stable::declare_root_module_statics! {DriverModuleRef}
        const BASE_NAME: &'static str = "tsp_driver";
        const NAME: &'static str = "tsp-rs driver (layout 1)";
        const VERSION_STRINGS: VersionStrings = package_version_strings!();
    }
}

impl RootModule for DriverModuleRef {
    abi_stable::declare_root_module_statics! {DriverModuleRef}
    const BASE_NAME: &'static str = "tsp_driver";
    const NAME: &'static str = "tsp-rs driver";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
