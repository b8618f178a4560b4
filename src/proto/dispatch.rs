//! Which dissector a flow gets, and feeding it.
//!
//! A flow's [`AppState`] is created at its first payload. Until a
//! dissector claims the flow, each growing direction is shown to every
//! candidate's `probe`; the first [`Probe::Match`] engages that dissector,
//! and a flow every candidate refused (or that stays undecided for
//! [`PROBE_LIMIT`] bytes) is left alone: its reassembly buffers are freed
//! and no more work is done for it.
//!
//! Adding a protocol: a `probe` function and a state type with `on_stream`
//! (TCP) or `on_datagram` (UDP) in the protocol's folder, one entry in
//! [`STREAM_PROBES`] or [`DATAGRAM_PROBES`], and one arm in `engage` and in
//! the feeding `match`es below.

use crate::capture::Timestamp;
use crate::flow::Direction;

use super::app::{AppProto, AppSummary, FlowCx, Probe, Progress};
use super::vpn::{ike, l2tp, openvpn, pptp, wireguard};
use super::{dhcp, dns, http, nx, quic, rdp, socks, ssh, tls, vnc};

/// Bytes of one direction after which an undecided flow is left alone.
pub const PROBE_LIMIT: usize = 2048;
/// Datagrams after which an undecided UDP flow is left alone.
pub const DATAGRAM_PROBE_LIMIT: u8 = 8;

/// The candidates for TCP streams, probed in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamCandidate {
    Tls,
    Ssh,
    Socks,
    Nx,
    Rdp,
    Vnc,
    Dns,
    Http,
    Pptp,
    OpenVpn,
}

type ProbeFn = fn(&FlowCx, Direction, &[u8]) -> Probe;

const STREAM_PROBES: &[(StreamCandidate, ProbeFn)] = &[
    (StreamCandidate::Tls, tls::stream::probe),
    (StreamCandidate::Ssh, ssh::stream::probe),
    (StreamCandidate::Socks, socks::probe),
    (StreamCandidate::Nx, nx::probe),
    (StreamCandidate::Rdp, rdp::stream::probe),
    (StreamCandidate::Vnc, vnc::stream::probe),
    (StreamCandidate::Dns, dns::stream::probe_stream),
    (StreamCandidate::Http, http::stream::probe),
    (StreamCandidate::Pptp, pptp::probe),
    (StreamCandidate::OpenVpn, openvpn::probe_tcp),
];

/// The candidates for UDP datagrams, probed in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DatagramCandidate {
    Quic,
    Dtls,
    RdpUdp,
    Dns,
    Dhcp,
    Dhcpv6,
    WireGuard,
    Ike,
    L2tp,
    OpenVpn,
}

const DATAGRAM_PROBES: &[(DatagramCandidate, ProbeFn)] = &[
    (DatagramCandidate::Quic, quic::probe),
    (DatagramCandidate::Dtls, tls::dtls::probe),
    (DatagramCandidate::RdpUdp, rdp::udp::probe),
    (DatagramCandidate::Dns, dns::stream::probe_datagram),
    (DatagramCandidate::Dhcp, dhcp::probe_v4),
    (DatagramCandidate::Dhcpv6, dhcp::probe_v6),
    (DatagramCandidate::WireGuard, wireguard::probe),
    (DatagramCandidate::Ike, ike::probe),
    (DatagramCandidate::L2tp, l2tp::probe),
    (DatagramCandidate::OpenVpn, openvpn::probe_udp),
];

