//! `--server-pid`: the server's CPU and memory, read from /proc by the main thread every
//! `SAMPLE_EVERY` (never on a core that runs connections, and never per request); and
//! blast's own cores' CPU, so a report can say when the client may have been the limit.
//!
//! A server is its PIDs and all their descendants (Gunicorn's or Uvicorn's master gives its
//! workers), found again each second so a restarted worker is followed. CPU is the
//! processes' user and system time (`/proc/PID/stat`, in clock ticks, 10 ms on most kernels:
//! one sample's figure is coarse, a second's average of ten is within 1% of a core); memory
//! is their resident set summed (shared pages count once per process, as `ps` shows them).

use std::time::Duration;

use crate::engine::clock::Stamp;
use crate::results::usage::{ClientUsage, SecondUsage, ServerUsage, UsageRecord};

/// How often the server is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Descendants are looked for again every this many samples (one second).
const RESCAN_EVERY: u64 = 10;

/// One process's counters at a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ProcStat {
    /// User plus system time, in clock ticks.
    cpu_ticks: u64,
    /// Resident set, in pages.
    rss_pages: u64,
    /// Its state is zombie (`Z`) or dead (`X`): it has exited.
    exited: bool,
}

/// Reads stat files into buffers kept between reads, so that sampling allocates nothing once
/// they have grown (the engine's allocation tests count every allocation of a run, and the
/// samples come with time).
struct StatReader {
    path: String,
    text: String,
}

impl StatReader {
    fn new() -> StatReader {
        StatReader {
            path: String::with_capacity(64),
            text: String::with_capacity(512),
        }
    }

    /// Reads `{dir}{id}/stat`.
    fn read(&mut self, dir: &str, id: u32) -> Option<ProcStat> {
        use std::fmt::Write as _;
        use std::io::Read as _;
        self.path.clear();
        write!(self.path, "{dir}{id}/stat").ok()?;
        self.text.clear();
        let mut file = std::fs::File::open(self.path.as_str()).ok()?;
        file.read_to_string(&mut self.text).ok()?;
        parse_stat(&self.text)
    }

    /// A server process's counters; `None` when it is gone (or not ours to read). A process
    /// that has exited but that its parent has not reaped yet (a zombie: a server killed
    /// while its parent is a shell that already left, or an init that never reaps) is gone.
    fn process(&mut self, pid: u32) -> Option<ProcStat> {
        self.read("/proc/", pid).filter(|stat| !stat.exited)
    }

    /// The CPU ticks of one of this process's threads.
    fn thread_ticks(&mut self, tid: u32) -> Option<u64> {
        self.read("/proc/self/task/", tid)
            .map(|stat| stat.cpu_ticks)
    }
}

/// Nanoseconds per clock tick, and bytes per page.
fn units() -> (u64, u64) {
    // SAFETY: sysconf only reads the system's configuration.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let ticks = u64::try_from(ticks).unwrap_or(100).max(1);
    (1_000_000_000 / ticks, u64::try_from(page).unwrap_or(4096))
}

/// The fields after the command's closing parenthesis (the command may hold spaces and
/// parentheses): the state is the 3rd field of the line, utime the 14th, stime the 15th, rss
/// the 24th. Reads them in passing, allocating nothing.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let exited = matches!(fields.next()?, "Z" | "X");
    let mut number = |skip: usize| fields.nth(skip)?.parse::<u64>().ok();
    let utime = number(14 - 4)?;
    let stime = number(0)?;
    let rss_pages = number(24 - 16)?;
    Some(ProcStat {
        exited,
        cpu_ticks: utime + stime,
        rss_pages,
    })
}

/// Checks a `--server-pid` before the run: the process exists and its counters can be read.
pub fn check_pid(pid: u32) -> Result<(), String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    match parse_stat(&text) {
        Some(stat) if stat.exited => Err(format!("--server-pid {pid}: the process has exited")),
        Some(_) => Ok(()),
        None if std::path::Path::new(&format!("/proc/{pid}")).exists() => Err(format!(
            "--server-pid {pid}: cannot read /proc/{pid}/stat (not ours to read?)"
        )),
        None => Err(format!("--server-pid {pid}: no such process")),
    }
}

