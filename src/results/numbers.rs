//! The numbers of any set of requests (the run, a `--targets` name, a merged run): counts by
//! outcome and category, rates, statuses, and latency figures, derived once from a `Stats`.
//! What every output shows and the objective (`--slo`) judges.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::results::failures::{self, FailureReason};
use crate::results::stats::{ErrorKind, Stats};

/// Latency figures in microseconds, over complete responses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub stdev: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// Responses slower than the histogram's range (one hour).
    pub over_range: u64,
    /// (quantile, latency) pairs from 0 to 1, five per halving of the distance to 1 (the
    /// HdrHistogram percentile distribution), for the HTML report's plot. Not saved: a
    /// report read back derives it again from its histogram.
    #[serde(skip)]
    pub spectrum: Vec<(f64, f64)>,
    /// The latency at each of `TABLE_QUANTILES` (Locust's percentile columns; empty without
    /// responses). Not saved either.
    #[serde(skip)]
    pub table: Vec<f64>,
}

/// The quantiles of a percentile table, as Locust's CSV files have them: 50%, 66%, 75%,
/// 80%, 90%, 95%, 98%, 99%, 99.9%, 99.99% and 100%.
pub const TABLE_QUANTILES: [f64; 11] = [
    0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

/// What any set of requests came to (the run, or one `--targets` name): the numbers every
/// output shows and the objective (`--slo`) judges. Derived from a `Stats`, once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub requests: u64,
    pub successes: u64,
    pub failures: u64,
    /// Percent of finished requests that succeeded (0 when none finished).
    pub success_pct: f64,
    pub rps: f64,
    pub success_rps: f64,
    #[serde(rename = "latency_us")]
    pub latency: Latency,
    /// `--first-byte`: the time to each complete response's first body byte (`None`
    /// without).
    #[serde(rename = "first_byte_us")]
    pub first_byte: Option<Latency>,
    pub errors: ErrorCounts,
    /// The most frequent reasons of the failures (at most `failures::LISTED`), most first,
    /// each with a sample of what came. (Reports from before reasons were kept have none.)
    #[serde(default)]
    pub failure_reasons: Vec<FailureReason>,
    /// Failures under no listed reason: the rarer ones past the list.
    #[serde(default)]
    pub other_failures: u64,
    /// Responses by status, ascending; 600 stands for "out of range".
    #[serde(deserialize_with = "status_codes")]
    pub status_codes: BTreeMap<u16, u64>,
}

impl Results {
    /// The results of `stats`, over `secs` (the window and the drain).
    pub(crate) fn of(stats: &Stats, secs: f64) -> Results {
        let requests = stats.requests();
        let failure_reasons = failures::listed(&stats.reasons);
        let listed: u64 = failure_reasons.iter().map(|r| r.count).sum();
        Results {
            requests,
            successes: stats.successes,
            failures: stats.failures(),
            success_pct: percent(stats.successes, requests),
            rps: requests as f64 / secs,
            success_rps: stats.successes as f64 / secs,
            latency: latency(&stats.latency, stats.over_range),
            first_byte: stats.first_byte.as_ref().map(|h| latency(h, 0)),
            errors: ErrorCounts(stats.errors),
            other_failures: stats.failures().saturating_sub(listed),
            failure_reasons,
            status_codes: stats.status_counts().collect(),
        }
    }
}

impl Results {
    /// The failures of each category under no listed reason, in category order (a report
    /// from before reasons were kept has only these).
    pub fn unlisted_failures(&self) -> Vec<(&'static str, u64)> {
        let listed = |category: &str| -> u64 {
            let reasons = self.failure_reasons.iter();
            reasons
                .filter(|r| r.category == category)
                .map(|r| r.count)
                .sum()
        };
        (self.errors.iter())
            .map(|(category, n)| (category, n.saturating_sub(listed(category))))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Failed requests by category, saved as `{"connect": n, ...}` in `ErrorKind` order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts(pub [u64; ErrorKind::ALL.len()]);

impl ErrorCounts {
    /// `(name, count)` in report order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        ErrorKind::ALL
            .iter()
            .map(|k| (k.name(), self.0[*k as usize]))
    }

    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind as usize]
    }
}

impl Serialize for ErrorCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for ErrorCounts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut saved = BTreeMap::<String, u64>::deserialize(deserializer)?;
        let mut counts = ErrorCounts::default();
        for kind in ErrorKind::ALL {
            counts.0[kind as usize] = match (saved.remove(kind.name()), kind) {
                (Some(n), _) => n,
                // Reports from before the category have none.
                (None, ErrorKind::Unsolicited) => 0,
                (None, _) => return Err(D::Error::missing_field(kind.name())),
            };
        }
        match saved.into_keys().next() {
            None => Ok(counts),
            Some(other) => Err(D::Error::unknown_field(&other, &[])),
        }
    }
}

