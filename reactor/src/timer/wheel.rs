//! The hierarchical timing wheel: a data structure over integer ticks, with
//! no clock, no locking and no threads (those live in [`super`]).
//!
//! # Mechanism
//!
//! Six levels of 64 slots. Level `l` slot `s` covers `64^l` ticks; level 0
//! covers the current 64-tick window one tick per slot, level 1 the current
//! 4 096-tick window one 64-tick span per slot, and so on up to level 5,
//! whose slots span 2^30 ticks each. A timer due at tick `when` goes to the
//! lowest level whose window still contains `when`: the level of the highest
//! bit in which `when` differs from the wheel's `elapsed` tick, divided into
//! 6-bit groups. Each level keeps a 64-bit occupancy mask, so finding the
//! next non-empty slot is a rotate and a `trailing_zeros`.
//!
//! When time reaches a slot's start, the slot is emptied: entries that are
//! due fire, the others (only possible above level 0) are re-inserted at a
//! lower level ("cascading"). Every entry cascades at most five times over
//! its whole life. This is the scheme of Varghese & Lauck, "Hashed and
//! Hierarchical Timing Wheels" (SOSP '87), in the shape tokio uses.
//!
//! Entries live in a slab; each slot is an intrusive doubly linked list of
//! slab indices, so insert and cancel are O(1) (link / unlink, no search).
//! Each slab entry has a generation, bumped when the entry is freed, so a
//! [`TimerKey`] to a fired or cancelled entry never touches its successor.
//! Firing frees the entry immediately: a `Sleep` learns that it fired from
//! the generation mismatch, so the wheel never holds dead entries.
//!
//! Free cells are reused last-freed first (the one most likely in cache),
//! and whenever the wheel has no pending timer left the slab is emptied
//! (keeping its capacity), so the next burst of timers fills it from index
//! 0 in address order. Without that, a burst after a burst reuses cells in
//! the order the last one *fired*, which is random in memory: each insert
//! of `timers/spread`'s 100 000 sleeps then missed the cache on a cold
//! cell. On spindle/single, passes 2 and 3 took 34–36 ms from the end of
//! spawning to the last first poll and had a p99 oversleep of 24–27 ms;
//! with the slab emptied, 12–13 ms and 6.4–7.5 ms (tokio/current_thread in
//! the same runs: 16–23 ms and 11–18 ms). Emptying costs one pass over the cells pushed since the last time, so it is
//! amortised O(1) per insert. Cells created afresh start at a generation
//! above every earlier one, so keys from before still mismatch.
//!
//! # Invariants
//!
//! * An entry fires only when the wheel's tick reached its `when`; the
//!   driver converts deadlines to ticks rounding *up* and the current time
//!   rounding *down*, so a timer never fires before its deadline.
//! * Every occupied slot has its bit set in its level's mask, and no empty
//!   slot does.
//! * The top level is a ring. Deadlines in the next turn use their own slot
//!   if it is behind the cursor; deadlines a turn or more away (beyond the
//!   wheel's span of 64^6 ticks), and next-turn deadlines whose slot is the
//!   cursor's own, go to the slot just behind the cursor, which expires
//!   last, and cascade from there. The cursor's own top-level slot is thus
//!   always empty, so the first occupied slot after it is the earliest.
//!
//! # Rejected alternatives
//!
//! * A binary heap: O(log n) insert and, worse, O(n) cancel (or lazy
//!   deletion that keeps every dropped `Sleep` alive until its deadline,
//!   which breaks "a dropped sleep frees its entry").
//! * Each slot a vector of slab indices, the entry recording its position
//!   (cancel swap-removes; tried on this branch). Firing a slot of 100 000
//!   scattered timers gets twice as fast (20–21 against 45–46 ns a timer:
//!   the indices are known up front, so the cache misses overlap, where a
//!   list walk is a chain of dependent loads). But `timers/insert_cancel`
//!   was ~10 % slower in both modes (single 1.63–1.65 against 1.49 ms,
//!   parallel 1.93–1.95 against 1.67–1.78 ms; callgrind counts the same
//!   instructions within 1 %, so it is memory traffic: every cancel writes
//!   the vector's length and tail, two more cache lines, which in parallel
//!   mode the other worker then misses on), and with the slab emptied on
//!   drain the spread pass gained nothing (p99 7.8–9.8 against 6.4–9.1 ms).
//! * A single hashed wheel: O(1) everything, but each turn re-visits every
//!   far timer; hierarchical levels touch a far timer at most five times.

