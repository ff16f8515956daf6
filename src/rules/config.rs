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
    // An http:// issuer where OIDC_ISSUER says https:// is authentik missing X-Forwarded-Proto
    // (DISC-INSECURE-ENDPOINT): OIDC_ISSUER is right, so this rule's premise is false.
    let only_scheme = |want: &str, iss: &str| {
        disc.fetched_from.starts_with("https://")
            && iss.strip_prefix("http://").is_some_and(|rest| want.strip_prefix("https://") == Some(rest))
    };
    match (&ctx.exp.issuer, issuer) {
        (Some(want), Some(iss)) if want != iss && only_scheme(want, iss) => {}
        (Some(want), Some(iss)) if want != iss => out.push(
            Finding::new(RuleId::ConfigIssuerMismatch, "⟨issuer⟩ is not the issuer authentik announces")
                .field("⟨issuer⟩")
                .evidence(iss, want.clone())
                .why("⟨checker⟩ compares the discovered issuer with ⟨issuer⟩ as exact strings")
                .fix(super::issuer_fix(want, iss))
                .mastodon("“Issuer mismatch”: the login stops before reaching authentik"),
        ),
        (None, Some(iss)) => out.push(not_checked(
            RuleId::ConfigIssuerMismatch,
            "pass --expect-issuer or --mastodon-env to compare ⟨issuer⟩",
            Some(iss),
        )),
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
            ctx.rp.account.needs_email,
            format!("without the email claim {}", ctx.rp.account.without_email),
        ),
        (
            "profile",
            "scope lacks profile, which carries preferred_username (⟨uid_field⟩)",
            ctx.exp.uid_field == "preferred_username",
            format!("without preferred_username: {}", ctx.rp.account.without_key(None)),
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
            Finding::new(RuleId::ConfigClientIdMismatch, "the client_id sent is not ⟨client_id⟩")
                .field("authorize.client_id")
                .evidence(want.clone(), got.clone())
                .why("the running ⟨app⟩ uses another client id than the configuration you gave"),
        ),
        (None, Some(got)) => out.push(not_checked(
            RuleId::ConfigClientIdMismatch,
            "pass --expect-client-id or --mastodon-env",
            Some(got),
        )),
        _ => {}
    }
    // The route shape alone shows a redirect_uri the application cannot serve (no config file
    // needed): the fix is then its redirect setting, not one more Redirect URI in authentik.
    let Some(got) = &a.redirect_uri else { return };
    if !owned_by(ctx.rp, got, ctx.exp.web_domain.as_deref()) {
        // Another application behind the same authentik (Synapse, Grafana, GitLab, …):
        // Mastodon's route and OIDC_REDIRECT_URI say nothing about it.
        let what = if ctx.rp.callback.is_empty() {
            "no profile knows this callback route (--rp names the application)"
        } else {
            "another application's callback, not judged against ⟨app⟩'s"
        };
        out.push(not_checked(RuleId::ConfigRedirectUriMismatch, what, Some(got)));
        return;
    }
    if let Some(route) = not_the_callback_route(ctx.rp, got, ctx.exp.web_domain.as_deref()) {
        out.push(
            Finding::new(RuleId::ConfigRedirectUriMismatch, "the redirect_uri ⟨app⟩ sends is not its callback route")
                .field("authorize.redirect_uri")
                .evidence(route.clone(), got.clone())
                .why(format!("⟨app⟩ serves the callback only at {} on ⟨web_domain⟩ (exact path, no trailing slash, no query): a login sent to {got} fails at authentik, or lands on a route ⟨app⟩ does not have", ctx.rp.callback_path().unwrap_or_default()))
                .fix(format!("⟨redirect_uri⟩={route} in ⟨config⟩ (⟨apply⟩), and authentik → provider → Redirect URIs: exactly {route} (strict)")),
        );
        return;
    }
    let want_redirect = ctx.exp.redirect_uri.clone().or_else(|| ctx.exp.canonical_redirect_uri());
    match want_redirect {
        Some(want) if &want != got => out.push(
            Finding::new(RuleId::ConfigRedirectUriMismatch, "the redirect_uri ⟨app⟩ sends is not the configured callback")
                .field("authorize.redirect_uri")
                .evidence(want.clone(), got.clone())
                .why("⟨app⟩'s callback is ⟨callback_example⟩; anything else either fails at authentik or lands where no session cookie exists")
                .fix(format!("⟨redirect_uri⟩={want}, and register exactly that in authentik's provider Redirect URIs")),
        ),
        None => out.push(not_checked(RuleId::ConfigRedirectUriMismatch, "pass --expect-redirect-uri or --mastodon-env", Some(got))),
        _ => {}
    }
}

