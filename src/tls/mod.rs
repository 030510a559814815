//! https: what blast trusts, and the client configuration every connection's handshake uses.
//! Built once before the run (reading certificate files is I/O, and a bad one is a usage
//! error); each core then takes its own copy with its own session cache (`for_core`).
//!
//! TLS is rustls with the ring provider: TLS 1.3 and 1.2, ALPN `http/1.1`.

pub mod stream;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore};

/// How the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Trust {
    /// Against the system's CA certificates, as curl and browsers do.
    #[default]
    System,
    /// `--cacert PATH`: against the CA certificates in this PEM file only (a private CA, or
    /// the self-signed certificate of a test server).
    Cacert(PathBuf),
    /// `--insecure`: any certificate for any name. The handshake's signatures are still
    /// verified, so the peer holds the key of the certificate it sent.
    Any,
}

/// Hands `session` the next part of `cipher` from `*fed` on (rustls takes up to 4 KiB at a
/// time) and decrypts the records it completes. Callers do this only when no plaintext is
/// waiting, so rustls's limit on unread plaintext (16 KiB beyond one record) is never reached;
/// feeding a whole socket read of small records at once would overflow it. Client and server.
pub(crate) fn feed<Data>(
    session: &mut rustls::ConnectionCommon<Data>,
    cipher: &[u8],
    fed: &mut usize,
) -> io::Result<()> {
    match session.read_tls(&mut &cipher[*fed..])? {
        // After the peer's close_notify rustls takes nothing more: what is left is dropped
        // (the next plaintext read reports the end of the stream).
        0 => *fed = cipher.len(),
        n => *fed += n,
    }
    session
        .process_new_packets()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(())
}

/// Moves up to `room` bytes of the plaintext rustls holds, chunk by chunk, to `put`: `None`
/// when it holds none, `Some(0)` once the peer has closed the session with its close_notify.
/// Client and server: the caller's buffer is filled without being zeroed first.
pub(crate) fn take_plaintext(
    mut reader: rustls::Reader<'_>,
    room: usize,
    mut put: impl FnMut(&[u8]),
) -> io::Result<Option<usize>> {
    use std::io::BufRead;
    let mut n = 0;
    while n < room {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || n > 0 => break,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            if n == 0 {
                return Ok(Some(0));
            }
            break;
        }
        let take = chunk.len().min(room - n);
        put(&chunk[..take]);
        reader.consume(take);
        n += take;
    }
    Ok((n > 0).then_some(n))
}

/// Session tickets each core keeps: one per server is enough for a load test; more covers
/// a `--health` URL on another host.
const SESSIONS_PER_CORE: usize = 16;

/// The TLS side of a plan: the client configuration, and the name the server's certificate
/// must be valid for (the URL's host; an IP address must be in the certificate as one).
#[derive(Clone, Debug)]
pub struct Tls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl Tls {
    /// Reads what `trust` names; every failure is a one-line usage error.
    pub fn new(trust: &Trust, host: &str) -> Result<Tls, String> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| format!("'{host}' is not a valid TLS server name"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let mut config = match trust {
            Trust::Any => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth(),
            Trust::System => builder
                .with_root_certificates(system_roots()?)
                .with_no_client_auth(),
            Trust::Cacert(path) => builder
                .with_root_certificates(file_roots(path)?)
                .with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            config: Arc::new(config),
            name,
        })
    }

    /// The same trust with a session cache of its own: a core resumes its sessions on
    /// reconnects (with `--no-keepalive`, on every request) without taking a lock that
    /// another core holds.
    pub fn for_core(&self) -> Tls {
        let mut config = (*self.config).clone();
        config.resumption = Resumption::in_memory_sessions(SESSIONS_PER_CORE);
        Tls {
            config: Arc::new(config),
            name: self.name.clone(),
        }
    }

    /// A new client session, ready for its handshake.
    pub fn session(&self) -> Result<ClientConnection, rustls::Error> {
        let mut session = ClientConnection::new(self.config.clone(), self.name.clone())?;
        // A request is encrypted whole before it is sent, whatever its size.
        session.set_buffer_limit(None);
        Ok(session)
    }
}

/// The system's CA certificates (the distribution's bundle; `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` override it, as for OpenSSL).
fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(
            "no CA certificates found on this system to check the server's \
             certificate (install ca-certificates, or use --cacert PATH or --insecure)"
                .into(),
        );
    }
    Ok(roots)
}

/// The CA certificates in a PEM file.
fn file_roots(path: &PathBuf) -> Result<RootCertStore, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read --cacert '{shown}': {e}"))?;
    if certs.is_empty() {
        return Err(format!("--cacert '{shown}' holds no PEM certificate"));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("--cacert '{shown}': {e}"))?;
    }
    Ok(roots)
}

/// `--insecure`: accepts any certificate, but still checks the handshake's signatures with
/// the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a handshake settled on, for the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Negotiated {
    /// `TLSv1.3` or `TLSv1.2`, as OpenSSL names them.
    pub version: String,
    /// The cipher suite, as IANA names it (`TLS13_AES_256_GCM_SHA384`).
    pub cipher: String,
}

impl Negotiated {
    fn of(session: &ClientConnection) -> Option<Negotiated> {
        let version = match session.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
            other => format!("{other:?}"),
        };
        let cipher = session.negotiated_cipher_suite()?.suite();
        let cipher = cipher
            .as_str()
            .map_or_else(|| format!("{cipher:?}"), str::to_string);
        Some(Negotiated { version, cipher })
    }
}

/// Opens one blocking connection and completes a handshake, before the run: a certificate
/// the trust rejects, or a server that does not speak TLS, is a usage error (one line, exit
/// 2) rather than a run in which every connect fails. A server that does not answer within
/// `timeout` is left to the run, which counts it like any other (and the report then cannot
/// say what a handshake settles on: `None`).
pub fn preflight(
    tls: &Tls,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Option<Negotiated>, String> {
    let connected = TcpStream::connect_timeout(&addr, timeout).and_then(|stream| {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(stream)
    });
    let Ok(mut stream) = connected else {
        return Ok(None);
    };
    let mut session = tls
        .session()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    while session.is_handshaking() {
        match session.complete_io(&mut stream) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(handshake_failed(&tls.name, &e.to_string()));
            }
            Err(_) => return Ok(None),
        }
    }
    Ok(Negotiated::of(&session))
}

/// The message for a handshake the server's answer made fail, with what to do about it.
pub fn handshake_failed(name: &ServerName<'_>, why: &str) -> String {
    let name = name.to_str();
    let hint = if why.contains("certificate") {
        " (use --cacert PATH to trust its CA, or --insecure)"
    } else if why.contains("corrupt message") {
        " (does the server speak https on this port?)"
    } else {
        ""
    };
    format!("TLS handshake with '{name}' failed: {why}{hint}")
}
