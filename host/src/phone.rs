//! Open phones: the table of generational handles, and what each open phone holds.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use tsp_core::{
    ButtonInfo, ButtonModes, ButtonStates, HookSwitchDevice, HookSwitchDevs, HookSwitchMode,
    LampModes, PhoneCaps, PhoneError, PhoneStates, TspiVersion,
};
use tsp_plugin_sdk::host::OpenSession;

use crate::tapi::EventProc;

/// A phone handle (`HDRVPHONE`): slot and generation, never a pointer. 0 is never a
/// handle; a handle is never reused for another open.
pub type PhoneHandle = u64;

fn handle_of(slot: usize, generation: u32) -> PhoneHandle {
    ((slot as u64 + 1) << 32) | u64::from(generation)
}

fn parts(handle: PhoneHandle) -> Option<(usize, u32)> {
    let slot = (handle >> 32).checked_sub(1)? as usize;
    Some((slot, handle as u32))
}

/// What TAPI asked to hear about (`TSPI_phoneSetStatusMessages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    /// PHONE_STATE changes reported.
    pub states: PhoneStates,
    /// PHONE_BUTTON button modes reported.
    pub button_modes: ButtonModes,
    /// PHONE_BUTTON button states reported.
    pub button_states: ButtonStates,
}

impl Default for Filter {
    /// Every message off but REINIT (TSPI_phoneSetStatusMessages; reference §9.2).
    fn default() -> Self {
        Self {
            states: PhoneStates::REINIT,
            button_modes: ButtonModes::empty(),
            button_states: ButtonStates::empty(),
        }
    }
}

/// An asynchronous operation, borrowed on the direct path, owned when queued.
#[derive(Debug, Clone)]
pub(crate) enum Op<'a> {
    SetData {
        data_id: u32,
        data: Cow<'a, [u8]>,
    },
    DevSpecific {
        params: Cow<'a, [u8]>,
    },
    SetDisplay {
        row: u32,
        column: u32,
        text: String,
    },
    SetHookSwitch {
        devices: HookSwitchDevs,
        mode: HookSwitchMode,
    },
    SetRing {
        mode: u32,
        volume: u32,
    },
    SetLamp {
        id: u32,
        mode: LampModes,
    },
    SetVolume {
        device: HookSwitchDevice,
        volume: u32,
    },
    SetGain {
        device: HookSwitchDevice,
        gain: u32,
    },
    SetButtonInfo {
        id: u32,
        info: Box<ButtonInfo>,
    },
}

impl Op<'_> {
    pub(crate) fn into_owned(self) -> Op<'static> {
        match self {
            Op::SetData { data_id, data } => Op::SetData {
                data_id,
                data: Cow::Owned(data.into_owned()),
            },
            Op::DevSpecific { params } => Op::DevSpecific {
                params: Cow::Owned(params.into_owned()),
            },
            Op::SetDisplay { row, column, text } => Op::SetDisplay { row, column, text },
            Op::SetHookSwitch { devices, mode } => Op::SetHookSwitch { devices, mode },
            Op::SetRing { mode, volume } => Op::SetRing { mode, volume },
            Op::SetLamp { id, mode } => Op::SetLamp { id, mode },
            Op::SetVolume { device, volume } => Op::SetVolume { device, volume },
            Op::SetGain { device, gain } => Op::SetGain { device, gain },
            Op::SetButtonInfo { id, info } => Op::SetButtonInfo { id, info },
        }
    }

    pub(crate) fn call(&self, session: &OpenSession, token: u64) {
        match self {
            Op::SetData { data_id, data } => session.set_data(token, *data_id, data),
            Op::DevSpecific { params } => session.dev_specific(token, params),
            Op::SetDisplay { row, column, text } => session.set_display(token, *row, *column, text),
            Op::SetHookSwitch { devices, mode } => session.set_hookswitch(token, *devices, *mode),
            Op::SetRing { mode, volume } => session.set_ring(token, *mode, *volume),
            Op::SetLamp { id, mode } => session.set_lamp(token, *id, *mode),
            Op::SetVolume { device, volume } => session.set_volume(token, *device, *volume),
            Op::SetGain { device, gain } => session.set_gain(token, *device, *gain),
            Op::SetButtonInfo { id, info } => session.set_button_info(token, *id, info),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::SetData { .. } => "SetData",
            Op::DevSpecific { .. } => "DevSpecific",
            Op::SetDisplay { .. } => "SetDisplay",
            Op::SetHookSwitch { .. } => "SetHookSwitch",
            Op::SetRing { .. } => "SetRing",
            Op::SetLamp { .. } => "SetLamp",
            Op::SetVolume { .. } => "SetVolume",
            Op::SetGain { .. } => "SetGain",
            Op::SetButtonInfo { .. } => "SetButtonInfo",
        }
    }
}

