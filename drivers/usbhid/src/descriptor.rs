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

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};

use hidreport::hid::{
    CollectionItem, GlobalItem, Item, ItemType, LocalItem, MainDataItem, MainItem,
    ReportDescriptorItems,
};

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
    /// More telephony controls than a phone has ([`crate::handset::MAX_CONTROLS`]).
    #[error(
        "the report descriptor has more than {} telephony buttons and lamps; no phone has that many",
        crate::handset::MAX_CONTROLS
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

fn malformed(offset: usize, message: impl Into<String>) -> DescriptorError {
    DescriptorError::Malformed {
        offset,
        message: message.into(),
    }
}

/// Parses report descriptor bytes, inside `catch_unwind`.
///
/// # Errors
/// [`DescriptorError::Empty`] for no bytes; [`DescriptorError::TooLong`],
/// [`DescriptorError::ReportTooLong`], [`DescriptorError::TooManyFields`] and
/// [`DescriptorError::TooManyUsages`] past the limits of the module docs;
/// [`DescriptorError::Malformed`] for items that do not parse, unbalanced
/// collections or Push/Pop, Report Size or Count past the kernel's limits;
/// [`DescriptorError::Bug`] if anything panicked.
pub fn parse(bytes: &[u8]) -> Result<Descriptor, DescriptorError> {
    if bytes.is_empty() {
        return Err(DescriptorError::Empty);
    }
    if bytes.len() > MAX_DESCRIPTOR_BYTES {
        return Err(DescriptorError::TooLong { len: bytes.len() });
    }
    guarded("parsing a report descriptor", || {
        let items = ReportDescriptorItems::try_from(bytes).map_err(item_error)?;
        let mut parser = Parser::default();
        for item in items.iter() {
            // A short usage has 1 or 2 data bytes after the header byte.
            let short = item.item().bytes().len() <= 3;
            parser.item(item.offset(), item.item().item_type(), short)?;
        }
        parser.finish(bytes.len())
    })
}

