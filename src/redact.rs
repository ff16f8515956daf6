//! Secrets never leave the process in clear unless the user asks (`--no-redact`).
//!
//! A secret is replaced by `~redacted~<fp>` where `fp` is base64url of the left half of its
//! SHA-256 — the `at_hash` form (OIDC Core §3.1.3.6). The same secret always gives the same
//! marker, so a redacted trace still correlates code ↔ token request and access token ↔
//! userinfo, and `at_hash` / PKCE S256 can still be checked against it. ID tokens keep header
//! and claims; only their signature is masked.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::capture::{Exchange, Header};

/// A secret held in memory (client secret, decoded client credentials). Debug and Display
/// never print the value, only its short fingerprint, so a `{:?}` in a log line or a panic
/// message cannot leak it; the value is reached only through [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for comparing, verifying and fingerprinting: never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({})", short(&self.0))
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", short(&self.0))
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret::new(s))
    }
}

/// Prefix of every redaction marker.
pub const MARK: &str = "~redacted~";

/// Query/form/JSON keys whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "code",
    "access_token",
    "refresh_token",
    "client_secret",
    "code_verifier",
    "password",
    "token",
    "client_assertion",
    "assertion",
    "device_code",
];
/// Keys whose values are JWTs that keep header and claims (only the signature is masked).
const JWT_KEYS: &[&str] = &["id_token", "id_token_hint", "logout_token"];

/// The at_hash-style fingerprint of a secret.
///
/// One login step fingerprints the same few secrets many times over (the journal masks a code
/// in the form and again in the decoded request, the console shows its short form, correlation
/// keys on it), so the last few are remembered per thread: a comparison instead of a SHA-256
/// over up to kilobytes. Only short-lived secrets of ordinary size are kept, and only as many
/// as [`REMEMBERED`].
pub fn fingerprint(secret: &str) -> String {
    if secret.len() > REMEMBER_UP_TO {
        return fingerprint_of(secret);
    }
    RECENT.with(|r| {
        let mut r = r.borrow_mut();
        if let Some((_, fp)) = r.entries.iter().find(|(s, _)| s == secret) {
            return fp.clone();
        }
        let fp = fingerprint_of(secret);
        let slot = r.next;
        r.next = (slot + 1) % REMEMBERED;
        if slot < r.entries.len() {
            r.entries[slot] = (secret.to_owned(), fp.clone());
        } else {
            r.entries.push((secret.to_owned(), fp.clone()));
        }
        fp
    })
}

fn fingerprint_of(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..16])
}

/// How many recent fingerprints each thread remembers (see [`fingerprint`]).
const REMEMBERED: usize = 8;
/// Secrets longer than this are hashed every time (a JWT signature or an access token is well
/// under it; a whole token body is not a secret value).
const REMEMBER_UP_TO: usize = 4096;

#[derive(Default)]
struct Recent {
    entries: Vec<(String, String)>,
    next: usize,
}

thread_local! {
    static RECENT: std::cell::RefCell<Recent> = std::cell::RefCell::new(Recent::default());
}

pub fn is_masked(s: &str) -> bool {
    s.starts_with(MARK)
}

/// `~redacted~<fp>`; masking a marker again is a no-op.
pub fn mask(secret: &str) -> String {
    if is_masked(secret) || secret.is_empty() {
        secret.to_owned()
    } else {
        format!("{MARK}{}", fingerprint(secret))
    }
}

/// The fingerprint of a value whether it is raw or already a marker: the key used for
/// correlation, so live (raw) and replayed (redacted) traces join the same way.
pub fn fp_of(value: &str) -> String {
    match value.strip_prefix(MARK) {
        Some(fp) => fp.to_owned(),
        None => fingerprint(value),
    }
}

/// `…3f9a`: the short form shown on the console.
pub fn short(value: &str) -> String {
    // A marker from the wire ("~redacted~" + anything) is not ours: cut by characters.
    format!("…{}", fp_of(value).chars().take(4).collect::<String>())
}

