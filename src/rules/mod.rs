//! The rules: one small pure function per check, grouped by protocol step. Each gets the
//! exchange, what was decoded from it, the flow as it stood before it, the deployment's
//! expectations and the signature verdict, and returns findings. Nothing here does I/O.

pub mod authorize;
pub mod backchannel;
pub mod catalogue;
pub mod causes;
pub mod clock;
pub mod config;
pub mod config_check;
pub mod diff;
pub mod discovery;
pub mod finding;
pub mod flow;
pub mod gateway;
pub mod id_token;
pub mod json;
pub mod mastodon;
pub mod passed;
pub mod token;
pub mod userinfo;

use std::collections::{HashMap, HashSet};

/// Longest value a finding's expected/seen shows whole (a state, a nonce); the wire can send
/// kilobytes, a person reads a line.
pub const EVIDENCE_MAX: usize = 160;

pub use catalogue::RuleId;
pub use finding::{Finding, Severity};

use crate::capture::Exchange;
use crate::expect::Expectations;
use crate::oidc::flow::Flow;
use crate::oidc::messages::AuthorizeRequest;
use crate::oidc::{Decoded, EndpointBook};
use crate::verify::SigOutcome;

/// What users were seen with which uid, across flows (for MASTODON-UID-CHANGED).
#[derive(Debug, Default)]
pub struct UidHistory {
    /// sub or email → (uid value, flow it was seen in).
    pub seen: HashMap<String, (String, u64)>,
}

/// Everything a rule may look at.
pub struct Ctx<'a> {
    pub ex: &'a Exchange,
    pub d: &'a Decoded,
    /// The flow as it stood before this exchange.
    pub flow: Option<&'a Flow>,
    pub flow_id: Option<u64>,
    /// The relying party whose login this is: its vocabulary renders the findings, its
    /// account mapping decides which claims matter.
    pub rp: &'static crate::rp::Profile,
    pub exp: &'a Expectations,
    /// Unix ms: the end of this exchange (the core's "now").
    pub now_ms: u64,
    pub sig: Option<&'a SigOutcome>,
    pub book: &'a EndpointBook,
    /// Issuer of the endpoint this exchange went to, if known.
    pub issuer: Option<&'a str>,
    pub history: &'a UidHistory,
    /// Which key joined this exchange to its flow (a fallback means a correlation value broke).
    pub joined_by: Option<crate::oidc::flow::JoinedBy>,
}

impl<'a> Ctx<'a> {
    /// The authorize request of this login (this exchange's, else the flow's).
    pub fn authorize(&self) -> Option<&'a AuthorizeRequest> {
        self.d.authorize.as_ref().or_else(|| self.flow.and_then(|f| f.authorize.as_ref().map(|s| &s.value)))
    }

    /// The issuer discovery reported for this login.
    pub fn discovered_issuer(&self) -> Option<&'a str> {
        self.d
            .discovery
            .as_ref()
            .and_then(|d| d.issuer.as_deref())
            .or_else(|| self.flow.and_then(|f| f.discovery.as_ref()).and_then(|d| d.value.issuer.as_deref()))
            .or(self.issuer)
    }

    /// The client id this login uses (token request, authorize request, flow).
    pub fn client_id(&self) -> Option<&'a str> {
        self.d
            .token_request
            .as_ref()
            .and_then(|t| t.client_auth.client_id.as_deref())
            .or_else(|| self.authorize().and_then(|a| a.client_id.as_deref()))
            .or_else(|| self.flow.and_then(|f| f.client_id.as_deref()))
    }

    /// Attaches flow and exchange ids.
    pub fn at(&self, f: Finding) -> Finding {
        Finding { flow: self.flow_id, exchange: Some(self.ex.id), ..f }
    }
}

/// Runs every rule that applies to one exchange.
pub fn evaluate(ctx: &Ctx) -> Vec<Finding> {
    let mut out = vec![];
    gateway::check(ctx, &mut out);
    backchannel::check(ctx, &mut out);
    discovery::check(ctx, &mut out);
    config::check(ctx, &mut out);
    authorize::check(ctx, &mut out);
    token::check(ctx, &mut out);
    clock::check(ctx, &mut out);
    id_token::check(ctx, &mut out);
    userinfo::check(ctx, &mut out);
    mastodon::check(ctx, &mut out);
    json::check(ctx, &mut out);
    out.into_iter().map(|f| ctx.at(f)).collect()
}

