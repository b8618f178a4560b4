//! Zero-copy view of one DNS message (RFC 1035 §4.1): the header, and
//! walkers over the question and resource-record sections that hand out
//! offsets and borrowed slices. Names are decoded on demand into a fixed
//! stack buffer ([`NameBuf`]), following compression pointers
//! (RFC 1035 §4.1.4) with a hop limit and backward-only targets, so no
//! byte sequence loops or allocates.

use std::fmt;

/// Header fields (RFC 1035 §4.1.1), offsets from the message start.
pub mod field {
    pub const ID: usize = 0;
    pub const FLAGS: usize = 2;
    pub const QDCOUNT: usize = 4;
    pub const ANCOUNT: usize = 6;
    pub const NSCOUNT: usize = 8;
    pub const ARCOUNT: usize = 10;
    pub const HEADER_LEN: usize = 12;
}

/// QR bit of the flags word: set in responses (§4.1.1).
const FLAG_QR: u16 = 0x8000;
const OPCODE_SHIFT: u16 = 11;
const OPCODE_MASK: u16 = 0x0f;
const RCODE_MASK: u16 = 0x000f;

/// Longest name in wire form, length octets included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Most compression pointers followed within one name. A name has at most
/// 127 labels, but real encoders use one pointer per name; 16 is generous
/// and keeps the worst case small.
pub const MAX_POINTER_HOPS: usize = 16;

/// Label-length octet tags (RFC 1035 §4.1.4): `11` is a pointer; `01`
/// and `10` were extended labels (RFC 6891 §5 deprecates them).
const LABEL_TAG_MASK: u8 = 0xc0;
const LABEL_POINTER: u8 = 0xc0;
const LABEL_PLAIN: u8 = 0x00;

/// Fixed part of a question after its name: QTYPE, QCLASS (§4.1.2).
const QUESTION_FIXED: usize = 4;
/// Fixed part of a resource record after its name: TYPE, CLASS, TTL,
/// RDLENGTH (§4.1.3).
const RR_FIXED: usize = 10;

/// What was wrong with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsError {
    /// The message ends inside `field`, at `offset`.
    Truncated { field: &'static str, offset: usize },
    /// `field` at `offset` breaks a rule of the format.
    Malformed {
        field: &'static str,
        offset: usize,
        reason: &'static str,
    },
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::Truncated { field, offset } => {
                write!(f, "dns: message ends inside {field} at offset {offset}")
            }
            DnsError::Malformed {
                field,
                offset,
                reason,
            } => write!(f, "dns: {field} at offset {offset}: {reason}"),
        }
    }
}

fn truncated(field: &'static str, offset: usize) -> DnsError {
    DnsError::Truncated { field, offset }
}

fn be16(b: &[u8], at: usize, name: &'static str) -> Result<u16, DnsError> {
    match b.get(at..at.saturating_add(2)) {
        Some(&[x, y]) => Ok(u16::from_be_bytes([x, y])),
        _ => Err(truncated(name, at)),
    }
}

/// A checked view of one DNS message.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    buf: &'a [u8],
}

impl<'a> Message<'a> {
    /// The message in `buf` (a whole UDP payload, or one TCP message
    /// without its length prefix). Only the header is checked here.
    pub fn new(buf: &'a [u8]) -> Result<Message<'a>, DnsError> {
        if buf.len() < field::HEADER_LEN {
            return Err(truncated("header", buf.len()));
        }
        Ok(Message { buf })
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    fn word(&self, at: usize) -> u16 {
        // The constructor checked the 12 header bytes.
        be16(self.buf, at, "header").unwrap_or(0)
    }

    pub fn id(&self) -> u16 {
        self.word(field::ID)
    }
    pub fn flags(&self) -> u16 {
        self.word(field::FLAGS)
    }
    /// QR: a response.
    pub fn is_response(&self) -> bool {
        self.flags() & FLAG_QR != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags() >> OPCODE_SHIFT) & OPCODE_MASK) as u8
    }
    pub fn rcode(&self) -> u8 {
        (self.flags() & RCODE_MASK) as u8
    }
    pub fn qdcount(&self) -> u16 {
        self.word(field::QDCOUNT)
    }
    pub fn ancount(&self) -> u16 {
        self.word(field::ANCOUNT)
    }
    pub fn nscount(&self) -> u16 {
        self.word(field::NSCOUNT)
    }
    pub fn arcount(&self) -> u16 {
        self.word(field::ARCOUNT)
    }

