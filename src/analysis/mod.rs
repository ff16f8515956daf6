//! The analysis core: exchanges in, decoded messages + flow events + findings out. No I/O and
//! no clock reads: an exchange's own end time is "now" for everything it triggers, so the live
//! proxy, an offline replay of its trace and the tests get identical results.

mod apps;
pub mod correlate;
mod event;
mod live;
pub use event::*;
pub mod order;
#[cfg(test)]
mod properties;

use crate::capture::Exchange;
use crate::expect::Expectations;
use crate::oidc::flow::Flow;
use crate::oidc::{Decoded, EndpointBook, ExchangeKind, decode_exchange};
use crate::rules::passed::Check;
use crate::rules::{Ctx, Finding, NotChecked, UidHistory};
use crate::verify::{KeyStore, SigOutcome, Unverifiable, is_hmac, verify_hmac};
use correlate::{FlowLimits, FlowTracker};
use std::collections::{HashMap, VecDeque};

/// Settings of the core.
#[derive(Debug, Clone, Default)]
pub struct AnalyzerConfig {
    pub limits: FlowLimits,
    pub expectations: Expectations,
    /// Verdicts of the live run, by exchange id, carried in a trace: what a redacted record
    /// can no longer re-check (a signature) is shown as checked live.
    pub live: HashMap<u64, LiveVerdict>,
    /// Flows are numbered from this + 1: a run that continues an earlier one (the demo's
    /// logins, each analysed on its own) keeps one numbering in console, journal, HAR, web
    /// view and report.
    pub flows_before: u64,
}

/// Owns everything learned so far: endpoints per issuer, signing keys, the live flows.
pub struct Analyzer {
    book: EndpointBook,
    /// What the capture should keep whole; taught what the book learns.
    interest: crate::oidc::interest::Interest,
    flows: FlowTracker,
    keys: KeyStore,
    exp: Expectations,
    history: UidHistory,
    not_checked: NotChecked,
    /// ID tokens that arrived before any JWKS of their issuer, checked when one passes.
    pending: VecDeque<PendingSig>,
    /// Verdicts of the live run carried in a trace (offline analysis only).
    live: HashMap<u64, LiveVerdict>,
    /// Rule ids each recent login raised at warning or error, in order (`causes::link`).
    raised: std::collections::BTreeMap<u64, Vec<(crate::rules::RuleId, crate::rules::Severity)>>,
    /// `--rp`, if given.
    rp: Option<&'static crate::rp::Profile>,
    /// What a login of another application than the expectations' is judged against: nothing
    /// but that application's own default account claim, per profile.
    no_expectations: Vec<(&'static str, Expectations)>,
}

/// An ID token waiting for keys.
struct PendingSig {
    exchange: u64,
    flow: Option<u64>,
    url: Option<String>,
    jwt: crate::oidc::jwt::DecodedJwt,
}

/// ID tokens kept waiting for keys at most (the oldest goes first).
const MAX_PENDING: usize = 64;

/// Logins whose raised rule ids are remembered (flow ids grow: the oldest go first).
const RAISED_KEPT: usize = 4096;

impl Analyzer {
    /// The predicate the capture asks which requests to keep whole (kept up to date as
    /// discovery documents are read).
    pub fn interest(&self) -> crate::oidc::interest::Interest {
        self.interest.clone()
    }

    pub fn new(cfg: AnalyzerConfig) -> Analyzer {
        // `--rp` (the expectations are that application's): every login reads in it.
        let rp = cfg.expectations.rp.and_then(crate::rp::by_name);
        Analyzer {
            book: EndpointBook::with_rp_callbacks(
                crate::rp::PROFILES.iter().flat_map(|p| p.callback.iter().copied()).collect(),
            ),
            interest: Default::default(),
            flows: FlowTracker::new(cfg.limits, cfg.flows_before),
            keys: KeyStore::default(),
            exp: cfg.expectations,
            history: UidHistory::default(),
            not_checked: NotChecked::default(),
            pending: Default::default(),
            live: cfg.live,
            raised: Default::default(),
            rp,
            no_expectations: crate::rp::PROFILES
                .iter()
                .map(|p| {
                    (p.name, Expectations { uid_field: p.account.key_claim.to_owned(), ..Default::default() })
                })
                .collect(),
        }
    }

