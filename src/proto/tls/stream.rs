//! TLS over a TCP stream (or any stream that turns into TLS at a known
//! offset: RDP after its X.224 negotiation, VNC's VeNCrypt): the state
//! kept between feeds, and the owned [`TlsRecord`] a flow keeps.
//!
//! Each direction is parsed from its first TLS byte whenever its prefix
//! grows; the parse is bounded by the prefix cap, and a direction is done
//! once its hello was parsed or found malformed.

use serde::Serialize;

use super::ja3::{ja3_hash, ja3_string, ja3s_string};
use super::ja4::{ja4, Transport};
use super::parser::{ClientHello, ServerHello, TlsError};
use super::types::{ContentType, ExtensionType, HandshakeType, ProtocolVersion};
use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{wire_text, AppSummary, FlowCx, Probe, Progress};

/// Longest SNI kept (RFC 6066 §3: a DNS host name, at most 255 bytes).
pub const MAX_SNI_LEN: usize = 255;
/// Most ALPN protocols kept, and the longest of each.
pub const MAX_ALPN: usize = 8;
pub const MAX_ALPN_LEN: usize = 64;
/// Most ClientHellos fingerprinted per flow (HelloRetryRequest gives two).
pub const MAX_HELLOS: usize = 4;

const LAYER: &str = "tls";

/// The fingerprints and names of one ClientHello.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientHelloRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    pub ja3: String,
    pub ja4: String,
}

/// What a flow's TLS handshake showed (the `tls` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsRecord {
    /// server_name of the first ClientHello (RFC 6066 §3), lossy UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// ALPN protocols the client offered (RFC 7301), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    /// The protocol version the server chose: `"TLS 1.3"`, `"TLS 1.2"`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The cipher suite the server chose, as `0x1301`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3_string: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3s: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja3s_string: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4: Option<String>,
    /// The leaf certificate's subject and issuer (TLS 1.2 and older show
    /// them in clear).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_issuer: Option<String>,
    /// Every ClientHello of the flow when there were several
    /// (HelloRetryRequest), the first included.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_hellos: Vec<ClientHelloRecord>,
    /// The JA3S of every ServerHello when there were several (a
    /// HelloRetryRequest first); `ja3s` is the last one's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub server_hellos_ja3s: Vec<String>,
}

impl TlsRecord {
    /// Fill in the client fields from one ClientHello.
    pub fn add_client_hello(&mut self, ch: &ClientHello<'_>, transport: Transport) {
        let mut text = String::with_capacity(512);
        ja3_string(ch, &mut text);
        let hello = ClientHelloRecord {
            sni: ch.sni().map(|s| wire_text(s, MAX_SNI_LEN)),
            alpn: ch
                .alpn()
                .map(|l| {
                    l.iter()
                        .take(MAX_ALPN)
                        .map(|p| wire_text(p, MAX_ALPN_LEN))
                        .collect()
                })
                .unwrap_or_default(),
            ja3: ja3_hash(&text).as_str().to_owned(),
            ja4: ja4(ch, transport, &mut Vec::new()).as_str().to_owned(),
        };
        if self.ja3.is_none() {
            self.sni = hello.sni.clone();
            self.alpn = hello.alpn.clone();
            self.ja3 = Some(hello.ja3.clone());
            self.ja3_string = Some(text);
            self.ja4 = Some(hello.ja4.clone());
        }
        if self.client_hellos.len() < MAX_HELLOS {
            self.client_hellos.push(hello);
        }
    }

    /// Fill in the server fields from the ServerHello.
    pub fn add_server_hello(&mut self, sh: &ServerHello<'_>) {
        let chosen = sh.supported_version().unwrap_or(sh.legacy_version);
        self.version = Some(version_name(chosen));
        self.cipher = Some(format!("0x{:04x}", sh.cipher_suite.0));
        let mut text = String::with_capacity(64);
        ja3s_string(sh, &mut text);
        let hash = ja3_hash(&text).as_str().to_owned();
        if self.server_hellos_ja3s.len() < MAX_HELLOS {
            self.server_hellos_ja3s.push(hash.clone());
        }
        self.ja3s = Some(hash);
        self.ja3s_string = Some(text);
    }

