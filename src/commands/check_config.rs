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
    let text = std::fs::read(&args.mastodon_env).map_err(|e| {
        super::exit::usage(format!("--mastodon-env: cannot read {}: {e}", args.mastodon_env.display()))
    })?;
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
    let env = EnvFile::parse(&text);
    let (mut check, discovery_url) = ConfigCheck::new(&env, args.issuer_url.as_deref());
    println!(
        "checking {} (as Mastodon's dotenv reads it)",
        crate::text::printable(&args.mastodon_env.display().to_string())
    );
    for line in crate::rules::config_check::as_read(&env) {
        println!("  {}", crate::text::printable(&line));
    }
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
