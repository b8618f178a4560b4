//! Reading and validating catalogue TOML: the raw serde shape, then one
//! checked [`Entry`] per `[[entry]]`, with errors that name the file, the
//! entry (index and tool), the field and what was expected.

use serde::Deserialize;

use super::{CatalogueError, Category};
use crate::proto::app::FIRST_BYTES;

/// Widest port range one `ports` item may span (keeps the port table
/// small whatever a site file says).
pub const MAX_PORT_RANGE: u32 = 1024;
/// Most entries one file may hold.
pub const MAX_ENTRIES: usize = 10_000;
/// Longest name pattern (RFC 1035 §2.3.4: 255 bytes, plus `*.`).
const MAX_NAME_LEN: usize = 257;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    entry: Vec<RawEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    tool: String,
    category: String,
    source: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    cert: Vec<String>,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    ja4: Vec<String>,
    #[serde(default)]
    ja3: Vec<String>,
    #[serde(default)]
    payload: Vec<RawPayload>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPayload {
    transport: String,
    #[serde(default = "either")]
    dir: String,
    #[serde(default)]
    offset: u32,
    hex: String,
}

fn either() -> String {
    "either".into()
}

/// A name pattern: `host.example` (that name only) or `*.example` (any
/// name below it, at any depth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamePattern {
    Exact(String),
    Suffix(String),
}

impl NamePattern {
    /// The pattern as written (for evidence strings).
    pub fn text(&self) -> String {
        match self {
            NamePattern::Exact(n) => n.clone(),
            NamePattern::Suffix(s) => format!("*.{s}"),
        }
    }
}

/// Transport of a port or payload signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    pub fn ip_proto(self) -> u8 {
        match self {
            Transport::Tcp => 6,
            Transport::Udp => 17,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// Which direction's first payload a signature looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigDir {
    ToServer,
    ToClient,
    Either,
}

/// Bytes expected at an offset of a direction's first payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadSig {
    pub transport: Transport,
    pub dir: SigDir,
    pub offset: usize,
    pub bytes: Vec<u8>,
    /// As written, for evidence.
    pub hex: String,
}

/// One validated catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub tool: String,
    pub category: Category,
    pub source: String,
    pub names: Vec<NamePattern>,
    /// Lowercased substrings of a certificate subject or issuer.
    pub cert: Vec<String>,
    /// Inclusive port ranges.
    pub ports: Vec<(Transport, u16, u16)>,
    pub ja4: Vec<String>,
    pub ja3: Vec<String>,
    pub payload: Vec<PayloadSig>,
}

/// Parse and validate a catalogue file's text. `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Entry>, CatalogueError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| CatalogueError {
        origin: origin.to_owned(),
        entry: None,
        field: None,
        message: e.to_string().trim_end().to_owned(),
    })?;
    if raw.entry.len() > MAX_ENTRIES {
        return Err(CatalogueError {
            origin: origin.to_owned(),
            entry: None,
            field: Some("entry"),
            message: format!("at most {MAX_ENTRIES} entries, found {}", raw.entry.len()),
        });
    }
    raw.entry
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let tool = e.tool.clone();
            entry(e).map_err(|(field, message)| CatalogueError {
                origin: origin.to_owned(),
                entry: Some((i, tool)),
                field: Some(field),
                message,
            })
        })
        .collect()
}

