//! Relying-party profiles: what one application behind the provider (Mastodon, GitLab,
//! Synapse, Grafana, Nextcloud, or any OIDC Core client) calls each setting, where it keeps
//! them, what it checks and what it says when a check fails. The rules stay neutral: they
//! write `⟨setting⟩` words (see [`Setting`]) and the flow's profile renders them, so one
//! finding reads in the vocabulary of the application whose login it is.
//!
//! Adding a profile is one file in this folder and one row of [`PROFILES`].

pub mod config;
mod generic;
mod gitlab;
mod grafana;
mod mastodon;
mod nextcloud;
mod synapse;

/// One relying party's vocabulary and behaviour. Plain data: the rules read it, never branch
/// on its name.
#[derive(Debug)]
pub struct Profile {
    /// `--rp` name and the JSONL `rp` field.
    pub name: &'static str,
    /// How a person names the application ("Mastodon").
    pub app: &'static str,
    /// Where its OIDC settings live (".env.production").
    pub config: &'static str,
    /// What makes a changed setting take effect ("restart Mastodon").
    pub apply: &'static str,
    /// The callback path(s) it serves; a redirect_uri ending so is this application's.
    pub callback: &'static [&'static str],
    /// Its callback is at the root of its domain (no installation prefix): the path must be
    /// exactly the route.
    pub callback_at_root: bool,
    /// Whether a path is under this application's routes (a near miss of its callback is
    /// judged as its own, another application's is not).
    pub owns_path: fn(&str) -> bool,
    /// The callback as a person configures it ("https://<WEB_DOMAIN>/auth/auth/openid_connect/callback").
    pub callback_example: &'static str,
    /// The setting each neutral word stands for, in this application's terms.
    pub settings: &'static [(Setting, &'static str)],
    /// What it does when a rule fails (rule id → its own words). A rule without a row keeps
    /// the rule's neutral prediction.
    pub says: &'static [(&'static str, &'static str)],
    /// Rules whose premise does not hold for this client (rule id → why it logs in anyway):
    /// their findings are information, with that sentence as the prediction.
    pub tolerates: &'static [(&'static str, &'static str)],
    /// What it verifies in the ID token (README table).
    pub checks: &'static str,
    /// Who does the checking, as a sentence's subject ("Mastodon's openid_connect gem").
    pub checker: &'static str,
    /// It runs the omniauth openid_connect strategy, whose messages the rules quote (Mastodon,
    /// GitLab): a rule's prediction holds for it unless `says` words it otherwise. For the
    /// others a prediction they have no row for is left out rather than guessed.
    pub omniauth: bool,
    /// Which claim becomes the account and what happens without it.
    pub account: Account,
    /// How its client sends the login.
    pub client: Client,
    /// Source the profile was read from (file and line).
    pub source: &'static str,
    /// Reads its own configuration file (`check-config --rp NAME FILE`); `None`: Mastodon's
    /// `.env.production` (read as dotenv) or no file of its own.
    pub read_config: Option<config::Reader>,
}

/// How the application's client talks to the provider (what `demo --rp` emulates).
#[derive(Debug)]
pub struct Client {
    /// The scopes it asks for by default (its guide's).
    pub scopes: &'static [&'static str],
    /// PKCE S256.
    pub pkce: bool,
    /// It sends a nonce.
    pub nonce: bool,
    /// client_secret_post rather than Basic.
    pub secret_post: bool,
    /// It calls userinfo after the token response; without, a verified ID token ends the login
    /// (Synapse's `user_profile_method: auto`, Nextcloud's user_oidc).
    pub userinfo: bool,
}

/// How the application maps claims to its account.
#[derive(Debug)]
pub struct Account {
    /// The claim that keys the account by default (`⟨uid_field⟩` unset).
    pub key_claim: &'static str,
    /// What it does when that claim is absent (`{sub}`: the login's sub, abbreviated).
    pub without_key: &'static str,
    /// Whether it needs an email claim to create the account.
    pub needs_email: bool,
    /// What it does without one (a clause: "⟨app⟩ creates the account with …").
    pub without_email: &'static str,
    /// Whether it reads email_verified (an unverified address leaves the account unconfirmed).
    pub reads_email_verified: bool,
    /// Whether it derives a username from the key claim by Mastodon's rules (reserved names,
    /// ASCII letters, digits and _).
    pub mastodon_usernames: bool,
}

