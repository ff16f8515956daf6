//! `oidc-tap demo`: a real gateway in front of the built-in authentik stand-in and a scripted
//! Mastodon, all on loopback. Without `--fault` it runs a few logins, each broken in one common
//! way; several `--fault` flags combine into one login. The console shows what the gateway sees,
//! exactly as it would in front of a real deployment.

use anyhow::{Context, Result};

use crate::analysis::{Analyzer, AnalyzerConfig};
use crate::cli::{DemoArgs, ServeArgs};
use crate::clock::now_ms;
use crate::demo::faults;
use crate::demo::mastodon::Verdict;
use crate::demo::rig::{AUTHENTIK, Rig, Scenario};
use crate::output::console::{Console, Style};
use crate::output::journal::Journal;
use crate::session::Session;

const DEFAULT: &[&str] = &["clean", "issuer-trailing-slash", "missing-openid-scope", "email-unverified"];

pub async fn run(args: DemoArgs) -> Result<()> {
    if args.list_faults || args.faults.iter().any(|f| f == "list") {
        print!("{}", faults::listing());
        return Ok(());
    }
    if args.serve.serve {
        return serve(&args.faults, None, &args.trace, &args.serve, &args.ui).await;
    }
    // Each default fault is its own login; the faults a user names combine into one.
    let logins: Vec<Vec<String>> = if args.faults.is_empty() {
        DEFAULT.iter().map(|s| vec![s.to_string()]).collect()
    } else {
        vec![args.faults.clone()]
    };
    let app = args.rp.and_then(crate::rp::by_name).unwrap_or_else(crate::rp::default);
    for names in &logins {
        faults::combine(names, &mut Scenario::clean_for(app)).map_err(super::exit::usage)?;
    }
    let style = Style::detect();
    println!("{}", style.bold("oidc-tap demo"));
    println!("A real gateway on 127.0.0.1 in front of a built-in authentik stand-in (authentik.test) and a");
    let rp_domain = Scenario::clean_for(app).web_domain;
    println!("scripted {} ({rp_domain}). Each login below is broken on purpose; the lines are what", app.app);
    println!("`oidc-tap proxy` prints in front of a real deployment. `--list-faults` shows every fault.\n");
    // One HAR for every demo login: the logins continue one numbering (flows, exchanges), so
    // they stay apart and each has the same number everywhere.
    let mut har = args.har.as_ref().map(|_| crate::trace::har::HarWriter::new(true, false));
    // The web view, when asked: the logins below appear on it as they run.
    let stop = super::shutdown_signal();
    let ui = match args.ui.ui {
        Some(addr) => Some(web_view(addr, args.ui.ui_allow_remote, "demo").await?),
        None => None,
    };
    let mut journal_errors = 0;
    let mut numbering = crate::demo::rig::Numbering::default();
    for names in logins {
        let mut sc = Scenario::clean_for(app);
        sc.numbering = numbering;
        faults::combine(&names, &mut sc).map_err(super::exit::usage)?;
        let name = names.join(" + ");
        let what: Vec<&str> = names.iter().filter_map(|n| faults::find(n)).map(|f| f.what).collect();
        println!("{}", style.bold(&format!("── demo fault: {name} — {}", what.join("; "))));
        let journal = match &args.trace {
            Some(p) => {
                Some(Journal::open(p, true).with_context(|| format!("cannot open trace {}", p.display()))?)
            }
            None => None,
        };
        // As if `--mastodon-env` pointed at the demo Mastodon's .env.production.
        let expectations = sc.expectations();
        let mut session = Session::new(
            Analyzer::new(AnalyzerConfig {
                expectations,
                flows_before: numbering.flows,
                ..Default::default()
            }),
            Some(Console::new(Box::new(std::io::stdout()), style, false)),
            journal,
            1024 * 1024,
        );
        session
            .start_journal(now_ms(), [("demo_fault".to_string(), name.clone().into())].into_iter().collect());
        if har.is_some() {
            session = session.keep_events();
        }
        session.ui = ui.as_ref().map(|u| u.feed());
        let rig = Rig::start(sc, session).await?;
        let outcome = rig.login().await?;
        let (done, next) = rig.finish_numbered().await?;
        numbering = next;
        journal_errors += done.journal_errors;
        if let Some(h) = &mut har {
            done.keep.iter().flatten().for_each(|ev| h.event(ev));
        }
        match outcome.verdict {
            Some(Verdict::Success { uid }) => {
                println!("   {}: signed in, account key (uid) {uid:?}\n", app.app)
            }
            Some(Verdict::Failure { reason }) if !app.omniauth => {
                println!(
                    "   {} (emulated): refused the login: {}\n",
                    app.app,
                    crate::text::printable(&reason)
                )
            }
            Some(Verdict::Failure { reason }) => {
                println!(
                    "   {}: “Could not authenticate you from OpenIDConnect because “{}”.”\n",
                    app.app,
                    crate::rules::token::humanize(&reason)
                )
            }
            None => println!(
                "   {}: never got the browser back (the browser stopped at {})\n",
                app.app,
                outcome.browser.visited.last().map(|s| crate::redact::redact_url(s)).unwrap_or_default()
            ),
        }
    }
    if journal_errors > 0 {
        eprintln!("warning: {journal_errors} events could not be written to the trace journal");
    }
    if let (Some(h), Some(path)) = (har, &args.har) {
        h.write(path).with_context(|| format!("cannot write {}", path.display()))?;
        println!("HAR written to {} (secrets redacted)", path.display());
    }
    if let Some(ui) = ui {
        println!("The logins above, as sequence diagrams:");
        print!("{}", super::view::banner(&ui));
        println!("Ctrl-C stops.");
        stop.await;
        ui.shutdown().await;
    }
    Ok(())
}