/// How far redaction goes beyond the secrets (which are always masked when redacting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Keep JWT signatures (`--keep-signatures`): an offline replay can then re-verify them.
    pub keep_signatures: bool,
    /// Mask e-mail addresses and names too (`--redact-pii`); by default they stay, since
    /// they are often what is being debugged.
    pub pii: bool,
}

thread_local! {
    static POLICY: std::cell::Cell<Policy> = const { std::cell::Cell::new(Policy { keep_signatures: false, pii: false }) };
}

/// Runs `f` with `policy` in force for the redaction functions called inside it.
pub fn with_policy<T>(policy: Policy, f: impl FnOnce() -> T) -> T {
    let before = POLICY.with(|p| p.replace(policy));
    let out = f();
    POLICY.with(|p| p.set(before));
    out
}

fn policy() -> Policy {
    POLICY.with(|p| p.get())
}

/// Claims and fields that name a person (`--redact-pii`).
const PII_KEYS: &[&str] = &[
    "email",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "nickname",
    "uid_field",
    "username",
];

/// A JWT with its signature masked (unless the policy keeps it) and, with `--redact-pii`, the
/// personal claims masked in its payload; a JWE keeps its header (alg, enc) and has each
/// encrypted part masked; anything else is masked whole. The shape survives, so a trace
/// analysed offline sees the same kind of token as the live run did (an unsigned token stays
/// unsigned, a JWE stays a JWE).
pub fn mask_jwt(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() == 5 && !parts[0].is_empty() {
        let rest: Vec<String> = parts[1..].iter().map(|p| mask(p)).collect();
        return format!("{}.{}", parts[0], rest.join("."));
    }
    if parts.len() == 3 && !parts[0].is_empty() && !parts[1].is_empty() {
        let payload = if policy().pii {
            URL_SAFE_NO_PAD
                .decode(parts[1])
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .map(|mut v| {
                    redact_json(&mut v);
                    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap_or_default())
                })
                .unwrap_or_else(|| parts[1].to_owned())
        } else {
            parts[1].to_owned()
        };
        // mask("") is "": an unsigned token has no signature to hide.
        let sig = if policy().keep_signatures { parts[2].to_owned() } else { mask(parts[2]) };
        format!("{}.{payload}.{sig}", parts[0])
    } else {
        mask(token)
    }
}

