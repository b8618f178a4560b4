//! The flow table: lookup, per-direction accounting, TCP state, timeouts,
//! the capacity bound, and the stream prefixes.
//!
//! Layout: flows live in a slab (`Vec<Option<Flow>>` plus a free list) and a
//! `HashMap<FlowKey, u32>` (foldhash, randomly seeded against hash flooding)
//! maps keys to slots. Every flow is in one intrusive LRU list per timeout
//! class ([`lru`](crate::flow::lru)); a packet moves its flow to the head,
//! so expiry and eviction pop list tails: O(1) amortised per packet, the
//! table is never scanned. Nothing in the output depends on map iteration
//! order.
//!
//! Initiator: the sender of a SYN without ACK (`initiator_from_syn`); if the
//! first packet is a SYN-ACK, its receiver; otherwise the first packet's
//! sender, except that a packet from a port below 1024 to a port at or above
//! 1024 (TCP, UDP), or an ICMP/ICMPv6 echo reply, is taken for a response
//! and its receiver becomes the initiator.
//!
//! Closed TCP flows (RST, or FIN both ways) stay for `tcp_closed_ns` after
//! their last packet, then leave with reason `Closed`. A SYN without ACK on a
//! closed flow ends it at once (reason `Closed`) and starts a new flow (port
//! reuse, or a client retrying after a RST).
//!
//! Capacity is a hard bound. A new flow on a full table first expires what is
//! due at the packet's time, then evicts, in this order: the oldest closed
//! flow (reported `Closed`, as it was only lingering), else the least recently
//! active New flow (TCP half-open, UDP or other one-way: what a flood makes),
//! else the least recently active established flow. Evictions are reported
//! with reason `Evicted`.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::capture::Timestamp;
use crate::decode::{ip_proto, tcp_flags, Packet, TcpSegment, Transport, TunnelStack};
use crate::flow::key::FlowKey;
use crate::flow::lru::{Lists, NIL};
use crate::flow::reassembly::Budget;
use crate::flow::tcp::TcpState;
use crate::flow::{
    AppSlot, Direction, EndReason, FlowEndpoints, FlowState, FlowSummary, TcpSummary,
};

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
            stream_prefix_bytes: 65536,
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

/// Timeout classes, one LRU list each.
mod class {
    pub const TCP_NEW: usize = 0;
    pub const TCP_ESTABLISHED: usize = 1;
    pub const TCP_CLOSED: usize = 2;
    pub const UDP_NEW: usize = 3;
    pub const UDP_ESTABLISHED: usize = 4;
    pub const OTHER_NEW: usize = 5;
    pub const OTHER_ESTABLISHED: usize = 6;
    pub const COUNT: usize = 7;
    /// Eviction order after the closed flows: one-way flows first.
    pub const NEW_TIER: [usize; 3] = [TCP_NEW, UDP_NEW, OTHER_NEW];
    pub const ESTABLISHED_TIER: [usize; 3] = [TCP_ESTABLISHED, UDP_ESTABLISHED, OTHER_ESTABLISHED];
}

/// Which state machine and timeouts a flow follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
    Other,
}

fn class_of(kind: Kind, state: FlowState) -> usize {
    match (kind, state) {
        (Kind::Tcp, FlowState::New) => class::TCP_NEW,
        (Kind::Tcp, FlowState::Established) => class::TCP_ESTABLISHED,
        (Kind::Tcp, FlowState::Closed) => class::TCP_CLOSED,
        (Kind::Udp, FlowState::New) => class::UDP_NEW,
        (Kind::Udp, _) => class::UDP_ESTABLISHED,
        (Kind::Other, FlowState::New) => class::OTHER_NEW,
        (Kind::Other, _) => class::OTHER_ESTABLISHED,
    }
}

/// One live flow.
#[derive(Debug)]
pub struct Flow {
    key: FlowKey,
    kind: Kind,
    /// The initiator is the key's lower side.
    init_is_lo: bool,
    /// The memcap already refused this flow a buffer (counted once).
    memcap_counted: bool,
    pub flow_id: u64,
    /// Oriented: `src` is the initiator.
    pub endpoints: FlowEndpoints,
    pub initiator_from_syn: bool,
    pub start: Timestamp,
    pub last: Timestamp,
    /// Packets (frames) per [`Direction::index`].
    pub pkts: [u64; 2],
    /// Wire bytes per [`Direction::index`].
    pub bytes: [u64; 2],
    pub state: FlowState,
    pub tcp: Option<TcpState>,
    pub tunnel: TunnelStack,
    /// The dissectors' per-flow state.
    pub app: AppSlot,
}

impl Flow {
    /// The TCP facts so far (`None` for other protocols).
    pub fn tcp_summary(&self) -> Option<TcpSummary> {
        self.tcp.as_ref().map(TcpState::summary)
    }

    fn into_summary(self, reason: EndReason) -> FlowSummary {
        FlowSummary {
            flow_id: self.flow_id,
            endpoints: self.endpoints,
            initiator_from_syn: self.initiator_from_syn,
            start: self.start,
            end: self.last,
            pkts_toserver: self.pkts[0],
            pkts_toclient: self.pkts[1],
            bytes_toserver: self.bytes[0],
            bytes_toclient: self.bytes[1],
            state: self.state,
            reason,
            tcp: self.tcp.as_ref().map(TcpState::summary),
            tunnel: self.tunnel,
            app: self
                .app
                .0
                .map(|state| Box::new(state.finish()))
                .filter(|s| !s.is_empty()),
        }
    }
}

