//! Zero-copy TLS views: record headers (RFC 8446 §5.1, RFC 5246 §6.2),
//! handshake message framing across records (RFC 8446 §5.1: "Handshake
//! messages MAY be coalesced into a single TLSPlaintext record or
//! fragmented across several records"), and the ClientHello (RFC 8446
//! §4.1.2) and ServerHello (RFC 8446 §4.1.3) bodies.
//!
//! Every view is validated once by its constructor; getters then only walk
//! bytes that were checked, so they cannot fail. Nothing here allocates,
//! except [`first_hello`] copying a fragmented message into the caller's
//! scratch buffer. Unknown extensions are kept, in wire order.
#![deny(clippy::indexing_slicing)]

use super::types::{CipherSuite, ContentType, ExtensionType, HandshakeType, ProtocolVersion};

/// Why a byte sequence is not (yet) a TLS message. Small and `Copy` so a
/// caller can count causes without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The prefix ends before the message: wait for at least `needed` more
    /// bytes (a lower bound: the rest of the record or header in hand; the
    /// message may need further records).
    #[error("TLS: incomplete, need {needed} more bytes")]
    Incomplete { needed: usize },
    /// The bytes break the protocol: `what` names the field, `at` is its
    /// offset in the input given to the failing function.
    #[error("TLS: malformed {what} at offset {at}")]
    Malformed { what: &'static str, at: usize },
}

