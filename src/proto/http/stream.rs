//! HTTP/1.x over a TCP stream: the first request's line, `Host` and
//! `User-Agent`, and the first response's status. A CONNECT request
//! (RFC 9110 §9.3.6) opens a tunnel through a proxy; its authority-form
//! target (RFC 9112 §3.2.3) is kept as `connect_target`.

use serde::Serialize;

use crate::proto::tls::stream::TlsStream;

use super::parser::{parse_request, parse_status, starts_like_request, HttpError};
use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{wire_text, AppSummary, FlowCx, Probe, Progress};

/// Caps of the record's strings, in bytes.
pub const MAX_METHOD_LEN: usize = 32;
/// A host name (RFC 1035 §2.3.4) plus `:port`... kept to a name's length.
pub const MAX_HOST_LEN: usize = 255;
pub const MAX_URI_LEN: usize = 2048;
pub const MAX_USER_AGENT_LEN: usize = 512;
pub const MAX_VERSION_LEN: usize = 16;
/// A host name and `:65535`.
pub const MAX_CONNECT_TARGET_LEN: usize = 262;

const LAYER: &str = "http";
const CONNECT: &[u8] = b"CONNECT";
const STATUS_START: &[u8] = b"HTTP/1.";

/// What a flow's HTTP showed (the `http` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HttpRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The `Host` field (RFC 9110 §7.2), as sent (with its port, if any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The request-target as sent (RFC 9112 §3.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The request's version, else the response's (`HTTP/1.1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The first response's status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The CONNECT request's `host:port`: the flow is a proxy tunnel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_target: Option<String>,
}

/// Stream probe: the client starts with a registered method and SP, or
/// (when the request was missed) the server with `HTTP/1.`.
pub fn probe(_cx: &FlowCx, dir: Direction, bytes: &[u8]) -> Probe {
    match dir {
        Direction::ToServer => match starts_like_request(bytes) {
            Some(true) => Probe::Match,
            Some(false) => Probe::NoMatch,
            None => Probe::NeedMore,
        },
        Direction::ToClient => {
            let n = bytes.len().min(STATUS_START.len());
            match (
                bytes.get(..n) == STATUS_START.get(..n),
                n == STATUS_START.len(),
            ) {
                (true, true) => Probe::Match,
                (true, false) => Probe::NeedMore,
                (false, _) => Probe::NoMatch,
            }
        }
    }
}

/// One flow's HTTP parse state (the record holds what was found). A
/// CONNECT that the proxy grants turns the flow into a tunnel (RFC 9110
/// §9.3.6): the TLS that follows is fingerprinted by an inner
/// [`TlsStream`] from the ends of the two heads.
#[derive(Debug, Default)]
pub struct HttpStream {
    /// Where the CONNECT request's head ends in the client's stream.
    connect_end: Option<usize>,
    inner: Option<TlsStream>,
    response_seen: bool,
}

/// Longest response head searched for its end after a CONNECT.
const MAX_CONNECT_RESPONSE: usize = 8192;

