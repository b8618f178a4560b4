//! The contract between the flow table and the dissectors: what a dissector
//! is told about a flow ([`FlowCx`]), what it answers ([`Probe`],
//! [`Progress`]), and the owned record it fills in ([`AppSummary`]), which
//! the flow keeps and the `flow`, `session` and `anomaly` events carry.
//!
//! Every record here is owned and capped: a flow's application state never
//! grows with what a hostile peer sends.

use serde::Serialize;

use crate::capture::Timestamp;
use crate::flow::Direction;

/// The application protocol a flow was recognised as (`app_proto`).
///
/// These are wire protocols. Which product speaks them (AnyDesk,
/// GlobalProtect...) is the catalogue's answer, in [`RemoteAccess`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppProto {
    Tls,
    /// TLS inside QUIC (RFC 9001).
    Quic,
    Dtls,
    Ssh,
    Rdp,
    /// RDP's UDP transport (MS-RDPEUDP).
    RdpUdp,
    Vnc,
    Http,
    Dns,
    Dhcp,
    Dhcpv6,
    WireGuard,
    OpenVpn,
    Ike,
    L2tp,
    Pptp,
    Socks,
    /// A protocol recognised by a payload signature of the catalogue (a
    /// remote-desktop tool's own framing): the catalogue's protocol name.
    Other(&'static str),
}

impl AppProto {
    /// The `app_proto` string (Suricata's names where it has them).
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Tls => "tls",
            AppProto::Quic => "quic",
            AppProto::Dtls => "dtls",
            AppProto::Ssh => "ssh",
            AppProto::Rdp => "rdp",
            AppProto::RdpUdp => "rdpudp",
            AppProto::Vnc => "vnc",
            AppProto::Http => "http",
            AppProto::Dns => "dns",
            AppProto::Dhcp => "dhcp",
            AppProto::Dhcpv6 => "dhcpv6",
            AppProto::WireGuard => "wireguard",
            AppProto::OpenVpn => "openvpn",
            AppProto::Ike => "ike",
            AppProto::L2tp => "l2tp",
            AppProto::Pptp => "pptp",
            AppProto::Socks => "socks",
            AppProto::Other(name) => name,
        }
    }
}

impl Serialize for AppProto {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// What a dissector needs to know about the flow it is fed.
#[derive(Debug, Clone, Copy)]
pub struct FlowCx {
    /// The initiator's port (oriented: `src` is the initiator).
    pub src_port: u16,
    /// The responder's port.
    pub dst_port: u16,
    /// 6 (TCP) or 17 (UDP).
    pub ip_proto: u8,
}

impl FlowCx {
    /// Either end uses `port`.
    pub fn has_port(&self, port: u16) -> bool {
        self.src_port == port || self.dst_port == port
    }
}

/// A dissector's answer to "is this flow yours?", given the first bytes of
/// one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Certainly (a magic value, a well-formed header on its port...).
    Match,
    /// Certainly not.
    NoMatch,
    /// Cannot tell from these bytes; ask again when more arrive.
    NeedMore,
}

/// A stream dissector's answer after being fed one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Keep reassembling this direction and feed it again when it grows.
    NeedMore,
    /// Nothing more is wanted from this direction's bytes: its reassembly
    /// buffer is released. (Per-packet timing still arrives through
    /// `on_packet`.)
    Done,
}

/// Most names `remote_names` carries.
pub const MAX_REMOTE_NAMES: usize = 4;

/// Most anomalies one flow keeps; later ones are only counted.
pub const MAX_ANOMALIES: usize = 8;
/// Longest `detail` text an anomaly keeps, in bytes.
pub const MAX_ANOMALY_DETAIL: usize = 128;

/// A protocol oddity worth a look but not an alert (issue 3's `anomaly`
/// event): an IP literal as SNI, a banner over its cap, a malformed
/// handshake...
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// The layer that saw it: `"tls"`, `"ssh"`, `"tcp"`, `"rdp"`...
    pub layer: &'static str,
    /// A stable snake_case name: `"sni_ip_literal"`, `"malformed_handshake"`.
    pub kind: &'static str,
    /// The direction whose bytes showed it, if one did.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_dir")]
    pub dir: Option<Direction>,
    /// What exactly (a field name and offset, the offending value), capped
    /// at [`MAX_ANOMALY_DETAIL`] bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Capture time of the packet that showed it.
    #[serde(skip)]
    pub ts: Timestamp,
}

