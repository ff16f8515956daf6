//! Mastodon (`config/initializers/omniauth.rb`, the omniauth_openid_connect strategy): the
//! default profile. Its words are the ones the rules were written in; see
//! `../shared/reference/mastodon-authentik.md` for every source line.

use super::{Account, Client, Profile, Setting::*};

pub const PROFILE: Profile = Profile {
    name: "mastodon",
    app: "Mastodon",
    config: ".env.production",
    apply: "restart Mastodon",
    callback: &["/auth/auth/openid_connect/callback"],
    callback_at_root: true,
    owns_path: |p| p.starts_with("/auth/") && p.contains("openid_connect"),
    callback_example: "https://<WEB_DOMAIN>/auth/auth/openid_connect/callback",
    settings: &[
        (Issuer, "OIDC_ISSUER"),
        (ClientId, "OIDC_CLIENT_ID"),
        (ClientSecret, "OIDC_CLIENT_SECRET"),
        (RedirectUri, "OIDC_REDIRECT_URI"),
        (Scope, "OIDC_SCOPE"),
        (UidField, "OIDC_UID_FIELD"),
        (UsePkce, "OIDC_USE_PKCE"),
        (Discovery, "OIDC_DISCOVERY"),
        (JwksUri, "OIDC_JWKS_URI"),
        (TokenEndpoint, "OIDC_TOKEN_ENDPOINT"),
        (UserinfoEndpoint, "OIDC_USER_INFO_ENDPOINT"),
        (ResponseType, "OIDC_RESPONSE_TYPE"),
        (Prompt, "OIDC_PROMPT"),
        (AssumeEmailVerified, "OIDC_SECURITY_ASSUME_EMAIL_IS_VERIFIED"),
        (ClientAuthMethod, "OIDC_CLIENT_AUTH_METHOD"),
        (Enabled, "OIDC_ENABLED"),
        (SendNonce, "OIDC_SEND_NONCE"),
        (AuthEndpoint, "OIDC_AUTH_ENDPOINT"),
        (WebDomain, "WEB_DOMAIN"),
    ],
    // The rules quote the strategy Mastodon runs: nothing to reword.
    says: &[],
    tolerates: &[],
    checks: "signature (JWKS), iss = OIDC_ISSUER, aud, nonce, exp (no leeway); userinfo merged, its sub not compared",
    checker: "Mastodon's openid_connect gem",
    omniauth: true,
    // config/initializers/omniauth.rb: OIDC_SCOPE, Basic unless OIDC_CLIENT_AUTH_METHOD, PKCE off by default.
    client: Client {
        scopes: &["openid", "profile", "email"],
        pkce: false,
        nonce: true,
        secret_post: false,
        userinfo: true,
    },
    account: Account {
        key_claim: "preferred_username",
        without_key: "⟨app⟩ silently falls back to sub ({sub}) as the account key and username",
        needs_email: true,
        without_email: "⟨app⟩ creates the account with a temporary change@me-… address and sends the user to /auth/setup",
        reads_email_verified: true,
        mastodon_usernames: true,
    },
    source: "mastodon config/initializers/omniauth.rb; omniauth_openid_connect lib/omniauth/strategies/openid_connect.rb",
    read_config: None,
};
