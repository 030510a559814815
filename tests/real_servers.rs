//! End to end against real servers started by scripts/ and stopped by PID: nginx, and the
//! FastAPI /predict app under Gunicorn with Uvicorn workers. `.ci/run` installs both; a
//! missing server fails the test (with the command that installs it).

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// The servers compete for the same two cores: one test at a time keeps the numbers honest.
static SERIAL: Mutex<()> = Mutex::new(());

struct Started {
    script: &'static str,
    pid: String,
}

impl Started {
    fn start(script: &'static str, args: &[&str]) -> Started {
        Started::start_with(script, args, &[])
    }

    /// The same with these variables in the script's environment.
    fn start_with(script: &'static str, args: &[&str], env: &[(&str, &str)]) -> Started {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts")
            .join(script);
        let out = Command::new(&path)
            .arg("start")
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("run the start script");
        assert!(
            out.status.success(),
            "{script} failed (install with scripts/setup.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            pid.parse::<u32>().is_ok(),
            "{script} printed no PID: {pid:?}"
        );
        Started { script, pid }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scripts")
            .join(self.script);
        let _ = Command::new(path).args(["stop", &self.pid]).status();
    }
}

fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port().to_string()
}

fn blast_json(args: &[&str]) -> serde_json::Value {
    blast_json_exit(args, 0)
}

/// Runs blast with `--json -`, checks the exit code and returns the report.
fn blast_json_exit(args: &[&str], code: i32) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_blast"))
        .args(args)
        .args(["--json", "-"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn nginx_predict_with_the_full_check() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _nginx = Started::start("nginx.sh", &[&port, "1"]);
    let url = format!("http://127.0.0.1:{port}/predict");
    for driver in ["uring", "epoll"] {
        let report = blast_json(&[
            "-c",
            "64",
            "-d",
            "2",
            "--driver",
            driver,
            "--health",
            "/health",
            "--expect-status",
            "200",
            "--expect-json",
            "prediction=0|1",
            &url,
        ]);
        assert_eq!(report["failures"], 0, "{driver}: {}", report["errors"]);
        assert!(
            report["successes"].as_u64().unwrap() > 2_000,
            "{driver}: {}",
            report["successes"]
        );
        assert_eq!(report["connections"]["established"], 64);
        let ratio = report["concurrency"].as_f64().unwrap() / 64.0;
        assert!(
            (0.9..=1.01).contains(&ratio),
            "{driver}: Little's law ratio {ratio}"
        );
    }
    // HEAD and GET in one mix, on the same connections: the same head frames a HEAD
    // response without its body, so the remembered GET parse must not be reused for it.
    let mix = std::env::temp_dir().join(format!("blast-head-mix-{port}.jsonl"));
    std::fs::write(
        &mix,
        "{\"name\": \"head\", \"method\": \"HEAD\", \"expect_json\": []}\n{\"name\": \"get\", \"weight\": 2}\n",
    )
    .unwrap();
    let report = blast_json(&[
        "-c",
        "8",
        "-t",
        "1",
        "-n",
        "3000",
        "--targets",
        mix.to_str().unwrap(),
        "--expect-json",
        "prediction=0|1",
        &url,
    ]);
    std::fs::remove_file(&mix).ok();
    let successes: Vec<u64> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["successes"].as_u64().unwrap())
        .collect();
    assert_eq!(successes, [1000, 2000], "{}", report["errors"]);
    // A wrong expectation is caught on every response.
    let report = blast_json_exit(
        &[
            "-c",
            "8",
            "-n",
            "400",
            "--expect-json",
            "prediction=0",
            &url,
        ],
        1,
    );
    assert_eq!(
        (
            report["successes"].as_u64(),
            report["errors"]["body"].as_u64()
        ),
        (Some(0), Some(400))
    );
    // Through nginx's Unix socket: the same checks, the same connections.
    let socket = format!("/tmp/blast-nginx-{port}.sock");
    for driver in ["uring", "epoll"] {
        let report = blast_json(&[
            "--unix-socket",
            &socket,
            "--driver",
            driver,
            "-c",
            "16",
            "-n",
            "5000",
            "--health",
            "/health",
            "--expect-json",
            "prediction=0|1",
            &url,
        ]);
        assert_eq!(
            (
                report["successes"].as_u64(),
                report["connections"]["established"].as_u64()
            ),
            (Some(5000), Some(16)),
            "{driver}: {}",
            report["errors"]
        );
    }
    // Without keep-alive: nginx honours `Connection: close`, so each of the 2,000 checked
    // requests had its own connection.
    let report = blast_json(&[
        "-c",
        "16",
        "-n",
        "2000",
        "--no-keepalive",
        "--expect-json",
        "prediction=0|1",
        &url,
    ]);
    assert_eq!(
        (
            report["successes"].as_u64(),
            report["connections"]["established"].as_u64(),
            report["connections"]["keep_alive"].as_bool()
        ),
        (Some(2000), Some(2000), Some(false)),
        "{}",
        report["errors"]
    );
    // 404s are counted as status failures.
    let report = blast_json_exit(
        &[
            "-c",
            "4",
            "-n",
            "100",
            &format!("http://127.0.0.1:{port}/missing"),
        ],
        1,
    );
    assert_eq!(
        (
            report["errors"]["status"].as_u64(),
            report["status_codes"]["404"].as_u64()
        ),
        (Some(100), Some(100))
    );
}

