//! SOCKS proxies (SOCKS4/4a and SOCKS5, RFC 1928 with RFC 1929's
//! user name/password), and what they carry: a flow through a proxy is the
//! classic way to hide where a session really comes from.
//!
//! Both directions are parsed from their first byte whenever they grow
//! (the negotiation is a few dozen bytes). Once the proxy granted the
//! request, the tunnelled bytes start at a known offset in each direction;
//! when they are TLS, [`TlsStream::starting_at`] fingerprints the
//! ClientHello inside.

use serde::Serialize;

use crate::capture::Timestamp;
use crate::flow::Direction;
use crate::proto::app::{wire_text, AppSummary, FlowCx, Probe, Progress};
use crate::proto::tls::stream::TlsStream;

const LAYER: &str = "socks";
/// Longest user name or host name kept (both are at most 255 bytes on the
/// wire in SOCKS5).
const MAX_NAME: usize = 255;

/// RFC 1928 §3-§6 and the SOCKS4 protocol note's code points.
mod code {
    pub const V4: u8 = 4;
    pub const V5: u8 = 5;
    /// RFC 1928 §3: methods.
    pub const METHOD_USERPASS: u8 = 0x02;
    pub const METHOD_NONE_ACCEPTABLE: u8 = 0xff;
    /// RFC 1928 §5: address types.
    pub const ATYP_IPV4: u8 = 0x01;
    pub const ATYP_DOMAIN: u8 = 0x03;
    pub const ATYP_IPV6: u8 = 0x04;
    /// SOCKS4 reply: request granted.
    pub const V4_GRANTED: u8 = 90;
}

/// What a SOCKS negotiation showed (the `socks` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SocksRecord {
    /// 4 or 5.
    pub version: u8,
    /// `"connect"`, `"bind"`, `"udp_associate"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<&'static str>,
    /// The requested destination, `host:port` (`[v6]:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// RFC 1929 user name, or SOCKS4's USERID (never the password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The proxy's reply code (RFC 1928 §6 REP; SOCKS4 CD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<u8>,
    /// The proxy granted the request.
    pub granted: bool,
}

/// A client that opens with a SOCKS4 request or a SOCKS5 greeting.
pub fn probe(_cx: &FlowCx, dir: Direction, b: &[u8]) -> Probe {
    if dir == Direction::ToClient {
        return Probe::NoMatch;
    }
    match b {
        [] => Probe::NeedMore,
        // RFC 1928 §3: VER, NMETHODS (>= 1), then exactly that many methods:
        // a greeting is the client's whole first message.
        [code::V5] => Probe::NeedMore,
        [code::V5, n, rest @ ..] if *n >= 1 && rest.len() <= usize::from(*n) => {
            if rest.len() == usize::from(*n) {
                Probe::Match
            } else {
                Probe::NeedMore
            }
        }
        // SOCKS4: VN 4, CD 1 or 2, port, IPv4, USERID, NUL.
        [code::V4] => Probe::NeedMore,
        [code::V4, 1 | 2, rest @ ..] => match rest.get(6..) {
            None => Probe::NeedMore,
            Some(user) if user.contains(&0) => Probe::Match,
            Some(user) if user.len() < MAX_NAME => Probe::NeedMore,
            Some(_) => Probe::NoMatch,
        },
        _ => Probe::NoMatch,
    }
}

/// Where each side's negotiation ends, once both are complete.
struct Parsed {
    record: SocksRecord,
    /// Offsets of the tunnelled bytes (to_server, to_client), when granted.
    payload_at: Option<(usize, usize)>,
}

/// Outcome of parsing a prefix: wait, give up, or done.
enum Step<T> {
    More,
    Bad(&'static str),
    Done(T),
}

/// One flow's SOCKS state.
#[derive(Debug, Default)]
pub struct SocksStream {
    prefixes_done: bool,
    inner: Option<TlsStream>,
    offsets: (usize, usize),
}

impl SocksStream {
    pub fn new() -> SocksStream {
        SocksStream::default()
    }

    /// The TLS this SOCKS tunnel carries, once it started (the dispatcher
    /// forwards per-packet timing to it, for `app_rtt`).
    pub fn inner_tls(&mut self) -> Option<&mut TlsStream> {
        self.inner.as_mut()
    }

