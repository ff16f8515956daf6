//! Following a printed fix in the demo: the setting a fix names (a Mastodon variable with the
//! value it prints, an authentik provider field, a gateway flag) applied to the switch of the
//! demo deployment that stands for it. The fault tests hold the advice to it: each fault's
//! fixes, followed as printed, make the next login clean, or the fix is outside the demo's reach
//! (a host's clock, a rewriting proxy, the user's browser) and says so.

use super::provider::{NonceMode, Signing};
use super::rig::Scenario;

/// One thing a fix asks for, as the demo followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The setting was changed in the demo deployment (what, in the fix's own words).
    Applied(String),
    /// What the fix asks for lies outside the demo (NTP, a proxy, the browser).
    OutOfReach(&'static str),
}

/// Applies everything `fix` names to `sc`; empty when it names nothing the demo knows.
pub fn follow(fix: &str, sc: &mut Scenario) -> Vec<Step> {
    let mut steps = vec![];
    mastodon_variables(fix, sc, &mut steps);
    authentik_fields(fix, sc, &mut steps);
    gateway_flags(fix, sc, &mut steps);
    for (marker, what) in OUT_OF_REACH {
        if fix.contains(marker) && !steps.contains(&Step::OutOfReach(what)) {
            steps.push(Step::OutOfReach(what));
        }
    }
    steps
}

/// Words that send the admin outside Mastodon's, authentik's and the gateway's settings.
const OUT_OF_REACH: &[(&str, &str)] = &[
    ("NTP", "a host's clock"),
    ("proxy or WAF", "a rewriting proxy"),
    ("rewriting", "a rewriting proxy"),
    ("rewrites", "a rewriting proxy"),
    ("intermediar", "a rewriting proxy"),
    ("one login at a time", "the user's browser"),
    ("one login per browser", "the user's browser"),
    ("reload", "the user's browser"),
    ("which provider the browser was sent to", "the user's browser"),
    ("what builds this request", "a patched client"),
    ("what delays Mastodon's callback", "Mastodon's load"),
];

/// `OIDC_X=value` as printed (a value up to the next blank, without trailing punctuation),
/// plus the fixes that name a variable and where its value comes from.
fn mastodon_variables(fix: &str, sc: &mut Scenario, steps: &mut Vec<Step>) {
    for (name, value) in assignments(fix) {
        if value.contains('<') {
            continue; // a placeholder: nothing to copy
        }
        let done = match name.as_str() {
            "OIDC_ISSUER" => {
                sc.rp.issuer = value.clone();
                true
            }
            "OIDC_REDIRECT_URI" => {
                sc.rp.redirect_uri = value.clone();
                true
            }
            "OIDC_SCOPE" => {
                sc.rp.scope = value.split(',').map(str::to_owned).collect();
                sc.rp.quirks.omit_openid = !sc.rp.scope.iter().any(|s| s == "openid");
                true
            }
            "OIDC_UID_FIELD" => {
                sc.rp.uid_field = value.clone();
                true
            }
            "OIDC_CLIENT_ID" => {
                sc.rp.client_id = value.clone();
                true
            }
            "OIDC_SECURITY_ASSUME_EMAIL_IS_VERIFIED" => {
                sc.rp.assume_email_verified = value == "true";
                true
            }
            "OIDC_SEND_NONCE" => {
                sc.rp.quirks.omit_nonce = value != "true";
                true
            }
            _ => false,
        };
        if done {
            steps.push(Step::Applied(format!("{name}={value}")));
        }
    }
    if fix.contains("'Client Secret'") && fix.contains("into OIDC_CLIENT_SECRET") {
        sc.rp.client_secret = sc.provider.client_secret.clone();
        steps.push(Step::Applied("OIDC_CLIENT_SECRET = authentik's Client Secret".into()));
    }
    if fix.contains("OIDC_CLIENT_ID = ") && fix.contains("Client ID") {
        sc.rp.client_id = sc.provider.client_id.clone();
        steps.push(Step::Applied("OIDC_CLIENT_ID = authentik's Client ID".into()));
    }
    if fix.contains("restart Mastodon after editing .env.production")
        && let Some(id) = sc.env.client_id.take()
    {
        // The file names the provider that was recreated: the demo's one provider stands for it.
        sc.rp.client_id = id.clone();
        sc.provider.client_id = id;
        steps.push(Step::Applied("Mastodon restarted with .env.production's OIDC_CLIENT_ID".into()));
    }
    if fix.contains("keep OIDC_REDIRECT_URI unchanged between phases") {
        sc.rp.quirks.token_redirect_uri = None;
        steps.push(Step::Applied("the same redirect_uri in both phases".into()));
    }
    if fix.contains("OIDC_TOKEN_ENDPOINT") && fix.contains("trailing slash") {
        sc.provider.faults.token_endpoint_no_slash = false;
        steps.push(Step::Applied("endpoint URLs with their trailing slash".into()));
    }
    if fix.contains("OIDC_JWKS_URI") && fix.contains("JWKS of this application")
        || fix.contains("leave OIDC_JWKS_URI alone")
    {
        // The demo's unknown kid stands for keys read from another application's JWKS.
        sc.provider.faults.id_token_kid = None;
        steps.push(Step::Applied("OIDC_JWKS_URI = this application's JWKS".into()));
    }
    if fix.contains("use S256") {
        sc.rp.quirks.pkce_plain = false;
        steps.push(Step::Applied("PKCE S256".into()));
    }
}

