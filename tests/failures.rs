//! Failures by reason, end to end: every fault a server can inject is named with its reason
//! and a sample of what came, on both drivers, and the reasons add up to the failures.

mod common;

use std::time::Duration;

use blast::results::failures::FailureReason;
use blast::results::summary::Summary;
use blast::serve::faults::Faults;
use common::{Behavior, DRIVERS, Server, builtin, prediction_rule, run_on as run};

/// Every failure is under a listed reason (these runs have few), and each category's
/// reasons add up to its count.
fn reasons_add_up(summary: &Summary) {
    assert_eq!(summary.other_failures, 0, "{:?}", summary.failure_reasons);
    for (category, n) in summary.errors.iter() {
        let listed: u64 = (summary.failure_reasons.iter())
            .filter(|r| r.category == category)
            .map(|r| r.count)
            .sum();
        assert_eq!(listed, n, "{category}: {:?}", summary.failure_reasons);
    }
}

fn only_reason(summary: &Summary) -> &FailureReason {
    match &summary.failure_reasons[..] {
        [reason] => reason,
        other => panic!("one reason expected: {other:?}"),
    }
}

#[test]
fn each_fault_is_named_with_a_sample_of_what_came() {
    // (behavior, its reason, the start of its sample)
    let cases: [(Behavior, &str, &str); 5] = [
        (
            Behavior::Status(503, "{\"detail\":\"busy\"}"),
            "status 503",
            "HTTP/1.1 503 X\n{\"detail\":\"busy\"}",
        ),
        (
            Behavior::Body("{\"prediction\":7}"),
            "body: prediction is 7, expected 0|1",
            "HTTP/1.1 200 OK\n{\"prediction\":7}",
        ),
        (
            Behavior::Garbage,
            "malformed: not an HTTP/1.x status line",
            "SPAM SPAM SPAM\\r\\n\\r\\n",
        ),
        (
            Behavior::Trailing,
            "unsolicited: bytes after a complete response",
            "\\r\\n",
        ),
        (
            Behavior::DropAfter(0),
            "read: the server closed the connection before the response was complete",
            "",
        ),
    ];
    for driver in DRIVERS {
        for (behavior, reason, sample) in &cases {
            let server = Server::start(behavior.clone());
            let mut config = server.config("/");
            // A connection that fails before its first answer backs off (10 ms, doubling):
            // five requests each.
            config.connections = 4;
            config.requests = Some(20);
            config.duration = Some(Duration::from_secs(20));
            config.expect = prediction_rule();
            let summary = run(config, driver);
            let on = format!("{driver:?} {behavior:?}");
            assert_eq!(summary.failures, 20, "{on}: {:?}", summary.errors);
            let named = only_reason(&summary);
            assert_eq!((named.reason.as_str(), named.count), (*reason, 20), "{on}");
            assert!(named.sample.starts_with(sample), "{on}: {:?}", named.sample);
            reasons_add_up(&summary);
        }
    }
}

#[test]
fn a_stall_times_out_and_a_reset_is_a_read_failure() {
    for driver in DRIVERS {
        let server = Server::start(Behavior::Stall);
        let mut config = server.config("/");
        config.connections = 2;
        config.requests = Some(4);
        config.duration = Some(Duration::from_secs(20));
        config.timeout = Duration::from_millis(200);
        let summary = run(config, driver);
        let named = only_reason(&summary);
        assert_eq!(
            (named.reason.as_str(), named.count),
            ("timeout: no complete response within --timeout", 4)
        );

        let server = Server::start(Behavior::Reset);
        let mut config = server.config("/");
        config.connections = 4;
        config.requests = Some(12);
        config.duration = Some(Duration::from_secs(20));
        let summary = run(config, driver);
        assert_eq!(summary.failures, 12, "{:?}", summary.errors);
        // A reset that comes before the read is an error on it; one after, the end of a
        // response that never came.
        for reason in &summary.failure_reasons {
            assert!(
                [
                    "read: Connection reset by peer (os error 104)",
                    "read: the server closed the connection before the response was complete",
                ]
                .contains(&reason.reason.as_str()),
                "{driver:?}: {reason:?}"
            );
        }
        reasons_add_up(&summary);
    }
}

/// `blast serve`'s injected errors and bad bodies, in the proportions it was told, each
/// with its reason; every success is a body that passed.
#[test]
fn injected_faults_are_counted_by_reason() {
    let server = builtin(Faults {
        error_share: 0.1,
        bad_body_share: 0.2,
        ..Faults::default()
    });
    for driver in DRIVERS {
        let mut config = blast::run::config::Config::new(
            blast::run::url::Url::parse(&format!("http://{}/predict", server.addr)).unwrap(),
        );
        config.connections = 4;
        config.requests = Some(2_000);
        config.expect = prediction_rule();
        let summary = run(config, driver);
        reasons_add_up(&summary);
        let count = |reason: &str| {
            let found = summary.failure_reasons.iter().find(|r| r.reason == reason);
            found.map_or(0, |r| r.count)
        };
        let status = count("status 500");
        let two = count("body: prediction is 2, expected 0|1");
        let cut = count("body: not JSON (cut off at byte 15)");
        assert_eq!(
            status + two + cut,
            summary.failures,
            "{:?}",
            summary.failure_reasons
        );
        // One in ten is a 500; of the rest, one in five a bad body, alternately each kind.
        let near = |got: u64, want: u64| got.abs_diff(want) <= want / 5 + 2;
        assert!(near(status, 200), "{status}");
        assert!(near(two + cut, 360), "{two} {cut}");
        assert!(two.abs_diff(cut) <= 4, "{two} {cut}");
        let sample = |reason: &str| {
            let found = summary.failure_reasons.iter().find(|r| r.reason == reason);
            found.unwrap().sample.clone()
        };
        assert_eq!(
            sample("status 500"),
            "HTTP/1.1 500 Internal Server Error\n{\"detail\":\"injected error\"}"
        );
        assert_eq!(
            sample("body: prediction is 2, expected 0|1"),
            "HTTP/1.1 200 OK\n{\"prediction\":2}"
        );
    }
}