impl Account {
    /// What the application does without its key claim, with the login's `sub` when known.
    pub fn without_key(&self, sub: Option<&str>) -> String {
        match sub {
            Some(s) => self.without_key.replace("{sub}", &crate::text::abbreviate(s)),
            None => self.without_key.replace(" ({sub})", ""),
        }
    }
}

/// The settings a generic fix names, whatever the application calls them. A rule writes
/// `⟨issuer⟩`; Mastodon's profile renders `OIDC_ISSUER`, GitLab's `issuer` (gitlab.rb
/// omniauth_providers args).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Issuer,
    ClientId,
    ClientSecret,
    RedirectUri,
    Scope,
    UidField,
    UsePkce,
    Discovery,
    JwksUri,
    TokenEndpoint,
    UserinfoEndpoint,
    ResponseType,
    Prompt,
    AssumeEmailVerified,
    ClientAuthMethod,
    Enabled,
    SendNonce,
    AuthEndpoint,
    WebDomain,
}

impl Setting {
    /// Every setting with its neutral word (as written between ⟨ ⟩).
    pub const ALL: &'static [(Setting, &'static str)] = &[
        (Setting::Issuer, "issuer"),
        (Setting::ClientId, "client_id"),
        (Setting::ClientSecret, "client_secret"),
        (Setting::RedirectUri, "redirect_uri"),
        (Setting::Scope, "scope"),
        (Setting::UidField, "uid_field"),
        (Setting::UsePkce, "use_pkce"),
        (Setting::Discovery, "discovery"),
        (Setting::JwksUri, "jwks_uri"),
        (Setting::TokenEndpoint, "token_endpoint"),
        (Setting::UserinfoEndpoint, "userinfo_endpoint"),
        (Setting::ResponseType, "response_type"),
        (Setting::Prompt, "prompt"),
        (Setting::AssumeEmailVerified, "assume_email_verified"),
        (Setting::ClientAuthMethod, "client_auth_method"),
        (Setting::Enabled, "enabled"),
        (Setting::SendNonce, "send_nonce"),
        (Setting::AuthEndpoint, "auth_endpoint"),
        (Setting::WebDomain, "web_domain"),
    ];

    fn word(self) -> &'static str {
        Setting::ALL.iter().find(|(s, _)| *s == self).map(|(_, w)| *w).unwrap_or("setting")
    }
}

/// Every profile; the first is the default. One row per profile.
pub const PROFILES: &[&Profile] = &[
    &mastodon::PROFILE,
    &gitlab::PROFILE,
    &synapse::PROFILE,
    &grafana::PROFILE,
    &nextcloud::PROFILE,
    &generic::PROFILE,
];

/// The default profile (Mastodon's).
pub fn default() -> &'static Profile {
    PROFILES[0]
}

/// OIDC Core's words, for an application no profile knows.
pub fn generic() -> &'static Profile {
    &generic::PROFILE
}

