//! Entry point: parse flags, set up logging and the TLS crypto provider, run the command.

use std::process::ExitCode;

use clap::Parser;

/// Records are allocated on the forwarding workers and freed on the analysis thread; mimalloc
/// returns such memory where glibc's per-thread arenas keep growing (BENCHMARKS.md, soak).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its index in both the v2 and the v3 headers).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed pages go back to the system after 10 ms instead of mimalloc v3's 1 s: under a stream
/// of login records and 10 MB bodies that second of freed memory was a quarter of the resident
/// set (BENCHMARKS.md, soak). `MIMALLOC_PURGE_DELAY` in the environment still decides.
fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's runtime options; no pointer, no memory is involved.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
    }
}

fn main() -> ExitCode {
    return_freed_memory_promptly();
    let cli = oidc_tap::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // rustls warns about clients that put an IP address in SNI (wrk, some load
                // balancers): legal to serve, nothing for the user to act on. Handshake
                // failures are reported by the gateway itself, with the fix.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rustls=error")),
        )
        // Colour only on a terminal: redirected stderr gets plain text (https://no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    oidc_tap::tls::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(oidc_tap::commands::exit::ExitKind::Internal.code());
        }
    };
    match runtime.block_on(oidc_tap::commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !oidc_tap::commands::exit::is_quiet(&e) {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(oidc_tap::commands::exit::classify(&e).code())
        }
    }
}
