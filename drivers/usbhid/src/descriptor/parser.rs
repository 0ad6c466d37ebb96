//! The item walk behind [`super::parse`]: hidreport's items interpreted as the
//! kernel interprets them (globals with Push and Pop, usages resolved at each Main
//! item, bit offsets per direction and report id), within the limits of
//! [`super`]'s docs.

use std::collections::HashMap;

use hidreport::hid::{
    CollectionItem, GlobalItem, Item, ItemType, LocalItem, MainDataItem, MainItem,
    ReportDescriptorItems,
};

use super::{
    Descriptor, DescriptorError, Direction, Field, MAX_DESCRIPTOR_BYTES, MAX_DESCRIPTOR_USAGES,
    MAX_FIELDS, MAX_PUSH, MAX_REPORT_BITS, MAX_REPORT_SIZE, MAX_USAGES, Usage, guarded,
    report_too_long,
};

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