/// RFC 8701 §2: GREASE values are `0x?A?A` with both bytes equal.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// A byte cursor over validated input: every read is bounds-checked and
/// reports its offset from the start of the cursor's base slice.
#[derive(Clone, Copy)]
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the caller's input, for error positions.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    fn at(&self) -> usize {
        self.base + self.pos
    }

    fn malformed(&self, what: &'static str) -> TlsError {
        TlsError::Malformed {
            what,
            at: self.at(),
        }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], TlsError> {
        let end = self.pos.checked_add(n).ok_or(self.malformed(what))?;
        let s = self.buf.get(self.pos..end).ok_or(self.malformed(what))?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, TlsError> {
        let s = self.take(1, what)?;
        s.first().copied().ok_or(self.malformed(what))
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, TlsError> {
        match self.take(2, what)? {
            [a, b] => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err(self.malformed(what)),
        }
    }

    /// A vector with a one-byte length (RFC 8446 §3.4 `<0..2^8-1>`).
    fn vec8(&mut self, what: &'static str) -> Result<Reader<'a>, TlsError> {
        let n = usize::from(self.u8(what)?);
        self.sub(n, what)
    }

    /// A vector with a two-byte length (`<0..2^16-1>`).
    fn vec16(&mut self, what: &'static str) -> Result<Reader<'a>, TlsError> {
        let n = usize::from(self.u16(what)?);
        self.sub(n, what)
    }

    fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, TlsError> {
        let base = self.at();
        let buf = self.take(n, what)?;
        Ok(Reader { buf, pos: 0, base })
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
}

/// Byte offsets of the record header, RFC 8446 §5.1 `TLSPlaintext`.
pub mod field {
    pub type Field = core::ops::Range<usize>;
    pub const CONTENT_TYPE: usize = 0;
    pub const VERSION: Field = 1..3;
    pub const LENGTH: Field = 3..5;
    pub const RECORD_HEADER_LEN: usize = LENGTH.end;
    /// Handshake header, RFC 8446 §4: `msg_type` (1) and `length` (u24).
    pub const HANDSHAKE_HEADER_LEN: usize = 4;
}

/// RFC 8446 §5.1: "The length MUST NOT exceed 2^14 bytes"; RFC 5246 §6.2.3
/// allows 2^14 + 2048 for compressed/encrypted records, the lax bound.
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// Upper bound on a hello's body: the sum of its vectors' maximum lengths
/// (RFC 8446 §4.1.2) is just under 2^17. Larger claims are malformed, which
/// also bounds the scratch copy.
pub const MAX_HELLO_LEN: usize = 1 << 17;

/// One TLS record: header fields and its fragment, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub content_type: ContentType,
    /// `legacy_record_version` (RFC 8446 §5.1).
    pub version: ProtocolVersion,
    pub fragment: &'a [u8],
}

impl<'a> Record<'a> {
    /// Parse the record at the start of `buf`; returns it and the bytes it
    /// used (header + fragment). Rejects bytes that cannot start a TLS
    /// record (unknown content type, major version other than 3), so that
    /// non-TLS streams fail fast instead of waiting for bytes.
    pub fn parse(buf: &'a [u8]) -> Result<(Record<'a>, usize), TlsError> {
        let hdr = buf
            .get(..field::RECORD_HEADER_LEN)
            .ok_or_else(|| TlsError::Incomplete {
                needed: field::RECORD_HEADER_LEN.saturating_sub(buf.len()),
            })?;
        let mut r = Reader::new(hdr);
        let ct = ContentType(r.u8("record content type")?);
        if !(ContentType::CHANGE_CIPHER_SPEC.0..=ContentType::APPLICATION_DATA.0).contains(&ct.0) {
            return Err(TlsError::Malformed {
                what: "record content type",
                at: field::CONTENT_TYPE,
            });
        }
        let version = ProtocolVersion(r.u16("record version")?);
        if version.0 >> 8 != 3 {
            return Err(TlsError::Malformed {
                what: "record version",
                at: field::VERSION.start,
            });
        }
        let len = usize::from(r.u16("record length")?);
        if len > MAX_RECORD_LEN {
            return Err(TlsError::Malformed {
                what: "record length",
                at: field::LENGTH.start,
            });
        }
        let total = field::RECORD_HEADER_LEN + len;
        let fragment = buf
            .get(field::RECORD_HEADER_LEN..total)
            .ok_or(TlsError::Incomplete {
                needed: total.saturating_sub(buf.len()),
            })?;
        Ok((
            Record {
                content_type: ct,
                version,
                fragment,
            },
            total,
        ))
    }
}

/// A handshake message found by [`first_hello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake<'a> {
    pub msg_type: HandshakeType,
    /// The body, after the 4-byte handshake header.
    pub body: &'a [u8],
    /// True when the body was copied into the scratch buffer because it
    /// spans several records.
    pub reassembled: bool,
}

/// Find the first handshake message of a TLS stream prefix (one TCP
/// direction, from its first byte), skipping empty HelloRequests (RFC 5246
/// §7.4.1.1), and check that it has type `want` (ClientHello or
/// ServerHello). The body is borrowed from `stream` when it lies in one
/// record; otherwise the fragments are copied into `scratch` (cleared
/// first, at most [`MAX_HELLO_LEN`] bytes) and the body borrows it.
/// `Incomplete` is returned before any copy is made.
pub fn first_hello<'a>(
    stream: &'a [u8],
    want: HandshakeType,
    scratch: &'a mut Vec<u8>,
) -> Result<Handshake<'a>, TlsError> {
    let (msg_type, body_len, start) = locate(stream)?;
    if msg_type != want {
        return Err(TlsError::Malformed {
            what: "first handshake message type",
            at: start.record_off + field::RECORD_HEADER_LEN + start.in_fragment,
        });
    }
    let (rec, _) = Record::parse(stream.get(start.record_off..).unwrap_or(&[]))?;
    let body_from = start.in_fragment + field::HANDSHAKE_HEADER_LEN;
    if let Some(body) = rec.fragment.get(body_from..body_from + body_len) {
        return Ok(Handshake {
            msg_type,
            body,
            reassembled: false,
        });
    }
    gather(stream, start, body_len, scratch)?;
    Ok(Handshake {
        msg_type,
        body: scratch.as_slice(),
        reassembled: true,
    })
}

/// Where a handshake message starts: its record and offset in the fragment.
#[derive(Clone, Copy)]
struct Start {
    record_off: usize,
    in_fragment: usize,
}

