//! oidc-tap: a transparent HTTPS reverse proxy that records and explains OpenID Connect logins
//! between Mastodon (relying party) and authentik (provider).
//!
//! Layout: [`proxy`] moves bytes and emits [`capture::Exchange`] records; [`tls`] makes and
//! loads certificates; the analysis modules turn records into messages and findings.

pub mod capture;
pub mod cli;
pub mod commands;
pub mod proxy;
pub mod tls;
pub mod oidc;
pub mod redact;
