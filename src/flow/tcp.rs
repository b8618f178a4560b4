//! TCP facts the flow table keeps: SYN/SYN-ACK options (RFC 9293 §3.1,
//! RFC 7323, RFC 2018), the initial-TTL guess, and anomaly flags.

use arrayvec::ArrayVec;

use crate::capture::Timestamp;
use crate::decode::{tcp_flags, TcpSegment};
use crate::flow::reassembly::{Budget, SegmentOutcome, StreamPrefix};
use crate::flow::{Direction, FlowState, SynInfo, TcpSummary};

/// TCP option kinds (IANA "TCP Option Kind Numbers").
pub mod option_kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// Bits of [`TcpSummary::anomalies`](crate::flow::TcpSummary::anomalies).
pub mod anomaly {
    /// The SYN's or SYN-ACK's option list was malformed (a length byte
    /// missing, below 2 or past the end); parsing stopped there.
    pub const OPTIONS_MALFORMED: u16 = 1 << 0;
    /// A known option had the wrong length (its value was ignored).
    pub const OPTION_BAD_LENGTH: u16 = 1 << 1;
    /// Retransmitted bytes disagreed with bytes already reassembled.
    pub const OVERLAP_CONFLICT: u16 = 1 << 2;
    /// The to-server SYN was not seen: that stream prefix starts at the first
    /// data segment, not at the ISN + 1.
    pub const MIDSTREAM_TOSERVER: u16 = 1 << 3;
    /// Same for the to-client direction (no SYN-ACK seen).
    pub const MIDSTREAM_TOCLIENT: u16 = 1 << 4;
    /// Too many holes in a stream prefix: a segment could not be held.
    pub const REASSEMBLY_HOLES: u16 = 1 << 5;
    /// The SYN was retransmitted (the RTT uses the first one).
    pub const SYN_RETRANSMITTED: u16 = 1 << 6;
}

/// What a SYN's option list says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: bool,
    /// Kinds in wire order, capped at 16. After an EOL, each zero padding
    /// byte is listed as another EOL, as tshark and JA4T do.
    pub kinds: ArrayVec<u8, 16>,
    /// `anomaly::*` bits.
    pub anomalies: u16,
}

fn push_kind(kinds: &mut ArrayVec<u8, 16>, k: u8) {
    // Beyond 16 kinds the list is cut; the values are still read.
    let _ = kinds.try_push(k);
}

/// Parse a TCP options slice. Never panics; a malformed list stops the parse
/// and sets [`anomaly::OPTIONS_MALFORMED`].
pub fn parse_options(bytes: &[u8]) -> TcpOptions {
    let mut o = TcpOptions::default();
    let mut rest = bytes;
    while let Some((&kind, after_kind)) = rest.split_first() {
        push_kind(&mut o.kinds, kind);
        match kind {
            option_kind::EOL => {
                // Padding after EOL should be zeros; list them, stop at
                // anything else.
                for &b in after_kind.iter().take_while(|&&b| b == 0) {
                    push_kind(&mut o.kinds, b);
                }
                break;
            }
            option_kind::NOP => rest = after_kind,
            _ => {
                let Some(&len) = after_kind.first() else {
                    o.anomalies |= anomaly::OPTIONS_MALFORMED;
                    break;
                };
                let len = usize::from(len);
                let Some(body) = rest.get(2..len.max(2)).filter(|_| len >= 2) else {
                    o.anomalies |= anomaly::OPTIONS_MALFORMED;
                    break;
                };
                read_option(&mut o, kind, body);
                rest = rest.get(len..).unwrap_or(&[]);
            }
        }
    }
    o
}

/// Take the value of one length-checked option.
fn read_option(o: &mut TcpOptions, kind: u8, body: &[u8]) {
    let ok = match kind {
        option_kind::MSS => match body {
            [a, b] => {
                o.mss = Some(u16::from_be_bytes([*a, *b]));
                true
            }
            _ => false,
        },
        option_kind::WINDOW_SCALE => match body {
            [s] => {
                o.window_scale = Some(*s);
                true
            }
            _ => false,
        },
        option_kind::SACK_PERMITTED => {
            o.sack_permitted = body.is_empty();
            body.is_empty()
        }
        option_kind::TIMESTAMPS => {
            o.timestamps = body.len() == 8;
            body.len() == 8
        }
        _ => true,
    };
    if !ok {
        o.anomalies |= anomaly::OPTION_BAD_LENGTH;
    }
}

