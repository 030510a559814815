//! Everything decided before the first byte is sent: the address, the request bytes, and how
//! connections and requests are split over the cores. Read-only during the run.

use std::collections::HashMap;
use std::time::Duration;

use crate::check::Expect;
use crate::check::capture::Capture;
use crate::engine::clock::Stamp;
use crate::http::request::{self, RequestSpec};
use crate::http::template::Template;
use crate::results::summary::{Destination, FLOW_METHOD, MIX_METHOD, RunInfo, Target};
use crate::run::config::{Config, Driver};
use crate::run::flow::{FLOW_NAME, Flow, Repeat};
use crate::run::mix::MixLine;
use crate::run::url::Endpoint;
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

/// One request the run sends, serialized once, with what its response is checked against.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The bytes every connection hands to the kernel, without copying.
    pub bytes: Box<[u8]>,
    /// The `--targets` name it is reported under: an index into `Plan::targets`.
    pub target: u16,
    /// Its expectations: an index into `Plan::expects`.
    pub expect: u16,
    /// A HEAD request, whose response has no body.
    pub head: bool,
    /// Its check reads the response body (which is otherwise dropped unread).
    pub keep_body: bool,
    /// `--flow`: its step captures values from the response.
    pub captures: bool,
    /// `--flow`: its step has variables; each user builds its bytes (`bytes` is unused).
    pub built: bool,
}

/// `--flow`: what each user does around its requests; step `i`'s request is the plan's
/// `requests[i]` (whose bytes a step with variables does not use: each user builds its own).
#[derive(Debug, Clone)]
pub struct FlowPlan {
    pub steps: Vec<FlowStep>,
    /// How many variables a user holds.
    pub vars: usize,
    /// The whole flow's row in the report: an index into `info.targets`.
    pub target: u16,
}

/// One step of a flow, as the engine runs it.
#[derive(Debug, Clone)]
pub struct FlowStep {
    /// Its request with variables, built per request by each user (`None`: the plan's bytes).
    pub template: Option<Template>,
    pub captures: Vec<Capture>,
    pub think: Option<(Duration, Duration)>,
    pub repeat: Option<Repeat>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub endpoint: Endpoint,
    /// https: the client configuration (each core takes its own copy, `Tls::for_core`).
    pub tls: Option<Tls>,
    /// The requests: one, one per `--body-lines` body, or one per `--targets` line.
    pub requests: Vec<Planned>,
    /// The order each core sends them in, over and over: `requests` indices, each as often
    /// as its line's weight (weights interleaved smoothly, not in runs).
    pub order: Vec<u32>,
    /// The distinct expectations of the requests (one without `--targets`).
    pub expects: Vec<Expect>,
    /// `--flow`: the steps each user runs in turn (the plan's `order` is then unused).
    pub flow: Option<FlowPlan>,
    /// What the run is, as its report names it: the URL, the method, `-c`, keep-alive, the
    /// rate, the objective and the `--targets` names results are broken down by. Built here,
    /// once, from the config; the engine reads its rate, keep-alive and targets from it.
    pub info: RunInfo,
    pub timeout: Duration,
    /// After the measured window: the longest wait for the requests sent in it.
    pub drain: Duration,
    pub connect_timeout: Duration,
    pub max_body: usize,
    /// `--first-byte`: each core keeps a histogram of the time to the first body byte.
    pub first_byte: bool,
    /// `--metrics-listen`, `--web`: each core hands its totals over once a second.
    pub live_totals: bool,
    /// `--start-at`: when the load starts, on the monotonic clock (the wall-clock instant
    /// read onto it once, here); each core waits for it once its connections are open.
    pub start_at: Option<Stamp>,
    /// `--server-pid`: sampled by the main thread while the plan runs.
    pub server_pids: Vec<u32>,
    pub driver: Driver,
    pub duration: Option<Duration>,
    /// `--warmup`: load before the measured window, on the same connections and schedule.
    pub warmup: Duration,
    /// `--ramp`: time to reach the rate, or to open all connections.
    pub ramp: Duration,
    pub cores: Vec<CoreShare>,
}

/// A wall-clock instant (Unix seconds) as a point on the monotonic clock: now on it, plus
/// the time until the instant (an instant already past is now).
fn on_the_monotonic_clock(unix_s: f64) -> Stamp {
    let ahead = (unix_s - unix_now()).max(0.0);
    Stamp::now() + Duration::from_secs_f64(ahead)
}

