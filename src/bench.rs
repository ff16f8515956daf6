//! What `benches/` (criterion) measure, reachable from outside the crate without making the
//! decoding and verification internals public API: an ID token signed by the demo provider's
//! keys and verified the way the analysis core does it, and a journal analysed end to end.

use serde_json::json;

use crate::demo::provider::Signing;
use crate::oidc::jwt::DecodedJwt;
use crate::verify::{KeyStore, SigOutcome, is_hmac, verify_hmac};

const JWKS_URL: &str = "https://authentik.test/application/o/mastodon/jwks/";
const SECRET: &str = "demoSecretDoNotUseInProduction0123456789abcdefghijklmnopqrstuvwxyz";

/// A signed ID token and the keys to check it, as the analyzer holds them after a JWKS.
pub struct SignedToken {
    token: String,
    keys: KeyStore,
    hmac: bool,
}

impl SignedToken {
    /// An authentik-shaped ID token signed with `alg` (RS256, ES256, EdDSA, HS256, ...).
    pub fn new(alg: &str) -> Option<SignedToken> {
        let s = Signing::for_alg(alg)?;
        let claims = json!({
            "iss": "https://authentik.test/application/o/mastodon/", "sub": "a".repeat(64),
            "aud": "demoMastodonClientID0123456789abcdefghijk", "exp": 4_102_444_800u64,
            "iat": 1_700_000_000u64, "nonce": "n".repeat(32), "email": "alice@example.test",
            "email_verified": true, "preferred_username": "alice",
        });
        let token = s.sign(&claims, s.kid(), SECRET);
        let mut keys = KeyStore::default();
        if let Some(k) = s.jwk() {
            keys.learn(JWKS_URL, &[k]);
        }
        Some(SignedToken { token, keys, hmac: is_hmac(alg) })
    }

    /// Decodes the token and verifies its signature; true when it checks out.
    pub fn verify(&self) -> bool {
        let Ok(jwt) = DecodedJwt::decode(&self.token) else { return false };
        let out = if self.hmac {
            verify_hmac(&jwt, Some((SECRET, "the client secret")))
        } else {
            self.keys.verify(&jwt, Some(JWKS_URL))
        };
        matches!(out, SigOutcome::Verified { .. } | SigOutcome::VerifiedWithSecret { .. })
    }
}

/// A session (analysis, console, journal to nowhere) that takes records as the live gateway's
/// analysis thread does.
pub struct LiveSession {
    session: crate::session::Session,
    other: crate::capture::Exchange,
    token: crate::capture::Exchange,
}

impl Default for LiveSession {
    fn default() -> LiveSession {
        use crate::capture::{Exchange, Header, RequestRecord, ResponseRecord};
        let console = crate::output::console::Console::new(
            Box::new(std::io::sink()),
            crate::output::console::Style { color: false },
            false,
        )
        .buffered();
        let journal = crate::output::journal::Journal::from_writer(Box::new(std::io::sink()), true);
        let session = crate::session::Session::new(
            crate::analysis::Analyzer::new(Default::default()),
            Some(console),
            Some(journal),
            1 << 20,
        );
        let heads =
            |names: &[(&str, &str)]| names.iter().map(|(n, v)| Header::new(*n, *v)).collect::<Vec<_>>();
        let req = RequestRecord::new(
            "GET",
            "https",
            "authentik.company",
            "/static/dist/assets/fonts/inter.woff2?v=2024.8",
            "HTTP/2.0",
            heads(&[
                (
                    "user-agent",
                    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
                ),
                ("accept", "*/*"),
                ("cookie", "authentik_session=eyJhbGciOiJIUzI1NiJ9.abc.def; authentik_csrf=0123456789abcdef"),
                ("referer", "https://authentik.company/if/flow/default-authentication-flow/"),
            ]),
        );
        let mut other = Exchange::begin(1, req, 1_700_000_000_000);
        other.summary = true;
        other.total_ms = 2;
        other.response = Some(ResponseRecord {
            status: 200,
            version: "HTTP/2.0".into(),
            headers: heads(&[("content-type", "font/woff2"), ("cache-control", "public, max-age=31536000")]),
            body: Default::default(),
        });
        // A token call as Mastodon makes it and authentik answers it (RS256 ID token).
        let signed = SignedToken::new("RS256").expect("RS256");
        let form = "grant_type=authorization_code&code=Zm9vYmFyYmF6cXV4cXV1eA&redirect_uri=https%3A%2F%2Fmastodon.test%2Fauth%2Fauth%2Fopenid_connect%2Fcallback";
        let mut treq = RequestRecord::new(
            "POST",
            "https",
            "authentik.company",
            "/application/o/token/",
            "HTTP/1.1",
            heads(&[
                ("user-agent", "Rack::OAuth2 (2.3.0)"),
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", "Basic ZGVtb01hc3RvZG9uQ2xpZW50SUQ6c2VjcmV0"),
            ]),
        );
        treq.body.bytes = form.as_bytes().to_vec().into();
        treq.body.wire_len = form.len() as u64;
        let body = json!({
            "access_token": "A".repeat(400), "token_type": "Bearer", "scope": "openid profile email",
            "expires_in": 3600, "id_token": signed.token,
        })
        .to_string();
        let mut token = Exchange::begin(1, treq, 1_700_000_000_000);
        token.total_ms = 4;
        token.response = Some(ResponseRecord {
            status: 200,
            version: "HTTP/1.1".into(),
            headers: heads(&[("content-type", "application/json"), ("cache-control", "no-store")]),
            body: crate::capture::CapturedBody {
                wire_len: body.len() as u64,
                bytes: body.into_bytes().into(),
                ..Default::default()
            },
        });
        LiveSession { session, other, token }
    }
}

impl LiveSession {
    /// One summary of other traffic (a static file), through analysis, console and journal.
    pub fn other_traffic(&mut self) {
        self.other.id += 1;
        self.session.exchange(self.other.clone());
    }

    /// One token call (a login step, recorded whole) through analysis, console and journal.
    pub fn token_call(&mut self) {
        self.token.id += 1;
        self.token.started_ms += 1;
        self.session.exchange(self.token.clone());
    }
}

/// Analyses a journal file through the core, as `analyze` does; the number of events.
pub fn analyse(path: &str) -> usize {
    let mut analyzer = crate::analysis::Analyzer::new(Default::default());
    let mut n = 0;
    let mut last = 0;
    let read = crate::trace::import::read(path, |ex| {
        last = last.max(ex.started_ms + ex.total_ms);
        n += analyzer.ingest(&ex).len();
    });
    if read.is_err() {
        return 0;
    }
    n + analyzer.finish(last + 1).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_benchmarked_token_verifies() {
        for alg in ["RS256", "ES256", "EdDSA", "HS256"] {
            assert!(SignedToken::new(alg).unwrap().verify(), "{alg}");
        }
        let journal = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/traces/issuer-trailing-slash.jsonl");
        assert!(analyse(journal) > 5);
    }
}