/// Walk handshake records to the first non-HelloRequest message header and
/// check that the whole message is present. Returns its type, body length
/// and start, without copying.
fn locate(stream: &[u8]) -> Result<(HandshakeType, usize, Start), TlsError> {
    let mut hs = HandshakeBytes::new(stream);
    loop {
        let start = hs.position()?;
        let mut hdr = [0u8; field::HANDSHAKE_HEADER_LEN];
        hs.read(&mut hdr)?;
        let [t, l0, l1, l2] = hdr;
        let len = u32::from_be_bytes([0, l0, l1, l2]) as usize;
        let ty = HandshakeType(t);
        if ty == HandshakeType::HELLO_REQUEST && len == 0 {
            continue;
        }
        if len > MAX_HELLO_LEN {
            return Err(TlsError::Malformed {
                what: "handshake length",
                at: start.record_off + field::RECORD_HEADER_LEN + start.in_fragment + 1,
            });
        }
        hs.skip(len)?;
        return Ok((ty, len, start));
    }
}

/// Copy `len` body bytes of the message starting at `start` into `scratch`.
fn gather(stream: &[u8], start: Start, len: usize, scratch: &mut Vec<u8>) -> Result<(), TlsError> {
    scratch.clear();
    scratch.reserve(len);
    let mut hs = HandshakeBytes::new(stream.get(start.record_off..).unwrap_or(&[]));
    hs.skip(start.in_fragment + field::HANDSHAKE_HEADER_LEN)?;
    while scratch.len() < len {
        let chunk = hs.chunk(len - scratch.len())?;
        scratch.extend_from_slice(chunk);
    }
    Ok(())
}

/// The concatenated fragments of consecutive handshake records, read
/// without copying (RFC 8446 §5.1: handshake messages "MUST NOT be
/// interleaved with other record types").
struct HandshakeBytes<'a> {
    stream: &'a [u8],
    /// Offset of the current record in `stream`.
    record_off: usize,
    /// Offset of the next unread record.
    next_record: usize,
    fragment: &'a [u8],
    pos: usize,
}

impl<'a> HandshakeBytes<'a> {
    fn new(stream: &'a [u8]) -> Self {
        HandshakeBytes {
            stream,
            record_off: 0,
            next_record: 0,
            fragment: &[],
            pos: 0,
        }
    }

    /// Ensure some bytes are available in the current fragment, moving to
    /// the next handshake record when it is exhausted. Each step consumes
    /// at least a record header, so empty records cannot loop forever.
    fn fill(&mut self) -> Result<(), TlsError> {
        while self.pos >= self.fragment.len() {
            let at = self.next_record;
            let rest = self.stream.get(at..).unwrap_or(&[]);
            let (rec, used) = Record::parse(rest).map_err(|e| shift(e, at))?;
            if rec.content_type != ContentType::HANDSHAKE {
                return Err(TlsError::Malformed {
                    what: "record content type (expected handshake)",
                    at,
                });
            }
            self.record_off = at;
            self.next_record = at + used;
            self.fragment = rec.fragment;
            self.pos = 0;
        }
        Ok(())
    }

    fn position(&mut self) -> Result<Start, TlsError> {
        self.fill()?;
        Ok(Start {
            record_off: self.record_off,
            in_fragment: self.pos,
        })
    }

    /// Up to `max` bytes from the current fragment.
    fn chunk(&mut self, max: usize) -> Result<&'a [u8], TlsError> {
        self.fill()?;
        let avail = self.fragment.len() - self.pos.min(self.fragment.len());
        let n = avail.min(max);
        let s = self.fragment.get(self.pos..self.pos + n).unwrap_or(&[]);
        self.pos += n;
        Ok(s)
    }

    fn read(&mut self, out: &mut [u8]) -> Result<(), TlsError> {
        let mut done = 0;
        while let Some(dst) = out.get_mut(done..).filter(|d| !d.is_empty()) {
            let s = self.chunk(dst.len())?;
            if let Some(d) = dst.get_mut(..s.len()) {
                d.copy_from_slice(s);
            }
            done += s.len();
        }
        Ok(())
    }

    fn skip(&mut self, mut n: usize) -> Result<(), TlsError> {
        while n > 0 {
            n -= self.chunk(n)?.len();
        }
        Ok(())
    }
}

/// Make an error's offset relative to the whole stream.
fn shift(e: TlsError, by: usize) -> TlsError {
    match e {
        TlsError::Malformed { what, at } => TlsError::Malformed { what, at: at + by },
        inc => inc,
    }
}

