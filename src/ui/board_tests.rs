//! The board over real demo logins: logins that continue one numbering, the bound, the downloads.
#![cfg(test)]

use super::board::{Board, MAX_FLOWS, Shown};
use crate::analysis::Event;
use crate::demo::faults;
use crate::demo::rig::{Numbering, Rig, Scenario, quiet_session};

/// One demo login whose numbers continue after `numbering` (as `demo` runs its logins).
fn login_after(names: &[&str], numbering: Numbering) -> (Vec<Event>, Numbering) {
    let mut sc = Scenario::clean();
    faults::combine(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &mut sc).unwrap();
    sc.numbering = numbering;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let rig = Rig::start(sc.clone(), quiet_session(&sc)).await?;
            rig.login().await?;
            let (session, next) = rig.finish_numbered().await?;
            anyhow::Ok((session.keep.unwrap_or_default(), next))
        })
        .unwrap()
}

#[test]
fn runs_are_numbered_on_and_the_oldest_flows_leave_first() {
    let (clean, after) = login_after(&[], Numbering::default());
    assert_eq!(after.flows, 1);
    assert!(after.exchanges > 3, "{after:?}");
    let (broken, _) = login_after(&["wrong-aud"], after);
    let mut b = Board::new(false, Default::default());
    for e in &clean {
        b.event(e);
    }
    let changed: Vec<u64> = broken.iter().filter_map(|e| b.event(e)).collect();
    assert!(changed.iter().all(|&f| f == 2), "{changed:?}");
    let rows: Vec<(u64, &str, usize, Option<&str>)> = b
        .summaries()
        .iter()
        .map(|r| (r.id, r.outcome.as_str(), r.errors, r.worst.as_ref().map(|w| w.rule.as_str())))
        .collect();
    assert_eq!(rows, [(2, "failed", 1, Some("IDT-AUD-MISMATCH")), (1, "complete", 0, None)]);
    // The finding points at flow 2's own token exchange, whose id no flow-1 exchange has.
    let flow1: Vec<u64> = ids(&b.journal(Shown::Flow(1), 0));
    let flow2: Vec<u64> = ids(&b.journal(Shown::Flow(2), 0));
    assert!(!flow1.is_empty() && !flow2.is_empty());
    assert!(flow2.iter().all(|x| !flow1.contains(x)), "{flow1:?} {flow2:?}");
    let html = b.flow_html(2).unwrap();
    let fail = html.split("arrow r fail").nth(1).unwrap();
    let x: u64 = fail.split("data-x=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
    assert!(flow2.contains(&x), "{x} in {flow2:?}");
    assert!(html.contains(&format!("<section class=\"xd\" id=\"x-{x}\"")));
    assert!(b.flow_html(3).is_none());
    // The errors-only filter: flow 2 alone.
    assert_eq!(ids(&b.journal(Shown::ErrorsOnly, 0)), flow2);
    assert!(b.report(Shown::ErrorsOnly).markdown().contains("## Login flow 2 · failed"));
    assert!(!b.report(Shown::ErrorsOnly).markdown().contains("## Login flow 1"));

    // Past MAX_FLOWS the oldest go (the same login again, numbered on by hand).
    for run in 0..MAX_FLOWS as u64 {
        for e in &clean {
            let mut e = e.clone();
            match &mut e {
                Event::Exchange(x) => x.flow = x.flow.map(|f| f + 2 + run),
                Event::Finding(f) => f.flow = f.flow.map(|f| f + 2 + run),
                Event::Flow(f) => f.flow += 2 + run,
            }
            b.event(&e);
        }
    }
    let kept: Vec<u64> = b.summaries().iter().map(|r| r.id).collect();
    assert_eq!(kept.len(), MAX_FLOWS);
    assert_eq!(kept.last(), Some(&3));
    assert!(b.flow_html(2).is_none() && b.journal(Shown::Flow(2), 0).split(|&c| c == b'\n').count() == 2);
}

/// Exchange ids in a journal download.
fn ids(journal: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(journal)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "exchange")
        .map(|v| v["id"].as_u64().unwrap())
        .collect()
}
