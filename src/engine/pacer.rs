//! Open-loop pacing (`--rate`): each core owns a schedule of intended send times, evenly
//! spaced at its share of the rate. A free connection claims the next slot and sends at that
//! time; latency is measured from the slot, not from the actual send, so a server that
//! stalls shows up in the percentiles (no coordinated omission).

use std::cell::Cell;
use std::time::Duration;

use crate::engine::clock::Stamp;

/// When a connection should send its next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Closed loop: as soon as the connection is free.
    Now,
    /// Closed loop during `--warmup`: as soon as the connection is free, and not measured.
    Warm,
    /// Open loop: at this intended time (measured unless it falls in the warm-up).
    At(Stamp),
}

impl Slot {
    /// Where latency starts, for a request of this slot sent at `sent`. In a closed loop: at
    /// the send. In rate mode: at the slot, or at the send when that came first (a request
    /// sent up to two timer ticks early is measured from when it really left, so the timer's
    /// resolution never counts as server latency; one sent late is measured from its slot,
    /// so queueing behind a slow server always does).
    pub fn intended(self, sent: Stamp) -> Stamp {
        match self {
            Slot::At(at) => at.min(sent),
            Slot::Now | Slot::Warm => sent,
        }
    }
}

/// A core's schedule: slot k is due at `start + k / rate`; with a ramp of T seconds the rate
/// climbs linearly from 0 to `rate` over T first (slot k at `sqrt(2·T·k / rate)` while
/// `k < rate·T/2`, then `k / rate + T/2`).
#[derive(Debug)]
pub struct Pacer {
    start: Stamp,
    rate: f64,
    ramp_s: f64,
    next: Cell<u64>,
}

impl Pacer {
    /// `rate`: this core's requests per second (> 0); `ramp`: time to reach it.
    pub fn new(start: Stamp, rate: f64, ramp: Duration) -> Pacer {
        Pacer {
            start,
            rate,
            ramp_s: ramp.as_secs_f64(),
            next: Cell::new(0),
        }
    }

    /// The time of the next unclaimed slot.
    pub fn peek(&self) -> Stamp {
        self.at(self.next.get())
    }

    /// Claims the next slot (the worker peeks, checks the deadline, then advances).
    #[cfg(test)]
    pub fn claim(&self) -> Stamp {
        let at = self.peek();
        self.advance();
        at
    }

    /// Claims the next slot, whose time the caller already has from `peek`.
    pub fn advance(&self) {
        self.next.set(self.next.get() + 1);
    }

    /// Slots claimed so far.
    #[cfg(test)]
    pub fn claimed(&self) -> u64 {
        self.next.get()
    }

    /// Unclaimed slots due at or before `t`.
    pub fn overdue(&self, t: Stamp) -> u64 {
        self.due(t).saturating_sub(self.next.get())
    }

    /// Slots due at or before `t` (the inverse of `at`).
    fn due(&self, t: Stamp) -> u64 {
        if t < self.start {
            return 0;
        }
        let secs = t.since(self.start) as f64 / 1e9;
        let k = if secs < self.ramp_s {
            self.rate * secs * secs / (2.0 * self.ramp_s)
        } else {
            (secs - self.ramp_s / 2.0) * self.rate
        };
        k as u64 + 1
    }

    fn at(&self, k: u64) -> Stamp {
        let k = k as f64;
        let ramp_slots = self.rate * self.ramp_s / 2.0;
        let secs = if k < ramp_slots {
            (2.0 * self.ramp_s * k / self.rate).sqrt()
        } else {
            k / self.rate + self.ramp_s / 2.0
        };
        self.start.after_nanos((secs * 1e9) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_evenly_spaced_from_the_start() {
        let start = Stamp::now();
        let pacer = Pacer::new(start, 4_000.0, Duration::ZERO);
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

    #[test]
    fn overdue_counts_the_unclaimed_slots_due() {
        let start = Stamp::now();
        let ms = Duration::from_millis;
        let pacer = Pacer::new(start, 1_000.0, Duration::ZERO);
        assert_eq!(pacer.overdue(start), 1, "slot 0 is due at the start");
        assert_eq!(pacer.overdue(start + ms(9)), 10);
        for _ in 0..4 {
            pacer.claim();
        }
        assert_eq!(pacer.overdue(start + ms(9)), 6);
        assert_eq!(pacer.overdue(start + ms(2)), 0);
        let ramped = Pacer::new(start, 1_000.0, Duration::from_secs(2));
        for k in [1, 250, 999, 1_000, 2_000] {
            let at = ramped.at(k);
            assert_eq!(
                ramped.overdue(at + Duration::from_micros(1)),
                k + 1,
                "slot {k}"
            );
        }
    }

    #[test]
    fn a_ramp_climbs_linearly_then_holds() {
        let start = Stamp::now();
        // 1,000/s after a 2 s ramp: 1,000 slots in the ramp (the average rate is half).
        let pacer = Pacer::new(start, 1_000.0, Duration::from_secs(2));
        let secs = |k| pacer.at(k).duration_since(start).as_secs_f64();
        assert!(
            (secs(250) - 1.0).abs() < 1e-6,
            "a quarter of the ramp's slots by half its time"
        );
        assert!((secs(1_000) - 2.0).abs() < 1e-6);
        assert!((secs(2_000) - 3.0).abs() < 1e-6, "full rate after the ramp");
        assert!(
            secs(1) > secs(1_001) - secs(1_000),
            "early slots are further apart"
        );
    }
}