/// A validated list of big-endian u16 values (cipher suites, groups,
/// signature schemes, versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U16List<'a>(&'a [u8]);

impl<'a> U16List<'a> {
    fn new(r: Reader<'a>, what: &'static str) -> Result<Self, TlsError> {
        if r.buf.len() % 2 != 0 {
            return Err(r.malformed(what));
        }
        Ok(U16List(r.buf))
    }

    /// Values in wire order, GREASE included.
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        self.0.chunks_exact(2).map(|c| {
            u16::from_be_bytes([
                c.first().copied().unwrap_or(0),
                c.last().copied().unwrap_or(0),
            ])
        })
    }

    pub fn len(&self) -> usize {
        self.0.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A validated ALPN `ProtocolNameList` (RFC 7301 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AlpnList<'a>(&'a [u8]);

impl<'a> AlpnList<'a> {
    fn new(mut r: Reader<'a>) -> Result<Self, TlsError> {
        let buf = r.rest();
        while !r.is_empty() {
            r.vec8("ALPN protocol name")?;
        }
        Ok(AlpnList(buf))
    }

    /// Protocol names in wire order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut r = Reader::new(self.0);
        core::iter::from_fn(move || {
            if r.is_empty() {
                None
            } else {
                r.vec8("ALPN protocol name").ok().map(|s| s.buf)
            }
        })
    }
}

/// One extension: type and raw data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    pub ty: ExtensionType,
    pub data: &'a [u8],
}

/// A validated extensions block, iterated in wire order (RFC 8446 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extensions<'a>(&'a [u8]);

impl<'a> Extensions<'a> {
    fn new(mut r: Reader<'a>) -> Result<Self, TlsError> {
        let buf = r.rest();
        while !r.is_empty() {
            r.u16("extension type")?;
            r.vec16("extension data")?;
        }
        Ok(Extensions(buf))
    }

    pub fn iter(&self) -> impl Iterator<Item = Extension<'a>> + 'a {
        let mut r = Reader::new(self.0);
        core::iter::from_fn(move || {
            if r.is_empty() {
                return None;
            }
            let ty = ExtensionType(r.u16("extension type").ok()?);
            let data = r.vec16("extension data").ok()?.buf;
            Some(Extension { ty, data })
        })
    }

    /// Data of the first extension of type `ty`.
    pub fn get(&self, ty: ExtensionType) -> Option<&'a [u8]> {
        self.iter().find(|e| e.ty == ty).map(|e| e.data)
    }
}

/// A ClientHello body, RFC 8446 §4.1.2 (RFC 5246 §7.4.1.2 for TLS 1.2,
/// whose hellos may end without extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello<'a> {
    pub legacy_version: ProtocolVersion,
    pub random: &'a [u8],
    pub session_id: &'a [u8],
    /// DTLS only (RFC 6347 §4.2.1): the HelloVerifyRequest cookie echoed
    /// back; empty for TLS.
    pub cookie: &'a [u8],
    cipher_suites: U16List<'a>,
    pub compression_methods: &'a [u8],
    extensions: Extensions<'a>,
    sni: Option<&'a [u8]>,
    alpn: Option<AlpnList<'a>>,
    supported_versions: Option<U16List<'a>>,
    supported_groups: Option<U16List<'a>>,
    signature_algorithms: Option<U16List<'a>>,
    ec_point_formats: Option<&'a [u8]>,
}

const RANDOM_LEN: usize = 32;
const MAX_SESSION_ID_LEN: usize = 32;

impl<'a> ClientHello<'a> {
    /// Parse and validate a ClientHello body (after the handshake header).
    /// The extensions used by fingerprints are checked here, so their
    /// getters cannot fail. Offsets in errors are relative to `body`.
    pub fn parse(body: &'a [u8]) -> Result<Self, TlsError> {
        Self::parse_framed(body, false)
    }

    /// Parse a DTLS ClientHello body: the TLS layout with a `cookie`
    /// (`opaque cookie<0..2^8-1>`) after the session id (RFC 6347 §4.2.1;
    /// RFC 9147 §5.3 keeps it as `legacy_cookie`).
    pub fn parse_dtls(body: &'a [u8]) -> Result<Self, TlsError> {
        Self::parse_framed(body, true)
    }

