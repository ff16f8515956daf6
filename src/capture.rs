//! The record of one finished HTTP exchange: the single boundary type between the
//! proxy (I/O) and everything that analyses traffic.
//!
//! The proxy fills an [`Exchange`] while bytes stream through and hands it over once the
//! exchange completes or aborts. Nothing here knows about OpenID Connect.

use std::io::Read;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One request/response pair as it went over the wire, with capped copies of both bodies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exchange {
    /// Process-wide sequence number, in order of arrival.
    pub id: u64,
    /// Client connection the request arrived on (several exchanges share one on keep-alive / h2).
    pub conn: u64,
    /// Client socket address (`ip:port`) as the gateway saw it.
    pub client_addr: String,
    /// `true` when the gateway terminated TLS for this request.
    pub tls: bool,
    /// SNI name the client asked for, when TLS was terminated here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// Upstream base URL the request was sent to (`https://authentik.company:443`).
    pub upstream: String,
    /// Unix time in milliseconds when the request head was received.
    pub started_ms: u64,
    /// Milliseconds from request head to response head (absent when no response came).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_ms: Option<u64>,
    /// Milliseconds from request head until the response body ended or the exchange aborted.
    pub total_ms: u64,
    pub request: RequestRecord,
    /// The response the client received (also the gateway's own 502/504).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseRecord>,
    /// Why the exchange did not complete normally (upstream down, body aborted, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `true` when the connection switched protocols (WebSocket) after this exchange.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub upgraded: bool,
    /// The response was made by the gateway itself, and why: nothing in it speaks for the
    /// provider. On the record, not in a header, so an upstream cannot claim it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_answer: Option<GatewayAnswer>,
    /// Only a summary was kept (method, host, path, status, sizes, times; no bodies): the
    /// gateway did not know the request was part of a login when it arrived.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub summary: bool,
    /// Kept whole only from its response head on (the request was no login step by its head;
    /// its answer showed one: a redirect with the code, a provider page during a login). Its
    /// request body, if it had one, was not kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kept_at_answer: bool,
}

/// The analysis side's answer to "keep this exchange whole?", asked twice without any OIDC
/// knowledge in the proxy: when the request head arrives, and (for a request it said no to)
/// again when the response head arrives, since only the answer shows some login steps (a
/// provider's resume URL that redirects with the code, its login pages). Both are lookups:
/// forwarding never waits on them.
pub trait Wants: Send + Sync {
    /// The request head: method, scheme, host, path with query.
    fn request(&self, method: &str, scheme: &str, host: &str, path: &str) -> bool;
    /// The response head of a request that was not wanted whole.
    fn answer(&self, req: &RequestRecord, status: u16, headers: &http::HeaderMap) -> bool;
}

/// A plain predicate on the request alone (tests, and callers that need no second look).
impl<F: Fn(&str, &str, &str, &str) -> bool + Send + Sync> Wants for F {
    fn request(&self, method: &str, scheme: &str, host: &str, path: &str) -> bool {
        self(method, scheme, host, path)
    }
    fn answer(&self, _: &RequestRecord, _: u16, _: &http::HeaderMap) -> bool {
        false
    }
}

/// The response headers a summary keeps.
const SUMMARY_HEADS: [&str; 3] = ["location", "content-type", "set-cookie"];

/// Why the gateway answered a request itself.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GatewayAnswer {
    /// The upstream could not be reached or did not answer (502/504 with a hint).
    UpstreamFailed,
    /// The client went away while sending its request body (unlike a body the gateway
    /// stopped reading because the upstream failed).
    ClientHungUp,
    /// Plain HTTP arrived on the HTTPS port (400, like nginx).
    PlainHttpOnTlsPort,
}

/// The request head as received from the client, before any forwarding changes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestRecord {
    pub method: String,
    /// Scheme the client used (`https` when TLS was terminated here, else `http`).
    pub scheme: String,
    /// Host the client addressed (Host header or h2 `:authority`), port included if given.
    pub host: String,
    /// Path and query exactly as received.
    pub path: String,
    /// `HTTP/1.1`, `HTTP/2.0`, ...
    pub version: String,
    pub headers: Vec<Header>,
    pub body: CapturedBody,
}

/// The response head as sent to the client.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResponseRecord {
    pub status: u16,
    pub version: String,
    pub headers: Vec<Header>,
    pub body: CapturedBody,
}

/// One header field; values that are not UTF-8 are kept lossily (they are never OIDC data).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header { name: name.into(), value: value.into() }
    }
}

