//! Nextcloud user_oidc (nextcloud/user_oidc `lib/Controller/LoginController.php` at 46ae8fda,
//! `lib/Command/UpsertProvider.php`): a provider set with `occ user_oidc:provider <name>
//! --clientid --clientsecret --discoveryuri --scope --mapping-uid …`, callback
//! `/apps/user_oidc/code`; php-jwt with a 60 s leeway (line 531), then exp (566), iss against
//! discovery (571), aud (582), azp (600) and the nonce only when the token has one (608).

use super::{Account, Client, Profile, Setting::*};

pub const PROFILE: Profile = Profile {
    name: "nextcloud",
    app: "Nextcloud",
    config: "occ user_oidc:provider",
    apply: "rerun occ user_oidc:provider with the new value",
    callback: &["/apps/user_oidc/code"],
    callback_at_root: false,
    owns_path: |p| p.contains("/apps/user_oidc/"),
    callback_example: "https://<overwrite.cli.url>/apps/user_oidc/code",
    settings: &[
        (Issuer, "--discoveryuri (its issuer)"),
        (ClientId, "--clientid"),
        (ClientSecret, "--clientsecret"),
        (RedirectUri, "overwrite.cli.url (config.php)"),
        (Scope, "--scope"),
        (UidField, "--mapping-uid"),
        (UsePkce, "user_oidc use_pkce (config.php)"),
        (Discovery, "--discoveryuri"),
        (JwksUri, "--discoveryuri (its jwks_uri)"),
        (TokenEndpoint, "--discoveryuri (its token_endpoint)"),
        (UserinfoEndpoint, "--discoveryuri (its userinfo_endpoint)"),
        (ResponseType, "(fixed: code)"),
        (Prompt, "(none)"),
        (AssumeEmailVerified, "(none)"),
        (ClientAuthMethod, "user_oidc default_token_endpoint_auth_method (config.php)"),
        (Enabled, "--discoveryuri"),
        (SendNonce, "(always sent by user_oidc)"),
        (AuthEndpoint, "--discoveryuri (its authorization_endpoint)"),
        (WebDomain, "overwrite.cli.url (config.php)"),
    ],
    says: &[
        (
            "IDT-EXPIRED",
            "403 “The received token is expired.” unless it expired less than 60 s ago (php-jwt leeway)",
        ),
        ("IDT-ISS-MISMATCH", "403 “The issuer does not match the one from the discovery endpoint”"),
        ("IDT-AUD-MISMATCH", "403 “The audience does not match ours”"),
        ("IDT-AZP-MISMATCH", "403 “The authorized party does not match ours”"),
        ("IDT-NONCE-MISMATCH", "403 “The nonce does not match”"),
        ("IDT-NONCE-MISSING", "signs the user in: user_oidc checks the nonce only when the token has one"),
        ("IDT-SIGNATURE-INVALID", "fetches the JWKS again, then fails (php-jwt SignatureInvalidException)"),
        (
            "IDT-KID-UNKNOWN",
            "fetches the JWKS again, then fails (php-jwt: “\"kid\" invalid, unable to lookup correct key”)",
        ),
        ("AUTHZ-STATE-MISMATCH", "403 “The received state does not match the expected value.”"),
        ("AUTHZ-ERROR", "“The identity provider failed to authenticate the user.”"),
        ("TOKEN-ERROR", "“Failed to contact the OIDC provider token endpoint: <error_description>”"),
        ("MASTODON-UID-CLAIM-MISSING", "“Failed to provision the user” (the --mapping-uid claim is missing)"),
    ],
    tolerates: &[],
    checks: "signature (JWKS, 60 s leeway), exp, iss = discovery's, aud, azp; nonce only when present",
    checker: "Nextcloud's user_oidc",
    omniauth: false,
    // LoginController.php: PKCE when supported, client_secret_post when discovery lists it.
    client: Client {
        scopes: &["openid", "email", "profile"],
        pkce: true,
        nonce: true,
        secret_post: true,
        userinfo: false,
    },
    account: Account {
        key_claim: "sub",
        without_key: "user_oidc refuses the login: “Failed to provision the user” (the --mapping-uid claim is missing)",
        needs_email: false,
        without_email: "Nextcloud creates the user without an email address",
        reads_email_verified: false,
        mastodon_usernames: false,
    },
    source: "nextcloud/user_oidc lib/Controller/LoginController.php (code); lib/Command/UpsertProvider.php",
    read_config: Some(super::config::nextcloud_occ_json),
};
