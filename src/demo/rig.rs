//! Wires the demo: gateway in front of the authentik stand-in and the scripted Mastodon, a
//! scripted browser, all on loopback with a fresh CA. The demo command and the end-to-end tests
//! drive logins through this.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use super::browser::PASSWORD;
use super::browser::{Browser, BrowserResult};
use super::http::{client_routed, client_via};
use super::mastodon::{Mastodon, RpConfig, Verdict};
use super::provider::{Provider, ProviderConfig};
use crate::proxy::route::{ConnectTo, Router, Upstream};
use crate::proxy::{Gateway, Listen, ProxyConfig};
use crate::session::Session;
use crate::tls::{DevCa, ServerIdentity, UpstreamTrust};

pub const AUTHENTIK: &str = "authentik.test";
pub const MASTODON: &str = "mastodon.test";
/// An internal name authentik may leak into URLs (it resolves to the gateway, which has no route
/// for it: like a browser that cannot reach an internal host).
pub const INTERNAL: &str = "auth-internal.test";

/// The deployment a scenario runs: authentik's side, Mastodon's side, and the gateway's.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub provider: ProviderConfig,
    pub rp: RpConfig,
    pub gateway: GatewaySettings,
    /// Mastodon's `WEB_DOMAIN` (the gateway routes it to the scripted Mastodon).
    pub web_domain: String,
    /// The provider's host name (default `authentik.test`; `reproduce` uses the trace's).
    pub provider_host: String,
    /// Where `.env.production` says something else than the running Mastodon uses (edited,
    /// not restarted).
    pub env: EnvDrift,
    /// Where this login's numbers start (the demo's later logins continue the earlier ones').
    pub numbering: Numbering,
    /// The application the scripted relying party emulates (Mastodon unless `demo --rp`).
    pub app: &'static crate::rp::Profile,
}

/// The last flow, exchange and key-fetch numbers used before a run. The demo runs each login on
/// its own gateway and analysis; continuing one numbering gives a flow or an exchange the same
/// number on the console, in the journal, the HAR, the web view and the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Numbering {
    pub flows: u64,
    pub exchanges: u64,
    /// The tool's own key fetches (numbered apart from the gateway's exchanges).
    pub fetches: u64,
}

/// `.env.production` values that differ from what the running Mastodon sends.
#[derive(Debug, Clone, Default)]
pub struct EnvDrift {
    /// OIDC_CLIENT_ID in the file.
    pub client_id: Option<String>,
    /// OIDC_REDIRECT_URI is not in the file (only WEB_DOMAIN is).
    pub redirect_uri_unset: bool,
}

/// How the gateway between them is set up (the defaults of `oidc-tap proxy`).
#[derive(Debug, Clone, Default)]
pub struct GatewaySettings {
    /// `--capture-limit` (default 1 MiB).
    pub capture_limit: Option<usize>,
    /// Dial a closed port for authentik (a wrong `--connect-to`): the gateway answers 502.
    pub authentik_unreachable: bool,
    /// Where the gateway listens (default `https://127.0.0.1:0`).
    pub listen: Option<String>,
    /// The CA that issues the gateway's leaves (default: a fresh one per rig). `demo --serve`
    /// keeps one on disk so a Mastodon that trusts it once keeps trusting it.
    pub ca: Option<Arc<DevCa>>,
    /// Send every name that is not Mastodon's to authentik (`demo --serve`: a real Mastodon
    /// may know the provider by any name that resolves to the gateway).
    pub authentik_for_any_host: bool,
    /// The gateway fronts the provider only (as inserted in front of authentik alone): the
    /// browser reaches Mastodon directly, so the gateway never sees Mastodon's pages.
    pub provider_only: bool,
}

impl Scenario {
    /// A correctly configured pair.
    pub fn clean() -> Scenario {
        Scenario::for_web_domain(MASTODON)
    }

    /// [`Scenario::clean`] with `rp`'s client, on `<name>.test` (Mastodon's stays
    /// `mastodon.test`).
    pub fn clean_for(rp: &'static crate::rp::Profile) -> Scenario {
        if rp.is_default() {
            return Scenario::clean();
        }
        Scenario::for_rp(rp, &format!("{}.test", rp.name))
    }

    /// A correctly configured pair for a Mastodon whose `WEB_DOMAIN` is `domain` (its callback
    /// is the redirect URI the provider has registered).
    pub fn for_web_domain(domain: &str) -> Scenario {
        Scenario::for_rp(crate::rp::default(), domain)
    }