/// `--pipeline 16` against nginx, which answers each pipelined request with a write of its
/// own: every response checked and counted once on both drivers, HEAD and GET framed in one
/// pipeline by their own requests, Little's law within what the pipelines hold, and nginx's
/// `keepalive_requests` closing connections mid-pipeline: the requests behind the close are
/// sent again and none is lost or counted twice.
#[test]
fn nginx_answers_pipelines() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _nginx = Started::start("nginx.sh", &[&port, "1"]);
    let url = format!("http://127.0.0.1:{port}/predict");
    let check = ["--expect-json", "prediction=0|1", "-t", "1"];
    for driver in ["uring", "epoll"] {
        let run = [
            "--pipeline",
            "16",
            "-c",
            "8",
            "--driver",
            driver,
            "-n",
            "20000",
        ];
        let report = blast_json(&[&run[..], &check, &[&url]].concat());
        assert_eq!(
            (report["successes"].as_u64(), report["failures"].as_u64()),
            (Some(20_000), Some(0)),
            "{driver}: {}",
            report["errors"]
        );
        assert_eq!(report["connections"]["established"], 8);
        assert_eq!(report["connections"]["pipeline_refill"], 4);
        let run = ["--pipeline", "16", "-c", "8", "--driver", driver, "-d", "2"];
        let report = blast_json(&[&run[..], &check, &[&url]].concat());
        assert_eq!(report["failures"], 0, "{driver}: {}", report["errors"]);
        let out = report["concurrency"].as_f64().unwrap();
        assert!(
            (8.0 * 12.0 * 0.9..=8.0 * 16.0 * 1.05).contains(&out),
            "{driver}: {out} requests out"
        );
    }
    // HEAD and GET in one pipeline: a HEAD's response has a Content-Length and no body.
    let mix = std::env::temp_dir().join(format!("blast-pipeline-mix-{port}.jsonl"));
    std::fs::write(
        &mix,
        "{\"name\": \"head\", \"method\": \"HEAD\", \"expect_json\": []}\n{\"name\": \"get\", \"weight\": 2}\n",
    )
    .unwrap();
    let mixed = ["--pipeline", "16", "-c", "4", "-n", "6000", "--targets"];
    let report = blast_json(&[&mixed[..], &[mix.to_str().unwrap()], &check, &[&url]].concat());
    std::fs::remove_file(&mix).ok();
    let successes: Vec<u64> = (report["targets"].as_array().unwrap().iter())
        .map(|t| t["successes"].as_u64().unwrap())
        .collect();
    assert_eq!(successes, [2000, 4000], "{}", report["errors"]);
    drop(_nginx);
    // nginx closes each connection after 100 answers, with requests still in its pipeline.
    let port = free_port();
    let _nginx = Started::start_with("nginx.sh", &[&port, "1"], &[("KEEPALIVE_REQUESTS", "100")]);
    let url = format!("http://127.0.0.1:{port}/predict");
    let run = ["--pipeline", "16", "-c", "4", "-n", "5000"];
    let report = blast_json(&[&run[..], &check, &[&url]].concat());
    assert_eq!(
        (report["successes"].as_u64(), report["failures"].as_u64()),
        (Some(5000), Some(0)),
        "{}",
        report["errors"]
    );
    // About one connection per 100 answers.
    let opened = report["connections"]["established"].as_u64().unwrap();
    assert!((46..=60).contains(&opened), "{opened} connections");
}

/// A body over `--max-body` cannot be checked: it is read to its end and dropped, counted as
/// `too_large` with its status, and the connection carries on. Under the limit, the same
/// 100 KB body is checked and passes.
#[test]
fn nginx_bodies_over_max_body_are_too_large() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _nginx = Started::start("nginx.sh", &[&port, "1"]);
    let url = format!("http://127.0.0.1:{port}/large");
    let run = |driver: &str, max_body: &str, code: i32| {
        let args = [
            "-c",
            "8",
            "-n",
            "1000",
            "--driver",
            driver,
            "--expect-json",
            "prediction=0|1",
            "--max-body",
            max_body,
            &url,
        ];
        blast_json_exit(&args, code)
    };
    for driver in ["uring", "epoll"] {
        let over = run(driver, "64k", 1);
        assert_eq!(over["requests"], 1000, "{driver}");
        assert_eq!(
            over["errors"]["too_large"], 1000,
            "{driver}: {}",
            over["errors"]
        );
        assert_eq!(over["status_codes"]["200"], 1000, "{driver}");
        assert_eq!(over["connections"]["reconnects"], 0, "{driver}: kept alive");
        assert!(over["bytes_read"].as_u64().unwrap() > 1000 * 100_000);
        let under = run(driver, "1M", 0);
        assert_eq!(under["successes"], 1000, "{driver}: {}", under["errors"]);
    }
}

#[test]
fn fastapi_under_gunicorn_with_uvicorn_workers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _app = Started::start("fastapi.sh", &[&port, "2"]);
    let url = format!("http://127.0.0.1:{port}/predict");
    let report = blast_json(&[
        "-c",
        "16",
        "-d",
        "2",
        "--health",
        "/health",
        "--body",
        r#"{"features":[1,2,3]}"#,
        "--expect-status",
        "200",
        "--expect-json",
        "prediction=0|1",
        &url,
    ]);
    assert_eq!(report["method"], "POST");
    assert_eq!(report["failures"], 0, "{}", report["errors"]);
    assert!(
        report["successes"].as_u64().unwrap() > 200,
        "{}",
        report["successes"]
    );
    // Gunicorn bound to a Unix socket too, as behind nginx: the same app without TCP, the
    // health check included, on both drivers.
    let socket = format!("/tmp/blast-fastapi-{port}.sock");
    for driver in ["uring", "epoll"] {
        let report = blast_json(&[
            "--unix-socket",
            &socket,
            "--driver",
            driver,
            "-c",
            "8",
            "-n",
            "400",
            "--health",
            "/health",
            "--body",
            r#"{"features":[1,2,3]}"#,
            "--expect-json",
            "prediction=0|1",
            "http://localhost/predict",
        ]);
        assert_eq!(
            (report["successes"].as_u64(), report["unix_socket"].as_str()),
            (Some(400), Some(socket.as_str())),
            "{driver}: {}",
            report["errors"]
        );
    }
    // GET /predict is answered too, and a missing /health stops the run before it starts.
    let report = blast_json(&[
        "-c",
        "4",
        "-n",
        "200",
        "--expect-json",
        "prediction=0|1",
        &url,
    ]);
    assert_eq!(report["successes"], 200);
    // The mix the docs ship (POST and GET /predict, /health, 8:1:1), each line checked
    // against its own expectation and counted under its own name.
    let mix = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mix.jsonl");
    let report = blast_json(&[
        "-c",
        "8",
        "-n",
        "1000",
        "--targets",
        mix.to_str().unwrap(),
        &format!("http://127.0.0.1:{port}/"),
    ]);
    let rows: Vec<(&str, u64, u64)> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let count = |key: &str| t[key].as_u64().unwrap();
            (
                t["name"].as_str().unwrap(),
                count("requests"),
                count("successes"),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("predict", 800, 800),
            ("predict-get", 100, 100),
            ("health", 100, 100)
        ],
        "{}",
        report["errors"]
    );
    let out = Command::new(env!("CARGO_BIN_EXE_blast"))
        .args(["--health", "/nope", "-n", "1", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("status 404"));
}