/// Whether `sent` is `rp`'s callback or a near miss of it (on its public domain when known, or
/// a path its profile owns), as opposed to another application's callback behind the same
/// provider (Synapse's `/_synapse/client/oidc/callback` is not Mastodon's).
pub fn owned_by(rp: &crate::rp::Profile, sent: &str, web_domain: Option<&str>) -> bool {
    let Ok(u) = url::Url::parse(sent) else { return true };
    let authority = match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => return true,
    };
    let on_web_domain = web_domain.is_some_and(|d| d.eq_ignore_ascii_case(&authority));
    !rp.callback.is_empty() && (on_web_domain || (rp.owns_path)(u.path()))
}

/// The callback `rp` does serve, when `sent` is not it: the route's path (under the prefix
/// `sent` has, for an application served below a path), no query or fragment, on its public
/// domain when known, else on the host `sent` names. `None` when `sent` has the route's shape
/// (or is not a URL this can judge).
pub fn not_the_callback_route(
    rp: &crate::rp::Profile,
    sent: &str,
    web_domain: Option<&str>,
) -> Option<String> {
    let route = rp.callback_path()?;
    let u = url::Url::parse(sent).ok()?;
    let host = u.host_str()?;
    let authority = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    // The scheme is not judged: a Mastodon in development (LOCAL_HTTPS=false) serves http://.
    let exact = if rp.callback_at_root {
        u.path() == route
    } else {
        rp.callback.iter().any(|c| u.path().ends_with(c))
    };
    let shaped = exact
        && u.query().is_none()
        && u.fragment().is_none()
        && web_domain.is_none_or(|d| d.eq_ignore_ascii_case(&authority));
    (!shaped).then(|| format!("{}://{}{route}", u.scheme(), web_domain.unwrap_or(&authority)))
}

#[cfg(test)]
mod tests {
    fn route(sent: &str, web_domain: Option<&str>) -> Option<String> {
        super::not_the_callback_route(crate::rp::default(), sent, web_domain)
    }

    #[test]
    fn the_callback_route_shape() {
        let ok = "https://m.test/auth/auth/openid_connect/callback";
        assert_eq!(route(ok, None), None);
        assert_eq!(route(ok, Some("m.test")), None);
        assert_eq!(route(&format!("{ok}/"), None).as_deref(), Some(ok));
        assert_eq!(route("http://m.test/auth/auth/openid_connect/callback", None), None);
        assert_eq!(route(&format!("{ok}?x=1"), None).as_deref(), Some(ok));
        assert_eq!(route("https://m.test/auth/openid_connect/callback", None).as_deref(), Some(ok));
        assert_eq!(
            route(ok, Some("other.test")).as_deref(),
            Some("https://other.test/auth/auth/openid_connect/callback")
        );
        assert_eq!(route("https://m.test:8443/auth/auth/openid_connect/callback", None), None);
        assert_eq!(route("not a url", None), None);
    }

    #[test]
    fn another_applications_callback_is_not_mastodons() {
        let like = |sent: &str, web_domain| super::owned_by(crate::rp::default(), sent, web_domain);
        for other in [
            "https://matrix.test/_synapse/client/oidc/callback",
            "https://gitlab.test/users/auth/openid_connect/callback",
            "https://grafana.test/login/generic_oauth",
            "https://cloud.test/apps/user_oidc/code",
        ] {
            assert!(!like(other, None), "{other}");
            assert!(!like(other, Some("m.test")), "{other}");
        }
        for near in [
            "https://m.test/auth/auth/openid_connect/callback/",
            "https://m.test/auth/openid_connect/callback",
            "https://m.test/callback",
        ] {
            assert!(like(near, Some("m.test")), "{near}");
        }
        assert!(like("https://m.test/auth/auth/openid_connect/callback?x=1", None));
        assert!(!like("https://m.test/callback", None), "no WEB_DOMAIN and not Mastodon's mount: not judged");
    }
}
