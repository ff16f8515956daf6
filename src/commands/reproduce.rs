//! `oidc-tap reproduce TRACE`: a customer's trace back into a failing login on this machine.
//! The trace goes through the core (as `analyze`); the demo faults that raise exactly its
//! findings are combined into one login through a real gateway, set up like the trace's
//! deployment (`demo::derive`: client_id, redirect_uri, scope, slug, signing algorithm); the
//! findings that come back are compared with the trace's.

use std::collections::BTreeSet;

use anyhow::Result;

use super::exit::{CliError, ExitKind};
use crate::analysis::{AnalyzerConfig, Event};
use crate::cli::ReproduceArgs;
use crate::demo::faults;
use crate::demo::rig::Scenario;
use crate::rules::Severity;
use crate::trace::import;

/// Rule ids at warning or error in a run's events.
fn raised(events: impl IntoIterator<Item = Event>) -> BTreeSet<String> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Finding(f) if f.severity >= Severity::Warning => Some(f.rule.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

pub async fn run(args: &ReproduceArgs) -> Result<()> {
    let expectations = super::proxy::build_expectations(&args.expect)?;
    let mut events = vec![];
    super::analyze::analyze(
        std::slice::from_ref(&args.trace),
        AnalyzerConfig { expectations, ..Default::default() },
        |e| events.push(e.clone()),
    )
    .map_err(|e: import::ImportError| -> anyhow::Error {
        CliError::new(ExitKind::Usage, e.to_string()).into()
    })?;
    let derived = crate::demo::derive::Derived::from_events(&events);
    let target = raised(events);
    let shown = crate::text::printable(&args.trace).into_owned();
    if target.is_empty() {
        println!(
            "{shown}: no warning or error findings: nothing to reproduce (a clean login is `demo --fault clean`)"
        );
        return Ok(());
    }
    let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
    println!("{shown}: {}", list(&target));
    let ids: Vec<&str> = target.iter().map(String::as_str).collect();
    let (chosen, cannot) = faults::for_rules(&ids);
    let names: Vec<String> = chosen.iter().map(|f| f.name.to_owned()).collect();
    if names.is_empty() {
        println!("no demo fault raises any of these without raising others: nothing to reproduce");
        return Err(CliError::new(ExitKind::Findings, "not reproduced").quiet().into());
    }
    let shows = derived.describe();
    if !shows.is_empty() {
        println!("from the trace (the demo provider and Mastodon answer under these names, on loopback):");
        shows.iter().for_each(|l| println!("  {l}"));
    }
    println!("demo faults: {}", names.join(" + "));
    let mut sc = Scenario::clean();
    derived.apply(&mut sc);
    faults::combine(&names, &mut sc).map_err(anyhow::Error::msg)?;
    let got = raised(crate::demo::rig::run_login(sc).await?);
    let back: BTreeSet<String> = target.intersection(&got).cloned().collect();
    println!("reproduced {}/{}: {}", back.len(), target.len(), list(&back));
    for r in target.difference(&got) {
        if cannot.contains(r) {
            println!(
                "  not reproduced: {r}: no demo fault raises it without raising findings the trace does not have"
            );
        } else {
            println!("  not reproduced: {r}: the demo faults chosen did not raise it this time");
        }
    }
    let extra: BTreeSet<String> = got.difference(&target).cloned().collect();
    if !extra.is_empty() {
        println!("  also raised (not in the trace): {}", list(&extra));
    }
    if args.serve.serve {
        return super::demo::serve(&names, &None, &args.serve, &args.ui).await;
    }
    if back.len() < target.len() {
        return Err(CliError::new(ExitKind::Findings, "not all reproduced").quiet().into());
    }
    Ok(())
}
