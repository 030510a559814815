//! Service-level objectives (`--slo 'p99<100ms,errors<1%,rps>5k'`): bounds on a run's
//! latency percentiles, error share and throughput. A run judged against one reports whether
//! it met it and exits 1 when it did not (a gate for CI); `--find-max` searches for the
//! highest rate that meets one. With `--targets`, a bound may name one target of the mix
//! (`predict:p99<100ms`) and then holds for that target's requests alone.

use crate::results::numbers::{Latency, Results};
use crate::units::format_micros;

/// One bound of a service-level objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// A latency percentile (0.5, 0.9, 0.95, 0.99, 0.999; 1.0 is the maximum) below this
    /// many microseconds.
    Latency { quantile: f64, max_us: f64 },
    /// The same, on the time to the first body byte (`first_byte_p99<300ms`; `--first-byte`).
    FirstByte { quantile: f64, max_us: f64 },
    /// The share of failed requests below this percentage.
    Errors { max_pct: f64 },
    /// Successful responses per second above this many.
    Throughput { min_rps: f64 },
}

/// Every bound must hold, and in rate mode the client must have kept the rate (within 1%).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slo {
    pub bounds: Vec<Scoped>,
    /// As typed, for the report.
    pub text: String,
}

/// A bound on the whole run, or on one target of a `--targets` mix.
#[derive(Debug, Clone, PartialEq)]
pub struct Scoped {
    pub target: Option<String>,
    pub bound: Bound,
}

/// What names a bound on the time to the first body byte: `first_byte_p99`.
const FIRST_BYTE: &str = "first_byte_";

/// The percentiles a latency bound may name, with the quantile each stands for.
const PERCENTILES: &[(&str, f64)] = &[
    ("p50", 0.5),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p999", 0.999),
    ("max", 1.0),
];

impl Slo {
    /// Parses `p99<100ms`, `p50<20ms,errors<1%`, `rps>5k` (`<=` and `>=` are accepted as
    /// `<` and `>`); a bound after `NAME:` is on target NAME of a mix.
    pub fn parse(text: &str) -> Result<Slo, String> {
        let bounds = text
            .split(',')
            .map(|part| parse_scoped(part.trim()))
            .collect::<Result<_, _>>()?;
        Ok(Slo {
            bounds,
            text: text.trim().to_string(),
        })
    }

    /// Whether any bound is on throughput, which a rate search cannot use: a low rate
    /// misses it by design.
    pub fn bounds_throughput(&self) -> bool {
        self.bounds
            .iter()
            .any(|b| matches!(b.bound, Bound::Throughput { .. }))
    }

    /// Whether any bound is on the time to the first body byte (which `--first-byte` times).
    pub fn bounds_first_byte(&self) -> bool {
        self.bounds
            .iter()
            .any(|b| matches!(b.bound, Bound::FirstByte { .. }))
    }

    /// The objective of a run of `target` alone (`--each`): its own bounds and the unscoped
    /// ones, unscoped.
    pub fn for_target(&self, target: &str) -> Slo {
        let bounds = self
            .bounds
            .iter()
            .filter(|b| b.target.as_deref().is_none_or(|t| t == target));
        Slo {
            bounds: bounds
                .map(|b| Scoped {
                    target: None,
                    bound: b.bound,
                })
                .collect(),
            text: self.text.clone(),
        }
    }

