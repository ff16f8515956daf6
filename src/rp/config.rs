//! Another application's own configuration file, read into the settings `check-config`
//! judges: `gitlab.rb`'s omniauth_providers entry, `grafana.ini`'s `[auth.generic_oauth]`,
//! `homeserver.yaml`'s `oidc_providers`, Nextcloud's `occ user_oidc:provider … --output=json`.
//! Each reader is one pure function of the file's text; what it cannot read is said, never
//! guessed.

use super::Setting;

/// The OIDC settings of one application, as its file gives them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AppConfig {
    /// Each setting found, with its 1-based line (0: not known).
    pub values: Vec<(Setting, String, usize)>,
    /// What the reader noticed (another provider entry not checked, a value it could not read).
    pub notes: Vec<String>,
}

impl AppConfig {
    pub fn get(&self, s: Setting) -> Option<&str> {
        self.values.iter().find(|(k, _, _)| *k == s).map(|(_, v, _)| v.as_str())
    }

    fn put(&mut self, s: Setting, v: impl Into<String>, line: usize) {
        if self.get(s).is_none() {
            self.values.push((s, v.into(), line));
        }
    }
}

/// One application's file reader: the file's text in, its OIDC settings out.
pub type Reader = fn(&str) -> Result<AppConfig, ConfigError>;

/// Why a file could not be read as that application's.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{0}")]
    Unreadable(String),
    #[error("no OIDC settings found: {0}")]
    NoOidc(&'static str),
}

/// 1-based line of the first line at or after `from` (0-based) that contains `needle`.
fn line_of(text: &str, needle: &str, from: usize) -> usize {
    text.lines().enumerate().skip(from).find(|(_, l)| l.contains(needle)).map(|(i, _)| i + 1).unwrap_or(0)
}

/// A Ruby or INI scalar without its quotes.
fn unquote(v: &str) -> String {
    let v = v.trim().trim_end_matches(',').trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_owned();
        }
    }
    v.to_owned()
}

/// `["openid", "profile"]`, `%w[openid profile]` or `'openid profile'` → "openid,profile".
fn ruby_list(v: &str) -> String {
    let v = v.trim().trim_end_matches(',').trim();
    let inner = v
        .strip_prefix("%w[")
        .and_then(|r| r.strip_suffix(']'))
        .or_else(|| v.strip_prefix('[').and_then(|r| r.strip_suffix(']')));
    let items: Vec<String> = match inner {
        Some(i) => i.split([',', ' ']).map(unquote).map(|s| s.trim_start_matches(':').to_owned()).collect(),
        None => unquote(v).split([',', ' ']).map(str::to_owned).collect(),
    };
    items.into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(",")
}

/// `gitlab.rb`: the `openid_connect` entry of `gitlab_rails['omniauth_providers']` (one
/// `key: value` or `"key" => value` per line, as GitLab's and authentik's guides write it)
/// and `external_url`.
pub fn gitlab_rb(text: &str) -> Result<AppConfig, ConfigError> {
    let mut c = AppConfig::default();
    let start = text
        .lines()
        .position(|l| l.split('#').next().unwrap_or("").contains("omniauth_providers"))
        .ok_or(ConfigError::NoOidc("no gitlab_rails['omniauth_providers'] line"))?;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or("").trim();
        if line.starts_with('#') {
            continue;
        }
        if let Some(v) = line.strip_prefix("external_url") {
            c.put(Setting::WebDomain, unquote(v), i + 1);
            continue;
        }
        if i < start {
            continue;
        }
        let (key, value) = if let Some((k, v)) = line.split_once("=>") {
            (unquote(k).trim_start_matches(':').to_owned(), v.trim())
        } else if let Some((k, v)) = line.split_once(": ") {
            (k.trim().to_owned(), v.trim())
        } else {
            continue;
        };
        if value.starts_with('{') || value.is_empty() {
            continue;
        }
        let setting = match key.as_str() {
            "issuer" => Setting::Issuer,
            "identifier" => Setting::ClientId,
            "secret" => Setting::ClientSecret,
            "redirect_uri" => Setting::RedirectUri,
            "uid_field" => Setting::UidField,
            "discovery" => Setting::Discovery,
            "pkce" => Setting::UsePkce,
            "client_auth_method" => Setting::ClientAuthMethod,
            "send_nonce" => Setting::SendNonce,
            "scope" => {
                c.put(Setting::Scope, ruby_list(value), i + 1);
                continue;
            }
            _ => continue,
        };
        c.put(setting, unquote(value), i + 1);
    }
    if c.get(Setting::Issuer).is_none() && c.get(Setting::ClientId).is_none() {
        return Err(ConfigError::NoOidc("no openid_connect entry with issuer or client_options.identifier"));
    }
    Ok(c)
}