    /// Walk the sections in order: questions, then answers (authority and
    /// additional records are not walked: nothing here needs them).
    pub fn sections(&self) -> Sections<'a> {
        Sections {
            msg: *self,
            at: field::HEADER_LEN,
            questions_left: self.qdcount(),
            answers_left: self.ancount(),
        }
    }

    /// Decode the name at `offset` into `out`; returns the offset just
    /// after the name's in-place part (where the next field starts).
    pub fn read_name(&self, offset: usize, out: &mut NameBuf) -> Result<usize, DnsError> {
        read_name(self.buf, offset, out)
    }
}

/// A decoded name in presentation order, labels joined by `.`, without
/// the trailing dot (the root is empty). Fixed size: no allocation.
#[derive(Clone)]
pub struct NameBuf {
    bytes: [u8; MAX_NAME_LEN],
    len: usize,
}

impl Default for NameBuf {
    fn default() -> Self {
        NameBuf {
            bytes: [0; MAX_NAME_LEN],
            len: 0,
        }
    }
}

impl fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl NameBuf {
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// ASCII case-insensitive equality (RFC 1035 §2.3.3).
    pub fn eq_ignore_case(&self, other: &NameBuf) -> bool {
        self.as_bytes().eq_ignore_ascii_case(other.as_bytes())
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn push(&mut self, b: &[u8]) -> bool {
        let end = self.len.saturating_add(b.len());
        match self.bytes.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(b);
                self.len = end;
                true
            }
            None => false,
        }
    }
}

/// See [`Message::read_name`]. Rules (RFC 1035 §4.1.4, §2.3.4): labels of
/// at most 63 octets, at most 255 octets in wire form, pointers only to
/// earlier offsets than the pointer itself (so every hop moves backwards
/// and the walk ends) and at most [`MAX_POINTER_HOPS`] of them.
pub fn read_name(buf: &[u8], offset: usize, out: &mut NameBuf) -> Result<usize, DnsError> {
    out.clear();
    let mut at = offset;
    // Where the name's in-place part ends: set at the first pointer.
    let mut end: Option<usize> = None;
    let mut hops = 0usize;
    // Wire length so far (length octets + labels + the final zero).
    let mut wire_len = 1usize;
    loop {
        let len_octet = *buf.get(at).ok_or(truncated("name", at))?;
        match len_octet & LABEL_TAG_MASK {
            LABEL_POINTER => {
                let lo = *buf.get(at + 1).ok_or(truncated("name pointer", at))?;
                let target = usize::from(len_octet & !LABEL_TAG_MASK) << 8 | usize::from(lo);
                if end.is_none() {
                    end = Some(at + 2);
                }
                hops += 1;
                if hops > MAX_POINTER_HOPS {
                    return Err(malformed("name pointer", at, "too many pointer hops"));
                }
                if target >= at {
                    return Err(malformed("name pointer", at, "pointer does not point back"));
                }
                at = target;
            }
            LABEL_PLAIN => {
                let n = usize::from(len_octet);
                if n == 0 {
                    return Ok(end.unwrap_or(at + 1));
                }
                // n <= 63 by the tag check.
                wire_len += 1 + n;
                if wire_len > MAX_NAME_LEN {
                    return Err(malformed("name", offset, "longer than 255 octets"));
                }
                let label = buf
                    .get(at + 1..at + 1 + n)
                    .ok_or(truncated("name label", at))?;
                if out.len > 0 && !out.push(b".") {
                    return Err(malformed("name", offset, "longer than 255 octets"));
                }
                if !out.push(label) {
                    return Err(malformed("name", offset, "longer than 255 octets"));
                }
                at += 1 + n;
            }
            _ => return Err(malformed("name", at, "reserved label type")),
        }
    }
}

fn malformed(field: &'static str, offset: usize, reason: &'static str) -> DnsError {
    DnsError::Malformed {
        field,
        offset,
        reason,
    }
}

/// One question (RFC 1035 §4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    /// Offset of QNAME in the message (decode with [`Message::read_name`]).
    pub name_at: usize,
    pub qtype: u16,
    pub qclass: u16,
}

/// One answer resource record (RFC 1035 §4.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rr<'a> {
    /// Offset of NAME in the message.
    pub name_at: usize,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// Offset of RDATA in the message (names inside it may be compressed
    /// against the whole message).
    pub rdata_at: usize,
    pub rdata: &'a [u8],
}

/// An item of the question and answer sections, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    Question(Question),
    Answer(Rr<'a>),
}

