//! Decoder tests on real frames from the corpus (../shared/corpus). Expected
//! values are tshark's (`tshark -r FILE -T fields -e ...`), quoted next to
//! each assertion. Tests skip with a message when the corpus is absent.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::*;
use crate::capture::{Frame, LinkType, Timestamp};

/// A frame read by the test-only capture reader.
struct Owned {
    link: LinkType,
    ts: Timestamp,
    orig_len: u32,
    data: Vec<u8>,
}

impl Owned {
    fn frame(&self) -> Frame<'_> {
        Frame {
            ts: self.ts,
            link: self.link,
            orig_len: self.orig_len,
            interface: 0,
            data: &self.data,
        }
    }
}

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipped: corpus folder {} absent", p.display());
        None
    }
}

fn u16_at(b: &[u8], at: usize, le: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(s)
    } else {
        u16::from_be_bytes(s)
    })
}

fn u32_at(b: &[u8], at: usize, le: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    })
}

/// A tiny pcap / pcapng reader, enough for the corpus (not the product's).
fn read_capture(path: &Path) -> Vec<Owned> {
    let Ok(b) = std::fs::read(path) else {
        return Vec::new();
    };
    let magic = u32_at(&b, 0, true).unwrap_or(0);
    match magic {
        0xa1b2c3d4 | 0xa1b23c4d | 0xd4c3b2a1 | 0x4d3cb2a1 => read_pcap(&b, magic),
        0x0a0d0d0a => read_pcapng(&b),
        _ => Vec::new(),
    }
}

fn read_pcap(b: &[u8], magic: u32) -> Vec<Owned> {
    let le = matches!(magic, 0xa1b2c3d4 | 0xa1b23c4d);
    let nanos = matches!(magic, 0xa1b23c4d | 0x4d3cb2a1);
    let link = LinkType::from_linktype(u32_at(b, 20, le).unwrap_or(0) & 0x0fff_ffff);
    let mut out = Vec::new();
    let mut off = 24;
    while let (Some(sec), Some(frac), Some(incl), Some(orig)) = (
        u32_at(b, off, le),
        u32_at(b, off + 4, le),
        u32_at(b, off + 8, le),
        u32_at(b, off + 12, le),
    ) {
        let start = off + 16;
        let Some(data) = b.get(start..start + incl as usize) else {
            break;
        };
        let ns = if nanos {
            frac
        } else {
            frac.saturating_mul(1000)
        };
        out.push(Owned {
            link,
            ts: Timestamp::from_secs_nanos(i64::from(sec), ns),
            orig_len: orig,
            data: data.to_vec(),
        });
        off = start + incl as usize;
    }
    out
}

fn read_pcapng(b: &[u8]) -> Vec<Owned> {
    let mut out = Vec::new();
    let mut links = Vec::new();
    let mut le = true;
    let mut off = 0;
    while off + 12 <= b.len() {
        if u32_at(b, off, true) == Some(0x0a0d0d0a) {
            le = u32_at(b, off + 8, true) == Some(0x1a2b3c4d);
            links.clear();
        }
        let (Some(kind), Some(len)) = (u32_at(b, off, le), u32_at(b, off + 4, le)) else {
            break;
        };
        let len = len as usize;
        if len < 12 || off + len > b.len() {
            break;
        }
        let body = &b[off + 8..off + len - 4];
        match kind {
            1 => links.push(LinkType::from_linktype(u32::from(
                u16_at(body, 0, le).unwrap_or(0),
            ))),
            6 => {
                let (Some(ifc), Some(hi), Some(lo), Some(cap), Some(orig)) = (
                    u32_at(body, 0, le),
                    u32_at(body, 4, le),
                    u32_at(body, 8, le),
                    u32_at(body, 12, le),
                    u32_at(body, 16, le),
                ) else {
                    break;
                };
                if let (Some(&link), Some(data)) =
                    (links.get(ifc as usize), body.get(20..20 + cap as usize))
                {
                    let us = (u64::from(hi) << 32) | u64::from(lo);
                    out.push(Owned {
                        link,
                        ts: Timestamp((us as i64).saturating_mul(1000)),
                        orig_len: orig,
                        data: data.to_vec(),
                    });
                }
            }
            3 => {
                if let (Some(&link), Some(orig)) = (links.first(), u32_at(body, 0, le)) {
                    let cap = (orig as usize).min(body.len() - 4);
                    out.push(Owned {
                        link,
                        ts: Timestamp::ZERO,
                        orig_len: orig,
                        data: body[4..4 + cap].to_vec(),
                    });
                }
            }
            _ => {}
        }
        off += len;
    }
    out
}

