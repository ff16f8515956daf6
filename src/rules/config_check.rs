//! `check-config`'s judgement, without I/O: a Mastodon `.env.production` (as its dotenv reads
//! it), then what discovery and the JWKS answered, turned into findings that each name the
//! variable to change. The command fetches; this decides.

use serde_json::Value;

use super::RuleId;
use super::finding::{Finding, Severity};
use crate::dotenv::{EnvFile, Level, Lint};

/// What one outbound GET gave.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: String,
    pub result: Result<(u16, Vec<u8>), FetchFailure>,
}

/// Why a GET got no answer, phrased by what fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// The certificate is not trusted (or does not cover the name).
    Untrusted(String),
    /// Refused, no route, or the name does not resolve.
    Unreachable(String),
    Timeout,
    Other(String),
}

/// What the file says for Mastodon's login, one line per variable as Mastodon's dotenv reads it
/// (`line 9  OIDC_CLIENT_SECRET  (secret, 4 characters)`): the values every finding is about.
pub fn as_read(env: &EnvFile) -> Vec<String> {
    let mut keys: Vec<&String> =
        env.entries.keys().filter(|k| k.starts_with("OIDC_") || k.ends_with("_DOMAIN")).collect();
    keys.sort_by_key(|k| env.entries[*k].line);
    let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    keys.into_iter()
        .map(|k| {
            let e = &env.entries[k];
            let value = if is_secret(k) {
                format!("(secret, {} characters)", e.value.chars().count())
            } else if e.value.is_empty() {
                "(empty)".into()
            } else {
                e.value.clone()
            };
            format!("line {:<4} {k:<width$}  {value}", e.line)
        })
        .collect()
}

/// A value a guide or template left for the admin to fill in: `<Client ID from authentik>`,
/// `https://<WEB_DOMAIN>/…`, `{{ secret }}`, `changeme`, `your-client-id`.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    let bracketed = v.find('<').is_some_and(|i| v[i..].contains('>'));
    let templated = v.contains("{{") && v.contains("}}");
    let l = v.to_ascii_lowercase();
    let words = [
        "changeme",
        "change-me",
        "change_me",
        "replaceme",
        "replace-me",
        "replace_me",
        "todo",
        "fixme",
        "xxx",
        "...",
    ];
    bracketed
        || templated
        || words.contains(&l.as_str())
        || (l.starts_with("your-") || l.starts_with("your_")) && !l.contains('.')
}

/// Keys whose value must never be shown.
fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    k.contains("SECRET") || k.contains("PASSWORD") || k.ends_with("_KEY") || k.contains("TOKEN")
}

/// The check of one `.env.production`, fed step by step.
pub struct ConfigCheck<'a> {
    env: &'a EnvFile,
    pub findings: Vec<Finding>,
    /// The issuer Mastodon uses (OIDC_ISSUER).
    issuer: Option<String>,
    /// The provider's own issuer, if the user told us (`--issuer-url`).
    provider_issuer: Option<String>,
    /// Whose settings these are: the findings are worded in its vocabulary.
    rp: &'static crate::rp::Profile,
}

impl<'a> ConfigCheck<'a> {
    /// Checks the file alone; returns the discovery URL to fetch (None: nothing to fetch).
    pub fn new(env: &'a EnvFile, provider_issuer: Option<&str>) -> (ConfigCheck<'a>, Option<String>) {
        ConfigCheck::for_rp(env, provider_issuer, crate::rp::default())
    }

