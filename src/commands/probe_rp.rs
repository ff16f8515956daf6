//! `oidc-tap probe-rp`: the embedded provider behind a gateway (as `demo --serve`), one login
//! per case, each answered with a bad ID token or response the relying party must refuse;
//! what the relying party did next decides (`probe::verdict`). Only the embedded provider's own
//! answers are ever changed.

use std::time::Duration;

use anyhow::{Context, Result};

use super::exit::{CliError, ExitKind};
use crate::analysis::{Analyzer, AnalyzerConfig, Event};
use crate::cli::ProbeRpArgs;
use crate::clock::now_ms;
use crate::demo::browser::Browser;
use crate::demo::rig::{Numbering, Rig, Scenario};
use crate::oidc::ExchangeKind;
use crate::output::console::{Console, Style};
use crate::output::journal::Journal;
use crate::probe::cases::{self, Case, Expect};
use crate::probe::verdict::{self, Seen, Verdict};
use crate::rules::{Finding, RuleId, Severity};
use crate::session::Session;
use crate::text::printable;

/// One case's result.
struct Outcome {
    case: &'static Case,
    verdict: Verdict,
}

pub async fn run(args: &ProbeRpArgs) -> Result<()> {
    if args.list_cases {
        print!("{}", cases::listing());
        return Ok(());
    }
    let chosen = select(&args.cases)?;
    let mut listen = crate::proxy::Listen::parse(&args.listen)
        .map_err(|e| super::exit::usage(format!("--listen: {e}")))?;
    if !listen.tls {
        return Err(super::exit::usage("--listen: the provider is served over https (https://ADDR:PORT)"));
    }
    if listen.addr.port() == 0 {
        // The issuer carries the port: pick it once, every case's gateway binds it again.
        listen.addr = std::net::TcpListener::bind(listen.addr)?.local_addr()?;
    }
    let login_url = match &args.login_url {
        Some(u) => Some(url::Url::parse(u).map_err(|e| super::exit::usage(format!("--login-url: {e}")))?),
        None => None,
    };
    let (ca, created) = crate::tls::DevCa::load_or_create(&args.ca_dir)
        .with_context(|| format!("dev CA in {}", args.ca_dir.display()))?;
    let ca = std::sync::Arc::new(ca);
    let base = scenario(args, &listen, &ca);
    print!("{}", banner(&base, args, &listen, created));
    let style = Style::detect();
    let mut console = Console::new(Box::new(std::io::stdout()), style, false);
    let mut numbering = Numbering::default();
    let mut outcomes = vec![];
    let mut events = vec![];
    for case in chosen {
        let mut sc = base.clone();
        case.apply(&mut sc);
        sc.numbering = numbering;
        let (seen, flow, next, kept) = one_login(case, sc, args, login_url.as_ref()).await?;
        numbering = next;
        let verdict = verdict::judge(case, &seen);
        println!("{}", row(case, &verdict));
        if let Some(mut f) = accepted_finding(case, &verdict, flow) {
            crate::rules::finding::render(&mut f, base.app);
            console.event(&Event::Finding(Box::new(f.clone())));
            events.push(Event::Finding(Box::new(f)));
        }
        events.extend(kept);
        outcomes.push(Outcome { case, verdict });
    }
    console.flush();
    let (summary, code) = summary(&outcomes);
    println!("\n{summary}");
    if let Some(path) = &args.report {
        write_report(path, &outcomes, &events)?;
        println!("report written to {}", path.display());
    }
    if let Some(path) = &args.har {
        let mut har = crate::trace::har::HarWriter::new(true, false);
        events.iter().for_each(|ev| har.event(ev));
        har.write(path).with_context(|| format!("cannot write {}", path.display()))?;
        println!("HAR written to {} (secrets redacted)", path.display());
    }
    match code {
        0 => Ok(()),
        1 => Err(CliError::new(ExitKind::Findings, "a bad answer was accepted").quiet().into()),
        _ => Err(CliError::new(ExitKind::Usage, summary).quiet().into()),
    }
}