/// The engaged dissector of a flow.
#[derive(Debug)]
enum Engaged {
    /// Not decided yet. `ruled_out` has, per direction, a bit per candidate
    /// (by index in the probe table) whose probe refused that direction's
    /// bytes; a candidate is out when both directions refused it (a server
    /// may be recognised when its client was not: an SSLv2-style hello, a
    /// client that sent garbage before the SSH server's banner). `probes`
    /// counts datagrams probed.
    Probing {
        ruled_out: [u64; 2],
        probes: u8,
    },
    Tls(tls::stream::TlsStream),
    Ssh(ssh::stream::SshStream),
    Socks(socks::SocksStream),
    Nx(nx::NxStream),
    Rdp(rdp::stream::RdpStream),
    Vnc(vnc::stream::VncStream),
    RdpUdp(rdp::udp::RdpUdpState),
    Quic(Box<quic::QuicFlow>),
    Dtls(Box<tls::dtls::DtlsFlow>),
    /// DNS over UDP or TCP.
    Dns(dns::stream::DnsFlow),
    Http(http::stream::HttpStream),
    /// DHCPv4 or DHCPv6.
    Dhcp(dhcp::DhcpFlow),
    WireGuard(wireguard::WireGuardState),
    OpenVpn(Box<openvpn::OpenVpnState>),
    Ike(ike::IkeState),
    L2tp(l2tp::L2tpState),
    Pptp(pptp::PptpState),
    /// Nobody wanted the flow.
    Unknown,
}

/// Per-flow state of the dissectors (lives in the flow's `AppSlot`).
#[derive(Debug)]
pub struct AppState {
    engaged: Engaged,
    /// Which directions still want their stream prefix fed.
    wants: [bool; 2],
    pub summary: AppSummary,
}

/// What the flow table should do with a flow's stream after a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamWants {
    /// Keep reassembling these directions (`Direction::index`).
    pub keep: [bool; 2],
}

impl AppState {
    pub fn new() -> AppState {
        AppState {
            engaged: Engaged::Probing {
                ruled_out: [0; 2],
                probes: 0,
            },
            wants: [true, true],
            summary: AppSummary::default(),
        }
    }

    /// Nothing more will be dissected (the flow table may stop calling):
    /// no dissector wants the flow and both directions' first bytes are
    /// kept.
    pub fn is_idle(&self) -> bool {
        matches!(self.engaged, Engaged::Unknown)
            && self.summary.first_bytes.is_filled(Direction::ToServer)
            && self.summary.first_bytes.is_filled(Direction::ToClient)
    }

