//! One QUIC flow: the probe that claims it, and the state that opens the
//! Initial packets of the first datagrams of each side, gathers their
//! CRYPTO frames (coalesced packets, RFC 9000 §12.2; a ClientHello split
//! over several Initial packets, as Chrome sends with post-quantum key
//! shares) and hands the ClientHello / ServerHello to the TLS code.

use arrayvec::ArrayVec;

use super::crypto::{open, InitialKeys, Side};
use super::frames::for_each_crypto;
use super::packet::{
    field, is_reserved_version, LongHeader, Version, MIN_CLIENT_INITIAL_DATAGRAM,
    VERSION_NEGOTIATION,
};
use super::{QuicError, QuicRecord};
use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{AppSummary, FlowCx, Probe};
use crate::proto::tls::assemble::{complete_message, Assembler, MAX_ASSEMBLY};
use crate::proto::tls::ja4::Transport;
use crate::proto::tls::parser::{ClientHello, ServerHello};
use crate::proto::tls::types::HandshakeType;
use crate::proto::tls::TlsRecord;

/// Datagrams of each side looked at: a ClientHello spans at most a few
/// Initial datagrams (Chrome's post-quantum hello takes two, more when its
/// CRYPTO frames are scattered), and a server's ServerHello is in its
/// first flight.
pub const MAX_DATAGRAMS: u8 = 8;
/// Times the client may start over with a new DCID (after a Retry, or a
/// new connection on the same ports) before the flow is given up.
const MAX_RESTARTS: u8 = 2;
/// Largest Initial packet copied for decryption (a jumbo-frame datagram).
pub const MAX_INITIAL_PACKET: usize = 9000;
/// Most packets walked in one datagram (RFC 9000 §12.2 coalescing: one
/// per packet number space is the most a sender needs).
const MAX_COALESCED: usize = 8;
/// RFC 9000 §7.2: the client's first Destination Connection ID "MUST be
/// at least 8 bytes".
const MIN_CLIENT_DCID: usize = 8;
/// The ServerHello is small; its assembler needs no more.
const SERVER_CAP: usize = 4096;

const LAYER: &str = "quic";

/// Does this datagram start a QUIC connection? A client Initial of a
/// version whose protection we know, with a plausible DCID and a Length
/// that fits the datagram. Cheap for other UDP: two byte compares first.
pub fn probe(_cx: &FlowCx, dir: Direction, bytes: &[u8]) -> Probe {
    let Some(&first) = bytes.first() else {
        return Probe::NeedMore;
    };
    if first & (field::HEADER_FORM | field::FIXED_BIT) != field::HEADER_FORM | field::FIXED_BIT {
        return Probe::NoMatch;
    }
    let Ok(h) = LongHeader::parse(bytes) else {
        return Probe::NoMatch;
    };
    if h.known_version().is_none() {
        return match dir {
            // RFC 9000 §6.1: a client may first offer a version reserved
            // to force version negotiation (§15), padded like an Initial
            // (§14.1); its real Initial follows the server's answer.
            Direction::ToServer
                if is_reserved_version(h.version)
                    && h.dcid.len() >= MIN_CLIENT_DCID
                    && bytes.len() >= MIN_CLIENT_INITIAL_DATAGRAM =>
            {
                Probe::NeedMore
            }
            // §17.2.1: that answer, a Version Negotiation packet.
            Direction::ToClient if h.version == VERSION_NEGOTIATION => Probe::NeedMore,
            _ => Probe::NoMatch,
        };
    }
    match dir {
        Direction::ToServer if h.is_initial() && h.dcid.len() >= MIN_CLIENT_DCID => Probe::Match,
        // A known version but not (yet) the client's Initial: a reordered
        // 0-RTT packet, or the server's side first. Wait for more.
        _ => Probe::NeedMore,
    }
}

/// Per-side progress.
#[derive(Debug, Default)]
struct SideState {
    datagrams: u8,
    done: bool,
    crypto: Assembler,
}

