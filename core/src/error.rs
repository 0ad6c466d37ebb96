//! The error codes TSPI functions return: `PHONEERR_*` for the phone functions,
//! `LINEERR_*` for the provider functions and `TSPI_lineNegotiateTSPIVersion`.
//!
//! Each variant's value is the code itself (as `windows-sys` defines it, a `u32`);
//! a TSPI function returns it as a negative `LONG` (`i32`): see [`PhoneError::to_long`].

use crate::sys;

/// Defines a `thiserror` enum whose discriminants are the Win32 codes, with
/// conversions to and from the `LONG` a TSPI function returns. Each variant's
/// one text is both its documentation and its `Display`.
macro_rules! error_codes {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:ident => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
        #[repr(u32)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[doc = $text]
                #[error($text)]
                $variant = sys::$code,
            )*
        }

        impl $name {
            /// Every code of this family, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The code as `windows-sys` declares it.
            pub const fn code(self) -> u32 {
                self as u32
            }

            /// The code as the `LONG` a TSPI function returns (negative).
            pub const fn to_long(self) -> i32 {
                self as u32 as i32
            }

            /// The variant for a code, or `None` for a code outside this family.
            pub const fn from_code(code: u32) -> Option<Self> {
                match code {
                    $( sys::$code => Some(Self::$variant), )*
                    _ => None,
                }
            }

            /// The variant for a `LONG` a TSPI function returned, or `None` when the
            /// value is not a code of this family (a request id, 0, another family).
            pub const fn from_long(value: i32) -> Option<Self> {
                Self::from_code(value as u32)
            }

            /// The C name of the code, e.g. `PHONEERR_ALLOCATED`.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => stringify!($code), )*
                }
            }
        }

        impl From<$name> for i32 {
            fn from(error: $name) -> i32 {
                error.to_long()
            }
        }

        impl TryFrom<i32> for $name {
            type Error = UnknownCode;

            fn try_from(value: i32) -> Result<Self, UnknownCode> {
                Self::from_long(value).ok_or(UnknownCode(value))
            }
        }
    };
}

/// A `LONG` that is not a code of the error family it was converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0:#010x} is not a TAPI error code of this family")]
pub struct UnknownCode(pub i32);

error_codes! {
    /// A `PHONEERR_*` code: what a `TSPI_phone*` function returns on failure, and what
    /// an asynchronous phone request completes with.
    ///
    /// All 36 codes from `0x90000001` to `0x90000025` (`0x9000001E` is unassigned).
    pub enum PhoneError {
        Allocated = PHONEERR_ALLOCATED => "the phone's resource is already allocated elsewhere (PHONEERR_ALLOCATED): close it there, then open again",
        BadDeviceId = PHONEERR_BADDEVICEID => "no phone has this device id (PHONEERR_BADDEVICEID)",
        IncompatibleApiVersion = PHONEERR_INCOMPATIBLEAPIVERSION => "the requested TSPI version range does not meet the provider's (PHONEERR_INCOMPATIBLEAPIVERSION)",
        IncompatibleExtVersion = PHONEERR_INCOMPATIBLEEXTVERSION => "the requested extension version is not supported (PHONEERR_INCOMPATIBLEEXTVERSION)",
        IniFileCorrupt = PHONEERR_INIFILECORRUPT => "the provider's configuration cannot be read (PHONEERR_INIFILECORRUPT): fix tsp-rs.toml, see the log for file and line",
        InUse = PHONEERR_INUSE => "the device is in use and cannot take this now (PHONEERR_INUSE)",
        InvalAppHandle = PHONEERR_INVALAPPHANDLE => "invalid application handle (PHONEERR_INVALAPPHANDLE)",
        InvalAppName = PHONEERR_INVALAPPNAME => "invalid application name (PHONEERR_INVALAPPNAME)",
        InvalButtonLampId = PHONEERR_INVALBUTTONLAMPID => "no button or lamp has this id (PHONEERR_INVALBUTTONLAMPID)",
        InvalButtonMode = PHONEERR_INVALBUTTONMODE => "invalid button mode (PHONEERR_INVALBUTTONMODE)",
        InvalButtonState = PHONEERR_INVALBUTTONSTATE => "invalid button state (PHONEERR_INVALBUTTONSTATE)",
        InvalDataId = PHONEERR_INVALDATAID => "no data area has this id (PHONEERR_INVALDATAID): see dwNumSetData/dwNumGetData in the phone's caps",
        InvalDeviceClass = PHONEERR_INVALDEVICECLASS => "the phone does not know this device class (PHONEERR_INVALDEVICECLASS)",
        InvalExtVersion = PHONEERR_INVALEXTVERSION => "invalid extension version (PHONEERR_INVALEXTVERSION)",
        InvalHookSwitchDev = PHONEERR_INVALHOOKSWITCHDEV => "the phone has no such hookswitch device (PHONEERR_INVALHOOKSWITCHDEV)",
        InvalHookSwitchMode = PHONEERR_INVALHOOKSWITCHMODE => "invalid hookswitch mode (PHONEERR_INVALHOOKSWITCHMODE): give exactly one supported mode",
        InvalLampMode = PHONEERR_INVALLAMPMODE => "invalid lamp mode (PHONEERR_INVALLAMPMODE): give exactly one mode the lamp supports",
        InvalParam = PHONEERR_INVALPARAM => "a parameter is out of range (PHONEERR_INVALPARAM)",
        InvalPhoneHandle = PHONEERR_INVALPHONEHANDLE => "the phone handle is not valid: never opened, closed, or closed by the provider (PHONEERR_INVALPHONEHANDLE)",
        InvalPhoneState = PHONEERR_INVALPHONESTATE => "the phone cannot do this in its current state, e.g. while disconnected (PHONEERR_INVALPHONESTATE)",
        InvalPointer = PHONEERR_INVALPOINTER => "a pointer parameter is not valid (PHONEERR_INVALPOINTER)",
        InvalPrivilege = PHONEERR_INVALPRIVILEGE => "invalid privilege (PHONEERR_INVALPRIVILEGE)",
        InvalRingMode = PHONEERR_INVALRINGMODE => "invalid ring mode (PHONEERR_INVALRINGMODE): use 0 (silence) up to dwNumRingModes",
        NoDevice = PHONEERR_NODEVICE => "the device is no longer there (PHONEERR_NODEVICE)",
        NoDriver = PHONEERR_NODRIVER => "the device's driver is missing or failed to load (PHONEERR_NODRIVER): see the log",
        NoMem = PHONEERR_NOMEM => "out of memory (PHONEERR_NOMEM)",
        NotOwner = PHONEERR_NOTOWNER => "the caller does not own the phone (PHONEERR_NOTOWNER)",
        OperationFailed = PHONEERR_OPERATIONFAILED => "the operation failed (PHONEERR_OPERATIONFAILED): see the log for the reason",
        OperationUnavail = PHONEERR_OPERATIONUNAVAIL => "the phone does not offer this operation (PHONEERR_OPERATIONUNAVAIL)",
        ResourceUnavail = PHONEERR_RESOURCEUNAVAIL => "a resource is not available now (PHONEERR_RESOURCEUNAVAIL): try again later",
        RequestOverrun = PHONEERR_REQUESTOVERRUN => "too many requests are queued (PHONEERR_REQUESTOVERRUN)",
        StructureTooSmall = PHONEERR_STRUCTURETOOSMALL => "the buffer is smaller than the structure's fixed part (PHONEERR_STRUCTURETOOSMALL)",
        Uninitialized = PHONEERR_UNINITIALIZED => "the provider is not initialised (PHONEERR_UNINITIALIZED)",
        Reinit = PHONEERR_REINIT => "telephony is being reinitialised (PHONEERR_REINIT)",
        Disconnected = PHONEERR_DISCONNECTED => "the device is disconnected (PHONEERR_DISCONNECTED)",
        ServiceNotRunning = PHONEERR_SERVICE_NOT_RUNNING => "the telephony service is not running (PHONEERR_SERVICE_NOT_RUNNING)",
    }
}