fn item_error(error: hidreport::ParserError) -> DescriptorError {
    match error {
        hidreport::ParserError::InvalidData { offset, message } => malformed(offset, message),
        other => malformed(0, other.to_string()),
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Globals {
    usage_page: u16,
    report_size: u32,
    report_count: u32,
    report_id: u8,
    logical_min: i32,
    logical_max: i32,
}

/// A usage as declared; `short` ones may still move to another page.
#[derive(Clone, Copy, Debug)]
struct Declared {
    usage: Usage,
    short: bool,
}

#[derive(Debug, Default)]
struct Parser {
    globals: Globals,
    stack: Vec<Globals>,
    usages: Vec<Declared>,
    usage_min: Option<(u32, bool)>,
    /// Usages declared in the whole descriptor.
    usages_declared: usize,
    collections: Vec<(CollectionItem, Usage)>,
    reports: HashMap<(Direction, u8), Report>,
    out: Descriptor,
}

/// A report so far: bits taken and fields (with usages) registered.
#[derive(Debug, Default)]
struct Report {
    bits: u32,
    fields: usize,
}

impl Parser {
    fn item(&mut self, offset: usize, item: ItemType, short: bool) -> Result<(), DescriptorError> {
        match item {
            ItemType::Main(main) => self.main(offset, main),
            ItemType::Global(global) => self.global(offset, global),
            ItemType::Local(local) => self.local(offset, local, short),
            ItemType::Long | ItemType::Reserved => Ok(()),
        }
    }

    fn global(&mut self, offset: usize, item: GlobalItem) -> Result<(), DescriptorError> {
        let g = &mut self.globals;
        match item {
            GlobalItem::UsagePage(page) => g.usage_page = u16::from(page),
            GlobalItem::LogicalMinimum(v) => g.logical_min = i32::from(v),
            GlobalItem::LogicalMaximum(v) => g.logical_max = i32::from(v),
            GlobalItem::ReportSize(v) => {
                let size = usize::from(v);
                g.report_size = u32::try_from(size)
                    .ok()
                    .filter(|size| *size <= MAX_REPORT_SIZE)
                    .ok_or_else(|| {
                        malformed(
                            offset,
                            format!("Report Size {size} is over {MAX_REPORT_SIZE} bits"),
                        )
                    })?;
            }
            GlobalItem::ReportCount(v) => {
                let count = usize::from(v);
                g.report_count = u32::try_from(count)
                    .ok()
                    .filter(|_| count <= MAX_USAGES)
                    .ok_or_else(|| {
                        malformed(offset, format!("Report Count {count} is over {MAX_USAGES}"))
                    })?;
            }
            GlobalItem::ReportId(id) => {
                let id = u8::from(id);
                if id == 0 {
                    return Err(malformed(offset, "report id 0 is reserved"));
                }
                g.report_id = id;
                self.out.uses_report_ids = true;
            }
            GlobalItem::Push => {
                if self.stack.len() >= MAX_PUSH {
                    return Err(malformed(
                        offset,
                        format!("more than {MAX_PUSH} nested Push items (HID_GLOBAL_STACK_SIZE)"),
                    ));
                }
                self.stack.push(self.globals);
            }
            GlobalItem::Pop => {
                self.globals = self
                    .stack
                    .pop()
                    .ok_or_else(|| malformed(offset, "Pop without a Push"))?;
            }
            _ => {}
        }
        Ok(())
    }

    fn local(
        &mut self,
        offset: usize,
        item: LocalItem,
        short: bool,
    ) -> Result<(), DescriptorError> {
        match item {
            LocalItem::Usage(page, id) => self.add_usage(
                offset,
                Declared {
                    usage: Usage::new(u16::from(page), u16::from(id)),
                    short: false,
                },
            ),
            LocalItem::UsageId(id) => self.add_usage(
                offset,
                Declared {
                    usage: Usage::new(self.globals.usage_page, u16::from(id)),
                    short: true,
                },
            ),
            LocalItem::UsageMinimum(min) => {
                self.usage_min = Some((u32::from(min), short));
                Ok(())
            }
            LocalItem::UsageMaximum(max) => self.add_usage_range(offset, u32::from(max), short),
            _ => Ok(()),
        }
    }

    fn add_usage(&mut self, offset: usize, usage: Declared) -> Result<(), DescriptorError> {
        if self.usages.len() >= MAX_USAGES {
            return Err(malformed(offset, format!("more than {MAX_USAGES} usages")));
        }
        if self.usages_declared >= MAX_DESCRIPTOR_USAGES {
            return Err(DescriptorError::TooManyUsages);
        }
        self.usages_declared += 1;
        self.usages.push(usage);
        Ok(())
    }

    fn add_usage_range(
        &mut self,
        offset: usize,
        max: u32,
        short: bool,
    ) -> Result<(), DescriptorError> {
        let (min, min_short) = self
            .usage_min
            .take()
            .ok_or_else(|| malformed(offset, "Usage Maximum without a Usage Minimum"))?;
        // An extended (4-byte) usage is page << 16 | id.
        let [page_high, page_low, low_high, low_low] = min.to_be_bytes();
        let [_, _, high_high, high_low] = max.to_be_bytes();
        let page = if min_short {
            self.globals.usage_page
        } else {
            u16::from_be_bytes([page_high, page_low])
        };
        let low = u16::from_be_bytes([low_high, low_low]);
        let high = u16::from_be_bytes([high_high, high_low]);
        if high < low {
            return Err(malformed(offset, "Usage Maximum below Usage Minimum"));
        }
        for id in low..=high {
            let usage = Usage::new(page, id);
            self.add_usage(offset, Declared { usage, short })?;
        }
        Ok(())
    }

    /// The kernel's `hid_concatenate_last_usage_page`.
    fn resolve_usages(&mut self) -> Vec<Usage> {
        let page = self.globals.usage_page;
        for declared in self.usages.iter_mut().rev() {
            if !declared.short {
                continue;
            }
            if declared.usage.page == page {
                break;
            }
            declared.usage.page = page;
        }
        let usages = self.usages.drain(..).map(|d| d.usage).collect();
        self.usage_min = None;
        usages
    }

    fn main(&mut self, offset: usize, item: MainItem) -> Result<(), DescriptorError> {
        let usages = self.resolve_usages();
        match item {
            MainItem::Collection(kind) => {
                let usage = usages.first().copied().unwrap_or(Usage::new(0, 0));
                if kind == CollectionItem::Application {
                    self.out.applications.push(usage);
                }
                self.collections.push((kind, usage));
                Ok(())
            }
            MainItem::EndCollection => self
                .collections
                .pop()
                .map(|_| ())
                .ok_or_else(|| malformed(offset, "End Collection without a Collection")),
            MainItem::Input(i) => self.field(Direction::Input, &i, usages),
            MainItem::Output(o) => self.field(Direction::Output, &o, usages),
            MainItem::Feature(f) => self.field(Direction::Feature, &f, usages),
        }
    }

    fn field(
        &mut self,
        direction: Direction,
        item: &impl MainDataItem,
        usages: Vec<Usage>,
    ) -> Result<(), DescriptorError> {
        let g = self.globals;
        let report = self.reports.entry((direction, g.report_id)).or_default();
        let bit = report.bits;
        // The kernel's order (`hid_add_field`): the size is added and checked
        // first, padding included; then a field with usages is registered.
        report.bits = g
            .report_size
            .checked_mul(g.report_count)
            .and_then(|bits| bits.checked_add(bit))
            .filter(|end| *end <= MAX_REPORT_BITS)
            .ok_or_else(|| {
                report_too_long(direction, g.report_id, bit, g.report_size, g.report_count)
            })?;
        if !usages.is_empty() {
            if report.fields >= MAX_FIELDS {
                return Err(DescriptorError::TooManyFields {
                    direction,
                    report_id: g.report_id,
                });
            }
            report.fields += 1;
        }
        let applications = self
            .collections
            .iter()
            .filter(|(kind, _)| *kind == CollectionItem::Application)
            .map(|(_, usage)| *usage)
            .collect();
        let constant = item.is_constant();
        self.out.fields.push(Field {
            direction,
            report_id: g.report_id,
            bit,
            size: g.report_size,
            count: g.report_count,
            constant,
            variable: item.is_variable(),
            relative: item.is_relative(),
            logical_min: g.logical_min,
            logical_max: g.logical_max,
            usages: if constant { Vec::new() } else { usages },
            applications,
        });
        Ok(())
    }

    fn finish(self, len: usize) -> Result<Descriptor, DescriptorError> {
        if !self.collections.is_empty() {
            return Err(malformed(len, "a collection is never closed"));
        }
        Ok(self.out)
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
