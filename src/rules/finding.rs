//! A finding is data: a stable rule id, a severity, where it was seen, the evidence (field,
//! expected, seen, and a hint that points at the difference), why it matters, the fix in this
//! deployment's terms, what Mastodon will do, and the spec or source it rests on.

use serde::Serialize;

use super::catalogue::RuleId;

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
    pub rule: RuleId,
    pub severity: Severity,
    /// The rule could not decide (an expectation or a value is missing): the finding says
    /// what was not checked and why, instead of guessing. Always severity info.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_checked: bool,
    /// The catalogue's title of the rule.
    pub title: &'static str,
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
    /// The setting to change: Mastodon `.env.production` variable or authentik field (the
    /// catalogue's fix unless the rule names the exact value for this case).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
    /// What Mastodon will do or say because of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mastodon: Option<String>,
    /// Spec section or source.
    pub reference: &'static str,
    /// The relying party's profile the words are in, when it is not the default (Mastodon).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rp: Option<&'static str>,
    /// The finding this one is a consequence of (in the same login): its evidence and fix
    /// are that finding's, so they are not repeated here (`rules::causes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follows: Option<RuleId>,
}

impl Finding {
    /// A finding for `rule` with the catalogue's severity, title, fix and reference.
    pub fn new(rule: RuleId, message: impl Into<String>) -> Finding {
        let e = rule.entry();
        Finding {
            rule,
            severity: e.severity,
            not_checked: false,
            title: e.title,
            flow: None,
            exchange: None,
            message: message.into(),
            field: None,
            expected: None,
            seen: None,
            hint: None,
            diff_at: None,
            why: String::new(),
            fix: e.fix.to_owned(),
            mastodon: None,
            reference: e.reference,
            rp: None,
            follows: None,
        }
    }

    /// Who the prediction (`mastodon`) is about, as a label: "Mastodon", "Synapse", …
    pub fn app(&self) -> String {
        let app = self.rp.and_then(crate::rp::by_name).unwrap_or_else(crate::rp::default).app;
        let mut c = app.chars();
        c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
    }

    /// Marks this finding a consequence of `cause`: one cause, one fix. The evidence and the
    /// fix are the cause's; what is left is what this step shows and what Mastodon does.
    pub fn follow(mut self, cause: RuleId) -> Self {
        self.follows = Some(cause);
        // What this step itself showed (a status, an error code) stays; a comparison is the cause's.
        if self.expected.is_some() {
            self.seen = None;
            self.field = None;
        }
        self.expected = None;
        self.hint = None;
        self.diff_at = None;
        self.why = format!("follows from {cause}");
        self.fix = String::new();
        self
    }

    /// "not checked: …": `rule` lacks an expectation or a value to decide; says so once.
    pub fn not_checked(rule: RuleId, what: &str, seen: Option<&str>) -> Finding {
        let mut f = Finding::new(rule, format!("not checked: {what}")).severity(Severity::Info);
        f.not_checked = true;
        f.fix = String::new();
        f.seen = seen.map(str::to_owned);
        f
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
    /// Replaces the catalogue's generic fix with one specific to this case.
    pub fn fix(mut self, f: impl Into<String>) -> Self {
        self.fix = f.into();
        self
    }
    pub fn mastodon(mut self, m: impl Into<String>) -> Self {
        self.mastodon = Some(m.into());
        self
    }
}

/// Puts a rule's neutral words (`⟨issuer⟩`, `⟨app⟩`, …) in `rp`'s vocabulary, and its
/// prediction in `rp`'s own words (or drops one that does not hold for that client).
pub fn render(f: &mut Finding, rp: &'static crate::rp::Profile) {
    f.message = rp.render(&f.message);
    f.why = rp.render(&f.why);
    f.fix = rp.render(&f.fix);
    f.field = f.field.as_deref().map(|x| rp.render(x));
    f.hint = f.hint.as_deref().map(|x| rp.render(x));
    f.mastodon = rp.predict(f.rule.as_str(), f.mastodon.as_deref());
    if let Some(why) = rp.tolerates(f.rule.as_str())
        && f.severity > Severity::Info
    {
        // Said where an information line is read: on its one line.
        f.severity = Severity::Info;
        f.message = format!("{}: {} {}", f.message, rp.app, rp.render(why));
        f.mastodon = Some(rp.render(why));
    }
    if !rp.is_default() {
        f.rp = Some(rp.name);
    }
}
