//! Zero-copy views of the clear-text start of one SSH direction (RFC 4253):
//! the identification string (§4.2) and the binary packets (§6) up to the
//! first SSH_MSG_KEXINIT (§7.1).
//!
//! Every function here is a pure function of a slice (the reassembled stream
//! prefix of one TCP direction). "Need more bytes" ([`SshError::Incomplete`])
//! is kept apart from "this is not SSH as RFC 4253 writes it"
//! ([`SshError::Malformed`]), so that the flow can wait for the first and give
//! up on the second. Nothing here allocates; the owned record lives in
//! [`super::record`].
#![deny(clippy::indexing_slicing)]

/// Why a stream prefix could not be parsed (small and `Copy`, so that it can
/// key a counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshError {
    /// The prefix ends before the structure does: at least `needed` more
    /// bytes are required.
    Incomplete { needed: usize },
    /// The bytes at stream offset `at` break `what`.
    Malformed { what: &'static str, at: usize },
    /// Valid SSH, but not something this parser reads (SSH-1 packets).
    Unsupported { what: &'static str },
}

impl std::fmt::Display for SshError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SshError::Incomplete { needed } => write!(f, "ssh: incomplete, {needed} more bytes"),
            SshError::Malformed { what, at } => write!(f, "ssh: malformed {what} at offset {at}"),
            SshError::Unsupported { what } => write!(f, "ssh: unsupported {what}"),
        }
    }
}

impl std::error::Error for SshError {}

/// §4.2: "The maximum length of the string is 255 characters, including the
/// Carriage Return and Line Feed."
pub const MAX_BANNER_LEN: usize = 255;
/// §6.1: "All implementations MUST be able to process packets with an
/// uncompressed payload length of 35000 bytes or less" — a floor, not a
/// ceiling: larger packets are allowed, and real ones exist (a client that
/// offers ~1000 algorithms sends a 40 KB KEXINIT, which OpenSSH, Zeek and
/// tshark all accept). We take OpenSSH's own ceiling, 256 KiB
/// (`PACKET_MAX_SIZE`), so that a peer cannot dodge HASSH with a large
/// KEXINIT; a longer `packet_length` is not SSH.
pub const MAX_PACKET_LEN: u32 = 256 * 1024;
/// The identification string's fixed start.
pub const BANNER_PREFIX: &[u8] = b"SSH-";
/// Bytes of lines before the identification string we read through before
/// calling the direction not SSH (§4.2 bounds neither their number nor
/// their size; this bound keeps a non-SSH stream from being scanned whole).
pub const MAX_PRE_BANNER_BYTES: usize = 8192;
/// Packets before KEXINIT we step over (e.g. SSH_MSG_IGNORE) before giving
/// up.
pub const MAX_PACKETS_BEFORE_KEXINIT: usize = 8;

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// SSH message numbers (RFC 4250 §4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageType(pub u8);

impl MessageType {
    pub const IGNORE: Self = Self(2);
    pub const KEXINIT: Self = Self(20);
    pub const NEWKEYS: Self = Self(21);
}

/// Things that are unusual but do not stop parsing (one bit each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Anomalies(pub u8);

impl Anomalies {
    /// The identification line is longer than 255 bytes with its CR LF.
    pub const LONG_BANNER: Self = Self(0x01);
    /// The identification line ends in LF without CR (§4.2 tolerates it for
    /// old versions).
    pub const MISSING_CR: Self = Self(0x02);
    /// Lines came before the identification line (allowed from the server
    /// only; the caller knows the direction).
    pub const PRE_BANNER_LINES: Self = Self(0x04);
    /// A name-list was cut to its cap in the owned record.
    pub const LIST_TRUNCATED: Self = Self(0x08);
    /// The identification line holds NUL bytes (§4.2 allows printable
    /// US-ASCII only; Cisco pads with NULs, suricata-verify bug-4903). The
    /// owned record keeps the text before the first NUL, as tshark shows.
    pub const NUL_IN_BANNER: Self = Self(0x10);

    pub fn contains(self, other: Anomalies) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
    pub fn insert(&mut self, other: Anomalies) {
        self.0 |= other.0;
    }
}