/// A port below 1024 talking to one at or above: probably a server's answer.
fn looks_like_response(src_port: u16, dst_port: u16) -> bool {
    src_port < 1024 && dst_port >= 1024
}

const ICMP_ECHO_REPLY: u8 = 0;
const ICMPV6_ECHO_REPLY: u8 = 129;

/// Whether the first packet's sender is the initiator, and whether that is
/// certain (a SYN without ACK).
fn initiator_is_sender(pkt: &Packet<'_>) -> (bool, bool) {
    match pkt.transport {
        Transport::Tcp(TcpSegment {
            flags,
            src_port,
            dst_port,
            ..
        }) => {
            let syn = flags & tcp_flags::SYN != 0;
            let ack = flags & tcp_flags::ACK != 0;
            match (syn, ack) {
                (true, false) => (true, true),
                (true, true) => (false, false),
                _ => (!looks_like_response(src_port, dst_port), false),
            }
        }
        Transport::Udp { src_port, dst_port } => (!looks_like_response(src_port, dst_port), false),
        Transport::Icmp { icmp_type, .. } => {
            let reply = match pkt.ip_proto {
                ip_proto::ICMP => icmp_type == ICMP_ECHO_REPLY,
                ip_proto::ICMPV6 => icmp_type == ICMPV6_ECHO_REPLY,
                _ => false,
            };
            (!reply, false)
        }
        Transport::Esp { .. } | Transport::Other => (true, false),
    }
}

/// The oriented endpoints of a flow whose first packet is `pkt`.
fn endpoints_of(pkt: &Packet<'_>, sender_is_initiator: bool) -> FlowEndpoints {
    let (sport, dport) = match pkt.transport {
        Transport::Tcp(s) => (s.src_port, s.dst_port),
        Transport::Udp { src_port, dst_port } => (src_port, dst_port),
        _ => (0, 0),
    };
    let (src_ip, src_port, dst_ip, dst_port) = if sender_is_initiator {
        (pkt.src, sport, pkt.dst, dport)
    } else {
        (pkt.dst, dport, pkt.src, sport)
    };
    FlowEndpoints {
        src_ip,
        src_port,
        dst_ip,
        dst_port,
        ip_proto: pkt.ip_proto,
        icmp_type_code: match pkt.transport {
            Transport::Icmp { icmp_type, code } => Some((icmp_type, code)),
            _ => None,
        },
        vlan: pkt.vlan,
        spi: match pkt.transport {
            Transport::Esp { spi } => Some(spi),
            _ => None,
        },
    }
}

pub struct FlowTable {
    config: FlowConfig,
    stats: FlowTableStats,
    map: HashMap<FlowKey, u32, RandomState>,
    slots: Vec<Option<Flow>>,
    free: Vec<u32>,
    lists: Lists<{ class::COUNT }>,
    budget: Budget,
}