/// The state of one QUIC flow.
#[derive(Debug, Default)]
pub struct QuicFlow {
    version: Option<Version>,
    /// The client's original DCID: both sides' Initial keys derive from it.
    odcid: ArrayVec<u8, { field::MAX_CID_LEN }>,
    /// Keys of the client's Initials, and the DCID they were derived from
    /// (it changes after a Retry, RFC 9001 §5.2).
    client_keys: Option<(ArrayVec<u8, { field::MAX_CID_LEN }>, InitialKeys)>,
    server_keys: Option<InitialKeys>,
    sides: [SideState; 2],
    restarts: u8,
    /// A Retry was seen (its SCID now keys both sides).
    retried: bool,
    /// The copy decryption works on (see the module doc of `quic`).
    scratch: Vec<u8>,
    client_hello_at: Option<Timestamp>,
}

impl QuicFlow {
    pub fn new() -> QuicFlow {
        QuicFlow {
            sides: [
                SideState {
                    crypto: Assembler::new(MAX_ASSEMBLY),
                    ..SideState::default()
                },
                SideState {
                    crypto: Assembler::new(SERVER_CAP),
                    ..SideState::default()
                },
            ],
            ..QuicFlow::default()
        }
    }

    /// Both sides are done: nothing more will be read.
    pub fn is_done(&self) -> bool {
        self.sides.iter().all(|s| s.done)
    }

    /// One UDP datagram of the flow.
    pub fn on_datagram(
        &mut self,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        let d = dir.index();
        match self.sides.get_mut(d) {
            Some(s) if !s.done && s.datagrams < MAX_DATAGRAMS => s.datagrams += 1,
            _ => return,
        }
        let mut rest = payload;
        for _ in 0..MAX_COALESCED {
            if rest.is_empty() {
                break;
            }
            let h = match LongHeader::parse(rest) {
                Ok(h) => h,
                // A short header, or padding after the long-header packets
                // (RFC 9000 §12.2 lets either end a datagram).
                Err(QuicError::Malformed { at: 0, .. }) => break,
                Err(e) => {
                    summary.anomalies.push(
                        LAYER,
                        "malformed_long_header",
                        Some(dir),
                        Some(&e.to_string()),
                        ts,
                    );
                    break;
                }
            };
            let pkt = rest.get(..h.packet_len).unwrap_or(rest);
            if h.is_initial() {
                self.initial(dir, &h, pkt, ts, summary);
            } else if dir == Direction::ToClient {
                self.maybe_retry(&h);
            }
            rest = rest.get(h.packet_len..).unwrap_or(&[]);
        }
        self.check_hello(dir, ts, summary);
        let side = self.side(dir);
        if side.datagrams >= MAX_DATAGRAMS && !side.done {
            side.done = true;
            side.crypto.release();
        }
        if self.is_done() {
            self.scratch = Vec::new();
        }
    }

    fn side(&mut self, dir: Direction) -> &mut SideState {
        let [c, s] = &mut self.sides;
        match dir {
            Direction::ToServer => c,
            Direction::ToClient => s,
        }
    }

    /// Open one Initial packet and feed its CRYPTO frames.
    fn initial(
        &mut self,
        dir: Direction,
        h: &LongHeader<'_>,
        pkt: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        let Some(v) = h.known_version() else { return };
        if dir == Direction::ToServer && self.version.is_none() {
            self.first_client_initial(v, h, summary);
        }
        if self.version != Some(v) || pkt.len() > MAX_INITIAL_PACKET {
            return;
        }
        let opened = match dir {
            Direction::ToServer => self.open_client(v, h, pkt),
            Direction::ToClient => self.open_server(v, h, pkt).map(|r| (r, false)),
        };
        if let Ok((_, true)) = opened {
            // A new connection attempt: its CRYPTO stream starts over.
            self.restarts += 1;
            let c = self.side(Direction::ToServer);
            c.crypto = Assembler::new(MAX_ASSEMBLY);
            c.datagrams = 1;
        }
        let opened = opened.map(|(r, _)| r);
        let range = match opened {
            Ok(r) => r,
            Err(e) => {
                let kind = match dir {
                    Direction::ToServer => "undecryptable_client_initial",
                    Direction::ToClient => "undecryptable_server_initial",
                };
                summary
                    .anomalies
                    .push(LAYER, kind, Some(dir), Some(&e.to_string()), ts);
                return;
            }
        };
        let [c, s] = &mut self.sides;
        let side = match dir {
            Direction::ToServer => c,
            Direction::ToClient => s,
        };
        let payload = self.scratch.get(range).unwrap_or(&[]);
        if let Err(e) = for_each_crypto(payload, |off, data| side.crypto.insert(off, data)) {
            summary.anomalies.push(
                LAYER,
                "malformed_initial_frames",
                Some(dir),
                Some(&e.to_string()),
                ts,
            );
        }
    }

