//! The little HTML the decoders read: attributes of auto-submitting forms (form_post response
//! mode, authentik's autosubmit stage) and the text of error pages. Not a general HTML parser:
//! it reads quoted attribute values and undoes the entity escapes servers emit there.

/// The value of attribute `name` in a tag's text.
pub fn attr(tag: &str, name: &str) -> Option<String> {
    for quote in ['"', '\''] {
        let pat = format!("{name}={quote}");
        if let Some(i) = tag.find(&pat) {
            return tag[i + pat.len()..].split(quote).next().map(str::to_owned);
        }
    }
    None
}

/// Undoes the entity escapes used in attribute values and text.
pub fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}
