//! Discovery document checks (OpenID Connect Discovery 1.0 §3, §4) and Mastodon's own checks
//! of it (openid_connect `discovery/provider/config/response.rb`).

use super::{Ctx, Finding, Severity, not_checked};
use crate::oidc::ExchangeKind;
use crate::oidc::classify::host_path;
use crate::oidc::messages::ENDPOINT_FIELDS;

/// Fields Mastodon's client refuses to go without (`config/response.rb` validations).
pub const MASTODON_REQUIRED: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
];
/// Fields Mastodon needs later in the login.
const NEEDED_LATER: &[&str] = &["token_endpoint", "userinfo_endpoint"];

pub fn check(ctx: &Ctx, out: &mut Vec<Finding>) {
    backchannel_redirect(ctx, out);
    let Some(disc) = &ctx.d.discovery else { return };
    if ctx.d.kind != ExchangeKind::Discovery {
        return;
    }
    let url = &disc.fetched_from;
    let derived = url
        .strip_suffix(".well-known/openid-configuration")
        .or_else(|| url.strip_suffix(".well-known/openid-configuration/"));

    // DISC-FETCH-FAILED — Discovery §4: a 200 JSON document or nothing.
    if !(200..300).contains(&disc.status) || !disc.valid_json {
        if (300..400).contains(&disc.status) {
            return; // BACKCHANNEL-REDIRECT says it.
        }
        let mut f = Finding::new(
            "DISC-FETCH-FAILED",
            format!(
                "discovery answered {} {}",
                disc.status,
                if disc.valid_json { "" } else { "without a JSON document" }
            )
            .trim_end()
            .to_owned(),
        )
        .field("discovery")
        .seen(url.clone())
        .mastodon(format!(
            "“{}” in the request phase: the user never reaches authentik",
            if disc.status == 404 { "Not found" } else { "Unknown" }
        ));
        let path = host_path(url).map(|(_, p)| p).unwrap_or_default();
        if path.matches(".well-known/openid-configuration").count() > 1 {
            f = f.hint("`.well-known/openid-configuration` appears twice: OIDC_ISSUER is set to the discovery URL, not the issuer");
        } else if ["/authorize/.well-known", "/token/.well-known", "/userinfo/.well-known"]
            .iter()
            .any(|s| path.contains(s))
        {
            f = f.hint("OIDC_ISSUER is set to an endpoint (authorize/token/userinfo), not the issuer");
        }
        if let Some(d) = derived {
            f = f.expected(format!("a discovery document for issuer {d}"));
        }
        out.push(
            f.why("Mastodon appends /.well-known/openid-configuration to OIDC_ISSUER and needs a 200 JSON answer")
                .fix("set OIDC_ISSUER to the provider's issuer, e.g. https://authentik.company/application/o/<application-slug>/ (authentik shows it as 'OpenID Configuration Issuer' on the provider page); the slug is the application's, not the provider's"),
        );
        return;
    }

    let issuer = disc.issuer.as_deref();
    // DISC-ISSUER-MISMATCH — Discovery §4.1/§4.3. The well-known URL is the issuer with any
    // terminating '/' removed, so the fetched URL cannot tell a trailing slash apart: compare
    // without it (CONFIG-ISSUER-MISMATCH catches the slash against OIDC_ISSUER).
    if let (Some(iss), Some(derived)) = (issuer, derived)
        && iss.trim_end_matches('/') != derived.trim_end_matches('/')
    {
        let global = host_path(iss).is_some_and(|(_, p)| p == "/")
            && host_path(derived).is_some_and(|(_, p)| p != "/");
        let mut f = Finding::new("DISC-ISSUER-MISMATCH", "the discovered issuer is not the URL discovery was fetched from")
            .field("discovery.issuer")
            .evidence(derived, iss)
            .why("OpenID Discovery requires the issuer to equal the URL the document was fetched from; Mastodon compares it byte for byte with OIDC_ISSUER")
            .mastodon("“Issuer mismatch” in the request phase (if OIDC_ISSUER is the fetched URL)");
        f = if global {
            f.fix("authentik provider → Issuer mode is 'Same identifier is used for all providers' (global): switch it to 'Each provider has a different issuer', or set OIDC_DISCOVERY=false with explicit endpoints")
        } else {
            f.fix(super::issuer_fix(derived, iss))
        };
        out.push(f);
    }

    // CONFIG-ISSUER-MISMATCH — what Mastodon will compare.
    match (&ctx.exp.issuer, issuer) {
        (Some(want), Some(iss)) if want != iss => out.push(
            Finding::new("CONFIG-ISSUER-MISMATCH", "OIDC_ISSUER is not the issuer authentik announces")
                .field("OIDC_ISSUER")
                .evidence(iss, want.clone())
                .why("Mastodon's openid_connect gem compares the discovered issuer with OIDC_ISSUER as exact strings")
                .fix(super::issuer_fix(want, iss))
                .mastodon("“Issuer mismatch”: the login stops before reaching authentik"),
        ),
        (None, Some(iss)) => out.push(not_checked("CONFIG-ISSUER-MISMATCH", "pass --expect-issuer or --mastodon-env to compare OIDC_ISSUER", Some(iss))),
        _ => {}
    }

    // DISC-MISSING-FIELD — Discovery §3 and Mastodon's validations.
    for field in MASTODON_REQUIRED.iter().chain(NEEDED_LATER) {
        if !disc.keys.iter().any(|k| k == field) {
            let required = MASTODON_REQUIRED.contains(field);
            out.push(
                Finding::new("DISC-MISSING-FIELD", format!("discovery has no {field}"))
                    .severity(if required { Severity::Error } else { Severity::Warning })
                    .field(format!("discovery.{field}"))
                    .why(if required { "Mastodon's client rejects a discovery document without it" } else { "Mastodon needs it later in the login" })
                    .fix("authentik always serves this field: look for a proxy or cache rewriting /.well-known/openid-configuration")
                    .mastodon(if required { format!("“{field} can't be blank” in the request phase") } else { "fails at the step that needs it".into() }),
            );
        }
    }

    // DISC-INSECURE-ENDPOINT — the request came over TLS, the document says http.
    if ctx.ex.request.scheme == "https" {
        let mut insecure: Vec<(String, String)> = vec![];
        if let Some(i) = issuer.filter(|i| i.starts_with("http://")) {
            insecure.push(("issuer".into(), i.to_owned()));
        }
        for field in ENDPOINT_FIELDS {
            if let Some(u) = disc.endpoint(field).filter(|u| u.starts_with("http://")) {
                insecure.push(((*field).into(), u.to_owned()));
            }
        }
        if let Some((field, url)) = insecure.first() {
            out.push(
                Finding::new("DISC-INSECURE-ENDPOINT", format!("{} discovery URL{} use http:// although discovery came over https", insecure.len(), if insecure.len() == 1 { "" } else { "s" }))
                    .field(format!("discovery.{field}"))
                    .evidence(url.replacen("http://", "https://", 1), url.clone())
                    .why("authentik builds every URL from the request's scheme; behind a TLS proxy it only knows https through X-Forwarded-Proto from a trusted proxy address")
                    .fix("make the proxy in front of authentik send X-Forwarded-Proto: https, and add its address to AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS")
                    .mastodon("“Issuer mismatch” (OIDC_ISSUER is https), or a 301 on the token call reported as “Unknown”"),
            );
        }
    }

    // DISC-ENDPOINT-AUTHORITY — endpoints elsewhere than the issuer.
    if let Some((ih, _)) = issuer.and_then(host_path) {
        for field in ENDPOINT_FIELDS {
            if let Some(u) = disc.endpoint(field)
                && let Some((h, _)) = host_path(u)
                && h != ih
            {
                out.push(
                    Finding::new("DISC-ENDPOINT-AUTHORITY", format!("{field} is on {h}, the issuer on {ih}"))
                        .field(format!("discovery.{field}"))
                        .evidence(ih.clone(), h)
                        .why("authentik builds endpoints from the Host of the discovery request; a different host means some hop rewrote Host or a URL is hard-coded")
                        .fix("forward the original Host on every proxy in front of authentik (and set AUTHENTIK_HOST only to the public name)"),
                );
                break;
            }
        }
    }
}

