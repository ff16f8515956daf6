//! Who made a request, from its User-Agent: Mastodon's OIDC stack announces itself per hop.

use crate::capture::{HeaderLookup, RequestRecord};

/// Who made a request, from its User-Agent: Mastodon's OIDC stack announces itself per hop.
pub fn caller(req: &RequestRecord) -> Option<&'static str> {
    let ua = req.header("user-agent")?;
    Some(if ua.starts_with("SWD") {
        "Mastodon, SWD"
    } else if ua.starts_with("Rack::OAuth2::AccessToken") || ua.starts_with("OpenIDConnect::AccessToken") {
        "Mastodon, userinfo client"
    } else if ua.starts_with("Rack::OAuth2") {
        "Mastodon, rack-oauth2"
    } else if ua.starts_with("OpenIDConnect") {
        "Mastodon, openid_connect"
    } else if ua.starts_with("oidc-tap") {
        "oidc-tap"
    } else if ua.starts_with("Mozilla") {
        "browser"
    } else {
        return None;
    })
}
