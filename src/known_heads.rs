//! Response heads already parsed on this core, for reuse when a later head is byte-identical.
//!
//! Parsing a head is a pure function of its bytes (and of whether the request was HEAD, which
//! is the same for every connection of a run), so a verdict may be reused by any connection
//! of the core. Shared per core rather than kept per connection: every connection then
//! compares its head against the same few bytes, which stay in cache, where one copy per
//! connection would be another cache miss on every response once a core has hundreds of
//! connections. A handful of slots covers servers whose heads alternate (a body length that
//! varies, nginx's `Date` turning over while older heads are still in flight).

use std::cell::RefCell;
use std::rc::Rc;

use crate::response::Head;

/// Heads up to this size are remembered (larger ones are parsed every time).
pub const REMEMBER_HEAD: usize = 512;
/// How many distinct heads are remembered; the oldest is replaced first.
const SLOTS: usize = 4;

/// One core's remembered heads, shared by its connections' framers (same thread only).
pub type SharedHeads = Rc<RefCell<KnownHeads>>;

pub struct KnownHeads {
    slots: [Slot; SLOTS],
    /// The slot the next new head goes to; the one before it is the newest.
    next: usize,
}

struct Slot {
    len: usize,
    bytes: [u8; REMEMBER_HEAD],
    head: Option<Head>,
}

impl std::fmt::Debug for KnownHeads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known = self.slots.iter().filter(|s| s.head.is_some()).count();
        write!(f, "KnownHeads({known} of {SLOTS})")
    }
}

impl KnownHeads {
    pub fn shared() -> SharedHeads {
        Rc::new(RefCell::new(KnownHeads {
            slots: std::array::from_fn(|_| Slot {
                len: 0,
                bytes: [0; REMEMBER_HEAD],
                head: None,
            }),
            next: 0,
        }))
    }

    /// The verdict on the head at the front of `buf`, when one of the remembered heads is
    /// exactly its bytes. The newest is tried first: a server's current head is usually it.
    pub(crate) fn find(&self, buf: &[u8]) -> Option<Head> {
        (1..=SLOTS)
            .map(|back| &self.slots[(self.next + SLOTS - back) % SLOTS])
            .find_map(|slot| {
                let head = slot.head.as_ref()?;
                buf.starts_with(&slot.bytes[..slot.len])
                    .then(|| head.clone())
            })
    }

    /// Remembers `bytes` (a final head, `head.len` bytes) and its verdict, in place of the
    /// oldest remembered head. Larger heads are not remembered.
    pub(crate) fn remember(&mut self, bytes: &[u8], head: &Head) {
        if bytes.len() > REMEMBER_HEAD {
            return;
        }
        let slot = &mut self.slots[self.next];
        slot.bytes[..bytes.len()].copy_from_slice(bytes);
        slot.len = bytes.len();
        slot.head = Some(head.clone());
        self.next = (self.next + 1) % SLOTS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::Framer;

    fn wire(length: usize) -> Vec<u8> {
        let body = "x".repeat(length);
        format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n{body}").into_bytes()
    }

    /// Frames one whole response with `framer`; returns its body.
    fn frame(framer: &mut Framer, wire: &[u8]) -> Vec<u8> {
        framer.reset();
        let mut buf = wire.to_vec();
        let response = framer.advance(&mut buf).unwrap().unwrap();
        buf[response.body()].to_vec()
    }

    fn known(heads: &SharedHeads, wire: &[u8]) -> bool {
        heads.borrow().find(wire).is_some()
    }

    #[test]
    fn a_head_parsed_by_one_framer_is_reused_by_another_of_the_core() {
        let heads = KnownHeads::shared();
        let mut first = Framer::sharing(false, true, 1024, heads.clone());
        let mut second = Framer::sharing(false, true, 1024, heads.clone());
        assert!(!known(&heads, &wire(3)));
        assert_eq!(frame(&mut first, &wire(3)), b"xxx");
        assert!(known(&heads, &wire(3)));
        assert_eq!(frame(&mut second, &wire(3)), b"xxx");
        // A framer of its own (another core) shares nothing.
        assert!(!known(&KnownHeads::shared(), &wire(3)));
    }

    #[test]
    fn the_last_few_heads_are_kept_and_the_oldest_goes_first() {
        let heads = KnownHeads::shared();
        let mut framer = Framer::sharing(false, true, 1024, heads.clone());
        for length in 1..=SLOTS + 1 {
            assert_eq!(
                frame(&mut framer, &wire(length)),
                "x".repeat(length).as_bytes()
            );
        }
        assert!(!known(&heads, &wire(1)), "the oldest was replaced");
        for length in 2..=SLOTS + 1 {
            assert!(known(&heads, &wire(length)), "length {length}");
        }
        // Alternating between remembered heads parses nothing new and evicts nothing.
        for length in [2, SLOTS + 1, 3, 2] {
            frame(&mut framer, &wire(length));
        }
        assert!(known(&heads, &wire(2)) && !known(&heads, &wire(1)));
    }

    #[test]
    fn only_identical_bytes_match_and_large_heads_are_not_kept() {
        let heads = KnownHeads::shared();
        let mut framer = Framer::sharing(false, true, 1 << 16, heads.clone());
        frame(&mut framer, &wire(3));
        let mut changed = wire(3);
        changed[5] = b'0';
        assert!(!known(&heads, &changed));
        assert!(
            !known(&heads, &wire(3)[..20]),
            "a partial head is not a match"
        );
        let padding = "a".repeat(REMEMBER_HEAD);
        let large = format!("HTTP/1.1 200 OK\r\nX-Pad: {padding}\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!(frame(&mut framer, large.as_bytes()), b"ok");
        assert!(!known(&heads, large.as_bytes()));
        assert!(known(&heads, &wire(3)), "a large head evicts nothing");
    }
}