    /// The first target a bound names that is not among `names` (the mix's), if any.
    pub fn unknown_target<'a>(&'a self, names: &[&str]) -> Option<&'a str> {
        self.bounds
            .iter()
            .filter_map(|b| b.target.as_deref())
            .find(|t| !names.contains(t))
    }

    /// Whether a run met the objective; `Err` says which bound it missed. `shortfall_pct`:
    /// how far its sends fell under `--rate`; `target` finds a `--targets` name's results.
    pub fn check<'a>(
        &self,
        run: &Results,
        shortfall_pct: Option<f64>,
        target: impl Fn(&str) -> Option<&'a Results>,
    ) -> Result<(), String> {
        if let Some(pct) = shortfall_pct
            && pct > 1.0
        {
            return Err(format!("sent {pct:.1}% under the rate"));
        }
        self.bounds.iter().try_for_each(|scoped| {
            let Some(name) = &scoped.target else {
                return check(scoped.bound, run);
            };
            // The command line and `blast merge` refuse names the mix lacks; a report read
            // back from elsewhere may still lack one.
            let target = target(name).ok_or_else(|| format!("{name}: no such target"))?;
            check(scoped.bound, target).map_err(|why| format!("{name}: {why}"))
        })
    }
}

/// `[NAME:]bound`. A bound has no colon, so the last one ends the name (which may hold
/// colons, but no comma, `<` or `>`).
fn parse_scoped(part: &str) -> Result<Scoped, String> {
    let (target, bound) = match part.rsplit_once(':') {
        Some((name, bound)) => {
            let name = name.trim();
            if name.is_empty() || name.contains(['<', '>']) {
                return Err(format!(
                    "invalid --slo '{part}' (a target's bound is NAME:bound, e.g. predict:p99<100ms)"
                ));
            }
            (Some(name.to_string()), bound.trim())
        }
        None => (None, part),
    };
    Ok(Scoped {
        target,
        bound: parse_bound(bound)?,
    })
}

fn parse_bound(part: &str) -> Result<Bound, String> {
    let bad = || {
        format!(
            "invalid --slo '{part}' (use e.g. p99<100ms, max<1s, first_byte_p99<300ms, errors<1% \
             or rps>5000)"
        )
    };
    if let Some((name, value)) = split(part, '>') {
        return match name {
            "rps" => crate::units::parse_rate(value)
                .map(|min_rps| Bound::Throughput { min_rps })
                .map_err(|_| bad()),
            _ => Err(bad()),
        };
    }
    let (name, value) = split(part, '<').ok_or_else(bad)?;
    if name == "errors" {
        let pct = value
            .strip_suffix('%')
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|p| (0.0..=100.0).contains(p))
            .ok_or_else(bad)?;
        return Ok(Bound::Errors { max_pct: pct });
    }
    let (first_byte, label) = match name.strip_prefix(FIRST_BYTE) {
        Some(label) => (true, label),
        None => (false, name),
    };
    let quantile = PERCENTILES
        .iter()
        .find(|(known, _)| *known == label)
        .map(|(_, q)| *q)
        .ok_or_else(bad)?;
    let max_us = crate::units::parse_duration(value)
        .map_err(|_| bad())?
        .as_secs_f64()
        * 1e6;
    Ok(if first_byte {
        Bound::FirstByte { quantile, max_us }
    } else {
        Bound::Latency { quantile, max_us }
    })
}

/// `name<value` or `name<=value` (with `<` as `op`), both sides trimmed.
fn split(part: &str, op: char) -> Option<(&str, &str)> {
    let (name, value) = part.split_once(op)?;
    let value = value.strip_prefix('=').unwrap_or(value);
    Some((name.trim(), value.trim()))
}

fn check(bound: Bound, run: &Results) -> Result<(), String> {
    match bound {
        Bound::Latency { quantile, max_us } => {
            check_percentile("", Some(&run.latency), quantile, max_us)?;
        }
        Bound::FirstByte { quantile, max_us } => {
            check_percentile(FIRST_BYTE, run.first_byte.as_ref(), quantile, max_us)?;
        }
        Bound::Errors { max_pct } => {
            let pct = 100.0 - run.success_pct;
            if run.requests == 0 || pct >= max_pct {
                return Err(format!("errors {pct:.2}% >= {max_pct}%"));
            }
        }
        Bound::Throughput { min_rps } => {
            if run.success_rps <= min_rps {
                return Err(format!("rps {:.1} <= {min_rps}", run.success_rps));
            }
        }
    }
    Ok(())
}

