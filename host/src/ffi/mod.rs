//! The TSP library's C exports: the `TSPI_*` functions with the prototypes of the
//! Windows SDK's `tspi.h` (`extern "system"`, `windows-sys` types). Every pointer
//! is checked; nothing unwinds out (a panic becomes `OPERATIONFAILED`). TAPI
//! vouches that `dwTotalSize` and `dwSize` bytes are there; nothing else it
//! passes is trusted: sizes and offsets inside a structure are checked with
//! checked arithmetic, and nothing is read or written past `dwTotalSize`
//! (`host/tests/c/hostile.c` tries it all).
#![allow(non_snake_case)]

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use tsp_core::sys::{
    ASYNC_COMPLETION, HDRVPHONE, HPROVIDER, HTAPIPHONE, LINEEVENT, PHONECAPS, PHONEEVENT,
    PHONESTATUS,
};
use tsp_core::{LineError, PhoneError};

use crate::config::ConfigSource;
use crate::provider::{HostSetup, Provider};
use crate::tapi::{CompletionProc, EventProc};

mod platform;
mod pointers;

use platform::{own_file, own_folder, pin_in_memory};
use pointers::{Member, in_bytes, in_struct, out_bytes, var_struct, wide_string, write_dword};

/// The process's one provider, created at the first TSPI call.
fn provider() -> &'static Provider {
    static PROVIDER: OnceLock<Provider> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let folder = own_folder();
        pin_in_memory();
        let config = ConfigSource::locate(folder.as_deref());
        match config.load() {
            Ok(config) => crate::logsink::install(&config.log, folder.as_deref()),
            Err(error) => {
                crate::logsink::install_fallback(folder.as_deref());
                tracing::error!("the configuration cannot be used: {error}");
            }
        }
        tracing::info!(folder = ?folder, "tsp-rs TSP library loaded");
        Provider::new(HostSetup {
            plugin_folder: folder,
            statics: Vec::new(),
            config,
        })
    })
}

fn guard_phone(call: &str, f: impl FnOnce() -> i32) -> i32 {
    let _span = tracing::debug_span!("tspi", call).entered();
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!(call, "panic inside the provider");
        PhoneError::OperationFailed.to_long()
    })
}

fn guard_line(call: &str, f: impl FnOnce() -> i32) -> i32 {
    let _span = tracing::debug_span!("tspi", call).entered();
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!(call, "panic inside the provider");
        LineError::OperationFailed.to_long()
    })
}

fn phone_result(result: Result<(), PhoneError>) -> i32 {
    tsp_core::phone_result(result)
}

fn handle(hd: HDRVPHONE) -> u64 {
    hd as usize as u64
}

/// `TSPI_lineNegotiateTSPIVersion`.
///
/// # Safety
/// `lpdwTSPIVersion` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_lineNegotiateTSPIVersion(
    dwDeviceID: u32,
    dwLowVersion: u32,
    dwHighVersion: u32,
    lpdwTSPIVersion: *mut u32,
) -> i32 {
    guard_line("TSPI_lineNegotiateTSPIVersion", || {
        if lpdwTSPIVersion.is_null() {
            return LineError::InvalPointer.to_long();
        }
        match provider().line_negotiate(dwDeviceID, dwLowVersion, dwHighVersion) {
            Ok(version) => {
                // SAFETY: checked non-null; TAPI passes a writable DWORD.
                unsafe { lpdwTSPIVersion.write_unaligned(version.raw()) };
                0
            }
            Err(error) => error.to_long(),
        }
    })
}