/// The children of every thread of `pid` (`/proc/PID/task/TID/children`).
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Ok(text) = std::fs::read_to_string(path) {
            found.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    found
}

/// The PIDs and all their descendants that are alive.
fn family(roots: &[u32]) -> Vec<u32> {
    let mut all: Vec<u32> = Vec::new();
    let mut next: Vec<u32> = roots.to_vec();
    while let Some(pid) = next.pop() {
        if all.contains(&pid) {
            continue;
        }
        all.push(pid);
        next.extend(children(pid));
    }
    all
}

/// The sampler: the last counters of each process, and what each second of the measured
/// window has gathered.
pub struct Sampler {
    roots: Vec<u32>,
    pids: Vec<u32>,
    /// Each live process's CPU ticks at the last read, and the read now being taken (two
    /// buffers swapped, so that a sample allocates nothing once they have grown).
    last: Vec<(u32, u64)>,
    seen: Vec<(u32, u64)>,
    reader: StatReader,
    last_at: Stamp,
    samples: u64,
    ns_per_tick: u64,
    page_bytes: u64,
    seconds: Vec<SecondUsage>,
    processes: u64,
    exited_at: Option<Duration>,
}

impl Sampler {
    /// Starts sampling `roots` now (the first sample is the baseline).
    pub fn new(roots: Vec<u32>) -> Sampler {
        let (ns_per_tick, page_bytes) = units();
        let mut sampler = Sampler {
            pids: family(&roots),
            roots,
            last: Vec::new(),
            seen: Vec::new(),
            reader: StatReader::new(),
            last_at: Stamp::now(),
            samples: 0,
            ns_per_tick,
            page_bytes,
            seconds: Vec::new(),
            processes: 0,
            exited_at: None,
        };
        sampler.read();
        sampler
    }

    /// Reads every process's counters: the CPU nanoseconds they used since the last read
    /// (a process seen for the first time starts from here) and their resident bytes now.
    fn read(&mut self) -> (u64, u64, usize) {
        let (mut cpu_ns, mut rss) = (0, 0);
        let mut alive = 0;
        self.seen.clear();
        for &pid in &self.pids {
            let Some(stat) = self.reader.process(pid) else {
                continue;
            };
            alive += 1;
            if let Some(&(_, before)) = self.last.iter().find(|(p, _)| *p == pid) {
                cpu_ns += stat.cpu_ticks.saturating_sub(before) * self.ns_per_tick;
            }
            rss += stat.rss_pages * self.page_bytes;
            self.seen.push((pid, stat.cpu_ticks));
        }
        std::mem::swap(&mut self.last, &mut self.seen);
        (cpu_ns, rss, alive)
    }

    /// Takes one sample at `now`. `from`: the start of the measured window, once known;
    /// `last_second`: the window's last second, where samples after its end count (the
    /// drain, as the requests' answers do).
    pub fn sample(&mut self, now: Stamp, from: Option<Stamp>, last_second: Option<u32>) {
        self.samples += 1;
        if self.samples.is_multiple_of(RESCAN_EVERY) {
            self.pids = family(&self.roots);
        }
        let (cpu_ns, rss, alive) = self.read();
        let wall_ns = now.since(self.last_at);
        self.last_at = now;
        if self.exited_at.is_none()
            && self
                .roots
                .iter()
                .any(|&p| self.last.iter().all(|(q, _)| *q != p))
        {
            self.exited_at = Some(from.map_or(Duration::ZERO, |f| now.duration_since(f)));
        }
        let Some(from) = from.filter(|f| now > *f) else {
            return;
        };
        self.processes = self.processes.max(alive as u64);
        let second = (now.since(from) / 1_000_000_000) as u32;
        let second = last_second.map_or(second, |last| second.min(last)) as usize;
        if self.seconds.len() <= second {
            self.seconds.resize(second + 1, SecondUsage::default());
        }
        self.seconds[second].add(cpu_ns, wall_ns, rss);
    }

