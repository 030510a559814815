//! An allocation-free JSON validator that reports the members of the top-level object.
//!
//! It accepts exactly RFC 8259 JSON (strings must be valid UTF-8, no trailing commas, no
//! comments) and hands each top-level member to a visitor as raw slices of the body, so a
//! `"prediction"` inside a string value or a nested object is never mistaken for the field.

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: u32 = 128;

/// Bytes that end the fast scan inside a string: the closing quote, an escape, a control
/// character (invalid), or a non-ASCII byte (UTF-8 is then validated).
static STRING_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = i < 0x20 || i == b'"' as usize || i == b'\\' as usize || i >= 0x80;
        i += 1;
    }
    table
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Marks (high bit) the bytes of `word` that `STRING_SPECIAL` lists: a quote, a backslash, a
/// control character or a non-ASCII byte. A borrow can mark a plain byte too, but only above
/// a special one, so the lowest mark is always exact, and that is the one used.
fn special_bytes(word: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = zero(word ^ (ONES * u64::from(b'"')));
    let backslash = zero(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (quote | backslash | control | word) & HIGHS
}

/// A member's value as it appears in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// The number's text, e.g. `1.0e3`.
    Number(&'a [u8]),
    /// A string, escapes not yet decoded.
    Str(Str<'a>),
    Bool(bool),
    Null,
    Object,
    Array,
}

/// A JSON string as it appears in the body: the bytes between the quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Str<'a> {
    pub raw: &'a [u8],
    /// Whether `raw` holds a backslash escape (known from the scan, so equality of plain
    /// strings is one `memcmp`).
    pub escaped: bool,
}

impl Str<'_> {
    /// Whether the decoded string equals `want`.
    pub fn decodes_to(&self, want: &[u8]) -> bool {
        if self.escaped {
            string_eq(self.raw, want)
        } else {
            self.raw == want
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// Validates `body` as one JSON document. When it is an object, `visit(key, value)` is
/// called for each top-level member, in order.
pub fn scan<'a, F: FnMut(Str<'a>, Value<'a>)>(
    body: &'a [u8],
    visit: F,
) -> Result<Value<'a>, Invalid> {
    document(&mut Parser { buf: body, pos: 0 }, visit)
}

/// Where `body` stops being JSON (the offset at which `scan` gave up), or `None` when it is
/// valid: for a failure's reason, off the success path.
pub fn invalid_at(body: &[u8]) -> Option<usize> {
    let mut parser = Parser { buf: body, pos: 0 };
    let valid = document(&mut parser, |_, _| {}).is_ok();
    (!valid).then_some(parser.pos.min(body.len()))
}

/// What `find` found at a path: the value, and its text as it appears in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'a> {
    pub value: Value<'a>,
    pub raw: &'a [u8],
}

/// Validates `body` as one JSON document and finds the value at `path`: each step a member's
/// name in an object, or an index (decimal digits) in an array. `Ok(None)`: valid, but
/// nothing is there. Allocates nothing: for a flow's captures, once per response that has
/// them.
pub fn find<'a, 'p>(
    body: &'a [u8],
    path: impl Iterator<Item = &'p [u8]> + Clone,
) -> Result<Option<Found<'a>>, Invalid> {
    let mut parser = Parser { buf: body, pos: 0 };
    let found = parser.find(0, path)?;
    parser.skip_ws();
    if parser.pos == body.len() {
        Ok(found)
    } else {
        Err(Invalid)
    }
}

/// Appends the decoded text of a raw (validated) JSON string to `out`.
pub fn decode_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut utf8 = [0u8; 4];
    let mut i = 0;
    while i < raw.len() {
        let (decoded, used) = decode_one(&raw[i..], &mut utf8);
        out.extend_from_slice(decoded);
        i += used;
    }
}