/// Frame `n` (1-based, as tshark numbers them) of a corpus capture.
fn frame(rel: &str, n: usize) -> Option<Owned> {
    let root = corpus()?;
    let mut frames = read_capture(&root.join(rel));
    assert!(frames.len() >= n, "{rel}: only {} frames", frames.len());
    Some(frames.swap_remove(n - 1))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn erspan_ii_then_vxlan_then_tcp() {
    // foxio-ja4/pcap/gre-erspan-vxlan.pcap frame 1, tshark:
    // ip 100.20.9.2>100.20.9.1 gre:erspan (type II, span id 20),
    // ip 172.16.27.131>172.16.27.121 udp 4789>4790 vxlan vni 0,
    // ip 10.16.27.12>10.16.27.131 ttl 64 tcp 65174>80 flags 0x002 win 8192 len 0.
    let Some(f) = frame("foxio-ja4/pcap/gre-erspan-vxlan.pcap", 1) else {
        return;
    };
    let mut d = Decoder::new(DecodeConfig::default());
    let p = d.decode(&f.frame());
    let p = p.expect("packet");
    assert_eq!(p.tunnel.len(), 2);
    assert_eq!(p.tunnel[0].kind, TunnelKind::Erspan);
    assert_eq!(p.tunnel[0].outer_src, ip("100.20.9.2"));
    assert_eq!(p.tunnel[0].outer_dst, ip("100.20.9.1"));
    assert_eq!(p.tunnel[0].id, Some(20));
    assert_eq!(p.tunnel[1].kind, TunnelKind::Vxlan);
    assert_eq!(p.tunnel[1].outer_src, ip("172.16.27.131"));
    assert_eq!(p.tunnel[1].outer_dst, ip("172.16.27.121"));
    assert_eq!(p.tunnel[1].id, Some(0));
    assert_eq!((p.src, p.dst), (ip("10.16.27.12"), ip("10.16.27.131")));
    assert_eq!(p.ttl, 64);
    assert_eq!(p.wire_len, 154);
    assert_eq!(p.ip_proto, ip_proto::TCP);
    let Transport::Tcp(t) = p.transport else {
        panic!("not tcp: {:?}", p.transport)
    };
    assert_eq!(
        (t.src_port, t.dst_port, t.flags, t.window),
        (65174, 80, 0x02, 8192)
    );
    assert!(p.payload.is_empty());
    assert!(!p.truncated);
    assert_eq!(
        shard_addresses(&f.frame()),
        Some((ip("10.16.27.12"), ip("10.16.27.131")))
    );
}

#[test]
fn geneve_tcp_syn_with_options() {
    // tcpdump/tests/geneve.pcap frame 3: outer 20.0.0.2>20.0.0.1 udp
    // 43443>6081 geneve vni 0x00000b; inner 30.0.0.2>30.0.0.1 ttl 64 tcp
    // 51225>22 seq_raw 397610159 flags 0x002 win 14600, options
    // 020405b40402080aab6d56be0000000001030307.
    let Some(f) = frame("tcpdump/tests/geneve.pcap", 3) else {
        return;
    };
    let mut d = Decoder::new(DecodeConfig::default());
    let p = d.decode(&f.frame());
    let p = p.expect("packet");
    assert_eq!(p.tunnel.len(), 1);
    assert_eq!(p.tunnel[0].kind, TunnelKind::Geneve);
    assert_eq!(p.tunnel[0].id, Some(0x0b));
    assert_eq!(p.tunnel[0].outer_src, ip("20.0.0.2"));
    assert_eq!((p.src, p.dst), (ip("30.0.0.2"), ip("30.0.0.1")));
    let Transport::Tcp(t) = p.transport else {
        panic!("not tcp")
    };
    assert_eq!(
        (t.src_port, t.dst_port, t.seq, t.ack),
        (51225, 22, 397610159, 0)
    );
    assert_eq!((t.flags, t.window), (tcp_flags::SYN, 14600));
    assert_eq!(
        t.options,
        &[
            0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0xab, 0x6d, 0x56, 0xbe, 0, 0, 0, 0,
            0x01, 0x03, 0x03, 0x07
        ]
    );
}

#[test]
fn vxlan_icmp_and_inner_arp() {
    // tcpdump/tests/vxlan.pcap frame 1: outer 192.168.203.1>192.168.202.1 udp
    // 45149>4789 vni 100; inner 192.168.203.3>192.168.203.5 ttl 64 icmp 8/0.
    // Frame 2: vxlan carrying ARP.
    let Some(root) = corpus() else { return };
    let frames = read_capture(&root.join("tcpdump/tests/vxlan.pcap"));
    let mut d = Decoder::new(DecodeConfig::default());
    {
        let p = d.decode(&frames[0].frame()).expect("packet");
        assert_eq!(p.tunnel[0].kind, TunnelKind::Vxlan);
        assert_eq!(p.tunnel[0].id, Some(100));
        assert_eq!(p.tunnel[0].outer_src, ip("192.168.203.1"));
        assert_eq!((p.src, p.dst), (ip("192.168.203.3"), ip("192.168.203.5")));
        assert_eq!(
            p.transport,
            Transport::Icmp {
                icmp_type: 8,
                code: 0
            }
        );
        assert_eq!(p.ip_proto, ip_proto::ICMP);
    }
    assert!(d.decode(&frames[1].frame()).is_none());
    assert_eq!(d.counters.non_ip, 1);
    assert!(d.counters.errors.is_empty(), "{:?}", d.counters.errors);
}

#[test]
fn qinq_arp_is_non_ip() {
    // tcpdump/tests/802.1ad_QinQ.pcap: eth:ieee8021ad:vlan:arp, both frames.
    let Some(root) = corpus() else { return };
    let frames = read_capture(&root.join("tcpdump/tests/802.1ad_QinQ.pcap"));
    assert_eq!(frames.len(), 2);
    let mut d = Decoder::new(DecodeConfig::default());
    for f in &frames {
        assert!(d.decode(&f.frame()).is_none());
        assert_eq!(shard_addresses(&f.frame()), None);
    }
    assert_eq!(d.counters.non_ip, 2);
    assert!(d.counters.errors.is_empty());
}

#[test]
fn three_vlan_tags_keep_the_outer_two() {
    // zeek/traces/vlan-qinqinq.pcap frame 1: vlan.id 30,20,10;
    // 141.142.228.5>192.150.187.43 tcp 59856>80 ttl 64.
    let Some(f) = frame("zeek/traces/vlan-qinqinq.pcap", 1) else {
        return;
    };
    let mut d = Decoder::new(DecodeConfig::default());
    let p = d.decode(&f.frame());
    let p = p.expect("packet");
    assert_eq!(p.vlan, [30, 20]);
    assert_eq!((p.src, p.dst), (ip("141.142.228.5"), ip("192.150.187.43")));
    assert!(p.tunnel.is_empty());
}

#[test]
fn mpls_in_vlan() {
    // zeek/traces/mpls-in-vlan.pcap frame 3: vlan 3399, mpls,
    // 65.65.65.65>65.65.65.65 ttl 61 tcp 61193>80.
    let Some(f) = frame("zeek/traces/mpls-in-vlan.pcap", 3) else {
        return;
    };
    let mut d = Decoder::new(DecodeConfig::default());
    let p = d.decode(&f.frame());
    let p = p.expect("packet");
    assert_eq!(p.vlan, [3399, 0]);
    assert_eq!(p.ttl, 61);
    let Transport::Tcp(t) = p.transport else {
        panic!("not tcp")
    };
    assert_eq!((t.src_port, t.dst_port), (61193, 80));
}

#[test]
fn pppoe_in_two_vlans() {
    // ndpi/pcap/dns.pcap frame 4: vlan 421,785, pppoes, ppp,
    // 82.178.113.245>82.178.158.181 ttl 64 udp 47255>53 length 41.
    let Some(f) = frame("ndpi/pcap/dns.pcap", 4) else {
        return;
    };
    let mut d = Decoder::new(DecodeConfig::default());
    let p = d.decode(&f.frame());
    let p = p.expect("packet");
    assert_eq!(p.vlan, [421, 785]);
    assert_eq!((p.src, p.dst), (ip("82.178.113.245"), ip("82.178.158.181")));
    assert_eq!(
        p.transport,
        Transport::Udp {
            src_port: 47255,
            dst_port: 53
        }
    );
    assert_eq!(p.payload.len(), 41 - 8);
}

#[test]
fn gtp_u_in_two_vlans() {
    // ndpi/pcap/dtls.pcap frame 3: vlan 3243,10; outer 10.116.8.57>
    // 10.238.250.51 udp 2152>2152 gtp teid 0x0e2c1dc7; inner
    // 10.191.227.13>157.240.16.128 ttl 64 udp 54162>3478 length 204.
    let Some(f) = frame("ndpi/pcap/dtls.pcap", 3) else {
        return;
    };
    let mut d = Decoder::new(DecodeConfig::default());
    let p = d.decode(&f.frame());
    let p = p.expect("packet");
    assert_eq!(p.vlan, [3243, 10]);
    assert_eq!(p.tunnel.len(), 1);
    assert_eq!(p.tunnel[0].kind, TunnelKind::GtpU);
    assert_eq!(p.tunnel[0].id, Some(0x0e2c1dc7));
    assert_eq!(p.tunnel[0].outer_dst, ip("10.238.250.51"));
    assert_eq!((p.src, p.dst), (ip("10.191.227.13"), ip("157.240.16.128")));
    assert_eq!(
        p.transport,
        Transport::Udp {
            src_port: 54162,
            dst_port: 3478
        }
    );
    assert_eq!(p.payload.len(), 204 - 8);
}

#[test]
fn gre_ipv4_icmp() {
    // suricata-verify bug-5633-gre-02 gre-sample.pcap frame 1: outer
    // 172.27.1.66>66.59.109.137 ttl 255 gre (no key); inner
    // 66.59.111.190>172.28.2.3 ttl 64 icmp 8/0.
    let Some(f) = frame("suricata-verify/tests/bug-5633-gre-02/gre-sample.pcap", 1) else {
        return;
    };
    let mut d = Decoder::new(DecodeConfig::default());
    let p = d.decode(&f.frame());
    let p = p.expect("packet");
    assert_eq!(p.tunnel.len(), 1);
    assert_eq!(p.tunnel[0].kind, TunnelKind::Gre);
    assert_eq!(p.tunnel[0].id, None);
    assert_eq!(p.tunnel[0].outer_src, ip("172.27.1.66"));
    assert_eq!((p.src, p.dst), (ip("66.59.111.190"), ip("172.28.2.3")));
    assert_eq!(p.ttl, 64);
    assert_eq!(
        p.transport,
        Transport::Icmp {
            icmp_type: 8,
            code: 0
        }
    );
}

#[test]
fn ipv6_routing_header_udp() {
    // tcpdump/tests/ipv6-routing-header.pcap frame 3: 2200::244:212:3fff:feae:22f7
    // > 2200::240:2:0:0:4, hop limit 4, routing header, udp 5645>5642 length 8.
    let Some(f) = frame("tcpdump/tests/ipv6-routing-header.pcap", 3) else {
        return;
    };
    let mut d = Decoder::new(DecodeConfig::default());
    let p = d.decode(&f.frame());
    let p = p.expect("packet");
    assert_eq!(p.src, ip("2200::244:212:3fff:feae:22f7"));
    assert_eq!(p.dst, ip("2200::240:2:0:0:4"));
    assert_eq!(p.ttl, 4);
    assert_eq!(p.ip_proto, ip_proto::UDP);
    assert_eq!(
        p.transport,
        Transport::Udp {
            src_port: 5645,
            dst_port: 5642
        }
    );
    assert!(p.payload.is_empty());
}

#[test]
fn linux_sll_null_and_raw_links() {
    // tcpdump/tests/mptcp-v1.pcap (linux-sll) frame 1: 10.0.1.1>10.0.2.1 tcp 33306>10004.
    // tcpdump/tests/ikev2four.pcap (null, family 2) frame 1: 192.168.1.2>192.168.1.1 udp 500>500.
    // foxio-ja4/pcap/ipv6.pcapng (null, family 30) frame 1:
    //   2001:4998:ef83:14:8000::100d>2606:4700::6811:d209 hlim 64 tcp 64034>443.
    // tcpdump/tests/gquic.pcap (raw) frame 1: 10.7.0.3>216.58.195.67 udp 38824>443.
    let cases: [(&str, &str, &str); 4] = [
        ("tcpdump/tests/mptcp-v1.pcap", "10.0.1.1", "10.0.2.1"),
        ("tcpdump/tests/ikev2four.pcap", "192.168.1.2", "192.168.1.1"),
        (
            "foxio-ja4/pcap/ipv6.pcapng",
            "2001:4998:ef83:14:8000::100d",
            "2606:4700::6811:d209",
        ),
        ("tcpdump/tests/gquic.pcap", "10.7.0.3", "216.58.195.67"),
    ];
    for (file, src, dst) in cases {
        let Some(f) = frame(file, 1) else { return };
        let mut d = Decoder::new(DecodeConfig::default());
        let p = d.decode(&f.frame());
        let p = p.unwrap_or_else(|| panic!("{file}: no packet"));
        assert_eq!((p.src, p.dst), (ip(src), ip(dst)), "{file}");
    }
    // The NULL header is in the writer's byte order: the same frame with the
    // family written big-endian decodes too, and as LOOP (always big-endian).
    let Some(mut f) = frame("tcpdump/tests/ikev2four.pcap", 1) else {
        return;
    };
    f.data[..4].reverse();
    assert_eq!(f.data[..4], [0, 0, 0, 2]);
    for link in [LinkType::Null, LinkType::Loop] {
        f.link = link;
        let mut d = Decoder::new(DecodeConfig::default());
        let p = d.decode(&f.frame());
        assert_eq!(p.expect("packet").src, ip("192.168.1.2"));
    }
}

/// ipsec_client.pcap frames 3, 4, 5: one UDP datagram (ip.id 0x1b1e) in
/// three fragments, tshark: 192.168.0.10>144.76.154.114 ttl 128, offsets
/// 0, 180, 360 (8-byte units), reassembled udp 4500>4500 length 3480.
fn ike_fragments() -> Option<Vec<Owned>> {
    let root = corpus()?;
    let frames = read_capture(&root.join("zeek-spicy-ipsec/traces/ipsec_client.pcap"));
    Some(frames.into_iter().skip(2).take(3).collect())
}

fn check_ike_datagram(p: &Packet<'_>, frames: u32) {
    assert!(p.reassembled);
    assert_eq!(p.frames, frames);
    assert_eq!((p.src, p.dst), (ip("192.168.0.10"), ip("144.76.154.114")));
    assert_eq!(p.ttl, 128);
    assert_eq!(
        p.transport,
        Transport::Udp {
            src_port: 4500,
            dst_port: 4500
        }
    );
    assert_eq!(p.payload.len(), 3480 - 8);
    // tshark's reassembled data (`-e ip.fragments`... `-x`) begins
    // 1194 1194 0d98 be53 (the UDP header) 00000000 (non-ESP marker)
    // 238671c8 0375a0fb (initiator SPI).
    assert_eq!(
        p.payload[..12],
        [0, 0, 0, 0, 0x23, 0x86, 0x71, 0xc8, 0x03, 0x75, 0xa0, 0xfb]
    );
    assert!(!p.truncated);
}

#[test]
fn fragments_in_order_and_reversed() {
    let Some(frags) = ike_fragments() else { return };
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let mut d = Decoder::new(DecodeConfig::default());
        assert!(d.decode(&frags[order[0]].frame()).is_none());
        assert!(d.decode(&frags[order[1]].frame()).is_none());
        assert_eq!(d.counters.fragments_held, 2);
        let p = d.decode(&frags[order[2]].frame()).expect("reassembled");
        check_ike_datagram(&p, 3);
        assert_eq!(d.counters.packets, 1);
        assert!(d.counters.errors.is_empty(), "{:?}", d.counters.errors);
    }
    // Every fragment shards like its datagram.
    let pair = Some((ip("192.168.0.10"), ip("144.76.154.114")));
    for f in &frags {
        assert_eq!(shard_addresses(&f.frame()), pair);
    }
}

