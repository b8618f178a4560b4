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
use super::{ssh, tls};

/// Bytes of one direction after which an undecided flow is left alone.
pub const PROBE_LIMIT: usize = 2048;

/// The candidates for TCP streams, probed in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamCandidate {
    Tls,
    Ssh,
    Pptp,
    OpenVpn,
}

type ProbeFn = fn(&FlowCx, Direction, &[u8]) -> Probe;

const STREAM_PROBES: &[(StreamCandidate, ProbeFn)] = &[
    (StreamCandidate::Tls, tls::stream::probe),
    (StreamCandidate::Ssh, ssh::stream::probe),
    (StreamCandidate::Pptp, pptp::probe),
    (StreamCandidate::OpenVpn, openvpn::probe_tcp),
];

/// The candidates for UDP datagrams, probed in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DatagramCandidate {
    WireGuard,
    Ike,
    L2tp,
    OpenVpn,
}

const DATAGRAM_PROBES: &[(DatagramCandidate, ProbeFn)] = &[
    (DatagramCandidate::WireGuard, wireguard::probe),
    (DatagramCandidate::Ike, ike::probe),
    (DatagramCandidate::L2tp, l2tp::probe),
    (DatagramCandidate::OpenVpn, openvpn::probe_udp),
];

/// Datagrams per flow shown to the probes before an undecided UDP flow is
/// left alone (a UDP flow has no growing prefix to bound the probing).
pub const PROBE_DATAGRAMS: u32 = 8;

/// The engaged dissector of a flow.
#[derive(Debug)]
enum Engaged {
    /// Not decided yet; `ruled_out` has a bit per candidate (by index in
    /// the probe table) that refused the flow.
    Probing {
        ruled_out: u64,
    },
    Tls(tls::stream::TlsStream),
    Ssh(ssh::stream::SshStream),
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
    /// UDP datagrams probed so far (see [`PROBE_DATAGRAMS`]).
    probed_datagrams: u32,
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
            engaged: Engaged::Probing { ruled_out: 0 },
            wants: [true, true],
            probed_datagrams: 0,
            summary: AppSummary::default(),
        }
    }

    /// Nothing more will be dissected (the flow table may stop calling).
    pub fn is_idle(&self) -> bool {
        matches!(self.engaged, Engaged::Unknown)
    }

    /// A TCP direction's contiguous prefix grew; `prefix` is all of it.
    pub fn on_stream(
        &mut self,
        cx: &FlowCx,
        dir: Direction,
        prefix: &[u8],
        ts: Timestamp,
    ) -> StreamWants {
        let d = dir.index();
        if !self.wants.get(d).copied().unwrap_or(false) {
            return StreamWants { keep: self.wants };
        }
        if let Engaged::Probing { ruled_out } = self.engaged {
            self.engaged = probe_stream(cx, dir, prefix, ruled_out);
            if let Some(p) = self.proto_of_engaged() {
                self.summary.set_proto(p);
            }
        }
        let progress = match &mut self.engaged {
            Engaged::Probing { .. } => Progress::NeedMore,
            Engaged::Unknown => {
                self.wants = [false, false];
                return StreamWants { keep: self.wants };
            }
            Engaged::Tls(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
            Engaged::Ssh(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
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
        if let Engaged::Probing { ruled_out } = self.engaged {
            self.probed_datagrams = self.probed_datagrams.saturating_add(1);
            self.engaged = probe_datagram(cx, dir, payload, ruled_out);
            if matches!(self.engaged, Engaged::Probing { .. })
                && self.probed_datagrams >= PROBE_DATAGRAMS
            {
                self.engaged = Engaged::Unknown;
            }
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
            Engaged::Probing { .. }
            | Engaged::Unknown
            | Engaged::Tls(_)
            | Engaged::Ssh(_)
            | Engaged::Pptp(_) => {}
        }
    }

    /// Every packet with a payload, TCP or UDP, after the table counted it
    /// (for dissectors that measure timing after their handshake).
    pub fn on_packet(&mut self, dir: Direction, payload_len: usize, ts: Timestamp) {
        if payload_len == 0 {
            return;
        }
        if let Engaged::Ssh(s) = &mut self.engaged {
            s.on_packet(dir, payload_len, ts, &mut self.summary);
        }
    }

    /// The flow ended: final touches, and the record it leaves.
    pub fn finish(mut self) -> AppSummary {
        if let Some(t) = self.summary.tls.as_mut() {
            t.finish();
        }
        self.summary
    }

    fn proto_of_engaged(&self) -> Option<AppProto> {
        match self.engaged {
            Engaged::Tls(_) => Some(AppProto::Tls),
            Engaged::Ssh(_) => Some(AppProto::Ssh),
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
        StreamCandidate::Pptp => Engaged::Pptp(pptp::PptpState::new()),
        StreamCandidate::OpenVpn => Engaged::OpenVpn(Box::default()),
    }
}

fn engage_datagram(c: DatagramCandidate) -> Engaged {
    match c {
        DatagramCandidate::WireGuard => Engaged::WireGuard(wireguard::WireGuardState::new()),
        DatagramCandidate::Ike => Engaged::Ike(ike::IkeState::new()),
        DatagramCandidate::L2tp => Engaged::L2tp(l2tp::L2tpState::new()),
        DatagramCandidate::OpenVpn => Engaged::OpenVpn(Box::default()),
    }
}

/// Run the stream probes not yet ruled out over `bytes`.
fn probe_stream(cx: &FlowCx, dir: Direction, bytes: &[u8], ruled_out: u64) -> Engaged {
    probe_with(STREAM_PROBES, cx, dir, bytes, ruled_out, engage_stream)
}

fn probe_datagram(cx: &FlowCx, dir: Direction, bytes: &[u8], ruled_out: u64) -> Engaged {
    probe_with(DATAGRAM_PROBES, cx, dir, bytes, ruled_out, engage_datagram)
}

fn probe_with<C: Copy>(
    table: &[(C, ProbeFn)],
    cx: &FlowCx,
    dir: Direction,
    bytes: &[u8],
    mut ruled_out: u64,
    engage: fn(C) -> Engaged,
) -> Engaged {
    if bytes.is_empty() {
        return Engaged::Probing { ruled_out };
    }
    for (i, (candidate, probe)) in table.iter().enumerate().take(64) {
        let bit = 1u64 << i;
        if ruled_out & bit != 0 {
            continue;
        }
        match probe(cx, dir, bytes) {
            Probe::Match => return engage(*candidate),
            Probe::NoMatch => ruled_out |= bit,
            Probe::NeedMore => {}
        }
    }
    let all = if table.len() >= 64 {
        u64::MAX
    } else {
        (1u64 << table.len()) - 1
    };
    if ruled_out & all == all || bytes.len() >= PROBE_LIMIT {
        Engaged::Unknown
    } else {
        Engaged::Probing { ruled_out }
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
        let w = s.on_stream(&cx(80), Direction::ToServer, &[0u8; 64], Timestamp(0));
        assert_eq!(w.keep, [false, false]);
        assert!(s.is_idle());
        assert_eq!(s.summary.app_proto, None);
    }

    #[test]
    fn ssh_banner_engages_ssh() {
        let mut s = AppState::new();
        let w = s.on_stream(
            &cx(22),
            Direction::ToClient,
            b"SSH-2.0-OpenSSH_9.2p1\r\n",
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
