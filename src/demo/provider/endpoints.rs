//! The provider's endpoints other than token: discovery, JWKS, authorize (with authentik's
//! error pages and flow-executor delivery), the flow executor itself, and userinfo.

use http::Response;
use serde_json::{Map, Value, json};

use super::faults::{DupPlace, with_duplicates};
use super::{CodeInfo, Provider, Signing, html_error};
use crate::clock::now_s;
use crate::demo::http::{Body, Req, get, json as json_resp, random_hex, redirect, respond};

impl Provider {
    pub(super) fn discovery(&self, req: &Req) -> Response<Body> {
        let st = self.lock();
        let f = &st.cfg.faults;
        if let Some(s) = f.discovery_status {
            return respond(s, "text/html", "<html><body>Not Found</body></html>");
        }
        let real_issuer = self.issuer(req, &st);
        let origin = match &f.endpoint_host {
            Some(h) => format!("https://{h}"),
            None => self.origin(req, &st),
        };
        let algs = f.advertised_algs.clone().unwrap_or_else(|| vec![f.signing.alg_name().to_owned()]);
        let token_ep = if f.token_endpoint_no_slash {
            format!("{origin}/application/o/token")
        } else {
            format!("{origin}/application/o/token/")
        };
        let built = json!({
            "issuer": f.discovery_issuer.clone().unwrap_or(real_issuer.clone()),
            "authorization_endpoint": format!("{origin}/application/o/authorize/"),
            "token_endpoint": token_ep,
            "userinfo_endpoint": format!("{origin}/application/o/userinfo/"),
            "end_session_endpoint": format!("{real_issuer}end-session/"),
            "introspection_endpoint": format!("{origin}/application/o/introspect/"),
            "revocation_endpoint": format!("{origin}/application/o/revoke/"),
            "response_types_supported": ["code", "id_token", "id_token token", "code token", "code id_token", "code id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "jwks_uri": format!("{real_issuer}jwks/"),
            "grant_types_supported": ["authorization_code", "refresh_token", "implicit"],
            "id_token_signing_alg_values_supported": algs,
            "subject_types_supported": ["public"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "email", "email_verified", "name", "given_name", "preferred_username", "nickname", "groups"],
            "code_challenge_methods_supported": ["plain", "S256"],
        });
        let mut doc = f.discovery_doc.clone().map(Value::Object).unwrap_or(built);
        if let Value::Object(m) = &mut doc {
            for k in &f.discovery_drop {
                m.remove(k);
            }
            for (k, v) in &f.discovery_set {
                m.insert(k.clone(), v.clone());
            }
        }
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        let text = with_duplicates(text, DupPlace::Discovery, &f.duplicates);
        respond(200, "application/json", text)
    }

    pub(super) fn jwks(&self) -> Response<Body> {
        let st = self.lock();
        let f = &st.cfg.faults;
        if let Some(status) = f.jwks_status {
            return json_resp(status, &json!({ "detail": "A server error occurred." }));
        }
        let mut keys: Vec<Value> = match &f.jwks_publish {
            Some(list) => list.iter().filter_map(|s| s.jwk()).collect(),
            None => f.signing.jwk().into_iter().collect(),
        };
        if f.duplicate_kid
            && let Some(k) = keys.first().cloned()
        {
            // A second key under the same kid (the other RSA key).
            let mut other = Signing::Rs256Rotated.jwk().unwrap_or(k.clone());
            other["kid"] = k["kid"].clone();
            keys.push(other);
        }
        let mut r = if keys.is_empty() {
            json_resp(200, &json!({}))
        } else {
            json_resp(200, &json!({ "keys": keys }))
        };
        r.headers_mut().insert("access-control-allow-origin", http::HeaderValue::from_static("*"));
        r
    }

    pub(super) fn authorize(&self, req: &Req) -> Response<Body> {
        let q = req.query_pairs();
        let mut st = self.lock();
        if get(&q, "client_id") != Some(st.cfg.client_id.as_str()) {
            return html_error("Client ID Error", "The client identifier (client_id) is missing or invalid.");
        }
        let Some(redirect_uri) = get(&q, "redirect_uri")
            .filter(|r| st.cfg.redirect_uris.iter().any(|u| u == r))
            .map(str::to_owned)
        else {
            return html_error(
                "Redirect URI Error",
                "The request fails due to a missing, invalid, or mismatching redirection URI (redirect_uri).",
            );
        };
        let state = get(&q, "state").map(str::to_owned);
        let f = st.cfg.faults.clone();
        let sep = if redirect_uri.contains('?') { '&' } else { '?' };
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let state_out = f.state_override.clone().or(state);
        let state_param = state_out
            .as_deref()
            .map(|s| format!("&state={}", f.state_tamper.map(|t| t.apply(s)).unwrap_or_else(|| enc(s))))
            .unwrap_or_default();
        if let Some(err) = &f.authorize_error {
            return redirect(
                302,
                &format!(
                    "{redirect_uri}{sep}error={}&error_description={}{state_param}",
                    enc(err),
                    enc("The request was refused")
                ),
            );
        }
        let code = random_hex();
        let challenge = get(&q, "code_challenge")
            .map(|c| (c.to_owned(), get(&q, "code_challenge_method").unwrap_or("plain").to_owned()));
        st.codes.insert(
            code.clone(),
            CodeInfo {
                nonce: get(&q, "nonce").map(str::to_owned),
                scope: get(&q, "scope").unwrap_or("").to_owned(),
                challenge,
                issued: now_s(),
                used: false,
            },
        );
        let iss = f.iss_param.as_deref().map(|i| format!("&iss={}", enc(i))).unwrap_or_default();
        let target = format!("{redirect_uri}{sep}code={code}{state_param}{iss}");
        if f.executor {
            let flow_query = req.query.clone();
            st.executor.insert(flow_query.clone(), (target, 0));
            let mut r = redirect(
                302,
                &format!("/if/flow/default-provider-authorization-implicit-consent/?{flow_query}"),
            );
            if req.header("cookie").is_none_or(|c| !c.contains("authentik_session=")) {
                let cookie =
                    format!("authentik_session={}; Path=/; HttpOnly; Secure; SameSite=None", random_hex());
                if let Ok(v) = cookie.parse() {
                    r.headers_mut().insert(http::header::SET_COOKIE, v);
                }
            }
            return r;
        }
        redirect(302, &target)
    }

    pub(super) fn executor(&self, req: &Req) -> Response<Body> {
        let q = req.query_pairs();
        let flow_query = get(&q, "query").unwrap_or("").to_owned();
        let mut st = self.lock();
        if st.cfg.faults.deny_in_flow {
            return json_resp(
                200,
                &json!({"component": "ak-stage-access-denied", "error_message": "Request has been denied."}),
            );
        }
        let stages: &[&str] = if st.cfg.faults.flow_stages {
            &["ak-stage-identification", "ak-stage-password", "ak-stage-consent"]
        } else {
            &[]
        };
        let Some((to, passed)) = st.executor.get_mut(&flow_query) else {
            return json_resp(
                200,
                &json!({"component": "ak-stage-access-denied", "error_message": "no pending authorization"}),
            );
        };
        // A POST answers the current stage (the password stage wants a non-empty password).
        if req.method == http::Method::POST {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let ok = match stages.get(*passed) {
                Some(&"ak-stage-password") => body["password"].as_str().is_some_and(|p| !p.is_empty()),
                _ => true,
            };
            if ok {
                *passed += 1;
            }
        }
        match stages.get(*passed) {
            Some(stage) => {
                json_resp(200, &json!({"component": stage, "flow_info": {"title": "Welcome to authentik!"}}))
            }
            None => json_resp(200, &json!({"component": "xak-flow-redirect", "to": to})),
        }
    }

    pub(super) fn userinfo(&self, req: &Req) -> Response<Body> {
        let st = self.lock();
        let f = &st.cfg.faults;
        let challenge = |status: u16, error: &str, desc: &str| {
            let mut r = respond(status, "text/html; charset=utf-8", "");
            if let Ok(v) = format!("error=\"{error}\", error_description=\"{desc}\"").parse() {
                r.headers_mut().insert("www-authenticate", v);
            }
            r
        };
        if let Some(s) = f.userinfo_status {
            let (error, desc) = f.userinfo_challenge.clone().unwrap_or((
                "invalid_token".into(),
                "The access token provided is expired, revoked, malformed, or invalid for other reasons"
                    .into(),
            ));
            return challenge(s, &error, &desc);
        }
        let token = req.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
        let Some(info) = st.tokens.get(token) else {
            return challenge(
                401,
                "invalid_token",
                "The access token provided is expired, revoked, malformed, or invalid for other reasons",
            );
        };
        if info.exp < now_s() {
            return challenge(401, "invalid_token", "The access token provided is expired");
        }
        if !info.scope.split_whitespace().any(|s| s == "openid") {
            return challenge(
                403,
                "insufficient_scope",
                "The request requires higher privileges than provided by the access token",
            );
        }
        let mut m = Map::new();
        m.insert("sub".into(), self.sub(&st).into());
        m.append(&mut self.user_claims(&st, &info.scope));
        if let Some(recorded) = &f.userinfo_body {
            m = recorded.clone();
        }
        for (k, v) in &f.userinfo_claims {
            m.insert(k.clone(), v.clone());
        }
        for k in &f.drop_claims {
            m.remove(k);
        }
        let text = serde_json::to_string(&Value::Object(m)).unwrap_or_default();
        respond(200, "application/json", with_duplicates(text, DupPlace::Userinfo, &f.duplicates))
    }
}
