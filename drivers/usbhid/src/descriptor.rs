//! A report descriptor turned into fields: where each control sits in which report,
//! and which usage it carries.
//!
//! hidreport splits the bytes into items; the interpretation is ours, because usages
//! must be resolved the way the Linux kernel does (`hid_concatenate_last_usage_page`)
//! and hidreport 0.6 resolves them differently. The rule, applied at every Main item:
//! walking back from the last Usage, each Usage given without a page (1 or 2 data
//! bytes) is moved onto the Usage Page in force at the Main item, stopping at the
//! first one already on that page. So `05 0B 09 07 05 09 81 02` is Button 7, and a
//! Usage declared before one already on the Main item's page keeps its own page.
//! Following the kernel means we see the device the way Linux applications do.
//!
//! # Untrusted bytes
//!
//! The bytes come from the device, which may be broken or hostile. The limits are
//! the kernel's (`drivers/hid/hid-core.c`, `include/linux/hid.h`), so a descriptor
//! refused here is one Linux refuses too:
//!
//! - at most [`MAX_DESCRIPTOR_BYTES`] bytes (`HID_MAX_DESCRIPTOR_SIZE`, usbhid);
//! - Report Size at most [`MAX_REPORT_SIZE`] bits, Report Count at most
//!   [`MAX_USAGES`], refused at the Global item as the kernel does;
//! - at most [`MAX_USAGES`] usages before one Main item, and four nested Push
//!   (`HID_GLOBAL_STACK_SIZE`);
//! - every report at most [`MAX_REPORT_BYTES`] bytes (`HID_MAX_BUFFER_SIZE` less
//!   the report id byte: the kernel's "report is too long");
//! - at most [`MAX_FIELDS`] fields per report (`HID_MAX_FIELDS`); like the kernel we
//!   count only fields with usages, padding is not one. The kernel drops the 257th
//!   field and what follows it in the report; we refuse the descriptor.
//!
//! One limit is ours: at most [`MAX_DESCRIPTOR_USAGES`] usages in the whole
//! descriptor (the kernel's per-field limit times fields would let 4 KiB of Usage
//! Minimum/Maximum pairs declare seven million).
//!
//! Offsets are `u32` bits computed with checked arithmetic, in release builds too;
//! [`Descriptor::reports`] checks the report lengths again for a `Descriptor` not
//! made by [`parse`], and [`crate::handset::Layout::of`] relies on it. [`parse`]
//! runs inside `catch_unwind` (hidreport's item splitting and our interpretation):
//! a panic, which would be a bug, is [`DescriptorError::Bug`], which the caller
//! logs (the USB scan once per device and reason).

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

mod parser;

pub use parser::parse;

/// The Telephony usage page.
pub const PAGE_TELEPHONY: u16 = 0x0B;
/// The LED usage page.
pub const PAGE_LED: u16 = 0x08;
/// The Button usage page.
pub const PAGE_BUTTON: u16 = 0x09;
/// The Consumer usage page.
pub const PAGE_CONSUMER: u16 = 0x0C;

/// `HID_MAX_DESCRIPTOR_SIZE`: usbhid refuses a longer report descriptor.
pub const MAX_DESCRIPTOR_BYTES: usize = 4096;
/// The kernel's largest Report Size, in bits (`hid_parser_global`).
pub const MAX_REPORT_SIZE: u32 = 256;
/// `HID_MAX_USAGES`: the most usages before one Main item, and the largest Report
/// Count.
pub const MAX_USAGES: usize = 12288;
/// `HID_MAX_FIELDS`: fields (Main items with usages) per report.
pub const MAX_FIELDS: usize = 256;
/// `HID_MAX_BUFFER_SIZE` (16384) less the report id byte: the longest payload the
/// kernel takes (`hid_add_field`, "report is too long").
pub const MAX_REPORT_BYTES: usize = 16383;
/// [`MAX_REPORT_BYTES`] in bits.
const MAX_REPORT_BITS: u32 = 16383 * 8;
/// `HID_GLOBAL_STACK_SIZE`: Push items in force at once.
const MAX_PUSH: usize = 4;
/// Ours, not the kernel's: usages declared in the whole descriptor. Real ones have
/// a few hundred (a keyboard and a consumer array have about 1300).
pub const MAX_DESCRIPTOR_USAGES: usize = 65536;
/// Ours too: the most buttons and lamps a layout takes ([`crate::handset::Layout::of`]
/// refuses more with [`DescriptorError::TooManyControls`]). Real phones have a few
/// dozen; a descriptor within the kernel's limits could declare millions (one-bit
/// elements sharing one usage), each a button and a position in PHONECAPS.
pub const MAX_CONTROLS: usize = 4096;

/// A usage: page and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Usage {
    /// The usage page, e.g. 0x0B Telephony.
    pub page: u16,
    /// The usage id on that page.
    pub id: u16,
}

impl Usage {
    /// A usage on `page`.
    pub const fn new(page: u16, id: u16) -> Self {
        Self { page, id }
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{:02X}:0x{:02X}", self.page, self.id)
    }
}

