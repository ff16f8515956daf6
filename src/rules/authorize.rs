//! Authorization request and response checks (RFC 6749 §4.1, OIDC Core §3.1.2, RFC 7636,
//! RFC 9207) and the provider's refusal pages.

use super::EVIDENCE_MAX;
use super::{Ctx, Finding, RuleId, Severity, not_checked};
use crate::oidc::ExchangeKind;
use crate::oidc::messages::{RefusalKind, ResponseVia};
use crate::redact::{fp_of, is_masked, shown};

pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    request(ctx, out);
    refusal(ctx, out);
    response(ctx, out);
}

/// Checks of the authorize request itself — once, on the request the provider received.
fn request(ctx: &Ctx, out: &mut Vec<Finding>) {
    let Some(a) = &ctx.d.authorize else { return };
    // Mastodon's redirect carries the same request; check the one that reaches the provider,
    // or Mastodon's if the browser never gets there.
    if !matches!(
        ctx.d.kind,
        ExchangeKind::Authorize | ExchangeKind::AuthorizeResponse | ExchangeKind::RpLogin
    ) {
        return;
    }
    let provider_saw_it = ctx.d.kind != ExchangeKind::RpLogin;
    if !provider_saw_it {
        return;
    }
    // AUTHZ-MISSING-PARAM — RFC 6749 §4.1.1, Core §3.1.2.1.
    for (p, v) in [
        ("client_id", &a.client_id),
        ("response_type", &a.response_type),
        ("redirect_uri", &a.redirect_uri),
        ("scope", &a.scope),
    ] {
        if v.as_deref().is_none_or(str::is_empty) {
            let fix = match p {
                "client_id" => "set ⟨client_id⟩ to authentik's Client ID".to_owned(),
                "redirect_uri" => format!(
                    "set ⟨redirect_uri⟩={} in ⟨config⟩ (the strategy does not derive it; ⟨apply⟩)",
                    ctx.exp
                        .canonical_redirect_uri()
                        .unwrap_or_else(|| "https://<WEB_DOMAIN>/auth/auth/openid_connect/callback".into())
                ),
                "response_type" => "leave ⟨response_type⟩ unset (code)".to_owned(),
                _ => "set ⟨scope⟩=openid,profile,email".to_owned(),
            };
            out.push(
                Finding::new(RuleId::AuthzMissingParam, format!("the authorize request has no {p}"))
                    .field(format!("authorize.{p}"))
                    .why("the provider cannot process an authorization request without it (authentik answers its error page)")
                    .fix(fix),
            );
        }
    }
    let scopes = a.scopes();
    // AUTHZ-NO-OPENID-SCOPE — Core §3.1.2.1.
    if a.scope.is_some() && !scopes.contains(&"openid") {
        out.push(
            Finding::new(RuleId::AuthzNoOpenidScope, "scope lacks openid")
                .field("authorize.scope")
                .evidence("openid …", a.scope.clone().unwrap_or_default())
                .why("without openid this is plain OAuth 2.0: no ID token, and authentik's userinfo refuses the token")
                .fix("⟨scope⟩=openid,profile,email in ⟨config⟩ (⟨apply⟩)")
        );
    }
    // AUTHZ-NO-STATE — RFC 6749 §10.12.
    if a.state.as_deref().is_none_or(str::is_empty) {
        out.push(
            Finding::new(RuleId::AuthzNoState, "the authorize request has no state")
                .field("authorize.state")
                .why(
                    "without state the callback cannot be tied to the browser that started the login (CSRF)",
                ),
        );
    }
    // AUTHZ-NO-NONCE — Core §3.1.2.1, §15.5.2.
    if a.nonce.as_deref().is_none_or(str::is_empty) {
        out.push(
            Finding::new(RuleId::AuthzNoNonce, "the authorize request has no nonce")
                .field("authorize.nonce")
                .why("the ID token cannot be bound to this login, so a replayed token would be accepted"),
        );
    }
    // AUTHZ-PKCE-PLAIN — RFC 7636 §4.2, §7.2.
    if a.code_challenge.is_some() && a.code_challenge_method.as_deref().is_none_or(|m| m != "S256") {
        out.push(
            Finding::new(RuleId::AuthzPkcePlain, "PKCE uses the plain method")
                .field("authorize.code_challenge_method")
                .evidence("S256", a.code_challenge_method.clone().unwrap_or_else(|| "(absent: plain)".into()))
                .why("with plain the challenge is the verifier: anyone who sees the authorize URL can redeem the code")
        );
    }
}