/// `TSPI_providerEnumDevices`.
///
/// # Safety
/// The count pointers are null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_providerEnumDevices(
    _dwPermanentProviderID: u32,
    lpdwNumLines: *mut u32,
    lpdwNumPhones: *mut u32,
    hProvider: HPROVIDER,
    _lpfnLineCreateProc: LINEEVENT,
    lpfnPhoneCreateProc: PHONEEVENT,
) -> i32 {
    guard_line("TSPI_providerEnumDevices", || {
        if lpdwNumLines.is_null() || lpdwNumPhones.is_null() {
            return LineError::InvalPointer.to_long();
        }
        let phones =
            provider().enum_devices(hProvider as usize, EventProc::new(lpfnPhoneCreateProc));
        // SAFETY: both checked non-null; TAPI passes writable DWORDs.
        unsafe {
            lpdwNumLines.write_unaligned(0);
            lpdwNumPhones.write_unaligned(phones);
        }
        0
    })
}

/// `TSPI_providerInit`.
///
/// # Safety
/// `lpdwTSPIOptions` is null or writable; `lpfnCompletionProc` stays valid until
/// the last shutdown.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_providerInit(
    _dwTSPIVersion: u32,
    _dwPermanentProviderID: u32,
    _dwLineDeviceIDBase: u32,
    dwPhoneDeviceIDBase: u32,
    _dwNumLines: usize,
    dwNumPhones: usize,
    lpfnCompletionProc: ASYNC_COMPLETION,
    lpdwTSPIOptions: *mut u32,
) -> i32 {
    guard_line("TSPI_providerInit", || {
        let Some(completion) = CompletionProc::new(lpfnCompletionProc) else {
            return LineError::InvalPointer.to_long();
        };
        if !phone_ids_fit(dwPhoneDeviceIDBase, dwNumPhones) {
            return LineError::InvalParam.to_long();
        }
        if !lpdwTSPIOptions.is_null() {
            // SAFETY: checked non-null. 0: the provider is reentrant.
            unsafe { lpdwTSPIOptions.write_unaligned(0) };
        }
        tsp_core::line_result(provider().init(dwPhoneDeviceIDBase, completion))
    })
}

/// Whether the phone ids from `base` on, one for each phone TAPI counts and
/// each the provider has, stay below `INITIALIZE_NEGOTIATION` (0xFFFFFFFF)
/// without wrapping: such an id could never be negotiated, and one that wraps
/// would be another device's. The last id, `base + count - 1`, is below
/// 0xFFFFFFFF exactly when `base + count` is still a `DWORD`.
///
/// Only the low `DWORD` of TAPI's `dwNumPhones` is read: headers before 2.0
/// declared it `DWORD` (today's `DWORD_PTR`, like `dwTempID`, reference §9.8),
/// and on x64 the upper half of a register carrying a `DWORD` is unspecified.
fn phone_ids_fit(base: u32, tapi_count: usize) -> bool {
    const _: () = assert!(tsp_core::sys::INITIALIZE_NEGOTIATION == u32::MAX);
    let tapi_count = u32::try_from(tapi_count & 0xFFFF_FFFF).unwrap_or(u32::MAX);
    let count = usize::try_from(tapi_count)
        .unwrap_or(usize::MAX)
        .max(provider().devices().len());
    u32::try_from(count)
        .ok()
        .and_then(|count| base.checked_add(count))
        .is_some()
}

/// `TSPI_providerShutdown`.
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_providerShutdown(
    _dwTSPIVersion: u32,
    _dwPermanentProviderID: u32,
) -> i32 {
    guard_line("TSPI_providerShutdown", || {
        tsp_core::line_result(provider().shutdown())
    })
}

/// `TSPI_phoneNegotiateTSPIVersion`.
///
/// # Safety
/// `lpdwTSPIVersion` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneNegotiateTSPIVersion(
    dwDeviceID: u32,
    dwLowVersion: u32,
    dwHighVersion: u32,
    lpdwTSPIVersion: *mut u32,
) -> i32 {
    guard_phone("TSPI_phoneNegotiateTSPIVersion", || {
        let result = provider()
            .phone_negotiate(dwDeviceID, dwLowVersion, dwHighVersion)
            .map(|version| version.raw());
        // SAFETY: forwarded from TAPI's contract.
        unsafe { write_dword(lpdwTSPIVersion, result) }
    })
}

