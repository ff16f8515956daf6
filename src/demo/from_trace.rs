//! The provider a trace shows, as the demo provider's switches: when no combination of named
//! demo faults gives a trace's findings, `reproduce` builds the embedded provider from what was
//! recorded: the discovery document and its endpoints, the JWKS's shape, the ID token's claims
//! and their types (times relative to the token response), the granted scope, the token and
//! userinfo answers, the authorization response's state and `iss`, the provider's clock offset
//! and the member names given twice. Every recorded URL of the provider's origin is rebased
//! onto the demo's; the ID token is re-signed with a local key of the same type (`derive`).

use serde_json::{Map, Value};

use super::provider::{DupPlace, Duplicate, NonceMode, StateTamper};
use super::rig::Scenario;
use crate::analysis::{Event, ExchangeEvent};
use crate::oidc::classify::ExchangeKind;

/// The demo's paths for each endpoint (relative to its issuer for discovery and JWKS).
const DEMO_AUTHORIZE: &str = "/application/o/authorize/";
const DEMO_TOKEN: &str = "/application/o/token/";
const DEMO_USERINFO: &str = "/application/o/userinfo/";

/// What a trace recorded of its provider, read once from the analysed events.
#[derive(Debug, Default)]
pub struct Recorded<'a> {
    exchanges: Vec<&'a ExchangeEvent>,
    /// Rule ids the trace raised whose cause is a relation redaction keeps only in the verdict
    /// (a signature that did not verify, an at_hash that did not match).
    carried: Vec<String>,
    duplicates: Vec<(String, String, String)>,
}

impl<'a> Recorded<'a> {
    pub fn from_events(events: &'a [Event]) -> Recorded<'a> {
        let mut r = Recorded::default();
        for e in events {
            match e {
                Event::Exchange(x) => r.exchanges.push(x),
                Event::Finding(f) => {
                    let id = f.rule.as_str();
                    if id == "JSON-DUPLICATE-MEMBER"
                        && let (Some(field), Some(seen)) = (&f.field, &f.seen)
                        && let Some((place, name)) = field.split_once('.')
                        && let Some((first, _)) = seen.split_once(" | ")
                    {
                        let dup = (place.to_owned(), name.to_owned(), first.to_owned());
                        if !r.duplicates.contains(&dup) {
                            r.duplicates.push(dup);
                        }
                    } else if !r.carried.iter().any(|c| c == id) {
                        r.carried.push(id.to_owned());
                    }
                }
                _ => {}
            }
        }
        r
    }

    fn first(&self, kind: ExchangeKind) -> Option<&'a ExchangeEvent> {
        self.exchanges.iter().copied().find(|x| x.kind == kind)
    }

    /// The provider's origin as the trace addressed it (`https://host:port`).
    fn origin(&self) -> Option<String> {
        let x = self.first(ExchangeKind::Discovery).or_else(|| self.first(ExchangeKind::Authorize))?;
        let u = url::Url::parse(&x.decoded.url).ok()?;
        Some(u.origin().ascii_serialization())
    }

