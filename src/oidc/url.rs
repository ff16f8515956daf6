//! URL handling for the decoders and the endpoint book, on the `url` crate (WHATWG parsing):
//! split a URL or an origin-relative reference into base, query and fragment, and reduce an
//! endpoint URL to the (host, path) key the gateway's requests are matched by.
//!
//! Two places compare raw text on purpose and do not come here: redaction (`redact.rs`, which
//! must keep every byte it does not mask) and near-miss hints (`rules/diff.rs`, which must see
//! the `:443` or the upper-case letter a normalising parser would erase).

use url::{Position, Url};

/// A URL split into the part before the query, the raw query and the raw fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitUrl {
    /// Scheme, authority and path (`https://h/p`), or only the path for `/p?q`.
    pub base: String,
    pub query: Option<String>,
    pub fragment: Option<String>,
}

/// Placeholder origin for references without one (`/p?q`); never shown.
const RELATIVE_BASE: &str = "http://relative.invalid/";

fn parse(s: &str) -> Option<(Url, bool)> {
    match Url::parse(s) {
        Ok(u) => Some((u, false)),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            Url::parse(RELATIVE_BASE).ok()?.join(s).ok().map(|u| (u, true))
        }
        Err(_) => None,
    }
}

/// Splits `https://h/p?q#f` (or `/p?q`) into base, query and fragment. Something that does
/// not parse as a URL is returned whole as the base.
pub fn split_url(s: &str) -> SplitUrl {
    match parse(s) {
        Some((u, relative)) => SplitUrl {
            base: if relative { u.path().to_owned() } else { u[..Position::AfterPath].to_owned() },
            query: u.query().map(str::to_owned),
            fragment: u.fragment().map(str::to_owned),
        },
        None => SplitUrl { base: s.to_owned(), query: None, fragment: None },
    }
}

/// `https://Host:443/p/?q` → (`host`, `/p/`): host lower-cased, the scheme's default port
/// dropped, so endpoint URLs from discovery compare with what the gateway saw.
pub fn host_path(s: &str) -> Option<(String, String)> {
    let u = Url::parse(s).ok()?;
    let host = u.host_str()?;
    let authority = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    Some((authority, u.path().to_owned()))
}

/// The path of a URL or reference (`/` when it has none).
pub fn path_of(s: &str) -> String {
    parse(s).map(|(u, _)| u.path().to_owned()).unwrap_or_else(|| "/".into())
}

/// Lower-cases a request's authority and drops the scheme's default port.
pub fn normalize_host(authority: &str, scheme: &str) -> String {
    let (scheme, at) = if scheme.eq_ignore_ascii_case("http") { ("http", 0) } else { ("https", 1) };
    // The same few authorities come again and again (every request asks): remember the last
    // ones per thread and scheme instead of running the URL parser each time (looked up by
    // `&str`, so a hit allocates only the answer).
    thread_local! {
        static SEEN: std::cell::RefCell<[std::collections::HashMap<String, String>; 2]> =
            Default::default();
    }
    if let Some(h) = SEEN.with(|m| m.borrow()[at].get(authority).cloned()) {
        return h;
    }
    let h = host_path(&format!("{scheme}://{authority}/"))
        .map(|(h, _)| h)
        .unwrap_or_else(|| authority.to_ascii_lowercase());
    SEEN.with(|m| {
        let m = &mut m.borrow_mut()[at];
        if m.len() >= 256 {
            m.clear();
        }
        m.insert(authority.to_owned(), h.clone());
    });
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_absolute_and_relative() {
        let s = split_url("https://m/cb?code=c&state=s#id_token=x");
        assert_eq!(s.base, "https://m/cb");
        assert_eq!(s.query.as_deref(), Some("code=c&state=s"));
        assert_eq!(s.fragment.as_deref(), Some("id_token=x"));
        let r = split_url("/application/o/userinfo/?access_token=t");
        assert_eq!(
            (r.base.as_str(), r.query.as_deref()),
            ("/application/o/userinfo/", Some("access_token=t"))
        );
        assert_eq!(split_url("https://m/cb").query, None);
        assert_eq!(split_url("http://[::1").base, "http://[::1");
    }

    #[test]
    fn host_normalisation() {
        assert_eq!(host_path("https://A.b:443/x?y"), Some(("a.b".into(), "/x".into())));
        assert_eq!(host_path("http://a.b:8080"), Some(("a.b:8080".into(), "/".into())));
        assert_eq!(host_path("not a url"), None);
        assert_eq!(normalize_host("a.b:80", "http"), "a.b");
        assert_eq!(normalize_host("A.b:443", "https"), "a.b");
        assert_eq!(normalize_host("127.0.0.1:8443", "https"), "127.0.0.1:8443");
        // Remembered per scheme: the same authority asked again under the other scheme.
        for _ in 0..2 {
            assert_eq!(normalize_host("A.b:443", "http"), "a.b:443");
            assert_eq!(normalize_host("A.b:443", "HTTPS"), "a.b");
            assert_eq!(normalize_host("a.b:80", "https"), "a.b:80");
        }
        assert_eq!(path_of("https://m/auth/sign_in?x=1"), "/auth/sign_in");
    }
}