/// The initial TTL a sender most likely used: the smallest of 64, 128 and
/// 255 that is at least `ttl`.
///
/// Initial TTLs of 32 (Windows 95/NT 3.x) and 60 (old AIX/HP-UX) are not
/// guessed: those stacks are gone from today's networks, while a TTL of
/// 33..=60 is common from a 64 host 4..31 hops away. They map to 64 (a
/// 32 host thus shows 32+ extra hops).
pub fn guess_initial_ttl(ttl: u8) -> u8 {
    match ttl {
        0..=64 => 64,
        65..=128 => 128,
        _ => 255,
    }
}

/// The [`SynInfo`] of a SYN or SYN-ACK, and its anomaly bits.
pub fn syn_info(ttl: u8, window: u16, options: &[u8]) -> (SynInfo, u16) {
    let o = parse_options(options);
    let initial_ttl = guess_initial_ttl(ttl);
    let info = SynInfo {
        ttl,
        initial_ttl,
        hops: initial_ttl - ttl,
        window,
        mss: o.mss,
        window_scale: o.window_scale,
        sack_permitted: o.sack_permitted,
        timestamps: o.timestamps,
        option_kinds: o.kinds,
    };
    (info, o.anomalies)
}

/// The TCP side of a flow: handshake, close, measurements, stream prefixes.
///
/// Handshake RTT, split at the sensor (as Zeek and JA4L do, from the FIRST
/// SYN): `SYN -> SYN-ACK` is the path from the sensor to the server and back,
/// `SYN-ACK -> ACK` the path to the client and back. A retransmitted SYN is
/// ignored (its SYN info too) and flagged [`anomaly::SYN_RETRANSMITTED`]: the
/// server half then includes the retransmission delay, which is what the
/// established tools report, and the flag tells readers to discount it.
#[derive(Debug, Default)]
pub struct TcpState {
    /// Facts collected so far; the reassembly figures are filled in by
    /// [`TcpState::summary`].
    facts: TcpSummary,
    syn_ts: Option<Timestamp>,
    synack_ts: Option<Timestamp>,
    handshake_done: bool,
    fin: [bool; 2],
    rst: bool,
    /// A packet without SYN was seen in this direction.
    non_syn: [bool; 2],
    pub streams: [StreamPrefix; 2],
}

impl TcpState {
    /// Account one segment travelling `dir`. Returns what reassembly did.
    pub fn on_segment(
        &mut self,
        dir: Direction,
        seg: &TcpSegment<'_>,
        ttl: u8,
        ts: Timestamp,
        payload: &[u8],
        budget: &mut Budget,
    ) -> SegmentOutcome {
        let f = seg.flags;
        let has = |bit: u8| f & bit != 0;
        match dir {
            Direction::ToServer => self.facts.flags_toserver |= f,
            Direction::ToClient => self.facts.flags_toclient |= f,
        }
        let syn = has(tcp_flags::SYN);
        let ack = has(tcp_flags::ACK);
        match (dir, syn, ack) {
            (Direction::ToServer, true, false) => self.on_syn(seg, ttl, ts),
            (Direction::ToClient, true, true) => self.on_syn_ack(seg, ttl, ts),
            (Direction::ToServer, false, true) if !has(tcp_flags::RST) => self.on_client_ack(ts),
            _ => {}
        }
        if !syn {
            self.non_syn[dir.index()] = true;
        }
        self.rst |= has(tcp_flags::RST);
        if has(tcp_flags::FIN) {
            self.fin[dir.index()] = true;
        }
        if payload.is_empty() || has(tcp_flags::RST) {
            // RST payloads are diagnostics, not stream bytes.
            return SegmentOutcome::default();
        }
        // Data on a SYN (TCP Fast Open) starts after the ISN.
        let data_seq = if syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let Some(stream) = self.streams.get_mut(dir.index()) else {
            return SegmentOutcome::default();
        };
        let o = stream.add(data_seq, payload, budget);
        if o.conflict {
            self.facts.overlap_conflicts = self.facts.overlap_conflicts.saturating_add(1);
            self.facts.anomalies |= anomaly::OVERLAP_CONFLICT;
        }
        if o.holes_full {
            self.facts.anomalies |= anomaly::REASSEMBLY_HOLES;
        }
        o
    }

