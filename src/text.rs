//! Text shown to people: shortening opaque identifiers for the console. Pure helpers below
//! every other layer.

/// `27f8…78fa` for long opaque identifiers (subjects), unchanged when short.
pub fn abbreviate(s: &str) -> String {
    if s.chars().count() > 16 {
        let head: String = s.chars().take(4).collect();
        let tail: String = s.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        format!("{head}…{tail}")
    } else {
        s.to_owned()
    }
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max.saturating_sub(1)).collect::<String>())
    }
}

/// Text from the wire made safe to show a person: control characters (C0, DEL, C1), Unicode
/// line and paragraph separators, and bidirectional controls become visible escapes (`\n`,
/// `\e`, `\x07`, `\u{202e}`), so a value can neither move the cursor, clear the screen, start
/// a new (fake) console line nor reorder what is shown; zero-width characters too, so two
/// values that look alike (`admin` and `admin\u{200b}`) never read the same. Everything else
/// is kept as it is.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    // Most wire text is printable ASCII: one pass over the bytes says so (tokens, bodies), the
    // scan by character only runs when it is not.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) || !s.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x1b' => out.push_str("\\e"),
            c if (c as u32) < 0x100 && needs_escape(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{feff}' | '\u{180e}'
        )
        || ('\u{200b}'..='\u{200d}').contains(&c)
        || ('\u{2060}'..='\u{2064}').contains(&c)
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(printable("invalid_grant"), "invalid_grant");
        assert_eq!(
            printable("invalid_grant\u{1b}[2J x\n16:00:00.000 flow 9 · complete"),
            "invalid_grant\\e[2J x\\n16:00:00.000 flow 9 · complete"
        );
        assert_eq!(printable("a\u{7}b\u{7f}c\u{85}d"), "a\\x07b\\x7fc\\x85d");
        assert_eq!(printable("evil\u{202e}txt.exe\u{2028}"), "evil\\u{202e}txt.exe\\u{2028}");
        // Zero-width characters: a name that looks like another.
        assert_eq!(
            printable("admin\u{202e}gnp.exe\u{200b}\u{200c}\u{200d}\u{2060}\u{feff}"),
            "admin\\u{202e}gnp.exe\\u{200b}\\u{200c}\\u{200d}\\u{2060}\\u{feff}"
        );
        assert_eq!(printable("é ✓ …"), "é ✓ …");
    }
}
