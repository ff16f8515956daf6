//! Correlation: which exchanges belong to one login attempt. Joins on state (authorize ↔
//! response), code (response ↔ token request), nonce (authorize ↔ ID token), access token
//! (token response ↔ userinfo), client_id and issuer. Secrets are joined by fingerprint, so a
//! redacted trace correlates exactly like the live one. Memory is bounded: flows expire when
//! idle and the oldest are evicted past a cap.

use std::collections::BTreeMap;

use crate::oidc::caller::Caller;
pub use crate::oidc::flow::JoinedBy;
use crate::oidc::flow::{BrowserKey, Flow, Outcome, ProviderLeg, Seen, Stage, Step};
use crate::oidc::{Decoded, ExchangeKind};
use crate::redact::fp_of;

/// Limits of the tracker.
#[derive(Debug, Clone)]
pub struct FlowLimits {
    /// A flow with no new exchange for this long is closed and forgotten.
    pub idle_ms: u64,
    /// A flow that fetched discovery and then nothing for this long is declared abandoned.
    pub abandon_ms: u64,
    pub max_flows: usize,
    pub max_steps: usize,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits { idle_ms: 300_000, abandon_ms: 15_000, max_flows: 1000, max_steps: 256 }
    }
}

fn close(mut f: Flow) -> (Flow, bool) {
    let was_open = f.outcome.is_none();
    if was_open {
        f.outcome = Some(match f.stage {
            Stage::Failed => Outcome::Failed,
            Stage::Complete => Outcome::Complete,
            Stage::Discovered if f.authorize.is_none() && f.discovery.is_some() => Outcome::Abandoned,
            _ => Outcome::Incomplete,
        });
    }
    (f, was_open)
}

/// All live flows, oldest first.
#[derive(Debug, Default)]
pub struct FlowTracker {
    pub(super) flows: BTreeMap<u64, Flow>,
    next_id: u64,
    pub limits: FlowLimits,
    /// Flows forgotten because of `max_flows`.
    pub evicted: u64,
}

/// Where an exchange went, and by which key.
pub struct Assignment {
    pub flow: Option<u64>,
    pub opened: bool,
    pub joined_by: Option<JoinedBy>,
}

/// How long after its start a login can still be joined by client_id + redirect_uri.
const CLIENT_WINDOW_MS: u64 = 600_000;

fn key_rank(k: &BrowserKey) -> u8 {
    match k {
        BrowserKey::AuthentikSession(_) => 0,
        BrowserKey::MastodonSession(_) => 1,
        BrowserKey::AddressAndAgent(_) => 2,
    }
}

impl FlowTracker {
    /// Flows are numbered from `before` + 1.
    pub fn new(limits: FlowLimits, before: u64) -> FlowTracker {
        FlowTracker { limits, next_id: before, ..Default::default() }
    }

    /// The number of the last flow opened.
    pub fn last_id(&self) -> u64 {
        self.next_id
    }