    /// The list of hellos is only worth writing when there were several.
    pub fn finish(&mut self) {
        if self.client_hellos.len() < 2 {
            self.client_hellos.clear();
        }
        if self.server_hellos_ja3s.len() < 2 {
            self.server_hellos_ja3s.clear();
        }
    }
}

/// `"TLS 1.2"` and the like (Suricata's spelling), or the hex code point.
pub fn version_name(v: ProtocolVersion) -> String {
    match v {
        ProtocolVersion::SSL_2_0 => "SSLv2".into(),
        ProtocolVersion::SSL_3_0 => "SSLv3".into(),
        ProtocolVersion::TLS_1_0 => "TLS 1.0".into(),
        ProtocolVersion::TLS_1_1 => "TLS 1.1".into(),
        ProtocolVersion::TLS_1_2 => "TLS 1.2".into(),
        ProtocolVersion::TLS_1_3 => "TLS 1.3".into(),
        v => format!("0x{:04x}", v.0),
    }
}

/// Does this direction start like TLS? A handshake record header (RFC 8446
/// §5.1: type 22, major version 3) and a hello of the right kind.
pub fn probe(_cx: &FlowCx, dir: Direction, bytes: &[u8]) -> Probe {
    // A client opens with a ClientHello. A ServerHello opens the server's
    // side when the client's hello was not TLS-framed (SSLv2-compatible
    // hellos) or not captured (asymmetric routing); a warning alert may
    // precede it (RFC 6066 §3's unrecognized_name).
    let want = match dir {
        Direction::ToServer => HandshakeType::CLIENT_HELLO,
        Direction::ToClient => HandshakeType::SERVER_HELLO,
    };
    let at = match dir {
        Direction::ToClient => skip_records(bytes, &[ALERT]).unwrap_or(0),
        Direction::ToServer => 0,
    };
    let bytes = bytes.get(at..).unwrap_or(&[]);
    let header = [HANDSHAKE, 0x03];
    let n = bytes.len().min(header.len());
    if bytes.get(..n) != header.get(..n) {
        return Probe::NoMatch;
    }
    match bytes.get(5) {
        None => Probe::NeedMore,
        Some(&t) if t == want.0 => Probe::Match,
        Some(_) => Probe::NoMatch,
    }
}

const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;

/// One flow's TLS parse state. `base` is where TLS starts in each
/// direction's stream (0 for TLS on its own port).
#[derive(Debug, Default)]
pub struct TlsStream {
    base: [usize; 2],
    done: [bool; 2],
    /// Where the client's next handshake record starts, after the first
    /// hello (to find a second ClientHello after a HelloRetryRequest).
    next_client: usize,
    hellos: usize,
    server_hellos: usize,
    /// Reassembly buffer for hellos split over several records.
    scratch: Vec<u8>,
    /// When the last ClientHello not answered yet was complete (the
    /// server's reply time, `app_rtt`).
    client_hello_at: Option<Timestamp>,
    /// When the first server segment with payload after that hello
    /// arrived (from `on_packet`, or from the stream for TLS inside
    /// another protocol).
    server_reply_at: Option<Timestamp>,
    /// The client's last hello, waiting for the client's next record (the
    /// client's reply time, `app_rtt`).
    awaiting: Option<AwaitingClient>,
    /// Server segments with payload seen by [`TlsStream::on_packet`], and
    /// the time of the last one.
    server_packets: u32,
    last_server_at: Option<Timestamp>,
    server_walk: ServerWalk,
    last_ts: Timestamp,
}

/// A ClientHello whose next client record will be the client's reply to
/// the server's flight (or to a HelloRetryRequest).
#[derive(Debug, Clone, Copy)]
struct AwaitingClient {
    /// Stream offset where the hello's records end.
    end: usize,
    /// `server_packets` when the hello was complete: the reply must come
    /// after server bytes that came after the hello.
    server_packets: u32,
    /// The hello offered 0-RTT (RFC 8446 §4.2.10): the client may send
    /// early data without waiting for the server.
    early_data: bool,
}

impl TlsStream {
    /// TLS starting at byte 0 of both directions.
    pub fn new() -> TlsStream {
        TlsStream::default()
    }

