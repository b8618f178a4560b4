//! The leaf certificate's subject and issuer names, read from the TLS
//! Certificate message (RFC 5246 §7.4.2; TLS 1.3 encrypts it) with a small
//! bounded DER walk (X.690 §8.1) over the X.509 structure (RFC 5280 §4.1).
//!
//! Names are written as Suricata and nDPI write them: the attributes in
//! certificate (DER) order, `TYPE=value` joined by `", "`, with the short
//! names of RFC 4514 §3 (`CN`, `O`, `OU`, `C`, `ST`, `L`...) plus
//! `Email` for PKCS #9 emailAddress. Unknown attribute types are written as
//! their dotted OID. Nothing is allocated but the two output strings.
#![deny(clippy::indexing_slicing)]

/// Longest subject or issuer string kept, in bytes.
pub const MAX_NAME_LEN: usize = 512;
/// Most attributes written per name (the rest are dropped).
const MAX_ATTRS: usize = 32;

/// DER tags (X.680 §8.4 universal class; X.690 §8.1.2).
mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const TELETEX_STRING: u8 = 0x14;
    pub const IA5_STRING: u8 = 0x16;
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[0] EXPLICIT Version` of TBSCertificate (RFC 5280 §4.1).
    pub const VERSION: u8 = 0xa0;
}

/// Why a certificate's names could not be read: `what` names the DER
/// field, `at` its offset in the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("X.509: malformed {what} at offset {at}")]
pub struct CertError {
    pub what: &'static str,
    pub at: usize,
}

/// The names of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertNames {
    pub subject: String,
    pub issuer: String,
}

/// One DER element: its tag, its contents, and where they start in the
/// walked buffer.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    /// Offset of `content` in the certificate.
    at: usize,
}

/// A cursor over a run of DER elements.
#[derive(Debug, Clone, Copy)]
struct Der<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the certificate.
    base: usize,
}

impl<'a> Der<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Der { buf, pos: 0, base }
    }

    fn inside(t: Tlv<'a>) -> Self {
        Der::new(t.content, t.at)
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn err(&self, what: &'static str) -> CertError {
        CertError {
            what,
            at: self.base + self.pos,
        }
    }

    /// The next element (X.690 §8.1.2-8.1.3: single-byte tags, definite
    /// lengths of at most 4 length bytes; DER forbids the indefinite form).
    fn next(&mut self, what: &'static str) -> Result<Tlv<'a>, CertError> {
        let rest = self.buf.get(self.pos..).ok_or(self.err(what))?;
        let (&t, rest) = rest.split_first().ok_or(self.err(what))?;
        if t & 0x1f == 0x1f {
            return Err(self.err(what));
        }
        let (&l0, mut rest) = rest.split_first().ok_or(self.err(what))?;
        let mut header = 2usize;
        let len = if l0 < 0x80 {
            usize::from(l0)
        } else {
            let n = usize::from(l0 & 0x7f);
            if n == 0 || n > 4 {
                return Err(self.err(what));
            }
            let (bytes, r) = rest.split_at_checked(n).ok_or(self.err(what))?;
            rest = r;
            header += n;
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        let content = rest.get(..len).ok_or(self.err(what))?;
        let at = self.base + self.pos + header;
        self.pos += header + len;
        Ok(Tlv {
            tag: t,
            content,
            at,
        })
    }

    /// The next element, which must carry `want`.
    fn expect(&mut self, want: u8, what: &'static str) -> Result<Tlv<'a>, CertError> {
        let start = self.err(what);
        let t = self.next(what)?;
        if t.tag != want {
            return Err(start);
        }
        Ok(t)
    }
}

/// Subject and issuer of a DER certificate (RFC 5280 §4.1:
/// `Certificate ::= SEQUENCE { tbsCertificate, ... }`, `TBSCertificate ::=
/// SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
/// validity, subject, ... }`).
pub fn names(der: &[u8]) -> Result<CertNames, CertError> {
    let cert = Der::new(der, 0).expect(tag::SEQUENCE, "Certificate")?;
    let tbs = Der::inside(cert).expect(tag::SEQUENCE, "tbsCertificate")?;
    let mut d = Der::inside(tbs);
    let mut first = d.next("version or serialNumber")?;
    if first.tag == tag::VERSION {
        first = d.next("serialNumber")?;
    }
    if first.tag != tag::INTEGER {
        return Err(CertError {
            what: "serialNumber",
            at: first.at,
        });
    }
    d.expect(tag::SEQUENCE, "signature")?;
    let issuer = d.expect(tag::SEQUENCE, "issuer")?;
    d.expect(tag::SEQUENCE, "validity")?;
    let subject = d.expect(tag::SEQUENCE, "subject")?;
    Ok(CertNames {
        subject: name_string(subject)?,
        issuer: name_string(issuer)?,
    })
}

