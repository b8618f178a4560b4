//! RDP's UDP transport (MS-RDPEUDP): recognised by the client's SYN
//! datagram (2.2.2.1, 3.1.5.1.1), timed by the server's SYN+ACK and the
//! client's answer to it. Everything after the handshake is RDPEUDP
//! payload (often DTLS) and is not read.

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{AppSummary, FlowCx, Probe};

/// RDPUDP_FEC_HEADER uFlags (MS-RDPEUDP 2.2.2.1).
pub mod flag {
    pub const SYN: u16 = 0x0001;
    pub const ACK: u16 = 0x0004;
}

/// Field offsets: RDPUDP_FEC_HEADER (2.2.2.1) then, in a SYN,
/// RDPUDP_SYNDATA_PAYLOAD (2.2.2.5). All big-endian (network order, 2.2).
mod field {
    pub const SN_SOURCE_ACK: usize = 0;
    pub const RECEIVE_WINDOW: usize = 4;
    pub const FLAGS: usize = 6;
    pub const INITIAL_SEQUENCE: usize = 8;
    pub const UP_MTU: usize = 12;
    pub const DOWN_MTU: usize = 14;
    pub const SYN_MIN_LEN: usize = 16;
}

/// 2.2.2.5: "uUpStreamMtu ... MUST be greater than or equal to 1132 and
/// less than or equal to 1232" (uDownStreamMtu likewise).
pub const MIN_MTU: u16 = 1132;
pub const MAX_MTU: u16 = 1232;
/// 3.1.5.1.1: the SYN datagram "MUST be zero-padded to increase the size
/// of this datagram to 1232 bytes".
pub const SYN_DATAGRAM_LEN: usize = 1232;
/// 2.2.2.1: snSourceAck of a SYN is -1.
pub const SYN_SOURCE_ACK: u32 = 0xFFFF_FFFF;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The fixed fields of a SYN or SYN+ACK datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynDatagram {
    pub source_ack: u32,
    pub receive_window: u16,
    pub flags: u16,
    pub initial_sequence: u32,
    pub up_mtu: u16,
    pub down_mtu: u16,
}

impl SynDatagram {
    /// The header of a datagram with the SYN flag and MTUs in range;
    /// `None` for anything else.
    pub fn parse(b: &[u8]) -> Option<SynDatagram> {
        if b.len() < field::SYN_MIN_LEN {
            return None;
        }
        let d = SynDatagram {
            source_ack: u32_at(b, field::SN_SOURCE_ACK)?,
            receive_window: u16_at(b, field::RECEIVE_WINDOW)?,
            flags: u16_at(b, field::FLAGS)?,
            initial_sequence: u32_at(b, field::INITIAL_SEQUENCE)?,
            up_mtu: u16_at(b, field::UP_MTU)?,
            down_mtu: u16_at(b, field::DOWN_MTU)?,
        };
        let mtu_ok = |m: u16| (MIN_MTU..=MAX_MTU).contains(&m);
        (d.flags & flag::SYN != 0 && mtu_ok(d.up_mtu) && mtu_ok(d.down_mtu)).then_some(d)
    }

    /// A client's opening SYN (no ACK, snSourceAck -1).
    pub fn is_client_syn(&self) -> bool {
        self.flags & flag::ACK == 0 && self.source_ack == SYN_SOURCE_ACK
    }
}

/// Is this datagram an RDPEUDP SYN? Its padded size, snSourceAck -1, the
/// SYN flag without ACK and both MTUs in range: enough on any port.
pub fn probe(_cx: &FlowCx, dir: Direction, bytes: &[u8]) -> Probe {
    if dir == Direction::ToClient || bytes.len() != SYN_DATAGRAM_LEN {
        return Probe::NoMatch;
    }
    match SynDatagram::parse(bytes) {
        Some(d) if d.is_client_syn() => Probe::Match,
        _ => Probe::NoMatch,
    }
}

