//! Outstanding asynchronous requests.
//!
//! A slab of slots; a request's token is (epoch, slot, generation), so a late
//! completion from before a shutdown, or one whose slot was reused, finds nothing.
//! TAPI's `DRV_REQUESTID` is data in the slot: TAPI reuses an id as soon as its
//! completion is delivered. Whoever removes a request delivers its completion.
//! Slots are reused, so the steady state allocates nothing per request.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tsp_core::PhoneError;

/// A request's token: what the driver's completion carries back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Token {
    pub(crate) epoch: u16,
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

const SLOT_BITS: u32 = 24;
const GEN_BITS: u32 = 24;
const GEN_MASK: u32 = (1 << GEN_BITS) - 1;

impl Token {
    pub(crate) fn to_u64(self) -> u64 {
        (u64::from(self.epoch) << (SLOT_BITS + GEN_BITS))
            | (u64::from(self.slot) << GEN_BITS)
            | u64::from(self.generation)
    }

    pub(crate) fn from_u64(raw: u64) -> Self {
        Self {
            epoch: (raw >> (SLOT_BITS + GEN_BITS)) as u16,
            slot: ((raw >> GEN_BITS) as u32) & ((1 << SLOT_BITS) - 1),
            generation: (raw as u32) & GEN_MASK,
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Waiting in its phone's queue (a driver without concurrent sessions).
    Queued,
    /// The driver call that started it has not returned yet.
    InCall,
    /// Completed before its call returned; the caller decides how to report.
    CompletedInCall(Result<(), PhoneError>),
    /// Started; its completion will come from the driver.
    Running,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    pub(crate) request_id: u32,
    pub(crate) phone: u64,
    pub(crate) stage: Stage,
    /// The token the driver holds, when it is a direct request's (0: this
    /// entry's own token).
    pub(crate) direct: u64,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    request: Option<Request>,
}

/// Why a request id is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadId {
    /// 0 or above 0x7FFFFFFF.
    OutOfRange,
    /// Another request with this id has not completed.
    Outstanding,
    /// [`MAX_OUTSTANDING`] requests are outstanding already.
    Full,
}

/// The most requests outstanding at once, in all phones: beyond it a request is
/// refused with `RESOURCEUNAVAIL`, so a driver that never completes (or TAPI
/// flooding it) costs bounded memory. Far below what a token's slot bits hold.
pub(crate) const MAX_OUTSTANDING: usize = 1 << 16;

/// Hashes a request id by one multiplication (Fibonacci hashing): ids are TAPI's
/// own counters, not attacker-chosen keys, and SipHash was a tenth of the request
/// path's instructions.
#[derive(Debug, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u64(&mut self, token: u64) {
        self.0 = token.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[derive(Debug, Default)]
pub(crate) struct Requests {
    epoch: u16,
    slots: Vec<Slot>,
    free: Vec<u32>,
    by_id: HashMap<u32, Token, BuildHasherDefault<IdHasher>>,
    /// Direct requests that went to the table: their driver's token to theirs.
    direct: HashMap<u64, Token, BuildHasherDefault<IdHasher>>,
    /// How many requests are in the table, readable without its lock: a
    /// direct request looks its id up only when there is anything to find.
    count: Arc<AtomicUsize>,
}

impl Requests {
    /// The number of requests in the table, shared: read without the lock.
    pub(crate) fn counter(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.count)
    }

    fn counted(&self) {
        self.count.store(self.by_id.len(), Ordering::Release);
    }

    /// Whether `request_id` is TAPI's id of an outstanding request in the table.
    pub(crate) fn is_outstanding(&self, request_id: u32) -> bool {
        self.by_id.contains_key(&request_id)
    }

