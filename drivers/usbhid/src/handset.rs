//! A handset's telephony controls as TAPI sees them, without I/O: input reports in,
//! events out; lamp, ringer and hookswitch settings in, whole output reports out.
//!
//! Reports are `[id][payload]` when the descriptor declares report ids and the bare
//! payload otherwise, as libusb reads and writes them.
//!
//! A device's descriptor becomes a [`Layout`] through [`telephony_layout`] (parse
//! and layout, each inside `catch_unwind`); [`Layout::of`] refuses reports past the
//! kernel's buffer and more than [`MAX_CONTROLS`] buttons and lamps, so the
//! shadows [`Handset::new`] allocates are bounded. Bit arithmetic is checked: a
//! [`Place`] past its report reads as 0 and writes nothing; an input report
//! shorter than declared, or of an id without telephony controls, changes nothing.

use std::collections::HashMap;

use crate::descriptor::{self, Descriptor, DescriptorError, Direction, Field, PAGE_LED, Usage};
use crate::usages::{self, Role};

/// The most buttons and lamps a layout takes (defined beside the descriptor's
/// other limits, whose error names it).
pub use crate::descriptor::MAX_CONTROLS;

/// Where a one-element value sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// Report id (0 without ids).
    pub report_id: u8,
    /// Bit offset in the payload.
    pub bit: u32,
    /// Width in bits.
    pub size: u32,
}

/// A button, in TAPI's numbering (its index in [`Layout::buttons`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Button {
    /// The usage pressed.
    pub usage: Usage,
    /// Its bits; for an array member, the array's element.
    pub place: Place,
    /// A press reported as a change: it has no "up" of its own.
    pub press_only: bool,
    /// For an array member: the element value that selects it.
    pub array_value: Option<i64>,
    /// What the key says, where the usage's name would not (the Yealink keys).
    pub label: Option<&'static str>,
}

/// A lamp (LED page usage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lamp {
    /// The LED usage.
    pub usage: Usage,
    /// Its bits in the output report.
    pub place: Place,
}

/// What an input report changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandsetEvent {
    /// The hookswitch: true = off hook.
    Hookswitch(bool),
    /// Button (TAPI index) went down.
    ButtonDown(u32),
    /// Button (TAPI index) came up.
    ButtonUp(u32),
}

/// Why an input report was not decoded.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    /// Shorter than the descriptor says: a broken device or a misread.
    #[error("input report {id} has {got} payload bytes; the descriptor declares {want}")]
    Short {
        /// The report id.
        id: u8,
        /// Bytes received.
        got: usize,
        /// Bytes declared.
        want: usize,
    },
    /// An empty read.
    #[error("an empty input report")]
    Empty,
}

/// The telephony controls of a descriptor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// The hookswitch, if the device has one.
    pub hookswitch: Option<Place>,
    /// Buttons in TAPI order.
    pub buttons: Vec<Button>,
    /// Lamps in TAPI order.
    pub lamps: Vec<Lamp>,
    /// The ringer usage (0x0B:0x9E).
    pub ringer: Option<Place>,
    /// Output and feature reports as TAPI data areas, data id = index.
    pub data_areas: Vec<DataArea>,
    /// The descriptor's application collections (Headset, Phone, …).
    pub applications: Vec<Usage>,
    pub(crate) uses_report_ids: bool,
    pub(crate) input_len: HashMap<u8, usize>,
}

/// An output or feature report offered to `TSPI_phoneSetData`/`GetData`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataArea {
    /// Output (SET_REPORT Output) or feature (SET_REPORT/GET_REPORT Feature).
    pub direction: Direction,
    /// The report id (0 without ids).
    pub report_id: u8,
    /// Payload bytes, without the id byte.
    pub len: usize,
}

/// Why a data request was refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DataError {
    /// No data area has this id.
    #[error("no data area {0}; the phone's caps list the areas and their sizes")]
    NoSuchArea(u32),
    /// More bytes than the report holds.
    #[error("{len} bytes do not fit data area {id}, a report of {max} bytes")]
    TooLong {
        /// The data id.
        id: u32,
        /// Bytes given.
        len: usize,
        /// The report's payload size.
        max: usize,
    },
}

/// The telephony layout of report descriptor `bytes`, or `None` when the device
/// has no Telephony application collection: [`descriptor::parse`] then
/// [`Layout::of`], each inside `catch_unwind`. Every place that gets a device's
/// descriptor (the watcher's scans, the simulated handsets of the settings) comes
/// here.
///
/// # Errors
/// [`DescriptorError`]: the bytes are refused, or a bug panicked on them.
pub fn telephony_layout(bytes: &[u8]) -> Result<Option<Layout>, DescriptorError> {
    let parsed = descriptor::parse(bytes)?;
    if !parsed.has_telephony() {
        return Ok(None);
    }
    Layout::of(&parsed).map(Some)
}

