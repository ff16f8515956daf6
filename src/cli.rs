//! Command-line interface (clap derive). Guidelines: long flags only unless a short one is
//! obvious, UPPERCASE value names, every proxy flag also readable from an `OIDC_TAP_*`
//! environment variable so it can live in a docker-compose file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "oidc-tap",
    version,
    about = "Transparent HTTPS proxy that records and explains OpenID Connect logins (Mastodon ⇄ authentik)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway in front of authentik (and optionally Mastodon).
    Proxy(Box<ProxyArgs>),
    /// Manage the development CA used for the gateway's certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Run the embedded demo: a built-in upstream behind the gateway, traffic shown live.
    Demo(DemoArgs),
    /// Decode a JWT (argument, file, or a JSON token response in a file): header, claims,
    /// human times.
    Decode(DecodeArgs),
    /// Analyse a recorded trace offline (this tool's journal or HAR, or a browser's or
    /// mitmproxy's HAR; gzip too): the same findings as live. Exit 1 with error findings,
    /// 2 when the input cannot be read.
    Analyze(AnalyzeArgs),
    /// Convert a journal into a HAR 1.2 file (for browser DevTools, HAR viewers, mitmproxy).
    Export(ExportArgs),
    /// A report of a trace to attach to a ticket: one section per login, verdict first.
    Report(ReportArgs),
    /// Check a Mastodon .env.production against the provider before anyone logs in: reads the
    /// OIDC_* block as Mastodon's dotenv does, fetches discovery and the JWKS as Mastodon's gem
    /// does. Exit 1 with error findings, 2 when it could not run.
    CheckConfig(CheckConfigArgs),
    /// Turn a received trace back into a failing login: the demo faults that raise its findings,
    /// one login through the gateway, and which findings came back. Exit 1 if some did not.
    Reproduce(ReproduceArgs),
    /// Open a recorded trace (journal or HAR) in the web view: serves the page on loopback and
    /// prints its address, until Ctrl-C.
    View(ViewArgs),
    /// Test a relying party (Mastodon): the embedded provider behind a gateway answers each
    /// login with one bad ID token or response the relying party must refuse (and one clean
    /// login as the control), and says which it accepted. Only ever the embedded provider's own
    /// answers: it never alters a real provider's traffic. Exit 0 when every bad answer was
    /// refused and the control accepted, 1 when a bad answer was accepted, 2 setup.
    ProbeRp(ProbeRpArgs),
}

/// `probe-rp`'s flags.
#[derive(Debug, Args)]
pub struct ProbeRpArgs {
    /// The relying party being probed (mastodon, gitlab, synapse, grafana, nextcloud, generic):
    /// its callback path by default, its settings' names, its words in the findings.
    #[arg(long, value_name = "NAME", default_value = "mastodon", value_parser = rp_name)]
    pub rp: &'static str,
    /// Where the gateway (and so the provider) listens.
    #[arg(long, value_name = "URL", default_value = "https://127.0.0.1:8443")]
    pub listen: String,
    /// Directory of the dev CA the gateway's certificate comes from (created on first use,
    /// kept so the relying party trusts it across runs).
    #[arg(long, value_name = "DIR", default_value = "certs")]
    pub ca_dir: PathBuf,
    /// The relying party's WEB_DOMAIN (its callback is the registered redirect URI).
    #[arg(long, value_name = "DOMAIN", default_value = "mastodon.test")]
    pub web_domain: String,
    /// The relying party's callback, when it is not https://WEB_DOMAIN/auth/auth/openid_connect/callback.
    #[arg(long, value_name = "URL")]
    pub redirect_uri: Option<String>,
    /// The provider's host name in the issuer (it must resolve to the gateway on the relying
    /// party's host).
    #[arg(long, value_name = "NAME", default_value = "authentik.test")]
    pub provider_host: String,
    /// Run only these cases (names or conformance-suite aliases). Repeatable.
    #[arg(long = "case", value_name = "NAME", value_delimiter = ',')]
    pub cases: Vec<String>,
    /// List the cases with what each proves.
    #[arg(long)]
    pub list_cases: bool,
    /// The relying party's sign-in page (Mastodon's https://WEB_DOMAIN/auth/sign_in): the tool's
    /// own browser starts every login there. Without it, log in by hand when asked.
    #[arg(long, value_name = "URL")]
    pub login_url: Option<String>,
    /// Seconds each case waits for its login.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub wait: u64,
    /// Also write the results and every case's login as a report (.html for HTML, else Markdown).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Append every case's exchanges and findings to this JSONL journal.
    #[arg(long, value_name = "FILE.jsonl")]
    pub trace: Option<PathBuf>,
    /// Write every case's login as a HAR 1.2 file (secrets redacted).
    #[arg(long, value_name = "FILE.har")]
    pub har: Option<PathBuf>,
}