/// One RDPEUDP flow's handshake timing.
#[derive(Debug, Default)]
pub struct RdpUdpState {
    /// The client's initial sequence number and when its SYN was seen.
    syn: Option<(u32, Timestamp)>,
    /// When the server's SYN+ACK acknowledging it was seen.
    syn_ack_at: Option<Timestamp>,
    client_replied: bool,
}

impl RdpUdpState {
    pub fn new() -> RdpUdpState {
        RdpUdpState::default()
    }

    /// One datagram of the flow: SYN -> SYN+ACK is the server's reply
    /// (3.1.5.1.1-2), SYN+ACK -> the client's next datagram the client's.
    pub fn on_datagram(
        &mut self,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        match dir {
            Direction::ToServer => {
                if let Some(at) = self.syn_ack_at {
                    if !self.client_replied {
                        self.client_replied = true;
                        summary.app_rtt.record(Direction::ToServer, at, ts);
                    }
                } else if self.syn.is_none() {
                    self.syn = SynDatagram::parse(payload)
                        .filter(SynDatagram::is_client_syn)
                        .map(|d| (d.initial_sequence, ts));
                }
            }
            Direction::ToClient => {
                let (Some((isn, syn_at)), None) = (self.syn, self.syn_ack_at) else {
                    return;
                };
                let Some(d) = SynDatagram::parse(payload) else {
                    return;
                };
                if d.flags & flag::ACK != 0 && d.source_ack == isn {
                    self.syn_ack_at = Some(ts);
                    summary.app_rtt.record(Direction::ToClient, syn_at, ts);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    fn cx() -> FlowCx {
        FlowCx {
            src_port: 61291,
            dst_port: 3389,
            ip_proto: 17,
        }
    }

    /// The first 32 bytes of zeek rdpeudp-handshake-success.pcap's SYN
    /// (frame 1, 1232 bytes) and SYN+ACK (frame 2), as tshark prints them.
    const SYN: &str = "ffffffff004018010b127f1504d004d07855d064fbaf43f0b6e8f8aadfad0000";
    const SYN_ACK: &str = "0b127f15004010050f94ea0b04d004d000010002";

    fn padded(h: &str) -> Vec<u8> {
        let mut b = hex(h);
        b.resize(SYN_DATAGRAM_LEN, 0);
        b
    }

    #[test]
    fn syn_datagram_fields() {
        let d = SynDatagram::parse(&padded(SYN)).unwrap();
        assert_eq!(d.source_ack, SYN_SOURCE_ACK);
        assert_eq!(d.receive_window, 64);
        assert_eq!(d.flags, 0x1801);
        assert_eq!(d.initial_sequence, 0x0b12_7f15);
        assert_eq!((d.up_mtu, d.down_mtu), (1232, 1232));
        assert!(d.is_client_syn());
    }

    #[test]
    fn probe_wants_a_padded_client_syn() {
        assert_eq!(
            probe(&cx(), Direction::ToServer, &padded(SYN)),
            Probe::Match
        );
        assert_eq!(probe(&cx(), Direction::ToServer, &hex(SYN)), Probe::NoMatch);
        assert_eq!(
            probe(&cx(), Direction::ToServer, &padded(SYN_ACK)),
            Probe::NoMatch
        );
        assert_eq!(
            probe(&cx(), Direction::ToServer, &[0u8; SYN_DATAGRAM_LEN]),
            Probe::NoMatch
        );
    }

    #[test]
    fn handshake_is_timed_both_ways() {
        let mut s = RdpUdpState::new();
        let mut sum = AppSummary::default();
        s.on_datagram(Direction::ToServer, &padded(SYN), Timestamp(100), &mut sum);
        s.on_datagram(
            Direction::ToClient,
            &padded(SYN_ACK),
            Timestamp(350),
            &mut sum,
        );
        s.on_datagram(
            Direction::ToServer,
            &hex("0f94ea0b"),
            Timestamp(400),
            &mut sum,
        );
        assert_eq!(sum.app_rtt.server_reply_ns, Some(250));
        assert_eq!(sum.app_rtt.client_reply_ns, Some(50));
    }
}
