//! What a `blast serve` connection reads requests from and writes answers to: the socket
//! itself, or TLS over it (`--cert`/`--key`). The connection loop is written once against
//! `Wire`, and compiled once for each.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

/// Room for one whole record from one socket read (16 KiB of data plus its header and tag).
const CIPHER_BUF: usize = 17 * 1024;

/// A connection's byte stream, in plaintext.
pub trait Wire {
    /// Reads into the spare capacity of `buf`; `Ok(0)` when the peer has closed.
    async fn read_into(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>);
    /// Sends all of `bytes`, which comes back (cleared by the caller).
    async fn send(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>);
    /// TLS: once, after the read that completed the handshake, whether it resumed an
    /// earlier session; `None` before and after that, and always on a plain socket.
    fn handshake_done(&mut self) -> Option<bool> {
        None
    }
}

impl Wire for TcpStream {
    async fn read_into(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let (len, capacity) = (buf.len(), buf.capacity());
        let (read, slice) = self.read(buf.slice_mut(len..capacity)).await;
        (read, slice.into_inner())
    }

    async fn send(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let (written, bytes) = self.write_all(bytes).await;
        (written.map(|_| ()), bytes)
    }
}

/// `--cert`/`--key`: the server's TLS configuration (TLS 1.3 and 1.2, ALPN `http/1.1`), read
/// once at start; every failure is a one-line usage error.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read --cert '{}': {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "--cert '{}' holds no PEM certificate",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read --key '{}': {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("--cert and --key do not make a usable pair: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// TLS on an accepted socket. The handshake needs no step of its own: it runs inside the
/// first reads, which answer the client's handshake messages before any request arrives.
pub struct TlsWire {
    tcp: TcpStream,
    session: ServerConnection,
    /// Ciphertext from the last socket read; the first `fed` bytes are with rustls already.
    cipher: Vec<u8>,
    fed: usize,
    /// Records waiting to be sent.
    out: Vec<u8>,
    /// The completed handshake has been reported (`handshake_done`).
    reported: bool,
}

impl TlsWire {
    pub fn new(tcp: TcpStream, config: &Arc<ServerConfig>) -> io::Result<TlsWire> {
        let session = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        Ok(TlsWire {
            tcp,
            session,
            cipher: Vec::with_capacity(CIPHER_BUF),
            fed: 0,
            out: Vec::with_capacity(1024),
            reported: false,
        })
    }

    /// Sends whatever rustls has queued (handshake messages, session tickets, records).
    async fn flush(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            self.session.write_tls(&mut self.out)?;
        }
        if self.out.is_empty() {
            return Ok(());
        }
        let (written, out) = self.tcp.send(std::mem::take(&mut self.out)).await;
        self.out = out;
        self.out.clear();
        written
    }

    /// Plaintext rustls has ready, into the spare capacity of `buf` (which does not grow):
    /// `None` when it needs more ciphertext first.
    fn take_plaintext(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
        let room = buf.capacity() - buf.len();
        crate::tls::take_plaintext(self.session.reader(), room, |chunk| {
            buf.extend_from_slice(chunk)
        })
    }

    /// The next part of the ciphertext to rustls, one step at a time with the plaintext
    /// taken in between (`crate::tls::feed`).
    fn feed(&mut self) -> io::Result<()> {
        crate::tls::feed(&mut self.session, &self.cipher, &mut self.fed)
    }

    /// Reads ciphertext from the socket; `Ok(false)` at EOF.
    async fn fill(&mut self) -> io::Result<bool> {
        self.cipher.clear();
        self.fed = 0;
        let (read, cipher) = self.tcp.read_into(std::mem::take(&mut self.cipher)).await;
        self.cipher = cipher;
        Ok(read? > 0)
    }
}

impl Wire for TlsWire {
    async fn read_into(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        loop {
            match self.take_plaintext(&mut buf) {
                Ok(Some(n)) => return (Ok(n), buf),
                Ok(None) => {}
                Err(e) => return (Err(e), buf),
            }
            let step = if self.fed < self.cipher.len() {
                self.feed().map(|()| true)
            } else {
                // Answer the handshake (or send what rustls queued) before waiting for more.
                match self.flush().await {
                    Ok(()) => self.fill().await,
                    Err(e) => Err(e),
                }
            };
            match step {
                Ok(true) => {}
                Ok(false) => return (Ok(0), buf),
                Err(e) => {
                    // A bad record: tell the client why, then give up on the connection.
                    let _ = self.flush().await;
                    return (Err(e), buf);
                }
            }
        }
    }

    async fn send(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let written = match self.session.writer().write_all(&bytes) {
            Ok(()) => self.flush().await,
            Err(e) => Err(e),
        };
        (written, bytes)
    }

    fn handshake_done(&mut self) -> Option<bool> {
        if self.reported || self.session.is_handshaking() {
            return None;
        }
        self.reported = true;
        Some(self.session.handshake_kind() == Some(rustls::HandshakeKind::Resumed))
    }
}
