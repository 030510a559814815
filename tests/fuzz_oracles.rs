//! Randomized checks of the two parsers that see untrusted bytes, against oracles: the JSON
//! scanner must agree with serde_json on validity, the framer must give the same answer
//! however the bytes are split, never panicking, and a check's remembered verdict must be the
//! one a fresh check gives. Deterministic (seeded xorshift), so a
//! failure reproduces.

use blast::check::KnownBodies;
use blast::check::json_scan;
use blast::check::{Expect, JsonExpectation, StatusSet};
use blast::http::response::Framer;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Deletes, duplicates or replaces a few bytes, with bytes that matter to the grammar.
fn mutate(rng: &mut Rng, input: &[u8], alphabet: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        if out.is_empty() {
            break;
        }
        let at = rng.below(out.len());
        match rng.below(3) {
            0 => {
                out.remove(at);
            }
            1 => out.insert(at, alphabet[rng.below(alphabet.len())]),
            _ => out[at] = alphabet[rng.below(alphabet.len())],
        }
    }
    out
}

#[test]
fn json_scan_agrees_with_serde_json() {
    let seeds: &[&[u8]] = &[
        br#"{"prediction":1}"#,
        br#"{"a":[1,2.5e-3,{"b":null}],"c":"x\"y\u00e9","d":true,"e":false}"#,
        br#"[{"prediction":0},"s",-0.0,1E+2]"#,
        "{\"ü\":\"\\ud83d\\ude00\"}".as_bytes(),
    ];
    let alphabet = b"{}[]\",:0123456789.eE+-tfnul\\ \t\nxa\x01\xc3\xa9\xff";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut checked = 0;
    for _ in 0..40_000 {
        let seed = seeds[rng.below(seeds.len())];
        let body = mutate(&mut rng, seed, alphabet);
        let ours = json_scan::scan(&body, &mut |_, _| {}).is_ok();
        // Into a Value, so that serde_json validates UTF-8 and surrogates as blast does.
        let theirs = serde_json::from_slice::<serde_json::Value>(&body).is_ok();
        assert_eq!(
            ours,
            theirs,
            "disagree on {:?}",
            String::from_utf8_lossy(&body)
        );
        checked += 1;
    }
    assert_eq!(checked, 40_000);
}

fn frame_all(framer_input: &[u8], cuts: &[usize]) -> Result<Option<(u16, bool, Vec<u8>)>, String> {
    let mut framer = Framer::new(false, true, 1 << 16);
    let mut buf = Vec::new();
    let mut fed = 0;
    for &cut in cuts.iter().chain(std::iter::once(&framer_input.len())) {
        buf.extend_from_slice(&framer_input[fed..cut]);
        fed = cut;
        match framer.advance(&mut buf) {
            Ok(Some(r)) => return Ok(Some((r.status, r.keep_alive, buf[r.body()].to_vec()))),
            Ok(None) => {}
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    match framer.finish_eof() {
        Ok(r) => Ok(Some((r.status, r.keep_alive, buf[r.body()].to_vec()))),
        Err(_) => Ok(None),
    }
}

#[test]
fn framer_answers_the_same_however_bytes_are_split() {
    let seeds: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"prediction\":1}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nclose delimited",
    ];
    let alphabet = b"\r\n :;0123456789abcdefHTP/.-xX\x00\xff";
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..20_000 {
        let seed = seeds[rng.below(seeds.len())];
        let wire = mutate(&mut rng, seed, alphabet);
        let whole = frame_all(&wire, &[]);
        let mut cuts: Vec<usize> = (0..rng.below(4))
            .map(|_| rng.below(wire.len() + 1))
            .collect();
        cuts.sort_unstable();
        let split = frame_all(&wire, &cuts);
        // Errors may surface at different points, but success must be identical.
        match (&whole, &split) {
            (Ok(Some(a)), Ok(Some(b))) => {
                assert_eq!(a, b, "{:?} cuts {cuts:?}", String::from_utf8_lossy(&wire))
            }
            (Ok(Some(_)), _) | (_, Ok(Some(_))) => {
                panic!(
                    "{:?} cuts {cuts:?}: {whole:?} vs {split:?}",
                    String::from_utf8_lossy(&wire)
                )
            }
            _ => {}
        }
    }
}

#[test]
fn a_remembered_verdict_is_the_verdict() {
    // Two answers that recur, mixed with small mutations of them over a small alphabet that
    // differ from remembered bodies by a byte or two: the core's recall must never answer for
    // a body it has not seen byte for byte.
    let rule = Expect {
        status: StatusSet::parse("200").unwrap(),
        json: vec![JsonExpectation::parse("prediction=0|1").unwrap()],
        body: Vec::new(),
    };
    let seeds: &[&[u8]] = &[br#"{"prediction":1}"#, br#"{"prediction":0}"#];
    let alphabet = b"{}\":01 .e";
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut known = KnownBodies::default();
    let mut recalled = 0;
    for _ in 0..40_000 {
        let seed = seeds[rng.below(seeds.len())];
        let body = if rng.below(2) == 0 {
            seed.to_vec()
        } else {
            mutate(&mut rng, seed, alphabet)
        };
        recalled += usize::from(known.find(&body).is_some());
        assert_eq!(
            rule.check_recalling(200, &body, &mut known),
            rule.check(200, &body),
            "{:?}",
            String::from_utf8_lossy(&body)
        );
    }
    assert!(recalled > 10_000, "only {recalled} verdicts were recalled");
}
