//! `--server-pid`: what the server's processes used during the measured window, per second
//! and in all, as the sampler (`engine/usage.rs`) gathered it and the report saves it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::results::series::SecondRow;

/// One second of samples: the CPU time the processes used over the wall time sampled, and
/// their resident memory at each sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SecondUsage {
    pub cpu_ns: u64,
    pub wall_ns: u64,
    pub rss_max: u64,
    pub rss_sum: u64,
    pub samples: u64,
}

impl SecondUsage {
    pub fn add(&mut self, cpu_ns: u64, wall_ns: u64, rss: u64) {
        self.merge(&SecondUsage {
            cpu_ns,
            wall_ns,
            rss_max: rss,
            rss_sum: rss,
            samples: 1,
        });
    }

    /// Adds another stretch of samples of the same processes.
    pub fn merge(&mut self, other: &SecondUsage) {
        self.cpu_ns += other.cpu_ns;
        self.wall_ns += other.wall_ns;
        self.rss_max = self.rss_max.max(other.rss_max);
        self.rss_sum += other.rss_sum;
        self.samples += other.samples;
    }

    /// CPU as a percentage of one core (200: two cores busy).
    pub fn cpu_pct(&self) -> f64 {
        100.0 * self.cpu_ns as f64 / self.wall_ns.max(1) as f64
    }
}

/// The sampler's record of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRecord {
    /// By second of the measured window (the drain's samples in its last second).
    pub seconds: Vec<SecondUsage>,
    pub summary: ServerUsage,
}

/// The server's CPU and memory over the run, as the report saves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerUsage {
    /// The PIDs given (`--server-pid`); their descendants were sampled too.
    pub pids: Vec<u32>,
    /// The most processes alive at one sample (the PIDs and their descendants).
    pub processes: u64,
    /// Samples taken in the measured window (every 100 ms).
    pub samples: u64,
    /// CPU as a percentage of one core: the average over the window, and the busiest second.
    pub cpu_avg_pct: f64,
    pub cpu_max_pct: f64,
    /// Resident memory of all the processes together: the average sample, and the largest.
    pub rss_avg_bytes: u64,
    pub rss_max_bytes: u64,
    /// A given PID was gone this many seconds into the window (0: before it began).
    pub exited_at_s: Option<f64>,
}

/// blast's own cores over the measured window: how busy each core's thread was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientUsage {
    /// Each core's CPU time over the window, in percent of that core.
    pub cores_busy_pct: Vec<f64>,
    /// The busiest of them.
    pub busiest_pct: f64,
}

impl ClientUsage {
    /// A core this busy may have held the run back: it had no time left to send more.
    pub const LIMIT_PCT: f64 = 90.0;

    pub fn of(busy_ns: &[u64], window_ns: u64) -> ClientUsage {
        let cores_busy_pct: Vec<f64> = busy_ns
            .iter()
            .map(|&ns| 100.0 * ns as f64 / window_ns.max(1) as f64)
            .collect();
        let busiest_pct = cores_busy_pct.iter().copied().fold(0.0, f64::max);
        ClientUsage {
            cores_busy_pct,
            busiest_pct,
        }
    }

    /// The cores of runs merged together (`blast merge`): all of them.
    pub fn add(&mut self, other: &ClientUsage) {
        self.cores_busy_pct.extend_from_slice(&other.cores_busy_pct);
        self.busiest_pct = self.busiest_pct.max(other.busiest_pct);
    }

    /// The busiest core, when it was busy enough to have been the limit.
    pub fn limiting(&self) -> Option<(usize, f64)> {
        let core = self
            .cores_busy_pct
            .iter()
            .position(|&p| p == self.busiest_pct)?;
        (self.busiest_pct >= Self::LIMIT_PCT).then_some((core, self.busiest_pct))
    }
}

impl UsageRecord {
    /// Puts each second's usage into the run's row of that second.
    pub fn fill(&self, rows: &mut [SecondRow]) {
        for row in rows {
            let usage = self.seconds.get(row.second as usize);
            if let Some(usage) = usage.filter(|u| u.samples > 0) {
                row.server_cpu_pct = Some(usage.cpu_pct());
                row.server_rss_bytes = Some(usage.rss_max);
            }
        }
    }
}

impl ServerUsage {
    pub fn of(
        pids: &[u32],
        processes: u64,
        seconds: &[SecondUsage],
        exited_at: Option<Duration>,
    ) -> ServerUsage {
        let mut all = SecondUsage::default();
        seconds.iter().for_each(|s| all.merge(s));
        let busiest = seconds.iter().map(SecondUsage::cpu_pct).fold(0.0, f64::max);
        ServerUsage {
            pids: pids.to_vec(),
            processes,
            samples: all.samples,
            cpu_avg_pct: all.cpu_pct(),
            cpu_max_pct: busiest,
            rss_avg_bytes: all.rss_sum / all.samples.max(1),
            rss_max_bytes: all.rss_max,
            exited_at_s: exited_at.map(|d| d.as_secs_f64()),
        }
    }

    /// Runs made at the same time against the same server (`blast merge`) sampled the same
    /// processes: the busier reading of each figure stands, nothing adds up.
    pub fn add(&mut self, other: &ServerUsage) {
        for pid in &other.pids {
            if !self.pids.contains(pid) {
                self.pids.push(*pid);
            }
        }
        self.processes = self.processes.max(other.processes);
        self.samples = self.samples.max(other.samples);
        self.cpu_avg_pct = self.cpu_avg_pct.max(other.cpu_avg_pct);
        self.cpu_max_pct = self.cpu_max_pct.max(other.cpu_max_pct);
        self.rss_avg_bytes = self.rss_avg_bytes.max(other.rss_avg_bytes);
        self.rss_max_bytes = self.rss_max_bytes.max(other.rss_max_bytes);
        self.exited_at_s = match (self.exited_at_s, other.exited_at_s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_core_at_ninety_percent_is_named_as_the_limit() {
        let idle = ClientUsage::of(&[890_000_000, 100_000_000], 1_000_000_000);
        assert_eq!(idle.busiest_pct, 89.0);
        assert_eq!(idle.limiting(), None);
        let mut busy = ClientUsage::of(&[100_000_000, 950_000_000], 1_000_000_000);
        assert_eq!(busy.limiting(), Some((1, 95.0)));
        busy.add(&idle);
        assert_eq!(busy.cores_busy_pct, [10.0, 95.0, 89.0, 10.0]);
        assert_eq!(busy.limiting(), Some((1, 95.0)));
    }

    #[test]
    fn a_second_is_cpu_over_wall_and_the_run_keeps_its_busiest() {
        let mut a = SecondUsage::default();
        a.add(50_000_000, 100_000_000, 10);
        a.add(150_000_000, 100_000_000, 30);
        assert_eq!(a.cpu_pct(), 100.0);
        let mut b = SecondUsage::default();
        b.add(20_000_000, 100_000_000, 20);
        let usage = ServerUsage::of(&[7], 2, &[a, b], None);
        assert_eq!((usage.cpu_avg_pct, usage.cpu_max_pct), (220.0 / 3.0, 100.0));
        assert_eq!((usage.rss_avg_bytes, usage.rss_max_bytes), (20, 30));
    }
}
