//! TSPI versions and their negotiation (reference §2.1, §5.3).

use std::fmt;

use crate::error::{LineError, PhoneError};

/// A TAPI/TSPI version: high word major, low word minor (`0x00020002` is 2.2).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TspiVersion(u32);

impl TspiVersion {
    /// TAPI 1.3, the first Win32 TAPI.
    pub const V1_3: Self = Self::new(1, 3);
    /// TAPI 1.4: PHONE_CREATE, PHONEBUTTONINFO.dwButtonState.
    pub const V1_4: Self = Self::new(1, 4);
    /// TSPI 2.0: the oldest version a Win32 service provider may speak.
    pub const V2_0: Self = Self::new(2, 0);
    /// TSPI 2.1.
    pub const V2_1: Self = Self::new(2, 1);
    /// TSPI 2.2: PHONECAPS.PermanentPhoneGuid.
    pub const V2_2: Self = Self::new(2, 2);
    /// TSPI 3.0.
    pub const V3_0: Self = Self::new(3, 0);
    /// TSPI 3.1.
    pub const V3_1: Self = Self::new(3, 1);

    /// Every version TAPI has defined, oldest first.
    pub const KNOWN: [Self; 7] = [
        Self::V1_3,
        Self::V1_4,
        Self::V2_0,
        Self::V2_1,
        Self::V2_2,
        Self::V3_0,
        Self::V3_1,
    ];

    /// The version `major.minor`.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self(((major as u32) << 16) | minor as u32)
    }

    /// The version a `DWORD` carries, as TAPI passes it.
    pub const fn from_raw(raw: u32) -> Self {
        Self(raw)
    }

    /// The `DWORD` TAPI expects.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// The major number (high word).
    pub const fn major(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The minor number (low word).
    pub const fn minor(self) -> u16 {
        self.0 as u16
    }
}

impl fmt::Display for TspiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}

impl fmt::Debug for TspiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TspiVersion({self} = {:#010x})", self.0)
    }
}

/// The caller's range and the provider's range have no version in common.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "no TSPI version in both {low}..={high} (asked for) and {}..={} (supported)",
    supported.low, supported.high
)]
pub struct IncompatibleVersion {
    /// Lowest version the caller accepts.
    pub low: TspiVersion,
    /// Highest version the caller accepts.
    pub high: TspiVersion,
    /// The range that was offered.
    pub supported: VersionRange,
}

impl From<IncompatibleVersion> for PhoneError {
    fn from(_: IncompatibleVersion) -> Self {
        PhoneError::IncompatibleApiVersion
    }
}

impl From<IncompatibleVersion> for LineError {
    fn from(_: IncompatibleVersion) -> Self {
        LineError::IncompatibleApiVersion
    }
}

/// An inclusive range of versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// Lowest version in the range.
    pub low: TspiVersion,
    /// Highest version in the range.
    pub high: TspiVersion,
}

impl VersionRange {
    /// The range tsp-rs supports: TSPI 2.0 to 3.1 (a Win32 TSP speaks 2.0 or later,
    /// reference §7; 3.1 is the newest TAPI defines).
    pub const PROVIDER: Self = Self {
        low: TspiVersion::V2_0,
        high: TspiVersion::V3_1,
    };

    /// Whether `version` lies inside the range.
    pub fn contains(&self, version: TspiVersion) -> bool {
        self.low <= version && version <= self.high
    }

    /// Negotiates against the caller's `low..=high` (reference §5.3): the highest
    /// version inside both ranges.
    ///
    /// Only versions TAPI defines ([`TspiVersion::KNOWN`]) are answered: for a caller
    /// range ending at an undefined value such as 2.5, the answer is 2.2, never 2.5,
    /// because the structure layouts are only known for defined versions. A caller
    /// range with `low > high` is empty and so incompatible.
    pub fn negotiate(&self, low: u32, high: u32) -> Result<TspiVersion, IncompatibleVersion> {
        let (low, high) = (TspiVersion::from_raw(low), TspiVersion::from_raw(high));
        TspiVersion::KNOWN
            .iter()
            .rev()
            .copied()
            .find(|v| self.contains(*v) && low <= *v && *v <= high)
            .ok_or(IncompatibleVersion {
                low,
                high,
                supported: *self,
            })
    }
}