/// `TSPI_phoneGetDevCaps`.
///
/// # Safety
/// `lpPhoneCaps` is null or a PHONECAPS of `dwTotalSize` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetDevCaps(
    dwDeviceID: u32,
    dwTSPIVersion: u32,
    _dwExtVersion: u32,
    lpPhoneCaps: *mut PHONECAPS,
) -> i32 {
    guard_phone("TSPI_phoneGetDevCaps", || {
        // SAFETY: TAPI passes a PHONECAPS of dwTotalSize bytes, or null.
        let buf = unsafe { var_struct(lpPhoneCaps.cast()) };
        phone_result(buf.and_then(|buf| {
            provider()
                .get_dev_caps(dwDeviceID, dwTSPIVersion, buf)
                .map(|_| ())
        }))
    })
}

/// `TSPI_phoneOpen`.
///
/// # Safety
/// `lphdPhone` is null or writable; `lpfnEventProc` stays valid until the phone is
/// closed.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneOpen(
    dwDeviceID: u32,
    htPhone: HTAPIPHONE,
    lphdPhone: *mut HDRVPHONE,
    dwTSPIVersion: u32,
    lpfnEventProc: PHONEEVENT,
) -> i32 {
    guard_phone("TSPI_phoneOpen", || {
        let Some(events) = EventProc::new(lpfnEventProc) else {
            return PhoneError::InvalPointer.to_long();
        };
        if lphdPhone.is_null() {
            return PhoneError::InvalPointer.to_long();
        }
        match provider().open(dwDeviceID, htPhone as usize, dwTSPIVersion, events) {
            Ok(hd) => {
                // SAFETY: checked non-null; TAPI passes a writable HDRVPHONE.
                unsafe { lphdPhone.write_unaligned(hd as usize as HDRVPHONE) };
                0
            }
            Err(error) => error.to_long(),
        }
    })
}

/// `TSPI_phoneClose`.
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_phoneClose(hdPhone: HDRVPHONE) -> i32 {
    guard_phone("TSPI_phoneClose", || {
        phone_result(provider().close(handle(hdPhone)))
    })
}

/// `TSPI_phoneSetData` (asynchronous).
///
/// # Safety
/// `lpData` is null or `dwSize` readable bytes (copied before returning).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneSetData(
    dwRequestID: u32,
    hdPhone: HDRVPHONE,
    dwDataID: u32,
    lpData: *const c_void,
    dwSize: u32,
) -> i32 {
    guard_phone("TSPI_phoneSetData", || {
        // SAFETY: TAPI passes dwSize readable bytes, or null; the host copies what
        // it keeps before the call returns (a queued request owns its bytes).
        match unsafe { in_bytes(lpData, dwSize) } {
            Ok(data) => provider().set_data(dwRequestID, handle(hdPhone), dwDataID, data),
            Err(error) => error.to_long(),
        }
    })
}

/// `TSPI_phoneGetData`.
///
/// # Safety
/// `lpData` is null or `dwSize` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetData(
    hdPhone: HDRVPHONE,
    dwDataID: u32,
    lpData: *mut c_void,
    dwSize: u32,
) -> i32 {
    guard_phone("TSPI_phoneGetData", || {
        // SAFETY: TAPI passes dwSize writable bytes, or null.
        let buf = unsafe { out_bytes(lpData, dwSize) };
        phone_result(buf.and_then(|buf| provider().get_data(handle(hdPhone), dwDataID, buf)))
    })
}

/// `TSPI_phoneSetStatusMessages`.
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_phoneSetStatusMessages(
    hdPhone: HDRVPHONE,
    dwPhoneStates: u32,
    dwButtonModes: u32,
    dwButtonStates: u32,
) -> i32 {
    guard_phone("TSPI_phoneSetStatusMessages", || {
        phone_result(provider().set_status_messages(
            handle(hdPhone),
            dwPhoneStates,
            dwButtonModes,
            dwButtonStates,
        ))
    })
}

