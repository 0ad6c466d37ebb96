//! The system calls of the hidraw transport: `poll`, the feature-report
//! ioctls, and raw mode for a node that is a terminal (umockdev's).

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

pub(crate) use libc::{EIO, ENODEV};

/// `_IOC(_IOC_READ | _IOC_WRITE, 'H', nr, len)`, as `<linux/hidraw.h>` builds
/// HIDIOCSFEATURE (nr 6) and HIDIOCGFEATURE (nr 7).
fn feature_request(nr: u64, len: usize) -> std::io::Result<u64> {
    const IOC_WRITE: u64 = 1;
    const IOC_READ: u64 = 2;
    // The size field has 14 bits.
    let len = u64::try_from(len)
        .ok()
        .filter(|len| *len < (1 << 14))
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(((IOC_READ | IOC_WRITE) << 30) | (len << 16) | (u64::from(b'H') << 8) | nr)
}

fn feature_ioctl(fd: RawFd, nr: u64, buffer: &mut [u8]) -> std::io::Result<usize> {
    let request = feature_request(nr, buffer.len())?;
    // SAFETY: `buffer` is valid for writes of its whole length, which is the
    // size the request encodes, and outlives the call; the kernel reads and
    // writes no more than that size.
    let done = unsafe { libc::ioctl(fd, request as _, buffer.as_mut_ptr()) };
    usize::try_from(done).map_err(|_| std::io::Error::last_os_error())
}

/// HIDIOCSFEATURE: `report` is the report id (0 without ids), then its data.
pub(crate) fn set_feature(fd: RawFd, report: &mut [u8]) -> std::io::Result<usize> {
    feature_ioctl(fd, 6, report)
}

/// HIDIOCGFEATURE: `buffer[0]` is the report id asked for; on return the
/// report, its id first. The number of bytes it holds.
pub(crate) fn get_feature(fd: RawFd, buffer: &mut [u8]) -> std::io::Result<usize> {
    feature_ioctl(fd, 7, buffer)
}

/// Whether `file` has something to read (a report, or an error or hang-up
/// that the read then reports) within `timeout`.
pub(crate) fn readable_within(file: &File, timeout: Duration) -> std::io::Result<bool> {
    let mut wanted = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    loop {
        // SAFETY: one valid `pollfd`, counted as one; the descriptor belongs
        // to `file`, which outlives the call.
        let ready = unsafe { libc::poll(&raw mut wanted, 1, millis) };
        if ready >= 0 {
            return Ok(ready > 0);
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Puts `file` in raw mode if it is a terminal; a real hidraw node is not.
pub(crate) fn raw_if_terminal(file: &File) {
    let fd = file.as_raw_fd();
    // SAFETY: `isatty` only looks at the descriptor, which `file` owns.
    if unsafe { libc::isatty(fd) } != 1 {
        return;
    }
    // SAFETY: an all-zero `termios` is a valid value of the plain C struct;
    // `tcgetattr` fills it from the open descriptor before it is used.
    let mut settings: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `settings` is a valid, writable `termios`; `fd` is open.
    if unsafe { libc::tcgetattr(fd, &raw mut settings) } != 0 {
        return;
    }
    // SAFETY: `settings` is a valid `termios` that `tcgetattr` filled.
    unsafe { libc::cfmakeraw(&raw mut settings) };
    // SAFETY: as above; the settings are read, not kept.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw const settings) };
}

/// Whether this process may read and write `node`.
pub(crate) fn accessible(node: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(node.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path that lives through the call.
    unsafe { libc::access(path.as_ptr(), libc::R_OK | libc::W_OK) == 0 }
}
