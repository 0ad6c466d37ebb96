//! The Yealink USB-P1K (packet generation 1) as a phone: a poll thread asks the
//! firmware for key events every 100 ms, as the Linux `yealink.c` driver does, and
//! the session's commands go between polls, one packet and its reply at a time.
//!
//! The phone: the keypad (`0`–`9`, `*`, `#` are button ids 0–11), then `C`, `IN`,
//! `OUT`, up and down (ids 12–16); the pickup and hangup keys are the handset's
//! hookswitch; one lamp (the LED, command 0x05, 1 = on as the kernel driver has
//! it); one ring mode (command 0x03 with 0x24, the ring volume with 0x11); data
//! id 0 is the LCD's 24 bytes of segment memory, data id 1 a ringtone (one volume
//! byte, 4-byte notes, `00 00`), both read back as last written.
//!
//! The P1KH (generation 2, 8-byte packets) has another key table that is not
//! documented here: it is not served yet.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::descriptor::{Direction, PAGE_BUTTON, PAGE_LED, PAGE_TELEPHONY, Usage};
use crate::device::{Control, DeviceError, DeviceEvent};
use crate::handset::{Button, DataArea, DataError, HandsetEvent, Lamp, Layout, Place};
use crate::lock;
use crate::transport::{Transport, TransportError};
use crate::yealink::{self, Generation, cmd};

mod simulated;

pub use simulated::SimulatedP1k;

/// How often the firmware is asked for key events (`yealink.c` polls as often).
const POLL_EVERY: Duration = Duration::from_millis(100);
/// How long a packet's reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_millis(500);
/// The ringtone area: a volume byte, up to 63 notes and the end marker, rounded.
pub const RINGTONE_BYTES: usize = 256;
/// The data id of the LCD segment memory.
pub const LCD_AREA: u32 = 0;
/// The data id of the ringtone.
pub const RINGTONE_AREA: u32 = 1;
/// Ringer on, for the P1K (the P1KH uses 0xFF).
const RINGER_ON: u8 = 0x24;
/// The scancode that means "no key".
const NO_KEY: u8 = 0xFF;

/// The buttons in id order: the usage each is offered as, and its label.
const BUTTONS: [(Usage, &str); 17] = [
    (Usage::new(PAGE_TELEPHONY, 0xB0), "0"),
    (Usage::new(PAGE_TELEPHONY, 0xB1), "1"),
    (Usage::new(PAGE_TELEPHONY, 0xB2), "2"),
    (Usage::new(PAGE_TELEPHONY, 0xB3), "3"),
    (Usage::new(PAGE_TELEPHONY, 0xB4), "4"),
    (Usage::new(PAGE_TELEPHONY, 0xB5), "5"),
    (Usage::new(PAGE_TELEPHONY, 0xB6), "6"),
    (Usage::new(PAGE_TELEPHONY, 0xB7), "7"),
    (Usage::new(PAGE_TELEPHONY, 0xB8), "8"),
    (Usage::new(PAGE_TELEPHONY, 0xB9), "9"),
    (Usage::new(PAGE_TELEPHONY, 0xBA), "*"),
    (Usage::new(PAGE_TELEPHONY, 0xBB), "#"),
    (Usage::new(PAGE_BUTTON, 1), "C"),
    (Usage::new(PAGE_BUTTON, 2), "IN"),
    (Usage::new(PAGE_BUTTON, 3), "OUT"),
    (Usage::new(PAGE_BUTTON, 4), "Up"),
    (Usage::new(PAGE_BUTTON, 5), "Down"),
];

/// What a key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Button(u32),
    Hook(bool),
}

fn key_of(scancode: u8) -> Option<Key> {
    let name = yealink::p1k_key(scancode)?;
    Some(match name {
        "pickup" => Key::Hook(true),
        "hangup" => Key::Hook(false),
        _ => {
            let label = match name {
                "in" => "IN",
                "out" => "OUT",
                "up" => "Up",
                "down" => "Down",
                other => other,
            };
            Key::Button(BUTTONS.iter().position(|(_, l)| *l == label)? as u32)
        }
    })
}