    fn on_syn(&mut self, seg: &TcpSegment<'_>, ttl: u8, ts: Timestamp) {
        if self.facts.syn.is_some() {
            self.facts.anomalies |= anomaly::SYN_RETRANSMITTED;
            return;
        }
        let (info, a) = syn_info(ttl, seg.window, seg.options);
        self.facts.syn = Some(info);
        self.facts.anomalies |= a;
        self.syn_ts = Some(ts);
        self.streams[0].set_isn(seg.seq);
    }

    fn on_syn_ack(&mut self, seg: &TcpSegment<'_>, ttl: u8, ts: Timestamp) {
        if self.facts.syn_ack.is_some() {
            return;
        }
        let (info, a) = syn_info(ttl, seg.window, seg.options);
        self.facts.syn_ack = Some(info);
        self.facts.anomalies |= a;
        self.synack_ts = Some(ts);
        self.facts.rtt_syn_synack_ns = self.syn_ts.map(|s| ts.since(s));
        self.streams[1].set_isn(seg.seq);
    }

    /// The initiator's first ACK after the SYN-ACK completes the handshake.
    fn on_client_ack(&mut self, ts: Timestamp) {
        if let (Some(sa), None) = (self.synack_ts, self.facts.rtt_synack_ack_ns) {
            self.facts.rtt_synack_ack_ns = Some(ts.since(sa));
            self.handshake_done = true;
        }
    }

    /// The coarse state: Closed after a RST or FINs both ways; Established
    /// after the handshake's ACK, or (midstream) once both directions carried
    /// a packet without SYN; New before.
    pub fn state(&self) -> FlowState {
        if self.rst || (self.fin[0] && self.fin[1]) {
            FlowState::Closed
        } else if self.handshake_done || (self.non_syn[0] && self.non_syn[1]) {
            FlowState::Established
        } else {
            FlowState::New
        }
    }

    /// Give back both prefix buffers; returns the bytes freed.
    pub fn release_buffers(&mut self) -> usize {
        self.streams.iter_mut().map(StreamPrefix::release).sum()
    }