    /// A TCP direction's contiguous prefix grew; `prefix` is all of it and
    /// `other` the other direction's (for negotiations that need both).
    pub fn on_stream(
        &mut self,
        cx: &FlowCx,
        dir: Direction,
        prefix: &[u8],
        other: &[u8],
        ts: Timestamp,
    ) -> StreamWants {
        let d = dir.index();
        // Once per direction: a no-op after the first non-empty prefix.
        self.summary.first_bytes.fill(dir, prefix);
        if !self.wants.get(d).copied().unwrap_or(false) {
            return StreamWants { keep: self.wants };
        }
        if let Engaged::Probing { ruled_out, probes } = self.engaged {
            self.engaged = probe_stream(cx, dir, prefix, ruled_out, probes);
            if let Some(p) = self.proto_of_engaged() {
                self.summary.set_proto(p);
            }
        }
        let progress = match &mut self.engaged {
            Engaged::Probing { .. } => Progress::NeedMore,
            Engaged::Unknown => {
                // Nobody dissects the flow; a direction that has not sent
                // yet is kept only until its first bytes are copied.
                let fb = &self.summary.first_bytes;
                self.wants = [
                    !fb.is_filled(Direction::ToServer),
                    !fb.is_filled(Direction::ToClient),
                ];
                return StreamWants { keep: self.wants };
            }
            Engaged::Tls(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
            Engaged::Ssh(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
            Engaged::Socks(s) => s.on_stream(dir, prefix, other, ts, &mut self.summary),
            Engaged::Nx(s) => s.on_stream(dir, prefix, other, ts, &mut self.summary),
            Engaged::Rdp(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
            Engaged::Vnc(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
            // A datagram dissector on a stream (cannot happen): nothing to do.
            Engaged::RdpUdp(_) => Progress::Done,
            Engaged::Dns(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
            Engaged::Http(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
            Engaged::Quic(_) | Engaged::Dtls(_) | Engaged::Dhcp(_) => Progress::Done,
            Engaged::OpenVpn(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
            Engaged::Pptp(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
            // Datagram dissectors never see a stream.
            Engaged::WireGuard(_) | Engaged::Ike(_) | Engaged::L2tp(_) => Progress::Done,
        };
        if progress == Progress::Done {
            if let Some(w) = self.wants.get_mut(d) {
                *w = false;
            }
        }
        StreamWants { keep: self.wants }
    }

    /// A UDP datagram of the flow (`payload` as captured).
    pub fn on_datagram(&mut self, cx: &FlowCx, dir: Direction, payload: &[u8], ts: Timestamp) {
        self.summary.first_bytes.fill(dir, payload);
        if let Engaged::Probing { ruled_out, probes } = self.engaged {
            self.engaged = probe_datagram(cx, dir, payload, ruled_out, probes);
            if let Some(p) = self.proto_of_engaged() {
                self.summary.set_proto(p);
            }
        }
        let sum = &mut self.summary;
        match &mut self.engaged {
            Engaged::WireGuard(s) => s.on_datagram(dir, payload, ts, sum),
            Engaged::OpenVpn(s) => s.on_datagram(dir, payload, ts, sum),
            Engaged::Ike(s) => s.on_datagram(cx, dir, payload, ts, sum),
            Engaged::L2tp(s) => s.on_datagram(dir, payload, ts, sum),
            Engaged::RdpUdp(s) => s.on_datagram(dir, payload, ts, &mut self.summary),
            Engaged::Quic(q) => q.on_datagram(dir, payload, ts, &mut self.summary),
            Engaged::Dtls(d) => d.on_datagram(dir, payload, ts, &mut self.summary),
            Engaged::Dns(s) => s.on_datagram(dir, payload, ts, &mut self.summary),
            Engaged::Dhcp(s) => s.on_datagram(dir, payload, ts, &mut self.summary),
            // Stream dissectors never engage on datagrams; nothing else is
            // done for a flow nobody claimed.
            Engaged::Probing { .. }
            | Engaged::Unknown
            | Engaged::Tls(_)
            | Engaged::Ssh(_)
            | Engaged::Socks(_)
            | Engaged::Nx(_)
            | Engaged::Rdp(_)
            | Engaged::Vnc(_)
            | Engaged::Http(_)
            | Engaged::Pptp(_) => {}
        }
    }

    /// Every packet with a payload, TCP or UDP, after the table counted it
    /// (for dissectors that measure timing after their handshake).
    pub fn on_packet(&mut self, dir: Direction, payload_len: usize, ts: Timestamp) {
        if payload_len == 0 {
            return;
        }
        let tls = match &mut self.engaged {
            Engaged::Ssh(s) => {
                s.on_packet(dir, payload_len, ts, &mut self.summary);
                None
            }
            Engaged::Tls(s) => Some(s),
            Engaged::Http(s) => s.inner_tls(),
            Engaged::Socks(s) => s.inner_tls(),
            Engaged::Nx(s) => s.inner_tls(),
            Engaged::Rdp(s) => s.inner_tls(),
            Engaged::Vnc(s) => s.inner_tls(),
            _ => None,
        };
        // TLS times the end of the server's flight from these (`app_rtt`).
        if let Some(t) = tls {
            t.on_packet(dir, ts);
        }
    }

    /// The flow ended: final touches, and the record it leaves.
    pub fn finish(mut self) -> AppSummary {
        if let Some(t) = self.summary.tls.as_mut() {
            t.finish();
        }
        if let Engaged::Tls(s) = &self.engaged {
            if s.certificate_cut() {
                // The chain outgrew the reassembled prefix (or the flow
                // ended mid-handshake): the names are missing, not absent.
                self.summary.anomalies.push(
                    "tls",
                    "certificate_incomplete",
                    Some(Direction::ToClient),
                    Some("leaf certificate not complete within the stream prefix"),
                    s.last_ts(),
                );
            }
        }
        self.summary
    }

    fn proto_of_engaged(&self) -> Option<AppProto> {
        match &self.engaged {
            Engaged::Tls(_) => Some(AppProto::Tls),
            Engaged::Ssh(_) => Some(AppProto::Ssh),
            Engaged::Socks(_) => Some(AppProto::Socks),
            Engaged::Nx(_) => Some(AppProto::Other("nx")),
            Engaged::Rdp(_) => Some(AppProto::Rdp),
            Engaged::Vnc(_) => Some(AppProto::Vnc),
            Engaged::RdpUdp(_) => Some(AppProto::RdpUdp),
            Engaged::Quic(_) => Some(AppProto::Quic),
            Engaged::Dtls(_) => Some(AppProto::Dtls),
            Engaged::Dns(_) => Some(AppProto::Dns),
            Engaged::Http(_) => Some(AppProto::Http),
            Engaged::Dhcp(s) => Some(s.proto()),
            Engaged::WireGuard(_) => Some(AppProto::WireGuard),
            Engaged::OpenVpn(_) => Some(AppProto::OpenVpn),
            Engaged::Ike(_) => Some(AppProto::Ike),
            Engaged::L2tp(_) => Some(AppProto::L2tp),
            Engaged::Pptp(_) => Some(AppProto::Pptp),
            Engaged::Probing { .. } | Engaged::Unknown => None,
        }
    }
}

impl Default for AppState {
    fn default() -> Self {
        AppState::new()
    }
}

fn engage_stream(c: StreamCandidate) -> Engaged {
    match c {
        StreamCandidate::Tls => Engaged::Tls(tls::stream::TlsStream::new()),
        StreamCandidate::Ssh => Engaged::Ssh(ssh::stream::SshStream::new()),
        StreamCandidate::Socks => Engaged::Socks(socks::SocksStream::new()),
        StreamCandidate::Nx => Engaged::Nx(nx::NxStream::new()),
        StreamCandidate::Rdp => Engaged::Rdp(rdp::stream::RdpStream::new()),
        StreamCandidate::Vnc => Engaged::Vnc(vnc::stream::VncStream::new()),
        StreamCandidate::Dns => Engaged::Dns(dns::stream::DnsFlow::new()),
        StreamCandidate::Http => Engaged::Http(http::stream::HttpStream::new()),
        StreamCandidate::Pptp => Engaged::Pptp(pptp::PptpState::new()),
        StreamCandidate::OpenVpn => Engaged::OpenVpn(Box::default()),
    }
}

fn engage_datagram(c: DatagramCandidate) -> Engaged {
    match c {
        DatagramCandidate::RdpUdp => Engaged::RdpUdp(rdp::udp::RdpUdpState::new()),
        DatagramCandidate::Quic => Engaged::Quic(Box::new(quic::QuicFlow::new())),
        DatagramCandidate::Dtls => Engaged::Dtls(Box::new(tls::dtls::DtlsFlow::new())),
        DatagramCandidate::Dns => Engaged::Dns(dns::stream::DnsFlow::new()),
        DatagramCandidate::Dhcp => Engaged::Dhcp(dhcp::DhcpFlow::new(AppProto::Dhcp)),
        DatagramCandidate::Dhcpv6 => Engaged::Dhcp(dhcp::DhcpFlow::new(AppProto::Dhcpv6)),
        DatagramCandidate::WireGuard => Engaged::WireGuard(wireguard::WireGuardState::new()),
        DatagramCandidate::Ike => Engaged::Ike(ike::IkeState::new()),
        DatagramCandidate::L2tp => Engaged::L2tp(l2tp::L2tpState::new()),
        DatagramCandidate::OpenVpn => Engaged::OpenVpn(Box::default()),
    }
}

/// Run the stream probes not yet ruled out over `bytes`.
fn probe_stream(
    cx: &FlowCx,
    dir: Direction,
    bytes: &[u8],
    ruled_out: [u64; 2],
    probes: u8,
) -> Engaged {
    let limit = bytes.len() >= PROBE_LIMIT;
    probe_with(
        STREAM_PROBES,
        cx,
        dir,
        bytes,
        ruled_out,
        probes,
        limit,
        engage_stream,
    )
}

fn probe_datagram(
    cx: &FlowCx,
    dir: Direction,
    bytes: &[u8],
    ruled_out: [u64; 2],
    probes: u8,
) -> Engaged {
    let probes = probes.saturating_add(1);
    let limit = probes >= DATAGRAM_PROBE_LIMIT;
    probe_with(
        DATAGRAM_PROBES,
        cx,
        dir,
        bytes,
        ruled_out,
        probes,
        limit,
        engage_datagram,
    )
}

#[allow(clippy::too_many_arguments)]
fn probe_with<C: Copy>(
    table: &[(C, ProbeFn)],
    cx: &FlowCx,
    dir: Direction,
    bytes: &[u8],
    mut ruled_out: [u64; 2],
    probes: u8,
    limit: bool,
    engage: fn(C) -> Engaged,
) -> Engaged {
    if bytes.is_empty() {
        return Engaged::Probing { ruled_out, probes };
    }
    let d = dir.index();
    for (i, (candidate, probe)) in table.iter().enumerate().take(64) {
        let bit = 1u64 << i;
        if ruled_out[0] & ruled_out[1] & bit != 0 || ruled_out[d] & bit != 0 {
            continue;
        }
        match probe(cx, dir, bytes) {
            Probe::Match => return engage(*candidate),
            Probe::NoMatch => ruled_out[d] |= bit,
            Probe::NeedMore => {}
        }
    }
    let all = if table.len() >= 64 {
        u64::MAX
    } else {
        (1u64 << table.len()) - 1
    };
    if ruled_out[0] & ruled_out[1] & all == all || limit {
        Engaged::Unknown
    } else {
        Engaged::Probing { ruled_out, probes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(dst_port: u16) -> FlowCx {
        FlowCx {
            src_port: 50000,
            dst_port,
            ip_proto: 6,
        }
    }

    #[test]
    fn unknown_stream_is_left_alone() {
        let mut s = AppState::new();
        let w = s.on_stream(&cx(80), Direction::ToServer, &[0u8; 64], &[], Timestamp(0));
        // Undecided while the server has not spoken (it may show a banner).
        assert_eq!(w.keep, [true, true]);
        assert!(!s.is_idle());
        let w = s.on_stream(
            &cx(80),
            Direction::ToClient,
            &[0xffu8; 64],
            &[0u8; 64],
            Timestamp(0),
        );
        assert_eq!(w.keep, [false, false]);
        assert!(s.is_idle());
        assert_eq!(s.summary.app_proto, None);
        assert_eq!(s.summary.first_bytes.get(Direction::ToServer), &[0u8; 16]);
        assert_eq!(
            s.summary.first_bytes.get(Direction::ToClient),
            &[0xffu8; 16]
        );
    }

    #[test]
    fn first_bytes_are_copied_once_per_direction() {
        // TeamViewer's first datagrams (nDPI corpus teamviewer.pcap, flow
        // 10.0.2.15:34417 -> 93.47.224.241:36037, per tshark).
        let first = [
            0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0x17, 0x24, 0x47, 0x50, 0, 5,
        ];
        let mut s = AppState::new();
        let cx = FlowCx {
            src_port: 34417,
            dst_port: 36037,
            ip_proto: 17,
        };
        s.on_datagram(&cx, Direction::ToServer, &first, Timestamp(0));
        s.on_datagram(&cx, Direction::ToServer, &[9u8; 40], Timestamp(1));
        assert_eq!(s.summary.first_bytes.get(Direction::ToServer), &first[..16]);
        assert!(!s.summary.first_bytes.is_filled(Direction::ToClient));
    }

    #[test]
    fn ssh_banner_engages_ssh() {
        let mut s = AppState::new();
        let w = s.on_stream(
            &cx(22),
            Direction::ToClient,
            b"SSH-2.0-OpenSSH_9.2p1\r\n",
            &[],
            Timestamp(0),
        );
        assert_eq!(s.summary.app_proto, Some(AppProto::Ssh));
        assert_eq!(w.keep, [true, true]);
        let rec = s.summary.ssh.as_ref().unwrap();
        assert_eq!(
            rec.server.as_ref().unwrap().banner,
            b"SSH-2.0-OpenSSH_9.2p1"
        );
    }
}
