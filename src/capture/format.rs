//! The pcap and pcapng record formats, parsed from a byte slice.
//!
//! This is the one parser behind every file reader: the mapped reader hands
//! it the rest of the mapping, the streamed reader the rest of its
//! decompression window. Each call looks at the record at the start of the
//! slice and answers with a frame, a record to skip, "need more bytes" (the
//! slice ends inside the record) or a [`CorruptKind`]. It never allocates
//! except when a pcapng interface is described (a bounded, rare path).
//!
//! References: draft-ietf-opsawg-pcap (pcap), draft-ietf-opsawg-pcapng
//! (pcapng, "the pcapng draft" below).

use crate::capture::{CorruptKind, Frame, LinkType, Timestamp};

/// The most captured bytes a record may carry (Wireshark's largest snap
/// length); a larger length field is corrupt, and we refuse to buffer it.
pub const MAX_CAPLEN: u32 = 262_144;
/// The longest pcapng block we buffer whole: a packet of [`MAX_CAPLEN`]
/// bytes plus room for its options (comments, hashes, verdicts).
pub const MAX_BLOCK_LEN: u32 = MAX_CAPLEN + 64 * 1024;
/// Interfaces one pcapng section may describe (bounds the interface table).
pub const MAX_INTERFACES: usize = 4096;
/// When a pcap header's snap length is small, records up to this length are
/// still accepted: some writers put a wrong snap length in the header.
const SNAPLEN_SLACK: u32 = 65_535;

/// First four bytes of a pcap file written in the reader's big-endian view.
const PCAP_MICRO: u32 = 0xa1b2_c3d4;
const PCAP_NANO: u32 = 0xa1b2_3c4d;
/// The pcapng Section Header Block type, the same in both byte orders.
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
/// The pcapng byte-order magic, as read little-endian from the file.
const BOM_LITTLE: u32 = 0x1a2b_3c4d;
const BOM_BIG: u32 = 0x4d3c_2b1a;
/// Compressed containers, recognised by their own magic numbers.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// pcapng block types (pcapng draft §11.1).
mod block {
    pub const IDB: u32 = 0x0000_0001;
    pub const OPB: u32 = 0x0000_0002;
    pub const SPB: u32 = 0x0000_0003;
    pub const EPB: u32 = 0x0000_0006;
}

/// pcapng interface option codes (pcapng draft §4.2).
mod ifopt {
    pub const END: u16 = 0;
    pub const TSRESOL: u16 = 9;
    pub const TSOFFSET: u16 = 14;
}

/// Byte offsets in the pcap file header and record header.
mod pcap_field {
    pub const VERSION_MAJOR: usize = 4;
    pub const VERSION_MINOR: usize = 6;
    pub const SNAPLEN: usize = 16;
    pub const LINKTYPE: usize = 20;
    pub const HEADER_LEN: usize = 24;

    pub const TS_SEC: usize = 0;
    pub const TS_FRAC: usize = 4;
    pub const INCL_LEN: usize = 8;
    pub const ORIG_LEN: usize = 12;
    pub const RECORD_HEADER_LEN: usize = 16;
}

/// Byte offsets in pcapng blocks, from the start of the block.
mod ng_field {
    pub const TYPE: usize = 0;
    pub const TOTAL_LEN: usize = 4;
    /// The smallest block: type, length, trailing length.
    pub const MIN_BLOCK: usize = 12;

    pub const SHB_BOM: usize = 8;
    pub const SHB_MAJOR: usize = 12;
    pub const SHB_MINOR: usize = 14;
    pub const SHB_MIN: usize = 28;

    pub const IDB_LINKTYPE: usize = 8;
    pub const IDB_SNAPLEN: usize = 12;
    pub const IDB_OPTIONS: usize = 16;
    pub const IDB_MIN: usize = 20;

    /// EPB and OPB share this layout; the OPB interface id is 16 bits wide.
    pub const PB_INTERFACE: usize = 8;
    pub const PB_TS_HIGH: usize = 12;
    pub const PB_TS_LOW: usize = 16;
    pub const PB_CAPLEN: usize = 20;
    pub const PB_ORIG_LEN: usize = 24;
    pub const PB_DATA: usize = 28;