    /// TLS starting at `to_server`/`to_client` bytes into the streams
    /// (after another protocol's negotiation).
    pub fn starting_at(to_server: usize, to_client: usize) -> TlsStream {
        TlsStream {
            base: [to_server, to_client],
            next_client: to_server,
            ..TlsStream::default()
        }
    }

    /// Feed the whole contiguous prefix of `dir`.
    pub fn on_stream(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        let d = dir.index();
        if self.done.get(d).copied().unwrap_or(true) {
            return Progress::Done;
        }
        let progress = match dir {
            Direction::ToServer => self.client(prefix, ts, summary),
            Direction::ToClient => self.server(prefix, ts, summary),
        };
        if progress == Progress::Done {
            if let Some(x) = self.done.get_mut(d) {
                *x = true;
            }
        }
        progress
    }

    /// Every packet of the flow with a payload (the dispatcher calls it
    /// after `on_stream`, also for TLS inside RDP, VNC, HTTP CONNECT, SOCKS
    /// and NX): the server's segments, for the time its flight ended. A
    /// TlsStream never told measures no client reply.
    pub fn on_packet(&mut self, dir: Direction, ts: Timestamp) {
        if dir == Direction::ToClient {
            self.server_packets = self.server_packets.saturating_add(1);
            self.last_server_at = Some(ts);
            // The server's reply may start with a segment that came ahead
            // of a lost or reordered one (its stream grows later).
            if self.client_hello_at.is_some() && self.server_reply_at.is_none() {
                self.server_reply_at = Some(ts);
            }
        }
    }

    /// The client's stream grew at `ts` past the end of its last hello:
    /// the first segment of its next record. A strict reply when server
    /// bytes came between (the first flight's end, or a HelloRetryRequest)
    /// and no early data was offered: the ClientKeyExchange, Certificate or
    /// Finished that follows a hello needs the server's whole flight (RFC
    /// 5246 §7.3, RFC 8446 §4.4.4), and a second ClientHello the
    /// HelloRetryRequest (RFC 8446 §4.1.4). The request time is the last
    /// server segment before it.
    fn client_reply(&mut self, prefix_len: usize, ts: Timestamp, summary: &mut AppSummary) {
        let Some(a) = self.awaiting else { return };
        if prefix_len <= a.end {
            return;
        }
        self.awaiting = None;
        if a.early_data || self.server_packets <= a.server_packets {
            return;
        }
        if let Some(at) = self.last_server_at {
            summary.app_rtt.record(Direction::ToServer, at, ts);
        }
    }

    fn client(&mut self, prefix: &[u8], ts: Timestamp, summary: &mut AppSummary) -> Progress {
        self.client_reply(prefix.len(), ts, summary);
        loop {
            let from = prefix.get(self.next_client..).unwrap_or(&[]);
            let Some(skipped) = skip_records(from, &[CHANGE_CIPHER_SPEC]) else {
                return Progress::Done;
            };
            let at = self.next_client + skipped;
            let stream = prefix.get(at..).unwrap_or(&[]);
            if stream.is_empty() {
                return Progress::NeedMore;
            }
            let mut scratch = std::mem::take(&mut self.scratch);
            let parsed =
                super::parser::first_hello(stream, HandshakeType::CLIENT_HELLO, &mut scratch)
                    .and_then(|hs| ClientHello::parse(hs.body));
            let outcome = match parsed {
                Ok(ch) => {
                    let early_data = ch.extensions().get(ExtensionType::EARLY_DATA).is_some();
                    if ch.sni().is_some_and(is_ip_literal) {
                        summary.anomalies.push(
                            LAYER,
                            "sni_ip_literal",
                            Some(Direction::ToServer),
                            ch.sni().map(|s| String::from_utf8_lossy(s)).as_deref(),
                            ts,
                        );
                    }
                    let tls = summary.tls.get_or_insert_with(TlsRecord::default);
                    tls.add_client_hello(&ch, Transport::Tcp);
                    Ok(early_data)
                }
                Err(e) => Err(e),
            };
            self.scratch = scratch;
            match outcome {
                Ok(early_data) => {
                    self.hellos += 1;
                    self.client_hello_at = Some(ts);
                    self.server_reply_at = None;
                    match end_of_first_message(stream) {
                        Some(end) if self.hellos < MAX_HELLOS => {
                            self.next_client = at + end;
                            // Bytes after the hello in the same segment
                            // were sent without waiting: no reply.
                            self.awaiting =
                                (prefix.len() <= self.next_client).then_some(AwaitingClient {
                                    end: self.next_client,
                                    server_packets: self.server_packets,
                                    early_data,
                                });
                        }
                        _ => return Progress::Done,
                    }
                }
                Err(TlsError::Incomplete { .. }) => return Progress::NeedMore,
                Err(e) => {
                    // Only the first hello's failure is worth an anomaly: a
                    // later record that is not a hello is just the rest of
                    // the handshake.
                    if self.hellos == 0 {
                        summary.anomalies.push(
                            LAYER,
                            "malformed_client_hello",
                            Some(Direction::ToServer),
                            Some(&e.to_string()),
                            ts,
                        );
                    }
                    return Progress::Done;
                }
            }
        }
    }