/// The device is there.
pub(crate) const PRESENT: u8 = 0;
/// Its driver reported it away.
pub(crate) const AWAY: u8 = 1;
/// The host declared it away after missed deadlines.
pub(crate) const DECLARED_AWAY: u8 = 2;

/// A button that is down on an open phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pressed {
    pub(crate) id: u32,
    pub(crate) mode: ButtonModes,
    /// The device cannot report this press's release: the host makes it up
    /// (the key of that release's timer job).
    pub(crate) made_up: Option<u64>,
}

/// An open phone. In C order, the fields every request reads first: at
/// 100,000 phones each request's phone is a cache miss, so they share as few
/// lines as they can.
#[repr(C)]
pub(crate) struct Phone {
    pub(crate) handle: PhoneHandle,
    /// [`PRESENT`], [`AWAY`] (its driver said so) or [`DECLARED_AWAY`] (the
    /// host concluded it from missed deadlines: the next driver call that
    /// answers in time, or a probe, ends it). One atomic, so the driver's word
    /// and the host's conclusion cannot overwrite each other halfway.
    pub(crate) presence: std::sync::atomic::AtomicU8,
    pub(crate) serial: bool,
    /// Set as close begins: no request reaches the session after it.
    pub(crate) closing: AtomicBool,
    /// Set by close once it stopped waiting for requests, before it flushes
    /// the lane: a direct request whose call returns after that reports its
    /// result by its return (a negative one), never by a completion.
    pub(crate) abandoned: AtomicBool,
    /// Whether every direct request so far completed before its call
    /// returned. Once one did not, this phone's requests take the table from
    /// the start (a driver that completes from its own thread would pay for
    /// both ways).
    pub(crate) completes_inline: AtomicBool,
    /// Direct requests (see `direct.rs`) in their driver call: close waits
    /// for them as it waits for the table's.
    pub(crate) in_calls: std::sync::atomic::AtomicUsize,
    /// Its capabilities, re-read from the driver on PHONESTATE_CAPSCHANGE.
    pub(crate) caps: RwLock<CapsNow>,
    pub(crate) session: OpenSession,
    pub(crate) limits: crate::config::Limits,
    pub(crate) device: usize,
    pub(crate) ht_phone: usize,
    pub(crate) event_proc: EventProc,
    pub(crate) version: TspiVersion,
    pub(crate) filter: Mutex<Filter>,
    pub(crate) queue: crate::queue::SerialQueue,
    /// Taken from a presence change until its PHONE_STATE is queued.
    pub(crate) presence_order: Mutex<()>,
    /// Milliseconds until the next probe of a device the host declared away.
    pub(crate) probe_backoff_ms: AtomicU64,
    /// Consecutive driver calls that missed their deadline.
    pub(crate) misses: std::sync::atomic::AtomicU32,
    /// The synchronous driver calls in flight.
    pub(crate) calls: Arc<crate::gate::CallGate>,
    /// The buttons that are down.
    pub(crate) pressed: Mutex<Vec<Pressed>>,
    /// 0: the caps are not being re-read; 1: they are; 2: they are, and another
    /// change came meanwhile (read them once more). A driver repeating
    /// CapsChanged costs one re-read at a time, not a thread each.
    pub(crate) caps_reading: std::sync::atomic::AtomicU8,
    /// The last ring mode and volume reported, to tell which of them changed.
    pub(crate) ring: Mutex<Option<(u32, u32)>>,
}

/// SetData areas whose size is kept beside the caps' pointer.
const INLINE_AREAS: usize = 4;

