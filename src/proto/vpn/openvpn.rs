//! OpenVPN over UDP and TCP: the packet opcodes, the control channel's
//! session ids, which wrapping of the control channel is in use (none,
//! `--tls-auth`, `--tls-crypt`, `--tls-crypt-v2`), and the TLS handshake
//! the control channel carries, handed to the TLS dissector for JA3, JA4
//! and SNI.
//!
//! Wire format (OpenVPN's protocol description, `doc/doxygen/
//! openvpn.doxyfile` "Network protocol" and `ssl_pkt.h`):
//! - TCP frames each packet with a 2-byte big-endian length.
//! - Byte 0: opcode (high 5 bits) and key id (low 3 bits).
//! - Control packets (every opcode but P_DATA_V1/V2): an 8-byte session
//!   id, then per variant:
//!   - plain: the reliability header (ack count, acked packet ids, the
//!     peer's session id when acks are present, then the message packet
//!     id, absent in P_ACK_V1) and the TLS payload;
//!   - tls-auth: an HMAC (20, 32 or 64 bytes for SHA1/SHA256/SHA512), a
//!     4-byte replay packet id and 4-byte net time, then the same
//!     reliability header and payload;
//!   - tls-crypt: packet id and net time, a 32-byte tag, then everything
//!     else encrypted (tls-crypt-v2 adds opcodes 10 and 11).
//!
//! The variant is not announced; it is told apart by which layout the
//! packet fits (a plausible net time, an ack count of at most 8, lengths
//! that add up), on the flow's first control packet.

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{AppProto, AppSummary, FlowCx, Probe, Progress};
use crate::proto::tls::TlsStream;

use super::{be16, be32, hex8, VpnRecord};

/// Opcodes (`ssl_pkt.h`).
pub const P_CONTROL_HARD_RESET_CLIENT_V1: u8 = 1;
pub const P_CONTROL_HARD_RESET_SERVER_V1: u8 = 2;
pub const P_CONTROL_SOFT_RESET_V1: u8 = 3;
pub const P_CONTROL_V1: u8 = 4;
pub const P_ACK_V1: u8 = 5;
pub const P_DATA_V1: u8 = 6;
pub const P_CONTROL_HARD_RESET_CLIENT_V2: u8 = 7;
pub const P_CONTROL_HARD_RESET_SERVER_V2: u8 = 8;
pub const P_DATA_V2: u8 = 9;
pub const P_CONTROL_HARD_RESET_CLIENT_V3: u8 = 10;
pub const P_CONTROL_WKC_V1: u8 = 11;

/// HMAC lengths of `--tls-auth` (SHA1, SHA256, SHA512), most common first.
pub const HMAC_LENS: [usize; 3] = [20, 32, 64];
/// tls-crypt's authentication tag (HMAC-SHA256).
pub const TLS_CRYPT_TAG: usize = 32;
/// Most acks one control packet carries (`RELIABLE_ACK_SIZE`).
pub const MAX_ACKS: u8 = 8;
/// A net time no earlier than 2010-01-01 and before 2040 (seconds): a
/// narrow window, since random bytes fall into it a fifth of the time.
const NET_TIME_MIN: u32 = 1_262_304_000;
const NET_TIME_MAX: u32 = 2_208_988_800;
/// tls-auth's replay packet id counts control packets from 1: below this
/// for any session seen in practice.
const MAX_TLS_AUTH_PID: u32 = 1 << 24;
/// Longest TCP frame accepted (OpenVPN's TCP frames are below 64 KiB and
/// its control packets near the MTU).
pub const MAX_FRAME: usize = 16384;
/// Control-channel bytes reassembled per direction for the TLS hellos.
pub const MAX_TLS_BYTES: usize = 16384;

const SESSION_ID_LEN: usize = 8;
const PACKET_ID_LEN: usize = 4;
const NET_TIME_LEN: usize = 4;

mod field {
    pub const OPCODE: usize = 0;
    pub const SESSION_ID: usize = 1;
    /// Where the variant-specific part starts.
    pub const AFTER_SESSION: usize = 9;
}