    /// The server's handshake messages in order (RFC 5246 §7.3): the
    /// ServerHello, then in TLS 1.2 and older the Certificate in clear
    /// (§7.4.2). New complete records are gathered once each, so a stream
    /// fed byte by byte costs linear time.
    fn server(&mut self, prefix: &[u8], ts: Timestamp, summary: &mut AppSummary) -> Progress {
        let stream = prefix.get(self.base[1]..).unwrap_or(&[]);
        self.last_ts = ts;
        if self.client_hello_at.is_some() && self.server_reply_at.is_none() {
            self.server_reply_at = Some(ts);
        }
        let w = &mut self.server_walk;
        if let Err(e) = w.gather(stream) {
            if !w.seen_hello {
                summary.anomalies.push(
                    LAYER,
                    "malformed_server_hello",
                    Some(Direction::ToClient),
                    Some(&e.to_string()),
                    ts,
                );
                return Progress::Done;
            }
            w.ended = true;
        }
        let mut resume = false;
        while let Some(hdr) = w.hs.get(w.msg_at..w.msg_at + HANDSHAKE_HEADER_LEN) {
            let msg_type = hdr.first().copied().unwrap_or(0);
            let len = hdr.get(1..4).map_or(0, |b| {
                b.iter().fold(0usize, |a, &x| a << 8 | usize::from(x))
            });
            let body_at = w.msg_at + HANDSHAKE_HEADER_LEN;
            let body = w.hs.get(body_at..body_at + len);
            if !w.seen_hello {
                if msg_type != HandshakeType::SERVER_HELLO.0 {
                    summary.anomalies.push(
                        LAYER,
                        "malformed_server_hello",
                        Some(Direction::ToClient),
                        Some("TLS: malformed first handshake message type at offset 5"),
                        ts,
                    );
                    return Progress::Done;
                }
                let Some(body) = body else { break };
                match ServerHello::parse(body) {
                    Ok(sh)
                        if sh.random == HELLO_RETRY_RANDOM && self.server_hellos < MAX_HELLOS =>
                    {
                        // RFC 8446 §4.1.4: a HelloRetryRequest; the client
                        // sends a second ClientHello and the server a real
                        // ServerHello, after a ChangeCipherSpec in
                        // middlebox-compatibility mode (§D.4).
                        let tls = summary.tls.get_or_insert_with(TlsRecord::default);
                        tls.add_server_hello(&sh);
                        self.server_hellos += 1;
                        server_replied(
                            &mut self.client_hello_at,
                            &mut self.server_reply_at,
                            ts,
                            summary,
                        );
                        w.skip_ccs = true;
                        // The ChangeCipherSpec that follows may already
                        // have ended the walk: resume after it (below).
                        resume = w.ended;
                    }
                    Ok(sh) => {
                        let tls = summary.tls.get_or_insert_with(TlsRecord::default);
                        tls.add_server_hello(&sh);
                        w.seen_hello = true;
                        server_replied(
                            &mut self.client_hello_at,
                            &mut self.server_reply_at,
                            ts,
                            summary,
                        );
                        // TLS 1.3 encrypts everything after the ServerHello
                        // (RFC 8446 §2).
                        if sh.supported_version() == Some(ProtocolVersion::TLS_1_3) {
                            return Progress::Done;
                        }
                    }
                    Err(e) => {
                        summary.anomalies.push(
                            LAYER,
                            "malformed_server_hello",
                            Some(Direction::ToClient),
                            Some(&e.to_string()),
                            ts,
                        );
                        return Progress::Done;
                    }
                }
            } else if msg_type == HANDSHAKE_CERTIFICATE {
                w.cert_started = true;
                let partial = w.hs.get(body_at..).unwrap_or(&[]);
                match super::cert::leaf_of_certificate_message(partial) {
                    None if body.is_some() => return Progress::Done,
                    None => break,
                    Some(leaf) => {
                        w.cert_done = true;
                        let parsed = leaf.and_then(super::cert::names);
                        match parsed {
                            Ok(n) => {
                                let tls = summary.tls.get_or_insert_with(TlsRecord::default);
                                tls.cert_subject = Some(n.subject);
                                tls.cert_issuer = Some(n.issuer);
                            }
                            Err(e) => summary.anomalies.push(
                                LAYER,
                                "malformed_certificate",
                                Some(Direction::ToClient),
                                Some(&e.to_string()),
                                ts,
                            ),
                        }
                        return Progress::Done;
                    }
                }
            } else if msg_type == HANDSHAKE_SERVER_HELLO_DONE {
                // No Certificate (anonymous or PSK suites).
                return Progress::Done;
            }
            if body.is_none() {
                break;
            }
            w.msg_at = body_at + len;
            if std::mem::take(&mut resume) {
                w.ended = false;
                let _ = w.gather(stream);
            }
        }
        if w.ended {
            return Progress::Done;
        }
        Progress::NeedMore
    }

