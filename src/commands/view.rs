//! `oidc-tap view FILE…`: a received trace in the web view. The file goes through the same
//! core as `analyze` (so the page shows the findings the live gateway showed), then the page is
//! served on loopback until Ctrl-C. Also the glue that starts the web view for `proxy` and `demo`.

use anyhow::Result;

use super::exit::{CliError, ExitKind};
use crate::analysis::AnalyzerConfig;
use crate::cli::ViewArgs;
use crate::ui::board::Board;
use crate::ui::{Mode, Ui, UiConfig, UiError};

pub async fn run(args: &ViewArgs) -> Result<()> {
    let expectations = super::proxy::build_expectations(&args.expect)?;
    let mut board = Board::new(args.no_redact, Default::default());
    super::analyze::analyze(&args.files, AnalyzerConfig { expectations, ..Default::default() }, |ev| {
        board.event(ev);
    })
    .map_err(|e| CliError::new(ExitKind::Usage, e.to_string()))?;
    let flows = board.summaries().len();
    let title =
        format!("trace {} · {flows} login flow{}", args.files.join(", "), if flows == 1 { "" } else { "s" });
    let stop = super::shutdown_signal();
    let ui = start(args.ui, args.ui_allow_remote, Mode::View, title, board).await?;
    println!(
        "oidc-tap view: {} ({flows} login flow{})",
        args.files.join(", "),
        if flows == 1 { "" } else { "s" }
    );
    print!("{}", banner(&ui));
    println!("Ctrl-C stops.");
    stop.await;
    ui.shutdown().await;
    Ok(())
}

/// Starts the web view; a refused address is a usage error, a failed bind an I/O one.
pub async fn start(
    addr: std::net::SocketAddr,
    allow_remote: bool,
    mode: Mode,
    title: String,
    board: Board,
) -> Result<Ui> {
    Ui::start(UiConfig { addr, allow_remote, mode, title }, board).await.map_err(|e| {
        let kind = match e {
            UiError::RemoteNotAllowed(_) => ExitKind::Usage,
            UiError::Bind { .. } => ExitKind::Io,
        };
        CliError::new(kind, e.to_string()).into()
    })
}

/// The lines that say where the page is (and, beyond loopback, that the token is a password).
pub fn banner(ui: &Ui) -> String {
    let mut s = format!("  web view     {}\n", ui.url());
    if ui.token.is_some() {
        s.push_str("               (listening beyond loopback: the token in this address is required on every request; share it like a password)\n");
    }
    s
}
