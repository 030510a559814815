//! Everything decided before the first byte is sent: the address, the request bytes, and how
//! connections and requests are split over the cores. Read-only during the run.

use std::time::Duration;

use crate::check::Expect;
use crate::config::{Config, Driver};
use crate::request;
use crate::target::Endpoint;
use crate::tls::Tls;

/// One thread's share of the work.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreShare {
    /// CPU to pin to (`None` when affinity is unavailable).
    pub cpu: Option<usize>,
    pub connections: usize,
    /// This thread's part of `-n`.
    pub requests: Option<u64>,
    /// This thread's part of `--rate`.
    pub rate: Option<f64>,
    /// Connections this thread may grow to (rate mode; otherwise `connections`).
    pub max_connections: usize,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub endpoint: Endpoint,
    /// https: the client configuration (each core takes its own copy, `Tls::for_core`).
    pub tls: Option<Tls>,
    /// The serialized requests, sent in turn: one per body (usually one). Every connection
    /// hands these same bytes to the kernel, without copying.
    pub request_bytes: Vec<Box<[u8]>>,
    pub head_request: bool,
    /// Connections are reused (`false`: `--no-keepalive`, one per request).
    pub keep_alive: bool,
    pub expect: Expect,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_body: usize,
    pub driver: Driver,
    pub duration: Option<Duration>,
    /// `--warmup`: load before the measured window, on the same connections and schedule.
    pub warmup: Duration,
    /// Total `--rate`, for the report.
    pub rate: Option<f64>,
    /// `--ramp`: time to reach the rate, or to open all connections.
    pub ramp: Duration,
    pub cores: Vec<CoreShare>,
}

impl Plan {
    pub fn new(config: &Config) -> Result<Plan, String> {
        let endpoint = config.target.endpoint()?;
        let target = &config.target;
        let tls = target
            .tls
            .then(|| Tls::new(&config.trust, &target.host))
            .transpose()?;
        let request_bytes = request::build_all(&config.target, &config.request);
        if u32::try_from(request_bytes.len()).is_err() {
            return Err("--body-lines holds more than 4,294,967,295 bodies".into());
        }
        let cpus = choose_cpus(config.cpus.as_deref())?;
        let threads = config
            .threads
            .unwrap_or(cpus.len().max(1))
            .min(config.connections)
            .max(1);
        let connections = split(config.connections as u64, threads);
        let requests = config.requests.map(|n| split(n, threads));
        let max_connections = split(
            config.max_connections.max(config.connections) as u64,
            threads,
        );
        let cores = (0..threads)
            .map(|i| CoreShare {
                cpu: (!cpus.is_empty()).then(|| cpus[i % cpus.len()]),
                connections: connections[i] as usize,
                requests: requests.as_ref().map(|r| r[i]),
                rate: config.rate.map(|r| r / threads as f64),
                max_connections: if config.rate.is_some() {
                    (max_connections[i] as usize).max(connections[i] as usize)
                } else {
                    connections[i] as usize
                },
            })
            .collect();
        Ok(Plan {
            endpoint,
            tls,
            request_bytes,
            head_request: config.request.method == "HEAD",
            keep_alive: !config.request.no_keepalive,
            expect: config.expect.clone(),
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            max_body: config.max_body,
            driver: config.driver,
            duration: config.duration,
            warmup: config.warmup,
            rate: config.rate,
            ramp: config.ramp,
            cores,
        })
    }

    pub fn connections(&self) -> usize {
        self.cores.iter().map(|c| c.connections).sum()
    }
}

/// Splits `total` into `parts` shares differing by at most one: the remainder goes one by one
/// to the first shares, so nothing is dropped.
pub fn split(total: u64, parts: usize) -> Vec<u64> {
    let parts_u64 = parts as u64;
    (0..parts_u64)
        .map(|i| total / parts_u64 + u64::from(i < total % parts_u64))
        .collect()
}

/// The CPUs to pin to: the requested ones, which must be allowed to this process, or all the
/// allowed ones. Empty when the platform cannot tell (threads then run unpinned).
pub(crate) fn choose_cpus(requested: Option<&[usize]>) -> Result<Vec<usize>, String> {
    let allowed: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let Some(requested) = requested else {
        return Ok(allowed);
    };
    match requested
        .iter()
        .find(|cpu| !allowed.is_empty() && !allowed.contains(cpu))
    {
        Some(cpu) => Err(format!(
            "CPU {cpu} is not available to this process (allowed: {})",
            format_cpus(&allowed)
        )),
        None => Ok(requested.to_vec()),
    }
}

/// Parses `0,2-3` into `[0, 2, 3]`.
pub fn parse_cpus(text: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("invalid CPU list '{text}' (use e.g. 0,2-3)");
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim) {
        let (low, high) = part.split_once('-').unwrap_or((part, part));
        let low: usize = low.trim().parse().map_err(|_| bad())?;
        let high: usize = high.trim().parse().map_err(|_| bad())?;
        if low > high || high >= 4096 {
            return Err(bad());
        }
        for cpu in low..=high {
            if !cpus.contains(&cpu) {
                cpus.push(cpu);
            }
        }
    }
    Ok(cpus)
}

/// Formats a CPU list compactly: `0-3,6`.
pub fn format_cpus(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_without_dropping() {
        assert_eq!(split(10, 3), vec![4, 3, 3]);
        assert_eq!(split(2, 4), vec![1, 1, 0, 0]);
        assert_eq!(split(256, 2), vec![128, 128]);
        for (total, parts) in [(1001, 7), (5, 5), (0, 3), (999_999, 16)] {
            let shares = split(total, parts);
            assert_eq!(shares.iter().sum::<u64>(), total);
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("0,2-3").unwrap(), vec![0, 2, 3]);
        assert_eq!(parse_cpus("1, 1,0").unwrap(), vec![1, 0]);
        for bad in ["", "a", "3-1", "1-", "-1", "99999"] {
            assert!(parse_cpus(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_cpus(&[0, 1, 2, 3, 6, 8, 9]), "0-3,6,8-9");
    }

    #[test]
    fn plan_spreads_connections_and_requests() {
        let target = crate::target::Target::parse("http://127.0.0.1:1/").unwrap();
        let mut config = Config::new(target);
        config.connections = 5;
        config.threads = Some(2);
        config.requests = Some(7);
        config.cpus = Some(vec![0]);
        let plan = Plan::new(&config).unwrap();
        let shares: Vec<(usize, Option<u64>)> = plan
            .cores
            .iter()
            .map(|c| (c.connections, c.requests))
            .collect();
        assert_eq!(shares, vec![(3, Some(4)), (2, Some(3))]);
        assert!(plan.cores.iter().all(|c| c.cpu == Some(0)));
        assert_eq!(plan.connections(), 5);

        config.threads = Some(8);
        assert_eq!(
            Plan::new(&config).unwrap().cores.len(),
            5,
            "never more threads than connections"
        );
        config.cpus = Some(vec![4095]);
        assert!(Plan::new(&config).unwrap_err().contains("not available"));
    }
}
