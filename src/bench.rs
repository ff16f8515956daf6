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
        LiveSession { session, other }
    }
}

impl LiveSession {
    /// One summary of other traffic (a static file), through analysis, console and journal.
    pub fn other_traffic(&mut self) {
        self.other.id += 1;
        self.session.exchange(self.other.clone());
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
