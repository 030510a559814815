//! Parsing and formatting of durations, counts and sizes, with one table per unit kind so
//! that what `--help` accepts and what the report prints stay in step (as wrk's `units.c`).

use std::time::Duration;

/// Duration suffixes, longest first so that `ms` is tried before `m` and `s`.
const DURATION_UNITS: &[(&str, f64)] = &[
    ("ms", 1e-3),
    ("us", 1e-6),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
];

/// Count suffixes: decimal multiples, as users type request counts (`10k`, `1M`). A lower-case
/// `m` is refused (`ambiguous_m`); the upper-case one is matched after lower-casing.
const COUNT_UNITS: &[(&str, f64)] = &[("k", 1e3), ("m", 1e6), ("g", 1e9)];

/// Size suffixes: binary multiples, as in nginx's `client_max_body_size 16m`; `KiB`, `kb`
/// and `k` all mean 1024 (longest first, so `mib` is tried before `b`).
const SIZE_UNITS: &[(&str, f64)] = &[
    ("kib", 1024.0),
    ("mib", 1_048_576.0),
    ("gib", 1_073_741_824.0),
    ("kb", 1024.0),
    ("mb", 1_048_576.0),
    ("gb", 1_073_741_824.0),
    ("k", 1024.0),
    ("m", 1_048_576.0),
    ("g", 1_073_741_824.0),
    ("b", 1.0),
];

