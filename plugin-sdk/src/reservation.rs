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

impl LockFile {
    /// The lock file of `driver`'s device with `permanent_id`:
    /// `<temp>/tsp-rs-<driver>-<permanent_id as 8 hex digits>.lock`.
    pub fn path(driver: &str, permanent_id: u32) -> PathBuf {
        std::env::temp_dir().join(format!("tsp-rs-{driver}-{permanent_id:08x}.lock"))
    }

    /// Takes the lock of `driver`'s device with `permanent_id`; `device` names it
    /// in the messages.
    ///
    /// Errors: `ALLOCATED` when another open holds it, in this process or
    /// another; `RESOURCEUNAVAIL` when the file cannot be made or locked (say
    /// which, and why).
    pub fn take(driver: &str, permanent_id: u32, device: &str) -> Result<Self, DriverError> {
        let path = Self::path(driver, permanent_id);
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
