//! The local stand-in for a cluster of client machines: `blast serve` in one network namespace
//! and three blast clients each in its own, joined by veth pairs on a bridge (addresses in
//! 198.18.0.0/24, the range set aside for benchmarking networks, RFC 2544), all created and
//! removed here. The clients are given one `--start-at` instant, as `scripts/k8s-run.sh` gives
//! its pods, and `blast merge` of their reports must count exactly what the server answered,
//! with their starts under 50 ms apart. A fourth run started 5 s after them is refused by the
//! merge. Where namespaces cannot be made (not root, no `ip`, a container without
//! CAP_SYS_ADMIN) the test says so and passes without running.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use blast::run::plan::unix_now;
use blast::units::format_rfc3339;
use common::{blast, scratch};

const SERVER_ADDR: &str = "198.18.0.1";
const CLIENTS: usize = 3;

/// The namespaces of one test, removed (with their links) when dropped.
struct Namespaces {
    server: String,
    clients: Vec<String>,
}

impl Namespaces {
    /// The server's namespace with a bridge, and `clients` namespaces each joined to it by a
    /// veth pair; `Err` says why they could not be made.
    fn create(clients: usize) -> Result<Namespaces, String> {
        let tag = std::process::id() % 100_000;
        let nets = Namespaces {
            server: format!("blast-s{tag}"),
            clients: (1..=clients).map(|i| format!("blast-c{i}-{tag}")).collect(),
        };
        for ns in std::iter::once(&nets.server).chain(&nets.clients) {
            ip(&["netns", "add", ns])?;
        }
        let s = nets.server.as_str();
        ip(&["-n", s, "link", "set", "lo", "up"])?;
        ip(&["-n", s, "link", "add", "br0", "type", "bridge"])?;
        ip(&[
            "-n",
            s,
            "addr",
            "add",
            &format!("{SERVER_ADDR}/24"),
            "dev",
            "br0",
        ])?;
        ip(&["-n", s, "link", "set", "br0", "up"])?;
        for (i, c) in nets.clients.iter().enumerate() {
            let (inner, outer) = (format!("v{i}"), format!("p{i}"));
            ip(&[
                "link", "add", &inner, "netns", c, "type", "veth", "peer", "name", &outer, "netns",
                s,
            ])?;
            ip(&["-n", c, "link", "set", "lo", "up"])?;
            let addr = format!("198.18.0.{}/24", i + 2);
            ip(&["-n", c, "addr", "add", &addr, "dev", &inner])?;
            ip(&["-n", c, "link", "set", &inner, "up"])?;
            ip(&["-n", s, "link", "set", &outer, "master", "br0"])?;
            ip(&["-n", s, "link", "set", &outer, "up"])?;
        }
        Ok(nets)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in std::iter::once(&self.server).chain(&self.clients) {
            let _ = ip(&["netns", "delete", ns]);
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `blast serve` on the server's address inside `ns`, once it says it listens; its stderr,
/// read past that line.
fn serve_in(ns: &str) -> (Child, BufReader<ChildStderr>) {
    let mut server = Command::new("ip")
        .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_blast"), "serve"])
        .args(["--listen", &format!("{SERVER_ADDR}:8080"), "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    // A note may come first (io_uring unavailable, so epoll): the server starts with the
    // `listening on` line.
    let mut said = String::new();
    while !said.lines().any(|l| l.contains("listening on")) {
        if stderr.read_line(&mut said).unwrap() == 0 {
            panic!("blast serve did not start: {said} ({:?})", server.wait());
        }
    }
    (server, stderr)
}

/// Stops the server as Ctrl-C does and returns how many requests it answered, from its
/// closing line (`blast serve: N requests on M connections; ...`).
fn stop((mut server, mut stderr): (Child, BufReader<ChildStderr>)) -> u64 {
    let pid = server.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut text = String::new();
    stderr.read_to_string(&mut text).unwrap();
    assert!(server.wait().unwrap().success(), "{text}");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("blast serve: "))
        .unwrap_or_else(|| panic!("no closing line: {text}"));
    line.split(' ').next().unwrap().parse().unwrap()
}

/// A blast client in `ns`, named `instance`, starting at `at`, its report at `json`.
fn client(ns: &str, instance: &str, at: &str, json: &Path) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_blast")])
        .args(["--instance", instance, "--start-at", at])
        .args([
            "-c",
            "4",
            "-t",
            "1",
            "-d",
            "2",
            "--expect-json",
            "prediction=0|1",
        ])
        .arg("--json")
        .arg(json)
        .arg(format!("http://{SERVER_ADDR}:8080/predict"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finished(child: Child, what: &str) -> Output {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{what}: {out:?}");
    out
}

fn read(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn clients_in_three_namespaces_merge_to_the_servers_count() {
    let _turn = common::one_at_a_time();
    let nets = match Namespaces::create(CLIENTS) {
        Ok(nets) => nets,
        Err(why) => {
            eprintln!("skipped: network namespaces cannot be made here ({why})");
            return;
        }
    };
    let dir = scratch("distributed");
    let server = serve_in(&nets.server);
    // One instant for all, 2 s ahead, as the helper script computes it for its pods.
    let at = format_rfc3339(unix_now() + 2.0);
    let runs: Vec<(Child, PathBuf)> = (nets.clients.iter().enumerate())
        .map(|(i, ns)| {
            let json = dir.join(format!("client-{i}.json"));
            (client(ns, &format!("client-{i}"), &at, &json), json)
        })
        .collect();
    let jsons: Vec<PathBuf> = runs.iter().map(|r| r.1.clone()).collect();
    for (child, json) in runs {
        finished(child, &json.display().to_string());
    }
    let answered = stop(server);
    let merged = dir.join("merged.json");
    let out = blast(
        &[
            &["merge", "--json", merged.to_str().unwrap()][..],
            &jsons
                .iter()
                .map(|p| p.to_str().unwrap())
                .collect::<Vec<_>>(),
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = read(&merged);
    // Every request the clients sent was answered and counted once: the server's count.
    assert_eq!(report["requests"].as_u64().unwrap(), answered, "{report}");
    assert_eq!(report["successes"], report["requests"]);
    assert_eq!(report["in_flight"], 0);
    let skew = report["merged"]["start_skew_ms"].as_f64().unwrap();
    assert!(skew < 50.0, "starts {skew} ms apart");
    let parts = report["merged"]["parts"].as_array().unwrap();
    let names: Vec<&str> = parts
        .iter()
        .map(|p| p["instance"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["client-0", "client-1", "client-2"]);
    for part in parts {
        assert!(part["requests"].as_u64().unwrap() > 0, "{part}");
    }
    // Each client's seconds line up: the merged run has as many seconds as one client's.
    let seconds = report["per_second"].as_array().unwrap().len();
    assert_eq!(
        seconds,
        read(&jsons[0])["per_second"].as_array().unwrap().len()
    );

    // A fourth client started 5 s after them did not overlap: merge refuses it.
    let server = serve_in(&nets.server);
    let late_at = format_rfc3339(blast::units::parse_instant(&at, unix_now()).unwrap() + 5.0);
    let late = dir.join("late.json");
    finished(client(&nets.clients[0], "late", &late_at, &late), "late");
    stop(server);
    let mut paths: Vec<&str> = jsons.iter().map(|p| p.to_str().unwrap()).collect();
    paths.push(late.to_str().unwrap());
    let out = blast(&[&["merge"][..], &paths].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the runs do not overlap") && err.lines().count() == 1,
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    drop(nets);
}
