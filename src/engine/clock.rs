//! The request path's clock: a point on the monotonic clock as whole nanoseconds in a `u64`.
//!
//! `std::time::Instant` keeps seconds and nanoseconds apart, so every latency (a difference
//! of two instants, then `as_nanos`) costs a normalising subtraction with overflow checks and
//! a 128-bit multiply, and every comparison two. The engine takes several per request (the
//! latency, the request's deadline, the per-second roll-over, the end of the run); as one
//! `u64` each is a single instruction. It reads the same clock as `Instant` (Linux's
//! `CLOCK_MONOTONIC`), and converts to one where a timer needs it. 2^64 ns is 584 years of
//! uptime.

use std::ops::{Add, AddAssign, Sub};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// A point on the monotonic clock, in nanoseconds since the machine booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(u64);

impl Stamp {
    /// Now. (The vDSO's `clock_gettime`, as `Instant::now` is.)
    #[inline]
    pub fn now() -> Stamp {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write; CLOCK_MONOTONIC exists on every Linux,
        // and the call cannot fail with a valid pointer and clock.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        Stamp(ts.tv_sec as u64 * NANOS_PER_SEC + ts.tv_nsec as u64)
    }

    /// Nanoseconds from `earlier` to this stamp; 0 when `earlier` is later.
    #[inline]
    pub fn since(self, earlier: Stamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `since`, as a duration.
    pub fn duration_since(self, earlier: Stamp) -> Duration {
        Duration::from_nanos(self.since(earlier))
    }

    /// `ns` nanoseconds after this stamp (saturating).
    #[inline]
    pub fn after_nanos(self, ns: u64) -> Stamp {
        Stamp(self.0.saturating_add(ns))
    }

    /// The stamp as nanoseconds since boot, to hand it to another thread through an atomic.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// The stamp `as_nanos` gave.
    pub fn from_nanos(ns: u64) -> Stamp {
        Stamp(ns)
    }

    /// This stamp less `d`, if that is not before the clock's zero.
    pub fn checked_sub(self, d: Duration) -> Option<Stamp> {
        self.0.checked_sub(nanos(d)).map(Stamp)
    }

    /// The `Instant` of this stamp, for a timer.
    pub fn to_instant(self) -> Instant {
        let (instant, stamp) = *ANCHOR;
        if self >= stamp {
            instant + self.duration_since(stamp)
        } else {
            instant - stamp.duration_since(self)
        }
    }
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// One moment read on both clocks, to convert a stamp for a timer (to within the ~30 ns between
/// the two reads; only timers convert, and they fire on whole milliseconds).
static ANCHOR: LazyLock<(Instant, Stamp)> = LazyLock::new(|| (Instant::now(), Stamp::now()));

/// A duration in nanoseconds, saturating (without `as_nanos`'s 128-bit multiply).
#[inline]
fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(NANOS_PER_SEC)
        .saturating_add(u64::from(d.subsec_nanos()))
}

impl Add<Duration> for Stamp {
    type Output = Stamp;

    #[inline]
    fn add(self, d: Duration) -> Stamp {
        self.after_nanos(nanos(d))
    }
}

impl AddAssign<Duration> for Stamp {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

/// Saturates at the clock's zero (never reached: the machine has been up longer than any
/// duration blast subtracts).
impl Sub<Duration> for Stamp {
    type Output = Stamp;

    #[inline]
    fn sub(self, d: Duration) -> Stamp {
        Stamp(self.0.saturating_sub(nanos(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_in_whole_nanoseconds() {
        let t = Stamp(5_000_000_000);
        assert_eq!((t + Duration::from_millis(1_500)).since(t), 1_500_000_000);
        assert_eq!(t.after_nanos(7), t + Duration::from_nanos(7));
        assert_eq!(t.after_nanos(u64::MAX), Stamp(u64::MAX));
        assert_eq!(t.since(t + Duration::from_nanos(1)), 0, "saturates");
        assert_eq!(t - Duration::from_secs(2), Stamp(3_000_000_000));
        assert_eq!(t.checked_sub(Duration::from_secs(6)), None);
        assert_eq!(t + Duration::MAX, Stamp(u64::MAX));
        let mut u = t;
        u += Duration::from_secs(1);
        assert_eq!(u.duration_since(t), Duration::from_secs(1));
    }

    #[test]
    fn it_reads_the_clock_instant_reads() {
        let before = Instant::now();
        let stamp = Stamp::now();
        let after = Instant::now();
        // Within the anchor's gap (tens of nanoseconds) of the reads around it.
        let slack = Duration::from_millis(1);
        let converted = stamp.to_instant();
        assert!(converted + slack >= before && converted <= after + slack);
        // Before the anchor too.
        let (instant, anchor) = *ANCHOR;
        let old = (anchor - Duration::from_secs(1)).to_instant();
        let gap = (instant - old).abs_diff(Duration::from_secs(1));
        assert!(gap < slack, "{gap:?}");
    }

    #[test]
    fn it_moves_forward() {
        let a = Stamp::now();
        std::thread::sleep(Duration::from_millis(2));
        let b = Stamp::now();
        assert!(b.since(a) >= 2_000_000, "{a:?} {b:?}");
    }
}