#[test]
fn fragment_duplicates_and_overlap_first_wins() {
    let Some(frags) = ike_fragments() else { return };
    // A duplicate of the middle fragment is absorbed (4 frames on the wire).
    let mut d = Decoder::new(DecodeConfig::default());
    for i in [0, 1, 1] {
        assert!(d.decode(&frags[i].frame()).is_none());
    }
    let p = d.decode(&frags[2].frame()).expect("reassembled");
    check_ike_datagram(&p, 4);
    assert!(d.counters.errors.is_empty());

    // An overlapping copy of the middle fragment with altered bytes, sent
    // first: its data wins where it overlaps, the conflict is counted.
    let mut evil = Owned {
        data: frags[1].data.clone(),
        ..(frags[1])
    };
    let last = evil.data.len() - 1;
    evil.data[last] ^= 0xff;
    let mut d = Decoder::new(DecodeConfig::default());
    assert!(d.decode(&evil.frame()).is_none());
    for i in [0, 1] {
        assert!(d.decode(&frags[i].frame()).is_none());
    }
    {
        let p = d.decode(&frags[2].frame()).expect("reassembled");
        // Byte 1440*2 - 1 of the IP payload (UDP header included) is the
        // altered one: first data won.
        let at = 2 * 1440 - 1 - 8;
        assert_eq!(p.payload[at], frags[1].data[last] ^ 0xff);
    }
    assert_eq!(
        d.counters
            .errors
            .get(&(Layer::Fragment, "overlap conflict")),
        Some(&1)
    );
}

