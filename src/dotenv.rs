//! A `.env.production` read the way Mastodon reads it (Ruby's `dotenv` gem, `Dotenv::Parser`),
//! with the places where that reading differs from what the admin typed. dotenvy (used for
//! `--mastodon-env`) accepts the file; this module says what each line turns into and why.
//!
//! The gem's rules, from `lib/dotenv/parser.rb`: CRLF becomes LF; `export ` is accepted; the
//! separator is `=` (or `: `); a value in single quotes is taken as is, one in double quotes has
//! `\n` expanded, backslashes dropped and `$VAR` substituted; an unquoted value ends at `#`,
//! is stripped, loses its backslashes and has `$VAR` substituted; a later line wins.

use std::collections::BTreeMap;

/// One `KEY=value` line as the gem reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// The value after the gem's unquoting (before `$VAR` substitution).
    pub value: String,
}

/// Something the gem reads differently from how it looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    pub key: Option<String>,
    pub line: usize,
    pub what: String,
    pub level: Level,
    /// What was typed after `=`, when Mastodon reads less of it (a value cut at `#`).
    pub typed: Option<String>,
}

/// How much a [`Lint`] matters to Mastodon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Mastodon gets another value than the one typed (cut at `#`).
    Changed,
    /// Mastodon may read it as meant, other readers or a later edit may not.
    Caution,
    /// Read as it looks (a trailing comment): said so the admin can check.
    Note,
}

/// The file as Mastodon sees it.
#[derive(Debug, Clone, Default)]
pub struct EnvFile {
    pub entries: BTreeMap<String, Entry>,
    pub lints: Vec<Lint>,
}

impl EnvFile {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|e| e.value.as_str())
    }

    pub fn line(&self, key: &str) -> Option<usize> {
        self.entries.get(key).map(|e| e.line)
    }

    /// Parses `text` as `Dotenv::Parser` does.
    pub fn parse(text: &str) -> EnvFile {
        let mut env = EnvFile::default();
        if text.contains("\r\n") {
            env.lints.push(Lint {
                level: Level::Caution,
                typed: None,
                key: None,
                line: text.split('\n').position(|l| l.ends_with('\r')).map_or(1, |i| i + 1),
                what: "Windows (CRLF) line endings: Mastodon's dotenv drops the \\r, but other readers of \
                       this file (docker compose env_file, systemd EnvironmentFile, a shell) may keep it \
                       at the end of each value"
                    .into(),
            });
        }
        for (i, raw) in text.split('\n').enumerate() {
            let n = i + 1;
            let line = raw.trim_end_matches('\r').trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut rest = line;
            let mut exported = false;
            if let Some(r) = rest.strip_prefix("export")
                && r.starts_with([' ', '\t'])
            {
                rest = r.trim_start();
                exported = true;
            }
            let key_len =
                rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len());
            let (key, after) = rest.split_at(key_len);
            let after_ws = after.trim_start();
            let value_part = if let Some(v) = after_ws.strip_prefix('=') {
                v
            } else if let Some(v) = after.strip_prefix(':').filter(|v| v.starts_with([' ', '\t'])) {
                v
            } else {
                if key.is_empty() || !after_ws.is_empty() || exported {
                    env.lints.push(Lint {
                        key: None,
                        line: n,
                        what: "not a KEY=value line: Mastodon's dotenv ignores it".into(),
                        level: Level::Caution,
                        typed: None,
                    });
                }
                continue;
            };
            if key.is_empty() {
                continue;
            }
            let key = key.to_owned();
            let mut lint = |level: Level, what: String, typed: Option<String>| {
                env.lints.push(Lint { key: Some(key.clone()), line: n, what, level, typed })
            };
            if exported {
                lint(
                    Level::Caution,
                    "`export` prefix: Mastodon's dotenv accepts it, systemd's EnvironmentFile does not"
                        .into(),
                    None,
                );
            }
            let value = read_value(value_part, &mut lint);
            if let Some(prev) = env.entries.get(&key) {
                let what =
                    format!("set twice: line {} is ignored, this line (the later one) wins", prev.line);
                env.lints.push(Lint {
                    key: Some(key.clone()),
                    line: n,
                    what,
                    level: Level::Caution,
                    typed: None,
                });
            }
            env.entries.insert(key, Entry { line: n, value });
        }
        env
    }
}

