//! DHCPv4 and DHCPv6: client host name, MAC address, vendor class, the
//! address asked for and the one handed out.
//!
//! - [`v4`]: BOOTP/DHCPv4 message view and options (RFC 2131 §2,
//!   RFC 2132).
//! - [`v6`]: DHCPv6 message view, relay unwrapping, options (RFC 8415 §8,
//!   §9, §21; Client FQDN RFC 4704).
//!
//! Each datagram is one message (RFC 2131 §4.1, RFC 8415 §5). A flow is one
//! client/server port pair, so a DORA exchange whose replies are broadcast
//! may span several flows; each flow's record holds what its own messages
//! showed.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use serde::Serialize;

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{wire_text, AppProto, AppSummary, FlowCx, Probe};

pub mod v4;
pub mod v6;

/// DHCPv4 server and client ports (RFC 2131 §4.1).
pub const V4_PORTS: [u16; 2] = [67, 68];
/// DHCPv6 client and server ports (RFC 8415 §7.2).
pub const V6_PORTS: [u16; 2] = [546, 547];
/// Longest host name and vendor class kept (RFC 2132 §3.14 / §9.13 allow
/// 255-byte options).
pub const MAX_TEXT: usize = 255;
/// Messages parsed per flow.
pub const MAX_MESSAGES: u32 = 64;

const LAYER: &str = "dhcp";

/// What was wrong with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpError {
    Truncated {
        field: &'static str,
        offset: usize,
    },
    Malformed {
        field: &'static str,
        offset: usize,
        reason: &'static str,
    },
}

impl fmt::Display for DhcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DhcpError::Truncated { field, offset } => {
                write!(f, "dhcp: message ends inside {field} at offset {offset}")
            }
            DhcpError::Malformed {
                field,
                offset,
                reason,
            } => write!(f, "dhcp: {field} at offset {offset}: {reason}"),
        }
    }
}

/// What a flow's DHCP showed (the `dhcp` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DhcpRecord {
    /// The last message's type: `discover`, `ack`, `solicit`, `reply`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// Host Name option (v4, RFC 2132 §3.14) or Client FQDN (v6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The client's Ethernet address: chaddr or client identifier type 1
    /// (v4), DUID-LLT/DUID-LL (v6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Vendor class identifier (v4 option 60, v6 option 16's first item).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_class: Option<String>,
    /// Requested IP Address option (v4, RFC 2132 §9.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_ip: Option<IpAddr>,
    /// The address a server offered or assigned: yiaddr (v4), IA Address
    /// in an Advertise or Reply (v6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_ip: Option<IpAddr>,
}

fn mac_text(m: &[u8]) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in m.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Keep the first value of a field.
fn first<T>(slot: &mut Option<T>, v: Option<T>) {
    if slot.is_none() {
        *slot = v;
    }
}

