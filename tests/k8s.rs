//! The distributed run on Kubernetes, as far as it can be tested without a cluster (none is
//! reachable from the test machines):
//! - the manifest `scripts/k8s-run.sh` generates is golden-tested against the example in
//!   deploy/kubernetes/, and both validate against the Kubernetes API's published schemas for
//!   the current minor version (`kubernetes-validate --strict`, from PyPI);
//! - every argument reaches the pod as given, however it is quoted;
//! - the pod's entrypoint (deploy/kubernetes/blast-pod.sh) runs real blast runs against blast's
//!   own target, and the helper collects their reports from those logs and merges them;
//! - the image builds where a container builder runs (skipped with a message otherwise).
//!
//! What kubectl itself does (apply, wait, logs) is not run here.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use blast::run::plan::unix_now;
use blast::serve::faults::Faults;
use blast::units::format_rfc3339;
use common::scratch;

/// The Kubernetes version the manifests are validated against: the newest minor that
/// kubernetes-validate (scripts/requirements.txt) knows.
const KUBERNETES: &str = "1.37.0";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn helper(args: &[&str]) -> Output {
    Command::new(repo("scripts/k8s-run.sh"))
        .args(args)
        .env("BLAST", env!("CARGO_BIN_EXE_blast"))
        .output()
        .unwrap()
}

/// The helper's arguments that render deploy/kubernetes/blast-job.yaml (docs/distributed.md
/// shows the same command).
const EXAMPLE: &[&str] = &[
    "--dry-run",
    "--name",
    "blast-example",
    "--start-at",
    "2026-12-07T10:00:00Z",
    "--image",
    "registry.example.com/blast:0.1.0",
    "--cpus",
    "4",
    "--memory",
    "2Gi",
    "3",
    "http://predict.default.svc.cluster.local:8000/predict",
    "--",
    "-c",
    "256",
    "-d",
    "60",
    "--body",
    r#"{"features":[1,2,3]}"#,
    "--expect-json",
    "prediction=0|1",
];

fn validate(path: &Path) -> Output {
    Command::new("kubernetes-validate")
        .args(["-k", KUBERNETES, "--strict"])
        .arg(path)
        .output()
        .expect("kubernetes-validate (pip install -r scripts/requirements.txt)")
}