    /// Sets `sc`'s provider (and Mastodon's issuer) to what the trace recorded, under `origin`
    /// (the demo's provider origin, `https://authentik.test`). Returns what was taken, one line
    /// each, for the console.
    pub fn apply(&self, sc: &mut Scenario, origin: &str, expected_issuer: Option<&str>) -> Vec<String> {
        let mut took = vec![];
        let rebase = Rebase::new(self.origin(), origin);
        let f = &mut sc.provider.faults;
        // Discovery: the document as recorded, its endpoints answered under the demo's paths.
        if let Some(x) = self.first(ExchangeKind::Discovery) {
            let status = x.exchange.response.as_ref().map(|r| r.status).unwrap_or(0);
            if status != 200 && status != 0 {
                f.discovery_status = Some(status);
                took.push(format!("discovery    answers {status}"));
            } else if let Some(Value::Object(doc)) = body_json(x) {
                let doc = rebase.map(&doc);
                let issuer = doc.get("issuer").and_then(Value::as_str).map(str::to_owned);
                if let Some(slug) = issuer.as_deref().and_then(slug_of) {
                    sc.provider.slug = slug;
                }
                let base = format!("/application/o/{}/", sc.provider.slug);
                let mut alias = |member: &str, demo: String| {
                    if let Some(path) = doc.get(member).and_then(Value::as_str).and_then(path_of)
                        && path != demo
                    {
                        f.path_alias.push((path, demo));
                    }
                };
                alias("authorization_endpoint", DEMO_AUTHORIZE.into());
                alias("token_endpoint", DEMO_TOKEN.into());
                alias("userinfo_endpoint", DEMO_USERINFO.into());
                alias("jwks_uri", format!("{base}jwks/"));
                if let Some(path) = path_of(&rebase.text(&x.decoded.url)) {
                    let demo = format!("{base}.well-known/openid-configuration");
                    if path != demo {
                        f.path_alias.push((path, demo));
                    }
                }
                took.push(format!("discovery    the recorded document ({} members)", doc.len()));
                f.discovery_doc = Some(doc);
                if let Some(i) = issuer {
                    sc.rp.issuer = i;
                }
            }
        }
        if let Some(i) = expected_issuer {
            // What Mastodon was configured with, rebased as the provider was.
            sc.rp.issuer = rebase.text(i);
        }
        self.apply_jwks(sc, &mut took);
        self.apply_authorization(sc, &rebase, &mut took);
        self.apply_token(sc, &rebase, &mut took);
        self.apply_userinfo(sc, &rebase, &mut took);
        let f = &mut sc.provider.faults;
        if let Some(skew) = self.clock_offset() {
            f.date_skew_s = skew;
            took.push(format!("clock        the provider's Date {skew:+} s"));
        }
        for (place, name, first) in &self.duplicates {
            let place = match place.as_str() {
                "discovery document" => DupPlace::Discovery,
                "token response" => DupPlace::TokenResponse,
                "id_token" => DupPlace::IdToken,
                "userinfo response" | "userinfo" => DupPlace::Userinfo,
                _ => continue,
            };
            f.duplicates.push(Duplicate { place, name: name.clone(), first: rebase.text(first).into() });
            let what = match place {
                DupPlace::Discovery => "discovery document",
                DupPlace::TokenResponse => "token response",
                DupPlace::IdToken => "ID token",
                DupPlace::Userinfo => "userinfo response",
            };
            took.push(format!("twice        `{name}` in the {what} (the first value as recorded)"));
        }
        took
    }

    fn apply_jwks(&self, sc: &mut Scenario, took: &mut Vec<String>) {
        let Some(jwks) = self.first(ExchangeKind::Jwks).and_then(|x| x.decoded.jwks.as_ref()) else {
            return;
        };
        let f = &mut sc.provider.faults;
        if jwks.status != 200 && jwks.status != 0 {
            f.jwks_status = Some(jwks.status);
            took.push(format!("jwks         answers {}", jwks.status));
            return;
        }
        let kids: Vec<&str> = jwks.keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        f.duplicate_kid = kids.iter().enumerate().any(|(i, k)| kids[..i].contains(k));
        took.push(format!(
            "jwks         {} key(s){}",
            jwks.keys.len(),
            if f.duplicate_kid { ", a kid given twice" } else { "" }
        ));
        // The ID token's kid against the keys: unknown there, or absent.
        let header = self.id_token().map(|(h, _)| h);
        match header.as_ref().map(|h| h.get("kid").and_then(Value::as_str)) {
            Some(Some(kid)) if !kids.contains(&kid) => f.id_token_kid = Some(kid.to_owned()),
            Some(None) if !jwks.keys.is_empty() => f.no_kid = true,
            _ => {}
        }
    }

    fn apply_authorization(&self, sc: &mut Scenario, rebase: &Rebase, took: &mut Vec<String>) {
        let f = &mut sc.provider.faults;
        let sent = self.first(ExchangeKind::Authorize).and_then(|x| x.decoded.authorize.clone());
        let Some(resp) = self.first(ExchangeKind::AuthorizeResponse) else { return };
        let Some(a) = &resp.decoded.authorization_response else { return };
        if let Some(e) = &a.error {
            f.authorize_error = Some(e.clone());
            took.push(format!("authorize    answers error={}", crate::text::printable(e)));
        }
        if let Some(iss) = &a.iss {
            f.iss_param = Some(rebase.text(iss));
        }
        if a.via == crate::oidc::messages::ResponseVia::Executor {
            f.executor = true;
            f.flow_stages = self.exchanges.iter().any(|x| x.decoded.flow_stage.is_some());
        }
        let sent_state = sent.as_ref().and_then(|s| s.state.as_deref());
        if let (Some(s), Some(back)) = (sent_state, a.state.as_deref())
            && s != back
        {
            f.state_tamper = Some(if back.starts_with(s) {
                StateTamper::Suffix
            } else if s.starts_with(back) {
                StateTamper::Truncate
            } else {
                f.state_override = Some(back.to_owned());
                StateTamper::PercentDecoded
            });
            took.push("state        altered on the way back, as recorded".into());
        }
    }

