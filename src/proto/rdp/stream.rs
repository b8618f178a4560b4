//! RDP over a TCP stream: the probe and the per-flow state.
//!
//! The client's stream starts with the X.224 Connection Request; the
//! server's with the Connection Confirm, which decides what follows
//! (MS-RDPBCGR 1.3.1.1): under standard RDP security (selected protocol 0,
//! or no negotiation at all) the client's next TPKT is the MCS
//! Connect-Initial with its core data in clear; under any other protocol
//! a TLS handshake starts right after the X.224 exchange in both
//! directions, and is handed to [`TlsStream`].

use super::parser::{
    client_core_data, ConnectionConfirm, ConnectionRequest, Negotiation, RdpError, Token, Tpkt,
};
use super::{RdpRecord, MAX_COOKIE_LEN};
use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{AppSummary, FlowCx, Probe, Progress};
use crate::proto::tls::stream::TlsStream;

const LAYER: &str = "rdp";
/// RDP's registered port (MS-RDPBCGR 2.2.1.1: "TCP port 3389").
pub const PORT: u16 = 3389;

/// Does this direction start with an X.224 Connection Request that RDP
/// would send? TPKT (RFC 1006 §6) with a CR TPDU (ISO 8073 §13.3) whose
/// variable part is a cookie, a routing token, an RDP_NEG_REQ, or nothing
/// on port 3389. Other ISO-on-TCP protocols (S7comm, MMS) send CRs too,
/// with TSAP parameters (codes 0xC0-0xC2) instead.
pub fn probe(cx: &FlowCx, dir: Direction, bytes: &[u8]) -> Probe {
    if dir == Direction::ToClient {
        return Probe::NoMatch;
    }
    // Version 3, reserved 0, then the length; LI; the CR code.
    match bytes {
        [] => return Probe::NeedMore,
        [3] | [3, 0] | [3, 0, _] | [3, 0, _, _] | [3, 0, _, _, _] => return Probe::NeedMore,
        [3, 0, _, _, _, code, ..] if code & 0xF0 == 0xE0 => {}
        _ => return Probe::NoMatch,
    }
    match Tpkt::parse(bytes) {
        Err(RdpError::Incomplete { .. }) => Probe::NeedMore,
        Err(RdpError::Malformed { .. }) => Probe::NoMatch,
        Ok((t, _)) => match ConnectionRequest::parse(t.payload) {
            Ok(cr) if cr.token.is_some() || cr.requested_protocols.is_some() => Probe::Match,
            Ok(_) if cx.dst_port == PORT => Probe::Match,
            _ => Probe::NoMatch,
        },
    }
}

/// What the Connection Confirm decided about the rest of the streams.
#[derive(Debug)]
enum Phase {
    /// Waiting for the Connection Request (client) and Confirm (server).
    Negotiating,
    /// Standard RDP security: the client's MCS Connect-Initial is next.
    Standard,
    /// Enhanced security: TLS from the end of the X.224 exchange.
    Tls(TlsStream),
    /// Negotiation failed or a PDU was malformed: nothing more to read.
    Over,
}

/// One flow's RDP parse state.
#[derive(Debug)]
pub struct RdpStream {
    phase: Phase,
    /// End of the Connection Request in the client's stream, and when it
    /// was complete.
    cr: Option<(usize, Timestamp)>,
    /// End of the Connection Confirm in the server's stream, and when.
    cc: Option<(usize, Timestamp)>,
    /// The client's reply to the Confirm was timed.
    client_replied: bool,
}

impl Default for RdpStream {
    fn default() -> Self {
        RdpStream::new()
    }
}

impl RdpStream {
    pub fn new() -> RdpStream {
        RdpStream {
            phase: Phase::Negotiating,
            cr: None,
            cc: None,
            client_replied: false,
        }
    }

    /// The TLS this RDP connection (enhanced security) carries, once it started (the dispatcher
    /// forwards per-packet timing to it, for `app_rtt`).
    pub fn inner_tls(&mut self) -> Option<&mut TlsStream> {
        match &mut self.phase {
            Phase::Tls(t) => Some(t),
            _ => None,
        }
    }

