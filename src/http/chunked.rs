//! Streaming decoder for `Transfer-Encoding: chunked` bodies. It works in place: chunk data is
//! moved down over the framing bytes (or dropped when the body is not checked), so a chunked
//! body ends up contiguous at the front of the connection's buffer with no allocation.

/// Where the decoder is within the chunked body. Bare LF is accepted where CRLF is due, as
/// most clients do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Size { value: u64, digits: u8 },
    Extension { value: u64 },
    SizeLf { value: u64 },
    Data(u64),
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerEndLf,
    Done,
}

/// A chunk size has more hex digits than fit in 60 bits: no real body is that large.
const MAX_SIZE_DIGITS: u8 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkError;

#[derive(Debug, Clone)]
pub struct Chunked {
    state: State,
    /// Some chunk data has been decoded (`--first-byte` times the first of it).
    data_seen: bool,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            data_seen: false,
        }
    }
}

impl Chunked {
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether any chunk data (not just framing) has arrived.
    pub fn data_seen(&self) -> bool {
        self.data_seen
    }

    /// Decodes `buf[from..]`. Data bytes are moved to `from..` when `keep` is set and dropped
    /// otherwise; framing bytes are removed. Returns the new end of the decoded data. Bytes
    /// after the terminating empty line are left in place, right after the data.
    pub fn decode(
        &mut self,
        buf: &mut Vec<u8>,
        from: usize,
        keep: bool,
    ) -> Result<usize, ChunkError> {
        let (mut read, mut write) = (from, from);
        while read < buf.len() && self.state != State::Done {
            if let State::Data(left) = self.state {
                let take = left.min((buf.len() - read) as u64) as usize;
                self.data_seen = true;
                if keep {
                    buf.copy_within(read..read + take, write);
                    write += take;
                }
                read += take;
                self.state = if left == take as u64 {
                    State::DataCr
                } else {
                    State::Data(left - take as u64)
                };
                continue;
            }
            self.state = step(self.state, buf[read])?;
            read += 1;
        }
        buf.drain(write..read);
        Ok(write)
    }
}

/// One framing byte of the chunked syntax.
fn step(state: State, byte: u8) -> Result<State, ChunkError> {
    let next = match (state, byte) {
        (State::Size { value, digits }, _) if byte.is_ascii_hexdigit() => {
            if digits == MAX_SIZE_DIGITS {
                return Err(ChunkError);
            }
            let digit = (byte as char).to_digit(16).unwrap_or(0) as u64;
            State::Size {
                value: value * 16 + digit,
                digits: digits + 1,
            }
        }
        (State::Size { digits: 0, .. }, _) => return Err(ChunkError),
        (State::Size { value, .. }, b';' | b' ' | b'\t') => State::Extension { value },
        (State::Size { value, .. }, b'\r') => State::SizeLf { value },
        (
            State::Size { value, .. } | State::SizeLf { value } | State::Extension { value },
            b'\n',
        ) => {
            if value == 0 {
                State::TrailerStart
            } else {
                State::Data(value)
            }
        }
        (State::Extension { value }, _) => State::Extension { value },
        (State::DataCr, b'\r') => State::DataLf,
        (State::DataCr | State::DataLf, b'\n') => State::Size {
            value: 0,
            digits: 0,
        },
        (State::TrailerStart, b'\r') => State::TrailerEndLf,
        (State::TrailerStart | State::TrailerEndLf, b'\n') => State::Done,
        (State::TrailerLine, b'\n') => State::TrailerStart,
        (State::TrailerStart | State::TrailerLine, _) => State::TrailerLine,
        _ => return Err(ChunkError),
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` split into two reads at every position.
    /// (decoded body, bytes left after the chunked body)
    type Decoded = Result<(Vec<u8>, Vec<u8>), ChunkError>;

    fn decode_split(wire: &[u8], keep: bool) -> Vec<Decoded> {
        (0..=wire.len())
            .map(|cut| {
                let mut chunked = Chunked::default();
                let mut buf = wire[..cut].to_vec();
                let end = chunked.decode(&mut buf, 0, keep)?;
                buf.extend_from_slice(&wire[cut..]);
                let end = chunked.decode(&mut buf, end, keep)?;
                assert!(chunked.is_done(), "not done at cut {cut}");
                Ok((buf[..end].to_vec(), buf[end..].to_vec()))
            })
            .collect()
    }

    #[test]
    fn decodes_at_every_split() {
        let cases: &[(&str, &str, &str)] = &[
            ("5\r\nhello\r\n0\r\n\r\n", "hello", ""),
            ("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT", "abcde", "NEXT"),
            ("A;name=v\r\n0123456789\r\n0\r\n\r\n", "0123456789", ""),
            ("3\nabc\n0\n\n", "abc", ""),
            ("2\r\nok\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n", "ok", ""),
            ("0\r\n\r\n", "", ""),
        ];
        for (wire, body, rest) in cases {
            for result in decode_split(wire.as_bytes(), true) {
                assert_eq!(
                    result,
                    Ok((body.as_bytes().to_vec(), rest.as_bytes().to_vec())),
                    "{wire:?}"
                );
            }
            for result in decode_split(wire.as_bytes(), false) {
                assert_eq!(
                    result,
                    Ok((vec![], rest.as_bytes().to_vec())),
                    "{wire:?} discard"
                );
            }
        }
    }

    #[test]
    fn rejects_bad_framing() {
        for wire in [
            "x\r\n",
            "\r\n",
            "3\r\nabcX",
            "3\r\nabc\rX",
            "0\r\n\rX",
            "1000000000000000\r\n",
        ] {
            let mut buf = wire.as_bytes().to_vec();
            assert_eq!(
                Chunked::default().decode(&mut buf, 0, true),
                Err(ChunkError),
                "{wire:?}"
            );
        }
    }
}