/// `TSPI_phoneGetStatus`.
///
/// # Safety
/// `lpPhoneStatus` is null or a PHONESTATUS of `dwTotalSize` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetStatus(
    hdPhone: HDRVPHONE,
    lpPhoneStatus: *mut PHONESTATUS,
) -> i32 {
    guard_phone("TSPI_phoneGetStatus", || {
        // SAFETY: TAPI passes a PHONESTATUS of dwTotalSize bytes, or null.
        let buf = unsafe { var_struct(lpPhoneStatus.cast()) };
        phone_result(buf.and_then(|buf| provider().get_status(handle(hdPhone), buf).map(|_| ())))
    })
}

/// `TSPI_phoneDevSpecific` (asynchronous).
///
/// # Safety
/// `lpParams` is null or `dwSize` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneDevSpecific(
    dwRequestID: u32,
    hdPhone: HDRVPHONE,
    lpParams: *mut c_void,
    dwSize: u32,
) -> i32 {
    guard_phone("TSPI_phoneDevSpecific", || {
        // SAFETY: TAPI passes dwSize readable bytes, or null; copied before the
        // call returns if kept.
        match unsafe { in_bytes(lpParams, dwSize) } {
            Ok(params) => provider().dev_specific(dwRequestID, handle(hdPhone), params),
            Err(error) => error.to_long(),
        }
    })
}

/// `TSPI_phoneGetButtonInfo`.
///
/// # Safety
/// `lpButtonInfo` is null or a PHONEBUTTONINFO of `dwTotalSize` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetButtonInfo(
    hdPhone: HDRVPHONE,
    dwButtonLampID: u32,
    lpButtonInfo: *mut tsp_core::sys::PHONEBUTTONINFO,
) -> i32 {
    guard_phone("TSPI_phoneGetButtonInfo", || {
        // SAFETY: TAPI passes a PHONEBUTTONINFO of dwTotalSize bytes, or null.
        let buf = unsafe { var_struct(lpButtonInfo.cast()) };
        phone_result(buf.and_then(|buf| {
            provider()
                .get_button_info(handle(hdPhone), dwButtonLampID, buf)
                .map(|_| ())
        }))
    })
}

/// `TSPI_phoneGetDisplay`.
///
/// # Safety
/// `lpDisplay` is null or a VARSTRING of `dwTotalSize` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetDisplay(
    hdPhone: HDRVPHONE,
    lpDisplay: *mut tsp_core::sys::VARSTRING,
) -> i32 {
    guard_phone("TSPI_phoneGetDisplay", || {
        // SAFETY: TAPI passes a VARSTRING of dwTotalSize bytes, or null.
        let buf = unsafe { var_struct(lpDisplay.cast()) };
        phone_result(buf.and_then(|buf| provider().get_display(handle(hdPhone), buf).map(|_| ())))
    })
}

/// `TSPI_phoneGetExtensionID`.
///
/// # Safety
/// `lpExtensionID` is null or a writable PHONEEXTENSIONID.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetExtensionID(
    dwDeviceID: u32,
    dwTSPIVersion: u32,
    lpExtensionID: *mut tsp_core::sys::PHONEEXTENSIONID,
) -> i32 {
    guard_phone("TSPI_phoneGetExtensionID", || {
        if lpExtensionID.is_null() {
            return PhoneError::InvalPointer.to_long();
        }
        match provider().get_extension_id(dwDeviceID, dwTSPIVersion) {
            Ok([a, b, c, d]) => {
                let id = tsp_core::sys::PHONEEXTENSIONID {
                    dwExtensionID0: a,
                    dwExtensionID1: b,
                    dwExtensionID2: c,
                    dwExtensionID3: d,
                };
                // SAFETY: checked non-null; TAPI passes a writable PHONEEXTENSIONID.
                unsafe { lpExtensionID.write_unaligned(id) };
                0
            }
            Err(error) => error.to_long(),
        }
    })
}