    fn id_token(&self) -> Option<(Map<String, Value>, Map<String, Value>)> {
        let t = self.first(ExchangeKind::Token)?.decoded.token_response.as_ref()?;
        let jwt = t.id_token_decoded.as_ref()?;
        Some((jwt.header.clone(), jwt.claims.clone()))
    }

    fn apply_token(&self, sc: &mut Scenario, rebase: &Rebase, took: &mut Vec<String>) {
        let Some(x) = self.first(ExchangeKind::Token) else { return };
        let Some(t) = &x.decoded.token_response else { return };
        let f = &mut sc.provider.faults;
        if let Some(e) = &t.error {
            f.token_error = Some(e.clone());
            f.token_error_description = t.error_description.clone();
            took.push(format!("token        answers error={}", crate::text::printable(e)));
            return;
        }
        f.token_type = t.token_type.clone();
        f.omit_id_token = t.id_token.is_none();
        let requested = self
            .first(ExchangeKind::Authorize)
            .and_then(|a| a.decoded.authorize.as_ref()?.scope.clone())
            .unwrap_or_default();
        if let Some(granted) = &t.scope {
            let granted: Vec<&str> = granted.split_whitespace().collect();
            f.scope_drop =
                requested.split_whitespace().filter(|s| !granted.contains(s)).map(str::to_owned).collect();
        }
        let Some(jwt) = &t.id_token_decoded else { return };
        if jwt.claims.is_empty() {
            return;
        }
        // Times as offsets from the token response; the relations redaction keeps in verdicts.
        let at = (x.ts / 1000) as i64;
        let mut claims = rebase.map(&jwt.claims);
        for c in ["exp", "iat", "nbf", "auth_time"] {
            if let Some(t) = claims.get(c).and_then(Value::as_i64) {
                claims.insert(c.into(), (t - at).into());
            }
        }
        let sent_nonce =
            self.first(ExchangeKind::Authorize).and_then(|a| a.decoded.authorize.as_ref()?.nonce.clone());
        f.nonce = match (jwt.claims.get("nonce").and_then(Value::as_str), sent_nonce.as_deref()) {
            (None, _) => NonceMode::Omit,
            (Some(n), Some(s)) if n == s => NonceMode::Echo,
            (Some(_), None) => NonceMode::Echo,
            (Some(_), Some(_)) => NonceMode::Wrong,
        };
        f.tamper_signature = self.carried.iter().any(|r| r == "IDT-SIGNATURE-INVALID");
        f.bad_at_hash = self.carried.iter().any(|r| r == "IDT-AT-HASH-MISMATCH");
        let nonce = match f.nonce {
            NonceMode::Echo => "the request's",
            NonceMode::Omit => "none",
            NonceMode::Wrong => "another than the request's",
        };
        took.push(format!(
            "id_token     {} claims as recorded (times relative to the token response), nonce {nonce}",
            claims.len()
        ));
        f.id_token_claims = Some(claims);
    }

    fn apply_userinfo(&self, sc: &mut Scenario, rebase: &Rebase, took: &mut Vec<String>) {
        let Some(u) = self.first(ExchangeKind::Userinfo).and_then(|x| x.decoded.userinfo_response.as_ref())
        else {
            return;
        };
        let f = &mut sc.provider.faults;
        if u.status != 200 {
            f.userinfo_status = Some(u.status);
            f.userinfo_challenge = u
                .www_authenticate
                .as_ref()
                .and_then(|w| Some((w.error.clone()?, w.error_description.clone().unwrap_or_default())));
            took.push(format!("userinfo     answers {}", u.status));
        } else if let Some(claims) = &u.claims {
            f.userinfo_body = Some(rebase.map(claims));
            took.push(format!("userinfo     {} claims as recorded", claims.len()));
        }
    }

