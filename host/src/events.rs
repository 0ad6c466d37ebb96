//! A driver's events for an open phone, as TAPI's PHONE_* messages through the
//! phone's filter: buttons (every DOWN gets exactly one UP), ring mode and
//! volume told apart, caps re-read before PHONESTATE_CAPSCHANGE goes out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tsp_core::{ButtonModes, ButtonStates, HookSwitchDevice, PhoneMessage, PhoneStates};
use tsp_plugin_sdk::PhoneEvent;

use crate::lane::Delivery;
use crate::phone::{Filter, Phone, PhoneHandle, Pressed};
use crate::provider::{Due, Provider, lock};

/// How long after a press the host makes up the release of a device that
/// cannot report releases.
const BUTTON_UP_AFTER: Duration = Duration::from_millis(250);

impl Provider {
    /// An event from a driver for the phone opened as `handle`.
    pub(crate) fn phone_event(&self, handle: PhoneHandle, event: PhoneEvent) {
        let Ok(phone) = self.phone(handle) else {
            return;
        };
        match event {
            PhoneEvent::Disconnected => self.set_presence(&phone, false, false),
            PhoneEvent::Connected => self.set_presence(&phone, true, false),
            PhoneEvent::Removed => self.remove_device(phone.device),
            PhoneEvent::Button { id, mode, state } => self.button(&phone, id, mode, state),
            PhoneEvent::ButtonPressed { id, mode } => self.button_pressed(&phone, id, mode),
            PhoneEvent::Ring { mode, volume } => self.ring(&phone, mode, volume),
            PhoneEvent::CapsChanged => self.reread_caps(&phone),
            other => self.notify(&phone, other),
        }
    }

    /// Delivers `event` to TAPI if the phone's filter lets it through.
    pub(crate) fn notify(&self, phone: &Phone, event: PhoneEvent) {
        let Some((msg, params)) = message_for(&phone.filter(), event) else {
            return;
        };
        self.deliver_event(phone, msg, params);
    }

    /// PHONE_STATE with one state bit, if the filter lets it through.
    pub(crate) fn notify_state(&self, phone: &Phone, bit: PhoneStates, detail: u32) {
        if phone.filter().states.contains(bit) {
            self.deliver_event(
                phone,
                PhoneMessage::State,
                [bit.bits() as usize, detail as usize, 0],
            );
        }
    }

    /// PHONE_STATE with one state bit, queued while `held` is held.
    pub(crate) fn notify_state_holding<G>(&self, phone: &Phone, bit: PhoneStates, held: G) {
        let delivery = phone
            .filter()
            .states
            .contains(bit)
            .then(|| event_delivery(phone, PhoneMessage::State, [bit.bits() as usize, 0, 0]));
        self.submit_holding(delivery, held);
    }

    /// Queues `deliveries` while `held` is held, releasing it once they are
    /// queued and before any is delivered (a TAPI call from inside the callback
    /// may need what it guards): what `held` guards and the order TAPI hears it
    /// cannot differ between threads.
    fn submit_holding<G>(&self, deliveries: impl IntoIterator<Item = Delivery>, held: G) {
        let held = std::cell::Cell::new(Some(held));
        self.shared
            .lane
            .submit_all_then(deliveries, &|| drop(held.take()));
    }

    fn deliver_event(&self, phone: &Phone, msg: PhoneMessage, params: [usize; 3]) {
        self.shared.lane.submit(event_delivery(phone, msg, params));
    }

    /// A button the device reports both ways. A DOWN of a button already down is
    /// a repeat and dropped; an UP of a button that is not down was delivered
    /// already (made up at a disconnect) and is dropped: one UP per DOWN.
    fn button(&self, phone: &Phone, id: u32, mode: ButtonModes, state: ButtonStates) {
        if state.contains(ButtonStates::DOWN) {
            let mut pressed = phone.pressed();
            if pressed.iter().any(|p| p.id == id) {
                return;
            }
            pressed.push(Pressed {
                id,
                mode,
                made_up: None,
            });
            self.deliver_buttons(phone, &[(id, mode, ButtonStates::DOWN)], pressed);
        } else if state.contains(ButtonStates::UP) {
            let mut pressed = phone.pressed();
            if let Some(press) = take_press(&mut pressed, |p| p.id == id) {
                self.deliver_buttons(phone, &[(id, press.mode, ButtonStates::UP)], pressed);
            }
        } else {
            self.notify(phone, button_event(id, mode, state));
        }
    }