    /// The server's Certificate message began but its leaf did not fit in
    /// what was reassembled (the stream prefix cap, or the flow ended).
    pub fn certificate_cut(&self) -> bool {
        self.server_walk.cert_started && !self.server_walk.cert_done
    }

    /// Capture time of the last server bytes fed.
    pub fn last_ts(&self) -> Timestamp {
        self.last_ts
    }
}

/// A ServerHello or HelloRetryRequest answered the last ClientHello
/// (`hello_at`): the server's reply time, from that hello's last segment to
/// the first server segment after it (`reply_at`; RFC 8446 §4.1.3: the
/// ServerHello answers the hello). Both are consumed.
fn server_replied(
    hello_at: &mut Option<Timestamp>,
    reply_at: &mut Option<Timestamp>,
    ts: Timestamp,
    summary: &mut AppSummary,
) {
    if let Some(at) = hello_at.take() {
        let reply = reply_at.take().unwrap_or(ts);
        summary.app_rtt.record(Direction::ToClient, at, reply);
    }
}

/// RFC 5246 §7.4: handshake header length and the message types read
/// after the ServerHello.
const HANDSHAKE_HEADER_LEN: usize = 4;
const HANDSHAKE_CERTIFICATE: u8 = 11;
const HANDSHAKE_SERVER_HELLO_DONE: u8 = 14;
/// Most handshake bytes gathered from the server (the stream prefix is the
/// real bound; this one holds if a caller feeds more).
const MAX_SERVER_HANDSHAKE: usize = 64 * 1024;

/// The server direction's handshake bytes, gathered record by record.
#[derive(Debug, Default)]
struct ServerWalk {
    /// Offset of the next unread record in the stream.
    rec_at: usize,
    /// Handshake-record fragments so far, concatenated (RFC 5246 §6.2.1:
    /// messages may span or share records).
    hs: Vec<u8>,
    /// Offset of the next unread message in `hs`.
    msg_at: usize,
    /// A record other than handshake came (ChangeCipherSpec...): no more
    /// handshake bytes in clear.
    ended: bool,
    seen_hello: bool,
    /// A HelloRetryRequest came: a ChangeCipherSpec before the real
    /// ServerHello does not end the handshake in clear.
    skip_ccs: bool,
    cert_started: bool,
    cert_done: bool,
}