/// Whether `key` is one of `keys`, ignoring ASCII case (called for every key of every JSON
/// object redacted, so it does not allocate a lower-cased copy).
fn listed(keys: &[&str], key: &str) -> bool {
    keys.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// How the values of a parameter or JSON key are masked.
#[derive(Clone, Copy)]
enum Masking {
    /// Header and claims kept, signature masked ([`mask_jwt`]).
    Jwt,
    /// A fingerprint keyed with the run's key ([`mask_keyed`]).
    Keyed,
    /// A plain fingerprint ([`mask`]).
    Plain,
}

/// How `key`'s values are masked under the policy in force, if they are.
fn masking(key: &str) -> Option<Masking> {
    if listed(JWT_KEYS, key) {
        Some(Masking::Jwt)
    } else if listed(KEYED_KEYS, key) || (policy().pii && listed(PII_KEYS, key)) {
        Some(Masking::Keyed)
    } else if listed(SECRET_KEYS, key) {
        Some(Masking::Plain)
    } else {
        None
    }
}

/// The masked form of a value under a secret's name (`None`: not a secret).
pub fn mask_value(key: &str, value: &str) -> Option<String> {
    masking(key).map(|m| match m {
        Masking::Jwt => mask_jwt(value),
        Masking::Keyed => mask_keyed(value),
        Masking::Plain => mask(value),
    })
}

/// Whether values under `key` are secrets: the one decision every view applies (console, trace,
/// report, web view, a finding's evidence). `state` and `nonce` are not: they are one-login
/// CSRF and replay nonces, useless to anyone once the login is over, already in clear in the
/// authorize URL and the ID token, and the change made to them is often the whole diagnosis.
pub fn is_secret_param(key: &str) -> bool {
    masking(key).is_some()
}

/// How a parameter's value is shown to a person: a secret as its short fingerprint
/// ([`short`]), anything else as it is (long ones cut to `max` characters, the length told).
/// Control characters are escaped by the view, not here.
pub fn shown(key: &str, value: &str, max: usize) -> String {
    if is_secret_param(key) || is_masked(value) {
        return short(value);
    }
    let n = value.chars().count();
    if n <= max {
        value.to_owned()
    } else {
        format!("{}… ({n} characters)", value.chars().take(max.saturating_sub(1)).collect::<String>())
    }
}

/// Secrets a person chooses (the client secret, passwords, one-time codes typed in): an
/// unkeyed hash of them could be brute-forced offline by anyone holding the trace, so their
/// fingerprint is an HMAC with a random key made for this run and never written anywhere.
/// Stable within one trace (correlation still works), different in the next.
const KEYED_KEYS: &[&str] = &["client_secret", "password", "passcode", "otp", "totp", "recovery_code"];

/// The run's key for keyed fingerprints.
fn run_key() -> &'static ring::hmac::Key {
    static KEY: std::sync::OnceLock<ring::hmac::Key> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let rng = ring::rand::SystemRandom::new();
        ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            // No system randomness: still never the same as an unkeyed hash.
            ring::hmac::Key::new(
                ring::hmac::HMAC_SHA256,
                format!("{:?}", std::time::SystemTime::now()).as_bytes(),
            )
        })
    })
}

/// A keyed marker ([`mask_keyed`]): comparable only with markers made in the same run.
pub fn is_keyed(s: &str) -> bool {
    s.strip_prefix(MARK).is_some_and(|fp| fp.len() == 23 && fp.starts_with('k'))
}

/// Whether two values of a secret are the same, when that can be told: either may be in
/// clear or masked (a redacted trace, the expectations a trace recorded). A keyed marker
/// compared with a value in clear cannot be told apart (`None`): the run's key is gone.
pub fn same_secret(a: &str, b: &str) -> Option<bool> {
    match (is_masked(a), is_masked(b)) {
        (false, false) => Some(a == b),
        (true, true) => Some(a == b),
        (false, true) if !is_keyed(b) => Some(mask(a) == b),
        (true, false) if !is_keyed(a) => Some(mask(b) == a),
        _ => None,
    }
}

/// `~redacted~k<fp>`: a keyed fingerprint (see [`KEYED_KEYS`]); masking a marker is a no-op.
pub fn mask_keyed(secret: &str) -> String {
    if is_masked(secret) || secret.is_empty() {
        return secret.to_owned();
    }
    let tag = ring::hmac::sign(run_key(), secret.as_bytes());
    format!("{MARK}k{}", URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16]))
}

/// Masks secret parameters of a query string or form body, keeping every other byte.
/// One pass, one allocation: most queries carry no secret (every static file's `?v=…`), and
/// only a secret parameter's value is decoded.
pub fn redact_params(qs: &str) -> String {
    let mut out = String::with_capacity(qs.len());
    for (i, piece) in qs.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let key = param_name(k);
        let masked = masking(&key).and_then(|_| {
            let val: String = form_urlencoded::parse(format!("x={v}").as_bytes())
                .map(|(_, v)| v.into_owned())
                .next()
                .unwrap_or_default();
            mask_value(&key, &val)
        });
        match masked {
            Some(m) => {
                out.push_str(k);
                out.push('=');
                out.extend(form_urlencoded::byte_serialize(m.as_bytes()));
            }
            None => out.push_str(piece),
        }
    }
    out
}

