//! The JSON report (`--json`); every field is documented in docs/output.md.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use super::Summary;

fn latency_value(l: &super::Latency) -> Value {
    json!({
        "count": l.count, "min": l.min, "mean": l.mean, "stdev": l.stdev,
        "p50": l.p50, "p90": l.p90, "p95": l.p95, "p99": l.p99, "p999": l.p999, "max": l.max,
        "over_range": l.over_range,
    })
}

fn rate_value(r: &super::RateSummary) -> Value {
    json!({
        "target": r.target,
        "sent": r.sent,
        "send_rate": r.send_rate,
        "shortfall_pct": r.shortfall_pct,
        "send_lag_us": { "p99": r.lag_p99_us, "max": r.lag_max_us },
        "late": r.late,
        "connections_used": r.connections_used,
        "connection_limited": r.connection_limited,
    })
}

/// `{"key": count}` for `(key, count)` pairs.
fn counts<K: ToString>(pairs: &[(K, u64)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, n)| (k.to_string(), json!(n)))
            .collect::<Map<_, _>>(),
    )
}

fn target_value(t: &super::TargetSummary) -> Value {
    json!({
        "name": t.name, "method": t.method, "path": t.path,
        "weight": t.weight, "share_pct": t.share_pct,
        "requests": t.requests, "successes": t.successes, "failures": t.failures,
        "success_pct": t.success_pct, "rps": t.rps, "success_rps": t.success_rps,
        "latency_us": latency_value(&t.latency),
        "errors": counts(&t.errors),
        "status_codes": counts(&t.status_codes),
        "histogram": t.histogram,
        "first_byte_us": t.first_byte.as_ref().map(|f| latency_value(&f.latency)),
        "first_byte_histogram": t.first_byte.as_ref().map(|f| &f.histogram),
    })
}

pub fn to_value(s: &Summary) -> Value {
    // Per-second first-byte times exist with `--first-byte` only (null otherwise, as
    // `first_byte_us` is).
    let timed = s.first_byte.is_some();
    json!({
        "url": s.url,
        "unix_socket": s.unix_socket,
        "tls": s.tls.as_ref().map(|t| json!({ "version": t.version, "cipher": t.cipher })),
        "method": s.method,
        "driver": s.driver,
        "threads": s.threads,
        "connections": {
            "requested": s.connections_requested,
            "keep_alive": s.keep_alive,
            "established": s.connections_established,
            "reconnects": s.reconnects,
            "added": s.connections_added,
            "no_local_port": s.no_local_port,
        },
        "connect_error": s.connect_error,
        "tls_answers": s.tls_answers,
        "duration_s": s.duration_s,
        "drain_s": s.drain_s,
        "interrupted": s.interrupted,
        "requests": s.requests,
        "successes": s.successes,
        "failures": s.failures,
        "success_pct": s.success_pct,
        "rps": s.rps,
        "success_rps": s.success_rps,
        "in_flight": s.in_flight,
        "concurrency": s.concurrency,
        "latency_us": latency_value(&s.latency),
        "connect_us": latency_value(&s.connect),
        "first_byte_us": s.first_byte.as_ref().map(|f| latency_value(&f.latency)),
        "rate": s.rate.as_ref().map(rate_value),
        "latency_uncorrected_us": s.rate.as_ref().map(|r| latency_value(&r.uncorrected)),
        "errors": counts(&s.errors),
        "status_codes": counts(&s.status_codes),
        "targets": s.targets.iter().map(target_value).collect::<Vec<_>>(),
        "bytes_read": s.bytes_read,
        "bytes_written": s.bytes_written,
        "per_second": s.per_second.iter().map(|r| json!({
            "second": r.second, "target": s.rate.as_ref().map(|rate| rate.target), "sent": r.sent,
            "requests": r.requests, "failures": r.failures,
            "p50_us": r.p50_us, "p99_us": r.p99_us,
            "first_byte_p50_us": timed.then_some(r.first_byte_p50_us),
            "first_byte_p99_us": timed.then_some(r.first_byte_p99_us),
        })).collect::<Vec<_>>(),
        "slo": s.slo.as_ref().map(|slo| json!({
            "objective": slo.objective, "met": slo.met(), "missed": slo.missed,
        })),
        "histogram": {
            "unit": "ns",
            "encoding": "hdrhistogram-v2-deflate-base64",
            "data": s.histogram,
            "connect_data": s.connect_histogram,
            "first_byte_data": s.first_byte.as_ref().map(|f| &f.histogram),
            "uncorrected_data": s.rate.as_ref().map(|r| &r.uncorrected_histogram),
            "send_lag_data": s.rate.as_ref().map(|r| &r.send_lag_histogram),
        },
    })
}

pub fn write(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_value(s))?;
    writeln!(out)
}