    fn parse_framed(body: &'a [u8], dtls: bool) -> Result<Self, TlsError> {
        let mut r = Reader::new(body);
        let legacy_version = ProtocolVersion(r.u16("client_version")?);
        let random = r.take(RANDOM_LEN, "random")?;
        let session_id = r.vec8("legacy_session_id")?;
        if session_id.buf.len() > MAX_SESSION_ID_LEN {
            return Err(session_id.malformed("legacy_session_id length"));
        }
        let cookie = if dtls { r.vec8("cookie")?.buf } else { &[] };
        let cipher_suites = U16List::new(r.vec16("cipher_suites")?, "cipher_suites length")?;
        let compression_methods = r.vec8("compression_methods")?.buf;
        let extensions = if r.is_empty() {
            Extensions::default()
        } else {
            Extensions::new(r.vec16("extensions")?)?
        };
        if !r.is_empty() {
            return Err(r.malformed("trailing bytes after extensions"));
        }
        let mut ch = ClientHello {
            legacy_version,
            random,
            session_id: session_id.buf,
            cookie,
            cipher_suites,
            compression_methods,
            extensions,
            sni: None,
            alpn: None,
            supported_versions: None,
            supported_groups: None,
            signature_algorithms: None,
            ec_point_formats: None,
        };
        ch.read_known_extensions(body)?;
        Ok(ch)
    }

    fn read_known_extensions(&mut self, body: &'a [u8]) -> Result<(), TlsError> {
        for ext in self.extensions.iter() {
            let mut r = Reader {
                buf: ext.data,
                pos: 0,
                base: offset_in(body, ext.data),
            };
            match ext.ty {
                ExtensionType::SERVER_NAME if self.sni.is_none() => {
                    self.sni = Some(parse_sni(r)?);
                }
                ExtensionType::ALPN if self.alpn.is_none() => {
                    self.alpn = Some(AlpnList::new(r.vec16("ALPN list")?)?);
                }
                ExtensionType::SUPPORTED_VERSIONS if self.supported_versions.is_none() => {
                    let v = U16List::new(r.vec8("supported_versions")?, "supported_versions")?;
                    self.supported_versions = Some(v);
                }
                ExtensionType::SUPPORTED_GROUPS if self.supported_groups.is_none() => {
                    let v = U16List::new(r.vec16("supported_groups")?, "supported_groups")?;
                    self.supported_groups = Some(v);
                }
                ExtensionType::SIGNATURE_ALGORITHMS if self.signature_algorithms.is_none() => {
                    let v = U16List::new(r.vec16("signature_algorithms")?, "signature_algorithms")?;
                    self.signature_algorithms = Some(v);
                }
                ExtensionType::EC_POINT_FORMATS if self.ec_point_formats.is_none() => {
                    self.ec_point_formats = Some(r.vec8("ec_point_formats")?.buf);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Cipher suites in wire order, GREASE included.
    pub fn cipher_suites(&self) -> impl Iterator<Item = CipherSuite> + 'a {
        self.cipher_suites.iter().map(CipherSuite)
    }

    /// Extensions in wire order, unknown and GREASE ones included.
    pub fn extensions(&self) -> Extensions<'a> {
        self.extensions
    }

    /// Whether a server_name extension is present (even without a host name).
    pub fn has_sni_extension(&self) -> bool {
        self.sni.is_some()
    }

    /// The first `host_name` (type 0) of server_name, RFC 6066 §3. Raw
    /// bytes: RFC 6066 asks for ASCII, hostile clients send anything.
    pub fn sni(&self) -> Option<&'a [u8]> {
        self.sni.filter(|s| !s.is_empty())
    }

    /// ALPN protocol names (RFC 7301 §3.1), in wire order.
    pub fn alpn(&self) -> Option<AlpnList<'a>> {
        self.alpn
    }