/// A parameter's name, decoded (`co%64e` is `code`); without escapes, as written.
fn param_name(k: &str) -> std::borrow::Cow<'_, str> {
    if k.contains(['%', '+']) {
        form_urlencoded::parse(k.as_bytes()).map(|(k, _)| k.into_owned()).next().unwrap_or_default().into()
    } else {
        k.into()
    }
}

/// Masks secret parameters in the query and fragment of a URL or path.
pub fn redact_url(url: &str) -> String {
    let (before_frag, frag) = match url.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (url, None),
    };
    let mut out = match before_frag.split_once('?') {
        Some((p, q)) => format!("{p}?{}", redact_params(q)),
        None => before_frag.to_owned(),
    };
    if let Some(f) = frag {
        out.push('#');
        out.push_str(&redact_params(f));
    }
    out
}

/// Masks secrets inside a JSON value: secret keys, URLs carrying codes (`to`, `url`, `location`),
/// and nested objects such as authentik's autosubmit `attrs`.
pub fn redact_json(v: &mut Value) {
    redact_json_changed(v);
}

/// [`redact_json`], telling whether anything changed (so a body that holds no secret is kept
/// byte for byte without comparing a copy of its tree).
fn redact_json_changed(v: &mut Value) -> bool {
    fn set(s: &mut String, new: String) -> bool {
        let changed = *s != new;
        *s = new;
        changed
    }
    let mut changed = false;
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                match val {
                    Value::String(s) => {
                        if let Some(m) = mask_value(k, s) {
                            changed |= set(s, m);
                        } else if s.contains('?') || s.contains('#') {
                            let r = redact_url(s);
                            changed |= set(s, r);
                        }
                    }
                    other => changed |= redact_json_changed(other),
                }
            }
        }
        Value::Array(a) => {
            // `[key, value]` pairs (decoded parameter lists).
            if let [Value::String(k), Value::String(v)] = a.as_mut_slice()
                && let Some(m) = mask_value(k, v)
            {
                return set(v, m);
            }
            for x in a.iter_mut() {
                changed |= redact_json_changed(x);
            }
        }
        _ => {}
    }
    changed
}