/// `TSPI_phoneGetGain`.
///
/// # Safety
/// `lpdwGain` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetGain(
    hdPhone: HDRVPHONE,
    dwHookSwitchDev: u32,
    lpdwGain: *mut u32,
) -> i32 {
    guard_phone("TSPI_phoneGetGain", || {
        // SAFETY: forwarded from TAPI's contract.
        unsafe {
            write_dword(
                lpdwGain,
                provider().get_gain(handle(hdPhone), dwHookSwitchDev),
            )
        }
    })
}

/// `TSPI_phoneGetHookSwitch`.
///
/// # Safety
/// `lpdwHookSwitchDevs` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetHookSwitch(
    hdPhone: HDRVPHONE,
    lpdwHookSwitchDevs: *mut u32,
) -> i32 {
    guard_phone("TSPI_phoneGetHookSwitch", || {
        // SAFETY: forwarded from TAPI's contract.
        unsafe {
            write_dword(
                lpdwHookSwitchDevs,
                provider().get_hookswitch(handle(hdPhone)),
            )
        }
    })
}

/// `TSPI_phoneGetIcon`: writes a null icon, so TAPI uses its generic phone icon.
///
/// # Safety
/// `lpszDeviceClass` is null or a NUL-terminated UTF-16 string; `lphIcon` is null
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetIcon(
    dwDeviceID: u32,
    lpszDeviceClass: *const u16,
    lphIcon: *mut *mut c_void,
) -> i32 {
    guard_phone("TSPI_phoneGetIcon", || {
        if lphIcon.is_null() {
            return PhoneError::InvalPointer.to_long();
        }
        // SAFETY: TAPI passes a NUL-terminated class name, or null.
        let class = unsafe { wide_string(lpszDeviceClass) };
        if !lpszDeviceClass.is_null() && class.is_none() {
            return PhoneError::InvalDeviceClass.to_long();
        }
        match provider().get_icon(dwDeviceID, class.as_deref()) {
            Ok(()) => {
                // SAFETY: checked non-null.
                unsafe { lphIcon.write_unaligned(std::ptr::null_mut()) };
                0
            }
            Err(error) => error.to_long(),
        }
    })
}

/// `TSPI_phoneGetID`.
///
/// # Safety
/// `lpDeviceID` is null or a VARSTRING of `dwTotalSize` writable bytes;
/// `lpszDeviceClass` is null or a NUL-terminated UTF-16 string.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetID(
    hdPhone: HDRVPHONE,
    lpDeviceID: *mut tsp_core::sys::VARSTRING,
    lpszDeviceClass: *const u16,
    _hTargetProcess: *mut c_void,
) -> i32 {
    guard_phone("TSPI_phoneGetID", || {
        // SAFETY: TAPI passes a VARSTRING of dwTotalSize bytes, or null.
        let buf = match unsafe { var_struct(lpDeviceID.cast()) } {
            Ok(buf) => buf,
            Err(error) => return error.to_long(),
        };
        // Unlike GetIcon's, GetID's class is not optional (reference §5.8): a
        // null one is a null pointer.
        if lpszDeviceClass.is_null() {
            return PhoneError::InvalPointer.to_long();
        }
        // SAFETY: TAPI passes a NUL-terminated class name (checked non-null).
        let Some(class) = (unsafe { wide_string(lpszDeviceClass) }) else {
            return PhoneError::InvalDeviceClass.to_long();
        };
        phone_result(provider().get_id(handle(hdPhone), &class, buf).map(|_| ()))
    })
}

/// `TSPI_phoneGetLamp`.
///
/// # Safety
/// `lpdwLampMode` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetLamp(
    hdPhone: HDRVPHONE,
    dwButtonLampID: u32,
    lpdwLampMode: *mut u32,
) -> i32 {
    guard_phone("TSPI_phoneGetLamp", || {
        // SAFETY: forwarded from TAPI's contract.
        unsafe {
            write_dword(
                lpdwLampMode,
                provider().get_lamp(handle(hdPhone), dwButtonLampID),
            )
        }
    })
}