/// A capped copy of a body. `bytes` holds the decoded content when the body carried a
/// `Content-Encoding` the gateway understands; what the client received is never altered.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CapturedBody {
    #[serde(with = "body_serde")]
    pub bytes: Bytes,
    /// Bytes that went over the wire (may exceed what was captured).
    pub wire_len: u64,
    /// The capture stopped at the cap; `bytes` holds only the start of the body.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The stream ended with an error or was dropped before its end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    /// Content-Encoding that was removed from the captured copy (`gzip`, `br`, `deflate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_from: Option<String>,
    /// Why a Content-Encoding could not be removed (the raw bytes are kept instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<String>,
    /// Only the size was kept (the exchange is a summary of non-login traffic): the empty
    /// `bytes` say nothing about what the body held.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub summarised: bool,
}

impl CapturedBody {
    /// The captured bytes as text, if they are UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }

    /// Removes a `Content-Encoding` from the captured copy. The output is capped at `limit`
    /// bytes (marked truncated) so a compression bomb cannot blow up memory.
    pub fn decode_content_encoding(&mut self, encoding: Option<&str>, limit: usize) {
        let Some(enc) = encoding.map(|e| e.trim().to_ascii_lowercase()) else { return };
        // Idempotent: a copy already decoded (or found undecodable) is left as it is.
        if self.decoded_from.is_some() || self.decode_error.is_some() {
            return;
        }
        if enc.is_empty() || enc == "identity" || self.bytes.is_empty() {
            return;
        }
        let raw = &self.bytes[..];
        let mut out = Vec::new();
        let result = match enc.as_str() {
            "gzip" | "x-gzip" => read_capped(flate2::read::MultiGzDecoder::new(raw), limit, &mut out),
            "deflate" => {
                // RFC 9110 says zlib-wrapped; some servers send raw deflate. Try both.
                let r = read_capped(flate2::read::ZlibDecoder::new(raw), limit, &mut out);
                if r.is_err() {
                    out.clear();
                    read_capped(flate2::read::DeflateDecoder::new(raw), limit, &mut out)
                } else {
                    r
                }
            }
            "br" => read_capped(brotli_decompressor::Decompressor::new(raw, 4096), limit, &mut out),
            other => {
                self.decode_error = Some(format!("content-encoding {other:?} not decoded"));
                return;
            }
        };
        match result {
            Ok(capped) => {
                self.bytes = Bytes::from(out);
                self.truncated |= capped;
                self.decoded_from = Some(enc);
            }
            // A truncated capture cannot decode to its end: keep what decoded.
            Err(_) if self.truncated && !out.is_empty() => {
                self.bytes = Bytes::from(out);
                self.decoded_from = Some(enc);
            }
            Err(e) => self.decode_error = Some(format!("{enc} decode failed: {e}")),
        }
    }
}

