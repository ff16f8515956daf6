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
    thread_local! {
        static SEEN: Memo<Option<(String, String)>> = Default::default();
    }
    // The query and fragment never change the answer (the parser ends the path at them), so
    // they are left out of the key: an authorize URL with a fresh state each time is one entry.
    let key = s.split(['?', '#']).next().unwrap_or(s);
    remembered(&SEEN, key, || {
        let u = Url::parse(key).ok()?;
        let host = u.host_str()?;
        let authority = match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        Some((authority, u.path().to_owned()))
    })
}

/// A per-thread memo of a pure function of a string.
type Memo<T> = std::cell::RefCell<std::collections::HashMap<String, T>>;

/// The answer for `key` from `memo`, else `f`'s (remembered). The same few URLs and hosts come
/// with every exchange, and the URL parser costs more than the rest of a lookup; at most 256
/// answers are kept, forgotten all at once when full.
fn remembered<T: Clone>(
    memo: &'static std::thread::LocalKey<Memo<T>>,
    key: &str,
    f: impl FnOnce() -> T,
) -> T {
    if let Some(hit) = memo.with(|m| m.borrow().get(key).cloned()) {
        return hit;
    }
    let answer = f();
    memo.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= 256 {
            m.clear();
        }
        m.insert(key.to_owned(), answer.clone());
    });
    answer
}

/// The path of a URL or reference (`/` when it has none).
pub fn path_of(s: &str) -> String {
    parse(s).map(|(u, _)| u.path().to_owned()).unwrap_or_else(|| "/".into())
}

/// Lower-cases a request's authority and drops the scheme's default port.
pub fn normalize_host(authority: &str, scheme: &str) -> String {
    thread_local! {
        static HTTP: Memo<String> = Default::default();
        static HTTPS: Memo<String> = Default::default();
    }
    let (scheme, memo) =
        if scheme.eq_ignore_ascii_case("http") { ("http", &HTTP) } else { ("https", &HTTPS) };
    remembered(memo, authority, || {
        host_path(&format!("{scheme}://{authority}/"))
            .map(|(h, _)| h)
            .unwrap_or_else(|| authority.to_ascii_lowercase())
    })
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
        // The query and fragment are not part of what is remembered, nor of the answer.
        for _ in 0..2 {
            assert_eq!(host_path("https://A.b/p/x?state=1"), Some(("a.b".into(), "/p/x".into())));
            assert_eq!(host_path("https://A.b/p/x#f?g"), Some(("a.b".into(), "/p/x".into())));
            assert_eq!(host_path("https://a.b?q=/p"), Some(("a.b".into(), "/".into())));
            assert_eq!(host_path("/relative?x"), None);
        }
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
