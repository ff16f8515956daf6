//! Where a request goes: the upstream picked by Host (or SNI), and where an upstream host is
//! really dialled (`--connect-to`). Parsing of the `--upstream`, `--route` and `--connect-to`
//! values lives here too, so their errors can name the bad value.

use std::collections::HashMap;
use std::fmt;

use http::Uri;
use http::uri::{Authority, Scheme};

/// A malformed routing flag value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("upstream {0:?} is not an http:// or https:// URL with a host")]
    BadUpstream(String),
    #[error("upstream {0:?} has a path; give only scheme://host[:port]")]
    UpstreamPath(String),
    #[error(
        "upstream {0:?} carries credentials: the gateway does not send them (it forwards each client's own Authorization), so remove them from the URL"
    )]
    UpstreamCredentials(String),
    #[error("route {0:?} is not HOST=URL")]
    BadRoute(String),
    #[error("--connect-to {0:?} is not HOST:PORT=ADDR:PORT")]
    BadConnectTo(String),
}

/// An upstream origin: scheme and authority, no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub scheme: Scheme,
    pub authority: Authority,
}

impl Upstream {
    pub fn parse(s: &str) -> Result<Upstream, RouteError> {
        let uri: Uri = s.trim().parse().map_err(|_| RouteError::BadUpstream(s.into()))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| RouteError::BadUpstream(s.into()))?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(RouteError::BadUpstream(s.into()));
        }
        let authority = uri.authority().cloned().ok_or_else(|| RouteError::BadUpstream(s.into()))?;
        if let Some((userinfo, host)) = authority.as_str().rsplit_once('@') {
            // Never echo the password: user and host only.
            let user = userinfo.split(':').next().unwrap_or("");
            return Err(RouteError::UpstreamCredentials(format!("{scheme}://{user}:***@{host}")));
        }
        if authority.host().is_empty() {
            return Err(RouteError::BadUpstream(s.into()));
        }
        if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
            return Err(RouteError::UpstreamPath(s.into()));
        }
        Ok(Upstream { scheme, authority })
    }

    /// The upstream URI for a request path (`/x?y`).
    pub fn uri_for(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }

    /// Port that will be dialled (explicit, or the scheme's default).
    pub fn port(&self) -> u16 {
        self.authority.port_u16().unwrap_or(if self.scheme == Scheme::HTTPS { 443 } else { 80 })
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

/// Picks the upstream for a request: an exact `--route` host match first (Host header, then
/// SNI), else the default `--upstream`.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<(String, Upstream)>,
    default: Option<Upstream>,
}

impl Router {
    pub fn new(default: Option<Upstream>, routes: Vec<(String, Upstream)>) -> Router {
        let routes = routes.into_iter().map(|(h, u)| (h.to_ascii_lowercase(), u)).collect();
        Router { routes, default }
    }

    /// Parses one `--route HOST=URL` value.
    pub fn parse_route(s: &str) -> Result<(String, Upstream), RouteError> {
        let (host, url) = s.split_once('=').ok_or_else(|| RouteError::BadRoute(s.into()))?;
        let host = host.trim();
        if host.is_empty() {
            return Err(RouteError::BadRoute(s.into()));
        }
        Ok((host.to_ascii_lowercase(), Upstream::parse(url)?))
    }

    /// A route given with a port (`--route 127.0.0.1:8443=URL`) matches that Host exactly; one
    /// without a port matches the host on any port. Then SNI, then the default.
    pub fn pick(&self, host: &str, sni: Option<&str>) -> Option<&Upstream> {
        let host = host.to_ascii_lowercase();
        let bare = strip_port(&host);
        let by = |name: &str| self.routes.iter().find(|(h, _)| h == name).map(|(_, u)| u);
        by(&host)
            .or_else(|| by(bare))
            .or_else(|| sni.and_then(|s| by(&s.to_ascii_lowercase())))
            .or(self.default.as_ref())
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.default.is_none()
    }

    /// Every upstream, for the start-up banner.
    pub fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> = self.routes.iter().map(|(h, u)| format!("{h} → {u}")).collect();
        if let Some(d) = &self.default {
            v.push(format!("* → {d}"));
        }
        v
    }
}

/// `authentik.company:443` → `authentik.company`; `[::1]:80` → `[::1]`.
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// `--connect-to` overrides: (host, port) of an upstream → the `addr:port` actually dialled.
/// SNI and Host keep the original name.
#[derive(Debug, Clone, Default)]
pub struct ConnectTo {
    map: HashMap<(String, u16), String>,
}