    /// Feed the whole contiguous prefix of `dir`; `other` is the other
    /// direction's (the negotiation needs both).
    pub fn on_stream(
        &mut self,
        dir: Direction,
        prefix: &[u8],
        other: &[u8],
        ts: Timestamp,
        summary: &mut AppSummary,
    ) -> Progress {
        if let Some(tls) = self.inner.as_mut() {
            return tls.on_stream(dir, prefix, ts, summary);
        }
        if self.prefixes_done {
            return Progress::Done;
        }
        let (client, server) = match dir {
            Direction::ToServer => (prefix, other),
            Direction::ToClient => (other, prefix),
        };
        match parse(client, server) {
            Step::More => Progress::NeedMore,
            Step::Bad(what) => {
                summary
                    .anomalies
                    .push(LAYER, "malformed_negotiation", Some(dir), Some(what), ts);
                self.prefixes_done = true;
                Progress::Done
            }
            Step::Done(p) => {
                self.prefixes_done = true;
                let granted = p.payload_at;
                summary.socks = Some(p.record);
                let Some((c, s)) = granted else {
                    return Progress::Done;
                };
                // Whatever the tunnel carries, TLS is the one we read.
                if client.get(c) == Some(&0x16) || client.len() == c {
                    self.offsets = (c, s);
                    let tls = self.inner.insert(TlsStream::starting_at(c, s));
                    tls.on_stream(dir, prefix, ts, summary)
                } else {
                    Progress::Done
                }
            }
        }
    }