/// The provider's own error pages: it refused to redirect at all.
fn refusal(ctx: &Ctx, out: &mut Vec<Finding>) {
    let Some(p) = &ctx.d.provider_error else { return };
    let a = ctx.authorize();
    match p.kind {
        RefusalKind::RedirectUri => {
            let sent = a.and_then(|a| a.redirect_uri.clone()).unwrap_or_else(|| "(none sent)".into());
            let want = ctx.exp.redirect_uri.clone().or_else(|| ctx.exp.canonical_redirect_uri());
            let mut f = Finding::new(RuleId::AuthzRedirectUriRejected, format!("the provider refused the redirect_uri: “{}”", p.title))
                .field("authorize.redirect_uri")
                .why("authentik compares redirect_uri with the provider's Redirect URIs (strict: exact string) before anything else and shows its error page; the browser never comes back to ⟨app⟩")
                .mastodon("nothing: the user stays on authentik's error page and ⟨app⟩ logs nothing");
            f = match want {
                Some(w) if w != sent => f.evidence(w.clone(), sent.clone()).fix(format!("⟨redirect_uri⟩={w} (⟨app⟩ sends {sent}), and register {w} in authentik → provider → Redirect URIs")),
                _ => f.seen(sent.clone()).fix(format!("authentik → Applications → Providers → (this provider) → Redirect URIs: add `{sent}` with matching mode strict")),
            };
            out.push(f);
        }
        RefusalKind::ClientId => {
            let sent = a.and_then(|a| a.client_id.clone()).unwrap_or_else(|| "(none sent)".into());
            let mut f = Finding::new(
                RuleId::AuthzClientRejected,
                format!("the provider does not know the client_id: “{}”", p.title),
            )
            .field("authorize.client_id")
            .why("no provider has this Client ID (copy-paste error, or the provider was recreated)")
            .mastodon("nothing: the user stays on authentik's error page");
            f = match &ctx.exp.client_id {
                Some(w) if w != &sent => f.evidence(w.clone(), sent),
                _ => f.seen(sent),
            };
            out.push(f);
        }
    }
}

fn likely_cause(error: &str) -> (&'static str, &'static str) {
    match error {
        "access_denied" => (
            "the user or a policy denied access",
            "authentik → Applications → (⟨app⟩) → Policy / Group / User Bindings: bind the user's group",
        ),
        "invalid_scope" => (
            "a requested scope is unknown to the provider",
            "⟨scope⟩=openid,profile,email and the matching scope mappings on the provider",
        ),
        "unsupported_response_type" => {
            ("the provider does not allow this response_type", "leave ⟨response_type⟩ unset (code)")
        }
        "login_required" | "consent_required" | "interaction_required" => {
            ("prompt=none could not be satisfied silently", "remove ⟨prompt⟩=none")
        }
        "request_not_supported" | "request_uri_not_supported" => {
            ("request objects are not supported", "do not send request/request_uri")
        }
        "server_error" | "temporarily_unavailable" => {
            ("the provider failed internally", "check authentik's server logs (Events → configuration_error)")
        }
        _ => ("the provider refused the request", "see error_description and authentik's Events"),
    }
}