    pub const SPB_ORIG_LEN: usize = 8;
    pub const SPB_DATA: usize = 12;
}

/// The compression around a capture, told from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Plain,
    Gzip,
    Zstd,
}

impl Container {
    pub fn sniff(head: &[u8]) -> Container {
        if head.starts_with(&GZIP_MAGIC) {
            Container::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) {
            Container::Zstd
        } else {
            Container::Plain
        }
    }
}

/// What the record at the start of a slice is.
#[derive(Debug)]
pub enum Step<'a> {
    /// A packet; `record_len` bytes are consumed, and `frame.data` starts
    /// `data_at` bytes into the slice.
    Packet {
        frame: Frame<'a>,
        data_at: usize,
        record_len: usize,
    },
    /// A record without a packet (file header, pcapng metadata block).
    /// `len` may exceed the slice for a large skipped block.
    Skip { len: u64 },
    /// The slice ends inside the record, which is `needed` bytes long
    /// (never more than [`MAX_BLOCK_LEN`]).
    NeedMore { needed: u64 },
}

/// The reading state of one capture: which format, and what its headers said.
#[derive(Debug, Clone)]
pub enum Parser {
    /// A pcap file whose 24-byte header has not been read yet.
    PcapHeader,
    Pcap(PcapParams),
    Pcapng(PcapngState),
}

#[derive(Debug, Clone, Copy)]
pub struct PcapParams {
    big: bool,
    /// Nanoseconds per unit of the record's fractional timestamp.
    frac_ns: i64,
    link: LinkType,
    max_caplen: u32,
}

#[derive(Debug, Clone, Default)]
pub struct PcapngState {
    big: bool,
    /// The interfaces of the current section, in IDB order.
    interfaces: Vec<Interface>,
    /// The last packet timestamp of the section, given to Simple Packet
    /// Blocks, which carry none.
    last_ts: Timestamp,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    /// 0 means "no limit" (pcapng draft §4.2).
    snaplen: u32,
    scale: TsScale,
    /// `if_tsoffset`, in nanoseconds.
    offset_ns: i64,
}

/// How to turn a pcapng timestamp into nanoseconds (`if_tsresol`).
#[derive(Debug, Clone, Copy)]
enum TsScale {
    /// Units of 10^-n s with n <= 9: multiply.
    Mul(u64),
    /// Units of 10^-n s with n > 9: divide.
    Div(u64),
    /// Units of 2^-n s.
    Pow2(u32),
    /// Units so small (10^-29 s and below) that every u64 count rounds to 0.
    Zero,
}

impl TsScale {
    /// The default resolution is microseconds (pcapng draft §4.2).
    const MICROS: TsScale = TsScale::Mul(1_000);

    fn from_tsresol(v: u8) -> TsScale {
        let exp = u32::from(v & 0x7f);
        if v & 0x80 != 0 {
            return TsScale::Pow2(exp);
        }
        match 9u32.checked_sub(exp) {
            Some(up) => TsScale::Mul(10u64.pow(up)),
            // 10^20 and above overflow u64: every timestamp rounds to 0.
            None => 10u64
                .checked_pow(exp - 9)
                .map_or(TsScale::Zero, TsScale::Div),
        }
    }

    #[inline]
    fn to_nanos(self, units: u64) -> i64 {
        let ns = match self {
            TsScale::Mul(m) => units.saturating_mul(m),
            TsScale::Div(d) => units / d.max(1),
            TsScale::Zero => 0,
            TsScale::Pow2(shift) => {
                let wide = u128::from(units) * 1_000_000_000u128;
                u64::try_from(wide.checked_shr(shift).unwrap_or(0)).unwrap_or(u64::MAX)
            }
        };
        i64::try_from(ns).unwrap_or(i64::MAX)
    }
}

/// A 32-bit word of the given byte order at `at`, or 0 past the end (callers
/// check lengths first; with constant offsets into fixed arrays the compiler
/// removes the check).
#[inline(always)]
fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let w = match b.get(at..at.wrapping_add(4)) {
        Some(&[a, b0, c, d]) => [a, b0, c, d],
        _ => [0; 4],
    };
    if big {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    }
}