    /// supported_versions (RFC 8446 §4.2.1), in wire order.
    pub fn supported_versions(&self) -> Option<U16List<'a>> {
        self.supported_versions
    }

    /// supported_groups (RFC 8446 §4.2.7, RFC 8422 §5.1.1).
    pub fn supported_groups(&self) -> Option<U16List<'a>> {
        self.supported_groups
    }

    /// signature_algorithms (RFC 8446 §4.2.3), in wire order.
    pub fn signature_algorithms(&self) -> Option<U16List<'a>> {
        self.signature_algorithms
    }

    /// ec_point_formats (RFC 8422 §5.1.2).
    pub fn ec_point_formats(&self) -> Option<&'a [u8]> {
        self.ec_point_formats
    }
}

/// server_name's first `host_name` entry (RFC 6066 §3); empty when the
/// list holds no host_name, so that presence of the extension is kept.
fn parse_sni(mut r: Reader<'_>) -> Result<&[u8], TlsError> {
    // RFC 6066 §3: servers send an empty server_name extension; clients a list.
    if r.is_empty() {
        return Ok(&[]);
    }
    let mut list = r.vec16("server_name_list")?;
    let mut found: &[u8] = &[];
    while !list.is_empty() {
        let name_type = list.u8("server_name name_type")?;
        let name = list.vec16("server_name host_name")?;
        if name_type == SNI_HOST_NAME && found.is_empty() {
            found = name.buf;
        }
    }
    Ok(found)
}

/// RFC 6066 §3 `NameType.host_name`.
const SNI_HOST_NAME: u8 = 0;

/// Offset of `part` within `whole` (both from validated parsing).
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

/// A ServerHello body, RFC 8446 §4.1.3 (a HelloRetryRequest has the same
/// shape and a fixed `random`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello<'a> {
    pub legacy_version: ProtocolVersion,
    pub random: &'a [u8],
    pub session_id: &'a [u8],
    pub cipher_suite: CipherSuite,
    pub compression_method: u8,
    extensions: Extensions<'a>,
    selected_version: Option<ProtocolVersion>,
}

impl<'a> ServerHello<'a> {
    /// Parse and validate a ServerHello body (after the handshake header).
    pub fn parse(body: &'a [u8]) -> Result<Self, TlsError> {
        let mut r = Reader::new(body);
        let legacy_version = ProtocolVersion(r.u16("server_version")?);
        let random = r.take(RANDOM_LEN, "random")?;
        // TLS 1.3 drafts before -22 had neither a session id echo nor a
        // compression method in the ServerHello (draft-ietf-tls-tls13-21
        // §4.1.3); draft-22 restored both and moved the version to
        // supported_versions. Those drafts put their version (0x7f00 +
        // draft, or 0x0304 in early implementations) in this field, which
        // a final TLS 1.3 server never does (it sends 0x0303).
        let early_draft = legacy_version == ProtocolVersion::TLS_1_3
            || (legacy_version.0 >> 8 == 0x7f && legacy_version.0 & 0xff < 22);
        let (session_id, cipher_suite, compression_method) = if early_draft {
            (&[][..], CipherSuite(r.u16("cipher_suite")?), 0)
        } else {
            let session_id = r.vec8("legacy_session_id_echo")?;
            if session_id.buf.len() > MAX_SESSION_ID_LEN {
                return Err(session_id.malformed("legacy_session_id_echo length"));
            }
            let cipher_suite = CipherSuite(r.u16("cipher_suite")?);
            let compression_method = r.u8("legacy_compression_method")?;
            (session_id.buf, cipher_suite, compression_method)
        };
        let extensions = if r.is_empty() {
            Extensions::default()
        } else {
            Extensions::new(r.vec16("extensions")?)?
        };
        if !r.is_empty() {
            return Err(r.malformed("trailing bytes after extensions"));
        }
        let mut selected_version = None;
        if let Some(data) = extensions.get(ExtensionType::SUPPORTED_VERSIONS) {
            // RFC 8446 §4.2.1: the server sends one `selected_version`.
            let mut v = Reader {
                buf: data,
                pos: 0,
                base: offset_in(body, data),
            };
            selected_version = Some(ProtocolVersion(v.u16("selected_version")?));
            if !v.is_empty() {
                return Err(v.malformed("selected_version length"));
            }
        }
        Ok(ServerHello {
            legacy_version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions,
            selected_version,
        })
    }

