//! `--health`: one blocking request before the run. A server that is not up gets a clear
//! message and exit code 2 instead of a report full of connect errors.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::request::{self, RequestSpec};
use crate::response::Framer;
use crate::target::Target;

/// Resolves `--health` against the run's target: a path (`/health`) or a full URL.
pub fn health_target(target: &Target, health: &str) -> Result<Target, String> {
    if health.starts_with('/') {
        Ok(target.with_path(health))
    } else if health.contains("://") {
        Target::parse(health)
    } else {
        Err(format!(
            "invalid --health '{health}' (use a path like /health or a URL)"
        ))
    }
}

/// GETs the target with the run's headers; Ok when it answers 2xx within `timeout`.
pub fn check(
    target: &Target,
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<(), String> {
    let url = format!("http://{}{}", target.authority, target.path);
    let fail = |why: String| format!("health check GET {url} failed: {why}");
    let addr = target.resolve().map_err(fail)?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail(e.to_string()))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| fail(e.to_string()))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| fail(e.to_string()))?;
    let spec = RequestSpec {
        method: "GET".into(),
        headers: headers.to_vec(),
        bodies: Vec::new(),
        // One request on its own connection.
        no_keepalive: true,
    };
    stream
        .write_all(&request::build(target, &spec, &[]))
        .map_err(|e| fail(e.to_string()))?;
    let status = read_status(&mut stream).map_err(fail)?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(fail(format!("status {status}")))
    }
}

fn read_status(stream: &mut TcpStream) -> Result<u16, String> {
    let mut framer = Framer::new(false, false, 0);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(response) = framer
            .advance(&mut buf)
            .map_err(|e| format!("bad response ({e:?})"))?
        {
            return Ok(response.status);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return framer
                    .finish_eof()
                    .map(|r| r.status)
                    .map_err(|_| "connection closed".into());
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
}
