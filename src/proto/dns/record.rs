//! The owned, capped record of a flow's DNS traffic (the `dns` object of
//! the events), and the names of types and response codes as Suricata
//! writes them.

use serde::Serialize;

use super::parser::{DnsError, Item, Message, NameBuf};
use crate::proto::app::wire_text;

/// Most distinct questions a flow keeps.
pub const MAX_QUERIES: usize = 8;
/// Most A/AAAA/CNAME answers a flow keeps.
pub const MAX_ANSWERS: usize = 16;

/// Resource-record types the record and the cache read (RFC 1035 §3.2.2,
/// RFC 3596 §2.1).
pub mod rrtype {
    pub const A: u16 = 1;
    pub const CNAME: u16 = 5;
    pub const AAAA: u16 = 28;
}

/// One question (`queries[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsQuery {
    pub rrname: String,
    pub rrtype: String,
}

/// One A/AAAA/CNAME answer (`answers[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsAnswer {
    pub rrname: String,
    pub rrtype: String,
    /// The address (A, AAAA) or the canonical name (CNAME).
    pub rdata: String,
}

/// What a flow's DNS traffic showed (the `dns` object of the events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DnsRecord {
    /// Distinct questions, first [`MAX_QUERIES`], from queries and
    /// responses alike (a response repeats its question, §4.1.2).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<DnsQuery>,
    /// A, AAAA and CNAME answers, first [`MAX_ANSWERS`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<DnsAnswer>,
    /// The response code of the first response, or of the first response
    /// that was not `NOERROR` when one came later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
}

impl DnsRecord {
    /// Add what one message shows. Stops at the first malformed item (what
    /// came before it is kept) and returns its error.
    pub fn add_message(&mut self, m: &Message<'_>) -> Result<(), DnsError> {
        if m.is_response() {
            let rc = rcode_name(m.rcode());
            let replace = match &self.rcode {
                None => true,
                Some(old) => old == "NOERROR" && rc != "NOERROR",
            };
            if replace {
                self.rcode = Some(rc.into_owned());
            }
        }
        let mut name = NameBuf::default();
        let mut rdata_name = NameBuf::default();
        for item in m.sections() {
            match item? {
                Item::Question(q) => {
                    if self.queries.len() >= MAX_QUERIES {
                        continue;
                    }
                    m.read_name(q.name_at, &mut name)?;
                    let rrname = name_text(&name);
                    let rrtype = rrtype_name(q.qtype).into_owned();
                    if !self
                        .queries
                        .iter()
                        .any(|x| x.rrname == rrname && x.rrtype == rrtype)
                    {
                        self.queries.push(DnsQuery { rrname, rrtype });
                    }
                }
                Item::Answer(rr) => {
                    if self.answers.len() >= MAX_ANSWERS {
                        continue;
                    }
                    let rdata = match rr.rtype {
                        rrtype::A | rrtype::AAAA => match address(rr.rdata) {
                            Some(a) => a.to_string(),
                            None => continue,
                        },
                        rrtype::CNAME => {
                            m.read_name(rr.rdata_at, &mut rdata_name)?;
                            name_text(&rdata_name)
                        }
                        _ => continue,
                    };
                    m.read_name(rr.name_at, &mut name)?;
                    self.answers.push(DnsAnswer {
                        rrname: name_text(&name),
                        rrtype: rrtype_name(rr.rtype).into_owned(),
                        rdata,
                    });
                }
            }
        }
        Ok(())
    }
}

/// The address in A (4 bytes, RFC 1035 §3.4.1) or AAAA (16 bytes,
/// RFC 3596 §2.2) RDATA; `None` for any other length.
pub fn address(rdata: &[u8]) -> Option<std::net::IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(rdata) {
        return Some(v4.into());
    }
    <[u8; 16]>::try_from(rdata).ok().map(Into::into)
}

/// A decoded name as text (lossy UTF-8; at most 253 bytes of labels and
/// dots, so the cap only guards the replacement characters).
pub fn name_text(n: &NameBuf) -> String {
    wire_text(n.as_bytes(), 3 * super::parser::MAX_NAME_LEN)
}

/// Suricata's name for an RR type; the decimal number for types it has no
/// name for (IANA "Resource Record (RR) TYPEs" registry).
pub fn rrtype_name(t: u16) -> std::borrow::Cow<'static, str> {
    let name = match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAPPTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => return t.to_string().into(),
    };
    name.into()
}

/// Suricata's name for a response code (RFC 1035 §4.1.1, RFC 2136 §2.2).
pub fn rcode_name(rc: u8) -> std::borrow::Cow<'static, str> {
    let name = match rc {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return rc.to_string().into(),
    };
    name.into()
}

#[cfg(test)]
mod tests {
    use super::super::parser::tests::{CMU_QUERY, CMU_RESPONSE};
    use super::*;
    use crate::testutil::hex;

    #[test]
    fn cmu_query_and_response_like_tshark() {
        let mut r = DnsRecord::default();
        let q = hex(CMU_QUERY);
        r.add_message(&Message::new(&q).unwrap()).unwrap();
        let a = hex(CMU_RESPONSE);
        r.add_message(&Message::new(&a).unwrap()).unwrap();
        assert_eq!(
            r.queries,
            [DnsQuery {
                rrname: "www.cmu.edu".into(),
                rrtype: "A".into()
            }]
        );
        let got: Vec<(&str, &str, &str)> = r
            .answers
            .iter()
            .map(|a| (a.rrname.as_str(), a.rrtype.as_str(), a.rdata.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("www.cmu.edu", "CNAME", "WWW-CMU.ANDREW.cmu.edu"),
                (
                    "WWW-CMU.ANDREW.cmu.edu",
                    "CNAME",
                    "WWW-CMU-2.ANDREW.cmu.edu"
                ),
                ("WWW-CMU-2.ANDREW.cmu.edu", "A", "128.2.10.163"),
            ]
        );
        assert_eq!(r.rcode.as_deref(), Some("NOERROR"));
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.starts_with("{\"queries\":[{\"rrname\":\"www.cmu.edu\",\"rrtype\":\"A\"}]"));
    }

    #[test]
    fn names_of_types_and_codes() {
        assert_eq!(rrtype_name(28), "AAAA");
        assert_eq!(rrtype_name(65), "HTTPS");
        assert_eq!(rrtype_name(4242), "4242");
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(15), "15");
    }
}