/// `TSPI_phoneGetRing`.
///
/// # Safety
/// Both pointers are null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetRing(
    hdPhone: HDRVPHONE,
    lpdwRingMode: *mut u32,
    lpdwVolume: *mut u32,
) -> i32 {
    guard_phone("TSPI_phoneGetRing", || {
        if lpdwRingMode.is_null() || lpdwVolume.is_null() {
            return PhoneError::InvalPointer.to_long();
        }
        match provider().get_ring(handle(hdPhone)) {
            Ok((mode, volume)) => {
                // SAFETY: both checked non-null.
                unsafe {
                    lpdwRingMode.write_unaligned(mode);
                    lpdwVolume.write_unaligned(volume);
                }
                0
            }
            Err(error) => error.to_long(),
        }
    })
}

/// `TSPI_phoneGetVolume`.
///
/// # Safety
/// `lpdwVolume` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneGetVolume(
    hdPhone: HDRVPHONE,
    dwHookSwitchDev: u32,
    lpdwVolume: *mut u32,
) -> i32 {
    guard_phone("TSPI_phoneGetVolume", || {
        // SAFETY: forwarded from TAPI's contract.
        unsafe {
            write_dword(
                lpdwVolume,
                provider().get_volume(handle(hdPhone), dwHookSwitchDev),
            )
        }
    })
}

/// `TSPI_phoneNegotiateExtVersion`.
///
/// # Safety
/// `lpdwExtVersion` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneNegotiateExtVersion(
    dwDeviceID: u32,
    dwTSPIVersion: u32,
    dwLowVersion: u32,
    dwHighVersion: u32,
    lpdwExtVersion: *mut u32,
) -> i32 {
    guard_phone("TSPI_phoneNegotiateExtVersion", || {
        let result = provider().negotiate_ext_version(
            dwDeviceID,
            dwTSPIVersion,
            dwLowVersion,
            dwHighVersion,
        );
        // SAFETY: forwarded from TAPI's contract.
        unsafe { write_dword(lpdwExtVersion, result) }
    })
}

/// `TSPI_phoneSelectExtVersion`.
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_phoneSelectExtVersion(hdPhone: HDRVPHONE, dwExtVersion: u32) -> i32 {
    guard_phone("TSPI_phoneSelectExtVersion", || {
        phone_result(provider().select_ext_version(handle(hdPhone), dwExtVersion))
    })
}

/// `TSPI_phoneSetButtonInfo` (asynchronous).
///
/// # Safety
/// `lpButtonInfo` is null or a PHONEBUTTONINFO of `dwTotalSize` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneSetButtonInfo(
    dwRequestID: u32,
    hdPhone: HDRVPHONE,
    dwButtonLampID: u32,
    lpButtonInfo: *const tsp_core::sys::PHONEBUTTONINFO,
) -> i32 {
    guard_phone("TSPI_phoneSetButtonInfo", || {
        use tsp_core::sys::PHONEBUTTONINFO;
        // The structure is checked before the handle, as every pointer is: its
        // fixed part is 40 bytes for every version this provider negotiates
        // (2.0 and later; 36 was 1.3's).
        let members = [
            Member {
                size_at: std::mem::offset_of!(PHONEBUTTONINFO, dwButtonTextSize),
                offset_at: std::mem::offset_of!(PHONEBUTTONINFO, dwButtonTextOffset),
            },
            Member {
                size_at: std::mem::offset_of!(PHONEBUTTONINFO, dwDevSpecificSize),
                offset_at: std::mem::offset_of!(PHONEBUTTONINFO, dwDevSpecificOffset),
            },
        ];
        let fixed = std::mem::size_of::<PHONEBUTTONINFO>();
        // SAFETY: TAPI passes a PHONEBUTTONINFO of dwTotalSize readable bytes, or
        // null; it is read (and what is kept copied) before the call returns.
        match unsafe { in_struct(lpButtonInfo.cast(), fixed, &members) } {
            Ok(info) => {
                provider().set_button_info(dwRequestID, handle(hdPhone), dwButtonLampID, info)
            }
            Err(error) => error.to_long(),
        }
    })
}