/// The provider's fields in authentik's admin interface.
fn authentik_fields(fix: &str, sc: &mut Scenario, steps: &mut Vec<Step>) {
    let f = &mut sc.provider.faults;
    let mut applied = |what: &str| steps.push(Step::Applied(format!("authentik: {what}")));
    if let Some(uri) = after(fix, "Redirect URIs: exactly ") {
        sc.provider.redirect_uris = vec![uri.clone()];
        applied(&format!("Redirect URIs = {uri}"));
    }
    if fix.contains("Signing Key: select a certificate") || fix.contains("Signing Key: an RSA") {
        f.signing = Signing::default();
        applied("Signing Key = a certificate");
    }
    if fix.contains("Encryption Key: clear it") {
        f.signing = Signing::default();
        applied("Encryption Key cleared");
    }
    if let Some(scope) = after(fix, "Scopes: select the mapping for ") {
        f.scope_drop.retain(|s| *s != scope);
        applied(&format!("Scopes += the {scope} mapping"));
    }
    if fix.contains("Scopes: add “authentik default OAuth Mapping: OpenID 'openid'”") {
        f.scope_drop.retain(|s| s != "openid");
        applied("Scopes += the openid mapping");
    }
    if fix.contains("'Access code validity'") {
        f.code_lifetime_s = None;
        applied("Access code validity = its default");
    }
    if fix.contains("Bindings: bind the user's group") {
        f.authorize_error = None;
        f.deny_in_flow = false;
        applied("a binding for the user's group");
    }
    for claim in ["aud", "azp", "nonce"] {
        if fix.contains(&format!("mappings that set {claim}")) {
            match claim {
                "aud" => f.id_token_aud = None,
                "azp" => f.id_token_azp = None,
                _ => f.nonce = NonceMode::default(),
            }
            applied(&format!("no mapping sets {claim}"));
        }
    }
    if fix.contains("mappings that override sub") {
        f.userinfo_claims.remove("sub");
        applied("no mapping overrides sub");
    }
    if fix.contains("mappings that remove claims") || fix.contains("mappings that override or remove claims")
    {
        f.drop_claims.clear();
        f.nonce = NonceMode::default();
        applied("no mapping removes claims");
    }
    if fix.contains("they must return the type OpenID Connect defines") {
        f.claims.retain(|k, _| !["iss", "sub", "aud", "exp", "iat"].contains(&k.as_str()));
        applied("mappings return the claims' types");
    }
    if fix.contains("include claims in id_token") {
        f.userinfo_claims.clear();
        applied("Include claims in id_token");
    }
    if fix.contains("email scope mapping returning email_verified true") {
        f.claims.insert("email_verified".into(), true.into());
        applied("email_verified true");
    }
    if fix.contains("give the user an email") {
        f.claims.remove("email");
        applied("the user's email");
    }
    if fix.contains("X-Forwarded-Proto: https") {
        f.http_urls = false;
        f.id_token_iss = None;
        applied("X-Forwarded-Proto: https from the proxy");
    }
    if fix.contains("forward the original Host") {
        f.endpoint_host = None;
        applied("the original Host forwarded");
    }
    if fix.contains("give every JWKS key a distinct kid") {
        f.duplicate_kid = false;
        applied("distinct kids");
    }
}

/// The gateway's own flags.
fn gateway_flags(fix: &str, sc: &mut Scenario, steps: &mut Vec<Step>) {
    if fix.contains("--upstream/--connect-to right") {
        sc.gateway.authentik_unreachable = false;
        steps.push(Step::Applied("--connect-to to authentik's address".into()));
    }
}

/// Every `OIDC_NAME=value` in the text.
fn assignments(fix: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut rest = fix;
    while let Some(i) = rest.find("OIDC_") {
        let tail = &rest[i..];
        let name_len = tail.find(|c: char| !(c.is_ascii_uppercase() || c == '_')).unwrap_or(tail.len());
        let (name, after) = tail.split_at(name_len);
        if let Some(v) = after.strip_prefix('=') {
            let value = v.split_whitespace().next().unwrap_or("").trim_end_matches([',', ';', ')', '.']);
            out.push((name.to_owned(), value.to_owned()));
        }
        rest = &tail[name_len..];
    }
    out
}

/// The word after `marker` (up to a blank or a closing parenthesis).
fn after(text: &str, marker: &str) -> Option<String> {
    let i = text.find(marker)?;
    let v = text[i + marker.len()..].split_whitespace().next()?.trim_end_matches([',', ';', ')']);
    (!v.is_empty()).then(|| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_are_read_as_printed() {
        assert_eq!(
            assignments(
                "set OIDC_ISSUER=https://a/o/m/ in .env.production, OIDC_SCOPE=openid,profile,email)"
            ),
            [
                ("OIDC_ISSUER".to_owned(), "https://a/o/m/".to_owned()),
                ("OIDC_SCOPE".to_owned(), "openid,profile,email".to_owned())
            ]
        );
        let mut sc = Scenario::clean();
        sc.rp.issuer = "x".into();
        let steps = follow(
            "set OIDC_ISSUER=https://authentik.test/application/o/mastodon/ in .env.production",
            &mut sc,
        );
        assert_eq!(
            steps,
            [Step::Applied("OIDC_ISSUER=https://authentik.test/application/o/mastodon/".into())]
        );
        assert_eq!(sc.rp.issuer, Scenario::clean().rp.issuer);
        assert_eq!(follow("OIDC_REDIRECT_URI=https://<WEB_DOMAIN>/cb", &mut sc), []);
        assert_eq!(follow("run NTP on both hosts", &mut sc), [Step::OutOfReach("a host's clock")]);
    }
}