/// The cases asked for (all by default), each once, in the catalogue's order.
fn select(names: &[String]) -> Result<Vec<&'static Case>> {
    if names.is_empty() {
        return Ok(cases::CASES.iter().collect());
    }
    let mut picked: Vec<&'static Case> = vec![];
    for n in names {
        let c = cases::find(n)
            .ok_or_else(|| super::exit::usage(format!("--case: no case {n:?} (--list-cases shows them)")))?;
        picked.push(c);
    }
    Ok(cases::CASES.iter().filter(|c| picked.iter().any(|p| p.name == c.name)).collect())
}

/// The deployment every case starts from: the embedded provider on `listen`, its issuer the
/// provider host and port, the relying party's callback registered.
fn scenario(
    args: &ProbeRpArgs,
    listen: &crate::proxy::Listen,
    ca: &std::sync::Arc<crate::tls::DevCa>,
) -> Scenario {
    let app = crate::rp::by_name(args.rp).unwrap_or_else(crate::rp::default);
    let mut sc = Scenario::for_rp(app, &args.web_domain);
    let port = listen.addr.port();
    let host =
        if port == 443 { args.provider_host.clone() } else { format!("{}:{port}", args.provider_host) };
    sc.provider_host = args.provider_host.clone();
    if let Some(uri) = &args.redirect_uri {
        sc.rp.redirect_uri = uri.clone();
        sc.provider.redirect_uris = vec![uri.clone()];
    }
    sc.rp.issuer = format!("https://{host}/application/o/{}/", sc.provider.slug);
    sc.gateway.ca = Some(ca.clone());
    sc.gateway.listen = Some(format!("https://{}", listen.addr));
    sc.gateway.authentik_for_any_host = true;
    sc
}

/// One case: a gateway in front of the provider broken that way, one login, what was seen.
async fn one_login(
    case: &'static Case,
    sc: Scenario,
    args: &ProbeRpArgs,
    login_url: Option<&url::Url>,
) -> Result<(Seen, Option<u64>, Numbering, Vec<Event>)> {
    let journal = match &args.trace {
        Some(p) => {
            Some(Journal::open(p, true).with_context(|| format!("cannot open trace {}", p.display()))?)
        }
        None => None,
    };
    let mut session = Session::new(
        Analyzer::new(AnalyzerConfig {
            expectations: sc.expectations(),
            flows_before: sc.numbering.flows,
            ..Default::default()
        }),
        None,
        journal,
        1024 * 1024,
    )
    .keep_events();
    session.start_journal(now_ms(), [("probe_case".to_string(), case.name.into())].into_iter().collect());
    let (closed_tx, mut closed) = tokio::sync::watch::channel(0u64);
    session.closed = Some(closed_tx);
    let rig = Rig::start(sc.clone(), session).await.context("cannot start the provider's gateway")?;
    let wait = Duration::from_secs(args.wait.max(1));
    let browser = match login_url {
        Some(url) => {
            let mut b = Browser::new(browser_client(&sc, rig.gateway_addr)?);
            let r = tokio::time::timeout(wait, b.login_at(url.as_str())).await;
            let origin = url.origin().ascii_serialization();
            let sign_in = url.path().to_owned();
            match r {
                Ok(Ok(r)) if !r.visited.iter().any(|v| !v.starts_with(&origin)) => {
                    let at = r.visited.last().cloned().unwrap_or_default();
                    let why = r.error.clone().unwrap_or_else(|| format!("{at} answered {}", r.last_status));
                    Some(verdict::BrowserEnd::NotStarted(why))
                }
                Ok(Ok(r)) => {
                    let at = r.final_location.clone().or(r.visited.last().cloned()).unwrap_or_default();
                    Some(verdict::browser_end(&at, r.last_status, &origin, &sign_in))
                }
                Ok(Err(e)) => return Err(CliError::new(ExitKind::Usage, format!("--login-url: {e}")).into()),
                Err(_) => Some(verdict::BrowserEnd::NeverBack(format!("no end within {} s", wait.as_secs()))),
            }
        }
        None => {
            println!(
                "  {}: log in now at https://{}/auth/sign_in (waiting up to {} s; Enter moves on)",
                case.name,
                sc.web_domain,
                wait.as_secs()
            );
            // Enter moves on; a closed stdin (a script) does not.
            let enter = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0)
            });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = closed.wait_for(|n| *n > 0) => {}
                Ok(true) = enter => {}
            }
            None
        }
    };
    // Let the last back-channel calls land in the analysis before the gateway stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (session, next) = rig.finish_numbered().await?;
    let kept = session.keep.unwrap_or_default();
    let mut seen = Seen { browser, ..Default::default() };
    let mut flow = None;
    for ev in &kept {
        if let Event::Exchange(x) = ev
            && x.exchange.response.is_some()
        {
            match x.kind {
                ExchangeKind::Token => seen.token_called = true,
                ExchangeKind::Userinfo => seen.userinfo_called = true,
                _ => {}
            }
            flow = flow.or(x.flow);
        }
    }
    Ok((seen, flow, next, kept))
}