/// The caps, and the sizes of the first SetData areas beside them: every
/// SetData reads one, without following the pointer to the caps and theirs.
pub(crate) struct CapsNow {
    caps: Arc<PhoneCaps>,
    areas: [u32; INLINE_AREAS],
    count: usize,
}

impl CapsNow {
    pub(crate) fn new(caps: PhoneCaps) -> Self {
        let mut areas = [0; INLINE_AREAS];
        for (area, size) in areas.iter_mut().zip(&caps.set_data) {
            *area = *size;
        }
        Self {
            count: caps.set_data.len(),
            caps: Arc::new(caps),
            areas,
        }
    }
}

impl Phone {
    pub(crate) fn filter(&self) -> Filter {
        *self.filter.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The capabilities now.
    pub(crate) fn caps(&self) -> Arc<PhoneCaps> {
        Arc::clone(&self.caps.read().unwrap_or_else(|e| e.into_inner()).caps)
    }

    /// The size of SetData area `data_id`, read without cloning the caps
    /// (every SetData asks).
    pub(crate) fn set_data_area(&self, data_id: u32) -> Option<u32> {
        let now = self.caps.read().unwrap_or_else(|e| e.into_inner());
        let index = data_id as usize;
        if index >= now.count {
            return None;
        }
        match now.areas.get(index) {
            Some(&size) => Some(size),
            None => now.caps.set_data.get(index).copied(),
        }
    }

    pub(crate) fn set_caps(&self, caps: PhoneCaps) {
        *self.caps.write().unwrap_or_else(|e| e.into_inner()) = CapsNow::new(caps);
    }

    pub(crate) fn presence_order(&self) -> MutexGuard<'_, ()> {
        self.presence_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn pressed(&self) -> MutexGuard<'_, Vec<Pressed>> {
        self.pressed.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn is_disconnected(&self) -> bool {
        self.presence.load(Ordering::Acquire) != PRESENT
    }
}

#[derive(Default)]
enum SlotState {
    #[default]
    Free,
    /// Being opened: holds the device so a second open of it is refused.
    Opening(usize),
    Open(Arc<Phone>),
    /// Closed by the provider (PHONE_CLOSE sent, or being sent when the latch
    /// is not yet set): only `TSPI_phoneClose` still accepts the handle, which
    /// is not reused meanwhile, and it waits for the latch.
    ForceClosed(Arc<Latch>),
}

/// Set once: what was being done is done.
#[derive(Debug, Default)]
pub(crate) struct Latch {
    done: Mutex<bool>,
    changed: Condvar,
}

impl Latch {
    pub(crate) fn set(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }

    pub(crate) fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.changed.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[derive(Default)]
struct Slot {
    generation: u32,
    state: SlotState,
}

/// Every phone this host has open. Opening one, finding a device's phone and
/// freeing a slot take constant time (a scan of the slots made opening
/// 100,000 phones quadratic).
#[derive(Default)]
pub(crate) struct PhoneTable {
    slots: Vec<Slot>,
    /// The slot of each device being opened or open (`Opening`/`Open`).
    by_device: HashMap<usize, usize>,
    /// Slots that are `Free`, reused last-freed first.
    free: Vec<usize>,
}

impl PhoneTable {
    /// Reserves a handle for opening `device`; `ALLOCATED` if it is open already.
    pub(crate) fn reserve(&mut self, device: usize) -> Result<PhoneHandle, PhoneError> {
        if self.by_device.contains_key(&device) {
            return Err(PhoneError::Allocated);
        }
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            self.slots.len() - 1
        });
        let slot = &mut self.slots[index];
        slot.generation = slot.generation.wrapping_add(1).max(1);
        slot.state = SlotState::Opening(device);
        self.by_device.insert(device, index);
        Ok(handle_of(index, slot.generation))
    }

