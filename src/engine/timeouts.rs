//! Request timeouts without a timer per request. Each connection publishes the deadline of
//! its request in flight; the core's watcher sweeps them every tick and shuts down the socket
//! of any request past its deadline. The pending read then ends at once (EOF), its buffer
//! comes back normally, and the connection reports a timeout and reconnects. This costs two
//! `Cell` writes per request instead of a timer-wheel insertion and removal, at the price of
//! enforcing `--timeout` to within one watcher tick (10 ms).
//!
//! A slot is 8 bytes (the deadline in whole milliseconds of the run, and the socket), so
//! eight connections share a cache line: the slot is the one piece of per-connection memory
//! outside the connection's task that every request touches, and at hundreds of connections
//! per core each such line is a cache miss.

use std::cell::Cell;
use std::os::fd::RawFd;

use crate::engine::clock::Stamp;

/// `at` of a slot with no request in flight.
const IDLE: u32 = 0;
/// `at` of a slot whose request the sweep expired.
const EXPIRED: u32 = u32::MAX;

/// The request deadlines of one core's connections, by connection index.
#[derive(Debug)]
pub struct Deadlines {
    /// Deadlines count whole milliseconds from here.
    base: Stamp,
    slots: Vec<Slot>,
}

#[derive(Debug)]
struct Slot {
    /// Milliseconds after `base`, rounded up (or `IDLE`, `EXPIRED`).
    at: Cell<u32>,
    fd: Cell<RawFd>,
}

impl Deadlines {
    /// Room for `connections` connections, counting from `base`.
    pub fn new(base: Stamp, connections: usize) -> Deadlines {
        let slot = || Slot {
            at: Cell::new(IDLE),
            fd: Cell::new(-1),
        };
        Deadlines {
            base,
            slots: (0..connections).map(|_| slot()).collect(),
        }
    }

    /// Connection `index`'s request on socket `fd` must finish by `at`.
    pub fn arm(&self, index: usize, fd: RawFd, at: Stamp) {
        let slot = &self.slots[index];
        let millis = at.since(self.base).div_ceil(1_000_000);
        slot.at.set(millis.clamp(1, u64::from(EXPIRED - 1)) as u32);
        slot.fd.set(fd);
    }

    /// Connection `index`'s request ended; returns whether the sweep had expired it first.
    pub fn disarm(&self, index: usize) -> bool {
        self.slots[index].at.replace(IDLE) == EXPIRED
    }

    /// Expires every request past its deadline at `now`: shuts down its socket.
    pub fn sweep(&self, now: Stamp) {
        let now = now.since(self.base) / 1_000_000;
        for slot in &self.slots {
            let at = slot.at.get();
            if at != IDLE && at != EXPIRED && now >= u64::from(at) {
                slot.at.set(EXPIRED);
                // SAFETY: the fd belongs to the connection's open socket: a slot is armed
                // only while the connection owns it, and disarmed before the socket closes.
                unsafe {
                    libc::shutdown(slot.fd.get(), libc::SHUT_RDWR);
                }
            }
        }
    }
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
        let start = Stamp::now();
        let deadlines = Deadlines::new(start, 2);
        deadlines.arm(0, client.as_raw_fd(), start + Duration::from_micros(4_500));
        deadlines.arm(1, -1, start + Duration::from_secs(60));

        deadlines.sweep(start + Duration::from_micros(4_999));
        assert_eq!(deadlines.slots[0].at.get(), 5, "rounded up, not yet");
        deadlines.sweep(start + Duration::from_millis(5));
        assert_eq!(
            client.read(&mut [0u8; 8]).unwrap(),
            0,
            "the blocked read ends with EOF"
        );
        assert!(deadlines.disarm(0), "reported as expired");
        assert!(!deadlines.disarm(0), "once");
        assert!(!deadlines.disarm(1), "the other request is untouched");
        deadlines.sweep(start + Duration::from_secs(61));
        assert!(!deadlines.disarm(1), "a disarmed slot never expires");
    }

    #[test]
    fn a_slot_is_eight_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 8);
    }
}