    /// [`ConfigCheck::new`] for another application's settings, read into `env` under
    /// Mastodon's names (`rp::config` does that): the findings name that application's settings.
    pub fn for_rp(
        env: &'a EnvFile,
        provider_issuer: Option<&str>,
        rp: &'static crate::rp::Profile,
    ) -> (ConfigCheck<'a>, Option<String>) {
        let mut c = ConfigCheck {
            env,
            findings: vec![],
            issuer: None,
            provider_issuer: provider_issuer.map(str::to_owned),
            rp,
        };
        if !env.entries.keys().any(|k| k.starts_with("OIDC_")) {
            // Not configured at all: one finding, not one per missing variable.
            let f = Finding::new(
                RuleId::ConfigOidcDisabled,
                "no OIDC_ line in this file: ⟨app⟩'s OpenID Connect login is not configured here (is it the ⟨config⟩ ⟨app⟩ runs with?)",
            )
            .field("OIDC_ENABLED");
            c.push(f);
            return (c, None);
        }
        c.file_syntax();
        c.enabled();
        let placeholders = c.placeholders();
        c.scope();
        if rp.account.mastodon_usernames {
            c.uid_field();
        }
        c.redirect_uri();
        let url = c.issuer_shape();
        // A placeholder issuer names no provider: nothing to fetch.
        (c, url.filter(|_| !placeholders.iter().any(|k| k == "OIDC_ISSUER")))
    }

    /// `OIDC_ENABLED` must be exactly `true` (Mastodon compares the string).
    fn enabled(&mut self) {
        match self.env.get("OIDC_ENABLED") {
            Some("true") => {}
            seen => {
                let f = self
                    .var(RuleId::ConfigOidcDisabled, "OIDC_ENABLED", "⟨enabled⟩ is not `true`: ⟨app⟩ ignores every OIDC_ line and shows no OpenID Connect login")
                    .evidence("true", seen.unwrap_or("(unset)"))
                    .fix("⟨enabled⟩=true in ⟨config⟩ (⟨apply⟩)");
                self.push(f);
            }
        }
    }

    /// Values left as a guide wrote them; returns their keys.
    fn placeholders(&mut self) -> Vec<String> {
        let mut keys = vec![];
        for (key, entry) in &self.env.entries {
            if !(key.starts_with("OIDC_") || key.ends_with("_DOMAIN")) || !is_placeholder(&entry.value) {
                continue;
            }
            let what = match key.as_str() {
                "OIDC_CLIENT_ID" => "the provider's Client ID",
                "OIDC_CLIENT_SECRET" => "the provider's Client Secret",
                "OIDC_ISSUER" => "the provider's 'OpenID Configuration Issuer'",
                _ => "the real value",
            };
            let mut f = self.var(
                RuleId::ConfigPlaceholder,
                key,
                format!(
                    "{} is a placeholder, not a value: ⟨app⟩ sends it as it is",
                    self.rp.same_setting_as(crate::rp::default(), key)
                ),
            );
            if !is_secret(key) {
                f = f.seen(entry.value.clone());
            }
            f = f.fix(format!(
                "replace it with {what} (authentik → Applications → Providers → this provider), then ⟨apply⟩"
            ));
            self.push(f);
            keys.push(key.clone());
        }
        keys
    }

    fn var(&self, rule: RuleId, key: &str, message: impl Into<String>) -> Finding {
        let line = self.env.line(key).map(|n| format!(" (line {n})")).unwrap_or_default();
        Finding::new(rule, message)
            .field(format!("{}{line}", self.rp.same_setting_as(crate::rp::default(), key)))
    }

    /// Keeps a finding, in the words of the application whose settings these are.
    fn push(&mut self, mut f: Finding) {
        super::finding::render(&mut f, self.rp);
        self.findings.push(f);
    }

    fn file_syntax(&mut self) {
        for l in &self.env.lints {
            let relevant = l.key.as_deref().is_none_or(|k| k.starts_with("OIDC_") || k.ends_with("_DOMAIN"));
            if relevant {
                let f = self.lint(l);
                self.push(f);
            }
        }
    }