/// Walker over the question and answer sections. Each item costs one
/// name skip; the counts come from the header, but every item consumes at
/// least 5 bytes, so a lying count ends at the message's end.
#[derive(Debug, Clone)]
pub struct Sections<'a> {
    msg: Message<'a>,
    at: usize,
    questions_left: u16,
    answers_left: u16,
}

/// Skip a name in place: the offset after its in-place part. Pointers are
/// not followed (they are checked when the name is read).
fn skip_name(buf: &[u8], mut at: usize) -> Result<usize, DnsError> {
    let start = at;
    loop {
        let len_octet = *buf.get(at).ok_or(truncated("name", at))?;
        match len_octet & LABEL_TAG_MASK {
            LABEL_POINTER => {
                return if at + 2 <= buf.len() {
                    Ok(at + 2)
                } else {
                    Err(truncated("name pointer", at))
                }
            }
            LABEL_PLAIN if len_octet == 0 => return Ok(at + 1),
            LABEL_PLAIN => {
                at += 1 + usize::from(len_octet);
                if at - start > MAX_NAME_LEN {
                    return Err(malformed("name", start, "longer than 255 octets"));
                }
            }
            _ => return Err(malformed("name", at, "reserved label type")),
        }
    }
}

impl<'a> Iterator for Sections<'a> {
    type Item = Result<Item<'a>, DnsError>;

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.msg.buf;
        if self.questions_left > 0 {
            self.questions_left -= 1;
            let r = (|| {
                let name_at = self.at;
                let after = skip_name(buf, name_at)?;
                let qtype = be16(buf, after, "QTYPE")?;
                let qclass = be16(buf, after + 2, "QCLASS")?;
                self.at = after + QUESTION_FIXED;
                Ok(Item::Question(Question {
                    name_at,
                    qtype,
                    qclass,
                }))
            })();
            return Some(self.stop_on_error(r));
        }
        if self.answers_left > 0 {
            self.answers_left -= 1;
            let r = (|| {
                let name_at = self.at;
                let after = skip_name(buf, name_at)?;
                let fixed = buf
                    .get(after..after + RR_FIXED)
                    .ok_or(truncated("resource record", after))?;
                let w = |i: usize| u16::from_be_bytes([fixed[i], fixed[i + 1]]);
                let rtype = w(0);
                let class = w(2);
                let ttl = u32::from(w(4)) << 16 | u32::from(w(6));
                let rdlen = usize::from(w(8));
                let rdata_at = after + RR_FIXED;
                let rdata = buf
                    .get(rdata_at..rdata_at + rdlen)
                    .ok_or(truncated("RDATA", rdata_at))?;
                self.at = rdata_at + rdlen;
                Ok(Item::Answer(Rr {
                    name_at,
                    rtype,
                    class,
                    ttl,
                    rdata_at,
                    rdata,
                }))
            })();
            return Some(self.stop_on_error(r));
        }
        None
    }
}

