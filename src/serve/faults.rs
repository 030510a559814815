//! Fault and latency injection for `blast serve`. Shares are applied deterministically per
//! core (a response is a 500 when `floor((n+1)·share) > floor(n·share)` for the core's n-th
//! response), so a run of N responses on one core injects exactly `floor(N·share)` of each
//! fault, and the server counts what it injected so tests can compare.

use std::time::Duration;

/// Extra time before a response.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Delay {
    #[default]
    None,
    Fixed(Duration),
    /// Uniformly random in `[low, high]`.
    Uniform(Duration, Duration),
}

impl Delay {
    /// Parses `5ms` (fixed) or `1ms-10ms` (uniform).
    pub fn parse(text: &str) -> Result<Delay, String> {
        let (low, high) =
            crate::units::parse_duration_range(text).map_err(|e| format!("--delay: {e}"))?;
        Ok(match text.contains('-') {
            true => Delay::Uniform(low, high),
            false => Delay::Fixed(low),
        })
    }
}

/// The knobs, as given on the command line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    pub delay: Delay,
    /// Share of responses that are `500 Internal Server Error`.
    pub error_share: f64,
    /// Share of the `/predict` responses that are not errors with a bad body, alternately
    /// `{"prediction":2}` and invalid JSON.
    pub bad_body_share: f64,
    /// Close each connection after this many responses (the last one says `Connection: close`).
    pub close_every: Option<u64>,
    /// Every N-th response on a core is held back for `stall` first.
    pub stall_every: Option<u64>,
    pub stall: Duration,
}

/// What happens to one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Error,
    BadPrediction,
    InvalidJson,
}

/// Per-core decision state.
#[derive(Debug)]
pub struct Injector {
    responses: u64,
    /// `/predict` responses that were not errors: the ones a bad body can land on.
    bodies: u64,
    bad_bodies: u64,
    rng: u64,
}

impl Injector {
    pub fn new(seed: u64) -> Injector {
        Injector {
            responses: 0,
            bodies: 0,
            bad_bodies: 0,
            rng: seed | 1,
        }
    }

    /// Decides the fault, and the extra wait, of the next response.
    pub fn next(&mut self, faults: &Faults, predict: bool) -> (Fault, Duration) {
        let n = self.responses;
        self.responses += 1;
        let fires = |n: u64, share: f64| {
            share > 0.0 && ((n + 1) as f64 * share).floor() > (n as f64 * share).floor()
        };
        let fault = if fires(n, faults.error_share) {
            Fault::Error
        } else if predict && fires(self.next_body(), faults.bad_body_share) {
            self.bad_bodies += 1;
            if self.bad_bodies % 2 == 1 {
                Fault::BadPrediction
            } else {
                Fault::InvalidJson
            }
        } else {
            Fault::None
        };
        let stall = faults
            .stall_every
            .is_some_and(|every| (n + 1).is_multiple_of(every));
        let wait = if stall {
            faults.stall
        } else {
            self.delay(faults.delay)
        };
        (fault, wait)
    }

    /// Whether the response just decided is a stall (for counting).
    pub fn stalled(&self, faults: &Faults) -> bool {
        faults
            .stall_every
            .is_some_and(|every| self.responses.is_multiple_of(every))
    }

    fn next_body(&mut self) -> u64 {
        self.bodies += 1;
        self.bodies - 1
    }

    fn delay(&mut self, delay: Delay) -> Duration {
        match delay {
            Delay::None => Duration::ZERO,
            Delay::Fixed(d) => d,
            Delay::Uniform(low, high) => {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let span = (high - low).as_nanos() as u64;
                low + Duration::from_nanos(if span == 0 { 0 } else { self.rng % (span + 1) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_exact() {
        let faults = Faults {
            error_share: 0.1,
            bad_body_share: 0.05,
            ..Faults::default()
        };
        let mut injector = Injector::new(7);
        let decisions: Vec<Fault> = (0..1000).map(|_| injector.next(&faults, true).0).collect();
        let count = |f: Fault| decisions.iter().filter(|d| **d == f).count();
        assert_eq!(count(Fault::Error), 100);
        // Bad bodies are a share of the 900 responses that are not errors.
        assert_eq!(count(Fault::BadPrediction) + count(Fault::InvalidJson), 45);
        assert_eq!(count(Fault::BadPrediction), 23);
    }

    #[test]
    fn stalls_and_delays() {
        let faults = Faults {
            stall_every: Some(4),
            stall: Duration::from_secs(1),
            delay: Delay::parse("1ms-3ms").unwrap(),
            ..Faults::default()
        };
        let mut injector = Injector::new(1);
        for i in 1..=12u64 {
            let (_, wait) = injector.next(&faults, false);
            assert_eq!(injector.stalled(&faults), i % 4 == 0);
            if i % 4 == 0 {
                assert_eq!(wait, Duration::from_secs(1));
            } else {
                assert!(
                    (Duration::from_millis(1)..=Duration::from_millis(3)).contains(&wait),
                    "{wait:?}"
                );
            }
        }
        assert_eq!(
            Delay::parse("5ms").unwrap(),
            Delay::Fixed(Duration::from_millis(5))
        );
        assert!(Delay::parse("9ms-1ms").is_err());
        assert!(Delay::parse("soon").is_err());
    }
}