    /// What the run's window gathered.
    pub fn finish(self) -> UsageRecord {
        UsageRecord {
            summary: ServerUsage::of(&self.roots, self.processes, &self.seconds, self.exited_at),
            seconds: self.seconds,
        }
    }
}

/// blast's own cores: each core thread's CPU time over the measured window.
pub struct ClientSampler {
    /// Per core: its thread's last CPU ticks, and its busy nanoseconds in the window.
    last: Vec<Option<u64>>,
    busy_ns: Vec<u64>,
    window_ns: u64,
    last_at: Stamp,
    ns_per_tick: u64,
    reader: StatReader,
}

impl ClientSampler {
    pub fn new(cores: usize) -> ClientSampler {
        ClientSampler {
            last: vec![None; cores],
            busy_ns: vec![0; cores],
            window_ns: 0,
            last_at: Stamp::now(),
            ns_per_tick: units().0,
            reader: StatReader::new(),
        }
    }

    /// One sample at `now` of the cores whose threads are known (`tids`, by core); what they
    /// used counts once the window has begun (`from`).
    pub fn sample(&mut self, now: Stamp, tids: &[Option<u32>], from: Option<Stamp>) {
        let counting = from.is_some_and(|f| now > f);
        if counting {
            self.window_ns += now.since(self.last_at);
        }
        self.last_at = now;
        for (core, tid) in tids.iter().enumerate() {
            let read = tid.and_then(|t| self.reader.thread_ticks(t));
            let Some(ticks) = read else { continue };
            if let (true, Some(before)) = (counting, self.last[core]) {
                self.busy_ns[core] += ticks.saturating_sub(before) * self.ns_per_tick;
            }
            self.last[core] = Some(ticks);
        }
    }

    /// Each core's busy share of the window, in percent (`None` before any window).
    pub fn finish(self) -> Option<ClientUsage> {
        let window = self.window_ns;
        (window > 0).then(|| ClientUsage::of(&self.busy_ns, window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_stat_line_whose_command_has_spaces_and_parentheses() {
        let line = "4242 (python3 (worker) x) S 4200 4242 4200 0 -1 4194560 9000 0 0 0 \
                    150 35 0 0 20 0 3 0 123456 800000000 15000 18446744073709551615 0";
        let stat = parse_stat(line).unwrap();
        assert_eq!(
            stat,
            ProcStat {
                cpu_ticks: 185,
                rss_pages: 15000,
                exited: false,
            }
        );
        let zombie = line.replacen(") S ", ") Z ", 1);
        assert!(parse_stat(&zombie).unwrap().exited);
        assert_eq!(parse_stat("4242 (cut"), None);
    }

    /// A child that spins is found under its parent and sampled at about one core.
    #[test]
    fn follows_a_busy_child_of_the_given_pid() {
        let mut parent = std::process::Command::new("sh")
            .args(["-c", "sh -c 'while :; do :; done' & wait"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let root = parent.id();
        let start = Stamp::now();
        let mut sampler = Sampler::new(vec![root]);
        let end = start + Duration::from_millis(1_500);
        while Stamp::now() < end {
            std::thread::sleep(SAMPLE_EVERY);
            sampler.sample(Stamp::now(), Some(start), None);
        }
        for child in children(root) {
            // SAFETY: a plain kill of a process this test started.
            unsafe { libc::kill(child as i32, libc::SIGKILL) };
        }
        parent.kill().ok();
        parent.wait().ok();
        let record = sampler.finish();
        let usage = record.summary;
        assert_eq!(usage.processes, 2, "{usage:?}");
        // One core's worth, on a machine that may be busy with other tests.
        assert!((40.0..=110.0).contains(&usage.cpu_avg_pct), "{usage:?}");
        assert!(usage.rss_max_bytes > 100_000, "{usage:?}");
        assert_eq!(record.seconds.len(), 2);
        assert_eq!(usage.exited_at_s, None);
    }

    #[test]
    fn a_pid_that_is_gone_is_refused() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(
            check_pid(pid),
            Err(format!("--server-pid {pid}: no such process"))
        );
        assert_eq!(check_pid(std::process::id()), Ok(()));
    }
}