impl DhcpRecord {
    /// Add what one DHCPv4 message shows.
    pub fn add_v4(&mut self, m: &v4::Message<'_>) -> Result<(), DhcpError> {
        use v4::option;
        first(&mut self.mac, m.ethernet_chaddr().map(mac_text));
        let y = m.yiaddr();
        if m.op() == v4::OP_REPLY && !y.is_unspecified() {
            self.assigned_ip = Some(y.into());
        }
        for opt in m.options() {
            let (code, v) = opt?;
            match code {
                option::MESSAGE_TYPE => {
                    if let Some(&t) = v.first() {
                        self.message_type = Some(v4::message_type_name(t).into_owned());
                    }
                }
                option::HOST_NAME => first(&mut self.hostname, Some(wire_text(v, MAX_TEXT))),
                option::VENDOR_CLASS => first(&mut self.vendor_class, Some(wire_text(v, MAX_TEXT))),
                option::REQUESTED_IP => {
                    let a = v4::addr4(Some(v)).filter(|a| !a.is_unspecified());
                    first(&mut self.requested_ip, a.map(IpAddr::from));
                }
                // RFC 2132 §9.14: type 1 (Ethernet) + the address.
                option::CLIENT_ID => match v {
                    [1, mac @ ..] if mac.len() == v4::ETHERNET_ADDR_LEN => {
                        first(&mut self.mac, Some(mac_text(mac)))
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        Ok(())
    }

    /// Add what one DHCPv6 message shows.
    pub fn add_v6(&mut self, m: &v6::Message<'_>) -> Result<(), DhcpError> {
        use v6::option;
        self.message_type = Some(v6::message_type_name(m.msg_type).into_owned());
        let offers = matches!(m.msg_type, v6::msg::ADVERTISE | v6::msg::REPLY);
        let mut name = Vec::new();
        for opt in m.options() {
            let (code, v) = opt?;
            match code {
                option::CLIENTID => first(&mut self.mac, v6::duid_mac(v).map(mac_text)),
                option::CLIENT_FQDN if v6::fqdn(v, &mut name).is_some() && !name.is_empty() => {
                    first(&mut self.hostname, Some(wire_text(&name, MAX_TEXT)));
                }
                option::VENDOR_CLASS => first(
                    &mut self.vendor_class,
                    v6::vendor_class(v).map(|c| wire_text(c, MAX_TEXT)),
                ),
                // IA_NA (§21.4): IAID, T1, T2, then IAADDR options (§21.6):
                // the address first.
                option::IA_NA if offers => {
                    let addr = v6::Options::nested(v, 12)
                        .filter_map(Result::ok)
                        .find(|(c, _)| *c == option::IAADDR)
                        .and_then(|(_, a)| <[u8; 16]>::try_from(a.get(..16)?).ok());
                    first(
                        &mut self.assigned_ip,
                        addr.map(|a| Ipv6Addr::from(a).into()),
                    );
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// DHCPv4 probe: a DHCP port and a message with the magic cookie.
pub fn probe_v4(cx: &FlowCx, _dir: Direction, bytes: &[u8]) -> Probe {
    if V4_PORTS.iter().any(|&p| cx.has_port(p)) && v4::Message::new(bytes).is_ok() {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// DHCPv6 probe: a DHCPv6 port and a known message type.
pub fn probe_v6(cx: &FlowCx, _dir: Direction, bytes: &[u8]) -> Probe {
    let known = bytes.first().is_some_and(|&t| (1..=13).contains(&t));
    if V6_PORTS.iter().any(|&p| cx.has_port(p)) && known && v6::Message::new(bytes).is_ok() {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// Per-flow DHCP state.
#[derive(Debug)]
pub struct DhcpFlow {
    proto: AppProto,
    messages: u32,
}

impl DhcpFlow {
    /// `proto`: [`AppProto::Dhcp`] or [`AppProto::Dhcpv6`].
    pub fn new(proto: AppProto) -> DhcpFlow {
        DhcpFlow { proto, messages: 0 }
    }

    pub fn proto(&self) -> AppProto {
        self.proto
    }

    pub fn on_datagram(
        &mut self,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) {
        if self.messages >= MAX_MESSAGES {
            return;
        }
        self.messages += 1;
        let rec = summary.dhcp.get_or_insert_with(DhcpRecord::default);
        let r = if self.proto == AppProto::Dhcpv6 {
            v6::Message::new(payload).and_then(|m| rec.add_v6(&m))
        } else {
            v4::Message::new(payload).and_then(|m| rec.add_v4(&m))
        };
        if let Err(e) = r {
            summary.anomalies.push(
                LAYER,
                "malformed_message",
                Some(dir),
                Some(&e.to_string()),
                ts,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hex;

    /// foxio-ja4/pcap/dhcp.pcapng frames 1 (Discover) and 2 (Offer). tshark:
    /// types 1 and 2, chaddr 00:0b:82:01:fc:42, yiaddr 192.168.0.10 in the
    /// offer; the discover's option 50 is 0.0.0.0.
    const DISCOVER: &str = "0101060000003d1d0000000000000000000000000000000000000000000b8201fc4200000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000638253633501013d0701000b8201fc4232040000000037040103062aff00000000000000";
    const OFFER: &str = "0201060000003d1d0000000000000000c0a8000ac0a8000100000000000b8201fc4200000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000638253633501020104ffffff003a04000007083b0400000c4e330400000e103604c0a80001ff0000000000000000000000000000000000000000000000000000";
    /// foxio-ja4/pcap/dhcpv6.pcap frame 2 (Solicit); tshark: DUID-LLT
    /// link-layer address 08:00:27:fe:8f:95.
    const SOLICIT: &str = "011008740001000e000100011c39cf88080027fe8f9500060004001700180008000200000019000c27fe8f9500000e1000001518";

    fn cx(a: u16, b: u16) -> FlowCx {
        FlowCx {
            src_port: a,
            dst_port: b,
            ip_proto: 17,
        }
    }

    #[test]
    fn v4_discover_offer_like_tshark() {
        let (d, o) = (hex(DISCOVER), hex(OFFER));
        assert_eq!(probe_v4(&cx(68, 67), Direction::ToServer, &d), Probe::Match);
        assert_eq!(
            probe_v4(&cx(68, 67), Direction::ToServer, &d[..239]),
            Probe::NoMatch
        );
        assert_eq!(
            probe_v4(&cx(1000, 53), Direction::ToServer, &d),
            Probe::NoMatch
        );
        let mut r = DhcpRecord::default();
        r.add_v4(&v4::Message::new(&d).unwrap()).unwrap();
        assert_eq!(r.message_type.as_deref(), Some("discover"));
        assert_eq!(r.mac.as_deref(), Some("00:0b:82:01:fc:42"));
        assert_eq!(r.requested_ip, None);
        let mut r2 = DhcpRecord::default();
        r2.add_v4(&v4::Message::new(&o).unwrap()).unwrap();
        assert_eq!(r2.message_type.as_deref(), Some("offer"));
        assert_eq!(r2.assigned_ip, Some("192.168.0.10".parse().unwrap()));
    }

    #[test]
    fn v4_host_name_vendor_class_requested_ip() {
        // The Discover with its options replaced (RFC 2132 encodings): type
        // request, host name "laptop-17", vendor class "MSFT 5.0",
        // requested 192.168.0.10.
        let mut d = hex(DISCOVER);
        d.truncate(v4::field::OPTIONS);
        d.extend_from_slice(&[53, 1, 3, 12, 9]);
        d.extend_from_slice(b"laptop-17");
        d.extend_from_slice(&[60, 8]);
        d.extend_from_slice(b"MSFT 5.0");
        d.extend_from_slice(&[50, 4, 192, 168, 0, 10, 255]);
        let mut r = DhcpRecord::default();
        r.add_v4(&v4::Message::new(&d).unwrap()).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"message_type":"request","hostname":"laptop-17","mac":"00:0b:82:01:fc:42","vendor_class":"MSFT 5.0","requested_ip":"192.168.0.10"}"#
        );
        // A truncated option is an error, after what came before it.
        d.truncate(d.len() - 4);
        let mut r = DhcpRecord::default();
        assert!(r.add_v4(&v4::Message::new(&d).unwrap()).is_err());
        assert_eq!(r.hostname.as_deref(), Some("laptop-17"));
    }

    #[test]
    fn v6_solicit_like_tshark() {
        let s = hex(SOLICIT);
        assert_eq!(
            probe_v6(&cx(546, 547), Direction::ToServer, &s),
            Probe::Match
        );
        let mut r = DhcpRecord::default();
        r.add_v6(&v6::Message::new(&s).unwrap()).unwrap();
        assert_eq!(r.message_type.as_deref(), Some("solicit"));
        assert_eq!(r.mac.as_deref(), Some("08:00:27:fe:8f:95"));
    }

    #[test]
    fn v6_relayed_reply_with_fqdn_vendor_and_address() {
        // Reply (7) in a Relay-repl (13): Client FQDN (RFC 4704 §4: flags,
        // then "pc1.corp.example" in wire form), Vendor Class (enterprise
        // 311, one item "MSFT 5.0"), IA_NA with IAADDR 2001:db8::42.
        let mut inner = vec![7, 1, 2, 3];
        inner.extend_from_slice(&[0, 39, 0, 19, 0, 3]);
        inner.extend_from_slice(b"pc1\x04corp\x07example\x00");
        inner.extend_from_slice(&[0, 16, 0, 14, 0, 0, 1, 0x37, 0, 8]);
        inner.extend_from_slice(b"MSFT 5.0");
        inner.extend_from_slice(&[0, 3, 0, 40, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        inner.extend_from_slice(&[0, 5, 0, 24]);
        inner.extend_from_slice(&"2001:db8::42".parse::<Ipv6Addr>().unwrap().octets());
        inner.extend_from_slice(&[0; 8]);
        let mut relay = vec![13, 0];
        relay.extend_from_slice(&[0; 32]);
        relay.extend_from_slice(&[0, 9]);
        relay.extend_from_slice(&(inner.len() as u16).to_be_bytes());
        relay.extend_from_slice(&inner);
        let mut r = DhcpRecord::default();
        r.add_v6(&v6::Message::new(&relay).unwrap()).unwrap();
        assert_eq!(r.message_type.as_deref(), Some("reply"));
        assert_eq!(r.hostname.as_deref(), Some("pc1.corp.example"));
        assert_eq!(r.vendor_class.as_deref(), Some("MSFT 5.0"));
        assert_eq!(r.assigned_ip, Some("2001:db8::42".parse().unwrap()));
        // A relay loop (relay in relay ... ) ends.
        let mut deep = vec![];
        for _ in 0..20 {
            let mut outer = vec![12, 0];
            outer.extend_from_slice(&[0; 32]);
            outer.extend_from_slice(&[0, 9]);
            outer.extend_from_slice(&(deep.len() as u16).to_be_bytes());
            outer.extend_from_slice(&deep);
            deep = outer;
        }
        assert!(v6::Message::new(&deep).is_err());
    }
}
