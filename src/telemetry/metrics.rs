//! Prometheus metrics (`--metrics ADDR`): what the analysis saw, counted with labels from
//! closed sets only (outcome, rule id, severity, exchange kind, status class), so no value from
//! the wire ever becomes a label and the number of series stays bounded whatever is sent.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::analysis::{Event, FlowEventKind};
use crate::proxy::tap::CaptureStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    rule: &'static str,
    severity: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExchangeLabels {
    kind: &'static str,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// The families, fed by the session (`observe`) and read by the `/metrics` endpoint.
pub struct Metrics {
    registry: Registry,
    logins: Family<OutcomeLabel, Counter>,
    findings: Family<FindingLabels, Counter>,
    exchanges: Family<ExchangeLabels, Counter>,
    duration: Family<KindLabel, Histogram>,
    waited: Counter,
    dropped: Counter,
    stats: Option<Arc<CaptureStats>>,
}

/// Every family served (names as Prometheus sees them, without `_total`/`_bucket`).
pub const FAMILIES: &[&str] = &[
    "oidc_tap_logins",
    "oidc_tap_findings",
    "oidc_tap_exchanges",
    "oidc_tap_exchange_duration_seconds",
    "oidc_tap_capture_waited",
    "oidc_tap_summaries_dropped",
    "oidc_tap_build_info",
];

/// Upstream time buckets, seconds: a login step takes milliseconds to a second.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(None)
    }
}

impl Metrics {
    /// `stats`: the capture's counters (waited, dropped), read at each scrape.
    pub fn new(stats: Option<Arc<CaptureStats>>) -> Metrics {
        let mut registry = Registry::default();
        let logins = Family::<OutcomeLabel, Counter>::default();
        registry.register("oidc_tap_logins", "Login flows closed, by outcome", logins.clone());
        let findings = Family::<FindingLabels, Counter>::default();
        registry.register("oidc_tap_findings", "Findings raised, by rule id and severity", findings.clone());
        let exchanges = Family::<ExchangeLabels, Counter>::default();
        registry.register(
            "oidc_tap_exchanges",
            "Exchanges seen, by kind and response status class",
            exchanges.clone(),
        );
        let duration = Family::<KindLabel, Histogram>::new_with_constructor(|| Histogram::new(BUCKETS));
        registry.register(
            "oidc_tap_exchange_duration_seconds",
            "Time from request head to response head (the upstream's answer), by kind",
            duration.clone(),
        );
        let waited = Counter::default();
        registry.register(
            "oidc_tap_capture_waited",
            "Login steps that waited for the analysis before being forwarded",
            waited.clone(),
        );
        let dropped = Counter::default();
        registry.register(
            "oidc_tap_summaries_dropped",
            "Summaries of other traffic dropped because the analysis fell behind",
            dropped.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        registry.register("oidc_tap_build_info", "The running oidc-tap's version", build);
        Metrics { registry, logins, findings, exchanges, duration, waited, dropped, stats }
    }

    /// Counts one event of the analysis.
    pub fn observe(&self, ev: &Event) {
        match ev {
            Event::Flow(f) if f.event == FlowEventKind::Closed => {
                let outcome = f.outcome.map(|o| o.as_str()).unwrap_or("closed");
                self.logins.get_or_create(&OutcomeLabel { outcome }).inc();
            }
            Event::Finding(f) => {
                let labels = FindingLabels { rule: f.rule.as_str(), severity: f.severity.as_str() };
                self.findings.get_or_create(&labels).inc();
            }
            Event::Exchange(x) => {
                let status_class = match x.exchange.response.as_ref().map(|r| r.status) {
                    Some(100..=199) => "1xx",
                    Some(200..=299) => "2xx",
                    Some(300..=399) => "3xx",
                    Some(400..=499) => "4xx",
                    Some(500..=599) => "5xx",
                    Some(_) => "other",
                    None => "none",
                };
                let kind = x.kind.as_str();
                self.exchanges.get_or_create(&ExchangeLabels { kind, status_class }).inc();
                if let Some(ms) = x.exchange.response_ms {
                    self.duration.get_or_create(&KindLabel { kind }).observe(ms as f64 / 1000.0);
                }
            }
            Event::Flow(_) => {}
        }
    }

    /// The text exposition (OpenMetrics), the capture's counters brought up to date first.
    pub fn render(&self) -> String {
        if let Some(s) = &self.stats {
            catch_up(&self.waited, s.full_waited.load(Ordering::Relaxed));
            catch_up(&self.dropped, s.summaries_dropped.load(Ordering::Relaxed));
        }
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Raises a counter to `total` (the capture keeps its own atomics).
fn catch_up(c: &Counter, total: u64) {
    let now = c.get();
    if total > now {
        c.inc_by(total - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::rig::{Scenario, run_login};

    /// The series of one exposition (lines that are samples, without their values).
    fn series(text: &str) -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.rsplit_once(' ').map(|(s, _)| s.to_owned()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn a_login_is_counted_and_hostile_values_never_become_labels() {
        let mut sc = Scenario::clean();
        crate::demo::faults::combine(&["wrong-aud".to_string()], &mut sc).unwrap();
        let events = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_login(sc))
            .unwrap();
        let m = Metrics::default();
        events.iter().for_each(|e| m.observe(e));
        let text = m.render();
        assert!(
            text.contains("oidc_tap_findings_total{rule=\"IDT-AUD-MISMATCH\",severity=\"error\"} 1"),
            "{text}"
        );
        assert!(text.contains("oidc_tap_logins_total{outcome=\"failed\"} 1"), "{text}");
        assert!(text.contains("oidc_tap_exchanges_total{kind=\"token\",status_class=\"2xx\"} 1"), "{text}");
        assert!(
            text.contains("oidc_tap_exchange_duration_seconds_bucket{le=\"10.0\",kind=\"token\"} 1")
                || text.contains("oidc_tap_exchange_duration_seconds_bucket{kind=\"token\",le=\"10.0\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(&format!("oidc_tap_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))),
            "{text}"
        );
        let typed: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        assert_eq!(typed, FAMILIES, "FAMILIES lists what is served");
        // 10,000 requests to distinct hosts and paths: not one series more.
        let before = series(&text);
        let other = events
            .iter()
            .find_map(|e| match e {
                Event::Exchange(x) => Some(x.clone()),
                _ => None,
            })
            .unwrap();
        for i in 0..10_000 {
            let mut x = other.clone();
            x.exchange.request.path = format!("/static/{i}.js?v={i}");
            x.exchange.request.headers.retain(|h| !h.name.eq_ignore_ascii_case("host"));
            x.exchange
                .request
                .headers
                .push(crate::capture::Header { name: "host".into(), value: format!("h{i}.evil.test") });
            m.observe(&Event::Exchange(x));
        }
        let after = series(&m.render());
        assert_eq!(before, after);
    }
}
