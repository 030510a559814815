//! Rate sweeps: `--rates 1000,2000,5000` runs each rate in turn, and `--find-max --slo ...`
//! searches for the highest rate that meets a service-level objective — doubling from the
//! start rate until a step fails, then bisecting between the last good and first bad rate.

use crate::report::Summary;

/// One bound of a service-level objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// A latency percentile (0.5, 0.9, 0.95, 0.99, 0.999) below this many microseconds.
    Latency { quantile: f64, max_us: f64 },
    /// The share of failed requests below this percentage.
    Errors { max_pct: f64 },
}

/// Every bound must hold, and the client must have kept the rate (within 1%).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slo(pub Vec<Bound>);

impl Slo {
    /// Parses `p99<100ms`, `p50<20ms,errors<1%` (`<=` is accepted as `<`).
    pub fn parse(text: &str) -> Result<Slo, String> {
        let bad = |part: &str| format!("invalid --slo '{part}' (use e.g. p99<100ms or errors<1%)");
        let mut bounds = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (name, value) = part
                .split_once("<=")
                .or_else(|| part.split_once('<'))
                .ok_or_else(|| bad(part))?;
            let bound = match name.trim() {
                "errors" => {
                    let pct = value
                        .trim()
                        .strip_suffix('%')
                        .and_then(|v| v.trim().parse::<f64>().ok());
                    Bound::Errors {
                        max_pct: pct
                            .filter(|p| (0.0..=100.0).contains(p))
                            .ok_or_else(|| bad(part))?,
                    }
                }
                quantile => {
                    let quantile = match quantile {
                        "p50" => 0.5,
                        "p90" => 0.9,
                        "p95" => 0.95,
                        "p99" => 0.99,
                        "p999" | "p99.9" => 0.999,
                        _ => return Err(bad(part)),
                    };
                    let max = crate::units::parse_duration(value.trim()).map_err(|_| bad(part))?;
                    Bound::Latency {
                        quantile,
                        max_us: max.as_secs_f64() * 1e6,
                    }
                }
            };
            bounds.push(bound);
        }
        Ok(Slo(bounds))
    }

    /// Whether a step met the objective; `Err` says which bound it missed.
    pub fn check(&self, step: &Summary) -> Result<(), String> {
        if let Some(rate) = &step.rate
            && rate.shortfall_pct > 1.0
        {
            return Err(format!("sent {:.1}% under the rate", rate.shortfall_pct));
        }
        for bound in &self.0 {
            match *bound {
                Bound::Latency { quantile, max_us } => {
                    let got = percentile(step, quantile);
                    if got >= max_us {
                        return Err(format!(
                            "p{} {:.0}us >= {:.0}us",
                            quantile * 100.0,
                            got,
                            max_us
                        ));
                    }
                }
                Bound::Errors { max_pct } => {
                    let pct = 100.0 - step.success_pct;
                    if step.requests == 0 || pct >= max_pct {
                        return Err(format!("errors {pct:.2}% >= {max_pct}%"));
                    }
                }
            }
        }
        Ok(())
    }
}

fn percentile(step: &Summary, quantile: f64) -> f64 {
    let l = &step.latency;
    match quantile {
        q if q <= 0.5 => l.p50,
        q if q <= 0.9 => l.p90,
        q if q <= 0.95 => l.p95,
        q if q <= 0.99 => l.p99,
        _ => l.p999,
    }
}

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
    fn parses_objectives() {
        let slo = Slo::parse("p99<100ms, errors<1%").unwrap();
        assert_eq!(
            slo.0,
            vec![
                Bound::Latency {
                    quantile: 0.99,
                    max_us: 100_000.0
                },
                Bound::Errors { max_pct: 1.0 }
            ]
        );
        assert_eq!(
            Slo::parse("p50<=2ms").unwrap().0,
            vec![Bound::Latency {
                quantile: 0.5,
                max_us: 2_000.0
            }]
        );
        for bad in ["p98<1ms", "p99>1ms", "errors<5", "p99<soon", ""] {
            assert!(Slo::parse(bad).is_err(), "{bad:?}");
        }
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