    /// One line that reads otherwise than it looks, with the value as Mastodon reads it
    /// (a secret's only by its length).
    fn lint(&self, l: &Lint) -> Finding {
        let Some(k) = &l.key else {
            return Finding::new(RuleId::ConfigEnvSyntax, format!("line {}: {}", l.line, l.what))
                .fix("save ⟨config⟩ with Unix (LF) line endings");
        };
        let read = self.env.get(k).unwrap_or("");
        let secret = is_secret(k);
        let n = |s: &str| s.chars().count();
        let f = Finding::new(RuleId::ConfigEnvSyntax, format!("line {}: {}", l.line, l.what))
            .field(format!("{k} (line {})", l.line));
        match (l.level, &l.typed) {
            (Level::Changed, Some(typed)) => {
                let f = f.severity(Severity::Error);
                let f = if secret {
                    f.seen(format!("{} characters, of the {} typed (cut at `#`)", n(read), n(typed))).fix(
                        format!("single-quote the value: {k}='…' with the whole secret inside (⟨apply⟩)"),
                    )
                } else {
                    f.evidence(typed.clone(), read.to_owned())
                        .hint("cut at `#`: the rest of the line is read as a comment")
                        .fix(format!("{k}='{typed}' (single quotes keep the `#`; ⟨apply⟩)"))
                };
                f.why(format!(
                    "⟨app⟩'s dotenv reads an unquoted value up to the first `#`: {k} is {}",
                    if secret {
                        format!("{} characters long, not {}", n(read), n(typed))
                    } else {
                        format!("`{read}`")
                    }
                ))
            }
            (Level::Note, _) => {
                let reads = if secret {
                    format!("its {} characters before it", n(read))
                } else {
                    format!("`{read}`")
                };
                // An info finding is one line: all of it goes in the message.
                Finding::new(
                    RuleId::ConfigEnvSyntax,
                    format!("line {}: {}: ⟨app⟩ reads {k} as {reads} (fine, unless the value really goes on past the space: then single-quote it)", l.line, l.what),
                )
                .field(format!("{k} (line {})", l.line))
                .severity(Severity::Info)
            }
            _ => {
                let f = if secret { f } else { f.seen(read.to_owned()) };
                f.fix(format!("write {k} once, as {k}=value (single-quote a value containing #, $ or \\)"))
            }
        }
    }

    fn scope(&mut self) {
        let Some(scope) = self.env.get("OIDC_SCOPE") else {
            let f = Finding::new(
                RuleId::ConfigScope,
                "⟨scope⟩ is not set: only openid is requested, so no e-mail and no preferred_username",
            )
            .field("OIDC_SCOPE")
            .evidence("openid,profile,email", "(unset)");
            self.push(f);
            return;
        };
        if scope.contains(' ') && !scope.contains(',') {
            let f = self
                .var(
                    RuleId::ConfigScope,
                    "OIDC_SCOPE",
                    "⟨scope⟩ is split on commas: a space-separated list is one scope with spaces in it",
                )
                .evidence("openid,profile,email", scope);
            self.push(f);
            return;
        }
        let scopes: Vec<&str> = scope.split(',').map(str::trim).collect();
        let missing: Vec<&str> =
            ["openid", "profile", "email"].into_iter().filter(|s| !scopes.contains(s)).collect();
        if !missing.is_empty() {
            let f = self
                .var(RuleId::ConfigScope, "OIDC_SCOPE", format!("⟨scope⟩ lacks {}", missing.join(", ")))
                .evidence("openid,profile,email", scope);
            self.push(f);
        }
    }

