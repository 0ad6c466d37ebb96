//! The TSP library's C exports: the `TSPI_*` functions with the prototypes of the
//! Windows SDK's `tspi.h` (`extern "system"`, `windows-sys` types). Every pointer
//! is checked; nothing unwinds out (a panic becomes `OPERATIONFAILED`).
#![allow(non_snake_case)]

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::OnceLock;

use tsp_core::sys::{
    ASYNC_COMPLETION, HDRVPHONE, HPROVIDER, HTAPIPHONE, LINEEVENT, PHONECAPS, PHONEEVENT,
    PHONESTATUS,
};
use tsp_core::{LineError, PhoneError};

use crate::config::ConfigSource;
use crate::provider::{HostSetup, Provider};
use crate::tapi::{CompletionProc, EventProc};

/// The process's one provider, created at the first TSPI call.
fn provider() -> &'static Provider {
    static PROVIDER: OnceLock<Provider> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let folder = own_folder();
        pin_in_memory();
        let config = ConfigSource::locate(folder.as_deref());
        if let Ok(config) = config.load() {
            crate::logsink::install(&config.log);
        }
        tracing::info!(folder = ?folder, "tsp-rs TSP library loaded");
        Provider::new(HostSetup {
            plugin_folder: folder,
            statics: Vec::new(),
            config,
        })
    })
}

/// The folder holding this library.
#[cfg(unix)]
fn own_folder() -> Option<PathBuf> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let here = own_folder as *const c_void;
    // SAFETY: `dladdr` only reads the address and fills `info`; `here` is the
    // address of a function in this library.
    let found = unsafe { libc::dladdr(here, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: dladdr succeeded, so it initialised `info`.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader, valid while
    // the library is loaded (it is pinned).
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(std::ffi::OsStr::new(&*name.to_string_lossy()));
    let path = path.canonicalize().unwrap_or(path);
    path.parent().map(PathBuf::from)
}

#[cfg(not(unix))]
fn own_folder() -> Option<PathBuf> {
    None
}

/// Keeps this library mapped after TAPI lets go of it, so a late driver thread
/// can never run unmapped code.
#[cfg(unix)]
fn pin_in_memory() {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let here = pin_in_memory as *const c_void;
    // SAFETY: as in `own_folder`.
    if unsafe { libc::dladdr(here, info.as_mut_ptr()) } == 0 {
        return;
    }
    // SAFETY: dladdr succeeded and initialised `info`.
    let name = unsafe { info.assume_init() }.dli_fname;
    // SAFETY: `name` is this library's own path from the loader; RTLD_NOLOAD only
    // takes another reference to the already loaded library, and RTLD_NODELETE
    // keeps it mapped. The handle is deliberately never closed.
    let _ = unsafe {
        libc::dlopen(
            name,
            libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
        )
    };
}

#[cfg(not(unix))]
fn pin_in_memory() {}

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

/// A TAPI variable-size structure as a byte slice of its `dwTotalSize`.
///
/// # Safety
/// `ptr` is null or points to at least 4 readable bytes, and to `dwTotalSize`
/// writable bytes, as TAPI guarantees for the structures it passes.
unsafe fn var_struct<'a>(ptr: *mut u8) -> Option<&'a mut [u8]> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller promises 4 readable bytes; the read is unaligned-safe.
    let total = unsafe { std::ptr::read_unaligned(ptr as *const u32) } as usize;
    // SAFETY: the caller promises `dwTotalSize` writable bytes at `ptr`.
    Some(unsafe { std::slice::from_raw_parts_mut(ptr, total) })
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
    _dwNumPhones: usize,
    lpfnCompletionProc: ASYNC_COMPLETION,
    lpdwTSPIOptions: *mut u32,
) -> i32 {
    guard_line("TSPI_providerInit", || {
        let Some(completion) = CompletionProc::new(lpfnCompletionProc) else {
            return LineError::InvalPointer.to_long();
        };
        if !lpdwTSPIOptions.is_null() {
            // SAFETY: checked non-null. 0: the provider is reentrant.
            unsafe { lpdwTSPIOptions.write_unaligned(0) };
        }
        tsp_core::line_result(provider().init(dwPhoneDeviceIDBase, completion))
    })
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
        if lpdwTSPIVersion.is_null() {
            return PhoneError::InvalPointer.to_long();
        }
        match provider().phone_negotiate(dwDeviceID, dwLowVersion, dwHighVersion) {
            Ok(version) => {
                // SAFETY: checked non-null.
                unsafe { lpdwTSPIVersion.write_unaligned(version.raw()) };
                0
            }
            Err(error) => error.to_long(),
        }
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
        let Some(buf) = (unsafe { var_struct(lpPhoneCaps.cast()) }) else {
            return PhoneError::InvalPointer.to_long();
        };
        phone_result(
            provider()
                .get_dev_caps(dwDeviceID, dwTSPIVersion, buf)
                .map(|_| ()),
        )
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
        let data: &[u8] = match (lpData.is_null(), dwSize) {
            (_, 0) => &[],
            (true, _) => return PhoneError::InvalPointer.to_long(),
            // SAFETY: TAPI passes dwSize readable bytes; the driver copies what it
            // keeps before the call returns (the SDK's contract).
            (false, size) => unsafe { std::slice::from_raw_parts(lpData.cast(), size as usize) },
        };
        provider().set_data(dwRequestID, handle(hdPhone), dwDataID, data)
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
        let buf: &mut [u8] = match (lpData.is_null(), dwSize) {
            (_, 0) => &mut [],
            (true, _) => return PhoneError::InvalPointer.to_long(),
            // SAFETY: TAPI passes dwSize writable bytes.
            (false, size) => unsafe {
                std::slice::from_raw_parts_mut(lpData.cast(), size as usize)
            },
        };
        phone_result(provider().get_data(handle(hdPhone), dwDataID, buf))
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
        let Some(buf) = (unsafe { var_struct(lpPhoneStatus.cast()) }) else {
            return PhoneError::InvalPointer.to_long();
        };
        phone_result(provider().get_status(handle(hdPhone), buf).map(|_| ()))
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
        let params: &[u8] = match (lpParams.is_null(), dwSize) {
            (_, 0) => &[],
            (true, _) => return PhoneError::InvalPointer.to_long(),
            // SAFETY: TAPI passes dwSize readable bytes, copied before return.
            (false, size) => unsafe { std::slice::from_raw_parts(lpParams.cast(), size as usize) },
        };
        provider().dev_specific(dwRequestID, handle(hdPhone), params)
    })
}