    /// Feed the whole contiguous prefix of `dir`.
    pub fn on_stream(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        match dir {
            Direction::ToServer => self.client(prefix, ts, summary),
            Direction::ToClient => self.server(prefix, ts, summary),
        }
    }

    fn client(&mut self, prefix: &[u8], ts: Timestamp, summary: &mut AppSummary) -> Progress {
        let Some((cr_end, _)) = self.cr else {
            return self.connection_request(prefix, ts, summary);
        };
        let Some((_, cc_at)) = self.cc else {
            return match self.phase {
                Phase::Over => Progress::Done,
                _ => Progress::NeedMore,
            };
        };
        if prefix.len() > cr_end && !self.client_replied {
            self.client_replied = true;
            summary.app_rtt.record(Direction::ToServer, cc_at, ts);
        }
        match &mut self.phase {
            Phase::Negotiating => Progress::NeedMore,
            Phase::Over => Progress::Done,
            Phase::Tls(tls) => tls.on_stream(Direction::ToServer, prefix, ts, summary),
            Phase::Standard => {
                let rest = prefix.get(cr_end..).unwrap_or_default();
                match Tpkt::parse(rest).and_then(|(t, _)| client_core_data(t.payload)) {
                    Ok(core) => {
                        let rec = summary.rdp.get_or_insert_with(RdpRecord::default);
                        rec.client_name = Some(core.client_name());
                        rec.keyboard_layout = Some(core.keyboard_layout);
                        rec.client_build = Some(core.client_build);
                        Progress::Done
                    }
                    Err(RdpError::Incomplete { .. }) => Progress::NeedMore,
                    Err(e) => {
                        anomaly(
                            summary,
                            "malformed_connect_initial",
                            Direction::ToServer,
                            e,
                            ts,
                        );
                        Progress::Done
                    }
                }
            }
        }
    }

    fn connection_request(
        &mut self,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        let parsed = Tpkt::parse(prefix)
            .and_then(|(t, used)| ConnectionRequest::parse(t.payload).map(|cr| (cr, used)));
        match parsed {
            Ok((cr, used)) => {
                let rec = summary.rdp.get_or_insert_with(RdpRecord::default);
                match cr.token {
                    Some(Token::Mstshash(user)) => rec.cookie = Some(capped(user)),
                    Some(Token::Routing(t)) => rec.routing_token = Some(capped(t)),
                    None => {}
                }
                rec.requested_protocols = cr.requested_protocols;
                if cr.li_mismatch {
                    summary.anomalies.push(
                        LAYER,
                        "x224_length_mismatch",
                        Some(Direction::ToServer),
                        None,
                        ts,
                    );
                }
                self.cr = Some((used, ts));
                Progress::NeedMore
            }
            Err(RdpError::Incomplete { .. }) => Progress::NeedMore,
            Err(e) => {
                anomaly(
                    summary,
                    "malformed_connection_request",
                    Direction::ToServer,
                    e,
                    ts,
                );
                self.phase = Phase::Over;
                Progress::Done
            }
        }
    }

