//! `--form` (and a `--targets` line's `form`): a `multipart/form-data` body in curl's `-F`
//! syntax, built once before the run. `NAME=VALUE` is a text field; `NAME=@PATH` a file sent
//! byte for byte, with `;type=MIME` and `;filename=NAME` after the path as curl takes them.
//! Several parts may share a name (several files under one name, as Locust's and requests'
//! `files=[...]`). The boundary is chosen so that it occurs in no part.

/// One part of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub name: String,
    /// A file's name and type; `None`: a text field.
    pub file: Option<FileInfo>,
    pub content: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    pub filename: String,
    pub mime: String,
}

/// Parses one `--form` value, reading the file it names. `Err`: one line naming the part.
pub fn parse(text: &str) -> Result<Part, String> {
    let bad = |why: &str| format!("invalid --form '{text}': {why}");
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| bad("use NAME=VALUE or NAME=@FILE[;type=MIME][;filename=NAME]"))?;
    if name.is_empty() || !quotable(name) {
        return Err(bad(
            "the name must be non-empty, without quotes or line breaks",
        ));
    }
    let Some(spec) = value.strip_prefix('@') else {
        return Ok(Part {
            name: name.to_string(),
            file: None,
            content: value.as_bytes().to_vec(),
        });
    };
    let mut pieces = spec.split(';');
    let path = pieces.next().unwrap_or_default();
    if path.is_empty() {
        return Err(bad("no file after @"));
    }
    let base = std::path::Path::new(path).file_name();
    let mut file = FileInfo {
        filename: base.map_or(path.to_string(), |b| b.to_string_lossy().into_owned()),
        mime: guess_mime(path).to_string(),
    };
    for piece in pieces {
        match piece.split_once('=') {
            Some(("type", mime)) if !mime.is_empty() && quotable(mime) => file.mime = mime.into(),
            Some(("filename", given)) if !given.is_empty() && quotable(given) => {
                file.filename = given.into()
            }
            _ => {
                return Err(bad(&format!(
                    "unknown option '{piece}' (type=MIME, filename=NAME)"
                )));
            }
        }
    }
    let content =
        std::fs::read(path).map_err(|e| format!("--form {name}: cannot read '{path}': {e}"))?;
    Ok(Part {
        name: name.to_string(),
        file: Some(file),
        content,
    })
}

/// Names and types go between quotes in a header line: no quote, backslash or line break.
fn quotable(text: &str) -> bool {
    !text.contains(['"', '\\', '\r', '\n'])
}

/// A file's type from its extension, as curl guesses it for the common ones; otherwise
/// `application/octet-stream`.
fn guess_mime(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("json") => "application/json",
        Some("txt") => "text/plain",
        Some("csv") => "text/csv",
        Some("pdf") => "application/pdf",
        Some("wav") => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// The body and its `Content-Type` header value. The boundary is the first of a fixed
/// sequence that no part contains, so the same form always gives the same bytes.
pub fn encode(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = (0u64..)
        .map(|n| {
            format!(
                "----blast-form-{:016x}",
                n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            )
        })
        .find(|b| parts.iter().all(|p| !contains(&p.content, b.as_bytes())))
        .unwrap_or_default();
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disposition = match &part.file {
            None => format!(
                "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                part.name
            ),
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                part.name, f.filename, f.mime
            ),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(&part.content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Adds the form's `Content-Type` to `headers`, unless one is there (the user's wins: a
/// form sent as something else is theirs to say).
pub fn set_content_type(headers: &mut Vec<(String, String)>, content_type: String) {
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), content_type));
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_part(name: &str, value: &[u8]) -> Part {
        Part {
            name: name.into(),
            file: None,
            content: value.to_vec(),
        }
    }

    #[test]
    fn a_form_is_encoded_with_a_boundary_that_no_part_holds() {
        let first = encode(&[text_part("a", b"x")]).0;
        let boundary = first
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        // A part that holds the first boundary moves it to the next one.
        let tricky = text_part("b", format!("--{boundary}--").as_bytes());
        let (content_type, body) = encode(&[text_part("label", b"cat"), tricky.clone()]);
        let chosen = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        assert_ne!(chosen, boundary);
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!(
            "--{chosen}\r\nContent-Disposition: form-data; name=\"label\"\r\n\r\ncat\r\n"
        )));
        assert!(text.ends_with(&format!("\r\n--{chosen}--\r\n")));
        assert_eq!(text.matches(&format!("--{chosen}")).count(), 3);
    }

    #[test]
    fn files_are_read_byte_exact_with_their_name_and_type() {
        let dir = std::env::temp_dir().join(format!("blast-form-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cat.PNG");
        let bytes: Vec<u8> = (0..=255u8).chain([0, 13, 10, 0]).collect();
        std::fs::write(&path, &bytes).unwrap();
        let path = path.to_str().unwrap();
        let part = parse(&format!("image=@{path}")).unwrap();
        assert_eq!(part.content, bytes);
        let file = part.file.clone().unwrap();
        assert_eq!(
            (file.filename.as_str(), file.mime.as_str()),
            ("cat.PNG", "image/png")
        );
        let named = parse(&format!("image=@{path};type=image/x-raw;filename=c.raw")).unwrap();
        let file = named.file.unwrap();
        assert_eq!(
            (file.filename.as_str(), file.mime.as_str()),
            ("c.raw", "image/x-raw")
        );
        let (_, body) = encode(&[part]);
        assert!(contains(&body, &bytes));
        assert!(contains(
            &body,
            b"name=\"image\"; filename=\"cat.PNG\"\r\nContent-Type: image/png\r\n\r\n"
        ));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_forms_say_why_in_one_line() {
        let cases = [
            ("novalue", "use NAME=VALUE"),
            ("=x", "the name must be non-empty"),
            ("a\"b=x", "the name must be non-empty"),
            ("f=@", "no file after @"),
            ("f=@/x;size=3", "unknown option 'size=3'"),
            ("f=@/no/such/file", "--form f: cannot read '/no/such/file'"),
        ];
        for (text, says) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
            assert_eq!(error.lines().count(), 1);
        }
        assert_eq!(parse("label=a=b").unwrap().content, b"a=b");
    }
}
