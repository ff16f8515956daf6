//! `oidc-tap proxy`: flags → [`ProxyConfig`], start the gateway, consume its records until a
//! signal arrives, then drain.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::analysis::correlate::FlowLimits;
use crate::analysis::{Analyzer, AnalyzerConfig};
use crate::cli::{ExpectArgs, OutputArgs, ProxyArgs};
use crate::clock::now_ms;
use crate::expect::Expectations;
use crate::keyfetch::KeyFetcher;
use crate::output::console::{Console, Style};
use crate::output::journal::Journal;
use crate::proxy::route::{ConnectTo, Router, Upstream};
use crate::proxy::{Gateway, Listen, ProxyConfig};
use crate::session::{Session, spawn_session};
use crate::tls::{DevCa, ServerIdentity, UpstreamTrust, load_certs, load_key};

/// Turns the flags into a gateway config (loading or creating certificates as needed).
pub fn build_config(args: &ProxyArgs) -> Result<ProxyConfig> {
    let listeners = args.listen.iter().map(|l| Listen::parse(l)).collect::<Result<Vec<_>, _>>()?;
    if listeners.is_empty() {
        return Err(super::exit::usage("nothing to listen on: pass --listen https://ADDR:PORT"));
    }
    let default = args.upstream.as_deref().map(Upstream::parse).transpose()?;
    let routes = args.routes.iter().map(|r| Router::parse_route(r)).collect::<Result<Vec<_>, _>>()?;
    let connect_to =
        args.connect_to.iter().map(|c| ConnectTo::parse_one(c)).collect::<Result<Vec<_>, _>>()?;
    let router = Router::new(default, routes);
    if router.is_empty() {
        return Err(super::exit::usage(
            "no upstream: pass --upstream https://authentik.company (or --route HOST=URL)",
        ));
    }
    let mut cfg = ProxyConfig::new(listeners, router);
    cfg.connect_to = ConnectTo::new(connect_to);
    cfg.trust = UpstreamTrust {
        extra_cas: args.upstream_ca.clone(),
        insecure: args.insecure_upstream,
        ..Default::default()
    };
    cfg.capture_limit = args.capture_limit;
    cfg.response_timeout = Duration::from_secs(args.upstream_timeout.max(1));
    cfg.body_idle_timeout = Duration::from_secs(args.body_timeout.max(1));
    cfg.connect_timeout = Duration::from_secs(args.connect_timeout.max(1));
    cfg.max_connections = args.max_connections.max(1);
    if cfg.listeners.iter().any(|l| l.tls) {
        cfg.identity = Some(match (&args.cert, &args.key) {
            (Some(c), Some(k)) => {
                let chain = load_certs(c).context("--cert")?;
                let key = load_key(k).context("--key")?;
                // Checked now, naming both files, rather than when the listener starts.
                crate::tls::server_config(ServerIdentity::Fixed {
                    chain: chain.clone(),
                    key: key.clone_key(),
                })
                .with_context(|| {
                    format!("--cert {} and --key {} do not belong together", c.display(), k.display())
                })?;
                cfg.trust_hint = format!(
                    "make Mastodon trust the CA that issued {} (SSL_CERT_FILE or the system store)",
                    c.display()
                );
                ServerIdentity::Fixed { chain, key }
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(super::exit::usage(
                    "--cert and --key go together: pass both, or neither (the dev CA)",
                ));
            }
            _ => {
                let (ca, created) = DevCa::load_or_create(&args.ca_dir)
                    .with_context(|| format!("dev CA in {}", args.ca_dir.display()))?;
                let ca_pem = args.ca_dir.join(crate::tls::certs::CA_CERT);
                cfg.trust_hint =
                    format!("make Mastodon trust {} (SSL_CERT_FILE or the system store)", ca_pem.display());
                if created {
                    eprintln!(
                        "NOTICE: created a NEW dev CA in {}: Mastodon does not trust it yet.",
                        args.ca_dir.display()
                    );
                    eprintln!("{}", super::certs::trust_instructions(&args.ca_dir));
                }
                let fallback = cfg
                    .listeners
                    .iter()
                    .map(|l| l.addr.ip().to_string())
                    .chain(["localhost".into()])
                    .collect();
                ServerIdentity::DevCa { ca: Arc::new(ca), fallback }
            }
        });
    }
    Ok(cfg)
}

/// Expectations from `--mastodon-env`, overridden by explicit flags.
pub fn build_expectations(a: &ExpectArgs) -> Result<Expectations> {
    let mut e = match &a.mastodon_env {
        Some(p) => Expectations::from_env_file(p)?,
        None => Expectations::default(),
    };
    if a.expect_issuer.is_some() {
        e.issuer = a.expect_issuer.clone();
    }
    if a.expect_client_id.is_some() {
        e.client_id = a.expect_client_id.clone();
    }
    if a.expect_redirect_uri.is_some() {
        e.redirect_uri = a.expect_redirect_uri.clone();
    }
    if a.client_secret.is_some() {
        e.client_secret = a.client_secret.clone();
    }
    if let Some(u) = &a.uid_field {
        e.uid_field = u.clone();
    }
    if a.assume_email_verified {
        e.assume_email_verified = true;
    }
    if let Some(c) = a.code_lifetime {
        e.code_lifetime_s = c;
    }
    if a.rp.is_some() {
        e.rp = a.rp;
    }
    Ok(e)
}

