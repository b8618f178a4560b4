//! Flows: the bidirectional conversations that packets belong to.
//!
//! The [`FlowTable`](table::FlowTable) keys flows by a canonical 5-tuple (plus
//! VLAN), keeps per-direction counters and the TCP path measurements, and
//! reassembles a bounded prefix of each TCP direction for the protocol
//! dissectors. When a flow ends (FIN/RST, idle timeout, eviction, end of
//! input) the table hands out a [`FlowSummary`]: the owned record that the
//! output layer turns into a `flow` event.
//!
//! Submodules: [`key`] (canonical key, flow id), [`tcp`] (SYN options, TTL
//! guess, handshake and close, anomaly bits), [`reassembly`] (bounded stream
//! prefixes), [`lru`] (intrusive expiry lists), [`table`] (the table).

use std::net::IpAddr;

use arrayvec::ArrayVec;

use crate::capture::Timestamp;
use crate::decode::TunnelStack;

/// Which way a packet travels within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the initiator (the SYN's sender, or the first packet's sender).
    ToServer,
    /// From the responder.
    ToClient,
}

impl Direction {
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
    pub fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

/// The oriented identity of a flow: `src` is the initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowEndpoints {
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dst_ip: IpAddr,
    pub dst_port: u16,
    pub ip_proto: u8,
    /// For ICMP flows: the type and code of the first packet (Community ID
    /// maps these to ports).
    pub icmp_type_code: Option<(u8, u8)>,
    /// VLAN ids (0 where absent), outermost first.
    pub vlan: [u16; 2],
    /// ESP flows are keyed by SPI as well.
    pub spi: Option<u32>,
}

/// Coarse flow state, as shown in events.
///
/// TCP: `New` until the initiator's first ACK after the SYN-ACK (handshake
/// complete), or, for a flow picked up midstream, until both directions have
/// carried a packet without SYN: then `Established`. `Closed` after a RST in
/// either direction or a FIN in both (from any earlier state); it is final,
/// and a later SYN without ACK on the same key starts a new flow.
/// UDP and other protocols: `New` while only one direction has been seen,
/// then `Established`; they never close (they time out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowState {
    /// TCP: only a SYN (or nothing) seen. UDP and others: one direction only.
    New,
    /// TCP: handshake completed or data both ways. Others: both directions.
    Established,
    /// TCP: RST seen, or FIN seen both ways.
    Closed,
}

impl FlowState {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::New => "new",
            FlowState::Established => "established",
            FlowState::Closed => "closed",
        }
    }
}

/// Why a flow's record was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// Idle for longer than the timeout of its state.
    Timeout,
    /// Closed by FIN exchange or RST (after the closed-state linger).
    Closed,
    /// Evicted to make room under the table's capacity bound.
    Evicted,
    /// Still open when the input ended (or the sensor stopped).
    Shutdown,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Timeout => "timeout",
            EndReason::Closed => "closed",
            EndReason::Evicted => "evicted",
            EndReason::Shutdown => "shutdown",
        }
    }
}

/// What one end's SYN (or SYN-ACK) said about its TCP stack and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynInfo {
    pub ttl: u8,
    /// The initial TTL the sender most likely used (64, 128 or 255).
    pub initial_ttl: u8,
    /// `initial_ttl - ttl`: routers between the sender and the sensor.
    pub hops: u8,
    pub window: u16,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: bool,
    /// TCP option kinds in wire order (capped).
    pub option_kinds: ArrayVec<u8, 16>,
}

/// TCP facts of a flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpSummary {
    pub syn: Option<SynInfo>,
    pub syn_ack: Option<SynInfo>,
    /// Sensor-split handshake RTT: SYN -> SYN-ACK (the server side), ns.
    pub rtt_syn_synack_ns: Option<u64>,
    /// Sensor-split handshake RTT: SYN-ACK -> ACK (the client side), ns.
    pub rtt_synack_ack_ns: Option<u64>,
    /// OR of the flag bytes seen each way.
    pub flags_toserver: u8,
    pub flags_toclient: u8,
    /// Overlapping segments that disagreed with bytes already received (the
    /// first bytes were kept).
    pub overlap_conflicts: u32,
    /// Stream bytes that reassembly had to give up on (gaps past the window,
    /// memcap), per direction.
    pub reassembly_gaps: [u32; 2],
    /// Bytes of each direction's stream prefix that were reassembled.
    pub prefix_bytes: [u32; 2],
    /// Protocol oddities seen (`tcp::anomaly::*` bits).
    pub anomalies: u16,
}

/// Per-flow state of the protocol dissectors, created at the flow's first
/// payload (one allocation per flow, never per packet). Reached through
/// `FlowTable::app_parts`.
#[derive(Debug, Default)]
pub struct AppSlot(pub Option<Box<crate::proto::AppState>>);

/// The owned record of a finished (or flushed) flow.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSummary {
    /// Stable id of the flow within a run (hash of its key and start time),
    /// below 2^53 so JSON consumers read it exactly.
    pub flow_id: u64,
    pub endpoints: FlowEndpoints,
    /// The initiator is known for sure (a SYN without ACK was seen).
    pub initiator_from_syn: bool,
    pub start: Timestamp,
    pub end: Timestamp,
    pub pkts_toserver: u64,
    pub pkts_toclient: u64,
    pub bytes_toserver: u64,
    pub bytes_toclient: u64,
    pub state: FlowState,
    pub reason: EndReason,
    pub tcp: Option<TcpSummary>,
    /// Outer layers of the flow's first packet, outermost first.
    pub tunnel: TunnelStack,
    /// What the dissectors learned (`None` when nothing).
    pub app: Option<Box<crate::proto::AppSummary>>,
}

pub mod key;
pub mod lru;
pub mod reassembly;
pub mod table;
pub mod tcp;
