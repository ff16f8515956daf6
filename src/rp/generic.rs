//! Any OpenID Connect client: OIDC Core's own words, for an application without a profile
//! (`--rp generic`). Predictions are what Core §3.1.3.7 requires a client to do.

use super::{Account, Client, Profile, Setting::*};

const REJECT: &str = "rejects the ID token if it follows OIDC Core §3.1.3.7";

pub const PROFILE: Profile = Profile {
    name: "generic",
    app: "the relying party",
    config: "the relying party's OIDC settings",
    apply: "restart it",
    callback: &[],
    callback_at_root: false,
    owns_path: |_| false,
    callback_example: "the redirect URI registered in authentik",
    settings: &[
        (Issuer, "issuer"),
        (ClientId, "client id"),
        (ClientSecret, "client secret"),
        (RedirectUri, "redirect URI"),
        (Scope, "scopes"),
        (UidField, "user id claim"),
        (UsePkce, "PKCE"),
        (Discovery, "discovery"),
        (JwksUri, "JWKS URI"),
        (TokenEndpoint, "token endpoint"),
        (UserinfoEndpoint, "userinfo endpoint"),
        (ResponseType, "response type"),
        (Prompt, "prompt"),
        (AssumeEmailVerified, "its email-verified setting"),
        (ClientAuthMethod, "client authentication method"),
        (Enabled, "its OIDC switch"),
        (SendNonce, "sending a nonce"),
        (AuthEndpoint, "authorization endpoint"),
        (WebDomain, "its public URL"),
    ],
    says: &[
        ("IDT-AUD-MISMATCH", REJECT),
        ("IDT-ISS-MISMATCH", REJECT),
        ("IDT-EXPIRED", REJECT),
        ("IDT-NONCE-MISMATCH", REJECT),
        ("IDT-NONCE-MISSING", REJECT),
        ("IDT-KID-UNKNOWN", REJECT),
        (
            "IDT-SIGNATURE-INVALID",
            "a client that verifies signatures rejects it (Core §3.1.3.7 (6) lets a code-flow client rely on TLS instead)",
        ),
        ("CONFIG-ISSUER-MISMATCH", "a conforming client refuses the discovery document (Discovery §4.3)"),
        ("AUTHZ-STATE-MISMATCH", "a client rejects the response (RFC 6749 §10.12)"),
    ],
    tolerates: &[],
    checks: "as OIDC Core §3.1.3.7 requires: signature, iss, aud, exp, nonce",
    checker: "the relying party",
    omniauth: false,
    // OIDC Core's code flow with Basic authentication.
    client: Client {
        scopes: &["openid", "profile", "email"],
        pkce: false,
        nonce: true,
        secret_post: false,
        userinfo: true,
    },
    account: Account {
        key_claim: "sub",
        without_key: "the relying party has no user id for the login",
        needs_email: false,
        without_email: "the relying party gets no email address",
        reads_email_verified: false,
        mastodon_usernames: false,
    },
    source: "OpenID Connect Core 1.0 §3.1.3.7, §5.3; OpenID Connect Discovery 1.0 §4.3",
    read_config: None,
};