/// The web view for the demo's logins (redacted, as everything the demo writes).
async fn web_view(addr: std::net::SocketAddr, allow_remote: bool, what: &str) -> Result<crate::ui::Ui> {
    let board = crate::ui::board::Board::new(false, Default::default());
    super::view::start(addr, allow_remote, crate::ui::Mode::Live, format!("live · {what}"), board).await
}

/// `demo --serve`: the provider (with the faults applied) behind a gateway, until Ctrl-C.
/// With `from_trace` (`reproduce --serve`), the provider a trace recorded (and the issuer its
/// Mastodon expected) instead of the named faults.
pub(super) async fn serve(
    names: &[String],
    from_trace: Option<(&crate::demo::from_trace::Recorded<'_>, Option<&str>)>,
    trace: &Option<std::path::PathBuf>,
    args: &ServeArgs,
    ui_args: &crate::cli::UiArgs,
) -> Result<()> {
    let mut sc = Scenario::for_web_domain(&args.web_domain);
    faults::combine(names, &mut sc).map_err(super::exit::usage)?;
    let mut listen = crate::proxy::Listen::parse(&args.listen)
        .map_err(|e| super::exit::usage(format!("--listen: {e}")))?;
    if listen.addr.port() == 0 {
        // The issuer carries the port, and the live analysis must expect that issuer: pick the
        // port now rather than after the gateway binds.
        listen.addr = std::net::TcpListener::bind(listen.addr)?.local_addr()?;
    }
    let port = listen.addr.port();
    let host = if port == 443 { AUTHENTIK.to_owned() } else { format!("{AUTHENTIK}:{port}") };
    sc.rp.issuer = format!("https://{host}/application/o/{}/", sc.provider.slug);
    if let Some((recorded, expected)) = from_trace {
        recorded.apply(&mut sc, &format!("https://{host}"), expected);
    }
    let (ca, created) = crate::tls::DevCa::load_or_create(&args.ca_dir)
        .with_context(|| format!("dev CA in {}", args.ca_dir.display()))?;
    sc.gateway.ca = Some(std::sync::Arc::new(ca));
    sc.gateway.listen = Some(format!("https://{}", listen.addr));
    sc.gateway.authentik_for_any_host = true;
    let style = Style::detect();
    let journal = match trace {
        Some(p) => {
            Some(Journal::open(p, true).with_context(|| format!("cannot open trace {}", p.display()))?)
        }
        None => None,
    };
    let mut session = Session::new(
        Analyzer::new(AnalyzerConfig { expectations: sc.expectations(), ..Default::default() }),
        Some(Console::new(Box::new(std::io::stdout()), style, false)),
        journal,
        1024 * 1024,
    );
    let fault = if names.is_empty() { "clean".to_string() } else { names.join(" + ") };
    session.start_journal(now_ms(), [("demo_fault".to_string(), fault.into())].into_iter().collect());
    let stop = super::shutdown_signal();
    let ui = match ui_args.ui {
        Some(addr) => {
            Some(web_view(addr, ui_args.ui_allow_remote, &format!("demo --serve · {}", listen.url())).await?)
        }
        None => None,
    };
    session.ui = ui.as_ref().map(|u| u.feed());
    let rig = Rig::start(sc.clone(), session).await?;
    let addr = rig.gateway_addr;
    let mut banner = serve_banner(&sc, names, addr, &args.ca_dir, created);
    if let Some(u) = &ui {
        // Before "Ctrl-C stops." (the banner's last line).
        let at = banner.rfind("\nCtrl-C stops.").unwrap_or(banner.len());
        banner.insert_str(at, &format!("\n{}", super::view::banner(u).trim_end()));
    }
    print!("{banner}");
    stop.await;
    println!("stopping");
    rig.finish().await?;
    if let Some(u) = ui {
        u.shutdown().await;
    }
    Ok(())
}

/// What a support engineer needs to point a real Mastodon at the served provider.
fn serve_banner(
    sc: &Scenario,
    names: &[String],
    addr: std::net::SocketAddr,
    ca_dir: &std::path::Path,
    created: bool,
) -> String {
    let ca_pem = ca_dir.join(crate::tls::certs::CA_CERT);
    let issuer = &sc.rp.issuer;
    let faults = if names.is_empty() { "none (a correct provider)".to_owned() } else { names.join(" + ") };
    let mut out =
        format!("oidc-tap demo --serve: the authentik stand-in behind a gateway; faults: {faults}\n");
    out += &format!("  gateway      https://{addr} (every name but Mastodon's goes to the provider)\n");
    out += &format!("  issuer       {issuer}\n");
    out += &format!("  discovery    {issuer}.well-known/openid-configuration\n");
    out += &format!(
        "  CA to trust  {}{}\n",
        ca_pem.display(),
        if created { " (NEW: Mastodon does not trust it yet)" } else { "" }
    );
    out += &format!(
        "  name         make {AUTHENTIK} resolve to {} on the Mastodon host (/etc/hosts)\n",
        addr.ip()
    );
    out += &format!("  user         {} / {}\n", sc.provider.username, crate::demo::rig::PASSWORD);
    out += &format!("Mastodon's .env.production (then restart web and sidekiq):\n\n{}\n", env_block(sc));
    out += &super::certs::trust_ca(ca_dir);
    out += "\nCtrl-C stops.\n";
    out
}

/// The OIDC block of `.env.production` for the scenario's Mastodon side; for another
/// application (`--rp`), the same settings under its names, for its file.
pub fn env_block(sc: &Scenario) -> String {
    let rp = &sc.rp;
    if !sc.app.is_default() {
        use crate::rp::Setting::*;
        let a = sc.app;
        let mut out = format!("In {}:\n", a.config);
        for (s, v) in [
            (Issuer, rp.issuer.clone()),
            (ClientId, rp.client_id.clone()),
            (ClientSecret, rp.client_secret.clone()),
            (Scope, rp.scope.join(" ")),
            (RedirectUri, rp.redirect_uri.clone()),
        ] {
            out += &format!("  {} = {v}\n", a.setting(s));
        }
        return out;
    }
    let issuer = &rp.issuer;
    format!(
        "OIDC_ENABLED=true\n\
         OIDC_DISPLAY_NAME=authentik\n\
         OIDC_DISCOVERY=true\n\
         OIDC_ISSUER={issuer}\n\
         OIDC_SCOPE={}\n\
         OIDC_UID_FIELD={}\n\
         OIDC_CLIENT_ID={}\n\
         OIDC_CLIENT_SECRET={}\n\
         OIDC_REDIRECT_URI={}\n\
         OIDC_SECURITY_ASSUME_EMAIL_IS_VERIFIED=true\n",
        rp.scope.join(","),
        rp.uid_field,
        rp.client_id,
        rp.client_secret,
        rp.redirect_uri,
    )
}