    /// A press the device cannot report the release of: DOWN now, UP made up
    /// shortly after. A second press before that releases the first one first.
    fn button_pressed(&self, phone: &Phone, id: u32, mode: ButtonModes) {
        let key = self
            .shared
            .next_press
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut pressed = phone.pressed();
        let earlier = take_press(&mut pressed, |p| p.id == id);
        pressed.push(Pressed {
            id,
            mode,
            made_up: Some(key),
        });
        let down = (id, mode, ButtonStates::DOWN);
        match earlier {
            Some(earlier) => self.deliver_buttons(
                phone,
                &[(id, earlier.mode, ButtonStates::UP), down],
                pressed,
            ),
            None => self.deliver_buttons(phone, &[down], pressed),
        }
        self.arm(
            Instant::now() + BUTTON_UP_AFTER,
            Due::ButtonUp {
                phone: phone.handle,
                press: key,
            },
        );
    }

    /// The timer's made-up release of press `press`, unless it ended already.
    pub(crate) fn made_up_release(&self, handle: PhoneHandle, press: u64) {
        let Ok(phone) = self.phone(handle) else {
            return;
        };
        let mut pressed = phone.pressed();
        if let Some(released) = take_press(&mut pressed, |p| p.made_up == Some(press)) {
            tracing::debug!(handle, id = released.id, "button release made up");
            let up = (released.id, released.mode, ButtonStates::UP);
            self.deliver_buttons(&phone, &[up], pressed);
        }
    }

    /// The device went away: no release will come for what is down.
    pub(crate) fn release_all(&self, phone: &Phone) {
        let mut pressed = phone.pressed();
        let ups: Vec<_> = std::mem::take(&mut *pressed)
            .into_iter()
            .map(|p| (p.id, p.mode, ButtonStates::UP))
            .collect();
        self.deliver_buttons(phone, &ups, pressed);
    }

    /// Queues button messages while the caller still holds the phone's pressed
    /// list (see `submit_holding`).
    fn deliver_buttons(
        &self,
        phone: &Phone,
        buttons: &[(u32, ButtonModes, ButtonStates)],
        pressed: std::sync::MutexGuard<'_, Vec<Pressed>>,
    ) {
        let filter = phone.filter();
        let deliveries = buttons.iter().filter_map(|&(id, mode, state)| {
            let (msg, params) = message_for(&filter, button_event(id, mode, state))?;
            Some(event_delivery(phone, msg, params))
        });
        self.submit_holding(deliveries, pressed);
    }

    /// PHONESTATE_RINGMODE when the mode changed (with the new mode),
    /// PHONESTATE_RINGVOLUME when the volume did.
    fn ring(&self, phone: &Phone, mode: u32, volume: u32) {
        let before = lock(&phone.ring).replace((mode, volume));
        let (mode_changed, volume_changed) = match before {
            Some((m, v)) => (m != mode, v != volume),
            // Nothing known to compare with (the driver has no GetRing).
            None => (true, true),
        };
        if mode_changed {
            self.notify_state(phone, PhoneStates::RINGMODE, mode);
        }
        if volume_changed {
            self.notify_state(phone, PhoneStates::RINGVOLUME, 0);
        }
    }

    /// Re-reads the caps from the driver, off the driver's thread (it may hold
    /// its own locks while it reports) and as a synchronous call within the
    /// deadline, then tells TAPI: GetDevCaps and every argument check use the
    /// new caps by the time PHONESTATE_CAPSCHANGE arrives.
    fn reread_caps(&self, phone: &Arc<Phone>) {
        use std::sync::atomic::Ordering;
        // 0 → 1 starts a reader; 1 → 2 asks the running one for another round.
        let before = phone
            .caps_reading
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                Some((s + 1).min(2))
            })
            .unwrap_or(2);
        if before != 0 {
            return;
        }
        let provider = self.clone();
        let owned = Arc::clone(phone);
        let spawned = self.shared.executor.spawn(move || {
            loop {
                provider.read_caps_once(&owned);
                let done =
                    owned
                        .caps_reading
                        .compare_exchange(1, 0, Ordering::AcqRel, Ordering::Acquire);
                if done.is_ok() {
                    return;
                }
                // Another change came during the read: read them again (a change
                // after this store reads its caps in that round too).
                owned.caps_reading.store(1, Ordering::Release);
            }
        });
        if spawned.is_err() {
            phone.caps_reading.store(0, Ordering::Release);
            tracing::warn!(handle = phone.handle, "no thread to re-read the caps");
        }
    }

    fn read_caps_once(&self, phone: &Arc<Phone>) {
        let Some((driver, key)) = self.driver_of(phone.device) else {
            return;
        };
        let read = self.sync_call(phone, move |_| driver.loaded.caps(&key).map_err(|e| e.code));
        match read {
            Ok(caps) => {
                self.update_caps(phone.device, &caps);
                phone.set_caps(caps);
            }
            Err(error) => {
                tracing::warn!(handle = phone.handle, ?error, "the new caps cannot be read");
            }
        }
        self.notify_state(phone, PhoneStates::CAPSCHANGE, 0);
    }
}