/// `grafana.ini`: `[auth.generic_oauth]` and `[server] root_url` (go-ini: `key = value`, `;`
/// and `#` comments).
pub fn grafana_ini(text: &str) -> Result<AppConfig, ConfigError> {
    let mut c = AppConfig::default();
    let mut section = String::new();
    let mut seen = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with([';', '#']) || line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = s.trim().to_owned();
            seen |= section == "auth.generic_oauth";
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let (k, v) = (k.trim(), unquote(v));
        let setting = match (section.as_str(), k) {
            ("server", "root_url") => Setting::WebDomain,
            ("auth.generic_oauth", "enabled") => Setting::Enabled,
            ("auth.generic_oauth", "client_id") => Setting::ClientId,
            ("auth.generic_oauth", "client_secret") => Setting::ClientSecret,
            ("auth.generic_oauth", "auth_url") => Setting::AuthEndpoint,
            ("auth.generic_oauth", "token_url") => Setting::TokenEndpoint,
            ("auth.generic_oauth", "api_url") => Setting::UserinfoEndpoint,
            ("auth.generic_oauth", "use_pkce") => Setting::UsePkce,
            ("auth.generic_oauth", "login_attribute_path") => Setting::UidField,
            ("auth.generic_oauth", "scopes") => {
                let list: Vec<&str> = v.split([',', ' ']).filter(|s| !s.is_empty()).collect();
                c.put(Setting::Scope, list.join(","), i + 1);
                continue;
            }
            _ => continue,
        };
        c.put(setting, v, i + 1);
    }
    if !seen {
        return Err(ConfigError::NoOidc("no [auth.generic_oauth] section"));
    }
    Ok(c)
}

/// `homeserver.yaml`: the first entry of `oidc_providers` (or the older `oidc_config`) and
/// `public_baseurl`.
pub fn homeserver_yaml(text: &str) -> Result<AppConfig, ConfigError> {
    use serde_norway::Value;
    let doc: Value =
        serde_norway::from_str(text).map_err(|e| ConfigError::Unreadable(format!("not YAML: {e}")))?;
    let mut c = AppConfig::default();
    let (entry, key) = match (doc.get("oidc_providers"), doc.get("oidc_config")) {
        (Some(Value::Sequence(list)), _) if !list.is_empty() => {
            if list.len() > 1 {
                c.notes.push(format!(
                    "{} more oidc_providers entries not checked (only the first)",
                    list.len() - 1
                ));
            }
            (list[0].clone(), "oidc_providers")
        }
        (_, Some(v @ Value::Mapping(_))) => (v.clone(), "oidc_config"),
        _ => return Err(ConfigError::NoOidc("no oidc_providers list")),
    };
    let from = line_of(text, key, 0).saturating_sub(1);
    let text_of = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Sequence(items) => Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
        _ => None,
    };
    if let Some(u) = doc.get("public_baseurl").and_then(text_of) {
        c.put(Setting::WebDomain, u, line_of(text, "public_baseurl", 0));
    }
    for (k, s) in [
        ("issuer", Setting::Issuer),
        ("client_id", Setting::ClientId),
        ("client_secret", Setting::ClientSecret),
        ("scopes", Setting::Scope),
        ("discover", Setting::Discovery),
        ("pkce_method", Setting::UsePkce),
        ("client_auth_method", Setting::ClientAuthMethod),
        ("jwks_uri", Setting::JwksUri),
    ] {
        if let Some(v) = entry.get(k).and_then(text_of) {
            c.put(s, v, line_of(text, &format!("{k}:"), from));
        }
    }
    let subject =
        entry.get("user_mapping_provider").and_then(|m| m.get("config")).and_then(|m| m.get("subject_claim"));
    if let Some(v) = subject.and_then(text_of) {
        c.put(Setting::UidField, v, line_of(text, "subject_claim:", from));
    }
    Ok(c)
}

