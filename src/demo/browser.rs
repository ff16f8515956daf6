//! A scripted browser: clicks "Log in with authentik" on Mastodon and follows the redirects
//! (and authentik's flow executor) through the gateway, keeping Mastodon's session cookie.

use std::collections::HashMap;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use serde_json::Value;

use super::http::{Body, send};
use crate::proxy::upstream::UpstreamClient;

const UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

pub struct Browser {
    client: UpstreamClient<Body>,
    /// Per origin, cookie name → `name=value` (a real Mastodon sets several).
    cookies: HashMap<String, std::collections::BTreeMap<String, String>>,
    /// Stop at authentik's login page (the user gives up, or starts over).
    pub abandon_in_flow: bool,
}

/// What the user types into authentik's flow (a secret the trace must never show).
pub const PASSWORD: &str = "correct horse battery staple";

/// Where the browser ended up.
#[derive(Debug, Clone, Default)]
pub struct BrowserResult {
    /// Every URL visited, in order.
    pub visited: Vec<String>,
    /// Status of the last response.
    pub last_status: u16,
    /// Where the last redirect pointed (if the last response was a redirect).
    pub final_location: Option<String>,
    /// The browser could not load the last URL (wrong scheme, unknown host, ...).
    pub error: Option<String>,
}

fn origin_of(url: &str) -> &str {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

impl Browser {
    pub fn new(client: UpstreamClient<Body>) -> Browser {
        Browser { client, cookies: HashMap::new(), abandon_in_flow: false }
    }

    async fn go(
        &mut self,
        method: &str,
        url: &str,
        body: &str,
        accept_json: bool,
    ) -> Result<(u16, Option<String>, Bytes), String> {
        let host = origin_of(url).to_owned();
        let mut b = Request::builder().method(method).uri(url).header("user-agent", UA);
        if let Some(c) = self.cookies.get(&host).filter(|c| !c.is_empty()) {
            b = b.header("cookie", c.values().cloned().collect::<Vec<_>>().join("; "));
        }
        if method == "POST" {
            let ct =
                if body.starts_with('{') { "application/json" } else { "application/x-www-form-urlencoded" };
            b = b.header("content-type", ct).header("content-length", body.len());
        }
        if accept_json {
            b = b.header("accept", "application/json");
        }
        let req = b.body(Full::new(Bytes::from(body.to_owned()))).map_err(|e| e.to_string())?;
        let (parts, body) = send(&self.client, req).await?;
        for sc in parts.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            if let Some(pair) = sc.split(';').next() {
                let name = pair.split('=').next().unwrap_or("").trim().to_owned();
                self.cookies.entry(host.clone()).or_default().insert(name, pair.trim().to_owned());
            }
        }
        let loc = parts
            .headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(|l| if l.starts_with('/') { format!("{host}{l}") } else { l.to_owned() });
        Ok((parts.status.as_u16(), loc, body))
    }

    /// The whole front-channel login, starting at Mastodon's SSO button.
    pub async fn login(&mut self, mastodon: &str) -> Result<BrowserResult, String> {
        self.login_from(
            mastodon,
            format!("{mastodon}/auth/auth/openid_connect"),
            "authenticity_token=demo".into(),
        )
        .await
    }

    /// A login that starts at a real relying party's sign-in page (`login_url`, e.g. Mastodon's
    /// `/auth/sign_in`): its form that posts to `/auth/auth/openid_connect`, with the CSRF
    /// token the page carries (Rails' `authenticity_token`), then as [`Browser::login`].
    pub async fn login_at(&mut self, login_url: &str) -> Result<BrowserResult, String> {
        let origin = origin_of(login_url).to_owned();
        let (status, _, page) = self.go("GET", login_url, "", false).await?;
        if status != 200 {
            return Err(format!("{login_url} answered {status}, not a sign-in page"));
        }
        let page = String::from_utf8_lossy(&page);
        let action = sso_form_action(&page)
            .ok_or_else(|| format!("{login_url} has no form posting to /auth/auth/openid_connect"))?;
        let url = if action.starts_with('/') { format!("{origin}{action}") } else { action };
        let body = match csrf_token(&page) {
            Some(t) => format!(
                "authenticity_token={}",
                form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
            ),
            None => String::new(),
        };
        self.login_from(&origin, url, body).await
    }

    async fn login_from(
        &mut self,
        mastodon: &str,
        first: String,
        first_body: String,
    ) -> Result<BrowserResult, String> {
        let mut visited = vec![];
        let mut url = first;
        let mut method = "POST";
        let mut body = first_body.as_str();
        for _ in 0..8 {
            visited.push(url.clone());
            let (status, loc, resp_body) = match self.go(method, &url, body, false).await {
                Ok(r) => r,
                Err(e) => {
                    return Ok(BrowserResult {
                        visited,
                        last_status: 0,
                        final_location: None,
                        error: Some(e),
                    });
                }
            };
            method = "GET";
            body = "";
            let next = match loc {
                Some(l) if (300..400).contains(&status) => l,
                _ => {
                    return Ok(BrowserResult {
                        visited,
                        last_status: status,
                        final_location: None,
                        error: None,
                    });
                }
            };
            let _ = resp_body;
            // authentik's SPA: the flow page loads, then calls the executor API, which answers
            // a stage challenge (JSON) per step until it redirects.
            if let Some(rest) = next.split_once("/if/flow/").map(|(_, r)| r) {
                visited.push(next.clone());
                self.go("GET", &next, "", false).await?;
                if self.abandon_in_flow {
                    return Ok(BrowserResult {
                        visited,
                        last_status: 200,
                        final_location: None,
                        error: None,
                    });
                }
                let (flow, query) = rest.split_once("/?").unwrap_or((rest.trim_end_matches('/'), ""));
                let api = format!(
                    "{}/api/v3/flows/executor/{flow}/?query={}",
                    origin_of(&next),
                    form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
                );
                visited.push(api.clone());
                let (_, _, mut json) = self.go("GET", &api, "", true).await?;
                for _ in 0..6 {
                    let v: Value = serde_json::from_slice(&json).unwrap_or(Value::Null);
                    let answer = match v["component"].as_str() {
                        Some("ak-stage-identification") => {
                            r#"{"component":"ak-stage-identification","uid_field":"alice"}"#.to_owned()
                        }
                        Some("ak-stage-password") => {
                            serde_json::json!({"component": "ak-stage-password", "password": PASSWORD})
                                .to_string()
                        }
                        Some("ak-stage-consent") => r#"{"component":"ak-stage-consent"}"#.to_owned(),
                        _ => break,
                    };
                    json = self.go("POST", &api, &answer, true).await?.2;
                }
                let v: Value = serde_json::from_slice(&json).unwrap_or(Value::Null);
                match v["to"].as_str() {
                    Some(to) => {
                        url = to.to_owned();
                        continue;
                    }
                    None => {
                        return Ok(BrowserResult {
                            visited,
                            last_status: 200,
                            final_location: None,
                            error: None,
                        });
                    }
                }
            }
            // The relying party's callback (Mastodon's route, or any carrying the authorization
            // response: another application's, `demo --rp`) is followed.
            let callback = next.contains("/auth/auth/openid_connect/callback")
                || url::Url::parse(&next)
                    .is_ok_and(|u| u.query_pairs().any(|(k, _)| k == "state" || k == "code" || k == "error"));
            if next.starts_with(mastodon) && !callback {
                // Where Mastodon sends the browser after its callback: the end of the login.
                visited.push(next.clone());
                return Ok(BrowserResult {
                    visited,
                    last_status: status,
                    final_location: Some(next),
                    error: None,
                });
            }
            url = next;
        }
        Err("too many redirects".into())
    }
}