#[test]
fn fragment_limits_timeout_and_count() {
    let Some(frags) = ike_fragments() else { return };
    // Timeout on the capture clock: the first fragment expires when a frame
    // arrives more than the timeout later.
    let cfg = DecodeConfig {
        fragment_timeout_ns: 1_000,
        ..DecodeConfig::default()
    };
    let mut d = Decoder::new(cfg);
    assert!(d.decode(&frags[0].frame()).is_none());
    let mut late = Owned {
        data: frags[1].data.clone(),
        ..(frags[1])
    };
    late.ts = frags[0].ts.add_nanos(10_000);
    assert!(d.decode(&late.frame()).is_none());
    assert_eq!(
        d.counters.errors.get(&(Layer::Fragment, "timeout")),
        Some(&1)
    );

    // One datagram at a time: a second datagram (another ip.id, frames 6-8)
    // evicts the first.
    let Some(root) = corpus() else { return };
    let all = read_capture(&root.join("zeek-spicy-ipsec/traces/ipsec_client.pcap"));
    let cfg = DecodeConfig {
        max_fragment_datagrams: 1,
        ..DecodeConfig::default()
    };
    let mut d = Decoder::new(cfg);
    assert!(d.decode(&all[2].frame()).is_none());
    assert!(d.decode(&all[5].frame()).is_none());
    assert_eq!(
        d.counters
            .errors
            .get(&(Layer::Fragment, "datagram evicted")),
        Some(&1)
    );
    assert!(d.decode(&all[6].frame()).is_none());
    assert!(d.decode(&all[7].frame()).is_some());

    // Memcap smaller than one datagram: refused, nothing held.
    let cfg = DecodeConfig {
        fragment_memcap: 2000,
        ..DecodeConfig::default()
    };
    let mut d = Decoder::new(cfg);
    assert!(d.decode(&frags[0].frame()).is_none());
    assert!(d.decode(&frags[1].frame()).is_none());
    assert_eq!(
        d.counters.errors.get(&(Layer::Fragment, "memcap")),
        Some(&1)
    );
}

