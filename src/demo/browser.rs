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
    cookies: HashMap<String, String>,
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
        if let Some(c) = self.cookies.get(&host) {
            b = b.header("cookie", c.as_str());
        }
        if method == "POST" {
            let ct =
                if body.starts_with('{') { "application/json" } else { "application/x-www-form-urlencoded" };
            b = b.header("content-type", ct);
        }
        if accept_json {
            b = b.header("accept", "application/json");
        }
        let req = b.body(Full::new(Bytes::from(body.to_owned()))).map_err(|e| e.to_string())?;
        let (parts, body) = send(&self.client, req).await?;
        for sc in parts.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            if let Some(pair) = sc.split(';').next() {
                self.cookies.insert(host.clone(), pair.to_owned());
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
        let mut visited = vec![];
        let mut url = format!("{mastodon}/auth/auth/openid_connect");
        let mut method = "POST";
        let mut body = "authenticity_token=demo";
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
            if next.starts_with(mastodon) && !next.contains("/auth/auth/openid_connect/callback") {
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