impl FlowTable {
    pub fn new(config: FlowConfig) -> FlowTable {
        let budget = Budget {
            used: 0,
            memcap: config.reassembly_memcap,
            prefix: config.stream_prefix_bytes,
        };
        FlowTable {
            config,
            stats: FlowTableStats::default(),
            map: HashMap::with_hasher(RandomState::default()),
            slots: Vec::new(),
            free: Vec::new(),
            lists: Lists::new(),
            budget,
        }
    }

    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// Account one packet. Flows evicted to make room are pushed to `out`.
    /// `None` only if the flow could not be created (slot ids exhausted).
    pub fn update(
        &mut self,
        pkt: &Packet<'_>,
        out: &mut Vec<FlowSummary>,
    ) -> Option<PacketVerdict> {
        let (key, src_is_lo) = FlowKey::from_packet(pkt);
        let idx = match self.map.get(&key).copied() {
            Some(i) if !self.restarts(i, pkt) => i,
            Some(i) => {
                self.remove(i, EndReason::Closed, out);
                self.create(key, src_is_lo, pkt, out)?
            }
            None => self.create(key, src_is_lo, pkt, out)?,
        };
        let flow = self.slots.get_mut(idx as usize)?.as_mut()?;
        let dir = if src_is_lo == flow.init_is_lo {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let d = dir.index();
        flow.pkts[d] = flow.pkts[d].saturating_add(u64::from(pkt.frames));
        flow.bytes[d] = flow.bytes[d].saturating_add(u64::from(pkt.wire_len));
        flow.last = flow.last.max(pkt.ts);
        let mut grew = false;
        match (flow.tcp.as_mut(), &pkt.transport) {
            (Some(tcp), Transport::Tcp(seg)) => {
                let o = tcp.on_segment(dir, seg, pkt.ttl, pkt.ts, pkt.payload, &mut self.budget);
                grew = o.grew;
                if o.memcap_hit && !flow.memcap_counted {
                    flow.memcap_counted = true;
                    self.stats.reassembly_memcap_hits += 1;
                }
                flow.state = tcp.state();
            }
            _ => {
                if flow.pkts[0] > 0 && flow.pkts[1] > 0 {
                    flow.state = FlowState::Established;
                }
            }
        }
        let list = class_of(flow.kind, flow.state);
        self.lists.touch(idx, list);
        self.stats.reassembly_bytes = self.budget.used as u64;
        Some(PacketVerdict {
            flow: FlowHandle(idx),
            dir,
            stream_grew: grew,
        })
    }

    /// A SYN without ACK on a closed flow starts a new one.
    fn restarts(&self, idx: u32, pkt: &Packet<'_>) -> bool {
        let Transport::Tcp(seg) = &pkt.transport else {
            return false;
        };
        seg.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
            && self
                .flow(FlowHandle(idx))
                .is_some_and(|f| f.state == FlowState::Closed)
    }

    /// Make a flow for `pkt`'s key, evicting if the table is full.
    fn create(
        &mut self,
        key: FlowKey,
        src_is_lo: bool,
        pkt: &Packet<'_>,
        out: &mut Vec<FlowSummary>,
    ) -> Option<u32> {
        let cap = self.config.capacity.max(1);
        if self.map.len() >= cap {
            self.expire(pkt.ts, out);
        }
        while self.map.len() >= cap {
            if !self.evict_one(out) {
                break;
            }
        }
        let (sender_is_init, from_syn) = initiator_is_sender(pkt);
        let kind = match pkt.transport {
            Transport::Tcp(_) => Kind::Tcp,
            Transport::Udp { .. } => Kind::Udp,
            _ => Kind::Other,
        };
        let syn = matches!(pkt.transport, Transport::Tcp(s) if s.flags & tcp_flags::SYN != 0);
        let flow = Flow {
            key,
            kind,
            init_is_lo: src_is_lo == sender_is_init,
            memcap_counted: false,
            flow_id: key.flow_id(pkt.ts),
            endpoints: endpoints_of(pkt, sender_is_init),
            initiator_from_syn: from_syn,
            start: pkt.ts,
            last: pkt.ts,
            pkts: [0; 2],
            bytes: [0; 2],
            state: FlowState::New,
            tcp: (kind == Kind::Tcp).then(TcpState::default),
            // Never longer than the decoder's own stack; empty if it were.
            tunnel: TunnelStack::try_from(pkt.tunnel).unwrap_or_default(),
            app: AppSlot::default(),
        };
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).ok().filter(|&i| i != NIL)?;
                self.slots.push(None);
                self.lists.ensure(i);
                i
            }
        };
        *self.slots.get_mut(idx as usize)? = Some(flow);
        self.map.insert(key, idx);
        self.lists.touch(idx, class_of(kind, FlowState::New));
        let s = &mut self.stats;
        s.created += 1;
        s.active += 1;
        s.peak_active = s.peak_active.max(s.active);
        if kind == Kind::Tcp && !syn {
            s.midstream += 1;
        }
        Some(idx)
    }

    fn last_of(&self, idx: u32) -> Option<Timestamp> {
        self.flow(FlowHandle(idx)).map(|f| f.last)
    }

    /// Remove one flow to make room. False if the table is empty.
    fn evict_one(&mut self, out: &mut Vec<FlowSummary>) -> bool {
        if let Some(i) = self.lists.tail(class::TCP_CLOSED) {
            self.remove(i, EndReason::Closed, out);
            return true;
        }
        for tier in [class::NEW_TIER, class::ESTABLISHED_TIER] {
            let victim = tier
                .iter()
                .filter_map(|&c| self.lists.tail(c))
                .min_by_key(|&i| (self.last_of(i), i));
            if let Some(i) = victim {
                self.remove(i, EndReason::Evicted, out);
                return true;
            }
        }
        false
    }

    /// Take a flow out of the table and push its record.
    fn remove(&mut self, idx: u32, reason: EndReason, out: &mut Vec<FlowSummary>) {
        self.lists.unlink(idx);
        let Some(mut flow) = self.slots.get_mut(idx as usize).and_then(Option::take) else {
            return;
        };
        self.map.remove(&flow.key);
        self.free.push(idx);
        let freed = flow.tcp.as_mut().map_or(0, TcpState::release_buffers);
        self.budget.used = self.budget.used.saturating_sub(freed);
        let s = &mut self.stats;
        s.reassembly_bytes = self.budget.used as u64;
        s.active = s.active.saturating_sub(1);
        match reason {
            EndReason::Timeout => s.timed_out += 1,
            EndReason::Closed => s.closed += 1,
            EndReason::Evicted => s.evicted += 1,
            EndReason::Shutdown => {}
        }
        out.push(flow.into_summary(reason));
    }

    fn timeout_of(&self, list: usize) -> u64 {
        let t = &self.config.timeouts;
        match list {
            class::TCP_NEW => t.tcp_new_ns,
            class::TCP_ESTABLISHED => t.tcp_established_ns,
            class::TCP_CLOSED => t.tcp_closed_ns,
            class::UDP_NEW => t.udp_new_ns,
            class::UDP_ESTABLISHED => t.udp_established_ns,
            _ => t.other_ns,
        }
    }

    /// Emit flows idle past their timeout (or closed past the linger) at `now`.
    /// A flow idle for exactly its timeout stays.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<FlowSummary>) {
        for list in 0..class::COUNT {
            let timeout = self.timeout_of(list);
            while let Some(i) = self.lists.tail(list) {
                let Some(last) = self.last_of(i) else {
                    self.lists.unlink(i);
                    continue;
                };
                if now.since(last) <= timeout {
                    break;
                }
                let reason = if list == class::TCP_CLOSED {
                    EndReason::Closed
                } else {
                    EndReason::Timeout
                };
                self.remove(i, reason, out);
            }
        }
    }

    /// Emit every remaining flow with reason `Shutdown` (closed flows that
    /// were lingering leave as `Closed`).
    pub fn flush(&mut self, out: &mut Vec<FlowSummary>) {
        for list in 0..class::COUNT {
            let reason = if list == class::TCP_CLOSED {
                EndReason::Closed
            } else {
                EndReason::Shutdown
            };
            while let Some(i) = self.lists.tail(list) {
                if self.slots.get(i as usize).is_some_and(Option::is_some) {
                    self.remove(i, reason, out);
                } else {
                    self.lists.unlink(i);
                }
            }
        }
    }

    /// A live flow.
    pub fn flow(&self, h: FlowHandle) -> Option<&Flow> {
        self.slots.get(h.0 as usize).and_then(Option::as_ref)
    }

    /// A live flow, for the dissectors' [`AppSlot`].
    pub fn flow_mut(&mut self, h: FlowHandle) -> Option<&mut Flow> {
        self.slots.get_mut(h.0 as usize).and_then(Option::as_mut)
    }

    /// What a dissector works with, borrowed together: the flow's
    /// application slot, the contiguous prefixes of `dir` and of the other
    /// direction (empty for UDP) and the flow's oriented endpoints.
    pub fn app_parts(
        &mut self,
        h: FlowHandle,
        dir: Direction,
    ) -> Option<(&mut AppSlot, [&[u8]; 2], &FlowEndpoints)> {
        let f = self.slots.get_mut(h.0 as usize)?.as_mut()?;
        let prefix = |d: Direction| {
            f.tcp
                .as_ref()
                .and_then(|t| t.streams.get(d.index()))
                .map_or(&[][..], |s| s.contiguous())
        };
        let prefixes = [prefix(dir), prefix(dir.reverse())];
        Some((&mut f.app, prefixes, &f.endpoints))
    }

    /// The contiguous reassembled prefix of one direction of a TCP flow.
    pub fn stream_prefix(&self, flow: FlowHandle, dir: Direction) -> &[u8] {
        self.flow(flow)
            .and_then(|f| f.tcp.as_ref())
            .and_then(|t| t.streams.get(dir.index()))
            .map_or(&[], |s| s.contiguous())
    }

    /// Buffer nothing more for this direction (a dissector has what it
    /// needs). The prefix so far stays readable.
    pub fn stop_reassembly(&mut self, flow: FlowHandle, dir: Direction) {
        if let Some(s) = self.stream_mut(flow, dir) {
            s.done = true;
        }
    }

    /// Stop reassembly of this direction and free its buffer now.
    pub fn release_prefix(&mut self, flow: FlowHandle, dir: Direction) {
        let freed = match self.stream_mut(flow, dir) {
            Some(s) => {
                s.done = true;
                s.release()
            }
            None => 0,
        };
        self.budget.used = self.budget.used.saturating_sub(freed);
        self.stats.reassembly_bytes = self.budget.used as u64;
    }

    fn stream_mut(
        &mut self,
        flow: FlowHandle,
        dir: Direction,
    ) -> Option<&mut crate::flow::reassembly::StreamPrefix> {
        self.flow_mut(flow)?
            .tcp
            .as_mut()?
            .streams
            .get_mut(dir.index())
    }

    pub fn stats(&self) -> FlowTableStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN};
    use crate::flow::tcp::anomaly;
    use crate::testutil::hex;
    use std::net::IpAddr;

    const S: i64 = 1_000_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ts(epoch: &str) -> Timestamp {
        // "secs.nanos" as tshark's frame.time_epoch prints it.
        let (s, n) = epoch.split_once('.').unwrap();
        Timestamp::from_secs_nanos(s.parse().unwrap(), n.parse().unwrap())
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp<'a>(
        t: Timestamp,
        src: (&str, u16),
        dst: (&str, u16),
        flags: u8,
        seq: u32,
        ack: u32,
        ttl: u8,
        window: u16,
        options: &'a [u8],
        payload: &'a [u8],
        wire_len: u32,
    ) -> Packet<'a> {
        Packet {
            ts: t,
            wire_len,
            vlan: [0, 0],
            tunnel: &[],
            src: ip(src.0),
            dst: ip(dst.0),
            ip_proto: ip_proto::TCP,
            ttl,
            transport: Transport::Tcp(TcpSegment {
                src_port: src.1,
                dst_port: dst.1,
                seq,
                ack,
                flags,
                window,
                options,
            }),
            payload,
            truncated: false,
            reassembled: false,
            frames: 1,
        }
    }

    fn udp(t: Timestamp, src: (&str, u16), dst: (&str, u16)) -> Packet<'static> {
        Packet {
            ts: t,
            wire_len: 100,
            vlan: [0, 0],
            tunnel: &[],
            src: ip(src.0),
            dst: ip(dst.0),
            ip_proto: ip_proto::UDP,
            ttl: 64,
            transport: Transport::Udp {
                src_port: src.1,
                dst_port: dst.1,
            },
            payload: &[],
            truncated: false,
            reassembled: false,
            frames: 1,
        }
    }

    /// A short flow of `n` bytes from a to b, by flag only.
    fn seg<'a>(
        t: i64,
        a: (&str, u16),
        b: (&str, u16),
        flags: u8,
        seq: u32,
        data: &'a [u8],
    ) -> Packet<'a> {
        tcp(Timestamp(t), a, b, flags, seq, 1, 64, 1000, &[], data, 60)
    }

    fn table() -> FlowTable {
        FlowTable::new(FlowConfig::default())
    }

    // zeek/traces/tls/ssl.v3.pcap frames 1-4, values from tshark 4.0
    // (frame.time_epoch, ip.ttl, tcp.window_size_value, tcp.seq_raw,
    // tcp.ack_raw, frame.len, tcp.options, tcp.payload).
    const C: (&str, u16) = ("192.150.187.164", 58868);
    const SV: (&str, u16) = ("194.127.84.106", 443);
    const HELLO_HEX: &str = "8055010301003c0000001000003900003800003500003300003200000400000500002f00001600001300feff00000a00001500001200fefe000009000064000062000003000006e6b8efdf91cf44f7eae43c83398fdcb2";

    #[test]
    fn real_handshake_ssl_v3() {
        let syn_opts = hex("020405b4010303000101080a4b1d30350000000004020000");
        let sa_opts = hex("0101080a623bc1804b1d30350103030001010402020405b4");
        let ack_opts = hex("0101080a4b1d3036623bc180");
        let hello = hex(HELLO_HEX);
        let pkts = [
            tcp(
                ts("1170717505.366729000"),
                C,
                SV,
                SYN,
                3928065543,
                0,
                64,
                65535,
                &syn_opts,
                &[],
                78,
            ),
            tcp(
                ts("1170717505.548308000"),
                SV,
                C,
                SYN | ACK,
                128325134,
                3928065544,
                50,
                1460,
                &sa_opts,
                &[],
                78,
            ),
            tcp(
                ts("1170717505.548376000"),
                C,
                SV,
                ACK,
                3928065544,
                128325135,
                64,
                65535,
                &ack_opts,
                &[],
                66,
            ),
            tcp(
                ts("1170717505.549109000"),
                C,
                SV,
                PSH | ACK,
                3928065544,
                128325135,
                64,
                65535,
                &ack_opts,
                &hello,
                153,
            ),
        ];
        let mut t = table();
        let mut out = Vec::new();
        let mut verdicts = Vec::new();
        for p in &pkts {
            verdicts.push(t.update(p, &mut out).unwrap());
        }
        assert!(out.is_empty());
        let dirs: Vec<_> = verdicts.iter().map(|v| v.dir).collect();
        use Direction::*;
        assert_eq!(dirs, [ToServer, ToClient, ToServer, ToServer]);
        assert!(verdicts[3].stream_grew && !verdicts[2].stream_grew);
        let h = verdicts[3].flow;
        assert_eq!(t.stream_prefix(h, ToServer), &hello[..]);
        assert_eq!(t.stream_prefix(h, ToClient), b"");
        let f = t.flow(h).unwrap();
        assert_eq!(f.state, FlowState::Established);
        let tcp = f.tcp_summary().unwrap();
        // tcp.analysis.initial_rtt = 0.181647000 s = the two halves.
        assert_eq!(tcp.rtt_syn_synack_ns, Some(548_308_000 - 366_729_000));
        assert_eq!(tcp.rtt_synack_ack_ns, Some(548_376_000 - 548_308_000));
        assert_eq!(
            tcp.rtt_syn_synack_ns.unwrap() + tcp.rtt_synack_ack_ns.unwrap(),
            181_647_000
        );
        let sa = tcp.syn_ack.as_ref().unwrap();
        assert_eq!(
            (sa.ttl, sa.initial_ttl, sa.hops, sa.window, sa.mss),
            (50, 64, 14, 1460, Some(1460))
        );
        let syn = tcp.syn.as_ref().unwrap();
        assert_eq!(syn.option_kinds.as_slice(), &[2, 1, 3, 1, 1, 8, 4, 0, 0]);
        assert_eq!(syn.window_scale, Some(0));
        assert_eq!(tcp.flags_toserver, SYN | ACK | PSH);
        assert_eq!(tcp.flags_toclient, SYN | ACK);
        assert_eq!(tcp.anomalies, 0);
        t.flush(&mut out);
        assert_eq!(out.len(), 1);
        let s = &out[0];
        assert_eq!(s.endpoints.src_ip, ip(C.0));
        assert_eq!((s.endpoints.src_port, s.endpoints.dst_port), (58868, 443));
        assert!(s.initiator_from_syn);
        assert_eq!((s.pkts_toserver, s.pkts_toclient), (3, 1));
        assert_eq!((s.bytes_toserver, s.bytes_toclient), (78 + 66 + 153, 78));
        assert_eq!((s.start, s.end), (pkts[0].ts, pkts[3].ts));
        assert_eq!(s.reason, EndReason::Shutdown);
        assert_eq!(s.tcp.as_ref().unwrap().prefix_bytes, [87, 0]);
        assert!(s.flow_id < 1 << 52);
        assert_eq!(t.stats().active, 0);
        assert_eq!(t.stats().reassembly_bytes, 0);
    }

    #[test]
    fn real_handshake_rtt_ecdhe() {
        // zeek/traces/tls/ecdhe.pcap: tcp.analysis.initial_rtt 0.024352000.
        let c = ("192.168.18.50", 56981);
        let s = ("74.125.239.97", 443);
        let mut t = table();
        let mut out = Vec::new();
        t.update(
            &tcp(
                ts("1398529018.654077000"),
                c,
                s,
                SYN,
                1443660673,
                0,
                64,
                65535,
                &[],
                &[],
                78,
            ),
            &mut out,
        );
        t.update(
            &tcp(
                ts("1398529018.678276000"),
                s,
                c,
                SYN | ACK,
                862698537,
                1443660674,
                53,
                42540,
                &[],
                &[],
                74,
            ),
            &mut out,
        );
        let v = t
            .update(
                &tcp(
                    ts("1398529018.678429000"),
                    c,
                    s,
                    ACK,
                    1443660674,
                    862698538,
                    64,
                    8242,
                    &[],
                    &[],
                    66,
                ),
                &mut out,
            )
            .unwrap();
        let tcp = t.flow(v.flow).unwrap().tcp_summary().unwrap();
        let (a, b) = (
            tcp.rtt_syn_synack_ns.unwrap(),
            tcp.rtt_synack_ack_ns.unwrap(),
        );
        assert_eq!(a + b, 24_352_000);
        assert_eq!(b, 153_000);
    }

    #[test]
    fn retransmitted_syn_uses_first() {
        let mut t = table();
        let mut out = Vec::new();
        let a = ("10.0.0.1", 40000);
        let b = ("10.0.0.2", 22);
        t.update(&seg(0, a, b, SYN, 100, &[]), &mut out);
        t.update(&seg(S, a, b, SYN, 100, &[]), &mut out);
        t.update(&seg(S + 5_000, b, a, SYN | ACK, 900, &[]), &mut out);
        let v = t
            .update(&seg(S + 7_000, a, b, ACK, 101, &[]), &mut out)
            .unwrap();
        let tcp = t.flow(v.flow).unwrap().tcp_summary().unwrap();
        assert_eq!(tcp.rtt_syn_synack_ns, Some((S + 5_000) as u64));
        assert_eq!(tcp.rtt_synack_ack_ns, Some(2_000));
        assert_ne!(tcp.anomalies & anomaly::SYN_RETRANSMITTED, 0);
    }

    #[test]
    fn initiator_guesses() {
        let mut t = table();
        let mut out = Vec::new();
        let c = ("10.0.0.1", 50000);
        let s = ("10.0.0.2", 443);
        // Midstream: first packet is the server's data.
        let v = t
            .update(&seg(0, s, c, ACK | PSH, 7, b"abc"), &mut out)
            .unwrap();
        assert_eq!(v.dir, Direction::ToClient);
        let f = t.flow(v.flow).unwrap();
        assert_eq!(f.endpoints.src_port, 50000);
        assert!(!f.initiator_from_syn);
        let tcp = f.tcp_summary().unwrap();
        assert_ne!(tcp.anomalies & anomaly::MIDSTREAM_TOCLIENT, 0);
        assert_eq!(t.stream_prefix(v.flow, Direction::ToClient), b"abc");
        assert_eq!(t.stats().midstream, 1);
        // First packet a SYN-ACK: the receiver initiated.
        let c2 = ("10.0.0.3", 1234);
        let s2 = ("10.0.0.4", 5555);
        let v = t
            .update(&seg(0, s2, c2, SYN | ACK, 7, &[]), &mut out)
            .unwrap();
        assert_eq!(v.dir, Direction::ToClient);
        assert_eq!(t.flow(v.flow).unwrap().endpoints.src_port, 1234);
        // UDP DNS answer first: the client is the initiator.
        let v = t
            .update(
                &udp(Timestamp(0), ("10.0.0.53", 53), ("10.0.0.9", 33000)),
                &mut out,
            )
            .unwrap();
        assert_eq!(t.flow(v.flow).unwrap().endpoints.src_port, 33000);
        // Both high ports: the first sender.
        let v = t
            .update(
                &udp(Timestamp(0), ("10.0.0.7", 51820), ("10.0.0.9", 40000)),
                &mut out,
            )
            .unwrap();
        assert_eq!(v.dir, Direction::ToServer);
    }

    #[test]
    fn timeouts_per_state() {
        let to = Timeouts::default();
        let mut t = table();
        let mut out = Vec::new();
        let c = ("10.0.0.1", 50000);
        let s = ("10.0.0.2", 80);
        // TCP New (SYN only), TCP Established, UDP New, UDP Established.
        t.update(&seg(0, c, s, SYN, 1, &[]), &mut out);
        let c2 = ("10.0.0.1", 50001);
        t.update(&seg(0, c2, s, SYN, 1, &[]), &mut out);
        t.update(&seg(0, s, c2, SYN | ACK, 1, &[]), &mut out);
        t.update(&seg(0, c2, s, ACK, 2, &[]), &mut out);
        let u = ("10.0.0.1", 5353);
        let u2 = ("10.0.0.2", 5353);
        t.update(&udp(Timestamp(0), u, ("10.0.0.3", 5353)), &mut out);
        t.update(&udp(Timestamp(0), u, u2), &mut out);
        t.update(&udp(Timestamp(0), u2, u), &mut out);
        assert_eq!(t.stats().active, 4);
        let exp = |t: &mut FlowTable, ns: u64, out: &mut Vec<FlowSummary>| {
            t.expire(Timestamp(ns as i64), out);
            out.len()
        };
        // Exactly at the timeout the flow stays; one ns later it goes.
        assert_eq!(exp(&mut t, to.udp_new_ns, &mut out), 0);
        assert_eq!(exp(&mut t, to.udp_new_ns + 1, &mut out), 1);
        assert_eq!(out[0].endpoints.dst_ip, ip("10.0.0.3"));
        assert_eq!(out[0].state, FlowState::New);
        assert_eq!(exp(&mut t, to.tcp_new_ns + 1, &mut out), 2);
        assert_eq!(out[1].endpoints.src_port, 50000);
        assert_eq!(exp(&mut t, to.udp_established_ns + 1, &mut out), 3);
        assert_eq!(out[2].state, FlowState::Established);
        assert_eq!(out[2].endpoints.ip_proto, ip_proto::UDP);
        assert_eq!(exp(&mut t, to.tcp_established_ns, &mut out), 3);
        assert_eq!(exp(&mut t, to.tcp_established_ns + 1, &mut out), 4);
        assert!(out.iter().all(|f| f.reason == EndReason::Timeout));
        assert_eq!(t.stats().timed_out, 4);
        assert_eq!(t.stats().active, 0);
    }

    #[test]
    fn activity_postpones_expiry() {
        let mut t = table();
        let mut out = Vec::new();
        let c = ("10.0.0.1", 50000);
        let s = ("10.0.0.2", 80);
        t.update(&seg(0, c, s, SYN, 1, &[]), &mut out);
        t.update(&seg(50 * S, c, s, SYN, 1, &[]), &mut out);
        t.expire(Timestamp(100 * S), &mut out);
        assert!(out.is_empty());
        t.expire(Timestamp(111 * S), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].end, Timestamp(50 * S));
    }

    #[test]
    fn fin_close_lingers_then_closed() {
        let mut t = table();
        let mut out = Vec::new();
        let c = ("10.0.0.1", 50000);
        let s = ("10.0.0.2", 80);
        t.update(&seg(0, c, s, SYN, 1, &[]), &mut out);
        t.update(&seg(1, s, c, SYN | ACK, 1, &[]), &mut out);
        t.update(&seg(2, c, s, ACK, 2, &[]), &mut out);
        let v = t
            .update(&seg(3, c, s, FIN | ACK, 2, &[]), &mut out)
            .unwrap();
        assert_eq!(t.flow(v.flow).unwrap().state, FlowState::Established);
        let v = t
            .update(&seg(4, s, c, FIN | ACK, 2, &[]), &mut out)
            .unwrap();
        assert_eq!(t.flow(v.flow).unwrap().state, FlowState::Closed);
        t.update(&seg(5, c, s, ACK, 3, &[]), &mut out);
        t.expire(Timestamp(5 + 10 * S), &mut out);
        assert!(out.is_empty());
        t.expire(Timestamp(6 + 10 * S), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].reason, EndReason::Closed);
        assert_eq!(out[0].state, FlowState::Closed);
        assert_eq!(out[0].pkts_toserver + out[0].pkts_toclient, 6);
        assert_eq!(t.stats().closed, 1);
    }

    #[test]
    fn rst_closes_and_new_syn_restarts() {
        let mut t = table();
        let mut out = Vec::new();
        let c = ("10.0.0.1", 50000);
        let s = ("10.0.0.2", 3389);
        t.update(&seg(0, c, s, SYN, 1, &[]), &mut out);
        let v = t
            .update(&seg(10, s, c, RST | ACK, 0, &[]), &mut out)
            .unwrap();
        assert_eq!(t.flow(v.flow).unwrap().state, FlowState::Closed);
        // The client retries: the old flow leaves as Closed, a new one starts.
        let v = t.update(&seg(S, c, s, SYN, 1, &[]), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].reason, EndReason::Closed);
        assert_eq!((out[0].pkts_toserver, out[0].pkts_toclient), (1, 1));
        let f = t.flow(v.flow).unwrap();
        assert_eq!(
            (f.state, f.start, f.pkts),
            (FlowState::New, Timestamp(S), [1, 0])
        );
        assert_ne!(f.flow_id, out[0].flow_id);
        assert_eq!(t.stats().created, 2);
    }

    #[test]
    fn syn_flood_is_bounded_by_capacity() {
        let cfg = FlowConfig {
            capacity: 1000,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(cfg);
        let mut out = Vec::new();
        let mut emitted = 0usize;
        let srv = ("192.0.2.1", 443);
        for i in 0..100_000u32 {
            let src = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            let mut p = seg(i as i64 * 1000, srv, srv, SYN, i, &[]);
            p.src = src;
            t.update(&p, &mut out);
            assert!(t.stats().active <= 1000);
            if i >= 1000 {
                // Each new flow evicts exactly the oldest one.
                assert_eq!(out.len(), 1);
                let victim = &out[0];
                assert_eq!(victim.reason, EndReason::Evicted);
                assert_eq!(victim.start, Timestamp((i as i64 - 1000) * 1000));
                assert_eq!(
                    victim.endpoints.src_ip,
                    IpAddr::from((0x0a00_0000u32 + i - 1000).to_be_bytes())
                );
            }
            emitted += out.len();
            out.clear();
        }
        let st = t.stats();
        assert_eq!(st.evicted, 99_000);
        assert_eq!(emitted, 99_000);
        assert_eq!(
            (st.active, st.peak_active, st.created),
            (1000, 1000, 100_000)
        );
        assert_eq!(st.reassembly_bytes, 0);
        assert!(t.slots.len() <= 1000);
        t.flush(&mut out);
        assert_eq!(out.len(), 1000);
    }

    #[test]
    fn eviction_prefers_new_flows() {
        let cfg = FlowConfig {
            capacity: 2,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(cfg);
        let mut out = Vec::new();
        let c = ("10.0.0.1", 50000);
        let s = ("10.0.0.2", 80);
        // An established flow, older than a half-open one.
        t.update(&seg(0, c, s, SYN, 1, &[]), &mut out);
        t.update(&seg(1, s, c, SYN | ACK, 1, &[]), &mut out);
        t.update(&seg(2, c, s, ACK, 2, &[]), &mut out);
        t.update(&seg(3, ("10.0.0.5", 1), s, SYN, 1, &[]), &mut out);
        t.update(&seg(4, ("10.0.0.6", 1), s, SYN, 1, &[]), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].endpoints.src_ip, ip("10.0.0.5"));
        assert_eq!(out[0].reason, EndReason::Evicted);
    }

    #[test]
    fn memcap_bounds_prefix_memory() {
        let cfg = FlowConfig {
            stream_prefix_bytes: 1024,
            reassembly_memcap: 3 * 1024,
            ..FlowConfig::default()
        };
        let mut t = FlowTable::new(cfg);
        let mut out = Vec::new();
        let s = ("10.0.0.2", 80);
        let mut handles = Vec::new();
        for i in 0..5u16 {
            let c = ("10.0.0.1", 40000 + i);
            t.update(&seg(0, c, s, SYN, 1000, &[]), &mut out);
            let v = t
                .update(
                    &seg(1, c, s, ACK | PSH, 1001, b"GET / HTTP/1.1\r\n"),
                    &mut out,
                )
                .unwrap();
            handles.push(v);
            assert!(t.stats().reassembly_bytes <= 3 * 1024);
        }
        assert_eq!(t.stats().reassembly_bytes, 3 * 1024);
        assert_eq!(t.stats().reassembly_memcap_hits, 2);
        assert!(handles[2].stream_grew && !handles[3].stream_grew);
        assert_eq!(t.stream_prefix(handles[4].flow, Direction::ToServer), b"");
        // Releasing one buffer lets a later flow get one.
        t.release_prefix(handles[0].flow, Direction::ToServer);
        assert_eq!(t.stats().reassembly_bytes, 2 * 1024);
        t.update(&seg(2, ("10.0.0.9", 1), s, ACK, 5, b"x"), &mut out);
        assert_eq!(t.stats().reassembly_bytes, 3 * 1024);
        t.flush(&mut out);
        assert_eq!(t.stats().reassembly_bytes, 0);
        let gaps: u32 = out
            .iter()
            .map(|f| f.tcp.as_ref().unwrap().reassembly_gaps[0])
            .sum();
        assert_eq!(gaps, 2 * 16);
    }

    #[test]
    fn stop_reassembly_keeps_prefix() {
        let mut t = table();
        let mut out = Vec::new();
        let c = ("10.0.0.1", 50000);
        let s = ("10.0.0.2", 22);
        t.update(&seg(0, c, s, SYN, 99, &[]), &mut out);
        let v = t
            .update(&seg(1, c, s, ACK, 100, b"SSH-2.0-"), &mut out)
            .unwrap();
        t.stop_reassembly(v.flow, Direction::ToServer);
        let v = t
            .update(&seg(2, c, s, ACK, 108, b"OpenSSH"), &mut out)
            .unwrap();
        assert!(!v.stream_grew);
        assert_eq!(t.stream_prefix(v.flow, Direction::ToServer), b"SSH-2.0-");
    }

    #[test]
    fn icmp_and_esp_keys() {
        let mut t = table();
        let mut out = Vec::new();
        let mut echo = udp(Timestamp(0), ("10.0.0.1", 0), ("10.0.0.2", 0));
        echo.ip_proto = ip_proto::ICMP;
        echo.transport = Transport::Icmp {
            icmp_type: 8,
            code: 0,
        };
        let v1 = t.update(&echo, &mut out).unwrap();
        let mut reply = udp(Timestamp(1), ("10.0.0.2", 0), ("10.0.0.1", 0));
        reply.ip_proto = ip_proto::ICMP;
        reply.transport = Transport::Icmp {
            icmp_type: 0,
            code: 0,
        };
        let v2 = t.update(&reply, &mut out).unwrap();
        assert_eq!(v1.flow, v2.flow);
        assert_eq!(v2.dir, Direction::ToClient);
        let f = t.flow(v1.flow).unwrap();
        assert_eq!(f.endpoints.icmp_type_code, Some((8, 0)));
        assert_eq!(f.state, FlowState::Established);
        let mut esp = udp(Timestamp(0), ("10.0.0.1", 0), ("10.0.0.2", 0));
        esp.ip_proto = ip_proto::ESP;
        esp.transport = Transport::Esp { spi: 0x1234 };
        let e1 = t.update(&esp, &mut out).unwrap();
        esp.transport = Transport::Esp { spi: 0x5678 };
        let e2 = t.update(&esp, &mut out).unwrap();
        assert_ne!(e1.flow, e2.flow);
        assert_eq!(t.flow(e2.flow).unwrap().endpoints.spi, Some(0x5678));
        assert_eq!(t.stats().active, 3);
    }

    /// Rough cost of `update` on a known flow; run by hand with
    /// `cargo test --release --lib flow::table -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn update_cost_on_known_flows() {
        let mut t = table();
        let mut out = Vec::new();
        let s = ("10.0.0.2", 443);
        let clients: Vec<String> = (0..1000)
            .map(|i| format!("10.1.{}.{}", i / 250, i % 250))
            .collect();
        let pkts: Vec<Packet<'_>> = clients
            .iter()
            .map(|c| seg(0, (c.as_str(), 40000), s, ACK, 1, &[]))
            .collect();
        for p in &pkts {
            t.update(p, &mut out);
        }
        let n = 5_000_000;
        let start = std::time::Instant::now();
        for i in 0..n {
            let v = t.update(&pkts[i % pkts.len()], &mut out);
            std::hint::black_box(v);
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        eprintln!("update on a known flow: {ns:.1} ns");
        assert!(out.is_empty());
    }
}