#[test]
fn the_helper_renders_the_example_job_which_validates() {
    let out = helper(EXAMPLE);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let example = repo("deploy/kubernetes/blast-job.yaml");
    let rendered = String::from_utf8(out.stdout).unwrap();
    if std::env::var_os("BLAST_BLESS").is_some() {
        std::fs::write(&example, &rendered).unwrap();
    }
    assert_eq!(
        rendered,
        std::fs::read_to_string(&example).unwrap(),
        "the helper no longer renders deploy/kubernetes/blast-job.yaml; if intended, run \
         BLAST_BLESS=1 cargo test --test k8s and review the diff"
    );
    let out = validate(&example);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("passed for resource job/blast-example"),
        "{out:?}"
    );
    // The validation can fail: a misspelt field and a wrong type are caught.
    let dir = scratch("k8s-schema");
    for (from, to) in [
        ("  completions: 3", "  completion: 3"),
        ("  parallelism: 3", "  parallelism: three"),
    ] {
        let broken = dir.join("broken.yaml");
        std::fs::write(&broken, rendered.replacen(from, to, 1)).unwrap();
        assert!(!validate(&broken).status.success(), "{to} passed");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The container's arguments, as Kubernetes reads them from the manifest.
fn pod_args(manifest: &str) -> Vec<String> {
    let script = "import json, sys, yaml\n\
                  job = yaml.safe_load(sys.stdin)\n\
                  print(json.dumps(job['spec']['template']['spec']['containers'][0]['args']))";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), manifest.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_argument_reaches_the_pod_as_given() {
    let tricky = [
        "-H",
        r#"X-Note: a "quoted" \ back\slash # not a comment: $HOME 'single' ünïcode"#,
        "--body",
        "- [not: a list]",
        "--threads",
        "3",
    ];
    let url = "http://svc:8000/predict?q=a&b=%20";
    let args = [
        &[
            "--dry-run",
            "--start-at",
            "2026-12-07T10:00:00Z",
            "2",
            url,
            "--",
        ][..],
        &tricky,
    ]
    .concat();
    let out = helper(&args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let manifest = String::from_utf8(out.stdout).unwrap();
    // Given -t (--threads), the helper adds none of its own.
    let mut want = vec!["--start-at", "2026-12-07T10:00:00Z"];
    want.extend(tricky);
    want.push(url);
    assert_eq!(pod_args(&manifest), want);
    let dir = scratch("k8s-args");
    let path = dir.join("job.yaml");
    std::fs::write(&path, &manifest).unwrap();
    assert!(validate(&path).status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_helper_arguments_exit_2_with_one_line() {
    let url = "http://svc:8000/";
    let cases: &[(&[&str], &str)] = &[
        (&["0", url], "N: '0'"),
        (&["many", url], "N: 'many'"),
        (&["3"], "usage"),
        (&["3", "ftp://svc/"], "not an http:// or https:// URL"),
        (&["3", url, "-c", "8"], "BLAST_ARGS come after --"),
        (&["--cpus", "1.5", "3", url], "--cpus"),
        (&["--memory", "lots", "3", url], "--memory"),
        (&["--name", "Blast_Run", "3", url], "--name"),
        (&["--frobnicate", "3", url], "unknown option --frobnicate"),
        (&["3", url, "--", "--json", "x.json"], "must not set --json"),
        (
            &["3", url, "--", "--start-at", "+5s"],
            "must not set --start-at",
        ),
        (&["3", url, "--", "-H", "X: a\tb"], "control character"),
        (&["--lead"], "--lead needs a value"),
    ];
    for (args, says) in cases {
        let out = helper(&[&["--dry-run"][..], args].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("k8s-run: ") && err.contains(says) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn reports_are_collected_from_the_pods_logs_and_merged() {
    let server = common::builtin(Faults::default());
    let url = format!("http://{}/predict", server.addr);
    let dir = scratch("k8s-logs");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let at = format_rfc3339(unix_now() + 2.0);
    // Two pods as the Job runs them (one misses its --slo, which is no pod failure), and one
    // whose arguments are bad: its log has no report.
    let pods: [(&str, &[&str]); 3] = [
        ("blast-x-0-abcde", &[]),
        ("blast-x-1-fghij", &["--slo", "p50<1us"]),
        ("blast-x-2-klmno", &["--rate", "fast"]),
    ];
    let running: Vec<_> = pods
        .iter()
        .map(|(pod, extra)| {
            let log = std::fs::File::create(logs.join(format!("{pod}.log"))).unwrap();
            let child = Command::new(repo("deploy/kubernetes/blast-pod.sh"))
                .args([
                    "--instance",
                    pod,
                    "--start-at",
                    &at,
                    "-c",
                    "2",
                    "-t",
                    "1",
                    "-d",
                    "1",
                ])
                .args(*extra)
                .arg(&url)
                .env("BLAST", env!("CARGO_BIN_EXE_blast"))
                .env("BLAST_REPORT", dir.join(format!("{pod}.report")))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            (pod, child)
        })
        .collect();
    let codes: Vec<Option<i32>> = (running.into_iter())
        .map(|(_, mut child)| child.wait().unwrap().code())
        .collect();
    assert_eq!(codes, [Some(0), Some(0), Some(2)]);
    let served = server.stop().unwrap().requests;
    let out_dir = dir.join("out");
    let out = helper(&[
        "--from-logs",
        logs.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(err.contains("blast-x-2-klmno left no report"), "{err}");
    assert!(err.contains("merging 2 reports; 1 pods left none"), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Merged      2 runs"), "{text}");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out_dir.join(name)).unwrap()).unwrap()
    };
    let merged = read("merged.json");
    // Everything the server answered, counted once.
    assert_eq!(merged["requests"].as_u64().unwrap(), served, "{merged}");
    let parts = merged["merged"]["parts"].as_array().unwrap();
    let names: Vec<&str> = parts
        .iter()
        .map(|p| p["instance"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["blast-x-0-abcde", "blast-x-1-fghij"]);
    for (part, pod) in parts.iter().zip(&pods) {
        assert_eq!(
            part["requests"],
            read(&format!("{}.json", pod.0))["requests"]
        );
    }
    assert!(merged["merged"]["start_skew_ms"].as_f64().unwrap() < 50.0);
    let html = std::fs::read_to_string(out_dir.join("merged.html")).unwrap();
    assert!(html.contains("blast-x-1-fghij"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_image_builds_where_a_builder_runs() {
    let daemon = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    if !daemon.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: no container builder here (no docker daemon answers)");
        return;
    }
    let tag = format!("blast-test:{}", std::process::id());
    let build = Command::new("docker")
        .args([
            "build",
            "-q",
            "-f",
            "deploy/kubernetes/Dockerfile",
            "-t",
            &tag,
            ".",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(build.status.success(), "{build:?}");
    let run = |args: &[&str]| {
        Command::new("docker")
            .args(["run", "--rm", "--user", "65532", &tag])
            .args(args)
            .output()
            .unwrap()
    };
    let version = run(&["--version"]);
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("blast "),
        "{version:?}"
    );
    // The entrypoint the Job uses is in the image, and bad arguments exit 2 through it.
    let pod = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--entrypoint",
            "blast-pod",
            &tag,
            "--rate",
            "fast",
            "http://x/",
        ])
        .output()
        .unwrap();
    assert_eq!(pod.status.code(), Some(2), "{pod:?}");
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
}
