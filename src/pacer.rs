//! Open-loop pacing (`--rate`): each core owns a schedule of intended send times, evenly
//! spaced at its share of the rate. A free connection claims the next slot and sends at that
//! time; latency is measured from the slot, not from the actual send, so a server that
//! stalls shows up in the percentiles (no coordinated omission).

use std::cell::Cell;
use std::time::{Duration, Instant};

/// When a connection should send its next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Closed loop: as soon as the connection is free.
    Now,
    /// Open loop: at this intended time.
    At(Instant),
}

/// A core's schedule: slot k is due at `start + k / rate`.
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    interval_ns: f64,
    next: Cell<u64>,
}

impl Pacer {
    /// `rate`: this core's requests per second (> 0).
    pub fn new(start: Instant, rate: f64) -> Pacer {
        Pacer {
            start,
            interval_ns: 1e9 / rate,
            next: Cell::new(0),
        }
    }

    /// The time of the next unclaimed slot.
    pub fn peek(&self) -> Instant {
        self.at(self.next.get())
    }

    /// Claims the next slot.
    pub fn claim(&self) -> Instant {
        let k = self.next.get();
        self.next.set(k + 1);
        self.at(k)
    }

    /// Slots claimed so far.
    pub fn claimed(&self) -> u64 {
        self.next.get()
    }

    fn at(&self, k: u64) -> Instant {
        self.start + Duration::from_nanos((k as f64 * self.interval_ns) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_evenly_spaced_from_the_start() {
        let start = Instant::now();
        let pacer = Pacer::new(start, 4_000.0);
        assert_eq!(pacer.peek(), start);
        assert_eq!(pacer.claim(), start);
        assert_eq!(pacer.claim(), start + Duration::from_micros(250));
        assert_eq!(pacer.peek(), start + Duration::from_micros(500));
        for _ in 0..3_998 {
            pacer.claim();
        }
        assert_eq!(pacer.claimed(), 4_000);
        assert_eq!(
            pacer.peek(),
            start + Duration::from_secs(1),
            "no drift over many slots"
        );
    }
}