#[test]
fn fragment_final_length_over_65535_refused() {
    let Some(frags) = ike_fragments() else { return };
    // The last fragment moved to offset 8190*8: its end passes 65535.
    let mut far = Owned {
        data: frags[2].data.clone(),
        ..(frags[2])
    };
    let ip_off = 14 + 6;
    far.data[ip_off..ip_off + 2].copy_from_slice(&8190u16.to_be_bytes());
    let mut d = Decoder::new(DecodeConfig::default());
    assert!(d.decode(&far.frame()).is_none());
    assert_eq!(
        d.counters
            .errors
            .get(&(Layer::Fragment, "datagram too long")),
        Some(&1)
    );
}

/// Every capture file under `root`, at any depth.
fn capture_files(root: PathBuf) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// The general walk's packet for a frame (no reassembly), and its walk.
fn walked<'a>(fr: &Frame<'a>, w: &mut Walk) -> Option<Packet<'a>> {
    let meta = ip::FrameMeta {
        ts: fr.ts,
        wire_len: fr.orig_len,
    };
    match link::walk_frame(fr.link, fr.data, w) {
        L3::Ip(b) => match ip::walk_ip(b, w, meta) {
            Outcome::Packet(p) => Some(p),
            _ => None,
        },
        _ => None,
    }
}