/// `occ user_oidc:provider <name> --output=json` (one provider, or the list without a name:
/// the first is checked).
pub fn nextcloud_occ_json(text: &str) -> Result<AppConfig, ConfigError> {
    use serde_json::Value;
    let doc: Value = serde_json::from_str(text.trim()).map_err(|e| {
        ConfigError::Unreadable(format!(
            "not occ's JSON (run occ user_oidc:provider NAME --output=json): {e}"
        ))
    })?;
    let mut c = AppConfig::default();
    let p = match &doc {
        Value::Array(list) => {
            if list.len() > 1 {
                c.notes.push(format!("{} more providers not checked (only the first)", list.len() - 1));
            }
            list.first().cloned().ok_or(ConfigError::NoOidc("no provider in the list"))?
        }
        v @ Value::Object(_) => v.clone(),
        _ => return Err(ConfigError::NoOidc("not a provider object")),
    };
    let text_of = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
    if let Some(d) = text_of("discoveryEndpoint") {
        // The issuer is what the discovery URL names.
        let issuer = d.trim_end_matches(".well-known/openid-configuration").to_owned();
        c.put(Setting::Issuer, issuer, 0);
        c.put(Setting::Discovery, d, 0);
    }
    if let Some(v) = text_of("clientId") {
        c.put(Setting::ClientId, v, 0);
    }
    if let Some(v) = text_of("scope") {
        c.put(Setting::Scope, v.split_whitespace().collect::<Vec<_>>().join(","), 0);
    }
    let mapping = p.get("settings").and_then(|s| s.get("mappingUid")).and_then(Value::as_str);
    if let Some(v) = mapping.filter(|v| !v.is_empty()) {
        c.put(Setting::UidField, v, 0);
    }
    if c.get(Setting::Issuer).is_none() {
        return Err(ConfigError::NoOidc("no discoveryEndpoint"));
    }
    c.notes.push("occ does not print the client secret: not checked".into());
    Ok(c)
}