/// The wall clock now, in Unix seconds.
pub fn unix_now() -> f64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.unwrap_or_default().as_secs_f64()
}

impl Plan {
    pub fn new(config: &Config) -> Result<Plan, String> {
        let endpoint = config.url.endpoint()?;
        let url = &config.url;
        let tls = url
            .tls
            .then(|| Tls::new(&config.trust, &url.host))
            .transpose()?;
        let Requests {
            mut requests,
            order,
            expects,
            mut targets,
        } = Requests::of(config)?;
        let flow = (config.flow.as_ref())
            .map(|flow| flow_plan(config, flow, &mut requests, &mut targets))
            .transpose()?;
        let cpus = choose_cpus(config.cpus.as_deref())?;
        let threads = config
            .threads
            .unwrap_or(cpus.len().max(1))
            .min(config.connections)
            .max(1);
        let connections = split(config.connections as u64, threads);
        let budgets = config.requests.map(|n| split(n, threads));
        let max_connections = split(
            config.max_connections.max(config.connections) as u64,
            threads,
        );
        let cores = (0..threads)
            .map(|i| CoreShare {
                cpu: (!cpus.is_empty()).then(|| cpus[i % cpus.len()]),
                connections: connections[i] as usize,
                requests: budgets.as_ref().map(|r| r[i]),
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
            requests,
            order,
            expects,
            flow,
            info: run_info(config, targets),
            timeout: config.timeout,
            drain: config.drain.unwrap_or(config.timeout),
            connect_timeout: config.connect_timeout,
            max_body: config.max_body,
            first_byte: config.first_byte,
            live_totals: config.listen.any(),
            start_at: config.start_at.map(on_the_monotonic_clock),
            server_pids: config.server_pids.clone(),
            driver: config.driver,
            duration: config.duration,
            warmup: config.warmup,
            ramp: config.ramp,
            cores,
        })
    }

    pub fn connections(&self) -> usize {
        self.cores.iter().map(|c| c.connections).sum()
    }

    /// Whether HEAD requests are mixed with others (whose remembered heads they cannot use).
    pub fn mixes_head(&self) -> bool {
        let head = |r: &Planned| r.head;
        self.requests.iter().any(head) && !self.requests.iter().all(head)
    }

    /// Whether some request's check (or a flow's capture) reads the response body.
    pub fn needs_body(&self) -> bool {
        let captures = |f: &FlowPlan| {
            f.steps
                .iter()
                .flat_map(|s| &s.captures)
                .any(Capture::needs_body)
        };
        self.expects.iter().any(Expect::needs_body) || self.flow.as_ref().is_some_and(captures)
    }
}

/// `--flow`: the steps' templates and captures (the steps' requests are `requests`, one
/// per step, whose bodies are kept where a step captures from them), and the flow's own row
/// after the steps' targets.
fn flow_plan(
    config: &Config,
    flow: &Flow,
    requests: &mut [Planned],
    targets: &mut Vec<Target>,
) -> Result<FlowPlan, String> {
    let var = |name: &str| flow.var(name);
    let steps = (flow.steps.iter().zip(requests))
        .map(|(step, request)| {
            let line = &step.line;
            let spec = line_spec(line, config.request.no_keepalive);
            let template = Template::compile(&config.url, &line.path, &spec, &line.body, &var)?;
            request.captures = !step.captures.is_empty();
            request.built = template.is_some();
            request.keep_body |= step.captures.iter().any(Capture::needs_body);
            Ok(FlowStep {
                template,
                captures: step.captures.clone(),
                think: step.think,
                repeat: step.repeat.clone(),
            })
        })
        .collect::<Result<_, String>>()?;
    // A step runs once per flow, or as often as it polls: it has no share of the requests
    // to plan (a weight of 0 is shown as none).
    for target in targets.iter_mut() {
        target.weight = 0;
    }
    targets.push(Target {
        name: FLOW_NAME.into(),
        method: FLOW_METHOD.into(),
        path: "*".into(),
        weight: 0,
    });
    Ok(FlowPlan {
        steps,
        vars: flow.vars.len(),
        // At most `mix::MAX_NAMES` names, and the flow's.
        target: (targets.len() - 1) as u16,
    })
}

/// A mix line's request, as `request` builds it.
fn line_spec(line: &MixLine, no_keepalive: bool) -> RequestSpec {
    RequestSpec {
        method: line.method.clone(),
        headers: line.headers.clone(),
        bodies: Vec::new(),
        no_keepalive,
    }
}

