//! Reading a trace back: this tool's JSONL journal, or a HAR 1.x file (this tool's, or one that
//! Chrome, Firefox, Safari or mitmproxy exported, sanitised ones included), plain or gzip.
//! Entries are handed over one by one as they are parsed (a HAR's `entries` array is walked
//! with a streaming visitor), so a 200 MB file needs about one entry's worth of memory.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use base64::Engine;
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::analysis::LiveVerdict;
use crate::capture::{CapturedBody, Exchange, Header, RequestRecord, ResponseRecord};

/// Why a trace cannot be read, said with where.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}: cannot read: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: empty file")]
    Empty(String),
    #[error("{0}: not JSON at byte {1}: {2}")]
    NotJson(String, usize, String),
    #[error("{0}: truncated at byte {1} (the file ends inside a JSON value)")]
    Truncated(String, usize),
    #[error("{0}: not a HAR (no `log.entries`) and not an oidc-tap journal (no `type` lines)")]
    NotATrace(String),
    #[error("{0}: HAR version {1:?} is not 1.x")]
    WrongVersion(String, String),
    #[error("{0}: entry {1} has no `request`")]
    EntryWithoutRequest(String, usize),
    #[error("{0}: entry {1}: {2}")]
    BadEntry(String, usize, String),
    #[error("{0}: journal line {1}: {2}")]
    BadLine(String, usize, String),
}

/// What a whole trace held: its records come through the callback; this is the rest.
#[derive(Debug, Default)]
pub struct TraceInfo {
    /// The file is an oidc-tap journal (else a HAR).
    pub journal: bool,
    /// Secrets were masked when it was written (`None`: not said, e.g. a browser's HAR).
    pub redacted: Option<bool>,
    /// Live verdicts by exchange id.
    pub live: HashMap<u64, LiveVerdict>,
    /// Entries or lines read.
    pub records: usize,
    /// The expectations the live run was judged against (a journal's `session` line).
    pub expect: Option<Value>,
}

/// Opens `path` (`-` for standard input), un-gzipping when it starts with gzip's magic.
fn open(path: &str) -> Result<Box<dyn BufRead>, ImportError> {
    let io = |e| ImportError::Io(path.to_owned(), e);
    let raw: Box<dyn Read> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(io)?)
    };
    let mut r = BufReader::with_capacity(64 * 1024, raw);
    let head = r.fill_buf().map_err(io)?;
    if head.is_empty() {
        return Err(ImportError::Empty(path.to_owned()));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(r))));
    }
    Ok(Box::new(r))
}

/// Reads a trace, handing each exchange record (with its live verdicts, when the trace has
/// them) to `each` in order.
pub fn read(path: &str, mut each: impl FnMut(Exchange)) -> Result<TraceInfo, ImportError> {
    let mut r = open(path)?;
    // A journal's first line is a JSON object with a `type`; a HAR is one object with `log`.
    let head = r.fill_buf().map_err(|e| ImportError::Io(path.to_owned(), e))?.to_vec();
    let first_line = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let is_journal =
        serde_json::from_slice::<Value>(first_line).ok().is_some_and(|v| v.get("type").is_some());
    if is_journal { read_journal(path, r, &mut each) } else { read_har(path, r, &mut each) }
}