    /// The same pair with `rp`'s client (`demo --rp`): its callback path, scopes, PKCE, nonce
    /// and client authentication; its login reads in its words.
    pub fn for_rp(rp: &'static crate::rp::Profile, domain: &str) -> Scenario {
        let callback = rp.callback_path().unwrap_or("/oidc/callback");
        let redirect = format!("https://{domain}{callback}");
        let provider = ProviderConfig::new(&redirect);
        let app = rp;
        let rp = RpConfig {
            issuer: format!("https://{AUTHENTIK}/application/o/{}/", provider.slug),
            client_id: provider.client_id.clone(),
            client_secret: provider.client_secret.clone(),
            redirect_uri: redirect,
            callback_path: callback.to_owned(),
            scope: app.client.scopes.iter().map(|s| s.to_string()).collect(),
            client_secret_post: app.client.secret_post,
            pkce: app.client.pkce,
            userinfo: app.client.userinfo,
            uid_field: "preferred_username".into(),
            assume_email_verified: false,
            quirks: crate::demo::mastodon::RpQuirks { omit_nonce: !app.client.nonce, ..Default::default() },
        };
        Scenario {
            app,
            provider,
            rp,
            gateway: GatewaySettings::default(),
            web_domain: domain.into(),
            provider_host: AUTHENTIK.into(),
            env: EnvDrift::default(),
            numbering: Numbering::default(),
        }
    }
}

impl Scenario {
    /// What `--mastodon-env` would read from this Mastodon's `.env.production`.
    pub fn expectations(&self) -> crate::expect::Expectations {
        crate::expect::Expectations {
            issuer: Some(self.rp.issuer.clone()),
            client_id: Some(self.env.client_id.clone().unwrap_or_else(|| self.rp.client_id.clone())),
            redirect_uri: (!self.env.redirect_uri_unset).then(|| self.rp.redirect_uri.clone()),
            client_secret: Some(crate::redact::Secret::new(self.rp.client_secret.clone())),
            uid_field: self.rp.uid_field.clone(),
            assume_email_verified: self.rp.assume_email_verified,
            web_domain: Some(self.web_domain.clone()),
            scope: Some(self.rp.scope.join(",")),
            source: Some("demo .env.production".into()),
            // As `--code-lifetime` would say when authentik's "Access code validity" was changed.
            code_lifetime_s: self.provider.faults.code_lifetime(),
            rp: (!self.app.is_default()).then_some(self.app.name),
        }
    }
}

/// One login by a fresh browser through a fresh rig for `sc`, analysed with the scenario's own
/// `.env` expectations: the events of that login (the path `reproduce` and the fault tests share).
pub async fn run_login(sc: Scenario) -> anyhow::Result<Vec<crate::analysis::Event>> {
    let rig = Rig::start(sc.clone(), quiet_session(&sc)).await?;
    rig.login().await?;
    Ok(rig.finish().await?.keep.unwrap_or_default())
}

/// A session for the scenario with no console and no journal that keeps every event, expecting
/// what the scenario's Mastodon is configured with (tests, reproduce).
pub fn quiet_session(sc: &Scenario) -> Session {
    use crate::analysis::{Analyzer, AnalyzerConfig};
    Session::new(
        Analyzer::new(AnalyzerConfig {
            expectations: sc.expectations(),
            flows_before: sc.numbering.flows,
            ..Default::default()
        }),
        None,
        None,
        1 << 20,
    )
    .keep_events()
}

/// A running demo deployment.
pub struct Rig {
    pub gateway: Gateway,
    pub gateway_addr: SocketAddr,
    pub provider: Provider,
    pub mastodon: Mastodon,
    pub ca: Arc<DevCa>,
    trust: UpstreamTrust,
    provider_host: String,
    web_domain: String,
    /// Where the browser reaches Mastodon when the gateway fronts the provider only.
    mastodon_direct: Option<SocketAddr>,
    session: JoinHandle<Session>,
}

/// The result of one login.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub browser: BrowserResult,
    /// What Mastodon concluded (None if the browser never reached Mastodon's callback or
    /// request phase).
    pub verdict: Option<Verdict>,
}