/// The profile named `name` (`--rp`).
pub fn by_name(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().copied().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The names `--rp` accepts, for its error message.
pub fn names() -> String {
    PROFILES.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// The application whose callback `redirect_uri` is, by its path (a gateway in front of the
/// provider sees every application's logins).
pub fn recognise(redirect_uri: &str) -> Option<&'static Profile> {
    let path = url::Url::parse(redirect_uri).ok()?.path().to_owned();
    let path = path.trim_end_matches('/');
    PROFILES.iter().copied().find(|p| p.callback.iter().any(|c| path.ends_with(c)))
}

impl Profile {
    /// This application's name for a setting.
    pub fn setting(&self, s: Setting) -> &'static str {
        self.settings.iter().find(|(k, _)| *k == s).map(|(_, v)| *v).unwrap_or(s.word())
    }

    /// This application's name for the setting `other` calls `name` (`OIDC_ISSUER` in
    /// Mastodon's → `issuer` in GitLab's); `name` itself if `other` has no such setting.
    pub fn same_setting_as<'n>(&self, other: &Profile, name: &'n str) -> &'n str
    where
        'static: 'n,
    {
        match other.settings.iter().find(|(_, n)| *n == name) {
            Some((s, _)) => self.setting(*s),
            None => name,
        }
    }

    /// Whether this is the default profile (its findings carry no `rp` field).
    pub fn is_default(&self) -> bool {
        self.name == default().name
    }

    /// What the application does when `rule` fails: its own words when the profile has them,
    /// else the rule's (rendered) prediction if it holds for this client, else nothing.
    pub fn predict(&self, rule: &str, rules_own: Option<&str>) -> Option<String> {
        let rules_own = rules_own?;
        match self.says.iter().find(|(r, _)| *r == rule) {
            Some((_, s)) => Some(self.render(s)),
            None if self.omniauth => Some(self.render(rules_own)),
            None => None,
        }
    }

    /// It builds its callback from its public URL (no redirect URI setting of its own: the
    /// setting a redirect fix names is the public URL's).
    pub fn derives_callback(&self) -> bool {
        self.setting(Setting::RedirectUri) == self.setting(Setting::WebDomain)
    }

    /// Why this client logs in although `rule` fails, if it does.
    pub fn tolerates(&self, rule: &str) -> Option<&'static str> {
        self.tolerates.iter().find(|(r, _)| *r == rule).map(|(_, w)| *w)
    }

    /// Its main callback path.
    pub fn callback_path(&self) -> Option<&'static str> {
        self.callback.first().copied()
    }

    /// Renders a rule's neutral text: `⟨issuer⟩` → this application's setting, `⟨app⟩`,
    /// `⟨config⟩`, `⟨apply⟩`. One pass: what a word renders to is not read again, and an
    /// unknown word is left as written.
    pub fn render(&self, text: &str) -> String {
        if !text.contains('⟨') {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len() + 16);
        let mut rest = text;
        while let Some(i) = rest.find('⟨') {
            out.push_str(&rest[..i]);
            let after = &rest[i + '⟨'.len_utf8()..];
            let Some(j) = after.find('⟩') else {
                out.push_str(&rest[i..]);
                return out;
            };
            let word = &after[..j];
            match self.word(word) {
                Some(s) => out.push_str(s),
                None => out.push_str(&rest[i..i + '⟨'.len_utf8() + j + '⟩'.len_utf8()]),
            }
            rest = &after[j + '⟩'.len_utf8()..];
        }
        out.push_str(rest);
        out
    }

    fn word(&self, word: &str) -> Option<&'static str> {
        match word {
            "app" => Some(self.app),
            "config" => Some(self.config),
            "apply" => Some(self.apply),
            "checker" => Some(self.checker),
            "callback_example" => Some(self.callback_example),
            _ => Setting::ALL.iter().find(|(_, w)| *w == word).map(|(s, _)| self.setting(*s)),
        }
    }
}

/// Markdown table of the profiles (README).
pub fn markdown_table() -> String {
    let mut s = String::from(
        "| `--rp` | application | settings in | recognised by callback | checks in the ID token | account from |\n|---|---|---|---|---|---|\n",
    );
    for p in PROFILES {
        let cb = if p.callback.is_empty() {
            "(chosen with --rp)".to_owned()
        } else {
            p.callback.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        };
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | `{}` |\n",
            p.name, p.app, p.config, cb, p.checks, p.account.key_claim
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_names_every_setting_and_renders_in_one_pass() {
        for p in PROFILES {
            for (s, _) in Setting::ALL {
                assert!(p.settings.iter().any(|(k, _)| k == s), "{} lacks {s:?}", p.name);
            }
            // What a word renders to is not rendered again; an unknown word stays.
            assert_eq!(p.render("⟨nope⟩ and ⟨"), "⟨nope⟩ and ⟨");
        }
        let m = default();
        assert_eq!(
            m.render("set ⟨issuer⟩=x in ⟨config⟩ and ⟨apply⟩"),
            "set OIDC_ISSUER=x in .env.production and restart Mastodon"
        );
        let g = by_name("gitlab").unwrap();
        assert!(g.render("⟨client_id⟩").contains("identifier"), "{}", g.render("⟨client_id⟩"));
    }

    #[test]
    fn a_callback_path_names_its_application() {
        let name = |u: &str| recognise(u).map(|p| p.name);
        assert_eq!(name("https://m.test/auth/auth/openid_connect/callback"), Some("mastodon"));
        assert_eq!(name("https://git.test/users/auth/openid_connect/callback"), Some("gitlab"));
        assert_eq!(name("https://mx.test/_synapse/client/oidc/callback"), Some("synapse"));
        assert_eq!(name("https://g.test/login/generic_oauth"), Some("grafana"));
        assert_eq!(name("https://nc.test/index.php/apps/user_oidc/code"), Some("nextcloud"));
        assert_eq!(name("https://nc.test/apps/user_oidc/code"), Some("nextcloud"));
        assert_eq!(name("https://x.test/oauth/callback"), None);
        assert_eq!(name("not a url"), None);
    }
}