/// Feeding Prometheus and a tracing backend (`proxy`).
#[derive(Debug, Clone, Args)]
pub struct TelemetryArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464): logins,
    /// findings, exchanges and upstream times, labelled only by closed sets.
    #[arg(long, value_name = "ADDR", env = "OIDC_TAP_METRICS")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Let --metrics listen beyond loopback (the metrics carry no secret, but say which rules fire).
    #[arg(long, env = "OIDC_TAP_METRICS_ALLOW_REMOTE")]
    pub metrics_allow_remote: bool,
    /// Send every login as one OpenTelemetry trace to this OTLP/HTTP collector (protobuf), e.g.
    /// http://127.0.0.1:4318 (`/v1/traces` is added): redacted as the journal is.
    #[arg(long, value_name = "URL", env = "OIDC_TAP_OTLP")]
    pub otlp: Option<String>,
    /// The key every gateway of a deployment shares (a file of at least 16 bytes): the halves
    /// of one login seen by different gateways get one trace id. Never sent anywhere.
    #[arg(long, value_name = "FILE", env = "OIDC_TAP_FLEET_KEY", requires = "otlp")]
    pub fleet_key: Option<PathBuf>,
}

/// The web view's flags (`proxy`, `demo`).
#[derive(Debug, Clone, Args)]
pub struct UiArgs {
    /// Serve the web view at ADDR (default 127.0.0.1:8477): the logins as sequence diagrams,
    /// updated live, with the HAR, the journal and the report to download.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = crate::ui::DEFAULT_ADDR, env = "OIDC_TAP_UI")]
    pub ui: Option<std::net::SocketAddr>,
    /// Let --ui listen beyond loopback; a random token is then printed and required.
    #[arg(long, env = "OIDC_TAP_UI_ALLOW_REMOTE")]
    pub ui_allow_remote: bool,
}

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// The trace (journal or HAR; several become one view).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<String>,
    /// Where the page listens.
    #[arg(long, value_name = "ADDR", default_value = crate::ui::DEFAULT_ADDR)]
    pub ui: std::net::SocketAddr,
    /// Let --ui listen beyond loopback; a random token is then printed and required.
    #[arg(long)]
    pub ui_allow_remote: bool,
    /// Show secrets as the trace has them (they are fingerprints by default).
    #[arg(long)]
    pub no_redact: bool,
    #[command(flatten)]
    pub expect: ExpectArgs,
}

#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The trace (journal or HAR; redacted is fine).
    #[arg(value_name = "TRACE")]
    pub trace: String,
    /// Then keep the reproducing provider running for a real Mastodon (as `demo --serve`).
    #[command(flatten)]
    pub serve: ServeArgs,
    /// With --serve: the web view of the logins through it.
    #[command(flatten)]
    pub ui: UiArgs,
    #[command(flatten)]
    pub expect: ExpectArgs,
}

