//! Micro-benchmarks of the per-request hot path, so that regressions show up:
//! response framing, the JSON expectation, and stats recording; and of what the main thread
//! does ten times a second, `--server-pid`'s sample (set `BLAST_BENCH_PID` to a server's
//! master PID to sample it and its workers; otherwise this process is sampled).
//!
//!     cargo bench --bench micro

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use blast::check::KnownBodies;
use blast::check::{Expect, JsonExpectation, StatusSet};
use blast::engine::clock::Stamp;
use blast::http::response::Framer;
use blast::results::series::{CoreSeries, SecondRecorder};
use blast::results::stats::Stats;
use criterion::{Criterion, criterion_group, criterion_main};

const NGINX: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 14:00:00 GMT\r\n\
Content-Type: application/json\r\nContent-Length: 16\r\nConnection: keep-alive\r\n\r\n{\"prediction\":1}";
const CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n\
8\r\n{\"predic\r\n8\r\ntion\": 0\r\n1\r\n}\r\n0\r\n\r\n";
const FASTAPI_BODY: &[u8] = br#"{"model":"iris-v3","version":"2026.11","prediction":1,"scores":[0.02,0.97,0.01],"latency_ms":0.41}"#;

fn framing(c: &mut Criterion) {
    for (name, wire) in [
        ("frame/nginx content-length", NGINX),
        ("frame/chunked", CHUNKED),
    ] {
        let mut framer = Framer::new(false, true, 1 << 20);
        let mut buf = Vec::with_capacity(4096);
        c.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(wire);
                framer.reset();
                black_box(framer.advance(&mut buf).unwrap().unwrap())
            })
        });
    }
}

fn expectation(c: &mut Criterion) {
    let rule = Expect {
        status: StatusSet::parse("200").unwrap(),
        json: vec![JsonExpectation::parse("prediction=0|1").unwrap()],
        body: Vec::new(),
    };
    c.bench_function("check/prediction small body", |b| {
        b.iter(|| rule.check(200, black_box(br#"{"prediction":1}"#)))
    });
    c.bench_function("check/prediction 100-byte body", |b| {
        b.iter(|| rule.check(200, black_box(FASTAPI_BODY)))
    });
    // What a core pays when the server repeats its answers (see `recall`).
    let mut known = KnownBodies::default();
    c.bench_function("check/prediction small body, recalled", |b| {
        b.iter(|| rule.check_recalling(200, black_box(br#"{"prediction":1}"#), &mut known))
    });
    // And when it never does: five bodies in turn, one more than a core remembers, so each
    // is scanned and remembered in place of the oldest.
    let bodies: Vec<Vec<u8>> = (0..5)
        .map(|i| String::from_utf8_lossy(FASTAPI_BODY).replace("0.41", &format!("0.4{i}")))
        .map(String::into_bytes)
        .collect();
    let mut turn = bodies.iter().cycle();
    c.bench_function("check/prediction 100-byte body, never recalled", |b| {
        b.iter(|| rule.check_recalling(200, black_box(turn.next().unwrap()), &mut known))
    });
}

fn recording(c: &mut Criterion) {
    let mut stats = Stats::default();
    let start = Stamp::now();
    let mut seconds = SecondRecorder::new(Arc::new(CoreSeries::default()), start, false);
    let now = start + Duration::from_millis(10);
    let mut latency = 400_000u64;
    c.bench_function("stats/record response + second", |b| {
        b.iter(|| {
            latency = latency.wrapping_mul(6364136223846793005).wrapping_add(1) % 5_000_000 + 1;
            let over = seconds.record(now, Some(black_box(latency)), false);
            stats.over_range += u64::from(over);
            stats.record_response(200, None);
        })
    });
}

fn sampling(c: &mut Criterion) {
    let pid = std::env::var("BLAST_BENCH_PID")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(std::process::id);
    let start = Stamp::now();
    let mut sampler = blast::engine::usage::Sampler::new(vec![pid]);
    c.bench_function("usage/one --server-pid sample", |b| {
        b.iter(|| sampler.sample(Stamp::now(), Some(start), None))
    });
}

criterion_group!(benches, framing, expectation, recording, sampling);
criterion_main!(benches);
