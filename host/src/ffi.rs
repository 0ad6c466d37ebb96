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

/// The folder holding this library.
fn own_folder() -> Option<PathBuf> {
    own_file()?.parent().map(PathBuf::from)
}

/// The file this library was loaded from, under whatever name it has.
#[cfg(unix)]
fn own_file() -> Option<PathBuf> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let here = own_file as *const c_void;
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
    Some(path.canonicalize().unwrap_or(path))
}

#[cfg(windows)]
fn own_file() -> Option<PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    use windows_sys::Win32::System::LibraryLoader::{
        GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
        GetModuleFileNameW, GetModuleHandleExW,
    };
    let mut module = std::ptr::null_mut();
    let flags =
        GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT;
    let here = own_file as *const u16;
    // SAFETY: with FROM_ADDRESS the "name" is an address inside this module, which
    // it is; `module` receives the handle without a new reference.
    if unsafe { GetModuleHandleExW(flags, here, &mut module) } == 0 {
        return None;
    }
    let mut path = vec![0u16; 32 * 1024];
    // SAFETY: `module` is this module; the buffer holds `path.len()` UTF-16 units.
    let length =
        unsafe { GetModuleFileNameW(module, path.as_mut_ptr(), path.len() as u32) } as usize;
    if length == 0 || length >= path.len() {
        return None;
    }
    let path = std::ffi::OsString::from_wide(&path[..length]);
    Some(PathBuf::from(path))
}

#[cfg(not(any(unix, windows)))]
fn own_file() -> Option<PathBuf> {
    None
}

/// Keeps this library mapped after TAPI lets go of it, so a late driver thread
/// can never run unmapped code.
#[cfg(unix)]
fn pin_in_memory() {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let here = pin_in_memory as *const c_void;
    // SAFETY: as in `own_file`.
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

/// Keeps this library mapped: TAPISRV unloads the TSP after the last shutdown.
#[cfg(windows)]
fn pin_in_memory() {
    use windows_sys::Win32::System::LibraryLoader::{
        GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, GET_MODULE_HANDLE_EX_FLAG_PIN, GetModuleHandleExW,
    };
    let mut module = std::ptr::null_mut();
    let here = pin_in_memory as *const u16;
    // SAFETY: as in `own_file`; PIN keeps the module loaded until the process ends.
    let pinned = unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
            here,
            &mut module,
        )
    };
    if pinned == 0 {
        tracing::warn!("could not pin the TSP library in memory");
    }
}

#[cfg(not(any(unix, windows)))]
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

/// A size TAPI passed, as a slice length. TAPI guarantees that `dwSize` (or
/// `dwTotalSize`) bytes are really there, so any `DWORD` is a length on a 64-bit
/// target; where `usize` is narrower, or the size is past what one allocation may
/// span (`isize::MAX`), it cannot describe a real buffer: `INVALPARAM`.
fn length(size: u32) -> Result<usize, PhoneError> {
    usize::try_from(size)
        .ok()
        .filter(|&len| isize::try_from(len).is_ok())
        .ok_or(PhoneError::InvalParam)
}

/// Reads `dwTotalSize` (offset 0) of a structure TAPI passed.
///
/// # Safety
/// `ptr` is non-null and points to at least 4 readable bytes.
unsafe fn total_size(ptr: *const u8) -> u32 {
    // SAFETY: the caller promises 4 readable bytes; the read is unaligned-safe.
    unsafe { std::ptr::read_unaligned(ptr.cast::<u32>()) }
}

/// A TAPI variable-size structure TAPI passes out (the provider fills it), as a
/// byte slice of exactly its `dwTotalSize`: nothing past it is ever written. A
/// `dwTotalSize` below the fixed part is the writer's `STRUCTURETOOSMALL`.
///
/// # Safety
/// `ptr` is null or points to `dwTotalSize` writable bytes (at least 4), as TAPI
/// guarantees for the structures it passes.
unsafe fn var_struct<'a>(ptr: *mut u8) -> Result<&'a mut [u8], PhoneError> {
    if ptr.is_null() {
        return Err(PhoneError::InvalPointer);
    }
    // SAFETY: non-null; the caller promises at least 4 readable bytes.
    let total = length(unsafe { total_size(ptr) })?;
    // SAFETY: the caller promises `dwTotalSize` writable bytes at `ptr`, and
    // `length` keeps it within one allocation's span.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, total) })
}

/// A variable member of a structure TAPI passes in: the offsets of its
/// `dwXxxSize` and `dwXxxOffset` fields.
struct Member {
    size_at: usize,
    offset_at: usize,
}