impl Layout {
    /// The controls inside `descriptor`'s Telephony collections, worked out inside
    /// `catch_unwind`. The report lengths are checked again
    /// ([`Descriptor::reports`]): the fields of a `Descriptor` are public.
    ///
    /// # Errors
    /// [`DescriptorError::ReportTooLong`] for a report past the kernel's buffer,
    /// [`DescriptorError::TooManyControls`] past [`MAX_CONTROLS`],
    /// [`DescriptorError::Bug`] if anything panicked.
    pub fn of(descriptor: &Descriptor) -> Result<Self, DescriptorError> {
        descriptor::guarded("laying out a report descriptor", || {
            Self::of_unguarded(descriptor)
        })
    }

    fn of_unguarded(descriptor: &Descriptor) -> Result<Self, DescriptorError> {
        // First: no shadow or data area is sized before every length is checked.
        let reports = descriptor.reports()?;
        let mut layout = Layout {
            uses_report_ids: descriptor.uses_report_ids,
            applications: descriptor.applications.clone(),
            ..Layout::default()
        };
        for field in descriptor
            .fields
            .iter()
            .filter(|f| f.in_telephony() && !f.constant)
        {
            layout.add_field(field)?;
        }
        // Outputs, then features, each by id: the data ids TAPI sees.
        for ((direction, report_id), len) in reports {
            if direction == Direction::Input {
                layout.input_len.insert(report_id, len);
            } else {
                layout.data_areas.push(DataArea {
                    direction,
                    report_id,
                    len,
                });
            }
        }
        Ok(layout)
    }

    /// Refuses one more button or lamp past [`MAX_CONTROLS`].
    fn room(&self) -> Result<(), DescriptorError> {
        if self.buttons.len() + self.lamps.len() >= MAX_CONTROLS {
            return Err(DescriptorError::TooManyControls);
        }
        Ok(())
    }

    fn add_field(&mut self, field: &Field) -> Result<(), DescriptorError> {
        if !field.variable {
            return self.add_array(field);
        }
        // From the last declared usage on, every element carries it (up to 12288
        // of them): past it, an element that plays no role ends the walk, and of a
        // hookswitch or ringer only the last element counts. Buttons and lamps
        // stop at MAX_CONTROLS. So the walk is short whatever the Report Count.
        let Some(last_declared) = field.usages.len().checked_sub(1) else {
            return Ok(());
        };
        let mut elements = field.variable_elements().enumerate();
        while let Some((index, (usage, bit))) = elements.next() {
            let role = usages::role(usage, field.direction);
            let repeated = index >= last_declared;
            let bit = match role {
                None if repeated => break,
                Some(Role::Hookswitch | Role::Ringer) if repeated => {
                    elements.by_ref().last().map_or(bit, |(_, (_, last))| last)
                }
                Some(Role::Button | Role::Lamp) => {
                    self.room()?;
                    bit
                }
                _ => bit,
            };
            let place = Place {
                report_id: field.report_id,
                bit,
                size: field.size,
            };
            match role {
                Some(Role::Hookswitch) => self.hookswitch = Some(place),
                Some(Role::Button) => self.buttons.push(Button {
                    usage,
                    place,
                    press_only: field.relative,
                    array_value: None,
                    label: None,
                }),
                Some(Role::Lamp) => self.lamps.push(Lamp { usage, place }),
                Some(Role::Ringer) => self.ringer = Some(place),
                None => {}
            }
        }
        Ok(())
    }

    /// Each selectable usage of an array is a button; value `logical_min + n`
    /// selects usage n (HID 1.11 §6.2.2.5), anything outside the range is none.
    /// This is the spec's reading; gonnect reads the Jabra keypad as 1..12 with 0
    /// for "no key" instead. Until a device is seen to settle it we follow the
    /// spec, which the descriptors agree with (12 usages, Logical 0..11).
    fn add_array(&mut self, field: &Field) -> Result<(), DescriptorError> {
        if field.direction != Direction::Input {
            return Ok(());
        }
        let place = Place {
            report_id: field.report_id,
            bit: field.bit,
            size: field.size,
        };
        for (n, usage) in field.usages.iter().enumerate() {
            if usages::role(*usage, field.direction) != Some(Role::Button) {
                continue;
            }
            // An index past i64 selects nothing a report can hold.
            let Some(selects) = i64::try_from(n)
                .ok()
                .and_then(|n| i64::from(field.logical_min).checked_add(n))
            else {
                break;
            };
            self.room()?;
            self.buttons.push(Button {
                usage: *usage,
                place,
                press_only: field.relative,
                array_value: Some(selects),
                label: None,
            });
        }
        Ok(())
    }

