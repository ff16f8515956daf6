//! `oidc-tap report FILE [--format md|html|json] [-o OUT]`.

use std::io::Write;

use anyhow::{Context, Result};

use super::exit::{CliError, ExitKind};
use crate::analysis::AnalyzerConfig;
use crate::cli::ReportArgs;
use crate::trace::report::Report;

pub fn run(args: &ReportArgs) -> Result<()> {
    let expectations = super::proxy::build_expectations(&args.expect)?;
    let mut report = Report::default();
    super::analyze::analyze(&args.files, AnalyzerConfig { expectations, ..Default::default() }, |ev| {
        report.event(ev)
    })
    .map_err(|e| CliError::new(ExitKind::Usage, e.to_string()))?;
    let text = match args.format.as_str() {
        "json" => serde_json::to_string_pretty(&report.json())? + "\n",
        "html" => report.html(),
        _ => report.markdown(),
    };
    match &args.output {
        Some(p) => {
            let _ = std::fs::remove_file(p);
            crate::files::write_new(p, text.as_bytes())
                .with_context(|| format!("cannot write {}", p.display()))?
        }
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(())
}
