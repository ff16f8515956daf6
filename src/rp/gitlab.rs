//! GitLab: the same omniauth_openid_connect strategy as Mastodon, configured in `gitlab.rb`
//! (`gitlab_rails['omniauth_providers']`, one hash with `name: "openid_connect"` and `args`),
//! applied with `gitlab-ctl reconfigure`. authentik's guide:
//! goauthentik website/integrations/services/gitlab (args: issuer, discovery, scope,
//! client_auth_method, uid_field, pkce, client_options identifier/secret/redirect_uri).
//! A failure is shown as Devise's flash, `Could not authenticate you from OpenIDConnect
//! because "<reason>".` (gitlabhq app/controllers/omniauth_callbacks_controller.rb
//! `failure_message`: the strategy's error, humanized).

use super::{Account, Client, Profile, Setting::*};

pub const PROFILE: Profile = Profile {
    name: "gitlab",
    app: "GitLab",
    config: "gitlab.rb (gitlab_rails['omniauth_providers'] → args)",
    apply: "run gitlab-ctl reconfigure",
    callback: &["/users/auth/openid_connect/callback"],
    callback_at_root: false,
    owns_path: |p| p.contains("/users/auth/"),
    callback_example: "https://<external_url>/users/auth/openid_connect/callback",
    settings: &[
        (Issuer, "issuer"),
        (ClientId, "client_options.identifier"),
        (ClientSecret, "client_options.secret"),
        (RedirectUri, "client_options.redirect_uri"),
        (Scope, "scope"),
        (UidField, "uid_field"),
        (UsePkce, "pkce"),
        (Discovery, "discovery"),
        (JwksUri, "client_options.jwks_uri"),
        (TokenEndpoint, "client_options.token_endpoint"),
        (UserinfoEndpoint, "client_options.userinfo_endpoint"),
        (ResponseType, "response_type"),
        (Prompt, "prompt"),
        (AssumeEmailVerified, "gitlab_rails['omniauth_trusted_providers']"),
        (ClientAuthMethod, "client_auth_method"),
        (Enabled, "gitlab_rails['omniauth_enabled']"),
        (SendNonce, "send_nonce"),
        (AuthEndpoint, "client_options.authorization_endpoint"),
        (WebDomain, "external_url"),
    ],
    says: &[
        (
            "IDT-AUD-MISMATCH",
            "“Could not authenticate you from OpenIDConnect because \"Invalid id token: audience does not match\".”",
        ),
        (
            "IDT-ISS-MISMATCH",
            "“Could not authenticate you from OpenIDConnect because \"Invalid id token: issuer does not match\".”",
        ),
        (
            "IDT-EXPIRED",
            "“Could not authenticate you from OpenIDConnect because \"Invalid id token: expired token\".”",
        ),
        (
            "IDT-NONCE-MISMATCH",
            "“Could not authenticate you from OpenIDConnect because \"Invalid id token: nonce does not match\".”",
        ),
        (
            "IDT-NONCE-MISSING",
            "“Could not authenticate you from OpenIDConnect because \"Invalid id token: nonce does not match\".”",
        ),
        (
            "CONFIG-ISSUER-MISMATCH",
            "“Could not authenticate you from OpenIDConnect because \"Issuer mismatch\".”: the login stops before reaching authentik",
        ),
        (
            "AUTHZ-STATE-MISMATCH",
            "“Could not authenticate you from OpenIDConnect because \"Invalid 'state' parameter\".”",
        ),
        (
            "IDT-KID-UNKNOWN",
            "“Could not authenticate you from OpenIDConnect because \"Json::jwk::set::kidnotfound\".”",
        ),
        (
            "IDT-SIGNATURE-INVALID",
            "“Could not authenticate you from OpenIDConnect because \"Json::jws::verificationfailed\".”",
        ),
    ],
    tolerates: &[],
    checks: "as Mastodon (the same strategy): signature (JWKS), iss = issuer, aud, nonce, exp (no leeway)",
    checker: "GitLab's omniauth openid_connect strategy",
    omniauth: true,
    // authentik's GitLab guide: scope openid profile email, pkce: true.
    client: Client {
        scopes: &["openid", "profile", "email"],
        pkce: true,
        nonce: true,
        secret_post: false,
        userinfo: true,
    },
    account: Account {
        key_claim: "sub",
        without_key: "the strategy falls back to sub ({sub}) as the identity GitLab links",
        needs_email: true,
        without_email: "GitLab cannot create the user (“Email can't be blank”) unless omniauth_auto_link_user matches an existing one",
        reads_email_verified: false,
        mastodon_usernames: false,
    },
    source: "gitlabhq doc/administration/auth/oidc.md; app/controllers/omniauth_callbacks_controller.rb (failure_message)",
    read_config: Some(super::config::gitlab_rb),
};