/// Field by field: `Packet` has no `PartialEq` (it would compare payloads
/// by value anyway; here the payload must be the very same bytes).
fn assert_same_packet(fast: &Packet<'_>, slow: &Packet<'_>, what: &str) {
    assert_eq!(fast.ts, slow.ts, "{what}: ts");
    assert_eq!(fast.wire_len, slow.wire_len, "{what}: wire_len");
    assert_eq!(fast.vlan, slow.vlan, "{what}: vlan");
    assert_eq!(fast.tunnel, slow.tunnel, "{what}: tunnel");
    assert_eq!(fast.src, slow.src, "{what}: src");
    assert_eq!(fast.dst, slow.dst, "{what}: dst");
    assert_eq!(fast.ip_proto, slow.ip_proto, "{what}: ip_proto");
    assert_eq!(fast.ttl, slow.ttl, "{what}: ttl");
    assert_eq!(fast.transport, slow.transport, "{what}: transport");
    if let (Transport::Tcp(a), Transport::Tcp(b)) = (&fast.transport, &slow.transport) {
        assert_eq!(a.options.as_ptr(), b.options.as_ptr(), "{what}: options");
    }
    assert_eq!(
        fast.payload.as_ptr(),
        slow.payload.as_ptr(),
        "{what}: payload"
    );
    assert_eq!(fast.payload.len(), slow.payload.len(), "{what}: payload");
    assert_eq!(fast.truncated, slow.truncated, "{what}: truncated");
    assert_eq!(fast.reassembled, slow.reassembled, "{what}: reassembled");
    assert_eq!(fast.frames, slow.frames, "{what}: frames");
}