/// `Name ::= SEQUENCE OF RelativeDistinguishedName`, `RDN ::= SET OF
/// AttributeTypeAndValue`, `ATV ::= SEQUENCE { type OID, value ANY }`
/// (RFC 5280 §4.1.2.4), written in DER order.
fn name_string(name: Tlv<'_>) -> Result<String, CertError> {
    let mut out = String::new();
    let mut n = 0usize;
    let mut rdns = Der::inside(name);
    while !rdns.is_empty() {
        let rdn = rdns.expect(tag::SET, "RelativeDistinguishedName")?;
        let mut atvs = Der::inside(rdn);
        while !atvs.is_empty() {
            let atv = atvs.expect(tag::SEQUENCE, "AttributeTypeAndValue")?;
            let mut f = Der::inside(atv);
            let oid = f.expect(tag::OID, "attribute type")?;
            let value = f.next("attribute value")?;
            n += 1;
            if n > MAX_ATTRS || out.len() >= MAX_NAME_LEN {
                continue;
            }
            if !out.is_empty() {
                out.push_str(", ");
            }
            push_type(&mut out, oid.content);
            out.push('=');
            push_value(&mut out, value);
        }
    }
    Ok(super::super::app::capped(&out, MAX_NAME_LEN))
}

/// Attribute types: id-at arcs are 2.5.4.n (X.520 §6, bytes 55 04 n);
/// PKCS #9 emailAddress (RFC 2985 §5.2.1); RFC 4519 dc and uid.
const EMAIL_ADDRESS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];
const DOMAIN_COMPONENT: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19];
const USER_ID: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01];

fn push_type(out: &mut String, oid: &[u8]) {
    let short = match oid {
        [0x55, 0x04, 3] => Some("CN"),
        [0x55, 0x04, 4] => Some("SN"),
        [0x55, 0x04, 5] => Some("serialNumber"),
        [0x55, 0x04, 6] => Some("C"),
        [0x55, 0x04, 7] => Some("L"),
        [0x55, 0x04, 8] => Some("ST"),
        [0x55, 0x04, 9] => Some("street"),
        [0x55, 0x04, 10] => Some("O"),
        [0x55, 0x04, 11] => Some("OU"),
        [0x55, 0x04, 12] => Some("title"),
        [0x55, 0x04, 42] => Some("GN"),
        o if o == EMAIL_ADDRESS => Some("Email"),
        o if o == DOMAIN_COMPONENT => Some("DC"),
        o if o == USER_ID => Some("UID"),
        _ => None,
    };
    match short {
        Some(s) => out.push_str(s),
        None => push_dotted_oid(out, oid),
    }
}

/// X.690 §8.19: the first byte holds 40*X+Y, then base-128 arcs.
fn push_dotted_oid(out: &mut String, oid: &[u8]) {
    use std::fmt::Write;
    let mut arc: u64 = 0;
    let mut first = true;
    for &b in oid.iter().take(64) {
        arc = (arc << 7) | u64::from(b & 0x7f);
        if b & 0x80 != 0 {
            if arc > u64::MAX >> 8 {
                out.push('?');
                return;
            }
            continue;
        }
        if first {
            let (x, y) = if arc < 80 {
                (arc / 40, arc % 40)
            } else {
                (2, arc - 80)
            };
            let _ = write!(out, "{x}.{y}");
            first = false;
        } else {
            let _ = write!(out, ".{arc}");
        }
        arc = 0;
    }
}