fn ser_dir<S: serde::Serializer>(d: &Option<Direction>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(Direction::ToServer) => s.serialize_str("to_server"),
        Some(Direction::ToClient) => s.serialize_str("to_client"),
        None => s.serialize_none(),
    }
}

/// The anomalies of one flow: at most [`MAX_ANOMALIES`] kept, the rest
/// counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnomalyList {
    pub kept: Vec<Anomaly>,
    pub dropped: u32,
}

impl AnomalyList {
    /// Record one anomaly. The same (layer, kind, dir) is kept once.
    pub fn push(
        &mut self,
        layer: &'static str,
        kind: &'static str,
        dir: Option<Direction>,
        detail: Option<&str>,
        ts: Timestamp,
    ) {
        if self
            .kept
            .iter()
            .any(|a| a.layer == layer && a.kind == kind && a.dir == dir)
        {
            return;
        }
        if self.kept.len() >= MAX_ANOMALIES {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        self.kept.push(Anomaly {
            layer,
            kind,
            dir,
            detail: detail.map(|d| capped(d, MAX_ANOMALY_DETAIL)),
            ts,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.dropped == 0
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
pub fn capped(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("").to_owned()
}

/// Text from the wire (which may not be UTF-8), lossily decoded and cut to
/// at most `max` bytes.
pub fn wire_text(b: &[u8], max: usize) -> String {
    let b = b.get(..b.len().min(max.saturating_add(3))).unwrap_or(b);
    capped(&String::from_utf8_lossy(b), max)
}

/// Application-layer round trips measured at the sensor: the gap between a
/// message of one side and the other side's reply, for replies that need
/// no user action and little computation (the dissector picks which
/// message pairs qualify). Issue 5's `relayed_session` compares these with
/// the TCP handshake RTT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AppRtt {
    /// Smallest gap where the initiator (client) replied, ns: the path from
    /// the sensor to the client and back, plus the client's turnaround.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_reply_ns: Option<u64>,
    /// Smallest gap where the responder (server) replied, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_reply_ns: Option<u64>,
    /// How many exchanges were measured.
    pub samples: u32,
}

impl AppRtt {
    /// One exchange: `request_at` was when the request was complete at the
    /// sensor, `reply_at` when the reply was; `replier` is the direction the
    /// reply travelled (`ToServer`: the client replied).
    pub fn record(&mut self, replier: Direction, request_at: Timestamp, reply_at: Timestamp) {
        // A reply stamped before its request (clock steps) is no sample.
        let Some(gap) = reply_at
            .0
            .checked_sub(request_at.0)
            .and_then(|g| u64::try_from(g).ok())
        else {
            return;
        };
        let slot = match replier {
            Direction::ToServer => &mut self.client_reply_ns,
            Direction::ToClient => &mut self.server_reply_ns,
        };
        *slot = Some(slot.map_or(gap, |g| g.min(gap)));
        self.samples = self.samples.saturating_add(1);
    }

    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }
}

/// What the catalogue says a flow is (`remote_access` in the `session`
/// event): the product, its category, and hints at who is behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RemoteAccess {
    /// The product or protocol, e.g. `"AnyDesk"`, `"RDP"`, `"OpenSSH"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `remote-desktop`, `remote-shell`, `vpn`, `tunnel`, `rmm`,
    /// `enterprise-access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'static str>,
    /// What matched: `"sni:*.anydesk.com"`, `"port:tcp/5938"`,
    /// `"protocol:rdp"`...
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// Identity hints: the RDP cookie user, a DHCP host name...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// Bytes of each direction's first payload kept for the catalogue's
/// payload signatures.
pub const FIRST_BYTES: usize = 16;

/// The first payload bytes of each direction (up to [`FIRST_BYTES`]),
/// copied once per direction: from the first non-empty stream prefix (TCP)
/// or the first datagram (UDP). Never written to events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirstBytes {
    /// Indexed by `Direction::index`.
    pub dirs: [arrayvec::ArrayVec<u8, FIRST_BYTES>; 2],
}

impl FirstBytes {
    /// Keep the start of `payload` unless this direction was filled.
    pub fn fill(&mut self, dir: Direction, payload: &[u8]) {
        if let Some(slot) = self.dirs.get_mut(dir.index()) {
            if slot.is_empty() {
                let n = payload.len().min(FIRST_BYTES);
                let _ = slot.try_extend_from_slice(payload.get(..n).unwrap_or(&[]));
            }
        }
    }

    /// The kept bytes of one direction (empty when it sent nothing).
    pub fn get(&self, dir: Direction) -> &[u8] {
        self.dirs.get(dir.index()).map_or(&[], |v| v.as_slice())
    }

    pub fn is_filled(&self, dir: Direction) -> bool {
        !self.get(dir).is_empty()
    }
}

/// Everything the dissectors learned about one flow. Created when a
/// dissector first engages; moved into the flow's summary at its end.
///
/// Each protocol's record lives in the protocol's own folder; this struct
/// only gathers them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppSummary {
    pub app_proto: Option<AppProto>,
    pub tls: Option<super::tls::TlsRecord>,
    pub ssh: Option<super::ssh::SshRecord>,
    pub rdp: Option<super::rdp::RdpRecord>,
    pub vnc: Option<super::vnc::VncRecord>,
    pub http: Option<super::http::HttpRecord>,
    pub dns: Option<super::dns::DnsRecord>,
    pub dhcp: Option<super::dhcp::DhcpRecord>,
    pub vpn: Option<super::vpn::VpnRecord>,
    pub socks: Option<super::socks::SocksRecord>,
    pub quic: Option<super::quic::QuicRecord>,
    /// Filled in by the catalogue when the flow ends.
    pub remote_access: Option<RemoteAccess>,
    /// Names the DNS answers seen before the flow ended gave for its far
    /// end (`proto::dns::NameCache`), most recent first, at most
    /// [`MAX_REMOTE_NAMES`]. Filled in when the flow ends.
    pub remote_names: Vec<String>,
    pub app_rtt: AppRtt,
    pub anomalies: AnomalyList,
    /// The first payload bytes of each direction (catalogue payload
    /// signatures); not written to events.
    pub first_bytes: FirstBytes,
}

impl AppSummary {
    /// Set `app_proto` unless a dissector already did (the outer protocol
    /// wins: RDP that upgrades to TLS stays `rdp`).
    pub fn set_proto(&mut self, p: AppProto) {
        if self.app_proto.is_none() {
            self.app_proto = Some(p);
        }
    }