/// The identification string, borrowed from the stream (§4.2):
/// `SSH-protoversion-softwareversion SP comments CR LF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Banner<'a> {
    line: &'a [u8],
    /// Stream offset of the `SSH-`.
    start: usize,
    /// Stream offset just after the LF: where the binary packets begin.
    end: usize,
    pre_banner_lines: usize,
    anomalies: Anomalies,
}

impl<'a> Banner<'a> {
    /// The whole line without CR LF (not capped: the view borrows).
    pub fn line(&self) -> &'a [u8] {
        self.line
    }
    /// Stream offset of the `SSH-`.
    pub fn start(&self) -> usize {
        self.start
    }
    /// Stream offset just after the LF.
    pub fn end(&self) -> usize {
        self.end
    }
    /// How many lines came before the identification line.
    pub fn pre_banner_lines(&self) -> usize {
        self.pre_banner_lines
    }
    pub fn anomalies(&self) -> Anomalies {
        self.anomalies
    }
    /// `protoversion`, e.g. `2.0` or `1.99`.
    pub fn proto_version(&self) -> &'a [u8] {
        self.split().0
    }
    /// `softwareversion` (up to the first space).
    pub fn software_version(&self) -> &'a [u8] {
        self.split().1
    }
    /// `comments` (after the first space), if any.
    pub fn comments(&self) -> Option<&'a [u8]> {
        self.split().2
    }
    /// Whether the peer speaks SSH-2 (`2.0`, or `1.99`: §5.1 compatibility).
    pub fn is_ssh2(&self) -> bool {
        matches!(self.proto_version(), b"2.0" | b"1.99")
    }

    fn split(&self) -> (&'a [u8], &'a [u8], Option<&'a [u8]>) {
        let rest = self.line.get(BANNER_PREFIX.len()..).unwrap_or(&[]);
        let (proto, soft_and_comments) = split_once(rest, b'-').unwrap_or((rest, &[]));
        match split_once(soft_and_comments, b' ') {
            Some((soft, comments)) => (proto, soft, Some(comments)),
            None => (proto, soft_and_comments, None),
        }
    }
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == sep)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Find the identification string at the start of a stream (§4.2).
///
/// Lines before it that do not start with `SSH-` are stepped over (the
/// server may send them; at most [`MAX_PRE_BANNER_BYTES`]). A line over
/// [`MAX_BANNER_LEN`] is still returned, flagged
/// [`Anomalies::LONG_BANNER`]: the owned record caps its copy.
pub fn parse_banner(stream: &[u8]) -> Result<Banner<'_>, SshError> {
    let mut at = 0usize;
    let mut pre = 0usize;
    loop {
        let rest = stream.get(at..).unwrap_or(&[]);
        let head_len = rest.len().min(BANNER_PREFIX.len());
        let head = rest.get(..head_len).unwrap_or(&[]);
        if head != BANNER_PREFIX.get(..head_len).unwrap_or(&[]) {
            // Not (the start of) `SSH-`: a pre-banner line.
            at = skip_line(stream, at)?;
            pre += 1;
            continue;
        }
        if head_len < BANNER_PREFIX.len() {
            return Err(SshError::Incomplete {
                needed: BANNER_PREFIX.len() - head_len,
            });
        }
        return banner_line(stream, at, pre);
    }
}

/// The offset after the LF of the line starting at `at`.
fn skip_line(stream: &[u8], at: usize) -> Result<usize, SshError> {
    let rest = stream.get(at..).unwrap_or(&[]);
    let window = rest.get(..rest.len().min(MAX_PRE_BANNER_BYTES.saturating_sub(at)));
    match window.and_then(|w| w.iter().position(|&b| b == LF)) {
        Some(i) => Ok(at + i + 1),
        None if at.saturating_add(rest.len()) >= MAX_PRE_BANNER_BYTES => Err(SshError::Malformed {
            what: "identification string (no SSH- line in the first 8192 bytes)",
            at,
        }),
        None => Err(SshError::Incomplete { needed: 1 }),
    }
}

