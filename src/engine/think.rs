//! `--think`: each user's pause between a response and its next request, drawn uniformly
//! from the range given, by a generator each core owns (no lock, no allocation: a few
//! integer operations per pause).

use std::cell::Cell;
use std::time::Duration;

/// One core's pauses.
pub struct Pauses {
    low_ns: u64,
    /// The range's width: 0 for a fixed pause.
    span_ns: u64,
    /// xorshift64's state (never 0).
    state: Cell<u64>,
}

impl Pauses {
    /// Pauses uniform over `range` (low, high), seeded with `seed`.
    pub fn new(range: (Duration, Duration), seed: u64) -> Pauses {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Pauses {
            low_ns: ns(range.0),
            span_ns: ns(range.1).saturating_sub(ns(range.0)),
            state: Cell::new(seed | 1),
        }
    }

    /// The next pause.
    pub fn next(&self) -> Duration {
        if self.span_ns == 0 {
            return Duration::from_nanos(self.low_ns);
        }
        let mut x = self.state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state.set(x);
        // The high bits are the better ones; a 64×64-bit product maps them onto the span
        // without a division's bias.
        let offset = ((u128::from(x) * u128::from(self.span_ns + 1)) >> 64) as u64;
        Duration::from_nanos(self.low_ns + offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_are_uniform_over_the_range() {
        let (low, high) = (Duration::from_secs(1), Duration::from_secs(3));
        let pauses = Pauses::new((low, high), 42);
        let drawn: Vec<Duration> = (0..100_000).map(|_| pauses.next()).collect();
        assert!(drawn.iter().all(|d| (low..=high).contains(d)));
        let mean = drawn.iter().sum::<Duration>().as_secs_f64() / drawn.len() as f64;
        assert!((mean - 2.0).abs() < 0.01, "{mean}");
        // Each quarter of the range gets a quarter of the draws.
        for quarter in 0..4 {
            let from = 1.0 + 0.5 * quarter as f64;
            let n = (drawn.iter())
                .filter(|d| (from..from + 0.5).contains(&d.as_secs_f64()))
                .count();
            assert!((n as f64 / 25_000.0 - 1.0).abs() < 0.03, "{quarter}: {n}");
        }
        let fixed = Pauses::new((low, low), 7);
        assert_eq!(fixed.next(), low);
    }
}