impl Rig {
    /// Starts provider, Mastodon and the gateway; `session` analyses what passes.
    pub async fn start(scenario: Scenario, mut session: Session) -> anyhow::Result<Rig> {
        let ca = match &scenario.gateway.ca {
            Some(ca) => ca.clone(),
            None => Arc::new(DevCa::generate()?),
        };
        let (host, web) = (scenario.provider_host.clone(), scenario.web_domain.clone());
        let leaf = ca.issue(std::slice::from_ref(&host))?;
        let mut tls =
            rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(leaf.chain, leaf.key)?;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let provider = Provider::start(scenario.provider.clone(), TlsAcceptor::from(Arc::new(tls))).await?;

        let trust = UpstreamTrust { extra_roots: vec![ca.cert_der().clone()], ..Default::default() };
        // Mastodon needs the gateway's address for its back channel and the gateway needs
        // Mastodon's for its route: bind Mastodon's listener first, serve it last.
        let m_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let m_addr = m_listener.local_addr()?;
        let authentik = Upstream::parse(&format!("https://{host}"))?;
        let router = Router::new(
            scenario.gateway.authentik_for_any_host.then(|| authentik.clone()),
            vec![(host.clone(), authentik), (web.clone(), Upstream::parse(&format!("http://{m_addr}"))?)],
        );
        let listen = scenario.gateway.listen.as_deref().unwrap_or("https://127.0.0.1:0");
        let mut cfg = ProxyConfig::new(vec![Listen::parse(listen)?], router.clone());
        let authentik_at = if scenario.gateway.authentik_unreachable {
            "127.0.0.1:1".into()
        } else {
            provider.addr.to_string()
        };
        let connect_to = ConnectTo::new(vec![((host.clone(), 443), authentik_at)]);
        if let Some(limit) = scenario.gateway.capture_limit {
            cfg.capture_limit = limit;
        }
        cfg.connect_to = connect_to.clone();
        cfg.ids_before = scenario.numbering.exchanges;
        cfg.trust = trust.clone();
        cfg.identity = Some(ServerIdentity::DevCa { ca: ca.clone(), fallback: vec!["127.0.0.1".into()] });
        let mut gateway = Gateway::start(cfg).await?;
        let gateway_addr = gateway.listening[0].addr;
        let records = gateway.take_records().ok_or_else(|| anyhow::anyhow!("records"))?;
        let mut fetcher = crate::keyfetch::KeyFetcher::new(&trust, connect_to, router)?;
        fetcher.continue_after(scenario.numbering.fetches);
        session.fetcher = Some(fetcher);
        let session = crate::session::spawn_session(records, session);

        let back_channel = client_via(gateway_addr, &[host.as_str(), INTERNAL], &trust)?;
        let m_tls = match scenario.gateway.provider_only {
            true => {
                let leaf = ca.issue(std::slice::from_ref(&web))?;
                let cfg = rustls::ServerConfig::builder()
                    .with_no_client_auth()
                    .with_single_cert(leaf.chain, leaf.key)?;
                Some(TlsAcceptor::from(Arc::new(cfg)))
            }
            false => None,
        };
        let mastodon = Mastodon::start_on(scenario.rp, back_channel, m_listener, m_tls).await?;
        let mastodon_direct = scenario.gateway.provider_only.then_some(m_addr);
        Ok(Rig {
            gateway,
            gateway_addr,
            provider,
            mastodon,
            ca,
            trust,
            provider_host: host,
            web_domain: web,
            mastodon_direct,
            session,
        })
    }

    /// One login by a fresh browser.
    pub async fn login(&self) -> anyhow::Result<LoginOutcome> {
        let mut browser = self.browser()?;
        self.login_as(&mut browser).await
    }

    /// A fresh browser (no cookies) that reaches every name through the gateway.
    pub fn browser(&self) -> anyhow::Result<Browser> {
        let client = match self.mastodon_direct {
            Some(m) => {
                let names = [self.provider_host.as_str(), INTERNAL];
                client_routed(self.gateway_addr, &names, &[(self.web_domain.as_str(), m)], &self.trust)?
            }
            None => {
                let names = [self.provider_host.as_str(), self.web_domain.as_str(), INTERNAL];
                client_via(self.gateway_addr, &names, &self.trust)?
            }
        };
        Ok(Browser::new(client))
    }

    /// One login by `browser`, keeping its cookies (a user trying again).
    pub async fn login_as(&self, browser: &mut Browser) -> anyhow::Result<LoginOutcome> {
        let before = self.mastodon.verdicts().len();
        let result =
            browser.login(&format!("https://{}", self.web_domain)).await.map_err(anyhow::Error::msg)?;
        let verdict = self.mastodon.verdicts().get(before).cloned();
        Ok(LoginOutcome { browser: result, verdict })
    }

    /// Stops everything and returns the analysis session (all flows closed).
    pub async fn finish(self) -> anyhow::Result<Session> {
        Ok(self.finish_numbered().await?.0)
    }

    /// Like [`Rig::finish`], with the numbers a next login continues from.
    pub async fn finish_numbered(self) -> anyhow::Result<(Session, Numbering)> {
        let exchanges = self.gateway.last_id();
        self.gateway.shutdown().await;
        let session = self.session.await?;
        let numbering = Numbering {
            flows: session.analyzer.last_flow(),
            exchanges,
            fetches: session.fetcher.as_ref().map_or(0, |f| f.fetched()),
        };
        Ok((session, numbering))
    }
}
