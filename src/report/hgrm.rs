//! `--hgrm PATH`: the latency distribution in HdrHistogram's percentile-distribution text
//! format — what HdrHistogram's `outputPercentileDistribution` and wrk2's `--u_latency`
//! print, and what HdrHistogram's plotter reads — in milliseconds. In rate mode the
//! distribution from the actual send goes to a second file (`uncorrected_path`), as the
//! plotter takes one distribution per file.

use std::io::{self, Write};

use crate::results::numbers::Distribution;

/// Nanoseconds per millisecond: the values' unit.
const NS_PER_MS: f64 = 1e6;

/// Writes `d` in the format, values in milliseconds with as many decimals as the histogram
/// has significant digits.
pub fn write(out: &mut dyn Write, d: &Distribution) -> io::Result<()> {
    let p = usize::from(d.sigfig);
    let ms = |ns: f64| ns / NS_PER_MS;
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    for &(value, quantile, total) in &d.rows {
        write!(
            out,
            "{:>12.p$} {quantile:>2.12} {total:>10}",
            ms(value as f64)
        )?;
        if quantile < 1.0 {
            write!(out, " {:>14.2}", 1.0 / (1.0 - quantile))?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "#[Mean    = {:>12.p$}, StdDeviation   = {:>12.p$}]",
        ms(d.mean_ns),
        ms(d.stdev_ns)
    )?;
    writeln!(
        out,
        "#[Max     = {:>12.p$}, Total count    = {:>12}]",
        ms(d.max_ns as f64),
        d.count
    )?;
    writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        d.buckets, d.sub_buckets
    )
}

/// Where the distribution from the actual send goes: `run.hgrm` → `run.uncorrected.hgrm`
/// (`.uncorrected` before the extension, or at the end without one).
pub fn uncorrected_path(path: &str) -> String {
    let std_path = std::path::Path::new(path);
    match (std_path.extension(), std_path.file_stem()) {
        (Some(ext), Some(_)) => {
            let ext = ext.to_string_lossy();
            let stem = &path[..path.len() - ext.len() - 1];
            format!("{stem}.uncorrected.{ext}")
        }
        _ => format!("{path}.uncorrected"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::stats::new_histogram;

    #[test]
    fn writes_the_percentile_distribution_format() {
        let mut hist = new_histogram(3);
        for ms in 1..=100u64 {
            hist.record(ms * 1_000_000).unwrap();
        }
        let mut out = Vec::new();
        write(&mut out, &Distribution::of(&hist)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "       1.000 0.000000000000          1           1.00"
        );
        let last = lines.iter().rfind(|l| !l.starts_with('#')).unwrap();
        assert_eq!(*last, "     100.008 1.000000000000        100");
        // Levels step in percent: 30% is reached at the 30th value, as Java's writer has it.
        assert!(
            text.contains("\n      30.015 0.300000000000         30           1.43\n"),
            "{text}"
        );
        assert!(
            text.contains("#[Mean    =       50.499, StdDeviation   =       28.866]"),
            "{text}"
        );
        assert!(
            text.contains("#[Max     =      100.008, Total count    =          100]"),
            "{text}"
        );
        assert!(text.contains("#[Buckets =           "), "{text}");
        assert!(text.contains("SubBuckets     =         2048]"), "{text}");
        // The percentiles and counts only grow.
        let rows: Vec<(f64, f64, u64)> = lines[2..]
            .iter()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                )
            })
            .collect();
        assert!(
            rows.windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1 && w[0].2 <= w[1].2)
        );
    }

    #[test]
    fn the_uncorrected_file_sits_beside_it() {
        assert_eq!(uncorrected_path("run.hgrm"), "run.uncorrected.hgrm");
        assert_eq!(uncorrected_path("out/run"), "out/run.uncorrected");
        assert_eq!(uncorrected_path("a.b/run.txt"), "a.b/run.uncorrected.txt");
    }
}
