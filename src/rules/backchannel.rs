//! BACKCHANNEL-REDIRECT: a redirect on a call Mastodon's client makes itself (discovery, token,
//! JWKS, userinfo). rack-oauth2 and openid_connect never follow redirects there.

use super::{Ctx, Finding, RuleId};
use crate::capture::HeaderLookup;

/// BACKCHANNEL-REDIRECT — rack-oauth2 and openid_connect do not follow redirects.
pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    let Some(r) = &ctx.ex.response else { return };
    if !ctx.d.kind.is_back_channel() || !(300..400).contains(&r.status) {
        return;
    }
    let loc = r.header("location").unwrap_or("(no Location)").to_owned();
    let url = format!("{}://{}{}", ctx.ex.request.scheme, ctx.ex.request.host, ctx.ex.request.path);
    let slash = !ctx.ex.request.path.split('?').next().unwrap_or("").ends_with('/') && loc.ends_with('/');
    let mut f = Finding::new(RuleId::BackchannelRedirect, format!("{} call answered {} → {}", ctx.d.kind.label().to_lowercase(), r.status, crate::redact::redact_url(&loc)))
        .field(format!("{}.status", ctx.d.kind.as_str()))
        .evidence(crate::redact::redact_url(&loc), crate::redact::redact_url(&url))
        .why("⟨app⟩'s OIDC client does not follow redirects on back-channel calls; a non-JSON answer becomes error “Unknown”")
        .mastodon("“Unknown” (or “Not found”) — the login fails at this step");
    f = if slash {
        f.hint("missing trailing slash: Django answers 301 to the URL with '/'").fix("use the endpoint URLs exactly as discovery lists them, with the trailing slash (⟨token_endpoint⟩, ⟨userinfo_endpoint⟩, ⟨jwks_uri⟩ when ⟨discovery⟩=false)")
    } else if url.starts_with("http://") && loc.starts_with("https://") {
        f.hint("http → https redirect").fix("use https:// endpoints (⟨issuer⟩ and the endpoint variables)")
    } else {
        f.fix("remove the redirect (a login wall or WAF in front of authentik's /application/o/ endpoints)")
    };
    out.push(f);
}
