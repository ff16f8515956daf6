//! Reading order: every view a person reads after the fact (the offline console, the reports,
//! the web view's flow) lists exchanges by when their request started, ties by id. The core
//! sees exchanges when they finish (a token call that started first may finish after the JWKS
//! fetch it caused); its events are regrouped here, without changing a single one of them.

use super::Event;

/// The events in reading order: each exchange with the findings about it, by request start
/// (ties by id); a flow's closing line and the findings about the whole login stay after
/// every exchange that came before them.
pub fn reading_order(events: Vec<Event>) -> Vec<Event> {
    // Blocks: an exchange and the findings that follow it about it; anything else alone.
    let mut blocks: Vec<(u64, u64, Vec<Event>)> = vec![];
    let mut latest = 0u64;
    for ev in events {
        match &ev {
            Event::Exchange(x) => {
                let start = x.exchange.started_ms;
                latest = latest.max(start);
                blocks.push((start, x.id, vec![ev]));
            }
            Event::Finding(f) => match blocks.last_mut() {
                Some((_, id, b))
                    if f.exchange == Some(*id) && matches!(b.first(), Some(Event::Exchange(_))) =>
                {
                    b.push(ev)
                }
                _ => blocks.push((latest, u64::MAX, vec![ev])),
            },
            Event::Flow(_) => blocks.push((latest, u64::MAX, vec![ev])),
        }
    }
    // Stable: blocks with the same key keep the order the core gave them.
    blocks.sort_by_key(|(start, id, _)| (*start, *id));
    blocks.into_iter().flat_map(|(_, _, b)| b).collect()
}

/// Where `x` goes in a list kept in reading order (by request start, ties by id).
pub fn position(list: &[super::ExchangeEvent], x: &super::ExchangeEvent) -> usize {
    let key = |e: &super::ExchangeEvent| (e.exchange.started_ms, e.id);
    list.partition_point(|e| key(e) <= key(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Analyzer, AnalyzerConfig};

    #[test]
    fn exchanges_are_read_in_the_order_their_requests_started() {
        let mut a = Analyzer::new(AnalyzerConfig::default());
        let doc = r#"{"issuer":"https://a/","authorization_endpoint":"https://a/auth","token_endpoint":"https://a/token","userinfo_endpoint":"https://a/me","jwks_uri":"https://a/jwks","response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"]}"#;
        // Finished in this order: discovery (started 1000), then a call that started at 900.
        let mut first =
            crate::analysis::tests::exchange("GET", "/.well-known/openid-configuration", 200, doc);
        first.id = 2;
        let mut earlier = crate::analysis::tests::exchange("GET", "/me", 401, "");
        earlier.id = 1;
        earlier.started_ms = 900;
        let mut events = a.ingest(&first);
        events.extend(a.ingest(&earlier));
        events.extend(a.finish(5000));
        let before: Vec<String> = events.iter().map(describe).collect();
        let after: Vec<String> = reading_order(events).iter().map(describe).collect();
        let xs: Vec<&String> = after.iter().filter(|d| d.starts_with('x')).collect();
        assert_eq!(xs, ["x1", "x2"], "{after:?}");
        // Nothing added or lost; findings stay after their exchange; closings come last.
        let mut sorted_before = before.clone();
        sorted_before.sort();
        let mut sorted_after = after.clone();
        sorted_after.sort();
        assert_eq!(sorted_before, sorted_after);
        for (i, d) in after.iter().enumerate() {
            if let Some(x) = d.strip_prefix("f@").and_then(|r| r.split(':').next()).filter(|x| *x != "-") {
                let at = after.iter().position(|e| e == &format!("x{x}")).unwrap();
                assert!(at < i, "{after:?}");
            }
        }
    }

    fn describe(e: &Event) -> String {
        match e {
            Event::Exchange(x) => format!("x{}", x.id),
            Event::Finding(f) => match f.exchange {
                Some(x) => format!("f@{x}:{}", f.rule),
                None => format!("f@-:{}", f.rule),
            },
            Event::Flow(f) => format!("{:?}{}", f.event, f.flow).to_lowercase(),
        }
    }
}