pub fn version_str(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// A header map as plain records (lossy for non-UTF-8 values), as the capture unpacks them.
pub fn header_records(headers: &http::HeaderMap) -> Vec<Header> {
    PackedHeaders::of(headers).unpack()
}

/// A header map copied in one buffer as the forwarding side records it; the analysis side
/// unpacks it into [`Header`]s. Per request that is one allocation on the forwarding thread
/// instead of two per header, and the many small strings are then made and freed on the
/// analysis thread alone (a record's strings made on one thread and freed on another cost the
/// forwarding thread cache misses on every later allocation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedHeaders(Vec<u8>);

impl PackedHeaders {
    /// Each name and value as its length (4 bytes, little-endian) then its bytes, in the
    /// map's order; any byte a value holds is kept.
    pub fn of(headers: &http::HeaderMap) -> PackedHeaders {
        let size = headers.iter().map(|(n, v)| 8 + n.as_str().len() + v.len()).sum();
        let mut b = Vec::with_capacity(size);
        for (n, v) in headers {
            for part in [n.as_str().as_bytes(), v.as_bytes()] {
                b.extend_from_slice(&(part.len() as u32).to_le_bytes());
                b.extend_from_slice(part);
            }
        }
        PackedHeaders(b)
    }

    /// The headers as records (values that are not UTF-8 kept lossily).
    pub fn unpack(&self) -> Vec<Header> {
        fn take(b: &[u8]) -> Option<(&[u8], &[u8])> {
            let (len, rest) = b.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            (rest.len() >= len).then(|| rest.split_at(len))
        }
        let mut out = Vec::new();
        let mut rest = &self.0[..];
        while let Some((name, r)) = take(rest)
            && let Some((value, r)) = take(r)
        {
            out.push(Header::new(String::from_utf8_lossy(name), String::from_utf8_lossy(value)));
            rest = r;
        }
        out
    }
}

impl RequestRecord {
    /// A request head as received; its body is captured as it streams.
    pub fn new(
        method: impl Into<String>,
        scheme: impl Into<String>,
        host: impl Into<String>,
        path: impl Into<String>,
        version: impl Into<String>,
        headers: Vec<Header>,
    ) -> RequestRecord {
        RequestRecord {
            method: method.into(),
            scheme: scheme.into(),
            host: host.into(),
            path: path.into(),
            version: version.into(),
            headers,
            body: CapturedBody::default(),
        }
    }
}

impl Exchange {
    /// The record of a request that just arrived: no response yet, nothing measured. The one
    /// constructor, so every producer (the proxy, the key fetch, tests) fills the same fields.
    pub fn begin(id: u64, request: RequestRecord, started_ms: u64) -> Exchange {
        Exchange {
            id,
            conn: 0,
            client_addr: String::new(),
            tls: request.scheme == "https",
            sni: None,
            upstream: String::new(),
            started_ms,
            response_ms: None,
            total_ms: 0,
            request,
            response: None,
            error: None,
            upgraded: false,
            gateway_answer: None,
            summary: false,
            kept_at_answer: false,
        }
    }

    /// The record as a summary line keeps it: no bodies, no request headers, and of the
    /// response only the heads that cost nothing to keep and let a later reading still join
    /// it to a login (`Location`, `Content-Type`, `Set-Cookie`; redacted as every line is).
    /// Sizes and times stay.
    pub fn summarised(&self) -> Exchange {
        let strip = |b: &CapturedBody| CapturedBody { bytes: Bytes::new(), summarised: true, ..b.clone() };
        Exchange {
            request: RequestRecord {
                method: self.request.method.clone(),
                scheme: self.request.scheme.clone(),
                host: self.request.host.clone(),
                path: self.request.path.clone(),
                version: self.request.version.clone(),
                headers: vec![],
                body: strip(&self.request.body),
            },
            response: self.response.as_ref().map(|r| ResponseRecord {
                status: r.status,
                version: r.version.clone(),
                headers: r
                    .headers
                    .iter()
                    .filter(|h| SUMMARY_HEADS.iter().any(|n| h.name.eq_ignore_ascii_case(n)))
                    .cloned()
                    .collect(),
                body: strip(&r.body),
            }),
            client_addr: self.client_addr.clone(),
            sni: self.sni.clone(),
            upstream: self.upstream.clone(),
            error: self.error.clone(),
            ..*self
        }
    }

    /// Removes Content-Encoding from both captured bodies (done by the consumer, off the
    /// forwarding path). `limit` caps the decoded size.
    pub fn decode_bodies(&mut self, limit: usize) {
        let enc = self.request.header("content-encoding").map(str::to_owned);
        self.request.body.decode_content_encoding(enc.as_deref(), limit);
        if let Some(r) = &mut self.response {
            let enc = r.header("content-encoding").map(str::to_owned);
            r.body.decode_content_encoding(enc.as_deref(), limit);
        }
    }
}

/// Reads at most `limit` bytes; returns whether more was available.
fn read_capped(mut r: impl Read, limit: usize, out: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(false);
        }
        let room = limit.saturating_sub(out.len());
        if n > room {
            out.extend_from_slice(&buf[..room]);
            return Ok(true);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Header lookup shared by request and response records.
pub trait HeaderLookup {
    fn headers(&self) -> &[Header];

    /// First value of a header, case-insensitive name.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers().iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
    }

    /// Every value of a header, in order.
    fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers().iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
    }
}

impl HeaderLookup for RequestRecord {
    fn headers(&self) -> &[Header] {
        &self.headers
    }
}

impl HeaderLookup for ResponseRecord {
    fn headers(&self) -> &[Header] {
        &self.headers
    }
}

