//! When and how a run was made, as every report records it: the measured window's wall-clock
//! start and end, the command line (secrets masked), blast's version, the host, and the
//! settings that decide the numbers. A report saved today says next month what it measured.

use serde::{Deserialize, Serialize};

/// The run's record (`run` in the JSON; reports from before it have none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The measured window's start, and the end of the drain after it: RFC 3339, UTC, with
    /// milliseconds.
    pub started: String,
    pub ended: String,
    /// `--instance`: which of several runs made together this is (by default the host's
    /// name, which in a Kubernetes pod is the pod's); `blast merge` lists its parts by it.
    /// Reports from before it was kept read as empty.
    #[serde(default)]
    pub instance: String,
    /// The command line, each argument shell-quoted where it needs to be, with the values of
    /// secret headers (`Authorization`, `Cookie`, `Proxy-Authorization`, `--secret` names)
    /// shown as `***`.
    pub command: String,
    /// blast's version.
    pub version: String,
    pub host: Host,
    pub settings: Settings,
}

/// The machine blast ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub name: String,
    /// CPUs available to blast.
    pub cpus: usize,
    /// The kernel's release (`uname -r`).
    pub kernel: String,
}

/// The settings that decide the numbers, besides those the report states elsewhere
/// (connections, threads, driver, rate, keep-alive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// `--expect-status`, as status ranges (`200-299`).
    pub expect_status: String,
    /// `--expect-json` and `--expect-body` (a mix's or flow's lines may have their own).
    pub expect_json: Vec<String>,
    pub expect_body: Vec<String>,
    pub timeout_s: f64,
    pub connect_timeout_s: f64,
    pub warmup_s: f64,
    /// The longest the drain may wait (`--drain`, by default `--timeout`).
    pub drain_max_s: f64,
    pub ramp_s: f64,
    pub max_body_bytes: usize,
    /// `-n` (`None`: by duration).
    pub requests: Option<u64>,
}