type FieldError = (&'static str, String);

fn entry(e: RawEntry) -> Result<Entry, FieldError> {
    let tool = e.tool.trim().to_owned();
    if tool.is_empty() || tool.len() > 128 {
        return Err(("tool", "a tool name of 1 to 128 characters".into()));
    }
    let category = Category::from_name(&e.category).ok_or_else(|| {
        (
            "category",
            format!(
                "one of {}, found {:?}",
                Category::ALL.map(Category::as_str).join(", "),
                e.category
            ),
        )
    })?;
    if !(e.source.starts_with("https://") || e.source.starts_with("http://"))
        || e.source.chars().any(char::is_whitespace)
    {
        return Err((
            "source",
            format!("a URL (http:// or https://), found {:?}", e.source),
        ));
    }
    let names = e
        .names
        .iter()
        .map(|n| name_pattern(n).ok_or(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|n| {
            (
                "names",
                format!("a DNS name or *.suffix (letters, digits, '-', '_', '.'), found {n:?}"),
            )
        })?;
    let cert = e
        .cert
        .iter()
        .map(|c| {
            let c = c.trim().to_ascii_lowercase();
            if c.len() < 3 || c.len() > 256 {
                Err((
                    "cert",
                    format!("a substring of 3 to 256 bytes, found {c:?}"),
                ))
            } else {
                Ok(c)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ports = e
        .ports
        .iter()
        .map(|p| port_spec(p).ok_or(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|p| {
            (
                "ports",
                format!(
                    "tcp/PORT, udp/PORT or tcp/LOW-HIGH (1-65535, at most {MAX_PORT_RANGE} ports), found {p:?}"
                ),
            )
        })?;
    let ja4 = e
        .ja4
        .iter()
        .map(|j| fingerprint(j, is_ja4).ok_or(j))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|j| {
            (
                "ja4",
                format!("a JA4 like t13d1516h2_8daaf6152771_e5627efa2ab1, found {j:?}"),
            )
        })?;
    let ja3 = e
        .ja3
        .iter()
        .map(|j| fingerprint(j, is_md5).ok_or(j))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|j| ("ja3", format!("32 hex digits (an MD5), found {j:?}")))?;
    let payload = e
        .payload
        .into_iter()
        .map(payload_sig)
        .collect::<Result<Vec<_>, _>>()?;
    if names.is_empty()
        && cert.is_empty()
        && ports.is_empty()
        && ja4.is_empty()
        && ja3.is_empty()
        && payload.is_empty()
    {
        return Err((
            "names",
            "at least one of names, cert, ports, ja4, ja3, payload".into(),
        ));
    }
    Ok(Entry {
        tool,
        category,
        source: e.source,
        names,
        cert,
        ports,
        ja4,
        ja3,
        payload,
    })
}

/// `host.example` or `*.example`, lowercased; a trailing dot is dropped.
pub fn name_pattern(n: &str) -> Option<NamePattern> {
    let n = n.trim().trim_end_matches('.').to_ascii_lowercase();
    let (suffix, body) = match n.strip_prefix("*.") {
        Some(b) => (true, b.to_owned()),
        None => (false, n),
    };
    let ok = !body.is_empty()
        && body.len() <= MAX_NAME_LEN
        && body
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(is_label_byte));
    // A bare `*.com` would claim a whole top-level domain.
    if !ok || (suffix && !body.contains('.')) {
        return None;
    }
    Some(if suffix {
        NamePattern::Suffix(body)
    } else {
        NamePattern::Exact(body)
    })
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// `tcp/5938`, `udp/41641`, `tcp/21115-21119`.
fn port_spec(p: &str) -> Option<(Transport, u16, u16)> {
    let (t, ports) = p.trim().split_once('/')?;
    let t = transport(t)?;
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?),
        None => {
            let v = ports.parse::<u16>().ok()?;
            (v, v)
        }
    };
    if lo == 0 || hi < lo || u32::from(hi - lo) >= MAX_PORT_RANGE {
        return None;
    }
    Some((t, lo, hi))
}

fn transport(t: &str) -> Option<Transport> {
    match t {
        "tcp" => Some(Transport::Tcp),
        "udp" => Some(Transport::Udp),
        _ => None,
    }
}

fn fingerprint(j: &str, ok: fn(&str) -> bool) -> Option<String> {
    let j = j.trim().to_ascii_lowercase();
    ok(&j).then_some(j)
}

/// JA4 (FoxIO, BSD-3-Clause part): `a_b_c`, 10 + 12 + 12 characters.
fn is_ja4(j: &str) -> bool {
    let parts: Vec<&str> = j.split('_').collect();
    matches!(parts.as_slice(), [a, b, c]
        if a.len() == 10 && a.bytes().all(|x| x.is_ascii_alphanumeric())
            && b.len() == 12 && c.len() == 12
            && b.bytes().chain(c.bytes()).all(|x| x.is_ascii_hexdigit()))
}

fn is_md5(j: &str) -> bool {
    j.len() == 32 && j.bytes().all(|b| b.is_ascii_hexdigit())
}

fn payload_sig(p: RawPayload) -> Result<PayloadSig, FieldError> {
    let transport = transport(&p.transport).ok_or_else(|| {
        (
            "payload.transport",
            format!("\"tcp\" or \"udp\", found {:?}", p.transport),
        )
    })?;
    let dir = match p.dir.as_str() {
        "to_server" => SigDir::ToServer,
        "to_client" => SigDir::ToClient,
        "either" => SigDir::Either,
        d => {
            return Err((
                "payload.dir",
                format!("\"to_server\", \"to_client\" or \"either\", found {d:?}"),
            ))
        }
    };
    let hex: String = p.hex.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = decode_hex(&hex).ok_or_else(|| {
        (
            "payload.hex",
            format!("an even number of hex digits, found {:?}", p.hex),
        )
    })?;
    let offset = usize::try_from(p.offset).unwrap_or(usize::MAX);
    if bytes.is_empty() || offset.saturating_add(bytes.len()) > FIRST_BYTES {
        return Err((
            "payload.hex",
            format!(
                "1 or more bytes ending within the first {FIRST_BYTES} bytes (offset {} + {} bytes)",
                p.offset,
                bytes.len()
            ),
        ));
    }
    Ok(PayloadSig {
        transport,
        dir,
        offset,
        bytes,
        hex: hex.to_ascii_lowercase(),
    })
}

fn decode_hex(h: &str) -> Option<Vec<u8>> {
    if h.len() % 2 != 0 || h.len() > 2 * FIRST_BYTES || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    h.as_bytes()
        .chunks_exact(2)
        .map(|p| {
            let s = std::str::from_utf8(p).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}