fn banner_line(stream: &[u8], start: usize, pre: usize) -> Result<Banner<'_>, SshError> {
    let rest = stream.get(start..).unwrap_or(&[]);
    // Only the first 8192 bytes are searched, so that the verdict on a
    // prefix never changes from Malformed to Ok as the stream grows.
    let window = rest
        .get(..rest.len().min(MAX_PRE_BANNER_BYTES))
        .unwrap_or(&[]);
    let Some(lf) = window.iter().position(|&b| b == LF) else {
        // A line this long is no identification string: give a verdict
        // rather than wait for the flow's buffer to fill.
        if rest.len() >= MAX_PRE_BANNER_BYTES {
            return Err(SshError::Malformed {
                what: "identification string (no LF in 8192 bytes)",
                at: start,
            });
        }
        return Err(SshError::Incomplete { needed: 1 });
    };
    let with_cr = rest.get(..lf).unwrap_or(&[]);
    let mut anomalies = Anomalies::default();
    let line = match with_cr.split_last() {
        Some((&CR, line)) => line,
        _ => {
            anomalies.insert(Anomalies::MISSING_CR);
            with_cr
        }
    };
    if lf + 1 > MAX_BANNER_LEN {
        anomalies.insert(Anomalies::LONG_BANNER);
    }
    if pre > 0 {
        anomalies.insert(Anomalies::PRE_BANNER_LINES);
    }
    if line.contains(&0) {
        anomalies.insert(Anomalies::NUL_IN_BANNER);
    }
    // `SSH-protoversion-softwareversion`: both parts present.
    let after = line.get(BANNER_PREFIX.len()..).unwrap_or(&[]);
    match split_once(after, b'-') {
        Some((proto, soft)) if !proto.is_empty() && !soft.is_empty() => {}
        _ => {
            return Err(SshError::Malformed {
                what: "identification string (no protoversion-softwareversion)",
                at: start,
            })
        }
    }
    Ok(Banner {
        line,
        start,
        end: start + lf + 1,
        pre_banner_lines: pre,
        anomalies,
    })
}

/// Offsets of the binary packet header (§6).
pub mod field {
    use core::ops::Range;
    pub const PACKET_LENGTH: Range<usize> = 0..4;
    pub const PADDING_LENGTH: usize = 4;
    pub const PAYLOAD: usize = 5;
    /// `packet_length` does not count itself.
    pub const LENGTH_FIELD_LEN: usize = 4;
}

/// An unencrypted binary packet (§6), checked: `packet_length` is within
/// bounds, the whole packet is in the buffer, and the padding fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryPacket<'a> {
    payload: &'a [u8],
    /// Bytes the packet takes in the stream (length field included; no MAC
    /// before NEWKEYS).
    wire_len: usize,
}

