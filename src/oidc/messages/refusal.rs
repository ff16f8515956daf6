//! The provider's refusal pages at the authorize endpoint: it would not redirect at all.

use serde::Serialize;

use crate::capture::ResponseRecord;
use crate::oidc::html;

/// What the provider refused.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// The redirect_uri is not registered (authentik "Redirect URI Error").
    RedirectUri,
    /// The client_id is unknown (authentik "Client ID Error").
    ClientId,
}

/// authentik's (or another provider's) refusal page at the authorize endpoint.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProviderErrorPage {
    pub kind: RefusalKind,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ProviderErrorPage {
    /// Recognises authentik's "Redirect URI Error" / "Client ID Error" pages and
    /// oidc-provider style `invalid_redirect_uri` / `invalid_client` pages and JSON.
    pub fn detect(resp: &ResponseRecord) -> Option<ProviderErrorPage> {
        if !(400..500).contains(&resp.status) {
            return None;
        }
        let text = resp.body.text()?;
        let lower = text.to_ascii_lowercase();
        let (kind, title) = if lower.contains("redirect uri error") {
            (RefusalKind::RedirectUri, "Redirect URI Error")
        } else if lower.contains("client id error") {
            (RefusalKind::ClientId, "Client ID Error")
        } else if lower.contains("invalid_redirect_uri") || lower.contains("redirect_uri did not match") {
            (RefusalKind::RedirectUri, "invalid_redirect_uri")
        } else if lower.contains("invalid_client") || lower.contains("client is invalid") {
            (RefusalKind::ClientId, "invalid_client")
        } else {
            return None;
        };
        let message = text
            .find("<p>")
            .and_then(|i| text[i + 3..].split("</p>").next())
            .map(|m| html::unescape(m.trim()));
        Some(ProviderErrorPage { kind, title: title.into(), message })
    }
}
