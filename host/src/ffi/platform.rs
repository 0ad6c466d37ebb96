//! The TSP library's place in the process: the file it was loaded from (its
//! folder holds `tsp-rs.toml` and `drivers/`), and pinning it in memory so a
//! late driver thread never runs unmapped code.

#[cfg(unix)]
use std::ffi::c_void;
use std::path::PathBuf;

/// The folder holding this library.
pub(super) fn own_folder() -> Option<PathBuf> {
    own_file()?.parent().map(PathBuf::from)
}

/// The file this library was loaded from, under whatever name it has.
#[cfg(unix)]
pub(super) fn own_file() -> Option<PathBuf> {
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
pub(super) fn own_file() -> Option<PathBuf> {
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
pub(super) fn own_file() -> Option<PathBuf> {
    None
}

/// Keeps this library mapped after TAPI lets go of it, so a late driver thread
/// can never run unmapped code.
#[cfg(unix)]
pub(super) fn pin_in_memory() {
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
pub(super) fn pin_in_memory() {
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
pub(super) fn pin_in_memory() {}