/// The P1K as the session sees every handset: buttons, hookswitch, a lamp, a
/// ringer, two data areas.
pub fn layout() -> Layout {
    let nowhere = Place {
        report_id: 0,
        bit: 0,
        size: 1,
    };
    let area = |report_id, len| DataArea {
        direction: Direction::Output,
        report_id,
        len,
    };
    Layout {
        hookswitch: Some(nowhere),
        buttons: BUTTONS
            .iter()
            .map(|(usage, label)| Button {
                usage: *usage,
                place: nowhere,
                press_only: false,
                array_value: None,
                label: Some(label),
            })
            .collect(),
        lamps: vec![Lamp {
            usage: Usage::new(PAGE_LED, 0x4B),
            place: nowhere,
        }],
        ringer: Some(nowhere),
        data_areas: vec![area(0, yealink::LCD_BYTES), area(1, RINGTONE_BYTES)],
        applications: vec![Usage::new(PAGE_TELEPHONY, 0x01)],
        ..Layout::default()
    }
}

#[derive(Debug)]
struct State {
    lcd: [u8; yealink::LCD_BYTES],
    ringtone: Vec<u8>,
    led: bool,
}

/// A running P1K. Dropping it stops the poll thread and waits for it.
#[derive(Debug)]
pub struct P1k {
    link: Arc<Link>,
    state: Mutex<State>,
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
}

/// The transport, one packet and its reply at a time.
struct Link {
    transport: Arc<dyn Transport>,
    busy: Mutex<()>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").finish_non_exhaustive()
    }
}

impl Link {
    /// Sends `packet` and returns the data of its reply.
    ///
    /// A reply to another command is a late answer to an earlier packet whose
    /// exchange timed out: taken as this one's, it would shift every later
    /// exchange by one, so it is skipped.
    fn exchange(&self, packet: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let _busy = lock(&self.busy);
        let sent = packet.first().copied().unwrap_or_default();
        let no_reply = || TransportError::NoAnswer(format!("no reply to command {sent:#04x}"));
        self.transport.write_output(packet)?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            // Skipped replies must not extend the wait; and libusb reads a timeout
            // that rounds down to 0 ms as "wait for ever".
            let left = deadline.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(1) {
                return Err(no_reply().into());
            }
            let reply = self.transport.read_input(left)?.ok_or_else(no_reply)?;
            let (answered, data) = yealink::reply(Generation::G1, &reply)?;
            if answered == sent {
                return Ok(data.to_vec());
            }
            tracing::debug!(
                sent,
                answered,
                "a late P1K reply to an earlier command, skipped"
            );
        }
    }

    fn command(&self, command: u8, offset: u16, data: &[u8]) -> Result<Vec<u8>, DeviceError> {
        // More than a packet holds is refused by `packet`.
        let size = u8::try_from(data.len().max(1)).unwrap_or(u8::MAX);
        let packet = yealink::packet(Generation::G1, command, size, offset, data)?;
        self.exchange(&packet)
    }
}