    /// RFC 9000 §17.2.5.2: after a Retry the client sends its Initials to
    /// the Retry's Source Connection ID, and both sides' Initial keys
    /// derive from that (RFC 9001 §5.2).
    fn maybe_retry(&mut self, h: &LongHeader<'_>) {
        let Some(v) = h.known_version() else { return };
        // §17.2.5.2: "A client MUST accept and process at most one Retry
        // packet": later ones do not change the keys.
        if self.retried
            || Some(v) != self.version
            || h.packet_type != v.retry_type()
            || h.scid.is_empty()
        {
            return;
        }
        self.retried = true;
        self.server_keys = Some(InitialKeys::derive(v, h.scid, Side::Server));
        let keys = InitialKeys::derive(v, h.scid, Side::Client);
        self.client_keys = Some((h.scid.iter().copied().collect(), keys));
    }

    fn first_client_initial(&mut self, v: Version, h: &LongHeader<'_>, summary: &mut AppSummary) {
        self.version = Some(v);
        self.odcid = h.dcid.iter().copied().collect();
        summary.quic = Some(QuicRecord {
            version: v.name(),
            dcid: hex(h.dcid),
            scid: hex(h.scid),
        });
    }

    fn open_client(
        &mut self,
        v: Version,
        h: &LongHeader<'_>,
        pkt: &[u8],
    ) -> Result<(core::ops::Range<usize>, bool), QuicError> {
        let same_dcid = |k: &Option<(ArrayVec<u8, 20>, InitialKeys)>| {
            k.as_ref().is_some_and(|(d, _)| d.as_slice() == h.dcid)
        };
        if self.client_keys.is_none() {
            let keys = InitialKeys::derive(v, &self.odcid, Side::Client);
            self.client_keys = Some((self.odcid.clone(), keys));
        }
        let first_try = match &self.client_keys {
            Some((_, keys)) => try_open(&mut self.scratch, pkt, h.pn_offset, keys),
            None => return Err(QuicError::Decrypt { at: h.pn_offset }),
        };
        if first_try.is_ok() || same_dcid(&self.client_keys) || self.restarts >= MAX_RESTARTS {
            return first_try.map(|r| (r, false));
        }
        // After a Retry the client's Initials use the Retry's SCID as DCID
        // and keys derived from it (RFC 9001 §5.2, RFC 9000 §17.2.5.2).
        let keys = InitialKeys::derive(v, h.dcid, Side::Client);
        let r = try_open(&mut self.scratch, pkt, h.pn_offset, &keys)?;
        self.client_keys = Some((h.dcid.iter().copied().collect(), keys));
        Ok((r, true))
    }

    fn open_server(
        &mut self,
        v: Version,
        h: &LongHeader<'_>,
        pkt: &[u8],
    ) -> Result<core::ops::Range<usize>, QuicError> {
        let dcid = match &self.client_keys {
            Some((d, _)) => d.clone(),
            None => return Err(QuicError::Decrypt { at: h.pn_offset }),
        };
        let keys = self
            .server_keys
            .get_or_insert_with(|| InitialKeys::derive(v, &dcid, Side::Server));
        try_open(&mut self.scratch, pkt, h.pn_offset, keys)
    }