/// A TAPI variable-size structure passed in for reading only, as a byte slice of
/// exactly its `dwTotalSize`, with every variable member checked to lie inside it.
///
/// `dwTotalSize` below `fixed` is `STRUCTURETOOSMALL` (what TAPI's own
/// `phoneSetButtonInfo` answers for it; the TSPI page lists no code for a bad
/// structure, since TAPI checks it first, so the provider answers as TAPI does).
/// A member whose `dwXxxOffset + dwXxxSize` overflows a `DWORD` or ends past
/// `dwTotalSize` is `INVALPARAM`: nothing of it is read, nor is the request
/// accepted without it. The tolerant readings (reference §4.1 rule 4): a size of
/// 0 is "no member" whatever its offset, and a member anywhere inside
/// `dwTotalSize` is taken as it is, also one overlapping the fixed part (TAPI's
/// client refuses that before it reaches a provider; reading it is harmless).
///
/// # Safety
/// `ptr` is null or points to `dwTotalSize` readable bytes (at least 4).
unsafe fn in_struct<'a>(
    ptr: *const u8,
    fixed: usize,
    members: &[Member],
) -> Result<&'a [u8], PhoneError> {
    if ptr.is_null() {
        return Err(PhoneError::InvalPointer);
    }
    // SAFETY: non-null; the caller promises at least 4 readable bytes.
    let total = length(unsafe { total_size(ptr) })?;
    if total < fixed {
        return Err(PhoneError::StructureTooSmall);
    }
    // SAFETY: the caller promises `dwTotalSize` readable bytes at `ptr`, and
    // `length` keeps it within one allocation's span.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, total) };
    let dword = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(PhoneError::StructureTooSmall)
    };
    for member in members {
        let size = dword(member.size_at)?;
        if size == 0 {
            continue;
        }
        let offset = dword(member.offset_at)?;
        let end = offset.checked_add(size).ok_or(PhoneError::InvalParam)?;
        if length(end)? > total {
            return Err(PhoneError::InvalParam);
        }
    }
    Ok(bytes)
}

/// `dwSize` bytes TAPI passes in at `ptr`: empty for a size of 0 (whatever the
/// pointer), `INVALPOINTER` for null with a size.
///
/// # Safety
/// `ptr` is null or points to `size` readable bytes that stay valid, unchanged,
/// for `'a`.
unsafe fn in_bytes<'a>(ptr: *const c_void, size: u32) -> Result<&'a [u8], PhoneError> {
    if size == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(PhoneError::InvalPointer);
    }
    let len = length(size)?;
    // SAFETY: non-null; the caller promises `size` readable bytes, and `length`
    // keeps them within one allocation's span.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// `dwSize` writable bytes TAPI passes at `ptr`: empty for a size of 0,
/// `INVALPOINTER` for null with a size.
///
/// # Safety
/// `ptr` is null or points to `size` writable bytes, not otherwise used for `'a`.
unsafe fn out_bytes<'a>(ptr: *mut c_void, size: u32) -> Result<&'a mut [u8], PhoneError> {
    if size == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(PhoneError::InvalPointer);
    }
    let len = length(size)?;
    // SAFETY: non-null; the caller promises `size` writable bytes, and `length`
    // keeps them within one allocation's span.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) })
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

/// Writes a DWORD result, or answers `INVALPOINTER` for a null pointer.
///
/// # Safety
/// `out` is null or a writable DWORD.
unsafe fn write_dword(out: *mut u32, result: Result<u32, PhoneError>) -> i32 {
    if out.is_null() {
        return PhoneError::InvalPointer.to_long();
    }
    match result {
        Ok(value) => {
            // SAFETY: checked non-null; the caller promises a writable DWORD.
            unsafe { out.write_unaligned(value) };
            0
        }
        Err(error) => error.to_long(),
    }
}

/// The longest `LPCWSTR` device class read (a class name is a few words).
const MAX_CLASS_UNITS: usize = 1024;

/// Reads a NUL-terminated UTF-16 string TAPI passed; `None` when null, too long
/// or not valid UTF-16.
///
/// # Safety
/// `ptr` is null or a NUL-terminated UTF-16 string.
unsafe fn wide_string(ptr: *const u16) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    let mut units = Vec::new();
    for i in 0..MAX_CLASS_UNITS {
        // SAFETY: the string is NUL-terminated and we stop at the NUL.
        let unit = unsafe { ptr.add(i).read_unaligned() };
        if unit == 0 {
            return String::from_utf16(&units).ok();
        }
        units.push(unit);
    }
    None
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