fn document<'a, F: FnMut(Str<'a>, Value<'a>)>(
    parser: &mut Parser<'a>,
    mut visit: F,
) -> Result<Value<'a>, Invalid> {
    let body = parser.buf;
    parser.skip_ws();
    // Only the top-level object reports its members; nested ones are validated alone.
    let value = if parser.peek() == Some(b'{') {
        parser.object(0, &mut visit)?
    } else {
        parser.value(0)?
    };
    parser.skip_ws();
    if parser.pos == body.len() {
        Ok(value)
    } else {
        Err(Invalid)
    }
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The visitor of nested objects: their members are not the document's fields.
fn ignore<'a>(_: Str<'a>, _: Value<'a>) {}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Result<(), Invalid> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// The value here, or the one at `path` inside it; the whole value is validated either
    /// way.
    fn find<'p>(
        &mut self,
        depth: u32,
        mut path: impl Iterator<Item = &'p [u8]> + Clone,
    ) -> Result<Option<Found<'a>>, Invalid> {
        self.skip_ws();
        let Some(step) = path.next() else {
            let start = self.pos;
            let value = self.value(depth)?;
            let raw = &self.buf[start..self.pos];
            return Ok(Some(Found { value, raw }));
        };
        if depth > MAX_DEPTH {
            return Err(Invalid);
        }
        let (open, close) = match self.peek() {
            Some(b'{') => (b'{', b'}'),
            Some(b'[') => (b'[', b']'),
            _ => return self.value(depth).map(|_| None),
        };
        let index = (open == b'[')
            .then(|| std::str::from_utf8(step).ok()?.parse::<usize>().ok())
            .flatten();
        self.pos += 1;
        self.skip_ws();
        let mut found = None;
        let mut at = 0;
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(None);
        }
        loop {
            let here = if open == b'{' {
                self.skip_ws();
                if self.peek() != Some(b'"') {
                    return Err(Invalid);
                }
                let key = self.string()?;
                self.eat(b':')?;
                found.is_none() && key.decodes_to(step)
            } else {
                index == Some(at)
            };
            if here {
                found = self.find(depth + 1, path.clone())?;
            } else {
                self.value(depth + 1)?;
            }
            at += 1;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(found);
                }
                _ => return Err(Invalid),
            }
        }
    }

    fn value(&mut self, depth: u32) -> Result<Value<'a>, Invalid> {
        if depth > MAX_DEPTH {
            return Err(Invalid);
        }
        self.skip_ws();
        match self.peek().ok_or(Invalid)? {
            b'{' => self.object(depth, &mut ignore),
            b'[' => self.array(depth),
            b'"' => self.string().map(Value::Str),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            _ => self.number(),
        }
    }

    fn object<F: FnMut(Str<'a>, Value<'a>)>(
        &mut self,
        depth: u32,
        visit: &mut F,
    ) -> Result<Value<'a>, Invalid> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object);
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(Invalid);
            }
            let key = self.string()?;
            self.eat(b':')?;
            let value = self.value(depth + 1)?;
            visit(key, value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object);
                }
                _ => return Err(Invalid),
            }
        }
    }

    fn array(&mut self, depth: u32) -> Result<Value<'a>, Invalid> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array);
        }
        loop {
            self.value(depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array);
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// Returns the raw contents; checks escapes, control characters and UTF-8.
    fn string(&mut self) -> Result<Str<'a>, Invalid> {
        self.pos += 1;
        let start = self.pos;
        let (mut non_ascii, mut escaped) = (false, false);
        loop {
            self.skip_plain();
            let byte = self.peek().ok_or(Invalid)?;
            self.pos += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                0..=0x1f => return Err(Invalid),
                _ => non_ascii = true,
            }
        }
        let raw = &self.buf[start..self.pos - 1];
        if non_ascii && std::str::from_utf8(raw).is_err() {
            return Err(Invalid);
        }
        Ok(Str { raw, escaped })
    }

    /// Skips the bytes of a string that need no attention: eight at a time while eight
    /// are left, then one table look-up each.
    fn skip_plain(&mut self) {
        while let Some(chunk) = self.buf.get(self.pos..self.pos + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let special = special_bytes(word);
            if special != 0 {
                self.pos += special.trailing_zeros() as usize / 8;
                return;
            }
            self.pos += 8;
        }
        while self
            .buf
            .get(self.pos)
            .is_some_and(|&b| !STRING_SPECIAL[b as usize])
        {
            self.pos += 1;
        }
    }

    fn escape(&mut self) -> Result<(), Invalid> {
        let byte = self.peek().ok_or(Invalid)?;
        self.pos += 1;
        match byte {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(()),
            // A \u escape must decode to a character: a high surrogate needs its low half
            // right after it, and a lone low surrogate is refused (as serde_json does).
            b'u' => match self.hex4()? {
                0xd800..=0xdbff => {
                    if self.buf.get(self.pos..self.pos + 2) != Some(b"\\u") {
                        return Err(Invalid);
                    }
                    self.pos += 2;
                    match self.hex4()? {
                        0xdc00..=0xdfff => Ok(()),
                        _ => Err(Invalid),
                    }
                }
                0xdc00..=0xdfff => Err(Invalid),
                _ => Ok(()),
            },
            _ => Err(Invalid),
        }
    }

    fn hex4(&mut self) -> Result<u32, Invalid> {
        let hex = self.buf.get(self.pos..self.pos + 4).ok_or(Invalid)?;
        let value = hex
            .iter()
            .try_fold(0u32, |n, &b| Some(n * 16 + (b as char).to_digit(16)?));
        self.pos += 4;
        value.ok_or(Invalid)
    }

    fn literal(&mut self, text: &[u8], value: Value<'a>) -> Result<Value<'a>, Invalid> {
        if self.buf[self.pos..].starts_with(text) {
            self.pos += text.len();
            Ok(value)
        } else {
            Err(Invalid)
        }
    }

    fn number(&mut self) -> Result<Value<'a>, Invalid> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Invalid),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.required_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.required_digits()?;
        }
        Ok(Value::Number(&self.buf[start..self.pos]))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn required_digits(&mut self) -> Result<(), Invalid> {
        let start = self.pos;
        self.digits();
        if self.pos > start {
            Ok(())
        } else {
            Err(Invalid)
        }
    }
}