    /// Extensions in wire order.
    pub fn extensions(&self) -> Extensions<'a> {
        self.extensions
    }

    /// supported_versions' `selected_version` (RFC 8446 §4.2.1).
    pub fn supported_version(&self) -> Option<ProtocolVersion> {
        self.selected_version
    }
}

/// Parse the first ClientHello of a client's stream prefix.
pub fn parse_client_hello<'a>(
    stream: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<ClientHello<'a>, TlsError> {
    let hs = first_hello(stream, HandshakeType::CLIENT_HELLO, scratch)?;
    ClientHello::parse(hs.body)
}

/// Parse the first ServerHello of a server's stream prefix.
pub fn parse_server_hello<'a>(
    stream: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<ServerHello<'a>, TlsError> {
    let hs = first_hello(stream, HandshakeType::SERVER_HELLO, scratch)?;
    ServerHello::parse(hs.body)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::proto::tls::samples::{CHROME_CLIENT_HELLO, TLS13_SERVER_HELLO};
    use crate::testutil::hex;

    /// tshark 4.0, `tls-sni.pcapng` frame 1.
    const CIPHERS: [u16; 16] = [
        0xaaaa, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
        0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ];
    const EXTENSIONS: [u16; 18] = [
        39578, 65281, 51, 45, 5, 17513, 13, 16, 35, 27, 43, 0, 18, 10, 23, 11, 27242, 21,
    ];
    const SIG_ALGS: [u16; 8] = [
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ];
    /// Record header (5) + handshake header (4).
    const BODY_START: usize = 9;
    const HANDSHAKE_LEN: usize = 4 + 508;

    fn check_chrome(ch: &ClientHello<'_>) {
        assert_eq!(ch.legacy_version, ProtocolVersion::TLS_1_2);
        assert_eq!(ch.session_id.len(), 32);
        let ciphers: Vec<u16> = ch.cipher_suites().map(|c| c.0).collect();
        assert_eq!(ciphers, CIPHERS);
        let exts: Vec<u16> = ch.extensions().iter().map(|e| e.ty.0).collect();
        assert_eq!(exts, EXTENSIONS);
        assert_eq!(ch.sni(), Some(&b"clientservices.googleapis.com"[..]));
        let alpn: Vec<&[u8]> = ch.alpn().unwrap().iter().collect();
        assert_eq!(alpn, [&b"h2"[..], b"http/1.1"]);
        let versions: Vec<u16> = ch.supported_versions().unwrap().iter().collect();
        assert_eq!(versions, [0x0a0a, 0x0304, 0x0303]);
        let groups: Vec<u16> = ch.supported_groups().unwrap().iter().collect();
        assert_eq!(groups, [0x0a0a, 0x001d, 0x0017, 0x0018]);
        let sigs: Vec<u16> = ch.signature_algorithms().unwrap().iter().collect();
        assert_eq!(sigs, SIG_ALGS);
        assert_eq!(ch.ec_point_formats(), Some(&[0u8][..]));
    }

    #[test]
    fn chrome_client_hello_in_one_record_is_borrowed() {
        let stream = hex(CHROME_CLIENT_HELLO);
        let mut scratch = Vec::new();
        let hs = first_hello(&stream, HandshakeType::CLIENT_HELLO, &mut scratch).unwrap();
        assert!(!hs.reassembled);
        assert_eq!(hs.body.len(), 508);
        assert_eq!(hs.body.as_ptr(), stream[BODY_START..].as_ptr());
        check_chrome(&ClientHello::parse(hs.body).unwrap());
    }

    /// Re-frame the real handshake message into records of `sizes` bytes
    /// (the rest in a last record), as a sender fragmenting it would.
    fn reframe(stream: &[u8], sizes: &[usize]) -> Vec<u8> {
        let msg = &stream[5..5 + HANDSHAKE_LEN];
        let mut out = Vec::new();
        let mut at = 0;
        for &n in sizes
            .iter()
            .chain([&(HANDSHAKE_LEN - sizes.iter().sum::<usize>())])
        {
            out.extend_from_slice(&[22, 3, 1]);
            out.extend_from_slice(&(n as u16).to_be_bytes());
            out.extend_from_slice(&msg[at..at + n]);
            at += n;
        }
        out
    }

    #[test]
    fn client_hello_split_over_two_records_is_reassembled() {
        let split = reframe(&hex(CHROME_CLIENT_HELLO), &[300]);
        let mut scratch = Vec::new();
        let hs = first_hello(&split, HandshakeType::CLIENT_HELLO, &mut scratch).unwrap();
        assert!(hs.reassembled);
        check_chrome(&ClientHello::parse(hs.body).unwrap());
    }

    #[test]
    fn handshake_header_split_and_empty_record() {
        // Header split after 2 bytes, then an empty record, then the rest.
        let split = reframe(&hex(CHROME_CLIENT_HELLO), &[2, 0]);
        let mut scratch = Vec::new();
        let ch = parse_client_hello(&split, &mut scratch).unwrap();
        check_chrome(&ch);
    }

    #[test]
    fn every_short_prefix_is_incomplete() {
        let split = reframe(&hex(CHROME_CLIENT_HELLO), &[300]);
        let mut scratch = Vec::new();
        for n in 0..split.len() {
            match first_hello(&split[..n], HandshakeType::CLIENT_HELLO, &mut scratch) {
                Err(TlsError::Incomplete { needed }) => assert!(needed > 0, "prefix {n}"),
                other => panic!("prefix {n}: {other:?}"),
            }
        }
        // The check for completeness comes before any copy.
        assert!(scratch.is_empty());
    }

    #[test]
    fn not_tls_and_wrong_message_are_malformed() {
        let mut scratch = Vec::new();
        let http = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(
            first_hello(http, HandshakeType::CLIENT_HELLO, &mut scratch),
            Err(TlsError::Malformed {
                what: "record content type",
                at: 0
            })
        );
        let stream = hex(CHROME_CLIENT_HELLO);
        assert!(matches!(
            first_hello(&stream, HandshakeType::SERVER_HELLO, &mut scratch),
            Err(TlsError::Malformed { at: 5, .. })
        ));
        // An alert record where the second fragment should be.
        let mut split = reframe(&stream, &[300]);
        split[5 + 300] = ContentType::ALERT.0;
        assert_eq!(
            first_hello(&split, HandshakeType::CLIENT_HELLO, &mut scratch),
            Err(TlsError::Malformed {
                what: "record content type (expected handshake)",
                at: 305
            })
        );
    }

    #[test]
    fn truncated_body_fields_are_malformed_with_offsets() {
        let stream = hex(CHROME_CLIENT_HELLO);
        let body = &stream[BODY_START..];
        // Cut inside the cipher suites (which start at 2 + 32 + 1 + 32 = 67).
        assert_eq!(
            ClientHello::parse(&body[..70]),
            Err(TlsError::Malformed {
                what: "cipher_suites",
                at: 69
            })
        );
        // Every truncation fails cleanly (no panic), except at the end of
        // the compression methods, where a TLS 1.2 hello may stop.
        for n in 0..body.len() {
            let _ = ClientHello::parse(&body[..n]);
        }
    }

    #[test]
    fn grease_values() {
        // RFC 8701 §2 lists 0x0A0A, 0x1A1A, ..., 0xFAFA.
        let grease: Vec<u16> = (0..=u16::MAX).filter(|&v| is_grease(v)).collect();
        assert_eq!(grease.len(), 16);
        assert_eq!(grease[0], 0x0a0a);
        assert_eq!(grease[15], 0xfafa);
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x1301));
    }

    #[test]
    fn tls13_server_hello() {
        let stream = hex(TLS13_SERVER_HELLO);
        let mut scratch = Vec::new();
        let sh = parse_server_hello(&stream, &mut scratch).unwrap();
        // tshark: version 0x0303, cipher 0x1301, extensions 51,43,
        // supported_version 0x0304.
        assert_eq!(sh.legacy_version, ProtocolVersion::TLS_1_2);
        assert_eq!(sh.cipher_suite, CipherSuite(0x1301));
        let exts: Vec<u16> = sh.extensions().iter().map(|e| e.ty.0).collect();
        assert_eq!(exts, [51, 43]);
        assert_eq!(sh.supported_version(), Some(ProtocolVersion::TLS_1_3));
    }
}