/// The `action` of the form that starts the OIDC login (`/auth/auth/openid_connect`, or
/// another omniauth mount's).
fn sso_form_action(page: &str) -> Option<String> {
    page.match_indices("<form").find_map(|(i, _)| {
        let tag = &page[i..i + page[i..].find('>')?];
        let action = attr(tag, "action")?;
        // Mastodon's /auth/auth/openid_connect, GitLab's /users/auth/openid_connect.
        (action.contains("/auth/") && action.contains("openid_connect")).then(|| action.replace("&amp;", "&"))
    })
}

/// Rails' CSRF token: `<meta name="csrf-token" content=…>` or the form's hidden input.
fn csrf_token(page: &str) -> Option<String> {
    for (i, _) in page.match_indices('<') {
        let Some(end) = page[i..].find('>') else { break };
        let tag = &page[i..i + end];
        let named = |n: &str| attr(tag, "name").as_deref() == Some(n);
        let is_token = tag.starts_with("<meta") && named("csrf-token")
            || tag.starts_with("<input") && named("authenticity_token");
        if is_token && let Some(v) = attr(tag, "content").or_else(|| attr(tag, "value")) {
            return Some(v);
        }
    }
    None
}

/// The value of `name="…"` (or `'…'`) in one tag.
fn attr(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}="))? + name.len() + 2;
    let rest = &tag[at..];
    let q = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let v = &rest[1..];
    Some(v[..v.find(q)?].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mastodons_sso_form_and_its_csrf_token() {
        let page = r#"<html><head><meta name="csrf-token" content="tok+en/=="></head><body>
            <form class="simple_form" action="/auth/sign_in" method="post"><input name="authenticity_token" value="other"></form>
            <form class="button_to" method="post" action="/auth/auth/openid_connect"><button>authentik</button></form></body></html>"#;
        assert_eq!(sso_form_action(page).as_deref(), Some("/auth/auth/openid_connect"));
        assert_eq!(csrf_token(page).as_deref(), Some("tok+en/=="));
        assert_eq!(sso_form_action("<form action='/x'>"), None);
        assert_eq!(csrf_token("<input name='authenticity_token' value='v'>").as_deref(), Some("v"));
    }
}