/// What the run is, read from `config` once (with the mix's `targets`, which it groups).
fn run_info(config: &Config, targets: Vec<Target>) -> RunInfo {
    RunInfo {
        destination: Destination {
            url: config.url.url(),
            unix_socket: (config.url.unix_socket.as_ref()).map(|p| p.display().to_string()),
            // Known after the handshake before the run.
            tls: None,
            method: match &config.mix {
                Some(_) if config.flow.is_some() => FLOW_METHOD.into(),
                Some(_) => MIX_METHOD.into(),
                None => config.request.method.clone(),
            },
        },
        connections: config.connections,
        think: config.think,
        keep_alive: !config.request.no_keepalive,
        pipeline: config.pipeline,
        rate: config.rate,
        slo: config.slo.clone(),
        targets,
    }
}

/// The requests part of a plan, built from the command line's request or its mix.
struct Requests {
    requests: Vec<Planned>,
    order: Vec<u32>,
    expects: Vec<Expect>,
    targets: Vec<Target>,
}

impl Requests {
    fn of(config: &Config) -> Result<Requests, String> {
        let spec = &config.request;
        let url = &config.url;
        let mut expects: Vec<Expect> = Vec::new();
        let mut plan = |path: &str, spec: &RequestSpec, body: &[u8], expect: &Expect, target| {
            let index = expects.iter().position(|e| e == expect).unwrap_or_else(|| {
                expects.push(expect.clone());
                expects.len() - 1
            });
            Planned {
                bytes: request::build_at(url, path, spec, body).into_boxed_slice(),
                target,
                // At most `mix::MAX_LINES` lines, each with one expectation.
                expect: index as u16,
                head: spec.method == "HEAD",
                keep_body: expect.needs_body(),
                captures: false,
                built: false,
            }
        };
        let Some(lines) = &config.mix else {
            let requests: Vec<Planned> = spec
                .bodies
                .iter()
                .map(|body| plan(&url.path, spec, body, &config.expect, 0))
                .collect();
            // A request's index leaves the top bit free (`conn`'s writes mark a user's bytes
            // with it).
            if requests.len() > (u32::MAX >> 1) as usize {
                return Err("--body-lines holds more than 2,147,483,647 bodies".into());
            }
            let order = (0..requests.len() as u32).collect();
            return Ok(Requests {
                requests,
                order,
                expects,
                targets: Vec::new(),
            });
        };
        let (line_targets, targets) = group(lines);
        let requests = lines
            .iter()
            .zip(line_targets)
            .map(|(line, target)| {
                let line_spec = line_spec(line, spec.no_keepalive);
                plan(&line.path, &line_spec, &line.body, &line.expect, target)
            })
            .collect();
        let weights: Vec<u64> = lines.iter().map(|l| l.weight).collect();
        Ok(Requests {
            requests,
            order: weighted_order(&weights),
            expects,
            targets,
        })
    }
}

/// Each line's target (an index into the targets), and the targets in order of first
/// appearance, each with its lines' method and path when they agree (`*` where they differ)
/// and the sum of their weights. One pass: a mix may hold 100,000 lines.
fn group(lines: &[MixLine]) -> (Vec<u16>, Vec<Target>) {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut targets: Vec<Target> = Vec::new();
    let line_targets = lines
        .iter()
        .map(|line| {
            let i = *index.entry(&line.name).or_insert_with(|| {
                targets.push(Target {
                    name: line.name.clone(),
                    method: line.method.clone(),
                    path: line.path.clone(),
                    weight: 0,
                });
                targets.len() - 1
            });
            let target = &mut targets[i];
            for (shown, own) in [
                (&mut target.method, &line.method),
                (&mut target.path, &line.path),
            ] {
                if shown != own {
                    *shown = "*".into();
                }
            }
            target.weight += line.weight;
            // At most `mix::MAX_NAMES` names.
            i as u16
        })
        .collect();
    (line_targets, targets)
}

