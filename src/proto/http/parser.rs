//! Zero-copy views of an HTTP/1.x message head (RFC 9112): the request
//! line (§3), the status line (§4) and header fields (§5), read within a
//! bounded window so that a peer that never ends its head costs at most
//! [`MAX_HEAD`] bytes of scanning.

use std::fmt;

/// Longest message head looked at. Servers commonly refuse heads over
/// 8 KiB (RFC 9112 §2.3 leaves the limit to implementations).
pub const MAX_HEAD: usize = 8192;
/// Longest method token accepted (the longest registered one,
/// `UPDATEREDIRECTREF`, has 17 characters).
pub const MAX_METHOD: usize = 24;

const SP: u8 = b' ';
const HTAB: u8 = b'\t';

/// Registered methods (RFC 9110 §9, WebDAV RFC 4918 §9) a request may start
/// with. A stream is only taken for HTTP when it starts with one of these.
pub const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"CONNECT",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    // draft-ietf-httpbis-safe-method-w-body.
    b"QUERY",
];

/// What was wrong with a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// More bytes are needed (the head's end was not seen yet).
    Incomplete,
    /// `field` at `offset` breaks the grammar.
    Malformed {
        field: &'static str,
        offset: usize,
        reason: &'static str,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Incomplete => write!(f, "http: head incomplete"),
            HttpError::Malformed {
                field,
                offset,
                reason,
            } => write!(f, "http: {field} at offset {offset}: {reason}"),
        }
    }
}

fn malformed(field: &'static str, offset: usize, reason: &'static str) -> HttpError {
    HttpError::Malformed {
        field,
        offset,
        reason,
    }
}

/// tchar (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The first line of `buf` (without CR LF) and the offset after it. A bare
/// LF also ends a line (RFC 9112 §2.2 allows recipients to accept it).
fn line_at(buf: &[u8], at: usize) -> Result<(&[u8], usize), HttpError> {
    // The whole head must fit in MAX_HEAD bytes.
    let window = buf.get(at..buf.len().min(MAX_HEAD)).unwrap_or(&[]);
    match window.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let line = window.get(..i).unwrap_or(&[]);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Ok((line, at + i + 1))
        }
        None if buf.len() >= MAX_HEAD => Err(malformed("head", at, "no end within the head limit")),
        None => Err(HttpError::Incomplete),
    }
}

/// A request line (RFC 9112 §3): `method SP request-target SP version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub version: &'a [u8],
}

/// A status line (RFC 9112 §4): `version SP status-code SP [reason]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine<'a> {
    pub version: &'a [u8],
    pub status: u16,
}

/// A request or response head: its first line and the header block.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a, L> {
    pub line: L,
    /// Header field lines, from after the first line up to the empty line.
    headers: &'a [u8],
    /// Offset just after the empty line (where the body starts).
    pub end: usize,
}

fn version_ok(v: &[u8]) -> bool {
    // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3).
    matches!(v, [b'H', b'T', b'T', b'P', b'/', a, b'.', c] if a.is_ascii_digit() && c.is_ascii_digit())
}

impl<'a> RequestLine<'a> {
    pub fn parse(line: &'a [u8]) -> Result<RequestLine<'a>, HttpError> {
        let sp1 = line.iter().position(|&b| b == SP).ok_or(malformed(
            "request line",
            0,
            "no space after the method",
        ))?;
        let method = line.get(..sp1).unwrap_or(&[]);
        if method.is_empty() || method.len() > MAX_METHOD || !method.iter().all(|&b| is_tchar(b)) {
            return Err(malformed("method", 0, "not a token"));
        }
        let rest = line.get(sp1 + 1..).unwrap_or(&[]);
        let Some(sp2) = rest.iter().rposition(|&b| b == SP) else {
            // HTTP/0.9's simple request: `GET uri` (RFC 1945 §4.1).
            if rest.is_empty() {
                return Err(malformed("request-target", sp1 + 1, "empty"));
            }
            return Ok(RequestLine {
                method,
                target: rest,
                version: &[],
            });
        };
        let target = rest.get(..sp2).unwrap_or(&[]);
        let version = rest.get(sp2 + 1..).unwrap_or(&[]);
        if target.is_empty() {
            return Err(malformed("request-target", sp1 + 1, "empty"));
        }
        if !version_ok(version) {
            return Err(malformed("HTTP-version", sp1 + 1 + sp2 + 1, "not HTTP/x.y"));
        }
        Ok(RequestLine {
            method,
            target,
            version,
        })
    }
}

impl<'a> StatusLine<'a> {
    pub fn parse(line: &'a [u8]) -> Result<StatusLine<'a>, HttpError> {
        let version = line
            .get(..8)
            .ok_or(malformed("status line", 0, "too short"))?;
        if !version_ok(version) || line.get(8) != Some(&SP) {
            return Err(malformed("HTTP-version", 0, "not HTTP/x.y"));
        }
        let code = line
            .get(9..12)
            .ok_or(malformed("status-code", 9, "too short"))?;
        if !code.iter().all(u8::is_ascii_digit) {
            return Err(malformed("status-code", 9, "not three digits"));
        }
        let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
        Ok(StatusLine { version, status })
    }
}

/// Find the head's first line and the header block (up to the empty
/// line), within [`MAX_HEAD`] bytes.
fn split_head(buf: &[u8]) -> Result<(&[u8], &[u8], usize), HttpError> {
    let (first, mut at) = line_at(buf, 0)?;
    let headers_start = at;
    loop {
        let (line, next) = line_at(buf, at)?;
        if line.is_empty() {
            let headers = buf.get(headers_start..at).unwrap_or(&[]);
            return Ok((first, headers, next));
        }
        at = next;
    }
}

/// Parse a request head from the start of a stream.
pub fn parse_request(buf: &[u8]) -> Result<Head<'_, RequestLine<'_>>, HttpError> {
    // Judge the request line as soon as it is complete.
    let (first, after) = line_at(buf, 0)?;
    let line = RequestLine::parse(first)?;
    if line.version.is_empty() {
        // HTTP/0.9 has no header fields (RFC 1945 §4.1).
        return Ok(Head {
            line,
            headers: &[],
            end: after,
        });
    }
    let (first, headers, end) = split_head(buf)?;
    Ok(Head {
        line: RequestLine::parse(first)?,
        headers,
        end,
    })
}

/// Parse a response's status line (the headers are not needed).
pub fn parse_status(buf: &[u8]) -> Result<StatusLine<'_>, HttpError> {
    let (first, _) = line_at(buf, 0)?;
    StatusLine::parse(first)
}

impl<'a, L> Head<'a, L> {
    /// The first field named `name` (case-insensitive, RFC 9110 §5.1), its
    /// value without surrounding whitespace (RFC 9112 §5).
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .split(|&b| b == b'\n')
            .filter_map(|l| {
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                let colon = l.iter().position(|&b| b == b':')?;
                let (n, v) = (l.get(..colon)?, l.get(colon + 1..)?);
                n.eq_ignore_ascii_case(name).then(|| trim_ows(v))
            })
            .next()
    }
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != SP && b != HTAB)
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != SP && b != HTAB)
        .map_or(start, |i| i + 1);
    v.get(start..end).unwrap_or(&[])
}