/// `TSPI_phoneSetDisplay` (asynchronous): UTF-16 text, `dwSize` bytes with its
/// terminator.
///
/// # Safety
/// `lpsDisplay` is null or `dwSize` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_phoneSetDisplay(
    dwRequestID: u32,
    hdPhone: HDRVPHONE,
    dwRow: u32,
    dwColumn: u32,
    lpsDisplay: *const u16,
    dwSize: u32,
) -> i32 {
    guard_phone("TSPI_phoneSetDisplay", || {
        // Null is refused even with a dwSize of 0: text always holds its NUL.
        if lpsDisplay.is_null() {
            return PhoneError::InvalPointer.to_long();
        }
        // SAFETY: TAPI passes dwSize readable bytes (checked non-null). An odd
        // dwSize, or no NUL inside it, is INVALPARAM (`display_text`): what TAPI
        // does not promise is checked, and nothing past dwSize is read.
        match unsafe { in_bytes(lpsDisplay.cast(), dwSize) } {
            Ok(bytes) => {
                provider().set_display(dwRequestID, handle(hdPhone), dwRow, dwColumn, bytes)
            }
            Err(error) => error.to_long(),
        }
    })
}

/// `TSPI_phoneSetGain` (asynchronous).
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_phoneSetGain(
    dwRequestID: u32,
    hdPhone: HDRVPHONE,
    dwHookSwitchDev: u32,
    dwGain: u32,
) -> i32 {
    guard_phone("TSPI_phoneSetGain", || {
        provider().set_gain(dwRequestID, handle(hdPhone), dwHookSwitchDev, dwGain)
    })
}

/// `TSPI_phoneSetHookSwitch` (asynchronous).
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_phoneSetHookSwitch(
    dwRequestID: u32,
    hdPhone: HDRVPHONE,
    dwHookSwitchDevs: u32,
    dwHookSwitchMode: u32,
) -> i32 {
    guard_phone("TSPI_phoneSetHookSwitch", || {
        provider().set_hookswitch(
            dwRequestID,
            handle(hdPhone),
            dwHookSwitchDevs,
            dwHookSwitchMode,
        )
    })
}

/// `TSPI_phoneSetLamp` (asynchronous).
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_phoneSetLamp(
    dwRequestID: u32,
    hdPhone: HDRVPHONE,
    dwButtonLampID: u32,
    dwLampMode: u32,
) -> i32 {
    guard_phone("TSPI_phoneSetLamp", || {
        provider().set_lamp(dwRequestID, handle(hdPhone), dwButtonLampID, dwLampMode)
    })
}

/// `TSPI_phoneSetRing` (asynchronous).
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_phoneSetRing(
    dwRequestID: u32,
    hdPhone: HDRVPHONE,
    dwRingMode: u32,
    dwVolume: u32,
) -> i32 {
    guard_phone("TSPI_phoneSetRing", || {
        provider().set_ring(dwRequestID, handle(hdPhone), dwRingMode, dwVolume)
    })
}

/// `TSPI_phoneSetVolume` (asynchronous).
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_phoneSetVolume(
    dwRequestID: u32,
    hdPhone: HDRVPHONE,
    dwHookSwitchDev: u32,
    dwVolume: u32,
) -> i32 {
    guard_phone("TSPI_phoneSetVolume", || {
        provider().set_volume(dwRequestID, handle(hdPhone), dwHookSwitchDev, dwVolume)
    })
}