/// The value's text: the string types of X.520 DirectoryString and
/// IA5String; anything else as `#` and hex (RFC 4514 §2.4).
fn push_value(out: &mut String, v: Tlv<'_>) {
    let cap = MAX_NAME_LEN;
    match v.tag {
        tag::UTF8_STRING | tag::PRINTABLE_STRING | tag::IA5_STRING => out.push_str(
            &String::from_utf8_lossy(v.content.get(..cap).unwrap_or(v.content)),
        ),
        // T.61 in theory; in practice Latin-1 (what OpenSSL shows too).
        tag::TELETEX_STRING => out.extend(v.content.iter().take(cap).map(|&b| char::from(b))),
        tag::BMP_STRING => out.extend(
            char::decode_utf16(v.content.chunks_exact(2).take(cap).map(|c| {
                u16::from_be_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            }))
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)),
        ),
        tag::UNIVERSAL_STRING => out.extend(v.content.chunks_exact(4).take(cap).map(|c| {
            let mut b = [0u8; 4];
            b.copy_from_slice(c);
            char::from_u32(u32::from_be_bytes(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
        })),
        _ => {
            out.push('#');
            for &b in v.content.iter().take(cap / 2) {
                out.push(char::from(crate::proto::hex::nibble(b >> 4)));
                out.push(char::from(crate::proto::hex::nibble(b)));
            }
        }
    }
}

/// The leaf (first) certificate of a Certificate message body (RFC 5246
/// §7.4.2: `opaque ASN.1Cert<1..2^24-1>; struct { ASN.1Cert
/// certificate_list<0..2^24-1>; }`), given a prefix of the body: `None`
/// while the leaf is not complete in `body`, `Some(Err)` when the list is
/// empty or its lengths do not fit.
pub fn leaf_of_certificate_message(body: &[u8]) -> Option<Result<&[u8], CertError>> {
    let list_len = u24(body.get(0..3)?);
    let cert_len = u24(body.get(3..6)?);
    if list_len == 0 || cert_len == 0 || cert_len.saturating_add(3) > list_len {
        return Some(Err(CertError {
            what: "certificate_list length",
            at: 0,
        }));
    }
    body.get(6..6 + cert_len).map(Ok)
}

fn u24(b: &[u8]) -> usize {
    b.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A minimal TBSCertificate: version, serial 1, sha256WithRSA, issuer
    /// `CN=Root, O=Org`, empty validity, subject `C=DE, CN=leaf`, built by
    /// hand from RFC 5280 §4.1 so the walk is checked without the corpus.
    fn tiny_cert() -> Vec<u8> {
        fn tlv(t: u8, c: &[u8]) -> Vec<u8> {
            let mut v = vec![t, c.len() as u8];
            v.extend_from_slice(c);
            v
        }
        let atv = |oid: u8, s: &[u8]| {
            tlv(
                0x31,
                &tlv(
                    0x30,
                    &[tlv(0x06, &[0x55, 0x04, oid]), tlv(0x13, s)].concat(),
                ),
            )
        };
        let issuer = tlv(0x30, &[atv(3, b"Root"), atv(10, b"Org")].concat());
        let subject = tlv(0x30, &[atv(6, b"DE"), atv(3, b"leaf")].concat());
        let tbs = tlv(
            0x30,
            &[
                tlv(0xa0, &tlv(0x02, &[2])),
                tlv(0x02, &[1]),
                tlv(
                    0x30,
                    &tlv(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11]),
                ),
                issuer,
                tlv(0x30, &[]),
                subject,
            ]
            .concat(),
        );
        tlv(0x30, &tbs)
    }

    #[test]
    fn names_in_der_order() {
        let n = names(&tiny_cert()).unwrap();
        assert_eq!(n.subject, "C=DE, CN=leaf");
        assert_eq!(n.issuer, "CN=Root, O=Org");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let c = tiny_cert();
        for n in 0..c.len() {
            assert!(names(&c[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn dotted_oid_and_long_lengths() {
        let mut s = String::new();
        push_dotted_oid(
            &mut s,
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x02],
        );
        assert_eq!(s, "1.2.840.113549.1.9.2");
        // 0x84 announces four length bytes claiming 4 GiB: refused.
        assert!(names(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0]).is_err());
        assert!(names(&[0x30, 0x80, 0, 0]).is_err());
    }

    #[test]
    fn leaf_needs_its_whole_der() {
        let body = [0, 0, 8, 0, 0, 5, 1, 2, 3, 4, 5];
        assert_eq!(leaf_of_certificate_message(&body[..10]), None);
        assert_eq!(
            leaf_of_certificate_message(&body),
            Some(Ok(&[1, 2, 3, 4, 5][..]))
        );
        assert!(matches!(
            leaf_of_certificate_message(&[0, 0, 0, 0, 0, 0]),
            Some(Err(_))
        ));
    }
}
