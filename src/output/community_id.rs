//! Community ID v1 flow hashes (corelight/community-id-spec), the identifier
//! Suricata, Zeek and Wireshark share to join records of one flow.
//!
//! The hash input is, in network byte order:
//!
//! ```text
//! seed (u16) | addr A | addr B | proto (u8) | 0 (u8) | port A (u16) | port B (u16)
//! ```
//!
//! where `(A, port A)` is the smaller endpoint, so both directions of a flow
//! hash alike. Ports are only present for TCP, UDP, SCTP, ICMP and ICMPv6.
//! ICMP messages use the type as "source port"; for request/reply pairs the
//! "destination port" is the counterpart type (so an echo and its reply hash
//! alike), otherwise it is the code and the message is one-way: its
//! endpoints are kept in sender-first order. The result is `"1:"` followed by
//! the base64 SHA-1 digest.

use std::net::IpAddr;

use sha1::{Digest, Sha1};

use crate::decode::ip_proto;
use crate::flow::FlowEndpoints;

/// Length of a Community ID string: `"1:"` + 28 base64 characters.
pub const COMMUNITY_ID_LEN: usize = 30;

/// A Community ID, kept on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CommunityId([u8; COMMUNITY_ID_LEN]);

impl CommunityId {
    pub fn as_str(&self) -> &str {
        // Only "1:" and base64 characters are ever written.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl std::fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for CommunityId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// ICMPv4 request/reply type pairs (RFC 792, RFC 1256, RFC 950).
const ICMP4_PAIRS: [(u8, u8); 5] = [
    (8, 0),   // echo / echo reply
    (13, 14), // timestamp / timestamp reply
    (15, 16), // information request / reply
    (10, 9),  // router solicitation / advertisement
    (17, 18), // address mask request / reply
];

/// ICMPv6 request/reply type pairs (RFC 4443, 2710, 4861, 4620, 6275).
const ICMP6_PAIRS: [(u8, u8); 6] = [
    (128, 129), // echo request / reply
    (130, 131), // MLD query / report
    (133, 134), // router solicitation / advertisement
    (135, 136), // neighbour solicitation / advertisement
    (139, 140), // node information query / reply
    (144, 145), // home agent address discovery request / reply
];

/// The counterpart of an ICMP type in a request/reply pair.
fn icmp_counterpart(pairs: &[(u8, u8)], icmp_type: u8) -> Option<u8> {
    pairs.iter().find_map(|&(a, b)| {
        if a == icmp_type {
            Some(b)
        } else if b == icmp_type {
            Some(a)
        } else {
            None
        }
    })
}

/// The "ports" an ICMP message stands for, and whether it is one-way.
fn icmp_ports(proto: u8, icmp_type: u8, code: u8) -> (u16, u16, bool) {
    let pairs: &[(u8, u8)] = if proto == ip_proto::ICMP {
        &ICMP4_PAIRS
    } else {
        &ICMP6_PAIRS
    };
    match icmp_counterpart(pairs, icmp_type) {
        Some(other) => (u16::from(icmp_type), u16::from(other), false),
        None => (u16::from(icmp_type), u16::from(code), true),
    }
}

/// The Community ID of a flow, from its oriented endpoints.
pub fn flow_community_id(ep: &FlowEndpoints, seed: u16) -> CommunityId {
    let ports = match ep.ip_proto {
        ip_proto::TCP | ip_proto::UDP | ip_proto::SCTP => Some((ep.src_port, ep.dst_port, false)),
        ip_proto::ICMP | ip_proto::ICMPV6 => {
            let (t, c) = ep.icmp_type_code.unwrap_or((0, 0));
            Some(icmp_ports(ep.ip_proto, t, c))
        }
        _ => None,
    };
    community_id_v1(seed, ep.src_ip, ep.dst_ip, ep.ip_proto, ports)
}

/// Community ID v1 of an endpoint pair. `ports` is `(sport, dport, one_way)`
/// after any ICMP mapping, `None` for protocols without ports. Mixed address
/// families (impossible for one IP packet) hash as IPv6 with the IPv4
/// address mapped.
pub fn community_id_v1(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ports: Option<(u16, u16, bool)>,
) -> CommunityId {
    let (mut src, mut dst) = same_family(src, dst);
    let (mut sport, mut dport, one_way) = ports.unwrap_or((0, 0, false));
    // One-way ICMP messages keep their sender first; everything else is put
    // in (address, port) order.
    if !one_way && (dst.as_slice(), dport) < (src.as_slice(), sport) {
        std::mem::swap(&mut src, &mut dst);
        std::mem::swap(&mut sport, &mut dport);
    }
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(src.as_slice());
    h.update(dst.as_slice());
    h.update([proto, 0]);
    if ports.is_some() {
        h.update(sport.to_be_bytes());
        h.update(dport.to_be_bytes());
    }
    let digest: [u8; 20] = h.finalize().into();
    let mut out = [0u8; COMMUNITY_ID_LEN];
    out[0] = b'1';
    out[1] = b':';
    base64_encode(&digest, &mut out[2..]);
    CommunityId(out)
}

/// An address as network-order bytes, 4 or 16 long.
#[derive(Clone, Copy)]
enum AddrBytes {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl AddrBytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            AddrBytes::V4(b) => b,
            AddrBytes::V6(b) => b,
        }
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> (AddrBytes, AddrBytes) {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (AddrBytes::V4(a.octets()), AddrBytes::V4(b.octets())),
        _ => (AddrBytes::V6(v6_octets(a)), AddrBytes::V6(v6_octets(b))),
    }
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4, with padding) of 20 bytes into 28.
fn base64_encode(input: &[u8; 20], out: &mut [u8]) {
    let mut o = out.iter_mut();
    for chunk in input.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        // A chunk of k bytes yields k + 1 characters, then '=' padding.
        for (i, s) in sextets.iter().enumerate() {
            if let Some(slot) = o.next() {
                *slot = if i <= chunk.len() {
                    BASE64_ALPHABET[*s as usize]
                } else {
                    b'='
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ep(proto: u8, src: &str, sport: u16, dst: &str, dport: u16) -> FlowEndpoints {
        FlowEndpoints {
            src_ip: ip(src),
            src_port: sport,
            dst_ip: ip(dst),
            dst_port: dport,
            ip_proto: proto,
            icmp_type_code: None,
            vlan: [0, 0],
            spi: None,
        }
    }

    fn icmp(proto: u8, src: &str, dst: &str, t: u8, c: u8) -> FlowEndpoints {
        FlowEndpoints {
            icmp_type_code: Some((t, c)),
            ..ep(proto, src, 0, dst, 0)
        }
    }

    fn check(e: &FlowEndpoints, seed: u16, want: &str) {
        assert_eq!(flow_community_id(e, seed).as_str(), want, "{e:?}");
        // Port-keyed flows hash alike in both orientations.
        if e.icmp_type_code.is_none() {
            let rev = FlowEndpoints {
                src_ip: e.dst_ip,
                src_port: e.dst_port,
                dst_ip: e.src_ip,
                dst_port: e.src_port,
                ..*e
            };
            assert_eq!(flow_community_id(&rev, seed).as_str(), want, "{rev:?}");
        }
    }

    /// The spec's own examples (community-id-spec README / baseline).
    #[test]
    fn spec_vectors() {
        check(
            &ep(6, "1.2.3.4", 1122, "5.6.7.8", 3344),
            0,
            "1:wCb3OG7yAFWelaUydu0D+125CLM=",
        );
        check(
            &ep(17, "1.2.3.4", 1122, "5.6.7.8", 3344),
            0,
            "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
        );
        check(
            &icmp(1, "1.2.3.4", "5.6.7.8", 8, 0),
            0,
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
        );
        check(
            &icmp(1, "5.6.7.8", "1.2.3.4", 0, 0),
            0,
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
        );
        let (a, b) = (
            "fe80:1:203:405:607:809:a0b:c0d",
            "fe80:1011:1213:1415:1617:1819:1a1b:1c1d",
        );
        check(&icmp(58, a, b, 128, 0), 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=");
        check(
            &ep(6, "1.2.3.4", 1122, "5.6.7.8", 3344),
            1,
            "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=",
        );
        check(&icmp(58, a, b, 128, 0), 1, "1:IO27GQzPuCtNnwFvjWALMHu5tJE=");
    }

    /// Ground truth from tshark 4.0.17 (`--enable-protocol communityid
    /// -T fields -e communityid`) on corpus captures.
    #[test]
    fn tshark_vectors() {
        // suricata-verify/tests/community-id-ipv4/input.pcap frame 1 (TCP).
        let tcp = ep(6, "172.26.0.39", 35958, "172.217.14.206", 443);
        check(&tcp, 0, "1:0rRFlkfZsYZ0l7PqLoMEAxHMqrI=");
        // Same flow, seed 7: the value Suricata's own test expects.
        check(&tcp, 7, "1:IwiTNfuO7aCaamMijl+7/X9uLx0=");
        // tcpdump/tests/vxlan.pcap frame 2 (UDP) and frames 1/4 (inner ICMP
        // echo and reply).
        check(
            &ep(17, "192.168.202.1", 42710, "192.168.203.1", 4789),
            0,
            "1:lKt4slG4JObLo/zdSP62LhO9i3A=",
        );
        let want = "1:U9XPoqOosLWVcR1iyZ86gSbNCdQ=";
        check(&icmp(1, "192.168.203.3", "192.168.203.5", 8, 0), 0, want);
        check(&icmp(1, "192.168.203.5", "192.168.203.3", 0, 0), 0, want);
        // suricata-verify/tests/eve-flow-vlan/input.pcap: echo to broadcast.
        check(
            &icmp(1, "192.168.0.1", "255.255.255.255", 8, 0),
            0,
            "1:76s0GqUpOoen1LppvPx4loZ+Pnk=",
        );
        // foxio-ja4/pcap/gre-sample.pcap frame 34: port unreachable (one-way)
        // from the larger address: not reordered.
        check(
            &icmp(1, "172.28.2.3", "66.59.111.190", 3, 3),
            0,
            "1:bTAVApTgzlxwhyz+udTptSSnFcM=",
        );
        // foxio-ja4/pcap/v6.pcap: frame 17 (TCP over IPv6), frame 2 (UDP),
        // frame 117 (echo reply), frame 91 (time exceeded, one-way).
        let v6 = "3ffe:507:0:1:200:86ff:fe05:80da";
        check(
            &ep(6, "3ffe:501:410:0:2c0:dfff:fe47:33e", 22, v6, 1022),
            0,
            "1:KCHULnC2GCfanzHfU34Gr1Za/Zo=",
        );
        check(
            &ep(17, "3ffe:501:4819::42", 53, v6, 2396),
            0,
            "1:JBeyh8m0a90BZxNrl8qsXhtgfcQ=",
        );
        check(
            &icmp(58, "3ffe:501:0:1001::2", v6, 129, 0),
            0,
            "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=",
        );
        check(
            &icmp(58, "3ffe:501:0:1802:260:97ff:feb6:7ff0", v6, 3, 0),
            0,
            "1:bnQKq8A2r//dWnkRW2EYcMhShjc=",
        );
        // zeek-spicy-ipsec/traces: ESP (frame 12 of ipsec.cap) and AH: no
        // ports in the hash, whatever the SPI.
        let mut esp = ep(50, "192.168.140.205", 0, "192.168.140.200", 0);
        esp.spi = Some(0x1c0d_7b38);
        check(&esp, 0, "1:XAtPTyy6g8qvhJqczy3H/fbheUw=");
        check(
            &ep(51, "10.0.0.1", 0, "10.0.0.2", 0),
            0,
            "1:hp6IpRhD73tdOEaT/yGau1PwLlk=",
        );
        // SCTP: no corpus capture has it; a packet made with
        // `text2pcap -S 1122,3344,0 -4 1.2.3.4,5.6.7.8`, hashed by tshark.
        check(
            &ep(132, "1.2.3.4", 1122, "5.6.7.8", 3344),
            0,
            "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=",
        );
    }

    #[test]
    fn base64_of_known_digest() {
        // RFC 3174 test 1: SHA1("abc") = a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d,
        // whose base64 is qZk+NkcGgWq6PiVxeFDCbJzQ2J0= (`printf abc | sha1sum -b | xxd -r -p | base64`).
        let d: [u8; 20] = Sha1::digest(b"abc").into();
        let mut out = [0u8; 28];
        base64_encode(&d, &mut out);
        assert_eq!(&out, b"qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
    }
}
