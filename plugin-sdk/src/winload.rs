//! Windows: preloads a plugin DLL so its own dependency DLLs are found in its
//! folder (libloading loads with no search flags). The only `unsafe` of the SDK's
//! loader lives here.

use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use windows_sys::Win32::Foundation::GetLastError;
use windows_sys::Win32::System::LibraryLoader::{LOAD_WITH_ALTERED_SEARCH_PATH, LoadLibraryExW};

/// Loads `file` with its folder on the search path; the Win32 error code if not.
pub(crate) fn preload(file: &Path) -> Result<(), u32> {
    let wide: Vec<u16> = file
        .as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect();
    // SAFETY: `wide` is a NUL-terminated path; the module stays loaded on purpose
    // (plugins are never unloaded), so the handle is not freed.
    let module = unsafe {
        LoadLibraryExW(
            wide.as_ptr(),
            std::ptr::null_mut(),
            LOAD_WITH_ALTERED_SEARCH_PATH,
        )
    };
    if module.is_null() {
        // SAFETY: reads the calling thread's last error, set by the failed load.
        return Err(unsafe { GetLastError() });
    }
    Ok(())
}