/// How the control channel is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Plain,
    TlsAuth { hmac_len: u8 },
    TlsCrypt,
    TlsCryptV2,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::TlsAuth { .. } => "tls-auth",
            Variant::TlsCrypt => "tls-crypt",
            Variant::TlsCryptV2 => "tls-crypt-v2",
        }
    }

    /// Bytes between the session id and the reliability header; `None`
    /// when the rest is encrypted.
    fn wrap_len(self) -> Option<usize> {
        match self {
            Variant::Plain => Some(0),
            Variant::TlsAuth { hmac_len } => {
                Some(usize::from(hmac_len) + PACKET_ID_LEN + NET_TIME_LEN)
            }
            Variant::TlsCrypt | Variant::TlsCryptV2 => None,
        }
    }
}

pub fn opcode_name(op: u8) -> &'static str {
    match op {
        P_CONTROL_HARD_RESET_CLIENT_V1 => "P_CONTROL_HARD_RESET_CLIENT_V1",
        P_CONTROL_HARD_RESET_SERVER_V1 => "P_CONTROL_HARD_RESET_SERVER_V1",
        P_CONTROL_SOFT_RESET_V1 => "P_CONTROL_SOFT_RESET_V1",
        P_CONTROL_V1 => "P_CONTROL_V1",
        P_ACK_V1 => "P_ACK_V1",
        P_DATA_V1 => "P_DATA_V1",
        P_CONTROL_HARD_RESET_CLIENT_V2 => "P_CONTROL_HARD_RESET_CLIENT_V2",
        P_CONTROL_HARD_RESET_SERVER_V2 => "P_CONTROL_HARD_RESET_SERVER_V2",
        P_DATA_V2 => "P_DATA_V2",
        P_CONTROL_HARD_RESET_CLIENT_V3 => "P_CONTROL_HARD_RESET_CLIENT_V3",
        P_CONTROL_WKC_V1 => "P_CONTROL_WKC_V1",
        _ => "unknown",
    }
}

fn is_hard_reset(op: u8) -> bool {
    matches!(
        op,
        P_CONTROL_HARD_RESET_CLIENT_V1
            | P_CONTROL_HARD_RESET_SERVER_V1
            | P_CONTROL_HARD_RESET_CLIENT_V2
            | P_CONTROL_HARD_RESET_SERVER_V2
            | P_CONTROL_HARD_RESET_CLIENT_V3
    )
}

/// Why bytes are not an OpenVPN packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OvError {
    Empty,
    UnknownOpcode(u8),
    /// A control packet shorter than its opcode and session id.
    ShortControl(usize),
    /// The reliability header runs past the packet (needed, had).
    Truncated {
        need: usize,
        len: usize,
    },
    /// More acks than OpenVPN sends (the count, at its offset).
    TooManyAcks {
        count: u8,
        offset: usize,
    },
}

impl std::fmt::Display for OvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OvError::Empty => write!(f, "empty packet"),
            OvError::UnknownOpcode(o) => write!(f, "opcode {o} at offset 0 is not 1-11"),
            OvError::ShortControl(n) => write!(f, "control packet of {n} bytes has no session id"),
            OvError::Truncated { need, len } => {
                write!(f, "reliability header needs {need} bytes, packet has {len}")
            }
            OvError::TooManyAcks { count, offset } => {
                write!(f, "ack count {count} at offset {offset} is over 8")
            }
        }
    }
}

/// A checked view of one OpenVPN packet (without TCP's length prefix).
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    buf: &'a [u8],
}