/// BACKCHANNEL-REDIRECT — rack-oauth2 and openid_connect do not follow redirects.
fn backchannel_redirect(ctx: &Ctx, out: &mut Vec<Finding>) {
    let Some(r) = &ctx.ex.response else { return };
    if !ctx.d.kind.is_back_channel() || !(300..400).contains(&r.status) {
        return;
    }
    use crate::capture::HeaderLookup;
    let loc = r.header("location").unwrap_or("(no Location)").to_owned();
    let url = format!("{}://{}{}", ctx.ex.request.scheme, ctx.ex.request.host, ctx.ex.request.path);
    let slash = !ctx.ex.request.path.split('?').next().unwrap_or("").ends_with('/') && loc.ends_with('/');
    let mut f = Finding::new("BACKCHANNEL-REDIRECT", format!("{} call answered {} → {}", ctx.d.kind.label().to_lowercase(), r.status, crate::redact::redact_url(&loc)))
        .field(format!("{}.status", ctx.d.kind.as_str()))
        .evidence(crate::redact::redact_url(&loc), crate::redact::redact_url(&url))
        .why("Mastodon's OIDC client does not follow redirects on back-channel calls; a non-JSON answer becomes error “Unknown”")
        .mastodon("“Unknown” (or “Not found”) — the login fails at this step");
    f = if slash {
        f.hint("missing trailing slash: Django answers 301 to the URL with '/'").fix("use the endpoint URLs exactly as discovery lists them, with the trailing slash (OIDC_TOKEN_ENDPOINT, OIDC_USER_INFO_ENDPOINT, OIDC_JWKS_URI when OIDC_DISCOVERY=false)")
    } else if url.starts_with("http://") && loc.starts_with("https://") {
        f.hint("http → https redirect").fix("use https:// endpoints (OIDC_ISSUER and the endpoint variables)")
    } else {
        f.fix("remove the redirect (a login wall or WAF in front of authentik's /application/o/ endpoints)")
    };
    out.push(f);
}
