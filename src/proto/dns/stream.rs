//! DNS flows: over UDP one message per datagram (RFC 1035 §4.2.1), over
//! TCP each message behind a two-byte length (RFC 1035 §4.2.2,
//! RFC 7766 §8). The probes want port 53 on either end: a DNS header has
//! no magic, and a header-shaped guess on any port would claim other
//! protocols' flows.

use super::parser::{DnsError, Item, Message};
use super::record::DnsRecord;
use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{AppSummary, FlowCx, Probe, Progress};

/// The DNS port (RFC 1035 §4.2).
pub const PORT: u16 = 53;
/// Messages parsed per flow; later ones are not looked at (a long-lived
/// UDP flow between a client and its resolver may carry thousands).
pub const MAX_MESSAGES: u32 = 64;
/// The TCP length prefix (RFC 1035 §4.2.2).
const TCP_LENGTH_LEN: usize = 2;
/// Opcodes in use: QUERY 0 .. DSO 6 (IANA DNS OpCodes registry).
const MAX_OPCODE: u8 = 6;
/// More questions than this is no DNS in practice (RFC 9619: QDCOUNT is
/// at most 1 for QUERY); leaves room for odd implementations.
const MAX_QUESTIONS: u16 = 16;

const LAYER: &str = "dns";

/// Does a header and its first question read as DNS?
fn plausible(bytes: &[u8]) -> bool {
    let Ok(m) = Message::new(bytes) else {
        return false;
    };
    if m.opcode() > MAX_OPCODE {
        return false;
    }
    // A query has a question; a response to one repeats it. Updates
    // (opcode 5) and notifies may carry one too; a message with none is
    // accepted only when it is a response with answers.
    match m.sections().next() {
        Some(Ok(Item::Question(_))) => true,
        Some(Ok(Item::Answer(_))) => m.is_response(),
        None => false,
        Some(Err(_)) => false,
    }
}

/// UDP probe: port 53 and a plausible message.
pub fn probe_datagram(cx: &FlowCx, _dir: Direction, bytes: &[u8]) -> Probe {
    if !cx.has_port(PORT) || !plausible(bytes) {
        return Probe::NoMatch;
    }
    Probe::Match
}