/// The rotation for `weights`: index `i` appears `weights[i]` times, spread out (smooth
/// weighted round robin, as nginx balances upstreams): 3:1 gives `0 0 1 0`, not `0 0 0 1`,
/// so that any stretch of the run, a short `-n` or one core's share, holds the mix.
///
/// Each step picks the index furthest behind its share, `t·w - total·picked` (the lowest
/// index on a tie). Indices of equal weight are always picked among themselves in index
/// order, so each step compares one candidate per distinct weight rather than every index:
/// a mix of 100,000 lines of weight 1 is planned at once, not in seconds.
pub fn weighted_order(weights: &[u64]) -> Vec<u32> {
    let total: u64 = weights.iter().sum();
    let mut classes: Vec<WeightClass> = Vec::new();
    for (index, &weight) in weights.iter().enumerate() {
        match classes.iter_mut().find(|c| c.weight == weight) {
            Some(class) => class.members.push(index as u32),
            None => classes.push(WeightClass {
                weight,
                members: vec![index as u32],
                picked: 0,
            }),
        }
    }
    (1..=total)
        .map(|step| {
            let class = classes
                .iter_mut()
                .max_by_key(|c| {
                    let behind = (step * c.weight) as i64 - (total * c.rounds()) as i64;
                    (behind, std::cmp::Reverse(c.next()))
                })
                .expect("at least one line");
            let next = class.next();
            class.picked += 1;
            next
        })
        .collect()
}

/// The indices of one weight, picked in turn.
struct WeightClass {
    weight: u64,
    members: Vec<u32>,
    picked: u64,
}

impl WeightClass {
    /// The member picked next: the first of those picked least often.
    fn next(&self) -> u32 {
        self.members[(self.picked % self.members.len() as u64) as usize]
    }

    /// How often that member has been picked.
    fn rounds(&self) -> u64 {
        self.picked / self.members.len() as u64
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
    fn weighted_orders_interleave() {
        assert_eq!(weighted_order(&[1]), [0]);
        assert_eq!(weighted_order(&[3, 1]), [0, 0, 1, 0]);
        assert_eq!(weighted_order(&[1, 1, 1]), [0, 1, 2]);
        assert_eq!(weighted_order(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
        let order = weighted_order(&[7, 2, 1]);
        for (i, want) in [7, 2, 1].into_iter().enumerate() {
            assert_eq!(order.iter().filter(|&&o| o == i as u32).count(), want);
        }
        // The same order as the textbook algorithm (every index's counter raised by its
        // weight each step, the highest picked and lowered by the total), on mixes with
        // repeated and distinct weights.
        let textbook = |weights: &[u64]| -> Vec<u32> {
            let total: u64 = weights.iter().sum();
            let mut current = vec![0i64; weights.len()];
            (0..total)
                .map(|_| {
                    current
                        .iter_mut()
                        .zip(weights)
                        .for_each(|(c, w)| *c += *w as i64);
                    let (best, _) = current
                        .iter()
                        .enumerate()
                        .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
                        .unwrap();
                    current[best] -= total as i64;
                    best as u32
                })
                .collect()
        };
        let mixes: [&[u64]; 5] = [
            &[3, 1, 3, 1, 1],
            &[1, 2, 3, 4, 5, 6],
            &[10, 1, 1, 10, 7, 1, 2],
            &[4, 4, 4],
            &[1, 100, 1, 1, 50],
        ];
        for weights in mixes {
            assert_eq!(weighted_order(weights), textbook(weights), "{weights:?}");
        }
        // 100,000 lines of weight 1: one pass, in order.
        let many = weighted_order(&[1; 100_000]);
        assert!(many.iter().enumerate().all(|(i, &o)| o == i as u32));
    }

    #[test]
    fn lines_of_one_name_are_one_target() {
        let target = crate::run::url::Url::parse("http://127.0.0.1:1/").unwrap();
        let mut config = Config::new(target);
        let defaults = crate::run::mix::Defaults {
            url: &config.url,
            headers: &[],
            expect: &config.expect,
        };
        let text = r#"{"name": "item", "path": "/items/1", "weight": 2}
                      {"path": "/health"}
                      {"name": "item", "path": "/items/2", "weight": 3}"#;
        config.mix = Some(crate::run::mix::parse(text, &defaults).unwrap());
        let target = |name: &str, method: &str, path: &str, weight| Target {
            name: name.into(),
            method: method.into(),
            path: path.into(),
            weight,
        };
        let plan = Plan::new(&config).unwrap();
        assert_eq!(
            plan.info.targets,
            [
                target("item", "GET", "*", 5),
                target("GET /health", "GET", "/health", 1)
            ]
        );
        let targets: Vec<u16> = plan.requests.iter().map(|r| r.target).collect();
        assert_eq!(targets, [0, 1, 0]);
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
        let target = crate::run::url::Url::parse("http://127.0.0.1:1/").unwrap();
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