    fn server(&mut self, prefix: &[u8], ts: Timestamp, summary: &mut AppSummary) -> Progress {
        if self.cc.is_some() {
            return match &mut self.phase {
                Phase::Tls(tls) => tls.on_stream(Direction::ToClient, prefix, ts, summary),
                Phase::Negotiating => Progress::NeedMore,
                Phase::Standard | Phase::Over => Progress::Done,
            };
        }
        let Some((cr_end, cr_at)) = self.cr else {
            // The confirm only makes sense after a request.
            return match self.phase {
                Phase::Over => Progress::Done,
                _ => Progress::NeedMore,
            };
        };
        let parsed = Tpkt::parse(prefix)
            .and_then(|(t, used)| ConnectionConfirm::parse(t.payload).map(|cc| (cc, used)));
        let (cc, used) = match parsed {
            Ok(x) => x,
            Err(RdpError::Incomplete { .. }) => return Progress::NeedMore,
            Err(e) => {
                anomaly(
                    summary,
                    "malformed_connection_confirm",
                    Direction::ToClient,
                    e,
                    ts,
                );
                self.phase = Phase::Over;
                return Progress::Done;
            }
        };
        self.cc = Some((used, ts));
        summary.app_rtt.record(Direction::ToClient, cr_at, ts);
        let rec = summary.rdp.get_or_insert_with(RdpRecord::default);
        self.phase = match cc.negotiation {
            Negotiation::Legacy => Phase::Standard,
            Negotiation::Selected(p) => {
                rec.selected_protocol = Some(p);
                if p == super::protocol::RDP {
                    Phase::Standard
                } else {
                    Phase::Tls(TlsStream::starting_at(cr_end, used))
                }
            }
            Negotiation::Failed(code) => {
                rec.failure_code = Some(code);
                Phase::Over
            }
        };
        if cc.li_mismatch {
            summary.anomalies.push(
                LAYER,
                "x224_length_mismatch",
                Some(Direction::ToClient),
                None,
                ts,
            );
        }
        match &mut self.phase {
            Phase::Tls(tls) => tls.on_stream(Direction::ToClient, prefix, ts, summary),
            _ => Progress::Done,
        }
    }
}

/// A wire token cut to [`MAX_COOKIE_LEN`] bytes.
fn capped(b: &[u8]) -> Vec<u8> {
    b.get(..b.len().min(MAX_COOKIE_LEN)).unwrap_or(b).to_vec()
}

