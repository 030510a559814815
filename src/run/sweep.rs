//! Sweeps: `--rates 1000,2000,5000` runs each rate in turn, `-c 10,25,50` each number of
//! users (its knee found by `knee`), and `--find-max --slo ...`
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

/// Below this share of linear scaling, more users no longer buy throughput: going from `u`
/// to `k·u` users raised the throughput by less than half of `k`'s gain.
const KNEE_EFFICIENCY: f64 = 0.5;

/// The knee of a users sweep's curve, `(users, throughput)` in the order run: the index of
/// the last step before the first one whose extra users bought less than half their share
/// of throughput (`KNEE_EFFICIENCY`); there, in a closed loop, latency climbs instead
/// (Little's law: users = throughput × latency). `None` when every step still scaled, or the
/// users did not grow from one step to the next.
pub fn knee(points: &[(f64, f64)]) -> Option<usize> {
    (1..points.len()).find_map(|i| {
        let ((u0, r0), (u1, r1)) = (points[i - 1], points[i]);
        if u1 <= u0 || r0 <= 0.0 {
            return None;
        }
        let efficiency = (r1 / r0 - 1.0) / (u1 / u0 - 1.0);
        (efficiency < KNEE_EFFICIENCY).then_some(i - 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knee_is_where_more_users_stop_buying_throughput() {
        // Linear to 40 users (10/s each), then flat at 420/s.
        let curve = [
            (10.0, 100.0),
            (20.0, 200.0),
            (40.0, 400.0),
            (80.0, 420.0),
            (160.0, 425.0),
        ];
        assert_eq!(knee(&curve), Some(2));
        let linear = [(10.0, 100.0), (20.0, 190.0), (40.0, 390.0)];
        assert_eq!(knee(&linear), None);
        assert_eq!(knee(&[(10.0, 100.0)]), None);
        // Saturated from the start.
        assert_eq!(knee(&[(1.0, 150.0), (2.0, 160.0)]), Some(0));
    }

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
