//! `oidc-tap check-config`: a Mastodon `.env.production` against the provider, before anyone
//! logs in. Reads the file, fetches discovery and the JWKS (`outbound`, reqwest), and prints
//! what `rules::config_check` decides.

use std::time::Duration;

use anyhow::{Context, Result};

use super::exit::{CliError, ExitKind};
use crate::analysis::Event;
use crate::cli::CheckConfigArgs;
use crate::dotenv::EnvFile;
use crate::output::console::{Console, Style};
use crate::proxy::route::ConnectTo;
use crate::rules::Severity;
use crate::rules::config_check::ConfigCheck;
use crate::tls::UpstreamTrust;

pub async fn run(args: &CheckConfigArgs) -> Result<()> {
    let rp = crate::rp::by_name(args.rp).unwrap_or_else(crate::rp::default);
    let path = args.mastodon_env.as_ref().or(args.config.as_ref()).expect("clap requires one");
    let flag = if args.mastodon_env.is_some() { "--mastodon-env" } else { "CONFIG" };
    let text = std::fs::read(path)
        .map_err(|e| super::exit::usage(format!("{flag}: cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&text);
    let connect_to = ConnectTo::new(
        args.connect_to
            .iter()
            .map(|c| ConnectTo::parse_one(c))
            .collect::<Result<Vec<_>, _>>()
            .context("--connect-to")?,
    );
    let trust = UpstreamTrust {
        extra_cas: args.upstream_ca.clone(),
        insecure: args.insecure_upstream,
        ..Default::default()
    };
    // A CA file that cannot be used is the user's flag, not a finding about the provider.
    crate::tls::upstream_client_config(&trust)
        .map_err(|e| super::exit::usage(format!("--upstream-ca: {e}")))?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let shown = path.display().to_string();
    let shown = crate::text::printable(&shown);
    let env = match rp.read_config {
        None if !rp.is_default() => {
            return Err(super::exit::usage(format!(
                "--rp {}: no configuration file of its own to read (one of {} has one)",
                rp.name,
                crate::rp::PROFILES
                    .iter()
                    .filter(|p| p.read_config.is_some() || p.is_default())
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        None => {
            let env = EnvFile::parse(&text);
            println!("checking {shown} (as Mastodon's dotenv reads it)");
            for line in crate::rules::config_check::as_read(&env) {
                println!("  {}", crate::text::printable(&line));
            }
            env
        }
        Some(read) => {
            let app = read(&text).map_err(|e| super::exit::usage(format!("{shown} as {}'s: {e}", rp.app)))?;
            println!("checking {shown} (as {} reads it)", rp.app);
            for (s, v, line) in &app.values {
                let at = if *line > 0 { format!("  (line {line})") } else { String::new() };
                let v = if *s == crate::rp::Setting::ClientSecret {
                    format!("({} characters)", v.chars().count())
                } else {
                    v.clone()
                };
                println!("  {} = {}{at}", rp.setting(*s), crate::text::printable(&v));
            }
            for n in &app.notes {
                println!("  note: {}", crate::text::printable(n));
            }
            if app.get(crate::rp::Setting::Issuer).is_none() && args.issuer_url.is_none() {
                println!(
                    "  not checked against discovery: {} names no issuer; pass --issuer-url (authentik: the provider's OpenID Configuration Issuer)",
                    rp.app
                );
            }
            crate::rp::config::to_env(&app, rp, args.issuer_url.as_deref())
        }
    };
    let (mut check, discovery_url) = ConfigCheck::for_rp(&env, args.issuer_url.as_deref(), rp);
    if let Some(url) = discovery_url {
        println!("  discovery  GET {}", crate::text::printable(&url));
        let got = crate::outbound::get(&trust, &connect_to, &url, timeout).await;
        if let Some(jwks) = check.discovery(&got) {
            println!("  jwks       GET {}", crate::text::printable(&jwks));
            let got = crate::outbound::get(&trust, &connect_to, &jwks, timeout).await;
            check.jwks(&got);
        }
    }
    let mut console = Console::new(Box::new(std::io::stdout()), Style::detect(), false);
    for f in &check.findings {
        console.event(&Event::Finding(Box::new(f.clone())));
    }
    let errors = check.findings.iter().filter(|f| f.severity >= Severity::Error).count();
    let warnings = check.findings.iter().filter(|f| f.severity == Severity::Warning).count();
    println!("{errors} error(s), {warnings} warning(s)");
    if errors > 0 {
        return Err(CliError::new(ExitKind::Findings, format!("{errors} error finding(s)")).quiet().into());
    }
    Ok(())
}