/// Wherever the fast path gives a packet, it is the general walk's packet,
/// with the same walk notes; checked on every corpus frame and on every
/// prefix of the first frames of each file (lengths that disagree with the
/// IP header). The fast path must also take most frames, or it is useless.
#[test]
fn fast_path_matches_walk() {
    let Some(root) = corpus() else { return };
    let (mut total, mut fast_taken) = (0u64, 0u64);
    for path in &capture_files(root) {
        for (i, f) in read_capture(path).iter().enumerate() {
            let full = f.frame();
            let cuts = if i < 5 { f.data.len() } else { 0 };
            for cut in (0..cuts).chain([f.data.len()]) {
                let fr = Frame {
                    data: &f.data[..cut],
                    ..full
                };
                let whole = cut == f.data.len();
                total += u64::from(whole);
                let meta = ip::FrameMeta {
                    ts: fr.ts,
                    wire_len: fr.orig_len,
                };
                let (mut wf, mut ws) = (Walk::default(), Walk::default());
                let Some(p) = fast::decode(&fr, &mut wf, meta) else {
                    continue;
                };
                fast_taken += u64::from(whole);
                let what = format!("{} frame {} cut {cut}", path.display(), i + 1);
                let slow = walked(&fr, &mut ws).unwrap_or_else(|| panic!("{what}: no packet"));
                assert_same_packet(&p, &slow, &what);
                assert_eq!(wf.note, ws.note, "{what}: note");
                assert_eq!(wf.vlan, ws.vlan, "{what}: walk vlan");
            }
        }
    }
    eprintln!("{fast_taken} of {total} whole frames took the fast path");
    assert!(fast_taken > total / 4, "{fast_taken} of {total}");
}

/// Every frame of every corpus capture decodes without panic, and so does
/// every prefix of the first frames (hostile truncation).
#[test]
fn whole_corpus_decodes_without_panic() {
    let Some(root) = corpus() else { return };
    let files = capture_files(root);
    let mut d = Decoder::new(DecodeConfig::default());
    let mut total = 0u64;
    for path in &files {
        for (i, f) in read_capture(path).iter().enumerate() {
            total += 1;
            let fr = f.frame();
            let shard = shard_addresses(&fr);
            if let Some(p) = d.decode(&fr) {
                if !p.reassembled {
                    let mut pair = [p.src, p.dst];
                    pair.sort();
                    let mut s = shard.map(|(a, b)| [a, b]).unwrap();
                    s.sort();
                    assert_eq!(pair, s, "{} frame {}", path.display(), i + 1);
                }
            }
            if i < 3 {
                for cut in 0..f.data.len().min(256) {
                    let short = Frame {
                        data: &f.data[..cut],
                        ..fr
                    };
                    let _ = shard_addresses(&short);
                    let _ = d.decode(&short);
                }
            }
        }
    }
    let c = &d.counters;
    eprintln!(
        "{} files, {total} frames: {} packets, {} non-ip, {} held, errors {:?}",
        files.len(),
        c.packets,
        c.non_ip,
        c.fragments_held,
        c.errors
    );
    assert!(total > 10_000);
}

/// testdata/frag-netns.pcap (made by testdata/make-frag-pcap.sh: the kernel
/// fragmenting a 3000-byte UDP datagram over a 1500-MTU veth). tshark:
/// frames 4-6 10.99.0.1>10.99.0.2 ttl 64 udp 51461>5555 length 3008,
/// 3 fragments; frames 9-11 fd00:99::1>fd00:99::2 hlim 64 udp 48585>6666
/// length 3008, 3 fragments (offsets 0, 1448, ...). The payload bytes are
/// the script's: byte i is i % 251 (IPv4) and i % 241 (IPv6).
fn netns_frames() -> Vec<Owned> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/decode/testdata/frag-netns.pcap");
    read_capture(&p)
}

#[test]
fn kernel_fragmented_ipv4_and_ipv6_udp() {
    let frames = netns_frames();
    assert_eq!(frames.len(), 16);
    let cases = [
        ([3, 4, 5], "10.99.0.1", "10.99.0.2", (51461, 5555), 251usize),
        (
            [8, 9, 10],
            "fd00:99::1",
            "fd00:99::2",
            (48585, 6666),
            241usize,
        ),
    ];
    for (idx, src, dst, (sp, dp), modulo) in cases {
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let mut d = Decoder::new(DecodeConfig::default());
            for &i in &order[..2] {
                let f = frames[idx[i]].frame();
                assert_eq!(shard_addresses(&f), Some((ip(src), ip(dst))));
                assert!(d.decode(&f).is_none());
            }
            let p = d
                .decode(&frames[idx[order[2]]].frame())
                .expect("reassembled");
            assert!(p.reassembled);
            assert_eq!(p.frames, 3);
            assert_eq!((p.src, p.dst, p.ttl), (ip(src), ip(dst), 64));
            assert_eq!(p.ip_proto, ip_proto::UDP);
            assert_eq!(
                p.transport,
                Transport::Udp {
                    src_port: sp,
                    dst_port: dp
                }
            );
            assert_eq!(p.payload.len(), 3000);
            assert!(p
                .payload
                .iter()
                .enumerate()
                .all(|(i, &b)| b as usize == i % modulo));
            assert!(!p.truncated);
        }
    }
}