/// `--serve` and its settings (`demo`, `reproduce`).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Keep the demo provider (with the faults applied) and the gateway running for a real
    /// Mastodon or a browser; prints the URLs, the CA and the .env.production block.
    #[arg(long)]
    pub serve: bool,
    /// With --serve: where the gateway listens.
    #[arg(long, value_name = "URL", default_value = "https://127.0.0.1:8443", requires = "serve")]
    pub listen: String,
    /// With --serve: directory of the dev CA the gateway's certificates come from (created on
    /// first use, kept so Mastodon trusts it across runs).
    #[arg(long, value_name = "DIR", default_value = "certs", requires = "serve")]
    pub ca_dir: PathBuf,
    /// With --serve: the real Mastodon's WEB_DOMAIN (its callback is registered at the provider).
    #[arg(long, value_name = "DOMAIN", default_value = "mastodon.test", requires = "serve")]
    pub web_domain: String,
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Mastodon's .env.production.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub mastodon_env: Option<PathBuf>,
    /// The application whose file CONFIG is (mastodon, gitlab, synapse, grafana, nextcloud):
    /// its settings are read from its own file and named in its words.
    #[arg(long, value_name = "NAME", default_value = "mastodon", value_parser = rp_name)]
    pub rp: &'static str,
    /// That application's file: .env.production (mastodon), gitlab.rb, homeserver.yaml,
    /// grafana.ini, or `occ user_oidc:provider NAME --output=json`'s output (nextcloud).
    #[arg(value_name = "CONFIG", required_unless_present = "mastodon_env")]
    pub config: Option<PathBuf>,
    /// The provider's issuer as authentik shows it ('OpenID Configuration Issuer'); compared
    /// with what discovery announces.
    #[arg(long, value_name = "URL")]
    pub issuer_url: Option<String>,
    /// Dial HOST:PORT at ADDR:PORT instead (like curl --connect-to). Repeatable.
    #[arg(long = "connect-to", value_name = "HOST:PORT=ADDR:PORT", value_delimiter = ',')]
    pub connect_to: Vec<String>,
    /// Extra CA certificates (PEM) to trust for the provider. Repeatable.
    #[arg(long = "upstream-ca", value_name = "PEM", value_delimiter = ',')]
    pub upstream_ca: Vec<PathBuf>,
    /// Accept any provider certificate (to look at a provider whose certificate is the problem).
    #[arg(long)]
    pub insecure_upstream: bool,
    /// Seconds to wait for each answer.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The trace (journal or HAR).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<String>,
    /// `md` (Markdown for a GitHub issue or a helpdesk ticket), `html` (one self-contained page,
    /// no script) or `json`.
    #[arg(long, value_name = "FORMAT", default_value = "md", value_parser = ["md", "html", "json"])]
    pub format: String,
    /// Write to this file (0600) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub expect: ExpectArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The journal (or HAR) to convert.
    #[arg(value_name = "JOURNAL")]
    pub input: String,
    /// Where to write the HAR (0600, replaced atomically).
    #[arg(long, value_name = "OUT.har")]
    pub har: PathBuf,
    /// Keep secrets in clear (the HAR says so).
    #[arg(long)]
    pub no_redact: bool,
    /// Keep bodies and headers of non-OIDC traffic too.
    #[arg(long)]
    pub trace_all: bool,
    /// Keep JWT signatures in written traces (so an offline replay can re-verify them).
    #[arg(long)]
    pub keep_signatures: bool,
    /// Mask e-mail addresses and names in written traces too.
    #[arg(long)]
    pub redact_pii: bool,
    #[command(flatten)]
    pub expect: ExpectArgs,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Trace files (`-` for standard input); several logins become several flows.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<String>,
    /// `console` (what the live gateway prints) or `json` (one document: flows, exchanges,
    /// findings).
    #[arg(long, value_name = "FORMAT", default_value = "console", value_parser = ["console", "json"])]
    pub format: String,
    /// List non-OIDC traffic and each step of the provider's flow too.
    #[arg(long)]
    pub show_all: bool,
    /// Keep secrets in the JSON output as the trace has them (they are masked by default).
    #[arg(long)]
    pub no_redact: bool,
    #[command(flatten)]
    pub expect: ExpectArgs,
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The token itself, a file containing it, or `-` for standard input.
    #[arg(value_name = "TOKEN_OR_FILE")]
    pub input: String,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Where to listen: https://ADDR:PORT terminates TLS, http://ADDR:PORT sits behind an
    /// existing TLS proxy. Repeatable.
    #[arg(
        long = "listen",
        value_name = "URL",
        env = "OIDC_TAP_LISTEN",
        value_delimiter = ',',
        default_value = "https://127.0.0.1:8443"
    )]
    pub listen: Vec<String>,
    /// Certificate chain (PEM) for https listeners; without it a leaf is issued per name by the dev CA.
    #[arg(long, value_name = "PEM", env = "OIDC_TAP_CERT", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) for --cert.
    #[arg(long, value_name = "PEM", env = "OIDC_TAP_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Directory of the dev CA (created on first use).
    #[arg(long, value_name = "DIR", env = "OIDC_TAP_CA_DIR", default_value = "certs")]
    pub ca_dir: PathBuf,
    /// Where requests go when no --route matches (http:// or https://).
    #[arg(long, value_name = "URL", env = "OIDC_TAP_UPSTREAM")]
    pub upstream: Option<String>,
    /// Pick the upstream by Host/SNI: HOST=URL. Repeatable.
    #[arg(long = "route", value_name = "HOST=URL", env = "OIDC_TAP_ROUTE", value_delimiter = ',')]
    pub routes: Vec<String>,
    /// Dial ADDR:PORT whenever an upstream is HOST:PORT; SNI and Host keep HOST. Repeatable.
    #[arg(
        long = "connect-to",
        value_name = "HOST:PORT=ADDR:PORT",
        env = "OIDC_TAP_CONNECT_TO",
        value_delimiter = ','
    )]
    pub connect_to: Vec<String>,
    /// Extra CA certificates (PEM) trusted for upstream TLS. Repeatable.
    #[arg(long = "upstream-ca", value_name = "PEM", env = "OIDC_TAP_UPSTREAM_CA", value_delimiter = ',')]
    pub upstream_ca: Vec<PathBuf>,
    /// Accept any upstream certificate (prints a warning on every start).
    #[arg(long, env = "OIDC_TAP_INSECURE_UPSTREAM")]
    pub insecure_upstream: bool,
    /// Bytes of each request/response body kept for analysis (e.g. 1MiB, 512k, 4096).
    #[arg(long, value_name = "SIZE", env = "OIDC_TAP_CAPTURE_LIMIT", default_value = "1MiB", value_parser = parse_size)]
    pub capture_limit: usize,
    /// Seconds to wait for an upstream response head before answering 504.
    #[arg(long, value_name = "SECS", env = "OIDC_TAP_UPSTREAM_TIMEOUT", default_value_t = 60)]
    pub upstream_timeout: u64,
    /// Seconds a request or response body may go without data before the exchange is cut, and
    /// a client may go without reading what it is sent (a stalled client or upstream cannot
    /// hold a connection forever).
    #[arg(long, value_name = "SECS", env = "OIDC_TAP_BODY_TIMEOUT", default_value_t = 60)]
    pub body_timeout: u64,
    /// Seconds to wait for a TCP connection to the upstream.
    #[arg(long, value_name = "SECS", env = "OIDC_TAP_CONNECT_TIMEOUT", default_value_t = 10)]
    pub connect_timeout: u64,
    /// Client connections served at once; past it new ones wait (and one line says so).
    #[arg(long, value_name = "N", env = "OIDC_TAP_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    #[command(flatten)]
    pub ui: UiArgs,
    #[command(flatten)]
    pub expect: ExpectArgs,
}