fn redact_cookie_pairs(v: &str) -> String {
    v.split(';')
        .map(|p| match p.split_once('=') {
            Some((n, val)) => format!("{n}={}", mask_keyed(val.trim())),
            None => p.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn redact_set_cookie(v: &str) -> String {
    match v.split_once(';') {
        Some((pair, attrs)) => format!("{};{attrs}", redact_cookie_pairs(pair)),
        None => redact_cookie_pairs(v),
    }
}

/// `Basic base64(id:secret)` keeps the client id readable and masks the secret.
fn redact_authorization(v: &str) -> String {
    let (scheme, cred) = v.split_once(' ').unwrap_or((v, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => match STANDARD.decode(cred.trim()).ok().and_then(|b| String::from_utf8(b).ok()) {
            Some(pair) => {
                let (id, secret) = pair.split_once(':').unwrap_or((&pair, ""));
                format!("{scheme} {}", STANDARD.encode(format!("{id}:{}", mask_keyed(secret))))
            }
            None => format!("{scheme} {}", mask(cred)),
        },
        "bearer" => format!("{scheme} {}", mask(cred.trim())),
        _ if cred.is_empty() => mask(v),
        _ => format!("{scheme} {}", mask(cred)),
    }
}

/// Set-Cookie values masked whatever the policy (a summary line keeps only which cookies a
/// response set or cleared, never their values).
pub fn mask_set_cookies(headers: &mut [Header]) {
    for h in headers.iter_mut().filter(|h| h.name.eq_ignore_ascii_case("set-cookie")) {
        h.value = redact_set_cookie(&h.value);
    }
}

fn redact_headers(headers: &mut [Header]) {
    // Names come lower-cased from the gateway (a trace from elsewhere may not); a plain scan
    // for the two words, since `str::contains` sets up a searcher per call.
    let has = |n: &str, word: &[u8]| n.as_bytes().windows(word.len()).any(|w| w == word);
    for h in headers {
        let name = if h.name.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(h.name.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(h.name.as_str())
        };
        h.value = match &*name {
            "authorization" | "proxy-authorization" => redact_authorization(&h.value),
            "cookie" => redact_cookie_pairs(&h.value),
            "set-cookie" => redact_set_cookie(&h.value),
            "location" | "content-location" | "referer" => redact_url(&h.value),
            n if has(n, b"csrf") || has(n, b"token") || n == "x-api-key" => mask(&h.value),
            _ => continue,
        };
    }
}

/// Collects `value="…"` of HTML inputs named like secrets (form_post auto-submit pages).
fn html_secret_inputs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for tag in html.split("<input").skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let attr = |name: &str| {
            let pat = format!("{name}=\"");
            tag.find(&pat).and_then(|i| tag[i + pat.len()..].split('"').next()).map(str::to_owned)
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value"))
            && mask_value(&n, &v).is_some()
        {
            out.push(v);
        }
    }
    out
}

fn redact_body_text(text: &str, content_type: &str) -> Option<String> {
    let ct = content_type.to_ascii_lowercase();
    let trimmed = text.trim_start();
    if (ct.contains("json") || trimmed.starts_with('{') || trimmed.starts_with('['))
        && let Ok(mut v) = serde_json::from_str::<Value>(text)
    {
        return redact_json_changed(&mut v).then(|| serde_json::to_string(&v).unwrap_or_default());
    }
    if ct.contains("x-www-form-urlencoded") {
        let r = redact_params(text);
        return (r != text).then_some(r);
    }
    if ct.contains("html") {
        let secrets = html_secret_inputs(text);
        if !secrets.is_empty() {
            let mut t = text.to_owned();
            for s in secrets {
                t = t.replace(&s, &mask(&s));
            }
            return Some(t);
        }
    }
    // A JWT body (userinfo as application/jwt): keep the claims.
    if ct.contains("jwt") {
        return Some(mask_jwt(text.trim()));
    }
    None
}

/// What a user typed into the provider's flow (authentik's executor answers): every value but
/// the stage name and the username is masked with the run's key (passwords, TOTP and
/// recovery codes are guessable from an unkeyed hash).
fn redact_flow_answer(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                match val {
                    Value::String(s) if k != "component" && (k != "uid_field" || policy().pii) => {
                        *s = mask_keyed(s)
                    }
                    other => redact_flow_answer(other),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_flow_answer),
        _ => {}
    }
}

/// A copy of the exchange with every secret masked.
pub fn redact_exchange(ex: &Exchange) -> Exchange {
    let mut ex = ex.clone();
    redact_exchange_in_place(&mut ex);
    ex
}

/// Masks every secret of an exchange the caller owns already (no copy).
pub fn redact_exchange_in_place(ex: &mut Exchange) {
    if ex.request.path.starts_with("/api/v3/flows/executor/")
        && let Some(mut v) = ex.request.body.text().and_then(|t| serde_json::from_str::<Value>(t).ok())
    {
        redact_flow_answer(&mut v);
        ex.request.body.bytes = serde_json::to_string(&v).unwrap_or_default().into();
    }
    ex.request.path = redact_url(&ex.request.path);
    redact_headers(&mut ex.request.headers);
    let ct = ex
        .request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .map(|h| h.value.clone());
    if let Some(t) = ex.request.body.text().and_then(|t| redact_body_text(t, ct.as_deref().unwrap_or(""))) {
        ex.request.body.bytes = t.into();
    }
    if let Some(r) = &mut ex.response {
        redact_headers(&mut r.headers);
        let ct =
            r.headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-type")).map(|h| h.value.clone());
        if let Some(t) = r.body.text().and_then(|t| redact_body_text(t, ct.as_deref().unwrap_or(""))) {
            r.body.bytes = t.into();
        }
    }
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
