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
//! The bytes come from an untrusted device: every limit is checked, nothing panics
//! (hidreport is run inside `catch_unwind` in case it does).

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

/// The kernel's limits (`drivers/hid/hid-core.c`): a field of more bits or more
/// elements is refused there, so a device cannot rely on it.
const MAX_REPORT_SIZE: u32 = 256;
const MAX_USAGES: usize = 12288;

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
        self.usages.get((index as usize).min(last)).copied()
    }

    /// Each element of a variable field as its usage and bit offset; none for an
    /// array, whose elements hold indexes into [`Field::usages`].
    pub fn variable_elements(&self) -> impl Iterator<Item = (Usage, u32)> + '_ {
        let count = if self.variable { self.count } else { 0 };
        (0..count).filter_map(|i| {
            let usage = self.usage_of_element(i)?;
            Some((usage, self.bit + i * self.size))
        })
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
    pub fn reports(&self) -> BTreeMap<(Direction, u8), usize> {
        let mut bits: BTreeMap<(Direction, u8), u64> = BTreeMap::new();
        for f in &self.fields {
            let end = u64::from(f.bit) + u64::from(f.size) * u64::from(f.count);
            let longest = bits.entry((f.direction, f.report_id)).or_default();
            *longest = (*longest).max(end);
        }
        bits.into_iter()
            .map(|(report, bits)| (report, bits.div_ceil(8) as usize))
            .collect()
    }

    /// Payload length in bytes of report `id` in `direction` (without the id byte).
    pub fn report_len(&self, direction: Direction, id: u8) -> usize {
        self.reports().get(&(direction, id)).copied().unwrap_or(0)
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
}

fn malformed(offset: usize, message: impl Into<String>) -> DescriptorError {
    DescriptorError::Malformed {
        offset,
        message: message.into(),
    }
}

/// Parses report descriptor bytes.
///
/// # Errors
/// [`DescriptorError::Empty`] for no bytes; [`DescriptorError::Malformed`] for items
/// that do not parse, unbalanced collections or Push/Pop, fields beyond the kernel's
/// limits, and anything that made the item parser panic.
pub fn parse(bytes: &[u8]) -> Result<Descriptor, DescriptorError> {
    if bytes.is_empty() {
        return Err(DescriptorError::Empty);
    }
    let items = catch_unwind(AssertUnwindSafe(|| {
        ReportDescriptorItems::try_from(bytes).map(|items| {
            items
                .iter()
                .map(|i| (i.offset(), i.item().item_type(), i.item().bytes().len()))
                .collect::<Vec<_>>()
        })
    }))
    .map_err(|_| malformed(0, "the item parser gave up on it"))?
    .map_err(item_error)?;
    let mut parser = Parser::default();
    for (offset, item, len) in items {
        parser.item(offset, item, len.saturating_sub(1))?;
    }
    parser.finish(bytes.len())
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
    collections: Vec<(CollectionItem, Usage)>,
    offsets: HashMap<(Direction, u8), u32>,
    out: Descriptor,
}

impl Parser {
    fn item(
        &mut self,
        offset: usize,
        item: ItemType,
        data_len: usize,
    ) -> Result<(), DescriptorError> {
        match item {
            ItemType::Main(main) => self.main(offset, main),
            ItemType::Global(global) => self.global(offset, global),
            ItemType::Local(local) => self.local(offset, local, data_len <= 2),
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
                g.report_size = u32::try_from(usize::from(v)).unwrap_or(u32::MAX)
            }
            GlobalItem::ReportCount(v) => {
                g.report_count = u32::try_from(usize::from(v)).unwrap_or(u32::MAX)
            }
            GlobalItem::ReportId(id) => {
                let id = u8::from(id);
                if id == 0 {
                    return Err(malformed(offset, "report id 0 is reserved"));
                }
                g.report_id = id;
                self.out.uses_report_ids = true;
            }
            GlobalItem::Push => self.stack.push(self.globals),
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
        let page = if min_short {
            self.globals.usage_page
        } else {
            (min >> 16) as u16
        };
        let (low, high) = (min & 0xFFFF, max & 0xFFFF);
        if high < low {
            return Err(malformed(offset, "Usage Maximum below Usage Minimum"));
        }
        for id in low..=high {
            let usage = Usage::new(page, id as u16);
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
            MainItem::Input(i) => self.field(offset, Direction::Input, &i, usages),
            MainItem::Output(o) => self.field(offset, Direction::Output, &o, usages),
            MainItem::Feature(f) => self.field(offset, Direction::Feature, &f, usages),
        }
    }

    fn field(
        &mut self,
        offset: usize,
        direction: Direction,
        item: &impl MainDataItem,
        usages: Vec<Usage>,
    ) -> Result<(), DescriptorError> {
        let g = self.globals;
        if g.report_size > MAX_REPORT_SIZE {
            return Err(malformed(
                offset,
                format!(
                    "Report Size {} is over {MAX_REPORT_SIZE} bits",
                    g.report_size
                ),
            ));
        }
        if g.report_count as usize > MAX_USAGES {
            return Err(malformed(
                offset,
                format!("Report Count {} is over {MAX_USAGES}", g.report_count),
            ));
        }
        let next = self.offsets.entry((direction, g.report_id)).or_insert(0);
        let bit = *next;
        *next = bit.saturating_add(g.report_size * g.report_count);
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
