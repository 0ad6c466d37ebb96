//! [`SimulatedP1k`]: a stand-in for the P1K's firmware behind the transport seam,
//! answering packets as the phone does (`yealink.c`'s view of it), for tests, the
//! conformance step and anyone without the phone.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::NO_KEY;
use crate::lock;
use crate::transport::{Transport, TransportError};
use crate::yealink::{self, Generation, cmd};

#[derive(Debug)]
struct Firmware {
    replies: VecDeque<Vec<u8>>,
    counter: u8,
    keys: [u8; 32],
    lcd: [u8; yealink::LCD_BYTES],
    notes: Vec<u8>,
    ring_volume: u8,
    ringer: u8,
    led: u8,
    received: Vec<Vec<u8>>,
    gone: bool,
}

impl Default for Firmware {
    fn default() -> Self {
        Self {
            replies: VecDeque::new(),
            counter: 0,
            keys: [NO_KEY; 32],
            lcd: [0; yealink::LCD_BYTES],
            notes: Vec::new(),
            ring_volume: 0,
            ringer: 0,
            led: 0,
            received: Vec::new(),
            gone: false,
        }
    }
}

impl Firmware {
    /// What the firmware does with a packet, and its reply.
    fn take(&mut self, packet: &[u8]) -> Vec<u8> {
        let bad =
            || yealink::packet(Generation::G1, cmd::BAD_PACKET, 0, 0, &[]).unwrap_or_default();
        if packet.len() != 16 || yealink::checksum(packet) != 0 {
            return bad();
        }
        let size = usize::from(packet[1]).min(11);
        let offset = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        let data = &packet[4..4 + size];
        let answer = |cmd: u8, offset: u16, data: &[u8]| {
            yealink::packet(Generation::G1, cmd, 1, offset, data).unwrap_or_default()
        };
        match packet[0] {
            cmd::KEY_POLL => answer(cmd::KEY_POLL, 0, &[self.counter]),
            cmd::SCANCODE => answer(
                cmd::SCANCODE,
                u16::from_be_bytes([packet[2], packet[3]]),
                &[self.keys[offset & 0x1F]],
            ),
            cmd::VERSION => answer(cmd::VERSION, 0, &[0x01, 0x00]),
            cmd::LCD if offset + size <= yealink::LCD_BYTES => {
                self.lcd[offset..offset + size].copy_from_slice(data);
                packet.to_vec()
            }
            cmd::RING_NOTE => {
                if self.notes.len() < offset + size {
                    self.notes.resize(offset + size, 0);
                }
                self.notes[offset..offset + size].copy_from_slice(data);
                packet.to_vec()
            }
            // A size of 0 leaves these without their one data byte.
            cmd::RING_VOLUME | cmd::RINGER | cmd::LED => {
                let Some(&value) = data.first() else {
                    return bad();
                };
                match packet[0] {
                    cmd::RING_VOLUME => self.ring_volume = value,
                    cmd::RINGER => self.ringer = value,
                    _ => self.led = value,
                }
                packet.to_vec()
            }
            cmd::INIT => packet.to_vec(),
            _ => bad(),
        }
    }
}

/// A P1K that answers packets as its firmware does (key counter, scancode ring,
/// LCD memory, ringtone notes, ringer, LED), for tests and for anyone without
/// the phone. Clones share one phone.
#[derive(Clone, Debug, Default)]
pub struct SimulatedP1k {
    firmware: Arc<(Mutex<Firmware>, Condvar)>,
}

impl SimulatedP1k {
    /// A connected P1K with no key pressed.
    pub fn new() -> Self {
        Self::default()
    }

    fn firmware(&self) -> MutexGuard<'_, Firmware> {
        lock(&self.firmware.0)
    }

    /// The user presses the key with `scancode` (or releases it: 0xFF).
    pub fn key(&self, scancode: u8) {
        let mut firmware = self.firmware();
        firmware.counter = firmware.counter.wrapping_add(1);
        let slot = usize::from(firmware.counter.wrapping_sub(1) & 0x1F);
        firmware.keys[slot] = scancode;
    }

    /// The LCD segment memory.
    pub fn lcd(&self) -> [u8; yealink::LCD_BYTES] {
        self.firmware().lcd
    }

    /// The ringtone notes downloaded, end marker included.
    pub fn notes(&self) -> Vec<u8> {
        self.firmware().notes.clone()
    }

    /// The ring volume (command 0x11), the ringer (0x03) and the LED (0x05) as
    /// last set.
    pub fn ring_volume_ringer_led(&self) -> (u8, u8, u8) {
        let firmware = self.firmware();
        (firmware.ring_volume, firmware.ringer, firmware.led)
    }

    /// Every packet received, oldest first.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.firmware().received.clone()
    }

    /// Unplugs it: every transfer fails with [`TransportError::Gone`] until
    /// [`SimulatedP1k::replug`].
    pub fn unplug(&self) {
        self.firmware().gone = true;
        self.firmware.1.notify_all();
    }

    /// Plugs it back in.
    pub fn replug(&self) {
        let mut firmware = self.firmware();
        firmware.gone = false;
        firmware.replies.clear();
    }

    /// Whether it is plugged in.
    pub fn is_plugged(&self) -> bool {
        !self.firmware().gone
    }
}

impl Transport for SimulatedP1k {
    fn read_input(&self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        let guard = self.firmware();
        let (mut firmware, _) = self
            .firmware
            .1
            .wait_timeout_while(guard, timeout, |f| f.replies.is_empty() && !f.gone)
            .unwrap_or_else(|e| e.into_inner());
        if firmware.gone {
            return Err(TransportError::Gone);
        }
        Ok(firmware.replies.pop_front())
    }

    fn write_output(&self, report: &[u8]) -> Result<(), TransportError> {
        let mut firmware = self.firmware();
        if firmware.gone {
            return Err(TransportError::Gone);
        }
        firmware.received.push(report.to_vec());
        let reply = firmware.take(report);
        firmware.replies.push_back(reply);
        self.firmware.1.notify_all();
        Ok(())
    }

    fn write_feature(&self, _: &[u8]) -> Result<(), TransportError> {
        Err(TransportError::Unsupported("feature"))
    }

    fn read_feature(&self, _: u8, _: usize) -> Result<Vec<u8>, TransportError> {
        Err(TransportError::Unsupported("feature"))
    }
}