    /// Nothing was learned, not even the first payload bytes the catalogue
    /// reads (a flow whose summary is empty keeps none).
    pub fn is_empty(&self) -> bool {
        self.first_bytes.dirs.iter().all(|d| d.is_empty()) && self.has_no_fields()
    }

    /// No field the events carry (first bytes aside).
    pub fn has_no_fields(&self) -> bool {
        self.app_proto.is_none()
            && self.tls.is_none()
            && self.ssh.is_none()
            && self.rdp.is_none()
            && self.vnc.is_none()
            && self.http.is_none()
            && self.dns.is_none()
            && self.dhcp.is_none()
            && self.vpn.is_none()
            && self.socks.is_none()
            && self.quic.is_none()
            && self.remote_access.is_none()
            && self.remote_names.is_empty()
            && self.anomalies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anomaly_list_is_capped_and_deduplicated() {
        let mut l = AnomalyList::default();
        let t = Timestamp(0);
        l.push("tls", "sni_ip_literal", Some(Direction::ToServer), None, t);
        l.push("tls", "sni_ip_literal", Some(Direction::ToServer), None, t);
        assert_eq!(l.kept.len(), 1);
        let kinds = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
        for k in kinds {
            l.push("x", k, None, Some(&"y".repeat(1000)), t);
        }
        assert_eq!(l.kept.len(), MAX_ANOMALIES);
        assert_eq!(l.dropped, 3);
        assert_eq!(l.kept[1].detail.as_deref().map(str::len), Some(128));
    }

    #[test]
    fn capped_keeps_char_boundaries() {
        assert_eq!(capped("aé", 2), "a");
        assert_eq!(wire_text(b"ab\xffcd", 10), "ab\u{fffd}cd");
    }

    #[test]
    fn app_rtt_keeps_the_minimum_per_side() {
        let mut r = AppRtt::default();
        r.record(Direction::ToServer, Timestamp(1_000), Timestamp(31_000));
        r.record(Direction::ToServer, Timestamp(50_000), Timestamp(60_000));
        r.record(Direction::ToClient, Timestamp(5), Timestamp(1));
        assert_eq!(r.client_reply_ns, Some(10_000));
        assert_eq!(r.server_reply_ns, None);
        assert_eq!(r.samples, 2);
    }
}