/// Parses `30`, `30s`, `1.5s`, `500ms`, `2m`, `1h`. A bare number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let secs = parse_scaled(text, DURATION_UNITS, 1.0)
        .ok_or_else(|| format!("invalid duration '{text}' (use e.g. 30, 30s, 500ms, 2m, 1h)"))?;
    if !(0.0..1e9).contains(&secs) {
        return Err(format!("duration '{text}' is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a time or a range of times: `5ms` (as `(5ms, 5ms)`) or `1s-3s` (low first).
pub fn parse_duration_range(text: &str) -> Result<(Duration, Duration), String> {
    match text.split_once('-') {
        Some((low, high)) => {
            let (low, high) = (parse_duration(low)?, parse_duration(high)?);
            if low > high {
                return Err(format!("'{text}' has its bounds reversed"));
            }
            Ok((low, high))
        }
        None => parse_duration(text).map(|t| (t, t)),
    }
}

/// Parses `1000`, `10k`, `1.5M` (million) into a whole count.
pub fn parse_count(text: &str) -> Result<u64, String> {
    ambiguous_m(text, "millions", &millions)?;
    let value = parse_scaled(&text.to_ascii_lowercase(), COUNT_UNITS, 1.0)
        .ok_or_else(|| format!("invalid count '{text}' (use e.g. 1000, 10k, 1M)"))?;
    if !(0.0..1.8e19).contains(&value) || value.fract() != 0.0 {
        return Err(format!("count '{text}' must be a whole number"));
    }
    Ok(value as u64)
}

/// Parses a size in bytes: `4096`, `64k`, `16M`, `1.5MiB`, `1g`, rounded down to a whole byte.
pub fn parse_size(text: &str) -> Result<u64, String> {
    ambiguous_m(text, "mebibytes", &|n| format!("{n}M or {n}MiB"))?;
    let bytes = parse_scaled(&text.to_ascii_lowercase(), SIZE_UNITS, 1.0)
        .ok_or_else(|| format!("invalid size '{text}' (use e.g. 4096, 64k, 16M, 1g)"))?;
    if !(0.0..1.8e19).contains(&bytes) {
        return Err(format!("size '{text}' is out of range"));
    }
    Ok(bytes as u64)
}

/// A lower-case `m` means minutes in a duration (`-d 2m`), so it means nothing else: where a
/// count, rate or size would take it as a million or a mebibyte, it is refused with the
/// spellings that say which (`what`: the multiple; `write`: them, for the number typed).
fn ambiguous_m(text: &str, what: &str, write: &dyn Fn(&str) -> String) -> Result<(), String> {
    match text.trim().strip_suffix('m') {
        Some(number) => Err(format!(
            "'{text}' is ambiguous: 'm' means minutes in a duration; for {what} write {}",
            write(number)
        )),
        None => Ok(()),
    }
}

/// `10M or 10000000` for `10`, or just `1.5M` where the number is not a plain one.
fn millions(number: &str) -> String {
    match parse_scaled(number, &[], 1.0) {
        Some(n) if (n * 1e6).fract() == 0.0 => format!("{number}M or {}", n * 1e6),
        _ => format!("{number}M"),
    }
}

fn parse_scaled(text: &str, units: &[(&str, f64)], bare: f64) -> Option<f64> {
    let text = text.trim();
    let (number, scale) = units
        .iter()
        .find_map(|(suffix, scale)| text.strip_suffix(suffix).map(|n| (n, *scale)))
        .unwrap_or((text, bare));
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Parses a rate in requests per second: `500`, `2.5k`, `1M`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    ambiguous_m(text, "millions per second", &millions)?;
    parse_scaled(&text.to_ascii_lowercase(), COUNT_UNITS, 1.0)
        .filter(|r| *r > 0.0 && *r < 1e9)
        .ok_or_else(|| format!("invalid rate '{text}' (use e.g. 500, 2.5k)"))
}

/// A Unix time in seconds as RFC 3339 in UTC with milliseconds: `2026-12-07T10:00:00.250Z`.
pub fn format_rfc3339(unix_s: f64) -> String {
    let ms = (unix_s * 1e3).round().max(0.0) as u64;
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = civil_from_days(days as i64);
    let s = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms_of_day % 1000
    )
}

/// A wall-clock instant as Unix seconds, from RFC 3339 (`2026-12-07T10:00:00Z`, with
/// fractional seconds or an offset such as `+01:00`), Unix seconds (`1796637600`), or a
/// duration from `now_unix_s` (`+30s`).
pub fn parse_instant(text: &str, now_unix_s: f64) -> Result<f64, String> {
    let bad = || {
        format!(
            "invalid time '{text}' (use RFC 3339 such as 2026-12-07T10:00:00Z, Unix seconds, \
             or +30s from now)"
        )
    };
    if let Some(after) = text.strip_prefix('+') {
        return Ok(now_unix_s + parse_duration(after).map_err(|_| bad())?.as_secs_f64());
    }
    if let Ok(unix) = text.parse::<f64>() {
        return unix.is_finite().then_some(unix).ok_or_else(bad);
    }
    parse_rfc3339(text).ok_or_else(bad)
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` as Unix seconds (`t` or a space may separate the
/// date and the time, as RFC 3339 allows).
fn parse_rfc3339(text: &str) -> Option<f64> {
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut ymd = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let zone_at = time.find(['Z', 'z', '+', '-'])?;
    let (clock, zone) = time.split_at(zone_at);
    let mut hms = clock.splitn(3, ':');
    let (h, m) = (
        hms.next()?.parse::<i64>().ok()?,
        hms.next()?.parse::<i64>().ok()?,
    );
    let s: f64 = hms.next()?.parse().ok()?;
    let offset_s = match zone {
        "Z" | "z" => 0,
        _ => {
            let (hh, mm) = zone[1..].split_once(':')?;
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (hh.parse::<i64>().ok()? * 3600 + mm.parse::<i64>().ok()? * 60)
        }
    };
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && h < 24 && m < 60;
    if !valid || !(0.0..61.0).contains(&s) {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    Some((days * 86_400 + h * 3600 + m * 60 - offset_s) as f64 + s)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (the inverse of `civil_from_days`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn format_micros(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

/// Formats a byte count with binary prefixes: `512B`, `1.50KiB`, `3.20MiB`.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0}B")
    } else {
        format!("{value:.2}{}", UNITS[unit])
    }
}

/// Formats a rate or count compactly: `950`, `12.3k`, `1.20M`.
pub fn format_count(value: f64) -> String {
    if value < 10_000.0 {
        format!("{value:.0}")
    } else if value < 1e6 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{:.2}M", value / 1e6)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn parses_instants() {
        let now = 1_796_637_000.0;
        let cases: &[(&str, f64)] = &[
            ("2026-12-07T10:00:00Z", 1_796_637_600.0),
            ("2026-12-07T10:00:00.250Z", 1_796_637_600.25),
            ("2026-12-07T11:00:00+01:00", 1_796_637_600.0),
            ("2026-12-07 09:30:00-00:30", 1_796_637_600.0),
            ("1970-01-01T00:00:00Z", 0.0),
            ("2000-03-01T00:00:00Z", 951_868_800.0),
            ("1796637600", 1_796_637_600.0),
            ("+30s", now + 30.0),
            ("+2m", now + 120.0),
        ];
        for (text, want) in cases {
            assert_eq!(super::parse_instant(text, now), Ok(*want), "{text}");
        }
        for bad in [
            "tomorrow",
            "2026-13-01T00:00:00Z",
            "2026-12-07T10:00:00",
            "+soon",
            "",
        ] {
            assert!(super::parse_instant(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_rfc3339_in_utc() {
        assert_eq!(format_rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(1_796_637_600.25), "2026-12-07T10:00:00.250Z");
        assert_eq!(format_rfc3339(951_782_400.0), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            format_rfc3339(4_107_542_399.999_4),
            "2100-02-28T23:59:59.999Z"
        );
    }

    use super::*;

    #[test]
    fn durations() {
        let cases: &[(&str, Option<f64>)] = &[
            ("30", Some(30.0)),
            ("30s", Some(30.0)),
            ("1.5s", Some(1.5)),
            ("500ms", Some(0.5)),
            ("250us", Some(0.000_25)),
            ("2m", Some(120.0)),
            ("1h", Some(3600.0)),
            (" 10s ", Some(10.0)),
            ("", None),
            ("s", None),
            ("-1s", None),
            ("10x", None),
            ("1e3", None),
            ("ten", None),
        ];
        for (text, want) in cases {
            let got = parse_duration(text).ok().map(|d| d.as_secs_f64());
            assert_eq!(got, *want, "parse_duration({text:?})");
        }
    }

    #[test]
    fn counts() {
        let cases: &[(&str, Option<u64>)] = &[
            ("1000", Some(1000)),
            ("10k", Some(10_000)),
            ("10K", Some(10_000)),
            ("1.5M", Some(1_500_000)),
            ("1.5m", None),
            ("2g", Some(2_000_000_000)),
            ("0", Some(0)),
            ("1.5", None),
            ("k", None),
            ("-3", None),
            ("abc", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_count(text).ok(), *want, "parse_count({text:?})");
        }
    }

    #[test]
    fn sizes() {
        let cases: &[(&str, Option<u64>)] = &[
            ("4096", Some(4096)),
            ("100b", Some(100)),
            ("64k", Some(65_536)),
            ("64KiB", Some(65_536)),
            ("64kb", Some(65_536)),
            ("16M", Some(16 << 20)),
            ("16m", None),
            ("16MiB", Some(16 << 20)),
            ("16mib", Some(16 << 20)),
            ("16mb", Some(16 << 20)),
            ("1.5M", Some(1_572_864)),
            ("1g", Some(1 << 30)),
            ("0", Some(0)),
            ("", None),
            ("m", None),
            ("-1m", None),
            ("16q", None),
            ("1e6", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text).ok(), *want, "parse_size({text:?})");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("5k"), Ok(5000.0));
        assert_eq!(parse_rate("2.5K"), Ok(2500.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        assert_eq!(parse_rate("1M"), Ok(1e6));
        for bad in ["0", "", "fast", "-1", "-100"] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
        // `m` is minutes in a duration: never a million.
        let refused = parse_rate("10m").unwrap_err();
        assert!(
            refused.contains("ambiguous") && refused.contains("10M"),
            "{refused}"
        );
        assert!(
            parse_count("1m")
                .unwrap_err()
                .contains("write 1M or 1000000")
        );
        assert!(
            parse_count("1.5m")
                .unwrap_err()
                .contains("write 1.5M or 1500000")
        );
        assert!(
            parse_size("16m")
                .unwrap_err()
                .contains("write 16M or 16MiB")
        );
    }

    #[test]
    fn formats() {
        assert_eq!(format_micros(812.4), "812us");
        assert_eq!(format_micros(1250.0), "1.25ms");
        assert_eq!(format_micros(3_400_000.0), "3.40s");
        assert_eq!(format_bytes(512.0), "512B");
        assert_eq!(format_bytes(1536.0), "1.50KiB");
        assert_eq!(format_bytes(3.2 * 1024.0 * 1024.0), "3.20MiB");
        assert_eq!(format_count(950.0), "950");
        assert_eq!(format_count(12_345.0), "12.3k");
        assert_eq!(format_count(1_200_000.0), "1.20M");
    }
}
