//! Verdicts on byte strings already judged on this core, reused when a later string is
//! byte-identical: response heads (how the framer parsed them) and response bodies (what the
//! `--expect-json` check said).
//!
//! Each verdict is a pure function of its bytes and of the run's settings, which are the same
//! for every connection of a run, so it may be reused by any connection of the core, and a
//! reused verdict is exactly the one a fresh parse or check would give. Servers repeat their
//! heads, and a model's answers (`{"prediction":1}`) repeat too; one `memcmp` against bytes
//! that stay in cache then replaces httparse or the JSON scan, which are most of the
//! client's own work per request. Kept per core rather than per connection: every connection
//! compares against the same few bytes, where one copy per connection would be another cache
//! miss on every response once a core has hundreds of connections. A handful of slots covers
//! servers whose answers alternate (a body length that varies, nginx's `Date` turning over
//! while older heads are still in flight, predictions 0 and 1).
//!
//! Generic over the verdict: the framer names its recall of heads (`response::KnownHeads`)
//! and the check its recall of bodies (`check::KnownBodies`), so this file depends on
//! neither.

use std::cell::RefCell;
use std::rc::Rc;

/// How many distinct strings are remembered; the oldest is replaced first.
const SLOTS: usize = 4;

/// The last `SLOTS` distinct strings of at most `MAX` bytes, each with its verdict `V`.
pub struct Recall<V, const MAX: usize> {
    slots: [Slot<V, MAX>; SLOTS],
    /// The slot the next new string goes to; the one before it is the newest.
    next: usize,
}

struct Slot<V, const MAX: usize> {
    len: usize,
    bytes: [u8; MAX],
    verdict: Option<V>,
}

impl<V, const MAX: usize> std::fmt::Debug for Recall<V, MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known = self.slots.iter().filter(|s| s.verdict.is_some()).count();
        write!(f, "Recall({known} of {SLOTS})")
    }
}

impl<V, const MAX: usize> Default for Recall<V, MAX> {
    fn default() -> Self {
        Recall {
            slots: std::array::from_fn(|_| Slot {
                len: 0,
                bytes: [0; MAX],
                verdict: None,
            }),
            next: 0,
        }
    }
}

impl<V: Clone, const MAX: usize> Recall<V, MAX> {
    pub fn shared() -> Rc<RefCell<Self>> {
        Rc::default()
    }

    /// The verdict on a remembered string that `buf` starts with. For heads, which end at
    /// their blank line, that string is exactly the head at the front of `buf`.
    pub(crate) fn find_prefix(&self, buf: &[u8]) -> Option<V> {
        self.find_where(|known| buf.starts_with(known))
    }

    /// The verdict on `bytes`, when they are exactly a remembered string.
    pub fn find(&self, bytes: &[u8]) -> Option<V> {
        self.find_where(|known| bytes == known)
    }

    /// The newest is tried first: a server's current answer is usually it.
    fn find_where(&self, matches: impl Fn(&[u8]) -> bool) -> Option<V> {
        (1..=SLOTS)
            .map(|back| &self.slots[(self.next + SLOTS - back) % SLOTS])
            .find_map(|slot| {
                let verdict = slot.verdict.as_ref()?;
                matches(&slot.bytes[..slot.len]).then(|| verdict.clone())
            })
    }

    /// Remembers `bytes` and the verdict on them, in place of the oldest remembered string.
    /// Longer strings are not remembered.
    pub(crate) fn remember(&mut self, bytes: &[u8], verdict: &V) {
        if bytes.len() > MAX {
            return;
        }
        let slot = &mut self.slots[self.next];
        slot.bytes[..bytes.len()].copy_from_slice(bytes);
        slot.len = bytes.len();
        slot.verdict = Some(verdict.clone());
        self.next = (self.next + 1) % SLOTS;
    }

    /// The remembered verdict on `bytes`, or `judge`'s, which is then remembered.
    pub(crate) fn recall_or(&mut self, bytes: &[u8], judge: impl FnOnce() -> V) -> V {
        if let Some(verdict) = self.find(bytes) {
            return verdict;
        }
        let verdict = judge();
        self.remember(bytes, &verdict);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response::{Framer, KnownHeads, REMEMBER_HEAD, SharedHeads};

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
        heads.borrow().find_prefix(wire).is_some()
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
