//! Synapse (element-hq/synapse `synapse/handlers/oidc.py`, read at 130d59d4; docs/rp-profiles.md):
//! `homeserver.yaml` `oidc_providers` (idp_id, issuer, client_id, client_secret, scopes,
//! user_mapping_provider.config.localpart_template / subject_claim), callback
//! `<public_baseurl>_synapse/client/oidc/callback`, authlib checks with a 120 s leeway, and
//! every failure an SSO error page with one of its error codes.

use super::{Account, Client, Profile, Setting::*};

pub const PROFILE: Profile = Profile {
    name: "synapse",
    app: "Synapse",
    config: "homeserver.yaml (oidc_providers)",
    apply: "restart Synapse",
    callback: &["/_synapse/client/oidc/callback"],
    callback_at_root: false,
    owns_path: |p| p.contains("/_synapse/"),
    callback_example: "<public_baseurl>_synapse/client/oidc/callback",
    settings: &[
        (Issuer, "issuer"),
        (ClientId, "client_id"),
        (ClientSecret, "client_secret"),
        // Synapse derives its callback from public_baseurl (oidc.py handle_redirect_request).
        (RedirectUri, "public_baseurl"),
        (Scope, "scopes"),
        (UidField, "user_mapping_provider.config.subject_claim"),
        (UsePkce, "pkce_method"),
        (Discovery, "discover"),
        (JwksUri, "jwks_uri"),
        (TokenEndpoint, "token_endpoint"),
        (UserinfoEndpoint, "userinfo_endpoint"),
        (ResponseType, "response_type (fixed: code)"),
        (Prompt, "prompt"),
        (AssumeEmailVerified, "user_mapping_provider.config.confirm_localpart"),
        (ClientAuthMethod, "client_auth_method"),
        (Enabled, "oidc_providers"),
        (SendNonce, "(always sent by Synapse)"),
        (AuthEndpoint, "authorization_endpoint"),
        (WebDomain, "public_baseurl"),
    ],
    says: &[
        // _parse_id_token: authlib's CodeIDToken.validate(leeway=120); any failure → invalid_token,
        // with authlib's error and description on the page.
        (
            "IDT-AUD-MISMATCH",
            "shows its SSO error page: invalid_token (authlib: “invalid_claim: Invalid claim: 'aud'”, or “missing_claim: Missing claim: 'azp'” when aud lists several audiences)",
        ),
        (
            "IDT-ISS-MISMATCH",
            "shows its SSO error page: invalid_token (authlib: “invalid_claim: Invalid claim: 'iss'”)",
        ),
        (
            "IDT-EXPIRED",
            "shows its SSO error page: invalid_token (authlib: “expired_token: The token is expired”) unless it expired less than 120 s ago (its leeway)",
        ),
        (
            "IDT-NONCE-MISMATCH",
            "shows its SSO error page: invalid_token (authlib: “invalid_claim: Invalid claim: 'nonce'”)",
        ),
        (
            "IDT-NONCE-MISSING",
            "shows its SSO error page: invalid_token (authlib: “missing_claim: Missing claim: 'nonce'”)",
        ),
        ("IDT-KID-UNKNOWN", "reloads the JWKS once, then shows its SSO error page: invalid_token"),
        (
            "IDT-SIGNATURE-INVALID",
            "reloads the JWKS once, then shows its SSO error page: invalid_token (“bad_signature”)",
        ),
        (
            "IDT-ALG-UNADVERTISED",
            "shows its SSO error page: invalid_token (it accepts only discovery's id_token_signing_alg_values_supported)",
        ),
        ("IDT-MALFORMED", "shows its SSO error page: invalid_token"),
        (
            "CONFIG-ISSUER-MISMATCH",
            "refuses the metadata (“ValueError: Unexpected issuer”): the login button fails before authentik",
        ),
        ("DISC-ISSUER-MISMATCH", "refuses the metadata (“ValueError: Unexpected issuer”)"),
        (
            "AUTHZ-STATE-MISMATCH",
            "shows its SSO error page: mismatching_session (the state does not match its session cookie)",
        ),
        ("AUTHZ-ERROR", "shows its SSO error page with the provider's error and error_description"),
        (
            "TOKEN-ERROR",
            "shows its SSO error page with the provider's error (invalid_client, invalid_grant, …) and error_description",
        ),
        (
            "TOKEN-NO-ID-TOKEN",
            "shows its SSO error page: invalid_token (“Missing id_token in token response”)",
        ),
        ("USERINFO-ERROR", "shows its SSO error page: fetch_error"),
        (
            "USERINFO-SUB-MISMATCH",
            "takes the user from userinfo's sub (subject_claim): another Matrix account",
        ),
        (
            "MASTODON-UID-CLAIM-MISSING",
            "shows its SSO error page: mapping_error (“Failed to extract subject from OIDC response”)",
        ),
    ],
    // oidc.py load_metadata: the configured issuer only locates discovery (authlib's
    // get_well_known_url strips its slash), "discovered issuer takes precedence over configured
    // issuer", and the ID token's iss is compared with the discovered one (line 1047).
    tolerates: &[(
        "CONFIG-ISSUER-MISMATCH",
        "logs in anyway: it finds discovery from its issuer, then trusts the issuer discovery announces",
    )],
    checks: "signature (JWKS, algs from discovery), iss, aud, nonce, exp with 120 s leeway; at_hash when userinfo is used",
    checker: "Synapse (authlib)",
    omniauth: false,
    // authlib: client_secret_basic; PKCE S256 whenever discovery lists it (oidc.py).
    client: Client {
        scopes: &["openid", "profile", "email"],
        pkce: true,
        nonce: true,
        secret_post: false,
        userinfo: false,
    },
    account: Account {
        key_claim: "sub",
        without_key: "Synapse refuses the login: mapping_error (“Failed to extract subject from OIDC response”)",
        needs_email: false,
        without_email: "Synapse creates the user without an email threepid",
        reads_email_verified: false,
        mastodon_usernames: false,
    },
    source: "element-hq/synapse synapse/handlers/oidc.py (_parse_id_token, _verify_jwt, _exchange_code, _remote_id_from_userinfo)",
    read_config: Some(super::config::homeserver_yaml),
};
