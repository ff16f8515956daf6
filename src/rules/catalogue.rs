//! The rule catalogue: the one source of every rule's id, default severity, title, generic fix
//! and reference. Findings take severity, title and fix from here (a rule adds only what is
//! specific to the case), and the README's rule table is generated from it and compared byte
//! for byte by a test (`cargo test readme_rule_table`; `UPDATE_README=1` rewrites it).
//!
//! Rule ids are a closed set: a rule names a [`RuleId`] variant, so an id that is not in the
//! catalogue cannot compile, and every match over them is exhaustive.

use std::fmt;

use serde::{Serialize, Serializer};

use super::finding::Severity::{self, Error, Info, Warning};

/// What the catalogue says about one rule.
#[derive(Debug)]
pub struct Entry {
    pub id: RuleId,
    pub severity: Severity,
    /// What the rule means, in one line (the README's "what it means").
    pub title: &'static str,
    /// The generic fix; a finding may replace it with one naming the exact value to set.
    pub fix: &'static str,
    /// Spec section or source the rule rests on.
    pub reference: &'static str,
}

macro_rules! catalogue {
    ($($variant:ident = $id:literal, $sev:ident, title: $title:literal, fix: $fix:literal, reference: $reference:literal;)*) => {
        /// A stable rule id (`IDT-ISS-MISMATCH`): the contract scripts and users depend on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RuleId {
            $($variant,)*
        }

        /// Every rule, in catalogue order.
        pub const CATALOGUE: &[Entry] = &[
            $(Entry { id: RuleId::$variant, severity: $sev, title: $title, fix: $fix, reference: $reference },)*
        ];

        impl RuleId {
            /// The id as written in findings, the journal and the README.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$variant => $id,)*
                }
            }

            /// Parses an id as written (`IDT-ISS-MISMATCH`).
            pub fn parse(s: &str) -> Option<RuleId> {
                match s {
                    $($id => Some(RuleId::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

impl RuleId {
    /// This rule's catalogue entry.
    pub fn entry(self) -> &'static Entry {
        // CATALOGUE lists the variants in declaration order.
        &CATALOGUE[self as usize]
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RuleId, D::Error> {
        let s = String::deserialize(d)?;
        RuleId::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown rule id {s:?}")))
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for RuleId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// The README's rule table, rendered from the catalogue.
pub fn markdown_table() -> String {
    let mut s =
        String::from("| rule | severity | what it means | fix | reference |\n|---|---|---|---|---|\n");
    for e in CATALOGUE {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            e.id,
            e.severity.as_str(),
            e.title.replace('|', "\\|"),
            crate::rp::default().render(e.fix).replace('|', "\\|"),
            e.reference.replace('|', "\\|")
        ));
    }
    s
}

catalogue! {
    DiscFetchFailed = "DISC-FETCH-FAILED", Error,
        title: "discovery answered non-2xx or not JSON (often OIDC_ISSUER set to the discovery URL or an endpoint)",
        fix: "set ⟨issuer⟩ to the provider's issuer, e.g. https://authentik.company/application/o/<application-slug>/ (authentik shows it as 'OpenID Configuration Issuer' on the provider page); the slug is the application's, not the provider's",
        reference: "OIDC Discovery §4; openid_connect discovery/provider/config/resource.rb";
    DiscIssuerMismatch = "DISC-ISSUER-MISMATCH", Error,
        title: "discovered issuer ≠ the URL discovery was fetched from",
        fix: "authentik: provider Issuer mode 'Each provider has a different issuer'; ⟨issuer⟩ = discovered issuer",
        reference: "OIDC Discovery §4.3; openid_connect response.rb#validate_issuer_matching";
    DiscFieldType = "DISC-FIELD-TYPE", Error,
        title: "a discovery field has the wrong JSON type (issuer and endpoints strings, *_supported arrays of strings)",
        fix: "authentik serves every field with its type: look for a proxy or cache rewriting /.well-known/openid-configuration",
        reference: "OIDC Discovery §3";
    DiscInsecureEndpoint = "DISC-INSECURE-ENDPOINT", Error,
        title: "http:// issuer or endpoint although discovery came over TLS",
        fix: "make the proxy in front of authentik send X-Forwarded-Proto: https, and add its address to AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS",
        reference: "OIDC Discovery §3; authentik models.py#get_issuer (build_absolute_uri)";
    DiscMissingField = "DISC-MISSING-FIELD", Error,
        title: "a discovery field Mastodon requires is missing",
        fix: "authentik always serves this field: look for a proxy or cache rewriting /.well-known/openid-configuration",
        reference: "OIDC Discovery §3; openid_connect config/response.rb";
    DiscEndpointAuthority = "DISC-ENDPOINT-AUTHORITY", Warning,
        title: "an endpoint is on another host or port than the issuer",
        fix: "forward the original Host on every proxy in front of authentik (and set AUTHENTIK_HOST only to the public name)",
        reference: "OIDC Discovery §3";
    RpAcceptsBadSig = "RP-ACCEPTS-BAD-SIG", Error,
        title: "the relying party accepted an ID token whose signature does not verify with the provider's keys: whoever can answer its token request (a proxy on the back channel, a spoofed provider name) logs in as any user; OIDC Core §3.1.3.7 (6) lets a code-flow client rely on TLS instead, so some certified libraries skip it",
        fix: "⟨app⟩: keep ⟨discovery⟩=true (keys from the JWKS) and update the omniauth_openid_connect/openid_connect gems; another relying party: verify the ID token's signature with the JWKS",
        reference: "OIDC Core §3.1.3.7 (6); conformance rp-id_token-bad-sig-rs256";
    RpAcceptsAlgNone = "RP-ACCEPTS-ALG-NONE", Error,
        title: "the relying party accepted an unsigned ID token (alg none): anyone can log in as any user",
        fix: "refuse alg none: update the relying party's OIDC library; ⟨app⟩: update the openid_connect gem",
        reference: "OIDC Core §3.1.3.7 (7); conformance rp-id_token-sig-none";
    RpAcceptsHs256ClientSecret = "RP-ACCEPTS-HS256-CLIENT-SECRET", Error,
        title: "the relying party accepted an HS256 token MACed with the client secret while discovery announces RS256: whoever learns the client secret (a leaked .env.production) and can answer its token request mints tokens for any user",
        fix: "pin the signing algorithm the provider announces (id_token_signed_response_alg RS256); update the relying party's OIDC library",
        reference: "OIDC Core §10.1; RFC 8725 §3.1";
    RpAcceptsIssuerMismatch = "RP-ACCEPTS-ISSUER-MISMATCH", Error,
        title: "the relying party accepted an ID token from another issuer: a token minted by any provider it can reach logs users in",
        fix: "the relying party must compare iss with its issuer (⟨app⟩: ⟨issuer⟩); update its OIDC library",
        reference: "OIDC Core §3.1.3.7 (2); conformance rp-id_token-issuer-mismatch";
    RpAcceptsAud = "RP-ACCEPTS-AUD", Error,
        title: "the relying party accepted an ID token issued to another client: anyone with a token for another application of this provider can log in",
        fix: "the relying party must check that aud contains its client_id (⟨app⟩: ⟨client_id⟩); update its OIDC library",
        reference: "OIDC Core §3.1.3.7 (3); conformance rp-id_token-aud";
    RpAcceptsSubMissing = "RP-ACCEPTS-SUB-MISSING", Error,
        title: "the relying party accepted an ID token without sub: it cannot know which user logged in",
        fix: "refuse ID tokens without sub; update the relying party's OIDC library",
        reference: "OIDC Core §2; conformance rp-id_token-sub";
    RpAcceptsIatMissing = "RP-ACCEPTS-IAT-MISSING", Error,
        title: "the relying party accepted an ID token without iat",
        fix: "refuse ID tokens without iat; update the relying party's OIDC library",
        reference: "OIDC Core §2, §3.1.3.7 (10); conformance rp-id_token-iat";
    RpAcceptsExpired = "RP-ACCEPTS-EXPIRED", Error,
        title: "the relying party accepted an expired ID token: a token captured once logs in again later",
        fix: "refuse ID tokens past exp (a minute's leeway at most); update the relying party's OIDC library",
        reference: "OIDC Core §3.1.3.7 (9)";
    RpAcceptsNonceInvalid = "RP-ACCEPTS-NONCE-INVALID", Error,
        title: "the relying party accepted an ID token with another login's nonce: a token from one login can be replayed into another",
        fix: "compare the ID token's nonce with the one the login sent (⟨app⟩: keep ⟨send_nonce⟩=true)",
        reference: "OIDC Core §3.1.3.7 (11); conformance rp-nonce-invalid";
    RpAcceptsNonceMissing = "RP-ACCEPTS-NONCE-MISSING", Error,
        title: "the relying party accepted an ID token without the nonce its login sent: tokens can be replayed",
        fix: "refuse an ID token without the nonce that was sent (⟨app⟩: keep ⟨send_nonce⟩=true)",
        reference: "OIDC Core §3.1.3.7 (11)";
    RpAcceptsUserinfoBadSub = "RP-ACCEPTS-USERINFO-BAD-SUB", Error,
        title: "the relying party used a userinfo answer about another user (sub differs from the ID token's): the account opened can be someone else's",
        fix: "the relying party must compare userinfo's sub with the ID token's before using it (⟨uid_field⟩=sub keys accounts on the ID token); update its OIDC library",
        reference: "OIDC Core §5.3.2; conformance rp-userinfo-bad-sub-claim";
    RpAcceptsStateAltered = "RP-ACCEPTS-STATE-ALTERED", Error,
        title: "the relying party accepted a callback whose state is not its session's: login CSRF (an attacker's login lands in the victim's browser)",
        fix: "compare the callback's state with the one stored in the session; update the relying party's OAuth library",
        reference: "RFC 6749 §10.12";
    RpAcceptsIssParam = "RP-ACCEPTS-ISS-PARAM", Warning,
        title: "the relying party accepted an authorization response whose iss names another issuer (RFC 9207): a mix-up between providers goes unnoticed; harmless while it talks to one provider only",
        fix: "check the iss parameter when the provider announces authorization_response_iss_parameter_supported; with one provider configured there is no mix-up to detect",
        reference: "RFC 9207 §2.4";
    ConfigIssuerMismatch = "CONFIG-ISSUER-MISMATCH", Error,
        title: "OIDC_ISSUER ≠ the discovered issuer (byte for byte)",
        fix: "⟨issuer⟩ = the discovered issuer, trailing slash included",
        reference: "openid_connect response.rb#validate_issuer_matching";
    ConfigRedirectUriMismatch = "CONFIG-REDIRECT-URI-MISMATCH", Error,
        title: "the redirect_uri Mastodon sends ≠ OIDC_REDIRECT_URI / https://WEB_DOMAIN/auth/auth/openid_connect/callback",
        fix: "⟨redirect_uri⟩=https://<WEB_DOMAIN>/auth/auth/openid_connect/callback",
        reference: "RFC 6749 §3.1.2; Mastodon config/omniauth.yml";
    ConfigClientIdMismatch = "CONFIG-CLIENT-ID-MISMATCH", Error,
        title: "the client_id sent ≠ OIDC_CLIENT_ID",
        fix: "⟨apply⟩ after editing ⟨config⟩, or fix ⟨client_id⟩",
        reference: "RFC 6749 §2.2";
    ConfigScope = "CONFIG-SCOPE", Warning,
        title: "requested scopes lack what Mastodon needs (email, profile for preferred_username)",
        fix: "⟨scope⟩=openid,profile,email",
        reference: "OIDC Core §5.4; Mastodon omniauthable.rb";
    ConfigEnvSyntax = "CONFIG-ENV-SYNTAX", Warning,
        title: "a line of .env.production reads differently from how it looks (quotes, `#`, `$`, duplicates, line endings)",
        fix: "write the variable once, as KEY=value, quoting values that contain #, $ or \\ in single quotes",
        reference: "bkeepers/dotenv lib/dotenv/parser.rb";
    ConfigPlaceholder = "CONFIG-PLACEHOLDER", Error,
        title: "a value in .env.production is still a guide's placeholder (`<Client ID from authentik>`, `changeme`)",
        fix: "replace it with the value from authentik's provider page (Client ID, Client Secret, OpenID Configuration Issuer)",
        reference: "Mastodon .env.production.sample; authentik docs integrations/services/mastodon";
    ConfigOidcDisabled = "CONFIG-OIDC-DISABLED", Error,
        title: "Mastodon's OpenID Connect login is off: no OIDC_ line in the file, or OIDC_ENABLED is not `true`",
        fix: "⟨enabled⟩=true with the OIDC_* block in the ⟨config⟩ ⟨app⟩ runs with (⟨apply⟩)",
        reference: "Mastodon config/initializers/omniauth.rb (ENV['OIDC_ENABLED'] == 'true')";
    ConfigIssuerShape = "CONFIG-ISSUER-SHAPE", Error,
        title: "OIDC_ISSUER is unset, or is the discovery URL or an endpoint rather than the issuer",
        fix: "set ⟨issuer⟩ to the provider's issuer, e.g. https://authentik.company/application/o/<application-slug>/ ('OpenID Configuration Issuer' on authentik's provider page)",
        reference: "OIDC Discovery §4; Mastodon omniauth.yml";
    ConfigAuthEndpoint = "CONFIG-AUTH-ENDPOINT", Warning,
        title: "OIDC_AUTH_ENDPOINT differs from the discovered authorization endpoint (Mastodon's CSP form-action uses it)",
        fix: "set ⟨auth_endpoint⟩ to the discovered authorization_endpoint, or unset it",
        reference: "Mastodon app/lib/content_security_policy.rb";
    ConfigUidField = "CONFIG-UID-FIELD", Warning,
        title: "OIDC_UID_FIELD picks the claim that keys Mastodon accounts: some choices make odd usernames or new accounts later",
        fix: "⟨uid_field⟩=preferred_username before the first login (the integration guide's choice); changing it later creates new accounts",
        reference: "Mastodon omniauthable.rb; mastodon#21296; authentik PR#11945";
    ConfigSigningKey = "CONFIG-SIGNING-KEY", Error,
        title: "the provider has no signing key: an empty JWKS, or only HS256 advertised",
        fix: "authentik → Applications → Providers → <provider> → Signing Key: select a certificate (e.g. 'authentik Self-signed Certificate')",
        reference: "OIDC Core §10.1; RFC 7517";
    AuthzMissingParam = "AUTHZ-MISSING-PARAM", Error,
        title: "authorize request without client_id, response_type or redirect_uri",
        fix: "set ⟨client_id⟩ / ⟨redirect_uri⟩ / ⟨response_type⟩",
        reference: "RFC 6749 §4.1.1; OIDC Core §3.1.2.1";
    AuthzNoOpenidScope = "AUTHZ-NO-OPENID-SCOPE", Error,
        title: "scope lacks openid: this is plain OAuth, no ID token",
        fix: "⟨scope⟩ must include openid (⟨app⟩ adds it unless something rewrites the request)",
        reference: "OIDC Core §3.1.2.1";
    AuthzNoState = "AUTHZ-NO-STATE", Warning,
        title: "authorize request without state (no CSRF protection)",
        fix: "⟨app⟩ always sends state; check what builds this request",
        reference: "RFC 6749 §10.12";
    AuthzNoNonce = "AUTHZ-NO-NONCE", Warning,
        title: "authorize request without nonce (ID token replay not detectable)",
        fix: "⟨send_nonce⟩=true (the default: delete the line that turns it off)",
        reference: "OIDC Core §3.1.2.1, §15.5.2";
    AuthzPkcePlain = "AUTHZ-PKCE-PLAIN", Warning,
        title: "PKCE with the plain method",
        fix: "use S256 (⟨app⟩'s ⟨use_pkce⟩=true sends S256)",
        reference: "RFC 7636 §4.2, §7.2";
    AuthzRedirectUriRejected = "AUTHZ-REDIRECT-URI-REJECTED", Error,
        title: "the provider refused the redirect_uri (authentik 'Redirect URI Error' page)",
        fix: "authentik provider → Redirect URIs: add the URI sent (strict), or fix ⟨redirect_uri⟩",
        reference: "RFC 6749 §4.1.2.1; authentik authorize.py#check_redirect_uri";
    AuthzClientRejected = "AUTHZ-CLIENT-REJECTED", Error,
        title: "the provider does not know the client_id (authentik 'Client ID Error' page)",
        fix: "⟨client_id⟩ = the Client ID on authentik's provider page",
        reference: "RFC 6749 §4.1.2.1; authentik errors.py#ClientIdError";
    AuthzError = "AUTHZ-ERROR", Error,
        title: "the authorization response carries error=",
        fix: "depends on the code: access_denied → authentik policy/binding; invalid_scope → scope mappings",
        reference: "RFC 6749 §4.1.2.1";
    AuthzStateMismatch = "AUTHZ-STATE-MISMATCH", Error,
        title: "state returned ≠ state sent",
        fix: "look for a proxy or WAF rewriting the Location header or the callback query; the callback must reach the host that set ⟨app⟩'s session cookie (LOCAL_DOMAIN/WEB_DOMAIN = the redirect URI's host); one login at a time per browser",
        reference: "RFC 6749 §10.12; omniauth_openid_connect #callback_phase";
    AuthzIssMismatch = "AUTHZ-ISS-MISMATCH", Warning,
        title: "the RFC 9207 iss parameter ≠ the discovered issuer",
        fix: "check which provider the browser was sent to; the code comes from another issuer",
        reference: "RFC 9207 §2.4";
    TokenError = "TOKEN-ERROR", Error,
        title: "the token endpoint answered an error (decoded, with the likely cause)",
        fix: "invalid_client → ⟨client_secret⟩ / redirect URI list; invalid_grant → code expired, reused or PKCE",
        reference: "RFC 6749 §5.2; authentik views/token.py";
    TokenRedirectUriChanged = "TOKEN-REDIRECT-URI-CHANGED", Error,
        title: "token request redirect_uri ≠ the authorize request's",
        fix: "the callback URL must not carry its own redirect_uri parameter (the strategy then appends it); keep ⟨redirect_uri⟩ unchanged between phases",
        reference: "RFC 6749 §4.1.3";
    TokenPkceMismatch = "TOKEN-PKCE-MISMATCH", Error,
        title: "code_verifier missing, unexpected, or not matching the challenge",
        fix: "keep the session (cookie) between request and callback phase; ⟨use_pkce⟩ consistent",
        reference: "RFC 7636 §4.5, §4.6";
    TokenCodeReused = "TOKEN-CODE-REUSED", Error,
        title: "the same authorization code was redeemed twice",
        fix: "look for a reload or prefetch of ⟨app⟩'s callback URL, or an intermediary replaying requests",
        reference: "RFC 6749 §4.1.2, §10.5";
    TokenCodeUnknown = "TOKEN-CODE-UNKNOWN", Error,
        title: "the token request redeems a code this login was not issued (joined by client_id + redirect_uri, not by its code)",
        fix: "look for a proxy or WAF rewriting the callback query, or a callback replayed from another login",
        reference: "RFC 6749 §4.1.3, §10.5";
    TokenCodeSlow = "TOKEN-CODE-SLOW", Error,
        title: "the code was redeemed later than its lifetime (authentik: 60 s)",
        fix: "find what delays ⟨app⟩'s callback (web/Sidekiq overload, a proxy buffering the request); or raise authentik's provider 'Access code validity'",
        reference: "authentik models.py#access_code_validity";
    TokenNoIdToken = "TOKEN-NO-ID-TOKEN", Error,
        title: "token response without id_token",
        fix: "request the openid scope (⟨scope⟩) and check the provider is an OAuth2/OpenID provider",
        reference: "OIDC Core §3.1.3.3";
    TokenType = "TOKEN-TYPE", Error,
        title: "token_type is not Bearer",
        fix: "the provider must answer token_type Bearer (authentik does; check intermediaries)",
        reference: "RFC 6750 §4; rack-oauth2 (Unexpected Token Type)";
    TokenScopeDropped = "TOKEN-SCOPE-DROPPED", Warning,
        title: "granted scope lacks a requested scope (missing openid ⇒ userinfo 403)",
        fix: "authentik provider → Scopes: select the mappings for every requested scope",
        reference: "RFC 6749 §3.3, §5.1; authentik token.py";
    BackchannelRedirect = "BACKCHANNEL-REDIRECT", Error,
        title: "3xx on a discovery/token/JWKS/userinfo call (Mastodon's client does not follow it)",
        fix: "endpoint URLs with https and the trailing slash; no login wall in front of authentik's API",
        reference: "rack-oauth2 client.rb (no follow_redirects)";
    IdtMalformed = "IDT-MALFORMED", Error,
        title: "the id_token is not a decodable JWT",
        fix: "look for something rewriting the token response between authentik and ⟨app⟩",
        reference: "RFC 7519 §7.2";
    IdtEncrypted = "IDT-ENCRYPTED", Error,
        title: "the id_token is a JWE: Mastodon cannot decrypt it",
        fix: "authentik → provider → Encryption Key: clear it (keep the Signing Key)",
        reference: "RFC 7516; omniauth_openid_connect PR#209";
    IdtAlgNone = "IDT-ALG-NONE", Error,
        title: "unsigned id_token (alg none)",
        fix: "authentik → provider → Signing Key: select a certificate",
        reference: "OIDC Core §3.1.3.7 step 7";
    IdtAlgUnadvertised = "IDT-ALG-UNADVERTISED", Warning,
        title: "id_token alg not in id_token_signing_alg_values_supported",
        fix: "reload authentik's provider configuration; clear caches in front of /.well-known/openid-configuration",
        reference: "OIDC Discovery §3; Core §3.1.3.7 step 7";
    IdtSymmetricAlg = "IDT-SYMMETRIC-ALG", Warning,
        title: "HS256: no signing key selected; the MAC key is the client secret",
        fix: "authentik → provider → Signing Key: select a certificate (the ⟨app⟩ integration guide's setup)",
        reference: "OIDC Core §10.1; authentik models.py#jwt_key";
    IdtKidUnknown = "IDT-KID-UNKNOWN", Error,
        title: "the id_token's kid is not in the provider's JWKS",
        fix: "with ⟨discovery⟩=true leave ⟨jwks_uri⟩ alone; otherwise set it to https://<authentik>/application/o/<application-slug>/jwks/",
        reference: "RFC 7515 §4.1.4; json-jwt KidNotFound";
    IdtKidAmbiguous = "IDT-KID-AMBIGUOUS", Warning,
        title: "several JWKS keys fit the token and nothing tells them apart",
        fix: "give every JWKS key a distinct kid and sign with a kid header",
        reference: "OIDC Core §10.1";
    IdtSignatureInvalid = "IDT-SIGNATURE-INVALID", Error,
        title: "the id_token signature does not verify",
        fix: "JWKS of another provider, key mismatch, or a rewriting intermediary",
        reference: "OIDC Core §3.1.3.7 step 6; RFC 7515 §5.2";
    IdtUnverifiable = "IDT-UNVERIFIABLE", Warning,
        title: "the signature could not be checked (unsupported alg, no keys, secret or signature redacted)",
        fix: "see the reason; e.g. pass --client-secret for HS256 traces",
        reference: "OIDC Core §3.1.3.7";
    IdtMissingClaim = "IDT-MISSING-CLAIM", Error,
        title: "a required ID token claim is missing (iss, sub, aud, exp, iat)",
        fix: "check authentik scope mappings that override or remove claims",
        reference: "OIDC Core §2";
    IdtClaimType = "IDT-CLAIM-TYPE", Error,
        title: "an ID token claim has the wrong JSON type (iss/sub/nonce/azp strings, aud a string or strings, exp/iat/nbf numbers)",
        fix: "check authentik scope mappings that return the claim: they must return the type OpenID Connect defines",
        reference: "OIDC Core §2; RFC 7519 §2 (NumericDate), §4.1";
    IdtIssMismatch = "IDT-ISS-MISMATCH", Error,
        title: "id_token iss ≠ OIDC_ISSUER / the discovered issuer",
        fix: "send ⟨app⟩'s back-channel requests to authentik with the public Host and X-Forwarded-Proto: https (and from an address in AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS); ⟨issuer⟩ must be the discovered issuer",
        reference: "OIDC Core §3.1.3.7 step 2; openid_connect id_token.rb#verify!";
    IdtAudMismatch = "IDT-AUD-MISMATCH", Error,
        title: "aud does not contain the client_id",
        fix: "⟨client_id⟩ = authentik's Client ID; remove mappings that set aud",
        reference: "OIDC Core §3.1.3.7 step 3";
    IdtAzpMismatch = "IDT-AZP-MISMATCH", Warning,
        title: "azp ≠ client_id (or several audiences without azp)",
        fix: "a scope mapping sets azp/aud",
        reference: "OIDC Core §3.1.3.7 steps 4–5";
    IdtExpired = "IDT-EXPIRED", Error,
        title: "exp is not after now (Mastodon allows no leeway)",
        fix: "NTP on the authentik and ⟨app⟩ hosts; authentik → provider → Access token validity (the ID token's exp) of minutes, not seconds",
        reference: "OIDC Core §3.1.3.7 step 9; openid_connect id_token.rb";
    IdtIatFuture = "IDT-IAT-FUTURE", Warning,
        title: "iat is in the future: the provider's clock runs ahead",
        fix: "NTP on the authentik host",
        reference: "OIDC Core §3.1.3.7 step 10";
    IdtNbfFuture = "IDT-NBF-FUTURE", Warning,
        title: "nbf is in the future",
        fix: "NTP on the authentik host",
        reference: "RFC 7519 §4.1.5";
    IdtNonceMissing = "IDT-NONCE-MISSING", Error,
        title: "authorize sent a nonce, the ID token has none",
        fix: "check authentik scope mappings that remove claims; a code from another request",
        reference: "OIDC Core §3.1.3.7 step 11";
    IdtNonceMismatch = "IDT-NONCE-MISMATCH", Error,
        title: "ID token nonce ≠ the nonce sent",
        fix: "one login at a time per browser; remove scope mappings that set nonce",
        reference: "OIDC Core §3.1.3.7 step 11";
    IdtAtHashMismatch = "IDT-AT-HASH-MISMATCH", Warning,
        title: "at_hash does not match the access token",
        fix: "look for something rewriting the token response",
        reference: "OIDC Core §3.2.2.9, §3.1.3.8";
    ClockSkew = "CLOCK-SKEW", Warning,
        title: "the provider's Date header differs from the gateway clock",
        fix: "run NTP (chrony/systemd-timesyncd) on the authentik and ⟨app⟩ hosts",
        reference: "RFC 9110 §6.6.1; OIDC Core §3.1.3.7";
    UserinfoError = "USERINFO-ERROR", Error,
        title: "userinfo answered 401/403/400 (WWW-Authenticate decoded)",
        fix: "insufficient_scope → authentik provider → Scopes: add the 'openid' mapping",
        reference: "RFC 6750 §3.1; authentik utils.py#protected_resource_view";
    UserinfoSubMismatch = "USERINFO-SUB-MISMATCH", Error,
        title: "userinfo sub ≠ ID token sub",
        fix: "remove scope mappings that override sub; authentik's Subject mode must be the same for both",
        reference: "OIDC Core §5.3.2";
    UserinfoClaimConflict = "USERINFO-CLAIM-CONFLICT", Warning,
        title: "a claim differs between userinfo and the ID token (Mastodon lets the ID token win)",
        fix: "make the scope mappings give the same value in both (authentik: include claims in id_token)",
        reference: "omniauth_openid_connect #user_info (merge)";
    MastodonUidClaimMissing = "MASTODON-UID-CLAIM-MISSING", Warning,
        title: "the claim named by OIDC_UID_FIELD is absent: Mastodon falls back to sub (hex username)",
        fix: "⟨uid_field⟩=preferred_username and the profile scope",
        reference: "omniauth_openid_connect #uid";
    MastodonUidChanged = "MASTODON-UID-CHANGED", Warning,
        title: "same user, different uid value than in an earlier flow: a new account or 'email taken'",
        fix: "keep ⟨uid_field⟩ and authentik's Subject mode stable; a user renamed in authentik keeps the old uid only with ⟨uid_field⟩=sub",
        reference: "Mastodon omniauthable.rb#find_for_omniauth; mastodon#21296";
    MastodonEmailUnverified = "MASTODON-EMAIL-UNVERIFIED", Warning,
        title: "email_verified missing/false without OIDC_SECURITY_ASSUME_EMAIL_IS_VERIFIED: unconfirmed account",
        fix: "⟨assume_email_verified⟩=true in ⟨config⟩, or an authentik email scope mapping returning email_verified true",
        reference: "Mastodon omniauthable.rb; authentik 2025.10 email mapping";
    MastodonEmailMissing = "MASTODON-EMAIL-MISSING", Warning,
        title: "email absent or empty",
        fix: "email scope, and an email on the authentik user",
        reference: "Mastodon omniauthable.rb#email_from_auth";
    MastodonUsername = "MASTODON-USERNAME", Info,
        title: "the username Mastodon will derive (warning when empty or reserved)",
        fix: "choose ⟨uid_field⟩ whose values are ASCII usernames (preferred_username)",
        reference: "Mastodon omniauthable.rb#ensure_valid_username";
    GatewayUpstreamFailed = "GATEWAY-UPSTREAM-FAILED", Error,
        title: "the gateway got no answer from the upstream for an OIDC call: the provider said nothing, so nothing about it is concluded",
        fix: "fix the gateway's way to the provider (the message names the flag: --upstream, --route, --connect-to, --upstream-ca, --connect-timeout)",
        reference: "oidc-tap: the gateway's own 502/504";
    GatewayClientHungUp = "GATEWAY-CLIENT-HUNG-UP", Warning,
        title: "the client hung up before its request was complete: nothing about the provider is concluded from this exchange",
        fix: "look at the client's side: ⟨app⟩'s log for a timeout or restart, or the browser leaving the page",
        reference: "oidc-tap: capture of an incomplete request";
    FlowAbandoned = "FLOW-ABANDONED", Warning,
        title: "discovery fetched, then nothing: Mastodon gave up before redirecting",
        fix: "first check ⟨issuer⟩ against the discovered issuer",
        reference: "openid_connect discovery; Mastodon content_security_policy.rb";
    JsonDuplicateMember = "JSON-DUPLICATE-MEMBER", Warning,
        title: "a member name given twice in one JSON object of a login step (an error inside the ID token): parsers keep different ones",
        fix: "find what writes the document twice over (a rewriting proxy, a custom property mapping returning a key the provider sets too) and make it write each member once",
        reference: "RFC 8259 §4; RFC 7519 §4";
    FlowIncomplete = "FLOW-INCOMPLETE", Warning,
        title: "the login stopped half-way",
        fix: "see the findings of this flow and the last exchange",
        reference: "OIDC Core §3.1";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_in_declaration_order_and_ids_round_trip() {
        for (i, e) in CATALOGUE.iter().enumerate() {
            assert_eq!(e.id as usize, i);
            assert_eq!(RuleId::parse(e.id.as_str()), Some(e.id));
            assert_eq!(e.id.entry().id, e.id);
            assert!(!e.fix.is_empty() && !e.title.is_empty(), "{}", e.id);
        }
        assert_eq!(RuleId::parse("NOPE"), None);
        assert_eq!(serde_json::to_string(&RuleId::IdtIssMismatch).unwrap(), "\"IDT-ISS-MISMATCH\"");
    }
}