impl<'a> BinaryPacket<'a> {
    /// Check one packet at the start of `buf`; `at` is `buf`'s stream offset
    /// (for errors).
    pub fn new_checked(buf: &'a [u8], at: usize) -> Result<BinaryPacket<'a>, SshError> {
        let Some(len_bytes) = buf.get(field::PACKET_LENGTH) else {
            return Err(SshError::Incomplete {
                needed: field::LENGTH_FIELD_LEN - buf.len().min(field::LENGTH_FIELD_LEN),
            });
        };
        let mut be = [0u8; 4];
        be.copy_from_slice(len_bytes);
        let packet_length = u32::from_be_bytes(be);
        if packet_length == 0 {
            return Err(SshError::Malformed {
                what: "binary packet (packet_length 0)",
                at,
            });
        }
        if packet_length > MAX_PACKET_LEN {
            return Err(SshError::Malformed {
                what: "binary packet (packet_length over 256 KiB)",
                at,
            });
        }
        // Within 256 KiB, so the cast and sums cannot overflow.
        let wire_len = field::LENGTH_FIELD_LEN + packet_length as usize;
        if buf.len() < wire_len {
            return Err(SshError::Incomplete {
                needed: wire_len - buf.len(),
            });
        }
        let padding = usize::from(*buf.get(field::PADDING_LENGTH).ok_or(SshError::Malformed {
            what: "binary packet (packet_length 0)",
            at,
        })?);
        // packet_length = 1 (padding_length byte) + payload + padding.
        let payload_len =
            (packet_length as usize)
                .checked_sub(1 + padding)
                .ok_or(SshError::Malformed {
                    what: "binary packet (padding_length exceeds packet_length)",
                    at: at + field::PADDING_LENGTH,
                })?;
        let payload = buf
            .get(field::PAYLOAD..field::PAYLOAD + payload_len)
            .ok_or(SshError::Incomplete { needed: 1 })?;
        Ok(BinaryPacket { payload, wire_len })
    }

    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
    pub fn wire_len(&self) -> usize {
        self.wire_len
    }
    /// The message number (first payload byte); `None` for an empty payload.
    pub fn message_type(&self) -> Option<MessageType> {
        self.payload.first().copied().map(MessageType)
    }
}

/// A name-list (RFC 4251 §5): comma-separated names, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NameList<'a>(&'a [u8]);

impl<'a> NameList<'a> {
    /// The list as on the wire (commas included).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
    /// The names in wire order.
    pub fn names(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let bytes = self.0;
        bytes
            .split(|&b| b == b',')
            .filter(move |_| !bytes.is_empty())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The byte cursor for KEXINIT's fields.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Stream offset of `buf[0]`.
    base: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SshError> {
        let end = self.pos.checked_add(n).ok_or(self.malformed(what))?;
        let s = self.buf.get(self.pos..end).ok_or(self.malformed(what))?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, SshError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or(0))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, SshError> {
        let mut be = [0u8; 4];
        be.copy_from_slice(self.take(4, what)?);
        Ok(u32::from_be_bytes(be))
    }
    fn name_list(&mut self, what: &'static str) -> Result<NameList<'a>, SshError> {
        let len = self.u32(what)?;
        let len = usize::try_from(len).map_err(|_| self.malformed(what))?;
        Ok(NameList(self.take(len, what)?))
    }
    /// A field inside a complete packet ran past its payload: malformed.
    fn malformed(&self, what: &'static str) -> SshError {
        SshError::Malformed {
            what,
            at: self.base + self.pos,
        }
    }
}

/// Offsets inside the KEXINIT payload (§7.1).
pub mod kexinit_field {
    use core::ops::Range;
    pub const MSG_TYPE: usize = 0;
    pub const COOKIE: Range<usize> = 1..17;
    pub const NAME_LISTS: usize = COOKIE.end;
}

/// SSH_MSG_KEXINIT (§7.1), borrowed from its packet's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KexInit<'a> {
    pub cookie: &'a [u8],
    pub kex_algorithms: NameList<'a>,
    pub server_host_key_algorithms: NameList<'a>,
    pub encryption_client_to_server: NameList<'a>,
    pub encryption_server_to_client: NameList<'a>,
    pub mac_client_to_server: NameList<'a>,
    pub mac_server_to_client: NameList<'a>,
    pub compression_client_to_server: NameList<'a>,
    pub compression_server_to_client: NameList<'a>,
    pub languages_client_to_server: NameList<'a>,
    pub languages_server_to_client: NameList<'a>,
    pub first_kex_packet_follows: bool,
    pub reserved: u32,
}

impl<'a> KexInit<'a> {
    /// Parse a KEXINIT payload (message number included); `at` is the
    /// payload's stream offset.
    pub fn parse(payload: &'a [u8], at: usize) -> Result<KexInit<'a>, SshError> {
        let mut r = Reader {
            buf: payload,
            pos: 0,
            base: at,
        };
        if r.u8("KEXINIT message number")? != MessageType::KEXINIT.0 {
            return Err(SshError::Malformed {
                what: "KEXINIT (message number is not 20)",
                at: at + kexinit_field::MSG_TYPE,
            });
        }
        let cookie = r.take(kexinit_field::COOKIE.len(), "KEXINIT cookie")?;
        Ok(KexInit {
            cookie,
            kex_algorithms: r.name_list("KEXINIT kex_algorithms")?,
            server_host_key_algorithms: r.name_list("KEXINIT server_host_key_algorithms")?,
            encryption_client_to_server: r.name_list("KEXINIT encryption_algorithms_c2s")?,
            encryption_server_to_client: r.name_list("KEXINIT encryption_algorithms_s2c")?,
            mac_client_to_server: r.name_list("KEXINIT mac_algorithms_c2s")?,
            mac_server_to_client: r.name_list("KEXINIT mac_algorithms_s2c")?,
            compression_client_to_server: r.name_list("KEXINIT compression_algorithms_c2s")?,
            compression_server_to_client: r.name_list("KEXINIT compression_algorithms_s2c")?,
            languages_client_to_server: r.name_list("KEXINIT languages_c2s")?,
            languages_server_to_client: r.name_list("KEXINIT languages_s2c")?,
            first_kex_packet_follows: r.u8("KEXINIT first_kex_packet_follows")? != 0,
            reserved: r.u32("KEXINIT reserved")?,
        })
    }
}

/// Find the first KEXINIT among the binary packets that start at stream
/// offset `from` (the banner's end), stepping over up to
/// [`MAX_PACKETS_BEFORE_KEXINIT`] other packets.
pub fn parse_kexinit(stream: &[u8], from: usize) -> Result<KexInit<'_>, SshError> {
    let mut at = from;
    for _ in 0..MAX_PACKETS_BEFORE_KEXINIT {
        let buf = stream.get(at..).unwrap_or(&[]);
        let pkt = BinaryPacket::new_checked(buf, at)?;
        match pkt.message_type() {
            Some(MessageType::KEXINIT) => {
                return KexInit::parse(pkt.payload(), at + field::PAYLOAD)
            }
            Some(MessageType::NEWKEYS) => {
                return Err(SshError::Malformed {
                    what: "binary packets (NEWKEYS before KEXINIT)",
                    at,
                })
            }
            _ => at += pkt.wire_len(),
        }
    }
    Err(SshError::Malformed {
        what: "binary packets (no KEXINIT among the first 8)",
        at,
    })
}

/// One direction's clear-text start: the banner and, for SSH-2, KEXINIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SshStart<'a> {
    pub banner: Banner<'a>,
    /// `Err(Incomplete)` while KEXINIT has not fully arrived;
    /// `Err(Unsupported)` for an SSH-1 peer.
    pub kexinit: Result<KexInit<'a>, SshError>,
}

/// Parse a stream prefix: the banner must be complete; KEXINIT may not be.
pub fn parse_stream(stream: &[u8]) -> Result<SshStart<'_>, SshError> {
    let banner = parse_banner(stream)?;
    let kexinit = if banner.is_ssh2() {
        parse_kexinit(stream, banner.end())
    } else {
        Err(SshError::Unsupported {
            what: "SSH-1 binary packets",
        })
    };
    Ok(SshStart { banner, kexinit })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    use crate::testutil::hex;