/// What "right" means for this deployment (optional; rules that need a value say so).
#[derive(Debug, Args, Clone, Default)]
pub struct ExpectArgs {
    /// The relying party behind the gateway (mastodon, gitlab, synapse, grafana, nextcloud,
    /// generic): every login reads in its settings' names. Unset: each login's own, recognised
    /// by its callback path (Mastodon's when none is).
    #[arg(long, value_name = "NAME", env = "OIDC_TAP_RP", value_parser = rp_name)]
    pub rp: Option<&'static str>,
    /// Mastodon's .env.production: reads OIDC_*, LOCAL_DOMAIN and WEB_DOMAIN.
    #[arg(long, value_name = "PATH", env = "OIDC_TAP_MASTODON_ENV")]
    pub mastodon_env: Option<PathBuf>,
    /// The issuer Mastodon expects (OIDC_ISSUER).
    #[arg(long, value_name = "URL", env = "OIDC_TAP_EXPECT_ISSUER")]
    pub expect_issuer: Option<String>,
    /// The client id Mastodon uses (OIDC_CLIENT_ID).
    #[arg(long, value_name = "ID", env = "OIDC_TAP_EXPECT_CLIENT_ID")]
    pub expect_client_id: Option<String>,
    /// Mastodon's callback (OIDC_REDIRECT_URI).
    #[arg(long, value_name = "URL", env = "OIDC_TAP_EXPECT_REDIRECT_URI")]
    pub expect_redirect_uri: Option<String>,
    /// The client secret, only to verify HS256 ID tokens; never printed.
    #[arg(long, value_name = "SECRET", env = "OIDC_TAP_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<crate::redact::Secret>,
    /// The claim Mastodon keys accounts on (OIDC_UID_FIELD).
    #[arg(long, value_name = "CLAIM", env = "OIDC_TAP_UID_FIELD")]
    pub uid_field: Option<String>,
    /// Mastodon treats every email as verified (OIDC_SECURITY_ASSUME_EMAIL_IS_VERIFIED).
    #[arg(long, env = "OIDC_TAP_ASSUME_EMAIL_VERIFIED")]
    pub assume_email_verified: bool,
    /// The provider's authorization code lifetime in seconds (authentik: 60).
    #[arg(long, value_name = "SECS", env = "OIDC_TAP_CODE_LIFETIME")]
    pub code_lifetime: Option<u64>,
}