    /// The number of the last flow opened (or [`AnalyzerConfig::flows_before`] if none was).
    pub fn last_flow(&self) -> u64 {
        self.flows.last_id()
    }

    pub fn expectations(&self) -> &Expectations {
        &self.exp
    }

    /// The ID token's keys the gateway should read before analysing `ex` (no JWKS seen, or an
    /// unknown kid after a rotation), from Mastodon's own fetch or its own, fed in as an
    /// exchange so a replay of the trace sees the same keys.
    /// Returns the exchange decoded (token responses only; `None` for the rest, decoded at ingest),
    /// and the ID token's keys that were never seen (JWKS URL and kid). The decoding is handed
    /// back to [`Analyzer::ingest_decoded`] so a token response is decoded once.
    pub fn decode_for_keys(&self, ex: &Exchange) -> (Option<Decoded>, Option<(String, Option<String>)>) {
        let host = crate::oidc::classify::normalize_host(&ex.request.host, &ex.request.scheme);
        if crate::oidc::classify::classify_request(&self.book, &ex.request.method, &host, &ex.request.path)
            != ExchangeKind::Token
        {
            return (None, None); // only token responses carry ID tokens
        }
        let d = decode_exchange(&self.book, ex);
        let keys = self.keys_missing(&d);
        (Some(d), keys)
    }

    fn keys_missing(&self, d: &Decoded) -> Option<(String, Option<String>)> {
        let j = d.token_response.as_ref()?.id_token_decoded.as_ref()?;
        let alg = j.alg()?;
        if j.is_jwe() || is_hmac(alg) || alg.eq_ignore_ascii_case("none") {
            return None;
        }
        let url = self.jwks_uri_for(d)?;
        (!self.keys.has_kid(&url, j.kid())).then(|| (url, j.kid().map(str::to_owned)))
    }

    fn jwks_uri_for(&self, d: &Decoded) -> Option<String> {
        let issuer = self.issuer_of(d);
        let from_iss = d
            .token_response
            .as_ref()
            .and_then(|t| t.id_token_decoded.as_ref())
            .and_then(|j| j.claim_str("iss"));
        issuer
            .as_deref()
            .and_then(|i| self.book.by_issuer.get(i))
            .or_else(|| from_iss.and_then(|i| self.book.by_issuer.get(i)))
            .and_then(|disc| disc.jwks_uri.clone())
    }

    fn verify(&self, d: &Decoded) -> Option<SigOutcome> {
        let t = d.token_response.as_ref()?;
        let j = t.id_token_decoded.as_ref()?;
        let alg = j.alg().unwrap_or("");
        if !j.is_jwe() && is_hmac(alg) {
            let from_request = d
                .token_request
                .as_ref()
                .and_then(|r| r.client_auth.secret.as_ref().map(|s| s.expose()))
                .filter(|s| !crate::redact::is_masked(s));
            let secret = from_request.map(|s| (s, "the token request")).or_else(|| {
                // A secret a trace recorded is only its fingerprint: no key to verify with.
                let given = self.exp.client_secret.as_ref().filter(|s| !crate::redact::is_masked(s.expose()));
                given.map(|s| (s.expose(), "--client-secret / OIDC_CLIENT_SECRET"))
            });
            return Some(verify_hmac(j, secret));
        }
        Some(self.keys.verify(j, self.jwks_uri_for(d).as_deref()))
    }

    /// Analyses one finished exchange.
    pub fn ingest(&mut self, ex: &Exchange) -> Vec<Event> {
        self.ingest_decoded(ex, None)
    }

    /// [`Analyzer::ingest`] with the decoding [`Analyzer::decode_for_keys`] already made (only
    /// a JWKS may have been ingested since: it does not change how an exchange decodes).
    pub fn ingest_decoded(&mut self, ex: &Exchange, decoded: Option<Decoded>) -> Vec<Event> {
        self.ingest_owned(ex.clone(), decoded)
    }