fn anomaly(
    summary: &mut AppSummary,
    kind: &'static str,
    dir: Direction,
    e: RdpError,
    ts: Timestamp,
) {
    summary
        .anomalies
        .push(LAYER, kind, Some(dir), Some(&e.to_string()), ts);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    fn cx() -> FlowCx {
        FlowCx {
            src_port: 49206,
            dst_port: PORT,
            ip_proto: 6,
        }
    }

    /// zeek/traces/rdp/rdp-to-ssl.pcap frames 4 and 6 (tshark: cookie
    /// AWAKECODI, requested 0x3, selected 0x2; Zeek: HYBRID).
    const CR: &str = "0300002f2ae00000000000436f6f6b69653a206d737473686173683d4157414b45434f44490d0a0100080003000000";
    const CC: &str = "030000130ed000001234000201080002000000";

    #[test]
    fn probe_wants_an_rdp_connection_request() {
        let cr = hex(CR);
        assert_eq!(probe(&cx(), Direction::ToServer, &cr[..3]), Probe::NeedMore);
        assert_eq!(
            probe(&cx(), Direction::ToServer, &cr[..20]),
            Probe::NeedMore
        );
        assert_eq!(probe(&cx(), Direction::ToServer, &cr), Probe::Match);
        assert_eq!(probe(&cx(), Direction::ToClient, &cr), Probe::NoMatch);
        assert_eq!(
            probe(&cx(), Direction::ToServer, b"\x16\x03\x01\x00\x10\x01"),
            Probe::NoMatch
        );
        // An S7comm CR (TSAP parameters) on port 102 is not RDP.
        let s7 = hex("0300001611e00000000100c0010ac1020100c2020102");
        let s7cx = FlowCx {
            dst_port: 102,
            ..cx()
        };
        assert_eq!(probe(&s7cx, Direction::ToServer, &s7), Probe::NoMatch);
    }

    #[test]
    fn tls_after_negotiation_gets_the_tls_stream() {
        let mut s = RdpStream::new();
        let mut sum = AppSummary::default();
        let cr = hex(CR);
        let cc = hex(CC);
        let p = s.on_stream(Direction::ToServer, &cr, Timestamp(1_000), &mut sum);
        assert_eq!(p, Progress::NeedMore);
        s.on_stream(Direction::ToClient, &cc, Timestamp(5_000), &mut sum);
        assert_eq!(sum.app_rtt.server_reply_ns, Some(4_000));
        assert!(matches!(s.phase, Phase::Tls(_)));
        let rec = sum.rdp.as_ref().unwrap();
        assert_eq!(rec.cookie.as_deref(), Some(&b"AWAKECODI"[..]));
        assert_eq!(rec.requested_protocols, Some(3));
        assert_eq!(rec.selected_protocol, Some(2));
        // The client's next bytes time its reply.
        let mut more = cr.clone();
        more.extend_from_slice(&[0x16, 0x03, 0x01]);
        s.on_stream(Direction::ToServer, &more, Timestamp(9_000), &mut sum);
        assert_eq!(sum.app_rtt.client_reply_ns, Some(4_000));
    }

    #[test]
    fn failed_negotiation_ends_both_sides() {
        // rdp-proprietary-encryption.pcap stream 0: requested 0x1,
        // failureCode 2 (Zeek: SSL_NOT_ALLOWED_BY_SERVER).
        let cr = hex("0300002f2ae00000000000436f6f6b69653a206d737473686173683d465442434f5c4137300d0a0100080001000000");
        let cc = hex("030000130ed000001234000300080002000000");
        let mut s = RdpStream::new();
        let mut sum = AppSummary::default();
        s.on_stream(Direction::ToServer, &cr, Timestamp(0), &mut sum);
        let p = s.on_stream(Direction::ToClient, &cc, Timestamp(1), &mut sum);
        assert_eq!(p, Progress::Done);
        let rec = sum.rdp.as_ref().unwrap();
        assert_eq!(rec.cookie.as_deref(), Some(&b"FTBCO\\A70"[..]));
        assert_eq!(rec.failure_code, Some(2));
        assert_eq!(rec.selected_protocol, None);
    }

    #[test]
    fn standard_security_reads_the_client_core_data() {
        // rdp-proprietary-encryption.pcap stream 1 (frames 12-14): tshark
        // shows requested 0x0, selected 0x0, clientName FROG-POND,
        // keyboardLayout 1033, clientBuild 6000.
        let cr = hex("0300002f2ae00000000000436f6f6b69653a206d737473686173683d465442434f5c4137300d0a0100080000000000");
        let cc = hex("030000130ed000001234000200080000000000");
        let ci = hex(super::super::parser::tests::CONNECT_INITIAL_FROG_POND);
        let mut s = RdpStream::new();
        let mut sum = AppSummary::default();
        s.on_stream(Direction::ToServer, &cr, Timestamp(0), &mut sum);
        assert_eq!(
            s.on_stream(Direction::ToClient, &cc, Timestamp(1), &mut sum),
            Progress::Done
        );
        let mut stream = cr.clone();
        stream.extend_from_slice(&ci[..100]);
        assert_eq!(
            s.on_stream(Direction::ToServer, &stream, Timestamp(2), &mut sum),
            Progress::NeedMore
        );
        stream.extend_from_slice(&ci[100..]);
        assert_eq!(
            s.on_stream(Direction::ToServer, &stream, Timestamp(3), &mut sum),
            Progress::Done
        );
        let rec = sum.rdp.as_ref().unwrap();
        assert_eq!(rec.client_name.as_deref(), Some("FROG-POND"));
        assert_eq!(
            (rec.keyboard_layout, rec.client_build),
            (Some(1033), Some(6000))
        );
        assert_eq!(rec.selected_protocol, Some(0));
        assert_eq!(rec.requested_protocols, Some(0));
        assert_eq!(sum.app_rtt.client_reply_ns, Some(1));
    }

    #[test]
    fn garbage_after_tpkt_is_an_anomaly_not_a_panic() {
        // zeek rdp-invalid-length.pcap frame 4 starts mid-cookie.
        let b = hex("45434f44480d0a01000800030301e46603004d570eb0b0b0f7bf0100");
        let mut s = RdpStream::new();
        let mut sum = AppSummary::default();
        let p = s.on_stream(Direction::ToServer, &b, Timestamp(0), &mut sum);
        assert_eq!(p, Progress::Done);
        assert_eq!(sum.anomalies.kept[0].kind, "malformed_connection_request");
    }
}
