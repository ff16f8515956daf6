//! `oidc-tap certs init`: write the dev CA and a leaf, and say how to make Mastodon trust it.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{CertsCommand, CertsInitArgs};
use crate::tls::DevCa;
use crate::tls::certs::write_leaf;

pub fn run(cmd: CertsCommand) -> Result<()> {
    match cmd {
        CertsCommand::Init(args) => init(&args),
    }
}

fn init(args: &CertsInitArgs) -> Result<()> {
    let (ca, created) =
        DevCa::load_or_create(&args.dir).with_context(|| format!("dev CA in {}", args.dir.display()))?;
    let leaf = ca.issue(&args.hosts).context("issuing the leaf certificate")?;
    let (cert, key, written) = write_leaf(&args.dir, &leaf)?;
    println!(
        "{} dev CA {}",
        if created { "created" } else { "kept existing" },
        args.dir.join(crate::tls::certs::CA_CERT).display()
    );
    if written {
        println!("leaf for {} → {} / {}", args.hosts.join(", "), cert.display(), key.display());
    } else {
        println!(
            "kept existing leaf {} / {} (delete both to issue one for {})",
            cert.display(),
            key.display(),
            args.hosts.join(", ")
        );
    }
    println!();
    println!("{}", trust_instructions(&args.dir));
    Ok(())
}

/// How to make Mastodon trust the gateway, and how to point Mastodon at it.
pub fn trust_instructions(dir: &Path) -> String {
    format!(
        "{}\n\
         Point Mastodon at the gateway: resolve authentik's host name to the gateway (hosts file / DNS),\n\
         and let the gateway reach the real authentik with --connect-to authentik.company:443=REAL_IP:443.\n\
         Remove the CA from the trust store when you are done.",
        trust_ca(dir)
    )
}

/// How to make Mastodon trust the CA in `dir` (it has no switch to skip verification).
pub fn trust_ca(dir: &Path) -> String {
    let ca = dir.join(crate::tls::certs::CA_CERT);
    format!(
        "Make Mastodon trust the gateway (it has no option to skip verification):\n\
         \x20 • one process:  SSL_CERT_FILE=/path/to/bundle.pem, where the bundle is the system bundle plus {ca}\n\
         \x20                 (cat /etc/ssl/certs/ca-certificates.crt {ca} > bundle.pem)\n\
         \x20 • system store: cp {ca} /usr/local/share/ca-certificates/oidc-tap.crt && update-ca-certificates\n\
         \x20   (in Docker: mount it into the web and sidekiq containers and run the same there)",
        ca = ca.display()
    )
}