    /// The provider's `Date` against the gateway's clock, in seconds, when it is off by more
    /// than the second a Date header's resolution gives.
    fn clock_offset(&self) -> Option<i64> {
        let x = self.first(ExchangeKind::Token).or_else(|| self.first(ExchangeKind::Discovery))?;
        let date =
            x.exchange.response.as_ref()?.headers.iter().find(|h| h.name.eq_ignore_ascii_case("date"))?;
        let at = httpdate::parse_http_date(&date.value).ok()?;
        let at = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
        let skew = at - (x.exchange.started_ms / 1000) as i64;
        (skew.abs() > 2).then_some(skew)
    }
}

/// The recorded response body as JSON.
fn body_json(x: &ExchangeEvent) -> Option<Value> {
    serde_json::from_str(x.exchange.response.as_ref()?.body.text()?).ok()
}

fn path_of(u: &str) -> Option<String> {
    Some(url::Url::parse(u).ok()?.path().to_owned())
}

/// authentik's slug from its issuer path (`/application/o/<slug>/`).
fn slug_of(issuer: &str) -> Option<String> {
    let path = path_of(issuer)?;
    let slug = path.strip_prefix("/application/o/")?.trim_end_matches('/');
    (!slug.is_empty() && !slug.contains('/')).then(|| slug.to_owned())
}

/// The recorded provider origin (both schemes) replaced by the demo's in every string.
struct Rebase {
    pairs: Vec<(String, String)>,
}

impl Rebase {
    fn new(recorded: Option<String>, demo: &str) -> Rebase {
        let Some(rec) = recorded else { return Rebase { pairs: vec![] } };
        let host = |o: &str| o.split_once("://").map(|(_, h)| h.to_owned()).unwrap_or_default();
        let (rh, dh) = (host(&rec), host(demo));
        let pairs = vec![
            (format!("https://{rh}"), format!("https://{dh}")),
            (format!("http://{rh}"), format!("http://{dh}")),
        ];
        Rebase { pairs: pairs.into_iter().filter(|(a, b)| a != b).collect() }
    }

    /// `s` with each origin replaced where it ends there (`/`, `?`, `#` or the end follow:
    /// `https://h:1` is not the start of `https://h:10`).
    fn text(&self, s: &str) -> String {
        self.pairs.iter().fold(s.to_owned(), |s, (from, to)| {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(i) = rest.find(from.as_str()) {
                let after = &rest[i + from.len()..];
                let ends = after.chars().next().is_none_or(|c| matches!(c, '/' | '?' | '#' | '"' | ' '));
                out.push_str(&rest[..i]);
                out.push_str(if ends { to } else { from });
                rest = after;
            }
            out.push_str(rest);
            out
        })
    }

    fn value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.value(v)).collect()),
            Value::Object(m) => Value::Object(self.map(m)),
            other => other.clone(),
        }
    }

    fn map(&self, m: &Map<String, Value>) -> Map<String, Value> {
        m.iter().map(|(k, v)| (k.clone(), self.value(v))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_origin_is_rebased_in_both_schemes_and_nowhere_else() {
        let r = Rebase::new(Some("https://localhost:35851".into()), "https://authentik.test");
        assert_eq!(
            r.text("http://localhost:35851/application/o/authorize/"),
            "http://authentik.test/application/o/authorize/"
        );
        assert_eq!(r.text("https://localhost:35851/a/"), "https://authentik.test/a/");
        assert_eq!(r.text("https://localhost:358510/a/"), "https://localhost:358510/a/");
        assert_eq!(
            r.text("see https://localhost:35851 and https://localhost:35851?x"),
            "see https://authentik.test and https://authentik.test?x"
        );
        assert_eq!(r.text("https://other.example/"), "https://other.example/");
        let nothing = Rebase::new(None, "https://authentik.test");
        assert_eq!(nothing.text("https://localhost:35851/"), "https://localhost:35851/");
    }

    #[test]
    fn a_slug_comes_from_an_authentik_issuer_only() {
        assert_eq!(slug_of("https://h:1/application/o/social/").as_deref(), Some("social"));
        assert_eq!(slug_of("https://h/realms/x"), None);
    }
}
