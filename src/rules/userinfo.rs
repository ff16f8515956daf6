//! Userinfo checks (OIDC Core §5.3, RFC 6750 §3) and how Mastodon merges the claims.

use serde_json::Value;

use super::{Ctx, Finding, RuleId};
use crate::oidc::messages::TokenSource;

pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    let Some(u) = &ctx.d.userinfo_response else { return };
    if (300..400).contains(&u.status) {
        return; // BACKCHANNEL-REDIRECT
    }
    // USERINFO-ERROR — RFC 6750 §3.1 error codes.
    if u.status != 200 {
        let w = u.www_authenticate.clone().unwrap_or_default();
        let (body_err, body_desc) = u.body_error.clone().map(|(e, d)| (Some(e), d)).unwrap_or((None, None));
        let error = w.error.clone().or(body_err).unwrap_or_default();
        let description = w.error_description.clone().or(body_desc);
        let token_source = ctx.d.userinfo_request.as_ref().map(|r| r.token_source).unwrap_or_default();
        // What Mastodon's openid_connect gem says depends on the status alone.
        let says = match u.status {
            400 => "API access failed",
            401 => "Access token invalid or expired",
            403 => "Insufficient scope",
            _ => "Unknown httperror",
        };
        let (why, fix) = match (u.status, error.as_str()) {
            (403, _) | (_, "insufficient_scope") => (
                "the access token lacks the openid scope: authentik dropped it because the provider has no 'openid' scope mapping (common since 2024.2)".to_owned(),
                "authentik → provider → Advanced protocol settings → Scopes: add “authentik default OAuth Mapping: OpenID 'openid'”",
            ),
            (_, _) if token_source == TokenSource::None => (
                "the request carried no access token: a proxy stripped the Authorization header".into(),
                "pass the Authorization header through every proxy in front of authentik",
            ),
            (401, _) => (
                "authentik does not accept the token: unknown, expired or revoked (it must be the access_token just issued)".into(),
                "check the Bearer is the token response's access_token and that the provider's Access token validity is not seconds",
            ),
            (400, _) => ("the userinfo request was malformed for authentik".into(), "check intermediaries rewriting the request (seen after authentik upgrades)"),
            _ => ("the userinfo endpoint failed".into(), "check authentik's server logs"),
        };
        out.push(
            Finding::new(
                RuleId::UserinfoError,
                format!(
                    "userinfo answered {}{}",
                    format!("{} {error}", u.status).trim_end(),
                    description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
                ),
            )
            .field("userinfo.status")
            .seen(format!("{} {error}", u.status).trim_end().to_owned())
            .why(why)
            .fix(fix)
            .mastodon(format!("“{says}”")),
        );
        return;
    }
    let Some(claims) = &u.claims else { return };
    let Some(idt) = ctx.flow.and_then(|f| f.id_token.as_ref()).map(|s| &s.value) else { return };
    // USERINFO-SUB-MISMATCH — Core §5.3.2: MUST be equal.
    let (us, is) = (claims.get("sub").and_then(Value::as_str), idt.claim_str("sub"));
    if let (Some(us), Some(is)) = (us, is)
        && us != is
    {
        out.push(
            Finding::new(RuleId::UserinfoSubMismatch, "userinfo sub differs from the ID token's sub")
                .field("userinfo.sub")
                .evidence(is, us)
                .why("OpenID Connect requires them to be equal; the response may belong to another user (token substitution)")
                .mastodon("does not check it: the ID token's sub wins"),
        );
    }
    // USERINFO-CLAIM-CONFLICT — the merge lets the ID token win.
    for (k, v) in claims {
        if matches!(
            k.as_str(),
            "sub"
                | "iss"
                | "aud"
                | "exp"
                | "iat"
                | "nonce"
                | "auth_time"
                | "acr"
                | "amr"
                | "sid"
                | "jti"
                | "at_hash"
                | "azp"
        ) {
            continue;
        }
        if let Some(iv) = idt.claims.get(k)
            && iv != v
        {
            out.push(
                Finding::new(
                    RuleId::UserinfoClaimConflict,
                    format!("{k} differs between userinfo and the ID token"),
                )
                .field(format!("userinfo.{k}"))
                .evidence(compact(iv), compact(v))
                .why("⟨app⟩ merges userinfo with the ID token claims and the ID token wins, silently")
                .mastodon(format!("uses the ID token's {k} = {}", compact(iv))),
            );
        }
    }
}

fn compact(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
}