/// The settings under Mastodon's names, as `check-config` judges them (`rules::config_check`
/// reads a `.env.production`): the values the application's file gives (with its line
/// numbers), its callback derived where the application derives it, `issuer` given by
/// `--issuer-url` when the file has none (Grafana names endpoints, not an issuer).
pub fn to_env(c: &AppConfig, rp: &super::Profile, issuer_url: Option<&str>) -> crate::dotenv::EnvFile {
    let mastodon = super::default();
    let mut env = crate::dotenv::EnvFile::default();
    let mut put = |key: &str, value: String, line: usize| {
        env.entries.entry(key.to_owned()).or_insert(crate::dotenv::Entry { line, value });
    };
    let enabled = c.get(Setting::Enabled).is_none_or(|v| v == "true");
    put(mastodon.setting(Setting::Enabled), if enabled { "true" } else { "false" }.into(), 0);
    for (s, v, line) in &c.values {
        match s {
            Setting::Enabled => {}
            Setting::WebDomain => {
                let domain = url::Url::parse(v).ok().and_then(|u| {
                    u.host_str().map(|h| u.port().map(|p| format!("{h}:{p}")).unwrap_or_else(|| h.to_owned()))
                });
                put("WEB_DOMAIN", domain.unwrap_or_else(|| v.clone()), *line);
                if v.starts_with("http://") {
                    put("LOCAL_HTTPS", "false".into(), *line);
                }
            }
            s => put(mastodon.setting(*s), v.clone(), *line),
        }
    }
    if let Some(i) = issuer_url.filter(|_| c.get(Setting::Issuer).is_none()) {
        put(mastodon.setting(Setting::Issuer), i.to_owned(), 0);
    }
    // A callback the application derives from its public URL (Synapse, Grafana).
    if c.get(Setting::RedirectUri).is_none()
        && let (Some(base), Some(route)) = (c.get(Setting::WebDomain), rp.callback_path())
        && rp.derives_callback()
    {
        let base = base.trim_end_matches('/');
        put(mastodon.setting(Setting::RedirectUri), format!("{base}{route}"), 0);
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_rb_as_authentiks_guide_writes_it() {
        let text = r#"external_url 'https://gitlab.company'
gitlab_rails['omniauth_allow_single_sign_on'] = ['openid_connect']
gitlab_rails['omniauth_providers'] = [
  {
    name: "openid_connect",
    label: "authentik",
    args: {
      name: "openid_connect",
      scope: ["openid","profile","email"],
      response_type: "code",
      issuer: "https://authentik.company/application/o/gitlab/",
      discovery: true,
      client_auth_method: "query",
      uid_field: "preferred_username",
      pkce: true,
      client_options: {
        identifier: "gitlab-client",
        secret: "s3cret",
        redirect_uri: "https://gitlab.company/users/auth/openid_connect/callback"
      }
    }
  }
]
"#;
        let c = gitlab_rb(text).unwrap();
        assert_eq!(c.get(Setting::Issuer), Some("https://authentik.company/application/o/gitlab/"));
        assert_eq!(c.get(Setting::ClientId), Some("gitlab-client"));
        assert_eq!(c.get(Setting::ClientSecret), Some("s3cret"));
        assert_eq!(c.get(Setting::Scope), Some("openid,profile,email"));
        assert_eq!(c.get(Setting::WebDomain), Some("https://gitlab.company"));
        assert_eq!(c.values.iter().find(|v| v.0 == Setting::Issuer).unwrap().2, 11);
        assert!(gitlab_rb("external_url 'x'\n").is_err());
    }

    #[test]
    fn grafana_ini_and_homeserver_yaml_and_occ() {
        let ini = "[server]\nroot_url = https://grafana.company/\n[auth.generic_oauth]\nenabled = true\nclient_id = graf\n; client_id = old\nscopes = openid profile email\nauth_url = https://a/application/o/authorize/\n";
        let c = grafana_ini(ini).unwrap();
        assert_eq!(c.get(Setting::ClientId), Some("graf"));
        assert_eq!(c.get(Setting::Scope), Some("openid,profile,email"));
        assert_eq!(c.get(Setting::WebDomain), Some("https://grafana.company/"));
        assert!(grafana_ini("[server]\n").is_err());
        let yaml = "public_baseurl: https://matrix.company/\noidc_providers:\n  - idp_id: authentik\n    issuer: \"https://a/application/o/synapse/\"\n    client_id: syn\n    client_secret: x\n    scopes: [openid, profile]\n";
        let c = homeserver_yaml(yaml).unwrap();
        assert_eq!(c.get(Setting::Issuer), Some("https://a/application/o/synapse/"));
        assert_eq!(c.get(Setting::Scope), Some("openid,profile"));
        assert_eq!(c.values.iter().find(|v| v.0 == Setting::ClientId).unwrap().2, 5);
        assert!(matches!(homeserver_yaml("a: [").unwrap_err(), ConfigError::Unreadable(_)));
        assert!(homeserver_yaml("server_name: x\n").is_err());
        let occ = r#"{"id":1,"identifier":"authentik","clientId":"nc","discoveryEndpoint":"https://a/application/o/nextcloud/.well-known/openid-configuration","scope":"openid email profile","settings":{"mappingUid":"preferred_username"}}"#;
        let c = nextcloud_occ_json(occ).unwrap();
        assert_eq!(c.get(Setting::Issuer), Some("https://a/application/o/nextcloud/"));
        assert_eq!(c.get(Setting::UidField), Some("preferred_username"));
        assert!(nextcloud_occ_json("| table |").is_err());
    }
}