    /// zeek/traces/ssh/ssh_kex_curve25519.pcap, server 192.168.1.32:22:
    /// frame 6 (banner, seq 1) then frame 9 (KEXINIT, seq 22).
    pub(crate) const CURVE25519_SERVER_BANNER: &str = "5353482d322e302d4f70656e5353485f372e350d0a";
    pub(crate) const CURVE25519_SERVER_KEXINIT: &str = "\
000001240a14e8319eeb1d39d67866339be8d9269b5600000011637572766532353531392d7368613235360000002c\
7373682d656432353531392c7373682d656432353531392d636572742d763031406f70656e7373682e636f6d000000\
1d63686163686132302d706f6c7931333035406f70656e7373682e636f6d0000001d63686163686132302d706f6c79\
31333035406f70656e7373682e636f6d0000001d686d61632d736861322d3531322d65746d406f70656e7373682e63\
6f6d0000001d686d61632d736861322d3531322d65746d406f70656e7373682e636f6d000000156e6f6e652c7a6c69\
62406f70656e7373682e636f6d000000156e6f6e652c7a6c6962406f70656e7373682e636f6d000000000000000000\
0000000000000000000000000000";

    /// zeek/traces/ssh/ssh_kex_dh_group18.pcap frame 8: the client's
    /// (192.168.249.1:54468) KEXINIT packet.
    pub(crate) const DH_GROUP18_CLIENT_KEXINIT: &str = "\
0000014c09143f46bb0a29ba88541ba84b2a0ead4d0c000000456469666669652d68656c6c6d616e2d67726f757031\
382d7368613531322c6578742d696e666f2d632c6b65782d7374726963742d632d763030406f70656e7373682e636f\
6d0000000b7373682d65643235353139000000206165733139322d6374722c6165733235362d6374722c6165733132\
382d637472000000206165733139322d6374722c6165733235362d6374722c6165733132382d63747200000025686d\
61632d736861322d3235362c686d61632d736861312c686d61632d736861322d35313200000025686d61632d736861\
322d3235362c686d61632d736861312c686d61632d736861322d353132000000157a6c6962406f70656e7373682e63\
6f6d2c6e6f6e65000000157a6c6962406f70656e7373682e636f6d2c6e6f6e65000000000000000000000000000000\
00000000000000";