#[inline(always)]
fn u16_at(b: &[u8], at: usize, big: bool) -> u16 {
    let w = match b.get(at..at.wrapping_add(2)) {
        Some(&[a, b0]) => [a, b0],
        _ => [0; 2],
    };
    if big {
        u16::from_be_bytes(w)
    } else {
        u16::from_le_bytes(w)
    }
}

impl Parser {
    /// The parser for a capture starting with `magic`, or `None` when it is
    /// neither pcap nor pcapng.
    pub fn sniff(magic: [u8; 4]) -> Option<Parser> {
        match u32::from_be_bytes(magic) {
            PCAPNG_SHB => Some(Parser::Pcapng(PcapngState::default())),
            m if [PCAP_MICRO, PCAP_NANO].contains(&m)
                || [PCAP_MICRO, PCAP_NANO].contains(&m.swap_bytes()) =>
            {
                Some(Parser::PcapHeader)
            }
            _ => None,
        }
    }

    /// Look at the record at the start of `buf`.
    #[inline]
    pub fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<Step<'a>, CorruptKind> {
        match self {
            Parser::Pcap(p) => p.parse_record(buf),
            Parser::Pcapng(st) => st.parse_block(buf),
            Parser::PcapHeader => {
                let params = PcapParams::parse_header(buf)?;
                match params {
                    Some(p) => {
                        *self = Parser::Pcap(p);
                        Ok(Step::Skip {
                            len: pcap_field::HEADER_LEN as u64,
                        })
                    }
                    None => Ok(Step::NeedMore {
                        needed: pcap_field::HEADER_LEN as u64,
                    }),
                }
            }
        }
    }
}

impl PcapParams {
    /// The pcap file header (draft-ietf-opsawg-pcap §4), `None` if `buf` is
    /// shorter than it.
    fn parse_header(buf: &[u8]) -> Result<Option<PcapParams>, CorruptKind> {
        let Some(h) = buf.first_chunk::<{ pcap_field::HEADER_LEN }>() else {
            return Ok(None);
        };
        let magic = u32_at(h, 0, true);
        let big = magic == PCAP_MICRO || magic == PCAP_NANO;
        let nanos = magic == PCAP_NANO || magic.swap_bytes() == PCAP_NANO;
        let major = u16_at(h, pcap_field::VERSION_MAJOR, big);
        let minor = u16_at(h, pcap_field::VERSION_MINOR, big);
        if major != 2 {
            return Err(CorruptKind::UnsupportedVersion { major, minor });
        }
        let snaplen = u32_at(h, pcap_field::SNAPLEN, big);
        // The upper bits carry FCS information (draft §4, LinkType field);
        // the mask is libpcap's LT_LINKTYPE.
        let link = LinkType::from_linktype(u32_at(h, pcap_field::LINKTYPE, big) & 0x03ff_ffff);
        let max_caplen = if snaplen == 0 {
            MAX_CAPLEN
        } else {
            snaplen.clamp(SNAPLEN_SLACK, MAX_CAPLEN)
        };
        Ok(Some(PcapParams {
            big,
            frac_ns: if nanos { 1 } else { 1_000 },
            link,
            max_caplen,
        }))
    }

    /// One pcap record: a 16-byte header and the captured bytes.
    #[inline]
    fn parse_record<'a>(&self, buf: &'a [u8]) -> Result<Step<'a>, CorruptKind> {
        use pcap_field::*;
        let Some(h) = buf.first_chunk::<RECORD_HEADER_LEN>() else {
            return Ok(Step::NeedMore {
                needed: RECORD_HEADER_LEN as u64,
            });
        };
        let caplen = u32_at(h, INCL_LEN, self.big);
        if caplen > self.max_caplen {
            return Err(CorruptKind::ImplausibleLength {
                len: u64::from(caplen),
            });
        }
        // caplen <= MAX_CAPLEN, so this cannot overflow.
        let record_len = RECORD_HEADER_LEN + caplen as usize;
        let Some(data) = buf.get(RECORD_HEADER_LEN..record_len) else {
            return Ok(Step::NeedMore {
                needed: record_len as u64,
            });
        };
        // Both terms fit: u32 seconds * 1e9 < 4.3e18 and frac * 1000 < 4.3e12.
        let secs = i64::from(u32_at(h, TS_SEC, self.big));
        let frac = i64::from(u32_at(h, TS_FRAC, self.big));
        let ts = Timestamp(secs * 1_000_000_000 + frac * self.frac_ns);
        Ok(Step::Packet {
            frame: Frame {
                ts,
                link: self.link,
                orig_len: u32_at(h, ORIG_LEN, self.big),
                interface: 0,
                data,
            },
            data_at: RECORD_HEADER_LEN,
            record_len,
        })
    }
}