/// The tool's browser: the provider's name through the gateway, the relying party as it
/// resolves, the dev CA trusted beside the system's roots.
fn browser_client(
    sc: &Scenario,
    gateway: std::net::SocketAddr,
) -> Result<crate::proxy::upstream::UpstreamClient<crate::demo::http::Body>> {
    let ca = sc.gateway.ca.as_ref().map(|c| c.cert_der().clone());
    let trust = crate::tls::UpstreamTrust { extra_roots: ca.into_iter().collect(), ..Default::default() };
    let port = gateway.port();
    let host = sc.provider_host.clone();
    let entries = vec![((host.clone(), port), gateway.to_string()), ((host, 443), gateway.to_string())];
    Ok(crate::proxy::upstream::build_client(
        &trust,
        crate::proxy::route::ConnectTo::new(entries),
        Duration::from_secs(5),
    )?)
}

/// `RP-ACCEPTS-<CASE>` for a bad answer the relying party took.
fn accepted_finding(case: &Case, v: &Verdict, flow: Option<u64>) -> Option<Finding> {
    let rule: RuleId = case.accepted?;
    let Verdict::Accepted(evidence) = v else { return None };
    let mut f = Finding::new(rule, rule.entry().title)
        .field(format!("case {}", case.label()))
        .seen(format!("accepted: {evidence}"))
        .why(format!("a relying party that refuses it shows that {}", case.proves));
    f.flow = flow;
    Some(f)
}

/// One line of the results table.
fn row(case: &Case, v: &Verdict) -> String {
    let expected = match case.expect {
        Expect::Reject => "reject",
        Expect::Accept => "accept",
        Expect::Either => "either",
    };
    let warning = case.accepted.is_some_and(|r| r.entry().severity < Severity::Error);
    let mark = match (case.expect, v) {
        (_, Verdict::Undecided(_)) => "?",
        (Expect::Reject, Verdict::Accepted(_)) if warning => "!",
        (Expect::Reject, Verdict::Accepted(_)) | (Expect::Accept, Verdict::Rejected(_)) => "✗",
        _ => "✓",
    };
    format!(
        "{mark} {:<50} expected {expected:<6}  seen {:<9}  {}",
        case.label(),
        v.word(),
        printable(v.evidence())
    )
}

