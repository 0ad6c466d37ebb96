//! The driver host's standard input and output taken for the protocol, so
//! that nothing a driver prints (a vendor library's `printf`, a stray
//! `println!`) can land in the middle of a frame: the protocol moves to
//! descriptors of its own, standard input reads nothing and standard output
//! goes where standard error goes (the host logs it).

use std::fs::File;
use std::io;

/// The host's pipes (from it, to it), taken off standard input and output.
#[cfg(unix)]
pub(crate) fn take_protocol_pipes() -> io::Result<(File, File)> {
    use std::os::fd::AsRawFd;

    #[cfg(target_os = "linux")]
    close_inherited();
    let input = duplicate(0)?;
    let output = duplicate(1)?;
    let null = File::options().read(true).write(true).open("/dev/null")?;
    // SAFETY: dup2 only replaces descriptors 0 and 1 of this process with
    // open descriptors it owns (`null`, standard error); no memory is involved.
    let moved = unsafe { libc::dup2(null.as_raw_fd(), 0) >= 0 && libc::dup2(2, 1) >= 0 };
    if !moved {
        return Err(io::Error::last_os_error());
    }
    Ok((File::from(input), File::from(output)))
}

/// Closes every descriptor above the standard three: whatever the host's
/// process had open without close-on-exec (a C library's files, sockets) is
/// not the driver's.
#[cfg(target_os = "linux")]
fn close_inherited() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let open: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in open {
        // SAFETY: nothing in this process uses these descriptors yet (the
        // listing's own is closed already: EBADF, ignored).
        unsafe { libc::close(fd) };
    }
}

/// A close-on-exec copy of `fd` above the standard three.
#[cfg(unix)]
fn duplicate(fd: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;

    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor and takes no pointer.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `copy` was just made by fcntl and nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(copy) })
}

/// The host's pipes (from it, to it), taken off standard input and output.
#[cfg(windows)]
pub(crate) fn take_protocol_pipes() -> io::Result<(File, File)> {
    use std::os::windows::io::FromRawHandle;
    use windows_sys::Win32::Foundation::{
        HANDLE_FLAG_INHERIT, INVALID_HANDLE_VALUE, SetHandleInformation,
    };
    use windows_sys::Win32::System::Console::{
        GetStdHandle, STD_ERROR_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, SetStdHandle,
    };

    // SAFETY: GetStdHandle reads the process's standard handles; no pointers.
    let (input, output, error) = unsafe {
        (
            GetStdHandle(STD_INPUT_HANDLE),
            GetStdHandle(STD_OUTPUT_HANDLE),
            GetStdHandle(STD_ERROR_HANDLE),
        )
    };
    let usable =
        |h: windows_sys::Win32::Foundation::HANDLE| !h.is_null() && h != INVALID_HANDLE_VALUE;
    if !usable(input) || !usable(output) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "standard input and output are not the host's pipes (tsp-driver-host is started by the host, not by hand)",
        ));
    }
    // SAFETY: SetStdHandle only changes which handle the process's standard
    // output and input name; `error` is this process's own standard error.
    let moved = unsafe {
        SetStdHandle(STD_OUTPUT_HANDLE, error) != 0
            && SetStdHandle(STD_INPUT_HANDLE, INVALID_HANDLE_VALUE) != 0
    };
    if !moved {
        return Err(io::Error::last_os_error());
    }
    // A process the driver starts must not hold the host's pipes open (the
    // host tells a dead driver host by its pipe closing).
    // SAFETY: the two handles are this process's own, open (checked above).
    let private = unsafe {
        SetHandleInformation(input, HANDLE_FLAG_INHERIT, 0) != 0
            && SetHandleInformation(output, HANDLE_FLAG_INHERIT, 0) != 0
    };
    if !private {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the two handles were the standard input and output, which the
    // process no longer names (above): each File is their only owner.
    Ok(unsafe {
        (
            File::from_raw_handle(input as _),
            File::from_raw_handle(output as _),
        )
    })
}