/// Remembers which "not checked" notes were already given, so each is said once (the same
/// rule with the same words: a missing expectation once, each truncated body each time).
#[derive(Debug, Default)]
pub struct NotChecked {
    said: HashSet<(RuleId, String)>,
}

impl NotChecked {
    /// Keeps a "not checked" info finding only the first time its rule says it.
    pub fn filter(&mut self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter(|f| !f.not_checked || self.said.insert((f.rule, f.message.clone())))
            .collect()
    }
}

/// The fix for an issuer that is not what Mastodon expects. An `http://` issuer where
/// `https://` was expected is authentik missing X-Forwarded-Proto: never "fix" it by putting
/// http:// into OIDC_ISSUER.
pub fn issuer_fix(mastodon_side: &str, discovered: &str) -> String {
    if discovered.starts_with("http://")
        && mastodon_side.starts_with("https://")
        && discovered[7..] == mastodon_side[8..]
    {
        return "authentik built an http:// issuer: make the proxy in front of authentik send X-Forwarded-Proto: https and add that proxy to AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS (do not set ⟨issuer⟩ to http://)".into();
    }
    let only_slash = discovered.trim_end_matches('/') == mastodon_side.trim_end_matches('/');
    if only_slash
        && mastodon_side.ends_with('/')
        && !discovered.ends_with('/')
        && is_authentik_issuer(mastodon_side)
    {
        // authentik builds every issuer with the slash: a document without it was rewritten.
        return format!(
            "authentik's issuer always ends with '/': something between authentik and ⟨app⟩ rewrites /.well-known/openid-configuration (a proxy or cache); fix that and keep ⟨issuer⟩={mastodon_side} (the ID token's iss has the slash)"
        );
    }
    let slash =
        if only_slash && discovered.ends_with('/') { " (authentik's issuer ends with '/')" } else { "" };
    format!("set ⟨issuer⟩={discovered} in ⟨config⟩{slash} and ⟨apply⟩")
}

/// `https://host/application/o/<slug>/`: the shape of every issuer authentik builds.
fn is_authentik_issuer(issuer: &str) -> bool {
    url::Url::parse(issuer).is_ok_and(|u| {
        let segs: Vec<&str> = u.path().split('/').collect();
        matches!(segs.as_slice(), ["", "application", "o", slug, ""] if !slug.is_empty())
    })
}

/// "not checked: pass …" for a rule lacking an expectation.
pub fn not_checked(rule: RuleId, what: &str, seen: Option<&str>) -> Finding {
    Finding::not_checked(rule, what, seen)
}

#[cfg(test)]
mod issuer_fix_tests {
    fn issuer_fix(mastodon_side: &str, discovered: &str) -> String {
        crate::rp::default().render(&super::issuer_fix(mastodon_side, discovered))
    }

    #[test]
    fn the_fix_never_contradicts_itself() {
        let slash = "https://authentik.test/application/o/mastodon/";
        let bare = "https://authentik.test/application/o/mastodon";
        // OIDC_ISSUER lacks the slash authentik's issuer has.
        assert_eq!(
            issuer_fix(bare, slash),
            format!(
                "set OIDC_ISSUER={slash} in .env.production (authentik's issuer ends with '/') and restart Mastodon"
            )
        );
        // Discovery lacks the slash authentik always writes: the document was rewritten.
        let f = issuer_fix(slash, bare);
        assert!(
            f.starts_with(
                "authentik's issuer always ends with '/': something between authentik and Mastodon rewrites"
            ),
            "{f}"
        );
        assert!(f.contains(&format!("keep OIDC_ISSUER={slash}")), "{f}");
        // Not authentik's shape: no claim about authentik.
        assert_eq!(
            issuer_fix("https://idp.test/", "https://idp.test"),
            "set OIDC_ISSUER=https://idp.test in .env.production and restart Mastodon"
        );
    }
}