    fn uid_field(&mut self) {
        match self.env.get("OIDC_UID_FIELD") {
            None | Some("sub") => {
                let seen = self.env.get("OIDC_UID_FIELD").unwrap_or("(unset: the strategy's default, sub)");
                let f = self
                    .var(RuleId::ConfigUidField, "OIDC_UID_FIELD", "accounts are keyed on sub: with authentik's default Subject mode (hashed user id) usernames become 30 hex characters, and switching later creates new accounts")
                    .evidence("preferred_username", seen);
                self.push(f);
            }
            Some("preferred_username") => {
                let f = self
                    .var(RuleId::ConfigUidField, "OIDC_UID_FIELD", "preferred_username, as the integration guide sets it; caveat: a user who renames themselves in authentik gets a new ⟨app⟩ account (mastodon#21296)")
                    .severity(Severity::Info)
                    .seen("preferred_username");
                self.push(f.fix(""));
            }
            Some(other) => {
                let f = self
                    .var(RuleId::ConfigUidField, "OIDC_UID_FIELD", format!("accounts are keyed on the claim {other:?}: authentik must send it in the ID token or userinfo"))
                    .severity(Severity::Info)
                    .seen(other.to_owned());
                self.push(f.fix(""));
            }
        }
    }

    fn redirect_uri(&mut self) {
        if ["OIDC_REDIRECT_URI", "WEB_DOMAIN", "LOCAL_DOMAIN"]
            .iter()
            .any(|k| self.env.get(k).is_some_and(is_placeholder))
        {
            return; // said by CONFIG-PLACEHOLDER
        }
        let Some(route) = self.rp.callback_path() else { return };
        let domain = self.env.get("WEB_DOMAIN").or(self.env.get("LOCAL_DOMAIN")).filter(|d| !d.is_empty());
        // Mastodon's LOCAL_HTTPS=false (a development instance, or another application's
        // http:// public URL) serves http.
        let scheme = if self.env.get("LOCAL_HTTPS") == Some("false") { "http" } else { "https" };
        let want = domain.map(|d| format!("{scheme}://{d}{route}"));
        match (self.env.get("OIDC_REDIRECT_URI"), want) {
            // An application that builds its callback from its public URL, which its file
            // does not give (occ's output): nothing to compare.
            (None, _) if self.rp.derives_callback() => {}
            (Some(_), _) if self.rp.derives_callback() => {}
            (None, want) => {
                let mut f = Finding::new(RuleId::ConfigRedirectUriMismatch, "⟨redirect_uri⟩ is not set: ⟨app⟩'s strategy does not derive it, the authorize request will lack it")
                    .field("OIDC_REDIRECT_URI");
                if let Some(w) = want {
                    f = f.evidence(w.clone(), "(unset)").fix(format!("set ⟨redirect_uri⟩={w}"));
                }
                self.push(f);
            }
            (Some(seen), Some(w)) if seen != w => {
                let f = self
                    .var(RuleId::ConfigRedirectUriMismatch, "OIDC_REDIRECT_URI", "⟨redirect_uri⟩ is not ⟨app⟩'s callback for its ⟨web_domain⟩")
                    .evidence(w.clone(), seen)
                    .fix(format!("set ⟨redirect_uri⟩={w} and register exactly that in authentik's provider (Redirect URIs)"));
                self.push(f);
            }
            _ => {}
        }
    }