use std::task::Waker;

/// How many bits of a tick each level consumes.
const SLOT_BITS: u32 = 6;
/// Slots per level: 64 makes the occupancy mask one `u64`.
const SLOTS: usize = 1 << SLOT_BITS;
/// Six levels of 64 slots span 2^36 ticks; at 100 µs a tick that is about
/// 79 days, after which timers ride the top level as a ring.
const LEVELS: usize = 6;
/// Ticks the whole wheel spans.
const SPAN: u64 = 1 << (SLOT_BITS * LEVELS as u32);
/// "No entry" in the intrusive lists.
const NIL: u32 = u32::MAX;

/// Names one pending timer; stale once it fired or was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    index: u32,
    generation: u32,
}

/// One slab entry: a pending timer, or a free cell.
#[derive(Debug)]
struct Entry {
    when: u64,
    waker: Option<Waker>,
    generation: u32,
    prev: u32,
    next: u32,
    /// `level * SLOTS + slot` of the list the entry is in.
    list: usize,
    pending: bool,
}

/// Where and when the next slot is due.
#[derive(Debug, Clone, Copy)]
struct Expiration {
    level: usize,
    slot: usize,
    deadline: u64,
}

/// The timing wheel. See the module docs.
#[derive(Debug)]
pub(crate) struct Wheel {
    elapsed: u64,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// No cell has had a generation above this: where cells created after
    /// the slab was emptied start.
    max_generation: u32,
    heads: Vec<u32>,
    occupied: [u64; LEVELS],
    live: usize,
}

/// Ticks one slot of `level` covers.
fn slot_span(level: usize) -> u64 {
    1 << (SLOT_BITS * level as u32)
}

/// The level a timer due at `when` belongs to while the wheel is at `elapsed`.
fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = ((elapsed ^ when) | (SLOTS as u64 - 1)).min(SPAN - 1);
    ((63 - masked.leading_zeros()) / SLOT_BITS) as usize
}

impl Wheel {
    /// An empty wheel at tick 0.
    pub(crate) fn new() -> Self {
        Wheel {
            elapsed: 0,
            entries: Vec::new(),
            free: Vec::new(),
            max_generation: 0,
            heads: vec![NIL; LEVELS * SLOTS],
            occupied: [0; LEVELS],
            live: 0,
        }
    }