impl P1k {
    /// Initialises the phone and starts polling it; `on_event` runs on the poll
    /// thread.
    pub fn start(
        transport: Arc<dyn Transport>,
        on_event: impl FnMut(DeviceEvent) + Send + 'static,
    ) -> std::io::Result<Self> {
        let link = Arc::new(Link {
            transport,
            busy: Mutex::new(()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let (link, stop) = (Arc::clone(&link), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("tsp-usbhid-p1k".into())
                .spawn(move || poll(&link, &stop, on_event))?
        };
        Ok(Self {
            link,
            state: Mutex::new(State {
                lcd: [0; yealink::LCD_BYTES],
                ringtone: Vec::new(),
                led: false,
            }),
            stop,
            poller: Some(poller),
        })
    }
}

impl Drop for P1k {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(poller) = self.poller.take() {
            poller.thread().unpark();
            let _ = poller.join();
        }
    }
}

/// The keys pressed now, turned into events.
#[derive(Debug, Default)]
struct Keys {
    counter: Option<u8>,
    held: Option<u32>,
    off_hook: bool,
}

impl Keys {
    fn scancode(&mut self, scancode: u8) -> Vec<HandsetEvent> {
        let mut events: Vec<HandsetEvent> = self
            .held
            .take()
            .map(HandsetEvent::ButtonUp)
            .into_iter()
            .collect();
        if scancode == NO_KEY {
            return events;
        }
        match key_of(scancode) {
            Some(Key::Button(id)) => {
                self.held = Some(id);
                events.push(HandsetEvent::ButtonDown(id));
            }
            Some(Key::Hook(off_hook)) if off_hook != self.off_hook => {
                self.off_hook = off_hook;
                events.push(HandsetEvent::Hookswitch(off_hook));
            }
            Some(Key::Hook(_)) => {}
            None => tracing::debug!(scancode, "an unknown P1K scancode"),
        }
        events
    }
}

fn poll(link: &Link, stop: &AtomicBool, mut on_event: impl FnMut(DeviceEvent)) {
    let mut keys = Keys::default();
    let mut first = true;
    while !stop.load(Ordering::Acquire) {
        let step = if first {
            link.command(cmd::INIT, 0, &[0; 10]).map(|_| Vec::new())
        } else {
            poll_keys(link, &mut keys)
        };
        match step {
            Ok(events) => {
                first = false;
                events
                    .into_iter()
                    .for_each(|e| on_event(DeviceEvent::Handset(e)));
            }
            Err(DeviceError::Transport(TransportError::Gone)) => {
                on_event(DeviceEvent::Disconnected);
                return;
            }
            Err(error) => tracing::warn!(%error, "polling the P1K failed"),
        }
        std::thread::park_timeout(POLL_EVERY);
    }
}

/// One key poll: when the firmware's key counter moved, the scancode it points at.
fn poll_keys(link: &Link, keys: &mut Keys) -> Result<Vec<HandsetEvent>, DeviceError> {
    let counter = first_byte(&link.command(cmd::KEY_POLL, 0, &[])?)?;
    if keys.counter == Some(counter) {
        return Ok(Vec::new());
    }
    keys.counter = Some(counter);
    let offset = u16::from(counter.wrapping_sub(1) & 0x1F);
    let scancode = first_byte(&link.command(cmd::SCANCODE, offset, &[])?)?;
    Ok(keys.scancode(scancode))
}

/// What the poll thread makes of a stream of replies (16-byte packets): a key
/// poll's counter, then the scancode a scancode reply carries. Replies that do not
/// check out are skipped, as the poll skips them. For [`crate::fuzzing`].
pub(crate) fn events_of_replies(packets: &[u8]) -> Vec<HandsetEvent> {
    let mut keys = Keys::default();
    let mut events = Vec::new();
    for packet in packets.chunks(Generation::G1.packet_len()) {
        match yealink::reply(Generation::G1, packet) {
            Ok((cmd::KEY_POLL, data)) => keys.counter = first_byte(data).ok(),
            Ok((cmd::SCANCODE, data)) => {
                if let Ok(scancode) = first_byte(data) {
                    events.extend(keys.scancode(scancode));
                }
            }
            _ => {}
        }
    }
    events
}

/// The first data byte of a reply ([`yealink::reply`] gives 11, but the poll
/// does not rely on it).
fn first_byte(data: &[u8]) -> Result<u8, DeviceError> {
    data.first()
        .copied()
        .ok_or_else(|| TransportError::NoAnswer("a P1K reply without data".into()).into())
}

impl Control for P1k {
    fn set_lamp(&self, index: usize, on: bool) -> Result<(), DeviceError> {
        if index != 0 {
            return Err(DeviceError::NoSuchControl);
        }
        self.link.command(cmd::LED, 0, &[u8::from(on)])?;
        lock(&self.state).led = on;
        Ok(())
    }

    fn set_ring(&self, on: bool, volume: u32) -> Result<(), DeviceError> {
        if on {
            let volume = (volume.min(0xFFFF) >> 8) as u8;
            self.link.command(cmd::RING_VOLUME, 0, &[volume])?;
        }
        let value = if on { RINGER_ON } else { 0 };
        self.link.command(cmd::RINGER, 0, &[value])?;
        Ok(())
    }

    /// The P1K's hook is the user's keys: it cannot be set.
    fn set_hookswitch(&self, _off_hook: bool) -> Result<(), DeviceError> {
        Err(DeviceError::NoSuchControl)
    }

    fn set_data(&self, id: u32, data: &[u8]) -> Result<(), DeviceError> {
        let max = match id {
            LCD_AREA => yealink::LCD_BYTES,
            RINGTONE_AREA => RINGTONE_BYTES,
            _ => return Err(DataError::NoSuchArea(id).into()),
        };
        if data.len() > max {
            return Err(DataError::TooLong {
                id,
                len: data.len(),
                max,
            }
            .into());
        }
        let packets = if id == LCD_AREA {
            yealink::lcd_write(0, data)?
        } else {
            yealink::ringtone(Generation::G1, data)?
        };
        for packet in &packets {
            self.link.exchange(packet)?;
        }
        let mut state = lock(&self.state);
        if id == LCD_AREA {
            state.lcd[..data.len()].copy_from_slice(data);
        } else {
            state.ringtone = data.to_vec();
        }
        Ok(())
    }

    fn get_data(&self, id: u32) -> Result<Vec<u8>, DeviceError> {
        let state = lock(&self.state);
        match id {
            LCD_AREA => Ok(state.lcd.to_vec()),
            RINGTONE_AREA => Ok(state.ringtone.clone()),
            _ => Err(DataError::NoSuchArea(id).into()),
        }
    }

    fn lamp_is_on(&self, index: usize) -> bool {
        index == 0 && lock(&self.state).led
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The P1K's reply to the first packet comes too late: that exchange sees no
    /// reply, and the late one arrives just before the answer to the next packet.
    #[derive(Debug)]
    struct LateFirstReply {
        phone: SimulatedP1k,
        late: Mutex<Late>,
    }

    #[derive(Debug)]
    enum Late {
        Waiting,
        Held(Vec<u8>),
        Delivered,
    }

    impl Transport for LateFirstReply {
        fn read_input(&self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
            let mut late = lock(&self.late);
            match std::mem::replace(&mut *late, Late::Delivered) {
                Late::Waiting => {
                    let reply = self.phone.read_input(timeout)?.unwrap_or_default();
                    *late = Late::Held(reply);
                    Ok(None)
                }
                Late::Held(reply) => Ok(Some(reply)),
                Late::Delivered => self.phone.read_input(timeout),
            }
        }

        fn write_output(&self, report: &[u8]) -> Result<(), TransportError> {
            self.phone.write_output(report)
        }

        fn write_feature(&self, report: &[u8]) -> Result<(), TransportError> {
            self.phone.write_feature(report)
        }

        fn read_feature(&self, id: u8, len: usize) -> Result<Vec<u8>, TransportError> {
            self.phone.read_feature(id, len)
        }
    }

    #[test]
    fn a_late_reply_is_not_taken_for_the_answer_to_a_later_command() {
        let phone = SimulatedP1k::new();
        phone.key(0x11); // '5' down,
        phone.key(0xFF); // and up: the key counter is 2
        let link = Link {
            transport: Arc::new(LateFirstReply {
                phone,
                late: Mutex::new(Late::Waiting),
            }),
            busy: Mutex::new(()),
        };
        assert!(
            link.command(cmd::LED, 0, &[1]).is_err(),
            "the LED's reply is late"
        );
        let first = |reply: Result<Vec<u8>, DeviceError>| reply.map(|data| data[0]);
        assert_eq!(
            first(link.command(cmd::KEY_POLL, 0, &[])),
            Ok(2),
            "the key counter, not the LED's late reply"
        );
        assert_eq!(first(link.command(cmd::SCANCODE, 1, &[])), Ok(0xFF));
        assert_eq!(first(link.command(cmd::SCANCODE, 0, &[])), Ok(0x11));
    }
}
