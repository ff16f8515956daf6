//! Token endpoint checks (RFC 6749 §4.1.3, §5; RFC 7636 §4.6; OIDC Core §3.1.3) with the
//! causes authentik's errors really have (`views/token.py`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{Ctx, Finding, RuleId, Severity};
use crate::redact::{Secret, fingerprint, is_masked, short};

pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    let Some(t) = &ctx.d.token_request else { return };
    let flow = ctx.flow;
    let authorize = ctx.authorize();

    // TOKEN-CODE-REUSED — RFC 6749 §4.1.2: a code is single-use.
    if let Some(f) = flow
        && f.code_redemptions >= 1
        && t.code.is_some()
    {
        out.push(
            Finding::new(RuleId::TokenCodeReused, "this authorization code was already redeemed in this login")
                .field("token_request.code")
                .seen(t.code.as_deref().map(short).unwrap_or_default())
                .why("codes are single-use; authentik deletes them on first use and answers invalid_grant to the second")
                .mastodon("“Invalid grant”"),
        );
    }

    // TOKEN-CODE-UNKNOWN — joined by client_id + redirect_uri because its code matched no
    // login: the code was changed on the way, or belongs to a login the gateway never saw.
    if ctx.joined_by == Some(crate::oidc::flow::JoinedBy::ClientRedirect)
        && let (Some(code), Some(f)) = (t.code.as_deref(), flow)
    {
        let issued = f.code_fp.as_deref().map(|fp| format!("…{}", fp.chars().take(4).collect::<String>()));
        let mut finding = Finding::new(RuleId::TokenCodeUnknown, "the token request redeems a code this login was not issued")
            .field("token_request.code")
            .seen(short(code))
            .why("no login the gateway saw was issued this code; it was joined to the one login of this client waiting for its token")
            .mastodon("“Invalid grant”");
        if let (Some(issued), Some(raw)) =
            (issued, f.auth_response.as_ref().and_then(|a| a.value.code.as_deref()))
        {
            finding = finding.expected(issued).hint(super::diff::how_values_differ(raw, code, false));
        }
        out.push(finding);
    }

    // TOKEN-CODE-SLOW — authentik's code lifetime (Access code validity, 60 s).
    if let Some(issued) = flow.and_then(|f| f.auth_response.as_ref()).map(|s| s.ts) {
        let age_ms = ctx.now_ms.saturating_sub(issued);
        let lifetime_ms = ctx.exp.code_lifetime_s * 1000;
        if age_ms > lifetime_ms || age_ms > lifetime_ms / 2 {
            let late = age_ms > lifetime_ms;
            out.push(
                Finding::new(RuleId::TokenCodeSlow, format!("the code was redeemed {:.1} s after it was issued (lifetime {} s)", age_ms as f64 / 1000.0, ctx.exp.code_lifetime_s))
                    .severity(if late { Severity::Error } else { Severity::Warning })
                    .field("token_request.code")
                    .evidence(format!("≤ {} s", ctx.exp.code_lifetime_s), format!("{:.1} s", age_ms as f64 / 1000.0))
                    .why("authentik expires codes after 'Access code validity' (60 s by default) and answers invalid_grant")
                    .mastodon(if late { "“Invalid grant”" } else { "works, but close to the limit" }),
            );
        }
    }

    // TOKEN-REDIRECT-URI-CHANGED — RFC 6749 §4.1.3.
    if let (Some(a), Some(sent)) =
        (authorize.and_then(|a| a.redirect_uri.as_deref()), t.redirect_uri.as_deref())
        && a != sent
    {
        out.push(
            Finding::new(RuleId::TokenRedirectUriChanged, "the token request's redirect_uri differs from the authorize request's")
                .field("token_request.redirect_uri")
                .evidence(a, sent)
                .why("RFC 6749 requires the same redirect_uri; authentik rejects a token-request redirect_uri that is not registered with invalid_client")
                .mastodon("“Invalid client” or “Invalid grant”"),
        );
    }

    // TOKEN-PKCE-MISMATCH — RFC 7636 §4.5–4.6.
    let challenge = authorize.and_then(|a| {
        a.code_challenge.as_deref().map(|c| (c, a.code_challenge_method.as_deref().unwrap_or("plain")))
    });
    match (challenge, t.code_verifier.as_deref()) {
        (Some(_), None) => out.push(
            Finding::new(RuleId::TokenPkceMismatch, "the authorize request had a code_challenge, the token request has no code_verifier")
                .field("token_request.code_verifier")
                .why("authentik requires the verifier for a code issued with a challenge")
                .fix("the PKCE verifier lives in ⟨app⟩'s session: keep the session cookie between the two phases; keep ⟨use_pkce⟩ consistent")
                .mastodon("“Invalid grant”"),
        ),
        (None, Some(_)) if authorize.is_some() => out.push(
            Finding::new(RuleId::TokenPkceMismatch, "a code_verifier was sent for a code issued without a code_challenge")
                .field("token_request.code_verifier")
                .why("authentik treats this as a downgrade attack and answers invalid_grant")
                .fix("keep ⟨use_pkce⟩ the same for both phases (restart all ⟨app⟩ processes after changing it)")
                .mastodon("“Invalid grant”"),
        ),
        (Some((c, method)), Some(v)) => {
            let ok = if is_masked(v) {
                // The trace keeps SHA-256's left half of the verifier: compare that much.
                method != "S256" || URL_SAFE_NO_PAD.decode(c).ok().is_some_and(|d| d.len() >= 16 && URL_SAFE_NO_PAD.encode(&d[..16]) == crate::redact::fp_of(v))
            } else if method == "S256" {
                URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == c
            } else {
                v == c
            };
            if !ok {
                out.push(
                    Finding::new(RuleId::TokenPkceMismatch, "the code_verifier does not match the code_challenge")
                        .field("token_request.code_verifier")
                        .evidence(format!("{method}(verifier) = {c}"), if is_masked(v) { v.to_owned() } else { fingerprint(v) })
                        .why("the verifier belongs to another login (session overwritten by a second tab)")
                        .fix("one login per browser at a time; check the session store")
                        .mastodon("“Invalid grant”"),
                );
            }
        }
        _ => {}
    }

    let Some(r) = &ctx.d.token_response else { return };
    if (300..400).contains(&r.status) {
        return; // BACKCHANNEL-REDIRECT
    }
    // TOKEN-ERROR — RFC 6749 §5.2, authentik's causes.
    if r.status != 200 || r.error.is_some() {
        let error = r
            .error
            .clone()
            .unwrap_or_else(|| if r.not_json { "Unknown".into() } else { format!("HTTP {}", r.status) });
        let (why, fix) = match error.as_str() {
            "invalid_client" => {
                // The redirect_uri authentik accepted at authorize (a code was issued for it)
                // and sent again unchanged is not the cause; a changed one is TOKEN-REDIRECT-URI-CHANGED.
                let same_uri = authorize.and_then(|a| a.redirect_uri.as_deref()).is_some()
                    && authorize.and_then(|a| a.redirect_uri.as_deref()) == t.redirect_uri.as_deref()
                    && flow.and_then(|f| f.auth_response.as_ref()).is_some_and(|r| r.value.code.is_some());
                let uri_cause = if same_uri {
                    "; not the redirect_uri: it is the one authentik accepted at authorize"
                } else {
                    "; less often the client_id, or the token request's redirect_uri not in the provider's Redirect URIs"
                };
                let sent = ctx.exp.client_secret.as_ref().map(Secret::expose).zip(t.client_auth.secret.as_ref().map(Secret::expose));
                // Either side may be known only by its fingerprint (a redacted trace, the
                // expectations a trace recorded); undecidable, the live verdict is carried.
                let sent = sent.and_then(|(want, got)| crate::redact::same_secret(want, got).map(|same| (same, want, got)));
                let (mut why, fix) = match sent {
                    Some((true, _, _)) => (
                        format!("the secret sent is ⟨client_secret⟩, so authentik's Client Secret differs from ⟨config⟩ (regenerated in authentik, or copied with a space or a character missing){uri_cause}"),
                        "copy authentik's provider 'Client Secret' (Applications → Providers → this provider → Edit) into ⟨client_secret⟩, without quotes or spaces, then ⟨apply⟩ (web and sidekiq)".to_owned(),
                    ),
                    Some((false, want, got)) => {
                        let spaced = !is_masked(got) && (got.trim() != got || got.starts_with('"'));
                        (
                            format!("the secret sent (fingerprint {}) is not ⟨client_secret⟩ (fingerprint {}){}: ⟨app⟩ runs with another secret than this ⟨config⟩ says", short(got), short(want), if spaced { "; it has whitespace or quotes around it" } else { "" }),
                            "set ⟨client_secret⟩ to authentik's provider 'Client Secret' (no quotes or spaces) and ⟨apply⟩ (web and sidekiq) so the running process reads it".to_owned(),
                        )
                    }
                    None => (
                        format!("authentik answers invalid_client for a wrong secret or an unknown client_id{}", if same_uri { uri_cause } else { ", and also for a token-request redirect_uri that is not in the provider's Redirect URIs" }),
                        "⟨client_secret⟩ = authentik provider 'Client Secret' (no quotes or spaces), ⟨client_id⟩ = 'Client ID', and ⟨redirect_uri⟩ registered in the provider's Redirect URIs".to_owned(),
                    ),
                };
                if t.client_auth.basic_percent_encoded {
                    why.push_str("; the Basic credentials contain %-escapes (rack-oauth2 form-encodes them; authentik before 2026.2.2 does not decode them)");
                }
                (why, fix)
            }
            "invalid_grant" => (
                "the code is unknown, expired (60 s), already used, issued to another client, or the PKCE verifier does not match".into(),
                "redeem the code once and quickly: look for reloads of the callback and for delays; see TOKEN-CODE-* and TOKEN-PKCE-* findings".into(),
            ),
            "unsupported_grant_type" => ("the provider does not allow this grant".into(), "authentik provider → Client type confidential, grant authorization_code".into()),
            "invalid_scope" => ("a requested scope is not allowed".into(), "⟨scope⟩=openid,profile,email".into()),
            "access_denied" => ("a policy denied the user at token time".into(), "authentik application → Policy / Group / User Bindings".into()),
            "Unknown" => ("the token endpoint did not answer JSON (an HTML page, a login wall or a proxy error)".into(), "make the token endpoint reachable directly from ⟨app⟩, with https and the trailing slash".into()),
            _ => ("the provider refused the token request".into(), "see error_description and authentik's Events".into()),
        };
        out.push(
            Finding::new(
                RuleId::TokenError,
                format!(
                    "token endpoint answered {error}{}",
                    r.error_description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
                ),
            )
            .field("token_response.error")
            .seen(error.clone())
            .why(why)
            .fix(fix)
            .mastodon(format!("“{}”", humanize(&error))),
        );
        return;
    }
    // TOKEN-TYPE — RFC 6750, rack-oauth2.
    if !r.token_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("bearer")) {
        out.push(
            Finding::new(RuleId::TokenType, "token_type is not Bearer")
                .field("token_response.token_type")
                .evidence("Bearer", r.token_type.clone().unwrap_or_else(|| "(absent)".into()))
                .why("⟨app⟩'s client only accepts bearer tokens")
                .mastodon("“Unexpected token type”"),
        );
    }
    // TOKEN-NO-ID-TOKEN — Core §3.1.3.3.
    if r.id_token.is_none() {
        let requested = authorize.is_some_and(|a| a.scopes().contains(&"openid"));
        let granted = r.scope.is_none() || r.scopes().contains(&"openid");
        let mut f = Finding::new(RuleId::TokenNoIdToken, "the token response has no id_token")
            .field("token_response.id_token")
            .why(
                "an OpenID Connect code flow must return an ID token; without it ⟨app⟩ has nothing to verify",
            )
            .mastodon("fails verifying the ID token");
        if requested && granted {
            f = f.fix("authentik returns an id_token whenever openid is granted: look for a proxy rewriting the token response between authentik and ⟨app⟩, and check that this provider is an OAuth2/OpenID provider");
        } else if authorize.is_some() && !requested {
            f = f.fix("⟨scope⟩=openid,profile,email in ⟨config⟩ (⟨apply⟩)");
        }
        out.push(f);
    }
    // TOKEN-SCOPE-DROPPED — RFC 6749 §3.3: the granted scope may be narrower.
    if let (Some(a), Some(_)) = (authorize, &r.scope) {
        let granted = r.scopes();
        let dropped: Vec<&str> = a.scopes().into_iter().filter(|s| !granted.contains(s)).collect();
        if !dropped.is_empty() {
            let openid = dropped.contains(&"openid");
            out.push(
                Finding::new(RuleId::TokenScopeDropped, format!("granted scope lacks {}", dropped.join(", ")))
                    .severity(if openid { Severity::Error } else { Severity::Warning })
                    .field("token_response.scope")
                    .evidence(a.scope.clone().unwrap_or_default(), r.scope.clone().unwrap_or_default())
                    .why(if openid { "authentik keeps only scopes that have a mapping on the provider; without openid its userinfo endpoint answers 403 insufficient_scope" } else { "authentik keeps only scopes that have a mapping on the provider; the claims of the dropped scopes are missing" })
                    .fix(format!("authentik → provider → Advanced protocol settings → Scopes: select the mapping{} for {}", if dropped.len() > 1 { "s" } else { "" }, dropped.join(", ")))
                    .mastodon(if openid { "“Insufficient scope” at userinfo" } else { "missing claims (see MASTODON-* findings)" }),
            );
        }
    }
}

/// Rails' `String#humanize`, as Mastodon applies it to the failure reason.
pub fn humanize(s: &str) -> String {
    let s = s.replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase(),
        None => String::new(),
    }
}