/// Bodies serialise as `{"text": …}` when UTF-8 and `{"base64": …}` otherwise, so a journal
/// stays readable and binary bodies survive a round trip.
mod body_serde {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Repr {
        Text(String),
        Base64(String),
    }

    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(b) {
            Ok(t) => Repr::Text(t.to_owned()).serialize(s),
            Err(_) => Repr::Base64(STANDARD.encode(b)).serialize(s),
        }
    }

    /// What a journal may hold: `{"text": …}`, `{"base64": …}`, or `""`, the summary lines of
    /// earlier versions (their bodies were dropped: nothing to read).
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Repr(Repr),
        Plain(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        match Stored::deserialize(d)? {
            Stored::Repr(Repr::Text(t)) => Ok(Bytes::from(t)),
            Stored::Repr(Repr::Base64(b)) => {
                STANDARD.decode(b).map(Bytes::from).map_err(serde::de::Error::custom)
            }
            Stored::Plain(s) if s.is_empty() => Ok(Bytes::new()),
            Stored::Plain(_) => Err(serde::de::Error::custom(
                "a body's bytes are {\"text\": …} or {\"base64\": …} (or \"\" in a summary)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Packed on the forwarding side, unpacked on the analysis side: the same records the map
    /// would give directly (order, repeated names, bytes that are not UTF-8, empty values).
    #[test]
    fn packed_headers_unpack_to_the_maps_records() {
        let mut map = http::HeaderMap::new();
        map.append("content-type", http::HeaderValue::from_static("application/json"));
        map.append("set-cookie", http::HeaderValue::from_static("a=1"));
        map.append("set-cookie", http::HeaderValue::from_static("b=2"));
        map.append("x-empty", http::HeaderValue::from_static(""));
        map.append("x-latin1", http::HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let direct: Vec<Header> =
            map.iter().map(|(n, v)| Header::new(n.as_str(), String::from_utf8_lossy(v.as_bytes()))).collect();
        assert_eq!(PackedHeaders::of(&map).unpack(), direct);
        assert_eq!(direct[4].value, "caf\u{fffd}");
        assert_eq!(direct.len(), 5);
        assert_eq!(header_records(&map), direct);
        assert_eq!(PackedHeaders::default().unpack(), vec![]);
        // A cut buffer (never made by `of`) yields the whole entries before the cut, no panic.
        let PackedHeaders(bytes) = PackedHeaders::of(&map);
        assert_eq!(PackedHeaders(bytes[..bytes.len() - 2].to_vec()).unpack(), direct[..4]);
    }
    #[test]
    fn gzip_is_decoded_for_the_copy() {
        let mut b = CapturedBody { bytes: Bytes::from(gzip(b"{\"issuer\":\"x\"}")), ..Default::default() };
        b.decode_content_encoding(Some("gzip"), 1024);
        assert_eq!(b.text(), Some("{\"issuer\":\"x\"}"));
        assert_eq!(b.decoded_from.as_deref(), Some("gzip"));
        assert!(!b.truncated);
    }

    #[test]
    fn decoding_twice_changes_nothing() {
        let mut b = CapturedBody { bytes: Bytes::from(gzip(b"{}")), ..Default::default() };
        b.decode_content_encoding(Some("gzip"), 1024);
        b.decode_content_encoding(Some("gzip"), 1024);
        assert_eq!(b.text(), Some("{}"));
        assert!(b.decode_error.is_none());
    }

    #[test]
    fn decoding_is_capped() {
        let mut b = CapturedBody { bytes: Bytes::from(gzip(&vec![b'a'; 100_000])), ..Default::default() };
        b.decode_content_encoding(Some("gzip"), 1000);
        assert_eq!(b.bytes.len(), 1000);
        assert!(b.truncated);
    }

    #[test]
    fn garbage_gets_a_decode_error_not_a_panic() {
        let mut b = CapturedBody { bytes: Bytes::from_static(b"not gzip"), ..Default::default() };
        b.decode_content_encoding(Some("gzip"), 1024);
        assert_eq!(&b.bytes[..], b"not gzip");
        assert!(b.decode_error.unwrap().contains("gzip"));
        let mut z = CapturedBody { bytes: Bytes::from_static(b"xx"), ..Default::default() };
        z.decode_content_encoding(Some("zstd"), 1024);
        assert!(z.decode_error.is_some());
    }

    #[test]
    fn bodies_round_trip_through_json() {
        let b = CapturedBody {
            bytes: Bytes::from_static(&[0xff, 0x00, 0x41]),
            wire_len: 3,
            ..Default::default()
        };
        let j = serde_json::to_string(&b).unwrap();
        assert!(j.contains("base64"));
        let back: CapturedBody = serde_json::from_str(&j).unwrap();
        assert_eq!(back, b);
    }

    /// A summary's body: the sizes stay, the bytes are empty and say so; journals written
    /// before this shape (`"bytes": ""`) still read; any other bare string is an error.
    #[test]
    fn summarised_bodies_round_trip_and_old_summary_lines_still_read() {
        let b = CapturedBody { wire_len: 66_399, summarised: true, ..Default::default() };
        let j = serde_json::to_string(&b).unwrap();
        assert_eq!(j, r#"{"bytes":{"text":""},"wire_len":66399,"summarised":true}"#);
        assert_eq!(serde_json::from_str::<CapturedBody>(&j).unwrap(), b);
        let old: CapturedBody =
            serde_json::from_str(r#"{"bytes":"","wire_len":66399,"summarised":true}"#).unwrap();
        assert_eq!(old, b);
        let err = serde_json::from_str::<CapturedBody>(r#"{"bytes":"secret","wire_len":6}"#).unwrap_err();
        assert!(err.to_string().contains("a body's bytes are"), "{err}");
    }
}