    /// Parse the hello of `dir` once its message is complete.
    fn check_hello(&mut self, dir: Direction, ts: Timestamp, summary: &mut AppSummary) {
        let side = self.side(dir);
        if side.done || side.crypto.is_empty() {
            return;
        }
        let cap = match dir {
            Direction::ToServer => MAX_ASSEMBLY,
            Direction::ToClient => SERVER_CAP,
        };
        let outcome = match complete_message(side.crypto.contiguous(), cap) {
            Ok(None) if !side.crypto.overflowed() => return,
            Ok(None) | Err(_) => Err(format!("handshake message larger than {cap} bytes")),
            Ok(Some((t, body))) => match dir {
                Direction::ToServer => client_hello(t, body, summary),
                Direction::ToClient => server_hello(t, body, summary),
            },
        };
        side.done = true;
        side.crypto.release();
        match (outcome, dir) {
            (Ok(()), Direction::ToServer) => self.client_hello_at = Some(ts),
            (Ok(()), Direction::ToClient) => {
                if let Some(at) = self.client_hello_at {
                    summary.app_rtt.record(Direction::ToClient, at, ts);
                }
            }
            (Err(e), _) => {
                let kind = match dir {
                    Direction::ToServer => "malformed_client_hello",
                    Direction::ToClient => "malformed_server_hello",
                };
                summary.anomalies.push(LAYER, kind, Some(dir), Some(&e), ts);
            }
        }
    }
}

/// Copy `pkt` into the scratch buffer and open it there.
fn try_open(
    scratch: &mut Vec<u8>,
    pkt: &[u8],
    pn_offset: usize,
    keys: &InitialKeys,
) -> Result<core::ops::Range<usize>, QuicError> {
    scratch.clear();
    scratch.extend_from_slice(pkt);
    open(scratch, pn_offset, keys).map(|o| o.payload)
}

fn client_hello(t: u8, body: &[u8], summary: &mut AppSummary) -> Result<(), String> {
    if t != HandshakeType::CLIENT_HELLO.0 {
        return Err(format!(
            "first CRYPTO message has type {t}, not ClientHello"
        ));
    }
    let ch = ClientHello::parse(body).map_err(|e| e.to_string())?;
    summary
        .tls
        .get_or_insert_with(TlsRecord::default)
        .add_client_hello(&ch, Transport::Quic);
    Ok(())
}

fn server_hello(t: u8, body: &[u8], summary: &mut AppSummary) -> Result<(), String> {
    if t != HandshakeType::SERVER_HELLO.0 {
        return Err(format!(
            "first CRYPTO message has type {t}, not ServerHello"
        ));
    }
    let sh = ServerHello::parse(body).map_err(|e| e.to_string())?;
    summary
        .tls
        .get_or_insert_with(TlsRecord::default)
        .add_server_hello(&sh);
    Ok(())
}