/// `TSPI_providerCreatePhoneDevice`: binds a PHONE_CREATE's temporary id to the
/// device id TAPI chose.
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_providerCreatePhoneDevice(dwTempID: usize, dwDeviceID: u32) -> i32 {
    guard_phone("TSPI_providerCreatePhoneDevice", || {
        // An id TSPI_phoneNegotiateTSPIVersion takes for INITIALIZE_NEGOTIATION
        // could never be negotiated: refused before the arrival is taken, so a
        // good id can still bind it.
        if dwDeviceID == tsp_core::sys::INITIALIZE_NEGOTIATION {
            return PhoneError::BadDeviceId.to_long();
        }
        phone_result(provider().create_phone_device(dwTempID, dwDeviceID))
    })
}

/// `TSPI_providerInstall`: nothing to set up beyond the files (the Telephony
/// control panel calls it when the provider is added).
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_providerInstall(
    _hwndOwner: *mut c_void,
    _dwPermanentProviderID: u32,
) -> i32 {
    0
}

/// `TSPI_providerRemove`: nothing to take down.
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_providerRemove(
    _hwndOwner: *mut c_void,
    _dwPermanentProviderID: u32,
) -> i32 {
    0
}

/// `TSPI_providerConfig`: no configuration dialog; the file is `tsp-rs.toml`.
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_providerConfig(
    _hwndOwner: *mut c_void,
    _dwPermanentProviderID: u32,
) -> i32 {
    LineError::OperationUnavail.to_long()
}

/// The longest path `TSPI_providerUIIdentify` writes (TAPI passes MAX_PATH).
const UI_PATH_UNITS: usize = 260;

/// `TSPI_providerUIIdentify`: the TSP is its own UI DLL; writes its own path.
///
/// # Safety
/// `lpszUIDLLName` is null or has room for MAX_PATH UTF-16 units.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn TSPI_providerUIIdentify(lpszUIDLLName: *mut u16) -> i32 {
    guard_line("TSPI_providerUIIdentify", || {
        if lpszUIDLLName.is_null() {
            return LineError::InvalPointer.to_long();
        }
        let path = own_file()
            .map(|file| file.to_string_lossy().into_owned())
            .unwrap_or_default();
        let units: Vec<u16> = path
            .encode_utf16()
            .take(UI_PATH_UNITS - 1)
            .chain(std::iter::once(0))
            .collect();
        // SAFETY: checked non-null; TAPI gives MAX_PATH units and we write fewer.
        unsafe { std::ptr::copy_nonoverlapping(units.as_ptr(), lpszUIDLLName, units.len()) };
        0
    })
}

/// `TSPI_providerGenericDialogData`: there are no dialogs to talk to.
#[unsafe(no_mangle)]
pub extern "system" fn TSPI_providerGenericDialogData(
    _dwObjectID: usize,
    _dwObjectType: u32,
    _lpParams: *mut c_void,
    _dwSize: u32,
) -> i32 {
    LineError::OperationUnavail.to_long()
}

/// `TUISPI_providerInstall`: nothing to ask the user.
#[unsafe(no_mangle)]
pub extern "system" fn TUISPI_providerInstall(
    _lpfnUIDLLCallback: *mut c_void,
    _hwndOwner: *mut c_void,
    _dwPermanentProviderID: u32,
) -> i32 {
    0
}

/// `TUISPI_providerRemove`: nothing to ask the user.
#[unsafe(no_mangle)]
pub extern "system" fn TUISPI_providerRemove(
    _lpfnUIDLLCallback: *mut c_void,
    _hwndOwner: *mut c_void,
    _dwPermanentProviderID: u32,
) -> i32 {
    0
}

/// `TUISPI_phoneConfigDialog`: no dialog (reference §3.3 allows OPERATIONUNAVAIL).
#[unsafe(no_mangle)]
pub extern "system" fn TUISPI_phoneConfigDialog(
    _lpfnUIDLLCallback: *mut c_void,
    _dwDeviceID: u32,
    _hwndOwner: *mut c_void,
    _lpszDeviceClass: *const u16,
) -> i32 {
    PhoneError::OperationUnavail.to_long()
}