    /// [`Analyzer::ingest_decoded`] for a caller that gives the record away (the live session):
    /// the exchange event keeps it instead of a copy.
    pub fn ingest_owned(&mut self, exchange: Exchange, decoded: Option<Decoded>) -> Vec<Event> {
        let ex = &exchange;
        let now = ex.started_ms + ex.total_ms;
        let mut out = self.tick(now);
        if crate::oidc::decode::is_plain_other(&self.book, ex) {
            // Other traffic kept as a summary: listed (console --show-all, journal), not decoded,
            // joined to no flow, judged by no rule.
            out.push(Event::Exchange(Box::new(ExchangeEvent {
                id: ex.id,
                ts: now,
                flow: None,
                kind: ExchangeKind::Other,
                decoded: crate::oidc::decode::undecoded_other(ex),
                passed: vec![],
                joined_by: None,
                provider_leg: None,
                app: None,
                exchange,
            })));
            return out;
        }
        let d = decoded.unwrap_or_else(|| decode_exchange(&self.book, ex));
        if let Some(disc) = &d.discovery
            && disc.valid_json
        {
            self.book.learn(disc);
            self.interest.learn(disc);
        }
        let mut keys_changed = None;
        if let Some(j) = &d.jwks {
            if (200..300).contains(&j.status) && d.problems.is_empty() {
                self.keys.learn(&j.url, &j.raw_keys);
            } else if (200..300).contains(&j.status) {
                let why = d.problems.first().map(|p| p.message.clone()).unwrap_or_default();
                self.keys.learn_failure(&j.url, why);
            } else if !(300..400).contains(&j.status) {
                self.keys.learn_failure(&j.url, format!("it answered HTTP {}", j.status));
            }
            keys_changed = Some(j.url.clone());
        }
        let issuer = self.issuer_of(&d);
        let a = self.flows.assign(&d, issuer.as_deref(), now);
        if a.opened
            && let Some(f) = a.flow.and_then(|id| self.flows.get(id))
        {
            out.push(Event::Flow(FlowEvent::of(f, FlowEventKind::Opened, now)));
        }
        let sig = self.verify(&d);
        if let (Some(SigOutcome::Unverifiable { why: Unverifiable::NoJwks { url }, .. }), Some(jwt)) =
            (&sig, d.token_response.as_ref().and_then(|t| t.id_token_decoded.as_ref()))
        {
            // Checked when a JWKS passes (Mastodon fetches it right after the token call).
            if self.pending.len() >= MAX_PENDING {
                self.pending.pop_front();
            }
            self.pending.push_back(PendingSig {
                exchange: ex.id,
                flow: a.flow,
                url: url.clone(),
                // What verification reads (the claims were checked already): kept for up to 64
                // tokens, and made for every token response whose keys are not in yet.
                jwt: crate::oidc::jwt::DecodedJwt {
                    form: jwt.form,
                    header: jwt.header.clone(),
                    claims: Default::default(),
                    signing_input: jwt.signing_input.clone(),
                    signature: jwt.signature.clone(),
                    signature_redacted: jwt.signature_redacted,
                },
            });
        }
        let rp = self.profile(a.flow, &d);
        let recognised = d.redirect_uri().is_some();
        if let Some(id) = a.flow
            && (self.rp.is_some() || recognised)
        {
            self.flows.set_app(id, rp.name);
        }
        let before = a.flow.and_then(|id| self.flows.get(id));
        let findings = crate::rules::evaluate(&Ctx {
            ex,
            d: &d,
            flow: before,
            flow_id: a.flow,
            rp,
            exp: self.expectations_for(rp),
            now_ms: now,
            sig: sig.as_ref(),
            book: &self.book,
            issuer: issuer.as_deref(),
            history: &self.history,
            joined_by: a.joined_by,
        });
        let mut findings = self.not_checked.filter(findings);
        if d.caller == Some(crate::oidc::caller::Caller::Gateway) {
            // The tool's own call says nothing about Mastodon's configuration or its login.
            findings.retain(|f| !about_mastodon(f.rule));
        }
        let mut passed = crate::rules::passed::passed_checks(&d, before, sig.as_ref(), now, &findings);
        if let Some(SigOutcome::Unverifiable { why: Unverifiable::SignatureRedacted, alg }) = &sig {
            self.checked_live(ex.id, a.flow, alg, &mut passed, &mut findings);
        }
        if let Some(sent) = d.token_request.as_ref().and_then(|t| t.client_auth.secret.as_ref())
            && let Some(want) = &self.exp.client_secret
            && crate::redact::same_secret(want.expose(), sent.expose()).is_none()
        {
            // The secret was compared with OIDC_CLIENT_SECRET live; the trace holds a keyed mask.
            self.carry_live(ex.id, a.flow, crate::rules::RuleId::TokenError, &mut findings);
        }
        // A redacted body is written back as one JSON tree: a duplicated member is seen live only.
        self.carry_live(ex.id, a.flow, crate::rules::RuleId::JsonDuplicateMember, &mut findings);
        if let Some(url) = keys_changed {
            self.verify_pending(&url, &mut passed, &mut findings);
        }
        // One cause, one finding: consequences of what this login raised say so.
        if let Some(id) = a.flow {
            let earlier = self.raised.get(&id).map(Vec::as_slice).unwrap_or_default();
            crate::rules::causes::link(&mut findings, earlier);
            self.remember_raised(id, &findings);
        }
        for f in &mut findings {
            crate::rules::finding::render(f, rp);
        }
        let mut closed = a.flow.and_then(|id| self.flows.record(id, &d, ex.id, now, issuer.as_deref()));
        // A relying party that does not call userinfo is done once its ID token checks out.
        let verified =
            matches!(sig, Some(SigOutcome::Verified { .. } | SigOutcome::VerifiedWithSecret { .. }));
        if !rp.client.userinfo
            && verified
            && d.token_response.as_ref().is_some_and(|t| t.id_token_decoded.is_some())
            && !findings.iter().any(|f| f.severity == crate::rules::Severity::Error)
        {
            closed = closed.or_else(|| a.flow.and_then(|id| self.flows.ends_at_token(id)));
        }
        let superseded = a.flow.map(|id| self.flows.supersede(id)).unwrap_or_default();
        let provider_leg = a
            .flow
            .and_then(|id| self.flows.get(id))
            .filter(|_| d.kind == ExchangeKind::AuthorizeResponse)
            .and_then(|f| f.provider_leg.clone());
        self.remember_uid(&d, a.flow);
        out.push(Event::Exchange(Box::new(ExchangeEvent {
            id: ex.id,
            ts: now,
            flow: a.flow,
            kind: d.kind,
            decoded: d,
            passed,
            joined_by: a.joined_by,
            provider_leg,
            app: (!rp.is_default()).then_some(rp.app),
            exchange,
        })));
        for id in superseded {
            if let Some(f) = self.flows.get(id) {
                self.closed_events(f, now, &mut out);
            }
        }
        out.extend(findings.into_iter().map(|f| Event::Finding(Box::new(f))));
        if closed.is_some()
            && let Some(f) = a.flow.and_then(|id| self.flows.get(id))
        {
            self.closed_events(f, now, &mut out);
        }
        self.interest.set_open_logins(self.flows.open_count());
        out
    }

