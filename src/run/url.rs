//! The URL under test: parsed and validated once, resolved once (DNS is blocking, so it never
//! happens on a runtime thread).

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

/// An `http[s]://host[:port]/path?query` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `https`: connections speak TLS (see `tls`).
    pub tls: bool,
    /// Host as written in the URL (brackets stripped for IPv6).
    pub host: String,
    pub port: u16,
    /// Path and query as sent on the request line; `/` when the URL has none.
    pub path: String,
    /// Value of the `Host` header: the host, plus the port when the URL gives one.
    pub authority: String,
    /// `--unix-socket`: connect to this socket instead of the host and port (the URL still
    /// gives the `Host` header and the path), as curl's flag of that name does.
    pub unix_socket: Option<PathBuf>,
}

/// Where connections go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Tcp(SocketAddr),
    /// A Unix domain stream socket, e.g. Gunicorn's `--bind unix:/run/app.sock` behind nginx.
    Unix(PathBuf),
}

impl Url {
    /// Parses an absolute `http://` or `https://` URL; other schemes are refused with a
    /// reason.
    pub fn parse(url: &str) -> Result<Url, String> {
        if !url.contains("://") {
            return Err(format!("URL '{url}' needs a scheme, e.g. http://{url}"));
        }
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("invalid URL '{url}': {e}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(format!("unsupported scheme '{other}' in '{url}'")),
            None => return Err(format!("URL '{url}' needs a scheme, e.g. http://{url}")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("URL '{url}' has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("credentials in the URL are not supported: '{url}'"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("URL '{url}' has no host"));
        }
        let port = match authority.as_str().rsplit_once(':') {
            Some((_, port)) if !port.ends_with(']') => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("invalid port '{port}' in '{url}'"))?,
            _ if tls => 443,
            _ => 80,
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let path = if path.is_empty() { "/" } else { path };
        Ok(Url {
            tls,
            host: host.to_string(),
            port,
            path: path.to_string(),
            authority: authority.as_str().to_string(),
            unix_socket: None,
        })
    }

    /// The URL as requested: scheme, the authority as written, path and query.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{}", self.authority, self.path)
    }

    /// The same server with another path: `--health /health` resolves against the target.
    pub fn with_path(&self, path: &str) -> Url {
        Url {
            path: path.to_string(),
            ..self.clone()
        }
    }

    /// Where to connect: the Unix socket when one is given (it must exist and be a socket,
    /// and the URL be http), otherwise the resolved host and port.
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        let Some(path) = &self.unix_socket else {
            return self.resolve().map(Endpoint::Tcp);
        };
        if self.tls {
            return Err("https over --unix-socket is not supported (use an http:// URL)".into());
        }
        let shown = path.display();
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot use --unix-socket '{shown}': {e}"))?;
        if !meta.file_type().is_socket() {
            return Err(format!("--unix-socket '{shown}' is not a socket"));
        }
        Ok(Endpoint::Unix(path.clone()))
    }

    /// Resolves the host once. Prefers IPv4 when both families are returned, as servers
    /// configured for `localhost` usually listen on 127.0.0.1.
    pub fn resolve(&self) -> Result<SocketAddr, String> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve host '{}': {e}", self.host))?
            .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| format!("host '{}' resolved to no address", self.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Url::parse("http://127.0.0.1:8000/predict?x=1").unwrap();
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.port, 8000);
        assert_eq!(t.path, "/predict?x=1");
        assert_eq!(t.authority, "127.0.0.1:8000");

        let t = Url::parse("http://example.com").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));

        let t = Url::parse("http://[::1]:9000/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9000));
        assert!(!t.tls);

        let t = Url::parse("https://example.com/predict").unwrap();
        assert_eq!(
            (t.tls, t.port, t.authority.as_str()),
            (true, 443, "example.com")
        );
        assert_eq!(t.url(), "https://example.com/predict");
        let t = Url::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!(
            (t.tls, t.port, t.url().as_str()),
            (true, 8443, "https://127.0.0.1:8443/")
        );
    }

    #[test]
    fn refuses_bad_urls() {
        let cases = [
            ("wss://x/", "unsupported scheme"),
            ("ftp://x/", "unsupported scheme"),
            ("localhost:8000/predict", "needs a scheme"),
            ("http://", "invalid URL"),
            ("http://u:p@x/", "credentials"),
            ("http://x:99999/", "invalid port"),
            ("http://x:0/", "invalid port"),
            ("not a url", "needs a scheme"),
            ("http://bad host/", "invalid URL"),
        ];
        for (url, want) in cases {
            let err = Url::parse(url).unwrap_err();
            assert!(err.contains(want), "{url}: {err}");
        }
    }

    #[test]
    fn a_unix_socket_must_be_one() {
        let dir = std::env::temp_dir().join(format!("blast-target-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("app.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let mut t = Url::parse("http://no-such-host.invalid/predict").unwrap();
        let cases = [
            (socket.clone(), Ok(Endpoint::Unix(socket.clone()))),
            (dir.join("missing.sock"), Err("cannot use --unix-socket")),
            (dir.clone(), Err("is not a socket")),
        ];
        let mut https = Url::parse("https://localhost/predict").unwrap();
        https.unix_socket = Some(socket.clone());
        assert!(
            https
                .endpoint()
                .unwrap_err()
                .contains("https over --unix-socket")
        );
        for (path, want) in cases {
            t.unix_socket = Some(path.clone());
            match (t.endpoint(), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want),
                (Err(err), Err(want)) => assert!(err.contains(want), "{path:?}: {err}"),
                (got, want) => panic!("{path:?}: {got:?}, want {want:?}"),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resolves_loopback_and_refuses_unknown_hosts() {
        let t = Url::parse("http://127.0.0.1:81/").unwrap();
        assert_eq!(t.resolve().unwrap(), "127.0.0.1:81".parse().unwrap());
        let bad = Url::parse("http://no-such-host.invalid/").unwrap();
        assert!(bad.resolve().unwrap_err().contains("cannot resolve"));
    }
}