    /// How many timers are pending.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Adds a timer due at tick `when`, or returns `None` if that tick has
    /// already been reached (the caller completes at once).
    pub(crate) fn insert(&mut self, when: u64, waker: Waker) -> Option<TimerKey> {
        if when <= self.elapsed {
            return None;
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.entries.len())
                    .ok()
                    .filter(|&i| i != NIL)
                    .expect("spindle reactor: more than 4 billion live timers");
                self.entries.push(Entry {
                    when: 0,
                    waker: None,
                    generation: self.max_generation,
                    prev: NIL,
                    next: NIL,
                    list: 0,
                    pending: false,
                });
                index
            }
        };
        let entry = &mut self.entries[index as usize];
        entry.when = when;
        entry.waker = Some(waker);
        entry.pending = true;
        let key = TimerKey {
            index,
            generation: entry.generation,
        };
        self.link(index);
        self.live += 1;
        Some(key)
    }

    /// The pending entry `key` names, if it has not fired or been cancelled.
    fn pending_mut(&mut self, key: TimerKey) -> Option<&mut Entry> {
        self.entries
            .get_mut(key.index as usize)
            .filter(|e| e.pending && e.generation == key.generation)
    }

    /// Replaces the waker of a pending timer. Returns `false` if the timer
    /// already fired (or was cancelled).
    pub(crate) fn update_waker(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.pending_mut(key) {
            Some(entry) => {
                match &mut entry.waker {
                    Some(w) if w.will_wake(waker) => {}
                    slot => *slot = Some(waker.clone()),
                }
                true
            }
            None => false,
        }
    }

    /// Removes a pending timer; a stale key is ignored.
    pub(crate) fn cancel(&mut self, key: TimerKey) {
        if self.pending_mut(key).is_some() {
            self.unlink(key.index);
            self.release(key.index);
            self.compact();
        }
    }

    /// Advances the wheel to tick `now`, moving the wakers of every timer due
    /// by then into `fired`, in firing order, each with the tick it fired at.
    pub(crate) fn advance(&mut self, now: u64, fired: &mut Vec<(u64, Waker)>) {
        while let Some(exp) = self.next_expiration() {
            if exp.deadline > now {
                break;
            }
            self.expire(exp, fired);
        }
        self.elapsed = self.elapsed.max(now);
        self.compact();
    }

    /// The tick at which [`Wheel::advance`] next has work (a firing or a
    /// cascade), if any timer is pending.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.next_expiration().map(|exp| exp.deadline)
    }

    /// Fires every pending timer regardless of its deadline (shutdown).
    pub(crate) fn drain(&mut self, wake: &mut Vec<Waker>) {
        for index in 0..self.entries.len() as u32 {
            if self.entries[index as usize].pending {
                self.unlink(index);
                wake.extend(self.release(index));
            }
        }
        self.compact();
    }

    /// The earliest slot with entries. Lower levels always expire first: an
    /// entry sits above level 0 only if it is outside level 0's window.
    fn next_expiration(&self) -> Option<Expiration> {
        (0..LEVELS).find_map(|level| {
            let occupied = self.occupied[level];
            if occupied == 0 {
                return None;
            }
            let span = slot_span(level);
            let level_span = span << SLOT_BITS;
            let now_slot = (self.elapsed / span) as u32;
            let offset = occupied
                .rotate_right(now_slot % SLOTS as u32)
                .trailing_zeros();
            let slot = ((now_slot + offset) as usize) % SLOTS;
            let level_start = self.elapsed & !(level_span - 1);
            let mut deadline = level_start + slot as u64 * span;
            if deadline <= self.elapsed {
                // Only the top level wraps (far timers ride it as a ring):
                // a slot "behind" the cursor is one turn ahead.
                deadline += level_span;
            }
            Some(Expiration {
                level,
                slot,
                deadline,
            })
        })
    }

    /// Empties the slot of `exp`: due entries fire, the rest cascade down.
    fn expire(&mut self, exp: Expiration, fired: &mut Vec<(u64, Waker)>) {
        self.elapsed = exp.deadline;
        let list = exp.level * SLOTS + exp.slot;
        let mut index = std::mem::replace(&mut self.heads[list], NIL);
        self.occupied[exp.level] &= !(1 << exp.slot);
        while index != NIL {
            let next = self.entries[index as usize].next;
            if self.entries[index as usize].when <= exp.deadline {
                fired.extend(self.release(index).map(|waker| (exp.deadline, waker)));
            } else {
                self.link(index);
            }
            index = next;
        }
    }

    /// Puts entry `index` at the head of the list its `when` belongs to.
    fn link(&mut self, index: u32) {
        let when = self.entries[index as usize].when;
        let level = level_for(self.elapsed, when);
        let mut slot = ((when >> (SLOT_BITS * level as u32)) as usize) % SLOTS;
        if level == LEVELS - 1 {
            // The top level is a ring. A timer a turn or more away, or one
            // whose slot is the one `elapsed` is in (only possible a turn
            // later), goes to the slot just behind `elapsed`, which expires
            // last: in the current slot it would hide every later slot from
            // `next_expiration` for a whole turn. It cascades from there.
            let now_slot = ((self.elapsed >> (SLOT_BITS * level as u32)) as usize) % SLOTS;
            if slot == now_slot || when - self.elapsed >= SPAN {
                slot = (now_slot + SLOTS - 1) % SLOTS;
            }
        }
        let list = level * SLOTS + slot;
        let head = self.heads[list];
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        let entry = &mut self.entries[index as usize];
        entry.prev = NIL;
        entry.next = head;
        entry.list = list;
        self.heads[list] = index;
        self.occupied[level] |= 1 << slot;
    }

    /// Takes entry `index` out of its list.
    fn unlink(&mut self, index: u32) {
        let Entry {
            prev, next, list, ..
        } = self.entries[index as usize];
        if prev == NIL {
            self.heads[list] = next;
            if next == NIL {
                self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }

    /// Frees entry `index` (already unlinked) and returns its waker.
    fn release(&mut self, index: u32) -> Option<Waker> {
        let entry = &mut self.entries[index as usize];
        entry.pending = false;
        entry.generation = entry.generation.wrapping_add(1);
        self.max_generation = self.max_generation.max(entry.generation);
        self.free.push(index);
        self.live -= 1;
        entry.waker.take()
    }

    /// Empties the slab once no timer is pending, so the next timers fill
    /// it in address order (see the module docs).
    fn compact(&mut self) {
        if self.live == 0 {
            self.entries.clear();
            self.free.clear();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::test_util::counting_waker;

    /// Inserts timers at `whens`, advances one tick at a time and returns
    /// the tick each fired at, by insertion order.
    fn fire_ticks(whens: &[u64]) -> Vec<u64> {
        let mut wheel = Wheel::new();
        let counters: Vec<_> = whens
            .iter()
            .map(|&when| {
                let (waker, count) = counting_waker();
                wheel.insert(when, waker).expect("in the future");
                count
            })
            .collect();
        let mut fired = vec![None; whens.len()];
        let last = *whens.iter().max().unwrap();
        let mut wake = Vec::new();
        let mut now = 0;
        while now <= last {
            // Jump straight to the next slot, as the driver's poll timeout does.
            now = wheel.next_deadline().unwrap_or(now + 1).max(now + 1);
            wheel.advance(now, &mut wake);
            wake.drain(..).for_each(|(_, waker)| waker.wake());
            for (i, count) in counters.iter().enumerate() {
                if count.get() == 1 && fired[i].is_none() {
                    fired[i] = Some(now);
                }
            }
        }
        assert_eq!(wheel.live(), 0);
        fired
            .into_iter()
            .map(|f| f.expect("every timer fired"))
            .collect()
    }

    #[test]
    fn timers_fire_exactly_at_their_tick_on_every_level() {
        let whens = [
            1,
            2,
            63,
            64,
            65,
            4095,
            4096,
            4097,
            300_000,
            20_000_000,
            1 << 33,
        ];
        assert_eq!(fire_ticks(&whens), whens);
    }

    #[test]
    fn timers_beyond_the_span_wait_for_their_tick() {
        let far = SPAN * 3 + 12_345;
        assert_eq!(fire_ticks(&[far, 5]), [far, 5]);
    }

    /// A xorshift generator: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Random inserts (every level and beyond the span), cancels and
    /// advances (single ticks and long jumps), checked against a plain list:
    /// a timer fires in the first advance that reaches its tick, never
    /// earlier, never after a cancel, and exactly once.
    #[test]
    fn random_operations_match_a_reference_model() {
        for seed in 1..=8u64 {
            random_operations(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
    }

    /// One run of [`random_operations_match_a_reference_model`].
    fn random_operations(seed: u64) {
        let mut rng = Rng(seed);
        let mut wheel = Wheel::new();
        // (when, key, wake count, cancelled)
        let mut timers = Vec::new();
        let mut now = 0u64;
        let mut wake = Vec::new();
        for _ in 0..20_000 {
            match rng.next() % 10 {
                0..=4 => {
                    let span = [1, 64, 4096, 1 << 18, 1 << 30, SPAN * 2][(rng.next() % 6) as usize];
                    let when = now + 1 + rng.next() % span;
                    let (waker, count) = counting_waker();
                    let key = wheel.insert(when, waker).expect("in the future");
                    timers.push((when, key, count, false));
                }
                5 if !timers.is_empty() => {
                    let i = (rng.next() % timers.len() as u64) as usize;
                    wheel.cancel(timers[i].1);
                    timers[i].3 = true;
                }
                _ => {
                    let step = match rng.next() % 4 {
                        0 => 1,
                        1 => rng.next() % 64,
                        2 => rng.next() % (1 << 20),
                        _ => wheel.next_deadline().map_or(1, |d| d - now),
                    };
                    now += step;
                    wheel.advance(now, &mut wake);
                    wake.drain(..).for_each(|(_, waker)| waker.wake());
                    for (when, _, count, cancelled) in &timers {
                        let due = *when <= now && !*cancelled;
                        let expected = usize::from(due);
                        // A timer cancelled after it fired keeps its one wake.
                        if !*cancelled {
                            assert_eq!(count.get(), expected, "timer at {when}, now {now}");
                        } else {
                            assert!(count.get() <= 1);
                        }
                    }
                    timers.retain(|(when, _, _, cancelled)| *when > now && !*cancelled);
                }
            }
            let pending = timers.iter().filter(|t| !t.3).count();
            assert_eq!(wheel.live(), pending);
            // The reactor sleeps until `next_deadline`: it must never be
            // later than a pending timer, nor already past.
            let earliest = timers.iter().filter(|t| !t.3).map(|t| t.0).min();
            match (wheel.next_deadline(), earliest) {
                (Some(next), Some(earliest)) => assert!(next > now && next <= earliest),
                (next, earliest) => assert_eq!(next.is_some(), earliest.is_some()),
            }
        }
    }

    #[test]
    fn cancel_unlinks_from_the_middle_of_a_slot() {
        let mut wheel = Wheel::new();
        let (a, a_count) = counting_waker();
        let (b, b_count) = counting_waker();
        let (c, c_count) = counting_waker();
        let ka = wheel.insert(10, a).unwrap();
        let kb = wheel.insert(10, b).unwrap();
        let _ = wheel.insert(10, c).unwrap();
        wheel.cancel(kb);
        wheel.cancel(kb);
        assert_eq!(wheel.live(), 2);
        let mut wake = Vec::new();
        wheel.advance(10, &mut wake);
        wake.drain(..).for_each(|(_, waker)| waker.wake());
        assert_eq!((a_count.get(), b_count.get(), c_count.get()), (1, 0, 1));
        assert!(!wheel.update_waker(ka, &counting_waker().0), "fired");
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn an_emptied_wheel_refills_in_address_order_and_ignores_old_keys() {
        let mut wheel = Wheel::new();
        let old: Vec<_> = (0..4)
            .map(|i| wheel.insert(10 + i, counting_waker().0).unwrap())
            .collect();
        // Free them out of address order: 3, 1, then 0 and 2 together.
        wheel.cancel(old[3]);
        wheel.cancel(old[1]);
        wheel.advance(20, &mut Vec::new());
        assert_eq!(wheel.live(), 0);
        let new: Vec<_> = (0..4)
            .map(|_| wheel.insert(30, counting_waker().0).unwrap())
            .collect();
        let indices: Vec<u32> = new.iter().map(|k| k.index).collect();
        assert_eq!(indices, [0, 1, 2, 3]);
        for key in &old {
            wheel.cancel(*key);
            assert!(!wheel.update_waker(*key, &counting_waker().0));
        }
        assert_eq!(wheel.live(), 4, "old keys left the new timers alone");
    }

    #[test]
    fn a_due_tick_is_refused_and_a_reused_entry_ignores_old_keys() {
        let mut wheel = Wheel::new();
        wheel.advance(100, &mut Vec::new());
        assert!(wheel.insert(100, counting_waker().0).is_none());
        let old = wheel.insert(101, counting_waker().0).unwrap();
        wheel.cancel(old);
        let new = wheel.insert(102, counting_waker().0).unwrap();
        wheel.cancel(old);
        assert_eq!(wheel.live(), 1);
        assert!(wheel.update_waker(new, &counting_waker().0));
    }
}
