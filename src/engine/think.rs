//! `--think`: each user's pause between a response and its next request, drawn uniformly
//! from the range given, by a generator each core owns (no lock, no allocation: a few
//! integer operations per pause); and the naps that long pauses take on the core's watcher
//! tick instead of a runtime timer each.
//!
//! Why naps: with thousands of users pausing, a timer per user fires on its own, and the
//! runtime wakes (and enters the kernel) for every few of them: at 10,000 users and 5,000
//! requests/s on one core, 1.6 times the CPU per request of the same rate without pauses
//! (bench/think.sh). A nap is an entry in a heap instead: each user, at the end of each of
//! its exchanges, wakes the naps due by then (so while responses come, naps end on time, as
//! smoothly as timers would, and their requests leave with the runtime's next submission),
//! and the core's watcher, every tick (10 ms), wakes those due within half a tick (when
//! nothing else runs). That costs 0.9 to 1.1 times the CPU per request of the same rate.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::engine::clock::Stamp;

/// Pauses at least this long nap on the watcher's tick (woken within half a tick of their
/// end, either way: 5% at most); shorter ones use the connection's timer.
pub const NAP_MIN: Duration = Duration::from_millis(100);

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

/// One core's napping users, by the time they wake.
#[derive(Default)]
pub struct Naps {
    due: RefCell<BinaryHeap<Reverse<Nap>>>,
    /// Tie-breaker, so that entries never compare equal (and wake in the order they slept).
    next: Cell<u64>,
}

struct Nap {
    at: Stamp,
    order: u64,
    waker: Waker,
}

impl PartialEq for Nap {
    fn eq(&self, other: &Nap) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}

impl Eq for Nap {}

impl PartialOrd for Nap {
    fn partial_cmp(&self, other: &Nap) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Nap {
    fn cmp(&self, other: &Nap) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

impl Naps {
    /// Sleeps until the tick nearest `at`.
    pub fn until(&self, at: Stamp) -> Napping<'_> {
        Napping {
            naps: self,
            at: at.as_nanos().max(1),
        }
    }

    /// Wakes every nap due by `now` and `early`: the watcher wakes those due within half a
    /// tick (a nap ends on the tick nearest its time, as early as late on the whole), the
    /// users wake those due by the end of each of their exchanges (on time, while responses
    /// come: naps then end as smoothly as timers would, without a timer each).
    pub fn wake(&self, now: Stamp, early: Duration) {
        let by = now + early;
        let mut due = self.due.borrow_mut();
        while due.peek().is_some_and(|nap| nap.0.at <= by) {
            if let Some(Reverse(nap)) = due.pop() {
                nap.waker.wake();
            }
        }
    }

    /// Forgets every nap (the core is done): their wakers would keep the tasks alive.
    pub fn clear(&self) {
        self.due.borrow_mut().clear();
    }

    fn sleep(&self, at: Stamp, waker: Waker) {
        let order = self.next.get();
        self.next.set(order + 1);
        self.due
            .borrow_mut()
            .push(Reverse(Nap { at, order, waker }));
    }
}

/// A user's nap: ready once the watcher has woken it. (16 bytes: it lives in the connection
/// task's state while it waits.)
pub struct Napping<'a> {
    naps: &'a Naps,
    /// When it ends, as `Stamp::as_nanos`; 0 once asleep.
    at: u64,
}

impl Future for Napping<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Only the watcher wakes a napping connection, and only when its nap is due.
        if self.at == 0 {
            return Poll::Ready(());
        }
        self.naps
            .sleep(Stamp::from_nanos(self.at), cx.waker().clone());
        self.at = 0;
        Poll::Pending
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

    #[test]
    fn naps_wake_on_the_tick_nearest_their_end_in_order() {
        use crate::engine::ticker::TICK;
        use std::sync::{Arc, Mutex};
        use std::task::Wake;
        struct Note(Arc<Mutex<Vec<u64>>>, u64);
        impl Wake for Note {
            fn wake(self: Arc<Self>) {
                self.0.lock().unwrap().push(self.1);
            }
        }
        let woken = Arc::new(Mutex::new(Vec::new()));
        let naps = Naps::default();
        let start = Stamp::now();
        for (name, ms) in [(1, 30), (2, 10), (3, 14), (4, 16), (5, 30)] {
            let waker = Waker::from(Arc::new(Note(woken.clone(), name)));
            naps.sleep(start + Duration::from_millis(ms), waker);
        }
        naps.wake(start + Duration::from_millis(10), TICK / 2);
        assert_eq!(*woken.lock().unwrap(), [2, 3], "due by the tick's middle");
        naps.wake(start + Duration::from_millis(20), TICK / 2);
        assert_eq!(*woken.lock().unwrap(), [2, 3, 4]);
        naps.wake(start + Duration::from_millis(30), TICK / 2);
        naps.sleep(start + Duration::from_millis(40), Waker::noop().clone());
        naps.wake(start + Duration::from_millis(39), Duration::ZERO);
        assert_eq!(naps.due.borrow().len(), 1, "not due yet");
        assert_eq!(
            *woken.lock().unwrap(),
            [2, 3, 4, 1, 5],
            "ties in the order they slept"
        );
        naps.sleep(start, Waker::noop().clone());
        naps.clear();
        assert!(naps.due.borrow().is_empty());
    }
}
