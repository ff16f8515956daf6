//! The CLI edge: one module per subcommand. These turn flags into configs, start things, print
//! for humans and map errors to `anyhow` with context. No protocol logic lives here.

pub mod analyze;
pub mod certs;
pub mod check_config;
pub mod decode;
pub mod demo;
pub mod exit;
pub mod export;
pub mod proxy;
pub mod report;
pub mod reproduce;

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
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
