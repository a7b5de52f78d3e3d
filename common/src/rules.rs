//! Limits on names, tags and text. One definition, two enforcers: the agent
//! drops what a plugin gets wrong, the aggregator rejects what a forged or
//! foreign agent sends anyway.
//!
//! One rule for text a host supplies: control characters (C0, DEL, C1) and
//! the Unicode bidirectional controls are refused in names, tags and other
//! identifying values ([`is_clean_value`]), and escaped wherever free text
//! is shown ([`escape_text`]: event messages, log lines), so host text can
//! neither start a new log line nor display reversed.

/// Longest metric name or event kind.
pub const MAX_NAME: usize = 128;
/// Most tags on a metric (or fields on an event).
pub const MAX_TAGS: usize = 32;
/// Longest tag key.
pub const MAX_TAG_KEY: usize = 64;
/// Longest tag value.
pub const MAX_TAG_VALUE: usize = 256;
/// Longest event field value.
pub const MAX_FIELD_VALUE: usize = 1024;
/// Longest event message.
pub const MAX_MESSAGE: usize = 4096;

/// `[a-z][a-z0-9_.]*`, at most `max` bytes.
pub fn is_name(name: &str, max: usize) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

/// A plugin's configured name: `[a-z0-9_-]`, 1 to 64 bytes.
pub fn is_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A host identity: `[a-z0-9][a-z0-9_.-]*`, at most 64 bytes (safe in
/// URLs, file names and pages).
pub fn is_host_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.' || b == b'-'
        })
}

/// A bidirectional control: embeddings, overrides, isolates and marks
/// (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C). An override
/// makes `exe.txt` display as `txt.exe`.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// A character host text may not carry unescaped: a control character or a
/// bidirectional control.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// At most `max` bytes, no control characters and no bidirectional controls.
pub fn is_clean_value(value: &str, max: usize) -> bool {
    value.len() <= max && !value.chars().any(is_unsafe_char)
}

/// `text` with every [`is_unsafe_char`] written as an escape (`\n`, `\r`,
/// `\t`, else `\u{..}`): one line, shown as sent.
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    std::borrow::Cow::Owned(out)
}

/// Append `c` to `out`, escaped when it is unsafe.
pub fn push_escaped(out: &mut impl std::fmt::Write, c: char) {
    let _ = match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        c if is_unsafe_char(c) => write!(out, "\\u{{{:x}}}", c as u32),
        c => out.write_char(c),
    };
}

/// Why the tag `key=value` breaks the rules, if it does.
pub fn check_tag(key: &str, value: &str, max_value: usize) -> Result<(), String> {
    if !is_name(key, MAX_TAG_KEY) {
        return Err(format!(
            "tag key {:?} is not [a-z][a-z0-9_.]* of at most {MAX_TAG_KEY} bytes",
            truncate(key.to_string(), 64)
        ));
    }
    if !is_clean_value(value, max_value) {
        return Err(format!(
            "tag {key:?} has a value over {max_value} bytes or with control or bidirectional characters"
        ));
    }
    Ok(())
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_name("cpu_usage", MAX_NAME));
        assert!(is_name("agent.plugin_calls", MAX_NAME));
        assert!(!is_name("", MAX_NAME));
        assert!(!is_name("Cpu", MAX_NAME));
        assert!(!is_name("1cpu", MAX_NAME));
        assert!(!is_name("cpu-usage", MAX_NAME));
        assert!(!is_name(&"a".repeat(MAX_NAME + 1), MAX_NAME));
    }

    #[test]
    fn tags() {
        assert!(check_tag("map", "prontera", MAX_TAG_VALUE).is_ok());
        assert!(check_tag("Map", "x", MAX_TAG_VALUE).is_err());
        assert!(check_tag("map", "a\nb", MAX_TAG_VALUE).is_err());
        assert!(check_tag("map", &"x".repeat(MAX_TAG_VALUE + 1), MAX_TAG_VALUE).is_err());
    }

    #[test]
    fn unsafe_text_is_refused_in_values_and_escaped_in_messages() {
        for bad in [
            "a\nb",
            "a\rb",
            "a\u{1b}[31mb",
            "a\0b",
            "a\u{202E}b",
            "a\u{2066}b",
            "a\u{85}b",
        ] {
            assert!(!is_clean_value(bad, 100), "{bad:?}");
            assert!(check_tag("map", bad, MAX_TAG_VALUE).is_err(), "{bad:?}");
            let escaped = escape_text(bad);
            assert!(!escaped.chars().any(is_unsafe_char), "{escaped:?}");
        }
        assert_eq!(
            escape_text("ok\nERROR Host revoked"),
            "ok\\nERROR Host revoked"
        );
        assert_eq!(escape_text("a\u{202E}b\\c"), "a\\u{202e}b\\c");
        assert_eq!(escape_text("prontera \\ é"), "prontera \\ é");
        assert!(matches!(
            escape_text("clean"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn truncates_on_a_char_boundary() {
        assert_eq!(truncate("héllo".to_string(), 2), "h");
        assert_eq!(truncate("abc".to_string(), 5), "abc");
    }
}