impl<'a> Sections<'a> {
    fn stop_on_error(&mut self, r: Result<Item<'a>, DnsError>) -> Result<Item<'a>, DnsError> {
        if r.is_err() {
            self.questions_left = 0;
            self.answers_left = 0;
        }
        r
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testutil::hex;

    /// Frame 2 of zeek/traces/dns-two-responses.pcap (UDP payload). tshark:
    /// query www.cmu.edu, answer types 5,46,5,1 then 2,2 (authority) and
    /// 1,28,1,41 (additional); CNAMEs WWW-CMU.ANDREW.cmu.edu and
    /// WWW-CMU-2.ANDREW.cmu.edu; A 128.2.10.163 (then glue 128.2.1.8,
    /// 128.237.148.168); rcode 0.
    pub(crate) const CMU_RESPONSE: &str = "5294841000010004000200040377777703636d75036564750000010001c00c00050001000151800011075757572d434d5506414e44524557c010c00c002e000100015180009b0005070300015180515cb25b5135187a1b2303636d7503656475006b741ab2616a3f33b02d97c41edb5fc04bde32780687bdcf24b8208dae7550e35b164428fba91d0c72e757a70dcb38924d702d04a5919b673d05065e2406b93b99cb4ad945c46d550a28edbcc1cbe6db31c7b8650a6428acfab46fc5987db561a714893a1003e464f1550d3e3c344c093a3475efddd7d5d2176c6203350a2eaac0290005000100000005000c095757572d434d552d32c031c0ed0001000100005460000480020aa3c0310002000100015180000e074e534155544831034e4554c058c0310002000100015180000a074e534155544832c11dc1150001000100015180000480020108c115001c00010001518000102607fb28000000000000000000000004c12f0001000100015180000480ed94a80000291000000080000000";
    /// Frame 1 of the same capture: the query (with an OPT record).
    pub(crate) const CMU_QUERY: &str =
        "5294001000010000000000010377777703636d750365647500000100010000291000000080000000";

    #[test]
    fn walks_the_cmu_response_like_tshark() {
        let bytes = hex(CMU_RESPONSE);
        let m = Message::new(&bytes).unwrap();
        assert!(m.is_response());
        assert_eq!((m.id(), m.rcode(), m.opcode()), (0x5294, 0, 0));
        assert_eq!(
            (m.qdcount(), m.ancount(), m.nscount(), m.arcount()),
            (1, 4, 2, 4)
        );
        let items: Vec<_> = m.sections().collect::<Result<_, _>>().unwrap();
        let mut name = NameBuf::default();
        let Item::Question(q) = items[0] else {
            panic!()
        };
        m.read_name(q.name_at, &mut name).unwrap();
        assert_eq!(name.as_bytes(), b"www.cmu.edu");
        assert_eq!((q.qtype, q.qclass), (1, 1));
        let types: Vec<u16> = items[1..]
            .iter()
            .map(|i| match i {
                Item::Answer(rr) => rr.rtype,
                Item::Question(_) => 0,
            })
            .collect();
        assert_eq!(types, [5, 46, 5, 1]);
        let Item::Answer(cname2) = items[3] else {
            panic!()
        };
        m.read_name(cname2.name_at, &mut name).unwrap();
        assert_eq!(name.as_bytes(), b"WWW-CMU.ANDREW.cmu.edu");
        m.read_name(cname2.rdata_at, &mut name).unwrap();
        assert_eq!(name.as_bytes(), b"WWW-CMU-2.ANDREW.cmu.edu");
        let Item::Answer(a) = items[4] else { panic!() };
        assert_eq!(a.rdata, [128, 2, 10, 163]);
        m.read_name(a.name_at, &mut name).unwrap();
        assert_eq!(name.as_bytes(), b"WWW-CMU-2.ANDREW.cmu.edu");
        let q = hex(CMU_QUERY);
        let m = Message::new(&q).unwrap();
        assert!(!m.is_response());
        assert_eq!(m.sections().count(), 1);
    }

    #[test]
    fn every_prefix_of_the_response_fails_cleanly() {
        let bytes = hex(CMU_RESPONSE);
        for cut in 0..bytes.len() {
            if let Ok(m) = Message::new(&bytes[..cut]) {
                let mut n = NameBuf::default();
                for item in m.sections() {
                    match item {
                        Ok(Item::Question(q)) => {
                            let _ = m.read_name(q.name_at, &mut n);
                        }
                        Ok(Item::Answer(rr)) => {
                            let _ = m.read_name(rr.name_at, &mut n);
                        }
                        Err(e) => assert!(matches!(e, DnsError::Truncated { .. }), "{e}"),
                    }
                }
            }
        }
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_malformed() {
        let mut n = NameBuf::default();
        // Header then a pointer to itself at 12.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[0xc0, 12]);
        assert!(matches!(
            read_name(&m, 12, &mut n),
            Err(DnsError::Malformed { .. })
        ));
        // Forward pointer.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[0xc0, 20, 0, 0, 0, 0, 0, 0, 1, b'a', 0]);
        assert!(read_name(&m, 12, &mut n).is_err());
        // Extended label type 01.
        assert!(read_name(&[0x41, 0], 0, &mut n).is_err());
    }

    #[test]
    fn name_longer_than_255_is_refused() {
        let mut m = Vec::new();
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        m.push(0);
        let mut n = NameBuf::default();
        assert!(matches!(
            read_name(&m, 0, &mut n),
            Err(DnsError::Malformed { .. })
        ));
        // 3 labels of 63 + one of 61: 4*64 + 1 - 2 = 255 octets is fine.
        let mut m = Vec::new();
        for l in [63usize, 63, 63, 61] {
            m.push(l as u8);
            m.extend(std::iter::repeat_n(b'b', l));
        }
        m.push(0);
        assert_eq!(read_name(&m, 0, &mut n), Ok(m.len()));
        assert_eq!(n.as_bytes().len(), 253);
    }

    #[test]
    fn truncated_name_says_where() {
        let mut n = NameBuf::default();
        assert_eq!(
            read_name(&[3, b'w', b'w'], 0, &mut n),
            Err(DnsError::Truncated {
                field: "name label",
                offset: 0
            })
        );
    }
}