/// The value after the separator, unquoted as the gem does; lints what changes on the way.
fn read_value(part: &str, lint: &mut dyn FnMut(Level, String, Option<String>)) -> String {
    let v = part.trim_start();
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q) {
            if let Some(end) = closing_quote(inner, q) {
                let value = &inner[..end];
                if value != value.trim() {
                    lint(
                        Level::Caution,
                        format!("spaces inside the quotes are part of the value: {:?}", value),
                        None,
                    );
                }
                if q == '"' && value.contains('$') {
                    lint(
                        Level::Caution,
                        "`$` in a double-quoted value: dotenv substitutes $NAME; use single quotes".into(),
                        None,
                    );
                }
                return if q == '"' { value.replace("\\\"", "\"") } else { value.to_owned() };
            }
            lint(Level::Caution, format!("unbalanced {q}: the quote becomes part of the value"), None);
        }
    }
    // The gem's unquoted value is `[^#\r\n]+`: it ends at the first `#`, wherever it is.
    let cut = v.find('#');
    let value = v[..cut.unwrap_or(v.len())].trim().to_owned();
    if let Some(at) = cut.filter(|_| !value.is_empty()) {
        if v[..at].ends_with([' ', '\t']) {
            // `value # note`: reads as it looks.
            lint(Level::Note, format!("`{}` is a comment", v[at..].trim_end()), None);
        } else {
            // `s3cr#et`: a value with a `#` in it, cut. What was meant runs up to a comment
            // that looks like one (` # …`), if any.
            let meant = v[at..].find([' ', '\t']).map_or(v.len(), |i| at + i);
            lint(
                Level::Changed,
                "`#` inside an unquoted value starts a comment: the value is cut there".into(),
                Some(v[..meant].to_owned()),
            );
        }
    }
    if value.contains('$') {
        lint(
            Level::Caution,
            "`$` in an unquoted value: dotenv substitutes $NAME; use single quotes".into(),
            None,
        );
    }
    if value.contains('\\') {
        lint(
            Level::Caution,
            "`\\` in an unquoted value: dotenv drops backslashes; use single quotes".into(),
            None,
        );
    }
    value.replace('\\', "")
}

fn closing_quote(s: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            c if c == q && !escaped => {
                // Only a quote followed by nothing but blanks or a comment closes the value.
                let tail = s[i + 1..].trim_start();
                return (tail.is_empty() || tail.starts_with('#')).then_some(i);
            }
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lints(env: &EnvFile) -> Vec<(Option<&str>, usize, &str)> {
        env.lints.iter().map(|l| (l.key.as_deref(), l.line, l.what.split(':').next().unwrap())).collect()
    }

    #[test]
    fn reads_values_as_the_ruby_gem_does() {
        let env = EnvFile::parse(
            "# comment\nexport OIDC_ENABLED=true\nOIDC_ISSUER = \"https://a/application/o/m/\"\n\
             OIDC_SCOPE='openid,profile,email' # why\nOIDC_CLIENT_SECRET=abc#def\nOIDC_UID_FIELD=sub  \n\
             OIDC_UID_FIELD=preferred_username\nOIDC_DISPLAY_NAME=\"auth\n",
        );
        assert_eq!(env.get("OIDC_ENABLED"), Some("true"));
        assert_eq!(env.get("OIDC_ISSUER"), Some("https://a/application/o/m/"));
        assert_eq!(env.get("OIDC_SCOPE"), Some("openid,profile,email"));
        assert_eq!(env.get("OIDC_CLIENT_SECRET"), Some("abc"));
        assert_eq!(env.get("OIDC_UID_FIELD"), Some("preferred_username"));
        assert_eq!(env.line("OIDC_UID_FIELD"), Some(7));
        assert_eq!(env.get("OIDC_DISPLAY_NAME"), Some("\"auth"));
        assert_eq!(
            lints(&env),
            vec![
                (Some("OIDC_ENABLED"), 2, "`export` prefix"),
                (Some("OIDC_CLIENT_SECRET"), 5, "`#` inside an unquoted value starts a comment"),
                (Some("OIDC_UID_FIELD"), 7, "set twice"),
                (Some("OIDC_DISPLAY_NAME"), 8, "unbalanced \""),
            ]
        );
    }

    #[test]
    fn a_cut_value_and_a_comment_are_told_apart() {
        let env = EnvFile::parse("OIDC_CLIENT_SECRET=s3cr#et # note\nOIDC_CLIENT_ID=abc # from authentik\n");
        assert_eq!(env.get("OIDC_CLIENT_SECRET"), Some("s3cr"));
        assert_eq!(env.get("OIDC_CLIENT_ID"), Some("abc"));
        let got: Vec<(Level, Option<&str>, &str)> =
            env.lints.iter().map(|l| (l.level, l.typed.as_deref(), l.what.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (
                    Level::Changed,
                    Some("s3cr#et"),
                    "`#` inside an unquoted value starts a comment: the value is cut there"
                ),
                (Level::Note, None, "`# from authentik` is a comment"),
            ]
        );
    }

    #[test]
    fn crlf_dollar_and_inner_spaces_are_named() {
        let env = EnvFile::parse("A=1\r\nOIDC_CLIENT_SECRET=x$HOME\r\nOIDC_ISSUER=' https://a/'\r\n");
        assert_eq!(env.get("A"), Some("1"));
        assert_eq!(env.get("OIDC_ISSUER"), Some(" https://a/"));
        assert_eq!(
            lints(&env),
            vec![
                (None, 1, "Windows (CRLF) line endings"),
                (Some("OIDC_CLIENT_SECRET"), 2, "`$` in an unquoted value"),
                (Some("OIDC_ISSUER"), 3, "spaces inside the quotes are part of the value"),
            ]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for s in ["=", "export", "export =x", "\"", "K=\"\\", "K='", "ä=ö", "K: v", "K:v", "\u{0}"] {
            let _ = EnvFile::parse(s);
        }
        assert_eq!(EnvFile::parse("K: v").get("K"), Some("v"));
    }
}
