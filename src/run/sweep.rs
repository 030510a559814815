//! Rate sweeps: `--rates 1000,2000,5000` runs each rate in turn, and `--find-max --slo ...`
//! searches for the highest rate that meets a service-level objective (`crate::results::slo`) —
//! doubling from the start rate until a step fails, then bisecting between the last good and
//! first bad rate.

/// The `--find-max` search: which rate to try next, given the results so far.
#[derive(Debug, Clone)]
pub struct Search {
    /// Highest rate that met the objective, lowest that did not.
    good: Option<f64>,
    bad: Option<f64>,
    next: f64,
    bisections_left: u32,
}

/// Bisection steps after the first failing rate: the answer is within 1/16 of the bracket.
const BISECTIONS: u32 = 4;
/// Doubling steps before giving up on finding a failing rate.
const MAX_DOUBLINGS: u32 = 20;

impl Search {
    pub fn new(start: f64) -> Search {
        Search {
            good: None,
            bad: None,
            next: start,
            bisections_left: BISECTIONS + MAX_DOUBLINGS,
        }
    }

    /// The next rate to run, or `None` when the search is done.
    pub fn next_rate(&self) -> Option<f64> {
        (self.bisections_left > 0).then_some(self.next)
    }

    /// Records the outcome of the step at `rate`.
    pub fn record(&mut self, rate: f64, met: bool) {
        self.bisections_left -= 1;
        if met {
            self.good = Some(rate);
        } else {
            self.bad = Some(rate);
        }
        match (self.good, self.bad) {
            (_, None) => self.next = rate * 2.0,
            (None, Some(bad)) => self.next = bad / 2.0,
            (Some(good), Some(bad)) => {
                self.bisections_left = self.bisections_left.min(BISECTIONS);
                self.next = (good + bad) / 2.0;
            }
        }
        if self.next < 1.0 {
            self.bisections_left = 0;
        }
    }

    /// The highest rate that met the objective.
    pub fn best(&self) -> Option<f64> {
        self.good
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_doubles_then_bisects() {
        // A server that meets the objective up to 3,000/s.
        let capacity = 3_000.0;
        let mut search = Search::new(500.0);
        let mut tried = Vec::new();
        while let Some(rate) = search.next_rate() {
            tried.push(rate);
            search.record(rate, rate <= capacity);
        }
        assert_eq!(&tried[..4], &[500.0, 1_000.0, 2_000.0, 4_000.0]);
        let best = search.best().unwrap();
        assert!(
            best <= capacity && best >= capacity * 0.9,
            "best {best}, tried {tried:?}"
        );
        assert_eq!(tried.len(), 4 + BISECTIONS as usize);

        let mut search = Search::new(1_000.0);
        search.record(1_000.0, false);
        assert_eq!(
            search.next_rate(),
            Some(500.0),
            "halves when the start rate fails"
        );
    }
}