#[test]
fn icmpv6_error_quoting_a_fragment_is_plain_icmp() {
    // Frame 12: fd00:99::2>fd00:99::1 ICMPv6 1 (destination unreachable)
    // code 4 (port unreachable), quoting the first fragment.
    let frames = netns_frames();
    let mut d = Decoder::new(DecodeConfig::default());
    let p = d.decode(&frames[11].frame()).expect("packet");
    assert_eq!((p.src, p.dst), (ip("fd00:99::2"), ip("fd00:99::1")));
    assert_eq!(
        p.transport,
        Transport::Icmp {
            icmp_type: 1,
            code: 4
        }
    );
    assert!(p.tunnel.is_empty());
}

#[test]
fn tunnel_depth_is_bounded() {
    // IP-in-IP chains built from frame 6's real IPv4 header (RFC 2003:
    // protocol 4, total length covering the inner packet, offset cleared).
    let frames = netns_frames();
    let f = &frames[5];
    let hdr: Vec<u8> = f.data[14..34].to_vec();
    let inner: Vec<u8> = f.data[14..].to_vec();
    let build = |depth: usize| {
        let mut pkt = inner.clone();
        pkt[6] = 0; // no fragment offset: a whole datagram
        pkt[7] = 0;
        for _ in 0..depth {
            let mut outer = hdr.clone();
            outer[6] = 0;
            outer[7] = 0;
            outer[9] = ip_proto::IPIP;
            let total = (outer.len() + pkt.len()) as u16;
            outer[2..4].copy_from_slice(&total.to_be_bytes());
            outer.extend_from_slice(&pkt);
            pkt = outer;
        }
        pkt
    };
    for depth in [MAX_TUNNEL_DEPTH, MAX_TUNNEL_DEPTH + 1] {
        let data = build(depth);
        let fr = Frame {
            ts: Timestamp::ZERO,
            link: LinkType::Raw,
            orig_len: data.len() as u32,
            interface: 0,
            data: &data,
        };
        let mut d = Decoder::new(DecodeConfig::default());
        let got = d.decode(&fr).map(|p| p.tunnel.len());
        if depth <= MAX_TUNNEL_DEPTH {
            assert_eq!(got, Some(depth));
        } else {
            assert_eq!(got, None);
            assert_eq!(
                d.counters.errors.get(&(Layer::Tunnel, "too deep")),
                Some(&1)
            );
        }
    }
}

#[test]
fn ppp_link_type() {
    // zeek/traces/quic/interop/quic-go_quic-go/handshake.pcap is LINKTYPE_PPP
    // without address/control bytes. tshark: frame 1 is IPv6 :: >
    // ff02::1:ff00:4, hop limit 255, ICMPv6 type 135 (neighbour solicitation).
    let Some(f) = frame("zeek/traces/quic/interop/quic-go_quic-go/handshake.pcap", 1) else {
        return;
    };
    assert_eq!(f.frame().link, LinkType::Ppp);
    let mut d = Decoder::new(DecodeConfig::default());
    let p = d.decode(&f.frame()).expect("packet");
    assert_eq!((p.src, p.dst), (ip("::"), ip("ff02::1:ff00:4")));
    assert_eq!((p.ip_proto, p.ttl), (ip_proto::ICMPV6, 255));
    assert_eq!(
        p.transport,
        Transport::Icmp {
            icmp_type: 135,
            code: 0
        }
    );
    let addrs = (p.src, p.dst);
    // The same frame with RFC 1662 address and control bytes in front.
    let mut framed = vec![0xff, 0x03];
    framed.extend_from_slice(f.frame().data);
    let g = Frame {
        data: &framed,
        ..f.frame()
    };
    let q = d.decode(&g).expect("packet");
    assert_eq!((q.src, q.dst), addrs);
    // LCP (0xc021) is PPP control traffic, not an error.
    let lcp = [0xc0, 0x21, 0x01, 0x01, 0x00, 0x04];
    let h = Frame {
        data: &lcp,
        ..f.frame()
    };
    assert!(d.decode(&h).is_none());
    assert_eq!(d.counters.non_ip, 1);
    assert!(d.counters.errors.is_empty());
}
