//! The running totals that the live outputs (`--metrics-listen`, `--web`) show while a run
//! goes. Each core hands over its cumulative counts once a second (from its watcher, never
//! per request); the main thread adds the cores' latest up when a scrape or a page asks.
//! After the run the same totals are taken from the merged stats, so the last scrape equals
//! the report.

use crate::results::failures;
use crate::results::stats::{ErrorKind, FailureReason, Stats};

/// What a set of requests (the run, or one `--targets` name) came to so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub successes: u64,
    /// Failures by category, in `ErrorKind` order.
    pub errors: [u64; ErrorKind::ALL.len()],
    /// Complete responses by status, ascending (600: out of range).
    pub statuses: Vec<(u16, u64)>,
    /// The failures by reason, in no order (`failures::listed` orders them).
    pub reasons: Vec<FailureReason>,
}

impl Counts {
    pub fn of(stats: &Stats) -> Counts {
        Counts {
            successes: stats.successes,
            errors: stats.errors,
            statuses: stats.status_counts().collect(),
            reasons: stats
                .reasons
                .iter()
                .filter(|r| r.count > 0)
                .cloned()
                .collect(),
        }
    }

    pub fn failures(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Requests that finished, successfully or not.
    pub fn requests(&self) -> u64 {
        self.successes + self.failures()
    }

    fn add(&mut self, other: &Counts) {
        self.successes += other.successes;
        self.errors
            .iter_mut()
            .zip(other.errors)
            .for_each(|(a, b)| *a += b);
        for &(status, n) in &other.statuses {
            match self.statuses.binary_search_by_key(&status, |s| s.0) {
                Ok(i) => self.statuses[i].1 += n,
                Err(i) => self.statuses.insert(i, (status, n)),
            }
        }
        failures::merge(&mut self.reasons, &other.reasons);
    }
}

/// One core's totals (or all cores', added up).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub run: Counts,
    /// `--targets`: the same, by `Plan::targets` index.
    pub targets: Vec<Counts>,
    /// Requests written (or attempted).
    pub sent: u64,
    /// Requests sent and not finished yet.
    pub in_flight: u64,
}

impl Tally {
    pub fn of(stats: &Stats, in_flight: u64) -> Tally {
        Tally {
            run: Counts::of(stats),
            targets: stats.targets.iter().map(Counts::of).collect(),
            sent: stats.sent,
            in_flight,
        }
    }

    pub fn add(&mut self, other: &Tally) {
        self.run.add(&other.run);
        if self.targets.len() < other.targets.len() {
            self.targets.resize(other.targets.len(), Counts::default());
        }
        for (mine, theirs) in self.targets.iter_mut().zip(&other.targets) {
            mine.add(theirs);
        }
        self.sent += other.sent;
        self.in_flight += other.in_flight;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_add_up_by_status_and_category() {
        let mut a = Stats::default();
        a.record(Some(200), None);
        a.record(Some(500), Some(ErrorKind::Status));
        a.sent = 3;
        let mut b = Stats::default();
        b.record(Some(200), None);
        b.record(None, Some(ErrorKind::Timeout));
        b.record(Some(404), Some(ErrorKind::Status));
        let mut total = Tally::of(&a, 1);
        total.add(&Tally::of(&b, 0));
        assert_eq!(total.run.requests(), 5);
        assert_eq!(total.run.successes, 2);
        assert_eq!(total.run.errors[ErrorKind::Status as usize], 2);
        assert_eq!(total.run.errors[ErrorKind::Timeout as usize], 1);
        assert_eq!(total.run.statuses, vec![(200, 2), (404, 1), (500, 1)]);
        assert_eq!((total.sent, total.in_flight), (3, 1));
    }
}