impl ServerWalk {
    /// Append the handshake fragments of the complete records not read yet.
    fn gather(&mut self, stream: &[u8]) -> Result<(), TlsError> {
        while !self.ended {
            let rest = stream.get(self.rec_at..).unwrap_or(&[]);
            match super::parser::Record::parse(rest) {
                Ok((rec, used)) => {
                    self.rec_at += used;
                    // Alerts may come at any time (RFC 5246 §7.2; servers
                    // send a warning unrecognized_name before the
                    // ServerHello): skipped. ChangeCipherSpec or
                    // application data end the handshake in clear.
                    if rec.content_type == ContentType::ALERT
                        || (self.skip_ccs && rec.content_type == ContentType::CHANGE_CIPHER_SPEC)
                    {
                        continue;
                    }
                    if rec.content_type != ContentType::HANDSHAKE
                        || self.hs.len() + rec.fragment.len() > MAX_SERVER_HANDSHAKE
                    {
                        self.ended = true;
                    } else {
                        self.hs.extend_from_slice(rec.fragment);
                    }
                }
                Err(TlsError::Incomplete { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The `random` of a HelloRetryRequest: SHA-256 of "HelloRetryRequest"
/// (RFC 8446 §4.1.3).
const HELLO_RETRY_RANDOM: &[u8] = &[
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Skip whole records of the `skip` content types (a ChangeCipherSpec
/// before a second ClientHello, RFC 8446 §D.4; a warning alert before a
/// ServerHello) to the next handshake record or the end of the bytes.
/// `None` when the stream goes on with anything else (encrypted data).
fn skip_records(stream: &[u8], skip: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    loop {
        match stream.get(at) {
            None | Some(&HANDSHAKE) => return Some(at),
            Some(t) if skip.contains(t) => match super::parser::Record::parse(stream.get(at..)?) {
                Ok((_, used)) => at += used,
                Err(TlsError::Incomplete { .. }) => return Some(at),
                Err(_) => return None,
            },
            Some(_) => return None,
        }
    }
}

/// Where the records holding the first handshake message of `stream` end,
/// if it ends at a record boundary (it does for every hello seen in
/// practice; one that shares a record with the next message ends the walk).
fn end_of_first_message(stream: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    let mut need: Option<usize> = None;
    let mut got = 0usize;
    while let Ok((rec, used)) = super::parser::Record::parse(stream.get(at..)?) {
        if rec.content_type.0 != HANDSHAKE {
            return None;
        }
        if need.is_none() {
            let len = rec.fragment.get(1..4)?;
            need = Some(
                4 + (usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2])),
            );
        }
        got += rec.fragment.len();
        at += used;
        match need {
            Some(n) if got == n => return Some(at),
            Some(n) if got > n => return None,
            _ => {}
        }
    }
    None
}

/// An SNI that is an IPv4 or IPv6 literal (RFC 6066 §3 forbids it).
fn is_ip_literal(sni: &[u8]) -> bool {
    std::str::from_utf8(sni)
        .ok()
        .and_then(|s| s.parse::<std::net::IpAddr>().ok())
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_follow_suricata() {
        assert_eq!(version_name(ProtocolVersion::TLS_1_3), "TLS 1.3");
        assert_eq!(version_name(ProtocolVersion(0x7f1c)), "0x7f1c");
    }

    #[test]
    fn probe_wants_a_client_hello_record() {
        let cx = FlowCx {
            src_port: 40000,
            dst_port: 443,
            ip_proto: 6,
        };
        assert_eq!(
            probe(&cx, Direction::ToServer, &[0x16, 0x03, 0x01]),
            Probe::NeedMore
        );
        assert_eq!(
            probe(
                &cx,
                Direction::ToServer,
                &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]
            ),
            Probe::Match
        );
        assert_eq!(
            probe(&cx, Direction::ToServer, b"GET / HTTP/1.1"),
            Probe::NoMatch
        );
        // A ServerHello (RFC 8446 §4.1.3) opens the server side...
        assert_eq!(
            probe(
                &cx,
                Direction::ToClient,
                &[0x16, 0x03, 0x03, 0x00, 0x40, 0x02]
            ),
            Probe::Match
        );
        // ... also after a warning alert (level 1, unrecognized_name 112).
        let alert_first = [
            0x15, 0x03, 0x01, 0x00, 0x02, 0x01, 0x70, 0x16, 0x03, 0x01, 0x00, 0x40, 0x02,
        ];
        assert_eq!(probe(&cx, Direction::ToClient, &alert_first), Probe::Match);
        assert_eq!(
            probe(&cx, Direction::ToClient, b"SSH-2.0-x\r\n"),
            Probe::NoMatch
        );
    }

    use crate::testutil::hex;

    fn ms(n: i64) -> Timestamp {
        Timestamp(n * 1_000_000)
    }

    /// Chrome's ClientHello, the server's TLS 1.3 ServerHello (real bytes,
    /// see `samples`), and a client ChangeCipherSpec after them.
    fn chrome_then_server(ch_extra: &[u8]) -> (TlsStream, AppSummary, Vec<u8>, Vec<u8>) {
        let mut ch = hex(super::super::samples::CHROME_CLIENT_HELLO);
        ch.extend_from_slice(ch_extra);
        let sh = hex(super::super::samples::TLS13_SERVER_HELLO);
        (TlsStream::new(), AppSummary::default(), ch, sh)
    }

    /// The dispatcher's order: `on_stream` then `on_packet`, per segment.
    fn segment(s: &mut TlsStream, sum: &mut AppSummary, dir: Direction, p: &[u8], t: Timestamp) {
        s.on_stream(dir, p, t, sum);
        s.on_packet(dir, t);
    }

    const CCS: [u8; 6] = [20, 3, 3, 0, 1, 1];

    #[test]
    fn client_reply_runs_from_the_last_server_segment() {
        let (mut s, mut sum, ch, sh) = chrome_then_server(&[]);
        segment(&mut s, &mut sum, Direction::ToServer, &ch, ms(0));
        let mut srv = sh.clone();
        segment(&mut s, &mut sum, Direction::ToClient, &srv, ms(30));
        srv.extend_from_slice(&[23; 100]); // the encrypted rest of the flight
        segment(&mut s, &mut sum, Direction::ToClient, &srv, ms(31));
        let mut cli = ch.clone();
        cli.extend_from_slice(&CCS);
        segment(&mut s, &mut sum, Direction::ToServer, &cli, ms(45));
        assert_eq!(sum.app_rtt.server_reply_ns, Some(30_000_000));
        assert_eq!(sum.app_rtt.client_reply_ns, Some(14_000_000));
        assert_eq!(sum.app_rtt.samples, 2);
    }

    #[test]
    fn client_records_sent_without_waiting_are_not_replies() {
        // In the hello's own segment (a CCS right after the ClientHello,
        // RFC 8446 §D.4's other place for it).
        let (mut s, mut sum, ch, sh) = chrome_then_server(&CCS);
        segment(&mut s, &mut sum, Direction::ToServer, &ch, ms(0));
        segment(&mut s, &mut sum, Direction::ToClient, &sh, ms(30));
        let mut cli = ch.clone();
        cli.extend_from_slice(&[23; 40]);
        segment(&mut s, &mut sum, Direction::ToServer, &cli, ms(45));
        assert_eq!(sum.app_rtt.client_reply_ns, None);
        // In a later segment, but before any server byte (early data).
        let (mut s, mut sum, ch, sh) = chrome_then_server(&[]);
        segment(&mut s, &mut sum, Direction::ToServer, &ch, ms(0));
        let mut cli = ch.clone();
        cli.extend_from_slice(&[23; 40]);
        segment(&mut s, &mut sum, Direction::ToServer, &cli, ms(1));
        segment(&mut s, &mut sum, Direction::ToClient, &sh, ms(30));
        assert_eq!(sum.app_rtt.client_reply_ns, None);
        assert_eq!(sum.app_rtt.server_reply_ns, Some(30_000_000));
    }

    #[test]
    fn sni_literals() {
        assert!(is_ip_literal(b"192.0.2.1"));
        assert!(is_ip_literal(b"2001:db8::1"));
        assert!(!is_ip_literal(b"example.com"));
    }
}