/// Which way a report travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Device to host, on the interrupt IN endpoint.
    Input,
    /// Host to device: interrupt OUT or SET_REPORT.
    Output,
    /// Both ways by GET_REPORT/SET_REPORT.
    Feature,
}

impl Direction {
    /// `input`, `output` or `feature`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
            Direction::Feature => "feature",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One Input, Output or Feature item: `count` elements of `size` bits each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Input, output or feature.
    pub direction: Direction,
    /// The report id (0 when the descriptor declares none).
    pub report_id: u8,
    /// Bit offset of the first element in the report payload (after the id byte).
    pub bit: u32,
    /// Bits per element.
    pub size: u32,
    /// Number of elements.
    pub count: u32,
    /// Padding or a fixed value: carries no usage.
    pub constant: bool,
    /// Variable (one usage per element) rather than array (elements hold indexes).
    pub variable: bool,
    /// A change (a press is 1 then 0) rather than a level.
    pub relative: bool,
    /// Logical minimum; array element value `logical_min + i` selects `usages[i]`.
    pub logical_min: i32,
    /// Logical maximum.
    pub logical_max: i32,
    /// The resolved usages: per element for a variable field (the last repeats),
    /// the selectable set for an array.
    pub usages: Vec<Usage>,
    /// The application collections around the field, outermost first.
    pub applications: Vec<Usage>,
}

impl Field {
    /// The usage of element `index` of a variable field.
    pub fn usage_of_element(&self, index: u32) -> Option<Usage> {
        let last = self.usages.len().checked_sub(1)?;
        let index = usize::try_from(index).map_or(last, |index| index.min(last));
        self.usages.get(index).copied()
    }

    /// Each element of a variable field as its usage and bit offset; none for an
    /// array, whose elements hold indexes into [`Field::usages`]. The elements stop
    /// before the first that would end past bit `u32::MAX` (only a `Field` made by
    /// hand can have one: [`parse`] keeps reports to [`MAX_REPORT_BYTES`]).
    pub fn variable_elements(&self) -> impl Iterator<Item = (Usage, u32)> + '_ {
        let count = if self.variable { self.count } else { 0 };
        (0..count).map_while(|i| {
            let bit = i.checked_mul(self.size)?.checked_add(self.bit)?;
            bit.checked_add(self.size)?;
            Some((self.usage_of_element(i)?, bit))
        })
    }

    /// The bit after the field's last element; `None` past `u32::MAX`.
    pub fn end(&self) -> Option<u32> {
        self.size.checked_mul(self.count)?.checked_add(self.bit)
    }

    /// True when an application collection on the Telephony page encloses the field.
    pub fn in_telephony(&self) -> bool {
        self.applications
            .iter()
            .any(|usage| usage.page == PAGE_TELEPHONY)
    }
}

/// A parsed report descriptor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    /// Every Input, Output and Feature item, in descriptor order.
    pub fields: Vec<Field>,
    /// Every application collection, in descriptor order (nested ones too).
    pub applications: Vec<Usage>,
    /// Whether report ids are declared (then every report starts with its id).
    pub uses_report_ids: bool,
}

impl Descriptor {
    /// True when the device has an application collection on the Telephony page.
    pub fn has_telephony(&self) -> bool {
        self.applications
            .iter()
            .any(|usage| usage.page == PAGE_TELEPHONY)
    }

    /// Every report with its payload length in bytes (without the id byte),
    /// ordered by direction (input, output, feature), then id.
    ///
    /// # Errors
    /// [`DescriptorError::ReportTooLong`] for a report past [`MAX_REPORT_BYTES`]
    /// (only a `Descriptor` made by hand can have one: [`parse`] refuses it).
    pub fn reports(&self) -> Result<BTreeMap<(Direction, u8), usize>, DescriptorError> {
        let mut bits: BTreeMap<(Direction, u8), u32> = BTreeMap::new();
        for f in &self.fields {
            let end = f
                .end()
                .filter(|end| *end <= MAX_REPORT_BITS)
                .ok_or_else(|| report_too_long(f.direction, f.report_id, f.bit, f.size, f.count))?;
            let longest = bits.entry((f.direction, f.report_id)).or_default();
            *longest = (*longest).max(end);
        }
        bits.into_iter()
            .map(|((direction, id), bits)| {
                let bytes = usize::try_from(bits.div_ceil(8))
                    .map_err(|_| report_too_long(direction, id, bits, 0, 0))?;
                Ok(((direction, id), bytes))
            })
            .collect()
    }

    /// Payload length in bytes of report `id` in `direction` (without the id
    /// byte); 0 for a report the descriptor does not declare.
    ///
    /// # Errors
    /// As [`Descriptor::reports`].
    pub fn report_len(&self, direction: Direction, id: u8) -> Result<usize, DescriptorError> {
        Ok(self.reports()?.get(&(direction, id)).copied().unwrap_or(0))
    }
}

