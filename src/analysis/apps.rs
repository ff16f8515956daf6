//! Whose login it is: the relying-party profile a login reads in (`--rp`, else recognised
//! from its redirect_uri), the expectations it is judged against (only its own
//! application's), and when a login ends for a client that does not call userinfo.

use super::Analyzer;
use super::correlate::FlowTracker;
use crate::expect::Expectations;
use crate::oidc::Decoded;
use crate::oidc::flow::{Outcome, Stage};

impl Analyzer {
    /// The profile a login reads in: `--rp`; else the one its redirect_uri (this exchange's
    /// or an earlier one's) names; else the default.
    pub(super) fn profile(&self, flow: Option<u64>, d: &Decoded) -> &'static crate::rp::Profile {
        if let Some(p) = self.rp {
            return p;
        }
        let known = flow.and_then(|id| self.flows.get(id)).and_then(|f| f.app).and_then(crate::rp::by_name);
        if let Some(p) = known {
            return p;
        }
        match d.redirect_uri() {
            Some(uri) => crate::rp::recognise(uri).unwrap_or_else(|| {
                // No profile's route, and not a near miss of the default's: an application
                // this tool has no words for, judged in OIDC Core's.
                let default = crate::rp::default();
                if crate::rules::config::owned_by(default, uri, self.exp.web_domain.as_deref()) {
                    default
                } else {
                    crate::rp::generic()
                }
            }),
            None => crate::rp::default(),
        }
    }

    /// The expectations a login of `rp` is judged against: the configured ones when they are
    /// that application's, none otherwise (Mastodon's OIDC_CLIENT_ID says nothing of Synapse's).
    pub(super) fn expectations_for(&self, rp: &crate::rp::Profile) -> &Expectations {
        // `--rp` names whose settings these are; without it they are the default's (Mastodon's).
        if self.exp.rp.unwrap_or(crate::rp::default().name) == rp.name {
            return &self.exp;
        }
        // Every profile has its entry (made from `PROFILES` with the analyzer).
        self.no_expectations.iter().find(|(n, _)| *n == rp.name).map_or(&self.exp, |(_, e)| e)
    }
}

impl FlowTracker {
    /// Records which application a login belongs to (the first answer stays).
    pub fn set_app(&mut self, id: u64, app: &'static str) {
        if let Some(f) = self.flows.get_mut(&id) {
            f.app.get_or_insert(app);
        }
    }

    /// A verified ID token ends the login of a relying party that does not call userinfo: the
    /// flow is complete (closed, unless the gateway also waits for the callback's answer).
    pub fn ends_at_token(&mut self, id: u64) -> Option<Outcome> {
        let f = self.flows.get_mut(&id)?;
        if f.stage != Stage::TokenIssued || f.outcome.is_some() {
            return None;
        }
        f.stage = Stage::Complete;
        (!f.awaiting_callback()).then(|| {
            f.outcome = Some(Outcome::Complete);
            Outcome::Complete
        })
    }
}