impl<'a> Packet<'a> {
    /// A known opcode, and a session id for control packets.
    pub fn parse(buf: &'a [u8]) -> Result<Packet<'a>, OvError> {
        let b0 = *buf.get(field::OPCODE).ok_or(OvError::Empty)?;
        let op = b0 >> 3;
        if !(P_CONTROL_HARD_RESET_CLIENT_V1..=P_CONTROL_WKC_V1).contains(&op) {
            return Err(OvError::UnknownOpcode(op));
        }
        let p = Packet { buf };
        if p.is_control() && buf.len() < field::AFTER_SESSION {
            return Err(OvError::ShortControl(buf.len()));
        }
        Ok(p)
    }

    pub fn opcode(&self) -> u8 {
        self.buf.first().map_or(0, |b| b >> 3)
    }

    pub fn key_id(&self) -> u8 {
        self.buf.first().map_or(0, |b| b & 0x07)
    }

    pub fn is_control(&self) -> bool {
        !matches!(self.opcode(), P_DATA_V1 | P_DATA_V2)
    }

    /// The sender's session id (control packets).
    pub fn session_id(&self) -> Option<String> {
        if self.is_control() {
            hex8(self.buf, field::SESSION_ID)
        } else {
            None
        }
    }

    /// The reliability header and payload, for a variant that leaves them
    /// in clear.
    pub fn control(&self, variant: Variant) -> Result<Option<Control<'a>>, OvError> {
        let Some(wrap) = variant.wrap_len() else {
            return Ok(None);
        };
        if !self.is_control() {
            return Ok(None);
        }
        reliability(self.buf, field::AFTER_SESSION + wrap, self.opcode()).map(Some)
    }

    /// Which layout this control packet fits, tried strictest first.
    pub fn variant(&self) -> Option<Variant> {
        if !self.is_control() {
            return None;
        }
        let b = self.buf;
        let op = self.opcode();
        for h in HMAC_LENS {
            let at = field::AFTER_SESSION + h;
            let fits = be32(b, at).is_some_and(|pid| pid != 0 && pid < MAX_TLS_AUTH_PID)
                && be32(b, at + PACKET_ID_LEN).is_some_and(plausible_time)
                && reliability(b, at + PACKET_ID_LEN + NET_TIME_LEN, op).is_ok();
            if fits {
                return Some(Variant::TlsAuth {
                    hmac_len: u8::try_from(h).unwrap_or(0),
                });
            }
        }
        // tls-crypt came with OpenVPN 2.4, after the V1 resets were gone.
        let v1_reset = matches!(
            op,
            P_CONTROL_HARD_RESET_CLIENT_V1 | P_CONTROL_HARD_RESET_SERVER_V1
        );
        let crypt = !v1_reset
            && be32(b, field::AFTER_SESSION).is_some_and(|pid| pid != 0)
            && be32(b, field::AFTER_SESSION + PACKET_ID_LEN).is_some_and(plausible_time)
            && b.len() >= field::AFTER_SESSION + PACKET_ID_LEN + NET_TIME_LEN + TLS_CRYPT_TAG;
        if crypt {
            return Some(match op {
                P_CONTROL_HARD_RESET_CLIENT_V3 | P_CONTROL_WKC_V1 => Variant::TlsCryptV2,
                _ => Variant::TlsCrypt,
            });
        }
        reliability(b, field::AFTER_SESSION, op)
            .ok()
            .map(|_| Variant::Plain)
    }
}

fn plausible_time(t: u32) -> bool {
    (NET_TIME_MIN..NET_TIME_MAX).contains(&t)
}

/// The reliability layer of a control packet in clear.
#[derive(Debug, Clone, Copy)]
pub struct Control<'a> {
    pub acks: u8,
    /// The message packet id (absent in P_ACK_V1).
    pub message_id: Option<u32>,
    /// What the message carries (TLS records for P_CONTROL_V1).
    pub payload: &'a [u8],
}

/// Parse the reliability header at `at`: ack count, acked ids, the peer's
/// session id when there are acks, and the message packet id. A P_ACK_V1
/// must end right there.
fn reliability(b: &[u8], at: usize, op: u8) -> Result<Control<'_>, OvError> {
    let count = *b.get(at).ok_or(OvError::Truncated {
        need: at + 1,
        len: b.len(),
    })?;
    if count > MAX_ACKS {
        return Err(OvError::TooManyAcks { count, offset: at });
    }
    let mut end = at + 1 + usize::from(count) * PACKET_ID_LEN;
    if count > 0 {
        end += SESSION_ID_LEN;
    }
    let message_id = if op == P_ACK_V1 {
        None
    } else {
        let id = be32(b, end).ok_or(OvError::Truncated {
            need: end + PACKET_ID_LEN,
            len: b.len(),
        })?;
        end += PACKET_ID_LEN;
        Some(id)
    };
    let payload = b.get(end..).ok_or(OvError::Truncated {
        need: end,
        len: b.len(),
    })?;
    if op == P_ACK_V1 && !payload.is_empty() {
        return Err(OvError::Truncated {
            need: end,
            len: b.len(),
        });
    }
    Ok(Control {
        acks: count,
        message_id,
        payload,
    })
}