/// Is `b` the start of a request (a registered method, then SP)?
/// `None`: too few bytes to tell.
pub fn starts_like_request(b: &[u8]) -> Option<bool> {
    let mut undecided = false;
    for m in METHODS {
        let n = b.len().min(m.len() + 1);
        let want = m.iter().chain(std::iter::once(&SP));
        if b.iter().take(n).eq(want.take(n)) {
            if n == m.len() + 1 {
                return Some(true);
            }
            undecided = true;
        }
    }
    if undecided {
        None
    } else {
        Some(false)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testutil::hex;

    /// tests/pcap/http frame 6 (curl to python3 http.server).
    pub(crate) const CURL_GET: &str = "474554202f696e6465782e68746d6c20485454502f312e310d0a486f73743a2031302e37372e302e313a383030300d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163636570743a202a2f2a0d0a0d0a";
    /// zeek/traces/http/connect-with-header.pcap frame 5; tshark:
    /// CONNECT, uri and host secure.newegg.com:443.
    pub(crate) const NEWEGG_CONNECT: &str = "434f4e4e454354207365637572652e6e65776567672e636f6d3a34343320485454502f312e310d0a557365722d4167656e743a204d6f7a696c6c612f352e3020284d6163696e746f73683b20496e74656c204d6163204f5320582031302e31303b2072763a34312e3029204765636b6f2f32303130303130312046697265666f782f34312e300d0a50726f78792d436f6e6e656374696f6e3a206b6565702d616c6976650d0a436f6e6e656374696f6e3a206b6565702d616c6976650d0a486f73743a207365637572652e6e65776567672e636f6d3a3434330d0a0d0a";
    /// Frame 7 of the same: `HTTP/1.0 200 Connection Established`.
    pub(crate) const NEWEGG_200: &str = "485454502f312e302032303020436f6e6e656374696f6e2045737461626c69736865640d0a50726f78792d6167656e743a204170616368652f322e342e31362028556e6978290d0a0d0a";

    #[test]
    fn curl_get_like_tshark() {
        let b = hex(CURL_GET);
        let h = parse_request(&b).unwrap();
        assert_eq!(h.line.method, b"GET");
        assert_eq!(h.line.target, b"/index.html");
        assert_eq!(h.line.version, b"HTTP/1.1");
        assert_eq!(h.header(b"host"), Some(&b"10.77.0.1:8000"[..]));
        assert_eq!(h.header(b"User-Agent"), Some(&b"curl/7.88.1"[..]));
        assert_eq!(h.end, b.len());
        for cut in 0..b.len() {
            assert_eq!(parse_request(&b[..cut]).err(), Some(HttpError::Incomplete));
        }
    }

    #[test]
    fn connect_and_status() {
        let b = hex(NEWEGG_CONNECT);
        let h = parse_request(&b).unwrap();
        assert_eq!(h.line.method, b"CONNECT");
        assert_eq!(h.line.target, b"secure.newegg.com:443");
        assert_eq!(h.header(b"Host"), Some(&b"secure.newegg.com:443"[..]));
        let resp = hex(NEWEGG_200);
        let s = parse_status(&resp).unwrap();
        assert_eq!((s.version, s.status), (&b"HTTP/1.0"[..], 200));
    }

    #[test]
    fn probes_and_bounds() {
        assert_eq!(starts_like_request(b"GE"), None);
        assert_eq!(starts_like_request(b"GET "), Some(true));
        assert_eq!(starts_like_request(b"GETX"), Some(false));
        assert_eq!(starts_like_request(b"\x16\x03\x01"), Some(false));
        let mut long = b"GET /".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert!(matches!(
            parse_request(&long),
            Err(HttpError::Malformed { .. })
        ));
        let h = parse_request(b"GET /zeek.html\r\n").unwrap();
        assert_eq!(
            (h.line.target, h.line.version),
            (&b"/zeek.html"[..], &b""[..])
        );
        assert!(matches!(
            parse_request(b"GET /x FTP/1.0\r\n\r\n"),
            Err(HttpError::Malformed {
                field: "HTTP-version",
                ..
            })
        ));
    }
}
