//! The registration table: which [`ScheduledIo`] a mio `Token` names.
//!
//! # Mechanism
//!
//! A slab (a `Vec` of slots plus a free list) holds one `Arc<ScheduledIo>`
//! per registered resource. The mio `Token` of a registration packs the slot
//! index into its low half and the slot's *generation* into its high half.
//! Freeing a slot bumps its generation, so an event still in flight for a
//! resource that was dropped (epoll may report it in the same batch that
//! the drop raced with) carries a stale generation and is ignored instead of
//! waking whichever resource reused the slot.
//!
//! The table sits behind one mutex, taken once per poll batch by the
//! reactor thread and once per registration or drop by tasks. Resources are
//! registered far less often than they are read, so this lock is not on
//! the IO hot path; the per-resource readiness protocol
//! ([`crate::registration`]) is.
//!
//! Rejected: passing a raw `Arc` pointer as the token (tokio's current
//! design) avoids the lookup and the lock but needs `unsafe` reference
//! counting across the reactor thread and the dropping task; a generation
//! check makes stale events harmless without any `unsafe`.

use std::io;
use std::sync::Arc;
use std::task::Waker;

use mio::Token;

use crate::registration::{ScheduledIo, shutdown_error};

/// Bits of the token that hold the slot index; the rest is the generation.
const INDEX_BITS: u32 = usize::BITS / 2;
/// Mask of the index half of a token.
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// The token of the reactor's own `mio::Waker`: an index no slot ever gets,
/// because [`IoSlab::insert`] refuses to grow that far.
pub(crate) const WAKER_TOKEN: Token = Token(INDEX_MASK);
/// The token of the reactor's timer descriptor (Linux), reserved likewise.
#[cfg(target_os = "linux")]
pub(crate) const TIMER_TOKEN: Token = Token(INDEX_MASK - 1);
/// Slots the table may hold: every index below the reserved tokens'.
const MAX_SLOTS: usize = INDEX_MASK - 1;

/// One slot of the table.
#[derive(Debug)]
struct Slot {
    generation: usize,
    io: Option<Arc<ScheduledIo>>,
}

/// The registration table. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct IoSlab {
    slots: Vec<Slot>,
    free: Vec<usize>,
    live: usize,
    shut_down: bool,
}

impl IoSlab {
    /// Adds `io` and returns its token, or the shutdown error once
    /// [`IoSlab::shutdown`] ran (so no resource registers after the sweep).
    pub(crate) fn insert(&mut self, io: Arc<ScheduledIo>) -> io::Result<Token> {
        if self.shut_down {
            return Err(shutdown_error());
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None if self.slots.len() < MAX_SLOTS => {
                self.slots.push(Slot {
                    generation: 0,
                    io: None,
                });
                self.slots.len() - 1
            }
            None => return Err(io::Error::other("spindle reactor: too many registrations")),
        };
        let slot = &mut self.slots[index];
        slot.io = Some(io);
        self.live += 1;
        Ok(Token(slot.generation << INDEX_BITS | index))
    }

    /// The resource `token` names, unless it was removed since.
    pub(crate) fn get(&self, token: Token) -> Option<&ScheduledIo> {
        let slot = self.slots.get(token.0 & INDEX_MASK)?;
        let generation = token.0 >> INDEX_BITS;
        (slot.generation == generation).then_some(slot.io.as_deref()?)
    }

    /// Frees the slot of `token` and bumps its generation.
    pub(crate) fn remove(&mut self, token: Token) {
        let index = token.0 & INDEX_MASK;
        if self.get(token).is_some() {
            let slot = &mut self.slots[index];
            slot.io = None;
            // Wraps within the generation half of the token.
            slot.generation = (slot.generation + 1) & INDEX_MASK;
            self.free.push(index);
            self.live -= 1;
        }
    }

    /// Refuses further inserts and marks every live resource shut down,
    /// collecting their waiters into `wake`.
    pub(crate) fn shutdown(&mut self, wake: &mut Vec<Waker>) {
        self.shut_down = true;
        for io in self.slots.iter().filter_map(|slot| slot.io.as_deref()) {
            io.shutdown(wake);
        }
    }

    /// How many resources are registered.
    pub(crate) fn live(&self) -> usize {
        self.live
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_does_not_answer_to_the_old_token() {
        let mut slab = IoSlab::default();
        let old = slab.insert(Arc::new(ScheduledIo::new())).unwrap();
        slab.remove(old);
        let new = slab.insert(Arc::new(ScheduledIo::new())).unwrap();
        assert_eq!(old.0 & INDEX_MASK, new.0 & INDEX_MASK, "the slot is reused");
        assert!(slab.get(old).is_none());
        assert!(slab.get(new).is_some());
        slab.remove(old);
        assert_eq!(slab.live(), 1, "a stale remove frees nothing");
        assert!(slab.get(WAKER_TOKEN).is_none());
    }

    #[test]
    fn insert_after_shutdown_fails() {
        let mut slab = IoSlab::default();
        slab.shutdown(&mut Vec::new());
        assert!(slab.insert(Arc::new(ScheduledIo::new())).is_err());
    }
}
