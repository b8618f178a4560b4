//! The flow table: lookup, per-direction accounting, TCP state, timeouts,
//! the capacity bound, and the stream prefixes.

use crate::capture::Timestamp;
use crate::decode::Packet;
use crate::flow::{Direction, FlowSummary};

/// Idle timeouts, per state, in nanoseconds of capture time.
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub tcp_new_ns: u64,
    pub tcp_established_ns: u64,
    pub tcp_closed_ns: u64,
    pub udp_new_ns: u64,
    pub udp_established_ns: u64,
    pub other_ns: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        const S: u64 = 1_000_000_000;
        Timeouts {
            tcp_new_ns: 60 * S,
            tcp_established_ns: 600 * S,
            tcp_closed_ns: 10 * S,
            udp_new_ns: 30 * S,
            udp_established_ns: 300 * S,
            other_ns: 60 * S,
        }
    }
}

#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// Hard bound on flows held at once (per worker).
    pub capacity: usize,
    pub timeouts: Timeouts,
    /// Bytes of each TCP direction reassembled for the dissectors.
    pub stream_prefix_bytes: usize,
    /// Bytes all stream prefixes together may hold (per worker).
    pub reassembly_memcap: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            capacity: 262_144,
            timeouts: Timeouts::default(),
            stream_prefix_bytes: 4096,
            reassembly_memcap: 256 << 20,
        }
    }
}

/// Counters the table keeps about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowTableStats {
    pub active: u64,
    pub peak_active: u64,
    pub created: u64,
    pub closed: u64,
    pub timed_out: u64,
    pub evicted: u64,
    /// Flows whose first packet was not a SYN (start not seen).
    pub midstream: u64,
    pub reassembly_bytes: u64,
    /// Flows that got no stream prefix because the memcap was reached.
    pub reassembly_memcap_hits: u64,
}

impl FlowTableStats {
    pub fn merge(&mut self, o: &FlowTableStats) {
        self.active += o.active;
        self.peak_active += o.peak_active;
        self.created += o.created;
        self.closed += o.closed;
        self.timed_out += o.timed_out;
        self.evicted += o.evicted;
        self.midstream += o.midstream;
        self.reassembly_bytes += o.reassembly_bytes;
        self.reassembly_memcap_hits += o.reassembly_memcap_hits;
    }
}

/// A handle on a live flow, valid until the next call that may remove flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowHandle(pub u32);

/// What the table did with a packet.
#[derive(Debug, Clone, Copy)]
pub struct PacketVerdict {
    pub flow: FlowHandle,
    pub dir: Direction,
    /// The contiguous stream prefix of `dir` grew with this packet.
    pub stream_grew: bool,
}

pub struct FlowTable {
    config: FlowConfig,
    stats: FlowTableStats,
}

impl FlowTable {
    pub fn new(config: FlowConfig) -> FlowTable {
        FlowTable {
            config,
            stats: FlowTableStats::default(),
        }
    }

    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// Account one packet. Flows evicted to make room are pushed to `out`.
    pub fn update(
        &mut self,
        pkt: &Packet<'_>,
        out: &mut Vec<FlowSummary>,
    ) -> Option<PacketVerdict> {
        let _ = (pkt, out);
        None
    }

    /// Emit flows idle past their timeout (or closed past the linger) at `now`.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<FlowSummary>) {
        let _ = (now, out);
    }

    /// Emit every remaining flow with reason `Shutdown`.
    pub fn flush(&mut self, out: &mut Vec<FlowSummary>) {
        let _ = out;
    }

    /// The contiguous reassembled prefix of one direction of a TCP flow.
    pub fn stream_prefix(&self, flow: FlowHandle, dir: Direction) -> &[u8] {
        let _ = (flow, dir);
        &[]
    }

    pub fn stats(&self) -> FlowTableStats {
        self.stats
    }
}
