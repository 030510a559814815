//! A TLS connection on a core's runtime: its handshake, and per request the encrypt and send
//! and the read and decrypt that the connection loop drives through `Transport`.
//!
//! The plaintext goes into and comes out of the loop's own buffers, so framing and checks
//! are the same as over TCP (`Transport`). Per request blast allocates nothing here; rustls (0.23) does,
//! one buffer for each record it encrypts and one for each it decrypts (docs/benchmarks.md).

use std::future::Future;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};

use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::ClientConnection;

use crate::engine::transport::{Transport, send_now};

/// Room for one whole record from one read (16 KiB of data plus its header and tag).
const CIPHER_BUF: usize = 17 * 1024;

pub struct TlsStream {
    tcp: TcpStream,
    session: ClientConnection,
    /// Ciphertext from the last socket read; the first `fed` bytes are with rustls already.
    cipher: Vec<u8>,
    fed: usize,
    /// The records of the last request (and anything rustls had queued before them); the
    /// first `sent` bytes are on the wire.
    out: Vec<u8>,
    sent: usize,
    /// A request could not be encrypted (the session failed): the connection is done.
    broken: bool,
}

impl TlsStream {
    /// Completes the handshake on a connected socket (the caller bounds it with
    /// `--connect-timeout`: it is part of the connect).
    pub async fn handshake(tcp: TcpStream, session: ClientConnection) -> io::Result<TlsStream> {
        let mut stream = TlsStream {
            tcp,
            session,
            cipher: Vec::with_capacity(CIPHER_BUF),
            fed: 0,
            out: Vec::with_capacity(1024),
            sent: 0,
            broken: false,
        };
        while stream.session.is_handshaking() {
            stream.flush().await?;
            if stream.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            while stream.fed < stream.cipher.len() {
                stream.feed()?;
            }
        }
        // The client's Finished (TLS 1.3) or what TLS 1.2 still owes.
        stream.flush().await?;
        Ok(stream)
    }

    /// Encrypts `request` and sends what the socket takes at once, without waiting. True when
    /// all of it went; otherwise `send_rest` sends the rest.
    fn encrypt_and_send(&mut self, request: &[u8]) -> io::Result<bool> {
        self.session.writer().write_all(request)?;
        self.take_records()?;
        self.sent = send_now(self.tcp.as_raw_fd(), &self.out);
        Ok(self.sent == self.out.len())
    }

    /// Sends what `encrypt_and_send` left, waiting for the socket.
    async fn send_rest(&mut self) -> io::Result<()> {
        let out = std::mem::take(&mut self.out);
        let (written, out) = self.tcp.write_all(out.slice(self.sent..)).await;
        self.out = out.into_inner();
        self.sent = self.out.len();
        written.map(drop)
    }

    /// Reads plaintext into `buf`'s room, as a socket read would (`Ok(0)` is the end of the
    /// stream, clean or not). Reads the socket only when rustls has no plaintext left, and
    /// again when what arrived completed no record or held only handshake messages (a TLS
    /// 1.3 server's session tickets arrive after the handshake).
    async fn read_plaintext<T: IoBufMut>(&mut self, mut buf: T) -> BufResult<usize, T> {
        loop {
            match self.plaintext_into(&mut buf) {
                Ok(Some(n)) => return (Ok(n), buf),
                Ok(None) => {}
                Err(e) => return (Err(e), buf),
            }
            let more = if self.fed < self.cipher.len() {
                self.feed()
            } else {
                match self.fill().await {
                    Ok(0) => return (Ok(0), buf),
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = more {
                return (Err(e), buf);
            }
        }
    }

    /// Copies the plaintext rustls holds into `buf`'s room: `None` when it holds none,
    /// `Some(0)` once the server has closed the session with its close_notify.
    fn plaintext_into<T: IoBufMut>(&mut self, buf: &mut T) -> io::Result<Option<usize>> {
        let (to, room) = (buf.write_ptr(), buf.bytes_total());
        let mut at = 0;
        let taken = super::take_plaintext(self.session.reader(), room, |chunk| {
            // SAFETY: `to` is valid for `room` bytes (the buffer's room) and `take_plaintext`
            // puts at most `room` in all; rustls's plaintext does not overlap the buffer.
            unsafe { std::ptr::copy_nonoverlapping(chunk.as_ptr(), to.add(at), chunk.len()) };
            at += chunk.len();
        })?;
        if let Some(n) = taken.filter(|n| *n > 0) {
            // SAFETY: the first `n` bytes of the room were just written.
            unsafe { buf.set_init(n) };
        }
        Ok(taken)
    }

    /// The next part of the ciphertext to rustls (`super::feed`).
    fn feed(&mut self) -> io::Result<()> {
        super::feed(&mut self.session, &self.cipher, &mut self.fed)
    }

    /// One socket read of ciphertext.
    async fn fill(&mut self) -> io::Result<usize> {
        let mut cipher = std::mem::take(&mut self.cipher);
        cipher.clear();
        self.fed = 0;
        let (read, cipher) = self.tcp.read(cipher).await;
        self.cipher = cipher;
        read
    }

    /// Moves every record rustls has queued into `out`.
    fn take_records(&mut self) -> io::Result<()> {
        self.out.clear();
        self.sent = 0;
        while self.session.wants_write() {
            self.session.write_tls(&mut self.out)?;
        }
        Ok(())
    }

    /// Sends every queued record (handshake messages), waiting for the socket.
    async fn flush(&mut self) -> io::Result<()> {
        self.take_records()?;
        if !self.out.is_empty() {
            self.send_rest().await?;
        }
        Ok(())
    }
}

impl Transport for TlsStream {
    /// All of the request when all of its records went; otherwise none, and `write_all`
    /// sends what is left of the records (the request's own bytes are encrypted already).
    fn send_now(&mut self, request: &[u8]) -> usize {
        match self.encrypt_and_send(request) {
            Ok(true) => request.len(),
            Ok(false) => 0,
            Err(_) => {
                // Nothing to send: `write_all` then fails the request as a write error.
                self.broken = true;
                0
            }
        }
    }

    async fn write_all<T: IoBuf>(&mut self, rest: T) -> BufResult<usize, T> {
        if self.broken {
            let broken = io::Error::other("the request could not be encrypted");
            return (Err(broken), rest);
        }
        let sent = self.send_rest().await.map(|()| rest.bytes_init());
        (sent, rest)
    }

    fn read<T: IoBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.read_plaintext(buf)
    }
}

impl AsRawFd for TlsStream {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp.as_raw_fd()
    }
}
