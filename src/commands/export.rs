//! `oidc-tap export JOURNAL --har OUT`: a recorded trace as HAR 1.2, through the same core so
//! the HAR carries the findings.

use anyhow::{Context, Result};

use super::exit::{CliError, ExitKind};
use crate::analysis::AnalyzerConfig;
use crate::cli::ExportArgs;
use crate::trace::har::HarWriter;

pub fn run(args: &ExportArgs) -> Result<()> {
    let expectations = super::proxy::build_expectations(&args.expect)?;
    let mut har = HarWriter::new(!args.no_redact, args.trace_all)
        .policy(crate::redact::Policy { keep_signatures: args.keep_signatures, pii: args.redact_pii });
    let infos = super::analyze::analyze(
        std::slice::from_ref(&args.input),
        AnalyzerConfig { expectations: expectations.clone(), ..Default::default() },
        |ev| har.event(ev),
    )
    .map_err(|e| CliError::new(ExitKind::Usage, e.to_string()))?;
    // The HAR is judged later against what this export was judged against.
    let used = match super::analyze::recorded_used(&args.expect, &infos) {
        Some(recorded) => recorded,
        // A secret given now is keyed with this run's key, the trace's with its own: only a
        // trace whose secrets are masked here can be compared with it later.
        None if infos.iter().any(|i| i.redacted == Some(true)) => {
            crate::expect::Expectations { client_secret: None, ..expectations }
        }
        None => expectations,
    };
    let har = har.expect(&used);
    har.write(&args.har).with_context(|| format!("cannot write {}", args.har.display()))?;
    eprintln!(
        "wrote {} ({})",
        args.har.display(),
        if args.no_redact { "secrets in CLEAR" } else { "secrets redacted" }
    );
    Ok(())
}
