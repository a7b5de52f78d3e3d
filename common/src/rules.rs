//! Limits on names, tags and text. One definition, two enforcers: the agent
//! drops what a plugin gets wrong, the aggregator rejects what a forged or
//! foreign agent sends anyway.

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

/// At most `max` bytes and no control characters.
pub fn is_clean_value(value: &str, max: usize) -> bool {
    value.len() <= max && !value.chars().any(char::is_control)
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
            "tag {key:?} has a value over {max_value} bytes or with control characters"
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
    fn truncates_on_a_char_boundary() {
        assert_eq!(truncate("héllo".to_string(), 2), "h");
        assert_eq!(truncate("abc".to_string(), 5), "abc");
    }
}