    /// Empties slot `index`, giving back what it held, and forgets its
    /// device; it is free for reuse unless `keep` is put in its place.
    fn vacate(&mut self, index: usize, keep: Option<SlotState>) -> SlotState {
        let Some(slot) = self.slots.get_mut(index) else {
            return SlotState::Free;
        };
        let keep_it = keep.is_some();
        let old = std::mem::replace(&mut slot.state, keep.unwrap_or_default());
        let device = match &old {
            SlotState::Opening(device) => Some(*device),
            SlotState::Open(phone) => Some(phone.device),
            SlotState::Free | SlotState::ForceClosed(_) => None,
        };
        if let Some(device) = device
            && self.by_device.get(&device) == Some(&index)
        {
            self.by_device.remove(&device);
        }
        if !keep_it && !matches!(old, SlotState::Free) {
            self.free.push(index);
        }
        old
    }

    /// The index of the live slot `handle` names.
    fn index_of(&self, handle: PhoneHandle) -> Option<usize> {
        let (index, generation) = parts(handle)?;
        self.slots
            .get(index)
            .filter(|s| s.generation == generation)
            .map(|_| index)
    }

    fn slot(&mut self, handle: PhoneHandle) -> Option<&mut Slot> {
        let (index, generation) = parts(handle)?;
        self.slots
            .get_mut(index)
            .filter(|s| s.generation == generation)
    }

    /// Publishes an opened phone under its reserved handle.
    pub(crate) fn publish(&mut self, phone: Arc<Phone>) {
        if let Some(slot) = self.slot(phone.handle) {
            slot.state = SlotState::Open(phone);
        }
    }

    /// Gives up a reservation whose open failed.
    pub(crate) fn release(&mut self, handle: PhoneHandle) {
        if let Some(index) = self.index_of(handle) {
            self.vacate(index, None);
        }
    }

    /// The open phone with this handle.
    pub(crate) fn get(&mut self, handle: PhoneHandle) -> Option<Arc<Phone>> {
        match &self.slot(handle)?.state {
            SlotState::Open(phone) => Some(Arc::clone(phone)),
            _ => None,
        }
    }

    /// Takes the phone out: its handle is dead from now on.
    pub(crate) fn take(&mut self, handle: PhoneHandle) -> Option<Arc<Phone>> {
        let index = self.index_of(handle)?;
        if !matches!(self.slots[index].state, SlotState::Open(_)) {
            return None;
        }
        match self.vacate(index, None) {
            SlotState::Open(phone) => Some(phone),
            _ => None,
        }
    }

    /// Takes the phone out, leaving its handle for a later `TSPI_phoneClose`,
    /// which waits for `done`.
    pub(crate) fn force_close(
        &mut self,
        handle: PhoneHandle,
        done: Arc<Latch>,
    ) -> Option<Arc<Phone>> {
        let index = self.index_of(handle)?;
        if !matches!(self.slots[index].state, SlotState::Open(_)) {
            return None;
        }
        match self.vacate(index, Some(SlotState::ForceClosed(done))) {
            SlotState::Open(phone) => Some(phone),
            _ => None,
        }
    }

    /// Frees a handle the provider closed itself, giving the latch its close
    /// sets when done; `None` if it is not one.
    pub(crate) fn forget_force_closed(&mut self, handle: PhoneHandle) -> Option<Arc<Latch>> {
        let index = self.index_of(handle)?;
        if !matches!(self.slots[index].state, SlotState::ForceClosed(_)) {
            return None;
        }
        match self.vacate(index, None) {
            SlotState::ForceClosed(done) => Some(done),
            _ => None,
        }
    }

    /// The open phone of device `device`, if any.
    pub(crate) fn of_device(&self, device: usize) -> Option<Arc<Phone>> {
        let index = *self.by_device.get(&device)?;
        match &self.slots.get(index)?.state {
            SlotState::Open(p) => Some(Arc::clone(p)),
            _ => None,
        }
    }

    /// The latches of phones the provider is closing (or closed) itself.
    pub(crate) fn force_closing(&self) -> Vec<Arc<Latch>> {
        self.slots
            .iter()
            .filter_map(|s| match &s.state {
                SlotState::ForceClosed(done) => Some(Arc::clone(done)),
                _ => None,
            })
            .collect()
    }

    /// Every open phone's handle.
    pub(crate) fn handles(&self) -> Vec<PhoneHandle> {
        self.slots
            .iter()
            .filter_map(|s| match &s.state {
                SlotState::Open(p) => Some(p.handle),
                _ => None,
            })
            .collect()
    }
}
