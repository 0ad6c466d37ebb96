//! `DriverError`: what a driver answers when it fails, a `PHONEERR_*` code with
//! words for the log.

use std::fmt;

use tsp_core::PhoneError;

/// A driver's failure: the `PHONEERR_*` code TAPI will see, and words for the log
/// and the user ("/dev/ttyUSB0: permission denied; join the `dialout` group").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DriverError {
    /// The code TAPI sees.
    pub code: PhoneError,
    /// What happened and what to do, in words; may be empty.
    pub message: String,
}

impl DriverError {
    /// An error with a message.
    pub fn new(code: PhoneError, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{} ({})", self.message, self.code.name())
        }
    }
}

impl From<PhoneError> for DriverError {
    fn from(code: PhoneError) -> Self {
        Self {
            code,
            message: String::new(),
        }
    }
}