fn read_journal(
    path: &str,
    r: Box<dyn BufRead>,
    each: &mut dyn FnMut(Exchange),
) -> Result<TraceInfo, ImportError> {
    let mut info = TraceInfo { journal: true, ..Default::default() };
    for (n, line) in r.lines().enumerate() {
        let line = line.map_err(|e| ImportError::Io(path.to_owned(), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| {
            if e.is_eof() {
                ImportError::BadLine(
                    path.to_owned(),
                    n + 1,
                    "the line ends inside a JSON value (truncated)".into(),
                )
            } else {
                ImportError::BadLine(path.to_owned(), n + 1, format!("not JSON: {e}"))
            }
        })?;
        match v.get("type").and_then(Value::as_str) {
            Some("session") => {
                let r = v.get("redacted").and_then(Value::as_bool);
                info.redacted = Some(info.redacted.unwrap_or(false) || r.unwrap_or(false));
                if let Some(e) = v.get("expect").filter(|e| e.is_object()) {
                    info.expect.get_or_insert_with(|| e.clone());
                }
            }
            Some("exchange") => {
                let ex: Exchange = serde_json::from_value(v.get("exchange").cloned().unwrap_or(Value::Null))
                    .map_err(|e| {
                        ImportError::BadLine(path.to_owned(), n + 1, format!("not an exchange record: {e}"))
                    })?;
                if let Some(p) = v.get("passed").and_then(Value::as_array) {
                    info.live.entry(ex.id).or_default().passed =
                        p.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect();
                }
                info.records += 1;
                each(ex);
            }
            Some("finding") => {
                if let Some(id) = v.get("exchange").and_then(Value::as_u64) {
                    info.live.entry(id).or_default().findings.push(v);
                }
            }
            Some(_) => {}
            None => {
                return Err(ImportError::BadLine(
                    path.to_owned(),
                    n + 1,
                    "no `type`: not an oidc-tap journal line".into(),
                ));
            }
        }
    }
    Ok(info)
}

// ---- HAR 1.2 (only what an exchange record needs; everything else is skipped) ----

#[derive(Deserialize)]
struct HarHeader {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize, Default)]
struct HarPostData {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HarRequest {
    method: String,
    url: String,
    #[serde(default)]
    http_version: String,
    #[serde(default)]
    headers: Vec<HarHeader>,
    #[serde(default)]
    post_data: Option<HarPostData>,
}

#[derive(Deserialize, Default)]
struct HarContent {
    #[serde(default)]
    size: i64,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HarResponse {
    status: i64,
    #[serde(default)]
    http_version: String,
    #[serde(default)]
    headers: Vec<HarHeader>,
    #[serde(default)]
    content: HarContent,
}

#[derive(Deserialize, Default)]
struct HarTimings {
    #[serde(default)]
    receive: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HarEntry {
    #[serde(default)]
    started_date_time: String,
    #[serde(default)]
    time: f64,
    request: Option<HarRequest>,
    response: Option<HarResponse>,
    #[serde(default)]
    timings: HarTimings,
    /// oidc-tap's own: the record without its bodies, and the live verdicts.
    #[serde(default, rename = "_oidc")]
    oidc: Option<Value>,
}

fn read_har(
    path: &str,
    r: Box<dyn BufRead>,
    each: &mut dyn FnMut(Exchange),
) -> Result<TraceInfo, ImportError> {
    let mut info = TraceInfo::default();
    let mut error: Option<ImportError> = None;
    let mut seen_entries = false;
    let mut expect = None;
    let mut de = serde_json::Deserializer::from_reader(r);
    let result = HarFile {
        on_entry: &mut |i: usize, e: HarEntry| {
            if error.is_some() {
                return;
            }
            match entry_to_exchange(i, e, &mut info) {
                Ok(ex) => {
                    info.records += 1;
                    each(ex)
                }
                Err(msg) => error = Some(msg(path.to_owned())),
            }
        },
        version: None,
        seen_entries: &mut seen_entries,
        comment: None,
        expect: &mut expect,
    }
    .deserialize(&mut de);
    if let Err(e) = result {
        let at = de_offset(&e);
        return Err(if e.is_eof() {
            ImportError::Truncated(path.to_owned(), at)
        } else if e.is_syntax() {
            ImportError::NotJson(path.to_owned(), at, e.to_string())
        } else if let Some(v) = e.to_string().strip_prefix("HAR version ") {
            ImportError::WrongVersion(
                path.to_owned(),
                v.split(' ').next().unwrap_or("").trim_matches('"').to_owned(),
            )
        } else {
            ImportError::BadEntry(path.to_owned(), 0, e.to_string())
        });
    }
    if let Some(e) = error {
        return Err(e);
    }
    if !seen_entries {
        return Err(ImportError::NotATrace(path.to_owned()));
    }
    info.expect = expect.filter(Value::is_object);
    Ok(info)
}

/// serde_json reports line and column; the byte offset is approximated for the message.
fn de_offset(e: &serde_json::Error) -> usize {
    e.column() + e.line().saturating_sub(1) * 80
}

type EntryError = Box<dyn FnOnce(String) -> ImportError>;

fn entry_to_exchange(i: usize, e: HarEntry, info: &mut TraceInfo) -> Result<Exchange, EntryError> {
    let n = i + 1;
    let Some(req) = e.request else {
        return Err(Box::new(move |p| ImportError::EntryWithoutRequest(p, n)));
    };
    let (scheme, host, path) = split_har_url(&req.url).ok_or_else(|| -> EntryError {
        let url = req.url.clone();
        Box::new(move |p| ImportError::BadEntry(p, n, format!("request.url {url:?} is not an absolute URL")))
    })?;
    let headers = |h: Vec<HarHeader>| h.into_iter().map(|h| Header::new(h.name, h.value)).collect::<Vec<_>>();
    let started_ms = crate::timefmt::parse_iso8601_ms(&e.started_date_time).unwrap_or(0);
    let mut request = RequestRecord::new(
        req.method,
        scheme,
        host,
        path,
        if req.http_version.is_empty() { "HTTP/1.1".into() } else { req.http_version.to_ascii_uppercase() },
        headers(req.headers),
    );
    if let Some(text) = req.post_data.and_then(|p| p.text) {
        request.body = CapturedBody { wire_len: text.len() as u64, bytes: text.into(), ..Default::default() };
    }
    let oidc = e.oidc.unwrap_or(Value::Null);
    // oidc-tap's own HAR carries the record minus bodies: start from it for an exact replay.
    let mut ex = match oidc.get("record").cloned().map(serde_json::from_value::<Exchange>) {
        Some(Ok(mut rec)) => {
            rec.request.body.bytes = request.body.bytes.clone();
            rec
        }
        _ => Exchange {
            id: n as u64,
            total_ms: e.time.max(0.0) as u64,
            ..Exchange::begin(n as u64, request, started_ms)
        },
    };
    let resp_body = |c: &HarContent| -> bytes::Bytes {
        match (&c.text, c.encoding.as_deref()) {
            (Some(t), Some("base64")) => {
                base64::engine::general_purpose::STANDARD.decode(t.trim()).unwrap_or_default().into()
            }
            (Some(t), _) => t.clone().into_bytes().into(),
            (None, _) => Default::default(),
        }
    };
    match (e.response, ex.response.as_mut()) {
        // Our record: fill the body back in.
        (Some(r), Some(rec)) => rec.body.bytes = resp_body(&r.content),
        (Some(r), None) if r.status > 0 => {
            let bytes = resp_body(&r.content);
            let truncated = r.content.comment.as_deref().is_some_and(|c| c.contains("truncated"));
            ex.response_ms = Some((e.time - e.timings.receive.max(0.0)).max(0.0) as u64);
            ex.response = Some(ResponseRecord {
                status: r.status.clamp(0, 999) as u16,
                version: if r.http_version.is_empty() {
                    "HTTP/1.1".into()
                } else {
                    r.http_version.to_ascii_uppercase()
                },
                headers: headers(r.headers),
                body: CapturedBody {
                    wire_len: (r.content.size.max(0) as u64).max(bytes.len() as u64),
                    bytes,
                    truncated,
                    ..Default::default()
                },
            })
        }
        _ => {}
    }
    if let Some(p) = oidc.get("passed").and_then(Value::as_array) {
        info.live.entry(ex.id).or_default().passed =
            p.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect();
    }
    if let Some(f) = oidc.get("findings").and_then(Value::as_array) {
        info.live.entry(ex.id).or_default().findings.extend(f.iter().cloned());
    }
    if let Some(r) = oidc.get("redacted").and_then(Value::as_bool) {
        info.redacted = Some(info.redacted.unwrap_or(false) || r);
    }
    Ok(ex)
}

/// `https://Host:8443/p?q` → (`https`, `Host:8443`, `/p?q`), the path kept as written.
fn split_har_url(url: &str) -> Option<(String, String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    if authority.is_empty() {
        return None;
    }
    let path = path.split('#').next().unwrap_or("");
    let path = if path.is_empty() {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Some((scheme.to_ascii_lowercase(), authority.to_owned(), path))
}

// The streaming walk: {"log": {"version": …, "entries": [ … ]}}, one entry at a time.

struct HarFile<'a, F> {
    on_entry: &'a mut F,
    version: Option<String>,
    seen_entries: &'a mut bool,
    comment: Option<String>,
    /// `log._oidc.expect`: what the live run was judged against.
    expect: &'a mut Option<Value>,
}

impl<'de, F: FnMut(usize, HarEntry)> DeserializeSeed<'de> for HarFile<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(usize, HarEntry)> Visitor<'de> for HarFile<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a HAR object with `log`")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "log" {
                map.next_value_seed(HarLog { file: &mut self })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let _ = (&self.version, &self.comment);
        Ok(())
    }
}

struct HarLog<'a, 'b, F> {
    file: &'a mut HarFile<'b, F>,
}

impl<'de, F: FnMut(usize, HarEntry)> DeserializeSeed<'de> for HarLog<'_, '_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(usize, HarEntry)> Visitor<'de> for HarLog<'_, '_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a HAR `log` object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "version" => {
                    let v: String = map.next_value()?;
                    if !v.starts_with("1.") {
                        return Err(serde::de::Error::custom(format!("HAR version {v:?} is not 1.x")));
                    }
                    self.file.version = Some(v);
                }
                "_oidc" => {
                    let v: Value = map.next_value()?;
                    *self.file.expect = v.get("expect").cloned();
                }
                "entries" => {
                    *self.file.seen_entries = true;
                    map.next_value_seed(HarEntries { on_entry: &mut *self.file.on_entry })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct HarEntries<'a, F> {
    on_entry: &'a mut F,
}

impl<'de, F: FnMut(usize, HarEntry)> DeserializeSeed<'de> for HarEntries<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(usize, HarEntry)> Visitor<'de> for HarEntries<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a HAR `entries` array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(e) = seq.next_element::<HarEntry>()? {
            (self.on_entry)(i, e);
            i += 1;
        }
        Ok(())
    }
}