/// A packet that opens (or answers the opening of) a session, in a layout
/// we can name: OpenVPN for certain.
fn probe_packet(dir: Direction, bytes: &[u8]) -> Probe {
    let Ok(p) = Packet::parse(bytes) else {
        return Probe::NoMatch;
    };
    if !is_hard_reset(p.opcode()) || p.key_id() != 0 {
        // Mid-session control or data packets are too weak alone.
        return if p.is_control() && p.variant().is_some() {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    }
    match p.variant() {
        // A hard reset is the first message: packet id 0.
        Some(v @ (Variant::Plain | Variant::TlsAuth { .. })) => match p.control(v) {
            Ok(Some(c)) if c.message_id == Some(0) => Probe::Match,
            _ => Probe::NoMatch,
        },
        // tls-crypt's clear part is only a packet id and a time, which
        // text can imitate (a DNS query's name reads as a current Unix
        // time): only the server's reply, an opcode DNS cannot echo back,
        // settles it.
        Some(_) if p.opcode() == P_CONTROL_HARD_RESET_SERVER_V2 && dir == Direction::ToClient => {
            Probe::Match
        }
        // A tls-crypt-v2 client reset ends with its wrapped client key,
        // whose last 2 bytes are its length (`doc/tls-crypt-v2.txt`): the
        // key must end up right after the reset's own encrypted header.
        Some(Variant::TlsCryptV2) if dir == Direction::ToServer && wkc_fits(bytes) => Probe::Match,
        Some(_) if dir == Direction::ToServer => Probe::NeedMore,
        Some(_) | None => Probe::NoMatch,
    }
}

/// The clear and encrypted parts of a tls-crypt-v2 client reset before
/// its wrapped key: opcode, session id, packet id, net time, tag, then the
/// encrypted ack count and message id, and at most this much of
/// early-negotiation TLVs.
const V3_HEADER_LEN: usize = 1 + SESSION_ID_LEN + PACKET_ID_LEN + NET_TIME_LEN + TLS_CRYPT_TAG + 5;
const V3_TLV_MAX: usize = 64;
/// A wrapped client key is at least its tag and length field.
const WKC_MIN: usize = TLS_CRYPT_TAG + 2;

fn wkc_fits(b: &[u8]) -> bool {
    let Some(wkc) = b
        .len()
        .checked_sub(2)
        .and_then(|at| be16(b, at))
        .map(usize::from)
    else {
        return false;
    };
    let head = b.len().saturating_sub(wkc);
    wkc >= WKC_MIN && wkc <= b.len() && (V3_HEADER_LEN..=V3_HEADER_LEN + V3_TLV_MAX).contains(&head)
}

/// OpenVPN over UDP: a datagram is one packet.
pub fn probe_udp(_cx: &FlowCx, dir: Direction, bytes: &[u8]) -> Probe {
    probe_packet(dir, bytes)
}

/// OpenVPN over TCP: the first length-prefixed packet.
pub fn probe_tcp(_cx: &FlowCx, dir: Direction, bytes: &[u8]) -> Probe {
    let Some(len) = be16(bytes, 0).map(usize::from) else {
        return Probe::NeedMore;
    };
    if !(field::AFTER_SESSION..=MAX_FRAME).contains(&len) {
        return Probe::NoMatch;
    }
    // The opcode alone can rule the flow out before the frame is whole.
    if let Some(&b0) = bytes.get(2) {
        if !is_hard_reset(b0 >> 3) {
            return Probe::NoMatch;
        }
    }
    match bytes.get(2..2 + len) {
        Some(pkt) => probe_packet(dir, pkt),
        None => Probe::NeedMore,
    }
}

/// One flow's OpenVPN state, for either transport.
#[derive(Debug, Default)]
pub struct OpenVpnState {
    variant: Option<Variant>,
    /// TCP: where the next frame starts in each direction's prefix.
    next_frame: [usize; 2],
    /// Control-channel reassembly: the next message packet id wanted and
    /// the TLS bytes so far, per direction.
    next_message: [u32; 2],
    tls_bytes: [Vec<u8>; 2],
    tls_done: [bool; 2],
    saw_data: [bool; 2],
    tls: TlsStream,
}

impl OpenVpnState {
    pub fn new() -> OpenVpnState {
        OpenVpnState::default()
    }

    /// One UDP datagram.
    pub fn on_datagram(
        &mut self,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        self.on_packet(dir, payload, ts, summary);
    }

    /// The whole contiguous prefix of one TCP direction.
    pub fn on_stream(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        let d = dir.index();
        loop {
            let at = self.next_frame.get(d).copied().unwrap_or(usize::MAX);
            let Some(len) = be16(prefix, at).map(usize::from) else {
                break;
            };
            if len == 0 || len > MAX_FRAME {
                let rec = summary.vpn.get_or_insert_with(|| VpnRecord::new("openvpn"));
                rec.saw_malformed();
                summary.anomalies.push(
                    "openvpn",
                    "malformed_frame",
                    Some(dir),
                    Some(&format!("frame length {len} at stream offset {at}")),
                    ts,
                );
                return Progress::Done;
            }
            let Some(pkt) = prefix.get(at + 2..at + 2 + len) else {
                break;
            };
            self.on_packet(dir, pkt, ts, summary);
            if let Some(n) = self.next_frame.get_mut(d) {
                *n = at + 2 + len;
            }
        }
        // Once data flows and the hello is read, the rest is encrypted.
        let tls_over = self.tls_done.get(d).copied().unwrap_or(true) || self.variant_hides_tls();
        if self.saw_data.get(d).copied().unwrap_or(false) && tls_over {
            Progress::Done
        } else {
            Progress::NeedMore
        }
    }

    fn variant_hides_tls(&self) -> bool {
        self.variant.is_some_and(|v| v.wrap_len().is_none())
    }

    fn on_packet(&mut self, dir: Direction, bytes: &[u8], ts: Timestamp, summary: &mut AppSummary) {
        summary.set_proto(AppProto::OpenVpn);
        let rec = summary.vpn.get_or_insert_with(|| VpnRecord::new("openvpn"));
        let p = match Packet::parse(bytes) {
            Ok(p) => p,
            Err(e) => {
                rec.saw_malformed();
                summary.anomalies.push(
                    "openvpn",
                    "malformed_packet",
                    Some(dir),
                    Some(&e.to_string()),
                    ts,
                );
                return;
            }
        };
        rec.saw(opcode_name(p.opcode()));
        if rec.opcode.is_none() {
            rec.opcode = Some(p.opcode());
        }
        let d = dir.index();
        if !p.is_control() {
            if let Some(s) = self.saw_data.get_mut(d) {
                *s = true;
            }
            return;
        }
        let sid = match dir {
            Direction::ToServer => &mut rec.client_session_id,
            Direction::ToClient => &mut rec.server_session_id,
        };
        if sid.is_none() {
            *sid = p.session_id();
        }
        if self.variant.is_none() {
            self.variant = p.variant();
            if let Some(v) = self.variant {
                rec.variant = Some(v.name());
                if let Variant::TlsAuth { hmac_len } = v {
                    rec.hmac_len = Some(hmac_len);
                }
            }
        }
        let Some(variant) = self.variant else { return };
        match p.control(variant) {
            Ok(Some(c)) => self.control_payload(dir, p.opcode(), c, ts, summary),
            Ok(None) => {}
            Err(_) => rec.saw_malformed(),
        }
    }

    /// Append the next in-order control message's payload to the
    /// direction's TLS bytes and let the TLS dissector look at them.
    /// Retransmissions (old ids) and gaps are skipped: the reliable layer
    /// resends until the peer acknowledges, so the wanted id comes again.
    fn control_payload(
        &mut self,
        dir: Direction,
        op: u8,
        c: Control<'_>,
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        let d = dir.index();
        let (Some(next), Some(buf), Some(done)) = (
            self.next_message.get_mut(d),
            self.tls_bytes.get_mut(d),
            self.tls_done.get_mut(d),
        ) else {
            return;
        };
        if *done || c.message_id != Some(*next) {
            return;
        }
        *next = next.saturating_add(1);
        if op != P_CONTROL_V1 || c.payload.is_empty() {
            return;
        }
        let room = MAX_TLS_BYTES.saturating_sub(buf.len());
        let take = c.payload.get(..c.payload.len().min(room)).unwrap_or(&[]);
        buf.extend_from_slice(take);
        if self.tls.on_stream(dir, buf, ts, summary) == Progress::Done || room <= take.len() {
            *done = true;
            *buf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::vpn::testdata::payloads;
    use crate::testutil::hex;

    fn cx() -> FlowCx {
        FlowCx {
            src_port: 33198,
            dst_port: 1194,
            ip_proto: 17,
        }
    }

    /// zeek-spicy-openvpn openvpn_udp_tls-auth.pcap frame 1 (tshark:
    /// opcode 0x07): HARD_RESET_CLIENT_V2, tls-auth with a 20-byte HMAC.
    const TLS_AUTH_RESET: &str =
        "38813814621d67462dde86734d2cbff151b2b1231b61e42308a272818e0000000150ff262c0000000000";
    /// openvpn.pcap (same corpus) frame 1: plain HARD_RESET_CLIENT_V2.
    const PLAIN_RESET: &str = "389aa6b1e434889ad30000000000";
    /// nDPI openvpn-tlscrypt.pcap frame 1 (tshark: opcode 0x0a), first 80
    /// bytes.
    const CRYPT_V2_RESET: &str = "50aae06512392a3d710a010001625a9e9785ead7700d5d18dac8f1eb9b317b46a2fc3519cab585d134a9251798df506f18831d1778e9aece89e8c67f5743d0c3e4e22b9c779d";

    /// openvpn-tlscrypt.pcap frame 2, first 70 bytes.
    const CRYPT_SERVER_RESET: &str = "4053c96dd083724fd200000001625a9e9721ea783a859f9c2d8edd04f1e1c9f78f4493a69dfacd5cf0b0c1873cf1aa7d4000649f91fd227cf02fe525f9af94a91332159bb09c";

    /// tests/pcap/demo/input.pcap frames 79 and 80 (tshark: a DNS AAAA
    /// query for host.gatewatch.test and its answer, ID 0x080b): byte 0
    /// reads as a V1 client reset, and the name as a net time.
    #[test]
    fn dns_is_not_openvpn() {
        let q = hex("080b0120000100000000000104686f737409676174657761746368047465737400001c000100002904d000000000000c000a00087f8198dc7cf60ec7");
        let a = hex("080b8580000100010000000104686f737409676174657761746368047465737400001c0001c00c001c0001000000000010fd77000000000000000000000000000900002904d0000000000000");
        assert_eq!(probe_udp(&cx(), Direction::ToServer, &q), Probe::NoMatch);
        assert_eq!(probe_udp(&cx(), Direction::ToClient, &a), Probe::NoMatch);
    }

    #[test]
    fn variants_are_told_apart_by_layout() {
        let p = hex(TLS_AUTH_RESET);
        let pkt = Packet::parse(&p).unwrap();
        assert_eq!(pkt.opcode(), P_CONTROL_HARD_RESET_CLIENT_V2);
        assert_eq!(pkt.variant(), Some(Variant::TlsAuth { hmac_len: 20 }));
        assert_eq!(pkt.session_id().as_deref(), Some("813814621d67462d"));
        let p = hex(PLAIN_RESET);
        assert_eq!(Packet::parse(&p).unwrap().variant(), Some(Variant::Plain));
        let p = hex(CRYPT_V2_RESET);
        let pkt = Packet::parse(&p).unwrap();
        assert_eq!(pkt.opcode(), P_CONTROL_HARD_RESET_CLIENT_V3);
        assert_eq!(pkt.variant(), Some(Variant::TlsCryptV2));
        for s in [TLS_AUTH_RESET, PLAIN_RESET] {
            assert_eq!(probe_udp(&cx(), Direction::ToServer, &hex(s)), Probe::Match);
        }
        // A tls-crypt reset cut short (no wrapped key at its end) waits
        // for the server's reset (same capture, frame 2, tshark opcode
        // 0x08).
        assert_eq!(
            probe_udp(&cx(), Direction::ToServer, &hex(CRYPT_V2_RESET)),
            Probe::NeedMore
        );
        assert_eq!(
            probe_udp(&cx(), Direction::ToClient, &hex(CRYPT_SERVER_RESET)),
            Probe::Match
        );
        // The same plain reset with a non-zero message id is no opening.
        let mut p = hex(PLAIN_RESET);
        p[13] = 1;
        assert_eq!(probe_udp(&cx(), Direction::ToServer, &p), Probe::NoMatch);
        assert_eq!(
            probe_udp(&cx(), Direction::ToServer, b"\x00\x01"),
            Probe::NoMatch
        );
    }

    /// The whole of openvpn-tlscrypt.pcap frame 1 (353 bytes): its last two
    /// bytes say 299, the wrapped key's length, which leaves 54 bytes of
    /// reset header.
    #[test]
    fn tls_crypt_v2_reset_is_recognised_by_its_wrapped_key() {
        let Some(pkts) = payloads("ndpi/pcap/openvpn-tlscrypt.pcap") else {
            return;
        };
        let first = &pkts[0].2;
        assert_eq!(first.len(), 353);
        assert_eq!(probe_udp(&cx(), Direction::ToServer, first), Probe::Match);
        let mut cut = first.clone();
        cut.truncate(300);
        assert_eq!(probe_udp(&cx(), Direction::ToServer, &cut), Probe::NeedMore);
    }

    #[test]
    fn tcp_probe_reads_the_length_prefix() {
        // openvpn_tcp_nontlsauth.pcap, first client segment.
        let p = hex("000e38507a28a78275788d0000000000");
        assert_eq!(probe_tcp(&cx(), Direction::ToServer, &p), Probe::Match);
        assert_eq!(
            probe_tcp(&cx(), Direction::ToServer, &p[..5]),
            Probe::NeedMore
        );
        assert_eq!(
            probe_tcp(&cx(), Direction::ToServer, b"GET / HTTP/1.1"),
            Probe::NoMatch
        );
    }

    /// The tls-auth SHA256 capture: tshark lists opcodes 7, 8, 4, 5 and 9
    /// among its 89 frames, and Zeek's ssl.log (over this OpenVPN) has the
    /// ClientHello whose JA3 we then compute.
    #[test]
    fn hmac_256_capture_reassembles_the_client_hello() {
        let Some(pkts) = payloads("zeek-spicy-openvpn/traces/openvpn_udp_hmac_256.pcap") else {
            return;
        };
        let mut st = OpenVpnState::new();
        let mut sum = AppSummary::default();
        for (sp, _, p) in &pkts {
            let dir = if *sp == 1194 {
                Direction::ToClient
            } else {
                Direction::ToServer
            };
            st.on_datagram(dir, p, Timestamp(0), &mut sum);
        }
        let rec = sum.vpn.as_ref().unwrap();
        assert_eq!(rec.variant, Some("tls-auth"));
        assert_eq!(rec.hmac_len, Some(32));
        assert_eq!(rec.messages, 89);
        assert_eq!(rec.client_session_id.as_deref(), Some("a5f634996d295c25"));
        assert_eq!(rec.server_session_id.as_deref(), Some("7edee5b2e2c1287e"));
        let tls = sum
            .tls
            .as_ref()
            .expect("ClientHello inside the control channel");
        assert!(tls.ja3.is_some() && tls.version.is_some());
    }
}