    pub(crate) fn curve25519_server_stream() -> Vec<u8> {
        let mut s = hex(CURVE25519_SERVER_BANNER);
        s.extend(hex(CURVE25519_SERVER_KEXINIT));
        s
    }

    #[test]
    fn server_stream_banner_and_kexinit_match_tshark() {
        let s = curve25519_server_stream();
        let start = parse_stream(&s).unwrap();
        assert_eq!(start.banner.line(), b"SSH-2.0-OpenSSH_7.5");
        assert_eq!(start.banner.proto_version(), b"2.0");
        assert_eq!(start.banner.software_version(), b"OpenSSH_7.5");
        assert_eq!(start.banner.comments(), None);
        assert_eq!(start.banner.end(), 21);
        assert_eq!(start.banner.anomalies(), Anomalies::default());
        let k = start.kexinit.unwrap();
        // tshark: ssh.cookie, ssh.*_algorithms, ssh.first_kex_packet_follows.
        assert_eq!(k.cookie, hex("e8319eeb1d39d67866339be8d9269b56").as_slice());
        assert_eq!(k.kex_algorithms.as_bytes(), b"curve25519-sha256");
        assert_eq!(
            k.server_host_key_algorithms.as_bytes(),
            b"ssh-ed25519,ssh-ed25519-cert-v01@openssh.com"
        );
        assert_eq!(
            k.encryption_client_to_server.as_bytes(),
            b"chacha20-poly1305@openssh.com"
        );
        assert_eq!(
            k.mac_server_to_client.as_bytes(),
            b"hmac-sha2-512-etm@openssh.com"
        );
        assert_eq!(
            k.compression_client_to_server.as_bytes(),
            b"none,zlib@openssh.com"
        );
        assert!(!k.first_kex_packet_follows);
        assert_eq!(k.reserved, 0);
        assert_eq!(
            k.server_host_key_algorithms.names().collect::<Vec<_>>(),
            [&b"ssh-ed25519"[..], b"ssh-ed25519-cert-v01@openssh.com"]
        );
    }

    #[test]
    fn binary_packet_lengths_match_tshark() {
        // tshark: ssh.packet_length 292, ssh.padding_length 10.
        let p = hex(CURVE25519_SERVER_KEXINIT);
        let pkt = BinaryPacket::new_checked(&p, 0).unwrap();
        assert_eq!(pkt.wire_len(), 4 + 292);
        assert_eq!(pkt.payload().len(), 292 - 1 - 10);
        assert_eq!(pkt.message_type(), Some(MessageType::KEXINIT));
    }

    #[test]
    fn every_cut_of_the_stream_is_incomplete() {
        let s = curve25519_server_stream();
        for cut in 0..s.len() {
            let prefix = s.get(..cut).unwrap();
            match parse_stream(prefix) {
                Err(SshError::Incomplete { needed }) => assert!(needed >= 1, "cut {cut}"),
                Ok(start) => assert!(
                    matches!(start.kexinit, Err(SshError::Incomplete { .. })),
                    "cut {cut}: {:?}",
                    start.kexinit
                ),
                Err(e) => panic!("cut {cut}: {e}"),
            }
        }
    }