/// PHONEEVENT `msg` for the phone's htPhone.
fn event_delivery(phone: &Phone, msg: PhoneMessage, params: [usize; 3]) -> Delivery {
    Delivery::Event {
        proc_: phone.event_proc.clone(),
        ht_phone: phone.ht_phone,
        msg: msg.code(),
        params,
        phone: phone.handle,
    }
}

fn button_event(id: u32, mode: ButtonModes, state: ButtonStates) -> PhoneEvent {
    PhoneEvent::Button { id, mode, state }
}

fn take_press(pressed: &mut Vec<Pressed>, which: impl Fn(&Pressed) -> bool) -> Option<Pressed> {
    let index = pressed.iter().position(which)?;
    Some(pressed.remove(index))
}

/// The TAPI message for a driver event, if the phone's filter lets it through.
fn message_for(filter: &Filter, event: PhoneEvent) -> Option<(PhoneMessage, [usize; 3])> {
    let state = |bit: PhoneStates, detail: u32| {
        filter.states.contains(bit).then_some((
            PhoneMessage::State,
            [bit.bits() as usize, detail as usize, 0],
        ))
    };
    match event {
        PhoneEvent::Button {
            id,
            mode,
            state: button,
        } => (filter.button_modes.intersects(mode) && filter.button_states.intersects(button))
            .then_some((
                PhoneMessage::Button,
                [id as usize, mode.bits() as usize, button.bits() as usize],
            )),
        PhoneEvent::HookSwitch { device, mode } => {
            state(PhoneStates::hookswitch_of(device), mode.code())
        }
        PhoneEvent::Display => state(PhoneStates::DISPLAY, 0),
        PhoneEvent::Ring { mode, .. } => state(PhoneStates::RINGMODE, mode),
        PhoneEvent::Lamp { id, .. } => state(PhoneStates::LAMP, id),
        PhoneEvent::Volume { device, .. } => state(volume_state(device), 0),
        PhoneEvent::Gain { device, .. } => state(gain_state(device), 0),
        PhoneEvent::CapsChanged => state(PhoneStates::CAPSCHANGE, 0),
        PhoneEvent::Disconnected => state(PhoneStates::DISCONNECTED, 0),
        PhoneEvent::Connected => state(PhoneStates::CONNECTED, 0),
        PhoneEvent::Removed => state(PhoneStates::REMOVED, 0),
        PhoneEvent::DevSpecific([a, b, c]) => Some((
            PhoneMessage::DevSpecific,
            [a as usize, b as usize, c as usize],
        )),
        // Turned into Button DOWN and UP before it gets here.
        PhoneEvent::ButtonPressed { .. } => None,
    }
}

fn volume_state(device: HookSwitchDevice) -> PhoneStates {
    match device {
        HookSwitchDevice::Handset => PhoneStates::HANDSETVOLUME,
        HookSwitchDevice::Speaker => PhoneStates::SPEAKERVOLUME,
        HookSwitchDevice::Headset => PhoneStates::HEADSETVOLUME,
    }
}

fn gain_state(device: HookSwitchDevice) -> PhoneStates {
    match device {
        HookSwitchDevice::Handset => PhoneStates::HANDSETGAIN,
        HookSwitchDevice::Speaker => PhoneStates::SPEAKERGAIN,
        HookSwitchDevice::Headset => PhoneStates::HEADSETGAIN,
    }
}
