//! oidc-tap: a transparent HTTPS reverse proxy that records and explains OpenID Connect logins
//! between Mastodon (relying party) and authentik (provider).
//!
//! Layout: [`proxy`] moves bytes and emits [`capture::Exchange`] records; [`tls`] makes and
//! loads certificates; the analysis modules turn records into messages and findings.

pub mod analysis;
#[doc(hidden)]
pub mod bench;
pub mod capture;
pub mod cli;
pub(crate) mod clock;
pub mod commands;
pub mod demo;
pub mod dotenv;
pub mod expect;
pub(crate) mod files;
pub mod keyfetch;
pub(crate) mod oidc;
pub mod outbound;
pub mod output;
pub mod probe;
pub mod proxy;
pub mod redact;
pub mod rp;
pub mod rules;
pub mod session;
pub mod telemetry;
pub(crate) mod text;
pub(crate) mod timefmt;
pub mod tls;
pub mod trace;
pub mod ui;
pub(crate) mod verify;