/// Where a head ends: just after its empty line (RFC 9112 §2.1).
fn head_end(b: &[u8]) -> Option<usize> {
    let b = b.get(..b.len().min(MAX_CONNECT_RESPONSE)).unwrap_or(b);
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

impl HttpStream {
    pub fn new() -> HttpStream {
        HttpStream::default()
    }

    /// The TLS this CONNECT tunnel carries, once it started (the dispatcher
    /// forwards per-packet timing to it, for `app_rtt`).
    pub fn inner_tls(&mut self) -> Option<&mut TlsStream> {
        self.inner.as_mut()
    }

    /// Feed the whole contiguous prefix of `dir`.
    pub fn on_stream(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        if let Some(tls) = self.inner.as_mut() {
            return tls.on_stream(dir, prefix, ts, summary);
        }
        if let (Some(req_end), Direction::ToClient) = (self.connect_end, dir) {
            return self.connect_response(req_end, prefix, ts, summary);
        }
        if dir == Direction::ToClient && self.response_seen {
            return Progress::Done;
        }
        let rec = summary.http.get_or_insert_with(HttpRecord::default);
        let mut connect_end = None;
        let result = match dir {
            Direction::ToServer => parse_request(prefix).map(|h| {
                let l = h.line;
                rec.method = Some(wire_text(l.method, MAX_METHOD_LEN));
                rec.uri = Some(wire_text(l.target, MAX_URI_LEN));
                rec.version = Some(if l.version.is_empty() {
                    "HTTP/0.9".to_owned()
                } else {
                    wire_text(l.version, MAX_VERSION_LEN)
                });
                rec.host = h.header(b"host").map(|v| wire_text(v, MAX_HOST_LEN));
                rec.user_agent = h
                    .header(b"user-agent")
                    .map(|v| wire_text(v, MAX_USER_AGENT_LEN));
                if l.method == CONNECT {
                    rec.connect_target = Some(wire_text(l.target, MAX_CONNECT_TARGET_LEN));
                    connect_end = Some(h.end);
                }
            }),
            Direction::ToClient => parse_status(prefix).map(|s| {
                rec.status = Some(s.status);
                if rec.version.is_none() {
                    rec.version = Some(wire_text(s.version, MAX_VERSION_LEN));
                }
            }),
        };
        if dir == Direction::ToClient && result.is_ok() {
            self.response_seen = true;
        }
        match result {
            // The tunnel's bytes follow the CONNECT: keep the client's
            // stream until the proxy answers.
            Ok(()) if connect_end.is_some() => {
                self.connect_end = connect_end;
                Progress::NeedMore
            }
            Ok(()) => Progress::Done,
            Err(HttpError::Incomplete) => Progress::NeedMore,
            // An SSH server answering an HTTP client (a probe, or a proxy
            // misused): the banner is kept and the mismatch reported.
            Err(_) if dir == Direction::ToClient && prefix.starts_with(b"SSH-") => {
                let role = crate::proto::ssh::Role::Server;
                match crate::proto::ssh::SshSideRecord::from_stream(prefix, role) {
                    Err(crate::proto::ssh::SshError::Incomplete { .. }) => Progress::NeedMore,
                    side => {
                        if let Ok(side) = side {
                            summary.ssh.get_or_insert_with(Default::default).server = Some(side);
                        }
                        summary.anomalies.push(
                            LAYER,
                            "protocol_mismatch",
                            Some(dir),
                            Some("the server answered with an SSH banner"),
                            ts,
                        );
                        Progress::Done
                    }
                }
            }
            Err(e) => {
                let kind = match dir {
                    Direction::ToServer => "malformed_request",
                    Direction::ToClient => "malformed_response",
                };
                summary
                    .anomalies
                    .push(LAYER, kind, Some(dir), Some(&e.to_string()), ts);
                Progress::Done
            }
        }
    }
}

impl HttpStream {
    /// The proxy's answer to a CONNECT: a 2xx opens the tunnel (RFC 9110
    /// §15.3), whose TLS starts after each head.
    fn connect_response(
        &mut self,
        req_end: usize,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        let status = match parse_status(prefix) {
            Ok(s) => s.status,
            Err(HttpError::Incomplete) => return Progress::NeedMore,
            Err(_) => return Progress::Done,
        };
        let rec = summary.http.get_or_insert_with(HttpRecord::default);
        rec.status = Some(status);
        self.response_seen = true;
        if !(200..300).contains(&status) {
            return Progress::Done;
        }
        let Some(resp_end) = head_end(prefix) else {
            return if prefix.len() >= MAX_CONNECT_RESPONSE {
                Progress::Done
            } else {
                Progress::NeedMore
            };
        };
        let tls = self.inner.insert(TlsStream::starting_at(req_end, resp_end));
        tls.on_stream(Direction::ToClient, prefix, ts, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::tests::{CURL_GET, NEWEGG_200, NEWEGG_CONNECT};
    use super::*;
    use crate::testutil::hex;

    fn cx() -> FlowCx {
        FlowCx {
            src_port: 50000,
            dst_port: 8080,
            ip_proto: 6,
        }
    }

    #[test]
    fn probe_methods_and_status() {
        assert_eq!(probe(&cx(), Direction::ToServer, b"CONN"), Probe::NeedMore);
        assert_eq!(
            probe(&cx(), Direction::ToServer, b"CONNECT x"),
            Probe::Match
        );
        assert_eq!(
            probe(&cx(), Direction::ToServer, b"SSH-2.0"),
            Probe::NoMatch
        );
        assert_eq!(
            probe(&cx(), Direction::ToClient, b"HTTP/1.1 200"),
            Probe::Match
        );
        assert_eq!(
            probe(&cx(), Direction::ToClient, b"RFB 003"),
            Probe::NoMatch
        );
    }

    #[test]
    fn connect_tunnel_record() {
        let mut s = AppSummary::default();
        let mut h = HttpStream::new();
        let req = hex(NEWEGG_CONNECT);
        assert_eq!(
            h.on_stream(Direction::ToServer, &req[..40], Timestamp(0), &mut s),
            Progress::NeedMore
        );
        // A whole CONNECT: the client's stream is kept, since the tunnel's
        // TLS follows once the proxy grants it (RFC 9110 §9.3.6).
        assert_eq!(
            h.on_stream(Direction::ToServer, &req, Timestamp(0), &mut s),
            Progress::NeedMore
        );
        let resp = hex(NEWEGG_200);
        h.on_stream(Direction::ToClient, &resp, Timestamp(1), &mut s);
        let r = s.http.unwrap();
        assert_eq!(r.method.as_deref(), Some("CONNECT"));
        assert_eq!(r.connect_target.as_deref(), Some("secure.newegg.com:443"));
        assert_eq!(r.host.as_deref(), Some("secure.newegg.com:443"));
        assert_eq!(r.status, Some(200));
        assert_eq!(r.version.as_deref(), Some("HTTP/1.1"));
        assert!(r.user_agent.unwrap().starts_with("Mozilla/5.0 (Macintosh"));
    }

    #[test]
    fn curl_record_and_malformed() {
        let mut s = AppSummary::default();
        HttpStream::new().on_stream(Direction::ToServer, &hex(CURL_GET), Timestamp(0), &mut s);
        let r = s.http.as_ref().unwrap();
        assert_eq!(r.user_agent.as_deref(), Some("curl/7.88.1"));
        assert_eq!(r.connect_target, None);
        let json = serde_json::to_string(r).unwrap();
        assert_eq!(
            json,
            r#"{"method":"GET","host":"10.77.0.1:8000","uri":"/index.html","user_agent":"curl/7.88.1","version":"HTTP/1.1"}"#
        );
        let mut s = AppSummary::default();
        let p = HttpStream::new().on_stream(
            Direction::ToServer,
            b"GET /x SPDY/3\r\n\r\n",
            Timestamp(0),
            &mut s,
        );
        assert_eq!(p, Progress::Done);
        assert_eq!(s.anomalies.kept[0].kind, "malformed_request");
    }
}
