//! Entry points for fuzzers, hidden from the documentation: not an API for
//! drivers or applications.
//!
//! Each takes bytes as a device (or a settings file) could give them and must
//! return, whatever they are: no panic, no endless loop, no allocation past the
//! kernel's limits (see [`crate::descriptor`]). cargo-fuzz targets outside this
//! crate call them; `tests/descriptor.rs` calls them with mutated real
//! descriptors. The pieces are public too, for targets that want one step:
//! [`crate::descriptor::parse`], [`crate::handset::Layout::of`],
//! [`crate::handset::telephony_layout`], [`crate::handset::Handset::input`],
//! [`crate::inspect::inspection_of`], [`crate::yealink::reply`].

use crate::descriptor;
use crate::handset::{self, Handset, HandsetEvent};
use crate::inspect;
use crate::transport::Transport;

/// Report descriptor bytes, as the watcher and `tspctl usbhid inspect` take them:
/// parsed, inspected, and laid out when they have a Telephony collection.
///
/// # Errors
/// The refusal, as the driver would log it.
pub fn descriptor(bytes: &[u8]) -> Result<Option<handset::Layout>, descriptor::DescriptorError> {
    if let Ok(parsed) = descriptor::parse(bytes) {
        let _ = inspect::inspection_of(&parsed);
    }
    handset::telephony_layout(bytes)
}

/// A handset's whole life from device bytes. `data` is a descriptor length (two
/// bytes, little-endian), the descriptor, then input reports, each after a length
/// byte. A descriptor that lays out becomes a [`Handset`]; each report goes through
/// [`Handset::input`] (with the hookswitch echo, as the reader thread does it);
/// then every lamp, the ringer and every data area are written, as TAPI could ask.
/// Returns the events the reports made.
pub fn handset(data: &[u8]) -> Vec<HandsetEvent> {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return Vec::new();
    };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (descriptor, mut reports) = rest.split_at(len);
    let Ok(Some(layout)) = handset::telephony_layout(descriptor) else {
        return Vec::new();
    };
    let mut handset = Handset::new(layout);
    let mut events = Vec::new();
    while let Some((&len, rest)) = reports.split_first() {
        let (report, rest) = rest.split_at(usize::from(len).min(rest.len()));
        reports = rest;
        for event in handset.input(report).unwrap_or_default() {
            if let HandsetEvent::Hookswitch(off_hook) = event {
                let _ = handset.echo_hookswitch(off_hook);
            }
            events.push(event);
        }
    }
    for index in 0..handset.layout().lamps.len() {
        let _ = handset.set_lamp(index, true);
        let _ = handset.lamp_is_on(index);
    }
    let _ = handset.set_ring(true);
    let areas = handset.layout().data_areas.len();
    for id in (0..areas).filter_map(|id| u32::try_from(id).ok()) {
        let _ = handset.set_data(id, descriptor);
        let _ = handset.written_data(id);
    }
    events
}

/// Yealink USB-P1K replies, as the poll thread reads them: `data` in 16-byte
/// packets, each checked ([`crate::yealink::reply`]), key-poll counters and
/// scancodes turned into events.
pub fn p1k_replies(data: &[u8]) -> Vec<HandsetEvent> {
    crate::p1k::events_of_replies(data)
}

/// Packets written to [`crate::p1k::SimulatedP1k`], the firmware stand-in the
/// simulated P1K answers with: `data` in 16-byte packets. Returns its replies.
pub fn p1k_firmware(data: &[u8]) -> Vec<Vec<u8>> {
    let phone = crate::p1k::SimulatedP1k::new();
    let mut replies = Vec::new();
    for packet in data.chunks(crate::yealink::Generation::G1.packet_len()) {
        if phone.write_output(packet).is_ok()
            && let Ok(Some(reply)) = phone.read_input(std::time::Duration::ZERO)
        {
            replies.push(reply);
        }
    }
    replies
}
