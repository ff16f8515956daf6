//! RFC 6750 §3 / RFC 9110 §11.6.1 `WWW-Authenticate` challenges as providers send them
//! (authentik omits the `Bearer` scheme).

use serde::Serialize;

/// A decoded `WWW-Authenticate` challenge (RFC 6750 §3). authentik omits the `Bearer` scheme.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WwwAuthenticate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl WwwAuthenticate {
    pub fn parse(v: &str) -> WwwAuthenticate {
        let v = v.trim();
        let (scheme, rest) = match v.split_once(' ') {
            Some((first, rest)) if !first.contains('=') => (Some(first.to_owned()), rest),
            _ if !v.contains('=') && !v.is_empty() => (Some(v.to_owned()), ""),
            _ => (None, v),
        };
        let mut out = WwwAuthenticate { scheme, ..Default::default() };
        let mut rest = rest.trim();
        while !rest.is_empty() {
            let Some((k, after)) = rest.split_once('=') else { break };
            let k = k.trim().trim_start_matches(',').trim();
            let after = after.trim_start();
            let (val, remaining) = if let Some(q) = after.strip_prefix('"') {
                let end = q.find('"').unwrap_or(q.len());
                (q[..end].to_owned(), q.get(end + 1..).unwrap_or(""))
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_owned(), &after[end..])
            };
            match k {
                "error" => out.error = Some(val),
                "error_description" => out.error_description = Some(val),
                "scope" => out.scope = Some(val),
                _ => {}
            }
            rest = remaining.trim_start_matches([',', ' ']);
        }
        out
    }
}