    /// Checks the ID tokens that waited for a JWKS of `url` now that one passed: the verdict
    /// goes with this JWKS exchange (a passed check, or findings about the token's exchange).
    fn verify_pending(&mut self, url: &str, passed: &mut Vec<Check>, findings: &mut Vec<Finding>) {
        let (ready, waiting): (VecDeque<PendingSig>, VecDeque<PendingSig>) =
            std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|p| p.url.as_deref().is_none_or(|u| u == url));
        self.pending = waiting;
        for p in ready {
            let sig = self.keys.verify(&p.jwt, Some(url));
            let (alg, kid) = (p.jwt.alg().unwrap_or("").to_owned(), p.jwt.kid().map(str::to_owned));
            match &sig {
                SigOutcome::Verified { alg, kid, key_from } => passed.push(Check::SignatureOf {
                    exchange: p.exchange,
                    alg: alg.clone(),
                    kid: kid.clone(),
                    key_from: key_from.clone(),
                }),
                _ => findings.extend(
                    crate::rules::id_token::signature(&sig, &alg, kid.as_deref())
                        .into_iter()
                        .map(|f| Finding { flow: p.flow, exchange: Some(p.exchange), ..f }),
                ),
            }
        }
    }

    /// Remembers which uid value a user (by sub and by email) logged in with.
    fn remember_uid(&mut self, d: &Decoded, flow: Option<u64>) {
        let (Some(flow), Some(claims)) = (flow, d.userinfo_response.as_ref().and_then(|u| u.claims.as_ref()))
        else {
            return;
        };
        let mut merged = claims.clone();
        if let Some(idt) = self.flows.get(flow).and_then(|f| f.id_token.as_ref()) {
            merged.extend(idt.value.claims.clone());
        }
        let sub = merged.get("sub").and_then(|v| v.as_str()).unwrap_or("").to_owned();
        let uid = merged
            .get(&self.exp.uid_field)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or(sub.clone());
        if !sub.is_empty() {
            self.history.seen.insert(format!("sub:{sub}"), (uid.clone(), flow));
        }
        if let Some(e) = merged.get("email").and_then(|v| v.as_str()).filter(|e| !e.is_empty()) {
            self.history.seen.insert(format!("email:{e}"), (uid, flow));
        }
    }