    /// The tunnelled bytes start here, per direction (0s before the
    /// negotiation completed).
    pub fn offsets(&self) -> (usize, usize) {
        self.offsets
    }
}

fn parse(client: &[u8], server: &[u8]) -> Step<Parsed> {
    match client.first() {
        Some(&code::V5) => parse_v5(client, server),
        Some(&code::V4) => parse_v4(client, server),
        Some(_) => Step::Bad("version"),
        None => Step::More,
    }
}

/// SOCKS4/4a: request `VN CD DSTPORT DSTIP USERID NUL [HOST NUL]`, reply
/// `VN(0) CD DSTPORT DSTIP` (8 bytes).
fn parse_v4(client: &[u8], server: &[u8]) -> Step<Parsed> {
    let Some(&[_, cd, p0, p1, a, b, c, d]) = client.get(..8) else {
        return Step::More;
    };
    let Some(user_len) = client.get(8..).and_then(|r| r.iter().position(|&x| x == 0)) else {
        return Step::More;
    };
    let user = client.get(8..8 + user_len).unwrap_or(&[]);
    let mut end = 8 + user_len + 1;
    let port = u16::from_be_bytes([p0, p1]);
    // SOCKS4a: 0.0.0.x (x != 0) means a host name follows.
    let target = if a == 0 && b == 0 && c == 0 && d != 0 {
        let Some(host_len) = client
            .get(end..)
            .and_then(|r| r.iter().position(|&x| x == 0))
        else {
            return Step::More;
        };
        let host = client.get(end..end + host_len).unwrap_or(&[]);
        end += host_len + 1;
        format!("{}:{port}", wire_text(host, MAX_NAME))
    } else {
        format!("{a}.{b}.{c}.{d}:{port}")
    };
    let Some(reply) = server.get(..8) else {
        return Step::More;
    };
    let cd_reply = reply.get(1).copied().unwrap_or(0);
    let granted = cd_reply == code::V4_GRANTED;
    Step::Done(Parsed {
        record: SocksRecord {
            version: 4,
            command: command_name(cd),
            target: Some(target),
            user: (!user.is_empty()).then(|| wire_text(user, MAX_NAME)),
            reply: Some(cd_reply),
            granted,
        },
        payload_at: granted.then_some((end, 8)),
    })
}

/// SOCKS5: greeting / method choice, optional RFC 1929 exchange, request /
/// reply (RFC 1928 §3-§6).
fn parse_v5(client: &[u8], server: &[u8]) -> Step<Parsed> {
    let Some(&n) = client.get(1) else {
        return Step::More;
    };
    let mut c = 2 + usize::from(n);
    let Some(&method) = server.get(1) else {
        return Step::More;
    };
    let mut s = 2;
    if method == code::METHOD_NONE_ACCEPTABLE {
        return Step::Done(Parsed {
            record: SocksRecord {
                version: 5,
                ..SocksRecord::default()
            },
            payload_at: None,
        });
    }
    let mut user = None;
    if method == code::METHOD_USERPASS {
        // RFC 1929 §2: VER(1) ULEN UNAME PLEN PASSWD; reply VER STATUS.
        let Some(&ulen) = client.get(c + 1) else {
            return Step::More;
        };
        let name = client.get(c + 2..c + 2 + usize::from(ulen));
        let Some(&plen) = client.get(c + 2 + usize::from(ulen)) else {
            return Step::More;
        };
        user = name.map(|n| wire_text(n, MAX_NAME));
        c += 3 + usize::from(ulen) + usize::from(plen);
        match server.get(s + 1) {
            None => return Step::More,
            Some(0) => s += 2,
            Some(_) => {
                return Step::Done(Parsed {
                    record: SocksRecord {
                        version: 5,
                        user,
                        ..SocksRecord::default()
                    },
                    payload_at: None,
                })
            }
        }
    }
    let (cmd, target, req_len) = match request(client.get(c..).unwrap_or(&[])) {
        Step::Done(x) => x,
        Step::More => return Step::More,
        Step::Bad(w) => return Step::Bad(w),
    };
    let (rep, reply_len) = match reply(server.get(s..).unwrap_or(&[])) {
        Step::Done(x) => x,
        Step::More => return Step::More,
        Step::Bad(w) => return Step::Bad(w),
    };
    let granted = rep == 0;
    Step::Done(Parsed {
        record: SocksRecord {
            version: 5,
            command: command_name(cmd),
            target: Some(target),
            user,
            reply: Some(rep),
            granted,
        },
        payload_at: granted.then_some((c + req_len, s + reply_len)),
    })
}

/// RFC 1928 §4 request: VER CMD RSV ATYP DST.ADDR DST.PORT.
fn request(b: &[u8]) -> Step<(u8, String, usize)> {
    let Some(&[ver, cmd, _, atyp]) = b.get(..4) else {
        return Step::More;
    };
    if ver != code::V5 {
        return Step::Bad("request version");
    }
    match address(atyp, b.get(4..).unwrap_or(&[])) {
        Step::Done((host, len)) => {
            let Some(&[p0, p1]) = b.get(4 + len..6 + len) else {
                return Step::More;
            };
            let port = u16::from_be_bytes([p0, p1]);
            Step::Done((cmd, format!("{host}:{port}"), 6 + len))
        }
        Step::More => Step::More,
        Step::Bad(w) => Step::Bad(w),
    }
}

/// RFC 1928 §6 reply: VER REP RSV ATYP BND.ADDR BND.PORT.
fn reply(b: &[u8]) -> Step<(u8, usize)> {
    let Some(&[ver, rep, _, atyp]) = b.get(..4) else {
        return Step::More;
    };
    if ver != code::V5 {
        return Step::Bad("reply version");
    }
    match address(atyp, b.get(4..).unwrap_or(&[])) {
        Step::Done((_, len)) if b.len() >= 6 + len => Step::Done((rep, 6 + len)),
        Step::Done(_) | Step::More => Step::More,
        Step::Bad(w) => Step::Bad(w),
    }
}

/// An address of type `atyp` at the start of `b`: its text and length.
fn address(atyp: u8, b: &[u8]) -> Step<(String, usize)> {
    match atyp {
        code::ATYP_IPV4 => match b.get(..4) {
            Some(&[a, b2, c, d]) => Step::Done((format!("{a}.{b2}.{c}.{d}"), 4)),
            _ => Step::More,
        },
        code::ATYP_IPV6 => match b.get(..16).and_then(|x| <[u8; 16]>::try_from(x).ok()) {
            Some(a) => Step::Done((format!("[{}]", std::net::Ipv6Addr::from(a)), 16)),
            None => Step::More,
        },
        code::ATYP_DOMAIN => {
            let Some(&n) = b.first() else {
                return Step::More;
            };
            match b.get(1..1 + usize::from(n)) {
                Some(name) => Step::Done((wire_text(name, MAX_NAME), 1 + usize::from(n))),
                None => Step::More,
            }
        }
        _ => Step::Bad("address type"),
    }
}

fn command_name(cmd: u8) -> Option<&'static str> {
    match cmd {
        1 => Some("connect"),
        2 => Some("bind"),
        3 => Some("udp_associate"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> FlowCx {
        FlowCx {
            src_port: 53554,
            dst_port: 1080,
            ip_proto: 6,
        }
    }

    /// A SOCKS5 exchange laid out per RFC 1928: greeting with one method
    /// (0, no authentication), the choice of it, a CONNECT to
    /// www.example.com:443 by domain name (§4, ATYP 3), a success reply
    /// (§6) bound to 10.180.156.249:1080.
    fn example() -> (Vec<u8>, Vec<u8>) {
        let mut client = vec![5, 1, 0];
        client.extend_from_slice(&[5, 1, 0, 3, 15]);
        client.extend_from_slice(b"www.example.com");
        client.extend_from_slice(&443u16.to_be_bytes());
        let mut server = vec![5, 0];
        server.extend_from_slice(&[5, 0, 0, 1, 10, 180, 156, 249, 0x04, 0x38]);
        (client, server)
    }

    #[test]
    fn socks5_connect_is_parsed() {
        let (client, server) = example();
        assert_eq!(
            probe(&cx(), Direction::ToServer, &client[..3]),
            Probe::Match
        );
        let Step::Done(p) = parse(&client, &server) else {
            panic!("not done");
        };
        assert_eq!(p.record.target.as_deref(), Some("www.example.com:443"));
        assert_eq!(p.record.command, Some("connect"));
        assert!(p.record.granted);
        assert_eq!(p.payload_at, Some((client.len(), server.len())));
    }

    #[test]
    fn socks5_waits_for_the_reply() {
        let (client, server) = example();
        assert!(matches!(parse(&client, &server[..5]), Step::More));
        assert!(matches!(parse(&client[..10], &server), Step::More));
    }

    #[test]
    fn socks4_from_the_corpus() {
        // foxio-ja4/pcap/socks-https-example.pcap, 10.180.156.185:53554 ->
        // 10.180.156.249:1080, frames 4 and 6. tshark: "Version: 4, Command:
        // Connect (1), Remote Port: 443, Remote Address: 93.184.216.119",
        // then "Connect Response" with result 90 (granted).
        let client = crate::testutil::hex("040101bb5db8d87700");
        let server = crate::testutil::hex("005a99b40ab49cf9");
        assert_eq!(probe(&cx(), Direction::ToServer, &client), Probe::Match);
        let Step::Done(p) = parse(&client, &server) else {
            panic!("not done");
        };
        assert_eq!(p.record.version, 4);
        assert_eq!(p.record.target.as_deref(), Some("93.184.216.119:443"));
        assert_eq!(p.record.user, None);
        assert_eq!(p.record.reply, Some(90));
        assert_eq!(p.payload_at, Some((9, 8)));
    }

    #[test]
    fn socks4a_with_user_and_host() {
        // SOCKS4a (protocol note "SOCKS 4A"): CONNECT to example.org:80 as
        // user "bob" with DSTIP 0.0.0.1.
        let mut client = vec![4, 1, 0, 80, 0, 0, 0, 1];
        client.extend_from_slice(b"bob\0example.org\0");
        let server = [0, 90, 0, 0, 0, 0, 0, 0];
        let Step::Done(p) = parse(&client, &server) else {
            panic!("not done");
        };
        assert_eq!(p.record.target.as_deref(), Some("example.org:80"));
        assert_eq!(p.record.user.as_deref(), Some("bob"));
        assert_eq!(p.payload_at, Some((client.len(), 8)));
    }

    #[test]
    fn not_socks() {
        assert_eq!(
            probe(&cx(), Direction::ToServer, b"GET / HTTP/1.1"),
            Probe::NoMatch
        );
        assert_eq!(probe(&cx(), Direction::ToServer, &[5, 0]), Probe::NoMatch);
        assert_eq!(probe(&cx(), Direction::ToClient, &[5, 0]), Probe::NoMatch);
        assert!(matches!(
            parse(&[5, 1, 0, 7, 1, 0, 9], &[5, 0]),
            Step::Bad(_)
        ));
    }
}
