//! `cargo bench`: the analysis core's costs that BENCHMARKS.md records. ID token verification
//! per algorithm (decode + signature, as the core does it per token response) and one recorded
//! login journal analysed end to end (read, decode, correlate, verify, rules).

use criterion::{Criterion, criterion_group, criterion_main};

// The allocator the binary runs with (src/main.rs), so the numbers are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use oidc_tap::bench::{SignedToken, analyse};

fn verification(c: &mut Criterion) {
    let mut g = c.benchmark_group("id_token_verify");
    for alg in ["RS256", "ES256", "EdDSA", "HS256"] {
        let t = SignedToken::new(alg).expect("the demo signs with it");
        assert!(t.verify(), "{alg} verifies");
        g.bench_function(alg, |b| b.iter(|| std::hint::black_box(t.verify())));
    }
    g.finish();
}

fn journal(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/journals/demo-clean.jsonl");
    assert!(analyse(path) > 0, "{path} analyses");
    c.bench_function("analyse_one_login_journal", |b| b.iter(|| std::hint::black_box(analyse(path))));
}

fn other_traffic(c: &mut Criterion) {
    let mut s = oidc_tap::bench::LiveSession::default();
    c.bench_function("session_other_traffic_summary", |b| b.iter(|| s.other_traffic()));
    c.bench_function("session_token_call", |b| b.iter(|| s.token_call()));
}

criterion_group!(benches, verification, journal, other_traffic);
criterion_main!(benches);