    /// OIDC_ISSUER's shape; the discovery URL the gem builds from it.
    fn issuer_shape(&mut self) -> Option<String> {
        if self.env.get("OIDC_ISSUER").is_some_and(is_placeholder) {
            return None; // said by CONFIG-PLACEHOLDER
        }
        let Some(raw) = self.env.get("OIDC_ISSUER").filter(|v| !v.is_empty()) else {
            let f = Finding::new(RuleId::ConfigIssuerShape, "⟨issuer⟩ is not set").field("OIDC_ISSUER");
            self.push(f);
            return None;
        };
        self.issuer = Some(raw.to_owned());
        let Ok(url) = url::Url::parse(raw) else {
            let f = self
                .var(RuleId::ConfigIssuerShape, "OIDC_ISSUER", "⟨issuer⟩ is not a URL")
                .seen(raw.to_owned());
            self.push(f);
            return None;
        };
        let path = url.path();
        let endpoint = [
            (".well-known/openid-configuration", "the discovery URL"),
            ("/application/o/authorize/", "the authorize endpoint"),
            ("/application/o/token/", "the token endpoint"),
            ("/application/o/userinfo/", "the userinfo endpoint"),
            ("/jwks/", "the JWKS URL"),
        ]
        .into_iter()
        .find(|(p, _)| path.trim_end_matches('/').ends_with(p.trim_end_matches('/')));
        if let Some((suffix, what)) = endpoint {
            let trimmed = raw.trim_end_matches('/');
            let fixed = match suffix {
                ".well-known/openid-configuration" => trimmed
                    .strip_suffix(".well-known/openid-configuration")
                    .map(|b| format!("{}/", b.trim_end_matches('/'))),
                "/jwks/" => trimmed.strip_suffix("/jwks").map(|b| format!("{b}/")),
                _ => None,
            };
            let mut f = self
                .var(RuleId::ConfigIssuerShape, "OIDC_ISSUER", format!("⟨issuer⟩ is {what}, not the issuer"))
                .seen(raw.to_owned());
            if let Some(fixed) = fixed {
                f = f.expected(fixed.clone()).fix(format!("set ⟨issuer⟩={fixed}"));
            }
            self.push(f);
        }
        if url.scheme() != "https" {
            let f = self
                .var(RuleId::DiscInsecureEndpoint, "OIDC_ISSUER", "⟨issuer⟩ is not https: the gem fetches discovery over https anyway, and the issuer will not match")
                .seen(raw.to_owned());
            self.push(f);
        }
        // openid_connect's discovery: https, the issuer's host and port, its path joined with
        // /.well-known/openid-configuration.
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let host = url.host_str().unwrap_or("");
        Some(format!("https://{host}{port}{}/.well-known/openid-configuration", path.trim_end_matches('/')))
    }