    /// Starts a new epoch: every token from before is dead, every slot free.
    pub(crate) fn bump_epoch(&mut self) {
        // 15 bits: a token never has the top bit, which the timer keeps for others.
        self.epoch = self.epoch.wrapping_add(1) & 0x7FFF;
        self.by_id.clear();
        self.direct.clear();
        self.free.clear();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            slot.request = None;
            self.free.push(index as u32);
        }
        self.counted();
    }

    /// Registers a request.
    pub(crate) fn insert(
        &mut self,
        request_id: u32,
        phone: u64,
        stage: Stage,
    ) -> Result<Token, BadId> {
        check_range(request_id)?;
        if self.by_id.contains_key(&request_id) {
            return Err(BadId::Outstanding);
        }
        if self.by_id.len() >= MAX_OUTSTANDING {
            return Err(BadId::Full);
        }
        let token = self.occupy(Request {
            request_id,
            phone,
            stage,
            direct: 0,
        });
        self.by_id.insert(request_id, token);
        self.counted();
        Ok(token)
    }

    /// Registers a direct request whose driver call returned without its
    /// completion: it runs in the driver already, so it is taken whatever its
    /// id (one that raced another request with the same id into the driver
    /// keeps that one's entry in the id index) and beyond the bound (direct
    /// calls are as many as the threads in them).
    pub(crate) fn insert_direct(&mut self, request_id: u32, phone: u64, direct: u64) -> Token {
        let token = self.occupy(Request {
            request_id,
            phone,
            stage: Stage::Running,
            direct,
        });
        self.by_id.entry(request_id).or_insert(token);
        self.direct.insert(direct, token);
        self.counted();
        token
    }

    /// The table token of the direct request whose driver holds `direct`.
    pub(crate) fn direct(&self, direct: u64) -> Option<Token> {
        self.direct.get(&direct).copied()
    }

    fn occupy(&mut self, request: Request) -> Token {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.generation = (entry.generation + 1) & GEN_MASK;
        entry.request = Some(request);
        Token {
            epoch: self.epoch,
            slot,
            generation: entry.generation,
        }
    }

    fn slot(&mut self, token: Token) -> Option<&mut Slot> {
        if token.epoch != self.epoch {
            return None;
        }
        let slot = self.slots.get_mut(token.slot as usize)?;
        (slot.generation == token.generation && slot.request.is_some()).then_some(slot)
    }

    pub(crate) fn get(&mut self, token: Token) -> Option<Request> {
        self.slot(token).and_then(|s| s.request)
    }

    /// Where the request with this token stands, if it is outstanding.
    pub(crate) fn stage(&self, token: Token) -> Option<Stage> {
        if token.epoch != self.epoch {
            return None;
        }
        let slot = self.slots.get(token.slot as usize)?;
        slot.request
            .filter(|_| slot.generation == token.generation)
            .map(|r| r.stage)
    }

    pub(crate) fn set_stage(&mut self, token: Token, stage: Stage) {
        if let Some(request) = self.slot(token).and_then(|s| s.request.as_mut()) {
            request.stage = stage;
        }
    }

    /// Removes a request; the caller now owes TAPI its completion (or a negative
    /// return, for one refused during its call).
    pub(crate) fn remove(&mut self, token: Token) -> Option<Request> {
        let request = self.slot(token)?.request.take()?;
        if self.by_id.get(&request.request_id) == Some(&token) {
            self.by_id.remove(&request.request_id);
        }
        if request.direct != 0 {
            self.direct.remove(&request.direct);
        }
        self.free.push(token.slot);
        self.counted();
        Some(request)
    }

    /// The tokens of every request in the table.
    pub(crate) fn tokens(&self) -> Vec<Token> {
        (0u32..)
            .zip(&self.slots)
            .filter(|(_, s)| s.request.is_some())
            .map(|(slot, s)| Token {
                epoch: self.epoch,
                slot,
                generation: s.generation,
            })
            .collect()
    }

    /// The tokens of every request of `phone`.
    pub(crate) fn of_phone(&self, phone: u64) -> Vec<Token> {
        // The slots, not the id index: a direct request that raced another
        // with its id into the driver is in the table but not in the index.
        (0u32..)
            .zip(&self.slots)
            .filter(|(_, s)| s.request.is_some_and(|r| r.phone == phone))
            .map(|(slot, s)| Token {
                epoch: self.epoch,
                slot,
                generation: s.generation,
            })
            .collect()
    }
}

/// TAPI's request ids are 1 to 0x7FFFFFFF (a negative return is an error).
pub(crate) fn check_range(request_id: u32) -> Result<(), BadId> {
    if request_id == 0 || request_id > 0x7FFF_FFFF {
        return Err(BadId::OutOfRange);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_and_slots_reused_with_a_new_generation() {
        let mut requests = Requests::default();
        assert_eq!(requests.insert(0, 1, Stage::InCall), Err(BadId::OutOfRange));
        assert_eq!(
            requests.insert(0x8000_0000, 1, Stage::InCall),
            Err(BadId::OutOfRange)
        );
        let first = requests.insert(7, 1, Stage::InCall).expect("fresh id");
        assert_eq!(
            requests.insert(7, 1, Stage::InCall),
            Err(BadId::Outstanding)
        );
        assert_eq!(requests.remove(first).map(|r| r.request_id), Some(7));
        assert!(requests.remove(first).is_none(), "removed once");
        let second = requests
            .insert(7, 1, Stage::InCall)
            .expect("the id is free again");
        assert_eq!(second.slot, first.slot, "the slot is reused");
        assert_ne!(second.generation, first.generation);
        assert!(requests.get(first).is_none(), "a stale token finds nothing");
        assert_eq!(Token::from_u64(second.to_u64()), second);
        requests.bump_epoch();
        assert!(
            requests.get(second).is_none(),
            "nothing from before the epoch"
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let mut requests = Requests::default();
        for id in 1..=MAX_OUTSTANDING as u32 {
            assert!(requests.insert(id, 1, Stage::Running).is_ok());
        }
        let last = MAX_OUTSTANDING as u32 + 1;
        assert_eq!(requests.insert(last, 1, Stage::Running), Err(BadId::Full));
        let first = requests.by_id[&1];
        requests.remove(first);
        assert!(
            requests.insert(last, 1, Stage::Running).is_ok(),
            "room again"
        );
    }
}
