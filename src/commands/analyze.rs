//! `oidc-tap analyze FILE…`: a recorded trace through the same core as the live gateway, so
//! the support engineer sees exactly what the customer's gateway saw.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::{Value, json};

use super::exit::{CliError, ExitKind};
use crate::analysis::{Analyzer, AnalyzerConfig, Event, LiveVerdict};
use crate::cli::AnalyzeArgs;
use crate::expect::Expectations;
use crate::output::console::{Console, Style};
use crate::output::journal::event_line;
use crate::rules::Severity;
use crate::trace::import;

/// Everything a trace yields through the core: its events, in order.
pub fn analyze(
    files: &[String],
    cfg: AnalyzerConfig,
    mut each: impl FnMut(&Event),
) -> Result<Vec<import::TraceInfo>, import::ImportError> {
    // Pass one (files only): the live verdicts the trace carries, so a redacted signature
    // shows the live run's verdict. Pass two: the records through the core, one at a time.
    // Given no expectations, the trace is judged against those its live run recorded.
    let mut live: HashMap<u64, LiveVerdict> = HashMap::new();
    let mut recorded = None;
    for f in files.iter().filter(|f| f.as_str() != "-") {
        let info = import::read(f, |_| {})?;
        live.extend(info.live);
        recorded = recorded.or(info.expect);
    }
    let mut cfg = cfg;
    if cfg.expectations.is_unset()
        && let Some(r) = &recorded
    {
        let rp = cfg.expectations.rp;
        cfg.expectations = Expectations::from_record(r);
        // `--rp` given offline reads the recorded values as that application's.
        cfg.expectations.rp = rp.or(cfg.expectations.rp);
    }
    let mut analyzer = Analyzer::new(AnalyzerConfig { live, ..cfg });
    let mut infos = vec![];
    let mut last = 0;
    for f in files {
        infos.push(import::read(f, |ex| {
            last = last.max(ex.started_ms + ex.total_ms);
            for ev in analyzer.ingest(&ex) {
                each(&ev);
            }
        })?);
    }
    for ev in analyzer.finish(last + 1) {
        each(&ev);
    }
    Ok(infos)
}

pub fn run(args: &AnalyzeArgs) -> Result<()> {
    let expectations = super::proxy::build_expectations(&args.expect)?;
    let cfg = AnalyzerConfig { expectations, ..Default::default() };
    let mut errors = 0usize;
    let count = |ev: &Event, errors: &mut usize| {
        if let Event::Finding(f) = ev
            && f.severity == Severity::Error
        {
            *errors += 1;
        }
    };
    let read =
        |e: import::ImportError| -> anyhow::Error { CliError::new(ExitKind::Usage, e.to_string()).into() };
    if args.format == "json" {
        let mut events = vec![];
        analyze(&args.files, cfg, |ev| {
            count(ev, &mut errors);
            events.push(event_line(ev, !args.no_redact));
        })
        .map_err(read)?;
        let pick = |t: &str| -> Vec<Value> { events.iter().filter(|v| v["type"] == t).cloned().collect() };
        let doc = json!({
            "tool": format!("oidc-tap {}", env!("CARGO_PKG_VERSION")),
            "files": args.files,
            "redacted": !args.no_redact,
            "flows": pick("flow").into_iter().filter(|f| f["event"] == "closed").collect::<Vec<_>>(),
            "exchanges": pick("exchange"),
            "findings": pick("finding"),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        let mut console = Console::new(Box::new(std::io::stdout()), Style::detect(), args.show_all);
        // Read after the fact: in the order the requests started (ties by id), as every view.
        let mut events = vec![];
        let infos = analyze(&args.files, cfg, |ev| {
            count(ev, &mut errors);
            events.push(ev.clone());
        })
        .map_err(read)?;
        for ev in crate::analysis::order::reading_order(events) {
            console.event(&ev);
        }
        let records: usize = infos.iter().map(|i| i.records).sum();
        if let Some(r) = recorded_used(&args.expect, &infos) {
            eprintln!(
                "judged against the expectations the live run recorded{}; --mastodon-env or --expect-* judge it otherwise",
                r.source
                    .as_deref()
                    .map(|s| format!(" (from {})", crate::text::printable(s)))
                    .unwrap_or_default()
            );
        }
        eprintln!(
            "{records} exchange{} read from {} (listed in the order their requests started); {errors} error finding{}",
            if records == 1 { "" } else { "s" },
            args.files.join(", "),
            if errors == 1 { "" } else { "s" }
        );
    }
    if errors > 0 {
        return Err(CliError::new(ExitKind::Findings, format!("{errors} error finding(s)")).quiet().into());
    }
    Ok(())
}

/// The expectations a trace recorded, when they were used (none given on the command line).
pub fn recorded_used(given: &crate::cli::ExpectArgs, infos: &[import::TraceInfo]) -> Option<Expectations> {
    let given = super::proxy::build_expectations(given).ok()?;
    if !given.is_unset() {
        return None;
    }
    infos.iter().find_map(|i| i.expect.as_ref()).map(Expectations::from_record)
}