/// The last line and the exit code: 0 all refused and the control accepted, 1 a bad answer
/// accepted, 2 when the run proves nothing (the control not accepted, or undecided cases).
fn summary(outcomes: &[Outcome]) -> (String, u8) {
    let accepted: Vec<&str> = outcomes
        .iter()
        .filter(|o| {
            o.case.expect == Expect::Reject
                && matches!(o.verdict, Verdict::Accepted(_))
                && o.case.accepted.is_some_and(|r| r.entry().severity == Severity::Error)
        })
        .map(|o| o.case.name)
        .collect();
    let warned: Vec<&str> = outcomes
        .iter()
        .filter(|o| {
            matches!(o.verdict, Verdict::Accepted(_))
                && o.case.accepted.is_some_and(|r| r.entry().severity < Severity::Error)
        })
        .map(|o| o.case.name)
        .collect();
    let undecided: Vec<&str> =
        outcomes.iter().filter(|o| matches!(o.verdict, Verdict::Undecided(_))).map(|o| o.case.name).collect();
    let control = outcomes.iter().find(|o| o.case.expect == Expect::Accept);
    let control_ok = control.is_none_or(|o| matches!(o.verdict, Verdict::Accepted(_)));
    let bad = outcomes.iter().filter(|o| o.case.expect == Expect::Reject).count();
    let also = if warned.is_empty() {
        String::new()
    } else {
        format!("; accepted, a warning: {}", warned.join(", "))
    };
    if !accepted.is_empty() {
        return (
            format!("ACCEPTED {} of {bad} bad answers: {}{also}", accepted.len(), accepted.join(", ")),
            1,
        );
    }
    if !control_ok {
        return ("the control login was not accepted: no verdict means anything (is the relying party configured with the block above?)".into(), 2);
    }
    if !undecided.is_empty() {
        return (
            format!("undecided: {} (no evidence of what the relying party did)", undecided.join(", ")),
            2,
        );
    }
    (format!("every bad answer was refused ({bad} cases) and the control accepted{also}"), 0)
}

/// The results, then every case's login as `report` shows it.
fn write_report(path: &std::path::Path, outcomes: &[Outcome], events: &[Event]) -> Result<()> {
    let mut report = crate::trace::report::Report::default();
    for ev in events {
        report.event(ev);
    }
    let table: String = outcomes
        .iter()
        .map(|o| {
            format!(
                "| {} | {} | {} | {} |\n",
                o.case.label(),
                o.case.proves,
                o.verdict.word(),
                o.verdict.evidence().replace('|', "\\|")
            )
        })
        .collect();
    let (summary, _) = summary(outcomes);
    let head = format!(
        "# probe-rp results\n\n{summary}\n\n| case | proves | seen | evidence |\n|---|---|---|---|\n{table}\n"
    );
    let html = path.extension().is_some_and(|e| e == "html");
    let text = if html {
        let page = report.html();
        let rows: String = outcomes
            .iter()
            .map(|o| {
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    crate::trace::report_html::esc(&o.case.label()),
                    crate::trace::report_html::esc(o.case.proves),
                    o.verdict.word(),
                    crate::trace::report_html::esc(o.verdict.evidence())
                )
            })
            .collect();
        let section = format!(
            "<section><h1>probe-rp results</h1><p>{}</p><table><tr><th>case</th><th>proves</th><th>seen</th><th>evidence</th></tr>{rows}</table></section>",
            crate::trace::report_html::esc(&summary)
        );
        match page.find("<body>") {
            Some(i) => format!("{}{section}{}", &page[..i + 6], &page[i + 6..]),
            None => section + &page,
        }
    } else {
        head + &report.markdown()
    };
    let _ = std::fs::remove_file(path);
    crate::files::write_new(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// What the relying party's admin needs: where the provider is, what to trust, the env block.
fn banner(sc: &Scenario, args: &ProbeRpArgs, listen: &crate::proxy::Listen, created: bool) -> String {
    let ca_pem = args.ca_dir.join(crate::tls::certs::CA_CERT);
    let mut out = String::from(
        "oidc-tap probe-rp: the embedded provider answers each login with one bad ID token or response\n\
         (only its own answers: a real provider's traffic is never altered)\n",
    );
    out += &format!("  issuer       {}\n", sc.rp.issuer);
    out += &format!("  gateway      https://{}\n", listen.addr);
    out += &format!(
        "  CA to trust  {}{}\n",
        ca_pem.display(),
        if created { " (NEW: the relying party does not trust it yet)" } else { "" }
    );
    out += &format!(
        "  name         make {} resolve to {} on the relying party's host\n",
        args.provider_host,
        listen.addr.ip()
    );
    out += &format!(
        "The relying party's {} (then {}):\n\n{}\n",
        sc.app.config,
        sc.app.apply,
        super::demo::env_block(sc)
    );
    out
}