/// TCP probe: port 53, a length prefix of at least a header, and a
/// plausible message once it is all there.
pub fn probe_stream(cx: &FlowCx, _dir: Direction, bytes: &[u8]) -> Probe {
    if !cx.has_port(PORT) {
        return Probe::NoMatch;
    }
    let Some(&[hi, lo]) = bytes.get(..TCP_LENGTH_LEN) else {
        return Probe::NeedMore;
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    if len < super::parser::field::HEADER_LEN {
        return Probe::NoMatch;
    }
    match bytes.get(TCP_LENGTH_LEN..TCP_LENGTH_LEN + len) {
        Some(msg) if plausible(msg) => Probe::Match,
        Some(_) => Probe::NoMatch,
        // Until the message is all there (it may be longer than the probe
        // limit), judge its header and first question.
        None => match bytes.get(TCP_LENGTH_LEN..).map(Message::new) {
            Some(Ok(m)) if m.opcode() > MAX_OPCODE || m.qdcount() > MAX_QUESTIONS => Probe::NoMatch,
            Some(Ok(m)) => match m.sections().next() {
                Some(Ok(Item::Question(_))) => Probe::Match,
                Some(Err(DnsError::Truncated { .. })) => Probe::NeedMore,
                _ => Probe::NoMatch,
            },
            _ => Probe::NeedMore,
        },
    }
}

/// Per-flow DNS state, for UDP and TCP alike.
#[derive(Debug, Default)]
pub struct DnsFlow {
    messages: u32,
    /// TCP: bytes of each direction's prefix already parsed.
    consumed: [usize; 2],
    /// The last query's id and capture time, for the resolver's reply time.
    pending: Option<(u16, Timestamp)>,
}

impl DnsFlow {
    pub fn new() -> DnsFlow {
        DnsFlow::default()
    }

    /// One UDP datagram.
    pub fn on_datagram(
        &mut self,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        if self.messages < MAX_MESSAGES {
            self.on_message(dir, payload, ts, summary);
        }
    }

    /// The whole contiguous prefix of one TCP direction: parse the complete
    /// messages not parsed yet.
    pub fn on_stream(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        let d = dir.index();
        let mut at = self.consumed.get(d).copied().unwrap_or(0);
        while self.messages < MAX_MESSAGES {
            let Some(&[hi, lo]) = prefix.get(at..at + TCP_LENGTH_LEN) else {
                break;
            };
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            let start = at + TCP_LENGTH_LEN;
            let Some(msg) = prefix.get(start..start + len) else {
                break;
            };
            if !self.on_message(dir, msg, ts, summary) {
                return Progress::Done;
            }
            at = start + len;
        }
        if let Some(c) = self.consumed.get_mut(d) {
            *c = at;
        }
        if self.messages >= MAX_MESSAGES {
            Progress::Done
        } else {
            Progress::NeedMore
        }
    }

    /// Parse one message into the record; false when it was malformed.
    fn on_message(
        &mut self,
        dir: Direction,
        bytes: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> bool {
        self.messages += 1;
        let result = Message::new(bytes).and_then(|m| {
            if m.is_response() {
                if let Some((id, at)) = self.pending.take() {
                    if id == m.id() {
                        summary.app_rtt.record(dir, at, ts);
                    }
                }
            } else {
                self.pending = Some((m.id(), ts));
            }
            summary
                .dns
                .get_or_insert_with(DnsRecord::default)
                .add_message(&m)
        });
        match result {
            Ok(()) => true,
            Err(e) => {
                let kind = match e {
                    DnsError::Truncated { .. } => "truncated_message",
                    DnsError::Malformed { .. } => "malformed_message",
                };
                summary
                    .anomalies
                    .push(LAYER, kind, Some(dir), Some(&e.to_string()), ts);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::tests::{CMU_QUERY, CMU_RESPONSE};
    use super::*;
    use crate::testutil::hex;

    fn cx(proto: u8, dst_port: u16) -> FlowCx {
        FlowCx {
            src_port: 40000,
            dst_port,
            ip_proto: proto,
        }
    }

    #[test]
    fn probes_want_port_53_and_a_question() {
        let q = hex(CMU_QUERY);
        assert_eq!(
            probe_datagram(&cx(17, 53), Direction::ToServer, &q),
            Probe::Match
        );
        assert_eq!(
            probe_datagram(&cx(17, 5353), Direction::ToServer, &q),
            Probe::NoMatch
        );
        assert_eq!(
            probe_datagram(&cx(17, 53), Direction::ToServer, &q[..20]),
            Probe::NoMatch
        );
        let mut t = vec![0, q.len() as u8];
        t.extend_from_slice(&q);
        assert_eq!(
            probe_stream(&cx(6, 53), Direction::ToServer, &t[..10]),
            Probe::NeedMore
        );
        assert_eq!(
            probe_stream(&cx(6, 53), Direction::ToServer, &t),
            Probe::Match
        );
        assert_eq!(
            probe_stream(&cx(6, 53), Direction::ToServer, b"GET / HTTP/1.1\r\n"),
            Probe::NoMatch
        );
    }

    #[test]
    fn tcp_messages_split_anywhere() {
        let (q, r) = (hex(CMU_QUERY), hex(CMU_RESPONSE));
        let mut stream = Vec::new();
        for m in [&r, &r] {
            stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
            stream.extend_from_slice(m);
        }
        let mut up = vec![0, q.len() as u8];
        up.extend_from_slice(&q);
        for cut in [1, 2, 100, stream.len() - 1] {
            let mut f = DnsFlow::new();
            let mut s = AppSummary::default();
            f.on_stream(Direction::ToServer, &up, Timestamp(0), &mut s);
            f.on_stream(Direction::ToClient, &stream[..cut], Timestamp(5), &mut s);
            f.on_stream(Direction::ToClient, &stream, Timestamp(9), &mut s);
            assert_eq!(f.messages, 3, "cut {cut}");
            let rec = s.dns.unwrap();
            assert_eq!(rec.queries.len(), 1);
            // Two copies of the three answers.
            assert_eq!(rec.answers.len(), 6);
            assert!(s.anomalies.is_empty());
            assert_eq!(s.app_rtt.samples, 1);
        }
    }

    #[test]
    fn a_malformed_datagram_is_an_anomaly() {
        let mut r = hex(CMU_RESPONSE);
        // First answer's name: a forward pointer.
        r[29] = 0xc0;
        r[30] = 0xff;
        let mut f = DnsFlow::new();
        let mut s = AppSummary::default();
        f.on_datagram(Direction::ToClient, &r, Timestamp(0), &mut s);
        assert_eq!(s.anomalies.kept.len(), 1);
        assert_eq!(s.anomalies.kept[0].kind, "malformed_message");
        assert_eq!(s.dns.unwrap().queries.len(), 1);
    }
}