fn hex(b: &[u8]) -> String {
    let mut out = vec![0u8; b.len() * 2];
    crate::proto::hex::hex_into(b, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::vectors::*;
    use super::*;
    use crate::testutil::hex as unhex;

    fn cx() -> FlowCx {
        FlowCx {
            src_port: 50000,
            dst_port: 443,
            ip_proto: 17,
        }
    }

    #[test]
    fn probe_claims_client_initials_only() {
        let p = unhex(V1_CLIENT_INITIAL);
        assert_eq!(probe(&cx(), Direction::ToServer, &p), Probe::Match);
        assert_eq!(probe(&cx(), Direction::ToClient, &p), Probe::NeedMore);
        assert_eq!(
            probe(&cx(), Direction::ToServer, b"\x00\x01dns"),
            Probe::NoMatch
        );
        let mut unknown = p.clone();
        unknown[1..5].copy_from_slice(&[0x51, 0x30, 0x34, 0x36]); // gQUIC Q046
        assert_eq!(probe(&cx(), Direction::ToServer, &unknown), Probe::NoMatch);
    }

    /// RFC 9001 A.2 and A.3 as a flow: the ClientHello for example.com
    /// (TLS 1.3 only, ciphers 1301 1302, ALPN absent... as printed there),
    /// then the ServerHello choosing 0x1301.
    #[test]
    fn rfc_vectors_fill_the_tls_and_quic_records() {
        for (client, server, version) in [
            (V1_CLIENT_INITIAL, V1_SERVER_INITIAL, "1"),
            (V2_CLIENT_INITIAL, V2_SERVER_INITIAL, "2"),
        ] {
            let mut f = QuicFlow::new();
            let mut s = AppSummary::default();
            f.on_datagram(Direction::ToServer, &unhex(client), Timestamp(10), &mut s);
            f.on_datagram(Direction::ToClient, &unhex(server), Timestamp(30), &mut s);
            assert!(f.is_done());
            let q = s.quic.as_ref().unwrap();
            assert_eq!(q.version, version);
            assert_eq!(q.dcid, "8394c8f03e515708");
            assert_eq!(q.scid, "");
            let t = s.tls.as_ref().unwrap();
            assert_eq!(t.sni.as_deref(), Some("example.com"));
            assert!(t.ja4.as_deref().unwrap().starts_with("q13d"));
            assert_eq!(t.cipher.as_deref(), Some("0x1301"));
            assert_eq!(t.version.as_deref(), Some("TLS 1.3"));
            assert_eq!(s.app_rtt.server_reply_ns, Some(20));
            assert!(s.anomalies.is_empty(), "{:?}", s.anomalies);
        }
    }

    /// Server hellos of corpus captures against tshark 4.0
    /// (`tshark -r F -Y tls.handshake.type==2 -T fields -e
    /// tls.handshake.ja3s -e tls.handshake.ja3s_full`): (capture, client
    /// port, server port, JA3S string, JA3S). Each exercises one server
    /// behaviour: the Fixed Bit cleared (RFC 9287, all but quic_vn), an
    /// Initial coalesced with a Handshake packet (RFC 9000 §12.2), a draft
    /// and the v2 version, a first server Initial holding only an ACK
    /// (quic_frags...), and a client that first forces version
    /// negotiation (RFC 9000 §6.1, quic_vn).
    const SERVER_HELLOS: &[(&str, u16, u16, &str, &str)] = &[
        (
            "ndpi/pcap/quic-34.pcap",
            55880,
            4443,
            "771,4865,43-51",
            "f4febc55ea12b31ae17cfb7e614afda8",
        ),
        (
            "ndpi/pcap/quic-33.pcapng",
            51430,
            4443,
            "771,4865,43-51",
            "f4febc55ea12b31ae17cfb7e614afda8",
        ),
        (
            "ndpi/pcap/quic-v2.pcapng",
            42086,
            4443,
            "771,4865,43-51",
            "f4febc55ea12b31ae17cfb7e614afda8",
        ),
        (
            "ndpi/pcap/quic_0RTT.pcap",
            60459,
            4443,
            "771,4865,43-51-41",
            "fcb2d4d0991292272fcb1e464eedfd43",
        ),
        (
            "ndpi/pcap/quic_0RTT.pcap",
            51972,
            443,
            "771,4865,41-51-43",
            "2b0648ab686ee45e0e7c35fcfb0eea7e",
        ),
        (
            "ndpi/pcap/quic_frags_ch_in_multiple_packets.pcapng",
            58822,
            4443,
            "771,4865,43-51",
            "f4febc55ea12b31ae17cfb7e614afda8",
        ),
        (
            "tcpdump/tests/quic_vn.pcap",
            57406,
            443,
            "771,4865,51-43",
            "eb1d94daa7e0344597e756a1fb6e7054",
        ),
    ];

    #[test]
    fn corpus_server_hellos_give_tsharks_ja3s() {
        for &(rel, client, server, ja3s_string, ja3s) in SERVER_HELLOS {
            let Some(dgrams) = crate::proto::vpn::testdata::payloads(rel) else {
                return;
            };
            let (mut f, mut s) = (None::<QuicFlow>, AppSummary::default());
            for (i, (sp, dp, p)) in dgrams.iter().enumerate() {
                let dir = match (*sp, *dp) {
                    (a, b) if a == client && b == server => Direction::ToServer,
                    (a, b) if a == server && b == client => Direction::ToClient,
                    _ => continue,
                };
                // As the dispatcher does: probe until the flow is claimed.
                if f.is_none() && probe(&cx(), dir, p) == Probe::Match {
                    f = Some(QuicFlow::new());
                }
                if let Some(f) = f.as_mut() {
                    f.on_datagram(dir, p, Timestamp(i as i64), &mut s);
                }
            }
            let t = s.tls.as_ref().unwrap_or_else(|| panic!("{rel}: no tls"));
            assert_eq!(t.ja3s_string.as_deref(), Some(ja3s_string), "{rel}");
            assert_eq!(t.ja3s.as_deref(), Some(ja3s), "{rel}");
            assert_eq!(t.cipher.as_deref(), Some("0x1301"), "{rel}");
            assert_eq!(t.version.as_deref(), Some("TLS 1.3"), "{rel}");
            assert!(s.anomalies.is_empty(), "{rel}: {:?}", s.anomalies);
        }
    }

    /// tcpdump's quic_vn.pcap: the client's first datagram offers the
    /// reserved version 0x1a2a3a4a (RFC 9000 §15), the server answers with
    /// a Version Negotiation; neither may rule QUIC out.
    #[test]
    fn version_negotiation_does_not_rule_quic_out() {
        let Some(d) = crate::proto::vpn::testdata::payloads("tcpdump/tests/quic_vn.pcap") else {
            return;
        };
        let (first, vn) = (&d[0].2, &d[1].2);
        assert_eq!(first.get(1..5), Some(&[0x1a, 0x2a, 0x3a, 0x4a][..]));
        assert_eq!(probe(&cx(), Direction::ToServer, first), Probe::NeedMore);
        assert_eq!(probe(&cx(), Direction::ToClient, vn), Probe::NeedMore);
        // Not padded to 1200 bytes (RFC 9000 §14.1): not a client Initial.
        let short = first.get(..600).unwrap_or(&[]);
        assert_eq!(probe(&cx(), Direction::ToServer, short), Probe::NoMatch);
        // A Version Negotiation sent by a client is not one.
        assert_eq!(probe(&cx(), Direction::ToServer, vn), Probe::NoMatch);
    }

    /// A server Initial whose Length runs past the datagram (RFC 9000
    /// §17.2) is reported, not silently dropped.
    #[test]
    fn truncated_server_initial_is_an_anomaly() {
        let mut f = QuicFlow::new();
        let mut s = AppSummary::default();
        f.on_datagram(
            Direction::ToServer,
            &unhex(V1_CLIENT_INITIAL),
            Timestamp(0),
            &mut s,
        );
        let server = unhex(V1_SERVER_INITIAL);
        f.on_datagram(Direction::ToClient, &server[..60], Timestamp(1), &mut s);
        assert_eq!(s.anomalies.kept[0].kind, "malformed_long_header");
        assert!(s.tls.as_ref().and_then(|t| t.ja3s.as_ref()).is_none());
    }

    #[test]
    fn tampered_initial_is_an_anomaly_not_a_hello() {
        let mut p = unhex(V1_CLIENT_INITIAL);
        p[700] ^= 0xff;
        let mut f = QuicFlow::new();
        let mut s = AppSummary::default();
        f.on_datagram(Direction::ToServer, &p, Timestamp(0), &mut s);
        assert!(s.tls.is_none());
        assert_eq!(s.anomalies.kept[0].kind, "undecryptable_client_initial");
        // The datagram budget bounds the work.
        for _ in 0..10 {
            f.on_datagram(Direction::ToServer, &p, Timestamp(0), &mut s);
        }
        assert!(f.sides[0].done);
    }
}