    /// Judges discovery; returns the JWKS URL to fetch next.
    pub fn discovery(&mut self, got: &Fetched) -> Option<String> {
        let body = match &got.result {
            Err(e) => {
                let (message, fix) = match e {
                    FetchFailure::Untrusted(m) => (
                        format!("discovery at {}: certificate not trusted ({m})", got.url),
                        "pass --upstream-ca with the CA that signed authentik's certificate (⟨app⟩ must trust it too), or --insecure-upstream to look anyway".to_owned(),
                    ),
                    FetchFailure::Unreachable(m) => (
                        format!("discovery at {}: cannot connect ({m})", got.url),
                        "check the host in ⟨issuer⟩, or pass --connect-to HOST:443=ADDR:PORT to reach it from here".to_owned(),
                    ),
                    FetchFailure::Timeout => (format!("discovery at {}: no answer in time", got.url), "check that authentik is up and reachable from ⟨app⟩'s host".to_owned()),
                    FetchFailure::Other(m) => (format!("discovery at {}: {m}", got.url), String::new()),
                };
                let mut f = Finding::new(RuleId::DiscFetchFailed, message).field("OIDC_ISSUER");
                if !fix.is_empty() {
                    f = f.fix(fix);
                }
                self.push(f);
                return None;
            }
            Ok((status, body)) if !(200..300).contains(status) => {
                let f = self
                    .var(
                        RuleId::DiscFetchFailed,
                        "OIDC_ISSUER",
                        format!("discovery at {} answered {status}", got.url),
                    )
                    .seen(status.to_string());
                self.push(f);
                return None;
            }
            Ok((_, body)) => body,
        };
        let doc: Value = match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                let f = self.var(
                    RuleId::DiscFetchFailed,
                    "OIDC_ISSUER",
                    format!("discovery at {} is not a JSON object", got.url),
                );
                self.push(f);
                return None;
            }
        };
        let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
        match text("issuer") {
            None => {
                let f = Finding::new(RuleId::DiscFieldType, "discovery's issuer is missing or not a string")
                    .field("discovery.issuer")
                    .expected("a string");
                self.push(f);
            }
            Some(discovered) => {
                if let Some(mine) = &self.issuer
                    && *mine != discovered
                {
                    let f = self
                        .var(
                            RuleId::ConfigIssuerMismatch,
                            "OIDC_ISSUER",
                            "⟨issuer⟩ is not byte-equal to the issuer discovery announces",
                        )
                        .evidence(discovered.clone(), mine.clone())
                        .mastodon("answers “Issuer mismatch”: the login stops before reaching authentik")
                        .fix(format!("set ⟨issuer⟩={discovered} in ⟨config⟩ and ⟨apply⟩"));
                    self.push(f);
                }
                if let Some(p) = self.provider_issuer.clone()
                    && p != discovered
                {
                    let f = Finding::new(
                        RuleId::DiscIssuerMismatch,
                        "discovery announces another issuer than --issuer-url",
                    )
                    .field("discovery.issuer")
                    .evidence(p, discovered);
                    self.push(f);
                }
            }
        }
        for k in ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"] {
            if let Some(u) = text(k).filter(|u| u.starts_with("http://")) {
                let f = Finding::new(RuleId::DiscInsecureEndpoint, format!("discovery's {k} is http://"))
                    .field(format!("discovery.{k}"))
                    .seen(u);
                self.push(f);
            }
        }
        if let (Some(mine), Some(found)) =
            (self.env.get("OIDC_AUTH_ENDPOINT"), text("authorization_endpoint"))
            && mine != found
        {
            let f = self
                .var(
                    RuleId::ConfigAuthEndpoint,
                    "OIDC_AUTH_ENDPOINT",
                    "OIDC_AUTH_ENDPOINT differs from the discovered authorization endpoint",
                )
                .evidence(found.clone(), mine.to_owned())
                .fix(format!("set OIDC_AUTH_ENDPOINT={found}"));
            self.push(f);
        }
        let algs: Vec<String> = doc
            .get("id_token_signing_alg_values_supported")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        if !algs.is_empty() && algs.iter().all(|a| a.starts_with("HS")) {
            let f = Finding::new(
                RuleId::ConfigSigningKey,
                format!("discovery advertises only {}: no signing key is selected", algs.join(", ")),
            )
            .field("discovery.id_token_signing_alg_values_supported")
            .evidence("RS256 (or ES256)", algs.join(", "));
            self.push(f);
        }
        text("jwks_uri")
    }

    /// Judges the JWKS.
    pub fn jwks(&mut self, got: &Fetched) {
        let body = match &got.result {
            Ok((200..=299, body)) => body,
            Ok((status, _)) => {
                let f = Finding::new(
                    RuleId::DiscFetchFailed,
                    format!("the JWKS at {} answered {status}", got.url),
                )
                .field("discovery.jwks_uri");
                self.push(f);
                return;
            }
            Err(e) => {
                let f = Finding::new(RuleId::DiscFetchFailed, format!("the JWKS at {}: {e:?}", got.url))
                    .field("discovery.jwks_uri");
                self.push(f);
                return;
            }
        };
        // authentik answers `{}` when no signing key is selected.
        let keys = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => match o.get("keys") {
                None => Some(0),
                Some(Value::Array(k)) => Some(k.len()),
                Some(_) => None,
            },
            _ => None,
        };
        match keys {
            None => {
                let f = Finding::new(
                    RuleId::DiscFetchFailed,
                    format!("the JWKS at {} is not a JSON object with a keys array", got.url),
                )
                .field("jwks.keys");
                self.push(f);
            }
            Some(0) => {
                let f = Finding::new(RuleId::ConfigSigningKey, "the JWKS has no keys: no signing key is selected, tokens are signed HS256 with the client secret")
                    .field("jwks.keys")
                    .evidence("at least one RSA or EC key", "none");
                self.push(f);
            }
            Some(_) => {}
        }
    }

    /// Whether an error was found (exit code 1).
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity >= Severity::Error)
    }
}

#[cfg(test)]
#[path = "config_check_tests.rs"]
mod tests;
