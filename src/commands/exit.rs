//! Exit codes by kind of failure, so scripts can tell "you typed it wrong" from "the disk said
//! no" from "the certificate is bad" without parsing messages. The README's "Exit codes" table
//! is this file's `ExitKind`.

use crate::expect::ExpectError;
use crate::oidc::jwt::JwtError;
use crate::proxy::ProxyError;
use crate::proxy::route::RouteError;
use crate::tls::TlsError;

/// What ended a run that did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// The analysis found errors (commands that judge a login exit with this).
    Findings,
    /// A flag, an argument or an input that cannot be used (clap's own errors exit 2 too).
    Usage,
    /// A file or socket the tool needs could not be read, written or bound.
    Io,
    /// A certificate or key that cannot be used, or a TLS configuration rustls rejects.
    Tls,
    /// The upstream (or the provider being checked) could not be reached or answered wrongly.
    Upstream,
    /// Anything else: a bug to report.
    Internal,
}

impl ExitKind {
    /// The process exit status.
    pub const fn code(self) -> u8 {
        match self {
            ExitKind::Findings => 1,
            ExitKind::Usage => 2,
            ExitKind::Io => 3,
            ExitKind::Tls => 4,
            ExitKind::Upstream => 5,
            ExitKind::Internal => 70,
        }
    }
}

/// An error raised at the CLI edge with the kind it exits with.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub kind: ExitKind,
    message: String,
    /// Already said (the findings were printed): exit with the code, print nothing more.
    pub quiet: bool,
}

impl CliError {
    pub fn new(kind: ExitKind, message: impl Into<String>) -> CliError {
        CliError { kind, message: message.into(), quiet: false }
    }

    pub fn quiet(mut self) -> CliError {
        self.quiet = true;
        self
    }
}

/// Whether the error was already told to the user.
pub fn is_quiet(e: &anyhow::Error) -> bool {
    e.downcast_ref::<CliError>().is_some_and(|c| c.quiet)
}

/// A usage error: the message says which flag to pass or fix.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    CliError::new(ExitKind::Usage, message).into()
}

/// The kind of the first error in the chain that has one.
pub fn classify(e: &anyhow::Error) -> ExitKind {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<CliError>() {
            return c.kind;
        }
        if cause.is::<RouteError>() || cause.is::<JwtError>() {
            return ExitKind::Usage;
        }
        if let Some(p) = cause.downcast_ref::<ProxyError>() {
            return match p {
                ProxyError::BadListen(_) | ProxyError::NoIdentity | ProxyError::NoUpstream => ExitKind::Usage,
                ProxyError::Bind(..) | ProxyError::Lanes(_) => ExitKind::Io,
                ProxyError::Tls(t) => tls_kind(t),
            };
        }
        if let Some(t) = cause.downcast_ref::<TlsError>() {
            return tls_kind(t);
        }
        if cause.is::<ExpectError>() || cause.is::<std::io::Error>() {
            return ExitKind::Io;
        }
    }
    ExitKind::Internal
}

fn tls_kind(t: &TlsError) -> ExitKind {
    match t {
        TlsError::Read(..) | TlsError::Write(..) | TlsError::HalfCa { .. } => ExitKind::Io,
        TlsError::BadPem(..) | TlsError::Rcgen(_) | TlsError::Rustls(_) => ExitKind::Tls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_error_chain() {
        use anyhow::Context;
        let e = Err::<(), _>(RouteError::BadRoute("x".into())).context("parsing flags").unwrap_err();
        assert_eq!(classify(&e), ExitKind::Usage);
        let creds = RouteError::UpstreamCredentials("https://u:***@h".into());
        assert_eq!(classify(&anyhow::Error::new(creds)), ExitKind::Usage);
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        assert_eq!(classify(&anyhow::Error::new(TlsError::Read("/x".into(), io))), ExitKind::Io);
        let pem = TlsError::BadPem("/x".into(), "no key".into());
        assert_eq!(classify(&anyhow::Error::new(pem)), ExitKind::Tls);
        assert_eq!(classify(&usage("pass --upstream")), ExitKind::Usage);
        assert_eq!(classify(&anyhow::anyhow!("surprise")), ExitKind::Internal);
        assert_eq!(
            [ExitKind::Findings, ExitKind::Usage, ExitKind::Io, ExitKind::Tls, ExitKind::Upstream]
                .map(ExitKind::code),
            [1, 2, 3, 4, 5]
        );
    }
}