    /// The record of this TCP flow so far.
    pub fn summary(&self) -> TcpSummary {
        let mut t = self.facts.clone();
        let [s0, s1] = &self.streams;
        t.prefix_bytes = [s0.contiguous_len(), s1.contiguous_len()];
        t.reassembly_gaps = [s0.lost, s1.lost];
        if s0.midstream {
            t.anomalies |= anomaly::MIDSTREAM_TOSERVER;
        }
        if s1.midstream {
            t.anomalies |= anomaly::MIDSTREAM_TOCLIENT;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    // Expected values below are tshark 4.0's `tcp.options.mss_val`,
    // `tcp.options.wscale.shift`, `tcp.option_kind`, `ip.ttl` and
    // `tcp.window_size_value` for the first SYN/SYN-ACK of each capture.

    #[test]
    fn windows_syn_rdp_to_ssl() {
        // zeek/traces/rdp/rdp-to-ssl.pcap frame 1, 192.168.1.200:49206 SYN.
        let (i, a) = syn_info(128, 8192, &hex("020405b40103030801010402"));
        assert_eq!(a, 0);
        assert_eq!(
            (i.ttl, i.initial_ttl, i.hops, i.window),
            (128, 128, 0, 8192)
        );
        assert_eq!(i.mss, Some(1460));
        assert_eq!(i.window_scale, Some(8));
        assert!(i.sack_permitted);
        assert!(!i.timestamps);
        assert_eq!(i.option_kinds.as_slice(), &[2, 1, 3, 1, 1, 4]);
    }

    #[test]
    fn macos_syn_with_eol_padding_ecdhe() {
        // zeek/traces/tls/ecdhe.pcap frame 1.
        let (i, a) = syn_info(
            64,
            65535,
            &hex("020405b4010303040101080a1b25a5b60000000004020000"),
        );
        assert_eq!(a, 0);
        assert_eq!(i.mss, Some(1460));
        assert_eq!(i.window_scale, Some(4));
        assert!(i.sack_permitted && i.timestamps);
        assert_eq!(i.option_kinds.as_slice(), &[2, 1, 3, 1, 1, 8, 4, 0, 0]);
        assert_eq!((i.initial_ttl, i.hops), (64, 0));
    }

    #[test]
    fn linux_synack_through_hops_ecdhe() {
        // ecdhe.pcap frame 2: 74.125.239.97 SYN-ACK, TTL 53.
        let (i, a) = syn_info(53, 42540, &hex("020405960402080a62cbe2401b25a5b601030306"));
        assert_eq!(a, 0);
        assert_eq!(i.mss, Some(1430));
        assert_eq!(i.window_scale, Some(6));
        assert_eq!(i.option_kinds.as_slice(), &[2, 4, 8, 1, 3]);
        assert_eq!((i.initial_ttl, i.hops, i.window), (64, 11, 42540));
    }

    #[test]
    fn unusual_order_synack_ssl_v3() {
        // zeek/traces/tls/ssl.v3.pcap frame 2: MSS last, TTL 50.
        let (i, a) = syn_info(
            50,
            1460,
            &hex("0101080a623bc1804b1d30350103030001010402020405b4"),
        );
        assert_eq!(a, 0);
        assert_eq!(i.option_kinds.as_slice(), &[1, 1, 8, 1, 3, 1, 1, 4, 2]);
        assert_eq!(i.mss, Some(1460));
        assert_eq!(i.window_scale, Some(0));
        assert!(i.sack_permitted && i.timestamps);
        assert_eq!(i.hops, 14);
    }

    #[test]
    fn ttl_103_guesses_128() {
        // zeek/traces/tls/hrr.pcap frame 2 (Google SYN-ACK, TTL 103).
        let (i, _) = syn_info(103, 60192, &hex("020405640402080a3760f94a451561ae01030308"));
        assert_eq!((i.initial_ttl, i.hops), (128, 25));
        assert_eq!(i.mss, Some(1380));
        assert_eq!(guess_initial_ttl(255), 255);
        assert_eq!(guess_initial_ttl(129), 255);
        assert_eq!(guess_initial_ttl(0), 64);
    }

    #[test]
    fn malformed_lists_stop_and_flag() {
        // Length byte missing.
        let o = parse_options(&[1, 2]);
        assert_eq!(o.kinds.as_slice(), &[1, 2]);
        assert_ne!(o.anomalies & anomaly::OPTIONS_MALFORMED, 0);
        // Length below 2 (would loop forever if trusted).
        let o = parse_options(&[3, 1, 8, 2, 4, 5]);
        assert_eq!(o.kinds.as_slice(), &[3]);
        assert_eq!(o.window_scale, None);
        assert_ne!(o.anomalies & anomaly::OPTIONS_MALFORMED, 0);
        // Length past the end (truncated capture): MSS read, TS cut.
        let o = parse_options(&[2, 4, 5, 0xb4, 8, 10, 0, 0]);
        assert_eq!(o.mss, Some(1460));
        assert!(!o.timestamps);
        assert_ne!(o.anomalies & anomaly::OPTIONS_MALFORMED, 0);
        // Known kind with the wrong length: skipped, flagged, parse goes on.
        let o = parse_options(&[2, 3, 5, 4, 2]);
        assert_eq!(o.mss, None);
        assert!(o.sack_permitted);
        assert_eq!(o.anomalies, anomaly::OPTION_BAD_LENGTH);
        // 40 NOPs: kinds capped at 16, no anomaly.
        let o = parse_options(&[1; 40]);
        assert_eq!(o.kinds.len(), 16);
        assert_eq!(o.anomalies, 0);
        assert_eq!(parse_options(&[]), TcpOptions::default());
    }
}