/// Checks of the authorization response (code or error), wherever it travelled.
fn response(ctx: &Ctx, out: &mut Vec<Finding>) {
    let Some(r) = &ctx.d.authorization_response else { return };
    let at_callback = r.via == ResponseVia::Callback;
    // AUTHZ-ERROR — RFC 6749 §4.1.2.1 (reported where the provider sent it, not again at the callback).
    if let Some(e) = &r.error {
        if !at_callback || ctx.flow.and_then(|f| f.auth_response.as_ref()).is_none() {
            let (cause, fix) = likely_cause(e);
            out.push(
                Finding::new(
                    RuleId::AuthzError,
                    format!(
                        "the provider answered error={e}{}",
                        r.error_description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
                    ),
                )
                .field("authorization_response.error")
                .seen(e.clone())
                .why(format!("likely cause: {cause}"))
                .fix(fix)
                .mastodon(format!("“{}”", r.error_description.as_deref().unwrap_or(e))),
            );
        }
        return;
    }
    // AUTHZ-STATE-MISMATCH — RFC 6749 §10.12: state returned must be state sent.
    let sent = ctx.authorize().and_then(|a| a.state.as_deref());
    // Said once, where it first went wrong: not again at the callback for the same value.
    let said = at_callback
        && ctx
            .flow
            .and_then(|f| f.auth_response.as_ref())
            .is_some_and(|s| s.value.state.as_deref() == r.state.as_deref());
    if let (Some(sent), Some(got)) = (sent, r.state.as_deref())
        && fp_of(sent) != fp_of(got)
        && !said
    {
        let joined = match ctx.joined_by {
            Some(j) if j != crate::oidc::flow::JoinedBy::State => {
                format!(
                    " (this response was joined to its login by {}, since its state matched none)",
                    j.as_str().replace('_', " ")
                )
            }
            _ => String::new(),
        };
        out.push(
            Finding::new(RuleId::AuthzStateMismatch, if at_callback { "the callback's state is not the state this login sent" } else { "the provider returned another state than it was sent" })
                .field(if at_callback { "callback.state" } else { "authorization_response.state" })
                .evidence(shown("state", sent, EVIDENCE_MAX), shown("state", got, EVIDENCE_MAX))
                .hint(super::diff::how_values_differ(sent, got, !is_masked(sent) && !is_masked(got)))
                .why(format!("the state ties the callback to the browser session that started the login; a changed one means something rewrote it on the way, another tab, or a lost cookie{joined}"))
                .mastodon("“Invalid 'state' parameter” (csrf_detected)"),
        );
    } else if sent.is_some() && r.state.is_none() {
        out.push(
            Finding::new(RuleId::AuthzStateMismatch, "the response carries no state although one was sent")
                .field("authorization_response.state")
                .evidence(shown("state", sent.unwrap_or(""), EVIDENCE_MAX), "(none)")
                .why("RFC 6749 requires the provider to return the state it got")
                .mastodon("“Invalid 'state' parameter” (csrf_detected)"),
        );
    }
    // AUTHZ-ISS-MISMATCH — RFC 9207 §2.4. Said where the response left authentik, not again
    // at the callback for the same value.
    let iss_said =
        at_callback && ctx.flow.and_then(|f| f.auth_response.as_ref()).is_some_and(|s| s.value.iss == r.iss);
    if let Some(iss) = r.iss.as_ref().filter(|_| !iss_said) {
        match ctx.discovered_issuer() {
            Some(want) if want != iss => out.push(
                Finding::new(RuleId::AuthzIssMismatch, "the iss parameter of the authorization response is not the discovered issuer")
                    .field("authorization_response.iss")
                    .evidence(want, iss.clone())
                    .why("RFC 9207 lets a client detect a mix-up between providers; ⟨app⟩ does not check it, stricter clients reject the response")
                    .severity(Severity::Warning),
            ),
            None => out.push(not_checked(RuleId::AuthzIssMismatch, "no discovery seen for this login", Some(iss))),
            _ => {}
        }
    }
}