/// A streamed answer from a real model-server stack: the app's /generate under Gunicorn and
/// Uvicorn sends its headers at once, the first token after 50 ms, then one every 30 ms.
/// `--first-byte` reports the first token, not the headers and not the end; the body check
/// still reads the whole stream.
#[test]
fn fastapi_streamed_tokens_time_their_first_byte() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _app = Started::start("fastapi.sh", &[&port, "2"]);
    let url = format!("http://127.0.0.1:{port}/generate?tokens=5&first_ms=50&delay_ms=30");
    let report = blast_json(&[
        "-c",
        "4",
        "-d",
        "2",
        "--first-byte",
        "--expect-body",
        "data: [DONE]",
        &url,
    ]);
    assert_eq!(report["failures"], 0, "{}", report["errors"]);
    let (first, last) = (&report["first_byte_us"], &report["latency_us"]);
    let us = |v: &serde_json::Value, key: &str| v[key].as_f64().unwrap();
    assert_eq!(first["count"], last["count"]);
    assert!(us(first, "min") >= 50_000.0, "first byte {first}");
    assert!(us(last, "min") >= 170_000.0, "latency {last}");
    assert!(
        us(first, "p50") < us(last, "p50") - 80_000.0,
        "first byte {first}, latency {last}"
    );
    // Each second has its own first-byte percentiles: the first token, not the last.
    for row in report["per_second"].as_array().unwrap() {
        if row["requests"].as_u64().unwrap() > 0 {
            let (first, last) = (us(row, "first_byte_p99_us"), us(row, "p50_us"));
            assert!(first >= 50_000.0 && first < last - 80_000.0, "{row}");
        }
    }
    // An objective on the first byte times it without --first-byte, and judges it: the
    // first token comes after 50 ms, the last after 170 ms.
    for (slo, code) in [("first_byte_p50<150ms", 0), ("first_byte_p50<40ms", 1)] {
        let report = blast_json_exit(&["-c", "4", "-n", "24", "--slo", slo, &url], code);
        assert_eq!(report["first_byte_us"]["count"], 24, "{slo}");
        let missed = report["slo"]["missed"].as_str().unwrap_or("");
        assert_eq!(
            missed.starts_with("first_byte_p50 "),
            code == 1,
            "{slo}: {missed}"
        );
    }
}

