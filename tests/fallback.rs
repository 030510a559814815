//! Where io_uring is blocked, as Docker's default seccomp profile blocks it: `--driver auto`
//! falls back to epoll in blast and in `blast serve`, says so once on stderr, and both work.
//! And the causes a report names: a refused connect, plain http sent to an https port.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Makes `command` run with `io_uring_setup` failing with EPERM, through a seccomp filter
/// installed between fork and exec, as a container runtime's profile does.
#[cfg(target_arch = "x86_64")]
fn without_io_uring(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the closure makes only prctl calls, which are
    // async-signal-safe, on data it owns.
    unsafe { command.pre_exec(block_io_uring) }
}

/// A classic BPF program: on x86_64, `io_uring_setup` returns EPERM; all else is allowed.
#[cfg(target_arch = "x86_64")]
fn block_io_uring() -> std::io::Result<()> {
    const LOAD_WORD: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JUMP_IF_EQUAL: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RETURN: u16 = 0x06; // BPF_RET | BPF_K
    const ARCH_X86_64: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    const RET_ERRNO: u32 = 0x0005_0000; // SECCOMP_RET_ERRNO
    const RET_ALLOW: u32 = 0x7fff_0000; // SECCOMP_RET_ALLOW
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let program = [
        op(LOAD_WORD, 0, 0, 4), // seccomp_data.arch
        op(JUMP_IF_EQUAL, 0, 3, ARCH_X86_64),
        op(LOAD_WORD, 0, 0, 0), // seccomp_data.nr
        op(JUMP_IF_EQUAL, 0, 1, libc::SYS_io_uring_setup as u32),
        op(RETURN, 0, 0, RET_ERRNO | libc::EPERM as u32),
        op(RETURN, 0, 0, RET_ALLOW),
    ];
    let filter = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: prctl with a filter that outlives the call.
    let installed = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(libc::PR_SET_SECCOMP, 2, &filter as *const libc::sock_fprog) == 0
    };
    if installed {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn blast() -> Command {
    Command::new(env!("CARGO_BIN_EXE_blast"))
}

/// Starts `blast serve` and returns it with its URL and a thread that collects its other
/// stderr lines (those before the URL line and those after it, until it exits).
fn serve(command: &mut Command) -> (Child, String, JoinHandle<Vec<String>>) {
    let mut server = command.stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut before = Vec::new();
    let url = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("no URL in {before:?}");
        }
        match line.split_whitespace().find(|w| w.contains("://")) {
            Some(url) => break url.trim_end_matches(['/', ',', ')']).to_string(),
            None => before.push(line.trim_end().to_string()),
        }
    };
    let rest = std::thread::spawn(move || {
        before.extend(stderr.lines().map_while(Result::ok));
        before
    });
    (server, url, rest)
}

fn waited(mut child: Child, within: Duration) -> bool {
    let began = Instant::now();
    while began.elapsed() < within {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    false
}

/// blast with `args` on one connection against `url`: its JSON report, and its text report
/// (on stderr, as with `--json -`).
fn json_run(args: &[&str], url: String) -> (serde_json::Value, String) {
    let out = blast()
        .args(args)
        .args(["-c", "1", "--json", "-", &url])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stdout}{stderr}"));
    (json, stderr)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[cfg(target_arch = "x86_64")]
#[test]
fn blocked_io_uring_falls_back_to_epoll_and_says_so() {
    let said = "blast: io_uring is unavailable, using epoll: Operation not permitted";
    let (server, url, said_by_serve) = serve(without_io_uring(blast().args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "-t",
        "1",
        "-d",
        "4",
    ])));

    let out = without_io_uring(blast().args(["-n", "500", "-c", "4", "-t", "2"]))
        .arg(format!("{url}/predict"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "once, not once per core: {stderr}"
    );
    assert!(stderr.starts_with(said), "{stderr}");
    assert!(stdout.contains("2 threads (epoll)"), "{stdout}");
    assert!(stdout.contains("500 total, 500 ok, 0 failed"), "{stdout}");
    assert!(
        waited(server, Duration::from_secs(10)),
        "-d ends the epoll server"
    );
    let lines = said_by_serve.join().unwrap();
    let fell_back: Vec<_> = lines.iter().filter(|l| l.starts_with(said)).collect();
    assert_eq!(fell_back.len(), 1, "{lines:?}");
    assert!(fell_back[0].contains("seccomp"), "{lines:?}");
    assert!(lines[0].starts_with(said), "before the URL line: {lines:?}");

    // Asked for io_uring where it is blocked: the server does not start, and says why.
    let out = without_io_uring(blast().args(["serve", "--listen", "127.0.0.1:0"]))
        .args(["--driver", "uring", "-d", "5"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("io_uring is not available here"),
        "{stderr}"
    );

    // Where io_uring works, nothing is said.
    let server = common::builtin(Default::default());
    let out = blast()
        .args(["-n", "100", "-c", "2"])
        .arg(format!("http://{}/predict", server.addr))
        .output()
        .unwrap();
    assert!(out.stderr.is_empty(), "{}", text(&out).1);
}

/// A refused connect is named once, with its cause, in the text and the JSON (as the reason
/// of its failures).
#[test]
fn a_refused_connect_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (json, stderr) = json_run(&["-n", "4"], format!("http://127.0.0.1:{port}/"));
    assert_eq!(json["errors"]["connect"], 4, "{json}");
    let cause = "Connection refused (os error 111)";
    assert_eq!(json["connect_error"], cause);
    let reason = format!("connect: {cause}");
    assert_eq!(
        json["failure_reasons"],
        serde_json::json!([{"category": "connect", "reason": reason, "count": 4, "sample": ""}])
    );
    assert_eq!(json["other_failures"], 0);
    assert_eq!(stderr.matches(&reason).count(), 1, "{stderr}");
}

/// Plain http sent to an https port gets TLS alerts back: malformed, and the report says why.
#[test]
fn plain_http_to_an_https_port_is_named() {
    let certs = common::test_certs();
    let (server, url, _) = serve(blast().args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "-t",
        "1",
        "--cert",
        certs.join("server.pem").to_str().unwrap(),
        "--key",
        certs.join("server.key").to_str().unwrap(),
    ]));
    let plain = url.replace("https://", "http://");
    // Each failure on a connection that served nothing backs off (10 ms, doubling).
    let (json, stderr) = json_run(&["-n", "8"], format!("{plain}/predict"));
    assert_eq!(json["errors"]["malformed"], 8, "{json}");
    assert_eq!(json["tls_answers"], 8, "{json}");
    assert!(
        stderr.contains(
            "Malformed   8 answered in TLS: this port speaks https (use an https:// URL)"
        ),
        "{stderr}"
    );
    let mut server = server;
    let _ = server.kill();
    let _ = server.wait();
}
