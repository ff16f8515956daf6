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
use crate::demo::from_trace::Recorded;
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
    let expected_issuer = expectations.issuer.clone();
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
    let target = raised(events.iter().cloned());
    let shown = crate::text::printable(&args.trace).into_owned();
    if target.is_empty() {
        println!(
            "{shown}: no warning or error findings: nothing to reproduce (a clean login is `demo --fault clean`)"
        );
        return Ok(());
    }
    println!("{shown}: {}", list(&target));
    let ids: Vec<&str> = target.iter().map(String::as_str).collect();
    let (chosen, cannot) = faults::for_rules(&ids);
    let names: Vec<String> = chosen.iter().map(|f| f.name.to_owned()).collect();
    let shows = derived.describe();
    if !shows.is_empty() {
        println!("from the trace (the demo provider and Mastodon answer under these names, on loopback):");
        shows.iter().for_each(|l| println!("  {l}"));
    }
    // The named demo faults first: a reproduction a person can name and rerun.
    let mut by_faults = None;
    if names.is_empty() {
        println!("no demo fault raises any of these without raising others");
    } else {
        println!("demo faults: {}", names.join(" + "));
        let mut sc = Scenario::clean();
        derived.apply(&mut sc);
        faults::combine(&names, &mut sc).map_err(anyhow::Error::msg)?;
        let got = raised(crate::demo::rig::run_login(sc).await?);
        if got == target {
            report(&target, &got, &cannot);
            if args.serve.serve {
                return super::demo::serve(&names, None, &None, &args.serve, &args.ui).await;
            }
            return Ok(());
        }
        println!(
            "  the demo faults gave {}/{}: {}",
            got.intersection(&target).count(),
            target.len(),
            list(&got)
        );
        by_faults = Some(got);
    }
    // Then the provider the trace recorded, rebuilt in the demo.
    let recorded = Recorded::from_events(&events);
    let mut sc = Scenario::clean();
    derived.apply(&mut sc);
    let origin = format!("https://{}", sc.provider_host);
    let took = recorded.apply(&mut sc, &origin, expected_issuer.as_deref());
    println!(
        "the provider built from the trace (its URLs rebased onto {origin}, its ID token re-signed with a local key of the same type):"
    );
    took.iter().for_each(|l| println!("  {}", crate::text::printable(l)));
    let got = raised(crate::demo::rig::run_login(sc).await?);
    let better = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
        let score = |g: &BTreeSet<String>| {
            (g.intersection(&target).count(), usize::MAX - g.difference(&target).count())
        };
        score(a) >= score(b)
    };
    let from_trace = by_faults.as_ref().is_none_or(|f| better(&got, f));
    let got = if from_trace { got } else { by_faults.unwrap_or_default() };
    if !from_trace {
        println!("  (the demo faults came closer)");
    }
    let all = report(&target, &got, &cannot);
    if args.serve.serve {
        return match from_trace {
            true => {
                let label = ["the provider built from the trace".to_owned()];
                let recorded = Some((&recorded, expected_issuer.as_deref()));
                super::demo::serve(&label, recorded, &None, &args.serve, &args.ui).await
            }
            false => super::demo::serve(&names, None, &None, &args.serve, &args.ui).await,
        };
    }
    if !all {
        return Err(CliError::new(ExitKind::Findings, "not all reproduced").quiet().into());
    }
    Ok(())
}

fn list(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Prints what came back of `target`; true when all of it did.
fn report(target: &BTreeSet<String>, got: &BTreeSet<String>, cannot: &[String]) -> bool {
    let back: BTreeSet<String> = target.intersection(got).cloned().collect();
    println!("reproduced {}/{}: {}", back.len(), target.len(), list(&back));
    for r in target.difference(got) {
        if cannot.contains(r) {
            println!(
                "  not reproduced: {r}: no demo fault raises it without raising findings the trace does not have, and the provider built from the trace did not either"
            );
        } else {
            println!("  not reproduced: {r}: the reproduction did not raise it this time");
        }
    }
    let extra: BTreeSet<String> = got.difference(target).cloned().collect();
    if !extra.is_empty() {
        println!("  also raised (not in the trace): {}", list(&extra));
    }
    back.len() == target.len()
}