/// How far redaction goes, from the output flags.
fn policy(out: &OutputArgs) -> crate::redact::Policy {
    crate::redact::Policy { keep_signatures: out.keep_signatures, pii: out.redact_pii }
}

/// Builds the analysis session (console on stdout, optional journal) for the output flags.
pub fn build_session(out: &OutputArgs, expectations: Expectations, capture_limit: usize) -> Result<Session> {
    let limits = FlowLimits {
        idle_ms: out.flow_idle.max(1) * 1000,
        abandon_ms: out.abandon_after.max(1) * 1000,
        ..FlowLimits::default()
    };
    let analyzer = Analyzer::new(AnalyzerConfig { limits, expectations, ..Default::default() });
    let console =
        Console::new(Box::new(std::io::BufWriter::new(std::io::stdout())), Style::detect(), out.show_all)
            .buffered();
    let journal = match &out.trace {
        Some(p) => {
            let j = Journal::open(p, !out.no_redact)
                .with_context(|| format!("cannot open trace {}", p.display()))?
                .keep_all(out.trace_all)
                .policy(policy(out));
            Some(j)
        }
        None => None,
    };
    let mut session = Session::new(analyzer, Some(console), journal, capture_limit);
    session.start_journal(now_ms(), Default::default());
    if let Some(path) = &out.har {
        // Checked now: the HAR is written later, and a wrong directory should stop the start.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("--har {}: no directory {}", path.display(), dir.display()),
            )
            .into());
        }
        session.har = Some(crate::session::HarOut {
            writer: crate::trace::har::HarWriter::new(!out.no_redact, out.trace_all)
                .policy(policy(out))
                .expect(session.analyzer.expectations()),
            path: path.clone(),
            every: Duration::from_secs(out.har_every.max(1)),
            errors: 0,
        });
    }
    Ok(session)
}

/// What signs the gateway's certificates, for the banner.
fn tls_banner(args: &ProxyArgs) -> String {
    match &args.cert {
        Some(c) => format!("  TLS certificate {} (--cert)", c.display()),
        None => format!(
            "  TLS certificates issued on the fly by the dev CA {} (--ca-dir {})",
            args.ca_dir.join(crate::tls::certs::CA_CERT).display(),
            args.ca_dir.display()
        ),
    }
}