impl ConnectTo {
    pub fn parse_one(s: &str) -> Result<((String, u16), String), RouteError> {
        let bad = || RouteError::BadConnectTo(s.into());
        let (from, to) = s.split_once('=').ok_or_else(bad)?;
        let (host, port) = from.trim().rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let to = to.trim();
        let (addr, to_port) = to.rsplit_once(':').ok_or_else(bad)?;
        if addr.is_empty() || host.is_empty() || to_port.parse::<u16>().is_err() {
            return Err(bad());
        }
        Ok(((host.trim_matches(['[', ']']).to_ascii_lowercase(), port), to.to_owned()))
    }

    pub fn new(entries: Vec<((String, u16), String)>) -> ConnectTo {
        ConnectTo { map: entries.into_iter().collect() }
    }

    /// The `addr:port` to dial instead of `host:port`, if overridden.
    pub fn lookup(&self, host: &str, port: u16) -> Option<&str> {
        self.map.get(&(host.trim_matches(['[', ']']).to_ascii_lowercase(), port)).map(String::as_str)
    }

    pub fn describe(&self) -> Vec<String> {
        self.map.iter().map(|((h, p), to)| format!("{h}:{p} dialled at {to}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_parse_and_reject_paths() {
        let u = Upstream::parse("https://authentik.company").unwrap();
        assert_eq!(u.port(), 443);
        assert_eq!(u.to_string(), "https://authentik.company");
        assert_eq!(Upstream::parse("http://10.0.0.5:9000/").unwrap().port(), 9000);
        assert!(matches!(Upstream::parse("ftp://x"), Err(RouteError::BadUpstream(_))));
        assert!(matches!(Upstream::parse("authentik.company"), Err(RouteError::BadUpstream(_))));
        assert!(matches!(Upstream::parse("https://a/application/o/"), Err(RouteError::UpstreamPath(_))));
        let creds = Upstream::parse("https://admin:hunter2@authentik.company").unwrap_err();
        assert_eq!(creds, RouteError::UpstreamCredentials("https://admin:***@authentik.company".into()));
        assert!(!creds.to_string().contains("hunter2"));
    }

    /// `--route HOST:PORT=URL` matches what the banner shows (it never matched before).
    #[test]
    fn a_route_with_a_port_matches_that_host_and_port() {
        let a = Upstream::parse("https://10.0.0.5").unwrap();
        let b = Upstream::parse("https://10.0.0.6").unwrap();
        let r = Router::new(
            None,
            vec![
                Router::parse_route("127.0.0.1:19330=https://10.0.0.5").unwrap(),
                Router::parse_route("127.0.0.1=https://10.0.0.6").unwrap(),
            ],
        );
        assert_eq!(r.pick("127.0.0.1:19330", None), Some(&a));
        assert_eq!(r.pick("127.0.0.1:8443", None), Some(&b));
        assert_eq!(r.pick("127.0.0.1", None), Some(&b));
    }

    #[test]
    fn routes_match_host_then_sni_then_default() {
        let a = Upstream::parse("https://10.0.0.5").unwrap();
        let m = Upstream::parse("http://10.0.0.6:3000").unwrap();
        let d = Upstream::parse("http://127.0.0.1:9").unwrap();
        let r = Router::new(
            Some(d.clone()),
            vec![
                Router::parse_route("authentik.company=https://10.0.0.5").unwrap(),
                Router::parse_route("Mastodon.Company=http://10.0.0.6:3000").unwrap(),
            ],
        );
        assert_eq!(r.pick("authentik.company:443", None), Some(&a));
        assert_eq!(r.pick("MASTODON.company", None), Some(&m));
        assert_eq!(r.pick("10.9.9.9", Some("mastodon.company")), Some(&m));
        assert_eq!(r.pick("other", None), Some(&d));
        assert!(Router::new(None, vec![]).pick("x", None).is_none());
        assert!(Router::parse_route("nohost").is_err());
    }

    #[test]
    fn connect_to_parses_and_looks_up() {
        let e = ConnectTo::parse_one("authentik.company:443=10.0.0.5:8443").unwrap();
        let c = ConnectTo::new(vec![e]);
        assert_eq!(c.lookup("Authentik.Company", 443), Some("10.0.0.5:8443"));
        assert_eq!(c.lookup("authentik.company", 80), None);
        assert!(ConnectTo::parse_one("authentik.company=10.0.0.5").is_err());
        assert!(ConnectTo::parse_one("a:x=b:1").is_err());
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("a.b:443"), "a.b");
        assert_eq!(strip_port("a.b"), "a.b");
        assert_eq!(strip_port("[::1]:8443"), "[::1]");
    }
}
