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
use super::{dhcp, dns, http, ssh, tls};

/// Bytes of one direction after which an undecided flow is left alone.
pub const PROBE_LIMIT: usize = 2048;

/// The candidates for TCP streams, probed in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamCandidate {
    Tls,
    Ssh,
    Dns,
    Http,
}

type ProbeFn = fn(&FlowCx, Direction, &[u8]) -> Probe;

const STREAM_PROBES: &[(StreamCandidate, ProbeFn)] = &[
    (StreamCandidate::Tls, tls::stream::probe),
    (StreamCandidate::Ssh, ssh::stream::probe),
    (StreamCandidate::Dns, dns::stream::probe_stream),
    (StreamCandidate::Http, http::stream::probe),
];

/// The candidates for UDP datagrams, probed in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DatagramCandidate {
    Dns,
    Dhcp,
    Dhcpv6,
}

const DATAGRAM_PROBES: &[(DatagramCandidate, ProbeFn)] = &[
    (DatagramCandidate::Dns, dns::stream::probe_datagram),
    (DatagramCandidate::Dhcp, dhcp::probe_v4),
    (DatagramCandidate::Dhcpv6, dhcp::probe_v6),
];

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
    /// DNS over UDP or TCP.
    Dns(dns::stream::DnsFlow),
    Http(http::stream::HttpStream),
    /// DHCPv4 or DHCPv6.
    Dhcp(dhcp::DhcpFlow),
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
            engaged: Engaged::Probing { ruled_out: 0 },
            wants: [true, true],
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
            Engaged::Dns(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
            Engaged::Http(s) => s.on_stream(dir, prefix, ts, &mut self.summary),
            // A datagram dissector never engages on a stream.
            Engaged::Dhcp(_) => Progress::Done,
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
            self.engaged = probe_datagram(cx, dir, payload, ruled_out);
            if let Some(p) = self.proto_of_engaged() {
                self.summary.set_proto(p);
            }
        }
        match &mut self.engaged {
            Engaged::Dns(s) => s.on_datagram(dir, payload, ts, &mut self.summary),
            Engaged::Dhcp(s) => s.on_datagram(dir, payload, ts, &mut self.summary),
            // Stream dissectors never engage on datagrams; nothing else is
            // done for a flow nobody claimed.
            Engaged::Probing { .. }
            | Engaged::Unknown
            | Engaged::Tls(_)
            | Engaged::Ssh(_)
            | Engaged::Http(_) => {}
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
        match &self.engaged {
            Engaged::Tls(_) => Some(AppProto::Tls),
            Engaged::Ssh(_) => Some(AppProto::Ssh),
            Engaged::Dns(_) => Some(AppProto::Dns),
            Engaged::Http(_) => Some(AppProto::Http),
            Engaged::Dhcp(s) => Some(s.proto()),
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
        StreamCandidate::Dns => Engaged::Dns(dns::stream::DnsFlow::new()),
        StreamCandidate::Http => Engaged::Http(http::stream::HttpStream::new()),
    }
}

fn engage_datagram(c: DatagramCandidate) -> Engaged {
    match c {
        DatagramCandidate::Dns => Engaged::Dns(dns::stream::DnsFlow::new()),
        DatagramCandidate::Dhcp => Engaged::Dhcp(dhcp::DhcpFlow::new(AppProto::Dhcp)),
        DatagramCandidate::Dhcpv6 => Engaged::Dhcp(dhcp::DhcpFlow::new(AppProto::Dhcpv6)),
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