/// nginx over https (`listen ... ssl`, a certificate from a throw-away CA): the full check on
/// both drivers with its CA trusted, a new handshake per request without keep-alive, and the
/// same nginx refused without the CA.
#[test]
fn nginx_over_https() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (port, tls_port) = (free_port(), free_port());
    let _nginx = Started::start("nginx.sh", &[&port, "1", "", &tls_port]);
    let url = format!("https://127.0.0.1:{tls_port}/predict");
    let ca = format!("/tmp/blast-nginx-{port}-ca.pem");
    let check = ["--expect-status", "200", "--expect-json", "prediction=0|1"];
    for driver in ["uring", "epoll"] {
        let args = ["-c", "32", "-d", "2", "--driver", driver, "--cacert", &ca];
        let report = blast_json(&[&args[..], &check, &["--health", "/health", &url]].concat());
        assert_eq!(report["failures"], 0, "{driver}: {}", report["errors"]);
        assert!(
            report["successes"].as_u64().unwrap() > 2_000,
            "{driver}: {}",
            report["successes"]
        );
        assert_eq!(report["url"], url.as_str());
        assert_eq!(report["connections"]["established"], 32);
        let ratio = report["concurrency"].as_f64().unwrap() / 32.0;
        assert!(
            (0.9..=1.01).contains(&ratio),
            "{driver}: Little's law ratio {ratio}"
        );

        let report = blast_json(
            &[
                &[
                    "-c",
                    "8",
                    "-n",
                    "400",
                    "--no-keepalive",
                    "--driver",
                    driver,
                    "--cacert",
                    &ca,
                ][..],
                &check,
                &[&url],
            ]
            .concat(),
        );
        assert_eq!(
            (report["successes"].as_u64(), report["failures"].as_u64()),
            (Some(400), Some(0)),
            "{driver}: {}",
            report["errors"]
        );
        assert_eq!(
            report["connect_us"]["count"], 400,
            "a handshake per request"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_blast"))
        .args(["-n", "10", &url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}

/// The FastAPI app served over https by Uvicorn itself (Python's ssl module, OpenSSL): the
/// POST with the full check on both drivers, its CA trusted.
#[test]
fn fastapi_over_https_under_uvicorn() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _app = Started::start("fastapi.sh", &[&port, "1", "", "uvicorn-tls"]);
    let url = format!("https://127.0.0.1:{port}/predict");
    let ca = format!("/tmp/blast-fastapi-{port}-ca.pem");
    for driver in ["uring", "epoll"] {
        let report = blast_json(&[
            "-c",
            "8",
            "-d",
            "2",
            "--driver",
            driver,
            "--cacert",
            &ca,
            "--health",
            "/health",
            "--body",
            r#"{"features":[1,2,3]}"#,
            "--expect-status",
            "200",
            "--expect-json",
            "prediction=0|1",
            &url,
        ]);
        assert_eq!(report["method"], "POST");
        assert_eq!(report["failures"], 0, "{driver}: {}", report["errors"]);
        assert!(
            report["successes"].as_u64().unwrap() > 100,
            "{driver}: {}",
            report["successes"]
        );
        assert!(report["tls"]["version"].is_string(), "{}", report["tls"]);
    }
}

/// User plus system clock ticks and resident pages of a process, from /proc.
fn proc_counters(pid: &str) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    (fields[11] + fields[12], fields[21])
}

/// A Gunicorn master and its workers' counters, summed: the master's children from ps.
fn gunicorn_counters(master: &str) -> (u64, u64) {
    let out = Command::new("ps")
        .args(["-o", "pid=", "--ppid", master])
        .output()
        .unwrap();
    let workers = String::from_utf8(out.stdout).unwrap();
    let pids: Vec<&str> = std::iter::once(master)
        .chain(workers.split_whitespace())
        .collect();
    assert_eq!(pids.len(), 3, "a master and two workers: {pids:?}");
    pids.iter()
        .map(|p| proc_counters(p))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// `--server-pid` of Gunicorn's master samples its workers too: the CPU it reports is what
/// /proc says the three processes used over the run, and the memory their resident sets;
/// every second, the CSV and the text carry them. A server killed mid-run is reported.
#[test]
fn fastapi_server_cpu_and_memory_are_sampled() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    // The server on the second core, saturated; blast on the first.
    let app = Started::start("fastapi.sh", &[&port, "2", "1"]);
    let url = format!("http://127.0.0.1:{port}/predict");
    let dir = std::env::temp_dir().join(format!("blast-server-pid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("seconds.csv");
    let (ticks_before, _) = gunicorn_counters(&app.pid);
    let started = std::time::Instant::now();
    let report = blast_json(&[
        "--cpus",
        "0",
        "-t",
        "1",
        "-c",
        "32",
        "-d",
        "3",
        "--server-pid",
        &app.pid,
        "--csv",
        csv.to_str().unwrap(),
        "--body",
        r#"{"features":[1,2,3]}"#,
        "--expect-json",
        "prediction=0|1",
        &url,
    ]);
    let wall = started.elapsed().as_secs_f64();
    let (ticks_after, pages) = gunicorn_counters(&app.pid);
    let server = &report["server"];
    assert_eq!(server["processes"], 3, "{server}");
    assert_eq!(server["pids"][0].to_string(), app.pid, "{server}");
    assert_eq!(server["exited_at_s"], serde_json::Value::Null);
    // /proc over the whole process run (connects and exit included) against blast's
    // window: the same core's worth within 20 points.
    let proc_pct = 100.0 * (ticks_after - ticks_before) as f64 / 100.0 / wall;
    let cpu = server["cpu_avg_pct"].as_f64().unwrap();
    assert!(
        (cpu - proc_pct).abs() < 20.0,
        "blast {cpu}%, /proc {proc_pct}%"
    );
    assert!(cpu > 30.0, "a saturated worker: {server}");
    let rss = server["rss_max_bytes"].as_f64().unwrap();
    let proc_rss = (pages * 4096) as f64;
    assert!(
        (rss / proc_rss - 1.0).abs() < 0.15,
        "blast {rss}, /proc {proc_rss}"
    );
    let rows = report["per_second"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r["server_cpu_pct"].as_f64().unwrap() > 0.0),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r["server_rss_bytes"].as_u64().unwrap() > 0),
        "{rows:?}"
    );
    let csv = std::fs::read_to_string(&csv).unwrap();
    // The run's record comes first, as `#` comments.
    assert!(csv.starts_with("# blast run "), "{csv}");
    let csv: String = (csv.lines())
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains(",server_cpu_pct,server_rss_bytes,users,")
    );
    // Every second has the server's CPU and memory (the 10th and 11th columns).
    let sampled = |l: &str| l.split(',').skip(9).take(2).all(|cell| !cell.is_empty());
    assert!(csv.lines().skip(1).all(sampled), "{csv}");
    drop(app);

    // Killed a second into a three-second run: the report says when. (SIGKILL, one Uvicorn
    // process: a graceful stop under load can outlast the run.)
    let app = Started::start("fastapi.sh", &[&port, "1", "1", "uvicorn"]);
    let url = format!("http://127.0.0.1:{port}/health");
    let blast = Command::new(env!("CARGO_BIN_EXE_blast"))
        .args([
            "-c",
            "4",
            "-d",
            "3",
            "--server-pid",
            &app.pid,
            "--json",
            "-",
            &url,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1_200));
        let killed = Command::new("kill")
            .args(["-9", &app.pid])
            .status()
            .unwrap();
        assert!(killed.success());
        drop(app);
    });
    let out = blast.wait_with_output().unwrap();
    killer.join().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let exited = report["server"]["exited_at_s"]
        .as_f64()
        .expect("an exit time");
    assert!((0.5..3.0).contains(&exited), "{}", report["server"]);
    assert!(report["failures"].as_u64().unwrap() > 0);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("  Server      EXITED: PID "), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// GET a URL with curl (installed with the servers), its body as text.
fn curl(url: &str) -> String {
    let out = Command::new("curl").args(["-sf", url]).output().unwrap();
    assert!(out.status.success(), "curl {url}");
    String::from_utf8(out.stdout).unwrap()
}