pub async fn run(args: ProxyArgs) -> Result<()> {
    // Every flag and file is checked before anything binds or prints a banner.
    let mut cfg = build_config(&args)?;
    let otlp = otlp_out(&args.telemetry, &cfg)?;
    if let Some(addr) = args.telemetry.metrics
        && !addr.ip().is_loopback()
        && !args.telemetry.metrics_allow_remote
    {
        return Err(super::exit::usage(format!(
            "--metrics {addr}: not a loopback address; add --metrics-allow-remote to serve it beyond this host"
        )));
    }
    let expectations = build_expectations(&args.expect)?;
    let mut session = build_session(&args.output, expectations.clone(), cfg.capture_limit)?;
    // The capture keeps login steps whole (never dropped) and other traffic as summaries; what
    // a login step is, the analysis side says (and learns from discovery as it goes). With
    // --trace-all every exchange is kept whole: that is what the flag asks for.
    if !args.output.trace_all {
        cfg.wanted = Some(std::sync::Arc::new(session.analyzer.interest()));
    }
    if args.insecure_upstream {
        tracing::warn!(
            "--insecure-upstream: upstream certificates are NOT verified; use --upstream-ca instead when you can"
        );
    }
    let fetcher = KeyFetcher::new(&cfg.trust, cfg.connect_to.clone(), cfg.router.clone())?;
    let routes = cfg.router.describe();
    let dials = cfg.connect_to.describe();
    let tls = cfg.listeners.iter().any(|l| l.tls);
    // Before the banner: a Ctrl-C right after it stops cleanly.
    let stop = super::shutdown_signal();
    let mut gw = Gateway::start(cfg).await?;
    for l in &gw.listening {
        eprintln!("oidc-tap {} · listening {} → {}", env!("CARGO_PKG_VERSION"), l.url(), routes.join(", "));
    }
    if tls {
        eprintln!("{}", tls_banner(&args));
    }
    for d in dials {
        eprintln!("  {d}");
    }
    let secrets = if args.output.no_redact { "secrets in CLEAR" } else { "secrets redacted" };
    if let Some(t) = &args.output.trace {
        eprintln!("  journal {} ({secrets})", t.display());
    }
    if let Some(h) = &args.output.har {
        eprintln!(
            "  HAR {} ({secrets}), rewritten every {} s and on SIGUSR1",
            h.display(),
            args.output.har_every.max(1)
        );
    }
    let ui = match args.ui.ui {
        Some(addr) => {
            let title = format!(
                "live · {} → {}",
                gw.listening.iter().map(|l| l.url()).collect::<Vec<_>>().join(", "),
                routes.join(", ")
            );
            let board = crate::ui::board::Board::new(args.output.no_redact, policy(&args.output));
            let ui = super::view::start(addr, args.ui.ui_allow_remote, crate::ui::Mode::Live, title, board)
                .await?;
            eprint!("{}", super::view::banner(&ui));
            session.ui = Some(ui.feed());
            Some(ui)
        }
        None => None,
    };
    let (metrics_stop, metrics_stopped) = tokio::sync::watch::channel(false);
    if let Some(addr) = args.telemetry.metrics {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            super::exit::CliError::new(
                super::exit::ExitKind::Io,
                format!("--metrics {addr}: cannot listen: {e}"),
            )
        })?;
        let bound = listener.local_addr()?;
        let metrics = std::sync::Arc::new(crate::telemetry::metrics::Metrics::new(Some(gw.capture_stats())));
        session.metrics = Some(metrics.clone());
        tokio::spawn(crate::telemetry::serve_metrics(listener, metrics, metrics_stopped));
        eprintln!("  metrics http://{bound}/metrics (Prometheus)");
    }
    if let Some((url, key, client)) = otlp {
        let instance = format!(
            "{}#{}",
            gw.listening.iter().map(|l| l.url()).collect::<Vec<_>>().join(","),
            std::process::id()
        );
        eprintln!("  traces {url} (OTLP/HTTP, one trace per login, redacted)");
        session.otlp = Some(crate::session::OtlpOut {
            traces: crate::telemetry::otlp::TraceBuilder::new(key, instance),
            sender: crate::telemetry::otlp::OtlpSender::start(url, client, Duration::from_secs(5)),
        });
    }
    let records = gw.take_records().context("records already taken")?;
    if let Some(i) = &expectations.issuer {
        eprintln!(
            "  expecting issuer {i}  client {}  uid field {}",
            expectations.client_id.as_deref().unwrap_or("(any)"),
            expectations.uid_field
        );
    }
    session.fetcher = Some(fetcher);
    let session = spawn_session(records, session);
    stop.await;
    eprintln!("shutting down: letting in-flight requests finish…");
    let stats = gw.capture_stats();
    gw.shutdown().await;
    let _ = metrics_stop.send(true);
    let mut session = session.await?;
    if let Some(o) = session.otlp.take() {
        let dropped = o.sender.dropped.load(std::sync::atomic::Ordering::Relaxed);
        if dropped > 0 {
            eprintln!("warning: {dropped} login traces were not exported: the OTLP collector was too slow");
        }
        o.sender.flush(Duration::from_secs(3)).await;
    }
    if let Some(ui) = ui {
        let lost = ui.feed().dropped();
        if lost > 0 {
            eprintln!("warning: {lost} events were not shown in the web view because it fell behind");
        }
        ui.shutdown().await;
    }
    let [full, lost, cut, summaries, dropped] = stats.snapshot();
    let waited = stats.full_waited.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "capture: {full} login exchanges kept whole ({lost} lost, {cut} with bodies cut, {waited} waited for analysis); {summaries} other exchanges summarised ({dropped} dropped while analysis was behind)"
    );
    if let Some(j) = &mut session.journal
        && let Err(e) = j.capture(now_ms(), stats.json())
    {
        eprintln!("warning: cannot write the capture counters to the trace journal: {e}");
    }
    if session.journal_errors > 0 {
        eprintln!("warning: {} events could not be written to the trace journal", session.journal_errors);
    }
    Ok(())
}

/// `--otlp` and `--fleet-key`, checked before anything binds: the collector's traces URL, the
/// key, the client that sends.
fn otlp_out(
    t: &crate::cli::TelemetryArgs,
    cfg: &crate::proxy::ProxyConfig,
) -> Result<Option<(String, crate::telemetry::otlp::FleetKey, reqwest::Client)>> {
    let Some(base) = &t.otlp else { return Ok(None) };
    let url = crate::telemetry::otlp::traces_url(base);
    let parsed = url::Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| super::exit::usage(format!("--otlp {base}: not an http(s) URL")))?;
    let key = match &t.fleet_key {
        Some(p) => {
            crate::telemetry::otlp::FleetKey::load(p).map_err(|e| super::exit::usage(e.to_string()))?
        }
        None => {
            eprintln!(
                "  --otlp without --fleet-key: this gateway's traces stand alone (another gateway's half of a login gets another trace id)"
            );
            crate::telemetry::otlp::FleetKey::random()
        }
    };
    let client = crate::outbound::client(
        &cfg.trust,
        &crate::proxy::route::ConnectTo::default(),
        &parsed,
        Duration::from_secs(5),
    )
    .map_err(|e| super::exit::usage(format!("--otlp {base}: {e}")))?;
    Ok(Some((url, key, client)))
}
