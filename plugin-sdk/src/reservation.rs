//! Reserving a device across processes when the operating system does not: an
//! exclusive file lock per device. A serial port or a claimed USB interface is
//! reserved by the kernel already; a simulated device, or a resource that many
//! may open, is not.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use tsp_core::PhoneError;

use crate::DriverError;

/// An exclusive OS file lock held while a device is open. Dropping it releases
/// the device, also when the process dies.
#[derive(Debug)]
pub struct LockFile {
    _file: File,
    path: PathBuf,
}

/// The variable that moves the lock files: tests and parallel runs give each
/// run a folder of its own, so they never meet each other or a running tspd.
pub const LOCK_DIR_VARIABLE: &str = "TSP_RS_LOCK_DIR";

impl LockFile {
    /// Where lock files go: `TSP_RS_LOCK_DIR` when it is set and not empty,
    /// else the system temporary folder (the default for real use: every
    /// process on the machine meets there).
    pub fn folder() -> PathBuf {
        folder_from(std::env::var_os(LOCK_DIR_VARIABLE))
    }

    /// The lock file of `driver`'s device with `permanent_id`:
    /// `<folder>/tsp-rs-<driver>-<permanent_id as 8 hex digits>.lock`, in
    /// [`LockFile::folder`].
    pub fn path(driver: &str, permanent_id: u32) -> PathBuf {
        Self::path_in(&Self::folder(), driver, permanent_id)
    }

    /// The lock file of `driver`'s device with `permanent_id` in `folder`.
    pub fn path_in(folder: &Path, driver: &str, permanent_id: u32) -> PathBuf {
        folder.join(format!("tsp-rs-{driver}-{permanent_id:08x}.lock"))
    }

    /// Takes the lock of `driver`'s device with `permanent_id` in
    /// [`LockFile::folder`]; `device` names it in the messages.
    ///
    /// Errors: `ALLOCATED` when another open holds it, in this process or
    /// another; `RESOURCEUNAVAIL` when the file cannot be made or locked (say
    /// which, and why).
    pub fn take(driver: &str, permanent_id: u32, device: &str) -> Result<Self, DriverError> {
        Self::take_in(&Self::folder(), driver, permanent_id, device)
    }

    /// [`LockFile::take`] in `folder` (a driver setting may name one); the
    /// folder is made if it is missing.
    ///
    /// Errors: as [`LockFile::take`].
    pub fn take_in(
        folder: &Path,
        driver: &str,
        permanent_id: u32,
        device: &str,
    ) -> Result<Self, DriverError> {
        std::fs::create_dir_all(folder)
            .map_err(|e| unavailable(folder, "create the folder of", e))?;
        let path = Self::path_in(folder, driver, permanent_id);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| unavailable(&path, "create", e))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(DriverError::new(
                PhoneError::Allocated,
                format!(
                    "{device} is open elsewhere (lock {}); close it there first",
                    path.display()
                ),
            )),
            Err(TryLockError::Error(e)) => Err(unavailable(&path, "lock", e)),
        }
    }

    /// Where the lock file is.
    pub fn file(&self) -> &Path {
        &self.path
    }
}

fn folder_from(variable: Option<std::ffi::OsString>) -> PathBuf {
    variable
        .filter(|v| !v.is_empty())
        .map_or_else(std::env::temp_dir, PathBuf::from)
}

fn unavailable(path: &Path, what: &str, error: std::io::Error) -> DriverError {
    DriverError::new(
        PhoneError::ResourceUnavail,
        format!("cannot {what} lock file {}: {error}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_is_the_variable_s_when_it_is_set() {
        assert_eq!(
            folder_from(Some("/x/locks".into())),
            PathBuf::from("/x/locks")
        );
        assert_eq!(folder_from(Some("".into())), std::env::temp_dir(), "empty");
        assert_eq!(folder_from(None), std::env::temp_dir());
    }

    #[test]
    fn locks_in_different_folders_do_not_meet() {
        let id = std::process::id();
        let (a, b) = (
            tempfile::tempdir().expect("a"),
            tempfile::tempdir().expect("b"),
        );
        let first = LockFile::take_in(a.path(), "sdk-test", id, "the device").expect("free");
        let elsewhere = LockFile::take_in(b.path(), "sdk-test", id, "the device");
        assert!(elsewhere.is_ok(), "another folder, another lock");
        let same = LockFile::take_in(a.path(), "sdk-test", id, "the device");
        assert_eq!(
            same.map(|_| ()).map_err(|e| e.code),
            Err(PhoneError::Allocated)
        );
        drop(first);
    }

    #[test]
    fn a_second_lock_is_allocated_until_the_first_is_dropped() {
        let id = std::process::id();
        let first = LockFile::take("sdk-test", id, "the test device").expect("free");
        let second = LockFile::take("sdk-test", id, "the test device").expect_err("held");
        assert_eq!(second.code, PhoneError::Allocated);
        assert!(second.to_string().contains("the test device"), "{second}");
        drop(first);
        LockFile::take("sdk-test", id, "the test device").expect("free again");
    }
}