error_codes! {
    /// A `LINEERR_*` code: what the provider functions (`TSPI_provider*`) and
    /// `TSPI_lineNegotiateTSPIVersion` return (reference §5.1).
    pub enum LineError {
        IncompatibleApiVersion = LINEERR_INCOMPATIBLEAPIVERSION => "the requested TSPI version range does not meet the provider's (LINEERR_INCOMPATIBLEAPIVERSION)",
        OperationFailed = LINEERR_OPERATIONFAILED => "the operation failed (LINEERR_OPERATIONFAILED): see the log for the reason",
        NoMem = LINEERR_NOMEM => "out of memory (LINEERR_NOMEM)",
        ResourceUnavail = LINEERR_RESOURCEUNAVAIL => "a resource is not available now (LINEERR_RESOURCEUNAVAIL)",
        IniFileCorrupt = LINEERR_INIFILECORRUPT => "the provider's configuration cannot be read (LINEERR_INIFILECORRUPT): fix tsp-rs.toml, see the log for file and line",
        NoMultipleInstance = LINEERR_NOMULTIPLEINSTANCE => "the provider cannot be installed twice (LINEERR_NOMULTIPLEINSTANCE)",
        NoDriver = LINEERR_NODRIVER => "a driver is missing or failed to load (LINEERR_NODRIVER): see the log",
        BadDeviceId = LINEERR_BADDEVICEID => "no device has this id (LINEERR_BADDEVICEID)",
        OperationUnavail = LINEERR_OPERATIONUNAVAIL => "the provider does not offer this operation (LINEERR_OPERATIONUNAVAIL)",
        InvalPointer = LINEERR_INVALPOINTER => "a pointer parameter is not valid (LINEERR_INVALPOINTER)",
        InvalParam = LINEERR_INVALPARAM => "a parameter is out of range (LINEERR_INVALPARAM)",
    }
}

/// The `LONG` a synchronous TSPI function returns for `result`: 0 or the negative code.
pub fn phone_result(result: Result<(), PhoneError>) -> i32 {
    result.map_or_else(PhoneError::to_long, |()| 0)
}

/// The `LONG` a provider function returns for `result`: 0 or the negative code.
pub fn line_result(result: Result<(), LineError>) -> i32 {
    result.map_or_else(LineError::to_long, |()| 0)
}