    #[test]
    fn pre_banner_lines_are_stepped_over() {
        // The shape of zeek's server-pre-banner-data.pcap (ASCII art, then
        // the banner; frame 12's banner bytes).
        let mut s = b" ___\n< Hi stranger >\n\n".to_vec();
        s.extend(hex(
            "5353482d322e302d4f70656e5353485f392e3270312044656269616e2d322b646562313275350d0a",
        ));
        let b = parse_banner(&s).unwrap();
        assert_eq!(b.line(), b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u5");
        assert_eq!(b.software_version(), b"OpenSSH_9.2p1");
        assert_eq!(b.comments(), Some(&b"Debian-2+deb12u5"[..]));
        assert_eq!(b.pre_banner_lines(), 3);
        assert!(b.anomalies().contains(Anomalies::PRE_BANNER_LINES));
        assert_eq!(b.end(), s.len());
    }

    #[test]
    fn banner_without_lf_is_incomplete_and_lf_only_is_flagged() {
        assert_eq!(
            parse_banner(b"SSH-2.0-OpenSSH_7.4\r"),
            Err(SshError::Incomplete { needed: 1 })
        );
        assert_eq!(parse_banner(b"SS"), Err(SshError::Incomplete { needed: 2 }));
        assert_eq!(
            parse_banner(b"hello"),
            Err(SshError::Incomplete { needed: 1 })
        );
        let b = parse_banner(b"SSH-1.99-Cisco-1.25\n").unwrap();
        assert_eq!(b.line(), b"SSH-1.99-Cisco-1.25");
        assert!(b.anomalies().contains(Anomalies::MISSING_CR));
        assert!(b.is_ssh2());
    }

    #[test]
    fn banner_over_the_cap_is_flagged_not_refused() {
        let mut s = b"SSH-2.0-x ".to_vec();
        s.resize(300, b'a');
        s.extend_from_slice(b"\r\n");
        let b = parse_banner(&s).unwrap();
        assert_eq!(b.line().len(), 300);
        assert!(b.anomalies().contains(Anomalies::LONG_BANNER));
        // Exactly 255 with CR LF is within the cap (§4.2).
        let mut s = b"SSH-2.0-x ".to_vec();
        s.resize(253, b'a');
        s.extend_from_slice(b"\r\n");
        assert!(!parse_banner(&s)
            .unwrap()
            .anomalies()
            .contains(Anomalies::LONG_BANNER));
    }

    #[test]
    fn endless_banner_line_is_malformed() {
        let mut s = b"SSH-2.0-x ".to_vec();
        s.resize(MAX_PRE_BANNER_BYTES - 1, b'a');
        assert_eq!(parse_banner(&s), Err(SshError::Incomplete { needed: 1 }));
        s.push(b'a');
        assert_eq!(
            parse_banner(&s),
            Err(SshError::Malformed {
                what: "identification string (no LF in 8192 bytes)",
                at: 0
            })
        );
    }

    #[test]
    fn not_ssh_is_malformed() {
        assert!(matches!(
            parse_banner(b"SSH-2.0\r\n"),
            Err(SshError::Malformed { at: 0, .. })
        ));
        let junk = vec![b'x'; MAX_PRE_BANNER_BYTES + 1];
        assert!(matches!(
            parse_banner(&junk),
            Err(SshError::Malformed { .. })
        ));
        // An HTTP request: lines, no SSH- line, but each ends: keep reading
        // until the bound, then give up.
        assert_eq!(
            parse_banner(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Err(SshError::Incomplete { needed: 4 })
        );
    }

    #[test]
    fn bad_packet_lengths_are_malformed() {
        let banner = b"SSH-2.0-a\r\n";
        let with = |pkt: &[u8]| {
            let mut s = banner.to_vec();
            s.extend_from_slice(pkt);
            parse_stream(&s).unwrap().kexinit.map(|_| ())
        };
        // One byte over OpenSSH's 256 KiB ceiling: not SSH.
        assert!(matches!(
            with(&(256 * 1024 + 1u32).to_be_bytes()),
            Err(SshError::Malformed { at: 11, .. })
        ));
        // Over the RFC's 35000 floor but within the ceiling: wait for it.
        assert!(matches!(
            with(&40_552u32.to_be_bytes()),
            Err(SshError::Incomplete { .. })
        ));
        assert!(matches!(
            with(&[0, 0, 0, 0, 9, 9]),
            Err(SshError::Malformed { .. })
        ));
        // padding_length 8 in a 4-byte packet.
        assert!(matches!(
            with(&[0, 0, 0, 4, 8, 20, 0, 0]),
            Err(SshError::Malformed { at: 15, .. })
        ));
        // A name-list length past the payload.
        let mut p = vec![0, 0, 0, 24, 2, 20];
        p.extend_from_slice(&[0; 16]);
        p.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0]);
        assert!(matches!(with(&p), Err(SshError::Malformed { .. })));
        // NEWKEYS before KEXINIT.
        assert!(matches!(
            with(&[0, 0, 0, 6, 4, 21, 0, 0, 0, 0]),
            Err(SshError::Malformed { .. })
        ));
    }

    #[test]
    fn ssh1_banner_has_no_kexinit() {
        let start = parse_stream(b"SSH-1.5-OpenSSH_3.4p1\n\0\0\0\x10").unwrap();
        assert!(matches!(start.kexinit, Err(SshError::Unsupported { .. })));
    }
}