    /// Whether reports start with their id byte.
    pub fn uses_report_ids(&self) -> bool {
        self.uses_report_ids
    }

    /// The lamp with LED usage `id`, as TAPI index.
    pub fn lamp_index(&self, id: u16) -> Option<usize> {
        self.lamps
            .iter()
            .position(|lamp| lamp.usage == Usage::new(PAGE_LED, id))
    }
}

/// The byte and the bit in it of bit `i` of `place`; `None` past the offsets (a
/// `Place` made by hand) or the address space.
fn bit_at(place: Place, i: u32) -> Option<(usize, u32)> {
    let bit = place.bit.checked_add(i)?;
    Some((usize::try_from(bit / 8).ok()?, bit % 8))
}

/// Reads bits `place` of `payload`, little-endian as HID packs them (the first 64;
/// bits past the payload read as 0).
fn read_bits(payload: &[u8], place: Place) -> u64 {
    (0..place.size.min(64)).fold(0, |value, i| {
        let byte = bit_at(place, i)
            .and_then(|(byte, bit)| Some(payload.get(byte)? >> bit))
            .unwrap_or(0);
        value | (u64::from(byte & 1) << i)
    })
}

/// Writes `value` into bits `place` of `payload`; bits past it are not written.
fn write_bits(payload: &mut [u8], place: Place, value: u64) {
    for i in 0..place.size.min(64) {
        let Some((index, bit)) = bit_at(place, i) else {
            break;
        };
        if let Some(byte) = payload.get_mut(index) {
            let mask = 1 << bit;
            if value >> i & 1 == 1 {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }
}

/// A handset's live state: the last input report of each id (to see changes and
/// drop repeats) and a shadow of each output report (a lamp is one bit of a
/// report that must be written whole).
#[derive(Debug)]
pub struct Handset {
    layout: Layout,
    last_input: HashMap<u8, Vec<u8>>,
    shadow: HashMap<(Direction, u8), Vec<u8>>,
}

impl Handset {
    /// A handset with everything off and on hook. The shadow of each report is as
    /// long as the longest data area naming it ([`Layout::of`] keeps them within
    /// [`crate::descriptor::MAX_REPORT_BYTES`]).
    pub fn new(layout: Layout) -> Self {
        let mut shadow: HashMap<(Direction, u8), Vec<u8>> = HashMap::new();
        for area in &layout.data_areas {
            let payload = shadow.entry((area.direction, area.report_id)).or_default();
            if payload.len() < area.len {
                payload.resize(area.len, 0);
            }
        }
        Self {
            layout,
            last_input: HashMap::new(),
            shadow,
        }
    }

    /// Whether reports start with their id byte.
    pub fn uses_report_ids(&self) -> bool {
        self.layout.uses_report_ids
    }

    /// Its controls.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The events an input report means. A report identical to the last one of its
    /// id means nothing (headsets repeat reports); reports of ids without
    /// telephony controls mean nothing.
    ///
    /// # Errors
    /// [`ReportError`] for an empty report or one shorter than declared; the
    /// handset's state is unchanged.
    pub fn input(&mut self, report: &[u8]) -> Result<Vec<HandsetEvent>, ReportError> {
        let (id, payload) = match (self.layout.uses_report_ids, report) {
            (_, []) => return Err(ReportError::Empty),
            (true, [id, payload @ ..]) => (*id, payload),
            (false, payload) => (0, payload),
        };
        let ours = self.layout.hookswitch.is_some_and(|p| p.report_id == id)
            || self.layout.buttons.iter().any(|b| b.place.report_id == id);
        let want = match self.layout.input_len.get(&id) {
            Some(&want) if ours => want,
            _ => return Ok(Vec::new()),
        };
        if payload.len() < want {
            return Err(ReportError::Short {
                id,
                got: payload.len(),
                want,
            });
        }
        let payload = &payload[..want];
        let events = match self.last_input.get(&id) {
            Some(last) if last == payload => return Ok(Vec::new()),
            Some(last) => self.changes(id, last, payload),
            None => self.changes(id, &vec![0; want], payload),
        };
        self.last_input.insert(id, payload.to_vec());
        Ok(events)
    }

    fn changes(&self, id: u8, before: &[u8], now: &[u8]) -> Vec<HandsetEvent> {
        let mut events = Vec::new();
        if let Some(place) = self.layout.hookswitch.filter(|p| p.report_id == id) {
            let (was, is) = (read_bits(before, place), read_bits(now, place));
            if was != is {
                events.push(HandsetEvent::Hookswitch(is != 0));
            }
        }
        for (index, button) in self.layout.buttons.iter().enumerate() {
            if button.place.report_id != id {
                continue;
            }
            let pressed = |payload: &[u8]| {
                let value = read_bits(payload, button.place);
                match button.array_value {
                    Some(selects) => i64::try_from(value).is_ok_and(|v| v == selects),
                    None => value != 0,
                }
            };
            let Ok(index) = u32::try_from(index) else {
                break;
            };
            match (pressed(before), pressed(now), button.press_only) {
                (false, true, true) => {
                    events.push(HandsetEvent::ButtonDown(index));
                    events.push(HandsetEvent::ButtonUp(index));
                }
                (false, true, false) => events.push(HandsetEvent::ButtonDown(index)),
                (true, false, false) => events.push(HandsetEvent::ButtonUp(index)),
                _ => {}
            }
        }
        events
    }

    /// Sets lamp `index` and returns the whole output report to write, or `None`
    /// for a lamp the device does not have.
    pub fn set_lamp(&mut self, index: usize, on: bool) -> Option<Vec<u8>> {
        let place = self.layout.lamps.get(index)?.place;
        self.write(place, on)
    }

    /// Turns the ringer on or off: the Ringer usage where there is one, else the
    /// Ring lamp (Poly has only the lamp). `None` when the device has neither.
    pub fn set_ring(&mut self, on: bool) -> Option<Vec<u8>> {
        let place = self.layout.ringer.or_else(|| {
            let ring = self.layout.lamp_index(0x18)?;
            Some(self.layout.lamps[ring].place)
        })?;
        self.write(place, on)
    }

    /// Mirrors the hookswitch into the Off-Hook lamp: headsets that do not hear it
    /// back revert their state. `None` when the device has no such lamp.
    pub fn echo_hookswitch(&mut self, off_hook: bool) -> Option<Vec<u8>> {
        let index = self.layout.lamp_index(0x17)?;
        self.set_lamp(index, off_hook)
    }

    fn write(&mut self, place: Place, on: bool) -> Option<Vec<u8>> {
        let shadow = self.shadow.get_mut(&(Direction::Output, place.report_id))?;
        write_bits(shadow, place, u64::from(on));
        Some(self.report(Direction::Output, place.report_id))
    }

    /// `[id][payload]` (or the payload alone without ids) from the shadow.
    fn report(&self, direction: Direction, id: u8) -> Vec<u8> {
        let payload = self
            .shadow
            .get(&(direction, id))
            .map_or(&[][..], Vec::as_slice);
        let mut report = Vec::with_capacity(payload.len() + 1);
        if self.layout.uses_report_ids {
            report.push(id);
        }
        report.extend_from_slice(payload);
        report
    }

    /// Writes `data` at the start of data area `id` (the rest of the report keeps
    /// what it had, so a lamp bit in an output report survives) and returns the
    /// area and the whole report to send.
    ///
    /// # Errors
    /// [`DataError`] for an unknown area or too many bytes.
    pub fn set_data(&mut self, id: u32, data: &[u8]) -> Result<(DataArea, Vec<u8>), DataError> {
        let area = self.area(id)?;
        if data.len() > area.len {
            return Err(DataError::TooLong {
                id,
                len: data.len(),
                max: area.len,
            });
        }
        // The shadow is at least the area's length (`new`); `get_mut` all the same.
        if let Some(prefix) = self
            .shadow
            .get_mut(&(area.direction, area.report_id))
            .and_then(|shadow| shadow.get_mut(..data.len()))
        {
            prefix.copy_from_slice(data);
        }
        Ok((area, self.report(area.direction, area.report_id)))
    }

    /// Data area `id`.
    ///
    /// # Errors
    /// [`DataError::NoSuchArea`].
    pub fn area(&self, id: u32) -> Result<DataArea, DataError> {
        self.layout
            .data_areas
            .get(id as usize)
            .copied()
            .ok_or(DataError::NoSuchArea(id))
    }

    /// What was last written to data area `id` (output reports cannot be read
    /// back from a device; feature reports are read with [`Handset::area`] and
    /// GET_REPORT instead).
    ///
    /// # Errors
    /// [`DataError::NoSuchArea`].
    pub fn written_data(&self, id: u32) -> Result<Vec<u8>, DataError> {
        let area = self.area(id)?;
        Ok(self
            .shadow
            .get(&(area.direction, area.report_id))
            .cloned()
            .unwrap_or_default())
    }

    /// Whether lamp `index` is lit in the shadow.
    pub fn lamp_is_on(&self, index: usize) -> bool {
        self.layout.lamps.get(index).is_some_and(|lamp| {
            self.shadow
                .get(&(Direction::Output, lamp.place.report_id))
                .is_some_and(|payload| read_bits(payload, lamp.place) != 0)
        })
    }
}
