//! Grafana generic OAuth (grafana/grafana `pkg/login/social/connectors/generic_oauth.go` at
//! 00100d52, `social_base.go`; docs/rp-profiles.md): `grafana.ini` `[auth.generic_oauth]`,
//! callback `<root_url>login/generic_oauth`. It never verifies the ID token
//! (`retrieveRawIDToken` only base64-decodes the payload): the gateway's IDT-* findings are
//! real, but Grafana signs the user in regardless.

use super::{Account, Client, Profile, Setting::*};

const ACCEPTS: &str = "signs the user in anyway: Grafana does not verify the ID token (generic_oauth.go extractFromToken only decodes its payload)";

pub const PROFILE: Profile = Profile {
    name: "grafana",
    app: "Grafana",
    config: "grafana.ini ([auth.generic_oauth])",
    apply: "restart grafana-server",
    callback: &["/login/generic_oauth"],
    callback_at_root: false,
    owns_path: |p| p.contains("/login/"),
    callback_example: "<root_url>login/generic_oauth",
    settings: &[
        (Issuer, "auth_url, token_url and api_url (Grafana has no issuer setting)"),
        (ClientId, "client_id"),
        (ClientSecret, "client_secret"),
        (RedirectUri, "root_url ([server])"),
        (Scope, "scopes"),
        (UidField, "login_attribute_path"),
        (UsePkce, "use_pkce"),
        (Discovery, "auth_url, token_url and api_url (Grafana reads no discovery)"),
        (JwksUri, "(none: Grafana does not verify ID tokens)"),
        (TokenEndpoint, "token_url"),
        (UserinfoEndpoint, "api_url"),
        (ResponseType, "(fixed: code)"),
        (Prompt, "(none)"),
        (AssumeEmailVerified, "(none)"),
        (ClientAuthMethod, "auth_style"),
        (Enabled, "enabled"),
        (SendNonce, "(none: Grafana sends no nonce)"),
        (AuthEndpoint, "auth_url"),
        (WebDomain, "root_url ([server])"),
    ],
    says: &[
        ("IDT-AUD-MISMATCH", ACCEPTS),
        ("IDT-ISS-MISMATCH", ACCEPTS),
        ("IDT-EXPIRED", ACCEPTS),
        ("IDT-NONCE-MISMATCH", ACCEPTS),
        ("IDT-NONCE-MISSING", ACCEPTS),
        ("IDT-KID-UNKNOWN", ACCEPTS),
        ("IDT-SIGNATURE-INVALID", ACCEPTS),
        ("IDT-ALG-UNADVERTISED", ACCEPTS),
        ("AUTHZ-STATE-MISMATCH", "“Login failed: invalid state”"),
        ("TOKEN-ERROR", "“Login failed: failed to exchange the code” (oauth2: the provider's error)"),
        ("USERINFO-ERROR", "“Login failed: error getting user info” (api_url)"),
        (
            "MASTODON-EMAIL-MISSING",
            "calls api_url/emails (GitHub's endpoint, absent in authentik) and fails: “Error getting email address”",
        ),
    ],
    // generic_oauth.go sends no nonce: it relies on state (and PKCE when use_pkce).
    tolerates: &[("AUTHZ-NO-NONCE", "sends no nonce by design: it relies on state and PKCE")],
    checks: "nothing: it decodes the ID token's payload without checking signature, iss, aud, exp or nonce (relies on TLS)",
    checker: "Grafana (generic_oauth)",
    omniauth: false,
    // generic_oauth.go: no nonce; use_pkce; secret in the body (AuthStyleInParams once detected).
    client: Client {
        scopes: &["openid", "email", "profile"],
        pkce: true,
        nonce: false,
        secret_post: true,
        userinfo: true,
    },
    account: Account {
        key_claim: "email",
        without_key: "Grafana looks for the login in login_attribute_path, login, username, then uses the email",
        needs_email: true,
        without_email: "Grafana calls api_url/emails (GitHub's endpoint, absent in authentik) and fails: “Error getting email address”",
        reads_email_verified: false,
        mastodon_usernames: false,
    },
    source: "grafana/grafana pkg/login/social/connectors/generic_oauth.go (UserInfo, extractFromToken); social_base.go (retrieveRawIDToken)",
    read_config: Some(super::config::grafana_ini),
};
