//! The record every report keeps of its run (`results::record::RunRecord`): read here, where
//! the command line and the host are known, once the run's window is.

use crate::results::record::{Host, RunRecord, Settings};
use crate::run::config::Config;
use crate::units::format_rfc3339;

/// Headers whose values a saved report never holds.
const SECRET_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// The record of a run of `config` whose measured window began at `started_unix_s` and whose
/// drain ended `secs` later.
pub fn record(config: &Config, started_unix_s: f64, secs: f64) -> RunRecord {
    RunRecord {
        started: format_rfc3339(started_unix_s),
        ended: format_rfc3339(started_unix_s + secs),
        instance: config.instance.clone(),
        command: masked_command(&config.command, &config.secrets),
        version: env!("CARGO_PKG_VERSION").into(),
        host: host(),
        settings: settings(config),
    }
}

fn settings(config: &Config) -> Settings {
    let expect = &config.expect;
    Settings {
        expect_status: expect.status.describe(),
        expect_json: expect.json.iter().map(|j| j.describe()).collect(),
        expect_body: (expect.body.iter())
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect(),
        timeout_s: config.timeout.as_secs_f64(),
        connect_timeout_s: config.connect_timeout.as_secs_f64(),
        warmup_s: config.warmup.as_secs_f64(),
        drain_max_s: config.drain.unwrap_or(config.timeout).as_secs_f64(),
        ramp_s: config.ramp.as_secs_f64(),
        max_body_bytes: config.max_body,
        requests: config.requests,
    }
}

/// This machine: its name, the CPUs blast may use, its kernel's release.
fn host() -> Host {
    Host {
        name: host_name(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        kernel: read_proc("/proc/sys/kernel/osrelease"),
    }
}

/// The host's name (`--instance`'s default; a pod's name in Kubernetes).
pub fn host_name() -> String {
    read_proc("/proc/sys/kernel/hostname")
}

fn read_proc(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".into(), |s| s.trim().to_string())
}

/// The command line as a shell would take it back, with the values of secret headers (and
/// of `secrets`, more header names) as `***`. (A URL with credentials is refused.)
pub fn masked_command(args: &[String], secrets: &[String]) -> String {
    let secret = |name: &str| {
        let name = name.trim();
        SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name))
            || secrets.iter().any(|s| s.trim().eq_ignore_ascii_case(name))
    };
    let mask_header = |header: &str| match header.split_once(':') {
        Some((name, _)) if secret(name) => format!("{name}: ***"),
        _ => header.to_string(),
    };
    let mut out = Vec::new();
    let mut header_next = false;
    for arg in args {
        let shown = if header_next {
            header_next = false;
            mask_header(arg)
        } else if arg == "-H" || arg == "--header" {
            header_next = true;
            arg.clone()
        } else if let Some(header) = arg.strip_prefix("--header=") {
            format!("--header={}", mask_header(header))
        } else if let Some(header) = arg.strip_prefix("-H").filter(|h| !h.is_empty()) {
            format!("-H{}", mask_header(header))
        } else {
            arg.clone()
        };
        out.push(quoted(&shown));
    }
    out.join(" ")
}

/// `arg` as a shell reads it back: as it is when it holds nothing special, else in single
/// quotes.
fn quoted(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+^".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(args: &[&str], secrets: &[&str]) -> String {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let secrets: Vec<String> = secrets.iter().map(|a| a.to_string()).collect();
        masked_command(&args, &secrets)
    }

    #[test]
    fn secrets_never_reach_the_record() {
        let line = masked(
            &[
                "blast",
                "-H",
                "Authorization: Bearer abc",
                "--header=cookie: s=1",
                "-HProxy-Authorization: Basic x",
                "-H",
                "X-Api-Key: k1",
                "-H",
                "X-Trace: 7",
                "-c",
                "64",
                "http://127.0.0.1:8000/p?q=1",
            ],
            &["x-api-key"],
        );
        assert_eq!(
            line,
            "blast -H 'Authorization: ***' '--header=cookie: ***' '-HProxy-Authorization: ***' \
             -H 'X-Api-Key: ***' -H 'X-Trace: 7' -c 64 'http://127.0.0.1:8000/p?q=1'"
        );
        for secret in ["abc", "s=1", "Basic", "k1"] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
        assert_eq!(masked(&["it's"], &[]), r"'it'\''s'");
    }
}
