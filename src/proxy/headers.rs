//! Header rules of a transparent reverse proxy (RFC 9110 §7.6.1, RFC 9113 §8.2): what is
//! hop-by-hop, how an h2 request becomes an h1 one, and how X-Forwarded-* is added without
//! overwriting what a front proxy already said. Pure functions over `HeaderMap`.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one connection, never the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/// Removes hop-by-hop headers, including those named in `Connection`. When `keep_upgrade` is
/// set (a protocol switch being forwarded), `Connection: upgrade` and `Upgrade` stay.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // The names to drop, found in one pass over the names present: a removal by a name that
    // is absent still parses and hashes it, and most messages carry one hop-by-hop header
    // (`connection`) if any, so removing the whole list of 7 by name cost ~5 % of a request.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .chain(headers.keys().filter(|n| HOP_BY_HOP.contains(&n.as_str())).cloned())
        .collect();
    for name in named {
        if keep_upgrade && (name == header::UPGRADE || name == header::CONNECTION) {
            continue;
        }
        headers.remove(&name);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// `true` for an HTTP/1.1 request asking to switch protocols (WebSocket).
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// h2 allows `cookie` split over several fields; HTTP/1.1 servers expect one (RFC 9113 §8.2.3).
pub fn join_cookies(headers: &mut HeaderMap) {
    let values: Vec<HeaderValue> = headers.get_all(header::COOKIE).iter().cloned().collect();
    if values.len() < 2 {
        return;
    }
    let joined: Vec<u8> = values.iter().map(|v| v.as_bytes()).collect::<Vec<_>>().join(&b"; "[..]);
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, v);
    }
}

/// Adds what the gateway knows about the original request, the way authentik's trusted-proxy
/// logic expects: `X-Forwarded-For` is appended to; `X-Forwarded-Proto` is only set when this
/// gateway terminated TLS and no front proxy already said it.
pub fn add_forwarded(headers: &mut HeaderMap, client_ip: &str, terminated_tls: bool) {
    let xff = HeaderName::from_static("x-forwarded-for");
    let new = match headers.get(&xff).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {client_ip}"),
        _ => client_ip.to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&new) {
        headers.insert(xff, v);
    }
    let xfp = HeaderName::from_static("x-forwarded-proto");
    if terminated_tls && !headers.contains_key(&xfp) {
        headers.insert(xfp, HeaderValue::from_static("https"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in pairs {
            m.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut m = map(&[
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "5"),
            ("x-private", "1"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("proxy-connection", "keep-alive"),
            ("upgrade", "h2c"),
            ("authorization", "Basic x"),
            ("x-other", "1"),
            ("x-other", "2"),
        ]);
        strip_hop_by_hop(&mut m, false);
        let left: Vec<String> = m.iter().map(|(n, v)| format!("{n}: {}", v.to_str().unwrap())).collect();
        assert_eq!(left, ["authorization: Basic x", "x-other: 1", "x-other: 2"]);
        // A message without any is left as it is.
        let mut m = map(&[("content-type", "text/plain"), ("x-other", "1")]);
        strip_hop_by_hop(&mut m, false);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn upgrade_survives_when_forwarding_a_switch() {
        let mut m = map(&[
            ("connection", "Upgrade, keep-alive"),
            ("keep-alive", "5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "k"),
        ]);
        assert!(is_upgrade_request(&m));
        strip_hop_by_hop(&mut m, true);
        assert_eq!(m["upgrade"], "websocket");
        assert_eq!(m["connection"], "upgrade");
        assert_eq!(m["sec-websocket-key"], "k");
        assert_eq!(m.len(), 3, "keep-alive and te still go: {m:?}");
    }

    #[test]
    fn cookies_are_joined_for_h1() {
        let mut m = map(&[("cookie", "a=1"), ("cookie", "b=2")]);
        join_cookies(&mut m);
        assert_eq!(m.get_all("cookie").iter().count(), 1);
        assert_eq!(m["cookie"], "a=1; b=2");
    }

    #[test]
    fn forwarded_headers_append_and_never_overwrite() {
        let ip = "127.0.0.9";
        let mut m = HeaderMap::new();
        add_forwarded(&mut m, ip, true);
        assert_eq!(m["x-forwarded-for"], "127.0.0.9");
        assert_eq!(m["x-forwarded-proto"], "https");

        let mut m = map(&[("x-forwarded-for", "10.1.1.1"), ("x-forwarded-proto", "http")]);
        add_forwarded(&mut m, ip, true);
        assert_eq!(m["x-forwarded-for"], "10.1.1.1, 127.0.0.9");
        assert_eq!(m["x-forwarded-proto"], "http");

        let mut m = HeaderMap::new();
        add_forwarded(&mut m, ip, false);
        assert!(!m.contains_key("x-forwarded-proto"));
    }
}
