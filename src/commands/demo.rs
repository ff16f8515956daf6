//! `oidc-tap demo`: a real gateway in front of the built-in authentik stand-in and a scripted
//! Mastodon, all on loopback. Without `--fault` it runs a few logins, each broken in one common
//! way; several `--fault` flags combine into one login. The console shows what the gateway sees,
//! exactly as it would in front of a real deployment.

use anyhow::{Context, Result};

use crate::analysis::{Analyzer, AnalyzerConfig};
use crate::cli::DemoArgs;
use crate::clock::now_ms;
use crate::demo::faults;
use crate::demo::mastodon::Verdict;
use crate::demo::rig::{Rig, Scenario};
use crate::output::console::{Console, Style};
use crate::output::journal::Journal;
use crate::session::Session;

const DEFAULT: &[&str] = &["clean", "issuer-trailing-slash", "missing-openid-scope", "email-unverified"];

pub async fn run(args: DemoArgs) -> Result<()> {
    if args.list_faults || args.faults.iter().any(|f| f == "list") {
        print!("{}", faults::listing());
        return Ok(());
    }
    // Each default fault is its own login; the faults a user names combine into one.
    let logins: Vec<Vec<String>> = if args.faults.is_empty() {
        DEFAULT.iter().map(|s| vec![s.to_string()]).collect()
    } else {
        vec![args.faults.clone()]
    };
    for names in &logins {
        faults::combine(names, &mut Scenario::clean()).map_err(super::exit::usage)?;
    }
    let style = Style::detect();
    println!("{}", style.bold("oidc-tap demo"));
    println!("A real gateway on 127.0.0.1 in front of a built-in authentik stand-in (authentik.test) and a");
    println!("scripted Mastodon (mastodon.test). Each login below is broken on purpose; the lines are what");
    println!("`oidc-tap proxy` prints in front of a real deployment. `--list-faults` shows every fault.\n");
    // One HAR for every demo login: each rig's flows are renumbered, so they stay apart.
    let mut har = args.har.as_ref().map(|_| crate::trace::har::HarWriter::new(true, false));
    for names in logins {
        let mut sc = Scenario::clean();
        faults::combine(&names, &mut sc).map_err(super::exit::usage)?;
        let name = names.join(" + ");
        let what: Vec<&str> = names.iter().filter_map(|n| faults::find(n)).map(|f| f.what).collect();
        println!("{}", style.bold(&format!("── demo fault: {name} — {}", what.join("; "))));
        let journal = match &args.trace {
            Some(p) => {
                let mut j = Journal::open(p, true)?;
                j.session(now_ms(), [("demo_fault".to_string(), name.clone().into())].into_iter().collect())?;
                Some(j)
            }
            None => None,
        };
        // As if `--mastodon-env` pointed at the demo Mastodon's .env.production.
        let expectations = sc.expectations();
        let mut session = Session::new(
            Analyzer::new(AnalyzerConfig { expectations, ..Default::default() }),
            Some(Console::new(Box::new(std::io::stdout()), style, false)),
            journal,
            1024 * 1024,
        );
        if har.is_some() {
            session = session.keep_events();
        }
        let rig = Rig::start(sc, session).await?;
        let outcome = rig.login().await?;
        let done = rig.finish().await?;
        if let Some(h) = &mut har {
            done.keep.iter().flatten().for_each(|ev| h.event(ev));
            h.next_run();
        }
        match outcome.verdict {
            Some(Verdict::Success { uid }) => println!("   Mastodon: signed in, account key (uid) {uid:?}\n"),
            Some(Verdict::Failure { reason }) => {
                println!(
                    "   Mastodon: “Could not authenticate you from OpenIDConnect because “{}”.”\n",
                    crate::rules::token::humanize(&reason)
                )
            }
            None => println!(
                "   Mastodon: never got the browser back (the browser stopped at {})\n",
                outcome.browser.visited.last().map(|s| crate::redact::redact_url(s)).unwrap_or_default()
            ),
        }
    }
    if let (Some(h), Some(path)) = (har, &args.har) {
        h.write(path).with_context(|| format!("cannot write {}", path.display()))?;
        println!("HAR written to {} (secrets redacted)", path.display());
    }
    Ok(())
}
