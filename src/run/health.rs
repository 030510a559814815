//! `--health`: one blocking request before the run. A server that is not up gets a clear
//! message and exit code 2 instead of a report full of connect errors. The same GET fetches
//! `--openapi`'s document.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use crate::http::request::{self, RequestSpec};
use crate::http::response::{Framer, Response};
use crate::results::failures::SAMPLE_BYTES;
use crate::run::url::{Endpoint, Url};
use crate::tls::{Tls, Trust};

/// Resolves `--health` against the run's target: a path (`/health`) or a full URL.
pub fn health_target(target: &Url, health: &str) -> Result<Url, String> {
    if health.starts_with('/') {
        Ok(target.with_path(health))
    } else if health.contains("://") {
        Url::parse(health)
    } else {
        Err(format!(
            "invalid --health '{health}' (use a path like /health or a URL)"
        ))
    }
}

/// GETs the target with the run's headers; Ok when it answers 2xx within `timeout`.
pub fn check(
    target: &Url,
    trust: &Trust,
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<(), String> {
    let url = target.url();
    let fail = |why: String| format!("health check GET {url} failed: {why}");
    let (status, _) = get(target, trust, headers, timeout, 0).map_err(fail)?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(fail(format!("status {status}")))
    }
}

/// One GET of `target` on its own connection, each step within `timeout`: the status, and
/// the body when `keep` is not 0 (at most `keep` bytes; a larger one is an error).
pub fn get(
    target: &Url,
    trust: &Trust,
    headers: &[(String, String)],
    timeout: Duration,
    keep: usize,
) -> Result<(u16, Vec<u8>), String> {
    let spec = RequestSpec {
        method: "GET".into(),
        headers: headers.to_vec(),
        bodies: Vec::new(),
        // One request on its own connection.
        no_keepalive: true,
    };
    let request = request::build(target, &spec, &[]);
    let tls = target
        .tls
        .then(|| Tls::new(trust, &target.host))
        .transpose()?;
    match target.endpoint()? {
        Endpoint::Tcp(addr) => {
            let tcp = TcpStream::connect_timeout(&addr, timeout);
            match tls {
                None => exchange(tcp, timeout, &request, keep),
                // The session handshakes on the first write, after `exchange` has set the
                // socket's timeouts.
                Some(tls) => {
                    let stream = tcp.and_then(|tcp| {
                        let session = tls.session().map_err(io::Error::other)?;
                        Ok(rustls::StreamOwned::new(session, tcp))
                    });
                    exchange(stream, timeout, &request, keep)
                }
            }
        }
        // `endpoint` refuses https over a Unix socket.
        Endpoint::Unix(path) => exchange(connect_unix(path, timeout), timeout, &request, keep),
    }
}

/// Connects within `timeout`. A Unix socket's connect has no timeout of its own and blocks
/// while the server's accept queue is full, so it waits on a helper thread (left behind, and
/// gone with the process, when the server never takes it).
fn connect_unix(path: PathBuf, timeout: Duration) -> io::Result<UnixStream> {
    let (done, connected) = mpsc::channel();
    std::thread::spawn(move || done.send(UnixStream::connect(path)));
    connected
        .recv_timeout(timeout)
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
}

/// The blocking sockets the check connects with.
trait Socket: Read + Write {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()>;
}

impl Socket for TcpStream {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

/// https: the TCP socket's timeouts are set before the session wraps it.
impl Socket for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.sock.set_timeouts(timeout)
    }
}

impl Socket for UnixStream {
    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

/// On the connection (if it opened), writes the request and reads the response's status,
/// each within `timeout`.
fn exchange(
    stream: io::Result<impl Socket>,
    timeout: Duration,
    request: &[u8],
    keep: usize,
) -> Result<(u16, Vec<u8>), String> {
    let mut stream = stream.map_err(|e| e.to_string())?;
    stream.set_timeouts(timeout).map_err(|e| e.to_string())?;
    stream.write_all(request).map_err(|e| e.to_string())?;
    read_response(&mut stream, keep)
}

/// The status, and the body when `keep` is not 0.
fn read_response(stream: &mut impl Read, keep: usize) -> Result<(u16, Vec<u8>), String> {
    // A failure's body is kept too (the framer keeps one outside 2xx), up to a sample's size
    // when no body is asked for.
    let mut framer = Framer::new(false, keep > 0, keep.max(SAMPLE_BYTES));
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let kept = |buf: &[u8], r: Response| {
        if r.oversized && keep > 0 {
            return Err(format!("the body is over {keep} bytes"));
        }
        Ok((r.status, buf[r.body_start..r.body_end].to_vec()))
    };
    loop {
        if let Some(response) = framer
            .advance(&mut buf)
            .map_err(|e| format!("bad response ({e:?})"))?
        {
            return kept(&buf, response);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                let response = framer.finish_eof().map_err(|_| "connection closed")?;
                return kept(&buf, response);
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
}
