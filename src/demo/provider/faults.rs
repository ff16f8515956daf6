//! The demo provider's failure switches: one field per way a real authentik (or something in
//! front of it) breaks a login. The default is a correctly configured authentik.

use serde_json::{Map, Value};

use super::signing::Signing;

/// How something on the way (a WAF, a rewriting proxy) alters the state in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateTamper {
    /// Characters appended.
    Suffix,
    /// Cut in half.
    Truncate,
    /// Written into the URL without percent-encoding (a `+` then reads as a space).
    PercentDecoded,
}

impl StateTamper {
    /// The state parameter as it appears in the response URL.
    pub fn apply(self, state: &str) -> String {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        match self {
            StateTamper::Suffix => enc(&format!("{state}-waf")),
            StateTamper::Truncate => enc(&state.chars().take(state.chars().count() / 2).collect::<String>()),
            StateTamper::PercentDecoded => state.to_owned(),
        }
    }
}

/// Which JSON document a duplicated member is written into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DupPlace {
    Discovery,
    TokenResponse,
    IdToken,
    Userinfo,
}

/// A member name given twice: `first` is written before the real member (a parser that keeps
/// the last reads the real one, as serde_json and Ruby's JSON do).
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicate {
    pub place: DupPlace,
    pub name: String,
    pub first: Value,
}

/// `text` (a JSON object) with every duplicate for `place` written first.
pub fn with_duplicates(text: String, place: DupPlace, dups: &[Duplicate]) -> String {
    let mut lead = String::new();
    for d in dups.iter().filter(|d| d.place == place) {
        lead.push_str(&format!("{}:{},", Value::from(d.name.as_str()), d.first));
    }
    match text.strip_prefix('{') {
        Some(rest) if !lead.is_empty() && rest.trim_start() != "}" => format!("{{{lead}{rest}"),
        _ => text,
    }
}

/// How the ID token's nonce is set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NonceMode {
    #[default]
    Echo,
    Omit,
    Wrong,
}

/// Failure switches. The default is a correctly configured authentik.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub signing: Signing,
    /// Discovery's `issuer` is this instead of the real one.
    pub discovery_issuer: Option<String>,
    /// Build every URL with `http://` (authentik behind a proxy without X-Forwarded-Proto).
    pub http_urls: bool,
    /// Discovery answers this status (e.g. 404) with an HTML page.
    pub discovery_status: Option<u16>,
    /// Fields removed from the discovery document.
    pub discovery_drop: Vec<String>,
    /// Fields set (replaced) in the discovery document.
    pub discovery_set: Map<String, Value>,
    /// Host used in endpoint URLs instead of the request's Host.
    pub endpoint_host: Option<String>,
    /// Token endpoint advertised without its trailing slash (Django answers 301).
    pub token_endpoint_no_slash: bool,
    /// Algorithms advertised in discovery instead of the signing key's.
    pub advertised_algs: Option<Vec<String>>,
    /// Deliver the code through the flow executor JSON instead of a 302.
    pub executor: bool,
    /// Answer the authorize request with `error=…` on the redirect.
    pub authorize_error: Option<String>,
    /// Return this state instead of the one sent.
    pub state_override: Option<String>,
    /// Alter the state on the way back (in the Location or the executor's `to`).
    pub state_tamper: Option<StateTamper>,
    /// The executor walks identification → password (→ consent) before the redirect.
    pub flow_stages: bool,
    /// RFC 9207 `iss` parameter on the authorization response.
    pub iss_param: Option<String>,
    /// Token endpoint answers 400 with this error code.
    pub token_error: Option<String>,
    /// The `error_description` sent with `token_error`.
    pub token_error_description: Option<String>,
    pub token_type: Option<String>,
    pub omit_id_token: bool,
    /// Scopes removed from the granted scope (authentik drops scopes without a mapping).
    pub scope_drop: Vec<String>,
    /// Seconds a code stays valid; `None`: authentik's default, 60.
    pub code_lifetime_s: Option<u64>,
    pub id_token_iss: Option<String>,
    pub id_token_aud: Option<Value>,
    pub id_token_azp: Option<String>,
    pub id_token_kid: Option<String>,
    pub no_kid: bool,
    /// The JWKS lists the signing key twice under the same kid.
    pub duplicate_kid: bool,
    /// The keys the JWKS publishes instead of the signing key (a token signed with a key the
    /// JWKS does not have, or several keys for a token without kid).
    pub jwks_publish: Option<Vec<Signing>>,
    /// The ID token's exp − now; `None`: an hour, as authentik's default validity.
    pub exp_offset_s: Option<i64>,
    pub iat_offset_s: i64,
    pub nbf_offset_s: Option<i64>,
    pub nonce: NonceMode,
    /// Add an `at_hash` that does not match the access token.
    pub bad_at_hash: bool,
    pub tamper_signature: bool,
    /// Claims removed from the ID token and userinfo.
    pub drop_claims: Vec<String>,
    /// Claims set in both the ID token and userinfo.
    pub claims: Map<String, Value>,
    /// Claims set only in userinfo.
    pub userinfo_claims: Map<String, Value>,
    pub userinfo_status: Option<u16>,
    /// The JWKS endpoint answers this status (an error page) instead of the keys.
    pub jwks_status: Option<u16>,
    /// The JWKS endpoint answers this many milliseconds late.
    pub jwks_delay_ms: u64,
    /// Seconds added to the `Date` header (clock skew).
    pub date_skew_s: i64,
    /// Member names given twice: a first value written before the real one.
    pub duplicates: Vec<Duplicate>,
    /// The discovery document served instead of the built one (a trace's, rebased onto the
    /// demo's host); `discovery_drop` and `discovery_set` still apply.
    pub discovery_doc: Option<Map<String, Value>>,
    /// Request paths answered as another of the demo's paths (a trace's endpoint → the demo's).
    pub path_alias: Vec<(String, String)>,
    /// The ID token's claims instead of the built ones; `exp`, `iat`, `nbf` and `auth_time`
    /// hold seconds from now (as the trace had them relative to its token response), the nonce
    /// follows `nonce`, `at_hash` is computed (or wrong with `bad_at_hash`).
    pub id_token_claims: Option<Map<String, Value>>,
    /// The userinfo claims instead of the built ones.
    pub userinfo_body: Option<Map<String, Value>>,
    /// With `userinfo_status`: the challenge's error and description.
    pub userinfo_challenge: Option<(String, String)>,
    /// The id_token string sent instead of a real token.
    pub id_token_raw: Option<String>,
    /// The authorization flow denies the user (no code is ever issued).
    pub deny_in_flow: bool,
}

impl Faults {
    /// Seconds a code stays valid.
    pub fn code_lifetime(&self) -> u64 {
        self.code_lifetime_s.unwrap_or(60)
    }

    /// The ID token's exp − now, in seconds.
    pub fn exp_offset(&self) -> i64 {
        self.exp_offset_s.unwrap_or(3600)
    }
}