impl PcapngState {
    /// One pcapng block (pcapng draft §3.1): type, total length, body,
    /// total length again.
    #[inline]
    fn parse_block<'a>(&mut self, buf: &'a [u8]) -> Result<Step<'a>, CorruptKind> {
        use ng_field::*;
        let Some(h) = buf.first_chunk::<MIN_BLOCK>() else {
            return Ok(Step::NeedMore {
                needed: MIN_BLOCK as u64,
            });
        };
        // The SHB type reads the same in both byte orders; its byte-order
        // magic decides how the rest of the section is read.
        let btype = u32_at(h, TYPE, self.big);
        if btype == PCAPNG_SHB {
            return self.parse_shb(buf, h);
        }
        let len = u32_at(h, TOTAL_LEN, self.big);
        if len < MIN_BLOCK as u32 || len % 4 != 0 {
            return Err(CorruptKind::ImplausibleLength {
                len: u64::from(len),
            });
        }
        match btype {
            block::EPB | block::OPB | block::SPB | block::IDB => {
                let blk = self.whole_block(buf, len)?;
                let Some(blk) = blk else {
                    return Ok(Step::NeedMore {
                        needed: u64::from(len),
                    });
                };
                match btype {
                    block::IDB => self.parse_idb(blk),
                    block::SPB => self.parse_spb(blk),
                    _ => self.parse_packet_block(blk, btype == block::OPB),
                }
            }
            // Name resolution, statistics, decryption secrets, custom and
            // unknown blocks carry no packet. Blocks we would buffer are
            // checked like the others; larger ones are skipped unread, so
            // a streamed reader never holds them.
            _ if len <= MAX_BLOCK_LEN => match self.whole_block(buf, len)? {
                Some(_) => Ok(Step::Skip {
                    len: u64::from(len),
                }),
                None => Ok(Step::NeedMore {
                    needed: u64::from(len),
                }),
            },
            _ => Ok(Step::Skip {
                len: u64::from(len),
            }),
        }
    }

    /// The block of `len` bytes at the start of `buf` with its trailing
    /// length checked, or `None` if `buf` ends inside it.
    #[inline]
    fn whole_block<'a>(&self, buf: &'a [u8], len: u32) -> Result<Option<&'a [u8]>, CorruptKind> {
        if len > MAX_BLOCK_LEN {
            return Err(CorruptKind::ImplausibleLength {
                len: u64::from(len),
            });
        }
        let Some(blk) = buf.get(..len as usize) else {
            return Ok(None);
        };
        let trailing = u32_at(blk, blk.len().saturating_sub(4), self.big);
        if trailing != len {
            return Err(CorruptKind::BlockLengthMismatch {
                leading: len,
                trailing,
            });
        }
        Ok(Some(blk))
    }

    /// Section Header Block (pcapng draft §4.1): starts a new section with
    /// its own byte order and interfaces.
    fn parse_shb<'a>(
        &mut self,
        buf: &'a [u8],
        h: &[u8; ng_field::MIN_BLOCK],
    ) -> Result<Step<'a>, CorruptKind> {
        use ng_field::*;
        let big = match u32_at(h, SHB_BOM, false) {
            BOM_LITTLE => false,
            BOM_BIG => true,
            magic => return Err(CorruptKind::BadByteOrderMagic { magic }),
        };
        let len = u32_at(h, TOTAL_LEN, big);
        if len < SHB_MIN as u32 || len % 4 != 0 {
            return Err(CorruptKind::ImplausibleLength {
                len: u64::from(len),
            });
        }
        // Read with the new byte order before adopting it, so that a bad
        // block leaves the state alone.
        let probe = PcapngState {
            big,
            interfaces: Vec::new(),
            last_ts: Timestamp::ZERO,
        };
        let Some(blk) = probe.whole_block(buf, len)? else {
            return Ok(Step::NeedMore {
                needed: u64::from(len),
            });
        };
        let major = u16_at(blk, SHB_MAJOR, big);
        let minor = u16_at(blk, SHB_MINOR, big);
        if major != 1 {
            return Err(CorruptKind::UnsupportedVersion { major, minor });
        }
        self.big = big;
        // Keep the table's allocation for the next section.
        self.interfaces.clear();
        self.last_ts = Timestamp::ZERO;
        Ok(Step::Skip {
            len: u64::from(len),
        })
    }

    /// Interface Description Block (pcapng draft §4.2).
    fn parse_idb<'a>(&mut self, blk: &[u8]) -> Result<Step<'a>, CorruptKind> {
        use ng_field::*;
        if blk.len() < IDB_MIN {
            return Err(CorruptKind::ImplausibleLength {
                len: blk.len() as u64,
            });
        }
        if self.interfaces.len() >= MAX_INTERFACES {
            return Err(CorruptKind::TooManyInterfaces {
                count: self.interfaces.len() as u32 + 1,
            });
        }
        let mut iface = Interface {
            link: LinkType::from_linktype(u32::from(u16_at(blk, IDB_LINKTYPE, self.big))),
            snaplen: u32_at(blk, IDB_SNAPLEN, self.big),
            scale: TsScale::MICROS,
            offset_ns: 0,
        };
        let options = blk.get(IDB_OPTIONS..blk.len() - 4).unwrap_or(&[]);
        self.read_if_options(options, &mut iface);
        self.interfaces.push(iface);
        Ok(Step::Skip {
            len: blk.len() as u64,
        })
    }

    /// The IDB options we use; a malformed option list ends the scan (the
    /// options are advisory, the packets still read).
    fn read_if_options(&self, mut opts: &[u8], iface: &mut Interface) {
        while let Some(h) = opts.first_chunk::<4>() {
            let code = u16_at(h, 0, self.big);
            let len = usize::from(u16_at(h, 2, self.big));
            let padded = (len + 3) & !3;
            let Some(value) = opts.get(4..4 + len) else {
                return;
            };
            match (code, value) {
                (ifopt::END, _) => return,
                (ifopt::TSRESOL, &[v]) => iface.scale = TsScale::from_tsresol(v),
                (ifopt::TSOFFSET, v) => {
                    if let Ok(b) = <[u8; 8]>::try_from(v) {
                        let secs = if self.big {
                            i64::from_be_bytes(b)
                        } else {
                            i64::from_le_bytes(b)
                        };
                        iface.offset_ns = secs.saturating_mul(1_000_000_000);
                    }
                }
                _ => {}
            }
            opts = opts.get(4 + padded..).unwrap_or(&[]);
        }
    }

    /// Enhanced Packet Block (§4.3) or the obsolete Packet Block (Appendix A).
    #[inline]
    fn parse_packet_block<'a>(
        &mut self,
        blk: &'a [u8],
        obsolete: bool,
    ) -> Result<Step<'a>, CorruptKind> {
        use ng_field::*;
        let Some(h) = blk.first_chunk::<PB_DATA>() else {
            return Err(CorruptKind::ImplausibleLength {
                len: blk.len() as u64,
            });
        };
        let id = if obsolete {
            u32::from(u16_at(h, PB_INTERFACE, self.big))
        } else {
            u32_at(h, PB_INTERFACE, self.big)
        };
        let Some(iface) = self.interfaces.get(id as usize) else {
            return Err(CorruptKind::UnknownInterface { id });
        };
        let caplen = u32_at(h, PB_CAPLEN, self.big);
        // The data must fit before the trailing length.
        let data = (caplen <= MAX_CAPLEN)
            .then(|| blk.get(PB_DATA..PB_DATA + caplen as usize + 4))
            .flatten()
            .and_then(|d| d.get(..caplen as usize));
        let Some(data) = data else {
            return Err(CorruptKind::ImplausibleLength {
                len: u64::from(caplen),
            });
        };
        let units = (u64::from(u32_at(h, PB_TS_HIGH, self.big)) << 32)
            | u64::from(u32_at(h, PB_TS_LOW, self.big));
        let ts = Timestamp(iface.scale.to_nanos(units).saturating_add(iface.offset_ns));
        self.last_ts = ts;
        Ok(Step::Packet {
            frame: Frame {
                ts,
                link: iface.link,
                orig_len: u32_at(h, PB_ORIG_LEN, self.big),
                interface: id,
                data,
            },
            data_at: PB_DATA,
            record_len: blk.len(),
        })
    }

    /// Simple Packet Block (§4.4): interface 0, no timestamp (we give it the
    /// section's last packet time), captured length min(snaplen, body).
    fn parse_spb<'a>(&mut self, blk: &'a [u8]) -> Result<Step<'a>, CorruptKind> {
        use ng_field::*;
        let Some(iface) = self.interfaces.first() else {
            return Err(CorruptKind::UnknownInterface { id: 0 });
        };
        let orig_len = u32_at(blk, SPB_ORIG_LEN, self.big);
        let body = blk.get(SPB_DATA..blk.len() - 4).unwrap_or(&[]);
        let mut caplen = orig_len as usize;
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        let data = body.get(..caplen).unwrap_or(body);
        Ok(Step::Packet {
            frame: Frame {
                ts: self.last_ts,
                link: iface.link,
                orig_len,
                interface: 0,
                data,
            },
            data_at: SPB_DATA,
            record_len: blk.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pcapng draft §4.2, if_tsresol: "if the Most Significant Bit is equal
    /// to zero, the remaining bits indicates the resolution of the timestamp
    /// as a negative power of 10 ... If the Most Significant Bit is equal to
    /// one, ... as negative power of 2".
    #[test]
    fn tsresol_scales() {
        // 6 -> microseconds.
        assert_eq!(TsScale::from_tsresol(6).to_nanos(1_500_000), 1_500_000_000);
        // 9 -> nanoseconds; 12 -> picoseconds.
        assert_eq!(TsScale::from_tsresol(9).to_nanos(7), 7);
        assert_eq!(TsScale::from_tsresol(12).to_nanos(7_000), 7);
        // 0x8a -> 2^-10 s: 1024 units are one second, 1 unit 976562.5 ns.
        assert_eq!(TsScale::from_tsresol(0x8a).to_nanos(1024), 1_000_000_000);
        assert_eq!(TsScale::from_tsresol(0x8a).to_nanos(1), 976_562);
        // Absurd resolutions do not panic.
        assert_eq!(TsScale::from_tsresol(0x7f).to_nanos(u64::MAX), 0);
        assert_eq!(TsScale::from_tsresol(0xff).to_nanos(u64::MAX), 0);
        assert_eq!(TsScale::from_tsresol(0).to_nanos(u64::MAX), i64::MAX);
    }

    #[test]
    fn sniff_magics() {
        assert!(matches!(
            Parser::sniff([0xd4, 0xc3, 0xb2, 0xa1]),
            Some(Parser::PcapHeader)
        ));
        assert!(matches!(
            Parser::sniff([0xa1, 0xb2, 0x3c, 0x4d]),
            Some(Parser::PcapHeader)
        ));
        assert!(matches!(
            Parser::sniff([0x0a, 0x0d, 0x0d, 0x0a]),
            Some(Parser::Pcapng(_))
        ));
        assert!(Parser::sniff(*b"GET ").is_none());
        assert_eq!(Container::sniff(&[0x1f, 0x8b, 8, 0]), Container::Gzip);
        assert_eq!(Container::sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Container::Zstd);
    }

    /// A pcapng block whose length is not a multiple of 4 (pcapng draft
    /// §3.1) is refused, not skipped into the middle of the next block.
    #[test]
    fn odd_block_length_is_corrupt() {
        let mut st = PcapngState::default();
        let blk = [5, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            st.parse_block(&blk).unwrap_err(),
            CorruptKind::ImplausibleLength { len: 13 }
        );
    }
}
