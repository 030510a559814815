//! Request timeouts without a timer per request. Each connection publishes the deadline of
//! its request in flight; the core's watcher sweeps them every tick and shuts down the socket
//! of any request past its deadline. The pending read then ends at once (EOF), its buffer
//! comes back normally, and the connection reports a timeout and reconnects. This costs two
//! `Cell` writes per request instead of a timer-wheel insertion and removal, at the price of
//! enforcing `--timeout` to within one watcher tick (10 ms).

use std::cell::Cell;
use std::os::fd::RawFd;
use std::time::Instant;

/// One connection's request deadline.
#[derive(Debug)]
pub struct Deadline {
    fd: Cell<RawFd>,
    at: Cell<Option<Instant>>,
    expired: Cell<bool>,
}

impl Default for Deadline {
    fn default() -> Self {
        Deadline {
            fd: Cell::new(-1),
            at: Cell::new(None),
            expired: Cell::new(false),
        }
    }
}

impl Deadline {
    /// A request on socket `fd` must finish by `at`.
    pub fn arm(&self, fd: RawFd, at: Instant) {
        self.fd.set(fd);
        self.at.set(Some(at));
    }

    /// The request ended; returns whether the sweep had expired it first.
    pub fn disarm(&self) -> bool {
        self.at.set(None);
        self.expired.replace(false)
    }

    /// Expires the request if `now` is past its deadline.
    fn sweep(&self, now: Instant) {
        if self.at.get().is_some_and(|at| now >= at) {
            self.at.set(None);
            self.expired.set(true);
            // SAFETY: the fd belongs to the connection's open socket: `at` is only set while
            // the connection owns it, and cleared before the socket is closed.
            unsafe {
                libc::shutdown(self.fd.get(), libc::SHUT_RDWR);
            }
        }
    }
}

/// Expires every request of a core that is past its deadline.
pub fn sweep(deadlines: &[Deadline], now: Instant) {
    deadlines.iter().for_each(|d| d.sweep(now));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    #[test]
    fn expired_requests_have_their_socket_shut_down() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _server = listener.accept().unwrap();
        let start = Instant::now();
        let deadlines = [Deadline::default(), Deadline::default()];
        deadlines[0].arm(client.as_raw_fd(), start + Duration::from_millis(5));
        deadlines[1].arm(-1, start + Duration::from_secs(60));

        sweep(&deadlines, start);
        assert!(!deadlines[0].expired.get(), "not yet");
        sweep(&deadlines, start + Duration::from_millis(6));
        assert_eq!(
            client.read(&mut [0u8; 8]).unwrap(),
            0,
            "the blocked read ends with EOF"
        );
        assert!(deadlines[0].disarm(), "reported as expired");
        assert!(!deadlines[0].disarm(), "once");
        assert!(!deadlines[1].disarm(), "the other request is untouched");
    }
}
