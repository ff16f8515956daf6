//! Mastodon's configuration against what the wire shows (CONFIG-*): `.env.production`
//! values (`--mastodon-env`, `--expect-*`) compared with the discovered issuer and the
//! authorize request Mastodon built from them.

use super::{Ctx, Finding, RuleId, not_checked};
use crate::oidc::ExchangeKind;

pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    issuer(ctx, out);
    authorize_request(ctx, out);
}

/// CONFIG-ISSUER-MISMATCH — what Mastodon's openid_connect gem compares, byte for byte.
fn issuer(ctx: &Ctx, out: &mut Vec<Finding>) {
    let Some(disc) = &ctx.d.discovery else { return };
    if ctx.d.kind != ExchangeKind::Discovery || !(200..300).contains(&disc.status) || !disc.valid_json {
        return;
    }
    let issuer = disc.issuer.as_deref();
    match (&ctx.exp.issuer, issuer) {
        (Some(want), Some(iss)) if want != iss => out.push(
            Finding::new(RuleId::ConfigIssuerMismatch, "OIDC_ISSUER is not the issuer authentik announces")
                .field("OIDC_ISSUER")
                .evidence(iss, want.clone())
                .why("Mastodon's openid_connect gem compares the discovered issuer with OIDC_ISSUER as exact strings")
                .fix(super::issuer_fix(want, iss))
                .mastodon("“Issuer mismatch”: the login stops before reaching authentik"),
        ),
        (None, Some(iss)) => out.push(not_checked(RuleId::ConfigIssuerMismatch, "pass --expect-issuer or --mastodon-env to compare OIDC_ISSUER", Some(iss))),
        _ => {}
    }
}

/// CONFIG-SCOPE, CONFIG-CLIENT-ID-MISMATCH, CONFIG-REDIRECT-URI-MISMATCH — on the authorize
/// request the provider received.
fn authorize_request(ctx: &Ctx, out: &mut Vec<Finding>) {
    let Some(a) = &ctx.d.authorize else { return };
    if !matches!(ctx.d.kind, ExchangeKind::Authorize | ExchangeKind::AuthorizeResponse) {
        return;
    }
    let scopes = a.scopes();
    // CONFIG-SCOPE — what Mastodon needs from the claims.
    let needed = [
        (
            "email",
            "scope lacks email",
            true,
            "without the email claim Mastodon creates the account with a temporary change@me-… address and sends the user to /auth/setup",
        ),
        (
            "profile",
            "scope lacks profile, which carries preferred_username (OIDC_UID_FIELD)",
            ctx.exp.uid_field == "preferred_username",
            "without preferred_username Mastodon falls back to sub and creates a hex username",
        ),
    ];
    for (scope, message, applies, why) in needed {
        if !scopes.is_empty() && applies && !scopes.contains(&scope) {
            out.push(
                Finding::new(RuleId::ConfigScope, message)
                    .field("authorize.scope")
                    .evidence("openid profile email", a.scope.clone().unwrap_or_default())
                    .why(why),
            );
        }
    }
    // CONFIG-CLIENT-ID-MISMATCH / CONFIG-REDIRECT-URI-MISMATCH — against .env.production.
    match (&ctx.exp.client_id, &a.client_id) {
        (Some(want), Some(got)) if want != got => out.push(
            Finding::new(RuleId::ConfigClientIdMismatch, "the client_id sent is not OIDC_CLIENT_ID")
                .field("authorize.client_id")
                .evidence(want.clone(), got.clone())
                .why("the running Mastodon uses another client id than the configuration you gave"),
        ),
        (None, Some(got)) => out.push(not_checked(
            RuleId::ConfigClientIdMismatch,
            "pass --expect-client-id or --mastodon-env",
            Some(got),
        )),
        _ => {}
    }
    let want_redirect = ctx.exp.redirect_uri.clone().or_else(|| ctx.exp.canonical_redirect_uri());
    match (want_redirect, &a.redirect_uri) {
        (Some(want), Some(got)) if &want != got => out.push(
            Finding::new(RuleId::ConfigRedirectUriMismatch, "the redirect_uri Mastodon sends is not the configured callback")
                .field("authorize.redirect_uri")
                .evidence(want.clone(), got.clone())
                .why("Mastodon's callback is https://<WEB_DOMAIN>/auth/auth/openid_connect/callback; anything else either fails at authentik or lands where no session cookie exists")
                .fix(format!("OIDC_REDIRECT_URI={want}, and register exactly that in authentik's provider Redirect URIs")),
        ),
        (None, Some(got)) => out.push(not_checked(RuleId::ConfigRedirectUriMismatch, "pass --expect-redirect-uri or --mastodon-env", Some(got))),
        _ => {}
    }
}