/// Compares a raw (still escaped) JSON string with `want`, decoding escapes on the fly.
pub fn string_eq(raw: &[u8], want: &[u8]) -> bool {
    // Escapes only make a string shorter once decoded, so a shorter raw string never matches.
    if raw.len() < want.len() {
        return false;
    }
    let mut want = want.iter().copied();
    let mut utf8 = [0u8; 4];
    let mut i = 0;
    while i < raw.len() {
        let (decoded, used) = decode_one(&raw[i..], &mut utf8);
        if decoded.iter().any(|&b| want.next() != Some(b)) {
            return false;
        }
        i += used;
    }
    want.next().is_none()
}

/// Decodes one byte or escape sequence at the start of `raw` (already validated).
fn decode_one<'b>(raw: &'b [u8], utf8: &'b mut [u8; 4]) -> (&'b [u8], usize) {
    if raw[0] != b'\\' {
        return (&raw[..1], 1);
    }
    let simple = match raw[1] {
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => return decode_unicode(raw, utf8),
        other => other,
    };
    utf8[0] = simple;
    (&utf8[..1], 2)
}

fn decode_unicode<'b>(raw: &[u8], utf8: &'b mut [u8; 4]) -> (&'b [u8], usize) {
    let unit = |at: usize| {
        raw.get(at..at + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let first = unit(2).unwrap_or(0xfffd);
    let (code, used) = match (first, raw.get(6..8)) {
        (0xd800..=0xdbff, Some(b"\\u")) => match unit(8) {
            Some(low @ 0xdc00..=0xdfff) => {
                (0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00), 12)
            }
            _ => (0xfffd, 6),
        },
        _ => (first, 6),
    };
    let ch = char::from_u32(code).unwrap_or('\u{fffd}');
    (ch.encode_utf8(utf8).as_bytes(), used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(body: &str) -> Result<Vec<(String, Value<'_>)>, Invalid> {
        let mut out = Vec::new();
        scan(body.as_bytes(), |k: Str<'_>, v| {
            out.push((String::from_utf8_lossy(k.raw).into_owned(), v))
        })?;
        Ok(out)
    }

    #[test]
    fn finds_values_by_path() {
        let body = br#" {"job": {"id": "7f3a", "tags": ["a", {"k": 2}]}, "n": -1.5,
                        "s": "say \"hi\"\n", "job2": null} "#;
        let at = |path: &str| {
            let steps = path.split('.').map(str::as_bytes);
            find(body, steps)
                .unwrap()
                .map(|f| String::from_utf8_lossy(f.raw).into_owned())
        };
        assert_eq!(at("job.id").as_deref(), Some("\"7f3a\""));
        assert_eq!(at("job.tags.1.k").as_deref(), Some("2"));
        assert_eq!(at("job.tags.0").as_deref(), Some("\"a\""));
        assert_eq!(at("n").as_deref(), Some("-1.5"));
        assert_eq!(at("job.tags").as_deref(), Some("[\"a\", {\"k\": 2}]"));
        assert_eq!(at("job2").as_deref(), Some("null"));
        for missing in [
            "nope",
            "job.nope",
            "job.tags.2",
            "job.tags.x",
            "n.x",
            "job.id.x",
        ] {
            assert_eq!(at(missing), None, "{missing}");
        }
        let Some(Found {
            value: Value::Str(s),
            ..
        }) = find(body, [&b"s"[..]].into_iter()).unwrap()
        else {
            panic!("a string")
        };
        let mut out = Vec::new();
        decode_into(s.raw, &mut out);
        assert_eq!(out, b"say \"hi\"\n");
        // The whole document is validated, past what was found too.
        assert_eq!(
            find(br#"{"a": 1, "b": }"#, [&b"a"[..]].into_iter()),
            Err(Invalid)
        );
        assert_eq!(
            find(br#"{"a": 1} x"#, [&b"a"[..]].into_iter()),
            Err(Invalid)
        );
        // A name is compared decoded.
        let escaped = find(br#"{"j\u006fb": 3}"#, [&b"job"[..]].into_iter()).unwrap();
        assert_eq!(escaped.map(|f| f.raw), Some(&b"3"[..]));
    }

    #[test]
    fn valid_documents() {
        let valid = [
            r#"{"prediction":1}"#,
            r#" { "a" : [1, 2, {"b": null}], "c": "x\"y\\z\u00e9", "d": -0.5e+3 } "#,
            "[]",
            "0",
            r#""just a string""#,
            "{\"ü\": \"ok\"}",
            "true",
        ];
        for body in valid {
            assert!(members(body).is_ok(), "{body}");
        }
    }

    #[test]
    fn invalid_documents() {
        let invalid = [
            "",
            "{",
            "}",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            "[1,]",
            "01",
            "1.",
            "-",
            "1e",
            "tru",
            "nul",
            r#"{"a":1} x"#,
            "\"tab\there\"",
            r#""\x""#,
            r#""\u12""#,
            "{\"a\":1}{}",
            "// c\n{}",
            "NaN",
            "'single'",
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83d\u0041""#,
        ];
        for body in invalid {
            assert_eq!(members(body), Err(Invalid), "{body:?}");
        }
        assert_eq!(
            scan(b"\"\xff\"", &mut |_, _| {}),
            Err(Invalid),
            "invalid UTF-8"
        );
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(members(&deep), Err(Invalid), "too deep");
    }

    #[test]
    fn word_scan_finds_the_first_special_byte() {
        for byte in 0..=255u8 {
            for at in 0..8 {
                // What follows a special byte must not move the mark (borrows run upwards).
                for after in [b'a', b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, byte] {
                    let mut bytes = [b'a'; 8];
                    bytes[at] = byte;
                    bytes[at + 1..].fill(after);
                    let marks = special_bytes(u64::from_le_bytes(bytes));
                    let first = bytes.iter().position(|&b| STRING_SPECIAL[b as usize]);
                    let found = (marks != 0).then(|| marks.trailing_zeros() as usize / 8);
                    assert_eq!(found, first, "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn strings_end_where_they_end_at_every_length() {
        for len in 0..40 {
            for special in [r#"\""#, r"\n", r"\u00e9", "é", r"\\"] {
                let text = "x".repeat(len) + special + &"y".repeat(len % 9);
                let body = format!(r#"{{"k":"{text}"}}"#);
                let got = members(&body).unwrap();
                let raw = text.as_bytes();
                let escaped = special.starts_with('\\');
                assert_eq!(got[0].1, Value::Str(Str { raw, escaped }), "{body}");
            }
            let bad = format!("{{\"k\":\"{}\u{1}\"}}", "x".repeat(len));
            assert_eq!(members(&bad), Err(Invalid), "control character after {len}");
        }
    }

    #[test]
    fn only_top_level_members_are_visited() {
        let body = r#"{"note":"\"prediction\":1","inner":{"prediction":2},"list":[{"prediction":3}],"prediction":0}"#;
        let got = members(body).unwrap();
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["note", "inner", "list", "prediction"]);
        assert_eq!(got[3].1, Value::Number(b"0"));
        assert_eq!(got[1].1, Value::Object);
    }

    #[test]
    fn compares_escaped_strings() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"prediction", b"prediction", true),
            (br"pred\u0069ction", b"prediction", true),
            (b"a\\\"b", b"a\"b", true),
            (br"a\\b", br"a\b", true),
            (br"\u00e9", "é".as_bytes(), true),
            (br"\ud83d\ude00", "😀".as_bytes(), true),
            (br"line\n", b"line\n", true),
            (br"\/", b"/", true),
            (br"abc", b"ab", false),
            (br"a\u0062", b"abc", false),
            (br"\n", b"n", false),
        ];
        for (raw, want, equal) in cases {
            assert_eq!(
                string_eq(raw, want),
                *equal,
                "{:?} vs {:?}",
                String::from_utf8_lossy(raw),
                String::from_utf8_lossy(want)
            );
        }
    }
}