/// `--openapi` against a FastAPI app (scripts/api_app.py under Uvicorn): discovery finds every
/// GET and POST operation the app itself lists (the multipart upload skipped, and said why),
/// `--filter` narrows it, a `--param` range keeps `{item_id}` inside 1–2000 (the app counts
/// misses), every operation gets the same share, and bad input is one line and exit 2.
#[test]
fn fastapi_openapi_discovery_runs_every_operation() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _app = Started::start("fastapi.sh", &[&port, "1", "", "uvicorn", "api_app:app"]);
    let base = format!("http://127.0.0.1:{port}/");
    let routes: Vec<String> = serde_json::from_str(&curl(&format!("{base}routes"))).unwrap();
    let listed = Command::new(env!("CARGO_BIN_EXE_blast"))
        .args(["--openapi", &base, "--print-targets"])
        .output()
        .unwrap();
    assert_eq!(listed.status.code(), Some(0), "{listed:?}");
    let stderr = String::from_utf8(listed.stderr).unwrap();
    assert_eq!(
        stderr,
        "blast: --openapi: skipped POST /api/upload: its required body is multipart/form-data, \
         not JSON\n"
    );
    let mut names: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    names.push("POST /api/upload".into());
    names.sort();
    assert_eq!(names, routes);

    // The simple endpoints, every item id in turn.
    let simple_api = [
        "--openapi",
        &base,
        "--filter",
        "/api/simple",
        "--param",
        "item_id=1-2000",
    ];
    let report = blast_json(&[&simple_api[..], &["-c", "6", "-d", "2"]].concat());
    assert_eq!(report["failures"], 0, "{}", report["errors"]);
    let targets = report["targets"].as_array().unwrap();
    let counts: Vec<(String, u64)> = targets
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    let simple = ["async", "blocking", "sync"].map(|k| format!("GET /api/simple/{k}/{{item_id}}"));
    assert_eq!(
        counts.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        simple
    );
    let (least, most) = (
        counts.iter().map(|c| c.1).min().unwrap(),
        counts.iter().map(|c| c.1).max().unwrap(),
    );
    assert!(
        least > 50 && most - least <= 3,
        "the same share each: {counts:?}"
    );
    let stats: serde_json::Value = serde_json::from_str(&curl(&format!("{base}stats"))).unwrap();
    assert_eq!(stats.get("misses"), None, "{stats}");
    let served: u64 = ["simple_async", "simple_blocking", "simple_sync"]
        .iter()
        .map(|k| stats[k].as_u64().unwrap())
        .sum();
    assert_eq!(served, report["requests"].as_u64().unwrap(), "{stats}");

    // `--each` at two rates: every target alone at every rate, a row each, judged each.
    let dir = std::env::temp_dir().join(format!("blast-each-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("steps.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_blast"))
        .args(simple_api)
        .args([
            "--each",
            "--rates",
            "50,100",
            "-d",
            "1",
            "-c",
            "4",
            "--slo",
            "errors<1%",
        ])
        .args(["--csv", csv.to_str().unwrap(), "--json", "-"])
        .args(["--html", dir.join("steps.html").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let sweep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = sweep["steps"].as_array().unwrap();
    let rows: Vec<(f64, String, bool)> = steps
        .iter()
        .map(|s| {
            assert_eq!(
                s["targets"].as_array().unwrap().len(),
                1,
                "one target alone"
            );
            let name = s["targets"][0]["name"].as_str().unwrap().to_string();
            (
                s["rate"]["target"].as_f64().unwrap(),
                name,
                s["slo"]["met"].as_bool().unwrap(),
            )
        })
        .collect();
    let want: Vec<(f64, String, bool)> = [50.0, 100.0]
        .iter()
        .flat_map(|&r| simple.iter().map(move |n| (r, n.clone(), true)))
        .collect();
    assert_eq!(rows, want);
    let text = String::from_utf8(out.stderr).unwrap();
    let table: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  GET /api/simple/"))
        .collect();
    assert_eq!(table.len(), 6, "{text}");
    assert!(
        table[3].contains(" 100.0 ") && table[3].ends_with("met"),
        "{text}"
    );
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .ends_with(",\"GET /api/simple/async/{item_id}\""),
        "{csv}"
    );
    let page = std::fs::read_to_string(dir.join("steps.html")).unwrap();
    for title in [
        "Achieved (ok/s) by target rate, by target",
        "p99 by target rate, by target",
    ] {
        assert!(page.contains(&format!("{title}</")), "{title}");
    }
    for name in &simple {
        // The table's rows, and a line in each chart's legend.
        assert!(page.matches(name.as_str()).count() >= 4, "{name}");
    }
    std::fs::remove_dir_all(&dir).ok();

    // The database endpoints, once `POST /seed` has filled items 1–2000: every read and
    // write finds its item (a made-up id would be a 404), on SQLite in WAL mode.
    let seeded = Command::new("curl")
        .args(["-sf", "-X", "POST", &format!("{base}seed")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&seeded.stdout), r#"{"items":2000}"#);
    let db = [
        "--openapi",
        &base,
        "--filter",
        "/api/db",
        "--param",
        "item_id=1-2000",
    ];
    let report = blast_json(&[&db[..], &["-c", "4", "-d", "2"]].concat());
    assert_eq!(report["failures"], 0, "{}", report["errors"]);
    let names: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "GET /api/db/async/{item_id}",
            "POST /api/db/async/{item_id}",
            "GET /api/db/blocking/{item_id}",
            "GET /api/db/sync/{item_id}",
            "POST /api/db/sync/{item_id}",
        ]
    );
    let stats: serde_json::Value = serde_json::from_str(&curl(&format!("{base}stats"))).unwrap();
    assert_eq!(stats["journal_mode"], "wal", "{stats}");
    assert_eq!(stats.get("db_missing"), None, "{stats}");
    assert_eq!(stats.get("misses"), None, "{stats}");
    let served: u64 = [
        "async_read",
        "async_write",
        "blocking_read",
        "sync_read",
        "sync_write",
    ]
    .iter()
    .map(|k| stats[format!("db_{k}")].as_u64().unwrap())
    .sum();
    assert_eq!(served, report["requests"].as_u64().unwrap(), "{stats}");

    let health = format!("{base}health");
    let bad: [&[&str]; 5] = [
        &["--openapi", "--filter", "/nothing", &base],
        &["--openapi", "--param", "zz=1", &base],
        &["--openapi", &health, &base],
        &["--openapi", "http://127.0.0.1:1/"],
        &["--openapi", "/nonexistent/openapi.json", &base],
    ];
    for args in bad {
        let out = Command::new(env!("CARGO_BIN_EXE_blast"))
            .args(args)
            .args(["-d", "1"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("blast: --"), "{args:?}: {stderr}");
    }
}

/// The simple endpoints, each alone at 100/s and 300/s, under one Uvicorn worker and under two
/// (`--workers 2`, sampled through the master's PID): the async endpoint and the sync one in
/// the threadpool keep up, the one that blocks the event loop for 5 ms per request cannot pass
/// 200/s and collapses at 300/s (its queue grows for the whole step); `blast compare` of the
/// two sweeps shows the second worker lifting it, and the second worker's memory.
#[test]
fn fastapi_blocking_endpoint_collapses_and_a_second_worker_lifts_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("blast-workers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut reports = Vec::new();
    for workers in ["1", "2"] {
        let port = free_port();
        let app = Started::start(
            "fastapi.sh",
            &[&port, workers, "1", "uvicorn", "api_app:app"],
        );
        let recorded = std::fs::read_to_string(format!("/tmp/blast-fastapi-{port}.pid")).unwrap();
        assert_eq!(recorded.trim(), app.pid, "the master's PID, recorded");
        let path = dir.join(format!("workers-{workers}.json"));
        let out = Command::new(env!("CARGO_BIN_EXE_blast"))
            .args(["--cpus", "0", "-t", "1", "--openapi"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .args([
                "--filter",
                "/api/simple",
                "--param",
                "item_id=1-2000",
                "--each",
            ])
            .args(["--rates", "100,300", "-d", "2", "--server-pid", &app.pid])
            .args(["--json", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        drop(app);
        let sweep: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let steps = sweep["steps"].as_array().unwrap().clone();
        assert_eq!(steps.len(), 6);
        for step in &steps {
            let server = &step["server"];
            assert!(server["cpu_avg_pct"].as_f64().unwrap() > 0.0, "{server}");
            assert!(
                server["rss_max_bytes"].as_u64().unwrap() > 10 << 20,
                "{server}"
            );
            let processes = server["processes"].as_u64().unwrap();
            match workers {
                "1" => assert_eq!(processes, 1, "{server}"),
                _ => assert!(processes >= 3, "a master and two workers: {server}"),
            }
        }
        reports.push((path, steps));
    }
    let (_, one) = &reports[0];
    let step = |rate: f64, kind: &str| {
        let name = format!("GET /api/simple/{kind}/{{item_id}}");
        one.iter()
            .find(|s| s["rate"]["target"] == rate && s["targets"][0]["name"] == name.as_str())
            .unwrap()
            .clone()
    };
    let p99 = |s: &serde_json::Value| s["latency_us"]["p99"].as_f64().unwrap();
    let done = |s: &serde_json::Value| s["rps"].as_f64().unwrap();
    for kind in ["async", "blocking", "sync"] {
        let s = step(100.0, kind);
        assert!(
            done(&s) > 90.0 && s["success_pct"] == 100.0,
            "{kind} at 100/s: {s}"
        );
    }
    let blocking = step(300.0, "blocking");
    let fine = p99(&step(300.0, "async")).max(p99(&step(300.0, "sync")));
    assert!(
        done(&blocking) < 0.85 * 300.0 && p99(&blocking) > 5.0 * fine && p99(&blocking) > 200_000.0,
        "the blocking endpoint at 300/s: {} done/s, p99 {}us (the others' p99 {fine}us)",
        done(&blocking),
        p99(&blocking)
    );
    for kind in ["async", "sync"] {
        assert!(done(&step(300.0, kind)) > 270.0, "{kind} keeps up at 300/s");
    }

    let out = Command::new(env!("CARGO_BIN_EXE_blast"))
        .arg("compare")
        .args([&reports[0].0, &reports[1].0])
        .args(["--json", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let compared: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = compared["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "three targets at two rates, matched");
    let row = rows
        .iter()
        .find(|r| r["rate"] == 300.0 && r["target"] == "GET /api/simple/blocking/{item_id}")
        .unwrap();
    let ratio = |key: &str| row["ratios"][1][key].as_f64().unwrap();
    assert!(ratio("done_per_s") > 1.2, "{row}");
    assert!(ratio("p99_us") < 0.5, "{row}");
    assert!(
        ratio("server_rss_bytes") > 1.5,
        "two workers' memory: {row}"
    );
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(
        text.contains("\nGET /api/simple/blocking/{item_id} at 300.0/s\n"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The SHA-256 of a file, from coreutils' `sha256sum`.
fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// `--form` uploads against a FastAPI app that hashes what it got (scripts/ml_app.py under
/// Uvicorn, python-multipart): a binary file whose bytes include CR, LF, NUL and blast's first
/// boundary arrives byte-exact in every request, and several files under one name (a
/// `--targets` line's `form`) arrive each whole; bad forms are one line and exit 2.
#[test]
fn fastapi_uploads_arrive_byte_exact() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _app = Started::start("fastapi.sh", &[&port, "1", "", "uvicorn", "ml_app:app"]);
    let dir = std::env::temp_dir().join(format!("blast-form-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("cat.png");
    let mut bytes: Vec<u8> = (0..40_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    bytes.extend_from_slice(b"\r\n--\r\n\0----blast-form-0000000000000000--\r\n");
    std::fs::write(&image, &bytes).unwrap();
    let hash = sha256(&image);
    let url = format!("http://127.0.0.1:{port}/predict");
    let part = format!("file=@{}", image.display());
    let report = blast_json(&[
        "-c",
        "4",
        "-d",
        "1",
        "--form",
        &part,
        "--expect-json",
        &format!("sha256=\"{hash}\""),
        "--expect-json",
        "content_type=\"image/png\"",
        &url,
    ]);
    assert_eq!(report["method"], "POST");
    assert!(report["requests"].as_u64().unwrap() > 20, "{report}");
    assert_eq!(report["failures"], 0, "{}", report["errors"]);

    // Two files under one name, and a text field in the query, from a mix line.
    let notes = dir.join("notes.bin");
    std::fs::write(&notes, [0u8, 255, 13, 10, 1].repeat(999)).unwrap();
    let targets = dir.join("mix.jsonl");
    let line = serde_json::json!({
        "name": "train",
        "path": "/upload_training_data?label=cat",
        "form": [part, format!("files=@{};filename=n.bin", notes.display())],
        "expect_json": "files=2",
        "expect_body": sha256(&notes),
    });
    let line = line.to_string().replace("\"file=@", "\"files=@");
    std::fs::write(&targets, line).unwrap();
    let base = format!("http://127.0.0.1:{port}/");
    let report = blast_json(&[
        "-c",
        "2",
        "-d",
        "1",
        "--targets",
        targets.to_str().unwrap(),
        &base,
    ]);
    assert!(report["requests"].as_u64().unwrap() > 10, "{report}");
    assert_eq!(report["failures"], 0, "{}", report["errors"]);

    for (form, says) in [
        (
            "file=@/no/such/cat.png",
            "--form file: cannot read '/no/such/cat.png'",
        ),
        ("file", "invalid --form 'file'"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_blast"))
            .args(["--form", form, "-d", "1", &url])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A users sweep of each simple endpoint alone (`--each -c 1,2`) under one Uvicorn worker:
/// two users double the async and the threadpool endpoints' throughput, but not the one that
/// blocks its event loop, whose knee is at one user; the text marks that row.
#[test]
fn fastapi_users_sweep_marks_the_blocking_endpoints_knee() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _app = Started::start("fastapi.sh", &[&port, "1", "1", "uvicorn", "api_app:app"]);
    let base = format!("http://127.0.0.1:{port}/");
    let out = Command::new(env!("CARGO_BIN_EXE_blast"))
        .args([
            "--cpus",
            "0",
            "-t",
            "1",
            "--openapi",
            &base,
            "--filter",
            "/api/simple",
        ])
        .args([
            "--param",
            "item_id=1-2000",
            "--each",
            "-c",
            "1,2",
            "-d",
            "2",
            "--json",
            "-",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let sweep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let knees = &sweep["knee_users"];
    let name = |kind: &str| format!("GET /api/simple/{kind}/{{item_id}}");
    assert_eq!(knees[name("blocking")], 1, "{sweep}");
    assert_eq!(knees[name("async")], serde_json::Value::Null, "{sweep}");
    assert_eq!(knees[name("sync")], serde_json::Value::Null, "{sweep}");
    let steps = sweep["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    let users: Vec<u64> = (steps.iter())
        .map(|s| s["connections"]["requested"].as_u64().unwrap())
        .collect();
    assert_eq!(users, [1, 1, 1, 2, 2, 2]);
    let text = String::from_utf8(out.stderr).unwrap();
    let marked: Vec<&str> = text.lines().filter(|l| l.ends_with("<- knee")).collect();
    assert_eq!(marked.len(), 1, "{text}");
    assert!(
        marked[0].starts_with(&format!("  {}       1 ", name("blocking"))),
        "{text}"
    );
}

/// `--locust-csv` against scripts/ml_app.py: the four files have exactly the headers that a
/// real Locust run against the same app writes (scripts/locustfile.py, 3 s headless), line
/// endings included; their numbers are blast's JSON's; the failures file counts the injected
/// 500s (one /flaky request in ten).
#[test]
fn locust_csv_files_match_a_real_locust_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _app = Started::start("fastapi.sh", &[&port, "1", "", "uvicorn", "ml_app:app"]);
    let base = format!("http://127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("blast-locust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let locustfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/locustfile.py");
    let theirs = dir.join("locust");
    let locust = Command::new("python3")
        .args([
            "-m",
            "locust",
            "-f",
            locustfile.to_str().unwrap(),
            "--headless",
        ])
        .args([
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "3s",
            "--only-summary",
            "-H",
            &base,
        ])
        .args(["--csv", theirs.to_str().unwrap()])
        .output()
        .expect("Locust (pip install -r scripts/requirements.txt)");
    let file = |prefix: &Path, suffix: &str| {
        let path = format!("{}{suffix}", prefix.display());
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}; {locust:?}"))
    };
    let mix = dir.join("mix.jsonl");
    std::fs::write(
        &mix,
        "{\"path\": \"/health\"}\n{\"name\": \"flaky\", \"path\": \"/flaky\"}\n",
    )
    .unwrap();
    let ours = dir.join("blast");
    let report = blast_json(&[
        "-c",
        "2",
        "-d",
        "2",
        "--targets",
        mix.to_str().unwrap(),
        "--locust-csv",
        ours.to_str().unwrap(),
        &format!("{base}/"),
    ]);
    let suffixes = [
        "_stats.csv",
        "_failures.csv",
        "_exceptions.csv",
        "_stats_history.csv",
    ];
    for suffix in suffixes {
        let head = |text: &str| text.split_inclusive('\n').next().unwrap_or("").to_string();
        assert_eq!(
            head(&file(&ours, suffix)),
            head(&file(&theirs, suffix)),
            "{suffix}"
        );
    }

    let stats = file(&ours, "_stats.csv");
    let rows: Vec<Vec<&str>> = (stats.lines().skip(1))
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 3, "{stats}");
    let targets = report["targets"].as_array().unwrap();
    for (row, json) in rows.iter().zip(targets.iter().chain([&report])) {
        let name = json["name"].as_str().unwrap_or("Aggregated");
        assert_eq!(row[1], name, "{stats}");
        assert_eq!(row[2], json["requests"].to_string(), "{stats}");
        assert_eq!(row[3], json["failures"].to_string(), "{stats}");
        let mean: f64 = row[5].parse().unwrap();
        let json_mean = json["latency_us"]["mean"].as_f64().unwrap() / 1e3;
        assert!((mean - json_mean).abs() < 1e-9, "{stats}");
        // serde_json parses floats to within an ulp (without its float_roundtrip feature).
        let rps: f64 = row[9].parse().unwrap();
        let json_rps = json["rps"].as_f64().unwrap();
        assert!((rps / json_rps - 1.0).abs() < 1e-12, "{rps} {json_rps}");
    }
    let flaky = &targets[1];
    let failures = file(&ours, "_failures.csv");
    let row: Vec<&str> = failures.lines().nth(1).unwrap().split(',').collect();
    assert_eq!((row[0], row[1]), ("GET", "flaky"), "{failures}");
    // The reason, and a sample of what the app said when it failed.
    let reasons = flaky["failure_reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{flaky}");
    assert_eq!(reasons[0]["reason"], "status 500");
    let sample = reasons[0]["sample"].as_str().unwrap();
    assert_eq!(
        sample,
        "HTTP/1.1 500 Internal Server Error\n{\"detail\":\"model overloaded\"}"
    );
    assert_eq!(row[2], "status 500", "{failures}");
    let occurrences: u64 = row[3].parse().unwrap();
    assert_eq!(occurrences, flaky["errors"]["status"].as_u64().unwrap());
    assert_eq!(occurrences, reasons[0]["count"].as_u64().unwrap());
    let expected = flaky["requests"].as_u64().unwrap() / 10;
    assert!(
        occurrences.abs_diff(expected) <= 1,
        "{occurrences} of {}",
        flaky["requests"]
    );
    assert_eq!(
        failures.lines().count(),
        2,
        "/health never fails: {failures}"
    );

    let history = file(&ours, "_stats_history.csv");
    let rows: Vec<Vec<&str>> = (history.lines().skip(1))
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), report["per_second"].as_array().unwrap().len());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let stamps: Vec<u64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(stamps.windows(2).all(|w| w[1] == w[0] + 1), "{history}");
    assert!(
        now.as_secs().abs_diff(stamps[rows.len() - 1]) < 30,
        "{history}"
    );
    let last = &rows[rows.len() - 1];
    assert_eq!((last[1], last[3]), ("2", "Aggregated"));
    assert_eq!(last[17], report["requests"].to_string(), "{history}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `--think` against scripts/ml_app.py under Uvicorn, as Locust's `wait_time = between(0.1,
/// 0.3)`: each of 40 users pauses 100–300 ms between a response and its next request, so
/// the throughput is users ÷ (latency + mean think) — within 10% — and the report's cycle
/// reads Little's law back to the users. (The warm-up starts the window with the users at
/// random points of their cycles, as in a long run.)
#[test]
fn fastapi_think_time_paces_users_as_locust_does() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _app = Started::start("fastapi.sh", &[&port, "1", "", "uvicorn", "ml_app:app"]);
    let url = format!("http://127.0.0.1:{port}/health");
    let report = blast_json(&[
        "-c",
        "40",
        "--think",
        "100ms-300ms",
        "--warmup",
        "1s",
        "-d",
        "4",
        &url,
    ]);
    let latency_s = report["latency_us"]["mean"].as_f64().unwrap() / 1e6;
    let expected = 40.0 / (latency_s + 0.2);
    let rps = report["rps"].as_f64().unwrap();
    assert!(
        (rps / expected - 1.0).abs() < 0.1,
        "{rps} vs {expected}: {report}"
    );
    let think = &report["think"];
    assert_eq!(
        (think["min_s"].as_f64(), think["max_s"].as_f64()),
        (Some(0.1), Some(0.3))
    );
    let mean = think["mean_s"].as_f64().unwrap();
    assert!((0.19..0.215).contains(&mean), "{think}");
    let pauses = think["pauses"].as_u64().unwrap();
    let requests = report["requests"].as_u64().unwrap();
    assert!(
        pauses.abs_diff(requests) <= 40,
        "{pauses} pauses, {requests} requests"
    );
    let users = think["users"].as_f64().unwrap();
    assert!((users / 40.0 - 1.0).abs() < 0.1, "{think}");
    assert_eq!(report["failures"], 0);
}

/// `--flow docs/retrain.jsonl` against scripts/ml_app.py under Uvicorn: each of 8 users
/// starts a retraining job, polls it until it is done and deploys the model it trained (a
/// name with a quote, put into a JSON body). Every ID and model sent is right (the app counts
/// unknown IDs and wrong models: none), polling stops at `done`, and the flow's duration is
/// the job's 0.5 s plus at most a poll interval and the requests. A flow whose capture misses
/// restarts with its reason, and never sends its next step. `--locust-csv` has a row per step
/// and one for the flow.
#[test]
fn fastapi_retrain_flow_captures_polls_and_deploys() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let _app = Started::start("fastapi.sh", &[&port, "1", "", "uvicorn", "ml_app:app"]);
    let url = format!("http://127.0.0.1:{port}/");
    let dir = std::env::temp_dir().join(format!("blast-flow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = dir.join("retrain").display().to_string();
    let flow = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/retrain.jsonl");
    let report = blast_json(&[
        "--flow",
        flow,
        "-c",
        "8",
        "-d",
        "5",
        "--slo",
        "flow:p50<2s",
        "--locust-csv",
        &prefix,
        &url,
    ]);
    let stats: serde_json::Value =
        serde_json::from_str(&curl(&format!("{url}retrain_stats"))).unwrap();
    assert_eq!(stats["unknown_ids"], 0, "{stats}");
    assert_eq!(stats["wrong_model"], 0, "{stats}");
    assert_eq!(report["failures"], 0, "{report}");
    let target = |name: &str| {
        let targets = report["targets"].as_array().unwrap();
        targets.iter().find(|t| t["name"] == name).unwrap().clone()
    };
    let flows = target("flow")["successes"].as_u64().unwrap();
    assert!(flows >= 30, "{report}");
    let deployed = stats["deployed"].as_u64().unwrap();
    assert!(
        deployed >= flows && deployed <= flows + 8,
        "{stats} {report}"
    );
    assert_eq!(target("deploy")["requests"].as_u64(), Some(flows));
    // Polls stop at done: about 0.5 s / 100 ms of them per flow, never the 100 allowed.
    let polls = target("poll")["requests"].as_u64().unwrap() as f64 / flows as f64;
    assert!(
        (3.0..9.0).contains(&polls),
        "{polls} polls a flow: {report}"
    );
    let duration = &target("flow")["latency_us"];
    let p50_s = duration["p50"].as_f64().unwrap() / 1e6;
    assert!((0.5..0.9).contains(&p50_s), "{duration}");
    assert!(duration["min"].as_f64().unwrap() >= 500_000.0, "{duration}");
    assert_eq!(report["slo"]["met"], true, "{report}");
    let csv = std::fs::read_to_string(format!("{prefix}_stats.csv")).unwrap();
    for row in [",retrain,", ",poll,", ",deploy,", "flow,flow,"] {
        assert!(csv.contains(row), "{row}: {csv}");
    }

    // A capture at the wrong path: the first step fails with the reason, nothing is polled.
    let wrong = dir.join("wrong.jsonl");
    let text = std::fs::read_to_string(flow).unwrap();
    std::fs::write(
        &wrong,
        text.replace("\"job_id\": \"job_id\"", "\"job_id\": \"job.id\""),
    )
    .unwrap();
    let before = stats["created"].as_u64().unwrap();
    let report = blast_json_exit(
        &[
            "--flow",
            wrong.to_str().unwrap(),
            "-c",
            "2",
            "-d",
            "1",
            &url,
        ],
        1,
    );
    let retrain = &report["targets"][0];
    assert_eq!(retrain["name"], "retrain");
    assert_eq!(
        retrain["failure_reasons"][0]["reason"], "body: capture job_id: no job.id in the body",
        "{report}"
    );
    assert_eq!(report["targets"][1]["requests"], 0, "{report}");
    let stats: serde_json::Value =
        serde_json::from_str(&curl(&format!("{url}retrain_stats"))).unwrap();
    assert_eq!(stats["unknown_ids"], 0, "{stats}");
    assert!(stats["created"].as_u64().unwrap() > before);
    std::fs::remove_dir_all(&dir).ok();
}