/// A percentile bound on `latency` (`None`: not timed), named `prefix` + its label.
fn check_percentile(
    prefix: &str,
    latency: Option<&Latency>,
    quantile: f64,
    max_us: f64,
) -> Result<(), String> {
    let label = PERCENTILES
        .iter()
        .find(|(_, q)| *q == quantile)
        .map_or("p?", |(label, _)| label);
    let Some(latency) = latency else {
        return Err(format!(
            "{prefix}{label}: first bytes were not timed (--first-byte)"
        ));
    };
    if latency.count == 0 {
        return Err(format!("{prefix}{label}: no complete responses"));
    }
    let got = percentile(latency, quantile);
    if got >= max_us {
        return Err(format!(
            "{prefix}{label} {} >= {}",
            format_micros(got),
            format_micros(max_us)
        ));
    }
    Ok(())
}

fn percentile(l: &Latency, quantile: f64) -> f64 {
    match quantile {
        q if q <= 0.5 => l.p50,
        q if q <= 0.9 => l.p90,
        q if q <= 0.95 => l.p95,
        q if q <= 0.99 => l.p99,
        q if q <= 0.999 => l.p999,
        _ => l.max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::stats::{ErrorKind, Stats, record_latency};
    use crate::results::summary::{RunOutcome, Summary};
    use crate::run::config::Config;
    use crate::run::plan::Plan;
    use crate::run::url::Url;
    use std::time::Duration;

    /// A one-second closed-loop run: a response for each latency (in ms), the first
    /// `failed` of them failing their status check; judged against `slo`.
    fn judged(latencies_ms: &[u64], failed: usize, slo: &str) -> Option<String> {
        let mut config = Config::new(Url::parse("http://127.0.0.1:8000/").unwrap());
        config.slo = Some(Slo::parse(slo).unwrap());
        let mut stats = Stats::default();
        for (i, ms) in latencies_ms.iter().enumerate() {
            record_latency(&mut stats.latency, ms * 1_000_000);
            stats.record_response(200, (i < failed).then_some(ErrorKind::Status));
        }
        Summary::of(Plan::new(&config).unwrap().info, one_second(stats))
            .slo
            .unwrap()
            .missed
    }

    /// A one-second run's outcome.
    fn one_second(stats: Stats) -> RunOutcome {
        RunOutcome {
            stats,
            seconds: Vec::new(),
            server: None,
            client: None,
            driver: "epoll",
            threads: 1,
            elapsed: Duration::from_secs(1),
            drain: Duration::ZERO,
            interrupted: false,
            started_unix_s: None,
        }
    }

    #[test]
    fn a_run_meets_every_bound_or_names_the_first_it_missed() {
        let hundred: Vec<u64> = (1..=100).collect();
        let cases: &[(&[u64], usize, &str, Option<&str>)] = &[
            (&hundred, 0, "p50<60ms,p99<100ms", None),
            // The bound is on the exact value (50.004 ms), not on the rounded one.
            (&hundred, 0, "p50<50ms", Some("p50 50.00ms >= 50.00ms")),
            (
                &hundred,
                0,
                "p90<80ms,p50<10ms",
                Some("p90 90.05ms >= 80.00ms"),
            ),
            (&hundred, 0, "p95<95ms", Some("p95 95.03ms >= 95.00ms")),
            (
                &hundred,
                0,
                "p99.9<100ms",
                Some("p99.9 100.01ms >= 100.00ms"),
            ),
            (&hundred, 0, "max<101ms", None),
            (&hundred, 0, "max<100ms", Some("max 100.01ms >= 100.00ms")),
            (&hundred, 2, "errors<3%", None),
            (&hundred, 2, "errors<2%", Some("errors 2.00% >= 2%")),
            (&hundred, 2, "rps>97", None),
            (&hundred, 2, "rps>98", Some("rps 98.0 <= 98")),
            (&[], 0, "p99<1s", Some("p99: no complete responses")),
            (&[], 0, "errors<100%", Some("errors 100.00% >= 100%")),
        ];
        for (latencies, failed, slo, missed) in cases {
            assert_eq!(
                judged(latencies, *failed, slo).as_deref(),
                *missed,
                "{slo} over {} responses",
                latencies.len()
            );
        }
    }

    /// `first_byte_pNN` bounds judge the first-byte times (here a tenth of each latency),
    /// and say so when the run did not time them.
    #[test]
    fn first_byte_bounds_judge_the_first_byte_times() {
        let verdict = |timed: bool, slo: &str| {
            let mut config = Config::new(Url::parse("http://127.0.0.1:8000/").unwrap());
            config.slo = Some(Slo::parse(slo).unwrap());
            let mut stats = Stats::default();
            stats.first_byte = timed.then(|| crate::results::stats::new_histogram(3));
            for ms in 1..=100u64 {
                record_latency(&mut stats.latency, ms * 1_000_000);
                if let Some(hist) = &mut stats.first_byte {
                    record_latency(hist, ms * 100_000);
                }
                stats.record_response(200, None);
            }
            Summary::of(Plan::new(&config).unwrap().info, one_second(stats))
                .slo
                .unwrap()
                .missed
        };
        let cases: &[(bool, &str, Option<&str>)] = &[
            (true, "first_byte_p99<10ms,p99<101ms", None),
            (
                true,
                "first_byte_p99<9ms",
                Some("first_byte_p99 9.90ms >= 9.00ms"),
            ),
            (
                true,
                "first_byte_max<10ms",
                Some("first_byte_max 10.00ms >= 10.00ms"),
            ),
            (true, "first_byte_p99.9 < 1s", None),
            (
                false,
                "p99<1s,first_byte_p50<1s",
                Some("first_byte_p50: first bytes were not timed (--first-byte)"),
            ),
        ];
        for (timed, slo, missed) in cases {
            assert_eq!(
                verdict(*timed, slo).as_deref(),
                *missed,
                "{slo} timed {timed}"
            );
            assert!(Slo::parse(slo).unwrap().bounds_first_byte(), "{slo}");
        }
        assert!(!Slo::parse("p99<1s").unwrap().bounds_first_byte());
        for bad in ["first_byte<1s", "first_byte_p98<1s", "first_byte_errors<1%"] {
            assert!(Slo::parse(bad).is_err(), "{bad}");
        }
    }

    /// The bounds of an objective without target names.
    fn unscoped(slo: &Slo) -> Vec<Bound> {
        assert!(slo.bounds.iter().all(|b| b.target.is_none()), "{slo:?}");
        slo.bounds.iter().map(|b| b.bound).collect()
    }

    #[test]
    fn bounds_may_name_a_target() {
        let slo = Slo::parse("p99<1s, predict:p99<100ms, GET /a:b: errors<1%").unwrap();
        let scoped: Vec<(Option<&str>, Bound)> = slo
            .bounds
            .iter()
            .map(|b| (b.target.as_deref(), b.bound))
            .collect();
        let p99 = |max_us| Bound::Latency {
            quantile: 0.99,
            max_us,
        };
        assert_eq!(
            scoped,
            [
                (None, p99(1e6)),
                (Some("predict"), p99(1e5)),
                (Some("GET /a:b"), Bound::Errors { max_pct: 1.0 }),
            ]
        );
        assert_eq!(slo.unknown_target(&["predict", "GET /a:b"]), None);
        assert_eq!(slo.unknown_target(&["predict"]), Some("GET /a:b"));
        assert_eq!(slo.unknown_target(&[]), Some("predict"));
    }

    /// A target's bound is judged on that target's requests alone, and its miss names it.
    #[test]
    fn a_target_bound_judges_that_target() {
        let mut config = Config::new(Url::parse("http://127.0.0.1:8000/").unwrap());
        let lines =
            "{\"name\": \"slow\", \"path\": \"/slow\"}\n{\"name\": \"fast\", \"path\": \"/fast\"}";
        let defaults = crate::run::mix::Defaults {
            url: &config.url,
            headers: &[],
            expect: &config.expect,
        };
        config.mix = Some(crate::run::mix::parse(lines, &defaults).unwrap());
        let mut stats = Stats::default();
        stats.targets = vec![Stats::target(), Stats::target()];
        // slow: 50 responses of 100 ms, one of them a 500; fast: 50 of 1 ms.
        for i in 0..100u64 {
            let (target, ms) = if i % 2 == 0 { (0, 100) } else { (1, 1) };
            let failure = (i == 0).then_some(ErrorKind::Status);
            let respond = |s: &mut Stats| {
                record_latency(&mut s.latency, ms * 1_000_000);
                s.record_response(if i == 0 { 500 } else { 200 }, failure);
            };
            respond(&mut stats.targets[target]);
            respond(&mut stats);
        }
        let verdict = |slo: &str| {
            let mut config = config.clone();
            config.slo = Some(Slo::parse(slo).unwrap());
            let outcome = one_second(stats.clone());
            Summary::of(Plan::new(&config).unwrap().info, outcome)
                .slo
                .unwrap()
                .missed
        };
        let cases: &[(&str, Option<&str>)] = &[
            ("fast:p99<2ms", None),
            // The run's p99 is slow's.
            ("p99<2ms", Some("p99 100.01ms >= 2.00ms")),
            ("slow:p99<2ms", Some("slow: p99 100.14ms >= 2.00ms")),
            ("fast:errors<1%", None),
            ("errors<1%", Some("errors 1.00% >= 1%")),
            ("slow:errors<1%", Some("slow: errors 2.00% >= 1%")),
            ("fast:rps>49,slow:rps>49", Some("slow: rps 49.0 <= 49")),
        ];
        for (slo, missed) in cases {
            assert_eq!(verdict(slo).as_deref(), *missed, "{slo}");
        }
    }

    #[test]
    fn parses_objectives() {
        let slo = Slo::parse(" p99<100ms, errors<1%, rps>=2.5k ").unwrap();
        assert_eq!(
            unscoped(&slo),
            vec![
                Bound::Latency {
                    quantile: 0.99,
                    max_us: 100_000.0
                },
                Bound::Errors { max_pct: 1.0 },
                Bound::Throughput { min_rps: 2_500.0 },
            ]
        );
        assert_eq!(slo.text, "p99<100ms, errors<1%, rps>=2.5k");
        assert!(slo.bounds_throughput());
        let cases: &[(&str, f64, f64)] = &[
            ("p50<=2ms", 0.5, 2_000.0),
            ("p99.9<1s", 0.999, 1e6),
            ("p999 < 1s", 0.999, 1e6),
            ("max<250us", 1.0, 250.0),
        ];
        for (text, quantile, max_us) in cases {
            let slo = Slo::parse(text).unwrap();
            assert_eq!(
                unscoped(&slo),
                vec![Bound::Latency {
                    quantile: *quantile,
                    max_us: *max_us
                }],
                "{text}"
            );
            assert!(!slo.bounds_throughput());
        }
        for bad in [
            "p98<1ms",
            "p99>1ms",
            "errors<5",
            "errors<101%",
            "p99<soon",
            "rps<5",
            "rps>0",
            "rps>fast",
            "",
            "p99<1ms,",
            ":p99<1ms",
            "predict:",
            "predict:p98<1ms",
            "p99<1:30",
        ] {
            let error = Slo::parse(bad).unwrap_err();
            assert!(error.starts_with("invalid --slo"), "{bad:?}: {error}");
        }
    }
}