/// What the analysis shows and records.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Append every event to this JSONL journal (flushed per line).
    #[arg(long, value_name = "FILE.jsonl", env = "OIDC_TAP_TRACE")]
    pub trace: Option<PathBuf>,
    /// Keep secrets (codes, tokens, client secret, cookies) in clear in the journal.
    #[arg(long, env = "OIDC_TAP_NO_REDACT")]
    pub no_redact: bool,
    /// Write a HAR 1.2 file of everything seen: on exit, on SIGUSR1 and every --har-every s.
    #[arg(long, value_name = "FILE.har", env = "OIDC_TAP_HAR")]
    pub har: Option<PathBuf>,
    /// Seconds between HAR rewrites (so a killed gateway leaves a usable file).
    #[arg(long, value_name = "SECS", env = "OIDC_TAP_HAR_EVERY", default_value_t = 10)]
    pub har_every: u64,
    /// Keep bodies and headers of non-OIDC traffic in the journal and the HAR (by default
    /// they are a one-line summary).
    #[arg(long, env = "OIDC_TAP_TRACE_ALL")]
    pub trace_all: bool,
    /// Keep JWT signatures in written traces (so an offline replay can re-verify them).
    #[arg(long, env = "OIDC_TAP_KEEP_SIGNATURES")]
    pub keep_signatures: bool,
    /// Mask e-mail addresses and names in written traces too.
    #[arg(long, env = "OIDC_TAP_REDACT_PII")]
    pub redact_pii: bool,
    /// List non-OIDC traffic on the console too.
    #[arg(long, env = "OIDC_TAP_SHOW_ALL")]
    pub show_all: bool,
    /// Seconds without a new exchange after which a login flow is closed and forgotten.
    #[arg(long, value_name = "SECS", env = "OIDC_TAP_FLOW_IDLE", default_value_t = 300)]
    pub flow_idle: u64,
    /// Seconds after a discovery fetch with no authorize request before the login is
    /// reported as abandoned.
    #[arg(long, value_name = "SECS", env = "OIDC_TAP_ABANDON_AFTER", default_value_t = 15)]
    pub abandon_after: u64,
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Write a dev CA and a leaf certificate for the given names.
    Init(CertsInitArgs),
}

#[derive(Debug, Args)]
pub struct CertsInitArgs {
    /// Directory to write ca.pem, ca.key, leaf.pem, leaf.key into.
    #[arg(long, value_name = "DIR", default_value = "certs")]
    pub dir: PathBuf,
    /// Names (DNS or IP) the leaf covers. Repeatable.
    #[arg(long = "host", value_name = "NAME", value_parser = host_name, default_values_t = ["authentik.company".to_string(), "127.0.0.1".to_string(), "localhost".to_string()])]
    pub hosts: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Emulate another application's client (gitlab, synapse, grafana, nextcloud, generic):
    /// its callback path, scopes, PKCE, nonce and client authentication; the findings read in
    /// its words.
    #[arg(long, value_name = "NAME", value_parser = rp_name, conflicts_with = "serve")]
    pub rp: Option<&'static str>,
    /// Break the login this way; several combine into one login (default: a clean login, then
    /// a few common breakages, one login each). `--fault list` prints them.
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
    /// Print every fault: its name, what it breaks and the rule ids it raises.
    #[arg(long)]
    pub list_faults: bool,
    /// Append the demo's events to this JSONL journal.
    #[arg(long, value_name = "FILE.jsonl")]
    pub trace: Option<PathBuf>,
    /// Write the demo's logins as a HAR 1.2 file.
    #[arg(long, value_name = "FILE.har", conflicts_with = "serve")]
    pub har: Option<PathBuf>,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub ui: UiArgs,
}

/// `1MiB`, `512k`, `2M`, `4096` → bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("{s:?} is not a size like 1MiB, 512k or 4096"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        "g" | "gb" | "gib" => 1024 * 1024 * 1024,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use k, M or G)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s:?} is too large"))
}

/// A name a certificate can cover: a DNS name (a leading `*.` allowed) or an IP address,
/// never a URL (`https://x` would end up as `DNS:https://x` in the certificate).
fn host_name(s: &str) -> Result<String, String> {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return Ok(s.to_owned());
    }
    if let Some((_, rest)) = s.split_once("://") {
        let host = rest.split(['/', ':']).next().unwrap_or(rest);
        return Err(format!("a DNS name or an IP address, not a URL: use --host {host}"));
    }
    let name = s.strip_prefix("*.").unwrap_or(s);
    let label_ok =
        |l: &str| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if s.len() <= 253 && name.split('.').all(label_ok) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!("{s:?} is not a DNS name or an IP address (letters, digits, '-' and '.')"))
    }
}

/// `--rp`: one of the profiles' names.
fn rp_name(s: &str) -> Result<&'static str, String> {
    crate::rp::by_name(s)
        .map(|p| p.name)
        .ok_or_else(|| format!("unknown relying party {s:?}: one of {}", crate::rp::names()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1MiB"), Ok(1024 * 1024));
        assert_eq!(parse_size("512k"), Ok(512 * 1024));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("1XB").is_err());
    }
}
