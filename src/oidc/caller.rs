//! Who made a request, from its User-Agent: Mastodon's OIDC stack announces itself per hop
//! (SWD for discovery, rack-oauth2 for the token call, openid_connect for JWKS, the access
//! token client for userinfo), the gateway's own fetches say `oidc-tap`, browsers `Mozilla`.

use serde::{Serialize, Serializer};

use crate::capture::{HeaderLookup, RequestRecord};

/// The client an exchange came from, as far as its User-Agent tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    MastodonSwd,
    MastodonUserinfo,
    MastodonRackOauth2,
    MastodonOpenidConnect,
    /// The gateway itself (its JWKS fetch).
    Gateway,
    Browser,
}

impl Caller {
    /// The journal's `caller` and the console's label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Caller::MastodonSwd => "Mastodon, SWD",
            Caller::MastodonUserinfo => "Mastodon, userinfo client",
            Caller::MastodonRackOauth2 => "Mastodon, rack-oauth2",
            Caller::MastodonOpenidConnect => "Mastodon, openid_connect",
            Caller::Gateway => "oidc-tap",
            Caller::Browser => "browser",
        }
    }
}

impl Caller {
    /// The part of the omniauth stack that called (`SWD`, `rack-oauth2`, …), for a label that
    /// names the application running it (GitLab runs Mastodon's stack); `None`: not that stack.
    pub const fn omniauth_part(self) -> Option<&'static str> {
        match self {
            Caller::MastodonSwd => Some("SWD"),
            Caller::MastodonUserinfo => Some("userinfo client"),
            Caller::MastodonRackOauth2 => Some("rack-oauth2"),
            Caller::MastodonOpenidConnect => Some("openid_connect"),
            Caller::Gateway | Caller::Browser => None,
        }
    }
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Caller {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Who made a request, from its User-Agent.
pub fn caller(req: &RequestRecord) -> Option<Caller> {
    let ua = req.header("user-agent")?;
    Some(if ua.starts_with("SWD") {
        Caller::MastodonSwd
    } else if ua.starts_with("Rack::OAuth2::AccessToken") || ua.starts_with("OpenIDConnect::AccessToken") {
        Caller::MastodonUserinfo
    } else if ua.starts_with("Rack::OAuth2") {
        Caller::MastodonRackOauth2
    } else if ua.starts_with("OpenIDConnect") {
        Caller::MastodonOpenidConnect
    } else if ua.starts_with("oidc-tap") {
        Caller::Gateway
    } else if ua.starts_with("Mozilla") {
        Caller::Browser
    } else {
        return None;
    })
}