    pub fn get(&self, id: u64) -> Option<&Flow> {
        self.flows.get(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Flow> {
        self.flows.values()
    }

    /// Logins not closed yet.
    pub fn open_count(&self) -> usize {
        self.flows.values().filter(|f| f.outcome.is_none()).count()
    }

    /// Newest flow matching `pred`.
    fn newest(&self, pred: impl Fn(&Flow) -> bool) -> Option<u64> {
        self.flows.values().rev().find(|f| pred(f)).map(|f| f.id)
    }

    fn open(&mut self, ts: u64) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.flows.insert(id, Flow::new(id, ts));
        while self.flows.len() > self.limits.max_flows {
            if let Some((&oldest, _)) = self.flows.iter().next() {
                self.flows.remove(&oldest);
                self.evicted += 1;
            }
        }
        id
    }

    /// The only open flow among those `pred` accepts that shares a browser key with `keys`,
    /// trying the strongest kind of key first; `None` when none or several fit.
    fn by_browser(&self, keys: &[BrowserKey], pred: impl Fn(&Flow) -> bool) -> Option<(u64, JoinedBy)> {
        for (kind, joined) in
            [(0, JoinedBy::AuthentikSession), (1, JoinedBy::MastodonSession), (2, JoinedBy::ClientAddress)]
        {
            let mine: Vec<&BrowserKey> = keys.iter().filter(|k| key_rank(k) == kind).collect();
            if mine.is_empty() {
                continue;
            }
            let fits: Vec<u64> = self
                .flows
                .values()
                .filter(|f| f.outcome.is_none() && pred(f) && f.browsers.iter().any(|b| mine.contains(&b)))
                .map(|f| f.id)
                .collect();
            match fits.as_slice() {
                [one] => return Some((*one, joined)),
                [] => continue,
                _ => return None, // ambiguous: a weak key never picks between logins
            }
        }
        None
    }

    /// The only open flow of this client waiting at `stage`, started within the window.
    fn by_client(
        &self,
        client_id: Option<&str>,
        redirect: Option<&str>,
        stage: Stage,
        ts: u64,
    ) -> Option<u64> {
        let fits: Vec<u64> = self
            .flows
            .values()
            .filter(|f| {
                f.outcome.is_none() && f.stage == stage && ts.saturating_sub(f.started_ms) <= CLIENT_WINDOW_MS
            })
            .filter(|f| client_id.is_none_or(|c| f.client_id.as_deref() == Some(c)))
            .filter(|f| {
                redirect.is_none_or(|r| {
                    f.authorize.as_ref().and_then(|a| a.value.redirect_uri.as_deref()).is_some_and(|ar| {
                        crate::oidc::url::split_url(ar).base == crate::oidc::url::split_url(r).base
                    })
                })
            })
            .map(|f| f.id)
            .collect();
        match fits.as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// Picks (or opens) the flow for a decoded exchange, strongest key first: state, code,
    /// nonce, access token; the provider's interaction identifier (the authorize query that
    /// authentik's flow carries); the browser (session cookies, then address + User-Agent);
    /// last the client_id + redirect_uri within a window. A weak key joins only when exactly
    /// one flow fits, so it never merges two logins a strong key keeps apart. `issuer` is the
    /// issuer the endpoint belongs to, when known.
    pub fn assign(&mut self, d: &Decoded, issuer: Option<&str>, ts: u64) -> Assignment {
        let found = self.find(d, issuer, ts);
        match found {
            Some((id, joined_by)) => Assignment { flow: Some(id), opened: false, joined_by: Some(joined_by) },
            // The tool's own calls (check-config, the key fetch) are nobody's login.
            None if d.caller == Some(Caller::Gateway) => {
                Assignment { flow: None, opened: false, joined_by: None }
            }
            None if matches!(
                d.kind,
                ExchangeKind::Other
                    | ExchangeKind::Jwks
                    | ExchangeKind::RpFailure
                    | ExchangeKind::ProviderFlow
                    | ExchangeKind::EndSession
                    | ExchangeKind::Introspection
                    | ExchangeKind::Revocation
            ) =>
            {
                Assignment { flow: None, opened: false, joined_by: None }
            }
            // A token call whose request could not be read carries nothing to open on.
            None if d.kind == ExchangeKind::Token && d.token_request.is_none() => {
                Assignment { flow: None, opened: false, joined_by: None }
            }
            None => Assignment { flow: Some(self.open(ts)), opened: true, joined_by: Some(JoinedBy::Opened) },
        }
    }

    fn find(&self, d: &Decoded, issuer: Option<&str>, ts: u64) -> Option<(u64, JoinedBy)> {
        let same_issuer = |f: &Flow| match (issuer, f.issuer.as_deref()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        let by_state = |s: &Option<String>| s.as_deref().map(fp_of);
        let with = |id: Option<u64>, how: JoinedBy| id.map(|id| (id, how));
        match d.kind {
            ExchangeKind::Discovery => {
                // The callback phase fetches discovery again: attach to the flow waiting for
                // its token; otherwise this starts a new attempt.
                let iss = d.discovery.as_ref().and_then(|x| x.issuer.clone()).or(issuer.map(str::to_owned));
                let iss_match = |f: &Flow| iss.is_none() || f.issuer.is_none() || f.issuer == iss;
                with(
                    self.newest(|f| f.outcome.is_none() && f.stage == Stage::CodeIssued && iss_match(f)),
                    JoinedBy::Issuer,
                )
            }
            ExchangeKind::Authorize
            | ExchangeKind::RpLogin
            | ExchangeKind::AuthorizeResponse
            | ExchangeKind::RpCallback
            | ExchangeKind::ProviderFlow => {
                let state = d
                    .authorize
                    .as_ref()
                    .and_then(|a| by_state(&a.state))
                    .or_else(|| d.authorization_response.as_ref().and_then(|r| by_state(&r.state)));
                let code = d.authorization_response.as_ref().and_then(|r| r.code.as_deref().map(fp_of));
                let resumed = d.resumes.as_ref().and_then(|a| by_state(&a.state));
                let starts = d.authorize.is_some() || (d.kind == ExchangeKind::RpLogin && d.rp.is_some());
                let awaiting_code = |f: &Flow| f.stage == Stage::Authorizing && f.code_fp.is_none();
                if let Some(hit) = with(
                    state.as_ref().and_then(|s| self.newest(|f| f.state_fp.as_ref() == Some(s))),
                    JoinedBy::State,
                ) {
                    return Some(hit);
                }
                if let Some(hit) = with(
                    code.as_ref().and_then(|c| self.newest(|f| f.code_fp.as_ref() == Some(c))),
                    JoinedBy::Code,
                ) {
                    return Some(hit);
                }
                if let Some(hit) = with(
                    resumed.as_ref().and_then(|s| self.newest(|f| f.state_fp.as_ref() == Some(s))),
                    JoinedBy::ProviderInteraction,
                ) {
                    return Some(hit);
                }
                // An authorize without state: the request phase that redirected to it carried
                // the same nonce (the browser follows Mastodon's Location).
                let nonce =
                    d.authorize.as_ref().filter(|a| a.state.is_none()).and_then(|a| by_state(&a.nonce));
                if let Some(hit) = with(
                    nonce.as_ref().and_then(|n| {
                        self.newest(|f| {
                            f.outcome.is_none()
                                && f.code_fp.is_none()
                                && f.nonce.as_deref().map(fp_of).as_ref() == Some(n)
                        })
                    }),
                    JoinedBy::Nonce,
                ) {
                    return Some(hit);
                }
                if starts {
                    // A new authorize (or Mastodon's request phase) continues the attempt
                    // whose discovery it follows; it never joins another browser's login.
                    return with(
                        self.newest(|f| {
                            f.outcome.is_none()
                                && f.stage == Stage::Discovered
                                && f.authorize.is_none()
                                && same_issuer(f)
                        }),
                        JoinedBy::Issuer,
                    );
                }
                // A response whose keys match no login: the browser, then the client.
                if let Some(hit) = self.by_browser(&d.browser, awaiting_code) {
                    return Some(hit);
                }
                let r = d.authorization_response.as_ref()?;
                with(
                    self.by_client(None, Some(&r.redirect_to), Stage::Authorizing, ts),
                    JoinedBy::ClientRedirect,
                )
            }
            ExchangeKind::Token => {
                let t = d.token_request.as_ref()?;
                let code = t.code.as_deref().map(fp_of);
                if let Some(hit) = with(
                    code.and_then(|c| self.newest(|f| f.code_fp.as_deref() == Some(c.as_str()))),
                    JoinedBy::Code,
                ) {
                    return Some(hit);
                }
                // A code no login issued: the one login of this client waiting for its token.
                let hit = self.by_client(t.client_auth.client_id.as_deref(), None, Stage::CodeIssued, ts)?;
                self.get(hit).filter(|f| f.token_request.is_none())?;
                Some((hit, JoinedBy::ClientRedirect))
            }
            ExchangeKind::Jwks => with(
                self.newest(|f| {
                    f.outcome.is_none() && f.stage == Stage::TokenIssued && !f.jwks_seen && same_issuer(f)
                })
                .or_else(|| {
                    self.newest(|f| {
                        f.outcome.is_none() && !f.jwks_seen && f.stage < Stage::Complete && same_issuer(f)
                    })
                }),
                JoinedBy::Issuer,
            ),
            ExchangeKind::Userinfo => with(
                d.userinfo_request
                    .as_ref()
                    .and_then(|u| u.access_token.as_deref())
                    .map(fp_of)
                    .and_then(|t| self.newest(|f| f.access_token_fp.as_deref() == Some(t.as_str()))),
                JoinedBy::AccessToken,
            ),
            ExchangeKind::EndSession | ExchangeKind::Introspection | ExchangeKind::Revocation => {
                let tokens: Vec<String> = d
                    .params
                    .iter()
                    .filter(|(k, _)| k == "token" || k == "id_token_hint")
                    .map(|(_, v)| fp_of(v))
                    .collect();
                with(
                    self.newest(|f| {
                        tokens.iter().any(|t| {
                            f.access_token_fp.as_deref() == Some(t.as_str())
                                || f.token_response
                                    .as_ref()
                                    .and_then(|r| r.value.id_token.as_deref())
                                    .map(fp_of)
                                    .as_deref()
                                    == Some(t.as_str())
                        })
                    }),
                    JoinedBy::AccessToken,
                )
            }
            ExchangeKind::RpFailure => {
                self.by_browser(&d.browser, |f| f.rp.as_ref().is_some_and(|r| r.value.failed)).or_else(|| {
                    with(self.newest(|f| f.rp.as_ref().is_some_and(|r| r.value.failed)), JoinedBy::Issuer)
                })
            }
            // A provider's own page during a login (its login form, a hop of its own): the
            // browser's login that waits for its code, when exactly one does.
            ExchangeKind::Other if d.provider_page => {
                self.by_browser(&d.browser, |f| f.stage == Stage::Authorizing && f.code_fp.is_none())
            }
            ExchangeKind::Other => None,
        }
    }

    /// Open logins of the same browser session (a session cookie in common) still waiting
    /// for their code, other than `id`: a new authorize from that browser replaces them.
    pub fn supersede(&mut self, id: u64) -> Vec<u64> {
        let Some(f) = self.flows.get(&id) else { return vec![] };
        let mine: Vec<BrowserKey> = f.browsers.iter().filter(|k| k.is_session()).cloned().collect();
        if mine.is_empty() || f.authorize.is_none() {
            return vec![];
        }
        let older: Vec<u64> = self
            .flows
            .values()
            .filter(|o| {
                o.id != id
                    && o.outcome.is_none()
                    && o.stage == Stage::Authorizing
                    && o.browsers.iter().any(|b| mine.contains(b))
            })
            .map(|o| o.id)
            .collect();
        for o in &older {
            if let Some(f) = self.flows.get_mut(o) {
                f.outcome = Some(Outcome::Abandoned);
                f.superseded_by = Some(id);
            }
        }
        older
    }

    /// Folds a decoded exchange into its flow. Returns the outcome if this exchange ended it.
    pub fn record(
        &mut self,
        id: u64,
        d: &Decoded,
        exchange: u64,
        ts: u64,
        issuer: Option<&str>,
    ) -> Option<Outcome> {
        let max_steps = self.limits.max_steps;
        let f = self.flows.get_mut(&id)?;
        f.last_ms = f.last_ms.max(ts);
        if f.steps.len() < max_steps {
            f.steps.push(Step { exchange, kind: d.kind, ts });
        } else {
            f.steps_dropped += 1;
        }
        if f.issuer.is_none() {
            f.issuer = issuer.map(str::to_owned);
        }
        // The browser's identity, from front-channel steps only (Mastodon's back channel
        // comes from one server address for every user).
        if !d.kind.is_back_channel() && d.caller != Some(Caller::Gateway) {
            for k in &d.browser {
                if !f.browsers.contains(k) && f.browsers.len() < 16 {
                    f.browsers.push(k.clone());
                }
            }
        }
        if d.kind == ExchangeKind::ProviderFlow || d.resumes.is_some() {
            let leg = f.provider_leg.get_or_insert(ProviderLeg { first_ms: ts, ..Default::default() });
            leg.calls += 1;
            leg.last_ms = leg.last_ms.max(ts);
            if let Some(s) = &d.flow_stage
                && leg.stages.last() != Some(s)
                && leg.stages.len() < 32
            {
                leg.stages.push(s.clone());
            }
        }
        let advance = |f: &mut Flow, s: Stage| {
            if f.stage != Stage::Failed && s > f.stage {
                f.stage = s;
            }
        };
        let mut failed = false;
        if let Some(disc) = &d.discovery {
            if f.issuer.is_none() {
                f.issuer = disc.issuer.clone();
            }
            f.discovery = Some(Seen::at(exchange, ts, disc.clone()));
            failed |= !(200..300).contains(&disc.status) || !disc.valid_json;
        }
        if let Some(a) = &d.authorize {
            f.state_fp = a.state.as_deref().map(fp_of).or(f.state_fp.take());
            f.nonce = a.nonce.clone().or(f.nonce.take());
            if f.client_id.is_none() {
                f.client_id = a.client_id.clone();
            }
            // Mastodon's redirect and the browser's request carry the same authorize: keep
            // the one the provider answered.
            if f.authorize.is_none() || d.kind != ExchangeKind::RpLogin {
                f.authorize = Some(Seen::at(exchange, ts, a.clone()));
            }
            advance(f, Stage::Authorizing);
        }
        if d.provider_error.is_some() {
            failed = true;
        }
        // The gateway could not reach the provider for a step of this login: it failed there.
        if matches!(d.unreadable, Some(crate::oidc::Unreadable::GatewayAnswered { .. })) {
            failed = true;
        }
        if let Some(r) = &d.authorization_response {
            if f.state_fp.is_none() {
                f.state_fp = r.state.as_deref().map(fp_of);
            }
            if let Some(c) = &r.code {
                f.code_fp = Some(fp_of(c));
            }
            let first = f.auth_response.is_none();
            if first || d.kind != ExchangeKind::RpCallback {
                f.auth_response = Some(Seen::at(exchange, ts, r.clone()));
            }
            if r.error.is_some() {
                failed = true;
            } else {
                advance(f, Stage::CodeIssued);
            }
        }
        if let Some(t) = &d.token_request {
            f.code_redemptions += 1;
            if f.client_id.is_none() {
                f.client_id = t.client_auth.client_id.clone();
            }
            if f.code_fp.is_none() {
                f.code_fp = t.code.as_deref().map(fp_of);
            }
            f.token_request = Some(Seen::at(exchange, ts, t.clone()));
        }
        if let Some(t) = &d.token_response {
            if let Some(at) = &t.access_token {
                f.access_token_fp = Some(fp_of(at));
            }
            if let Some(j) = &t.id_token_decoded {
                f.id_token = Some(Seen::at(exchange, ts, j.clone()));
            }
            if t.status == 200 && t.access_token.is_some() {
                advance(f, Stage::TokenIssued);
            } else {
                failed = true;
            }
            f.token_response = Some(Seen::at(exchange, ts, t.clone()));
        }
        // The gateway's own key fetch does not count: the relying party's fetch is still due.
        if d.jwks.is_some() && d.caller != Some(Caller::Gateway) {
            f.jwks_seen = true;
        }
        if let Some(u) = &d.userinfo_response {
            if u.status == 200 {
                advance(f, Stage::Complete);
            } else {
                failed = true;
            }
            f.userinfo = Some(Seen::at(exchange, ts, u.clone()));
        }
        if let Some(rp) = &d.rp {
            failed |= rp.failed;
            f.rp = Some(Seen::at(exchange, ts, rp.clone()));
            // Mastodon answered its callback by signing the user in: the login completed, even
            // when its back channel is not in the trace (a browser's HAR).
            if d.kind == ExchangeKind::RpCallback && !rp.failed && rp.redirect_to.is_some() {
                advance(f, Stage::Complete);
            }
        }
        match d.kind {
            ExchangeKind::RpLogin | ExchangeKind::RpFailure => f.rp_fronted = true,
            ExchangeKind::RpCallback => {
                f.rp_fronted = true;
                f.rp_callback_seen = true;
            }
            _ => {}
        }
        if failed {
            f.stage = Stage::Failed;
        }
        if f.outcome.is_none() {
            // When Mastodon is fronted too and the browser was sent back to it, Mastodon's
            // callback answer ends the login.
            let outcome = match f.stage {
                _ if f.awaiting_callback() => None,
                Stage::Failed => Some(Outcome::Failed),
                Stage::Complete => Some(Outcome::Complete),
                _ => None,
            };
            f.outcome = outcome;
            return outcome;
        }
        None
    }

    /// Flows that fetched discovery and then went quiet for `abandon_ms`: marked abandoned
    /// (once) and returned.
    pub fn abandoned(&mut self, now: u64) -> Vec<u64> {
        let limit = self.limits.abandon_ms;
        let mut out = vec![];
        for f in self.flows.values_mut() {
            if f.outcome.is_none()
                && f.stage == Stage::Discovered
                && f.authorize.is_none()
                && f.discovery.is_some()
                && now.saturating_sub(f.last_ms) >= limit
            {
                f.outcome = Some(Outcome::Abandoned);
                out.push(f.id);
            }
        }
        out
    }

    /// Removes flows idle for `idle_ms`. Each comes back with whether it was still open (it
    /// is then given the outcome `abandoned` or `incomplete`).
    pub fn expire(&mut self, now: u64) -> Vec<(Flow, bool)> {
        let idle = self.limits.idle_ms;
        let ids: Vec<u64> =
            self.flows.values().filter(|f| now.saturating_sub(f.last_ms) >= idle).map(|f| f.id).collect();
        ids.into_iter().filter_map(|id| self.flows.remove(&id)).map(close).collect()
    }

    /// Ends every flow (end of a trace, shutdown): the same as expiring them all now.
    pub fn drain(&mut self) -> Vec<(Flow, bool)> {
        std::mem::take(&mut self.flows).into_values().map(close).collect()
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

#[cfg(test)]
#[path = "correlate_tests.rs"]
mod tests;