    fn closed_events(&self, f: &Flow, now: u64, out: &mut Vec<Event>) {
        out.push(Event::Flow(FlowEvent::of(f, FlowEventKind::Closed, now)));
        let rp = self.rp.or(f.app.and_then(crate::rp::by_name)).unwrap_or_else(crate::rp::default);
        if let Some(mut finding) = crate::rules::flow::check(f, self.expectations_for(rp)) {
            crate::rules::finding::render(&mut finding, rp);
            let mut one = [finding];
            let earlier = self.raised.get(&f.id).map(Vec::as_slice).unwrap_or_default();
            crate::rules::causes::link(&mut one, earlier);
            let [finding] = one;
            out.push(Event::Finding(Box::new(finding)));
        }
    }

    /// Keeps the rule ids a login raised (for `causes::link`), for the most recent logins only.
    fn remember_raised(&mut self, flow: u64, findings: &[Finding]) {
        let ids = findings.iter().filter(|f| crate::rules::causes::counts(f)).map(|f| (f.rule, f.severity));
        let list = self.raised.entry(flow).or_default();
        for id in ids {
            if !list.iter().any(|(r, _)| *r == id.0) {
                list.push(id);
            }
        }
        while self.raised.len() > RAISED_KEPT {
            self.raised.pop_first();
        }
    }

    /// Advances the clock: flows gone quiet are declared abandoned or expired.
    pub fn tick(&mut self, now: u64) -> Vec<Event> {
        let mut out = vec![];
        for id in self.flows.abandoned(now) {
            if let Some(f) = self.flows.get(id) {
                self.closed_events(f, now, &mut out);
            }
        }
        for (f, was_open) in self.flows.expire(now) {
            if was_open {
                self.closed_events(&f, now, &mut out);
            }
        }
        if !out.is_empty() {
            self.interest.set_open_logins(self.flows.open_count());
        }
        out
    }

    /// Ends the analysis (end of trace or shutdown): every open flow is closed.
    pub fn finish(&mut self, now: u64) -> Vec<Event> {
        let mut out = self.tick(now);
        for (f, was_open) in self.flows.drain() {
            if was_open {
                self.closed_events(&f, now, &mut out);
            }
        }
        out
    }

    /// The issuer an exchange's endpoint belongs to.
    fn issuer_of(&self, d: &Decoded) -> Option<String> {
        if let Some(iss) = d.discovery.as_ref().and_then(|x| x.issuer.clone()) {
            return Some(iss);
        }
        let (_, path) = crate::oidc::classify::host_path(&d.url)?;
        if let Some((_, iss)) = self.book.lookup(&d.host, &path) {
            return Some(iss.to_owned());
        }
        if let Some(a) = &d.authorize
            && let Some((h, p)) = crate::oidc::classify::host_path(&a.endpoint)
            && let Some((_, iss)) = self.book.lookup(&h, &p)
        {
            return Some(iss.to_owned());
        }
        match d.kind {
            ExchangeKind::RpLogin
            | ExchangeKind::RpCallback
            | ExchangeKind::RpFailure
            | ExchangeKind::Other => None,
            _ => self.book.issuer_for_host(&d.host).map(str::to_owned),
        }
    }
}

/// Rules whose subject is Mastodon (its configuration, what it will do, its login), not the
/// provider: never raised on a call oidc-tap made itself.
fn about_mastodon(rule: crate::rules::RuleId) -> bool {
    let id = rule.as_str();
    ["CONFIG-", "MASTODON-", "FLOW-", "AUTHZ-", "TOKEN-"].iter().any(|p| id.starts_with(p))
}

#[cfg(test)]
pub(crate) mod tests;
