//! A finding is data: a stable rule id, a severity, where it was seen, the evidence (field,
//! expected, seen, and a hint that points at the difference), why it matters, the fix in this
//! deployment's terms, what Mastodon will do, and the spec or source it rests on.

use serde::Serialize;

use super::catalogue::entry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<u64>,
    /// One line: what is wrong.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
    /// Where expected and seen differ (trailing slash, scheme, host, port, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Character index of the first difference between expected and seen.
    #[serde(skip)]
    pub diff_at: Option<usize>,
    /// One sentence: why this breaks (or will break) the login.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
    /// The setting to change: Mastodon `.env.production` variable or authentik field.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
    /// What Mastodon will do or say because of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mastodon: Option<String>,
    /// Spec section or source.
    pub reference: &'static str,
}

impl Finding {
    /// A finding for `rule` with the catalogue's severity and reference.
    pub fn new(rule: &'static str, message: impl Into<String>) -> Finding {
        let e = entry(rule);
        Finding {
            rule,
            severity: e.map(|e| e.severity).unwrap_or(Severity::Warning),
            flow: None,
            exchange: None,
            message: message.into(),
            field: None,
            expected: None,
            seen: None,
            hint: None,
            diff_at: None,
            why: String::new(),
            fix: String::new(),
            mastodon: None,
            reference: e.map(|e| e.reference).unwrap_or(""),
        }
    }

    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }
    pub fn field(mut self, f: impl Into<String>) -> Self {
        self.field = Some(f.into());
        self
    }
    /// Expected vs seen, with the near-miss hint computed.
    pub fn evidence(mut self, expected: impl Into<String>, seen: impl Into<String>) -> Self {
        let (e, s) = (expected.into(), seen.into());
        self.hint = super::diff::near_miss(&e, &s);
        self.diff_at = super::diff::first_difference(&e, &s);
        self.expected = Some(e);
        self.seen = Some(s);
        self
    }
    pub fn seen(mut self, s: impl Into<String>) -> Self {
        self.seen = Some(s.into());
        self
    }
    pub fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = Some(e.into());
        self
    }
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
    pub fn why(mut self, w: impl Into<String>) -> Self {
        self.why = w.into();
        self
    }
    pub fn fix(mut self, f: impl Into<String>) -> Self {
        self.fix = f.into();
        self
    }
    pub fn mastodon(mut self, m: impl Into<String>) -> Self {
        self.mastodon = Some(m.into());
        self
    }
}