/// The error for a field of `count` × `size` bits at `bit` that takes report
/// `id` past [`MAX_REPORT_BYTES`], with the length it would have had.
fn report_too_long(
    direction: Direction,
    id: u8,
    bit: u32,
    size: u32,
    count: u32,
) -> DescriptorError {
    // u32 + u32 × u32 cannot overflow u64; checked anyway, as all offset arithmetic.
    let bits = u64::from(size)
        .checked_mul(u64::from(count))
        .and_then(|bits| bits.checked_add(u64::from(bit)));
    DescriptorError::ReportTooLong {
        direction,
        report_id: id,
        bytes: bits.map_or(u64::MAX, |bits| bits.div_ceil(8)),
    }
}

/// Why a report descriptor was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DescriptorError {
    /// Nothing to parse.
    #[error("the report descriptor is empty")]
    Empty,
    /// The bytes do not split into items.
    #[error("the report descriptor is malformed at byte {offset}: {message}")]
    Malformed {
        /// Byte offset of the offending item.
        offset: usize,
        /// What is wrong there.
        message: String,
    },
    /// Longer than usbhid takes.
    #[error(
        "the report descriptor is {len} bytes; the kernel allows at most {MAX_DESCRIPTOR_BYTES} (HID_MAX_DESCRIPTOR_SIZE)"
    )]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A report whose fields add up past the kernel's buffer.
    #[error(
        "{direction} report {report_id} is {bytes} bytes long; the kernel allows at most {MAX_REPORT_BYTES} (HID_MAX_BUFFER_SIZE 16384 less the report id byte)"
    )]
    ReportTooLong {
        /// Input, output or feature.
        direction: Direction,
        /// The report id (0 without ids).
        report_id: u8,
        /// Its payload length had it been taken (`u64::MAX`: past counting).
        bytes: u64,
    },
    /// More fields in one report than the kernel keeps.
    #[error(
        "{direction} report {report_id} has more than {MAX_FIELDS} fields; the kernel allows at most {MAX_FIELDS} (HID_MAX_FIELDS)"
    )]
    TooManyFields {
        /// Input, output or feature.
        direction: Direction,
        /// The report id (0 without ids).
        report_id: u8,
    },
    /// More usages than any device declares.
    #[error(
        "the report descriptor declares more than {MAX_DESCRIPTOR_USAGES} usages; no device needs that many"
    )]
    TooManyUsages,
    /// More telephony controls than a phone has ([`MAX_CONTROLS`]).
    #[error(
        "the report descriptor has more than {MAX_CONTROLS} telephony buttons and lamps; no phone has that many"
    )]
    TooManyControls,
    /// The descriptor code panicked: a bug, turned into an error for this device.
    #[error("{what} panicked, a bug in tsp-rs or hidreport: {message}")]
    Bug {
        /// What was being done.
        what: &'static str,
        /// The panic's message.
        message: String,
    },
}

/// Runs `work` inside `catch_unwind`: every parse and layout of descriptor bytes
/// goes through here, so that a bug refuses one device instead of ending the
/// watcher thread or the process. The caller logs the error ([`crate::usb`] once
/// per device and reason).
///
/// # Errors
/// `work`'s error, or [`DescriptorError::Bug`] when it panicked.
pub(crate) fn guarded<T>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, DescriptorError>,
) -> Result<T, DescriptorError> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        // The caller logs the error (once per device: the watcher rescans).
        tracing::debug!(what, %message, "panicked: a bug; the device is refused");
        Err(DescriptorError::Bug { what, message })
    })
}

/// Logs that `device`'s report descriptor is refused: a warning (an error for
/// a bug) the first time for this device and reason, then at debug level,
/// since every scan finds the device again.
#[cfg_attr(
    not(any(
        all(unix, feature = "usb"),
        all(target_os = "linux", feature = "hidraw"),
        all(windows, feature = "winhid")
    )),
    allow(dead_code)
)]
pub(crate) fn log_refused(device: &str, error: &DescriptorError) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    const REMEMBERED: usize = 256;
    let key = format!("{device}: {error}");
    let first = {
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let first = !seen.contains(&key);
        if first {
            if seen.len() >= REMEMBERED {
                seen.clear();
            }
            seen.push(key);
        }
        first
    };
    match (first, error) {
        (true, DescriptorError::Bug { .. }) => {
            tracing::error!(%device, %error, "report descriptor refused")
        }
        (true, _) => tracing::warn!(%device, %error, "report descriptor refused"),
        (false, _) => tracing::debug!(%device, %error, "report descriptor refused"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_guarded_work_is_an_error_naming_the_work_and_the_message() {
        let result: Result<(), _> = guarded("laying out a test", || panic!("index 7 of 3"));
        assert_eq!(
            result,
            Err(DescriptorError::Bug {
                what: "laying out a test",
                message: "index 7 of 3".into()
            })
        );
        let owned: Result<(), _> = guarded("parsing", || panic!("{} bytes", 5));
        assert!(owned.is_err_and(
            |e| e.to_string().contains("parsing panicked") && e.to_string().contains("5 bytes")
        ));
        assert_eq!(guarded("nothing", || Ok(3)), Ok(3));
    }
}
