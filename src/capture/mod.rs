//! Packet sources: capture files (pcap, pcapng, compressed or not) and live
//! interfaces.
//!
//! Every source yields [`Frame`]s that borrow their bytes from the source's
//! own storage (the file mapping, the decompression window, libpcap's ring),
//! so reading a packet never allocates nor copies its payload. A frame is
//! valid until the next call to [`PacketSource::next_frame`].
//!
//! Errors name the file and the byte offset where reading stopped; frames
//! returned before the error were good and have been processed by the caller.

use std::fmt;
use std::path::{Path, PathBuf};

/// A capture timestamp, in nanoseconds since the Unix epoch (UTC).
///
/// `i64` nanoseconds covers 1677..2262, which is wider than any capture
/// format can express at nanosecond resolution anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Timestamp {
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(nanos as i64),
        )
    }
    pub fn nanos(self) -> i64 {
        self.0
    }
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }
    pub fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }
    /// `self - earlier` in nanoseconds, saturating at zero (capture clocks
    /// may step backwards).
    pub fn since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0).max(0) as u64
    }
    pub fn add_nanos(self, n: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(n.min(i64::MAX as u64) as i64))
    }
}

/// The link-layer header type of a frame (tcpdump.org LINKTYPE_ values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_NULL (0): BSD loopback, 4-byte address family in host order.
    Null,
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_PPP (9): PPP in HDLC-like framing (RFC 1662), the address and
    /// control bytes optional.
    Ppp,
    /// LINKTYPE_RAW (101), and the DLT_RAW aliases 12 and 14: bare IPv4 or IPv6.
    Raw,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, address family in network order.
    Loop,
    /// LINKTYPE_LINUX_SLL (113).
    LinuxSll,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_LINUX_SLL2 (276).
    LinuxSll2,
    /// Anything else; frames of this type are counted and skipped.
    Other(u32),
}

impl LinkType {
    pub fn from_linktype(v: u32) -> LinkType {
        match v {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            9 => LinkType::Ppp,
            12 | 14 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }
}

/// One captured frame, borrowed from the source.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub ts: Timestamp,
    pub link: LinkType,
    /// Length of the frame on the wire (may exceed `data.len()` when the
    /// capture was made with a snap length).
    pub orig_len: u32,
    /// Index of the capture interface: for pcapng, the index of its
    /// Interface Description Block within the frame's section (every section
    /// numbers its interfaces from 0 again, as tshark's `frame.interface_id`
    /// does); 0 for pcap and live captures.
    pub interface: u32,
    pub data: &'a [u8],
}

/// Why a source stopped.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: read error at byte offset {offset}: {source}")]
    Io {
        path: PathBuf,
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    /// For a compressed file, `offset` counts bytes of the decompressed
    /// stream (`decompressed` is set and the message says so).
    #[error("{path}: {what} at byte offset {offset}{}", stream_note(*.decompressed))]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: CorruptKind,
        decompressed: bool,
    },
    #[error("{path}: not a pcap or pcapng capture (first bytes {magic:02x?})")]
    UnknownFormat { path: PathBuf, magic: [u8; 4] },
    #[error("live capture on {interface}: {message}")]
    Live { interface: String, message: String },
}

impl CaptureError {
    pub fn corrupt(path: &Path, offset: u64, what: CorruptKind) -> CaptureError {
        CaptureError::Corrupt {
            path: path.to_path_buf(),
            offset,
            what,
            decompressed: false,
        }
    }

    /// A corrupt compressed capture; `offset` is in the decompressed stream.
    pub fn corrupt_decompressed(path: &Path, offset: u64, what: CorruptKind) -> CaptureError {
        CaptureError::Corrupt {
            path: path.to_path_buf(),
            offset,
            what,
            decompressed: true,
        }
    }
}

fn stream_note(decompressed: bool) -> &'static str {
    if decompressed {
        " of the decompressed stream"
    } else {
        ""
    }
}

/// What was wrong with a capture file, for [`CaptureError::Corrupt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorruptKind {
    /// The file ends inside a header or record.
    Truncated { needed: u64, available: u64 },
    /// A record claims more captured bytes than the snap length allows or
    /// than is sane (a corrupt length field).
    ImplausibleLength { len: u64 },
    /// A pcapng block's trailing length does not match its leading length.
    BlockLengthMismatch { leading: u32, trailing: u32 },
    /// A pcapng packet block names an interface that was never described.
    UnknownInterface { id: u32 },
    /// A pcapng section header with an unknown byte-order magic.
    BadByteOrderMagic { magic: u32 },
    /// An unsupported major version of the format.
    UnsupportedVersion { major: u16, minor: u16 },
    /// The compressed stream is corrupt.
    Decompression,
    /// The file (or the decompressed stream) holds no byte at all.
    Empty,
    /// A pcapng section describes more interfaces than we keep
    /// ([`file::MAX_INTERFACES`]).
    TooManyInterfaces { count: u32 },
}

impl fmt::Display for CorruptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CorruptKind::Truncated { needed, available } => write!(
                f,
                "truncated: record needs {needed} bytes, only {available} left"
            ),
            CorruptKind::ImplausibleLength { len } => {
                write!(f, "implausible record length {len}")
            }
            CorruptKind::BlockLengthMismatch { leading, trailing } => write!(
                f,
                "pcapng block length mismatch (leading {leading}, trailing {trailing})"
            ),
            CorruptKind::UnknownInterface { id } => {
                write!(f, "pcapng packet for undescribed interface {id}")
            }
            CorruptKind::BadByteOrderMagic { magic } => {
                write!(f, "pcapng section with bad byte-order magic {magic:#010x}")
            }
            CorruptKind::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported format version {major}.{minor}")
            }
            CorruptKind::Decompression => write!(f, "corrupt compressed stream"),
            CorruptKind::Empty => write!(f, "empty file, not a capture"),
            CorruptKind::TooManyInterfaces { count } => {
                write!(f, "pcapng section describes too many interfaces ({count})")
            }
        }
    }
}

/// A source of frames: a capture file, a compressed capture, an interface.
pub trait PacketSource {
    /// The next frame, `Ok(None)` at the end of the capture (or when a live
    /// capture's duration is over or it was asked to stop).
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError>;

    /// A human name for messages: the file path or interface name.
    fn name(&self) -> &str;

    /// Capture-level statistics (kernel drops for live sources).
    fn stats(&self) -> SourceStats {
        SourceStats::default()
    }
}

/// Counters a source keeps about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStats {
    pub frames: u64,
    pub bytes: u64,
    /// Packets the kernel dropped (live capture).
    pub kernel_drops: u64,
    /// Packets the interface dropped (live capture).
    pub interface_drops: u64,
}

pub mod file;
mod format;
#[cfg(feature = "live")]
pub mod live;
