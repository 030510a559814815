//! The URL under test: parsed and validated once, resolved once (DNS is blocking, so it never
//! happens on a runtime thread).

use std::net::{SocketAddr, ToSocketAddrs};

/// An `http://host[:port]/path?query` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host as written in the URL (brackets stripped for IPv6).
    pub host: String,
    pub port: u16,
    /// Path and query as sent on the request line; `/` when the URL has none.
    pub path: String,
    /// Value of the `Host` header: the host, plus the port when it is not 80.
    pub authority: String,
}

impl Target {
    /// Parses an absolute `http://` URL. `https` and other schemes are refused with a reason.
    pub fn parse(url: &str) -> Result<Target, String> {
        if !url.contains("://") {
            return Err(format!("URL '{url}' needs a scheme, e.g. http://{url}"));
        }
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("invalid URL '{url}': {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(format!("https is not supported yet: '{url}'")),
            Some(other) => return Err(format!("unsupported scheme '{other}' in '{url}'")),
            None => return Err(format!("URL '{url}' needs a scheme, e.g. http://{url}")),
        }
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
            _ => 80,
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let path = if path.is_empty() { "/" } else { path };
        Ok(Target {
            host: host.to_string(),
            port,
            path: path.to_string(),
            authority: authority.as_str().to_string(),
        })
    }

    /// The same server with another path: `--health /health` resolves against the target.
    pub fn with_path(&self, path: &str) -> Target {
        Target {
            path: path.to_string(),
            ..self.clone()
        }
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
        let t = Target::parse("http://127.0.0.1:8000/predict?x=1").unwrap();
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.port, 8000);
        assert_eq!(t.path, "/predict?x=1");
        assert_eq!(t.authority, "127.0.0.1:8000");

        let t = Target::parse("http://example.com").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));

        let t = Target::parse("http://[::1]:9000/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9000));
    }

    #[test]
    fn refuses_bad_urls() {
        let cases = [
            ("https://x/", "https is not supported"),
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
            let err = Target::parse(url).unwrap_err();
            assert!(err.contains(want), "{url}: {err}");
        }
    }

    #[test]
    fn resolves_loopback_and_refuses_unknown_hosts() {
        let t = Target::parse("http://127.0.0.1:81/").unwrap();
        assert_eq!(t.resolve().unwrap(), "127.0.0.1:81".parse().unwrap());
        let bad = Target::parse("http://no-such-host.invalid/").unwrap();
        assert!(bad.resolve().unwrap_err().contains("cannot resolve"));
    }
}