/// Reads `{"200": n, ...}`. (A flattened part is buffered with its keys as text, which
/// serde does not turn into numbers, so they are parsed here; a key that is not a status is
/// named as an unknown field.)
fn status_codes<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<u16, u64>, D::Error> {
    use serde::de::Error;
    BTreeMap::<String, u64>::deserialize(deserializer)?
        .into_iter()
        .map(|(code, n)| match code.parse() {
            Ok(code) => Ok((code, n)),
            Err(_) => Err(D::Error::unknown_field(&code, &[])),
        })
        .collect()
}

pub(crate) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// The latency figures of `hist`, with `over_range` responses that did not fit it.
/// A histogram's percentile distribution, as HdrHistogram's `outputPercentileDistribution`
/// lists it (wrk2's `--u_latency`, the input of HdrHistogram's plotter): a row at each of five
/// steps per halving of the distance to 100%, then the totals. `--hgrm` writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    /// (value in ns — the highest equivalent to the one iterated to —, quantile, count of the
    /// values up to it), the last at quantile 1.
    pub rows: Vec<(u64, f64, u64)>,
    pub mean_ns: f64,
    pub stdev_ns: f64,
    pub max_ns: u64,
    pub count: u64,
    /// The histogram's shape, which the format states: its buckets, sub-buckets per bucket,
    /// and significant digits (the values' decimals).
    pub buckets: u8,
    pub sub_buckets: u32,
    pub sigfig: u8,
}

impl Distribution {
    /// The rows as HdrHistogram's Java `PercentileIterator` gives them with five ticks per
    /// half distance: percentile levels stepped in percent (0, 10, …, 50, 55, …), each
    /// reported at the first recorded value whose share of the count reaches it, and a last
    /// row at 100%. (The Rust crate's `iter_quantiles` steps in quantiles, whose sums drift:
    /// 0.1 + 0.1 + 0.1 passes 0.3, and its rows differ from the format's other writers.)
    pub fn of(hist: &Histogram<u64>) -> Distribution {
        let count = hist.len();
        let mut rows = Vec::new();
        let (mut level, mut total) = (0.0f64, 0u64);
        for v in hist.iter_recorded() {
            total += v.count_at_value();
            let value = hist.highest_equivalent(v.value_iterated_to());
            let reached = 100.0 * total as f64 / count as f64;
            while reached >= level {
                rows.push((value, level / 100.0, total));
                level += 100.0 / ticks_at(level);
                // The last value reports once, then the 100% row below.
                if total == count {
                    break;
                }
            }
        }
        if count > 0 {
            rows.push((hist.highest_equivalent(hist.max()), 1.0, count));
        }
        Distribution {
            rows,
            mean_ns: hist.mean(),
            stdev_ns: hist.stdev(),
            max_ns: hist.highest_equivalent(hist.max()),
            count,
            buckets: hist.buckets(),
            // A bucket's sub-buckets: the power of two that holds 2 × 10^sigfig values.
            sub_buckets: (2 * 10u32.pow(u32::from(hist.sigfig()))).next_power_of_two(),
            sigfig: hist.sigfig(),
        }
    }
}

/// The steps per 100 percent at percentile `level`: five per half of the distance left to
/// 100, doubling with each halving (as the Java iterator computes them).
fn ticks_at(level: f64) -> f64 {
    let halvings = (100.0 / (100.0 - level)).log2().floor();
    5.0 * 2f64.powf(halvings + 1.0)
}

pub(crate) fn latency(hist: &Histogram<u64>, over_range: u64) -> Latency {
    if hist.is_empty() {
        return Latency {
            over_range,
            ..Latency::default()
        };
    }
    let us = |ns: u64| ns as f64 / 1e3;
    Latency {
        count: hist.len(),
        min: us(hist.min()),
        mean: hist.mean() / 1e3,
        stdev: hist.stdev() / 1e3,
        p50: us(hist.value_at_quantile(0.50)),
        p90: us(hist.value_at_quantile(0.90)),
        p95: us(hist.value_at_quantile(0.95)),
        p99: us(hist.value_at_quantile(0.99)),
        p999: us(hist.value_at_quantile(0.999)),
        max: us(hist.max()),
        over_range,
        spectrum: hist
            .iter_quantiles(5)
            .map(|v| (v.quantile_iterated_to(), us(v.value_iterated_to())))
            .collect(),
        table: (TABLE_QUANTILES.iter())
            .map(|&q| us(hist.value_at_quantile(q)))
            .collect(),
    }
}
