//! The CLI edge: one module per subcommand. These turn flags into configs, start things, print
//! for humans and map errors to `anyhow` with context. No protocol logic lives here.

pub mod analyze;
pub mod certs;
pub mod check_config;
pub mod decode;
pub mod demo;
pub mod exit;
pub mod export;
pub mod probe_rp;
pub mod proxy;
pub mod report;
pub mod reproduce;
pub mod view;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Proxy(args) => proxy::run(*args).await,
        Command::Certs(cmd) => certs::run(cmd),
        Command::Demo(args) => demo::run(args).await,
        Command::Decode(args) => decode::run(&args),
        Command::Analyze(args) => analyze::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Report(args) => report::run(&args),
        Command::CheckConfig(args) => check_config::run(&args).await,
        Command::Reproduce(args) => reproduce::run(&args).await,
        Command::View(args) => view::run(&args).await,
        Command::ProbeRp(args) => probe_rp::run(&args).await,
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when
/// the future is first awaited: call it before printing "Ctrl-C stops", so a Ctrl-C (or a
/// script's SIGINT) right after the banner stops the tool cleanly instead of killing it.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { _ = wait(int) => {}, _ = wait(term) => {} }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
