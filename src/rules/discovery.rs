//! Discovery document checks (OpenID Connect Discovery 1.0 §3, §4) and Mastodon's own checks
//! of it (openid_connect `discovery/provider/config/response.rb`).

use super::{Ctx, Finding, RuleId, Severity};
use crate::oidc::ExchangeKind;
use crate::oidc::classify::host_path;
use crate::oidc::messages::Endpoint;

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
            RuleId::DiscFetchFailed,
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
            f = f.hint("`.well-known/openid-configuration` appears twice: ⟨issuer⟩ is set to the discovery URL, not the issuer");
            if let Some(i) = url.find(".well-known/openid-configuration") {
                let issuer = format!("{}/", url[..i].trim_end_matches('/'));
                f = f.fix(format!(
                    "set ⟨issuer⟩={issuer} in ⟨config⟩ (the issuer, not the discovery URL; ⟨apply⟩)"
                ));
            }
        } else if ["/authorize/.well-known", "/token/.well-known", "/userinfo/.well-known"]
            .iter()
            .any(|s| path.contains(s))
        {
            f = f.hint("⟨issuer⟩ is set to an endpoint (authorize/token/userinfo), not the issuer");
        }
        if let Some(d) = derived {
            f = f.expected(format!("a discovery document for issuer {d}"));
        }
        out.push(
            f.why("⟨app⟩ appends /.well-known/openid-configuration to ⟨issuer⟩ and needs a 200 JSON answer"),
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
        let mut f = Finding::new(RuleId::DiscIssuerMismatch, "the discovered issuer is not the URL discovery was fetched from")
            .field("discovery.issuer")
            .evidence(derived, iss)
            .why("OpenID Discovery requires the issuer to equal the URL the document was fetched from; ⟨app⟩ compares it byte for byte with ⟨issuer⟩")
            .mastodon("“Issuer mismatch” in the request phase (if ⟨issuer⟩ is the fetched URL)");
        f = if global {
            f.fix("authentik provider → Issuer mode is 'Same identifier is used for all providers' (global): switch it to 'Each provider has a different issuer', or set ⟨discovery⟩=false with explicit endpoints")
        } else {
            f.fix(super::issuer_fix(derived, iss))
        };
        out.push(f);
    }

    // DISC-FIELD-TYPE — Discovery §3: a field of the wrong type is read as absent.
    for (field, expected, seen) in &disc.wrong_types {
        out.push(
            Finding::new(RuleId::DiscFieldType, format!("discovery's {field} is not {expected}"))
                .field(format!("discovery.{field}"))
                .expected(expected.clone())
                .seen(seen.clone())
                .why("⟨app⟩'s client validates the document's types and refuses it; oidc-tap reads the field as absent")
                .mastodon("fails in the request phase (“Unknown” or a validation error)"),
        );
    }

    // DISC-MISSING-FIELD — Discovery §3 and Mastodon's validations.
    for field in MASTODON_REQUIRED.iter().chain(NEEDED_LATER) {
        if !disc.keys.iter().any(|k| k == field) {
            let required = MASTODON_REQUIRED.contains(field);
            out.push(
                Finding::new(RuleId::DiscMissingField, format!("discovery has no {field}"))
                    .severity(if required { Severity::Error } else { Severity::Warning })
                    .field(format!("discovery.{field}"))
                    .why(if required {
                        "⟨app⟩'s client rejects a discovery document without it"
                    } else {
                        "⟨app⟩ needs it later in the login"
                    })
                    .mastodon(if required {
                        format!("“{field} can't be blank” in the request phase")
                    } else {
                        "fails at the step that needs it".into()
                    }),
            );
        }
    }

    // DISC-INSECURE-ENDPOINT — the request came over TLS, the document says http.
    if ctx.ex.request.scheme == "https" {
        let mut insecure: Vec<(String, String)> = vec![];
        if let Some(i) = issuer.filter(|i| i.starts_with("http://")) {
            insecure.push(("issuer".into(), i.to_owned()));
        }
        for e in Endpoint::ALL {
            if let Some(u) = disc.endpoint(e).filter(|u| u.starts_with("http://")) {
                insecure.push((e.field().into(), u.to_owned()));
            }
        }
        if let Some((field, url)) = insecure.first() {
            out.push(
                Finding::new(RuleId::DiscInsecureEndpoint, format!("{} discovery URL{} use http:// although discovery came over https", insecure.len(), if insecure.len() == 1 { "" } else { "s" }))
                    .field(format!("discovery.{field}"))
                    .evidence(url.replacen("http://", "https://", 1), url.clone())
                    .why("authentik builds every URL from the request's scheme; behind a TLS proxy it only knows https through X-Forwarded-Proto from a trusted proxy address")
                    .mastodon("“Issuer mismatch” (⟨issuer⟩ is https), or a 301 on the token call reported as “Unknown”"),
            );
        }
    }

    // DISC-ENDPOINT-AUTHORITY — endpoints elsewhere than the issuer.
    if let Some((ih, _)) = issuer.and_then(host_path) {
        for e in Endpoint::ALL {
            let field = e.field();
            if let Some(u) = disc.endpoint(e)
                && let Some((h, _)) = host_path(u)
                && h != ih
            {
                out.push(
                    Finding::new(RuleId::DiscEndpointAuthority, format!("{field} is on {h}, the issuer on {ih}"))
                        .field(format!("discovery.{field}"))
                        .evidence(ih.clone(), h)
                        .why("authentik builds endpoints from the Host of the discovery request; a different host means some hop rewrote Host or a URL is hard-coded")
                );
                break;
            }
        }
    }
}
