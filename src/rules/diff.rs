//! Near-miss hints: say *how* two URLs or values differ, since most OIDC misconfigurations are
//! one character away from right (a trailing slash, http vs https, a port).

fn parts(u: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = u.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    Some((scheme, authority, path))
}

fn host_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rsplit_once(':') {
        Some((h, p))
            if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(']')
                || authority.starts_with('[') && authority.contains("]:") =>
        {
            (h, Some(p))
        }
        _ => (authority, None),
    }
}

/// Character index where the strings first differ.
pub fn first_difference(a: &str, b: &str) -> Option<usize> {
    if a == b {
        return None;
    }
    Some(a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count())
}

/// A short description of how `seen` differs from `expected`, if they differ.
pub fn near_miss(expected: &str, seen: &str) -> Option<String> {
    if expected == seen {
        return None;
    }
    let mut notes = vec![];
    if expected.trim() == seen.trim() || expected.trim_matches(['"', '\'']) == seen.trim_matches(['"', '\''])
    {
        return Some("whitespace or quotes around the value".into());
    }
    if expected.eq_ignore_ascii_case(seen) {
        return Some("only letter case differs".into());
    }
    if let (Some((es, ea, ep)), Some((ss, sa, sp))) = (parts(expected), parts(seen)) {
        if !es.eq_ignore_ascii_case(ss) {
            notes.push(format!("scheme: {ss} vs {es}"));
        }
        let (eh, eport) = host_port(ea);
        let (sh, sport) = host_port(sa);
        if !eh.eq_ignore_ascii_case(sh) {
            notes.push(format!("host: {sh} vs {eh}"));
        }
        if eport != sport {
            notes.push(format!("port: {} vs {}", sport.unwrap_or("default"), eport.unwrap_or("default")));
        }
        let (epq, spq) = (ep, sp);
        if epq != spq {
            if epq.trim_end_matches('/') == spq.trim_end_matches('/') {
                notes.push(if epq.ends_with('/') {
                    "trailing slash: expected ends with '/', seen does not".to_string()
                } else {
                    "trailing slash: seen ends with '/', expected does not".to_string()
                });
            } else {
                notes.push(format!(
                    "path: {} vs {}",
                    if spq.is_empty() { "/" } else { spq },
                    if epq.is_empty() { "/" } else { epq }
                ));
            }
        }
        if !notes.is_empty() {
            return Some(notes.join("; "));
        }
    }
    if expected.trim_end_matches('/') == seen.trim_end_matches('/') {
        return Some(
            if expected.ends_with('/') {
                "trailing slash: expected ends with '/', seen does not"
            } else {
                "trailing slash: seen ends with '/', expected does not"
            }
            .into(),
        );
    }
    // A hint only helps when the values share a prefix (a near miss).
    first_difference(expected, seen).filter(|i| *i > 0).map(|i| format!("differs from character {}", i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints() {
        let iss = "https://authentik.company/application/o/mastodon/";
        assert_eq!(near_miss(iss, iss), None);
        assert_eq!(
            near_miss(iss, "https://authentik.company/application/o/mastodon").unwrap(),
            "trailing slash: expected ends with '/', seen does not"
        );
        assert_eq!(
            near_miss(iss, "http://authentik.company/application/o/mastodon/").unwrap(),
            "scheme: http vs https"
        );
        assert_eq!(
            near_miss(iss, "https://authentik.company:8443/application/o/mastodon/").unwrap(),
            "port: 8443 vs default"
        );
        assert_eq!(
            near_miss(iss, "https://auth.company/application/o/mastodon/").unwrap(),
            "host: auth.company vs authentik.company"
        );
        assert!(
            near_miss(iss, "https://authentik.company/application/o/masto/").unwrap().starts_with("path:")
        );
        assert_eq!(near_miss("abc", " abc").unwrap(), "whitespace or quotes around the value");
        assert_eq!(near_miss("abc", "abd").unwrap(), "differs from character 3");
        assert_eq!(first_difference("https://a", "http://a"), Some(4));
    }
}

/// How a correlation value (state, code) differs from the one sent, in words: what was added,
/// cut or re-encoded on the way. `clear` says whether the value may be shown (a state may, a
/// code may not: then only the lengths are told).
pub fn how_values_differ(sent: &str, got: &str, clear: bool) -> String {
    let decoded = |s: &str| -> String {
        form_urlencoded::parse(format!("x={}", s.replace(' ', "+")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let n = |s: &str| s.chars().count();
    // The part that was added, quoted (a long one is cut: the count says how long it was).
    let quoted = |part: &str| {
        let c = n(part);
        if c > 24 {
            format!("\"{}…\" ({c} characters)", part.chars().take(20).collect::<String>())
        } else {
            format!("\"{part}\"")
        }
    };
    if got.is_empty() {
        "the value came back empty".into()
    } else if let Some(added) = got.strip_prefix(sent) {
        if clear {
            format!("{} was appended", quoted(added))
        } else {
            format!("a suffix of {} characters was added", n(added))
        }
    } else if let Some(added) = got.strip_suffix(sent) {
        if clear {
            format!("{} was put in front", quoted(added))
        } else {
            format!("a prefix of {} characters was added", n(added))
        }
    } else if sent.starts_with(got) {
        format!("truncated after {} of {} characters", n(got), n(sent))
    } else if decoded(got) == sent
        || decoded(sent) == got
        || got.replace(' ', "+") == sent
        || sent.replace(' ', "+") == got
    {
        "the percent-encoding changed on the way ('+' read as a space, or a value decoded or encoded twice)"
            .into()
    } else {
        "a different value altogether".into()
    }
}

#[cfg(test)]
mod value_tests {
    use super::how_values_differ;

    #[test]
    fn says_how_a_value_was_changed() {
        assert_eq!(how_values_differ("abc", "abcx", false), "a suffix of 1 characters was added");
        assert_eq!(how_values_differ("abc", "xxabc", false), "a prefix of 2 characters was added");
        assert_eq!(how_values_differ("abc", "abc-waf", true), "\"-waf\" was appended");
        assert_eq!(how_values_differ("abc", "xxabc", true), "\"xx\" was put in front");
        let long = format!("abc{}", "x".repeat(30));
        assert_eq!(
            how_values_differ("abc", &long, true),
            "\"xxxxxxxxxxxxxxxxxxxx…\" (30 characters) was appended"
        );
        assert_eq!(how_values_differ("abcdef", "abc", true), "truncated after 3 of 6 characters");
        assert!(how_values_differ("ab+c/d==", "ab c/d==", true).starts_with("the percent-encoding changed"));
        assert!(how_values_differ("ab+c", "ab%2Bc", true).starts_with("the percent-encoding changed"));
        assert_eq!(how_values_differ("abc", "xyz", true), "a different value altogether");
        assert_eq!(how_values_differ("abc", "", true), "the value came back empty");
    }
}
